/*
 * A command line of the configuration split into an argv array, so that a
 * configured command runs without a shell (DESIGN.md sections 10 and 14).
 *
 * The rule, as waved.conf(5) states it: words are separated by blanks;
 * '...' keeps everything inside as it is; "..." too, except that \" and \\
 * stand for " and \; outside quotes a backslash keeps the next character as
 * it is.  Nothing is expanded: $VAR, ~, * and $(...) stay as written.
 */
#ifndef WAVED_ARGV_H
#define WAVED_ARGV_H

#include <stddef.h>

/* The words of text, NULL-terminated (free with argv_free); NULL with why
 * (an unterminated quote, a trailing backslash, no word at all). */
char **argv_split(const char *text, char *why, size_t whysize);
void argv_free(char **argv);

#endif
