/* make fuzz: the issues file (common/source_file.c), against a fixed configuration. */
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
	return 0;
}
