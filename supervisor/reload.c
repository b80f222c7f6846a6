#include "supervisor/reload.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <bsd/unistd.h>

#include "common/job.h"
#include "common/log.h"
#include "supervisor/children.h"
#include "supervisor/exec_self.h"
#include "supervisor/preflight.h"
#include "supervisor/supervisor.h"

#define PREFLIGHT_OK "ok\n"

struct reload {
	struct config *cfg;	/* the candidate, while its preflight runs */
	pid_t pid;
	int fd;			/* the preflight child's answer; -1: none running */
	struct strbuf answer;
	uint64_t *tickets;	/* requests to answer when this one is over */
	size_t ntickets, tickets_cap;
	bool again;		/* asked for during the preflight: once more after it */
};

struct reload *
reload_new(void)
{
	struct reload *r = xcalloc(1, sizeof(*r));

	r->fd = -1;
	return r;
}

void
reload_free(struct reload *r)
{
	if (r == NULL)
		return;
	if (r->fd != -1) {
		kill(r->pid, SIGTERM);
		close(r->fd);
	}
	config_free(r->cfg);
	strbuf_free(&r->answer);
	free(r->tickets);
	free(r);
}

/* Tell every request of this round how it went (error NULL: reloaded). */
static void
answer_all(struct supervisor *sv, const char *error)
{
	struct reload *r = sv->reload;

	for (size_t k = 0; k < r->ntickets; k++)
		control_answer(sv->control, r->tickets[k], error ? NULL : cJSON_CreateObject(), error);
	r->ntickets = 0;
}

static void
refuse(struct supervisor *sv, const char *why)
{
	char *text = xasprintf("reload refused: %s; keeping the running configuration", why);

	log_warnx("%s", text);
	answer_all(sv, text);
	free(text);
}

/* The candidate passed: hand it to every holder, then read the source. */
static void
apply(struct supervisor *sv, struct config *cfg)
{
	int old_cap = admission_configured(sv->admission);
	char *why = NULL;

	if (!sched_reconfigure(sv->sched, cfg, &why)) {
		refuse(sv, why);
		free(why);
		config_free(cfg);
		return;
	}
	workers_attach(sv->workers, sv->sched, cfg);
	if (sv->github)
		github_reconfigure(sv->github, cfg);	/* token_file read again, token_command run */
	if (sv->gh_source)
		source_github_reconfigure(sv->gh_source, cfg);
	if (sv->pulls)
		pulls_reconfigure(sv->pulls, cfg);
	if (sv->report)
		report_reconfigure(sv->report, cfg);
	config_free(sv->cfg);
	sv->cfg = cfg;
	if (sv->opts->cap == 0 && config_effective_cap(cfg) != old_cap)
		admission_limit(sv->admission, config_effective_cap(cfg), "config", "reload");
	log_info("reloaded %s", sv->opts->config_path);
	answer_all(sv, NULL);
	source_poll(sv);
}

/*
 * The exec'd preflight (waved --preflight, common/job.h): check the
 * candidate configuration's repos and runner, answer on the pipe, and go.
 * It runs git and srun, so it holds nothing of the supervisor's.
 */
void
reload_preflight_main_exec(void)
{
	static struct worker_job job;
	struct strbuf answer = { 0 };
	sigset_t none;
	char err[512];
	int rc;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);	/* the supervisor's is for its signalfd */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (job_read(JOB_FD, JOB_PREFLIGHT, &job, err, sizeof(err)) == -1) {
		log_warnx("reload preflight: its job on descriptor %d: %s", JOB_FD, err);
		_exit(1);
	}
	close(JOB_FD);
	if (getppid() != job.supervisor)
		_exit(1);
	setproctitle("reload preflight");
	rc = preflight_repos(job.cfg, true, &answer);
	if (preflight_runner(job.cfg, &answer) == -1)
		rc = -1;
	if (rc == 0)
		strbuf_add(&answer, PREFLIGHT_OK);
	for (size_t off = 0; off < answer.len; ) {
		ssize_t n = write(JOB_PIPE_FD, answer.s + off, answer.len - off);

		if (n <= 0 && errno != EINTR)
			_exit(1);
		off += n > 0 ? (size_t)n : 0;
	}
	_exit(0);
}

/* Load and check the file, then start its preflight; false (logged, and
 * every waiting request answered) when refused at once. */
static bool
start(struct supervisor *sv)
{
	struct reload *r = sv->reload;
	char *errors = NULL;
	struct config *cfg = config_load(sv->opts->config_path, &errors);
	struct worker_job job = { .role = JOB_PREFLIGHT };
	int fds[2];

	if (cfg == NULL) {
		log_warnx_lines("reload: ", errors);
		refuse(sv, "the configuration has errors (see the log)");
		free(errors);
		return false;
	}
	if (cfg->source.type != sv->cfg->source.type) {
		refuse(sv, "[source] type changed: restart waved to change sources");
		config_free(cfg);
		return false;
	}
	if (config_wants_github(cfg) && sv->github == NULL) {
		refuse(sv, "land = pr needs the GitHub client, which opens at start: restart waved");
		config_free(cfg);
		return false;
	}
	if (strcmp(cfg->state_dir, sv->cfg->state_dir) != 0) {
		log_warnx("reload: state_dir changed: it takes effect at the next start");
		free(cfg->state_dir);
		cfg->state_dir = xstrdup(sv->cfg->state_dir);
	}
	if (pipe2(fds, O_CLOEXEC) == -1) {
		refuse(sv, "cannot start the preflight");
		config_free(cfg);
		return false;
	}
	job.cfg = cfg;
	job.supervisor = getpid();
	r->pid = exec_self(&job, (const int[]){ fds[1], -1, -1 }, false);
	close(fds[1]);
	if (r->pid == -1) {
		close(fds[0]);
		refuse(sv, "cannot start the preflight");
		config_free(cfg);
		return false;
	}
	/* Its answer comes on the pipe; its exit status is the table's to read. */
	children_add(r->pid, CHILD_PREFLIGHT, "reload", NULL, NULL);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	r->fd = fds[0];
	r->cfg = cfg;
	return true;
}

int
reload_request(struct supervisor *sv, uint64_t ticket)
{
	struct reload *r = sv->reload;

	if (r->fd != -1)
		r->again = true;	/* the file may have changed since this one began */
	else if (!start(sv))
		return -1;
	if (ticket) {
		grow_array((void **)&r->tickets, &r->tickets_cap, r->ntickets + 1, sizeof(uint64_t));
		r->tickets[r->ntickets++] = ticket;
	}
	return 0;
}

size_t
reload_pollfds(const struct reload *r, struct pollfd *fds)
{
	if (r->fd == -1)
		return 0;
	fds[0] = (struct pollfd){ .fd = r->fd, .events = POLLIN };
	return 1;
}

/* The preflight's answer is in: apply the candidate or refuse it. */
static void
finish(struct supervisor *sv)
{
	struct reload *r = sv->reload;
	struct config *cfg = r->cfg;
	bool ok = r->answer.s && strcmp(r->answer.s, PREFLIGHT_OK) == 0;

	close(r->fd);
	r->fd = -1;
	r->cfg = NULL;
	if (ok)
		apply(sv, cfg);
	else {
		log_warnx_lines("reload: preflight: ", r->answer.s);
		refuse(sv, "the preflight failed (see the log)");
		config_free(cfg);
	}
	strbuf_free(&r->answer);
	if (r->again) {
		r->again = false;
		start(sv);
	}
}

void
reload_dispatch(struct supervisor *sv, const struct pollfd *fds, size_t n)
{
	struct reload *r = sv->reload;
	char buf[4096];
	ssize_t got;

	if (n == 0 || fds[0].revents == 0)
		return;
	while ((got = read(r->fd, buf, sizeof(buf) - 1)) > 0) {
		buf[got] = '\0';
		strbuf_add(&r->answer, buf);
	}
	if (got == 0 || (got == -1 && errno != EAGAIN && errno != EINTR))
		finish(sv);
}
