/*
 * The job of an exec'd worker (worker/job.c): what the supervisor knew
 * comes back whole on the worker's side, the configuration as it was when
 * the attempt began, and no token rides along.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/config.h"
#include "common/util.h"
#include "tests/lib/testlib.h"
#include "common/job.h"

TMPDIR_SUITE(job);

static const char conf_text[] =
    "[waved]\nstate_dir = state\n"
    "[source]\ntype = github\ntoken_file = token\n"
    "[phase \"implement\"]\nrun = echo first\n"
    "[pool \"big\"]\ncap = 1\n"
    "[repo \"api\"]\npath = api\ngithub = acme/api\npool = big\n";

static struct config *
load(void)
{
	char *path, *errors = NULL, *repo = xasprintf("%s/api", dir);
	struct config *cfg;

	git_repo_new(repo);
	free(repo);
	path = write_text(dir, "waved.conf", conf_text);
	cfg = config_load(path, &errors);
	cr_assert_not_null(cfg, "%s", errors);
	free(path);
	return cfg;
}

static char *
job_text(int fd)
{
	char buf[65536];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	cr_assert_gt(n, 0);
	buf[n] = '\0';
	return xstrdup(buf);
}

Test(job, the_worker_reads_what_the_supervisor_wrote_and_no_token)
{
	struct config *cfg = load();
	struct worker_job in = {
		.cfg = cfg, .repo = &cfg->repos[0], .number = 12, .title = "a \"title\"\n",
		.body = "body; $(rm -rf /)", .attempt = 2, .supervisor = 4242,
		.resume = RESUME_REVIEW, .pool = &cfg->pools[0], .pr_conflict = true,
	}, out;
	char err[256], *text, *path;
	int fd;

	setenv("GITHUB_TOKEN", "test-token-not-secret", 1);
	snprintf(in.issue, sizeof(in.issue), "api#12");
	snprintf(in.trace, sizeof(in.trace), "0123456789abcdef");
	snprintf(in.base, sizeof(in.base), "%040d", 7);
	/* The file changes after the start: the worker runs with what was read. */
	path = write_text(dir, "waved.conf", "[waved]\nnot a config\n");
	free(path);
	cr_assert_neq(fd = job_write(&in), -1);
	text = job_text(fd);
	cr_assert_null(strstr(text, "test-token-not-secret"), "the job carries the token: %s", text);
	cr_assert_eq(job_read(fd, JOB_WORKER, &out, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(out.issue, "api#12");
	cr_assert_eq(out.number, 12);
	cr_assert_str_eq(out.title, "a \"title\"\n");
	cr_assert_str_eq(out.body, "body; $(rm -rf /)");
	cr_assert_eq(out.attempt, 2);
	cr_assert_eq(out.supervisor, 4242);
	cr_assert_eq(out.resume, RESUME_REVIEW);
	cr_assert_str_eq(out.trace, in.trace);
	cr_assert_str_eq(out.base, in.base);
	cr_assert(out.pr_conflict);
	cr_assert_str_eq(out.pool->name, "big");
	cr_assert_str_eq(out.repo->name, "api");
	cr_assert_str_eq(out.repo->path, cfg->repos[0].path);
	cr_assert_str_eq(out.cfg->phases[PHASE_IMPLEMENT].run, "echo first");
	cr_assert_str_eq(out.cfg->state_dir, cfg->state_dir);
	cr_assert_eq(out.pipe_fd, JOB_PIPE_FD);
	cr_assert_eq(out.gate_fd, JOB_GATE_FD);
	cr_assert_not(out.has_marker);
	cr_assert_eq(out.log_fd, JOB_LOG_FD);
	config_free((struct config *)out.cfg);
	free((char *)out.title);
	free((char *)out.body);
	free(text);
	close(fd);
	config_free(cfg);
	unsetenv("GITHUB_TOKEN");
}

Test(job, a_job_that_is_not_one_is_refused)
{
	struct worker_job out;
	char err[256];
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "{\"v\":99}", 8), 8);
	close(p[1]);
	cr_assert_eq(job_read(p[0], JOB_WORKER, &out, err, sizeof(err)), -1);
	cr_assert(strstr(err, "version"), "%s", err);
	close(p[0]);
}

Test(job, a_recovery_carries_its_evidence_and_is_no_worker)
{
	struct config *cfg = load();
	struct worker_job in = {
		.role = JOB_RECOVER, .cfg = cfg, .repo = &cfg->repos[0], .number = 7,
		.supervisor = 4242, .has_marker = true,
		.marker = { .phase = "verify", .result = 1 },
	}, out;
	char err[256];
	int fd;

	snprintf(in.issue, sizeof(in.issue), "api#7");
	snprintf(in.base, sizeof(in.base), "%040d", 1);
	snprintf(in.final, sizeof(in.final), "%040d", 2);
	snprintf(in.marker.head, sizeof(in.marker.head), "%040d", 3);
	cr_assert_neq(fd = job_write(&in), -1);
	cr_assert_eq(job_read(fd, JOB_WORKER, &out, err, sizeof(err)), -1);
	cr_assert(strstr(err, JOB_WORKER_FLAG), "%s", err);
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	cr_assert_eq(job_read(fd, JOB_RECOVER, &out, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(out.role, JOB_RECOVER);
	cr_assert_str_eq(out.repo->name, "api");
	cr_assert_eq(out.number, 7);
	cr_assert_str_eq(out.base, in.base);
	cr_assert_str_eq(out.final, in.final);
	cr_assert(out.has_marker);
	cr_assert_str_eq(out.marker.phase, "verify");
	cr_assert_eq(out.marker.result, 1);
	cr_assert_str_eq(out.marker.head, in.marker.head);
	config_free((struct config *)out.cfg);
	free((char *)out.title);
	free((char *)out.body);
	close(fd);
	config_free(cfg);
}

Test(job, a_preflight_needs_no_repo)
{
	struct config *cfg = load();
	struct worker_job in = { .role = JOB_PREFLIGHT, .cfg = cfg, .supervisor = 4242 }, out;
	char err[256];
	int fd;

	cr_assert_neq(fd = job_write(&in), -1);
	cr_assert_eq(job_read(fd, JOB_PREFLIGHT, &out, err, sizeof(err)), 0, "%s", err);
	cr_assert_null(out.repo);
	cr_assert_str_eq(out.cfg->state_dir, cfg->state_dir);
	config_free((struct config *)out.cfg);
	free((char *)out.title);
	free((char *)out.body);
	close(fd);
	config_free(cfg);
}
