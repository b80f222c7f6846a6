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

/*
 * The exact form: what waved --source-issues prints for wavectl plan, so
 * that a source only waved may read (GitHub: one client, one token) reaches
 * wavectl as it reached waved.  An issues file, one entry a line, that also
 * carries what the file form cannot: "created" (the source's order key,
 * which breaks priority ties) and dependencies on issues of GitHub repos
 * waved does not manage ("owner/name#N").  Each entry's fields come out as
 * they went in: dependencies and their order, pool, title and body, and
 * the list's own order (a repeated issue too).
 */
char *source_file_format_exact(const struct issue_list *l);	/* caller frees */

/* Read it back; as source_file_parse, but any problem is one of the whole
 * list (-1): what waved printed is read whole or not at all. */
int source_file_parse_exact(const char *text, size_t len, const char *name,
    const struct config *cfg, struct issue_list *out, struct strbuf *problems);

#endif
