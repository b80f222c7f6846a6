/*
 * make bench: a git on PATH that counts.  Installed as "git" in a folder of
 * the bench's own, ahead of the real one, it runs the real git
 * ($WAVED_BENCH_REAL_GIT) with the same arguments, waits for it, and appends
 * one line to $WAVED_BENCH_GIT_LOG:
 *
 *   MICROSECONDS <TAB> PARENT'S PID <TAB> PARENT'S TITLE <TAB> ARG ARG ...
 *
 * (the parent's title names the worker and its issue, "waved: worker r0#3
 * implement (attempt 1)", once the worker has set it: a git run before that
 * is the worker's by its pid).  One write of the whole line, O_APPEND: lines of
 * concurrent gits never mix.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4000

/* The parent's command line as one string (its process title), NULs as spaces. */
static void
parent_title(char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)getppid());
	buf[0] = '\0';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return;
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	buf[n] = '\0';
	for (ssize_t k = 0; k < n; k++)
		if (buf[k] == '\0' || buf[k] == '\t' || buf[k] == '\n')
			buf[k] = ' ';
}

int
main(int argc, char **argv)
{
	const char *real = getenv("WAVED_BENCH_REAL_GIT"), *log = getenv("WAVED_BENCH_GIT_LOG");
	char title[256], line[LINE_MAX_BYTES];
	struct timespec t0, t1;
	int status = 0, len;
	pid_t pid;

	if (real == NULL || *real != '/') {
		fprintf(stderr, "bench-git: WAVED_BENCH_REAL_GIT is not set\n");
		return 127;
	}
	parent_title(title, sizeof(title));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((pid = fork()) == -1)
		return 127;
	if (pid == 0) {
		argv[0] = (char *)real;
		execv(real, argv);
		_exit(127);
	}
	/* A signal meant for git (a timeout's kill of the group) reaches it too. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	while (waitpid(pid, &status, 0) == -1)
		;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (log) {
		long long us = (long long)(t1.tv_sec - t0.tv_sec) * 1000000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000;

		len = snprintf(line, sizeof(line), "%lld\t%d\t%s\t", us, (int)getppid(), title);
		for (int k = 1; k < argc && len < (int)sizeof(line) - 2; k++)
			len += snprintf(line + len, sizeof(line) - 2 - (size_t)len, "%s%s",
			    k > 1 ? " " : "", argv[k]);
		if (len > (int)sizeof(line) - 2)
			len = (int)sizeof(line) - 2;
		line[len++] = '\n';
		int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);

		if (fd != -1) {
			if (write(fd, line, (size_t)len) != len)
				perror("bench-git: write");
			close(fd);
		}
	}
	if (WIFSIGNALED(status)) {
		signal(WTERMSIG(status), SIG_DFL);
		raise(WTERMSIG(status));
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 127;
}
