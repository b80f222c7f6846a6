/*
 * The run queues (DESIGN.md section 4, rules 0, 1 and 4): who is admitted
 * next.  Each repo keeps its ready issues by priority, one heap per pool,
 * so that an issue waiting for its full pool holds back no other of its
 * repo; a heap of the repos that may admit now (the repo slot free, the
 * next issue's pool with room) picks the next in O(log n); a heap of the
 * issues in retry_wait says whose backoff ends first.  Beside the heaps,
 * what admission reads of each repo: its slot, its issues in flight, the
 * recent memory peak of its phases, and its conflict-first claim.
 *
 * Nothing here changes an issue's state: supervisor/sched.c lists and
 * unlists an issue as it leaves and enters a state, and takes and gives
 * back the repo slot as it enters and leaves flight.  Issues are indexes
 * of the records (supervisor/records.h); repos, of the configuration's.
 */
#ifndef WAVED_RUNQ_H
#define WAVED_RUNQ_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"

struct admission;
struct records;
struct runq;

struct runq *runq_new(const struct config *cfg, struct records *r, struct admission *a);
void runq_free(struct runq *q);
/* Room for every record (after records_load): the new ones are in no heap. */
void runq_grow(struct runq *q);
/* A reloaded configuration: the repo table built anew (a repo found again
 * by name keeps its peak and its claim), every issue out of every heap,
 * to be listed again. */
void runq_reconfigure(struct runq *q, const struct config *cfg);

/* Into the heap issue i's state waits in (ready and in the source: its
 * repo's, on its pool's shelf; retry_wait: the retry heap), if any; and
 * out of it again, before its state changes. */
void runq_list(struct runq *q, size_t i);
void runq_unlist(struct runq *q, size_t i);
/* The pool issue i takes a slot of (its own, else its repo's); -1: none. */
long runq_pool(const struct runq *q, size_t i);
/* Its own pool (interned; NULL: its repo's): a listed ready issue moves
 * onto the new pool's shelf. */
void runq_set_pool(struct runq *q, size_t i, const char *pool);
/* Its priority, the plan's chain of dependents (plan_chain), and what it
 * counts on its repo's chain (0: off it): a listed issue moves with them. */
long runq_priority(const struct runq *q, size_t i);
void runq_set_priority(struct runq *q, size_t i, long priority, long expected);
/* A repo's chain as the plan counted it (plan_repo_chain); the queue takes
 * an issue off it when admitted, and puts it back when it is in line again. */
void runq_set_repo_work(struct runq *q, size_t repo, long work);
/* The critical path its next issue is admitted by: the longer of that
 * issue's chain of dependents and the repo's chain. */
long runq_repo_rank(const struct runq *q, size_t repo);

/* The repo slot taken or given back; one more or one fewer of the repo's
 * issues in flight. */
void runq_repo_busy(struct runq *q, size_t repo, bool busy);
void runq_repo_flights(struct runq *q, size_t repo, int delta);
/* A pool's room changed: every repo's next issue may have, and its place. */
void runq_refresh(struct runq *q);

/* The repo that admits next; SIZE_MAX: none may. */
size_t runq_next_repo(const struct runq *q);
/* The issue repo admits now: its conflict-first claim (spent by this), or
 * its first by priority whose pool has room.  It stays listed: unlisting
 * it is leaving ready. */
size_t runq_take(struct runq *q, size_t repo);
/* Issue i's attempt failed on a conflict: its next attempt is its repo's
 * next admission, made once nothing else of the repo is in flight, so
 * that it starts from a tip that holds them all and no two issues keep
 * knocking each other out (DESIGN.md section 6).  One claim a repo. */
void runq_claim(struct runq *q, size_t i);

/* A repo's recent peak resident size (KiB, 0: unknown), and a phase's
 * peak noted: a new high at once, a lower one pulls it down a quarter. */
long runq_peak_kb(const struct runq *q, size_t repo);
void runq_note_peak(struct runq *q, size_t repo, long maxrss_kb);

/* The issue whose backoff ends first; SIZE_MAX: none waits. */
size_t runq_next_retry(const struct runq *q);
/* How many repos may admit now, and how many issues wait out a backoff. */
size_t runq_admissible(const struct runq *q);
size_t runq_retrying(const struct runq *q);

#endif
