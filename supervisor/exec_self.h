/*
 * The supervisor's children that run code of ours are waved itself, forked
 * and exec'd in a role (DESIGN.md section 1; common/job.h): a worker, a
 * recovery, a reload's preflight.  The exec is the point: none inherits the
 * supervisor's memory (the token, the database), and each gets fresh ASLR.
 */
#ifndef WAVED_EXEC_SELF_H
#define WAVED_EXEC_SELF_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/job.h"

/*
 * Spawn waved in job->role (from the binary this supervisor runs, even
 * once an upgrade has replaced it on disk): crossing[] = { pipe, gate, log } at
 * JOB_PIPE_FD, JOB_GATE_FD, JOB_LOG_FD (a gate and a log are a worker's:
 * -1, nothing at that number), the job at JOB_FD; the environment is ours
 * without GITHUB_TOKEN unless pass_token.  The caller closes its ends.
 * Returns the pid, or -1 logged.
 */
pid_t exec_self(const struct worker_job *job, const int crossing[3], bool pass_token);

#endif
