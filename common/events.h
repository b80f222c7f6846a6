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

#endif
