/*
 * The GitHub client's transport (client.c): libcurl's multi interface,
 * driven by the caller's poll loop (its sockets and its timer are part of
 * the supervisor's poll), so that no request ever blocks the daemon.  One
 * call is one HTTP exchange; what GitHub answered comes back with the
 * headers waved cares about already read.  The only file of waved that
 * speaks libcurl (loaded on demand: curl_dl.c).
 */
#ifndef WAVED_GITHUB_TRANSPORT_H
#define WAVED_GITHUB_TRANSPORT_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

struct gh_transport;
struct gh_call;

/* What to send. */
struct gh_call_spec {
	const char *method;
	const char *url;
	const char *body;	/* JSON, or NULL */
	const char *auth;	/* "Authorization: Bearer ...", or NULL */
	const char *etag;	/* sent as If-None-Match, or NULL */
	const char *api;	/* the API's root: a Link elsewhere is not followed */
};

/* What came back, its headers read (the last response's, after a redirect). */
struct gh_answer {
	long status;		/* HTTP status; 0 when the transfer itself failed */
	const char *error;	/* the transport error when status is 0 */
	const char *body;	/* "" when none */
	const char *etag;	/* NULL when absent */
	const char *next;	/* the Link header's rel="next" URL, or NULL */
	long retry_after;	/* seconds, or -1 */
	long rate_remaining;	/* x-ratelimit-remaining, or -1 */
	int64_t rate_reset;	/* x-ratelimit-reset, seconds since the epoch, or -1 */
	long poll_interval;	/* x-poll-interval, or -1 */
};

/* A call ended; answer holds until gh_call_free(call). */
typedef void gh_call_done_fn(struct gh_call *call, const struct gh_answer *answer, void *owner);

/* The transport; done gets every call that ends.  Loads libcurl or ends the process. */
struct gh_transport *gh_transport_new(gh_call_done_fn *done);
/* Calls still in flight must have been gh_call_free'd. */
void gh_transport_free(struct gh_transport *tp);

/* Send one request now; owner is handed back with its answer. */
struct gh_call *gh_call_start(struct gh_transport *tp, const struct gh_call_spec *spec,
    void *owner);
/* The call off the transport (in flight: cancelled, no answer) and freed. */
void gh_call_free(struct gh_transport *tp, struct gh_call *call);

/* Loop integration: curl's sockets (room for gh_transport_nfds), curl's
 * timer (monotonic ms, INT64_MAX when none), and the work after a poll,
 * which hands every call that ended to done. */
size_t gh_transport_nfds(const struct gh_transport *tp);
size_t gh_transport_pollfds(const struct gh_transport *tp, struct pollfd *fds);
int64_t gh_transport_deadline(const struct gh_transport *tp);
void gh_transport_dispatch(struct gh_transport *tp, const struct pollfd *fds, size_t n,
    int64_t now);

#endif
