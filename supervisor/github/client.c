#include "supervisor/github/client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "supervisor/github/curl_dl.h"
#include "supervisor/github/parse.h"
#include "common/log.h"
#include "common/util.h"

#define GH_TIMEOUT_S 60
#define GH_USER_AGENT "waved/1.0"
#define GH_API_VERSION "X-GitHub-Api-Version: 2022-11-28"

struct gh_socket {
	curl_socket_t fd;
	short events;
};

struct github {
	CURLM *multi;
	char *api;
	char *auth;		/* "Authorization: Bearer ...", or NULL */
	struct gh_socket *sockets;
	size_t nsockets, cap;
	int64_t deadline;	/* curl's timer, monotonic ms; INT64_MAX when none */
	int pending;
	struct gh_transfer *transfers;	/* in flight, to free them at the end */
};

/* One transfer in flight: what came back so far, and whom to tell. */
struct gh_transfer {
	CURL *easy;
	struct curl_slist *headers;
	struct strbuf body;
	char *etag, *next;
	long retry_after, rate_remaining, poll_interval;
	int64_t rate_reset;
	char *request_body;
	const char *api;	/* the client's: where a Link may lead */
	gh_done_fn *done;
	gh_drop_fn *drop;
	void *arg;
	char error[CURL_ERROR_SIZE];
	struct gh_transfer *prev, *next_transfer;
};

static void
transfer_link(struct github *gh, struct gh_transfer *t)
{
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

char *
github_token_load(const struct source_conf *src, char **err)
{
	const char *env = getenv("GITHUB_TOKEN");
	struct stat st;
	char *token;

	*err = NULL;
	if (src->token_file == NULL) {
		if (env == NULL || *env == '\0') {
			*err = xstrdup("no token: set [source] token_file or $GITHUB_TOKEN");
			return NULL;
		}
		return xstrdup(env);
	}
	if (stat(src->token_file, &st) == -1) {
		*err = xasprintf("token_file %s: %s", src->token_file, strerror(errno));
		return NULL;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		*err = xasprintf("token_file %s: readable by group or others (mode %03o); "
		    "chmod 600 it", src->token_file, (unsigned)(st.st_mode & 0777));
		return NULL;
	}
	if ((token = read_file(src->token_file, NULL)) == NULL) {
		*err = xasprintf("token_file %s: %s", src->token_file, strerror(errno));
		return NULL;
	}
	token[strcspn(token, "\r\n")] = '\0';
	if (*token == '\0') {
		free(token);
		*err = xasprintf("token_file %s is empty", src->token_file);
		return NULL;
	}
	return token;
}

/* curl tells us which sockets to watch for what. */
static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct github *gh = userp;
	size_t k;

	(void)easy;
	(void)socketp;
	for (k = 0; k < gh->nsockets && gh->sockets[k].fd != fd; k++)
		;
	if (what == CURL_POLL_REMOVE) {
		if (k < gh->nsockets)
			gh->sockets[k] = gh->sockets[--gh->nsockets];
		return 0;
	}
	if (k == gh->nsockets) {
		grow_array((void **)&gh->sockets, &gh->cap, gh->nsockets + 1, sizeof(*gh->sockets));
		gh->nsockets++;
	}
	gh->sockets[k].fd = fd;
	gh->sockets[k].events = (short)((what & CURL_POLL_IN ? POLLIN : 0) |
	    (what & CURL_POLL_OUT ? POLLOUT : 0));
	return 0;
}

static int
on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct github *gh = userp;

	(void)multi;
	gh->deadline = timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
	return 0;
}

struct github *
github_new(const char *api, const char *token)
{
	struct github *gh;
	size_t n;

	curl_dl_require();
	gh = xcalloc(1, sizeof(*gh));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	gh->multi = curl_multi_init();
	gh->api = xstrdup(api);
	n = strlen(gh->api);
	if (n > 0 && gh->api[n - 1] == '/')
		gh->api[n - 1] = '\0';
	gh->auth = token ? xasprintf("Authorization: Bearer %s", token) : NULL;
	gh->deadline = INT64_MAX;
	curl_multi_setopt(gh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(gh->multi, CURLMOPT_SOCKETDATA, gh);
	curl_multi_setopt(gh->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(gh->multi, CURLMOPT_TIMERDATA, gh);
	return gh;
}

struct github *
github_open(const struct source_conf *src, char **err)
{
	char *token;
	struct github *gh;

	if (!curl_dl_load(err))
		return NULL;
	token = github_token_load(src, err);
	if (token == NULL)
		return NULL;
	gh = github_new(src->api, token);
	/* pass_token = yes: the phases get it (a worker removes it otherwise). */
	if (src->pass_token)
		setenv("GITHUB_TOKEN", token, 1);
	explicit_bzero(token, strlen(token));
	free(token);
	return gh;
}

static void
transfer_free(struct gh_transfer *t)
{
	curl_slist_free_all(t->headers);
	strbuf_free(&t->body);
	free(t->etag);
	free(t->next);
	free(t->request_body);
	free(t);
}

void
github_free(struct github *gh)
{
	if (gh == NULL)
		return;
	/* Transfers still running are dropped without their callbacks. */
	while (gh->transfers) {
		struct gh_transfer *t = gh->transfers;

		if (t->drop)
			t->drop(t->arg);
		transfer_unlink(gh, t);
		curl_multi_remove_handle(gh->multi, t->easy);
		curl_easy_cleanup(t->easy);
		transfer_free(t);
	}
	curl_multi_cleanup(gh->multi);
	if (gh->auth)
		explicit_bzero(gh->auth, strlen(gh->auth));
	free(gh->auth);
	free(gh->api);
	free(gh->sockets);
	free(gh);
	curl_global_cleanup();
}

static size_t
on_body(char *data, size_t size, size_t n, void *userp)
{
	struct gh_transfer *t = userp;
	char *chunk = strndup(data, size * n);

	strbuf_add(&t->body, chunk);
	free(chunk);
	return size * n;
}

/*
 * Zero each copy of secret in [p, end).  Under AddressSanitizer plain loads
 * with no checks (this reads freed memory and redzones on purpose); else
 * memmem, which is fast.
 */
#ifdef __SANITIZE_ADDRESS__
__attribute__((no_sanitize("address")))
static void
wipe_range(unsigned char *p, const unsigned char *end, const unsigned char *secret, size_t len)
{
	for (; p + len <= end; p++) {
		size_t k = 0;

		while (k < len && p[k] == secret[k])
			k++;
		if (k < len)
			continue;
		for (k = 0; k < len; k++)
			((volatile unsigned char *)p)[k] = 0;
		p += len - 1;
	}
}
#else
static void
wipe_range(unsigned char *p, const unsigned char *end, const unsigned char *secret, size_t len)
{
	unsigned char *hit;

	while (p + len <= end && (hit = memmem(p, (size_t)(end - p), secret, len)) != NULL) {
		explicit_bzero(hit, len);
		p = hit + len;
	}
}
#endif

/*
 * Sweep the resident pages of a mapping only: a page never touched holds
 * zeros, and touching it would cost a fault each (sanitizers reserve a lot).
 * Runs of resident pages are swept whole, so a copy across pages is found.
 */
static void
wipe_mapping(unsigned long from, unsigned long to, const char *secret, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), npages = (to - from) / page;
	unsigned char *vec = malloc(npages ? npages : 1);

	if (vec == NULL || mincore((void *)from, to - from, vec) == -1) {
		free(vec);
		return;
	}
	for (size_t k = 0; k < npages; ) {
		size_t run = k;

		while (run < npages && (vec[run] & 1))
			run++;
		if (run > k)
			wipe_range((unsigned char *)(from + k * page),
			    (const unsigned char *)(from + run * page),
			    (const unsigned char *)secret, len);
		k = run + 1;
	}
	free(vec);
}

/* Overwrite every copy of secret in our writable memory (freed heap included). */
static void
wipe_everywhere(const char *secret, size_t len)
{
	FILE *maps = fopen("/proc/self/maps", "re");
	char line[512];

	if (maps == NULL || len == 0) {
		if (maps)
			fclose(maps);
		return;
	}
	while (fgets(line, sizeof(line), maps)) {
		unsigned long from, to;
		char perms[8];

		/* Private and writable: our heap, stacks and data, never a file's pages;
		 * not the vast reservations a sanitizer makes. */
		if (sscanf(line, "%lx-%lx %7s", &from, &to, perms) != 3 || perms[0] != 'r' ||
		    perms[1] != 'w' || perms[3] != 'p' || to - from > (1UL << 30))
			continue;
		wipe_mapping(from, to, secret, len);
	}
	fclose(maps);
}

void
github_wipe_in_child(struct github *gh)
{
	extern char **environ;
	static const char bearer[] = "Authorization: Bearer ";
	char *token = NULL;

	if (gh && gh->auth && strncmp(gh->auth, bearer, sizeof(bearer) - 1) == 0)
		token = xstrdup(gh->auth + sizeof(bearer) - 1);
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "GITHUB_TOKEN=", 13) == 0) {
			if (token == NULL && (*e)[13])
				token = xstrdup(*e + 13);
			explicit_bzero(*e + 13, strlen(*e + 13));
		}
	if (token == NULL)
		return;
	/*
	 * The client's copies, the environment's, and whatever freed memory
	 * still holds (curl built its requests with it).  The needle itself
	 * sits in a page made read-only, which the sweep of writable memory
	 * passes by.
	 */
	size_t len = strlen(token);
	long page = sysconf(_SC_PAGESIZE);
	size_t size = (len + 1 + (size_t)page - 1) / (size_t)page * (size_t)page;
	char *needle = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (needle != MAP_FAILED) {
		memcpy(needle, token, len + 1);
		explicit_bzero(token, len);
		mprotect(needle, size, PROT_READ);
		wipe_everywhere(needle, len);
		munmap(needle, size);
	} else
		explicit_bzero(token, len);
	free(token);
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

static size_t
on_header(char *data, size_t size, size_t n, void *userp)
{
	struct gh_transfer *t = userp;
	size_t len = size * n;
	char *line = strndup(data, len), *colon, *value;

	line[strcspn(line, "\r\n")] = '\0';
	/* A new response (after a redirect or 100): forget the last one's headers. */
	if (strncmp(line, "HTTP/", 5) == 0) {
		free(t->etag);
		free(t->next);
		t->etag = t->next = NULL;
		t->retry_after = t->rate_remaining = t->poll_interval = t->rate_reset = -1;
	}
	if ((colon = strchr(line, ':')) != NULL) {
		*colon = '\0';
		value = colon + 1 + strspn(colon + 1, " \t");
		if (strcasecmp(line, "etag") == 0) {
			free(t->etag);
			t->etag = xstrdup(value);
		} else if (strcasecmp(line, "link") == 0) {
			bool foreign = false;

			free(t->next);
			/* Followed with the token: only on the API's own scheme, host and port. */
			t->next = gh_link_next(value, t->api, &foreign);
			if (foreign)
				log_warnx("github: a Link not on %s: not followed", t->api);
		} else if (strcasecmp(line, "retry-after") == 0)
			t->retry_after = strtol(value, NULL, 10);
		else if (strcasecmp(line, "x-ratelimit-remaining") == 0)
			t->rate_remaining = strtol(value, NULL, 10);
		else if (strcasecmp(line, "x-ratelimit-reset") == 0)
			t->rate_reset = strtoll(value, NULL, 10);
		else if (strcasecmp(line, "x-poll-interval") == 0)
			t->poll_interval = strtol(value, NULL, 10);
	}
	free(line);
	return len;
}

void
github_request(struct github *gh, const char *method, const char *path, const char *etag,
    const char *body, gh_done_fn *done, gh_drop_fn *drop, void *arg)
{
	struct gh_transfer *t = xcalloc(1, sizeof(*t));
	char *url = strncmp(path, "http", 4) == 0 ? xstrdup(path) : xasprintf("%s%s", gh->api, path);

	t->easy = curl_easy_init();
	t->api = gh->api;
	t->done = done;
	t->drop = drop;
	t->arg = arg;
	t->retry_after = t->rate_remaining = t->poll_interval = t->rate_reset = -1;
	t->headers = curl_slist_append(t->headers, "Accept: application/vnd.github+json");
	t->headers = curl_slist_append(t->headers, GH_API_VERSION);
	if (gh->auth)
		t->headers = curl_slist_append(t->headers, gh->auth);
	if (etag) {
		char *h = xasprintf("If-None-Match: %s", etag);
		t->headers = curl_slist_append(t->headers, h);
		free(h);
	}
	if (body) {
		t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
		t->request_body = xstrdup(body);
		curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->request_body);
	}
	curl_easy_setopt(t->easy, CURLOPT_URL, url);
	curl_easy_setopt(t->easy, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(t->easy, CURLOPT_USERAGENT, GH_USER_AGENT);
	curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->error);
	curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
	curl_easy_setopt(t->easy, CURLOPT_TIMEOUT, (long)GH_TIMEOUT_S);
	curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT, 20L);
	curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_multi_add_handle(gh->multi, t->easy);
	transfer_link(gh, t);
	gh->pending++;
	free(url);
}

int
github_pending(const struct github *gh)
{
	return gh->pending;
}

size_t
github_nfds(const struct github *gh)
{
	return gh->nsockets;
}

size_t
github_pollfds(const struct github *gh, struct pollfd *fds)
{
	for (size_t k = 0; k < gh->nsockets; k++)
		fds[k] = (struct pollfd){ .fd = gh->sockets[k].fd, .events = gh->sockets[k].events };
	return gh->nsockets;
}

int64_t
github_next_deadline(const struct github *gh)
{
	return gh->deadline;
}

/* Hand every finished transfer to its callback. */
static void
finish_transfers(struct github *gh)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(gh->multi, &left)) != NULL) {
		struct gh_transfer *t = NULL;
		struct gh_response res = { 0 };

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		if (msg->data.result == CURLE_OK)
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &res.status);
		else
			res.error = t->error[0] ? t->error : curl_easy_strerror(msg->data.result);
		res.body = t->body.s ? t->body.s : "";
		res.etag = t->etag;
		res.next = t->next;
		res.retry_after = t->retry_after;
		res.rate_remaining = t->rate_remaining;
		res.rate_reset = t->rate_reset;
		res.poll_interval = t->poll_interval;
		curl_multi_remove_handle(gh->multi, t->easy);
		curl_easy_cleanup(t->easy);
		transfer_unlink(gh, t);
		gh->pending--;
		t->done(&res, t->arg);
		transfer_free(t);
	}
}

void
github_dispatch(struct github *gh, const struct pollfd *fds, size_t n)
{
	int running;

	for (size_t k = 0; k < n; k++) {
		int ev = (fds[k].revents & POLLIN ? CURL_CSELECT_IN : 0) |
		    (fds[k].revents & POLLOUT ? CURL_CSELECT_OUT : 0) |
		    (fds[k].revents & (POLLERR | POLLHUP) ? CURL_CSELECT_ERR : 0);

		if (ev)
			curl_multi_socket_action(gh->multi, fds[k].fd, ev, &running);
	}
	if (mono_ms() >= gh->deadline) {
		gh->deadline = INT64_MAX;
		curl_multi_socket_action(gh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	finish_transfers(gh);
}

void
github_wait(struct github *gh, int timeout_ms)
{
	int64_t until = mono_ms() + timeout_ms;
	struct pollfd *fds = NULL;
	size_t cap = 0;

	while (gh->pending > 0 && mono_ms() < until) {
		/* As many sockets as curl has open: one a repo, in a preflight. */
		grow_array((void **)&fds, &cap, github_nfds(gh) + 1, sizeof(*fds));
		size_t n = github_pollfds(gh, fds);
		int64_t next = gh->deadline < until ? gh->deadline : until;
		int wait = (int)(next - mono_ms());

		poll(fds, n, wait < 0 ? 0 : wait > 1000 ? 1000 : wait);
		github_dispatch(gh, fds, n);
	}
	free(fds);
}
