/*
 * The git operations of a worker, each an argv (never a shell string) run
 * through spawn_run with GIT_TERMINAL_PROMPT=0.
 */
#ifndef WAVED_GIT_H
#define WAVED_GIT_H

#include <stdbool.h>

#include "common/util.h"

#define GIT_SHA_MAX 64

/* git -C dir ARGS...; returns the exit status; output (may be NULL) gets stdout+stderr. */
int git_run(const char *dir, struct strbuf *output, const char *const args[]);
/* The same for a command that talks to a remote: killed after timeout_s (git_timeout). */
int git_run_remote(const char *dir, int timeout_s, struct strbuf *output, const char *const args[]);
/* Resolve rev to a full object name; 0 or -1. */
int git_rev_parse(const char *dir, const char *rev, char sha[GIT_SHA_MAX + 1]);
/* Is a an ancestor of (or equal to) b? */
bool git_is_ancestor(const char *dir, const char *a, const char *b);
/* The repository's common git dir, absolute (shared by all its worktrees). */
char *git_common_dir(const char *dir);

/* A fresh worktree at path on branch (reset to base), replacing any old one. */
int git_worktree_fresh(const char *repo, const char *path, const char *branch,
    const char *base, struct strbuf *err);
/* Remove the worktree at path and delete its branch (errors are ignored). */
void git_worktree_drop(const char *repo, const char *path, const char *branch);

/* Commit everything left uncommitted in the worktree; 1 committed, 0 nothing, -1 error. */
int git_commit_all(const char *worktree, const char *message, struct strbuf *err);
/* Does the worktree's HEAD have commits that base does not? */
bool git_has_work(const char *worktree, const char *base);

/* The identity of the commits waved itself makes. */
#define GIT_IDENTITY "-c", "user.name=waved", "-c", "user.email=waved@localhost", \
	"-c", "commit.gpgsign=false"

#endif
