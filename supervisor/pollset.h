/*
 * The supervisor's one poll(): a registry of entries, each a descriptor,
 * the events wanted and the callback that serves it, so that no caller
 * counts its way through a shared array.  The loop fills it at each turn
 * (descriptors come and go with children and clients), polls, and runs the
 * callback of each entry that is ready, in the order they were added.
 */
#ifndef WAVED_POLLSET_H
#define WAVED_POLLSET_H

#include <poll.h>
#include <stddef.h>

typedef void pollset_fn(void *arg, const struct pollfd *pfd);

struct pollset;

struct pollset *pollset_new(void);
void pollset_free(struct pollset *ps);

/* Empty it for the next turn. */
void pollset_clear(struct pollset *ps);
void pollset_add(struct pollset *ps, int fd, short events, pollset_fn *fn, void *arg);
/* Each of fds (as a module's *_pollfds writes them), served by fn. */
void pollset_add_all(struct pollset *ps, const struct pollfd *fds, size_t n, pollset_fn *fn,
    void *arg);
/* poll(2) over every entry; its return. */
int pollset_poll(struct pollset *ps, int timeout_ms);
/* Run the callback of each entry that is ready. */
void pollset_dispatch(struct pollset *ps);

#endif
