/*
 * End to end: wavectl's views of a running daemon, and the demo.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "tests/lib/scenario.h"

SCENARIO_SUITE(e2e_ctl, 180);

Test(e2e_ctl, watch_prints_plain_lines_when_not_a_terminal_and_ends_with_waved)
{
	struct run_result r;
	pid_t pid;

	free(scenario_repo(sc, "api"));
	/* The phase waits for the watch to be looking (its output file exists). */
	scenario_config(sc, NULL, "[phase \"implement\"]\nrun = echo $WAVED_NUMBER > f.txt; "
	    "until [ -e ../../../../watching ]; do sleep 0.05; done; sleep 0.3\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"one\"},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"two\",\"depends_on\":[\"#1\"]}]");
	pid = scenario_start(sc, (const char *[]){ "--once", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "started", NULL, 1, 30));
	char *cmd = xasprintf("touch %s/watching; exec %s -c %s watch", sc->dir, sc->wavectl, sc->conf);
	r = run_argv(sc->dir, (const char *[]){ "sh", "-c", cmd, NULL });
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "Landed api#1"), "%s", r.out);
	/* Admitted before the watch attached: its start comes from the state, not 0. */
	cr_assert_null(strstr(r.out, "Landed api#1 in 0.0s"), "%s", r.out);
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
	cr_assert_eq(cJSON_GetObjectItem(merges, "api")->valueint, 2, "%s", r.out);
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
	cr_assert(strstr(r.out, "Resolved web#3 round 1: greeting.txt"),
	    "the live view shows the conflict the agent resolved: %s", r.out);
	cr_assert(strstr(r.out, "agent time "), "the summary shows agent time: %s", r.out);
	run_result_free(&r);
	free(build);
}

/* Run a shell command in the background with its output in dir/name. */
static pid_t
background(const char *cmd, const char *name)
{
	char *out = xasprintf("%s/%s", sc->dir, name);
	pid_t pid = fork();

	cr_assert(pid != -1);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	free(out);
	return pid;
}

static bool
file_has(const char *name, const char *text, int timeout_s)
{
	char *path = xasprintf("%s/%s", sc->dir, name);
	int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000;
	bool found = false;

	while (!found && mono_ms() < deadline) {
		char *content = read_file(path, NULL);
		found = content && strstr(content, text);
		free(content);
		if (!found)
			nap_ms(20);
	}
	free(path);
	return found;
}

/* Two issues; api#2's implement waits for dir/go. */
static pid_t
start_gated(void)
{
	char *phases = xasprintf("[phase \"implement\"]\nrun = echo working on $WAVED_ISSUE; "
	    "echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt; "
	    "[ $WAVED_NUMBER = 1 ] || until [ -e %s/go ]; do sleep 0.05; done\n", sc->dir);

	free(scenario_repo(sc, "api"));
	scenario_config(sc, NULL, phases);
	free(phases);
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"one\"},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"two\"}]");
	return scenario_start(sc, (const char *[]){ "--once", "-c", sc->conf, NULL });
}

Test(e2e_ctl, events_follow_one_issue_as_it_happens)
{
	pid_t waved = start_gated(), follower;
	char *cmd = xasprintf("exec %s -c %s events -f --issue api#2", sc->wavectl, sc->conf);

	cr_assert(scenario_await(sc, "started", NULL, 1, 30));
	follower = background(cmd, "follow.out");
	/* api#2 is in its implement phase, and the follower has already said so. */
	cr_assert(file_has("follow.out", "\"event\":\"phase_start\",\"issue\":\"api#2\"", 30));
	free(write_text(sc->dir, "go", ""));
	cr_assert(file_has("follow.out", "\"event\":\"done\",\"issue\":\"api#2\"", 30));
	cr_assert_eq(scenario_wait(waved, 30), 0);
	kill(follower, SIGTERM);
	cr_assert_eq(scenario_wait(follower, 10), 0);
	char *path = xasprintf("%s/follow.out", sc->dir), *out = read_file(path, NULL);
	cr_assert_null(strstr(out, "api#1"), "only api#2's events: %s", out);
	free(out);
	free(path);
	free(cmd);
}

Test(e2e_ctl, log_prints_the_phase_output)
{
	struct run_result r;

	free(write_text(sc->dir, "go", ""));
	pid_t waved = start_gated();
	cr_assert_eq(scenario_wait(waved, 60), 0);
	r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf, "log", "api#2", NULL });
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "working on api#2"), "%s", r.out);
	cr_assert(strstr(r.out, "== waved: implement ended: exit 0"), "%s", r.out);
	run_result_free(&r);
	r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf, "log", "api#2",
	    "--attempt", "7", NULL });
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "api#2 attempt 7: no log"), "%s", r.err);
	run_result_free(&r);
}

Test(e2e_ctl, watch_on_a_terminal_draws_a_row_per_issue_in_flight)
{
	pid_t waved = start_gated(), viewer;
	/* script(1) gives watch a pseudo-terminal; its output is what the screen got. */
	char *cmd = xasprintf("TERM=xterm COLUMNS=120 exec script -qfec '%s -c %s watch' /dev/null",
	    sc->wavectl, sc->conf);

	cr_assert(scenario_await(sc, "started", NULL, 1, 30));
	viewer = background(cmd, "screen.out");
	cr_assert(file_has("screen.out", "Landed api#1", 30), "finished issues scroll above");
	cr_assert(file_has("screen.out", "api#2", 30));
	cr_assert(file_has("screen.out", "implement  attempt 1", 30), "a row for api#2 in implement");
	cr_assert(file_has("screen.out", "working on api#2", 30), "with its last output line");
	cr_assert(file_has("screen.out", "\033[", 5), "redrawn in place with terminal escapes");
	free(write_text(sc->dir, "go", ""));
	cr_assert_eq(scenario_wait(waved, 30), 0);
	cr_assert_eq(scenario_wait(viewer, 30), 0, "watch ends when waved stops");
	cr_assert(file_has("screen.out", "Stopped", 5));
	free(cmd);
}
