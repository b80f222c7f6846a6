/*
 * Small helpers shared by every process: allocation that cannot fail
 * silently, string building, time, names and keys.
 */
#ifndef WAVED_UTIL_H
#define WAVED_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <bsd/string.h>	/* strlcpy, strlcat */

#define REPO_NAME_MAX 100	/* GitHub's own limit for a repository name */
#define ISSUE_KEY_MAX (REPO_NAME_MAX + 24)
#define TRACE_LEN 16

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Grow *v (of *cap elements of size elem) so that it holds at least need. */
void grow_array(void **v, size_t *cap, size_t need, size_t elem);

/* A growable string, for building messages and JSON-free text output. */
struct strbuf {
	char *s;
	size_t len, cap;
};
/* Write text to path whole (a temporary file renamed over it, its folder made):
 * a reader sees the old text or the new, never half.  0, or -1 with errno. */
int write_file_whole(const char *path, const char *text);
void strbuf_add(struct strbuf *b, const char *s);
/* n bytes, NULs included (git's -z output); the buffer stays NUL-terminated. */
void strbuf_addn(struct strbuf *b, const char *s, size_t n);
void strbuf_addf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_trim_end(struct strbuf *b);	/* drop trailing newlines and spaces */
char *strbuf_take(struct strbuf *b);	/* caller frees; b is reset */
void strbuf_free(struct strbuf *b);

int64_t now_ms(void);			/* wall clock, milliseconds since the epoch */
int64_t mono_ms(void);			/* monotonic clock, for timers */
/* RFC 3339 UTC with milliseconds: 2026-11-23T16:00:00.123Z (buf >= 25 bytes). */
void format_timestamp(int64_t ms, char *buf, size_t size);
/*
 * How long from now_ms until the time text names: seconds ("90"), or an ISO
 * 8601 time ("2026-12-02T18:00:00Z", "...+01:00", fractions allowed), as an
 * agent writes its usage limit's reset.  Milliseconds (0 when already past),
 * or -1 when text is neither.
 */
int64_t retry_after_parse(const char *text, int64_t now_ms);

/* Repo names are [A-Za-z0-9._-]+ so that they are safe in paths (not "." or ".."). */
bool repo_name_valid(const char *name);
/* "api" + 12 -> "api#12" */
void issue_key(char *buf, size_t size, const char *repo, long number);
/* Parse "api#12" into repo and number; false when it is not of that form. */
bool issue_key_parse(const char *key, char *repo, size_t repo_size, long *number);
/* The longest prefix of s of at most max bytes that does not cut a UTF-8 sequence. */
size_t utf8_cut(const char *s, size_t max);
/* Print untrusted text with control characters shown as '?', at most max bytes
 * (0: no limit), never cutting a UTF-8 sequence. */
void print_text(FILE *fp, const char *text, size_t max);
/* A duration as "42s", "3m12s", "2h05m". */
void format_age(int64_t ms, char *buf, size_t size);
/* A copy of text from outside as valid UTF-8: each byte that starts no valid
 * sequence (overlong, surrogate, past U+10FFFF, cut short) becomes U+FFFD. */
char *utf8_valid_dup(const char *s);
/* Parse a positive decimal integer that fits in a long; false otherwise. */
bool parse_positive_long(const char *s, long *out);

/* 16 lowercase hex characters from the kernel's random source. */
void trace_id_new(char out[TRACE_LEN + 1]);

/* mkdir -p with the given mode for each created component. */
int mkdir_p(const char *path, unsigned mode);
/* rm -rf: remove path and everything below it; 0, or -1 with errno. */
int remove_tree(const char *path);
/* Read a whole file into a NUL-terminated buffer; NULL with errno set on failure. */
char *read_file(const char *path, size_t *len_out);
/* The last non-empty line of text into out (cut to size), for a one-line reason. */
void last_line(const char *text, char *out, size_t size);

/*
 * Is the filesystem of path nearly full: less free than 1% of its size (at
 * least 1 MiB, at most 256 MiB)?  A failure then is the disk's, not the
 * issue's (DESIGN.md section 15: a full disk).  free_bytes gets what is free.
 */
bool disk_low(const char *path, long long *free_bytes);
/* How a worker's reason starts when the disk, not the work, failed the attempt. */
#define DISK_FULL_REASON "disk full"


#endif
