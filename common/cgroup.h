/*
 * cgroup v2, where a subtree is writable (DESIGN.md section 19): the
 * supervisor makes a tree of its own below the cgroup it was started in,
 *
 *   CG/waved.PID/supervisor      the supervisor and its workers
 *   CG/waved.PID/attempt.WPID    what worker WPID's phases started
 *
 * so that cgroup.kill ends everything an attempt started, however it
 * daemonized, even after its worker was SIGKILLed, and memory.peak is the
 * attempt's real peak.  Where no such tree can be made the worker's
 * subreaper alone contains the phases (worker/contain.c).
 */
#ifndef WAVED_CGROUP_H
#define WAVED_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CGROUP_TREE_PREFIX "waved."
#define CGROUP_LEAF "supervisor"
#define CGROUP_ATTEMPT_PREFIX "attempt."

/* The calling process's cgroup v2 folder (absolute path; caller frees), or NULL. */
char *cgroup_own_dir(void);

/* Does the cgroup at dir hold a live process (its cgroup.events)? */
bool cgroup_populated(const char *dir);

/* Write text to dir/file; 0, or -1 with errno. */
int cgroup_write(const char *dir, const char *file, const char *text);

/*
 * End every process in the cgroup at dir and below it (cgroup.kill), wait
 * up to wait_ms for them to be gone, and remove the folders.  Returns
 * whether dir is gone (true too when there was none).
 */
bool cgroup_kill_remove(const char *dir, int64_t wait_ms);

#endif
