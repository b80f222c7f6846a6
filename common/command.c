#include "common/command.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/spawn.h"
#include "common/util.h"

/* A pipe read to its end: what it held, or as much as is kept. */
struct stream {
	int fd;			/* -1 once at its end */
	struct strbuf text;
	size_t max;		/* bytes kept */
	bool cut;		/* more came than is kept */
};

struct command {
	pid_t pid;
	bool exited;
	int status;
	struct stream out, err;
	int timeout_s;
	int64_t deadline;	/* SIGTERM then (monotonic ms) */
	int64_t kill_at;	/* SIGKILL then; 0: not yet terminated */
	bool timed_out;
	bool too_long;		/* stdout passed its bound: killed */
	bool out_for_log;
};

struct command *
command_start(const struct command_spec *spec, char **why)
{
	struct command *c;
	int out[2], err[2];

	*why = NULL;
	if (pipe2(out, O_CLOEXEC) == -1) {
		*why = xasprintf("pipe: %s", strerror(errno));
		return NULL;
	}
	if (pipe2(err, O_CLOEXEC) == -1) {
		*why = xasprintf("pipe: %s", strerror(errno));
		close(out[0]);
		close(out[1]);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->pid = spawn_start((const char *const *)spec->argv, &(struct spawn_opts){
	    .cwd = spec->cwd, .out_fd = out[1], .with_in = spec->in_fd != -1,
	    .in_fd = spec->in_fd, .with_err = true, .err_fd = err[1] });
	close(out[1]);
	close(err[1]);
	if (c->pid == -1) {
		*why = xasprintf("cannot run \"%s\"%s%s: %s", spec->argv[0],
		    spec->cwd ? " in " : "", spec->cwd ? spec->cwd : "", strerror(errno));
		close(out[0]);
		close(err[0]);
		free(c);
		return NULL;
	}
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(err[0], F_SETFL, O_NONBLOCK);
	c->out = (struct stream){ .fd = out[0], .max = spec->out_max };
	c->err = (struct stream){ .fd = err[0], .max = COMMAND_ERR_MAX };
	c->timeout_s = spec->timeout_s;
	c->out_for_log = spec->out_for_log;
	c->deadline = mono_ms() + (int64_t)spec->timeout_s * 1000;
	return c;
}

static void
stream_close(struct stream *s)
{
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
}

void
command_free(struct command *c)
{
	if (c == NULL)
		return;
	/* The whole group: what it started goes with it.  The zombie is the reaper's. */
	if (!c->exited || c->out.fd != -1 || c->err.fd != -1)
		kill(-c->pid, SIGKILL);
	stream_close(&c->out);
	stream_close(&c->err);
	strbuf_free(&c->out.text);
	strbuf_free(&c->err.text);
	free(c);
}

size_t
command_pollfds(const struct command *c, struct pollfd *fds)
{
	size_t n = 0;

	if (c->out.fd != -1)
		fds[n++] = (struct pollfd){ .fd = c->out.fd, .events = POLLIN };
	if (c->err.fd != -1)
		fds[n++] = (struct pollfd){ .fd = c->err.fd, .events = POLLIN };
	return n;
}

/* Read what the pipe holds now, keeping up to its bound; false past the bound. */
static bool
stream_read(struct stream *s)
{
	char buf[65536];
	ssize_t got;

	while ((got = read(s->fd, buf, sizeof(buf))) > 0) {
		size_t keep = (size_t)got;

		if (s->text.len + keep > s->max) {
			keep = s->max - s->text.len;
			s->cut = true;
		}
		if (keep > 0) {
			grow_array((void **)&s->text.s, &s->text.cap, s->text.len + keep + 1, 1);
			memcpy(s->text.s + s->text.len, buf, keep);
			s->text.len += keep;
			s->text.s[s->text.len] = '\0';
		}
	}
	if (got == 0 || (got == -1 && errno != EAGAIN && errno != EINTR))
		stream_close(s);
	return !s->cut;
}

void
command_dispatch(struct command *c, const struct pollfd *fds, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (fds[k].revents == 0)
			continue;
		if (fds[k].fd == c->out.fd && !stream_read(&c->out) && !c->too_long &&
		    !c->out_for_log) {
			/* Past its bound it is not a list of issues: stop it now. */
			c->too_long = true;
			kill(-c->pid, SIGKILL);
		} else if (fds[k].fd == c->err.fd)
			stream_read(&c->err);
	}
}

bool
command_exited(struct command *c, pid_t pid, int status)
{
	if (c == NULL || c->exited || pid != c->pid)
		return false;
	c->exited = true;
	c->status = status;
	return true;
}

void
command_tick(struct command *c, int64_t now)
{
	if (command_done(c))
		return;
	if (c->kill_at == 0 && now >= c->deadline) {
		c->timed_out = true;
		c->kill_at = now + COMMAND_KILL_GRACE_MS;
		kill(-c->pid, SIGTERM);
	} else if (c->kill_at != 0 && now >= c->kill_at) {
		kill(-c->pid, SIGKILL);
		c->kill_at = INT64_MAX;		/* once */
	}
}

int64_t
command_next_deadline(const struct command *c)
{
	if (command_done(c))
		return INT64_MAX;
	return c->kill_at ? c->kill_at : c->deadline;
}

pid_t
command_pid(const struct command *c)
{
	return c->pid;
}

bool
command_done(const struct command *c)
{
	return c->exited && c->out.fd == -1 && c->err.fd == -1;
}

void
command_wait(struct command *c)
{
	while (!command_done(c)) {
		struct pollfd fds[2];
		size_t n = command_pollfds(c, fds);
		int64_t left = command_next_deadline(c) - mono_ms();
		int wait = left < 0 ? 0 : left > 1000 ? 1000 : (int)left, status;

		/* Its exit is no event here: once the pipes are shut, look every 20 ms. */
		if (n == 0 && wait > 20)
			wait = 20;
		if (poll(fds, n, wait) > 0)
			command_dispatch(c, fds, n);
		if (!c->exited && waitpid(c->pid, &status, WNOHANG) == c->pid)
			command_exited(c, c->pid, status);
		command_tick(c, mono_ms());
	}
}

bool
command_ok(const struct command *c)
{
	return command_done(c) && !c->timed_out && !c->too_long && WIFEXITED(c->status) &&
	    WEXITSTATUS(c->status) == 0;
}

void
command_failure(const struct command *c, char *buf, size_t size)
{
	if (c->timed_out)
		snprintf(buf, size, "gave no answer within %d s (its process group was killed)",
		    c->timeout_s);
	else if (c->too_long)
		snprintf(buf, size, "printed more than %zu bytes", c->out.max);
	else if (WIFSIGNALED(c->status))
		snprintf(buf, size, "was killed by signal %d", WTERMSIG(c->status));
	else if (WEXITSTATUS(c->status) != 0)
		snprintf(buf, size, "exited with %d", WEXITSTATUS(c->status));
	else
		snprintf(buf, size, "exited with 0");
}

const char *
command_out(const struct command *c, size_t *len)
{
	*len = c->out.text.len;
	return c->out.text.s ? c->out.text.s : "";
}

static void
stream_lines(const struct stream *s, const char *prefix, const char *what, struct strbuf *lines)
{
	const char *p = s->text.s ? s->text.s : "";

	while (*p) {
		size_t n = strcspn(p, "\n");
		char *line = xasprintf("%.*s", (int)n, p), *shown;

		for (char *q = line; *q; q++)
			if ((unsigned char)*q < 0x20 || *q == 0x7f)
				*q = '?';
		shown = utf8_valid_dup(line);
		if (*shown)
			strbuf_addf(lines, "%s: %s: %s\n", prefix, what, shown);
		free(shown);
		free(line);
		p += n + (p[n] == '\n');
	}
	if (s->cut)
		strbuf_addf(lines, "%s: %s: (cut after %zu bytes)\n", prefix, what, s->max);
}

void
command_stderr_lines(const struct command *c, const char *prefix, struct strbuf *lines)
{
	stream_lines(&c->err, prefix, "stderr", lines);
}

void
command_stdout_lines(const struct command *c, const char *prefix, struct strbuf *lines)
{
	stream_lines(&c->out, prefix, "stdout", lines);
}
