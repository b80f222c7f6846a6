/*
 * The scheduler's dependency index (DESIGN.md section 4): who waits for
 * whom, and how many dependencies each issue still waits for.  Lists in,
 * lists out: it never changes an issue's state; supervisor/sched.c fires
 * the transitions on what it returns.  Issues are the scheduler's indexes.
 */
#ifndef WAVED_DEPS_H
#define WAVED_DEPS_H

#include <stdbool.h>
#include <stddef.h>

struct deps;

struct deps *deps_new(void);
void deps_free(struct deps *d);
/* Forget every edge: n issues, none waiting for anything. */
void deps_reset(struct deps *d, size_t n);
/* dependent waits for dependency, unless that is done already. */
void deps_add(struct deps *d, size_t dependent, size_t dependency, bool done);
/* Dependencies of i not done yet (0 for an issue the index has not seen). */
size_t deps_pending(const struct deps *d, size_t i);
size_t deps_dependents(const struct deps *d, size_t i, const size_t **dependents);
/* Dependency i is done: the dependents that waited for it last, into
 * *freed (caller frees); their count. */
size_t deps_done(struct deps *d, size_t i, size_t **freed);

/*
 * Breadth-first from the seeds over dependents: each dependent w not
 * reached yet is asked reach(w) once; a yes reaches it, with the issue it
 * was reached from, and goes on from it.  The hits in order (caller frees
 * *hits); their count.
 */
struct deps_hit {
	size_t issue, by;
};
typedef bool deps_reach_fn(size_t w, void *arg);
size_t deps_spread(const struct deps *d, const size_t *seeds, size_t nseeds,
    deps_reach_fn *reach, void *arg, struct deps_hit **hits);

#endif
