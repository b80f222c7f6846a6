#include "supervisor/github/transport.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "common/log.h"
#include "supervisor/github/curl_dl.h"
#include "supervisor/github/parse.h"

#define GH_TIMEOUT_S 60
#define GH_USER_AGENT "waved/1.0"
#define GH_API_VERSION "X-GitHub-Api-Version: 2022-11-28"

struct gh_socket {
	curl_socket_t fd;
	short events;
};

struct gh_transport {
	CURLM *multi;
	gh_call_done_fn *done;
	struct gh_socket *sockets;
	size_t nsockets, cap;
	int64_t deadline;	/* curl's timer, monotonic ms; INT64_MAX when none */
};

struct gh_call {
	CURL *easy;
	struct curl_slist *headers;
	char *request_body;	/* curl sends it from here: kept until the end */
	char *api;
	void *owner;
	bool in_flight;		/* added to the multi handle */
	struct strbuf body;
	char *etag, *next;
	long retry_after, rate_remaining, poll_interval;
	int64_t rate_reset;
	char error[CURL_ERROR_SIZE];
};

/* curl tells us which sockets to watch for what. */
static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct gh_transport *tp = userp;
	size_t k;

	(void)easy;
	(void)socketp;
	for (k = 0; k < tp->nsockets && tp->sockets[k].fd != fd; k++)
		;
	if (what == CURL_POLL_REMOVE) {
		if (k < tp->nsockets)
			tp->sockets[k] = tp->sockets[--tp->nsockets];
		return 0;
	}
	if (k == tp->nsockets) {
		grow_array((void **)&tp->sockets, &tp->cap, tp->nsockets + 1, sizeof(*tp->sockets));
		tp->nsockets++;
	}
	tp->sockets[k].fd = fd;
	tp->sockets[k].events = (short)((what & CURL_POLL_IN ? POLLIN : 0) |
	    (what & CURL_POLL_OUT ? POLLOUT : 0));
	return 0;
}

static int
on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct gh_transport *tp = userp;

	(void)multi;
	tp->deadline = timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
	return 0;
}

struct gh_transport *
gh_transport_new(gh_call_done_fn *done)
{
	struct gh_transport *tp;

	curl_dl_require();
	tp = xcalloc(1, sizeof(*tp));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	tp->multi = curl_multi_init();
	tp->done = done;
	tp->deadline = INT64_MAX;
	curl_multi_setopt(tp->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(tp->multi, CURLMOPT_SOCKETDATA, tp);
	curl_multi_setopt(tp->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(tp->multi, CURLMOPT_TIMERDATA, tp);
	return tp;
}

void
gh_transport_free(struct gh_transport *tp)
{
	if (tp == NULL)
		return;
	curl_multi_cleanup(tp->multi);
	free(tp->sockets);
	free(tp);
	curl_global_cleanup();
}

static size_t
on_body(char *data, size_t size, size_t n, void *userp)
{
	struct gh_call *c = userp;
	char *chunk = strndup(data, size * n);

	strbuf_add(&c->body, chunk);
	free(chunk);
	return size * n;
}

static size_t
on_header(char *data, size_t size, size_t n, void *userp)
{
	struct gh_call *c = userp;
	size_t len = size * n;
	char *line = strndup(data, len), *colon, *value;

	line[strcspn(line, "\r\n")] = '\0';
	/* A new response (after a redirect or 100): forget the last one's headers. */
	if (strncmp(line, "HTTP/", 5) == 0) {
		free(c->etag);
		free(c->next);
		c->etag = c->next = NULL;
		c->retry_after = c->rate_remaining = c->poll_interval = c->rate_reset = -1;
	}
	if ((colon = strchr(line, ':')) != NULL) {
		*colon = '\0';
		value = colon + 1 + strspn(colon + 1, " \t");
		if (strcasecmp(line, "etag") == 0) {
			free(c->etag);
			c->etag = xstrdup(value);
		} else if (strcasecmp(line, "link") == 0) {
			bool foreign = false;

			free(c->next);
			/* Followed with the token: only on the API's own scheme, host and port. */
			c->next = gh_link_next(value, c->api, &foreign);
			if (foreign)
				log_warnx("github: a Link not on %s: not followed", c->api);
		} else if (strcasecmp(line, "retry-after") == 0)
			c->retry_after = strtol(value, NULL, 10);
		else if (strcasecmp(line, "x-ratelimit-remaining") == 0)
			c->rate_remaining = strtol(value, NULL, 10);
		else if (strcasecmp(line, "x-ratelimit-reset") == 0)
			c->rate_reset = strtoll(value, NULL, 10);
		else if (strcasecmp(line, "x-poll-interval") == 0)
			c->poll_interval = strtol(value, NULL, 10);
	}
	free(line);
	return len;
}

struct gh_call *
gh_call_start(struct gh_transport *tp, const struct gh_call_spec *spec, void *owner)
{
	struct gh_call *c = xcalloc(1, sizeof(*c));

	c->owner = owner;
	c->api = xstrdup(spec->api);
	c->retry_after = c->rate_remaining = c->poll_interval = c->rate_reset = -1;
	c->easy = curl_easy_init();
	c->headers = curl_slist_append(c->headers, "Accept: application/vnd.github+json");
	c->headers = curl_slist_append(c->headers, GH_API_VERSION);
	if (spec->auth)
		c->headers = curl_slist_append(c->headers, spec->auth);
	if (spec->etag) {
		char *h = xasprintf("If-None-Match: %s", spec->etag);
		c->headers = curl_slist_append(c->headers, h);
		free(h);
	}
	if (spec->body) {
		c->request_body = xstrdup(spec->body);
		c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->request_body);
	}
	curl_easy_setopt(c->easy, CURLOPT_URL, spec->url);
	curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, spec->method);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->easy, CURLOPT_USERAGENT, GH_USER_AGENT);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->error);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT, (long)GH_TIMEOUT_S);
	curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT, 20L);
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_multi_add_handle(tp->multi, c->easy);
	c->in_flight = true;
	return c;
}

void
gh_call_free(struct gh_transport *tp, struct gh_call *c)
{
	if (c == NULL)
		return;
	if (c->in_flight)
		curl_multi_remove_handle(tp->multi, c->easy);
	curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->headers);
	strbuf_free(&c->body);
	free(c->etag);
	free(c->next);
	free(c->request_body);
	free(c->api);
	free(c);
}

/* One call ended: off the multi handle, its answer to done. */
static void
call_ended(struct gh_transport *tp, struct gh_call *c, CURLcode result)
{
	struct gh_answer a = { 0 };

	if (result == CURLE_OK)
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &a.status);
	else
		a.error = c->error[0] ? c->error : curl_easy_strerror(result);
	curl_multi_remove_handle(tp->multi, c->easy);
	c->in_flight = false;
	a.body = c->body.s ? c->body.s : "";
	a.etag = c->etag;
	a.next = c->next;
	a.retry_after = c->retry_after;
	a.rate_remaining = c->rate_remaining;
	a.rate_reset = c->rate_reset;
	a.poll_interval = c->poll_interval;
	tp->done(c, &a, c->owner);
}

/* Hand every call that ended on. */
static void
finish_calls(struct gh_transport *tp)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(tp->multi, &left)) != NULL) {
		struct gh_call *c = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		call_ended(tp, c, msg->data.result);
	}
}

size_t
gh_transport_nfds(const struct gh_transport *tp)
{
	return tp->nsockets;
}

size_t
gh_transport_pollfds(const struct gh_transport *tp, struct pollfd *fds)
{
	for (size_t k = 0; k < tp->nsockets; k++)
		fds[k] = (struct pollfd){ .fd = tp->sockets[k].fd, .events = tp->sockets[k].events };
	return tp->nsockets;
}

int64_t
gh_transport_deadline(const struct gh_transport *tp)
{
	return tp->deadline;
}

void
gh_transport_dispatch(struct gh_transport *tp, const struct pollfd *fds, size_t n, int64_t now)
{
	int running;

	for (size_t k = 0; k < n; k++) {
		int ev = (fds[k].revents & POLLIN ? CURL_CSELECT_IN : 0) |
		    (fds[k].revents & POLLOUT ? CURL_CSELECT_OUT : 0) |
		    (fds[k].revents & (POLLERR | POLLHUP) ? CURL_CSELECT_ERR : 0);
		bool curls = false;

		for (size_t s = 0; s < tp->nsockets && !curls; s++)
			curls = tp->sockets[s].fd == fds[k].fd;
		if (ev && curls)
			curl_multi_socket_action(tp->multi, fds[k].fd, ev, &running);
	}
	if (now >= tp->deadline) {
		tp->deadline = INT64_MAX;
		curl_multi_socket_action(tp->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	finish_calls(tp);
}
