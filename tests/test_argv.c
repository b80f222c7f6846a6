/*
 * The splitter of configured commands (common/argv.h): what waved.conf(5)
 * says about words and quotes, and nothing a shell would do besides.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/argv.h"

/* text split into exactly the words of want (NULL-terminated). */
static void
assert_words(const char *text, const char *const want[])
{
	char why[128], **argv = argv_split(text, why, sizeof(why));
	size_t k;

	cr_assert_not_null(argv, "%s: %s", text, why);
	for (k = 0; want[k]; k++) {
		cr_assert_not_null(argv[k], "%s: word %zu missing", text, k);
		cr_assert_str_eq(argv[k], want[k], "%s: word %zu", text, k);
	}
	cr_assert_null(argv[k], "%s: a word too many: %s", text, argv[k]);
	argv_free(argv);
}

static void
assert_refused(const char *text, const char *because)
{
	char why[128], **argv = argv_split(text, why, sizeof(why));

	cr_assert_null(argv, "%s should not split", text);
	cr_assert(strstr(why, because), "%s: %s", text, why);
}

Test(argv, words_are_separated_by_blanks)
{
	assert_words("  jira-issues   --max 50\t-v ", (const char *[]){ "jira-issues", "--max", "50",
	    "-v", NULL });
}

Test(argv, quotes_keep_blanks_and_join_with_what_touches_them)
{
	assert_words("issues --jql \"labels = waved AND status = 'To Do'\"",
	    (const char *[]){ "issues", "--jql", "labels = waved AND status = 'To Do'", NULL });
	assert_words("say 'a \"b\" c' x'y z'w \"\"", (const char *[]){ "say", "a \"b\" c", "xy zw", "",
	    NULL });
	assert_words("a \"q\\\"uote \\\\ \\n\" b\\ c", (const char *[]){ "a", "q\"uote \\ \\n", "b c",
	    NULL });
}

Test(argv, nothing_is_expanded)
{
	assert_words("report $HOME ~ *.json $(rm -rf /) `id` ; | &&",
	    (const char *[]){ "report", "$HOME", "~", "*.json", "$(rm", "-rf", "/)", "`id`", ";",
	    "|", "&&", NULL });
}

Test(argv, what_cannot_end_is_refused)
{
	assert_refused("issues 'open", "' that is never closed");
	assert_refused("issues \"open", "\" that is never closed");
	assert_refused("issues \\", "\\ with nothing after it");
	assert_refused("   ", "expected a command");
}
