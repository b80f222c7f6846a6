/*
 * What the worker's files share (worker.c the lifecycle, conflict.c merge
 * conflicts, publish.c landing by pull request): the worker's state and the steps both take.  Not for the
 * supervisor: it talks to a worker through the pipe protocol only.
 */
#ifndef WAVED_WORKER_INTERNAL_H
#define WAVED_WORKER_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "common/git.h"
#include "common/proto.h"
#include "common/slurm.h"
#include "worker/phase.h"
#include "worker/usage_file.h"
#include "worker/worker.h"

struct worker {
	const struct worker_job *job;
	const struct config *cfg;
	const struct repo_conf *repo;
	char *worktree, *branch, *issue_file, *feedback_file, *scratch, *lock_path;
	char *retry_after_file;	/* $WAVED_RETRY_AFTER_FILE: when an exit of 75 asks to be tried */
	char *hooks_dir;	/* commit_hooks: the repo's own hooks, as configured at the start */
	char *git_dir;		/* the worktree's own git dir, as prepare left it */
	struct {
		char *config_path;	/* the shared config file */
		char *config;		/* its text before the phase */
		char *refs;		/* "oid ref" lines of branches and tags before the phase */
		char *after;		/* and after it */
	} guard;		/* guard.c: what the agent must leave as it is */
	char *commit_message;	/* for what an agent leaves uncommitted: "<title> (REPO#N)" */
	int log_fd, signal_fd;
	struct git_oid base;
	struct git_oid head;	/* the worktree's HEAD after the last phase */
	bool committed;		/* the last phase's leftovers were committed by us */
	/* head descends from base and adds no file past max_file_size; files
	 * whose ctime is before changed_since were there when that was found. */
	bool head_checked;
	/* head is base plus waved's own commits of what the agent left (the
	 * agent moved HEAD in no phase): none of it can be on the agent branch. */
	bool only_ours;
	bool tidy;		/* the last thing done in the worktree was an add -A and its commit */
	time_t changed_since;
	bool feedback;		/* feedback_file holds something for the next implement */
	char *pr_feedback;	/* land = pr: what the pull request's round began with, or NULL */
	bool owns_issue;	/* holds the issue's worker lock */
	bool passed;		/* past its phases and the checks of what lands: landing */
	bool warm;		/* the worktree is a reused spare (WAVED_WARM=1) */
	struct slurm_job_spec slurm;	/* with the cluster runner: the current phase's job */
	long last_job;		/* the newest job id this worker has seen */
	struct usage_file usage;	/* $WAVED_USAGE_FILE: what the phases spent */
};

/* Where a phase's output sits in the log. */
struct log_span {
	off_t since, until;
};

/* Report to the supervisor; a supervisor gone ends the worker. */
void worker_send(struct worker *w, const struct proto_msg *m);
/* Report the outcome, tidy up and end the process. */
void worker_finish(struct worker *w, enum proto_outcome outcome, const char *reason)
    __attribute__((noreturn));
/* End the attempt "tempfail": back in line, no attempt used; cause says whose
 * wait it is.  Past its phases (passed), the worktree stays and the done
 * message says so: the next try goes on at the merge. */
void worker_tempfail(struct worker *w, enum proto_cause cause, const char *reason)
    __attribute__((noreturn));
/* The reason and output a next round or attempt reads in $WAVED_FEEDBACK_FILE. */
void worker_write_feedback(struct worker *w, const char *reason, const char *tail);
/* Run one phase and report its start and end; span gets its output's place. */
struct phase_outcome worker_run_phase(struct worker *w, enum phase_id id, const char *command,
    struct log_span *span);
/* A phase that did not pass ends the attempt, unless a round is left (then false). */
bool worker_phase_passed(struct worker *w, enum phase_id id, const struct phase_outcome *out,
    const struct log_span *span, int *rounds_left);

/*
 * After an agent phase (result.c): the worktree's state checked, what the
 * agent left uncommitted committed (with commit, after implement and
 * verify), and its HEAD taken as the result.  NULL, or why the attempt fails.
 */
char *result_take(struct worker *w, enum phase_id id, bool commit);
/*
 * Before it lands: a blob past max_file_size in any commit of the attempt
 * (one added, then removed, still lands with the history); why (caller
 * frees), or NULL.
 */
char *result_blobs_too_big(const struct worker *w);
/* Note the worktree's git dir once prepare made it: the agent may not point it elsewhere. */
void result_note_git_dir(struct worker *w);
/* The folder of the repo's own commit hooks, when it holds any (caller frees), or NULL. */
char *result_hooks_dir(const char *repo);

/*
 * sandbox = bwrap (sandbox.c): the argv that runs a command in the phase's
 * sandbox, ending with "--" (the command follows); NULL when sandbox = none.
 */
char **sandbox_prefix(const struct worker *w);
void sandbox_prefix_free(char **argv);

/* land = pr (publish.c): the base of a round (the pull request's head, else
 * the remote's base branch, fetched), and the push that ends the attempt. */
void publish_base(struct worker *w, struct git_oid *base);
void publish(struct worker *w) __attribute__((noreturn));

/* Bring ref (shown as label) into the issue branch (the agent resolving what
 * collides), commit, and verify again (conflict.c); and the agent branch's
 * tip, after a conflict at the merge queue. */
void conflict_bring_in(struct worker *w, int round, const char *ref, const char *label);
void conflict_bring_in_tip(struct worker *w, int round);

#endif
