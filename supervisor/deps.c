#include "supervisor/deps.h"

#include <stdlib.h>

#include "common/util.h"

struct deps_node {
	size_t pending;
	size_t *dependents;
	size_t n, cap;
};

struct deps {
	struct deps_node *v;
	size_t n, cap;
};

struct deps *
deps_new(void)
{
	return xcalloc(1, sizeof(struct deps));
}

void
deps_free(struct deps *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->cap; i++)
		free(d->v[i].dependents);
	free(d->v);
	free(d);
}

void
deps_reset(struct deps *d, size_t n)
{
	size_t old = d->cap;

	grow_array((void **)&d->v, &d->cap, n, sizeof(*d->v));
	for (size_t i = old; i < d->cap; i++)
		d->v[i] = (struct deps_node){ 0 };
	for (size_t i = 0; i < d->cap; i++) {
		d->v[i].pending = 0;
		d->v[i].n = 0;
	}
	d->n = n;
}

void
deps_add(struct deps *d, size_t dependent, size_t dependency, bool done)
{
	struct deps_node *dep = &d->v[dependency];

	grow_array((void **)&dep->dependents, &dep->cap, dep->n + 1, sizeof(size_t));
	dep->dependents[dep->n++] = dependent;
	if (!done)
		d->v[dependent].pending++;
}

size_t
deps_pending(const struct deps *d, size_t i)
{
	return i < d->n ? d->v[i].pending : 0;
}

size_t
deps_dependents(const struct deps *d, size_t i, const size_t **dependents)
{
	if (i >= d->n) {
		*dependents = NULL;
		return 0;
	}
	*dependents = d->v[i].dependents;
	return d->v[i].n;
}

size_t
deps_done(struct deps *d, size_t i, size_t **freed)
{
	const size_t *ws;
	size_t nws = deps_dependents(d, i, &ws), n = 0;

	*freed = xcalloc(nws + 1, sizeof(size_t));
	for (size_t k = 0; k < nws; k++) {
		struct deps_node *w = &d->v[ws[k]];

		if (w->pending == 0)
			continue;
		if (--w->pending == 0)
			(*freed)[n++] = ws[k];
	}
	return n;
}

size_t
deps_spread(const struct deps *d, const size_t *seeds, size_t nseeds, deps_reach_fn *reach,
    void *arg, struct deps_hit **hits)
{
	bool *reached = xcalloc(d->n + 1, sizeof(bool));
	size_t *queue = xcalloc(d->n + nseeds + 1, sizeof(size_t)), head = 0, tail = 0, n = 0;

	*hits = xcalloc(d->n + 1, sizeof(**hits));
	for (size_t k = 0; k < nseeds; k++) {
		if (seeds[k] < d->n)
			reached[seeds[k]] = true;
		queue[tail++] = seeds[k];
	}
	while (head < tail) {
		size_t v = queue[head++];
		const size_t *ws;
		size_t nws = deps_dependents(d, v, &ws);

		for (size_t k = 0; k < nws; k++) {
			size_t w = ws[k];

			if (reached[w] || !reach(w, arg))
				continue;
			reached[w] = true;
			(*hits)[n++] = (struct deps_hit){ w, v };
			queue[tail++] = w;
		}
	}
	free(queue);
	free(reached);
	return n;
}
