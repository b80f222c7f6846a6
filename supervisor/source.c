/*
 * The supervisor's side of the issue source: read on its schedule (the file
 * at every poll_interval; GitHub repo by repo, and the command source's
 * command, through the poll loop) and handed to the scheduler, and outcomes
 * reported back to GitHub and to the report command.
 */
#include <malloc.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/backlog.h"
#include "supervisor/preflight.h"
#include "common/source_file.h"
#include "supervisor/supervisor.h"

/* Read the source and hand it to the scheduler; a failed read drops nothing. */
void
source_poll(struct supervisor *sv)
{
	struct issue_list issues = { 0 };
	struct strbuf problems = { 0 };
	int rc;

	if (sv->gh_source) {
		source_github_poll_all(sv->gh_source);	/* answers arrive through the loop */
		sv->next_poll = INT64_MAX;
		return;
	}
	if (sv->command) {
		sv->next_poll = INT64_MAX;	/* until it is over: command_issues sets it */
		command_source_poll(sv->command, sv->cfg);
		return;
	}
	rc = source_file_load(sv->cfg->source.path, sv->cfg, &issues, &problems);
	log_warnx_lines("", problems.s);
	strbuf_free(&problems);
	if (rc == 0 && backlog_sync(sv->sched, &issues) == -1)
		log_warnx("some issues could not be recorded in the store");
	issue_list_clear(&issues);
	/* Parsing a large issues file leaves free heap behind: give it back. */
	malloc_trim(0);
	sv->next_poll = mono_ms() + (int64_t)sv->cfg->poll_interval * 1000;
}

/* A run of the command source is over: its list, or why there is none. */
static void
command_issues(const struct issue_list *issues, const char *why, void *arg)
{
	struct supervisor *sv = arg;

	if (issues && backlog_sync(sv->sched, issues) == -1)
		log_warnx("some issues could not be recorded in the store");
	if (why) {
		cJSON *f = cJSON_CreateObject();

		cJSON_AddStringToObject(f, "reason", why);
		journal_event(sv->journal, JOURNAL_DAEMON, "source_failed", f);
	}
	sv->next_poll = mono_ms() + (int64_t)sv->cfg->poll_interval * 1000;
}

static void report_unreported(const struct store_issue_row *row, void *arg);

/* A GitHub poll delivered every repo's latest good issues. */
static void
github_issues(const struct issue_list *issues, void *arg)
{
	struct supervisor *sv = arg;

	if (backlog_sync(sv->sched, issues) == -1)
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
	char *text, *trace;

	if (sv->gh_source == NULL)
		return;
	/* The attempt's trace id, as in pull request bodies: its log and events are found by it. */
	trace = o->trace ? xasprintf(" (trace `%s`)", o->trace) : xstrdup("");
	if (strcmp(o->outcome, "done") == 0 && o->pr_url)
		text = xasprintf("waved: done. Pull request %s was merged (%s) after %d attempt%s%s.",
		    o->pr_url, o->final && *o->final ? o->final : "?", o->attempts,
		    o->attempts == 1 ? "" : "s", trace);
	else if (strcmp(o->outcome, "done") == 0)
		text = xasprintf("waved: done. Landed on `%s` in %s after %d attempt%s%s.",
		    sv->cfg->agent_branch, o->final && *o->final ? o->final : "(already there)",
		    o->attempts, o->attempts == 1 ? "" : "s", trace);
	else
		text = xasprintf("waved: gave up after %d attempt%s%s: %s", o->attempts,
		    o->attempts == 1 ? "" : "s", trace, o->reason ? o->reason : "no reason recorded");
	free(trace);
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

/* The GitHub client, its token, and the check that every repo is readable. */
int
source_open(struct supervisor *sv)
{
	struct strbuf errors = { 0 };
	char *err = NULL;

	/* It holds the token from here on: no core dump, no ptrace by others of our uid. */
	prctl(PR_SET_DUMPABLE, 0);
	if ((sv->github = github_open(sv->cfg, &err)) == NULL) {
		log_warnx("preflight: %s", err);
		free(err);
		return -1;
	}
	if (source_github_preflight(sv->cfg, sv->github, &errors) == -1) {
		log_warnx_lines("preflight: ", errors.s);
		strbuf_free(&errors);
		return -1;
	}
	return 0;
}

void
source_start(struct supervisor *sv)
{
	sched_set_outcome_hook(sv->sched, report_outcome, sv);
	/* Before recovery, whose done events are outcomes too. */
	sv->report = report_new(sv->store, sv->journal, sv->cfg);
	if (sv->cfg->source.type == SOURCE_COMMAND)
		sv->command = command_source_new(command_issues, sv);
	if (sv->github == NULL)
		return;
	github_set_events(sv->github, sv->events);
	sv->pulls = pulls_new(sv->cfg, sv->github, sv->sched);
	sched_set_pushed_hook(sv->sched, pulls_pushed, sv->pulls);
	if (sv->cfg->source.type != SOURCE_GITHUB)
		return;		/* GitHub for pull requests only */
	sv->gh_source = source_github_new(sv->cfg, sv->github, sv->events, github_issues, sv);
	sched_set_external(sv->sched, source_github_dep_closed, sv->gh_source);
	store_each_issue(sv->store, report_unreported, sv);
}

bool
source_settled(const struct supervisor *sv)
{
	if (sv->pulls && !pulls_idle(sv->pulls))
		return false;
	if (sv->report && !report_settled(sv->report))
		return false;
	if (sv->command && (!command_source_heard(sv->command) ||
	    command_source_running(sv->command)))
		return false;
	return sv->gh_source == NULL || (source_github_ready(sv->gh_source) && sv->reports == 0 &&
	    github_pending(sv->github) == 0);
}

int64_t
source_next_deadline(const struct supervisor *sv)
{
	int64_t next = sv->next_poll;

	if (sv->github && github_next_deadline(sv->github) < next)
		next = github_next_deadline(sv->github);
	if (sv->gh_source && source_github_next_deadline(sv->gh_source) < next)
		next = source_github_next_deadline(sv->gh_source);
	if (sv->pulls && pulls_next_deadline(sv->pulls) < next)
		next = pulls_next_deadline(sv->pulls);
	if (sv->command && command_source_next_deadline(sv->command) < next)
		next = command_source_next_deadline(sv->command);
	if (sv->report && report_next_deadline(sv->report, sv->stopping) < next)
		next = report_next_deadline(sv->report, sv->stopping);
	return next;
}

size_t
source_pollfds(const struct supervisor *sv, struct pollfd *fds)
{
	size_t n = sv->command ? command_source_pollfds(sv->command, fds) : 0;

	return n + (sv->report ? report_pollfds(sv->report, fds + n) : 0);
}

/*
 * Each takes its own pipes from the slice by descriptor: a run may have
 * ended (and another begun) since the slice was made, and reads are
 * non-blocking, so a stale entry costs one EAGAIN.
 */
void
source_dispatch(struct supervisor *sv, const struct pollfd *fds, size_t n)
{
	if (sv->command)
		command_source_dispatch(sv->command, fds, n);
	if (sv->report)
		report_dispatch(sv->report, fds, n);
}

void
source_tick(struct supervisor *sv, int64_t now)
{
	if (sv->command)
		command_source_tick(sv->command, now);
	if (sv->report)
		report_tick(sv->report, now, sv->stopping);
}

bool
source_loaded(const struct supervisor *sv)
{
	return sv->command == NULL || command_source_loaded(sv->command);
}

void
source_close(struct supervisor *sv)
{
	if (sv->sched)
		sched_set_pushed_hook(sv->sched, NULL, NULL);
	pulls_free(sv->pulls);
	report_free(sv->report);
	command_source_free(sv->command);
	sv->report = NULL;
	sv->command = NULL;
	source_github_free(sv->gh_source);
	github_free(sv->github);
	sv->pulls = NULL;
	sv->gh_source = NULL;
	sv->github = NULL;
}
