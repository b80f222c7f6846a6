#include "supervisor/usage.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/spawn.h"
#include "supervisor/children.h"
#include "common/util.h"
#include "supervisor/cap.h"

struct usage {
	usage_fn *fn;
	void *arg;
	pid_t pid;		/* the command running, or 0 */
	int fd;			/* its output; -1 once at EOF */
	bool exited;
	int status;
	struct strbuf out;
	int64_t deadline;	/* the running command's timeout */
	int64_t next;		/* the next run (monotonic ms) */
	bool killed;
	bool heard;		/* a first answer (or failure) came */
};

struct usage *
usage_new(usage_fn *fn, void *arg)
{
	struct usage *u = xcalloc(1, sizeof(*u));

	u->fn = fn;
	u->arg = arg;
	u->fd = -1;
	return u;
}

void
usage_free(struct usage *u)
{
	if (u == NULL)
		return;
	children_forget(u);
	if (u->pid > 0 && !u->exited)
		kill(-u->pid, SIGKILL);
	if (u->fd != -1)
		close(u->fd);
	strbuf_free(&u->out);
	free(u);
}

bool
usage_parse(const char *text, struct usage_reading *r)
{
	const char *p = text + strspn(text, " \t");
	char *end;
	double percent;
	long long resets = 0;

	memset(r, 0, sizeof(*r));
	errno = 0;
	percent = strtod(p, &end);
	if (end == p || errno != 0 || !isfinite(percent) || percent < 0 || percent > 1000) {
		snprintf(r->why, sizeof(r->why), "expected a percent, got \"%.40s\"", p);
		return false;
	}
	p = end + (*end == '%');
	p += strspn(p, " \t");
	if (*p != '\0' && *p != '\n') {
		errno = 0;
		resets = strtoll(p, &end, 10);
		if (end == p || errno != 0 || resets < 0 || (*end != '\0' && *end != '\n' &&
		    *end != ' ' && *end != '\t')) {
			snprintf(r->why, sizeof(r->why), "expected the reset as an epoch second, "
			    "got \"%.40s\"", p);
			return false;
		}
	}
	r->ok = true;
	r->percent = percent;
	r->resets_at = resets;
	return true;
}

int
usage_limit(const struct usage_conf *c, double percent)
{
	int limit = CAP_NO_LIMIT;

	for (size_t k = 0; k < c->nsteps && percent >= c->steps[k].percent; k++)
		limit = c->steps[k].limit;
	return limit;
}

static void
command_exited_fn(pid_t pid, int status, void *arg)
{
	usage_child_exited(arg, pid, status);
}

static void
start(struct usage *u, const struct usage_conf *c, int64_t now)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) == -1)
		return;
	u->pid = spawn_start((const char *[]){ "/bin/sh", "-c", c->command, NULL },
	    &(struct spawn_opts){ .out_fd = fds[1] });
	close(fds[1]);
	if (u->pid == -1) {
		struct usage_reading r = { .ok = false };

		close(fds[0]);
		u->pid = 0;
		snprintf(r.why, sizeof(r.why), "cannot start /bin/sh: %s", strerror(errno));
		u->heard = true;
		u->fn(&r, u->arg);
		return;
	}
	children_add(u->pid, CHILD_USAGE, "command", command_exited_fn, u);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	u->fd = fds[0];
	u->exited = u->killed = false;
	u->deadline = now + USAGE_TIMEOUT_MS;
}

/* Output read and the command reaped: what did it say? */
static void
finish(struct usage *u)
{
	struct usage_reading r;

	if (u->killed) {
		memset(&r, 0, sizeof(r));
		snprintf(r.why, sizeof(r.why), "no answer within %d s", USAGE_TIMEOUT_MS / 1000);
	} else if (!WIFEXITED(u->status) || WEXITSTATUS(u->status) != 0) {
		memset(&r, 0, sizeof(r));
		snprintf(r.why, sizeof(r.why), "the command %s %d",
		    WIFEXITED(u->status) ? "exited with" : "was killed by signal",
		    WIFEXITED(u->status) ? WEXITSTATUS(u->status) : WTERMSIG(u->status));
	} else
		usage_parse(u->out.s ? u->out.s : "", &r);
	strbuf_free(&u->out);
	u->pid = 0;
	u->heard = true;
	u->fn(&r, u->arg);
}

bool
usage_heard(const struct usage *u)
{
	return u->heard;
}

void
usage_tick(struct usage *u, const struct usage_conf *c, int64_t now)
{
	if (c->command == NULL)
		return;
	if (u->pid > 0) {
		if (!u->exited && now >= u->deadline && !u->killed) {
			kill(-u->pid, SIGKILL);
			u->killed = true;
		}
		return;
	}
	if (now < u->next)
		return;
	u->next = now + (int64_t)c->interval * 1000;
	start(u, c, now);
}

int64_t
usage_next_deadline(const struct usage *u)
{
	if (u->pid > 0)
		return u->exited || u->killed ? INT64_MAX : u->deadline;
	return u->next;
}

void
usage_hold_until(struct usage *u, int64_t mono)
{
	u->next = mono;
}

size_t
usage_pollfds(const struct usage *u, struct pollfd *fds)
{
	if (u->fd == -1)
		return 0;
	fds[0] = (struct pollfd){ .fd = u->fd, .events = POLLIN };
	return 1;
}

void
usage_dispatch(struct usage *u, const struct pollfd *fds, size_t n)
{
	char buf[512];
	ssize_t got;

	if (n == 0 || fds[0].revents == 0)
		return;
	while ((got = read(u->fd, buf, sizeof(buf) - 1)) > 0) {
		buf[got] = '\0';
		if (u->out.len < 4096)
			strbuf_add(&u->out, buf);
	}
	if (got == 0 || (got == -1 && errno != EAGAIN && errno != EINTR)) {
		close(u->fd);
		u->fd = -1;
		if (u->exited)
			finish(u);
	}
}

bool
usage_child_exited(struct usage *u, pid_t pid, int status)
{
	if (u->pid <= 0 || pid != u->pid)
		return false;
	u->exited = true;
	u->status = status;
	if (u->fd == -1)
		finish(u);
	return true;
}
