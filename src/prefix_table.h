/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The user side of a prefix table (kernel layout: include/aegis/prefix.h, lookup:
 * bpf/lib/prefix.h). One struct prefix_table owns one table of one family: it keeps the
 * authoritative prefix set in a path-compressed binary trie, derives the kernel structure from it
 * (a canonical path-compressed 4-bit multibit trie under a direct first level) and writes only
 * the entries that change, through the mmapped maps, in an order that keeps every concurrent
 * lookup right for its address (see prefix_table.c). It is the only writer of its three maps.
 *
 * Not thread-safe: one caller (the agent's event loop) at a time.
 */
#ifndef AEGIS_PREFIX_TABLE_H
#define AEGIS_PREFIX_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aegis/prefix.h"
#include "cidr.h"

struct prefix_table;

struct prefix_table_maps {
	int family;		/* AF_INET or AF_INET6 */
	unsigned l1_bits;	/* as in PREFIX_TABLE(); checked against the l1 map's size */
	int l1_fd;		/* <name>_l1, <name>_nodes, <name>_rules of a loaded object */
	int nodes_fd;
	int rules_fd;
};

/* What a caller says about a prefix; the rest of struct prefix_rule is the table's. */
struct prefix_attrs {
	uint64_t created_ns;	/* CLOCK_REALTIME */
	uint64_t expires_ns;	/* CLOCK_BOOTTIME; 0 = never */
	uint32_t reason_id;
	uint8_t origin;
};

struct prefix_table_stats {
	size_t prefixes;
	size_t nodes;			/* kernel nodes in use (live + waiting for a grace period) */
	size_t max_nodes;
	size_t rules;			/* rule ids in use (live + waiting for a grace period) */
	size_t max_rules;
	size_t kernel_bytes_used;	/* first level + nodes in use + rules in use */
	size_t kernel_bytes_alloc;	/* the three maps as created (arrays are preallocated) */
	size_t user_bytes;		/* this process: trie, node registry, allocators */
	uint64_t grace_waits;		/* RCU grace periods waited for so far */
};

/*
 * Takes over the three maps (mmaps them; the fds stay the caller's). Entries already in the
 * rules map (a pinned table after an agent restart) are adopted: the prefix set is rebuilt from
 * them and the kernel structure is made canonical again. Returns 0 or -errno.
 */
int prefix_table_open(const struct prefix_table_maps *maps, struct prefix_table **out);
void prefix_table_close(struct prefix_table *t);

/*
 * Adds a prefix, or updates the attributes of one already there (hit counters are kept).
 * *id (may be NULL) gets its rule id. -EAFNOSUPPORT for the wrong family, -ENOSPC when the rules
 * or nodes map is full (the table is then unchanged).
 */
int prefix_table_add(struct prefix_table *t, const struct cidr *c, const struct prefix_attrs *a,
		     uint32_t *id);
/* Removes a prefix: its addresses fall back to the covering prefix, if any. -ENOENT if absent. */
int prefix_table_delete(struct prefix_table *t, const struct cidr *c);
/*
 * Adds n prefixes in one pass (the fast way to import a feed): every prefix gets attrs (NULL:
 * zeroes). Duplicates update the existing entry. Prefixes of the other family are skipped and
 * counted in *skipped (may be NULL). On -ENOSPC nothing of the batch was published.
 */
int prefix_table_load(struct prefix_table *t, const struct cidr *c, size_t n,
		      const struct prefix_attrs *attrs, size_t *skipped);
/* The same, with attrs[i] for c[i] (a restore of entries made at different times). */
int prefix_table_load_each(struct prefix_table *t, const struct cidr *c, size_t n,
			   const struct prefix_attrs *attrs, size_t *skipped);
/* Sets a live prefix's expiry in place (0 = never). -ENOENT if absent. */
int prefix_table_set_expiry(struct prefix_table *t, const struct cidr *c, uint64_t expires_ns);
/* Deletes every prefix whose expiry is <= now (CLOCK_BOOTTIME). Returns how many. */
size_t prefix_table_expire(struct prefix_table *t, uint64_t now);
/* Deletes everything. */
int prefix_table_clear(struct prefix_table *t);

/* Rule id of exactly this prefix, or 0. */
uint32_t prefix_table_find(const struct prefix_table *t, const struct cidr *c);
/* Longest matching prefix in the authoritative set (expiry ignored): rule id or 0. */
uint32_t prefix_table_match(const struct prefix_table *t, const uint8_t *addr);
/*
 * What the datapath answers for addr (network order, 4 or 16 bytes): the same walk over the
 * mmapped kernel structure and the same expiry fallback, at time now (CLOCK_BOOTTIME).
 * *entry (may be NULL) gets the entry before the expiry fallback. Returns the live rule id or 0.
 */
uint32_t prefix_table_lookup(const struct prefix_table *t, const uint8_t *addr, uint64_t now,
			     uint32_t *entry);
/* The kernel's record for a rule id (read-only view of the mmapped map), or NULL. */
const struct prefix_rule *prefix_table_rule(const struct prefix_table *t, uint32_t id);
/* Prefix of a live rule id; false if the id is not live. */
bool prefix_table_cidr(const struct prefix_table *t, uint32_t id, struct cidr *c);

/*
 * Waits for an RCU grace period so that freed nodes and rule ids can be reused. The table does
 * this by itself when it runs out of never-used ids; a caller may do it at a quiet moment.
 */
int prefix_table_reclaim(struct prefix_table *t);

void prefix_table_stats(const struct prefix_table *t, struct prefix_table_stats *s);

/*
 * Checks the kernel structure against the prefix set: every reachable node canonical and
 * registered, entries right for their ranges, parents right. For tests; 0 or -EUCLEAN with the
 * first problem logged.
 */
int prefix_table_check(const struct prefix_table *t);

#endif
