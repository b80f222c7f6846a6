#include "supervisor/workers.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "common/job.h"
#include "common/log.h"
#include "common/proto.h"
#include "supervisor/cgroup_tree.h"
#include "supervisor/children.h"

#define WORKER_PIPE_FD 3	/* where a recovery child finds its pipe */

extern char **environ;

_Static_assert(JOB_GATE_FD == JOB_PIPE_FD + 1 && JOB_FD == JOB_PIPE_FD + 2,
    "spawn_worker places the worker's descriptors in a row");

struct worker_proc {
	pid_t pid;
	size_t issue;
	int fd;			/* read end; -1 once at EOF */
	int gate;		/* write end of the worker's gate: one byte lets it on; -1: none */
	enum child_type type;	/* CHILD_RECOVERY: one "recovered", then gone */
	bool exited;		/* reaped; its exit waits to be told (the store was down) */
	int status;
	char buf[2 * PROTO_MAX_LINE];
	size_t len;
	bool hello;		/* the first message was seen */
	bool broken;		/* killed for a protocol error */
	pid_t phase_pgid;	/* the running phase's group, 0 between phases */
	int64_t watchdog;	/* monotonic ms by which the phase must have ended; 0: none */
	char phase[16];
};

/*
 * The worker enforces phase timeouts itself; the supervisor's watchdog is for
 * a worker that cannot (stuck, stopped): past timeout, the kill grace and
 * this margin, it is killed with its phase.
 */
#define WATCHDOG_MARGIN_MS 30000

struct workers {
	struct sched *sched;
	const struct config *cfg;
	struct worker_proc *v;
	size_t n, cap;
	bool stopping;
};

/* Reaped (children.c): its exit is told once its last words are read. */
static void
proc_exited(pid_t pid, int status, void *arg)
{
	struct workers *w = arg;

	for (size_t k = 0; k < w->n; k++)
		if (w->v[k].pid == pid) {
			w->v[k].exited = true;
			w->v[k].status = status;
		}
	/* A worker SIGKILLed mid-phase left its attempt running: it ends here. */
	cgroup_tree_end_attempt(pid);
}

struct workers *
workers_new(void)
{
	return xcalloc(1, sizeof(struct workers));
}

/* Its pipe and gate, closed. */
static void
proc_close(struct worker_proc *p)
{
	if (p->fd != -1)
		close(p->fd);
	if (p->gate != -1)
		close(p->gate);
	p->fd = p->gate = -1;
}

void
workers_free(struct workers *w)
{
	if (w == NULL)
		return;
	for (size_t k = 0; k < w->n; k++)
		proc_close(&w->v[k]);
	free(w->v);
	config_release(w->cfg);
	free(w);
}

void
workers_attach(struct workers *w, struct sched *s, const struct config *cfg)
{
	w->sched = s;
	config_release(w->cfg);
	w->cfg = config_hold(cfg);
}

/* Put fd at want (both close-on-exec: never into a phase). */
static void
place_fd(int fd, int want)
{
	if (fd != want) {
		dup3(fd, want, O_CLOEXEC);
		close(fd);
	} else
		fcntl(want, F_SETFD, FD_CLOEXEC);
}

/* The environment a worker is exec'd with: ours, without the token unless pass_token. */
static char **
worker_env(const struct workers *w)
{
	size_t n = 0, cap = 0;
	char **env = NULL;

	for (char **e = environ; *e; e++) {
		if (!w->cfg->source.pass_token && strncmp(*e, "GITHUB_TOKEN=", 13) == 0)
			continue;
		grow_array((void **)&env, &cap, n + 2, sizeof(*env));
		env[n++] = *e;
	}
	grow_array((void **)&env, &cap, n + 1, sizeof(*env));
	env[n] = NULL;
	return env;
}

/*
 * What a worker is exec'd as: waved's own binary, the one this supervisor
 * runs.  /proc/self/exe in the spawned child is the mm it shares with us
 * until its exec: the file we were started from, even once an upgrade has
 * replaced it on disk (a worker of another version would speak another
 * protocol).
 */
#define SELF_EXE "/proc/self/exe"

/*
 * Spawn waved in worker mode: only stdio, the pipe, the gate and the job
 * cross the exec (at fixed numbers, not close-on-exec); the database, the
 * signalfd, other workers' pipes stay the parent's.  The signal mask
 * crosses too: a stop asked for before the worker opens its signalfd waits
 * for it there.
 *
 * posix_spawn, not fork: its child shares our memory until it execs
 * (vfork), where a fork copied the page tables and left every page of the
 * supervisor copy-on-write, so that the transaction recording the admission
 * took a page fault on each page it touched (two thirds of the
 * supervisor's page faults, and milliseconds between an issue's done and
 * the next admission).  An exec that fails is told here, not by a worker
 * exiting 127.
 */
static pid_t
spawn_worker(const char *key, int pipe_fd, int gate_fd, int job_fd, char **env)
{
	char *argv[] = { "waved", JOB_WORKER_FLAG, NULL };
	int from[] = { pipe_fd, gate_fd, job_fd }, moved[ARRAY_LEN(from)];
	posix_spawn_file_actions_t fa;
	pid_t pid = -1;
	int rc = 0;

	/* Out of the way first: none may land on another's number while placed. */
	for (size_t k = 0; k < ARRAY_LEN(from); k++)
		moved[k] = -1;
	for (size_t k = 0; k < ARRAY_LEN(from) && rc == 0; k++)
		if ((moved[k] = fcntl(from[k], F_DUPFD_CLOEXEC, JOB_FD + 1)) == -1)
			rc = errno;
	if (rc == 0 && (rc = posix_spawn_file_actions_init(&fa)) == 0) {
		for (size_t k = 0; k < ARRAY_LEN(from) && rc == 0; k++)
			rc = posix_spawn_file_actions_adddup2(&fa, moved[k], JOB_PIPE_FD + (int)k);
		if (rc == 0)
			rc = posix_spawn_file_actions_addclosefrom_np(&fa, JOB_FD + 1);
		if (rc == 0)
			rc = posix_spawn(&pid, SELF_EXE, &fa, NULL, argv, env);
		posix_spawn_file_actions_destroy(&fa);
	}
	for (size_t k = 0; k < ARRAY_LEN(from); k++)
		if (moved[k] != -1)
			close(moved[k]);
	if (rc != 0) {
		errno = rc;
		log_warn("%s: spawn waved (%s) for its worker", key, SELF_EXE);
		return -1;
	}
	return pid;
}

pid_t
workers_start(const struct sched_job *job, void *arg)
{
	struct workers *w = arg;
	struct worker_job wj = {
		.cfg = w->cfg, .repo = job->repo, .number = job->number,
		.title = job->title, .body = job->body, .attempt = job->attempt,
		.supervisor = getpid(), .resume = (enum resume_point)job->resume,
		.pr_conflict = job->pr_conflict,
	};
	long pool = job->pool ? config_pool(w->cfg, job->pool) : -1;
	int fds[2], gate[2], job_fd;
	char **env;
	pid_t pid;

	wj.pool = pool >= 0 ? &w->cfg->pools[pool] : NULL;
	strlcpy(wj.issue, job->key, sizeof(wj.issue));
	strlcpy(wj.trace, job->trace, sizeof(wj.trace));
	strlcpy(wj.base, job->base ? job->base : "", sizeof(wj.base));
	strlcpy(wj.pr_head, job->pr_head ? job->pr_head : "", sizeof(wj.pr_head));
	strlcpy(wj.pr_base, job->pr_base ? job->pr_base : "", sizeof(wj.pr_base));
	if ((job_fd = job_write(&wj)) == -1)
		return -1;
	if (pipe2(fds, O_CLOEXEC) == -1) {
		log_warn("%s: pipe", job->key);
		close(job_fd);
		return -1;
	}
	if (pipe2(gate, O_CLOEXEC) == -1) {
		log_warn("%s: pipe", job->key);
		close(fds[0]);
		close(fds[1]);
		close(job_fd);
		return -1;
	}
	env = worker_env(w);
	pid = spawn_worker(job->key, fds[1], gate[0], job_fd, env);
	free(env);
	close(job_fd);
	close(fds[1]);
	close(gate[0]);
	if (pid == -1) {
		close(fds[0]);
		close(gate[1]);
		return -1;
	}
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(gate[1], F_SETFL, O_NONBLOCK);
	grow_array((void **)&w->v, &w->cap, w->n + 1, sizeof(*w->v));
	w->v[w->n] = (struct worker_proc){
		.pid = pid, .issue = job->issue, .fd = fds[0], .gate = gate[1], .type = CHILD_WORKER,
	};
	w->n++;
	children_add(pid, CHILD_WORKER, job->key, proc_exited, w);
	return pid;
}

/* In the recovery child: ask git, do what it says, answer, and go. */
static void __attribute__((noreturn))
become_evaluator(const struct recover_input *in, const char *key, int pipe_fd)
{
	struct recover_decision d;
	struct proto_msg m = { .type = PROTO_RECOVERED };
	sigset_t none;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);	/* the supervisor's mask is for its signalfd */
	place_fd(fcntl(pipe_fd, F_DUPFD_CLOEXEC, WORKER_PIPE_FD + 1), WORKER_PIPE_FD);
	closefrom(WORKER_PIPE_FD + 1);
	/* No core dump, and no reading of its memory by another process of
	 * ours: it was forked, not exec'd, and holds what the supervisor held. */
	signal(SIGBUS, SIG_DFL);	/* the supervisor's handler speaks of its database */
	prctl(PR_SET_DUMPABLE, 0);
	setproctitle("recover %s", key);
	recover_evaluate(in, &d);
	recover_carry_out(in, &d);
	m.action = d.action;
	m.resume = d.resume;
	strlcpy(m.sha, d.landed, sizeof(m.sha));
	_exit(proto_send(WORKER_PIPE_FD, &m) == 0 ? 0 : 1);
}

pid_t
workers_evaluate(const struct recover_input *in, size_t issue, void *arg)
{
	struct workers *w = arg;
	const char *key = sched_issue_key(w->sched, issue);
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		log_warn("%s: pipe", key);
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("%s: fork", key);
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		become_evaluator(in, key, fds[1]);
	}
	close(fds[1]);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	grow_array((void **)&w->v, &w->cap, w->n + 1, sizeof(*w->v));
	w->v[w->n++] = (struct worker_proc){
		.pid = pid, .issue = issue, .fd = fds[0], .gate = -1, .type = CHILD_RECOVERY,
		.hello = true,
	};
	children_add(pid, CHILD_RECOVERY, key, proc_exited, w);
	return pid;
}

void
workers_open_gate(pid_t pid, void *arg)
{
	struct workers *w = arg;

	for (size_t k = 0; k < w->n; k++)
		if (w->v[k].pid == pid && write(w->v[k].gate, "g", 1) != 1)
			log_warn("worker %d: gate", (int)pid);
}

/* The issue of worker pid passed its budget: SIGUSR1 stops its phase (with its grace). */
void
workers_over_budget(pid_t pid, void *arg)
{
	struct workers *w = arg;

	for (size_t k = 0; k < w->n; k++)
		if (w->v[k].pid == pid && w->v[k].type == CHILD_WORKER && kill(pid, SIGUSR1) == -1)
			log_warn("worker %d: over budget", (int)pid);
}

size_t
workers_pollfds(const struct workers *w, struct pollfd *fds)
{
	size_t n = 0;

	for (size_t k = 0; k < w->n; k++)
		if (w->v[k].fd != -1 && !w->v[k].exited)
			fds[n++] = (struct pollfd){ .fd = w->v[k].fd, .events = POLLIN };
	return n;
}

size_t
workers_count(const struct workers *w)
{
	return w->n;
}

static void
kill_worker(struct worker_proc *p)
{
	kill(p->pid, SIGKILL);
	if (p->phase_pgid > 0)
		kill(-p->phase_pgid, SIGKILL);
}

static void
protocol_error(struct workers *w, struct worker_proc *p, const char *why)
{
	struct log_ctx ctx = { sched_issue_key(w->sched, p->issue), 0, NULL };
	char *reason;

	log_issue_warnx(&ctx, "worker %d: protocol error: %s", (int)p->pid, why);
	p->broken = true;
	kill_worker(p);
	reason = xasprintf("protocol error: %s", why);
	sched_on_worker_failed(w->sched, p->issue, p->pid, reason);
	free(reason);
}

static void
arm_watchdog(const struct workers *w, struct worker_proc *p, const struct proto_msg *m)
{
	p->phase_pgid = m->end ? 0 : (pid_t)m->pgid;
	p->watchdog = 0;
	if (m->end)
		return;
	strlcpy(p->phase, m->phase, sizeof(p->phase));
	for (int id = 0; id < PHASE_COUNT; id++)
		if (strcmp(phase_name(id), m->phase) == 0)
			p->watchdog = mono_ms() + (int64_t)w->cfg->phases[id].timeout * 1000 +
			    (int64_t)w->cfg->kill_grace * 2000 + WATCHDOG_MARGIN_MS;
}

static void
handle_line(struct workers *w, struct worker_proc *p, const char *line)
{
	struct proto_msg m;
	char err[256];

	if (p->broken)
		return;
	if (proto_parse(line, &m, err, sizeof(err)) == -1) {
		protocol_error(w, p, err);
		return;
	}
	if (p->type == CHILD_RECOVERY || m.type == PROTO_RECOVERED) {
		struct recover_decision d = { .action = m.action, .resume = m.resume };

		strlcpy(d.landed, m.sha, sizeof(d.landed));
		if (p->type != CHILD_RECOVERY || m.type != PROTO_RECOVERED ||
		    sched_on_recovered(w->sched, p->issue, p->pid, &d) == -1)
			protocol_error(w, p, "a message out of sequence");
		return;
	}
	if (p->hello == (m.type == PROTO_HELLO)) {
		protocol_error(w, p, p->hello ? "a second hello" : "the first message is not hello");
		return;
	}
	p->hello = true;
	if (m.type == PROTO_HELLO && m.pid != p->pid) {
		protocol_error(w, p, "hello from a different pid");
		return;
	}
	if (m.type == PROTO_PHASE)
		arm_watchdog(w, p, &m);
	if (sched_on_message(w->sched, p->issue, p->pid, &m) == -1)
		protocol_error(w, p, "a message out of sequence");
}

/* Handle the complete lines read so far, while the scheduler can act on them. */
static void
handle_lines(struct workers *w, struct worker_proc *p)
{
	char *nl;

	while (sched_can_act(w->sched) && (nl = memchr(p->buf, '\n', p->len)) != NULL) {
		*nl = '\0';
		handle_line(w, p, p->buf);
		p->len -= (size_t)(nl + 1 - p->buf);
		memmove(p->buf, nl + 1, p->len);
	}
}

/*
 * Read what is there; split into lines; at EOF close the pipe.  While the
 * store is down nothing is read: what the worker says waits in the pipe and
 * in the buffer until it can be recorded.
 */
static void
drain(struct workers *w, struct worker_proc *p)
{
	handle_lines(w, p);
	while (p->fd != -1 && sched_can_act(w->sched)) {
		ssize_t n = read(p->fd, p->buf + p->len, sizeof(p->buf) - p->len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close(p->fd);
			p->fd = -1;
			if (p->len > 0 && !p->broken)
				protocol_error(w, p, "a message without its newline");
			/* A worker without its pipe can report nothing more: end it. */
			if (!p->exited)
				kill_worker(p);
			return;
		}
		p->len += (size_t)n;
		handle_lines(w, p);
		if (p->len >= PROTO_MAX_LINE && !p->broken) {
			protocol_error(w, p, "a message longer than the limit");
			p->len = 0;
		}
	}
}

void
workers_readable(struct workers *w, int fd)
{
	for (size_t k = 0; k < w->n; k++)
		if (w->v[k].fd == fd) {
			drain(w, &w->v[k]);
			return;
		}
}

/* Tell the scheduler of each reaped worker, its last words first. */
static void
settle_exits(struct workers *w)
{
	for (size_t k = 0; k < w->n && sched_can_act(w->sched); ) {
		struct worker_proc *p = &w->v[k];

		if (!p->exited) {
			k++;
			continue;
		}
		drain(w, p);	/* its last words may still be in the pipe */
		if (!sched_can_act(w->sched))
			return;
		proc_close(p);
		/* A worker killed in a phase cannot end that phase's group: we do. */
		if (p->phase_pgid > 0)
			kill(-p->phase_pgid, SIGKILL);
		if (!p->broken)
			sched_on_worker_exit(w->sched, p->issue, p->pid, p->status, w->stopping);
		w->v[k] = w->v[--w->n];
	}
}

void
workers_reap(struct workers *w)
{
	children_reap();
	settle_exits(w);
}

void
workers_resume(struct workers *w)
{
	for (size_t k = 0; k < w->n && sched_can_act(w->sched); k++)
		handle_lines(w, &w->v[k]);
	workers_reap(w);
}

size_t
workers_forget_exited(struct workers *w)
{
	children_reap();
	for (size_t k = w->n; k-- > 0;)
		if (w->v[k].exited) {
			proc_close(&w->v[k]);
			w->v[k] = w->v[--w->n];
		}
	return w->n;
}

void
workers_stop(struct workers *w)
{
	w->stopping = true;
	for (size_t k = 0; k < w->n; k++)
		kill(w->v[k].pid, SIGTERM);
}

void
workers_kill(struct workers *w)
{
	for (size_t k = 0; k < w->n; k++)
		kill_worker(&w->v[k]);
}

int64_t
workers_next_deadline(const struct workers *w)
{
	int64_t next = INT64_MAX;

	for (size_t k = 0; k < w->n; k++)
		if (w->v[k].watchdog && !w->v[k].broken && w->v[k].watchdog < next)
			next = w->v[k].watchdog;
	return next;
}

void
workers_watchdog(struct workers *w, int64_t now)
{
	for (size_t k = 0; k < w->n; k++) {
		struct worker_proc *p = &w->v[k];
		char *why;

		if (!p->watchdog || p->broken || now < p->watchdog)
			continue;
		why = xasprintf("watchdog: the worker did not end its %s phase after its timeout",
		    p->phase);
		log_issue_warnx(&(struct log_ctx){ sched_issue_key(w->sched, p->issue), 0, NULL },
		    "%s; killing worker %d", why, (int)p->pid);
		p->broken = true;
		kill_worker(p);
		sched_on_worker_failed(w->sched, p->issue, p->pid, why);
		free(why);
	}
}
