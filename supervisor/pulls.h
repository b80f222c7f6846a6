/*
 * land = pr (DESIGN.md section 18): the pull requests of issues awaiting
 * their merge, opened and watched through the GitHub client in the poll
 * loop.  After a push, the issue's pull request is found by its head branch
 * (never two, whatever crashed) and updated, or opened; then, every
 * poll_interval, its state, reviews, check runs and commit statuses are
 * read with conditional requests and told to the scheduler.
 */
#ifndef WAVED_PULLS_H
#define WAVED_PULLS_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/events.h"
#include "supervisor/github/client.h"
#include "supervisor/sched.h"

struct pulls;

struct pulls *pulls_new(const struct config *cfg, struct github *gh, struct sched *s);
void pulls_free(struct pulls *p);
/* A reloaded configuration (the old one is released). */
void pulls_reconfigure(struct pulls *p, const struct config *cfg);
/* The scheduler's hook: issue was pushed; open or update its pull request now. */
void pulls_pushed(size_t issue, void *p);
/* Open, update or check what is due. */
void pulls_tick(struct pulls *p);
/* When something is due next (monotonic ms), or INT64_MAX. */
int64_t pulls_next_deadline(const struct pulls *p);
/* No request of the watcher is in flight. */
bool pulls_idle(const struct pulls *p);

#endif
