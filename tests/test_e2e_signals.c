/*
 * End to end: what an operator expects of signals, stalls and tempfails
 * (DESIGN.md sections 5, 13 and 16): Ctrl-C on waved --once drains, a
 * second stops now; a stopped or timed-out phase gets its grace, all of
 * its processes; a stalled phase ends early; exits of 75 back off and end.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/cgroup.h"
#include "common/util.h"
#include "tests/lib/scenario.h"

SCENARIO_SUITE(e2e_signals, 180);

/* An implement that waits for the test to create dir/go (at most 60 s). */
#define WAIT_FOR_GO "[phase \"implement\"]\nrun = i=0; while [ ! -e ../../../../go ] && " \
	"[ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; echo $WAVED_ISSUE > f-$WAVED_NUMBER.txt\n"

static void
let_go(void)
{
	free(write_text(sc->dir, "go", "go\n"));
}

/* r1#1, r1#2, r2#1, r2#2: two in flight at cap 2, two waiting behind them. */
static void
four_issues(const char *waved_keys, const char *more)
{
	free(scenario_repo(sc, "r1"));
	free(scenario_repo(sc, "r2"));
	scenario_config(sc, waved_keys, more);
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"a\"},"
	    "{\"repo\":\"r1\",\"number\":2,\"title\":\"b\"},"
	    "{\"repo\":\"r2\",\"number\":1,\"title\":\"c\"},"
	    "{\"repo\":\"r2\",\"number\":2,\"title\":\"d\"}]");
}

/* waved --once with two issues in flight and two waiting, then a first SIGINT: it drains. */
static pid_t
two_in_flight_then_ctrl_c(void)
{
	four_issues("cap = 2", WAIT_FOR_GO);
	pid_t pid = scenario_start(sc, (const char *[]){ "--once", "-c", sc->conf, NULL });

	cr_assert(scenario_await(sc, "phase_start", NULL, 2, 60));
	kill(pid, SIGINT);
	cr_assert(scenario_await(sc, "draining", NULL, 1, 30));
	return pid;
}

Test(e2e_signals, the_first_sigint_drains_the_work_in_flight_then_exits_130)
{
	pid_t pid = two_in_flight_then_ctrl_c();

	let_go();
	cr_assert_eq(scenario_wait(pid, 60), 130, "interrupted: 130");
	cJSON *evs = scenario_events(sc);
	int drain = ev_find(evs, "draining", NULL, 0);

	cr_assert_eq(ev_count(evs, "done", NULL), 2, "the two in flight ran to their end");
	cr_assert_eq(ev_count(evs, "admitted", NULL), 2, "nothing admitted after the drain");
	cr_assert_gt(ev_find(evs, "done", NULL, drain), drain);
	int cap = ev_find(evs, "cap_changed", NULL, 0);
	cr_assert_geq(cap, 0);
	cr_assert_str_eq(ev_string(evs, cap, "why"), "signal");
	cr_assert_eq(ev_number(evs, cap, "effective"), 0);
	char *out = scenario_read(sc, "waved.out");
	cr_assert(strstr(out, "ISSUE") && strstr(out, "OUTCOME") && strstr(out, "2 done"),
	    "the summary on stdout: %s", out);
	free(out);
	cJSON_Delete(evs);
}

Test(e2e_signals, a_second_sigint_stops_now_and_the_next_start_resumes)
{
	pid_t pid = two_in_flight_then_ctrl_c();

	kill(pid, SIGINT);
	cr_assert_eq(scenario_wait(pid, 60), 130);
	cJSON *evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "done", NULL), 0, "stopped before anything landed");
	cJSON_Delete(evs);
	char *out = scenario_read(sc, "waved.out");
	cr_assert(strstr(out, "ISSUE"), "the summary: %s", out);
	free(out);

	let_go();
	cJSON_Delete(scenario_once_ok(sc));
	evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "done", NULL), 4);
	int rec = ev_find(evs, "recovered", NULL, 0);
	cr_assert_geq(rec, 0);
	cr_assert_str_eq(ev_string(evs, rec, "action"), "resume", "resumed where it stopped");
	cJSON_Delete(evs);
}

Test(e2e_signals, exit_on_error_drains_at_the_first_dead_issue)
{
	free(scenario_repo(sc, "r1"));
	free(scenario_repo(sc, "r2"));
	scenario_config(sc, "cap = 2\nmax_attempts = 1", "[phase \"implement\"]\nrun = "
	    "if [ $WAVED_REPO = r1 ]; then exit 1; fi; i=0; while [ ! -e ../../../../go ] && "
	    "[ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; echo x > f-$WAVED_NUMBER.txt\n");
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"a\"},"
	    "{\"repo\":\"r2\",\"number\":1,\"title\":\"b\"},"
	    "{\"repo\":\"r2\",\"number\":2,\"title\":\"c\"}]");
	pid_t pid = scenario_start(sc, (const char *[]){ "--once", "--exit-on-error", "-c",
	    sc->conf, NULL });

	cr_assert(scenario_await(sc, "draining", NULL, 1, 60));
	let_go();
	cr_assert_eq(scenario_wait(pid, 60), 1);
	cJSON *evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "dead", "r1#1"), 1);
	cr_assert_eq(ev_count(evs, "done", "r2#1"), 1, "the work in flight ran to its end");
	cr_assert_eq(ev_count(evs, "admitted", "r2#2"), 0, "nothing after the drain");
	cJSON_Delete(evs);
}

/*
 * A timeout: the shell on top dies at once on SIGTERM, but a process below
 * it saves its work on SIGTERM, which takes a while: the grace waits for it.
 */
Test(e2e_signals, a_timed_out_phase_gets_its_grace_for_every_process)
{
	free(scenario_repo(sc, "r1"));
	scenario_config(sc, "max_attempts = 1\nkill_grace = 10", "[phase \"implement\"]\n"
	    "timeout = 1\nrun = sh -c 'trap \"sleep 1; echo saved > ../../../../saved; exit 0\" TERM; "
	    "while :; do sleep 0.1; done' & sleep 30\n");
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"a\"}]");
	struct run_result r = scenario_once(sc, NULL);

	cr_assert_eq(r.status, 1);
	char *saved = xasprintf("%s/saved", sc->dir);
	cr_assert_eq(access(saved, F_OK), 0, "the process below the shell saved its work");
	cJSON *evs = scenario_events(sc);
	const char *reason = ev_string(evs, ev_find(evs, "dead", "r1#1", 0), "reason");
	cr_assert(reason && strncmp(reason, "timeout", 7) == 0, "%s", reason);
	cJSON_Delete(evs);
	free(saved);
	run_result_free(&r);
}

/* A dev server the agent daemonized (setsid, in the background) ends with its phase. */
static void
daemonized_process_ends_with_its_phase(const char *waved_keys)
{
	free(scenario_repo(sc, "r1"));
	scenario_config(sc, waved_keys, "[phase \"implement\"]\nrun = setsid sleep 300 & "
	    "echo x > f.txt\n");
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"a\"}]");
	cJSON_Delete(scenario_once_ok(sc));
	/* The teardown's invariants find any process of the scenario still running. */
	char *log = xasprintf("%s/logs/r1/1/attempt-1.log", sc->state), *text = read_file(log, NULL);

	cr_assert(text && strstr(text, "left 1 process running: ended"), "%s", text);
	free(text);
	free(log);
}

Test(e2e_signals, a_daemonized_process_does_not_outlive_its_phase)
{
	daemonized_process_ends_with_its_phase(NULL);
}

/* Without a cgroup the subreaper finds it as well. */
Test(e2e_signals, a_daemonized_process_ends_with_cgroup_no_too)
{
	daemonized_process_ends_with_its_phase("cgroup = no");
	struct run_result r = run_argv(sc->dir, (const char *[]){ sc->waved, "-n", "-c", sc->conf,
	    NULL });

	cr_assert(strstr(r.out, "containment: subreaper (cgroup = no"), "%s", r.out);
	run_result_free(&r);
}

/* The phase of r1#1 starts a daemonized server the first time it runs, then waits. */
static void
a_phase_that_starts_a_server(void)
{
	free(scenario_repo(sc, "r1"));
	/* The first run of the phase only: the attempt resumes after its worker's crash. */
	char *more = xasprintf("[phase \"implement\"]\nrun = if mkdir %s/ran 2>/dev/null; then "
	    "setsid sh -c 'echo $$ > %s/server.pid; exec sleep 300' & echo $PPID > %s/worker.pid; "
	    "sleep 300; fi; echo x > f.txt\n", sc->dir, sc->dir, sc->dir);

	scenario_config(sc, NULL, more);
	free(more);
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"a\"}]");
}

/*
 * Whether waved -n says this machine gives a cgroup per attempt.  Where it
 * does not (not root) there is no cgroup to test: the test says so; as
 * root (CI) there must be one.
 */
static void
require_cgroup(void)
{
	struct run_result n = run_argv(sc->dir, (const char *[]){ sc->waved, "-n", "-c", sc->conf,
	    NULL });
	bool cgroup = strstr(n.out, "containment: a cgroup per attempt") != NULL;

	if (!cgroup && getuid() != 0)
		cr_skip_test("no writable cgroup v2 here (not root): %s", n.out);
	cr_assert(cgroup, "as root waved makes a cgroup per attempt: %s", n.out);
	run_result_free(&n);
}

/* The tree the daemon's log names (caller frees). */
static char *
cgroup_tree_of_the_run(void)
{
	char *out = scenario_read(sc, "waved.out"), *at = strstr(out, "cgroup per attempt under "), *tree;

	cr_assert(at, "%s", out);
	at += strlen("cgroup per attempt under ");
	tree = xasprintf("%.*s", (int)strcspn(at, "\n"), at);
	free(out);
	return tree;
}

/* waved --once, its phase's server and worker running; waved's pid. */
static pid_t
start_with_a_server(long *server, long *worker)
{
	a_phase_that_starts_a_server();
	require_cgroup();
	pid_t pid = scenario_start(sc, (const char *[]){ "--once", "-c", sc->conf, NULL });

	*server = scenario_await_number(sc, "server.pid", 60);
	*worker = scenario_await_number(sc, "worker.pid", 60);
	cr_assert(*server > 0 && *worker > 0, "the phase did not start its server");
	return pid;
}

/* A worker SIGKILLed mid-phase cannot end what its phase daemonized; the
 * supervisor ends the attempt's cgroup when it reaps the worker. */
Test(e2e_signals, a_killed_worker_leaves_nothing_of_its_attempt_running)
{
	long server, worker;
	pid_t pid = start_with_a_server(&server, &worker);

	cr_assert_eq(kill((pid_t)worker, SIGKILL), 0);
	for (int k = 0; k < 300 && !process_gone((pid_t)server); k++)
		nap_ms(100);
	cr_assert(process_gone((pid_t)server), "the daemonized server outlived its killed worker");
	cr_assert_eq(scenario_wait(pid, 120), 0, "the resumed attempt lands");

	char *tree = cgroup_tree_of_the_run();

	cr_assert(access(tree, F_OK) == -1, "%s is left after waved exited", tree);
	free(tree);
}

/* Supervisor and worker SIGKILLed at once: the next start ends what the
 * attempt left, once its recovery is done, and removes the old tree. */
Test(e2e_signals, the_next_start_ends_what_a_killed_run_left)
{
	long server, worker;
	pid_t pid = start_with_a_server(&server, &worker);

	char *old = cgroup_tree_of_the_run();

	kill(pid, SIGKILL);
	kill((pid_t)worker, SIGKILL);
	scenario_wait(pid, 30);
	nap_ms(200);
	cr_assert(!process_gone((pid_t)server), "nothing but the cgroup is left to end it");
	cJSON_Delete(scenario_once_ok(sc));
	cr_assert(process_gone((pid_t)server), "the server of the killed run still runs");
	cr_assert(access(old, F_OK) == -1, "%s of the killed run is left", old);
	free(old);
}

/* An empty tree of a supervisor gone for good (its state folder too) is removed by any start. */
Test(e2e_signals, an_empty_tree_of_a_waved_gone_is_removed)
{
	free(scenario_repo(sc, "r1"));
	scenario_config(sc, NULL, "[phase \"implement\"]\nrun = echo x > f.txt\n");
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"a\"}]");
	require_cgroup();
	pid_t gone = fork();

	if (gone == 0)
		_exit(0);
	cr_assert(gone > 0 && scenario_wait(gone, 10) == 0);
	char *home = cgroup_own_dir();
	char *tree = xasprintf("%s/%s%d", home, CGROUP_TREE_PREFIX, (int)gone);
	char *leaf = xasprintf("%s/%s", tree, CGROUP_LEAF);

	cr_assert(mkdir(tree, 0755) == 0 && mkdir(leaf, 0755) == 0, "%s", tree);
	cJSON_Delete(scenario_once_ok(sc));
	cr_assert(access(tree, F_OK) == -1, "%s is still there", tree);
	free(leaf);
	free(tree);
	free(home);
}

/* The log is written by waved from a pipe: a writer the phase left behind cannot reach it. */
Test(e2e_signals, nothing_writes_the_log_after_its_phase)
{
	struct stat before, after;

	free(scenario_repo(sc, "r1"));
	scenario_config(sc, NULL, "[phase \"implement\"]\nrun = setsid sh -c 'while :; do "
	    "echo spam; sleep 0.01; done' & echo x > f.txt\n");
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"a\"}]");
	cJSON_Delete(scenario_once_ok(sc));
	char *log = xasprintf("%s/logs/r1/1/attempt-1.log", sc->state);
	cr_assert_eq(stat(log, &before), 0);
	nap_ms(300);
	cr_assert_eq(stat(log, &after), 0);
	cr_assert_eq(before.st_size, after.st_size, "the log grew after its attempt ended");
	free(log);
}

Test(e2e_signals, a_stalled_phase_ends_early_with_its_reason)
{
	free(scenario_repo(sc, "r1"));
	scenario_config(sc, "max_attempts = 1", "[phase \"implement\"]\nidle_timeout = 1\n"
	    "run = echo thinking; sleep 60\n");
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"a\"}]");
	struct run_result r = scenario_once(sc, NULL);

	cr_assert_eq(r.status, 1);
	cJSON *evs = scenario_events(sc);
	const char *reason = ev_string(evs, ev_find(evs, "dead", "r1#1", 0), "reason");
	cr_assert_str_eq(reason, "stalled: no output for 1 s");
	cJSON_Delete(evs);
	run_result_free(&r);
}

/* The agent knows when its usage limit resets: that wins over the backoff. */
Test(e2e_signals, a_tempfail_waits_what_the_phase_asked_else_the_doubling_backoff)
{
	free(scenario_repo(sc, "r1"));
	scenario_config(sc, "tempfail_backoff = 1", "[phase \"implement\"]\nrun = "
	    "f=../../../count; n=$(cat $f 2>/dev/null || echo 0); n=$((n + 1)); echo $n > $f; "
	    "if [ $n = 1 ]; then echo 2 > \"$WAVED_RETRY_AFTER_FILE\"; exit 75; fi; "
	    "if [ $n -le 3 ]; then exit 75; fi; echo x > f.txt\n"
	    "[usage]\ntempfail_streak = 0\n");	/* the issue's backoff alone, no cap pulled */
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"a\"}]");
	cJSON *evs = scenario_once_ok(sc);
	int k1 = ev_find(evs, "retry_scheduled", "r1#1", 0);
	int k2 = ev_find(evs, "retry_scheduled", "r1#1", k1 + 1);
	int k3 = ev_find(evs, "retry_scheduled", "r1#1", k2 + 1);

	cr_assert(k1 >= 0 && k2 > k1 && k3 > k2);
	cr_assert(ev_number(evs, k1, "backoff_ms") > 1000 && ev_number(evs, k1, "backoff_ms") <= 2000,
	    "the phase asked for 2 s: %.0f", ev_number(evs, k1, "backoff_ms"));
	cr_assert_eq(ev_number(evs, k2, "backoff_ms"), 2000, "the second in a row: 1 s doubled");
	cr_assert_eq(ev_number(evs, k3, "backoff_ms"), 4000, "the third: doubled again");
	cr_assert_eq(ev_count(evs, "done", "r1#1"), 1);
	cJSON_Delete(evs);
}

Test(e2e_signals, tempfails_in_a_row_end_at_max_tempfails)
{
	free(scenario_repo(sc, "r1"));
	scenario_config(sc, "max_tempfails = 3", "[phase \"implement\"]\nrun = exit 75\n");
	scenario_issues(sc, "[{\"repo\":\"r1\",\"number\":1,\"title\":\"a\"}]");
	struct run_result r = scenario_once(sc, NULL);

	cr_assert_eq(r.status, 1, "waved --once ends: %s", r.err);
	cJSON *evs = scenario_events(sc);
	cr_assert_str_eq(ev_string(evs, ev_find(evs, "dead", "r1#1", 0), "reason"),
	    "tempfail limit: 3 exits of 75");
	cr_assert_eq(ev_count(evs, "admitted", "r1#1"), 3);
	cJSON_Delete(evs);
	run_result_free(&r);
}

Test(e2e_signals, waved_n_says_the_cap_it_would_start_with_and_why)
{
	free(scenario_repo(sc, "r1"));
	free(scenario_repo(sc, "r2"));
	scenario_config(sc, NULL, "[phase \"implement\"]\nrun = true\n");
	struct run_result r = run_argv(sc->dir, (const char *[]){ sc->waved, "-n", "-c", sc->conf,
	    NULL });

	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "cap 2: the number of repos"), "%s", r.out);
	cr_assert(strstr(r.out, "min_free_mem (1024 MiB)"), "the default floor: %s", r.out);
	run_result_free(&r);
}

/* The preflight checks every repo before it changes any: no agent branch is left behind. */
Test(e2e_signals, a_failed_preflight_changes_no_repo)
{
	char *r1 = scenario_repo(sc, "r1"), *r2 = scenario_repo(sc, "r2");

	/* r2 has neither the agent branch nor the base branch. */
	free(scenario_git(r2, (const char *[]){ "branch", "-m", "main", "trunk", NULL }));
	scenario_waive(sc, INV_LEFTOVERS, "r2's base branch is renamed trunk on purpose");
	scenario_config(sc, NULL, "[phase \"implement\"]\nrun = true\n");
	scenario_issues(sc, "[]");
	struct run_result r = scenario_once(sc, NULL);

	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert(strstr(r.err, "repo r2"), "%s", r.err);
	char *branches = scenario_git(r1, (const char *[]){ "branch", "--list", "waved", NULL });
	cr_assert_str_empty(branches, "r1 was changed by a preflight that failed: %s", branches);
	free(branches);
	run_result_free(&r);
	free(r1);
	free(r2);
}
