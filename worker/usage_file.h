/*
 * $WAVED_USAGE_FILE (DESIGN.md section 20): a phase, or a wrapper around
 * its agent, appends JSON lines of what it spent,
 *   {"cost_usd": 0.42, "tokens_in": 12000, "tokens_out": 900, "model": "..."}
 * any subset of the fields, unknown ones ignored.  The worker reads what was
 * appended while the phase runs and once more at its end; a bad line is
 * logged with its number and skipped, never fatal.
 */
#ifndef WAVED_USAGE_FILE_H
#define WAVED_USAGE_FILE_H

#include <stdbool.h>
#include <sys/types.h>

struct usage_spent {
	double cost_usd;
	long tokens_in, tokens_out;
};

struct usage_file {
	char *path;
	int log_fd;		/* the attempt's log, where bad lines are told */
	off_t offset;		/* read up to here */
	long line;		/* lines taken so far */
	bool skipping;		/* inside a line too long to be one */
	struct usage_spent fresh;	/* read, not yet reported */
	struct usage_spent phase;	/* the phase's whole */
};

/* path is taken (freed by nobody: the worker ends with it). */
void usage_file_init(struct usage_file *u, char *path, int log_fd);
/* A new phase: the file starts empty, and so do its sums. */
void usage_file_reset(struct usage_file *u);
/*
 * Take the lines appended since the last read (at_end: an unfinished last
 * line too, the phase being over) into fresh and phase; true when fresh
 * holds something to report.
 */
bool usage_file_read(struct usage_file *u, bool at_end);
/* What fresh holds, handed over (and cleared). */
struct usage_spent usage_file_take(struct usage_file *u);

#endif
