/*
 * End-to-end scenarios: a temporary folder with real git repositories, a
 * waved.conf and an issues file, the real binaries run on them, and the
 * outcome read back from events.ndjson.
 */
#ifndef WAVED_SCENARIO_H
#define WAVED_SCENARIO_H

#include <stdbool.h>
#include <sys/types.h>

#include <cJSON.h>

#include "tests/lib/invariants.h"
#include "tests/lib/testlib.h"

struct scenario {
	char *dir;
	char *conf;		/* dir/waved.conf */
	char *state;		/* dir/state */
	char *waved, *wavectl;
	char repos[512];	/* the [repo] sections written so far */
	const char *waived[INV_COUNT];	/* why an invariant is not checked (invariants.h) */
	bool checked;		/* the invariants were checked */
};

/* A Criterion suite whose every test gets a fresh scenario in sc. */
#define SCENARIO_SUITE(name, seconds)						\
	static struct scenario *sc;						\
	static void name##_setup(void) { sc = scenario_new(); }		\
	static void name##_teardown(void) { scenario_free(sc); }		\
	TestSuite(name, .init = name##_setup, .fini = name##_teardown, .timeout = seconds)

struct scenario *scenario_new(void);
/* Checks the invariants (invariants.h) unless done already, then removes the folder. */
void scenario_free(struct scenario *sc);

/* A git repository dir/repos/NAME with one commit on main; returns its path. */
char *scenario_repo(struct scenario *sc, const char *name);
/* Write waved.conf: [waved] gets state_dir plus waved_keys; then the issues
 * file source, then more (phases, [merge]), then every repo created. */
void scenario_config(struct scenario *sc, const char *waved_keys, const char *more);
void scenario_issues(struct scenario *sc, const char *json);

/* waved --once (plus extra args), to completion. */
struct run_result scenario_once(struct scenario *sc, const char *const extra[]);
/* waved --once, which must exit 0; its events (caller frees). */
cJSON *scenario_once_ok(struct scenario *sc);
/* waved in the background with args; output goes to dir/waved.out (so does
 * the stderr of scenario_once: the daemon's log, read by the invariants). */
pid_t scenario_start(struct scenario *sc, const char *const args[]);
/* The text of the file dir/name (caller frees; "" when there is none), e.g.
 * waved.out, the output of scenario_start and the stderr of scenario_once. */
char *scenario_read(struct scenario *sc, const char *name);
/* The number a script writes into dir/name, once it is there (at most
 * timeout_s); -1 when it never is. */
long scenario_await_number(struct scenario *sc, const char *name, int timeout_s);
/* Wait for pid up to timeout_s; its exit status (128+N for signal N), or -1. */
int scenario_wait(pid_t pid, int timeout_s);

/* The events so far, as a JSON array (never NULL). */
cJSON *scenario_events(struct scenario *sc);
/* Poll the events until at least count match (name, issue: NULL = any). */
bool scenario_await(struct scenario *sc, const char *name, const char *issue, int count,
    int timeout_s);

/* Helpers over an events array: index of the first match at or after from
 * (-1 when none), and the number of matches. */
int ev_find(const cJSON *evs, const char *name, const char *issue, int from);
int ev_count(const cJSON *evs, const char *name, const char *issue);
/* And of those, the ones whose string field is value. */
int ev_count_with(const cJSON *evs, const char *name, const char *issue, const char *field,
    const char *value);
/* A numeric field of event k, or -1. */
double ev_number(const cJSON *evs, int k, const char *field);
const char *ev_string(const cJSON *evs, int k, const char *field);

/* How many lines of text are exactly line. */
int count_lines_equal(const char *text, const char *line);
/* Gone, or a zombie waiting for init to reap it: it runs no more. */
bool process_gone(pid_t pid);

/* Sleep between two looks at something that is polled. */
void nap_ms(int ms);

/* Output of git -C repo ARGS, trimmed; caller frees. */
char *scenario_git(const char *repo, const char *const args[]);
/* The git PATH finds (caller frees). */
char *scenario_real_git(void);
/* script becomes the git found first on PATH (dir/bin/git) for this test's runs. */
void scenario_git_first(struct scenario *sc, const char *script);

#endif
