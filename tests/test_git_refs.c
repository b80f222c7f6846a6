/*
 * Refs read from their files (common/git_refs.c, DESIGN.md section 15) say
 * what git says: loose and packed refs, a loose ref shadowing its packed
 * line, symbolic refs, annotated tags, a linked worktree's own HEAD, a bare
 * repository, and no ref where there is none.  The landing's transaction
 * written to them is what git sees, or is left to git.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/git.h"
#include "common/git_refs.h"
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

/* A repo whose branch "agent" is at main and whose branch waved/api-7 (in
 * a folder of its own) has one commit more; *tip and *head set. */
static char *
landing_repo(struct git_oid *tip, struct git_oid *head)
{
	char *repo = xasprintf("%s/r", dir);

	git_repo_new(repo);
	free(git(repo, (const char *[]){ "branch", "agent", NULL }));
	free(git(repo, (const char *[]){ "checkout", "-q", "-b", "waved/api-7", NULL }));
	free(git(repo, (const char *[]){ "commit", "-q", "--allow-empty", "-m", "work", NULL }));
	free(git(repo, (const char *[]){ "checkout", "-q", "--detach", NULL }));
	cr_assert_eq(git_rev_parse(repo, "refs/heads/agent", tip), 0);
	cr_assert_eq(git_rev_parse(repo, "refs/heads/waved/api-7", head), 0);
	return repo;
}

static bool
exists(const char *repo, const char *path)
{
	char *full = xasprintf("%s/.git/%s", repo, path);
	bool there = access(full, F_OK) == 0;

	free(full);
	return there;
}

/* The landing's transaction from the files is what git sees: the agent
 * branch moved with a reflog entry, the branch, its reflog and the
 * folder it left empty gone, no lock left. */
Test(git_refs, a_landing_made_from_the_files_is_what_git_sees)
{
	struct git_oid tip, head, now;
	char *repo = landing_repo(&tip, &head), *log;

	cr_assert_eq(git_refs_land(repo, "refs/heads/agent", &head, &tip, "refs/heads/waved/api-7",
	    &head, "waved: merge"), 1);
	cr_assert_eq(git_rev_parse(repo, "refs/heads/agent", &now), 0);
	cr_assert_str_eq(now.hex, head.hex);
	cr_assert_neq(git_rev_parse(repo, "refs/heads/waved/api-7", &now), 0);
	char *log_path = xasprintf("%s/.git/logs/refs/heads/agent", repo);

	log = read_file(log_path, NULL);
	free(log_path);
	cr_assert_not_null(log);
	char *last = strrchr(log, '\n'), *line, *want = xasprintf("%s %s waved <waved@localhost> ",
	    tip.hex, head.hex);

	*last = '\0';
	line = (last = strrchr(log, '\n')) ? last + 1 : log;
	cr_assert(strncmp(line, want, strlen(want)) == 0, "%s", line);
	/* TIME ZONE\tMESSAGE: seconds, then +hhmm or -hhmm */
	char *zone = strchr(line + strlen(want), ' ');

	cr_assert_not_null(zone);
	cr_assert((zone[1] == '+' || zone[1] == '-') && strncmp(zone + 6, "\twaved: merge", 14) == 0,
	    "%s", line);
	free(want);
	char *theirs = git(repo, (const char *[]){ "reflog", "show", "--format=%H %gs", "-1",
	    "agent", NULL });

	want = xasprintf("%s waved: merge", head.hex);
	cr_assert_str_eq(theirs, want, "git reads it");
	free(theirs);
	cr_assert_not(exists(repo, "refs/heads/waved"), "the emptied folder goes");
	cr_assert_not(exists(repo, "logs/refs/heads/waved"));
	cr_assert_not(exists(repo, "refs/heads/agent.lock"));
	free(git(repo, (const char *[]){ "fsck", "--no-progress", NULL }));
	assert_listing_is_gits(repo);
	free(want);
	free(log);
	free(repo);
}

/* Compare and swap: an agent branch that moved (or an issue branch that
 * did) refuses the landing, and nothing changes. */
Test(git_refs, a_landing_on_a_moved_branch_is_refused_and_changes_nothing)
{
	struct git_oid tip, head, now;
	char *repo = landing_repo(&tip, &head);

	cr_assert_eq(git_refs_land(repo, "refs/heads/agent", &head, &head, "refs/heads/waved/api-7",
	    &head, "waved: merge"), 0);
	cr_assert_eq(git_refs_land(repo, "refs/heads/agent", &head, &tip, "refs/heads/waved/api-7",
	    &tip, "waved: merge"), 0);
	cr_assert_eq(git_rev_parse(repo, "refs/heads/agent", &now), 0);
	cr_assert_str_eq(now.hex, tip.hex);
	cr_assert_eq(git_rev_parse(repo, "refs/heads/waved/api-7", &now), 0);
	cr_assert_str_eq(now.hex, head.hex);
	cr_assert_not(exists(repo, "refs/heads/agent.lock"));
	cr_assert_not(exists(repo, "refs/heads/waved/api-7.lock"));
	free(repo);
}

/* Where the files cannot do what git would, they leave it to git: a lock
 * held by another git, an issue branch packed too, a reflog that is a
 * link (never followed), an agent branch only in packed-refs is fine. */
Test(git_refs, a_landing_the_files_cannot_make_is_left_to_git)
{
	struct git_oid tip, head, now;
	char *repo = landing_repo(&tip, &head), *path;

	path = xasprintf("%s/.git/refs/heads/agent.lock", repo);
	free(write_text(dir, "r/.git/refs/heads/agent.lock", ""));
	cr_assert_eq(git_refs_land(repo, "refs/heads/agent", &head, &tip, NULL, NULL, "m"), -1);
	cr_assert(access(path, F_OK) == 0, "another's lock stays");
	unlink(path);
	free(path);

	/* A delete takes packed-refs.lock too: held by a pack-refs, git's. */
	path = xasprintf("%s/.git/packed-refs.lock", repo);
	free(write_text(dir, "r/.git/packed-refs.lock", ""));
	cr_assert_eq(git_refs_land(repo, "refs/heads/agent", &head, &tip, "refs/heads/waved/api-7",
	    &head, "m"), -1);
	cr_assert(access(path, F_OK) == 0, "another's lock stays");
	cr_assert_not(exists(repo, "refs/heads/agent.lock"), "its own locks go");
	cr_assert_not(exists(repo, "refs/heads/waved/api-7.lock"));
	cr_assert_eq(git_rev_parse(repo, "refs/heads/waved/api-7", &now), 0);
	unlink(path);
	free(path);

	free(git(repo, (const char *[]){ "pack-refs", "--all", NULL }));
	cr_assert_eq(git_refs_land(repo, "refs/heads/agent", &head, &tip, "refs/heads/waved/api-7",
	    &head, "m"), -1, "deleting a packed branch rewrites packed-refs: git's");
	cr_assert_eq(git_rev_parse(repo, "refs/heads/agent", &now), 0);
	cr_assert_str_eq(now.hex, tip.hex);

	path = xasprintf("%s/.git/logs/refs/heads/agent", repo);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(symlink("/dev/null", path), 0);
	cr_assert_eq(git_refs_land(repo, "refs/heads/agent", &head, &tip, NULL, NULL, "m"), -1);
	cr_assert_eq(unlink(path), 0);
	free(write_text(dir, "r/.git/logs/refs/heads/agent", ""));
	cr_assert_eq(git_refs_land(repo, "refs/heads/agent", &head, &tip, NULL, NULL, "m"), 1,
	    "packed only: the loose file written shadows it");
	assert_reads_as_git(repo, "refs/heads/agent");
	cr_assert_eq(git_rev_parse(repo, "refs/heads/agent", &now), 0);
	cr_assert_str_eq(now.hex, head.hex);
	free(path);
	free(repo);
}

/* What an agent may plant in the repository is never followed nor waited
 * on: a fifo as the reflog, a link as the agent branch; and where git would
 * do more (the main worktree's HEAD on the branch, its own reflog too), it
 * is git's.  Each leaves every ref as it was. */
Test(git_refs, a_landing_meets_what_was_planted_and_leaves_it_to_git)
{
	struct git_oid tip, head, now;
	char *repo = landing_repo(&tip, &head);
	char *log = xasprintf("%s/.git/logs/refs/heads/agent", repo);
	char *ref = xasprintf("%s/.git/refs/heads/agent", repo);
	char *target = xasprintf("%s/elsewhere", dir);

	cr_assert_eq(rename(log, target), 0);
	cr_assert_eq(mkfifo(log, 0644), 0);
	cr_assert_eq(git_refs_land(repo, "refs/heads/agent", &head, &tip, NULL, NULL, "m"), -1,
	    "a fifo as the reflog");
	cr_assert_eq(git_rev_parse(repo, "refs/heads/agent", &now), 0);
	cr_assert_str_eq(now.hex, tip.hex);
	cr_assert_eq(unlink(log), 0);
	cr_assert_eq(rename(target, log), 0);

	free(write_text(dir, "elsewhere", ""));
	cr_assert_eq(unlink(ref), 0);
	cr_assert_eq(symlink(target, ref), 0);
	cr_assert_eq(git_refs_land(repo, "refs/heads/agent", &head, &tip, NULL, NULL, "m"), -1,
	    "a link as the branch");
	char *text = read_file(target, NULL);

	cr_assert_str_eq(text, "", "the link's target untouched");
	free(text);
	cr_assert_eq(unlink(ref), 0);
	free(git(repo, (const char *[]){ "update-ref", "refs/heads/agent", tip.hex, NULL }));

	free(git(repo, (const char *[]){ "checkout", "-q", "agent", NULL }));
	cr_assert_eq(git_refs_land(repo, "refs/heads/agent", &head, &tip, NULL, NULL, "m"), -1,
	    "HEAD on the branch");
	cr_assert_eq(git_rev_parse(repo, "refs/heads/agent", &now), 0);
	cr_assert_str_eq(now.hex, tip.hex);
	free(target);
	free(ref);
	free(log);
	free(repo);
}
