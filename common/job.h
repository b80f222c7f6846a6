/*
 * The job of an exec'd worker (DESIGN.md section 1).  The supervisor forks
 * and execs waved itself in worker mode; what the worker is to do (the
 * configuration generation it was admitted under, the issue, the attempt)
 * comes as data on an inherited descriptor, never on a command line and
 * never read again from the config file, which may have changed since.
 */
#ifndef WAVED_JOB_H
#define WAVED_JOB_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/proto.h"
#include "common/store.h"
#include "common/util.h"


/* In the issue's folder: held (flock) by its worker for as long as it runs;
 * a restarted supervisor finds a worker of its previous run by it. */
#define WORKER_LOCK_FILE "worker.lock"

/* Exit status of a worker that stopped on request before it finished. */
#define WORKER_EXIT_STOPPED 3

/*
 * What an exec'd child of the supervisor is: an attempt's worker; a recovery,
 * asking git what became of a crashed attempt; a reload's preflight of a new
 * configuration.  Each is waved itself, exec'd with its hidden flag, so none
 * holds what the supervisor holds (the token above all).
 */
enum job_role {
	JOB_WORKER,
	JOB_RECOVER,
	JOB_PREFLIGHT,
};

struct worker_job {
	enum job_role role;
	const struct config *cfg;
	const struct repo_conf *repo;	/* NULL for a preflight */
	char issue[ISSUE_KEY_MAX];	/* api#12 */
	long number;
	const char *title;		/* untrusted */
	const char *body;		/* untrusted */
	int attempt;
	char trace[TRACE_LEN + 1];
	int pipe_fd;			/* write end, to the supervisor */
	int gate_fd;			/* read end: a byte from the supervisor, once it has
					 * committed what the worker waits on */
	int log_fd;			/* the attempt's log, opened by the supervisor to append */
	pid_t supervisor;		/* to notice a supervisor that died before PDEATHSIG was set */
	enum resume_point resume;
	char base[65];			/* with resume: the base commit recorded at prepare */
	const struct pool_conf *pool;	/* its [pool], for runner_args; or NULL */
	char pr_head[65];		/* land = pr: the head waved pushed last (the lease), or "" */
	char pr_base[65];		/* land = pr: its open pull request's head, to build on, or "" */
	bool pr_conflict;		/* land = pr: a round to bring the base branch in, no more */
	/* A recovery's evidence besides base (DESIGN.md section 7). */
	char final[65];			/* recorded when merged, or "" */
	bool has_marker;
	struct store_marker marker;	/* the attempt's last state marker */
};

/* Where the exec'd child finds its pipe, its job, and a worker's gate and log. */
#define JOB_PIPE_FD 3
#define JOB_GATE_FD 4
#define JOB_LOG_FD 5
#define JOB_FD 6

/* The hidden command-line flag of each role (waved(8): internal). */
#define JOB_WORKER_FLAG "--worker"
#define JOB_RECOVER_FLAG "--recover"
#define JOB_PREFLIGHT_FLAG "--preflight"

/* The role of a hidden flag; -1: not one. */
int job_role_of_flag(const char *flag);
const char *job_role_flag(enum job_role role);

/* The job as a sealed memory file, read from its start; -1 logged. */
int job_write(const struct worker_job *job);

/*
 * Read the job on fd into *job (its config and strings allocated, kept for
 * the life of the process); -1 with why in err, also when it is not a job
 * of the role expected (the flag it was exec'd with).
 */
int job_read(int fd, enum job_role role, struct worker_job *job, char *err, size_t errsize);


#endif
