#include "supervisor/preflight.h"

#include <stdlib.h>

#include "common/git.h"

static int
preflight_repo(const struct config *cfg, const struct repo_conf *r, bool prepare,
    struct strbuf *errors)
{
	char sha[GIT_SHA_MAX + 1];
	char *agent = xasprintf("refs/heads/%s", cfg->agent_branch);
	char *base = xasprintf("refs/heads/%s", cfg->base_branch);
	int rc = 0;

	if (config_check_repo(cfg, r, errors) == -1)
		rc = -1;
	else if (git_rev_parse(r->path, agent, sha) == 0) {
		/* The agent branch is there: nothing to create. */
	} else if (git_rev_parse(r->path, base, sha) == -1) {
		strbuf_addf(errors, "repo %s: neither agent branch %s nor base branch %s exists\n",
		    r->name, cfg->agent_branch, cfg->base_branch);
		rc = -1;
	} else if (prepare && git_run(r->path, NULL, (const char *[]){ "branch", "--no-track",
	    "--", cfg->agent_branch, base, NULL }) != 0) {
		strbuf_addf(errors, "repo %s: cannot create agent branch %s from %s\n",
		    r->name, cfg->agent_branch, cfg->base_branch);
		rc = -1;
	}
	if (rc == 0 && prepare)
		git_run(r->path, NULL, (const char *[]){ "worktree", "prune", NULL });
	free(agent);
	free(base);
	return rc;
}

int
preflight_repos(const struct config *cfg, bool prepare, struct strbuf *errors)
{
	int rc = 0;

	for (size_t i = 0; i < cfg->nrepos; i++)
		if (preflight_repo(cfg, &cfg->repos[i], prepare, errors) == -1)
			rc = -1;
	return rc;
}
