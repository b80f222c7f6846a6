/*
 * End to end: crash recovery (DESIGN.md sections 3 and 7), proved by killing
 * real processes: workers, phases holding the merge lock, the daemon itself.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "tests/lib/scenario.h"

SCENARIO_SUITE(e2e_recover, 240);

/* The pid of the worker of the issue's latest admission. */
static pid_t
worker_of(const char *issue)
{
	cJSON *evs = scenario_events(sc);
	int k = -1, at;
	pid_t pid;

	for (at = ev_find(evs, "admitted", issue, 0); at >= 0; at = ev_find(evs, "admitted", issue, at + 1))
		k = at;
	pid = k >= 0 ? (pid_t)ev_number(evs, k, "pid") : -1;
	cJSON_Delete(evs);
	return pid;
}

/* Does any process that is not a zombie belong to process group pgid? */
static bool
group_alive(pid_t pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	bool alive = false;

	while (d && !alive && (de = readdir(d)) != NULL) {
		char *path, *stat, *close_paren;
		char state;
		int ppid, pgrp;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		path = xasprintf("/proc/%s/stat", de->d_name);
		stat = read_file(path, NULL);
		free(path);
		/* pid (comm) state ppid pgrp ...: comm may hold spaces, so parse after ')'. */
		if (stat && (close_paren = strrchr(stat, ')')) != NULL &&
		    sscanf(close_paren + 1, " %c %d %d", &state, &ppid, &pgrp) == 3)
			alive = pgrp == pgid && state != 'Z';
		free(stat);
	}
	if (d)
		closedir(d);
	return alive;
}

/* No process is left in any phase group or worker the events name. */
static void
assert_nothing_left_running(void)
{
	cJSON *evs = scenario_events(sc);
	const cJSON *e;

	cJSON_ArrayForEach(e, evs) {
		const char *name = cJSON_GetObjectItem(e, "event")->valuestring;
		const cJSON *pid = cJSON_GetObjectItem(e, strcmp(name, "admitted") == 0 ? "pid" : "pgid");

		if ((strcmp(name, "admitted") != 0 && strcmp(name, "phase_start") != 0) ||
		    !cJSON_IsNumber(pid))
			continue;
		if (strcmp(name, "admitted") == 0)
			cr_assert(process_gone((pid_t)pid->valueint), "worker %d is still running",
			    pid->valueint);
		else
			cr_assert(!group_alive((pid_t)pid->valueint),
			    "a process of phase group %d is still running", pid->valueint);
	}
	cJSON_Delete(evs);
}

/* Nothing left in STATE/worktrees/REPO/. */
static void
assert_no_worktrees(const char *repo)
{
	char *path = xasprintf("%s/worktrees/%s", sc->state, repo);
	DIR *d = opendir(path);
	struct dirent *de;

	while (d && (de = readdir(d)) != NULL)
		cr_assert(de->d_name[0] == '.', "worktree %s/%s left behind", path, de->d_name);
	if (d)
		closedir(d);
	free(path);
}

static void
assert_once_on(const char *repo_path, const char *subject)
{
	char *log = scenario_git(repo_path, (const char *[]){ "log", "--no-merges", "--format=%s",
	    "waved", NULL });

	cr_assert_eq(count_lines_equal(log, subject), 1, "\"%s\" once in:\n%s", subject, log);
	free(log);
}

/* One issue; its worker is killed -9 once the given event is seen. */
static void
kill_worker_at(const char *event, const char *phase_filter, const char *phases,
    const char *expect_resume)
{
	char *api = scenario_repo(sc, "api");
	cJSON *evs;
	pid_t pid, worker;

	scenario_config(sc, "max_attempts = 3", phases);
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"crashy\"}]");
	pid = scenario_start(sc, (const char *[]){ "--once", "-c", sc->conf, NULL });
	for (;;) {
		cr_assert(scenario_await(sc, event, "api#1", 1, 30), "no %s event", event);
		evs = scenario_events(sc);
		int k = ev_find(evs, event, "api#1", 0);
		bool match = phase_filter == NULL;
		for (; k >= 0 && !match; k = ev_find(evs, event, "api#1", k + 1))
			match = strcmp(ev_string(evs, k, "phase"), phase_filter) == 0;
		cJSON_Delete(evs);
		if (match)
			break;
		nap_ms(20);
	}
	worker = worker_of("api#1");
	cr_assert_gt(worker, 0);
	kill(worker, SIGKILL);
	cr_assert_eq(scenario_wait(pid, 120), 0, "the issue should still land");
	evs = scenario_events(sc);
	int crash = ev_find(evs, "worker_crashed", "api#1", 0);
	cr_assert_geq(crash, 0);
	cr_assert_eq(ev_number(evs, crash, "signal"), SIGKILL);
	int rec = ev_find(evs, "recovered", "api#1", crash);
	cr_assert_geq(rec, 0);
	cr_assert_str_eq(ev_string(evs, rec, "action"), expect_resume ? "resume" : "reset");
	if (expect_resume)
		cr_assert_str_eq(ev_string(evs, rec, "phase"), expect_resume);
	cr_assert_eq(ev_count(evs, "done", "api#1"), 1);
	cJSON_Delete(evs);
	assert_once_on(api, "crashy (api#1)");
	assert_no_worktrees("api");
	assert_nothing_left_running();
	free(api);
}

#define SLOW_IMPLEMENT "[phase \"implement\"]\nrun = echo $WAVED_ATTEMPT >> f.txt; " \
	"[ -e ../../../crashed-once ] || { touch ../../../crashed-once; sleep 60; }\n"

Test(e2e_recover, worker_killed_during_implement)
{
	kill_worker_at("phase_start", "implement", SLOW_IMPLEMENT, "implement");
}

Test(e2e_recover, worker_killed_during_review)
{
	kill_worker_at("phase_start", "review",
	    "[phase \"implement\"]\nrun = echo done > f.txt\n"
	    "[phase \"review\"]\nrun = [ -e ../../../crashed-once ] || "
	    "{ touch ../../../crashed-once; sleep 60; }\n", "review");
}

Test(e2e_recover, worker_killed_while_holding_the_merge_lock)
{
	kill_worker_at("merge_locked", NULL,
	    "[phase \"implement\"]\nrun = echo done > f.txt\n"
	    "[merge]\ncheck = [ -e ../../../../crashed-once ] || "
	    "{ touch ../../../../crashed-once; sleep 60; }\n", "merge");
}

/*
 * A landing without a push deletes the issue's branch in the transaction
 * that moves the agent branch.  Its worker is killed -9 right after that
 * transaction, before it can say merged: recovery finds no branch, and the
 * head the last phase recorded on the agent branch, and calls it done,
 * without a second attempt and without landing anything twice.  The agent
 * packs the refs, so that the transaction is git's (deleting a packed
 * branch is left to git, git_refs.h), and a git on PATH kills its parent
 * once update-ref --stdin has succeeded.
 */
Test(e2e_recover, worker_killed_right_after_its_landing_deleted_the_branch)
{
	char *api = scenario_repo(sc, "api"), *git = scenario_real_git();
	char *script = xasprintf("#!/bin/sh\n"
	    "case \" $* \" in *\" update-ref \"*\" --stdin \"*)\n"
	    "  %s \"$@\" || exit\n"
	    "  mkdir %s/killed 2>/dev/null && kill -9 $PPID\n"
	    "  exit 0 ;;\n"
	    "esac\n"
	    "exec %s \"$@\"\n", git, sc->dir, git);
	cJSON *evs;

	scenario_git_first(sc, script);
	scenario_config(sc, "max_attempts = 1", "[phase \"implement\"]\n"
	    "run = echo done > f.txt && git pack-refs --all\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"landed\"}]");
	evs = scenario_once_ok(sc);
	int crash = ev_find(evs, "worker_crashed", "api#1", 0);
	cr_assert_geq(crash, 0, "the worker was not killed after its landing");
	cr_assert_eq(ev_number(evs, crash, "signal"), SIGKILL);
	cr_assert_lt(ev_find(evs, "merged", "api#1", 0), 0, "it could not say merged");
	int rec = ev_find(evs, "recovered", "api#1", crash);
	cr_assert_geq(rec, 0);
	cr_assert_str_eq(ev_string(evs, rec, "action"), "done");
	cr_assert_eq(ev_count(evs, "done", "api#1"), 1);
	cr_assert_eq(ev_count(evs, "admitted", "api#1"), 1, "no second attempt");
	cJSON_Delete(evs);
	assert_once_on(api, "landed (api#1)");
	char *branches = scenario_git(api, (const char *[]){ "branch", "--list", "waved-issue/*",
	    NULL });
	cr_assert_str_empty(branches, "the landing deleted the branch: %s", branches);
	free(branches);
	assert_no_worktrees("api");
	assert_nothing_left_running();
	free(script);
	free(git);
	free(api);
}

/*
 * With a push remote the merge queue moves the agent branch, then pushes
 * (DESIGN.md section 6).  The worker is killed -9 around its push (a git on
 * PATH kills its parent once: before the push when after is false, right
 * after the remote took it when true).  Either way recovery finds the
 * landing here, and not known pushed (the remote-tracking ref is moved
 * only after a push): it resumes the attempt at the merge, whose pass finds
 * the work here and only pushes.  The agent works once; the issue lands
 * once, here and on the remote, which ends where the agent branch is.
 */
static void
kill_worker_around_its_push(bool after)
{
	char *api = scenario_repo(sc, "api"), *git = scenario_real_git();
	char *remote = xasprintf("%s/remote.git", sc->dir), *conf, *with_push;
	char *script = xasprintf("#!/bin/sh\n"
	    "case \" $* \" in *\" push \"*)\n"
	    "  if mkdir %s/killed 2>/dev/null; then\n"
	    "    %s%s\n"
	    "    kill -9 $PPID; exit 1\n"
	    "  fi ;;\n"
	    "esac\n"
	    "exec %s \"$@\"\n", sc->dir, after ? git : "", after ? " \"$@\"" : ":", git);
	char *local, *pushed;
	cJSON *evs;

	free(scenario_git(sc->dir, (const char *[]){ "clone", "-q", "--bare", api, remote, NULL }));
	free(scenario_git(api, (const char *[]){ "remote", "add", "origin", remote, NULL }));
	/* No fetch refspec: git's own push does not move refs/remotes/origin/waved
	 * (with one, it would, and recovery would rightly find the push done). */
	free(scenario_git(api, (const char *[]){ "config", "--unset", "remote.origin.fetch", NULL }));
	scenario_git_first(sc, script);
	/* One attempt: a landing whose push is all that is left uses none. */
	scenario_config(sc, "max_attempts = 1", "[phase \"implement\"]\nrun = echo done > f.txt\n");
	conf = read_file(sc->conf, NULL);
	with_push = xasprintf("%spush = origin\n", conf);
	free(write_text(sc->dir, "waved.conf", with_push));
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"landed\"}]");
	evs = scenario_once_ok(sc);
	int crash = ev_find(evs, "worker_crashed", "api#1", 0);
	cr_assert_geq(crash, 0, "the worker was not killed at its push");
	int rec = ev_find(evs, "recovered", "api#1", crash);
	cr_assert_geq(rec, 0);
	cr_assert_str_eq(ev_string(evs, rec, "action"), "resume");
	cr_assert_str_eq(ev_string(evs, rec, "phase"), "merge");
	local = scenario_git(api, (const char *[]){ "rev-parse", "waved", NULL });
	cr_assert_str_eq(ev_string(evs, rec, "landed"), local, "only its push was left: no attempt used");
	free(local);
	cr_assert_eq(ev_count(evs, "merged", "api#1"), 1);
	cr_assert_eq(ev_count(evs, "done", "api#1"), 1);
	cr_assert_eq(ev_count_with(evs, "phase_start", "api#1", "phase", "implement"), 1,
	    "the agent's work was not done again");
	cJSON_Delete(evs);
	assert_once_on(api, "landed (api#1)");
	assert_once_on(remote, "landed (api#1)");
	local = scenario_git(api, (const char *[]){ "rev-parse", "waved", NULL });
	pushed = scenario_git(remote, (const char *[]){ "rev-parse", "waved", NULL });
	cr_assert_str_eq(local, pushed, "done is pushed");
	assert_no_worktrees("api");
	assert_nothing_left_running();
	free(local);
	free(pushed);
	free(with_push);
	free(conf);
	free(script);
	free(remote);
	free(git);
	free(api);
}

Test(e2e_recover, worker_killed_between_its_landing_and_its_push)
{
	kill_worker_around_its_push(false);
}

Test(e2e_recover, worker_killed_right_after_the_remote_took_its_push)
{
	kill_worker_around_its_push(true);
}

/*
 * The daemon is killed -9 while a worker's phase ignores SIGTERM: the
 * worker outlives it by its kill grace, holding its issue's lock.  The next
 * start finds it by that lock, waits for it to end, and only then asks git
 * what became of the attempt.
 */
Test(e2e_recover, an_orphaned_worker_is_found_by_its_lock_after_the_daemon_dies)
{
	char *api = scenario_repo(sc, "api"), *log;
	pid_t pid, worker;
	cJSON *evs;

	scenario_config(sc, "kill_grace = 10", "[phase \"implement\"]\nrun = echo $WAVED_ATTEMPT >> f.txt; "
	    "[ -e ../../../orphaned-once ] || { trap '' TERM; touch ../../../orphaned-once; "
	    "exec sleep 60; }\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"orphan\"}]");
	pid = scenario_start(sc, (const char *[]){ "--once", "-c", sc->conf, NULL });
	/* The phase says when it ignores SIGTERM. */
	char *marker = xasprintf("%s/orphaned-once", sc->state);
	for (int k = 0; access(marker, F_OK) != 0; k++) {
		cr_assert_lt(k, 3000, "the phase did not start");
		nap_ms(20);
	}
	free(marker);
	worker = worker_of("api#1");
	cr_assert_gt(worker, 0);
	kill(pid, SIGKILL);
	cr_assert_eq(scenario_wait(pid, 30), 128 + SIGKILL);
	/* Its phase ignores the SIGTERM that the daemon's death sent: the worker
	 * waits out kill_grace before it kills it. */
	cr_assert_not(process_gone(worker), "worker %d should outlive the daemon", (int)worker);
	pid = scenario_start(sc, (const char *[]){ "--once", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "recovered", "api#1", 1, 60));
	cr_assert(process_gone(worker), "recovery began while worker %d still ran", (int)worker);
	cr_assert_eq(scenario_wait(pid, 120), 0, "the issue should still land");
	log = xasprintf("%s/waved.out", sc->dir);
	char *out = read_file(log, NULL), *want = xasprintf("api#1: worker %d of a previous run "
	    "still holds its lock", (int)worker);
	evs = scenario_events(sc);
	cr_assert(out && strstr(out, want), "expected \"%s\" in:\n%s", want, out);
	cr_assert_eq(ev_count(evs, "done", "api#1"), 1);
	cJSON_Delete(evs);
	assert_once_on(api, "orphan (api#1)");
	assert_nothing_left_running();
	free(want);
	free(out);
	free(log);
	free(api);
}

Test(e2e_recover, a_failing_phase_backs_off_then_dies_and_retry_revives)
{
	struct run_result r;
	cJSON *evs;
	pid_t pid;

	free(scenario_repo(sc, "api"));
	free(scenario_repo(sc, "web"));
	char *phases = xasprintf("[phase \"implement\"]\nrun = [ -e %s/fixed ] || "
	    "{ echo 'cannot do it'; exit 1; }; echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt\n", sc->dir);
	/* retry_backoff 1: waits of 1 s, then 2 s. */
	scenario_config(sc, "max_attempts = 3\nretry_backoff = 1", phases);
	free(phases);
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"hard\"},"
	    "{\"repo\":\"web\",\"number\":1,\"title\":\"after\",\"depends_on\":[\"api#1\"]}]");
	pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "blocked", "web#1", 1, 60));
	evs = scenario_events(sc);
	int first = ev_find(evs, "retry_scheduled", "api#1", 0);
	int second = ev_find(evs, "retry_scheduled", "api#1", first + 1);
	cr_assert_eq(ev_number(evs, first, "backoff_ms"), 1000);
	cr_assert_eq(ev_number(evs, second, "backoff_ms"), 2000, "the backoff doubles");
	cr_assert_eq(ev_count(evs, "admitted", "api#1"), 3);
	int dead = ev_find(evs, "dead", "api#1", 0);
	cr_assert_str_eq(ev_string(evs, dead, "reason"), "implement failed (exit 1): cannot do it");
	cr_assert_eq(ev_find(evs, "admitted", "web#1", 0), -1);
	cJSON_Delete(evs);

	r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf, "status", NULL });
	cr_assert(strstr(r.out, "cannot do it"), "status shows the reason: %s", r.out);
	cr_assert(strstr(r.out, "dependency api#1 is dead"), "%s", r.out);
	run_result_free(&r);

	/* Retrying the dependent alone cannot help while api#1 is dead. */
	r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf, "retry", "web#1", NULL });
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "still blocked: dependency api#1 is dead"), "%s", r.err);
	run_result_free(&r);

	/* Fixed outside: retry revives api#1, and web#1 with it. */
	free(write_text(sc->dir, "fixed", ""));
	r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf, "retry", "api#1", NULL });
	cr_assert_eq(r.status, 0, "%s %s", r.out, r.err);
	run_result_free(&r);
	cr_assert(scenario_await(sc, "done", "web#1", 1, 60));
	evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "done", "api#1"), 1);
	cr_assert_eq(ev_number(evs, ev_find(evs, "done", "api#1", 0), "attempt"), 1,
	    "a retried issue starts its attempts over");
	cJSON_Delete(evs);
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
}

/* The daemon is killed -9 again and again while about 20 issues run. */
Test(e2e_recover, chaos_kill_the_daemon_at_random_moments, .timeout = 400)
{
	const char *repos[] = { "r1", "r2", "r3", "r4" };
	char *paths[4];
	struct strbuf issues = { 0 };
	uint64_t rng = 0x2545f4914f6cdd1dULL;
	int kills = 0;
	cJSON *evs;

	for (int k = 0; k < 4; k++)
		paths[k] = scenario_repo(sc, repos[k]);
	scenario_config(sc, "max_attempts = 3\ncap = 3",
	    "[phase \"implement\"]\nrun = echo \"$WAVED_ISSUE\" > f-$WAVED_NUMBER.txt; sleep 0.2\n"
	    "[phase \"verify\"]\nrun = sleep 0.1\n"
	    "[phase \"review\"]\nrun = sleep 0.1\n");
	strbuf_add(&issues, "[");
	for (int n = 1; n <= 5; n++)
		for (int k = 0; k < 4; k++)
			strbuf_addf(&issues, "%s{\"repo\":\"%s\",\"number\":%d,\"title\":\"%s-%d\"%s}",
			    issues.len > 1 ? "," : "", repos[k], n, repos[k], n,
			    n > 1 && k == 0 ? ",\"depends_on\":[\"r2#1\"]" : "");
	strbuf_add(&issues, "]");
	scenario_issues(sc, issues.s);
	strbuf_free(&issues);

	while (kills < 12) {
		pid_t pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
		/* Started (slow under the sanitizers), then a moment from 0.2 to 1.2 s into the run. */
		cr_assert(scenario_await(sc, "started", NULL, kills + 1, 60));
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		nap_ms(200 + (int)(rng % 1000));
		kill(pid, SIGKILL);
		cr_assert_eq(scenario_wait(pid, 30), 128 + SIGKILL);
		kills++;
	}
	struct run_result r = scenario_once(sc, NULL);
	if (r.status != 0) {
		struct run_result st = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf,
		    "status", NULL });
		cr_assert_fail("after %d kills every issue should land: %s\n%s", kills, r.err, st.out);
	}
	run_result_free(&r);

	evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "done", NULL), 20, "every issue done exactly once");
	cr_assert_eq(ev_count(evs, "started", NULL), kills + 1);
	/* Each restart evaluates at most cap issues. */
	for (int k = ev_find(evs, "started", NULL, 0); k >= 0; k = ev_find(evs, "started", NULL, k + 1)) {
		int next = ev_find(evs, "started", NULL, k + 1), recovered = 0;
		for (int j = ev_find(evs, "recovered", NULL, k); j >= 0 && (next < 0 || j < next);
		    j = ev_find(evs, "recovered", NULL, j + 1))
			recovered++;
		cr_assert_leq(recovered, 3, "a restart evaluated %d issues with cap 3", recovered);
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, evs) {
		const cJSON *attempt = cJSON_GetObjectItem(e, "attempt");
		if (cJSON_IsNumber(attempt))
			cr_assert_leq(attempt->valueint, 3, "attempt %d past max_attempts", attempt->valueint);
	}
	cJSON_Delete(evs);
	for (int k = 0; k < 4; k++) {
		for (int n = 1; n <= 5; n++) {
			char subject[64];
			snprintf(subject, sizeof(subject), "%s-%d (%s#%d)", repos[k], n, repos[k], n);
			assert_once_on(paths[k], subject);
		}
		assert_no_worktrees(repos[k]);
		free(paths[k]);
	}
	assert_nothing_left_running();
}
