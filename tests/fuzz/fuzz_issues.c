/*
 * make fuzz: the issues file (common/source_file.c), against a fixed
 * configuration; and its exact form (waved --source-issues), which must
 * print what it read so that it reads back the same.
 */
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/source_file.h"
#include "tests/fuzz/fuzz.h"

static struct config *cfg;

static void
drop_config(void)
{
	config_free(cfg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char conf[] = "[waved]\nstate_dir = state\n[pool \"heavy\"]\ncap = 1\n"
	    "[phase \"implement\"]\nrun = true\n"
	    "[repo \"api\"]\npath = /srv/api\n[repo \"web\"]\npath = /srv/web\npool = heavy\n";
	struct issue_list issues = { 0 };
	struct strbuf problems = { 0 };
	char *errors = NULL;

	if (cfg == NULL) {
		cfg = config_load(fuzz_file("waved.conf", (const uint8_t *)conf, strlen(conf)),
		    &errors);
		if (cfg == NULL)
			abort();
		atexit(drop_config);
	}
	source_file_load(fuzz_file("issues.json", data, size), cfg, &issues, &problems);
	issue_list_clear(&issues);
	strbuf_free(&problems);
	if (source_file_parse_exact((const char *)data, size, "fuzz", cfg, &issues,
	    &problems) == 0) {
		struct issue_list back = { 0 };
		char *text = source_file_format_exact(&issues), *again;

		if (source_file_parse_exact(text, strlen(text), "fuzz", cfg, &back, &problems) != 0)
			abort();	/* what it printed does not read back */
		again = source_file_format_exact(&back);
		if (strcmp(text, again) != 0)
			abort();	/* it read back as something else */
		free(again);
		free(text);
		issue_list_clear(&back);
	}
	issue_list_clear(&issues);
	strbuf_free(&problems);
	return 0;
}
