/*
 * What a phase starts stays the worker's (DESIGN.md section 19): the worker
 * is a child subreaper, so every descendant, however it daemonized
 * (setsid, a double fork), is still below it; a phase runs in a session of
 * its own with no controlling terminal.  Where the supervisor made a cgroup
 * tree (common/cgroup.h), the phases are born in the attempt's cgroup,
 * which ends them by cgroup.kill even once their worker is gone, and gives
 * their CPU (cpu.stat) and peak (memory.peak); the descendants below the
 * subreaper are still looked at, for a process moved out of it.  When
 * the phase ends, whatever of it is left gets SIGTERM, the grace to exit,
 * then SIGKILL: nothing an attempt started survives into the next one.
 */
#ifndef WAVED_CONTAIN_H
#define WAVED_CONTAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct spawn_opts;

/* Become the subreaper of everything the worker's phases start; find the attempt's cgroup. */
void contain_init(void);

/* The attempt's cgroup folder, or NULL where the subreaper works alone. */
const char *contain_cgroup(void);

/* What the worker starts between these two is born in the attempt's cgroup. */
void contain_enter(void);
void contain_leave(void);

/* spawn_start, the child born in the attempt's cgroup when there is one. */
pid_t contain_spawn(const char *const argv[], const struct spawn_opts *opts);

/* The attempt's peak memory in KiB (memory.peak), or 0 when no cgroup tells. */
long contain_peak_kb(void);

/* Send sig to every live descendant of this process. */
void contain_signal(int sig);

/* True when no descendant is left alive (zombies are not). */
bool contain_empty(void);

/* The CPU time (clock ticks) the descendants used so far, alive or reaped. */
long long contain_cpu_ticks(void);

/*
 * End every descendant: SIGTERM, then wait until none is left or grace_ms
 * has passed, then SIGKILL and reap.  Returns how many were still there
 * when the grace began (0: the phase left nothing behind).
 */
int contain_end(int64_t grace_ms);

#endif
