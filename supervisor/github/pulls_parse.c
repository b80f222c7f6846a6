#include "supervisor/github/pulls_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "supervisor/github/client.h"

/* A piece of outside text in the feedback file: valid UTF-8, at most this long. */
#define PIECE_MAX 4000

/* The array to walk, or NULL (no items) when the answer is not one. */
static cJSON *
array_or_null(cJSON *v)
{
	return cJSON_IsArray(v) ? v : NULL;
}

/* o's member key when it is a string, else NULL. */
static const char *
str_of(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void
copy_str(char *dst, size_t size, const cJSON *o, const char *key)
{
	const char *v = str_of(o, key);

	snprintf(dst, size, "%s", v ? v : "");
}

/* Outside text appended as one line's end: cut to PIECE_MAX, invalid UTF-8 replaced. */
static void
add_piece(struct strbuf *b, const char *text)
{
	char *valid = utf8_valid_dup(text ? text : "");
	size_t n = utf8_cut(valid, PIECE_MAX);

	strbuf_addf(b, "%.*s%s\n", (int)n, valid, n < strlen(valid) ? " [...]" : "");
	free(valid);
}

static bool
pull_from(const cJSON *o, struct gh_pull *out)
{
	const cJSON *head = cJSON_GetObjectItemCaseSensitive(o, "head");

	memset(out, 0, sizeof(*out));
	if ((out->number = github_number(o, "number")) <= 0)
		return false;
	copy_str(out->url, sizeof(out->url), o, "html_url");
	copy_str(out->state, sizeof(out->state), o, "state");
	copy_str(out->merge_sha, sizeof(out->merge_sha), o, "merge_commit_sha");
	out->merged = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "merged"));
	/* GitHub works mergeability out after the fact (null until then): only a
	 * settled "no, it conflicts" counts. */
	out->conflicting = cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "mergeable")) &&
	    str_of(o, "mergeable_state") && strcmp(str_of(o, "mergeable_state"), "dirty") == 0;
	if (cJSON_IsObject(head))
		copy_str(out->head, sizeof(out->head), head, "sha");
	return true;
}

bool
gh_pull_parse(const char *text, struct gh_pull *out)
{
	cJSON *o = cJSON_Parse(text);
	bool ok = cJSON_IsObject(o) && pull_from(o, out);

	cJSON_Delete(o);
	return ok;
}

bool
gh_pull_find(const char *page, const char *branch, struct gh_pull *out)
{
	cJSON *arr = cJSON_Parse(page), *item;
	bool found = false;

	cJSON_ArrayForEach(item, array_or_null(arr)) {
		const cJSON *head = cJSON_GetObjectItemCaseSensitive(item, "head");
		const char *ref = cJSON_IsObject(head) ? str_of(head, "ref") : NULL;
		const char *state = str_of(item, "state");

		/* GitHub filters by head already; a listing that did not is checked here. */
		if (ref && strcmp(ref, branch) == 0 && (state == NULL || strcmp(state, "open") == 0) &&
		    pull_from(item, out)) {
			found = true;
			break;
		}
	}
	cJSON_Delete(arr);
	return found;
}

static const char *
reviewer(const cJSON *review)
{
	const cJSON *user = cJSON_GetObjectItemCaseSensitive(review, "user");

	return cJSON_IsObject(user) ? str_of(user, "login") : NULL;
}

/* Reviews come oldest first: a later approval by the same reviewer withdraws theirs. */
static bool
approved_later(const cJSON *review)
{
	const char *login = reviewer(review);

	for (const cJSON *next = review->next; next && login; next = next->next) {
		const char *who = reviewer(next), *state = str_of(next, "state");

		if (who && strcmp(who, login) == 0 && state && strcmp(state, "APPROVED") == 0)
			return true;
	}
	return false;
}

int
gh_reviews_changes(const char *page, const char *head, struct strbuf *text, long *ids, int max)
{
	cJSON *arr = cJSON_Parse(page), *item;
	int n = 0;

	cJSON_ArrayForEach(item, array_or_null(arr)) {
		const char *state = str_of(item, "state"), *commit = str_of(item, "commit_id");

		/* A review of an older head was answered by the round that pushed this one. */
		if (state == NULL || strcmp(state, "CHANGES_REQUESTED") != 0 || commit == NULL ||
		    strcmp(commit, head) != 0 || approved_later(item) || n >= max)
			continue;
		ids[n++] = github_number(item, "id");
		strbuf_add(text, "### Changes requested by ");
		add_piece(text, reviewer(item) ? reviewer(item) : "a reviewer");
		strbuf_add(text, "\n");
		add_piece(text, str_of(item, "body"));
		strbuf_add(text, "\n");
	}
	cJSON_Delete(arr);
	return n;
}

int
gh_review_comments(const char *page, const long *ids, int nids, struct strbuf *text)
{
	cJSON *arr = cJSON_Parse(page), *item;
	int n = 0;

	cJSON_ArrayForEach(item, array_or_null(arr)) {
		long review = github_number(item, "pull_request_review_id");
		long line = github_number(item, "line");
		const char *path = str_of(item, "path");
		bool ours = false;

		for (int k = 0; k < nids && !ours; k++)
			ours = ids[k] == review;
		if (!ours || path == NULL)
			continue;
		if (line <= 0)
			line = github_number(item, "original_line");
		/* path is outside text too: kept to one line, like the rest. */
		strbuf_addf(text, "- %.*s", (int)(strcspn(path, "\n") < 300 ? strcspn(path, "\n") : 300),
		    path);
		if (line > 0)
			strbuf_addf(text, ":%ld", line);
		strbuf_add(text, ": ");
		add_piece(text, str_of(item, "body"));
		n++;
	}
	cJSON_Delete(arr);
	return n;
}

static bool
check_failed(const char *conclusion)
{
	static const char *const failed[] = { "failure", "timed_out", "startup_failure",
	    "action_required" };

	for (size_t k = 0; conclusion && k < ARRAY_LEN(failed); k++)
		if (strcmp(conclusion, failed[k]) == 0)
			return true;
	return false;
}

int
gh_check_failures(const char *text_in, const char *head, struct strbuf *text)
{
	cJSON *o = cJSON_Parse(text_in), *item;
	cJSON *runs = cJSON_GetObjectItemCaseSensitive(o, "check_runs");
	int n = 0;

	cJSON_ArrayForEach(item, array_or_null(runs)) {
		const char *sha = str_of(item, "head_sha");
		const cJSON *output = cJSON_GetObjectItemCaseSensitive(item, "output");

		if (!check_failed(str_of(item, "conclusion")) || (sha && strcmp(sha, head) != 0))
			continue;
		strbuf_add(text, "### Check failed: ");
		add_piece(text, str_of(item, "name"));
		strbuf_add(text, "\n");
		if (cJSON_IsObject(output) && str_of(output, "title"))
			add_piece(text, str_of(output, "title"));
		if (cJSON_IsObject(output) && str_of(output, "summary"))
			add_piece(text, str_of(output, "summary"));
		strbuf_add(text, "\n");
		n++;
	}
	cJSON_Delete(o);
	return n;
}

int
gh_status_failures(const char *text_in, const char *head, struct strbuf *text)
{
	cJSON *o = cJSON_Parse(text_in), *item;
	cJSON *statuses = cJSON_GetObjectItemCaseSensitive(o, "statuses");
	const char *sha = str_of(o, "sha");
	int n = 0;

	if (sha && strcmp(sha, head) != 0)
		statuses = NULL;	/* another commit's */
	cJSON_ArrayForEach(item, array_or_null(statuses)) {
		const char *state = str_of(item, "state");

		if (state == NULL || (strcmp(state, "failure") != 0 && strcmp(state, "error") != 0))
			continue;
		strbuf_add(text, "### Status failed: ");
		add_piece(text, str_of(item, "context"));
		strbuf_add(text, "\n");
		add_piece(text, str_of(item, "description"));
		strbuf_add(text, "\n");
		n++;
	}
	cJSON_Delete(o);
	return n;
}
