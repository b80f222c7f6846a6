#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/source_file.h"
#include "tests/lib/testlib.h"

static char *dir;
static struct config *cfg;
static struct issue_list issues;
static struct strbuf problems;

static void
setup(void)
{
	char *errors = NULL;
	char *path;

	dir = tmpdir_new();
	path = write_text(dir, "waved.conf", "[phase \"implement\"]\nrun = x\n"
	    "[repo \"api\"]\npath = /a\n[repo \"web\"]\npath = /w\n");
	cfg = config_load(path, &errors);
	cr_assert_not_null(cfg, "%s", errors);
	free(path);
}

static void
teardown(void)
{
	issue_list_clear(&issues);
	strbuf_free(&problems);
	config_free(cfg);
	tmpdir_remove(dir);
}

TestSuite(source_file, .init = setup, .fini = teardown);

static int
load(const char *json)
{
	char *path = write_text(dir, "issues.json", json);
	int rc = source_file_load(path, cfg, &issues, &problems);

	free(path);
	return rc;
}

Test(source_file, good_entries_load_with_their_dependencies)
{
	cr_assert_eq(load("[{\"repo\":\"api\",\"number\":12,\"title\":\"Add login\","
	    "\"body\":\"Body $(rm -rf /)\",\"depends_on\":[\"#3\",\"web#5\"]},"
	    "{\"repo\":\"web\",\"number\":5,\"title\":\"Page\"}]"), 0);
	cr_assert_eq(problems.len, 0, "%s", problems.s);
	cr_assert_eq(issues.n, 2);
	cr_assert_str_eq(issues.v[0].repo, "api");
	cr_assert_eq(issues.v[0].number, 12);
	cr_assert_str_eq(issues.v[0].title, "Add login");
	cr_assert_str_eq(issues.v[0].body, "Body $(rm -rf /)");
	cr_assert_eq(issues.v[0].ndeps, 2);
	cr_assert_str_eq(issues.v[0].deps[0].repo, "api");
	cr_assert_eq(issues.v[0].deps[0].number, 3);
	cr_assert_str_eq(issues.v[0].deps[1].repo, "web");
	cr_assert_eq(issues.v[0].deps[1].number, 5);
	cr_assert_str_eq(issues.v[1].body, "");
	cr_assert_lt(issues.v[0].created, issues.v[1].created);
}

Test(source_file, same_number_in_two_repos)
{
	cr_assert_eq(load("[{\"repo\":\"api\",\"number\":1,\"title\":\"a\"},"
	    "{\"repo\":\"web\",\"number\":1,\"title\":\"w\"}]"), 0);
	cr_assert_eq(issues.n, 2);
	cr_assert_eq(problems.len, 0);
}

Test(source_file, bad_entries_are_reported_by_index_and_skipped)
{
	cr_assert_eq(load("["
	    "{\"repo\":\"api\",\"number\":1,\"title\":\"ok\"},"		/* 0 */
	    "7,"							/* 1 */
	    "{\"repo\":\"nope\",\"number\":2,\"title\":\"t\"},"		/* 2 */
	    "{\"repo\":\"api\",\"number\":0,\"title\":\"t\"},"		/* 3 */
	    "{\"repo\":\"api\",\"number\":2.5,\"title\":\"t\"},"	/* 4 */
	    "{\"repo\":\"api\",\"number\":3},"				/* 5 */
	    "{\"repo\":\"api\",\"number\":4,\"title\":\"t\",\"depends_on\":[\"x\"]},"	/* 6 */
	    "{\"repo\":\"api\",\"number\":1,\"title\":\"again\"},"	/* 7 */
	    "{\"repo\":\"api\",\"number\":5,\"title\":\"t\",\"body\":3},"	/* 8 */
	    "{\"repo\":\"web\",\"number\":9,\"title\":\"also ok\",\"depends_on\":[\"api#1\"]}"	/* 9 */
	    "]"), 0);
	cr_assert_eq(issues.n, 2);
	cr_assert_eq(issues.v[0].number, 1);
	cr_assert_str_eq(issues.v[1].title, "also ok");
	cr_assert(strstr(problems.s, "entry 1: expected an object"), "%s", problems.s);
	cr_assert(strstr(problems.s, "entry 2: repo: \"nope\" is not a configured repo"), "%s", problems.s);
	cr_assert(strstr(problems.s, "entry 3: number: expected a whole number"), "%s", problems.s);
	cr_assert(strstr(problems.s, "entry 4: number"), "%s", problems.s);
	cr_assert(strstr(problems.s, "entry 5: title: expected a non-empty string"), "%s", problems.s);
	cr_assert(strstr(problems.s, "entry 6: depends_on[0]: expected"), "%s", problems.s);
	cr_assert(strstr(problems.s, "entry 7: api#1: duplicate of entry 0"), "%s", problems.s);
	cr_assert(strstr(problems.s, "entry 8: body: expected a string"), "%s", problems.s);
	cr_assert_null(strstr(problems.s, "entry 0:"));
	cr_assert_null(strstr(problems.s, "entry 9:"));
}

Test(source_file, not_an_array_is_unusable)
{
	cr_assert_eq(load("{\"repo\":\"api\"}"), -1);
	cr_assert(strstr(problems.s, "expected a JSON array of issues"), "%s", problems.s);
	cr_assert_eq(issues.n, 0);
}

Test(source_file, invalid_json_is_unusable)
{
	cr_assert_eq(load("[{\"repo\":"), -1);
	cr_assert(strstr(problems.s, "not valid JSON"), "%s", problems.s);
}

/* What a command that died mid-way printed: where it stops, and that it was cut. */
Test(source_file, half_an_array_names_the_line_where_it_stops)
{
	cr_assert_eq(load("[\n{\"repo\":\"api\",\"number\":1,\"title\":\"a\"},\n"
	    "{\"repo\":\"api\",\"number\":2,\n"), -1);
	cr_assert(strstr(problems.s, "not valid JSON at line 3, near \",\" where the text ends "
	    "(cut short?)"), "%s", problems.s);
	cr_assert_eq(issues.n, 0, "nothing of a broken list is used");
}

Test(source_file, a_json_error_names_its_line_and_what_is_there)
{
	const char *text = "[\n{\"repo\":\"api\",\"number\":1,\"title\":\"a\"},\n"
	    "{\"repo\":\"api\" \"number\":2}\n]\n";

	cr_assert_eq(source_file_parse(text, strlen(text), "tracker", cfg, &issues, &problems), -1);
	cr_assert(strstr(problems.s, "tracker: not valid JSON at line 3, near \"\"number\":2}\""),
	    "%s", problems.s);
	strbuf_free(&problems);
	cr_assert_eq(source_file_parse("", 0, "tracker", cfg, &issues, &problems), -1);
	cr_assert(strstr(problems.s, "tracker: not valid JSON: no text at all"), "%s", problems.s);
}

Test(source_file, missing_file_is_unusable)
{
	cr_assert_eq(source_file_load("/nonexistent/issues.json", cfg, &issues, &problems), -1);
	cr_assert(strstr(problems.s, "/nonexistent/issues.json: cannot read"), "%s", problems.s);
}

/* Invalid UTF-8 from outside is stored and shown as valid UTF-8. */
Test(source_file, invalid_utf8_becomes_replacement_characters)
{
	/* A bare continuation byte, an overlong '/', a surrogate, a cut-short sequence. */
	load("[{\"repo\":\"api\",\"number\":1,\"title\":\"a\x80" "b\",\"body\":\"\xc0\xaf|\xed\xa0\x80|\xe2\x82\"}]");
	cr_assert_eq(issues.n, 1);
	cr_assert_str_eq(issues.v[0].title, "a\xef\xbf\xbd" "b");
	cr_assert_str_eq(issues.v[0].body, "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
	    "\xef\xbf\xbd\xef\xbf\xbd");
	char *s = utf8_valid_dup("h\xc3\xa9llo \xf0\x9f\x99\x82");
	cr_assert_str_eq(s, "h\xc3\xa9llo \xf0\x9f\x99\x82", "valid text is kept as it is");
	free(s);
}

/* Two lists hold the same issues, field by field, in the same order. */
static void
assert_same_issues(const struct issue_list *a, const struct issue_list *b)
{
	cr_assert_eq(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		const struct issue_spec *x = &a->v[i], *y = &b->v[i];

		cr_assert_str_eq(x->repo, y->repo, "issue %zu", i);
		cr_assert_eq(x->number, y->number, "issue %zu", i);
		cr_assert_str_eq(x->title, y->title, "issue %zu", i);
		cr_assert_str_eq(x->body, y->body, "issue %zu", i);
		cr_assert_str_eq(x->pool, y->pool, "issue %zu", i);
		cr_assert_eq(x->created, y->created, "issue %zu", i);
		cr_assert_eq(x->ndeps, y->ndeps, "issue %zu", i);
		for (size_t k = 0; k < x->ndeps; k++) {
			cr_assert_str_eq(x->deps[k].repo, y->deps[k].repo, "issue %zu dep %zu", i, k);
			cr_assert_eq(x->deps[k].number, y->deps[k].number, "issue %zu dep %zu", i, k);
		}
	}
}

/*
 * What waved --source-issues prints reads back as the source gave it: a
 * dependency on a repo waved does not manage, the source's own order key,
 * the pool, text of every kind, a repeated issue, the list's order.
 */
Test(source_file, the_exact_form_reads_back_every_field)
{
	struct issue_list in = { 0 }, back = { 0 };
	struct issue_spec *s;
	char *errors = NULL, *path, *text, *again;
	struct config *pooled;

	path = write_text(dir, "pooled.conf", "[phase \"implement\"]\nrun = x\n"
	    "[pool \"heavy\"]\ncap = 1\n[repo \"api\"]\npath = /a\n[repo \"web\"]\npath = /w\n");
	pooled = config_load(path, &errors);
	cr_assert_not_null(pooled, "%s", errors);
	s = issue_list_add(&in);
	strlcpy(s->repo, "web", sizeof(s->repo));
	s->number = 2147483647;
	s->title = xstrdup("Newest \"quoted\" \xc3\xa9t\xc3\xa9 \xf0\x9f\x99\x82\ttab");
	s->body = xstrdup("line one\r\nDepends on other/lib#5\n\x01\x1f end\\");
	s->created = 1795000000;
	issue_spec_add_dep(s, "other/lib", 5);
	issue_spec_add_dep(s, "api", 1);
	issue_spec_add_dep(s, "gone", 3);	/* a repo name nobody configured */
	strlcpy(s->pool, "heavy", sizeof(s->pool));
	s = issue_list_add(&in);
	strlcpy(s->repo, "api", sizeof(s->repo));
	s->number = 1;
	s->title = xstrdup("Oldest");
	s->body = xstrdup("");
	s->created = -5;
	s = issue_list_add(&in);
	*s = (struct issue_spec){ .number = 1, .created = 4102444800 };	/* the source said it twice */
	strlcpy(s->repo, "api", sizeof(s->repo));
	s->title = xstrdup("Oldest, again");
	s->body = xstrdup("");
	issue_spec_add_dep(s, "api", 1);
	issue_spec_add_dep(s, "api", 1);

	text = source_file_format_exact(&in);
	cr_assert_eq(source_file_parse_exact(text, strlen(text), "waved", pooled, &back,
	    &problems), 0, "%s", problems.s);
	cr_assert_eq(problems.len, 0, "%s", problems.s);
	assert_same_issues(&in, &back);
	again = source_file_format_exact(&back);
	cr_assert_str_eq(again, text);
	/* It is an issues file: the file form reads it, less what only the exact form says. */
	cr_assert_eq(source_file_parse(text, strlen(text), "file", pooled, &issues, &problems), 0);
	cr_assert_eq(issues.n, 1, "%s", problems.s);
	cr_assert_str_eq(issues.v[0].title, "Oldest");
	cr_assert_eq(issues.v[0].created, 1, "the file form's order key is the entry's place");
	cr_assert(strstr(problems.s, "file: entry 0: depends_on[0]: expected \"#N\" or \"repo#N\"; "
	    "skipped"), "%s", problems.s);
	cr_assert(strstr(problems.s, "file: entry 2: api#1: duplicate of entry 1"), "%s", problems.s);
	free(again);
	free(text);
	issue_list_clear(&in);
	issue_list_clear(&back);
	config_free(pooled);
	free(path);
}

/* The exact form is read whole or not at all: a bad entry is the list's problem. */
Test(source_file, the_exact_form_refuses_a_bad_entry_whole)
{
	const char *text = "[\n{\"repo\":\"api\",\"number\":1,\"title\":\"a\",\"created\":1},\n"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"b\"}\n]\n";

	cr_assert_eq(source_file_parse_exact(text, strlen(text), "waved", cfg, &issues, &problems), -1);
	cr_assert_eq(issues.n, 0);
	cr_assert(strstr(problems.s, "waved: entry 1: created: expected a whole number\n"), "%s",
	    problems.s);
	strbuf_free(&problems);
	text = "[{\"repo\":\"api\",\"number\":1,\"title\":\"a\",\"created\":1,"
	    "\"depends_on\":[\"../..#1\"]}]";
	cr_assert_eq(source_file_parse_exact(text, strlen(text), "waved", cfg, &issues, &problems), -1);
	cr_assert(strstr(problems.s, "depends_on[0]: expected \"#N\" or \"repo#N\" or "
	    "\"owner/name#N\""), "%s", problems.s);
}
