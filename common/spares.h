/*
 * Warm worktrees (DESIGN.md section 5, prepare): a landed issue's worktree
 * is parked as a spare of its repo at STATE/worktrees/REPO/.spare/K (at most
 * spare_worktrees of them), detached, and the next prepare of the repo takes
 * one instead of checking out every file again: only what differs from the
 * new base is written, and ignored files (node_modules/, build caches) stay.
 * Parking and taking hold the repo's spare lock (.spare.lock beside them).
 */
#ifndef WAVED_SPARES_H
#define WAVED_SPARES_H

#include <stdbool.h>

#include "common/config.h"
#include "common/util.h"

/*
 * Park the worktree of a landed issue; false (and nothing moved) when the
 * repo has spare_worktrees spares already or reuse is off.  tidy: the last
 * thing done in it was an add -A and its commit (nothing untracked left),
 * so that its take needs no git clean.  Park and take move the folder and
 * point git's record at it themselves (no git worktree move).
 */
bool spares_park(const struct config *cfg, const struct repo_conf *r, const char *worktree,
    bool tidy, struct strbuf *log);

/*
 * Take a spare into worktree (which must not exist) and make it exact:
 * branch created or reset at base, tracked and untracked files as base has
 * them.  False when there was none or it could not be made exact (then
 * nothing is left at worktree): prepare makes a fresh one.
 */
bool spares_take(const struct config *cfg, const struct repo_conf *r, const char *worktree,
    const char *branch, const char *base, struct strbuf *log);

/*
 * At start, before anything prunes: finish or undo a park or take a crash
 * interrupted (git worktree repair, or the spare goes), and remove spares
 * beyond spare_worktrees (all of them when reuse is off).
 */
void spares_tidy(const struct config *cfg, const struct repo_conf *r);

#endif
