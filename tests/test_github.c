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
#include "supervisor/github/token.h"
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

Test(github, server_errors_back_off_and_bad_credentials_are_no_rate_limit)
{
	struct source_github *sg;
	char *path, *ev;

	start("limits", NULL,
	    "[repo \"docs\"]\npath = /x\ngithub = acme/docs\n[repo \"ops\"]\npath = /x\ngithub = acme/ops\n");
	sg = source_github_new(cfg, gh, events, capture, NULL);
	poll_once(sg);
	cr_assert(source_github_ready(sg), "every repo was polled, failing or not");
	cr_assert_eq(got.n, 0);
	path = xasprintf("%s/events.ndjson", dir);
	ev = read_file(path, NULL);
	cr_assert(ev == NULL || strstr(ev, "rate_limited") == NULL, "a 401 or a 500 is no rate limit: %s",
	    ev);
	free(ev);
	cr_assert_eq(httpd_count(server, "GET /repos/acme/ops/issues"), 1,
	    "a fixed token: a 401 is the answer, sent once");
	/* The 500's backoff of 1 s: the next poll succeeds. */
	int64_t deadline = mono_ms() + 15000;
	while (!find("docs", 1) && mono_ms() < deadline) {
		nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
		source_github_tick(sg);
		github_wait(gh, 5000);
	}
	cr_assert_not_null(find("docs", 1), "polled again after the 500's backoff");
	source_github_free(sg);
	free(path);
}

/* ---- the one client: its limiter, its ETag cache, its token ---- */

struct answer {
	long status;
	char *body;
};

static void
answered(const struct gh_response *res, void *arg)
{
	struct answer *a = arg;

	a->status = res->status;
	free(a->body);
	a->body = xstrdup(res->body);
}

static void
ask(const char *repo, const char *method, const char *path, const char *body, struct answer *a)
{
	github_request(gh, &(struct gh_for){ .repo = repo }, method, path, body, answered, NULL, a);
}

/* Drive the client until GitHub's answer has set the limiter (a bound, not a measure). */
static void
until_held(void)
{
	for (int64_t deadline = mono_ms() + 10000; !github_held_until(gh) && mono_ms() < deadline; )
		github_wait(gh, 20);
	cr_assert(github_held_until(gh), "the answer set no hold");
}

/* The nth logged request containing text must come before the mth containing other. */
static void
assert_before(const char *text, int nth, const char *other, int mth)
{
	int a = httpd_index(server, text, nth), b = httpd_index(server, other, mth);

	cr_assert(a >= 0 && b >= 0 && a < b, "\"%s\" #%d (at %d) must come before \"%s\" #%d (at %d)",
	    text, nth, a, other, mth, b);
}

static char *
events_text(void)
{
	char *path = xasprintf("%s/events.ndjson", dir), *text = read_file(path, NULL);

	free(path);
	return text ? text : xstrdup("");
}

/*
 * A secondary limit met by one repo's request holds the other repo's
 * request and a comment until it ends; the limited request goes first then,
 * and its caller sees only the answer after it.
 */
Test(github, a_secondary_limit_holds_every_request_until_its_end)
{
	struct answer limited = { 0 }, other = { 0 }, comment = { 0 };
	char *ev;

	start("limiter", NULL, API_REPO);
	github_set_events(gh, events);
	ask("api", "GET", "/limited", NULL, &limited);
	until_held();
	ask("web", "GET", "/other", NULL, &other);
	ask("web", "POST", "/comment", "{\"body\":\"done\"}", &comment);
	github_wait(gh, 20000);
	cr_assert_eq(github_pending(gh), 0);
	cr_assert_eq(limited.status, 200, "the caller never sees the limit: %ld", limited.status);
	cr_assert_eq(other.status, 200);
	assert_before("GET /limited ", 0, "GET /limited ", 1);
	assert_before("GET /limited ", 1, "GET /other ", 0);
	assert_before("GET /limited ", 1, "POST /comment ", 0);
	ev = events_text();
	cr_assert(strstr(ev, "\"event\":\"rate_limited\",\"repo\":\"api\",\"until\":\""), "%s", ev);
	free(ev);
	free(limited.body);
	free(other.body);
	free(comment.body);
}

/* None left (a 403 with x-ratelimit-remaining 0): every request waits for the reset. */
Test(github, a_spent_quota_holds_every_request_until_the_reset)
{
	struct answer spent = { 0 }, other = { 0 }, comment = { 0 };
	char *ev;
	time_t before = time(NULL);

	start("limiter", NULL, API_REPO);
	github_set_events(gh, events);
	ask("api", "GET", "/spent", NULL, &spent);
	until_held();
	time_t after = time(NULL);
	ask("web", "GET", "/other", NULL, &other);
	ask("web", "POST", "/comment", "{\"body\":\"done\"}", &comment);
	github_wait(gh, 20000);
	cr_assert_eq(github_pending(gh), 0);
	cr_assert_eq(spent.status, 200);
	assert_before("GET /spent ", 0, "GET /spent ", 1);
	assert_before("GET /spent ", 1, "GET /other ", 0);
	assert_before("GET /spent ", 1, "POST /comment ", 0);
	/* until is the fixture's reset: two seconds after the server answered. */
	ev = events_text();
	const char *key = "\"event\":\"rate_limited\",\"repo\":\"api\",\"until\":\"";
	const char *until = strstr(ev, key);
	struct tm tm = { 0 };
	cr_assert_not_null(until, "%s", ev);
	cr_assert_not_null(strptime(until + strlen(key), "%Y-%m-%dT%H:%M:%S", &tm));
	cr_assert(timegm(&tm) >= before + 2 && timegm(&tm) <= after + 2, "%s", until);
	free(ev);
	free(spent.body);
	free(other.body);
	free(comment.body);
}

/* The last request of the hour answered 200: the next waits for the reset all the same. */
Test(github, the_last_request_of_the_quota_holds_the_next)
{
	struct answer last = { 0 };

	start("limiter", NULL, API_REPO);
	ask("api", "GET", "/last", NULL, &last);
	github_wait(gh, 20000);
	cr_assert_eq(last.status, 200);
	cr_assert(github_held_until(gh) > 0, "x-ratelimit-remaining 0 holds until x-ratelimit-reset");
	free(last.body);
}

/* One cache for every GET: a listing's 304 and a pull request's 304 each stand for their own. */
Test(github, one_etag_cache_a_listing_and_a_pull_each_get_their_own_304)
{
	struct answer list = { 0 }, pull = { 0 };
	const char *listing = "/repos/acme/api/issues?state=open&labels=waved&per_page=100";

	start("limiter", NULL, API_REPO);
	ask("api", "GET", listing, NULL, &list);
	github_wait(gh, 20000);
	ask("api", "GET", "/repos/acme/api/pulls/1", NULL, &pull);
	github_wait(gh, 20000);
	ask("api", "GET", listing, NULL, &list);
	github_wait(gh, 20000);
	cr_assert_eq(list.status, 304);
	cr_assert(strstr(list.body, "The listing's issue"), "a 304 stands for its own URL's body: %s",
	    list.body);
	ask("api", "GET", "/repos/acme/api/pulls/1", NULL, &pull);
	github_wait(gh, 20000);
	cr_assert_eq(pull.status, 304);
	cr_assert(strstr(pull.body, "The pull request"), "%s", pull.body);
	cr_assert_eq(httpd_count(server, "GET /repos/acme/api/issues?state=open&labels=waved&per_page=100 "
	    "if-none-match=W/\"list-v1\""), 1);
	cr_assert_eq(httpd_count(server, "GET /repos/acme/api/pulls/1 if-none-match=W/\"pull-v1\""), 1);
	free(list.body);
	free(pull.body);
}

/* A client of the configuration (github_open) instead of the fixed-token one. */
static void
open_configured(void)
{
	char *err = NULL;

	github_free(gh);
	gh = github_open(cfg, &err);
	cr_assert_not_null(gh, "%s", err);
}

/* requests_per_minute counts every request started, a 304 too: the next waits its minute. */
Test(github, requests_per_minute_counts_every_request_304s_too)
{
	struct answer a = { 0 };
	char *token;

	start("limiter", "token_file = token\nrequests_per_minute = 2", API_REPO);
	token = write_text(dir, "token", "t0\n");
	chmod(token, 0600);
	free(token);
	open_configured();
	for (int k = 0; k < 3; k++)
		ask("api", "GET", "/cached", NULL, &a);
	github_wait(gh, 1500);	/* far less than the minute the third must wait */
	cr_assert_eq(httpd_count(server, "GET /cached "), 2, "a 200 and a 304, then the budget is spent");
	cr_assert_eq(github_pending(gh), 1);
	free(a.body);
}

/* A 401 reads token_file again, and the request goes once more with what it holds now. */
Test(github, a_401_reads_token_file_again)
{
	struct answer a = { 0 };
	char *token;

	start("limiter", "token_file = token", API_REPO);
	token = write_text(dir, "token", "old\n");
	chmod(token, 0600);
	open_configured();
	free(write_text(dir, "token", "new\n"));
	chmod(token, 0600);
	ask("api", "GET", "/secret", NULL, &a);
	github_wait(gh, 20000);
	cr_assert_eq(a.status, 200, "%ld", a.status);
	assert_before("GET /secret if-none-match=- auth=yes body= bearer=old", 0,
	    "GET /secret if-none-match=- auth=yes body= bearer=new", 0);
	free(token);
	free(a.body);
}

/* A 401 runs token_command again, and the request goes once more with the new token. */
Test(github, a_401_runs_token_command_again_and_retries_with_the_new_token)
{
	struct answer a = { 0 };
	char *script;

	start("limiter", "token_command = ./token.sh", API_REPO);
	/* Each run prints the next token: t1, t2, ... */
	script = write_text(dir, "token.sh", "#!/bin/sh\nn=$(cat count 2>/dev/null || echo 0)\n"
	    "n=$((n + 1))\necho $n > count\necho t$n\n");
	chmod(script, 0700);
	free(script);
	open_configured();
	ask("api", "GET", "/secret", NULL, &a);
	github_wait(gh, 20000);
	cr_assert_eq(a.status, 200, "%ld", a.status);
	assert_before("GET /secret if-none-match=- auth=yes body= bearer=t1", 0,
	    "GET /secret if-none-match=- auth=yes body= bearer=t2", 0);
	cr_assert_eq(httpd_count(server, "GET /secret "), 2);
	free(a.body);
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
