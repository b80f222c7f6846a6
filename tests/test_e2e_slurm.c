/*
 * End to end: the cluster runner (DESIGN.md section 17) on a real Slurm
 * cluster, the private single-node one scripts/run-tests starts for the
 * suite (tests/slurm-cluster).  Phases run as jobs named after their issue;
 * a job cancelled from outside costs no attempt; a timeout or a stop
 * cancels the job; a missing srun or partition fails the preflight.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "tests/lib/scenario.h"

static struct scenario *sc;

/* Every test here needs the cluster: as root (CI) its absence fails the test. */
static void
slurm_setup(void)
{
	const char *conf = getenv("WAVED_SLURM_CONF");

	if (conf == NULL) {
		if (geteuid() == 0)
			cr_assert_fail("no private Slurm cluster: run the suite through "
			    "scripts/run-tests (make test)");
		cr_skip_test("the cluster runner's tests need root for their private Slurm "
		    "cluster");
	}
	setenv("SLURM_CONF", conf, 1);	/* for waved's srun, and for ours */
	sc = scenario_new();
}

static void
slurm_teardown(void)
{
	if (sc)
		scenario_free(sc);
}

TestSuite(e2e_slurm, .init = slurm_setup, .fini = slurm_teardown, .timeout = 180);

#define RUNNER "[runner]\ntype = slurm\n"

/* Output of a Slurm client command, trimmed; caller frees. */
static char *
slurm_cmd(const char *const argv[])
{
	struct run_result r = run_argv(NULL, argv);
	size_t n;

	cr_assert_eq(r.status, 0, "%s failed: %s", argv[0], r.err);
	free(r.err);
	n = strlen(r.out);
	while (n > 0 && (r.out[n - 1] == '\n' || r.out[n - 1] == ' '))
		r.out[--n] = '\0';
	return r.out;
}

/* Jobs of this name still pending or running, one "ID STATE" a line. */
static char *
active_jobs(const char *name)
{
	char *opt = xasprintf("--name=%s", name);
	char *out = slurm_cmd((const char *[]){ "squeue", "--noheader", opt, "--format=%i %T",
	    NULL });

	free(opt);
	return out;
}

/* Cancelled, a job may stay COMPLETING a moment on a busy machine: what is left after 30 s. */
static char *
active_jobs_after_a_while(const char *name)
{
	char *left = active_jobs(name);

	for (int64_t deadline = mono_ms() + 30000; *left && mono_ms() < deadline; nap_ms(200)) {
		free(left);
		left = active_jobs(name);
	}
	return left;
}

/* What squeue says of a job (it remembers ended jobs for MinJobAge). */
static char *
job_field(long id, const char *format)
{
	char *opt = xasprintf("--jobs=%ld", id), *fmt = xasprintf("--format=%s", format);
	char *out = slurm_cmd((const char *[]){ "squeue", "--noheader", "--states=all", opt, fmt,
	    NULL });

	free(fmt);
	free(opt);
	return out;
}

static char *
job_state(long id)
{
	return job_field(id, "%T");
}

static char *
job_name(const char *issue, const char *phase, const cJSON *evs)
{
	int k = ev_find(evs, "admitted", issue, 0);

	cr_assert_geq(k, 0, "%s was never admitted", issue);
	return xasprintf("waved:%s:%s:%s", issue, phase, ev_string(evs, k, "trace"));
}

/* Poll until a job of that name is running; its id. */
static long
await_running_job(const char *name, int timeout_s)
{
	int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000;

	while (mono_ms() < deadline) {
		char *jobs = active_jobs(name);
		long id = 0;

		if (strstr(jobs, "RUNNING"))
			id = atol(jobs);
		free(jobs);
		if (id > 0)
			return id;
		nap_ms(100);
	}
	cr_assert_fail("no running job %s after %d s", name, timeout_s);
	return 0;
}

/*
 * Two repos, a dependency across them: every phase and the merge gate run as
 * jobs named waved:REPO#N:PHASE:TRACE, the agent sees SLURM_JOB_ID and
 * SLURM_JOB_NAME, a pool's runner_args reach its jobs, phase_end carries the
 * job, and nothing is left on the cluster.
 */
Test(e2e_slurm, phases_run_as_jobs_named_after_their_issue)
{
	free(scenario_repo(sc, "jobs1"));
	free(scenario_repo(sc, "jobs2"));
	/* jobs2's issues are of a resource class: its pool's srun options. */
	strlcat(sc->repos, "pool = heavy\n", sizeof(sc->repos));
	scenario_config(sc, NULL, RUNNER "[pool \"heavy\"]\ncap = 2\n"
	    "runner_args = --comment=heavy-class\n"
	    "[phase \"implement\"]\n"
	    "run = printf '%s %s\\n' \"$SLURM_JOB_ID\" \"$SLURM_JOB_NAME\" > job-$WAVED_NUMBER.txt\n"
	    "[phase \"verify\"]\nrun = test -n \"$SLURM_JOB_ID\"\n"
	    "[merge]\ncheck = test -n \"$SLURM_JOB_ID\"\n");
	scenario_issues(sc, "["
	    "{\"repo\":\"jobs1\",\"number\":1,\"title\":\"first\"},"
	    "{\"repo\":\"jobs2\",\"number\":2,\"title\":\"second\",\"depends_on\":[\"jobs1#1\"]},"
	    "{\"repo\":\"jobs2\",\"number\":3,\"title\":\"third\"}]");
	cJSON *evs = scenario_once_ok(sc);

	cr_assert_eq(ev_count(evs, "done", NULL), 3);
	cr_assert_lt(ev_find(evs, "done", "jobs1#1", 0), ev_find(evs, "admitted", "jobs2#2", 0));
	const char *issues[] = { "jobs1#1", "jobs2#2", "jobs2#3" };

	for (size_t i = 0; i < ARRAY_LEN(issues); i++) {
		long number = atol(strchr(issues[i], '#') + 1);
		char repo[8], *path, *file, *name = job_name(issues[i], "implement", evs);
		int k;

		/* Every phase_end of the issue names its job. */
		for (k = ev_find(evs, "phase_end", issues[i], 0); k >= 0;
		    k = ev_find(evs, "phase_end", issues[i], k + 1))
			cr_assert_gt(ev_number(evs, k, "job"), 0, "phase_end without job: %s",
			    issues[i]);
		k = ev_find(evs, "phase_end", issues[i], 0);
		cr_assert_str_eq(ev_string(evs, k, "phase"), "implement");
		/* What the agent saw, as it committed it on the agent branch. */
		snprintf(repo, sizeof(repo), "%.*s", (int)(strchr(issues[i], '#') - issues[i]),
		    issues[i]);
		path = xasprintf("%s/repos/%s", sc->dir, repo);
		file = xasprintf("waved:job-%ld.txt", number);
		char *seen = scenario_git(path, (const char *[]){ "show", file, NULL });
		char *want = xasprintf("%.0f %s", ev_number(evs, k, "job"), name);

		cr_assert_str_eq(seen, want);
		char *state = job_state((long)ev_number(evs, k, "job"));

		cr_assert_str_eq(state, "COMPLETED");
		free(state);
		char *comment = job_field((long)ev_number(evs, k, "job"), "%k");

		cr_assert_str_eq(comment, strcmp(repo, "jobs2") == 0 ? "heavy-class" : "(null)");
		free(comment);
		char *left = active_jobs(name);

		cr_assert_str_empty(left, "jobs left on the cluster: %s", left);
		free(left);
		/* The merge gate ran as a job of its own. */
		char *check = job_name(issues[i], "check", evs), *opt = xasprintf("--name=%s", check);
		char *gate = slurm_cmd((const char *[]){ "squeue", "--noheader", "--states=all", opt,
		    "--format=%T", NULL });

		cr_assert_str_eq(gate, "COMPLETED", "merge gate job %s: %s", check, gate);
		free(gate);
		free(opt);
		free(check);
		free(want);
		free(seen);
		free(file);
		free(path);
		free(name);
	}
	cJSON_Delete(evs);
}

/*
 * A job cancelled from outside (scancel) is the cluster's doing, not the
 * agent's: with max_attempts = 1 the issue still lands.
 */
Test(e2e_slurm, a_job_cancelled_from_outside_costs_no_attempt)
{
	free(scenario_repo(sc, "cancel1"));
	scenario_config(sc, "max_attempts = 1\n", RUNNER
	    "[phase \"implement\"]\n"
	    "run = if [ -e ../../../ran-once ]; then echo done > f.txt; "
	    "else touch ../../../ran-once; exec sleep 120; fi\n");
	scenario_issues(sc, "[{\"repo\":\"cancel1\",\"number\":1,\"title\":\"t\"}]");
	pid_t pid = scenario_start(sc, (const char *[]){ "--once", "-c", sc->conf, NULL });

	cr_assert(scenario_await(sc, "phase_start", "cancel1#1", 1, 60));
	cJSON *evs = scenario_events(sc);
	char *name = job_name("cancel1#1", "implement", evs);
	long id = await_running_job(name, 60);
	char *target = xasprintf("%ld", id), *marker = xasprintf("%s/ran-once", sc->state);

	/* Cancelled before its touch, the next attempt would wait too. */
	for (int64_t deadline = mono_ms() + 60000; access(marker, F_OK) == -1; nap_ms(50))
		cr_assert_lt(mono_ms(), deadline, "the job never made %s", marker);
	free(marker);

	free(slurm_cmd((const char *[]){ "scancel", target, NULL }));
	cr_assert_eq(scenario_wait(pid, 120), 0);
	cJSON_Delete(evs);
	evs = scenario_events(sc);
	int failed = ev_find(evs, "failed", "cancel1#1", 0);

	cr_assert_geq(failed, 0);
	cr_assert_str_eq(ev_string(evs, failed, "outcome"), "tempfail");
	cr_assert(strstr(ev_string(evs, failed, "reason"), target), "reason: %s",
	    ev_string(evs, failed, "reason"));
	cr_assert_eq(ev_count(evs, "done", "cancel1#1"), 1);
	char *state = job_state(id);

	cr_assert_str_eq(state, "CANCELLED");
	free(state);
	free(target);
	free(name);
	cJSON_Delete(evs);
}

/* A phase past its timeout: the job is cancelled on the cluster, none is left. */
Test(e2e_slurm, a_phase_past_its_timeout_is_cancelled_on_the_cluster)
{
	free(scenario_repo(sc, "slow1"));
	scenario_config(sc, "max_attempts = 1\n", RUNNER
	    "[phase \"implement\"]\nrun = exec sleep 300\ntimeout = 2\n");
	scenario_issues(sc, "[{\"repo\":\"slow1\",\"number\":1,\"title\":\"t\"}]");
	struct run_result r = scenario_once(sc, NULL);
	cJSON *evs = scenario_events(sc);
	int end = ev_find(evs, "phase_end", "slow1#1", 0), failed = ev_find(evs, "failed",
	    "slow1#1", 0);
	char *name = job_name("slow1#1", "implement", evs), *left = active_jobs_after_a_while(name);

	cr_assert_geq(end, 0);
	cr_assert_geq(failed, 0);
	cr_assert_str_eq(ev_string(evs, failed, "outcome"), "timeout");
	char *state = job_state((long)ev_number(evs, end, "job"));

	cr_assert_str_eq(state, "CANCELLED");
	cr_assert_str_empty(left, "left running: %s", left);
	free(state);
	free(left);
	free(name);
	cJSON_Delete(evs);
	run_result_free(&r);
}

/* waved stops while jobs run: it cancels them, squeue has none of them after. */
Test(e2e_slurm, a_stop_cancels_the_running_jobs)
{
	free(scenario_repo(sc, "stop1"));
	free(scenario_repo(sc, "stop2"));
	/* exec: the job's one process is the sleep, which the cancel ends (this
	 * private cluster tracks processes by parent, and loses an orphan). */
	scenario_config(sc, NULL, RUNNER "[phase \"implement\"]\nrun = exec sleep 300\n");
	scenario_issues(sc, "[{\"repo\":\"stop1\",\"number\":1,\"title\":\"t\"},"
	    "{\"repo\":\"stop2\",\"number\":1,\"title\":\"t\"}]");
	pid_t pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });

	cr_assert(scenario_await(sc, "phase_start", NULL, 2, 60));
	cJSON *evs = scenario_events(sc);
	char *names[] = { job_name("stop1#1", "implement", evs),
	    job_name("stop2#1", "implement", evs) };

	for (int i = 0; i < 2; i++)
		await_running_job(names[i], 60);
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
	for (int i = 0; i < 2; i++) {
		char *left = active_jobs_after_a_while(names[i]);

		cr_assert_str_empty(left, "left on the cluster after the stop: %s", left);
		free(left);
		free(names[i]);
	}
	cJSON_Delete(evs);
}

/* The preflight names what is wrong: srun, or the partition. */
Test(e2e_slurm, a_missing_srun_or_partition_fails_the_preflight)
{
	free(scenario_repo(sc, "pre1"));
	scenario_issues(sc, "[]");
	scenario_config(sc, NULL, "[runner]\ntype = slurm\nsrun = /nonexistent/bin/srun\n"
	    "[phase \"implement\"]\nrun = true\n");
	struct run_result r = run_argv(sc->dir, (const char *[]){ sc->waved, "-n", "-c", sc->conf,
	    NULL });

	cr_assert_eq(r.status, 2, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "runner: srun: \"/nonexistent/bin/srun\" not found"), "%s", r.err);
	run_result_free(&r);

	scenario_config(sc, NULL, RUNNER "args = --partition=no-such-partition\n"
	    "[phase \"implement\"]\nrun = true\n");
	r = run_argv(sc->dir, (const char *[]){ sc->waved, "-n", "-c", sc->conf, NULL });
	cr_assert_eq(r.status, 2, "exit %d: %s", r.status, r.err);
	cr_assert(strstr(r.err, "runner: partition: a one-second job did not run"), "%s", r.err);
	cr_assert(strstr(r.err, "no-such-partition"), "%s", r.err);
	run_result_free(&r);

	/* And the same at start: the daemon never runs a worker. */
	r = scenario_once(sc, NULL);
	cr_assert_eq(r.status, 2, "exit %d: %s", r.status, r.err);
	run_result_free(&r);

	scenario_config(sc, NULL, RUNNER "[phase \"implement\"]\nrun = true\n");
	r = run_argv(sc->dir, (const char *[]){ sc->waved, "-n", "-c", sc->conf, NULL });
	cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
	run_result_free(&r);
}
