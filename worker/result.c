/*
 * What an agent leaves behind is a claim: it is read from git (DESIGN.md
 * section 19).  The attempt's result is the worktree's HEAD wherever the
 * agent left it (the issue branch, a branch of its own, a detached HEAD),
 * plus what it left uncommitted, when that descends from the attempt's base.
 * Anything else fails the attempt with a reason that names it, never
 * no_change: an unrelated HEAD, a rebase or merge in progress, a repository
 * replaced by another, a lock file a git left behind.
 */
#include <ctype.h>
#include <stdint.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/git_refs.h"
#include "common/spawn.h"
#include "worker/contain.h"
#include "worker/worker_internal.h"

/* The worktree's own git dir, from its .git file; NULL (why set) when it is not ours any more. */
static char *
worktree_git_dir(const struct worker *w, char **why)
{
	char *path = xasprintf("%s/.git", w->worktree), *text, *dir = NULL;
	struct stat st;

	if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
		*why = xstrdup("the worktree's .git was replaced by a repository of its own "
		    "(rm -rf .git, git init?): its commits are not this repository's");
	else if ((text = read_file(path, NULL)) == NULL || strncmp(text, "gitdir: ", 8) != 0) {
		*why = xstrdup("the worktree's .git file is gone or changed");
		free(text);
	} else {
		text[strcspn(text, "\n")] = '\0';
		dir = xstrdup(text + 8);
		free(text);
	}
	free(path);
	return dir;
}

/* A git operation the agent began and left unfinished, named; or NULL. */
static char *
unfinished(const char *git_dir, bool merge_is_ours)
{
	static const struct {
		const char *file, *what;
	} states[] = {
		{ "rebase-merge", "a rebase is in progress (git rebase --continue or --abort)" },
		{ "rebase-apply", "a rebase or git am is in progress (--continue or --abort)" },
		{ "MERGE_HEAD", "a merge is in progress (commit it or git merge --abort)" },
		{ "CHERRY_PICK_HEAD", "a cherry-pick is in progress" },
		{ "REVERT_HEAD", "a revert is in progress" },
		{ "BISECT_LOG", "a bisect is in progress (git bisect reset)" },
		{ "index.lock", "git's index is locked: index.lock was left by a git that did "
		    "not finish (remove it only when no git runs)" },
	};

	for (size_t k = 0; k < ARRAY_LEN(states); k++) {
		char *path = xasprintf("%s/%s", git_dir, states[k].file);
		bool there = access(path, F_OK) == 0;

		free(path);
		if (there && !(merge_is_ours && strcmp(states[k].file, "MERGE_HEAD") == 0))
			return xasprintf("%s: %s", states[k].file, states[k].what);
	}
	return NULL;
}

/* Where HEAD points: the branch's full ref name (caller frees), or NULL when detached. */
static char *
head_ref(const char *git_dir)
{
	char *path = xasprintf("%s/HEAD", git_dir), *text = read_file(path, NULL), *ref = NULL;

	free(path);
	if (text && strncmp(text, "ref: ", 5) == 0) {
		text[strcspn(text, "\n")] = '\0';
		ref = xstrdup(text + 5);
	}
	free(text);
	return ref;
}

/*
 * The agent left HEAD elsewhere (a branch of its own, detached): the issue
 * branch takes that commit, and the worktree is put back on it (same
 * commit: no file changes).  The agent's branch goes with the refs check.
 */
static void
adopt_head(struct worker *w, const char *git_dir)
{
	char *want = xasprintf("refs/heads/%s", w->branch), *ref = head_ref(git_dir);

	struct git_oid on_branch;

	/* Detached where the branch is (a sandboxed phase that made no commit):
	 * only HEAD goes back onto the branch. */
	if (ref == NULL && git_ref_read(w->worktree, want, &on_branch) == 0 &&
	    git_oid_equal(&on_branch, &w->head) && git_head_write(w->worktree, want) == 0)
		;
	else if (ref == NULL || strcmp(ref, want) != 0) {
		dprintf(w->log_fd, "== waved: the agent left HEAD %s%s at %.12s: taken as the "
		    "result, on %s\n", ref ? "on " : "detached", ref ? ref : "", w->head.hex,
		    w->branch);
		git_run(w->worktree, NULL, (const char *[]){ "update-ref", "-m",
		    "waved: the agent's HEAD", want, w->head.hex, NULL });
		if (git_head_write(w->worktree, want) != 0)
			git_run(w->worktree, NULL, (const char *[]){ "symbolic-ref", "HEAD", want,
			    NULL });
	}
	free(ref);
	free(want);
}

/*
 * A file this attempt added or changed past max_file_size (GitHub refuses
 * files over 100 MB; a repository carries them for ever): named with its size.
 */
static char *
oversized(const struct worker *w)
{
	struct strbuf out = { 0 };
	char *why = NULL;

	if (w->cfg->max_file_size <= 0 || git_oid_equal(&w->head, &w->base) ||
	    git_run(w->worktree, &out, (const char *[]){ "diff", "--name-only", "-z",
	    "--diff-filter=AM", w->base.hex, w->head.hex, NULL }) != 0 || out.s == NULL) {
		strbuf_free(&out);
		return NULL;
	}
	for (const char *f = out.s; f < out.s + out.len && *f && why == NULL; f += strlen(f) + 1) {
		char *path = xasprintf("%s/%s", w->worktree, f);
		struct stat st;

		/* The worktree's size first (no git), then the blob's: a file a filter
		 * (git-lfs) keeps out of the commit is its pointer there. */
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > w->cfg->max_file_size) {
			char *object = xasprintf("%s:%s", w->head.hex, f);
			struct strbuf size = { 0 };

			if (git_run(w->worktree, &size, (const char *[]){ "cat-file", "-s", object,
			    NULL }) == 0 && size.s && atoll(size.s) > w->cfg->max_file_size)
				why = xasprintf("%s is %lld bytes, over max_file_size (%lld): leave it "
				    "out of the commit (.gitignore) or make it smaller", f,
				    atoll(size.s), w->cfg->max_file_size);
			strbuf_free(&size);
			free(object);
		}
		free(path);
	}
	strbuf_free(&out);
	return why;
}

/* The path an object of the attempt's commits has, for the message; caller frees. */
static char *
object_path(const struct worker *w, const char *oid)
{
	struct strbuf out = { 0 };
	char *range = xasprintf("%s..%s", w->base.hex, w->head.hex), *path = NULL;
	size_t len = strlen(oid);

	if (git_run(w->worktree, &out, (const char *[]){ "rev-list", "--objects", range, NULL }) == 0)
		for (char *line = out.s, *next; line && *line && path == NULL; line = next) {
			next = line + strcspn(line, "\n");
			if (*next)
				*next++ = '\0';
			if (strncmp(line, oid, len) == 0 && line[len] == ' ')
				path = xstrdup(line + len + 1);
		}
	strbuf_free(&out);
	free(range);
	return path;
}

char *
result_blobs_too_big(const struct worker *w)
{
	struct strbuf out = { 0 };
	char *range, *limit, *why = NULL, *omitted;

	if (w->cfg->max_file_size <= 0 || !w->head.hex[0] || !w->base.hex[0] ||
	    git_oid_equal(&w->head, &w->base))
		return NULL;
	/*
	 * Every commit from base to head is one of waved's, each checked when
	 * result_take made it (what changed since the check before, from the
	 * index or from git): nothing of the history is left to look at, and
	 * the warm path saves a git process.  A commit of the agent's own, a
	 * resumed attempt or a conflict round's merge clears only_ours.
	 */
	if (w->only_ours && w->head_checked)
		return NULL;
	range = xasprintf("%s..%s", w->base.hex, w->head.hex);
	limit = xasprintf("--filter=blob:limit=%lld", w->cfg->max_file_size + 1);
	/* The blobs over the limit are the ones the filter leaves out: "~OID" lines. */
	if (git_run(w->worktree, &out, (const char *[]){ "rev-list", "--objects", limit,
	    "--filter-print-omitted", range, NULL }) != 0)
		why = xasprintf("cannot list the objects of %s", range);
	else if (out.s && (omitted = strstr(out.s, "~")) != NULL &&
	    (omitted == out.s || omitted[-1] == '\n')) {
		char oid[sizeof(w->head.hex)], *path;

		strlcpy(oid, omitted + 1, sizeof(oid));
		oid[strcspn(oid, "\n")] = '\0';
		path = object_path(w, oid);
		why = xasprintf("%s (blob %.12s) is over max_file_size (%lld) in a commit of "
		    "this attempt: what a commit added stays in the history even when a later "
		    "one removes it; leave it out (.gitignore) and rewrite those commits",
		    path ? path : "a file", oid, w->cfg->max_file_size);
		free(path);
	}
	strbuf_free(&out);
	free(limit);
	free(range);
	return why;
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Without a git process: is every file git's index holds that changed since
 * w->changed_since at most max_file_size?  An entry's ctime is when its file
 * last changed (no program can set it back), so a file this attempt added
 * or changed, staged by the agent or by waved's add, is one of them; each is
 * looked at in the worktree, as oversized() looks (the worktree's size
 * first).  False where the index is of a form not read here (a split or
 * sparse index): then git is asked.
 */
static bool
index_says_small(const struct worker *w, const char *git_dir)
{
	char *path = xasprintf("%s/index", git_dir);
	size_t len = 0, hash = strlen(w->base.hex) / 2, at = 12;
	unsigned char *ix = (unsigned char *)read_file(path, &len);
	uint32_t version, count;
	char name[4096] = "";
	bool small = false;

	free(path);
	if (ix == NULL || len < 12 + hash || memcmp(ix, "DIRC", 4) != 0)
		goto out;
	version = be32(ix + 4);
	count = be32(ix + 8);
	if (version < 2 || version > 4)
		goto out;
	for (uint32_t k = 0; k < count; k++) {
		size_t fixed = 40 + hash + 2, namelen, entry = at;
		uint16_t flags;

		if (at + fixed > len)
			goto out;
		flags = (uint16_t)(ix[at + 40 + hash] << 8 | ix[at + 40 + hash + 1]);
		if (flags & 0x4000) {	/* extended flags (version 3 on) */
			if (version < 3 || (ix[at + fixed] & 0x40))	/* a sparse folder entry */
				goto out;
			fixed += 2;
		}
		const unsigned char *p = ix + at + fixed, *end = ix + len;
		if (version == 4) {
			/* The name is the last one less a count of bytes, plus a suffix. */
			size_t strip = 0, keep;
			int shift = 0;

			do {
				if (p >= end || shift > 28)
					goto out;
				strip = (strip << 7) | (*p & 0x7f);
				shift += 7;
			} while ((*p++ & 0x80) && (strip += 1));
			keep = strlen(name);
			if (strip > keep)
				goto out;
			const unsigned char *nul = memchr(p, '\0', (size_t)(end - p));
			if (nul == NULL || keep - strip + (size_t)(nul - p) >= sizeof(name))
				goto out;
			memcpy(name + keep - strip, p, (size_t)(nul - p));
			name[keep - strip + (size_t)(nul - p)] = '\0';
			at = (size_t)(nul + 1 - ix);
		} else {
			const unsigned char *nul = memchr(p, '\0', (size_t)(end - p));

			if (nul == NULL || (size_t)(nul - p) >= sizeof(name))
				goto out;
			namelen = (size_t)(nul - p);
			memcpy(name, p, namelen + 1);
			/* Padded with 1 to 8 NULs to a multiple of 8. */
			at += (fixed + namelen + 8) & ~(size_t)7;
		}
		uint32_t ctime = be32(ix + entry), mode = be32(ix + entry + 24);

		if ((mode & 0170000) == 0100000 && (time_t)ctime >= w->changed_since) {
			char *file = xasprintf("%s/%s", w->worktree, name);
			struct stat st;
			bool big = lstat(file, &st) == 0 && S_ISREG(st.st_mode) &&
			    st.st_size > w->cfg->max_file_size;

			free(file);
			if (big)
				goto out;
		}
	}
	/* A split index keeps most entries elsewhere ("link"): ask git. */
	for (size_t e = at; e + 8 <= len - hash; e += 8 + be32(ix + e + 4))
		if (memcmp(ix + e, "link", 4) == 0 || memcmp(ix + e, "sdir", 4) == 0)
			goto out;
	small = true;
out:
	free(ix);
	return small;
}

/* One scope's core.hooksPath ("--global", "--system", or "--file" with file), or NULL. */
static char *
hooks_path_in(const char *repo, const char *scope, const char *file)
{
	struct strbuf out = { 0 };
	const char *args[] = { "config", scope, file, "--get", "core.hooksPath", NULL };

	if (file == NULL) {
		args[2] = "--get";
		args[3] = "core.hooksPath";
		args[4] = NULL;
	}
	if (git_run(repo, &out, args) != 0 || out.s == NULL) {
		strbuf_free(&out);
		return NULL;
	}
	out.s[strcspn(out.s, "\n")] = '\0';
	return strbuf_take(&out);
}

/*
 * Can the config file at path set core.hooksPath?  Only when its text names
 * hooksPath or an include, in any case (keys are case-insensitive); a file
 * that is not there sets nothing.  When it cannot, no git need be asked.
 */
static bool
may_set_hooks(const char *path)
{
	char *text = path ? read_file(path, NULL) : NULL;
	bool may;

	if (path == NULL)
		return true;	/* where it is is unknown: ask git */
	if (text == NULL)
		return access(path, F_OK) == 0;	/* unreadable: as git finds it */
	for (char *p = text; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	may = strstr(text, "hookspath") != NULL || strstr(text, "include") != NULL;
	free(text);
	return may;
}

/* The files git reads for --global (its default places, or $GIT_CONFIG_GLOBAL). */
static bool
global_may_set_hooks(void)
{
	const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
	char *a, *b;
	bool may;

	if (getenv("GIT_CONFIG_GLOBAL"))
		return may_set_hooks(getenv("GIT_CONFIG_GLOBAL"));
	if (home == NULL)
		return true;
	a = xasprintf("%s/.gitconfig", home);
	b = xdg && *xdg ? xasprintf("%s/git/config", xdg) : xasprintf("%s/.config/git/config", home);
	may = may_set_hooks(a) || may_set_hooks(b);
	free(b);
	free(a);
	return may;
}

/* The file git reads for --system: $GIT_CONFIG_SYSTEM, else etc/gitconfig of its prefix. */
static bool
system_may_set_hooks(void)
{
	const char *nosystem = getenv("GIT_CONFIG_NOSYSTEM"), *git = spawn_which("git");
	char *prefix, *file;
	bool may;

	if (nosystem && *nosystem && strcmp(nosystem, "0") != 0 && strcasecmp(nosystem, "false"))
		return false;
	if (getenv("GIT_CONFIG_SYSTEM"))
		return may_set_hooks(getenv("GIT_CONFIG_SYSTEM"));
	if (git == NULL || may_set_hooks("/etc/gitconfig"))
		return true;
	/* PREFIX/bin/git reads PREFIX/etc/gitconfig (/etc/gitconfig for /usr). */
	prefix = xstrdup(git);
	for (int k = 0; k < 2 && strrchr(prefix, '/'); k++)
		*strrchr(prefix, '/') = '\0';
	file = strcmp(prefix, "/usr") == 0 || !*prefix ? NULL : xasprintf("%s/etc/gitconfig", prefix);
	may = file && may_set_hooks(file);
	free(file);
	free(prefix);
	return may;
}

/*
 * The hooks the repo has as its operator configured them: core.hooksPath of
 * the repository, the user or the system, else the common dir's hooks/.
 * git is asked only for a scope whose files may set it (section 15: the
 * warm path runs few git processes).
 * Read when the attempt starts, before any of its phases could plant one
 * (what an agent writes into the config is restored after each phase).
 */
char *
result_hooks_dir(const char *repo)
{
	char *common = git_common_dir(repo), *file, *dir = NULL;
	static const char *const hooks[] = { "pre-commit", "commit-msg" };

	if (common == NULL)
		return NULL;
	file = xasprintf("%s/config", common);
	if ((!may_set_hooks(file) || (dir = hooks_path_in(repo, "--file", file)) == NULL) &&
	    (!global_may_set_hooks() || (dir = hooks_path_in(repo, "--global", NULL)) == NULL) &&
	    (!system_may_set_hooks() || (dir = hooks_path_in(repo, "--system", NULL)) == NULL))
		dir = xasprintf("%s/hooks", common);
	free(file);
	free(common);
	/* None to run: the commit goes the short way. */
	for (size_t k = 0; k < ARRAY_LEN(hooks); k++) {
		char *path = xasprintf("%s/%s", dir, hooks[k]);
		bool runs = access(path, X_OK) == 0;

		free(path);
		if (runs)
			return dir;
	}
	free(dir);
	return NULL;
}

void
result_note_git_dir(struct worker *w)
{
	char *why = NULL;

	free(w->git_dir);
	w->git_dir = worktree_git_dir(w, &why);
	free(why);
}

char *
result_take(struct worker *w, enum phase_id id, bool commit)
{
	struct strbuf err = { 0 };
	char *why = NULL, *git_dir = worktree_git_dir(w, &why);

	w->committed = false;
	if (git_dir == NULL)
		return why;
	/* A .git file pointed at another git dir (the main checkout's, another
	 * issue's) would make waved commit there. */
	if (w->git_dir && strcmp(git_dir, w->git_dir) != 0) {
		why = xasprintf("the worktree's .git file was pointed at %s", git_dir);
		goto out;
	}
	if ((why = unfinished(git_dir, id == PHASE_RESOLVE)) != NULL)
		goto out;
	/*
	 * HEAD where the last check left it (the agent committed nothing, or
	 * waved's commit is on top of it): it still descends from the base, and
	 * only what changed since that check can be too big, which the index
	 * says without git.  Anything else is asked of git.
	 */
	struct git_oid left = { "" }, checked = w->head;
	bool untouched = w->head_checked && git_ref_read(w->worktree, "HEAD", &left) == 0 &&
	    git_oid_equal(&left, &checked);
	time_t since = time(NULL) - 2;	/* file times lag the clock by a tick */

	w->head_checked = false;
	w->only_ours = w->only_ours && untouched;
	if (commit) {
		/* The repo's hooks run as the phases do: in the attempt's cgroup,
		 * and nothing they leave running outlives the commit. */
		if (w->hooks_dir)
			contain_enter();
		int rc = git_commit_all(w->worktree, w->commit_message, w->hooks_dir,
		    w->cfg->phases[id].timeout, &err);

		if (w->hooks_dir) {
			contain_leave();
			contain_end((int64_t)w->cfg->kill_grace * 1000);
		}

		if (rc == -1) {
			why = xasprintf("committing the work failed: %s", err.s ? err.s : "");
			goto out;
		}
		w->committed = rc == 1;
		w->tidy = w->hooks_dir == NULL;	/* a hook may leave files behind */
	}
	if (git_ref_read(w->worktree, "HEAD", &w->head) == -1) {
		why = xstrdup("the worktree's HEAD does not resolve to a commit");
		goto out;
	}
	if (!untouched && !git_oid_equal(&w->head, &w->base) &&
	    !git_is_ancestor(w->worktree, w->base.hex, w->head.hex)) {
		why = xasprintf("the worktree's HEAD %.12s does not descend from the attempt's "
		    "base %.12s (%s): build on the base, do not reset to another history",
		    w->head.hex, w->base.hex, w->cfg->agent_branch);
		goto out;
	}
	if (!(untouched && (git_oid_equal(&w->head, &checked) || index_says_small(w, git_dir))) &&
	    (why = oversized(w)) != NULL)
		goto out;
	if (id != PHASE_RESOLVE)
		adopt_head(w, git_dir);
	w->head_checked = true;
	w->only_ours = w->only_ours && untouched;
	/* Only an add -A took everything: what a review left is looked at with the next commit. */
	if (commit)
		w->changed_since = since;
out:
	strbuf_free(&err);
	free(git_dir);
	return why;
}
