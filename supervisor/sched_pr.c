/*
 * land = pr (DESIGN.md section 18): an issue whose worker pushed its branch
 * awaits the merge of its pull request, holding no repo, pool or cap slot
 * (a person may take days).  What GitHub says of the pull request moves it:
 * merged -> done, closed -> dead, changes requested or a failed check -> a
 * fix round on the same branch, at most pr_rounds of them.
 */
#include "supervisor/sched_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/paths.h"
#include "common/util.h"

void
pr_absorb(struct sched_issue *is, const struct store_pull *row)
{
	if (row->head == NULL && row->number == 0 && row->pushes == 0)
		return;		/* no pulls row: never pushed */
	is->pr = xcalloc(1, sizeof(*is->pr));
	is->pr->number = row->number;
	set_str(&is->pr->url, row->url);
	set_str(&is->pr->head, row->head);
	set_str(&is->pr->kind, row->kind);
	is->pr->round = row->round;
	is->pr->pushes = row->pushes;
	is->pr->since = row->since;
}

void
pr_free(struct sched_issue *is)
{
	if (is->pr == NULL)
		return;
	free(is->pr->url);
	free(is->pr->head);
	free(is->pr->kind);
	free(is->pr);
	is->pr = NULL;
}

void
pr_save(struct sched *s, size_t i)
{
	struct sched_issue *is = &s->v[i];
	struct store_pull p = {
		.number = is->pr->number, .url = is->pr->url, .head = is->pr->head,
		.round = is->pr->round, .pushes = is->pr->pushes, .since = is->pr->since,
		.kind = is->pr->kind,
	};

	store_set_pull(s->store, is->id, &p);
}

void
pr_forget(struct sched *s, size_t i)
{
	struct sched_issue *is = &s->v[i];

	/* The lease stays: the remote branch is still the one waved pushed. */
	is->pr->number = 0;
	set_str(&is->pr->url, NULL);
	is->pr->round = is->pr->pushes = 0;
	is->pr->since = 0;
	set_str(&is->pr->kind, NULL);
	pr_save(s, i);
}

void
pr_pushed(struct sched *s, size_t i, const char *sha)
{
	struct sched_issue *is = &s->v[i];
	cJSON *f = fields_str("sha", sha);

	end_flight(s, i, "pushed", NULL);
	tempfail_seen(s, false);
	if (is->pr == NULL)
		is->pr = xcalloc(1, sizeof(*is->pr));
	is->attempts = is->attempt;	/* numbered; it is not a failure (attempts_spent) */
	store_set_attempts(s->store, is->id, is->attempts);
	is->pr->pushes++;
	set_str(&is->pr->head, sha);
	set_str(&is->pr->kind, NULL);	/* the round it was is done */
	is->pr->since = now_ms();
	is->pr->synced = false;
	is->attempt_ms = 0;		/* on its pull request now: not wasted by a later failure */
	pr_save(s, i);
	cJSON_AddNumberToObject(f, "round", is->pr->round);
	cJSON_AddNumberToObject(f, "agent_ms", (double)is->agent_ms);
	sched_fire(s, i, IN_PUSHED, STATE_AWAITING_MERGE, NULL, f);
}

void
sched_set_pushed_hook(struct sched *s, sched_pushed_fn *fn, void *arg)
{
	s->pushed = fn;
	s->pushed_arg = arg;
}

int
sched_awaiting(const struct sched *s)
{
	return s->awaiting;
}

/* Issue i awaits its merge (having pushed, it has its pull request). */
static bool
awaits(const struct sched *s, size_t i)
{
	return i < s->n && s->v[i].state == STATE_AWAITING_MERGE && s->v[i].pr;
}

bool
sched_awaiting_pull(const struct sched *s, size_t i, struct sched_pull *out)
{
	const struct sched_issue *is = &s->v[i];

	if (!awaits(s, i) || is->repo == NO_REPO)
		return false;
	*out = (struct sched_pull){
		.issue = i, .key = is->key, .repo = s->repos[is->repo].conf,
		.number = is->number, .title = is->title, .trace = is->trace,
		.attempts = is->attempts, .pr = is->pr->number, .url = is->pr->url,
		.head = is->pr->head, .round = is->pr->round, .synced = is->pr->synced,
		.since = is->pr->since, .agent_ms = is->agent_ms, .wasted_ms = is->wasted_ms,
	};
	return true;
}

bool
sched_next_awaiting(const struct sched *s, size_t from, struct sched_pull *out)
{
	for (size_t i = from; i < s->n; i++)
		if (sched_awaiting_pull(s, i, out))
			return true;
	return false;
}

static struct sched_issue *
awaiting(struct sched *s, size_t i)
{
	return awaits(s, i) ? &s->v[i] : NULL;
}

static cJSON *
pr_fields(const struct sched_issue *is)
{
	cJSON *f = cJSON_CreateObject();

	if (is->pr->url)
		cJSON_AddStringToObject(f, "url", is->pr->url);
	if (is->pr->number > 0)
		cJSON_AddNumberToObject(f, "pr", (double)is->pr->number);
	return f;
}

void
sched_pr_opened(struct sched *s, size_t i, long number, const char *url)
{
	struct sched_issue *is = awaiting(s, i);
	bool first;

	if (is == NULL)
		return;
	is->pr->synced = true;
	first = is->pr->number != number;
	if (!first && is->pr->url && strcmp(is->pr->url, url) == 0)
		return;		/* updated: nothing new to record */
	is->pr->number = number;
	set_str(&is->pr->url, url);
	pr_save(s, i);
	if (first)
		txn_event(s, i, "pr_opened", pr_fields(is));
}

void
sched_pr_merged(struct sched *s, size_t i, const char *merge_sha)
{
	struct sched_issue *is = awaiting(s, i);
	cJSON *f;

	if (is == NULL)
		return;
	/* GitHub names the merge commit; without one, the head it merged stands for it. */
	set_str(&is->final, merge_sha && *merge_sha ? merge_sha : is->pr->head);
	store_set_final_commit(s->store, is->id, is->final);
	f = pr_fields(is);
	if (is->final)
		cJSON_AddStringToObject(f, "sha", is->final);
	txn_event(s, i, "pr_merged", f);
	f = fields_str("outcome", "merged");
	cJSON_AddNumberToObject(f, "agent_ms", (double)is->agent_ms);
	sched_fire(s, i, IN_PR_MERGED, STATE_DONE, NULL, f);
	release_dependents(s, i);
}

/* The work on the pull request did not land: its agent time is wasted. */
static void
waste_pull(struct sched *s, size_t i)
{
	struct sched_issue *is = &s->v[i];

	if (is->agent_ms > is->wasted_ms)
		store_add_wasted_time(s->store, is->id, is->agent_ms - is->wasted_ms);
	is->wasted_ms = is->agent_ms;
}

static void
pull_dead(struct sched *s, size_t i, enum sched_input in, const char *reason)
{
	waste_pull(s, i);
	sched_fire(s, i, in, STATE_DEAD, reason, fields_str("reason", reason));
	block_dependents(s, i);
}

void
sched_pr_closed(struct sched *s, size_t i)
{
	struct sched_issue *is = awaiting(s, i);

	if (is == NULL)
		return;
	txn_event(s, i, "pr_closed", pr_fields(is));
	pull_dead(s, i, IN_PR_CLOSED, "pull request closed");
}

/* The feedback a fix round reads in $WAVED_FEEDBACK_FILE. */
static bool
write_pr_feedback(struct sched *s, size_t i, const char *kind, const char *text)
{
	struct sched_issue *is = &s->v[i];
	char *dir = path_issue_dir(s->cfg, s->repos[is->repo].conf->name, is->number);
	char *path = xasprintf("%s/feedback.md", dir);
	FILE *fp;

	mkdir_p(dir, 0755);
	if ((fp = fopen(path, "we")) != NULL) {
		fprintf(fp, PR_FEEDBACK_HEADER " %s of %s came back (%s, round %d of %d)\n\n%s",
		    is->pr->url ? is->pr->url : "?", is->key, kind, is->pr->round,
		    s->cfg->pr_rounds, text);
		if (fclose(fp) != 0)
			fp = NULL;
	}
	if (fp == NULL)
		log_warn("%s: write %s", is->key, path);
	free(path);
	free(dir);
	return fp != NULL;
}

void
sched_pr_feedback(struct sched *s, size_t i, const char *kind, const char *text)
{
	struct sched_issue *is = awaiting(s, i);
	char line[512], *reason;
	cJSON *f;

	if (is == NULL)
		return;
	if (is->pr->round >= s->cfg->pr_rounds) {
		last_line(text, line, sizeof(line));
		reason = xasprintf("pull request: %d feedback round%s used up; last (%s): %s",
		    s->cfg->pr_rounds, s->cfg->pr_rounds == 1 ? "" : "s", kind, line);
		pull_dead(s, i, IN_GAVE_UP, reason);
		free(reason);
		return;
	}
	is->pr->round++;
	if (!write_pr_feedback(s, i, kind, text)) {
		is->pr->round--;		/* the next poll finds the same feedback again */
		return;
	}
	set_str(&is->pr->kind, kind);
	pr_save(s, i);
	f = pr_fields(is);
	cJSON_AddStringToObject(f, "kind", kind);
	cJSON_AddNumberToObject(f, "round", is->pr->round);
	txn_event(s, i, "pr_feedback", f);
	sched_fire(s, i, IN_PR_FEEDBACK, is->pending == 0 && is->in_source ? STATE_READY :
	    STATE_QUEUED, NULL, NULL);
}
