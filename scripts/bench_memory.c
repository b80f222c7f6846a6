/*
 * make bench: memory.  The supervisor's resident size with 10,000 issues
 * queued, and with the cluster runner, the supervisor and 64 workers
 * waiting on srun.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "common/log.h"
#include "scripts/bench.h"

/* 10,000 issues over 10 repos, one slow one in flight: the supervisor's RSS. */
void
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
void
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
