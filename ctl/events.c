/*
 * wavectl events [-f] [--issue ISSUE]: the event log as it is, one JSON
 * object per line, optionally followed like tail -f (across rotation) and
 * filtered to one issue.
 *
 * wavectl log ISSUE [--attempt K] [-f]: an issue's phase output.
 */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "ctl/ctl.h"
#include "common/snapshot.h"
#include "common/paths.h"

#define FOLLOW_INTERVAL_MS 100

static volatile sig_atomic_t interrupted;

static void
on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void
nap(void)
{
	nanosleep(&(struct timespec){ 0, FOLLOW_INTERVAL_MS * 1000000L }, NULL);
}

static void
catch_interrupts(void)
{
	struct sigaction sa = { .sa_handler = on_interrupt };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_DFL);	/* wavectl events -f | head: end quietly */
}

int
cmd_events(const char *config_path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "issue", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 }
	};
	const char *issue = NULL;
	bool follow = false;
	struct event_tail *ev;
	struct config *cfg;
	cJSON *e;
	int ch;

	optind = 0;	/* 0: glibc starts over, permutation included */
	while ((ch = getopt_long(argc, argv, "fi:", longopts, NULL)) != -1) {
		if (ch == 'f')
			follow = true;
		else if (ch == 'i')
			issue = optarg;
		else {
			fprintf(stderr, "usage: wavectl events [-f] [--issue ISSUE]\n");
			return CTL_BAD_INPUT;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: wavectl events [-f] [--issue ISSUE]\n");
		return CTL_BAD_INPUT;
	}
	if ((cfg = ctl_load_config(config_path)) == NULL)
		return CTL_BAD_INPUT;
	catch_interrupts();
	ev = event_tail_open(cfg->state_dir, false);
	while (!interrupted) {
		while ((e = event_tail_next(ev)) != NULL) {
			const char *key = cJSON_GetStringValue(cJSON_GetObjectItem(e, "issue"));

			if (issue == NULL || (key && strcmp(key, issue) == 0)) {
				char *text = cJSON_PrintUnformatted(e);
				puts(text);
				free(text);
			}
			cJSON_Delete(e);
		}
		fflush(stdout);
		if (!follow)
			break;
		nap();
	}
	event_tail_close(ev);
	config_free(cfg);
	return CTL_OK;
}

/* The newest attempt the store knows for the issue, or 0. */
static int
latest_attempt(const struct config *cfg, const char *key)
{
	struct snapshot st;
	int attempt = 0;

	if (snapshot_read(cfg, &st) == 0)
		for (size_t k = 0; k < st.n; k++)
			if (strcmp(st.issues[k].key, key) == 0)
				attempt = st.issues[k].attempt;
	snapshot_free(&st);
	return attempt;
}

/* Copy what fd has from its current offset to stdout. */
static void
copy_out(int fd)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	fflush(stdout);
}

int
cmd_log(const char *config_path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "attempt", required_argument, NULL, 'a' },
		{ "follow", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	char repo[REPO_NAME_MAX + 1], *path;
	long number, attempt = 0;
	bool follow = false;
	struct config *cfg;
	int ch, fd;

	optind = 0;	/* 0: glibc starts over, permutation included */
	while ((ch = getopt_long(argc, argv, "a:f", longopts, NULL)) != -1) {
		if (ch == 'f')
			follow = true;
		else if (ch != 'a' || !parse_positive_long(optarg, &attempt)) {
			fprintf(stderr, "usage: wavectl log ISSUE [--attempt K] [-f]\n");
			return CTL_BAD_INPUT;
		}
	}
	if (optind + 1 != argc || !issue_key_parse(argv[optind], repo, sizeof(repo), &number)) {
		fprintf(stderr, "usage: wavectl log ISSUE [--attempt K] [-f]  (ISSUE as in api#12)\n");
		return CTL_BAD_INPUT;
	}
	if ((cfg = ctl_load_config(config_path)) == NULL)
		return CTL_BAD_INPUT;
	if (attempt == 0 && (attempt = latest_attempt(cfg, argv[optind])) == 0) {
		fprintf(stderr, "wavectl: %s has not run yet\n", argv[optind]);
		config_free(cfg);
		return CTL_ATTENTION;
	}
	path = path_attempt_log(cfg, repo, number, (int)attempt);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "wavectl: %s attempt %ld: no log at %s\n", argv[optind], attempt, path);
		free(path);
		config_free(cfg);
		return CTL_ATTENTION;
	}
	catch_interrupts();
	do {
		copy_out(fd);
		if (follow)
			nap();
	} while (follow && !interrupted);
	close(fd);
	free(path);
	config_free(cfg);
	return CTL_OK;
}
