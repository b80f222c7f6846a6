/*
 * The rows of the store (common/store.h): issues and their dependencies,
 * attempts and their state markers, pull requests, the daemon's own row.
 * Every write goes through store_exec_bound (store_exec_stmt), so that a
 * transaction that cannot commit is kept for its replay (store.c).
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/states.h"
#include "common/store_internal.h"

/* An attempt's (?3) difference from the duration's average, over their midpoint. */
#define REL_DIFF "(2.0 * (?3 - avg_ms) / MAX(?3 + avg_ms, 1))"

const char *const store_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_REPO_UPSERT] =
	    "INSERT INTO repos (name, path, agent_branch) VALUES (?1, ?2, ?3)"
	    " ON CONFLICT (name) DO UPDATE SET path = ?2, agent_branch = ?3",
	[ST_ISSUE_FIND] =
	    "SELECT i.id, i.state, i.title, i.body, i.created FROM issues i"
	    " JOIN repos r ON r.id = i.repo_id WHERE r.name = ?1 AND i.number = ?2",
	[ST_ISSUE_INSERT] =
	    "INSERT INTO issues (id, repo_id, number, title, body, created, first_seen, updated_at)"
	    " SELECT ?7, id, ?2, ?3, ?4, ?5, ?6, ?6 FROM repos WHERE name = ?1",
	[ST_ISSUE_UPDATE_TEXT] =
	    "UPDATE issues SET title = ?2, body = ?3, created = ?4, updated_at = ?5 WHERE id = ?1",
	[ST_DEPS_LIST] =
	    "SELECT dep_repo, dep_number FROM deps WHERE issue_id = ?1"
	    " ORDER BY dep_repo, dep_number",
	[ST_DEPS_DELETE] = "DELETE FROM deps WHERE issue_id = ?1",
	[ST_DEPS_INSERT] =
	    "INSERT OR IGNORE INTO deps (issue_id, dep_repo, dep_number) VALUES (?1, ?2, ?3)",
	[ST_ISSUE_STATE] =
	    "SELECT i.state FROM issues i JOIN repos r ON r.id = i.repo_id"
	    " WHERE r.name = ?1 AND i.number = ?2",
	[ST_COUNT_STATE] = "SELECT count(*) FROM issues WHERE state = ?1",
	[ST_EACH_ISSUE] =
	    "SELECT i.id, r.name, i.number, i.title, i.body, i.state, i.attempts, i.reason,"
	    " i.retry_at, i.created, i.phase, i.final_commit, a.number, a.trace, a.pid,"
	    " a.started_at, a.base_commit, a.id, i.reported, a.agent_ms, i.agent_ms, i.wasted_ms,"
	    " i.maxrss_kb, p.number, p.url, p.head, p.round, p.pushes, p.since, p.kind,"
	    " i.cost_usd, i.tokens_in, i.tokens_out, i.wasted_cost_usd, i.budget_usd, i.budget_tokens,"
	    " i.resume"
	    " FROM issues i JOIN repos r ON r.id = i.repo_id"
	    " LEFT JOIN pulls p ON p.issue_id = i.id"
	    " LEFT JOIN attempts a ON a.id = (SELECT id FROM attempts WHERE issue_id = i.id"
	    "   ORDER BY number DESC LIMIT 1)"
	    " ORDER BY r.name, i.number",
	[ST_ISSUE_SAVE] =
	    "UPDATE issues SET state = ?2, reason = ?3, attempts = ?4, retry_at = ?5,"
	    " final_commit = ?6, resume = ?8,"
	    " updated_at = CASE WHEN state IS ?2 THEN updated_at ELSE ?7 END,"
	    /* Not "?2 IN (three values)": SQLite builds a temporary b-tree for
	     * a list of more than two, a page cache allocated and freed at
	     * every transition (heap grown and trimmed each time). */
	    " phase = CASE WHEN ?2 = 'running' OR ?2 = 'review' OR ?2 = 'merging' THEN phase END"
	    " WHERE id = ?1",
	[ST_SET_PHASE] = "UPDATE issues SET phase = ?2, updated_at = ?3 WHERE id = ?1",
	[ST_ATTEMPT_BEGIN] =
	    "INSERT INTO attempts (id, issue_id, number, trace, pid, started_at)"
	    " VALUES (?6, ?1, ?2, ?3, ?4, ?5)"
	    " ON CONFLICT (issue_id, number) DO UPDATE SET trace = ?3, pid = ?4, started_at = ?5,"
	    " ended_at = NULL, outcome = NULL, reason = NULL, agent_ms = 0, cost_usd = 0,"
	    " tokens_in = 0, tokens_out = 0",
	[ST_ATTEMPT_ID] = "SELECT id FROM attempts WHERE issue_id = ?1 AND number = ?2",
	[ST_ATTEMPT_BASE] = "UPDATE attempts SET base_commit = ?2 WHERE id = ?1",
	[ST_ATTEMPT_END] =
	    "UPDATE attempts SET outcome = ?2, reason = ?3, ended_at = ?4 WHERE id = ?1",
	[ST_MARKER_ADD] =
	    "INSERT INTO markers (attempt_id, phase, result, head, ms, recorded_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_DAEMON_SET] =
	    "UPDATE daemon SET pid = ?1, running = ?2, cap = ?3, effective_cap = ?4, paused = ?5,"
	    " started_at = CASE WHEN ?2 AND NOT running THEN ?6 ELSE started_at END,"
	    " updated_at = ?6, limits = ?7 WHERE id = 1",
	[ST_DAEMON_GET] =
	    "SELECT pid, running, cap, effective_cap, paused, started_at, limits FROM daemon"
	    " WHERE id = 1",
	[ST_LAST_MARKER] =
	    "SELECT phase, result, head FROM markers WHERE attempt_id = ?1 ORDER BY id DESC LIMIT 1",
	[ST_SET_REPORTED] =
	    "UPDATE issues SET reported = ?3 WHERE repo_id = (SELECT id FROM repos WHERE name = ?1)"
	    " AND number = ?2",
	[ST_SET_EVENT_SEQ] = "UPDATE daemon SET event_seq = ?1 WHERE id = 1",
	[ST_GET_EVENT_SEQ] = "SELECT event_seq FROM daemon WHERE id = 1",
	[ST_ADD_AGENT_MS] = "UPDATE issues SET agent_ms = agent_ms + ?2 WHERE id = ?1",
	[ST_ADD_ATTEMPT_MS] = "UPDATE attempts SET agent_ms = agent_ms + ?2 WHERE id = ?1",
	[ST_ADD_WASTED_MS] = "UPDATE issues SET wasted_ms = wasted_ms + ?2 WHERE id = ?1",
	[ST_NOTE_RSS] = "UPDATE issues SET maxrss_kb = max(maxrss_kb, ?2) WHERE id = ?1",
	[ST_NEXT_ISSUE_ID] = "SELECT coalesce(max(id), 0) + 1 FROM issues",
	[ST_NEXT_ATTEMPT_ID] = "SELECT coalesce(max(id), 0) + 1 FROM attempts",
	[ST_SET_PULL] =
	    "INSERT OR REPLACE INTO pulls (issue_id, number, url, head, round, pushes, since, kind)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_CLEAR_PULL] = "DELETE FROM pulls WHERE issue_id = ?1",
	[ST_REPORT_ADD] = "INSERT INTO reports (seq, line, added_at) VALUES (?1, ?2, ?3)",
	[ST_REPORT_FIRST] = "SELECT seq, line FROM reports ORDER BY seq LIMIT 1",
	[ST_REPORT_DONE] = "DELETE FROM reports WHERE seq = ?1",
	[ST_REPORT_COUNT] = "SELECT count(*) FROM reports",
	[ST_SPEND_ATTEMPT] =
	    "UPDATE attempts SET cost_usd = cost_usd + ?2, tokens_in = tokens_in + ?3,"
	    " tokens_out = tokens_out + ?4 WHERE id = ?1",
	[ST_SPEND_ISSUE] =
	    "UPDATE issues SET cost_usd = cost_usd + ?2, tokens_in = tokens_in + ?3,"
	    " tokens_out = tokens_out + ?4, budget_usd = budget_usd + ?2,"
	    " budget_tokens = budget_tokens + ?3 + ?4 WHERE id = ?1",
	[ST_SPEND_ADD] = "INSERT INTO spend (at, issue_id, cost_usd, tokens) VALUES (?1, ?2, ?3, ?4)",
	[ST_SPEND_SINCE] =
	    "SELECT coalesce(sum(cost_usd), 0), coalesce(sum(tokens), 0) FROM spend WHERE at > ?1",
	[ST_SPEND_ROWS] = "SELECT at, cost_usd, tokens FROM spend WHERE at > ?1 ORDER BY at",
	[ST_SPEND_PRUNE] = "DELETE FROM spend WHERE at <= ?1",
	[ST_WASTE_COST] =
	    "UPDATE issues SET wasted_cost_usd = wasted_cost_usd +"
	    " (SELECT cost_usd FROM attempts WHERE id = ?2) WHERE id = ?1",
	[ST_BUDGET_RESET] = "UPDATE issues SET budget_usd = 0, budget_tokens = 0 WHERE id = ?1",
	[ST_DURATION_NOTE] =
	    "INSERT INTO durations (scope, name, avg_ms, attempts) VALUES (?1, ?2, ?3, 1)"
	    " ON CONFLICT (scope, name) DO UPDATE SET avg_ms = (avg_ms * 3 + ?3) / 4,"
	    /* The spread, relative: each attempt's difference from the average
	     * before it over their midpoint (about the difference of their
	     * logarithms, and bounded for a wild one); the second attempt's
	     * variance is exact, later ones move it a quarter.  The right side
	     * reads the row as it was. */
	    " var_rel = CASE attempts WHEN 1 THEN " REL_DIFF " * " REL_DIFF " / 2"
	    " ELSE (var_rel * 3 + " REL_DIFF " * " REL_DIFF ") / 4 END,"
	    " attempts = attempts + 1",
	[ST_EACH_DURATION] =
	    "SELECT scope, name, avg_ms, var_rel, attempts FROM durations ORDER BY scope, name",
};

/* Inside the caller's transaction when one is open (a reload), else in one of its own. */
int
store_sync_repos(struct store *st, const struct config *cfg)
{
	bool own = !st->in_txn;

	if (own && store_begin(st) == -1)
		return -1;
	for (size_t i = 0; i < cfg->nrepos; i++) {
		if (store_exec_bound(st, ST_REPO_UPSERT, BIND_TEXT(cfg->repos[i].name),
		    BIND_TEXT(cfg->repos[i].path), BIND_TEXT(cfg->agent_branch)) == -1) {
			if (own)
				store_rollback(st);
			return -1;
		}
	}
	return own ? store_commit(st) : 0;
}

/* True when the stored dependencies equal the spec's (as a set). */
static bool
deps_equal(struct store *st, sqlite3_int64 id, const struct issue_spec *spec)
{
	sqlite3_stmt *s = store_stmt(st, ST_DEPS_LIST);
	size_t matched = 0;
	bool equal = true;

	sqlite3_bind_int64(s, 1, id);
	while (equal && sqlite3_step(s) == SQLITE_ROW) {
		const char *repo = (const char *)sqlite3_column_text(s, 0);
		long number = (long)sqlite3_column_int64(s, 1);
		bool found = false;

		for (size_t k = 0; k < spec->ndeps && !found; k++)
			found = spec->deps[k].number == number && strcmp(spec->deps[k].repo, repo) == 0;
		equal = found;
		matched++;
	}
	sqlite3_reset(s);
	/* Duplicates in the spec collapse in the table: compare distinct counts
	 * (repo names are interned, so equal names are equal pointers). */
	size_t distinct = 0;
	for (size_t k = 0; k < spec->ndeps; k++) {
		bool repeat = false;
		for (size_t j = 0; j < k && !repeat; j++)
			repeat = spec->deps[j].number == spec->deps[k].number &&
			    spec->deps[j].repo == spec->deps[k].repo;
		distinct += !repeat;
	}
	return equal && matched == distinct;
}

static int
deps_replace(struct store *st, sqlite3_int64 id, const struct issue_spec *spec)
{
	if (store_exec_bound(st, ST_DEPS_DELETE, BIND_INT(id)) == -1)
		return -1;
	for (size_t k = 0; k < spec->ndeps; k++)
		if (store_exec_bound(st, ST_DEPS_INSERT, BIND_INT(id), BIND_TEXT(spec->deps[k].repo),
		    BIND_INT(spec->deps[k].number)) == -1)
			return -1;
	return 0;
}

static enum store_upsert
issue_insert(struct store *st, const struct issue_spec *spec)
{
	int64_t id = st->next_issue_id;

	if (store_exec_bound(st, ST_ISSUE_INSERT, BIND_TEXT(spec->repo), BIND_INT(spec->number),
	    BIND_TEXT(spec->title), BIND_TEXT(spec->body ? spec->body : ""),
	    BIND_INT(spec->created), BIND_INT(now_ms()), BIND_INT(id)) == -1)
		return STORE_ERROR;
	if (!st->txn_failed && sqlite3_changes(st->db) != 1) {
		log_warnx("store: %s#%ld: repo is not recorded", spec->repo, spec->number);
		return STORE_ERROR;
	}
	st->next_issue_id++;
	if (deps_replace(st, id, spec) == -1)
		return STORE_ERROR;
	return STORE_ADDED;
}

/* A source may change an issue only while it waits: never under a running worker. */
static bool
state_is_waiting(const char *state)
{
	enum issue_state st;

	/* queued, ready or blocked: never under a worker, nor between attempts */
	return state_from_name(state, &st) && state_waiting(st) && st != STATE_RETRY_WAIT;
}

enum store_upsert
store_upsert_issue(struct store *st, const struct issue_spec *spec)
{
	sqlite3_stmt *s = store_stmt(st, ST_ISSUE_FIND);
	enum store_upsert result = STORE_UNCHANGED;
	sqlite3_int64 id;
	bool same_text;

	sqlite3_bind_text(s, 1, spec->repo, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, spec->number);
	if (sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_reset(s);
		return issue_insert(st, spec);
	}
	id = sqlite3_column_int64(s, 0);
	if (!state_is_waiting((const char *)sqlite3_column_text(s, 1))) {
		sqlite3_reset(s);
		return STORE_UNCHANGED;
	}
	same_text = strcmp((const char *)sqlite3_column_text(s, 2), spec->title) == 0 &&
	    strcmp((const char *)sqlite3_column_text(s, 3), spec->body ? spec->body : "") == 0 &&
	    sqlite3_column_int64(s, 4) == spec->created;
	sqlite3_reset(s);
	if (!same_text) {
		if (store_exec_bound(st, ST_ISSUE_UPDATE_TEXT, BIND_INT(id), BIND_TEXT(spec->title),
		    BIND_TEXT(spec->body ? spec->body : ""), BIND_INT(spec->created),
		    BIND_INT(now_ms())) == -1)
			return STORE_ERROR;
		result = STORE_UPDATED;
	}
	if (!deps_equal(st, id, spec)) {
		if (deps_replace(st, id, spec) == -1)
			return STORE_ERROR;
		result = STORE_UPDATED;
	}
	return result;
}

bool
store_issue_state(struct store *st, const char *repo, long number, char *buf, size_t size)
{
	sqlite3_stmt *s = store_stmt(st, ST_ISSUE_STATE);
	bool found = false;

	sqlite3_bind_text(s, 1, repo, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, number);
	if (sqlite3_step(s) == SQLITE_ROW) {
		strlcpy(buf, (const char *)sqlite3_column_text(s, 0), size);
		found = true;
	}
	sqlite3_reset(s);
	return found;
}

long
store_count_state(struct store *st, const char *state)
{
	sqlite3_stmt *s = store_stmt(st, ST_COUNT_STATE);
	long n = -1;

	sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return n;
}

static const char *
column_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

int
store_each_issue(struct store *st, store_issue_fn *fn, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, ST_EACH_ISSUE);
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_issue_row row = {
			.id = sqlite3_column_int64(s, 0),
			.repo = column_text(s, 1),
			.number = (long)sqlite3_column_int64(s, 2),
			.title = column_text(s, 3),
			.body = column_text(s, 4),
			.state = column_text(s, 5),
			.attempts = sqlite3_column_int(s, 6),
			.reason = column_text(s, 7),
			.retry_at = sqlite3_column_int64(s, 8),
			.created = sqlite3_column_int64(s, 9),
			.phase = column_text(s, 10),
			.final_commit = column_text(s, 11),
			.attempt = sqlite3_column_int(s, 12),
			.trace = column_text(s, 13),
			.pid = sqlite3_column_int64(s, 14),
			.since = sqlite3_column_int64(s, 15),
			.base = column_text(s, 16),
			.attempt_id = sqlite3_column_int64(s, 17),
			.reported = column_text(s, 18),
			.attempt_ms = sqlite3_column_int64(s, 19),
			.agent_ms = sqlite3_column_int64(s, 20),
			.wasted_ms = sqlite3_column_int64(s, 21),
			.maxrss_kb = sqlite3_column_int64(s, 22),
			.pull = {
				.number = (long)sqlite3_column_int64(s, 23),
				.url = column_text(s, 24),
				.head = column_text(s, 25),
				.round = sqlite3_column_int(s, 26),
				.pushes = sqlite3_column_int(s, 27),
				.since = sqlite3_column_int64(s, 28),
				.kind = column_text(s, 29),
			},
			.cost_usd = sqlite3_column_double(s, 30),
			.tokens_in = sqlite3_column_int64(s, 31),
			.tokens_out = sqlite3_column_int64(s, 32),
			.wasted_cost_usd = sqlite3_column_double(s, 33),
			.budget_usd = sqlite3_column_double(s, 34),
			.budget_tokens = sqlite3_column_int64(s, 35),
			.resume = column_text(s, 36),
		};
		fn(&row, arg);
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}


int
store_issue_save(struct store *st, int64_t id, const struct store_sched_row *v)
{
	return store_exec_bound(st, ST_ISSUE_SAVE, BIND_INT(id), BIND_TEXT(v->state),
	    BIND_TEXT(v->reason), BIND_INT(v->attempts), BIND_INT(v->retry_at),
	    BIND_TEXT(v->final_commit), BIND_INT(now_ms()), BIND_TEXT(v->resume));
}

int
store_set_phase(struct store *st, int64_t id, const char *phase)
{
	return store_exec_bound(st, ST_SET_PHASE, BIND_INT(id), BIND_TEXT(phase),
	    BIND_INT(now_ms()));
}

int
store_set_pull(struct store *st, int64_t id, const struct store_pull *p)
{
	return store_exec_bound(st, ST_SET_PULL, BIND_INT(id), BIND_INT(p->number),
	    BIND_TEXT(p->url), BIND_TEXT(p->head), BIND_INT(p->round), BIND_INT(p->pushes),
	    BIND_INT(p->since), BIND_TEXT(p->kind));
}

int
store_clear_pull(struct store *st, int64_t id)
{
	return store_exec_bound(st, ST_CLEAR_PULL, BIND_INT(id));
}

int64_t
store_attempt_begin(struct store *st, int64_t issue_id, int number, const char *trace,
    long pid)
{
	sqlite3_stmt *s = store_stmt(st, ST_ATTEMPT_ID);
	int64_t id = 0;

	/* A restarted attempt keeps its row; a new one takes the next id. */
	sqlite3_bind_int64(s, 1, issue_id);
	sqlite3_bind_int(s, 2, number);
	if (sqlite3_step(s) == SQLITE_ROW)
		id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (id == 0)
		id = st->next_attempt_id++;
	if (store_exec_bound(st, ST_ATTEMPT_BEGIN, BIND_INT(issue_id), BIND_INT(number),
	    BIND_TEXT(trace), BIND_INT(pid), BIND_INT(now_ms()), BIND_INT(id)) == -1)
		return -1;
	return id;
}

int
store_attempt_set_base(struct store *st, int64_t attempt_id, const char *sha)
{
	return store_exec_bound(st, ST_ATTEMPT_BASE, BIND_INT(attempt_id), BIND_TEXT(sha));
}

int
store_attempt_end(struct store *st, int64_t attempt_id, const char *outcome,
    const char *reason)
{
	return store_exec_bound(st, ST_ATTEMPT_END, BIND_INT(attempt_id), BIND_TEXT(outcome),
	    BIND_TEXT(reason), BIND_INT(now_ms()));
}

int
store_marker_add(struct store *st, int64_t attempt_id, const char *phase, int result,
    const char *head, long ms)
{
	return store_exec_bound(st, ST_MARKER_ADD, BIND_INT(attempt_id), BIND_TEXT(phase),
	    BIND_INT(result), BIND_TEXT(head), BIND_INT(ms), BIND_INT(now_ms()));
}

static int
add_ms(struct store *st, enum stmt_id id, int64_t row, int64_t ms)
{
	return store_exec_bound(st, id, BIND_INT(row), BIND_INT(ms));
}

int
store_add_agent_time(struct store *st, int64_t issue_id, int64_t attempt_id, int64_t ms)
{
	return add_ms(st, ST_ADD_AGENT_MS, issue_id, ms) == 0 &&
	    add_ms(st, ST_ADD_ATTEMPT_MS, attempt_id, ms) == 0 ? 0 : -1;
}

int
store_add_wasted_time(struct store *st, int64_t issue_id, int64_t ms)
{
	return add_ms(st, ST_ADD_WASTED_MS, issue_id, ms);
}

int
store_note_rss(struct store *st, int64_t issue_id, int64_t kb)
{
	return add_ms(st, ST_NOTE_RSS, issue_id, kb);
}

int
store_daemon_set(struct store *st, const struct store_daemon *d)
{
	return store_exec_bound(st, ST_DAEMON_SET, BIND_INT(d->pid), BIND_INT(d->running),
	    BIND_INT(d->cap), BIND_INT(d->effective_cap), BIND_INT(d->paused), BIND_INT(now_ms()),
	    BIND_TEXT(d->limits[0] ? d->limits : NULL));
}

int
store_daemon_get(struct store *st, struct store_daemon *d)
{
	sqlite3_stmt *s = store_stmt(st, ST_DAEMON_GET);
	int rc = -1;

	if (sqlite3_step(s) == SQLITE_ROW) {
		d->pid = (long)sqlite3_column_int64(s, 0);
		d->running = sqlite3_column_int(s, 1);
		d->cap = sqlite3_column_int(s, 2);
		d->effective_cap = sqlite3_column_int(s, 3);
		d->paused = sqlite3_column_int(s, 4);
		d->started_at = sqlite3_column_int64(s, 5);
		strlcpy(d->limits, column_text(s, 6) ? column_text(s, 6) : "", sizeof(d->limits));
		rc = 0;
	}
	sqlite3_reset(s);
	return rc;
}

bool
store_last_marker(struct store *st, int64_t attempt_id, struct store_marker *m)
{
	sqlite3_stmt *s = store_stmt(st, ST_LAST_MARKER);
	bool found = false;

	sqlite3_bind_int64(s, 1, attempt_id);
	if (sqlite3_step(s) == SQLITE_ROW) {
		strlcpy(m->phase, column_text(s, 0), sizeof(m->phase));
		m->result = sqlite3_column_int(s, 1);
		strlcpy(m->head, column_text(s, 2) ? column_text(s, 2) : "", sizeof(m->head));
		found = true;
	}
	sqlite3_reset(s);
	return found;
}

int
store_set_reported(struct store *st, const char *repo, long number, const char *what)
{
	return store_exec_bound(st, ST_SET_REPORTED, BIND_TEXT(repo), BIND_INT(number),
	    BIND_TEXT(what));
}

int
store_report_add(struct store *st, int64_t seq, const char *line)
{
	return store_exec_bound(st, ST_REPORT_ADD, BIND_INT(seq), BIND_TEXT(line),
	    BIND_INT(now_ms()));
}

bool
store_report_first(struct store *st, int64_t *seq, char **line)
{
	sqlite3_stmt *s = store_stmt(st, ST_REPORT_FIRST);
	bool found = false;

	if (sqlite3_step(s) == SQLITE_ROW) {
		*seq = sqlite3_column_int64(s, 0);
		*line = xstrdup(column_text(s, 1));
		found = true;
	}
	sqlite3_reset(s);
	return found;
}

int
store_report_done(struct store *st, int64_t seq)
{
	return store_exec_bound(st, ST_REPORT_DONE, BIND_INT(seq));
}

long
store_report_count(struct store *st)
{
	sqlite3_stmt *s = store_stmt(st, ST_REPORT_COUNT);
	long n = 0;

	if (sqlite3_step(s) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return n;
}

int
store_duration_note(struct store *st, const char *scope, const char *name, int64_t ms)
{
	return store_exec_bound(st, ST_DURATION_NOTE, BIND_TEXT(scope), BIND_TEXT(name),
	    BIND_INT(ms));
}

int
store_each_duration(struct store *st, store_duration_fn *fn, void *arg)
{
	sqlite3_stmt *s = store_stmt(st, ST_EACH_DURATION);
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(column_text(s, 0), column_text(s, 1), &(struct attempt_times){
		    .avg_ms = sqlite3_column_int64(s, 2), .var_rel = sqlite3_column_double(s, 3),
		    .attempts = (long)sqlite3_column_int64(s, 4) }, arg);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

struct durations_of {
	const struct config *cfg;
	struct attempt_times *repos, *pools;
};

static void
duration_of(const char *scope, const char *name, const struct attempt_times *times, void *arg)
{
	struct durations_of *d = arg;
	const struct repo_conf *repo;
	long pool;

	if (strcmp(scope, "repo") == 0 && (repo = config_repo(d->cfg, name)) != NULL)
		d->repos[repo - d->cfg->repos] = *times;
	else if (strcmp(scope, "pool") == 0 && (pool = config_pool(d->cfg, name)) >= 0)
		d->pools[pool] = *times;
}

void
store_durations_of(struct store *st, const struct config *cfg, int64_t *repo_ms,
    int64_t *pool_ms)
{
	struct durations_of d = { cfg, xcalloc(cfg->nrepos + 1, sizeof(struct attempt_times)),
	    xcalloc(cfg->npools + 1, sizeof(struct attempt_times)) };

	store_each_duration(st, duration_of, &d);
	expect_times(d.repos, cfg->nrepos, repo_ms);
	expect_times(d.pools, cfg->npools, pool_ms);
	free(d.repos);
	free(d.pools);
}
