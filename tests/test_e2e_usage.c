/*
 * End to end: the usage lever (DESIGN.md section 16).  A usage command that
 * reads a file the test writes, agents that exit 75, pools and a memory
 * floor pull the cap; the events say who pulled, and the order of
 * admissions and landings shows that the limits held.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "tests/lib/scenario.h"

SCENARIO_SUITE(e2e_usage, 180);

#define SLOW "[phase \"implement\"]\nrun = echo x > f-$WAVED_NUMBER.txt; sleep 0.3\n"

static void
write_usage(const char *text)
{
	free(write_text(sc->dir, "usage.txt.new", text));
	char *from = xasprintf("%s/usage.txt.new", sc->dir), *to = xasprintf("%s/usage.txt", sc->dir);
	cr_assert_eq(rename(from, to), 0);	/* whole, never half a line */
	free(from);
	free(to);
}

/* n repos r1..rn with per issues each, a usage command reading usage.txt. */
static void
setup_repos(int n, int per, const char *more)
{
	struct strbuf issues = { 0 }, keys = { 0 };

	for (int r = 1; r <= n; r++) {
		char name[8];

		snprintf(name, sizeof(name), "r%d", r);
		free(scenario_repo(sc, name));
		for (int k = 1; k <= per; k++)
			strbuf_addf(&issues, "%s{\"repo\":\"%s\",\"number\":%d,\"title\":\"t\"}",
			    issues.len ? "," : "[", name, k);
	}
	strbuf_add(&issues, "]");
	strbuf_addf(&keys, SLOW "%s", more ? more : "");
	scenario_config(sc, NULL, keys.s);
	scenario_issues(sc, issues.s);
	strbuf_free(&issues);
	strbuf_free(&keys);
}

/* The most issues in flight at once, from admitted and done/failed events, from event k on. */
static int
peak_in_flight(const cJSON *evs, int from)
{
	int now = 0, peak = 0, k = 0;
	const cJSON *e;

	cJSON_ArrayForEach(e, evs) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(e, "event"));

		if (strcmp(name, "admitted") == 0)
			now++;
		else if (strcmp(name, "done") == 0 || strcmp(name, "failed") == 0)
			now--;
		if (k++ >= from && now > peak)
			peak = now;
	}
	return peak;
}

static int
find_why(const cJSON *evs, const char *why, int from)
{
	for (int k = ev_find(evs, "cap_changed", NULL, from); k >= 0;
	    k = ev_find(evs, "cap_changed", NULL, k + 1))
		if (strcmp(ev_string(evs, k, "why"), why) == 0)
			return k;
	return -1;
}

#define USAGE_CMD "[usage]\ncommand = cat \"$PWD/usage.txt\"\ninterval = 1\n"

Test(e2e_usage, sixty_six_percent_allows_two_in_flight)
{
	cJSON *evs;

	setup_repos(4, 2, USAGE_CMD);
	write_usage("66\n");
	evs = scenario_once_ok(sc);
	int u = ev_find(evs, "usage", NULL, 0);
	cr_assert_geq(u, 0);
	cr_assert_eq(ev_number(evs, u, "percent"), 66);
	int c = find_why(evs, "usage", 0);
	cr_assert_geq(c, 0);
	cr_assert_eq(ev_number(evs, c, "effective"), 2);
	cr_assert_lt(u, ev_find(evs, "admitted", NULL, 0), "the monitor answers before the first admission");
	cr_assert_leq(peak_in_flight(evs, 0), 2);
	cr_assert_eq(ev_count(evs, "done", NULL), 8);
	cJSON_Delete(evs);
}

Test(e2e_usage, a_monitor_that_prints_nonsense_changes_nothing)
{
	cJSON *evs;

	setup_repos(2, 2, USAGE_CMD);
	write_usage("banana\n");
	evs = scenario_once_ok(sc);
	int f = ev_find(evs, "usage_failed", NULL, 0);
	cr_assert_geq(f, 0);
	cr_assert(strstr(ev_string(evs, f, "reason"), "expected a percent"), "%s",
	    ev_string(evs, f, "reason"));
	cr_assert_eq(find_why(evs, "usage", 0), -1, "no cap change on a broken monitor");
	cr_assert_eq(ev_count(evs, "done", NULL), 4);
	cJSON_Delete(evs);
}

/* Paused at 90% with a reset 4 s ahead: the next reading is at the reset, not before. */
Test(e2e_usage, a_pause_with_a_reset_time_lifts_at_the_reset)
{
	char text[64];
	long long reset = (long long)time(NULL) + 4;
	cJSON *evs;
	pid_t pid;

	setup_repos(2, 1, USAGE_CMD);
	snprintf(text, sizeof(text), "90 %lld\n", reset);
	write_usage(text);
	pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "cap_changed", NULL, 1, 30));
	evs = scenario_events(sc);
	int c = find_why(evs, "usage", 0);
	cr_assert_geq(c, 0);
	cr_assert_eq(ev_number(evs, c, "effective"), 0, "paused");
	cJSON_Delete(evs);
	write_usage("20\n");	/* at once: yet the pause holds until the reset */
	cr_assert(scenario_await(sc, "done", NULL, 2, 60));
	evs = scenario_events(sc);
	int second = ev_find(evs, "usage", NULL, ev_find(evs, "usage", NULL, 0) + 1);
	cr_assert_geq(second, 0);
	cr_assert_eq(ev_number(evs, second, "percent"), 20);
	struct tm tm = { 0 };
	int ms = 0;
	sscanf(ev_string(evs, second, "ts"), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	cr_assert_geq((long long)timegm(&tm), reset, "asked again before the reset");
	cr_assert_gt(ev_find(evs, "admitted", NULL, 0), second, "nothing started while paused");
	cJSON_Delete(evs);
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
}

/* Three exits of 75 in a row step the cap down; a quiet cooldown lifts it. */
Test(e2e_usage, tempfail_streaks_step_down_and_a_cooldown_steps_up)
{
	cJSON *evs;

	free(scenario_repo(sc, "r1"));
	scenario_config(sc, NULL, "[phase \"implement\"]\nrun = n=$(cat ../../../count 2>/dev/null "
	    "|| echo 0); n=$((n + 1)); echo $n > ../../../count; [ $n -gt 3 ] || exit 75; "
	    "echo x > f.txt\n[usage]\ntempfail_streak = 3\ncooldown = 1\n");
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"t\"}]");
	evs = scenario_once_ok(sc);
	int down = find_why(evs, "tempfail", 0);
	cr_assert_geq(down, 0);
	cr_assert_eq(ev_number(evs, down, "effective"), 0, "one step down from a cap of 1");
	cr_assert_eq(ev_count(evs, "failed", "r1#1"), 3);
	int up = find_why(evs, "cooldown", down);
	cr_assert_geq(up, 0);
	cr_assert_eq(ev_number(evs, up, "effective"), 1);
	int done = ev_find(evs, "done", "r1#1", 0);
	cr_assert_gt(done, up);
	cr_assert_eq(ev_number(evs, done, "attempt"), 1, "exits of 75 use no attempt");
	cJSON_Delete(evs);
}

/*
 * Two repos at once, every issue exiting 75 twice: the streaks pull the cap
 * while other work is in flight, and each pull commits with the worker's
 * report that caused it (one transaction), never beside it.
 */
Test(e2e_usage, tempfail_streaks_across_repos_pull_the_cap_and_everything_lands)
{
	cJSON *evs;
	char *log, *path;

	free(scenario_repo(sc, "r1"));
	free(scenario_repo(sc, "r2"));
	scenario_config(sc, "cap = 2", "[phase \"implement\"]\nrun = f=../../../count-$WAVED_REPO-"
	    "$WAVED_NUMBER; n=$(cat $f 2>/dev/null || echo 0); n=$((n + 1)); echo $n > $f; "
	    "[ $n -gt 2 ] || exit 75; echo x > f-$WAVED_NUMBER.txt\n[usage]\ntempfail_streak = 2\ncooldown = 1\n");
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"a\"},"
	    "{\"repo\":\"r1\",\"number\":2,\"title\":\"b\"},"
	    "{\"repo\":\"r2\",\"number\":1,\"title\":\"c\"},"
	    "{\"repo\":\"r2\",\"number\":2,\"title\":\"d\"}]");
	evs = scenario_once_ok(sc);
	cr_assert_geq(find_why(evs, "tempfail", 0), 0, "the streaks pulled the cap");
	cr_assert_eq(ev_count(evs, "done", NULL), 4, "everything lands");
	path = xasprintf("%s/waved.out", sc->dir);
	log = read_file(path, NULL);
	cr_assert_null(strstr(log, "cannot commit"), "%s", log);
	free(log);
	free(path);
	cJSON_Delete(evs);
}

/* A pool of cap 1 over two repos and one issue of a third never runs two at once. */
Test(e2e_usage, a_pool_of_one_runs_one_while_the_others_run_beside_it)
{
	cJSON *evs;

	for (int k = 1; k <= 4; k++) {
		char name[8];

		snprintf(name, sizeof(name), "r%d", k);
		free(scenario_repo(sc, name));
	}
	/* r1 and r2 are in pool heavy by their repo, r3#1 by its own key. */
	char *conf = NULL;
	scenario_config(sc, "cap = 4", SLOW "[pool \"heavy\"]\ncap = 1\n");
	conf = read_file(sc->conf, NULL);
	char *a = strstr(conf, "path = repos/r1\n"), *with;
	cr_assert_not_null(a);
	with = xasprintf("%.*spath = repos/r1\npool = heavy\n%s", (int)(a - conf), conf,
	    a + strlen("path = repos/r1\n"));
	free(conf);
	a = strstr(with, "path = repos/r2\n");
	conf = xasprintf("%.*spath = repos/r2\npool = heavy\n%s", (int)(a - with), with,
	    a + strlen("path = repos/r2\n"));
	free(write_text(sc->dir, "waved.conf", conf));
	free(with);
	free(conf);
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"t\"},"
	    "{\"repo\":\"r2\",\"number\":1,\"title\":\"t\"},"
	    "{\"repo\":\"r3\",\"number\":1,\"title\":\"t\",\"pool\":\"heavy\"},"
	    "{\"repo\":\"r3\",\"number\":2,\"title\":\"t\"},"
	    "{\"repo\":\"r4\",\"number\":1,\"title\":\"t\"}]");
	evs = scenario_once_ok(sc);
	const char *heavy[] = { "r1#1", "r2#1", "r3#1" };
	int now = 0, k = 0, beside = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, evs) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(e, "event"));
		const char *issue = cJSON_GetStringValue(cJSON_GetObjectItem(e, "issue"));
		bool is_heavy = false;

		for (size_t h = 0; h < ARRAY_LEN(heavy) && issue; h++)
			is_heavy |= strcmp(issue, heavy[h]) == 0;
		if (is_heavy && strcmp(name, "admitted") == 0)
			cr_assert_eq(++now, 1, "two of the pool in flight at event %d", k);
		if (is_heavy && strcmp(name, "done") == 0)
			now--;
		if (!is_heavy && issue && strcmp(name, "admitted") == 0 && now == 1)
			beside++;
		k++;
	}
	cr_assert_gt(beside, 0, "other repos ran beside the pool");
	cr_assert_eq(ev_count(evs, "done", NULL), 5);
	cJSON_Delete(evs);
}

/* Below the memory floor nothing starts, and status says memory binds; a reload lifts it. */
Test(e2e_usage, a_memory_floor_above_the_machine_holds_admission_until_lowered)
{
	struct run_result r;
	cJSON *evs, *st;
	pid_t pid;

	setup_repos(2, 1, "[usage]\nmin_free_mem = 1000T\n");
	pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "cap_changed", NULL, 1, 30));
	evs = scenario_events(sc);
	int m = find_why(evs, "memory", 0);
	cr_assert_geq(m, 0);
	cr_assert_eq(ev_number(evs, m, "effective"), 0);
	cr_assert_eq(ev_count(evs, "admitted", NULL), 0);
	cJSON_Delete(evs);
	r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf, "status", "--json",
	    NULL });
	st = json_parse_or_fail(r.out);
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(st, "binding")), "memory");
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "limits"), "memory")));
	cJSON_Delete(st);
	run_result_free(&r);
	scenario_config(sc, NULL, SLOW "[usage]\nmin_free_mem = 1M\n");
	kill(pid, SIGHUP);
	cr_assert(scenario_await(sc, "done", NULL, 2, 60));
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
}

Test(e2e_usage, metrics_in_openmetrics_text)
{
	struct run_result r;

	setup_repos(2, 2, NULL);
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "status %d: %s", r.status, r.err);
	run_result_free(&r);
	r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf, "metrics", NULL });
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "waved_issues{state=\"done\"} 4\n"), "%s", r.out);
	cr_assert(strstr(r.out, "waved_merges_total{repo=\"r1\"} 2\n"), "%s", r.out);
	cr_assert(strstr(r.out, "# TYPE waved_agent_seconds counter\n"), "%s", r.out);
	cr_assert_null(strstr(r.out, "waved_agent_seconds_total 0.000"), "agent time counted");
	cr_assert(strstr(r.out, "waved_cap_limit{hand=\"operator\"} 2\n"), "%s", r.out);
	size_t n = strlen(r.out);
	cr_assert(n > 6 && strcmp(r.out + n - 6, "# EOF\n") == 0, "ends with # EOF");
	run_result_free(&r);
}
