#include "common/issue.h"

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
issue_spec_add_dep(struct issue_spec *s, const char *repo, long number)
{
	s->deps = xreallocarray(s->deps, s->ndeps + 1, sizeof(*s->deps));
	strlcpy(s->deps[s->ndeps].repo, repo, sizeof(s->deps[s->ndeps].repo));
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
	if (text[0] == '#') {
		if (!parse_positive_long(text + 1, &out->number))
			return 0;
		strlcpy(out->repo, self_repo, sizeof(out->repo));
		return 1;
	}
	return issue_key_parse(text, out->repo, sizeof(out->repo), &out->number);
}
