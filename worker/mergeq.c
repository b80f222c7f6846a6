#include "worker/mergeq.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/git_refs.h"
#include "common/proto.h"
#include "worker/guard.h"
#include "worker/phase.h"
#include "worker/remote.h"
#include "worker/signals.h"

#define MERGE_CAS_TRIES 5	/* rounds: the ref moved between read and swap, or the remote refused */

/*
 * The lock lives in the repository's common git dir, not in waved's state:
 * every process merging into this repo (another daemon, an operator's
 * script) queues on the same file, whichever worktree it works from, and the
 * kernel releases it when its holder dies.  Returns the locked fd, -1 on
 * error, -2 when asked to stop while waiting.
 */
static int
lock_acquire(const struct merge_request *req, struct strbuf *reason)
{
	char *dir = git_common_dir(req->repo->path), *path;
	int fd;

	if (dir == NULL) {
		strbuf_addf(reason, "merge: %s is not a git repository", req->repo->path);
		return -1;
	}
	path = xasprintf("%s/waved-merge.lock", dir);
	free(dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1) {
		strbuf_addf(reason, "merge: open %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	/* Wait without blocking signals out: a stop must not hang behind another merge. */
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			strbuf_addf(reason, "merge: flock: %s", strerror(errno));
			close(fd);
			return -1;
		}
		if (signals_wait(req->signal_fd, -1, 50) == HEARD_STOP) {
			close(fd);
			return -2;
		}
	}
	return fd;
}

/* The tree of tip merged with head, or a conflict listing its paths. */
static enum mergeq_result
merge_tree(const struct merge_request *req, const struct git_oid *tip,
    const struct git_oid *head, struct git_oid *tree, struct strbuf *reason)
{
	struct strbuf out = { 0 };
	int rc = git_run(req->repo->path, &out, (const char *[]){ "merge-tree",
	    "--write-tree", "--name-only", "--no-messages", tip->hex, head->hex, NULL });
	char *line, *save = NULL;
	int n = 0;

	if (rc != 0 && rc != 1) {
		strbuf_addf(reason, "merge: git merge-tree failed (exit %d): %s", rc,
		    out.s ? out.s : "");
		strbuf_free(&out);
		return MERGEQ_ERROR;
	}
	for (line = strtok_r(out.s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (n++ == 0)
			git_oid_set(tree, line);
		else
			strbuf_addf(reason, "%s%s", n == 2 ? "conflict in " : ", ", line);
	}
	strbuf_free(&out);
	if (!tree->hex[0]) {
		strbuf_addf(reason, "merge: git merge-tree named no tree");
		return MERGEQ_ERROR;
	}
	return rc == 0 ? MERGEQ_LANDED : MERGEQ_CONFLICT;
}

/* A merge commit of tree with parents first and second. */
static int
commit_tree(const struct merge_request *req, const struct git_oid *tree,
    const struct git_oid *first, const struct git_oid *second, const char *message,
    struct git_oid *commit, struct strbuf *reason)
{
	struct strbuf out = { 0 };
	int rc = git_run(req->repo->path, &out, (const char *[]){ GIT_IDENTITY,
	    "commit-tree", tree->hex, "-p", first->hex, "-p", second->hex, "-m", message, NULL });

	if (rc != 0 || !git_oid_set(commit, out.s)) {
		strbuf_addf(reason, "merge: git commit-tree failed: %s", out.s ? out.s : "");
		strbuf_free(&out);
		return -1;
	}
	strbuf_free(&out);
	return 0;
}

/* Add the last lines the log got since offset (the gate's own output). */
static void
append_output(struct strbuf *reason, int log_fd, off_t since)
{
	off_t end = lseek(log_fd, 0, SEEK_END);
	size_t n = end - since > 1500 ? 1500 : (size_t)(end - since);
	char *buf = xmalloc(n + 1);
	ssize_t got = pread(log_fd, buf, n, end - (off_t)n);

	buf[got > 0 ? got : 0] = '\0';
	strbuf_add(reason, buf);
	free(buf);
}

/* The [merge] check gate, on the candidate commit in a scratch worktree. */
static enum mergeq_result
run_check(const struct merge_request *req, const char *candidate, struct strbuf *reason)
{
	struct phase_outcome out;
	struct phase_spec spec = {
		.name = "check", .command = req->cfg->merge_check,
		.timeout_s = req->cfg->phases[PHASE_VERIFY].timeout, .cwd = req->scratch,
		.kill_grace_ms = (int64_t)req->cfg->kill_grace * 1000,
		.envp = req->envp, .log_fd = req->log_fd, .log_max = req->cfg->log_max,
		.signal_fd = req->signal_fd, .slurm = req->slurm,
	};

	git_worktree_drop(req->repo->path, req->scratch, NULL);
	remove_tree(req->scratch);
	if (git_run(req->repo->path, reason, (const char *[]){ "worktree", "add", "-q",
	    "--detach", req->scratch, candidate, NULL }) != 0)
		return MERGEQ_ERROR;
	dprintf(req->log_fd, "== waved: merge check: %s\n", req->cfg->merge_check);
	off_t since = lseek(req->log_fd, 0, SEEK_END);
	phase_run(&spec, &out);
	git_worktree_drop(req->repo->path, req->scratch, NULL);
	if (out.result == PHASE_STOPPED)
		return MERGEQ_STOPPED;
	if (out.result == PHASE_EXITED && out.status == 0)
		return MERGEQ_LANDED;
	if (out.result == PHASE_LOST) {
		strbuf_addf(reason, "merge check: the cluster ended Slurm job %ld (%s); back in line",
		    out.job, out.job_state);
		return MERGEQ_LOST;
	}
	strbuf_addf(reason, "merge check failed (%s %d): ", out.result == PHASE_TIMED_OUT ?
	    "timeout, status" : "exit", out.status);
	append_output(reason, req->log_fd, since);
	return MERGEQ_CHECK_FAILED;
}

/*
 * The commit joining ours (the agent branch's tip) and theirs: theirs
 * itself when it contains ours (a fast-forward), else a merge commit with
 * message.  base is their merge base.
 */
static enum mergeq_result
join(const struct merge_request *req, const struct git_oid *ours, const struct git_oid *theirs,
    const struct git_oid *base, const char *message, struct git_oid *joined,
    struct strbuf *reason)
{
	struct git_oid tree = { "" };
	enum mergeq_result r;

	if (git_oid_equal(base, ours)) {
		*joined = *theirs;	/* fast-forward */
		return MERGEQ_LANDED;
	}
	if ((r = merge_tree(req, ours, theirs, &tree, reason)) != MERGEQ_LANDED)
		return r;
	return commit_tree(req, &tree, ours, theirs, message, joined, reason) == 0 ?
	    MERGEQ_LANDED : MERGEQ_ERROR;
}

/*
 * Compare-and-swap: ref moves to new only if it still points at old, and
 * delete (NULL: none) goes in the same transaction if it still points at
 * delete_oid.  Written to the ref files as git writes them, or by git
 * update-ref where they cannot take it (git_refs.h); never through a
 * symbolic ref or a link.
 */
static bool
swap_refs(const struct merge_request *req, const char *ref, const struct git_oid *new,
    const struct git_oid *old, const char *delete, const struct git_oid *delete_oid)
{
	int rc = git_refs_land(req->repo->path, ref, new, old, delete, delete_oid,
	    "waved: merge");
	struct strbuf commands = { 0 };
	bool moved;

	if (rc != -1)
		return rc == 1;
	strbuf_addf(&commands, "option no-deref\nupdate %s %s %s\n", ref, new->hex, old->hex);
	if (delete)
		strbuf_addf(&commands, "option no-deref\ndelete %s %s\n", delete, delete_oid->hex);
	moved = git_update_refs(req->repo->path, "waved: merge", commands.s, NULL) == 0;
	strbuf_free(&commands);
	return moved;
}

static bool
move_ref(const struct merge_request *req, const char *ref, const struct git_oid *new,
    const struct git_oid *old)
{
	return swap_refs(req, ref, new, old, NULL, NULL);
}

/*
 * The landing's one transaction: the agent branch from tip to landed
 * (compare-and-swap), and, when the landing is final (nothing follows it:
 * no push that may be refused and need the branch again), the issue's
 * branch deleted from head.  Either both happen or neither does, so the
 * branch can never be found gone with its work not landed: recovery reads
 * a missing branch whose last recorded head is on the agent branch as
 * landed (recover.c), and the supervisor has no branch left to delete
 * (one git process less an issue).  Its worktree, on that branch, is
 * detached at head right after: what parking it expects.
 */
static bool
land_ref(const struct merge_request *req, const char *ref, const struct git_oid *landed,
    const struct git_oid *tip, const char *branch_ref, const struct git_oid *head)
{
	bool final = req->repo->push == NULL && req->worktree != NULL;

	if (!swap_refs(req, ref, landed, tip, final ? branch_ref : NULL, head))
		return false;
	if (final && git_head_detach(req->worktree, head) == -1)
		dprintf(req->log_fd, "== waved: %s landed; its worktree's HEAD could not be "
		    "detached\n", req->branch);
	return true;
}

/*
 * With a push remote, first take in what the remote's agent branch has that
 * ours lacks (another host's merges): the push that follows can then never
 * need force.  A remote ahead of us is taken in by fast-forward; one that
 * diverged is merged, with a message saying so.  A remote without the
 * branch yet has nothing to give.  The fetch goes into a ref of its own,
 * never FETCH_HEAD, which another worker of the repo may be writing.
 */
static enum mergeq_result
sync_remote(const struct merge_request *req, const char *ref, struct strbuf *reason)
{
	const char *remote = req->repo->push, *agent = req->cfg->agent_branch;
	struct git_oid ours = { "" }, theirs = { "" }, base = { "" }, joined = { "" };
	enum mergeq_result r;
	struct git_fetch f;
	char *message;
	int rc;

	git_fetch_prepare(&f, remote, agent);
	if ((rc = git_run_remote(req->repo->path, req->cfg->git_timeout, NULL, f.argv)) == -2) {
		/* No answer in git_timeout: the push would wait as long for none. */
		strbuf_addf(reason, "fetch from %s: no answer in git_timeout (%d s)", remote,
		    req->cfg->git_timeout);
		git_fetch_clear(&f);
		return MERGEQ_REMOTE;
	}
	if (rc != 0 ||
	    git_rev_parse_two(req->repo->path, f.tracking, ref, &theirs, &ours) == -1 ||
	    git_merge_base(req->repo->path, &ours, &theirs, &base) == -1 ||
	    git_oid_equal(&base, &theirs)) {
		git_fetch_clear(&f);
		return MERGEQ_LANDED;	/* nothing there, or nothing we lack */
	}
	message = xasprintf("Merge %s/%s into %s", remote, agent, agent);
	r = join(req, &ours, &theirs, &base, message, &joined, reason);
	free(message);
	if (r == MERGEQ_CONFLICT) {
		strbuf_addf(reason, " (between %s and %s/%s)", agent, remote, agent);
		r = MERGEQ_ERROR;
	} else if (r == MERGEQ_LANDED) {
		guard_tip_set(req->cfg, req->repo->name, &joined);
		if (!move_ref(req, ref, &joined, &ours)) {
			guard_tip_set(req->cfg, req->repo->name, &ours);
			strbuf_addf(reason, "merge: %s moved under us; ", ref);
		}
	}
	git_fetch_clear(&f);
	return r;
}

enum push_result {
	PUSHED,
	PUSH_REFUSED,		/* the remote said no: it moved on since the fetch, or a hook */
	PUSH_UNREACHED,		/* no answer: no route, no repository there, a reset, git_timeout */
	PUSH_STOPPED		/* the worker was asked to stop between two tries */
};

/*
 * Push commit to the remote's agent branch, never forced.  A refusal is
 * for taking the remote in and pushing again; a push that never reached
 * the remote, tried again after a pause or two (remote.c), is for later.
 */
static enum push_result
push_agent(const struct merge_request *req, const struct git_oid *commit, struct strbuf *reason)
{
	const struct remote_call c = { .remote = req->repo->push,
	    .timeout_s = req->cfg->git_timeout, .signal_fd = req->signal_fd, .log_fd = req->log_fd };
	char *spec = xasprintf("%s:refs/heads/%s", commit->hex, req->cfg->agent_branch);
	struct strbuf out = { 0 };
	int rc = remote_git_call(&c, req->repo->path, &out, (const char *[]){
	    "push", "-q", "--porcelain", req->repo->push, spec, NULL });
	enum push_result p = rc == 0 ? PUSHED : rc == REMOTE_STOPPED ? PUSH_STOPPED :
	    git_push_refused(out.s) ? PUSH_REFUSED : PUSH_UNREACHED;
	static const char *const said[] = { "ok", "refused", "failed", "stopped" };

	if (p == PUSH_REFUSED || p == PUSH_UNREACHED) {
		strbuf_free(reason);
		strbuf_addf(reason, "push to %s %s%s: %s", req->repo->push, said[p],
		    rc == -2 ? " (git_timeout)" : "", out.s ? out.s : "");
		strbuf_trim_end(reason);
	}
	dprintf(req->log_fd, "== waved: push %s %s: %s\n", req->repo->push, spec, said[p]);
	strbuf_free(&out);
	free(spec);
	return p;
}

/*
 * Under the lock, before a landing: the agent branch is where waved left it
 * (the tip recorded with its last landing), or someone moved it.  A
 * fast-forward of waved's tip (an operator's merge, another host's landing)
 * is taken in; a move that lost landed work is put back, the foreign commit
 * kept under refs/waved/foreign/.  tip is then the branch as it stands.
 */
static void
check_agent_branch(const struct merge_request *req, const char *ref, struct git_oid *tip)
{
	struct git_oid known;
	char *foreign;

	if (!guard_tip_get(req->cfg, req->repo->name, &known) || git_oid_equal(&known, tip))
		return;
	if (git_is_ancestor(req->repo->path, known.hex, tip->hex)) {
		guard_tip_set(req->cfg, req->repo->name, tip);
		dprintf(req->log_fd, "== waved: %s moved to %.12s, a fast-forward of waved's "
		    "%.12s: taken in\n", req->cfg->agent_branch, tip->hex, known.hex);
		if (req->guarded)
			req->guarded(req->arg, GUARD_BRANCH_MOVED, tip, "");
		return;
	}
	foreign = xasprintf("refs/waved/foreign/%s-%.12s", req->repo->name, tip->hex);
	git_run(req->repo->path, NULL, (const char *[]){ "update-ref", foreign, tip->hex, NULL });
	if (move_ref(req, ref, &known, tip)) {
		dprintf(req->log_fd, "== waved: %s was moved to %.12s, losing landed work: put "
		    "back to %.12s (kept as %s)\n", req->cfg->agent_branch, tip->hex, known.hex,
		    foreign);
		if (req->guarded)
			req->guarded(req->arg, GUARD_BRANCH_RESTORED, &known, foreign);
		*tip = known;
	}
	free(foreign);
}

/*
 * The gate runs the agent's code (its tests): the agent branch must be
 * where it was, under the lock.  A move is put back, the foreign commit
 * kept, and the landing fails: nothing reaches the branch past the gate.
 */
static enum mergeq_result
gate_left_branch(const struct merge_request *req, const char *ref, const struct git_oid *tip,
    struct strbuf *reason)
{
	struct git_oid now;
	char *foreign;

	if (git_ref_read(req->repo->path, ref, &now) == -1 || git_oid_equal(&now, tip))
		return MERGEQ_LANDED;
	foreign = xasprintf("refs/waved/foreign/%s-gate-%.12s", req->repo->name, now.hex);
	git_run(req->repo->path, NULL, (const char *[]){ "update-ref", foreign, now.hex, NULL });
	if (move_ref(req, ref, tip, &now) && req->guarded)
		req->guarded(req->arg, GUARD_BRANCH_RESTORED, tip, foreign);
	strbuf_addf(reason, "merge check: the agent branch was moved to %.12s while the gate "
	    "ran: put back (kept as %s)", now.hex, foreign);
	free(foreign);
	return MERGEQ_CHECK_FAILED;
}

/*
 * Under the lock, the landing itself (DESIGN.md section 6, steps 1 to 3):
 * the issue branch joined with the agent branch, the joined commit past
 * the gate, and the agent branch moved to it in one compare-and-swap.
 * landed: the new tip, or the head when the tip held it already.
 * *moved: the ref moved between read and swap; nothing landed, try again.
 */
static enum mergeq_result
land_here(const struct merge_request *req, const char *ref, const char *branch_ref,
    struct git_oid *landed, bool *moved, struct strbuf *reason)
{
	struct git_oid tip = { "" }, head = { "" }, base;
	enum mergeq_result r;
	bool known;

	*moved = false;
	if (git_ref_read(req->repo->path, ref, &tip) == 0 &&
	    git_ref_read(req->repo->path, branch_ref, &head) == 0)
		check_agent_branch(req, ref, &tip);
	if (!tip.hex[0] || !head.hex[0]) {
		strbuf_addf(reason, "merge: cannot resolve %s or %s", ref, req->branch);
		return MERGEQ_ERROR;
	}
	known = req->head && req->base && git_oid_equal(&head, req->head);
	if (known && git_oid_equal(&tip, req->base))
		base = tip;	/* known: a fast-forward, no merge-base to ask for */
	else if (known && req->only_ours && *req->only_ours && !git_oid_equal(&head, req->base))
		base = *req->base;	/* the tip holds the base (waved's landings and
					 * moves it takes in descend from it), the head is
					 * the base plus waved's commits: a merge on it */
	else if (git_merge_base(req->repo->path, &tip, &head, &base) == -1) {
		strbuf_addf(reason, "merge: cannot find the merge base of %s and %s", ref,
		    req->branch);
		return MERGEQ_ERROR;
	}
	/* Idempotent: a retried or recovered merge never lands twice. */
	if (git_oid_equal(&base, &head)) {
		*landed = head;
		return MERGEQ_LANDED;
	}
	if ((r = join(req, &tip, &head, &base, req->message, landed, reason)) != MERGEQ_LANDED)
		return r;
	if (req->cfg->merge_check &&
	    ((r = run_check(req, landed->hex, reason)) != MERGEQ_LANDED ||
	    (r = gate_left_branch(req, ref, &tip, reason)) != MERGEQ_LANDED))
		return r;
	/* The tip first, then the ref: a worker that looks between the two
	 * sees a landing of waved's, never an agent's move. */
	guard_tip_set(req->cfg, req->repo->name, landed);
	if (!land_ref(req, ref, landed, &tip, branch_ref, &head)) {
		guard_tip_set(req->cfg, req->repo->name, &tip);
		strbuf_addf(reason, "merge: %s moved under us; ", ref);
		*moved = true;
		return MERGEQ_ERROR;
	}
	return MERGEQ_LANDED;
}

/*
 * Step 4: the agent branch as it now stands, pushed.  What the remote took
 * is written to its remote-tracking ref, so that recovery can tell a
 * landing pushed from one that is here alone without asking the remote.
 */
static enum push_result
push_landing(const struct merge_request *req, const char *ref, struct strbuf *reason)
{
	struct git_oid tip;
	enum push_result p;
	char *tracking;

	if (git_ref_read(req->repo->path, ref, &tip) == -1) {
		strbuf_addf(reason, "merge: cannot resolve %s to push it", ref);
		return PUSH_UNREACHED;
	}
	if ((p = push_agent(req, &tip, reason)) != PUSHED)
		return p;
	tracking = git_tracking_ref(req->repo->push, req->cfg->agent_branch);
	if (git_run(req->repo->path, NULL, (const char *[]){ "update-ref", tracking, tip.hex,
	    NULL }) != 0)
		dprintf(req->log_fd, "== waved: pushed, but %s could not be moved to %.12s: "
		    "a recovery would push again\n", tracking, tip.hex);
	free(tracking);
	return PUSHED;
}

/*
 * Under the lock: land the issue branch on the agent branch and push it,
 * or say why not.  The agent branch moves before the push (section 6): it
 * is where waved keeps what landed, so a push that fails, or a worker that
 * dies before it, leaves the landing here for the next push to carry (and
 * for recovery to find); nothing can land twice.  A refused push is taken
 * in (sync_remote merges the remote's branch into ours) and pushed again.
 * Once landed here, whatever keeps the push from the remote (no answer,
 * refusals, a remote that diverged beyond a clean merge) is MERGEQ_REMOTE:
 * the work is landed, and only the push is left to do.
 */
static enum mergeq_result
land_locked(const struct merge_request *req, struct git_oid *landed, struct strbuf *reason)
{
	char *ref = xasprintf("refs/heads/%s", req->cfg->agent_branch);
	char *branch_ref = xasprintf("refs/heads/%s", req->branch);
	enum mergeq_result r = MERGEQ_ERROR;
	enum push_result p = PUSH_REFUSED;
	/* Resumed with its head on the agent branch here: landed, its push left
	 * (a remote that diverged since must not make that a failure). */
	bool here = req->resumed && req->repo->push &&
	    git_ref_read(req->repo->path, branch_ref, landed) == 0 &&
	    git_is_ancestor(req->repo->path, landed->hex, ref), moved;

	for (int try = 0; try < MERGE_CAS_TRIES; try++) {
		if (req->repo->push && (r = sync_remote(req, ref, reason)) != MERGEQ_LANDED)
			break;
		if (!here) {
			r = land_here(req, ref, branch_ref, landed, &moved, reason);
			if (moved)
				continue;
			if (r != MERGEQ_LANDED)
				break;
			here = true;
		}
		if (req->repo->push == NULL || (p = push_landing(req, ref, reason)) != PUSH_REFUSED)
			break;
	}
	if (here && req->repo->push && p != PUSHED) {
		r = p == PUSH_STOPPED ? MERGEQ_STOPPED : MERGEQ_REMOTE;
		strbuf_addf(reason, "; landed on %s here, not yet on %s: the next try pushes it",
		    req->cfg->agent_branch, req->repo->push);
	} else if (r == MERGEQ_REMOTE)
		strbuf_addf(reason, "; nothing landed");
	free(branch_ref);
	free(ref);
	return r;
}

enum mergeq_result
mergeq_land(const struct merge_request *req, struct git_oid *landed, struct strbuf *reason)
{
	enum mergeq_result r;
	int fd = lock_acquire(req, reason);

	if (fd == -2)
		return MERGEQ_STOPPED;
	if (fd == -1)
		return MERGEQ_ERROR;
	if (req->locked)
		req->locked(req->arg);
	landed->hex[0] = '\0';
	r = land_locked(req, landed, reason);
	close(fd);	/* releases the lock */
	return r;
}
