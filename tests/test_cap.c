/* The cap lever's arithmetic (supervisor/cap.c): the smallest limit binds. */
#include <criterion/criterion.h>

#include "supervisor/cap.h"

Test(cap, the_operator_steps_down_to_a_pause_and_up_to_the_configured_cap)
{
	struct cap c;

	cap_init(&c, 3);
	cr_assert_eq(cap_effective(&c), 3);
	for (int want = 2; want >= 0; want--) {
		cap_operator_step(&c, -1);
		cr_assert_eq(cap_effective(&c), want);
	}
	cap_operator_step(&c, -1);
	cr_assert_eq(cap_effective(&c), 0, "never below a pause");
	for (int k = 0; k < 5; k++)
		cap_operator_step(&c, +1);
	cr_assert_eq(cap_effective(&c), 3, "never above the configured cap");
	cap_operator_set(&c, 99);
	cr_assert_eq(cap_effective(&c), 3);
}

Test(cap, the_smallest_limit_binds_and_a_step_down_is_always_felt)
{
	struct cap c;

	cap_init(&c, 4);
	c.limit[CAP_USAGE] = 2;
	cr_assert_eq(cap_effective(&c), 2);
	cap_operator_step(&c, -1);
	cr_assert_eq(cap_effective(&c), 1, "down from what binds");
	c.limit[CAP_USAGE] = CAP_NO_LIMIT;
	cr_assert_eq(cap_effective(&c), 1, "the operator's limit stays");
	c.memory_low = true;
	cr_assert_eq(cap_effective(&c), 0);
}

Test(cap, a_new_configured_cap_carries_the_operator_along_only_at_the_old_one)
{
	struct cap c;

	cap_init(&c, 2);
	cap_configure(&c, 5);
	cr_assert_eq(cap_effective(&c), 5);
	cap_operator_set(&c, 1);
	cap_configure(&c, 3);
	cr_assert_eq(cap_effective(&c), 1);
	cap_configure(&c, 0);
	cr_assert_eq(cap_effective(&c), 0);
}
