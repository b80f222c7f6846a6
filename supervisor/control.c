#include "supervisor/control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define MAX_CLIENTS 64
#define MAX_PENDING_OUTPUT (64 * 1024)	/* a client that reads nothing is dropped */
#define IDLE_MS 30000			/* a client that says nothing for this long goes */
#define REFUSAL_LOG_MS 60000		/* refusals are logged at most this often */

struct client {
	int fd;
	char in[CONTROL_MAX_LINE];
	size_t inlen;
	struct strbuf out;
	size_t sent;
	bool closing;		/* drop once the output is written */
	uint64_t ticket;	/* of its request being answered later, or 0 */
	int64_t active;		/* when it last sent something (monotonic ms) */
};

const char control_later;

struct control {
	char *path;
	int fd;
	struct client clients[MAX_CLIENTS];
	size_t n;
	control_handler_fn *handler;
	void *ctx;
	uint64_t tickets;	/* the last one given */
	long refused;		/* connections refused since the last log line */
	int64_t refusal_logged;
};

struct control *
control_open(const char *state_dir, control_handler_fn *handler, void *ctx)
{
	struct control *c = xcalloc(1, sizeof(*c));
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	c->path = xasprintf("%s/%s", state_dir, CONTROL_SOCKET);
	c->handler = handler;
	c->ctx = ctx;
	if (strlen(c->path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	strlcpy(sun.sun_path, c->path, sizeof(sun.sun_path));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1)
		goto fail;
	/* We hold the pidfile: a socket left here is a dead daemon's. */
	unlink(c->path);
	mode_t old = umask(0177);
	int rc = bind(c->fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1 || chmod(c->path, 0600) == -1 || listen(c->fd, 16) == -1)
		goto fail;
	return c;
fail:
	{
		int saved = errno;
		control_close(c);
		errno = saved;
	}
	return NULL;
}

static void
client_drop(struct control *c, size_t k)
{
	close(c->clients[k].fd);
	strbuf_free(&c->clients[k].out);
	c->clients[k] = c->clients[--c->n];
}

void
control_close(struct control *c)
{
	if (c == NULL)
		return;
	while (c->n > 0)
		client_drop(c, 0);
	if (c->fd > 0) {
		close(c->fd);
		unlink(c->path);
	}
	free(c->path);
	free(c);
}

static void
reply(struct client *cl, cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);

	strbuf_add(&cl->out, text);
	strbuf_add(&cl->out, "\n");
	free(text);
	cJSON_Delete(o);
	if (cl->out.len - cl->sent > MAX_PENDING_OUTPUT) {
		cl->closing = true;	/* it reads nothing: stop keeping its replies */
		cl->out.len = cl->sent;
	}
}

static void
reply_error(struct client *cl, const char *error)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddBoolToObject(o, "ok", false);
	cJSON_AddStringToObject(o, "error", error);
	reply(cl, o);
}

/* One request line: parse, check, hand to the supervisor, answer. */
static void
serve_line(struct control *c, struct client *cl, const char *line)
{
	cJSON *req = cJSON_Parse(line), *res;
	const char *cmd, *arg;
	char *error = NULL;

	if (!cJSON_IsObject(req)) {
		reply_error(cl, "expected a JSON object with \"cmd\"");
		cJSON_Delete(req);
		return;
	}
	cmd = cJSON_GetStringValue(cJSON_GetObjectItem(req, "cmd"));
	arg = cJSON_GetStringValue(cJSON_GetObjectItem(req, "arg"));
	if (cmd == NULL) {
		reply_error(cl, "\"cmd\": expected a string");
		cJSON_Delete(req);
		return;
	}
	res = c->handler(cmd, arg, &error, ++c->tickets, c->ctx);
	if (res == CONTROL_LATER)
		cl->ticket = c->tickets;
	else if (res == NULL) {
		reply_error(cl, error ? error : "failed");
		free(error);
	} else {
		cJSON_AddBoolToObject(res, "ok", true);
		reply(cl, res);
	}
	cJSON_Delete(req);
}

/* Serve the complete lines read, in order: none while one waits for its answer. */
static void
serve_lines(struct control *c, struct client *cl)
{
	char *nl;

	while (cl->ticket == 0 && (nl = memchr(cl->in, '\n', cl->inlen)) != NULL) {
		*nl = '\0';
		serve_line(c, cl, cl->in);
		cl->inlen -= (size_t)(nl + 1 - cl->in);
		memmove(cl->in, nl + 1, cl->inlen);
	}
}

void
control_answer(struct control *c, uint64_t ticket, cJSON *res, const char *error)
{
	for (size_t k = 0; k < c->n; k++) {
		struct client *cl = &c->clients[k];

		if (cl->ticket != ticket)
			continue;
		cl->ticket = 0;
		if (error)
			reply_error(cl, error);
		else {
			cJSON_AddBoolToObject(res, "ok", true);
			reply(cl, res);
			res = NULL;
		}
		serve_lines(c, cl);
		break;
	}
	cJSON_Delete(res);
}

static void
client_read(struct control *c, struct client *cl)
{
	ssize_t n = read(cl->fd, cl->in + cl->inlen, sizeof(cl->in) - cl->inlen);

	if (n == 0) {
		cl->closing = true;	/* done asking; the replies still go out */
		return;
	}
	if (n == -1 && errno != EAGAIN && errno != EINTR) {
		cl->closing = true;
		cl->out.len = cl->sent;	/* nobody to write to */
		return;
	}
	if (n < 0)
		return;
	cl->active = mono_ms();
	cl->inlen += (size_t)n;
	serve_lines(c, cl);
	if (cl->inlen == sizeof(cl->in)) {
		reply_error(cl, "request longer than 4096 bytes");
		cl->inlen = 0;
		cl->closing = true;
	}
}

static void
client_write(struct client *cl)
{
	ssize_t n = send(cl->fd, cl->out.s + cl->sent, cl->out.len - cl->sent, MSG_NOSIGNAL);

	if (n > 0)
		cl->sent += (size_t)n;
	else if (n == -1 && errno != EAGAIN && errno != EINTR) {
		cl->closing = true;
		cl->out.len = cl->sent;
	}
	if (cl->sent == cl->out.len) {
		strbuf_free(&cl->out);
		cl->sent = 0;
	}
}

/* Only root or the daemon's own user may steer it. */
static bool
peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	    (cred.uid == 0 || cred.uid == geteuid());
}

/* Idle: nothing asked and nothing owed.  Such clients make room for a new one. */
static bool
idle(const struct client *cl)
{
	return cl->ticket == 0 && cl->out.len <= cl->sent && cl->inlen == 0;
}

/* Full: the client idle the longest goes, so that a real request is served. */
static bool
evict_idlest(struct control *c)
{
	size_t victim = SIZE_MAX;

	for (size_t k = 0; k < c->n; k++)
		if (idle(&c->clients[k]) && (victim == SIZE_MAX ||
		    c->clients[k].active < c->clients[victim].active))
			victim = k;
	if (victim == SIZE_MAX)
		return false;
	client_drop(c, victim);
	return true;
}

/* Refused connections: one log line a minute at most, with how many. */
static void
refused(struct control *c)
{
	int64_t now = mono_ms();

	c->refused++;
	if (c->refusal_logged && now - c->refusal_logged < REFUSAL_LOG_MS)
		return;
	log_warnx("control: %ld connection%s refused: %d clients busy", c->refused,
	    c->refused == 1 ? "" : "s", MAX_CLIENTS);
	c->refused = 0;
	c->refusal_logged = now;
}

static void
accept_clients(struct control *c)
{
	int fd;

	while ((fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		struct client *cl;

		if (c->n == MAX_CLIENTS && !evict_idlest(c)) {
			close(fd);
			refused(c);
			continue;
		}
		cl = &c->clients[c->n++];
		memset(cl, 0, sizeof(*cl));
		cl->fd = fd;
		cl->active = mono_ms();
		if (!peer_allowed(fd)) {
			reply_error(cl, "permission denied: only root or the daemon's user");
			cl->closing = true;
		}
	}
}

size_t
control_nfds(const struct control *c)
{
	return 1 + c->n;
}

size_t
control_pollfds(const struct control *c, struct pollfd *fds)
{
	fds[0] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
	for (size_t k = 0; k < c->n; k++) {
		const struct client *cl = &c->clients[k];

		fds[k + 1] = (struct pollfd){ .fd = cl->fd,
		    .events = (cl->closing || cl->ticket ? 0 : POLLIN) |
		    (cl->out.len > cl->sent ? POLLOUT : 0) };
	}
	return 1 + c->n;
}

void
control_ready(struct control *c, const struct pollfd *pfd)
{
	if (pfd->fd == c->fd) {
		if (pfd->revents & POLLIN)
			accept_clients(c);
		return;
	}
	for (size_t j = 0; j < c->n; j++) {
		struct client *cl = &c->clients[j];

		if (cl->fd != pfd->fd)
			continue;
		if (pfd->revents & (POLLIN | POLLHUP | POLLERR))
			client_read(c, cl);
		if (cl->out.len > cl->sent)
			client_write(cl);
	}
}

void
control_sweep(struct control *c)
{
	/* Drop the clients that are done (replied and closing, or gone) or idle too long. */
	int64_t now = mono_ms();
	for (size_t j = c->n; j-- > 0;) {
		struct client *cl = &c->clients[j];

		if ((cl->closing && cl->out.len <= cl->sent && cl->ticket == 0) ||
		    (idle(cl) && now - cl->active >= IDLE_MS))
			client_drop(c, j);
	}
}
