/*
 * The one GitHub client (client.h): requests queued in order, let go by the
 * limiter (limiter.c), sent with the token (token.c) and the ETag of their
 * URL's last answer (etag_cache.c) over libcurl's multi interface
 * (transport.c); what comes back is a rate limit or a stale token, which
 * sends the request again, or the caller's answer.
 */
#include "supervisor/github/client.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "supervisor/children.h"
#include "supervisor/github/curl_dl.h"
#include "supervisor/github/etag_cache.h"
#include "supervisor/github/limiter.h"
#include "supervisor/github/token.h"
#include "supervisor/github/transport.h"

struct github {
	struct gh_transport *transport;
	struct gh_token *token;
	struct gh_limiter *limiter;
	struct gh_cache *cache;
	char *api;
	int pending;		/* queued and in flight */
	struct gh_transfer *transfers;	/* in flight, to free them at the end */
	struct gh_transfer *queue, *queue_tail;	/* not started yet, in order */
};

/* One request: queued until the limiter lets it go, then in flight (call). */
struct gh_transfer {
	struct github *gh;
	struct gh_call *call;	/* in flight, else NULL */
	char *method, *url;
	char *repo, *issue;	/* whom it is for (struct gh_for) */
	char *request_body;
	unsigned token_generation;	/* the token it was sent with */
	bool refreshed;		/* sent again after a 401 once: the next 401 is the answer */
	gh_done_fn *done;
	gh_drop_fn *drop;
	void *arg;
	struct gh_transfer *prev, *next_transfer;
};

static void
transfer_link(struct github *gh, struct gh_transfer *t)
{
	t->prev = NULL;
	t->next_transfer = gh->transfers;
	if (gh->transfers)
		gh->transfers->prev = t;
	gh->transfers = t;
}

static void
transfer_unlink(struct github *gh, struct gh_transfer *t)
{
	if (t->prev)
		t->prev->next_transfer = t->next_transfer;
	else
		gh->transfers = t->next_transfer;
	if (t->next_transfer)
		t->next_transfer->prev = t->prev;
}

/* ---- the queue: FIFO, a request held back by a rate limit goes first again ---- */

static void
queue_push(struct github *gh, struct gh_transfer *t, bool front)
{
	t->prev = NULL;
	t->next_transfer = NULL;
	if (gh->queue == NULL) {
		gh->queue = gh->queue_tail = t;
	} else if (front) {
		t->next_transfer = gh->queue;
		gh->queue = t;
	} else {
		gh->queue_tail->next_transfer = t;
		gh->queue_tail = t;
	}
}

static struct gh_transfer *
queue_pop(struct github *gh)
{
	struct gh_transfer *t = gh->queue;

	if (t) {
		gh->queue = t->next_transfer;
		if (gh->queue == NULL)
			gh->queue_tail = NULL;
		t->next_transfer = NULL;
	}
	return t;
}

static void call_done(struct gh_call *call, const struct gh_answer *a, void *owner);

/* Start what the limiter lets go, in order. */
static void pump(struct github *gh);

static void
token_command_exited(pid_t pid, int status, void *arg)
{
	github_child_exited(arg, pid, status);
}

struct github *
github_new(const char *api, const char *token)
{
	struct github *gh;
	size_t n;

	gh = xcalloc(1, sizeof(*gh));
	gh->transport = gh_transport_new(call_done);
	gh->api = xstrdup(api);
	n = strlen(gh->api);
	if (n > 0 && gh->api[n - 1] == '/')
		gh->api[n - 1] = '\0';
	gh->token = gh_token_fixed(token);
	gh->limiter = gh_limiter_new(800);
	gh->cache = gh_cache_new();
	return gh;
}

struct github *
github_open(const struct config *cfg, char **err)
{
	struct gh_token *token;
	struct github *gh;

	if (!curl_dl_load(err))
		return NULL;
	if ((token = gh_token_open(cfg, err)) == NULL)
		return NULL;
	gh = github_new(cfg->source.api, NULL);
	gh_token_free(gh->token);
	gh->token = token;
	gh_token_set_exit(token, token_command_exited, gh);
	gh_limiter_set_rpm(gh->limiter, cfg->source.requests_per_minute);
	return gh;
}

void
github_set_events(struct github *gh, struct events *events)
{
	gh_limiter_set_events(gh->limiter, events);
}

void
github_reconfigure(struct github *gh, const struct config *cfg)
{
	if (gh_limiter_rpm(gh->limiter) != cfg->source.requests_per_minute)
		gh_limiter_set_rpm(gh->limiter, cfg->source.requests_per_minute);
	gh_token_reconfigure(gh->token, cfg);
	pump(gh);
}

bool
github_child_exited(struct github *gh, pid_t pid, int status)
{
	if (gh == NULL || !gh_token_child_exited(gh->token, pid, status))
		return false;
	pump(gh);
	return true;
}

static void
transfer_free(struct gh_transfer *t)
{
	free(t->request_body);
	free(t->method);
	free(t->url);
	free(t->repo);
	free(t->issue);
	free(t);
}

static void
transfer_drop(struct gh_transfer *t)
{
	if (t->drop)
		t->drop(t->arg);
	transfer_free(t);
}

void
github_free(struct github *gh)
{
	struct gh_transfer *t;

	if (gh == NULL)
		return;
	children_forget(gh);
	/* Transfers still running or queued are dropped without their callbacks. */
	while ((t = gh->transfers) != NULL) {
		transfer_unlink(gh, t);
		gh_call_free(gh->transport, t->call);
		transfer_drop(t);
	}
	while ((t = queue_pop(gh)) != NULL)
		transfer_drop(t);
	gh_token_free(gh->token);
	gh_limiter_free(gh->limiter);
	gh_cache_free(gh->cache);
	free(gh->api);
	gh_transport_free(gh->transport);
	free(gh);
}

char *
github_query_escape(const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(strlen(text) * 3 + 1), *o = out;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~/", *p)) {
			*o++ = (char)*p;
			continue;
		}
		*o++ = '%';
		*o++ = hex[*p >> 4];
		*o++ = hex[*p & 15];
	}
	*o = '\0';
	return out;
}

long
github_number(const cJSON *item, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(item, key);

	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1 && v->valuedouble <= 2147483647.0) ||
	    v->valuedouble != (double)(long)v->valuedouble)
		return 0;
	return (long)v->valuedouble;
}

void
github_request(struct github *gh, const struct gh_for *who, const char *method, const char *path,
    const char *body, gh_done_fn *done, gh_drop_fn *drop, void *arg)
{
	struct gh_transfer *t = xcalloc(1, sizeof(*t));

	t->gh = gh;
	t->method = xstrdup(method);
	t->url = strncmp(path, "http", 4) == 0 ? xstrdup(path) : xasprintf("%s%s", gh->api, path);
	t->repo = who && who->repo ? xstrdup(who->repo) : NULL;
	t->issue = who && who->issue ? xstrdup(who->issue) : NULL;
	t->request_body = body ? xstrdup(body) : NULL;
	t->done = done;
	t->drop = drop;
	t->arg = arg;
	queue_push(gh, t, false);
	gh->pending++;
	pump(gh);
}

/* Hand a queued request to the transport, with the token and the ETag of this moment. */
static void
transfer_start(struct github *gh, struct gh_transfer *t)
{
	const struct gh_cached *c = strcmp(t->method, "GET") == 0 ?
	    gh_cache_find(gh->cache, t->url) : NULL;

	t->token_generation = gh_token_generation(gh->token);
	t->call = gh_call_start(gh->transport, &(struct gh_call_spec){
	    .method = t->method, .url = t->url, .body = t->request_body,
	    .auth = gh_token_header(gh->token), .etag = c ? c->etag : NULL, .api = gh->api }, t);
	transfer_link(gh, t);
}

/* When the queue's head may go (monotonic ms): the limiter's word, unless a 401 waits. */
static int64_t
queue_free_at(const struct github *gh)
{
	if (gh->queue == NULL || gh_token_awaited(gh->token))
		return INT64_MAX;
	return gh_limiter_free_at(gh->limiter);
}

static void
pump(struct github *gh)
{
	int64_t now = mono_ms();

	while (gh->queue && queue_free_at(gh) <= now) {
		gh_limiter_take(gh->limiter, now);
		transfer_start(gh, queue_pop(gh));
	}
}

int
github_pending(const struct github *gh)
{
	return gh->pending;
}

int64_t
github_held_until(const struct github *gh)
{
	return gh_limiter_held_until(gh->limiter);
}

int
github_requests_per_minute(const struct github *gh)
{
	return gh_limiter_rpm(gh->limiter);
}

size_t
github_nfds(const struct github *gh)
{
	return gh_transport_nfds(gh->transport) + gh_token_nfds(gh->token);
}

size_t
github_pollfds(const struct github *gh, struct pollfd *fds)
{
	size_t n = gh_transport_pollfds(gh->transport, fds);

	return n + gh_token_pollfds(gh->token, fds + n);
}

int64_t
github_next_deadline(const struct github *gh)
{
	int64_t next = gh_transport_deadline(gh->transport), q = queue_free_at(gh);
	int64_t token = gh_token_deadline(gh->token);

	if (q < next)
		next = q;
	return token < next ? token : next;
}

/* A transfer whose call ended back in the queue, to be sent again. */
static void
transfer_again(struct github *gh, struct gh_transfer *t, bool front)
{
	gh_call_free(gh->transport, t->call);
	t->call = NULL;
	queue_push(gh, t, front);
}

/*
 * One call ended: a rate limit or a stale token sends it again (the caller
 * never hears of either); anything else goes to its callback, a 304 with
 * the body it stands for.
 */
static void
call_done(struct gh_call *call, const struct gh_answer *a, void *owner)
{
	struct gh_transfer *t = owner;
	struct github *gh = t->gh;
	struct gh_response res = { 0 };
	char *body = NULL, *next = NULL;
	int64_t until;

	(void)call;
	transfer_unlink(gh, t);
	if (a->status && (until = gh_limit_until(a->status, a->retry_after, a->rate_remaining,
	    a->rate_reset)) > 0) {
		gh_limiter_hold(gh->limiter, until, t->repo, t->issue);
		if (a->status == 403 || a->status == 429) {
			transfer_again(gh, t, true);
			return;
		}
	}
	if (a->status == 401 && !t->refreshed) {
		/* Refreshed since it left: the new token may do. */
		if (t->token_generation != gh_token_generation(gh->token) ||
		    gh_token_refresh(gh->token, true)) {
			t->refreshed = true;
			transfer_again(gh, t, true);
			return;
		}
	}
	res.status = a->status;
	res.error = a->error;
	res.body = a->body;
	res.next = a->next;
	if (a->status == 200 && strcmp(t->method, "GET") == 0)
		gh_cache_put(gh->cache, t->url, a->etag, a->body, a->next);
	else if (a->status == 304) {
		const struct gh_cached *c = gh_cache_find(gh->cache, t->url);

		/* The client's copy: the cache may change before the callback is done. */
		res.body = body = xstrdup(c && c->body ? c->body : "");
		res.next = next = c && c->next ? xstrdup(c->next) : NULL;
	}
	res.etag = a->etag;
	res.retry_after = a->retry_after;
	res.rate_remaining = a->rate_remaining;
	res.rate_reset = a->rate_reset;
	res.poll_interval = a->poll_interval;
	gh->pending--;
	t->done(&res, t->arg);
	free(body);
	free(next);
	gh_call_free(gh->transport, t->call);
	transfer_free(t);
}

void
github_dispatch(struct github *gh, const struct pollfd *fds, size_t n)
{
	int64_t now = mono_ms();

	gh_transport_dispatch(gh->transport, fds, n, now);
	gh_token_dispatch(gh->token, fds, n, now);
	pump(gh);
}

void
github_wait(struct github *gh, int timeout_ms)
{
	int64_t until = mono_ms() + timeout_ms;
	struct pollfd *fds = NULL;
	size_t cap = 0;

	while (gh->pending > 0 && mono_ms() < until) {
		/* Here nothing else reaps: a token command is waited for in place. */
		gh_token_wait(gh->token);
		pump(gh);
		/* As many sockets as curl has open: one a repo, in a preflight. */
		grow_array((void **)&fds, &cap, github_nfds(gh) + 1, sizeof(*fds));
		size_t n = github_pollfds(gh, fds);
		int64_t deadline = github_next_deadline(gh);
		int64_t next = deadline < until ? deadline : until;
		int wait = (int)(next - mono_ms());

		poll(fds, n, wait < 0 ? 0 : wait > 1000 ? 1000 : wait);
		github_dispatch(gh, fds, n);
	}
	free(fds);
}
