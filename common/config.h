/*
 * waved.conf: INI parsed with libinih (DESIGN.md section 9).  Every error
 * names FILE:LINE: key and says what was expected.
 */
#ifndef WAVED_CONFIG_H
#define WAVED_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/util.h"

struct keymap;

#define CONFIG_DEFAULT_PATH "/etc/waved/waved.conf"

enum phase_id {
	PHASE_SETUP,
	PHASE_IMPLEMENT,
	PHASE_VERIFY,
	PHASE_REVIEW,
	PHASE_RESOLVE,		/* merge conflicts; default: implement's command */
	PHASE_COUNT
};

enum source_type {
	SOURCE_FILE,
	SOURCE_GITHUB,
	SOURCE_COMMAND		/* any tracker: a command prints the issues (section 10) */
};

struct phase_conf {
	char *run;		/* NULL: the phase is skipped (implement is required) */
	int timeout;		/* seconds; then SIGTERM, and SIGKILL after kill_grace */
	int idle_timeout;	/* seconds with no output and no CPU: stalled; 0: never */
};

/* How an issue's work lands (DESIGN.md sections 6 and 18). */
enum land_mode {
	LAND_BRANCH,		/* waved merges it onto the agent branch */
	LAND_PR,		/* a pull request per issue; a person merges it */
};

struct repo_conf {
	char *name;		/* [A-Za-z0-9._-]+ */
	char *path;		/* absolute */
	char *github;		/* owner/name, or NULL */
	char *push;		/* remote name, or NULL */
	char *setup;		/* overrides [phase "setup"] run, or NULL */
	char *pool;		/* its issues take a slot of this [pool], or NULL */
	enum land_mode land;
	int line;		/* where its section starts, for later messages */
	int path_line;		/* where path is set */
};

/* The usage lever (DESIGN.md section 16): at percent used, at most limit in flight. */
struct usage_step {
	int percent;
	int limit;
};

#define USAGE_STEPS_MAX 16

struct usage_conf {
	char *command;		/* prints the percent of the quota used [and its reset]; NULL: none */
	int interval;		/* seconds between runs */
	struct usage_step steps[USAGE_STEPS_MAX];	/* by rising percent */
	size_t nsteps;
	int tempfail_streak;	/* exits of 75 in a row that step the cap down; 0: never */
	int cooldown;		/* seconds without a 75 that step it up again */
	long long min_free_mem;	/* bytes of MemAvailable below which nothing is admitted; 0: none */
};

/* [budget] (DESIGN.md section 20): what agents may spend; 0 everywhere: no limit. */
struct budget_conf {
	double per_issue;		/* USD over all attempts of an issue (since a retry) */
	double per_day;			/* USD in any rolling 24 hours */
	long long per_issue_tokens;	/* tokens in + out, likewise */
	long long per_day_tokens;
};

/* [pool "NAME"]: a class of issues with a cap of its own. */
struct pool_conf {
	char *name;
	int cap;
	char *runner_args;	/* for the cluster runner (section 17) */
	int line;
};

/* [runner] (section 17): where phases run. */
enum runner_type {
	RUNNER_LOCAL,
	RUNNER_SLURM
};

struct runner_conf {
	enum runner_type type;
	char *srun;		/* the srun client; scancel and squeue are looked up beside it */
	char *args;		/* srun options for every job, split at blanks; or NULL */
};

struct source_conf {
	enum source_type type;
	char *path;		/* type = file */
	char *api;
	char *label;
	char *milestone;
	char *token_file;
	char *token_command;	/* prints the token; run at start, on a 401, every token_ttl */
	int token_ttl;		/* seconds between runs of token_command */
	int requests_per_minute;	/* GitHub requests in any 60 s, every kind counted */
	bool pass_token;
	bool close_on_done;
	bool open_pr;
	char *command;		/* type = command: prints the issues; argv-split, no shell */
	int command_timeout;	/* seconds, for command and report */
	char *report;		/* any type: hears each outcome event on stdin, or NULL */
};

/*
 * A generation of the configuration.  The supervisor's holders (scheduler,
 * workers, the GitHub source and its requests in flight) each take a
 * reference, so that a reload never frees what one of them still points
 * into; each moves to the new generation when it can.
 */
struct config {
	int refs;		/* config_load returns one; config_free drops one */
	char *file;		/* the path it was read from */
	char *text;		/* what was read there: a worker parses this very generation */
	char *dir;		/* its folder: relative paths and the source's commands start there */
	char *state_dir;
	int cap;		/* as configured; 0 = number of repos */
	char *agent_branch;
	char *base_branch;
	int max_attempts;
	int retry_backoff;
	int poll_interval;
	bool keep_failed_worktrees;
	bool reuse_worktrees;	/* park landed worktrees as spares (section 5) */
	int spare_worktrees;	/* at most this many spares per repo */
	bool hold_repo_during_review;
	int fix_rounds;
	int conflict_rounds;	/* agent-resolved merge conflicts per attempt */
	long long log_max;	/* bytes an attempt's log may hold; past it the middle is cut */
	int review_rounds;
	int pr_rounds;		/* land = pr: feedback rounds per issue */
	int stop_timeout;
	int git_timeout;
	int kill_grace;		/* seconds a phase's processes get between SIGTERM and SIGKILL */
	int tempfail_backoff;	/* seconds after an exit of 75, doubling in a row, at most 900 */
	int max_tempfails;	/* exits of 75 in a row that make the issue dead */
	bool commit_hooks;	/* waved's commit of an agent's work runs the repo's hooks */
	bool cgroup;		/* a cgroup v2 per attempt, where one can be made */
	bool sandbox;		/* sandbox = bwrap: phases see their worktree and little else */
	char *sandbox_paths;	/* PATH or PATH:rw, blank-separated, also visible; or NULL */
	long long max_file_size;	/* bytes a file of an attempt's commits may have; 0: any */
	struct source_conf source;
	struct phase_conf phases[PHASE_COUNT];
	char *merge_check;
	struct usage_conf usage;
	struct budget_conf budget;
	struct runner_conf runner;
	struct pool_conf *pools;
	size_t npools;
	struct repo_conf *repos;
	size_t nrepos;
	struct keymap *repo_index;	/* name -> index into repos */
};

/*
 * Read and validate a config file.  On failure returns NULL and *errors holds
 * one "FILE:LINE: key: what was expected" line per problem (caller frees).
 */
struct config *config_load(const char *path, char **errors);
/*
 * The same from text already read: what a worker gets in its job, so that
 * it runs with the generation it was started with, whatever the file says
 * by then.  file names it in messages; dir is where relative paths start.
 */
struct config *config_parse_text(const char *text, const char *file, const char *dir,
    char **errors);
/* Drops a reference; the last one frees. */
void config_free(struct config *cfg);
/* One more holder (NULL passes through), and its release. */
const struct config *config_hold(const struct config *cfg);
void config_release(const struct config *cfg);

/* "50:3 65:2" into steps (rising percents, limits 0..10000); false with why. */
bool config_parse_steps(const char *text, struct usage_step *steps, size_t *n, char *why,
    size_t whysize);
/* "512M", "2G", "1048576" (K, M, G, T: powers of 1024) into bytes; false when not a size. */
bool config_parse_size(const char *text, long long *bytes);
/* The pool's index, or -1. */
long config_pool(const struct config *cfg, const char *name);

/* Text from outside, checked before it becomes part of a URL: owner/name as
 * GitHub allows them (the github key, a dependency an issue names). */
bool github_owner_name_valid(const char *owner_name);

/* Some repo lands by pull request: waved needs a GitHub client. */
bool config_wants_github(const struct config *cfg);
/* The configured cap, or the number of repos when it is 0. */
int config_effective_cap(const struct config *cfg);
const struct repo_conf *config_repo(const struct config *cfg, const char *name);
const char *phase_name(enum phase_id id);

/* The config path to use: -c, else $WAVED_CONFIG, else the default. */
const char *config_default_path(const char *from_flag);

#endif
