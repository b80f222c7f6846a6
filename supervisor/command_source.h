/*
 * The command source in the supervisor's loop (DESIGN.md section 10): the
 * command runs at every poll and on SIGHUP, its output read through poll,
 * never blocking the loop.  A run that fails, hangs or prints something
 * malformed is logged with its reason and changes nothing (the last good
 * list stays in force); its stderr goes to the log, bounded.
 */
#ifndef WAVED_COMMAND_SOURCE_H
#define WAVED_COMMAND_SOURCE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/issue.h"

/* A run is over: its good list, or NULL and why it is unusable. */
typedef void command_source_fn(const struct issue_list *issues, const char *why, void *arg);

struct command_source;

struct command_source *command_source_new(command_source_fn *fn, void *arg);
void command_source_free(struct command_source *ic);

/* Run the command of cfg now; during a run, once more after it (the tracker
 * may have changed since that one began). */
void command_source_poll(struct command_source *ic, const struct config *cfg);
/* A run is under way. */
bool command_source_running(const struct command_source *ic);
/* Some run has ended since the start; some run gave a good list. */
bool command_source_heard(const struct command_source *ic);
bool command_source_loaded(const struct command_source *ic);

void command_source_tick(struct command_source *ic, int64_t now);
int64_t command_source_next_deadline(const struct command_source *ic);
size_t command_source_pollfds(const struct command_source *ic, struct pollfd *fds);	/* up to 2 */
void command_source_dispatch(struct command_source *ic, const struct pollfd *fds, size_t n);
bool command_source_child_exited(struct command_source *ic, pid_t pid, int status);

#endif
