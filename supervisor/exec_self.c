#include "supervisor/exec_self.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "common/log.h"
#include "common/util.h"

extern char **environ;

_Static_assert(JOB_GATE_FD == JOB_PIPE_FD + 1 && JOB_LOG_FD == JOB_PIPE_FD + 2 &&
    JOB_FD == JOB_PIPE_FD + 3,
    "exec_child places the child's descriptors in a row");

static int self = -1;

int
exec_self_open(void)
{
	if (self == -1 && (self = open("/proc/self/exe", O_PATH | O_CLOEXEC)) == -1)
		log_warn("/proc/self/exe: no worker can start");
	return self;
}

void
exec_self_close(void)
{
	if (self != -1)
		close(self);
	self = -1;
}

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
 * In the child: only stdio, the pipe, the gate, the log and the job cross the exec
 * (at fixed numbers, not close-on-exec).  The signal mask crosses too: a
 * stop asked for before a worker opens its signalfd waits for it there.
 */
static void __attribute__((noreturn))
exec_child(const struct worker_job *job, const int crossing[3], int job_fd, char **env)
{
	char *argv[] = { "waved", (char *)job_role_flag(job->role), NULL };
	int fds[] = { crossing[0], crossing[1], crossing[2], job_fd, self };
	const int at_self = JOB_FD + 1;	/* close-on-exec, as it is only the exec's */

	signal(SIGBUS, SIG_DFL);
	/* Out of the way first: none may land on another's number while moved. */
	for (size_t k = 0; k < ARRAY_LEN(fds); k++)
		if (fds[k] != -1 && (fds[k] = fcntl(fds[k], F_DUPFD_CLOEXEC, at_self + 1)) == -1)
			_exit(127);
	for (size_t k = 0; k < ARRAY_LEN(fds); k++) {
		int at = JOB_PIPE_FD + (int)k;

		if (fds[k] == -1)
			close(at);	/* no gate, no log: nothing of the parent's at its number */
		else if (dup3(fds[k], at, at == at_self ? O_CLOEXEC : 0) == -1)
			_exit(127);
	}
	/* The database, the signalfd, other workers' pipes: the parent's, not ours. */
	closefrom(at_self + 1);
	fexecve(at_self, argv, env);
	log_warn("%s: exec waved %s", job->issue[0] ? job->issue : "reload", argv[1]);
	_exit(127);
}

pid_t
exec_self(const struct worker_job *job, const int crossing[3], bool pass_token)
{
	const char *what = job->issue[0] ? job->issue : "reload";
	char **env;
	int job_fd;
	pid_t pid;

	if (self == -1) {
		log_warnx("%s: waved's own binary could not be opened at start", what);
		return -1;
	}
	if ((job_fd = job_write(job)) == -1)
		return -1;
	/* Built before the fork: the child only moves descriptors and execs. */
	env = child_env(pass_token);
	if ((pid = fork()) == -1)
		log_warn("%s: fork", what);
	else if (pid == 0)
		exec_child(job, crossing, job_fd, env);
	free(env);
	close(job_fd);
	return pid;
}
