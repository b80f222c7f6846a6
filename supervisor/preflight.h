/*
 * Checks made before any worker starts: every repo is a git repository and
 * its agent branch exists or can be created from the base branch; the
 * cluster runner can run a job that sees the state folder.
 */
#ifndef WAVED_PREFLIGHT_H
#define WAVED_PREFLIGHT_H

#include <stdbool.h>

#include "common/config.h"
#include "common/util.h"

/*
 * Check every repo; with prepare, also create missing agent branches and
 * prune stale worktrees.  Returns 0, or -1 with one line per problem in
 * errors, each naming the repo.
 */
int preflight_repos(const struct config *cfg, bool prepare, struct strbuf *errors);

/*
 * With [runner] type = slurm (DESIGN.md section 17): srun is there, and a
 * one-second job with the runner's arguments (and each pool's) runs and sees
 * state_dir at the same path.  Returns 0, or -1 with a line naming what
 * failed: srun, the partition or the shared path.
 */
int preflight_runner(const struct config *cfg, struct strbuf *errors);

#endif
