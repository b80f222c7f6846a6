/*
 * Benchmark driver for the supervisor (DESIGN.md section 15), on the real
 * waved with real git repositories:
 *   - per-issue overhead: from an issue's done to the next admission, from
 *     admission to its first phase, and waved's whole pipeline per issue
 *     against the same git commands in a plain sh loop;
 *   - a warm start on a 20,000-file repo against one git worktree add;
 *   - the makespan of a 96-issue DAG, and of the same DAG with durations
 *     known from a recorded history (bench_makespan.c);
 *   - agent work lost to merge conflicts that an agent can resolve (target 0);
 *   - memory (bench_memory.c).
 * Each figure is printed with its target and their ratio (below 1 meets it;
 * for the makespan, 1.05 is the target ratio).
 *
 * usage: bench-run BUILD_DIR [WORKLOAD...]   (all of them, or those named)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>

#include <cJSON.h>

#include "common/log.h"
#include "common/spawn.h"
#include "common/util.h"
#include "scripts/bench.h"

/*
 * The git commands waved runs for one issue on the warm path (prepare from
 * a spare, commit what the phase left, land by fast-forward deleting the
 * branch in the same transaction, park), in a plain sh loop: the floor that
 * waved's own pipeline is measured against.  The spare is moved as waved
 * moves it (the folder renamed, git's gitdir record rewritten) and the tip
 * read from its file.
 */
static const char scripted_issues[] =
    "set -e\n"
    "repo=$1 wts=$2 n=$3 k=1\n"
    "ident='-c user.name=waved -c user.email=waved@localhost -c commit.gpgsign=false'\n"
    "git -C \"$repo\" branch -q --no-track waved main\n"
    "while [ $k -le $n ]; do\n"
    "  wt=$wts/$k\n"
    "  read -r base < \"$repo/.git/refs/heads/waved\"\n"
    "  if [ -d \"$wts/.spare/0\" ]; then\n"
    "    mv \"$wts/.spare/0\" \"$wt\"\n"
    "    read -r gd < \"$wt/.git\"; echo \"$wt/.git\" > \"${gd#gitdir: }/gitdir\"\n"
    "    git -C \"$wt\" checkout -q -f -B waved-issue/$k \"$base\"\n"
    "  else\n"
    "    mkdir -p \"$wts/.spare\"\n"
    "    git -C \"$repo\" worktree add -q -B waved-issue/$k \"$wt\" \"$base\"\n"
    "  fi\n"
    "  (cd \"$wt\" && WAVED_NUMBER=$k /bin/sh -c 'echo $WAVED_NUMBER > f.txt')\n"
    "  git -C \"$wt\" add -A\n"
    "  git -C \"$wt\" $ident -c maintenance.auto=false commit -q --no-verify "
    "-m \"t$k (r0#$k)\"\n"
    "  read -r head < \"$repo/.git/refs/heads/waved-issue/$k\"\n"
    "  printf 'update refs/heads/waved %s %s\\ndelete refs/heads/waved-issue/%s %s\\n' "
    "\"$head\" \"$base\" $k \"$head\" | git -C \"$repo\" update-ref -m 'waved: merge' --stdin\n"
    "  read -r gd < \"$wt/.git\"; echo \"$head\" > \"${gd#gitdir: }/HEAD\"\n"
    "  mv \"$wt\" \"$wts/.spare/0\"; echo \"$wts/.spare/0/.git\" > \"${gd#gitdir: }/gitdir\"\n"
    "  k=$((k + 1))\n"
    "done\n";

/* Milliseconds per issue of scripted_issues over n issues on a fresh repo. */
static double
scripted_pipeline_ms(int n)
{
	char *dir = xasprintf("%s/scripted", bench_root), *repo, *wts = xasprintf("%s/worktrees", dir);
	char *count = xasprintf("%d", n);
	int64_t start;
	int rc;

	mkdir_p(dir, 0755);
	repo = make_repo(dir, "r0");
	start = mono_ms();
	rc = spawn_run((const char *[]){ "sh", "-c", scripted_issues, "scripted", repo, wts, count,
	    NULL }, dir, NULL, 0);
	if (rc != 0)
		fatalx("bench: the scripted pipeline failed (exit %d)", rc);
	double ms = (double)(mono_ms() - start) / n;

	free(count);
	free(wts);
	free(repo);
	free(dir);
	return ms;
}

/* What the counting git (bench_git.c) saw of one issue. */
struct git_seen {
	int count;		/* git processes the issue's worker ran, and the supervisor's for it */
	double ms;		/* their time */
	double worker_ms;	/* the worker's part of it (between admission and done) */
	struct strbuf commands;	/* their git commands, by name */
};

/* The git command of a logged argument list: the first word after the -C and -c options. */
static void
command_name(const char *args, char *name, size_t size)
{
	const char *p = args;

	while (*p) {
		size_t n = strcspn(p, " ");

		if ((n == 2 && (strncmp(p, "-C", 2) == 0 || strncmp(p, "-c", 2) == 0))) {
			p += n + (p[n] == ' ');
			p += strcspn(p, " ");
			p += *p == ' ';
			continue;
		}
		snprintf(name, size, "%.*s", (int)n, p);
		/* worktree add, worktree move; merge-base --is-ancestor */
		if (p[n] == ' ' && (strcmp(name, "worktree") == 0 ||
		    (strcmp(name, "merge-base") == 0 && strncmp(p + n + 1, "--", 2) == 0))) {
			size_t m = strcspn(p + n + 1, " ");

				snprintf(name, size, "%.*s %.*s", (int)n, p, (int)m, p + n + 1);
		}
		return;
	}
	snprintf(name, size, "?");
}

/*
 * Read the counting git's log into seen[1..n]: a line is an issue's when its
 * parent is that issue's worker (by its title, or by its pid for what the
 * worker ran before it set its title), or the supervisor naming the issue's
 * branch (a branch a landing left, deleted once the landing is recorded).
 */
static void
git_seen_read(const char *log, struct git_seen *seen, int n)
{
	char *text = read_file(log, NULL);
	struct { long pid, issue; } *workers = NULL;
	size_t nworkers = 0, cap = 0;

	/* Which pid is which issue's worker. */
	for (char *line = text; line && *line; line += strcspn(line, "\n") + (line[strcspn(line,
	    "\n")] == '\n')) {
		char *pid = strchr(line, '\t'), *at;
		size_t len = strcspn(line, "\n");

		if (pid == NULL || pid > line + len)
			continue;
		at = memmem(pid, len - (size_t)(pid - line), "worker r0#", 10);
		if (at) {
			grow_array((void **)&workers, &cap, nworkers + 1, sizeof(*workers));
			workers[nworkers].pid = strtol(pid + 1, NULL, 10);
			workers[nworkers++].issue = strtol(at + 10, NULL, 10);
		}
	}
	for (char *line = text, *save = NULL, *l = text ? strtok_r(line, "\n", &save) : NULL; l;
	    l = strtok_r(NULL, "\n", &save)) {
		char *pid = strchr(l, '\t'), *title = pid ? strchr(pid + 1, '\t') : NULL;
		char *args = title ? strchr(title + 1, '\t') : NULL, name[64], *branch;
		long k = 0, parent;
		bool worker = false;

		if (args == NULL)
			continue;
		*args++ = '\0';
		parent = strtol(pid + 1, NULL, 10);
		for (size_t w = 0; w < nworkers && !worker; w++)
			if (workers[w].pid == parent) {
				k = workers[w].issue;
				worker = true;
			}
		if (!worker && (branch = strstr(args, "waved-issue/")) != NULL)
			k = strtol(branch + 12, NULL, 10);
		if (k < 1 || k > n)
			continue;
		seen[k].count++;
		seen[k].ms += atof(l) / 1000;
		if (worker)
			seen[k].worker_ms += atof(l) / 1000;
		command_name(args, name, sizeof(name));
		strbuf_addf(&seen[k].commands, "%s%s", seen[k].commands.len ? ", " : "", name);
	}
	free(workers);
	free(text);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * The git of waved's runs (found through PATH) is the counting one, for the
 * runs until git_count_end: its log is returned.
 */
static char *
git_count_begin(const char *dir)
{
	const char *real = spawn_which("git");
	char *bin = xasprintf("%s/counting-bin", dir), *link = xasprintf("%s/git", bin);
	char *wrapper = xasprintf("%s/bench-git", bench_build), *log = xasprintf("%s/git.log", dir);
	char *path = xasprintf("%s:%s", bin, getenv("PATH"));

	if (real == NULL)
		fatalx("bench: no git on PATH");
	mkdir_p(bin, 0755);
	if (symlink(wrapper, link) == -1)
		fatal("bench: symlink %s", link);
	setenv("WAVED_BENCH_REAL_GIT", real, 1);
	setenv("WAVED_BENCH_GIT_LOG", log, 1);
	setenv("WAVED_BENCH_SAVED_PATH", getenv("PATH"), 1);
	setenv("PATH", path, 1);
	free(path);
	free(wrapper);
	free(link);
	free(bin);
	return log;
}

static void
git_count_end(void)
{
	setenv("PATH", getenv("WAVED_BENCH_SAVED_PATH"), 1);
	unsetenv("WAVED_BENCH_SAVED_PATH");
	unsetenv("WAVED_BENCH_GIT_LOG");
	unsetenv("WAVED_BENCH_REAL_GIT");
}

/*
 * DESIGN.md section 15: git processes per landed issue on the warm path (a
 * fast-forward here: one repo, cap 1), and waved's own time per issue: from
 * admission to done, less the phase and the worker's git.
 */
static void
print_git_counts(const char *log, cJSON *evs, int n)
{
	struct git_seen *seen = xcalloc((size_t)n + 1, sizeof(*seen));
	double *own = xcalloc((size_t)n + 1, sizeof(*own)), git_ms = 0;
	int64_t *admitted = xcalloc((size_t)n + 1, sizeof(*admitted));
	int most = 0, warm = 0, example = 0;
	cJSON *e;

	git_seen_read(log, seen, n);
	cJSON_ArrayForEach(e, evs) {
		const char *issue = cJSON_GetStringValue(cJSON_GetObjectItem(e, "issue"));
		long k = issue && strncmp(issue, "r0#", 3) == 0 ? strtol(issue + 3, NULL, 10) : 0;

		if (k < 1 || k > n)
			continue;
		if (strcmp(name_of(e), "admitted") == 0)
			admitted[k] = ts_ms(e);
		else if (strcmp(name_of(e), "phase_end") == 0)
			own[k] -= cJSON_GetNumberValue(cJSON_GetObjectItem(e, "ms"));
		else if (strcmp(name_of(e), "done") == 0 && admitted[k])
			own[k] += (double)(ts_ms(e) - admitted[k]);
	}
	/* The first issue finds no spare: the warm ones are the rest. */
	for (int k = 2; k <= n; k++) {
		own[warm] = own[k] - seen[k].worker_ms;
		warm++;
		git_ms += seen[k].ms;
		if (seen[k].count > most) {
			most = seen[k].count;
			example = k;
		}
	}
	qsort(own, (size_t)warm, sizeof(*own), cmp_double);
	ratio("git processes per warm ff issue", most, "", 6);
	printf("%-34s (most of %d issues; %.1f ms of git an issue: %s)\n", "", warm,
	    warm ? git_ms / warm : 0, example ? seen[example].commands.s : "none");
	ratio("waved's own time per issue (median)", warm ? own[warm / 2] : 0, "ms", 40);
	printf("%-34s (admission -> done, less the phase and the worker's git)\n", "");
	for (int k = 0; k <= n; k++)
		strbuf_free(&seen[k].commands);
	free(admitted);
	free(own);
	free(seen);
}

/*
 * waved --once in dir on issues, the repo's merge lock held until the
 * events file holds waits merge_wait events (the run's two issues wait for
 * it): both start from one tip, and the second to land merges.
 */
static void
once_with_both_waiting(const char *dir, const char *issues, int waits)
{
	char *path = xasprintf("%s/issues.json", dir), *lock = xasprintf("%s/repos/r0/.git/"
	    "waved-merge.lock", dir);
	char *waved = xasprintf("%s/waved", bench_build), *conf = xasprintf("%s/waved.conf", dir);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644), status;
	FILE *fp = fopen(path, "w");
	pid_t pid;

	if (fp == NULL || fd == -1 || flock(fd, LOCK_EX) == -1)
		fatal("bench: %s", lock);
	fputs(issues, fp);
	fclose(fp);
	if ((pid = spawn_start((const char *[]){ waved, "--once", "-c", conf, NULL },
	    &(struct spawn_opts){ .cwd = dir, .out_fd = -1 })) == -1)
		fatal("bench: %s", waved);
	await_events(dir, "merge_wait", waits);	/* all of the file's, past runs' too */
	close(fd);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fatalx("bench: waved --once failed in %s", dir);
	free(conf);
	free(waved);
	free(lock);
	free(path);
}

/*
 * DESIGN.md section 15, a landing that merges: r0#3 and r0#4 start warm
 * (in the spares r0#1 and r0#2 left) from one tip and wait for the merge
 * lock together; the second to land merges.  Its git processes, counted.
 */
static void
bench_merging_count(void)
{
	char *dir = scenario("merging", 1, 2, "echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt", NULL);
	struct git_seen seen[5] = { 0 };
	const char *first = "[{\"repo\":\"r0\",\"number\":1,\"title\":\"t1\"},"
	    "{\"repo\":\"r0\",\"number\":2,\"title\":\"t2\"}]";
	char *second = xasprintf("[{\"repo\":\"r0\",\"number\":1,\"title\":\"t1\"},"
	    "{\"repo\":\"r0\",\"number\":2,\"title\":\"t2\"},"
	    "{\"repo\":\"r0\",\"number\":3,\"title\":\"t3\",\"depends_on\":[\"#1\",\"#2\"]},"
	    "{\"repo\":\"r0\",\"number\":4,\"title\":\"t4\",\"depends_on\":[\"#1\",\"#2\"]}]");
	char *log, *repo = xasprintf("%s/repos/r0", dir);
	int merged = 0;
	cJSON *evs, *e;

	once_with_both_waiting(dir, first, 2);
	log = git_count_begin(dir);
	once_with_both_waiting(dir, second, 4);
	/* A branch a landing left (none without a push) is deleted by the
	 * supervisor without waiting for it: let that end. */
	for (int k = 3; k <= 4; k++) {
		char *ref = xasprintf("%s/.git/refs/heads/waved-issue/%d", repo, k);

		for (int tries = 0; tries < 100 && access(ref, F_OK) == 0; tries++)
			nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
		free(ref);
	}
	nanosleep(&(struct timespec){ 0, 200000000 }, NULL);
	git_count_end();
	git_seen_read(log, seen, 4);
	evs = events(dir);
	/* The merging one: its landed commit has two parents. */
	cJSON_ArrayForEach(e, evs) {
		const char *issue = cJSON_GetStringValue(cJSON_GetObjectItem(e, "issue"));
		const char *sha = cJSON_GetStringValue(cJSON_GetObjectItem(e, "sha"));
		struct strbuf out = { 0 };
		char *parent2;

		if (strcmp(name_of(e), "merged") != 0 || !issue || !sha || atoi(issue + 3) < 3)
			continue;
		parent2 = xasprintf("%s^2", sha);
		if (spawn_run((const char *[]){ "git", "rev-parse", "-q", "--verify", parent2, NULL },
		    repo, &out, 0) == 0)
			merged = atoi(issue + 3);
		strbuf_free(&out);
		free(parent2);
	}
	if (merged == 0)
		fatalx("bench: neither r0#3 nor r0#4 merged in %s", dir);
	ratio("git processes, warm merging issue", seen[merged].count, "", 8);
	printf("%-34s (%.1f ms of git: %s)\n", "", seen[merged].ms, seen[merged].commands.s);
	for (int k = 0; k < 5; k++)
		strbuf_free(&seen[k].commands);
	cJSON_Delete(evs);
	free(log);
	free(repo);
	free(second);
	free(dir);
}

/* One repo, cap 1, phases that do nothing: what is left is waved's own cost. */
void
bench_overhead(void)
{
	int n = 30;
	char *dir = scenario("overhead", 1, 1, "echo $WAVED_NUMBER > f.txt", NULL);
	char *path = xasprintf("%s/issues.json", dir);
	FILE *fp = fopen(path, "w");
	double gap = 0, start = 0;
	int ngap = 0, nstart = 0;
	int64_t last_done = 0, admitted = 0, first = 0;
	cJSON *evs, *e;

	fputs("[", fp);
	for (int k = 1; k <= n; k++)
		fprintf(fp, "%s{\"repo\":\"r0\",\"number\":%d,\"title\":\"t%d\"}", k > 1 ? "," : "", k, k);
	fputs("]\n", fp);
	fclose(fp);
	char *log = git_count_begin(dir);

	run_once(dir);
	git_count_end();
	evs = events(dir);
	cJSON_ArrayForEach(e, evs) {
		if (strcmp(name_of(e), "admitted") == 0) {
			admitted = ts_ms(e);
			if (!first)
				first = admitted;
			if (last_done) {
				gap += (double)(admitted - last_done);
				ngap++;
			}
		} else if (strcmp(name_of(e), "phase_start") == 0 && admitted) {
			start += (double)(ts_ms(e) - admitted);
			nstart++;
			admitted = 0;
		} else if (strcmp(name_of(e), "done") == 0)
			last_done = ts_ms(e);
	}
	ratio("done -> next admission (mean)", ngap ? gap / ngap : 0, "ms", 5);
	ratio("admission -> first phase (mean)", nstart ? start / nstart : 0, "ms", 5);
	printf("%-34s (a warm worktree: a spare moved and made exact, and the issue file)\n", "");
	double scripted = scripted_pipeline_ms(n);
	ratio("pipeline per issue / scripted git", (double)(last_done - first) / n / scripted, "x",
	    1.2);
	printf("%-34s (waved %.1f ms an issue, the same git commands in sh %.1f ms)\n", "",
	    (double)(last_done - first) / n, scripted);
	print_git_counts(log, evs, n);
	free(log);
	bench_merging_count();
	cJSON_Delete(evs);
	free(path);
	free(dir);
}

/* FILES files of about 4 KB in 100 folders, committed on main. */
static void
fill_repo(const char *repo, int files)
{
	char line[96];

	for (int k = 0; k < files; k++) {
		char *path = xasprintf("%s/src/d%02d/f%05d.txt", repo, k % 100, k);
		char *folder = xstrdup(path);
		FILE *fp;

		*strrchr(folder, '/') = '\0';
		mkdir_p(folder, 0755);
		if ((fp = fopen(path, "w")) == NULL)
			fatal("bench: %s", path);
		snprintf(line, sizeof(line), "file %05d: a line of a source file of a big repository\n", k);
		for (size_t n = 0; n < 4096; n += strlen(line))
			fputs(line, fp);
		fclose(fp);
		free(folder);
		free(path);
	}
	must((const char *[]){ "git", "add", "-A", NULL }, repo);
	must((const char *[]){ "git", "-c", "user.name=bench", "-c", "user.email=b@b", "commit",
	    "-qm", "a big tree", NULL }, repo);
}

/*
 * Warm worktrees on a big repo: 20,000 files (80 MB).  One `git worktree
 * add` of it, timed, against waved's admission -> first phase for the issues
 * that start in a spare (every one after the first).
 */
void
bench_warm(void)
{
	const int files = 20000, n = 5;
	char *dir = scenario("warm", 1, 1, "echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt", NULL);
	char *repo = xasprintf("%s/repos/r0", dir), *probe = xasprintf("%s/probe", dir);
	char *path = xasprintf("%s/issues.json", dir);
	FILE *fp;
	int64_t start, admitted = 0;
	double warm = 0, add_ms;
	int nwarm = 0, seen = 0;
	cJSON *evs, *e;

	fill_repo(repo, files);
	start = mono_ms();
	must((const char *[]){ "git", "worktree", "add", "-q", "--detach", probe, "main", NULL }, repo);
	add_ms = (double)(mono_ms() - start);
	must((const char *[]){ "git", "worktree", "remove", "--force", probe, NULL }, repo);
	if ((fp = fopen(path, "w")) == NULL)
		fatal("bench: %s", path);
	fputs("[", fp);
	for (int k = 1; k <= n; k++)
		fprintf(fp, "%s{\"repo\":\"r0\",\"number\":%d,\"title\":\"t%d\"}", k > 1 ? "," : "", k, k);
	fputs("]\n", fp);
	fclose(fp);
	run_once(dir);
	evs = events(dir);
	cJSON_ArrayForEach(e, evs) {
		if (strcmp(name_of(e), "admitted") == 0)
			admitted = ts_ms(e);
		else if (strcmp(name_of(e), "phase_start") == 0 && admitted) {
			if (seen++ > 0) {	/* the first issue finds no spare */
				warm += (double)(ts_ms(e) - admitted);
				nwarm++;
			}
			admitted = 0;
		}
	}
	if (nwarm != n - 1)
		fatalx("bench: %d warm starts, expected %d", nwarm, n - 1);
	ratio("warm start / git worktree add", warm / nwarm / add_ms, "x", 0.25);
	printf("%-34s (20,000 files: admission -> first phase %.0f ms warm, worktree add %.0f ms)\n",
	    "", warm / nwarm, add_ms);
	cJSON_Delete(evs);
	free(path);
	free(probe);
	free(repo);
	free(dir);
}

/*
 * 8 issues of one repo that all append to one file, pipelined (cap 2, the
 * repo slot released at review), with a resolver that keeps both sides: no
 * agent time may be lost to a sibling.  The figure does not depend on how
 * many conflicts the timing brings: each is resolved, and conflict_rounds
 * is as large as the number of siblings, so no attempt can run out.
 */
void
bench_conflicts(void)
{
	int n = 8;
	char *more = xasprintf("[waved]\nconflict_rounds = %d\n[phase \"review\"]\nrun = sleep 0.2\n"
	    "[phase \"resolve\"]\nrun = sed -i -e '/^<<<<<<< /d' -e '/^=======$/d' "
	    "-e '/^>>>>>>> /d' f.txt\n", n);
	char *dir = scenario("conflicts", 1, 2, "echo $WAVED_ISSUE >> f.txt", more);
	char *path = xasprintf("%s/issues.json", dir), *wavectl = xasprintf("%s/wavectl", bench_build);
	char *conf = xasprintf("%s/waved.conf", dir);
	FILE *fp = fopen(path, "w");
	struct strbuf out = { 0 };
	cJSON *sum, *evs, *e;
	int resolved = 0, attempts = 0;

	fputs("[", fp);
	for (int k = 1; k <= n; k++)
		fprintf(fp, "%s{\"repo\":\"r0\",\"number\":%d,\"title\":\"c%d\"}", k > 1 ? "," : "", k, k);
	fputs("]\n", fp);
	fclose(fp);
	run_once(dir);
	if (spawn_run((const char *[]){ wavectl, "-c", conf, "summary", "--json", NULL }, dir, &out,
	    0) != 0 || (sum = cJSON_Parse(out.s)) == NULL)
		fatalx("bench: wavectl summary failed in %s", dir);
	evs = events(dir);
	cJSON_ArrayForEach(e, evs)
		resolved += strcmp(name_of(e), "conflict_resolved") == 0;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(sum, "issues"))
		attempts += (int)cJSON_GetNumberValue(cJSON_GetObjectItem(e, "attempts"));
	double agent = cJSON_GetNumberValue(cJSON_GetObjectItem(sum, "agent_ms"));
	double wasted = cJSON_GetNumberValue(cJSON_GetObjectItem(sum, "wasted_ms"));
	printf("%-34s %9.3f     target   0.000     (%d conflicts resolved by the agent)\n",
	    "conflicts: wasted / agent time", agent > 0 ? wasted / agent : 0, resolved);
	printf("%-34s %9.2f     target   1.00      ratio %.3f\n", "conflicts: attempts per issue",
	    (double)attempts / n, (double)attempts / n);
	if (wasted > 0 || attempts != n)
		fatalx("bench: agent work was lost to a conflict");
	cJSON_Delete(evs);
	cJSON_Delete(sum);
	strbuf_free(&out);
	free(conf);
	free(wavectl);
	free(path);
	free(dir);
	free(more);
}

/* The workloads in the order they print. */
static const struct {
	const char *name;
	void (*run)(void);
} workloads[] = {
	{ "overhead", bench_overhead },
	{ "warm", bench_warm },
	{ "makespan", bench_makespan },
	{ "history", bench_history },
	{ "conflicts", bench_conflicts },
	{ "memory", bench_memory },
	{ "cluster", bench_cluster_workers },
};

int
main(int argc, char **argv)
{
	char tmpl[] = "/tmp/waved-bench-run.XXXXXX";
	int ran = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: bench-run BUILD_DIR [WORKLOAD...]\n");
		return 2;
	}
	log_init("bench-run", true, 0);
	bench_build = argv[1];
	if ((bench_root = mkdtemp(tmpl)) == NULL)
		fatal("mkdtemp");
	for (size_t k = 0; k < ARRAY_LEN(workloads); k++) {
		bool wanted = argc == 2;

		for (int a = 2; a < argc; a++)
			wanted = wanted || strcmp(argv[a], workloads[k].name) == 0;
		if (wanted) {
			workloads[k].run();
			ran++;
		}
	}
	/* WAVED_BENCH_KEEP=1 keeps the scenarios (their events, logs, repos) to look at. */
	if (getenv("WAVED_BENCH_KEEP"))
		fprintf(stderr, "bench: kept %s\n", bench_root);
	else
		remove_tree(bench_root);
	if (ran == 0)
		fatalx("bench: no such workload");
	return 0;
}
