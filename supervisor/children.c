#include "supervisor/children.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"

struct child {
	pid_t pid;
	enum child_type type;
	char *what;
	child_exit_fn *fn;
	void *arg;
};

static struct child *table;
static size_t nchildren, cap;

static const char *const type_names[] = {
	[CHILD_WORKER] = "worker",
	[CHILD_RECOVERY] = "recovery",
	[CHILD_PREFLIGHT] = "preflight",
	[CHILD_USAGE] = "usage monitor",
	[CHILD_COMMAND] = "command",
	[CHILD_GIT] = "git helper",
};

const char *
child_type_name(enum child_type type)
{
	return (size_t)type < ARRAY_LEN(type_names) ? type_names[type] : "child";
}

void
child_status_text(int status, char *buf, size_t size)
{
	if (WIFSIGNALED(status))
		snprintf(buf, size, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, size, "exit %d", WEXITSTATUS(status));
}

void
children_add(pid_t pid, enum child_type type, const char *what, child_exit_fn *fn, void *arg)
{
	grow_array((void **)&table, &cap, nchildren + 1, sizeof(*table));
	table[nchildren++] = (struct child){
		.pid = pid, .type = type, .what = xstrdup(what ? what : ""), .fn = fn, .arg = arg,
	};
}

void
children_forget(const void *arg)
{
	for (size_t k = 0; k < nchildren; k++)
		if (table[k].arg == arg) {
			table[k].fn = NULL;
			table[k].arg = NULL;
		}
}

size_t
children_count(enum child_type type)
{
	size_t n = 0;

	for (size_t k = 0; k < nchildren; k++)
		n += table[k].type == type;
	return n;
}

void
children_reap(void)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0 || (pid == -1 && errno == EINTR)) {
		char text[64];
		size_t k;

		if (pid == -1)
			continue;
		for (k = 0; k < nchildren && table[k].pid != pid; k++)
			;
		child_status_text(status, text, sizeof(text));
		if (k == nchildren) {
			log_warnx("child %d, not in the table of children, ended: %s", (int)pid, text);
			continue;
		}
		/* Out of the table before its callback, which may start another. */
		struct child c = table[k];

		table[k] = table[--nchildren];
		if (status != 0)
			log_warnx("%s %s (pid %d) ended: %s", child_type_name(c.type), c.what,
			    (int)pid, text);
		if (c.fn)
			c.fn(pid, status, c.arg);
		free(c.what);
	}
}

void
children_wait(enum child_type type, int64_t timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;

	for (children_reap(); children_count(type) > 0 && mono_ms() < deadline; children_reap())
		nanosleep(&(struct timespec){ 0, 10 * 1000000L }, NULL);
}

void
children_free(void)
{
	for (size_t k = 0; k < nchildren; k++)
		free(table[k].what);
	free(table);
	table = NULL;
	nchildren = cap = 0;
}
