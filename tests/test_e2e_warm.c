/*
 * End to end: warm worktrees (DESIGN.md section 5, prepare).  A landed
 * issue's worktree is parked as a spare and the next issue of the repo takes
 * it: its setup sees WAVED_WARM=1 and the ignored cache it left, while
 * tracked and untracked files are exactly the new base.  A failed attempt's
 * worktree is never reused, spares never exceed spare_worktrees, and a
 * kill -9 in the middle of a park or a take loses nothing and lands nothing
 * twice.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "tests/lib/scenario.h"

SCENARIO_SUITE(e2e_warm, 180);

/* A repo whose .gitignore keeps cache/ out of git, as node_modules/ would be. */
static char *
repo_with_cache(const char *name)
{
	char *path = scenario_repo(sc, name);

	free(write_text(path, ".gitignore", "cache/\n"));
	free(scenario_git(path, (const char *[]){ "add", ".gitignore", NULL }));
	free(scenario_git(path, (const char *[]){ "-c", "user.name=t", "-c", "user.email=t@t",
	    "commit", "-qm", "ignore cache", NULL }));
	return path;
}

/* setup records "NUMBER WARM" in STATE/warm.log and fills the cache. */
#define SETUP "[phase \"setup\"]\nrun = echo \"$WAVED_NUMBER ${WAVED_WARM:-0}\" >> ../../../warm.log; " \
	"mkdir -p cache; touch cache/from-$WAVED_NUMBER\n"

static char *
warm_log(void)
{
	char *path = xasprintf("%s/warm.log", sc->state), *text = read_file(path, NULL);

	free(path);
	return text ? text : xstrdup("");
}

static int
spare_count(const char *repo)
{
	int n = 0;

	for (int k = 0; k < 64; k++) {
		char *slot = xasprintf("%s/worktrees/%s/.spare/%d", sc->state, repo, k);

		n += access(slot, F_OK) == 0;
		free(slot);
	}
	return n;
}

/* Every issue's commit is on the agent branch exactly once. */
static void
assert_landed_once(const char *repo, int issues)
{
	char *log = scenario_git(repo, (const char *[]){ "log", "--format=%s", "waved", NULL });

	for (int n = 1; n <= issues; n++) {
		char *line = xasprintf("t%d (r1#%d)", n, n);

		cr_assert_eq(count_lines_equal(log, line), 1, "%s in:\n%s", line, log);
		free(line);
	}
	free(log);
	/* git and the folders agree: nothing for a prune to take. */
	char *list = scenario_git(repo, (const char *[]){ "worktree", "list", "--porcelain", NULL });

	cr_assert_null(strstr(list, "prunable"), "%s", list);
	free(list);
}

static char *
issues_json(int n)
{
	struct strbuf b = { 0 };

	strbuf_add(&b, "[");
	for (int k = 1; k <= n; k++)
		strbuf_addf(&b, "%s{\"repo\":\"r1\",\"number\":%d,\"title\":\"t%d\"}", k > 1 ? "," : "",
		    k, k);
	strbuf_add(&b, "]");
	return strbuf_take(&b);
}

/*
 * Three issues in turn: the second and third take the spare.  The review of
 * each leaves a tracked file changed and an untracked file behind (after the
 * last commit, so they are not part of the work); the next implement checks
 * that both are gone and that the ignored cache is still there.
 */
Test(e2e_warm, sequential_issues_after_the_first_reuse_a_spare)
{
	char *repo = repo_with_cache("r1");
	char *issues = issues_json(3);

	scenario_config(sc, "cap = 1\n", SETUP
	    "[phase \"implement\"]\nrun = if [ \"$WAVED_WARM\" = 1 ]; then "
	    "test -f cache/from-1 && test ! -e untracked.txt && git diff --quiet HEAD || exit 7; fi; "
	    "echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt\n"
	    "[phase \"review\"]\nrun = echo scribble >> README; echo junk > untracked.txt\n");
	scenario_issues(sc, issues);
	cJSON *evs = scenario_once_ok(sc);
	char *log = warm_log();

	cr_assert_eq(ev_count(evs, "done", NULL), 3, "failed: %s",
	    ev_find(evs, "failed", NULL, 0) >= 0 ? ev_string(evs, ev_find(evs, "failed", NULL, 0),
	    "reason") : "");
	cr_assert_str_eq(log, "1 0\n2 1\n3 1\n");
	cr_assert_eq(spare_count("r1"), 1);
	assert_landed_once(repo, 3);
	/* A prune leaves the spare alone; so does the next start's tidy. */
	free(scenario_git(repo, (const char *[]){ "worktree", "prune", NULL }));
	char *list = scenario_git(repo, (const char *[]){ "worktree", "list", NULL });

	cr_assert(strstr(list, "/.spare/0"), "%s", list);
	free(list);
	free(log);
	free(issues);
	free(repo);
	cJSON_Delete(evs);
}

/*
 * r1#1 lands (its worktree becomes the spare), r1#2 fails leaving cache/from-2;
 * on the next run r1#3 is warm in r1#1's worktree, never in r1#2's.
 */
Test(e2e_warm, a_failed_attempts_worktree_is_never_reused)
{
	char *repo = repo_with_cache("r1");

	scenario_config(sc, "cap = 1\nmax_attempts = 1\n", SETUP
	    "[phase \"implement\"]\nrun = test \"$WAVED_NUMBER\" != 2 || exit 1; "
	    "test ! -e cache/from-2 || exit 8; echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt\n");
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"t1\"},"
	    "{\"repo\":\"r1\",\"number\":2,\"title\":\"t2\",\"depends_on\":[\"#1\"]}]");
	struct run_result r = scenario_once(sc, NULL);

	run_result_free(&r);
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"t1\"},"
	    "{\"repo\":\"r1\",\"number\":2,\"title\":\"t2\",\"depends_on\":[\"#1\"]},"
	    "{\"repo\":\"r1\",\"number\":3,\"title\":\"t3\"}]");
	r = scenario_once(sc, NULL);
	run_result_free(&r);
	cJSON *evs = scenario_events(sc);
	char *log = warm_log();

	cr_assert_eq(ev_count(evs, "done", "r1#1"), 1);
	cr_assert_eq(ev_count(evs, "done", "r1#3"), 1);
	cr_assert_eq(ev_count(evs, "dead", "r1#2"), 1);
	/* #2 took #1's spare; #3 found none (#2's failed worktree was not parked). */
	cr_assert_str_eq(log, "1 0\n2 1\n3 0\n");
	free(log);
	free(repo);
	cJSON_Delete(evs);
}

/* Issues of one repo overlap (the repo slot is free during review): the repo
 * never holds more spares than allowed, and with reuse off it holds none. */
Test(e2e_warm, spares_never_exceed_spare_worktrees)
{
	char *repo = repo_with_cache("r1");
	char *issues = issues_json(6);

	scenario_config(sc, "cap = 3\nspare_worktrees = 1\n",
	    "[phase \"implement\"]\nrun = echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt\n"
	    "[phase \"review\"]\nrun = sleep 0.3; test \"$(ls ../.spare 2>/dev/null | wc -l)\" -le 1\n");
	scenario_issues(sc, issues);
	cJSON *evs = scenario_once_ok(sc);

	cr_assert_eq(ev_count(evs, "done", NULL), 6);
	cr_assert_eq(spare_count("r1"), 1);
	assert_landed_once(repo, 6);
	/* Turned off: the next start removes the spares, and none is made. */
	scenario_config(sc, "reuse_worktrees = no\n", "[phase \"implement\"]\nrun = true\n");
	scenario_issues(sc, "[]");
	cJSON_Delete(evs);
	evs = scenario_once_ok(sc);
	cr_assert_eq(spare_count("r1"), 0);
	free(issues);
	free(repo);
	cJSON_Delete(evs);
}

/*
 * A git on PATH that holds the first git whose arguments hold what (after
 * running it), for the test to kill everything right there.
 */
static void
hold_git(const char *what)
{
	char *git = scenario_real_git();

	/* waved's git gets options (-c ...) before the command: look for it anywhere. */
	char *script = xasprintf("#!/bin/sh\n"
	    "if [ \"${*#*%s}\" != \"$*\" ] && mkdir %s/held 2>/dev/null; then\n"
	    "  %s \"$@\"; echo $$ $PPID > %s/held/pids.tmp; mv %s/held/pids.tmp %s/held/pids\n"
	    "  exec sleep 120\n"
	    "fi\n"
	    "exec %s \"$@\"\n", what, sc->dir, git, sc->dir, sc->dir, sc->dir, git);

	scenario_git_first(sc, script);
	free(script);
	free(git);
}

/* Run until the held git, kill -9 the daemon, the worker and git, then finish. */
static void
kill_during(const char *what, const char *more_phases)
{
	char *repo = repo_with_cache("r1");
	char *pids_path = xasprintf("%s/held/pids", sc->dir), *pids = NULL;
	long git_pid = 0, worker_pid = 0;

	hold_git(what);
	char *phases = xasprintf(SETUP "[phase \"implement\"]\nrun = echo $WAVED_NUMBER > "
	    "f-$WAVED_NUMBER.txt\n%s", more_phases);

	scenario_config(sc, "cap = 1\n", phases);
	free(phases);
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"t1\"},"
	    "{\"repo\":\"r1\",\"number\":2,\"title\":\"t2\",\"depends_on\":[\"#1\"]},"
	    "{\"repo\":\"r1\",\"number\":3,\"title\":\"t3\",\"depends_on\":[\"#2\"]}]");
	pid_t pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });

	for (int64_t deadline = mono_ms() + 60000; (pids = read_file(pids_path, NULL)) == NULL;
	    nap_ms(50))
		cr_assert_lt(mono_ms(), deadline, "no %s was held", what);
	cr_assert_eq(sscanf(pids, "%ld %ld", &git_pid, &worker_pid), 2);
	kill(pid, SIGKILL);
	kill((pid_t)worker_pid, SIGKILL);
	kill((pid_t)git_pid, SIGKILL);
	cr_assert_eq(scenario_wait(pid, 30), 128 + SIGKILL);
	while (!process_gone((pid_t)worker_pid))
		nap_ms(20);

	struct run_result r = scenario_once(sc, NULL);
	cJSON *evs = scenario_events(sc);

	cr_assert_eq(r.status, 0, "%s", r.err);
	for (int n = 1; n <= 3; n++) {
		char key[8];

		snprintf(key, sizeof(key), "r1#%d", n);
		cr_assert_eq(ev_count(evs, "done", key), 1, "%s", key);
	}
	assert_landed_once(repo, 3);
	cr_assert_leq(spare_count("r1"), 2);
	run_result_free(&r);
	cJSON_Delete(evs);
	free(pids);
	free(pids_path);
	free(repo);
}

/*
 * A take moves the spare into place, then switches it to the issue's
 * branch: a checkout when the spare is not what the last landing left (a
 * review ran after the commit), else two ref files.
 */
Test(e2e_warm, kill_9_during_a_take_loses_nothing)
{
	kill_during("checkout -q -f -B waved-issue/2", "[phase \"review\"]\nrun = true\n");
}

/*
 * A park renames the folder, then points git's record (the gitdir file of
 * the worktree's git dir) at it.  Cut between the two (a kill -9), the next
 * start joins them again (git worktree repair), and the spare is used.
 */
Test(e2e_warm, a_park_cut_short_is_repaired)
{
	char *repo = repo_with_cache("r1");

	scenario_config(sc, "cap = 1\n", SETUP
	    "[phase \"implement\"]\nrun = echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt\n");
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"t1\"}]");
	cJSON_Delete(scenario_once_ok(sc));
	char *spare = xasprintf("%s/worktrees/r1/.spare/0/.git", sc->state);
	char *dotgit = read_file(spare, NULL);

	cr_assert(dotgit && strncmp(dotgit, "gitdir: ", 8) == 0, "%s", dotgit ? dotgit : "");
	dotgit[strcspn(dotgit, "\n")] = '\0';
	char *record = xasprintf("%s/gitdir", dotgit + 8), *old = read_file(record, NULL);

	cr_assert(old && strstr(old, "/.spare/0/.git"), "%s", old ? old : "");
	char *before = xasprintf("%s/worktrees/r1/1/.git\n", sc->state);

	free(write_text(dotgit + 8, "gitdir", before));
	free(before);
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"t1\"},"
	    "{\"repo\":\"r1\",\"number\":2,\"title\":\"t2\",\"depends_on\":[\"#1\"]},"
	    "{\"repo\":\"r1\",\"number\":3,\"title\":\"t3\",\"depends_on\":[\"#2\"]}]");
	cJSON *evs = scenario_once_ok(sc);
	char *log = warm_log();

	cr_assert_eq(ev_count(evs, "done", NULL), 3);
	cr_assert_str_eq(log, "1 0\n2 1\n3 1\n");
	assert_landed_once(repo, 3);
	cJSON_Delete(evs);
	free(log);
	free(old);
	free(record);
	free(dotgit);
	free(spare);
	free(repo);
}

/*
 * A git on PATH that logs, for each run, the title of the process that
 * started it (a worker's names its issue) and its arguments, then runs the
 * real git.  Returns the log's path.
 */
static char *
count_gits(void)
{
	char *git = scenario_real_git(), *log = xasprintf("%s/git.log", sc->dir);
	char *script = xasprintf("#!/bin/sh\n"
	    "printf '%%s %%s\\t%%s\\n' $PPID \"$(tr '\\000\\t' '  ' < /proc/$PPID/cmdline)\" "
	    "\"$*\" >> %s\n"
	    "exec %s \"$@\"\n", log, git);

	scenario_git_first(sc, script);
	free(script);
	free(git);
	return log;
}

/*
 * The git processes of issue r1#N in the log: those its worker ran (known
 * by its title, or by its pid for what it ran before it set its title),
 * and those the supervisor ran naming its branch.  Their lines go to lines.
 */
static int
gits_of(const char *log, int number, struct strbuf *lines)
{
	char *text = read_file(log, NULL), *worker = xasprintf("worker r1#%d ", number);
	char *branch = xasprintf("waved-issue/%d", number);
	long pids[16];
	int n = 0, npids = 0;

	for (char *line = text, *end; line && *line; line = end + (*end == '\n')) {
		char *tab = strchr(line, '\t');

		end = line + strcspn(line, "\n");
		if (tab && tab < end && npids < 16 &&
		    memmem(line, (size_t)(tab - line), worker, strlen(worker)) != NULL)
			pids[npids++] = strtol(line, NULL, 10);
	}
	for (char *line = text, *end; line && *line; line = end + (*end == '\n')) {
		char *tab = strchr(line, '\t');
		bool ours = false;

		end = line + strcspn(line, "\n");
		if (tab == NULL || tab > end)
			continue;
		for (int k = 0; k < npids && !ours; k++)
			ours = strtol(line, NULL, 10) == pids[k];
		ours = ours || (memmem(line, (size_t)(tab - line), "worker r1#", 10) == NULL &&
		    memmem(tab, (size_t)(end - tab), branch, strlen(branch)) != NULL);
		if (ours) {
			n++;
			strbuf_addf(lines, "%.*s\n", (int)(end - tab - 1), tab + 1);
		}
	}
	free(branch);
	free(worker);
	free(text);
	return n;
}

/*
 * DESIGN.md section 15: a warm issue whose landing is a fast-forward (prepare
 * from a spare, commit, land, park) costs at most 6 git processes, the checks
 * of an untrusted agent included; waved's lean path takes 2 (add, commit;
 * the transaction that lands it and deletes its branch is written to the
 * ref files: no update-ref, no branch -D after, and no rev-list for a
 * history that is waved's own commits, each checked when made).  Issues 2
 * and 3 take the spare of the one before them.
 */
Test(e2e_warm, a_warm_fast_forward_issue_runs_2_gits)
{
	char *repo = repo_with_cache("r1"), *issues = issues_json(3), *log;

	scenario_config(sc, "cap = 1\n",
	    "[phase \"implement\"]\nrun = echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt\n");
	scenario_issues(sc, issues);
	log = count_gits();
	cJSON *evs = scenario_once_ok(sc);

	cr_assert_eq(ev_count(evs, "done", NULL), 3);
	assert_landed_once(repo, 3);
	for (int n = 2; n <= 3; n++) {
		struct strbuf lines = { 0 };
		int count = gits_of(log, n, &lines);

		cr_assert(count >= 1 && count <= 2, "r1#%d ran %d gits:\n%s", n, count, lines.s);
		/* Landed from the ref files. */
		cr_assert(strstr(lines.s, "update-ref") == NULL, "r1#%d:\n%s", n, lines.s);
		/* The spare the issue before parked is at the tip: two ref files, no checkout. */
		cr_assert(strstr(lines.s, "checkout") == NULL, "r1#%d:\n%s", n, lines.s);
		/* The landing deleted the branch: nobody runs git branch -D. */
		cr_assert(strstr(lines.s, " branch ") == NULL, "r1#%d:\n%s", n, lines.s);
		strbuf_free(&lines);
	}
	cJSON_Delete(evs);
	free(log);
	free(issues);
	free(repo);
}

/*
 * waved --once on issues while the test holds the repo's merge lock until
 * both issues named are waiting for it: both are then prepared from the
 * same tip, and the second to land merges.
 */
static void
once_with_both_waiting(const char *repo, const char *issues, const char *a, const char *b)
{
	char *path = xasprintf("%s/.git/waved-merge.lock", repo);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	cr_assert(fd != -1 && flock(fd, LOCK_EX) == 0);
	scenario_issues(sc, issues);
	pid_t pid = scenario_start(sc, (const char *[]){ "--once", "-c", sc->conf, NULL });

	cr_assert(scenario_await(sc, "merge_wait", a, 1, 60), "%s never queued", a);
	cr_assert(scenario_await(sc, "merge_wait", b, 1, 60), "%s never queued", b);
	close(fd);
	cr_assert_eq(scenario_wait(pid, 60), 0);
	free(path);
}

/*
 * The same with a landing that merges: r1#3 and r1#4 start warm (in the
 * spares of r1#1 and r1#2) from the same tip, and wait for the merge lock
 * together: the first lands by fast-forward, the second merges (6: a
 * checkout, its spare being of an older tip, then merge-tree and
 * commit-tree; DESIGN.md's bound is 8).
 */
Test(e2e_warm, a_warm_merging_issue_runs_6_gits)
{
	char *repo = repo_with_cache("r1"), *log;

	scenario_config(sc, "cap = 2\n", "[phase \"implement\"]\nrun = echo $WAVED_NUMBER > "
	    "f-$WAVED_NUMBER.txt\n");
	/* Two spares: r1#1 and r1#2 both start cold. */
	once_with_both_waiting(repo, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"t1\"},"
	    "{\"repo\":\"r1\",\"number\":2,\"title\":\"t2\"}]", "r1#1", "r1#2");
	cr_assert_eq(spare_count("r1"), 2);
	log = count_gits();
	once_with_both_waiting(repo, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"t1\"},"
	    "{\"repo\":\"r1\",\"number\":2,\"title\":\"t2\"},"
	    "{\"repo\":\"r1\",\"number\":3,\"title\":\"t3\",\"depends_on\":[\"#1\",\"#2\"]},"
	    "{\"repo\":\"r1\",\"number\":4,\"title\":\"t4\",\"depends_on\":[\"#1\",\"#2\"]}]",
	    "r1#3", "r1#4");
	cJSON *evs = scenario_events(sc);
	struct strbuf lines = { 0 };
	int merged = 0, ff = 0;

	cr_assert_eq(ev_count(evs, "done", NULL), 4);
	assert_landed_once(repo, 4);
	for (int n = 3; n <= 4; n++) {
		char key[8];

		snprintf(key, sizeof(key), "r1#%d", n);
		const char *sha = ev_string(evs, ev_find(evs, "merged", key, 0), "sha");
		char *parents = scenario_git(repo, (const char *[]){ "rev-list", "--parents", "-n1",
		    sha, NULL });

		if (strlen(parents) == 3 * strlen(sha) + 2)
			merged = n;
		else
			ff = n;
		free(parents);
	}
	cr_assert(merged && ff, "one fast-forward and one merge");
	/* Both were warm: their prepare took a spare. */
	for (int n = 3; n <= 4; n++) {
		char *attempt = xasprintf("%s/logs/r1/%d/attempt-1.log", sc->state, n), *text;

		text = read_file(attempt, NULL);
		cr_assert(text && strstr(text, "a warm worktree"), "r1#%d: %s", n, text ? text : "");
		free(text);
		free(attempt);
	}
	int count = gits_of(log, merged, &lines);

	cr_assert(count >= 1 && count <= 6, "r1#%d ran %d gits:\n%s", merged, count, lines.s);
	strbuf_free(&lines);
	/* Its spare too was of an older tip: a checkout, then its 3. */
	count = gits_of(log, ff, &lines);
	cr_assert(count >= 1 && count <= 4, "r1#%d ran %d gits:\n%s", ff, count, lines.s);
	strbuf_free(&lines);
	cJSON_Delete(evs);
	free(log);
	free(repo);
}
