#include "common/snapshot.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/events.h"
#include "common/util.h"

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

bool
snapshot_in_flight(const char *state)
{
	enum issue_state st;

	return state_from_name(state, &st) && state_in_flight(st);
}

static void
collect_row(const struct store_issue_row *row, void *arg)
{
	struct snapshot *st = arg;
	struct snapshot_issue *r;

	grow_array((void **)&st->issues, &st->cap, st->n + 1, sizeof(*st->issues));
	r = &st->issues[st->n++];
	memset(r, 0, sizeof(*r));
	issue_key(r->key, sizeof(r->key), row->repo, row->number);
	strlcpy(r->repo, row->repo, sizeof(r->repo));
	r->number = row->number;
	r->state = xstrdup(row->state);
	r->phase = xstrdup(row->phase ? row->phase : row->state);
	r->reason = dup_or_null(row->reason);
	r->trace = dup_or_null(row->trace);
	r->title = xstrdup(row->title);
	r->attempts = row->attempts;
	r->attempt = row->attempt;
	r->pid = row->pid;
	r->since = row->since;
	r->agent_ms = row->agent_ms;
	r->wasted_ms = row->wasted_ms;
	r->maxrss_kb = row->maxrss_kb;
	r->cost_usd = row->cost_usd;
	r->tokens_in = row->tokens_in;
	r->tokens_out = row->tokens_out;
	r->wasted_cost_usd = row->wasted_cost_usd;
	r->pr = row->pull.number;
	r->pr_url = dup_or_null(row->pull.url);
	r->pr_round = row->pull.round;
	r->pr_since = row->pull.since;
	enum issue_state state;

	if (state_from_name(row->state, &state))
		st->counts[state]++;
}

void
snapshot_free(struct snapshot *st)
{
	for (size_t k = 0; k < st->n; k++) {
		free(st->issues[k].state);
		free(st->issues[k].phase);
		free(st->issues[k].reason);
		free(st->issues[k].trace);
		free(st->issues[k].title);
		free(st->issues[k].pr_url);
	}
	free(st->issues);
	memset(st, 0, sizeof(*st));
}

/* What the daemon's GitHub client says of its polls, when it has one. */
static void
github_read(const struct config *cfg, struct snapshot *st)
{
	char *path = xasprintf("%s/github.json", cfg->state_dir), *text = read_file(path, NULL);
	cJSON *o = text ? cJSON_Parse(text) : NULL;
	const cJSON *interval = cJSON_GetObjectItem(o, "poll_interval");
	const cJSON *rpm = cJSON_GetObjectItem(o, "requests_per_minute");

	if (cJSON_IsNumber(interval) && cJSON_IsNumber(rpm)) {
		st->gh_poll_interval = interval->valueint;
		st->gh_requests_per_minute = rpm->valueint;
	}
	cJSON_Delete(o);
	free(text);
	free(path);
}

int
snapshot_read(const struct config *cfg, struct snapshot *st)
{
	char *path = xasprintf("%s/%s", cfg->state_dir, STORE_FILE), *err = NULL;
	struct store *store;
	struct stat sb;

	memset(st, 0, sizeof(*st));
	st->per_day_usd = cfg->budget.per_day;
	st->per_day_tokens = cfg->budget.per_day_tokens;
	if (stat(path, &sb) == -1) {
		free(path);
		return 0;	/* waved never ran here: that is a state too */
	}
	store = store_open(path, STORE_READONLY, &err);
	free(path);
	if (store == NULL) {
		fprintf(stderr, "wavectl: %s\n", err);
		free(err);
		return -1;
	}
	store_daemon_get(store, &st->daemon);
	st->running = st->daemon.running && st->daemon.pid > 0 &&
	    (kill((pid_t)st->daemon.pid, 0) == 0 || errno == EPERM);
	store_each_issue(store, collect_row, st);
	st->reports_pending = store_report_count(store);
	if (store_schema_version(store) >= 8)
		store_spent_since(store, now_ms() - 24LL * 3600 * 1000, &st->day_usd, &st->day_tokens);
	store_close(store);
	if (st->running)
		github_read(cfg, st);
	return 0;
}

struct event_tail {
	char *path;
	FILE *fp;
	ino_t ino;
	struct strbuf partial;	/* a line still being written */
};

static void
events_reopen(struct event_tail *ev, bool from_end)
{
	struct stat sb;

	if (ev->fp)
		fclose(ev->fp);
	ev->fp = fopen(ev->path, "re");
	strbuf_free(&ev->partial);
	if (ev->fp == NULL)
		return;
	if (fstat(fileno(ev->fp), &sb) == 0)
		ev->ino = sb.st_ino;
	if (from_end)
		fseek(ev->fp, 0, SEEK_END);
}

struct event_tail *
event_tail_open(const char *state_dir, bool from_end)
{
	struct event_tail *ev = xcalloc(1, sizeof(*ev));

	ev->path = xasprintf("%s/%s", state_dir, EVENTS_FILE);
	events_reopen(ev, from_end);
	return ev;
}

void
event_tail_close(struct event_tail *ev)
{
	if (ev == NULL)
		return;
	if (ev->fp)
		fclose(ev->fp);
	strbuf_free(&ev->partial);
	free(ev->path);
	free(ev);
}

/* At EOF: has the file been rotated (or created) since we opened it? */
static bool
events_rotated(struct event_tail *ev)
{
	struct stat sb;

	return stat(ev->path, &sb) == 0 && (ev->fp == NULL || sb.st_ino != ev->ino);
}

cJSON *
event_tail_next(struct event_tail *ev)
{
	char buf[8192];

	for (;;) {
		if (ev->fp && fgets(buf, sizeof(buf), ev->fp)) {
			strbuf_add(&ev->partial, buf);
			if (ev->partial.s[ev->partial.len - 1] != '\n')
				continue;
			cJSON *e = cJSON_Parse(ev->partial.s);
			strbuf_free(&ev->partial);
			if (e)
				return e;
			continue;
		}
		if (ev->fp)
			clearerr(ev->fp);
		/* Rotated: the old file is complete; read the new one from its start. */
		if (events_rotated(ev)) {
			events_reopen(ev, false);
			continue;
		}
		return NULL;
	}
}

int64_t
timestamp_parse(const char *ts)
{
	struct tm tm = { 0 };
	int ms = 0;

	if (ts == NULL || sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}
