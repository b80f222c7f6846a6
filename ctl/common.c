#include "ctl/ctl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/summary.h"

int
ctl_json_flag(int argc, char **argv, const char *command, bool *json)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	*json = false;
	optind = 0;	/* 0: glibc starts over, permutation included */
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) == 'j')
		*json = true;
	if (ch != -1 || optind != argc) {
		fprintf(stderr, "usage: wavectl %s [--json]\n", command);
		return -1;
	}
	return 0;
}

struct config *
ctl_load_config(const char *path)
{
	char *errors = NULL;
	struct config *cfg = config_load(path, &errors);

	if (cfg == NULL) {
		fputs(errors, stderr);
		free(errors);
	}
	return cfg;
}

int
cmd_summary(const char *config_path, int argc, char **argv)
{
	struct config *cfg;
	bool json;
	int rc;

	if (ctl_json_flag(argc, argv, "summary", &json) == -1)
		return CTL_BAD_INPUT;
	if ((cfg = ctl_load_config(config_path)) == NULL)
		return CTL_BAD_INPUT;
	rc = summary_print(cfg, stdout, json);
	config_free(cfg);
	return rc == -1 ? CTL_BAD_INPUT : CTL_OK;
}
