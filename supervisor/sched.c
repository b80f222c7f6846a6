#include "supervisor/sched.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/admission.h"
#include "supervisor/attempts.h"
#include "supervisor/deps.h"
#include "supervisor/journal.h"
#include "supervisor/records.h"
#include "supervisor/recover.h"
#include "supervisor/runq.h"

/* What an issue's flight holds in this run of the daemon (a flight a
 * previous run left holds nothing here, and frees nothing). */
struct hold {
	bool flying;			/* a cap slot */
	bool repo_slot;			/* ... and its repo's slot */
	const char *pool;		/* the pool whose slot it holds (interned), or NULL */
};

struct sched {
	const struct config *cfg;
	struct store *store;
	struct journal *journal;
	struct admission *adm;		/* the supervisor's: who may start */
	struct records *records;	/* the issues, by index */
	struct runq *runq;		/* who is admitted next */
	struct deps *deps;		/* who waits for whom */
	struct hold *holds;		/* by record */
	size_t nholds;
	int inflight;
	int died;			/* issues that became dead in this run (--exit-on-error) */
	sched_start_fn *start;
	void *start_arg;
	sched_gate_fn *gate;
	void *gate_arg;
	sched_pushed_fn *pushed;
	void *pushed_arg;
	sched_outcome_fn *outcome_hook;
	void *outcome_arg;
	sched_evaluate_fn *evaluator;
	void *evaluator_arg;
	sched_signal_fn *over_budget;	/* stops a worker whose issue passed its budget */
	void *over_budget_arg;
	bool (*external)(const struct issue_ref *, void *);
	void *external_arg;
};

struct record *
sched_record(const struct sched *s, size_t i)
{
	return records_get(s->records, i);
}

static enum issue_state
state_of(const struct sched *s, size_t i)
{
	return records_state(s->records, i);
}

/* ---- the table (DESIGN.md section 3) ---- */

#define FROM(st) (1u << (st))
#define WAITING (FROM(STATE_QUEUED) | FROM(STATE_READY) | FROM(STATE_BLOCKED))
#define IN_FLIGHT (FROM(STATE_RUNNING) | FROM(STATE_REVIEW) | FROM(STATE_MERGING))

/*
 * (state, input) -> state, and the event that records the move (NULL: none;
 * a move back in line has one for ready and one for queued).  What entering
 * and leaving a state means is enter() and leave() below.
 */
static const struct row {
	enum sched_input in;
	unsigned from;
	int to;
	const char *event, *event_queued;
} table[] = {
	{ IN_SETTLE, WAITING, SCHED_IN_LINE, "ready", "queued" },
	{ IN_DEPS_DONE, FROM(STATE_QUEUED), STATE_READY, "ready", NULL },
	{ IN_BLOCKED, WAITING | FROM(STATE_RETRY_WAIT), STATE_BLOCKED, "blocked", NULL },
	{ IN_ADMIT, FROM(STATE_READY), STATE_RUNNING, "admitted", NULL },
	{ IN_START_FAILED, FROM(STATE_READY), STATE_RETRY_WAIT, "retry_scheduled", NULL },
	{ IN_SLOT, FROM(STATE_RUNNING), STATE_REVIEW, NULL, NULL },
	{ IN_MERGE, FROM(STATE_RUNNING) | FROM(STATE_REVIEW), STATE_MERGING, NULL, NULL },
	{ IN_LANDED, IN_FLIGHT, STATE_DONE, "done", NULL },
	{ IN_FAILED, IN_FLIGHT, STATE_RETRY_WAIT, "retry_scheduled", NULL },
	{ IN_GAVE_UP, IN_FLIGHT | FROM(STATE_AWAITING_MERGE), STATE_DEAD, "dead", NULL },
	{ IN_REQUEUE, IN_FLIGHT, SCHED_IN_LINE, "ready", NULL },
	{ IN_ORPHANED, IN_FLIGHT, STATE_QUEUED, "recovered", NULL },
	{ IN_RESTART, FROM(STATE_READY), STATE_QUEUED, NULL, NULL },
	{ IN_BACKOFF_OVER, FROM(STATE_RETRY_WAIT), SCHED_IN_LINE, "ready", "queued" },
	{ IN_RETRY, FROM(STATE_DEAD) | FROM(STATE_BLOCKED), STATE_QUEUED, "queued", NULL },
	{ IN_PUSHED, IN_FLIGHT, STATE_AWAITING_MERGE, "pushed", NULL },
	{ IN_PR_MERGED, FROM(STATE_AWAITING_MERGE), STATE_DONE, "done", NULL },
	{ IN_PR_CLOSED, FROM(STATE_AWAITING_MERGE), STATE_DEAD, "dead", NULL },
	{ IN_PR_FEEDBACK, FROM(STATE_AWAITING_MERGE), SCHED_IN_LINE, "ready", "queued" },
};

const char *
sched_input_name(enum sched_input in)
{
	static const char *const names[IN_COUNT] = {
		"settle", "deps_done", "blocked", "admit", "start_failed", "slot", "merge",
		"landed", "failed", "gave_up", "requeue", "orphaned", "restart", "backoff_over",
		"retry", "pushed", "pr_merged", "pr_closed", "pr_feedback",
	};

	return in < IN_COUNT ? names[in] : "?";
}

static const struct row *
row_of(enum issue_state from, enum sched_input in)
{
	for (size_t k = 0; k < ARRAY_LEN(table); k++)
		if (table[k].in == in && (table[k].from & FROM(from)))
			return &table[k];
	return NULL;
}

bool
sched_table(enum issue_state from, enum sched_input in, int *to)
{
	const struct row *r = row_of(from, in);

	if (r)
		*to = r->to;
	return r != NULL;
}

/* ---- flights: the slots an admitted issue holds ---- */

/* The issue gives back its repo slot (entering review, or leaving flight). */
static void
release_repo_slot(struct sched *s, size_t i)
{
	struct hold *h = &s->holds[i];

	if (!h->repo_slot)
		return;
	h->repo_slot = false;
	runq_repo_busy(s->runq, sched_record(s, i)->repo, false);
}

/* Entering flight: a cap slot, its repo's slot, its pool's. */
static void
take_slots(struct sched *s, size_t i)
{
	struct hold *h = &s->holds[i];
	size_t repo = sched_record(s, i)->repo;
	long pool = runq_pool(s->runq, i);

	if (h->flying || repo == RECORD_NO_REPO)
		return;
	h->flying = true;
	s->inflight++;
	runq_repo_flights(s->runq, repo, +1);
	if (pool >= 0) {
		admission_pool_take(s->adm, pool);
		h->pool = repo_intern(admission_pool_name(s->adm, pool));
		runq_refresh(s->runq);
	}
	h->repo_slot = true;
	runq_repo_busy(s->runq, repo, true);
}

/* Leaving flight (or the daemon stopping with it in flight): every slot back. */
static void
free_slots(struct sched *s, size_t i)
{
	struct hold *h = &s->holds[i];
	long pool = admission_pool(s->adm, h->pool);

	if (!h->flying)
		return;
	release_repo_slot(s, i);
	h->flying = false;
	s->inflight--;
	runq_repo_flights(s->runq, sched_record(s, i)->repo, -1);
	h->pool = NULL;
	if (pool >= 0) {
		admission_pool_release(s->adm, pool);
		runq_refresh(s->runq);	/* any repo may have its next issue waiting for it */
	}
}

/* ---- dependents ---- */

static bool
may_block(size_t w, void *arg)
{
	const struct sched *s = arg;

	return state_waiting(state_of(s, w)) && state_of(s, w) != STATE_BLOCKED;
}

/* Entering dead: every waiting dependent, and theirs, is blocked, naming the dependency. */
static void
block_dependents(struct sched *s, size_t i)
{
	struct deps_hit *hits;
	size_t n = deps_spread(s->deps, &i, 1, may_block, s, &hits);

	for (size_t k = 0; k < n; k++) {
		size_t by = hits[k].by;
		char *why = xasprintf("dependency %s is %s", sched_record(s, by)->key,
		    state_name(state_of(s, by)));

		sched_fire(s, hits[k].issue, IN_BLOCKED, why, sched_fields("reason", why));
		free(why);
	}
	free(hits);
}

/* Entering done: dependents with nothing else to wait for become ready. */
static void
release_dependents(struct sched *s, size_t i)
{
	size_t *freed, n = deps_done(s->deps, i, &freed);

	for (size_t k = 0; k < n; k++)
		if (state_of(s, freed[k]) == STATE_QUEUED)
			sched_fire(s, freed[k], IN_DEPS_DONE, NULL, NULL);
	free(freed);
}

/* ---- moves ---- */

static void
leave(struct sched *s, size_t i, enum issue_state from, enum issue_state to)
{
	runq_unlist(s->runq, i);
	if (state_in_flight(from) && !state_in_flight(to))
		free_slots(s, i);
}

static void
enter(struct sched *s, size_t i, enum issue_state from)
{
	runq_list(s->runq, i);
	switch (state_of(s, i)) {
	case STATE_RUNNING:
		if (!state_in_flight(from))
			take_slots(s, i);
		break;
	case STATE_REVIEW:
		/* The repo's next issue may start while this one is reviewed (rule 1). */
		if (!s->cfg->hold_repo_during_review) {
			release_repo_slot(s, i);
			sched_event(s, i, "slot_released", NULL);
		}
		break;
	case STATE_DONE:
		release_dependents(s, i);
		break;
	case STATE_DEAD:
		s->died++;
		block_dependents(s, i);
		break;
	default:
		break;
	}
}

bool
sched_fire(struct sched *s, size_t i, enum sched_input in, const char *reason, cJSON *fields)
{
	const struct record *is = sched_record(s, i);
	enum issue_state from = state_of(s, i), to;
	const struct row *r = row_of(from, in);
	const char *event;

	if (r == NULL) {
		log_warnx("%s: illegal transition refused: %s --%s-->", is->key,
		    state_name(from), sched_input_name(in));
		cJSON_Delete(fields);
		return false;
	}
	to = r->to != SCHED_IN_LINE ? (enum issue_state)r->to :
	    deps_pending(s->deps, i) == 0 && is->in_source ? STATE_READY : STATE_QUEUED;
	event = to == STATE_QUEUED && r->to == SCHED_IN_LINE ? r->event_queued : r->event;
	/* Settling where it already waits is no move. */
	if (to == from && r->to == SCHED_IN_LINE) {
		cJSON_Delete(fields);
		return true;
	}
	leave(s, i, from, to);
	records_set_state(s->records, i, to, reason);
	records_save(s->records, i);
	if (event)
		sched_event(s, i, event, fields);
	else
		cJSON_Delete(fields);
	enter(s, i, from);
	return true;
}

/* ---- admission ---- */

static pid_t
launch(struct sched *s, size_t i)
{
	const struct record *is = sched_record(s, i);
	struct sched_job job = {
		.issue = i, .key = is->key, .repo = records_repo(s->records, i),
		.number = is->number, .title = is->title, .body = is->body,
		.attempt = is->at.number, .trace = is->at.trace, .resume = is->at.resume,
		.base = is->at.base, .pool = admission_pool_name(s->adm, runq_pool(s->runq, i)),
		.pr_head = is->pr ? is->pr->head : NULL,
		.pr_base = is->pr && is->pr->pushes > 0 ? is->pr->head : NULL,
		.pr_conflict = is->pr && is->pr->kind && strcmp(is->pr->kind, "conflict") == 0,
	};

	return s->start(&job, s->start_arg);
}

/* No worker could be forked: not the issue's fault, tried again after the backoff. */
static void
start_failed(struct sched *s, size_t i)
{
	struct record *is = sched_record(s, i);
	const char *why = "could not fork a worker";
	cJSON *f = sched_fields("reason", why), *r = cJSON_CreateObject();

	log_issue_warnx(&(struct log_ctx){ is->key, is->at.number, is->at.trace },
	    "cannot start a worker");
	attempt_begin(s->store, is->id, &is->at, 0);
	attempt_end(s->store, &is->at, "tempfail", why);
	cJSON_AddStringToObject(f, "outcome", "tempfail");
	cJSON_AddStringToObject(f, "cause", proto_cause_name(CAUSE_START));
	sched_event(s, i, "failed", f);
	is->retry_at = now_ms() + (int64_t)s->cfg->retry_backoff * 1000;
	cJSON_AddNumberToObject(r, "backoff_ms", (double)s->cfg->retry_backoff * 1000);
	cJSON_AddBoolToObject(r, "counted", false);
	sched_fire(s, i, IN_START_FAILED, why, r);
}

static void
admit_one(struct sched *s, size_t r)
{
	long priority = runq_repo_rank(s->runq, r);
	size_t i = runq_take(s->runq, r);
	struct record *is = sched_record(s, i);
	cJSON *f;
	pid_t pid;

	attempt_next(&is->at, is->attempts);
	is->merged = false;
	records_set_str(&is->final, NULL);
	runq_unlist(s->runq, i);	/* out of the ready heap before the fork */
	if ((pid = launch(s, i)) == -1) {
		start_failed(s, i);
		return;
	}
	is->pid = pid;
	attempt_begin(s->store, is->id, &is->at, pid);
	f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "pid", pid);
	cJSON_AddStringToObject(f, "repo", records_repo(s->records, i)->name);
	cJSON_AddNumberToObject(f, "inflight", s->inflight + 1);
	cJSON_AddNumberToObject(f, "effective_cap", admission_effective(s->adm));
	cJSON_AddNumberToObject(f, "priority", (double)priority);
	sched_fire(s, i, IN_ADMIT, NULL, f);
}

void
sched_admit(struct sched *s)
{
	size_t r;

	while (admission_open(s->adm, s->inflight) && (r = runq_next_repo(s->runq)) != SIZE_MAX &&
	    sched_can_act(s)) {
		/* Read at the moment of each admission: two admitted in the same
		 * instant must not both start below the floor. */
		if (!admission_memory_room(s->adm, runq_peak_kb(s->runq, r)))
			return;
		admit_one(s, r);
	}
}

long
sched_next_peak_kb(const struct sched *s)
{
	size_t r = runq_next_repo(s->runq);

	return r == SIZE_MAX ? 0 : runq_peak_kb(s->runq, r);
}

/* ---- timers ---- */

int64_t
sched_next_deadline(const struct sched *s)
{
	size_t top = runq_next_retry(s->runq);
	int64_t next = top == SIZE_MAX ? INT64_MAX : sched_record(s, top)->retry_at;
	int64_t cooldown = admission_cooldown_due(s->adm);

	return cooldown < next ? cooldown : next;
}

void
sched_tick(struct sched *s, int64_t now)
{
	size_t top;

	admission_tick(s->adm, now);
	while ((top = runq_next_retry(s->runq)) != SIZE_MAX && sched_record(s, top)->retry_at <= now)
		sched_fire(s, top, IN_BACKOFF_OVER, NULL, NULL);
}

/* ---- what the loop asks ---- */

long
sched_lookup(const struct sched *s, const char *repo, long number)
{
	return records_lookup(s->records, repo, number);
}

enum issue_state
sched_issue_state(const struct sched *s, size_t i)
{
	return state_of(s, i);
}

const char *
sched_issue_key(const struct sched *s, size_t issue)
{
	return sched_record(s, issue)->key;
}

bool
sched_can_act(const struct sched *s)
{
	return !journal_down(s->journal);
}

int
sched_inflight(const struct sched *s)
{
	return s->inflight;
}

bool
sched_waiting_for_slots(const struct sched *s)
{
	return runq_admissible(s->runq) > 0 || runq_retrying(s->runq) > 0;
}

int
sched_waiting(const struct sched *s)
{
	int waiting = 0;

	for (size_t i = 0; i < records_count(s->records); i++)
		waiting += sched_record(s, i)->in_source && (state_of(s, i) == STATE_QUEUED ||
		    state_of(s, i) == STATE_READY || state_of(s, i) == STATE_RETRY_WAIT);
	return waiting;
}

bool
sched_budget_stuck(const struct sched *s)
{
	return admission_budget_held(s->adm) && s->inflight == 0 &&
	    records_in_state(s->records, STATE_AWAITING_MERGE) == 0 &&
	    sched_waiting_for_slots(s);
}

bool
sched_settled(const struct sched *s)
{
	/* Paused with work waiting is not settled: the operator may resume; nor
	 * is a pull request awaiting its merge: a person may merge it. */
	return s->inflight == 0 && runq_retrying(s->runq) == 0 && runq_admissible(s->runq) == 0 &&
	    records_in_state(s->records, STATE_AWAITING_MERGE) == 0;
}

bool
sched_all_done(const struct sched *s)
{
	for (size_t i = 0; i < records_count(s->records); i++)
		if (sched_record(s, i)->in_source && state_of(s, i) != STATE_DONE)
			return false;
	return true;
}

int
sched_died(const struct sched *s)
{
	return s->died;
}

/* ---- for the scheduler's other files ---- */

struct records *
sched_records(const struct sched *s)
{
	return s->records;
}

const struct config *
sched_config(const struct sched *s)
{
	return s->cfg;
}

struct store *
sched_store(const struct sched *s)
{
	return s->store;
}

struct admission *
sched_admission(const struct sched *s)
{
	return s->adm;
}

struct runq *
sched_runq(const struct sched *s)
{
	return s->runq;
}

struct deps *
sched_deps(const struct sched *s)
{
	return s->deps;
}

void
sched_event(struct sched *s, size_t issue, const char *name, cJSON *fields)
{
	journal_event(s->journal, issue, name, fields);
}

cJSON *
sched_fields(const char *key, const char *value)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, key, value);
	return o;
}

void
sched_load(struct sched *s)
{
	size_t n;

	records_load(s->records);
	runq_grow(s->runq);
	n = records_count(s->records);
	if (n <= s->nholds)
		return;
	s->holds = xreallocarray(s->holds, n, sizeof(*s->holds));
	memset(s->holds + s->nholds, 0, (n - s->nholds) * sizeof(*s->holds));
	s->nholds = n;
}

void
sched_let_go(struct sched *s, size_t i)
{
	free_slots(s, i);
}

pid_t
sched_evaluate(struct sched *s, const struct recover_input *in, size_t i)
{
	return s->evaluator ? s->evaluator(in, i, s->evaluator_arg) : -1;
}

void
sched_over_budget(struct sched *s, pid_t pid)
{
	if (s->over_budget)
		s->over_budget(pid, s->over_budget_arg);
}

bool
sched_external_done(const struct sched *s, const struct issue_ref *dep)
{
	return s->external && s->external(dep, s->external_arg);
}

/* ---- the journal's hooks: what follows a committed event ---- */

static void
issue_ctx(size_t issue, struct log_ctx *ctx, void *arg)
{
	*ctx = records_log(((struct sched *)arg)->records, issue);
}

/*
 * What follows from a committed event: a landed issue's branch, its proof
 * until now, can go; the source hears of outcomes; a pushed issue's pull
 * request is opened; a worker waiting at its gate (admitted, or queued to
 * merge) may go on.
 */
static void
committed(const char *event, size_t issue, void *arg)
{
	struct sched *s = arg;
	const struct record *i = issue == JOURNAL_DAEMON ? NULL : sched_record(s, issue);
	const struct repo_conf *repo;
	bool done = strcmp(event, "done") == 0;

	if (i == NULL)
		return;
	repo = records_repo(s->records, issue);
	if (done && repo)
		recover_drop_branch(s->cfg, repo, i->number);
	if (s->outcome_hook && repo && (done || strcmp(event, "dead") == 0)) {
		struct sched_outcome o = {
			.repo = repo->name, .number = i->number,
			.outcome = event, .attempts = i->attempts,
			.final = i->final, .reason = records_reason(s->records, issue),
			.pr_url = i->pr ? i->pr->url : NULL,
			.trace = i->at.trace[0] ? i->at.trace : NULL,
		};
		s->outcome_hook(&o, s->outcome_arg);
	}
	if (s->pushed && strcmp(event, "pushed") == 0)
		s->pushed(issue, s->pushed_arg);
	if (s->gate && state_in_flight(state_of(s, issue)) && i->pid > 0 &&
	    (strcmp(event, "admitted") == 0 || strcmp(event, "merge_wait") == 0))
		s->gate(i->pid, s->gate_arg);
}

void
sched_set_gate(struct sched *s, sched_gate_fn *fn, void *arg)
{
	s->gate = fn;
	s->gate_arg = arg;
}

void
sched_set_pushed_hook(struct sched *s, sched_pushed_fn *fn, void *arg)
{
	s->pushed = fn;
	s->pushed_arg = arg;
}

void
sched_set_outcome_hook(struct sched *s, sched_outcome_fn *fn, void *arg)
{
	s->outcome_hook = fn;
	s->outcome_arg = arg;
}

void
sched_set_evaluator(struct sched *s, sched_evaluate_fn *fn, void *arg)
{
	s->evaluator = fn;
	s->evaluator_arg = arg;
}

void
sched_set_over_budget(struct sched *s, sched_signal_fn *fn, void *arg)
{
	s->over_budget = fn;
	s->over_budget_arg = arg;
}

void
sched_set_external(struct sched *s, bool (*satisfied)(const struct issue_ref *, void *), void *arg)
{
	s->external = satisfied;
	s->external_arg = arg;
}

/* ---- setup ---- */

struct sched *
sched_new(const struct config *cfg, struct store *store, struct journal *journal,
    struct admission *adm, sched_start_fn *start, void *arg)
{
	struct sched *s = xcalloc(1, sizeof(*s));

	s->cfg = config_hold(cfg);
	s->store = store;
	s->journal = journal;
	s->adm = adm;
	s->records = records_new(s->cfg, store);
	s->runq = runq_new(s->cfg, s->records, adm);
	s->deps = deps_new();
	s->start = start;
	s->start_arg = arg;
	journal_set_hooks(journal, issue_ctx, committed, s);
	if (store_sync_repos(store, cfg) == -1)
		log_warnx("store: cannot record the repos");
	sched_load(s);
	return s;
}

void
sched_free(struct sched *s)
{
	if (s == NULL)
		return;
	runq_free(s->runq);
	records_free(s->records);
	deps_free(s->deps);
	free(s->holds);
	config_release(s->cfg);
	free(s);
}

bool
sched_reconfigure(struct sched *s, const struct config *cfg, char **why)
{
	size_t n = records_count(s->records);

	/* A repo with work in flight must stay: its worker is using it. */
	for (size_t i = 0; i < n; i++) {
		const struct repo_conf *repo = records_repo(s->records, i);

		if (state_in_flight(state_of(s, i)) && repo && config_repo(cfg, repo->name) == NULL) {
			*why = xasprintf("repo \"%s\" cannot be removed while %s is in flight",
			    repo->name, sched_record(s, i)->key);
			return false;
		}
	}
	/* Re-home every issue on the new repo table, the pools counted again
	 * from the flights, then every issue listed again. */
	records_reconfigure(s->records, cfg);
	config_release(s->cfg);
	s->cfg = config_hold(cfg);
	admission_reconfigure(s->adm, s->cfg);
	for (size_t i = 0; i < n; i++) {
		long p = admission_pool(s->adm, s->holds[i].pool);

		if (p >= 0)
			admission_pool_take(s->adm, p);
		else
			s->holds[i].pool = NULL;
	}
	runq_reconfigure(s->runq, cfg);
	for (size_t i = 0; i < n; i++) {
		size_t repo = sched_record(s, i)->repo;

		if (repo == RECORD_NO_REPO)
			continue;
		if (s->holds[i].repo_slot)
			runq_repo_busy(s->runq, repo, true);
		if (s->holds[i].flying)
			runq_repo_flights(s->runq, repo, +1);
	}
	for (size_t i = 0; i < n; i++)
		runq_list(s->runq, i);
	runq_refresh(s->runq);
	store_sync_repos(s->store, cfg);
	return true;
}

/* After a start, before the first sync: an issue waiting out a backoff
 * waits again; one that was ready goes back to queued, for the first sync
 * to decide again. */
void
sched_restart(struct sched *s)
{
	for (size_t i = 0; i < records_count(s->records); i++)
		if (state_of(s, i) == STATE_RETRY_WAIT)
			runq_list(s->runq, i);
		else if (state_of(s, i) == STATE_READY)
			sched_fire(s, i, IN_RESTART, NULL, NULL);
}
