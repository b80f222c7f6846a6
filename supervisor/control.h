/*
 * The control socket: STATE/waved.sock, a Unix stream socket (mode 0600, the
 * peer's uid checked) speaking one JSON object per line each way.  It lives
 * in the supervisor's poll loop: non-blocking, many clients at once, and a
 * client that is slow or gone never stalls the daemon.
 *
 *   -> {"cmd":"cap","arg":"up"}       cap N|up|down, pause, resume, retry ISSUE, reload
 *   <- {"ok":true,"cap":3,"effective_cap":2,"was":3}
 *   <- {"ok":false,"error":"..."}
 */
#ifndef WAVED_CONTROL_H
#define WAVED_CONTROL_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "common/paths.h"

#define CONTROL_MAX_LINE 4096

struct control;

/*
 * Carries out one request and returns the reply (ok and error are added by
 * control); or CONTROL_LATER, and answers with control_answer(ticket) when
 * the work is done.  The client's next request waits for that answer.
 */
typedef cJSON *control_handler_fn(const char *cmd, const char *arg, char **error,
    uint64_t ticket, void *ctx);
extern const char control_later;
#define CONTROL_LATER ((cJSON *)&control_later)
/* The deferred reply (res) or error of a request; a client gone meanwhile is skipped. */
void control_answer(struct control *c, uint64_t ticket, cJSON *res, const char *error);

/* Listen on STATE/waved.sock; NULL with errno on failure. */
struct control *control_open(const char *state_dir, control_handler_fn *handler, void *ctx);
void control_close(struct control *c);

/* The listening socket and every client, for poll(); room for control_nfds. */
size_t control_nfds(const struct control *c);
size_t control_pollfds(const struct control *c, struct pollfd *fds);
/* One of those entries is ready (the socket: accept; a client: read, write). */
void control_ready(struct control *c, const struct pollfd *pfd);
/* Once a turn: drop the clients that are done or idle too long. */
void control_sweep(struct control *c);

#endif
