#include "worker/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "common/log.h"
#include "common/paths.h"
#include "common/proto.h"
#include "common/git.h"
#include "common/git_refs.h"
#include "common/spares.h"
#include "worker/mergeq.h"
#include "worker/phase.h"
#include "worker/contain.h"
#include "worker/guard.h"
#include "worker/signals.h"
#include "worker/worker_internal.h"

#define FEEDBACK_TAIL_BYTES 3000
#define ISSUE_LOCK_WAIT_MS 30000

extern char **environ;


void
worker_send(struct worker *w, const struct proto_msg *m)
{
	if (proto_send(w->job->pipe_fd, m) == -1)
		_exit(1);	/* the supervisor is gone: nobody to report to */
}

static void
set_title(struct worker *w, const char *what)
{
	setproctitle("worker %s %s (attempt %d)", w->job->issue, what, w->job->attempt);
}

/* A landed issue's worktree stays warm for the next of its repo, if there is room. */
static void
park_or_drop(struct worker *w)
{
	struct strbuf log = { 0 };

	if (spares_park(w->cfg, w->repo, w->worktree, w->tidy, &log))
		dprintf(w->log_fd, "== waved: worktree parked as a spare\n");
	else {
		if (log.s)
			dprintf(w->log_fd, "== waved: parking the worktree failed: %s", log.s);
		git_worktree_drop(w->repo->path, w->worktree, NULL);
	}
	strbuf_free(&log);
}

/* Report the outcome, tidy up and end the process. */
static void __attribute__((noreturn))
finish(struct worker *w, enum proto_outcome outcome, enum proto_cause cause, const char *reason)
{
	struct proto_msg m = { .type = PROTO_DONE, .outcome = outcome, .cause = cause };
	bool success = outcome == OUTCOME_MERGED || outcome == OUTCOME_PUSHED;
	long long avail;

	/* Failing on a nearly full disk, the attempt is the disk's: back in line,
	 * no attempt used, and the supervisor admits nothing until there is room. */
	if ((outcome == OUTCOME_FAILED || outcome == OUTCOME_NO_CHANGE) &&
	    disk_low(w->cfg->state_dir, &avail)) {
		m.outcome = outcome = OUTCOME_TEMPFAIL;
		m.cause = CAUSE_DISK;
		snprintf(m.reason, sizeof(m.reason), "%s (%lld KiB free): %s", DISK_FULL_REASON,
		    avail / 1024, reason ? reason : "");
	} else
		strlcpy(m.reason, reason ? reason : "", sizeof(m.reason));
	if (outcome == OUTCOME_PUSHED)
		strlcpy(m.sha, w->head.hex, sizeof(m.sha));
	dprintf(w->log_fd, "== waved: %s%s%s\n", proto_outcome_name(outcome),
	    reason && *reason ? ": " : "", reason ? reason : "");
	/* The cgroup's peak holds every process of the attempt at once, page
	 * cache too: told in the log, not taken for the phases' peaks (wait4). */
	long peak_kb = contain_peak_kb();

	if (peak_kb > 0)
		dprintf(w->log_fd, "== waved: the attempt's peak memory (memory.peak): %ld MiB\n",
		    peak_kb / 1024);
	/*
	 * Only the worker holding the issue's lock may touch its worktree.  The
	 * branch stays: until the supervisor has recorded the landing, it is the
	 * proof that recovery looks for; the supervisor deletes it after.  Work
	 * past its phases (or a try that was to go on at the merge) that a
	 * tempfail stopped says so: the next try goes on at the merge, the
	 * agent's work not done again, in the worktree kept (on a full disk
	 * dropped, and made again on the branch then).
	 */
	if (m.outcome == OUTCOME_TEMPFAIL && (w->passed || w->job->resume == RESUME_MERGE))
		m.resume = RESUME_MERGE;
	if (w->owns_issue && success)
		park_or_drop(w);
	else if (m.resume == RESUME_MERGE && m.cause != CAUSE_DISK)
		dprintf(w->log_fd, "== waved: the worktree stays: the next try goes on at the merge\n");
	else if (w->owns_issue && (!w->cfg->keep_failed_worktrees || m.outcome == OUTCOME_TEMPFAIL))
		git_worktree_drop(w->repo->path, w->worktree, NULL);	/* nothing to look at */
	worker_send(w, &m);
	_exit(0);
}

void
worker_finish(struct worker *w, enum proto_outcome outcome, const char *reason)
{
	finish(w, outcome, CAUSE_AGENT, reason);
}

void
worker_tempfail(struct worker *w, enum proto_cause cause, const char *reason)
{
	finish(w, OUTCOME_TEMPFAIL, cause, reason);
}

static void __attribute__((noreturn))
stopped(struct worker *w)
{
	dprintf(w->log_fd, "== waved: stopped on request\n");
	_exit(WORKER_EXIT_STOPPED);
}


/* The last bytes of a phase's output, for reasons and feedback. */
static char *
log_tail(struct worker *w, const struct log_span *span)
{
	off_t end = span->until, from = span->since;
	char *buf;
	ssize_t n;

	if (from > end)
		from = 0;	/* the middle was cut (log_max): the tail is what counts */
	if (end - from > FEEDBACK_TAIL_BYTES)
		from = end - FEEDBACK_TAIL_BYTES;
	buf = xmalloc((size_t)(end - from) + 1);
	n = pread(w->log_fd, buf, (size_t)(end - from), from);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

void
worker_write_feedback(struct worker *w, const char *reason, const char *tail)
{
	FILE *fp = fopen(w->feedback_file, "we");

	if (fp == NULL) {
		log_warn("write %s", w->feedback_file);
		return;
	}
	fprintf(fp, "# waved: attempt %d of %s\n\n%s\n\n## Output\n\n```\n%s\n```\n",
	    w->job->attempt, w->job->issue, reason, tail);
	/* A round of a pull request: what came back from it still stands. */
	if (w->pr_feedback)
		fprintf(fp, "\n%s", w->pr_feedback);
	fclose(fp);
	w->feedback = true;
}

/* What a pull request sent back (the supervisor's part of the feedback file), or NULL. */
static char *
pr_feedback_of(const char *path)
{
	char *text = read_file(path, NULL), *from = text ? strstr(text, PR_FEEDBACK_HEADER) : NULL;
	char *kept = from ? xstrdup(from) : NULL;

	free(text);
	return kept;
}

/* The phase environment: ours, without the token unless pass_token, plus WAVED_*. */
static char **
build_env(struct worker *w, const char *phase)
{
	const struct worker_job *j = w->job;
	size_t n = 0, cap = 0;
	char **env = NULL;
	char *mine[16];
	size_t nmine = 0;

	mine[nmine++] = xasprintf("WAVED_REPO=%s", w->repo->name);
	mine[nmine++] = xasprintf("WAVED_ISSUE=%s", j->issue);
	mine[nmine++] = xasprintf("WAVED_NUMBER=%ld", j->number);
	mine[nmine++] = xasprintf("WAVED_TITLE=%s", j->title);
	mine[nmine++] = xasprintf("WAVED_ISSUE_FILE=%s", w->issue_file);
	mine[nmine++] = xasprintf("WAVED_WORKTREE=%s", w->worktree);
	mine[nmine++] = xasprintf("WAVED_BRANCH=%s", w->branch);
	mine[nmine++] = xasprintf("WAVED_BASE=%s", w->cfg->agent_branch);
	mine[nmine++] = xasprintf("WAVED_PHASE=%s", phase);
	mine[nmine++] = xasprintf("WAVED_ATTEMPT=%d", j->attempt);
	mine[nmine++] = xasprintf("WAVED_TRACE=%s", j->trace);
	mine[nmine++] = xstrdup("GIT_TERMINAL_PROMPT=0");
	if (w->warm)
		mine[nmine++] = xstrdup("WAVED_WARM=1");
	if (w->feedback)
		mine[nmine++] = xasprintf("WAVED_FEEDBACK_FILE=%s", w->feedback_file);
	mine[nmine++] = xasprintf("WAVED_RETRY_AFTER_FILE=%s", w->retry_after_file);
	mine[nmine++] = xasprintf("WAVED_USAGE_FILE=%s", w->usage.path);
	for (char **e = environ; *e; e++) {
		if (strncmp(*e, "WAVED_", 6) == 0 || strncmp(*e, "GIT_TERMINAL_PROMPT=", 20) == 0)
			continue;
		if (!w->cfg->source.pass_token && strncmp(*e, "GITHUB_TOKEN=", 13) == 0)
			continue;
		grow_array((void **)&env, &cap, n + 2, sizeof(*env));
		env[n++] = *e;
	}
	grow_array((void **)&env, &cap, n + nmine + 1, sizeof(*env));
	memcpy(env + n, mine, nmine * sizeof(*mine));
	env[n + nmine] = NULL;
	return env;
}

static void
free_env(char **env)
{
	for (char **e = env; *e; e++)
		if (strncmp(*e, "WAVED_", 6) == 0 || strcmp(*e, "GIT_TERMINAL_PROMPT=0") == 0)
			free(*e);
	free(env);
}

struct phase_report {
	struct worker *w;
	const char *phase;
};

/* What the phase appended to $WAVED_USAGE_FILE since the last look, to the supervisor. */
static void
report_usage(struct worker *w, bool at_end)
{
	struct proto_msg m = { .type = PROTO_USAGE };
	struct usage_spent spent;

	if (!usage_file_read(&w->usage, at_end))
		return;
	spent = usage_file_take(&w->usage);
	m.cost_usd = spent.cost_usd;
	m.tokens_in = spent.tokens_in;
	m.tokens_out = spent.tokens_out;
	worker_send(w, &m);
}

static void
phase_tick(void *arg)
{
	report_usage(((struct phase_report *)arg)->w, false);
}

static void
report_phase_start(pid_t pgid, void *arg)
{
	struct phase_report *r = arg;
	struct proto_msg m = { .type = PROTO_PHASE, .pgid = pgid };

	strlcpy(m.phase, r->phase, sizeof(m.phase));
	worker_send(r->w, &m);
}

/* With the cluster runner, the job a phase (or the merge gate) runs as; else NULL. */
static struct slurm_job_spec *
job_for(struct worker *w, const char *phase, const char *cwd, int timeout_s)
{
	if (w->cfg->runner.type != RUNNER_SLURM)
		return NULL;
	w->slurm = (struct slurm_job_spec){
		.runner = &w->cfg->runner, .cwd = cwd, .timeout_s = timeout_s,
		.pool_args = w->job->pool ? w->job->pool->runner_args : NULL,
		.newer_than = w->last_job,
	};
	slurm_job_name(&w->slurm, w->job->issue, phase, w->job->trace);
	return &w->slurm;
}

/*
 * Run one phase and report its start and end; after implement and verify the
 * worker commits what the agent left uncommitted, so that the reported head
 * is the work.  Returns the outcome; span gets where its output is in the log.
 */
struct phase_outcome
worker_run_phase(struct worker *w, enum phase_id id, const char *command, struct log_span *span)
{
	const char *name = phase_name(id);
	struct phase_report report = { w, name };
	char **env = build_env(w, name);
	char **sandbox = sandbox_prefix(w);
	struct phase_spec spec = {
		.name = name, .command = command, .timeout_s = w->cfg->phases[id].timeout,
		.idle_timeout_s = w->cfg->phases[id].idle_timeout,
		.kill_grace_ms = (int64_t)w->cfg->kill_grace * 1000,
		.cwd = w->worktree, .envp = env, .log_fd = w->log_fd, .log_max = w->cfg->log_max,
		.prefix = sandbox,
		.signal_fd = w->signal_fd, .started = report_phase_start, .tick = phase_tick,
		.arg = &report,
		.slurm = job_for(w, name, w->worktree, w->cfg->phases[id].timeout),
	};
	struct proto_msg end = { .type = PROTO_PHASE, .end = true };
	struct phase_outcome out;
	char *why;

	set_title(w, name);
	unlink(w->retry_after_file);	/* what an earlier phase asked is no longer the question */
	usage_file_reset(&w->usage);
	dprintf(w->log_fd, "== waved: %s: %s\n", name, command);
	span->since = lseek(w->log_fd, 0, SEEK_END);
	guard_before(w);
	w->tidy = false;	/* whatever the phase leaves, until a commit takes it all */
	/* Sandboxed, the shared refs are read-only: the phase commits on a detached HEAD. */
	if (spec.prefix && id != PHASE_RESOLVE && git_head_write(w->worktree, NULL) != 0)
		git_run(w->worktree, NULL, (const char *[]){ "checkout", "-q", "--detach", NULL });
	phase_run(&spec, &out);
	sandbox_prefix_free(sandbox);
	span->until = lseek(w->log_fd, 0, SEEK_END);
	if (out.job > w->last_job)
		w->last_job = out.job;
	free_env(env);
	/* Its last lines, even from a phase that was stopped: they were spent. */
	report_usage(w, true);
	if (out.result == PHASE_STOPPED) {
		/* What the agent did up to the stop is undone before the resume. */
		free(guard_after(w, name));
		guard_refs(w);
		stopped(w);
	}
	if (out.result == PHASE_NOT_STARTED)
		worker_finish(w, OUTCOME_FAILED, "could not fork the phase process");
	dprintf(w->log_fd, "\n== waved: %s ended: %s %d after %ld ms\n", name,
	    out.result == PHASE_TIMED_OUT ? "timed out, status" : out.result == PHASE_STALLED ?
	    "stalled, status" : "exit", out.status, out.ms);
	bool commit = id == PHASE_IMPLEMENT || id == PHASE_VERIFY;

	why = guard_after(w, name);
	char *result = result_take(w, id, commit);
	if (why == NULL)
		why = result;
	else
		free(result);
	/* The repo's commit hooks (husky, lint-staged) run the agent's code too. */
	if (why == NULL && commit && w->hooks_dir)
		why = guard_after(w, "its commit hooks");
	guard_refs(w);
	strlcpy(end.phase, name, sizeof(end.phase));
	end.exit = out.status > 255 ? 255 : out.status;
	end.ms = out.ms;
	end.maxrss_kb = out.maxrss_kb;
	end.job = out.job;
	end.cost_usd = w->usage.phase.cost_usd;
	end.tokens_in = w->usage.phase.tokens_in;
	end.tokens_out = w->usage.phase.tokens_out;
	strlcpy(end.sha, (why ? w->base : w->head).hex, sizeof(end.sha));
	worker_send(w, &end);
	if (out.result == PHASE_OVER_BUDGET) {
		free(why);
		worker_finish(w, OUTCOME_OVER_BUDGET, "over budget: the supervisor stopped the attempt");
	}
	if (why) {
		dprintf(w->log_fd, "== waved: %s\n", why);
		worker_write_feedback(w, why, "");
		worker_finish(w, OUTCOME_FAILED, why);
	}
	return out;
}

/* A phase that did not pass ends the attempt, unless a round is left (then false). */
bool
worker_phase_passed(struct worker *w, enum phase_id id, const struct phase_outcome *out,
    const struct log_span *span, int *rounds_left)
{
	char *tail, *reason, line[512];

	if (out->result == PHASE_EXITED && out->status == 0)
		return true;
	tail = log_tail(w, span);
	last_line(tail, line, sizeof(line));
	if (out->result == PHASE_TIMED_OUT) {
		reason = xasprintf("timeout: %s ran past %d s", phase_name(id),
		    w->cfg->phases[id].timeout);
		worker_write_feedback(w, reason, tail);
		worker_finish(w, OUTCOME_TIMEOUT, reason);
	}
	if (out->result == PHASE_STALLED) {
		reason = xasprintf("stalled: no output for %d s", w->cfg->phases[id].idle_timeout);
		worker_write_feedback(w, reason, tail);
		worker_finish(w, OUTCOME_FAILED, reason);
	}
	if (out->status == PHASE_EXIT_TEMPFAIL) {
		reason = xasprintf("%s asked to be retried later (exit 75): %s", phase_name(id), line);
		worker_tempfail(w, CAUSE_AGENT, reason);
	}
	if (out->result == PHASE_LOST) {
		reason = xasprintf("%s: the cluster ended Slurm job %ld (%s); back in line",
		    phase_name(id), out->job, out->job_state);
		worker_tempfail(w, CAUSE_CLUSTER, reason);
	}
	reason = xasprintf("%s failed (exit %d): %s", phase_name(id), out->status, line);
	worker_write_feedback(w, reason, tail);
	free(tail);
	if (rounds_left && *rounds_left > 0) {
		(*rounds_left)--;
		dprintf(w->log_fd, "== waved: back to implement: %s\n", reason);
		free(reason);
		return false;
	}
	worker_finish(w, OUTCOME_FAILED, reason);
}

/* The issue's text, for its phases (rewritten each attempt: it may have changed). */
static void
write_issue_file(struct worker *w)
{
	char *dir = path_issue_dir(w->cfg, w->repo->name, w->job->number);
	FILE *fp;

	mkdir_p(dir, 0755);
	free(dir);
	if ((fp = fopen(w->issue_file, "we")) == NULL)
		worker_finish(w, OUTCOME_FAILED, "prepare: cannot write the issue file");
	fprintf(fp, "# %s\n\n%s\n", w->job->title, w->job->body);
	fclose(fp);
}

/* A fresh worktree on a branch from the agent branch's tip (land = pr: see publish.c). */
static void
prepare_fresh(struct worker *w)
{
	char *agent = xasprintf("refs/heads/%s", w->cfg->agent_branch);
	char *parent = xstrdup(w->worktree);
	struct strbuf err = { 0 };
	struct git_oid known;

	if (w->repo->land == LAND_PR)
		publish_base(w, &w->base);
	else if (git_ref_read(w->repo->path, agent, &w->base) == -1) {
		char *why = xasprintf("prepare: agent branch %s is missing in %s",
		    w->cfg->agent_branch, w->repo->path);
		worker_finish(w, OUTCOME_FAILED, why);
	} else if (!guard_tip_get(w->cfg, w->repo->name, &known))
		guard_tip_set(w->cfg, w->repo->name, &w->base);	/* the first waved sees */
	free(agent);
	*strrchr(parent, '/') = '\0';
	mkdir_p(parent, 0755);
	free(parent);
	if (access(w->worktree, F_OK) == 0) {	/* what a crashed attempt left */
		git_worktree_drop(w->repo->path, w->worktree, NULL);
		remove_tree(w->worktree);
	}
	if (spares_take(w->cfg, w->repo, w->worktree, w->branch, w->base.hex, &err)) {
		w->warm = true;
		dprintf(w->log_fd, "== waved: prepare: a warm worktree (a spare of %s)\n",
		    w->repo->name);
		strbuf_free(&err);
		return;
	}
	if (err.s)
		dprintf(w->log_fd, "== waved: prepare: a spare could not be used: %s", err.s);
	strbuf_free(&err);
	if (git_worktree_fresh(w->repo->path, w->worktree, w->branch, w->base.hex, &err) == -1) {
		char *why = xasprintf("prepare: git worktree add failed: %s", err.s ? err.s : "");
		worker_finish(w, OUTCOME_FAILED, why);
	}
	strbuf_free(&err);
}

/*
 * Resuming: the worktree is where the last marker said; drop what was not
 * committed.  A worktree gone since (removed by hand, a disk cleaned) is
 * made again on the issue's branch, which holds the work.
 */
static void
prepare_resume(struct worker *w)
{
	struct strbuf err = { 0 };

	if (!git_oid_set(&w->base, w->job->base))
		worker_finish(w, OUTCOME_FAILED, "prepare: the recorded base is no object id");
	if (git_rev_parse(w->worktree, "HEAD", &w->head) == -1) {
		git_worktree_drop(w->repo->path, w->worktree, NULL);
		remove_tree(w->worktree);
		if (git_run(w->repo->path, &err, (const char *[]){ "worktree", "add", "-q",
		    w->worktree, w->branch, NULL }) != 0) {
			char *why = xasprintf("prepare: the worktree to resume in is gone, and "
			    "cannot be made again on %s: %s", w->branch, err.s ? err.s : "");
			worker_finish(w, OUTCOME_FAILED, why);
		}
		dprintf(w->log_fd, "== waved: the worktree was gone: made again on %s\n", w->branch);
	}
	strbuf_free(&err);
	if (git_run(w->worktree, NULL, (const char *[]){ "reset", "-q", "--hard", NULL }) != 0 ||
	    git_run(w->worktree, NULL, (const char *[]){ "clean", "-q", "-fd", NULL }) != 0)
		worker_finish(w, OUTCOME_FAILED, "prepare: cannot clean the worktree to resume");
	if (git_rev_parse(w->worktree, "HEAD", &w->head) == -1)
		w->head = w->base;
	dprintf(w->log_fd, "== waved: resuming at %s\n", resume_point_name(w->job->resume));
}

static void
prepare(struct worker *w)
{
	struct proto_msg m = { .type = PROTO_PREPARED };

	set_title(w, "prepare");
	write_issue_file(w);
	if (w->job->resume == RESUME_NONE) {
		w->changed_since = time(NULL) - 2;	/* what prepare writes is the base's */
		prepare_fresh(w);
		w->head = w->base;
		w->head_checked = w->only_ours = true;
	} else
		prepare_resume(w);
	strlcpy(m.sha, w->base.hex, sizeof(m.sha));
	result_note_git_dir(w);
	worker_send(w, &m);
}

/* The repo's setup phase, if it has one (e.g. npm ci). */
static void
run_setup(struct worker *w)
{
	const char *setup = w->repo->setup ? w->repo->setup : w->cfg->phases[PHASE_SETUP].run;
	struct phase_outcome out;
	struct log_span span;

	if (setup) {
		out = worker_run_phase(w, PHASE_SETUP, setup, &span);
		worker_phase_passed(w, PHASE_SETUP, &out, &span, NULL);
	}
}

/*
 * Implement, verify and review, with fix and review rounds; a resumed
 * attempt skips what its markers say is done.  Returns when the work is
 * ready to merge.
 */
static void
run_pipeline(struct worker *w)
{
	int fix_left = w->cfg->fix_rounds, review_left = w->cfg->review_rounds;
	enum resume_point from = w->job->resume;
	bool slot_released = false;
	struct phase_outcome out;
	struct log_span span;

	if (from == RESUME_NONE)
		run_setup(w);
	for (;; from = RESUME_NONE) {
		if (from <= RESUME_IMPLEMENT) {
			out = worker_run_phase(w, PHASE_IMPLEMENT, w->cfg->phases[PHASE_IMPLEMENT].run, &span);
			worker_phase_passed(w, PHASE_IMPLEMENT, &out, &span, NULL);
		}
		if (from <= RESUME_VERIFY && w->cfg->phases[PHASE_VERIFY].run) {
			out = worker_run_phase(w, PHASE_VERIFY, w->cfg->phases[PHASE_VERIFY].run, &span);
			if (!worker_phase_passed(w, PHASE_VERIFY, &out, &span, &fix_left))
				continue;
		}
		/* A commit just made is new: never the base nor one of its ancestors. */
		if (!w->committed && !git_has_work(w->worktree, w->head.hex, w->base.hex))
			worker_finish(w, OUTCOME_NO_CHANGE, "no_change: no commit beyond the agent branch");
		if (!slot_released) {
			struct proto_msg m = { .type = PROTO_SLOT };
			worker_send(w, &m);	/* entering review: the repo may take its next issue */
			slot_released = true;
		}
		if (from == RESUME_MERGE || w->cfg->phases[PHASE_REVIEW].run == NULL)
			return;
		out = worker_run_phase(w, PHASE_REVIEW, w->cfg->phases[PHASE_REVIEW].run, &span);
		if (worker_phase_passed(w, PHASE_REVIEW, &out, &span, &review_left))
			return;
	}
}

/*
 * land = pr, a pull request that no longer merges: the round brings the base
 * branch in (the agent resolving what collides) and pushes; implement has
 * nothing to do.  Setup still runs, for verify.
 */
static void __attribute__((noreturn))
conflict_round(struct worker *w)
{
	run_setup(w);
	publish(w);
}

static void
report_merge(struct worker *w, enum proto_merge_stage stage, const char *sha)
{
	struct proto_msg m = { .type = PROTO_MERGE, .merge = stage };

	if (sha)
		strlcpy(m.sha, sha, sizeof(m.sha));
	worker_send(w, &m);
}

/*
 * A point of no return: wait until the supervisor has committed what led
 * here (the admission, every phase's marker, the merge request) and lets us
 * on.  The gate stays shut while its store cannot be written; if the
 * supervisor dies, it closes, and so do we.
 */
static void
await_gate(struct worker *w)
{
	for (;;) {
		char c;

		switch (signals_wait(w->signal_fd, w->job->gate_fd, -1)) {
		case HEARD_OVER_BUDGET:
			worker_finish(w, OUTCOME_OVER_BUDGET, "over budget: the supervisor stopped the attempt");
		case HEARD_STOP:
			stopped(w);
		case HEARD_READY: {
			ssize_t n = read(w->job->gate_fd, &c, 1);

			if (n == 1)
				return;
			if (n == 0 || errno != EINTR)
				_exit(1);	/* the supervisor is gone */
			break;
		}
		case HEARD_NOTHING:
			_exit(1);	/* poll failed */
		}
	}
}

/* What the landing found done to the agent branch: the supervisor records it. */
static void
merge_guarded(void *arg, int what, const struct git_oid *tip, const char *foreign)
{
	struct proto_msg m = { .type = PROTO_GUARD, .guard = (enum proto_guard)what };

	strlcpy(m.sha, tip->hex, sizeof(m.sha));
	strlcpy(m.reason, foreign, sizeof(m.reason));
	worker_send((struct worker *)arg, &m);
}

/* Ask for the merge queue, and wait to be let in. */
static void
queue_for_merge(struct worker *w)
{
	setproctitle("worker %s merge-wait", w->job->issue);
	report_merge(w, MERGE_WAIT, NULL);
	await_gate(w);
}

static void
merge_locked(void *arg)
{
	struct worker *w = arg;

	setproctitle("worker %s merge", w->job->issue);
	report_merge(w, MERGE_LOCKED, NULL);
}

static void __attribute__((noreturn))
merge(struct worker *w)
{
	char *message = xasprintf("Merge %s: %s (%s)", w->branch, w->job->title, w->job->issue);
	char **env = build_env(w, "check");
	struct merge_request req = {
		.cfg = w->cfg, .repo = w->repo, .branch = w->branch, .message = message,
		.scratch = w->scratch, .worktree = w->worktree, .log_fd = w->log_fd,
		.signal_fd = w->signal_fd,
		.envp = env, .locked = merge_locked, .guarded = merge_guarded, .arg = w,
		.slurm = job_for(w, "check", w->scratch, w->cfg->phases[PHASE_VERIFY].timeout),
		.head = w->head_checked ? &w->head : NULL, .base = &w->base,
		.only_ours = &w->only_ours, .resumed = w->job->resume == RESUME_MERGE,
	};
	struct git_oid landed;

	for (int round = 0; ; ) {
		struct strbuf reason = { 0 };
		enum mergeq_result r;

		queue_for_merge(w);
		r = mergeq_land(&req, &landed, &reason);
		char *why = strbuf_take(&reason);

		switch (r) {
		case MERGEQ_LANDED:
			report_merge(w, MERGE_MERGED, landed.hex);
			worker_finish(w, OUTCOME_MERGED, "");
		case MERGEQ_STOPPED:
			stopped(w);
		case MERGEQ_LOST:
			worker_tempfail(w, CAUSE_CLUSTER, why);
		case MERGEQ_REMOTE:
			worker_tempfail(w, CAUSE_REMOTE, why);
		case MERGEQ_CHECK_FAILED:
		case MERGEQ_ERROR:
			worker_write_feedback(w, why, "");
			worker_finish(w, OUTCOME_FAILED, why);
		case MERGEQ_CONFLICT:
			/* why reads "conflict in PATH, PATH". */
			if (round >= w->cfg->conflict_rounds) {
				worker_write_feedback(w, why, "");
				worker_finish(w, OUTCOME_CONFLICT, why);
			}
			free(why);
			conflict_bring_in_tip(w, ++round);
			break;
		}
	}
}

/* The child side of fork: drop what is the supervisor's, set up what is ours. */
static void
worker_init(struct worker *w, const struct worker_job *job)
{
	sigset_t mask;

	w->job = job;
	w->cfg = job->cfg;
	w->repo = job->repo;
	/* If the supervisor dies, so do we (and our phase's group, on the way out). */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	contain_init();
	if (getppid() != job->supervisor)
		_exit(1);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGUSR1);	/* over budget (DESIGN.md section 20) */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if ((w->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC)) == -1)
		_exit(1);
	log_set_context(&(struct log_ctx){ job->issue, job->attempt, job->trace });
	w->worktree = path_worktree(w->cfg, w->repo->name, job->number);
	w->branch = issue_branch_name(w->cfg, job->number);
	w->commit_message = xasprintf("%s (%s)", job->title, job->issue);
	char *dir = path_issue_dir(w->cfg, w->repo->name, job->number);
	mkdir_p(dir, 0755);
	w->lock_path = xasprintf("%s/" WORKER_LOCK_FILE, dir);
	w->issue_file = xasprintf("%s/issue.md", dir);
	w->feedback_file = xasprintf("%s/feedback.md", dir);
	w->retry_after_file = xasprintf("%s/" RETRY_AFTER_FILE, dir);
	w->scratch = xasprintf("%s/scratch", dir);
	w->hooks_dir = w->cfg->commit_hooks ? result_hooks_dir(w->repo->path) : NULL;
	free(dir);
	w->feedback = job->attempt > 1 && access(w->feedback_file, R_OK) == 0;
	if (w->feedback && job->pr_base[0])
		w->pr_feedback = pr_feedback_of(w->feedback_file);
	/* The supervisor opened it (appending, readable: failure reasons quote the
	 * tail of what a phase wrote); never into a phase, whose output comes
	 * through a pipe of ours. */
	w->log_fd = job->log_fd;
	fcntl(w->log_fd, F_SETFD, FD_CLOEXEC);
	dir = path_issue_dir(w->cfg, w->repo->name, job->number);
	usage_file_init(&w->usage, xasprintf("%s/" USAGE_FILE, dir), w->log_fd);
	free(dir);
}

/*
 * One worker per issue, enforced by the kernel: a worker of a supervisor
 * that died before it could record it may still be winding down in the same
 * worktree.  Wait for its lock (released when it dies), or step aside.
 */
static void
take_issue_lock(struct worker *w)
{
	int64_t deadline = mono_ms() + ISSUE_LOCK_WAIT_MS;
	int fd = open(w->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd == -1)
		worker_finish(w, OUTCOME_FAILED, "prepare: cannot open the issue's worker lock");
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (mono_ms() >= deadline)
			worker_tempfail(w, CAUSE_LOCK, "another worker of this issue is still running");
		poll(NULL, 0, 50);
	}
	/* Held until this process ends: the descriptor is never closed. */
	w->owns_issue = true;
}

/* Every commit of the attempt, not only its last tree, goes where it lands. */
static void
check_what_lands(struct worker *w)
{
	char *why = result_blobs_too_big(w);

	if (why) {
		worker_write_feedback(w, why, "");
		worker_finish(w, OUTCOME_FAILED, why);
	}
}

void
worker_main(const struct worker_job *job)
{
	struct worker w = { 0 };
	struct proto_msg hello = { .type = PROTO_HELLO, .pid = getpid(), .attempt = job->attempt };

	worker_init(&w, job);
	strlcpy(hello.issue, job->issue, sizeof(hello.issue));
	strlcpy(hello.trace, job->trace, sizeof(hello.trace));
	worker_send(&w, &hello);
	await_gate(&w);		/* until the admission is committed */
	take_issue_lock(&w);
	dprintf(w.log_fd, "== waved: %s attempt %d trace %s\n", job->issue, job->attempt,
	    job->trace);
	prepare(&w);
	if (w.job->pr_conflict && w.job->resume == RESUME_NONE)
		conflict_round(&w);
	run_pipeline(&w);
	check_what_lands(&w);
	w.passed = true;
	if (w.repo->land == LAND_PR)
		publish(&w);
	merge(&w);
}

void
worker_main_exec(void)
{
	static struct worker_job job;
	char err[512];

	if (job_read(JOB_FD, JOB_WORKER, &job, err, sizeof(err)) == -1) {
		log_warnx("worker: its job on descriptor %d: %s", JOB_FD, err);
		_exit(1);
	}
	close(JOB_FD);
	/* Until its first step names itself: not "waved --worker". */
	setproctitle("worker %s (attempt %d)", job.issue, job.attempt);
	worker_main(&job);
}
