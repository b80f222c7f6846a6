#include "common/proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

static const char *const outcome_names[] = {
	"merged", "no_change", "conflict", "failed", "timeout", "tempfail", "pushed",
	"over_budget"
};
static const char *const cause_names[] = {
	"agent", "disk", "cluster", "remote", "lock", "start"
};
_Static_assert(ARRAY_LEN(cause_names) == CAUSE_COUNT, "a name for every cause");
static const char *const merge_names[] = { "wait", "locked", "merged" };
static const char *const phase_names[] = { "setup", "implement", "verify", "review", "resolve" };

const char *
proto_outcome_name(enum proto_outcome o)
{
	return o < ARRAY_LEN(outcome_names) ? outcome_names[o] : "?";
}

const char *
proto_cause_name(enum proto_cause c)
{
	return c < ARRAY_LEN(cause_names) ? cause_names[c] : "?";
}

const char *
proto_merge_stage_name(enum proto_merge_stage s)
{
	return s < ARRAY_LEN(merge_names) ? merge_names[s] : "?";
}

/* Index of s in names, or -1. */
static int
lookup(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

static const char *
get_string(const cJSON *o, const char *key, size_t max, char *err, size_t errsize)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsString(v)) {
		snprintf(err, errsize, "\"%s\": expected a string", key);
		return NULL;
	}
	if (strlen(v->valuestring) > max) {
		snprintf(err, errsize, "\"%s\": longer than %zu bytes", key, max);
		return NULL;
	}
	return v->valuestring;
}

static bool
get_number(const cJSON *o, const char *key, double min, double max, long *out,
    char *err, size_t errsize)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < min || v->valuedouble > max ||
	    v->valuedouble != (double)(long)v->valuedouble) {
		snprintf(err, errsize, "\"%s\": expected a whole number from %.0f to %.0f",
		    key, min, max);
		return false;
	}
	*out = (long)v->valuedouble;
	return true;
}

/* What was spent: cost_usd, tokens_in, tokens_out; required, or optional (absent: 0). */
static int
parse_spent(const cJSON *o, struct proto_msg *m, bool required, char *err, size_t errsize)
{
	const cJSON *cost = cJSON_GetObjectItemCaseSensitive(o, "cost_usd");

	m->cost_usd = 0;
	m->tokens_in = m->tokens_out = 0;
	if (cost || required) {
		if (!cJSON_IsNumber(cost) || !(cost->valuedouble >= 0) || cost->valuedouble > 1e12) {
			snprintf(err, errsize, "\"cost_usd\": expected a number from 0 to 1e12");
			return -1;
		}
		m->cost_usd = cost->valuedouble;
	}
	if ((required || cJSON_GetObjectItemCaseSensitive(o, "tokens_in")) &&
	    !get_number(o, "tokens_in", 0, 1e15, &m->tokens_in, err, errsize))
		return -1;
	if ((required || cJSON_GetObjectItemCaseSensitive(o, "tokens_out")) &&
	    !get_number(o, "tokens_out", 0, 1e15, &m->tokens_out, err, errsize))
		return -1;
	return 0;
}

static void
add_spent(cJSON *o, const struct proto_msg *m)
{
	cJSON_AddNumberToObject(o, "cost_usd", m->cost_usd);
	cJSON_AddNumberToObject(o, "tokens_in", (double)m->tokens_in);
	cJSON_AddNumberToObject(o, "tokens_out", (double)m->tokens_out);
}

/* A git object name: 40 or 64 lowercase hex digits. */
static bool
valid_sha(const char *s)
{
	size_t n = strlen(s);

	return (n == 40 || n == 64) && strspn(s, "0123456789abcdef") == n;
}

static int
copy_sha(const cJSON *o, const char *key, char *dst, char *err, size_t errsize)
{
	const char *s = get_string(o, key, PROTO_SHA_MAX, err, errsize);

	if (s == NULL)
		return -1;
	if (!valid_sha(s)) {
		snprintf(err, errsize, "\"%s\": expected a git object name", key);
		return -1;
	}
	strlcpy(dst, s, PROTO_SHA_MAX + 1);
	return 0;
}

static int
parse_hello(const cJSON *o, struct proto_msg *m, char *err, size_t errsize)
{
	const char *issue, *trace;
	long attempt, version;

	/* A worker of another build (an upgrade under a running daemon) speaks
	 * another protocol: say so, rather than misread it. */
	if (!get_number(o, "v", 0, 1000000, &version, err, errsize))
		return -1;
	if (version != PROTO_VERSION) {
		snprintf(err, errsize, "protocol version %ld, expected %d", version, PROTO_VERSION);
		return -1;
	}
	if (!get_number(o, "pid", 1, 4194304, &m->pid, err, errsize) ||
	    !get_number(o, "attempt", 1, 1000000, &attempt, err, errsize))
		return -1;
	m->attempt = (int)attempt;
	if ((issue = get_string(o, "issue", ISSUE_KEY_MAX - 1, err, errsize)) == NULL ||
	    (trace = get_string(o, "trace", TRACE_LEN, err, errsize)) == NULL)
		return -1;
	strlcpy(m->issue, issue, sizeof(m->issue));
	strlcpy(m->trace, trace, sizeof(m->trace));
	return 0;
}

static int
parse_phase(const cJSON *o, struct proto_msg *m, char *err, size_t errsize)
{
	const char *phase, *state;
	long exit_status;

	if ((phase = get_string(o, "phase", 15, err, errsize)) == NULL ||
	    (state = get_string(o, "state", 5, err, errsize)) == NULL)
		return -1;
	if (lookup(phase, phase_names, ARRAY_LEN(phase_names)) < 0) {
		snprintf(err, errsize, "\"phase\": unknown phase \"%s\"", phase);
		return -1;
	}
	strlcpy(m->phase, phase, sizeof(m->phase));
	if (strcmp(state, "start") == 0) {
		m->end = false;
		return get_number(o, "pgid", 1, 4194304, &m->pgid, err, errsize) ? 0 : -1;
	}
	if (strcmp(state, "end") != 0) {
		snprintf(err, errsize, "\"state\": expected start or end");
		return -1;
	}
	m->end = true;
	if (!get_number(o, "exit", 0, 255, &exit_status, err, errsize) ||
	    !get_number(o, "ms", 0, 1e12, &m->ms, err, errsize) ||
	    !get_number(o, "maxrss_kb", 0, 1e12, &m->maxrss_kb, err, errsize))
		return -1;
	m->job = 0;
	if (cJSON_GetObjectItemCaseSensitive(o, "job") &&
	    !get_number(o, "job", 1, 1e15, &m->job, err, errsize))
		return -1;
	m->exit = (int)exit_status;
	if (parse_spent(o, m, false, err, errsize) == -1)
		return -1;
	return copy_sha(o, "head", m->sha, err, errsize);
}

static int
parse_merge(const cJSON *o, struct proto_msg *m, char *err, size_t errsize)
{
	const char *state = get_string(o, "state", 8, err, errsize);
	int i;

	if (state == NULL)
		return -1;
	if ((i = lookup(state, merge_names, ARRAY_LEN(merge_names))) < 0) {
		snprintf(err, errsize, "\"state\": expected wait, locked or merged");
		return -1;
	}
	m->merge = (enum proto_merge_stage)i;
	return m->merge == MERGE_MERGED ? copy_sha(o, "sha", m->sha, err, errsize) : 0;
}

static int
parse_done(const cJSON *o, struct proto_msg *m, char *err, size_t errsize)
{
	const char *outcome = get_string(o, "outcome", 16, err, errsize);
	const char *reason;
	int i;

	if (outcome == NULL)
		return -1;
	if ((i = lookup(outcome, outcome_names, ARRAY_LEN(outcome_names))) < 0) {
		snprintf(err, errsize, "\"outcome\": unknown outcome \"%s\"", outcome);
		return -1;
	}
	m->outcome = (enum proto_outcome)i;
	if ((reason = get_string(o, "reason", PROTO_REASON_MAX, err, errsize)) == NULL)
		return -1;
	strlcpy(m->reason, reason, sizeof(m->reason));
	if (m->outcome == OUTCOME_TEMPFAIL) {
		const char *cause = get_string(o, "cause", 16, err, errsize);

		if (cause == NULL)
			return -1;
		if ((i = lookup(cause, cause_names, ARRAY_LEN(cause_names))) < 0) {
			snprintf(err, errsize, "\"cause\": unknown cause \"%s\"", cause);
			return -1;
		}
		m->cause = (enum proto_cause)i;
		if (cJSON_GetObjectItem(o, "resume") != NULL) {
			const char *at = get_string(o, "resume", 16, err, errsize);

			if (at == NULL)
				return -1;
			if (strcmp(at, "merge") != 0) {
				snprintf(err, errsize, "\"resume\": expected merge");
				return -1;
			}
			m->resume = RESUME_MERGE;
		}
	}
	return m->outcome == OUTCOME_PUSHED ? copy_sha(o, "sha", m->sha, err, errsize) : 0;
}

static const char *const resume_names[] = { "prepare", "implement", "verify", "review", "merge" };
static const char *const action_names[] = { "done", "resume", "reset" };

const char *
resume_point_name(enum resume_point r)
{
	return r <= RESUME_MERGE ? resume_names[r] : "?";
}

bool
resume_point_from_name(const char *name, enum resume_point *r)
{
	int i = name ? lookup(name, resume_names, ARRAY_LEN(resume_names)) : -1;

	if (i < 0)
		return false;
	*r = (enum resume_point)i;
	return true;
}

const char *
recover_action_name(enum recover_action a)
{
	return a <= RECOVER_RESET ? action_names[a] : "?";
}

/* The files as one string, a line each (they cannot hold a newline that git printed whole). */
const char *
proto_guard_name(enum proto_guard g)
{
	static const char *const names[] = { "branch_restored", "branch_moved", "config_restored" };

	return (size_t)g < ARRAY_LEN(names) ? names[g] : "?";
}

static int
parse_guard(const cJSON *o, struct proto_msg *m, char *err, size_t errsize)
{
	const char *what = get_string(o, "what", 32, err, errsize), *detail;
	size_t k;

	if (what == NULL)
		return -1;
	for (k = 0; k <= GUARD_CONFIG_RESTORED && strcmp(proto_guard_name(k), what) != 0; k++)
		;
	if (k > GUARD_CONFIG_RESTORED) {
		snprintf(err, errsize, "\"what\": expected branch_restored, branch_moved or "
		    "config_restored");
		return -1;
	}
	m->guard = (enum proto_guard)k;
	if (k != GUARD_CONFIG_RESTORED && copy_sha(o, "sha", m->sha, err, errsize) == -1)
		return -1;
	if ((detail = get_string(o, "detail", PROTO_REASON_MAX, err, errsize)) == NULL)
		return -1;
	strlcpy(m->reason, detail, sizeof(m->reason));
	return 0;
}

static int
parse_resolved(const cJSON *o, struct proto_msg *m, char *err, size_t errsize)
{
	const cJSON *files = cJSON_GetObjectItem(o, "files"), *f;
	long round;
	size_t len = 0;

	if (!get_number(o, "round", 1, 1000, &round, err, errsize))
		return -1;
	m->round = (int)round;
	if (!cJSON_IsArray(files)) {
		snprintf(err, errsize, "\"files\": expected an array of paths");
		return -1;
	}
	cJSON_ArrayForEach(f, files) {
		const char *path = cJSON_GetStringValue(f);

		if (path == NULL || *path == '\0' || strchr(path, '\n') ||
		    len + strlen(path) + 2 > sizeof(m->reason)) {
			snprintf(err, errsize, "\"files\": expected paths");
			return -1;
		}
		len += (size_t)snprintf(m->reason + len, sizeof(m->reason) - len, "%s%s",
		    len ? "\n" : "", path);
	}
	return 0;
}

static int
parse_recovered(const cJSON *o, struct proto_msg *m, char *err, size_t errsize)
{
	const char *action = get_string(o, "action", 8, err, errsize);
	int i;

	if (action == NULL)
		return -1;
	if ((i = lookup(action, action_names, ARRAY_LEN(action_names))) < 0) {
		snprintf(err, errsize, "\"action\": expected done, resume or reset");
		return -1;
	}
	m->action = (enum recover_action)i;
	if (m->action == RECOVER_DONE)
		return copy_sha(o, "sha", m->sha, err, errsize);
	if (m->action == RECOVER_RESUME) {
		const char *resume = get_string(o, "resume", 16, err, errsize);

		if (resume == NULL)
			return -1;
		if ((i = lookup(resume, resume_names, ARRAY_LEN(resume_names))) <= 0) {
			snprintf(err, errsize, "\"resume\": expected implement, verify, review or merge");
			return -1;
		}
		m->resume = (enum resume_point)i;
		/* Landed here, its push to do: the landing, said. */
		if (m->resume == RESUME_MERGE && cJSON_GetObjectItem(o, "sha") != NULL)
			return copy_sha(o, "sha", m->sha, err, errsize);
	}
	return 0;
}

int
proto_parse(const char *line, struct proto_msg *m, char *err, size_t errsize)
{
	cJSON *o;
	const char *t;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	if (strlen(line) >= PROTO_MAX_LINE) {
		snprintf(err, errsize, "message longer than %d bytes", PROTO_MAX_LINE - 1);
		return -1;
	}
	if ((o = cJSON_Parse(line)) == NULL || !cJSON_IsObject(o)) {
		snprintf(err, errsize, "not a JSON object");
		cJSON_Delete(o);
		return -1;
	}
	if ((t = get_string(o, "t", 16, err, errsize)) == NULL)
		goto out;
	if (strcmp(t, "hello") == 0) {
		m->type = PROTO_HELLO;
		rc = parse_hello(o, m, err, errsize);
	} else if (strcmp(t, "phase") == 0) {
		m->type = PROTO_PHASE;
		rc = parse_phase(o, m, err, errsize);
	} else if (strcmp(t, "resolved") == 0) {
		m->type = PROTO_RESOLVED;
		rc = parse_resolved(o, m, err, errsize);
	} else if (strcmp(t, "guard") == 0) {
		m->type = PROTO_GUARD;
		rc = parse_guard(o, m, err, errsize);
	} else if (strcmp(t, "recovered") == 0) {
		m->type = PROTO_RECOVERED;
		rc = parse_recovered(o, m, err, errsize);
	} else if (strcmp(t, "prepared") == 0) {
		m->type = PROTO_PREPARED;
		rc = copy_sha(o, "base", m->sha, err, errsize);
	} else if (strcmp(t, "usage") == 0) {
		m->type = PROTO_USAGE;
		rc = parse_spent(o, m, true, err, errsize);
	} else if (strcmp(t, "slot") == 0) {
		m->type = PROTO_SLOT;
		rc = 0;
	} else if (strcmp(t, "merge") == 0) {
		m->type = PROTO_MERGE;
		rc = parse_merge(o, m, err, errsize);
	} else if (strcmp(t, "done") == 0) {
		m->type = PROTO_DONE;
		rc = parse_done(o, m, err, errsize);
	} else
		snprintf(err, errsize, "unknown message type \"%.16s\"", t);
out:
	cJSON_Delete(o);
	return rc;
}

static cJSON *
build(const struct proto_msg *m, size_t reason_len)
{
	cJSON *o = cJSON_CreateObject();
	char *reason;

	switch (m->type) {
	case PROTO_HELLO:
		cJSON_AddStringToObject(o, "t", "hello");
		cJSON_AddNumberToObject(o, "v", PROTO_VERSION);
		cJSON_AddNumberToObject(o, "pid", (double)m->pid);
		cJSON_AddStringToObject(o, "issue", m->issue);
		cJSON_AddNumberToObject(o, "attempt", m->attempt);
		cJSON_AddStringToObject(o, "trace", m->trace);
		break;
	case PROTO_PHASE:
		cJSON_AddStringToObject(o, "t", "phase");
		cJSON_AddStringToObject(o, "phase", m->phase);
		cJSON_AddStringToObject(o, "state", m->end ? "end" : "start");
		if (!m->end)
			cJSON_AddNumberToObject(o, "pgid", (double)m->pgid);
		else {
			cJSON_AddNumberToObject(o, "exit", m->exit);
			cJSON_AddNumberToObject(o, "ms", (double)m->ms);
			cJSON_AddNumberToObject(o, "maxrss_kb", (double)m->maxrss_kb);
			cJSON_AddStringToObject(o, "head", m->sha);
			if (m->job > 0)
				cJSON_AddNumberToObject(o, "job", (double)m->job);
			add_spent(o, m);
		}
		break;
	case PROTO_PREPARED:
		cJSON_AddStringToObject(o, "t", "prepared");
		cJSON_AddStringToObject(o, "base", m->sha);
		break;
	case PROTO_SLOT:
		cJSON_AddStringToObject(o, "t", "slot");
		break;
	case PROTO_GUARD:
		cJSON_AddStringToObject(o, "t", "guard");
		cJSON_AddStringToObject(o, "what", proto_guard_name(m->guard));
		if (m->guard != GUARD_CONFIG_RESTORED)
			cJSON_AddStringToObject(o, "sha", m->sha);
		reason = strndup(m->reason, utf8_cut(m->reason, reason_len));
		cJSON_AddStringToObject(o, "detail", reason);
		free(reason);
		break;
	case PROTO_USAGE:
		cJSON_AddStringToObject(o, "t", "usage");
		add_spent(o, m);
		break;
	case PROTO_MERGE:
		cJSON_AddStringToObject(o, "t", "merge");
		cJSON_AddStringToObject(o, "state", proto_merge_stage_name(m->merge));
		if (m->merge == MERGE_MERGED)
			cJSON_AddStringToObject(o, "sha", m->sha);
		break;
	case PROTO_DONE:
		cJSON_AddStringToObject(o, "t", "done");
		cJSON_AddStringToObject(o, "outcome", proto_outcome_name(m->outcome));
		if (m->outcome == OUTCOME_PUSHED)
			cJSON_AddStringToObject(o, "sha", m->sha);
		if (m->outcome == OUTCOME_TEMPFAIL)
			cJSON_AddStringToObject(o, "cause", proto_cause_name(m->cause));
		if (m->outcome == OUTCOME_TEMPFAIL && m->resume == RESUME_MERGE)
			cJSON_AddStringToObject(o, "resume", "merge");
		reason = strndup(m->reason, utf8_cut(m->reason, reason_len));
		cJSON_AddStringToObject(o, "reason", reason);
		free(reason);
		break;
	case PROTO_RESOLVED: {
		cJSON *files = cJSON_AddArrayToObject(o, "files");
		char *copy = xstrdup(m->reason), *save = NULL;

		cJSON_AddStringToObject(o, "t", "resolved");
		cJSON_AddNumberToObject(o, "round", m->round);
		for (char *f = strtok_r(copy, "\n", &save); f; f = strtok_r(NULL, "\n", &save))
			cJSON_AddItemToArray(files, cJSON_CreateString(f));
		free(copy);
		break;
	}
	case PROTO_RECOVERED:
		cJSON_AddStringToObject(o, "t", "recovered");
		cJSON_AddStringToObject(o, "action", recover_action_name(m->action));
		if (m->action == RECOVER_RESUME)
			cJSON_AddStringToObject(o, "resume", resume_point_name(m->resume));
		if (m->action == RECOVER_DONE || (m->action == RECOVER_RESUME && m->sha[0]))
			cJSON_AddStringToObject(o, "sha", m->sha);
		break;
	}
	return o;
}

int
proto_send(int fd, const struct proto_msg *m)
{
	size_t reason_len = strlen(m->reason);
	char *text = NULL;

	/* JSON escaping can grow the reason: shorten it until the line fits. */
	for (;;) {
		cJSON *o = build(m, reason_len);

		free(text);
		text = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (text == NULL)
			return -1;
		if (strlen(text) + 1 <= PROTO_MAX_LINE || reason_len == 0)
			break;
		reason_len = reason_len > 256 ? reason_len - reason_len / 4 : 0;
	}
	size_t len = strlen(text);
	text[len] = '\n';
	ssize_t n;
	while ((n = write(fd, text, len + 1)) == -1 && errno == EINTR)
		;
	free(text);
	return n == (ssize_t)(len + 1) ? 0 : -1;
}
