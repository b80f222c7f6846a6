/*
 * land = pr (DESIGN.md section 18): issues awaiting the merge of their pull
 * request.  The pull request's record, from the first push on (its number
 * and url, the head waved pushed last, its feedback rounds), and what
 * GitHub says of it, told by supervisor/pulls.c: each turned into a record
 * update and an input given to the table (sched_fire: merged, closed, gave
 * up, a fix round), never a state.  Everything runs in the transaction the
 * loop opened for the event.
 */
#ifndef WAVED_AWAITING_H
#define WAVED_AWAITING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "supervisor/sched.h"

/* What pulls.c needs of an issue awaiting its merge; valid until the next event. */
struct awaiting_pull {
	size_t issue;
	const char *key;
	const struct repo_conf *repo;
	long number;		/* the issue's */
	const char *title;
	const char *trace;
	int attempts;
	long pr;		/* its pull request's number, 0: none yet */
	const char *url;	/* NULL until opened */
	const char *head;	/* the head waved pushed */
	int round;
	bool synced;		/* the pull request shows the last push */
	int64_t since, agent_ms, wasted_ms;
};
/* How many issues await their merge. */
int awaiting_count(const struct sched *s);
/* Issue's view when it awaits its merge; false when it does not. */
bool awaiting_view(const struct sched *s, size_t issue, struct awaiting_pull *out);
/* The first issue awaiting its merge at index from or after; false: none. */
bool awaiting_next(const struct sched *s, size_t from, struct awaiting_pull *out);

/* What GitHub said of issue's pull request; each changes nothing unless the
 * issue still awaits its merge. */
void awaiting_pr_opened(struct sched *s, size_t issue, long number, const char *url);
void awaiting_pr_merged(struct sched *s, size_t issue, const char *merge_sha);
void awaiting_pr_closed(struct sched *s, size_t issue);
/* kind: "review", "checks" or "conflict"; text: the feedback file's body. */
void awaiting_pr_feedback(struct sched *s, size_t issue, const char *kind, const char *text);

/* The worker pushed the issue's branch at sha: the pull request's record
 * (made at the first push) has it as its lease, with the round done. */
void awaiting_pushed(struct sched *s, size_t issue, const char *sha);
/* wavectl retry of a dead issue: its next pull request is a new one (the
 * lease stays: the remote branch is still the one waved pushed). */
void awaiting_forget(struct sched *s, size_t issue);

#endif
