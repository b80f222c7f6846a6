/*
 * Resume-or-reset (DESIGN.md section 7): what to do with an issue whose
 * worker is gone without a result.  git is the source of truth: the state
 * markers only say where to resume when git still agrees with them.
 */
#ifndef WAVED_RECOVER_H
#define WAVED_RECOVER_H

#include <sys/types.h>

#include "common/config.h"
#include "common/store.h"
#include "common/job.h"
#include "common/proto.h"

struct recover_input {
	const struct config *cfg;
	const struct repo_conf *repo;
	long number;
	const char *base;		/* recorded at prepare, or NULL */
	const char *final;		/* recorded when merged, or NULL */
	const struct store_marker *marker;	/* the last one, or NULL */
};

struct recover_decision {
	enum recover_action action;
	enum resume_point resume;	/* with RECOVER_RESUME */
	char landed[65];		/* the commit found on the agent branch: with RECOVER_DONE,
					 * or with a resume at the merge when only its push
					 * is left (not an attempt's crash: counts none) */
};

void recover_evaluate(const struct recover_input *in, struct recover_decision *out);
/* What the decision asks of git: a reset removes the worktree and branch, a
 * landing its worktree (the branch goes once the landing is committed). */
void recover_carry_out(const struct recover_input *in, const struct recover_decision *d);
/* Remove the worktree and branch; or its worktree alone. */
void recover_reset(const struct config *cfg, const struct repo_conf *repo, long number);
void recover_drop_worktree(const struct config *cfg, const struct repo_conf *repo, long number);
/* Delete a landed issue's branch in the background (never blocks the loop). */
void recover_drop_branch(const struct config *cfg, const struct repo_conf *repo, long number);
/* waved --recover: the exec'd child that evaluates and carries out one recovery. */
void recover_main_exec(void) __attribute__((noreturn));
/*
 * A worker of a dead supervisor may still be winding down: found by its hold
 * on the lock, given a moment, then killed (pid: the one recorded).
 */
void recover_reap_orphan(const struct config *cfg, const struct repo_conf *repo, long number,
    pid_t pid);

#endif
