/*
 * The scheduler's own state, shared by its files and no one else:
 * sched.c (the transition table, admission, timers, setup), sched_deps.c
 * (dependencies, the source, planning), sched_worker.c (what workers
 * report, an attempt's end, recovery) and sched_pr.c (land = pr: pushed
 * issues awaiting their merge).
 */
#ifndef WAVED_SCHED_INTERNAL_H
#define WAVED_SCHED_INTERNAL_H

#include <cJSON.h>

#include "common/heap.h"
#include "common/keymap.h"
#include "common/states.h"
#include "supervisor/cap.h"
#include "supervisor/recover.h"
#include "supervisor/sched.h"
#include "worker/worker.h"

/* land = pr (DESIGN.md section 18): an issue's pull request, once it has pushed. */
struct sched_pr {
	long number;			/* 0: not opened yet */
	char *url;
	char *head;			/* the head waved pushed last: the push's lease */
	char *kind;			/* what sent it back for the next round, or NULL */
	int round;			/* feedback rounds taken */
	int pushes;			/* attempts that ended pushed (not failures) */
	int64_t since;			/* ms since the epoch: awaiting its merge since */
	bool synced;			/* the pull request shows the last push (memory only) */
};

struct sched_issue {
	int64_t id;			/* row in the store */
	char *key;			/* "api#12" */
	size_t repo;			/* index into repos; SIZE_MAX: repo not configured */
	long number;
	char *title, *body;
	struct issue_ref *deps;
	size_t ndeps;
	enum issue_state state;
	int attempts;			/* attempts that counted, the last one included */
	char *reason;
	int64_t created;
	int64_t retry_at;
	long priority;
	bool in_source;
	const char *pool;		/* its own [pool] (interned), or NULL for its repo's */
	const char *flight_pool;	/* the pool whose slot its flight holds (interned), or NULL */
	size_t pending;			/* dependencies not done yet */
	size_t *dependents;
	size_t ndependents, dependents_cap;
	size_t pos;			/* in its repo's ready heap, or in the retry heap */
	/* The attempt in flight. */
	int attempt;
	char trace[TRACE_LEN + 1];
	int64_t attempt_id;
	int64_t attempt_ms;		/* its agent time: the sum of its phases */
	pid_t pid;			/* its worker */
	int tempfails;			/* its exits of 75 in a row (this run of the daemon) */
	char *base;			/* recorded at prepare, or NULL */
	enum resume_point resume;	/* set by recovery for the next admission */
	bool holds_slot;
	bool evaluating;		/* its worker crashed; pid is the recovery child's */
	bool merged;
	char *final;			/* the commit that landed, or NULL */
	int64_t agent_ms, wasted_ms;	/* of every attempt, as the store has them */
	struct sched_pr *pr;		/* land = pr: from its first push on, else NULL */
	double budget_usd;		/* spent against [budget] per_issue since its last retry */
	int64_t budget_tokens;		/* likewise, tokens in + out */
};

struct sched_repo {
	const struct repo_conf *conf;
	bool busy;			/* an issue holds the repo slot */
	struct heap ready;		/* issue indexes, by priority */
	size_t pos;			/* in the admit heap */
	int inflight;			/* its issues between admission and landing */
	long peak_kb;			/* recent peak resident size of its phases, 0: unknown */
	size_t conflicted;		/* an issue whose attempt failed on a conflict: the repo's
					 * next admission, once none is in flight; SIZE_MAX: none */
};

struct sched {
	const struct config *cfg;
	struct store *store;
	struct journal *journal;
	sched_start_fn *start;
	void *start_arg;
	struct sched_issue *v;
	size_t n, cap_v;
	struct keymap *index;		/* (repo, number) -> index into v */
	struct sched_repo *repos;
	size_t nrepos;
	struct heap admit;		/* free repos with ready issues */
	struct heap retry;		/* issues in retry_wait, by retry_at */
	struct cap cap;			/* the lever's hands; admission follows cap_effective */
	int effective_cap;		/* as last recorded */
	int *pool_inflight;		/* by [pool] index */
	int tempfail_row;		/* exits of 75 in a row, across issues */
	int64_t last_tempfail;		/* wall ms of the last, or of the last cooldown step */
	int inflight;
	int died;			/* issues that became dead in this run (--exit-on-error) */
	sched_memory_room_fn *memory_room;	/* may an admission start, memory-wise? */
	void *memory_arg;
	int awaiting;			/* issues awaiting their merge (land = pr) */
	sched_pushed_fn *pushed;
	void *pushed_arg;
	sched_gate_fn *gate;
	void *gate_arg;
	sched_evaluate_fn *evaluator;
	void *evaluator_arg;
	sched_outcome_fn *outcome_hook;
	void *outcome_arg;
	bool (*external)(const struct issue_ref *, void *);
	void *external_arg;
	sched_signal_fn *over_budget;	/* stops a worker whose issue passed its budget */
	void *over_budget_arg;
	int64_t budget_check_at;	/* wall ms: the day's window is looked at again */
};

#define NO_REPO SIZE_MAX

/*
 * What moves an issue from one state to another (DESIGN.md section 3).  The
 * table in sched.c says, for each input, from which states to which, and
 * the event that records it; sched_fire refuses anything else.
 */
enum sched_input {
	IN_SETTLE,		/* the plan says where a waiting issue belongs */
	IN_DEPS_DONE,		/* its last dependency is done */
	IN_DEP_FAILED,		/* a dependency is dead or blocked */
	IN_ADMIT,		/* a worker was started for it */
	IN_START_FAILED,	/* no worker could be started */
	IN_SLOT,		/* its worker entered review */
	IN_MERGE,		/* its worker queued to merge */
	IN_LANDED,		/* its work is on the agent branch */
	IN_FAILED,		/* the attempt failed; another comes after a backoff */
	IN_GAVE_UP,		/* the attempt failed and attempts are used up */
	IN_REQUEUE,		/* back in line: the daemon stopped, or recovery */
	IN_ORPHANED,		/* in flight in a repo no longer configured */
	IN_RESTART,		/* ready when the daemon stopped: the first sync decides */
	IN_BACKOFF_OVER,	/* its retry time came */
	IN_RETRY,		/* wavectl retry */
	IN_PUSHED,		/* land = pr: its branch is pushed for its pull request */
	IN_PR_MERGED,		/* a person merged its pull request */
	IN_PR_CLOSED,		/* a person closed it unmerged */
	IN_PR_FEEDBACK,		/* changes requested, or a check failed: a fix round */
	IN_COUNT
};

const char *sched_input_name(enum sched_input in);
/* Move issue i by input to state to (memory, heaps, store row, event);
 * false, logged and changing nothing, when the table does not allow it. */
bool sched_fire(struct sched *s, size_t i, enum sched_input in, enum issue_state to,
    const char *reason, cJSON *fields);

/* sched.c */
void set_str(char **slot, const char *value);
/* The [pool] an issue takes a slot of (its own, else its repo's); -1: none. */
long issue_pool(const struct sched *s, size_t i);
/* Release the pool slot an issue's flight holds. */
void pool_release(struct sched *s, size_t i);
cJSON *fields_str(const char *key, const char *value);
void repo_refresh(struct sched *s, size_t r);
void txn_event(struct sched *s, size_t issue, const char *name, cJSON *fields);
void unlist(struct sched *s, size_t i);

/* sched_cap.c */
/* The daemon row: pid, running, the cap and every hand's limit, for status. */
void daemon_row(struct sched *s, bool running);
/* An attempt ended: a tempfail counts toward the streak, anything else breaks it. */
void tempfail_seen(struct sched *s, bool tempfail);
/* When the tempfail limit steps up next (INT64_MAX: none held), and the step. */
int64_t cooldown_due(const struct sched *s);
void cooldown_tick(struct sched *s, int64_t now);

/* sched_deps.c */
long sched_lookup(const struct sched *s, const char *repo, long number);
size_t sched_repo_index(const struct sched *s, const char *name);
void sched_absorb_row(const struct store_issue_row *row, void *arg);
void block_dependents(struct sched *s, size_t i);
void release_dependents(struct sched *s, size_t i);

/* sched_worker.c */
void release_slot(struct sched *s, size_t i);
void attempt_failed(struct sched *s, size_t i, const char *outcome, const char *reason,
    bool counts);
void recovery_input(struct sched *s, size_t i, struct recover_input *in,
    struct store_marker *marker);
void apply_recovery(struct sched *s, size_t i, const struct recover_decision *d, bool counted);
/* The attempt is over, whatever its outcome: free its slots, record how it ended. */
void end_flight(struct sched *s, size_t i, const char *outcome, const char *reason);
/* Attempts that failed: the numbered ones less those that ended pushed. */
int attempts_spent(const struct sched_issue *is);
/* sched_budget.c: why the issue is past its budget (caller frees), or NULL. */
char *budget_issue_passed(const struct sched *s, const struct sched_issue *is);
/* A "usage" report of the issue's worker: recorded, and the budgets looked at. */
int budget_on_usage(struct sched *s, size_t i, const struct proto_msg *m);

/* sched_pr.c */
/* The worker pushed the issue's branch: it awaits its merge. */
void pr_pushed(struct sched *s, size_t i, const char *sha);
/* The pull request's row, as memory has it. */
void pr_save(struct sched *s, size_t i);
/* wavectl retry of a dead issue: its next pull request is a new one. */
void pr_forget(struct sched *s, size_t i);
/* The issue's pull request as the store has it (absorbing a row), and its end. */
void pr_absorb(struct sched_issue *is, const struct store_pull *row);
void pr_free(struct sched_issue *is);

#endif
