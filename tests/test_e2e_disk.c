/*
 * End to end: a full disk (DESIGN.md section 15).  state_dir is a small
 * tmpfs of its own; while issues run, a file fills it to the last byte and
 * is removed a moment later.  Nothing is lost, no attempt is counted for
 * what the disk failed, nothing is admitted meanwhile (cap_changed, why
 * "disk"), every issue finishes once there is room, and the store is whole.
 */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "tests/lib/scenario.h"

static struct scenario *sc;

static void
disk_setup(void)
{
	sc = scenario_new();
	if (geteuid() != 0)
		cr_skip_test("a tmpfs of its own for state_dir needs root (CI is root)");
	cr_assert_eq(mkdir_p(sc->state, 0755), 0);
	cr_assert_eq(mount("tmpfs", sc->state, "tmpfs", 0, "size=6m"), 0, "mount tmpfs on %s",
	    sc->state);
}

static void
disk_teardown(void)
{
	if (getenv("WAVED_KEEP_TMP")) {	/* the tmpfs goes: show what the daemon said */
		char *path = xasprintf("%s/waved.out", sc->dir), *text = read_file(path, NULL);

		fprintf(stderr, "%s", text ? text : "");
		free(text);
		free(path);
	}
	invariants_check(sc);	/* while the state dir is still there */
	umount2(sc->state, MNT_DETACH);
	scenario_free(sc);
}

TestSuite(e2e_disk, .init = disk_setup, .fini = disk_teardown, .timeout = 240);

/* Fill the filesystem of path to the last byte; the filler's path. */
static char *
fill(const char *dir)
{
	char *path = xasprintf("%s/filler", dir);
	struct run_result r = run_argv(NULL, (const char *[]){ "dd", "if=/dev/zero",
	    xasprintf("of=%s", path), "bs=64k", NULL });

	cr_assert_neq(r.status, 0, "dd should stop at a full disk");
	cr_assert(strstr(r.err, "No space left on device"), "%s", r.err);
	run_result_free(&r);
	return path;
}

static bool
log_says(const char *what)
{
	char *path = xasprintf("%s/waved.out", sc->dir), *text = read_file(path, NULL);
	bool said = text && strstr(text, what);

	free(text);
	free(path);
	return said;
}

/* Every commit that failed, failed for want of room: never a transaction misused. */
static void
assert_commits_failed_only_for_room(void)
{
	char *path = xasprintf("%s/waved.out", sc->dir), *text = read_file(path, NULL);

	for (const char *p = text; p && (p = strstr(p, "cannot commit (")) != NULL; p++)
		cr_assert(strncmp(p + 15, "database or disk is full", 24) == 0 ||
		    strncmp(p + 15, "the event log: No space left", 28) == 0,
		    "a commit failed for another reason than the full disk: %.120s", p);
	free(text);
	free(path);
}

static void
assert_store_whole(void)
{
	char *path = xasprintf("%s/waved.db", sc->state);
	sqlite3 *db;
	sqlite3_stmt *st;

	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
}

Test(e2e_disk, a_full_disk_loses_nothing_and_costs_no_attempt)
{
	const char *repos[] = { "d1", "d2", "d3" };
	struct strbuf issues = { 0 };

	for (int k = 0; k < 3; k++)
		free(scenario_repo(sc, repos[k]));
	scenario_config(sc, "max_attempts = 1\n",
	    "[phase \"implement\"]\nrun = sleep 0.3; echo \"$WAVED_ISSUE\" > f-$WAVED_NUMBER.txt\n");
	strbuf_add(&issues, "[");
	for (int n = 1; n <= 3; n++)
		for (int k = 0; k < 3; k++)
			strbuf_addf(&issues, "%s{\"repo\":\"%s\",\"number\":%d,\"title\":\"t%d\"}",
			    issues.len > 1 ? "," : "", repos[k], n, n);
	strbuf_add(&issues, "]");
	scenario_issues(sc, issues.s);
	strbuf_free(&issues);
	pid_t pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });

	cr_assert(scenario_await(sc, "phase_start", NULL, 2, 60));
	char *filler = fill(sc->state);

	/*
	 * Until the daemon has met the full disk: the disk hand pulled the cap,
	 * or a write found no room (a commit in the instant the disk filled
	 * cannot be written: that, and only that, may fail the store here).
	 */
	scenario_waive(sc, INV_STORE_COMMITS, "the disk of state_dir is filled to the last "
	    "byte: a commit in that moment finds no room (checked below: never another reason)");
	for (int64_t deadline = mono_ms() + 60000; !log_says("(disk:") &&
	    !log_says("disk is full"); nap_ms(50))
		cr_assert_lt(mono_ms(), deadline, "the daemon never noticed the full disk");
	nap_ms(1500);		/* full a while longer: phases and workers meet it too */
	cr_assert_eq(unlink(filler), 0);
	free(filler);

	cr_assert(scenario_await(sc, "done", NULL, 9, 180), "not every issue finished");
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);

	cJSON *evs = scenario_events(sc);
	int down = -1, up = -1;

	cr_assert_eq(ev_count(evs, "done", NULL), 9);
	cr_assert_eq(ev_count(evs, "dead", NULL), 0);
	assert_commits_failed_only_for_room();
	int disk_failures = 0;

	for (int k = ev_find(evs, "failed", NULL, 0); k >= 0; k = ev_find(evs, "failed", NULL, k + 1)) {
		cr_assert_str_eq(ev_string(evs, k, "outcome"), "tempfail", "%s: %s",
		    ev_string(evs, k, "issue"), ev_string(evs, k, "reason"));
		disk_failures += strncmp(ev_string(evs, k, "reason"), "disk full", 9) == 0;
	}
	/* The phases running when the disk filled could not write: the disk's fault. */
	cr_assert_gt(disk_failures, 0, "no attempt met the full disk");
	for (int k = ev_find(evs, "cap_changed", NULL, 0); k >= 0;
	    k = ev_find(evs, "cap_changed", NULL, k + 1)) {
		if (strcmp(ev_string(evs, k, "why"), "disk") != 0)
			continue;
		if (ev_number(evs, k, "effective") == 0 && down < 0)
			down = k;
		else if (ev_number(evs, k, "effective") > 0 && down >= 0)
			up = k;
	}
	cr_assert_geq(down, 0, "no cap_changed why disk to 0");
	cr_assert_gt(up, down, "the disk hand never let go");
	/* Nothing admitted between the two. */
	int admitted = ev_find(evs, "admitted", NULL, down);

	cr_assert(admitted < 0 || admitted > up, "admitted while the disk was full");
	assert_store_whole();
	/* The events and the store agree: the last seq is the one the store committed. */
	struct run_result r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf,
	    "status", "--json", NULL });

	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "\"done\""), "%s", r.out);
	run_result_free(&r);
	cJSON_Delete(evs);
}
