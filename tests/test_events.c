#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "common/events.h"
#include "common/util.h"
#include "tests/lib/testlib.h"

TMPDIR_SUITE(events);

Test(events, one_json_object_per_line_with_context)
{
	struct events *ev = events_open(dir);
	struct log_ctx ctx = { "api#12", 2, "0123456789abcdef" };
	cJSON *fields = cJSON_CreateObject(), *line;
	char *path = xasprintf("%s/events.ndjson", dir), *text, *nl;

	cr_assert_not_null(ev);
	cr_assert_eq(events_emit(ev, "started", NULL, NULL), 0);
	cJSON_AddStringToObject(fields, "phase", "implement");
	cJSON_AddNumberToObject(fields, "exit", 0);
	cr_assert_eq(events_emit(ev, "phase_end", &ctx, fields), 0);
	events_close(ev);

	text = read_file(path, NULL);
	cr_assert_not_null(text);
	nl = strchr(text, '\n');
	cr_assert_not_null(nl);
	*nl = '\0';
	line = json_parse_or_fail(text);
	cr_assert_str_eq(cJSON_GetObjectItem(line, "event")->valuestring, "started");
	cr_assert_null(cJSON_GetObjectItem(line, "issue"));
	cr_assert_eq(strlen(cJSON_GetObjectItem(line, "ts")->valuestring), 24);
	cJSON_Delete(line);
	line = json_parse_or_fail(nl + 1);
	cr_assert_str_eq(cJSON_GetObjectItem(line, "event")->valuestring, "phase_end");
	cr_assert_str_eq(cJSON_GetObjectItem(line, "issue")->valuestring, "api#12");
	cr_assert_eq(cJSON_GetObjectItem(line, "attempt")->valueint, 2);
	cr_assert_str_eq(cJSON_GetObjectItem(line, "trace")->valuestring, "0123456789abcdef");
	cr_assert_str_eq(cJSON_GetObjectItem(line, "phase")->valuestring, "implement");
	cr_assert_eq(cJSON_GetObjectItem(line, "exit")->valueint, 0);
	cr_assert_eq(strchr(nl + 1, '\n')[1], '\0');
	cJSON_Delete(line);
	free(text);
	free(path);
}

Test(events, rotates_past_the_limit)
{
	struct events *ev = events_open(dir);
	char *path = xasprintf("%s/events.ndjson", dir), *old = xasprintf("%s.1", path);
	struct stat st;

	events_set_rotate_bytes(ev, 200);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(events_emit(ev, "queued", NULL, NULL), 0);
	events_close(ev);
	cr_assert_eq(stat(old, &st), 0, "no rotated file");
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_lt(st.st_size, 200);
	free(path);
	free(old);
}

Test(events, lines_past_the_committed_seq_are_cut_on_start)
{
	struct events *ev = events_open(dir);
	char *path = xasprintf("%s/events.ndjson", dir), *text;

	for (int i = 0; i < 5; i++)
		cr_assert_eq(events_emit(ev, "queued", NULL, NULL), 0);
	cr_assert_eq(events_seq(ev), 5);
	events_close(ev);
	/* The store committed up to 3: lines 4 and 5 belong to a change that never was. */
	cr_assert_eq(events_truncate_uncommitted(dir, 3), 0);
	text = read_file(path, NULL);
	cr_assert(strstr(text, "\"seq\":3,"), "%s", text);
	cr_assert_null(strstr(text, "\"seq\":4,"), "%s", text);
	cr_assert_eq(text[strlen(text) - 1], '\n');
	free(text);
	/* Numbering goes on from the committed seq. */
	ev = events_open(dir);
	events_set_seq(ev, 3);
	cr_assert_eq(events_emit(ev, "ready", NULL, NULL), 0);
	events_close(ev);
	text = read_file(path, NULL);
	cr_assert(strstr(text, "\"seq\":4,\"event\":\"ready\""), "%s", text);
	free(text);
	free(path);
}

/* A write cut short by a file size limit leaves no half line, and its seq is not lost. */
Test(events, a_short_write_leaves_whole_lines_only)
{
	struct events *ev = events_open(dir);
	char *path = xasprintf("%s/events.ndjson", dir), *text;
	struct rlimit limit = { 300, RLIM_INFINITY };
	int failed = -1;

	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
	for (int k = 0; k < 10 && failed < 0; k++) {
		cJSON *f = cJSON_CreateObject();

		cJSON_AddStringToObject(f, "pad", "..................................................");
		if (events_emit(ev, "queued", NULL, f) == -1)
			failed = k;
	}
	cr_assert_gt(failed, 0, "the limit cuts a line short");
	limit.rlim_cur = RLIM_INFINITY;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
	cr_assert_eq(events_emit(ev, "done", NULL, NULL), 0);
	events_close(ev);

	text = read_file(path, NULL);
	cr_assert_eq(text[strlen(text) - 1], '\n');
	long seq = 1;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), seq++) {
		cJSON *o = json_parse_or_fail(line);

		cr_assert_eq((long)cJSON_GetObjectItem(o, "seq")->valuedouble, seq, "%s", line);
		cJSON_Delete(o);
	}
	cr_assert_eq(seq - 1, failed + 1, "every line that fitted, then the one after the limit");
	free(text);
	free(path);
}
