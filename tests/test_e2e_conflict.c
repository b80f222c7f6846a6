/*
 * End to end: merge conflicts resolved by the agent (DESIGN.md sections 5
 * and 6 step 5), and agent time accounted.  Issues of one repo that all
 * append to one file are pipelined (the repo slot is released at review),
 * so each lands on a tip that moved; the scripted resolver keeps both sides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "tests/lib/scenario.h"

SCENARIO_SUITE(e2e_conflict, 240);

/*
 * Append a line; review until the next issue has begun (so that it starts
 * from the same tip), or 5 s when it is not coming (its repo waits for a
 * retry first).
 */
#define APPENDING \
	"[phase \"implement\"]\nrun = touch ../../../started-$WAVED_NUMBER; " \
	"echo \"$WAVED_ISSUE\" >> f.txt\n" \
	"[phase \"review\"]\nrun = n=0; until [ -e ../../../started-$((WAVED_NUMBER + 1)) ] || " \
	"[ $n -ge 100 ]; do sleep 0.05; n=$((n + 1)); done\n"
/* A union of both sides: the marker lines go, every line stays. */
#define UNION_RESOLVE \
	"[phase \"resolve\"]\nrun = sed -i -e '/^<<<<<<< /d' -e '/^=======$/d' " \
	"-e '/^>>>>>>> /d' f.txt\n"

static char *
issues_of_api(int n)
{
	struct strbuf b = { 0 };

	strbuf_add(&b, "[");
	for (int k = 1; k <= n; k++)
		strbuf_addf(&b, "%s{\"repo\":\"api\",\"number\":%d,\"title\":\"t%d\"}", k > 1 ? "," : "",
		    k, k);
	strbuf_add(&b, "]");
	return strbuf_take(&b);
}

static void
setup_api(int n, const char *waved_keys, const char *phases)
{
	char *issues = issues_of_api(n);

	free(scenario_repo(sc, "api"));
	scenario_config(sc, waved_keys, phases);
	scenario_issues(sc, issues);
	free(issues);
}

static char *
agent_file(void)
{
	char *path = xasprintf("%s/repos/api", sc->dir);
	char *text = scenario_git(path, (const char *[]){ "show", "waved:f.txt", NULL });

	free(path);
	return text;
}

Test(e2e_conflict, eight_issues_rewriting_one_file_all_land_in_one_attempt)
{
	cJSON *evs;

	setup_api(8, "cap = 2\nmax_attempts = 3", APPENDING UNION_RESOLVE);
	evs = scenario_once_ok(sc);
	cr_assert_eq(ev_count(evs, "done", NULL), 8);
	cr_assert_eq(ev_count(evs, "failed", NULL), 0, "no attempt lost to a sibling");
	for (int k = ev_find(evs, "done", NULL, 0); k >= 0; k = ev_find(evs, "done", NULL, k + 1))
		cr_assert_eq(ev_number(evs, k, "attempt"), 1);
	cr_assert_geq(ev_count(evs, "conflict_resolved", NULL), 3, "the siblings did meet");
	int k = ev_find(evs, "conflict_resolved", NULL, 0);
	cr_assert_eq(ev_number(evs, k, "round"), 1);
	const cJSON *files = cJSON_GetObjectItem(cJSON_GetArrayItem(evs, k), "files");
	cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(files, 0)), "f.txt");
	cJSON_Delete(evs);
	char *text = agent_file();
	for (int n = 1; n <= 8; n++) {
		char line[16];

		snprintf(line, sizeof(line), "api#%d", n);
		cr_assert_eq(count_lines_equal(text, line), 1, "%s once in:\n%s", line, text);
	}
	cr_assert_null(strstr(text, "<<<<<<<"));
	free(text);
}

/*
 * The resolver fails: the attempt fails with reason conflict, and its retry
 * is the repo's next admission, made when nothing else of the repo is in
 * flight; then it lands.
 */
Test(e2e_conflict, a_failed_resolve_retries_first_and_alone)
{
	cJSON *evs;

	setup_api(4, "cap = 2\nmax_attempts = 3", APPENDING "[phase \"resolve\"]\nrun = exit 1\n");
	evs = scenario_once_ok(sc);
	int f = ev_find(evs, "failed", NULL, 0);
	cr_assert_geq(f, 0, "some issue met a conflict its resolver could not mend");
	cr_assert_str_eq(ev_string(evs, f, "outcome"), "conflict");
	cr_assert(strstr(ev_string(evs, f, "reason"), "conflict: resolve failed"), "%s",
	    ev_string(evs, f, "reason"));
	const char *loser = ev_string(evs, f, "issue");
	int next = ev_find(evs, "admitted", NULL, f);
	cr_assert_geq(next, 0);
	cr_assert_str_eq(ev_string(evs, next, "issue"), loser, "the retry is the next admission");
	/* Nothing else of the repo between admission and landing at that moment. */
	int admitted = 0, landed = 0;
	for (int k = 0; k < next; k++) {
		const char *name = ev_string(evs, k, "event"), *issue = ev_string(evs, k, "issue");

		if (issue && strcmp(issue, loser) != 0 && strcmp(name, "admitted") == 0)
			admitted++;
		if (issue && strcmp(issue, loser) != 0 && (strcmp(name, "done") == 0 ||
		    strcmp(name, "failed") == 0))
			landed++;
	}
	cr_assert_eq(admitted, landed, "%d admitted, %d ended before the retry", admitted, landed);
	cr_assert_eq(ev_count(evs, "done", NULL), 4);
	cJSON_Delete(evs);
	char *text = agent_file();
	cr_assert_null(strstr(text, "<<<<<<<"));
	free(text);
}

/* No line of the agent branch's history is a conflict marker. */
static void
assert_no_marker_landed(void)
{
	char *path = xasprintf("%s/repos/api", sc->dir);
	struct run_result g = run_argv(path, (const char *[]){ "git", "log", "-p", "waved", NULL });

	cr_assert_null(strstr(g.out, "<<<<<<<"), "a marker reached the agent branch");
	run_result_free(&g);
	free(path);
}

Test(e2e_conflict, markers_left_by_a_resolver_that_says_yes_never_land)
{
	cJSON *evs;

	setup_api(3, "cap = 2\nmax_attempts = 3", APPENDING "[phase \"resolve\"]\nrun = true\n");
	evs = scenario_once_ok(sc);
	int f = ev_find(evs, "failed", NULL, 0);
	cr_assert_geq(f, 0);
	cr_assert(strstr(ev_string(evs, f, "reason"), "conflict: markers left in f.txt"), "%s",
	    ev_string(evs, f, "reason"));
	cr_assert_eq(ev_count(evs, "conflict_resolved", NULL), 0);
	cJSON_Delete(evs);
	assert_no_marker_landed();
}

/* git quotes such a name unless asked for -z: the check must open the file itself. */
Test(e2e_conflict, markers_in_a_file_of_any_name_never_land)
{
	cJSON *evs;

	setup_api(3, "cap = 2\nmax_attempts = 3",
	    "[phase \"implement\"]\nrun = touch ../../../started-$WAVED_NUMBER; mkdir -p src; "
	    "echo \"$WAVED_ISSUE\" >> 'src/na\xc3\xafve file.c'\n"
	    "[phase \"review\"]\nrun = n=0; until [ -e ../../../started-$((WAVED_NUMBER + 1)) ] || "
	    "[ $n -ge 100 ]; do sleep 0.05; n=$((n + 1)); done\n"
	    "[phase \"resolve\"]\nrun = true\n");
	evs = scenario_once_ok(sc);
	int f = ev_find(evs, "failed", NULL, 0);
	cr_assert_geq(f, 0);
	cr_assert(strstr(ev_string(evs, f, "reason"),
	    "conflict: markers left in src/na\xc3\xafve file.c"), "%s", ev_string(evs, f, "reason"));
	cJSON_Delete(evs);
	assert_no_marker_landed();
}

/* Pipelined issues that touch different files merge with no resolve at all. */
Test(e2e_conflict, a_clean_tip_merge_needs_no_resolve_phase)
{
	cJSON *evs;

	setup_api(4, "cap = 2", "[phase \"implement\"]\nrun = touch ../../../started-$WAVED_NUMBER; "
	    "echo x > f-$WAVED_NUMBER.txt\n[phase \"review\"]\nrun = n=0; "
	    "until [ -e ../../../started-$((WAVED_NUMBER + 1)) ] || [ $n -ge 100 ]; do sleep 0.05; "
	    "n=$((n + 1)); done\n[phase \"resolve\"]\nrun = exit 1\n");
	evs = scenario_once_ok(sc);
	cr_assert_eq(ev_count(evs, "done", NULL), 4);
	cr_assert_eq(ev_count(evs, "failed", NULL), 0);
	for (int k = ev_find(evs, "phase_start", NULL, 0); k >= 0;
	    k = ev_find(evs, "phase_start", NULL, k + 1))
		cr_assert_str_neq(ev_string(evs, k, "phase"), "resolve");
	cJSON_Delete(evs);
}

/* Per issue, agent time is its phases' time, and wasted the part of failed attempts. */
Test(e2e_conflict, summary_agent_and_wasted_times_add_up)
{
	struct run_result r;
	cJSON *evs, *sum;

	setup_api(4, "cap = 2\nmax_attempts = 3", APPENDING "[phase \"resolve\"]\nrun = exit 1\n");
	evs = scenario_once_ok(sc);
	r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf, "summary", "--json",
	    NULL });
	cr_assert_eq(r.status, 0, "%s", r.err);
	sum = json_parse_or_fail(r.out);
	double all_agent = 0, all_wasted = 0;
	const cJSON *o;
	cJSON_ArrayForEach(o, cJSON_GetObjectItem(sum, "issues")) {
		const char *key = cJSON_GetStringValue(cJSON_GetObjectItem(o, "issue"));
		double phases = 0, failed = 0;

		for (int k = ev_find(evs, "phase_end", key, 0); k >= 0; k = ev_find(evs, "phase_end", key, k + 1))
			phases += ev_number(evs, k, "ms");
		for (int k = ev_find(evs, "failed", key, 0); k >= 0; k = ev_find(evs, "failed", key, k + 1))
			failed += ev_number(evs, k, "agent_ms");
		cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "agent_ms")), phases, "%s", key);
		cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(o, "wasted_ms")), failed, "%s", key);
		all_agent += phases;
		all_wasted += failed;
	}
	cr_assert_gt(all_wasted, 0, "the failed resolve's attempt was wasted");
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(sum, "agent_ms")), all_agent);
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(sum, "wasted_ms")), all_wasted);
	int d = ev_find(evs, "done", NULL, 0);
	cr_assert_geq(ev_number(evs, d, "agent_ms"), 0, "done carries agent_ms");
	cr_assert_gt(ev_number(evs, ev_find(evs, "phase_end", NULL, 0), "maxrss_kb"), 0,
	    "phase_end carries the phase's peak RSS");
	cr_assert_gt(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(
	    cJSON_GetObjectItem(sum, "issues"), 0), "maxrss_kb")), 0, "summary keeps the largest");
	cJSON_Delete(sum);
	cJSON_Delete(evs);
	run_result_free(&r);
}
