#include "supervisor/github/token.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/argv.h"
#include "common/command.h"
#include "common/log.h"
#include "common/util.h"

#define GH_TOKEN_RETRY_MS 60000		/* a token command that failed runs again after this */
#define GH_TOKEN_MAX 4096		/* bytes a token command may print */

struct gh_token {
	char *file;		/* token_file, or NULL */
	char *command;		/* token_command, or NULL */
	char *dir;		/* where token_command runs: the config's folder */
	int timeout_s;		/* command_timeout */
	int ttl_s;		/* token_ttl */
	bool pass;		/* pass_token: the phases get it in $GITHUB_TOKEN */
	struct command *running;
	bool urgent;		/* a 401 asked: requests wait for this run */
	int64_t refresh_at;	/* monotonic ms: token_command's next run; INT64_MAX: none */
	unsigned generation;	/* counts tokens taken up */
	char *auth;		/* "Authorization: Bearer ...", or NULL */
	child_exit_fn *exited;	/* told when a token_command run started here ends */
	void *exited_arg;
};

char *
github_token_load(const struct source_conf *src, char **err)
{
	const char *env = getenv("GITHUB_TOKEN");
	struct stat st;
	char *token;

	*err = NULL;
	if (src->token_file == NULL) {
		if (env == NULL || *env == '\0') {
			*err = xstrdup("no token: set [source] token_file or $GITHUB_TOKEN");
			return NULL;
		}
		return xstrdup(env);
	}
	if (stat(src->token_file, &st) == -1) {
		*err = xasprintf("token_file %s: %s", src->token_file, strerror(errno));
		return NULL;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		*err = xasprintf("token_file %s: readable by group or others (mode %03o); "
		    "chmod 600 it", src->token_file, (unsigned)(st.st_mode & 0777));
		return NULL;
	}
	if ((token = read_file(src->token_file, NULL)) == NULL) {
		*err = xasprintf("token_file %s: %s", src->token_file, strerror(errno));
		return NULL;
	}
	token[strcspn(token, "\r\n")] = '\0';
	if (*token == '\0') {
		free(token);
		*err = xasprintf("token_file %s is empty", src->token_file);
		return NULL;
	}
	return token;
}

/* A new token in use from the next request on (the Authorization header is built per request). */
static void
token_take(struct gh_token *tk, char *token)
{
	if (tk->auth) {
		explicit_bzero(tk->auth, strlen(tk->auth));
		free(tk->auth);
	}
	tk->auth = xasprintf("Authorization: Bearer %s", token);
	tk->generation++;
	/* pass_token = yes: the phases get it (a worker removes it otherwise). */
	if (tk->pass)
		setenv("GITHUB_TOKEN", token, 1);
	explicit_bzero(token, strlen(token));
	free(token);
}

static struct command *
token_command_start(const struct gh_token *tk, char **err)
{
	char why[128], **argv = argv_split(tk->command, why, sizeof(why));
	struct command *c;

	if (argv == NULL) {
		*err = xasprintf("token_command: %s", why);
		return NULL;
	}
	c = command_start(&(struct command_spec){ .argv = argv, .cwd = tk->dir, .in_fd = -1,
	    .timeout_s = tk->timeout_s, .out_max = GH_TOKEN_MAX }, err);
	argv_free(argv);
	return c;
}

/* What a finished token command printed: its first line, or NULL with why. */
static char *
token_command_result(struct command *c, char **err)
{
	char why[128];
	const char *out;
	size_t len;
	struct strbuf lines = { 0 };
	char *token;

	command_stderr_lines(c, "token_command", &lines);
	if (lines.len)
		log_warnx("%.*s", (int)(lines.len - 1), lines.s);
	strbuf_free(&lines);
	if (!command_ok(c)) {
		command_failure(c, why, sizeof(why));
		*err = xasprintf("token_command: %s", why);
		return NULL;
	}
	out = command_out(c, &len);
	token = strndup(out, strcspn(out, "\r\n"));
	if (*token == '\0') {
		free(token);
		*err = xstrdup("token_command printed no token");
		return NULL;
	}
	return token;
}

/* The token command ended: its token in use, or the one before kept. */
static void
token_command_finished(struct gh_token *tk)
{
	char *err = NULL, *token = token_command_result(tk->running, &err);

	command_free(tk->running);
	tk->running = NULL;
	tk->urgent = false;
	if (token) {
		token_take(tk, token);
		tk->refresh_at = mono_ms() + (int64_t)tk->ttl_s * 1000;
	} else {
		log_warnx("github: %s; the token in use stays, token_command runs again in %d s",
		    err, GH_TOKEN_RETRY_MS / 1000);
		free(err);
		tk->refresh_at = mono_ms() + GH_TOKEN_RETRY_MS;
	}
}

bool
gh_token_refresh(struct gh_token *tk, bool urgent)
{
	char *err = NULL, *token;

	if (tk->command) {
		if (tk->running == NULL) {
			if ((tk->running = token_command_start(tk, &err)) == NULL) {
				log_warnx("github: %s", err);
				free(err);
				tk->refresh_at = mono_ms() + GH_TOKEN_RETRY_MS;
				return false;
			}
			children_add(command_pid(tk->running), CHILD_COMMAND, "token_command",
			    tk->exited, tk->exited_arg);
		}
		tk->urgent = tk->urgent || urgent;
		return true;
	}
	if (tk->file == NULL)
		return false;
	if ((token = github_token_load(&(struct source_conf){ .token_file = tk->file }, &err)) == NULL) {
		log_warnx("github: %s; the token in use stays", err);
		free(err);
		return false;
	}
	token_take(tk, token);
	return true;
}

static void
token_conf(struct gh_token *tk, const struct config *cfg)
{
	free(tk->file);
	free(tk->command);
	free(tk->dir);
	tk->file = cfg->source.token_file ? xstrdup(cfg->source.token_file) : NULL;
	tk->command = cfg->source.token_command ? xstrdup(cfg->source.token_command) : NULL;
	tk->dir = xstrdup(cfg->dir ? cfg->dir : ".");
	tk->timeout_s = cfg->source.command_timeout;
	tk->ttl_s = cfg->source.token_ttl;
	tk->pass = cfg->source.pass_token;
}

struct gh_token *
gh_token_fixed(const char *token)
{
	struct gh_token *tk = xcalloc(1, sizeof(*tk));

	tk->auth = token ? xasprintf("Authorization: Bearer %s", token) : NULL;
	tk->refresh_at = INT64_MAX;
	return tk;
}

struct gh_token *
gh_token_open(const struct config *cfg, char **err)
{
	struct gh_token *tk = gh_token_fixed(NULL);
	char *token;

	token_conf(tk, cfg);
	if (tk->command) {
		struct command *c = token_command_start(tk, err);

		if (c)
			command_wait(c);
		token = c ? token_command_result(c, err) : NULL;
		command_free(c);
	} else
		token = github_token_load(&cfg->source, err);
	if (token == NULL) {
		gh_token_free(tk);
		return NULL;
	}
	tk->refresh_at = tk->command ? mono_ms() + (int64_t)tk->ttl_s * 1000 : INT64_MAX;
	token_take(tk, token);
	return tk;
}

void
gh_token_set_exit(struct gh_token *tk, child_exit_fn *fn, void *arg)
{
	tk->exited = fn;
	tk->exited_arg = arg;
}

void
gh_token_free(struct gh_token *tk)
{
	if (tk == NULL)
		return;
	command_free(tk->running);
	free(tk->file);
	free(tk->command);
	free(tk->dir);
	if (tk->auth)
		explicit_bzero(tk->auth, strlen(tk->auth));
	free(tk->auth);
	free(tk);
}

const char *
gh_token_header(const struct gh_token *tk)
{
	return tk->auth;
}

unsigned
gh_token_generation(const struct gh_token *tk)
{
	return tk->generation;
}

bool
gh_token_awaited(const struct gh_token *tk)
{
	return tk->running && tk->urgent;
}

void
gh_token_reconfigure(struct gh_token *tk, const struct config *cfg)
{
	token_conf(tk, cfg);
	if (tk->command == NULL)
		tk->refresh_at = INT64_MAX;
	gh_token_refresh(tk, false);
}

size_t
gh_token_nfds(const struct gh_token *tk)
{
	return tk->running ? 2 : 0;
}

size_t
gh_token_pollfds(const struct gh_token *tk, struct pollfd *fds)
{
	return tk->running ? command_pollfds(tk->running, fds) : 0;
}

int64_t
gh_token_deadline(const struct gh_token *tk)
{
	return tk->running ? command_next_deadline(tk->running) : tk->refresh_at;
}

void
gh_token_dispatch(struct gh_token *tk, const struct pollfd *fds, size_t n, int64_t now)
{
	if (tk->running) {
		command_dispatch(tk->running, fds, n);
		command_tick(tk->running, now);
		if (command_done(tk->running))
			token_command_finished(tk);
	} else if (tk->command && now >= tk->refresh_at)
		gh_token_refresh(tk, false);	/* token_ttl: the token in use goes on meanwhile */
}

bool
gh_token_child_exited(struct gh_token *tk, pid_t pid, int status)
{
	if (tk->running == NULL || !command_exited(tk->running, pid, status))
		return false;
	if (command_done(tk->running))
		token_command_finished(tk);
	return true;
}

void
gh_token_wait(struct gh_token *tk)
{
	if (tk->running) {
		command_wait(tk->running);
		token_command_finished(tk);
	}
}
