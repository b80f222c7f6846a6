/*
 * What waved reads from GitHub's answers, as pure functions over text: the
 * Link header, the dependencies an issue body names, an issue of a listing,
 * a page of comments.  Everything here is outside input (fuzzed by
 * tests/fuzz/fuzz_github.c); nothing here makes a request.
 */
#ifndef WAVED_GITHUB_PARSE_H
#define WAVED_GITHUB_PARSE_H

#include <stdbool.h>

#include <cJSON.h>

#include "common/issue.h"

/* The rel="next" URL of a Link header value when it is on api's own scheme,
 * host and port (it is followed with the token); else NULL.  *foreign is set
 * when there was one elsewhere.  Caller frees. */
char *gh_link_next(const char *value, const char *api, bool *foreign);

/*
 * The references in lines of a body that start with "Depends on", "Blocked
 * by" or "Requires" (any case), outside code fences: #N, owner/name#N, or an
 * issue URL.  fn gets owner/name (NULL: the issue's own repo) and N, both
 * still to be checked.
 */
typedef void gh_dep_fn(const char *owner_name, long number, void *arg);
void gh_body_deps(const char *body, gh_dep_fn *fn, void *arg);

/* One item of an issue listing, appended to into as an issue of repo (title
 * and body as valid UTF-8): 1 added, 0 a pull request, -1 no number or title. */
int gh_listed_issue(const cJSON *item, const char *repo, struct issue_list *into);

/* Does a page of comments (a JSON array) hold one whose body contains marker? */
bool gh_comments_have(const char *page, const char *marker);

#endif
