#include "worker/signals.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/util.h"

enum signals_heard
signals_read(int signal_fd)
{
	struct signalfd_siginfo si;

	if (read(signal_fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return HEARD_NOTHING;
	if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
		return HEARD_STOP;
	if (si.ssi_signo == SIGUSR1)
		return HEARD_OVER_BUDGET;
	return HEARD_NOTHING;
}

enum signals_heard
signals_wait(int signal_fd, int fd, int ms)
{
	int64_t until = ms < 0 ? INT64_MAX : mono_ms() + ms;

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = signal_fd, .events = POLLIN }, { .fd = fd, .events = POLLIN },
		};
		int64_t left = until == INT64_MAX ? -1 : until - mono_ms();
		int n;

		if (until != INT64_MAX && left < 0)
			left = 0;
		n = poll(pfd, fd == -1 ? 1 : 2, left > 1000000 ? 1000000 : (int)left);
		if (n == -1 && errno != EINTR)
			return HEARD_NOTHING;
		if (n > 0 && pfd[0].revents) {
			enum signals_heard h = signals_read(signal_fd);

			if (h != HEARD_NOTHING)
				return h;
		}
		if (n > 0 && fd != -1 && pfd[1].revents)
			return HEARD_READY;
		if (n == 0 && left != -1)
			return HEARD_NOTHING;
	}
}
