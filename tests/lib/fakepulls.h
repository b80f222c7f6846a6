/*
 * The pull requests of a fake GitHub repo, for tests/lib/httpd.c: a routes
 * line "ANY /repos/OWNER/NAME/ @pulls" hands every request under that prefix
 * to fakepulls_serve, which keeps its state as files in the fixture folder,
 * so that a test can play the person on the other side by writing them:
 *
 *   pull-N.json        a pull request, as GitHub shows it (POST creates one,
 *                      PATCH changes title and body; set "state", "merged",
 *                      "merge_commit_sha" to close or merge it)
 *   reviews-N.json     its reviews (default [])
 *   comments-N.json    its review comments (default [])
 *   check-runs.json    check runs of any commit (default none)
 *   status.json        the combined status of any commit (default none)
 *   post-delay         milliseconds a POST's answer waits (the pull request
 *                      exists at once): a crash can fall in between
 *   rate-limit         seconds: the next request gets a 403 with Retry-After
 *                      (the file is then removed)
 *
 * Every GET answers with an ETag and honours If-None-Match with a 304, as
 * GitHub does.  Write files with fakepulls_write: never half a file.
 */
#ifndef WAVED_FAKEPULLS_H
#define WAVED_FAKEPULLS_H

/* Answer one request on fd; dir is the fixture folder. */
void fakepulls_serve(int fd, const char *dir, int port, const char *method, const char *path,
    const char *body, const char *if_none_match);
/* Replace dir/name with text in one rename. */
void fakepulls_write(const char *dir, const char *name, const char *text);

#endif
