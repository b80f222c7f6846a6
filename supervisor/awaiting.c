#include "supervisor/awaiting.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/paths.h"
#include "common/proto.h"
#include "common/util.h"
#include "supervisor/records.h"

/* ---- the record ---- */

void
awaiting_pushed(struct sched *s, size_t i, const char *sha)
{
	struct record *is = sched_record(s, i);

	if (is->pr == NULL)
		is->pr = xcalloc(1, sizeof(*is->pr));
	is->pr->pushes++;
	records_set_str(&is->pr->head, sha);
	records_set_str(&is->pr->kind, NULL);	/* the round it was is done */
	is->pr->since = now_ms();
	is->pr->synced = false;
	records_save_pull(sched_records(s), i);
}

void
awaiting_forget(struct sched *s, size_t i)
{
	struct record *is = sched_record(s, i);

	/* The lease stays: the remote branch is still the one waved pushed. */
	is->pr->number = 0;
	records_set_str(&is->pr->url, NULL);
	is->pr->round = is->pr->pushes = 0;
	is->pr->since = 0;
	records_set_str(&is->pr->kind, NULL);
	records_save_pull(sched_records(s), i);
}

/* ---- what GitHub says ---- */

int
awaiting_count(const struct sched *s)
{
	return (int)records_in_state(sched_records(s), STATE_AWAITING_MERGE);
}

/* Issue i awaits its merge (having pushed, it has its pull request). */
static bool
awaits(const struct sched *s, size_t i)
{
	return i < records_count(sched_records(s)) &&
	    sched_issue_state(s, i) == STATE_AWAITING_MERGE && sched_record(s, i)->pr;
}

bool
awaiting_view(const struct sched *s, size_t i, struct awaiting_pull *out)
{
	const struct record *is;

	if (!awaits(s, i) || (is = sched_record(s, i))->repo == RECORD_NO_REPO)
		return false;
	*out = (struct awaiting_pull){
		.issue = i, .key = is->key, .repo = records_repo(sched_records(s), i),
		.number = is->number, .title = is->title, .trace = is->at.trace,
		.attempts = is->attempts, .pr = is->pr->number, .url = is->pr->url,
		.head = is->pr->head, .round = is->pr->round, .synced = is->pr->synced,
		.since = is->pr->since, .agent_ms = is->agent_ms, .wasted_ms = is->wasted_ms,
	};
	return true;
}

bool
awaiting_next(const struct sched *s, size_t from, struct awaiting_pull *out)
{
	for (size_t i = from; i < records_count(sched_records(s)); i++)
		if (awaiting_view(s, i, out))
			return true;
	return false;
}

static struct record *
awaiting(struct sched *s, size_t i)
{
	return awaits(s, i) ? sched_record(s, i) : NULL;
}

static cJSON *
pr_fields(const struct record *is)
{
	cJSON *f = cJSON_CreateObject();

	if (is->pr->url)
		cJSON_AddStringToObject(f, "url", is->pr->url);
	if (is->pr->number > 0)
		cJSON_AddNumberToObject(f, "pr", (double)is->pr->number);
	return f;
}

void
awaiting_pr_opened(struct sched *s, size_t i, long number, const char *url)
{
	struct record *is = awaiting(s, i);
	bool first;

	if (is == NULL)
		return;
	is->pr->synced = true;
	first = is->pr->number != number;
	if (!first && is->pr->url && strcmp(is->pr->url, url) == 0)
		return;		/* updated: nothing new to record */
	is->pr->number = number;
	records_set_str(&is->pr->url, url);
	records_save_pull(sched_records(s), i);
	if (first)
		sched_event(s, i, "pr_opened", pr_fields(is));
}

void
awaiting_pr_merged(struct sched *s, size_t i, const char *merge_sha)
{
	struct record *is = awaiting(s, i);
	cJSON *f;

	if (is == NULL)
		return;
	/* GitHub names the merge commit; without one, the head it merged stands for it. */
	records_set_str(&is->final, merge_sha && *merge_sha ? merge_sha : is->pr->head);
	f = pr_fields(is);
	if (is->final)
		cJSON_AddStringToObject(f, "sha", is->final);
	sched_event(s, i, "pr_merged", f);
	f = sched_fields("outcome", "merged");
	cJSON_AddNumberToObject(f, "agent_ms", (double)is->agent_ms);
	sched_fire(s, i, IN_PR_MERGED, NULL, f);
}

/* The work on the pull request did not land: its agent time is wasted. */
static void
waste_pull(struct sched *s, size_t i)
{
	struct record *is = sched_record(s, i);

	if (is->agent_ms > is->wasted_ms)
		store_add_wasted_time(sched_store(s), is->id, is->agent_ms - is->wasted_ms);
	is->wasted_ms = is->agent_ms;
}

void
awaiting_pr_closed(struct sched *s, size_t i)
{
	struct record *is = awaiting(s, i);
	const char *why = "pull request closed";

	if (is == NULL)
		return;
	sched_event(s, i, "pr_closed", pr_fields(is));
	waste_pull(s, i);
	sched_fire(s, i, IN_PR_CLOSED, why, sched_fields("reason", why));
}

/* The feedback a fix round reads in $WAVED_FEEDBACK_FILE. */
static bool
write_pr_feedback(struct sched *s, size_t i, const char *kind, const char *text)
{
	const struct config *cfg = sched_config(s);
	const struct record *is = sched_record(s, i);
	char *dir = path_issue_dir(cfg, records_repo(sched_records(s), i)->name, is->number);
	char *path = xasprintf("%s/feedback.md", dir);
	FILE *fp;

	mkdir_p(dir, 0755);
	if ((fp = fopen(path, "we")) != NULL) {
		fprintf(fp, PR_FEEDBACK_HEADER " %s of %s came back (%s, round %d of %d)\n\n%s",
		    is->pr->url ? is->pr->url : "?", is->key, kind, is->pr->round, cfg->pr_rounds,
		    text);
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
awaiting_pr_feedback(struct sched *s, size_t i, const char *kind, const char *text)
{
	int rounds = sched_config(s)->pr_rounds;
	struct record *is = awaiting(s, i);
	char line[512], *reason;
	cJSON *f;

	if (is == NULL)
		return;
	if (is->pr->round >= rounds) {
		last_line(text, line, sizeof(line));
		reason = xasprintf("pull request: %d feedback round%s used up; last (%s): %s",
		    rounds, rounds == 1 ? "" : "s", kind, line);
		waste_pull(s, i);
		sched_fire(s, i, IN_GAVE_UP, reason, sched_fields("reason", reason));
		free(reason);
		return;
	}
	is->pr->round++;
	if (!write_pr_feedback(s, i, kind, text)) {
		is->pr->round--;		/* the next poll finds the same feedback again */
		return;
	}
	records_set_str(&is->pr->kind, kind);
	records_save_pull(sched_records(s), i);
	f = pr_fields(is);
	cJSON_AddStringToObject(f, "kind", kind);
	cJSON_AddNumberToObject(f, "round", is->pr->round);
	sched_event(s, i, "pr_feedback", f);
	sched_fire(s, i, IN_PR_FEEDBACK, NULL, NULL);
}

