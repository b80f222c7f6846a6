/*
 * What the rest of waved asks of a loaded configuration (its repos, pools,
 * cap, its lifetime across reloads), and the value syntaxes the parser
 * (config.c) shares with others: usage steps and sizes.
 */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keymap.h"
#include "common/util.h"

bool
config_parse_steps(const char *text, struct usage_step *steps, size_t *n, char *why,
    size_t whysize)
{
	const char *p = text;

	*n = 0;
	for (;;) {
		int percent, limit, used = 0;

		p += strspn(p, " \t");
		if (*p == '\0')
			break;
		if (sscanf(p, "%d:%d%n", &percent, &limit, &used) != 2 ||
		    (p[used] != '\0' && p[used] != ' ' && p[used] != '\t')) {
			if (why)
				snprintf(why, whysize, "expected PERCENT:LIMIT pairs, as in "
				    "\"50:3 65:2 75:1 80:0\", got \"%s\"", text);
			return false;
		}
		if (percent < 0 || percent > 100 || limit < 0 || limit > 10000 ||
		    (*n > 0 && percent <= steps[*n - 1].percent) || *n == USAGE_STEPS_MAX) {
			if (why)
				snprintf(why, whysize, "percents must rise from 0 to 100, limits be "
				    "0 to 10000, at most %d steps: \"%s\"", USAGE_STEPS_MAX, text);
			return false;
		}
		steps[(*n)++] = (struct usage_step){ percent, limit };
		p += used;
	}
	if (*n == 0 && why)
		snprintf(why, whysize, "expected at least one PERCENT:LIMIT pair");
	return *n > 0;
}

bool
config_parse_size(const char *text, long long *bytes)
{
	static const char units[] = "KMGT";
	char *end;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (end == text || errno != 0 || v < 0)
		return false;
	if (*end != '\0') {
		const char *u = strchr(units, toupper((unsigned char)*end));

		if (u == NULL || *u == '\0' || (end[1] != '\0' && !(toupper((unsigned char)end[1]) == 'B' &&
		    end[2] == '\0')))
			return false;
		for (long k = 0; k <= u - units; k++) {
			if (v > LLONG_MAX / 1024)
				return false;
			v *= 1024;
		}
	}
	*bytes = v;
	return true;
}

long
config_pool(const struct config *cfg, const char *name)
{
	for (size_t k = 0; k < cfg->npools; k++)
		if (strcmp(cfg->pools[k].name, name) == 0)
			return (long)k;
	return -1;
}

const struct config *
config_hold(const struct config *cfg)
{
	/* The count is bookkeeping, not configuration: holders see it const. */
	if (cfg)
		((struct config *)cfg)->refs++;
	return cfg;
}

void
config_release(const struct config *cfg)
{
	config_free((struct config *)cfg);
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL || --cfg->refs > 0)
		return;
	free(cfg->file);
	free(cfg->text);
	free(cfg->dir);
	free(cfg->state_dir);
	free(cfg->agent_branch);
	free(cfg->base_branch);
	free(cfg->source.path);
	free(cfg->source.api);
	free(cfg->source.label);
	free(cfg->source.milestone);
	free(cfg->source.token_file);
	free(cfg->source.token_command);
	free(cfg->source.command);
	free(cfg->source.report);
	for (int i = 0; i < PHASE_COUNT; i++)
		free(cfg->phases[i].run);
	free(cfg->merge_check);
	free(cfg->sandbox_paths);
	free(cfg->runner.srun);
	free(cfg->runner.args);
	for (size_t i = 0; i < cfg->nrepos; i++) {
		free(cfg->repos[i].name);
		free(cfg->repos[i].path);
		free(cfg->repos[i].github);
		free(cfg->repos[i].push);
		free(cfg->repos[i].setup);
		free(cfg->repos[i].pool);
	}
	for (size_t i = 0; i < cfg->npools; i++) {
		free(cfg->pools[i].name);
		free(cfg->pools[i].runner_args);
	}
	free(cfg->pools);
	free(cfg->usage.command);
	free(cfg->repos);
	keymap_free(cfg->repo_index);
	free(cfg);
}

bool
config_wants_github(const struct config *cfg)
{
	if (cfg->source.type == SOURCE_GITHUB)
		return true;
	for (size_t i = 0; i < cfg->nrepos; i++)
		if (cfg->repos[i].land == LAND_PR)
			return true;
	return false;
}

int
config_effective_cap(const struct config *cfg)
{
	return cfg->cap > 0 ? cfg->cap : (int)cfg->nrepos;
}

const struct repo_conf *
config_repo(const struct config *cfg, const char *name)
{
	long i = keymap_get(cfg->repo_index, name, 0);

	return i >= 0 ? &cfg->repos[i] : NULL;
}

const char *
config_default_path(const char *from_flag)
{
	const char *env;

	if (from_flag)
		return from_flag;
	if ((env = getenv("WAVED_CONFIG")) != NULL && *env)
		return env;
	return CONFIG_DEFAULT_PATH;
}

bool
github_owner_name_valid(const char *owner_name)
{
	const char *slash = strchr(owner_name, '/');
	size_t owner, name;

	if (slash == NULL || strchr(slash + 1, '/'))
		return false;
	owner = (size_t)(slash - owner_name);
	name = strlen(slash + 1);
	/* Owners: letters, digits and inner hyphens; names also '.' and '_', never . or .. */
	return owner >= 1 && owner <= 39 && owner_name[0] != '-' &&
	    strspn(owner_name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") ==
	    owner && name >= 1 && name <= 100 && strcmp(slash + 1, ".") != 0 &&
	    strcmp(slash + 1, "..") != 0 &&
	    strspn(slash + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._") ==
	    name;
}
