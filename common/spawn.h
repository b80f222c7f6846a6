/*
 * Run a program from an argv array (never through a shell), optionally in a
 * folder, capturing its output, with a timeout.  Used for git commands.
 */
#ifndef WAVED_SPAWN_H
#define WAVED_SPAWN_H

#include "common/util.h"

#define SPAWN_TIMEOUT (-2)	/* killed after timeout_s seconds */

/*
 * Returns the exit status (0-255), 128+N when killed by signal N, -1 when it
 * could not be started, or SPAWN_TIMEOUT.  out (may be NULL) receives stdout
 * and stderr together; timeout_s 0 means none.  The child runs with
 * GIT_TERMINAL_PROMPT=0 so that nothing ever waits on a credential prompt.
 */
int spawn_run(const char *const argv[], const char *cwd, struct strbuf *out,
    int timeout_s);

#endif
