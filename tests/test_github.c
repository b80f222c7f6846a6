/*
 * The production GitHub client and source against a local server on
 * 127.0.0.1 that answers with recorded GitHub responses (tests/fixtures/github).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <criterion/criterion.h>

#include "common/events.h"
#include "supervisor/github/client.h"
#include "common/util.h"
#include "supervisor/github/issues.h"
#include "tests/lib/httpd.h"
#include "tests/lib/testlib.h"

static char *dir;
static struct httpd *server;
static struct config *cfg;
static struct github *gh;
static struct events *events;
static struct issue_list got;
static int deliveries;

static void
teardown(void)
{
	issue_list_clear(&got);
	github_free(gh);
	events_close(events);
	config_free(cfg);
	httpd_stop(server);
	tmpdir_remove(dir);
	gh = NULL;
	events = NULL;
	cfg = NULL;
	server = NULL;
	deliveries = 0;
}

TestSuite(github, .fini = teardown, .timeout = 60);

/* Serve fixtures/NAME; config with the given extra [source] keys and repos. */
static void
start(const char *fixtures, const char *source_keys, const char *repos)
{
	char *fx = xasprintf("tests/fixtures/github/%s", fixtures), *log, *text, *path, *errors = NULL;

	dir = tmpdir_new();
	log = xasprintf("%s/requests.log", dir);
	server = httpd_start(fx, log);
	text = xasprintf("[waved]\nstate_dir = %s\npoll_interval = 60\n[source]\ntype = github\n"
	    "api = http://127.0.0.1:%d\n%s\n[phase \"implement\"]\nrun = true\n%s",
	    dir, server->port, source_keys ? source_keys : "", repos);
	path = write_text(dir, "waved.conf", text);
	cfg = config_load(path, &errors);
	cr_assert_not_null(cfg, "%s", errors);
	gh = github_new(cfg->source.api, "test-token-not-secret");
	events = events_open(dir);
	free(fx);
	free(log);
	free(text);
	free(path);
}

static void
capture(const struct issue_list *issues, void *arg)
{
	(void)arg;
	issue_list_clear(&got);
	deliveries++;
	for (size_t k = 0; k < issues->n; k++) {
		struct issue_spec *s = issue_list_add(&got);

		*s = issues->v[k];
		s->title = xstrdup(issues->v[k].title);
		s->body = xstrdup(issues->v[k].body);
		s->deps = xcalloc(s->ndeps, sizeof(*s->deps));
		if (s->ndeps)
			memcpy(s->deps, issues->v[k].deps, s->ndeps * sizeof(*s->deps));
	}
}

static void
poll_once(struct source_github *sg)
{
	source_github_poll_all(sg);
	github_wait(gh, 20000);
	cr_assert_eq(github_pending(gh), 0, "requests still pending");
}

static const struct issue_spec *
find(const char *repo, long number)
{
	for (size_t k = 0; k < got.n; k++)
		if (got.v[k].number == number && strcmp(got.v[k].repo, repo) == 0)
			return &got.v[k];
	return NULL;
}

static bool
has_dep(const struct issue_spec *s, const char *repo, long number)
{
	for (size_t k = 0; k < s->ndeps; k++)
		if (s->deps[k].number == number && strcmp(s->deps[k].repo, repo) == 0)
			return true;
	return false;
}

#define API_REPO "[repo \"api\"]\npath = /nonexistent\ngithub = acme/api\n"

Test(github, three_pages_by_link_headers_pull_requests_skipped_then_a_304)
{
	struct source_github *sg;

	start("listing", NULL, API_REPO);
	sg = source_github_new(cfg, gh, events, capture, NULL);
	poll_once(sg);
	cr_assert(source_github_ready(sg));
	cr_assert_eq(got.n, 4, "issues 1, 2, 4, 5 (3 is a pull request)");
	cr_assert_not_null(find("api", 5), "the third page was read");
	cr_assert_null(find("api", 3));
	cr_assert(has_dep(find("api", 2), "api", 1));
	cr_assert(has_dep(find("api", 4), "api", 2));
	cr_assert_str_eq(find("api", 1)->title, "Add the users table");
	cr_assert_eq(httpd_count(server, "auth=yes"), httpd_count(server, "GET "), "every request carries the token");

	/* Second poll: If-None-Match with the ETags, 304s, and nothing changes. */
	poll_once(sg);
	cr_assert_geq(httpd_count(server, "if-none-match=W/\"page1-v1\""), 1);
	cr_assert_geq(httpd_count(server, "if-none-match=W/\"page2-v1\""), 1);
	cr_assert_eq(got.n, 4);
	cr_assert_not_null(find("api", 5));
	cr_assert_eq(deliveries, 2);
	source_github_free(sg);
}

Test(github, every_dependency_form)
{
	struct source_github *sg;
	const struct issue_spec *s;

	start("deps", NULL, API_REPO "[repo \"web\"]\npath = /nonexistent\ngithub = acme/web\n");
	sg = source_github_new(cfg, gh, events, capture, NULL);
	poll_once(sg);
	s = find("api", 10);
	cr_assert_not_null(s);
	cr_assert(has_dep(s, "api", 11), "Depends on #11");
	cr_assert(has_dep(s, "web", 20), "Blocked by acme/web#20: a configured repo, by its name");
	cr_assert(has_dep(s, "api", 12), "Requires <issue URL>");
	cr_assert(has_dep(s, "api", 13), "the blocked-by API");
	cr_assert(!has_dep(s, "api", 99), "a line inside a code fence is not a dependency");
	cr_assert(has_dep(s, "other/lib", 5) && has_dep(s, "other/lib", 6), "requires other/lib#5, #6");
	cr_assert_eq(find("api", 12)->ndeps, 0, "\"depends ON nothing\" names no issue");
	/* Outside the configured repos: satisfied once closed. */
	struct issue_ref closed = { "other/lib", 5 }, open = { "other/lib", 6 };
	cr_assert(source_github_dep_closed(&closed, sg));
	cr_assert(!source_github_dep_closed(&open, sg));
	source_github_free(sg);
}

Test(github, milestone_filter)
{
	struct source_github *sg;

	start("deps", "milestone = Wave 3", API_REPO);
	sg = source_github_new(cfg, gh, events, capture, NULL);
	poll_once(sg);
	cr_assert_eq(httpd_count(server, "GET /repos/acme/api/issues?state=open&labels=waved&milestone=7&per_page=100 "), 1);
	cr_assert_eq(httpd_count(server, "labels=waved&per_page=100 "), 0, "never the unfiltered list");
	cr_assert_not_null(find("api", 10));
	source_github_free(sg);
}

Test(github, rate_limits_server_errors_and_bad_credentials)
{
	struct source_github *sg;
	char *path, *ev;

	start("limits", NULL,
	    API_REPO "[repo \"web\"]\npath = /x\ngithub = acme/web\n"
	    "[repo \"docs\"]\npath = /x\ngithub = acme/docs\n[repo \"ops\"]\npath = /x\ngithub = acme/ops\n");
	sg = source_github_new(cfg, gh, events, capture, NULL);
	time_t before = time(NULL);
	poll_once(sg);
	time_t after = time(NULL);
	cr_assert(source_github_ready(sg), "every repo was polled, failing or not");
	cr_assert_eq(got.n, 0);
	path = xasprintf("%s/events.ndjson", dir);
	ev = read_file(path, NULL);
	/* The fixture's reset is an hour after the server answered. */
	const char *key = "\"event\":\"rate_limited\",\"repo\":\"api\",\"until\":\"";
	const char *until = ev ? strstr(ev, key) : NULL;
	struct tm tm = { 0 };
	cr_assert_not_null(until, "403 with x-ratelimit-remaining 0 waits for the reset: %s", ev);
	until += strlen(key);
	cr_assert_not_null(strptime(until, "%Y-%m-%dT%H:%M:%S", &tm), "%s", until);
	cr_assert(timegm(&tm) >= before + 3600 && timegm(&tm) <= after + 3600,
	    "until is the fixture's reset, an hour ahead: %s", until);
	cr_assert(strstr(ev, "\"repo\":\"web\""), "429 with retry-after: %s", ev);
	cr_assert_null(strstr(ev, "\"repo\":\"ops\""), "a 401 is no rate limit");
	free(ev);
	/* Retry-After 1 and the 500's backoff of 1 s: the next polls succeed. */
	int64_t deadline = mono_ms() + 15000;
	while ((!find("web", 1) || !find("docs", 1)) && mono_ms() < deadline) {
		nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
		source_github_tick(sg);
		github_wait(gh, 5000);
	}
	cr_assert_not_null(find("web", 1), "polled again after Retry-After");
	cr_assert_not_null(find("docs", 1), "polled again after the 500's backoff");
	cr_assert_eq(httpd_count(server, "GET /repos/acme/api/issues"), 1, "api waits for the reset");
	source_github_free(sg);
	free(path);
}

Test(github, token_file_readable_by_others_is_refused)
{
	struct source_conf src = { 0 };
	char *err = NULL, *token;

	dir = tmpdir_new();
	src.token_file = write_text(dir, "token", "ghp_abc\n");
	chmod(src.token_file, 0644);
	cr_assert_null(github_token_load(&src, &err));
	cr_assert(strstr(err, "readable by group or others"), "%s", err);
	free(err);
	chmod(src.token_file, 0600);
	token = github_token_load(&src, &err);
	cr_assert_str_eq(token, "ghp_abc");
	free(token);
	free(src.token_file);
}

Test(github_names, owner_name_and_numbers_from_outside_are_checked)
{
	cr_assert(github_owner_name_valid("acme/api"));
	cr_assert(github_owner_name_valid("a-b/c.d_e-f"));
	cr_assert_not(github_owner_name_valid("../../user/keys"));
	cr_assert_not(github_owner_name_valid("user/.."));
	cr_assert_not(github_owner_name_valid("acme"));
	cr_assert_not(github_owner_name_valid("acme/api/issues"));
	cr_assert_not(github_owner_name_valid("-acme/api"));
	cr_assert_not(github_owner_name_valid("ac me/api"));
	cr_assert_not(github_owner_name_valid("acme/a?b"));
	cJSON *o = cJSON_Parse("{\"a\":12,\"b\":-1,\"c\":1.5,\"d\":\"7\",\"e\":1e300}");
	cr_assert_eq(github_number(o, "a"), 12);
	cr_assert_eq(github_number(o, "b"), 0);
	cr_assert_eq(github_number(o, "c"), 0);
	cr_assert_eq(github_number(o, "d"), 0);
	cr_assert_eq(github_number(o, "e"), 0);
	cr_assert_eq(github_number(o, "missing"), 0, "no NaN cast to long");
	cJSON_Delete(o);
}

Test(github, text_for_a_query_is_escaped)
{
	char *e = github_query_escape("waved-issue/12");

	cr_assert_str_eq(e, "waved-issue/12", "a plain branch stays as it is");
	free(e);
	e = github_query_escape("a&b+c d=é");
	cr_assert_str_eq(e, "a%26b%2Bc%20d%3D%C3%A9");
	free(e);
}
