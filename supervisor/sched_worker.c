#include "supervisor/sched_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/paths.h"
#include "common/plan.h"
#include "common/util.h"
#include "supervisor/journal.h"
#include "supervisor/recover.h"

/* ---- lifecycle of an attempt ---- */

void
release_slot(struct sched *s, size_t i)
{
	struct sched_issue *is = &s->v[i];

	if (!is->holds_slot)
		return;
	is->holds_slot = false;
	s->repos[is->repo].busy = false;
	repo_refresh(s, is->repo);
}

/* The attempt no longer holds a cap slot or its repo's. */
static void
release_flight(struct sched *s, size_t i)
{
	size_t r = s->v[i].repo;

	release_slot(s, i);
	s->inflight--;
	s->repos[r].inflight--;
	repo_refresh(s, r);
	pool_release(s, i);
}

/* The attempt is over, whatever its outcome: free its slots. */
void
end_flight(struct sched *s, size_t i, const char *outcome, const char *reason)
{
	release_flight(s, i);
	store_attempt_end(s->store, s->v[i].attempt_id, outcome, reason);
}

/* The attempt's agent time did not land: it is wasted (DESIGN.md section 5). */
static void
waste_attempt(struct sched *s, size_t i)
{
	struct sched_issue *is = &s->v[i];

	if (is->attempt_ms > 0)
		store_add_wasted_time(s->store, is->id, is->attempt_ms);
	if (is->attempt_id > 0)
		store_waste_cost(s->store, is->id, is->attempt_id);
	is->wasted_ms += is->attempt_ms;
	is->attempt_ms = 0;
}

int
attempts_spent(const struct sched_issue *is)
{
	return is->attempts - (is->pr ? is->pr->pushes : 0);
}

/* A repo's recent peak: a new high at once, a lower one pulls it down a quarter. */
static void
note_repo_peak(struct sched_repo *repo, long maxrss_kb)
{
	if (maxrss_kb <= 0)
		return;
	repo->peak_kb = maxrss_kb >= repo->peak_kb ? maxrss_kb :
	    (repo->peak_kb * 3 + maxrss_kb) / 4;
}

/* An exit of 75 that is the agent's (not a disk found full, which the disk hand holds). */
static bool
agent_tempfail(const char *outcome, const char *reason)
{
	return strcmp(outcome, "tempfail") == 0 &&
	    strncmp(reason, DISK_FULL_REASON, strlen(DISK_FULL_REASON)) != 0;
}

static void
give_up(struct sched *s, size_t i, enum sched_input in, const char *reason)
{
	sched_fire(s, i, in, STATE_DEAD, reason, fields_str("reason", reason));
	block_dependents(s, i);
}

/* retry_backoff * 2^(k-1) after k counted failures (an uncounted one does not add a k). */
static int64_t
failure_delay(const struct sched *s, size_t i)
{
	int64_t delay = (int64_t)s->cfg->retry_backoff * 1000;

	for (int k = 1; k < s->v[i].attempts && delay < 86400000; k++)
		delay *= 2;
	return delay;
}

#define TEMPFAIL_BACKOFF_MAX_MS (15 * 60 * 1000)

/*
 * After the k-th exit of 75 in a row: the time the phase wrote to
 * $WAVED_RETRY_AFTER_FILE (the agent knows when its usage limit resets),
 * else tempfail_backoff * 2^(k-1), at most 15 minutes.
 */
static int64_t
tempfail_delay(const struct sched *s, size_t i)
{
	const struct sched_issue *is = &s->v[i];
	char *dir = path_issue_dir(s->cfg, s->repos[is->repo].conf->name, is->number);
	char *path = xasprintf("%s/" RETRY_AFTER_FILE, dir), *text = read_file(path, NULL);
	int64_t asked = retry_after_parse(text, now_ms()), delay;

	unlink(path);	/* an answer to this exit of 75 only, never to a later one */
	if (text && asked < 0)
		log_issue_warnx(&(struct log_ctx){ is->key, is->attempt, is->trace },
		    "%s: neither seconds nor an ISO 8601 time; backing off instead", path);
	free(text);
	free(path);
	free(dir);
	if (asked >= 0)
		return asked;
	delay = (int64_t)s->cfg->tempfail_backoff * 1000;
	for (int k = 1; k < is->tempfails && delay < TEMPFAIL_BACKOFF_MAX_MS; k++)
		delay *= 2;
	return delay < TEMPFAIL_BACKOFF_MAX_MS ? delay : TEMPFAIL_BACKOFF_MAX_MS;
}

/* A failed attempt: retry after a backoff, or give up once attempts are spent. */
void
attempt_failed(struct sched *s, size_t i, const char *outcome, const char *reason,
    bool counts)
{
	struct sched_issue *is = &s->v[i];
	cJSON *f = fields_str("reason", reason);

	cJSON_AddStringToObject(f, "outcome", outcome);
	cJSON_AddNumberToObject(f, "agent_ms", (double)is->attempt_ms);
	end_flight(s, i, outcome, reason);
	txn_event(s, i, "failed", f);
	waste_attempt(s, i);
	/* The disk failed it, not the agent: hold admissions, leave the streak be. */
	if (strncmp(reason, DISK_FULL_REASON, strlen(DISK_FULL_REASON)) == 0)
		sched_disk_full(s, true, reason);
	else
		tempfail_seen(s, strcmp(outcome, "tempfail") == 0);
	if (counts)
		store_set_attempts(s->store, is->id, ++is->attempts);
	is->tempfails = agent_tempfail(outcome, reason) ? is->tempfails + 1 : 0;
	if (is->tempfails >= s->cfg->max_tempfails) {
		char *why = xasprintf("tempfail limit: %d exits of 75", is->tempfails);

		give_up(s, i, IN_GAVE_UP, why);
		free(why);
		return;
	}
	if (counts && attempts_spent(is) >= s->cfg->max_attempts) {
		give_up(s, i, IN_GAVE_UP, reason);
		return;
	}
	int64_t delay = is->tempfails ? tempfail_delay(s, i) : failure_delay(s, i);
	is->retry_at = now_ms() + delay;
	store_set_retry_at(s->store, is->id, is->retry_at);
	cJSON *r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "backoff_ms", (double)delay);
	cJSON_AddBoolToObject(r, "counted", counts);
	sched_fire(s, i, IN_FAILED, STATE_RETRY_WAIT, reason, r);
	/* Its next attempt is the repo's next admission, made once nothing else of
	 * the repo is in flight: it starts from a tip that holds them all, and no
	 * two issues can keep knocking each other out (DESIGN.md section 6). */
	if (strcmp(outcome, "conflict") == 0 && s->repos[is->repo].conflicted == SIZE_MAX) {
		s->repos[is->repo].conflicted = i;
		repo_refresh(s, is->repo);
	}
}

/*
 * The issue passed its budget (DESIGN.md section 20): whatever the attempt's
 * own end, it is dead, with no retry: another attempt would spend more.
 * wavectl retry gives it a fresh budget.
 */
static void
attempt_over_budget(struct sched *s, size_t i)
{
	struct sched_issue *is = &s->v[i];
	char *why = budget_issue_passed(s, is);
	cJSON *f;

	if (why == NULL)	/* a reload raised the limit after the stop was asked */
		why = xstrdup("budget: stopped over its budget");
	f = fields_str("reason", why);
	cJSON_AddStringToObject(f, "outcome", "over_budget");
	cJSON_AddNumberToObject(f, "agent_ms", (double)is->attempt_ms);
	end_flight(s, i, "over_budget", why);
	txn_event(s, i, "failed", f);
	waste_attempt(s, i);
	tempfail_seen(s, false);
	is->tempfails = 0;
	store_set_attempts(s->store, is->id, ++is->attempts);
	give_up(s, i, IN_GAVE_UP, why);
	free(why);
}

static void
attempt_done(struct sched *s, size_t i)
{
	struct sched_issue *is = &s->v[i];
	cJSON *f;

	tempfail_seen(s, false);
	is->tempfails = 0;
	is->attempts = is->attempt;	/* the successful attempt counts too */
	store_set_attempts(s->store, is->id, is->attempts);
	f = fields_str("outcome", "merged");
	cJSON_AddNumberToObject(f, "agent_ms", (double)is->attempt_ms);
	store_set_final_commit(s->store, is->id, is->final);
	sched_fire(s, i, IN_LANDED, STATE_DONE, NULL, f);
	release_dependents(s, i);
}

/* ---- worker reports ---- */

static int
on_phase(struct sched *s, size_t i, const struct proto_msg *m)
{
	struct sched_issue *is = &s->v[i];
	cJSON *f = fields_str("phase", m->phase);

	if (!m->end) {
		cJSON_AddNumberToObject(f, "pgid", (double)m->pgid);
		store_set_phase(s->store, is->id, m->phase);
		txn_event(s, i, "phase_start", f);
		return 0;
	}
	cJSON_AddNumberToObject(f, "exit", m->exit);
	cJSON_AddNumberToObject(f, "ms", (double)m->ms);
	cJSON_AddNumberToObject(f, "maxrss_kb", (double)m->maxrss_kb);
	cJSON_AddStringToObject(f, "head", m->sha);
	if (m->job > 0)
		cJSON_AddNumberToObject(f, "job", (double)m->job);
	cJSON_AddNumberToObject(f, "cost_usd", m->cost_usd);
	cJSON_AddNumberToObject(f, "tokens_in", (double)m->tokens_in);
	cJSON_AddNumberToObject(f, "tokens_out", (double)m->tokens_out);
	store_marker_add(s->store, is->attempt_id, m->phase, m->exit, m->sha, m->ms);
	store_add_agent_time(s->store, is->id, is->attempt_id, m->ms);
	store_note_rss(s->store, is->id, m->maxrss_kb);
	note_repo_peak(&s->repos[is->repo], m->maxrss_kb);
	is->attempt_ms += m->ms;
	is->agent_ms += m->ms;
	txn_event(s, i, "phase_end", f);
	return 0;
}

static int
on_slot(struct sched *s, size_t i)
{
	if (!sched_fire(s, i, IN_SLOT, STATE_REVIEW, NULL, NULL))
		return -1;
	if (!s->cfg->hold_repo_during_review) {
		release_slot(s, i);
		txn_event(s, i, "slot_released", NULL);
	}
	return 0;
}

static int
on_merge(struct sched *s, size_t i, const struct proto_msg *m)
{
	struct sched_issue *is = &s->v[i];

	switch (m->merge) {
	case MERGE_WAIT:
		if (is->state != STATE_MERGING &&
		    !sched_fire(s, i, IN_MERGE, STATE_MERGING, NULL, NULL))
			return -1;
		txn_event(s, i, "merge_wait", NULL);
		return 0;
	case MERGE_LOCKED:
		if (is->state != STATE_MERGING)
			return -1;	/* the lock without asking for the queue */
		txn_event(s, i, "merge_locked", NULL);
		return 0;
	case MERGE_MERGED:
		if (is->state != STATE_MERGING)
			return -1;
		is->merged = true;
		set_str(&is->final, m->sha);
		store_set_final_commit(s->store, is->id, m->sha);
		txn_event(s, i, "merged", fields_str("sha", m->sha));
		return 0;
	}
	return -1;
}

/*
 * A merge conflict the agent resolved: the files, and which round of the
 * attempt.  It comes from the merge queue, or (land = pr) before a push:
 * any state of a worker in flight.
 */
static int
on_resolved(struct sched *s, size_t i, const struct proto_msg *m)
{
	cJSON *f = cJSON_CreateObject(), *files = cJSON_AddArrayToObject(f, "files");
	char *copy = xstrdup(m->reason), *save = NULL;

	for (char *p = strtok_r(copy, "\n", &save); p; p = strtok_r(NULL, "\n", &save))
		cJSON_AddItemToArray(files, cJSON_CreateString(p));
	free(copy);
	cJSON_AddNumberToObject(f, "round", m->round);
	txn_event(s, i, "conflict_resolved", f);
	return 0;
}

/* What a worker found done to the shared repository, and undid or took in (section 19). */
static void
on_guard(struct sched *s, size_t i, const struct proto_msg *m)
{
	const char *repo = s->repos[s->v[i].repo].conf->name;
	cJSON *f = cJSON_CreateObject();

	cJSON_AddStringToObject(f, "repo", repo);
	if (m->guard == GUARD_CONFIG_RESTORED) {
		cJSON_AddStringToObject(f, "keys", m->reason);
		txn_event(s, i, "agent_config_restored", f);
		return;
	}
	cJSON_AddStringToObject(f, "sha", m->sha);
	if (m->guard == GUARD_BRANCH_RESTORED)
		cJSON_AddStringToObject(f, "foreign", m->reason);
	txn_event(s, i, m->guard == GUARD_BRANCH_RESTORED ? "agent_branch_restored" :
	    "agent_branch_moved", f);
}

static int
on_done(struct sched *s, size_t i, const struct proto_msg *m)
{
	const char *outcome = proto_outcome_name(m->outcome);
	char *over = budget_issue_passed(s, &s->v[i]);
	bool landed = m->outcome == OUTCOME_MERGED || m->outcome == OUTCOME_PUSHED;
	bool passed = over != NULL;

	free(over);
	/* Work that landed stays landed; anything else past the budget is dead. */
	if (m->outcome == OUTCOME_OVER_BUDGET || (passed && !landed)) {
		attempt_over_budget(s, i);
		return 0;
	}
	if (m->outcome == OUTCOME_MERGED) {
		if (!s->v[i].merged)
			return -1;	/* "merged" without the merge that proves it */
		end_flight(s, i, "merged", NULL);
		attempt_done(s, i);
	} else if (m->outcome == OUTCOME_PUSHED) {
		if (s->repos[s->v[i].repo].conf->land != LAND_PR)
			return -1;	/* a pull request the repo does not land by */
		pr_pushed(s, i, m->sha);
	} else
		attempt_failed(s, i, outcome, m->reason, m->outcome != OUTCOME_TEMPFAIL);
	return 0;
}

/* Is pid the worker of the issue's attempt in flight? */
static bool
current_worker(const struct sched_issue *is, pid_t pid)
{
	return state_in_flight(is->state) && is->pid == pid;
}

int
sched_on_message(struct sched *s, size_t i, pid_t pid, const struct proto_msg *m)
{
	struct sched_issue *is = &s->v[i];
	int rc = 0;

	if (!current_worker(is, pid))
		return -1;
	switch (m->type) {
	case PROTO_HELLO:
		rc = strcmp(m->issue, is->key) == 0 && m->attempt == is->attempt &&
		    strcmp(m->trace, is->trace) == 0 ? 0 : -1;
		break;
	case PROTO_PHASE:
		rc = on_phase(s, i, m);
		break;
	case PROTO_PREPARED:
		set_str(&is->base, m->sha);
		is->resume = RESUME_NONE;	/* taken up: a later crash decides anew */
		store_attempt_set_base(s->store, is->attempt_id, m->sha);
		break;
	case PROTO_SLOT:
		rc = on_slot(s, i);
		break;
	case PROTO_MERGE:
		rc = on_merge(s, i, m);
		break;
	case PROTO_DONE:
		rc = on_done(s, i, m);
		break;
	case PROTO_RESOLVED:
		rc = on_resolved(s, i, m);
		break;
	case PROTO_GUARD:
		on_guard(s, i, m);
		break;
	case PROTO_USAGE:
		rc = budget_on_usage(s, i, m);
		break;
	case PROTO_RECOVERED:
		rc = -1;	/* a recovery child's answer, never a worker's */
		break;
	}
	return rc;
}

/* What recovery needs to know of the issue's attempt; marker is its storage. */
void
recovery_input(struct sched *s, size_t i, struct recover_input *in, struct store_marker *marker)
{
	struct sched_issue *is = &s->v[i];
	bool has_marker = is->attempt_id > 0 && store_last_marker(s->store, is->attempt_id, marker);

	*in = (struct recover_input){
		.cfg = s->cfg, .repo = s->repos[is->repo].conf, .number = is->number,
		.base = is->base, .final = is->final,
		.marker = has_marker ? marker : NULL,
	};
}

/* Ask git here, in the loop: only when no child could be started to ask it. */
static void
recover_here(struct sched *s, size_t i, struct recover_decision *d)
{
	struct recover_input in;
	struct store_marker marker;

	recovery_input(s, i, &in, &marker);
	recover_evaluate(&in, d);
	recover_carry_out(&in, d);
}

/* Act on a recovery decision (git has done its part); counted: a worker crash
 * uses up the attempt. */
void
apply_recovery(struct sched *s, size_t i, const struct recover_decision *d, bool counted)
{
	struct sched_issue *is = &s->v[i];
	cJSON *f = fields_str("action", recover_action_name(d->action));

	if (d->action == RECOVER_RESUME)
		cJSON_AddStringToObject(f, "phase", resume_point_name(d->resume));
	txn_event(s, i, "recovered", f);
	if (d->action == RECOVER_DONE) {
		set_str(&is->final, d->landed);
		attempt_done(s, i);
		return;
	}
	if (d->action == RECOVER_RESET)
		waste_attempt(s, i);
	if (counted)
		store_set_attempts(s->store, is->id, ++is->attempts);
	if (counted && attempts_spent(is) >= s->cfg->max_attempts) {
		const char *why = "worker crashed and its attempts are used up";
		sched_fire(s, i, IN_GAVE_UP, STATE_DEAD, why, fields_str("reason", why));
		block_dependents(s, i);
		return;
	}
	is->resume = d->action == RECOVER_RESUME ? d->resume : RESUME_NONE;
	/* On start nothing is in the source yet: queued, and the first sync decides. */
	if (is->pending == 0 && is->in_source)
		sched_fire(s, i, IN_REQUEUE, STATE_READY, NULL, NULL);
	else
		sched_fire(s, i, IN_REQUEUE, STATE_QUEUED, NULL, NULL);
}

/* The flight of a crashed worker ends with recovery's decision. */
static void
settle_crash(struct sched *s, size_t i, const struct recover_decision *d)
{
	s->v[i].evaluating = false;
	release_flight(s, i);
	apply_recovery(s, i, d, true);
}

static char *
describe_exit(int status)
{
	if (WIFSIGNALED(status))
		return xasprintf("worker crashed: killed by signal %d", WTERMSIG(status));
	return xasprintf("worker crashed: exit status %d without a result", WEXITSTATUS(status));
}

/*
 * A worker died without its result.  A child asks git what became of the
 * attempt (the loop never waits on git); meanwhile the issue keeps its
 * slots, and its pid is the child's.
 */
static void
on_crash(struct sched *s, size_t i, pid_t pid, int status)
{
	struct sched_issue *is = &s->v[i];
	struct recover_decision d;
	struct recover_input in;
	struct store_marker marker;
	cJSON *f = cJSON_CreateObject();
	char *why = describe_exit(status);
	pid_t child;

	cJSON_AddNumberToObject(f, "pid", pid);
	if (WIFSIGNALED(status))
		cJSON_AddNumberToObject(f, "signal", WTERMSIG(status));
	else
		cJSON_AddNumberToObject(f, "status", WEXITSTATUS(status));
	txn_event(s, i, "worker_crashed", f);
	store_attempt_end(s->store, is->attempt_id, "crashed", why);
	free(why);
	recovery_input(s, i, &in, &marker);
	child = s->evaluator ? s->evaluator(&in, i, s->evaluator_arg) : -1;
	if (child > 0) {
		is->pid = child;
		is->evaluating = true;
		return;
	}
	recover_here(s, i, &d);
	settle_crash(s, i, &d);
}

void
sched_on_worker_exit(struct sched *s, size_t i, pid_t pid, int status, bool stopping)
{
	struct sched_issue *is = &s->v[i];
	struct recover_decision d;

	if (!current_worker(is, pid))
		return;		/* it had reported its result */
	if (stopping) {
		/* Asked to stop: left in flight in the store, as after a kill -9, so
		 * that the next start's recovery resumes it at the phase it was in,
		 * in its worktree.  Only this run's slots are let go. */
		is->evaluating = false;
		release_flight(s, i);
		is->pid = 0;
		log_info("%s: stopped in flight: the next start resumes it", is->key);
	} else if (is->evaluating) {
		/* The recovery child died without an answer: ask git here. */
		recover_here(s, i, &d);
		settle_crash(s, i, &d);
	} else
		on_crash(s, i, pid, status);
}

int
sched_on_recovered(struct sched *s, size_t i, pid_t pid, const struct recover_decision *d)
{
	struct sched_issue *is = &s->v[i];

	if (!current_worker(is, pid) || !is->evaluating)
		return -1;
	settle_crash(s, i, d);
	return 0;
}

void
sched_on_worker_failed(struct sched *s, size_t i, pid_t pid, const char *why)
{
	if (!current_worker(&s->v[i], pid))
		return;
	if (s->v[i].evaluating) {
		struct recover_decision d;

		recover_here(s, i, &d);
		settle_crash(s, i, &d);
	} else
		attempt_failed(s, i, "failed", why, true);
}
