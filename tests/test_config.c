#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/config.h"
#include "supervisor/preflight.h"
#include "common/util.h"
#include "tests/lib/testlib.h"

TMPDIR_SUITE(config);

/* Load text as waved.conf; returns the errors (NULL when it loaded). */
static char *
load_errors(const char *text)
{
	char *path = write_text(dir, "waved.conf", text);
	char *errors = NULL;
	struct config *cfg = config_load(path, &errors);

	if (cfg)
		cr_assert_null(errors);
	config_free(cfg);
	free(path);
	return errors;
}

/* Assert that loading text fails with a message containing "waved.conf:LINE: expect". */
static void
assert_error(const char *text, int line, const char *expect)
{
	char *errors = load_errors(text);
	char *want = NULL;

	cr_assert_not_null(errors, "config should have been rejected:\n%s", text);
	if (asprintf(&want, "waved.conf:%d: %s", line, expect) < 0)
		cr_assert_fail("asprintf");
	cr_assert(strstr(errors, want) != NULL, "expected \"%s\" in:\n%s", want, errors);
	free(want);
	free(errors);
}

Test(config, good_config_with_defaults)
{
	char *path = write_text(dir, "waved.conf",
	    "; a comment\n"
	    "[waved]\n"
	    "state_dir = state ; relative to this file\n"
	    "cap = 2\n"
	    "hold_repo_during_review = yes\n"
	    "[source]\n"
	    "type = file\n"
	    "path = /etc/issues.json\n"
	    "[phase \"implement\"]\n"
	    "run = make build; make test\n"
	    "timeout = 60\n"
	    "[phase \"verify\"]\n"
	    "run = make check\n"
	    "[merge]\n"
	    "check = make test\n"
	    "[repo \"api\"]\n"
	    "path = /srv/git/api\n"
	    "push = origin\n"
	    "[repo \"web.site-2\"]\n"
	    "path = repos/web\n"
	    "setup = npm ci\n");
	char *errors = NULL, *state = NULL, *web = NULL;
	struct config *cfg = config_load(path, &errors);

	cr_assert_not_null(cfg, "%s", errors);
	cr_assert(asprintf(&state, "%s/state", dir) > 0);
	cr_assert(asprintf(&web, "%s/repos/web", dir) > 0);
	cr_assert_str_eq(cfg->state_dir, state);
	cr_assert_eq(cfg->cap, 2);
	cr_assert_eq(config_effective_cap(cfg), 2);
	cr_assert_str_eq(cfg->agent_branch, "waved");
	cr_assert_str_eq(cfg->base_branch, "main");
	cr_assert_eq(cfg->max_attempts, 3);
	cr_assert_eq(cfg->retry_backoff, 30);
	cr_assert_eq(cfg->poll_interval, 60);
	cr_assert(cfg->keep_failed_worktrees);
	cr_assert(cfg->hold_repo_during_review);
	cr_assert_eq(cfg->fix_rounds, 2);
	cr_assert_eq(cfg->review_rounds, 2);
	cr_assert_eq(cfg->stop_timeout, 30);
	cr_assert_eq(cfg->git_timeout, 300);
	cr_assert_eq(cfg->source.type, SOURCE_FILE);
	cr_assert_str_eq(cfg->source.path, "/etc/issues.json");
	cr_assert_str_eq(cfg->phases[PHASE_IMPLEMENT].run, "make build; make test");
	cr_assert_eq(cfg->phases[PHASE_IMPLEMENT].timeout, 60);
	cr_assert_eq(cfg->phases[PHASE_VERIFY].timeout, 3600);
	cr_assert_null(cfg->phases[PHASE_REVIEW].run);
	cr_assert_str_eq(cfg->merge_check, "make test");
	cr_assert_eq(cfg->nrepos, 2);
	cr_assert_str_eq(cfg->repos[0].push, "origin");
	cr_assert_str_eq(cfg->repos[1].name, "web.site-2");
	cr_assert_str_eq(cfg->repos[1].path, web);
	cr_assert_str_eq(cfg->repos[1].setup, "npm ci");
	cr_assert_not_null(config_repo(cfg, "api"));
	cr_assert_null(config_repo(cfg, "nope"));
	free(state);
	free(web);
	free(path);
	config_free(cfg);
}

Test(config, default_cap_is_number_of_repos)
{
	char *path = write_text(dir, "waved.conf",
	    "[phase \"implement\"]\nrun = true\n"
	    "[repo \"a\"]\npath = /a\n[repo \"b\"]\npath = /b\n[repo \"c\"]\npath = /c\n");
	char *errors = NULL;
	struct config *cfg = config_load(path, &errors);

	cr_assert_not_null(cfg, "%s", errors);
	cr_assert_eq(cfg->cap, 0);
	cr_assert_eq(config_effective_cap(cfg), 3);
	config_free(cfg);
	free(path);
}

Test(config, unknown_key_names_line)
{
	assert_error("[waved]\ncap = 1\ncolour = blue\n[phase \"implement\"]\nrun = x\n"
	    "[repo \"a\"]\npath = /a\n", 3, "colour: unknown key");
}

Test(config, bad_number_names_line_and_value)
{
	assert_error("[waved]\n\ncap = three\n[phase \"implement\"]\nrun = x\n"
	    "[repo \"a\"]\npath = /a\n", 3,
	    "cap: expected a whole number from 0 to 10000, got \"three\"");
}

Test(config, number_out_of_range)
{
	assert_error("[waved]\nmax_attempts = 0\n[phase \"implement\"]\nrun = x\n"
	    "[repo \"a\"]\npath = /a\n", 2, "max_attempts: expected a whole number from 1");
}

Test(config, bad_boolean)
{
	assert_error("[waved]\nkeep_failed_worktrees = maybe\n[phase \"implement\"]\nrun = x\n"
	    "[repo \"a\"]\npath = /a\n", 2,
	    "keep_failed_worktrees: expected yes or no, got \"maybe\"");
}

Test(config, bad_source_type)
{
	assert_error("[source]\ntype = ftp\n[phase \"implement\"]\nrun = x\n"
	    "[repo \"a\"]\npath = /a\n", 2, "type: expected file, github or command, got \"ftp\"");
}

Test(config, unknown_section)
{
	assert_error("[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\n[wave]\nx = 1\n",
	    5, "unknown section [wave]");
}

Test(config, unknown_phase)
{
	assert_error("[phase \"implement\"]\nrun = x\n[phase \"deploy\"]\nrun = y\n"
	    "[repo \"a\"]\npath = /a\n", 3, "phase: unknown phase \"deploy\"");
}

Test(config, bad_repo_name)
{
	assert_error("[phase \"implement\"]\nrun = x\n[repo \"a/../b\"]\npath = /a\n",
	    3, "repo: name \"a/../b\" must be");
}

Test(config, duplicate_repo)
{
	assert_error("[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\n"
	    "[repo \"b\"]\npath = /b\n[repo \"a\"]\npath = /c\n",
	    7, "repo: duplicate repo \"a\" (first defined at line 3)");
}

Test(config, key_set_twice)
{
	assert_error("[waved]\ncap = 1\ncap = 2\n[phase \"implement\"]\nrun = x\n"
	    "[repo \"a\"]\npath = /a\n", 3, "cap: set twice");
}

Test(config, key_outside_section)
{
	assert_error("cap = 1\n[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\n",
	    1, "cap: key outside any section");
}

Test(config, syntax_error)
{
	assert_error("[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\nthis is not ini\n",
	    5, "syntax error");
}

Test(config, empty_value)
{
	assert_error("[waved]\nagent_branch =\n[phase \"implement\"]\nrun = x\n"
	    "[repo \"a\"]\npath = /a\n", 2, "agent_branch: expected a value");
}

Test(config, implement_is_required)
{
	char *errors = load_errors("[repo \"a\"]\npath = /a\n");

	cr_assert_not_null(errors);
	cr_assert(strstr(errors, "[phase \"implement\"] run: required") != NULL, "%s", errors);
	free(errors);
}

Test(config, a_repo_is_required)
{
	char *errors = load_errors("[phase \"implement\"]\nrun = x\n");

	cr_assert_not_null(errors);
	cr_assert(strstr(errors, "at least one repo is required") != NULL, "%s", errors);
	free(errors);
}

Test(config, repo_needs_path)
{
	assert_error("[phase \"implement\"]\nrun = x\n[repo \"a\"]\npush = origin\n",
	    3, "path: required in [repo \"a\"]");
}

Test(config, github_source_needs_github_key)
{
	assert_error("[source]\ntype = github\n[phase \"implement\"]\nrun = x\n"
	    "[repo \"a\"]\npath = /a\n", 5, "github: required in [repo \"a\"]");
}

Test(config, github_key_must_be_owner_slash_name)
{
	assert_error("[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\ngithub = acme\n",
	    3, "github: expected owner/name as GitHub allows them, got \"acme\"");
	assert_error("[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\ngithub = ../keys\n",
	    3, "github: expected owner/name as GitHub allows them, got \"../keys\"");
}

/* [source] token_command, token_ttl and requests_per_minute: defaults, forms, errors by line. */
Test(config, github_token_command_ttl_and_requests_per_minute)
{
	const char *tail = "[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\ngithub = acme/a\n";
	char *text = xasprintf("[source]\ntype = github\n%s", tail), *path, *errors = NULL;
	struct config *cfg;

	path = write_text(dir, "waved.conf", text);
	cfg = config_load(path, &errors);
	cr_assert_not_null(cfg, "%s", errors);
	cr_assert_eq(cfg->source.token_ttl, 3000, "50 minutes by default");
	cr_assert_eq(cfg->source.requests_per_minute, 800);
	cr_assert_null(cfg->source.token_command);
	config_free(cfg);
	free(path);
	free(text);
	text = xasprintf("[source]\ntype = github\ntoken_command = gh auth token\ntoken_ttl = 1h\n"
	    "requests_per_minute = 30\n%s", tail);
	path = write_text(dir, "waved.conf", text);
	cfg = config_load(path, &errors);
	cr_assert_not_null(cfg, "%s", errors);
	cr_assert_str_eq(cfg->source.token_command, "gh auth token");
	cr_assert_eq(cfg->source.token_ttl, 3600);
	cr_assert_eq(cfg->source.requests_per_minute, 30);
	config_free(cfg);
	free(path);
	free(text);
	assert_error("[source]\ntype = github\ntoken_ttl = 90\ntoken_ttl = 5m\n[phase \"implement\"]\n"
	    "run = x\n[repo \"a\"]\npath = /a\ngithub = acme/a\n", 4, "token_ttl: set twice");
	assert_error("[source]\ntype = github\n\ntoken_ttl = soon\n[phase \"implement\"]\nrun = x\n"
	    "[repo \"a\"]\npath = /a\ngithub = acme/a\n", 4,
	    "token_ttl: expected a duration from 60s to 168h such as 50m, 3600 or 1h, got \"soon\"");
	assert_error("[source]\ntype = github\ntoken_ttl = 30s\n[phase \"implement\"]\nrun = x\n"
	    "[repo \"a\"]\npath = /a\ngithub = acme/a\n", 3, "token_ttl: expected a duration");
	assert_error("[source]\ntype = github\nrequests_per_minute = 0\n[phase \"implement\"]\n"
	    "run = x\n[repo \"a\"]\npath = /a\ngithub = acme/a\n", 3,
	    "requests_per_minute: expected a whole number from 1 to 100000, got \"0\"");
	assert_error("[source]\ntype = github\ntoken_command = 'gh auth\n[phase \"implement\"]\n"
	    "run = x\n[repo \"a\"]\npath = /a\ngithub = acme/a\n", 3, "token_command: ");
	assert_error("[source]\ntype = github\ntoken_file = /t\ntoken_command = gh auth token\n"
	    "[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\ngithub = acme/a\n", 4,
	    "token_command: either token_command or token_file, not both");
}

Test(config, land_pr_needs_github_and_push)
{
	assert_error("[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\nland = merge\n",
	    5, "land: expected branch or pr, got \"merge\"");
	assert_error("[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\npush = origin\n"
	    "land = pr\n", 3, "land: pr in [repo \"a\"] needs a github key");
	assert_error("[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\ngithub = acme/a\n"
	    "land = pr\n", 3, "land: pr in [repo \"a\"] needs a push key");
	assert_error("[waved]\npr_rounds = -1\n[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\n",
	    2, "pr_rounds: expected a whole number from 0 to 100");
}

Test(config, land_pr_with_a_file_source_wants_github)
{
	char *path = write_text(dir, "waved.conf", "[waved]\npr_rounds = 3\n[phase \"implement\"]\n"
	    "run = x\n[repo \"a\"]\npath = /a\ngithub = acme/a\npush = origin\nland = pr\n"
	    "[repo \"b\"]\npath = /b\n");
	char *errors = NULL;
	struct config *cfg = config_load(path, &errors);

	cr_assert_not_null(cfg, "%s", errors);
	cr_assert_eq(cfg->pr_rounds, 3);
	cr_assert_eq(cfg->repos[0].land, LAND_PR);
	cr_assert_eq(cfg->repos[1].land, LAND_BRANCH);
	cr_assert(config_wants_github(cfg), "the pull requests need the client");
	config_free(cfg);
	free(path);
}

Test(config, agent_branch_must_differ_from_base)
{
	char *errors = load_errors("[waved]\nagent_branch = main\n[phase \"implement\"]\n"
	    "run = x\n[repo \"a\"]\npath = /a\n");

	cr_assert_not_null(errors);
	cr_assert(strstr(errors, "agent_branch: must differ from base_branch") != NULL, "%s", errors);
	free(errors);
}

Test(config, every_error_is_reported)
{
	char *errors = load_errors("[waved]\ncap = x\nretry_backoff = -1\n"
	    "[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\n");

	cr_assert_not_null(errors);
	cr_assert(strstr(errors, "waved.conf:2: cap") != NULL, "%s", errors);
	cr_assert(strstr(errors, "waved.conf:3: retry_backoff") != NULL, "%s", errors);
	free(errors);
}

Test(config, long_lines_are_read_whole)
{
	char text[8192];
	char *path, *errors = NULL;
	struct config *cfg;
	int n = snprintf(text, sizeof(text), "[phase \"implement\"]\nrun = echo ");

	memset(text + n, 'x', 3000);
	strcpy(text + n + 3000, "\n[repo \"a\"]\npath = /a\n[waved]\ncap = 7\n");
	path = write_text(dir, "waved.conf", text);
	cfg = config_load(path, &errors);
	cr_assert_not_null(cfg, "%s", errors);
	cr_assert_eq(strlen(cfg->phases[PHASE_IMPLEMENT].run), 5 + 3000);
	cr_assert_eq(cfg->cap, 7);
	config_free(cfg);
	free(path);
}

Test(config, missing_file_is_named)
{
	char *errors = NULL;
	struct config *cfg = config_load("/nonexistent/waved.conf", &errors);

	cr_assert_null(cfg);
	cr_assert(strstr(errors, "/nonexistent/waved.conf: cannot read") != NULL, "%s", errors);
	free(errors);
}

Test(config, check_repos_rejects_a_folder_that_is_not_git)
{
	char *repo = NULL, *text = NULL, *path, *errors = NULL;
	struct config *cfg;

	cr_assert(asprintf(&repo, "%s/api", dir) > 0);
	git_repo_new(repo);
	cr_assert(asprintf(&text, "[phase \"implement\"]\nrun = x\n[repo \"api\"]\npath = %s\n"
	    "[repo \"plain\"]\n\npath = %s\n", repo, dir) > 0);
	path = write_text(dir, "waved.conf", text);
	cfg = config_load(path, &errors);
	cr_assert_not_null(cfg, "%s", errors);
	struct strbuf problems = { 0 };

	cr_assert_eq(preflight_repos(cfg, false, &problems), -1);
	cr_assert(strstr(problems.s, "waved.conf:7: path: [repo \"plain\"]") != NULL, "%s", problems.s);
	cr_assert(strstr(problems.s, "is not a git repository") != NULL, "%s", problems.s);
	cr_assert(strstr(problems.s, "[repo \"api\"]") == NULL, "%s", problems.s);
	strbuf_free(&problems);
	config_free(cfg);
	free(path);
	free(text);
	free(repo);
}

Test(config, the_shipped_example_is_valid)
{
	char *errors = NULL;
	struct config *cfg = config_load("etc/waved.conf.example", &errors);

	cr_assert_not_null(cfg, "etc/waved.conf.example (run from the source tree): %s", errors);
	cr_assert_str_eq(cfg->state_dir, "/var/lib/waved");
	cr_assert_eq(cfg->nrepos, 1);
	config_free(cfg);
}

Test(config, usage_steps_parse_and_check)
{
	struct usage_step steps[USAGE_STEPS_MAX];
	char why[256];
	size_t n;

	cr_assert(config_parse_steps("50:3 65:2  75:1 80:0", steps, &n, why, sizeof(why)));
	cr_assert_eq(n, 4);
	cr_assert_eq(steps[1].percent, 65);
	cr_assert_eq(steps[1].limit, 2);
	cr_assert_eq(steps[3].limit, 0);
	cr_assert_not(config_parse_steps("50:3 40:2", steps, &n, why, sizeof(why)), "falling");
	cr_assert(strstr(why, "must rise"), "%s", why);
	cr_assert_not(config_parse_steps("50-3", steps, &n, why, sizeof(why)));
	cr_assert(strstr(why, "PERCENT:LIMIT"), "%s", why);
	cr_assert_not(config_parse_steps("101:1", steps, &n, why, sizeof(why)));
	cr_assert_not(config_parse_steps("", steps, &n, why, sizeof(why)));
	cr_assert_not(config_parse_steps("50:3x", steps, &n, why, sizeof(why)));
}

Test(config, sizes_parse_with_binary_units)
{
	long long b;

	cr_assert(config_parse_size("512M", &b));
	cr_assert_eq(b, 512LL << 20);
	cr_assert(config_parse_size("2G", &b));
	cr_assert_eq(b, 2LL << 30);
	cr_assert(config_parse_size("2gb", &b));
	cr_assert_eq(b, 2LL << 30);
	cr_assert(config_parse_size("1048576", &b));
	cr_assert_eq(b, 1048576);
	cr_assert(config_parse_size("1T", &b));
	cr_assert_eq(b, 1LL << 40);
	cr_assert_not(config_parse_size("2X", &b));
	cr_assert_not(config_parse_size("-1G", &b));
	cr_assert_not(config_parse_size("G", &b));
	cr_assert_not(config_parse_size("9999999999999T", &b));
}

Test(config, usage_and_pools_are_checked_with_their_place)
{
	assert_error("[phase \"implement\"]\nrun = x\n[usage]\nsteps = 80:0 50:3\n"
	    "[repo \"a\"]\npath = /a\n", 4, "steps: percents must rise");
	assert_error("[phase \"implement\"]\nrun = x\n[usage]\nmin_free_mem = lots\n"
	    "[repo \"a\"]\npath = /a\n", 4, "min_free_mem: expected a size");
	assert_error("[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\npool = heavy\n",
	    3, "pool: [repo \"a\"] names pool \"heavy\", which no [pool \"NAME\"] defines");
	assert_error("[phase \"implement\"]\nrun = x\n[pool \"gpu\"]\ncap = 1\n[pool \"gpu\"]\n"
	    "[repo \"a\"]\npath = /a\n", 5, "pool: duplicate pool \"gpu\"");
}

Test(config, runner_section)
{
	char *path = write_text(dir, "waved.conf", "[runner]\ntype = slurm\nsrun = /opt/slurm/bin/srun\n"
	    "args = --partition=agents  --mem=2G\n[pool \"gpu\"]\nrunner_args = --gres=gpu:1\n"
	    "[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\npool = gpu\n");
	char *errors = NULL;
	struct config *cfg = config_load(path, &errors);

	cr_assert_not_null(cfg, "%s", errors);
	cr_assert_eq(cfg->runner.type, RUNNER_SLURM);
	cr_assert_str_eq(cfg->runner.srun, "/opt/slurm/bin/srun");
	cr_assert_str_eq(cfg->runner.args, "--partition=agents  --mem=2G");
	cr_assert_str_eq(cfg->pools[0].runner_args, "--gres=gpu:1");
	config_free(cfg);
	free(path);
	/* Unset, phases run here; srun is looked up in PATH. */
	path = write_text(dir, "waved.conf", "[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\n");
	cfg = config_load(path, &errors);
	cr_assert_eq(cfg->runner.type, RUNNER_LOCAL);
	cr_assert_str_eq(cfg->runner.srun, "srun");
	config_free(cfg);
	free(path);
}

Test(config, bad_runner_type)
{
	assert_error("[runner]\ntype = kubernetes\n[phase \"implement\"]\nrun = x\n"
	    "[repo \"a\"]\npath = /a\n", 2, "type: expected local or slurm, got \"kubernetes\"");
}

Test(config, command_source_with_its_keys)
{
	char *path = write_text(dir, "waved.conf", "[source]\ntype = command\n"
	    "command = bin/issues --jql \"labels = waved\"\ncommand_timeout = 5\n"
	    "report = bin/report\n[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\n");
	char *errors = NULL, *folder = xasprintf("%s", dir);
	struct config *cfg = config_load(path, &errors);

	cr_assert_not_null(cfg, "%s", errors);
	cr_assert_eq(cfg->source.type, SOURCE_COMMAND);
	cr_assert_str_eq(cfg->source.command, "bin/issues --jql \"labels = waved\"");
	cr_assert_eq(cfg->source.command_timeout, 5);
	cr_assert_str_eq(cfg->source.report, "bin/report");
	cr_assert_str_eq(cfg->dir, folder, "commands start in the configuration's folder");
	config_free(cfg);
	free(path);
	/* Unset: a minute, and no report. */
	path = write_text(dir, "waved.conf", "[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\n");
	cfg = config_load(path, &errors);
	cr_assert_eq(cfg->source.command_timeout, 60);
	cr_assert_null(cfg->source.report);
	config_free(cfg);
	free(path);
	free(folder);
}

Test(config, command_source_needs_a_command)
{
	assert_error("[source]\ntype = command\n[phase \"implement\"]\nrun = x\n"
	    "[repo \"a\"]\npath = /a\n", 6, "[source] command: required with type = command");
}

Test(config, a_command_is_only_for_the_command_source)
{
	assert_error("[source]\ncommand = x\n[phase \"implement\"]\nrun = x\n"
	    "[repo \"a\"]\npath = /a\n", 2, "command: only with [source] type = command");
}

Test(config, a_command_that_does_not_split_names_its_line)
{
	assert_error("[source]\ntype = command\ncommand = issues --jql \"labels = waved\n"
	    "[phase \"implement\"]\nrun = x\n[repo \"a\"]\npath = /a\n", 3,
	    "command: a \" that is never closed");
	assert_error("[source]\nreport = say 'done\n[phase \"implement\"]\nrun = x\n"
	    "[repo \"a\"]\npath = /a\n", 2, "report: a ' that is never closed");
	assert_error("[source]\ncommand_timeout = 0\n[phase \"implement\"]\nrun = x\n"
	    "[repo \"a\"]\npath = /a\n", 2, "command_timeout: expected a whole number from 1");
}

Test(config, bad_sandbox)
{
	assert_error("[waved]\nsandbox = docker\n[phase \"implement\"]\nrun = x\n"
	    "[repo \"a\"]\npath = /a\n", 2, "sandbox: expected none or bwrap, got \"docker\"");
}
