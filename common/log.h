/*
 * Logging in the manner of the BSD daemons: stderr in the foreground, syslog
 * when daemonised.  Every line about an issue carries the issue key, attempt
 * and trace id, either from an explicit context or from the process-wide one a
 * worker sets once for its issue.
 */
#ifndef WAVED_LOG_H
#define WAVED_LOG_H

#include <stdarg.h>
#include <stdbool.h>

struct log_ctx {
	const char *issue;	/* "api#12", or NULL */
	int attempt;		/* 0 when none */
	const char *trace;	/* 16 hex chars, or NULL */
};

/* to_stderr: foreground; otherwise syslog(LOG_DAEMON) under ident. */
void log_init(const char *ident, bool to_stderr, int verbosity);
/* Where log_init sent the log: what an exec'd child is told to do likewise. */
bool log_to_stderr_now(void);
int log_verbosity_now(void);
/* The context used by the plain log_* calls (a worker sets its issue). */
void log_set_context(const struct log_ctx *ctx);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* log_warnx each line of text (NULL or empty: nothing), after prefix. */
void log_warnx_lines(const char *prefix, const char *text);
void log_info_lines(const char *prefix, const char *text);

/* With an explicit issue context (the supervisor's view of many issues). */
void log_issue_warnx(const struct log_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
