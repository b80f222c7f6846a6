#include "supervisor/workers.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "common/job.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/proto.h"
#include "supervisor/cgroup_tree.h"
#include "supervisor/children.h"
#include "supervisor/exec_self.h"
#include "supervisor/flight.h"

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

/* Track a child of ours that speaks the protocol on fd (the read end). */
static void
proc_add(struct workers *w, pid_t pid, size_t issue, int fd, int gate, enum child_type type,
    const char *key)
{
	fcntl(fd, F_SETFL, O_NONBLOCK);
	if (gate != -1)
		fcntl(gate, F_SETFL, O_NONBLOCK);
	grow_array((void **)&w->v, &w->cap, w->n + 1, sizeof(*w->v));
	w->v[w->n++] = (struct worker_proc){
		.pid = pid, .issue = issue, .fd = fd, .gate = gate, .type = type,
		/* A recovery says "recovered" and nothing else. */
		.hello = type == CHILD_RECOVERY,
	};
	children_add(pid, type, key, proc_exited, w);
}

/*
 * The attempt's log, opened here to cross the exec with the pipe and the
 * gate (DESIGN.md section 1): appending, as a resumed attempt goes on in the
 * same log, and readable, as a failure's reason quotes its tail.  A log that
 * cannot be opened is /dev/null, as it was when the worker opened it: the
 * attempt runs, unlogged, and the supervisor's log says why.
 */
static int
open_attempt_log(const struct workers *w, const struct sched_job *job)
{
	char *path = path_attempt_log(w->cfg, job->repo->name, job->number, job->attempt);
	char *dir = xstrdup(path);
	int fd;

	*strrchr(dir, '/') = '\0';
	if (mkdir_p(dir, 0755) == -1 ||
	    (fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) == -1) {
		log_warn("%s: attempt log %s", job->key, path);
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	}
	free(dir);
	free(path);
	return fd;
}

pid_t
workers_start(const struct sched_job *job, void *arg)
{
	struct workers *w = arg;
	struct worker_job wj = {
		.role = JOB_WORKER, .cfg = w->cfg, .repo = job->repo, .number = job->number,
		.title = job->title, .body = job->body, .attempt = job->attempt,
		.supervisor = getpid(), .resume = (enum resume_point)job->resume,
		.pr_conflict = job->pr_conflict,
	};
	long pool = job->pool ? config_pool(w->cfg, job->pool) : -1;
	int fds[2], gate[2], log_fd;
	pid_t pid;

	wj.pool = pool >= 0 ? &w->cfg->pools[pool] : NULL;
	strlcpy(wj.issue, job->key, sizeof(wj.issue));
	strlcpy(wj.trace, job->trace, sizeof(wj.trace));
	strlcpy(wj.base, job->base ? job->base : "", sizeof(wj.base));
	strlcpy(wj.pr_head, job->pr_head ? job->pr_head : "", sizeof(wj.pr_head));
	strlcpy(wj.pr_base, job->pr_base ? job->pr_base : "", sizeof(wj.pr_base));
	if (pipe2(fds, O_CLOEXEC) == -1) {
		log_warn("%s: pipe", job->key);
		return -1;
	}
	if (pipe2(gate, O_CLOEXEC) == -1) {
		log_warn("%s: pipe", job->key);
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if ((log_fd = open_attempt_log(w, job)) == -1) {
		log_warn("%s: /dev/null", job->key);
		close(fds[0]);
		close(fds[1]);
		close(gate[0]);
		close(gate[1]);
		return -1;
	}
	pid = exec_self(&wj, (const int[]){ fds[1], gate[0], log_fd }, w->cfg->source.pass_token);
	close(log_fd);
	close(fds[1]);
	close(gate[0]);
	if (pid == -1) {
		close(fds[0]);
		close(gate[1]);
		return -1;
	}
	proc_add(w, pid, job->issue, fds[0], gate[1], CHILD_WORKER, job->key);
	return pid;
}

/* A recovery: waved exec'd to ask git, do what it says and answer "recovered". */
pid_t
workers_evaluate(const struct recover_input *in, size_t issue, void *arg)
{
	struct workers *w = arg;
	const char *key = sched_issue_key(w->sched, issue);
	struct worker_job job = {
		.role = JOB_RECOVER, .cfg = in->cfg, .repo = in->repo, .number = in->number,
		.supervisor = getpid(), .has_marker = in->marker != NULL,
	};
	int fds[2];
	pid_t pid;

	strlcpy(job.issue, key, sizeof(job.issue));
	strlcpy(job.base, in->base ? in->base : "", sizeof(job.base));
	strlcpy(job.final, in->final ? in->final : "", sizeof(job.final));
	if (in->marker)
		job.marker = *in->marker;
	if (pipe2(fds, O_CLOEXEC) == -1) {
		log_warn("%s: pipe", key);
		return -1;
	}
	pid = exec_self(&job, (const int[]){ fds[1], -1, -1 }, false);
	close(fds[1]);
	if (pid == -1) {
		close(fds[0]);
		return -1;
	}
	proc_add(w, pid, issue, fds[0], -1, CHILD_RECOVERY, key);
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
	flight_on_failed(w->sched, p->issue, p->pid, reason);
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
		    flight_on_recovered(w->sched, p->issue, p->pid, &d) == -1)
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
	if (flight_on_message(w->sched, p->issue, p->pid, &m) == -1)
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
			flight_on_exit(w->sched, p->issue, p->pid, p->status, w->stopping);
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
		flight_on_failed(w->sched, p->issue, p->pid, why);
		free(why);
	}
}
