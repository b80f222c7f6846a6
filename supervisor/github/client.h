/*
 * The GitHub API client: libcurl's multi interface driven by the caller's
 * poll loop (its sockets and its timer are part of the supervisor's poll),
 * so that no request ever blocks the daemon.  Responses are handed to a
 * callback with the headers waved cares about already parsed.
 *
 * The token is sent as a header only: never logged, never in argv.
 */
#ifndef WAVED_GITHUB_H
#define WAVED_GITHUB_H

#include <poll.h>
#include <stdbool.h>

#include <cJSON.h>
#include <stdint.h>

#include "common/config.h"

struct github;

struct gh_response {
	long status;		/* HTTP status; 0 when the transfer itself failed */
	const char *error;	/* the transport error when status is 0 */
	const char *body;
	const char *etag;	/* NULL when absent */
	const char *next;	/* the Link header's rel="next" URL, or NULL */
	long retry_after;	/* seconds, or -1 */
	long rate_remaining;	/* x-ratelimit-remaining, or -1 */
	int64_t rate_reset;	/* x-ratelimit-reset, seconds since the epoch, or -1 */
	long poll_interval;	/* x-poll-interval, or -1 */
};

typedef void gh_done_fn(const struct gh_response *res, void *arg);

/*
 * In a forked child that needs no GitHub: overwrite the copies of the token
 * this client holds (its Authorization header and those of its requests in
 * flight), and $GITHUB_TOKEN in the environment.  The parent's are untouched.
 */
void github_wipe_in_child(struct github *gh);

/* An issue number from outside (a whole number from 1), checked before it
 * becomes part of a URL; owner/name is checked by github_owner_name_valid
 * (common/config.h). */
/* text for a URL's query: every byte but A-Z a-z 0-9 - . _ ~ / as %XX (caller frees). */
char *github_query_escape(const char *text);
/* item's key as an issue number, or 0 when it is missing or not one. */
long github_number(const cJSON *item, const char *key);
/* Frees arg of a request that never finished (the client was freed first). */
typedef void gh_drop_fn(void *arg);

/* The token from token_file (refused if group or others may read it) or $GITHUB_TOKEN. */
char *github_token_load(const struct source_conf *src, char **err);

struct github *github_new(const char *api, const char *token);
/* github_new with the configured token (and with pass_token = yes, that token
 * in $GITHUB_TOKEN for the phases); NULL with why in *err. */
struct github *github_open(const struct source_conf *src, char **err);
void github_free(struct github *gh);

/* Start a request; path is relative to the API ("/repos/acme/api") or a full
 * URL (a Link header's).  etag: sent as If-None-Match; body: JSON or NULL. */
void github_request(struct github *gh, const char *method, const char *path,
    const char *etag, const char *body, gh_done_fn *done, gh_drop_fn *drop, void *arg);
/* Requests started and not yet answered. */
int github_pending(const struct github *gh);

/* Loop integration: its sockets (room for github_nfds), its next deadline
 * (monotonic ms, INT64_MAX when none), and the work after a poll. */
size_t github_nfds(const struct github *gh);
size_t github_pollfds(const struct github *gh, struct pollfd *fds);
int64_t github_next_deadline(const struct github *gh);
void github_dispatch(struct github *gh, const struct pollfd *fds, size_t n);

/* Drive requests until none is pending or timeout_ms passes (for -n and wavectl). */
void github_wait(struct github *gh, int timeout_ms);

#endif
