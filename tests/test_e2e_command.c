/*
 * End to end: any tracker through two commands (DESIGN.md section 10).  A
 * [source] command whose output the test changes between polls, that
 * fails, hangs or prints half an array (the queue is kept each time); a
 * [source] report command that fails twice, then takes every outcome in
 * order, across a kill -9 of the daemon, repeating one only with its seq.
 * What happened is read from events.ndjson, wavectl status --json and the
 * report command's own file.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "tests/lib/scenario.h"

SCENARIO_SUITE(e2e_command, 180);

/* The tracker: what it does is the word in the file mode. */
#define TRACKER								\
	"case $(cat mode) in\n"						\
	"good) cat issues.json ;;\n"					\
	"fail) echo tracker down >&2; exit 3 ;;\n"			\
	"hang) sleep 60 ;;\n"						\
	"half) head -c 70 issues.json ;;\n"				\
	"esac\n"

/* Each phase writes the title it was given, so that git shows which one it got. */
#define TITLE_PHASE "[phase \"implement\"]\nrun = printf '%s' \"$WAVED_TITLE\" > title-$WAVED_NUMBER.txt\n"

/* Paused at 90% until the test writes another reading. */
#define PAUSED "[usage]\ncommand = cat \"$PWD/usage.txt\"\ninterval = 1\n"

static void
put(const char *name, const char *text)
{
	char *tmp = xasprintf("%s.new", name), *from = xasprintf("%s/%s", sc->dir, tmp),
	    *to = xasprintf("%s/%s", sc->dir, name);

	free(write_text(sc->dir, tmp, text));
	cr_assert_eq(rename(from, to), 0);	/* whole, never half a file */
	free(tmp);
	free(from);
	free(to);
}

/* waved.conf with these [source] keys, polling every poll seconds. */
static void
command_config(int poll, const char *source, const char *more)
{
	char *text = xasprintf("[waved]\nstate_dir = state\nretry_backoff = 0\npoll_interval = %d\n"
	    "[source]\n%s\n%s\n%s", poll, source, more ? more : "", sc->repos);

	free(write_text(sc->dir, "waved.conf", text));
	free(text);
}

static cJSON *
status(void)
{
	struct run_result r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf,
	    "status", "--json", NULL });
	cJSON *st;

	cr_assert_eq(r.status, 0, "%s", r.err);
	st = json_parse_or_fail(r.out);
	run_result_free(&r);
	return st;
}

/* The issues wavectl status knows, as "api#1=ready api#2=ready". */
static char *
issue_states(void)
{
	cJSON *st = status(), *is;
	struct strbuf b = { 0 };

	cJSON_ArrayForEach(is, cJSON_GetObjectItem(st, "issues"))
		strbuf_addf(&b, "%s%s=%s", b.len ? " " : "",
		    cJSON_GetStringValue(cJSON_GetObjectItem(is, "issue")),
		    cJSON_GetStringValue(cJSON_GetObjectItem(is, "state")));
	cJSON_Delete(st);
	return strbuf_take(&b);
}

/* Wait for a source_failed event whose reason holds because; false past the deadline. */
static bool
await_failure(const char *because, int timeout_s)
{
	int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000;

	while (mono_ms() < deadline) {
		cJSON *evs = scenario_events(sc);
		bool seen = false;

		for (int k = ev_find(evs, "source_failed", NULL, 0); k >= 0 && !seen;
		    k = ev_find(evs, "source_failed", NULL, k + 1))
			seen = strstr(ev_string(evs, k, "reason"), because) != NULL;
		cJSON_Delete(evs);
		if (seen)
			return true;
		nap_ms(50);
	}
	return false;
}

Test(e2e_command, the_queue_follows_the_command_and_outlives_its_bad_runs)
{
	char *api = scenario_repo(sc, "api"), *states, *title;
	pid_t pid;

	command_config(1, "type = command\ncommand = sh tracker.sh\ncommand_timeout = 1\n",
	    TITLE_PHASE PAUSED);
	put("tracker.sh", TRACKER);
	put("usage.txt", "90\n");
	put("mode", "good\n");
	put("issues.json", "[{\"repo\":\"api\",\"number\":1,\"title\":\"one\"}]\n");
	pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "queued", "api#1", 1, 30));

	/* A new issue appears and the first one changes its title, in one poll. */
	put("issues.json", "[{\"repo\":\"api\",\"number\":1,\"title\":\"uno\"},\n"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"two\"}]\n");
	cr_assert(scenario_await(sc, "queued", "api#2", 1, 30));

	/* The tracker has a bad minute: each run is told, and the queue stays. */
	put("mode", "fail\n");
	cr_assert(await_failure("exited with 3", 30));
	states = issue_states();
	cr_assert_str_eq(states, "api#1=ready api#2=ready");
	free(states);
	put("mode", "hang\n");
	cr_assert(await_failure("gave no answer within 1 s", 30));
	states = issue_states();
	cr_assert_str_eq(states, "api#1=ready api#2=ready");
	free(states);
	put("mode", "half\n");
	cr_assert(await_failure("not valid JSON at line 2", 30));
	states = issue_states();
	cr_assert_str_eq(states, "api#1=ready api#2=ready");
	free(states);

	/* Still broken, the last good list is worked: both land, #1 with its new title. */
	put("usage.txt", "10\n");
	cr_assert(scenario_await(sc, "done", NULL, 2, 60));
	title = scenario_git(api, (const char *[]){ "show", "waved:title-1.txt", NULL });
	cr_assert_str_eq(title, "uno");
	free(title);
	title = scenario_git(api, (const char *[]){ "show", "waved:title-2.txt", NULL });
	cr_assert_str_eq(title, "two");
	free(title);
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
	free(api);
}

Test(e2e_command, sighup_runs_the_command_again)
{
	pid_t pid;

	free(scenario_repo(sc, "api"));
	/* An hour between polls: only the signal can make the second run. */
	command_config(3600, "type = command\ncommand = cat 'issues.json'\n", TITLE_PHASE);
	put("issues.json", "[{\"repo\":\"api\",\"number\":1,\"title\":\"one\"}]\n");
	pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "done", "api#1", 1, 30));
	put("issues.json", "[{\"repo\":\"api\",\"number\":1,\"title\":\"one\"},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"two\"}]\n");
	kill(pid, SIGHUP);
	cr_assert(scenario_await(sc, "done", "api#2", 1, 30));
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
}

Test(e2e_command, check_only_runs_the_command_once)
{
	struct run_result r;

	free(scenario_repo(sc, "api"));
	command_config(1, "type = command\ncommand = sh tracker.sh\ncommand_timeout = 1\n",
	    TITLE_PHASE);
	put("tracker.sh", TRACKER);
	put("mode", "good\n");
	put("issues.json", "[{\"repo\":\"api\",\"number\":1,\"title\":\"one\"},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"two\"}]\n");
	r = run_argv(sc->dir, (const char *[]){ sc->waved, "-n", "-c", sc->conf, NULL });
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "source command: 2 issues would load"), "%s", r.out);
	run_result_free(&r);
	put("mode", "half\n");
	r = run_argv(sc->dir, (const char *[]){ sc->waved, "-n", "-c", sc->conf, NULL });
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "source command: not valid JSON at line 1"), "%s", r.err);
	run_result_free(&r);
	cr_assert_eq(access(sc->state, F_OK), -1, "-n starts nothing and keeps no state");
}

/*
 * The report command fails its first two runs, then writes each line it
 * hears to reports.ndjson and takes a second before it exits: the daemon
 * is killed in that second, so that report is heard again after the start.
 */
#define REPORTER							\
	"line=$(cat)\n"							\
	"n=$(cat tries 2>/dev/null || echo 0); n=$((n + 1)); echo $n > tries\n" \
	"if [ $n -le 2 ]; then echo ended >> ended; exit 1; fi\n"	\
	"printf '%s\\n' \"$line\" >> reports.ndjson\n"			\
	"sleep 1\n"							\
	"echo ended >> ended\n"

static int
file_lines(const char *name)
{
	char *path = xasprintf("%s/%s", sc->dir, name), *text = read_file(path, NULL);
	int n = 0;

	for (const char *p = text; p && (p = strchr(p, '\n')) != NULL; p++)
		n++;
	free(text);
	free(path);
	return n;
}

/* The number the reporter keeps in its file tries. */
static int
tries(void)
{
	char *path = xasprintf("%s/tries", sc->dir), *text = read_file(path, NULL);
	int n = text ? atoi(text) : 0;

	free(text);
	free(path);
	return n;
}

static bool
await_lines(const char *name, int count, int timeout_s)
{
	int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000;

	while (mono_ms() < deadline) {
		if (file_lines(name) >= count)
			return true;
		nap_ms(50);
	}
	return false;
}

Test(e2e_command, every_outcome_reaches_the_report_command_in_order_across_a_kill)
{
	char *path, *text, *save = NULL, *previous = NULL;
	cJSON *evs, *st;
	int64_t last = 0;
	int outcomes = 0, heard = 0, repeats = 0;
	pid_t pid;
	struct run_result r;

	free(scenario_repo(sc, "api"));
	/* api#1 lands, api#2 fails its one attempt, api#3 is blocked by it. */
	command_config(3600, "type = file\npath = issues.json\nreport = sh reporter.sh\n",
	    "[phase \"implement\"]\nrun = [ $WAVED_NUMBER -ne 2 ] || exit 1; echo x > f-$WAVED_NUMBER.txt\n");
	put("reporter.sh", REPORTER);
	put("issues.json", "[{\"repo\":\"api\",\"number\":1,\"title\":\"a\"},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"b\"},"
	    "{\"repo\":\"api\",\"number\":3,\"title\":\"c\",\"depends_on\":[\"#2\"]}]\n");
	pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	cr_assert(await_lines("reports.ndjson", 1, 60), "a report after two failures");
	kill(pid, SIGKILL);
	cr_assert_eq(scenario_wait(pid, 30), 128 + SIGKILL);

	/* The next start hears the rest, at once, and --once waits for them. */
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 1, "api#2 is dead, api#3 blocked: %s", r.err);
	run_result_free(&r);
	cr_assert(await_lines("ended", tries(), 30), "every reporter has ended");

	/* Every outcome event, in seq order; a repeat only as the same line again. */
	evs = scenario_events(sc);
	path = xasprintf("%s/reports.ndjson", sc->dir);
	text = read_file(path, NULL);
	cr_assert_not_null(text);
	int64_t seen[64];
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		cJSON *e = json_parse_or_fail(line);
		int64_t seq = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "seq"));
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(e, "event"));
		int k;

		cr_assert_geq(seq, last, "in event order: %s", line);
		if (seq == last) {
			cr_assert_str_eq(line, previous, "a repeat is the same line again");
			repeats++;
		} else {
			cr_assert_lt(heard, (int)ARRAY_LEN(seen));
			seen[heard++] = seq;
		}
		last = seq;
		previous = line;
		for (k = 0; k < cJSON_GetArraySize(evs) &&
		    ev_number(evs, k, "seq") != (double)seq; k++)
			;
		cr_assert_lt(k, cJSON_GetArraySize(evs), "seq %lld is in the event log", (long long)seq);
		cr_assert_str_eq(ev_string(evs, k, "event"), name, "the line is its event's");
		cJSON_Delete(e);
	}
	const char *kinds[] = { "done", "dead", "blocked", "pr_opened", "pr_merged" };
	for (size_t n = 0; n < ARRAY_LEN(kinds); n++)
		for (int k = ev_find(evs, kinds[n], NULL, 0); k >= 0; k = ev_find(evs, kinds[n], NULL, k + 1)) {
			bool found = false;

			for (int j = 0; j < heard && !found; j++)
				found = seen[j] == (int64_t)ev_number(evs, k, "seq");
			cr_assert(found, "%s of %s (seq %.0f) was reported", kinds[n],
			    ev_string(evs, k, "issue"), ev_number(evs, k, "seq"));
			outcomes++;
		}
	cr_assert_eq(outcomes, heard, "nothing but outcomes is reported");
	cr_assert_geq(outcomes, 3, "done, dead and blocked");
	cr_assert_eq(ev_count(evs, "done", "api#1"), 1);
	cr_assert_eq(ev_count(evs, "dead", "api#2"), 1);
	cr_assert_geq(ev_count(evs, "blocked", "api#3"), 1);
	cr_assert_leq(repeats, 1, "only the report the kill interrupted is heard twice");
	cr_assert_eq(tries(), 2 + heard + repeats, "two failures, then one run a report");
	st = status();
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(st, "reports_pending")), 0);
	cJSON_Delete(st);
	cJSON_Delete(evs);
	free(text);
	free(path);
}

/* The examples in etc/ are not run here (they talk to Jira and GitLab), but they parse. */
Test(e2e_command, the_tracker_examples_are_valid_shell)
{
	const char *const scripts[] = { "etc/tracker/jira-issues", "etc/tracker/jira-report",
	    "etc/tracker/gitlab-issues", "etc/tracker/gitlab-report" };

	for (size_t k = 0; k < ARRAY_LEN(scripts); k++) {
		struct run_result r = run_argv(NULL, (const char *[]){ "sh", "-n", scripts[k], NULL });

		cr_assert_eq(r.status, 0, "sh -n %s (run from the source tree): %s", scripts[k], r.err);
		run_result_free(&r);
	}
}
