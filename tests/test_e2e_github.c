/*
 * End to end: waved with [source] type = github against a local server that
 * answers with recorded GitHub responses.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <criterion/criterion.h>

#include "common/store.h"
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

/* Real repos api (and web), a fixture folder, a config pointed at the server. */
static void
start_with(const char *fixtures, bool with_web)
{
	char *log, *source, *conf, *full, *folder;

	sc = scenario_new();
	log = xasprintf("%s/requests.log", sc->dir);
	folder = xasprintf("tests/fixtures/github/%s", fixtures);
	server = httpd_start(folder, log);
	free(folder);
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

static void
start(bool with_web)
{
	start_with("once", with_web);
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
	/* The comment names the attempt that finished the issue, as pull request bodies do. */
	char *trace = xasprintf("(trace `%s`)", ev_string(evs, ev_find(evs, "done", "api#1", 0),
	    "trace"));
	cr_assert_eq(httpd_count(server, trace), 1, "the done comment carries %s", trace);
	free(trace);
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

	start(true);	/* acme/web's listing takes 8 s */
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
	cr_assert_str_eq(r.out, "{\"waves\":[[\"api#1\"],[\"api#2\"]],\"expected_ms\":[null,null],"
	    "\"blocked\":[]}\n");
	run_result_free(&r);
}

/* text with every from replaced by to (caller frees). */
static char *
replace_all(const char *text, const char *from, const char *to)
{
	struct strbuf b = { 0 };
	const char *at;

	while ((at = strstr(text, from)) != NULL) {
		strbuf_addn(&b, text, (size_t)(at - text));
		strbuf_add(&b, to);
		text = at + strlen(from);
	}
	strbuf_add(&b, text);
	return strbuf_take(&b);
}

/* The scenario's configuration file, every from in it made to. */
static void
edit_conf(const char *name, const char *from, const char *to)
{
	char *conf = read_file(sc->conf, NULL), *edited = replace_all(conf, from, to);

	free(write_text(sc->dir, name, edited));
	free(edited);
	free(conf);
}

static struct run_result
plan_with(const char *conf, bool json)
{
	return run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", conf, "plan",
	    json ? "--json" : NULL, NULL });
}

/* The issues of the roundtrip fixture as an issues file, oldest first. */
static const char same_issues[] = "["
    "{\"repo\":\"web\",\"number\":3,\"title\":\"Footer\"},"
    "{\"repo\":\"api\",\"number\":1,\"title\":\"Schema\",\"body\":\"The tables.\"},"
    "{\"repo\":\"web\",\"number\":1,\"title\":\"Session store\"},"
    "{\"repo\":\"api\",\"number\":4,\"title\":\"Upgrade the library\"},"
    "{\"repo\":\"api\",\"number\":2,\"title\":\"Login \u00e9t\u00e9 \\\"quoted\\\"\\ttab \U0001F642\","
    "\"depends_on\":[\"#1\",\"web#1\"]},"
    "{\"repo\":\"api\",\"number\":3,\"title\":\"Audit\",\"depends_on\":[\"#9\"]},"
    "{\"repo\":\"api\",\"number\":6,\"title\":\"Lint\"},"
    "{\"repo\":\"api\",\"number\":5,\"title\":\"Docs\",\"pool\":\"heavy\"},"
    "{\"repo\":\"web\",\"number\":2,\"title\":\"Login page\",\"depends_on\":[\"api#2\"]}]";

/* "YYYY-MM-DDTHH:MM:SSZ" as seconds since the epoch. */
static time_t
utc_seconds(const char *iso)
{
	struct tm tm = { 0 };

	cr_assert_not_null(strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm), "%s", iso);
	return timegm(&tm);
}

/*
 * wavectl plan of a GitHub source asks waved for the issues: what reaches
 * wavectl is what waved read, every field of every issue (its dependencies
 * on issues outside the set too: a closed one of a configured repo, still
 * named; one of a repo waved does not manage, closed upstream, left out as
 * met, as the daemon counts it), and the plan is the plan of the same
 * issues in a file.  GitHub lists them in an order that is not their age,
 * which breaks the ties.
 */
Test(e2e_github, plan_through_waved_keeps_every_field_and_plans_as_the_same_issues_in_a_file)
{
	struct run_result r, f;
	cJSON *got, *want;

	start_with("roundtrip", true);
	edit_conf("waved.conf", "[source]\n", "[pool \"heavy\"]\ncap = 1\n[source]\n");
	edit_conf("file.conf", "type = github\n", "type = file\npath = same.json\n");
	free(write_text(sc->dir, "same.json", same_issues));
	r = run_argv(sc->dir, (const char *[]){ sc->waved, "-c", sc->conf, "--source-issues",
	    NULL });
	cr_assert_eq(r.status, 0, "%s", r.err);
	got = json_parse_or_fail(r.out);
	want = json_parse_or_fail("["
	    "{\"repo\":\"api\",\"number\":5,\"title\":\"Docs\",\"body\":\"Nothing first.\","
	    "\"depends_on\":[],\"pool\":\"heavy\",\"created\":0},"
	    "{\"repo\":\"api\",\"number\":4,\"title\":\"Upgrade the library\","
	    "\"body\":\"Its dependency is on GitHub's list.\",\"depends_on\":[],"
	    "\"created\":0},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"Login \u00e9t\u00e9 \\\"quoted\\\"\\ttab \U0001F642\","
	    "\"body\":\"Depends on #1\\r\\nBlocked by acme/web#1\\r\\n```\\r\\nRequires #77\\r\\n```\\r\\n"
	    "A body \u00e0 garder, \\\\ and \\u0001.\",\"depends_on\":[\"api#1\",\"web#1\"],"
	    "\"created\":0},"
	    "{\"repo\":\"api\",\"number\":6,\"title\":\"Lint\",\"body\":\"\",\"depends_on\":[],"
	    "\"created\":0},"
	    "{\"repo\":\"api\",\"number\":3,\"title\":\"Audit\",\"body\":\"Requires #9 (closed: not "
	    "listed)\",\"depends_on\":[\"api#9\"],\"created\":0},"
	    "{\"repo\":\"api\",\"number\":1,\"title\":\"Schema\",\"body\":\"The tables.\","
	    "\"depends_on\":[],\"created\":0},"
	    "{\"repo\":\"web\",\"number\":2,\"title\":\"Login page\",\"body\":\"Depends on "
	    "https://github.com/acme/api/issues/2\",\"depends_on\":[\"api#2\"],\"created\":0},"
	    "{\"repo\":\"web\",\"number\":3,\"title\":\"Footer\",\"body\":\"\",\"depends_on\":[],"
	    "\"created\":0},"
	    "{\"repo\":\"web\",\"number\":1,\"title\":\"Session store\",\"body\":\"\","
	    "\"depends_on\":[],\"created\":0}]");
	/* Their ages, as the recorded listings give them (created_at). */
	static const char *const created_at[] = {
	    "2026-11-06T10:00:00Z",
	    "2026-11-02T10:00:00Z",
	    "2026-11-03T10:00:00Z",
	    "2026-11-05T10:00:00Z",
	    "2026-11-04T10:00:00Z",
	    "2026-11-01T10:00:00Z",
	    "2026-11-07T10:00:00Z",
	    "2026-10-30T10:00:00Z",
	    "2026-11-01T12:00:00Z",
	};
	cJSON *issue;
	size_t k = 0;

	cJSON_ArrayForEach(issue, want)
		cJSON_SetNumberValue(cJSON_GetObjectItem(issue, "created"),
		    (double)utc_seconds(created_at[k++]));
	cr_assert(cJSON_Compare(got, want, true), "waved --source-issues printed:\n%s", r.out);
	cJSON_Delete(got);
	cJSON_Delete(want);
	run_result_free(&r);

	/* The plans agree.  api has more waiting than web: its issues go first,
	 * the longer chain of dependents first; with history, the heavy pool's
	 * issue counts its pool's time. */
	for (int round = 0; round < 2; round++) {
		for (int json = 0; json < 2; json++) {
			r = plan_with(sc->conf, json);
			f = plan_with("file.conf", json);
			cr_assert_eq(r.status, 1, "%s", r.err);
			cr_assert_eq(f.status, 1, "%s", f.err);
			cr_assert(!strstr(r.out, "lib#7"), "%s", r.out);
			cr_assert(strstr(r.out, "unknown dependency api#9"), "%s", r.out);
			cr_assert_str_eq(r.out, f.out, "from GitHub:\n%s\nfrom the file:\n%s", r.out,
			    f.out);
			if (json && round == 0)
				cr_assert_str_eq(f.out, "{\"waves\":[[\"api#1\",\"api#4\",\"api#6\","
				    "\"api#5\",\"web#1\",\"web#3\"],[\"api#2\"],[\"web#2\"]],\"expected_ms\":"
				    "[null,null,null],\"blocked\":[{\"issue\":\"api#3\",\"reason\":\"unknown "
				    "dependency api#9\"}]}\n");
			if (json && round == 1)
				cr_assert_str_eq(f.out, "{\"waves\":[[\"api#5\",\"api#1\",\"api#4\","
				    "\"api#6\",\"web#1\",\"web#3\"],[\"api#2\"],[\"web#2\"]],\"expected_ms\":"
				    "[510000,60000,60000],\"blocked\":[{\"issue\":\"api#3\",\"reason\":"
				    "\"unknown dependency api#9\"}]}\n");
			run_result_free(&r);
			run_result_free(&f);
		}
		store_history_seed(sc->state, "repo", "api", 60000);
		store_history_seed(sc->state, "repo", "web", 60000);
		store_history_seed(sc->state, "pool", "heavy", 600000);
	}
}

/* GitHub refusing the token, GitHub not there, waved not there: wavectl says
 * so and exits 2, planning nothing. */
Test(e2e_github, plan_says_why_when_waved_cannot_read_github)
{
	struct run_result r;
	char *alone, *copy, *cp;

	start_with("roundtrip", false);
	edit_conf("refused.conf", "github = acme/api\n", "github = acme/refused\n");
	r = plan_with("refused.conf", true);
	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert_str_eq(r.out, "", "nothing planned");
	cr_assert(strstr(r.err, "waved: repo api: GitHub answered 401 for acme/refused (the issue "
	    "list): check [repo \"api\"] github and the token\n"), "%s", r.err);
	cr_assert(strstr(r.err, "wavectl: the issue source could not be read ("), "%s", r.err);
	cr_assert(strstr(r.err, "--source-issues exited 2: its reasons are above)\n"), "%s", r.err);
	run_result_free(&r);

	unsetenv("GITHUB_TOKEN");
	r = plan_with(sc->conf, true);
	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert(strstr(r.err, "token"), "no token is named: %s", r.err);
	cr_assert(strstr(r.err, "wavectl: the issue source could not be read ("), "%s", r.err);
	run_result_free(&r);
	setenv("GITHUB_TOKEN", "test-token-not-secret", 1);

	httpd_stop(server);	/* its port is left with no one listening */
	server = NULL;
	r = plan_with(sc->conf, true);
	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert_str_eq(r.out, "");
	cr_assert(strstr(r.err, "waved: repo api: the issue list from GitHub failed ("), "%s", r.err);
	cr_assert_null(strstr(r.err, "retrying"), "waved reads once: %s", r.err);
	cr_assert(strstr(r.err, "wavectl: the issue source could not be read ("), "%s", r.err);
	run_result_free(&r);

	/* A wavectl with no waved beside it and none on PATH. */
	alone = xasprintf("%s/alone", sc->dir);
	copy = xasprintf("%s/wavectl", alone);
	cr_assert_eq(mkdir_p(alone, 0755), 0);
	r = run_argv(sc->dir, (const char *[]){ "cp", sc->wavectl, copy, NULL });
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_result_free(&r);
	cp = xasprintf("PATH=%s", "/nonexistent");
	r = run_argv(sc->dir, (const char *[]){ "env", cp, copy, "-c", sc->conf, "plan", NULL });
	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert(strstr(r.err, "wavectl: plan of a GitHub source asks waved, which holds the "
	    "token, for the issues; waved was found neither at "), "%s", r.err);
	cr_assert(strstr(r.err, "/alone/waved, nor on PATH\n"), "%s", r.err);
	run_result_free(&r);
	free(cp);
	free(copy);
	free(alone);
}

/* More repos than a fixed table of sockets would hold: every one is checked. */
Test(e2e_github, preflight_of_eighty_repos)
{
	struct strbuf routes = { 0 }, conf = { 0 };
	char *fixtures, *repo, *response, *log;
	struct run_result r;

	sc = scenario_new();
	fixtures = xasprintf("%s/fixtures", sc->dir);
	response = read_file("tests/fixtures/github/once/repo-api.http", NULL);
	cr_assert_not_null(response);
	free(write_text(fixtures, "repo.http", response));
	repo = xasprintf("%s/repos/one", sc->dir);
	git_repo_new(repo);
	strbuf_addf(&conf, "[waved]\nstate_dir = state\n[source]\ntype = github\n"
	    "[phase \"implement\"]\nrun = true\n");
	for (int k = 1; k <= 80; k++) {
		strbuf_addf(&routes, "GET /repos/acme/r%d repo.http\n", k);
		strbuf_addf(&conf, "[repo \"r%d\"]\npath = repos/one\ngithub = acme/r%d\n", k, k);
	}
	free(write_text(fixtures, "routes", routes.s));
	log = xasprintf("%s/requests.log", sc->dir);
	server = httpd_start(fixtures, log);
	strbuf_addf(&conf, "[source]\napi = http://127.0.0.1:%d\n", server->port);
	free(write_text(sc->dir, "waved.conf", conf.s));
	setenv("GITHUB_TOKEN", "test-token-not-secret", 1);
	r = run_argv(sc->dir, (const char *[]){ sc->waved, "-n", "-c", sc->conf, NULL });
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_eq(httpd_count(server, "GET /repos/acme/r"), 80);
	run_result_free(&r);
	strbuf_free(&routes);
	strbuf_free(&conf);
	free(fixtures);
	free(response);
	free(repo);
	free(log);
}

/* More dependencies on unmanaged issues than the first table of them holds. */
Test(e2e_github, twelve_external_dependencies)
{
	struct run_result r;

	start_with("externals", false);
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_result_free(&r);
	for (int n = 1; n <= 12; n++) {
		char *path = xasprintf("GET /repos/other/lib/issues/%d ", n);

		cr_assert_geq(httpd_count(server, path), 1, "other/lib#%d asked about", n);
		free(path);
	}
	cJSON *evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "done", "api#1"), 1);
	cJSON_Delete(evs);
}

/*
 * wavectl plan counts a dependency closed upstream met, as the daemon does:
 * the issue that waits on twelve closed issues of a repo waved does not
 * manage is planned, not blocked as unknown.
 */
Test(e2e_github, plan_counts_a_dependency_closed_upstream_met)
{
	struct run_result r;

	start_with("externals", false);
	r = plan_with(sc->conf, true);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "{\"waves\":[[\"api#1\"]],\"expected_ms\":[null],\"blocked\":[]}\n");
	run_result_free(&r);
}

/* Wait until the daemon has said "reloaded" n times. */
static bool
await_reloads(int n)
{
	char *path = xasprintf("%s/waved.out", sc->dir);
	int seen = 0;

	for (int waited = 0; seen < n && waited < 30000; waited += 50) {
		char *text = read_file(path, NULL);

		seen = 0;
		for (const char *p = text; p && (p = strstr(p, "reloaded ")) != NULL; p++)
			seen++;
		free(text);
		if (seen < n)
			nap_ms(50);
	}
	free(path);
	return seen >= n;
}

/* A reload hands the new configuration to the source; the old one is not used after. */
Test(e2e_github, sighup_twice_with_the_github_source)
{
	pid_t pid;

	start(true);
	pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "done", "api#1", 1, 60));
	kill(pid, SIGHUP);
	cr_assert(await_reloads(1));
	kill(pid, SIGHUP);
	cr_assert(await_reloads(2));
	cr_assert(scenario_await(sc, "done", "api#2", 1, 60));
	cr_assert(scenario_await(sc, "done", "web#1", 1, 60));
	kill(pid, SIGHUP);
	/* Polled again after the reloads: the source still lists its repos. */
	int before = httpd_count(server, "GET /repos/acme/web/issues?");
	for (int waited = 0; httpd_count(server, "GET /repos/acme/web/issues?") == before &&
	    waited < 10000; waited += 50)
		nap_ms(50);
	cr_assert_gt(httpd_count(server, "GET /repos/acme/web/issues?"), before);
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
}

/*
 * What comes from outside is checked before it becomes a URL: a body naming
 * paths instead of issues reaches no API, and a Link to another origin is
 * not followed with the token.
 */
Test(e2e_github, hostile_input_never_reaches_the_api)
{
	struct run_result r;

	start_with("hostile", true);
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.err, "is not an issue of owner/name: ignored"), "%s", r.err);
	cr_assert(strstr(r.err, "not followed"), "%s", r.err);
	run_result_free(&r);
	cr_assert_eq(httpd_count(server, "/user"), 0, "a path from an issue body reached the API");
	cJSON *evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "done", "api#1"), 1);
	cJSON_Delete(evs);
}

/*
 * One limiter for every request: a secondary limit met by web's listing holds
 * api's requests too (its issues' dependencies, their comments) until it
 * ends, when web's listing goes again first.  Told by the order of the
 * server's log: between web's limited listing and its second, nothing but
 * api's own listing, which was under way before the limit.
 */
Test(e2e_github, a_secondary_limit_on_one_repo_holds_the_other_repo_and_the_comments)
{
	struct run_result r;
	const char *web_list = "GET /repos/acme/web/issues?state=open";

	start_with("held", true);
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_result_free(&r);
	int limited = httpd_index(server, web_list, 0), again = httpd_index(server, web_list, 1);
	cr_assert(limited >= 0 && again > limited, "web was listed twice: %d %d", limited, again);
	for (int k = limited + 1; k < again; k++) {
		char *line = httpd_line(server, k);

		cr_assert(line && strstr(line, "GET /repos/acme/api/issues?state=open") &&
		    k == httpd_index(server, "GET /repos/acme/api/issues?state=open", 0),
		    "sent during the hold: %s", line ? line : "?");
		free(line);
	}
	cr_assert_gt(httpd_index(server, "/dependencies/blocked_by", 0), again);
	cr_assert_gt(httpd_index(server, "POST /repos/acme/api/issues/1/comments ", 0), again);
	cJSON *evs = scenario_events(sc);
	int k = ev_find(evs, "rate_limited", NULL, 0);
	cr_assert_geq(k, 0);
	cr_assert_str_eq(ev_string(evs, k, "repo"), "web");
	cr_assert_eq(ev_count(evs, "done", "api#2"), 1);
	cJSON_Delete(evs);
}

/* [source] gets more keys: the line after "type = github". */
static void
source_keys(const char *keys)
{
	char *conf = read_file(sc->conf, NULL), *at = strstr(conf, "type = github\n"), *more;

	cr_assert_not_null(at);
	at += strlen("type = github\n");
	more = xasprintf("%.*s%s%s", (int)(at - conf), conf, keys, at);
	free(write_text(sc->dir, "waved.conf", more));
	free(more);
	free(conf);
}

/*
 * A 401 runs token_command again (through the daemon's loop) and the request
 * goes with its token.  Tokens as long as real ones: a forked worker wipes
 * every copy of the token in its memory, and a two-letter one is everywhere.
 */
Test(e2e_github, a_401_runs_token_command_again_and_the_retry_carries_the_new_token)
{
	struct run_result r;
	const char *list = "GET /repos/acme/api/issues?state=open";

	start_with("token", false);
	unsetenv("GITHUB_TOKEN");
	source_keys("token_command = ./token.sh\n");
	char *script = write_text(sc->dir, "token.sh", "#!/bin/sh\nn=$(cat count 2>/dev/null || "
	    "echo 0)\nn=$((n + 1))\necho $n > count\necho token-of-run-$n-not-secret\n");
	chmod(script, 0700);
	free(script);
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "exit %d: %s%s", r.status, r.out, r.err);
	run_result_free(&r);
	int first = httpd_index(server, list, 0), second = httpd_index(server, list, 1);
	char *a = httpd_line(server, first), *b = httpd_line(server, second);
	const char *t1 = " bearer=token-of-run-1-not-secret", *t2 = " bearer=token-of-run-2-not-secret";
	cr_assert(a && strstr(a, t1), "%s", a ? a : "?");
	cr_assert(b && strstr(b, t2), "the retry carries the token of the second run: %s",
	    b ? b : "?");
	cr_assert_eq(httpd_count(server, t1), first + 1, "nothing after the 401 with the first token");
	cr_assert_eq(httpd_count(server, "-3-not-secret"), 0, "token_command ran twice");
	cr_assert_geq(httpd_count(server, "POST /repos/acme/api/issues/2/comments "), 1);
	free(a);
	free(b);
}

/* SIGHUP reads token_file again: the next request carries the new token. */
Test(e2e_github, sighup_reads_token_file_again)
{
	const char *old = " bearer=file-token-one-not-secret", *new = " bearer=file-token-two-not-secret";
	pid_t pid;
	char *token;

	start_with("token", false);
	unsetenv("GITHUB_TOKEN");
	source_keys("token_file = token\n");
	token = write_text(sc->dir, "token", "file-token-one-not-secret\n");
	chmod(token, 0600);
	pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "done", "api#2", 1, 60));
	cr_assert_eq(httpd_count(server, new), 0);
	int before = httpd_count(server, "\n");
	free(write_text(sc->dir, "token", "file-token-two-not-secret\n"));
	chmod(token, 0600);
	kill(pid, SIGHUP);
	for (int waited = 0; httpd_count(server, new) == 0; waited += 20) {
		cr_assert_lt(waited, 30000, "no request with the new token after SIGHUP");
		nap_ms(20);
	}
	int first = httpd_index(server, new, 0);
	cr_assert_geq(first, before, "the new token only after the reload");
	cr_assert_eq(httpd_count(server, old), first,
	    "every request before it carried the old token, none after");
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
	free(token);
}

/*
 * requests_per_minute 30 and twelve repos polled every second: the polls
 * would take 720 requests a minute; the interval stretches to fit four
 * fifths of 30 (30 s), wavectl status shows it, and no repo is listed twice.
 * (The twelve preflight requests count too: 24 of the first minute's 30.)
 */
Test(e2e_github, requests_per_minute_stretches_the_poll_interval)
{
	struct strbuf routes = { 0 }, conf = { 0 };
	char *fixtures, *repo, *log, *json = NULL;
	pid_t pid;

	sc = scenario_new();
	fixtures = xasprintf("%s/fixtures", sc->dir);
	for (int k = 0; k < 2; k++) {
		const char *from = k ? "empty.http" : "repo-api.http", *to = k ? "empty.http" : "repo.http";
		char *path = xasprintf("tests/fixtures/github/once/%s", from), *text = read_file(path, NULL);

		cr_assert_not_null(text, "%s", path);
		free(write_text(fixtures, to, text));
		free(text);
		free(path);
	}
	repo = xasprintf("%s/repos/one", sc->dir);
	git_repo_new(repo);
	strbuf_addf(&conf, "[waved]\nstate_dir = state\npoll_interval = 1\n[source]\ntype = github\n"
	    "requests_per_minute = 30\n[phase \"implement\"]\nrun = true\n");
	for (int k = 1; k <= 12; k++) {
		strbuf_addf(&routes, "GET /repos/acme/r%d repo.http\n", k);
		strbuf_addf(&routes, "GET /repos/acme/r%d/issues?state=open&labels=waved&per_page=100 "
		    "empty.http\n", k);
		strbuf_addf(&conf, "[repo \"r%d\"]\npath = repos/one\ngithub = acme/r%d\n", k, k);
	}
	free(write_text(fixtures, "routes", routes.s));
	log = xasprintf("%s/requests.log", sc->dir);
	server = httpd_start(fixtures, log);
	strbuf_addf(&conf, "[source]\napi = http://127.0.0.1:%d\n", server->port);
	free(write_text(sc->dir, "waved.conf", conf.s));
	setenv("GITHUB_TOKEN", "test-token-not-secret", 1);
	pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	for (int waited = 0; httpd_count(server, "/issues?state=open") < 12; waited += 50) {
		cr_assert_lt(waited, 30000, "not every repo was listed");
		nap_ms(50);
	}
	for (int waited = 0; json == NULL || strstr(json, "\"github\"") == NULL; waited += 100) {
		struct run_result r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf,
		    "status", "--json", NULL });

		free(json);
		json = xstrdup(r.out);
		run_result_free(&r);
		cr_assert_lt(waited, 30000, "status never showed the interval: %s", json);
		nap_ms(100);
	}
	cJSON *o = cJSON_Parse(json), *gh = cJSON_GetObjectItem(o, "github");
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(gh, "poll_interval")), 30, "%s", json);
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(gh, "requests_per_minute")), 30);
	cJSON_Delete(o);
	/* Three of the configured intervals: at the stretched one, nothing is due yet. */
	nap_ms(3000);
	cr_assert_eq(httpd_count(server, "/issues?state=open"), 12, "a repo was polled again");
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
	strbuf_free(&routes);
	strbuf_free(&conf);
	free(json);
	free(fixtures);
	free(repo);
	free(log);
}

/* Does the memory of pid hold needle?  (Root reads any process's memory.) */
static bool
memory_holds(pid_t pid, const char *needle)
{
	char *maps_path = xasprintf("/proc/%d/maps", (int)pid), *mem_path = xasprintf("/proc/%d/mem", (int)pid);
	FILE *maps = fopen(maps_path, "r");
	FILE *mem = fopen(mem_path, "r");
	char line[512];
	bool found = false;

	cr_assert(maps && mem, "cannot read the memory of %d (needs root)", (int)pid);
	while (!found && fgets(line, sizeof(line), maps)) {
		unsigned long from, to;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &from, &to, perms) != 3 || perms[0] != 'r' ||
		    to - from > 64UL << 20 || strstr(line, "[vvar]") || strstr(line, "[vsyscall]"))
			continue;
		char *buf = malloc(to - from);
		if (fseek(mem, (long)from, SEEK_SET) == 0 && fread(buf, 1, to - from, mem) == to - from)
			found = memmem(buf, to - from, needle, strlen(needle)) != NULL;
		clearerr(mem);
		free(buf);
	}
	fclose(maps);
	fclose(mem);
	free(maps_path);
	free(mem_path);
	return found;
}

/*
 * With pass_token = no, the token never reaches a worker: it is exec'd
 * (DESIGN.md section 1) with an environment and a job that do not carry it,
 * so there is no copy in its memory to wipe.  Its memory holds its
 * environment (libbsd's setproctitle moves it to the heap) and its job: the
 * scan covers both (/proc/PID/environ does not: the title overwrites it).
 */
Test(e2e_github, a_worker_holds_no_token)
{
	char *conf, *slow;
	pid_t pid, worker;

	start(false);
	conf = read_file(sc->conf, NULL);
	slow = strstr(conf, "run = echo $WAVED_ISSUE > f-$WAVED_NUMBER.txt\n");
	cr_assert_not_null(slow);
	char *patched = xasprintf("%.*srun = echo $WAVED_ISSUE > f-$WAVED_NUMBER.txt; sleep 3\n%s",
	    (int)(slow - conf), conf, slow + strlen("run = echo $WAVED_ISSUE > f-$WAVED_NUMBER.txt\n"));
	free(write_text(sc->dir, "waved.conf", patched));
	pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "phase_start", "api#1", 1, 30));
	cJSON *evs = scenario_events(sc);
	worker = (pid_t)ev_number(evs, ev_find(evs, "admitted", "api#1", 0), "pid");
	cJSON_Delete(evs);
	cr_assert(memory_holds(pid, "test-token-not-secret"), "the supervisor holds it (the check works)");
	cr_assert_not(memory_holds(worker, "test-token-not-secret"), "worker %d holds the token",
	    (int)worker);
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
	free(patched);
	free(conf);
}

/*
 * A recovery runs git in a crashed attempt's repository: it is exec'd too,
 * so it holds no token either.  A git on PATH holds the recovery's first
 * git (its parent's title says "recover") until the test has looked.
 */
Test(e2e_github, a_recovery_holds_no_token)
{
	char *conf, *slow, *script, *git = scenario_real_git();
	pid_t pid, worker, recovery;

	start(false);
	conf = read_file(sc->conf, NULL);
	slow = strstr(conf, "run = echo $WAVED_ISSUE > f-$WAVED_NUMBER.txt\n");
	cr_assert_not_null(slow);
	char *patched = xasprintf("%.*srun = echo $WAVED_ISSUE > f-$WAVED_NUMBER.txt; sleep 60\n%s",
	    (int)(slow - conf), conf, slow + strlen("run = echo $WAVED_ISSUE > f-$WAVED_NUMBER.txt\n"));
	free(write_text(sc->dir, "waved.conf", patched));
	script = xasprintf("#!/bin/sh\n"
	    "if tr '\\0' ' ' < /proc/$PPID/cmdline | grep -q 'waved: recover'; then\n"
	    "  echo $PPID > %s/recovery.tmp; mv %s/recovery.tmp %s/recovery\n"
	    "  while [ ! -e %s/go ]; do sleep 0.1; done\n"
	    "fi\n"
	    "exec %s \"$@\"\n", sc->dir, sc->dir, sc->dir, sc->dir, git);
	scenario_git_first(sc, script);
	pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "phase_start", "api#1", 1, 30));
	cJSON *evs = scenario_events(sc);
	worker = (pid_t)ev_number(evs, ev_find(evs, "admitted", "api#1", 0), "pid");
	cJSON_Delete(evs);
	cr_assert_eq(kill(worker, SIGKILL), 0);
	recovery = (pid_t)scenario_await_number(sc, "recovery", 30);
	cr_assert_gt(recovery, 0, "no recovery ran git");
	cr_assert(memory_holds(pid, "test-token-not-secret"), "the supervisor holds it (the check works)");
	cr_assert_not(memory_holds(recovery, "test-token-not-secret"), "recovery %d holds the token",
	    (int)recovery);
	free(write_text(sc->dir, "go", ""));
	cr_assert(scenario_await(sc, "recovered", "api#1", 1, 60));
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
	free(patched);
	free(script);
	free(git);
	free(conf);
}
