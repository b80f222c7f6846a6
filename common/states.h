/*
 * The issue states of DESIGN.md section 3, one table for the store, the
 * scheduler and wavectl.  The order is the store's and the counts' order.
 */
#ifndef WAVED_STATES_H
#define WAVED_STATES_H

#include <stdbool.h>

enum issue_state {
	STATE_QUEUED,
	STATE_READY,
	STATE_RUNNING,
	STATE_REVIEW,
	STATE_MERGING,
	STATE_RETRY_WAIT,
	STATE_DONE,
	STATE_DEAD,
	STATE_BLOCKED,
	STATE_AWAITING_MERGE,	/* land = pr: its pull request waits for a person (section 18) */
	STATE_COUNT
};

const char *state_name(enum issue_state st);
/* The state of a name; false when it names none. */
bool state_from_name(const char *name, enum issue_state *st);

/* Admitted and not yet done or failed: holds a cap slot. */
bool state_in_flight(enum issue_state st);
/* Not admitted, not finished: a source may still change the issue. */
bool state_waiting(enum issue_state st);

#endif
