#include "common/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void __attribute__((noreturn))
spawn_child(const char *const argv[], const char *cwd, int out_fd)
{
	int devnull = open("/dev/null", O_RDWR);
	sigset_t none;

	/* The caller may block signals for its signalfd: the child must not inherit that. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setpgid(0, 0);		/* a timeout kills the whole group */
	if (devnull != -1)
		dup2(devnull, STDIN_FILENO);
	if (out_fd == -1)
		out_fd = devnull;
	if (out_fd != -1) {
		dup2(out_fd, STDOUT_FILENO);
		dup2(out_fd, STDERR_FILENO);
	}
	if (cwd && chdir(cwd) == -1)
		_exit(127);
	setenv("GIT_TERMINAL_PROMPT", "0", 1);
	execvp(argv[0], (char *const *)argv);
	_exit(127);
}

/* Read the child's output until EOF or the deadline; false on timeout. */
static bool
spawn_collect(int fd, struct strbuf *out, int64_t deadline)
{
	char chunk[4096];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int wait = -1;

		if (deadline) {
			int64_t left = deadline - mono_ms();
			if (left <= 0)
				return false;
			wait = (int)left;
		}
		int n = poll(&pfd, 1, wait);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0)
			return false;
		ssize_t r = read(fd, chunk, sizeof(chunk) - 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return true;
		chunk[r] = '\0';
		if (out)
			strbuf_add(out, chunk);
	}
}

int
spawn_run(const char *const argv[], const char *cwd, struct strbuf *out, int timeout_s)
{
	int pipefd[2];
	pid_t pid;
	int status;
	bool finished;
	int64_t deadline = timeout_s > 0 ? mono_ms() + (int64_t)timeout_s * 1000 : 0;

	if (pipe2(pipefd, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0)
		spawn_child(argv, cwd, pipefd[1]);
	close(pipefd[1]);
	finished = spawn_collect(pipefd[0], out, deadline);
	close(pipefd[0]);
	if (!finished)
		kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return -1;
	if (!finished)
		return SPAWN_TIMEOUT;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
