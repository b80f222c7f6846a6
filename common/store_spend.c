/*
 * The store's record of spending (common/store.h, DESIGN.md section 20):
 * per attempt and issue, and the reports with their times from which the
 * rolling day's budget is counted.
 */
#include "common/store_internal.h"

int
store_spend(struct store *st, int64_t issue_id, int64_t attempt_id, int64_t at_ms,
    double cost_usd, int64_t tokens_in, int64_t tokens_out)
{
	if (store_exec_bound(st, ST_SPEND_ATTEMPT, BIND_INT(attempt_id), BIND_REAL(cost_usd),
	    BIND_INT(tokens_in), BIND_INT(tokens_out)) == -1 ||
	    store_exec_bound(st, ST_SPEND_ISSUE, BIND_INT(issue_id), BIND_REAL(cost_usd),
	    BIND_INT(tokens_in), BIND_INT(tokens_out)) == -1)
		return -1;
	return store_exec_bound(st, ST_SPEND_ADD, BIND_INT(at_ms), BIND_INT(issue_id),
	    BIND_REAL(cost_usd), BIND_INT(tokens_in + tokens_out));
}

int
store_waste_cost(struct store *st, int64_t issue_id, int64_t attempt_id)
{
	return store_exec_bound(st, ST_WASTE_COST, BIND_INT(issue_id), BIND_INT(attempt_id));
}

int
store_budget_reset(struct store *st, int64_t issue_id)
{
	return store_exec_bound(st, ST_BUDGET_RESET, BIND_INT(issue_id));
}

int
store_spent_since(struct store *st, int64_t since, double *cost_usd, int64_t *tokens)
{
	sqlite3_stmt *s = store_stmt(st, ST_SPEND_SINCE);
	int rc;

	*cost_usd = 0;
	*tokens = 0;
	sqlite3_bind_int64(s, 1, since);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		*cost_usd = sqlite3_column_double(s, 0);
		*tokens = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

int64_t
store_spend_frees_at(struct store *st, int64_t since, double limit_usd, int64_t limit_tokens)
{
	double cost;
	int64_t tokens, at = 0;
	sqlite3_stmt *s;

	if (store_spent_since(st, since, &cost, &tokens) == -1)
		return 0;
	/* Oldest first: each report that leaves the window takes its part along. */
	s = store_stmt(st, ST_SPEND_ROWS);
	sqlite3_bind_int64(s, 1, since);
	while ((limit_usd > 0 && cost >= limit_usd) || (limit_tokens > 0 && tokens >= limit_tokens)) {
		if (sqlite3_step(s) != SQLITE_ROW)
			break;
		at = sqlite3_column_int64(s, 0);
		cost -= sqlite3_column_double(s, 1);
		tokens -= sqlite3_column_int64(s, 2);
	}
	sqlite3_reset(s);
	return at;
}

int
store_spend_prune(struct store *st, int64_t until)
{
	return store_exec_bound(st, ST_SPEND_PRUNE, BIND_INT(until));
}
