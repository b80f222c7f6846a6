#include "worker/contain.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cgroup.h"
#include "common/log.h"
#include "common/spawn.h"
#include "common/util.h"

#define CONTAIN_POLL_MS 20

/*
 * The attempt's cgroup, when the supervisor made a tree (common/cgroup.h):
 * the worker stays in the tree's leaf and steps into the attempt's cgroup
 * only while it starts a phase, so that the phase and all it starts are
 * born there and the worker is not (cgroup.kill would end it too).
 */
static struct {
	char *attempt;		/* TREE/attempt.PID, or NULL: the subreaper alone */
	char *leaf;		/* TREE/supervisor, where the worker itself lives */
} cg;

struct proc_entry {
	pid_t pid, ppid;
	char state;
	long long cpu;		/* utime + stime + cutime + cstime, in clock ticks */
};

/* The attempt's cgroup, when we were started in a tree's leaf. */
static void
open_attempt_cgroup(void)
{
	char *own = cgroup_own_dir(), *slash, *tree;

	if (own == NULL || (slash = strrchr(own, '/')) == NULL || strcmp(slash + 1, CGROUP_LEAF) != 0) {
		free(own);
		return;
	}
	*slash = '\0';
	tree = strrchr(own, '/');
	if (tree && strncmp(tree + 1, CGROUP_TREE_PREFIX, strlen(CGROUP_TREE_PREFIX)) == 0) {
		char *attempt = xasprintf("%s/%s%d", own, CGROUP_ATTEMPT_PREFIX, (int)getpid());

		if (mkdir(attempt, 0755) == 0 || errno == EEXIST) {
			cg.attempt = attempt;
			cg.leaf = xasprintf("%s/%s", own, CGROUP_LEAF);
		} else {
			log_warn("cgroup %s", attempt);
			free(attempt);
		}
	}
	free(own);
}

void
contain_init(void)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		log_warn("prctl(PR_SET_CHILD_SUBREAPER)");
	open_attempt_cgroup();
}

const char *
contain_cgroup(void)
{
	return cg.attempt;
}

void
contain_enter(void)
{
	if (cg.attempt && cgroup_write(cg.attempt, "cgroup.procs", "0") == -1) {
		log_warn("cgroup %s: the phases are contained by the subreaper alone", cg.attempt);
		free(cg.attempt);
		cg.attempt = NULL;
	}
}

void
contain_leave(void)
{
	if (cg.attempt && cgroup_write(cg.leaf, "cgroup.procs", "0") == -1)
		log_warn("cgroup %s", cg.leaf);
}

pid_t
contain_spawn(const char *const argv[], const struct spawn_opts *opts)
{
	pid_t pid;
	int saved;

	/* posix_spawn's child is born in the cgroup its parent is in at that moment. */
	contain_enter();
	pid = spawn_start(argv, opts);
	saved = errno;
	contain_leave();
	errno = saved;
	return pid;
}

/* One process's parent, state and CPU from /proc/PID/stat; false when gone. */
static bool
read_stat(pid_t pid, struct proc_entry *e)
{
	char path[64], buf[1024], *p;
	unsigned long long f[15];
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "re")) == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* The command name may hold anything, ')' too: the fields follow the last one. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 2, "%c", &e->state) != 1)
		return false;
	/* ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime */
	if (sscanf(p + 4, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
	    &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10], &f[11],
	    &f[12], &f[13]) != 14)
		return false;
	e->pid = pid;
	e->ppid = (pid_t)f[0];
	e->cpu = (long long)(f[10] + f[11] + f[12] + f[13]);
	return true;
}

/* Every process of the machine with its parent; caller frees. */
static struct proc_entry *
all_processes(size_t *n)
{
	struct proc_entry *v = NULL;
	size_t cap = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;

	*n = 0;
	while (d && (e = readdir(d)) != NULL) {
		pid_t pid = (pid_t)atoi(e->d_name);
		struct proc_entry pe;

		if (pid <= 0 || !read_stat(pid, &pe))
			continue;
		grow_array((void **)&v, &cap, *n + 1, sizeof(*v));
		v[(*n)++] = pe;
	}
	if (d)
		closedir(d);
	return v;
}

/* Is pid below us, however deep? */
static bool
descends(const struct proc_entry *v, size_t n, pid_t pid, pid_t self)
{
	for (int depth = 0; depth < 4096 && pid > 1; depth++) {
		size_t k;

		for (k = 0; k < n && v[k].pid != pid; k++)
			;
		if (k == n)
			return false;
		if (v[k].ppid == self)
			return true;
		pid = v[k].ppid;
	}
	return false;
}

/* Apply fn to each process in the attempt's cgroup; how many there were. */
static int
each_member(void (*fn)(const struct proc_entry *, void *), void *arg)
{
	char *path = xasprintf("%s/cgroup.procs", cg.attempt), *text = read_file(path, NULL);
	int count = 0;

	for (char *p = text, *end; p && *p; p = end) {
		struct proc_entry e = { .pid = (pid_t)strtol(p, &end, 10) };

		if (end == p)
			break;
		if (e.pid > 0) {
			count++;
			if (fn)
				fn(&e, arg);
		}
	}
	free(text);
	free(path);
	return count;
}

/* Apply fn to each live (not zombie) descendant; how many there were. */
static int
each_descendant(void (*fn)(const struct proc_entry *, void *), void *arg)
{
	size_t n;
	struct proc_entry *v = all_processes(&n);
	pid_t self = getpid();
	int count = 0;

	for (size_t k = 0; k < n; k++)
		if (v[k].state != 'Z' && descends(v, n, v[k].pid, self)) {
			count++;
			if (fn)
				fn(&v[k], arg);
		}
	free(v);
	return count;
}

static void
send_signal(const struct proc_entry *e, void *arg)
{
	kill(e->pid, *(int *)arg);
}

/*
 * With a cgroup, the descendants are looked at too: an agent running as
 * waved's user may move a process of its own out of the attempt's cgroup
 * (the tree is that user's), but not out from below the subreaper.
 */
void
contain_signal(int sig)
{
	if (cg.attempt && (sig != SIGKILL || cgroup_write(cg.attempt, "cgroup.kill", "1") == -1))
		each_member(send_signal, &sig);
	each_descendant(send_signal, &sig);
}

bool
contain_empty(void)
{
	return (cg.attempt == NULL || !cgroup_populated(cg.attempt)) &&
	    each_descendant(NULL, NULL) == 0;
}

/* How many processes of the attempt are alive (in its cgroup, or below us). */
static int
contain_count(void)
{
	int members = cg.attempt ? each_member(NULL, NULL) : 0, below = each_descendant(NULL, NULL);

	return members > below ? members : below;
}

/* A cgroup's "KEY VALUE" line's value (cpu.stat), or -1. */
static long long
cgroup_stat(const char *file, const char *key)
{
	char *path = xasprintf("%s/%s", cg.attempt, file), *text = read_file(path, NULL), *p;
	size_t klen = strlen(key);
	long long v = -1;

	for (p = text; p && *p; p += strcspn(p, "\n"), p += *p == '\n')
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
			v = strtoll(p + klen + 1, NULL, 10);
	free(text);
	free(path);
	return v;
}

long
contain_peak_kb(void)
{
	char *path, *text;
	long long bytes;

	if (cg.attempt == NULL)
		return 0;
	path = xasprintf("%s/memory.peak", cg.attempt);
	text = read_file(path, NULL);
	bytes = text ? strtoll(text, NULL, 10) : 0;
	free(text);
	free(path);
	return (long)(bytes / 1024);
}

static void
add_cpu(const struct proc_entry *e, void *arg)
{
	*(long long *)arg += e->cpu;
}

long long
contain_cpu_ticks(void)
{
	struct rusage ru;
	long long ticks = 0, hz = sysconf(_SC_CLK_TCK), usec;

	/* All the attempt's processes ever used, the ones that ended too. */
	if (cg.attempt && (usec = cgroup_stat("cpu.stat", "usage_usec")) >= 0)
		return usec * hz / 1000000;
	each_descendant(add_cpu, &ticks);
	/* What has been reaped already counts too: a tool that ran and ended is work. */
	if (getrusage(RUSAGE_CHILDREN, &ru) == 0)
		ticks += ((long long)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * hz +
		    ((long long)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * hz / 1000000;
	return ticks;
}

/* Reap every child that has exited: only when no phase's status is awaited. */
static void
contain_reap(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int
contain_end(int64_t grace_ms)
{
	int64_t deadline = mono_ms() + grace_ms;
	int left;

	if (contain_empty())
		return 0;
	left = contain_count();
	contain_signal(SIGTERM);
	while (!contain_empty() && mono_ms() < deadline)
		nanosleep(&(struct timespec){ 0, CONTAIN_POLL_MS * 1000000L }, NULL);
	/* Stopped ones (SIGTSTP, SIGTTIN) cannot act on TERM: KILL needs no waking. */
	for (int round = 0; round < 50 && !contain_empty(); round++) {
		contain_signal(SIGKILL);
		nanosleep(&(struct timespec){ 0, CONTAIN_POLL_MS * 1000000L }, NULL);
	}
	contain_reap();
	return left;
}
