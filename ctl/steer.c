/*
 * wavectl cap, pause, resume, retry, reload: requests to the running daemon
 * over its control socket, the same levers as the signals.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cJSON.h>

#include "ctl/ctl.h"
#include "common/paths.h"

#define REPLY_TIMEOUT_MS 60000	/* a reload answers after its preflight */

/* Send one request and wait for its reply; NULL (printed why) on failure. */
static cJSON *
request(const struct config *cfg, const char *cmd, const char *arg)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *path = xasprintf("%s/%s", cfg->state_dir, CONTROL_SOCKET), *text;
	struct strbuf in = { 0 };
	cJSON *req = cJSON_CreateObject(), *res = NULL;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int64_t deadline = mono_ms() + REPLY_TIMEOUT_MS;

	strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if (fd == -1 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "wavectl: waved is not running (no control socket at %s: %s)\n",
		    path, strerror(errno));
		goto out;
	}
	cJSON_AddStringToObject(req, "cmd", cmd);
	if (arg)
		cJSON_AddStringToObject(req, "arg", arg);
	text = cJSON_PrintUnformatted(req);
	strbuf_add(&in, text);
	strbuf_add(&in, "\n");
	free(text);
	/* MSG_NOSIGNAL: a daemon that refused us is an error to report, not a SIGPIPE. */
	if (send(fd, in.s, in.len, MSG_NOSIGNAL) != (ssize_t)in.len) {
		fprintf(stderr, "wavectl: waved refused the request (%s): %s\n", path,
		    errno == EPIPE || errno == ECONNRESET ? "the connection was closed, "
		    "perhaps too many clients" : strerror(errno));
		goto out;
	}
	strbuf_free(&in);
	while (in.len == 0 || in.s[in.len - 1] != '\n') {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		char buf[4096];
		ssize_t n;

		if (poll(&pfd, 1, (int)(deadline - mono_ms() > 0 ? deadline - mono_ms() : 0)) <= 0) {
			fprintf(stderr, "wavectl: no reply from waved within %d s\n", REPLY_TIMEOUT_MS / 1000);
			goto out;
		}
		if ((n = read(fd, buf, sizeof(buf) - 1)) <= 0) {
			fprintf(stderr, "wavectl: waved closed the connection without a reply "
			    "(too many clients, or it is stopping)\n");
			goto out;
		}
		buf[n] = '\0';
		strbuf_add(&in, buf);
	}
	if ((res = cJSON_Parse(in.s)) == NULL)
		fprintf(stderr, "wavectl: a reply that is not JSON: %s", in.s);
out:
	if (fd != -1)
		close(fd);
	strbuf_free(&in);
	cJSON_Delete(req);
	free(path);
	return res;
}

static int
steer(const char *config_path, const char *cmd, const char *arg)
{
	struct config *cfg = ctl_load_config(config_path);
	cJSON *res;
	int rc = CTL_ATTENTION;

	if (cfg == NULL)
		return CTL_BAD_INPUT;
	if ((res = request(cfg, cmd, arg)) == NULL)
		goto out;
	if (!cJSON_IsTrue(cJSON_GetObjectItem(res, "ok"))) {
		fprintf(stderr, "wavectl: %s: %s\n", cmd,
		    cJSON_GetStringValue(cJSON_GetObjectItem(res, "error")));
		goto out;
	}
	rc = CTL_OK;
	if (cJSON_GetObjectItem(res, "effective_cap"))
		printf("effective cap %d of %d (was %d)%s\n",
		    cJSON_GetObjectItem(res, "effective_cap")->valueint,
		    cJSON_GetObjectItem(res, "cap")->valueint,
		    cJSON_GetObjectItem(res, "was")->valueint,
		    cJSON_GetObjectItem(res, "effective_cap")->valueint == 0 ? ": paused" : "");
	else if (strcmp(cmd, "retry") == 0)
		printf("%s: back in line\n", arg);
	else
		printf("%s: done\n", cmd);
out:
	cJSON_Delete(res);
	config_free(cfg);
	return rc;
}

int
cmd_cap(const char *config_path, int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: wavectl cap N|up|down\n");
		return CTL_BAD_INPUT;
	}
	return steer(config_path, "cap", argv[1]);
}

int
cmd_retry(const char *config_path, int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: wavectl retry ISSUE\n");
		return CTL_BAD_INPUT;
	}
	return steer(config_path, "retry", argv[1]);
}

/* pause, resume, reload: no argument. */
int
cmd_lever(const char *config_path, int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "usage: wavectl %s\n", argv[0]);
		return CTL_BAD_INPUT;
	}
	return steer(config_path, argv[0], NULL);
}
