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
 * Open waved's own binary, once at start: an upgrade that replaces it on
 * disk while this supervisor runs must not give its children another
 * version (nor another protocol).  -1 logged: no child can start.
 */
int exec_self_open(void);
void exec_self_close(void);

/*
 * Fork and exec waved in job->role: crossing[] = { pipe, gate, log } at
 * JOB_PIPE_FD, JOB_GATE_FD, JOB_LOG_FD (a gate and a log are a worker's:
 * -1, nothing at that number), the job at JOB_FD; the environment is ours
 * without GITHUB_TOKEN unless pass_token.  The caller closes its ends.
 * Returns the pid, or -1 logged.
 */
pid_t exec_self(const struct worker_job *job, const int crossing[3], bool pass_token);

#endif
