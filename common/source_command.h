/*
 * The command source (DESIGN.md section 10): [source] command, argv-split
 * and run without a shell in the configuration's folder under
 * command_timeout, prints on stdout what an issues file holds.  A run that
 * fails, hangs or prints something that is not such a list is unusable as a
 * whole, and says why; bad entries are skipped one by one, as in a file.
 * Issue text from the command is untrusted: it only ever becomes data.
 */
#ifndef WAVED_SOURCE_COMMAND_H
#define WAVED_SOURCE_COMMAND_H

#include "common/command.h"
#include "common/config.h"
#include "common/issue.h"
#include "common/util.h"

#define SOURCE_COMMAND_NAME "source command"	/* how its problems begin */
#define SOURCE_COMMAND_OUT_MAX (64u << 20)	/* past this, no list of issues */

/* Start the run (through the caller's loop); NULL with why (caller frees). */
struct command *source_command_start(const struct config *cfg, char **why);

/*
 * What a finished run gave: 0 with its issues in out (bad entries reported
 * in problems and skipped), or -1 and why in problems: its exit, its
 * timeout, or the JSON error with its line.
 */
int source_command_result(const struct command *c, const struct config *cfg,
    struct issue_list *out, struct strbuf *problems);

/* Run it once and wait (wavectl plan, waved -n); as source_command_result,
 * its stderr added to problems. */
int source_command_load(const struct config *cfg, struct issue_list *out,
    struct strbuf *problems);

#endif
