/*
 * What the store's two files share: store.c (the database: opening,
 * migrating, transactions and their replay) and store_rows.c (the rows:
 * issues, attempts, markers, pull requests, the daemon).  Nothing else
 * includes it.
 */
#ifndef WAVED_STORE_INTERNAL_H
#define WAVED_STORE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "common/store.h"
#include "common/util.h"

/* The prepared statements, by what they do; their SQL is store_sql's. */
enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_REPO_UPSERT,
	ST_ISSUE_FIND,
	ST_ISSUE_INSERT,
	ST_ISSUE_UPDATE_TEXT,
	ST_DEPS_LIST,
	ST_DEPS_DELETE,
	ST_DEPS_INSERT,
	ST_ISSUE_STATE,
	ST_COUNT_STATE,
	ST_EACH_ISSUE,
	ST_ISSUE_SAVE,
	ST_SET_PHASE,
	ST_ATTEMPT_BEGIN,
	ST_ATTEMPT_ID,
	ST_ATTEMPT_BASE,
	ST_ATTEMPT_END,
	ST_MARKER_ADD,
	ST_DAEMON_SET,
	ST_DAEMON_GET,
	ST_LAST_MARKER,
	ST_SET_REPORTED,
	ST_SET_EVENT_SEQ,
	ST_GET_EVENT_SEQ,
	ST_ADD_AGENT_MS,
	ST_ADD_ATTEMPT_MS,
	ST_ADD_WASTED_MS,
	ST_NOTE_RSS,
	ST_NEXT_ISSUE_ID,
	ST_NEXT_ATTEMPT_ID,
	ST_SET_PULL,
	ST_CLEAR_PULL,
	ST_REPORT_ADD,
	ST_REPORT_FIRST,
	ST_REPORT_DONE,
	ST_REPORT_COUNT,
	ST_SPEND_ATTEMPT,
	ST_SPEND_ISSUE,
	ST_SPEND_ADD,
	ST_SPEND_SINCE,
	ST_SPEND_ROWS,
	ST_SPEND_PRUNE,
	ST_WASTE_COST,
	ST_BUDGET_RESET,
	ST_DURATION_NOTE,
	ST_EACH_DURATION,
	ST_COUNT
};

extern const char *const store_sql[ST_COUNT];

/*
 * A transaction that could not commit is kept as its write statements, with
 * their values inlined (sqlite3_expanded_sql), and replayed by the next
 * store_begin: the caller's memory has moved on, and the store catches up
 * with it exactly.  Replay gives the same rows because nothing else writes
 * in between (the supervisor stops the world while the store is down) and
 * because new rows take ids the store hands out, never ones SQLite picks.
 */
struct store {
	sqlite3 *db;
	char *path;
	enum store_mode mode;
	sqlite3_stmt *stmt[ST_COUNT];
	bool in_txn;
	bool txn_failed;	/* a write failed: the rest are only recorded */
	struct strbuf redo;	/* the write statements of the uncommitted transaction, as one
				 * SQL script (one block: freed whole, it leaves no fragments) */
	int64_t next_issue_id, next_attempt_id;
	bool replay_impossible;	/* the kept transaction contradicts the database */
	char *files[3];		/* the database, its -wal and -shm, checked before each use */
	char *error;		/* why the last begin or commit failed */
};

/* A prepared statement, reset and ready for binding. */
sqlite3_stmt *store_stmt(struct store *st, enum stmt_id id);
/* Step a statement that returns no rows, inside a transaction recorded for its replay. */
int store_exec_stmt(struct store *st, sqlite3_stmt *s);

/* A value for a statement's parameter: a whole number, a text (NULL binds NULL), a real. */
struct store_bind {
	enum { SB_INT, SB_TEXT, SB_REAL } type;
	int64_t i;
	const char *text;
	double real;
};
#define BIND_INT(v)	((struct store_bind){ .type = SB_INT, .i = (v) })
#define BIND_TEXT(v)	((struct store_bind){ .type = SB_TEXT, .text = (v) })
#define BIND_REAL(v)	((struct store_bind){ .type = SB_REAL, .real = (v) })

/* Statement id with values bound to ?1, ?2... in order, stepped by store_exec_stmt. */
int store_exec_binds(struct store *st, enum stmt_id id, const struct store_bind *v, size_t n);
/*
 * The one-statement writer: store_exec_bound(st, ST_SET_PHASE, BIND_INT(id),
 * BIND_TEXT(phase), BIND_INT(now_ms())); 0 or -1, as store_exec_stmt.
 */
#define store_exec_bound(st, id, ...)						\
	store_exec_binds((st), (id), (const struct store_bind[]){ __VA_ARGS__ },	\
	    sizeof((const struct store_bind[]){ __VA_ARGS__ }) / sizeof(struct store_bind))
/* Why the open transaction failed (taken). */
void store_set_error(struct store *st, char *why);

#endif
