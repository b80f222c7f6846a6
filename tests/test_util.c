/*
 * Small helpers of common/util.c whose input comes from outside: when an
 * agent asks to be tried again ($WAVED_RETRY_AFTER_FILE).
 */
#include <criterion/criterion.h>

#include "common/util.h"

/* 2100-01-01T00:00:00Z, as milliseconds since the epoch: "now" is an argument. */
#define NOW ((int64_t)4102444800 * 1000)

Test(retry_after, seconds_from_now)
{
	cr_assert_eq(retry_after_parse("90", NOW), 90000);
	cr_assert_eq(retry_after_parse("90\n", NOW), 90000);
	cr_assert_eq(retry_after_parse("  0", NOW), 0);
	cr_assert_eq(retry_after_parse("99999999999", NOW), -1, "more than a year is no answer");
	cr_assert_eq(retry_after_parse("30 minutes", NOW), -1, "seconds and nothing else");
}

Test(retry_after, an_iso_8601_time)
{
	cr_assert_eq(retry_after_parse("2100-01-01T00:05:00Z", NOW), 300000);
	cr_assert_eq(retry_after_parse("2100-01-01T00:05:00.250Z\n", NOW), 300000, "a fraction");
	cr_assert_eq(retry_after_parse("2100-01-01T01:05:00+01:00", NOW), 300000, "an offset");
	cr_assert_eq(retry_after_parse("2099-12-31T23:05:00-01:00", NOW), 300000);
	cr_assert_eq(retry_after_parse("2099-12-31T23:00:00Z", NOW), 0, "a time passed: at once");
	cr_assert_eq(retry_after_parse("2100-03-01T00:00:00Z", NOW), (int64_t)59 * 86400 * 1000,
	    "2100 is no leap year");
	cr_assert_eq(retry_after_parse("2104-02-29T00:00:00Z", NOW), -1, "more than a year ahead");
}

Test(retry_after, anything_else_is_no_answer)
{
	cr_assert_eq(retry_after_parse(NULL, NOW), -1);
	cr_assert_eq(retry_after_parse("", NOW), -1);
	cr_assert_eq(retry_after_parse("soon", NOW), -1);
	cr_assert_eq(retry_after_parse("90s", NOW), -1);
	cr_assert_eq(retry_after_parse("-5", NOW), -1);
	cr_assert_eq(retry_after_parse("2100-13-01T00:00:00Z", NOW), -1);
	cr_assert_eq(retry_after_parse("2100-01-01T00:00:00", NOW), -1, "a zone is required");
	cr_assert_eq(retry_after_parse("2100-01-01 00:00:00Z", NOW), -1);
}
