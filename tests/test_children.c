/*
 * The supervisor's table of children (supervisor/children.c) and its poll
 * set (supervisor/pollset.c).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/children.h"
#include "supervisor/pollset.h"
#include "tests/lib/testlib.h"

TMPDIR_SUITE(children);

/* A child that exits with status, already ended (not yet reaped) on return. */
static pid_t
ended_child(int status)
{
	pid_t pid = fork();
	siginfo_t info;

	cr_assert_neq(pid, -1);
	if (pid == 0)
		_exit(status);
	cr_assert_eq(waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT), 0);
	return pid;
}

/* Reap with the log (stderr) going to a file; what was logged. */
static char *
reap_logged(void)
{
	char *path = xasprintf("%s/log", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), saved = dup(STDERR_FILENO);

	cr_assert(fd != -1 && saved != -1);
	log_init("waved", true, 0);
	dup2(fd, STDERR_FILENO);
	children_reap();
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
	char *text = read_file(path, NULL);
	free(path);
	return text;
}

static void
heard(pid_t pid, int status, void *arg)
{
	int *seen = arg;

	(void)pid;
	*seen = status;
}

Test(children, a_non_zero_exit_of_a_helper_is_logged_and_told)
{
	int seen = -1;
	pid_t pid = ended_child(3);

	children_add(pid, CHILD_GIT, "git branch -D waved-issue/12 in api", heard, &seen);
	cr_assert_eq(children_count(CHILD_GIT), 1);
	char *log = reap_logged();
	char *want = xasprintf("git helper git branch -D waved-issue/12 in api (pid %d) ended: exit 3",
	    (int)pid);

	cr_assert(strstr(log, want), "expected \"%s\" in the log:\n%s", want, log);
	cr_assert(WIFEXITED(seen) && WEXITSTATUS(seen) == 3, "the callback heard its status");
	cr_assert_eq(children_count(CHILD_GIT), 0);
	free(want);
	free(log);
	children_free();
}

/* What owned a child may be freed before it ends (a reload): its callback is not called. */
Test(children, a_forgotten_owner_is_not_told)
{
	int seen = -1;
	pid_t pid = ended_child(0);

	children_add(pid, CHILD_COMMAND, "report", heard, &seen);
	children_forget(&seen);
	free(reap_logged());
	cr_assert_eq(seen, -1, "the callback of a forgotten owner ran");
	cr_assert_eq(children_count(CHILD_COMMAND), 0, "it is reaped all the same");
	children_free();
}

Test(children, a_zero_exit_is_told_but_not_logged)
{
	int seen = -1;

	children_add(ended_child(0), CHILD_PREFLIGHT, "reload", heard, &seen);
	char *log = reap_logged();

	cr_assert_str_eq(log, "");
	cr_assert_eq(seen, 0);
	free(log);
	children_free();
}

Test(children, a_child_not_in_the_table_is_reaped_and_named)
{
	pid_t pid = ended_child(1);
	char *log = reap_logged();
	char *want = xasprintf("child %d, not in the table of children, ended: exit 1", (int)pid);

	cr_assert(strstr(log, want), "expected \"%s\" in the log:\n%s", want, log);
	cr_assert_eq(waitpid(pid, NULL, WNOHANG), -1, "it was reaped");
	free(want);
	free(log);
	children_free();
}

static void
count_call(void *arg, const struct pollfd *pfd)
{
	int *calls = arg;

	cr_assert(pfd->revents & POLLIN);
	calls[pfd->fd]++;
}

Test(children, the_poll_set_serves_only_what_is_ready_by_its_callback)
{
	struct pollset *ps = pollset_new();
	int a[2], b[2], calls[1024] = { 0 };

	cr_assert(pipe(a) == 0 && pipe(b) == 0);
	cr_assert(a[0] < 1024 && b[0] < 1024);
	cr_assert_eq(write(b[1], "x", 1), 1);
	pollset_add(ps, a[0], POLLIN, count_call, calls);
	pollset_add_all(ps, (struct pollfd[]){ { .fd = b[0], .events = POLLIN } }, 1, count_call,
	    calls);
	cr_assert_eq(pollset_poll(ps, 0), 1);
	pollset_dispatch(ps);
	cr_assert_eq(calls[a[0]], 0);
	cr_assert_eq(calls[b[0]], 1);
	/* A new turn starts empty. */
	pollset_clear(ps);
	cr_assert_eq(pollset_poll(ps, 0), 0);
	pollset_free(ps);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}
