/*
 * sandbox = bwrap (DESIGN.md section 19): a phase sees its worktree and the
 * repository's object store writable, the rest of the repository read-only
 * (the worktree is on a detached HEAD while the phase runs: its commits need
 * no shared ref), the system read-only, a private /tmp, the files waved
 * hands it, and nothing else of the machine unless sandbox_paths names it.
 */
#include <stdlib.h>
#include <string.h>

#include "common/git_refs.h"
#include "common/paths.h"
#include "worker/worker_internal.h"

struct args {
	char **v;
	size_t n, cap;
};

static void
push(struct args *a, const char *s)
{
	grow_array((void **)&a->v, &a->cap, a->n + 2, sizeof(char *));
	a->v[a->n++] = xstrdup(s);
	a->v[a->n] = NULL;
}

static void
bind(struct args *a, const char *how, const char *path)
{
	push(a, how);
	push(a, path);
	push(a, path);
}

/* sandbox_paths: "PATH" read-only, "PATH:rw" writable, blank-separated. */
static void
bind_extra(struct args *a, const char *paths)
{
	char *copy = xstrdup(paths), *save = NULL;

	for (char *p = strtok_r(copy, " \t", &save); p; p = strtok_r(NULL, " \t", &save)) {
		size_t len = strlen(p);
		bool rw = len > 3 && strcmp(p + len - 3, ":rw") == 0;

		if (rw)
			p[len - 3] = '\0';
		bind(a, rw ? "--bind-try" : "--ro-bind-try", p);
	}
	free(copy);
}

char **
sandbox_prefix(const struct worker *w)
{
	static const char *const system[] = { "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64",
	    "/lib32", "/opt" };
	char *common = git_common_dir(w->repo->path), *objects, *issue_dir;
	struct args a = { 0 };

	if (!w->cfg->sandbox || common == NULL) {
		free(common);
		return NULL;
	}
	push(&a, "bwrap");
	push(&a, "--die-with-parent");
	for (size_t k = 0; k < ARRAY_LEN(system); k++)
		bind(&a, "--ro-bind-try", system[k]);
	push(&a, "--proc");
	push(&a, "/proc");
	push(&a, "--dev");
	push(&a, "/dev");
	push(&a, "--tmpfs");
	push(&a, "/tmp");
	/* The repository read-only, then what a commit writes. */
	bind(&a, "--ro-bind", common);
	objects = xasprintf("%s/objects", common);
	bind(&a, "--bind", objects);
	if (w->git_dir)
		bind(&a, "--bind", w->git_dir);
	bind(&a, "--bind", w->worktree);
	/* Where $WAVED_ISSUE_FILE, the feedback, usage and retry-after files are. */
	issue_dir = path_issue_dir(w->cfg, w->repo->name, w->job->number);
	bind(&a, "--bind", issue_dir);
	if (w->cfg->sandbox_paths)
		bind_extra(&a, w->cfg->sandbox_paths);
	push(&a, "--chdir");
	push(&a, w->worktree);
	push(&a, "--");
	free(issue_dir);
	free(objects);
	free(common);
	return a.v;
}

void
sandbox_prefix_free(char **argv)
{
	for (size_t k = 0; argv && argv[k]; k++)
		free(argv[k]);
	free(argv);
}
