/*
 * What wavectl reads of the daemon's state: the store (read-only) and the
 * event log, followed as it grows and across rotation.
 */
#ifndef WAVED_CTL_STATE_H
#define WAVED_CTL_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cJSON.h>

#include "common/config.h"
#include "common/states.h"
#include "common/store.h"


struct ctl_issue {
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

struct ctl_state {
	struct store_daemon daemon;
	bool running;		/* the store says so and the pid is alive */
	struct ctl_issue *issues;
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
int ctl_state_read(const struct config *cfg, struct ctl_state *st);
void ctl_state_free(struct ctl_state *st);
bool ctl_in_flight(const char *state);

/* Follow STATE/events.ndjson like tail -f: whole lines only, across rotation. */
struct ctl_events;
/* from_end: start at the current end (only new events), else at the start. */
struct ctl_events *ctl_events_open(const char *state_dir, bool from_end);
void ctl_events_close(struct ctl_events *ev);
/* The next whole event, or NULL when there is none yet (caller frees). */
cJSON *ctl_events_next(struct ctl_events *ev);

/* "2026-11-23T16:00:00.123Z" -> ms since the epoch; -1 when malformed. */
int64_t ctl_parse_ts(const char *ts);

#endif
