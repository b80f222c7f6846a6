#include "supervisor/github/client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/argv.h"
#include "common/command.h"
#include "common/log.h"
#include "common/util.h"
#include "supervisor/children.h"
#include "supervisor/github/curl_dl.h"
#include "supervisor/github/parse.h"

#define GH_TIMEOUT_S 60
#define GH_USER_AGENT "waved/1.0"
#define GH_API_VERSION "X-GitHub-Api-Version: 2022-11-28"
#define GH_WINDOW_MS 60000		/* requests_per_minute counts starts in this window */
#define GH_CACHE_MAX 16384		/* ETag cache entries; past it the cache starts over */
#define GH_CACHE_BUCKETS 4096
#define GH_TOKEN_RETRY_MS 60000		/* a token command that failed runs again after this */
#define GH_TOKEN_MAX 4096		/* bytes a token command may print */
#define GH_HOLD_MIN_MS 1000		/* the shortest hold a rate limit makes */

struct gh_socket {
	curl_socket_t fd;
	short events;
};

/* A GET's last answer, by URL: sent again as If-None-Match, used again on a 304. */
struct gh_cached {
	char *url, *etag, *body, *next;
	struct gh_cached *chain;
};

/* Where the token comes from, and its refresh. */
struct gh_token {
	char *file;		/* token_file, or NULL */
	char *command;		/* token_command, or NULL */
	char *dir;		/* where token_command runs: the config's folder */
	int timeout_s;		/* command_timeout */
	int ttl_s;		/* token_ttl */
	bool pass;		/* pass_token: the phases get it in $GITHUB_TOKEN */
	struct command *running;
	bool urgent;		/* a 401 asked: requests wait for this run */
	int64_t refresh_at;	/* monotonic ms: token_command's next run; INT64_MAX: none */
	unsigned generation;	/* counts tokens taken up */
};

struct github {
	CURLM *multi;
	char *api;
	char *auth;		/* "Authorization: Bearer ...", or NULL */
	struct gh_token token;
	struct events *events;
	struct gh_socket *sockets;
	size_t nsockets, cap;
	int64_t deadline;	/* curl's timer, monotonic ms; INT64_MAX when none */
	int pending;		/* queued and in flight */
	struct gh_transfer *transfers;	/* in flight, to free them at the end */
	struct gh_transfer *queue, *queue_tail;	/* not started yet, in order */
	int64_t held_until;	/* GitHub's rate limit: no request before (monotonic ms) */
	int rpm;		/* requests_per_minute */
	int64_t *starts;	/* when the last rpm requests started (a ring) */
	size_t nstarts, start_next;
	struct gh_cached *cache[GH_CACHE_BUCKETS];
	size_t ncached;
};

/* One request: queued until the limiter lets it go, then in flight. */
struct gh_transfer {
	CURL *easy;
	struct curl_slist *headers;
	char *method, *url;
	char *repo, *issue;	/* whom it is for (struct gh_for) */
	struct strbuf body;
	char *etag, *next;
	long retry_after, rate_remaining, poll_interval;
	int64_t rate_reset;
	char *request_body;
	const char *api;	/* the client's: where a Link may lead */
	unsigned token_generation;	/* the token it was sent with */
	bool refreshed;		/* sent again after a 401 once: the next 401 is the answer */
	gh_done_fn *done;
	gh_drop_fn *drop;
	void *arg;
	char error[CURL_ERROR_SIZE];
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

/* ---- the budget: at most rpm starts in any GH_WINDOW_MS ---- */

static void
budget_set(struct github *gh, int rpm)
{
	gh->rpm = rpm > 0 ? rpm : 1;
	free(gh->starts);
	gh->starts = xcalloc((size_t)gh->rpm, sizeof(*gh->starts));
	gh->nstarts = gh->start_next = 0;
}

/* When the next request may start as far as the budget goes (monotonic ms). */
static int64_t
budget_free_at(const struct github *gh)
{
	if (gh->nstarts < (size_t)gh->rpm)
		return 0;
	return gh->starts[gh->start_next] + GH_WINDOW_MS;	/* the oldest start */
}

static void
budget_take(struct github *gh, int64_t now)
{
	gh->starts[gh->start_next] = now;
	gh->start_next = (gh->start_next + 1) % (size_t)gh->rpm;
	if (gh->nstarts < (size_t)gh->rpm)
		gh->nstarts++;
}

/* ---- the ETag cache, one for every GET of the client ---- */

static size_t
cache_bucket(const char *url)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % GH_CACHE_BUCKETS;
}

static struct gh_cached *
cache_find(const struct github *gh, const char *url)
{
	for (struct gh_cached *c = gh->cache[cache_bucket(url)]; c; c = c->chain)
		if (strcmp(c->url, url) == 0)
			return c;
	return NULL;
}

static void
cache_clear(struct github *gh)
{
	for (size_t b = 0; b < GH_CACHE_BUCKETS; b++)
		while (gh->cache[b]) {
			struct gh_cached *c = gh->cache[b];

			gh->cache[b] = c->chain;
			free(c->url);
			free(c->etag);
			free(c->body);
			free(c->next);
			free(c);
		}
	gh->ncached = 0;
}

/* A 200 with an ETag is kept for its URL; a bounded cache starts over when full
 * (a round of full answers, rarely: it holds every URL a poll asks for). */
static void
cache_put(struct github *gh, const struct gh_transfer *t)
{
	struct gh_cached *c = cache_find(gh, t->url);

	if (t->etag == NULL) {
		if (c) {
			free(c->etag);
			c->etag = NULL;	/* never sent again: the body may be stale */
		}
		return;
	}
	if (c == NULL) {
		size_t b = cache_bucket(t->url);

		if (gh->ncached >= GH_CACHE_MAX)
			cache_clear(gh);
		c = xcalloc(1, sizeof(*c));
		c->url = xstrdup(t->url);
		c->chain = gh->cache[b];
		gh->cache[b] = c;
		gh->ncached++;
	}
	free(c->etag);
	free(c->body);
	free(c->next);
	c->etag = xstrdup(t->etag);
	c->body = xstrdup(t->body.s ? t->body.s : "");
	c->next = t->next ? xstrdup(t->next) : NULL;
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

/* A new token in use from the next request on (the Authorization header is built per request). */
static void
token_take(struct github *gh, char *token)
{
	if (gh->auth) {
		explicit_bzero(gh->auth, strlen(gh->auth));
		free(gh->auth);
	}
	gh->auth = xasprintf("Authorization: Bearer %s", token);
	gh->token.generation++;
	/* pass_token = yes: the phases get it (a worker removes it otherwise). */
	if (gh->token.pass)
		setenv("GITHUB_TOKEN", token, 1);
	explicit_bzero(token, strlen(token));
	free(token);
}

static struct command *
token_command_start(const struct gh_token *tk, char **err)
{
	char why[128], **argv = argv_split(tk->command, why, sizeof(why));
	struct command *c;

	if (argv == NULL) {
		*err = xasprintf("token_command: %s", why);
		return NULL;
	}
	c = command_start(&(struct command_spec){ .argv = argv, .cwd = tk->dir, .in_fd = -1,
	    .timeout_s = tk->timeout_s, .out_max = GH_TOKEN_MAX }, err);
	argv_free(argv);
	return c;
}

/* What a finished token command printed: its first line, or NULL with why. */
static char *
token_command_result(struct command *c, char **err)
{
	char why[128];
	const char *out;
	size_t len;
	struct strbuf lines = { 0 };
	char *token;

	command_stderr_lines(c, "token_command", &lines);
	if (lines.len)
		log_warnx("%.*s", (int)(lines.len - 1), lines.s);
	strbuf_free(&lines);
	if (!command_ok(c)) {
		command_failure(c, why, sizeof(why));
		*err = xasprintf("token_command: %s", why);
		return NULL;
	}
	out = command_out(c, &len);
	token = strndup(out, strcspn(out, "\r\n"));
	if (*token == '\0') {
		free(token);
		*err = xstrdup("token_command printed no token");
		return NULL;
	}
	return token;
}

static void pump(struct github *gh);

/* The token command ended: its token in use, or the one before kept. */
static void
token_command_finished(struct github *gh)
{
	char *err = NULL, *token = token_command_result(gh->token.running, &err);

	command_free(gh->token.running);
	gh->token.running = NULL;
	gh->token.urgent = false;
	if (token) {
		token_take(gh, token);
		gh->token.refresh_at = mono_ms() + (int64_t)gh->token.ttl_s * 1000;
	} else {
		log_warnx("github: %s; the token in use stays, token_command runs again in %d s",
		    err, GH_TOKEN_RETRY_MS / 1000);
		free(err);
		gh->token.refresh_at = mono_ms() + GH_TOKEN_RETRY_MS;
	}
	pump(gh);
}

static void
token_command_exited(pid_t pid, int status, void *arg)
{
	github_child_exited(arg, pid, status);
}

/*
 * Fetch the token again: token_file is read now, token_command started
 * (urgent: requests wait for it).  False when nothing can give another
 * token (a fixed one, or $GITHUB_TOKEN).
 */
static bool
token_refresh(struct github *gh, bool urgent)
{
	struct gh_token *tk = &gh->token;
	char *err = NULL, *token;

	if (tk->command) {
		if (tk->running == NULL) {
			if ((tk->running = token_command_start(tk, &err)) == NULL) {
				log_warnx("github: %s", err);
				free(err);
				tk->refresh_at = mono_ms() + GH_TOKEN_RETRY_MS;
				return false;
			}
			children_add(command_pid(tk->running), CHILD_COMMAND, "token_command",
			    token_command_exited, gh);
		}
		tk->urgent = tk->urgent || urgent;
		return true;
	}
	if (tk->file == NULL)
		return false;
	if ((token = github_token_load(&(struct source_conf){ .token_file = tk->file }, &err)) == NULL) {
		log_warnx("github: %s; the token in use stays", err);
		free(err);
		return false;
	}
	token_take(gh, token);
	return true;
}

static void
token_conf(struct gh_token *tk, const struct config *cfg)
{
	free(tk->file);
	free(tk->command);
	free(tk->dir);
	tk->file = cfg->source.token_file ? xstrdup(cfg->source.token_file) : NULL;
	tk->command = cfg->source.token_command ? xstrdup(cfg->source.token_command) : NULL;
	tk->dir = xstrdup(cfg->dir ? cfg->dir : ".");
	tk->timeout_s = cfg->source.command_timeout;
	tk->ttl_s = cfg->source.token_ttl;
	tk->pass = cfg->source.pass_token;
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
	gh->token.refresh_at = INT64_MAX;
	budget_set(gh, 800);
	curl_multi_setopt(gh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(gh->multi, CURLMOPT_SOCKETDATA, gh);
	curl_multi_setopt(gh->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(gh->multi, CURLMOPT_TIMERDATA, gh);
	return gh;
}

struct github *
github_open(const struct config *cfg, char **err)
{
	struct gh_token tk = { 0 };
	char *token;
	struct github *gh;

	if (!curl_dl_load(err))
		return NULL;
	token_conf(&tk, cfg);
	if (tk.command) {
		struct command *c = token_command_start(&tk, err);

		if (c)
			command_wait(c);
		token = c ? token_command_result(c, err) : NULL;
		command_free(c);
	} else
		token = github_token_load(&cfg->source, err);
	if (token == NULL) {
		free(tk.file);
		free(tk.command);
		free(tk.dir);
		return NULL;
	}
	gh = github_new(cfg->source.api, NULL);
	gh->token = tk;
	gh->token.refresh_at = tk.command ? mono_ms() + (int64_t)tk.ttl_s * 1000 : INT64_MAX;
	token_take(gh, token);
	budget_set(gh, cfg->source.requests_per_minute);
	return gh;
}

void
github_set_events(struct github *gh, struct events *events)
{
	gh->events = events;
}

void
github_reconfigure(struct github *gh, const struct config *cfg)
{
	token_conf(&gh->token, cfg);
	if (gh->rpm != cfg->source.requests_per_minute)
		budget_set(gh, cfg->source.requests_per_minute);
	if (gh->token.command == NULL)
		gh->token.refresh_at = INT64_MAX;
	token_refresh(gh, false);
	pump(gh);
}

bool
github_child_exited(struct github *gh, pid_t pid, int status)
{
	if (gh == NULL || gh->token.running == NULL || !command_exited(gh->token.running, pid, status))
		return false;
	if (command_done(gh->token.running))
		token_command_finished(gh);
	return true;
}

static void
transfer_free(struct gh_transfer *t)
{
	curl_slist_free_all(t->headers);
	strbuf_free(&t->body);
	free(t->etag);
	free(t->next);
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
		curl_multi_remove_handle(gh->multi, t->easy);
		curl_easy_cleanup(t->easy);
		transfer_drop(t);
	}
	while ((t = queue_pop(gh)) != NULL)
		transfer_drop(t);
	curl_multi_cleanup(gh->multi);
	command_free(gh->token.running);
	free(gh->token.file);
	free(gh->token.command);
	free(gh->token.dir);
	if (gh->auth)
		explicit_bzero(gh->auth, strlen(gh->auth));
	free(gh->auth);
	free(gh->api);
	free(gh->sockets);
	free(gh->starts);
	cache_clear(gh);
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
github_request(struct github *gh, const struct gh_for *who, const char *method, const char *path,
    const char *body, gh_done_fn *done, gh_drop_fn *drop, void *arg)
{
	struct gh_transfer *t = xcalloc(1, sizeof(*t));

	t->method = xstrdup(method);
	t->url = strncmp(path, "http", 4) == 0 ? xstrdup(path) : xasprintf("%s%s", gh->api, path);
	t->repo = who && who->repo ? xstrdup(who->repo) : NULL;
	t->issue = who && who->issue ? xstrdup(who->issue) : NULL;
	t->request_body = body ? xstrdup(body) : NULL;
	t->api = gh->api;
	t->done = done;
	t->drop = drop;
	t->arg = arg;
	queue_push(gh, t, false);
	gh->pending++;
	pump(gh);
}

/* Hand a queued request to curl, with the token and the ETag of this moment. */
static void
transfer_start(struct github *gh, struct gh_transfer *t)
{
	const struct gh_cached *c = strcmp(t->method, "GET") == 0 ? cache_find(gh, t->url) : NULL;

	curl_slist_free_all(t->headers);
	t->headers = NULL;
	strbuf_free(&t->body);
	free(t->etag);
	free(t->next);
	t->etag = t->next = NULL;
	t->error[0] = '\0';
	t->retry_after = t->rate_remaining = t->poll_interval = t->rate_reset = -1;
	t->easy = curl_easy_init();
	t->token_generation = gh->token.generation;
	t->headers = curl_slist_append(t->headers, "Accept: application/vnd.github+json");
	t->headers = curl_slist_append(t->headers, GH_API_VERSION);
	if (gh->auth)
		t->headers = curl_slist_append(t->headers, gh->auth);
	if (c && c->etag) {
		char *h = xasprintf("If-None-Match: %s", c->etag);
		t->headers = curl_slist_append(t->headers, h);
		free(h);
	}
	if (t->request_body) {
		t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
		curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->request_body);
	}
	curl_easy_setopt(t->easy, CURLOPT_URL, t->url);
	curl_easy_setopt(t->easy, CURLOPT_CUSTOMREQUEST, t->method);
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
}

/* When the queue's head may go (monotonic ms): the rate limit's end, the budget's room. */
static int64_t
queue_free_at(const struct github *gh)
{
	int64_t budget = budget_free_at(gh);

	if (gh->queue == NULL || (gh->token.running && gh->token.urgent))
		return INT64_MAX;
	return gh->held_until > budget ? gh->held_until : budget;
}

/* Start what the limiter lets go, in order. */
static void
pump(struct github *gh)
{
	int64_t now = mono_ms();

	while (gh->queue && queue_free_at(gh) <= now) {
		budget_take(gh, now);
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
	return gh->held_until > mono_ms() ? gh->held_until : 0;
}

int
github_requests_per_minute(const struct github *gh)
{
	return gh->rpm;
}

size_t
github_nfds(const struct github *gh)
{
	return gh->nsockets + (gh->token.running ? 2 : 0);
}

size_t
github_pollfds(const struct github *gh, struct pollfd *fds)
{
	size_t n = 0;

	for (size_t k = 0; k < gh->nsockets; k++)
		fds[n++] = (struct pollfd){ .fd = gh->sockets[k].fd, .events = gh->sockets[k].events };
	if (gh->token.running)
		n += command_pollfds(gh->token.running, fds + n);
	return n;
}

int64_t
github_next_deadline(const struct github *gh)
{
	int64_t next = gh->deadline, q = queue_free_at(gh);

	if (q < next)
		next = q;
	if (gh->token.running && command_next_deadline(gh->token.running) < next)
		next = command_next_deadline(gh->token.running);
	if (gh->token.running == NULL && gh->token.refresh_at < next)
		next = gh->token.refresh_at;
	return next;
}

/*
 * GitHub's rate limit, primary (none left until the reset) or secondary (a
 * 403 or 429 with Retry-After): until when it holds, wall-clock ms, or -1.
 * A 403 without either is a refusal, never a limit.
 */
static int64_t
limit_until(const struct gh_transfer *t, long status)
{
	if ((status == 403 || status == 429) && t->retry_after >= 0)
		return now_ms() + (int64_t)t->retry_after * 1000;
	if (t->rate_remaining == 0 && t->rate_reset > 0)
		return t->rate_reset * 1000;
	return -1;
}

/* Every request waits until the wall-clock time until; the event names whom it stopped. */
static void
hold(struct github *gh, const struct gh_transfer *t, int64_t until)
{
	int64_t mono_until, now = now_ms();
	char ts[32];

	/* A reset already past (clocks differ) or a Retry-After of 0: a second at
	 * least, never a loop of requests GitHub refuses. */
	if (until < now + GH_HOLD_MIN_MS)
		until = now + GH_HOLD_MIN_MS;
	mono_until = mono_ms() + (until - now);

	if (mono_until <= gh->held_until)
		return;		/* already held that long: said once */
	gh->held_until = mono_until;
	format_timestamp(until, ts, sizeof(ts));
	log_warnx("github: rate limit, answering a request for %s: no request before %s",
	    t->issue ? t->issue : t->repo ? t->repo : "waved", ts);
	if (gh->events) {
		cJSON *f = cJSON_CreateObject();

		if (t->repo)
			cJSON_AddStringToObject(f, "repo", t->repo);
		cJSON_AddStringToObject(f, "until", ts);
		events_emit(gh->events, "rate_limited", &(struct log_ctx){ .issue = t->issue }, f);
	}
}

/* A finished transfer back in the queue, to be sent again. */
static void
transfer_again(struct github *gh, struct gh_transfer *t, bool front)
{
	curl_easy_cleanup(t->easy);
	t->easy = NULL;
	queue_push(gh, t, front);
}

/*
 * One finished transfer: a rate limit or a stale token sends it again (the
 * caller never hears of either); anything else goes to its callback, a 304
 * with the body it stands for.
 */
static void
transfer_finished(struct github *gh, struct gh_transfer *t, CURLcode result)
{
	struct gh_response res = { 0 };
	int64_t until;

	if (result == CURLE_OK)
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &res.status);
	else
		res.error = t->error[0] ? t->error : curl_easy_strerror(result);
	curl_multi_remove_handle(gh->multi, t->easy);
	transfer_unlink(gh, t);
	if (res.status && (until = limit_until(t, res.status)) > 0) {
		hold(gh, t, until);
		if (res.status == 403 || res.status == 429) {
			transfer_again(gh, t, true);
			return;
		}
	}
	if (res.status == 401 && !t->refreshed) {
		/* Refreshed since it left: the new token may do. */
		if (t->token_generation != gh->token.generation || token_refresh(gh, true)) {
			t->refreshed = true;
			transfer_again(gh, t, true);
			return;
		}
	}
	if (res.status == 200 && strcmp(t->method, "GET") == 0)
		cache_put(gh, t);
	else if (res.status == 304) {
		const struct gh_cached *c = cache_find(gh, t->url);

		/* The client's copy: the cache may change before the callback is done. */
		strbuf_free(&t->body);
		strbuf_add(&t->body, c && c->body ? c->body : "");
		free(t->next);
		t->next = c && c->next ? xstrdup(c->next) : NULL;
	}
	res.body = t->body.s ? t->body.s : "";
	res.etag = t->etag;
	res.next = t->next;
	res.retry_after = t->retry_after;
	res.rate_remaining = t->rate_remaining;
	res.rate_reset = t->rate_reset;
	res.poll_interval = t->poll_interval;
	curl_easy_cleanup(t->easy);
	gh->pending--;
	t->done(&res, t->arg);
	transfer_free(t);
}

/* Hand every finished transfer on. */
static void
finish_transfers(struct github *gh)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(gh->multi, &left)) != NULL) {
		struct gh_transfer *t = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		transfer_finished(gh, t, msg->data.result);
	}
}

void
github_dispatch(struct github *gh, const struct pollfd *fds, size_t n)
{
	int running;
	int64_t now = mono_ms();

	for (size_t k = 0; k < n; k++) {
		int ev = (fds[k].revents & POLLIN ? CURL_CSELECT_IN : 0) |
		    (fds[k].revents & POLLOUT ? CURL_CSELECT_OUT : 0) |
		    (fds[k].revents & (POLLERR | POLLHUP) ? CURL_CSELECT_ERR : 0);
		bool curls = false;

		for (size_t s = 0; s < gh->nsockets && !curls; s++)
			curls = gh->sockets[s].fd == fds[k].fd;
		if (ev && curls)
			curl_multi_socket_action(gh->multi, fds[k].fd, ev, &running);
	}
	if (now >= gh->deadline) {
		gh->deadline = INT64_MAX;
		curl_multi_socket_action(gh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	finish_transfers(gh);
	if (gh->token.running) {
		command_dispatch(gh->token.running, fds, n);
		command_tick(gh->token.running, now);
		if (command_done(gh->token.running))
			token_command_finished(gh);
	} else if (gh->token.command && now >= gh->token.refresh_at)
		token_refresh(gh, false);	/* token_ttl: the token in use goes on meanwhile */
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
		if (gh->token.running) {
			command_wait(gh->token.running);
			token_command_finished(gh);
		}
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
