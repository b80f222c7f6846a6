/*
 * The state database: STATE/waved.db, SQLite in WAL mode, written by the
 * supervisor alone (DESIGN.md sections 3 and 7).  The schema is versioned
 * with PRAGMA user_version and migrated forward on open.
 */
#ifndef WAVED_STORE_H
#define WAVED_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/expect.h"
#include "common/issue.h"

#define STORE_FILE "waved.db"
#define STORE_SCHEMA_VERSION 12

struct store;

enum store_mode {
	STORE_READWRITE,	/* the supervisor: creates and migrates */
	STORE_READONLY		/* wavectl: never writes, never migrates */
};

/* Open path; NULL with a message in *err (caller frees) on failure. */
struct store *store_open(const char *path, enum store_mode mode, char **err);
void store_close(struct store *st);
int store_schema_version(struct store *st);

/*
 * One transaction around several writes.  store_begin fails (-1) when the
 * files cannot be written or SQLite will not begin; the writes that follow
 * are then recorded, not run.  A transaction whose commit fails is rolled
 * back but kept: the next store_begin replays it first, so that a caller
 * whose memory has moved on can retry until the store has caught up.
 * store_rollback abandons it.
 */
int store_begin(struct store *st);
int store_commit(struct store *st);
/* Roll back, keeping the transaction for its replay (what store_commit does when it fails). */
void store_commit_abort(struct store *st);
void store_rollback(struct store *st);
/* A failed transaction waits for its replay. */
bool store_pending(const struct store *st);
/* Its replay failed on something other than the disk (a constraint): it never will commit. */
bool store_replay_impossible(const struct store *st);
/* The files can be written (checked before SQLite maps them: see store.c). */
bool store_writable(struct store *st);
/* Why the last begin, write or commit failed. */
const char *store_error(const struct store *st);

/* Record the configured repos (name, path, agent branch); 0 or -1. */
int store_sync_repos(struct store *st, const struct config *cfg);

enum store_upsert {
	STORE_UNCHANGED,
	STORE_ADDED,
	STORE_UPDATED,		/* text or dependencies changed while still waiting */
	STORE_ERROR = -1
};

/* Add a new issue (state queued) or refresh a waiting one from its source. */
enum store_upsert store_upsert_issue(struct store *st, const struct issue_spec *spec);

/* The issue's state ("queued", ...) into buf; false when unknown. */
bool store_issue_state(struct store *st, const char *repo, long number,
    char *buf, size_t size);
/* Number of issues in a state. */
long store_count_state(struct store *st, const char *state);

/* land = pr (DESIGN.md section 18): an issue's pull request. */
struct store_pull {
	long number;		/* 0: not opened yet (or no pull request at all) */
	const char *url;	/* NULL until opened */
	const char *head;	/* the head waved pushed last, or NULL */
	int round;		/* feedback rounds taken */
	int pushes;		/* attempts that ended pushed */
	int64_t since;		/* ms since the epoch: when it began to await its merge */
	const char *kind;	/* what sent it back for the round to come (review, checks,
				 * conflict), or NULL */
};

/* One issue with its latest attempt (attempt 0 and NULLs when it has none). */
struct store_issue_row {
	int64_t id;
	const char *repo;
	long number;
	const char *title, *body;
	const char *state;
	int attempts;		/* consumed */
	const char *reason;	/* NULL when none */
	int64_t retry_at;
	int64_t created;
	const char *phase;	/* while in flight */
	const char *final_commit;
	int attempt;		/* latest attempt's number */
	const char *trace;
	long pid;
	int64_t since;		/* latest attempt's start, ms since the epoch */
	const char *base;	/* latest attempt's base commit */
	int64_t attempt_id;	/* 0 when none */
	const char *reported;	/* the outcome reported to the source ("done", "dead"), or NULL */
	int64_t attempt_ms;	/* the latest attempt's agent time */
	int64_t agent_ms;	/* agent time of every attempt: the sum of their phases */
	int64_t wasted_ms;	/* of attempts that did not land */
	int64_t maxrss_kb;	/* the largest peak resident size of any of its phases */
	double cost_usd;	/* what every attempt reported spending (DESIGN.md section 20) */
	int64_t tokens_in, tokens_out;
	double wasted_cost_usd;	/* of attempts that did not land */
	double budget_usd;	/* what counts against per_issue: since its last retry */
	int64_t budget_tokens;
	struct store_pull pull;	/* all 0 and NULL when it has none */
	const char *resume;	/* store_sched_row's, or NULL */
};
typedef void store_issue_fn(const struct store_issue_row *row, void *arg);

/* Every issue, by repo and number; the row's strings live for the call only. */
int store_each_issue(struct store *st, store_issue_fn *fn, void *arg);

/* What the scheduler keeps of an issue, written whole by its one writer
 * (supervisor/records.c) after each change; the phase is cleared outside flight. */
struct store_sched_row {
	const char *state;
	const char *reason;	/* NULL: none */
	int attempts;
	int64_t retry_at;
	const char *final_commit;	/* NULL: none */
	const char *resume;	/* where its next admission resumes (a resume point's
				 * name), NULL: a fresh attempt */
};
int store_issue_save(struct store *st, int64_t id, const struct store_sched_row *v);
/* The phase an issue in flight is in. */
int store_set_phase(struct store *st, int64_t id, const char *phase);

/* The issue's pull request, whole (an upsert); or none. */
int store_set_pull(struct store *st, int64_t id, const struct store_pull *p);
int store_clear_pull(struct store *st, int64_t id);

/* Start (or restart, for a requeued tempfail) attempt number; returns its row id or -1. */
int64_t store_attempt_begin(struct store *st, int64_t issue_id, int number,
    const char *trace, long pid);
int store_attempt_set_base(struct store *st, int64_t attempt_id, const char *sha);
int store_attempt_end(struct store *st, int64_t attempt_id, const char *outcome,
    const char *reason);
/* The state marker of a completed phase: its result and the branch head after it. */
int store_marker_add(struct store *st, int64_t attempt_id, const char *phase, int result,
    const char *head, long ms);

/* Agent time (DESIGN.md section 5): a phase's ms on its attempt and its issue;
 * an attempt's that did not land, as wasted on its issue. */
int store_add_agent_time(struct store *st, int64_t issue_id, int64_t attempt_id, int64_t ms);
int store_add_wasted_time(struct store *st, int64_t issue_id, int64_t ms);
/* A phase's peak resident size: the issue keeps the largest. */
int store_note_rss(struct store *st, int64_t issue_id, int64_t kb);

/*
 * Budgets (DESIGN.md section 20): what an attempt in flight reported
 * spending, at ms since the epoch, on the attempt, its issue (and its
 * budget) and the day's record; what did not land, as wasted; a retry's
 * fresh budget.
 */
int store_spend(struct store *st, int64_t issue_id, int64_t attempt_id, int64_t at_ms,
    double cost_usd, int64_t tokens_in, int64_t tokens_out);
int store_waste_cost(struct store *st, int64_t issue_id, int64_t attempt_id);
int store_budget_reset(struct store *st, int64_t issue_id);
/* What was spent after since (ms since the epoch): dollars, and tokens in + out. */
int store_spent_since(struct store *st, int64_t since, double *cost_usd, int64_t *tokens);
/* When, spending nothing more, what was spent after since falls below the
 * limits (0: no limit) once each report is 24 hours old: the report's time
 * that frees room, or 0 when there is room now. */
int64_t store_spend_frees_at(struct store *st, int64_t since, double limit_usd,
    int64_t limit_tokens);
/* Forget the reports at or before until: the day no longer counts them. */
int store_spend_prune(struct store *st, int64_t until);

/*
 * What attempts took (DESIGN.md section 4 rule 4): a moving average of their
 * agent time by scope ("repo" or "pool") and name, and of their spread
 * around it.  A new attempt weighs a quarter, so the average follows what
 * the agents take now.
 */
int store_duration_note(struct store *st, const char *scope, const char *name, int64_t ms);
typedef void store_duration_fn(const char *scope, const char *name,
    const struct attempt_times *times, void *arg);
int store_each_duration(struct store *st, store_duration_fn *fn, void *arg);
/*
 * The expected times of cfg's repos and pools (expect.h), by their index in
 * cfg->repos and cfg->pools (0: no history yet); each array holds nrepos or
 * npools.
 */
void store_durations_of(struct store *st, const struct config *cfg, int64_t *repo_ms,
    int64_t *pool_ms);

/* The attempt's last state marker; false when it has none. */
struct store_marker {
	char phase[16];
	int result;
	char head[65];
};
bool store_last_marker(struct store *st, int64_t attempt_id, struct store_marker *m);

/* The outcome reported back to the issue's source (NULL: none yet). */
int store_set_reported(struct store *st, const char *repo, long number, const char *what);

/*
 * The report command's queue ([source] report, DESIGN.md section 10): the
 * lines of outcome events by seq, added in their event's transaction and
 * removed once the command has taken one.
 */
int store_report_add(struct store *st, int64_t seq, const char *line);
/* The first in line: its seq, and its line into *line (caller frees); false: none. */
bool store_report_first(struct store *st, int64_t *seq, char **line);
int store_report_done(struct store *st, int64_t seq);
long store_report_count(struct store *st);

/* The seq of the last event line that belongs to committed state (events.h). */
int store_set_event_seq(struct store *st, int64_t seq);
int64_t store_event_seq(struct store *st);

/* The daemon's own row, for wavectl status. */
struct store_daemon {
	long pid;
	int running;
	int cap;
	int effective_cap;
	int paused;
	int64_t started_at;
	/* {"operator":3,"usage":2,"tempfail":null,"memory":false,"pools":{"gpu":{"cap":1,
	 * "inflight":0}}}, or "" */
	char limits[2048];
};
int store_daemon_set(struct store *st, const struct store_daemon *d);
int store_daemon_get(struct store *st, struct store_daemon *d);

#endif
