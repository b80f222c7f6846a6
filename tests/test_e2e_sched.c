/*
 * End to end: the real waved on real repositories, judged by its events and
 * the git history it leaves (DESIGN.md sections 3, 4, 5, 13).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/store.h"
#include "common/util.h"
#include "tests/lib/scenario.h"

SCENARIO_SUITE(e2e_sched, 180);

/* An implement phase that changes a file of its own and takes a moment. */
#define IMPLEMENT(sleep) \
	"[phase \"implement\"]\nrun = echo \"$WAVED_ISSUE\" > change-$WAVED_NUMBER.txt; sleep " sleep "\n"

/* Do the intervals [start_a, end_a] and [start_b, end_b] (event positions) overlap? */
static bool
overlap(const cJSON *evs, const char *name_start, const char *name_end, const char *a,
    const char *b)
{
	int sa = ev_find(evs, name_start, a, 0), ea = ev_find(evs, name_end, a, sa);
	int sb = ev_find(evs, name_start, b, 0), eb = ev_find(evs, name_end, b, sb);

	cr_assert(sa >= 0 && ea >= 0 && sb >= 0 && eb >= 0, "missing %s/%s of %s or %s",
	    name_start, name_end, a, b);
	return sa < eb && sb < ea;
}

/*
 * Walk the log counting issues in flight (admitted .. done/failed) against
 * the effective cap of the moment; returns the largest in-flight count seen.
 */
static int
check_cap_respected(const cJSON *evs, int cap)
{
	int inflight = 0, effective = cap, most = 0;
	const cJSON *e;

	cJSON_ArrayForEach(e, evs) {
		const char *name = cJSON_GetObjectItem(e, "event")->valuestring;

		if (strcmp(name, "cap_changed") == 0)
			effective = cJSON_GetObjectItem(e, "effective")->valueint;
		else if (strcmp(name, "admitted") == 0) {
			inflight++;
			cr_assert_leq(inflight, effective, "admitted %s with %d in flight, cap %d",
			    cJSON_GetObjectItem(e, "issue")->valuestring, inflight, effective);
		} else if (strcmp(name, "done") == 0 || strcmp(name, "failed") == 0)
			inflight--;
		if (inflight > most)
			most = inflight;
	}
	return most;
}

Test(e2e_sched, repos_run_in_parallel_and_each_repo_in_sequence)
{
	cJSON *evs;
	struct run_result r;
	char *log;

	free(scenario_repo(sc, "api"));
	free(scenario_repo(sc, "web"));
	/* Each repo's first implement waits to see the other repo's start: only
	 * parallel repos can pass (a serial run would end on the timeout). */
	scenario_config(sc, NULL, "[phase \"implement\"]\nrun = echo $WAVED_ISSUE > c-$WAVED_NUMBER.txt; "
	    "touch ../../../started-$WAVED_REPO; "
	    "until [ -e ../../../started-api ] && [ -e ../../../started-web ]; do sleep 0.05; done\n"
	    "timeout = 30\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"a1\"},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"a2\"},"
	    "{\"repo\":\"web\",\"number\":1,\"title\":\"w1\"}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "waved --once: %s", r.err);
	evs = scenario_events(sc);
	cr_assert(overlap(evs, "phase_start", "phase_end", "api#1", "web#1"),
	    "two repos should implement at the same time");
	cr_assert(!overlap(evs, "admitted", "slot_released", "api#1", "api#2"),
	    "one repo must hold one issue at a time");
	cr_assert(!overlap(evs, "phase_start", "phase_end", "api#1", "api#2"));
	cr_assert_eq(ev_count(evs, "done", NULL), 3);
	/* Each change landed on the agent branch, exactly once. */
	char *api = xasprintf("%s/repos/api", sc->dir);
	log = scenario_git(api, (const char *[]){ "log", "--no-merges", "--format=%s", "waved", NULL });
	cr_assert(strcmp(log, "a2 (api#2)\na1 (api#1)\nseed") == 0 ||
	    strcmp(log, "a1 (api#1)\na2 (api#2)\nseed") == 0,
	    "each change once on the agent branch: %s", log);
	free(log);
	free(api);
	cJSON_Delete(evs);
	run_result_free(&r);
}

Test(e2e_sched, cap_1_runs_everything_in_sequence)
{
	cJSON *evs;
	struct run_result r;

	free(scenario_repo(sc, "a"));
	free(scenario_repo(sc, "b"));
	free(scenario_repo(sc, "c"));
	scenario_config(sc, "cap = 1", IMPLEMENT("0.1"));
	scenario_issues(sc, "[{\"repo\":\"a\",\"number\":1,\"title\":\"a\"},"
	    "{\"repo\":\"b\",\"number\":1,\"title\":\"b\"},"
	    "{\"repo\":\"c\",\"number\":1,\"title\":\"c\"}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	evs = scenario_events(sc);
	cr_assert_eq(check_cap_respected(evs, 1), 1);
	cr_assert(!overlap(evs, "admitted", "done", "a#1", "b#1"));
	cr_assert(!overlap(evs, "admitted", "done", "b#1", "c#1"));
	cr_assert(!overlap(evs, "admitted", "done", "a#1", "c#1"));
	cJSON_Delete(evs);
	run_result_free(&r);
}

Test(e2e_sched, cap_lever_steps_down_pauses_and_restores)
{
	struct strbuf issues = { 0 };
	const char *repos[] = { "r1", "r2", "r3" };
	cJSON *evs;
	pid_t pid;
	int last_admitted;

	for (int k = 0; k < 3; k++)
		free(scenario_repo(sc, repos[k]));
	scenario_config(sc, "cap = 3", IMPLEMENT("0.4"));
	strbuf_add(&issues, "[");
	for (int n = 1; n <= 5; n++)
		for (int k = 0; k < 3; k++)
			strbuf_addf(&issues, "%s{\"repo\":\"%s\",\"number\":%d,\"title\":\"t\"}",
			    issues.len > 1 ? "," : "", repos[k], n);
	strbuf_add(&issues, "]");
	scenario_issues(sc, issues.s);
	strbuf_free(&issues);
	pid = scenario_start(sc, (const char *[]){ "--once", "-c", sc->conf, NULL });

	cr_assert(scenario_await(sc, "admitted", NULL, 3, 30), "three should start at cap 3");
	/* Signals of one kind do not queue: send each step once the last one is seen. */
	kill(pid, SIGUSR1);
	cr_assert(scenario_await(sc, "cap_changed", NULL, 1, 30));
	kill(pid, SIGUSR1);
	cr_assert(scenario_await(sc, "cap_changed", NULL, 2, 30));
	/* At cap 1, admissions go one at a time: wait for two of them. */
	evs = scenario_events(sc);
	int base = ev_count(evs, "admitted", NULL);
	cJSON_Delete(evs);
	cr_assert(scenario_await(sc, "admitted", NULL, base + 2, 60));
	kill(pid, SIGUSR2);
	cr_assert(scenario_await(sc, "cap_changed", NULL, 3, 30));
	/* Back at cap 2: two issues run at once again. */
	int64_t deadline = mono_ms() + 60000;
	bool parallel = false;
	while (!parallel && mono_ms() < deadline) {
		evs = scenario_events(sc);
		int from = ev_find(evs, "cap_changed", NULL, 0);
		from = ev_find(evs, "cap_changed", NULL, from + 1);
		from = ev_find(evs, "cap_changed", NULL, from + 1);
		for (int k = ev_find(evs, "admitted", NULL, from); k >= 0 && !parallel;
		    k = ev_find(evs, "admitted", NULL, k + 1))
			parallel = ev_number(evs, k, "inflight") == 2;
		cJSON_Delete(evs);
		nap_ms(20);
	}
	cr_assert(parallel, "SIGUSR2 should restore two at a time");
	/* Down to 0: paused.  In-flight work finishes; nothing new starts. */
	kill(pid, SIGUSR1);
	cr_assert(scenario_await(sc, "cap_changed", NULL, 4, 30));
	kill(pid, SIGUSR1);
	cr_assert(scenario_await(sc, "cap_changed", NULL, 5, 30));
	deadline = mono_ms() + 60000;
	for (;;) {
		evs = scenario_events(sc);
		int admitted = ev_count(evs, "admitted", NULL);
		int ended = ev_count(evs, "done", NULL) + ev_count(evs, "failed", NULL);
		cJSON_Delete(evs);
		if (admitted == ended)
			break;
		cr_assert_lt(mono_ms(), deadline, "in-flight work should finish while paused");
		nap_ms(20);
	}
	evs = scenario_events(sc);
	last_admitted = ev_find(evs, "admitted", NULL, 0);
	for (int k = last_admitted; k >= 0; k = ev_find(evs, "admitted", NULL, k + 1))
		last_admitted = k;
	int paused_at = ev_find(evs, "cap_changed", NULL, 0);
	for (int k = paused_at; k >= 0; k = ev_find(evs, "cap_changed", NULL, k + 1))
		paused_at = k;
	cr_assert_eq(ev_number(evs, paused_at, "effective"), 0);
	cr_assert_lt(last_admitted, paused_at, "nothing may be admitted while paused");
	cr_assert_lt(ev_count(evs, "done", NULL), 15, "the backlog should still wait");
	cJSON_Delete(evs);
	kill(pid, SIGUSR2);
	cr_assert_eq(scenario_wait(pid, 120), 0);
	evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "done", NULL), 15);
	check_cap_respected(evs, 3);
	cJSON_Delete(evs);
}

Test(e2e_sched, dependents_wait_for_done_and_a_dead_dependency_blocks)
{
	cJSON *evs;
	struct run_result r;

	free(scenario_repo(sc, "api"));
	free(scenario_repo(sc, "web"));
	scenario_config(sc, "max_attempts = 1",
	    "[phase \"implement\"]\nrun = test \"$WAVED_TITLE\" != broken && echo x > f-$WAVED_NUMBER; "
	    "test \"$WAVED_TITLE\" != broken\n");
	scenario_issues(sc, "["
	    "{\"repo\":\"web\",\"number\":2,\"title\":\"needs api 2\",\"depends_on\":[\"api#2\"]},"
	    "{\"repo\":\"api\",\"number\":1,\"title\":\"broken\"},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"fine\"},"
	    "{\"repo\":\"web\",\"number\":1,\"title\":\"needs api 1\",\"depends_on\":[\"api#1\"]},"
	    "{\"repo\":\"web\",\"number\":3,\"title\":\"needs web 1\",\"depends_on\":[\"#1\"]}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 1, "a dead issue means exit 1: %s", r.err);
	evs = scenario_events(sc);
	cr_assert_gt(ev_find(evs, "admitted", "web#2", 0), ev_find(evs, "done", "api#2", 0),
	    "web#2 must wait for api#2 to be done");
	cr_assert_geq(ev_find(evs, "dead", "api#1", 0), 0);
	cr_assert_eq(ev_find(evs, "admitted", "web#1", 0), -1, "a dependent of a dead issue never runs");
	cr_assert_eq(ev_find(evs, "admitted", "web#3", 0), -1);
	int b = ev_find(evs, "blocked", "web#1", 0);
	cr_assert_geq(b, 0);
	cr_assert_str_eq(ev_string(evs, b, "reason"), "dependency api#1 is dead");
	cr_assert_str_eq(ev_string(evs, ev_find(evs, "blocked", "web#3", 0), "reason"),
	    "dependency web#1 is blocked");
	cJSON_Delete(evs);
	run_result_free(&r);

	r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf, "status", "--json", NULL });
	cJSON *st = json_parse_or_fail(r.out);
	cJSON *counts = cJSON_GetObjectItem(st, "counts");
	cr_assert_eq(cJSON_GetObjectItem(counts, "done")->valueint, 2);
	cr_assert_eq(cJSON_GetObjectItem(counts, "dead")->valueint, 1);
	cr_assert_eq(cJSON_GetObjectItem(counts, "blocked")->valueint, 2);
	cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(st, "running")));
	cJSON_Delete(st);
	run_result_free(&r);
}

Test(e2e_sched, a_busy_repo_does_not_hold_back_the_others)
{
	struct strbuf issues = { 0 };
	cJSON *evs;
	struct run_result r;

	free(scenario_repo(sc, "big"));
	free(scenario_repo(sc, "s1"));
	free(scenario_repo(sc, "s2"));
	free(scenario_repo(sc, "s3"));
	scenario_config(sc, "cap = 2", IMPLEMENT("0.3"));
	strbuf_add(&issues, "[");
	for (int n = 1; n <= 5; n++)
		strbuf_addf(&issues, "{\"repo\":\"big\",\"number\":%d,\"title\":\"big\"},", n);
	strbuf_add(&issues, "{\"repo\":\"s1\",\"number\":1,\"title\":\"s\"},"
	    "{\"repo\":\"s2\",\"number\":1,\"title\":\"s\"},"
	    "{\"repo\":\"s3\",\"number\":1,\"title\":\"s\"}]");
	scenario_issues(sc, issues.s);
	strbuf_free(&issues);
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	evs = scenario_events(sc);
	int big4 = ev_find(evs, "admitted", "big#4", 0);
	cr_assert_gt(big4, 0);
	cr_assert_lt(ev_find(evs, "admitted", "s1#1", 0), big4);
	cr_assert_lt(ev_find(evs, "admitted", "s2#1", 0), big4);
	cr_assert_lt(ev_find(evs, "admitted", "s3#1", 0), big4);
	cr_assert_eq(check_cap_respected(evs, 2), 2);
	cJSON_Delete(evs);
	run_result_free(&r);
}

Test(e2e_sched, a_timeout_kills_the_whole_process_group)
{
	cJSON *evs;
	struct run_result r;
	char *pidfile, *text;
	long bg;

	free(scenario_repo(sc, "api"));
	scenario_config(sc, "max_attempts = 1",
	    "[phase \"implement\"]\nrun = sleep 300 & echo $! > ../../../bg.pid; sleep 300\ntimeout = 1\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"slow\"}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 1, "%s", r.err);
	evs = scenario_events(sc);
	int f = ev_find(evs, "failed", "api#1", 0);
	cr_assert_geq(f, 0);
	cr_assert_str_eq(ev_string(evs, f, "outcome"), "timeout");
	pidfile = xasprintf("%s/state/bg.pid", sc->dir);
	text = read_file(pidfile, NULL);
	cr_assert_not_null(text, "the phase should have written %s", pidfile);
	bg = atol(text);
	cr_assert_gt(bg, 0);
	cr_assert(process_gone((pid_t)bg), "the background sleep %ld survived its phase", bg);
	free(text);
	free(pidfile);
	cJSON_Delete(evs);
	run_result_free(&r);
}

Test(e2e_sched, exit_75_requeues_without_consuming_an_attempt)
{
	cJSON *evs;
	struct run_result r;

	free(scenario_repo(sc, "api"));
	/* The first run asks for a retry; with one attempt allowed, only a requeue can pass. */
	scenario_config(sc, "max_attempts = 1",
	    "[phase \"implement\"]\nrun = if [ ! -e ../../../once ]; then touch ../../../once; "
	    "exit 75; fi; echo done > f.txt\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"limited\"}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	evs = scenario_events(sc);
	int f = ev_find(evs, "failed", "api#1", 0);
	cr_assert_str_eq(ev_string(evs, f, "outcome"), "tempfail");
	int retry = ev_find(evs, "retry_scheduled", "api#1", f);
	cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetArrayItem(evs, retry), "counted")));
	int done = ev_find(evs, "done", "api#1", 0);
	cr_assert_eq(ev_number(evs, done, "attempt"), 1, "the tempfail must not use up an attempt");
	cJSON_Delete(evs);
	run_result_free(&r);
}

Test(e2e_sched, untrusted_issue_text_reaches_the_phase_unchanged_and_runs_nothing)
{
	const char *title = "$(touch PWNED1) `touch PWNED2`; touch PWNED3 \"q\" 'q' \\ | & > x";
	char *json = NULL, *api, *got, *file;
	cJSON *arr = cJSON_CreateArray(), *o = cJSON_CreateObject();
	struct run_result r;

	api = scenario_repo(sc, "api");
	scenario_config(sc, NULL, "[phase \"implement\"]\n"
	    "run = printf '%s' \"$WAVED_TITLE\" > title.out; cp \"$WAVED_ISSUE_FILE\" issue.out\n");
	cJSON_AddStringToObject(o, "repo", "api");
	cJSON_AddNumberToObject(o, "number", 7);
	cJSON_AddStringToObject(o, "title", title);
	cJSON_AddStringToObject(o, "body", "line one\n$(touch PWNED4)\n```sh\nrm -rf /\n```\n");
	cJSON_AddItemToArray(arr, o);
	json = cJSON_PrintUnformatted(arr);
	scenario_issues(sc, json);
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	got = scenario_git(api, (const char *[]){ "show", "waved:title.out", NULL });
	cr_assert_str_eq(got, title);
	free(got);
	file = scenario_git(api, (const char *[]){ "show", "waved:issue.out", NULL });
	cr_assert(strstr(file, "$(touch PWNED4)"), "%s", file);
	cr_assert(strstr(file, title), "%s", file);
	free(file);
	struct run_result find = run_argv(sc->dir, (const char *[]){ "find", ".", "-name", "PWNED*", NULL });
	cr_assert_str_eq(find.out, "", "issue text was executed: %s", find.out);
	run_result_free(&find);
	run_result_free(&r);
	free(json);
	free(api);
	cJSON_Delete(arr);
}

Test(e2e_sched, a_failing_verify_goes_back_to_implement_with_feedback)
{
	cJSON *evs;
	struct run_result r;
	char *api, *log;

	api = scenario_repo(sc, "api");
	/* verify fails until implement has run twice; the second implement must see feedback. */
	scenario_config(sc, "max_attempts = 1\nfix_rounds = 1",
	    "[phase \"implement\"]\nrun = echo run >> runs.txt; "
	    "if [ -n \"$WAVED_FEEDBACK_FILE\" ]; then grep -q 'verify failed' \"$WAVED_FEEDBACK_FILE\" "
	    "&& echo fed >> runs.txt; fi\n"
	    "[phase \"verify\"]\nrun = echo checking; test $(grep -c run runs.txt) -ge 2\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"t\"}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "phase_start", "api#1"), 4, "implement, verify, implement, verify");
	cr_assert_eq(ev_number(evs, ev_find(evs, "done", "api#1", 0), "attempt"), 1);
	log = scenario_git(api, (const char *[]){ "show", "waved:runs.txt", NULL });
	cr_assert_str_eq(log, "run\nrun\nfed");
	free(log);
	free(api);
	cJSON_Delete(evs);
	run_result_free(&r);
}

Test(e2e_sched, review_rejections_past_their_rounds_fail_the_attempt)
{
	cJSON *evs;
	struct run_result r;

	free(scenario_repo(sc, "api"));
	scenario_config(sc, "max_attempts = 1\nreview_rounds = 1",
	    "[phase \"implement\"]\nrun = date +%N >> work.txt\n"
	    "[phase \"review\"]\nrun = echo 'needs more tests'; exit 1\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"t\"}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 1, "%s", r.err);
	evs = scenario_events(sc);
	int failed = ev_find(evs, "failed", "api#1", 0);
	cr_assert_str_eq(ev_string(evs, failed, "reason"), "review failed (exit 1): needs more tests");
	cr_assert_eq(ev_count(evs, "phase_start", "api#1"), 4, "implement, review, implement, review");
	int implement = ev_find(evs, "phase_start", "api#1", 0);
	int review = ev_find(evs, "phase_start", "api#1", implement + 1);
	cr_assert_str_eq(ev_string(evs, review, "phase"), "review");
	cr_assert_lt(ev_find(evs, "slot_released", "api#1", 0), review,
	    "the repo slot is released on entering review");
	cJSON_Delete(evs);
	run_result_free(&r);
}

/*
 * DESIGN.md section 16 (pools): an issue waiting for its pool holds neither a
 * cap slot nor its repo's slot; the repo's next ready issue whose pool has
 * room goes first.  web#1 (the longer chain) takes pool heavy's one slot and
 * its phase waits until api#2 has started: api#1, older but in heavy too,
 * must not hold api#2 back (held back, web#1 would end on its timeout).
 */
Test(e2e_sched, a_light_issue_passes_a_heavy_one_of_its_repo_waiting_for_its_pool)
{
	cJSON *evs;
	struct run_result r;

	free(scenario_repo(sc, "api"));
	free(scenario_repo(sc, "web"));
	scenario_config(sc, "cap = 3", "[pool \"heavy\"]\ncap = 1\n"
	    "[phase \"implement\"]\nrun = echo $WAVED_ISSUE > c-$WAVED_NUMBER.txt; "
	    "touch ../../../started-$WAVED_REPO-$WAVED_NUMBER; "
	    "if [ $WAVED_REPO = web ] && [ $WAVED_NUMBER = 1 ]; then "
	    "until [ -e ../../../started-api-2 ]; do sleep 0.05; done; fi\n"
	    "timeout = 60\n");
	scenario_issues(sc, "["
	    "{\"repo\":\"api\",\"number\":1,\"title\":\"heavy, older\",\"pool\":\"heavy\"},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"light\"},"
	    "{\"repo\":\"web\",\"number\":1,\"title\":\"heavy\",\"pool\":\"heavy\"},"
	    "{\"repo\":\"web\",\"number\":2,\"title\":\"after web#1\",\"depends_on\":[\"#1\"]}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	evs = scenario_events(sc);
	int web1 = ev_find(evs, "admitted", "web#1", 0);
	int web1_done = ev_find(evs, "done", "web#1", 0);
	cr_assert_geq(web1, 0);
	cr_assert_lt(web1, ev_find(evs, "admitted", "api#1", 0), "the longer chain takes the pool");
	cr_assert_lt(ev_find(evs, "admitted", "api#2", 0), web1_done,
	    "api#2 starts while api#1 waits for heavy");
	cr_assert_gt(ev_find(evs, "admitted", "api#1", 0), web1_done, "heavy holds one at a time");
	cr_assert_eq(ev_count(evs, "done", NULL), 4);
	cJSON_Delete(evs);
	run_result_free(&r);
}

/*
 * DESIGN.md section 4 rule 4: the critical path in expected time.  api's
 * chain of three issues is three short ones, web's one issue a long one: by
 * counts api#1 would go first; by what the repos' last attempts took, web#1
 * does, and its admitted event says the priority it had.
 */
Test(e2e_sched, the_longest_expected_time_goes_first_not_the_longest_chain)
{
	cJSON *evs;
	struct run_result r;

	free(scenario_repo(sc, "api"));
	free(scenario_repo(sc, "web"));
	scenario_config(sc, "cap = 1", IMPLEMENT("0"));
	scenario_issues(sc, "["
	    "{\"repo\":\"api\",\"number\":1,\"title\":\"a1\"},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"a2\",\"depends_on\":[\"#1\"]},"
	    "{\"repo\":\"api\",\"number\":3,\"title\":\"a3\",\"depends_on\":[\"#2\"]},"
	    "{\"repo\":\"web\",\"number\":1,\"title\":\"w1\"}]");
	store_history_seed(sc->state, "repo", "api", 1000);
	store_history_seed(sc->state, "repo", "web", 600000);
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	evs = scenario_events(sc);
	int first = ev_find(evs, "admitted", NULL, 0);
	cr_assert_geq(first, 0);
	cr_assert_str_eq(ev_string(evs, first, "issue"), "web#1");
	cr_assert_eq(ev_number(evs, first, "priority"), 600000);
	int a1 = ev_find(evs, "admitted", "api#1", 0);
	/* Its chain: three times api's 1 s, or about (web's own attempt, far from
	 * its history, is a spread of web's that draws api's a little). */
	long a1_priority = (long)ev_number(evs, a1, "priority");

	cr_assert(a1_priority >= 3000 && a1_priority < 3300, "%ld", a1_priority);
	cr_assert_eq(ev_count(evs, "done", NULL), 4);
	cJSON_Delete(evs);
	run_result_free(&r);
}
