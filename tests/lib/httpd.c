#include "tests/lib/httpd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "tests/lib/fakepulls.h"

#define MAX_ROUTES 128

struct route {
	char method[8];
	char path[512];
	char *responses[16];
	int n, next;
};

struct stored {
	char path[512];
	struct strbuf items;	/* JSON objects, comma separated */
	int count;
};

static struct route routes[MAX_ROUTES];
static int nroutes;
static struct stored stores[MAX_ROUTES];
static int nstores;
static const char *fixture_dir;

static void
load_routes(const char *dir)
{
	char *path = xasprintf("%s/routes", dir), *text = read_file(path, NULL), *line, *save;

	cr_assert_not_null(text, "no %s", path);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char list[1024], *item, *s2;
		struct route *r = &routes[nroutes];

		if (line[0] == '#' || sscanf(line, "%7s %511s %1023s", r->method, r->path, list) != 3)
			continue;
		for (item = strtok_r(list, ",", &s2); item && r->n < 16; item = strtok_r(NULL, ",", &s2))
			r->responses[r->n++] = item[0] == '@' ? xstrdup(item) : xasprintf("%s/%s", dir, item);
		nroutes++;
	}
	free(text);
	free(path);
}

static struct stored *
store_for(const char *path)
{
	char base[512];

	snprintf(base, sizeof(base), "%.*s", (int)strcspn(path, "?"), path);
	for (int k = 0; k < nstores; k++)
		if (strcmp(stores[k].path, base) == 0)
			return &stores[k];
	strlcpy(stores[nstores].path, base, sizeof(stores[nstores].path));
	return &stores[nstores++];
}

static void
send_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/*
 * The text of a recorded response with its placeholders filled in:
 * {{PORT}} the server's port, {{NOW+N}} the epoch second N seconds from now
 * (a rate limit's reset: a recorded absolute time would pass one day).
 */
static void
expand_placeholders(const char *raw, int port, struct strbuf *text)
{
	const char *q = raw, *m;

	while ((m = strstr(q, "{{")) != NULL) {
		long ahead;
		int used = 0;

		strbuf_addf(text, "%.*s", (int)(m - q), q);
		if (strncmp(m, "{{PORT}}", 8) == 0) {
			strbuf_addf(text, "%d", port);
			q = m + 8;
		} else if (sscanf(m, "{{NOW+%ld}}%n", &ahead, &used) == 1 && used > 0) {
			strbuf_addf(text, "%lld", (long long)time(NULL) + ahead);
			q = m + used;
		} else {
			strbuf_add(text, "{{");
			q = m + 2;
		}
	}
	strbuf_add(text, q);
}

/* Head lines end in CRLF; the body gets a Content-Length. */
void
httpd_send_raw(int fd, const char *raw, int port)
{
	struct strbuf out = { 0 }, text = { 0 };
	const char *p, *sep;

	expand_placeholders(raw, port, &text);
	p = text.s;
	if (strncmp(p, "#delay ", 7) == 0) {
		int ms = atoi(p + 7);
		nanosleep(&(struct timespec){ ms / 1000, (long)(ms % 1000) * 1000000L }, NULL);
		p = strchr(p, '\n') + 1;
	}
	sep = strstr(p, "\n\n");
	const char *body = sep ? sep + 2 : "";
	for (const char *line = p; line && line < (sep ? sep : p + strlen(p)); ) {
		const char *nl = strchr(line, '\n');
		char *l = strndup(line, (size_t)(nl ? nl - line : (long)strlen(line)));
		strbuf_addf(&out, "%s\r\n", l);
		free(l);
		line = nl ? nl + 1 : NULL;
	}
	strbuf_addf(&out, "Content-Length: %zu\r\nConnection: close\r\n\r\n", strlen(body));
	send_all(fd, out.s, out.len);
	send_all(fd, body, strlen(body));
	strbuf_free(&out);
	strbuf_free(&text);
}

static void
serve_store(int fd, const char *method, const char *path, const char *body, int delay_ms)
{
	struct stored *st = store_for(path);
	char *resp;

	if (strcmp(method, "POST") == 0) {
		if (delay_ms > 0) {
			char *item = xasprintf("{\"id\":%d,%s", st->count + 1, body + 1);
			strbuf_addf(&st->items, "%s%s", st->items.len ? "," : "", item);
			st->count++;
			free(item);
			nanosleep(&(struct timespec){ delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L }, NULL);
			httpd_send_raw(fd, "HTTP/1.1 201 Created\nContent-Type: application/json\n\n{}", 0);
			return;
		}
		++st->count;
		char *item = xasprintf("{\"id\":%d,\"number\":%d,%s", st->count, st->count, body + 1);
		strbuf_addf(&st->items, "%s%s", st->items.len ? "," : "", item);
		resp = xasprintf("HTTP/1.1 201 Created\nContent-Type: application/json\n\n%s", item);
		free(item);
	} else
		resp = xasprintf("HTTP/1.1 200 OK\nContent-Type: application/json\n\n[%s]",
		    st->items.s ? st->items.s : "");
	httpd_send_raw(fd, resp, 0);
	free(resp);
}

static char *
header_value(const char *head, const char *name)
{
	size_t n = strlen(name);

	for (const char *l = head; l && *l; l = strstr(l, "\r\n") ? strstr(l, "\r\n") + 2 : NULL)
		if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
			const char *v = l + n + 1 + strspn(l + n + 1, " ");
			return strndup(v, strcspn(v, "\r\n"));
		}
	return NULL;
}

static void
serve(int fd, int port, FILE *log)
{
	char buf[65536], method[8] = "", path[512] = "";
	size_t len = 0;
	char *end;
	ssize_t n;

	while ((end = strstr(buf, "\r\n\r\n")) == NULL || len == 0) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return;
		len += (size_t)n;
		buf[len] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) != NULL)
			break;
	}
	char *cl = header_value(buf, "Content-Length");
	size_t want = (size_t)(end + 4 - buf) + (cl ? (size_t)atol(cl) : 0);
	free(cl);
	while (len < want && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	sscanf(buf, "%7s %511s", method, path);
	char *inm = header_value(buf, "If-None-Match"), *auth = header_value(buf, "Authorization");
	/* The token last, after the body: tests tell a refreshed token from the one before. */
	bool bearer = auth && strncmp(auth, "Bearer ", 7) == 0;
	fprintf(log, "%s %s if-none-match=%s auth=%s body=%.400s bearer=%.80s\n", method, path,
	    inm ? inm : "-", bearer ? "yes" : "no", end + 4, bearer ? auth + 7 : "-");
	fflush(log);
	free(auth);
	for (int k = 0; k < nroutes; k++) {
		struct route *r = &routes[k];

		if (strcmp(r->method, method) != 0 || strcmp(r->path, path) != 0)
			continue;
		free(inm);
		const char *resp = r->responses[r->next < r->n ? r->next : r->n - 1];
		r->next++;
		if (resp[0] == '@') {
			/* "@store:MS": a POST is kept at once but answered MS later. */
			const char *colon = strchr(resp, ':');
			serve_store(fd, method, path, end + 4, colon ? atoi(colon + 1) : 0);
			return;
		}
		char *raw = read_file(resp, NULL);
		/* A slow answer is sent from a child: the server goes on serving others. */
		if (raw && strncmp(raw, "#delay ", 7) == 0 && fork() != 0) {
			free(raw);
			return;
		}
		httpd_send_raw(fd, raw ? raw : "HTTP/1.1 500 Missing fixture\n\n{}", port);
		if (raw && strncmp(raw, "#delay ", 7) == 0)
			_exit(0);
		free(raw);
		return;
	}
	/* No exact route: "ANY PREFIX @pulls", a fake repo's pull requests (fakepulls.h). */
	for (int k = 0; k < nroutes; k++) {
		struct route *r = &routes[k];

		if (strcmp(r->method, "ANY") == 0 && strcmp(r->responses[0], "@pulls") == 0 &&
		    strncmp(r->path, path, strlen(r->path) - 1) == 0) {
			fakepulls_serve(fd, fixture_dir, port, method, path, end + 4, inm);
			free(inm);
			return;
		}
	}
	free(inm);
	httpd_send_raw(fd, "HTTP/1.1 404 Not Found\nContent-Type: application/json\n\n"
	    "{\"message\":\"Not Found\"}", port);
}

struct httpd *
httpd_start(const char *fixtures, const char *log)
{
	struct httpd *h = xcalloc(1, sizeof(*h));
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t slen = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(fd, 64), 0);
	getsockname(fd, (struct sockaddr *)&sin, &slen);
	h->port = ntohs(sin.sin_port);
	h->log = xstrdup(log);
	h->pid = fork();
	cr_assert(h->pid != -1);
	if (h->pid == 0) {
		FILE *lf = fopen(log, "a");

		fixture_dir = fixtures;
		load_routes(fixtures);
		signal(SIGPIPE, SIG_IGN);
		signal(SIGCHLD, SIG_IGN);	/* slow answers' children reap themselves */
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c == -1)
				continue;
			serve(c, h->port, lf);
			close(c);
		}
	}
	close(fd);
	return h;
}

void
httpd_stop(struct httpd *h)
{
	if (h == NULL)
		return;
	kill(h->pid, SIGKILL);
	waitpid(h->pid, NULL, 0);
	free(h->log);
	free(h);
}

int
httpd_count(const struct httpd *h, const char *text)
{
	char *log = read_file(h->log, NULL);
	int n = 0;

	for (const char *p = log; p && (p = strstr(p, text)) != NULL; p++)
		n++;
	free(log);
	return n;
}

int
httpd_index(const struct httpd *h, const char *text, int nth)
{
	char *log = read_file(h->log, NULL), *line = log, *eol;
	int index = 0, found = -1;

	for (; line && *line && found < 0; line = eol + 1, index++) {
		if ((eol = strchr(line, '\n')) == NULL)
			break;
		*eol = '\0';
		if (strstr(line, text) && nth-- == 0)
			found = index;
	}
	free(log);
	return found;
}

char *
httpd_line(const struct httpd *h, int index)
{
	char *log = read_file(h->log, NULL), *line = log, *eol, *copy = NULL;

	for (; line && *line; line = eol + 1, index--) {
		if ((eol = strchr(line, '\n')) == NULL)
			break;
		if (index == 0) {
			copy = strndup(line, (size_t)(eol - line));
			break;
		}
	}
	free(log);
	return copy;
}
