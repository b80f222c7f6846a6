/*
 * The usage monitor (DESIGN.md section 16): [usage] command runs every
 * interval seconds, never blocking the loop (its output comes through poll,
 * a run past 30 s is killed with its process group), and prints the percent
 * of the agents' quota used, optionally followed by the epoch second at
 * which the quota resets.  What it says is handed to a callback; a run that
 * fails or prints nonsense is reported as such and changes nothing.
 */
#ifndef WAVED_USAGE_H
#define WAVED_USAGE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"

#define USAGE_TIMEOUT_MS 30000

struct usage_reading {
	bool ok;
	double percent;
	int64_t resets_at;	/* epoch seconds, 0 when not given */
	char why[160];		/* when not ok */
};

typedef void usage_fn(const struct usage_reading *r, void *arg);

struct usage;

struct usage *usage_new(usage_fn *fn, void *arg);
void usage_free(struct usage *u);

/* Parse one answer of the command ("66", "66.5% 1795968000"); false with why. */
bool usage_parse(const char *text, struct usage_reading *r);
/* The limit the steps set at percent, or CAP_NO_LIMIT below every threshold. */
int usage_limit(const struct usage_conf *c, double percent);

/* Start the command when due; kill it past its timeout. */
void usage_tick(struct usage *u, const struct usage_conf *c, int64_t now);
/* The next run, or the timeout of the one running (monotonic ms); INT64_MAX: none. */
int64_t usage_next_deadline(const struct usage *u);
/* Hold the next run until then (monotonic ms): a pause with a reset time. */
void usage_hold_until(struct usage *u, int64_t mono);

size_t usage_pollfds(const struct usage *u, struct pollfd *fds);
void usage_dispatch(struct usage *u, const struct pollfd *fds, size_t n);
/* The command has answered (or failed) at least once since the start. */
bool usage_heard(const struct usage *u);
/* A child exited: true when it was the command (its status counts). */
bool usage_child_exited(struct usage *u, pid_t pid, int status);

#endif
