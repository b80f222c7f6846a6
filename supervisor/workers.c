#include "supervisor/workers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "common/log.h"
#include "supervisor/github/client.h"
#include "common/proto.h"
#include "worker/worker.h"

#define WORKER_PIPE_FD 3	/* where the child finds its pipe */
#define WORKER_GATE_FD 4	/* and the read end of its gate */

struct worker_proc {
	pid_t pid;
	size_t issue;
	int fd;			/* read end; -1 once at EOF */
	int gate;		/* write end of the worker's gate: one byte lets it on; -1: none */
	bool evaluator;		/* a recovery child, not a worker: one "recovered", then gone */
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
	void (*others)(pid_t pid, int status, void *arg);
	void *others_arg;
	struct github *github;
};

void
workers_set_github(struct workers *w, struct github *gh)
{
	w->github = gh;
}

/*
 * In a forked child: no core dump, and no token it does not need (the
 * supervisor holds it for the GitHub source; phases get it only with
 * pass_token = yes).
 */
static void
drop_secrets(const struct workers *w)
{
	signal(SIGBUS, SIG_DFL);	/* the supervisor's handler speaks of its database */
	prctl(PR_SET_DUMPABLE, 0);
	if (!w->cfg->source.pass_token)
		github_wipe_in_child(w->github);
}

void
workers_set_others(struct workers *w, void (*fn)(pid_t pid, int status, void *arg), void *arg)
{
	w->others = fn;
	w->others_arg = arg;
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

/* In the child: keep only stdio, the pipe and the gate, then become the worker. */
static void __attribute__((noreturn))
become_worker(const struct workers *w, const struct sched_job *job, int pipe_fd, int gate_fd,
    pid_t supervisor)
{
	struct worker_job wj = {
		.cfg = w->cfg, .repo = job->repo, .number = job->number,
		.title = job->title, .body = job->body, .attempt = job->attempt,
		.pipe_fd = WORKER_PIPE_FD, .gate_fd = WORKER_GATE_FD, .supervisor = supervisor,
		.resume = (enum resume_point)job->resume,
	};
	long pool = job->pool ? config_pool(w->cfg, job->pool) : -1;

	wj.pool = pool >= 0 ? &w->cfg->pools[pool] : NULL;

	/* Neither may land on the other's number while being moved. */
	pipe_fd = fcntl(pipe_fd, F_DUPFD_CLOEXEC, WORKER_GATE_FD + 1);
	gate_fd = fcntl(gate_fd, F_DUPFD_CLOEXEC, WORKER_GATE_FD + 1);
	place_fd(pipe_fd, WORKER_PIPE_FD);
	place_fd(gate_fd, WORKER_GATE_FD);
	/* The database, the signalfd, other workers' pipes: the parent's, not ours. */
	closefrom(WORKER_GATE_FD + 1);
	drop_secrets(w);
	strlcpy(wj.issue, job->key, sizeof(wj.issue));
	strlcpy(wj.trace, job->trace, sizeof(wj.trace));
	strlcpy(wj.base, job->base ? job->base : "", sizeof(wj.base));
	strlcpy(wj.pr_head, job->pr_head ? job->pr_head : "", sizeof(wj.pr_head));
	strlcpy(wj.pr_base, job->pr_base ? job->pr_base : "", sizeof(wj.pr_base));
	wj.pr_conflict = job->pr_conflict;
	worker_main(&wj);
}

pid_t
workers_start(const struct sched_job *job, void *arg)
{
	struct workers *w = arg;
	pid_t parent = getpid(), pid;
	int fds[2], gate[2];

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
	if ((pid = fork()) == -1) {
		log_warn("%s: fork", job->key);
		close(fds[0]);
		close(fds[1]);
		close(gate[0]);
		close(gate[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		close(gate[1]);
		become_worker(w, job, fds[1], gate[0], parent);
	}
	close(fds[1]);
	close(gate[0]);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(gate[1], F_SETFL, O_NONBLOCK);
	grow_array((void **)&w->v, &w->cap, w->n + 1, sizeof(*w->v));
	w->v[w->n] = (struct worker_proc){
		.pid = pid, .issue = job->issue, .fd = fds[0], .gate = gate[1],
	};
	w->n++;
	return pid;
}

/* In the recovery child: ask git, do what it says, answer, and go. */
static void __attribute__((noreturn))
become_evaluator(const struct workers *w, const struct recover_input *in, const char *key,
    int pipe_fd)
{
	struct recover_decision d;
	struct proto_msg m = { .type = PROTO_RECOVERED };
	sigset_t none;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);	/* the supervisor's mask is for its signalfd */
	place_fd(fcntl(pipe_fd, F_DUPFD_CLOEXEC, WORKER_PIPE_FD + 1), WORKER_PIPE_FD);
	closefrom(WORKER_PIPE_FD + 1);
	drop_secrets(w);
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
		become_evaluator(w, in, key, fds[1]);
	}
	close(fds[1]);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	grow_array((void **)&w->v, &w->cap, w->n + 1, sizeof(*w->v));
	w->v[w->n++] = (struct worker_proc){
		.pid = pid, .issue = issue, .fd = fds[0], .gate = -1, .evaluator = true,
		.hello = true,
	};
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
		if (w->v[k].pid == pid && !w->v[k].evaluator && kill(pid, SIGUSR1) == -1)
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
	if (p->evaluator || m.type == PROTO_RECOVERED) {
		struct recover_decision d = { .action = m.action, .resume = m.resume };

		strlcpy(d.landed, m.sha, sizeof(d.landed));
		if (!p->evaluator || m.type != PROTO_RECOVERED ||
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

/* Mark the children that have exited; those that are not ours are only reaped. */
static void
mark_exited(struct workers *w)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		size_t k;

		for (k = 0; k < w->n && w->v[k].pid != pid; k++)
			;
		if (k < w->n) {
			w->v[k].exited = true;
			w->v[k].status = status;
		} else if (w->others)
			w->others(pid, status, w->others_arg);
	}
}

void
workers_reap(struct workers *w)
{
	mark_exited(w);
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
	mark_exited(w);
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
