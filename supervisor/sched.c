#include "supervisor/sched_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/plan.h"
#include "common/util.h"
#include "supervisor/journal.h"
#include "supervisor/recover.h"

/* Replace a heap string (NULL or empty clears it). */
void
set_str(char **slot, const char *value)
{
	free(*slot);
	*slot = value && *value ? xstrdup(value) : NULL;
}

/* ---- ordering ---- */

/* Critical path first, then oldest, then by key: the same order as wavectl plan. */
static bool
issue_before(size_t a, size_t b, void *ctx)
{
	const struct sched *s = ctx;
	const struct sched_issue *x = &s->v[a], *y = &s->v[b];
	int c;

	if (x->priority != y->priority)
		return x->priority > y->priority;
	if (x->created != y->created)
		return x->created < y->created;
	if ((c = strcmp(s->repos[x->repo].conf->name, s->repos[y->repo].conf->name)) != 0)
		return c < 0;
	return x->number < y->number;
}

static void
issue_moved(size_t item, size_t pos, void *ctx)
{
	((struct sched *)ctx)->v[item].pos = pos;
}

/*
 * Across repos: the higher critical path first; of two equal ones, the repo
 * with more issues ready, for a repo is a chain of its own (one at a time),
 * and the longest such chain left to the end would run alone.
 */
static bool
repo_before(size_t a, size_t b, void *ctx)
{
	struct sched *s = ctx;
	size_t x = heap_top(&s->repos[a].ready), y = heap_top(&s->repos[b].ready);

	if (s->v[x].priority == s->v[y].priority && s->repos[a].ready.n != s->repos[b].ready.n)
		return s->repos[a].ready.n > s->repos[b].ready.n;
	return issue_before(x, y, ctx);
}

static void
repo_moved(size_t item, size_t pos, void *ctx)
{
	((struct sched *)ctx)->repos[item].pos = pos;
}

static bool
retry_before(size_t a, size_t b, void *ctx)
{
	const struct sched *s = ctx;

	return s->v[a].retry_at < s->v[b].retry_at;
}

/* Keep the repo's place in the admit heap true to its slot and its ready issues. */
long
issue_pool(const struct sched *s, size_t i)
{
	const struct sched_issue *is = &s->v[i];
	const char *name = is->pool ? is->pool :
	    is->repo != NO_REPO ? s->repos[is->repo].conf->pool : NULL;

	return name ? config_pool(s->cfg, name) : -1;
}

/* Is there a slot in the pool of the issue that would be its repo's next admission? */
static bool
pool_has_room(const struct sched *s, size_t i)
{
	long p = issue_pool(s, i);

	return p < 0 || s->pool_inflight[p] < s->cfg->pools[p].cap;
}

void
pool_release(struct sched *s, size_t i)
{
	struct sched_issue *is = &s->v[i];
	long p = is->flight_pool ? config_pool(s->cfg, is->flight_pool) : -1;

	is->flight_pool = NULL;
	if (p < 0)
		return;
	s->pool_inflight[p]--;
	/* Any repo may have its next issue waiting for this pool. */
	for (size_t r = 0; r < s->nrepos; r++)
		repo_refresh(s, r);
	daemon_row(s, true);
}

void
repo_refresh(struct sched *s, size_t r)
{
	struct sched_repo *repo = &s->repos[r];
	bool admissible = !repo->busy && repo->ready.n > 0;

	if (repo->conflicted != SIZE_MAX) {
		enum issue_state st = s->v[repo->conflicted].state;

		if (st != STATE_READY && st != STATE_RETRY_WAIT && st != STATE_QUEUED)
			repo->conflicted = SIZE_MAX;	/* dead, or retried by hand: no claim */
		else
			admissible = admissible && repo->inflight == 0 && st == STATE_READY;
	}
	/* The repo slot first, then the pool's: waiting for its pool, it holds no cap slot. */
	if (admissible)
		admissible = pool_has_room(s, repo->conflicted != SIZE_MAX ? repo->conflicted :
		    heap_top(&repo->ready));

	if (admissible && repo->pos == HEAP_NONE)
		heap_push(&s->admit, r);
	else if (admissible)
		heap_fix(&s->admit, repo->pos);
	else if (repo->pos != HEAP_NONE)
		heap_remove(&s->admit, repo->pos);
}


/* ---- the journal: a transition commits before anything follows from it ---- */

/* An event of the transaction the loop opened for what is being dispatched. */
void
txn_event(struct sched *s, size_t issue, const char *name, cJSON *fields)
{
	journal_event(s->journal, issue, name, fields);
}

static void
issue_ctx(size_t issue, struct log_ctx *ctx, void *arg)
{
	const struct sched_issue *i = &((struct sched *)arg)->v[issue];

	ctx->issue = i->key;
	ctx->attempt = i->attempt;
	ctx->trace = i->trace[0] ? i->trace : NULL;
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
	struct sched_issue *i = issue == JOURNAL_DAEMON ? NULL : &s->v[issue];
	bool done = strcmp(event, "done") == 0;

	if (i == NULL)
		return;
	if (done && i->repo != NO_REPO)
		recover_drop_branch(s->cfg, s->repos[i->repo].conf, i->number);
	if (s->outcome_hook && i->repo != NO_REPO && (done || strcmp(event, "dead") == 0)) {
		struct sched_outcome o = {
			.repo = s->repos[i->repo].conf->name, .number = i->number,
			.outcome = event, .attempts = i->attempts,
			.final = i->final, .reason = i->reason, .pr_url = i->pr ? i->pr->url : NULL,
			.trace = i->trace[0] ? i->trace : NULL,
		};
		s->outcome_hook(&o, s->outcome_arg);
	}
	if (s->pushed && strcmp(event, "pushed") == 0)
		s->pushed(issue, s->pushed_arg);
	if (s->gate && state_in_flight(i->state) && i->pid > 0 &&
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
sched_set_evaluator(struct sched *s, sched_evaluate_fn *fn, void *arg)
{
	s->evaluator = fn;
	s->evaluator_arg = arg;
}

bool
sched_can_act(const struct sched *s)
{
	return !journal_down(s->journal);
}

void
sched_set_outcome_hook(struct sched *s, sched_outcome_fn *fn, void *arg)
{
	s->outcome_hook = fn;
	s->outcome_arg = arg;
}

void
sched_set_external(struct sched *s, bool (*satisfied)(const struct issue_ref *, void *), void *arg)
{
	s->external = satisfied;
	s->external_arg = arg;
}

cJSON *
fields_str(const char *key, const char *value)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, key, value);
	return o;
}



/* Take the issue out of whatever heap it is in. */
void
unlist(struct sched *s, size_t i)
{
	struct sched_issue *is = &s->v[i];

	if (is->pos == HEAP_NONE)
		return;
	if (is->state == STATE_READY) {
		heap_remove(&s->repos[is->repo].ready, is->pos);
		repo_refresh(s, is->repo);
	} else if (is->state == STATE_RETRY_WAIT)
		heap_remove(&s->retry, is->pos);
}

/* ---- the transition table (DESIGN.md section 3) ---- */

#define FROM(st) (1u << (st))
#define WAITING (FROM(STATE_QUEUED) | FROM(STATE_READY) | FROM(STATE_BLOCKED))
#define IN_FLIGHT (FROM(STATE_RUNNING) | FROM(STATE_REVIEW) | FROM(STATE_MERGING))

/* input x state -> state, and the event that records it (NULL: none). */
static const struct transition {
	enum sched_input in;
	unsigned from;
	enum issue_state to;
	const char *event;
} transitions[] = {
	{ IN_SETTLE, WAITING, STATE_QUEUED, "queued" },
	{ IN_SETTLE, WAITING, STATE_READY, "ready" },
	{ IN_SETTLE, WAITING, STATE_BLOCKED, "blocked" },
	{ IN_DEPS_DONE, FROM(STATE_QUEUED), STATE_READY, "ready" },
	{ IN_DEP_FAILED, WAITING | FROM(STATE_RETRY_WAIT), STATE_BLOCKED, "blocked" },
	{ IN_ADMIT, FROM(STATE_READY), STATE_RUNNING, "admitted" },
	{ IN_START_FAILED, FROM(STATE_READY), STATE_RETRY_WAIT, "retry_scheduled" },
	{ IN_SLOT, FROM(STATE_RUNNING), STATE_REVIEW, NULL },
	{ IN_MERGE, FROM(STATE_RUNNING) | FROM(STATE_REVIEW), STATE_MERGING, NULL },
	{ IN_LANDED, IN_FLIGHT, STATE_DONE, "done" },
	{ IN_FAILED, IN_FLIGHT, STATE_RETRY_WAIT, "retry_scheduled" },
	{ IN_GAVE_UP, IN_FLIGHT | FROM(STATE_AWAITING_MERGE), STATE_DEAD, "dead" },
	{ IN_REQUEUE, IN_FLIGHT, STATE_READY, "ready" },
	{ IN_REQUEUE, IN_FLIGHT, STATE_QUEUED, NULL },
	{ IN_ORPHANED, IN_FLIGHT, STATE_QUEUED, "recovered" },
	{ IN_RESTART, FROM(STATE_READY), STATE_QUEUED, NULL },
	{ IN_BACKOFF_OVER, FROM(STATE_RETRY_WAIT), STATE_READY, "ready" },
	{ IN_BACKOFF_OVER, FROM(STATE_RETRY_WAIT), STATE_QUEUED, "queued" },
	{ IN_RETRY, FROM(STATE_DEAD) | FROM(STATE_BLOCKED), STATE_QUEUED, "queued" },
	{ IN_PUSHED, IN_FLIGHT, STATE_AWAITING_MERGE, "pushed" },
	{ IN_PR_MERGED, FROM(STATE_AWAITING_MERGE), STATE_DONE, "done" },
	{ IN_PR_CLOSED, FROM(STATE_AWAITING_MERGE), STATE_DEAD, "dead" },
	{ IN_PR_FEEDBACK, FROM(STATE_AWAITING_MERGE), STATE_READY, "ready" },
	{ IN_PR_FEEDBACK, FROM(STATE_AWAITING_MERGE), STATE_QUEUED, "queued" },
};

const char *
sched_input_name(enum sched_input in)
{
	static const char *const names[IN_COUNT] = {
		"settle", "deps_done", "dep_failed", "admit", "start_failed", "slot", "merge",
		"landed", "failed", "gave_up", "requeue", "orphaned", "restart", "backoff_over",
		"retry", "pushed", "pr_merged", "pr_closed", "pr_feedback",
	};

	return in < IN_COUNT ? names[in] : "?";
}

/*
 * The one place an issue changes state: memory, heaps, the store row and
 * the transition's event, in the open transaction.
 */
bool
sched_fire(struct sched *s, size_t i, enum sched_input in, enum issue_state to,
    const char *reason, cJSON *fields)
{
	struct sched_issue *is = &s->v[i];
	const struct transition *t = NULL;

	for (size_t k = 0; k < ARRAY_LEN(transitions) && t == NULL; k++)
		if (transitions[k].in == in && transitions[k].to == to &&
		    (transitions[k].from & FROM(is->state)))
			t = &transitions[k];
	if (t == NULL) {
		log_warnx("%s: illegal transition refused: %s --%s--> %s", is->key,
		    state_name(is->state), sched_input_name(in), state_name(to));
		cJSON_Delete(fields);
		return false;
	}
	unlist(s, i);
	s->awaiting += (to == STATE_AWAITING_MERGE) - (is->state == STATE_AWAITING_MERGE);
	s->died += to == STATE_DEAD;
	is->state = to;
	free(is->reason);
	is->reason = reason ? xstrdup(reason) : NULL;
	if (to == STATE_READY && is->in_source && is->repo != NO_REPO) {
		heap_push(&s->repos[is->repo].ready, i);
		repo_refresh(s, is->repo);
	} else if (to == STATE_RETRY_WAIT)
		heap_push(&s->retry, i);
	store_set_state(s->store, is->id, state_name(to), reason);
	if (t->event)
		txn_event(s, i, t->event, fields);
	else
		cJSON_Delete(fields);
	return true;
}

static pid_t
launch(struct sched *s, size_t i)
{
	struct sched_issue *is = &s->v[i];
	long pool = issue_pool(s, i);
	struct sched_job job = {
		.issue = i, .key = is->key, .repo = s->repos[is->repo].conf,
		.number = is->number, .title = is->title, .body = is->body,
		.attempt = is->attempt, .trace = is->trace, .resume = is->resume,
		.base = is->base, .pool = pool >= 0 ? s->cfg->pools[pool].name : NULL,
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
	struct sched_issue *is = &s->v[i];
	const char *why = "could not fork a worker";
	cJSON *f = fields_str("reason", why), *r = cJSON_CreateObject();

	is->attempt_id = store_attempt_begin(s->store, is->id, is->attempt, is->trace, 0);
	store_attempt_end(s->store, is->attempt_id, "tempfail", why);
	cJSON_AddStringToObject(f, "outcome", "tempfail");
	txn_event(s, i, "failed", f);
	is->retry_at = now_ms() + (int64_t)s->cfg->retry_backoff * 1000;
	store_set_retry_at(s->store, is->id, is->retry_at);
	cJSON_AddNumberToObject(r, "backoff_ms", (double)s->cfg->retry_backoff * 1000);
	cJSON_AddBoolToObject(r, "counted", false);
	sched_fire(s, i, IN_START_FAILED, STATE_RETRY_WAIT, why, r);
}

static void
admit_one(struct sched *s, size_t r)
{
	struct sched_repo *repo = &s->repos[r];
	size_t i = repo->conflicted != SIZE_MAX ? repo->conflicted : heap_top(&repo->ready);
	struct sched_issue *is = &s->v[i];
	cJSON *f;
	pid_t pid;

	repo->conflicted = SIZE_MAX;
	/* A resumed attempt goes on under its number and trace; else a new one. */
	if (is->resume == RESUME_NONE) {
		is->attempt = is->attempts + 1;
		trace_id_new(is->trace);
		set_str(&is->base, NULL);
		is->attempt_ms = 0;
	}
	is->merged = false;
	set_str(&is->final, NULL);
	unlist(s, i);		/* out of the ready heap before the fork */
	pid = launch(s, i);
	if (pid == -1) {
		log_issue_warnx(&(struct log_ctx){ is->key, is->attempt, is->trace },
		    "cannot start a worker");
		start_failed(s, i);
		return;
	}
	s->inflight++;
	repo->inflight++;
	long pool = issue_pool(s, i);
	if (pool >= 0) {
		s->pool_inflight[pool]++;
		is->flight_pool = repo_intern(s->cfg->pools[pool].name);
		for (size_t k = 0; k < s->nrepos; k++)
			repo_refresh(s, k);
		daemon_row(s, true);
	}
	is->pid = pid;
	is->holds_slot = true;
	s->repos[r].busy = true;
	repo_refresh(s, r);
	is->attempt_id = store_attempt_begin(s->store, is->id, is->attempt, is->trace, pid);
	f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "pid", pid);
	cJSON_AddStringToObject(f, "repo", s->repos[r].conf->name);
	cJSON_AddNumberToObject(f, "inflight", s->inflight);
	cJSON_AddNumberToObject(f, "effective_cap", s->effective_cap);
	sched_fire(s, i, IN_ADMIT, STATE_RUNNING, NULL, f);
}

void
sched_admit(struct sched *s)
{
	while (s->inflight < s->effective_cap && s->admit.n > 0 && sched_can_act(s)) {
		size_t r = heap_top(&s->admit);

		/* Read at the moment of each admission: two admitted in the same
		 * instant must not both start below the floor. */
		if (s->memory_room && !s->memory_room(s->repos[r].peak_kb, s->memory_arg)) {
			sched_memory_low(s, true);
			return;
		}
		admit_one(s, r);
	}
}

void
sched_set_memory_room(struct sched *s, sched_memory_room_fn *fn, void *arg)
{
	s->memory_room = fn;
	s->memory_arg = arg;
}

long
sched_next_peak_kb(const struct sched *s)
{
	return s->admit.n > 0 ? s->repos[heap_top(&s->admit)].peak_kb : 0;
}

/* ---- timers ---- */

int64_t
sched_next_deadline(const struct sched *s)
{
	size_t top = heap_top(&s->retry);
	int64_t next = top == HEAP_NONE ? INT64_MAX : s->v[top].retry_at;

	return cooldown_due(s) < next ? cooldown_due(s) : next;
}

void
sched_tick(struct sched *s, int64_t now)
{
	size_t top;

	cooldown_tick(s, now);
	if ((top = heap_top(&s->retry)) == HEAP_NONE || s->v[top].retry_at > now)
		return;
	while ((top = heap_top(&s->retry)) != HEAP_NONE && s->v[top].retry_at <= now)
		sched_fire(s, top, IN_BACKOFF_OVER, s->v[top].pending ? STATE_QUEUED : STATE_READY,
		    NULL, NULL);
}

int
sched_cap(const struct sched *s)
{
	return s->cap.configured;
}

int
sched_effective_cap(const struct sched *s)
{
	return s->effective_cap;
}

int
sched_inflight(const struct sched *s)
{
	return s->inflight;
}

void
sched_set_running(struct sched *s, bool running)
{
	daemon_row(s, running);
}

/* ---- setup ---- */

static void
repos_build(struct sched *s, const struct config *cfg)
{
	s->nrepos = cfg->nrepos;
	s->repos = xcalloc(s->nrepos, sizeof(*s->repos));
	for (size_t r = 0; r < s->nrepos; r++) {
		s->repos[r].conf = &cfg->repos[r];
		s->repos[r].pos = HEAP_NONE;
		s->repos[r].conflicted = SIZE_MAX;
		heap_init(&s->repos[r].ready, issue_before, issue_moved, s);
	}
}

struct sched *
sched_new(const struct config *cfg, struct store *store, struct journal *journal, int cap,
    sched_start_fn *start, void *arg)
{
	struct sched *s = xcalloc(1, sizeof(*s));

	s->cfg = config_hold(cfg);
	s->store = store;
	s->journal = journal;
	s->pool_inflight = xcalloc(cfg->npools + 1, sizeof(int));
	journal_set_hooks(journal, issue_ctx, committed, s);
	s->start = start;
	s->start_arg = arg;
	s->index = keymap_new(64);
	cap_init(&s->cap, cap);
	s->effective_cap = cap;
	repos_build(s, cfg);
	heap_init(&s->admit, repo_before, repo_moved, s);
	heap_init(&s->retry, retry_before, issue_moved, s);
	if (store_sync_repos(store, cfg) == -1)
		log_warnx("store: cannot record the repos");
	store_each_issue(store, sched_absorb_row, s);
	return s;
}

void
sched_free(struct sched *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].title);
		free(s->v[i].body);
		free(s->v[i].deps);
		free(s->v[i].reason);
		free(s->v[i].dependents);
		free(s->v[i].key);
		free(s->v[i].base);
		free(s->v[i].final);
		pr_free(&s->v[i]);
	}
	for (size_t r = 0; r < s->nrepos; r++)
		heap_free(&s->repos[r].ready);
	heap_free(&s->admit);
	heap_free(&s->retry);
	free(s->repos);
	free(s->v);
	keymap_free(s->index);
	config_release(s->cfg);
	free(s->pool_inflight);
	free(s);
}

bool
sched_reconfigure(struct sched *s, const struct config *cfg, char **why)
{
	/* A repo with work in flight must stay: its worker is using it. */
	for (size_t i = 0; i < s->n; i++) {
		struct sched_issue *is = &s->v[i];

		if (state_in_flight(is->state) && is->repo != NO_REPO &&
		    config_repo(cfg, s->repos[is->repo].conf->name) == NULL) {
			*why = xasprintf("repo \"%s\" cannot be removed while %s is in flight",
			    s->repos[is->repo].conf->name, is->key);
			return false;
		}
	}
	/* Re-home every issue on the new repo table, then rebuild the ready heaps. */
	size_t *names = xcalloc(s->n, sizeof(size_t));
	struct sched_repo *old = s->repos;
	size_t nold = s->nrepos;

	for (size_t i = 0; i < s->n; i++) {
		names[i] = s->v[i].repo;
		s->v[i].pos = HEAP_NONE;
	}
	heap_free(&s->admit);
	heap_init(&s->admit, repo_before, repo_moved, s);
	repos_build(s, cfg);
	for (size_t i = 0; i < s->n; i++) {
		struct sched_issue *is = &s->v[i];

		is->repo = names[i] == NO_REPO ? NO_REPO : sched_repo_index(s, old[names[i]].conf->name);
		if (is->repo == NO_REPO) {
			is->in_source = false;	/* out of the plan until its repo is back */
			continue;
		}
		if (is->holds_slot)
			s->repos[is->repo].busy = true;
		if (state_in_flight(is->state))
			s->repos[is->repo].inflight++;
	}
	for (size_t r = 0; r < nold; r++)
		heap_free(&old[r].ready);
	free(old);
	free(names);
	heap_free(&s->retry);
	heap_init(&s->retry, retry_before, issue_moved, s);
	for (size_t i = 0; i < s->n; i++) {
		struct sched_issue *is = &s->v[i];

		if (is->state == STATE_READY && is->in_source && is->repo != NO_REPO)
			heap_push(&s->repos[is->repo].ready, i);
		else if (is->state == STATE_RETRY_WAIT)
			heap_push(&s->retry, i);
	}
	config_release(s->cfg);
	s->cfg = config_hold(cfg);
	/* The pools of the new configuration, counted again from the flights. */
	free(s->pool_inflight);
	s->pool_inflight = xcalloc(cfg->npools + 1, sizeof(int));
	for (size_t i = 0; i < s->n; i++) {
		long p = s->v[i].flight_pool ? config_pool(cfg, s->v[i].flight_pool) : -1;

		if (p >= 0)
			s->pool_inflight[p]++;
		else
			s->v[i].flight_pool = NULL;
	}
	for (size_t r = 0; r < s->nrepos; r++)
		repo_refresh(s, r);
	store_sync_repos(s->store, cfg);
	return true;
}

/* Before the loop starts: git is asked here, each in-flight issue in turn. */
void
sched_recover(struct sched *s)
{
	struct recover_decision d;
	struct recover_input in;
	struct store_marker marker;

	for (size_t i = 0; i < s->n; i++) {
		struct sched_issue *is = &s->v[i];

		if (state_in_flight(is->state) && is->repo != NO_REPO) {
			/* Its worker belonged to the dead supervisor: let it end first. */
			recover_reap_orphan(s->cfg, s->repos[is->repo].conf, is->number, is->pid);
			recovery_input(s, i, &in, &marker);
			recover_evaluate(&in, &d);
			recover_carry_out(&in, &d);
			apply_recovery(s, i, &d, false);
		} else if (state_in_flight(is->state)) {
			sched_fire(s, i, IN_ORPHANED, STATE_QUEUED, NULL, fields_str("action", "reset"));
		} else if (is->state == STATE_RETRY_WAIT && is->pos == HEAP_NONE)
			heap_push(&s->retry, i);
		else if (is->state == STATE_READY)
			sched_fire(s, i, IN_RESTART, STATE_QUEUED, NULL, NULL);	/* sync decides again */
	}
}

bool
sched_settled(const struct sched *s)
{
	/* Paused with work waiting is not settled: the operator may resume; nor
	 * is a pull request awaiting its merge: a person may merge it. */
	return s->inflight == 0 && s->retry.n == 0 && s->admit.n == 0 && s->awaiting == 0;
}

int
sched_died(const struct sched *s)
{
	return s->died;
}

bool
sched_all_done(const struct sched *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].in_source && s->v[i].state != STATE_DONE)
			return false;
	return true;
}

const char *
sched_issue_key(const struct sched *s, size_t issue)
{
	return s->v[issue].key;
}
