#include "supervisor/preflight.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/git.h"
#include "common/git_refs.h"
#include "common/paths.h"
#include "common/slurm.h"
#include "common/spares.h"
#include "common/spawn.h"

#define RUNNER_CHECK_TIMEOUT_S 120	/* a busy cluster may queue the check for a while */
#define RUNNER_CHECK_NOT_SEEN 42	/* the job ran but the marker was not there */

/* The program a filter's command runs (its first word), found? */
static bool
filter_command_found(const char *command)
{
	char *program = xasprintf("%.*s", (int)strcspn(command, " \t\n"), command);
	bool found = strchr(program, '/') ? access(program, X_OK) == 0 :
	    spawn_which(program) != NULL;

	free(program);
	return found;
}

/*
 * Every filter the repository marks required (git-lfs's, say) must have its
 * command installed: without it, git refuses the checkout or the commit of
 * the files it filters, and an agent's edit to them would be lost.
 */
static int
check_required_filters(const struct repo_conf *r, struct strbuf *errors)
{
	struct strbuf list = { 0 };
	char *line, *save = NULL;
	int rc = 0;

	git_run(r->path, &list, (const char *[]){ "config", "--get-regexp",
	    "^filter\\..*\\.required$", NULL });
	for (line = list.s ? strtok_r(list.s, "\n", &save) : NULL; line;
	    line = strtok_r(NULL, "\n", &save)) {
		char *value = strchr(line, ' '), *name, *dot;
		static const char *const kinds[] = { "process", "clean", "smudge" };

		if (value == NULL || strcmp(value + 1, "true") != 0)
			continue;
		*value = '\0';
		name = xstrdup(line + 7);		/* past "filter." */
		if ((dot = strrchr(name, '.')) != NULL)
			*dot = '\0';
		for (size_t k = 0; k < ARRAY_LEN(kinds); k++) {
			char *key = xasprintf("filter.%s.%s", name, kinds[k]);
			struct strbuf cmd = { 0 };

			if (git_run(r->path, &cmd, (const char *[]){ "config", "--get", key, NULL }) == 0 &&
			    cmd.s && !filter_command_found(cmd.s)) {
				cmd.s[strcspn(cmd.s, "\n")] = '\0';
				strbuf_addf(errors, "repo %s: filter %s is required, but its command "
				    "is not installed: %s\n", r->name, name, cmd.s);
				rc = -1;
				k = ARRAY_LEN(kinds);
			}
			strbuf_free(&cmd);
			free(key);
		}
		free(name);
	}
	strbuf_free(&list);
	return rc;
}

/*
 * The repo's shared config as the operator left it, when waved starts or
 * reloads: what every phase's end is compared with and put back to (so that
 * two workers of one repo never take each other's agent's change for the
 * original).  A change the operator makes while waved runs takes a reload.
 */
static void
keep_clean_config(const struct config *cfg, const struct repo_conf *r)
{
	char *common = git_common_dir(r->path), *from, *to, *text;

	if (common == NULL)
		return;
	from = xasprintf("%s/config", common);
	to = path_clean_config(cfg, r->name);
	if ((text = read_file(from, NULL)) != NULL)
		write_file_whole(to, text);
	free(text);
	free(to);
	free(from);
	free(common);
}

/* The repo's path is a git repository (the configuration names file:line). */
static int
check_is_repo(const struct config *cfg, const struct repo_conf *r, struct strbuf *errors)
{
	const char *argv[] = { "git", "-C", r->path, "rev-parse", "--git-dir", NULL };

	if (spawn_run(argv, NULL, NULL, 0) == 0)
		return 0;
	strbuf_addf(errors, "%s:%d: path: [repo \"%s\"] %s is not a git repository\n",
	    cfg->file, r->path_line, r->name, r->path);
	return -1;
}

static int
preflight_repo(const struct config *cfg, const struct repo_conf *r, bool prepare,
    struct strbuf *errors)
{
	struct git_oid sha;
	char *agent = xasprintf("refs/heads/%s", cfg->agent_branch);
	char *base = xasprintf("refs/heads/%s", cfg->base_branch);
	int rc = 0;

	if (check_is_repo(cfg, r, errors) == -1)
		rc = -1;
	else if (!prepare && check_required_filters(r, errors) == -1)
		rc = -1;
	else if (git_rev_parse(r->path, agent, &sha) == 0) {
		/* The agent branch is there: nothing to create. */
	} else if (git_rev_parse(r->path, base, &sha) == -1) {
		strbuf_addf(errors, "repo %s: neither agent branch %s nor base branch %s exists\n",
		    r->name, cfg->agent_branch, cfg->base_branch);
		rc = -1;
	} else if (prepare && git_run(r->path, NULL, (const char *[]){ "branch", "--no-track",
	    "--", cfg->agent_branch, base, NULL }) != 0) {
		strbuf_addf(errors, "repo %s: cannot create agent branch %s from %s\n",
		    r->name, cfg->agent_branch, cfg->base_branch);
		rc = -1;
	}
	if (rc == 0 && prepare) {
		spares_tidy(cfg, r);	/* before the prune, which would take a half-moved one */
		git_run(r->path, NULL, (const char *[]){ "worktree", "prune", NULL });
		keep_clean_config(cfg, r);
	}
	free(agent);
	free(base);
	return rc;
}

/* sandbox = bwrap: a one-second sandboxed command must run here. */
static int
preflight_sandbox(const struct config *cfg, struct strbuf *errors)
{
	struct strbuf out = { 0 };
	int rc;

	if (!cfg->sandbox)
		return 0;
	if (spawn_which("bwrap") == NULL) {
		strbuf_addf(errors, "sandbox = bwrap: bwrap is not installed (Debian: bubblewrap)\n");
		return -1;
	}
	rc = spawn_run((const char *[]){ "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc",
	    "/proc", "--tmpfs", "/tmp", "--", "/bin/sh", "-c", "sleep 1", NULL }, NULL, &out, 30);
	if (rc != 0)
		strbuf_addf(errors, "sandbox = bwrap: a sandboxed phase cannot run here (are user "
		    "namespaces off? kernel.unprivileged_userns_clone, or run as root): %s\n",
		    out.s ? out.s : "");
	strbuf_free(&out);
	return rc == 0 ? 0 : -1;
}

/*
 * Every repo is checked before any is changed: a failed preflight of one
 * repo leaves no agent branch created in another.
 */
int
preflight_repos(const struct config *cfg, bool prepare, struct strbuf *errors)
{
	int rc = preflight_sandbox(cfg, errors);

	for (size_t i = 0; i < cfg->nrepos; i++)
		if (preflight_repo(cfg, &cfg->repos[i], false, errors) == -1)
			rc = -1;
	for (size_t i = 0; rc == 0 && prepare && i < cfg->nrepos; i++)
		if (preflight_repo(cfg, &cfg->repos[i], true, errors) == -1)
			rc = -1;
	return rc;
}

/* One check job with these pool arguments (NULL: the runner's alone). */
static int
check_job(const struct config *cfg, const char *marker, const char *pool,
    const char *pool_args, struct strbuf *errors)
{
	struct slurm_job_spec spec = { .runner = &cfg->runner, .pool_args = pool_args,
	    .cwd = "/", .timeout_s = 1 };
	char trace[TRACE_LEN + 1], *where = pool ? xasprintf(" (pool %s)", pool) : xstrdup("");
	struct strbuf out = { 0 };
	char **argv, said[256];
	int rc;

	trace_id_new(trace);
	slurm_job_name(&spec, "preflight", "check", trace);
	argv = slurm_srun_argv(&spec, (const char *[]){ "/bin/sh", "-c",
	    "test -f \"$1\" || exit 42", "waved-preflight", marker, NULL });
	rc = spawn_run((const char *const *)argv, NULL, &out, RUNNER_CHECK_TIMEOUT_S);
	slurm_argv_free(argv);
	if (rc == SPAWN_TIMEOUT) {
		slurm_cancel(&cfg->runner, 0, spec.name);
		strbuf_addf(errors, "runner%s: partition: no one-second job ran within %d s "
		    "(args \"%s%s%s\")\n", where, RUNNER_CHECK_TIMEOUT_S,
		    cfg->runner.args ? cfg->runner.args : "", pool_args ? " " : "",
		    pool_args ? pool_args : "");
	} else if (rc == RUNNER_CHECK_NOT_SEEN)
		strbuf_addf(errors, "runner%s: shared path: a job on the cluster does not see %s "
		    "(state_dir must be on storage the nodes mount at the same path)\n", where,
		    cfg->state_dir);
	else if (rc != 0) {
		last_line(out.s ? out.s : "", said, sizeof(said));	/* what srun said */
		strbuf_addf(errors, "runner%s: partition: a one-second job did not run (args "
		    "\"%s%s%s\", srun exit %d): %s\n", where, cfg->runner.args ? cfg->runner.args : "",
		    pool_args ? " " : "", pool_args ? pool_args : "", rc, said);
	}
	strbuf_free(&out);
	free(where);
	return rc == 0 ? 0 : -1;
}

int
preflight_runner(const struct config *cfg, struct strbuf *errors)
{
	char *srun, *dir, *marker;
	int fd, rc = 0;

	if (cfg->runner.type != RUNNER_SLURM)
		return 0;
	if ((srun = slurm_srun_path(&cfg->runner)) == NULL) {
		strbuf_addf(errors, "runner: srun: \"%s\" not found%s\n", cfg->runner.srun,
		    strchr(cfg->runner.srun, '/') ? "" : " in PATH");
		return -1;
	}
	free(srun);
	dir = path_existing_ancestor(cfg->state_dir);	/* -n: state_dir may not exist yet */
	marker = xasprintf("%s/.waved-runner-check.XXXXXX", dir);
	free(dir);
	if ((fd = mkstemp(marker)) == -1) {
		strbuf_addf(errors, "runner: shared path: cannot write %s: %s\n", marker,
		    strerror(errno));
		free(marker);
		return -1;
	}
	close(fd);
	rc = check_job(cfg, marker, NULL, NULL, errors);
	for (size_t i = 0; rc == 0 && i < cfg->npools; i++)
		if (cfg->pools[i].runner_args)
			rc = check_job(cfg, marker, cfg->pools[i].name, cfg->pools[i].runner_args,
			    errors);
	unlink(marker);
	free(marker);
	return rc;
}
