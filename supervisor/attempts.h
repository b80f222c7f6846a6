/*
 * An issue's attempts (DESIGN.md sections 3 and 5): the number and trace of
 * the one in flight, its row and state markers in the store, its agent time
 * and what of it was wasted, and how long to wait after one failed.  No
 * state of the issue changes here: supervisor/sched.c decides, this keeps
 * the books, in the transaction the loop opened.
 */
#ifndef WAVED_ATTEMPTS_H
#define WAVED_ATTEMPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/proto.h"
#include "common/store.h"
#include "common/util.h"

struct attempt {
	int number;
	char trace[TRACE_LEN + 1];
	int64_t id;			/* its row in the store, 0: none */
	int64_t ms;			/* its agent time: the sum of its phases */
	char *base;			/* recorded at prepare, or NULL */
	enum resume_point resume;	/* set by recovery for the next admission */
	int tempfails;			/* the issue's exits of 75 in a row (this run) */
	int waits;			/* its other tempfails in a row (a full disk, the
					 * remote, the cluster): for their backoff */
};

/* The attempt an admission starts: a resumed one goes on under its number
 * and trace; else the next after counted, with a new trace. */
void attempt_next(struct attempt *a, int counted);
/* Its row, once its worker is started (pid 0: none could be). */
void attempt_begin(struct store *st, int64_t issue_id, struct attempt *a, pid_t pid);
void attempt_end(struct store *st, const struct attempt *a, const char *outcome,
    const char *reason);
/* The worker prepared its worktree on base: a later crash decides anew. */
void attempt_prepared(struct store *st, struct attempt *a, const char *base);
/* A phase ended: its marker, its agent time (on the attempt and the issue),
 * its peak resident size. */
void attempt_phase_end(struct store *st, int64_t issue_id, struct attempt *a,
    const struct proto_msg *m);
/* Its agent time and cost did not land: wasted (section 5).  Returns the ms. */
int64_t attempt_waste(struct store *st, int64_t issue_id, struct attempt *a);
/* What the attempt took, into the moving averages of its repo and of its
 * pool (pool NULL: none) that expected times come from (section 4 rule 4). */
void attempt_note_duration(struct store *st, const char *repo, const char *pool,
    const struct attempt *a);
/* The attempt's last state marker, for recovery; false when it has none. */
bool attempt_last_marker(struct store *st, const struct attempt *a, struct store_marker *m);
/* retry_backoff * 2^(k-1) after k counted failures. */
int64_t attempt_backoff(const struct config *cfg, int counted);
/* After an exit of 75: the time the phase asked for in $WAVED_RETRY_AFTER_FILE
 * (of the issue's folder), else tempfail_backoff * 2^(k-1), at most 15 minutes. */
int64_t attempt_tempfail_backoff(const struct config *cfg, const char *repo, long number,
    const char *key, const struct attempt *a);
/* After a tempfail that was not the agent's (a->waits of them in a row):
 * tempfail_backoff * 2^(k-1), at most 15 minutes. */
int64_t attempt_wait_backoff(const struct config *cfg, const struct attempt *a);

#endif
