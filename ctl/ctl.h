/*
 * wavectl: the control program.  Each subcommand is a function taking the
 * config path and its own arguments, returning the process exit status.
 */
#ifndef WAVED_CTL_H
#define WAVED_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/config.h"
#include "common/issue.h"

/* Exit statuses shared by the subcommands (DESIGN.md section 11). */
#define CTL_OK 0
#define CTL_ATTENTION 1		/* e.g. plan: some issue is blocked */
#define CTL_BAD_INPUT 2		/* bad config, bad source, bad usage */

int cmd_plan(const char *config_path, int argc, char **argv);
int cmd_status(const char *config_path, int argc, char **argv);
int cmd_watch(const char *config_path, int argc, char **argv);
int cmd_summary(const char *config_path, int argc, char **argv);
int cmd_metrics(const char *config_path, int argc, char **argv);
int cmd_events(const char *config_path, int argc, char **argv);
int cmd_log(const char *config_path, int argc, char **argv);
int cmd_cap(const char *config_path, int argc, char **argv);
int cmd_retry(const char *config_path, int argc, char **argv);
int cmd_lever(const char *config_path, int argc, char **argv);

/* Parse a subcommand's only option, --json; -1 (usage printed) on anything else. */
int ctl_json_flag(int argc, char **argv, const char *command, bool *json);
/* Load and validate the config; on failure print the errors and return NULL. */
struct config *ctl_load_config(const char *path);
/* Load the configured source's issues, printing skipped entries; -1 when unusable. */
int ctl_load_issues(const struct config *cfg, struct issue_list *out);

#endif
