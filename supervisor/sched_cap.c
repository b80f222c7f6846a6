/*
 * The scheduler's side of the cap lever (DESIGN.md sections 4 and 16): the
 * hands that pull it (operator, usage, tempfail streaks and their cooldown,
 * memory, disk), each change committed as a cap_changed event with its why,
 * and the daemon row that wavectl status reads the limits from.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "supervisor/journal.h"
#include "supervisor/sched_internal.h"

void
daemon_row(struct sched *s, bool running)
{
	struct store_daemon d = {
		.pid = getpid(), .running = running, .cap = s->cap.configured,
		.effective_cap = s->effective_cap, .paused = s->effective_cap == 0,
	};
	static const char *const hands[CAP_HANDS] = { "operator", "usage", "tempfail",
	    "budget" };
	size_t len = 0;

	for (int h = 0; h < CAP_HANDS; h++) {
		char v[16];

		snprintf(v, sizeof(v), "%d", s->cap.limit[h]);
		len += (size_t)snprintf(d.limits + len, sizeof(d.limits) - len, "%s\"%s\":%s",
		    h ? "," : "{", hands[h], s->cap.limit[h] == CAP_NO_LIMIT ? "null" : v);
	}
	len += (size_t)snprintf(d.limits + len, sizeof(d.limits) - len,
	    ",\"memory\":%s,\"disk\":%s,\"pools\":{", s->cap.memory_low ? "true" : "false",
	    s->cap.disk_full ? "true" : "false");
	for (size_t p = 0; p < s->cfg->npools && len + 128 < sizeof(d.limits); p++)
		len += (size_t)snprintf(d.limits + len, sizeof(d.limits) - len,
		    "%s\"%s\":{\"cap\":%d,\"inflight\":%d}", p ? "," : "", s->cfg->pools[p].name,
		    s->cfg->pools[p].cap, s->pool_inflight[p]);
	snprintf(d.limits + len, sizeof(d.limits) - len, "}}");
	store_daemon_set(s->store, &d);
}

/*
 * The effective cap after a pull of the lever: recorded (the log, the
 * daemon's row and a cap_changed event saying who pulled) when it moved.
 */
static void
cap_pulled(struct sched *s, const char *why, const char *by, bool always)
{
	int effective = cap_effective(&s->cap);
	bool moved = effective != s->effective_cap || always;
	cJSON *f;

	s->effective_cap = effective;
	daemon_row(s, true);	/* the limits, even when the effective cap stays */
	if (moved) {
		log_info("cap: effective cap %d of %d%s (%s: %s)", effective, s->cap.configured,
		    effective == 0 ? ", paused" : "", why, by);
		f = cJSON_CreateObject();
		cJSON_AddNumberToObject(f, "cap", s->cap.configured);
		cJSON_AddNumberToObject(f, "effective", effective);
		cJSON_AddStringToObject(f, "why", why);
		txn_event(s, JOURNAL_DAEMON, "cap_changed", f);
	}
}

void
sched_cap_set(struct sched *s, int operator, const char *why, const char *by)
{
	cap_operator_set(&s->cap, operator);
	cap_pulled(s, why, by, false);
}

void
sched_cap_step(struct sched *s, int delta, const char *why, const char *by)
{
	cap_operator_step(&s->cap, delta);
	cap_pulled(s, why, by, false);
}

void
sched_cap_limit(struct sched *s, int cap, const char *why, const char *by)
{
	cap_configure(&s->cap, cap);
	cap_pulled(s, why, by, true);
}

void
sched_cap_hand(struct sched *s, int hand, int limit, const char *why, const char *by)
{
	if (s->cap.limit[hand] == limit)
		return;
	s->cap.limit[hand] = limit;
	cap_pulled(s, why, by, false);
}

void
sched_memory_low(struct sched *s, bool low)
{
	if (s->cap.memory_low == low)
		return;
	s->cap.memory_low = low;
	cap_pulled(s, "memory", low ? "MemAvailable below min_free_mem" :
	    "MemAvailable above min_free_mem", true);
}

void
sched_disk_full(struct sched *s, bool full, const char *detail)
{
	if (s->cap.disk_full == full)
		return;
	s->cap.disk_full = full;
	cap_pulled(s, "disk", detail, true);
}

bool
sched_disk_is_full(const struct sched *s)
{
	return s->cap.disk_full;
}

int
sched_cap_hand_limit(const struct sched *s, int hand)
{
	return s->cap.limit[hand];
}

bool
sched_memory_is_low(const struct sched *s)
{
	return s->cap.memory_low;
}

bool
sched_waiting_for_slots(const struct sched *s)
{
	return s->admit.n > 0 || s->retry.n > 0;
}

/*
 * Exits of 75 (the agent hit a usage or rate limit): tempfail_streak of
 * them in a row, across issues, step the tempfail limit down one; any other
 * end of an attempt breaks the row.
 */
void
tempfail_seen(struct sched *s, bool tempfail)
{
	int streak = s->cfg->usage.tempfail_streak;

	if (!tempfail) {
		s->tempfail_row = 0;
		return;
	}
	s->last_tempfail = now_ms();
	if (streak == 0 || ++s->tempfail_row < streak)
		return;
	s->tempfail_row = 0;
	int limit = cap_effective(&s->cap) - 1;
	s->cap.limit[CAP_TEMPFAIL] = limit < 0 ? 0 : limit;
	cap_pulled(s, "tempfail", "exits of 75 in a row", false);
}

/* Every cooldown without a 75, the tempfail limit steps up one, then goes. */
void
cooldown_tick(struct sched *s, int64_t now)
{
	int limit = s->cap.limit[CAP_TEMPFAIL];

	if (limit == CAP_NO_LIMIT || now < cooldown_due(s))
		return;
	s->last_tempfail = now;
	s->cap.limit[CAP_TEMPFAIL] = limit + 1 >= s->cap.configured ? CAP_NO_LIMIT : limit + 1;
	cap_pulled(s, "cooldown", "no exit of 75 for a cooldown", false);
}

/* When the tempfail limit may step up next, or never. */
int64_t
cooldown_due(const struct sched *s)
{
	return s->cap.limit[CAP_TEMPFAIL] == CAP_NO_LIMIT ? INT64_MAX :
	    s->last_tempfail + (int64_t)s->cfg->usage.cooldown * 1000;
}
