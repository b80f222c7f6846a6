#include "supervisor/cgroup_tree.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cgroup.h"
#include "common/log.h"

#define KILL_WAIT_MS 2000	/* SIGKILLed processes leave in milliseconds; D state may not */
#define LEAF_WAIT_MS 5000
#define REAP_WAIT_MS 200	/* in the loop, at a worker's reap */	/* for our last children to end at exit */

static char *home;	/* the cgroup we were started in */
static char *tree;	/* home/waved.PID, or NULL: the subreaper alone */
static bool memory_in_home;	/* we enabled the memory controller below home */
static char *trees_file;	/* STATE/cgroup */
static struct strbuf stale;	/* the trees of this state folder's last runs, one a line */

/*
 * STATE/cgroup names the tree of the supervisor that uses this state
 * folder, then those of earlier runs not yet removed: the next start
 * removes what it can of them (another waved's, on another state folder,
 * is not ours to touch).
 */
static void
write_trees(const char *others)
{
	char *text = xasprintf("%s\n%s", tree, others);

	if (write_file_whole(trees_file, text) == -1)
		log_warn("%s", trees_file);
	free(text);
}

static void
remember_tree(const char *state_dir)
{
	char *text;

	trees_file = xasprintf("%s/%s", state_dir, CGROUP_TREE_FILE);
	if ((text = read_file(trees_file, NULL)) != NULL)
		strbuf_add(&stale, text);
	free(text);
	write_trees(stale.len ? stale.s : "");
}

/* memory.peak per attempt needs the memory controller enabled down to the attempts. */
static void
enable_memory(void)
{
	char *path = xasprintf("%s/cgroup.controllers", home), *have = read_file(path, NULL);

	/* Best effort: home refuses while other processes are in it (EBUSY). */
	if (have && strstr(have, "memory")) {
		memory_in_home = cgroup_write(home, "cgroup.subtree_control", "+memory") == 0;
		cgroup_write(tree, "cgroup.subtree_control", "+memory");
	}
	free(have);
	free(path);
}

/* End every attempt's cgroup in a tree (ours at exit, a dead run's at start). */
static void
end_all_attempts(const char *of)
{
	DIR *d = opendir(of);
	struct dirent *e;

	while (d && (e = readdir(d)) != NULL)
		if (strncmp(e->d_name, CGROUP_ATTEMPT_PREFIX, strlen(CGROUP_ATTEMPT_PREFIX)) == 0) {
			char *dir = xasprintf("%s/%s", of, e->d_name);

			cgroup_kill_remove(dir, KILL_WAIT_MS);
			free(dir);
		}
	if (d)
		closedir(d);
}

bool
cgroup_tree_open(const char *state_dir, struct strbuf *why)
{
	char *leaf;

	if ((home = cgroup_own_dir()) == NULL) {
		strbuf_addf(why, "no cgroup v2 hierarchy is mounted");
		return false;
	}
	tree = xasprintf("%s/%s%d", home, CGROUP_TREE_PREFIX, (int)getpid());
	leaf = xasprintf("%s/%s", tree, CGROUP_LEAF);
	if (mkdir(tree, 0755) == 0 || (errno == EEXIST && (end_all_attempts(tree), true))) {
		/* (EEXIST: a dead run's whose pid was ours; what its attempts left ends.) */
		if ((mkdir(leaf, 0755) == 0 || errno == EEXIST) &&
		    cgroup_write(leaf, "cgroup.procs", "0") == 0) {
			free(leaf);
			enable_memory();
			remember_tree(state_dir);
			log_info("phases contained in a cgroup per attempt under %s", tree);
			return true;
		}
	}
	strbuf_addf(why, "%s: %s", tree, strerror(errno));
	rmdir(leaf);
	rmdir(tree);
	free(leaf);
	free(tree);
	tree = NULL;
	return false;
}

/* HOME/waved.N and not ours: what the state folder says is checked, not believed. */
static bool
a_tree_beside_ours(const char *path)
{
	size_t len = strlen(home);

	return strcmp(path, tree) != 0 && strncmp(path, home, len) == 0 && path[len] == '/' &&
	    strncmp(path + len + 1, CGROUP_TREE_PREFIX, strlen(CGROUP_TREE_PREFIX)) == 0 &&
	    strchr(path + len + 1, '/') == NULL && strstr(path, "..") == NULL;
}


/* Does the supervisor that named tree old (HOME/waved.N) still live in its leaf? */
static bool
supervisor_alive(const char *old)
{
	const char *name = strrchr(old, '/') + 1;
	char *path, *text, *leaf, *line;
	long pid = strtol(name + strlen(CGROUP_TREE_PREFIX), NULL, 10);
	bool alive = false;

	if (pid <= 0 || pid == getpid())
		return false;
	path = xasprintf("/proc/%ld/cgroup", pid);
	text = read_file(path, NULL);
	leaf = xasprintf("%s/%s\n", old + strlen(home), CGROUP_LEAF);
	/* "0::/path": the path below the mount, as HOME is below it too. */
	line = text ? strstr(text, "0::") : NULL;
	alive = line && strstr(line, leaf) != NULL;
	free(leaf);
	free(text);
	free(path);
	return alive;
}

/*
 * What the attempts of a dead run left running ends; its supervisor's own
 * children (a report command still writing, say) are left to finish, and
 * its tree goes once they have.
 */
static bool
remove_stale_tree(const char *old)
{
	char *leaf;
	bool gone;

	if (supervisor_alive(old))
		return true;	/* not stale: the pid came back as another waved's */
	end_all_attempts(old);
	leaf = xasprintf("%s/%s", old, CGROUP_LEAF);
	gone = !cgroup_populated(leaf) && cgroup_kill_remove(old, KILL_WAIT_MS);
	free(leaf);
	if (gone)
		log_info("removed the cgroup tree %s of an earlier run", old);
	return gone;
}

/*
 * The empty trees beside ours of supervisors that are gone, whatever state
 * folder they used (one removed since, a run killed for good): nothing is
 * left in them to end, only folders to remove.  A pid that exists may be a
 * waved still making its tree: left alone.
 */
static void
remove_empty_trees(void)
{
	DIR *d = opendir(home);
	struct dirent *e;
	size_t plen = strlen(CGROUP_TREE_PREFIX);

	while (d && (e = readdir(d)) != NULL) {
		char *end, *old;
		long pid;

		if (strncmp(e->d_name, CGROUP_TREE_PREFIX, plen) != 0)
			continue;
		pid = strtol(e->d_name + plen, &end, 10);
		if (*end != '\0' || pid <= 0 || pid == getpid() || kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH)
			continue;
		old = xasprintf("%s/%s", home, e->d_name);
		if (!cgroup_populated(old))
			cgroup_kill_remove(old, 0);
		free(old);
	}
	if (d)
		closedir(d);
}

void
cgroup_tree_remove_stale(void)
{
	struct strbuf left = { 0 };
	char *save = NULL;

	if (tree == NULL)
		return;
	remove_empty_trees();
	if (stale.len == 0)
		return;
	for (char *old = strtok_r(stale.s, "\n", &save); old; old = strtok_r(NULL, "\n", &save))
		if (a_tree_beside_ours(old) && access(old, F_OK) == 0 && !remove_stale_tree(old))
			strbuf_addf(&left, "%s\n", old);
	write_trees(left.len ? left.s : "");
	strbuf_free(&left);
	strbuf_free(&stale);
}


void
cgroup_tree_close(void)
{
	if (tree) {
		char *leaf = xasprintf("%s/%s", tree, CGROUP_LEAF);
		int64_t deadline = mono_ms() + LEAF_WAIT_MS;

		end_all_attempts(tree);
		/* Back where we started, so that the tree can go: a child of ours
		 * may still be finishing (a worker parking its worktree).  Home
		 * takes processes only without controllers enabled below it. */
		if (memory_in_home) {
			cgroup_write(tree, "cgroup.subtree_control", "-memory");
			cgroup_write(home, "cgroup.subtree_control", "-memory");
		}
		if (cgroup_write(home, "cgroup.procs", "0") == -1)
			log_warn("cgroup %s: back from %s: the next start removes it", home, tree);
		else {
			while (cgroup_populated(leaf) && mono_ms() < deadline)
				nanosleep(&(struct timespec){ 0, 20 * 1000000L }, NULL);
			if (rmdir(leaf) == -1 || rmdir(tree) == -1)
				log_warn("cgroup %s is left for the next start to remove", tree);
		}
		free(leaf);
	}
	strbuf_free(&stale);
	free(trees_file);
	free(tree);
	free(home);
	tree = home = trees_file = NULL;
}

void
cgroup_tree_end_attempt(pid_t worker)
{
	char *dir;

	if (tree == NULL)
		return;
	dir = xasprintf("%s/%s%d", tree, CGROUP_ATTEMPT_PREFIX, (int)worker);
	if (cgroup_populated(dir))
		log_info("worker %d ended with processes of its attempt running: ending them",
		    (int)worker);
	/* A moment for SIGKILL to take (the loop waits meanwhile); what is slower
	 * (a process in D state) stays until the tree goes at exit. */
	cgroup_kill_remove(dir, REAP_WAIT_MS);
	free(dir);
}

void
cgroup_tree_describe(struct strbuf *out)
{
	char *own = cgroup_own_dir(), *procs = NULL, *controllers = NULL, *have = NULL;

	if (own == NULL) {
		strbuf_addf(out, "containment: subreaper (no cgroup v2 hierarchy is mounted)");
		return;
	}
	procs = xasprintf("%s/cgroup.procs", own);
	controllers = xasprintf("%s/cgroup.controllers", own);
	if (access(own, W_OK) == -1 || access(procs, W_OK) == -1)
		strbuf_addf(out, "containment: subreaper (cgroup %s is not writable: %s)", own,
		    strerror(errno));
	else if ((have = read_file(controllers, NULL)) && strstr(have, "memory"))
		strbuf_addf(out, "containment: a cgroup per attempt under %s/%s%d "
		    "(cgroup.kill, memory.peak)", own, CGROUP_TREE_PREFIX, (int)getpid());
	else
		strbuf_addf(out, "containment: a cgroup per attempt under %s/%s%d "
		    "(cgroup.kill; no memory controller in cgroup v2 here: peaks from wait4)",
		    own, CGROUP_TREE_PREFIX, (int)getpid());
	free(have);
	free(controllers);
	free(procs);
	free(own);
}
