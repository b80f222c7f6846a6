/*
 * The report command ([source] report, DESIGN.md section 10): every outcome
 * event (done, dead, blocked, pr_opened, pr_merged) goes, one at a time in
 * event order, to a command that hears its JSON line on stdin.
 *
 * A report is written to the store in the transaction of its event (the
 * journal's rendered hook), so that none is lost to a crash; it leaves the
 * store once the command has exited 0.  An exit other than 0 (or a hang past
 * command_timeout) is tried again after 1 s, doubling up to 60 s, and at
 * once after a restart.  Delivery is at least once: a crash between the
 * command's exit and the record of it repeats the report, with the same seq.
 */
#ifndef WAVED_REPORT_H
#define WAVED_REPORT_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/store.h"
#include "supervisor/journal.h"

#define REPORT_BACKOFF_FIRST_MS 1000
#define REPORT_BACKOFF_MAX_MS 60000
#define REPORT_ONCE_TRIES 5	/* failures in a row after which --once leaves them stored */

struct report;

/* Takes the journal's rendered hook; reports a previous run left go first. */
struct report *report_new(struct store *store, struct journal *journal,
    const struct config *cfg);
void report_free(struct report *r);
/* A reloaded configuration: its report command and timeout from now on. */
void report_reconfigure(struct report *r, const struct config *cfg);

/* Is this event one the report command hears of? */
bool report_is_outcome(const char *event);

/* Start the next report when due (never while stopping); time out a hung one. */
void report_tick(struct report *r, int64_t now, bool stopping);
int64_t report_next_deadline(const struct report *r, bool stopping);
size_t report_pollfds(const struct report *r, struct pollfd *fds);	/* up to 2 */
void report_dispatch(struct report *r, const struct pollfd *fds, size_t n);
/* A child exited: true when it was the report command. */
bool report_child_exited(struct report *r, pid_t pid, int status);
/* Nothing running and nothing to deliver (or, for --once, given up for now). */
bool report_settled(const struct report *r);

#endif
