/*
 * The journal: every state change of the supervisor is one transaction of
 * the store, its events and what may follow it (DESIGN.md sections 7, 12).
 *
 * Commit or stop.  The events of a transaction are appended to the event
 * log and their last seq committed with the state; only then do the
 * actions that depend on the change run (the committed hook: a branch
 * deleted, GitHub told, a worker let past its gate).  A transaction that
 * cannot commit is kept whole and retried with backoff; until it commits
 * the journal is down, and the supervisor acts on nothing new.
 */
#ifndef WAVED_JOURNAL_H
#define WAVED_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "common/events.h"
#include "common/log.h"
#include "common/store.h"

#define JOURNAL_DAEMON SIZE_MAX		/* an event about no issue */

struct journal;

/* The log context of an issue's events (its key, attempt, trace). */
typedef void journal_ctx_fn(size_t issue, struct log_ctx *ctx, void *arg);
/* A committed event: what depends on it may happen now. */
typedef void journal_committed_fn(const char *event, size_t issue, void *arg);

/* An event rendered into the open transaction, its line carrying seq: what
 * must commit with the event (its report, in line for the report command)
 * is written now, in the same transaction. */
typedef void journal_rendered_fn(const char *event, const char *line, int64_t seq, void *arg);

struct journal *journal_new(struct store *store, struct events *events);
void journal_free(struct journal *j);
void journal_set_hooks(struct journal *j, journal_ctx_fn *ctx, journal_committed_fn *committed,
    void *arg);
void journal_set_rendered(struct journal *j, journal_rendered_fn *fn, void *arg);

/*
 * One transaction per dispatched event: the loop opens it, everything the
 * event causes runs inside it, the loop commits it.  Nesting is refused
 * (an abort unless NDEBUG): nothing below the loop begins or commits.
 */
void journal_begin(struct journal *j);
/* An event of the open transaction; fields (may be NULL) is taken. */
void journal_event(struct journal *j, size_t issue, const char *name, cJSON *fields);
/* 0: committed, hooks run (in a transaction of their own, committed
 * after them).  -1: kept for a retry, the journal is down. */
int journal_commit(struct journal *j);

/* Up, or back up after a retry that is due now: the caller may act. */
bool journal_ready(struct journal *j);
bool journal_down(const struct journal *j);
/* How many events the last commit wrote (the hooks' own commit aside). */
size_t journal_last_events(const struct journal *j);
/* When the next retry is due (monotonic ms), INT64_MAX when up. */
int64_t journal_next_retry(const struct journal *j);

#endif
