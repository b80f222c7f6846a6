/*
 * The cluster runner's view of Slurm (DESIGN.md section 17): the srun
 * command line that runs one phase as a job, and what became of a job,
 * found by its name.  Only Slurm's client commands are used: srun, and
 * squeue and scancel from the same folder as srun.
 */
#ifndef WAVED_SLURM_H
#define WAVED_SLURM_H

#include "common/config.h"
#include "common/util.h"

#define SLURM_JOB_NAME_MAX 160

/* One phase (or merge gate) as a job. */
struct slurm_job_spec {
	const struct runner_conf *runner;
	const char *pool_args;	/* the issue's [pool] runner_args, or NULL */
	char name[SLURM_JOB_NAME_MAX];	/* waved:REPO#N:PHASE:TRACE */
	const char *cwd;
	int timeout_s;		/* the phase's own; the job's --time is a minute longer */
	long newer_than;	/* jobs up to this id are earlier rounds' (ids only grow) */
};

/* waved:REPO#N:PHASE:TRACE into spec->name. */
void slurm_job_name(struct slurm_job_spec *spec, const char *issue, const char *phase,
    const char *trace);

/*
 * srun --job-name=... --chdir=... --time=... --export=ALL ARGS POOL_ARGS
 * followed by command (an argv, never joined into a string).  Free with
 * slurm_argv_free.
 */
char **slurm_srun_argv(const struct slurm_job_spec *spec, const char *const *command);
void slurm_argv_free(char **argv);

enum slurm_fate {
	SLURM_UNKNOWN,		/* no record of it (never submitted, or long forgotten) */
	SLURM_ACTIVE,		/* pending, running or completing */
	SLURM_RAN,		/* it ran to its end: srun's exit status is the command's */
	SLURM_LOST		/* cancelled, preempted, node failure, the cluster's own
				 * time limit: nothing the command did */
};

struct slurm_job {
	long id;		/* 0: none found */
	char state[32];		/* squeue's %T: RUNNING, COMPLETED, CANCELLED... */
	enum slurm_fate fate;
};

/* The newest job of that name (a phase's rounds share one name). */
void slurm_job_find(const struct runner_conf *r, const char *name, struct slurm_job *job);
/* The same, waiting up to wait_ms for a job that is still completing. */
void slurm_job_settle(const struct runner_conf *r, const char *name, struct slurm_job *job,
    int wait_ms);
/* Cancel on the cluster: by id when known, else every job of that name. */
void slurm_cancel(const struct runner_conf *r, long id, const char *name);

/* squeue or scancel: beside srun when srun names a folder, else from PATH. */
char *slurm_tool(const struct runner_conf *r, const char *tool);
/* srun itself, resolved as exec would (PATH searched); NULL when not found. */
char *slurm_srun_path(const struct runner_conf *r);

#endif
