/*
 * Benchmark driver for the supervisor (DESIGN.md section 15), on the real
 * waved with real git repositories:
 *   - per-issue overhead: from an issue's done to the next admission, and
 *     from admission to its first phase (fork, worktree, issue file);
 *   - makespan of a DAG workload against its lower bound
 *     max(critical path, busiest repo's serial work, total work / cap);
 *   - agent work lost to merge conflicts that an agent can resolve (target 0);
 *   - the supervisor's resident memory with 10,000 issues queued;
 *   - with the cluster runner, the supervisor and 64 workers waiting on srun.
 * Each figure is printed with its target and their ratio (below 1 meets it;
 * for the makespan, 1.05 is the target ratio).
 *
 * usage: bench-run BUILD_DIR
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcntl.h>

#include <cJSON.h>

#include "common/log.h"
#include "common/spawn.h"
#include "common/util.h"

static const char *build;
static char *root;

static void
must(const char *const argv[], const char *cwd)
{
	if (spawn_run(argv, cwd, NULL, 0) != 0)
		fatalx("bench: %s %s failed", argv[0], argv[1]);
}

static char *
make_repo(const char *dir, const char *name)
{
	char *path = xasprintf("%s/repos/%s", dir, name), *readme = xasprintf("%s/README", path);
	FILE *fp;

	mkdir_p(path, 0755);
	must((const char *[]){ "git", "init", "-q", "-b", "main", path, NULL }, NULL);
	fp = fopen(readme, "w");
	fputs("bench\n", fp);
	fclose(fp);
	must((const char *[]){ "git", "add", "README", NULL }, path);
	must((const char *[]){ "git", "-c", "user.name=bench", "-c", "user.email=b@b", "commit",
	    "-qm", "seed", NULL }, path);
	free(readme);
	return path;
}

/* A scenario folder with its config (more: further keys and sections); repos named r0..r(n-1). */
static char *
scenario(const char *name, int repos, int cap, const char *implement, const char *more)
{
	char *dir = xasprintf("%s/%s", root, name), *conf = xasprintf("%s/waved.conf", dir);
	FILE *fp;

	mkdir_p(dir, 0755);
	fp = fopen(conf, "w");
	fprintf(fp, "[waved]\nstate_dir = state\ncap = %d\nretry_backoff = 0\npoll_interval = 3600\n"
	    "[source]\npath = issues.json\n[phase \"implement\"]\nrun = %s\n%s", cap, implement,
	    more ? more : "");
	for (int r = 0; r < repos; r++) {
		char repo[16];

		snprintf(repo, sizeof(repo), "r%d", r);
		free(make_repo(dir, repo));
		fprintf(fp, "[repo \"%s\"]\npath = repos/%s\n", repo, repo);
	}
	fclose(fp);
	free(conf);
	return dir;
}

static void
run_once(const char *dir)
{
	char *waved = xasprintf("%s/waved", build), *conf = xasprintf("%s/waved.conf", dir);

	if (spawn_run((const char *[]){ waved, "--once", "-c", conf, NULL }, dir, NULL, 0) != 0)
		fatalx("bench: waved --once failed in %s", dir);
	free(waved);
	free(conf);
}

static int64_t
ts_ms(const cJSON *e)
{
	const char *ts = cJSON_GetStringValue(cJSON_GetObjectItem(e, "ts"));
	struct tm tm = { 0 };
	int ms = 0;

	sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

static cJSON *
events(const char *dir)
{
	char *path = xasprintf("%s/state/events.ndjson", dir), *text = read_file(path, NULL);
	cJSON *arr = cJSON_CreateArray();

	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		cJSON_AddItemToArray(arr, cJSON_Parse(line));
	free(text);
	free(path);
	return arr;
}

static const char *
name_of(const cJSON *e)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(e, "event"));
}

static void
ratio(const char *what, double value, const char *unit, double target)
{
	printf("%-34s %9.2f %-3s target %7.2f %-3s ratio %.3f\n", what, value, unit, target, unit,
	    value / target);
}

/*
 * The git commands waved runs for one issue on the warm path (prepare from
 * a spare, commit what the phase left, land by fast-forward, park), in a
 * plain sh loop: the floor that waved's own pipeline is measured against.
 */
static const char scripted_issues[] =
    "set -e\n"
    "repo=$1 wts=$2 n=$3 k=1\n"
    "ident='-c user.name=waved -c user.email=waved@localhost -c commit.gpgsign=false'\n"
    "git -C \"$repo\" branch -q --no-track waved main\n"
    "while [ $k -le $n ]; do\n"
    "  wt=$wts/$k\n"
    "  base=$(git -C \"$repo\" rev-parse --verify -q --end-of-options refs/heads/waved)\n"
    "  if [ -d \"$wts/.spare/0\" ]; then\n"
    "    git -C \"$repo\" worktree move \"$wts/.spare/0\" \"$wt\"\n"
    "    git -C \"$wt\" checkout -q -f -B waved-issue/$k \"$base\"\n"
    "    git -C \"$wt\" clean -q -fd\n"
    "  else\n"
    "    mkdir -p \"$wts/.spare\"\n"
    "    git -C \"$repo\" worktree add -q -B waved-issue/$k \"$wt\" \"$base\"\n"
    "  fi\n"
    "  (cd \"$wt\" && WAVED_NUMBER=$k /bin/sh -c 'echo $WAVED_NUMBER > f.txt')\n"
    "  git -C \"$wt\" add -A\n"
    "  git -C \"$wt\" diff --cached --quiet || git -C \"$wt\" $ident -c maintenance.auto=false "
    "commit -q --no-verify -m \"t$k (r0#$k)\"\n"
    "  head=$(git -C \"$wt\" rev-parse --verify -q --end-of-options HEAD)\n"
    "  if git -C \"$wt\" merge-base --is-ancestor \"$head\" \"$base\"; then exit 1; fi\n"
    "  set -- $(git -C \"$repo\" rev-parse refs/heads/waved refs/heads/waved-issue/$k)\n"
    "  tip=$1\n"
    "  mb=$(git -C \"$repo\" merge-base \"$tip\" \"$head\")\n"
    "  [ \"$mb\" = \"$tip\" ]\n"
    "  git -C \"$repo\" update-ref -m 'waved: merge' refs/heads/waved \"$head\" \"$tip\"\n"
    "  git -C \"$wt\" checkout -q --detach\n"
    "  git -C \"$repo\" worktree move \"$wt\" \"$wts/.spare/0\"\n"
    "  git -C \"$repo\" branch -q -D -- waved-issue/$k\n"
    "  k=$((k + 1))\n"
    "done\n";

/* Milliseconds per issue of scripted_issues over n issues on a fresh repo. */
static double
scripted_pipeline_ms(int n)
{
	char *dir = xasprintf("%s/scripted", root), *repo, *wts = xasprintf("%s/worktrees", dir);
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

/* One repo, cap 1, phases that do nothing: what is left is waved's own cost. */
static void
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
	run_once(dir);
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
	cJSON_Delete(evs);
	free(path);
	free(dir);
}

/*
 * 4 repos, 12 issues of 1 s each, cap 4: chains across repos and a busy repo.
 * Lower bound = max(critical path, busiest repo, total / cap).
 */
static void
bench_makespan(void)
{
	static const struct { int repo, number; const char *deps; } dag[] = {
		{ 0, 1, "" }, { 0, 2, "\"#1\"" }, { 0, 3, "\"#2\"" }, { 0, 4, "" },
		{ 1, 1, "\"r0#1\"" }, { 1, 2, "\"#1\"" }, { 2, 1, "" }, { 2, 2, "\"r1#1\"" },
		{ 3, 1, "" }, { 3, 2, "" }, { 1, 3, "" }, { 2, 3, "" },
	};
	const double unit_s = 1.0;
	/* Each issue its own file: this figure is about scheduling, not conflicts. */
	char *dir = scenario("makespan", 4, 4, "echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt; sleep 1",
	    NULL);
	char *path = xasprintf("%s/issues.json", dir);
	FILE *fp = fopen(path, "w");
	int per_repo[4] = { 0 }, busiest = 0;
	int64_t first = 0, last = 0;
	cJSON *evs, *e;

	fputs("[", fp);
	for (size_t k = 0; k < ARRAY_LEN(dag); k++) {
		fprintf(fp, "%s{\"repo\":\"r%d\",\"number\":%d,\"title\":\"w\",\"depends_on\":[%s]}",
		    k ? "," : "", dag[k].repo, dag[k].number, dag[k].deps);
		if (++per_repo[dag[k].repo] > busiest)
			busiest = per_repo[dag[k].repo];
	}
	fputs("]\n", fp);
	fclose(fp);
	run_once(dir);
	evs = events(dir);
	cJSON_ArrayForEach(e, evs) {
		if (strcmp(name_of(e), "admitted") == 0 && !first)
			first = ts_ms(e);
		if (strcmp(name_of(e), "done") == 0)
			last = ts_ms(e);
	}
	/* Critical path r0#1 -> r0#2 -> r0#3 (3 units; r1/r2 chains are 3 too); busiest repo: r0, 4 units. */
	double bound = unit_s * busiest;
	if (unit_s * 3 > bound)
		bound = unit_s * 3;
	if (unit_s * ARRAY_LEN(dag) / 4 > bound)
		bound = unit_s * ARRAY_LEN(dag) / 4;
	printf("%-34s %9.2f s   lower bound %5.2f s   ratio %.3f (target 1.05)\n",
	    "makespan of a 12-issue DAG", (double)(last - first) / 1000, bound,
	    (double)(last - first) / 1000 / bound);
	cJSON_Delete(evs);
	free(path);
	free(dir);
}

/*
 * 8 issues of one repo that all append to one file, pipelined (cap 2, the
 * repo slot released at review), with a resolver that keeps both sides: no
 * agent time may be lost to a sibling.  The figure does not depend on how
 * many conflicts the timing brings: each is resolved, and conflict_rounds
 * is as large as the number of siblings, so no attempt can run out.
 */
static void
bench_conflicts(void)
{
	int n = 8;
	char *more = xasprintf("[waved]\nconflict_rounds = %d\n[phase \"review\"]\nrun = sleep 0.2\n"
	    "[phase \"resolve\"]\nrun = sed -i -e '/^<<<<<<< /d' -e '/^=======$/d' "
	    "-e '/^>>>>>>> /d' f.txt\n", n);
	char *dir = scenario("conflicts", 1, 2, "echo $WAVED_ISSUE >> f.txt", more);
	char *path = xasprintf("%s/issues.json", dir), *wavectl = xasprintf("%s/wavectl", build);
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

static pid_t
start_daemon(const char *dir)
{
	char *waved = xasprintf("%s/waved", build), *conf = xasprintf("%s/waved.conf", dir);
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		if (chdir(dir) == -1)
			_exit(127);
		execl(waved, "waved", "-f", "-c", conf, (char *)NULL);
		_exit(127);
	}
	free(waved);
	free(conf);
	return pid;
}

/* Poll the events until count of name (60 s at most, then the bench fails). */
static void
await_events(const char *dir, const char *name, int count)
{
	char *path = xasprintf("%s/state/events.ndjson", dir);
	char *needle = xasprintf("\"event\":\"%s\"", name);

	for (int tries = 0; tries < 600; tries++) {
		char *text = read_file(path, NULL);
		int seen = 0;

		for (char *p = text; p && (p = strstr(p, needle)) != NULL; p++)
			seen++;
		free(text);
		if (seen >= count) {
			free(needle);
			free(path);
			return;
		}
		nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
	}
	fatalx("bench: %d %s events did not come within 60 s in %s", count, name, dir);
}

/* A field of /proc/PID/FILE in KiB ("Pss:", "VmRSS:"), or 0. */
static long
proc_kib(pid_t pid, const char *file, const char *field)
{
	char *path = xasprintf("/proc/%d/%s", (int)pid, file), *text = read_file(path, NULL);
	char *at = text ? strstr(text, field) : NULL;
	long kib = at ? strtol(at + strlen(field), NULL, 10) : 0;

	free(text);
	free(path);
	return kib;
}

/* The children of parent, into pids (at most max); how many. */
static size_t
children_of(pid_t parent, pid_t *pids, size_t max)
{
	char *path = xasprintf("/proc/%d/task/%d/children", (int)parent, (int)parent);
	char *text = read_file(path, NULL);
	size_t n = 0;

	for (char *p = text; p && *p && n < max; ) {
		char *end;
		long pid = strtol(p, &end, 10);

		if (end == p)
			break;
		pids[n++] = (pid_t)pid;
		p = end;
	}
	free(text);
	free(path);
	return n;
}

/* 10,000 issues over 10 repos, one slow one in flight: the supervisor's RSS. */
static void
bench_memory(void)
{
	char *dir = scenario("memory", 10, 1, "sleep 600", NULL);
	char *path = xasprintf("%s/issues.json", dir), *conf = xasprintf("%s/waved.conf", dir);
	FILE *fp = fopen(path, "w");
	pid_t pid;

	fputs("[", fp);
	for (int k = 0; k < 10000; k++)
		fprintf(fp, "%s{\"repo\":\"r%d\",\"number\":%d,\"title\":\"issue %d\",\"body\":\"%s\"%s}",
		    k ? "," : "", k % 10, k / 10 + 1, k, "A body of a typical length for an issue.",
		    k >= 10 ? ",\"depends_on\":[\"#1\"]" : "");
	fputs("]\n", fp);
	fclose(fp);
	pid = start_daemon(dir);
	/* The first admission: every issue is loaded, planned and queued by then;
	 * then a moment for the loop to settle into its steady state. */
	await_events(dir, "admitted", 1);
	nanosleep(&(struct timespec){ 1, 0 }, NULL);
	long rss_kib = proc_kib(pid, "status", "VmRSS:");
	long anon_kib = proc_kib(pid, "status", "RssAnon:");
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	ratio("supervisor RSS, 10,000 queued", rss_kib / 1024.0, "MiB", 16);
	printf("%-34s (of which its own heap and stacks %.2f MiB; the rest is shared libraries)\n",
	    "", anon_kib / 1024.0);
	free(conf);
	free(path);
	free(dir);
}

/*
 * The cluster runner: cap 64, 64 issues whose phases wait on srun (on the
 * private cluster scripts/bench starts as root, else on a stand-in), and the
 * memory of the supervisor and its 64 workers together.  Workers are forked
 * from the supervisor and share its pages, so the total is their PSS (each
 * shared page counted once), the memory they take from the machine.
 */
static void
bench_cluster_workers(void)
{
	const int n = 64;
	const char *cluster = getenv("WAVED_SLURM_CONF");
	char *more = xasprintf("[runner]\ntype = slurm\n%s%s%s", cluster ? "" : "srun = ",
	    cluster ? "" : getenv("WAVED_BENCH_SRUN"), cluster ? "" : "\n");
	char *dir = scenario("cluster", n, n, "sleep 600", more);
	char *path = xasprintf("%s/issues.json", dir);
	FILE *fp = fopen(path, "w");
	pid_t pid, kids[256];
	long total = 0, srun = 0;
	size_t nkids, workers = 0;

	if (cluster)
		setenv("SLURM_CONF", cluster, 1);
	fputs("[", fp);
	for (int k = 0; k < n; k++)
		fprintf(fp, "%s{\"repo\":\"r%d\",\"number\":1,\"title\":\"t\"}", k ? "," : "", k);
	fputs("]\n", fp);
	fclose(fp);
	pid = start_daemon(dir);
	await_events(dir, "phase_start", n);
	nanosleep(&(struct timespec){ 1, 0 }, NULL);
	total = proc_kib(pid, "smaps_rollup", "Pss:");
	nkids = children_of(pid, kids, ARRAY_LEN(kids));
	for (size_t k = 0; k < nkids; k++) {
		pid_t grandkids[4];
		size_t ng = children_of(kids[k], grandkids, ARRAY_LEN(grandkids));

		/* A worker is a child with a phase (srun) of its own. */
		if (ng == 0)
			continue;
		workers++;
		total += proc_kib(kids[k], "smaps_rollup", "Pss:");
		for (size_t g = 0; g < ng; g++)
			srun += proc_kib(grandkids[g], "smaps_rollup", "Pss:");
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	if (workers != (size_t)n)
		fatalx("bench: %zu workers waiting on srun, expected %d", workers, n);
	ratio("supervisor + 64 workers on srun", total / 1024.0, "MiB", 64);
	printf("%-34s (PSS; srun itself, Slurm's client, %.1f MiB more; %s)\n", "", srun / 1024.0,
	    cluster ? "a private Slurm cluster" : "a stand-in for srun: not root");
	free(path);
	free(dir);
	free(more);
}

int
main(int argc, char **argv)
{
	char tmpl[] = "/tmp/waved-bench-run.XXXXXX";

	if (argc != 2) {
		fprintf(stderr, "usage: bench-run BUILD_DIR\n");
		return 2;
	}
	log_init("bench-run", true, 0);
	build = argv[1];
	if ((root = mkdtemp(tmpl)) == NULL)
		fatal("mkdtemp");
	bench_overhead();
	bench_makespan();
	bench_conflicts();
	bench_memory();
	bench_cluster_workers();
	remove_tree(root);
	return 0;
}
