#include "supervisor/recover.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <bsd/string.h>
#include <bsd/unistd.h>

#include "common/job.h"
#include "common/log.h"
#include "common/spawn.h"
#include "common/paths.h"
#include "common/git.h"
#include "common/git_refs.h"
#include "supervisor/children.h"

extern char **environ;

#define ORPHAN_GRACE_MS 15000	/* a phase gets 10 s between TERM and KILL */


/* The first configured phase from r on (merge needs no configuration). */
static enum resume_point
configured_from(const struct config *cfg, enum resume_point r)
{
	if (r == RESUME_VERIFY && cfg->phases[PHASE_VERIFY].run == NULL)
		r = RESUME_REVIEW;
	if (r == RESUME_REVIEW && cfg->phases[PHASE_REVIEW].run == NULL)
		r = RESUME_MERGE;
	return r;
}

/* The phase after a marker: a failed verify or review goes back to implement. */
static enum resume_point
next_phase(const struct config *cfg, const struct store_marker *m)
{
	if (m->result != 0 || strcmp(m->phase, "setup") == 0)
		return RESUME_IMPLEMENT;
	if (strcmp(m->phase, "implement") == 0)
		return configured_from(cfg, RESUME_VERIFY);
	if (strcmp(m->phase, "verify") == 0)
		return configured_from(cfg, RESUME_REVIEW);
	return RESUME_MERGE;
}

/* Is the worktree's HEAD at head? */
static bool
worktree_at(const char *worktree, const struct git_oid *head)
{
	struct git_oid at;

	return git_rev_parse(worktree, "HEAD", &at) == 0 && git_oid_equal(&at, head);
}

/* Is commit on the push remote's agent branch, as this repo last saw it
 * (its remote-tracking ref, which a push the remote took moves)? */
static bool
pushed(const char *path, const char *remote, const char *agent, const char *commit)
{
	char *tracking = git_tracking_ref(remote, agent);
	bool yes = git_is_ancestor(path, commit, tracking);

	free(tracking);
	return yes;
}

void
recover_evaluate(const struct recover_input *in, struct recover_decision *out)
{
	char *branch = issue_branch_name(in->cfg, in->number);
	char *agent = xasprintf("refs/heads/%s", in->cfg->agent_branch);
	char *worktree = path_worktree(in->cfg, in->repo->name, in->number);
	struct git_oid oid = { "" }, none;
	char *branch_ref = xasprintf("refs/heads/%s", branch);
	const char *path = in->repo->path, *head = oid.hex;
	bool has_head = git_rev_parse(path, branch, &oid) == 0;
	bool may_land = in->repo->land == LAND_BRANCH;
	/* Gone, as a landing's transaction leaves it (mergeq.c), not merely unreadable. */
	bool gone = !has_head && git_ref_lookup(path, branch_ref, &none) == 1;
	const char *marked = in->marker ? in->marker->head : "";

	memset(out, 0, sizeof(*out));
	out->action = RECOVER_RESET;
	/*
	 * Landed?  A branch with no commit of its own (head == base) is an
	 * ancestor of the agent branch too, and proves nothing.  With land =
	 * pr, waved never lands: a person merges, and GitHub says so.
	 */
	if (may_land && has_head && in->base && strcmp(head, in->base) != 0 &&
	    git_is_ancestor(path, head, agent)) {
		out->action = RECOVER_DONE;
		strlcpy(out->landed, head, sizeof(out->landed));
	} else if (may_land && in->final && *in->final &&
	    git_is_ancestor(path, in->final, agent)) {
		out->action = RECOVER_DONE;
		strlcpy(out->landed, in->final, sizeof(out->landed));
	} else if (may_land && gone && in->base && *marked && strcmp(marked, in->base) != 0 &&
	    git_is_ancestor(path, marked, agent) && !git_is_ancestor(path, marked, in->base)) {
		/*
		 * The landing deletes the branch in the transaction that moves
		 * the agent branch, and the worker died before saying so: the
		 * head its last phase recorded (its work, or what the landing's
		 * head descends from) is on the agent branch.  Work is what the
		 * base did not hold: a marker of an earlier run of this attempt
		 * (reset, and admitted again under the same number) may name
		 * what was its base then, on the agent branch since long ago.
		 */
		out->action = RECOVER_DONE;
		strlcpy(out->landed, marked, sizeof(out->landed));
	}
	if (out->action == RECOVER_DONE) {
		/*
		 * Landed here; pushed too?  The merge queue moves the agent
		 * branch before it pushes (DESIGN.md section 6), and done is
		 * pushed: a landing the remote may lack is resumed at the merge
		 * (in its worktree, made again if gone), whose pass finds it
		 * here and only pushes.
		 */
		if (in->repo->push && has_head &&
		    !pushed(path, in->repo->push, in->cfg->agent_branch, out->landed)) {
			out->action = RECOVER_RESUME;
			out->resume = RESUME_MERGE;
		}
	} else if (has_head && worktree_at(worktree, &oid)) {
		/* Resume only where git agrees with the marker (prepare counts as one). */
		if (in->marker && strcmp(in->marker->head, head) == 0) {
			out->action = RECOVER_RESUME;
			out->resume = next_phase(in->cfg, in->marker);
		} else if (!in->marker && in->base && strcmp(in->base, head) == 0) {
			out->action = RECOVER_RESUME;
			out->resume = RESUME_IMPLEMENT;
		}
	}
	free(branch_ref);
	free(branch);
	free(agent);
	free(worktree);
}

/* The issue's worktree, and its branch too when with_branch. */
static void
drop(const struct config *cfg, const struct repo_conf *repo, long number, bool with_branch)
{
	char *branch = with_branch ? issue_branch_name(cfg, number) : NULL;
	char *worktree = path_worktree(cfg, repo->name, number);

	git_worktree_drop(repo->path, worktree, branch);
	remove_tree(worktree);
	free(branch);
	free(worktree);
}

void
recover_carry_out(const struct recover_input *in, const struct recover_decision *d)
{
	if (d->action == RECOVER_RESET)
		recover_reset(in->cfg, in->repo, in->number);
	else if (d->action == RECOVER_DONE)
		recover_drop_worktree(in->cfg, in->repo, in->number);
}

void
recover_reset(const struct config *cfg, const struct repo_conf *repo, long number)
{
	drop(cfg, repo, number, true);
}

void
recover_drop_worktree(const struct config *cfg, const struct repo_conf *repo, long number)
{
	drop(cfg, repo, number, false);
}

void
recover_drop_branch(const struct config *cfg, const struct repo_conf *repo, long number)
{
	char *branch = issue_branch_name(cfg, number), *ref = xasprintf("refs/heads/%s", branch);
	const char *argv[] = { "git", "-C", repo->path, "branch", "-q", "-D", "--", branch, NULL };
	struct git_oid oid;
	pid_t pid;

	/* A landing without a push deleted it already, in its own transaction
	 * (mergeq.c): the ref files say so without a git process. */
	if (git_ref_lookup(repo->path, ref, &oid) == 1) {
		free(ref);
		free(branch);
		return;
	}
	free(ref);
	/* Not waited for here: the table of children reaps it, and says if it failed. */
	pid = spawn_start(argv, &(struct spawn_opts){ .out_fd = -1 });
	if (pid == -1)
		log_warn("%s: cannot delete branch %s", repo->name, branch);
	else {
		char *what = xasprintf("git branch -D %s in %s", branch, repo->name);

		children_add(pid, CHILD_GIT, what, NULL, NULL);
		free(what);
	}
	free(branch);
}

/*
 * Is a worker of this issue still running?  Each holds its issue's lock
 * (flock, worker.c) from its admission to its end, and the kernel lets go
 * of it when the holder dies: a try that fails says one is alive, whatever
 * it calls itself and whoever has its old pid now.
 */
static bool
lock_held(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	bool held;

	if (fd == -1)
		return false;	/* never made: no worker got that far */
	held = flock(fd, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK;
	close(fd);		/* and with it the lock, if we took it */
	return held;
}

/* Wait up to ms for the lock to be let go; true when it was. */
static bool
lock_released(const char *path, int64_t ms)
{
	int64_t deadline = mono_ms() + ms;

	while (lock_held(path)) {
		if (mono_ms() >= deadline)
			return false;
		nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
	}
	return true;
}

void
recover_reap_orphan(const struct config *cfg, const struct repo_conf *repo, long number,
    pid_t pid)
{
	char *dir = path_issue_dir(cfg, repo->name, number);
	char *path = xasprintf("%s/" WORKER_LOCK_FILE, dir);

	free(dir);
	if (!lock_held(path)) {
		free(path);
		return;
	}
	/* The lock is taken after the admission that recorded pid is committed:
	 * while it is held, pid is its holder. */
	log_info("%s#%ld: worker %d of a previous run still holds its lock: stopping it",
	    repo->name, number, (int)pid);
	if (pid > 0)
		kill(pid, SIGTERM);	/* PDEATHSIG said so already; say it again */
	if (!lock_released(path, ORPHAN_GRACE_MS)) {
		log_warnx("%s#%ld: worker %d of a previous run did not stop: killing it",
		    repo->name, number, (int)pid);
		if (pid > 0)
			kill(pid, SIGKILL);
		if (!lock_released(path, ORPHAN_GRACE_MS))
			log_warnx("%s#%ld: its lock is still held: its next worker waits for it",
			    repo->name, number);
	}
	free(path);
}

/*
 * The exec'd recovery (waved --recover, common/job.h): ask git, do what it
 * says, answer "recovered" on the pipe, and go.  Run by the supervisor's
 * binary in a process of its own, so a crashed attempt's repository is
 * looked at by a process that holds nothing of the supervisor's.
 */
void
recover_main_exec(void)
{
	static struct worker_job job;
	struct proto_msg m = { .type = PROTO_RECOVERED };
	struct recover_decision d;
	struct recover_input in;
	sigset_t none;
	char err[512];

	/* The supervisor's mask is for its signalfd: a TERM ends us. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (job_read(JOB_FD, JOB_RECOVER, &job, err, sizeof(err)) == -1) {
		log_warnx("recovery: its job on descriptor %d: %s", JOB_FD, err);
		_exit(1);
	}
	close(JOB_FD);
	if (getppid() != job.supervisor)
		_exit(1);	/* the supervisor died before PDEATHSIG was set */
	setproctitle("recover %s", job.issue);
	in = (struct recover_input){
		.cfg = job.cfg, .repo = job.repo, .number = job.number,
		.base = job.base[0] ? job.base : NULL, .final = job.final[0] ? job.final : NULL,
		.marker = job.has_marker ? &job.marker : NULL,
	};
	recover_evaluate(&in, &d);
	recover_carry_out(&in, &d);
	m.action = d.action;
	m.resume = d.resume;
	strlcpy(m.sha, d.landed, sizeof(m.sha));
	_exit(proto_send(JOB_PIPE_FD, &m) == 0 ? 0 : 1);
}
