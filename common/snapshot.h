/*
 * What wavectl reads of the daemon's state: the store (read-only) and the
 * event log, followed as it grows and across rotation.
 */
#ifndef WAVED_SNAPSHOT_H
#define WAVED_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cJSON.h>

#include "common/config.h"
#include "common/states.h"
#include "common/store.h"


struct snapshot_issue {
	char key[ISSUE_KEY_MAX];
	char repo[REPO_NAME_MAX + 1];
	long number;
	char *state, *phase, *reason, *trace, *title;
	int attempts, attempt;
	long pid;
	int64_t since;		/* the latest attempt's start, ms */
	int64_t agent_ms;	/* agent time of all its attempts */
	int64_t wasted_ms;	/* of those that did not land */
	int64_t maxrss_kb;	/* its largest phase's peak resident size */
	double cost_usd;	/* what its attempts reported spending (DESIGN.md section 20) */
	int64_t tokens_in, tokens_out;
	double wasted_cost_usd;	/* of attempts that did not land */
	/* land = pr: its pull request (pr 0: none) */
	long pr;
	char *pr_url;
	int pr_round;		/* feedback rounds taken */
	int64_t pr_since;	/* awaiting its merge since, ms */
};

struct snapshot {
	struct store_daemon daemon;
	bool running;		/* the store says so and the pid is alive */
	struct snapshot_issue *issues;
	size_t n, cap;
	int counts[STATE_COUNT];	/* by enum issue_state */
	long reports_pending;	/* outcomes the report command has yet to take */
	/* [budget]: spent in the last 24 hours, and the day's limits (0: none) */
	double day_usd, per_day_usd;
	int64_t day_tokens, per_day_tokens;
	/* The GitHub client of a running daemon: the poll interval in force and
	 * the budget (STATE/github.json); 0: none */
	int gh_poll_interval, gh_requests_per_minute;
};

/* Read the store of cfg's state_dir (none yet is an empty state); 0 or -1 (printed). */
int snapshot_read(const struct config *cfg, struct snapshot *st);
void snapshot_free(struct snapshot *st);
bool snapshot_in_flight(const char *state);

/* Follow STATE/events.ndjson like tail -f: whole lines only, across rotation. */
struct event_tail;
/* from_end: start at the current end (only new events), else at the start. */
struct event_tail *event_tail_open(const char *state_dir, bool from_end);
void event_tail_close(struct event_tail *ev);
/* The next whole event, or NULL when there is none yet (caller frees). */
cJSON *event_tail_next(struct event_tail *ev);

/* "2026-11-23T16:00:00.123Z" -> ms since the epoch; -1 when malformed. */
int64_t timestamp_parse(const char *ts);

#endif
