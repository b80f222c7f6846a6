/*
 * wavectl summary: how the work went, from the event log and the store: per
 * issue its outcome, attempts, time (first admission to its end), agent time
 * and the part of it wasted on attempts that did not land; the makespan, the
 * totals, and the merges per repo.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "common/keymap.h"
#include "common/snapshot.h"
#include "common/summary.h"

struct span {
	int64_t first, last;	/* first admission, last done/dead; 0 when none */
};

struct summary {
	struct snapshot st;
	struct keymap *index;	/* issue -> index into st.issues */
	struct span *spans;
	int64_t first, last;
	const char **merge_repos;
	int *merges;
	size_t nrepos;
};

static long
issue_index(const struct summary *s, const char *key)
{
	char repo[REPO_NAME_MAX + 1];
	long number;

	if (key == NULL || !issue_key_parse(key, repo, sizeof(repo), &number))
		return -1;
	return keymap_get(s->index, repo, number);
}

static void
count_merge(struct summary *s, const struct snapshot_issue *r)
{
	size_t k;

	for (k = 0; k < s->nrepos && strcmp(s->merge_repos[k], r->repo) != 0; k++)
		;
	if (k == s->nrepos) {
		s->merge_repos = xreallocarray(s->merge_repos, k + 1, sizeof(*s->merge_repos));
		s->merges = xreallocarray(s->merges, k + 1, sizeof(*s->merges));
		s->merge_repos[k] = r->repo;
		s->merges[k] = 0;
		s->nrepos++;
	}
	s->merges[k]++;
}

static void
read_events(struct summary *s, const struct config *cfg)
{
	struct event_tail *ev = event_tail_open(cfg->state_dir, false);
	cJSON *e;

	while ((e = event_tail_next(ev)) != NULL) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(e, "event"));
		long i = issue_index(s, cJSON_GetStringValue(cJSON_GetObjectItem(e, "issue")));
		int64_t ts = timestamp_parse(cJSON_GetStringValue(cJSON_GetObjectItem(e, "ts")));

		if (i >= 0 && name && strcmp(name, "admitted") == 0) {
			if (!s->spans[i].first)
				s->spans[i].first = ts;
			if (!s->first)
				s->first = ts;
		} else if (i >= 0 && name && (strcmp(name, "done") == 0 || strcmp(name, "dead") == 0)) {
			s->spans[i].last = ts;
			s->last = ts;
		} else if (i >= 0 && name && strcmp(name, "merged") == 0)
			count_merge(s, &s->st.issues[i]);
		cJSON_Delete(e);
	}
	event_tail_close(ev);
}

/* What agents spent: in all, on attempts that did not land, per landed issue. */
static void
cost_totals(const struct summary *s, double *cost, double *wasted, int64_t *in, int64_t *out,
    double *per_landed)
{
	*cost = *wasted = 0;
	*in = *out = 0;
	for (size_t k = 0; k < s->st.n; k++) {
		*cost += s->st.issues[k].cost_usd;
		*wasted += s->st.issues[k].wasted_cost_usd;
		*in += s->st.issues[k].tokens_in;
		*out += s->st.issues[k].tokens_out;
	}
	*per_landed = s->st.counts[STATE_DONE] ? *cost / s->st.counts[STATE_DONE] : 0;
}

static void
totals(const struct summary *s, int64_t *agent, int64_t *wasted)
{
	*agent = *wasted = 0;
	for (size_t k = 0; k < s->st.n; k++) {
		*agent += s->st.issues[k].agent_ms;
		*wasted += s->st.issues[k].wasted_ms;
	}
}

/* land = pr: pull requests opened, and the feedback rounds they took. */
static void
pr_totals(const struct summary *s, int *pulls, int *rounds)
{
	*pulls = *rounds = 0;
	for (size_t k = 0; k < s->st.n; k++)
		if (s->st.issues[k].pr > 0) {
			(*pulls)++;
			*rounds += s->st.issues[k].pr_round;
		}
}

static void
print_human(const struct summary *s, FILE *fp)
{
	char age[16], agent[16], wasted[16];
	int64_t agent_ms, wasted_ms;

	fprintf(fp, "%-20s %-10s %8s %10s %10s %10s %9s  %s\n", "ISSUE", "OUTCOME", "ATTEMPTS", "TIME",
	    "AGENT", "WASTED", "PEAK RSS", "TITLE");
	for (size_t k = 0; k < s->st.n; k++) {
		const struct snapshot_issue *r = &s->st.issues[k];

		if (s->spans[k].first && s->spans[k].last)
			format_age(s->spans[k].last - s->spans[k].first, age, sizeof(age));
		else
			strcpy(age, "-");
		format_age(r->agent_ms, agent, sizeof(agent));
		format_age(r->wasted_ms, wasted, sizeof(wasted));
		char rss[16];
		snprintf(rss, sizeof(rss), "%.0fM", (double)r->maxrss_kb / 1024);
		fprintf(fp, "%-20s %-10s %8d %10s %10s %10s %9s  ", r->key, r->state, r->attempts, age,
		    agent, r->wasted_ms ? wasted : "-", r->maxrss_kb ? rss : "-");
		print_text(fp, r->title, 50);
		fputc('\n', fp);
	}
	format_age(s->last - s->first, age, sizeof(age));
	fprintf(fp, "\n%d done, %d dead, %d blocked of %zu; makespan %s\n", s->st.counts[STATE_DONE],
	    s->st.counts[STATE_DEAD], s->st.counts[STATE_BLOCKED], s->st.n, s->first && s->last ? age : "-");
	totals(s, &agent_ms, &wasted_ms);
	format_age(agent_ms, agent, sizeof(agent));
	format_age(wasted_ms, wasted, sizeof(wasted));
	fprintf(fp, "agent time %s, of which wasted on attempts that did not land %s (%.1f%%)\n", agent,
	    wasted, agent_ms ? 100.0 * (double)wasted_ms / (double)agent_ms : 0.0);
	double cost, wasted_cost, per_landed;
	int64_t tin, tout;
	cost_totals(s, &cost, &wasted_cost, &tin, &tout, &per_landed);
	if (cost > 0 || tin + tout > 0)
		fprintf(fp, "cost $%.2f (%lld tokens in, %lld out), of which wasted $%.2f; $%.2f per "
		    "landed issue\n", cost, (long long)tin, (long long)tout, wasted_cost, per_landed);
	int pulls, rounds;
	pr_totals(s, &pulls, &rounds);
	if (pulls > 0)
		fprintf(fp, "pull requests %d, feedback rounds %d (%.1f per pull request)\n", pulls, rounds,
		    (double)rounds / pulls);
	fprintf(fp, "merges per repo:");
	for (size_t k = 0; k < s->nrepos; k++)
		fprintf(fp, " %s %d%s", s->merge_repos[k], s->merges[k], k + 1 < s->nrepos ? "," : "");
	fprintf(fp, "%s\n", s->nrepos ? "" : " none");
}

static void
print_json(const struct summary *s, FILE *fp)
{
	cJSON *root = cJSON_CreateObject(), *issues = cJSON_AddArrayToObject(root, "issues");
	cJSON *merges = cJSON_AddObjectToObject(root, "merges");
	char *text;

	for (size_t k = 0; k < s->st.n; k++) {
		const struct snapshot_issue *r = &s->st.issues[k];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "issue", r->key);
		cJSON_AddStringToObject(o, "outcome", r->state);
		cJSON_AddNumberToObject(o, "attempts", r->attempts);
		if (s->spans[k].first && s->spans[k].last)
			cJSON_AddNumberToObject(o, "ms", (double)(s->spans[k].last - s->spans[k].first));
		else
			cJSON_AddNullToObject(o, "ms");
		cJSON_AddNumberToObject(o, "agent_ms", (double)r->agent_ms);
		cJSON_AddNumberToObject(o, "wasted_ms", (double)r->wasted_ms);
		cJSON_AddNumberToObject(o, "maxrss_kb", (double)r->maxrss_kb);
		cJSON_AddNumberToObject(o, "cost_usd", r->cost_usd);
		cJSON_AddNumberToObject(o, "tokens_in", (double)r->tokens_in);
		cJSON_AddNumberToObject(o, "tokens_out", (double)r->tokens_out);
		cJSON_AddNumberToObject(o, "wasted_cost_usd", r->wasted_cost_usd);
		if (r->pr > 0) {
			cJSON_AddNumberToObject(o, "pr", (double)r->pr);
			cJSON_AddNumberToObject(o, "pr_rounds", r->pr_round);
		}
		cJSON_AddStringToObject(o, "title", r->title);
		cJSON_AddItemToArray(issues, o);
	}
	if (s->first && s->last)
		cJSON_AddNumberToObject(root, "makespan_ms", (double)(s->last - s->first));
	else
		cJSON_AddNullToObject(root, "makespan_ms");
	int64_t agent_ms, wasted_ms;
	totals(s, &agent_ms, &wasted_ms);
	cJSON_AddNumberToObject(root, "agent_ms", (double)agent_ms);
	cJSON_AddNumberToObject(root, "wasted_ms", (double)wasted_ms);
	double cost, wasted_cost, per_landed;
	int64_t tin, tout;
	cost_totals(s, &cost, &wasted_cost, &tin, &tout, &per_landed);
	cJSON_AddNumberToObject(root, "cost_usd", cost);
	cJSON_AddNumberToObject(root, "wasted_cost_usd", wasted_cost);
	cJSON_AddNumberToObject(root, "tokens_in", (double)tin);
	cJSON_AddNumberToObject(root, "tokens_out", (double)tout);
	cJSON_AddNumberToObject(root, "cost_per_landed_usd", per_landed);
	int pulls, rounds;
	pr_totals(s, &pulls, &rounds);
	cJSON_AddNumberToObject(root, "pull_requests", pulls);
	cJSON_AddNumberToObject(root, "pr_rounds", rounds);
	for (size_t k = 0; k < s->nrepos; k++)
		cJSON_AddNumberToObject(merges, s->merge_repos[k], s->merges[k]);
	text = cJSON_PrintUnformatted(root);
	fprintf(fp, "%s\n", text);
	free(text);
	cJSON_Delete(root);
}

int
summary_print(const struct config *cfg, FILE *fp, bool json)
{
	struct summary s = { 0 };

	if (snapshot_read(cfg, &s.st) == -1)
		return -1;
	s.index = keymap_new(s.st.n);
	s.spans = xcalloc(s.st.n, sizeof(*s.spans));
	for (size_t k = 0; k < s.st.n; k++)
		keymap_put(s.index, s.st.issues[k].repo, s.st.issues[k].number, (long)k);
	read_events(&s, cfg);
	if (json)
		print_json(&s, fp);
	else
		print_human(&s, fp);
	fflush(fp);
	free(s.merge_repos);
	free(s.merges);
	free(s.spans);
	keymap_free(s.index);
	snapshot_free(&s.st);
	return 0;
}
