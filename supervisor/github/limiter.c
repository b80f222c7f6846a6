#include "supervisor/github/limiter.h"

#include <stdlib.h>

#include <cJSON.h>

#include "common/log.h"
#include "common/util.h"

#define GH_WINDOW_MS 60000		/* requests_per_minute counts starts in this window */
#define GH_HOLD_MIN_MS 1000		/* the shortest hold a rate limit makes */

struct gh_limiter {
	int64_t held_until;	/* GitHub's rate limit: no request before (monotonic ms) */
	int rpm;		/* requests_per_minute */
	int64_t *starts;	/* when the last rpm requests started (a ring) */
	size_t nstarts, start_next;
	struct events *events;
};

struct gh_limiter *
gh_limiter_new(int rpm)
{
	struct gh_limiter *l = xcalloc(1, sizeof(*l));

	gh_limiter_set_rpm(l, rpm);
	return l;
}

void
gh_limiter_free(struct gh_limiter *l)
{
	if (l == NULL)
		return;
	free(l->starts);
	free(l);
}

/* ---- the budget: at most rpm starts in any GH_WINDOW_MS ---- */

void
gh_limiter_set_rpm(struct gh_limiter *l, int rpm)
{
	l->rpm = rpm > 0 ? rpm : 1;
	free(l->starts);
	l->starts = xcalloc((size_t)l->rpm, sizeof(*l->starts));
	l->nstarts = l->start_next = 0;
}

int
gh_limiter_rpm(const struct gh_limiter *l)
{
	return l->rpm;
}

void
gh_limiter_set_events(struct gh_limiter *l, struct events *events)
{
	l->events = events;
}

/* When the next request may start as far as the budget goes (monotonic ms). */
static int64_t
budget_free_at(const struct gh_limiter *l)
{
	if (l->nstarts < (size_t)l->rpm)
		return 0;
	return l->starts[l->start_next] + GH_WINDOW_MS;	/* the oldest start */
}

void
gh_limiter_take(struct gh_limiter *l, int64_t now)
{
	l->starts[l->start_next] = now;
	l->start_next = (l->start_next + 1) % (size_t)l->rpm;
	if (l->nstarts < (size_t)l->rpm)
		l->nstarts++;
}

int64_t
gh_limiter_free_at(const struct gh_limiter *l)
{
	int64_t budget = budget_free_at(l);

	return l->held_until > budget ? l->held_until : budget;
}

/* ---- GitHub's rate limit ---- */

int64_t
gh_limiter_held_until(const struct gh_limiter *l)
{
	return l->held_until > mono_ms() ? l->held_until : 0;
}

int64_t
gh_limit_until(long status, long retry_after, long rate_remaining, int64_t rate_reset)
{
	if ((status == 403 || status == 429) && retry_after >= 0)
		return now_ms() + (int64_t)retry_after * 1000;
	if (rate_remaining == 0 && rate_reset > 0)
		return rate_reset * 1000;
	return -1;
}

void
gh_limiter_hold(struct gh_limiter *l, int64_t until, const char *repo, const char *issue)
{
	int64_t mono_until, now = now_ms();
	char ts[32];

	/* A reset already past (clocks differ) or a Retry-After of 0: a second at
	 * least, never a loop of requests GitHub refuses. */
	if (until < now + GH_HOLD_MIN_MS)
		until = now + GH_HOLD_MIN_MS;
	mono_until = mono_ms() + (until - now);

	if (mono_until <= l->held_until)
		return;		/* already held that long: said once */
	l->held_until = mono_until;
	format_timestamp(until, ts, sizeof(ts));
	log_warnx("github: rate limit, answering a request for %s: no request before %s",
	    issue ? issue : repo ? repo : "waved", ts);
	if (l->events) {
		cJSON *f = cJSON_CreateObject();

		if (repo)
			cJSON_AddStringToObject(f, "repo", repo);
		cJSON_AddStringToObject(f, "until", ts);
		events_emit(l->events, "rate_limited", &(struct log_ctx){ .issue = issue }, f);
	}
}
