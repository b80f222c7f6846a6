/*
 * Refs read and written from their files, without a git process (git's
 * files backend: loose refs, symbolic refs followed, packed-refs; HEAD and
 * refs/worktree/ in the worktree's own git dir), each the way git itself
 * reads or writes them (NAME.lock created exclusively, renamed over NAME),
 * so that a git running beside waved sees the same refs and the same locks.
 * Where the files cannot say or do (another ref store, a case git handles
 * and these do not), each says so, and the caller asks git (git.h).
 */
#ifndef WAVED_GIT_REFS_H
#define WAVED_GIT_REFS_H

#include <stdbool.h>

#include "common/git.h"

/*
 * dir's own git dir and the common one (caller frees both); false where the
 * files cannot tell.  git_ref_read is git_rev_parse for a full ref name or
 * HEAD, and asks git where the files cannot tell.
 */
bool git_dirs(const char *dir, char **own, char **common);
int git_ref_read(const char *dir, const char *ref, struct git_oid *oid);
/* From the files alone, never a git process: 0 found, 1 no such ref, -1 they do not say. */
int git_ref_lookup(const char *dir, const char *ref, struct git_oid *oid);
/* Where dir's HEAD points: a full ref name (caller frees), or NULL when detached. */
char *git_head_ref(const char *dir);
/*
 * HEAD of the linked worktree, written as git writes it (HEAD.lock renamed
 * over it): detached at its commit (ref NULL), or onto ref, a branch that
 * exists.  0, or -1 when nothing was written (then ask git).
 */
int git_head_write(const char *worktree, const char *ref);
/* HEAD of the linked worktree detached at oid, whatever it pointed at; 0 or -1. */
int git_head_detach(const char *worktree, const struct git_oid *oid);
/* A file of a git dir written through NAME.lock, as git writes them; false when locked. */
bool git_file_write_locked(const char *path, const char *text);
/* "oid refname" lines of the branches and tags of dir's repository (caller frees). */
char *git_refs_list(const char *dir);

/*
 * The landing's transaction (what `git update-ref --stdin` would do with
 * "update REF NEW OLD" and "delete DELETE DELETE_OID"), made as the files
 * backend makes it: both refs locked (and packed-refs, for a delete), ref
 * compared with old and written, then its reflog entry, delete (NULL:
 * none, else a branch) removed with its reflog.  1: done; 0: refused, ref
 * is not at old or delete not at delete_oid (nothing changed); -1: the
 * files cannot do it here and nothing changed, ask git: another ref store,
 * a lock held, a ref that is a link, a fifo or symbolic, delete also
 * packed, ref without a reflog of its own, a shared repository, the main
 * worktree's HEAD on ref, a name outside refs/ or with "..".
 */
int git_refs_land(const char *repo, const char *ref, const struct git_oid *new,
    const struct git_oid *old, const char *delete, const struct git_oid *delete_oid,
    const char *message);

#endif
