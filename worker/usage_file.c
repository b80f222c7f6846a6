#include "worker/usage_file.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "common/log.h"
#include "common/util.h"

/* A line is a few hundred bytes; one past this is nobody's usage report. */
#define USAGE_LINE_MAX 65536

void
usage_file_init(struct usage_file *u, char *path, int log_fd)
{
	memset(u, 0, sizeof(*u));
	u->path = path;
	u->log_fd = log_fd;
}

void
usage_file_reset(struct usage_file *u)
{
	/* What an earlier phase (or attempt) wrote was counted with it. */
	if (unlink(u->path) == -1 && errno != ENOENT)
		log_warn("unlink %s", u->path);
	u->offset = 0;
	u->line = 0;
	u->skipping = false;
	memset(&u->fresh, 0, sizeof(u->fresh));
	memset(&u->phase, 0, sizeof(u->phase));
}

static void
bad_line(struct usage_file *u, const char *why)
{
	dprintf(u->log_fd, "\n== waved: %s:%ld: %s; line skipped\n", u->path, u->line, why);
	log_warnx("%s:%ld: %s; line skipped", u->path, u->line, why);
}

/* A whole number of tokens, or absent (0); false when it is there and is not one. */
static bool
tokens(const cJSON *o, const char *key, long *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	*out = 0;
	if (v == NULL || cJSON_IsNull(v))
		return true;
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 1e15 ||
	    v->valuedouble != floor(v->valuedouble))
		return false;
	*out = (long)v->valuedouble;
	return true;
}

static void
take_line(struct usage_file *u, const char *line)
{
	const cJSON *cost;
	cJSON *o;
	long in, out;

	u->line++;
	if (line[strspn(line, " \t\r")] == '\0')
		return;		/* a blank line says nothing, and nothing wrong */
	if ((o = cJSON_Parse(line)) == NULL || !cJSON_IsObject(o)) {
		bad_line(u, "not a JSON object");
		cJSON_Delete(o);
		return;
	}
	cost = cJSON_GetObjectItemCaseSensitive(o, "cost_usd");
	if (cost && !cJSON_IsNull(cost) && (!cJSON_IsNumber(cost) || !(cost->valuedouble >= 0) ||
	    cost->valuedouble > 1e9))
		bad_line(u, "cost_usd: expected a number of dollars >= 0");
	else if (!tokens(o, "tokens_in", &in) || !tokens(o, "tokens_out", &out))
		bad_line(u, "tokens_in, tokens_out: expected whole numbers >= 0");
	else {
		double c = cJSON_IsNumber(cost) ? cost->valuedouble : 0;

		u->fresh.cost_usd += c;
		u->fresh.tokens_in += in;
		u->fresh.tokens_out += out;
		u->phase.cost_usd += c;
		u->phase.tokens_in += in;
		u->phase.tokens_out += out;
	}
	cJSON_Delete(o);
}

bool
usage_file_read(struct usage_file *u, bool at_end)
{
	static char buf[USAGE_LINE_MAX + 1];
	int fd = open(u->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd == -1)
		return u->fresh.cost_usd > 0 || u->fresh.tokens_in > 0 || u->fresh.tokens_out > 0;
	while ((n = pread(fd, buf, USAGE_LINE_MAX, u->offset)) > 0) {
		char *p = buf, *nl;

		buf[n] = '\0';
		while ((nl = memchr(p, '\n', (size_t)(buf + n - p))) != NULL) {
			*nl = '\0';
			if (u->skipping)
				u->skipping = false;	/* the end of the long one */
			else
				take_line(u, p);
			p = nl + 1;
		}
		u->offset += p - buf;
		if (p == buf && n == USAGE_LINE_MAX) {
			/* No newline in a whole buffer: no line of ours; skip to its end. */
			if (!u->skipping) {
				u->line++;
				bad_line(u, "a line longer than 64 KiB");
				u->line--;	/* counted when its newline comes */
			}
			u->skipping = true;
			u->offset += n;
			continue;
		}
		if (n == USAGE_LINE_MAX)
			continue;	/* there may be more behind it */
		if (p - buf < n && at_end && !u->skipping) {
			take_line(u, p);	/* the phase is over: its last line will not end */
			u->offset += buf + n - p;
		}
		break;
	}
	close(fd);
	return u->fresh.cost_usd > 0 || u->fresh.tokens_in > 0 || u->fresh.tokens_out > 0;
}

struct usage_spent
usage_file_take(struct usage_file *u)
{
	struct usage_spent s = u->fresh;

	memset(&u->fresh, 0, sizeof(u->fresh));
	return s;
}
