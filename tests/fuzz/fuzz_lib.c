#include "tests/fuzz/fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static char *scratch;
static char *paths[4];

static void
remove_scratch(void)
{
	remove_tree(scratch);
	free(scratch);
	for (size_t k = 0; k < 4; k++)
		free(paths[k]);
}

const char *
fuzz_dir(void)
{
	if (scratch == NULL) {
		char tmpl[] = "/tmp/waved-fuzz.XXXXXX";

		if (mkdtemp(tmpl) == NULL)
			abort();
		scratch = xstrdup(tmpl);
		atexit(remove_scratch);
	}
	return scratch;
}

char *
fuzz_string(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);

	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

const char *
fuzz_file(const char *name, const uint8_t *data, size_t size)
{
	size_t k = 0;
	FILE *fp;

	while (k < 3 && paths[k] && strcmp(strrchr(paths[k], '/') + 1, name) != 0)
		k++;
	if (paths[k] == NULL)
		paths[k] = xasprintf("%s/%s", fuzz_dir(), name);
	if ((fp = fopen(paths[k], "w")) == NULL)
		abort();
	fwrite(data, 1, size, fp);
	fclose(fp);
	return paths[k];
}
