#include "supervisor/sched_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/plan.h"
#include "common/util.h"
#include "supervisor/journal.h"
#include "supervisor/recover.h"

/* ---- dependencies ---- */

long
sched_lookup(const struct sched *s, const char *repo, long number)
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

static size_t
issue_dependents(size_t v, const size_t **dependents, void *arg)
{
	const struct sched *s = arg;

	*dependents = s->v[v].dependents;
	return s->v[v].ndependents;
}

static bool
block_now(size_t w, size_t by, void *arg)
{
	struct sched *s = arg;
	char *why;

	if (!state_waiting(s->v[w].state) || s->v[w].state == STATE_BLOCKED)
		return false;
	why = xasprintf("dependency %s is %s", s->v[by].key, state_name(s->v[by].state));
	sched_fire(s, w, IN_DEP_FAILED, STATE_BLOCKED, why, fields_str("reason", why));
	free(why);
	return true;
}

/* Block every waiting dependent of i, and theirs, naming the dependency. */
void
block_dependents(struct sched *s, size_t i)
{
	plan_spread_blocked(s->n, &i, 1, issue_dependents, block_now, s);
}

/* A dependency is done: dependents with nothing else to wait for become ready. */
void
release_dependents(struct sched *s, size_t i)
{
	for (size_t k = 0; k < s->v[i].ndependents; k++) {
		struct sched_issue *d = &s->v[s->v[i].dependents[k]];

		if (d->pending > 0)
			d->pending--;
		if (d->pending == 0 && d->state == STATE_QUEUED)
			sched_fire(s, s->v[i].dependents[k], IN_DEPS_DONE, STATE_READY, NULL, NULL);
	}
}

/* ---- the source ---- */

size_t
sched_repo_index(const struct sched *s, const char *name)
{
	for (size_t r = 0; r < s->nrepos; r++)
		if (strcmp(s->repos[r].conf->name, name) == 0)
			return r;
	return NO_REPO;
}

/* Add a stored issue to the table, or refresh the text of a waiting one. */
void
sched_absorb_row(const struct store_issue_row *row, void *arg)
{
	struct sched *s = arg;
	long i = sched_lookup(s, row->repo, row->number);
	struct sched_issue *is;

	if (i < 0) {
		grow_array((void **)&s->v, &s->cap_v, s->n + 1, sizeof(*s->v));
		i = (long)s->n++;
		is = &s->v[i];
		memset(is, 0, sizeof(*is));
		is->id = row->id;
		is->key = xasprintf("%s#%ld", row->repo, row->number);
		is->number = row->number;
		if (!state_from_name(row->state, &is->state))
			is->state = STATE_QUEUED;
		is->attempts = row->attempts;
		is->reason = row->reason ? xstrdup(row->reason) : NULL;
		is->retry_at = row->retry_at;
		is->pos = HEAP_NONE;
		set_str(&is->final, row->final_commit);
		/* What recovery needs of the attempt a previous run left. */
		is->attempt = row->attempt;
		is->attempt_id = row->attempt_id;
		is->attempt_ms = row->attempt_ms;
		is->pid = (pid_t)row->pid;
		if (row->trace)
			strlcpy(is->trace, row->trace, sizeof(is->trace));
		set_str(&is->base, row->base);
		is->agent_ms = row->agent_ms;
		is->wasted_ms = row->wasted_ms;
		is->budget_usd = row->budget_usd;
		is->budget_tokens = row->budget_tokens;
		pr_absorb(is, &row->pull);
		if (is->state == STATE_AWAITING_MERGE)
			s->awaiting++;
		keymap_put(s->index, row->repo, row->number, i);
	}
	is = &s->v[i];
	is->repo = sched_repo_index(s, row->repo);
	if (is->title == NULL || state_waiting(is->state)) {
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
	long j = sched_lookup(s, dep->repo, dep->number);

	/* Done satisfies; dead is decided below, with a better reason than "unknown". */
	if (j >= 0)
		return s->v[j].state == STATE_DONE || s->v[j].state == STATE_DEAD;
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

		if (!is->in_source || is->state == STATE_DONE || is->state == STATE_DEAD)
			continue;
		(*members)[list->n] = i;
		spec = issue_list_add(list);
		strlcpy(spec->repo, s->repos[is->repo].conf->name, sizeof(spec->repo));
		spec->number = is->number;
		spec->created = is->created;
		spec->deps = is->deps;	/* a view of the table: the list owns no spec's parts */
		spec->ndeps = is->ndeps;
	}
	return plan_build(list, dep_settled, s);
}

/*
 * Why each issue must wait blocked: the plan's reasons (cycles, unknown
 * dependencies), then whatever depends on a dead or blocked issue.
 */
struct reasons {
	struct sched *s;
	char **why;
};

static size_t
reasons_dependents(size_t v, const size_t **dependents, void *arg)
{
	return issue_dependents(v, dependents, ((struct reasons *)arg)->s);
}

static bool
reason_blocked(size_t w, size_t by, void *arg)
{
	struct reasons *r = arg;
	const struct sched_issue *d = &r->s->v[by];

	if (r->why[w] || !state_waiting(r->s->v[w].state))
		return false;
	r->why[w] = xasprintf("dependency %s is %s", d->key,
	    d->state == STATE_DEAD ? "dead" : "blocked");
	return true;
}

static char **
block_reasons(struct sched *s, struct plan *p, const size_t *members)
{
	struct reasons r = { s, xcalloc(s->n, sizeof(char *)) };
	size_t *seeds = xcalloc(s->n + plan_blocked_count(p), sizeof(size_t)), nseeds = 0;

	for (size_t k = 0; k < plan_blocked_count(p); k++) {
		size_t i = members[plan_blocked_issue(p, k)];

		r.why[i] = xstrdup(plan_blocked_reason(p, k));
		seeds[nseeds++] = i;
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].state == STATE_DEAD)
			seeds[nseeds++] = i;
	plan_spread_blocked(s->n, seeds, nseeds, reasons_dependents, reason_blocked, &r);
	free(seeds);
	return r.why;
}

/* Where one waiting issue belongs, given why it must wait blocked (or NULL). */
static void
settle_one(struct sched *s, size_t i, const char *why)
{
	struct sched_issue *is = &s->v[i];

	if (why) {
		if (is->state != STATE_BLOCKED || !is->reason || strcmp(is->reason, why) != 0)
			sched_fire(s, i, IN_SETTLE, STATE_BLOCKED, why, fields_str("reason", why));
	} else if (is->pending > 0) {
		if (is->state != STATE_QUEUED)
			sched_fire(s, i, IN_SETTLE, STATE_QUEUED, NULL, NULL);
	} else if (is->state != STATE_READY)
		sched_fire(s, i, IN_SETTLE, STATE_READY, NULL, NULL);
}

/* Put each waiting issue where the plan and its dependencies say, noting only changes. */
static void
settle_waiting(struct sched *s, struct plan *p, const size_t *members)
{
	char **why = block_reasons(s, p, members);

	for (size_t i = 0; i < s->n; i++) {
		struct sched_issue *is = &s->v[i];

		if (is->in_source && state_waiting(is->state) && is->state != STATE_RETRY_WAIT)
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
			long j = sched_lookup(s, is->deps[k].repo, is->deps[k].number);

			if (j < 0)
				continue;
			add_dependent(&s->v[j], i);
			if (s->v[j].state != STATE_DONE)
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
			bool listed = is->state == STATE_READY && is->pos != HEAP_NONE;
			is->priority = prio;
			if (listed) {
				heap_fix(&s->repos[is->repo].ready, is->pos);
				repo_refresh(s, is->repo);
			}
		}
	}
	settle_waiting(s, p, members);
	free(list.v);		/* the array only: its specs' parts are the table's */
	plan_free(p);
	free(members);
}

int
sched_sync(struct sched *s, const struct issue_list *source)
{
	bool *added = xcalloc(source->n, sizeof(bool));
	int rc = 0;

	for (size_t k = 0; k < source->n; k++) {
		enum store_upsert u = store_upsert_issue(s->store, &source->v[k]);

		if (u == STORE_ERROR)
			rc = -1;
		added[k] = u == STORE_ADDED;
	}
	store_each_issue(s->store, sched_absorb_row, s);
	for (size_t i = 0; i < s->n; i++)
		s->v[i].in_source = false;
	for (size_t k = 0; k < source->n; k++) {
		long i = sched_lookup(s, source->v[k].repo, source->v[k].number);
		struct sched_issue *is;

		if (i < 0)
			continue;
		is = &s->v[i];
		if (added[k])
			txn_event(s, (size_t)i, "queued", fields_str("title", is->title));
		is->in_source = is->repo != NO_REPO;
		is->pool = source->v[k].pool[0] ? repo_intern(source->v[k].pool) : NULL;
		free(is->deps);
		is->ndeps = source->v[k].ndeps;
		is->deps = xcalloc(is->ndeps, sizeof(*is->deps));
		if (is->ndeps)
			memcpy(is->deps, source->v[k].deps, is->ndeps * sizeof(*is->deps));
	}
	free(added);
	replan(s);
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
	    (i = sched_lookup(s, repo, number)) < 0) {
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
	if (is->state != STATE_DEAD && is->state != STATE_BLOCKED) {
		*why = xasprintf("%s is %s: only a dead or blocked issue can be retried", key,
		    state_name(is->state));
		return -1;
	}
	if (is->state == STATE_DEAD) {
		is->attempts = 0;	/* a fresh set of attempts, and a fresh budget */
		store_set_attempts(s->store, is->id, 0);
		is->budget_usd = 0;
		is->budget_tokens = 0;
		store_budget_reset(s->store, is->id);
		if (is->pr)
			pr_forget(s, (size_t)i);	/* and a new pull request */
	}
	sched_fire(s, (size_t)i, IN_RETRY, STATE_QUEUED, NULL, fields_str("why", "retry"));
	replan(s);	/* ready if it can be; its blocked dependents follow */
	if (is->state == STATE_BLOCKED) {
		*why = xasprintf("%s is still blocked: %s", key, is->reason ? is->reason : "?");
		return -1;
	}
	return 0;
}

