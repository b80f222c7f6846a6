/*
 * Helpers shared by the test suites: temporary folders, files, running the
 * real binaries and git, and reading JSON they print.
 */
#ifndef WAVED_TESTLIB_H
#define WAVED_TESTLIB_H

#include <stdbool.h>
#include <stdint.h>

#include <cJSON.h>

struct run_result {
	int status;		/* exit status, or 128+signal */
	char *out;		/* stdout */
	char *err;		/* stderr */
};

/* A Criterion suite whose every test gets a fresh temporary folder in dir. */
#define TMPDIR_SUITE(name)							\
	static char *dir;							\
	static void name##_setup(void) { dir = tmpdir_new(); }			\
	static void name##_teardown(void) { tmpdir_remove(dir); }		\
	TestSuite(name, .init = name##_setup, .fini = name##_teardown)

/* A fresh folder under $TMPDIR, removed by tmpdir_remove. */
char *tmpdir_new(void);
void tmpdir_remove(char *dir);

/* Write text to dir/name (creating folders); returns the full path (free it). */
char *write_text(const char *dir, const char *name, const char *text);

/* Run argv (NULL-terminated) in cwd (may be NULL), capturing its output. */
struct run_result run_argv(const char *cwd, const char *const argv[]);
void run_result_free(struct run_result *r);

/* Path of a built binary ("waved", "wavectl"), from $WAVED_BUILD. */
char *built_binary(const char *name);

/* git init a repository at path with one commit on main. */
void git_repo_new(const char *path);

/* Parse JSON or fail the test. */
cJSON *json_parse_or_fail(const char *text);

/* What the store under state_dir says the last attempts of scope ("repo" or
 * "pool") name took: ms, as waved would have noted it (the database made if
 * need be). */
void store_history_seed(const char *state_dir, const char *scope, const char *name, int64_t ms);

#endif
