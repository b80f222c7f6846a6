#include "common/git_refs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

/* A packed-refs larger than this is left to git. */
#define PACKED_REFS_MAX (256u << 20)

/*
 * A small file of a git dir: 0 read (*text, caller frees), 1 no such file,
 * -1 not a plain file (a folder, a fifo, with follow false a link), -2
 * larger than max or unreadable.  Opened without waiting: a fifo planted in
 * a ref's place is no ref and no hang.
 */
static int
file_read_small(const char *path, bool follow, size_t max, char **text)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
	struct stat st;
	size_t len = 0;
	ssize_t n;

	*text = NULL;
	if (fd == -1)
		return errno == ENOENT || errno == ENOTDIR ? 1 : errno == ELOOP ? -1 : -2;
	if (fstat(fd, &st) == -1) {
		close(fd);
		return -2;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		close(fd);
		return S_ISREG(st.st_mode) ? -2 : -1;
	}
	*text = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size && (n = read(fd, *text + len,
	    (size_t)st.st_size - len)) > 0)
		len += (size_t)n;
	close(fd);
	(*text)[len] = '\0';
	return 0;
}

/*
 * The git dirs of dir: its own (where HEAD and the worktree's refs are) and
 * the common one (the shared refs, packed-refs, config).  dir is a
 * repository with a .git folder, a linked worktree (a .git file naming its
 * git dir, whose commondir file names the common one) or a bare repository.
 * False where the files cannot tell (a ref store other than files).
 */
bool
git_dirs(const char *dir, char **own, char **common)
{
	char *dotgit = xasprintf("%s/.git", dir), *text = NULL, *path;
	struct stat st;
	bool there = lstat(dotgit, &st) == 0;

	*own = *common = NULL;
	if (there && S_ISDIR(st.st_mode)) {
		*own = dotgit;
		*common = xstrdup(dotgit);
	} else if (there && S_ISREG(st.st_mode) && file_read_small(dotgit, false, 4096,
	    &text) == 0 && strncmp(text, "gitdir: /", 9) == 0) {
		text[strcspn(text, "\n")] = '\0';
		*own = xstrdup(text + 8);
		free(dotgit);
		path = xasprintf("%s/commondir", *own);
		free(text);
		if (file_read_small(path, true, 4096, &text) == 0) {
			text[strcspn(text, "\n")] = '\0';
			*common = text[0] == '/' ? xstrdup(text) : xasprintf("%s/%s", *own, text);
		} else
			*common = xstrdup(*own);
		free(path);
	} else {
		free(dotgit);
		path = xasprintf("%s/objects", dir);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {	/* bare */
			*own = xstrdup(dir);
			*common = xstrdup(dir);
		}
		free(path);
	}
	free(text);
	if (*common) {
		path = xasprintf("%s/reftable", *common);
		if (access(path, F_OK) == 0) {	/* not the files backend: ask git */
			free(*own);
			free(*common);
			*own = *common = NULL;
		}
		free(path);
	}
	return *common != NULL;
}

/* A ref that lives in a worktree's own git dir, not the shared one. */
static bool
per_worktree(const char *ref)
{
	return strncmp(ref, "refs/", 5) != 0 || strncmp(ref, "refs/worktree/", 14) == 0 ||
	    strncmp(ref, "refs/bisect/", 12) == 0 || strncmp(ref, "refs/rewritten/", 15) == 0;
}

/* ref's line in packed-refs: 0 found, 1 not there, -1 unreadable. */
static int
packed_ref(const char *common, const char *ref, struct git_oid *oid)
{
	char *path = xasprintf("%s/packed-refs", common), *text;
	size_t len = strlen(ref);
	int rc = file_read_small(path, true, PACKED_REFS_MAX, &text);

	free(path);
	if (rc != 0)
		return rc == 1 ? 1 : -1;
	rc = 1;
	for (char *line = text; line && *line; ) {
		char *end = line + strcspn(line, "\n"), *sp = memchr(line, ' ', (size_t)(end - line));

		if (line[0] != '#' && line[0] != '^' && sp && (size_t)(end - sp - 1) == len &&
		    strncmp(sp + 1, ref, len) == 0) {
			*sp = '\0';
			rc = git_oid_set(oid, line) ? 0 : -1;
			break;
		}
		line = *end ? end + 1 : end;
	}
	free(text);
	return rc;
}

/*
 * ref (a full ref name, or HEAD) from the files: the loose file, a symbolic
 * ref followed, else its line in packed-refs (what git reads, in the same
 * order: a pack-refs writes packed-refs before it deletes the loose files).
 * 0 found, 1 no such ref, -1 the files do not say (ask git).
 */
static int
read_ref(const char *own, const char *common, const char *ref, struct git_oid *oid, int depth)
{
	char *path, *text;
	int rc;

	oid->hex[0] = '\0';
	if (depth > 5 || strstr(ref, "..") || ref[0] == '/')
		return -1;
	path = xasprintf("%s/%s", per_worktree(ref) ? own : common, ref);
	/* A ref is a small regular file: a fifo or a folder planted in its place is none. */
	rc = file_read_small(path, true, 4096, &text);
	free(path);
	if (rc == -2)
		return -1;
	if (text == NULL)
		rc = per_worktree(ref) ? 1 : packed_ref(common, ref, oid);
	else if (strncmp(text, "ref: ", 5) == 0) {
		text[strcspn(text, "\n")] = '\0';
		rc = read_ref(own, common, text + 5, oid, depth + 1);
	} else
		rc = git_oid_set(oid, text) ? 0 : -1;
	free(text);
	return rc;
}

int
git_ref_read(const char *dir, const char *ref, struct git_oid *oid)
{
	int rc = git_ref_lookup(dir, ref, oid);

	if (rc == -1)
		return git_rev_parse(dir, ref, oid);
	return rc == 0 ? 0 : -1;
}

int
git_ref_lookup(const char *dir, const char *ref, struct git_oid *oid)
{
	char *own, *common;
	int rc = -1;

	if (git_dirs(dir, &own, &common))
		rc = read_ref(own, common, ref, oid, 0);
	free(own);
	free(common);
	return rc;
}

char *
git_head_ref(const char *dir)
{
	char *own, *common, *path, *text = NULL, *ref = NULL;

	if (!git_dirs(dir, &own, &common))
		return NULL;
	path = xasprintf("%s/HEAD", own);
	if (file_read_small(path, true, 4096, &text) == 0 && strncmp(text, "ref: ", 5) == 0) {
		text[strcspn(text, "\n")] = '\0';
		ref = xstrdup(text + 5);
	}
	free(text);
	free(path);
	free(own);
	free(common);
	return ref;
}

/* The loose refs below common/name (a folder), as "oid name" lines into out. */
static void
loose_refs(const char *own, const char *common, const char *name, struct strbuf *out)
{
	char *path = xasprintf("%s/%s", common, name);
	DIR *d = opendir(path);
	struct dirent *e;

	while (d && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		char *sub, *full;
		struct stat st;
		struct git_oid oid;

		/* No ref name has a part beginning with a dot or ending with .lock. */
		if (e->d_name[0] == '.' || (len >= 5 && strcmp(e->d_name + len - 5, ".lock") == 0))
			continue;
		sub = xasprintf("%s/%s", name, e->d_name);
		full = xasprintf("%s/%s", path, e->d_name);
		/* lstat: a symbolic link to a folder (a loop, planted) is not walked. */
		if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode))
			loose_refs(own, common, sub, out);
		else if (read_ref(own, common, sub, &oid, 0) == 0)
			strbuf_addf(out, "%s %s\n", oid.hex, sub);
		free(full);
		free(sub);
	}
	if (d)
		closedir(d);
	free(path);
}

/* Is "... name\n" a line of list? */
static bool
has_ref_line(const char *list, const char *name, size_t len)
{
	for (const char *p = list; p && (p = strchr(p, ' ')) != NULL; p++)
		if (strncmp(p + 1, name, len) == 0 && p[1 + len] == '\n')
			return true;
	return false;
}

char *
git_refs_list(const char *dir)
{
	static const char *const kinds[] = { "refs/heads", "refs/tags" };
	struct strbuf out = { 0 };
	char *own, *common, *path, *packed;

	if (!git_dirs(dir, &own, &common)) {
		if (git_run(dir, &out, (const char *[]){ "for-each-ref",
		    "--format=%(objectname) %(refname)", "refs/heads/", "refs/tags/", NULL }) != 0)
			strbuf_free(&out);
		return out.s ? strbuf_take(&out) : xstrdup("");
	}
	for (size_t k = 0; k < ARRAY_LEN(kinds); k++)
		loose_refs(own, common, kinds[k], &out);
	path = xasprintf("%s/packed-refs", common);
	file_read_small(path, true, PACKED_REFS_MAX, &packed);
	/* The packed ones a loose file does not shadow. */
	for (char *line = packed; line && *line; ) {
		char *end = line + strcspn(line, "\n"), *sp = memchr(line, ' ', (size_t)(end - line));
		struct git_oid oid;

		if (line[0] != '#' && line[0] != '^' && sp && (strncmp(sp + 1, "refs/heads/", 11) == 0 ||
		    strncmp(sp + 1, "refs/tags/", 10) == 0) &&
		    !has_ref_line(out.s, sp + 1, (size_t)(end - sp - 1))) {
			char *hex = xasprintf("%.*s", (int)(sp - line), line);

			if (git_oid_set(&oid, hex))
				strbuf_addf(&out, "%s %.*s\n", oid.hex, (int)(end - sp - 1), sp + 1);
			free(hex);
		}
		line = *end ? end + 1 : end;
	}
	free(packed);
	free(path);
	free(own);
	free(common);
	return out.s ? strbuf_take(&out) : xstrdup("");
}

/* A NAME.lock: taken exclusively, written, renamed over NAME, as git does. */
struct ref_lock {
	char *path, *lock;
	int fd;
};

static bool
ref_lock_take(struct ref_lock *l, const char *path)
{
	l->path = xstrdup(path);
	l->lock = xasprintf("%s.lock", path);
	l->fd = open(l->lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	return l->fd != -1;
}

/* The lock of common/name, a ref or packed-refs. */
static bool
ref_lock_in(struct ref_lock *l, const char *common, const char *name)
{
	char *path = xasprintf("%s/%s", common, name);
	bool taken = ref_lock_take(l, path);

	free(path);
	return taken;
}

/* NAME gets text; false (NAME as it was, the lock gone) when that fails. */
static bool
ref_lock_commit(struct ref_lock *l, const char *text)
{
	size_t len = strlen(text);
	bool ok = write(l->fd, text, len) == (ssize_t)len;

	ok = close(l->fd) == 0 && ok && rename(l->lock, l->path) == 0;
	l->fd = -1;
	if (!ok)
		unlink(l->lock);
	return ok;
}

/* The lock given back, if it was not committed. */
static void
ref_lock_drop(struct ref_lock *l)
{
	if (l->fd != -1) {
		close(l->fd);
		unlink(l->lock);
	}
	free(l->path);
	free(l->lock);
}

/*
 * Write a file of a git dir as git does: NAME.lock created exclusively,
 * then renamed over NAME; false (nothing changed) when the lock is taken.
 */
bool
git_file_write_locked(const char *path, const char *text)
{
	struct ref_lock l;
	bool ok = ref_lock_take(&l, path) && ref_lock_commit(&l, text);

	ref_lock_drop(&l);
	return ok;
}

int
git_head_write(const char *worktree, const char *ref)
{
	char *own, *common, *head, *line = NULL;
	struct git_oid oid;
	bool done = false;

	if (!git_dirs(worktree, &own, &common) || strcmp(own, common) == 0) {
		free(own);
		free(common);
		return -1;
	}
	head = xasprintf("%s/HEAD", own);
	if (ref && strncmp(ref, "refs/heads/", 11) == 0 && read_ref(own, common, ref, &oid, 0) == 0)
		line = xasprintf("ref: %s\n", ref);
	else if (ref == NULL && read_ref(own, common, "HEAD", &oid, 0) == 0)
		line = xasprintf("%s\n", oid.hex);
	done = line && git_file_write_locked(head, line);
	free(line);
	free(head);
	free(own);
	free(common);
	return done ? 0 : -1;
}

int
git_head_detach(const char *worktree, const struct git_oid *oid)
{
	char *own, *common, *head, *line;
	bool done;

	if (!git_dirs(worktree, &own, &common) || strcmp(own, common) == 0) {
		free(own);
		free(common);
		return -1;
	}
	head = xasprintf("%s/HEAD", own);
	line = xasprintf("%s\n", oid->hex);
	done = git_file_write_locked(head, line);
	free(line);
	free(head);
	free(own);
	free(common);
	return done ? 0 : -1;
}

/* ---- the landing's transaction ---- */

/*
 * A loose ref's own value: 0 an object id, 1 no such file, -1 anything
 * else (a link, a fifo, a symbolic ref, unreadable): what the files
 * alone should not decide.  Never follows a link, never waits on a fifo.
 */
static int
loose_value(const char *path, struct git_oid *oid)
{
	char *text;
	int rc = file_read_small(path, false, 4096, &text);

	if (rc != 0)
		return rc == 1 ? 1 : -1;
	text[strcspn(text, "\n")] = '\0';
	rc = git_oid_set(oid, text) ? 0 : -1;
	free(text);
	return rc;
}

/* ref's reflog, opened to append: it must be there (git makes it with the
 * branch) and a plain file; a link or a fifo planted there is not opened. */
static int
reflog_open(const char *common, const char *ref)
{
	char *path = xasprintf("%s/logs/%s", common, ref);
	int fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;

	free(path);
	if (fd != -1 && (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* "OLD NEW IDENT TIME ZONE\tMESSAGE", as git writes it; waved moved the ref. */
static void
reflog_write(int fd, const struct git_oid *old, const struct git_oid *new, const char *message)
{
	time_t now = time(NULL);
	struct tm tm;
	long zone;
	char *line;

	localtime_r(&now, &tm);
	zone = tm.tm_gmtoff / 60;
	line = xasprintf("%s %s waved <waved@localhost> %lld %c%02ld%02ld\t%s\n", old->hex,
	    new->hex, (long long)now, zone < 0 ? '-' : '+', labs(zone) / 60, labs(zone) % 60,
	    message);
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
		log_warn("%s: a reflog entry could not be written", new->hex);
	free(line);
}

/*
 * What git would do more than the files below can: a shared repository's
 * permissions, the main worktree's HEAD on ref (its HEAD reflog too).
 */
static bool
git_would_do_more(const char *common, const char *ref)
{
	char *path = xasprintf("%s/config", common), *text = NULL, *head;
	bool more = file_read_small(path, true, 1 << 20, &text) < 0 ||
	    (text && strcasestr(text, "sharedrepository") != NULL);

	free(text);
	free(path);
	path = xasprintf("%s/HEAD", common);
	head = xasprintf("ref: %s\n", ref);
	text = NULL;
	more = more || (file_read_small(path, true, 4096, &text) == 0 && strcmp(text, head) == 0);
	free(text);
	free(head);
	free(path);
	return more;
}

/* The folders a deleted branch (or its reflog, below dir/logs) leaves
 * empty, up to refs/heads, go as git removes them. */
static void
remove_empty_parents(const char *dir, const char *ref)
{
	char *path = xasprintf("%s/%s", dir, ref), *slash;
	size_t floor = strlen(dir) + strlen("/refs/heads");

	while ((slash = strrchr(path, '/')) != NULL && (size_t)(slash - path) > floor) {
		*slash = '\0';
		if (rmdir(path) == -1)
			break;
	}
	free(path);
}

/* Where ref is now: its loose file, else its line in packed-refs. */
static int
ref_value(const char *common, const struct ref_lock *l, const char *ref, struct git_oid *oid)
{
	int v = loose_value(l->path, oid);

	return v == 1 ? packed_ref(common, ref, oid) : v;
}

int
git_refs_land(const char *repo, const char *ref, const struct git_oid *new,
    const struct git_oid *old, const char *delete, const struct git_oid *delete_oid,
    const char *message)
{
	struct ref_lock target = { .fd = -1 }, gone = { .fd = -1 }, packed = { .fd = -1 };
	struct git_oid now = { "" }, doomed = { "" }, in_pack;
	char *own = NULL, *common = NULL, *line;
	int rc = -1, log_fd = -1, v;

	if (strncmp(ref, "refs/", 5) != 0 || (delete && strncmp(delete, "refs/heads/", 11) != 0) ||
	    strstr(ref, "..") || (delete && strstr(delete, "..")) || per_worktree(ref) ||
	    !old->hex[0] || !git_dirs(repo, &own, &common) || git_would_do_more(common, ref))
		goto out;
	/* A delete holds packed-refs.lock too, as git's does: no pack-refs can
	 * pack the branch between the look below and its removal. */
	if (!ref_lock_in(&target, common, ref) || (delete && (!ref_lock_in(&gone, common,
	    delete) || !ref_lock_in(&packed, common, "packed-refs"))))
		goto out;
	if ((v = ref_value(common, &target, ref, &now)) == -1)
		goto out;
	if (v == 1 || !git_oid_equal(&now, old)) {
		rc = 0;
		goto out;
	}
	if (delete) {
		/* Deleting a loose ref that is packed too would uncover the packed one. */
		if ((v = loose_value(gone.path, &doomed)) == -1 ||
		    packed_ref(common, delete, &in_pack) != 1)
			goto out;
		if (v == 1 || !git_oid_equal(&doomed, delete_oid)) {
			rc = 0;
			goto out;
		}
	}
	if ((log_fd = reflog_open(common, ref)) == -1)
		goto out;	/* no reflog of its own (a bare repository), or planted */
	line = xasprintf("%s\n", new->hex);
	v = ref_lock_commit(&target, line);
	free(line);
	if (!v)
		goto out;
	/* The entry after the move (git writes it before): a crash between the
	 * two leaves a move without its entry, never an entry without its move. */
	rc = 1;
	reflog_write(log_fd, old, new, message);
	if (delete) {
		char *log = xasprintf("%s/logs/%s", common, delete);

		/* The branch was read under its lock a moment ago: its removal
		 * failing leaves a landed branch, which recovery reads as landed. */
		if (unlink(gone.path) == -1)
			log_warn("%s: landed, but %s could not be deleted", repo, delete);
		unlink(log);
		free(log);
	}
out:
	if (log_fd != -1)
		close(log_fd);
	ref_lock_drop(&packed);
	ref_lock_drop(&gone);
	ref_lock_drop(&target);
	if (rc == 1 && delete) {
		char *logs = xasprintf("%s/logs", common);

		remove_empty_parents(common, delete);	/* its lock gone too */
		remove_empty_parents(logs, delete);
		free(logs);
	}
	free(own);
	free(common);
	return rc;
}
