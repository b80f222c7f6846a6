/*
 * End to end: commit or stop (DESIGN.md sections 7 and 12).  The state
 * database, or the event log, cannot be written for a while under a running
 * daemon: it acts on nothing meanwhile, says so once, and when the store is
 * back every issue lands exactly once, the event log holds whole lines with
 * seqs in order, and the database is sound.  Real files made immutable
 * (chattr +i, CI is root) and a real file size limit (prlimit).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "common/util.h"
#include "tests/lib/scenario.h"

static struct scenario *sc;

static void
chattr(const char *flag, const char *file)
{
	char *path = xasprintf("%s/%s", sc->state, file);
	struct run_result r = run_argv(NULL, (const char *[]){ "chattr", flag, path, NULL });

	cr_assert_eq(r.status, 0, "chattr %s %s: %s (the state dir must be on a file system "
	    "with immutable files, as ext4)", flag, path, r.err);
	run_result_free(&r);
	free(path);
}

static const char *const db_files[] = { "waved.db", "waved.db-wal", "waved.db-shm", NULL };

static void
setup(void)
{
	sc = scenario_new();
	scenario_waive(sc, INV_STORE_COMMITS, "every test of this suite makes the store "
	    "unwritable mid-run on purpose: its commits fail until it is restored");
}

/* Never leave an immutable file behind, whatever the test did. */
static void
teardown(void)
{
	for (size_t k = 0; db_files[k]; k++) {
		char *path = xasprintf("%s/%s", sc->state, db_files[k]);
		struct run_result r = run_argv(NULL, (const char *[]){ "chattr", "-i", path, NULL });

		run_result_free(&r);
		free(path);
	}
	scenario_free(sc);
}

TestSuite(e2e_store, .init = setup, .fini = teardown, .timeout = 240);

static char *repos[2];

/* Two repos, three issues each in a chain; the daemon runs --once. */
static pid_t
start_six_issues(void)
{
	repos[0] = scenario_repo(sc, "api");
	repos[1] = scenario_repo(sc, "web");
	/* Beyond the first issue of each repo, work waits for the go the test gives
	 * once the outage has begun: the daemon has things to record during it. */
	scenario_config(sc, "max_attempts = 1",
	    "[phase \"implement\"]\nrun = [ $WAVED_NUMBER = 1 ] || until [ -e ../../../go ]; "
	    "do sleep 0.05; done; echo \"$WAVED_ISSUE\" > f-$WAVED_NUMBER.txt; sleep 0.3\n"
	    "[phase \"verify\"]\nrun = true\n");
	scenario_issues(sc, "["
	    "{\"repo\":\"api\",\"number\":1,\"title\":\"api-1\"},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"api-2\",\"depends_on\":[\"#1\"]},"
	    "{\"repo\":\"api\",\"number\":3,\"title\":\"api-3\",\"depends_on\":[\"#2\"]},"
	    "{\"repo\":\"web\",\"number\":1,\"title\":\"web-1\"},"
	    "{\"repo\":\"web\",\"number\":2,\"title\":\"web-2\",\"depends_on\":[\"#1\"]},"
	    "{\"repo\":\"web\",\"number\":3,\"title\":\"web-3\",\"depends_on\":[\"#2\"]}]");
	return scenario_start(sc, (const char *[]){ "--once", "-c", sc->conf, NULL });
}

static int
count_substr(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* Wait until the daemon's output holds needle. */
static bool
await_output(const char *needle, int timeout_s)
{
	for (int waited = 0; waited < timeout_s * 1000; waited += 50) {
		char *out = scenario_read(sc, "waved.out");
		bool found = strstr(out, needle) != NULL;

		free(out);
		if (found)
			return true;
		nap_ms(50);
	}
	return false;
}

/* Every line whole JSON, seqs one after another; the store's seq is the last. */
static void
assert_event_log_sound(void)
{
	char *path = xasprintf("%s/events.ndjson", sc->state), *text = read_file(path, NULL);
	long expect = 1;

	cr_assert(text && *text);
	cr_assert_eq(text[strlen(text) - 1], '\n', "the log ends with a whole line");
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		cJSON *o = cJSON_Parse(line);

		cr_assert(o, "not JSON: %s", line);
		cr_assert_eq((long)cJSON_GetObjectItem(o, "seq")->valuedouble, expect,
		    "seq out of order (expected %ld) at: %s", expect, line);
		expect++;
		cJSON_Delete(o);
	}
	free(text);
	free(path);

	sqlite3 *db;
	sqlite3_stmt *s;
	char *dbpath = xasprintf("%s/waved.db", sc->state);

	cr_assert_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	cr_assert_str_eq((const char *)sqlite3_column_text(s, 0), "ok");
	sqlite3_finalize(s);
	cr_assert_eq(sqlite3_prepare_v2(db, "SELECT event_seq FROM daemon", -1, &s, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
	cr_assert_eq(sqlite3_column_int64(s, 0), expect - 1, "the store's seq is the log's last");
	sqlite3_finalize(s);
	sqlite3_close(db);
	free(dbpath);
}

/* Each issue done once, each landed once on the agent branch, nothing dead. */
static void
assert_six_landed_once(void)
{
	cJSON *evs = scenario_events(sc);

	cr_assert_eq(ev_count(evs, "done", NULL), 6);
	cr_assert_eq(ev_count(evs, "dead", NULL), 0);
	cr_assert_eq(ev_count(evs, "failed", NULL), 0, "the outage cost no attempt");
	cJSON_Delete(evs);
	for (int r = 0; r < 2; r++) {
		char *log = scenario_git(repos[r], (const char *[]){ "log", "--no-merges",
		    "--format=%s", "waved", NULL });

		for (int n = 1; n <= 3; n++) {
			char subject[64];

			snprintf(subject, sizeof(subject), "%s-%d (%s#%d)", r ? "web" : "api", n,
			    r ? "web" : "api", n);
			cr_assert_eq(count_lines_equal(log, subject), 1, "\"%s\" once in:\n%s",
			    subject, log);
		}
		free(log);
		free(repos[r]);
	}
	assert_event_log_sound();
}

/*
 * Wait until the daemon is idle: each repo's second issue is in implement,
 * waiting for the go, and the store has it (wavectl reads what is committed).
 * Files changed under a transaction in progress would be a race with SQLite.
 */
static void
await_idle(void)
{
	for (int waited = 0; ; waited += 50) {
		struct run_result r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf,
		    "status", "--json", NULL });
		cJSON *st = cJSON_Parse(r.out), *e;
		int waiting = 0;

		cJSON_ArrayForEach(e, cJSON_GetObjectItem(st, "inflight")) {
			const char *issue = cJSON_GetStringValue(cJSON_GetObjectItem(e, "issue"));
			const char *phase = cJSON_GetStringValue(cJSON_GetObjectItem(e, "phase"));

			waiting += issue && phase && strstr(issue, "#2") && strcmp(phase, "implement") == 0;
		}
		cJSON_Delete(st);
		run_result_free(&r);
		if (waiting == 2)
			return;
		cr_assert_lt(waited, 60000, "the second issues never reached implement");
		nap_ms(50);
	}
}

/* files made immutable while the daemon waits on its workers, for a while, then restored. */
static void
outage_of(const char *const files[])
{
	pid_t pid = start_six_issues();

	await_idle();
	for (size_t k = 0; files[k]; k++)
		chattr("+i", files[k]);
	free(write_text(sc->state, "go", ""));
	if (!await_output("store: cannot commit", 30)) {
		char *out = scenario_read(sc, "waved.out");
		cr_assert_fail("one line when the outage starts; the daemon said:\n%s", out);
	}
	nap_ms(1500);		/* workers reach their gates meanwhile */
	for (size_t k = 0; files[k]; k++)
		chattr("-i", files[k]);
	cr_assert_eq(scenario_wait(pid, 120), 0, "every issue lands once the store is back");
	char *out = scenario_read(sc, "waved.out");
	cr_assert_eq(count_substr(out, "store: cannot commit"), 1, "%s", out);
	cr_assert_eq(count_substr(out, "store: writable again"), 1, "%s", out);
	free(out);
	assert_six_landed_once();
}

Test(e2e_store, the_database_made_immutable_mid_run_then_restored)
{
	outage_of(db_files);
}

Test(e2e_store, a_shm_file_that_cannot_be_written_is_no_sigbus)
{
	outage_of((const char *const[]){ "waved.db-shm", NULL });
}

/*
 * A file size limit set on the running daemon: its next append to the event
 * log is cut short (and its next commit fails) until the limit is lifted.
 */
Test(e2e_store, a_short_write_to_the_event_log)
{
	pid_t pid = start_six_issues();
	char *events = xasprintf("%s/events.ndjson", sc->state);
	struct stat st;

	await_idle();
	cr_assert_eq(stat(events, &st), 0);
	struct rlimit low = { st.st_size + 40, RLIM_INFINITY }, none = { RLIM_INFINITY, RLIM_INFINITY };
	cr_assert_eq(prlimit(pid, RLIMIT_FSIZE, &low, NULL), 0);
	free(write_text(sc->state, "go", ""));
	if (!await_output("store: cannot commit", 30)) {
		char *out = scenario_read(sc, "waved.out");
		cr_assert_fail("one line when the outage starts; the daemon said:\n%s", out);
	}
	nap_ms(1500);
	cr_assert_eq(prlimit(pid, RLIMIT_FSIZE, &none, NULL), 0);
	cr_assert_eq(scenario_wait(pid, 120), 0, "every issue lands once the limit is lifted");
	free(events);
	assert_six_landed_once();
}

/*
 * SIGTERM while the store cannot be written: the daemon still ends, within
 * stop_timeout plus kill_grace; what it could not record, the next start
 * takes from git (here: every issue lands once the store is back).
 */
Test(e2e_store, sigterm_ends_the_daemon_while_the_store_is_down)
{
	pid_t pid = start_six_issues();

	await_idle();
	for (size_t k = 0; db_files[k]; k++)
		chattr("+i", db_files[k]);
	free(write_text(sc->state, "go", ""));
	cr_assert(await_output("store: cannot commit", 30));
	int64_t asked = mono_ms();

	kill(pid, SIGTERM);
	/* stop_timeout 30 + kill_grace 10, and a margin for a busy machine. */
	int status = scenario_wait(pid, 30 + 10 + 20);
	cr_assert_neq(status, -1, "still running %lld ms after SIGTERM",
	    (long long)(mono_ms() - asked));
	for (size_t k = 0; db_files[k]; k++)
		chattr("-i", db_files[k]);
	struct run_result r = scenario_once(sc, NULL);

	cr_assert_eq(r.status, 0, "the next start finishes the work: %s", r.err);
	run_result_free(&r);
	assert_six_landed_once();
}
