/*
 * The cluster runner's srun command line (common/slurm.c): the job name,
 * the options in their order, the words of args and runner_args (split at
 * blanks, never by a shell), and the command as its own arguments.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/slurm.h"

static size_t
count(char **argv)
{
	size_t n = 0;

	while (argv[n])
		n++;
	return n;
}

Test(slurm, the_srun_argv_names_the_job_and_keeps_the_command_whole)
{
	struct runner_conf runner = { .type = RUNNER_SLURM, .srun = "/opt/slurm/bin/srun",
	    .args = "  --partition=agents\t--mem=2G " };
	struct slurm_job_spec spec = { .runner = &runner, .pool_args = "--gres=gpu:1",
	    .cwd = "/srv/state/worktrees/api/12", .timeout_s = 61 };
	const char *command[] = { "/bin/sh", "-c", "agent run; echo \"$WAVED_TITLE\" > x", NULL };
	const char *want[] = { "/opt/slurm/bin/srun", "--job-name=waved:api#12:implement:0011aabb",
	    "--chdir=/srv/state/worktrees/api/12", "--time=3", "--export=ALL",
	    "--partition=agents", "--mem=2G", "--gres=gpu:1", "/bin/sh", "-c",
	    "agent run; echo \"$WAVED_TITLE\" > x", NULL };
	char **argv;

	slurm_job_name(&spec, "api#12", "implement", "0011aabb");
	argv = slurm_srun_argv(&spec, command);
	cr_assert_eq(count(argv), count((char **)want));
	for (size_t k = 0; want[k]; k++)
		cr_assert_str_eq(argv[k], want[k], "argument %zu", k);
	slurm_argv_free(argv);
}

Test(slurm, the_cluster_limit_is_a_minute_past_waveds_own)
{
	struct runner_conf runner = { .type = RUNNER_SLURM, .srun = "srun" };
	struct slurm_job_spec spec = { .runner = &runner, .cwd = "/", .timeout_s = 3600 };
	const char *command[] = { "true", NULL };
	char **argv;

	slurm_job_name(&spec, "web#1", "verify", "t");
	argv = slurm_srun_argv(&spec, command);
	cr_assert_str_eq(argv[3], "--time=61");
	cr_assert_str_eq(argv[5], "true");	/* no args: the command follows --export */
	slurm_argv_free(argv);
}

Test(slurm, tools_are_taken_beside_srun)
{
	struct runner_conf here = { .srun = "/opt/slurm/bin/srun" }, path = { .srun = "srun" };
	char *a = slurm_tool(&here, "scancel"), *b = slurm_tool(&path, "squeue");

	cr_assert_str_eq(a, "/opt/slurm/bin/scancel");
	cr_assert_str_eq(b, "squeue");
	free(a);
	free(b);
}
