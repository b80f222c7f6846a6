#include "supervisor/loop.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "common/events.h"
#include "common/log.h"
#include "common/store.h"
#include "supervisor/control.h"
#include "supervisor/preflight.h"
#include "supervisor/sched.h"
#include "common/github.h"
#include "supervisor/source_file.h"
#include "supervisor/source_github.h"
#include "supervisor/workers.h"

struct supervisor {
	struct config *cfg;
	const struct loop_options *opts;
	struct store *store;
	struct events *events;
	struct sched *sched;
	struct workers *workers;
	struct control *control;
	struct github *github;		/* with [source] type = github */
	struct source_github *gh_source;
	int reports;			/* outcomes being reported to GitHub */
	bool report_again;		/* a report failed: try the unreported ones again */
	int paused_from;		/* the effective cap before a pause */
	int signal_fd;
	struct pollfd *fds;		/* the signalfd and every worker's pipe */
	size_t fds_cap;
	int64_t next_poll;		/* monotonic ms */
	bool stopping;
	int64_t stop_deadline;		/* monotonic ms */
	bool finished;
	int exit_status;
	char title[128];
};

/* ---- signals: a table of what each one does, run from the loop ---- */

static void
on_child(struct supervisor *sv)
{
	workers_reap(sv->workers);
}

static void
on_cap_down(struct supervisor *sv)
{
	sched_cap_step(sv->sched, -1, "SIGUSR1");
}

static void
on_cap_up(struct supervisor *sv)
{
	sched_cap_step(sv->sched, +1, "SIGUSR2");
}

static void reload(struct supervisor *sv);

static void
on_hangup(struct supervisor *sv)
{
	reload(sv);
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

static void
on_terminate(struct supervisor *sv)
{
	begin_stop(sv, "SIGTERM");
}

static void
on_interrupt(struct supervisor *sv)
{
	if (!sv->stopping) {
		begin_stop(sv, "SIGINT");
		return;
	}
	/* A second interrupt: the operator wants out now. */
	log_warnx("second SIGINT: killing workers and exiting");
	workers_kill(sv->workers);
	sv->finished = true;
	sv->exit_status = EXIT_INTERRUPTED;
}

static const struct {
	int signo;
	void (*action)(struct supervisor *);
} signal_table[] = {
	{ SIGCHLD, on_child },
	{ SIGUSR1, on_cap_down },
	{ SIGUSR2, on_cap_up },
	{ SIGHUP, on_hangup },
	{ SIGTERM, on_terminate },
	{ SIGINT, on_interrupt },
};

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
	return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void
signals_dispatch(struct supervisor *sv)
{
	struct signalfd_siginfo si;

	while (read(sv->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		for (size_t k = 0; k < ARRAY_LEN(signal_table); k++)
			if ((int)si.ssi_signo == signal_table[k].signo)
				signal_table[k].action(sv);
}

/* ---- the issue source ---- */

/* Read the source and hand it to the scheduler; a failed read drops nothing. */
static void
poll_source(struct supervisor *sv)
{
	struct issue_list issues = { 0 };

	if (sv->gh_source) {
		source_github_poll_all(sv->gh_source);	/* answers arrive through the loop */
		sv->next_poll = INT64_MAX;
		return;
	}
	struct strbuf problems = { 0 };
	int rc = source_file_load(sv->cfg->source.path, sv->cfg, &issues, &problems);


	log_warnx_lines("", problems.s);
	strbuf_free(&problems);
	if (rc == 0 && sched_sync(sv->sched, &issues) == -1)
		log_warnx("some issues could not be recorded in the store");
	issue_list_clear(&issues);
	/* Parsing a large issues file leaves free heap behind: give it back. */
	malloc_trim(0);
	sv->next_poll = mono_ms() + (int64_t)sv->cfg->poll_interval * 1000;
}

static void report_unreported(const struct store_issue_row *row, void *arg);

/* A GitHub poll delivered every repo's latest good issues. */
static void
github_issues(const struct issue_list *issues, void *arg)
{
	struct supervisor *sv = arg;

	if (sched_sync(sv->sched, issues) == -1)
		log_warnx("some issues could not be recorded in the store");
	/* GitHub answers again: what could not be reported before goes out now. */
	if (sv->report_again && sv->reports == 0) {
		sv->report_again = false;
		store_each_issue(sv->store, report_unreported, sv);
	}
}

struct landed {
	const char *repo;
	long *numbers;
	size_t n, cap;
};

static void
collect_landed(const struct store_issue_row *row, void *arg)
{
	struct landed *l = arg;

	if (strcmp(row->repo, l->repo) == 0 && strcmp(row->state, "done") == 0) {
		grow_array((void **)&l->numbers, &l->cap, l->n + 1, sizeof(long));
		l->numbers[l->n++] = row->number;
	}
}

static void
github_reported(const char *repo, long number, const char *outcome, bool ok, void *arg)
{
	struct supervisor *sv = arg;

	sv->reports--;
	if (!ok) {
		sv->report_again = true;	/* after the next successful poll */
		return;
	}
	store_set_reported(sv->store, repo, number, outcome);
	if (strcmp(outcome, "done") == 0 && sv->cfg->source.open_pr) {
		struct landed l = { .repo = repo };

		store_each_issue(sv->store, collect_landed, &l);
		source_github_update_pr(sv->gh_source, repo, l.numbers, l.n);
		free(l.numbers);
	}
}

/* done or dead: say so on the issue (once: the source checks for its marker). */
static void
report_outcome(const struct sched_outcome *o, void *arg)
{
	struct supervisor *sv = arg;
	char *text;

	if (sv->gh_source == NULL)
		return;
	if (strcmp(o->outcome, "done") == 0)
		text = xasprintf("waved: done. Landed on `%s` in %s after %d attempt%s.",
		    sv->cfg->agent_branch, o->final && *o->final ? o->final : "(already there)",
		    o->attempts, o->attempts == 1 ? "" : "s");
	else
		text = xasprintf("waved: gave up after %d attempt%s: %s", o->attempts,
		    o->attempts == 1 ? "" : "s", o->reason ? o->reason : "no reason recorded");
	sv->reports++;
	source_github_report(sv->gh_source, o->repo, o->number, o->outcome, text,
	    github_reported, sv);
	free(text);
}

/* Outcomes a previous run reached but did not get to report. */
static void
report_unreported(const struct store_issue_row *row, void *arg)
{
	struct supervisor *sv = arg;
	bool done = strcmp(row->state, "done") == 0;
	struct sched_outcome o = {
		.repo = row->repo, .number = row->number, .outcome = row->state,
		.attempts = row->attempts, .final = row->final_commit, .reason = row->reason,
	};

	if ((done || strcmp(row->state, "dead") == 0) &&
	    (row->reported == NULL || strcmp(row->reported, row->state) != 0))
		report_outcome(&o, sv);
}

/* SIGHUP: a new configuration (if it is valid) and a fresh look at the source. */
static void
reload(struct supervisor *sv)
{
	char *errors = NULL, *why = NULL;
	struct config *cfg = config_load(sv->opts->config_path, &errors);
	int old_cap = sched_cap(sv->sched);

	if (cfg == NULL) {
		log_warnx_lines("reload: ", errors);
		log_warnx("reload: keeping the running configuration");
		free(errors);
		return;
	}
	if (strcmp(cfg->state_dir, sv->cfg->state_dir) != 0) {
		log_warnx("reload: state_dir changed: it takes effect at the next start");
		free(cfg->state_dir);
		cfg->state_dir = xstrdup(sv->cfg->state_dir);
	}
	struct strbuf errors_pf = { 0 };
	if (preflight_repos(cfg, true, &errors_pf) == -1) {
		log_warnx_lines("reload: preflight: ", errors_pf.s);
		log_warnx("reload: keeping the running configuration");
		strbuf_free(&errors_pf);
		config_free(cfg);
		return;
	}
	if (!sched_reconfigure(sv->sched, cfg, &why)) {
		log_warnx("reload: %s; keeping the running configuration", why);
		free(why);
		config_free(cfg);
		return;
	}
	workers_attach(sv->workers, sv->sched, cfg);
	config_free(sv->cfg);
	sv->cfg = cfg;
	if (sv->opts->cap == 0 && config_effective_cap(cfg) != old_cap)
		sched_cap_limit(sv->sched, config_effective_cap(cfg), "SIGHUP");
	log_info("reloaded %s", sv->opts->config_path);
	poll_source(sv);
}

/* ---- the control socket: the same levers as the signals ---- */

static cJSON *
cap_reply(struct supervisor *sv, int was)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "cap", sched_cap(sv->sched));
	cJSON_AddNumberToObject(o, "effective_cap", sched_effective_cap(sv->sched));
	cJSON_AddNumberToObject(o, "was", was);
	return o;
}

static cJSON *
control_cap(struct supervisor *sv, const char *arg, char **error)
{
	int was = sched_effective_cap(sv->sched);
	long n;

	if (arg && strcmp(arg, "up") == 0)
		sched_cap_step(sv->sched, +1, "wavectl cap up");
	else if (arg && strcmp(arg, "down") == 0)
		sched_cap_step(sv->sched, -1, "wavectl cap down");
	else if (arg && (strcmp(arg, "0") == 0 || parse_positive_long(arg, &n)))
		sched_cap_set(sv->sched, strcmp(arg, "0") == 0 ? 0 : (int)(n > 10000 ? 10000 : n),
		    "wavectl cap");
	else {
		*error = xstrdup("cap: expected a number, up or down");
		return NULL;
	}
	return cap_reply(sv, was);
}

static cJSON *
control_handle(const char *cmd, const char *arg, char **error, void *ctx)
{
	struct supervisor *sv = ctx;
	int was = sched_effective_cap(sv->sched);

	if (strcmp(cmd, "cap") == 0)
		return control_cap(sv, arg, error);
	if (strcmp(cmd, "pause") == 0) {
		if (was > 0)
			sv->paused_from = was;
		sched_cap_set(sv->sched, 0, "wavectl pause");
		return cap_reply(sv, was);
	}
	if (strcmp(cmd, "resume") == 0) {
		sched_cap_set(sv->sched, sv->paused_from > 0 ? sv->paused_from : sched_cap(sv->sched),
		    "wavectl resume");
		return cap_reply(sv, was);
	}
	if (strcmp(cmd, "retry") == 0) {
		if (arg == NULL) {
			*error = xstrdup("retry: expected an issue, as in api#12");
			return NULL;
		}
		if (sched_retry(sv->sched, arg, error) == -1)
			return NULL;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "issue", arg);
		return o;
	}
	if (strcmp(cmd, "reload") == 0) {
		reload(sv);
		return cJSON_CreateObject();
	}
	*error = xasprintf("unknown command \"%.32s\": expected cap, pause, resume, retry or reload",
	    cmd);
	return NULL;
}

/* ---- the loop ---- */

static int
poll_timeout(const struct supervisor *sv)
{
	int64_t now = mono_ms(), wall = now_ms();
	int64_t until = sv->next_poll;
	int64_t retry = sched_next_deadline(sv->sched);

	if (retry != INT64_MAX && now + (retry - wall) < until)
		until = now + (retry - wall);
	if (sv->stopping && sv->stop_deadline < until)
		until = sv->stop_deadline;
	if (workers_next_deadline(sv->workers) < until)
		until = workers_next_deadline(sv->workers);
	if (sv->github && github_next_deadline(sv->github) < until)
		until = github_next_deadline(sv->github);
	if (sv->gh_source && source_github_next_deadline(sv->gh_source) < until)
		until = source_github_next_deadline(sv->gh_source);
	if (until <= now)
		return 0;
	return until - now > 60000 ? 60000 : (int)(until - now);
}

static void
update_title(struct supervisor *sv)
{
	char title[128];

	snprintf(title, sizeof(title), "supervisor [%d/%d in flight, cap %d]%s",
	    sched_inflight(sv->sched), sched_effective_cap(sv->sched), sched_cap(sv->sched),
	    sv->stopping ? " stopping" : "");
	if (strcmp(title, sv->title) != 0) {
		strlcpy(sv->title, title, sizeof(sv->title));
		setproctitle("%s", title);
	}
}

/* --once: nothing can move any more, the source has been read, outcomes are reported. */
static bool
settled(const struct supervisor *sv)
{
	if (sv->gh_source && (!source_github_ready(sv->gh_source) || sv->reports > 0 ||
	    github_pending(sv->github) > 0))
		return false;
	return sched_settled(sv->sched);
}

static void
loop_iterate(struct supervisor *sv)
{
	size_t nfds, ncontrol, ngithub;
	int n;

	if (!sv->stopping)
		sched_admit(sv->sched);
	update_title(sv);
	if (sv->opts->once && !sv->stopping && settled(sv))
		return;		/* nothing left to wait for */
	/* One poll: the signalfd, the control socket and its clients, every worker's pipe. */
	grow_array((void **)&sv->fds, &sv->fds_cap, 1 + control_nfds(sv->control) +
	    (sv->github ? github_nfds(sv->github) : 0) + workers_count(sv->workers), sizeof(*sv->fds));
	sv->fds[0] = (struct pollfd){ .fd = sv->signal_fd, .events = POLLIN };
	ncontrol = control_pollfds(sv->control, sv->fds + 1);
	ngithub = sv->github ? github_pollfds(sv->github, sv->fds + 1 + ncontrol) : 0;
	nfds = 1 + ncontrol + ngithub + workers_pollfds(sv->workers, sv->fds + 1 + ncontrol + ngithub);
	n = poll(sv->fds, nfds, poll_timeout(sv));
	if (n == -1 && errno != EINTR)
		fatal("poll");
	for (size_t k = 1 + ncontrol + ngithub; n > 0 && k < nfds; k++)
		if (sv->fds[k].revents)
			workers_readable(sv->workers, sv->fds[k].fd);
	if (n > 0 && sv->fds[0].revents)
		signals_dispatch(sv);
	if (n > 0)
		control_dispatch(sv->control, sv->fds + 1, ncontrol);
	if (sv->github)
		github_dispatch(sv->github, sv->fds + 1 + ncontrol, ngithub);
	if (sv->gh_source && !sv->stopping)
		source_github_tick(sv->gh_source);
	workers_watchdog(sv->workers, mono_ms());
	sched_tick(sv->sched, now_ms());
	if (!sv->stopping && mono_ms() >= sv->next_poll)
		poll_source(sv);
}

/* Decide whether the loop is over. */
static void
check_finished(struct supervisor *sv)
{
	if (sv->stopping) {
		if (workers_count(sv->workers) == 0) {
			sv->finished = true;
			sv->exit_status = EXIT_ALL_DONE;
		} else if (mono_ms() >= sv->stop_deadline) {
			log_warnx("stop_timeout passed: killing %zu worker%s",
			    workers_count(sv->workers), workers_count(sv->workers) == 1 ? "" : "s");
			workers_kill(sv->workers);
			sv->stop_deadline = INT64_MAX;
		}
	} else if (sv->opts->once && settled(sv)) {
		sv->finished = true;
		sv->exit_status = sched_all_done(sv->sched) ? EXIT_ALL_DONE : EXIT_SOME_FAILED;
	}
}

/* The GitHub client, its token, and the check that every repo is readable. */
static int
open_github(struct supervisor *sv)
{
	struct strbuf errors = { 0 };
	char *err = NULL, *token = github_token_load(&sv->cfg->source, &err);

	if (token == NULL) {
		log_warnx("preflight: %s", err);
		free(err);
		return -1;
	}
	sv->github = github_new(sv->cfg->source.api, token);
	/* pass_token = yes: the phases get it (a worker removes it otherwise). */
	if (sv->cfg->source.pass_token)
		setenv("GITHUB_TOKEN", token, 1);
	explicit_bzero(token, strlen(token));
	free(token);
	if (source_github_preflight(sv->cfg, sv->github, &errors) == -1) {
		log_warnx_lines("preflight: ", errors.s);
		strbuf_free(&errors);
		return -1;
	}
	return 0;
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
	if ((sv->events = events_open(sv->cfg->state_dir)) == NULL) {
		log_warn("%s/%s", sv->cfg->state_dir, EVENTS_FILE);
		return -1;
	}
	if (preflight_repos(sv->cfg, true, &errors) == -1) {
		log_warnx_lines("preflight: ", errors.s);
		strbuf_free(&errors);
		return -1;
	}
	if (sv->cfg->source.type == SOURCE_GITHUB && open_github(sv) == -1)
		return -1;
	return 0;
}

static void
close_state(struct supervisor *sv)
{
	control_close(sv->control);
	source_github_free(sv->gh_source);
	github_free(sv->github);
	sched_free(sv->sched);
	workers_free(sv->workers);
	events_close(sv->events);
	store_close(sv->store);
	if (sv->signal_fd != -1)
		close(sv->signal_fd);
	free(sv->fds);
	config_free(sv->cfg);
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
	sv.workers = workers_new();
	sv.sched = sched_new(cfg, sv.store, sv.events, cap, workers_start, sv.workers);
	workers_attach(sv.workers, sv.sched, cfg);
	if ((sv.control = control_open(cfg->state_dir, control_handle, &sv)) == NULL) {
		log_warn("control socket %s/%s", cfg->state_dir, CONTROL_SOCKET);
		close_state(&sv);
		return EXIT_BAD_CONFIG;
	}
	f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "pid", getpid());
	cJSON_AddNumberToObject(f, "cap", cap);
	cJSON_AddBoolToObject(f, "once", opts->once);
	events_emit(sv.events, "started", NULL, f);
	sched_set_running(sv.sched, true);
	log_info("started: %zu repo%s, cap %d", cfg->nrepos, cfg->nrepos == 1 ? "" : "s", cap);
	sched_set_outcome_hook(sv.sched, report_outcome, &sv);
	if (sv.github) {
		sv.gh_source = source_github_new(cfg, sv.github, sv.events, github_issues, &sv);
		sched_set_external(sv.sched, source_github_dep_closed, sv.gh_source);
		store_each_issue(sv.store, report_unreported, &sv);
	}
	sched_recover(sv.sched);
	poll_source(&sv);
	while (!sv.finished) {
		loop_iterate(&sv);
		check_finished(&sv);
	}
	sched_set_running(sv.sched, false);
	f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "status", sv.exit_status);
	events_emit(sv.events, "stopped", NULL, f);
	log_info("stopped");
	close_state(&sv);
	return sv.exit_status;
}
