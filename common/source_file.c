#include "common/source_file.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "common/keymap.h"

/* A JSON number that is a whole number from 1 to INT_MAX. */
static bool
json_issue_number(const cJSON *item, long *out)
{
	double d;

	if (!cJSON_IsNumber(item))
		return false;
	d = item->valuedouble;
	if (d < 1 || d > INT_MAX || floor(d) != d)
		return false;
	*out = (long)d;
	return true;
}

/* Fill spec from one array entry; on a problem return its description. */
static char *
parse_entry(const cJSON *entry, const struct config *cfg, struct issue_spec *spec)
{
	const cJSON *repo, *number, *title, *body, *deps, *dep, *pool;
	int k = 0;

	if (!cJSON_IsObject(entry))
		return xstrdup("expected an object");
	repo = cJSON_GetObjectItemCaseSensitive(entry, "repo");
	if (!cJSON_IsString(repo))
		return xstrdup("repo: expected a string");
	if (config_repo(cfg, repo->valuestring) == NULL)
		return xasprintf("repo: \"%.*s\" is not a configured repo",
		    REPO_NAME_MAX, repo->valuestring);
	strlcpy(spec->repo, repo->valuestring, sizeof(spec->repo));
	number = cJSON_GetObjectItemCaseSensitive(entry, "number");
	if (!json_issue_number(number, &spec->number))
		return xasprintf("number: expected a whole number from 1 to %d", INT_MAX);
	title = cJSON_GetObjectItemCaseSensitive(entry, "title");
	if (!cJSON_IsString(title) || title->valuestring[0] == '\0')
		return xstrdup("title: expected a non-empty string");
	body = cJSON_GetObjectItemCaseSensitive(entry, "body");
	if (body && !cJSON_IsString(body) && !cJSON_IsNull(body))
		return xstrdup("body: expected a string");
	pool = cJSON_GetObjectItemCaseSensitive(entry, "pool");
	if (pool && !cJSON_IsNull(pool)) {
		if (!cJSON_IsString(pool) || config_pool(cfg, pool->valuestring) < 0)
			return xasprintf("pool: \"%.*s\" is not a configured [pool]", REPO_NAME_MAX,
			    cJSON_IsString(pool) ? pool->valuestring : "?");
		strlcpy(spec->pool, pool->valuestring, sizeof(spec->pool));
	}
	deps = cJSON_GetObjectItemCaseSensitive(entry, "depends_on");
	if (deps && !cJSON_IsArray(deps) && !cJSON_IsNull(deps))
		return xstrdup("depends_on: expected an array of \"#N\" or \"repo#N\"");
	cJSON_ArrayForEach(dep, deps) {
		struct issue_ref ref;

		if (!cJSON_IsString(dep) || !issue_ref_parse(dep->valuestring, spec->repo, &ref))
			return xasprintf("depends_on[%d]: expected \"#N\" or \"repo#N\"", k);
		issue_spec_add_dep(spec, ref.repo, ref.number);
		k++;
	}
	/* Text from outside: kept and shown as valid UTF-8 only. */
	spec->title = utf8_valid_dup(title->valuestring);
	spec->body = utf8_valid_dup(cJSON_IsString(body) ? body->valuestring : "");
	return NULL;
}

int
source_file_load(const char *path, const struct config *cfg,
    struct issue_list *out, struct strbuf *problems)
{
	struct keymap *seen;
	const cJSON *entry;
	cJSON *root;
	char *text;
	int index = 0;

	if ((text = read_file(path, NULL)) == NULL) {
		strbuf_addf(problems, "%s: cannot read: %s\n", path, strerror(errno));
		return -1;
	}
	root = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsArray(root)) {
		strbuf_addf(problems, "%s: expected a JSON array of issues%s\n", path,
		    root ? "" : " (the file is not valid JSON)");
		cJSON_Delete(root);
		return -1;
	}
	seen = keymap_new(cJSON_GetArraySize(root));
	cJSON_ArrayForEach(entry, root) {
		struct issue_spec *spec = issue_list_add(out);
		char *why = parse_entry(entry, cfg, spec);
		char key[ISSUE_KEY_MAX];
		long first;

		if (why == NULL) {
			issue_key(key, sizeof(key), spec->repo, spec->number);
			if ((first = keymap_get(seen, spec->repo, spec->number)) >= 0)
				why = xasprintf("%s: duplicate of entry %ld", key, first);
			else
				keymap_put(seen, spec->repo, spec->number, index);
		}
		if (why) {
			strbuf_addf(problems, "%s: entry %d: %s; skipped\n", path, index, why);
			free(why);
			issue_spec_clear(spec);
			out->n--;
		} else
			spec->created = index;
		index++;
	}
	keymap_free(seen);
	cJSON_Delete(root);
	return 0;
}
