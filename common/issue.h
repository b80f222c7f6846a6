/*
 * An issue as a source describes it: key, text and dependencies.  The
 * supervisor's view (state, attempts) lives in the store.
 */
#ifndef WAVED_ISSUE_H
#define WAVED_ISSUE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

/*
 * A reference to another issue: same repo ("#3") or another ("web#5", or
 * "owner/name" for a GitHub repo waved does not manage).  The repo name is
 * interned: shared, never freed, so references copy as plain values.
 */
struct issue_ref {
	const char *repo;
	long number;
};

/* The one shared copy of a repo name (process lifetime). */
const char *repo_intern(const char *name);

struct issue_spec {
	char repo[REPO_NAME_MAX + 1];
	long number;
	char *title;		/* untrusted text */
	char *body;		/* untrusted text */
	struct issue_ref *deps;
	size_t ndeps;
	int64_t created;	/* for "oldest first": seconds, or the source's order */
	char pool[REPO_NAME_MAX + 1];	/* its own [pool], "" for its repo's */
};

struct issue_list {
	struct issue_spec *v;
	size_t n, cap;
};

/* Appends a zeroed spec and returns it. */
struct issue_spec *issue_list_add(struct issue_list *l);
/* Room for n specs, so that adding up to n moves none. */
void issue_list_reserve(struct issue_list *l, size_t n);
void issue_spec_add_dep(struct issue_spec *s, const char *repo, long number);
void issue_spec_clear(struct issue_spec *s);
void issue_list_clear(struct issue_list *l);

/*
 * Parse a dependency written "#N" (same repo as self_repo) or "repo#N".
 * Returns false when the text is of neither form.
 */
int issue_ref_parse(const char *text, const char *self_repo, struct issue_ref *out);

#endif
