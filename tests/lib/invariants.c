#include "tests/lib/invariants.h"

#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "common/util.h"
#include "tests/lib/scenario.h"

#define PROCESS_GRACE_MS 10000	/* a phase's processes get kill_grace (10 s) to end */

void
scenario_waive(struct scenario *sc, enum invariant inv, const char *why)
{
	cr_assert(why && *why, "an invariant is waived with its reason");
	sc->waived[inv] = why;
}

static bool
checked(const struct scenario *sc, enum invariant inv)
{
	return sc->waived[inv] == NULL;
}

/*
 * Criterion does not fail a test for what its teardown finds, so each
 * violation is also appended to the file $WAVED_INVARIANT_LOG names, which
 * scripts/run-tests reads after the run: a broken invariant fails the run,
 * naming the test.
 */
static void __attribute__((format(printf, 1, 2)))
violation(const char *fmt, ...)
{
	const char *log = getenv("WAVED_INVARIANT_LOG");
	char *text;
	va_list ap;
	FILE *fp;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) == -1)
		text = NULL;
	va_end(ap);
	/* Not cr_log_error: it fails the whole run without saying which test. */
	fprintf(stderr, "[----] %s::%s: invariant broken: %s\n", criterion_current_suite->name,
	    criterion_current_test->name, text ? text : fmt);
	if (log && (fp = fopen(log, "a")) != NULL) {
		fprintf(fp, "%s::%s: invariant broken: %s\n", criterion_current_suite->name,
		    criterion_current_test->name, text ? text : fmt);
		fclose(fp);
	}
	free(text);
}

/* ---- sanitizer reports: each scenario's in its own folder ---- */

/* The options of one sanitizer with its log_path moved under dir. */
static void
move_log_path(const char *var, const char *dir, const char *name)
{
	const char *old = getenv(var);
	char *opts;

	if (old == NULL || strstr(old, "log_path=") == NULL)
		return;
	opts = xasprintf("%s:log_path=%s/sanitizer/%s", old, dir, name);	/* the last one wins */
	setenv(var, opts, 1);
	free(opts);
}

/* Each test runs in a process of its own: what it starts inherits these. */
void
invariants_begin(struct scenario *sc)
{
	char *path = xasprintf("%s/sanitizer", sc->dir);

	mkdir_p(path, 0755);
	free(path);
	move_log_path("ASAN_OPTIONS", sc->dir, "asan");
	move_log_path("UBSAN_OPTIONS", sc->dir, "ubsan");
}

/* Reports of suppressed leaks only list the suppressions: not a failure. */
static void
check_sanitizer(const struct scenario *sc)
{
	char *path = xasprintf("%s/sanitizer", sc->dir);
	DIR *d = opendir(path);
	struct dirent *e;

	while (d && (e = readdir(d)) != NULL) {
		char *file = xasprintf("%s/%s", path, e->d_name), *text;

		if (e->d_name[0] != '.' && (text = read_file(file, NULL)) != NULL) {
			if (strstr(text, "ERROR: ") || strstr(text, "runtime error"))
				violation("a sanitizer report (%s):\n%s", e->d_name, text);
			free(text);
		}
		free(file);
	}
	if (d)
		closedir(d);
	free(path);
}

/* ---- the daemon's log ---- */

static void
check_log(const struct scenario *sc)
{
	char *path = xasprintf("%s/waved.out", sc->dir), *log = read_file(path, NULL);

	free(path);
	if (log == NULL)
		return;
	if (checked(sc, INV_STORE_COMMITS) && strstr(log, "store: cannot commit"))
		violation("the store failed a commit:\n%s", log);
	if (checked(sc, INV_TRANSITIONS) && strstr(log, "illegal transition"))
		violation("an illegal transition:\n%s", log);
	if (checked(sc, INV_TRANSITIONS) && (strstr(log, "one transaction per dispatched event") ||
	    strstr(log, "store: a transaction begun inside another")))
		violation("a transaction misused:\n%s", log);
	free(log);
}

/* ---- the event log ---- */

/* The seq of every line, in order, strictly increasing across the rotation. */
static void
check_events_file(const char *path, double *last_seq)
{
	char *text = read_file(path, NULL), *line, *save = NULL;
	int n = 0;

	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	    line = strtok_r(NULL, "\n", &save)) {
		cJSON *e = cJSON_Parse(line);
		const cJSON *seq = cJSON_GetObjectItem(e, "seq");

		n++;
		if (!cJSON_IsNumber(seq))
			violation("%s:%d: not JSON, or no seq: %s", path, n, line);
		else if (seq->valuedouble <= *last_seq)
			violation("%s:%d: seq %.0f after %.0f", path, n, seq->valuedouble, *last_seq);
		if (cJSON_IsNumber(seq))
			*last_seq = seq->valuedouble;
		cJSON_Delete(e);
	}
	free(text);
}

static void
check_events(const struct scenario *sc)
{
	char *rotated = xasprintf("%s/events.ndjson.1", sc->state);
	char *current = xasprintf("%s/events.ndjson", sc->state);
	double last = -1;

	check_events_file(rotated, &last);
	check_events_file(current, &last);
	free(rotated);
	free(current);
}

/* ---- what git holds ---- */

/* The agent branch the scenario's config names (waved unless it says). */
static char *
agent_branch(const struct scenario *sc)
{
	char *conf = read_file(sc->conf, NULL), *key = conf ? strstr(conf, "\nagent_branch") : NULL;
	char name[128] = "waved";

	if (key)
		sscanf(strchr(key, '=') + 1, " %127[^ \n;]", name);
	free(conf);
	return xstrdup(name);
}

/*
 * The last event of each issue, keyed "repo#n"; those that a person merged
 * (land = pr: the proof is GitHub's, on the remote) are left out of merged.
 */
static cJSON *
last_events(const struct scenario *sc, cJSON **merged_by_people)
{
	cJSON *evs = scenario_events((struct scenario *)sc), *last = cJSON_CreateObject();
	const cJSON *e;

	*merged_by_people = cJSON_CreateObject();
	cJSON_ArrayForEach(e, evs) {
		const char *issue = cJSON_GetStringValue(cJSON_GetObjectItem(e, "issue"));
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(e, "event"));

		if (issue == NULL || name == NULL)
			continue;
		cJSON_DeleteItemFromObjectCaseSensitive(last, issue);
		cJSON_AddStringToObject(last, issue, name);
		if (strcmp(name, "pr_merged") == 0 && !cJSON_HasObjectItem(*merged_by_people, issue))
			cJSON_AddTrueToObject(*merged_by_people, issue);
	}
	cJSON_Delete(evs);
	return last;
}

static bool
is_done(const cJSON *last, const char *repo, long number)
{
	char key[160];
	const char *ev;

	snprintf(key, sizeof(key), "%s#%ld", repo, number);
	ev = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(last, key));
	return ev && strcmp(ev, "done") == 0;
}

/* Every issue done has its landed commit on the agent branch (land = branch). */
static void
check_done_landed(const struct scenario *sc, const cJSON *last, const cJSON *by_people,
    const char *agent)
{
	char *path = xasprintf("%s/waved.db", sc->state);
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	if (access(path, F_OK) != 0 ||
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT r.name, i.number, i.final_commit FROM issues i "
	    "JOIN repos r ON r.id = i.repo_id", -1, &st, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		free(path);
		return;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *repo = (const char *)sqlite3_column_text(st, 0);
		long number = sqlite3_column_int64(st, 1);
		const char *final = (const char *)sqlite3_column_text(st, 2);
		char *dir = xasprintf("%s/repos/%s", sc->dir, repo), key[160];

		snprintf(key, sizeof(key), "%s#%ld", repo, number);
		if (is_done(last, repo, number) && !cJSON_HasObjectItem(by_people, key) &&
		    access(dir, F_OK) == 0) {
			struct run_result r = run_argv(NULL, (const char *[]){ "git", "-C", dir,
			    "merge-base", "--is-ancestor", final ? final : "", agent, NULL });

			if (final == NULL || !*final || r.status != 0)
				violation("%s is done, but its landed commit %s is not on %s", key,
				    final ? final : "(none recorded)", agent);
			run_result_free(&r);
		}
		free(dir);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
}

/* NAME#N of a worktree path under state/worktrees, or false. */
static bool
worktree_issue(const struct scenario *sc, const char *path, char *repo, size_t len, long *n)
{
	char *prefix = xasprintf("%s/worktrees/", sc->state);
	bool ok = false;

	if (strncmp(path, prefix, strlen(prefix)) == 0) {
		const char *rest = path + strlen(prefix), *slash = strchr(rest, '/');

		if (slash && (size_t)(slash - rest) < len) {
			snprintf(repo, len, "%.*s", (int)(slash - rest), rest);
			ok = sscanf(slash + 1, "%ld", n) == 1 && strchr(slash + 1, '/') == NULL;
		}
	}
	free(prefix);
	return ok;
}

/*
 * Worktrees and branches: the repo itself, parked spares, the agent and base
 * branches, and an issue's worktree and branch while the issue is not done
 * (a failed one kept, an attempt a stop left to resume).
 */
static void
check_repo_leftovers(const struct scenario *sc, const char *name, const cJSON *last,
    const char *agent)
{
	char *dir = xasprintf("%s/repos/%s", sc->dir, name), *prefix = xasprintf("%s-issue/", agent);
	char *list = scenario_git(dir, (const char *[]){ "worktree", "list", "--porcelain", NULL });
	char *refs = scenario_git(dir, (const char *[]){ "for-each-ref", "--format=%(refname:short)",
	    "refs/heads/", NULL });
	char *line, *save = NULL;

	for (line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char repo[128];
		long n;

		if (strncmp(line, "worktree ", 9) != 0 || strcmp(line + 9, dir) == 0 ||
		    strstr(line + 9, "/.spare/"))
			continue;
		if (!worktree_issue(sc, line + 9, repo, sizeof(repo), &n) || is_done(last, repo, n))
			violation("worktree %s is left in repo %s", line + 9, name);
	}
	save = NULL;
	for (line = strtok_r(refs, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		long n;

		if (strcmp(line, "main") == 0 || strcmp(line, agent) == 0)
			continue;
		if (strncmp(line, prefix, strlen(prefix)) != 0 ||
		    sscanf(line + strlen(prefix), "%ld", &n) != 1 || is_done(last, name, n))
			violation("branch %s is left in repo %s", line, name);
	}
	free(refs);
	free(list);
	free(prefix);
	free(dir);
}

static void
check_git(const struct scenario *sc)
{
	char *repos = xasprintf("%s/repos", sc->dir), *agent = agent_branch(sc);
	cJSON *by_people, *last = last_events(sc, &by_people);
	DIR *d = opendir(repos);
	struct dirent *e;

	if (checked(sc, INV_DONE_LANDED))
		check_done_landed(sc, last, by_people, agent);
	while (checked(sc, INV_LEFTOVERS) && d && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			check_repo_leftovers(sc, e->d_name, last, agent);
	if (d)
		closedir(d);
	cJSON_Delete(by_people);
	cJSON_Delete(last);
	free(agent);
	free(repos);
}

/* ---- processes ---- */

/* A live process (not a zombie) whose cwd or command line is in the scenario's folder. */
static bool
belongs(const struct scenario *sc, pid_t pid)
{
	char *path = xasprintf("/proc/%d/cwd", (int)pid), cwd[4096];
	ssize_t n = readlink(path, cwd, sizeof(cwd) - 1);
	bool ours = false;
	size_t len = strlen(sc->dir);

	free(path);
	if (n > 0) {
		cwd[n] = '\0';
		ours = strncmp(cwd, sc->dir, len) == 0 && (cwd[len] == '/' || cwd[len] == '\0');
	}
	path = xasprintf("/proc/%d/cmdline", (int)pid);
	size_t size;
	char *cmd = read_file(path, &size);

	for (size_t k = 0; cmd && !ours && k < size; k += strlen(cmd + k) + 1)
		ours = strstr(cmd + k, sc->dir) != NULL;
	free(cmd);
	free(path);
	return ours && !process_gone(pid);
}

/* The scenario's processes still running: a space-separated list (empty when none). */
static char *
scenario_processes(const struct scenario *sc)
{
	struct strbuf found = { 0 };
	DIR *d = opendir("/proc");
	struct dirent *e;

	while (d && (e = readdir(d)) != NULL) {
		pid_t pid = (pid_t)atoi(e->d_name);

		if (pid > 0 && pid != getpid() && belongs(sc, pid))
			strbuf_addf(&found, "%s%d", found.len ? " " : "", (int)pid);
	}
	if (d)
		closedir(d);
	return found.s ? strbuf_take(&found) : xstrdup("");
}

static void
check_processes(const struct scenario *sc)
{
	int64_t deadline = mono_ms() + PROCESS_GRACE_MS;
	char *left;

	while ((left = scenario_processes(sc))[0] && mono_ms() < deadline) {
		free(left);
		nap_ms(50);
	}
	if (left[0]) {
		struct strbuf what = { 0 };

		for (char *p = left; *p; p += strcspn(p, " "), p += *p == ' ') {
			char *path = xasprintf("/proc/%d/cmdline", atoi(p));
			size_t size;
			char *cmd = read_file(path, &size);

			for (size_t k = 0; cmd && k + 1 < size; k++)
				if (cmd[k] == '\0')
					cmd[k] = ' ';
			strbuf_addf(&what, "\n  %d: %s", atoi(p), cmd ? cmd : "?");
			kill(atoi(p), SIGKILL);	/* the next test must not meet it */
			free(cmd);
			free(path);
		}
		violation("processes outlived the scenario:%s", what.s);
		strbuf_free(&what);
	}
	free(left);
}

void
invariants_check(struct scenario *sc)
{
	if (sc->checked)
		return;
	sc->checked = true;
	/* Processes first: what still runs could still write. */
	if (checked(sc, INV_PROCESSES))
		check_processes(sc);
	if (checked(sc, INV_SANITIZER))
		check_sanitizer(sc);
	check_log(sc);
	if (checked(sc, INV_EVENTS))
		check_events(sc);
	check_git(sc);
}
