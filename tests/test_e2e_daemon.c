/*
 * End to end: waved as a daemon: process titles, the pidfile, the init
 * script, stopping and reloading (DESIGN.md sections 1, 11, 13).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "tests/lib/scenario.h"

SCENARIO_SUITE(e2e_daemon, 120);

static char *
ps_args(long pid)
{
	char *p = xasprintf("%ld", pid);
	struct run_result r = run_argv(NULL, (const char *[]){ "ps", "-o", "args=", "-p", p, NULL });

	free(p);
	free(r.err);
	return r.out;
}

static long
pidfile_pid(void)
{
	char *path = xasprintf("%s/waved.pid", sc->state), *text = read_file(path, NULL);
	long pid = text ? atol(text) : 0;

	free(text);
	free(path);
	return pid;
}

/* Poll pred() for up to timeout_s seconds. */
static bool
eventually(bool (*pred)(void), int timeout_s)
{
	int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000;

	while (mono_ms() < deadline) {
		if (pred())
			return true;
		nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
	}
	return false;
}

static bool
daemon_gone(void)
{
	long pid = pidfile_pid();

	return pid == 0 || kill((pid_t)pid, 0) == -1;
}

static void
one_slow_issue(const char *seconds)
{
	char *phases = xasprintf("[phase \"implement\"]\nrun = echo $WAVED_NUMBER > f.txt; sleep %s\n", seconds);

	free(scenario_repo(sc, "api"));
	scenario_config(sc, NULL, phases);
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":12,\"title\":\"t\"},"
	    "{\"repo\":\"api\",\"number\":13,\"title\":\"u\"}]");
	free(phases);
}

Test(e2e_daemon, ps_shows_what_each_process_does)
{
	pid_t pid;
	cJSON *evs;
	char *args;

	one_slow_issue("30");
	pid = scenario_start(sc, (const char *[]){ "--once", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "phase_start", "api#12", 1, 30));
	evs = scenario_events(sc);
	long worker = (long)ev_number(evs, ev_find(evs, "admitted", "api#12", 0), "pid");
	cJSON_Delete(evs);
	args = ps_args(worker);
	cr_assert(strstr(args, "waved: worker api#12 implement (attempt 1)"), "worker title: %s", args);
	free(args);
	args = ps_args(pid);
	cr_assert(strstr(args, "waved: supervisor [1/1 in flight, cap 1]"), "supervisor title: %s", args);
	free(args);
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
}

Test(e2e_daemon, sigterm_drains_without_consuming_an_attempt)
{
	pid_t pid;
	cJSON *evs;
	struct run_result r;

	one_slow_issue("30");
	pid = scenario_start(sc, (const char *[]){ "--once", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "phase_start", "api#12", 1, 30));
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0, "a stop exits 0");
	r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf, "status", "--json", NULL });
	cJSON *st = json_parse_or_fail(r.out), *issues = cJSON_GetObjectItem(st, "issues");
	cJSON *first = cJSON_GetArrayItem(issues, 0);
	cr_assert_str_eq(cJSON_GetObjectItem(first, "issue")->valuestring, "api#12");
	cr_assert_str_eq(cJSON_GetObjectItem(first, "state")->valuestring, "running",
	    "left in flight, as after a kill -9");
	cr_assert_eq(cJSON_GetObjectItem(first, "attempts")->valueint, 0);
	cJSON_Delete(st);
	run_result_free(&r);

	/* The next start resumes attempt 1 at the phase it was in, and finishes. */
	scenario_config(sc, NULL, "[phase \"implement\"]\nrun = echo $WAVED_NUMBER > f.txt\n");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	evs = scenario_events(sc);
	int rec = ev_find(evs, "recovered", "api#12", 0), done = ev_find(evs, "done", "api#12", 0);
	cr_assert_geq(rec, 0);
	cr_assert_str_eq(ev_string(evs, rec, "action"), "resume");
	cr_assert_eq(ev_number(evs, done, "attempt"), 1);
	cr_assert_eq(ev_count(evs, "stopped", NULL), 2);
	cJSON_Delete(evs);
	run_result_free(&r);
}

Test(e2e_daemon, daemonises_with_a_pidfile_and_refuses_a_second_one)
{
	struct run_result r;
	long pid;

	one_slow_issue("30");
	r = run_argv(sc->dir, (const char *[]){ sc->waved, "-c", sc->conf, NULL });
	cr_assert_eq(r.status, 0, "the parent returns once the daemon is on its way: %s", r.err);
	run_result_free(&r);
	cr_assert(scenario_await(sc, "started", NULL, 1, 30));
	pid = pidfile_pid();
	cr_assert_gt(pid, 0);
	cr_assert_eq(kill((pid_t)pid, 0), 0);

	r = run_argv(sc->dir, (const char *[]){ sc->waved, "-f", "-c", sc->conf, NULL });
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "already running as pid"), "%s", r.err);
	run_result_free(&r);

	r = run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf, "status", "--json", NULL });
	cJSON *st = json_parse_or_fail(r.out);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(st, "running")));
	cr_assert_eq(cJSON_GetObjectItem(st, "pid")->valueint, pid);
	cJSON_Delete(st);
	run_result_free(&r);

	kill((pid_t)pid, SIGTERM);
	cr_assert(eventually(daemon_gone, 60));
}

Test(e2e_daemon, init_script_starts_reports_steps_down_and_stops)
{
	char *daemon = xasprintf("WAVED_DAEMON=%s", sc->waved), *config = xasprintf("WAVED_CONFIG=%s", sc->conf);
	const char *script = "etc/init.d/waved";	/* from the source tree, where make test runs */
	struct run_result r;

	one_slow_issue("30");
	r = run_argv(NULL, (const char *[]){ "env", daemon, config, script, "start", NULL });
	cr_assert_eq(r.status, 0, "start: %s %s", r.out, r.err);
	run_result_free(&r);
	cr_assert(scenario_await(sc, "started", NULL, 1, 30));

	r = run_argv(NULL, (const char *[]){ "env", daemon, config, script, "status", NULL });
	cr_assert_eq(r.status, 0, "status: %s %s", r.out, r.err);
	cr_assert(strstr(r.out, "running"), "%s", r.out);
	run_result_free(&r);

	r = run_argv(NULL, (const char *[]){ "env", daemon, config, script, "stepdown", NULL });
	cr_assert_eq(r.status, 0, "stepdown: %s %s", r.out, r.err);
	run_result_free(&r);
	cr_assert(scenario_await(sc, "cap_changed", NULL, 1, 30));
	cJSON *evs = scenario_events(sc);
	int k = ev_find(evs, "cap_changed", NULL, 0);
	cr_assert_eq(ev_number(evs, k, "effective"), 0);
	cr_assert_str_eq(ev_string(evs, k, "why"), "signal");
	cJSON_Delete(evs);

	r = run_argv(NULL, (const char *[]){ "env", daemon, config, script, "stop", NULL });
	cr_assert_eq(r.status, 0, "stop: %s %s", r.out, r.err);
	run_result_free(&r);
	cr_assert(daemon_gone());
	r = run_argv(NULL, (const char *[]){ "env", daemon, config, script, "status", NULL });
	cr_assert_eq(r.status, 3, "status of a stopped daemon is 3 (LSB)");
	run_result_free(&r);
	free(daemon);
	free(config);
}

Test(e2e_daemon, sighup_reloads_the_config_and_the_issues)
{
	pid_t pid;

	one_slow_issue("0.1");
	scenario_config(sc, "cap = 1", "[phase \"implement\"]\nrun = echo $WAVED_NUMBER > f.txt; sleep 0.1\n");
	pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "done", NULL, 2, 60));
	free(scenario_repo(sc, "web"));
	scenario_config(sc, "cap = 2", "[phase \"implement\"]\nrun = echo $WAVED_NUMBER > f.txt\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":12,\"title\":\"t\"},"
	    "{\"repo\":\"api\",\"number\":13,\"title\":\"u\"},"
	    "{\"repo\":\"web\",\"number\":1,\"title\":\"new\"}]");
	kill(pid, SIGHUP);
	cr_assert(scenario_await(sc, "done", "web#1", 1, 60), "the new repo and issue should run");
	cJSON *evs = scenario_events(sc);
	int k = ev_find(evs, "cap_changed", NULL, 0);
	cr_assert_geq(k, 0);
	cr_assert_eq(ev_number(evs, k, "cap"), 2);
	cr_assert_str_eq(ev_string(evs, k, "why"), "config");
	cJSON_Delete(evs);
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
}

/* waved -n refuses a state_dir the real run could not use. */
Test(e2e_daemon, check_refuses_a_state_dir_it_cannot_use)
{
	struct run_result r;

	free(scenario_repo(sc, "api"));
	scenario_config(sc, NULL, "[phase \"implement\"]\nrun = true\n");
	scenario_issues(sc, "[]");
	char *conf = read_file(sc->conf, NULL), *bad;

	bad = xasprintf("%s", conf);
	char *at = strstr(bad, "state_dir = state\n");
	cr_assert_not_null(at);
	char *file_dir = xasprintf("%.*sstate_dir = issues.json/state\n%s", (int)(at - bad), bad,
	    at + strlen("state_dir = state\n"));
	free(write_text(sc->dir, "waved.conf", file_dir));
	r = run_argv(sc->dir, (const char *[]){ sc->waved, "-n", "-c", sc->conf, NULL });
	cr_assert_eq(r.status, 2, "%s", r.out);
	cr_assert(strstr(r.err, "cannot be made in") && strstr(r.err, "not a folder"), "%s", r.err);
	run_result_free(&r);
	char *is_file = xasprintf("%.*sstate_dir = issues.json\n%s", (int)(at - bad), bad,
	    at + strlen("state_dir = state\n"));
	free(write_text(sc->dir, "waved.conf", is_file));
	r = run_argv(sc->dir, (const char *[]){ sc->waved, "-n", "-c", sc->conf, NULL });
	cr_assert_eq(r.status, 2, "%s", r.out);
	cr_assert(strstr(r.err, "issues.json: not a folder"), "%s", r.err);
	run_result_free(&r);
	free(write_text(sc->dir, "waved.conf", conf));
	r = run_argv(sc->dir, (const char *[]){ sc->waved, "-n", "-c", sc->conf, NULL });
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_result_free(&r);
	free(is_file);
	free(file_dir);
	free(bad);
	free(conf);
}

/* An agent that prints without end fills no disk: past log_max the middle of its log goes. */
Test(e2e_daemon, a_log_past_log_max_keeps_its_head_and_tail)
{
	struct run_result r;
	struct stat st;

	free(scenario_repo(sc, "api"));
	scenario_config(sc, "log_max = 1M", "[phase \"implement\"]\nrun = echo FIRST-LINE; "
	    "yes xxxxxxxxxxxxxxxxxxx | head -c 5000000; echo LAST-LINE; echo done > f.txt\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"loud\"}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_result_free(&r);
	char *path = xasprintf("%s/logs/api/1/attempt-1.log", sc->state), *text = read_file(path, NULL);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_leq(st.st_size, (1 << 20) + 4096, "the log holds %lld bytes", (long long)st.st_size);
	cr_assert(strstr(text, "FIRST-LINE"), "the head stays");
	cr_assert(strstr(text, "LAST-LINE"), "the tail stays");
	cr_assert(strstr(text, "bytes cut from the middle of this log (log_max)"), "a line says so");
	free(text);
	free(path);
}

/*
 * A worker owns none of the supervisor's handles: its pipe (3), its gate (4)
 * and its attempt log (5), which the supervisor opened, cross the exec
 * (DESIGN.md section 1).  The phase's parent is its worker.
 */
Test(e2e_daemon, the_pipe_the_gate_and_the_log_cross_the_exec)
{
	struct run_result r;
	const char *want = "/state/logs/api/1/attempt-1.log";
	char *api = scenario_repo(sc, "api"), *fds;

	scenario_config(sc, NULL, "[phase \"implement\"]\nrun = for fd in 3 4 5; do "
	    "readlink /proc/$PPID/fd/$fd; done > fds.txt\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"t\"}]");
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_result_free(&r);
	fds = scenario_git(api, (const char *[]){ "show", "waved:fds.txt", NULL });
	cr_assert(strncmp(fds, "pipe:[", 6) == 0, "fd 3 is the pipe: %s", fds);
	cr_assert(strstr(fds, "\npipe:["), "fd 4 is the gate: %s", fds);
	cr_assert(strlen(fds) > strlen(want) && strcmp(fds + strlen(fds) - strlen(want), want) == 0,
	    "fd 5 is the attempt log: %s", fds);
	free(fds);
	free(api);
}

/* CPU time (user + system) of pid so far, in clock ticks. */
static long
cpu_ticks(pid_t pid)
{
	char *path = xasprintf("/proc/%d/stat", (int)pid), *text = read_file(path, NULL);
	const char *p = text ? strrchr(text, ')') : NULL;
	long utime = 0, stime = 0;

	/* After "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime. */
	cr_assert(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld",
	    &utime, &stime) == 2, "%s", path);
	free(text);
	free(path);
	return utime + stime;
}

/*
 * A daemon with nothing to do but wait (a phase sleeping, an issue queued
 * behind it, no usage command) sleeps in poll: over two seconds it uses a
 * small part of one, not a whole core.
 */
Test(e2e_daemon, an_idle_daemon_sleeps)
{
	free(scenario_repo(sc, "api"));
	scenario_config(sc, "cap = 1\n", "[phase \"implement\"]\nrun = sleep 60\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"t\"},"
	    "{\"repo\":\"api\",\"number\":2,\"title\":\"t\"}]");
	pid_t pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });

	cr_assert(scenario_await(sc, "phase_start", "api#1", 1, 30));
	long before = cpu_ticks(pid);

	nap_ms(2000);
	long used = cpu_ticks(pid) - before, hz = sysconf(_SC_CLK_TCK);

	cr_assert_lt(used, hz / 2, "the daemon used %ld of %ld ticks a second while idle", used, hz);
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
}
