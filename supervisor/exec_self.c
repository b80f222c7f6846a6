#include "supervisor/exec_self.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

extern char **environ;

_Static_assert(JOB_GATE_FD == JOB_PIPE_FD + 1 && JOB_LOG_FD == JOB_PIPE_FD + 2 &&
    JOB_FD == JOB_PIPE_FD + 3, "exec_self places the child's descriptors in a row");

/*
 * What a child is exec'd as: waved's own binary, the one this supervisor
 * runs.  /proc/self/exe in the spawned child is the mm it shares with us
 * until its exec: the file we were started from, even once an upgrade has
 * replaced it on disk (a child of another version would speak another
 * protocol).
 */
#define SELF_EXE "/proc/self/exe"

/* Ours, without the token unless pass_token. */
static char **
child_env(bool pass_token)
{
	size_t n = 0, cap = 0;
	char **env = NULL;

	for (char **e = environ; *e; e++) {
		if (!pass_token && strncmp(*e, "GITHUB_TOKEN=", 13) == 0)
			continue;
		grow_array((void **)&env, &cap, n + 2, sizeof(*env));
		env[n++] = *e;
	}
	grow_array((void **)&env, &cap, n + 1, sizeof(*env));
	env[n] = NULL;
	return env;
}

/*
 * Only stdio, the pipe, the gate, the log and the job cross the exec (at
 * fixed numbers, not close-on-exec; a role without a gate or a log gets
 * /dev/null there); the database, the signalfd, other workers' pipes stay
 * the parent's.  The signal mask crosses too: a stop asked for before a
 * worker opens its signalfd waits for it there.
 *
 * posix_spawn, not fork: its child shares our memory until it execs
 * (vfork), where a fork copied the page tables and left every page of the
 * supervisor copy-on-write, so that the transaction recording the admission
 * took a page fault on each page it touched.  An exec that fails is told
 * here, not by a child exiting 127.
 */
static pid_t
spawn_child(const char *flag, const int from[4], char **env)
{
	char *argv[] = { "waved", (char *)flag, NULL };
	int moved[4] = { -1, -1, -1, -1 };
	posix_spawn_file_actions_t fa;
	pid_t pid = -1;
	int rc = 0;

	/* Out of the way first: none may land on another's number while placed. */
	for (size_t k = 0; k < ARRAY_LEN(moved) && rc == 0; k++)
		if (from[k] != -1 && (moved[k] = fcntl(from[k], F_DUPFD_CLOEXEC, JOB_FD + 1)) == -1)
			rc = errno;
	if (rc == 0 && (rc = posix_spawn_file_actions_init(&fa)) == 0) {
		for (size_t k = 0; k < ARRAY_LEN(moved) && rc == 0; k++) {
			int at = JOB_PIPE_FD + (int)k;

			rc = moved[k] != -1 ? posix_spawn_file_actions_adddup2(&fa, moved[k], at) :
			    posix_spawn_file_actions_addopen(&fa, at, "/dev/null", O_RDONLY, 0);
		}
		if (rc == 0)
			rc = posix_spawn_file_actions_addclosefrom_np(&fa, JOB_FD + 1);
		if (rc == 0)
			rc = posix_spawn(&pid, SELF_EXE, &fa, NULL, argv, env);
		posix_spawn_file_actions_destroy(&fa);
	}
	for (size_t k = 0; k < ARRAY_LEN(moved); k++)
		if (moved[k] != -1)
			close(moved[k]);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return pid;
}

pid_t
exec_self(const struct worker_job *job, const int crossing[3], bool pass_token)
{
	const char *what = job->issue[0] ? job->issue : "reload";
	const char *flag = job_role_flag(job->role);
	char **env;
	int job_fd;
	pid_t pid;

	if ((job_fd = job_write(job)) == -1)
		return -1;
	env = child_env(pass_token);
	pid = spawn_child(flag, (const int[]){ crossing[0], crossing[1], crossing[2], job_fd },
	    env);
	if (pid == -1)
		log_warn("%s: spawn waved %s (%s)", what, flag, SELF_EXE);
	free(env);
	close(job_fd);
	return pid;
}
