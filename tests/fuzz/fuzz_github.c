/*
 * make fuzz: what GitHub answers (supervisor/github/parse.c): the input is at
 * once a Link header, an issue body, a page of issues (each one's body read
 * for dependencies in turn) and a page of comments; and, for land = pr
 * (supervisor/github/pulls_parse.c), a pull request, a listing of them, reviews,
 * review comments, check runs and a combined status.
 */
#include <stdlib.h>

#include "supervisor/github/client.h"
#include "supervisor/github/parse.h"
#include "supervisor/github/pulls_parse.h"
#include "tests/fuzz/fuzz.h"

/* What waved does first with a dependency: check it before any URL. */
static void
check_dep(const char *owner_name, long number, void *arg)
{
	(void)number;
	(void)arg;
	if (owner_name)
		github_owner_name_valid(owner_name);
}

static void
fuzz_pulls(const char *text)
{
	const char *head = "0123456789abcdef0123456789abcdef01234567";
	struct strbuf feedback = { 0 };
	struct gh_pull p;
	long ids[32];
	int n;

	gh_pull_parse(text, &p);
	gh_pull_find(text, "waved-issue/1", &p);
	n = gh_reviews_changes(text, head, &feedback, ids, 32);
	gh_review_comments(text, ids, n, &feedback);
	gh_check_failures(text, head, &feedback);
	gh_status_failures(text, head, &feedback);
	strbuf_free(&feedback);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_string(data, size);
	struct issue_list issues = { 0 };
	cJSON *page = cJSON_Parse(text);
	const cJSON *items = cJSON_IsArray(page) ? page : NULL, *item;
	bool foreign;

	free(gh_link_next(text, "https://api.github.com", &foreign));
	gh_body_deps(text, check_dep, NULL);
	cJSON_ArrayForEach(item, items)
		if (gh_listed_issue(item, "api", &issues) == 1)
			gh_body_deps(issues.v[issues.n - 1].body, check_dep, NULL);
	gh_comments_have(text, "<!-- waved:api#1 -->");
	fuzz_pulls(text);
	cJSON_Delete(page);
	issue_list_clear(&issues);
	free(text);
	return 0;
}
