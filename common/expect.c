#include "common/expect.h"

#include <math.h>

/* The most attempts a scope's spread counts for: a moving average that
 * weighs each new attempt a quarter remembers about seven. */
#define SPREAD_MEMORY 6
/* How many attempts beyond each scope's first the pooled spread needs
 * before it is believed (one pair of alike attempts says little). */
#define SPREAD_KNOWN 3

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

/*
 * Work on the logarithm of the averages: attempts vary in proportion to
 * what they take (a one-hour repo's spread is no news for a one-second
 * one), and the relative spread is the variance of the logarithm.
 */
/* The noise in the average of a scope of n attempts, with that spread (0:
 * none, or not known). */
static double
noise_of(double spread, long n)
{
	return spread > 0 ? spread / effective_attempts(n) : 0;
}

/* The logarithm of an average (one of under a millisecond counts one). */
static double
log_ms(int64_t avg_ms)
{
	return log(avg_ms > 1 ? (double)avg_ms : 1);
}

void
expect_times(const struct attempt_times *v, size_t n, int64_t *expected_ms)
{
	double mean = 0, spread = 0, between = 0, noise = 0;
	long known = 0, seen = 0;

	for (size_t i = 0; i < n; i++) {
		expected_ms[i] = 0;
		if (v[i].attempts <= 0)
			continue;
		long k = v[i].attempts - 1 < SPREAD_MEMORY ? v[i].attempts - 1 : SPREAD_MEMORY;

		mean += log_ms(v[i].avg_ms);
		known++;
		spread += (double)k * v[i].var_rel;	/* pooled: each weighs what it saw */
		seen += k;
	}
	if (known == 0)
		return;
	mean /= (double)known;
	spread = seen >= SPREAD_KNOWN ? spread / (double)seen : -1;	/* -1: not known */
	for (size_t i = 0; i < n; i++)
		if (v[i].attempts > 0) {
			double d = log_ms(v[i].avg_ms) - mean;

			between += d * d;
			noise += noise_of(spread, v[i].attempts);
		}
	/* How far apart the averages are beyond what their noise explains. */
	double apart = known > 1 ? between / (double)(known - 1) - noise / (double)known : 0;

	if (apart < 0)
		apart = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].attempts <= 0)
			continue;
		double own = noise_of(spread, v[i].attempts);
		/* The share of the scope's own average that is noise: all of it while
		 * the spread is not known, none when attempts do not vary. */
		double drawn = spread < 0 ? 1 : own > 0 ? own / (own + apart) : 0;
		double ms = exp(mean + (1 - drawn) * (log_ms(v[i].avg_ms) - mean));

		expected_ms[i] = ms >= 1 ? llround(ms) : 1;
	}
}
