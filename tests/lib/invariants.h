/*
 * What every end-to-end run must keep, checked by the scenario's teardown
 * (as SQLite's finish_test checks what every test file must keep), so that
 * a test that forgets to look still cannot pass over a broken invariant.
 *
 * Criterion does not fail a test for its teardown: a violation is printed
 * and written to $WAVED_INVARIANT_LOG, and scripts/run-tests fails the run
 * naming the test.  A test that breaks one on purpose waives it by name,
 * with the reason:
 *	scenario_waive(sc, INV_STORE_COMMITS, "the test makes the store unwritable");
 */
#ifndef WAVED_INVARIANTS_H
#define WAVED_INVARIANTS_H

struct scenario;

enum invariant {
	INV_STORE_COMMITS,	/* the daemon's log holds no "cannot commit" */
	INV_TRANSITIONS,	/* nor an "illegal transition", nor a journal misuse */
	INV_SANITIZER,		/* no ASan/UBSan report from the scenario's processes */
	INV_DONE_LANDED,	/* every issue whose last event is done has landed on the agent branch */
	INV_EVENTS,		/* events.ndjson parses line by line, seq strictly increasing */
	INV_PROCESSES,		/* no process of the scenario outlives it */
	INV_LEFTOVERS,		/* no worktree or branch left but spares and failed issues' */
	INV_COUNT
};

/* Do not check inv for this scenario; why says what the test breaks on purpose. */
void scenario_waive(struct scenario *sc, enum invariant inv, const char *why);

/* Send the sanitizer reports of the scenario's processes into its folder. */
void invariants_begin(struct scenario *sc);
/* Check every invariant not waived; a failure fails the test. */
void invariants_check(struct scenario *sc);

#endif
