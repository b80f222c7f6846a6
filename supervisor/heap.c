#include "supervisor/heap.h"

#include <stdlib.h>

#include "common/util.h"

void
heap_init(struct heap *h, bool (*before)(size_t, size_t, void *),
    void (*moved)(size_t, size_t, void *), void *ctx)
{
	*h = (struct heap){ .before = before, .moved = moved, .ctx = ctx };
}

void
heap_free(struct heap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

static void
place(struct heap *h, size_t pos, size_t item)
{
	h->v[pos] = item;
	h->moved(item, pos, h->ctx);
}

static void
sift_up(struct heap *h, size_t pos)
{
	size_t item = h->v[pos];

	while (pos > 0) {
		size_t parent = (pos - 1) / 2;

		if (!h->before(item, h->v[parent], h->ctx))
			break;
		place(h, pos, h->v[parent]);
		pos = parent;
	}
	place(h, pos, item);
}

static void
sift_down(struct heap *h, size_t pos)
{
	size_t item = h->v[pos];

	for (;;) {
		size_t child = 2 * pos + 1;

		if (child >= h->n)
			break;
		if (child + 1 < h->n && h->before(h->v[child + 1], h->v[child], h->ctx))
			child++;
		if (!h->before(h->v[child], item, h->ctx))
			break;
		place(h, pos, h->v[child]);
		pos = child;
	}
	place(h, pos, item);
}

void
heap_push(struct heap *h, size_t item)
{
	grow_array((void **)&h->v, &h->cap, h->n + 1, sizeof(*h->v));
	h->v[h->n++] = item;
	sift_up(h, h->n - 1);
}

size_t
heap_top(const struct heap *h)
{
	return h->n ? h->v[0] : HEAP_NONE;
}

void
heap_remove(struct heap *h, size_t pos)
{
	size_t item = h->v[pos];

	h->n--;
	if (pos != h->n) {
		h->v[pos] = h->v[h->n];
		heap_fix(h, pos);
	}
	h->moved(item, HEAP_NONE, h->ctx);
}

void
heap_fix(struct heap *h, size_t pos)
{
	if (pos > 0 && h->before(h->v[pos], h->v[(pos - 1) / 2], h->ctx))
		sift_up(h, pos);
	else
		sift_down(h, pos);
}
