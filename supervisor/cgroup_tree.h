/*
 * The supervisor's side of the cgroup per attempt (layout in
 * common/cgroup.h): it makes the tree at start, moves itself into its leaf
 * so that every worker starts there, ends and removes each attempt's cgroup
 * when its worker has been reaped, and takes the tree down at exit.
 */
#ifndef WAVED_CGROUP_TREE_H
#define WAVED_CGROUP_TREE_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/util.h"

#define CGROUP_TREE_FILE "cgroup"	/* in the state folder: the tree in use */

/* Make the tree and move into its leaf; false and why when none can be made. */
bool cgroup_tree_open(const char *state_dir, struct strbuf *why);

/* Once the last run's orphaned workers have ended: end and remove the tree
 * the last run on this state folder left (a crash, SIGKILL), with what its
 * attempts left running. */
void cgroup_tree_remove_stale(void);

/* End what is left in the tree and remove it (the next start does when this cannot). */
void cgroup_tree_close(void);

/* The worker pid was reaped: end what its attempt left running, remove its cgroup. */
void cgroup_tree_end_attempt(pid_t worker);

/* waved -n: how phases would be contained here, one line. */
void cgroup_tree_describe(struct strbuf *out);

#endif
