/*
 * The backlog (DESIGN.md sections 3 and 4): the source's issues brought in
 * and planned.  A sync adds the new ones to the store and the records,
 * refreshes the text of the waiting ones and plans again: the dependency
 * index rebuilt, cycles and unknown dependencies found, priorities set by
 * the critical path in expected time, and each waiting issue settled where
 * the plan and its dependencies say, through the table (sched_fire: settle
 * or blocked), never by setting a state.  wavectl retry puts a dead or
 * blocked issue back in line here.  Everything runs in the transaction the
 * loop opened for the event.
 */
#ifndef WAVED_BACKLOG_H
#define WAVED_BACKLOG_H

#include "common/issue.h"
#include "supervisor/sched.h"

/* Bring in the source's issues: add new ones, refresh waiting ones, plan
 * again.  -1 when the store refused one (the others are in). */
int backlog_sync(struct sched *s, const struct issue_list *source);
/* wavectl retry: a dead or blocked issue back in line (a dead one with a
 * fresh set of attempts, budget and pull request), its blocked dependents
 * with it.  -1 with why (caller frees) when it cannot be. */
int backlog_retry(struct sched *s, const char *key, char **why);
/* Plan again: dependencies, priorities and every waiting issue's state (after
 * a sync, a retry, or an attempt whose time moved the expected times). */
void backlog_replan(struct sched *s);

#endif
