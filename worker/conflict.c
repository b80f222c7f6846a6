/*
 * Merge conflicts in the worker (DESIGN.md section 6, step 5): the agent
 * branch moved and its changes meet this issue's.  The tip is merged into
 * the issue branch in its worktree; what collides goes to the agent's
 * resolve phase, with the conflicted files and what landed in its feedback.
 * With land = pr, the same for the remote's base branch (publish.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/git_refs.h"
#include "common/log.h"
#include "worker/worker_internal.h"

/* What landed on the branch being brought in since this attempt's base: a line each. */
static char *
landed_since_base(struct worker *w, const char *ref)
{
	char *range = xasprintf("%s..%s", w->base.hex, ref);
	struct strbuf out = { 0 };

	git_run(w->worktree, &out, (const char *[]){ "log", "--first-parent", "--format=- %s",
	    range, NULL });
	free(range);
	return out.s ? strbuf_take(&out) : xstrdup("(nothing: the tip moved without a landing)\n");
}

/* The resolve phase's feedback: the conflicted files, and what the branch brought. */
static void
write_conflict_feedback(struct worker *w, int round, const char *files, const char *ref,
    const char *label)
{
	char *landed = landed_since_base(w, ref);
	FILE *fp = fopen(w->feedback_file, "we");

	if (fp == NULL) {
		log_warn("write %s", w->feedback_file);
		free(landed);
		return;
	}
	fprintf(fp, "# waved: merge conflict, round %d of attempt %d of %s\n\n"
	    "The branch %s moved since this attempt began, and its changes meet\n"
	    "yours.  It is merged into your branch with the conflict markers in place:\n"
	    "resolve every file below so that both sides' intent holds, and leave no\n"
	    "marker.  waved commits the merge and runs verify again.\n\n"
	    "## Conflicted files\n\n", round, w->job->attempt, w->job->issue, label);
	for (const char *f = *files ? files : NULL; f; f = git_paths_next(f))
		fprintf(fp, "- %s\n", f);
	fprintf(fp, "\n## Landed on %s since this attempt's base\n\n%s", label, landed);
	fclose(fp);
	free(landed);
	w->feedback = true;
}

/* A resolve that did not do it: the merge is undone, the markers never land. */
static void __attribute__((noreturn))
resolve_failed(struct worker *w, char *reason)
{
	git_run(w->worktree, NULL, (const char *[]){ "merge", "--abort", NULL });
	worker_write_feedback(w, reason, "");
	worker_finish(w, OUTCOME_CONFLICT, reason);
}

/* Tell the supervisor which files a round resolved (as many as fit a message). */
static void
report_resolved(struct worker *w, int round, const char *files)
{
	struct proto_msg m = { .type = PROTO_RESOLVED, .round = round };
	char *lines = git_paths_join(files, "\n");
	size_t len = strlen(lines);

	if (len > PROTO_MAX_LINE / 2) {
		len = PROTO_MAX_LINE / 2;
		while (len > 0 && lines[len] != '\n')
			len--;
	}
	snprintf(m.reason, sizeof(m.reason), "%.*s", (int)len, lines);
	free(lines);
	worker_send(w, &m);
}

/*
 * The agent resolves the conflict: its resolve phase (or implement's command
 * with WAVED_PHASE=resolve) runs in the worktree as the merge left it.  It
 * passes when it exits 0, the merge is still under way, and neither a
 * conflict marker nor an unmerged path is left.
 */
static void
resolve(struct worker *w, int round, const char *ref, const char *label)
{
	const char *command = w->cfg->phases[PHASE_RESOLVE].run ?
	    w->cfg->phases[PHASE_RESOLVE].run : w->cfg->phases[PHASE_IMPLEMENT].run;
	char *files = git_unmerged_paths(w->worktree), *left, *unmerged;
	char *named = git_paths_join(files, ", ");
	struct phase_outcome out;
	struct log_span span;

	write_conflict_feedback(w, round, files, ref, label);
	out = worker_run_phase(w, PHASE_RESOLVE, command, &span);
	if (out.result == PHASE_TIMED_OUT || out.result == PHASE_LOST ||
	    out.result == PHASE_STALLED ||
	    out.status == PHASE_EXIT_TEMPFAIL) {
		git_run(w->worktree, NULL, (const char *[]){ "merge", "--abort", NULL });
		worker_phase_passed(w, PHASE_RESOLVE, &out, &span, NULL);
	}
	if (out.status != 0)
		resolve_failed(w, xasprintf("conflict: resolve failed (exit %d) on %s",
		    out.status, named));
	if (!git_merging(w->worktree))
		resolve_failed(w, xstrdup("conflict: the resolve phase abandoned the merge"));
	if ((left = git_first_with_markers(w->worktree, files)) != NULL)
		resolve_failed(w, xasprintf("conflict: markers left in %s", left));
	git_run(w->worktree, NULL, (const char *[]){ "add", "-A", NULL });
	unmerged = git_unmerged_paths(w->worktree);
	if (*unmerged)
		resolve_failed(w, xasprintf("conflict: still unmerged: %s",
		    git_paths_join(unmerged, ", ")));
	free(unmerged);
	report_resolved(w, round, files);
	free(named);
	free(files);
}

/*
 * Bring ref (shown as label) into the issue branch, resolving what collides,
 * commit the merge, and verify again; w->head is the merge (or what verify
 * left).
 */
void
conflict_bring_in(struct worker *w, int round, const char *ref, const char *label)
{
	char *message = xasprintf("Merge %s into %s (%s)", label, w->branch, w->job->issue);
	struct strbuf out = { 0 };
	int rc = git_merge_no_commit(w->worktree, ref, &out);

	dprintf(w->log_fd, "== waved: merge %s into %s (round %d): %s\n%s", label,
	    w->branch, round, rc == 0 ? "clean" : rc == 1 ? "conflict" : "failed",
	    out.s ? out.s : "");
	strbuf_free(&out);
	if (rc == -1)
		worker_finish(w, OUTCOME_FAILED, xasprintf("merge: cannot bring %s into the issue branch",
		    label));
	if (rc == 1)
		resolve(w, round, ref, label);
	if (git_commit_all(w->worktree, message, NULL, 0, &out) == -1)
		worker_finish(w, OUTCOME_FAILED, xasprintf("merge: cannot commit the merge of %s", label));
	strbuf_free(&out);
	free(message);
	w->only_ours = false;	/* the tip's history is in it now */
	if (git_ref_read(w->worktree, "HEAD", &w->head) == -1)
		worker_finish(w, OUTCOME_FAILED, "merge: the merge commit does not resolve");
	if (w->cfg->phases[PHASE_VERIFY].run) {
		struct log_span span;
		struct phase_outcome vo = worker_run_phase(w, PHASE_VERIFY, w->cfg->phases[PHASE_VERIFY].run,
		    &span);

		worker_phase_passed(w, PHASE_VERIFY, &vo, &span, NULL);
	}
}

/* After a conflict at the merge queue: bring the agent branch's new tip in; the caller queues again. */
void
conflict_bring_in_tip(struct worker *w, int round)
{
	char *agent = xasprintf("refs/heads/%s", w->cfg->agent_branch);

	conflict_bring_in(w, round, agent, w->cfg->agent_branch);
	free(agent);
}
