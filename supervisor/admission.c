#include "supervisor/admission.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/cap.h"
#include "supervisor/journal.h"

#define DAY_MS (24LL * 3600 * 1000)
/* The day is looked at this often by the clock (and at once after any spending). */
#define BUDGET_LOOK_MS 10000

struct admission {
	const struct config *cfg;
	struct store *store;
	struct journal *journal;
	struct cap cap;			/* the lever's hands; admission follows cap_effective */
	int effective;			/* as last recorded */
	int *pool_inflight;		/* by [pool] index */
	int tempfail_row;		/* exits of 75 in a row, across issues */
	int64_t last_tempfail;		/* wall ms of the last, or of the last cooldown step */
	admission_memory_fn *memory_room;
	void *memory_arg;
	int64_t budget_check_at;	/* wall ms: the day's window is looked at again */
};

struct admission *
admission_new(const struct config *cfg, struct store *store, struct journal *journal, int cap)
{
	struct admission *a = xcalloc(1, sizeof(*a));

	a->cfg = cfg;
	a->store = store;
	a->journal = journal;
	a->pool_inflight = xcalloc(cfg->npools + 1, sizeof(int));
	cap_init(&a->cap, cap);
	a->effective = cap;
	return a;
}

void
admission_free(struct admission *a)
{
	if (a == NULL)
		return;
	free(a->pool_inflight);
	free(a);
}

void
admission_reconfigure(struct admission *a, const struct config *cfg)
{
	a->cfg = cfg;
	free(a->pool_inflight);
	a->pool_inflight = xcalloc(cfg->npools + 1, sizeof(int));
}

bool
admission_open(const struct admission *a, int inflight)
{
	return inflight < a->effective;
}

int
admission_effective(const struct admission *a)
{
	return a->effective;
}

int
admission_configured(const struct admission *a)
{
	return a->cap.configured;
}

/* ---- the daemon row and the lever ---- */

void
admission_daemon_row(struct admission *a, bool running)
{
	struct store_daemon d = {
		.pid = getpid(), .running = running, .cap = a->cap.configured,
		.effective_cap = a->effective, .paused = a->effective == 0,
	};
	static const char *const hands[CAP_HANDS] = { "operator", "usage", "tempfail",
	    "budget" };
	size_t len = 0;

	for (int h = 0; h < CAP_HANDS; h++) {
		char v[16];

		snprintf(v, sizeof(v), "%d", a->cap.limit[h]);
		len += (size_t)snprintf(d.limits + len, sizeof(d.limits) - len, "%s\"%s\":%s",
		    h ? "," : "{", hands[h], a->cap.limit[h] == CAP_NO_LIMIT ? "null" : v);
	}
	len += (size_t)snprintf(d.limits + len, sizeof(d.limits) - len,
	    ",\"memory\":%s,\"disk\":%s,\"pools\":{", a->cap.memory_low ? "true" : "false",
	    a->cap.disk_full ? "true" : "false");
	for (size_t p = 0; p < a->cfg->npools && len + 128 < sizeof(d.limits); p++)
		len += (size_t)snprintf(d.limits + len, sizeof(d.limits) - len,
		    "%s\"%s\":{\"cap\":%d,\"inflight\":%d}", p ? "," : "", a->cfg->pools[p].name,
		    a->cfg->pools[p].cap, a->pool_inflight[p]);
	snprintf(d.limits + len, sizeof(d.limits) - len, "}}");
	store_daemon_set(a->store, &d);
}

/*
 * The effective cap after a pull of the lever: recorded (the log, the
 * daemon's row and a cap_changed event saying who pulled) when it moved.
 */
static void
cap_pulled(struct admission *a, const char *why, const char *by, bool always)
{
	int effective = cap_effective(&a->cap);
	bool moved = effective != a->effective || always;
	cJSON *f;

	a->effective = effective;
	admission_daemon_row(a, true);	/* the limits, even when the effective cap stays */
	if (moved) {
		log_info("cap: effective cap %d of %d%s (%s: %s)", effective, a->cap.configured,
		    effective == 0 ? ", paused" : "", why, by);
		f = cJSON_CreateObject();
		cJSON_AddNumberToObject(f, "cap", a->cap.configured);
		cJSON_AddNumberToObject(f, "effective", effective);
		cJSON_AddStringToObject(f, "why", why);
		journal_event(a->journal, JOURNAL_DAEMON, "cap_changed", f);
	}
}

void
admission_set(struct admission *a, int operator, const char *why, const char *by)
{
	cap_operator_set(&a->cap, operator);
	cap_pulled(a, why, by, false);
}

void
admission_step(struct admission *a, int delta, const char *why, const char *by)
{
	cap_operator_step(&a->cap, delta);
	cap_pulled(a, why, by, false);
}

void
admission_limit(struct admission *a, int cap, const char *why, const char *by)
{
	cap_configure(&a->cap, cap);
	cap_pulled(a, why, by, true);
}

void
admission_hand(struct admission *a, int hand, int limit, const char *why, const char *by)
{
	if (a->cap.limit[hand] == limit)
		return;
	a->cap.limit[hand] = limit;
	cap_pulled(a, why, by, false);
}

int
admission_hand_limit(const struct admission *a, int hand)
{
	return a->cap.limit[hand];
}

void
admission_memory_low(struct admission *a, bool low)
{
	if (a->cap.memory_low == low)
		return;
	a->cap.memory_low = low;
	cap_pulled(a, "memory", low ? "MemAvailable below min_free_mem" :
	    "MemAvailable above min_free_mem", true);
}

bool
admission_memory_is_low(const struct admission *a)
{
	return a->cap.memory_low;
}

void
admission_disk_full(struct admission *a, bool full, const char *detail)
{
	if (a->cap.disk_full == full)
		return;
	a->cap.disk_full = full;
	cap_pulled(a, "disk", detail, true);
}

bool
admission_disk_is_full(const struct admission *a)
{
	return a->cap.disk_full;
}

void
admission_set_memory_room(struct admission *a, admission_memory_fn *fn, void *arg)
{
	a->memory_room = fn;
	a->memory_arg = arg;
}

bool
admission_memory_room(struct admission *a, long peak_kb)
{
	if (a->memory_room && !a->memory_room(peak_kb, a->memory_arg)) {
		admission_memory_low(a, true);
		return false;
	}
	return true;
}

/* ---- pools ---- */

long
admission_pool(const struct admission *a, const char *name)
{
	return name ? config_pool(a->cfg, name) : -1;
}

const char *
admission_pool_name(const struct admission *a, long pool)
{
	return pool >= 0 ? a->cfg->pools[pool].name : NULL;
}

bool
admission_pool_room(const struct admission *a, long pool)
{
	return pool < 0 || a->pool_inflight[pool] < a->cfg->pools[pool].cap;
}

void
admission_pool_take(struct admission *a, long pool)
{
	if (pool < 0)
		return;
	a->pool_inflight[pool]++;
	admission_daemon_row(a, true);
}

void
admission_pool_release(struct admission *a, long pool)
{
	if (pool < 0)
		return;
	a->pool_inflight[pool]--;
	admission_daemon_row(a, true);
}

/* ---- tempfail streaks ---- */

void
admission_attempt_ended(struct admission *a, bool tempfail)
{
	int streak = a->cfg->usage.tempfail_streak;

	if (!tempfail) {
		a->tempfail_row = 0;
		return;
	}
	a->last_tempfail = now_ms();
	if (streak == 0 || ++a->tempfail_row < streak)
		return;
	a->tempfail_row = 0;
	int limit = cap_effective(&a->cap) - 1;
	a->cap.limit[CAP_TEMPFAIL] = limit < 0 ? 0 : limit;
	cap_pulled(a, "tempfail", "exits of 75 in a row", false);
}

int64_t
admission_cooldown_due(const struct admission *a)
{
	return a->cap.limit[CAP_TEMPFAIL] == CAP_NO_LIMIT ? INT64_MAX :
	    a->last_tempfail + (int64_t)a->cfg->usage.cooldown * 1000;
}

/* Every cooldown without a 75, the tempfail limit steps up one, then goes. */
void
admission_tick(struct admission *a, int64_t now)
{
	int limit = a->cap.limit[CAP_TEMPFAIL];

	if (limit == CAP_NO_LIMIT || now < admission_cooldown_due(a))
		return;
	a->last_tempfail = now;
	a->cap.limit[CAP_TEMPFAIL] = limit + 1 >= a->cap.configured ? CAP_NO_LIMIT : limit + 1;
	cap_pulled(a, "cooldown", "no exit of 75 for a cooldown", false);
}

/* ---- budgets ---- */

char *
admission_issue_over(const struct admission *a, double usd, int64_t tokens, bool *dollars)
{
	const struct budget_conf *b = &a->cfg->budget;

	if (dollars)
		*dollars = false;
	if (b->per_issue > 0 && usd > b->per_issue) {
		if (dollars)
			*dollars = true;
		return xasprintf("budget: $%.2f of $%.2f", usd, b->per_issue);
	}
	if (b->per_issue_tokens > 0 && tokens > b->per_issue_tokens)
		return xasprintf("budget: %lld tokens of %lld", (long long)tokens,
		    b->per_issue_tokens);
	return NULL;
}

void
admission_exceeded_event(struct admission *a, size_t issue, const char *scope, bool tokens,
    double spent, double limit)
{
	cJSON *f = cJSON_CreateObject();

	cJSON_AddStringToObject(f, "scope", scope);
	cJSON_AddNumberToObject(f, "spent", spent);
	cJSON_AddNumberToObject(f, "limit", limit);
	cJSON_AddStringToObject(f, "unit", tokens ? "tokens" : "usd");
	journal_event(a->journal, issue, "budget_exceeded", f);
}

void
admission_budget_tick(struct admission *a, int64_t now, bool at_once)
{
	const struct budget_conf *b = &a->cfg->budget;
	bool held = a->cap.limit[CAP_BUDGET] == 0, over_usd, over_tokens;
	int64_t tokens;
	double cost;

	if (!at_once && now < a->budget_check_at)
		return;
	a->budget_check_at = now + BUDGET_LOOK_MS;
	if (store_spent_since(a->store, now - DAY_MS, &cost, &tokens) == -1)
		return;
	over_usd = b->per_day > 0 && cost >= b->per_day;
	over_tokens = b->per_day_tokens > 0 && tokens >= b->per_day_tokens;
	if ((over_usd || over_tokens) && !held) {
		log_warnx("budget: $%.2f and %lld tokens spent in the last 24 hours: the day's "
		    "budget is reached; admitting nothing until the window frees room", cost,
		    (long long)tokens);
		admission_exceeded_event(a, JOURNAL_DAEMON, "day", !over_usd,
		    over_usd ? cost : (double)tokens,
		    over_usd ? b->per_day : (double)b->per_day_tokens);
		admission_hand(a, CAP_BUDGET, 0, "budget", "per_day reached");
	} else if (!over_usd && !over_tokens && held)
		admission_hand(a, CAP_BUDGET, CAP_NO_LIMIT, "budget",
		    "the rolling day frees room");
	/* What left the window counts no more (a day's margin, for wavectl status
	 * run under another clock). */
	store_spend_prune(a->store, now - 2 * DAY_MS);
}

bool
admission_budget_held(const struct admission *a)
{
	return a->cap.limit[CAP_BUDGET] == 0;
}

char *
admission_budget_describe(struct admission *a, int64_t now, int waiting)
{
	const struct budget_conf *b = &a->cfg->budget;
	char when[64], limit[96];
	int64_t tokens, frees;
	double cost;

	store_spent_since(a->store, now - DAY_MS, &cost, &tokens);
	frees = store_spend_frees_at(a->store, now - DAY_MS, b->per_day, b->per_day_tokens);
	if (b->per_day > 0)
		snprintf(limit, sizeof(limit), "$%.2f of per_day $%.2f", cost, b->per_day);
	else
		snprintf(limit, sizeof(limit), "%lld tokens of per_day_tokens %lld",
		    (long long)tokens, b->per_day_tokens);
	if (frees > 0) {
		format_timestamp(frees + DAY_MS, when, sizeof(when));
		return xasprintf("budget: %s spent in the last 24 hours; %d issue%s waiting; the "
		    "window frees room at %s (in %lld min)", limit, waiting, waiting == 1 ? "" : "s",
		    when, (long long)((frees + DAY_MS - now + 59999) / 60000));
	}
	return xasprintf("budget: %s spent in the last 24 hours; %d issue%s waiting", limit,
	    waiting, waiting == 1 ? "" : "s");
}
