/*
 * The GitHub client's one ETag cache (client.c), for every GET it sends: a
 * URL's last full answer, sent again as If-None-Match and used again on a
 * 304, which costs GitHub's rate limit nothing.  Bounded: past
 * GH_CACHE_MAX entries it starts over.
 */
#ifndef WAVED_GITHUB_ETAG_CACHE_H
#define WAVED_GITHUB_ETAG_CACHE_H

struct gh_cache;

/* A URL's last answer with an ETag. */
struct gh_cached {
	char *url, *etag, *body, *next;	/* etag NULL: never sent again (the body may be stale) */
	struct gh_cached *chain;	/* the cache's own: the next of its bucket */
};

struct gh_cache *gh_cache_new(void);
void gh_cache_free(struct gh_cache *c);
/* url's last answer, or NULL. */
const struct gh_cached *gh_cache_find(const struct gh_cache *c, const char *url);
/* A 200 for url: kept with its body and Link next when it has an ETag (etag
 * not NULL); without one, the answer kept before is no longer sent as current. */
void gh_cache_put(struct gh_cache *c, const char *url, const char *etag, const char *body,
    const char *next);

#endif
