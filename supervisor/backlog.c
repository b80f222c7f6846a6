#include "supervisor/backlog.h"

#include <stdlib.h>
#include <string.h>

#include "common/plan.h"
#include "common/util.h"
#include "supervisor/awaiting.h"
#include "supervisor/deps.h"
#include "supervisor/records.h"
#include "supervisor/runq.h"

static bool
dep_settled(const struct issue_ref *dep, void *arg)
{
	const struct sched *s = arg;
	long j = sched_lookup(s, dep->repo, dep->number);

	/* Done satisfies; dead is decided below, with a better reason than "unknown". */
	if (j >= 0)
		return sched_issue_state(s, j) == STATE_DONE || sched_issue_state(s, j) == STATE_DEAD;
	return sched_external_done(s, dep);
}

/* On its repo's chain: it will take the repo's slot (not admitted, not
 * waiting for a person's merge, not blocked). */
static bool
waits_for_repo(enum issue_state st)
{
	return st == STATE_QUEUED || st == STATE_READY || st == STATE_RETRY_WAIT;
}

/*
 * Plan the issues that are in the source and not done: cycles and unknown
 * dependencies block, the critical path sets priorities, in the expected
 * times of the repos and pools (common/expect.h: from the store's moving
 * averages and spreads, read at each plan).  Returns the plan; *members maps its list
 * back to table indexes.
 */
static struct plan *
plan_open_issues(struct sched *s, struct issue_list *list, size_t **members)
{
	size_t n = records_count(sched_records(s));
	/* The repo table is cfg's repos in order, the pools cfg's pools. */
	int64_t *repo_ms = xcalloc(sched_config(s)->nrepos + 1, sizeof(int64_t));
	int64_t *pool_ms = xcalloc(sched_config(s)->npools + 1, sizeof(int64_t));
	int64_t *expected = xcalloc(n + 1, sizeof(int64_t));
	bool *waits = xcalloc(n + 1, sizeof(bool));
	struct plan *p;

	store_durations_of(sched_store(s), sched_config(s), repo_ms, pool_ms);
	*members = xcalloc(n, sizeof(size_t));
	for (size_t i = 0; i < n; i++) {
		const struct record *is = sched_record(s, i);
		enum issue_state st = sched_issue_state(s, i);
		struct issue_spec *spec;

		if (!is->in_source || st == STATE_DONE || st == STATE_DEAD)
			continue;
		(*members)[list->n] = i;
		spec = issue_list_add(list);
		strlcpy(spec->repo, records_repo(sched_records(s), i)->name, sizeof(spec->repo));
		spec->number = is->number;
		spec->created = is->created;
		spec->deps = is->deps;	/* a view of the table: the list owns no spec's parts */
		spec->ndeps = is->ndeps;
		long pool = runq_pool(sched_runq(s), i);
		expected[list->n - 1] = plan_expected_ms(repo_ms[is->repo],
		    pool >= 0 ? pool_ms[pool] : 0);
		waits[list->n - 1] = waits_for_repo(st);
	}
	p = plan_build_timed(list, expected, waits, dep_settled, s);
	free(waits);
	free(expected);
	free(repo_ms);
	free(pool_ms);
	return p;
}

/*
 * Why each issue must wait blocked: the plan's reasons (cycles, unknown
 * dependencies), then whatever depends on a dead or blocked issue.
 */
struct reasons {
	struct sched *s;
	char **why;
};

static bool
reason_reaches(size_t w, void *arg)
{
	struct reasons *r = arg;

	return r->why[w] == NULL && state_waiting(sched_issue_state(r->s, w));
}

static char **
block_reasons(struct sched *s, struct plan *p, const size_t *members)
{
	size_t total = records_count(sched_records(s));
	struct reasons r = { s, xcalloc(total, sizeof(char *)) };
	size_t *seeds = xcalloc(total + plan_blocked_count(p), sizeof(size_t)), nseeds = 0, n;
	struct deps_hit *hits;

	for (size_t k = 0; k < plan_blocked_count(p); k++) {
		size_t i = members[plan_blocked_issue(p, k)];

		r.why[i] = xstrdup(plan_blocked_reason(p, k));
		seeds[nseeds++] = i;
	}
	for (size_t i = 0; i < total; i++)
		if (sched_issue_state(s, i) == STATE_DEAD)
			seeds[nseeds++] = i;
	n = deps_spread(sched_deps(s), seeds, nseeds, reason_reaches, &r, &hits);
	for (size_t k = 0; k < n; k++)
		r.why[hits[k].issue] = xasprintf("dependency %s is %s", sched_record(s, hits[k].by)->key,
		    sched_issue_state(s, hits[k].by) == STATE_DEAD ? "dead" : "blocked");
	free(hits);
	free(seeds);
	return r.why;
}

/* Put each waiting issue where the plan and its dependencies say, noting only changes. */
static void
settle_waiting(struct sched *s, struct plan *p, const size_t *members)
{
	char **why = block_reasons(s, p, members);
	size_t n = records_count(sched_records(s));

	for (size_t i = 0; i < n; i++) {
		enum issue_state st = sched_issue_state(s, i);
		const char *reason = records_reason(sched_records(s), i);

		if (!sched_record(s, i)->in_source || !state_waiting(st) || st == STATE_RETRY_WAIT)
			;
		else if (why[i] == NULL)
			sched_fire(s, i, IN_SETTLE, NULL, NULL);
		else if (st != STATE_BLOCKED || !reason || strcmp(reason, why[i]) != 0)
			sched_fire(s, i, IN_BLOCKED, why[i], sched_fields("reason", why[i]));
		free(why[i]);
	}
	free(why);
}

/* Rebuild the dependency index of the issues in the source. */
static void
link_dependencies(struct sched *s)
{
	size_t n = records_count(sched_records(s));

	deps_reset(sched_deps(s), n);
	for (size_t i = 0; i < n; i++) {
		const struct record *is = sched_record(s, i);

		if (!is->in_source)
			continue;
		for (size_t k = 0; k < is->ndeps; k++) {
			long j = sched_lookup(s, is->deps[k].repo, is->deps[k].number);

			if (j >= 0)
				deps_add(sched_deps(s), i, (size_t)j, sched_issue_state(s, j) == STATE_DONE);
		}
	}
}

/*
 * The run queue's keys: each issue's chain of dependents and expected time,
 * each repo's chain (what it has waiting); across repos the longer of the
 * two goes first (runq.c), and the queue keeps a repo's chain as it admits.
 */
static void
set_priorities(struct sched *s, const struct plan *p, const size_t *members, size_t n)
{
	size_t nrepos = sched_config(s)->nrepos;
	long *work = xcalloc(nrepos + 1, sizeof(long));

	for (size_t k = 0; k < n; k++) {
		size_t i = members[k];
		bool on_chain = waits_for_repo(sched_issue_state(s, i)) && plan_wave_of(p, k) >= 0;

		runq_set_priority(sched_runq(s), i, plan_chain(p, k),
		    on_chain ? plan_expected(p, k) : 0);
		if (on_chain)
			work[sched_record(s, i)->repo] = plan_repo_chain(p, k);
	}
	for (size_t r = 0; r < nrepos; r++)
		runq_set_repo_work(sched_runq(s), r, work[r]);
	free(work);
}

void
backlog_replan(struct sched *s)
{
	struct issue_list list = { 0 };
	size_t *members;
	struct plan *p;

	link_dependencies(s);
	p = plan_open_issues(s, &list, &members);
	set_priorities(s, p, members, list.n);
	settle_waiting(s, p, members);
	free(list.v);		/* the array only: its specs' parts are the table's */
	plan_free(p);
	free(members);
}

int
backlog_sync(struct sched *s, const struct issue_list *source)
{
	bool *added = xcalloc(source->n, sizeof(bool));
	int rc = 0;

	for (size_t k = 0; k < source->n; k++) {
		enum store_upsert u = store_upsert_issue(sched_store(s), &source->v[k]);

		if (u == STORE_ERROR)
			rc = -1;
		added[k] = u == STORE_ADDED;
	}
	sched_load(s);
	for (size_t i = 0; i < records_count(sched_records(s)); i++)
		sched_record(s, i)->in_source = false;
	for (size_t k = 0; k < source->n; k++) {
		long i = sched_lookup(s, source->v[k].repo, source->v[k].number);
		struct record *is;

		if (i < 0)
			continue;
		is = sched_record(s, i);
		if (added[k])
			sched_event(s, (size_t)i, "queued", sched_fields("title", is->title));
		is->in_source = is->repo != RECORD_NO_REPO;
		runq_set_pool(sched_runq(s), (size_t)i,
		    source->v[k].pool[0] ? repo_intern(source->v[k].pool) : NULL);
		free(is->deps);
		is->ndeps = source->v[k].ndeps;
		is->deps = xcalloc(is->ndeps, sizeof(*is->deps));
		if (is->ndeps)
			memcpy(is->deps, source->v[k].deps, is->ndeps * sizeof(*is->deps));
	}
	free(added);
	backlog_replan(s);
	return rc;
}

int
backlog_retry(struct sched *s, const char *key, char **why)
{
	char repo[REPO_NAME_MAX + 1];
	long number, i;
	struct record *is;

	*why = NULL;
	if (!issue_key_parse(key, repo, sizeof(repo), &number) ||
	    (i = sched_lookup(s, repo, number)) < 0) {
		*why = xasprintf("no issue %s", key);
		return -1;
	}
	is = sched_record(s, i);
	if (is->repo == RECORD_NO_REPO) {
		*why = xasprintf("%s: repo \"%s\" is not configured", key, repo);
		return -1;
	}
	if (!is->in_source) {
		*why = xasprintf("%s is no longer in the issue source", key);
		return -1;
	}
	if (sched_issue_state(s, i) != STATE_DEAD && sched_issue_state(s, i) != STATE_BLOCKED) {
		*why = xasprintf("%s is %s: only a dead or blocked issue can be retried", key,
		    state_name(sched_issue_state(s, i)));
		return -1;
	}
	if (sched_issue_state(s, i) == STATE_DEAD) {
		is->attempts = 0;	/* a fresh set of attempts, and a fresh budget */
		is->at.tempfails = is->at.waits = 0;
		is->budget_usd = 0;
		is->budget_tokens = 0;
		store_budget_reset(sched_store(s), is->id);
		if (is->pr)
			awaiting_forget(s, (size_t)i);	/* and a new pull request */
	}
	sched_fire(s, (size_t)i, IN_RETRY, NULL, sched_fields("why", "retry"));
	backlog_replan(s);	/* ready if it can be; its blocked dependents follow */
	if (sched_issue_state(s, i) == STATE_BLOCKED) {
		const char *reason = records_reason(sched_records(s), i);

		*why = xasprintf("%s is still blocked: %s", key, reason ? reason : "?");
		return -1;
	}
	return 0;
}

