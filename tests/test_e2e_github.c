/*
 * End to end: waved with [source] type = github against a local server that
 * answers with recorded GitHub responses.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "tests/lib/httpd.h"
#include "tests/lib/scenario.h"

static struct scenario *sc;
static struct httpd *server;

static void
teardown(void)
{
	httpd_stop(server);
	server = NULL;
	scenario_free(sc);
	unsetenv("GITHUB_TOKEN");
}

TestSuite(e2e_github, .fini = teardown, .timeout = 120);

/* Real repos api (and web), the "once" fixtures, a config pointed at the server. */
static void
start(bool with_web)
{
	char *log, *source, *conf, *full;

	sc = scenario_new();
	log = xasprintf("%s/requests.log", sc->dir);
	server = httpd_start("tests/fixtures/github/once", log);
	free(scenario_repo(sc, "api"));
	if (with_web)
		free(scenario_repo(sc, "web"));
	source = xasprintf("[phase \"implement\"]\nrun = echo $WAVED_ISSUE > f-$WAVED_NUMBER.txt\n");
	scenario_config(sc, NULL, source);
	/* Switch the source to GitHub and give each repo its owner/name. */
	conf = read_file(sc->conf, NULL);
	char *type = strstr(conf, "type = file\npath = issues.json\n");
	cr_assert_not_null(type);
	*type = '\0';
	full = xasprintf("%stype = github\napi = http://127.0.0.1:%d\nclose_on_done = yes\nopen_pr = yes\n%s",
	    conf, server->port, type + strlen("type = file\npath = issues.json\n"));
	char *api = strstr(full, "path = repos/api\n");
	char *with_gh = xasprintf("%.*spath = repos/api\ngithub = acme/api\n%s", (int)(api - full), full,
	    api + strlen("path = repos/api\n"));
	if (with_web) {
		char *web = strstr(with_gh, "path = repos/web\n"), *both;
		both = xasprintf("%.*spath = repos/web\ngithub = acme/web\n%s", (int)(web - with_gh),
		    with_gh, web + strlen("path = repos/web\n"));
		free(with_gh);
		with_gh = both;
	}
	free(write_text(sc->dir, "waved.conf", with_gh));
	setenv("GITHUB_TOKEN", "test-token-not-secret", 1);
	free(with_gh);
	free(full);
	free(conf);
	free(source);
	free(log);
}

Test(e2e_github, once_runs_in_dependency_order_and_comments_once_per_issue)
{
	struct run_result r;
	cJSON *evs;

	start(false);
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	evs = scenario_events(sc);
	cr_assert_gt(ev_find(evs, "admitted", "api#2", 0), ev_find(evs, "done", "api#1", 0),
	    "api#2 depends on api#1 by its body");
	cJSON_Delete(evs);
	cr_assert_eq(httpd_count(server, "POST /repos/acme/api/issues/1/comments "), 1);
	cr_assert_eq(httpd_count(server, "POST /repos/acme/api/issues/2/comments "), 1);
	cr_assert_eq(httpd_count(server, "PATCH /repos/acme/api/issues/1 "), 1, "close_on_done");
	cr_assert_eq(httpd_count(server, "auth=no"), 0, "the token goes with every request");
	/* One pull request for the repo: opened after the first, updated after the second. */
	cr_assert_eq(httpd_count(server, "POST /repos/acme/api/pulls "), 1);
	cr_assert_eq(httpd_count(server, "PATCH /repos/acme/api/pulls/1 "), 1);
	cr_assert_eq(httpd_count(server, "PATCH /repos/acme/api/pulls/1 if-none-match=- auth=yes "
	    "body={\"body\":\"The work waved landed on `waved`:\\n\\nIssue: #1\\nIssue: #2\\n\"}"), 1,
	    "the update lists both issues");
	/* The token never reaches logs, events or the phases. */
	struct run_result grep = run_argv(sc->dir, (const char *[]){ "grep", "-r", "test-token-not-secret",
	    sc->state, NULL });
	cr_assert_eq(grep.status, 1, "the token leaked into: %s", grep.out);
	run_result_free(&grep);
	run_result_free(&r);
}

Test(e2e_github, a_crash_between_posting_and_recording_never_comments_twice)
{
	struct run_result r;
	pid_t pid;

	start(false);
	/* The server keeps api#1's comment at once but answers 1.5 s later. */
	pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	int64_t deadline = mono_ms() + 30000;
	while (httpd_count(server, "POST /repos/acme/api/issues/1/comments ") == 0 && mono_ms() < deadline)
		nap_ms(20);
	cr_assert_eq(httpd_count(server, "POST /repos/acme/api/issues/1/comments "), 1);
	kill(pid, SIGKILL);	/* before the answer: the report is not recorded */
	scenario_wait(pid, 30);
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_geq(httpd_count(server, "GET /repos/acme/api/issues/1/comments"), 2,
	    "the restart looked for its marker");
	cr_assert_eq(httpd_count(server, "POST /repos/acme/api/issues/1/comments "), 1,
	    "exactly one comment for api#1");
	cr_assert_eq(httpd_count(server, "POST /repos/acme/api/issues/2/comments "), 1);
	run_result_free(&r);
}

Test(e2e_github, a_slow_server_does_not_hold_up_the_daemon)
{
	struct run_result r;
	cJSON *evs;

	start(true);	/* acme/web's listing takes 3 s */
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	evs = scenario_events(sc);
	int web = ev_find(evs, "queued", "web#1", 0);
	cr_assert_geq(web, 0);
	cr_assert_lt(ev_find(evs, "done", "api#2", 0), web,
	    "api's issues ran and landed while web's listing was still on its way");
	cJSON_Delete(evs);
	run_result_free(&r);
}

Test(e2e_github, preflight_names_the_repo_github_refuses)
{
	struct run_result r;

	start(false);
	/* acme/ops is not served (404). */
	char *conf = read_file(sc->conf, NULL), *more;
	char *ops = xasprintf("%s/repos/ops", sc->dir);
	git_repo_new(ops);
	more = xasprintf("%s[repo \"ops\"]\npath = repos/ops\ngithub = acme/ops\n", conf);
	free(write_text(sc->dir, "waved.conf", more));
	r = run_argv(sc->dir, (const char *[]){ sc->waved, "-n", "-c", sc->conf, NULL });
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "repo ops: GitHub repo acme/ops is not readable with this token (HTTP 404)"),
	    "%s", r.err);
	cr_assert_null(strstr(r.err, "repo api:"), "%s", r.err);
	run_result_free(&r);
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 2, "a failed preflight stops the start: %s", r.err);
	cr_assert_eq(httpd_count(server, "/comments"), 0, "no worker started");
	run_result_free(&r);
	free(conf);
	free(more);
	free(ops);
}

Test(e2e_github, plan_reads_the_github_source)
{
	struct run_result r;

	start(false);
	r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf, "plan", "--json", NULL });
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "{\"waves\":[[\"api#1\"],[\"api#2\"]],\"blocked\":[]}\n");
	run_result_free(&r);
}
