#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "common/store.h"
#include "tests/lib/testlib.h"

static char *dir, *db_path;
static struct config *cfg;

static void
setup(void)
{
	char *errors = NULL, *conf;

	dir = tmpdir_new();
	db_path = xasprintf("%s/waved.db", dir);
	conf = write_text(dir, "waved.conf", "[phase \"implement\"]\nrun = x\n"
	    "[repo \"api\"]\npath = /a\n[repo \"web\"]\npath = /w\n");
	cfg = config_load(conf, &errors);
	cr_assert_not_null(cfg, "%s", errors);
	free(conf);
}

static void
teardown(void)
{
	config_free(cfg);
	free(db_path);
	tmpdir_remove(dir);
}

TestSuite(store, .init = setup, .fini = teardown);

static struct store *
open_rw(void)
{
	char *err = NULL;
	struct store *st = store_open(db_path, STORE_READWRITE, &err);

	cr_assert_not_null(st, "%s", err);
	return st;
}

/* The database file as sql leaves it, opened by the store (which migrates it). */
static struct store *
open_after_sql(const char *sql)
{
	char *msg = NULL;
	sqlite3 *db;

	cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s", msg);
	sqlite3_close(db);
	return open_rw();
}

static void
spec_init(struct issue_spec *s, const char *repo, long number, const char *title)
{
	memset(s, 0, sizeof(*s));
	strlcpy(s->repo, repo, sizeof(s->repo));
	s->number = number;
	s->title = xstrdup(title);
	s->body = xstrdup("body");
}

Test(store, migrates_an_empty_file_to_the_current_schema)
{
	FILE *fp = fopen(db_path, "w");	/* an empty file is a valid empty database */
	struct store *st;

	cr_assert_not_null(fp);
	fclose(fp);
	st = open_rw();
	cr_assert_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_close(st);
}

Test(store, reopen_keeps_data_and_version)
{
	struct store *st = open_rw();
	struct issue_spec s;
	char state[32];

	cr_assert_eq(store_sync_repos(st, cfg), 0);
	spec_init(&s, "api", 12, "Add login");
	issue_spec_add_dep(&s, "web", 5);
	cr_assert_eq(store_upsert_issue(st, &s), STORE_ADDED);
	store_close(st);

	st = open_rw();
	cr_assert_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
	cr_assert(store_issue_state(st, "api", 12, state, sizeof(state)));
	cr_assert_str_eq(state, "queued");
	cr_assert_eq(store_upsert_issue(st, &s), STORE_UNCHANGED);
	cr_assert_eq(store_count_state(st, "queued"), 1);
	store_close(st);
	issue_spec_clear(&s);
}

Test(store, upsert_sees_text_and_dependency_changes)
{
	struct store *st = open_rw();
	struct issue_spec s;

	cr_assert_eq(store_sync_repos(st, cfg), 0);
	spec_init(&s, "api", 1, "One");
	cr_assert_eq(store_upsert_issue(st, &s), STORE_ADDED);
	free(s.title);
	s.title = xstrdup("One, renamed");
	cr_assert_eq(store_upsert_issue(st, &s), STORE_UPDATED);
	issue_spec_add_dep(&s, "api", 2);
	issue_spec_add_dep(&s, "api", 2);	/* duplicates collapse */
	cr_assert_eq(store_upsert_issue(st, &s), STORE_UPDATED);
	cr_assert_eq(store_upsert_issue(st, &s), STORE_UNCHANGED);
	store_close(st);
	issue_spec_clear(&s);
}

Test(store, same_number_in_two_repos)
{
	struct store *st = open_rw();
	struct issue_spec a, w;

	cr_assert_eq(store_sync_repos(st, cfg), 0);
	spec_init(&a, "api", 1, "api one");
	spec_init(&w, "web", 1, "web one");
	cr_assert_eq(store_upsert_issue(st, &a), STORE_ADDED);
	cr_assert_eq(store_upsert_issue(st, &w), STORE_ADDED);
	cr_assert_eq(store_count_state(st, "queued"), 2);
	store_close(st);
	issue_spec_clear(&a);
	issue_spec_clear(&w);
}

Test(store, an_issue_of_an_unrecorded_repo_is_refused)
{
	struct store *st = open_rw();
	struct issue_spec s;

	spec_init(&s, "ghost", 1, "t");
	cr_assert_eq(store_upsert_issue(st, &s), STORE_ERROR);
	store_close(st);
	issue_spec_clear(&s);
}

Test(store, readonly_refuses_an_unmigrated_database)
{
	char *err = NULL;
	FILE *fp = fopen(db_path, "w");

	fclose(fp);
	cr_assert_null(store_open(db_path, STORE_READONLY, &err));
	cr_assert(strstr(err, "schema version 0"), "%s", err);
	free(err);
	store_close(open_rw());
	struct store *st = store_open(db_path, STORE_READONLY, &err);
	cr_assert_not_null(st, "%s", err);
	store_close(st);
}

Test(store, a_newer_schema_is_refused)
{
	sqlite3 *db;
	char *err = NULL;

	cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
	sqlite3_close(db);
	cr_assert_null(store_open(db_path, STORE_READWRITE, &err));
	cr_assert(strstr(err, "schema version 99 is newer"), "%s", err);
	free(err);
}

Test(store, uses_wal_and_foreign_keys)
{
	struct store *st = open_rw();
	sqlite3 *db;
	sqlite3_stmt *s;

	store_close(st);
	cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	cr_assert_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	sqlite3_close(db);
}

struct found {
	int done, dead, blocked, awaiting, attempts;
	long pr;
	char url[64];
};

static void
note_row(const struct store_issue_row *row, void *arg)
{
	struct found *f = arg;

	f->done += strcmp(row->state, "done") == 0;
	f->dead += strcmp(row->state, "dead") == 0;
	f->blocked += strcmp(row->state, "blocked") == 0;
	f->awaiting += strcmp(row->state, "awaiting_merge") == 0;
	f->attempts += row->attempts;
	if (row->pull.number > 0) {
		f->pr = row->pull.number;
		strlcpy(f->url, row->pull.url ? row->pull.url : "", sizeof(f->url));
	}
}

/* Schema 6 rebuilt the issues table (its state CHECK): every row and its attempts stay. */
Test(store, migrates_a_schema_5_database_keeping_every_issue)
{
	char *sql = read_file("tests/fixtures/store/schema-5.sql", NULL);
	struct found f = { 0 };
	struct store *st;

	cr_assert_not_null(sql);
	st = open_after_sql(sql);
	free(sql);
	cr_assert_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_each_issue(st, note_row, &f);
	cr_assert_eq(f.done, 1);
	cr_assert_eq(f.dead, 1);
	cr_assert_eq(f.blocked, 1);
	cr_assert_eq(f.attempts, 2);
	/* The new state is allowed, and a pull request can be kept with it. */
	cr_assert_eq(store_begin(st), 0);
	cr_assert_eq(store_issue_save(st, 1, &(struct store_sched_row){
	    .state = "awaiting_merge", .attempts = 2 }), 0);
	cr_assert_eq(store_set_pull(st, 1, &(struct store_pull){ .number = 7,
	    .url = "https://example.test/pull/7", .head = "abc", .round = 1, .pushes = 2 }), 0);
	cr_assert_eq(store_commit(st), 0);
	store_close(st);
	st = open_rw();
	memset(&f, 0, sizeof(f));
	store_each_issue(st, note_row, &f);
	cr_assert_eq(f.awaiting, 1);
	cr_assert_eq(f.pr, 7);
	cr_assert_str_eq(f.url, "https://example.test/pull/7");
	store_close(st);
}

/* [source] report's queue: in seq order, kept across a reopen, gone once taken. */
Test(store, reports_wait_in_seq_order_until_taken)
{
	struct store *st = open_rw();
	int64_t seq = 0;
	char *line = NULL;

	cr_assert_not(store_report_first(st, &seq, &line), "empty at first");
	cr_assert_eq(store_begin(st), 0);
	cr_assert_eq(store_report_add(st, 12, "{\"seq\":12,\"event\":\"done\"}\n"), 0);
	cr_assert_eq(store_report_add(st, 9, "{\"seq\":9,\"event\":\"blocked\"}\n"), 0);
	cr_assert_eq(store_commit(st), 0);
	store_close(st);
	st = open_rw();
	cr_assert_eq(store_report_count(st), 2);
	cr_assert(store_report_first(st, &seq, &line));
	cr_assert_eq(seq, 9);
	cr_assert_str_eq(line, "{\"seq\":9,\"event\":\"blocked\"}\n");
	free(line);
	cr_assert_eq(store_report_done(st, 9), 0);
	cr_assert(store_report_first(st, &seq, &line));
	cr_assert_eq(seq, 12);
	free(line);
	/* A report added in a transaction that rolls back was never there. */
	cr_assert_eq(store_begin(st), 0);
	cr_assert_eq(store_report_add(st, 13, "{}\n"), 0);
	store_rollback(st);
	cr_assert_eq(store_report_count(st), 1);
	store_close(st);
}

static void
note_api_times(const char *scope, const char *name, const struct attempt_times *times,
    void *arg)
{
	if (strcmp(scope, "repo") == 0 && strcmp(name, "api") == 0)
		*(struct attempt_times *)arg = *times;
}

/* The average moves a quarter at each attempt; the spread (relative) is the
 * second attempt's exactly, then moves a quarter too. */
Test(store, keeps_the_spread_of_what_attempts_took)
{
	struct store *st = open_rw();
	struct attempt_times t = { 0 };

	cr_assert_eq(store_begin(st), 0);
	cr_assert_eq(store_duration_note(st, "repo", "api", 1000), 0);
	cr_assert_eq(store_commit(st), 0);
	store_each_duration(st, note_api_times, &t);
	cr_assert_eq(t.avg_ms, 1000);
	cr_assert_float_eq(t.var_rel, 0, 1e-9, "one attempt shows no spread");
	cr_assert_eq(t.attempts, 1);
	cr_assert_eq(store_begin(st), 0);
	cr_assert_eq(store_duration_note(st, "repo", "api", 3000), 0);
	cr_assert_eq(store_duration_note(st, "repo", "api", 2000), 0);
	cr_assert_eq(store_commit(st), 0);
	store_each_duration(st, note_api_times, &t);
	cr_assert_eq(t.avg_ms, ((1000 * 3 + 3000) / 4 * 3 + 2000) / 4);
	/* 3000 against 1000: a difference of 2000 over their midpoint 2000; then
	 * 2000 against 1500: 500 over 1750. */
	double second = 1.0 * 1.0 / 2, third = (500.0 / 1750) * (500.0 / 1750);

	cr_assert_float_eq(t.var_rel, (second * 3 + third) / 4, 1e-9);
	cr_assert_eq(t.attempts, 3);
	store_close(st);
}

/* Schemas 11 and 12 added the spread: an average kept before counts as one
 * attempt, whose spread was never seen. */
Test(store, an_average_from_before_the_spread_counts_one_attempt)
{
	struct attempt_times t = { 0 };
	struct store *st = open_rw();

	store_close(st);
	st = open_after_sql("ALTER TABLE durations DROP COLUMN var_rel;"
	    "ALTER TABLE durations DROP COLUMN var_ms2;"
	    "INSERT INTO durations VALUES ('repo', 'api', 4000, 9);"
	    "PRAGMA user_version = 10;");
	cr_assert_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_each_duration(st, note_api_times, &t);
	cr_assert_eq(t.avg_ms, 4000);
	cr_assert_eq(t.attempts, 1);
	store_close(st);
}
