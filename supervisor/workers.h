/*
 * The supervisor's side of its workers: fork one per admitted issue, read
 * and validate its pipe, reap it, and tell the scheduler what happened.
 */
#ifndef WAVED_WORKERS_H
#define WAVED_WORKERS_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "supervisor/sched.h"

struct workers;

struct workers *workers_new(void);
void workers_free(struct workers *w);
/* The scheduler to report to, and the config the next workers run with. */
void workers_attach(struct workers *w, struct sched *s, const struct config *cfg);

/* A sched_start_fn: fork the worker of job; its pid, or -1. */
pid_t workers_start(const struct sched_job *job, void *arg);

/* Add each worker's pipe to fds (room for workers_count entries). */
size_t workers_pollfds(const struct workers *w, struct pollfd *fds);
/* Read what a worker's pipe holds. */
void workers_readable(struct workers *w, int fd);
/* Reap every child that has exited (on SIGCHLD; children.c), then tell the
 * scheduler of the workers among them. */
void workers_reap(struct workers *w);
/* The store is back: what workers said and did while it was down, in order. */
void workers_resume(struct workers *w);
/* Stopping while the store is down: reap without telling; how many are left. */
size_t workers_forget_exited(struct workers *w);
/* A sched_evaluate_fn: fork the recovery child of a crashed worker's issue. */
pid_t workers_evaluate(const struct recover_input *in, size_t issue, void *arg);
/* A sched_gate_fn: let the worker pid past its gate. */
void workers_open_gate(pid_t pid, void *arg);
/* Tell worker pid that its issue passed its budget (sched_signal_fn). */
void workers_over_budget(pid_t pid, void *arg);

/* The phase watchdog: its next deadline (monotonic ms, or INT64_MAX), and
 * the check that kills a worker stuck past its phase's timeout. */
int64_t workers_next_deadline(const struct workers *w);
void workers_watchdog(struct workers *w, int64_t now);

size_t workers_count(const struct workers *w);
/* Ask every worker to stop (SIGTERM); from then on their exits do not count. */
void workers_stop(struct workers *w);
/* The last resort: SIGKILL every worker and the process group of its phase. */
void workers_kill(struct workers *w);

#endif
