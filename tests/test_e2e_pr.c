/*
 * End to end, land = pr (DESIGN.md section 18): one pull request per issue,
 * against a fake GitHub that keeps its pull requests as files (the test
 * plays the person who reviews, merges or closes them) and a local bare
 * repository as the origin remote the branches are pushed to.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "tests/lib/fakepulls.h"
#include "tests/lib/httpd.h"
#include "tests/lib/scenario.h"

static struct scenario *sc;
static struct httpd *server;
static char *fake, *origin;
static pid_t daemon_pid;
static char *saved_path;	/* PATH before a test put a git wrapper first */

static void
teardown(void)
{
	if (saved_path) {
		setenv("PATH", saved_path, 1);
		free(saved_path);
		saved_path = NULL;
	}
	if (daemon_pid > 0) {
		kill(daemon_pid, SIGKILL);
		scenario_wait(daemon_pid, 30);
	}
	daemon_pid = 0;
	httpd_stop(server);
	server = NULL;
	free(fake);
	free(origin);
	scenario_free(sc);
	unsetenv("GITHUB_TOKEN");
}

TestSuite(e2e_pr, .fini = teardown, .timeout = 180);

static void
git_ok(const char *dir, const char *const args[])
{
	const char *argv[24] = { "git", "-C", dir };
	size_t n = 3;
	struct run_result r;

	for (size_t k = 0; args[k] && n < 23; k++)
		argv[n++] = args[k];
	argv[n] = NULL;
	r = run_argv(NULL, argv);
	cr_assert_eq(r.status, 0, "git %s: %s", args[0], r.err);
	run_result_free(&r);
}

/* The issues of acme/api on the fake GitHub, for [source] type = github. */
static const char *const github_issues =
    "GET /repos/acme/api/issues?state=open&labels=waved&per_page=100 api-list.http\n"
    "GET /repos/acme/api/issues/1/dependencies/blocked_by empty.http\n"
    "GET /repos/acme/api/issues/2/dependencies/blocked_by empty.http\n"
    "GET /repos/acme/api/issues/1/comments?per_page=100 @store\n"
    "POST /repos/acme/api/issues/1/comments @store\n"
    "GET /repos/acme/api/issues/2/comments?per_page=100 @store\n"
    "POST /repos/acme/api/issues/2/comments @store\n";

static void
copy_fixture(const char *name)
{
	char *from = xasprintf("tests/fixtures/github/once/%s", name), *text = read_file(from, NULL);

	cr_assert_not_null(text, "%s", from);
	free(write_text(fake, name, text));
	free(text);
	free(from);
}

/* The agent appends a line per round and keeps a copy of each feedback file it is given. */
static const char *const appending_agent =
    "echo \"$WAVED_ISSUE $WAVED_ATTEMPT\" >> f-$WAVED_NUMBER.txt; "
    "if [ -n \"$WAVED_FEEDBACK_FILE\" ]; then cp \"$WAVED_FEEDBACK_FILE\" "
    "\"$WAVED_ISSUE_FILE.feedback-$WAVED_ATTEMPT.md\"; fi";

/*
 * Repo api with a bare origin, the fake GitHub, and a config landing by pull
 * request (waved_keys added to [waved]; issues NULL: the GitHub source;
 * implement NULL: the appending agent; phases: more [phase] sections).  A
 * conflict is resolved by keeping both sides' lines.
 */
static void
start_with(const char *issues, const char *waved_keys, const char *implement, const char *phases)
{
	char *log, *repo, *conf, *routes;

	sc = scenario_new();
	fake = xasprintf("%s/fake", sc->dir);
	routes = xasprintf("%sANY /repos/acme/api/ @pulls\n", issues ? "" : github_issues);
	free(write_text(fake, "routes", routes));
	free(routes);
	if (issues == NULL) {
		copy_fixture("api-list.http");
		copy_fixture("empty.http");
	}
	log = xasprintf("%s/requests.log", sc->dir);
	server = httpd_start(fake, log);
	repo = scenario_repo(sc, "api");
	origin = xasprintf("%s/origin.git", sc->dir);
	git_ok(sc->dir, (const char *[]){ "clone", "-q", "--bare", repo, origin, NULL });
	git_ok(repo, (const char *[]){ "remote", "add", "origin", origin, NULL });
	conf = xasprintf("[waved]\nstate_dir = state\nretry_backoff = 0\npoll_interval = 1\n%s"
	    "[source]\n%s\napi = http://127.0.0.1:%d\n"
	    "[phase \"implement\"]\nrun = %s\n"
	    "[phase \"resolve\"]\nrun = grep -v '^[<=>]\\{7\\}' shared.txt > .kept; mv .kept shared.txt\n"
	    "%s[repo \"api\"]\npath = repos/api\ngithub = acme/api\npush = origin\nland = pr\n",
	    waved_keys, issues ? "type = file\npath = issues.json" : "type = github\nlabel = waved",
	    server->port, implement ? implement : appending_agent, phases);
	free(write_text(sc->dir, "waved.conf", conf));
	if (issues)
		scenario_issues(sc, issues);
	setenv("GITHUB_TOKEN", "test-token-not-secret", 1);
	free(conf);
	free(repo);
	free(log);
}

/* Wait for an event; failing, say what the daemon said and what it did. */
static void
await_event(const char *name, const char *issue, int count)
{
	char *out_path, *out, *events;

	if (scenario_await(sc, name, issue, count, 60))
		return;
	out_path = xasprintf("%s/waved.out", sc->dir);
	out = read_file(out_path, NULL);
	free(out_path);
	out_path = xasprintf("%s/events.ndjson", sc->state);
	events = read_file(out_path, NULL);
	cr_assert(false, "no %d %s of %s in 60 s; waved said:\n%s\nevents:\n%s", count, name, issue,
	    out ? out : "", events ? events : "");
}

static void
start(const char *issues)
{
	start_with(issues, "", NULL, "");
}

static void
daemon_start(void)
{
	daemon_pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
}

static const char *const two_issues =
    "[{\"repo\":\"api\",\"number\":1,\"title\":\"First\",\"body\":\"one\"},"
    "{\"repo\":\"api\",\"number\":2,\"title\":\"Second\",\"body\":\"two\",\"depends_on\":[\"#1\"]}]";

static const char *const three_issues =
    "[{\"repo\":\"api\",\"number\":1,\"title\":\"First\",\"body\":\"one\"},"
    "{\"repo\":\"api\",\"number\":2,\"title\":\"Second\",\"body\":\"two\",\"depends_on\":[\"#1\"]},"
    "{\"repo\":\"api\",\"number\":3,\"title\":\"Third\",\"body\":\"three\"}]";

static const char *const one_issue =
    "[{\"repo\":\"api\",\"number\":1,\"title\":\"First\",\"body\":\"one\"}]";

/* The head of a branch on the origin remote (caller frees). */
static char *
origin_head(const char *branch)
{
	return scenario_git(origin, (const char *[]){ "rev-parse", branch, NULL });
}

/* A person merges pull request n of branch into main on the remote, and GitHub says so. */
static char *
person_merges(int n, const char *branch)
{
	char *clone = xasprintf("%s/person", sc->dir), *sha, *name, *pull, *ref;

	remove_tree(clone);
	git_ok(sc->dir, (const char *[]){ "clone", "-q", origin, clone, NULL });
	ref = xasprintf("origin/%s", branch);
	git_ok(clone, (const char *[]){ "-c", "user.name=person", "-c", "user.email=p@localhost",
	    "merge", "-q", "--no-ff", "-m", "Merge pull request", ref, NULL });
	git_ok(clone, (const char *[]){ "push", "-q", "origin", "HEAD:main", NULL });
	sha = scenario_git(clone, (const char *[]){ "rev-parse", "HEAD", NULL });
	name = xasprintf("pull-%d.json", n);
	pull = xasprintf("{\"number\":%d,\"html_url\":\"http://127.0.0.1:%d/acme/api/pull/%d\","
	    "\"state\":\"closed\",\"merged\":true,\"merge_commit_sha\":\"%s\","
	    "\"head\":{\"ref\":\"%s\"},\"base\":{\"ref\":\"main\"}}", n, server->port, n, sha, branch);
	fakepulls_write(fake, name, pull);
	free(pull);
	free(name);
	free(ref);
	free(clone);
	return sha;
}

static void
person_closes(int n, const char *branch)
{
	char *name = xasprintf("pull-%d.json", n);
	char *pull = xasprintf("{\"number\":%d,\"html_url\":\"http://127.0.0.1:%d/acme/api/pull/%d\","
	    "\"state\":\"closed\",\"merged\":false,\"merge_commit_sha\":null,"
	    "\"head\":{\"ref\":\"%s\"},\"base\":{\"ref\":\"main\"}}", n, server->port, n, branch);

	fakepulls_write(fake, name, pull);
	free(pull);
	free(name);
}

static cJSON *
status_json(void)
{
	struct run_result r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf,
	    "status", "--json", NULL });
	cJSON *o;

	cr_assert_eq(r.status, 0, "%s", r.err);
	o = json_parse_or_fail(r.out);
	run_result_free(&r);
	return o;
}

Test(e2e_pr, a_merge_by_a_person_makes_the_issue_done_and_admits_its_dependent)
{
	cJSON *evs, *st;
	char *text, *merge, *pull;

	start(three_issues);
	daemon_start();
	await_event("pr_opened", "api#1", 1);
	/* Awaiting, api#1 holds neither its repo's slot nor the cap's (1, one repo). */
	await_event("pr_opened", "api#3", 1);
	/* Pushed to the remote, one pull request to main that closes the issue. */
	free(origin_head("waved-issue/1"));
	text = xasprintf("%s/pull-1.json", fake);
	pull = read_file(text, NULL);
	cr_assert_not_null(pull);
	cr_assert(strstr(pull, "Closes #1"), "%s", pull);
	cr_assert(strstr(pull, "\"title\":\"First\""), "%s", pull);
	cr_assert(strstr(pull, "\"ref\":\"main\""), "the base branch: %s", pull);
	/* The attempt's trace id and its agent time are in the body. */
	evs = scenario_events(sc);
	const char *trace = ev_string(evs, ev_find(evs, "pushed", "api#1", 0), "trace");
	cr_assert(trace && strstr(pull, trace), "trace %s: %s", trace ? trace : "-", pull);
	cr_assert(strstr(pull, "Agent time so far: "), "%s", pull);
	cJSON_Delete(evs);
	cr_assert_eq(httpd_count(server, "POST /repos/acme/api/pulls "), 2, "api#1 and api#3, one each");
	/* Awaiting its merge, it holds no slot: yet its dependent waits for the merge. */
	st = status_json();
	cJSON *aw = cJSON_GetObjectItem(st, "awaiting_merge");
	cr_assert_eq(cJSON_GetArraySize(aw), 2);
	cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(aw, 0), "issue")->valuestring, "api#1");
	cr_assert(strstr(cJSON_GetObjectItem(cJSON_GetArrayItem(aw, 0), "url")->valuestring, "/pull/1"));
	cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(st, "inflight")), 0);
	cJSON_Delete(st);
	struct run_result human = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf,
	    "status", NULL });
	cr_assert(strstr(human.out, "AWAITING MERGE"), "%s", human.out);
	cr_assert(strstr(human.out, "/acme/api/pull/1"), "%s", human.out);
	cr_assert(strstr(human.out, "awaiting_merge 2"), "the counts: %s", human.out);
	run_result_free(&human);
	/* Watched with conditional requests: the ETag of the last answer goes back. */
	int64_t deadline = mono_ms() + 60000;
	while (httpd_count(server, "GET /repos/acme/api/pulls/1/reviews?per_page=100 "
	    "if-none-match=\"") == 0 && mono_ms() < deadline)
		nap_ms(50);
	cr_assert_geq(httpd_count(server, "GET /repos/acme/api/pulls/1 if-none-match=\""), 1);
	evs = scenario_events(sc);
	cr_assert_eq(ev_find(evs, "admitted", "api#2", 0), -1, "api#2 waits for the merge");
	cr_assert_eq(ev_count(evs, "pr_feedback", "api#1"), 0, "an unchanged answer is no news");
	cJSON_Delete(evs);

	merge = person_merges(1, "waved-issue/1");
	await_event("pr_opened", "api#2", 1);
	evs = scenario_events(sc);
	int merged = ev_find(evs, "pr_merged", "api#1", 0), done = ev_find(evs, "done", "api#1", 0);
	cr_assert_geq(merged, 0);
	cr_assert_gt(done, merged);
	cr_assert_str_eq(ev_string(evs, merged, "sha"), merge);
	cr_assert_gt(ev_find(evs, "admitted", "api#2", 0), done);
	cr_assert_eq(ev_count(evs, "done", "api#1"), 1);
	cJSON_Delete(evs);
	/* The dependent starts from the base branch that holds the merge. */
	char *head2 = origin_head("waved-issue/2");
	struct run_result r = run_argv(NULL, (const char *[]){ "git", "-C", origin, "merge-base",
	    "--is-ancestor", merge, head2, NULL });
	cr_assert_eq(r.status, 0, "api#2's branch holds api#1's merge");
	run_result_free(&r);
	free(head2);
	free(merge);
	free(pull);
	free(text);
}

Test(e2e_pr, a_rate_limit_waits_and_says_so)
{
	cJSON *evs;
	int k;

	start(one_issue);
	daemon_start();
	await_event("pr_opened", "api#1", 1);
	fakepulls_write(fake, "rate-limit", "1");
	await_event("rate_limited", "api#1", 1);
	evs = scenario_events(sc);
	k = ev_find(evs, "rate_limited", "api#1", 0);
	cr_assert_str_eq(ev_string(evs, k, "repo"), "api");
	cr_assert_not_null(ev_string(evs, k, "until"));
	cJSON_Delete(evs);
	free(person_merges(1, "waved-issue/1"));
	await_event("done", "api#1", 1);
}

Test(e2e_pr, a_closed_pull_request_makes_the_issue_dead_and_blocks_its_dependents)
{
	cJSON *evs;
	int k;

	start(two_issues);
	daemon_start();
	await_event("pr_opened", "api#1", 1);
	person_closes(1, "waved-issue/1");
	await_event("blocked", "api#2", 1);
	evs = scenario_events(sc);
	cr_assert_geq(ev_find(evs, "pr_closed", "api#1", 0), 0);
	cr_assert_geq(k = ev_find(evs, "dead", "api#1", 0), 0);
	cr_assert_str_eq(ev_string(evs, k, "reason"), "pull request closed");
	cr_assert_eq(ev_find(evs, "admitted", "api#2", 0), -1);
	cJSON_Delete(evs);
}

/* A fix round: a new commit on the same branch and the same pull request. */
static void
assert_new_commit_on_the_same_pull_request(const char *first_head)
{
	char *second = origin_head("waved-issue/1");
	struct run_result r;

	cr_assert_str_neq(second, first_head);
	r = run_argv(NULL, (const char *[]){ "git", "-C", origin, "merge-base", "--is-ancestor",
	    first_head, second, NULL });
	cr_assert_eq(r.status, 0, "the fix builds on what the pull request had");
	run_result_free(&r);
	cr_assert_eq(httpd_count(server, "POST /repos/acme/api/pulls "), 1, "one pull request");
	cr_assert_geq(httpd_count(server, "PATCH /repos/acme/api/pulls/1 "), 1, "updated");
	free(second);
}

/* The fix round has pushed (a second push): the feedback event's index in evs, of kind. */
static int
round_of_kind(cJSON *evs, const char *kind)
{
	int k = ev_find(evs, "pr_feedback", "api#1", 0);

	cr_assert_geq(k, 0);
	cr_assert_str_eq(ev_string(evs, k, "kind"), kind);
	return k;
}

/* What the fix round's agent (attempt 2) found in $WAVED_FEEDBACK_FILE (caller frees). */
static char *
fix_round_feedback(void)
{
	char *path = xasprintf("%s/issues/api/1/issue.md.feedback-2.md", sc->state);
	char *feedback = read_file(path, NULL);

	cr_assert_not_null(feedback, "the agent got no $WAVED_FEEDBACK_FILE");
	free(path);
	return feedback;
}

/* The feedback was of the old head: no second round comes; a merge ends it. */
static void
one_round_then_merged(void)
{
	cJSON *evs;

	free(person_merges(1, "waved-issue/1"));
	await_event("done", "api#1", 1);
	evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "pr_feedback", "api#1"), 1);
	cJSON_Delete(evs);
}

Test(e2e_pr, requested_changes_reach_the_agent_and_a_new_commit_lands_on_the_same_pull_request)
{
	char *head, *json, *feedback;
	cJSON *evs, *sum;
	int k;

	/* verify fails once in the round: implement's second go still has the review. */
	start_with(one_issue, "", NULL, "[phase \"verify\"]\nrun = if [ \"$WAVED_ATTEMPT\" = 2 ] && "
	    "! [ -e \"$WAVED_ISSUE_FILE.verified\" ]; then touch \"$WAVED_ISSUE_FILE.verified\"; "
	    "echo 'test_split: expected two files'; exit 1; fi\n");
	daemon_start();
	await_event("pr_opened", "api#1", 1);
	head = origin_head("waved-issue/1");
	json = xasprintf("[{\"id\":99,\"state\":\"COMMENTED\",\"commit_id\":\"%s\",\"body\":\"nit\"},"
	    "{\"id\":11,\"state\":\"CHANGES_REQUESTED\",\"commit_id\":\"%s\","
	    "\"user\":{\"login\":\"alice\"},\"body\":\"Please split the file.\"}]", head, head);
	fakepulls_write(fake, "comments-1.json",
	    "[{\"pull_request_review_id\":11,\"path\":\"f-1.txt\",\"line\":1,\"body\":\"name it better\"},"
	    "{\"pull_request_review_id\":11,\"path\":\"src/main.c\",\"line\":42,\"body\":\"check the error\"},"
	    "{\"pull_request_review_id\":99,\"path\":\"other.c\",\"line\":3,\"body\":\"unrelated\"}]");
	fakepulls_write(fake, "reviews-1.json", json);
	await_event("pushed", "api#1", 2);
	evs = scenario_events(sc);
	k = round_of_kind(evs, "review");
	cr_assert_eq(ev_number(evs, k, "round"), 1);
	cJSON_Delete(evs);
	/* Attempt 2 is the fix round: its agent read the review and both comments. */
	feedback = fix_round_feedback();
	cr_assert(strstr(feedback, "Please split the file."), "%s", feedback);
	cr_assert(strstr(feedback, "Changes requested by alice"), "%s", feedback);
	cr_assert(strstr(feedback, "f-1.txt:1: name it better"), "%s", feedback);
	cr_assert(strstr(feedback, "src/main.c:42: check the error"), "%s", feedback);
	cr_assert_null(strstr(feedback, "unrelated"), "another review's comment: %s", feedback);
	cr_assert(strstr(feedback, "test_split: expected two files"), "verify's failure: %s", feedback);
	assert_new_commit_on_the_same_pull_request(head);
	one_round_then_merged();
	struct run_result r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf,
	    "summary", "--json", NULL });
	sum = json_parse_or_fail(r.out);
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(sum, "pr_rounds")), 1);
	cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(sum, "pull_requests")), 1);
	cJSON_Delete(sum);
	run_result_free(&r);
	free(feedback);
	free(json);
	free(head);
}

Test(e2e_pr, a_failing_check_reaches_the_agent_and_a_new_commit_lands_on_the_same_pull_request)
{
	char *head, *json, *feedback;
	cJSON *evs;

	start(one_issue);
	daemon_start();
	await_event("pr_opened", "api#1", 1);
	head = origin_head("waved-issue/1");
	json = xasprintf("{\"total_count\":2,\"check_runs\":["
	    "{\"name\":\"ci/build\",\"head_sha\":\"%s\",\"status\":\"completed\",\"conclusion\":\"success\"},"
	    "{\"name\":\"ci/test\",\"head_sha\":\"%s\",\"status\":\"completed\",\"conclusion\":\"failure\","
	    "\"output\":{\"title\":\"2 tests failed\",\"summary\":\"test_parse: expected 3, got 4\"}}]}",
	    head, head);
	fakepulls_write(fake, "check-runs.json", json);
	free(json);
	json = xasprintf("{\"state\":\"failure\",\"sha\":\"%s\",\"statuses\":[{\"context\":\"lint\","
	    "\"state\":\"failure\",\"description\":\"3 problems\"}]}", head);
	fakepulls_write(fake, "status.json", json);
	await_event("pushed", "api#1", 2);
	evs = scenario_events(sc);
	round_of_kind(evs, "checks");
	cJSON_Delete(evs);
	feedback = fix_round_feedback();
	cr_assert(strstr(feedback, "ci/test"), "%s", feedback);
	cr_assert(strstr(feedback, "test_parse: expected 3, got 4"), "%s", feedback);
	cr_assert(strstr(feedback, "lint"), "%s", feedback);
	cr_assert_null(strstr(feedback, "ci/build"), "a check that passed: %s", feedback);
	assert_new_commit_on_the_same_pull_request(head);
	one_round_then_merged();
	free(feedback);
	free(json);
	free(head);
}

Test(e2e_pr, a_pull_request_is_opened_once_across_a_kill_9)
{
	char *path = NULL;
	int64_t deadline;
	cJSON *evs;

	/* GitHub makes the pull request at once but answers 3 s later: the kill falls between. */
	start(one_issue);
	fakepulls_write(fake, "post-delay", "3000");
	daemon_start();
	path = xasprintf("%s/pull-1.json", fake);
	deadline = mono_ms() + 60000;
	while (access(path, F_OK) != 0 && mono_ms() < deadline)
		nap_ms(20);
	cr_assert_eq(access(path, F_OK), 0, "the pull request was made");
	kill(daemon_pid, SIGKILL);
	cr_assert_eq(scenario_wait(daemon_pid, 30), 128 + SIGKILL);
	evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "pr_opened", "api#1"), 0, "killed before it heard back");
	cJSON_Delete(evs);
	fakepulls_write(fake, "post-delay", "0");
	daemon_start();
	await_event("pr_opened", "api#1", 1);
	cr_assert_eq(httpd_count(server, "POST /repos/acme/api/pulls "), 1, "found by its head branch");
	free(person_merges(1, "waved-issue/1"));
	await_event("done", "api#1", 1);
	evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "pr_opened", "api#1"), 1);
	cr_assert_eq(ev_count(evs, "done", "api#1"), 1);
	cJSON_Delete(evs);
	free(path);
}

Test(e2e_pr, past_pr_rounds_the_issue_is_dead_with_the_last_feedback)
{
	cJSON *evs;
	int k;

	/* A check that fails on every head (no head_sha): one round, then no more. */
	start_with(one_issue, "pr_rounds = 1\n", NULL, "");
	fakepulls_write(fake, "check-runs.json", "{\"total_count\":1,\"check_runs\":[{\"name\":"
	    "\"ci/flaky\",\"status\":\"completed\",\"conclusion\":\"failure\","
	    "\"output\":{\"title\":\"always red\",\"summary\":\"the runner is broken\"}}]}");
	daemon_start();
	await_event("dead", "api#1", 1);
	evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "pr_feedback", "api#1"), 1, "one round");
	cr_assert_eq(ev_count(evs, "pushed", "api#1"), 2, "the first push, and the round's");
	k = ev_find(evs, "dead", "api#1", 0);
	cr_assert(strstr(ev_string(evs, k, "reason"), "1 feedback round used up"), "%s",
	    ev_string(evs, k, "reason"));
	cr_assert(strstr(ev_string(evs, k, "reason"), "the runner is broken"), "%s",
	    ev_string(evs, k, "reason"));
	cJSON_Delete(evs);
}

Test(e2e_pr, with_the_github_source_the_done_comment_names_the_pull_request)
{
	char *comments;

	start_with(NULL, "", NULL, "");
	daemon_start();
	await_event("pr_opened", "api#1", 1);
	free(person_merges(1, "waved-issue/1"));
	await_event("done", "api#1", 1);
	/* The outcome is reported on the issue once, naming what was merged. */
	int64_t deadline = mono_ms() + 60000;
	while (httpd_count(server, "POST /repos/acme/api/issues/1/comments ") == 0 &&
	    mono_ms() < deadline)
		nap_ms(50);
	comments = read_file(server->log, NULL);
	cr_assert_eq(httpd_count(server, "POST /repos/acme/api/issues/1/comments "), 1, "%s", comments);
	cr_assert_eq(httpd_count(server, "/pull/1 was merged"), 1, "%s", comments);
	free(comments);
	await_event("pr_opened", "api#2", 1);
}

/* A person pushes to the pull request's branch: the fix round builds on their commit. */
Test(e2e_pr, a_fix_round_builds_on_what_a_person_pushed_to_the_branch)
{
	char *head, *clone, *theirs, *json, *second;
	struct run_result r;

	start(one_issue);
	daemon_start();
	await_event("pr_opened", "api#1", 1);
	head = origin_head("waved-issue/1");
	clone = xasprintf("%s/person", sc->dir);
	git_ok(sc->dir, (const char *[]){ "clone", "-q", "-b", "waved-issue/1", origin, clone, NULL });
	free(write_text(clone, "NOTES", "a person's fixup\n"));
	git_ok(clone, (const char *[]){ "add", "NOTES", NULL });
	git_ok(clone, (const char *[]){ "-c", "user.name=person", "-c", "user.email=p@localhost",
	    "commit", "-q", "-m", "fixup by a person", NULL });
	git_ok(clone, (const char *[]){ "push", "-q", "origin", "HEAD:waved-issue/1", NULL });
	theirs = scenario_git(clone, (const char *[]){ "rev-parse", "HEAD", NULL });
	json = xasprintf("[{\"id\":5,\"state\":\"CHANGES_REQUESTED\",\"commit_id\":\"%s\","
	    "\"body\":\"more\"}]", head);
	fakepulls_write(fake, "reviews-1.json", json);
	await_event("pushed", "api#1", 2);
	second = origin_head("waved-issue/1");
	r = run_argv(NULL, (const char *[]){ "git", "-C", origin, "merge-base", "--is-ancestor",
	    theirs, second, NULL });
	cr_assert_eq(r.status, 0, "the person's commit stays under the fix round's");
	run_result_free(&r);
	cr_assert_str_neq(second, theirs);
	free(second);
	free(json);
	free(theirs);
	free(clone);
	free(head);
}

/* Both issues write the same file: whichever is merged second no longer merges. */
static const char *const shared_agent = "echo \"$WAVED_ISSUE\" > shared.txt";

static const char *const two_colliding =
    "[{\"repo\":\"api\",\"number\":1,\"title\":\"First\",\"body\":\"one\"},"
    "{\"repo\":\"api\",\"number\":3,\"title\":\"Third\",\"body\":\"three\"}]";

Test(e2e_pr, a_pull_request_that_no_longer_merges_gets_the_base_brought_in)
{
	char *merge, *hook, *head, *text;
	struct run_result r;
	cJSON *evs;
	int k;

	start_with(two_colliding, "", shared_agent, "");
	/* GitHub works mergeability out anew after each push: the hook plays that part. */
	hook = xasprintf("#!/bin/sh\nsed -i 's/\"mergeable\":false,\"mergeable_state\":\"dirty\"/"
	    "\"mergeable\":true,\"mergeable_state\":\"clean\"/' %s/pull-*.json\n", fake);
	free(write_text(origin, "hooks/post-receive", hook));
	text = xasprintf("%s/hooks/post-receive", origin);
	chmod(text, 0755);
	free(text);
	daemon_start();
	await_event("pr_opened", "api#1", 1);
	await_event("pr_opened", "api#3", 1);
	merge = person_merges(1, "waved-issue/1");
	await_event("done", "api#1", 1);
	/* api#3's pull request (number 2) now conflicts with main, GitHub says. */
	text = xasprintf("{\"number\":2,\"html_url\":\"http://127.0.0.1:%d/acme/api/pull/2\","
	    "\"state\":\"open\",\"merged\":false,\"mergeable\":false,\"mergeable_state\":\"dirty\","
	    "\"head\":{\"ref\":\"waved-issue/3\"},\"base\":{\"ref\":\"main\"}}", server->port);
	fakepulls_write(fake, "pull-2.json", text);
	free(text);
	await_event("pushed", "api#3", 2);
	evs = scenario_events(sc);
	cr_assert_geq(k = ev_find(evs, "pr_feedback", "api#3", 0), 0);
	cr_assert_str_eq(ev_string(evs, k, "kind"), "conflict");
	cr_assert_geq(ev_find(evs, "conflict_resolved", "api#3", k), 0, "the agent resolved it");
	cr_assert_eq(ev_count_with(evs, "phase_start", "api#3", "phase", "implement"), 1,
	    "a conflict round has nothing to implement");
	cJSON_Delete(evs);
	/* The branch holds main with api#1's merge, and both sides' lines. */
	head = origin_head("waved-issue/3");
	r = run_argv(NULL, (const char *[]){ "git", "-C", origin, "merge-base", "--is-ancestor",
	    merge, head, NULL });
	cr_assert_eq(r.status, 0, "the base was brought in");
	run_result_free(&r);
	text = xasprintf("%s:shared.txt", head);
	char *shared = scenario_git(origin, (const char *[]){ "show", text, NULL });
	cr_assert(strstr(shared, "api#1") && strstr(shared, "api#3"), "%s", shared);
	cr_assert_null(strstr(shared, "<<<<<<<"), "%s", shared);
	/* Mergeable again: nothing more comes back; the merge ends it. */
	free(person_merges(2, "waved-issue/3"));
	await_event("done", "api#3", 1);
	evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "pr_feedback", "api#3"), 1);
	cJSON_Delete(evs);
	free(shared);
	free(text);
	free(head);
	free(merge);
	free(hook);
}

/* The remote fails a push once: tried again after a pause, the round is not lost. */
Test(e2e_pr, a_push_that_fails_once_is_tried_again)
{
	struct run_result which = run_argv(NULL, (const char *[]){ "sh", "-c", "command -v git",
	    NULL });
	char *bin, *script, *path, *log;
	cJSON *evs;

	start(one_issue);
	which.out[strcspn(which.out, "\n")] = '\0';
	bin = xasprintf("%s/bin", sc->dir);
	script = xasprintf("#!/bin/sh\n"
	    "case \" $* \" in *\" push \"*) push=1 ;; esac\n"	/* after waved's -c options */
	    "if [ -n \"$push\" ] && mkdir %s/failed-once 2>/dev/null; then\n"
	    "  echo 'fatal: unable to access the remote: Connection reset by peer' >&2; exit 128\n"
	    "fi\n"
	    "exec %s \"$@\"\n", sc->dir, which.out);
	free(write_text(bin, "git", script));
	path = xasprintf("%s/git", bin);
	cr_assert_eq(chmod(path, 0755), 0);
	free(path);
	saved_path = xstrdup(getenv("PATH"));
	path = xasprintf("%s:%s", bin, saved_path);
	setenv("PATH", path, 1);
	daemon_start();
	await_event("pr_opened", "api#1", 1);
	evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "failed", "api#1"), 0, "no attempt lost to the blip");
	cr_assert_eq(ev_number(evs, ev_find(evs, "pushed", "api#1", 0), "attempt"), 1);
	cJSON_Delete(evs);
	free(path);
	path = xasprintf("%s/logs/api/1/attempt-1.log", sc->state);
	log = read_file(path, NULL);
	cr_assert(log && strstr(log, "== waved: push origin failed (128); again in 1000 ms"), "%s",
	    log ? log : "");
	free(log);
	free(path);
	free(script);
	free(bin);
	run_result_free(&which);
}
