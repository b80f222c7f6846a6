/*
 * The shared repository is waved's, not the agent's (DESIGN.md section 19).
 * Before each phase the worker notes the agent branch's tip, the refs and
 * the shared config; after it, what the agent changed there is undone: the
 * config restored (event agent_config_restored), a move of the agent branch
 * undone and kept under refs/waved/foreign/ (agent_branch_restored, and the
 * attempt fails: only what went through the merge gate lands), the branches
 * and tags it made removed.  waved knows the tip it set last: the landing
 * writes it to STATE/tips/REPO under the merge lock.
 */
#ifndef WAVED_GUARD_H
#define WAVED_GUARD_H

#include <stdbool.h>

#include "common/config.h"
#include "common/git.h"

struct worker;

/* The tip waved set last in repo; false when none was recorded yet. */
bool guard_tip_get(const struct config *cfg, const char *repo, struct git_oid *tip);
void guard_tip_set(const struct config *cfg, const char *repo, const struct git_oid *tip);

/* Before a phase: what the agent must leave as it is. */
void guard_before(struct worker *w);
/* After it: the config and the agent branch put back; NULL, or why the attempt fails. */
char *guard_after(struct worker *w, const char *phase);
/* After the result is taken: the branches and tags the agent made, removed and named. */
void guard_refs(struct worker *w);

#endif
