/*
 * End to end: the agent is untrusted (DESIGN.md section 19).  Scripted
 * agents do what real ones do (branches of their own, a detached HEAD, a
 * move of the agent branch, a planted hooksPath, a rebase left stopped, a
 * repository replaced, a lock file left, a file too big, a commit a hook
 * refuses, a read of the terminal), and waved reads the outcome from git.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "tests/lib/scenario.h"

SCENARIO_SUITE(e2e_untrusted, 180);

#define GIT_ID "git -c user.name=agent -c user.email=agent@example.invalid "

static char *api;

/* One repo, issues 1..n, the implement phase given. */
static void
issues(int n, const char *waved_keys, const char *implement)
{
	struct strbuf list = { 0 }, phases = { 0 };

	api = scenario_repo(sc, "api");
	for (int k = 1; k <= n; k++)
		strbuf_addf(&list, "%s{\"repo\":\"api\",\"number\":%d,\"title\":\"t%d\"}",
		    k > 1 ? "," : "[", k, k);
	strbuf_add(&list, "]");
	strbuf_addf(&phases, "[phase \"implement\"]\nrun = %s\n", implement);
	scenario_config(sc, waved_keys, phases.s);
	scenario_issues(sc, list.s);
	strbuf_free(&list);
	strbuf_free(&phases);
}

/* waved --once; the reason of the issue's first failure (caller frees), NULL when none. */
static char *
first_failure(const char *issue, int expect_status)
{
	struct run_result r = scenario_once(sc, NULL);
	cJSON *evs = scenario_events(sc);
	int f = ev_find(evs, "failed", issue, 0);
	char *reason = f >= 0 ? xstrdup(ev_string(evs, f, "reason")) : NULL;

	cr_assert_eq(r.status, expect_status, "waved --once: %s", r.err);
	cr_assert(f < 0 || strcmp(ev_string(evs, f, "outcome"), "no_change") != 0,
	    "a broken worktree is never no_change: %s", reason);
	cJSON_Delete(evs);
	run_result_free(&r);
	return reason;
}

static char *
show(const char *rev)
{
	return scenario_git(api, (const char *[]){ "show", rev, NULL });
}

Test(e2e_untrusted, a_branch_of_its_own_is_the_result_and_is_removed)
{
	issues(1, NULL, "git checkout -q -b feature && echo work > f.txt && git add f.txt && "
	    GIT_ID "commit -qm mine");
	cr_assert_null(first_failure("api#1", 0));
	char *f = show("waved:f.txt"), *branches = scenario_git(api, (const char *[]){ "branch",
	    "--list", "feature", NULL });

	cr_assert_str_eq(f, "work", "the agent's commit landed");
	cr_assert_str_empty(branches, "the agent's branch is gone: %s", branches);
	free(branches);
	free(f);
	free(api);
}

Test(e2e_untrusted, a_detached_head_is_the_result)
{
	issues(1, NULL, "git checkout -q --detach && echo work > f.txt && git add f.txt && "
	    GIT_ID "commit -qm mine");
	cr_assert_null(first_failure("api#1", 0));
	char *f = show("waved:f.txt");

	cr_assert_str_eq(f, "work");
	free(f);
	free(api);
}

/* Issue 2's agent resets the agent branch: issue 1's landed work must stay. */
Test(e2e_untrusted, the_agent_branch_moved_by_an_agent_is_put_back)
{
	issues(2, "max_attempts = 2", "f=../../../moved; if [ $WAVED_NUMBER = 2 ] && [ ! -e $f ]; "
	    "then touch $f; git branch -f waved main; fi; echo $WAVED_ISSUE > f-$WAVED_NUMBER.txt");
	char *why = first_failure("api#2", 0);

	cr_assert(why && strstr(why, "the agent moved waved"), "%s", why);
	cJSON *evs = scenario_events(sc);
	int k = ev_find(evs, "agent_branch_restored", "api#2", 0);
	cr_assert_geq(k, 0);
	cr_assert(strncmp(ev_string(evs, k, "foreign"), "refs/waved/foreign/", 19) == 0);
	cr_assert_eq(ev_count(evs, "done", NULL), 2);
	cJSON_Delete(evs);
	char *one = show("waved:f-1.txt");
	cr_assert_str_eq(one, "api#1", "issue 1's landed work is on the agent branch");
	free(one);
	free(why);
	free(api);
}

/* A push to the agent branch passes no gate: it is undone, the attempt fails. */
Test(e2e_untrusted, a_push_to_the_agent_branch_bypasses_no_gate)
{
	issues(1, "max_attempts = 2", "f=../../../pushed; echo $WAVED_ISSUE > f.txt; "
	    "if [ ! -e $f ]; then touch $f; git add f.txt && " GIT_ID "commit -qm sneaky && "
	    "git push -q \"$(git rev-parse --git-common-dir)\" HEAD:refs/heads/waved; fi");
	char *why = first_failure("api#1", 0);

	cr_assert(why && strstr(why, "the agent moved waved"), "%s", why);
	char *subjects = scenario_git(api, (const char *[]){ "log", "--format=%s", "waved", NULL });
	cr_assert_eq(count_lines_equal(subjects, "sneaky"), 0, "the pushed commit is not on waved: %s",
	    subjects);
	free(subjects);
	free(why);
	free(api);
}

/* A hooksPath an npm install planted: never run by waved's git, and restored. */
Test(e2e_untrusted, a_planted_hooks_path_is_restored_and_never_runs)
{
	issues(1, NULL, "mkdir -p ../../../planted && printf '#!/bin/sh\\ntouch "
	    "../../../../hook-ran\\nexit 1\\n' > ../../../planted/pre-commit && "
	    "chmod +x ../../../planted/pre-commit && "
	    "git config core.hooksPath \"$PWD/../../../planted\" && echo x > f.txt");
	cr_assert_null(first_failure("api#1", 0));
	cJSON *evs = scenario_events(sc);
	int k = ev_find(evs, "agent_config_restored", "api#1", 0);
	cr_assert_geq(k, 0);
	cr_assert(strstr(ev_string(evs, k, "keys"), "core.hookspath"), "%s", ev_string(evs, k, "keys"));
	cJSON_Delete(evs);
	char *hooks = scenario_git(api, (const char *[]){ "config", "--get", "core.hooksPath", NULL });
	cr_assert_str_empty(hooks, "the config is as it was: %s", hooks);
	char *ran = xasprintf("%s/hook-ran", sc->dir);
	cr_assert_neq(access(ran, F_OK), 0, "the planted hook ran inside waved's git");
	free(ran);
	free(hooks);
	free(api);
}

/* One issue, one attempt, whose implement leaves the worktree so: it fails, naming it. */
static void
fails_naming(const char *waved_keys, const char *implement, const char *named)
{
	issues(1, waved_keys, implement);
	char *why = first_failure("api#1", 1);

	cr_assert(why && strstr(why, named), "expected \"%s\" in: %s", named, why);
	free(why);
	free(api);
}

Test(e2e_untrusted, a_rebase_left_stopped_fails_naming_it)
{
	fails_naming("max_attempts = 1", "echo a > f.txt && git add f.txt && " GIT_ID "commit -qm a && "
	    GIT_ID "rebase -q --exec false HEAD~1 2>/dev/null; true", "rebase");
}

Test(e2e_untrusted, a_repository_replaced_by_another_fails_naming_it)
{
	fails_naming("max_attempts = 1", "rm -rf .git && git init -q && echo x > f.txt && "
	    "git add f.txt && " GIT_ID "commit -qm elsewhere", "replaced by a repository of its own");
}

Test(e2e_untrusted, a_left_index_lock_fails_naming_it)
{
	fails_naming("max_attempts = 1", "echo x > f.txt && "
	    "touch \"$(git rev-parse --git-dir)/index.lock\"", "index.lock");
}

Test(e2e_untrusted, a_file_past_max_file_size_fails_naming_it)
{
	fails_naming("max_attempts = 1\nmax_file_size = 1K", "head -c 5000 /dev/zero > big.bin && "
	    "echo x > f.txt", "big.bin is 5000 bytes, over max_file_size");
}

/* Staged by the agent, not committed: waved's commit takes it, and the check sees it. */
Test(e2e_untrusted, a_big_file_the_agent_staged_fails_naming_it)
{
	fails_naming("max_attempts = 1\nmax_file_size = 1K", "head -c 5000 /dev/zero > big.bin && "
	    "git add big.bin && echo x > f.txt", "big.bin is 5000 bytes, over max_file_size");
}

/* Committed by the agent itself (HEAD moved): git is asked. */
Test(e2e_untrusted, a_big_file_the_agent_committed_fails_naming_it)
{
	fails_naming("max_attempts = 1\nmax_file_size = 1K", "head -c 5000 /dev/zero > big.bin && "
	    "git add big.bin && " GIT_ID "commit -qm big", "big.bin is 5000 bytes, over max_file_size");
}

/*
 * Left by a review that asked for changes, after the last commit: the next
 * round's commit takes it, and its check must see it (what changed since the
 * last commit, not since the last phase: the review ends well after it
 * wrote the file, past the slack for file times).
 */
Test(e2e_untrusted, a_big_file_a_review_left_fails_with_the_next_commit)
{
	fails_naming("max_attempts = 1\nmax_file_size = 1K", "echo x >> f.txt\n"
	    "[phase \"review\"]\nrun = test -e ../../../../reviewed || { touch ../../../../reviewed "
	    "&& head -c 5000 /dev/zero > big.bin && sleep 3 && exit 1; }",
	    "big.bin is 5000 bytes, over max_file_size");
}

/* The repo's own pre-commit hook runs on waved's commit of the agent's work. */
Test(e2e_untrusted, the_repos_own_commit_hook_refuses_and_the_attempt_fails)
{
	issues(1, "max_attempts = 1", "echo SECRET=1 > .env");
	char *hook = xasprintf("%s/.git/hooks/pre-commit", api);
	free(write_text(api, ".git/hooks/pre-commit", "#!/bin/sh\n"
	    "if git diff --cached --name-only | grep -q '^.env$'; then\n"
	    "  echo 'pre-commit: .env must not be committed' >&2; exit 1\nfi\n"));
	cr_assert_eq(chmod(hook, 0755), 0);
	char *why = first_failure("api#1", 1);

	cr_assert(why && strstr(why, ".env must not be committed"), "%s", why);
	free(why);
	free(hook);
	free(api);
}

/* A big file committed, then removed by a later commit, would land with the history. */
Test(e2e_untrusted, a_big_file_committed_then_removed_fails_naming_it)
{
	issues(1, "max_attempts = 1\nmax_file_size = 1K",
	    "head -c 4096 /dev/zero > big.bin && " GIT_ID "add big.bin && " GIT_ID "commit -qm big && "
	    GIT_ID "rm -q big.bin && " GIT_ID "commit -qm gone && echo x > f.txt");
	char *why = first_failure("api#1", 1);

	cr_assert(why && strstr(why, "big.bin") && strstr(why, "max_file_size"), "%s", why);
	free(why);
	free(api);
}

/* What a commit hook leaves running (a daemon it started) is the attempt's to end. */
Test(e2e_untrusted, a_daemon_a_commit_hook_starts_does_not_outlive_the_attempt)
{
	issues(1, NULL, "echo x > f.txt");
	char *hook = xasprintf("%s/.git/hooks/pre-commit", api);
	char *body = xasprintf("#!/bin/sh\nsetsid sh -c 'echo $$ > %s/hook.pid; exec sleep 300' "
	    "</dev/null >/dev/null 2>&1 &\nwhile [ ! -s %s/hook.pid ]; do sleep 0.05; done\n",
	    sc->dir, sc->dir);

	free(write_text(api, ".git/hooks/pre-commit", body));
	cr_assert_eq(chmod(hook, 0755), 0);
	cJSON_Delete(scenario_once_ok(sc));
	char *path = xasprintf("%s/hook.pid", sc->dir), *pid = read_file(path, NULL);

	cr_assert(pid, "the hook did not run");
	cr_assert(process_gone((pid_t)atol(pid)), "the hook's daemon outlived its attempt");
	free(pid);
	free(path);
	free(body);
	free(hook);
	free(api);
}

/* On a terminal, a phase that reads /dev/tty fails at once: it has no controlling terminal. */
Test(e2e_untrusted, a_phase_reading_the_terminal_gets_none)
{
	issues(1, "max_attempts = 1", "if read x </dev/tty; then echo read > ../../../../got; fi; "
	    "echo x > f.txt\ntimeout = 20");
	char *cmd = xasprintf("TERM=xterm exec script -qfec '%s --once -c %s' /dev/null",
	    sc->waved, sc->conf);
	struct run_result r = run_argv(sc->dir, (const char *[]){ "sh", "-c", cmd, NULL });
	cJSON *evs = scenario_events(sc);

	/* Stopped by SIGTTIN instead, it would time out, and with one attempt be dead. */
	cr_assert_eq(ev_count(evs, "done", "api#1"), 1, "%s%s", r.out, r.err);
	char *got = xasprintf("%s/got", sc->dir);
	cr_assert_neq(access(got, F_OK), 0, "the phase read the terminal");
	free(got);
	cJSON_Delete(evs);
	run_result_free(&r);
	free(cmd);
	free(api);
}

/* A filter the repo requires (git-lfs's) whose command is missing: the preflight says so. */
Test(e2e_untrusted, a_required_filter_without_its_command_fails_the_preflight)
{
	issues(1, NULL, "echo x > f.txt");
	free(scenario_git(api, (const char *[]){ "config", "filter.lfs.required", "true", NULL }));
	free(scenario_git(api, (const char *[]){ "config", "filter.lfs.process",
	    "git-lfs-not-installed filter-process", NULL }));
	struct run_result r = run_argv(sc->dir, (const char *[]){ sc->waved, "-n", "-c", sc->conf,
	    NULL });

	cr_assert_eq(r.status, 2, "%s", r.out);
	cr_assert(strstr(r.err, "filter lfs is required, but its command is not installed"), "%s",
	    r.err);
	run_result_free(&r);
	free(api);
}

/*
 * sandbox = bwrap: the phase commits in its worktree, and sees nothing of the
 * machine it was not given: not the scenario's other files, not the state
 * dir, not another repo; the shared config is read-only to it.
 */
Test(e2e_untrusted, a_sandboxed_phase_sees_its_worktree_and_little_else)
{
	char *secret = write_text(sc->dir, "secret", "not for agents\n");

	free(scenario_repo(sc, "other"));
	issues(1, "sandbox = bwrap", "leak=$(dirname \"$WAVED_ISSUE_FILE\")/leaks; "
	    "test -e ../../../../secret && echo secret >> $leak; "
	    "test -e ../../../waved.db && echo state >> $leak; "
	    "test -d ../../../../repos/other && echo other >> $leak; "
	    "git config core.hooksPath /tmp/x 2>/dev/null && echo config >> $leak; "
	    "echo x > f.txt && git add f.txt && " GIT_ID "commit -qm sandboxed");
	cr_assert_null(first_failure("api#1", 0));
	char *leaks = xasprintf("%s/issues/api/1/leaks", sc->state), *seen = read_file(leaks, NULL);
	cr_assert_null(seen, "the sandbox let the phase see: %s", seen);
	char *f = show("waved:f.txt");
	cr_assert_str_eq(f, "x", "its commit landed");
	free(f);
	free(leaks);
	free(secret);
	free(api);
}
