#include "common/expect.h"

#include <math.h>

/*
 * What a moving average that weighs each new attempt a quarter is worth in
 * attempts: its first attempt starts it, so after n the squares of the
 * weights sum to 1/7 + 6/7 (9/16)^(n-1) (1 at n = 1, toward 1/7).
 */
static double
effective_attempts(long n)
{
	return 1 / (1.0 / 7 + 6.0 / 7 * pow(9.0 / 16, (double)(n - 1)));
}

void
expect_times(const struct attempt_times *v, size_t n, int64_t *expected_ms)
{
	double mean = 0, spread = 0, between = 0, noise = 0;
	long known = 0, spread_weight = 0;

	for (size_t i = 0; i < n; i++) {
		expected_ms[i] = 0;
		if (v[i].attempts <= 0)
			continue;
		mean += (double)v[i].avg_ms;
		known++;
		/* The variance within a scope, pooled: each weighs what it saw of it. */
		long seen = v[i].attempts - 1 < 6 ? v[i].attempts - 1 : 6;

		spread += (double)seen * v[i].var_ms2;
		spread_weight += seen;
	}
	if (known == 0)
		return;
	mean /= (double)known;
	spread = spread_weight ? spread / (double)spread_weight : -1;	/* -1: not known */
	for (size_t i = 0; i < n; i++)
		if (v[i].attempts > 0) {
			between += ((double)v[i].avg_ms - mean) * ((double)v[i].avg_ms - mean);
			noise += spread > 0 ? spread / effective_attempts(v[i].attempts) : 0;
		}
	/* How far the averages are apart beyond what their noise explains. */
	double apart = known > 1 ? between / (double)(known - 1) - noise / (double)known : 0;

	if (apart < 0)
		apart = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].attempts <= 0)
			continue;
		double own_noise = spread > 0 ? spread / effective_attempts(v[i].attempts) : 0;
		/* The share of the scope's own average that is noise: all of it while
		 * the spread is not known, none when attempts do not vary. */
		double drawn = spread < 0 ? 1 : own_noise > 0 ? own_noise / (own_noise + apart) : 0;
		double ms = mean + (1 - drawn) * ((double)v[i].avg_ms - mean);

		expected_ms[i] = ms >= 1 ? llround(ms) : 1;
	}
}
