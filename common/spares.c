#include "common/spares.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/git.h"
#include "common/git_refs.h"

#define SPARE_SLOTS_MAX 64	/* slot numbers looked at; spare_worktrees is far below */

static char *
spare_dir(const struct config *cfg, const struct repo_conf *r)
{
	return xasprintf("%s/worktrees/%s/.spare", cfg->state_dir, r->name);
}

static char *
spare_slot(const struct config *cfg, const struct repo_conf *r, int k)
{
	return xasprintf("%s/worktrees/%s/.spare/%d", cfg->state_dir, r->name, k);
}

/* The repo's spare lock, held until unlock; -1 when it cannot be had. */
static int
lock_spares(const struct config *cfg, const struct repo_conf *r)
{
	char *dir = xasprintf("%s/worktrees/%s", cfg->state_dir, r->name);
	char *path = xasprintf("%s/.spare.lock", dir);
	int fd;

	mkdir_p(dir, 0755);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd != -1 && flock(fd, LOCK_EX) == -1) {
		close(fd);
		fd = -1;
	}
	free(path);
	free(dir);
	return fd;
}

static bool
exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* A linked worktree has a .git file (git must not find a repository above it). */
static bool
is_worktree(const char *path)
{
	char *dotgit = xasprintf("%s/.git", path);
	struct stat st;
	bool file = stat(dotgit, &st) == 0 && S_ISREG(st.st_mode);

	free(dotgit);
	return file;
}

/* A spare that is not a working worktree any more goes, with git's entry. */
static void
discard(const struct repo_conf *r, const char *path)
{
	git_run(r->path, NULL, (const char *[]){ "worktree", "remove", "--force", "--force", path,
	    NULL });
	remove_tree(path);
}

static bool
run_logged(const char *dir, struct strbuf *log, const char *const args[])
{
	struct strbuf out = { 0 };
	int rc = git_run(dir, &out, args);

	if (rc != 0 && log)
		strbuf_addf(log, "git %s: %s", args[0], out.s ? out.s : "failed\n");
	strbuf_free(&out);
	return rc == 0;
}

/* The worktree's own git dir, when its .git file names it absolutely (caller frees). */
static char *
own_git_dir(const char *worktree)
{
	char *own, *common;

	if (!git_dirs(worktree, &own, &common) || strcmp(own, common) == 0) {
		free(own);
		own = NULL;
	}
	free(common);
	return own;
}

/*
 * Move a worktree from to to: what `git worktree move` does (the folder
 * renamed, its git dir's gitdir file pointed at the new place), without
 * the process.  A crash between the two is what spares_tidy repairs.
 */
static bool
move(const struct repo_conf *r, const char *from, const char *to, struct strbuf *log)
{
	char *own = own_git_dir(from), *gitdir, *line, *real;
	bool moved;

	if (own == NULL || access(to, F_OK) == 0) {
		free(own);
		return run_logged(r->path, log, (const char *[]){ "worktree", "move", from, to,
		    NULL });
	}
	if (rename(from, to) == -1) {
		if (log)
			strbuf_addf(log, "rename %s: %s\n", from, strerror(errno));
		free(own);
		return false;
	}
	real = realpath(to, NULL);
	gitdir = xasprintf("%s/gitdir", own);
	line = xasprintf("%s/.git\n", real ? real : to);
	moved = git_file_write_locked(gitdir, line);
	if (!moved) {
		if (log)
			strbuf_addf(log, "write %s: %s\n", gitdir, strerror(errno));
		moved = git_run(r->path, NULL, (const char *[]){ "worktree", "repair", to, NULL }) == 0;
	}
	free(line);
	free(gitdir);
	free(real);
	free(own);
	return moved;
}

/* The mark of a spare parked with nothing untracked: its take needs no clean. */
static char *
tidy_mark(const char *worktree)
{
	char *own = own_git_dir(worktree), *mark = own ? xasprintf("%s/waved-tidy", own) : NULL;

	free(own);
	return mark;
}

bool
spares_park(const struct config *cfg, const struct repo_conf *r, const char *worktree,
    bool tidy, struct strbuf *log)
{
	bool parked = false;
	int fd;

	if (!cfg->reuse_worktrees || cfg->spare_worktrees == 0)
		return false;
	/* Detached first: the branch must be free to delete once it landed. */
	if (git_head_write(worktree, NULL) != 0 &&
	    !run_logged(worktree, log, (const char *[]){ "checkout", "-q", "--detach", NULL }))
		return false;
	/* Written here only, never taken from before: an agent may have left one. */
	char *mark = tidy_mark(worktree);

	if (mark && tidy)
		write_file_whole(mark, "");
	else if (mark)
		unlink(mark);
	free(mark);
	if ((fd = lock_spares(cfg, r)) == -1)
		return false;
	for (int k = 0; k < cfg->spare_worktrees && !parked; k++) {
		char *slot = spare_slot(cfg, r, k), *dir = spare_dir(cfg, r);

		if (!exists(slot)) {
			mkdir_p(dir, 0755);
			parked = move(r, worktree, slot, log);
			k = cfg->spare_worktrees;	/* one try: a failed move is not retried */
		}
		free(dir);
		free(slot);
	}
	close(fd);
	return parked;
}

/* Move some spare to worktree under the lock; false when there is none. */
static bool
move_a_spare(const struct config *cfg, const struct repo_conf *r, const char *worktree)
{
	bool moved = false;
	int fd = lock_spares(cfg, r);

	if (fd == -1)
		return false;
	for (int k = 0; k < SPARE_SLOTS_MAX && !moved; k++) {
		char *slot = spare_slot(cfg, r, k);

		if (exists(slot)) {
			moved = move(r, slot, worktree, NULL);
			if (!moved)
				discard(r, slot);
		}
		free(slot);
	}
	close(fd);
	return moved;
}

/*
 * A tidy spare already at base (the issue before it landed by fast-forward
 * and nothing landed since): its tracked files are base's, nothing
 * untracked is there, so the branch and HEAD are two ref files written as
 * git writes them, and no checkout runs.  False: let git do it.
 */
static bool
take_in_place(const char *worktree, const char *branch, const char *base)
{
	struct git_oid head;
	char *own = NULL, *common = NULL, *ref, *path, *line, *slash;
	bool done;

	if (git_ref_read(worktree, "HEAD", &head) != 0 || strcmp(head.hex, base) != 0 ||
	    !git_dirs(worktree, &own, &common))
		return false;
	ref = xasprintf("refs/heads/%s", branch);
	path = xasprintf("%s/%s", common, ref);
	line = xasprintf("%s\n", base);
	slash = strrchr(path, '/');
	*slash = '\0';
	done = mkdir_p(path, 0755) == 0;
	*slash = '/';
	done = done && git_file_write_locked(path, line) && git_head_write(worktree, ref) == 0;
	free(line);
	free(path);
	free(ref);
	free(own);
	free(common);
	return done;
}

bool
spares_take(const struct config *cfg, const struct repo_conf *r, const char *worktree,
    const char *branch, const char *base, struct strbuf *log)
{
	char *mark;
	bool tidy;

	if (!cfg->reuse_worktrees || !move_a_spare(cfg, r, worktree))
		return false;
	/* Parked tidy: the last thing done in it was an add -A and its commit. */
	mark = tidy_mark(worktree);
	tidy = mark && unlink(mark) == 0;
	free(mark);
	if (tidy && take_in_place(worktree, branch, base))
		return true;
	/* Tracked files as base has them, untracked ones gone, ignored ones kept. */
	if (run_logged(worktree, log, (const char *[]){ "checkout", "-q", "-f", "-B", branch, base,
	    NULL }) && (tidy || run_logged(worktree, log, (const char *[]){ "clean", "-q", "-fd",
	    NULL })))
		return true;
	discard(r, worktree);
	return false;
}

void
spares_tidy(const struct config *cfg, const struct repo_conf *r)
{
	char *dir = spare_dir(cfg, r);
	DIR *d = opendir(dir);
	struct dirent *e;
	int fd;

	if (d == NULL) {
		free(dir);
		return;
	}
	fd = lock_spares(cfg, r);
	while ((e = readdir(d)) != NULL) {
		char *end, *path;
		long k = strtol(e->d_name, &end, 10);

		if (e->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		if (*end != '\0' || k < 0 || k >= cfg->spare_worktrees || !cfg->reuse_worktrees)
			discard(r, path);
		/* A move cut short leaves git's entry and the folder disagreeing:
		 * repair joins them again, or the spare goes. */
		else if (!is_worktree(path) || git_run(r->path, NULL, (const char *[]){ "worktree",
		    "repair", path, NULL }) != 0 || git_run(path, NULL, (const char *[]){ "rev-parse",
		    "-q", "--verify", "HEAD", NULL }) != 0)
			discard(r, path);
		free(path);
	}
	closedir(d);
	if (fd != -1)
		close(fd);
	free(dir);
}
