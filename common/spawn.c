#include "common/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* envp with GIT_TERMINAL_PROMPT=0 in front: the first of a name wins in getenv. */
static char **
child_env(char *const *envp)
{
	size_t n = 0;
	char **env;

	while (envp[n])
		n++;
	env = xcalloc(n + 2, sizeof(char *));
	env[0] = "GIT_TERMINAL_PROMPT=0";
	memcpy(env + 1, envp, n * sizeof(char *));
	return env;
}

/*
 * Where PATH finds a command, looked up once per process (workers inherit
 * it): posix_spawnp tries each folder of PATH in the child while the parent
 * waits, and waved starts git a dozen times per issue.
 */
static struct {
	char *name, *path;
} found[8];

static const char *
command_path(const char *name, bool again)
{
	const char *path = getenv("PATH");
	size_t k;

	for (k = 0; k < ARRAY_LEN(found) && found[k].name; k++)
		if (strcmp(found[k].name, name) == 0)
			break;
	if (k == ARRAY_LEN(found))
		return NULL;	/* no room: posix_spawnp searches */
	if (found[k].name && !again)
		return found[k].path;
	free(found[k].path);
	found[k].path = NULL;
	for (const char *p = path ? path : "/usr/bin:/bin"; found[k].path == NULL; ) {
		size_t len = strcspn(p, ":");
		char *candidate = xasprintf("%.*s/%s", (int)len, len ? p : ".", name);

		if (access(candidate, X_OK) == 0)
			found[k].path = candidate;
		else
			free(candidate);
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	if (found[k].path == NULL)
		return NULL;
	if (found[k].name == NULL)
		found[k].name = xstrdup(name);
	return found[k].path;
}

const char *
spawn_which(const char *name)
{
	return command_path(name, false);
}

/* posix_spawn the command: a name through the PATH cache, a path as it is. */
static int
spawn_command(pid_t *pid, const char *const argv[], const posix_spawn_file_actions_t *fa,
    const posix_spawnattr_t *attr, char **env)
{
	const char *path;
	int rc;

	if (strchr(argv[0], '/'))
		return posix_spawn(pid, argv[0], fa, attr, (char *const *)argv, env);
	if ((path = command_path(argv[0], false)) == NULL)
		return posix_spawnp(pid, argv[0], fa, attr, (char *const *)argv, env);
	rc = posix_spawn(pid, path, fa, attr, (char *const *)argv, env);
	/* Moved or removed since: look again, once. */
	if (rc == ENOENT && (path = command_path(argv[0], true)) != NULL)
		rc = posix_spawn(pid, path, fa, attr, (char *const *)argv, env);
	return rc;
}

pid_t
spawn_start(const char *const argv[], const struct spawn_opts *opts)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	char **env = child_env(opts->envp ? opts->envp : environ);
	pid_t pid;
	int rc;

	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	/* A session of its own is a process group of its own too, and has no
	 * controlling terminal: /dev/tty fails at once instead of stopping it. */
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
	    (opts->session ? POSIX_SPAWN_SETSID : POSIX_SPAWN_SETPGROUP));
	posix_spawn_file_actions_init(&fa);
	if (opts->with_in)
		posix_spawn_file_actions_adddup2(&fa, opts->in_fd, STDIN_FILENO);
	else
		posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (opts->out_fd == -1)
		posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	else
		posix_spawn_file_actions_adddup2(&fa, opts->out_fd, STDOUT_FILENO);
	if (opts->with_err)
		posix_spawn_file_actions_adddup2(&fa, opts->err_fd, STDERR_FILENO);
	else
		posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	if (opts->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, opts->cwd);
	rc = spawn_command(&pid, argv, &fa, &attr, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(env);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return pid;
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
		if (out)
			strbuf_addn(out, chunk, (size_t)r);	/* git's -z output holds NULs */
	}
}

int
spawn_run(const char *const argv[], const char *cwd, struct strbuf *out, int timeout_s)
{
	return spawn_run_input(argv, cwd, -1, out, timeout_s);
}

int
spawn_run_input(const char *const argv[], const char *cwd, int in_fd, struct strbuf *out,
    int timeout_s)
{
	int pipefd[2], status;
	int64_t deadline = timeout_s > 0 ? mono_ms() + (int64_t)timeout_s * 1000 : 0;
	bool finished;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) == -1)
		return -1;
	pid = spawn_start(argv, &(struct spawn_opts){ .cwd = cwd, .out_fd = pipefd[1],
	    .with_in = in_fd != -1, .in_fd = in_fd });
	close(pipefd[1]);
	if (pid == -1) {
		close(pipefd[0]);
		return -1;
	}
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
