/*
 * An indexed binary heap of item numbers (indexes into the caller's table).
 * The caller keeps each item's position through the moved callback, so that
 * an item can be removed or re-sifted in O(log n) when its key changes.
 */
#ifndef WAVED_HEAP_H
#define WAVED_HEAP_H

#include <stdbool.h>
#include <stddef.h>

#define HEAP_NONE ((size_t)-1)

struct heap {
	size_t *v;
	size_t n, cap;
	bool (*before)(size_t a, size_t b, void *ctx);	/* a comes out first */
	void (*moved)(size_t item, size_t pos, void *ctx);	/* HEAP_NONE: removed */
	void *ctx;
};

void heap_init(struct heap *h, bool (*before)(size_t, size_t, void *),
    void (*moved)(size_t, size_t, void *), void *ctx);
void heap_free(struct heap *h);
void heap_push(struct heap *h, size_t item);
/* The first item, or HEAP_NONE when empty. */
size_t heap_top(const struct heap *h);
void heap_remove(struct heap *h, size_t pos);
/* Restore order after the key of the item at pos changed. */
void heap_fix(struct heap *h, size_t pos);

#endif
