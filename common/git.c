#include "common/git.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/git_refs.h"
#include "common/spawn.h"

#define GIT_MAX_ARGS 32

/*
 * Every git of waved's runs with hooks and fsmonitor off: a repository's
 * config (which an agent can write) never makes waved's own commands run a
 * program of its choosing (git's "protected configuration", in small).  The
 * one exception is the commit of an agent's work with commit_hooks
 * (git_commit_all), which names the hooks path itself.
 */
static int
git_spawn_input(const char *dir, int timeout_s, int in_fd, struct strbuf *output,
    const char *const args[])
{
	const char *argv[GIT_MAX_ARGS + 8] = { "git", "-C", dir, "-c", "core.hooksPath=/dev/null",
	    "-c", "core.fsmonitor=false" };
	size_t n = 7;

	for (size_t i = 0; args[i] != NULL; i++) {
		if (n >= GIT_MAX_ARGS + 7)
			return -1;
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	return spawn_run_input(argv, NULL, in_fd, output, timeout_s);
}

static int
git_spawn(const char *dir, int timeout_s, struct strbuf *output, const char *const args[])
{
	return git_spawn_input(dir, timeout_s, -1, output, args);
}

/* Another git process of the same repository holds one of its lock files. */
static bool
lock_contention(const char *text)
{
	/* "cannot lock ref ... but expected ...": a compare-and-swap that lost, not a lock. */
	if (text == NULL || strstr(text, "but expected"))
		return false;
	return strstr(text, ".lock': File exists") || strstr(text, "could not lock") ||
	    strstr(text, "cannot lock ref");
}

/* What input holds, on a pipe that takes it whole before any reader: -1 on error. */
static int
input_pipe(const char *input)
{
	size_t len = strlen(input);
	int fds[2];

	if (len > PIPE_BUF || pipe2(fds, O_CLOEXEC) == -1)
		return -1;
	if (write(fds[1], input, len) != (ssize_t)len) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	close(fds[1]);
	return fds[0];
}

/*
 * Workers share a repository: one may delete its branch while another adds a
 * worktree.  git refuses rather than waits when it meets another's lock
 * file, so a local command that failed on one is tried again a few times.
 * input, when not NULL, goes to its stdin.
 */
static int
run_retrying(const char *dir, const char *input, struct strbuf *output,
    const char *const args[])
{
	for (int attempt = 1; ; attempt++) {
		struct strbuf out = { 0 };
		int in = -1, rc;
		bool retry;

		if (input && (in = input_pipe(input)) == -1)
			return -1;
		rc = in == -1 ? git_spawn(dir, 0, &out, args) :
		    git_spawn_input(dir, 0, in, &out, args);
		if (in != -1)
			close(in);
		retry = rc != 0 && attempt < 8 && lock_contention(out.s);
		if (!retry && output && out.s)
			strbuf_addn(output, out.s, out.len);
		strbuf_free(&out);
		if (!retry)
			return rc;
		nanosleep(&(struct timespec){ 0, 25000000L * attempt }, NULL);
	}
}

int
git_run(const char *dir, struct strbuf *output, const char *const args[])
{
	return run_retrying(dir, NULL, output, args);
}

int
git_update_refs(const char *dir, const char *message, const char *commands,
    struct strbuf *output)
{
	return run_retrying(dir, commands, output, (const char *[]){ GIT_IDENTITY, "update-ref",
	    "-m", message, "--stdin", NULL });
}

int
git_run_remote(const char *dir, int timeout_s, struct strbuf *output, const char *const args[])
{
	return git_spawn(dir, timeout_s, output, args);
}

bool
git_oid_set(struct git_oid *oid, const char *text)
{
	size_t n = text ? strspn(text, "0123456789abcdef") : 0;

	oid->hex[0] = '\0';
	if ((n != 40 && n != 64) || (text[n] != '\0' && text[n] != '\n'))
		return false;
	memcpy(oid->hex, text, n);
	oid->hex[n] = '\0';
	return true;
}

bool
git_oid_equal(const struct git_oid *a, const struct git_oid *b)
{
	return a->hex[0] && strcmp(a->hex, b->hex) == 0;
}

int
git_rev_parse(const char *dir, const char *rev, struct git_oid *oid)
{
	struct strbuf out = { 0 };
	int rc = git_run(dir, &out, (const char *[]){ "rev-parse", "--verify", "-q",
	    "--end-of-options", rev, NULL });
	bool ok = rc == 0 && git_oid_set(oid, out.s);

	strbuf_free(&out);
	return ok ? 0 : -1;
}

int
git_rev_parse_two(const char *dir, const char *a, const char *b, struct git_oid *oid_a,
    struct git_oid *oid_b)
{
	struct strbuf out = { 0 };
	/* No --end-of-options here: rev-parse would print it back; a and b are
	 * full ref names or object names, never options. */
	int rc = git_run(dir, &out, (const char *[]){ "rev-parse", a, b, NULL });
	char *nl = out.s ? strchr(out.s, '\n') : NULL;
	bool ok = rc == 0 && nl && git_oid_set(oid_a, out.s) && git_oid_set(oid_b, nl + 1);

	strbuf_free(&out);
	return ok ? 0 : -1;
}

int
git_merge_base(const char *dir, const struct git_oid *a, const struct git_oid *b,
    struct git_oid *base)
{
	struct strbuf out = { 0 };
	int rc = git_run(dir, &out, (const char *[]){ "merge-base", a->hex, b->hex, NULL });

	if (rc == 0 && !git_oid_set(base, out.s))
		rc = -1;
	if (rc != 0)
		base->hex[0] = '\0';
	strbuf_free(&out);
	return rc == 0 ? 0 : rc == 1 ? 1 : -1;
}

bool
git_merges_cleanly(const char *dir, const char *a, const char *b)
{
	return git_run(dir, NULL, (const char *[]){ "merge-tree", "--write-tree", "--name-only",
	    "--no-messages", a, b, NULL }) == 0;
}

bool
git_is_ancestor(const char *dir, const char *a, const char *b)
{
	return git_run(dir, NULL, (const char *[]){ "merge-base", "--is-ancestor", a, b,
	    NULL }) == 0;
}

char *
git_common_dir(const char *dir)
{
	struct strbuf out = { 0 };
	char *path, *own;

	/* Its files say, most of the time: no git needed. */
	if (git_dirs(dir, &own, &path) && path[0] == '/') {
		free(own);
		return path;
	}
	free(own);
	free(path);

	if (git_run(dir, &out, (const char *[]){ "rev-parse", "--path-format=absolute",
	    "--git-common-dir", NULL }) != 0 || out.s == NULL) {
		strbuf_free(&out);
		return NULL;
	}
	out.s[strcspn(out.s, "\n")] = '\0';
	path = strbuf_take(&out);
	return path;
}

void
git_worktree_drop(const char *repo, const char *path, const char *branch)
{
	/* Prune only when remove could not: a prune meets other workers' worktrees
	 * being added in the same repo, and may take one that is half made. */
	if (git_run(repo, NULL, (const char *[]){ "worktree", "remove", "--force", "--force",
	    path, NULL }) != 0)
		git_run(repo, NULL, (const char *[]){ "worktree", "prune", NULL });
	if (branch)
		git_run(repo, NULL, (const char *[]){ "branch", "-D", "--", branch, NULL });
}

int
git_worktree_fresh(const char *repo, const char *path, const char *branch,
    const char *base, struct strbuf *err)
{
	const char *const add[] = { "worktree", "add", "-q", "-B", branch, path, base, NULL };

	if (access(path, F_OK) == 0) {
		git_worktree_drop(repo, path, NULL);
		remove_tree(path);	/* what a crash may have left behind */
	}
	if (git_run(repo, NULL, add) == 0)
		return 0;
	/* A stale entry for this path (a crash): prune it, then once more. */
	git_run(repo, NULL, (const char *[]){ "worktree", "prune", NULL });
	remove_tree(path);
	return git_run(repo, err, add) == 0 ? 0 : -1;
}

int
git_commit_all(const char *worktree, const char *message, const char *hooks,
    int timeout_s, struct strbuf *err)
{
	struct strbuf out = { 0 };
	char *hooks_path = hooks ? xasprintf("core.hooksPath=%s", hooks) : NULL;
	int rc;

	if (git_run(worktree, err, (const char *[]){ "add", "-A", NULL }) != 0) {
		free(hooks_path);
		return -1;
	}
	/* No auto maintenance: one process less per commit, and no gc in a worktree.
	 * With hooks, the repo's pre-commit and commit-msg run, bounded by timeout_s. */
	if (hooks)
		rc = git_run_remote(worktree, timeout_s, &out, (const char *[]){ GIT_IDENTITY,
		    "-c", "maintenance.auto=false", "-c", hooks_path, "commit", "-q", "-m", message,
		    NULL });
	else
		rc = git_run(worktree, &out, (const char *[]){ GIT_IDENTITY, "-c",
		    "maintenance.auto=false", "commit", "-q", "--no-verify", "-m", message, NULL });
	free(hooks_path);
	if (rc == 0)
		rc = 1;
	/* Refused: there was nothing to commit (asked only now, the rare case), or an error. */
	else if (git_run(worktree, NULL, (const char *[]){ "diff", "--cached", "--quiet",
	    NULL }) == 0)
		rc = 0;
	else {
		strbuf_add(err, out.s ? out.s : "git commit failed");
		rc = -1;
	}
	strbuf_free(&out);
	return rc;
}

bool
git_has_work(const char *worktree, const char *head, const char *base)
{
	return strcmp(head, base) != 0 && !git_is_ancestor(worktree, head, base);
}

int
git_merge_no_commit(const char *worktree, const char *rev, struct strbuf *out)
{
	int rc = git_run(worktree, out, (const char *[]){ GIT_IDENTITY, "merge", "--no-commit",
	    "--no-ff", "-q", rev, NULL });

	if (rc == 0)
		return 0;
	return git_merging(worktree) ? 1 : -1;
}

char *
git_unmerged_paths(const char *worktree)
{
	struct strbuf out = { 0 };

	/* -z: names as they are, never quoted (a quoted "src/na\303\257ve.c" opens nothing). */
	if (git_run(worktree, &out, (const char *[]){ "diff", "--name-only", "-z",
	    "--diff-filter=U", NULL }) != 0 || out.s == NULL) {
		strbuf_free(&out);
		return xcalloc(2, 1);
	}
	strbuf_addn(&out, "", 1);	/* the list ends with an empty name */
	return strbuf_take(&out);
}

const char *
git_paths_next(const char *path)
{
	path += strlen(path) + 1;
	return *path ? path : NULL;
}

char *
git_paths_join(const char *paths, const char *sep)
{
	struct strbuf out = { 0 };

	for (const char *p = *paths ? paths : NULL; p; p = git_paths_next(p))
		strbuf_addf(&out, "%s%s", out.len ? sep : "", p);
	return out.s ? strbuf_take(&out) : xstrdup("");
}

/* A line git writes around a conflict: <<<<<<< and >>>>>>> followed by a space or the end. */
static bool
marker_line(const char *line)
{
	return (strncmp(line, "<<<<<<<", 7) == 0 || strncmp(line, ">>>>>>>", 7) == 0) &&
	    (line[7] == ' ' || line[7] == '\n' || line[7] == '\0');
}

char *
git_first_with_markers(const char *worktree, const char *paths)
{
	char *found = NULL;

	for (const char *f = *paths ? paths : NULL; f && !found; f = git_paths_next(f)) {
		char *path = xasprintf("%s/%s", worktree, f), *text = read_file(path, NULL);

		for (const char *line = text; line && *line && !found; ) {
			if (marker_line(line))
				found = xstrdup(f);
			line = strchr(line, '\n');
			line = line ? line + 1 : NULL;
		}
		free(text);
		free(path);
	}
	return found;
}

bool
git_merging(const char *worktree)
{
	struct git_oid merge_head;

	return git_rev_parse(worktree, "MERGE_HEAD", &merge_head) == 0;
}

bool
git_push_refused(const char *porcelain)
{
	/* --porcelain marks a ref the remote refused with "!" at the start of its line. */
	return porcelain && (porcelain[0] == '!' || strstr(porcelain, "\n!") != NULL);
}

char *
git_tracking_ref(const char *remote, const char *branch)
{
	return xasprintf("refs/remotes/%s/%s", remote, branch);
}

void
git_fetch_prepare(struct git_fetch *f, const char *remote, const char *branch)
{
	f->tracking = git_tracking_ref(remote, branch);
	f->spec = xasprintf("+refs/heads/%s:%s", branch, f->tracking);
	memcpy(f->argv, (const char *[]){ "fetch", "-q", "--no-tags", "--no-write-fetch-head",
	    remote, f->spec, NULL }, 7 * sizeof(char *));
	f->argv[7] = NULL;
}

void
git_fetch_clear(struct git_fetch *f)
{
	free(f->spec);
	free(f->tracking);
	f->spec = f->tracking = NULL;
}
