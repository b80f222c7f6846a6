/*
 * The issue records (DESIGN.md section 3): what the scheduler knows of each
 * issue of the store, in memory, by index (the handle the scheduler's files
 * and its callers pass) and by key.  Loaded from the store, and written back
 * to it row by row (records_save, records_save_pull) in the transaction the
 * loop opened; this file fires nothing and decides nothing.
 *
 * An issue's state and the reason for it are read here and changed by
 * supervisor/sched.c alone, through records_set_state in sched_fire:
 * scripts/check-layers fails the build when another file calls it.
 */
#ifndef WAVED_RECORDS_H
#define WAVED_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/issue.h"
#include "common/log.h"
#include "common/states.h"
#include "common/store.h"
#include "supervisor/attempts.h"

#define RECORD_NO_REPO SIZE_MAX		/* its repo is not configured */

/* land = pr (DESIGN.md section 18): an issue's pull request, once it has pushed. */
struct record_pr {
	long number;			/* 0: not opened yet */
	char *url;
	char *head;			/* the head waved pushed last: the push's lease */
	char *kind;			/* what sent it back for the next round, or NULL */
	int round;			/* feedback rounds taken */
	int pushes;			/* attempts that ended pushed (not failures) */
	int64_t since;			/* ms since the epoch: awaiting its merge since */
	bool synced;			/* the pull request shows the last push (memory only) */
};

struct record {
	int64_t id;			/* row in the store */
	char *key;			/* "api#12" */
	size_t repo;			/* index of its [repo] in the configuration, or RECORD_NO_REPO */
	long number;
	char *title, *body;
	struct issue_ref *deps;
	size_t ndeps;
	int attempts;			/* attempts that counted, the last one included */
	int64_t created;
	int64_t retry_at;
	bool in_source;
	const char *pool;		/* its own [pool] (interned), or NULL for its repo's */
	struct attempt at;		/* the attempt in flight, or the last */
	pid_t pid;			/* its worker */
	bool evaluating;		/* its worker crashed; pid is the recovery child's */
	bool merged;
	char *final;			/* the commit that landed, or NULL */
	int64_t agent_ms, wasted_ms;	/* of every attempt, as the store has them */
	struct record_pr *pr;		/* land = pr: from its first push on, else NULL */
	double budget_usd;		/* spent against [budget] per_issue since its last retry */
	int64_t budget_tokens;		/* likewise, tokens in + out */
};

struct records;

struct records *records_new(const struct config *cfg, struct store *store);
void records_free(struct records *r);
/* Bring in the store's issues: a record for each one not seen yet, the text
 * of each waiting one refreshed.  Records only grow: an index stays valid. */
void records_load(struct records *r);
/* A reloaded configuration: each record's repo found again by name; a record
 * whose repo is gone is out of the source until it comes back. */
void records_reconfigure(struct records *r, const struct config *cfg);

size_t records_count(const struct records *r);
/* Record i (i < records_count); valid until the next records_load. */
struct record *records_get(const struct records *r, size_t i);
/* The index of repo#number, or -1. */
long records_lookup(const struct records *r, const char *repo, long number);
/* The [repo] of a record, or NULL when it is not configured. */
const struct repo_conf *records_repo(const struct records *r, size_t i);

enum issue_state records_state(const struct records *r, size_t i);
/* Why it is in its state (dead, blocked, waiting out a backoff), or NULL. */
const char *records_reason(const struct records *r, size_t i);
/* sched_fire's alone (see above): the state and its reason (copied; NULL: none). */
void records_set_state(struct records *r, size_t i, enum issue_state st, const char *reason);
/* How many records are in state st. */
size_t records_in_state(const struct records *r, enum issue_state st);

/* Its issues row as memory has it (state, reason, attempts, retry time,
 * final commit): the row's one writer. */
void records_save(struct records *r, size_t i);
/* Its pulls row as memory has it (it has pushed). */
void records_save_pull(struct records *r, size_t i);

/* The log context of its lines: key, attempt, trace. */
struct log_ctx records_log(const struct records *r, size_t i);
/* Replace one of a record's strings (NULL or empty clears it). */
void records_set_str(char **slot, const char *value);

#endif
