#include "common/source_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "common/keymap.h"
#include "common/log.h"

/*
 * cJSON's allocations while one text is parsed and walked: bumped out of
 * big mappings and given back together.  A tree is a dozen small objects
 * and strings an issue, each its own malloc: with 10,000 issues, malloc and
 * the page faults of a heap growing by small steps were half of wavectl
 * plan's time.  The mappings ask for transparent huge pages, and go back to
 * the system at once (the supervisor's heap keeps nothing of a big load).
 * Only the tree is allocated here: what an issue keeps is copied out of it
 * with xmalloc before the tree goes.
 */
#define PARSE_CHUNK (4u << 20)

struct parse_chunk {
	struct parse_chunk *next;
	size_t size, used;
};

static struct parse_chunk *parse_chunks;

static void *
parse_alloc(size_t n)
{
	struct parse_chunk *c = parse_chunks;
	size_t header = (sizeof(*c) + 15) & ~(size_t)15;
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (c == NULL || c->size - c->used < n) {
		size_t size = n + header > PARSE_CHUNK ? n + header : PARSE_CHUNK;

		if ((p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		    0)) == MAP_FAILED)
			fatal("parse: mmap %zu bytes", size);
		madvise(p, size, MADV_HUGEPAGE);
		c = p;
		*c = (struct parse_chunk){ parse_chunks, size, header };
		parse_chunks = c;
	}
	p = (char *)c + c->used;
	c->used += n;
	return p;
}

static void
parse_free(void *p)
{
	(void)p;	/* all at once, in parse_release */
}

static void
parse_release(void)
{
	while (parse_chunks) {
		struct parse_chunk *next = parse_chunks->next;

		munmap(parse_chunks, parse_chunks->size);
		parse_chunks = next;
	}
}

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

/* A whole number that a double holds exactly: the exact form's "created". */
static bool
json_whole(const cJSON *item, int64_t *out)
{
	double d;

	if (!cJSON_IsNumber(item))
		return false;
	d = item->valuedouble;
	if (d < -9007199254740992.0 || d > 9007199254740992.0 || floor(d) != d)
		return false;
	*out = (int64_t)d;
	return true;
}

/*
 * The exact form's other dependency: "owner/name#N", an issue of a GitHub
 * repo waved does not manage (the GitHub source keeps it by that name).
 */
static bool
github_ref_parse(const char *text, struct issue_ref *out)
{
	const char *hash = strrchr(text, '#');
	char owner_name[160];

	if (hash == NULL || (size_t)(hash - text) >= sizeof(owner_name))
		return false;
	memcpy(owner_name, text, (size_t)(hash - text));
	owner_name[hash - text] = '\0';
	if (!github_owner_name_valid(owner_name) || !parse_positive_long(hash + 1, &out->number) ||
	    out->number > INT_MAX)
		return false;
	out->repo = repo_intern(owner_name);
	return true;
}

/* Fill spec from one array entry; on a problem return its description. */
static char *
parse_entry(const cJSON *entry, const struct config *cfg, bool exact, struct issue_spec *spec)
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
	/* Their number is known: one allocation, not one a dependency. */
	if (cJSON_IsArray(deps) && cJSON_GetArraySize(deps) > 0)
		spec->deps = xreallocarray(NULL, (size_t)cJSON_GetArraySize(deps),
		    sizeof(*spec->deps));
	cJSON_ArrayForEach(dep, deps) {
		struct issue_ref ref;

		if (!cJSON_IsString(dep) || (!issue_ref_parse(dep->valuestring, spec->repo, &ref) &&
		    !(exact && github_ref_parse(dep->valuestring, &ref))))
			return xasprintf("depends_on[%d]: expected \"#N\" or \"repo#N\"%s", k,
			    exact ? " or \"owner/name#N\"" : "");
		spec->deps[spec->ndeps++] = ref;
		k++;
	}
	if (exact && !json_whole(cJSON_GetObjectItemCaseSensitive(entry, "created"), &spec->created))
		return xstrdup("created: expected a whole number");
	/* Text from outside: kept and shown as valid UTF-8 only. */
	spec->title = utf8_valid_dup(title->valuestring);
	spec->body = utf8_valid_dup(cJSON_IsString(body) ? body->valuestring : "");
	return NULL;
}

/*
 * Why text is not JSON, with its line.  cJSON says only where it stopped;
 * when that is the text's last character, the text was most likely cut
 * short (half an array from a command that died), and the message says so.
 */
static void
json_problem(const char *text, size_t len, const char *name, struct strbuf *problems)
{
	const char *at = cJSON_GetErrorPtr(), *end = text + len, *p;
	char near[24];
	int line = 1;
	size_t k = 0;

	while (end > text && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' ||
	    end[-1] == '\n'))
		end--;
	if (at == NULL || at < text || at > end)
		at = end;
	if (at == end && at > text)
		at--;
	for (p = text; p < at; p++)
		line += *p == '\n';
	/* Text from outside, shown in a log: printable ASCII only. */
	for (; k < sizeof(near) - 1 && at + k < end && at[k] != '\n'; k++)
		near[k] = at[k] >= 0x20 && at[k] < 0x7f ? at[k] : '?';
	near[k] = '\0';
	if (len == 0 || end == text)
		strbuf_addf(problems, "%s: not valid JSON: no text at all\n", name);
	else
		strbuf_addf(problems, "%s: not valid JSON at line %d, near \"%s\"%s\n", name, line,
		    near, at + 1 >= end ? " where the text ends (cut short?)" : "");
}

/* The file form, or (exact) the form waved --source-issues prints. */
static int
parse_list(const char *text, size_t len, const char *name, const struct config *cfg,
    bool exact, struct issue_list *out, struct strbuf *problems)
{
	cJSON_Hooks arena = { parse_alloc, parse_free };
	struct keymap *seen;
	const cJSON *entry;
	cJSON *root;
	int index = 0, rc = 0;

	cJSON_InitHooks(&arena);
	root = cJSON_ParseWithLengthOpts(text, len, NULL, false);
	cJSON_InitHooks(NULL);
	if (root == NULL) {
		parse_release();
		json_problem(text, len, name, problems);
		return -1;
	}
	if (!cJSON_IsArray(root)) {
		strbuf_addf(problems, "%s: expected a JSON array of issues\n", name);
		parse_release();
		return -1;
	}
	seen = keymap_new(cJSON_GetArraySize(root));
	issue_list_reserve(out, out->n + (size_t)cJSON_GetArraySize(root));
	cJSON_ArrayForEach(entry, root) {
		struct issue_spec *spec = issue_list_add(out);
		char *why = parse_entry(entry, cfg, exact, spec);
		char key[ISSUE_KEY_MAX];
		long first;

		/* The exact form keeps a repeat: it is what the source said. */
		if (why == NULL && !exact) {
			issue_key(key, sizeof(key), spec->repo, spec->number);
			if ((first = keymap_get(seen, spec->repo, spec->number)) >= 0)
				why = xasprintf("%s: duplicate of entry %ld", key, first);
			else
				keymap_put(seen, spec->repo, spec->number, index);
		}
		if (why) {
			strbuf_addf(problems, "%s: entry %d: %s%s\n", name, index, why,
			    exact ? "" : "; skipped");
			free(why);
			issue_spec_clear(spec);
			out->n--;
			if (exact) {
				rc = -1;
				break;
			}
		} else if (!exact)
			spec->created = index;
		index++;
	}
	if (rc == -1)
		issue_list_clear(out);
	keymap_free(seen);
	parse_release();	/* the tree, whole: cJSON_Delete would free each node to nothing */
	return rc;
}

int
source_file_parse(const char *text, size_t len, const char *name,
    const struct config *cfg, struct issue_list *out, struct strbuf *problems)
{
	return parse_list(text, len, name, cfg, false, out, problems);
}

int
source_file_parse_exact(const char *text, size_t len, const char *name,
    const struct config *cfg, struct issue_list *out, struct strbuf *problems)
{
	return parse_list(text, len, name, cfg, true, out, problems);
}

char *
source_file_format_exact(const struct issue_list *l)
{
	struct strbuf b = { 0 };
	char key[256];

	strbuf_add(&b, "[");
	for (size_t i = 0; i < l->n; i++) {
		const struct issue_spec *s = &l->v[i];
		cJSON *o = cJSON_CreateObject(), *deps;
		char *text;

		cJSON_AddStringToObject(o, "repo", s->repo);
		cJSON_AddNumberToObject(o, "number", (double)s->number);
		cJSON_AddStringToObject(o, "title", s->title ? s->title : "");
		cJSON_AddStringToObject(o, "body", s->body ? s->body : "");
		deps = cJSON_AddArrayToObject(o, "depends_on");
		for (size_t k = 0; k < s->ndeps; k++) {
			snprintf(key, sizeof(key), "%s#%ld", s->deps[k].repo, s->deps[k].number);
			cJSON_AddItemToArray(deps, cJSON_CreateString(key));
		}
		if (s->pool[0])
			cJSON_AddStringToObject(o, "pool", s->pool);
		cJSON_AddNumberToObject(o, "created", (double)s->created);
		text = cJSON_PrintUnformatted(o);
		strbuf_addf(&b, "%s\n%s", i ? "," : "", text);
		free(text);
		cJSON_Delete(o);
	}
	strbuf_add(&b, "\n]\n");
	return strbuf_take(&b);
}

/* A regular file's text mapped whole (no copy), or NULL: read it instead. */
static char *
map_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	void *p = MAP_FAILED;

	if (fd == -1)
		return NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uintmax_t)st.st_size < SIZE_MAX) {
		*len = (size_t)st.st_size;
		p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	}
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

int
source_file_load(const char *path, const struct config *cfg,
    struct issue_list *out, struct strbuf *problems)
{
	size_t len;
	char *text;
	int rc;

	/* Mapped, the file may change under the parse (a source rewritten in
	 * place): what is read is then as torn as a read(2) would have been,
	 * and the next poll reads it again. */
	if ((text = map_file(path, &len)) != NULL) {
		rc = source_file_parse(text, len, path, cfg, out, problems);
		munmap(text, len);
		return rc;
	}
	if ((text = read_file(path, &len)) == NULL) {
		strbuf_addf(problems, "%s: cannot read: %s\n", path, strerror(errno));
		return -1;
	}
	rc = source_file_parse(text, len, path, cfg, out, problems);
	free(text);
	return rc;
}
