#include "common/paths.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"

char *
path_worktree(const struct config *cfg, const char *repo, long number)
{
	return xasprintf("%s/worktrees/%s/%ld", cfg->state_dir, repo, number);
}

char *
path_issue_dir(const struct config *cfg, const char *repo, long number)
{
	return xasprintf("%s/issues/%s/%ld", cfg->state_dir, repo, number);
}

char *
path_attempt_log(const struct config *cfg, const char *repo, long number, int attempt)
{
	return xasprintf("%s/logs/%s/%ld/attempt-%d.log", cfg->state_dir, repo, number, attempt);
}

char *
path_agent_tip(const struct config *cfg, const char *repo)
{
	return xasprintf("%s/tips/%s", cfg->state_dir, repo);
}

char *
path_clean_config(const struct config *cfg, const char *repo)
{
	return xasprintf("%s/tips/%s.config", cfg->state_dir, repo);
}

char *
issue_branch_name(const struct config *cfg, long number)
{
	return xasprintf("%s-issue/%ld", cfg->agent_branch, number);
}

char *
path_existing_ancestor(const char *path)
{
	char *dir = xstrdup(path);
	struct stat st;

	while (stat(dir, &st) == -1) {
		char *slash = strrchr(dir, '/');

		if (slash == NULL || slash == dir) {
			free(dir);
			return xstrdup("/");
		}
		*slash = '\0';
	}
	return dir;
}
