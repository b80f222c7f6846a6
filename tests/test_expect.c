#include <stdlib.h>

#include <criterion/criterion.h>

#include "common/expect.h"

#define SCOPES 4

static int64_t got[SCOPES];

static void
expect(const struct attempt_times *v)
{
	expect_times(v, SCOPES, got);
}

Test(expect, no_attempts_no_expected_time)
{
	expect((struct attempt_times[SCOPES]){ { 0 } });
	for (int i = 0; i < SCOPES; i++)
		cr_assert_eq(got[i], 0);
}

/* One attempt each does not tell repos that differ from attempts that vary:
 * every repo counts the mean, and ranks as the count rule does. */
Test(expect, one_attempt_each_counts_the_mean)
{
	expect((struct attempt_times[SCOPES]){ { 200, 0, 1 }, { 1800, 0, 1 }, { 1000, 0, 1 },
	    { 0 } });
	cr_assert_eq(got[0], 1000);
	cr_assert_eq(got[1], 1000);
	cr_assert_eq(got[2], 1000);
	cr_assert_eq(got[3], 0, "no attempt: the plan counts the mean for it");
}

/* Attempts that take what they always take: each repo keeps its own. */
Test(expect, attempts_that_do_not_vary_keep_their_average)
{
	expect((struct attempt_times[SCOPES]){ { 1600, 0, 2 }, { 400, 0, 3 }, { 60000, 0, 9 },
	    { 0 } });
	cr_assert_eq(got[0], 1600);
	cr_assert_eq(got[1], 400);
	cr_assert_eq(got[2], 60000);
}

/* Attempts of 0.2 to 2 s everywhere (a spread of about 0.5 s): averages of
 * a few of them that differ by chance are drawn to the mean, in order. */
Test(expect, averages_apart_by_chance_are_drawn_to_the_mean)
{
	double var = 520.0 * 520;

	expect((struct attempt_times[SCOPES]){ { 700, var, 3 }, { 1500, var, 2 },
	    { 1100, var, 4 }, { 1100, var, 3 } });
	cr_assert(got[0] > 1050 && got[0] <= 1100, "%lld", (long long)got[0]);
	cr_assert(got[1] >= 1100 && got[1] < 1150, "%lld", (long long)got[1]);
	cr_assert_leq(got[0], got[2]);
	cr_assert_leq(got[2], got[1]);
}

/* Repos far apart with little spread keep about their own. */
Test(expect, averages_far_apart_stay_about_their_own)
{
	double var = 100.0 * 100;

	expect((struct attempt_times[SCOPES]){ { 1000, var, 5 }, { 60000, var, 5 },
	    { 30000, var, 2 }, { 0 } });
	cr_assert(llabs(got[0] - 1000) < 10, "%lld", (long long)got[0]);
	cr_assert(llabs(got[1] - 60000) < 10, "%lld", (long long)got[1]);
	cr_assert(llabs(got[2] - 30000) < 10, "%lld", (long long)got[2]);
}
