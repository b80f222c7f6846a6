#include "common/argv.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One word starting at *p; false with why when it cannot end. */
static bool
one_word(const char **p, struct strbuf *word, char *why, size_t whysize)
{
	const char *s = *p;
	char c[2] = { 0, 0 };

	while (*s && !is_blank(*s)) {
		if (*s == '\'') {
			const char *end = strchr(s + 1, '\'');

			if (end == NULL) {
				snprintf(why, whysize, "a ' that is never closed");
				return false;
			}
			char *part = xasprintf("%.*s", (int)(end - s - 1), s + 1);
			strbuf_add(word, part);
			free(part);
			s = end + 1;
		} else if (*s == '"') {
			for (s++; *s != '"'; s++) {
				if (*s == '\0') {
					snprintf(why, whysize, "a \" that is never closed");
					return false;
				}
				if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
					s++;
				c[0] = *s;
				strbuf_add(word, c);
			}
			s++;
		} else if (*s == '\\') {
			if (s[1] == '\0') {
				snprintf(why, whysize, "a \\ with nothing after it");
				return false;
			}
			c[0] = s[1];
			strbuf_add(word, c);
			s += 2;
		} else {
			c[0] = *s++;
			strbuf_add(word, c);
		}
	}
	*p = s;
	return true;
}

char **
argv_split(const char *text, char *why, size_t whysize)
{
	char **argv = xcalloc(1, sizeof(char *));
	size_t n = 0, cap = 1;
	const char *p = text;

	for (;;) {
		struct strbuf word = { 0 };

		while (is_blank(*p))
			p++;
		if (*p == '\0')
			break;
		if (!one_word(&p, &word, why, whysize)) {
			strbuf_free(&word);
			argv_free(argv);
			return NULL;
		}
		grow_array((void **)&argv, &cap, n + 2, sizeof(char *));
		argv[n++] = strbuf_take(&word);	/* "" too is a word */
		argv[n] = NULL;
	}
	if (n == 0) {
		snprintf(why, whysize, "expected a command, got nothing");
		argv_free(argv);
		return NULL;
	}
	return argv;
}

void
argv_free(char **argv)
{
	if (argv == NULL)
		return;
	for (size_t k = 0; argv[k]; k++)
		free(argv[k]);
	free(argv);
}
