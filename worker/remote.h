/*
 * git that talks to a repo's push remote, from a worker: the merge queue's
 * push (mergeq.c) and land = pr's fetches and push (publish.c) alike.
 */
#ifndef WAVED_WORKER_REMOTE_H
#define WAVED_WORKER_REMOTE_H

#include "common/util.h"

#define REMOTE_STOPPED (-3)	/* remote_git_call: a stop came during a pause */

struct remote_call {
	const char *remote;	/* the push remote's name, for the log */
	int timeout_s;		/* git_timeout */
	int signal_fd;		/* a stop cuts the pauses short */
	int log_fd;		/* the attempt's log */
};

/*
 * Run git ARGS in dir, killed after git_timeout, and again after a pause of
 * 1 s, then 4 s, when it fails: a blip on the way to the remote should not
 * cost a round of agent work.  Not again when it timed out (it waited long
 * enough), when the remote refused (git_push_refused: trying again will not
 * change that), or when a stop came (REMOTE_STOPPED).  Returns git's exit
 * status, -2 on git_timeout; out gets the last run's output.
 */
int remote_git_call(const struct remote_call *c, const char *dir, struct strbuf *out,
    const char *const args[]);

#endif
