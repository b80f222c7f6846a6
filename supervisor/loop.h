/*
 * The supervisor's life: open the state, preflight, then one single-threaded
 * poll loop until the work is done (--once) or a stop is asked for.
 */
#ifndef WAVED_LOOP_H
#define WAVED_LOOP_H

#include <stdbool.h>

#include "common/config.h"

/* Exit statuses of waved (DESIGN.md section 11). */
#define EXIT_ALL_DONE 0
#define EXIT_SOME_FAILED 1
#define EXIT_BAD_CONFIG 2
#define EXIT_TEMPFAIL 75	/* --once: the day's budget holds back what is left */
#define EXIT_INTERRUPTED 130

struct loop_options {
	const char *config_path;	/* for SIGHUP */
	bool once;
	bool exit_on_error;		/* --once: the first dead issue drains, exit 1 */
	int cap;			/* --cap; 0: from the config */
};

/* Runs until done or stopped; takes ownership of cfg.  Returns the exit status. */
int loop_run(struct config *cfg, const struct loop_options *opts);

#endif
