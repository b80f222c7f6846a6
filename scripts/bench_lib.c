/*
 * What the benchmark workloads share: scenario folders with real git
 * repositories, running the real waved, reading its events back, and
 * printing a figure against its target.
 */
#include "scripts/bench.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/spawn.h"

const char *bench_build;
char *bench_root;

void
must(const char *const argv[], const char *cwd)
{
	if (spawn_run(argv, cwd, NULL, 0) != 0)
		fatalx("bench: %s %s failed", argv[0], argv[1]);
}

char *
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
char *
scenario(const char *name, int repos, int cap, const char *implement, const char *more)
{
	char *dir = xasprintf("%s/%s", bench_root, name), *conf = xasprintf("%s/waved.conf", dir);
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

void
run_once(const char *dir)
{
	char *waved = xasprintf("%s/waved", bench_build), *conf = xasprintf("%s/waved.conf", dir);

	if (spawn_run((const char *[]){ waved, "--once", "-c", conf, NULL }, dir, NULL, 0) != 0)
		fatalx("bench: waved --once failed in %s", dir);
	free(waved);
	free(conf);
}

int64_t
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

cJSON *
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

const char *
name_of(const cJSON *e)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(e, "event"));
}

void
ratio(const char *what, double value, const char *unit, double target)
{
	printf("%-34s %9.2f %-3s target %7.2f %-3s ratio %.3f\n", what, value, unit, target, unit,
	    value / target);
}

pid_t
start_daemon(const char *dir)
{
	char *waved = xasprintf("%s/waved", bench_build), *conf = xasprintf("%s/waved.conf", dir);
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
void
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
long
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
size_t
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
