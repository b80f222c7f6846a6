/*
 * What a worker hears on its signalfd, in one place for every wait: SIGTERM
 * and SIGINT ask it to stop, SIGUSR1 says its issue is over budget (DESIGN.md
 * section 20), SIGCHLD says nothing to a wait (a phase reaps its own).
 */
#ifndef WAVED_WORKER_SIGNALS_H
#define WAVED_WORKER_SIGNALS_H

enum signals_heard {
	HEARD_NOTHING,		/* no signal, or one that asks nothing; or the time is up */
	HEARD_READY,		/* the descriptor waited on is readable */
	HEARD_STOP,		/* SIGTERM or SIGINT */
	HEARD_OVER_BUDGET,	/* SIGUSR1 */
};

/* Read one signal from the (non-blocking or ready) signalfd and say what it asks. */
enum signals_heard signals_read(int signal_fd);

/*
 * Wait up to ms (-1: no limit) for a signal that asks something, or for fd
 * to be readable (-1: none).  HEARD_NOTHING when the time is up.
 */
enum signals_heard signals_wait(int signal_fd, int fd, int ms);

#endif
