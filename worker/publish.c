/*
 * Landing by pull request (DESIGN.md section 18, land = pr): the issue
 * branch starts from the push remote's base branch, so that it holds every
 * pull request a person merged, and ends pushed to that remote, where the
 * supervisor opens or updates its pull request.  The branch is never forced
 * unless it is this issue's own, replaced with --force-with-lease.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "common/log.h"
#include "worker/remote.h"
#include "worker/worker_internal.h"

/*
 * git that talks to the push remote, tried again after a pause when it
 * fails on the way there (remote.c).  A stop during a pause ends it as a
 * failure: the caller's attempt ends at once, back in line.
 */
static int
remote_git(struct worker *w, const char *dir, struct strbuf *out, const char *const args[])
{
	const struct remote_call c = { .remote = w->repo->push, .timeout_s = w->cfg->git_timeout,
	    .signal_fd = w->signal_fd, .log_fd = w->log_fd };

	return remote_git_call(&c, dir, out, args);
}

/*
 * The head of the issue's open pull request, as the remote has it: a person
 * may have pushed to the branch on top of waved's last push, and the round
 * builds on their work too.  A remote that does not answer leaves waved's
 * own last push, if it is here.
 */
static void
pull_request_head(struct worker *w, struct git_oid *base)
{
	char *commit = xasprintf("%s^{commit}", w->job->pr_base);
	struct git_fetch f;
	struct git_oid theirs;
	struct strbuf out = { 0 };
	bool ours_here = git_rev_parse(w->repo->path, commit, base) == 0;
	int rc;

	free(commit);
	git_fetch_prepare(&f, w->repo->push, w->branch);
	rc = remote_git(w, w->repo->path, &out, f.argv);
	if (rc == 0 && git_rev_parse(w->repo->path, f.tracking, &theirs) == 0 &&
	    (!ours_here || git_is_ancestor(w->repo->path, base->hex, theirs.hex))) {
		if (ours_here && !git_oid_equal(&theirs, base))
			dprintf(w->log_fd, "== waved: prepare: %s has commits pushed after waved's "
			    "%.12s: building on %.12s\n", w->branch, base->hex, theirs.hex);
		*base = theirs;
	} else if (!ours_here)
		worker_tempfail(w, CAUSE_REMOTE, xasprintf("prepare: the pull request's head %.12s is "
		    "neither here nor on %s: %s", w->job->pr_base, w->repo->push, out.s ? out.s : ""));
	strbuf_free(&out);
	git_fetch_clear(&f);
}

/* The remote's base branch, fetched now into its remote-tracking ref. */
static void
remote_base(struct worker *w, struct git_oid *base)
{
	struct strbuf out = { 0 };
	struct git_fetch f;
	int rc;

	git_fetch_prepare(&f, w->repo->push, w->cfg->base_branch);
	rc = remote_git(w, w->repo->path, &out, f.argv);
	if (rc != 0)
		worker_tempfail(w, CAUSE_REMOTE, xasprintf("prepare: fetching %s from %s failed%s: %s",
		    w->cfg->base_branch, w->repo->push, rc == -2 ? " (git_timeout)" : "",
		    out.s ? out.s : ""));
	strbuf_free(&out);
	if (git_rev_parse(w->repo->path, f.tracking, base) == -1)
		worker_finish(w, OUTCOME_FAILED, "prepare: the fetched base branch does not resolve");
	git_fetch_clear(&f);
}

/*
 * The base of a new round: the head of the issue's open pull request (a fix
 * round builds on it), else the remote's base branch.  A remote that does
 * not answer is a transient failure: no attempt is used.
 */
void
publish_base(struct worker *w, struct git_oid *base)
{
	if (w->job->pr_base[0])
		pull_request_head(w, base);
	else
		remote_base(w, base);
}

/*
 * The pull request must be mergeable: when the remote's base branch moved
 * and its changes meet this branch's (or when the round is for just that),
 * it is brought in, the agent resolving what collides (conflict.c), and
 * verify runs again.  A base that merges cleanly is left to the merge.
 */
static void
bring_in_base(struct worker *w, bool always)
{
	char *ref = git_tracking_ref(w->repo->push, w->cfg->base_branch);
	char *label = xasprintf("%s/%s", w->repo->push, w->cfg->base_branch);
	struct git_oid base;

	remote_base(w, &base);
	if (!git_is_ancestor(w->worktree, base.hex, w->head.hex) &&
	    (always || !git_merges_cleanly(w->worktree, base.hex, w->head.hex)))
		conflict_bring_in(w, 1, ref, label);
	free(label);
	free(ref);
}

/* The remote's head of the issue branch: 0 (sha set, "" when it has none) or -1. */
static int
remote_head(struct worker *w, char sha[GIT_SHA_MAX + 1], struct strbuf *out)
{
	char *ref = xasprintf("refs/heads/%s", w->branch);
	int rc = remote_git(w, w->worktree, out, (const char *[]){
	    "ls-remote", "--end-of-options", w->repo->push, ref, NULL });

	free(ref);
	sha[0] = '\0';
	if (rc != 0)
		return -1;
	if (out->s)
		snprintf(sha, GIT_SHA_MAX + 1, "%.*s", (int)strcspn(out->s, " \t\n"), out->s);
	strbuf_free(out);
	return 0;
}

/*
 * Push the branch for its pull request and end the attempt "pushed".  The
 * lease is what the remote holds now, accepted only when it is nothing, an
 * ancestor of ours (a plain fast-forward), or the head waved pushed last
 * (a new attempt replacing the old one): anything else is someone else's
 * work, and is never overwritten.
 */
void
publish(struct worker *w)
{
	char theirs[GIT_SHA_MAX + 1];
	struct strbuf out = { 0 };
	char *lease, *spec, *why;
	int rc;

	bring_in_base(w, w->job->pr_conflict);
	setproctitle("worker %s push", w->job->issue);
	if (remote_head(w, theirs, &out) == -1) {
		why = xasprintf("push: asking %s for %s failed: %s", w->repo->push, w->branch,
		    out.s ? out.s : "");
		worker_tempfail(w, CAUSE_REMOTE, why);
	}
	if (theirs[0] && strcmp(theirs, w->head.hex) != 0 &&
	    strcmp(theirs, w->job->pr_head) != 0 &&
	    !git_is_ancestor(w->worktree, theirs, w->head.hex)) {
		why = xasprintf("push: %s on %s is at %.12s, which waved did not push; "
		    "it is left alone (delete it, or merge it by hand)", w->branch, w->repo->push,
		    theirs);
		worker_finish(w, OUTCOME_FAILED, why);
	}
	lease = xasprintf("--force-with-lease=refs/heads/%s:%s", w->branch, theirs);
	spec = xasprintf("%s:refs/heads/%s", w->head.hex, w->branch);
	rc = remote_git(w, w->worktree, &out, (const char *[]){
	    "push", "-q", "--porcelain", lease, w->repo->push, spec, NULL });
	dprintf(w->log_fd, "== waved: push %s %s: %s\n", w->repo->push, spec,
	    rc == 0 ? "ok" : git_push_refused(out.s) ? "refused" : "failed");
	free(lease);
	free(spec);
	if (rc != 0) {
		/* The remote said no, which trying again will not change; anything
		 * else is the way there. */
		bool refused = git_push_refused(out.s);

		why = xasprintf("push to %s %s%s: %s", w->repo->push, refused ? "refused" : "failed",
		    rc == -2 ? " (git_timeout)" : "", out.s ? out.s : "");
		if (!refused)
			worker_tempfail(w, CAUSE_REMOTE, why);
		worker_finish(w, OUTCOME_FAILED, why);
	}
	strbuf_free(&out);
	worker_finish(w, OUTCOME_PUSHED, "");
}
