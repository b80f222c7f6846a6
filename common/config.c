#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "common/argv.h"
#include "common/log.h"
#include "common/keymap.h"
#include "common/util.h"

static const char *const phase_names[PHASE_COUNT] = {
	"setup", "implement", "verify", "review", "resolve"
};

enum section_kind {
	SECT_NONE,		/* before any section, or an unknown one */
	SECT_WAVED,
	SECT_SOURCE,
	SECT_MERGE,
	SECT_PHASE,
	SECT_REPO,
	SECT_USAGE,
	SECT_POOL,
	SECT_RUNNER,
	SECT_BUDGET
};

enum value_type {
	V_INT,
	V_BOOL,
	V_STR,
	V_PATH,			/* a string made absolute against the config's folder */
	V_COMMAND,		/* a string that splits into an argv (common/argv.h) */
	V_SOURCE_TYPE,
	V_RUNNER_TYPE,
	V_LAND,
	V_SANDBOX,
	V_STEPS,		/* usage steps: "PERCENT:LIMIT ..." */
	V_SIZE,			/* bytes, with K M G T */
	V_USD,			/* dollars: a decimal number >= 0 */
	V_TOKENS,		/* a whole number >= 0 (long long) */
	V_DURATION		/* seconds, or a number with s, m or h (int) */
};

/* One configuration key: where it lives, its type and its bounds. */
struct key_def {
	enum section_kind section;
	const char *name;
	enum value_type type;
	size_t offset;		/* into struct config, phase_conf or repo_conf */
	long min, max;
};

#define CFG(f) offsetof(struct config, f)
#define SRC(f) (offsetof(struct config, source) + offsetof(struct source_conf, f))
#define USAGE(f) (offsetof(struct config, usage) + offsetof(struct usage_conf, f))
#define BUDGET(f) (offsetof(struct config, budget) + offsetof(struct budget_conf, f))
#define RUNNER(f) (offsetof(struct config, runner) + offsetof(struct runner_conf, f))

static const struct key_def key_defs[] = {
	{ SECT_WAVED, "state_dir", V_PATH, CFG(state_dir), 0, 0 },
	{ SECT_WAVED, "cap", V_INT, CFG(cap), 0, 10000 },
	{ SECT_WAVED, "agent_branch", V_STR, CFG(agent_branch), 0, 0 },
	{ SECT_WAVED, "base_branch", V_STR, CFG(base_branch), 0, 0 },
	{ SECT_WAVED, "max_attempts", V_INT, CFG(max_attempts), 1, 1000 },
	{ SECT_WAVED, "retry_backoff", V_INT, CFG(retry_backoff), 0, 86400 },
	{ SECT_WAVED, "poll_interval", V_INT, CFG(poll_interval), 1, 86400 },
	{ SECT_WAVED, "keep_failed_worktrees", V_BOOL, CFG(keep_failed_worktrees), 0, 0 },
	{ SECT_WAVED, "reuse_worktrees", V_BOOL, CFG(reuse_worktrees), 0, 0 },
	{ SECT_WAVED, "spare_worktrees", V_INT, CFG(spare_worktrees), 0, 64 },
	{ SECT_WAVED, "hold_repo_during_review", V_BOOL, CFG(hold_repo_during_review), 0, 0 },
	{ SECT_WAVED, "fix_rounds", V_INT, CFG(fix_rounds), 0, 100 },
	{ SECT_WAVED, "review_rounds", V_INT, CFG(review_rounds), 0, 100 },
	{ SECT_WAVED, "conflict_rounds", V_INT, CFG(conflict_rounds), 0, 100 },
	{ SECT_WAVED, "pr_rounds", V_INT, CFG(pr_rounds), 0, 100 },
	{ SECT_WAVED, "log_max", V_SIZE, CFG(log_max), 0, 0 },
	{ SECT_WAVED, "stop_timeout", V_INT, CFG(stop_timeout), 0, 86400 },
	{ SECT_WAVED, "git_timeout", V_INT, CFG(git_timeout), 1, 86400 },
	{ SECT_WAVED, "kill_grace", V_INT, CFG(kill_grace), 0, 3600 },
	{ SECT_WAVED, "tempfail_backoff", V_INT, CFG(tempfail_backoff), 0, 86400 },
	{ SECT_WAVED, "max_tempfails", V_INT, CFG(max_tempfails), 1, 100000 },
	{ SECT_WAVED, "commit_hooks", V_BOOL, CFG(commit_hooks), 0, 0 },
	{ SECT_WAVED, "cgroup", V_BOOL, CFG(cgroup), 0, 0 },
	{ SECT_WAVED, "sandbox", V_SANDBOX, CFG(sandbox), 0, 0 },
	{ SECT_WAVED, "sandbox_paths", V_STR, CFG(sandbox_paths), 0, 0 },
	{ SECT_WAVED, "max_file_size", V_SIZE, CFG(max_file_size), 0, 0 },
	{ SECT_SOURCE, "type", V_SOURCE_TYPE, SRC(type), 0, 0 },
	{ SECT_SOURCE, "path", V_PATH, SRC(path), 0, 0 },
	{ SECT_SOURCE, "api", V_STR, SRC(api), 0, 0 },
	{ SECT_SOURCE, "label", V_STR, SRC(label), 0, 0 },
	{ SECT_SOURCE, "milestone", V_STR, SRC(milestone), 0, 0 },
	{ SECT_SOURCE, "token_file", V_PATH, SRC(token_file), 0, 0 },
	{ SECT_SOURCE, "token_command", V_COMMAND, SRC(token_command), 0, 0 },
	{ SECT_SOURCE, "token_ttl", V_DURATION, SRC(token_ttl), 60, 7 * 86400 },
	{ SECT_SOURCE, "requests_per_minute", V_INT, SRC(requests_per_minute), 1, 100000 },
	{ SECT_SOURCE, "pass_token", V_BOOL, SRC(pass_token), 0, 0 },
	{ SECT_SOURCE, "close_on_done", V_BOOL, SRC(close_on_done), 0, 0 },
	{ SECT_SOURCE, "open_pr", V_BOOL, SRC(open_pr), 0, 0 },
	{ SECT_SOURCE, "command", V_COMMAND, SRC(command), 0, 0 },
	{ SECT_SOURCE, "command_timeout", V_INT, SRC(command_timeout), 1, 86400 },
	{ SECT_SOURCE, "report", V_COMMAND, SRC(report), 0, 0 },
	{ SECT_MERGE, "check", V_STR, CFG(merge_check), 0, 0 },
	{ SECT_PHASE, "run", V_STR, offsetof(struct phase_conf, run), 0, 0 },
	{ SECT_PHASE, "timeout", V_INT, offsetof(struct phase_conf, timeout), 1, 7 * 86400 },
	{ SECT_PHASE, "idle_timeout", V_INT, offsetof(struct phase_conf, idle_timeout), 0,
	    7 * 86400 },
	{ SECT_REPO, "path", V_PATH, offsetof(struct repo_conf, path), 0, 0 },
	{ SECT_REPO, "github", V_STR, offsetof(struct repo_conf, github), 0, 0 },
	{ SECT_REPO, "push", V_STR, offsetof(struct repo_conf, push), 0, 0 },
	{ SECT_REPO, "setup", V_STR, offsetof(struct repo_conf, setup), 0, 0 },
	{ SECT_REPO, "pool", V_STR, offsetof(struct repo_conf, pool), 0, 0 },
	{ SECT_REPO, "land", V_LAND, offsetof(struct repo_conf, land), 0, 0 },
	{ SECT_USAGE, "command", V_STR, USAGE(command), 0, 0 },
	{ SECT_USAGE, "interval", V_INT, USAGE(interval), 1, 86400 },
	{ SECT_USAGE, "steps", V_STEPS, USAGE(steps), 0, 0 },
	{ SECT_USAGE, "tempfail_streak", V_INT, USAGE(tempfail_streak), 0, 1000 },
	{ SECT_USAGE, "cooldown", V_INT, USAGE(cooldown), 1, 86400 },
	{ SECT_USAGE, "min_free_mem", V_SIZE, USAGE(min_free_mem), 0, 0 },
	{ SECT_BUDGET, "per_issue", V_USD, BUDGET(per_issue), 0, 0 },
	{ SECT_BUDGET, "per_day", V_USD, BUDGET(per_day), 0, 0 },
	{ SECT_BUDGET, "per_issue_tokens", V_TOKENS, BUDGET(per_issue_tokens), 0, 0 },
	{ SECT_BUDGET, "per_day_tokens", V_TOKENS, BUDGET(per_day_tokens), 0, 0 },
	{ SECT_POOL, "cap", V_INT, offsetof(struct pool_conf, cap), 0, 10000 },
	{ SECT_POOL, "runner_args", V_STR, offsetof(struct pool_conf, runner_args), 0, 0 },
	{ SECT_RUNNER, "type", V_RUNNER_TYPE, RUNNER(type), 0, 0 },
	{ SECT_RUNNER, "srun", V_STR, RUNNER(srun), 0, 0 },
	{ SECT_RUNNER, "args", V_STR, RUNNER(args), 0, 0 },
};

/* Parser state shared by the line reader and the key handler. */
struct parse_state {
	struct config *cfg;
	FILE *fp;
	char *dir;		/* the config file's folder, for relative paths */
	int lineno;		/* line being parsed */
	bool at_line_start;
	enum section_kind section;
	int section_serial;	/* counts section headers, to spot repeated sections */
	int phase;		/* current [phase "..."] */
	size_t repo;		/* current [repo "..."] */
	size_t pool;		/* current [pool "..."] */
	int command_line;	/* where [source] command is set */
	int token_command_line;	/* where [source] token_command is set */
	unsigned long seen[64];	/* keys set in this section instance: bit per key_def */
	struct strbuf errors;
};

static void
config_error(struct parse_state *st, int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
config_error(struct parse_state *st, int line, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (key)
		strbuf_addf(&st->errors, "%s:%d: %s: %s\n", st->cfg->file, line, key, msg);
	else
		strbuf_addf(&st->errors, "%s:%d: %s\n", st->cfg->file, line, msg);
	free(msg);
}

const char *
phase_name(enum phase_id id)
{
	return id < PHASE_COUNT ? phase_names[id] : "?";
}

static void
config_set_defaults(struct config *cfg)
{
	cfg->state_dir = xstrdup("/var/lib/waved");
	cfg->cap = 0;
	cfg->agent_branch = xstrdup("waved");
	cfg->base_branch = xstrdup("main");
	cfg->max_attempts = 3;
	cfg->retry_backoff = 30;
	cfg->poll_interval = 60;
	cfg->keep_failed_worktrees = true;
	cfg->reuse_worktrees = true;
	cfg->spare_worktrees = 2;
	cfg->hold_repo_during_review = false;
	cfg->fix_rounds = 2;
	cfg->review_rounds = 2;
	cfg->usage.interval = 300;
	cfg->usage.tempfail_streak = 3;
	cfg->usage.cooldown = 600;
	config_parse_steps("50:3 65:2 75:1 80:0", cfg->usage.steps, &cfg->usage.nsteps, NULL, 0);
	cfg->conflict_rounds = 3;
	cfg->pr_rounds = 5;
	cfg->log_max = 16LL << 20;
	cfg->stop_timeout = 30;
	cfg->git_timeout = 300;
	cfg->kill_grace = 10;
	cfg->tempfail_backoff = 30;
	cfg->max_tempfails = 20;
	cfg->commit_hooks = true;
	cfg->cgroup = true;
	cfg->max_file_size = 50LL << 20;
	cfg->usage.min_free_mem = 1LL << 30;
	cfg->runner.type = RUNNER_LOCAL;
	cfg->runner.srun = xstrdup("srun");
	cfg->source.type = SOURCE_FILE;
	cfg->source.path = xstrdup("/etc/waved/issues.json");
	cfg->source.api = xstrdup("https://api.github.com");
	cfg->source.label = xstrdup("waved");
	cfg->source.command_timeout = 60;
	cfg->source.token_ttl = 50 * 60;
	cfg->source.requests_per_minute = 800;
	for (int i = 0; i < PHASE_COUNT; i++)
		cfg->phases[i].timeout = 3600;
}

/* "name" inside [kind "name"]: the quoted part, or NULL when malformed. */
static char *
section_argument(const char *header, const char *kind)
{
	size_t klen = strlen(kind), n;
	const char *p = header + klen;

	if (strncmp(header, kind, klen) != 0 || (*p != ' ' && *p != '\t'))
		return NULL;
	p += strspn(p, " \t");
	n = strlen(p);
	if (n < 3 || p[0] != '"' || p[n - 1] != '"')
		return NULL;
	char *arg = xstrdup(p + 1);
	arg[n - 2] = '\0';
	return arg;
}

static void
begin_repo_section(struct parse_state *st, char *name)
{
	struct config *cfg = st->cfg;

	if (!repo_name_valid(name)) {
		config_error(st, st->lineno, "repo",
		    "name \"%s\" must be 1-%d characters of A-Z a-z 0-9 . _ -",
		    name, REPO_NAME_MAX);
		free(name);
		st->section = SECT_NONE;
		return;
	}
	long first = keymap_get(cfg->repo_index, name, 0);

	if (first >= 0) {
		config_error(st, st->lineno, "repo",
		    "duplicate repo \"%s\" (first defined at line %d)",
		    name, cfg->repos[first].line);
		free(name);
		st->section = SECT_NONE;
		return;
	}
	keymap_put(cfg->repo_index, name, 0, (long)cfg->nrepos);
	cfg->repos = xreallocarray(cfg->repos, cfg->nrepos + 1, sizeof(*cfg->repos));
	cfg->repos[cfg->nrepos] = (struct repo_conf){ .name = name, .line = st->lineno };
	st->repo = cfg->nrepos++;
	st->section = SECT_REPO;
}

static void
begin_pool_section(struct parse_state *st, char *name)
{
	struct config *cfg = st->cfg;

	if (!repo_name_valid(name) || config_pool(cfg, name) >= 0) {
		config_error(st, st->lineno, "pool", "%s \"%s\": a pool name is 1-%d characters of "
		    "A-Z a-z 0-9 . _ -, once", config_pool(cfg, name) >= 0 ? "duplicate pool" :
		    "bad name", name, REPO_NAME_MAX);
		free(name);
		st->section = SECT_NONE;
		return;
	}
	cfg->pools = xreallocarray(cfg->pools, cfg->npools + 1, sizeof(*cfg->pools));
	cfg->pools[cfg->npools] = (struct pool_conf){ .name = name, .cap = 1, .line = st->lineno };
	st->pool = cfg->npools++;
	st->section = SECT_POOL;
}

static void
begin_section(struct parse_state *st, const char *header)
{
	char *arg;

	st->section_serial++;
	memset(st->seen, 0, sizeof(st->seen));
	st->section = SECT_NONE;
	if (strcmp(header, "waved") == 0)
		st->section = SECT_WAVED;
	else if (strcmp(header, "source") == 0)
		st->section = SECT_SOURCE;
	else if (strcmp(header, "merge") == 0)
		st->section = SECT_MERGE;
	else if (strcmp(header, "usage") == 0)
		st->section = SECT_USAGE;
	else if (strcmp(header, "runner") == 0)
		st->section = SECT_RUNNER;
	else if (strcmp(header, "budget") == 0)
		st->section = SECT_BUDGET;
	else if ((arg = section_argument(header, "pool")) != NULL)
		begin_pool_section(st, arg);
	else if ((arg = section_argument(header, "phase")) != NULL) {
		for (int i = 0; i < PHASE_COUNT; i++)
			if (strcmp(arg, phase_names[i]) == 0) {
				st->section = SECT_PHASE;
				st->phase = i;
			}
		if (st->section == SECT_NONE)
			config_error(st, st->lineno, "phase",
			    "unknown phase \"%s\": expected setup, implement, verify, review or resolve",
			    arg);
		free(arg);
	} else if ((arg = section_argument(header, "repo")) != NULL)
		begin_repo_section(st, arg);
	else
		config_error(st, st->lineno, NULL,
		    "unknown section [%s]: expected [waved], [source], [merge], [usage], "
		    "[budget], [runner], [phase \"NAME\"], [pool \"NAME\"] or [repo \"NAME\"]", header);
}

/* Look at each line as inih reads it, to track line numbers and section headers. */
static void
inspect_line(struct parse_state *st, const char *line)
{
	const char *p = line + strspn(line, " \t");
	const char *close;

	if (*p != '[' || (close = strchr(p, ']')) == NULL)
		return;
	char *header = xstrdup(p + 1);
	header[close - p - 1] = '\0';
	begin_section(st, header);
	free(header);
}

/* An fgets-style reader for ini_parse_stream(). */
static char *
config_reader(char *buf, int size, void *stream)
{
	struct parse_state *st = stream;

	if (fgets(buf, size, st->fp) == NULL)
		return NULL;
	if (st->at_line_start) {
		st->lineno++;
		inspect_line(st, buf);
	}
	st->at_line_start = strchr(buf, '\n') != NULL;
	return buf;
}

static bool
parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static char *
absolute_path(const struct parse_state *st, const char *v)
{
	if (v[0] == '/')
		return xstrdup(v);
	return xasprintf("%s/%s", st->dir, v);
}

/* Store one value at its place; on a bad value, say what was expected. */
static void
set_value(struct parse_state *st, const struct key_def *def, void *base, const char *v)
{
	char *end;
	long n;

	switch (def->type) {
	case V_INT:
		errno = 0;
		n = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno != 0 || n < def->min || n > def->max) {
			config_error(st, st->lineno, def->name,
			    "expected a whole number from %ld to %ld, got \"%s\"",
			    def->min, def->max, v);
			return;
		}
		*(int *)((char *)base + def->offset) = (int)n;
		return;
	case V_BOOL:
		if (!parse_bool(v, (bool *)((char *)base + def->offset)))
			config_error(st, st->lineno, def->name,
			    "expected yes or no, got \"%s\"", v);
		return;
	case V_SOURCE_TYPE:
		if (strcmp(v, "file") == 0)
			st->cfg->source.type = SOURCE_FILE;
		else if (strcmp(v, "github") == 0)
			st->cfg->source.type = SOURCE_GITHUB;
		else if (strcmp(v, "command") == 0)
			st->cfg->source.type = SOURCE_COMMAND;
		else
			config_error(st, st->lineno, def->name,
			    "expected file, github or command, got \"%s\"", v);
		return;
	case V_RUNNER_TYPE:
		if (strcmp(v, "local") == 0)
			st->cfg->runner.type = RUNNER_LOCAL;
		else if (strcmp(v, "slurm") == 0)
			st->cfg->runner.type = RUNNER_SLURM;
		else
			config_error(st, st->lineno, def->name,
			    "expected local or slurm, got \"%s\"", v);
		return;
	case V_SANDBOX:
		if (strcmp(v, "none") == 0 || strcmp(v, "bwrap") == 0)
			*(bool *)((char *)base + def->offset) = strcmp(v, "bwrap") == 0;
		else
			config_error(st, st->lineno, def->name,
			    "expected none or bwrap, got \"%s\"", v);
		return;
	case V_LAND:
		if (strcmp(v, "branch") == 0 || strcmp(v, "pr") == 0)
			*(enum land_mode *)((char *)base + def->offset) =
			    strcmp(v, "pr") == 0 ? LAND_PR : LAND_BRANCH;
		else
			config_error(st, st->lineno, def->name,
			    "expected branch or pr, got \"%s\"", v);
		return;
	case V_STEPS: {
		struct usage_conf *u = &st->cfg->usage;
		char why[256];

		if (!config_parse_steps(v, u->steps, &u->nsteps, why, sizeof(why)))
			config_error(st, st->lineno, def->name, "%s", why);
		return;
	}
	case V_DURATION: {
		errno = 0;
		n = strtol(v, &end, 10);
		long unit = *end == 'h' ? 3600 : *end == 'm' ? 60 : 1;

		if (*end == 's' || *end == 'm' || *end == 'h')
			end++;
		if (*v == '\0' || !isdigit((unsigned char)*v) || *end != '\0' || errno != 0 ||
		    n > def->max / unit || n * unit < def->min) {
			config_error(st, st->lineno, def->name,
			    "expected a duration from %lds to %ldh such as 50m, 3600 or 1h, got \"%s\"",
			    def->min, def->max / 3600, v);
			return;
		}
		*(int *)((char *)base + def->offset) = (int)(n * unit);
		return;
	}
	case V_SIZE:
		if (!config_parse_size(v, (long long *)((char *)base + def->offset)))
			config_error(st, st->lineno, def->name,
			    "expected a size such as 512M or 2G, got \"%s\"", v);
		return;
	case V_USD: {
		double d;

		errno = 0;
		d = strtod(v, &end);
		if (*v == '\0' || *end != '\0' || errno != 0 || !(d >= 0) || d > 1e12)
			config_error(st, st->lineno, def->name,
			    "expected an amount in USD such as 5.00 (0: no limit), got \"%s\"", v);
		else
			*(double *)((char *)base + def->offset) = d;
		return;
	}
	case V_TOKENS: {
		long long t;

		errno = 0;
		t = strtoll(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno != 0 || t < 0)
			config_error(st, st->lineno, def->name,
			    "expected a whole number of tokens >= 0 (0: no limit), got \"%s\"", v);
		else
			*(long long *)((char *)base + def->offset) = t;
		return;
	}
	case V_COMMAND: {
		char why[128], **argv = argv_split(v, why, sizeof(why));

		if (argv == NULL) {
			config_error(st, st->lineno, def->name, "%s in \"%s\" (words split at "
			    "blanks, '...' and \"...\" quote; no shell)", why, v);
			return;
		}
		argv_free(argv);
		char **slot = (char **)((char *)base + def->offset);
		free(*slot);
		*slot = xstrdup(v);
		return;
	}
	case V_STR:
	case V_PATH:
		if (*v == '\0') {
			config_error(st, st->lineno, def->name, "expected a value, got nothing");
			return;
		}
		char **slot = (char **)((char *)base + def->offset);
		free(*slot);
		*slot = def->type == V_PATH ? absolute_path(st, v) : xstrdup(v);
		return;
	}
}

static void *
section_base(struct parse_state *st)
{
	switch (st->section) {
	case SECT_PHASE:
		return &st->cfg->phases[st->phase];
	case SECT_REPO:
		return &st->cfg->repos[st->repo];
	case SECT_POOL:
		return &st->cfg->pools[st->pool];
	default:
		return st->cfg;
	}
}

static int
config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;
	size_t i;

	(void)section;		/* tracked by inspect_line, which also sees empty sections */
	if (st->section == SECT_NONE) {
		if (st->section_serial == 0)
			config_error(st, st->lineno, name, "key outside any section");
		return 1;	/* an unknown section was reported once at its header */
	}
	for (i = 0; i < ARRAY_LEN(key_defs); i++)
		if (key_defs[i].section == st->section && strcmp(key_defs[i].name, name) == 0)
			break;
	if (i == ARRAY_LEN(key_defs)) {
		config_error(st, st->lineno, name, "unknown key in this section");
		return 1;
	}
	if (st->seen[i / 64] & (1UL << (i % 64))) {
		config_error(st, st->lineno, name, "set twice in the same section");
		return 1;
	}
	st->seen[i / 64] |= 1UL << (i % 64);
	if (st->section == SECT_REPO && strcmp(name, "path") == 0)
		st->cfg->repos[st->repo].path_line = st->lineno;
	if (st->section == SECT_SOURCE && strcmp(name, "command") == 0)
		st->command_line = st->lineno;
	if (st->section == SECT_SOURCE && strcmp(name, "token_command") == 0)
		st->token_command_line = st->lineno;
	set_value(st, &key_defs[i], section_base(st), value);
	return 1;
}

/* Rules that span keys, checked once the whole file is read. */
static void
config_validate(struct parse_state *st)
{
	struct config *cfg = st->cfg;

	if (cfg->phases[PHASE_IMPLEMENT].run == NULL)
		config_error(st, st->lineno, "[phase \"implement\"] run",
		    "required: the command that implements an issue");
	if (cfg->nrepos == 0)
		config_error(st, st->lineno, "[repo \"NAME\"]",
		    "at least one repo is required");
	for (size_t i = 0; i < cfg->nrepos; i++) {
		struct repo_conf *r = &cfg->repos[i];

		if (r->path == NULL)
			config_error(st, r->line, "path",
			    "required in [repo \"%s\"]: the repository's folder", r->name);
		if (cfg->source.type == SOURCE_GITHUB && r->github == NULL)
			config_error(st, r->line, "github",
			    "required in [repo \"%s\"] with [source] type = github: owner/name",
			    r->name);
		if (r->pool && config_pool(cfg, r->pool) < 0)
			config_error(st, r->line, "pool",
			    "[repo \"%s\"] names pool \"%s\", which no [pool \"NAME\"] defines",
			    r->name, r->pool);
		if (r->land == LAND_PR && r->github == NULL)
			config_error(st, r->line, "land",
			    "pr in [repo \"%s\"] needs a github key (owner/name): the pull "
			    "requests are opened there", r->name);
		if (r->land == LAND_PR && r->push == NULL)
			config_error(st, r->line, "land",
			    "pr in [repo \"%s\"] needs a push key (a remote): the issue branch "
			    "is pushed there", r->name);
		if (r->github && !github_owner_name_valid(r->github))
			config_error(st, r->line, "github",
			    "expected owner/name as GitHub allows them, got \"%s\"", r->github);
	}
	if (cfg->source.type == SOURCE_COMMAND && cfg->source.command == NULL)
		config_error(st, st->lineno, "[source] command",
		    "required with type = command: the command that prints the issues");
	if (cfg->source.type != SOURCE_COMMAND && cfg->source.command)
		config_error(st, st->command_line, "command",
		    "only with [source] type = command (this source's type is %s)",
		    cfg->source.type == SOURCE_GITHUB ? "github" : "file");
	if (cfg->source.token_command && cfg->source.token_file)
		config_error(st, st->token_command_line, "token_command",
		    "either token_command or token_file, not both: which token would be meant?");
	if (strcmp(cfg->agent_branch, cfg->base_branch) == 0)
		config_error(st, st->lineno, "agent_branch",
		    "must differ from base_branch (\"%s\"): waved never moves the base",
		    cfg->base_branch);
}

static char *
config_dir(const char *path)
{
	char *copy = xstrdup(path), *slash = strrchr(copy, '/'), *dir;
	char cwd[PATH_MAX];

	if (slash == copy)
		dir = xstrdup("/");
	else if (slash) {
		*slash = '\0';
		dir = copy[0] == '/' ? xstrdup(copy) :
		    xasprintf("%s/%s", getcwd(cwd, sizeof(cwd)) ? cwd : ".", copy);
	} else
		dir = xstrdup(getcwd(cwd, sizeof(cwd)) ? cwd : ".");
	free(copy);
	return dir;
}

/* Parse text as the file path, relative paths from dir; takes text. */
static struct config *
parse(char *text, const char *path, const char *dir, char **errors)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	struct parse_state st = { .cfg = cfg, .at_line_start = true };
	int rc;

	cfg->refs = 1;
	*errors = NULL;
	cfg->file = xstrdup(path);
	cfg->text = text;
	cfg->repo_index = keymap_new(16);
	config_set_defaults(cfg);
	if ((st.fp = fmemopen(text, strlen(text), "r")) == NULL)
		fatal("fmemopen");
	st.dir = xstrdup(dir);
	cfg->dir = xstrdup(st.dir);
	/* Long phase commands are normal; continuation lines are not supported. */
	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_max_line = 1 << 20;
	ini_allow_multiline = false;
	rc = ini_parse_stream(config_reader, &st, config_handler, &st);
	fclose(st.fp);
	if (rc > 0)
		config_error(&st, rc, NULL, "syntax error: expected [section], key = value or a comment");
	else if (rc < 0)
		config_error(&st, st.lineno, NULL, "out of memory while parsing");
	config_validate(&st);
	free(st.dir);
	if (st.errors.len > 0) {
		*errors = strbuf_take(&st.errors);
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct config *
config_load(const char *path, char **errors)
{
	char *text = read_file(path, NULL), *dir;
	struct config *cfg;

	if (text == NULL) {
		*errors = xasprintf("%s: cannot read: %s\n", path, strerror(errno));
		return NULL;
	}
	dir = config_dir(path);
	cfg = parse(text, path, dir, errors);
	free(dir);
	return cfg;
}

struct config *
config_parse_text(const char *text, const char *file, const char *dir, char **errors)
{
	return parse(xstrdup(text), file, dir, errors);
}

