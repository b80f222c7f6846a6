/*
 * make bench (DESIGN.md section 15): the workloads' shared helpers.  Every
 * figure is measured on the real waved with real git repositories, in one
 * run, and printed with its target and their ratio (below 1 meets it).
 */
#ifndef WAVED_BENCH_H
#define WAVED_BENCH_H

#include <stdint.h>
#include <sys/types.h>

#include <cJSON.h>

#include "common/util.h"

extern const char *bench_build;	/* where waved and wavectl are */
extern char *bench_root;	/* a temporary folder for every scenario */

/* Run argv in cwd; the bench fails if it does. */
void must(const char *const argv[], const char *cwd);
/* A git repository DIR/repos/NAME with one commit on main; its path. */
char *make_repo(const char *dir, const char *name);
/* A scenario folder with its config (more: further keys and sections);
 * repos named r0..r(repos-1). */
char *scenario(const char *name, int repos, int cap, const char *implement, const char *more);
/* waved --once in dir, which must succeed. */
void run_once(const char *dir);
/* waved -f in dir, in the background; its pid. */
pid_t start_daemon(const char *dir);
/* Poll dir's events until count of name (60 s at most, else the bench fails). */
void await_events(const char *dir, const char *name, int count);

/* dir's events as an array, an event's time (ms since the epoch) and name. */
cJSON *events(const char *dir);
int64_t ts_ms(const cJSON *e);
const char *name_of(const cJSON *e);

/* Print a figure, its target and their ratio. */
void ratio(const char *what, double value, const char *unit, double target);

/* A field of /proc/PID/FILE in KiB ("Pss:", "VmRSS:"), or 0. */
long proc_kib(pid_t pid, const char *file, const char *field);
/* The children of parent, into pids (at most max); how many. */
size_t children_of(pid_t parent, pid_t *pids, size_t max);

/* The workloads. */
void bench_overhead(void);
void bench_warm(void);
void bench_makespan(void);
void bench_history(void);
void bench_conflicts(void);
void bench_memory(void);
void bench_cluster_workers(void);

#endif
