#include "supervisor/cap.h"

static int
clamp(int v, int hi)
{
	return v < 0 ? 0 : v > hi ? hi : v;
}

void
cap_init(struct cap *c, int configured)
{
	c->configured = configured;
	c->limit[CAP_OPERATOR] = configured;
	for (int h = CAP_OPERATOR + 1; h < CAP_HANDS; h++)
		c->limit[h] = CAP_NO_LIMIT;
	c->memory_low = false;
	c->disk_full = false;
}

int
cap_effective(const struct cap *c)
{
	int eff = c->configured;

	for (int h = 0; h < CAP_HANDS; h++)
		if (c->limit[h] != CAP_NO_LIMIT && c->limit[h] < eff)
			eff = c->limit[h];
	return c->memory_low || c->disk_full ? 0 : eff;
}

void
cap_operator_step(struct cap *c, int delta)
{
	/* Down from what binds now, so that one step is always felt; up by one. */
	int from = delta < 0 ? cap_effective(c) : c->limit[CAP_OPERATOR];

	c->limit[CAP_OPERATOR] = clamp(from + delta, c->configured);
}

void
cap_operator_set(struct cap *c, int value)
{
	c->limit[CAP_OPERATOR] = clamp(value, c->configured);
}

void
cap_configure(struct cap *c, int configured)
{
	int op = c->limit[CAP_OPERATOR];

	c->limit[CAP_OPERATOR] = op == c->configured || op > configured ? configured : op;
	c->configured = configured;
}
