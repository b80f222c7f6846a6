/*
 * Benchmark driver for the planner (DESIGN.md section 15): builds a random
 * DAG of N issues across R repos with E dependency edges, plans it in
 * process, then writes the same graph as a config and issues file and runs
 * the real `wavectl plan --json` on it.  Prints each figure with its target
 * and their ratio (below 1 meets the target).
 *
 * usage: bench-plan ISSUES REPOS EDGES OUTDIR WAVECTL
 */
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "common/plan.h"

/* xorshift: the same graph every run. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
generate(struct issue_list *l, long n, long repos, long edges)
{
	for (long i = 0; i < n; i++) {
		struct issue_spec *s = issue_list_add(l);

		snprintf(s->repo, sizeof(s->repo), "repo%ld", i % repos);
		s->number = i / repos + 1;
		s->title = xasprintf("issue %ld", i);
		s->body = xstrdup("");
		s->created = i;
	}
	/* Edges only from later to earlier issues: a DAG, as real backlogs are. */
	for (long e = 0; e < edges; e++) {
		long to = 1 + (long)(next_random() % (uint64_t)(n - 1));
		long from = (long)(next_random() % (uint64_t)to);
		struct issue_spec *s = &l->v[to];

		issue_spec_add_dep(s, l->v[from].repo, l->v[from].number);
	}
}

static void
write_scenario(const struct issue_list *l, long repos, const char *dir)
{
	char *path = xasprintf("%s/issues.json", dir);
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		fatal("%s", path);
	fputs("[\n", fp);
	for (size_t i = 0; i < l->n; i++) {
		const struct issue_spec *s = &l->v[i];

		fprintf(fp, "{\"repo\":\"%s\",\"number\":%ld,\"title\":\"%s\",\"depends_on\":[",
		    s->repo, s->number, s->title);
		for (size_t k = 0; k < s->ndeps; k++)
			fprintf(fp, "%s\"%s#%ld\"", k ? "," : "", s->deps[k].repo, s->deps[k].number);
		fprintf(fp, "]}%s\n", i + 1 < l->n ? "," : "");
	}
	fputs("]\n", fp);
	fclose(fp);
	free(path);
	path = xasprintf("%s/waved.conf", dir);
	if ((fp = fopen(path, "w")) == NULL)
		fatal("%s", path);
	fprintf(fp, "[source]\npath = issues.json\n[phase \"implement\"]\nrun = true\n");
	for (long r = 0; r < repos; r++)
		fprintf(fp, "[repo \"repo%ld\"]\npath = repos/repo%ld\n", r, r);
	fclose(fp);
	free(path);
}

#define PLAN_TARGET_MS 100.0

static double
elapsed_ms(const struct timespec *t0, const struct timespec *t1)
{
	return (t1->tv_sec - t0->tv_sec) * 1e3 + (t1->tv_nsec - t0->tv_nsec) / 1e6;
}

/* The planner alone, best of five runs: its cost, not the machine's noise. */
static void
bench_in_process(const struct issue_list *issues)
{
	double best = 1e9;
	struct plan *p;

	for (int run = 0; run < 5; run++) {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		p = plan_build(issues, NULL, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (elapsed_ms(&t0, &t1) < best)
			best = elapsed_ms(&t0, &t1);
		if (run < 4)
			plan_free(p);
	}
	printf("plan (in process):      %8.2f ms   target %5.0f ms   ratio %.3f   (%zu waves, %zu blocked)\n",
	    best, PLAN_TARGET_MS, best / PLAN_TARGET_MS, plan_wave_count(p), plan_blocked_count(p));
	plan_free(p);
}

/* The real command: read config and issues file, plan, print JSON. */
static void
bench_wavectl(const char *wavectl, const char *dir)
{
	char *conf = xasprintf("%s/waved.conf", dir);
	struct timespec t0, t1;
	struct rusage ru;
	int status;
	pid_t pid;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((pid = fork()) == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, STDOUT_FILENO);
		execl(wavectl, "wavectl", "-c", conf, "plan", "--json", (char *)NULL);
		_exit(127);
	}
	if (pid == -1 || wait4(pid, &status, 0, &ru) == -1)
		fatal("run %s", wavectl);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
		fatalx("wavectl plan failed with status %d", status);
	printf("wavectl plan --json:    %8.2f ms   target %5.0f ms   ratio %.3f   (whole command)\n",
	    elapsed_ms(&t0, &t1), PLAN_TARGET_MS, elapsed_ms(&t0, &t1) / PLAN_TARGET_MS);
	printf("wavectl plan peak RSS:  %8.1f MiB\n", ru.ru_maxrss / 1024.0);
	free(conf);
}

int
main(int argc, char **argv)
{
	struct issue_list issues = { 0 };
	long n, repos, edges;

	if (argc != 6 || (n = atol(argv[1])) < 2 || (repos = atol(argv[2])) < 1 ||
	    (edges = atol(argv[3])) < 0) {
		fprintf(stderr, "usage: bench-plan ISSUES REPOS EDGES OUTDIR WAVECTL\n");
		return 2;
	}
	generate(&issues, n, repos, edges);
	write_scenario(&issues, repos, argv[4]);
	printf("plan: %ld issues, %ld repos, %ld edges\n", n, repos, edges);
	bench_in_process(&issues);
	bench_wavectl(argv[5], argv[4]);
	issue_list_clear(&issues);
	return 0;
}
