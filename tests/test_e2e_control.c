/*
 * End to end: steering a running daemon through its control socket
 * (DESIGN.md sections 4, 11 and 14).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "tests/lib/scenario.h"

SCENARIO_SUITE(e2e_control, 180);

static struct run_result
wavectl(const char *cmd, const char *arg)
{
	return run_argv(sc->dir, (const char *[]){ sc->wavectl, "-c", sc->conf, cmd, arg, NULL });
}

static int
connect_control(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/waved.sock", sc->state);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Start the daemon and connect to its control socket once it listens. */
static pid_t
start_and_connect(int *fd)
{
	pid_t pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	int64_t deadline = mono_ms() + 10000;

	cr_assert(scenario_await(sc, "started", NULL, 1, 30));
	while ((*fd = connect_control()) == -1 && mono_ms() < deadline)
		nap_ms(20);
	cr_assert_geq(*fd, 0);
	return pid;
}

/* One request on fd and its reply line (caller frees). */
static char *
ask(int fd, const char *line)
{
	char buf[4096];
	size_t len = 0;

	cr_assert_eq(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	while (len == 0 || buf[len - 1] != '\n') {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		cr_assert_gt(poll(&pfd, 1, 10000), 0, "no reply to %s", line);
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		cr_assert_gt(n, 0, "connection closed instead of a reply to %s", line);
		len += (size_t)n;
	}
	buf[len] = '\0';
	return xstrdup(buf);
}

static void
backlog(int per_repo, const char *sleep)
{
	struct strbuf issues = { 0 };
	char *phases = xasprintf("[phase \"implement\"]\nrun = echo $WAVED_ISSUE > f-$WAVED_NUMBER.txt; "
	    "sleep %s\n", sleep);

	free(scenario_repo(sc, "api"));
	free(scenario_repo(sc, "web"));
	scenario_config(sc, "cap = 2", phases);
	strbuf_add(&issues, "[");
	for (int n = 1; n <= per_repo; n++)
		strbuf_addf(&issues, "%s{\"repo\":\"api\",\"number\":%d,\"title\":\"a\"},"
		    "{\"repo\":\"web\",\"number\":%d,\"title\":\"w\"}", n > 1 ? "," : "", n, n);
	strbuf_add(&issues, "]");
	scenario_issues(sc, issues.s);
	strbuf_free(&issues);
	free(phases);
}

Test(e2e_control, cap_pause_and_resume_move_admission_as_the_signals_do)
{
	struct run_result r;
	cJSON *evs;
	pid_t pid;

	backlog(3, "0.3");
	pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "admitted", NULL, 2, 30));

	r = wavectl("pause", NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "effective cap 0 of 2 (was 2): paused"), "%s", r.out);
	run_result_free(&r);
	/* Work in flight finishes; nothing new starts. */
	int64_t deadline = mono_ms() + 30000;
	for (;;) {
		evs = scenario_events(sc);
		int admitted = ev_count(evs, "admitted", NULL), done = ev_count(evs, "done", NULL);
		cJSON_Delete(evs);
		if (admitted == done)
			break;
		cr_assert_lt(mono_ms(), deadline);
		nap_ms(20);
	}
	evs = scenario_events(sc);
	int paused = ev_find(evs, "cap_changed", NULL, 0);
	cr_assert_eq(ev_number(evs, paused, "effective"), 0);
	cr_assert_str_eq(ev_string(evs, paused, "why"), "control");
	cr_assert_eq(ev_find(evs, "admitted", NULL, paused), -1, "admitted while paused");
	cr_assert_lt(ev_count(evs, "done", NULL), 6);
	cJSON_Delete(evs);

	r = wavectl("status", "--json");
	cJSON *st = json_parse_or_fail(r.out);
	cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(st, "paused")));
	cJSON_Delete(st);
	run_result_free(&r);

	r = wavectl("resume", NULL);
	cr_assert(strstr(r.out, "effective cap 2 of 2 (was 0)"), "%s", r.out);
	run_result_free(&r);
	r = wavectl("cap", "1");
	cr_assert(strstr(r.out, "effective cap 1 of 2 (was 2)"), "%s", r.out);
	run_result_free(&r);
	r = wavectl("cap", "up");
	cr_assert(strstr(r.out, "effective cap 2 of 2 (was 1)"), "%s", r.out);
	run_result_free(&r);
	r = wavectl("cap", "up");
	cr_assert(strstr(r.out, "effective cap 2 of 2 (was 2)"), "never above the configured cap: %s", r.out);
	run_result_free(&r);
	r = wavectl("cap", "down");
	cr_assert(strstr(r.out, "effective cap 1 of 2 (was 2)"), "%s", r.out);
	run_result_free(&r);
	cr_assert(scenario_await(sc, "done", NULL, 6, 60));
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
	evs = scenario_events(sc);
	const cJSON *e;
	int effective = 2, inflight = 0;
	cJSON_ArrayForEach(e, evs) {
		const char *name = cJSON_GetObjectItem(e, "event")->valuestring;
		if (strcmp(name, "cap_changed") == 0)
			effective = cJSON_GetObjectItem(e, "effective")->valueint;
		else if (strcmp(name, "admitted") == 0)
			cr_assert_leq(++inflight, effective);
		else if (strcmp(name, "done") == 0)
			inflight--;
	}
	cJSON_Delete(evs);
}

Test(e2e_control, a_client_that_never_reads_does_not_stall_the_daemon)
{
	pid_t pid;
	int fd;

	backlog(2, "0.1");
	pid = start_and_connect(&fd);
	/* Ask and ask, reading nothing: its replies pile up unread. */
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (int k = 0; k < 20000; k++) {
		const char *bad = "{\"cmd\":\"nonsense\"}\n";
		if (write(fd, bad, strlen(bad)) == -1 && errno == EAGAIN)
			break;
	}
	cr_assert(scenario_await(sc, "done", NULL, 4, 60), "the daemon must go on admitting and reaping");
	struct run_result r = wavectl("cap", "1");
	cr_assert_eq(r.status, 0, "other clients are still served: %s", r.err);
	run_result_free(&r);
	close(fd);
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
}

Test(e2e_control, bad_requests_get_an_error_and_the_connection_survives)
{
	pid_t pid;
	char *reply;
	int fd;

	backlog(1, "0.1");
	pid = start_and_connect(&fd);
	reply = ask(fd, "this is not json\n");
	cr_assert(strstr(reply, "\"ok\":false") && strstr(reply, "expected a JSON object"), "%s", reply);
	free(reply);
	reply = ask(fd, "{\"cmd\":\"frobnicate\"}\n");
	cr_assert(strstr(reply, "unknown command"), "%s", reply);
	free(reply);
	reply = ask(fd, "{\"cmd\":\"cap\",\"arg\":\"lots\"}\n");
	cr_assert(strstr(reply, "expected a number, up or down"), "%s", reply);
	free(reply);
	reply = ask(fd, "{\"cmd\":\"retry\",\"arg\":\"api#99\"}\n");
	cr_assert(strstr(reply, "no issue api#99"), "%s", reply);
	free(reply);
	reply = ask(fd, "{\"cmd\":\"cap\",\"arg\":\"down\"}\n");
	cr_assert(strstr(reply, "\"ok\":true") && strstr(reply, "\"effective_cap\":1"), "%s", reply);
	free(reply);
	close(fd);
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
}

Test(e2e_control, another_user_is_refused)
{
	pid_t pid, child;
	int status;
	struct stat st;
	char *sock = xasprintf("%s/waved.sock", sc->state);

	backlog(1, "0.1");
	pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "started", NULL, 1, 30));
	int64_t deadline = mono_ms() + 10000;
	while (stat(sock, &st) == -1 && mono_ms() < deadline)
		nap_ms(20);
	cr_assert_eq(st.st_mode & 0777, 0600, "the socket is for its owner only");
	if (geteuid() != 0) {
		kill(pid, SIGTERM);
		scenario_wait(pid, 60);
		free(sock);
		cr_skip_test("needs root to become another user");
	}
	/* Even with the socket opened up by mistake, the peer's uid is checked. */
	chmod(sock, 0666);
	chmod(sc->state, 0755);
	chmod(sc->dir, 0755);
	child = fork();
	if (child == 0) {
		if (setgid(65534) == -1 || setuid(65534) == -1)
			_exit(10);
		int fd = connect_control();
		if (fd == -1)
			_exit(11);
		char buf[512] = "";
		const char *req = "{\"cmd\":\"pause\"}\n";
		/* The refusal may come before the request is even sent. */
		send(fd, req, strlen(req), MSG_NOSIGNAL);
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		_exit(n > 0 && strstr(buf, "permission denied") ? 0 : 13);
	}
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "a request from uid 65534 should be refused (%d)",
	    WEXITSTATUS(status));
	cJSON *evs = scenario_events(sc);
	cr_assert_eq(ev_count(evs, "cap_changed", NULL), 0, "the refused pause changed the cap");
	cJSON_Delete(evs);
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
	free(sock);
}

Test(e2e_control, requests_without_a_daemon_say_so)
{
	struct run_result r;

	backlog(1, "0");
	r = wavectl("pause", NULL);
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "waved is not running"), "%s", r.err);
	run_result_free(&r);
}

/*
 * A repo removed by a reload (while the source cannot be read, so that its
 * issues are still listed), then a retry of one of its issues: refused by
 * name, and the daemon carries on.
 */
Test(e2e_control, retry_of_an_issue_whose_repo_a_reload_removed)
{
	struct run_result r;
	pid_t pid;

	free(scenario_repo(sc, "api"));
	free(scenario_repo(sc, "web"));
	scenario_config(sc, "max_attempts = 1",
	    "[phase \"implement\"]\nrun = [ \"$WAVED_REPO\" = api ] || exit 1; echo x > f.txt\n");
	scenario_issues(sc, "[{\"repo\":\"api\",\"number\":1,\"title\":\"a\"},"
	    "{\"repo\":\"web\",\"number\":1,\"title\":\"w\"}]");
	pid = scenario_start(sc, (const char *[]){ "-f", "-c", sc->conf, NULL });
	cr_assert(scenario_await(sc, "dead", "web#1", 1, 30));
	cr_assert(scenario_await(sc, "done", "api#1", 1, 30));

	char *conf = read_file(sc->conf, NULL), *web = strstr(conf, "[repo \"web\"]");
	cr_assert_not_null(web);
	*web = '\0';
	free(write_text(sc->dir, "waved.conf", conf));
	free(conf);
	scenario_issues(sc, "this is not json");
	r = wavectl("reload", NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_result_free(&r);
	r = wavectl("retry", "web#1");
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "web#1: repo \"web\" is not configured"), "%s", r.err);
	run_result_free(&r);
	r = wavectl("status", NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_result_free(&r);
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
}

/*
 * wavectl reload answers once the new configuration is in force, or with why
 * it was refused (its preflight runs in a child): a repo that is no git
 * repository is refused, and the running configuration stays.
 */
Test(e2e_control, reload_answers_when_applied_or_refused)
{
	struct run_result r;
	pid_t pid;
	int fd;

	backlog(1, "0");
	pid = start_and_connect(&fd);
	close(fd);
	cr_assert(scenario_await(sc, "done", NULL, 2, 30));
	char *conf = read_file(sc->conf, NULL);
	char *bad = xasprintf("%s[repo \"ops\"]\npath = %s\n", conf, sc->dir);
	free(write_text(sc->dir, "waved.conf", bad));
	r = wavectl("reload", NULL);
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "reload refused"), "%s", r.err);
	run_result_free(&r);
	free(write_text(sc->dir, "waved.conf", conf));
	r = wavectl("reload", NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_result_free(&r);
	r = wavectl("cap", "up");
	cr_assert_eq(r.status, 0, "the daemon answers after both: %s", r.err);
	run_result_free(&r);
	free(bad);
	free(conf);
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
}

/* 64 clients that connect and say nothing lock nobody out, and wavectl never dies of SIGPIPE. */
Test(e2e_control, idle_clients_lock_nobody_out)
{
	struct run_result r;
	int fds[70], fd;
	pid_t pid;

	backlog(1, "0.1");
	pid = start_and_connect(&fd);
	for (int k = 0; k < 70; k++)
		cr_assert_geq(fds[k] = connect_control(), 0);
	r = wavectl("cap", "down");
	cr_assert_eq(r.status, 0, "answered beside 70 idle clients: %s", r.err);
	run_result_free(&r);
	for (int k = 0; k < 70; k++)
		close(fds[k]);
	close(fd);
	kill(pid, SIGTERM);
	cr_assert_eq(scenario_wait(pid, 60), 0);
}
