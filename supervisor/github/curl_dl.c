/* No type-checking macros: this file defines the functions they would wrap. */
#define CURL_DISABLE_TYPECHECK 1

#include "supervisor/github/curl_dl.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "common/log.h"
#include "common/util.h"

#define LIBCURL "libcurl.so.4"

/* Every function waved calls, as dlsym finds it. */
static struct {
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	char *(*easy_escape)(CURL *, const char *, int);
	void (*free)(void *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	CURLMcode (*multi_cleanup)(CURLM *);
} fn;

static void *handle;

/* dlsym into a function pointer: POSIX guarantees the two convert. */
#define FIND(field, name) \
	(*(void **)&fn.field = dlsym(handle, name)) != NULL

bool
curl_dl_load(char **err)
{
	if (handle)
		return true;
	if ((handle = dlopen(LIBCURL, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		*err = xasprintf("the GitHub source needs %s: %s", LIBCURL, dlerror());
		return false;
	}
	if (FIND(global_init, "curl_global_init") && FIND(global_cleanup, "curl_global_cleanup") &&
	    FIND(easy_init, "curl_easy_init") && FIND(easy_setopt, "curl_easy_setopt") &&
	    FIND(easy_getinfo, "curl_easy_getinfo") && FIND(easy_cleanup, "curl_easy_cleanup") &&
	    FIND(easy_strerror, "curl_easy_strerror") && FIND(easy_escape, "curl_easy_escape") &&
	    FIND(free, "curl_free") && FIND(slist_append, "curl_slist_append") &&
	    FIND(slist_free_all, "curl_slist_free_all") && FIND(multi_init, "curl_multi_init") &&
	    FIND(multi_setopt, "curl_multi_setopt") &&
	    FIND(multi_add_handle, "curl_multi_add_handle") &&
	    FIND(multi_remove_handle, "curl_multi_remove_handle") &&
	    FIND(multi_socket_action, "curl_multi_socket_action") &&
	    FIND(multi_info_read, "curl_multi_info_read") &&
	    FIND(multi_cleanup, "curl_multi_cleanup"))
		return true;
	*err = xasprintf("%s lacks a function waved needs: %s", LIBCURL, dlerror());
	dlclose(handle);
	handle = NULL;
	return false;
}

void
curl_dl_require(void)
{
	char *err = NULL;

	if (!curl_dl_load(&err))
		fatalx("%s", err);
}

CURLcode
curl_global_init(long flags)
{
	return fn.global_init(flags);
}

void
curl_global_cleanup(void)
{
	fn.global_cleanup();
}

CURL *
curl_easy_init(void)
{
	return fn.easy_init();
}

/*
 * An option's number says the type of its one argument (curl.h's
 * CURLOPTTYPE_ ranges): long, object pointer, function pointer, curl_off_t
 * or blob pointer; it is passed on as that type.  Only the branch taken
 * reads the argument.
 */
#define PASS_ON(fn, handle, option, ap)						\
	((option) < CURLOPTTYPE_OBJECTPOINT ? fn(handle, option, va_arg(ap, long)) :	\
	 (option) < CURLOPTTYPE_FUNCTIONPOINT ? fn(handle, option, va_arg(ap, void *)) :	\
	 (option) < CURLOPTTYPE_OFF_T ? fn(handle, option, va_arg(ap, void (*)(void))) :	\
	 (option) < CURLOPTTYPE_BLOB ? fn(handle, option, va_arg(ap, curl_off_t)) :	\
	 fn(handle, option, va_arg(ap, void *)))

CURLcode
curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
	va_list ap;
	CURLcode rc;

	va_start(ap, option);
	rc = PASS_ON(fn.easy_setopt, curl, option, ap);
	va_end(ap);
	return rc;
}

/* Every CURLINFO takes a pointer to where the answer goes. */
CURLcode
curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
	va_list ap;
	CURLcode rc;

	va_start(ap, info);
	rc = fn.easy_getinfo(curl, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

void
curl_easy_cleanup(CURL *curl)
{
	fn.easy_cleanup(curl);
}

const char *
curl_easy_strerror(CURLcode code)
{
	return fn.easy_strerror(code);
}

char *
curl_easy_escape(CURL *curl, const char *string, int length)
{
	curl_dl_require();	/* the one call that may come before any handle */
	return fn.easy_escape(curl, string, length);
}

void
curl_free(void *p)
{
	fn.free(p);
}

struct curl_slist *
curl_slist_append(struct curl_slist *list, const char *string)
{
	return fn.slist_append(list, string);
}

void
curl_slist_free_all(struct curl_slist *list)
{
	fn.slist_free_all(list);
}

CURLM *
curl_multi_init(void)
{
	return fn.multi_init();
}

/* As curl_easy_setopt: the option's range gives its argument's type. */
CURLMcode
curl_multi_setopt(CURLM *multi, CURLMoption option, ...)
{
	va_list ap;
	CURLMcode rc;

	va_start(ap, option);
	rc = PASS_ON(fn.multi_setopt, multi, option, ap);
	va_end(ap);
	return rc;
}

CURLMcode
curl_multi_add_handle(CURLM *multi, CURL *curl)
{
	return fn.multi_add_handle(multi, curl);
}

CURLMcode
curl_multi_remove_handle(CURLM *multi, CURL *curl)
{
	return fn.multi_remove_handle(multi, curl);
}

CURLMcode
curl_multi_socket_action(CURLM *multi, curl_socket_t s, int ev_bitmask, int *running)
{
	return fn.multi_socket_action(multi, s, ev_bitmask, running);
}

CURLMsg *
curl_multi_info_read(CURLM *multi, int *msgs_in_queue)
{
	return fn.multi_info_read(multi, msgs_in_queue);
}

CURLMcode
curl_multi_cleanup(CURLM *multi)
{
	return fn.multi_cleanup(multi);
}
