#include "supervisor/flight.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/admission.h"
#include "supervisor/attempts.h"
#include "supervisor/awaiting.h"
#include "supervisor/backlog.h"
#include "supervisor/records.h"
#include "supervisor/runq.h"

static const struct repo_conf *
repo_of(const struct sched *s, size_t i)
{
	return records_repo(sched_records(s), i);
}

/* ---- the end of an attempt ---- */

/* Attempts that failed: the numbered ones less those that ended pushed. */
static int
attempts_spent(const struct record *is)
{
	return is->attempts - (is->pr ? is->pr->pushes : 0);
}

/* The attempt's agent time did not land: it is wasted (DESIGN.md section 5). */
static void
waste_attempt(struct sched *s, size_t i)
{
	struct record *is = sched_record(s, i);

	is->wasted_ms += attempt_waste(sched_store(s), is->id, &is->at);
}

/* The "failed" event of an attempt that ended, and its row; cause: with a
 * tempfail.  Its agent time is wasted, unless the next try goes on from it. */
static void
attempt_closed(struct sched *s, size_t i, const char *outcome, const char *cause,
    const char *reason)
{
	struct record *is = sched_record(s, i);
	cJSON *f = sched_fields("reason", reason);

	cJSON_AddStringToObject(f, "outcome", outcome);
	if (cause)
		cJSON_AddStringToObject(f, "cause", cause);
	if (is->at.resume != RESUME_NONE)
		cJSON_AddStringToObject(f, "resume", resume_point_name(is->at.resume));
	cJSON_AddNumberToObject(f, "agent_ms", (double)is->at.ms);
	attempt_end(sched_store(s), &is->at, outcome, reason);
	sched_event(s, i, "failed", f);
	if (is->at.resume == RESUME_NONE)
		waste_attempt(s, i);
}

/*
 * A tempfail's wait is whose cause says (proto.h): an exit of 75 is the
 * agent's, for the usage lever; a full disk holds every admission; the
 * remote, the cluster and the issue's lock back this issue off alone.
 * Returns the backoff.
 */
static int64_t
tempfail_waits(struct sched *s, size_t i, enum proto_cause cause, const char *reason)
{
	const struct config *cfg = sched_config(s);
	struct record *is = sched_record(s, i);

	if (cause == CAUSE_AGENT) {
		admission_attempt_ended(sched_admission(s), true);
		is->at.tempfails++;
		is->at.waits = 0;
		return attempt_tempfail_backoff(cfg, repo_of(s, i)->name, is->number, is->key,
		    &is->at);
	}
	if (cause == CAUSE_DISK)
		admission_disk_full(sched_admission(s), true, reason);
	else
		is->at.waits++;
	return attempt_wait_backoff(cfg, &is->at);
}

/* max_tempfails in a row, of the agent's exits of 75 or of the other waits
 * (a full disk aside; the reason names the last one's cause): why it gives
 * up, or NULL. */
static char *
tempfail_limit(const struct config *cfg, const struct record *is, enum proto_cause cause)
{
	static const char *const waits[CAUSE_COUNT] = {
		[CAUSE_CLUSTER] = "tries the cluster ended", [CAUSE_REMOTE] = "tries the push "
		"remote did not take", [CAUSE_LOCK] = "tries another worker held the issue's lock",
		[CAUSE_START] = "tries waved could not start a worker",
	};

	if (is->at.tempfails >= cfg->max_tempfails)
		return xasprintf("tempfail limit: %d exits of 75", is->at.tempfails);
	if (cause != CAUSE_AGENT && cause != CAUSE_DISK && is->at.waits >= cfg->max_tempfails)
		return xasprintf("tempfail limit: %d %s%s", is->at.waits, waits[cause],
		    is->at.resume == RESUME_MERGE ? " (the work stays in its worktree: "
		    "wavectl retry goes on at the merge)" : "");
	return NULL;
}

/* A failed attempt: retry after a backoff, or give up once attempts are spent.
 * resume: where the worker said the next try may go on (RESUME_NONE: afresh). */
static void
attempt_failed(struct sched *s, size_t i, enum proto_outcome outcome, enum proto_cause cause,
    enum resume_point resume, const char *reason)
{
	const struct config *cfg = sched_config(s);
	struct record *is = sched_record(s, i);
	bool tempfail = outcome == OUTCOME_TEMPFAIL, counts = !tempfail;
	int64_t delay;
	char *why;
	cJSON *r;

	is->at.resume = tempfail ? resume : RESUME_NONE;
	attempt_closed(s, i, proto_outcome_name(outcome), tempfail ? proto_cause_name(cause) : NULL,
	    reason);
	if (tempfail)
		delay = tempfail_waits(s, i, cause, reason);
	else {
		admission_attempt_ended(sched_admission(s), false);
		is->attempts++;
		is->at.tempfails = is->at.waits = 0;
		delay = attempt_backoff(cfg, is->attempts);
	}
	if (tempfail && (why = tempfail_limit(cfg, is, cause)) != NULL) {
		sched_fire(s, i, IN_GAVE_UP, why, sched_fields("reason", why));
		free(why);
		return;
	}
	if (counts && attempts_spent(is) >= cfg->max_attempts) {
		sched_fire(s, i, IN_GAVE_UP, reason, sched_fields("reason", reason));
		return;
	}
	is->retry_at = now_ms() + delay;
	r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "backoff_ms", (double)delay);
	cJSON_AddBoolToObject(r, "counted", counts);
	sched_fire(s, i, IN_FAILED, reason, r);
	/* Its next attempt is the repo's next admission, made once nothing else of
	 * the repo is in flight: it starts from a tip that holds them all, and no
	 * two issues can keep knocking each other out (DESIGN.md section 6). */
	if (outcome == OUTCOME_CONFLICT)
		runq_claim(sched_runq(s), i);
}

/*
 * The issue passed its budget (DESIGN.md section 20): whatever the attempt's
 * own end, it is dead, with no retry: another attempt would spend more.
 * wavectl retry gives it a fresh budget.
 */
static void
attempt_over_budget(struct sched *s, size_t i)
{
	struct admission *adm = sched_admission(s);
	struct record *is = sched_record(s, i);
	char *why = admission_issue_over(adm, is->budget_usd, is->budget_tokens, NULL);

	if (why == NULL)	/* a reload raised the limit after the stop was asked */
		why = xstrdup("budget: stopped over its budget");
	attempt_closed(s, i, "over_budget", NULL, why);
	admission_attempt_ended(adm, false);
	is->at.tempfails = is->at.waits = 0;
	is->attempts++;
	sched_fire(s, i, IN_GAVE_UP, why, sched_fields("reason", why));
	free(why);
}

/* The issue's work is on the agent branch (final says which commit). */
static void
attempt_landed(struct sched *s, size_t i)
{
	struct record *is = sched_record(s, i);
	cJSON *f = sched_fields("outcome", "merged");

	admission_attempt_ended(sched_admission(s), false);
	is->at.tempfails = is->at.waits = 0;
	is->attempts = is->at.number;	/* the successful attempt counts too */
	cJSON_AddNumberToObject(f, "agent_ms", (double)is->at.ms);
	sched_fire(s, i, IN_LANDED, NULL, f);
}

/* land = pr: the worker pushed the issue's branch; it awaits its merge. */
static void
attempt_pushed(struct sched *s, size_t i, const char *sha)
{
	struct record *is = sched_record(s, i);
	cJSON *f = sched_fields("sha", sha);

	attempt_end(sched_store(s), &is->at, "pushed", NULL);
	admission_attempt_ended(sched_admission(s), false);
	is->attempts = is->at.number;	/* numbered; it is not a failure (attempts_spent) */
	is->at.ms = 0;		/* on its pull request now: not wasted by a later failure */
	awaiting_pushed(s, i, sha);
	cJSON_AddNumberToObject(f, "round", is->pr->round);
	cJSON_AddNumberToObject(f, "agent_ms", (double)is->agent_ms);
	sched_fire(s, i, IN_PUSHED, NULL, f);
}

/* ---- worker reports: message -> input ---- */

static int
on_phase(struct sched *s, size_t i, const struct proto_msg *m)
{
	struct record *is = sched_record(s, i);
	cJSON *f = sched_fields("phase", m->phase);

	if (!m->end) {
		cJSON_AddNumberToObject(f, "pgid", (double)m->pgid);
		store_set_phase(sched_store(s), is->id, m->phase);
		sched_event(s, i, "phase_start", f);
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
	attempt_phase_end(sched_store(s), is->id, &is->at, m);
	runq_note_peak(sched_runq(s), is->repo, m->maxrss_kb);
	is->agent_ms += m->ms;
	sched_event(s, i, "phase_end", f);
	return 0;
}

static int
on_merge(struct sched *s, size_t i, const struct proto_msg *m)
{
	struct record *is = sched_record(s, i);

	switch (m->merge) {
	case MERGE_WAIT:
		if (sched_issue_state(s, i) != STATE_MERGING && !sched_fire(s, i, IN_MERGE, NULL, NULL))
			return -1;
		sched_event(s, i, "merge_wait", NULL);
		return 0;
	case MERGE_LOCKED:
		if (sched_issue_state(s, i) != STATE_MERGING)
			return -1;	/* the lock without asking for the queue */
		sched_event(s, i, "merge_locked", NULL);
		return 0;
	case MERGE_MERGED:
		if (sched_issue_state(s, i) != STATE_MERGING)
			return -1;
		is->merged = true;
		records_set_str(&is->final, m->sha);
		records_save(sched_records(s), i);
		sched_event(s, i, "merged", sched_fields("sha", m->sha));
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
	sched_event(s, i, "conflict_resolved", f);
	return 0;
}

/* What a worker found done to the shared repository, and undid or took in (section 19). */
static void
on_guard(struct sched *s, size_t i, const struct proto_msg *m)
{
	const char *repo = repo_of(s, i)->name;
	cJSON *f = cJSON_CreateObject();

	cJSON_AddStringToObject(f, "repo", repo);
	if (m->guard == GUARD_CONFIG_RESTORED) {
		cJSON_AddStringToObject(f, "keys", m->reason);
		sched_event(s, i, "agent_config_restored", f);
		return;
	}
	cJSON_AddStringToObject(f, "sha", m->sha);
	if (m->guard == GUARD_BRANCH_RESTORED)
		cJSON_AddStringToObject(f, "foreign", m->reason);
	sched_event(s, i, m->guard == GUARD_BRANCH_RESTORED ? "agent_branch_restored" :
	    "agent_branch_moved", f);
}

/* A "usage" report: recorded on the attempt, the issue and the day, and the
 * budgets looked at (DESIGN.md section 20). */
static int
on_usage(struct sched *s, size_t i, const struct proto_msg *m)
{
	const struct budget_conf *budget = &sched_config(s)->budget;
	struct admission *adm = sched_admission(s);
	struct record *is = sched_record(s, i);
	char *before = admission_issue_over(adm, is->budget_usd, is->budget_tokens, NULL);
	char *after;
	int64_t now = now_ms();
	bool dollars;

	store_spend(sched_store(s), is->id, is->at.id, now, m->cost_usd, m->tokens_in,
	    m->tokens_out);
	is->budget_usd += m->cost_usd;
	is->budget_tokens += m->tokens_in + m->tokens_out;
	after = admission_issue_over(adm, is->budget_usd, is->budget_tokens, &dollars);
	/* Crossed just now: once per crossing, however many reports follow. */
	if (before == NULL && after != NULL) {
		struct log_ctx ctx = records_log(sched_records(s), i);

		log_issue_warnx(&ctx, "%s: stopping the attempt", after);
		admission_exceeded_event(adm, i, "issue", !dollars,
		    dollars ? is->budget_usd : (double)is->budget_tokens,
		    dollars ? budget->per_issue : (double)budget->per_issue_tokens);
		if (is->pid > 0 && !is->evaluating)
			sched_over_budget(s, is->pid);
	}
	free(before);
	free(after);
	admission_budget_tick(adm, now, true);	/* the day, at once */
	return 0;
}

static int
on_done(struct sched *s, size_t i, const struct proto_msg *m)
{
	struct record *is = sched_record(s, i);
	char *over = admission_issue_over(sched_admission(s), is->budget_usd, is->budget_tokens, NULL);
	bool landed = m->outcome == OUTCOME_MERGED || m->outcome == OUTCOME_PUSHED;
	bool passed = over != NULL, noted;

	free(over);
	/* Work that landed stays landed; anything else past the budget is dead
	 * (a worktree kept for the merge stays for wavectl retry to go on in). */
	if (m->outcome == OUTCOME_OVER_BUDGET || (passed && !landed)) {
		is->at.resume = m->outcome == OUTCOME_TEMPFAIL ? m->resume : RESUME_NONE;
		attempt_over_budget(s, i);
		return 0;
	}
	if (m->outcome == OUTCOME_MERGED && !is->merged)
		return -1;	/* "merged" without the merge that proves it */
	if (m->outcome == OUTCOME_PUSHED && repo_of(s, i)->land != LAND_PR)
		return -1;	/* a pull request the repo does not land by */
	/* What it took counts toward its repo's and pool's expected time, unless
	 * it ended on a limit (an exit of 75) rather than on its work. */
	noted = m->outcome != OUTCOME_TEMPFAIL && is->at.ms > 0;
	if (noted)
		attempt_note_duration(sched_store(s), repo_of(s, i)->name,
		    admission_pool_name(sched_admission(s), runq_pool(sched_runq(s), i)), &is->at);
	if (m->outcome == OUTCOME_MERGED) {
		attempt_end(sched_store(s), &is->at, "merged", NULL);
		attempt_landed(s, i);
	} else if (m->outcome == OUTCOME_PUSHED)
		attempt_pushed(s, i, m->sha);
	else
		attempt_failed(s, i, m->outcome, m->cause, m->resume, m->reason);
	/* Expected times moved: the waiting issues' priorities with them. */
	if (noted)
		backlog_replan(s);
	return 0;
}

/* Is pid the worker of the issue's attempt in flight? */
static bool
current_worker(const struct sched *s, size_t i, pid_t pid)
{
	return state_in_flight(sched_issue_state(s, i)) && sched_record(s, i)->pid == pid;
}

int
flight_on_message(struct sched *s, size_t i, pid_t pid, const struct proto_msg *m)
{
	struct record *is = sched_record(s, i);

	if (!current_worker(s, i, pid))
		return -1;
	switch (m->type) {
	case PROTO_HELLO:
		return strcmp(m->issue, is->key) == 0 && m->attempt == is->at.number &&
		    strcmp(m->trace, is->at.trace) == 0 ? 0 : -1;
	case PROTO_PHASE:
		return on_phase(s, i, m);
	case PROTO_PREPARED:
		attempt_prepared(sched_store(s), &is->at, m->sha);
		return 0;
	case PROTO_SLOT:
		return sched_fire(s, i, IN_SLOT, NULL, NULL) ? 0 : -1;
	case PROTO_MERGE:
		return on_merge(s, i, m);
	case PROTO_DONE:
		return on_done(s, i, m);
	case PROTO_RESOLVED:
		return on_resolved(s, i, m);
	case PROTO_GUARD:
		on_guard(s, i, m);
		return 0;
	case PROTO_USAGE:
		return on_usage(s, i, m);
	case PROTO_RECOVERED:
		return -1;	/* a recovery child's answer, never a worker's */
	}
	return -1;
}

/* ---- crashes and recovery ---- */

/* What recovery needs to know of the issue's attempt; marker is its storage. */
static void
recovery_input(struct sched *s, size_t i, struct recover_input *in, struct store_marker *marker)
{
	const struct record *is = sched_record(s, i);
	bool has_marker = attempt_last_marker(sched_store(s), &is->at, marker);

	*in = (struct recover_input){
		.cfg = sched_config(s), .repo = repo_of(s, i), .number = is->number,
		.base = is->at.base, .final = is->final,
		.marker = has_marker ? marker : NULL,
	};
}

/* Ask git here, in the loop: only when no child could be started to ask it
 * (or before the loop starts). */
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
 * uses up the attempt, unless its work had landed and only the push is left. */
static void
apply_recovery(struct sched *s, size_t i, const struct recover_decision *d, bool counted)
{
	struct record *is = sched_record(s, i);
	cJSON *f = sched_fields("action", recover_action_name(d->action));

	is->evaluating = false;
	if (d->action == RECOVER_RESUME)
		cJSON_AddStringToObject(f, "phase", resume_point_name(d->resume));
	if (d->action == RECOVER_RESUME && d->landed[0]) {
		cJSON_AddStringToObject(f, "landed", d->landed);
		counted = false;
	}
	sched_event(s, i, "recovered", f);
	if (d->action == RECOVER_DONE) {
		records_set_str(&is->final, d->landed);
		attempt_landed(s, i);
		return;
	}
	if (d->action == RECOVER_RESET)
		waste_attempt(s, i);
	if (counted)
		is->attempts++;
	if (counted && attempts_spent(is) >= sched_config(s)->max_attempts) {
		const char *why = "worker crashed and its attempts are used up";

		sched_fire(s, i, IN_GAVE_UP, why, sched_fields("reason", why));
		return;
	}
	is->at.resume = d->action == RECOVER_RESUME ? d->resume : RESUME_NONE;
	/* On start nothing is in the source yet: queued, and the first sync decides. */
	sched_fire(s, i, IN_REQUEUE, NULL, NULL);
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
	struct record *is = sched_record(s, i);
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
	sched_event(s, i, "worker_crashed", f);
	attempt_end(sched_store(s), &is->at, "crashed", why);
	free(why);
	recovery_input(s, i, &in, &marker);
	child = sched_evaluate(s, &in, i);
	if (child > 0) {
		is->pid = child;
		is->evaluating = true;
		return;
	}
	recover_here(s, i, &d);
	apply_recovery(s, i, &d, true);
}

void
flight_on_exit(struct sched *s, size_t i, pid_t pid, int status, bool stopping)
{
	struct record *is = sched_record(s, i);
	struct recover_decision d;

	if (!current_worker(s, i, pid))
		return;		/* it had reported its result */
	if (stopping) {
		/* Asked to stop: left in flight in the store, as after a kill -9, so
		 * that the next start's recovery resumes it at the phase it was in,
		 * in its worktree.  Only this run's slots are let go: no move. */
		is->evaluating = false;
		sched_let_go(s, i);
		is->pid = 0;
		log_info("%s: stopped in flight: the next start resumes it", is->key);
	} else if (is->evaluating) {
		/* The recovery child died without an answer: ask git here. */
		recover_here(s, i, &d);
		apply_recovery(s, i, &d, true);
	} else
		on_crash(s, i, pid, status);
}

int
flight_on_recovered(struct sched *s, size_t i, pid_t pid, const struct recover_decision *d)
{
	struct record *is = sched_record(s, i);

	if (!current_worker(s, i, pid) || !is->evaluating)
		return -1;
	apply_recovery(s, i, d, true);
	return 0;
}

void
flight_on_failed(struct sched *s, size_t i, pid_t pid, const char *why)
{
	struct recover_decision d;

	if (!current_worker(s, i, pid))
		return;
	if (sched_record(s, i)->evaluating) {
		recover_here(s, i, &d);
		apply_recovery(s, i, &d, true);
	} else
		attempt_failed(s, i, OUTCOME_FAILED, CAUSE_AGENT, RESUME_NONE, why);
}

/* Before the loop starts: git is asked here, each in-flight issue in turn. */
void
flight_recover(struct sched *s)
{
	struct recover_decision d;

	for (size_t i = 0; i < records_count(sched_records(s)); i++) {
		const struct record *is = sched_record(s, i);
		enum issue_state st = sched_issue_state(s, i);

		if (state_in_flight(st) && is->repo != RECORD_NO_REPO) {
			/* Its worker belonged to the dead supervisor: let it end first. */
			recover_reap_orphan(sched_config(s), repo_of(s, i), is->number, is->pid);
			recover_here(s, i, &d);
			apply_recovery(s, i, &d, false);
		} else if (state_in_flight(st))
			sched_fire(s, i, IN_ORPHANED, NULL, sched_fields("action", "reset"));
	}
}

