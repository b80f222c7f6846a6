/*
 * Where things are under state_dir and what the issue branches are called
 * (DESIGN.md sections 5 and 14: paths and branch names come from the repo
 * name and the issue number, never from issue text).  Shared by the
 * supervisor, its workers and wavectl; callers free what is returned.
 */
#ifndef WAVED_PATHS_H
#define WAVED_PATHS_H

#include "common/config.h"

#define CONTROL_SOCKET "waved.sock"	/* in state_dir */
#define RETRY_AFTER_FILE "retry-after"	/* in an issue's folder: $WAVED_RETRY_AFTER_FILE */
#define USAGE_FILE "usage.ndjson"	/* in an issue's folder: $WAVED_USAGE_FILE */

/* path itself when it exists, else its nearest existing parent ("/" at
 * worst): where something not made yet would be made.  Caller frees. */
char *path_existing_ancestor(const char *path);
char *path_worktree(const struct config *cfg, const char *repo, long number);
char *path_issue_dir(const struct config *cfg, const char *repo, long number);
char *path_attempt_log(const struct config *cfg, const char *repo, long number, int attempt);
/* The agent branch tip waved set last in a repo (section 19): written by the landing. */
char *path_agent_tip(const struct config *cfg, const char *repo);
/* The repo's shared config as waved found it at its start or last reload (section 19). */
char *path_clean_config(const struct config *cfg, const char *repo);
/* AGENT-issue/NUMBER: git cannot hold both "waved" and "waved/12". */
char *issue_branch_name(const struct config *cfg, long number);

#endif
