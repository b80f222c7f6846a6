/*
 * Admission (DESIGN.md sections 4, 16 and 20): who may start.  The cap
 * lever and its hands (operator, usage, tempfail streaks and their
 * cooldown, the day's budget), the memory floor, the disk, and the pools'
 * slots.  Each change of the effective cap is a cap_changed event saying
 * who pulled, written into the transaction the loop opened (this file
 * opens none), and the daemon row wavectl status reads the limits from.
 * The repo slot and the ready queues are the scheduler's (sched.c).
 */
#ifndef WAVED_ADMISSION_H
#define WAVED_ADMISSION_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/store.h"

struct admission;
struct journal;

struct admission *admission_new(const struct config *cfg, struct store *store,
    struct journal *journal, int cap);
void admission_free(struct admission *a);
/* A reloaded configuration: its pools, counted again by admission_pool_take. */
void admission_reconfigure(struct admission *a, const struct config *cfg);

/* One more may start with inflight in flight. */
bool admission_open(const struct admission *a, int inflight);
int admission_effective(const struct admission *a);
int admission_configured(const struct admission *a);

/* Asked before each admission with its repo's recent peak (KiB, 0: unknown):
 * false holds admissions (the memory hand lifts the hold). */
typedef bool admission_memory_fn(long peak_kb, void *arg);
void admission_set_memory_room(struct admission *a, admission_memory_fn *fn, void *arg);
/* Read at the moment of each admission; no room pulls the memory hand. */
bool admission_memory_room(struct admission *a, long peak_kb);

/* Pools: the index of the pool named (NULL: none, -1), whether it has a
 * free slot, and its slots taken and given back by flights. */
long admission_pool(const struct admission *a, const char *name);
const char *admission_pool_name(const struct admission *a, long pool);
bool admission_pool_room(const struct admission *a, long pool);
void admission_pool_take(struct admission *a, long pool);
void admission_pool_release(struct admission *a, long pool);

/*
 * The hands on the lever (supervisor/cap.h): the operator's, a step from the
 * effective cap or a value; a new configured cap (SIGHUP); another hand's
 * limit (enum cap_hand, CAP_NO_LIMIT lifts it), the memory floor and the
 * disk.  why is the cap_changed event's (signal, control, config, ...); by
 * says what, for the log.
 */
void admission_step(struct admission *a, int delta, const char *why, const char *by);
void admission_set(struct admission *a, int operator, const char *why, const char *by);
void admission_limit(struct admission *a, int cap, const char *why, const char *by);
void admission_hand(struct admission *a, int hand, int limit, const char *why, const char *by);
int admission_hand_limit(const struct admission *a, int hand);
void admission_memory_low(struct admission *a, bool low);
bool admission_memory_is_low(const struct admission *a);
void admission_disk_full(struct admission *a, bool full, const char *detail);
bool admission_disk_is_full(const struct admission *a);

/* An attempt ended: an exit of 75 counts toward the streak, anything else
 * breaks it; tempfail_streak in a row step the tempfail limit down one. */
void admission_attempt_ended(struct admission *a, bool tempfail);
/* When the tempfail limit steps up next (INT64_MAX: none held), and the step. */
int64_t admission_cooldown_due(const struct admission *a);
void admission_tick(struct admission *a, int64_t now);

/* Budgets (section 20): why spending of usd and tokens passes per_issue
 * (caller frees), or NULL; and whether dollars are what passed. */
char *admission_issue_over(const struct admission *a, double usd, int64_t tokens,
    bool *dollars);
/* Look at the rolling day (now, or at the next look due): pull or lift the budget hand. */
void admission_budget_tick(struct admission *a, int64_t now, bool at_once);
bool admission_budget_held(const struct admission *a);
/* One line: spent, the limit, waiting issues, when the window frees room.  Caller frees. */
char *admission_budget_describe(struct admission *a, int64_t now, int waiting);
/* A budget_exceeded event for issue (JOURNAL_DAEMON: the day). */
void admission_exceeded_event(struct admission *a, size_t issue, const char *scope,
    bool tokens, double spent, double limit);

/* The daemon row: pid, running, the cap and every hand's limit, the pools. */
void admission_daemon_row(struct admission *a, bool running);

#endif
