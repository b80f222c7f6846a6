#include "worker/contain.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define CONTAIN_POLL_MS 20

struct proc_entry {
	pid_t pid, ppid;
	char state;
	long long cpu;		/* utime + stime + cutime + cstime, in clock ticks */
};

void
contain_init(void)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		log_warn("prctl(PR_SET_CHILD_SUBREAPER)");
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

void
contain_signal(int sig)
{
	each_descendant(send_signal, &sig);
}

bool
contain_empty(void)
{
	return each_descendant(NULL, NULL) == 0;
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
	long long ticks = 0, hz = sysconf(_SC_CLK_TCK);

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
	left = each_descendant(NULL, NULL);
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
