/*
 * An issue in flight (DESIGN.md sections 5 to 7): what its worker reports,
 * how its attempt ends, and what a crash leaves.  Each message, exit or
 * recovery answer becomes record updates (the attempt's row and markers,
 * agent time, spending, the landed commit) and an input given to the table
 * (sched_fire: slot, merge, landed, failed, gave up, pushed, requeue),
 * never a state.  A report from a worker that is not the issue's current
 * one (an earlier attempt's, late) changes nothing.  Everything runs in the
 * transaction the loop opened for the event.
 */
#ifndef WAVED_FLIGHT_H
#define WAVED_FLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/proto.h"
#include "supervisor/recover.h"
#include "supervisor/sched.h"

/* A message of worker pid; -1 when it breaks the protocol (the caller kills
 * the worker and fails the attempt). */
int flight_on_message(struct sched *s, size_t issue, pid_t pid, const struct proto_msg *m);
/* The worker ended without a done message.  status is waitpid's; stopping:
 * the daemon asked it to stop, so the attempt does not count and the next
 * start resumes it. */
void flight_on_exit(struct sched *s, size_t issue, pid_t pid, int status, bool stopping);
/* The supervisor killed the worker (a protocol error, the watchdog): why says so. */
void flight_on_failed(struct sched *s, size_t issue, pid_t pid, const char *why);
/* The recovery child's answer; -1 when pid is not the issue's recovery child. */
int flight_on_recovered(struct sched *s, size_t issue, pid_t pid,
    const struct recover_decision *d);

/* Before the loop starts: each issue a previous run left in flight is
 * resumed or reset (DESIGN.md section 7), git asked here, without counting
 * an attempt: a daemon that died is not the issue's fault. */
void flight_recover(struct sched *s);

#endif
