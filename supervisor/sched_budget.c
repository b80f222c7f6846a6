/*
 * Budgets (DESIGN.md section 20): what the agents of an issue, and of the
 * rolling day, may spend.  Spending arrives in "usage" messages while a
 * phase runs; each is recorded on its attempt, its issue and the day's
 * record (store_spend) in the transaction of its message.  An issue that
 * passes per_issue has its worker told to stop; the day's spending reaching
 * per_day pulls the budget hand of the cap to 0 until the window frees room.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/journal.h"
#include "supervisor/sched_internal.h"

#define DAY_MS (24LL * 3600 * 1000)
/* The window is looked at this often by the clock (and at once after any spending). */
#define BUDGET_LOOK_MS 10000

void
sched_set_over_budget(struct sched *s, sched_signal_fn *fn, void *arg)
{
	s->over_budget = fn;
	s->over_budget_arg = arg;
}

char *
budget_issue_passed(const struct sched *s, const struct sched_issue *is)
{
	const struct budget_conf *b = &s->cfg->budget;

	if (b->per_issue > 0 && is->budget_usd > b->per_issue)
		return xasprintf("budget: $%.2f of $%.2f", is->budget_usd, b->per_issue);
	if (b->per_issue_tokens > 0 && is->budget_tokens > b->per_issue_tokens)
		return xasprintf("budget: %lld tokens of %lld", (long long)is->budget_tokens,
		    b->per_issue_tokens);
	return NULL;
}

static void
exceeded_event(struct sched *s, size_t i, const char *scope, bool tokens, double spent,
    double limit)
{
	cJSON *f = fields_str("scope", scope);

	cJSON_AddNumberToObject(f, "spent", spent);
	cJSON_AddNumberToObject(f, "limit", limit);
	cJSON_AddStringToObject(f, "unit", tokens ? "tokens" : "usd");
	txn_event(s, i, "budget_exceeded", f);
}

int
budget_on_usage(struct sched *s, size_t i, const struct proto_msg *m)
{
	struct sched_issue *is = &s->v[i];
	char *before = budget_issue_passed(s, is), *after;
	int64_t now = now_ms();

	store_spend(s->store, is->id, is->attempt_id, now, m->cost_usd, m->tokens_in,
	    m->tokens_out);
	is->budget_usd += m->cost_usd;
	is->budget_tokens += m->tokens_in + m->tokens_out;
	after = budget_issue_passed(s, is);
	/* Crossed just now: once per crossing, however many reports follow. */
	if (before == NULL && after != NULL) {
		bool tokens = !(s->cfg->budget.per_issue > 0 &&
		    is->budget_usd > s->cfg->budget.per_issue);

		log_issue_warnx(&(struct log_ctx){ is->key, is->attempt, is->trace },
		    "%s: stopping the attempt", after);
		exceeded_event(s, i, "issue", tokens,
		    tokens ? (double)is->budget_tokens : is->budget_usd,
		    tokens ? (double)s->cfg->budget.per_issue_tokens : s->cfg->budget.per_issue);
		if (s->over_budget && is->pid > 0 && !is->evaluating)
			s->over_budget(is->pid, s->over_budget_arg);
	}
	free(before);
	free(after);
	s->budget_check_at = 0;		/* the day, at once */
	sched_budget_tick(s, now);
	return 0;
}

void
sched_budget_tick(struct sched *s, int64_t now)
{
	const struct budget_conf *b = &s->cfg->budget;
	bool held = s->cap.limit[CAP_BUDGET] == 0, over_usd, over_tokens;
	int64_t tokens;
	double cost;

	if (now < s->budget_check_at)
		return;
	s->budget_check_at = now + BUDGET_LOOK_MS;
	if (store_spent_since(s->store, now - DAY_MS, &cost, &tokens) == -1)
		return;
	over_usd = b->per_day > 0 && cost >= b->per_day;
	over_tokens = b->per_day_tokens > 0 && tokens >= b->per_day_tokens;
	if ((over_usd || over_tokens) && !held) {
		log_warnx("budget: $%.2f and %lld tokens spent in the last 24 hours: the day's "
		    "budget is reached; admitting nothing until the window frees room", cost,
		    (long long)tokens);
		exceeded_event(s, JOURNAL_DAEMON, "day", !over_usd,
		    over_usd ? cost : (double)tokens,
		    over_usd ? b->per_day : (double)b->per_day_tokens);
		sched_cap_hand(s, CAP_BUDGET, 0, "budget", "per_day reached");
	} else if (!over_usd && !over_tokens && held)
		sched_cap_hand(s, CAP_BUDGET, CAP_NO_LIMIT, "budget",
		    "the rolling day frees room");
	/* What left the window counts no more (a day's margin, for wavectl status
	 * run under another clock). */
	store_spend_prune(s->store, now - 2 * DAY_MS);
}

bool
sched_budget_held(const struct sched *s)
{
	return s->cap.limit[CAP_BUDGET] == 0;
}

bool
sched_budget_stuck(const struct sched *s)
{
	return sched_budget_held(s) && s->inflight == 0 && s->awaiting == 0 &&
	    (s->admit.n > 0 || s->retry.n > 0);
}

char *
sched_budget_describe(struct sched *s, int64_t now)
{
	const struct budget_conf *b = &s->cfg->budget;
	char when[64], limit[96];
	int64_t tokens, frees;
	double cost;
	int waiting = 0;

	for (size_t i = 0; i < s->n; i++)
		waiting += s->v[i].in_source && (s->v[i].state == STATE_QUEUED ||
		    s->v[i].state == STATE_READY || s->v[i].state == STATE_RETRY_WAIT);
	store_spent_since(s->store, now - DAY_MS, &cost, &tokens);
	frees = store_spend_frees_at(s->store, now - DAY_MS, b->per_day, b->per_day_tokens);
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
