#include "worker/phase.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "common/util.h"

/* In the child: a clean process for the shell, in a group of its own. */
static void __attribute__((noreturn))
phase_exec(const struct phase_spec *spec)
{
	int devnull = open("/dev/null", O_RDONLY);
	sigset_t none;

	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (devnull != -1)
		dup2(devnull, STDIN_FILENO);
	dup2(spec->log_fd, STDOUT_FILENO);
	dup2(spec->log_fd, STDERR_FILENO);
	closefrom(3);
	if (chdir(spec->cwd) == -1) {
		dprintf(STDERR_FILENO, "waved: %s: chdir %s: %s\n", spec->name, spec->cwd,
		    strerror(errno));
		_exit(127);
	}
	execve("/bin/sh", (char *const[]){ "sh", "-c", (char *)spec->command, NULL },
	    spec->envp);
	dprintf(STDERR_FILENO, "waved: %s: exec /bin/sh: %s\n", spec->name, strerror(errno));
	_exit(127);
}

/* Wait for the shell, or for the deadline, or for a stop request. */
void
phase_run(const struct phase_spec *spec, struct phase_outcome *out)
{
	int64_t start = mono_ms(), deadline = start + (int64_t)spec->timeout_s * 1000;
	int64_t kill_at = 0;
	pid_t pid;
	int status;

	memset(out, 0, sizeof(*out));
	out->result = PHASE_EXITED;
	if ((pid = fork()) == -1) {
		out->result = PHASE_NOT_STARTED;
		return;
	}
	if (pid == 0)
		phase_exec(spec);
	setpgid(pid, pid);	/* both sides set it: no race with the first kill */
	if (spec->started)
		spec->started(pid, spec->arg);
	for (;;) {
		struct pollfd pfd = { .fd = spec->signal_fd, .events = POLLIN };
		int64_t now = mono_ms(), until = kill_at ? kill_at : deadline;
		struct signalfd_siginfo si;

		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (now >= until) {
			if (kill_at) {
				kill(-pid, SIGKILL);
				kill_at = INT64_MAX / 2;	/* wait for the reap */
			} else {
				out->result = PHASE_TIMED_OUT;
				kill(-pid, SIGTERM);
				kill_at = now + PHASE_KILL_GRACE_MS;
			}
			continue;
		}
		if (poll(&pfd, 1, (int)(until - now > 1000 ? 1000 : until - now)) <= 0)
			continue;
		if (read(spec->signal_fd, &si, sizeof(si)) != sizeof(si))
			continue;
		if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && !kill_at) {
			out->result = PHASE_STOPPED;
			kill(-pid, SIGTERM);
			kill_at = now + PHASE_KILL_GRACE_MS;
		}
	}
	/* Nothing the phase started may outlive it: sweep the group. */
	kill(-pid, SIGKILL);
	out->ms = (long)(mono_ms() - start);
	out->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
