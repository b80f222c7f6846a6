#include "common/states.h"

#include <string.h>

static const char *const names[STATE_COUNT] = {
	"queued", "ready", "running", "review", "merging", "retry_wait", "done", "dead",
	"blocked", "awaiting_merge"
};

const char *
state_name(enum issue_state st)
{
	return st < STATE_COUNT ? names[st] : "?";
}

bool
state_from_name(const char *name, enum issue_state *st)
{
	for (int k = 0; k < STATE_COUNT; k++)
		if (strcmp(names[k], name) == 0) {
			*st = (enum issue_state)k;
			return true;
		}
	return false;
}

bool
state_in_flight(enum issue_state st)
{
	return st == STATE_RUNNING || st == STATE_REVIEW || st == STATE_MERGING;
}

bool
state_waiting(enum issue_state st)
{
	return st == STATE_QUEUED || st == STATE_READY || st == STATE_BLOCKED ||
	    st == STATE_RETRY_WAIT;
}
