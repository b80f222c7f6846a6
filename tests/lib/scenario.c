#include "tests/lib/scenario.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/util.h"

struct scenario *
scenario_new(void)
{
	struct scenario *sc = xcalloc(1, sizeof(*sc));

	sc->dir = tmpdir_new();
	sc->conf = xasprintf("%s/waved.conf", sc->dir);
	sc->state = xasprintf("%s/state", sc->dir);
	sc->waved = built_binary("waved");
	sc->wavectl = built_binary("wavectl");
	invariants_begin(sc);
	return sc;
}

void
scenario_free(struct scenario *sc)
{
	invariants_check(sc);
	free(sc->conf);
	free(sc->state);
	free(sc->waved);
	free(sc->wavectl);
	/* WAVED_KEEP_TMP=1 keeps the folder of a failing test for a look. */
	if (getenv("WAVED_KEEP_TMP"))
		fprintf(stderr, "scenario kept in %s\n", sc->dir);
	else
		tmpdir_remove(sc->dir);
	free(sc);
}

char *
scenario_repo(struct scenario *sc, const char *name)
{
	char *path = xasprintf("%s/repos/%s", sc->dir, name);
	size_t len = strlen(sc->repos);

	git_repo_new(path);
	snprintf(sc->repos + len, sizeof(sc->repos) - len, "[repo \"%s\"]\npath = repos/%s\n",
	    name, name);
	return path;
}

void
scenario_config(struct scenario *sc, const char *waved_keys, const char *more)
{
	/* Tests wait for nothing they do not ask for: no backoff unless they set one. */
	bool backoff = waved_keys && strstr(waved_keys, "retry_backoff");
	bool tempfail_backoff = waved_keys && strstr(waved_keys, "tempfail_backoff");
	char *text = xasprintf("[waved]\nstate_dir = state\n%s%spoll_interval = 3600\n"
	    "%s\n[source]\ntype = file\npath = issues.json\n%s\n%s",
	    backoff ? "" : "retry_backoff = 0\n", tempfail_backoff ? "" : "tempfail_backoff = 0\n",
	    waved_keys ? waved_keys : "", more ? more : "", sc->repos);

	free(write_text(sc->dir, "waved.conf", text));
	free(text);
}

void
scenario_issues(struct scenario *sc, const char *json)
{
	free(write_text(sc->dir, "issues.json", json));
}

/* What a run said on stderr joins the daemon's log. */
static void
append_log(struct scenario *sc, const char *text)
{
	char *path = xasprintf("%s/waved.out", sc->dir);
	FILE *fp = fopen(path, "a");

	if (fp) {
		fputs(text ? text : "", fp);
		fclose(fp);
	}
	free(path);
}

struct run_result
scenario_once(struct scenario *sc, const char *const extra[])
{
	const char *argv[16] = { sc->waved, "--once", "-c", sc->conf };
	size_t n = 4;
	struct run_result r;

	for (size_t k = 0; extra && extra[k] && n < 15; k++)
		argv[n++] = extra[k];
	argv[n] = NULL;
	r = run_argv(sc->dir, argv);
	append_log(sc, r.err);
	return r;
}

cJSON *
scenario_once_ok(struct scenario *sc)
{
	struct run_result r = scenario_once(sc, NULL);

	cr_assert_eq(r.status, 0, "waved --once: status %d: %s", r.status, r.err);
	run_result_free(&r);
	return scenario_events(sc);
}

pid_t
scenario_start(struct scenario *sc, const char *const args[])
{
	const char *argv[16] = { sc->waved };
	size_t n = 1;
	char *out = xasprintf("%s/waved.out", sc->dir);
	pid_t pid;

	for (size_t k = 0; args[k] && n < 15; k++)
		argv[n++] = args[k];
	argv[n] = NULL;
	pid = fork();
	cr_assert(pid != -1);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);

		dup2(fd, 1);
		dup2(fd, 2);
		if (chdir(sc->dir) == -1)
			_exit(127);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	free(out);
	return pid;
}

void
nap_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int
scenario_wait(pid_t pid, int timeout_s)
{
	int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000;
	int status;

	while (mono_ms() < deadline) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (r == -1 && errno != EINTR)
			return -1;
		nap_ms(20);
	}
	return -1;
}

cJSON *
scenario_events(struct scenario *sc)
{
	char *path = xasprintf("%s/events.ndjson", sc->state);
	char *text = read_file(path, NULL), *line, *save = NULL, *last_nl;
	cJSON *arr = cJSON_CreateArray();

	free(path);
	/* A line being appended right now is not whole yet: leave it for the next look. */
	if (text && (last_nl = strrchr(text, '\n')) != NULL)
		last_nl[1] = '\0';
	else if (text)
		text[0] = '\0';
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	    line = strtok_r(NULL, "\n", &save)) {
		cJSON *e = cJSON_Parse(line);

		cr_assert_not_null(e, "events.ndjson: not JSON: %s", line);
		cJSON_AddItemToArray(arr, e);
	}
	free(text);
	return arr;
}

bool
scenario_await(struct scenario *sc, const char *name, const char *issue, int count,
    int timeout_s)
{
	int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000;

	while (mono_ms() < deadline) {
		cJSON *evs = scenario_events(sc);
		int n = ev_count(evs, name, issue);

		cJSON_Delete(evs);
		if (n >= count)
			return true;
		nap_ms(20);
	}
	return false;
}

static bool
matches(const cJSON *e, const char *name, const char *issue)
{
	const cJSON *ev = cJSON_GetObjectItem(e, "event"), *is = cJSON_GetObjectItem(e, "issue");

	if (name && (!cJSON_IsString(ev) || strcmp(ev->valuestring, name) != 0))
		return false;
	if (issue && (!cJSON_IsString(is) || strcmp(is->valuestring, issue) != 0))
		return false;
	return true;
}

int
ev_find(const cJSON *evs, const char *name, const char *issue, int from)
{
	int n = cJSON_GetArraySize(evs);

	for (int k = from < 0 ? 0 : from; k < n; k++)
		if (matches(cJSON_GetArrayItem(evs, k), name, issue))
			return k;
	return -1;
}

int
ev_count(const cJSON *evs, const char *name, const char *issue)
{
	int count = 0;
	const cJSON *e;

	cJSON_ArrayForEach(e, evs)
		count += matches(e, name, issue);
	return count;
}

int
ev_count_with(const cJSON *evs, const char *name, const char *issue, const char *field,
    const char *value)
{
	const cJSON *e, *v;
	int count = 0;

	cJSON_ArrayForEach(e, evs) {
		v = cJSON_GetObjectItem(e, field);
		count += matches(e, name, issue) && cJSON_IsString(v) &&
		    strcmp(v->valuestring, value) == 0;
	}
	return count;
}

double
ev_number(const cJSON *evs, int k, const char *field)
{
	const cJSON *v = cJSON_GetObjectItem(cJSON_GetArrayItem(evs, k), field);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

const char *
ev_string(const cJSON *evs, int k, const char *field)
{
	const cJSON *v = cJSON_GetObjectItem(cJSON_GetArrayItem(evs, k), field);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

char *
scenario_git(const char *repo, const char *const args[])
{
	const char *argv[24] = { "git", "-C", repo };
	size_t n = 3;
	struct run_result r;
	char *out;

	for (size_t k = 0; args[k] && n < 23; k++)
		argv[n++] = args[k];
	argv[n] = NULL;
	r = run_argv(NULL, argv);
	out = r.out;
	free(r.err);
	for (size_t len = strlen(out); len > 0 && out[len - 1] == '\n'; len--)
		out[len - 1] = '\0';
	return out;
}

char *
scenario_real_git(void)
{
	struct run_result which = run_argv(NULL, (const char *[]){ "sh", "-c", "command -v git",
	    NULL });
	char *git = which.out;

	git[strcspn(git, "\n")] = '\0';
	free(which.err);
	return git;
}

void
scenario_git_first(struct scenario *sc, const char *script)
{
	char *bin = xasprintf("%s/bin", sc->dir), *path;

	free(write_text(bin, "git", script));
	path = xasprintf("%s/git", bin);
	cr_assert_eq(chmod(path, 0755), 0);
	free(path);
	path = xasprintf("%s:%s", bin, getenv("PATH"));
	setenv("PATH", path, 1);
	free(path);
	free(bin);
}

int
count_lines_equal(const char *text, const char *line)
{
	int n = 0;
	size_t len = strlen(line);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, line, len) == 0 && (p[len] == '\n' || p[len] == '\0'))
			n++;
	return n;
}

bool
process_gone(pid_t pid)
{
	char *path = xasprintf("/proc/%d/stat", (int)pid), *stat = read_file(path, NULL);
	bool gone = stat == NULL || strstr(stat, ") Z ") != NULL;

	free(stat);
	free(path);
	return gone;
}

char *
scenario_read(struct scenario *sc, const char *name)
{
	char *path = xasprintf("%s/%s", sc->dir, name), *text = read_file(path, NULL);

	free(path);
	return text ? text : xstrdup("");
}

long
scenario_await_number(struct scenario *sc, const char *name, int timeout_s)
{
	int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000;

	for (;;) {
		char *text = scenario_read(sc, name);
		long n = *text ? strtol(text, NULL, 10) : -1;

		free(text);
		if (n >= 0 || mono_ms() >= deadline)
			return n;
		nap_ms(100);
	}
}
