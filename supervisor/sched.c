#include "supervisor/sched.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/heap.h"
#include "common/keymap.h"
#include "common/log.h"
#include "common/util.h"
#include "supervisor/cap.h"
#include "supervisor/journal.h"
#include "common/plan.h"
#include "supervisor/recover.h"
#include "worker/worker.h"

enum istate {
	IS_QUEUED,
	IS_READY,
	IS_RUNNING,
	IS_REVIEW,
	IS_MERGING,
	IS_RETRY_WAIT,
	IS_DONE,
	IS_DEAD,
	IS_BLOCKED,
	IS_COUNT
};

static const char *const state_names[IS_COUNT] = {
	"queued", "ready", "running", "review", "merging", "retry_wait", "done", "dead",
	"blocked"
};

struct sched_issue {
	int64_t id;			/* row in the store */
	char *key;			/* "api#12" */
	size_t repo;			/* index into repos; SIZE_MAX: repo not configured */
	long number;
	char *title, *body;
	struct issue_ref *deps;
	size_t ndeps;
	enum istate state;
	int attempts;			/* attempts that counted, the last one included */
	char *reason;
	int64_t created;
	int64_t retry_at;
	long priority;
	bool in_source;
	size_t pending;			/* dependencies not done yet */
	size_t *dependents;
	size_t ndependents, dependents_cap;
	size_t pos;			/* in its repo's ready heap, or in the retry heap */
	/* The attempt in flight. */
	int attempt;
	char trace[TRACE_LEN + 1];
	int64_t attempt_id;
	pid_t pid;			/* its worker */
	char *base;			/* recorded at prepare, or NULL */
	enum resume_point resume;	/* set by recovery for the next admission */
	bool holds_slot;
	bool merged;
	char *final;			/* the commit that landed, or NULL */
};

struct sched_repo {
	const struct repo_conf *conf;
	bool busy;			/* an issue holds the repo slot */
	struct heap ready;		/* issue indexes, by priority */
	size_t pos;			/* in the admit heap */
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
	int inflight;
	sched_gate_fn *gate;
	void *gate_arg;
	sched_outcome_fn *outcome_hook;
	void *outcome_arg;
	bool (*external)(const struct issue_ref *, void *);
	void *external_arg;
};

#define NO_REPO SIZE_MAX

/* Replace a heap string (NULL or empty clears it). */
static void
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

static bool
repo_before(size_t a, size_t b, void *ctx)
{
	struct sched *s = ctx;

	return issue_before(heap_top(&s->repos[a].ready), heap_top(&s->repos[b].ready), ctx);
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
static void
repo_refresh(struct sched *s, size_t r)
{
	struct sched_repo *repo = &s->repos[r];
	bool admissible = !repo->busy && repo->ready.n > 0;

	if (admissible && repo->pos == HEAP_NONE)
		heap_push(&s->admit, r);
	else if (admissible)
		heap_fix(&s->admit, repo->pos);
	else if (repo->pos != HEAP_NONE)
		heap_remove(&s->admit, repo->pos);
}

static bool
in_flight(enum istate st)
{
	return st == IS_RUNNING || st == IS_REVIEW || st == IS_MERGING;
}

/* ---- the journal: a transition commits before anything follows from it ---- */

static void
txn_begin(struct sched *s)
{
	journal_begin(s->journal);
}

static void
txn_event(struct sched *s, size_t issue, const char *name, cJSON *fields)
{
	journal_event(s->journal, issue, name, fields);
}

static void
txn_commit(struct sched *s)
{
	journal_commit(s->journal);
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
 * until now, can go; the source hears of outcomes; a worker waiting at its
 * gate (admitted, or queued to merge) may go on.
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
			.final = i->final, .reason = i->reason,
		};
		s->outcome_hook(&o, s->outcome_arg);
	}
	if (s->gate && in_flight(i->state) && i->pid > 0 &&
	    (strcmp(event, "admitted") == 0 || strcmp(event, "merge_wait") == 0))
		s->gate(i->pid, s->gate_arg);
}

void
sched_set_gate(struct sched *s, sched_gate_fn *fn, void *arg)
{
	s->gate = fn;
	s->gate_arg = arg;
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

static cJSON *
fields_str(const char *key, const char *value)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, key, value);
	return o;
}


static bool
waiting(enum istate st)
{
	return st == IS_QUEUED || st == IS_READY || st == IS_BLOCKED || st == IS_RETRY_WAIT;
}

/* Take the issue out of whatever heap it is in. */
static void
unlist(struct sched *s, size_t i)
{
	struct sched_issue *is = &s->v[i];

	if (is->pos == HEAP_NONE)
		return;
	if (is->state == IS_READY) {
		heap_remove(&s->repos[is->repo].ready, is->pos);
		repo_refresh(s, is->repo);
	} else if (is->state == IS_RETRY_WAIT)
		heap_remove(&s->retry, is->pos);
}

/*
 * The one place an issue changes state: memory, heaps, the store row and the
 * event named after the new state (event NULL: no event).
 */
static void
set_state(struct sched *s, size_t i, enum istate to, const char *reason, const char *event,
    cJSON *fields)
{
	struct sched_issue *is = &s->v[i];

	unlist(s, i);
	is->state = to;
	free(is->reason);
	is->reason = reason ? xstrdup(reason) : NULL;
	if (to == IS_READY && is->in_source && is->repo != NO_REPO) {
		heap_push(&s->repos[is->repo].ready, i);
		repo_refresh(s, is->repo);
	} else if (to == IS_RETRY_WAIT)
		heap_push(&s->retry, i);
	store_set_state(s->store, is->id, state_names[to], reason);
	if (event)
		txn_event(s, i, event, fields);
	else
		cJSON_Delete(fields);
}

/* ---- dependencies ---- */

static long
lookup(const struct sched *s, const char *repo, long number)
{
	return keymap_get(s->index, repo, number);
}

static void
add_dependent(struct sched_issue *dep, size_t i)
{
	grow_array((void **)&dep->dependents, &dep->dependents_cap, dep->ndependents + 1,
	    sizeof(size_t));
	dep->dependents[dep->ndependents++] = i;
}

/* Block every waiting dependent of i, and theirs, naming the dependency. */
static void
block_dependents(struct sched *s, size_t i)
{
	size_t *queue = xcalloc(s->n, sizeof(size_t)), head = 0, tail = 0;

	queue[tail++] = i;
	while (head < tail) {
		size_t d = queue[head++];

		for (size_t k = 0; k < s->v[d].ndependents; k++) {
			size_t w = s->v[d].dependents[k];
			char *why;

			if (!waiting(s->v[w].state) || s->v[w].state == IS_BLOCKED)
				continue;
			why = xasprintf("dependency %s is %s", s->v[d].key, state_names[s->v[d].state]);
			set_state(s, w, IS_BLOCKED, why, "blocked", fields_str("reason", why));
			free(why);
			queue[tail++] = w;
		}
	}
	free(queue);
}

/* A dependency is done: dependents with nothing else to wait for become ready. */
static void
release_dependents(struct sched *s, size_t i)
{
	for (size_t k = 0; k < s->v[i].ndependents; k++) {
		struct sched_issue *d = &s->v[s->v[i].dependents[k]];

		if (d->pending > 0)
			d->pending--;
		if (d->pending == 0 && d->state == IS_QUEUED)
			set_state(s, s->v[i].dependents[k], IS_READY, NULL, "ready", NULL);
	}
}

/* ---- the source ---- */

static size_t
repo_index(const struct sched *s, const char *name)
{
	for (size_t r = 0; r < s->nrepos; r++)
		if (strcmp(s->repos[r].conf->name, name) == 0)
			return r;
	return NO_REPO;
}

static enum istate
state_from_name(const char *name)
{
	for (int k = 0; k < IS_COUNT; k++)
		if (strcmp(state_names[k], name) == 0)
			return (enum istate)k;
	return IS_QUEUED;
}

/* Add a stored issue to the table, or refresh the text of a waiting one. */
static void
absorb_row(const struct store_issue_row *row, void *arg)
{
	struct sched *s = arg;
	long i = lookup(s, row->repo, row->number);
	struct sched_issue *is;

	if (i < 0) {
		grow_array((void **)&s->v, &s->cap_v, s->n + 1, sizeof(*s->v));
		i = (long)s->n++;
		is = &s->v[i];
		memset(is, 0, sizeof(*is));
		is->id = row->id;
		is->key = xasprintf("%s#%ld", row->repo, row->number);
		is->number = row->number;
		is->state = state_from_name(row->state);
		is->attempts = row->attempts;
		is->reason = row->reason ? xstrdup(row->reason) : NULL;
		is->retry_at = row->retry_at;
		is->pos = HEAP_NONE;
		set_str(&is->final, row->final_commit);
		/* What recovery needs of the attempt a previous run left. */
		is->attempt = row->attempt;
		is->attempt_id = row->attempt_id;
		is->pid = (pid_t)row->pid;
		if (row->trace)
			strlcpy(is->trace, row->trace, sizeof(is->trace));
		set_str(&is->base, row->base);
		keymap_put(s->index, row->repo, row->number, i);
	}
	is = &s->v[i];
	is->repo = repo_index(s, row->repo);
	if (is->title == NULL || waiting(is->state)) {
		free(is->title);
		free(is->body);
		is->title = xstrdup(row->title);
		is->body = xstrdup(row->body);
		is->created = row->created;
	}
}

static bool
dep_settled(const struct issue_ref *dep, void *arg)
{
	const struct sched *s = arg;
	long j = lookup(s, dep->repo, dep->number);

	/* Done satisfies; dead is decided below, with a better reason than "unknown". */
	if (j >= 0)
		return s->v[j].state == IS_DONE || s->v[j].state == IS_DEAD;
	return s->external && s->external(dep, s->external_arg);
}

/*
 * Plan the issues that are in the source and not done: cycles and unknown
 * dependencies block, the critical path sets priorities.  Returns the plan;
 * *members maps its list back to table indexes.
 */
static struct plan *
plan_open_issues(struct sched *s, struct issue_list *list, size_t **members)
{
	*members = xcalloc(s->n, sizeof(size_t));
	for (size_t i = 0; i < s->n; i++) {
		struct sched_issue *is = &s->v[i];
		struct issue_spec *spec;

		if (!is->in_source || is->state == IS_DONE || is->state == IS_DEAD)
			continue;
		(*members)[list->n] = i;
		spec = issue_list_add(list);
		strlcpy(spec->repo, s->repos[is->repo].conf->name, sizeof(spec->repo));
		spec->number = is->number;
		spec->created = is->created;
		spec->deps = is->deps;	/* borrowed: cleared before the list is freed */
		spec->ndeps = is->ndeps;
	}
	return plan_build(list, dep_settled, s);
}

/*
 * Why each issue must wait blocked: the plan's reasons (cycles, unknown
 * dependencies), then whatever depends on a dead or blocked issue.
 */
static char **
block_reasons(struct sched *s, struct plan *p, const size_t *members)
{
	char **why = xcalloc(s->n, sizeof(char *));
	size_t *queue = xcalloc(s->n, sizeof(size_t)), head = 0, tail = 0;

	for (size_t k = 0; k < plan_blocked_count(p); k++) {
		size_t i = members[plan_blocked_issue(p, k)];

		why[i] = xstrdup(plan_blocked_reason(p, k));
		queue[tail++] = i;
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].state == IS_DEAD)
			queue[tail++] = i;
	while (head < tail) {
		size_t d = queue[head++];

		for (size_t k = 0; k < s->v[d].ndependents; k++) {
			size_t w = s->v[d].dependents[k];

			if (why[w] || !waiting(s->v[w].state))
				continue;
			why[w] = xasprintf("dependency %s is %s", s->v[d].key,
			    s->v[d].state == IS_DEAD ? "dead" : "blocked");
			queue[tail++] = w;
		}
	}
	free(queue);
	return why;
}

/* Where one waiting issue belongs, given why it must wait blocked (or NULL). */
static void
settle_one(struct sched *s, size_t i, const char *why)
{
	struct sched_issue *is = &s->v[i];

	if (why) {
		if (is->state != IS_BLOCKED || !is->reason || strcmp(is->reason, why) != 0)
			set_state(s, i, IS_BLOCKED, why, "blocked", fields_str("reason", why));
	} else if (is->pending > 0) {
		if (is->state != IS_QUEUED)
			set_state(s, i, IS_QUEUED, NULL, "queued", NULL);
	} else if (is->state != IS_READY)
		set_state(s, i, IS_READY, NULL, "ready", NULL);
}

/* Put each waiting issue where the plan and its dependencies say, noting only changes. */
static void
settle_waiting(struct sched *s, struct plan *p, const size_t *members)
{
	char **why = block_reasons(s, p, members);

	for (size_t i = 0; i < s->n; i++) {
		struct sched_issue *is = &s->v[i];

		if (is->in_source && waiting(is->state) && is->state != IS_RETRY_WAIT)
			settle_one(s, i, why[i]);
		free(why[i]);
	}
	free(why);
}

/* Rebuild the dependency edges and pending counts of the issues in the source. */
static void
link_dependencies(struct sched *s)
{
	for (size_t i = 0; i < s->n; i++)
		s->v[i].ndependents = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct sched_issue *is = &s->v[i];

		is->pending = 0;
		if (!is->in_source)
			continue;
		for (size_t k = 0; k < is->ndeps; k++) {
			long j = lookup(s, is->deps[k].repo, is->deps[k].number);

			if (j < 0)
				continue;
			add_dependent(&s->v[j], i);
			if (s->v[j].state != IS_DONE)
				is->pending++;
		}
	}
}

/* Re-derive dependencies, priorities and every waiting issue's state. */
static void
replan(struct sched *s)
{
	struct issue_list list = { 0 };
	size_t *members;
	struct plan *p;

	link_dependencies(s);
	p = plan_open_issues(s, &list, &members);
	for (size_t k = 0; k < list.n; k++) {
		struct sched_issue *is = &s->v[members[k]];
		long prio = plan_priority(p, k);

		if (prio != is->priority) {
			bool listed = is->state == IS_READY && is->pos != HEAP_NONE;
			is->priority = prio;
			if (listed) {
				heap_fix(&s->repos[is->repo].ready, is->pos);
				repo_refresh(s, is->repo);
			}
		}
	}
	settle_waiting(s, p, members);
	for (size_t k = 0; k < list.n; k++)
		list.v[k].deps = NULL;	/* borrowed from the table */
	issue_list_clear(&list);
	plan_free(p);
	free(members);
}

int
sched_sync(struct sched *s, const struct issue_list *source)
{
	bool *added = xcalloc(source->n, sizeof(bool));
	int rc = 0;

	txn_begin(s);
	for (size_t k = 0; k < source->n; k++) {
		enum store_upsert u = store_upsert_issue(s->store, &source->v[k]);

		if (u == STORE_ERROR)
			rc = -1;
		added[k] = u == STORE_ADDED;
	}
	store_each_issue(s->store, absorb_row, s);
	for (size_t i = 0; i < s->n; i++)
		s->v[i].in_source = false;
	for (size_t k = 0; k < source->n; k++) {
		long i = lookup(s, source->v[k].repo, source->v[k].number);
		struct sched_issue *is;

		if (i < 0)
			continue;
		is = &s->v[i];
		if (added[k])
			txn_event(s, (size_t)i, "queued", fields_str("title", is->title));
		is->in_source = is->repo != NO_REPO;
		free(is->deps);
		is->ndeps = source->v[k].ndeps;
		is->deps = xcalloc(is->ndeps, sizeof(*is->deps));
		if (is->ndeps)
			memcpy(is->deps, source->v[k].deps, is->ndeps * sizeof(*is->deps));
	}
	free(added);
	replan(s);
	txn_commit(s);
	return rc;
}

int
sched_retry(struct sched *s, const char *key, char **why)
{
	char repo[REPO_NAME_MAX + 1];
	long number, i;
	struct sched_issue *is;

	*why = NULL;
	if (!issue_key_parse(key, repo, sizeof(repo), &number) ||
	    (i = lookup(s, repo, number)) < 0) {
		*why = xasprintf("no issue %s", key);
		return -1;
	}
	if (s->v[i].repo == NO_REPO) {
		*why = xasprintf("%s: repo \"%s\" is not configured", key, repo);
		return -1;
	}
	if (!s->v[i].in_source) {
		*why = xasprintf("%s is no longer in the issue source", key);
		return -1;
	}
	is = &s->v[i];
	if (is->state != IS_DEAD && is->state != IS_BLOCKED) {
		*why = xasprintf("%s is %s: only a dead or blocked issue can be retried", key,
		    state_names[is->state]);
		return -1;
	}
	txn_begin(s);
	if (is->state == IS_DEAD) {
		is->attempts = 0;	/* a fresh set of attempts */
		store_set_attempts(s->store, is->id, 0);
	}
	set_state(s, (size_t)i, IS_QUEUED, NULL, "queued", fields_str("why", "retry"));
	replan(s);	/* ready if it can be; its blocked dependents follow */
	txn_commit(s);
	if (is->state == IS_BLOCKED) {
		*why = xasprintf("%s is still blocked: %s", key, is->reason ? is->reason : "?");
		return -1;
	}
	return 0;
}

/* ---- lifecycle of an attempt ---- */

static void
release_slot(struct sched *s, size_t i)
{
	struct sched_issue *is = &s->v[i];

	if (!is->holds_slot)
		return;
	is->holds_slot = false;
	s->repos[is->repo].busy = false;
	repo_refresh(s, is->repo);
}

/* The attempt is over, whatever its outcome: free its slots. */
static void
end_flight(struct sched *s, size_t i, const char *outcome, const char *reason)
{
	release_slot(s, i);
	s->inflight--;
	store_attempt_end(s->store, s->v[i].attempt_id, outcome, reason);
}

/* A failed attempt: retry after a backoff, or give up once attempts are spent. */
static void
attempt_failed(struct sched *s, size_t i, const char *outcome, const char *reason,
    bool counts)
{
	struct sched_issue *is = &s->v[i];
	cJSON *f = fields_str("reason", reason);

	cJSON_AddStringToObject(f, "outcome", outcome);
	end_flight(s, i, outcome, reason);
	txn_event(s, i, "failed", f);
	if (counts)
		store_set_attempts(s->store, is->id, ++is->attempts);
	if (counts && is->attempts >= s->cfg->max_attempts) {
		set_state(s, i, IS_DEAD, reason, "dead", fields_str("reason", reason));
		block_dependents(s, i);
		return;
	}
	/* retry_backoff * 2^(k-1) after the k-th counted failure; a tempfail waits the base. */
	int64_t delay = (int64_t)s->cfg->retry_backoff * 1000;
	for (int k = 1; k < is->attempts && delay < 86400000; k++)
		delay *= 2;
	is->retry_at = now_ms() + delay;
	store_set_retry_at(s->store, is->id, is->retry_at);
	cJSON *r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "backoff_ms", (double)delay);
	cJSON_AddBoolToObject(r, "counted", counts);
	set_state(s, i, IS_RETRY_WAIT, reason, "retry_scheduled", r);
}

static void
attempt_done(struct sched *s, size_t i)
{
	struct sched_issue *is = &s->v[i];

	is->attempts = is->attempt;	/* the successful attempt counts too */
	store_set_attempts(s->store, is->id, is->attempts);
	store_set_final_commit(s->store, is->id, is->final);
	set_state(s, i, IS_DONE, NULL, "done", fields_str("outcome", "merged"));
	release_dependents(s, i);
}

static pid_t
launch(struct sched *s, size_t i)
{
	struct sched_issue *is = &s->v[i];
	struct sched_job job = {
		.issue = i, .key = is->key, .repo = s->repos[is->repo].conf,
		.number = is->number, .title = is->title, .body = is->body,
		.attempt = is->attempt, .trace = is->trace, .resume = is->resume,
		.base = is->base,
	};

	return s->start(&job, s->start_arg);
}

static void
admit_one(struct sched *s, size_t r)
{
	size_t i = heap_top(&s->repos[r].ready);
	struct sched_issue *is = &s->v[i];
	cJSON *f;
	pid_t pid;

	/* A resumed attempt goes on under its number and trace; else a new one. */
	if (is->resume == RESUME_NONE) {
		is->attempt = is->attempts + 1;
		trace_id_new(is->trace);
		set_str(&is->base, NULL);
	}
	is->merged = false;
	set_str(&is->final, NULL);
	txn_begin(s);
	unlist(s, i);
	is->state = IS_RUNNING;		/* out of the ready heap before the fork */
	pid = launch(s, i);
	if (pid == -1) {
		log_issue_warnx(&(struct log_ctx){ is->key, is->attempt, is->trace },
		    "cannot start a worker");
		s->inflight++;
		is->attempt_id = store_attempt_begin(s->store, is->id, is->attempt, is->trace, 0);
		attempt_failed(s, i, "tempfail", "could not fork a worker", false);
		txn_commit(s);
		return;
	}
	s->inflight++;
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
	set_state(s, i, IS_RUNNING, NULL, "admitted", f);
	txn_commit(s);
}

void
sched_admit(struct sched *s)
{
	while (s->inflight < s->effective_cap && s->admit.n > 0 && sched_can_act(s))
		admit_one(s, heap_top(&s->admit));
}

/* ---- worker reports ---- */

static int
on_phase(struct sched *s, size_t i, const struct proto_msg *m)
{
	struct sched_issue *is = &s->v[i];
	cJSON *f = fields_str("phase", m->phase);

	if (!m->end) {
		cJSON_AddNumberToObject(f, "pgid", (double)m->pgid);
		store_set_phase(s->store, is->id, m->phase);
		txn_event(s, i, "phase_start", f);
		return 0;
	}
	cJSON_AddNumberToObject(f, "exit", m->exit);
	cJSON_AddNumberToObject(f, "ms", (double)m->ms);
	cJSON_AddStringToObject(f, "head", m->sha);
	store_marker_add(s->store, is->attempt_id, m->phase, m->exit, m->sha, m->ms);
	txn_event(s, i, "phase_end", f);
	return 0;
}

static int
on_slot(struct sched *s, size_t i)
{
	if (s->v[i].state != IS_RUNNING)
		return -1;
	set_state(s, i, IS_REVIEW, NULL, NULL, NULL);
	if (!s->cfg->hold_repo_during_review) {
		release_slot(s, i);
		txn_event(s, i, "slot_released", NULL);
	}
	return 0;
}

static int
on_merge(struct sched *s, size_t i, const struct proto_msg *m)
{
	struct sched_issue *is = &s->v[i];

	switch (m->merge) {
	case MERGE_WAIT:
		if (is->state != IS_MERGING)
			set_state(s, i, IS_MERGING, NULL, NULL, NULL);
		txn_event(s, i, "merge_wait", NULL);
		return 0;
	case MERGE_LOCKED:
		if (is->state != IS_MERGING)
			set_state(s, i, IS_MERGING, NULL, NULL, NULL);
		txn_event(s, i, "merge_locked", NULL);
		return 0;
	case MERGE_MERGED:
		is->merged = true;
		set_str(&is->final, m->sha);
		store_set_final_commit(s->store, is->id, m->sha);
		txn_event(s, i, "merged", fields_str("sha", m->sha));
		return 0;
	}
	return -1;
}

static int
on_done(struct sched *s, size_t i, const struct proto_msg *m)
{
	const char *outcome = proto_outcome_name(m->outcome);

	if (m->outcome == OUTCOME_MERGED) {
		if (!s->v[i].merged)
			return -1;	/* "merged" without the merge that proves it */
		end_flight(s, i, "merged", NULL);
		attempt_done(s, i);
	} else
		attempt_failed(s, i, outcome, m->reason, m->outcome != OUTCOME_TEMPFAIL);
	return 0;
}

/* Is pid the worker of the issue's attempt in flight? */
static bool
current_worker(const struct sched_issue *is, pid_t pid)
{
	return in_flight(is->state) && is->pid == pid;
}

int
sched_on_message(struct sched *s, size_t i, pid_t pid, const struct proto_msg *m)
{
	struct sched_issue *is = &s->v[i];
	int rc = 0;

	if (!current_worker(is, pid))
		return -1;
	txn_begin(s);
	switch (m->type) {
	case PROTO_HELLO:
		rc = strcmp(m->issue, is->key) == 0 && m->attempt == is->attempt &&
		    strcmp(m->trace, is->trace) == 0 ? 0 : -1;
		break;
	case PROTO_PHASE:
		rc = on_phase(s, i, m);
		break;
	case PROTO_PREPARED:
		set_str(&is->base, m->sha);
		is->resume = RESUME_NONE;	/* taken up: a later crash decides anew */
		store_attempt_set_base(s->store, is->attempt_id, m->sha);
		break;
	case PROTO_SLOT:
		rc = on_slot(s, i);
		break;
	case PROTO_MERGE:
		rc = on_merge(s, i, m);
		break;
	case PROTO_DONE:
		rc = on_done(s, i, m);
		break;
	}
	txn_commit(s);
	return rc;
}

static char *
describe_exit(int status)
{
	if (WIFSIGNALED(status))
		return xasprintf("worker crashed: killed by signal %d", WTERMSIG(status));
	return xasprintf("worker crashed: exit status %d without a result", WEXITSTATUS(status));
}

/* Ask git what became of the issue's attempt. */
static void
evaluate(struct sched *s, size_t i, struct recover_decision *d)
{
	struct sched_issue *is = &s->v[i];
	struct store_marker marker;
	bool has_marker = is->attempt_id > 0 && store_last_marker(s->store, is->attempt_id, &marker);
	struct recover_input in = {
		.cfg = s->cfg, .repo = s->repos[is->repo].conf, .number = is->number,
		.base = is->base, .final = is->final,
		.marker = has_marker ? &marker : NULL,
	};

	recover_evaluate(&in, d);
}

/* Act on a recovery decision; counted: a worker crash uses up the attempt. */
static void
apply_recovery(struct sched *s, size_t i, const struct recover_decision *d, bool counted)
{
	struct sched_issue *is = &s->v[i];
	cJSON *f = fields_str("action", recover_action_name(d->action));

	if (d->action == RECOVER_RESUME)
		cJSON_AddStringToObject(f, "phase", resume_point_name(d->resume));
	txn_event(s, i, "recovered", f);
	if (d->action == RECOVER_DONE) {
		/* Landed before its worker could tidy up: its worktree goes now,
		 * its branch once the landing is recorded. */
		recover_drop_worktree(s->cfg, s->repos[is->repo].conf, is->number);
		set_str(&is->final, d->landed);
		attempt_done(s, i);
		return;
	}
	if (counted)
		store_set_attempts(s->store, is->id, ++is->attempts);
	if (counted && is->attempts >= s->cfg->max_attempts) {
		const char *why = "worker crashed and its attempts are used up";
		set_state(s, i, IS_DEAD, why, "dead", fields_str("reason", why));
		block_dependents(s, i);
		return;
	}
	is->resume = d->action == RECOVER_RESUME ? d->resume : RESUME_NONE;
	if (d->action == RECOVER_RESET)
		recover_reset(s->cfg, s->repos[is->repo].conf, is->number);
	/* On start nothing is in the source yet: queued, and the first sync decides. */
	if (is->pending == 0 && is->in_source)
		set_state(s, i, IS_READY, NULL, "ready", NULL);
	else
		set_state(s, i, IS_QUEUED, NULL, NULL, NULL);
}

void
sched_on_worker_exit(struct sched *s, size_t i, pid_t pid, int status, bool stopping)
{
	struct sched_issue *is = &s->v[i];
	struct recover_decision d;
	cJSON *f;

	if (!current_worker(is, pid))
		return;		/* it had reported its result */
	txn_begin(s);
	if (stopping) {
		/* Asked to stop: the attempt does not count, the next start takes it up. */
		end_flight(s, i, "stopped", "daemon stopped");
		set_state(s, i, IS_READY, NULL, "ready", fields_str("why", "daemon stopped"));
		txn_commit(s);
		return;
	}
	f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "pid", pid);
	if (WIFSIGNALED(status))
		cJSON_AddNumberToObject(f, "signal", WTERMSIG(status));
	else
		cJSON_AddNumberToObject(f, "status", WEXITSTATUS(status));
	txn_event(s, i, "worker_crashed", f);
	char *why = describe_exit(status);
	end_flight(s, i, "crashed", why);
	free(why);
	evaluate(s, i, &d);
	apply_recovery(s, i, &d, true);
	txn_commit(s);
}

void
sched_on_worker_failed(struct sched *s, size_t i, pid_t pid, const char *why)
{
	if (!current_worker(&s->v[i], pid))
		return;
	txn_begin(s);
	attempt_failed(s, i, "failed", why, true);
	txn_commit(s);
}

/* ---- timers ---- */

int64_t
sched_next_deadline(const struct sched *s)
{
	size_t top = heap_top(&s->retry);

	return top == HEAP_NONE ? INT64_MAX : s->v[top].retry_at;
}

void
sched_tick(struct sched *s, int64_t now)
{
	size_t top;

	if ((top = heap_top(&s->retry)) == HEAP_NONE || s->v[top].retry_at > now)
		return;
	txn_begin(s);
	while ((top = heap_top(&s->retry)) != HEAP_NONE && s->v[top].retry_at <= now)
		set_state(s, top, s->v[top].pending ? IS_QUEUED : IS_READY, NULL, "ready", NULL);
	txn_commit(s);
}

/* ---- the cap lever ---- */

static void
daemon_row(struct sched *s, bool running)
{
	struct store_daemon d = {
		.pid = getpid(), .running = running, .cap = s->cap.configured,
		.effective_cap = s->effective_cap, .paused = s->effective_cap == 0,
	};

	store_daemon_set(s->store, &d);
}

/*
 * The effective cap after a pull of the lever: recorded (the log, the
 * daemon's row and a cap_changed event saying who pulled) when it moved.
 */
static void
cap_pulled(struct sched *s, const char *why, const char *by, bool always)
{
	int effective = cap_effective(&s->cap);
	cJSON *f;

	if (effective == s->effective_cap && !always)
		return;
	s->effective_cap = effective;
	log_info("cap: effective cap %d of %d%s (%s: %s)", effective, s->cap.configured,
	    effective == 0 ? ", paused" : "", why, by);
	f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "cap", s->cap.configured);
	cJSON_AddNumberToObject(f, "effective", effective);
	cJSON_AddStringToObject(f, "why", why);
	txn_begin(s);
	daemon_row(s, true);
	txn_event(s, JOURNAL_DAEMON, "cap_changed", f);
	txn_commit(s);
}

void
sched_cap_set(struct sched *s, int operator, const char *why, const char *by)
{
	cap_operator_set(&s->cap, operator);
	cap_pulled(s, why, by, false);
}

void
sched_cap_step(struct sched *s, int delta, const char *why, const char *by)
{
	cap_operator_step(&s->cap, delta);
	cap_pulled(s, why, by, false);
}

void
sched_cap_limit(struct sched *s, int cap, const char *why, const char *by)
{
	cap_configure(&s->cap, cap);
	cap_pulled(s, why, by, true);
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
	txn_begin(s);
	daemon_row(s, running);
	txn_commit(s);
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
	store_each_issue(store, absorb_row, s);
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
	}
	for (size_t r = 0; r < s->nrepos; r++)
		heap_free(&s->repos[r].ready);
	heap_free(&s->admit);
	heap_free(&s->retry);
	free(s->repos);
	free(s->v);
	keymap_free(s->index);
	config_release(s->cfg);
	free(s);
}

bool
sched_reconfigure(struct sched *s, const struct config *cfg, char **why)
{
	/* A repo with work in flight must stay: its worker is using it. */
	for (size_t i = 0; i < s->n; i++) {
		struct sched_issue *is = &s->v[i];

		if (in_flight(is->state) && is->repo != NO_REPO &&
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

		is->repo = names[i] == NO_REPO ? NO_REPO : repo_index(s, old[names[i]].conf->name);
		if (is->repo == NO_REPO) {
			is->in_source = false;	/* out of the plan until its repo is back */
			continue;
		}
		if (is->holds_slot)
			s->repos[is->repo].busy = true;
	}
	for (size_t r = 0; r < nold; r++)
		heap_free(&old[r].ready);
	free(old);
	free(names);
	heap_free(&s->retry);
	heap_init(&s->retry, retry_before, issue_moved, s);
	for (size_t i = 0; i < s->n; i++) {
		struct sched_issue *is = &s->v[i];

		if (is->state == IS_READY && is->in_source && is->repo != NO_REPO)
			heap_push(&s->repos[is->repo].ready, i);
		else if (is->state == IS_RETRY_WAIT)
			heap_push(&s->retry, i);
	}
	for (size_t r = 0; r < s->nrepos; r++)
		repo_refresh(s, r);
	config_release(s->cfg);
	s->cfg = config_hold(cfg);
	store_sync_repos(s->store, cfg);
	return true;
}

void
sched_recover(struct sched *s)
{
	struct recover_decision d;

	txn_begin(s);
	for (size_t i = 0; i < s->n; i++) {
		struct sched_issue *is = &s->v[i];

		if (in_flight(is->state) && is->repo != NO_REPO) {
			/* Its worker belonged to the dead supervisor: let it end first. */
			recover_reap_orphan(is->pid);
			evaluate(s, i, &d);
			apply_recovery(s, i, &d, false);
		} else if (in_flight(is->state)) {
			set_state(s, i, IS_QUEUED, NULL, "recovered", fields_str("action", "reset"));
		} else if (is->state == IS_RETRY_WAIT && is->pos == HEAP_NONE)
			heap_push(&s->retry, i);
		else if (is->state == IS_READY)
			set_state(s, i, IS_QUEUED, NULL, NULL, NULL);	/* sync decides again */
	}
	txn_commit(s);
}

bool
sched_settled(const struct sched *s)
{
	/* Paused with work waiting is not settled: the operator may resume. */
	return s->inflight == 0 && s->retry.n == 0 && s->admit.n == 0;
}

bool
sched_all_done(const struct sched *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].in_source && s->v[i].state != IS_DONE)
			return false;
	return true;
}

const char *
sched_issue_key(const struct sched *s, size_t issue)
{
	return s->v[issue].key;
}
