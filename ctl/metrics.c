/*
 * wavectl metrics: the state as OpenMetrics text, for node_exporter's
 * textfile collector (or any scraper): issues by state, in flight, the cap
 * and each hand's limit, agent and wasted seconds, merges per repo, and
 * rate-limit waits.  Read-only, with or without a running daemon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "ctl/ctl.h"
#include "common/snapshot.h"

/* Merges per repo and rate-limit waits, from the event log. */
struct tallies {
	const char **repos;
	long *merges;
	size_t nrepos;
	long rate_limited;
};

static void
tally(struct tallies *t, const struct config *cfg)
{
	struct event_tail *ev = event_tail_open(cfg->state_dir, false);
	cJSON *e;

	t->nrepos = cfg->nrepos;
	t->repos = xcalloc(cfg->nrepos + 1, sizeof(*t->repos));
	t->merges = xcalloc(cfg->nrepos + 1, sizeof(*t->merges));
	for (size_t k = 0; k < cfg->nrepos; k++)
		t->repos[k] = cfg->repos[k].name;
	while ((e = event_tail_next(ev)) != NULL) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(e, "event"));
		const char *issue = cJSON_GetStringValue(cJSON_GetObjectItem(e, "issue"));

		if (name && strcmp(name, "rate_limited") == 0)
			t->rate_limited++;
		else if (name && issue && strcmp(name, "merged") == 0)
			for (size_t k = 0; k < t->nrepos; k++) {
				size_t n = strlen(t->repos[k]);

				if (strncmp(issue, t->repos[k], n) == 0 && issue[n] == '#')
					t->merges[k]++;
			}
		cJSON_Delete(e);
	}
	event_tail_close(ev);
}

static void
metric(const char *name, const char *type, const char *help)
{
	printf("# TYPE %s %s\n# HELP %s %s\n", name, type, name, help);
}

static void
print_limits(const struct snapshot *st)
{
	static const char *const hands[] = { "operator", "usage", "tempfail", "budget" };
	cJSON *l = cJSON_Parse(st->daemon.limits);
	const cJSON *pool;

	metric("waved_cap_limit", "gauge", "Each hand's limit on the cap (none: no sample).");
	for (size_t k = 0; k < ARRAY_LEN(hands); k++) {
		const cJSON *v = cJSON_GetObjectItem(l, hands[k]);

		if (cJSON_IsNumber(v))
			printf("waved_cap_limit{hand=\"%s\"} %d\n", hands[k], v->valueint);
	}
	metric("waved_memory_low", "gauge", "1 while MemAvailable is below min_free_mem.");
	printf("waved_memory_low %d\n", cJSON_IsTrue(cJSON_GetObjectItem(l, "memory")) ? 1 : 0);
	metric("waved_disk_full", "gauge", "1 while state_dir's disk is nearly full.");
	printf("waved_disk_full %d\n", cJSON_IsTrue(cJSON_GetObjectItem(l, "disk")) ? 1 : 0);
	metric("waved_pool_inflight", "gauge", "Issues in flight per pool.");
	cJSON_ArrayForEach(pool, cJSON_GetObjectItem(l, "pools"))
		printf("waved_pool_inflight{pool=\"%s\"} %d\n", pool->string,
		    (int)cJSON_GetNumberValue(cJSON_GetObjectItem(pool, "inflight")));
	metric("waved_pool_cap", "gauge", "The cap of each pool.");
	cJSON_ArrayForEach(pool, cJSON_GetObjectItem(l, "pools"))
		printf("waved_pool_cap{pool=\"%s\"} %d\n", pool->string,
		    (int)cJSON_GetNumberValue(cJSON_GetObjectItem(pool, "cap")));
	cJSON_Delete(l);
}

static void
print_metrics(const struct snapshot *st, const struct tallies *t)
{
	int64_t agent = 0, wasted = 0, tokens_in = 0, tokens_out = 0;
	double cost = 0;
	int inflight = 0;

	for (size_t k = 0; k < st->n; k++) {
		cost += st->issues[k].cost_usd;
		tokens_in += st->issues[k].tokens_in;
		tokens_out += st->issues[k].tokens_out;
		agent += st->issues[k].agent_ms;
		wasted += st->issues[k].wasted_ms;
		inflight += snapshot_in_flight(st->issues[k].state);
	}
	metric("waved_up", "gauge", "1 while the daemon runs.");
	printf("waved_up %d\n", st->running ? 1 : 0);
	metric("waved_issues", "gauge", "Issues by state.");
	for (int k = 0; k < STATE_COUNT; k++)
		printf("waved_issues{state=\"%s\"} %d\n", state_name(k), st->counts[k]);
	metric("waved_inflight", "gauge", "Issues between admission and landing.");
	printf("waved_inflight %d\n", inflight);
	metric("waved_cap", "gauge", "The configured and the effective cap.");
	printf("waved_cap{kind=\"configured\"} %d\nwaved_cap{kind=\"effective\"} %d\n",
	    st->daemon.cap, st->daemon.effective_cap);
	print_limits(st);
	metric("waved_agent_seconds", "counter", "Agent time: the sum of every attempt's phases.");
	printf("waved_agent_seconds_total %.3f\n", (double)agent / 1000);
	metric("waved_wasted_agent_seconds", "counter", "Agent time of attempts that did not land.");
	printf("waved_wasted_agent_seconds_total %.3f\n", (double)wasted / 1000);
	metric("waved_cost_usd", "counter", "What agents reported spending (USD), every attempt.");
	printf("waved_cost_usd_total %.6f\n", cost);
	metric("waved_tokens", "counter", "Tokens agents reported, by direction.");
	printf("waved_tokens_total{direction=\"in\"} %lld\nwaved_tokens_total{direction=\"out\"} %lld\n",
	    (long long)tokens_in, (long long)tokens_out);
	if (st->per_day_usd > 0) {
		metric("waved_budget_day_remaining_usd", "gauge",
		    "per_day less what the rolling 24 hours spent.");
		printf("waved_budget_day_remaining_usd %.6f\n",
		    st->per_day_usd > st->day_usd ? st->per_day_usd - st->day_usd : 0.0);
	}
	metric("waved_merges", "counter", "Landings per repo.");
	for (size_t k = 0; k < t->nrepos; k++)
		printf("waved_merges_total{repo=\"%s\"} %ld\n", t->repos[k], t->merges[k]);
	metric("waved_rate_limit_waits", "counter", "Times GitHub asked waved to wait.");
	printf("waved_rate_limit_waits_total %ld\n", t->rate_limited);
	printf("# EOF\n");
}

int
cmd_metrics(const char *config_path, int argc, char **argv __attribute__((unused)))
{
	struct snapshot st = { 0 };
	struct tallies t = { 0 };
	struct config *cfg;

	if (argc != 1) {
		fprintf(stderr, "usage: wavectl metrics\n");
		return CTL_BAD_INPUT;
	}
	if ((cfg = ctl_load_config(config_path)) == NULL)
		return CTL_BAD_INPUT;
	if (snapshot_read(cfg, &st) == -1) {
		config_free(cfg);
		return CTL_BAD_INPUT;
	}
	tally(&t, cfg);
	print_metrics(&st, &t);
	free(t.repos);
	free(t.merges);
	snapshot_free(&st);
	config_free(cfg);
	return CTL_OK;
}
