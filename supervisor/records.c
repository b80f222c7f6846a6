#include "supervisor/records.h"

#include <stdlib.h>
#include <string.h>

#include "common/keymap.h"
#include "common/util.h"

/* A record, and what only sched_fire changes. */
struct entry {
	struct record rec;
	enum issue_state state;
	char *reason;
};

struct records {
	const struct config *cfg;
	struct store *store;
	struct entry *v;
	size_t n, cap;
	struct keymap *index;		/* (repo, number) -> index into v */
	size_t in_state[STATE_COUNT];
};

void
records_set_str(char **slot, const char *value)
{
	free(*slot);
	*slot = value && *value ? xstrdup(value) : NULL;
}

struct records *
records_new(const struct config *cfg, struct store *store)
{
	struct records *r = xcalloc(1, sizeof(*r));

	r->cfg = config_hold(cfg);
	r->store = store;
	r->index = keymap_new(64);
	return r;
}

static void
pr_absorb(struct record *is, const struct store_pull *row)
{
	if (row->head == NULL && row->number == 0 && row->pushes == 0)
		return;		/* no pulls row: never pushed */
	is->pr = xcalloc(1, sizeof(*is->pr));
	is->pr->number = row->number;
	records_set_str(&is->pr->url, row->url);
	records_set_str(&is->pr->head, row->head);
	records_set_str(&is->pr->kind, row->kind);
	is->pr->round = row->round;
	is->pr->pushes = row->pushes;
	is->pr->since = row->since;
}

static void
pr_free(struct record *is)
{
	if (is->pr == NULL)
		return;
	free(is->pr->url);
	free(is->pr->head);
	free(is->pr->kind);
	free(is->pr);
	is->pr = NULL;
}

void
records_free(struct records *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		struct record *is = &r->v[i].rec;

		free(is->title);
		free(is->body);
		free(is->deps);
		free(r->v[i].reason);
		free(is->key);
		free(is->at.base);
		free(is->final);
		pr_free(is);
	}
	free(r->v);
	keymap_free(r->index);
	config_release(r->cfg);
	free(r);
}

/* The index of the configured repo named, or RECORD_NO_REPO. */
static size_t
repo_index(const struct records *r, const char *name)
{
	for (size_t k = 0; k < r->cfg->nrepos; k++)
		if (strcmp(r->cfg->repos[k].name, name) == 0)
			return k;
	return RECORD_NO_REPO;
}

/* Add a stored issue, or refresh the text of a waiting one. */
static void
absorb_row(const struct store_issue_row *row, void *arg)
{
	struct records *r = arg;
	long i = records_lookup(r, row->repo, row->number);
	struct entry *e;
	struct record *is;

	if (i < 0) {
		grow_array((void **)&r->v, &r->cap, r->n + 1, sizeof(*r->v));
		i = (long)r->n++;
		e = &r->v[i];
		memset(e, 0, sizeof(*e));
		is = &e->rec;
		is->id = row->id;
		is->key = xasprintf("%s#%ld", row->repo, row->number);
		is->number = row->number;
		if (!state_from_name(row->state, &e->state))
			e->state = STATE_QUEUED;
		is->attempts = row->attempts;
		e->reason = row->reason ? xstrdup(row->reason) : NULL;
		is->retry_at = row->retry_at;
		records_set_str(&is->final, row->final_commit);
		/* What recovery needs of the attempt a previous run left. */
		is->at.number = row->attempt;
		is->at.id = row->attempt_id;
		is->at.ms = row->attempt_ms;
		is->pid = (pid_t)row->pid;
		if (row->trace)
			strlcpy(is->at.trace, row->trace, sizeof(is->at.trace));
		records_set_str(&is->at.base, row->base);
		if (!resume_point_from_name(row->resume, &is->at.resume))
			is->at.resume = RESUME_NONE;
		is->agent_ms = row->agent_ms;
		is->wasted_ms = row->wasted_ms;
		is->budget_usd = row->budget_usd;
		is->budget_tokens = row->budget_tokens;
		pr_absorb(is, &row->pull);
		r->in_state[e->state]++;
		keymap_put(r->index, row->repo, row->number, i);
	}
	e = &r->v[i];
	is = &e->rec;
	is->repo = repo_index(r, row->repo);
	if (is->title == NULL || state_waiting(e->state)) {
		free(is->title);
		free(is->body);
		is->title = xstrdup(row->title);
		is->body = xstrdup(row->body);
		is->created = row->created;
	}
}

void
records_load(struct records *r)
{
	store_each_issue(r->store, absorb_row, r);
}

void
records_reconfigure(struct records *r, const struct config *cfg)
{
	for (size_t i = 0; i < r->n; i++) {
		struct record *is = &r->v[i].rec;
		const char *name = is->repo == RECORD_NO_REPO ? NULL : r->cfg->repos[is->repo].name;

		is->repo = RECORD_NO_REPO;
		for (size_t k = 0; name && k < cfg->nrepos; k++)
			if (strcmp(cfg->repos[k].name, name) == 0)
				is->repo = k;
		if (is->repo == RECORD_NO_REPO)
			is->in_source = false;	/* out of the plan until its repo is back */
	}
	config_release(r->cfg);
	r->cfg = config_hold(cfg);
}

size_t
records_count(const struct records *r)
{
	return r->n;
}

struct record *
records_get(const struct records *r, size_t i)
{
	return &r->v[i].rec;
}

long
records_lookup(const struct records *r, const char *repo, long number)
{
	return keymap_get(r->index, repo, number);
}

const struct repo_conf *
records_repo(const struct records *r, size_t i)
{
	size_t repo = r->v[i].rec.repo;

	return repo == RECORD_NO_REPO ? NULL : &r->cfg->repos[repo];
}

enum issue_state
records_state(const struct records *r, size_t i)
{
	return r->v[i].state;
}

const char *
records_reason(const struct records *r, size_t i)
{
	return r->v[i].reason;
}

void
records_set_state(struct records *r, size_t i, enum issue_state st, const char *reason)
{
	struct entry *e = &r->v[i];

	r->in_state[e->state]--;
	r->in_state[st]++;
	e->state = st;
	free(e->reason);
	e->reason = reason ? xstrdup(reason) : NULL;
}

size_t
records_in_state(const struct records *r, enum issue_state st)
{
	return r->in_state[st];
}

void
records_save(struct records *r, size_t i)
{
	const struct entry *e = &r->v[i];

	store_issue_save(r->store, e->rec.id, &(struct store_sched_row){
	    .state = state_name(e->state), .reason = e->reason, .attempts = e->rec.attempts,
	    .retry_at = e->rec.retry_at, .final_commit = e->rec.final,
	    .resume = e->rec.at.resume != RESUME_NONE ? resume_point_name(e->rec.at.resume) : NULL });
}

void
records_save_pull(struct records *r, size_t i)
{
	const struct record *is = &r->v[i].rec;
	struct store_pull p = {
		.number = is->pr->number, .url = is->pr->url, .head = is->pr->head,
		.round = is->pr->round, .pushes = is->pr->pushes, .since = is->pr->since,
		.kind = is->pr->kind,
	};

	store_set_pull(r->store, is->id, &p);
}

struct log_ctx
records_log(const struct records *r, size_t i)
{
	const struct record *is = &r->v[i].rec;

	return (struct log_ctx){ is->key, is->at.number, is->at.trace[0] ? is->at.trace : NULL };
}
