/*
 * The command source in the supervisor's loop (DESIGN.md section 10): the
 * command runs at every poll and on SIGHUP, its output read through poll,
 * never blocking the loop.  A run that fails, hangs or prints something
 * malformed is logged with its reason and changes nothing (the last good
 * list stays in force); its stderr goes to the log, bounded.
 */
#ifndef WAVED_INTAKE_COMMAND_H
#define WAVED_INTAKE_COMMAND_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/issue.h"

/* A run is over: its good list, or NULL and why it is unusable. */
typedef void intake_command_fn(const struct issue_list *issues, const char *why, void *arg);

struct intake_command;

struct intake_command *intake_command_new(intake_command_fn *fn, void *arg);
void intake_command_free(struct intake_command *ic);

/* Run the command of cfg now; during a run, once more after it (the tracker
 * may have changed since that one began). */
void intake_command_poll(struct intake_command *ic, const struct config *cfg);
/* A run is under way. */
bool intake_command_running(const struct intake_command *ic);
/* Some run has ended since the start; some run gave a good list. */
bool intake_command_heard(const struct intake_command *ic);
bool intake_command_loaded(const struct intake_command *ic);

void intake_command_tick(struct intake_command *ic, int64_t now);
int64_t intake_command_next_deadline(const struct intake_command *ic);
size_t intake_command_pollfds(const struct intake_command *ic, struct pollfd *fds);	/* up to 2 */
void intake_command_dispatch(struct intake_command *ic, const struct pollfd *fds, size_t n);
bool intake_command_child_exited(struct intake_command *ic, pid_t pid, int status);

#endif
