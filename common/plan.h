/*
 * The dependency plan (DESIGN.md section 4): waves, cycles, blocked issues and
 * critical-path priorities, computed in O(V+E) from a list of issue specs.
 */
#ifndef WAVED_PLAN_H
#define WAVED_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/issue.h"

struct plan;

/*
 * Called for a dependency that is not in the list: true when it is already
 * satisfied (done before, or closed upstream), false when it is unknown.
 */
typedef bool plan_satisfied_fn(const struct issue_ref *dep, void *arg);

/* Plan the issues; satisfied may be NULL (every missing dependency is unknown). */
struct plan *plan_build(const struct issue_list *issues, plan_satisfied_fn *satisfied,
    void *arg);
/*
 * The same, with expected times (section 4 rule 4): expected_ms[k] is what
 * issue k of the list is expected to take (0: no history for it).  An
 * issue's chains are then in expected time; an issue without history
 * counts the mean of those with one.  With no history at all (or
 * expected_ms NULL), each issue counts 1: the count rule.  waits[k] (NULL:
 * every issue does) says issue k still waits for its repo's slot: one
 * admitted, or waiting for a person's merge, holds its dependents back but
 * is off its repo's chain.
 */
struct plan *plan_build_timed(const struct issue_list *issues, const int64_t *expected_ms,
    const bool *waits, plan_satisfied_fn *satisfied, void *arg);
/* Some issue had history: priorities are in ms. */
bool plan_is_timed(const struct plan *p);
/* What the issue counted: ms, or 1 under the count rule. */
int64_t plan_expected(const struct plan *p, size_t issue);
/* The expected time of wave k: a repo runs its issues one after the other,
 * repos run side by side, so the longest repo's sum (0 under the count rule). */
int64_t plan_wave_expected(const struct plan *p, size_t k);
/* An issue's expected time from its repo's and its pool's (common/expect.h;
 * 0: no history): the mean of those known, or 0. */
int64_t plan_expected_ms(int64_t repo_ms, int64_t pool_ms);
void plan_free(struct plan *p);

/* Waves in order; each holds indexes into the issue list, by admission priority. */
size_t plan_wave_count(const struct plan *p);
const size_t *plan_wave(const struct plan *p, size_t k, size_t *n);

/* Blocked issues, in list order, each with why (a cycle, an unknown or blocked dependency). */
size_t plan_blocked_count(const struct plan *p);
size_t plan_blocked_issue(const struct plan *p, size_t k);
const char *plan_blocked_reason(const struct plan *p, size_t k);

/*
 * Blocking spreads to dependents: breadth-first from the seeds, block(w, by)
 * is asked once for each dependent w of an issue reached (by), and says
 * whether w is now blocked (recording why); a blocked issue is reached in
 * turn.  One walk for the plan, the scheduler's settling and its runtime.
 */
typedef size_t plan_dependents_fn(size_t v, const size_t **dependents, void *arg);
typedef bool plan_block_fn(size_t w, size_t by, void *arg);
void plan_spread_blocked(size_t n, const size_t *seeds, size_t nseeds,
    plan_dependents_fn *dependents, plan_block_fn *block, void *arg);

/* Per issue: its wave (-1 when blocked) and critical-path priority: the
 * longer of its chain of dependents (itself included) and its repo's chain
 * (what the repo has waiting, itself included: a repo runs one issue at a
 * time), in expected ms or in issues under the count rule; 0 when blocked. */
int plan_wave_of(const struct plan *p, size_t issue);
long plan_priority(const struct plan *p, size_t issue);
/* Its chain of dependents alone: of two equal priorities, the longer goes
 * first; and its repo's chain alone (0 when blocked). */
long plan_chain(const struct plan *p, size_t issue);
long plan_repo_chain(const struct plan *p, size_t issue);

#endif
