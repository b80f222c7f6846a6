/*
 * The job of an exec'd worker (DESIGN.md section 1).  The supervisor forks
 * and execs waved itself in worker mode; what the worker is to do (the
 * configuration generation it was admitted under, the issue, the attempt)
 * comes as data on an inherited descriptor, never on a command line and
 * never read again from the config file, which may have changed since.
 */
#ifndef WAVED_JOB_H
#define WAVED_JOB_H

#include <stdbool.h>

#include "worker/worker.h"

/* Where the exec'd worker finds its pipe, its gate and its job. */
#define JOB_PIPE_FD 3
#define JOB_GATE_FD 4
#define JOB_FD 5

/* The hidden command-line flag of worker mode (waved(8): internal). */
#define JOB_WORKER_FLAG "--worker"

/* The job as a sealed memory file, read from its start; -1 logged. */
int job_write(const struct worker_job *job);

/*
 * Read the job on fd into *job (its config and strings allocated, kept for
 * the life of the process); -1 with why in err.
 */
int job_read(int fd, struct worker_job *job, char *err, size_t errsize);

/* waved --worker: read the job at JOB_FD and become the worker; never returns. */
void job_worker_main(void) __attribute__((noreturn));

#endif
