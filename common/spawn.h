/*
 * The one way waved starts a child (git's run-command, in small): an argv
 * array, never a shell string of ours; posix_spawn, so that a supervisor with
 * a large heap copies none of it; in the child, every signal unblocked and
 * back to its default (SIGPIPE too), a process group of its own (a timeout or
 * a stop ends the whole group), stdin from /dev/null, stdout and stderr to
 * one descriptor, nothing else open, and GIT_TERMINAL_PROMPT=0.  Used for
 * git, the phases, the merge gate and recovery; the command source and the
 * report command give stdin and keep stderr apart.
 */
#ifndef WAVED_SPAWN_H
#define WAVED_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/util.h"

struct spawn_opts {
	const char *cwd;	/* NULL: the caller's */
	int out_fd;		/* stdout and stderr; -1: /dev/null */
	char *const *envp;	/* NULL: the caller's environment */
	bool session;		/* a session of its own (no controlling terminal), not just a group */
	bool with_in;		/* stdin from in_fd, not /dev/null */
	int in_fd;
	bool with_err;		/* stderr to err_fd, apart from stdout */
	int err_fd;
};

/* Where PATH finds name (looked up once per process), or NULL; do not free. */
const char *spawn_which(const char *name);

/* Start argv[0] (searched in PATH when it has no slash); its pid, or -1. */
pid_t spawn_start(const char *const argv[], const struct spawn_opts *opts);

#define SPAWN_TIMEOUT (-2)	/* killed after timeout_s seconds */

/*
 * spawn_start and wait.  Returns the exit status (0-255), 128+N when killed
 * by signal N, -1 when it could not be started, or SPAWN_TIMEOUT.  out (may
 * be NULL) receives stdout and stderr together; timeout_s 0 means none.
 */
int spawn_run(const char *const argv[], const char *cwd, struct strbuf *out,
    int timeout_s);
/* The same with stdin from in_fd (-1: /dev/null). */
int spawn_run_input(const char *const argv[], const char *cwd, int in_fd, struct strbuf *out,
    int timeout_s);

#endif
