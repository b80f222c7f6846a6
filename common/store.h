/*
 * The state database: STATE/waved.db, SQLite in WAL mode, written by the
 * supervisor alone (DESIGN.md sections 3 and 7).  The schema is versioned
 * with PRAGMA user_version and migrated forward on open.
 */
#ifndef WAVED_STORE_H
#define WAVED_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/issue.h"

#define STORE_FILE "waved.db"
#define STORE_SCHEMA_VERSION 1

struct store;

enum store_mode {
	STORE_READWRITE,	/* the supervisor: creates and migrates */
	STORE_READONLY		/* wavectl: never writes, never migrates */
};

/* Open path; NULL with a message in *err (caller frees) on failure. */
struct store *store_open(const char *path, enum store_mode mode, char **err);
void store_close(struct store *st);
int store_schema_version(struct store *st);

/* One transaction around several writes; 0 or -1. */
int store_begin(struct store *st);
int store_commit(struct store *st);
void store_rollback(struct store *st);

/* Record the configured repos (name, path, agent branch); 0 or -1. */
int store_sync_repos(struct store *st, const struct config *cfg);

enum store_upsert {
	STORE_UNCHANGED,
	STORE_ADDED,
	STORE_UPDATED,		/* text or dependencies changed while still waiting */
	STORE_ERROR = -1
};

/* Add a new issue (state queued) or refresh a waiting one from its source. */
enum store_upsert store_upsert_issue(struct store *st, const struct issue_spec *spec);

/* The issue's state ("queued", ...) into buf; false when unknown. */
bool store_issue_state(struct store *st, const char *repo, long number,
    char *buf, size_t size);
/* Number of issues in a state. */
long store_count_state(struct store *st, const char *state);

#endif
