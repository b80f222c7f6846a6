/*
 * The GitHub client's one limiter (client.c): every request waits on it.
 * Two limits: the budget, at most requests_per_minute starts in any 60 s
 * (304s and preflights included), and GitHub's own rate limit, a hold
 * until its reset or Retry-After that every request waits out, told once
 * as a rate_limited event.
 */
#ifndef WAVED_GITHUB_LIMITER_H
#define WAVED_GITHUB_LIMITER_H

#include <stdint.h>

#include "common/events.h"

struct gh_limiter;

struct gh_limiter *gh_limiter_new(int rpm);
void gh_limiter_free(struct gh_limiter *l);
/* A new budget: requests in any 60 s (the starts counted so far are forgotten). */
void gh_limiter_set_rpm(struct gh_limiter *l, int rpm);
int gh_limiter_rpm(const struct gh_limiter *l);
/* The rate_limited events go there (NULL: none). */
void gh_limiter_set_events(struct gh_limiter *l, struct events *events);

/* When the next request may start (monotonic ms): the hold's end, the budget's room. */
int64_t gh_limiter_free_at(const struct gh_limiter *l);
/* A request starts at now (monotonic ms): it counts against the budget. */
void gh_limiter_take(struct gh_limiter *l, int64_t now);
/* Until when (monotonic ms) GitHub's rate limit holds every request; 0 when it does not. */
int64_t gh_limiter_held_until(const struct gh_limiter *l);

/*
 * GitHub's rate limit in an answer, primary (x-ratelimit-remaining 0 until
 * x-ratelimit-reset) or secondary (a 403 or 429 with Retry-After): until
 * when it holds, wall-clock ms, or -1.  A 403 without either is a refusal,
 * never a limit.
 */
int64_t gh_limit_until(long status, long retry_after, long rate_remaining, int64_t rate_reset);
/* Hold every request until the wall-clock time until; repo and issue (either
 * may be NULL) name whom the answer was for, in the event and the log. */
void gh_limiter_hold(struct gh_limiter *l, int64_t until, const char *repo, const char *issue);

#endif
