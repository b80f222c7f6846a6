#include "worker/remote.h"

#include <stdbool.h>
#include <stdio.h>

#include "common/git.h"
#include "worker/signals.h"

/* Pauses before trying the remote again. */
static const int remote_retry_ms[] = { 1000, 4000 };

/* Wait ms, or less if the worker is asked to stop (true then); its children's ends do not count. */
static bool
pause_or_stop(int signal_fd, int ms)
{
	int64_t until = mono_ms() + ms;
	enum signals_heard h;

	/* SIGUSR1 (over budget) is for a phase to hear: the pause goes on. */
	do {
		int64_t left = until - mono_ms();

		h = signals_wait(signal_fd, -1, left > 0 ? (int)left : 0);
	} while (h == HEARD_OVER_BUDGET);
	return h == HEARD_STOP;
}

int
remote_git_call(const struct remote_call *c, const char *dir, struct strbuf *out,
    const char *const args[])
{
	int rc;

	for (size_t k = 0; ; k++) {
		strbuf_free(out);
		rc = git_run_remote(dir, c->timeout_s, out, args);
		if (rc == 0 || rc == -2 || k == ARRAY_LEN(remote_retry_ms) ||
		    git_push_refused(out->s))
			return rc;
		dprintf(c->log_fd, "== waved: %s %s failed (%d); again in %d ms\n", args[0],
		    c->remote, rc, remote_retry_ms[k]);
		if (pause_or_stop(c->signal_fd, remote_retry_ms[k]))
			return REMOTE_STOPPED;
	}
}
