/*
 * The checks every scenario's teardown makes (tests/lib/invariants.h) find
 * what they are there for: each test breaks one invariant on purpose and
 * reads what the checker recorded, into a file of its own rather than the
 * run's.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "tests/lib/scenario.h"

static struct scenario *sc;
static char *found_path;

static void
setup(void)
{
	sc = scenario_new();
	found_path = xasprintf("%s/invariants-found", sc->dir);
	setenv("WAVED_INVARIANT_LOG", found_path, 1);	/* this test's process only */
}

static void
teardown(void)
{
	free(found_path);
	scenario_free(sc);	/* checked already: the folder goes */
}

TestSuite(invariants, .init = setup, .fini = teardown, .timeout = 120);

/* Check now; what the checker found (never NULL). */
static char *
check_now(void)
{
	char *found;

	invariants_check(sc);
	found = read_file(found_path, NULL);
	return found ? found : xstrdup("");
}

Test(invariants, a_clean_run_breaks_none)
{
	free(scenario_repo(sc, "api"));
	scenario_config(sc, NULL, "[phase \"implement\"]\nrun = echo $WAVED_ISSUE > f.txt\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"one\"}]");
	cJSON_Delete(scenario_once_ok(sc));
	char *found = check_now();

	cr_assert_str_empty(found, "%s", found);
	free(found);
}

Test(invariants, landed_work_gone_from_the_agent_branch_is_found)
{
	char *api = scenario_repo(sc, "api");

	scenario_config(sc, NULL, "[phase \"implement\"]\nrun = echo $WAVED_ISSUE > f.txt\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"one\"}]");
	cJSON_Delete(scenario_once_ok(sc));
	free(scenario_git(api, (const char *[]){ "branch", "-f", "waved", "main", NULL }));
	char *found = check_now();

	cr_assert(strstr(found, "api#1 is done, but its landed commit"), "%s", found);
	cr_assert(strstr(found, "invariants::landed_work_gone_from_the_agent_branch_is_found"),
	    "the test is named: %s", found);
	free(found);
	free(api);
}

Test(invariants, a_stray_branch_and_a_bad_seq_are_found)
{
	char *api = scenario_repo(sc, "api");

	scenario_config(sc, NULL, "[phase \"implement\"]\nrun = true\n");
	free(scenario_git(api, (const char *[]){ "branch", "feature", NULL }));
	free(write_text(sc->state, "events.ndjson",
	    "{\"seq\":1,\"event\":\"started\"}\n{\"seq\":1,\"event\":\"stopped\"}\n"));
	char *found = check_now();

	cr_assert(strstr(found, "branch feature is left in repo api"), "%s", found);
	cr_assert(strstr(found, "seq 1 after 1"), "%s", found);
	free(found);
	free(api);
}

Test(invariants, a_process_left_running_is_found_and_ended)
{
	pid_t pid = fork();

	cr_assert_neq(pid, -1);
	if (pid == 0) {
		if (chdir(sc->dir) == -1)
			_exit(127);
		execlp("sleep", "sleep", "60", (char *)NULL);
		_exit(127);
	}
	/* Until it is the scenario's: in its folder, sleeping. */
	char *proc = xasprintf("/proc/%d/cmdline", (int)pid), *cmd = NULL;
	for (int64_t deadline = mono_ms() + 10000; mono_ms() < deadline; nap_ms(10)) {
		free(cmd);
		if ((cmd = read_file(proc, NULL)) != NULL && strcmp(cmd, "sleep") == 0)
			break;
	}
	cr_assert_str_eq(cmd, "sleep");
	free(cmd);
	free(proc);
	char *found = check_now();

	cr_assert(strstr(found, "processes outlived the scenario"), "%s", found);
	cr_assert(strstr(found, "sleep 60"), "%s", found);
	cr_assert_eq(waitpid(pid, NULL, 0), pid, "ended by the checker");
	free(found);
}

Test(invariants, a_failed_commit_in_the_log_is_found_unless_waived)
{
	free(write_text(sc->dir, "waved.out", "waved: store: cannot commit (disk I/O error)\n"));
	char *found = check_now();

	cr_assert(strstr(found, "the store failed a commit"), "%s", found);
	free(found);
	/* A waiver names the invariant and says why. */
	sc->checked = false;
	unlink(found_path);
	scenario_waive(sc, INV_STORE_COMMITS, "this test writes the line itself");
	found = check_now();
	cr_assert_str_empty(found, "%s", found);
	free(found);
}
