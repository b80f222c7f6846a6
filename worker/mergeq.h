/*
 * The merge queue (DESIGN.md section 6): land an issue branch on the agent
 * branch, one merge at a time per repository, the branch moving in one
 * atomic compare-and-swap or not at all.
 */
#ifndef WAVED_MERGEQ_H
#define WAVED_MERGEQ_H

#include "common/config.h"
#include "common/util.h"
#include "common/git.h"
#include "common/slurm.h"

/*
 * What one pass through the queue came to, for the worker to act on: report
 * the landing, end the attempt with an outcome, or bring the tip in for a
 * conflict round.  Not enum proto_merge_stage (common/proto.h): that is the
 * progress the supervisor hears on the pipe (waiting, locked, merged), with
 * no failure in it; only MERGEQ_LANDED is told there, as MERGE_MERGED.
 */
enum mergeq_result {
	MERGEQ_LANDED,		/* landed: the new agent tip (or the issue head, if already there) */
	MERGEQ_CONFLICT,	/* reason: the conflicting paths */
	MERGEQ_CHECK_FAILED,	/* the [merge] check gate failed; reason says why */
	MERGEQ_ERROR,		/* git failed; reason says how */
	MERGEQ_STOPPED,		/* asked to stop while waiting (for the lock, to push again) */
	MERGEQ_LOST,		/* the cluster ended the gate's job: try again later */
	MERGEQ_REMOTE		/* the push remote did not answer, or refused every round:
				 * try again later; the landing may be on the agent
				 * branch here already (reason says), and the next
				 * pass finds it there and only pushes */
};

struct merge_request {
	const struct config *cfg;
	const struct repo_conf *repo;
	const char *branch;	/* waved-issue/12 */
	const char *message;	/* for a merge commit */
	const char *scratch;	/* where the check gate gets its worktree */
	const char *worktree;	/* the issue's, on branch: detached once the branch is gone */
	int log_fd;
	int signal_fd;
	char *const *envp;
	const struct slurm_job_spec *slurm;	/* the gate's job with the cluster runner */
	/* What the worker knows without git: head descends from base (NULL: nothing
	 * known).  A branch still at head, on a tip still at base, fast-forwards. */
	const struct git_oid *head, *base;
	/* And head is base plus the worker's own commits, none landed: on a tip
	 * past base it can only merge (no merge-base to ask for). */
	const bool *only_ours;
	/* The try goes on at the merge (a landing whose push was left, maybe):
	 * a head already on the agent branch here is landed, only to push. */
	bool resumed;
	/* Progress, for the pipe protocol and the process title. */
	void (*locked)(void *arg);
	/* The agent branch found moved at a landing: taken in, or put back (section 19). */
	void (*guarded)(void *arg, int what, const struct git_oid *tip, const char *foreign);
	void *arg;
};

/*
 * landed: the new agent tip (or the issue head, when it was there already).
 * The agent branch moves first, then (with a push remote) it is pushed,
 * under the lock; a push the remote took is written to the remote-tracking
 * ref refs/remotes/PUSH/AGENT, which recovery reads.  A landing that
 * nothing follows (no push) deletes the branch in the transaction
 * that moves the agent branch, and leaves the worktree's HEAD detached at
 * the head.
 */
enum mergeq_result mergeq_land(const struct merge_request *req, struct git_oid *landed,
    struct strbuf *reason);

#endif
