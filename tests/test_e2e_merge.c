/*
 * End to end: the merge queue (DESIGN.md section 6) on real repositories.
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
#include <sqlite3.h>

#include "common/util.h"
#include "tests/lib/scenario.h"

SCENARIO_SUITE(e2e_merge, 180);

/* Every done issue's change is on the agent branch exactly once, and git is sound. */
static void
assert_landed_once(const char *repo, const char *const subjects[])
{
	char *log = scenario_git(repo, (const char *[]){ "log", "--no-merges", "--format=%s",
	    "waved", NULL });
	struct run_result fsck = run_argv(NULL, (const char *[]){ "git", "-C", repo, "fsck",
	    "--strict", "--no-dangling", NULL });

	for (size_t k = 0; subjects[k]; k++)
		cr_assert_eq(count_lines_equal(log, subjects[k]), 1, "\"%s\" in:\n%s", subjects[k], log);
	cr_assert_eq(fsck.status, 0, "git fsck: %s", fsck.err);
	run_result_free(&fsck);
	free(log);
}

/* Do the [merge_locked, merged] intervals of a and b overlap? */
static bool
merges_overlap(const cJSON *evs, const char *a, const char *b)
{
	int la = ev_find(evs, "merge_locked", a, 0), ma = ev_find(evs, "merged", a, la);
	int lb = ev_find(evs, "merge_locked", b, 0), mb = ev_find(evs, "merged", b, lb);

	cr_assert(la >= 0 && ma >= 0 && lb >= 0 && mb >= 0, "%s and %s should both merge", a, b);
	return la < mb && lb < ma;
}

Test(e2e_merge, one_merge_at_a_time_per_repo_while_repos_merge_together)
{
	cJSON *evs;
	struct run_result r;
	char *api = scenario_repo(sc, "api"), *web = scenario_repo(sc, "web");

	/* The gate holds each repo's lock a while; the first merge of each repo
	 * waits to see the other repo's, so the two repos must merge at once. */
	scenario_config(sc, "cap = 4",
	    "[phase \"implement\"]\nrun = echo \"$WAVED_ISSUE\" > c-$WAVED_NUMBER.txt\n"
	    "[phase \"review\"]\nrun = sleep 0.1\n"
	    "[merge]\ncheck = touch ../../../../merging-$WAVED_REPO; "
	    "until [ -e ../../../../merging-api ] && [ -e ../../../../merging-web ]; do sleep 0.05; done; "
	    "sleep 0.3\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"a1\"},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"a2\"},"
	    "{\"repo\":\"api\",\"number\":3,\"title\":\"a3\"},"
	    "{\"repo\":\"web\",\"number\":1,\"title\":\"w1\"}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	evs = scenario_events(sc);
	cr_assert(!merges_overlap(evs, "api#1", "api#2"));
	cr_assert(!merges_overlap(evs, "api#2", "api#3"));
	cr_assert(!merges_overlap(evs, "api#1", "api#3"));
	cr_assert(merges_overlap(evs, "api#1", "web#1") || merges_overlap(evs, "api#2", "web#1") ||
	    merges_overlap(evs, "api#3", "web#1"), "two repos should merge at the same time");
	assert_landed_once(api, (const char *[]){ "a1 (api#1)", "a2 (api#2)", "a3 (api#3)", NULL });
	assert_landed_once(web, (const char *[]){ "w1 (web#1)", NULL });
	cJSON_Delete(evs);
	run_result_free(&r);
	free(api);
	free(web);
}

Test(e2e_merge, another_process_holding_the_lock_makes_waved_wait)
{
	char *api = scenario_repo(sc, "api"), *lock = xasprintf("%s/.git/waved-merge.lock", api);
	char *before, *after;
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	cJSON *evs;
	pid_t pid;

	cr_assert_eq(flock(fd, LOCK_EX), 0);
	scenario_config(sc, NULL, "[phase \"implement\"]\nrun = echo x > f.txt\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"t\"}]");
	pid = scenario_start(sc, (const char *[]){ "--once", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "merge_wait", "api#1", 1, 30));
	/* While this process holds the lock, waved must not merge. */
	before = scenario_git(api, (const char *[]){ "rev-parse", "waved", NULL });
	evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "merge_locked", NULL), 0);
	cJSON_Delete(evs);
	close(fd);	/* releases the lock */
	cr_assert_eq(scenario_wait(pid, 60), 0);
	after = scenario_git(api, (const char *[]){ "rev-parse", "waved", NULL });
	cr_assert_str_neq(before, after);
	evs = scenario_events(sc);
	cr_assert_gt(ev_find(evs, "merge_locked", "api#1", 0), ev_find(evs, "merge_wait", "api#1", 0));
	cJSON_Delete(evs);
	free(before);
	free(after);
	free(lock);
	free(api);
}

Test(e2e_merge, a_failing_gate_leaves_the_agent_branch_where_it_was)
{
	char *api = scenario_repo(sc, "api"), *before, *after;
	struct run_result r;
	cJSON *evs;

	scenario_config(sc, "max_attempts = 1", "[phase \"implement\"]\nrun = echo x > f.txt\n"
	    "[merge]\ncheck = echo 'tests: 3 failed'; exit 1\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"t\"}]");
	before = scenario_git(api, (const char *[]){ "rev-parse", "main", NULL });
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 1, "%s", r.err);
	after = scenario_git(api, (const char *[]){ "rev-parse", "waved", NULL });
	cr_assert_str_eq(before, after, "the agent branch must not move on a failed gate");
	evs = scenario_events(sc);
	const char *reason = ev_string(evs, ev_find(evs, "dead", "api#1", 0), "reason");
	cr_assert(reason && strstr(reason, "merge check failed") && strstr(reason, "tests: 3 failed"),
	    "%s", reason);
	cr_assert_eq(ev_count(evs, "merged", NULL), 0);
	cJSON_Delete(evs);
	run_result_free(&r);
	free(before);
	free(after);
	free(api);
}

/* A bare remote of api (its origin) whose agent branch has a commit made elsewhere. */
static void
remote_with_a_commit_from_elsewhere(const char *api, const char *remote, const char *other)
{
	free(scenario_git(sc->dir, (const char *[]){ "clone", "-q", "--bare", api, remote, NULL }));
	free(scenario_git(api, (const char *[]){ "remote", "add", "origin", remote, NULL }));
	free(scenario_git(sc->dir, (const char *[]){ "clone", "-q", remote, other, NULL }));
	free(write_text(other, "elsewhere.txt", "from another host\n"));
	free(scenario_git(other, (const char *[]){ "add", ".", NULL }));
	free(scenario_git(other, (const char *[]){ "-c", "user.name=t", "-c", "user.email=t@t",
	    "commit", "-qm", "elsewhere", NULL }));
	free(scenario_git(other, (const char *[]){ "push", "-q", "origin", "HEAD:refs/heads/waved", NULL }));
}

Test(e2e_merge, push_takes_in_the_remote_and_never_forces)
{
	char *api = scenario_repo(sc, "api"), *remote = xasprintf("%s/remote.git", sc->dir);
	char *other = xasprintf("%s/other", sc->dir), *log;
	struct run_result r;

	remote_with_a_commit_from_elsewhere(api, remote, other);
	/* Ours does not have it: our agent branch starts from main. */
	free(scenario_git(api, (const char *[]){ "branch", "waved", "main", NULL }));
	char *ours_before = scenario_git(api, (const char *[]){ "rev-parse", "waved", NULL });
	char *theirs_before = scenario_git(remote, (const char *[]){ "rev-parse", "waved", NULL });
	scenario_config(sc, NULL, "[phase \"implement\"]\nrun = echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt\n");
	char *conf = read_file(sc->conf, NULL), *with_push = xasprintf("%spush = origin\n", conf);
	free(write_text(sc->dir, "waved.conf", with_push));
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"one\"},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"two\"}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	log = scenario_git(remote, (const char *[]){ "log", "--no-merges", "--format=%s", "waved", NULL });
	cr_assert_eq(count_lines_equal(log, "elsewhere"), 1, "%s", log);
	cr_assert_eq(count_lines_equal(log, "one (api#1)"), 1, "%s", log);
	cr_assert_eq(count_lines_equal(log, "two (api#2)"), 1, "%s", log);
	char *local = scenario_git(api, (const char *[]){ "rev-parse", "waved", NULL });
	char *pushed = scenario_git(remote, (const char *[]){ "rev-parse", "waved", NULL });
	cr_assert_str_eq(local, pushed);
	/* The remote was ahead by one commit: taken in by fast-forward, so no
	 * commit has our old tip (main) and the remote's for its parents. */
	char *merges = scenario_git(remote, (const char *[]){ "rev-list", "--merges", "--parents",
	    "waved", NULL });
	cr_assert_null(strstr(merges, ours_before) && strstr(merges, theirs_before) ? merges : NULL,
	    "a commit merges the two tips (%s, %s): %s", ours_before, theirs_before, merges);
	run_result_free(&r);
	free(merges);
	free(ours_before);
	free(theirs_before);
	free(local);
	free(pushed);
	free(conf);
	free(with_push);
	free(log);
	free(other);
	free(remote);
	free(api);
}

/* Ours has a commit the remote lacks and the remote one we lack: a merge that says so. */
Test(e2e_merge, a_remote_that_diverged_is_merged_with_its_own_message)
{
	char *api = scenario_repo(sc, "api"), *remote = xasprintf("%s/remote.git", sc->dir);
	char *other = xasprintf("%s/other", sc->dir), *conf, *with_push, *subjects;
	struct run_result r;

	remote_with_a_commit_from_elsewhere(api, remote, other);
	/* Our agent branch has a commit of its own, made here. */
	free(scenario_git(api, (const char *[]){ "checkout", "-q", "-b", "waved", "main", NULL }));
	free(write_text(api, "here.txt", "from this host\n"));
	free(scenario_git(api, (const char *[]){ "add", ".", NULL }));
	free(scenario_git(api, (const char *[]){ "-c", "user.name=t", "-c", "user.email=t@t",
	    "commit", "-qm", "here", NULL }));
	free(scenario_git(api, (const char *[]){ "checkout", "-q", "main", NULL }));
	scenario_config(sc, NULL, "[phase \"implement\"]\nrun = echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt\n");
	conf = read_file(sc->conf, NULL);
	with_push = xasprintf("%spush = origin\n", conf);
	free(write_text(sc->dir, "waved.conf", with_push));
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"one\"}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	subjects = scenario_git(remote, (const char *[]){ "log", "--merges", "--format=%s", "waved", NULL });
	cr_assert_eq(count_lines_equal(subjects, "Merge origin/waved into waved"), 1,
	    "the two tips merged once, with a message of their own: %s", subjects);
	cr_assert_eq(count_lines_equal(subjects, "Merge waved-issue/1: one (api#1)"), 1,
	    "then the issue, based on our old tip, merged in: %s", subjects);
	char *local = scenario_git(api, (const char *[]){ "rev-parse", "waved", NULL });
	char *pushed = scenario_git(remote, (const char *[]){ "rev-parse", "waved", NULL });
	cr_assert_str_eq(local, pushed);
	run_result_free(&r);
	free(local);
	free(pushed);
	free(subjects);
	free(conf);
	free(with_push);
	free(other);
	free(remote);
	free(api);
}

/* The remote at path, made now from repo, its agent branch at tip (what it had
 * before the landing it never took): made aside and renamed into place, so
 * that a daemon still running never sees it with the landing copied in. */
static void
remote_back_at(const char *repo, const char *path, const char *tip)
{
	char *aside = xasprintf("%s.aside", path);

	free(scenario_git(sc->dir, (const char *[]){ "clone", "-q", "--bare", repo, aside, NULL }));
	free(scenario_git(aside, (const char *[]){ "update-ref", "refs/heads/waved", tip, NULL }));
	cr_assert_eq(rename(aside, path), 0);
	free(aside);
}

/* waved.conf as scenario_config wrote it, with push = origin for the repo last written. */
static void
config_push_origin(void)
{
	char *conf = read_file(sc->conf, NULL), *with_push = xasprintf("%spush = origin\n", conf);

	free(write_text(sc->dir, "waved.conf", with_push));
	free(with_push);
	free(conf);
}

/*
 * A push that never reaches the remote (here: no repository at its URL) is
 * not the issue's failure, nor the agent's: the landing stays on the agent
 * branch here (DESIGN.md section 6 moves it before the push), the attempt
 * ends tempfail with cause "remote", and the next try resumes at the
 * landing, in the worktree it kept: it finds the work here and only pushes.
 * The agent's work is done once and lands once, here and there.
 */
Test(e2e_merge, a_push_that_cannot_reach_the_remote_is_pushed_later_without_redoing_the_work)
{
	char *api = scenario_repo(sc, "api"), *remote = xasprintf("%s/remote.git", sc->dir);
	char *main_tip, *tip, *log, *local, *pushed, *path;
	const char *reason;
	cJSON *evs;
	pid_t pid;
	int f;

	free(scenario_git(api, (const char *[]){ "remote", "add", "origin", remote, NULL }));
	scenario_config(sc, "max_attempts = 1\ntempfail_backoff = 2",
	    "[phase \"implement\"]\nrun = echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt\n");
	config_push_origin();
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"one\"}]");
	main_tip = scenario_git(api, (const char *[]){ "rev-parse", "main", NULL });
	pid = scenario_start(sc, (const char *[]){ "--once", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "failed", "api#1", 1, 60));
	tip = scenario_git(api, (const char *[]){ "rev-parse", "waved", NULL });
	cr_assert_str_neq(tip, main_tip, "landed here before the push");
	evs = scenario_events(sc);
	f = ev_find(evs, "failed", "api#1", 0);
	cr_assert_str_eq(ev_string(evs, f, "outcome"), "tempfail");
	cr_assert_str_eq(ev_string(evs, f, "cause"), "remote");
	reason = ev_string(evs, f, "reason");
	cr_assert(reason && strstr(reason, "push to origin failed") &&
	    strstr(reason, "not yet on origin"), "%s", reason);
	cr_assert_eq(ev_count(evs, "merged", "api#1"), 0, "done is pushed");
	cJSON_Delete(evs);
	/* The attempt tried the remote again after a pause before it gave up. */
	path = xasprintf("%s/logs/api/1/attempt-1.log", sc->state);
	log = read_file(path, NULL);
	cr_assert(log && strstr(log, "== waved: push origin failed (128); again in 1000 ms"), "%s",
	    log ? log : "");
	free(log);
	/* The remote comes back, without the landing: the retry pushes it. */
	remote_back_at(api, remote, main_tip);
	cr_assert_eq(scenario_wait(pid, 120), 0);
	evs = scenario_events(sc);
	f = ev_find(evs, "failed", "api#1", 0);
	int retry = ev_find(evs, "retry_scheduled", "api#1", f);
	cr_assert_geq(retry, 0);
	cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetArrayItem(evs, retry), "counted")));
	cr_assert_gt(ev_find(evs, "admitted", "api#1", retry), retry, "tried again");
	cr_assert_eq(ev_count(evs, "merged", "api#1"), 1);
	cr_assert_eq(ev_number(evs, ev_find(evs, "done", "api#1", 0), "attempt"), 1,
	    "a push that did not reach the remote uses no attempt");
	cr_assert_eq(ev_count_with(evs, "phase_start", "api#1", "phase", "implement"), 1,
	    "the next try resumed at the landing: the agent's work is not done again");
	assert_landed_once(api, (const char *[]){ "one (api#1)", NULL });
	assert_landed_once(remote, (const char *[]){ "one (api#1)", NULL });
	local = scenario_git(api, (const char *[]){ "rev-parse", "waved", NULL });
	pushed = scenario_git(remote, (const char *[]){ "rev-parse", "waved", NULL });
	cr_assert_str_eq(local, pushed);
	cJSON_Delete(evs);
	free(local);
	free(pushed);
	free(path);
	free(tip);
	free(main_tip);
	free(remote);
	free(api);
}

/*
 * Where the next try of a landing the remote did not take resumes is kept
 * in the store: a daemon stopped while the issue waits to be tried again
 * starts, once the remote is back, with the push, not with the agent.  (The
 * wait is let go in the store, so that the second start need not sit it out.)
 */
Test(e2e_merge, a_landing_waiting_for_its_remote_resumes_at_the_push_after_a_restart)
{
	char *api = scenario_repo(sc, "api"), *remote = xasprintf("%s/remote.git", sc->dir);
	char *dbpath = xasprintf("%s/waved.db", sc->state), *main_tip, *local, *pushed;
	sqlite3 *db;
	cJSON *evs;
	pid_t pid;

	free(scenario_git(api, (const char *[]){ "remote", "add", "origin", remote, NULL }));
	scenario_config(sc, "tempfail_backoff = 3600",
	    "[phase \"implement\"]\nrun = echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt\n");
	config_push_origin();
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"one\"}]");
	main_tip = scenario_git(api, (const char *[]){ "rev-parse", "main", NULL });
	pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "retry_scheduled", "api#1", 1, 60));
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
	remote_back_at(api, remote, main_tip);
	cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, "UPDATE issues SET retry_at = 0", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	evs = scenario_once_ok(sc);
	cr_assert_eq(ev_count(evs, "recovered", "api#1"), 0, "nothing was in flight at the stop");
	cr_assert_eq(ev_count(evs, "merged", "api#1"), 1);
	cr_assert_eq(ev_count_with(evs, "phase_start", "api#1", "phase", "implement"), 1,
	    "the second run resumed at the push");
	cJSON_Delete(evs);
	assert_landed_once(api, (const char *[]){ "one (api#1)", NULL });
	assert_landed_once(remote, (const char *[]){ "one (api#1)", NULL });
	local = scenario_git(api, (const char *[]){ "rev-parse", "waved", NULL });
	pushed = scenario_git(remote, (const char *[]){ "rev-parse", "waved", NULL });
	cr_assert_str_eq(local, pushed);
	free(local);
	free(pushed);
	free(main_tip);
	free(dbpath);
	free(remote);
	free(api);
}

/*
 * A remote that refuses every push (its hook) is taken in and pushed again
 * five times; then the attempt ends tempfail with cause remote, the landing
 * here, and max_tempfails such tries in a row make the issue dead with a
 * reason that says the work is landed here and how to go on.
 */
Test(e2e_merge, a_remote_that_always_refuses_ends_dead_saying_the_work_is_here)
{
	char *api = scenario_repo(sc, "api"), *remote = xasprintf("%s/remote.git", sc->dir);
	char *hooks = xasprintf("%s/hooks", remote), *hook, *main_tip, *tip;
	const char *reason;
	struct run_result r;
	cJSON *evs;
	int f;

	main_tip = scenario_git(api, (const char *[]){ "rev-parse", "main", NULL });
	remote_back_at(api, remote, main_tip);
	free(scenario_git(api, (const char *[]){ "remote", "add", "origin", remote, NULL }));
	hook = write_text(hooks, "pre-receive", "#!/bin/sh\necho 'never' >&2; exit 1\n");
	cr_assert_eq(chmod(hook, 0755), 0);
	scenario_config(sc, "tempfail_backoff = 1\nmax_tempfails = 2",
	    "[phase \"implement\"]\nrun = echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt\n");
	config_push_origin();
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"one\"}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 1, "%s", r.err);
	evs = scenario_events(sc);
	cr_assert_eq(ev_count_with(evs, "failed", "api#1", "cause", "remote"), 2);
	f = ev_find(evs, "failed", "api#1", 0);
	reason = ev_string(evs, f, "reason");
	cr_assert(reason && strstr(reason, "refused") && strstr(reason, "not yet on origin"), "%s",
	    reason);
	f = ev_find(evs, "dead", "api#1", 0);
	cr_assert_geq(f, 0);
	reason = ev_string(evs, f, "reason");
	cr_assert(reason && strstr(reason, "tempfail limit: 2 tries the push remote did not take") &&
	    strstr(reason, "wavectl retry"), "%s", reason);
	cr_assert_eq(ev_count_with(evs, "phase_start", "api#1", "phase", "implement"), 1);
	cr_assert_eq(ev_count(evs, "merged", "api#1"), 0);
	cJSON_Delete(evs);
	assert_landed_once(api, (const char *[]){ "one (api#1)", NULL });
	tip = scenario_git(remote, (const char *[]){ "rev-parse", "waved", NULL });
	cr_assert_str_eq(tip, main_tip, "the remote took nothing");
	run_result_free(&r);
	free(tip);
	free(main_tip);
	free(hook);
	free(hooks);
	free(remote);
	free(api);
}

/* A push the remote refuses (here its hook, once) is taken in and pushed again, in the attempt. */
Test(e2e_merge, a_push_the_remote_refuses_is_pushed_again_in_the_same_attempt)
{
	char *api = scenario_repo(sc, "api"), *remote = xasprintf("%s/remote.git", sc->dir);
	char *hooks = xasprintf("%s/hooks", remote), *hook, *script, *path, *log;
	char *local, *pushed;
	struct run_result r;
	cJSON *evs;

	free(scenario_git(sc->dir, (const char *[]){ "clone", "-q", "--bare", api, remote, NULL }));
	free(scenario_git(api, (const char *[]){ "remote", "add", "origin", remote, NULL }));
	script = xasprintf("#!/bin/sh\nif mkdir %s/refused-once 2>/dev/null; then\n"
	    "  echo 'not now' >&2; exit 1\nfi\n", sc->dir);
	hook = write_text(hooks, "pre-receive", script);
	cr_assert_eq(chmod(hook, 0755), 0);
	scenario_config(sc, "max_attempts = 1",
	    "[phase \"implement\"]\nrun = echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt\n");
	config_push_origin();
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"one\"}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "failed", "api#1"), 0, "a refusal is no tempfail");
	cr_assert_eq(ev_number(evs, ev_find(evs, "done", "api#1", 0), "attempt"), 1);
	path = xasprintf("%s/logs/api/1/attempt-1.log", sc->state);
	log = read_file(path, NULL);
	cr_assert(log && strstr(log, ": refused\n") && strstr(strstr(log, ": refused\n"), ": ok\n"),
	    "refused, then taken in and pushed: %s", log ? log : "");
	assert_landed_once(remote, (const char *[]){ "one (api#1)", NULL });
	local = scenario_git(api, (const char *[]){ "rev-parse", "waved", NULL });
	pushed = scenario_git(remote, (const char *[]){ "rev-parse", "waved", NULL });
	cr_assert_str_eq(local, pushed);
	cJSON_Delete(evs);
	run_result_free(&r);
	free(local);
	free(pushed);
	free(log);
	free(path);
	free(hook);
	free(script);
	free(hooks);
	free(remote);
	free(api);
}
