/*
 * make fuzz: the control socket (supervisor/control.c), for real: each input
 * is what a client sends down a Unix socket, then it hangs up; the server
 * reads, frames and parses the lines, answers now or later (by ticket), and
 * drops the client.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cJSON.h>

#include "common/paths.h"
#include "common/util.h"
#include "supervisor/control.h"
#include "tests/fuzz/fuzz.h"

static struct control *control;
static uint64_t later;		/* a request answered after the round, as a reload is */

static cJSON *
handler(const char *cmd, const char *arg, char **error, uint64_t ticket, void *ctx)
{
	cJSON *res;

	(void)ctx;
	if (strcmp(cmd, "reload") == 0) {
		later = ticket;
		return CONTROL_LATER;
	}
	if (strcmp(cmd, "status") != 0) {
		*error = xasprintf("unknown command \"%.40s\"", cmd);
		return NULL;
	}
	res = cJSON_CreateObject();
	cJSON_AddStringToObject(res, "arg", arg ? arg : "");
	return res;
}

static void
close_control(void)
{
	control_close(control);
}

/* Poll and dispatch the server until the client has its answers and EOF. */
static void
serve(int client)
{
	for (int round = 0; round < 64; round++) {
		struct pollfd fds[80];
		size_t n = control_pollfds(control, fds);
		char buf[4096];

		fds[n] = (struct pollfd){ .fd = client, .events = POLLIN };
		if (poll(fds, n + 1, 1) < 0)
			return;
		for (size_t k = 0; k < n; k++)
			if (fds[k].revents)
				control_ready(control, &fds[k]);
		control_sweep(control);
		if (later) {
			control_answer(control, later, cJSON_CreateObject(), NULL);
			later = 0;
		}
		if (client == -1 && control_nfds(control) == 1)
			return;		/* only the listening socket is left */
		if (client != -1 && fds[n].revents && read(client, buf, sizeof(buf)) <= 0)
			return;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (control == NULL) {
		if ((control = control_open(fuzz_dir(), handler, NULL)) == NULL)
			abort();
		atexit(close_control);
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", fuzz_dir(), CONTROL_SOCKET);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		abort();
	/* Non-blocking: a request larger than the socket buffer is sent in part. */
	send(fd, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
	shutdown(fd, SHUT_WR);
	serve(fd);
	close(fd);
	serve(-1);	/* the server notices and drops the client */
	return 0;
}
