#include "tests/lib/fakepulls.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "common/util.h"
#include "tests/lib/httpd.h"
#include "tests/lib/testlib.h"

static void
reply(int fd, int status, const char *text, const char *if_none_match)
{
	unsigned long long h = 1469598103934665603ULL;	/* FNV-1a: the ETag */
	char etag[32], *raw;

	for (const char *p = text; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	snprintf(etag, sizeof(etag), "\"%016llx\"", h);
	if (status == 200 && if_none_match && strcmp(if_none_match, etag) == 0)
		raw = xasprintf("HTTP/1.1 304 Not Modified\nETag: %s\n\n", etag);
	else
		raw = xasprintf("HTTP/1.1 %d %s\nContent-Type: application/json\nETag: %s\n\n%s",
		    status, status == 201 ? "Created" : status == 404 ? "Not Found" : "OK", etag, text);
	httpd_send_raw(fd, raw, 0);
	free(raw);
}

void
fakepulls_write(const char *dir, const char *name, const char *text)
{
	char *tmp = xasprintf(".%s.tmp", name);
	char *from = write_text(dir, tmp, text), *to = xasprintf("%s/%s", dir, name);

	rename(from, to);
	free(from);
	free(to);
	free(tmp);
}

static char *
file_or(const char *dir, const char *name, const char *fallback)
{
	char *path = xasprintf("%s/%s", dir, name), *text = read_file(path, NULL);

	free(path);
	return text ? text : xstrdup(fallback);
}

static int
count_pulls(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)) != NULL)
		n += strncmp(e->d_name, "pull-", 5) == 0;
	if (d)
		closedir(d);
	return n;
}

/* GET .../pulls?head=OWNER:REF: the open ones of that head branch. */
static void
list_pulls(int fd, const char *dir, const char *query)
{
	const char *head = query ? strstr(query, "head=") : NULL;
	char ref[256] = "";
	cJSON *arr = cJSON_CreateArray();
	char *text;

	if (head && (head = strchr(head, ':')) != NULL)
		snprintf(ref, sizeof(ref), "%.*s", (int)strcspn(head + 1, "&"), head + 1);
	for (int n = 1, last = count_pulls(dir); n <= last; n++) {
		char *name = xasprintf("pull-%d.json", n), *t = file_or(dir, name, "{}");
		cJSON *p = cJSON_Parse(t);
		const cJSON *r = cJSON_GetObjectItem(cJSON_GetObjectItem(p, "head"), "ref");
		const cJSON *state = cJSON_GetObjectItem(p, "state");

		if (cJSON_IsString(r) && strcmp(r->valuestring, ref) == 0 && cJSON_IsString(state) &&
		    strcmp(state->valuestring, "open") == 0)
			cJSON_AddItemToArray(arr, p);
		else
			cJSON_Delete(p);
		free(t);
		free(name);
	}
	text = cJSON_PrintUnformatted(arr);
	reply(fd, 200, text, NULL);
	free(text);
	cJSON_Delete(arr);
}

static void
create_pull(int fd, const char *dir, int port, const char *repo, const char *body)
{
	cJSON *in = cJSON_Parse(body), *p = cJSON_CreateObject(), *head, *base;
	int n = count_pulls(dir) + 1;
	char *url = xasprintf("http://127.0.0.1:%d/%s/pull/%d", port, repo, n), *name, *text;

	cJSON_AddNumberToObject(p, "number", n);
	cJSON_AddStringToObject(p, "html_url", url);
	cJSON_AddStringToObject(p, "state", "open");
	cJSON_AddBoolToObject(p, "merged", false);
	cJSON_AddNullToObject(p, "merge_commit_sha");
	cJSON_AddItemToObject(p, "title", cJSON_Duplicate(cJSON_GetObjectItem(in, "title"), 1));
	cJSON_AddItemToObject(p, "body", cJSON_Duplicate(cJSON_GetObjectItem(in, "body"), 1));
	head = cJSON_AddObjectToObject(p, "head");
	cJSON_AddItemToObject(head, "ref", cJSON_Duplicate(cJSON_GetObjectItem(in, "head"), 1));
	base = cJSON_AddObjectToObject(p, "base");
	cJSON_AddItemToObject(base, "ref", cJSON_Duplicate(cJSON_GetObjectItem(in, "base"), 1));
	text = cJSON_PrintUnformatted(p);
	name = xasprintf("pull-%d.json", n);
	fakepulls_write(dir, name, text);
	/* "post-delay" holds MS: the pull request exists at once, its answer comes later. */
	char *delay = file_or(dir, "post-delay", "0");
	int ms = atoi(delay);
	free(delay);
	nanosleep(&(struct timespec){ ms / 1000, (long)(ms % 1000) * 1000000L }, NULL);
	reply(fd, 201, text, NULL);
	free(name);
	free(text);
	free(url);
	cJSON_Delete(p);
	cJSON_Delete(in);
}

static void
update_pull(int fd, const char *dir, long n, const char *body)
{
	char *name = xasprintf("pull-%ld.json", n), *t = file_or(dir, name, "");
	cJSON *p = cJSON_Parse(t), *in = cJSON_Parse(body);
	const char *keys[] = { "title", "body" };
	char *text;

	if (p == NULL) {
		reply(fd, 404, "{\"message\":\"Not Found\"}", NULL);
	} else {
		for (size_t k = 0; k < 2; k++)
			if (cJSON_GetObjectItem(in, keys[k]))
				cJSON_ReplaceItemInObject(p, keys[k],
				    cJSON_Duplicate(cJSON_GetObjectItem(in, keys[k]), 1));
		text = cJSON_PrintUnformatted(p);
		fakepulls_write(dir, name, text);
		reply(fd, 200, text, NULL);
		free(text);
	}
	cJSON_Delete(p);
	cJSON_Delete(in);
	free(t);
	free(name);
}

static void
serve_file(int fd, const char *dir, const char *name, const char *fallback, const char *inm)
{
	char *text = file_or(dir, name, fallback);

	reply(fd, fallback ? 200 : text[0] ? 200 : 404, text[0] ? text :
	    "{\"message\":\"Not Found\"}", inm);
	free(text);
}

/* "rate-limit" holds seconds: the next request gets a 403 saying so, once. */
static bool
rate_limited(int fd, const char *dir)
{
	char *path = xasprintf("%s/rate-limit", dir), *text = read_file(path, NULL), *raw;

	if (text == NULL) {
		free(path);
		return false;
	}
	unlink(path);
	raw = xasprintf("HTTP/1.1 403 Forbidden\nContent-Type: application/json\nRetry-After: %d\n"
	    "X-RateLimit-Remaining: 0\n\n{\"message\":\"You have exceeded a secondary rate limit.\"}",
	    atoi(text));
	httpd_send_raw(fd, raw, 0);
	free(raw);
	free(text);
	free(path);
	return true;
}

void
fakepulls_serve(int fd, const char *dir, int port, const char *method, const char *path,
    const char *body, const char *inm)
{
	char owner[128], repo_name[128], repo[260], rest[512] = "", sha[80], *name;
	const char *query = strchr(path, '?');
	long n;

	int got = sscanf(path, "/repos/%127[^/]/%127[^/?]%511[^?]", owner, repo_name, rest);

	if (got < 2) {
		reply(fd, 404, "{\"message\":\"Not Found\"}", NULL);
		return;
	}
	snprintf(repo, sizeof(repo), "%s/%s", owner, repo_name);
	if (rate_limited(fd, dir))
		return;
	if (got == 2) {
		char *text = xasprintf("{\"full_name\":\"%s\"}", repo);	/* the preflight's */
		reply(fd, 200, text, inm);
		free(text);
	} else if (strcmp(rest, "/pulls") == 0 && strcmp(method, "GET") == 0)
		list_pulls(fd, dir, query);
	else if (strcmp(rest, "/pulls") == 0 && strcmp(method, "POST") == 0)
		create_pull(fd, dir, port, repo, body);
	else if (sscanf(rest, "/pulls/%ld", &n) == 1 && strchr(rest + 7, '/') == NULL) {
		if (strcmp(method, "PATCH") == 0)
			update_pull(fd, dir, n, body);
		else {
			name = xasprintf("pull-%ld.json", n);
			serve_file(fd, dir, name, NULL, inm);
			free(name);
		}
	} else if (sscanf(rest, "/pulls/%ld/", &n) == 1 && strstr(rest, "/reviews")) {
		name = xasprintf("reviews-%ld.json", n);
		serve_file(fd, dir, name, "[]", inm);
		free(name);
	} else if (sscanf(rest, "/pulls/%ld/", &n) == 1 && strstr(rest, "/comments")) {
		name = xasprintf("comments-%ld.json", n);
		serve_file(fd, dir, name, "[]", inm);
		free(name);
	} else if (sscanf(rest, "/commits/%79[^/]/", sha) == 1 && strstr(rest, "/check-runs"))
		serve_file(fd, dir, "check-runs.json", "{\"total_count\":0,\"check_runs\":[]}", inm);
	else if (sscanf(rest, "/commits/%79[^/]/", sha) == 1 && strstr(rest, "/status"))
		serve_file(fd, dir, "status.json", "{\"state\":\"pending\",\"statuses\":[]}", inm);
	else
		reply(fd, 404, "{\"message\":\"Not Found\"}", NULL);
}
