/*
 * wavectl: plan, inspect and steer waved (DESIGN.md section 11).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ctl/ctl.h"

static const struct {
	const char *name;
	int (*run)(const char *config_path, int argc, char **argv);
} commands[] = {
	{ "plan", cmd_plan },
	{ "status", cmd_status },
	{ "summary", cmd_summary },
	{ "metrics", cmd_metrics },
	{ "watch", cmd_watch },
	{ "events", cmd_events },
	{ "log", cmd_log },
	{ "cap", cmd_cap },
	{ "pause", cmd_lever },
	{ "resume", cmd_lever },
	{ "retry", cmd_retry },
	{ "reload", cmd_lever },
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: wavectl [-c FILE] COMMAND [ARGS]\n"
	    "\n"
	    "  -c FILE   config file (default: $WAVED_CONFIG, else %s)\n"
	    "\n"
	    "commands:\n"
	    "  plan [--json]     the dependency waves, from the config and source alone\n"
	    "  status [--json]   cap, issues in flight with phase and age, counts, problems\n"
	    "  watch             live view: one row per issue in flight; q or Ctrl-C ends it\n"
	    "  summary [--json]  per issue outcome, attempts, time, agent and wasted time\n"
	    "  metrics           the state as OpenMetrics text (node_exporter textfile)\n"
	    "  events [-f] [--issue ISSUE]   the event stream; -f follows it\n"
	    "  log ISSUE [--attempt K] [-f]  an issue's phase output (latest attempt)\n"
	    "  cap N|up|down     set or step the effective cap (as SIGUSR1/SIGUSR2 do)\n"
	    "  pause, resume     effective cap 0: running work finishes, nothing starts\n"
	    "  retry ISSUE       a dead or blocked issue back in line, with its dependents\n"
	    "  reload            reload the configuration and the issues (as SIGHUP)\n"
	    "\n"
	    "plan, status, watch, summary, metrics, events and log read the state: no waved\n"
	    "needed; "
	    "the others ask the running waved over its control socket.\n"
	    "\n"
	    "exit status: 0 ok; 1 something needs attention (plan: an issue is blocked;\n"
	    "a request refused, or waved not running); 2 bad config, source or usage\n", CONFIG_DEFAULT_PATH);
}

int
main(int argc, char **argv)
{
	const char *config_path = NULL;
	int ch;

	log_init("wavectl", true, 0);
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};

	/* "+": stop at the command, whose options are its own. */
	while ((ch = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		default:
			usage(stderr);
			return CTL_BAD_INPUT;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_BAD_INPUT;
	}
	if (strcmp(argv[optind], "--help") == 0 || strcmp(argv[optind], "help") == 0) {
		usage(stdout);
		return CTL_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			return commands[i].run(config_default_path(config_path),
			    argc - optind, argv + optind);
	fprintf(stderr, "wavectl: unknown command \"%s\"\n", argv[optind]);
	usage(stderr);
	return CTL_BAD_INPUT;
}
