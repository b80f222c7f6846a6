#include "worker/phase.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "common/spawn.h"
#include "common/util.h"

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
	/* The command string is the operator's configuration; issue text reaches
	 * it only through the environment and files. */
	pid = spawn_start((const char *[]){ "/bin/sh", "-c", spec->command, NULL },
	    &(struct spawn_opts){ .cwd = spec->cwd, .out_fd = spec->log_fd, .envp = spec->envp });
	if (pid == -1) {
		dprintf(spec->log_fd, "waved: %s: cannot start /bin/sh in %s: %s\n", spec->name,
		    spec->cwd, strerror(errno));
		out->result = PHASE_NOT_STARTED;
		return;
	}
	if (spec->started)
		spec->started(pid, spec->arg);
	for (;;) {
		struct pollfd pfd = { .fd = spec->signal_fd, .events = POLLIN };
		int64_t now = mono_ms(), until = kill_at ? kill_at : deadline;
		struct signalfd_siginfo si;

		struct rusage ru;

		if (wait4(pid, &status, WNOHANG, &ru) == pid) {
			out->maxrss_kb = ru.ru_maxrss;
			break;
		}
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
