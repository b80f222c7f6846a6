#include "supervisor/attempts.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/paths.h"

void
attempt_next(struct attempt *a, int counted)
{
	if (a->resume != RESUME_NONE)
		return;
	a->number = counted + 1;
	trace_id_new(a->trace);
	free(a->base);
	a->base = NULL;
	a->ms = 0;
}

void
attempt_begin(struct store *st, int64_t issue_id, struct attempt *a, pid_t pid)
{
	a->id = store_attempt_begin(st, issue_id, a->number, a->trace, pid);
}

void
attempt_end(struct store *st, const struct attempt *a, const char *outcome, const char *reason)
{
	store_attempt_end(st, a->id, outcome, reason);
}

void
attempt_prepared(struct store *st, struct attempt *a, const char *base)
{
	free(a->base);
	a->base = base && *base ? xstrdup(base) : NULL;
	a->resume = RESUME_NONE;	/* taken up: a later crash decides anew */
	store_attempt_set_base(st, a->id, base);
}

void
attempt_phase_end(struct store *st, int64_t issue_id, struct attempt *a,
    const struct proto_msg *m)
{
	store_marker_add(st, a->id, m->phase, m->exit, m->sha, m->ms);
	store_add_agent_time(st, issue_id, a->id, m->ms);
	store_note_rss(st, issue_id, m->maxrss_kb);
	a->ms += m->ms;
}

int64_t
attempt_waste(struct store *st, int64_t issue_id, struct attempt *a)
{
	int64_t ms = a->ms;

	if (ms > 0)
		store_add_wasted_time(st, issue_id, ms);
	if (a->id > 0)
		store_waste_cost(st, issue_id, a->id);
	a->ms = 0;
	return ms;
}

void
attempt_note_duration(struct store *st, const char *repo, const char *pool,
    const struct attempt *a)
{
	if (a->ms <= 0)
		return;
	store_duration_note(st, "repo", repo, a->ms);
	if (pool)
		store_duration_note(st, "pool", pool, a->ms);
}

bool
attempt_last_marker(struct store *st, const struct attempt *a, struct store_marker *m)
{
	return a->id > 0 && store_last_marker(st, a->id, m);
}

int64_t
attempt_backoff(const struct config *cfg, int counted)
{
	int64_t delay = (int64_t)cfg->retry_backoff * 1000;

	for (int k = 1; k < counted && delay < 86400000; k++)
		delay *= 2;
	return delay;
}

#define TEMPFAIL_BACKOFF_MAX_MS (15 * 60 * 1000)

/* tempfail_backoff * 2^(k-1), at most 15 minutes. */
static int64_t
doubling(const struct config *cfg, int k)
{
	int64_t delay = (int64_t)cfg->tempfail_backoff * 1000;

	for (int n = 1; n < k && delay < TEMPFAIL_BACKOFF_MAX_MS; n++)
		delay *= 2;
	return delay < TEMPFAIL_BACKOFF_MAX_MS ? delay : TEMPFAIL_BACKOFF_MAX_MS;
}

int64_t
attempt_tempfail_backoff(const struct config *cfg, const char *repo, long number,
    const char *key, const struct attempt *a)
{
	char *dir = path_issue_dir(cfg, repo, number);
	char *path = xasprintf("%s/" RETRY_AFTER_FILE, dir), *text = read_file(path, NULL);
	int64_t asked = retry_after_parse(text, now_ms());

	unlink(path);	/* an answer to this exit of 75 only, never to a later one */
	if (text && asked < 0)
		log_issue_warnx(&(struct log_ctx){ key, a->number, a->trace },
		    "%s: neither seconds nor an ISO 8601 time; backing off instead", path);
	free(text);
	free(path);
	free(dir);
	return asked >= 0 ? asked : doubling(cfg, a->tempfails);
}

int64_t
attempt_wait_backoff(const struct config *cfg, const struct attempt *a)
{
	return doubling(cfg, a->waits);
}
