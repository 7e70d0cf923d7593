// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdlib.h>

#include "hmap.h"

uint64_t hmap_hash_u64(uint64_t v)
{
	/* splitmix64's finaliser */
	v ^= v >> 30;
	v *= 0xbf58476d1ce4e5b9ULL;
	v ^= v >> 27;
	v *= 0x94d049bb133111ebULL;
	return v ^ (v >> 31);
}

uint64_t hmap_hash(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return hmap_hash_u64(h);
}

void *hmap_get(const struct hmap *m, uint64_t hash, const void *key, hmap_match match)
{
	size_t mask = m->cap - 1;

	if (!m->cap)
		return NULL;
	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		const struct hmap_slot *s = &m->slots[i];

		if (!s->item)
			return NULL;
		if (s->hash == hash && match(s->item, key))
			return s->item;
	}
}

static void insert(struct hmap_slot *slots, size_t cap, uint64_t hash, void *item)
{
	size_t mask = cap - 1, i = hash & mask;

	while (slots[i].item)
		i = (i + 1) & mask;
	slots[i].hash = hash;
	slots[i].item = item;
}

static int grow(struct hmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 64;
	struct hmap_slot *ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].item)
			insert(ns, ncap, m->slots[i].hash, m->slots[i].item);
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

int hmap_put(struct hmap *m, uint64_t hash, void *item)
{
	if ((m->count + 1) * 2 > m->cap && grow(m))
		return -ENOMEM;
	insert(m->slots, m->cap, hash, item);
	m->count++;
	return 0;
}

void *hmap_del(struct hmap *m, uint64_t hash, const void *key, hmap_match match)
{
	size_t mask = m->cap - 1, i, j;
	void *item;

	if (!m->cap)
		return NULL;
	for (i = hash & mask;; i = (i + 1) & mask) {
		if (!m->slots[i].item)
			return NULL;
		if (m->slots[i].hash == hash && match(m->slots[i].item, key))
			break;
	}
	item = m->slots[i].item;
	/* Backward shift: pull every later member of the run that may live at i into i. */
	for (j = (i + 1) & mask; m->slots[j].item; j = (j + 1) & mask) {
		size_t home = m->slots[j].hash & mask;

		/* j's item may move to i when its home is not within (i, j] (cyclically). */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].item = NULL;
	m->slots[i].hash = 0;
	m->count--;
	return item;
}

void *hmap_next(const struct hmap *m, size_t *iter)
{
	while (*iter < m->cap) {
		void *item = m->slots[(*iter)++].item;

		if (item)
			return item;
	}
	return NULL;
}

void hmap_free(struct hmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->count = 0;
}

int vec_reserve(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 256;
	void *n;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	n = realloc(*arr, ncap * elem);
	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = ncap;
	return 0;
}
