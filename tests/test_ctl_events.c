#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/util.h"
#include "common/snapshot.h"
#include "tests/lib/testlib.h"

TMPDIR_SUITE(ctl_events);

static void
append(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *fp = fopen(path, "a");

	fputs(text, fp);
	fclose(fp);
	free(path);
}

static void
expect_event(struct event_tail *ev, const char *name)
{
	cJSON *e = event_tail_next(ev);

	cr_assert_not_null(e, "expected %s", name);
	cr_assert_str_eq(cJSON_GetObjectItem(e, "event")->valuestring, name);
	cJSON_Delete(e);
}

Test(ctl_events, follows_whole_lines_across_rotation)
{
	struct event_tail *ev;
	char *cur = xasprintf("%s/events.ndjson", dir), *old = xasprintf("%s/events.ndjson.1", dir);

	append("events.ndjson", "{\"event\":\"a\"}\n");
	ev = event_tail_open(dir, false);
	expect_event(ev, "a");
	cr_assert_null(event_tail_next(ev));
	/* Half a line is not an event yet. */
	append("events.ndjson", "{\"event\":");
	cr_assert_null(event_tail_next(ev));
	append("events.ndjson", "\"b\"}\n");
	expect_event(ev, "b");
	/* The writer rotates: the old file's last lines, then the new file's. */
	append("events.ndjson", "{\"event\":\"c\"}\n");
	cr_assert_eq(rename(cur, old), 0);
	append("events.ndjson", "{\"event\":\"d\"}\n");
	expect_event(ev, "c");
	expect_event(ev, "d");
	cr_assert_null(event_tail_next(ev));
	event_tail_close(ev);
	free(cur);
	free(old);
}

Test(ctl_events, timestamps_parse_back)
{
	char ts[32];

	format_timestamp(1795968000123LL, ts, sizeof(ts));
	cr_assert_eq(timestamp_parse(ts), 1795968000123LL);
	cr_assert_eq(timestamp_parse("yesterday"), -1);
}
