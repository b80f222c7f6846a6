/*
 * Run one agent phase: /bin/sh -c COMMAND in a session of its own, in the
 * worktree, output appended to the attempt's log, with a timeout (TERM to
 * every process of the phase, then KILL after kill_grace), a stall
 * (idle_timeout) and the worker's stop request honoured the same way.  With
 * the cluster runner the process is srun running the same command as a job,
 * and a timeout or a stop first cancels the job on the cluster.
 */
#ifndef WAVED_PHASE_H
#define WAVED_PHASE_H

#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/slurm.h"

#define PHASE_EXIT_TEMPFAIL 75	/* EX_TEMPFAIL: requeue, do not count the attempt */

enum phase_result {
	PHASE_EXITED,		/* status holds the exit status (128+N for signal N) */
	PHASE_TIMED_OUT,
	PHASE_STOPPED,		/* the worker was asked to stop */
	PHASE_NOT_STARTED,	/* fork failed */
	PHASE_LOST,		/* the cluster ended its job (cancelled, preempted, node
				 * failure): not the phase's doing, as an exit 75 */
	PHASE_STALLED,		/* no output and no CPU for idle_timeout */
	PHASE_OVER_BUDGET	/* the supervisor stopped it (SIGUSR1): the issue spent its budget */
};

struct phase_spec {
	const char *name;
	const char *command;
	int timeout_s;
	int idle_timeout_s;	/* 0: never stalled */
	int64_t kill_grace_ms;	/* between SIGTERM and SIGKILL */
	const char *cwd;
	char *const *prefix;	/* runs before /bin/sh -c (the sandbox's bwrap ... --), or NULL */
	char *const *envp;
	int log_fd;
	long long log_max;	/* bytes; past it the middle of the log is cut; 0: no bound */
	int signal_fd;		/* the worker's signalfd: SIGCHLD, SIGTERM, SIGINT, SIGUSR1 */
	/* With the cluster runner, the job to run it as; NULL: here, as a child. */
	const struct slurm_job_spec *slurm;
	/* Told the process group as soon as it exists (for the pipe protocol). */
	void (*started)(pid_t pgid, void *arg);
	/* Called once a second while it runs (what it spent is read there), or NULL. */
	void (*tick)(void *arg);
	void *arg;
};

struct phase_outcome {
	enum phase_result result;
	int status;
	long ms;
	long maxrss_kb;		/* the largest resident size of the phase's processes (local) */
	long job;		/* the Slurm job id, 0 when local or none was found */
	char job_state[32];	/* with job: how the cluster says it ended */
};

void phase_run(const struct phase_spec *spec, struct phase_outcome *out);

#endif
