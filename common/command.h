/*
 * A configured command run as a child through the caller's poll loop, never
 * a blocking wait (DESIGN.md section 10): an argv array (no shell) in a
 * folder, in a process group of its own, stdin from a descriptor or
 * /dev/null, stdout kept up to a bound, stderr kept bounded for the log, and
 * a timeout after which its group gets SIGTERM, then SIGKILL.  The command
 * source and the report command run through it; wavectl and waved -n wait
 * on it in place (command_wait).
 *
 * The caller reaps: the supervisor's one waitpid loop hands every exit to
 * command_exited; command_wait reaps its own.
 */
#ifndef WAVED_COMMAND_H
#define WAVED_COMMAND_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util.h"

#define COMMAND_ERR_MAX 4096		/* bytes of stderr kept for the log */
#define COMMAND_KILL_GRACE_MS 2000	/* between SIGTERM and SIGKILL of the group */

struct command_spec {
	char *const *argv;
	const char *cwd;	/* NULL: the caller's */
	int in_fd;		/* stdin, or -1 for /dev/null */
	int timeout_s;
	size_t out_max;		/* stdout past this many bytes fails the run... */
	bool out_for_log;	/* ...unless it is only for a log: then the rest is dropped */
};

struct command;

/* Start it; NULL with why (caller frees) when it cannot be run at all. */
struct command *command_start(const struct command_spec *spec, char **why);
/* Its process (the leader of its group). */
pid_t command_pid(const struct command *c);
/* Kill what is left of it (its group, SIGKILL) and forget it; NULL passes. */
void command_free(struct command *c);

/* Its pipes, for poll(): up to 2 entries. */
size_t command_pollfds(const struct command *c, struct pollfd *fds);
void command_dispatch(struct command *c, const struct pollfd *fds, size_t n);
/* A child exited: true when it was this command. */
bool command_exited(struct command *c, pid_t pid, int status);
/* The timeout: SIGTERM to the group at the deadline, SIGKILL after the grace. */
void command_tick(struct command *c, int64_t now);
/* The next moment command_tick has something to do (monotonic ms), or INT64_MAX. */
int64_t command_next_deadline(const struct command *c);
/* Exited and its output read to the end: the results below are final. */
bool command_done(const struct command *c);
/* Run it to its end in place (for wavectl and waved -n). */
void command_wait(struct command *c);

/* It exited 0 within its time and its bounds. */
bool command_ok(const struct command *c);
/* Why not, in a few words ("exited with 3", "gave no answer within 60 s"). */
void command_failure(const struct command *c, char *buf, size_t size);
/* What it printed on stdout (len bytes, NUL-terminated). */
const char *command_out(const struct command *c, size_t *len);
/* Its stderr for a log: "PREFIX: stderr: LINE" a line, control characters
 * and invalid UTF-8 replaced (its words come from outside), and a last line
 * when it was cut.  command_stdout_lines: the same of stdout. */
void command_stderr_lines(const struct command *c, const char *prefix, struct strbuf *lines);
void command_stdout_lines(const struct command *c, const char *prefix, struct strbuf *lines);

#endif
