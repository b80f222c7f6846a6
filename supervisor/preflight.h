/*
 * Checks made before any worker starts: every repo is a git repository and
 * its agent branch exists or can be created from the base branch.
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

#endif
