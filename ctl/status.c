/*
 * wavectl status: the daemon's state as the store has it, with or without a
 * running daemon (read-only: it never writes the database).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "common/store.h"
#include "ctl/ctl.h"

static const char *const states[] = {
	"queued", "ready", "running", "review", "merging", "retry_wait", "done", "dead", "blocked"
};
#define NSTATES (sizeof(states) / sizeof(states[0]))

struct status_row {
	char key[ISSUE_KEY_MAX];
	char *state, *phase, *reason, *trace;
	int attempts, attempt;
	long pid;
	int64_t since;
};

struct status {
	struct store_daemon daemon;
	bool running;
	struct status_row *rows;
	size_t n, cap;
	int counts[NSTATES];
};

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static bool
in_flight(const char *state)
{
	return strcmp(state, "running") == 0 || strcmp(state, "review") == 0 ||
	    strcmp(state, "merging") == 0;
}

static void
collect_row(const struct store_issue_row *row, void *arg)
{
	struct status *st = arg;
	struct status_row *r;

	grow_array((void **)&st->rows, &st->cap, st->n + 1, sizeof(*st->rows));
	r = &st->rows[st->n++];
	issue_key(r->key, sizeof(r->key), row->repo, row->number);
	r->state = xstrdup(row->state);
	r->phase = dup_or_null(row->phase ? row->phase : row->state);
	r->reason = dup_or_null(row->reason);
	r->trace = dup_or_null(row->trace);
	r->attempts = row->attempts;
	r->attempt = row->attempt;
	r->pid = row->pid;
	r->since = row->since;
	for (size_t k = 0; k < NSTATES; k++)
		if (strcmp(states[k], row->state) == 0)
			st->counts[k]++;
}

static void
status_free(struct status *st)
{
	for (size_t k = 0; k < st->n; k++) {
		free(st->rows[k].state);
		free(st->rows[k].phase);
		free(st->rows[k].reason);
		free(st->rows[k].trace);
	}
	free(st->rows);
}

/* The daemon runs when the store says so and its pid is alive. */
static bool
daemon_alive(const struct store_daemon *d)
{
	return d->running && d->pid > 0 && (kill((pid_t)d->pid, 0) == 0 || errno == EPERM);
}

static void
print_json(const struct status *st)
{
	cJSON *root = cJSON_CreateObject(), *inflight, *counts, *issues;
	char ts[32], *text;

	cJSON_AddNumberToObject(root, "pid", (double)st->daemon.pid);
	cJSON_AddBoolToObject(root, "running", st->running);
	cJSON_AddNumberToObject(root, "cap", st->daemon.cap);
	cJSON_AddNumberToObject(root, "effective_cap", st->daemon.effective_cap);
	cJSON_AddBoolToObject(root, "paused", st->running && st->daemon.paused);
	inflight = cJSON_AddArrayToObject(root, "inflight");
	counts = cJSON_AddObjectToObject(root, "counts");
	issues = cJSON_AddArrayToObject(root, "issues");
	for (size_t k = 0; k < NSTATES; k++)
		cJSON_AddNumberToObject(counts, states[k], st->counts[k]);
	for (size_t k = 0; k < st->n; k++) {
		const struct status_row *r = &st->rows[k];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "issue", r->key);
		cJSON_AddStringToObject(o, "state", r->state);
		cJSON_AddNumberToObject(o, "attempts", r->attempts);
		if (r->reason)
			cJSON_AddStringToObject(o, "reason", r->reason);
		else
			cJSON_AddNullToObject(o, "reason");
		cJSON_AddItemToArray(issues, o);
		if (!in_flight(r->state))
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "issue", r->key);
		cJSON_AddStringToObject(o, "phase", r->phase);
		cJSON_AddNumberToObject(o, "attempt", r->attempt);
		cJSON_AddNumberToObject(o, "pid", (double)r->pid);
		cJSON_AddStringToObject(o, "trace", r->trace ? r->trace : "");
		format_timestamp(r->since, ts, sizeof(ts));
		cJSON_AddStringToObject(o, "since", ts);
		cJSON_AddItemToArray(inflight, o);
	}
	text = cJSON_PrintUnformatted(root);
	puts(text);
	free(text);
	cJSON_Delete(root);
}

static void
print_age(int64_t since_ms)
{
	long long s = (long long)((now_ms() - since_ms) / 1000);

	if (s < 120)
		printf("%llds", s);
	else if (s < 7200)
		printf("%lldm", s / 60);
	else
		printf("%lldh", s / 3600);
}

static void
print_human(const struct status *st)
{
	bool header = false;

	if (st->running)
		printf("waved: running, pid %ld; cap %d, effective %d%s\n", st->daemon.pid,
		    st->daemon.cap, st->daemon.effective_cap, st->daemon.paused ? " (paused)" : "");
	else
		printf("waved: not running\n");
	for (size_t k = 0; k < st->n; k++) {
		const struct status_row *r = &st->rows[k];

		if (!in_flight(r->state))
			continue;
		if (!header)
			printf("\n%-20s %-10s %-7s %-8s %s\n", "IN FLIGHT", "PHASE", "ATTEMPT", "PID", "AGE");
		header = true;
		printf("%-20s %-10s %-7d %-8ld ", r->key, r->phase, r->attempt, r->pid);
		print_age(r->since);
		putchar('\n');
	}
	header = false;
	for (size_t k = 0; k < st->n; k++) {
		const struct status_row *r = &st->rows[k];

		if (strcmp(r->state, "retry_wait") && strcmp(r->state, "dead") &&
		    strcmp(r->state, "blocked"))
			continue;
		if (!header)
			printf("\n%-20s %-11s %-8s %s\n", "NEEDS ATTENTION", "STATE", "ATTEMPTS", "REASON");
		header = true;
		printf("%-20s %-11s %-8d ", r->key, r->state, r->attempts);
		ctl_print_text(stdout, r->reason ? r->reason : "-", 100);
		putchar('\n');
	}
	putchar('\n');
	for (size_t k = 0; k < NSTATES; k++)
		printf("%s%s %d", k ? ", " : "", states[k], st->counts[k]);
	putchar('\n');
}

/* Fill st from the store; 0, or -1 with the reason printed. */
static int
status_read(const struct config *cfg, struct status *st)
{
	char *path = xasprintf("%s/%s", cfg->state_dir, STORE_FILE), *err = NULL;
	struct store *store;
	struct stat sb;

	if (stat(path, &sb) == -1) {
		free(path);
		return 0;	/* waved never ran here: that is a status too */
	}
	store = store_open(path, STORE_READONLY, &err);
	free(path);
	if (store == NULL) {
		fprintf(stderr, "wavectl: %s\n", err);
		free(err);
		return -1;
	}
	store_daemon_get(store, &st->daemon);
	st->running = daemon_alive(&st->daemon);
	store_each_issue(store, collect_row, st);
	store_close(store);
	return 0;
}

int
cmd_status(const char *config_path, int argc, char **argv)
{
	struct status st = { 0 };
	struct config *cfg;
	bool json = false;
	int rc = CTL_OK;

	if (ctl_json_flag(argc, argv, "status", &json) == -1)
		return CTL_BAD_INPUT;
	if ((cfg = ctl_load_config(config_path)) == NULL)
		return CTL_BAD_INPUT;
	if (status_read(cfg, &st) == -1)
		rc = CTL_BAD_INPUT;
	else if (json)
		print_json(&st);
	else
		print_human(&st);
	status_free(&st);
	config_free(cfg);
	return rc;
}
