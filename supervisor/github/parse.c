#include "supervisor/github/parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "supervisor/github/client.h"
#include "common/util.h"

/* url starts with api and then a path: the same scheme, host and port. */
static bool
same_origin(const char *api, const char *url)
{
	size_t n = strlen(api);

	return strncmp(url, api, n) == 0 && (url[n] == '/' || url[n] == '?' || url[n] == '\0');
}

/* <https://...page=2>; rel="next", <...>; rel="last" */
char *
gh_link_next(const char *value, const char *api, bool *foreign)
{
	const char *p = value;

	*foreign = false;
	while ((p = strchr(p, '<')) != NULL) {
		const char *end = strchr(p, '>');
		char *url;

		if (end == NULL)
			return NULL;
		if (strncmp(end, ">; rel=\"next\"", 13) != 0) {
			p = end;
			continue;
		}
		url = strndup(p + 1, (size_t)(end - p - 1));
		if (same_origin(api, url))
			return url;
		*foreign = true;
		free(url);
		return NULL;
	}
	return NULL;
}

/* One reference: #N, owner/name#N, or an issue URL .../owner/name/issues/N. */
static const char *
parse_ref(const char *p, gh_dep_fn *fn, void *arg)
{
	char owner_name[128];
	long number;
	int used = 0;

	if (*p == '#' && sscanf(p, "#%ld%n", &number, &used) == 1) {
		fn(NULL, number, arg);
		return p + used;
	}
	if (strncmp(p, "http://", 7) == 0 || strncmp(p, "https://", 8) == 0) {
		const char *path = strchr(strstr(p, "://") + 3, '/');
		char owner[64], name[64];

		if (path && sscanf(path, "/%63[^/]/%63[^/]/issues/%ld%n", owner, name, &number,
		    &used) == 3) {
			snprintf(owner_name, sizeof(owner_name), "%s/%s", owner, name);
			fn(owner_name, number, arg);
			return path + used;
		}
		return p + 1;
	}
	if (sscanf(p, "%127[A-Za-z0-9._/-]#%ld%n", owner_name, &number, &used) == 2 &&
	    strchr(owner_name, '/')) {
		fn(owner_name, number, arg);
		return p + used;
	}
	return p + 1;
}

void
gh_body_deps(const char *body, gh_dep_fn *fn, void *arg)
{
	static const char *const lead[] = { "depends on", "blocked by", "requires" };
	bool fenced = false;

	for (const char *line = body; line && *line; ) {
		const char *end = strchr(line, '\n'), *p = line + strspn(line, " \t>");
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char *text = strndup(line, len);

		if (strncmp(p, "```", 3) == 0 || strncmp(p, "~~~", 3) == 0)
			fenced = !fenced;
		else if (!fenced) {
			for (size_t k = 0; k < ARRAY_LEN(lead); k++) {
				size_t n = strlen(lead[k]);

				if ((size_t)(p - line) + n > len || strncasecmp(p, lead[k], n) != 0)
					continue;
				for (const char *q = text + (p - line) + n; *q; )
					q = parse_ref(q, fn, arg);
			}
		}
		free(text);
		line = end ? end + 1 : NULL;
	}
}

static int64_t
parse_created(const char *ts)
{
	struct tm tm = { 0 };

	if (ts == NULL || sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

int
gh_listed_issue(const cJSON *item, const char *repo, struct issue_list *into)
{
	const char *title = cJSON_GetStringValue(cJSON_GetObjectItem(item, "title"));
	const char *body = cJSON_GetStringValue(cJSON_GetObjectItem(item, "body"));
	struct issue_spec *spec;

	if (cJSON_GetObjectItem(item, "pull_request"))
		return 0;
	if (github_number(item, "number") == 0 || title == NULL || *title == '\0')
		return -1;
	spec = issue_list_add(into);
	strlcpy(spec->repo, repo, sizeof(spec->repo));
	spec->number = github_number(item, "number");
	spec->title = utf8_valid_dup(title);	/* outside text: valid UTF-8 only */
	spec->body = utf8_valid_dup(body ? body : "");
	spec->created = parse_created(cJSON_GetStringValue(cJSON_GetObjectItem(item, "created_at")));
	return 1;
}

bool
gh_comments_have(const char *page, const char *marker)
{
	cJSON *arr = cJSON_Parse(page);
	const cJSON *item;
	bool found = false;

	cJSON_ArrayForEach(item, arr) {
		const char *b = cJSON_GetStringValue(cJSON_GetObjectItem(item, "body"));

		found = found || (b && strstr(b, marker));
	}
	cJSON_Delete(arr);
	return found;
}
