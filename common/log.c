#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static bool log_to_stderr = true;
static int log_verbosity;
static const char *log_ident = "waved";
static struct log_ctx log_default_ctx;

void
log_init(const char *ident, bool to_stderr, int verbosity)
{
	log_ident = ident;
	log_to_stderr = to_stderr;
	log_verbosity = verbosity;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

bool
log_to_stderr_now(void)
{
	return log_to_stderr;
}

int
log_verbosity_now(void)
{
	return log_verbosity;
}

void
log_set_context(const struct log_ctx *ctx)
{
	static char issue[128], trace[32];

	log_default_ctx = (struct log_ctx){ 0 };
	if (ctx == NULL)
		return;
	if (ctx->issue) {
		snprintf(issue, sizeof(issue), "%s", ctx->issue);
		log_default_ctx.issue = issue;
	}
	if (ctx->trace) {
		snprintf(trace, sizeof(trace), "%s", ctx->trace);
		log_default_ctx.trace = trace;
	}
	log_default_ctx.attempt = ctx->attempt;
}

/* One line: "[issue api#12 attempt 1 trace 9f..] message: strerror". */
static void
log_emit(int prio, const struct log_ctx *ctx, int err, const char *fmt, va_list ap)
{
	char prefix[192] = "", msg[4096];
	int saved = errno;

	if (prio == LOG_DEBUG && log_verbosity < 1)
		return;
	if (ctx && ctx->issue) {
		int n = snprintf(prefix, sizeof(prefix), "%s", ctx->issue);
		if (ctx->attempt > 0 && n >= 0 && (size_t)n < sizeof(prefix))
			n += snprintf(prefix + n, sizeof(prefix) - n, " attempt %d", ctx->attempt);
		if (ctx->trace && n >= 0 && (size_t)n < sizeof(prefix))
			snprintf(prefix + n, sizeof(prefix) - n, " trace %s", ctx->trace);
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_to_stderr) {
		fprintf(stderr, "%s: %s%s%s%s%s\n", log_ident, prefix,
		    *prefix ? ": " : "", msg, err ? ": " : "", err ? strerror(err) : "");
	} else {
		syslog(prio, "%s%s%s%s%s", prefix, *prefix ? ": " : "", msg,
		    err ? ": " : "", err ? strerror(err) : "");
	}
	errno = saved;
}

#define LOG_VARIANT(name, prio, with_errno)				\
void									\
name(const char *fmt, ...)						\
{									\
	va_list ap;							\
	int err = (with_errno) ? errno : 0;				\
	va_start(ap, fmt);						\
	log_emit(prio, &log_default_ctx, err, fmt, ap);			\
	va_end(ap);							\
}

LOG_VARIANT(log_warn, LOG_WARNING, 1)
LOG_VARIANT(log_warnx, LOG_WARNING, 0)
LOG_VARIANT(log_info, LOG_INFO, 0)
LOG_VARIANT(log_debug, LOG_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int err = errno;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, &log_default_ctx, err, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, &log_default_ctx, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

void
log_issue_warnx(const struct log_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, ctx, 0, fmt, ap);
	va_end(ap);
}


void
log_warnx_lines(const char *prefix, const char *text)
{
	const char *line = text, *nl;

	while (line && *line) {
		nl = strchr(line, '\n');
		log_warnx("%s%.*s", prefix, nl ? (int)(nl - line) : (int)strlen(line), line);
		line = nl ? nl + 1 : NULL;
	}
}

void
log_info_lines(const char *prefix, const char *text)
{
	const char *line = text, *nl;

	while (line && *line) {
		nl = strchr(line, '\n');
		log_info("%s%.*s", prefix, nl ? (int)(nl - line) : (int)strlen(line), line);
		line = nl ? nl + 1 : NULL;
	}
}
