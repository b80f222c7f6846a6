#include "worker/phase.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "common/spawn.h"
#include "common/util.h"
#include "worker/contain.h"
#include "worker/signals.h"

/*
 * Keep the log within log_max: past it, the middle goes.  The first half
 * stays (how the attempt began), then a line saying how much was cut, then
 * the newest output; the phase goes on appending after it (O_APPEND).
 */
static void
bound_log(int fd, long long log_max, long long *cut)
{
	struct stat st;
	long long head = log_max / 2, tail;
	char *buf, note[128];
	ssize_t got;
	int n;

	if (log_max <= 0 || fstat(fd, &st) == -1 || st.st_size <= log_max)
		return;
	n = snprintf(note, sizeof(note), "\n== waved: %lld bytes cut from the middle of this log "
	    "(log_max)\n", *cut + (long long)st.st_size - log_max);
	tail = log_max - head - n;
	if (tail <= 0)
		return;
	/* pwrite on an O_APPEND descriptor appends: write through one of our own. */
	char *self = xasprintf("/proc/self/fd/%d", fd);
	int out = open(self, O_WRONLY | O_CLOEXEC);

	free(self);
	if (out == -1)
		return;
	buf = xmalloc((size_t)tail);
	got = pread(fd, buf, (size_t)tail, st.st_size - tail);
	if (got == tail && pwrite(out, note, (size_t)n, head) == n &&
	    pwrite(out, buf, (size_t)tail, head + n) == tail && ftruncate(out, log_max) == 0)
		*cut += (long long)st.st_size - log_max;
	free(buf);
	close(out);
}

/* A timeout or a stop: the job goes first (by id once it has one), then srun. */
static void
cancel_job(const struct phase_spec *spec)
{
	struct slurm_job job;

	slurm_job_find(spec->slurm->runner, spec->slurm->name, &job);
	slurm_cancel(spec->slurm->runner, job.id > spec->slurm->newer_than ? job.id : 0,
	    spec->slurm->name);
}

/*
 * Ask the phase to end: TERM now to its group and to every process below
 * the worker (a daemon that left the group too), KILL at the returned time.
 */
static int64_t
terminate(const struct phase_spec *spec, pid_t pid, int64_t now)
{
	if (spec->slurm)
		cancel_job(spec);
	kill(-pid, SIGTERM);
	contain_signal(SIGTERM);
	return now + spec->kill_grace_ms;
}

/*
 * srun has ended: which job was it, and did the command run to its end?  A
 * job the cluster ended on its own makes the phase PHASE_LOST.
 */
static void
job_outcome(const struct phase_spec *spec, struct phase_outcome *out)
{
	const struct slurm_job_spec *js = spec->slurm;
	struct slurm_job job;

	if (out->result != PHASE_EXITED)
		slurm_cancel(js->runner, 0, js->name);	/* one submitted while we cancelled */
	slurm_job_settle(js->runner, js->name, &job, spec->kill_grace_ms);
	out->maxrss_kb = 0;	/* srun's own size says nothing of the job's */
	if (job.id <= js->newer_than) {
		dprintf(spec->log_fd, "\n== waved: no Slurm job %s was found\n", js->name);
		return;
	}
	out->job = job.id;
	strlcpy(out->job_state, job.state, sizeof(out->job_state));
	dprintf(spec->log_fd, "\n== waved: Slurm job %ld %s\n", job.id, job.state);
	if (out->result == PHASE_EXITED && job.fate == SLURM_LOST)
		out->result = PHASE_LOST;
}

/* Copy what the phase wrote to its log; false at EOF (no writer left). */
static bool
copy_output(int from, int log_fd)
{
	char buf[65536];

	for (;;) {
		ssize_t n = read(from, buf, sizeof(buf));

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return errno == EAGAIN;
		if (n == 0)
			return false;
		for (ssize_t off = 0; off < n; ) {
			ssize_t w = write(log_fd, buf + off, (size_t)(n - off));

			if (w <= 0)
				break;	/* a full disk: the output is lost, the phase goes on */
			off += w;
		}
	}
}

/*
 * A phase is stalled when for idle_timeout it wrote nothing to its log and
 * none of its processes used CPU (an agent waiting on a prompt, a hung
 * tool).  Looked at once a second.
 */
struct idle_watch {
	int64_t limit_ms;	/* 0: not watched */
	int64_t next_look, active_at;
	off_t size;
	long long cpu;
};

static bool
idle_too_long(struct idle_watch *iw, int log_fd, int64_t now)
{
	struct stat st;
	long long cpu;

	if (iw->limit_ms <= 0 || now < iw->next_look)
		return false;
	iw->next_look = now + 1000;
	cpu = contain_cpu_ticks();
	if (fstat(log_fd, &st) == 0 && (st.st_size != iw->size || cpu != iw->cpu)) {
		iw->size = st.st_size;
		iw->cpu = cpu;
		iw->active_at = now;
	}
	return now - iw->active_at >= iw->limit_ms;
}

/*
 * Wait for the phase, its deadline, its stall or a stop request.  On a
 * timeout, stall or stop every process of the phase gets SIGTERM and the
 * grace to exit, all of them, not just the shell on top; whatever the phase
 * leaves running when it ends (a dev server it daemonized) gets the same.
 */
void
phase_run(const struct phase_spec *spec, struct phase_outcome *out)
{
	int64_t start = mono_ms(), deadline = start + (int64_t)spec->timeout_s * 1000;
	int64_t kill_at = 0, killed_at = INT64_MAX / 2, next_tick = start + 1000;
	struct idle_watch idle = { .limit_ms = (int64_t)spec->idle_timeout_s * 1000,
	    .active_at = start, .size = -1, .cpu = -1 };
	bool reaped = false;
	pid_t pid;
	int status = 0;

	memset(out, 0, sizeof(*out));
	out->result = PHASE_EXITED;
	/* The command string is the operator's configuration; issue text reaches
	 * it only through the environment and files. */
	const char *plain[] = { "/bin/sh", "-c", spec->command, NULL }, **shell = plain;
	size_t nprefix = 0;

	while (spec->prefix && spec->prefix[nprefix])
		nprefix++;
	if (nprefix) {
		shell = xcalloc(nprefix + 4, sizeof(char *));
		memcpy(shell, spec->prefix, nprefix * sizeof(char *));
		memcpy(shell + nprefix, plain, sizeof(plain));
	}
	char **srun = spec->slurm ? slurm_srun_argv(spec->slurm, shell) : NULL;
	const char *const *argv = srun ? (const char *const *)srun : shell;

	/* The phase writes into a pipe that waved copies to the log: once the
	 * worker closes it, nothing the phase started can write the log. */
	int output[2] = { -1, -1 };

	pid = pipe2(output, O_CLOEXEC) == -1 ? -1 :
	    contain_spawn(argv, &(struct spawn_opts){ .cwd = spec->cwd, .out_fd = output[1],
	    .envp = spec->envp, .session = true });
	if (pid == -1)
		dprintf(spec->log_fd, "waved: %s: cannot start %s in %s: %s\n", spec->name,
		    argv[0], spec->cwd, strerror(errno));
	if (output[1] != -1)
		close(output[1]);
	slurm_argv_free(srun);
	if (shell != plain)
		free(shell);
	if (pid == -1) {
		if (output[0] != -1)
			close(output[0]);
		out->result = PHASE_NOT_STARTED;
		return;
	}
	fcntl(output[0], F_SETFL, O_NONBLOCK);
	if (spec->started)
		spec->started(pid, spec->arg);
	long long cut = 0;

	for (;;) {
		struct pollfd pfd[2] = { { .fd = spec->signal_fd, .events = POLLIN },
		    { .fd = output[0], .events = POLLIN } };
		int64_t now = mono_ms(), until = kill_at ? kill_at : deadline;
		enum signals_heard heard;
		struct rusage ru;

		bound_log(spec->log_fd, spec->log_max, &cut);
		if (!reaped && wait4(pid, &status, WNOHANG, &ru) == pid) {
			out->maxrss_kb = ru.ru_maxrss;
			reaped = true;
		}
		/* Ended by itself: done.  Asked to end: done when all of it has, or
		 * a while after SIGKILL (a process in uninterruptible sleep). */
		if (reaped && (!kill_at || contain_empty() || now >= killed_at + 5000))
			break;
		if (now >= until) {
			if (kill_at) {
				kill(-pid, SIGKILL);
				contain_signal(SIGKILL);
				kill_at = INT64_MAX / 2;	/* wait for the reap */
				killed_at = now;
			} else {
				out->result = PHASE_TIMED_OUT;
				kill_at = terminate(spec, pid, now);
			}
			continue;
		}
		if (!kill_at && idle_too_long(&idle, spec->log_fd, now)) {
			out->result = PHASE_STALLED;
			dprintf(spec->log_fd, "\n== waved: %s: no output and no CPU for %d s: "
			    "stalled\n", spec->name, spec->idle_timeout_s);
			kill_at = terminate(spec, pid, now);
			continue;
		}
		if (spec->tick && now >= next_tick) {
			spec->tick(spec->arg);
			next_tick = now + 1000;
		}
		/* A twentieth of a second at most: the log is looked at as often. */
		if (poll(pfd, output[0] == -1 ? 1 : 2, (int)(until - now > 50 ? 50 :
		    until - now)) <= 0)
			continue;
		if (output[0] != -1 && pfd[1].revents && !copy_output(output[0], spec->log_fd)) {
			close(output[0]);	/* every writer is gone */
			output[0] = -1;
		}
		if (!pfd[0].revents)
			continue;
		heard = signals_read(spec->signal_fd);
		if (heard == HEARD_STOP && !kill_at) {
			out->result = PHASE_STOPPED;
			kill_at = terminate(spec, pid, now);
		} else if (heard == HEARD_OVER_BUDGET && !kill_at) {
			out->result = PHASE_OVER_BUDGET;
			dprintf(spec->log_fd, "\n== waved: %s: the issue is over its budget: "
			    "stopped\n", spec->name);
			kill_at = terminate(spec, pid, now);
		}
	}
	/* Nothing the phase started may outlive it: whatever is left gets its grace. */
	int left = contain_end(kill_at ? 0 : spec->kill_grace_ms);
	kill(-pid, SIGKILL);
	if (output[0] != -1) {
		copy_output(output[0], spec->log_fd);	/* what is left in the pipe */
		close(output[0]);
	}
	bound_log(spec->log_fd, spec->log_max, &cut);
	if (left > 0)
		dprintf(spec->log_fd, "\n== waved: %s left %d process%s running: ended\n",
		    spec->name, left, left == 1 ? "" : "es");
	out->ms = (long)(mono_ms() - start);
	out->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (spec->slurm)
		job_outcome(spec, out);
}
