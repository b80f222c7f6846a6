/*
 * wavectl plan: the waves, from the config and the source, timed by the
 * repos' and pools' expected times when waved's database has them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "ctl/ctl.h"
#include "common/plan.h"
#include "common/store.h"

static void
key_of(const struct issue_spec *s, char *buf, size_t size)
{
	issue_key(buf, size, s->repo, s->number);
}

/*
 * Each issue's expected time, as waved computes it, from its database when
 * there is one it can read (no database, or one of another version: the
 * count rule, as before waved ran).  Caller frees.
 */
static int64_t *
expected_times(const struct config *cfg, const struct issue_list *l)
{
	char *path = xasprintf("%s/%s", cfg->state_dir, STORE_FILE), *err = NULL;
	int64_t *repo_ms = xcalloc(cfg->nrepos + 1, sizeof(int64_t));
	int64_t *pool_ms = xcalloc(cfg->npools + 1, sizeof(int64_t));
	int64_t *expected = xcalloc(l->n + 1, sizeof(int64_t));
	struct store *store = NULL;
	struct stat sb;

	if (stat(path, &sb) == 0 && (store = store_open(path, STORE_READONLY, &err)) == NULL)
		free(err);
	if (store) {
		store_durations_of(store, cfg, repo_ms, pool_ms);
		store_close(store);
	}
	for (size_t k = 0; k < l->n; k++) {
		const struct repo_conf *repo = config_repo(cfg, l->v[k].repo);
		const char *pool_name = l->v[k].pool[0] ? l->v[k].pool : repo ? repo->pool : NULL;
		long pool = pool_name ? config_pool(cfg, pool_name) : -1;

		expected[k] = plan_expected_ms(repo ? repo_ms[repo - cfg->repos] : 0,
		    pool >= 0 ? pool_ms[pool] : 0);
	}
	free(repo_ms);
	free(pool_ms);
	free(path);
	return expected;
}

static void
print_plan_json(const struct plan *p, const struct issue_list *l)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *waves = cJSON_AddArrayToObject(root, "waves");
	cJSON *expected = cJSON_AddArrayToObject(root, "expected_ms");
	cJSON *blocked = cJSON_AddArrayToObject(root, "blocked");
	char key[ISSUE_KEY_MAX];
	char *text;

	for (size_t k = 0; k < plan_wave_count(p); k++) {
		size_t n;
		const size_t *w = plan_wave(p, k, &n);
		cJSON *wave = cJSON_CreateArray();

		for (size_t i = 0; i < n; i++) {
			key_of(&l->v[w[i]], key, sizeof(key));
			cJSON_AddItemToArray(wave, cJSON_CreateString(key));
		}
		cJSON_AddItemToArray(waves, wave);
		cJSON_AddItemToArray(expected, plan_is_timed(p) ?
		    cJSON_CreateNumber((double)plan_wave_expected(p, k)) : cJSON_CreateNull());
	}
	for (size_t k = 0; k < plan_blocked_count(p); k++) {
		cJSON *b = cJSON_CreateObject();

		key_of(&l->v[plan_blocked_issue(p, k)], key, sizeof(key));
		cJSON_AddStringToObject(b, "issue", key);
		cJSON_AddStringToObject(b, "reason", plan_blocked_reason(p, k));
		cJSON_AddItemToArray(blocked, b);
	}
	text = cJSON_PrintUnformatted(root);
	puts(text);
	free(text);
	cJSON_Delete(root);
}

/* "#3 web#5" for the DEPENDS ON column: same-repo deps in the short form. */
static void
print_deps(const struct issue_spec *s)
{
	int width = 0;

	for (size_t k = 0; k < s->ndeps; k++) {
		if (strcmp(s->deps[k].repo, s->repo) == 0)
			width += printf("%s#%ld", k ? " " : "", s->deps[k].number);
		else
			width += printf("%s%s#%ld", k ? " " : "", s->deps[k].repo, s->deps[k].number);
	}
	if (s->ndeps == 0)
		width += printf("-");
	printf("%*s", width < 14 ? 14 - width : 1, "");
}

static void
print_plan_table(const struct plan *p, const struct issue_list *l, size_t nrepos)
{
	char key[ISSUE_KEY_MAX];
	size_t planned = 0;

	if (plan_wave_count(p) > 0)
		printf("%-5s %-16s %-12s %*s  %-14s%s\n", "WAVE", "ISSUE", "REPO",
		    plan_is_timed(p) ? 7 : 4, "PRIO", "DEPENDS ON", "TITLE");
	for (size_t k = 0; k < plan_wave_count(p); k++) {
		size_t n;
		const size_t *w = plan_wave(p, k, &n);

		for (size_t i = 0; i < n; i++) {
			const struct issue_spec *s = &l->v[w[i]];

			key_of(s, key, sizeof(key));
			if (plan_is_timed(p)) {
				char prio[32];

				format_age(plan_priority(p, w[i]), prio, sizeof(prio));
				printf("%-5zu %-16s %-12s %7s  ", k + 1, key, s->repo, prio);
			} else
				printf("%-5zu %-16s %-12s %4ld  ", k + 1, key, s->repo,
				    plan_priority(p, w[i]));
			print_deps(s);
			print_text(stdout, s->title, 60);
			putchar('\n');
		}
		planned += n;
	}
	/* A wave takes its longest repo's time: a repo runs its issues in turn. */
	if (plan_is_timed(p) && plan_wave_count(p) > 0) {
		printf("\n%-5s %s\n", "WAVE", "EXPECTED");
		for (size_t k = 0; k < plan_wave_count(p); k++) {
			char t[32];

			format_age(plan_wave_expected(p, k), t, sizeof(t));
			printf("%-5zu %s\n", k + 1, t);
		}
	}
	if (plan_blocked_count(p) > 0) {
		printf("%s%-16s %s\n", planned ? "\n" : "", "BLOCKED", "REASON");
		for (size_t k = 0; k < plan_blocked_count(p); k++) {
			key_of(&l->v[plan_blocked_issue(p, k)], key, sizeof(key));
			printf("%-16s %s\n", key, plan_blocked_reason(p, k));
		}
	}
	printf("%s%zu issue%s in %zu wave%s across %zu repo%s; %zu blocked\n",
	    planned || plan_blocked_count(p) ? "\n" : "",
	    planned, planned == 1 ? "" : "s", plan_wave_count(p),
	    plan_wave_count(p) == 1 ? "" : "s", nrepos, nrepos == 1 ? "" : "s",
	    plan_blocked_count(p));
}

int
cmd_plan(const char *config_path, int argc, char **argv)
{
	struct issue_list issues = { 0 };
	struct config *cfg;
	struct plan *p;
	int64_t *expected;
	bool json = false;
	int rc;

	if (ctl_json_flag(argc, argv, "plan", &json) == -1)
		return CTL_BAD_INPUT;
	if ((cfg = ctl_load_config(config_path)) == NULL)
		return CTL_BAD_INPUT;
	if (ctl_load_issues(cfg, &issues) == -1) {
		config_free(cfg);
		return CTL_BAD_INPUT;
	}
	expected = expected_times(cfg, &issues);
	p = plan_build_timed(&issues, expected, NULL, NULL, NULL);
	if (json)
		print_plan_json(p, &issues);
	else
		print_plan_table(p, &issues, cfg->nrepos);
	rc = plan_blocked_count(p) > 0 ? CTL_ATTENTION : CTL_OK;
	plan_free(p);
	free(expected);
	issue_list_clear(&issues);
	config_free(cfg);
	return rc;
}
