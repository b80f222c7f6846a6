#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		fatal("malloc %zu", size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		fatal("calloc %zu x %zu", n, size);
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		fatalx("reallocarray: %zu x %zu overflows", n, size);
	p = realloc(p, (n * size) != 0 ? n * size : 1);
	if (p == NULL)
		fatal("realloc %zu x %zu", n, size);
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal("strdup");
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		fatal("vasprintf");
	return s;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void
grow_array(void **v, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 8;

	if (need <= *cap)
		return;
	while (n < need)
		n *= 2;
	*v = xreallocarray(*v, n, elem);
	*cap = n;
}

static void
strbuf_reserve(struct strbuf *b, size_t extra)
{
	grow_array((void **)&b->s, &b->cap, b->len + extra + 1, 1);
}

int
write_file_whole(const char *path, const char *text)
{
	char *tmp = xasprintf("%s.%d.tmp", path, (int)getpid()), *dir = xstrdup(path), *slash;
	size_t len = strlen(text);
	int fd, rc = -1;

	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		mkdir_p(dir, 0755);
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) != -1) {
		rc = write(fd, text, len) == (ssize_t)len ? 0 : -1;
		if (close(fd) != 0 || rc == -1 || rename(tmp, path) != 0) {
			rc = -1;
			unlink(tmp);
		}
	}
	free(dir);
	free(tmp);
	return rc;
}

void
strbuf_add(struct strbuf *b, const char *s)
{
	size_t n = strlen(s);

	strbuf_reserve(b, n);
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

void
strbuf_addn(struct strbuf *b, const char *s, size_t n)
{
	strbuf_reserve(b, n);
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
strbuf_addf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	strbuf_add(b, s);
	free(s);
}

void
strbuf_trim_end(struct strbuf *b)
{
	while (b->len > 0 && (b->s[b->len - 1] == '\n' || b->s[b->len - 1] == ' '))
		b->s[--b->len] = '\0';
}

char *
strbuf_take(struct strbuf *b)
{
	char *s = b->s ? b->s : xstrdup("");

	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

void
strbuf_free(struct strbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

static int64_t
clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
now_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

int64_t
mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

void
format_timestamp(int64_t ms, char *buf, size_t size)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

bool
repo_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > REPO_NAME_MAX)
		return false;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-") == n;
}

void
issue_key(char *buf, size_t size, const char *repo, long number)
{
	snprintf(buf, size, "%s#%ld", repo, number);
}

size_t
utf8_cut(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return n;
	/* Step back over continuation bytes (10xxxxxx) to a character start. */
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

bool
parse_positive_long(const char *s, long *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
		return false;
	*out = v;
	return true;
}

bool
issue_key_parse(const char *key, char *repo, size_t repo_size, long *number)
{
	const char *hash = strrchr(key, '#');
	size_t n;

	if (hash == NULL)
		return false;
	n = (size_t)(hash - key);
	if (n == 0 || n >= repo_size)
		return false;
	memcpy(repo, key, n);
	repo[n] = '\0';
	return repo_name_valid(repo) && parse_positive_long(hash + 1, number);
}

void
trace_id_new(char out[TRACE_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[TRACE_LEN / 2];
	size_t i;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		/* Never fatal: a trace id only has to be unlikely to repeat. */
		uint64_t x = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32);
		memcpy(raw, &x, sizeof(raw));
	}
	for (i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[TRACE_LEN] = '\0';
}

int
mkdir_p(const char *path, unsigned mode)
{
	char *copy = xstrdup(path), *p;
	int rc = 0;

	for (p = copy + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;

			*p = '\0';
			if (mkdir(copy, mode) == -1 && errno != EEXIST) {
				rc = -1;
				break;
			}
			*p = saved;
			if (saved == '\0')
				break;
		}
	}
	free(copy);
	return rc;
}

static int
remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
remove_tree(const char *path)
{
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 0;
	return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *
read_file(const char *path, size_t *len_out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct strbuf b = { 0 };
	char chunk[65536];
	ssize_t n;

	if (fd == -1)
		return NULL;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			int saved = errno;
			close(fd);
			strbuf_free(&b);
			errno = saved;
			return NULL;
		}
		strbuf_reserve(&b, (size_t)n);
		memcpy(b.s + b.len, chunk, (size_t)n);
		b.len += (size_t)n;
		b.s[b.len] = '\0';
	}
	close(fd);
	if (len_out)
		*len_out = b.len;
	return strbuf_take(&b);
}

/* The length of the valid UTF-8 sequence at s, or 0. */
static size_t
utf8_sequence(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	unsigned long cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

char *
utf8_valid_dup(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);
	char *out = xmalloc(len * 3 + 1), *o = out;

	while (*p) {
		size_t n = utf8_sequence(p);

		if (n == 0) {
			memcpy(o, "\xef\xbf\xbd", 3);	/* U+FFFD */
			o += 3;
			p++;
			continue;
		}
		memcpy(o, p, n);
		o += n;
		p += n;
	}
	*o = '\0';
	return xreallocarray(out, (size_t)(o - out) + 1, 1);
}

bool
disk_low(const char *path, long long *free_bytes)
{
	struct statvfs st;
	long long size, avail, floor;

	if (statvfs(path, &st) == -1)
		return false;
	size = (long long)st.f_blocks * (long long)st.f_frsize;
	avail = (long long)st.f_bavail * (long long)st.f_frsize;
	floor = size / 100;
	if (floor < 1LL << 20)
		floor = 1LL << 20;
	if (floor > 256LL << 20)
		floor = 256LL << 20;
	if (free_bytes)
		*free_bytes = avail;
	return avail < floor;
}

void
last_line(const char *text, char *out, size_t size)
{
	const char *end = text + strlen(text), *start;

	while (end > text && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	start = end;
	while (start > text && start[-1] != '\n')
		start--;
	snprintf(out, size, "%.*s", (int)(end - start), start);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (no time zone involved). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

int64_t
retry_after_parse(const char *text, int64_t now)
{
	int y, mo, d, h, mi, sec, used = 0, oh, om;
	const char *p;
	char *end;
	int64_t at;

	if (text == NULL)
		return -1;
	text += strspn(text, " \t");
	/* Seconds and nothing else ("30 minutes" is no answer), within a year. */
	if (*text >= '0' && *text <= '9' && text[strspn(text, "0123456789")] != '-') {
		long long s = strtoll(text, &end, 10);

		return end[strspn(end, " \t\r\n")] != '\0' || s > 366LL * 86400 ? -1 : s * 1000;
	}
	if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 ||
	    used != 19 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	p = text + used;
	if (*p == '.')
		p += 1 + strspn(p + 1, "0123456789");
	at = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) * 1000;
	if (*p == 'Z' || *p == 'z')
		p++;
	else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2 &&
	    oh <= 23 && om <= 59) {
		at -= (*p == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60) * 1000;
		p += 6;
	} else
		return -1;
	if (p[strspn(p, " \t\r\n")] != '\0' || at - now > 366LL * 86400 * 1000)
		return -1;
	return at > now ? at - now : 0;
}

void
print_text(FILE *fp, const char *text, size_t max)
{
	size_t n = max ? utf8_cut(text, max) : strlen(text);

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];

		fputc(c < 0x20 || c == 0x7f ? '?' : c, fp);
	}
	if (n < strlen(text))
		fputs("...", fp);
}

void
format_age(int64_t ms, char *buf, size_t size)
{
	long long s = (long long)(ms < 0 ? 0 : ms / 1000);

	if (s < 60)
		snprintf(buf, size, "%.1fs", ms < 0 ? 0.0 : ms / 1000.0);
	else if (s < 3600)
		snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(buf, size, "%lldh%02lldm", s / 3600, s % 3600 / 60);
}
