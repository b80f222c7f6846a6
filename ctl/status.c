/*
 * wavectl status: the daemon's state as the store has it, with or without a
 * running daemon (read-only: it never writes the database).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "ctl/ctl.h"
#include "common/snapshot.h"

/* Each hand's limit on the cap, as the daemon last recorded them. */
static cJSON *
limits_of(const struct snapshot *st)
{
	cJSON *l = cJSON_Parse(st->daemon.limits);

	if (!cJSON_IsObject(l)) {
		cJSON_Delete(l);
		l = cJSON_CreateObject();
		cJSON_AddNumberToObject(l, "operator", st->daemon.effective_cap);
		cJSON_AddNullToObject(l, "usage");
		cJSON_AddNullToObject(l, "tempfail");
		cJSON_AddNullToObject(l, "budget");
		cJSON_AddFalseToObject(l, "memory");
		cJSON_AddFalseToObject(l, "disk");
	}
	return l;
}

/* Which hand holds the cap where it is: the smallest limit; the disk and
 * memory above all. */
static const char *
binding(const struct snapshot *st, const cJSON *l)
{
	static const char *const hands[] = { "operator", "usage", "tempfail", "budget" };
	const char *who = "the configured cap";
	double least = st->daemon.cap;

	if (cJSON_IsTrue(cJSON_GetObjectItem(l, "disk")))
		return "disk";
	if (cJSON_IsTrue(cJSON_GetObjectItem(l, "memory")))
		return "memory";
	for (size_t k = 0; k < ARRAY_LEN(hands); k++) {
		const cJSON *v = cJSON_GetObjectItem(l, hands[k]);

		if (cJSON_IsNumber(v) && v->valuedouble < least) {
			least = v->valuedouble;
			who = hands[k];
		}
	}
	return who;
}

/* land = pr: its pull request waits for a person. */
static bool
awaits_merge(const struct snapshot_issue *r)
{
	return strcmp(r->state, state_name(STATE_AWAITING_MERGE)) == 0;
}

static void
print_json(const struct snapshot *st)
{
	cJSON *root = cJSON_CreateObject(), *inflight, *awaiting, *counts, *issues;
	char ts[32], *text;

	cJSON_AddNumberToObject(root, "pid", (double)st->daemon.pid);
	cJSON_AddBoolToObject(root, "running", st->running);
	cJSON_AddNumberToObject(root, "cap", st->daemon.cap);
	cJSON_AddNumberToObject(root, "effective_cap", st->daemon.effective_cap);
	cJSON_AddBoolToObject(root, "paused", st->running && st->daemon.paused);
	cJSON *limits = limits_of(st), *pools = cJSON_DetachItemFromObject(limits, "pools");
	cJSON_AddStringToObject(root, "binding", binding(st, limits));
	cJSON_AddItemToObject(root, "limits", limits);
	cJSON_AddItemToObject(root, "pools", pools ? pools : cJSON_CreateObject());
	cJSON_AddNumberToObject(root, "reports_pending", (double)st->reports_pending);
	if (st->gh_poll_interval > 0) {
		cJSON *gh = cJSON_AddObjectToObject(root, "github");

		cJSON_AddNumberToObject(gh, "poll_interval", st->gh_poll_interval);
		cJSON_AddNumberToObject(gh, "requests_per_minute", st->gh_requests_per_minute);
	}
	cJSON *budget = cJSON_AddObjectToObject(root, "budget");
	cJSON_AddNumberToObject(budget, "spent_today_usd", st->day_usd);
	cJSON_AddNumberToObject(budget, "spent_today_tokens", (double)st->day_tokens);
	if (st->per_day_usd > 0)
		cJSON_AddNumberToObject(budget, "per_day_usd", st->per_day_usd);
	else
		cJSON_AddNullToObject(budget, "per_day_usd");
	if (st->per_day_tokens > 0)
		cJSON_AddNumberToObject(budget, "per_day_tokens", (double)st->per_day_tokens);
	else
		cJSON_AddNullToObject(budget, "per_day_tokens");
	inflight = cJSON_AddArrayToObject(root, "inflight");
	awaiting = cJSON_AddArrayToObject(root, "awaiting_merge");
	counts = cJSON_AddObjectToObject(root, "counts");
	issues = cJSON_AddArrayToObject(root, "issues");
	for (int k = 0; k < STATE_COUNT; k++)
		cJSON_AddNumberToObject(counts, state_name(k), st->counts[k]);
	for (size_t k = 0; k < st->n; k++) {
		const struct snapshot_issue *r = &st->issues[k];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "issue", r->key);
		cJSON_AddStringToObject(o, "state", r->state);
		cJSON_AddNumberToObject(o, "attempts", r->attempts);
		if (r->reason)
			cJSON_AddStringToObject(o, "reason", r->reason);
		else
			cJSON_AddNullToObject(o, "reason");
		if (r->pr > 0) {
			cJSON_AddNumberToObject(o, "pr", (double)r->pr);
			cJSON_AddStringToObject(o, "pr_url", r->pr_url ? r->pr_url : "");
			cJSON_AddNumberToObject(o, "pr_round", r->pr_round);
		}
		cJSON_AddItemToArray(issues, o);
		if (awaits_merge(r)) {
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "issue", r->key);
			if (r->pr_url)
				cJSON_AddStringToObject(o, "url", r->pr_url);
			else
				cJSON_AddNullToObject(o, "url");	/* pushed, not opened yet */
			cJSON_AddNumberToObject(o, "round", r->pr_round);
			format_timestamp(r->pr_since, ts, sizeof(ts));
			cJSON_AddStringToObject(o, "since", ts);
			cJSON_AddItemToArray(awaiting, o);
		}
		if (!snapshot_in_flight(r->state))
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "issue", r->key);
		cJSON_AddStringToObject(o, "phase", r->phase);
		cJSON_AddNumberToObject(o, "attempt", r->attempt);
		cJSON_AddNumberToObject(o, "pid", (double)r->pid);
		cJSON_AddStringToObject(o, "trace", r->trace ? r->trace : "");
		format_timestamp(r->since, ts, sizeof(ts));
		cJSON_AddStringToObject(o, "since", ts);
		cJSON_AddItemToArray(inflight, o);
	}
	text = cJSON_PrintUnformatted(root);
	puts(text);
	free(text);
	cJSON_Delete(root);
}

static bool
needs_attention(const char *state)
{
	enum issue_state st;

	return state_from_name(state, &st) &&
	    (st == STATE_RETRY_WAIT || st == STATE_DEAD || st == STATE_BLOCKED);
}

/* In flight, then what needs attention grouped by repo, then the counts. */
static void
print_human(const struct snapshot *st)
{
	const char *repo = NULL;
	bool header = false;
	char age[16];

	if (st->running) {
		cJSON *l = limits_of(st);
		static const char *const hands[] = { "operator", "usage", "tempfail", "budget" };

		printf("waved: running, pid %ld; cap %d, effective %d%s\n", st->daemon.pid,
		    st->daemon.cap, st->daemon.effective_cap, st->daemon.paused ? " (paused)" : "");
		printf("limits:");
		for (size_t k = 0; k < ARRAY_LEN(hands); k++) {
			const cJSON *v = cJSON_GetObjectItem(l, hands[k]);

			if (cJSON_IsNumber(v))
				printf(" %s %d,", hands[k], v->valueint);
			else
				printf(" %s -,", hands[k]);
		}
		printf(" memory %s, disk %s; binding: %s\n",
		    cJSON_IsTrue(cJSON_GetObjectItem(l, "memory")) ? "low" : "ok",
		    cJSON_IsTrue(cJSON_GetObjectItem(l, "disk")) ? "full" : "ok", binding(st, l));
		const cJSON *pool;
		cJSON_ArrayForEach(pool, cJSON_GetObjectItem(l, "pools"))
			printf("pool %s: %d of %d in flight\n", pool->string,
			    (int)cJSON_GetNumberValue(cJSON_GetObjectItem(pool, "inflight")),
			    (int)cJSON_GetNumberValue(cJSON_GetObjectItem(pool, "cap")));
		cJSON_Delete(l);
	} else
		printf("waved: not running\n");
	if (st->per_day_usd > 0 || st->day_usd > 0)
		printf("spent today: $%.2f of %s%.2f (rolling 24 hours)\n", st->day_usd,
		    st->per_day_usd > 0 ? "per_day $" : "no per_day, ", st->per_day_usd);
	if (st->per_day_tokens > 0)
		printf("tokens today: %lld of per_day_tokens %lld\n", (long long)st->day_tokens,
		    (long long)st->per_day_tokens);
	if (st->gh_poll_interval > 0)
		printf("github: each repo polled every %d s (requests_per_minute %d)\n",
		    st->gh_poll_interval, st->gh_requests_per_minute);
	if (st->reports_pending > 0)
		printf("reports: %ld outcome%s waiting for the report command\n",
		    st->reports_pending, st->reports_pending == 1 ? "" : "s");
	for (size_t k = 0; k < st->n; k++) {
		const struct snapshot_issue *r = &st->issues[k];

		if (!snapshot_in_flight(r->state))
			continue;
		if (!header)
			printf("\n%-20s %-10s %-7s %-8s %s\n", "IN FLIGHT", "PHASE", "ATTEMPT", "PID", "AGE");
		header = true;
		format_age(now_ms() - r->since, age, sizeof(age));
		printf("%-20s %-10s %-7d %-8ld %s\n", r->key, r->phase, r->attempt, r->pid, age);
	}
	header = false;
	for (size_t k = 0; k < st->n; k++) {
		const struct snapshot_issue *r = &st->issues[k];

		if (!awaits_merge(r))
			continue;
		if (!header)
			printf("\n%-20s %-6s %-8s %s\n", "AWAITING MERGE", "ROUND", "AGE", "PULL REQUEST");
		header = true;
		format_age(now_ms() - r->pr_since, age, sizeof(age));
		printf("%-20s %-6d %-8s ", r->key, r->pr_round, age);
		print_text(stdout, r->pr_url ? r->pr_url : "(pushed; opening it)", 200);
		putchar('\n');
	}
	header = false;
	for (size_t k = 0; k < st->n; k++) {
		const struct snapshot_issue *r = &st->issues[k];

		if (!needs_attention(r->state))
			continue;
		if (!header)
			printf("\n%-20s %-11s %-8s %s\n", "NEEDS ATTENTION", "STATE", "ATTEMPTS", "REASON");
		header = true;
		if (repo == NULL || strcmp(repo, r->repo) != 0)
			printf("[%s]\n", r->repo);
		repo = r->repo;
		printf("%-20s %-11s %-8d ", r->key, r->state, r->attempts);
		print_text(stdout, r->reason ? r->reason : "-", 100);
		putchar('\n');
	}
	putchar('\n');
	for (int k = 0; k < STATE_COUNT; k++)
		printf("%s%s %d", k ? ", " : "", state_name(k), st->counts[k]);
	putchar('\n');
}

int
cmd_status(const char *config_path, int argc, char **argv)
{
	struct snapshot st;
	struct config *cfg;
	bool json;
	int rc = CTL_OK;

	if (ctl_json_flag(argc, argv, "status", &json) == -1)
		return CTL_BAD_INPUT;
	if ((cfg = ctl_load_config(config_path)) == NULL)
		return CTL_BAD_INPUT;
	if (snapshot_read(cfg, &st) == -1)
		rc = CTL_BAD_INPUT;
	else if (json)
		print_json(&st);
	else
		print_human(&st);
	snapshot_free(&st);
	config_free(cfg);
	return rc;
}
