#include "worker/guard.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/git_refs.h"
#include "common/paths.h"
#include "worker/worker_internal.h"

bool
guard_tip_get(const struct config *cfg, const char *repo, struct git_oid *tip)
{
	char *path = path_agent_tip(cfg, repo), *text = read_file(path, NULL);
	bool ok = git_oid_set(tip, text);

	free(text);
	free(path);
	return ok;
}

/* Written whole, so that a reader never sees half an id. */
void
guard_tip_set(const struct config *cfg, const char *repo, const struct git_oid *tip)
{
	char *path = path_agent_tip(cfg, repo), *line = xasprintf("%s\n", tip->hex);

	write_file_whole(path, line);
	free(line);
	free(path);
}

/* "oid refname" lines of the branches and tags, read from their files. */
static char *
list_refs(const struct worker *w)
{
	return git_refs_list(w->repo->path);
}

/* The oid a listing gives ref, into oid; false when it has none. */
static bool
listed(const char *refs, const char *ref, struct git_oid *oid)
{
	size_t len = strlen(ref);

	oid->hex[0] = '\0';
	for (const char *line = refs; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *name = strchr(line, ' ');

		if (name && strncmp(name + 1, ref, len) == 0 && (name[1 + len] == '\n' ||
		    name[1 + len] == '\0')) {
			char hex[GIT_SHA_MAX + 1];

			snprintf(hex, sizeof(hex), "%.*s", (int)(name - line), line);
			return git_oid_set(oid, hex);
		}
	}
	return false;
}

static char *
shared_config_path(const struct worker *w)
{
	char *common = git_common_dir(w->repo->path), *path;

	path = common ? xasprintf("%s/config", common) : NULL;
	free(common);
	return path;
}

void
guard_before(struct worker *w)
{
	free(w->guard.config);
	free(w->guard.refs);
	if (w->guard.config_path == NULL)
		w->guard.config_path = shared_config_path(w);
	/* What waved found at its start (preflight), else the file as it is now. */
	char *clean = path_clean_config(w->cfg, w->repo->name);
	w->guard.config = read_file(clean, NULL);
	free(clean);
	if (w->guard.config == NULL && w->guard.config_path)
		w->guard.config = read_file(w->guard.config_path, NULL);
	w->guard.refs = list_refs(w);
}

/* The keys of a config file, one "key=value" a line, sorted (git config --list). */
static char *
config_keys(const struct worker *w, const char *file)
{
	struct strbuf out = { 0 };

	git_run(w->repo->path, &out, (const char *[]){ "config", "--file", file, "--list", NULL });
	return out.s ? strbuf_take(&out) : xstrdup("");
}

/* Keys whose lines are in a but not in b, appended to keys (comma separated). */
static void
keys_not_in(const char *a, const char *b, struct strbuf *keys)
{
	for (const char *line = a; *line; ) {
		size_t n = strcspn(line, "\n"), k = strcspn(line, "=");
		bool found = false;

		for (const char *l = b; *l && !found; ) {
			size_t m = strcspn(l, "\n");

			found = m == n && strncmp(l, line, n) == 0;
			l += m + (l[m] == '\n');
		}
		if (!found) {
			char *key = xasprintf(",%.*s,", (int)(k < n ? k : n), line);

			if (keys->s == NULL || strstr(keys->s, key) == NULL)
				strbuf_addf(keys, "%s%.*s", keys->len ? "," : "", (int)strlen(key) - 2,
				    key + 1);
			free(key);
		}
		line += n + (line[n] == '\n');
	}
}

/*
 * What the agent wrote into the shared config (core.hooksPath, an alias, a
 * filter, user.*) does not persist: the file is put back as it was, and the
 * keys are named.
 */
static void
restore_config(struct worker *w)
{
	char *now = read_file(w->guard.config_path, NULL), *before_keys, *now_keys;
	struct strbuf keys = { 0 };
	struct proto_msg m = { .type = PROTO_GUARD, .guard = GUARD_CONFIG_RESTORED };

	if (w->guard.config == NULL || (now && strcmp(now, w->guard.config) == 0)) {
		free(now);
		return;
	}
	now_keys = config_keys(w, w->guard.config_path);
	if (write_file_whole(w->guard.config_path, w->guard.config) == -1)
		dprintf(w->log_fd, "== waved: cannot restore %s\n", w->guard.config_path);
	before_keys = config_keys(w, w->guard.config_path);
	keys_not_in(now_keys, before_keys, &keys);
	keys_not_in(before_keys, now_keys, &keys);
	dprintf(w->log_fd, "== waved: the agent changed the shared config (%s): restored\n",
	    keys.s ? keys.s : "its layout");
	strlcpy(m.reason, keys.s ? keys.s : "", sizeof(m.reason));
	worker_send(w, &m);
	strbuf_free(&keys);
	free(before_keys);
	free(now_keys);
	free(now);
}

/*
 * The agent branch moved while the phase ran, and not by a landing of
 * waved's (the tip recorded with each landing): put waved's tip back, keep
 * the foreign commit under refs/waved/foreign/, and fail the attempt, fast-
 * forward or not: what reaches the agent branch goes through the gate.
 */
static char *
restore_agent_branch(struct worker *w, const char *refs_now, const char *phase)
{
	char *ref = xasprintf("refs/heads/%s", w->cfg->agent_branch), *foreign, *why;
	struct git_oid before, now, known;
	struct proto_msg m = { .type = PROTO_GUARD, .guard = GUARD_BRANCH_RESTORED };

	if (!listed(w->guard.refs, ref, &before) || !listed(refs_now, ref, &now) ||
	    git_oid_equal(&before, &now) ||
	    (guard_tip_get(w->cfg, w->repo->name, &known) && git_oid_equal(&known, &now))) {
		free(ref);
		return NULL;
	}
	/* Back to where it was when the phase began, or to a landing of waved's made since. */
	if (!known.hex[0] || !git_is_ancestor(w->repo->path, before.hex, known.hex))
		known = before;
	foreign = xasprintf("refs/waved/foreign/%s-%ld-%d-%s", w->repo->name, w->job->number,
	    w->job->attempt, phase);
	git_run(w->repo->path, NULL, (const char *[]){ "update-ref", foreign, now.hex, NULL });
	/* Compare-and-swap: a landing that came in meanwhile is left alone. */
	if (git_run(w->repo->path, NULL, (const char *[]){ "update-ref", "-m",
	    "waved: the agent's move undone", ref, known.hex, now.hex, NULL }) == 0) {
		m.sha[0] = '\0';
		strlcpy(m.sha, known.hex, sizeof(m.sha));
		strlcpy(m.reason, foreign, sizeof(m.reason));
		worker_send(w, &m);
	}
	why = xasprintf("the agent moved %s to %.12s during %s: put back to %.12s (its commit "
	    "is kept as %s); work lands through waved's merge, never on %s itself",
	    w->cfg->agent_branch, now.hex, phase, known.hex, foreign, w->cfg->agent_branch);
	free(foreign);
	free(ref);
	return why;
}

char *
guard_after(struct worker *w, const char *phase)
{
	char *refs = list_refs(w), *why;

	if (w->guard.config_path)
		restore_config(w);
	why = restore_agent_branch(w, refs, phase);
	free(w->guard.after);
	w->guard.after = refs;
	return why;
}

/* A ref of waved's: the agent branch and the issue branches of every worker. */
static bool
ours(const struct worker *w, const char *ref)
{
	size_t len = strlen(w->cfg->agent_branch);

	return strncmp(ref, "refs/heads/", 11) == 0 &&
	    strncmp(ref + 11, w->cfg->agent_branch, len) == 0 &&
	    (ref[11 + len] == '\0' || strncmp(ref + 11 + len, "-issue/", 7) == 0);
}

void
guard_refs(struct worker *w)
{
	struct strbuf gone = { 0 };
	const char *refs = w->guard.after ? w->guard.after : "";

	for (const char *line = refs; *line; ) {
		size_t n = strcspn(line, "\n");
		char *ref = xasprintf("%.*s", (int)n, line), *name = strchr(ref, ' ');
		struct git_oid had;

		if (name && !ours(w, name + 1) && !listed(w->guard.refs, name + 1, &had) &&
		    git_run(w->repo->path, NULL, (const char *[]){ "update-ref", "-d", name + 1,
		    NULL }) == 0)
			strbuf_addf(&gone, " %s", name + 1);
		free(ref);
		line += n + (line[n] == '\n');
	}
	if (gone.len)
		dprintf(w->log_fd, "== waved: removed what the agent made in the shared "
		    "repository:%s\n", gone.s);
	strbuf_free(&gone);
}
