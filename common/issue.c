#include "common/issue.h"

#include "common/keymap.h"

#include <stdlib.h>
#include <string.h>

struct issue_spec *
issue_list_add(struct issue_list *l)
{
	grow_array((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v));
	memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
	return &l->v[l->n++];
}

void
issue_list_reserve(struct issue_list *l, size_t n)
{
	grow_array((void **)&l->v, &l->cap, n, sizeof(*l->v));
}

void
issue_spec_add_dep(struct issue_spec *s, const char *repo, long number)
{
	s->deps = xreallocarray(s->deps, s->ndeps + 1, sizeof(*s->deps));
	s->deps[s->ndeps].repo = repo_intern(repo);
	s->deps[s->ndeps].number = number;
	s->ndeps++;
}

void
issue_spec_clear(struct issue_spec *s)
{
	free(s->title);
	free(s->body);
	free(s->deps);
	memset(s, 0, sizeof(*s));
}

void
issue_list_clear(struct issue_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		issue_spec_clear(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int
issue_ref_parse(const char *text, const char *self_repo, struct issue_ref *out)
{
	char repo[REPO_NAME_MAX + 1];

	if (text[0] == '#') {
		if (!parse_positive_long(text + 1, &out->number))
			return 0;
		out->repo = repo_intern(self_repo);
		return 1;
	}
	if (!issue_key_parse(text, repo, sizeof(repo), &out->number))
		return 0;
	out->repo = repo_intern(repo);
	return 1;
}

const char *
repo_intern(const char *name)
{
	static struct keymap *index;	/* name -> position in names */
	static char **names;
	static size_t n, cap;
	long k;

	if (index == NULL)
		index = keymap_new(64);
	if ((k = keymap_get(index, name, 0)) >= 0)
		return names[k];
	grow_array((void **)&names, &cap, n + 1, sizeof(*names));
	names[n] = xstrdup(name);
	keymap_put(index, name, 0, (long)n);
	return names[n++];
}
