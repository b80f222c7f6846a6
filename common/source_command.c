#include "common/source_command.h"

#include <stdlib.h>
#include <string.h>

#include "common/argv.h"
#include "common/source_file.h"

struct command *
source_command_start(const struct config *cfg, char **why)
{
	char split[128], **argv = argv_split(cfg->source.command, split, sizeof(split));
	struct command *c;

	if (argv == NULL) {	/* config_load checked it: only a bug lands here */
		*why = xasprintf("%s: %s", SOURCE_COMMAND_NAME, split);
		return NULL;
	}
	c = command_start(&(struct command_spec){ .argv = argv, .cwd = cfg->dir, .in_fd = -1,
	    .timeout_s = cfg->source.command_timeout, .out_max = SOURCE_COMMAND_OUT_MAX }, why);
	argv_free(argv);
	if (c == NULL) {
		char *said = *why;

		*why = xasprintf("%s: %s", SOURCE_COMMAND_NAME, said);
		free(said);
	}
	return c;
}

int
source_command_result(const struct command *c, const struct config *cfg,
    struct issue_list *out, struct strbuf *problems)
{
	const char *text;
	size_t len;
	char why[160];

	if (!command_ok(c)) {
		command_failure(c, why, sizeof(why));
		strbuf_addf(problems, "%s: %s\n", SOURCE_COMMAND_NAME, why);
		return -1;
	}
	text = command_out(c, &len);
	return source_file_parse(text, len, SOURCE_COMMAND_NAME, cfg, out, problems);
}

int
source_command_load(const struct config *cfg, struct issue_list *out,
    struct strbuf *problems)
{
	char *why = NULL;
	struct command *c = source_command_start(cfg, &why);
	int rc;

	if (c == NULL) {
		strbuf_addf(problems, "%s\n", why);
		free(why);
		return -1;
	}
	command_wait(c);
	command_stderr_lines(c, SOURCE_COMMAND_NAME, problems);
	rc = source_command_result(c, cfg, out, problems);
	command_free(c);
	return rc;
}
