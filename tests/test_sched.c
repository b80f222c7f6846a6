/*
 * The scheduler alone (supervisor/sched.c and the files sched.h lists): a
 * fake start function stands in for fork, and the tests play the worker's
 * messages.  Every transition of the table is walked, and every message out
 * of turn is refused.  The store, the event log and the repos are real
 * files in a temporary folder.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cJSON.h>
#include <criterion/criterion.h>

#include "common/events.h"
#include "common/store.h"
#include "common/util.h"
#include "supervisor/admission.h"
#include "supervisor/backlog.h"
#include "supervisor/flight.h"
#include "supervisor/journal.h"
#include "supervisor/sched.h"
#include "tests/lib/testlib.h"

static char *dir;
static struct config *cfg;
static struct store *store;
static struct events *events;
static struct journal *journal;
static struct admission *adm;
static struct sched *s;

/* What the fake start function was asked to start, and the gates opened. */
static struct sched_job jobs[32];
static size_t issues_of[32];
static int njobs;
static pid_t gates[32];
static int ngates;
static bool fail_start;

static pid_t
fake_start(const struct sched_job *job, void *arg)
{
	(void)arg;
	if (fail_start)
		return -1;
	cr_assert_lt(njobs, 32);
	jobs[njobs] = *job;
	issues_of[njobs] = job->issue;
	return 100000 + njobs++;
}

static void
fake_gate(pid_t pid, void *arg)
{
	(void)arg;
	gates[ngates++] = pid;
}

static void
setup(void)
{
	char *errors = NULL, *path, *state;

	dir = tmpdir_new();
	path = xasprintf("%s/repos/api", dir);
	git_repo_new(path);
	free(path);
	path = xasprintf("%s/repos/web", dir);
	git_repo_new(path);
	free(path);
	free(write_text(dir, "waved.conf", "[waved]\nstate_dir = state\nmax_attempts = 2\n"
	    "retry_backoff = 0\n[source]\ntype = file\npath = issues.json\n"
	    "[phase \"implement\"]\nrun = true\n"
	    "[repo \"api\"]\npath = repos/api\n[repo \"web\"]\npath = repos/web\n"));
	path = xasprintf("%s/waved.conf", dir);
	cfg = config_load(path, &errors);
	cr_assert_not_null(cfg, "%s", errors);
	free(path);
	state = xasprintf("%s/state", dir);
	cr_assert_eq(mkdir_p(state, 0755), 0);
	path = xasprintf("%s/waved.db", state);
	store = store_open(path, STORE_READWRITE, &errors);
	cr_assert_not_null(store, "%s", errors);
	free(path);
	events = events_open(state);
	free(state);
	journal = journal_new(store, events);
	njobs = ngates = 0;
	fail_start = false;
	adm = admission_new(cfg, store, journal, 2);
	s = sched_new(cfg, store, journal, adm, fake_start, NULL);
	sched_set_gate(s, fake_gate, NULL);
}

static void
teardown(void)
{
	sched_free(s);
	admission_free(adm);
	journal_free(journal);
	events_close(events);
	store_close(store);
	config_free(cfg);
	tmpdir_remove(dir);
	/* recovery and landings run git: leave no zombie behind */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

TestSuite(sched, .init = setup, .fini = teardown, .timeout = 60);

/* One dispatched event, as the loop runs it: one transaction around the call. */
#define DISPATCH(call) do { journal_begin(journal); call; journal_commit(journal); } while (0)
#define DISPATCH_RC(call) __extension__ ({ journal_begin(journal); __auto_type rc_ = (call); \
	journal_commit(journal); rc_; })

static struct issue_spec *
add_issue(struct issue_list *l, const char *repo, long number, const char *title)
{
	struct issue_spec *sp = issue_list_add(l);

	strcpy(sp->repo, repo);
	sp->number = number;
	sp->title = xstrdup(title);
	sp->body = xstrdup("");
	sp->created = (int64_t)l->n;
	return sp;
}

/* api#1, api#2 (depends on api#1), web#1. */
static void
sync_three(void)
{
	struct issue_list l = { 0 };

	add_issue(&l, "api", 1, "one");
	issue_spec_add_dep(add_issue(&l, "api", 2, "two"), "api", 1);
	add_issue(&l, "web", 1, "w");
	cr_assert_eq(DISPATCH_RC(backlog_sync(s, &l)), 0);
	issue_list_clear(&l);
}

static const char *
state_of(const char *repo, long number)
{
	static char buf[32];

	cr_assert(store_issue_state(store, repo, number, buf, sizeof(buf)), "%s#%ld", repo, number);
	return buf;
}

/* The job started for issue key, or fail. */
static int
job_of(const char *key)
{
	for (int k = njobs - 1; k >= 0; k--)
		if (strcmp(jobs[k].key, key) == 0)
			return k;
	cr_assert_fail("no worker was started for %s", key);
	return -1;
}

static int
say(int job, struct proto_msg m)
{
	return DISPATCH_RC(flight_on_message(s, issues_of[job], 100000 + job, &m));
}

static struct proto_msg
hello(int job)
{
	struct proto_msg m = { .type = PROTO_HELLO, .pid = 100000 + job, .attempt = jobs[job].attempt };

	strlcpy(m.issue, jobs[job].key, sizeof(m.issue));
	strlcpy(m.trace, jobs[job].trace, sizeof(m.trace));
	return m;
}

static struct proto_msg
merge_msg(enum proto_merge_stage st, const char *sha)
{
	struct proto_msg m = { .type = PROTO_MERGE, .merge = st };

	if (sha)
		strlcpy(m.sha, sha, sizeof(m.sha));
	return m;
}

static struct proto_msg
done_msg(enum proto_outcome o, const char *reason)
{
	struct proto_msg m = { .type = PROTO_DONE, .outcome = o };

	strlcpy(m.reason, reason, sizeof(m.reason));
	return m;
}

static bool
gate_opened(int job)
{
	for (int k = 0; k < ngates; k++)
		if (gates[k] == 100000 + job)
			return true;
	return false;
}

static char *
head_of(const char *repo)
{
	char *path = xasprintf("%s/repos/%s", dir, repo);
	struct run_result r = run_argv(path, (const char *[]){ "git", "rev-parse", "main", NULL });
	char *sha = xstrdup(r.out);

	sha[strcspn(sha, "\n")] = '\0';
	run_result_free(&r);
	free(path);
	return sha;
}

Test(sched, an_issue_walks_from_queued_to_done_and_releases_its_dependent)
{
	char *sha = head_of("api");
	int a;

	sync_three();
	cr_assert_str_eq(state_of("api", 1), "ready");
	cr_assert_str_eq(state_of("api", 2), "queued");
	cr_assert_str_eq(state_of("web", 1), "ready");
	DISPATCH(sched_admit(s));
	cr_assert_eq(njobs, 2, "one per repo, up to the cap");
	a = job_of("api#1");
	cr_assert_str_eq(state_of("api", 1), "running");
	cr_assert(gate_opened(a), "the admission is committed: the worker may go");
	cr_assert_eq(say(a, hello(a)), 0);
	cr_assert_eq(say(a, (struct proto_msg){ .type = PROTO_SLOT }), 0);
	cr_assert_str_eq(state_of("api", 1), "review");
	ngates = 0;
	cr_assert_eq(say(a, merge_msg(MERGE_WAIT, NULL)), 0);
	cr_assert_str_eq(state_of("api", 1), "merging");
	cr_assert(gate_opened(a), "the merge request is committed: the worker may merge");
	cr_assert_eq(say(a, merge_msg(MERGE_LOCKED, NULL)), 0);
	cr_assert_eq(say(a, merge_msg(MERGE_MERGED, sha)), 0);
	cr_assert_eq(say(a, done_msg(OUTCOME_MERGED, "")), 0);
	cr_assert_str_eq(state_of("api", 1), "done");
	cr_assert_str_eq(state_of("api", 2), "ready", "its dependency is done");
	DISPATCH(sched_admit(s));
	job_of("api#2");
	free(sha);
}

Test(sched, a_failed_attempt_waits_then_dies_and_blocks_its_dependent_until_retried)
{
	char *why = NULL;
	int a;

	sync_three();
	DISPATCH(sched_admit(s));
	a = job_of("api#1");
	cr_assert_eq(say(a, done_msg(OUTCOME_FAILED, "implement failed")), 0);
	cr_assert_str_eq(state_of("api", 1), "retry_wait");
	DISPATCH(sched_tick(s, now_ms() + 1));
	cr_assert_str_eq(state_of("api", 1), "ready", "the backoff is over");
	DISPATCH(sched_admit(s));
	a = job_of("api#1");
	cr_assert_eq(jobs[a].attempt, 2);
	cr_assert_eq(say(a, done_msg(OUTCOME_FAILED, "implement failed again")), 0);
	cr_assert_str_eq(state_of("api", 1), "dead", "max_attempts = 2");
	cr_assert_str_eq(state_of("api", 2), "blocked");
	cr_assert_eq(DISPATCH_RC(backlog_retry(s, "api#2", &why)), -1, "its dependency is still dead");
	free(why);
	cr_assert_eq(DISPATCH_RC(backlog_retry(s, "api#1", &why)), 0);
	cr_assert_str_eq(state_of("api", 1), "ready");
	cr_assert_str_eq(state_of("api", 2), "queued", "unblocked with its dependency");
	cr_assert_eq(DISPATCH_RC(backlog_retry(s, "api#1", &why)), -1, "only a dead or blocked issue");
	cr_assert(strstr(why, "api#1 is ready"), "%s", why);
	free(why);
}

Test(sched, a_tempfail_and_a_failed_start_use_no_attempt)
{
	int a;

	sync_three();
	fail_start = true;
	DISPATCH(sched_admit(s));
	cr_assert_str_eq(state_of("api", 1), "retry_wait");
	cr_assert_eq(sched_inflight(s), 0);
	fail_start = false;
	DISPATCH(sched_tick(s, now_ms() + 1));
	DISPATCH(sched_admit(s));
	a = job_of("api#1");
	cr_assert_eq(jobs[a].attempt, 1, "a failed start is no attempt");
	cr_assert_eq(say(a, done_msg(OUTCOME_TEMPFAIL, "usage limit")), 0);
	DISPATCH(sched_tick(s, now_ms() + 3600 * 1000));	/* past tempfail_backoff */
	DISPATCH(sched_admit(s));
	cr_assert_neq(job_of("api#1"), a, "admitted again");
	cr_assert_eq(jobs[job_of("api#1")].attempt, 1, "nor is a tempfail");
}

/* Stopped, an attempt stays in flight for the next start to resume, as after a kill -9. */
Test(sched, a_stopping_daemon_leaves_its_issue_to_resume_without_counting)
{
	int a;

	sync_three();
	DISPATCH(sched_admit(s));
	a = job_of("api#1");
	DISPATCH(flight_on_exit(s, issues_of[a], 100000 + a, 3 << 8, true));
	cr_assert_str_eq(state_of("api", 1), "running", "left for the next start's recovery");
	cr_assert_eq(sched_inflight(s), 1, "web#1 is still in flight, api#1 holds no slot");
}

Test(sched, messages_out_of_turn_are_refused_and_change_nothing)
{
	struct proto_msg m;
	int a;

	sync_three();
	DISPATCH(sched_admit(s));
	a = job_of("api#1");
	m = hello(a);
	strcpy(m.trace, "0000000000000000");
	cr_assert_eq(say(a, m), -1, "a hello of another attempt");
	cr_assert_eq(flight_on_message(s, issues_of[a], 4242, &(struct proto_msg){ .type = PROTO_SLOT }),
	    -1, "a pid that is not the issue's worker");
	cr_assert_eq(say(a, merge_msg(MERGE_LOCKED, NULL)), -1, "the lock before the queue");
	cr_assert_eq(say(a, merge_msg(MERGE_MERGED, "0123456789abcdef0123456789abcdef01234567")),
	    -1, "merged without the queue");
	cr_assert_eq(say(a, done_msg(OUTCOME_MERGED, "")), -1, "done merged without a merge");
	cr_assert_str_eq(state_of("api", 1), "running");
	cr_assert_eq(say(a, (struct proto_msg){ .type = PROTO_SLOT }), 0);
	cr_assert_eq(say(a, (struct proto_msg){ .type = PROTO_SLOT }), -1, "the slot twice");
	cr_assert_str_eq(state_of("api", 1), "review");
}

Test(sched, the_cap_bounds_admission_and_a_pause_admits_nothing)
{
	sync_three();
	DISPATCH(admission_set(adm, 0, "control", "test"));
	DISPATCH(sched_admit(s));
	cr_assert_eq(njobs, 0);
	DISPATCH(admission_step(adm, +1, "signal", "SIGUSR2"));
	DISPATCH(sched_admit(s));
	cr_assert_eq(njobs, 1);
	cr_assert_eq(admission_effective(adm), 1);
}

Test(sched, the_table_refuses_what_it_does_not_list)
{
	sync_three();
	/* api#2 waits for api#1: queued.  Nothing admits, lands or merges it from there. */
	long i = sched_lookup(s, "api", 2);
	cr_assert_geq(i, 0);
	cr_assert_not(DISPATCH_RC(sched_fire(s, (size_t)i, IN_ADMIT, NULL, NULL)));
	cr_assert_not(DISPATCH_RC(sched_fire(s, (size_t)i, IN_LANDED, NULL, NULL)));
	cr_assert_not(DISPATCH_RC(sched_fire(s, (size_t)i, IN_RETRY, NULL, NULL)));
	cr_assert_not(DISPATCH_RC(sched_fire(s, (size_t)i, IN_PR_MERGED, NULL, NULL)));
	cr_assert_str_eq(state_of("api", 2), "queued");
}

/*
 * The table itself, walked: for every state and every input, a fresh issue
 * (with one dependent) is brought to the state along moves the table lists
 * (found from ready, breadth-first), and the input is given.  What the table
 * lists happens, in memory and in the store; what it does not list is refused
 * and changes nothing.  The actions come with the moves: entering done
 * releases the dependent, entering dead blocks it, and the cap slots in use
 * are exactly the issues in flight.
 */
static long
number_of(int st, int in)
{
	return 1 + 2 * (st * IN_COUNT + in);
}

/* Where the table takes an issue with nothing pending (back in line: ready). */
static bool
table_move(enum issue_state from, enum sched_input in, enum issue_state *to)
{
	int t;

	if (!sched_table(from, in, &t))
		return false;
	*to = t == SCHED_IN_LINE ? STATE_READY : (enum issue_state)t;
	return true;
}

static int
in_flight_now(void)
{
	int n = 0;

	for (int st = 0; st < STATE_COUNT; st++)
		for (int in = 0; in < IN_COUNT; in++) {
			long i = sched_lookup(s, "api", number_of(st, in));

			n += state_in_flight(sched_issue_state(s, (size_t)i));
		}
	return n;
}

/* The dependent's state once its dependency entered to (from what it was). */
static enum issue_state
dependent_after(enum issue_state dep, enum issue_state to)
{
	if (to == STATE_DONE && dep == STATE_QUEUED)
		return STATE_READY;
	if (to == STATE_DEAD && state_waiting(dep))
		return STATE_BLOCKED;
	return dep;
}

Test(sched, every_input_in_every_state_does_what_the_table_says)
{
	enum sched_input path[STATE_COUNT][STATE_COUNT];
	int len[STATE_COUNT];
	bool seen[STATE_COUNT] = { false };
	enum issue_state queue[STATE_COUNT];
	int head = 0, tail = 0;
	struct issue_list l = { 0 };

	/* Paths from ready to every state, over the table's own moves. */
	queue[tail++] = STATE_READY;
	seen[STATE_READY] = true;
	len[STATE_READY] = 0;
	while (head < tail) {
		enum issue_state from = queue[head++], to;

		for (int in = 0; in < IN_COUNT; in++)
			if (table_move(from, (enum sched_input)in, &to) && !seen[to]) {
				seen[to] = true;
				memcpy(path[to], path[from], sizeof(path[to]));
				len[to] = len[from] + 1;
				path[to][len[from]] = (enum sched_input)in;
				queue[tail++] = to;
			}
	}
	for (int st = 0; st < STATE_COUNT; st++)
		cr_assert(seen[st], "the table reaches %s from ready", state_name(st));

	for (int st = 0; st < STATE_COUNT; st++)
		for (int in = 0; in < IN_COUNT; in++) {
			add_issue(&l, "api", number_of(st, in), "issue");
			issue_spec_add_dep(add_issue(&l, "api", number_of(st, in) + 1, "dependent"),
			    "api", number_of(st, in));
		}
	cr_assert_eq(DISPATCH_RC(backlog_sync(s, &l)), 0);
	issue_list_clear(&l);

	for (int st = 0; st < STATE_COUNT; st++)
		for (int in = 0; in < IN_COUNT; in++) {
			long i = sched_lookup(s, "api", number_of(st, in));
			long d = sched_lookup(s, "api", number_of(st, in) + 1);
			enum issue_state cur = STATE_READY, dep = STATE_QUEUED, to;
			bool listed;

			cr_assert_eq(sched_issue_state(s, (size_t)i), STATE_READY);
			cr_assert_eq(sched_issue_state(s, (size_t)d), STATE_QUEUED);
			for (int k = 0; k < len[st]; k++) {
				cr_assert(DISPATCH_RC(sched_fire(s, (size_t)i, path[st][k], "why", NULL)));
				cr_assert(table_move(cur, path[st][k], &cur));
				dep = dependent_after(dep, cur);
			}
			cr_assert_eq(sched_issue_state(s, (size_t)i), st);
			listed = table_move(st, (enum sched_input)in, &to);
			cr_assert_eq(DISPATCH_RC(sched_fire(s, (size_t)i, (enum sched_input)in, "why",
			    NULL)), listed, "%s --%s-->: the table %s it", state_name(st),
			    sched_input_name(in), listed ? "lists" : "does not list");
			if (!listed)
				to = st;
			else if ((int)to != st)
				dep = dependent_after(dep, to);
			cr_assert_eq(sched_issue_state(s, (size_t)i), to, "%s --%s--> %s, not %s",
			    state_name(st), sched_input_name(in), state_name(to),
			    state_name(sched_issue_state(s, (size_t)i)));
			cr_assert_str_eq(state_of("api", number_of(st, in)), state_name(to),
			    "the store has the move");
			cr_assert_eq(sched_issue_state(s, (size_t)d), dep,
			    "%s --%s--> %s: its dependent is %s, not %s", state_name(st),
			    sched_input_name(in), state_name(to), state_name(dep),
			    state_name(sched_issue_state(s, (size_t)d)));
			cr_assert_eq(sched_inflight(s), in_flight_now(),
			    "%s --%s--> %s: the cap slots held are the issues in flight",
			    state_name(st), sched_input_name(in), state_name(to));
		}
}

/* The priority the last "admitted" event carries, from the event log; -1: none. */
static double
last_admitted_priority(void)
{
	char *path = xasprintf("%s/state/events.ndjson", dir), *text = read_file(path, NULL);
	double priority = -1;

	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		cJSON *e = cJSON_Parse(line);

		if (e && strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "event")), "admitted") == 0)
			priority = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "priority"));
		cJSON_Delete(e);
	}
	free(text);
	free(path);
	return priority;
}

/* api#1 is the oldest, but web has three waiting: a repo's queue is a chain,
 * the longest critical path (3 against 1), and web goes first. */
Test(sched, a_repo_with_more_waiting_is_the_longer_critical_path)
{
	struct issue_list l = { 0 };

	add_issue(&l, "api", 1, "oldest");
	add_issue(&l, "web", 1, "w1");
	add_issue(&l, "web", 2, "w2");
	add_issue(&l, "web", 3, "w3");
	cr_assert_eq(DISPATCH_RC(backlog_sync(s, &l)), 0);
	issue_list_clear(&l);
	DISPATCH(admission_set(adm, 1, "control", "test"));
	DISPATCH(sched_admit(s));
	cr_assert_eq(njobs, 1);
	cr_assert_str_eq(jobs[0].key, "web#1");
	cr_assert_eq(last_admitted_priority(), 3, "the admitted event says the path it was chosen by");
}

static int memory_rooms_left;

static bool
fake_memory_room(long peak_kb, void *arg)
{
	(void)peak_kb;
	(void)arg;
	return memory_rooms_left-- > 0;
}

/* Memory is read at the moment of each admission: two in one instant are two readings. */
Test(sched, memory_is_asked_at_every_admission)
{
	sync_three();
	memory_rooms_left = 1;
	admission_set_memory_room(adm, fake_memory_room, NULL);
	DISPATCH(sched_admit(s));
	cr_assert_eq(njobs, 1, "room for one: the second admission found none");
	cr_assert(admission_memory_is_low(adm), "the memory hand holds admissions");
	cr_assert_eq(admission_effective(adm), 0);
}

static void
note_duration(const char *scope, const char *name, const struct attempt_times *times,
    void *arg)
{
	int64_t *api = arg;

	if (strcmp(scope, "repo") == 0 && strcmp(name, "api") == 0)
		*api = times->avg_ms;
}

static struct proto_msg
phase_end(const char *phase, long ms)
{
	struct proto_msg m = { .type = PROTO_PHASE, .end = true, .ms = ms };

	strlcpy(m.phase, phase, sizeof(m.phase));
	return m;
}

/* What an attempt took is its repo's expected time (a moving average); an
 * exit of 75 is a limit, not the work, and counts nothing. */
Test(sched, what_attempts_take_is_kept_as_their_repos_expected_time)
{
	int64_t api = 0;
	int a;

	sync_three();
	DISPATCH(sched_admit(s));
	a = job_of("api#1");
	cr_assert_eq(say(a, phase_end("implement", 3000)), 0);
	cr_assert_eq(say(a, done_msg(OUTCOME_TEMPFAIL, "usage limit")), 0);
	store_each_duration(store, note_duration, &api);
	cr_assert_eq(api, 0, "a tempfail is no measure");
	DISPATCH(sched_tick(s, now_ms() + 3600 * 1000));
	DISPATCH(sched_admit(s));
	cr_assert_eq(jobs[a = job_of("api#1")].attempt, 1, "the tempfail's attempt again");
	cr_assert_eq(say(a, phase_end("implement", 8000)), 0);
	cr_assert_eq(say(a, done_msg(OUTCOME_FAILED, "implement failed")), 0);
	store_each_duration(store, note_duration, &api);
	cr_assert_eq(api, 8000);
	DISPATCH(sched_tick(s, now_ms() + 3600 * 1000));
	DISPATCH(sched_admit(s));
	cr_assert_eq(jobs[a = job_of("api#1")].attempt, 2);
	cr_assert_eq(say(a, phase_end("implement", 4000)), 0);
	cr_assert_eq(say(a, done_msg(OUTCOME_FAILED, "implement failed")), 0);
	store_each_duration(store, note_duration, &api);
	cr_assert_eq(api, (8000 * 3 + 4000) / 4, "the last attempt weighs a quarter");
}

/*
 * DESIGN.md section 16: an issue waiting for its pool holds neither a cap
 * slot nor its repo's.  web#1 (the longer chain) takes pool heavy's one slot;
 * api#1 is older than api#2 but in heavy too: api#2, in no pool, goes first.
 */
Test(sched, an_issue_waiting_for_its_pool_holds_back_no_other_of_its_repo)
{
	struct issue_list l = { 0 };
	struct config *pooled;
	char *errors = NULL, *path, *why = NULL;

	path = write_text(dir, "pooled.conf", "[waved]\nstate_dir = state\nmax_attempts = 2\n"
	    "retry_backoff = 0\n[source]\ntype = file\npath = issues.json\n"
	    "[phase \"implement\"]\nrun = true\n[pool \"heavy\"]\ncap = 1\n"
	    "[repo \"api\"]\npath = repos/api\n[repo \"web\"]\npath = repos/web\n");
	pooled = config_load(path, &errors);
	cr_assert_not_null(pooled, "%s", errors);
	free(path);
	cr_assert(DISPATCH_RC(sched_reconfigure(s, pooled, &why)), "%s", why);
	strcpy(add_issue(&l, "api", 1, "heavy, older")->pool, "heavy");
	add_issue(&l, "api", 2, "light");
	strcpy(add_issue(&l, "web", 1, "heavy, longer chain")->pool, "heavy");
	issue_spec_add_dep(add_issue(&l, "web", 2, "after web#1"), "web", 1);
	cr_assert_eq(DISPATCH_RC(backlog_sync(s, &l)), 0);
	issue_list_clear(&l);
	DISPATCH(sched_admit(s));
	cr_assert_eq(njobs, 2, "the cap is 2: both repos admit one");
	cr_assert_str_eq(jobs[0].key, "web#1");
	cr_assert_str_eq(jobs[0].pool, "heavy");
	cr_assert_str_eq(jobs[1].key, "api#2", "api#1 waits for its pool, not api#2 behind it");
	cr_assert_null(jobs[1].pool);
	cr_assert_str_eq(state_of("api", 1), "ready");
	config_free(pooled);
}

/*
 * Priorities follow what attempts take as they end, not only at the next
 * sync.  Two attempts each (noted before) cannot tell repos that differ from
 * attempts that vary: web#1 has the longer chain and goes first, as by
 * counts.  Once a third attempt of each has taken what the others took,
 * api's are a hundred times web's, and api#1 is the longer critical path.
 */
Test(sched, priorities_follow_the_expected_time_of_attempts_as_they_end)
{
	struct issue_list l = { 0 };
	int a;

	cr_assert_eq(store_begin(store), 0);
	for (int k = 0; k < 2; k++) {
		cr_assert_eq(store_duration_note(store, "repo", "web", 1000), 0);
		cr_assert_eq(store_duration_note(store, "repo", "api", 100000), 0);
	}
	cr_assert_eq(store_commit(store), 0);
	add_issue(&l, "api", 1, "alone");
	add_issue(&l, "web", 1, "first of two");
	issue_spec_add_dep(add_issue(&l, "web", 2, "second"), "web", 1);
	cr_assert_eq(DISPATCH_RC(backlog_sync(s, &l)), 0);
	issue_list_clear(&l);
	DISPATCH(admission_set(adm, 1, "control", "test"));
	DISPATCH(sched_admit(s));
	cr_assert_eq(njobs, 1);
	cr_assert_str_eq(jobs[0].key, "web#1", "as by counts: web's chain of two");
	a = 0;
	cr_assert_eq(say(a, phase_end("implement", 1000)), 0);
	cr_assert_eq(say(a, done_msg(OUTCOME_FAILED, "implement failed")), 0);
	DISPATCH(sched_admit(s));
	cr_assert_eq(njobs, 2);
	a = job_of("api#1");
	cr_assert_eq(say(a, phase_end("implement", 100000)), 0);
	cr_assert_eq(say(a, done_msg(OUTCOME_FAILED, "implement failed")), 0);
	DISPATCH(sched_tick(s, now_ms() + 3600 * 1000));
	cr_assert_str_eq(state_of("api", 1), "ready");
	cr_assert_str_eq(state_of("web", 1), "ready");
	DISPATCH(sched_admit(s));
	cr_assert_eq(njobs, 3);
	cr_assert_str_eq(jobs[2].key, "api#1", "api's 100 s against web's two of 1 s");
}
