/*
 * A hash map from an issue key (repo, number) to a non-negative index, with
 * its own copy of every repo name so that callers may move their data.
 */
#ifndef WAVED_KEYMAP_H
#define WAVED_KEYMAP_H

#include <stddef.h>

struct keymap;

struct keymap *keymap_new(size_t expected);
void keymap_free(struct keymap *m);
/* Insert or replace. value must be >= 0. */
void keymap_put(struct keymap *m, const char *repo, long number, long value);
/* The value, or -1 when absent. */
long keymap_get(const struct keymap *m, const char *repo, long number);

#endif
