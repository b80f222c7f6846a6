#include "supervisor/journal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define RETRY_FIRST_MS 200
#define RETRY_MAX_MS 5000

/* An event of the open transaction, rendered at its commit. */
struct entry {
	char *name;
	size_t issue;
	char *line;		/* NULL until rendered */
};

struct journal {
	struct store *store;
	struct events *events;
	journal_ctx_fn *ctx_of;
	journal_committed_fn *committed;
	void *arg;
	journal_rendered_fn *rendered_fn;
	void *rendered_arg;
	struct entry *v;	/* of the open transaction and any failed one before it */
	size_t n, cap;
	size_t rendered;	/* v[0..rendered) hold their lines, seqs taken for good */
	cJSON **fields;		/* of the entries not rendered yet */
	size_t nfields, fields_cap;
	bool open;		/* a transaction is open: between journal_begin and its commit */
	size_t last_events;	/* how many events the last commit wrote */
	bool down;
	int64_t down_since, next_retry, backoff;
	char why[256];		/* of the last failure */
};

struct journal *
journal_new(struct store *store, struct events *events)
{
	struct journal *j = xcalloc(1, sizeof(*j));

	j->store = store;
	j->events = events;
	return j;
}

static void
entries_clear(struct journal *j)
{
	for (size_t k = 0; k < j->n; k++) {
		free(j->v[k].name);
		free(j->v[k].line);
	}
	for (size_t k = 0; k < j->nfields; k++)
		cJSON_Delete(j->fields[k]);
	j->n = j->rendered = j->nfields = 0;
}

void
journal_free(struct journal *j)
{
	if (j == NULL)
		return;
	entries_clear(j);
	free(j->v);
	free(j->fields);
	free(j);
}

void
journal_set_hooks(struct journal *j, journal_ctx_fn *ctx, journal_committed_fn *committed,
    void *arg)
{
	j->ctx_of = ctx;
	j->committed = committed;
	j->arg = arg;
}

/*
 * A transaction opened inside another, or an event or commit outside any,
 * is a bug of the supervisor's: SQLite would refuse the inner BEGIN, and
 * the outer unit would commit in halves.  The build stops at once (the
 * Makefile's and the sanitizers' alike), so that a test catches it; one
 * made with -DNDEBUG says so and goes on inside the outer transaction.
 */
static void
misuse(const char *what)
{
	log_warnx("journal: %s: one transaction per dispatched event", what);
#ifndef NDEBUG
	abort();
#endif
}

void
journal_set_rendered(struct journal *j, journal_rendered_fn *fn, void *arg)
{
	j->rendered_fn = fn;
	j->rendered_arg = arg;
}

void
journal_begin(struct journal *j)
{
	if (j->open) {
		misuse("a transaction opened inside another");
		return;
	}
	j->open = true;
	/* A failure is the store's to remember: the commit fails and says why. */
	store_begin(j->store);
}

void
journal_event(struct journal *j, size_t issue, const char *name, cJSON *fields)
{
	if (!j->open)
		misuse("an event outside a transaction");
	grow_array((void **)&j->v, &j->cap, j->n + 1, sizeof(*j->v));
	j->v[j->n++] = (struct entry){ xstrdup(name), issue, NULL };
	grow_array((void **)&j->fields, &j->fields_cap, j->nfields + 1, sizeof(cJSON *));
	j->fields[j->nfields++] = fields;
}

/* Lines for the entries added since the last commit, in order, with their seqs. */
static void
render_new(struct journal *j)
{
	for (size_t k = j->rendered; k < j->n; k++) {
		struct log_ctx ctx = { 0 };

		if (j->v[k].issue != JOURNAL_DAEMON && j->ctx_of)
			j->ctx_of(j->v[k].issue, &ctx, j->arg);
		j->v[k].line = events_render(j->events, j->v[k].name,
		    j->v[k].issue == JOURNAL_DAEMON ? NULL : &ctx, j->fields[k - j->rendered]);
		if (j->rendered_fn)
			j->rendered_fn(j->v[k].name, j->v[k].line, events_seq(j->events),
			    j->rendered_arg);
	}
	j->nfields = 0;
	j->rendered = j->n;
}

/* The lines, then their last seq with the state, then the commit; 0 or -1. */
static int
write_through(struct journal *j)
{
	char **lines = xcalloc(j->n + 1, sizeof(char *));
	int64_t size = events_size(j->events);
	int rc;

	for (size_t k = 0; k < j->n; k++)
		lines[k] = j->v[k].line;
	rc = events_append(j->events, lines, j->n);
	free(lines);
	if (rc == -1) {
		snprintf(j->why, sizeof(j->why), "the event log: %s", strerror(errno));
		store_commit_abort(j->store);
		return -1;
	}
	if (j->n > 0)
		store_set_event_seq(j->store, events_seq(j->events));
	if (store_commit(j->store) == -1) {
		snprintf(j->why, sizeof(j->why), "%s", store_error(j->store));
		events_cut(j->events, size);
		return -1;
	}
	return 0;
}

static void
go_down(struct journal *j)
{
	int64_t now = mono_ms();

	if (!j->down) {
		log_warnx("store: cannot commit (%s): admitting nothing and holding every worker "
		    "at its next gate until the state can be written again", j->why);
		j->down = true;
		j->down_since = now;
		j->backoff = RETRY_FIRST_MS;
	} else if (j->backoff < RETRY_MAX_MS)
		j->backoff = j->backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : j->backoff * 2;
	j->next_retry = now + j->backoff;
}

static void
come_up(struct journal *j, size_t committed)
{
	if (!j->down)
		return;
	log_info("store: writable again after %.1f s: %zu event%s committed; carrying on",
	    (double)(mono_ms() - j->down_since) / 1000.0, committed, committed == 1 ? "" : "s");
	j->down = false;
}

int
journal_commit(struct journal *j)
{
	size_t n;

	if (!j->open) {
		misuse("a commit outside a transaction");
		return -1;
	}
	j->open = false;
	render_new(j);
	if (write_through(j) == -1) {
		go_down(j);
		return -1;
	}
	n = j->n;
	events_rotate_if_due(j->events);
	come_up(j, n);
	/* Committed: what depends on these events may happen.  What the hooks
	 * change is the next transaction, so the list is taken first. */
	struct entry *v = j->v;
	j->v = NULL;
	j->n = j->cap = j->rendered = 0;
	if (j->committed && n > 0)
		journal_begin(j);
	for (size_t k = 0; k < n; k++) {
		if (j->committed)
			j->committed(v[k].name, v[k].issue, j->arg);
		free(v[k].name);
		free(v[k].line);
	}
	free(v);
	if (j->committed && n > 0)
		journal_commit(j);
	j->last_events = n;	/* this unit's, not its hooks' */
	return 0;
}

/*
 * Checked before the supervisor acts on anything: files that cannot be
 * written take the journal down before a transaction begins, and a down
 * journal retries what it keeps once the backoff is over.
 */
bool
journal_ready(struct journal *j)
{
	if (!j->down && store_writable(j->store))
		return true;
	if (!j->down) {
		snprintf(j->why, sizeof(j->why), "%s", store_error(j->store));
		go_down(j);
		return false;
	}
	if (mono_ms() < j->next_retry)
		return false;
	if (j->n == 0 && !store_pending(j->store)) {
		if (!store_writable(j->store)) {
			go_down(j);
			return false;
		}
		come_up(j, 0);
		return true;
	}
	journal_begin(j);
	if (journal_commit(j) == 0)
		return true;
	if (store_replay_impossible(j->store))
		fatalx("store: the state change kept since the store went down cannot be "
		    "written (%s); exiting: the next start recovers from the last commit and git",
		    store_error(j->store));
	return false;
}

size_t
journal_last_events(const struct journal *j)
{
	return j->last_events;
}

bool
journal_down(const struct journal *j)
{
	return j->down;
}

int64_t
journal_next_retry(const struct journal *j)
{
	return j->down ? j->next_retry : INT64_MAX;
}
