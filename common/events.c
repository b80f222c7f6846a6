#include "common/events.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

struct events {
	char *path;
	int fd;
	int64_t size;
	int64_t rotate_bytes;
	int64_t last_ts;	/* never go backwards: file order is event order */
	int64_t seq;		/* of the last line written */
};

static int
events_reopen(struct events *ev)
{
	struct stat st;

	if (ev->fd != -1)
		close(ev->fd);
	ev->fd = open(ev->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (ev->fd == -1)
		return -1;
	ev->size = fstat(ev->fd, &st) == 0 ? st.st_size : 0;
	return 0;
}

struct events *
events_open(const char *state_dir)
{
	struct events *ev = xcalloc(1, sizeof(*ev));

	ev->path = xasprintf("%s/%s", state_dir, EVENTS_FILE);
	ev->fd = -1;
	ev->rotate_bytes = EVENTS_ROTATE_BYTES;
	if (events_reopen(ev) == -1) {
		int saved = errno;
		events_close(ev);
		errno = saved;
		return NULL;
	}
	return ev;
}

void
events_close(struct events *ev)
{
	if (ev == NULL)
		return;
	if (ev->fd != -1)
		close(ev->fd);
	free(ev->path);
	free(ev);
}

void
events_set_rotate_bytes(struct events *ev, int64_t bytes)
{
	ev->rotate_bytes = bytes;
}

/* Rename to .1 (replacing an older one) and start a new file. */
static void
events_rotate(struct events *ev)
{
	char *old = xasprintf("%s.1", ev->path);

	if (rename(ev->path, old) == -1)
		log_warn("rotate %s", ev->path);
	free(old);
	if (events_reopen(ev) == -1)
		log_warn("reopen %s", ev->path);
}

static cJSON *
events_line(struct events *ev, const char *name, const struct log_ctx *ctx)
{
	cJSON *o = cJSON_CreateObject();
	char ts[32];
	int64_t t = now_ms();

	if (t < ev->last_ts)
		t = ev->last_ts;
	ev->last_ts = t;
	format_timestamp(t, ts, sizeof(ts));
	cJSON_AddStringToObject(o, "ts", ts);
	cJSON_AddNumberToObject(o, "seq", (double)++ev->seq);
	cJSON_AddStringToObject(o, "event", name);
	if (ctx && ctx->issue)
		cJSON_AddStringToObject(o, "issue", ctx->issue);
	if (ctx && ctx->attempt > 0)
		cJSON_AddNumberToObject(o, "attempt", ctx->attempt);
	if (ctx && ctx->trace)
		cJSON_AddStringToObject(o, "trace", ctx->trace);
	return o;
}

char *
events_render(struct events *ev, const char *name, const struct log_ctx *ctx, cJSON *fields)
{
	cJSON *o = events_line(ev, name, ctx);
	char *text;
	size_t len;

	if (fields) {
		while (fields->child) {
			cJSON *item = fields->child;
			char *key = xstrdup(item->string);

			cJSON_DetachItemViaPointer(fields, item);
			cJSON_AddItemToObject(o, key, item);
			free(key);
		}
		cJSON_Delete(fields);
	}
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text == NULL)
		fatalx("events: out of memory");
	len = strlen(text);
	text = xreallocarray(text, len + 2, 1);
	text[len] = '\n';
	text[len + 1] = '\0';
	return text;
}

/* Write all of it, or cut the file back to from and fail: never half a line. */
static int
append_all(struct events *ev, const char *text, size_t len, off_t from)
{
	while (len > 0) {
		ssize_t n = write(ev->fd, text, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			int saved = n == 0 ? ENOSPC : errno;

			if (ftruncate(ev->fd, from) == -1)
				log_warn("events: cutting %s back after a failed append", ev->path);
			errno = saved;
			return -1;
		}
		text += n;
		len -= (size_t)n;
		ev->size += n;
	}
	return 0;
}

int
events_append(struct events *ev, char *const *lines, size_t n)
{
	off_t from = ev->size;

	if (ev->fd == -1 && events_reopen(ev) == -1)
		return -1;
	for (size_t k = 0; k < n; k++)
		if (append_all(ev, lines[k], strlen(lines[k]), from) == -1) {
			ev->size = from;
			return -1;
		}
	return 0;
}

int64_t
events_size(const struct events *ev)
{
	return ev->size;
}

void
events_cut(struct events *ev, int64_t size)
{
	if (ev->fd != -1 && ftruncate(ev->fd, size) == -1)
		log_warn("events: cutting %s back", ev->path);
	ev->size = size;
}

void
events_rotate_if_due(struct events *ev)
{
	if (ev->size >= ev->rotate_bytes)
		events_rotate(ev);
}

int
events_emit(struct events *ev, const char *name, const struct log_ctx *ctx,
    cJSON *fields)
{
	char *line = events_render(ev, name, ctx, fields);
	int rc = events_append(ev, &line, 1);

	if (rc == -1) {
		log_warn("events: append to %s", ev->path);
		ev->seq--;	/* the line is not there: its seq is free again */
	}
	free(line);
	events_rotate_if_due(ev);
	return rc;
}

int64_t
events_seq(const struct events *ev)
{
	return ev->seq;
}

void
events_set_seq(struct events *ev, int64_t seq)
{
	ev->seq = seq;
}

/* The seq of one line, or -1 when it has none (a line from before seqs). */
static int64_t
line_seq(const char *line)
{
	const char *p = strstr(line, "\"seq\":");

	return p ? strtoll(p + 6, NULL, 10) : -1;
}

int
events_truncate_uncommitted(const char *state_dir, int64_t committed)
{
	char *path = xasprintf("%s/%s", state_dir, EVENTS_FILE);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	off_t size, from, keep;
	char *tail;
	ssize_t n;
	int rc = 0;

	free(path);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	/* Uncommitted lines are the last few: the last megabyte holds them. */
	size = lseek(fd, 0, SEEK_END);
	from = size > 1048576 ? size - 1048576 : 0;
	tail = xmalloc((size_t)(size - from) + 1);
	n = pread(fd, tail, (size_t)(size - from), from);
	tail[n > 0 ? n : 0] = '\0';
	keep = size;
	/* Walk back line by line while the lines are past the committed seq. */
	for (char *end = tail + (n > 0 ? n : 0); end > tail; ) {
		char *start = end - 1;

		while (start > tail && start[-1] != '\n')
			start--;
		char saved = *end;
		*end = '\0';
		int64_t seq = line_seq(start);
		*end = saved;
		if (seq <= committed)
			break;
		keep = from + (start - tail);
		end = start;
	}
	if (keep < size && ftruncate(fd, keep) == -1)
		rc = -1;
	free(tail);
	close(fd);
	return rc;
}
