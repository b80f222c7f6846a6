/*
 * End to end: wavectl's views of a running daemon, and the demo.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "tests/lib/scenario.h"

static struct scenario *sc;

static void
setup(void)
{
	sc = scenario_new();
}

static void
teardown(void)
{
	scenario_free(sc);
}

TestSuite(e2e_ctl, .init = setup, .fini = teardown, .timeout = 180);

Test(e2e_ctl, watch_prints_plain_lines_when_not_a_terminal_and_ends_with_waved)
{
	struct run_result r;
	pid_t pid;

	free(scenario_repo(sc, "api"));
	/* The phase waits for the watch to be looking (its output file exists). */
	scenario_config(sc, NULL, "[phase \"implement\"]\nrun = echo $WAVED_NUMBER > f.txt; "
	    "until [ -e ../../../../watching ]; do sleep 0.05; done\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"one\"},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"two\",\"depends_on\":[\"#1\"]}]");
	pid = scenario_start(sc, (const char *[]){ "--once", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "started", NULL, 1, 30));
	char *cmd = xasprintf("touch %s/watching; exec %s -c %s watch", sc->dir, sc->wavectl, sc->conf);
	r = run_argv(sc->dir, (const char *[]){ "sh", "-c", cmd, NULL });
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "Landed api#1"), "%s", r.out);
	cr_assert(strstr(r.out, "Started api#2 (attempt 1)"), "%s", r.out);
	cr_assert(strstr(r.out, "Landed api#2"), "%s", r.out);
	cr_assert(strstr(r.out, "Stopped"), "%s", r.out);
	cr_assert_null(strchr(r.out, '\033'), "no terminal escapes into a pipe");
	cr_assert_eq(scenario_wait(pid, 30), 0);
	run_result_free(&r);
	free(cmd);
}

Test(e2e_ctl, summary_reports_outcomes_and_merges)
{
	struct run_result r;
	cJSON *j, *merges;

	free(scenario_repo(sc, "api"));
	free(scenario_repo(sc, "web"));
	scenario_config(sc, "max_attempts = 1", "[phase \"implement\"]\nrun = "
	    "test \"$WAVED_TITLE\" != broken || exit 1; echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"one\"},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"two\"},"
	    "{\"repo\":\"web\",\"number\":1,\"title\":\"broken\"}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 1);
	run_result_free(&r);
	r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf, "summary", "--json", NULL });
	cr_assert_eq(r.status, 0, "%s", r.err);
	j = json_parse_or_fail(r.out);
	merges = cJSON_GetObjectItem(j, "merges");
	cr_assert_eq(cJSON_GetObjectItem(merges, "api")->valueint, 2);
	cr_assert_null(cJSON_GetObjectItem(merges, "web"));
	cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "makespan_ms")));
	cJSON *issues = cJSON_GetObjectItem(j, "issues");
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(issues, 2), "outcome")->valuestring, "dead");
	cJSON_Delete(j);
	run_result_free(&r);
}

Test(e2e_ctl, the_demo_lands_every_issue, .timeout = 240)
{
	char *build = xasprintf("%s", getenv("WAVED_BUILD"));
	struct run_result r;

	setenv("TMPDIR", sc->dir, 1);
	r = run_argv(NULL, (const char *[]){ "scripts/demo", build, NULL });
	unsetenv("TMPDIR");
	cr_assert_eq(r.status, 0, "make demo failed: %s\n%s", r.out, r.err);
	cr_assert(strstr(r.out, "10 done, 0 dead, 0 blocked of 10"), "%s", r.out);
	cr_assert(strstr(r.out, "merges per repo:"), "%s", r.out);
	cr_assert(strstr(r.out, "Friendlier greeting"), "%s", r.out);
	run_result_free(&r);
	free(build);
}
