/*
 * The supervisor's own state, shared by the files of its lifecycle: loop.c
 * (start, the poll loop, signals, stop), source.c (the issue source and the
 * outcomes reported back to it) and control_requests.c (the control socket's requests).
 * Nothing outside supervisor/ sees it.
 */
#ifndef WAVED_SUPERVISOR_H
#define WAVED_SUPERVISOR_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include <cJSON.h>

#include "common/config.h"
#include "common/events.h"
#include "supervisor/github/client.h"
#include "common/store.h"
#include "supervisor/admission.h"
#include "supervisor/control.h"
#include "supervisor/command_source.h"
#include "supervisor/journal.h"
#include "supervisor/loop.h"
#include "supervisor/pollset.h"
#include "supervisor/pulls.h"
#include "supervisor/reload.h"
#include "supervisor/report.h"
#include "supervisor/usage.h"
#include "supervisor/sched.h"
#include "supervisor/github/issues.h"
#include "supervisor/workers.h"

struct supervisor {
	struct config *cfg;
	const struct loop_options *opts;
	struct store *store;
	struct events *events;
	struct journal *journal;	/* every state change: store, events, then what follows */
	struct admission *admission;	/* who may start: the cap lever and its hands */
	struct sched *sched;
	struct workers *workers;
	struct control *control;
	struct reload *reload;		/* SIGHUP and wavectl reload, preflight in a child */
	struct usage *usage;		/* the usage monitor's command */
	int64_t next_memory_check;	/* monotonic ms */
	int64_t next_disk_check;	/* monotonic ms */
	bool disk_was_low;		/* seen while the store was down */
	struct github *github;		/* with [source] type = github */
	struct source_github *gh_source;
	struct pulls *pulls;		/* land = pr: the pull requests awaiting a merge */
	struct command_source *command;	/* with [source] type = command */
	struct report *report;		/* [source] report: outcomes told to a command */
	int reports;			/* outcomes being reported to GitHub */
	bool report_again;		/* a report failed: try the unreported ones again */
	int paused_from;		/* the effective cap before a pause */
	int signal_fd;
	unsigned deferred;		/* signals that wait for the store (bits of signal_table) */
	bool was_down;			/* the journal was down on the last turn of the loop */
	struct pollset *pollset;	/* the one poll: every descriptor and who serves it */
	struct pollfd *fds;		/* room for what a module's *_pollfds writes */
	size_t fds_cap;
	int64_t next_poll;		/* monotonic ms */
	bool stopping;
	bool killed;			/* stop_timeout passed: the workers were killed */
	bool draining;			/* --once: no admission, in-flight work runs to its end */
	bool interrupted;		/* --once got SIGINT: exit 130 */
	bool budget_stopped;		/* --once ended held by the day's budget: exit 75 */
	int64_t stop_deadline;		/* monotonic ms */
	bool finished;
	int exit_status;
	char title[128];
};

/* source.c: the issue source, whichever it is, and the pull requests of land = pr. */
int source_open(struct supervisor *sv);		/* GitHub client and preflight; -1 logged */
void source_start(struct supervisor *sv);	/* hooks, and outcomes left unreported */
void source_poll(struct supervisor *sv);	/* read the source now */
bool source_settled(const struct supervisor *sv);	/* read once, nothing left to report */
int64_t source_next_deadline(const struct supervisor *sv);
/* The source's and the report command's children: pipes (up to
 * SOURCE_POLLFDS entries) and timeouts (their exits: children.c). */
#define SOURCE_POLLFDS 4
size_t source_pollfds(const struct supervisor *sv, struct pollfd *fds);
void source_dispatch(struct supervisor *sv, const struct pollfd *fds, size_t n);
void source_tick(struct supervisor *sv, int64_t now);
/* The source gave a list of issues at least once in this run (--once's exit). */
bool source_loaded(const struct supervisor *sv);
void source_close(struct supervisor *sv);

/* pressure.c: the usage monitor and the memory floor pull the cap. */
struct usage *pressure_usage_new(struct supervisor *sv);
void pressure_check_memory(struct supervisor *sv, int64_t now);
bool pressure_memory_room(long peak_kb, void *sv);	/* admission_memory_fn */
void pressure_check_disk(struct supervisor *sv, int64_t now);
int64_t pressure_next_deadline(const struct supervisor *sv);

/* control_requests.c: the control socket's requests, the same levers as the signals. */
cJSON *control_requests_handle(const char *cmd, const char *arg, char **error, uint64_t ticket,
    void *sv);

#endif
