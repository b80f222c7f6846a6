#include "common/store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/log.h"
#include "common/util.h"

/*
 * Migration k takes the schema from user_version k to k+1.  Never edit a
 * shipped migration: append a new one, so that every existing database walks
 * the same path forward.
 */
static const char *const migrations[] = {
	/* 0 -> 1: the first schema. */
	"CREATE TABLE daemon ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  pid INTEGER,"
	"  running INTEGER NOT NULL DEFAULT 0,"
	"  started_at INTEGER,"
	"  cap INTEGER NOT NULL DEFAULT 0,"
	"  effective_cap INTEGER NOT NULL DEFAULT 0,"
	"  paused INTEGER NOT NULL DEFAULT 0,"
	"  updated_at INTEGER);"
	"INSERT INTO daemon (id) VALUES (1);"
	"CREATE TABLE repos ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  path TEXT NOT NULL,"
	"  agent_branch TEXT NOT NULL);"
	"CREATE TABLE issues ("
	"  id INTEGER PRIMARY KEY,"
	"  repo_id INTEGER NOT NULL REFERENCES repos(id),"
	"  number INTEGER NOT NULL CHECK (number > 0),"
	"  title TEXT NOT NULL,"
	"  body TEXT NOT NULL DEFAULT '',"
	"  state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'ready',"
	"    'running', 'review', 'merging', 'retry_wait', 'done', 'dead', 'blocked')),"
	"  phase TEXT,"			/* the phase running, while in flight */
	"  attempts INTEGER NOT NULL DEFAULT 0,"	/* attempts consumed */
	"  reason TEXT,"			/* last failure, or why blocked */
	"  final_commit TEXT,"		/* what landed: the branch is deleted after */
	"  retry_at INTEGER,"		/* ms since the epoch, in retry_wait */
	"  priority INTEGER NOT NULL DEFAULT 0,"	/* critical path */
	"  created INTEGER NOT NULL DEFAULT 0,"	/* the source's age order */
	"  first_seen INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  UNIQUE (repo_id, number));"
	"CREATE INDEX issues_by_state ON issues (state);"
	"CREATE TABLE deps ("
	"  issue_id INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,"
	"  dep_repo TEXT NOT NULL,"		/* may name a repo that is not configured */
	"  dep_number INTEGER NOT NULL,"
	"  PRIMARY KEY (issue_id, dep_repo, dep_number)) WITHOUT ROWID;"
	"CREATE TABLE attempts ("
	"  id INTEGER PRIMARY KEY,"
	"  issue_id INTEGER NOT NULL REFERENCES issues(id) ON DELETE CASCADE,"
	"  number INTEGER NOT NULL CHECK (number > 0),"
	"  trace TEXT NOT NULL,"
	"  pid INTEGER,"
	"  base_commit TEXT,"		/* the agent branch tip at prepare */
	"  started_at INTEGER NOT NULL,"
	"  ended_at INTEGER,"
	"  outcome TEXT,"
	"  reason TEXT,"
	"  UNIQUE (issue_id, number));"
	"CREATE TABLE markers ("		/* one row per completed phase run */
	"  id INTEGER PRIMARY KEY,"
	"  attempt_id INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,"
	"  phase TEXT NOT NULL,"
	"  result INTEGER NOT NULL,"	/* the phase's exit status */
	"  head TEXT,"			/* the issue branch head after it */
	"  ms INTEGER,"
	"  recorded_at INTEGER NOT NULL);"
	"CREATE INDEX markers_by_attempt ON markers (attempt_id, id);",
	/* 1 -> 2: the outcome was reported back to the issue's source (GitHub). */
	"ALTER TABLE issues ADD COLUMN reported TEXT;",
	/* 2 -> 3: the seq of the last event line committed with the state. */
	"ALTER TABLE daemon ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;",
	/* 3 -> 4: agent time: per attempt, per issue, and the part that did not land. */
	("ALTER TABLE attempts ADD COLUMN agent_ms INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE issues ADD COLUMN agent_ms INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE issues ADD COLUMN wasted_ms INTEGER NOT NULL DEFAULT 0;"),
	/* 4 -> 5: the cap's limits, by hand (JSON), for wavectl status; an issue's
	 * largest phase, in resident memory. */
	("ALTER TABLE daemon ADD COLUMN limits TEXT;"
	"ALTER TABLE issues ADD COLUMN maxrss_kb INTEGER NOT NULL DEFAULT 0;"),
	/* 5 -> 6: land = pr: state awaiting_merge (the CHECK of issues.state is
	 * in the table's definition: the table is rebuilt, foreign keys being
	 * off while migrating), and an issue's pull request. */
	("CREATE TABLE issues_new ("
	"  id INTEGER PRIMARY KEY,"
	"  repo_id INTEGER NOT NULL REFERENCES repos(id),"
	"  number INTEGER NOT NULL CHECK (number > 0),"
	"  title TEXT NOT NULL,"
	"  body TEXT NOT NULL DEFAULT '',"
	"  state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'ready',"
	"    'running', 'review', 'merging', 'retry_wait', 'done', 'dead', 'blocked',"
	"    'awaiting_merge')),"
	"  phase TEXT,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  reason TEXT,"
	"  final_commit TEXT,"
	"  retry_at INTEGER,"
	"  priority INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL DEFAULT 0,"
	"  first_seen INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  reported TEXT,"
	"  agent_ms INTEGER NOT NULL DEFAULT 0,"
	"  wasted_ms INTEGER NOT NULL DEFAULT 0,"
	"  maxrss_kb INTEGER NOT NULL DEFAULT 0,"
	"  UNIQUE (repo_id, number));"
	"INSERT INTO issues_new (id, repo_id, number, title, body, state, phase, attempts, reason,"
	"  final_commit, retry_at, priority, created, first_seen, updated_at, reported, agent_ms,"
	"  wasted_ms, maxrss_kb)"
	" SELECT id, repo_id, number, title, body, state, phase, attempts, reason, final_commit,"
	"  retry_at, priority, created, first_seen, updated_at, reported, agent_ms, wasted_ms,"
	"  maxrss_kb FROM issues;"
	"DROP TABLE issues;"
	"ALTER TABLE issues_new RENAME TO issues;"
	"CREATE INDEX issues_by_state ON issues (state);"
	"CREATE TABLE pulls ("
	"  issue_id INTEGER PRIMARY KEY REFERENCES issues(id) ON DELETE CASCADE,"
	"  number INTEGER NOT NULL DEFAULT 0,"
	"  url TEXT,"
	"  head TEXT,"
	"  round INTEGER NOT NULL DEFAULT 0,"
	"  pushes INTEGER NOT NULL DEFAULT 0,"
	"  since INTEGER NOT NULL DEFAULT 0,"
	"  kind TEXT);"),
	/* 6 -> 7: [source] report: the outcome events its command has yet to hear,
	 * each written in the transaction of its event. */
	("CREATE TABLE reports ("
	"  seq INTEGER PRIMARY KEY,"	/* the event's: its place in line, and the tracker's dedup key */
	"  line TEXT NOT NULL,"		/* the event's line, as events.ndjson has it */
	"  added_at INTEGER NOT NULL);"),
	/* 7 -> 8: budgets (DESIGN.md section 20): what each attempt and issue
	 * spent; what counts against the issue's budget (since its last
	 * wavectl retry); and each report of spending with its time, for the
	 * rolling day, which a restart must not forget. */
	("ALTER TABLE attempts ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;"
	"ALTER TABLE attempts ADD COLUMN tokens_in INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE attempts ADD COLUMN tokens_out INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE issues ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;"
	"ALTER TABLE issues ADD COLUMN tokens_in INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE issues ADD COLUMN tokens_out INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE issues ADD COLUMN wasted_cost_usd REAL NOT NULL DEFAULT 0;"
	"ALTER TABLE issues ADD COLUMN budget_usd REAL NOT NULL DEFAULT 0;"
	"ALTER TABLE issues ADD COLUMN budget_tokens INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE spend ("
	"  at INTEGER NOT NULL,"		/* ms since the epoch */
	"  issue_id INTEGER,"
	"  cost_usd REAL NOT NULL,"
	"  tokens INTEGER NOT NULL);"		/* in + out */
	"CREATE INDEX spend_by_at ON spend (at);"),
	/* 8 -> 9: what attempts took (agent ms), a moving average by repo and by
	 * pool: the expected time of the critical path (DESIGN.md section 4). */
	"CREATE TABLE durations ("
	"  scope TEXT NOT NULL,"		/* "repo" or "pool" */
	"  name TEXT NOT NULL,"
	"  avg_ms INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL,"
	"  PRIMARY KEY (scope, name));",
	/* 9 -> 10: where an issue's next admission resumes (recovery's answer,
	 * or a landing its push remote did not take), across a restart. */
	"ALTER TABLE issues ADD COLUMN resume TEXT;",
	/* 10 -> 11: the spread of what attempts took, around their average.  The
	 * averages kept count as one attempt each: their spread was not seen. */
	"ALTER TABLE durations ADD COLUMN var_ms2 REAL NOT NULL DEFAULT 0;"
	"UPDATE durations SET attempts = MIN(attempts, 1);",
	/* 11 -> 12: the spread relative to the average (expect.h); var_ms2, in
	 * ms², is no longer read.  Counted again from the next attempt. */
	"ALTER TABLE durations ADD COLUMN var_rel REAL NOT NULL DEFAULT 0;"
	"UPDATE durations SET attempts = MIN(attempts, 1);",
};

_Static_assert(ARRAY_LEN(migrations) == STORE_SCHEMA_VERSION,
    "STORE_SCHEMA_VERSION must count the migrations");

sqlite3_stmt *
store_stmt(struct store *st, enum stmt_id id)
{
	sqlite3_stmt *s = st->stmt[id];

	if (s == NULL) {
		if (sqlite3_prepare_v3(st->db, store_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
		    &st->stmt[id], NULL) != SQLITE_OK)
			fatalx("store: prepare \"%s\": %s", store_sql[id], sqlite3_errmsg(st->db));
		s = st->stmt[id];
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

void
store_set_error(struct store *st, char *why)
{
	free(st->error);
	st->error = why;
}

static void
redo_add(struct store *st, sqlite3_stmt *s)
{
	char *sql = sqlite3_expanded_sql(s);

	if (sql == NULL)
		fatalx("store: out of memory");
	strbuf_add(&st->redo, sql);
	strbuf_add(&st->redo, ";\n");
	sqlite3_free(sql);
}

static void
redo_clear(struct store *st)
{
	strbuf_free(&st->redo);
}

/*
 * Step a statement that returns no rows; 0 or -1 (logged).  Inside a
 * transaction the write is recorded for a replay; once one write of it has
 * failed (or SQLite has rolled it back), the others are recorded only: run
 * on their own they would commit one by one.
 */
int
store_exec_stmt(struct store *st, sqlite3_stmt *s)
{
	int rc;

	if (st->in_txn) {
		redo_add(st, s);
		if (st->txn_failed || sqlite3_get_autocommit(st->db)) {
			st->txn_failed = true;
			sqlite3_reset(s);
			return 0;
		}
	}
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE && st->in_txn) {
		store_set_error(st, xasprintf("%s", sqlite3_errmsg(st->db)));
		st->txn_failed = true;
		return 0;	/* recorded: the commit fails and the replay writes it */
	}
	if (rc != SQLITE_DONE) {
		log_warnx("store: %s: %s", sqlite3_sql(s), sqlite3_errmsg(st->db));
		return -1;
	}
	return 0;
}

int
store_exec_binds(struct store *st, enum stmt_id id, const struct store_bind *v, size_t n)
{
	sqlite3_stmt *s = store_stmt(st, id);

	for (size_t k = 0; k < n; k++) {
		int at = (int)k + 1;

		/* Static text: the statement is stepped before the caller goes on,
		 * and store_stmt clears the bindings before its next use. */
		if (v[k].type == SB_INT)
			sqlite3_bind_int64(s, at, v[k].i);
		else if (v[k].type == SB_REAL)
			sqlite3_bind_double(s, at, v[k].real);
		else if (v[k].text)
			sqlite3_bind_text(s, at, v[k].text, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(s, at);
	}
	return store_exec_stmt(st, s);
}

static int64_t
query_int64(struct store *st, enum stmt_id id)
{
	sqlite3_stmt *s = store_stmt(st, id);
	int64_t v = 0;

	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return v;
}

static int
store_migrate(struct store *st, char **err)
{
	int version = store_schema_version(st);

	if (version > (int)ARRAY_LEN(migrations)) {
		*err = xasprintf("%s: schema version %d is newer than this waved knows (%zu)",
		    st->path, version, ARRAY_LEN(migrations));
		return -1;
	}
	for (; version < (int)ARRAY_LEN(migrations); version++) {
		char *sql = xasprintf("BEGIN IMMEDIATE; %s PRAGMA user_version = %d; COMMIT;",
		    migrations[version], version + 1);
		char *msg = NULL;

		if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
			*err = xasprintf("%s: migrating schema %d -> %d: %s", st->path,
			    version, version + 1, msg ? msg : "?");
			sqlite3_free(msg);
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			free(sql);
			return -1;
		}
		free(sql);
	}
	return 0;
}

struct store *
store_open(const char *path, enum store_mode mode, char **err)
{
	struct store *st = xcalloc(1, sizeof(*st));
	int flags = mode == STORE_READONLY ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	*err = NULL;
	st->path = xstrdup(path);
	st->files[0] = xstrdup(path);
	st->files[1] = xasprintf("%s-wal", path);
	st->files[2] = xasprintf("%s-shm", path);
	st->mode = mode;
	if (sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		*err = xasprintf("%s: %s", path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
		store_close(st);
		return NULL;
	}
	sqlite3_busy_timeout(st->db, 5000);
	/*
	 * WAL lets wavectl read while the supervisor writes.  synchronous =
	 * NORMAL keeps every commit across a crash of the process (only a power
	 * loss can take the last ones back), which is what recovery relies on.
	 */
	if (mode == STORE_READWRITE &&
	    sqlite3_exec(st->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
	    NULL, NULL, NULL) != SQLITE_OK) {
		*err = xasprintf("%s: %s", path, sqlite3_errmsg(st->db));
		store_close(st);
		return NULL;
	}
	/* A small page cache: the supervisor touches a few rows per event. */
	sqlite3_exec(st->db, "PRAGMA cache_size = -512", NULL, NULL, NULL);
	/* Foreign keys come on after migrating: a migration may rebuild a table. */
	if (mode == STORE_READWRITE ? store_migrate(st, err) == -1 :
	    store_schema_version(st) != STORE_SCHEMA_VERSION) {
		if (*err == NULL)
			*err = xasprintf("%s: schema version %d, expected %d (start waved once to migrate)",
			    path, store_schema_version(st), STORE_SCHEMA_VERSION);
		store_close(st);
		return NULL;
	}
	sqlite3_exec(st->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	if (mode == STORE_READWRITE) {
		st->next_issue_id = query_int64(st, ST_NEXT_ISSUE_ID);
		st->next_attempt_id = query_int64(st, ST_NEXT_ATTEMPT_ID);
	}
	return st;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	redo_clear(st);
	free(st->error);
	for (size_t k = 0; k < ARRAY_LEN(st->files); k++)
		free(st->files[k]);
	free(st->path);
	free(st);
}

int
store_schema_version(struct store *st)
{
	sqlite3_stmt *s;
	int version = -1;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return version;
}

/*
 * Can the files be written?  A file made immutable or a file system
 * remounted read-only is seen here, before SQLite touches them: a write
 * through the mapped -shm of such a file is a SIGBUS, not an error code.
 */
static bool
store_files_writable(struct store *st)
{
	for (size_t k = 0; k < ARRAY_LEN(st->files); k++)
		if (access(st->files[k], W_OK) == -1 && errno != ENOENT) {
			store_set_error(st, xasprintf("%s: %s", st->files[k], strerror(errno)));
			return false;
		}
	return true;
}

bool
store_writable(struct store *st)
{
	return store_files_writable(st);
}

static int
step_plain(struct store *st, enum stmt_id id)
{
	sqlite3_stmt *s = store_stmt(st, id);
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		store_set_error(st, xasprintf("%s", sqlite3_errmsg(st->db)));
	return rc == SQLITE_DONE ? 0 : -1;
}

/* An error that goes away with the cause (space, permissions, a lock), not a contradiction. */
static bool
transient(int code)
{
	switch (code & 0xff) {
	case SQLITE_IOERR: case SQLITE_READONLY: case SQLITE_FULL: case SQLITE_BUSY:
	case SQLITE_LOCKED: case SQLITE_CANTOPEN: case SQLITE_NOMEM: case SQLITE_PERM:
		return true;
	}
	return false;
}

/* Replay what a failed commit left, inside the transaction just begun. */
static void
redo_replay(struct store *st)
{
	char *msg = NULL;

	if (st->redo.len == 0)
		return;
	if (sqlite3_exec(st->db, st->redo.s, NULL, NULL, &msg) != SQLITE_OK) {
		store_set_error(st, xasprintf("replay: %s", msg ? msg : "?"));
		st->txn_failed = true;
		st->replay_impossible = !transient(sqlite3_errcode(st->db));
	}
	sqlite3_free(msg);
}

int
store_begin(struct store *st)
{
	/* SQLite refuses a BEGIN inside a transaction, and the outer one would
	 * then commit in halves: a bug of the caller's, stopped at once in
	 * debug and sanitizer builds (NDEBUG: refused, said, and carried on). */
	if (st->in_txn) {
		log_warnx("store: a transaction begun inside another");
#ifndef NDEBUG
		abort();
#endif
		return 0;
	}
	st->in_txn = true;
	st->txn_failed = !store_files_writable(st) || step_plain(st, ST_BEGIN) == -1;
	if (!st->txn_failed)
		redo_replay(st);
	return st->txn_failed ? -1 : 0;
}

int
store_commit(struct store *st)
{
	/* Once more before COMMIT writes the mapped -shm: the files may have
	 * changed since the transaction began. */
	bool ok = !st->txn_failed && store_files_writable(st) && step_plain(st, ST_COMMIT) == 0;

	if (!ok && !sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	st->in_txn = false;
	st->txn_failed = false;
	if (ok)
		redo_clear(st);
	return ok ? 0 : -1;
}

void
store_commit_abort(struct store *st)
{
	st->txn_failed = true;
	store_commit(st);
}

void
store_rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	st->in_txn = false;
	st->txn_failed = false;
	redo_clear(st);
}

bool
store_pending(const struct store *st)
{
	return st->redo.len > 0;
}

bool
store_replay_impossible(const struct store *st)
{
	return st->replay_impossible;
}

const char *
store_error(const struct store *st)
{
	return st->error ? st->error : "unknown error";
}

int
store_set_event_seq(struct store *st, int64_t seq)
{
	sqlite3_stmt *s = store_stmt(st, ST_SET_EVENT_SEQ);
	int rc;

	/* Not recorded for a replay: the journal sets it anew on every try. */
	if (st->in_txn && st->txn_failed)
		return 0;
	sqlite3_bind_int64(s, 1, seq);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE && st->in_txn) {
		store_set_error(st, xasprintf("%s", sqlite3_errmsg(st->db)));
		st->txn_failed = true;
	}
	return rc == SQLITE_DONE ? 0 : -1;
}

int64_t
store_event_seq(struct store *st)
{
	return query_int64(st, ST_GET_EVENT_SEQ);
}
