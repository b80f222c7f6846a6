/*
 * SIGHUP and wavectl reload (DESIGN.md section 13): a new configuration, if
 * it is valid and its repos pass the preflight, and a fresh look at the
 * source.  The preflight runs git, so it runs in a child whose answer comes
 * through the poll loop; the loop never waits on it.
 */
#ifndef WAVED_RELOAD_H
#define WAVED_RELOAD_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct supervisor;
struct reload;

struct reload *reload_new(void);
void reload_free(struct reload *r);

/*
 * Ask for a reload.  0: under way, and ticket (0: none, a signal asked) is
 * answered with control_answer when it is done or refused; a request during
 * a reload makes one more after it.  -1: refused at once (logged).
 */
int reload_request(struct supervisor *sv, uint64_t ticket);

/* waved --preflight: the exec'd child that checks a candidate configuration. */
void reload_preflight_main_exec(void) __attribute__((noreturn));

/* The preflight child's pipe, for poll(): 0 or 1 entries. */
size_t reload_pollfds(const struct reload *r, struct pollfd *fds);
void reload_dispatch(struct supervisor *sv, const struct pollfd *fds, size_t n);

#endif
