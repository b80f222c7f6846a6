#include "common/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

/* Where the cgroup2 file system is mounted, and which cgroup is its root there. */
static bool
cgroup2_mount(char *mnt, size_t mntlen, char *root, size_t rootlen)
{
	FILE *fp = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	bool found = false;

	while (fp && !found && fgets(line, sizeof(line), fp)) {
		char r[1024], m[1024];
		const char *sep = strstr(line, " - ");

		/* id parent major:minor root mountpoint ... - fstype source options */
		if (sep && strncmp(sep, " - cgroup2 ", 11) == 0 &&
		    sscanf(line, "%*s %*s %*s %1023s %1023s", r, m) == 2) {
			strlcpy(mnt, m, mntlen);
			strlcpy(root, r, rootlen);
			found = true;
		}
	}
	if (fp)
		fclose(fp);
	return found;
}

char *
cgroup_own_dir(void)
{
	FILE *fp = fopen("/proc/self/cgroup", "re");
	char line[4096], mnt[1024], root[1024], *path = NULL;

	/* The v2 hierarchy's line is "0::/path"; the v1 ones have a controller. */
	while (fp && path == NULL && fgets(line, sizeof(line), fp))
		if (strncmp(line, "0::/", 4) == 0) {
			line[strcspn(line, "\n")] = '\0';
			path = xstrdup(line + 3);
		}
	if (fp)
		fclose(fp);
	if (path == NULL || !cgroup2_mount(mnt, sizeof(mnt), root, sizeof(root))) {
		free(path);
		return NULL;
	}
	/* A mount of a cgroup below the root (a container's) shows the path from there. */
	const char *rel = path;
	size_t rlen = strlen(root);

	if (strcmp(root, "/") != 0 && strncmp(path, root, rlen) == 0 &&
	    (path[rlen] == '/' || path[rlen] == '\0'))
		rel = path + rlen;
	char *dir = xasprintf("%s%s", mnt, strcmp(rel, "/") == 0 ? "" : rel);

	free(path);
	return dir;
}

bool
cgroup_populated(const char *dir)
{
	char *path = xasprintf("%s/cgroup.events", dir), *text = read_file(path, NULL);
	bool populated = text && strstr(text, "populated 1") != NULL;

	free(text);
	free(path);
	return populated;
}

int
cgroup_write(const char *dir, const char *file, const char *text)
{
	char *path = xasprintf("%s/%s", dir, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC), rc = -1, saved;

	free(path);
	if (fd == -1)
		return -1;
	if (write(fd, text, strlen(text)) == (ssize_t)strlen(text))
		rc = 0;
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* Remove dir's child cgroups (an agent may have made some), then dir. */
static bool
remove_cgroups(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d)) != NULL)
		if (e->d_type == DT_DIR && strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0) {
			char *sub = xasprintf("%s/%s", dir, e->d_name);

			remove_cgroups(sub);
			free(sub);
		}
	if (d)
		closedir(d);
	return rmdir(dir) == 0 || errno == ENOENT;
}

bool
cgroup_kill_remove(const char *dir, int64_t wait_ms)
{
	int64_t deadline = mono_ms() + wait_ms;

	if (access(dir, F_OK) == -1)
		return true;
	if (cgroup_populated(dir))
		cgroup_write(dir, "cgroup.kill", "1");
	/* SIGKILL is not instant: a process leaves its cgroup when it has exited. */
	while (cgroup_populated(dir) && mono_ms() < deadline)
		nanosleep(&(struct timespec){ 0, 10 * 1000000L }, NULL);
	return remove_cgroups(dir);
}
