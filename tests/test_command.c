/*
 * Configured commands run as children (common/command.h) and the command
 * source read from one (common/source_command.h): argv without a shell, the
 * configuration's folder, stdin, stderr kept apart and bounded, and a
 * timeout that ends the whole process group.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/command.h"
#include "common/config.h"
#include "common/source_command.h"
#include "tests/lib/testlib.h"

TMPDIR_SUITE(command);

/* Run argv to its end in dir; the finished command (command_free it). */
static struct command *
run(const char *const argv[], int in_fd, int timeout_s, size_t out_max)
{
	char *why = NULL;
	struct command *c = command_start(&(struct command_spec){ .argv = (char *const *)argv,
	    .cwd = dir, .in_fd = in_fd, .timeout_s = timeout_s, .out_max = out_max }, &why);

	cr_assert_not_null(c, "%s", why);
	command_wait(c);
	cr_assert(command_done(c));
	return c;
}

Test(command, stdout_is_kept_and_stderr_goes_apart)
{
	struct command *c = run((const char *[]){ "sh", "-c", "pwd; echo oops >&2", NULL }, -1, 10,
	    1024);
	struct strbuf err = { 0 };
	size_t len;
	char *want = xasprintf("%s\n", dir);

	cr_assert(command_ok(c));
	cr_assert_str_eq(command_out(c, &len), want, "it runs in the folder it was given");
	command_stderr_lines(c, "t", &err);
	cr_assert_str_eq(err.s, "t: stderr: oops\n");
	strbuf_free(&err);
	free(want);
	command_free(c);
}

Test(command, stdin_comes_from_the_descriptor_given)
{
	int fd = memfd_create("t", MFD_CLOEXEC);
	struct command *c;
	size_t len;

	cr_assert_eq(write(fd, "{\"seq\":7}\n", 10), 10);
	lseek(fd, 0, SEEK_SET);
	c = run((const char *[]){ "cat", NULL }, fd, 10, 1024);
	close(fd);
	cr_assert_str_eq(command_out(c, &len), "{\"seq\":7}\n");
	command_free(c);
}

Test(command, an_exit_other_than_0_says_which)
{
	struct command *c = run((const char *[]){ "sh", "-c", "exit 3", NULL }, -1, 10, 1024);
	char why[128];

	cr_assert_not(command_ok(c));
	command_failure(c, why, sizeof(why));
	cr_assert_str_eq(why, "exited with 3");
	command_free(c);
}

/* The child of the command holds its pipes too: the whole group goes. */
Test(command, a_hang_past_its_timeout_ends_its_process_group)
{
	struct command *c = run((const char *[]){ "sh", "-c",
	    "sleep 60 & echo $! > grandchild; wait", NULL }, -1, 1, 1024);
	char why[128], *path = xasprintf("%s/grandchild", dir), *text = read_file(path, NULL);
	pid_t grandchild;

	cr_assert_not(command_ok(c));
	command_failure(c, why, sizeof(why));
	cr_assert(strstr(why, "gave no answer within 1 s"), "%s", why);
	cr_assert_not_null(text);
	grandchild = (pid_t)atol(text);
	for (int k = 0; k < 100 && kill(grandchild, 0) == 0; k++)
		usleep(20000);	/* reparented to init, which reaps it */
	cr_assert_neq(kill(grandchild, 0), 0, "the sleep of the command's group is gone");
	free(path);
	free(text);
	command_free(c);
}

Test(command, stdout_past_its_bound_fails_the_run)
{
	struct command *c = run((const char *[]){ "sh", "-c", "yes issue | head -c 100000", NULL },
	    -1, 10, 1000);
	char why[128];

	cr_assert_not(command_ok(c));
	command_failure(c, why, sizeof(why));
	cr_assert_str_eq(why, "printed more than 1000 bytes");
	command_free(c);
}

Test(command, stderr_is_bounded)
{
	struct command *c = run((const char *[]){ "sh", "-c", "yes noise | head -c 100000 >&2",
	    NULL }, -1, 10, 1000);
	struct strbuf err = { 0 };
	size_t lines = 0;

	cr_assert(command_ok(c));
	command_stderr_lines(c, "t", &err);
	for (const char *p = err.s; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	cr_assert_leq(lines, COMMAND_ERR_MAX / 6 + 2, "the first 4 KiB: %zu lines", lines);
	cr_assert(strstr(err.s, "t: stderr: (cut after 4096 bytes)"), "%s", err.s);
	strbuf_free(&err);
	command_free(c);
}

Test(command, a_program_that_is_not_there_cannot_start)
{
	char *why = NULL;
	struct command *c = command_start(&(struct command_spec){
	    .argv = (char *const[]){ "./no-such-tracker", NULL }, .cwd = dir, .in_fd = -1,
	    .timeout_s = 1, .out_max = 10 }, &why);

	cr_assert_null(c);
	cr_assert(strstr(why, "cannot run \"./no-such-tracker\""), "%s", why);
	free(why);
}

/* The command source: argv-split, no shell, in the configuration's folder. */
Test(command, the_source_command_prints_an_issues_list)
{
	char *errors = NULL, *path;
	struct issue_list issues = { 0 };
	struct strbuf problems = { 0 };
	struct config *cfg;

	free(write_text(dir, "tracker/out.json", "[{\"repo\":\"api\",\"number\":3,\"title\":\"$(id)\"},"
	    "{\"repo\":\"nope\",\"number\":4,\"title\":\"t\"}]"));
	path = write_text(dir, "waved.conf", "[source]\ntype = command\n"
	    "command = cat 'tracker/out.json'\n[phase \"implement\"]\nrun = x\n[repo \"api\"]\npath = /a\n");
	cfg = config_load(path, &errors);
	cr_assert_not_null(cfg, "%s", errors);
	cr_assert_eq(source_command_load(cfg, &issues, &problems), 0, "%s", problems.s);
	cr_assert_eq(issues.n, 1);
	cr_assert_str_eq(issues.v[0].title, "$(id)", "issue text is data, never run");
	cr_assert(strstr(problems.s, "source command: entry 1: repo: \"nope\""), "%s", problems.s);
	issue_list_clear(&issues);
	strbuf_free(&problems);
	config_free(cfg);
	/* A command that fails is unusable as a whole, and says why. */
	path = (free(path), write_text(dir, "waved.conf", "[source]\ntype = command\n"
	    "command = sh -c 'echo tracker down >&2; exit 4'\n[phase \"implement\"]\nrun = x\n"
	    "[repo \"api\"]\npath = /a\n"));
	cfg = config_load(path, &errors);
	cr_assert_eq(source_command_load(cfg, &issues, &problems), -1);
	cr_assert(strstr(problems.s, "source command: stderr: tracker down\n"), "%s", problems.s);
	cr_assert(strstr(problems.s, "source command: exited with 4\n"), "%s", problems.s);
	cr_assert_eq(issues.n, 0);
	strbuf_free(&problems);
	config_free(cfg);
	free(path);
}
