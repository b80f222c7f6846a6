/*
 * Expected times (DESIGN.md section 4 rule 4): what an issue of a repo (or
 * of a pool) is expected to take, from what the attempts there took.
 *
 * Each repo keeps a moving average of its attempts and of their spread.  An
 * average of a few attempts that vary is mostly chance: ranked on it, a repo
 * whose one attempt was short would look short and be left to run alone at
 * the end.  So each average is drawn toward the mean of all of them as far
 * as the spread says it is noise (an empirical Bayes estimate): repos whose
 * attempts each take what they always take keep their own averages; where
 * attempts vary as much within a repo as the averages do between repos,
 * every repo counts the mean, which ranks as the count rule does.  Until
 * the repos together have a few attempts beyond their first, the spread is
 * not known and every repo counts the mean.  Averages and spread are
 * compared relative to what attempts take (on their logarithm), and the
 * mean is their geometric mean.
 */
#ifndef WAVED_EXPECT_H
#define WAVED_EXPECT_H

#include <stddef.h>
#include <stdint.h>

/* What a scope's (a repo's or a pool's) attempts took. */
struct attempt_times {
	int64_t avg_ms;		/* moving average of their agent time */
	double var_rel;		/* moving variance around it, relative to it (the
				 * squared coefficient of variation; 0 after one) */
	long attempts;		/* how many were counted; 0: none */
};

/*
 * The expected time of each of n scopes, in ms (0 for a scope with no
 * attempts: the plan counts the mean of the others for it).
 */
void expect_times(const struct attempt_times *v, size_t n, int64_t *expected_ms);

#endif
