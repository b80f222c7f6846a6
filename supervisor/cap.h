/*
 * The cap lever (DESIGN.md section 4 rule 5, section 16): several hands
 * each set a limit, and the effective cap is the smallest of them, never
 * above the configured cap.  Who pulled is said by a why from one list
 * (section 12): signal, control, config, usage, tempfail, cooldown, memory,
 * disk, budget.
 */
#ifndef WAVED_CAP_H
#define WAVED_CAP_H

#include <stdbool.h>

enum cap_hand {
	CAP_OPERATOR,		/* signals and wavectl cap/pause/resume */
	CAP_USAGE,		/* the usage monitor */
	CAP_TEMPFAIL,		/* streaks of exit 75 */
	CAP_BUDGET,		/* [budget] per_day spent: 0 until the rolling day frees room */
	CAP_HANDS
};

#define CAP_NO_LIMIT (-1)

struct cap {
	int configured;			/* cap, or --cap, or the number of repos */
	int limit[CAP_HANDS];		/* CAP_NO_LIMIT: this hand holds nothing back */
	bool memory_low;		/* below min_free_mem: admit nothing */
	bool disk_full;			/* state_dir's disk nearly full: admit nothing */
};

void cap_init(struct cap *c, int configured);
int cap_effective(const struct cap *c);

/* The operator's hand: a step from the effective cap, or a value; clamped to
 * 0..configured.  A new configured cap: an operator at the old one follows. */
void cap_operator_step(struct cap *c, int delta);
void cap_operator_set(struct cap *c, int value);
void cap_configure(struct cap *c, int configured);

#endif
