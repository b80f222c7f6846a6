#include <math.h>
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
 * every repo counts the (geometric) mean, and ranks as the count rule does. */
Test(expect, one_attempt_each_counts_the_mean)
{
	expect((struct attempt_times[SCOPES]){ { 200, 0, 1 }, { 1800, 0, 1 }, { 1000, 0, 1 },
	    { 0 } });
	cr_assert_eq(got[0], llround(cbrt(200.0 * 1800 * 1000)));
	cr_assert_eq(got[1], got[0]);
	cr_assert_eq(got[2], got[0]);
	cr_assert_eq(got[3], 0, "no attempt: the plan counts the mean for it");
}

/* One repo's pair of alike attempts is too little to believe that nothing
 * varies: the others' single attempts still count the mean. */
Test(expect, a_pair_of_alike_attempts_says_little)
{
	expect((struct attempt_times[SCOPES]){ { 1000, 0, 2 }, { 200, 0, 1 }, { 1800, 0, 1 },
	    { 0 } });
	cr_assert_eq(got[1], got[0]);
	cr_assert_eq(got[2], got[0]);
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

/* Attempts of 0.2 to 2 s everywhere (a relative spread of about a half):
 * averages of a few of them, apart by chance, are all drawn to the mean. */
Test(expect, averages_apart_by_chance_are_drawn_to_the_mean)
{
	expect((struct attempt_times[SCOPES]){ { 700, 0.25, 3 }, { 1500, 0.25, 2 },
	    { 1100, 0.25, 4 }, { 1100, 0.25, 3 } });
	int64_t mean = llround(exp((log(700.0) + log(1500.0) + 2 * log(1100.0)) / 4));

	for (int i = 0; i < SCOPES; i++)
		cr_assert_eq(got[i], mean, "%d: %lld", i, (long long)got[i]);
}

/* Repos far apart with a small spread keep about their own, whatever their
 * scale: a second's spread is relative to a second, an hour's to an hour. */
Test(expect, averages_far_apart_stay_about_their_own)
{
	expect((struct attempt_times[SCOPES]){ { 1000, 0.01, 5 }, { 3600000, 0.01, 5 },
	    { 30000, 0.01, 2 }, { 0 } });
	cr_assert(llabs(got[0] - 1000) < 10, "%lld", (long long)got[0]);
	cr_assert(llabs(got[1] - 3600000) < 36000, "%lld", (long long)got[1]);
	cr_assert(llabs(got[2] - 30000) < 300, "%lld", (long long)got[2]);
}

/* A repo alone has nothing to be drawn to. */
Test(expect, a_repo_alone_keeps_its_average)
{
	expect((struct attempt_times[SCOPES]){ { 0 }, { 1234, 0.3, 5 }, { 0 }, { 0 } });
	cr_assert_eq(got[1], 1234);
}
