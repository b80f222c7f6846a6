/*
 * libcurl, loaded when the GitHub source first needs it.  Linked in, its
 * 38 libraries (TLS, Kerberos, LDAP...) cost every waved 5-6 MiB of memory
 * at start, and every forked worker its share, for a file source that never
 * speaks HTTP.  curl_dl.c defines the libcurl functions waved calls, each
 * forwarding to the one dlopen found; nothing else changes for the callers.
 */
#ifndef WAVED_CURL_DL_H
#define WAVED_CURL_DL_H

#include <stdbool.h>

/* Load libcurl once; false with *err set (caller frees) when it cannot be. */
bool curl_dl_load(char **err);
/* The same for a caller with no way to report: a failure ends the process. */
void curl_dl_require(void);

#endif
