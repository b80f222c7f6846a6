#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common/proto.h"

static const char sha[] = "0123456789abcdef0123456789abcdef01234567";

/* Send m through a real pipe and parse what arrives. */
static struct proto_msg
round_trip(const struct proto_msg *m, size_t *line_len)
{
	struct proto_msg out;
	char buf[PROTO_MAX_LINE * 2], err[256];
	int fds[2];
	ssize_t n;

	cr_assert_eq(pipe(fds), 0);
	cr_assert_eq(proto_send(fds[1], m), 0);
	close(fds[1]);
	n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_assert_eq(buf[n - 1], '\n', "one line, newline-terminated");
	cr_assert_eq(strchr(buf, '\n'), buf + n - 1, "exactly one line");
	buf[n - 1] = '\0';
	*line_len = (size_t)n;
	cr_assert_eq(proto_parse(buf, &out, err, sizeof(err)), 0, "%s: %s", buf, err);
	return out;
}

Test(proto, every_message_round_trips)
{
	struct proto_msg m = { .type = PROTO_HELLO, .pid = 123, .attempt = 2 }, out;
	size_t len;

	strcpy(m.issue, "api#12");
	strcpy(m.trace, "9f2c000000000001");
	out = round_trip(&m, &len);
	cr_assert_eq(out.type, PROTO_HELLO);
	cr_assert_eq(out.pid, 123);
	cr_assert_str_eq(out.issue, "api#12");
	cr_assert_eq(out.attempt, 2);

	m = (struct proto_msg){ .type = PROTO_PHASE, .end = true, .exit = 3, .ms = 41234 };
	strcpy(m.phase, "verify");
	strcpy(m.sha, sha);
	out = round_trip(&m, &len);
	cr_assert(out.end);
	cr_assert_eq(out.exit, 3);
	cr_assert_eq(out.ms, 41234);
	cr_assert_str_eq(out.sha, sha);

	m = (struct proto_msg){ .type = PROTO_MERGE, .merge = MERGE_MERGED };
	strcpy(m.sha, sha);
	out = round_trip(&m, &len);
	cr_assert_eq(out.merge, MERGE_MERGED);

	m = (struct proto_msg){ .type = PROTO_DONE, .outcome = OUTCOME_CONFLICT };
	strcpy(m.reason, "conflict in a.c");
	out = round_trip(&m, &len);
	cr_assert_eq(out.outcome, OUTCOME_CONFLICT);
	cr_assert_str_eq(out.reason, "conflict in a.c");

	/* land = pr: the pushed head comes with the outcome. */
	m = (struct proto_msg){ .type = PROTO_DONE, .outcome = OUTCOME_PUSHED };
	strcpy(m.sha, sha);
	out = round_trip(&m, &len);
	cr_assert_eq(out.outcome, OUTCOME_PUSHED);
	cr_assert_str_eq(out.sha, sha);

	/* A tempfail says whose: every cause crosses the pipe as itself. */
	for (enum proto_cause c = CAUSE_AGENT; c < CAUSE_COUNT; c++) {
		m = (struct proto_msg){ .type = PROTO_DONE, .outcome = OUTCOME_TEMPFAIL, .cause = c };
		strcpy(m.reason, "later");
		out = round_trip(&m, &len);
		cr_assert_eq(out.outcome, OUTCOME_TEMPFAIL);
		cr_assert_eq(out.cause, c, "%s", proto_cause_name(c));
		cr_assert_eq(out.resume, RESUME_NONE);
	}
	m = (struct proto_msg){ .type = PROTO_DONE, .outcome = OUTCOME_TEMPFAIL,
	    .cause = CAUSE_REMOTE, .resume = RESUME_MERGE };
	out = round_trip(&m, &len);
	cr_assert_eq(out.resume, RESUME_MERGE, "a kept worktree is said");
}

Test(proto, a_long_reason_is_cut_to_one_atomic_write)
{
	struct proto_msg m = { .type = PROTO_DONE, .outcome = OUTCOME_FAILED }, out;
	size_t len;

	/* Quotes and control characters double or sextuple under JSON escaping. */
	for (size_t k = 0; k < PROTO_REASON_MAX; k++)
		m.reason[k] = k % 3 ? '"' : '\001';
	m.reason[PROTO_REASON_MAX] = '\0';
	out = round_trip(&m, &len);
	cr_assert_leq(len, PROTO_MAX_LINE);
	cr_assert_gt(strlen(out.reason), 100);
	cr_assert_eq(strncmp(out.reason, m.reason, strlen(out.reason)), 0);
}

static void
assert_rejected(const char *line, const char *why)
{
	struct proto_msg m;
	char err[256] = "";

	cr_assert_eq(proto_parse(line, &m, err, sizeof(err)), -1, "accepted: %s", line);
	cr_assert(strstr(err, why), "%s: got \"%s\", expected \"%s\"", line, err, why);
}

Test(proto, malformed_messages_are_rejected_with_a_reason)
{
	assert_rejected("not json", "not a JSON object");
	assert_rejected("[1]", "not a JSON object");
	assert_rejected("{\"t\":\"bogus\"}", "unknown message type");
	assert_rejected("{\"x\":1}", "\"t\"");
	char hello[128];

	snprintf(hello, sizeof(hello), "{\"t\":\"hello\",\"v\":%d,\"pid\":-1,\"issue\":\"a#1\","
	    "\"attempt\":1,\"trace\":\"x\"}", PROTO_VERSION);
	assert_rejected(hello, "\"pid\"");
	assert_rejected("{\"t\":\"phase\",\"phase\":\"deploy\",\"state\":\"start\",\"pgid\":5}", "unknown phase");
	assert_rejected("{\"t\":\"phase\",\"phase\":\"implement\",\"state\":\"end\",\"exit\":0,\"ms\":1,\"maxrss_kb\":5,"
	    "\"head\":\"$(rm -rf /)\"}", "git object name");
	assert_rejected("{\"t\":\"merge\",\"state\":\"sideways\"}", "expected wait, locked or merged");
	assert_rejected("{\"t\":\"done\",\"outcome\":\"great\",\"reason\":\"\"}", "unknown outcome");
	assert_rejected("{\"t\":\"done\",\"outcome\":\"failed\"}", "\"reason\"");
	assert_rejected("{\"t\":\"done\",\"outcome\":\"tempfail\",\"reason\":\"\"}", "\"cause\"");
	assert_rejected("{\"t\":\"done\",\"outcome\":\"tempfail\",\"reason\":\"\",\"cause\":\"moon\"}",
	    "unknown cause");
	assert_rejected("{\"t\":\"done\",\"outcome\":\"tempfail\",\"reason\":\"\",\"cause\":\"remote\","
	    "\"resume\":\"implement\"}", "expected merge");
}

Test(proto, a_hello_of_another_protocol_version_is_a_clear_error)
{
	char line[256];

	snprintf(line, sizeof(line), "{\"t\":\"hello\",\"v\":%d,\"pid\":5,\"issue\":\"a#1\","
	    "\"attempt\":1,\"trace\":\"x\"}", PROTO_VERSION + 1);
	char want[64];
	snprintf(want, sizeof(want), "protocol version %d, expected %d", PROTO_VERSION + 1,
	    PROTO_VERSION);
	assert_rejected(line, want);
	assert_rejected("{\"t\":\"hello\",\"pid\":5,\"issue\":\"a#1\",\"attempt\":1,"
	    "\"trace\":\"x\"}", "\"v\"");
}

Test(proto, a_recovery_answer_round_trips_and_is_checked)
{
	struct proto_msg m = { .type = PROTO_RECOVERED, .action = RECOVER_RESUME,
	    .resume = RESUME_VERIFY }, out;
	size_t len;

	out = round_trip(&m, &len);
	cr_assert_eq(out.type, PROTO_RECOVERED);
	cr_assert_eq(out.action, RECOVER_RESUME);
	cr_assert_eq(out.resume, RESUME_VERIFY);
	m = (struct proto_msg){ .type = PROTO_RECOVERED, .action = RECOVER_DONE };
	strcpy(m.sha, sha);
	out = round_trip(&m, &len);
	cr_assert_eq(out.action, RECOVER_DONE);
	cr_assert_str_eq(out.sha, sha);
	assert_rejected("{\"t\":\"recovered\",\"action\":\"maybe\"}", "expected done, resume or reset");
	assert_rejected("{\"t\":\"recovered\",\"action\":\"resume\",\"resume\":\"prepare\"}",
	    "expected implement, verify, review or merge");
	assert_rejected("{\"t\":\"recovered\",\"action\":\"done\"}", "\"sha\"");
}

Test(proto, an_oversized_line_is_rejected)
{
	char *line = malloc(PROTO_MAX_LINE + 10);

	memset(line, ' ', PROTO_MAX_LINE + 9);
	line[PROTO_MAX_LINE + 9] = '\0';
	assert_rejected(line, "longer than");
	free(line);
}

Test(proto, phase_end_carries_the_slurm_job)
{
	struct proto_msg m = { .type = PROTO_PHASE, .end = true, .ms = 5, .job = 4711 }, out;
	char err[256];
	size_t len;

	strlcpy(m.phase, "verify", sizeof(m.phase));
	strlcpy(m.sha, sha, sizeof(m.sha));
	out = round_trip(&m, &len);
	cr_assert_eq(out.job, 4711);
	/* Local phases have no job: the field is left out and reads back as 0. */
	m.job = 0;
	out = round_trip(&m, &len);
	cr_assert_eq(out.job, 0);
	cr_assert_eq(proto_parse("{\"t\":\"phase\",\"phase\":\"verify\",\"state\":\"end\","
	    "\"exit\":0,\"ms\":1,\"maxrss_kb\":0,\"head\":\"0123456789abcdef0123456789abcdef01234567\","
	    "\"job\":-3}", &out, err, sizeof(err)), -1);
	cr_assert(strstr(err, "\"job\""), "%s", err);
}

Test(proto, a_guard_message_round_trips)
{
	struct proto_msg m = { .type = PROTO_GUARD, .guard = GUARD_BRANCH_RESTORED }, back;
	char err[128], line[PROTO_MAX_LINE];
	int fds[2];
	ssize_t n;

	strcpy(m.sha, "0123456789abcdef0123456789abcdef01234567");
	strcpy(m.reason, "refs/waved/foreign/api-1-1-implement");
	cr_assert_eq(pipe(fds), 0);
	cr_assert_eq(proto_send(fds[1], &m), 0);
	n = read(fds[0], line, sizeof(line) - 1);
	cr_assert_gt(n, 0);
	line[n - 1] = '\0';
	cr_assert_eq(proto_parse(line, &back, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(back.type, PROTO_GUARD);
	cr_assert_eq(back.guard, GUARD_BRANCH_RESTORED);
	cr_assert_str_eq(back.sha, m.sha);
	cr_assert_str_eq(back.reason, m.reason);
	close(fds[0]);
	close(fds[1]);
	assert_rejected("{\"t\":\"guard\",\"what\":\"branch_lost\",\"detail\":\"\"}", "\"what\"");
}

Test(proto, usage_and_over_budget_round_trip)
{
	struct proto_msg m = { .type = PROTO_USAGE, .cost_usd = 0.42, .tokens_in = 12000,
	    .tokens_out = 900 }, out;
	char err[256];
	size_t len;

	out = round_trip(&m, &len);
	cr_assert_eq(out.type, PROTO_USAGE);
	cr_assert_float_eq(out.cost_usd, 0.42, 1e-12);
	cr_assert_eq(out.tokens_in, 12000);
	cr_assert_eq(out.tokens_out, 900);
	cr_assert_eq(proto_parse("{\"t\":\"usage\",\"cost_usd\":-1,\"tokens_in\":0,\"tokens_out\":0}",
	    &out, err, sizeof(err)), -1);
	cr_assert(strstr(err, "\"cost_usd\""), "%s", err);
	cr_assert_eq(proto_parse("{\"t\":\"usage\",\"cost_usd\":1}", &out, err, sizeof(err)), -1);
	m = (struct proto_msg){ .type = PROTO_DONE, .outcome = OUTCOME_OVER_BUDGET };
	out = round_trip(&m, &len);
	cr_assert_eq(out.outcome, OUTCOME_OVER_BUDGET);
	/* A phase end without what it spent (a worker that read nothing) reads as 0. */
	m = (struct proto_msg){ .type = PROTO_PHASE, .end = true, .ms = 5, .cost_usd = 1.5,
	    .tokens_out = 3 };
	strlcpy(m.phase, "implement", sizeof(m.phase));
	strlcpy(m.sha, sha, sizeof(m.sha));
	out = round_trip(&m, &len);
	cr_assert_float_eq(out.cost_usd, 1.5, 1e-12);
	cr_assert_eq(out.tokens_out, 3);
}
