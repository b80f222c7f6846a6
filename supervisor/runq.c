#include "supervisor/runq.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "supervisor/admission.h"
#include "supervisor/heap.h"
#include "supervisor/records.h"

/* What the queues keep of an issue. */
struct place {
	long priority;			/* its chain of dependents (plan_chain) */
	long expected;			/* on its repo's chain: what it counts there; else 0 */
	bool taken;			/* admitted since the last plan: off its repo's chain */
	size_t pos;			/* in its repo's ready heap, or in the retry heap */
	size_t shelf;			/* which of its repo's ready heaps: its pool's */
};

struct runq_repo {
	const struct repo_conf *conf;
	bool busy;			/* an issue holds the repo slot */
	/* Its ready issues by priority, one heap per pool (0: none, k + 1: pool k). */
	struct heap *ready;
	size_t nshelves;
	size_t nready;
	size_t pos;			/* in the admit heap */
	int inflight;			/* its issues between admission and landing */
	long peak_kb;			/* recent peak resident size of its phases, 0: unknown */
	long work;			/* its chain: the expected time of what it has waiting */
	size_t conflicted;		/* an issue whose attempt failed on a conflict: the repo's
					 * next admission, once none is in flight; SIZE_MAX: none */
};

struct runq {
	const struct config *cfg;
	struct records *records;
	struct admission *adm;
	struct place *v;		/* by record */
	size_t n;
	struct runq_repo *repos;	/* the configuration's repos, in order */
	size_t nrepos;
	struct heap admit;		/* repos that may admit their next ready issue */
	struct heap retry;		/* issues in retry_wait, by retry_at */
};

static const struct record *
rec(const struct runq *q, size_t i)
{
	return records_get(q->records, i);
}

/* ---- ordering ---- */

/* Within a repo: the longer chain of dependents first, then oldest, then by
 * key (its repo's chain is the same for all: wavectl plan's order). */
static bool
issue_before(size_t a, size_t b, void *ctx)
{
	const struct runq *q = ctx;
	const struct record *x = rec(q, a), *y = rec(q, b);
	int c;

	if (q->v[a].priority != q->v[b].priority)
		return q->v[a].priority > q->v[b].priority;
	if (x->created != y->created)
		return x->created < y->created;
	if ((c = strcmp(q->repos[x->repo].conf->name, q->repos[y->repo].conf->name)) != 0)
		return c < 0;
	return x->number < y->number;
}

static void
issue_moved(size_t item, size_t pos, void *ctx)
{
	((struct runq *)ctx)->v[item].pos = pos;
}

static size_t repo_next(const struct runq *q, size_t r);

/* The critical path through a repo's next issue: its chain of dependents,
 * or the repo's own chain when longer (a repo runs one at a time). */
static long
rank(const struct runq *q, size_t r, size_t next)
{
	return q->v[next].priority > q->repos[r].work ? q->v[next].priority : q->repos[r].work;
}

/*
 * Across repos, by the issue each would admit: the longer critical path
 * first, counting the repo's chain (rank); then the longer chain of
 * dependents; of two equal, the repo with more issues ready.
 */
static bool
repo_before(size_t a, size_t b, void *ctx)
{
	struct runq *q = ctx;
	size_t x = repo_next(q, a), y = repo_next(q, b);

	if (x == SIZE_MAX || y == SIZE_MAX)	/* about to leave the admit heap */
		return y == SIZE_MAX && x != SIZE_MAX;
	if (rank(q, a, x) != rank(q, b, y))
		return rank(q, a, x) > rank(q, b, y);
	if (q->v[x].priority == q->v[y].priority && q->repos[a].nready != q->repos[b].nready)
		return q->repos[a].nready > q->repos[b].nready;
	return issue_before(x, y, ctx);
}

static void
repo_moved(size_t item, size_t pos, void *ctx)
{
	((struct runq *)ctx)->repos[item].pos = pos;
}

static bool
retry_before(size_t a, size_t b, void *ctx)
{
	const struct runq *q = ctx;

	return rec(q, a)->retry_at < rec(q, b)->retry_at;
}

long
runq_pool(const struct runq *q, size_t i)
{
	const struct record *is = rec(q, i);
	const char *name = is->pool ? is->pool :
	    is->repo != RECORD_NO_REPO ? q->repos[is->repo].conf->pool : NULL;

	return admission_pool(q->adm, name);
}

/*
 * The issue the repo would admit next: its conflicted one, else the first by
 * priority of those whose pool has a free slot (DESIGN.md section 16: an
 * issue waiting for its pool holds back no other of its repo); SIZE_MAX:
 * none has room.
 */
static size_t
repo_next(const struct runq *q, size_t r)
{
	const struct runq_repo *repo = &q->repos[r];
	size_t best = SIZE_MAX;

	if (repo->conflicted != SIZE_MAX)
		return repo->conflicted;
	for (size_t k = 0; k < repo->nshelves; k++) {
		size_t top = heap_top(&repo->ready[k]);

		if (top == HEAP_NONE || !admission_pool_room(q->adm, (long)k - 1))
			continue;
		if (best == SIZE_MAX || issue_before(top, best, (void *)q))
			best = top;
	}
	return best;
}

/* Keep the repo's place in the admit heap true to its slot, its ready issues
 * and their pools. */
static void
repo_refresh(struct runq *q, size_t r)
{
	struct runq_repo *repo = &q->repos[r];
	bool admissible = !repo->busy && repo->nready > 0;
	size_t next;

	if (repo->conflicted != SIZE_MAX) {
		enum issue_state st = records_state(q->records, repo->conflicted);

		if (st != STATE_READY && st != STATE_RETRY_WAIT && st != STATE_QUEUED)
			repo->conflicted = SIZE_MAX;	/* dead, or retried by hand: no claim */
		else
			admissible = admissible && repo->inflight == 0 && st == STATE_READY;
	}
	/* The repo slot first, then the pool's: waiting for its pool, it holds no cap slot. */
	if (admissible) {
		next = repo_next(q, r);
		admissible = next != SIZE_MAX && admission_pool_room(q->adm, runq_pool(q, next));
	}

	if (admissible && repo->pos == HEAP_NONE)
		heap_push(&q->admit, r);
	else if (admissible)
		heap_fix(&q->admit, repo->pos);
	else if (repo->pos != HEAP_NONE)
		heap_remove(&q->admit, repo->pos);
}

/* Every repo at once: the admit heap built again, for many keys moved together. */
void
runq_refresh(struct runq *q)
{
	heap_free(&q->admit);
	heap_init(&q->admit, repo_before, repo_moved, q);
	for (size_t r = 0; r < q->nrepos; r++) {
		q->repos[r].pos = HEAP_NONE;
		repo_refresh(q, r);
	}
}

/* ---- issues in and out ---- */

void
runq_unlist(struct runq *q, size_t i)
{
	struct place *p = &q->v[i];
	size_t repo = rec(q, i)->repo;

	if (p->pos == HEAP_NONE)
		return;
	if (records_state(q->records, i) == STATE_READY) {
		heap_remove(&q->repos[repo].ready[p->shelf], p->pos);
		q->repos[repo].nready--;
		repo_refresh(q, repo);
	} else if (records_state(q->records, i) == STATE_RETRY_WAIT)
		heap_remove(&q->retry, p->pos);
}

void
runq_list(struct runq *q, size_t i)
{
	struct place *p = &q->v[i];
	const struct record *is = rec(q, i);
	enum issue_state st = records_state(q->records, i);

	if (p->pos != HEAP_NONE)
		return;
	if (p->taken && is->repo != RECORD_NO_REPO) {
		/* Back in line without a plan since: on its repo's chain again. */
		q->repos[is->repo].work += p->expected;
		p->taken = false;
	}
	if (st == STATE_READY && is->in_source && is->repo != RECORD_NO_REPO) {
		p->shelf = (size_t)(runq_pool(q, i) + 1);
		heap_push(&q->repos[is->repo].ready[p->shelf], i);
		q->repos[is->repo].nready++;
		repo_refresh(q, is->repo);
	} else if (st == STATE_RETRY_WAIT)
		heap_push(&q->retry, i);
}

void
runq_set_pool(struct runq *q, size_t i, const char *pool)
{
	struct record *is = records_get(q->records, i);

	if (pool != is->pool && records_state(q->records, i) == STATE_READY &&
	    q->v[i].pos != HEAP_NONE) {
		runq_unlist(q, i);	/* onto its new pool's shelf */
		is->pool = pool;
		runq_list(q, i);
	} else
		is->pool = pool;
}

long
runq_priority(const struct runq *q, size_t i)
{
	return q->v[i].priority;
}

void
runq_set_priority(struct runq *q, size_t i, long priority, long expected)
{
	struct place *p = &q->v[i];
	bool listed = records_state(q->records, i) == STATE_READY && p->pos != HEAP_NONE;
	size_t repo = rec(q, i)->repo;

	p->expected = expected;
	p->taken = false;	/* the plan counted its repo's chain afresh */
	if (priority == p->priority)
		return;
	p->priority = priority;
	if (listed) {
		heap_fix(&q->repos[repo].ready[p->shelf], p->pos);
		repo_refresh(q, repo);
	}
}

/* ---- repos ---- */

void
runq_set_repo_work(struct runq *q, size_t repo, long work)
{
	if (q->repos[repo].work == work)
		return;
	q->repos[repo].work = work;
	repo_refresh(q, repo);
}

long
runq_repo_rank(const struct runq *q, size_t repo)
{
	size_t next = repo_next(q, repo);

	return next == SIZE_MAX ? q->repos[repo].work : rank(q, repo, next);
}

void
runq_repo_busy(struct runq *q, size_t repo, bool busy)
{
	q->repos[repo].busy = busy;
	repo_refresh(q, repo);
}

void
runq_repo_flights(struct runq *q, size_t repo, int delta)
{
	q->repos[repo].inflight += delta;
	repo_refresh(q, repo);
}

size_t
runq_next_repo(const struct runq *q)
{
	return q->admit.n > 0 ? heap_top(&q->admit) : SIZE_MAX;
}

size_t
runq_take(struct runq *q, size_t repo)
{
	size_t i = repo_next(q, repo);

	q->repos[repo].conflicted = SIZE_MAX;
	if (i != SIZE_MAX && !q->v[i].taken) {
		/* Admitted: off its repo's chain (the repo is busy meanwhile; its
		 * place among the repos is refreshed when it is free again). */
		q->repos[repo].work -= q->v[i].expected;
		q->v[i].taken = true;
	}
	return i;
}

void
runq_claim(struct runq *q, size_t i)
{
	size_t repo = rec(q, i)->repo;

	if (q->repos[repo].conflicted != SIZE_MAX)
		return;
	q->repos[repo].conflicted = i;
	repo_refresh(q, repo);
}

long
runq_peak_kb(const struct runq *q, size_t repo)
{
	return q->repos[repo].peak_kb;
}

void
runq_note_peak(struct runq *q, size_t repo, long maxrss_kb)
{
	struct runq_repo *r = &q->repos[repo];

	if (maxrss_kb <= 0)
		return;
	r->peak_kb = maxrss_kb >= r->peak_kb ? maxrss_kb : (r->peak_kb * 3 + maxrss_kb) / 4;
}

size_t
runq_next_retry(const struct runq *q)
{
	size_t top = heap_top(&q->retry);

	return top == HEAP_NONE ? SIZE_MAX : top;
}

size_t
runq_admissible(const struct runq *q)
{
	return q->admit.n;
}

size_t
runq_retrying(const struct runq *q)
{
	return q->retry.n;
}

/* ---- setup ---- */

static void
repos_free(struct runq_repo *repos, size_t n)
{
	for (size_t r = 0; r < n; r++) {
		for (size_t k = 0; k < repos[r].nshelves; k++)
			heap_free(&repos[r].ready[k]);
		free(repos[r].ready);
	}
	free(repos);
}

static void
repos_build(struct runq *q, const struct config *cfg)
{
	q->nrepos = cfg->nrepos;
	q->repos = xcalloc(q->nrepos, sizeof(*q->repos));
	for (size_t r = 0; r < q->nrepos; r++) {
		q->repos[r].conf = &cfg->repos[r];
		q->repos[r].pos = HEAP_NONE;
		q->repos[r].conflicted = SIZE_MAX;
		q->repos[r].nshelves = cfg->npools + 1;
		q->repos[r].ready = xcalloc(q->repos[r].nshelves, sizeof(struct heap));
		for (size_t k = 0; k < q->repos[r].nshelves; k++)
			heap_init(&q->repos[r].ready[k], issue_before, issue_moved, q);
	}
}

struct runq *
runq_new(const struct config *cfg, struct records *r, struct admission *a)
{
	struct runq *q = xcalloc(1, sizeof(*q));

	q->cfg = config_hold(cfg);
	q->records = r;
	q->adm = a;
	repos_build(q, cfg);
	heap_init(&q->admit, repo_before, repo_moved, q);
	heap_init(&q->retry, retry_before, issue_moved, q);
	return q;
}

void
runq_free(struct runq *q)
{
	if (q == NULL)
		return;
	repos_free(q->repos, q->nrepos);
	heap_free(&q->admit);
	heap_free(&q->retry);
	free(q->v);
	config_release(q->cfg);
	free(q);
}

void
runq_grow(struct runq *q)
{
	size_t n = records_count(q->records);

	if (n <= q->n)
		return;
	q->v = xreallocarray(q->v, n, sizeof(*q->v));
	for (size_t i = q->n; i < n; i++)
		q->v[i] = (struct place){ .pos = HEAP_NONE };
	q->n = n;
}

void
runq_reconfigure(struct runq *q, const struct config *cfg)
{
	struct runq_repo *old = q->repos;
	size_t nold = q->nrepos;

	for (size_t i = 0; i < q->n; i++)
		q->v[i].pos = HEAP_NONE;
	heap_free(&q->admit);
	heap_init(&q->admit, repo_before, repo_moved, q);
	heap_free(&q->retry);
	heap_init(&q->retry, retry_before, issue_moved, q);
	repos_build(q, cfg);
	/* What a repo learnt stays with it: its memory peak, its conflict-first claim. */
	for (size_t r = 0; r < nold; r++)
		for (size_t k = 0; k < q->nrepos; k++)
			if (strcmp(q->repos[k].conf->name, old[r].conf->name) == 0) {
				q->repos[k].peak_kb = old[r].peak_kb;
				q->repos[k].conflicted = old[r].conflicted;
				break;
			}
	repos_free(old, nold);
	config_release(q->cfg);
	q->cfg = config_hold(cfg);
}
