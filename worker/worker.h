/*
 * A worker: the process forked for one attempt at one issue.  It prepares a
 * worktree, runs the phases, lands the branch through the merge queue and
 * reports every step to the supervisor over its pipe.  It never opens the
 * database and ends with _exit.
 */
#ifndef WAVED_WORKER_H
#define WAVED_WORKER_H

#include <sys/types.h>

#include "common/config.h"
#include "common/proto.h"
#include "common/util.h"

/* In the issue's folder: held (flock) by its worker for as long as it runs;
 * a restarted supervisor finds a worker of its previous run by it. */
#define WORKER_LOCK_FILE "worker.lock"

/* Exit status of a worker that stopped on request before it finished. */
#define WORKER_EXIT_STOPPED 3

struct worker_job {
	const struct config *cfg;
	const struct repo_conf *repo;
	char issue[ISSUE_KEY_MAX];	/* api#12 */
	long number;
	const char *title;		/* untrusted */
	const char *body;		/* untrusted */
	int attempt;
	char trace[TRACE_LEN + 1];
	int pipe_fd;			/* write end, to the supervisor */
	int gate_fd;			/* read end: a byte from the supervisor, once it has
					 * committed what the worker waits on */
	pid_t supervisor;		/* to notice a supervisor that died before PDEATHSIG was set */
	enum resume_point resume;
	char base[65];			/* with resume: the base commit recorded at prepare */
	const struct pool_conf *pool;	/* its [pool], for runner_args; or NULL */
	char pr_head[65];		/* land = pr: the head waved pushed last (the lease), or "" */
	char pr_base[65];		/* land = pr: its open pull request's head, to build on, or "" */
	bool pr_conflict;		/* land = pr: a round to bring the base branch in, no more */
};

/* Run the attempt in the forked child; never returns. */
void worker_main(const struct worker_job *job) __attribute__((noreturn));

#endif
