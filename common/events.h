/*
 * The event log: STATE/events.ndjson, one JSON object per line, appended by
 * the supervisor alone (DESIGN.md section 12).  Rotated to events.ndjson.1
 * when it passes a size limit.
 */
#ifndef WAVED_EVENTS_H
#define WAVED_EVENTS_H

#include <stdint.h>
#include <sys/types.h>

#include <cJSON.h>

#include "common/log.h"

#define EVENTS_FILE "events.ndjson"
#define EVENTS_ROTATE_BYTES (64LL * 1024 * 1024)

struct events;

/* Opens (creating) STATE/events.ndjson for appending; NULL with errno on failure. */
struct events *events_open(const char *state_dir);
void events_close(struct events *ev);
/* For tests: rotate at this many bytes instead of 64 MiB. */
void events_set_rotate_bytes(struct events *ev, int64_t bytes);

/*
 * Append {"ts":..,"event":name,"issue":..,"attempt":..,"trace":.., fields...}.
 * ctx may be NULL (daemon-wide events); fields, when not NULL, is an object
 * whose members are moved into the line, and is freed.  Returns 0 or -1.
 */
int events_emit(struct events *ev, const char *name, const struct log_ctx *ctx,
    cJSON *fields);
/* The same line, rendered (with its newline, taking the next seq) but not written. */
char *events_render(struct events *ev, const char *name, const struct log_ctx *ctx,
    cJSON *fields);
/*
 * Append whole lines, in order.  A short or failed write cuts the file back
 * to where it was, so the log never holds half a line: 0, or -1 with errno.
 */
int events_append(struct events *ev, char *const *lines, size_t n);
/* The log's size, and cutting it back to one (lines whose commit failed). */
int64_t events_size(const struct events *ev);
void events_cut(struct events *ev, int64_t size);
/* Rotate once the log has passed its size: after the lines are committed. */
void events_rotate_if_due(struct events *ev);

/*
 * Exactly once: every line carries "seq", one more than the last.  The
 * supervisor appends the lines of a state change before it commits the
 * change, and commits the last seq with it; on start, lines past the
 * committed seq (written, then a crash before the commit) are cut off, so
 * the log says what the store says, no more and no less.
 */
int64_t events_seq(const struct events *ev);
void events_set_seq(struct events *ev, int64_t seq);
/* Cut STATE/events.ndjson after its last line with seq <= committed; 0 or -1. */
int events_truncate_uncommitted(const char *state_dir, int64_t committed);

#endif
