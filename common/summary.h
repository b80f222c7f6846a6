/*
 * How the work went (wavectl summary), from the store and the event log:
 * printed by wavectl, and by waved --once when interrupted or drained.
 */
#ifndef WAVED_SUMMARY_H
#define WAVED_SUMMARY_H

#include <stdbool.h>
#include <stdio.h>

#include "common/config.h"

/* The table (or, with json, one object) on fp; -1 when the state cannot be read. */
int summary_print(const struct config *cfg, FILE *fp, bool json);

#endif
