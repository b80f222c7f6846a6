#include "supervisor/pollset.h"

#include <stdlib.h>

#include "common/util.h"

struct entry {
	pollset_fn *fn;
	void *arg;
};

struct pollset {
	struct pollfd *fds;	/* what poll() takes, beside */
	struct entry *entries;	/* who serves each */
	size_t n, cap, entries_cap;
};

struct pollset *
pollset_new(void)
{
	return xcalloc(1, sizeof(struct pollset));
}

void
pollset_free(struct pollset *ps)
{
	if (ps == NULL)
		return;
	free(ps->fds);
	free(ps->entries);
	free(ps);
}

void
pollset_clear(struct pollset *ps)
{
	ps->n = 0;
}

void
pollset_add(struct pollset *ps, int fd, short events, pollset_fn *fn, void *arg)
{
	grow_array((void **)&ps->fds, &ps->cap, ps->n + 1, sizeof(*ps->fds));
	grow_array((void **)&ps->entries, &ps->entries_cap, ps->n + 1, sizeof(*ps->entries));
	ps->fds[ps->n] = (struct pollfd){ .fd = fd, .events = events };
	ps->entries[ps->n++] = (struct entry){ fn, arg };
}

void
pollset_add_all(struct pollset *ps, const struct pollfd *fds, size_t n, pollset_fn *fn,
    void *arg)
{
	for (size_t k = 0; k < n; k++)
		pollset_add(ps, fds[k].fd, fds[k].events, fn, arg);
}

int
pollset_poll(struct pollset *ps, int timeout_ms)
{
	return poll(ps->fds, (nfds_t)ps->n, timeout_ms);
}

void
pollset_dispatch(struct pollset *ps)
{
	/* Callbacks add no entry: the set is this turn's, and is not moved under them. */
	for (size_t k = 0; k < ps->n; k++)
		if (ps->fds[k].revents)
			ps->entries[k].fn(ps->entries[k].arg, &ps->fds[k]);
}
