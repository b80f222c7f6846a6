/*
 * The GitHub API client: libcurl's multi interface driven by the caller's
 * poll loop (its sockets and its timer are part of the supervisor's poll),
 * so that no request ever blocks the daemon.  Responses are handed to a
 * callback with the headers waved cares about already parsed.  It is the
 * one client of the daemon (DESIGN.md section 1): one token holder, one
 * limiter, one ETag cache, for listings, dependencies, comments, closes,
 * pull requests and their watches alike.
 *
 * The token is sent as a header only: never logged, never in argv.
 *
 * Behind it: limiter.h (the limiter), etag_cache.h (the ETag cache),
 * token.h (the token and its refresh), transport.h (libcurl).
 */
#ifndef WAVED_GITHUB_H
#define WAVED_GITHUB_H

#include <poll.h>
#include <stdbool.h>
#include <sys/types.h>

#include <cJSON.h>
#include <stdint.h>

#include "common/config.h"
#include "common/events.h"

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

/* An issue number from outside (a whole number from 1), checked before it
 * becomes part of a URL; owner/name is checked by github_owner_name_valid
 * (common/config.h). */
/* text for a URL's query: every byte but A-Z a-z 0-9 - . _ ~ / as %XX (caller frees). */
char *github_query_escape(const char *text);
/* item's key as an issue number, or 0 when it is missing or not one. */
long github_number(const cJSON *item, const char *key);
/* Frees arg of a request that never finished (the client was freed first). */
typedef void gh_drop_fn(void *arg);

/* Whom a request is for, named in the rate_limited event and the log; either may be NULL. */
struct gh_for {
	const char *repo;	/* the [repo "NAME"] name */
	const char *issue;	/* "api#12" */
};

/* A client with a fixed token (NULL: none); never refreshed. */
struct github *github_new(const char *api, const char *token);
/* The client of cfg's [source]: the token from token_command (run here, in
 * place), token_file or $GITHUB_TOKEN (and with pass_token = yes, that token
 * in $GITHUB_TOKEN for the phases), its budget requests_per_minute; NULL
 * with why in *err. */
struct github *github_open(const struct config *cfg, char **err);
void github_free(struct github *gh);
/* The rate_limited events go there (NULL: none). */
void github_set_events(struct github *gh, struct events *events);
/* A reload (SIGHUP): the token's source and the budget of cfg; token_file is
 * read again now, token_command run again (through the loop).  A token that
 * cannot be read leaves the one in use. */
void github_reconfigure(struct github *gh, const struct config *cfg);
/* The token command is a child of ours: true when pid was it. */
bool github_child_exited(struct github *gh, pid_t pid, int status);

/*
 * Start a request; path is relative to the API ("/repos/acme/api") or a full
 * URL (a Link header's); body: JSON or NULL.  Every request of the client
 * goes through one limiter: it waits while GitHub's rate limit is spent
 * (x-ratelimit-remaining 0 until x-ratelimit-reset, or a 403/429 with
 * Retry-After; that request is sent again after it, its caller never sees
 * the limit) and while requests_per_minute were started in the last 60 s.
 * A GET is sent with the ETag of its URL's last answer; a 304 comes back
 * with that answer's body and Link.  A 401 fetches the token again
 * (token_command or token_file) and sends the request once more.
 */
void github_request(struct github *gh, const struct gh_for *who, const char *method,
    const char *path, const char *body, gh_done_fn *done, gh_drop_fn *drop, void *arg);
/* Requests started and not yet answered (held ones included). */
int github_pending(const struct github *gh);
/* Until when (monotonic ms) GitHub's rate limit holds every request; 0 when it does not. */
int64_t github_held_until(const struct github *gh);
/* The budget: requests in any 60 s. */
int github_requests_per_minute(const struct github *gh);

/* Loop integration: its sockets (room for github_nfds), its next deadline
 * (monotonic ms, INT64_MAX when none), and the work after a poll. */
size_t github_nfds(const struct github *gh);
size_t github_pollfds(const struct github *gh, struct pollfd *fds);
int64_t github_next_deadline(const struct github *gh);
void github_dispatch(struct github *gh, const struct pollfd *fds, size_t n);

/* Drive requests until none is pending or timeout_ms passes (-n, --source-issues). */
void github_wait(struct github *gh, int timeout_ms);

#endif
