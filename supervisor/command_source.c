#include "supervisor/command_source.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "common/command.h"
#include "common/log.h"
#include "supervisor/children.h"
#include "common/source_command.h"
#include "common/util.h"

struct command_source {
	command_source_fn *fn;
	void *arg;
	const struct config *cfg;	/* held by the run under way */
	struct command *run;
	const struct config *again;	/* held: a run asked for during this one */
	bool heard, loaded;
};

struct command_source *
command_source_new(command_source_fn *fn, void *arg)
{
	struct command_source *ic = xcalloc(1, sizeof(*ic));

	ic->fn = fn;
	ic->arg = arg;
	return ic;
}

void
command_source_free(struct command_source *ic)
{
	if (ic == NULL)
		return;
	children_forget(ic);
	command_free(ic->run);
	config_release(ic->cfg);
	config_release(ic->again);
	free(ic);
}

/* The first line of problems, without its "source command: " (for the event). */
static char *
first_reason(const char *problems)
{
	const char *p = problems ? problems : "";
	size_t skip = strlen(SOURCE_COMMAND_NAME ": ");

	if (strncmp(p, SOURCE_COMMAND_NAME ": ", skip) == 0)
		p += skip;
	return xasprintf("%.*s", (int)strcspn(p, "\n"), p);
}

/* Tell what a run gave; a bad run leaves the scheduler as it was. */
static void
tell(struct command_source *ic, int rc, const struct issue_list *issues, const char *problems)
{
	char *why = rc == 0 ? NULL : first_reason(problems);

	ic->heard = true;
	ic->loaded = ic->loaded || rc == 0;
	if (rc == -1)
		log_warnx("%s: the last good list of issues stays in force", SOURCE_COMMAND_NAME);
	ic->fn(rc == 0 ? issues : NULL, why, ic->arg);
	free(why);
}

static void
command_exited_fn(pid_t pid, int status, void *arg)
{
	command_source_child_exited(arg, pid, status);
}

static void
start(struct command_source *ic, const struct config *cfg)
{
	char *why = NULL;

	ic->run = source_command_start(cfg, &why);
	if (ic->run == NULL) {
		log_warnx("%s", why);
		tell(ic, -1, NULL, why);
		free(why);
		return;
	}
	children_add(command_pid(ic->run), CHILD_COMMAND, SOURCE_COMMAND_NAME, command_exited_fn, ic);
	ic->cfg = config_hold(cfg);
}

/* Output read and the command reaped: what did it print? */
static void
finish(struct command_source *ic)
{
	struct issue_list issues = { 0 };
	struct strbuf said = { 0 }, problems = { 0 };
	const struct config *cfg = ic->cfg, *again = ic->again;
	int rc;

	command_stderr_lines(ic->run, SOURCE_COMMAND_NAME, &said);
	log_info_lines("", said.s);
	/* Read by the newest configuration: a reload during the run may have
	 * taken a repo away, whose issues the scheduler must not be given. */
	rc = source_command_result(ic->run, again ? again : cfg, &issues, &problems);
	log_warnx_lines("", problems.s);
	command_free(ic->run);
	ic->run = NULL;
	ic->cfg = NULL;
	tell(ic, rc, &issues, problems.s);
	issue_list_clear(&issues);
	strbuf_free(&said);
	strbuf_free(&problems);
	/* A large list leaves free heap behind: give it back. */
	malloc_trim(0);
	config_release(cfg);
	if (again) {
		ic->again = NULL;
		start(ic, again);
		config_release(again);
	}
}

void
command_source_poll(struct command_source *ic, const struct config *cfg)
{
	if (ic->run) {
		config_release(ic->again);
		ic->again = config_hold(cfg);
	} else
		start(ic, cfg);
}

bool
command_source_running(const struct command_source *ic)
{
	return ic->run != NULL;
}

bool
command_source_heard(const struct command_source *ic)
{
	return ic->heard;
}

bool
command_source_loaded(const struct command_source *ic)
{
	return ic->loaded;
}

void
command_source_tick(struct command_source *ic, int64_t now)
{
	if (ic->run)
		command_tick(ic->run, now);
}

int64_t
command_source_next_deadline(const struct command_source *ic)
{
	return ic->run ? command_next_deadline(ic->run) : INT64_MAX;
}

size_t
command_source_pollfds(const struct command_source *ic, struct pollfd *fds)
{
	return ic->run ? command_pollfds(ic->run, fds) : 0;
}

void
command_source_dispatch(struct command_source *ic, const struct pollfd *fds, size_t n)
{
	if (ic->run == NULL || n == 0)
		return;
	command_dispatch(ic->run, fds, n);
	if (command_done(ic->run))
		finish(ic);
}

bool
command_source_child_exited(struct command_source *ic, pid_t pid, int status)
{
	if (!command_exited(ic->run, pid, status))
		return false;
	if (command_done(ic->run))
		finish(ic);
	return true;
}
