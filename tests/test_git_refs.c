/*
 * Refs read from their files (common/git.c, DESIGN.md section 15) say what
 * git says: loose and packed refs, a loose ref shadowing its packed line,
 * symbolic refs, annotated tags, a linked worktree's own HEAD, a bare
 * repository, and no ref where there is none.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/git.h"
#include "tests/lib/testlib.h"

TMPDIR_SUITE(git_refs);

/* git -C repo ARGS, which must succeed; its output, trimmed (caller frees). */
static char *
git(const char *repo, const char *const args[])
{
	const char *argv[24] = { "git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@t" };
	size_t n = 7;

	for (size_t k = 0; args[k] && n < 23; k++)
		argv[n++] = args[k];
	argv[n] = NULL;
	struct run_result r = run_argv(NULL, argv);

	cr_assert_eq(r.status, 0, "git %s: %s", args[0], r.err);
	for (size_t len = strlen(r.out); len > 0 && r.out[len - 1] == '\n'; len--)
		r.out[len - 1] = '\0';
	free(r.err);
	return r.out;
}

static int
strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of text, sorted, as one string (caller frees). */
static char *
sorted(const char *text)
{
	char *copy = xstrdup(text), *lines[256], *save = NULL;
	size_t n = 0;
	struct strbuf out = { 0 };

	for (char *l = strtok_r(copy, "\n", &save); l && n < 256; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	qsort(lines, n, sizeof(*lines), strcmp_ptr);
	for (size_t k = 0; k < n; k++)
		strbuf_addf(&out, "%s\n", lines[k]);
	free(copy);
	return out.s ? strbuf_take(&out) : xstrdup("");
}

/* Every branch and tag, as git_refs_list and git for-each-ref see them. */
static void
assert_listing_is_gits(const char *repo)
{
	char *mine = git_refs_list(repo), *theirs = git(repo, (const char *[]){ "for-each-ref",
	    "--format=%(objectname) %(refname)", "refs/heads/", "refs/tags/", NULL });
	char *a = sorted(mine), *b = sorted(theirs);

	cr_assert_str_eq(a, b);
	free(b);
	free(a);
	free(theirs);
	free(mine);
}

/* ref read from the files is what rev-parse says. */
static void
assert_reads_as_git(const char *where, const char *ref)
{
	struct git_oid mine, theirs;

	cr_assert_eq(git_ref_read(where, ref, &mine), 0, "%s in %s", ref, where);
	cr_assert_eq(git_rev_parse(where, ref, &theirs), 0);
	cr_assert_str_eq(mine.hex, theirs.hex, "%s", ref);
}

Test(git_refs, loose_packed_symbolic_and_tags)
{
	char *repo = xasprintf("%s/r", dir);
	struct git_oid oid;

	git_repo_new(repo);
	free(git(repo, (const char *[]){ "branch", "packed", NULL }));
	free(git(repo, (const char *[]){ "tag", "-a", "-m", "a tag", "v1", NULL }));
	free(git(repo, (const char *[]){ "tag", "light", NULL }));
	free(git(repo, (const char *[]){ "pack-refs", "--all", NULL }));
	free(git(repo, (const char *[]){ "commit", "-q", "--allow-empty", "-m", "two", NULL }));
	/* A loose main now shadows its packed line; "alias" points at main. */
	free(git(repo, (const char *[]){ "symbolic-ref", "refs/heads/alias", "refs/heads/main",
	    NULL }));
	free(git(repo, (const char *[]){ "branch", "deep/er/name", NULL }));
	assert_listing_is_gits(repo);
	assert_reads_as_git(repo, "refs/heads/main");
	assert_reads_as_git(repo, "refs/heads/packed");
	assert_reads_as_git(repo, "refs/heads/alias");
	assert_reads_as_git(repo, "refs/tags/v1");
	assert_reads_as_git(repo, "HEAD");
	cr_assert_eq(git_ref_read(repo, "refs/heads/none", &oid), -1);
	cr_assert_eq(git_ref_read(repo, "refs/heads/deep", &oid), -1, "a folder is no ref");
	free(repo);
}

Test(git_refs, a_worktree_reads_its_own_head)
{
	char *repo = xasprintf("%s/r", dir), *wt = xasprintf("%s/wt", dir), *ref;

	git_repo_new(repo);
	free(git(repo, (const char *[]){ "worktree", "add", "-q", "-b", "issue", wt, NULL }));
	free(git(wt, (const char *[]){ "commit", "-q", "--allow-empty", "-m", "work", NULL }));
	assert_reads_as_git(wt, "HEAD");
	assert_reads_as_git(repo, "HEAD");
	assert_reads_as_git(wt, "refs/heads/issue");
	ref = git_head_ref(wt);
	cr_assert_str_eq(ref, "refs/heads/issue");
	free(ref);
	free(git(wt, (const char *[]){ "checkout", "-q", "--detach", NULL }));
	cr_assert_null(git_head_ref(wt));
	assert_reads_as_git(wt, "HEAD");
	assert_listing_is_gits(wt);
	free(wt);
	free(repo);
}

Test(git_refs, a_bare_repository)
{
	char *repo = xasprintf("%s/r", dir), *bare = xasprintf("%s/bare.git", dir), *common;

	git_repo_new(repo);
	free(git(dir, (const char *[]){ "clone", "-q", "--bare", repo, bare, NULL }));
	assert_listing_is_gits(bare);
	assert_reads_as_git(bare, "refs/heads/main");
	common = git_common_dir(bare);
	cr_assert_str_eq(common, bare);
	free(common);
	free(bare);
	free(repo);
}

/* What an agent may plant under refs/: a folder linked to its parent, a fifo. */
Test(git_refs, a_planted_loop_or_fifo_is_no_ref_and_no_hang)
{
	char *repo = xasprintf("%s/r", dir), *loop = xasprintf("%s/.git/refs/heads/loop", repo);
	char *fifo = xasprintf("%s/.git/refs/heads/fifo", repo), *list;
	struct git_oid oid;

	git_repo_new(repo);
	cr_assert_eq(symlink("..", loop), 0);
	cr_assert_eq(mkfifo(fifo, 0644), 0);
	list = git_refs_list(repo);
	cr_assert(strstr(list, " refs/heads/main\n"), "%s", list);
	cr_assert_null(strstr(list, "loop"), "%s", list);
	cr_assert_null(strstr(list, "fifo"), "%s", list);
	cr_assert_eq(git_ref_read(repo, "refs/heads/fifo", &oid), -1);
	free(list);
	free(fifo);
	free(loop);
	free(repo);
}

/* git push --porcelain: "!" starts the line of a ref the remote refused. */
Test(git_refs, a_refused_push_is_told_from_a_failed_one)
{
	cr_assert(git_push_refused("To /srv/api.git\n!\trefs/heads/waved:refs/heads/waved\t"
	    "[rejected] (fetch first)\nDone\n"));
	cr_assert(git_push_refused("!\trefs/heads/x:refs/heads/x\t[remote rejected] (hook)\n"));
	cr_assert_not(git_push_refused("fatal: unable to access 'https://example.invalid/': "
	    "Could not resolve host\n"));
	cr_assert_not(git_push_refused("To /srv/api.git\n=\trefs/heads/waved:refs/heads/waved\t"
	    "[up to date]\nDone\n"));
	cr_assert_not(git_push_refused(NULL));
}
