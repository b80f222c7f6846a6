/*
 * A worker: the process forked for one attempt at one issue.  It prepares a
 * worktree, runs the phases, lands the branch through the merge queue and
 * reports every step to the supervisor over its pipe.  It never opens the
 * database and ends with _exit.
 */
#ifndef WAVED_WORKER_H
#define WAVED_WORKER_H

#include <sys/types.h>

#include "common/config.h"
#include "common/job.h"
#include "common/proto.h"
#include "common/util.h"

/* Run the attempt; never returns. */
void worker_main(const struct worker_job *job) __attribute__((noreturn));

/* waved --worker: read the job at JOB_FD and become the worker; never returns. */
void worker_main_exec(void) __attribute__((noreturn));

#endif
