/*
 * make bench: the makespan of a DAG.  96 issues over 12 repos, cap 4, agent
 * phases of 0.2 to 2 s (a fixed seed: the same DAG every run), about a third
 * of them depending on an issue of another repo; and the same DAG where each
 * repo's issues take what a recorded history says they took (bench_history).  waved's makespan is set
 * against the lower bound max(critical path, busiest repo's serial work,
 * total work / cap), against the same rule (critical-path priority, one at a
 * time per repo) simulated with no overhead at all, and against make -j4
 * running the same DAG with a flock per repo.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/spawn.h"
#include "scripts/bench.h"

#define REPOS 12
#define PER_REPO 8
#define ISSUES (REPOS * PER_REPO)
#define CAP 4
#define DAG_SEED (0x9E3779B97F4A7C15ULL + 8)

struct dag_issue {
	int repo, number;
	double seconds;
	int dep;		/* index of the issue it depends on, or -1 */
};

static uint64_t
next_random(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Layer by layer (one issue of each repo a layer), a dependency on the layer before. */
static void
make_dag(struct dag_issue *v)
{
	uint64_t x = DAG_SEED;

	for (int i = 0; i < ISSUES; i++) {
		v[i] = (struct dag_issue){ .repo = i % REPOS, .number = i / REPOS + 1, .dep = -1 };
		v[i].seconds = (double)(2 + next_random(&x) % 19) / 10;
		if (i >= REPOS && next_random(&x) % 100 < 35) {
			int j = i - REPOS - (int)(next_random(&x) % REPOS);

			if (j >= 0 && v[j].repo != v[i].repo)
				v[i].dep = j;
		}
	}
}

/* The n-th issue as a backlog lists them: repo by repo, by number. */
static int
backlog_order(int n)
{
	return (n % PER_REPO) * REPOS + n / PER_REPO;
}

static double
lower_bound(const struct dag_issue *v)
{
	double finish[ISSUES], repo[REPOS] = { 0 }, total = 0, bound = 0;

	for (int i = 0; i < ISSUES; i++) {
		finish[i] = v[i].seconds + (v[i].dep >= 0 ? finish[v[i].dep] : 0);
		repo[v[i].repo] += v[i].seconds;
		total += v[i].seconds;
		bound = finish[i] > bound ? finish[i] : bound;
	}
	for (int r = 0; r < REPOS; r++)
		bound = repo[r] > bound ? repo[r] : bound;
	return total / CAP > bound ? total / CAP : bound;
}

/* A ready issue: its dependency is done by now, it has not started. */
static bool
is_ready(const struct dag_issue *v, const double *done, const bool *started, int i, double now)
{
	return !started[i] && (v[i].dep < 0 || (done[v[i].dep] >= 0 && done[v[i].dep] <= now));
}

/* Its priority: the longer of its chain of dependents and what its repo has
 * not started yet (a repo runs one at a time: a chain of its own). */
static double
priority_of(const struct dag_issue *v, const double *chain, const bool *started, int i,
    bool by_time)
{
	double repo = 0;

	for (int j = 0; j < ISSUES; j++)
		if (v[j].repo == v[i].repo && !started[j])
			repo += by_time ? v[j].seconds : 1;
	return chain[i] > repo ? chain[i] : repo;
}

/* waved's rule with no overhead: ready issues by critical path (the longer
 * of its chain of dependents and its repo's chain; in issues, or with
 * by_time in expected seconds, DESIGN.md section 15), then the longer chain
 * of dependents, then the repo with more ready, then backlog order; one at
 * a time per repo; at most CAP. */
static double
simulate(const struct dag_issue *v, bool by_time)
{
	double prio[ISSUES], chain[ISSUES];
	int running = 0;
	double done[ISSUES], end[ISSUES], now = 0;
	bool started[ISSUES] = { false }, busy[REPOS] = { false };

	for (int i = ISSUES - 1; i >= 0; i--) {
		double own = by_time ? v[i].seconds : 1;

		chain[i] = own;
		for (int c = i + 1; c < ISSUES; c++)
			if (v[c].dep == i && chain[c] + own > chain[i])
				chain[i] = chain[c] + own;
	}
	for (int i = 0; i < ISSUES; i++)
		done[i] = -1;
	for (int finished = 0; finished < ISSUES; ) {
		for (;;) {
			int ready[REPOS] = { 0 }, best = -1;

			for (int i = 0; i < ISSUES; i++) {
				ready[v[i].repo] += is_ready(v, done, started, i, now);
				prio[i] = priority_of(v, chain, started, i, by_time);
			}
			for (int n = 0; n < ISSUES && running < CAP; n++) {
				int i = backlog_order(n);

				if (!is_ready(v, done, started, i, now) || busy[v[i].repo])
					continue;
				if (best < 0 || prio[i] > prio[best] || (prio[i] == prio[best] &&
				    (chain[i] > chain[best] || (chain[i] == chain[best] &&
				    ready[v[i].repo] > ready[v[best].repo]))))
					best = i;
			}
			if (best < 0)
				break;
			started[best] = busy[v[best].repo] = true;
			end[best] = now + v[best].seconds;
			running++;
		}
		int next = -1;

		for (int i = 0; i < ISSUES; i++)
			if (started[i] && done[i] < 0 && (next < 0 || end[i] < end[next]))
				next = i;
		now = end[next];
		done[next] = now;
		busy[v[next].repo] = false;
		running--;
		finished++;
	}
	return now;
}

static void
write_durations(const char *dir, const struct dag_issue *v)
{
	char *folder = xasprintf("%s/durations", dir);

	mkdir_p(folder, 0755);
	for (int i = 0; i < ISSUES; i++) {
		char *name = xasprintf("%s/r%d-%d", folder, v[i].repo, v[i].number);
		FILE *fp = fopen(name, "w");

		if (fp == NULL)
			fatal("bench: %s", name);
		fprintf(fp, "%.1f\n", v[i].seconds);
		fclose(fp);
		free(name);
	}
	free(folder);
}

/* The recorded history: HISTORY_PER_REPO past issues of each repo, numbered
 * from HISTORY_NUMBER, each as long as the repo's issues are (two alike
 * attempts in each of twelve repos show that a repo's issues take what
 * they take, expect.h). */
#define HISTORY_NUMBER 100
#define HISTORY_PER_REPO 2

static void
write_history(const char *dir, const double *history)
{
	char *folder = xasprintf("%s/durations", dir);

	mkdir_p(folder, 0755);
	for (int r = 0; r < REPOS; r++)
		for (int k = 0; k < HISTORY_PER_REPO; k++) {
			char *name = xasprintf("%s/r%d-%d", folder, r, HISTORY_NUMBER + k);
			FILE *fp = fopen(name, "w");

			if (fp == NULL)
				fatal("bench: %s", name);
			fprintf(fp, "%.1f\n", history[r]);
			fclose(fp);
			free(name);
		}
	free(folder);
}

/* waved --once on the DAG (after the history, when there is one): from its
 * first admission to its last landing, in seconds. */
static double
waved_makespan(const char *name, const struct dag_issue *v, const double *history)
{
	/* The agent only sleeps, with no process of its own beyond sleep: what
	 * the bound leaves out is waved's (make -j4's rule sleeps as directly). */
	char *implement = xasprintf("read d < %s/%s/durations/$WAVED_REPO-$WAVED_NUMBER; sleep $d; "
	    "echo $WAVED_NUMBER > f-$WAVED_NUMBER.txt", bench_root, name);
	char *dir = scenario(name, REPOS, CAP, implement, NULL);
	char *path = xasprintf("%s/issues.json", dir);
	FILE *fp;
	int64_t first = 0, last = 0;
	cJSON *evs, *e;

	write_durations(dir, v);
	if (history) {
		/* The past, run first on the same state: the store holds what each repo took. */
		write_history(dir, history);
		if ((fp = fopen(path, "w")) == NULL)
			fatal("bench: %s", path);
		fputs("[", fp);
		for (int n = 0; n < REPOS * HISTORY_PER_REPO; n++)
			fprintf(fp, "%s{\"repo\":\"r%d\",\"number\":%d,\"title\":\"h\"}", n ? "," : "",
			    n % REPOS, HISTORY_NUMBER + n / REPOS);
		fputs("]\n", fp);
		fclose(fp);
		run_once(dir);
	}
	if ((fp = fopen(path, "w")) == NULL)
		fatal("bench: %s", path);
	fputs("[", fp);
	for (int n = 0; n < ISSUES; n++) {
		int i = backlog_order(n);

		fprintf(fp, "%s{\"repo\":\"r%d\",\"number\":%d,\"title\":\"w\"", n ? "," : "", v[i].repo,
		    v[i].number);
		if (v[i].dep >= 0)
			fprintf(fp, ",\"depends_on\":[\"r%d#%d\"]", v[v[i].dep].repo, v[v[i].dep].number);
		fputs("}", fp);
	}
	fputs("]\n", fp);
	fclose(fp);
	run_once(dir);
	evs = events(dir);
	cJSON_ArrayForEach(e, evs) {
		const char *issue = cJSON_GetStringValue(cJSON_GetObjectItem(e, "issue"));
		const char *hash = issue ? strchr(issue, '#') : NULL;

		if (hash == NULL || atoi(hash + 1) >= HISTORY_NUMBER)
			continue;
		if (strcmp(name_of(e), "admitted") == 0 && !first)
			first = ts_ms(e);
		if (strcmp(name_of(e), "done") == 0)
			last = ts_ms(e);
	}
	cJSON_Delete(evs);
	free(path);
	free(dir);
	free(implement);
	return (double)(last - first) / 1000;
}

/* The same DAG as a Makefile: a target per issue, a flock per repo. */
static double
make_makespan(const char *name, const struct dag_issue *v)
{
	char *dir = xasprintf("%s/make-%s", bench_root, name), *path = xasprintf("%s/Makefile", dir);
	FILE *fp;
	int64_t start;

	mkdir_p(dir, 0755);
	if ((fp = fopen(path, "w")) == NULL)
		fatal("bench: %s", path);
	fputs("all:", fp);
	for (int n = 0; n < ISSUES; n++)
		fprintf(fp, " r%d-%d", v[backlog_order(n)].repo, v[backlog_order(n)].number);
	fputs("\n", fp);
	for (int i = 0; i < ISSUES; i++) {
		fprintf(fp, "r%d-%d:", v[i].repo, v[i].number);
		if (v[i].dep >= 0)
			fprintf(fp, " r%d-%d", v[v[i].dep].repo, v[v[i].dep].number);
		fprintf(fp, "\n\tflock lock-r%d sleep %.1f\n\ttouch $@\n", v[i].repo, v[i].seconds);
	}
	fclose(fp);
	start = mono_ms();
	if (spawn_run((const char *[]){ "make", "-s", "-j4", NULL }, dir, NULL, 0) != 0)
		fatalx("bench: make -j4 failed in %s", dir);
	free(path);
	free(dir);
	return (double)(mono_ms() - start) / 1000;
}

/* A workload's three figures against its lower bound, from the same run. */
static void
print_makespan(const char *what, const struct dag_issue *v, double waved, double make,
    double ideal, double target)
{
	double bound = lower_bound(v);

	printf("%-34s %9.2f s   lower bound %5.2f s   ratio %.3f (target %.2f)\n", what, waved,
	    bound, waved / bound, target);
	printf("%-34s %9.2f s   make -j4 with a flock per repo: ratio %.3f (waved %s)\n", "", make,
	    make / bound, waved < make ? "ahead" : "BEHIND");
	printf("%-34s %9.2f s   the same rule with no overhead: ratio %.3f\n", "", ideal,
	    ideal / bound);
}

void
bench_makespan(void)
{
	struct dag_issue v[ISSUES];

	make_dag(v);
	double ideal = simulate(v, false);
	double waved = waved_makespan("makespan", v, NULL), make = make_makespan("short", v);

	print_makespan("makespan, 96 issues, 12 repos, cap 4", v, waved, make, ideal, 1.05);
}

/*
 * Durations known: each repo's issues take what its issues took before (a
 * recorded history of two issues per repo, run first on the same state, so
 * that waved's store holds it), the same DAG shape otherwise.  The rule
 * simulated is the critical path in expected time (DESIGN.md section 15).
 */
void
bench_history(void)
{
	/* Seconds an issue of each repo took, as recorded. */
	static const double history[REPOS] = {
		1.6, 0.4, 1.1, 0.7, 1.9, 0.3, 1.3, 0.8, 0.5, 1.7, 1.0, 0.6,
	};
	struct dag_issue v[ISSUES];

	make_dag(v);
	for (int i = 0; i < ISSUES; i++)
		v[i].seconds = history[v[i].repo];
	double ideal = simulate(v, true), by_count = simulate(v, false);
	double waved = waved_makespan("history", v, history), make = make_makespan("history", v);

	print_makespan("makespan, durations known", v, waved, make, ideal, 1.02);
	printf("%-34s %9.2f s   ranked by counts, not time: ratio %.3f\n", "", by_count,
	    by_count / lower_bound(v));
}
