/*
 * The git operations of a worker, each an argv (never a shell string) run
 * through spawn_run with GIT_TERMINAL_PROMPT=0.
 */
#ifndef WAVED_GIT_H
#define WAVED_GIT_H

#include <stdbool.h>

#include "common/util.h"

#define GIT_SHA_MAX 64

/*
 * An object id (hex, SHA-1 or SHA-256).  A type of its own, never a plain
 * string: a commit message or a ref name can then never be passed where
 * an object id is expected (one was, and waved wrote merges it should
 * have fast-forwarded).  Empty ("") means none.
 */
struct git_oid {
	char hex[GIT_SHA_MAX + 1];
};

/* Copy text (a message field, a stored value) into an id; false when it is no hex id. */
bool git_oid_set(struct git_oid *oid, const char *text);
bool git_oid_equal(const struct git_oid *a, const struct git_oid *b);

/* git -C dir ARGS...; returns the exit status; output (may be NULL) gets stdout+stderr. */
int git_run(const char *dir, struct strbuf *output, const char *const args[]);
/*
 * git update-ref -m message --stdin with commands (update-ref's stdin
 * format, at most PIPE_BUF bytes): every ref moves, or none does; reflog
 * entries are waved's (GIT_IDENTITY).  Returns its exit status; output
 * (may be NULL) gets what it said.
 */
int git_update_refs(const char *dir, const char *message, const char *commands,
    struct strbuf *output);
/* The same for a command that talks to a remote: killed after timeout_s (git_timeout). */
int git_run_remote(const char *dir, int timeout_s, struct strbuf *output, const char *const args[]);
/* Resolve rev to a full object name; 0 or -1. */
int git_rev_parse(const char *dir, const char *rev, struct git_oid *oid);
/* Two revs (full ref names or object names) in one process; 0, or -1 when
 * either does not resolve. */
int git_rev_parse_two(const char *dir, const char *a, const char *b, struct git_oid *oid_a,
    struct git_oid *oid_b);
/* The best common ancestor of a and b: 0 (oid set), 1 none, -1 error. */
int git_merge_base(const char *dir, const struct git_oid *a, const struct git_oid *b,
    struct git_oid *base);
/* Would merging a and b meet no conflict?  (git merge-tree; an error counts as one.) */
bool git_merges_cleanly(const char *dir, const char *a, const char *b);
/* Is a an ancestor of (or equal to) b? */
bool git_is_ancestor(const char *dir, const char *a, const char *b);
/*
 * The one way waved fetches: the remote's branch into its remote-tracking
 * ref refs/remotes/REMOTE/BRANCH (f->tracking), forced, no tags, and never
 * into FETCH_HEAD, which the repo's other workers write too.  f->argv is
 * for git_run_remote or a wrapper that retries it.
 */
struct git_fetch {
	char *spec, *tracking;
	const char *argv[8];
};
void git_fetch_prepare(struct git_fetch *f, const char *remote, const char *branch);
/* refs/remotes/REMOTE/BRANCH: where a fetch puts the remote's branch, and a
 * push the remote took is recorded (caller frees). */
char *git_tracking_ref(const char *remote, const char *branch);
void git_fetch_clear(struct git_fetch *f);
/* Did `git push --porcelain` say the remote refused a ref (no retry changes that),
 * rather than that the way there failed? */
bool git_push_refused(const char *porcelain);
/* The repository's common git dir, absolute (shared by all its worktrees). */
char *git_common_dir(const char *dir);

/* A fresh worktree at path on branch (reset to base), replacing any old one. */
int git_worktree_fresh(const char *repo, const char *path, const char *branch,
    const char *base, struct strbuf *err);
/* Remove the worktree at path and delete its branch (errors are ignored). */
void git_worktree_drop(const char *repo, const char *path, const char *branch);

/*
 * Commit everything left uncommitted in the worktree; 1 committed, 0
 * nothing, -1 error (err says why: a hook's refusal is its output).  hooks:
 * the folder of the repo's own hooks to run (pre-commit, commit-msg), within
 * timeout_s; NULL: none run.
 */
int git_commit_all(const char *worktree, const char *message, const char *hooks,
    int timeout_s, struct strbuf *err);
/* Does head (the worktree's HEAD) have commits that base does not? */
bool git_has_work(const char *worktree, const char *head, const char *base);

/* Merge rev into the worktree's branch, committing nothing: 0 clean, 1 conflicted
 * (markers in place), -1 when git could not (out says why). */
int git_merge_no_commit(const char *worktree, const char *rev, struct strbuf *out);
/*
 * The paths with unmerged index entries, read with -z so that any name
 * works: each ends with a NUL, the list with an empty name ("" when none).
 * Caller frees.  git_paths_next steps through such a list (NULL at its end).
 */
char *git_unmerged_paths(const char *worktree);
const char *git_paths_next(const char *path);
/* The list's names joined by sep, for a message (caller frees). */
char *git_paths_join(const char *paths, const char *sep);
/* The first of paths (a list as above) that still holds a conflict marker line, or NULL. */
char *git_first_with_markers(const char *worktree, const char *paths);
/* A merge is in progress (MERGE_HEAD exists). */
bool git_merging(const char *worktree);

/* The identity of the commits waved itself makes. */
#define GIT_IDENTITY "-c", "user.name=waved", "-c", "user.email=waved@localhost", \
	"-c", "commit.gpgsign=false"

#endif
