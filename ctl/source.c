/*
 * The issue source as wavectl plan reads it: an issues file or a command,
 * here; GitHub through waved.  waved is the one process that holds the
 * token and talks to GitHub (DESIGN.md section 1), so wavectl runs
 * "waved -c FILE --source-issues", which reads the source once as the
 * daemon would and prints its issues in the exact form of
 * common/source_file.h, and plans what it reads from the pipe.  A file is
 * read in place: no exec on that path (plan of 10,000 issues in 100 ms).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "common/source_command.h"
#include "common/source_file.h"
#include "common/spawn.h"
#include "ctl/ctl.h"

#define WAVED_MODE "--source-issues"	/* waved(8): for wavectl */

/*
 * waved's binary: beside our own executable (make install puts both in
 * one folder, and so does the build), else the first on PATH.  NULL with
 * where it looked in *looked (caller frees either).
 */
static char *
find_waved(char **looked)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *on_path;
	char *beside = NULL, *slash;
	struct stat st;

	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			beside = xasprintf("%.*s/waved", (int)(slash - self), self);
			if (stat(beside, &st) == 0 && S_ISREG(st.st_mode) && access(beside, X_OK) == 0)
				return beside;
		}
	}
	if ((on_path = spawn_which("waved")) != NULL) {
		free(beside);
		return xstrdup(on_path);
	}
	*looked = beside ? xasprintf("%s, nor on PATH", beside) : xstrdup("on PATH");
	free(beside);
	return NULL;
}

/*
 * Run waved in the mode that prints the source's issues, and read them:
 * fork and exec, no shell; its stderr is ours (GitHub's refusals, entries
 * skipped), its stdout a pipe.  It stays in our process group, so that a
 * Ctrl-C ends both, and dies with us.  0, or -1 said on stderr.
 */
static int
run_waved(const char *waved, const char *config_path, struct strbuf *out)
{
	char *const argv[] = { "waved", "-c", (char *)config_path, WAVED_MODE, NULL };
	char buf[65536];
	int fds[2], status, null;
	ssize_t got;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		fprintf(stderr, "wavectl: pipe: %s\n", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		fprintf(stderr, "wavectl: fork: %s\n", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if ((null = open("/dev/null", O_RDONLY)) == -1 || dup2(null, STDIN_FILENO) == -1 ||
		    dup2(fds[1], STDOUT_FILENO) == -1)
			_exit(127);
		closefrom(STDERR_FILENO + 1);
		execv(waved, argv);
		fprintf(stderr, "wavectl: cannot run %s: %s\n", waved, strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	while ((got = read(fds[0], buf, sizeof(buf))) != 0) {
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1) {
			fprintf(stderr, "wavectl: reading from %s: %s\n", waved, strerror(errno));
			break;
		}
		strbuf_addn(out, buf, (size_t)got);
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			fprintf(stderr, "wavectl: waitpid: %s\n", strerror(errno));
			return -1;
		}
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "wavectl: %s " WAVED_MODE " was killed by signal %d (%s): the issue "
		    "source was not read\n", waved, WTERMSIG(status), strsignal(WTERMSIG(status)));
		return -1;
	}
	if (WEXITSTATUS(status) != 0) {
		if (WEXITSTATUS(status) != 127)
			fprintf(stderr, "wavectl: the issue source could not be read (%s " WAVED_MODE
			    " exited %d: its reasons are above)\n", waved, WEXITSTATUS(status));
		return -1;
	}
	return got == -1 ? -1 : 0;
}

/* The GitHub source, read by waved. */
static int
load_through_waved(const struct config *cfg, struct issue_list *out)
{
	struct strbuf text = { 0 }, problems = { 0 };
	char *looked = NULL, *waved = find_waved(&looked);
	int rc = -1;

	if (waved == NULL) {
		fprintf(stderr, "wavectl: plan of a GitHub source asks waved, which holds the token, "
		    "for the issues; waved was found neither at %s\n", looked);
		free(looked);
		return -1;
	}
	if (run_waved(waved, cfg->file, &text) == 0) {
		rc = source_file_parse_exact(text.s ? text.s : "", text.len, waved, cfg, out,
		    &problems);
		if (rc == -1)
			fprintf(stderr, "%swavectl: %s printed issues wavectl cannot read: are they of "
			    "one build?\n", problems.s ? problems.s : "", waved);
	}
	strbuf_free(&problems);
	strbuf_free(&text);
	free(waved);
	return rc;
}

int
ctl_load_issues(const struct config *cfg, struct issue_list *out)
{
	struct strbuf problems = { 0 };
	int rc;

	if (cfg->source.type == SOURCE_GITHUB)
		return load_through_waved(cfg, out);
	if (cfg->source.type == SOURCE_COMMAND)
		rc = source_command_load(cfg, out, &problems);
	else
		rc = source_file_load(cfg->source.path, cfg, out, &problems);
	if (problems.len)
		fputs(problems.s, stderr);
	strbuf_free(&problems);
	return rc;
}
