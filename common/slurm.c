#include "common/slurm.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/spawn.h"

#define SLURM_CLIENT_TIMEOUT_S 30	/* squeue, scancel: the controller answers or not */

void
slurm_job_name(struct slurm_job_spec *spec, const char *issue, const char *phase,
    const char *trace)
{
	snprintf(spec->name, sizeof(spec->name), "waved:%s:%s:%s", issue, phase, trace);
}

/* Append the words of text (split at blanks; no quoting, no shell). */
static void
add_words(char ***argv, size_t *n, size_t *cap, const char *text)
{
	const char *p = text;

	while (p && *p) {
		size_t len;

		p += strspn(p, " \t");
		if ((len = strcspn(p, " \t")) == 0)
			break;
		grow_array((void **)argv, cap, *n + 2, sizeof(**argv));
		(*argv)[(*n)++] = xasprintf("%.*s", (int)len, p);
		p += len;
	}
}

static void
add_arg(char ***argv, size_t *n, size_t *cap, char *arg)
{
	grow_array((void **)argv, cap, *n + 2, sizeof(**argv));
	(*argv)[(*n)++] = arg;
}

char **
slurm_srun_argv(const struct slurm_job_spec *spec, const char *const *command)
{
	char **argv = NULL;
	size_t n = 0, cap = 0;
	/* waved's own timeout comes first; the cluster's limit is only a backstop. */
	int minutes = (spec->timeout_s + 59) / 60 + 1;

	add_arg(&argv, &n, &cap, xstrdup(spec->runner->srun));
	add_arg(&argv, &n, &cap, xasprintf("--job-name=%s", spec->name));
	add_arg(&argv, &n, &cap, xasprintf("--chdir=%s", spec->cwd));
	add_arg(&argv, &n, &cap, xasprintf("--time=%d", minutes));
	add_arg(&argv, &n, &cap, xstrdup("--export=ALL"));
	add_words(&argv, &n, &cap, spec->runner->args);
	add_words(&argv, &n, &cap, spec->pool_args);
	for (const char *const *c = command; *c; c++)
		add_arg(&argv, &n, &cap, xstrdup(*c));
	argv[n] = NULL;
	return argv;
}

void
slurm_argv_free(char **argv)
{
	for (char **a = argv; a && *a; a++)
		free(*a);
	free(argv);
}

char *
slurm_tool(const struct runner_conf *r, const char *tool)
{
	const char *slash = strrchr(r->srun, '/');

	if (slash == NULL)
		return xstrdup(tool);
	return xasprintf("%.*s/%s", (int)(slash - r->srun), r->srun, tool);
}

char *
slurm_srun_path(const struct runner_conf *r)
{
	const char *path;

	if (strchr(r->srun, '/'))
		return access(r->srun, X_OK) == 0 ? xstrdup(r->srun) : NULL;
	return (path = spawn_which(r->srun)) != NULL ? xstrdup(path) : NULL;
}

/* What a final state says about the command (squeue's long state names). */
static enum slurm_fate
fate_of(const char *state)
{
	static const char *const active[] = {
		"PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "REQUEUED",
		"RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "REQUEUE_FED",
		"REQUEUE_HOLD",
	};
	static const char *const ran[] = { "COMPLETED", "FAILED", "OUT_OF_MEMORY" };

	for (size_t i = 0; i < ARRAY_LEN(active); i++)
		if (strcmp(state, active[i]) == 0)
			return SLURM_ACTIVE;
	for (size_t i = 0; i < ARRAY_LEN(ran); i++)
		if (strcmp(state, ran[i]) == 0)
			return SLURM_RAN;
	/* CANCELLED, PREEMPTED, NODE_FAIL, BOOT_FAIL, TIMEOUT, DEADLINE, REVOKED... */
	return SLURM_LOST;
}

void
slurm_job_find(const struct runner_conf *r, const char *name, struct slurm_job *job)
{
	char *squeue = slurm_tool(r, "squeue"), *opt = xasprintf("--name=%s", name);
	struct strbuf out = { 0 };
	int rc = spawn_run((const char *[]){ squeue, "--noheader", "--states=all", opt,
	    "--format=%i %T", NULL }, NULL, &out, SLURM_CLIENT_TIMEOUT_S);

	memset(job, 0, sizeof(*job));
	for (char *line = out.s; rc == 0 && line && *line; ) {
		char *next = strchr(line, '\n'), state[32];
		long id;

		if (next)
			*next++ = '\0';
		if (sscanf(line, "%ld %31s", &id, state) == 2 && id > job->id) {
			job->id = id;
			strlcpy(job->state, state, sizeof(job->state));
			job->fate = fate_of(state);
		}
		line = next;
	}
	strbuf_free(&out);
	free(opt);
	free(squeue);
}

void
slurm_job_settle(const struct runner_conf *r, const char *name, struct slurm_job *job,
    int wait_ms)
{
	int64_t deadline = mono_ms() + wait_ms;

	for (;;) {
		slurm_job_find(r, name, job);
		if (job->fate != SLURM_ACTIVE || mono_ms() >= deadline)
			return;
		poll(NULL, 0, 200);
	}
}

void
slurm_cancel(const struct runner_conf *r, long id, const char *name)
{
	char *scancel = slurm_tool(r, "scancel");
	char *target = id > 0 ? xasprintf("%ld", id) : xasprintf("--name=%s", name);

	spawn_run((const char *[]){ scancel, target, NULL }, NULL, NULL, SLURM_CLIENT_TIMEOUT_S);
	free(target);
	free(scancel);
}
