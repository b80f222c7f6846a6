/*
 * The GitHub client's one token holder (client.c): where the token comes
 * from (token_command, token_file or $GITHUB_TOKEN; a fixed one for tests
 * and wavectl), the Authorization header made of it, and its refresh:
 * token_file read again on a reload and a 401, token_command run again
 * every token_ttl and on a 401, through the poll loop (never waited on
 * there).  The token is never logged, never in argv, and in the phases'
 * environment only with pass_token = yes.
 */
#ifndef WAVED_GITHUB_TOKEN_H
#define WAVED_GITHUB_TOKEN_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "supervisor/children.h"

struct gh_token;

/* The token from token_file (refused if group or others may read it) or $GITHUB_TOKEN. */
char *github_token_load(const struct source_conf *src, char **err);

/* A token that is never refreshed (NULL: none). */
struct gh_token *gh_token_fixed(const char *token);
/* The token of cfg's [source]: token_command run here, in place, or
 * token_file or $GITHUB_TOKEN; NULL with why in *err. */
struct gh_token *gh_token_open(const struct config *cfg, char **err);
/* token_command's later runs are children of the supervisor: their ends
 * go to fn with arg (which children_forget(arg) lets go of). */
void gh_token_set_exit(struct gh_token *tk, child_exit_fn *fn, void *arg);
void gh_token_free(struct gh_token *tk);

/* "Authorization: Bearer ...", or NULL without a token. */
const char *gh_token_header(const struct gh_token *tk);
/* Counts tokens taken up: a request sent with an older one may try the new one. */
unsigned gh_token_generation(const struct gh_token *tk);
/* A 401 is waiting on token_command: no request should go meanwhile. */
bool gh_token_awaited(const struct gh_token *tk);

/*
 * Fetch the token again: token_file is read now, token_command started
 * (urgent: requests wait for it).  False when nothing can give another
 * token (a fixed one, or $GITHUB_TOKEN).
 */
bool gh_token_refresh(struct gh_token *tk, bool urgent);
/* A reload: the token's source of cfg, token_file read again now, token_command run again. */
void gh_token_reconfigure(struct gh_token *tk, const struct config *cfg);

/* Loop integration, for a running token_command: its descriptors (room for
 * gh_token_nfds), its deadline or the next token_ttl run (monotonic ms,
 * INT64_MAX when none), and the work after a poll. */
size_t gh_token_nfds(const struct gh_token *tk);
size_t gh_token_pollfds(const struct gh_token *tk, struct pollfd *fds);
int64_t gh_token_deadline(const struct gh_token *tk);
void gh_token_dispatch(struct gh_token *tk, const struct pollfd *fds, size_t n, int64_t now);
/* Was pid token_command?  Its end taken in when it was. */
bool gh_token_child_exited(struct gh_token *tk, pid_t pid, int status);
/* Where nothing else reaps (-n, wavectl): wait for a running token_command in place. */
void gh_token_wait(struct gh_token *tk);

#endif
