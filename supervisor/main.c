/*
 * waved: the supervisor.  Parses the command line, checks the configuration
 * and (with -n) stops there.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"

#define EXIT_BAD_CONFIG 2

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: waved [-f] [-n] [--once] [-c FILE] [--cap N]\n"
	    "  -f        stay in the foreground, log to stderr\n"
	    "  -n        check the configuration and preflights, then exit\n"
	    "  --once    foreground; work until every issue is done, dead or blocked\n"
	    "  -c FILE   config file (default: $WAVED_CONFIG, else %s)\n"
	    "  --cap N   start with this cap instead of the configured one\n",
	    CONFIG_DEFAULT_PATH);
}

/* -n: the configuration and the repositories it names. */
static int
check_only(const struct config *cfg)
{
	char *errors = NULL;

	if (config_check_repos(cfg, &errors) == -1) {
		fputs(errors, stderr);
		free(errors);
		return EXIT_BAD_CONFIG;
	}
	printf("%s: configuration ok: %zu repo%s, cap %d\n", cfg->file, cfg->nrepos,
	    cfg->nrepos == 1 ? "" : "s", config_effective_cap(cfg));
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "once", no_argument, NULL, 'o' },
		{ "cap", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config_path = NULL;
	bool check = false;
	struct config *cfg;
	char *errors = NULL;
	int ch, rc;

	log_init("waved", true, 0);
	while ((ch = getopt_long(argc, argv, "fnc:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
		case 'o':
		case 'C':
			break;
		case 'n':
			check = true;
			break;
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_BAD_CONFIG;
		}
	}
	cfg = config_load(config_default_path(config_path), &errors);
	if (cfg == NULL) {
		fputs(errors, stderr);
		free(errors);
		return EXIT_BAD_CONFIG;
	}
	if (check)
		rc = check_only(cfg);
	else {
		log_warnx("running issues is not built yet: only -n works in this version");
		rc = EXIT_BAD_CONFIG;
	}
	config_free(cfg);
	return rc;
}
