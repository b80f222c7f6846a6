/* End to end: the real wavectl binary planning a real config and issues file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/store.h"
#include "common/util.h"
#include "tests/lib/testlib.h"

static char *dir, *wavectl, *conf;

static void
setup(void)
{
	dir = tmpdir_new();
	wavectl = built_binary("wavectl");
	conf = write_text(dir, "waved.conf",
	    "[waved]\nstate_dir = state\n"
	    "[source]\ntype = file\npath = issues.json\n"
	    "[phase \"implement\"]\nrun = true\n"
	    "[repo \"api\"]\npath = repos/api\n[repo \"web\"]\npath = repos/web\n");
}

static void
teardown(void)
{
	free(conf);
	free(wavectl);
	tmpdir_remove(dir);
}

TestSuite(wavectl_plan, .init = setup, .fini = teardown);

static struct run_result
plan(const char *issues_json, bool json)
{
	free(write_text(dir, "issues.json", issues_json));
	return run_argv(dir, (const char *[]){ wavectl, "-c", conf, "plan",
	    json ? "--json" : NULL, NULL });
}

Test(wavectl_plan, json_waves_and_exit_0)
{
	struct run_result r = plan("["
	    "{\"repo\":\"web\",\"number\":1,\"title\":\"page\",\"depends_on\":[\"api#1\"]},"
	    "{\"repo\":\"api\",\"number\":1,\"title\":\"endpoint\"},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"more\",\"depends_on\":[\"#1\"]},"
	    "{\"repo\":\"web\",\"number\":2,\"title\":\"other\"}]", true);

	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "{\"waves\":[[\"api#1\",\"web#2\"],[\"web#1\",\"api#2\"]],"
	    "\"expected_ms\":[null,null],\"blocked\":[]}\n", "no history yet: no expected time");
	run_result_free(&r);
}

/* web's one issue takes ten minutes, api's chain of two a minute each: web
 * first, and each wave is as long as its longest repo. */
Test(wavectl_plan, with_history_priorities_and_waves_are_in_expected_time)
{
	const char *issues = "["
	    "{\"repo\":\"api\",\"number\":1,\"title\":\"a\"},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"b\",\"depends_on\":[\"#1\"]},"
	    "{\"repo\":\"api\",\"number\":3,\"title\":\"c\"},"
	    "{\"repo\":\"web\",\"number\":1,\"title\":\"w\"}]";
	struct run_result r;

	r = plan(issues, true);
	cr_assert_str_eq(r.out, "{\"waves\":[[\"api#1\",\"api#3\",\"web#1\"],[\"api#2\"]],"
	    "\"expected_ms\":[null,null],\"blocked\":[]}\n", "the count rule: api#1's chain first");
	run_result_free(&r);
	char *state = xasprintf("%s/state", dir);

	store_history_seed(state, "repo", "api", 60000);
	store_history_seed(state, "repo", "web", 600000);
	free(state);
	r = plan(issues, true);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "{\"waves\":[[\"web#1\",\"api#1\",\"api#3\"],[\"api#2\"]],"
	    "\"expected_ms\":[600000,60000],\"blocked\":[]}\n");
	run_result_free(&r);
	r = plan(issues, false);
	cr_assert(strstr(r.out, "1     web#1            web           10m00s"), "%s", r.out);
	cr_assert(strstr(r.out, "1     api#1            api            3m00s"), "%s", r.out);
	cr_assert(strstr(r.out, "WAVE  EXPECTED\n1     10m00s\n2     1m00s\n"), "%s", r.out);
	run_result_free(&r);
}

Test(wavectl_plan, blocked_issues_exit_1_with_reasons)
{
	struct run_result r = plan("["
	    "{\"repo\":\"api\",\"number\":9,\"title\":\"a\",\"depends_on\":[\"#10\"]},"
	    "{\"repo\":\"api\",\"number\":10,\"title\":\"b\",\"depends_on\":[\"#9\"]},"
	    "{\"repo\":\"web\",\"number\":3,\"title\":\"c\",\"depends_on\":[\"web#4\"]},"
	    "{\"repo\":\"web\",\"number\":1,\"title\":\"fine\"}]", true);
	cJSON *j, *blocked;

	cr_assert_eq(r.status, 1, "%s", r.err);
	j = json_parse_or_fail(r.out);
	blocked = cJSON_GetObjectItem(j, "blocked");
	cr_assert_eq(cJSON_GetArraySize(blocked), 3);
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(blocked, 0), "reason")->valuestring,
	    "cycle: api#9 -> api#10 -> api#9");
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(blocked, 2), "reason")->valuestring,
	    "unknown dependency web#4");
	cJSON_Delete(j);
	run_result_free(&r);
}

Test(wavectl_plan, human_table_shows_waves_repos_and_blocked)
{
	struct run_result r = plan("["
	    "{\"repo\":\"api\",\"number\":1,\"title\":\"endpoint \\u001b[2J\"},"
	    "{\"repo\":\"web\",\"number\":1,\"title\":\"page\",\"depends_on\":[\"api#1\"]},"
	    "{\"repo\":\"web\",\"number\":2,\"title\":\"loop\",\"depends_on\":[\"#2\"]}]", false);

	cr_assert_eq(r.status, 1, "%s", r.err);
	cr_assert(strstr(r.out, "WAVE"), "%s", r.out);
	cr_assert(strstr(r.out, "1     api#1"), "%s", r.out);
	cr_assert(strstr(r.out, "2     web#1            web"), "%s", r.out);
	cr_assert(strstr(r.out, "web#2            cycle: web#2 -> web#2"), "%s", r.out);
	cr_assert(strstr(r.out, "2 issues in 2 waves across 2 repos; 1 blocked"), "%s", r.out);
	cr_assert_null(strchr(r.out, '\033'), "control characters reach the terminal");
	run_result_free(&r);
}

Test(wavectl_plan, bad_entries_are_reported_and_the_rest_planned)
{
	struct run_result r = plan("[{\"repo\":\"api\",\"number\":1,\"title\":\"ok\"},"
	    "{\"repo\":\"zzz\",\"number\":1,\"title\":\"bad\"}]", true);

	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.err, "entry 1: repo: \"zzz\" is not a configured repo; skipped"), "%s", r.err);
	cr_assert_str_eq(r.out, "{\"waves\":[[\"api#1\"]],\"expected_ms\":[null],\"blocked\":[]}\n");
	run_result_free(&r);
}

Test(wavectl_plan, bad_source_exits_2)
{
	struct run_result r = plan("{}", true);

	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "expected a JSON array"), "%s", r.err);
	run_result_free(&r);
}

Test(wavectl_plan, bad_config_exits_2_naming_file_line_key)
{
	char *bad = write_text(dir, "bad.conf", "[waved]\ncap = many\n");
	struct run_result r = run_argv(dir, (const char *[]){ wavectl, "-c", bad, "plan", NULL });

	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "bad.conf:2: cap: expected a whole number"), "%s", r.err);
	run_result_free(&r);
	free(bad);
}

Test(wavectl_plan, config_from_environment)
{
	struct run_result r;

	free(write_text(dir, "issues.json", "[]"));
	setenv("WAVED_CONFIG", conf, 1);
	r = run_argv(dir, (const char *[]){ wavectl, "plan", "--json", NULL });
	unsetenv("WAVED_CONFIG");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "{\"waves\":[],\"expected_ms\":[],\"blocked\":[]}\n");
	run_result_free(&r);
}

Test(wavectl_plan, unknown_command_exits_2)
{
	struct run_result r = run_argv(dir, (const char *[]){ wavectl, "-c", conf, "frobnicate", NULL });

	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "unknown command \"frobnicate\""), "%s", r.err);
	run_result_free(&r);
}

/* The usage texts name every command and flag the man pages document. */
Test(wavectl_plan, help_matches_the_man_pages)
{
	const char *commands[] = { "plan", "status", "watch", "summary", "events", "log", "cap",
	    "pause", "resume", "retry", "reload", NULL };
	struct run_result r = run_argv(dir, (const char *[]){ wavectl, "--help", NULL });
	char *man = read_file("man/wavectl.8", NULL), *waved = built_binary("waved");

	cr_assert_eq(r.status, 0);
	cr_assert_not_null(man, "run from the source tree");
	for (size_t k = 0; commands[k]; k++) {
		char *entry = xasprintf(".B %s", commands[k]);
		cr_assert(strstr(r.out, commands[k]), "--help lacks %s", commands[k]);
		cr_assert(strstr(man, entry), "wavectl.8 lacks %s", commands[k]);
		free(entry);
	}
	run_result_free(&r);
	free(man);
	man = read_file("man/waved.8", NULL);
	r = run_argv(dir, (const char *[]){ waved, "--help", NULL });
	cr_assert_eq(r.status, 0);
	const char *flags[] = { "-f", "-n", "--once", "-c", "--cap", "USR1", "USR2", "HUP", NULL };
	for (size_t k = 0; flags[k]; k++)
		cr_assert(strstr(r.out, flags[k]), "waved --help lacks %s", flags[k]);
	cr_assert(strstr(man, "\\-\\-once") && strstr(man, "\\-\\-cap") && strstr(man, "SIGUSR1"));
	run_result_free(&r);
	free(man);
	free(waved);
}
