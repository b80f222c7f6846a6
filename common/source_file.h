/*
 * The file source (DESIGN.md section 10): a JSON array of issue objects.
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

#endif
