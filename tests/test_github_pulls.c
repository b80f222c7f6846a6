/*
 * What waved reads of a pull request (supervisor/github/pulls_parse.c): the one of a
 * head branch, its state, the reviews and comments that ask for changes on
 * its head, and the checks and statuses that failed there.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "supervisor/github/pulls_parse.h"

#define HEAD "0123456789abcdef0123456789abcdef01234567"
#define OLD "fedcba9876543210fedcba9876543210fedcba98"

Test(github_pulls, the_open_pull_request_of_a_head_branch_is_found)
{
	struct gh_pull p;
	const char *page = "[{\"number\":3,\"state\":\"open\",\"head\":{\"ref\":\"waved-issue/10\"}},"
	    "{\"number\":4,\"state\":\"closed\",\"head\":{\"ref\":\"waved-issue/1\"}},"
	    "{\"number\":5,\"state\":\"open\",\"html_url\":\"https://x/pull/5\","
	    "\"head\":{\"ref\":\"waved-issue/1\",\"sha\":\"" HEAD "\"}}]";

	cr_assert(gh_pull_find(page, "waved-issue/1", &p));
	cr_assert_eq(p.number, 5, "not a closed one, not another branch's");
	cr_assert_str_eq(p.url, "https://x/pull/5");
	cr_assert_str_eq(p.head, HEAD);
	cr_assert_not(gh_pull_find(page, "waved-issue/2", &p));
	cr_assert_not(gh_pull_find("{\"message\":\"Not Found\"}", "waved-issue/1", &p));
	cr_assert_not(gh_pull_find("not json", "waved-issue/1", &p));
}

Test(github_pulls, a_pull_request_says_merged_or_closed)
{
	struct gh_pull p;

	cr_assert(gh_pull_parse("{\"number\":5,\"state\":\"closed\",\"merged\":true,"
	    "\"merge_commit_sha\":\"" HEAD "\"}", &p));
	cr_assert(p.merged);
	cr_assert_str_eq(p.merge_sha, HEAD);
	cr_assert(gh_pull_parse("{\"number\":5,\"state\":\"closed\",\"merged\":false,"
	    "\"merge_commit_sha\":null}", &p));
	cr_assert_not(p.merged);
	cr_assert_str_eq(p.state, "closed");
	cr_assert_str_eq(p.merge_sha, "");
	cr_assert_not(p.conflicting);
	cr_assert_not(gh_pull_parse("{\"state\":\"open\"}", &p), "no number");
	/* Mergeability: only GitHub's settled "it conflicts" counts. */
	cr_assert(gh_pull_parse("{\"number\":5,\"state\":\"open\",\"mergeable\":false,"
	    "\"mergeable_state\":\"dirty\"}", &p));
	cr_assert(p.conflicting);
	cr_assert(gh_pull_parse("{\"number\":5,\"state\":\"open\",\"mergeable\":null,"
	    "\"mergeable_state\":\"unknown\"}", &p));
	cr_assert_not(p.conflicting, "not worked out yet");
	cr_assert(gh_pull_parse("{\"number\":5,\"state\":\"open\",\"mergeable\":false,"
	    "\"mergeable_state\":\"blocked\"}", &p));
	cr_assert_not(p.conflicting, "blocked by a rule, not by a conflict");
}

Test(github_pulls, changes_requested_on_the_head_and_their_inline_comments)
{
	struct strbuf text = { 0 };
	long ids[4];
	const char *reviews = "["
	    "{\"id\":1,\"state\":\"CHANGES_REQUESTED\",\"commit_id\":\"" OLD "\",\"body\":\"old\"},"
	    "{\"id\":2,\"state\":\"APPROVED\",\"commit_id\":\"" HEAD "\",\"body\":\"fine\"},"
	    "{\"id\":3,\"state\":\"CHANGES_REQUESTED\",\"commit_id\":\"" HEAD "\","
	    "\"user\":{\"login\":\"bob\"},\"body\":\"Split it.\"}]";
	const char *comments = "["
	    "{\"pull_request_review_id\":3,\"path\":\"a.c\",\"line\":7,\"body\":\"leak\"},"
	    "{\"pull_request_review_id\":3,\"path\":\"b.c\",\"line\":null,\"original_line\":9,"
	    "\"body\":\"outdated but still\"},"
	    "{\"pull_request_review_id\":1,\"path\":\"c.c\",\"line\":1,\"body\":\"answered before\"}]";

	cr_assert_eq(gh_reviews_changes(reviews, HEAD, &text, ids, 4), 1);
	cr_assert_eq(ids[0], 3);
	cr_assert(strstr(text.s, "Changes requested by bob\n\nSplit it.\n"), "%s", text.s);
	cr_assert(strstr(text.s, "Split it."), "%s", text.s);
	cr_assert_null(strstr(text.s, "old"), "a review of an older head: %s", text.s);
	cr_assert_eq(gh_review_comments(comments, ids, 1, &text), 2);
	cr_assert(strstr(text.s, "- a.c:7: leak\n"), "%s", text.s);
	cr_assert(strstr(text.s, "- b.c:9: outdated but still\n"), "%s", text.s);
	cr_assert_null(strstr(text.s, "answered before"));
	strbuf_free(&text);
}

Test(github_pulls, a_later_approval_by_the_same_reviewer_withdraws_the_request)
{
	struct strbuf text = { 0 };
	long ids[4];
	const char *reviews = "["
	    "{\"id\":1,\"state\":\"CHANGES_REQUESTED\",\"commit_id\":\"" HEAD "\","
	    "\"user\":{\"login\":\"ann\"},\"body\":\"no\"},"
	    "{\"id\":2,\"state\":\"CHANGES_REQUESTED\",\"commit_id\":\"" HEAD "\","
	    "\"user\":{\"login\":\"bob\"},\"body\":\"also no\"},"
	    "{\"id\":3,\"state\":\"APPROVED\",\"commit_id\":\"" HEAD "\","
	    "\"user\":{\"login\":\"ann\"},\"body\":\"fine after all\"},"
	    "{\"id\":4,\"state\":\"DISMISSED\",\"commit_id\":\"" HEAD "\","
	    "\"user\":{\"login\":\"cy\"},\"body\":\"dismissed\"}]";

	cr_assert_eq(gh_reviews_changes(reviews, HEAD, &text, ids, 4), 1);
	cr_assert_eq(ids[0], 2, "bob's stands; ann approved since; cy's was dismissed");
	strbuf_free(&text);
}

Test(github_pulls, failed_checks_and_statuses_of_the_head_only)
{
	struct strbuf text = { 0 };
	const char *runs = "{\"check_runs\":["
	    "{\"name\":\"build\",\"head_sha\":\"" HEAD "\",\"conclusion\":\"success\"},"
	    "{\"name\":\"test\",\"head_sha\":\"" HEAD "\",\"conclusion\":\"failure\","
	    "\"output\":{\"title\":\"1 failed\",\"summary\":\"test_x: 3 != 4\"}},"
	    "{\"name\":\"slow\",\"head_sha\":\"" HEAD "\",\"conclusion\":\"timed_out\"},"
	    "{\"name\":\"pending\",\"head_sha\":\"" HEAD "\",\"status\":\"in_progress\",\"conclusion\":null},"
	    "{\"name\":\"stale\",\"head_sha\":\"" OLD "\",\"conclusion\":\"failure\"}]}";

	cr_assert_eq(gh_check_failures(runs, HEAD, &text), 2);
	cr_assert(strstr(text.s, "Check failed: test\n\n1 failed\ntest_x: 3 != 4\n"), "%s", text.s);
	cr_assert(strstr(text.s, "Check failed: slow"));
	cr_assert_null(strstr(text.s, "stale"));
	cr_assert_null(strstr(text.s, "build"));
	cr_assert_eq(gh_status_failures("{\"sha\":\"" HEAD "\",\"statuses\":[{\"context\":\"lint\","
	    "\"state\":\"error\",\"description\":\"crashed\"},{\"context\":\"ok\",\"state\":\"success\"}]}",
	    HEAD, &text), 1);
	cr_assert(strstr(text.s, "Status failed: lint\n\ncrashed\n"), "%s", text.s);
	cr_assert_eq(gh_status_failures("{\"sha\":\"" OLD "\",\"statuses\":[{\"context\":\"lint\","
	    "\"state\":\"failure\"}]}", HEAD, &text), 0, "another commit's status");
	strbuf_free(&text);
}

Test(github_pulls, outside_text_is_cut_and_made_valid)
{
	struct strbuf text = { 0 };
	char *big = malloc(20000), *page;
	long ids[1];

	memset(big, 'x', 19999);
	big[19999] = '\0';
	page = xasprintf("[{\"id\":1,\"state\":\"CHANGES_REQUESTED\",\"commit_id\":\"" HEAD "\","
	    "\"body\":\"\xff\xfe%s\"}]", big);
	cr_assert_eq(gh_reviews_changes(page, HEAD, &text, ids, 1), 1);
	cr_assert_lt(text.len, 5000, "one piece is at most 4000 bytes");
	cr_assert(strstr(text.s, "[...]"));
	cr_assert_null(strstr(text.s, "\xff"), "invalid UTF-8 is replaced");
	strbuf_free(&text);
	free(page);
	free(big);
}
