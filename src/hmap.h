/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A hash table of pointers: open addressing with linear probing and backward-shift deletion
 * (no tombstones), at most half full. The caller hashes its key and says how an item matches
 * it, so one table type serves every key shape. Not thread-safe (the agent has one thread).
 */
#ifndef AEGIS_HMAP_H
#define AEGIS_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hmap_slot {
	uint64_t hash;
	void *item;		/* NULL: empty */
};

struct hmap {
	struct hmap_slot *slots;
	size_t cap, count;	/* cap: 0 or a power of two */
};

/* Does item have this key? */
typedef bool (*hmap_match)(const void *item, const void *key);

/* 64-bit mix of bytes (FNV-1a, then a finaliser so low bits spread). */
uint64_t hmap_hash(const void *p, size_t len);
uint64_t hmap_hash_u64(uint64_t v);

void *hmap_get(const struct hmap *m, uint64_t hash, const void *key, hmap_match match);
/* Adds item (its key must not be there yet): 0 or -ENOMEM. */
int hmap_put(struct hmap *m, uint64_t hash, void *item);
/* Removes and returns the item with this key, or NULL. */
void *hmap_del(struct hmap *m, uint64_t hash, const void *key, hmap_match match);
/* Iteration: for (i = 0; (it = hmap_next(m, &i)); ). No puts or dels while iterating. */
void *hmap_next(const struct hmap *m, size_t *iter);
/* Frees the slots (not the items). */
void hmap_free(struct hmap *m);

/*
 * Grows the array *arr of elem-sized items (capacity *cap) to hold need items, doubling from 256:
 * 0, or -ENOMEM with *arr as it was.
 */
int vec_reserve(void **arr, size_t *cap, size_t need, size_t elem);

#endif
