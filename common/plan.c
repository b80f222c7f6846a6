#include "common/plan.h"

#include <stdlib.h>
#include <string.h>

#include "common/keymap.h"
#include "common/util.h"

#define NONE ((size_t)-1)

struct plan {
	const struct issue_list *issues;
	size_t n;
	/* Dependency edges in CSR form: deps of i are dep[dep_at[i] .. dep_at[i+1]). */
	size_t *dep_at, *dep;
	/* The reverse edges: the dependents of i. */
	size_t *rdep_at, *rdep;
	char **reason;		/* why i is blocked, or NULL; may be shared */
	char **owned;		/* the distinct reason strings, freed at the end */
	size_t nowned;
	int *wave;
	long *chain;		/* the longest chain of expected time among its dependents */
	long *repo_chain;	/* what its repo has waiting, in expected time */
	int64_t *expected;	/* what each issue counts: ms, or 1 under the count rule */
	const bool *waits;	/* still waits for its repo (NULL: all do): on its repo's chain */
	bool timed;
	size_t **waves;		/* issue indexes per wave */
	size_t *wave_len;
	size_t nwaves;
	size_t *blocked;	/* blocked issue indexes, in list order */
	size_t nblocked;
};

static char *
plan_own(struct plan *p, char *reason)
{
	p->owned = xreallocarray(p->owned, p->nowned + 1, sizeof(*p->owned));
	p->owned[p->nowned++] = reason;
	return reason;
}

static void
append_key(struct strbuf *b, const struct issue_spec *s)
{
	strbuf_addf(b, "%s#%ld", s->repo, s->number);
}

/* Resolve each dependency to an index; an unresolvable one blocks its issue. */
static void
plan_resolve(struct plan *p, plan_satisfied_fn *satisfied, void *arg)
{
	const struct issue_list *l = p->issues;
	struct keymap *index = keymap_new(l->n);
	size_t nedges = 0, i, k, *fill;

	for (i = 0; i < l->n; i++) {
		keymap_put(index, l->v[i].repo, l->v[i].number, (long)i);
		nedges += l->v[i].ndeps;
	}
	p->dep_at = xcalloc(l->n + 1, sizeof(size_t));
	p->dep = xcalloc(nedges, sizeof(size_t));
	p->rdep_at = xcalloc(l->n + 2, sizeof(size_t));
	p->rdep = xcalloc(nedges, sizeof(size_t));
	nedges = 0;
	for (i = 0; i < l->n; i++) {
		struct strbuf unknown = { 0 };

		for (k = 0; k < l->v[i].ndeps; k++) {
			const struct issue_ref *d = &l->v[i].deps[k];
			long j = keymap_get(index, d->repo, d->number);

			if (j >= 0) {
				p->dep[nedges++] = (size_t)j;
				p->rdep_at[j + 2]++;
			} else if (satisfied == NULL || !satisfied(d, arg))
				strbuf_addf(&unknown, "%s%s#%ld", unknown.len ? ", " : "",
				    d->repo, d->number);
		}
		p->dep_at[i + 1] = nedges;
		if (unknown.len) {
			p->reason[i] = plan_own(p, xasprintf("unknown dependency %s", unknown.s));
			strbuf_free(&unknown);
		}
	}
	/* Counting sort of the reverse edges: rdep_at[j+2] counted, now prefix sums. */
	for (i = 2; i < l->n + 2; i++)
		p->rdep_at[i] += p->rdep_at[i - 1];
	fill = p->rdep_at + 1;
	for (i = 0; i < l->n; i++)
		for (k = p->dep_at[i]; k < p->dep_at[i + 1]; k++)
			p->rdep[fill[p->dep[k]]++] = i;
	keymap_free(index);
}

/* The one dependency of v inside its component, or NONE when not exactly one. */
static size_t
sole_dep_in(const struct plan *p, size_t v, const size_t *comp, size_t c)
{
	size_t found = NONE;

	for (size_t k = p->dep_at[v]; k < p->dep_at[v + 1]; k++) {
		size_t w = p->dep[k];

		if (comp[w] != c || w == found)
			continue;
		if (found != NONE)
			return NONE;
		found = w;
	}
	return found;
}

/*
 * Name a strongly connected component: a simple cycle as the path it takes
 * ("a -> b -> a"), anything tangled as the list of its members.
 */
static char *
cycle_reason(const struct plan *p, const size_t *members, size_t n,
    const size_t *comp, size_t c)
{
	struct strbuf b = { 0 };
	bool simple = true;
	size_t i, v;

	for (i = 0; i < n && simple; i++)
		simple = sole_dep_in(p, members[i], comp, c) != NONE;
	strbuf_add(&b, "cycle: ");
	if (simple) {
		v = members[0];
		do {
			append_key(&b, &p->issues->v[v]);
			strbuf_add(&b, " -> ");
			v = sole_dep_in(p, v, comp, c);
		} while (v != members[0]);
		append_key(&b, &p->issues->v[v]);
	} else {
		for (i = 0; i < n; i++) {
			if (i)
				strbuf_add(&b, i + 1 == n ? " and " : ", ");
			append_key(&b, &p->issues->v[members[i]]);
		}
		strbuf_add(&b, " depend on each other");
	}
	return strbuf_take(&b);
}

static bool
has_self_loop(const struct plan *p, size_t v)
{
	for (size_t k = p->dep_at[v]; k < p->dep_at[v + 1]; k++)
		if (p->dep[k] == v)
			return true;
	return false;
}

/* Tarjan's strongly connected components, iterative so that long chains cannot
 * overflow the stack; every component that is a cycle blocks its members. */
static void
plan_find_cycles(struct plan *p)
{
	size_t n = p->n, counter = 0, sp = 0, cp = 0, ncomp = 0;
	size_t *order = xcalloc(n, sizeof(size_t)), *low = xcalloc(n, sizeof(size_t));
	size_t *stack = xcalloc(n, sizeof(size_t)), *comp = xcalloc(n, sizeof(size_t));
	size_t *call = xcalloc(n, sizeof(size_t)), *edge = xcalloc(n, sizeof(size_t));
	bool *on_stack = xcalloc(n, sizeof(bool));

	for (size_t i = 0; i < n; i++)
		order[i] = comp[i] = NONE;
	for (size_t s = 0; s < n; s++) {
		if (order[s] != NONE)
			continue;
		order[s] = low[s] = counter++;
		stack[sp++] = s;
		on_stack[s] = true;
		call[cp] = s;
		edge[cp++] = p->dep_at[s];
		while (cp > 0) {
			size_t v = call[cp - 1];

			if (edge[cp - 1] < p->dep_at[v + 1]) {
				size_t w = p->dep[edge[cp - 1]++];

				if (order[w] == NONE) {
					order[w] = low[w] = counter++;
					stack[sp++] = w;
					on_stack[w] = true;
					call[cp] = w;
					edge[cp++] = p->dep_at[w];
				} else if (on_stack[w] && order[w] < low[v])
					low[v] = order[w];
				continue;
			}
			cp--;
			if (cp > 0 && low[v] < low[call[cp - 1]])
				low[call[cp - 1]] = low[v];
			if (low[v] != order[v])
				continue;
			/* v roots a component: its members sit on the stack above it. */
			size_t top = sp;
			while (stack[--sp] != v)
				;
			for (size_t k = sp; k < top; k++) {
				on_stack[stack[k]] = false;
				comp[stack[k]] = ncomp;
			}
			if (top - sp > 1 || has_self_loop(p, v)) {
				char *why = plan_own(p, cycle_reason(p, stack + sp, top - sp, comp, ncomp));
				for (size_t k = sp; k < top; k++)
					p->reason[stack[k]] = why;
			}
			ncomp++;
		}
	}
	free(order);
	free(low);
	free(stack);
	free(comp);
	free(call);
	free(edge);
	free(on_stack);
}

void
plan_spread_blocked(size_t n, const size_t *seeds, size_t nseeds,
    plan_dependents_fn *dependents, plan_block_fn *block, void *arg)
{
	size_t *queue = xcalloc(n + nseeds, sizeof(size_t)), head = 0, tail = 0;

	for (size_t k = 0; k < nseeds; k++)
		queue[tail++] = seeds[k];
	while (head < tail) {
		size_t v = queue[head++];
		const size_t *ws;
		size_t nws = dependents(v, &ws, arg);

		for (size_t k = 0; k < nws; k++)
			if (block(ws[k], v, arg))
				queue[tail++] = ws[k];
	}
	free(queue);
}

static size_t
plan_dependents(size_t v, const size_t **dependents, void *arg)
{
	const struct plan *p = arg;

	*dependents = p->rdep + p->rdep_at[v];
	return p->rdep_at[v + 1] - p->rdep_at[v];
}

static bool
plan_block(size_t w, size_t by, void *arg)
{
	struct plan *p = arg;
	struct strbuf b = { 0 };

	if (p->reason[w])
		return false;
	strbuf_add(&b, "dependency ");
	append_key(&b, &p->issues->v[by]);
	strbuf_add(&b, " is blocked");
	p->reason[w] = plan_own(p, strbuf_take(&b));
	return true;
}

/* Dependents of a blocked issue are blocked too, naming the dependency. */
static void
plan_propagate_blocked(struct plan *p)
{
	size_t *seeds = xcalloc(p->n, sizeof(size_t)), nseeds = 0;

	for (size_t i = 0; i < p->n; i++)
		if (p->reason[i])
			seeds[nseeds++] = i;
	plan_spread_blocked(p->n, seeds, nseeds, plan_dependents, plan_block, p);
	free(seeds);
}

/* Order within a wave: critical path first (its own chain of dependents on
 * a tie), then oldest, then by key. */
static int
priority_cmp(const void *a, const void *b, void *arg)
{
	const struct plan *p = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	const struct issue_spec *si = &p->issues->v[i], *sj = &p->issues->v[j];
	int c;

	if (plan_priority(p, i) != plan_priority(p, j))
		return plan_priority(p, i) > plan_priority(p, j) ? -1 : 1;
	if (p->chain[i] != p->chain[j])
		return p->chain[i] > p->chain[j] ? -1 : 1;
	if (si->created != sj->created)
		return si->created < sj->created ? -1 : 1;
	if ((c = strcmp(si->repo, sj->repo)) != 0)
		return c;
	return (si->number > sj->number) - (si->number < sj->number);
}

static int
repo_cmp(const void *a, const void *b, void *arg)
{
	const struct plan *p = arg;

	return strcmp(p->issues->v[*(const size_t *)a].repo, p->issues->v[*(const size_t *)b].repo);
}

/*
 * A repo runs its issues one at a time (DESIGN.md section 4 rule 1): what
 * it has waiting is a chain of its own, whichever order its issues go in.
 * An issue's priority is the longer of its chain of dependents and its
 * repo's chain, so that the repo whose work would be left to run alone at
 * the end starts first.  (With noisy expected times, critical paths of
 * dependents alone rarely tie, and would not see this.)
 */
static void
plan_count_repo_chains(struct plan *p)
{
	size_t *v = xcalloc(p->n + 1, sizeof(size_t)), n = 0, a, b;

	for (size_t i = 0; i < p->n; i++)
		if (!p->reason[i])
			v[n++] = i;
	qsort_r(v, n, sizeof(size_t), repo_cmp, p);	/* by repo: each repo's chain summed */
	for (a = 0; a < n; a = b) {
		long work = 0;

		for (b = a; b < n && strcmp(p->issues->v[v[b]].repo, p->issues->v[v[a]].repo) == 0; b++)
			work += p->waits && !p->waits[v[b]] ? 0 : (long)p->expected[v[b]];
		for (size_t k = a; k < b; k++)
			p->repo_chain[v[k]] = work;
	}
	free(v);
}

/*
 * Kahn's topological order over the unblocked issues gives each its wave (the
 * longest chain from a root); walking that order backwards gives the critical
 * path of dependents, and with its repo's chain the priority.  Blocked issues never enter the order, and every
 * dependent of a blocked issue is blocked too, so the order is complete.
 */
static void
plan_layer(struct plan *p)
{
	size_t *indeg = xcalloc(p->n, sizeof(size_t)), *topo = xcalloc(p->n, sizeof(size_t));
	size_t head = 0, tail = 0, i, k;
	int maxwave = -1;

	for (i = 0; i < p->n; i++) {
		p->wave[i] = -1;
		indeg[i] = p->dep_at[i + 1] - p->dep_at[i];
		if (!p->reason[i] && indeg[i] == 0) {
			topo[tail++] = i;
			p->wave[i] = 0;
		}
	}
	while (head < tail) {
		size_t v = topo[head++];

		if (p->wave[v] > maxwave)
			maxwave = p->wave[v];
		for (k = p->rdep_at[v]; k < p->rdep_at[v + 1]; k++) {
			size_t w = p->rdep[k];

			if (p->reason[w])
				continue;
			if (p->wave[w] < p->wave[v] + 1)
				p->wave[w] = p->wave[v] + 1;
			if (--indeg[w] == 0)
				topo[tail++] = w;
		}
	}
	while (tail > 0) {
		size_t v = topo[--tail];
		long best = 0;

		for (k = p->rdep_at[v]; k < p->rdep_at[v + 1]; k++)
			if (p->chain[p->rdep[k]] > best)
				best = p->chain[p->rdep[k]];
		p->chain[v] = best + (long)p->expected[v];
	}
	plan_count_repo_chains(p);
	p->nwaves = (size_t)(maxwave + 1);
	p->waves = xcalloc(p->nwaves, sizeof(*p->waves));
	p->wave_len = xcalloc(p->nwaves, sizeof(size_t));
	for (i = 0; i < p->n; i++)
		if (p->wave[i] >= 0)
			p->wave_len[p->wave[i]]++;
	for (k = 0; k < p->nwaves; k++) {
		p->waves[k] = xcalloc(p->wave_len[k], sizeof(size_t));
		p->wave_len[k] = 0;
	}
	for (i = 0; i < p->n; i++)
		if (p->wave[i] >= 0)
			p->waves[p->wave[i]][p->wave_len[p->wave[i]]++] = i;
	for (k = 0; k < p->nwaves; k++)
		qsort_r(p->waves[k], p->wave_len[k], sizeof(size_t), priority_cmp, p);
	free(indeg);
	free(topo);
}

/*
 * What each issue counts on the critical path: its expected time when some
 * issue has one, the mean of the known ones for an issue without; 1 each
 * (the count rule) when no issue has any history yet.
 */
static void
plan_weigh(struct plan *p, const int64_t *expected_ms)
{
	int64_t sum = 0, known = 0;

	p->expected = xcalloc(p->n + 1, sizeof(int64_t));
	for (size_t i = 0; expected_ms && i < p->n; i++)
		if (expected_ms[i] > 0) {
			sum += expected_ms[i];
			known++;
		}
	p->timed = known > 0;
	for (size_t i = 0; i < p->n; i++)
		p->expected[i] = !p->timed ? 1 : expected_ms[i] > 0 ? expected_ms[i] :
		    sum / known > 0 ? sum / known : 1;
}

struct plan *
plan_build_timed(const struct issue_list *issues, const int64_t *expected_ms,
    const bool *waits, plan_satisfied_fn *satisfied, void *arg)
{
	struct plan *p = xcalloc(1, sizeof(*p));

	p->waits = waits;
	p->issues = issues;
	p->n = issues->n;
	p->reason = xcalloc(p->n, sizeof(char *));
	p->wave = xcalloc(p->n, sizeof(int));
	p->chain = xcalloc(p->n, sizeof(long));
	p->repo_chain = xcalloc(p->n, sizeof(long));
	plan_weigh(p, expected_ms);
	plan_resolve(p, satisfied, arg);
	plan_find_cycles(p);
	plan_propagate_blocked(p);
	plan_layer(p);
	p->blocked = xcalloc(p->n, sizeof(size_t));
	for (size_t i = 0; i < p->n; i++)
		if (p->reason[i])
			p->blocked[p->nblocked++] = i;
	return p;
}

struct plan *
plan_build(const struct issue_list *issues, plan_satisfied_fn *satisfied, void *arg)
{
	return plan_build_timed(issues, NULL, NULL, satisfied, arg);
}

bool
plan_is_timed(const struct plan *p)
{
	return p->timed;
}

int64_t
plan_expected(const struct plan *p, size_t issue)
{
	return p->expected[issue];
}

int64_t
plan_wave_expected(const struct plan *p, size_t k)
{
	size_t n = p->wave_len[k], *v;
	int64_t longest = 0, sum = 0;

	if (!p->timed || n == 0)
		return 0;
	/* By repo: each repo's issues of the wave summed, the longest sum kept. */
	v = xcalloc(n, sizeof(size_t));
	memcpy(v, p->waves[k], n * sizeof(size_t));
	qsort_r(v, n, sizeof(size_t), repo_cmp, (void *)p);
	for (size_t a = 0; a < n; a++) {
		if (a > 0 && strcmp(p->issues->v[v[a]].repo, p->issues->v[v[a - 1]].repo) != 0)
			sum = 0;
		sum += p->expected[v[a]];
		if (sum > longest)
			longest = sum;
	}
	free(v);
	return longest;
}

int64_t
plan_expected_ms(int64_t repo_ms, int64_t pool_ms)
{
	if (repo_ms > 0 && pool_ms > 0)
		return (repo_ms + pool_ms) / 2;
	return repo_ms > 0 ? repo_ms : pool_ms > 0 ? pool_ms : 0;
}

void
plan_free(struct plan *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nowned; i++)
		free(p->owned[i]);
	for (size_t k = 0; k < p->nwaves; k++)
		free(p->waves[k]);
	free(p->owned);
	free(p->waves);
	free(p->wave_len);
	free(p->dep_at);
	free(p->dep);
	free(p->rdep_at);
	free(p->rdep);
	free(p->reason);
	free(p->wave);
	free(p->chain);
	free(p->repo_chain);
	free(p->expected);
	free(p->blocked);
	free(p);
}

size_t
plan_wave_count(const struct plan *p)
{
	return p->nwaves;
}

const size_t *
plan_wave(const struct plan *p, size_t k, size_t *n)
{
	*n = p->wave_len[k];
	return p->waves[k];
}

size_t
plan_blocked_count(const struct plan *p)
{
	return p->nblocked;
}

size_t
plan_blocked_issue(const struct plan *p, size_t k)
{
	return p->blocked[k];
}

const char *
plan_blocked_reason(const struct plan *p, size_t k)
{
	return p->reason[p->blocked[k]];
}

int
plan_wave_of(const struct plan *p, size_t issue)
{
	return p->wave[issue];
}

/* The larger of its chain of dependents and its repo's chain. */
long
plan_priority(const struct plan *p, size_t issue)
{
	return p->chain[issue] > p->repo_chain[issue] ? p->chain[issue] : p->repo_chain[issue];
}

long
plan_chain(const struct plan *p, size_t issue)
{
	return p->chain[issue];
}

long
plan_repo_chain(const struct plan *p, size_t issue)
{
	return p->repo_chain[issue];
}


