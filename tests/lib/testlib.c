#include "tests/lib/testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/store.h"
#include "common/util.h"

char *
tmpdir_new(void)
{
	const char *base = getenv("TMPDIR");
	char *dir = xasprintf("%s/waved-test.XXXXXX", base && *base ? base : "/tmp");

	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	return dir;
}

void
tmpdir_remove(char *dir)
{
	if (dir && getenv("WAVED_KEEP_TMP") == NULL)
		remove_tree(dir);
	free(dir);
}

char *
write_text(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	char *slash = strrchr(path, '/');
	FILE *fp;

	*slash = '\0';
	cr_assert_eq(mkdir_p(path, 0755), 0);
	*slash = '/';
	fp = fopen(path, "w");
	cr_assert_not_null(fp, "%s: %s", path, strerror(errno));
	fputs(text, fp);
	fclose(fp);
	return path;
}

static char *
slurp_fd(int fd)
{
	struct strbuf b = { 0 };
	char chunk[4096];
	ssize_t n;

	while ((n = read(fd, chunk, sizeof(chunk) - 1)) > 0 || (n == -1 && errno == EINTR)) {
		if (n > 0) {
			chunk[n] = '\0';
			strbuf_add(&b, chunk);
		}
	}
	return strbuf_take(&b);
}

struct run_result
run_argv(const char *cwd, const char *const argv[])
{
	struct run_result r = { 0 };
	char outpath[] = "/tmp/waved-run-out.XXXXXX";
	char errpath[] = "/tmp/waved-run-err.XXXXXX";
	int out = mkstemp(outpath), err = mkstemp(errpath);
	pid_t pid;
	int st;

	cr_assert(out != -1 && err != -1);
	unlink(outpath);
	unlink(errpath);
	pid = fork();
	cr_assert(pid != -1);
	if (pid == 0) {
		dup2(out, 1);
		dup2(err, 2);
		if (cwd && chdir(cwd) == -1)
			_exit(127);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	lseek(out, 0, SEEK_SET);
	lseek(err, 0, SEEK_SET);
	r.out = slurp_fd(out);
	r.err = slurp_fd(err);
	close(out);
	close(err);
	return r;
}

void
run_result_free(struct run_result *r)
{
	free(r->out);
	free(r->err);
}

char *
built_binary(const char *name)
{
	const char *build = getenv("WAVED_BUILD");

	cr_assert_not_null(build, "WAVED_BUILD must name the build folder (run through make test)");
	return xasprintf("%s/%s", build, name);
}

static void
git_or_fail(const char *cwd, const char *const argv[])
{
	struct run_result r = run_argv(cwd, argv);

	cr_assert_eq(r.status, 0, "%s %s failed: %s", argv[0], argv[1], r.err);
	run_result_free(&r);
}

void
git_repo_new(const char *path)
{
	cr_assert_eq(mkdir_p(path, 0755), 0);
	git_or_fail(path, (const char *[]){ "git", "init", "-q", "-b", "main", NULL });
	free(write_text(path, "README", "seed\n"));
	git_or_fail(path, (const char *[]){ "git", "add", "README", NULL });
	git_or_fail(path, (const char *[]){ "git", "-c", "user.name=waved test",
	    "-c", "user.email=test@waved.invalid", "commit", "-q", "-m", "seed", NULL });
}

cJSON *
json_parse_or_fail(const char *text)
{
	cJSON *j = cJSON_Parse(text);

	cr_assert_not_null(j, "not JSON: %s", text);
	return j;
}

void
store_history_seed(const char *state_dir, const char *scope, const char *name, int64_t ms)
{
	char *path = xasprintf("%s/waved.db", state_dir), *err = NULL;
	struct store *st;

	cr_assert_eq(mkdir_p(state_dir, 0755), 0);
	st = store_open(path, STORE_READWRITE, &err);
	cr_assert_not_null(st, "%s", err);
	cr_assert_eq(store_begin(st), 0);
	/* Three alike: with another scope seeded so, the spread is known (none:
	 * four attempts beyond the first), and the expected time is ms itself
	 * (expect.h); a scope seeded alone is expected to take ms anyway. */
	for (int k = 0; k < 3; k++)
		cr_assert_eq(store_duration_note(st, scope, name, ms), 0);
	cr_assert_eq(store_commit(st), 0);
	store_close(st);
	free(path);
}
