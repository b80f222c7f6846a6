#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/plan.h"

static struct issue_list issues;
static struct plan *plan;

static void
teardown(void)
{
	plan_free(plan);
	plan = NULL;
	issue_list_clear(&issues);
}

TestSuite(plan, .fini = teardown);

/* add("api#2", "#1", "web#3", NULL): an issue and its dependencies. */
static void
add(const char *key, ...)
{
	struct issue_spec *s = issue_list_add(&issues);
	const char *dep;
	va_list ap;

	cr_assert(issue_key_parse(key, s->repo, sizeof(s->repo), &s->number), "%s", key);
	s->title = xstrdup(key);
	s->body = xstrdup("");
	s->created = (int64_t)issues.n;
	va_start(ap, key);
	while ((dep = va_arg(ap, const char *)) != NULL) {
		struct issue_ref ref;

		cr_assert(issue_ref_parse(dep, s->repo, &ref), "%s", dep);
		issue_spec_add_dep(s, ref.repo, ref.number);
	}
	va_end(ap);
}

static long
index_of(const char *key)
{
	char repo[REPO_NAME_MAX + 1];
	long number;

	cr_assert(issue_key_parse(key, repo, sizeof(repo), &number));
	for (size_t i = 0; i < issues.n; i++)
		if (issues.v[i].number == number && strcmp(issues.v[i].repo, repo) == 0)
			return (long)i;
	cr_assert_fail("no issue %s", key);
	return -1;
}

/* The plan's waves as "api#1 web#1 | api#2" (1-based waves split by |). */
static char *
waves_text(void)
{
	struct strbuf b = { 0 };

	for (size_t k = 0; k < plan_wave_count(plan); k++) {
		size_t n;
		const size_t *w = plan_wave(plan, k, &n);

		if (k)
			strbuf_add(&b, " | ");
		for (size_t i = 0; i < n; i++)
			strbuf_addf(&b, "%s%s#%ld", i ? " " : "", issues.v[w[i]].repo,
			    issues.v[w[i]].number);
	}
	return strbuf_take(&b);
}

static const char *
reason_of(const char *key)
{
	long i = index_of(key);

	for (size_t k = 0; k < plan_blocked_count(plan); k++)
		if (plan_blocked_issue(plan, k) == (size_t)i)
			return plan_blocked_reason(plan, k);
	return NULL;
}

static void
assert_waves(const char *expect)
{
	char *got = waves_text();

	cr_assert_str_eq(got, expect);
	free(got);
}

Test(plan, diamond)
{
	add("api#1", NULL);
	add("api#2", "#1", NULL);
	add("api#3", "#1", NULL);
	add("api#4", "#2", "#3", NULL);
	plan = plan_build(&issues, NULL, NULL);
	assert_waves("api#1 | api#2 api#3 | api#4");
	cr_assert_eq(plan_blocked_count(plan), 0);
	cr_assert_eq(plan_chain(plan, index_of("api#1")), 3);
	cr_assert_eq(plan_chain(plan, index_of("api#4")), 1);
	cr_assert_eq(plan_priority(plan, index_of("api#1")), 4, "api's four, one at a time");
	cr_assert_eq(plan_priority(plan, index_of("api#4")), 4);
}

/*
 * A repo runs one issue at a time: what it has waiting is a chain too.  web
 * has four independent issues, api one with a chain of three through other
 * repos: web's go first (left to the end, they would run alone), then the
 * longer chain of dependents breaks the ties within a priority; an issue
 * already in flight is no longer on its repo's chain.
 */
Test(plan, a_repo_with_more_waiting_work_is_a_longer_chain)
{
	add("api#1", NULL);
	add("ops#1", "api#1", NULL);
	add("docs#1", "ops#1", NULL);
	add("web#1", NULL);
	add("web#2", NULL);
	add("web#3", NULL);
	add("web#4", "api#1", NULL);
	plan = plan_build(&issues, NULL, NULL);
	cr_assert_eq(plan_chain(plan, index_of("api#1")), 3);
	cr_assert_eq(plan_priority(plan, index_of("api#1")), 3);
	cr_assert_eq(plan_priority(plan, index_of("web#1")), 4);
	cr_assert_eq(plan_chain(plan, index_of("web#1")), 1);
	assert_waves("web#1 web#2 web#3 api#1 | web#4 ops#1 | docs#1");
	plan_free(plan);
	plan = plan_build_timed(&issues, NULL, (bool[]){ false, false, false, true, true, false,
	    false }, NULL, NULL);
	cr_assert_eq(plan_priority(plan, index_of("web#3")), 2, "web#1 and #2 are in flight");
	assert_waves("api#1 web#1 web#2 web#3 | ops#1 web#4 | docs#1");
}

Test(plan, wave_is_the_longest_chain_not_the_shortest)
{
	add("a#1", NULL);
	add("a#2", "#1", NULL);
	add("a#3", "#2", NULL);
	add("b#1", "a#1", "a#3", NULL);
	plan = plan_build(&issues, NULL, NULL);
	cr_assert_eq(plan_wave_of(plan, index_of("b#1")), 3);
}

Test(plan, cross_repo_chains)
{
	add("web#1", "api#2", NULL);
	add("api#1", NULL);
	add("api#2", "#1", NULL);
	add("docs#1", "web#1", NULL);
	add("docs#2", NULL);
	plan = plan_build(&issues, NULL, NULL);
	/* Within a wave: the longer chain of dependents first (api#1 over docs#2). */
	assert_waves("api#1 docs#2 | api#2 | web#1 | docs#1");
	cr_assert_eq(plan_priority(plan, index_of("api#1")), 4);
}

Test(plan, same_number_in_two_repos_are_two_issues)
{
	add("api#1", NULL);
	add("web#1", "api#1", NULL);
	add("web#2", "#1", NULL);
	plan = plan_build(&issues, NULL, NULL);
	assert_waves("api#1 | web#1 | web#2");
}

Test(plan, two_disjoint_cycles_are_each_named)
{
	add("api#9", "#10", NULL);
	add("api#10", "#9", NULL);
	add("web#1", "#2", NULL);
	add("web#2", "#3", NULL);
	add("web#3", "#1", NULL);
	add("api#1", NULL);
	plan = plan_build(&issues, NULL, NULL);
	assert_waves("api#1");
	cr_assert_eq(plan_blocked_count(plan), 5);
	cr_assert_str_eq(reason_of("api#9"), "cycle: api#9 -> api#10 -> api#9");
	cr_assert_str_eq(reason_of("api#10"), "cycle: api#9 -> api#10 -> api#9");
	cr_assert_str_eq(reason_of("web#1"), "cycle: web#1 -> web#2 -> web#3 -> web#1");
	cr_assert_str_eq(reason_of("web#3"), "cycle: web#1 -> web#2 -> web#3 -> web#1");
	cr_assert_null(reason_of("api#1"));
}

Test(plan, self_dependency_is_a_cycle)
{
	add("api#1", NULL);
	add("api#5", "#5", "#1", NULL);
	add("api#6", "#5", NULL);
	plan = plan_build(&issues, NULL, NULL);
	assert_waves("api#1");
	cr_assert_str_eq(reason_of("api#5"), "cycle: api#5 -> api#5");
	cr_assert_str_eq(reason_of("api#6"), "dependency api#5 is blocked");
}

Test(plan, blocked_issue_with_a_satisfiable_dependency_stays_out_of_the_waves)
{
	add("api#1", NULL);
	add("api#2", "#1", "web#404", NULL);
	plan = plan_build(&issues, NULL, NULL);
	assert_waves("api#1");
	cr_assert_eq(plan_wave_of(plan, index_of("api#2")), -1);
	cr_assert_eq(plan_priority(plan, index_of("api#1")), 1);
}

Test(plan, tangled_cycle_names_every_member)
{
	add("a#1", "#2", "#3", NULL);
	add("a#2", "#1", NULL);
	add("a#3", "#1", NULL);
	plan = plan_build(&issues, NULL, NULL);
	const char *why = reason_of("a#2");
	cr_assert_not_null(why);
	cr_assert(strstr(why, "a#1") && strstr(why, "a#2") && strstr(why, "a#3"), "%s", why);
}

Test(plan, unknown_dependency_blocks)
{
	add("api#1", "web#7", "#99", NULL);
	add("api#2", NULL);
	plan = plan_build(&issues, NULL, NULL);
	assert_waves("api#2");
	cr_assert_str_eq(reason_of("api#1"), "unknown dependency web#7, api#99");
}

Test(plan, dependents_of_a_cycle_are_blocked_naming_the_dependency)
{
	add("api#9", "#10", NULL);
	add("api#10", "#9", NULL);
	add("api#11", "#10", NULL);
	add("web#1", "api#11", NULL);
	add("web#2", NULL);
	plan = plan_build(&issues, NULL, NULL);
	assert_waves("web#2");
	cr_assert_str_eq(reason_of("api#11"), "dependency api#10 is blocked");
	cr_assert_str_eq(reason_of("web#1"), "dependency api#11 is blocked");
}

static bool
closed_upstream(const struct issue_ref *dep, void *arg)
{
	(void)arg;
	return strcmp(dep->repo, "lib") == 0 && dep->number == 4;
}

Test(plan, a_satisfied_missing_dependency_does_not_block)
{
	add("api#1", "lib#4", NULL);
	add("api#2", "lib#5", NULL);
	plan = plan_build(&issues, closed_upstream, NULL);
	assert_waves("api#1");
	cr_assert_str_eq(reason_of("api#2"), "unknown dependency lib#5");
}

Test(plan, older_first_among_equal_priority)
{
	add("b#1", NULL);
	add("a#1", NULL);
	add("c#1", NULL);
	plan = plan_build(&issues, NULL, NULL);
	assert_waves("b#1 a#1 c#1");
}

Test(plan, long_chain_does_not_recurse)
{
	char key[32];

	for (int i = 1; i <= 100000; i++) {
		struct issue_spec *s = issue_list_add(&issues);

		snprintf(key, sizeof(key), "r#%d", i);
		issue_key_parse(key, s->repo, sizeof(s->repo), &s->number);
		s->title = xstrdup("t");
		s->body = xstrdup("");
		if (i > 1)
			issue_spec_add_dep(s, "r", i - 1);
	}
	plan = plan_build(&issues, NULL, NULL);
	cr_assert_eq(plan_wave_count(plan), 100000);
	cr_assert_eq(plan_priority(plan, 0), 100000);
}

Test(plan, references_keep_long_owner_names_and_share_them)
{
	const char *name = "an-organization-with-a-rather-long-name/"
	    "a-repository-whose-name-is-long-too-0123456789-abcdefghijklmnopqrstuvwxyz";
	struct issue_spec s = { 0 };

	issue_spec_add_dep(&s, name, 5);
	issue_spec_add_dep(&s, name, 6);
	cr_assert_str_eq(s.deps[0].repo, name, "an owner/name longer than a repo name stays whole");
	cr_assert_eq(s.deps[0].repo, s.deps[1].repo, "one shared copy per name");
	free(s.deps);
}

/*
 * Expected time, not issue counts: api's chain of three short issues against
 * web's one long one.  By counts api#1 goes first; by time web#1 does.  An
 * issue without history counts the mean of those with it.
 */
Test(plan, the_critical_path_is_in_expected_time_when_there_is_history)
{
	int64_t expected[5];

	add("api#1", NULL);
	add("api#2", "#1", NULL);
	add("api#3", "#2", NULL);
	add("web#1", NULL);
	add("docs#1", NULL);
	plan = plan_build_timed(&issues, (int64_t[]){ 0, 0, 0, 0, 0 }, NULL, NULL, NULL);
	cr_assert_not(plan_is_timed(plan), "no history: the count rule");
	cr_assert_eq(plan_priority(plan, index_of("api#1")), 3);
	cr_assert_eq(plan_wave_expected(plan, 0), 0);
	assert_waves("api#1 web#1 docs#1 | api#2 | api#3");
	plan_free(plan);

	expected[index_of("api#1")] = expected[index_of("api#2")] = expected[index_of("api#3")] = 1000;
	expected[index_of("web#1")] = 60000;
	expected[index_of("docs#1")] = 0;
	plan = plan_build_timed(&issues, expected, NULL, NULL, NULL);
	cr_assert(plan_is_timed(plan));
	cr_assert_eq(plan_chain(plan, index_of("api#1")), 3000);
	cr_assert_eq(plan_priority(plan, index_of("api#1")), 3000);
	cr_assert_eq(plan_priority(plan, index_of("web#1")), 60000);
	cr_assert_eq(plan_expected(plan, index_of("docs#1")), (3000 + 60000) / 4,
	    "no history of its own: the mean of the others");
	assert_waves("web#1 docs#1 api#1 | api#2 | api#3");
	cr_assert_eq(plan_wave_expected(plan, 0), 60000, "the longest repo of the wave");
	cr_assert_eq(plan_wave_expected(plan, 2), 1000);
}

Test(plan, a_wave_takes_the_sum_of_each_repo_and_the_longest_repo)
{
	add("api#1", NULL);
	add("api#2", NULL);
	add("web#1", NULL);
	plan = plan_build_timed(&issues, (int64_t[]){ 4000, 5000, 7000 }, NULL, NULL, NULL);
	cr_assert_eq(plan_wave_expected(plan, 0), 9000, "api's two run one after the other");
	cr_assert_eq(plan_expected_ms(0, 0), 0);
	cr_assert_eq(plan_expected_ms(1000, 0), 1000);
	cr_assert_eq(plan_expected_ms(0, 3000), 3000);
	cr_assert_eq(plan_expected_ms(1000, 3000), 2000, "its repo's and its pool's: the mean");
}
