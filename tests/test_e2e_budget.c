/*
 * End to end: budgets (DESIGN.md section 20).  Phases append what they
 * "spent" to $WAVED_USAGE_FILE; waved reads it while they run, counts it per
 * attempt and issue, stops an issue past per_issue, and pulls the cap when
 * the rolling day's spending reaches per_day, across a restart too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "tests/lib/scenario.h"

SCENARIO_SUITE(e2e_budget, 180);

#define SPEND(json) "echo '" json "' >> \"$WAVED_USAGE_FILE\"; "

static cJSON *
ctl_json(const char *what)
{
	struct run_result r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf,
	    what, "--json", NULL });
	cJSON *o;

	cr_assert_eq(r.status, 0, "wavectl %s: %s", what, r.err);
	o = json_parse_or_fail(r.out);
	run_result_free(&r);
	return o;
}

static const cJSON *
summary_issue(const cJSON *sum, const char *key)
{
	const cJSON *o;

	cJSON_ArrayForEach(o, cJSON_GetObjectItem(sum, "issues"))
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "issue")), key) == 0)
			return o;
	cr_assert_fail("%s is not in the summary", key);
	return NULL;
}

static double
num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);

	cr_assert(cJSON_IsNumber(v), "%s: no number", key);
	return v->valuedouble;
}

/*
 * The phase appends, then waits until wavectl status shows it counted (so
 * the line was read while the phase ran, not at its end), then appends again.
 */
Test(e2e_budget, usage_is_read_while_the_phase_runs)
{
	char *more;
	cJSON *evs, *sum, *st;
	int k;

	free(scenario_repo(sc, "api"));
	more = xasprintf("[phase \"implement\"]\nrun = " SPEND("{\"cost_usd\": 0.25, \"tokens_in\": 100, "
	    "\"tokens_out\": 10}") "i=0; until '%s' -c '%s' status --json | grep -q "
	    "'\"spent_today_usd\":0.25'; do i=$((i+1)); [ $i -gt 300 ] && exit 3; sleep 0.1; done; "
	    SPEND("{\"cost_usd\": 0.5, \"tokens_in\": 200, \"tokens_out\": 20, \"model\": \"m\"}")
	    "echo x > f.txt\n", sc->wavectl, sc->conf);
	scenario_config(sc, "max_attempts = 1", more);
	free(more);
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"t\"}]");
	evs = scenario_once_ok(sc);
	k = ev_find(evs, "phase_end", "api#1", 0);
	cr_assert_geq(k, 0);
	cr_assert_float_eq(ev_number(evs, k, "cost_usd"), 0.75, 1e-9);
	cr_assert_eq(ev_number(evs, k, "tokens_in"), 300);
	cr_assert_eq(ev_number(evs, k, "tokens_out"), 30);
	sum = ctl_json("summary");
	cr_assert_float_eq(num(summary_issue(sum, "api#1"), "cost_usd"), 0.75, 1e-9);
	cr_assert_eq(num(summary_issue(sum, "api#1"), "tokens_in"), 300);
	cr_assert_float_eq(num(summary_issue(sum, "api#1"), "wasted_cost_usd"), 0, 1e-9);
	cr_assert_float_eq(num(sum, "cost_usd"), 0.75, 1e-9);
	cr_assert_float_eq(num(sum, "cost_per_landed_usd"), 0.75, 1e-9);
	st = ctl_json("status");
	cr_assert_float_eq(num(cJSON_GetObjectItem(st, "budget"), "spent_today_usd"), 0.75, 1e-9);
	cJSON_Delete(st);
	cJSON_Delete(sum);
	cJSON_Delete(evs);
}

/* Bad lines are told with their number and skipped; the good ones count. */
Test(e2e_budget, bad_usage_lines_are_skipped)
{
	struct run_result r;
	cJSON *evs, *sum;

	free(scenario_repo(sc, "api"));
	scenario_config(sc, "max_attempts = 1", "[phase \"implement\"]\nrun = "
	    SPEND("not json") SPEND("{\"cost_usd\": \"much\"}") SPEND("{\"cost_usd\": 0.5}")
	    SPEND("[1, 2]") "printf '{\"tokens_out\": 7}' >> \"$WAVED_USAGE_FILE\"; echo x > f.txt\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"t\"}]");
	evs = scenario_once_ok(sc);
	sum = ctl_json("summary");
	cr_assert_float_eq(num(summary_issue(sum, "api#1"), "cost_usd"), 0.5, 1e-9);
	cr_assert_eq(num(summary_issue(sum, "api#1"), "tokens_out"), 7, "an unended last line counts");
	r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf, "log", "api#1", NULL });
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "usage.ndjson:1: not a JSON object"), "%s", r.out);
	cr_assert(strstr(r.out, "usage.ndjson:2: cost_usd"), "%s", r.out);
	cr_assert(strstr(r.out, "usage.ndjson:4: not a JSON object"), "%s", r.out);
	cr_assert_null(strstr(r.out, "usage.ndjson:3:"), "%s", r.out);
	run_result_free(&r);
	cJSON_Delete(sum);
	cJSON_Delete(evs);
}

/*
 * The first attempt fails having spent $0.60; the second spends as much and
 * then would sleep for a minute: it is stopped mid-phase, the attempt ends
 * over_budget and the issue is dead without a third attempt.
 */
Test(e2e_budget, per_issue_budget_stops_the_second_attempt_mid_phase)
{
	struct run_result r;
	cJSON *evs, *sum;
	int k;

	free(scenario_repo(sc, "api"));
	scenario_config(sc, "max_attempts = 3\nretry_backoff = 0\nkill_grace = 2",
	    "[phase \"implement\"]\ntimeout = 120\nrun = " SPEND("{\"cost_usd\": 0.6}")
	    "[ \"$WAVED_ATTEMPT\" = 1 ] && exit 1; exec sleep 60\n"
	    "[budget]\nper_issue = 1.00\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"t\"}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 1, "dead: exit 1, got %d: %s", r.status, r.err);
	run_result_free(&r);
	evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "admitted", "api#1"), 2, "no third attempt");
	k = ev_find(evs, "budget_exceeded", "api#1", 0);
	cr_assert_geq(k, 0);
	cr_assert_str_eq(ev_string(evs, k, "scope"), "issue");
	cr_assert_float_eq(ev_number(evs, k, "spent"), 1.2, 1e-9);
	cr_assert_float_eq(ev_number(evs, k, "limit"), 1.0, 1e-9);
	k = ev_find(evs, "failed", "api#1", ev_find(evs, "failed", "api#1", 0) + 1);
	cr_assert_geq(k, 0);
	cr_assert_str_eq(ev_string(evs, k, "outcome"), "over_budget");
	k = ev_find(evs, "dead", "api#1", 0);
	cr_assert_geq(k, 0);
	cr_assert_str_eq(ev_string(evs, k, "reason"), "budget: $1.20 of $1.00");
	k = ev_find(evs, "phase_end", "api#1", ev_find(evs, "phase_end", "api#1", 0) + 1);
	cr_assert_geq(k, 0, "the stopped phase still ends with what it spent");
	cr_assert_float_eq(ev_number(evs, k, "cost_usd"), 0.6, 1e-9);
	sum = ctl_json("summary");
	cr_assert_float_eq(num(summary_issue(sum, "api#1"), "cost_usd"), 1.2, 1e-9);
	cr_assert_float_eq(num(summary_issue(sum, "api#1"), "wasted_cost_usd"), 1.2, 1e-9);
	cJSON_Delete(sum);
	cJSON_Delete(evs);
}

static int
find_why(const cJSON *evs, const char *why)
{
	for (int k = ev_find(evs, "cap_changed", NULL, 0); k >= 0;
	    k = ev_find(evs, "cap_changed", NULL, k + 1))
		if (strcmp(ev_string(evs, k, "why"), why) == 0)
			return k;
	return -1;
}

/*
 * Two issues in flight spend $0.60 each against per_day $1.00: the cap goes
 * to 0 while they run, both land, the third waits, and --once exits 75
 * saying when the window frees room.  A restart remembers the day.
 */
Test(e2e_budget, day_budget_pulls_the_cap_and_once_exits_75)
{
	struct run_result r;
	cJSON *evs, *st;
	int k, pulled;

	free(scenario_repo(sc, "r1"));
	free(scenario_repo(sc, "r2"));
	free(scenario_repo(sc, "r3"));
	/* Each waits for the other's report, so that both are in flight when the cap is pulled. */
	scenario_config(sc, "cap = 2\nmax_attempts = 1", "[phase \"implement\"]\nrun = "
	    SPEND("{\"cost_usd\": 0.6, \"tokens_in\": 5}") "touch ../../../../spent-$WAVED_REPO; "
	    "i=0; until [ $(ls ../../../../ | grep -c '^spent-') -ge 2 ]; do i=$((i+1)); "
	    "[ $i -gt 300 ] && exit 3; sleep 0.1; done; sleep 1.5; echo x > f.txt\n"
	    "[budget]\nper_day = 1.00\n");
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"a\"},"
	    "{\"repo\":\"r2\",\"number\":1,\"title\":\"b\"},"
	    "{\"repo\":\"r3\",\"number\":1,\"title\":\"c\",\"depends_on\":[\"r1#1\",\"r2#1\"]}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 75, "the day's budget: exit 75, got %d: %s", r.status, r.err);
	cr_assert(strstr(r.out, "1 issue waiting"), "%s", r.out);
	cr_assert(strstr(r.out, "frees room at"), "%s", r.out);
	run_result_free(&r);
	evs = scenario_events(sc);
	pulled = find_why(evs, "budget");
	cr_assert_geq(pulled, 0);
	cr_assert_eq(ev_number(evs, pulled, "effective"), 0);
	k = ev_find(evs, "budget_exceeded", NULL, 0);
	cr_assert_geq(k, 0);
	cr_assert_str_eq(ev_string(evs, k, "scope"), "day");
	cr_assert_float_eq(ev_number(evs, k, "limit"), 1.0, 1e-9);
	cr_assert_gt(ev_find(evs, "done", "r1#1", 0), pulled, "in flight work finishes");
	cr_assert_gt(ev_find(evs, "done", "r2#1", 0), pulled, "in flight work finishes");
	cr_assert_eq(ev_count(evs, "admitted", "r3#1"), 0);
	cJSON_Delete(evs);

	/* A restart: the day's spending is still there, nothing is admitted. */
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 75, "after a restart: exit 75, got %d: %s", r.status, r.err);
	run_result_free(&r);
	evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "admitted", "r3#1"), 0);
	st = ctl_json("status");
	cr_assert_float_eq(num(cJSON_GetObjectItem(st, "budget"), "spent_today_usd"), 1.2, 1e-9);
	cr_assert_float_eq(num(cJSON_GetObjectItem(st, "budget"), "per_day_usd"), 1.0, 1e-9);
	cJSON_Delete(st);
	cJSON_Delete(evs);
}
