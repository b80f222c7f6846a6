/*
 * The scheduler: the issue state machine of DESIGN.md section 3 and the
 * admission rules of section 4.
 *
 * sched.c alone changes an issue's state, through one table of (state,
 * input) -> state with the actions of entering and leaving: entering done
 * releases the dependents, entering dead blocks them, entering flight takes
 * the repo, pool and cap slots and leaving it frees them.  Callers report
 * what happened; the table decides where the issue goes.  Everything runs in
 * the one transaction the loop opened for the event (supervisor/journal.h).
 *
 * The files of the scheduler, each calling only those below it:
 *   flight.c    what a worker in flight reports, its crash and recovery
 *   backlog.c   the source's issues brought in and planned; wavectl retry
 *   awaiting.c  land = pr: the pull requests' records and GitHub's news
 *   sched.c     the table, sched_fire, admission, the timers (this header)
 *   runq.c      who is admitted next: the ready heaps, the repos' slots
 *   records.c   the issue records and their rows in the store
 * beside deps.c (the dependency index), attempts.c (attempt bookkeeping)
 * and admission.c (who may start: the cap lever and its hands, pools,
 * memory, disk, budgets; the supervisor's, handed to sched_new).
 */
#ifndef WAVED_SCHED_H
#define WAVED_SCHED_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cJSON.h>

#include "common/config.h"
#include "common/issue.h"
#include "common/states.h"
#include "common/store.h"
#include "supervisor/recover.h"

struct admission;
struct deps;
struct journal;
struct records;
struct runq;
struct sched;

/* What a new worker needs to know about its attempt. */
struct sched_job {
	size_t issue;		/* the scheduler's handle for the issue */
	const char *key;
	const struct repo_conf *repo;
	long number;
	const char *title;
	const char *body;
	int attempt;
	const char *trace;
	int resume;		/* enum resume_point: RESUME_NONE for a fresh attempt */
	const char *base;	/* with resume: the attempt's base commit */
	const char *pool;	/* the [pool] whose slot it takes, or NULL */
	const char *pr_head;	/* land = pr: the head waved pushed last (the lease), or NULL */
	const char *pr_base;	/* land = pr: the head of its open pull request, to build on */
	bool pr_conflict;	/* land = pr: the round is to bring the base branch in */
};

/* Forks the worker; returns its pid or -1. */
typedef pid_t sched_start_fn(const struct sched_job *job, void *arg);

/* An issue reached done or dead (told after the store has it). */
struct sched_outcome {
	const char *repo;
	long number;
	const char *outcome;	/* "done" or "dead" */
	int attempts;
	const char *final;	/* done: the commit that landed */
	const char *reason;	/* dead: why */
	const char *pr_url;	/* land = pr: its pull request, or NULL */
	const char *trace;	/* the attempt that finished it, or NULL when not known */
};
typedef void sched_outcome_fn(const struct sched_outcome *o, void *arg);

/* adm is who may start (supervisor/admission.h), the supervisor's: the
 * scheduler asks it before each admission and tells it of flights and ends. */
struct sched *sched_new(const struct config *cfg, struct store *store,
    struct journal *journal, struct admission *adm, sched_start_fn *start, void *arg);
void sched_free(struct sched *s);
/* Follow a reloaded configuration (same state_dir); false when it cannot be applied. */
bool sched_reconfigure(struct sched *s, const struct config *cfg, char **why);
/* After a start, before the first sync: what a previous run left waiting
 * goes back in line (supervisor/flight.h's flight_recover: what it left in
 * flight). */
void sched_restart(struct sched *s);

/* Let the worker pid past its gate: its admission, or its place in the merge
 * queue, is committed (DESIGN.md section 5: commit or stop). */
typedef void sched_gate_fn(pid_t pid, void *arg);
void sched_set_gate(struct sched *s, sched_gate_fn *fn, void *arg);
/* land = pr (DESIGN.md section 18): told after the store has an issue's push,
 * so that its pull request is opened (supervisor/pulls.c). */
typedef void sched_pushed_fn(size_t issue, void *arg);
void sched_set_pushed_hook(struct sched *s, sched_pushed_fn *fn, void *arg);
/* Who hears of outcomes (the GitHub source reports them back). */
void sched_set_outcome_hook(struct sched *s, sched_outcome_fn *fn, void *arg);
/* Start a child that asks git what became of a crashed worker's attempt,
 * carries out the decision and answers "recovered"; its pid, or -1. */
typedef pid_t sched_evaluate_fn(const struct recover_input *in, size_t issue, void *arg);
void sched_set_evaluator(struct sched *s, sched_evaluate_fn *fn, void *arg);
/* The worker of an issue that passed [budget] per_issue is told to stop
 * (SIGUSR1: its attempt ends over_budget; DESIGN.md section 20). */
typedef void sched_signal_fn(pid_t pid, void *arg);
void sched_set_over_budget(struct sched *s, sched_signal_fn *fn, void *arg);
/* Who knows whether a dependency outside the configured repos is satisfied. */
void sched_set_external(struct sched *s, bool (*satisfied)(const struct issue_ref *, void *),
    void *arg);

/*
 * The table (DESIGN.md section 3).  An input is what happened to an issue;
 * the table says where that takes it from its state.
 */
enum sched_input {
	IN_SETTLE,		/* the plan says it waits in line */
	IN_DEPS_DONE,		/* its last dependency is done */
	IN_BLOCKED,		/* a cycle, an unknown dependency, or one dead or blocked */
	IN_ADMIT,		/* a worker was started for it */
	IN_START_FAILED,	/* no worker could be started */
	IN_SLOT,		/* its worker entered review */
	IN_MERGE,		/* its worker queued to merge */
	IN_LANDED,		/* its work is on the agent branch */
	IN_FAILED,		/* the attempt failed; another comes after a backoff */
	IN_GAVE_UP,		/* the attempt failed and attempts (or rounds) are used up */
	IN_REQUEUE,		/* back in line after recovery */
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
/* A target of the table: back in line, ready when nothing it depends on is
 * pending (and it is in the source), else queued. */
#define SCHED_IN_LINE STATE_COUNT

const char *sched_input_name(enum sched_input in);
/* Where input takes an issue from state from (a state, or SCHED_IN_LINE);
 * false: the table has no such move. */
bool sched_table(enum issue_state from, enum sched_input in, int *to);
/*
 * Report input for issue i: the table moves it, runs the actions of leaving
 * its state and entering the next, and records the move (its store row and
 * event, with reason and fields, which are taken).  false, logged and
 * changing nothing, when the table has no move.  The input's own
 * bookkeeping (an attempt's end, a pull request's row) is the caller's.
 */
bool sched_fire(struct sched *s, size_t i, enum sched_input in, const char *reason,
    cJSON *fields);

/* Admit ready issues while the cap allows. */
void sched_admit(struct sched *s);
/* The next retry time, or the tempfail cooldown's (ms since the epoch), or INT64_MAX. */
int64_t sched_next_deadline(const struct sched *s);
/* Move issues whose backoff is over back in line. */
void sched_tick(struct sched *s, int64_t now);

/* The store can be written: the scheduler may act on what it is told. */
bool sched_can_act(const struct sched *s);
/* The issue of repo#number (-1: none), its state, and its key (for the
 * process title and the log). */
long sched_lookup(const struct sched *s, const char *repo, long number);
enum issue_state sched_issue_state(const struct sched *s, size_t issue);
const char *sched_issue_key(const struct sched *s, size_t issue);
int sched_inflight(const struct sched *s);
/* The recent peak of the repo whose issue would be admitted next (KiB, 0: unknown). */
long sched_next_peak_kb(const struct sched *s);
/* Work is waiting for a slot: the memory floor is worth watching. */
bool sched_waiting_for_slots(const struct sched *s);
/* Issues of the source waiting in line: queued, ready or waiting out a backoff. */
int sched_waiting(const struct sched *s);
/* Nothing in flight and work waiting that only the day's budget holds back. */
bool sched_budget_stuck(const struct sched *s);
/* Nothing left that can move: no worker, no retry pending, nothing admissible. */
bool sched_settled(const struct sched *s);
/* Every issue of the source is done. */
bool sched_all_done(const struct sched *s);
/* How many issues became dead in this run. */
int sched_died(const struct sched *s);

/*
 * For the scheduler's other files (flight.c, backlog.c, awaiting.c), which
 * act through these and sched_fire; sched.c calls none of them.
 */
struct records *sched_records(const struct sched *s);
/* Issue i's record (records_get of sched_records). */
struct record *sched_record(const struct sched *s, size_t issue);
const struct config *sched_config(const struct sched *s);
struct store *sched_store(const struct sched *s);
struct admission *sched_admission(const struct sched *s);
struct runq *sched_runq(const struct sched *s);
/* The dependency index, rebuilt by each plan (backlog.c). */
struct deps *sched_deps(const struct sched *s);
/* An event of the transaction the loop opened; fields (may be NULL) is taken. */
void sched_event(struct sched *s, size_t issue, const char *name, cJSON *fields);
/* An event's fields, one string to begin with. */
cJSON *sched_fields(const char *key, const char *value);
/* Bring in the store's issues (records_load), with room for the new ones. */
void sched_load(struct sched *s);
/* Issue i's worker was asked to stop: it stays in flight in the store, as
 * after a kill -9, for the next start to resume; only this run's slots are
 * let go, with no move. */
void sched_let_go(struct sched *s, size_t i);
/* Start the recovery child of issue i's crashed worker (sched_set_evaluator's
 * hook); -1 when none could be started. */
pid_t sched_evaluate(struct sched *s, const struct recover_input *in, size_t i);
/* Tell worker pid its issue passed its budget (sched_set_over_budget's hook). */
void sched_over_budget(struct sched *s, pid_t pid);
/* A dependency outside the configured repos is satisfied (sched_set_external's hook). */
bool sched_external_done(const struct sched *s, const struct issue_ref *dep);

#endif
