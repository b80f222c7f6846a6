/*
 * What waved reads from GitHub's answers about a pull request (DESIGN.md
 * section 18), as pure functions over text: the pull request of a head
 * branch, its state, the reviews that request changes, their inline
 * comments, and the check runs and commit statuses that failed on its
 * head.  Everything here is outside input (fuzzed by tests/fuzz/fuzz_github.c).
 */
#ifndef WAVED_GITHUB_PULLS_H
#define WAVED_GITHUB_PULLS_H

#include <stdbool.h>

#include "common/util.h"

#define GH_URL_MAX 512
#define GH_SHA_MAX 64

struct gh_pull {
	long number;
	char url[GH_URL_MAX];		/* html_url */
	char state[16];			/* "open" or "closed" */
	bool merged;
	char merge_sha[GH_SHA_MAX + 1];	/* merge_commit_sha, "" when none */
	char head[GH_SHA_MAX + 1];	/* head.sha */
	bool conflicting;		/* mergeable false, mergeable_state "dirty" */
};

/* A pull request object; false when it has no number. */
bool gh_pull_parse(const char *text, struct gh_pull *out);
/* In a listing (a JSON array), the open pull request whose head.ref is branch. */
bool gh_pull_find(const char *page, const char *branch, struct gh_pull *out);

/*
 * The reviews of a page (a JSON array) that request changes on head: their
 * bodies appended to text, their ids to ids (at most max); the count.
 */
int gh_reviews_changes(const char *page, const char *head, struct strbuf *text, long *ids,
    int max);
/* The inline comments (a JSON array) of those reviews: "path:line: body", appended. */
int gh_review_comments(const char *page, const long *ids, int nids, struct strbuf *text);
/* The check runs on head that failed: name, title and summary appended; the count. */
int gh_check_failures(const char *text_in, const char *head, struct strbuf *text);
/* The commit statuses (a combined status of head) that failed or erred: the count. */
int gh_status_failures(const char *text_in, const char *head, struct strbuf *text);

#endif
