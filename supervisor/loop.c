#include "supervisor/loop.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <syslog.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "common/events.h"
#include "common/log.h"
#include "common/store.h"
#include "common/summary.h"
#include "supervisor/cgroup_tree.h"
#include "supervisor/children.h"
#include "supervisor/flight.h"
#include "supervisor/pollset.h"
#include "supervisor/preflight.h"
#include "supervisor/supervisor.h"


#define TRIM_AFTER_EVENTS 1000	/* a commit of this many events gives freed memory back */

/* ---- signals: a table of what each one does, run from the loop ---- */

static void
on_child(struct supervisor *sv)
{
	workers_reap(sv->workers);
}

static void
on_cap_down(struct supervisor *sv)
{
	admission_step(sv->admission, -1, "signal", "SIGUSR1");
}

static void
on_cap_up(struct supervisor *sv)
{
	admission_step(sv->admission, +1, "signal", "SIGUSR2");
}


static void
on_hangup(struct supervisor *sv)
{
	reload_request(sv, 0);
}

static void
begin_stop(struct supervisor *sv, const char *why)
{
	if (sv->stopping)
		return;
	log_info("stopping (%s): %zu worker%s to wait for, up to %d s", why,
	    workers_count(sv->workers), workers_count(sv->workers) == 1 ? "" : "s",
	    sv->cfg->stop_timeout);
	sv->stopping = true;
	sv->stop_deadline = mono_ms() + (int64_t)sv->cfg->stop_timeout * 1000;
	workers_stop(sv->workers);
}

static cJSON *
fields_why(const char *why)
{
	cJSON *f = cJSON_CreateObject();

	cJSON_AddStringToObject(f, "why", why);
	return f;
}

/*
 * --once: admit nothing more, not even a retry, and let every attempt in
 * flight run to its end (landed, failed or tempfail); then the summary and
 * exit with status.  Event draining.
 */
static void
begin_drain(struct supervisor *sv, const char *why, int status)
{
	if (sv->draining || sv->stopping)
		return;
	sv->draining = true;
	sv->exit_status = status;
	log_info("draining (%s): admitting nothing; %d in flight run to their end", why,
	    sched_inflight(sv->sched));
	journal_event(sv->journal, JOURNAL_DAEMON, "draining", fields_why(why));
}

static void
on_terminate(struct supervisor *sv)
{
	begin_stop(sv, "SIGTERM");
}

/*
 * SIGINT: to the daemon, as SIGTERM.  To waved --once, a person at the
 * terminal: the first drains, the second stops now (checkpointed and
 * resumable, as SIGTERM), a third no longer waits for the workers.
 */
static void
on_interrupt(struct supervisor *sv)
{
	if (!sv->opts->once) {
		begin_stop(sv, "SIGINT");
		return;
	}
	sv->interrupted = true;
	if (!sv->draining && !sv->stopping) {
		admission_set(sv->admission, 0, "signal", "SIGINT");
		begin_drain(sv, "SIGINT", EXIT_INTERRUPTED);
		return;
	}
	if (!sv->stopping) {
		begin_stop(sv, "second SIGINT");
		return;
	}
	log_warnx("SIGINT while stopping: killing workers and exiting");
	workers_kill(sv->workers);
	sv->finished = true;
}

/* needs_store: acts on state, so waits while the store cannot be written. */
static const struct {
	int signo;
	void (*action)(struct supervisor *);
	bool needs_store;
} signal_table[] = {
	{ SIGCHLD, on_child, true },
	{ SIGUSR1, on_cap_down, true },
	{ SIGUSR2, on_cap_up, true },
	{ SIGHUP, on_hangup, true },
	{ SIGTERM, on_terminate, false },
	{ SIGINT, on_interrupt, false },
};

/*
 * A write through the mapped -shm of a state database made unwritable in
 * the instant between the store's check and SQLite's write is a SIGBUS:
 * say so before dying (nothing is lost: the next start recovers from the
 * last commit and git).  syslog is not async-signal-safe, but this process
 * is ending either way.
 */
static void
on_bus_error(int signo)
{
	static const char msg[] = "waved: SIGBUS: the state database's shared memory "
	    "(waved.db-shm) stopped being writable during a write; exiting, the next start "
	    "recovers from the last commit\n";

	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		(void)0;
	syslog(LOG_ERR, "%s", msg);
	signal(signo, SIG_DFL);
	raise(signo);
}

/* Handlers do no work: every signal is read from a signalfd by the loop. */
static int
signals_open(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	for (size_t k = 0; k < ARRAY_LEN(signal_table); k++)
		sigaddset(&mask, signal_table[k].signo);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);	/* past a file size limit, a write fails: no death */
	signal(SIGBUS, on_bus_error);
	return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

/*
 * One dispatched event, one transaction: the loop opens it, everything the
 * event causes (states, rows, events) runs inside it, and it commits before
 * anything that follows from it (journal.h).  Nothing below the loop begins
 * or commits.
 */
static void
dispatch(struct supervisor *sv, void (*handler)(struct supervisor *, void *), void *arg)
{
	journal_begin(sv->journal);
	handler(sv, arg);
	journal_commit(sv->journal);
	/* A big unit (the first load of 10,000 issues) leaves its rendered
	 * events and cJSON trees freed but kept by malloc: give them back, or
	 * the steady state carries the peak (DESIGN.md section 15: 16 MiB). */
	if (journal_last_events(sv->journal) >= TRIM_AFTER_EVENTS)
		malloc_trim(0);
}

static void
run_signal(struct supervisor *sv, void *arg)
{
	signal_table[*(size_t *)arg].action(sv);
}

static void
signals_dispatch(struct supervisor *sv)
{
	struct signalfd_siginfo si;

	while (read(sv->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		for (size_t k = 0; k < ARRAY_LEN(signal_table); k++) {
			if ((int)si.ssi_signo != signal_table[k].signo)
				continue;
			if (signal_table[k].needs_store && journal_down(sv->journal))
				sv->deferred |= 1u << k;
			else
				dispatch(sv, run_signal, &k);
		}
}

/* The store is back: what waited for it, in the order it came. */
static void
catch_up(struct supervisor *sv, void *arg)
{
	(void)arg;
	/* A full disk took the store down: nothing was admitted meanwhile, and
	 * now the events say so; the disk check that follows lifts it if there
	 * is room again. */
	if (sv->disk_was_low) {
		sv->disk_was_low = false;
		admission_disk_full(sv->admission, true, "state_dir's disk filled up while the store was down");
		sv->next_disk_check = 0;
	}
	workers_resume(sv->workers);
}

static void
catch_up_signals(struct supervisor *sv)
{
	unsigned deferred = sv->deferred;

	sv->deferred = 0;
	for (size_t k = 0; k < ARRAY_LEN(signal_table); k++)
		if (deferred & (1u << k))
			dispatch(sv, run_signal, &k);
}

/* ---- the loop ---- */

static int
poll_timeout(const struct supervisor *sv)
{
	int64_t now = mono_ms(), wall = now_ms();
	int64_t retry = sched_next_deadline(sv->sched);	/* wall clock */
	int64_t until = workers_next_deadline(sv->workers);
	int64_t source = source_next_deadline(sv);
	int64_t hands = pressure_next_deadline(sv);

	if (retry != INT64_MAX && now + (retry - wall) < until)
		until = now + (retry - wall);
	if (sv->stopping && sv->stop_deadline < until)
		until = sv->stop_deadline;
	if (source < until)
		until = source;
	if (hands < until)
		until = hands;
	if (until <= now)
		return 0;
	return until - now > 60000 ? 60000 : (int)(until - now);
}

static void
update_title(struct supervisor *sv)
{
	char title[128];

	snprintf(title, sizeof(title), "supervisor [%d/%d in flight, cap %d]%s",
	    sched_inflight(sv->sched), admission_effective(sv->admission),
	    admission_configured(sv->admission), sv->stopping ? " stopping" : "");
	if (strcmp(title, sv->title) != 0) {
		strlcpy(sv->title, title, sizeof(sv->title));
		setproctitle("%s", title);
	}
}

/* --once: nothing can move any more, the source has been read, outcomes are reported. */
static bool
settled(const struct supervisor *sv)
{
	return source_settled(sv) && sched_settled(sv->sched);
}

/* ---- what the poll set's entries do: each its own transaction ---- */

static void
on_control(struct supervisor *sv, void *arg)
{
	control_ready(sv->control, arg);
}

static void
on_github(struct supervisor *sv, void *arg)
{
	github_dispatch(sv->github, arg, arg ? 1 : 0);	/* NULL: curl's timers alone */
}

static void
on_reload(struct supervisor *sv, void *arg)
{
	reload_dispatch(sv, arg, 1);
}

static void
on_usage(struct supervisor *sv, void *arg)
{
	usage_dispatch(sv->usage, arg, 1);
}

static void
on_source(struct supervisor *sv, void *arg)
{
	source_dispatch(sv, arg, 1);
}

static void
on_worker(struct supervisor *sv, void *arg)
{
	workers_readable(sv->workers, ((const struct pollfd *)arg)->fd);
}

static void
fd_signals(void *sv, const struct pollfd *pfd)
{
	(void)pfd;
	signals_dispatch(sv);	/* a transaction per signal, as each may wait for the store */
}

static void
fd_control(void *sv, const struct pollfd *pfd)
{
	dispatch(sv, on_control, (void *)pfd);	/* heard even while the store is down */
}

/* Each step may find the store gone: the rest waits for the next turn. */
#define WHEN_STORE_UP(name, handler)						\
	static void								\
	name(void *arg, const struct pollfd *pfd)				\
	{									\
		struct supervisor *sv = arg;					\
										\
		if (sched_can_act(sv->sched))					\
			dispatch(sv, handler, (void *)pfd);			\
	}
WHEN_STORE_UP(fd_worker, on_worker)
WHEN_STORE_UP(fd_github, on_github)
WHEN_STORE_UP(fd_reload, on_reload)
WHEN_STORE_UP(fd_usage, on_usage)
WHEN_STORE_UP(fd_source, on_source)

/* Add what a module's *_pollfds gives (at most max entries), served by fn. */
static void
add_fds(struct supervisor *sv, size_t max, size_t (*fill)(const void *, struct pollfd *),
    const void *owner, pollset_fn *fn)
{
	grow_array((void **)&sv->fds, &sv->fds_cap, max, sizeof(*sv->fds));
	pollset_add_all(sv->pollset, sv->fds, fill(owner, sv->fds), fn, sv);
}

/* The hands that watch the machine, then admission: who may start now. */
static void
on_admission(struct supervisor *sv, void *arg)
{
	(void)arg;
	pressure_check_memory(sv, mono_ms());
	pressure_check_disk(sv, mono_ms());
	usage_tick(sv->usage, &sv->cfg->usage, mono_ms());
	/* With a usage monitor, its first answer comes before the first admission. */
	if (sv->cfg->usage.command == NULL || usage_heard(sv->usage))
		sched_admit(sv->sched);
}

/* What is due by the clock: polls of the sources, watchdogs, backoffs. */
static void
on_timers(struct supervisor *sv, void *arg)
{
	(void)arg;
	if (sv->gh_source && !sv->stopping)
		source_github_tick(sv->gh_source);
	if (sv->pulls && !sv->stopping)
		pulls_tick(sv->pulls);
	workers_watchdog(sv->workers, mono_ms());
	source_tick(sv, mono_ms());
	sched_tick(sv->sched, now_ms());
	admission_budget_tick(sv->admission, now_ms(), false);
	if (!sv->stopping && mono_ms() >= sv->next_poll)
		source_poll(sv);
}

/* What each module would put in the poll array, through one type. */
static size_t
workers_fill(const void *w, struct pollfd *fds)
{
	return workers_pollfds(w, fds);
}

static size_t
control_fill(const void *c, struct pollfd *fds)
{
	return control_pollfds(c, fds);
}

static size_t
github_fill(const void *gh, struct pollfd *fds)
{
	return github_pollfds((struct github *)gh, fds);
}

static size_t
reload_fill(const void *r, struct pollfd *fds)
{
	return reload_pollfds(r, fds);
}

static size_t
usage_fill(const void *u, struct pollfd *fds)
{
	return usage_pollfds(u, fds);
}

static size_t
source_fill(const void *sv, struct pollfd *fds)
{
	return source_pollfds(sv, fds);
}

/*
 * While the store cannot be written the supervisor acts on nothing: it
 * admits nothing, reads no worker (each waits at its gate), talks to no
 * source, and only a stop is heard.  The journal retries its commit.
 */
static void
iterate_down(struct supervisor *sv)
{
	int64_t until = journal_next_retry(sv->journal), now = mono_ms();

	if (sv->stopping && sv->stop_deadline < until)
		until = sv->stop_deadline;
	sv->disk_was_low = sv->disk_was_low || disk_low(sv->cfg->state_dir, NULL);
	update_title(sv);
	pollset_clear(sv->pollset);
	pollset_add(sv->pollset, sv->signal_fd, POLLIN, fd_signals, sv);
	add_fds(sv, control_nfds(sv->control), control_fill, sv->control, fd_control);
	if (pollset_poll(sv->pollset, until <= now ? 0 : until - now > 1000 ? 1000 :
	    (int)(until - now)) == -1 && errno != EINTR)
		fatal("poll");
	pollset_dispatch(sv->pollset);
	control_sweep(sv->control);
}

static void
loop_iterate(struct supervisor *sv)
{
	struct pollset *ps = sv->pollset;

	if (!journal_ready(sv->journal)) {
		sv->was_down = true;
		iterate_down(sv);
		return;
	}
	if (sv->was_down) {
		sv->was_down = false;
		dispatch(sv, catch_up, NULL);
		catch_up_signals(sv);
	}
	if (!sv->stopping && !sv->draining && sched_can_act(sv->sched))
		dispatch(sv, on_admission, NULL);
	update_title(sv);
	if (sv->opts->once && !sv->stopping && !sv->draining && settled(sv))
		return;		/* nothing left to wait for */
	/*
	 * One poll, served in this order: every worker's pipe (a worker's last
	 * words before the SIGCHLD of its end), the signalfd, the control
	 * socket and its clients, GitHub's sockets, a reload's preflight, the
	 * usage command, the source's and the report's commands.
	 */
	pollset_clear(ps);
	add_fds(sv, workers_count(sv->workers), workers_fill, sv->workers, fd_worker);
	pollset_add(ps, sv->signal_fd, POLLIN, fd_signals, sv);
	add_fds(sv, control_nfds(sv->control), control_fill, sv->control, fd_control);
	if (sv->github)
		add_fds(sv, github_nfds(sv->github), github_fill, sv->github, fd_github);
	add_fds(sv, 1, reload_fill, sv->reload, fd_reload);
	add_fds(sv, 1, usage_fill, sv->usage, fd_usage);
	add_fds(sv, SOURCE_POLLFDS, source_fill, sv, fd_source);
	if (pollset_poll(ps, poll_timeout(sv)) == -1 && errno != EINTR)
		fatal("poll");
	pollset_dispatch(ps);
	control_sweep(sv->control);
	/* What comes due by the clock, whether a descriptor was ready or not. */
	if (sv->github && sched_can_act(sv->sched))
		dispatch(sv, on_github, NULL);
	if (sched_can_act(sv->sched))
		dispatch(sv, on_timers, NULL);
}

/*
 * Past stop_timeout the workers are killed; past kill_grace more the loop
 * ends whatever is left unrecorded (a store that cannot be written, a worker
 * that will not die): the next start recovers from its last commit and git.
 */
static void
stop_overdue(struct supervisor *sv)
{
	if (mono_ms() < sv->stop_deadline)
		return;
	if (!sv->killed) {
		log_warnx("stop_timeout passed: killing %zu worker%s", workers_count(sv->workers),
		    workers_count(sv->workers) == 1 ? "" : "s");
		workers_kill(sv->workers);
		sv->killed = true;
		sv->stop_deadline = mono_ms() + (int64_t)sv->cfg->kill_grace * 1000;
		return;
	}
	log_warnx("stopped with %d issue%s not recorded as ended: the next start recovers "
	    "them from the last commit and git", sched_inflight(sv->sched),
	    sched_inflight(sv->sched) == 1 ? "" : "s");
	sv->finished = true;
}

/* Decide whether the loop is over. */
static void
check_finished(struct supervisor *sv)
{
	if (sv->stopping && journal_down(sv->journal)) {
		/* Nothing can be recorded: wait for the workers, tell nothing, and
		 * leave the rest to the next start's recovery. */
		size_t left;

		/* Reaping may settle another child (the usage command, a report): its
		 * record is kept for the next start like the rest. */
		journal_begin(sv->journal);
		left = workers_forget_exited(sv->workers);
		journal_commit(sv->journal);
		if (left == 0) {
			log_warnx("stopped while the store cannot be written: the next start "
			    "recovers from its last commit and git");
			sv->finished = true;
		} else
			stop_overdue(sv);
		if (sv->finished && !sv->interrupted && !sv->draining)
			sv->exit_status = EXIT_SOME_FAILED;	/* what happened is not all recorded */
		return;
	}
	if (sv->stopping) {
		if (workers_count(sv->workers) == 0)
			sv->finished = true;
		else
			stop_overdue(sv);
		/* A drain (--exit-on-error's 1, Ctrl-C's 130) keeps the status it set. */
		if (sv->finished && sv->interrupted)
			sv->exit_status = EXIT_INTERRUPTED;
		else if (sv->finished && !sv->draining)
			sv->exit_status = EXIT_ALL_DONE;
	} else if (sv->draining) {
		sv->finished = sched_inflight(sv->sched) == 0 && workers_count(sv->workers) == 0;
	} else if (sv->opts->once && sv->opts->exit_on_error && sched_died(sv->sched) > 0) {
		journal_begin(sv->journal);
		begin_drain(sv, "an issue is dead (--exit-on-error)", EXIT_SOME_FAILED);
		journal_commit(sv->journal);
	} else if (sv->opts->once && source_settled(sv) && sched_budget_stuck(sv->sched) &&
	    workers_count(sv->workers) == 0) {
		/* Only the rolling day can move things on: come back later (EX_TEMPFAIL). */
		sv->finished = true;
		sv->budget_stopped = true;
		sv->exit_status = EXIT_TEMPFAIL;
	} else if (sv->opts->once && settled(sv)) {
		sv->finished = true;
		sv->exit_status = sched_all_done(sv->sched) && source_loaded(sv) ? EXIT_ALL_DONE :
		    EXIT_SOME_FAILED;
	}
}

/* State folder, store, event log and preflight; -1 with the reason logged. */
static int
open_state(struct supervisor *sv)
{
	struct strbuf errors = { 0 };
	char *path, *err = NULL;

	if (mkdir_p(sv->cfg->state_dir, 0750) == -1) {
		log_warn("state_dir %s", sv->cfg->state_dir);
		return -1;
	}
	path = xasprintf("%s/%s", sv->cfg->state_dir, STORE_FILE);
	sv->store = store_open(path, STORE_READWRITE, &err);
	free(path);
	if (sv->store == NULL) {
		log_warnx("%s", err);
		free(err);
		return -1;
	}
	/* Lines a crash left past the last commit say what never happened: cut them. */
	if (events_truncate_uncommitted(sv->cfg->state_dir, store_event_seq(sv->store)) == -1)
		log_warn("%s/%s: cutting uncommitted events", sv->cfg->state_dir, EVENTS_FILE);
	if ((sv->events = events_open(sv->cfg->state_dir)) == NULL) {
		log_warn("%s/%s", sv->cfg->state_dir, EVENTS_FILE);
		return -1;
	}
	events_set_seq(sv->events, store_event_seq(sv->store));
	sv->journal = journal_new(sv->store, sv->events);
	if (preflight_repos(sv->cfg, true, &errors) == -1 ||
	    preflight_runner(sv->cfg, &errors) == -1) {
		log_warnx_lines("preflight: ", errors.s);
		strbuf_free(&errors);
		return -1;
	}
	if (config_wants_github(sv->cfg) && source_open(sv) == -1)
		return -1;
	return 0;
}

/* A cgroup per attempt where one can be made (DESIGN.md section 19). */
static void
open_containment(const struct config *cfg)
{
	struct strbuf why = { 0 };

	if (cfg->cgroup && !cgroup_tree_open(cfg->state_dir, &why))
		log_info("no cgroup per attempt (%s): the subreaper contains the phases", why.s);
	strbuf_free(&why);
}

static void
close_state(struct supervisor *sv)
{
	control_close(sv->control);
	reload_free(sv->reload);
	usage_free(sv->usage);
	source_close(sv);
	sched_free(sv->sched);
	admission_free(sv->admission);
	workers_free(sv->workers);
	journal_free(sv->journal);
	events_close(sv->events);
	store_close(sv->store);
	if (sv->signal_fd != -1)
		close(sv->signal_fd);
	free(sv->fds);
	pollset_free(sv->pollset);
	children_free();
	config_free(sv->cfg);
	cgroup_tree_close();
}

/* The first turn: what the last run left in flight, then the source. */
static void
on_start(struct supervisor *sv, void *arg)
{
	(void)arg;
	admission_daemon_row(sv->admission, true);
	source_start(sv);
	sched_restart(sv->sched);
	flight_recover(sv->sched);
	cgroup_tree_remove_stale();	/* the orphans have ended: what they left goes */
	/* What the last 24 hours spent, before any admission. */
	admission_budget_tick(sv->admission, now_ms(), false);
	source_poll(sv);
}

int
loop_run(struct config *cfg, const struct loop_options *opts)
{
	struct supervisor sv = { .cfg = cfg, .opts = opts, .signal_fd = -1 };
	int cap = opts->cap > 0 ? opts->cap : config_effective_cap(cfg);
	cJSON *f;

	if (open_state(&sv) == -1 || (sv.signal_fd = signals_open()) == -1) {
		close_state(&sv);
		return EXIT_BAD_CONFIG;
	}
	open_containment(cfg);
	sv.pollset = pollset_new();
	sv.workers = workers_new();
	sv.reload = reload_new();
	sv.usage = pressure_usage_new(&sv);
	sv.admission = admission_new(cfg, sv.store, sv.journal, cap);
	sv.sched = sched_new(cfg, sv.store, sv.journal, sv.admission, workers_start, sv.workers);
	sched_set_gate(sv.sched, workers_open_gate, sv.workers);
	sched_set_evaluator(sv.sched, workers_evaluate, sv.workers);
	admission_set_memory_room(sv.admission, pressure_memory_room, &sv);
	sched_set_over_budget(sv.sched, workers_over_budget, sv.workers);
	workers_attach(sv.workers, sv.sched, cfg);
	if ((sv.control = control_open(cfg->state_dir, control_requests_handle, &sv)) == NULL) {
		log_warn("control socket %s/%s", cfg->state_dir, CONTROL_SOCKET);
		close_state(&sv);
		return EXIT_BAD_CONFIG;
	}
	f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "pid", getpid());
	cJSON_AddNumberToObject(f, "cap", cap);
	cJSON_AddBoolToObject(f, "once", opts->once);
	journal_begin(sv.journal);
	journal_event(sv.journal, JOURNAL_DAEMON, "started", f);
	journal_commit(sv.journal);
	log_info("started: %zu repo%s, cap %d", cfg->nrepos, cfg->nrepos == 1 ? "" : "s", cap);
	dispatch(&sv, on_start, NULL);
	while (!sv.finished) {
		loop_iterate(&sv);
		check_finished(&sv);
	}
	if (!journal_down(sv.journal)) {
		f = cJSON_CreateObject();
		cJSON_AddNumberToObject(f, "status", sv.exit_status);
		journal_begin(sv.journal);
		admission_daemon_row(sv.admission, false);
		journal_event(sv.journal, JOURNAL_DAEMON, "stopped", f);
		journal_commit(sv.journal);
	}
	/* What a landing left to do in the background (its branch deleted) ends first. */
	children_wait(CHILD_GIT, (int64_t)sv.cfg->git_timeout * 1000);
	log_info("stopped");
	/* Interrupted or drained: what was done and what was not, for the person
	 * at the terminal (as wavectl summary). */
	if (opts->once && (sv.interrupted || sv.draining || sv.budget_stopped))
		summary_print(sv.cfg, stdout, false);
	if (sv.budget_stopped) {
		char *line = admission_budget_describe(sv.admission, now_ms(),
		    sched_waiting(sv.sched));

		printf("%s\n", line);
		log_info("%s", line);
		free(line);
	}
	close_state(&sv);
	return sv.exit_status;
}
