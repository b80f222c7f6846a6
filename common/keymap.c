#include "common/keymap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

struct slot {
	uint64_t hash;
	size_t name;		/* offset into names; SIZE_MAX when empty */
	long number;
	long value;
};

struct keymap {
	struct slot *slots;
	size_t nslots;		/* a power of two */
	size_t count;
	char *names;		/* NUL-separated repo names */
	size_t names_len, names_cap;
};

/* FNV-1a over the repo name, mixed with the number. */
static uint64_t
key_hash(const char *repo, long number)
{
	uint64_t h = 1469598103934665603ULL;

	for (const unsigned char *p = (const unsigned char *)repo; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	h ^= (uint64_t)number * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 29);
}

static void
slots_alloc(struct keymap *m, size_t n)
{
	m->slots = xreallocarray(NULL, n, sizeof(*m->slots));
	for (size_t i = 0; i < n; i++)
		m->slots[i].name = SIZE_MAX;
	m->nslots = n;
}

struct keymap *
keymap_new(size_t expected)
{
	struct keymap *m = xcalloc(1, sizeof(*m));
	size_t n = 16;

	while (n < expected * 2)
		n *= 2;
	slots_alloc(m, n);
	return m;
}

void
keymap_free(struct keymap *m)
{
	if (m == NULL)
		return;
	free(m->slots);
	free(m->names);
	free(m);
}

static struct slot *
keymap_find(const struct keymap *m, uint64_t h, const char *repo, long number)
{
	size_t mask = m->nslots - 1;

	for (size_t i = h & mask; ; i = (i + 1) & mask) {
		struct slot *s = &m->slots[i];

		if (s->name == SIZE_MAX)
			return s;
		if (s->hash == h && s->number == number && strcmp(m->names + s->name, repo) == 0)
			return s;
	}
}

static void
keymap_grow(struct keymap *m)
{
	struct slot *old = m->slots;
	size_t n = m->nslots;

	slots_alloc(m, n * 2);
	for (size_t i = 0; i < n; i++)
		if (old[i].name != SIZE_MAX)
			*keymap_find(m, old[i].hash, m->names + old[i].name, old[i].number) = old[i];
	free(old);
}

void
keymap_put(struct keymap *m, const char *repo, long number, long value)
{
	uint64_t h = key_hash(repo, number);
	struct slot *s;
	size_t len;

	if ((m->count + 1) * 2 > m->nslots)
		keymap_grow(m);
	s = keymap_find(m, h, repo, number);
	if (s->name == SIZE_MAX) {
		len = strlen(repo) + 1;
		grow_array((void **)&m->names, &m->names_cap, m->names_len + len, 1);
		memcpy(m->names + m->names_len, repo, len);
		*s = (struct slot){ h, m->names_len, number, value };
		m->names_len += len;
		m->count++;
	}
	s->value = value;
}

long
keymap_get(const struct keymap *m, const char *repo, long number)
{
	struct slot *s = keymap_find(m, key_hash(repo, number), repo, number);

	return s->name == SIZE_MAX ? -1 : s->value;
}
