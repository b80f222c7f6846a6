#include "supervisor/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/argv.h"
#include "common/command.h"
#include "common/log.h"
#include "supervisor/children.h"
#include "common/util.h"

#define REPORT_NAME "report command"
#define REPORT_OUT_MAX 4096	/* of its stdout, kept for the log */

struct report {
	struct store *store;
	struct journal *journal;
	const struct config *cfg;	/* held */
	struct command *run;	/* delivering seq, or NULL */
	int64_t seq;
	bool dirty;		/* a report may wait in the store */
	int64_t next_try;	/* monotonic ms; after a failure */
	int64_t backoff_ms;	/* the last wait; 0 after a success */
	int failures;		/* in a row */
};

static const char *const outcomes[] = { "done", "dead", "blocked", "pr_opened", "pr_merged" };

bool
report_is_outcome(const char *event)
{
	for (size_t k = 0; k < ARRAY_LEN(outcomes); k++)
		if (strcmp(event, outcomes[k]) == 0)
			return true;
	return false;
}

/* The journal's rendered hook: an outcome's report commits with its event. */
static void
rendered(const char *event, const char *line, int64_t seq, void *arg)
{
	struct report *r = arg;

	if (r->cfg->source.report == NULL || !report_is_outcome(event))
		return;
	store_report_add(r->store, seq, line);
	r->dirty = true;
}

struct report *
report_new(struct store *store, struct journal *journal, const struct config *cfg)
{
	struct report *r = xcalloc(1, sizeof(*r));

	r->store = store;
	r->journal = journal;
	r->cfg = config_hold(cfg);
	r->dirty = true;	/* what a previous run left goes at once */
	journal_set_rendered(journal, rendered, r);
	return r;
}

void
report_free(struct report *r)
{
	if (r == NULL)
		return;
	children_forget(r);
	journal_set_rendered(r->journal, NULL, NULL);
	/* Killed mid-way, it stays in the store: the next start delivers it again. */
	command_free(r->run);
	config_release(r->cfg);
	free(r);
}

void
report_reconfigure(struct report *r, const struct config *cfg)
{
	config_release(r->cfg);
	r->cfg = config_hold(cfg);
	r->dirty = true;
}

/* The event line on stdin: a file of its own, which no write can block on. */
static int
stdin_of(const char *line)
{
	size_t len = strlen(line), off = 0;
	int fd = memfd_create("waved-report", MFD_CLOEXEC);

	if (fd == -1)
		return -1;
	while (off < len) {
		ssize_t n = write(fd, line + off, len - off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The report did not get through: again after the backoff. */
static void
failed(struct report *r, int64_t seq, const char *why)
{
	r->failures++;
	r->backoff_ms = r->backoff_ms == 0 ? REPORT_BACKOFF_FIRST_MS :
	    r->backoff_ms * 2 > REPORT_BACKOFF_MAX_MS ? REPORT_BACKOFF_MAX_MS : r->backoff_ms * 2;
	r->next_try = mono_ms() + r->backoff_ms;
	log_warnx("%s: event seq %lld: %s; trying again in %lld s (failure %d in a row)",
	    REPORT_NAME, (long long)seq, why, (long long)(r->backoff_ms / 1000), r->failures);
}

/* The report command was reaped: its status counts. */
static void
command_exited_fn(pid_t pid, int status, void *arg)
{
	report_child_exited(arg, pid, status);
}

static void
start(struct report *r)
{
	char why[128], **argv, *line = NULL, *err = NULL;
	int64_t seq;
	int fd;

	if (!store_report_first(r->store, &seq, &line)) {
		r->dirty = false;
		return;
	}
	if ((argv = argv_split(r->cfg->source.report, why, sizeof(why))) == NULL) {
		failed(r, seq, why);	/* config_load checked it: not expected */
		free(line);
		return;
	}
	if ((fd = stdin_of(line)) == -1) {
		snprintf(why, sizeof(why), "its stdin: %s", strerror(errno));
		failed(r, seq, why);
	} else {
		r->run = command_start(&(struct command_spec){ .argv = argv, .cwd = r->cfg->dir,
		    .in_fd = fd, .timeout_s = r->cfg->source.command_timeout,
		    .out_max = REPORT_OUT_MAX, .out_for_log = true }, &err);
		close(fd);
		if (r->run == NULL) {
			failed(r, seq, err);
			free(err);
		} else {
			r->seq = seq;
			children_add(command_pid(r->run), CHILD_COMMAND, "report", command_exited_fn, r);
		}
	}
	argv_free(argv);
	free(line);
}

/* The command is over: the report leaves the store, or waits for its next try. */
static void
finish(struct report *r)
{
	struct strbuf said = { 0 };
	char why[160];

	command_stdout_lines(r->run, REPORT_NAME, &said);
	command_stderr_lines(r->run, REPORT_NAME, &said);
	if (command_ok(r->run)) {
		log_info_lines("", said.s);
		store_report_done(r->store, r->seq);	/* in the transaction of this dispatch */
		r->failures = 0;
		r->backoff_ms = 0;
		r->next_try = 0;
		r->dirty = true;	/* the next in line, at once */
	} else {
		log_warnx_lines("", said.s);
		command_failure(r->run, why, sizeof(why));
		failed(r, r->seq, why);
	}
	strbuf_free(&said);
	command_free(r->run);
	r->run = NULL;
}

void
report_tick(struct report *r, int64_t now, bool stopping)
{
	if (r->run) {
		command_tick(r->run, now);
		return;
	}
	if (!stopping && r->dirty && r->cfg->source.report && now >= r->next_try)
		start(r);
}

int64_t
report_next_deadline(const struct report *r, bool stopping)
{
	if (r->run)
		return command_next_deadline(r->run);
	if (!stopping && r->dirty && r->cfg->source.report)
		return r->next_try;
	return INT64_MAX;
}

size_t
report_pollfds(const struct report *r, struct pollfd *fds)
{
	return r->run ? command_pollfds(r->run, fds) : 0;
}

void
report_dispatch(struct report *r, const struct pollfd *fds, size_t n)
{
	if (r->run == NULL || n == 0)
		return;
	command_dispatch(r->run, fds, n);
	if (command_done(r->run))
		finish(r);
}

bool
report_child_exited(struct report *r, pid_t pid, int status)
{
	if (!command_exited(r->run, pid, status))
		return false;
	if (command_done(r->run))
		finish(r);
	return true;
}

bool
report_settled(const struct report *r)
{
	if (r->run)
		return false;
	return !r->dirty || r->cfg->source.report == NULL || r->failures >= REPORT_ONCE_TRIES;
}
