#include "ctl/ctl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor/github/client.h"
#include "common/source_command.h"
#include "common/summary.h"
#include "common/source_file.h"
#include "supervisor/github/issues.h"

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

static void
copy_issues(const struct issue_list *issues, void *arg)
{
	struct issue_list *out = arg;

	issue_list_clear(out);
	for (size_t k = 0; k < issues->n; k++) {
		const struct issue_spec *from = &issues->v[k];
		struct issue_spec *to = issue_list_add(out);

		*to = *from;
		to->title = xstrdup(from->title);
		to->body = xstrdup(from->body);
		to->deps = xcalloc(from->ndeps, sizeof(*to->deps));
		if (from->ndeps)
			memcpy(to->deps, from->deps, from->ndeps * sizeof(*to->deps));
	}
}

/* The GitHub source read once, in the foreground. */
static int
load_github(const struct config *cfg, struct issue_list *out)
{
	char *err = NULL;
	struct github *gh = github_open(cfg, &err);
	struct source_github *sg;
	int rc = 0;

	if (gh == NULL) {
		fprintf(stderr, "wavectl: %s\n", err);
		free(err);
		return -1;
	}
	sg = source_github_new(cfg, gh, NULL, copy_issues, out);
	source_github_poll_all(sg);
	github_wait(gh, cfg->git_timeout * 1000);
	if (github_pending(gh) > 0 || !source_github_ready(sg)) {
		fprintf(stderr, "wavectl: GitHub did not answer within %d s\n", cfg->git_timeout);
		rc = -1;
	}
	source_github_free(sg);
	github_free(gh);
	return rc;
}

int
ctl_load_issues(const struct config *cfg, struct issue_list *out)
{
	struct strbuf problems = { 0 };
	int rc;

	if (cfg->source.type == SOURCE_GITHUB)
		return load_github(cfg, out);
	if (cfg->source.type == SOURCE_COMMAND)
		rc = source_command_load(cfg, out, &problems);
	else
		rc = source_file_load(cfg->source.path, cfg, out, &problems);
	if (problems.len)
		fputs(problems.s, stderr);
	strbuf_free(&problems);
	return rc;
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
