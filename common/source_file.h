/*
 * The file source (DESIGN.md section 10): a JSON array of issue objects.
 * What a [source] command prints is read by the same rules.
 */
#ifndef WAVED_SOURCE_FILE_H
#define WAVED_SOURCE_FILE_H

#include "common/config.h"
#include "common/issue.h"
#include "common/util.h"

/*
 * Load every valid entry of the issues file into out.  A bad entry is
 * reported in problems ("FILE: entry K: reason", one per line) and skipped.
 * Returns 0, or -1 when the file as a whole cannot be used (unreadable, not a
 * JSON array): then problems says why and out is left empty.
 */
int source_file_load(const char *path, const struct config *cfg,
    struct issue_list *out, struct strbuf *problems);

/*
 * The same from text already read (len bytes; it need not end in a NUL),
 * what a [source] command printed.  name starts each problem line.  Text
 * that is not JSON is reported with the line where it stops making sense.
 */
int source_file_parse(const char *text, size_t len, const char *name,
    const struct config *cfg, struct issue_list *out, struct strbuf *problems);

#endif
