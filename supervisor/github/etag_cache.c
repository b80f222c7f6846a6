#include "supervisor/github/etag_cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define GH_CACHE_MAX 16384		/* ETag cache entries; past it the cache starts over */
#define GH_CACHE_BUCKETS 4096

struct gh_cache {
	struct gh_cached *bucket[GH_CACHE_BUCKETS];
	size_t n;
};

struct gh_cache *
gh_cache_new(void)
{
	return xcalloc(1, sizeof(struct gh_cache));
}

static size_t
cache_bucket(const char *url)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)url; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % GH_CACHE_BUCKETS;
}

static struct gh_cached *
cache_find(const struct gh_cache *c, const char *url)
{
	for (struct gh_cached *e = c->bucket[cache_bucket(url)]; e; e = e->chain)
		if (strcmp(e->url, url) == 0)
			return e;
	return NULL;
}

const struct gh_cached *
gh_cache_find(const struct gh_cache *c, const char *url)
{
	return cache_find(c, url);
}

static void
cache_clear(struct gh_cache *c)
{
	for (size_t b = 0; b < GH_CACHE_BUCKETS; b++)
		while (c->bucket[b]) {
			struct gh_cached *e = c->bucket[b];

			c->bucket[b] = e->chain;
			free(e->url);
			free(e->etag);
			free(e->body);
			free(e->next);
			free(e);
		}
	c->n = 0;
}

void
gh_cache_free(struct gh_cache *c)
{
	if (c == NULL)
		return;
	cache_clear(c);
	free(c);
}

/* A bounded cache starts over when full (a round of full answers, rarely:
 * it holds every URL a poll asks for). */
void
gh_cache_put(struct gh_cache *c, const char *url, const char *etag, const char *body,
    const char *next)
{
	struct gh_cached *e = cache_find(c, url);

	if (etag == NULL) {
		if (e) {
			free(e->etag);
			e->etag = NULL;	/* never sent again: the body may be stale */
		}
		return;
	}
	if (e == NULL) {
		size_t b = cache_bucket(url);

		if (c->n >= GH_CACHE_MAX)
			cache_clear(c);
		e = xcalloc(1, sizeof(*e));
		e->url = xstrdup(url);
		e->chain = c->bucket[b];
		c->bucket[b] = e;
		c->n++;
	}
	free(e->etag);
	free(e->body);
	free(e->next);
	e->etag = xstrdup(etag);
	e->body = xstrdup(body ? body : "");
	e->next = next ? xstrdup(next) : NULL;
}
