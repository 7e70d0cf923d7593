// SPDX-License-Identifier: GPL-2.0-only
/*
 * Prefix tables, user side (API: prefix_table.h; kernel layout: include/aegis/prefix.h).
 *
 * The authoritative set is a path-compressed binary trie (`pt`). The kernel structure is a pure
 * function of that set (the canonical form), computed region by region:
 *
 *   - a region is an L1 slot or a node slot: an aligned range of addresses, depth d;
 *   - b(region) = the longest prefix of length <= d covering it (0 if none);
 *   - S(region) = the prefixes strictly longer than d inside it. Empty: the entry is b.
 *     Otherwise let u be the binary-trie node where S branches (or the topmost prefix of S), at
 *     depth t; the entry points to a node at depth D = min(t rounded down to the stride, W - 4)
 *     with key = u's first D bits and fallback = b, and each of its 16 slots is again a region.
 *
 * A node is thus identified by (D, key), and at most one canonical node has a given identity; the
 * registry maps identities to node indexes. An update recomputes the canonical form only over
 * the regions that intersect the changed prefix (plus the path to it) and writes what differs:
 *
 *   - an entry that stays a leaf, or a node whose identity is unchanged, is updated in place with
 *     one 32-bit store. Node slots and L1 slots mean the same thing whoever reaches them (a node
 *     checks its whole key), so each store is right by itself for every address it covers;
 *   - a node's fallback is stored in place only while the node stays under the same parent
 *     range (then it too is right by itself);
 *   - an entry whose node identity changes gets a node built (or copied, when an existing node
 *     with that identity moves under a different parent) off to the side and published with one
 *     release store; what it replaces is retired;
 *   - retired nodes and deleted rule ids are reused only after an RCU grace period, which user
 *     space gets from the kernel by updating an ARRAY_OF_MAPS (the syscall runs synchronize_rcu()
 *     so that "programs see the new map"), so a lookup that read an old entry never lands on a
 *     recycled node or rule.
 *
 * Readers in the kernel load each 32-bit entry once and follow address dependencies, so the only
 * ordering user space needs is release on the publishing store. The rules' parent links (next
 * shorter covering prefix) are single stores too: a reader that follows an old link gets the
 * answer from before the change.
 *
 * Before a pass that may allocate more nodes than are free, a dry run of the same pass counts the
 * allocations, so a pass never runs out of nodes half-way: -ENOSPC leaves the table untouched.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include "log.h"
#include "prefix_table.h"

#define FANOUT PREFIX_FANOUT
#define IS_NODE(e) (((e) & PREFIX_NODE) != 0)
#define NODE_IDX(e) ((e) & ~PREFIX_NODE)
#define PT_PENDING 0xffffffffu	/* trie node of a batch prefix that has no rule id yet */
#define PT_FREE_LEN 0xff	/* len of a trie node on the free list */

enum { NODE_FREE, NODE_LIVE, NODE_RETIRED };

/* ---- 128-bit keys: bit 0 is the most significant bit of k[0] ---------------- */

static inline __u64 top_bits(unsigned n)
{
	return n == 0 ? 0 : n >= 64 ? ~0ULL : ~0ULL << (64 - n);
}

static inline unsigned key_bit(const __u64 k[2], unsigned i)
{
	return i < 64 ? (unsigned)(k[0] >> (63 - i)) & 1 : (unsigned)(k[1] >> (127 - i)) & 1;
}

static inline void key_mask(const __u64 in[2], unsigned len, __u64 out[2])
{
	out[0] = in[0] & top_bits(len);
	out[1] = in[1] & top_bits(len > 64 ? len - 64 : 0);
}

/* First len bits equal. */
static inline bool key_eq(const __u64 a[2], const __u64 b[2], unsigned len)
{
	return !(((a[0] ^ b[0]) & top_bits(len)) | ((a[1] ^ b[1]) & top_bits(len > 64 ? len - 64 : 0)));
}

/* Length of the common prefix, 0..128. */
static inline unsigned key_common(const __u64 a[2], const __u64 b[2])
{
	__u64 x = a[0] ^ b[0];

	if (x)
		return (unsigned)__builtin_clzll(x);
	x = a[1] ^ b[1];
	return x ? 64 + (unsigned)__builtin_clzll(x) : 128;
}

static inline unsigned umin(unsigned a, unsigned b)
{
	return a < b ? a : b;
}

/* ---- id allocator with a grace-period quarantine ---------------------------- */

struct u32vec {
	uint32_t *v;
	size_t n, cap;
};

static int vec_push(struct u32vec *s, uint32_t x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		uint32_t *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = x;
	return 0;
}

static int vec_append(struct u32vec *dst, struct u32vec *src)
{
	for (size_t i = 0; i < src->n; i++)
		if (vec_push(dst, src->v[i]))
			return -ENOMEM;
	src->n = 0;
	return 0;
}

/* ids 1..cap-1; ids freed go to `pend` and become reusable after the next grace period. */
struct idpool {
	uint32_t cap;
	uint32_t hwm;		/* lowest id never handed out */
	struct u32vec free;	/* reusable now */
	struct u32vec pend;	/* freed before the next grace period */
};

static size_t pool_available(const struct idpool *p)
{
	return (size_t)(p->cap - p->hwm) + p->free.n;
}

static size_t pool_in_use(const struct idpool *p)
{
	return (size_t)(p->hwm - 1) - p->free.n;
}

static uint32_t pool_get(struct idpool *p)
{
	if (p->free.n)
		return p->free.v[--p->free.n];
	if (p->hwm < p->cap)
		return p->hwm++;
	return 0;
}

/* ---- the table --------------------------------------------------------------- */

struct pt_node {
	__u64 key[2];	/* bits [0, len), rest zero */
	uint32_t child[2];
	uint32_t rule;		/* rule id when a prefix ends here; 0 for a branch node */
	uint8_t len;
};

struct prefix_table {
	int family;
	unsigned width;		/* 32 or 128 */
	unsigned l1_bits;
	unsigned levels;	/* PREFIX_LEVELS(width, l1_bits) */

	uint32_t *l1;		/* mmapped <name>_l1, 2^l1_bits entries */
	size_t l1_bytes;
	struct prefix_node *nodes;
	size_t nodes_bytes;
	struct prefix_rule *rules;
	size_t rules_bytes;

	int grace_outer;	/* ARRAY_OF_MAPS: updating it waits for an RCU grace period */
	int grace_inner;
	__u64 grace_waits;

	struct pt_node *pt;	/* binary trie; index 0 unused */
	uint32_t pt_n, pt_cap, pt_root;
	struct u32vec pt_free;
	size_t pt_live;
	uint32_t *rule_pt;	/* rule id -> trie node, for live rules */
	size_t prefixes;

	uint32_t *reg;		/* node registry: open addressing over node indexes, 0 = empty */
	uint32_t reg_mask;
	size_t reg_n;
	uint8_t *nstate;	/* NODE_* per node index */

	struct idpool nid, rid;
	struct u32vec retired;	/* nodes retired by the pass in progress: reachable until it ends */

	/* Dry run: count what a pass would do instead of doing it. */
	bool dry;
	size_t dry_allocs, dry_stores;
};

/* The changed range: entries outside it are known to be right already. */
struct change {
	__u64 k[2];
	unsigned len;
	bool all;
};

static void key_from_addr(const struct prefix_table *t, const uint8_t *addr, __u64 k[2])
{
	if (t->family == AF_INET) {
		uint32_t a;

		memcpy(&a, addr, 4);
		k[0] = (__u64)ntohl(a) << 32;
		k[1] = 0;
	} else {
		__u64 w[2];

		memcpy(w, addr, 16);
		k[0] = be64toh(w[0]);
		k[1] = be64toh(w[1]);
	}
}

static void key_to_addr(const struct prefix_table *t, const __u64 k[2], uint8_t addr[16])
{
	memset(addr, 0, 16);
	if (t->family == AF_INET) {
		uint32_t a = htonl((uint32_t)(k[0] >> 32));

		memcpy(addr, &a, 4);
	} else {
		__u64 w[2] = { htobe64(k[0]), htobe64(k[1]) };

		memcpy(addr, w, 16);
	}
}

static int key_from_cidr(const struct prefix_table *t, const struct cidr *c, __u64 k[2],
			 unsigned *len)
{
	__u64 raw[2];

	if (c->family != t->family)
		return -EAFNOSUPPORT;
	if (c->prefixlen > t->width)
		return -EINVAL;
	key_from_addr(t, c->addr, raw);
	key_mask(raw, c->prefixlen, k);
	*len = c->prefixlen;
	return 0;
}

static inline uint32_t l1_slot(const struct prefix_table *t, const __u64 k[2])
{
	return (uint32_t)(k[0] >> (64 - t->l1_bits));
}

/* ---- entry stores ------------------------------------------------------------ */

static inline uint32_t get(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Release: whatever the new value points to (node, rule) was written before it. */
static inline void put(struct prefix_table *t, uint32_t *p, uint32_t v)
{
	if (t->dry) {
		t->dry_stores++;
		return;
	}
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* ---- binary trie ------------------------------------------------------------- */

static uint32_t pt_new(struct prefix_table *t, const __u64 key[2], unsigned len)
{
	uint32_t x;

	if (t->pt_free.n) {
		x = t->pt_free.v[--t->pt_free.n];
	} else {
		if (t->pt_n >= t->pt_cap) {
			uint32_t cap = t->pt_cap ? t->pt_cap * 2 : 1024;
			struct pt_node *pt = realloc(t->pt, (size_t)cap * sizeof(*pt));

			if (!pt)
				return 0;
			t->pt = pt;
			t->pt_cap = cap;
		}
		x = t->pt_n++;
	}
	memset(&t->pt[x], 0, sizeof(t->pt[x]));
	key_mask(key, len, t->pt[x].key);
	t->pt[x].len = (uint8_t)len;
	t->pt_live++;
	return x;
}

static void pt_release(struct prefix_table *t, uint32_t x)
{
	t->pt[x].len = PT_FREE_LEN;
	t->pt_live--;
	vec_push(&t->pt_free, x);	/* on ENOMEM the slot just leaks */
}

static inline void pt_link(struct prefix_table *t, uint32_t parent, unsigned dir, uint32_t x)
{
	if (parent)
		t->pt[parent].child[dir] = x;
	else
		t->pt_root = x;
}

/* The node for exactly (key, len), created (as a branch, rule 0) if needed. 0 on ENOMEM. */
static uint32_t pt_insert(struct prefix_table *t, const __u64 key[2], unsigned len)
{
	uint32_t parent = 0, cur = t->pt_root, x, b;
	unsigned dir = 0;

	while (cur) {
		struct pt_node *n = &t->pt[cur];
		unsigned cl = umin(key_common(n->key, key), umin(n->len, len));

		if (cl < n->len) {
			if (cl == len) {
				/* The new prefix covers cur. */
				x = pt_new(t, key, len);
				if (!x)
					return 0;
				t->pt[x].child[key_bit(t->pt[cur].key, len)] = cur;
				pt_link(t, parent, dir, x);
				return x;
			}
			/* They part at bit cl: a branch node there. */
			b = pt_new(t, key, cl);
			if (!b)
				return 0;
			x = pt_new(t, key, len);
			if (!x) {
				pt_release(t, b);
				return 0;
			}
			t->pt[b].child[key_bit(key, cl)] = x;
			t->pt[b].child[key_bit(t->pt[cur].key, cl)] = cur;
			pt_link(t, parent, dir, b);
			return x;
		}
		if (n->len == len)
			return cur;
		parent = cur;
		dir = key_bit(key, n->len);
		cur = n->child[dir];
	}
	x = pt_new(t, key, len);
	if (x)
		pt_link(t, parent, dir, x);
	return x;
}

static uint32_t pt_find(const struct prefix_table *t, const __u64 key[2], unsigned len)
{
	uint32_t cur = t->pt_root;

	while (cur) {
		const struct pt_node *n = &t->pt[cur];

		if (n->len > len || !key_eq(n->key, key, n->len))
			return 0;
		if (n->len == len)
			return cur;
		cur = n->child[key_bit(key, n->len)];
	}
	return 0;
}

/* Drops the trie node of (key, len), whose rule was cleared, if it no longer branches. */
static void pt_remove(struct prefix_table *t, const __u64 key[2], unsigned len)
{
	uint32_t gp = 0, p = 0, cur = t->pt_root, other;
	unsigned gdir = 0, pdir = 0;
	struct pt_node *n;

	while (cur && t->pt[cur].len < len) {
		gp = p;
		gdir = pdir;
		p = cur;
		pdir = key_bit(key, t->pt[cur].len);
		cur = t->pt[cur].child[pdir];
	}
	if (!cur || t->pt[cur].len != len || t->pt[cur].rule)
		return;
	n = &t->pt[cur];
	if (n->child[0] && n->child[1])
		return;
	if (n->child[0] || n->child[1]) {
		pt_link(t, p, pdir, n->child[0] | n->child[1]);
		pt_release(t, cur);
		return;
	}
	pt_link(t, p, pdir, 0);
	pt_release(t, cur);
	/* A branch node left with one child is spliced out. */
	if (p && !t->pt[p].rule) {
		other = t->pt[p].child[0] | t->pt[p].child[1];
		pt_link(t, gp, gdir, other);
		pt_release(t, p);
	}
}

/* The longest prefix strictly shorter than len covering key: its rule id, or 0. */
static uint32_t pt_parent_rule(const struct prefix_table *t, const __u64 key[2], unsigned len)
{
	uint32_t cur = t->pt_root, best = 0;

	while (cur) {
		const struct pt_node *n = &t->pt[cur];

		if (n->len >= len || !key_eq(n->key, key, n->len))
			break;
		if (n->rule && n->rule != PT_PENDING)
			best = n->rule;
		cur = n->child[key_bit(key, n->len)];
	}
	return best;
}

static uint32_t pt_match(const struct prefix_table *t, const __u64 key[2])
{
	uint32_t cur = t->pt_root, best = 0;

	while (cur) {
		const struct pt_node *n = &t->pt[cur];

		if (!key_eq(n->key, key, n->len))
			break;
		if (n->rule)
			best = n->rule;
		if (n->len >= t->width)
			break;
		cur = n->child[key_bit(key, n->len)];
	}
	return best;
}

/*
 * For the region (k, d), starting from trie node q at or above it: raises *best to the longest
 * prefix of length <= d covering the region and sets *lca to the node where the prefixes strictly
 * inside the region branch (or the topmost of them), 0 if there are none.
 */
static void descend(const struct prefix_table *t, uint32_t q, const __u64 k[2], unsigned d,
		    uint32_t *best, uint32_t *lca)
{
	*lca = 0;
	while (q) {
		const struct pt_node *n = &t->pt[q];

		if (n->len > d) {
			if (key_eq(n->key, k, d))
				*lca = q;
			return;
		}
		if (!key_eq(n->key, k, n->len))
			return;
		if (n->rule)
			*best = n->rule;
		if (n->len == d) {
			*lca = n->child[0] && n->child[1] ? q : n->child[0] | n->child[1];
			return;
		}
		q = n->child[key_bit(k, n->len)];
	}
}

/* ---- kernel nodes: allocation, registry --------------------------------------- */

static inline unsigned canon_depth(const struct prefix_table *t, uint32_t u)
{
	return umin(t->pt[u].len & ~(PREFIX_STRIDE - 1u), t->width - PREFIX_STRIDE);
}

static inline uint32_t reg_hash(unsigned depth, const __u64 key[2])
{
	__u64 h = key[0] * 0x9e3779b97f4a7c15ULL ^ (key[1] + depth) * 0xc2b2ae3d27d4eb4fULL;

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return (uint32_t)(h ^ (h >> 32));
}

static inline bool node_is(const struct prefix_node *n, unsigned depth, const __u64 key[2])
{
	return n->depth == depth && n->key[0] == key[0] && n->key[1] == key[1];
}

static uint32_t reg_find(const struct prefix_table *t, unsigned depth, const __u64 key[2])
{
	if (!t->reg_n)
		return 0;	/* a table being filled from empty: no probe, no cache miss */
	for (uint32_t i = reg_hash(depth, key) & t->reg_mask;; i = (i + 1) & t->reg_mask) {
		uint32_t x = t->reg[i];

		if (!x || node_is(&t->nodes[x], depth, key))
			return x;
	}
}

/* Slot of node x in the registry, or -1. */
static int64_t reg_slot(const struct prefix_table *t, uint32_t x)
{
	const struct prefix_node *n = &t->nodes[x];

	for (uint32_t i = reg_hash(n->depth, n->key) & t->reg_mask;; i = (i + 1) & t->reg_mask) {
		if (t->reg[i] == x)
			return i;
		if (!t->reg[i])
			return -1;
	}
}

static void reg_add(struct prefix_table *t, uint32_t x)
{
	const struct prefix_node *n = &t->nodes[x];
	uint32_t i = reg_hash(n->depth, n->key) & t->reg_mask;

	while (t->reg[i])
		i = (i + 1) & t->reg_mask;
	t->reg[i] = x;
	t->reg_n++;
}

/* Linear probing deletion by backward shift: no tombstones. */
static void reg_remove(struct prefix_table *t, uint32_t x)
{
	int64_t s = reg_slot(t, x);
	uint32_t i, j;

	if (s < 0)
		return;
	i = (uint32_t)s;
	for (j = (i + 1) & t->reg_mask; t->reg[j]; j = (j + 1) & t->reg_mask) {
		const struct prefix_node *n = &t->nodes[t->reg[j]];
		uint32_t home = reg_hash(n->depth, n->key) & t->reg_mask;

		/* Move reg[j] into the hole at i unless its home lies cyclically in (i, j]. */
		if (((j - home) & t->reg_mask) >= ((j - i) & t->reg_mask)) {
			t->reg[i] = t->reg[j];
			i = j;
		}
	}
	t->reg[i] = 0;
	t->reg_n--;
}

static uint32_t node_alloc(struct prefix_table *t)
{
	uint32_t x;

	if (t->dry) {
		t->dry_allocs++;
		return 0;
	}
	x = pool_get(&t->nid);
	if (x)
		t->nstate[x] = NODE_LIVE;
	return x;
}

static void node_retire(struct prefix_table *t, uint32_t x)
{
	t->nstate[x] = NODE_RETIRED;
	if (vec_push(&t->retired, x))
		pr_warn("prefix table: out of memory, node %u leaks", x);
}

static void node_header(struct prefix_node *n, unsigned depth, const __u64 key[2], uint32_t fallback)
{
	memset(n, 0, sizeof(*n));
	n->key[0] = key[0];
	n->key[1] = key[1];
	n->mask[0] = top_bits(depth);
	n->mask[1] = top_bits(depth > 64 ? depth - 64 : 0);
	n->fallback = fallback;
	n->depth = (uint8_t)depth;
	n->word = depth >= 64;
	n->shift = (uint8_t)(depth >= 64 ? 124 - depth : 60 - depth);
}

static inline bool node_valid(const struct prefix_table *t, uint32_t e)
{
	return IS_NODE(e) && NODE_IDX(e) && NODE_IDX(e) < t->nid.cap;
}

/* Unlinks a subtree that the canonical form no longer has. Moved nodes were retired already. */
static void drop_tree(struct prefix_table *t, uint32_t x)
{
	struct prefix_node *n = &t->nodes[x];

	if (t->dry || t->nstate[x] != NODE_LIVE)
		return;
	for (int v = 0; v < FANOUT; v++) {
		uint32_t e = get(&n->slot[v]);

		if (node_valid(t, e))
			drop_tree(t, NODE_IDX(e));
	}
	reg_remove(t, x);
	node_retire(t, x);
}

/* ---- the canonical form, written --------------------------------------------- */

static int sync_entry(struct prefix_table *t, uint32_t *entry, uint32_t b, uint32_t u,
		      const struct change *c);

static inline bool touches(const struct change *c, const __u64 k[2], unsigned d)
{
	return c->all || key_eq(k, c->k, umin(d, c->len));
}

/* The slots of node n (canonical for trie node u, fallback b); all: every slot, else only the
 * ones that meet the change. */
static int sync_slots(struct prefix_table *t, struct prefix_node *n, uint32_t u, uint32_t b,
		      const struct change *c, bool all)
{
	unsigned d = n->depth + PREFIX_STRIDE;

	for (uint32_t v = 0; v < FANOUT; v++) {
		__u64 k[2] = { n->key[0], n->key[1] };
		uint32_t bv = b, uv;
		int err;

		k[n->word] |= (__u64)v << n->shift;
		if (!all && !touches(c, k, d))
			continue;
		descend(t, u, k, d, &bv, &uv);
		err = sync_entry(t, &n->slot[v], bv, uv, c);
		if (err)
			return err;
	}
	return 0;
}

/* Makes *entry canonical for its region: best prefix b, trie node u where the region's longer
 * prefixes branch (0: none). */
static int sync_entry(struct prefix_table *t, uint32_t *entry, uint32_t b, uint32_t u,
		      const struct change *c)
{
	uint32_t cur = get(entry), y, m;
	struct prefix_node tmp, *mn;
	__u64 key[2];
	unsigned depth;
	int err;

	if (!u) {
		if (cur != b) {
			put(t, entry, b);
			if (node_valid(t, cur))
				drop_tree(t, NODE_IDX(cur));
		}
		return 0;
	}
	depth = canon_depth(t, u);
	key_mask(t->pt[u].key, depth, key);
	if (node_valid(t, cur) && t->nstate[NODE_IDX(cur)] == NODE_LIVE &&
	    node_is(&t->nodes[NODE_IDX(cur)], depth, key)) {
		struct prefix_node *x = &t->nodes[NODE_IDX(cur)];

		if (get(&x->fallback) != b)
			put(t, &x->fallback, b);
		return sync_slots(t, x, u, b, c, false);
	}

	y = reg_find(t, depth, key);
	m = node_alloc(t);
	if (!t->dry && !m)
		return -ENOSPC;	/* cannot happen after the dry run; nothing was published */
	mn = t->dry ? &tmp : &t->nodes[m];
	if (y) {
		/* It exists under another parent range: a copy, so its fallback may differ. */
		memcpy(mn, &t->nodes[y], sizeof(*mn));
		mn->fallback = b;
		if (!t->dry) {
			int64_t s = reg_slot(t, y);

			if (s >= 0)
				t->reg[s] = m;
			node_retire(t, y);
		}
		err = sync_slots(t, mn, u, b, c, false);
	} else {
		node_header(mn, depth, key, b);
		if (!t->dry)
			reg_add(t, m);
		err = sync_slots(t, mn, u, b, c, true);
	}
	if (err)
		return err;
	put(t, entry, PREFIX_NODE | m);
	if (node_valid(t, cur))
		drop_tree(t, NODE_IDX(cur));
	return 0;
}

/* L1 slots [lo, hi) all become the leaf b. */
static void fill_range(struct prefix_table *t, uint32_t lo, uint32_t hi, uint32_t b)
{
	for (uint32_t s = lo; s < hi; s++) {
		uint32_t cur = get(&t->l1[s]);

		if (cur != b) {
			put(t, &t->l1[s], b);
			if (node_valid(t, cur))
				drop_tree(t, NODE_IDX(cur));
		}
	}
}

/* Region (k, d) with d <= l1_bits: best b, branch node u. */
static int fill(struct prefix_table *t, const __u64 k[2], unsigned d, uint32_t b, uint32_t u,
		const struct change *c)
{
	uint32_t lo = l1_slot(t, k), hi = lo + (1u << (t->l1_bits - d)), elo, ehi;
	const struct pt_node *n;
	__u64 sk[2];
	unsigned m;

	if (d == t->l1_bits)
		return sync_entry(t, &t->l1[lo], b, u, c);
	if (!u) {
		fill_range(t, lo, hi, b);
		return 0;
	}
	n = &t->pt[u];
	/* Everything outside u's range is b. */
	m = umin(n->len, t->l1_bits);
	key_mask(n->key, m, sk);
	elo = l1_slot(t, sk);
	ehi = elo + (1u << (t->l1_bits - m));
	fill_range(t, lo, elo, b);
	fill_range(t, ehi, hi, b);
	if (n->len >= t->l1_bits) {
		uint32_t bs = b, us;

		descend(t, u, sk, t->l1_bits, &bs, &us);
		return sync_entry(t, &t->l1[elo], bs, us, c);
	}
	/* u branches above the first level: both halves. */
	for (unsigned bit = 0; bit < 2; bit++) {
		uint32_t bc = t->pt[u].rule ? t->pt[u].rule : b, uc;
		unsigned len = t->pt[u].len;
		__u64 ck[2];
		int err;

		key_mask(t->pt[u].key, len, ck);
		if (bit)
			ck[len / 64] |= 1ULL << (63 - len % 64);
		descend(t, t->pt[u].child[bit], ck, len + 1, &bc, &uc);
		err = fill(t, ck, len + 1, bc, uc, c);
		if (err)
			return err;
	}
	return 0;
}

static int pass(struct prefix_table *t, const struct change *c)
{
	uint32_t b = 0, u;
	__u64 sk[2];
	int err;

	if (c->all || c->len <= t->l1_bits) {
		__u64 z[2] = { 0, 0 };
		const __u64 *k = c->all ? z : c->k;
		unsigned len = c->all ? 0 : c->len;

		descend(t, t->pt_root, k, len, &b, &u);
		err = fill(t, k, len, b, u, c);
	} else {
		key_mask(c->k, t->l1_bits, sk);
		descend(t, t->pt_root, sk, t->l1_bits, &b, &u);
		err = sync_entry(t, &t->l1[l1_slot(t, sk)], b, u, c);
	}
	return err;
}

/* Waits for an RCU grace period: afterwards no lookup still holds what was retired before. */
static int grace_wait(struct prefix_table *t)
{
	uint32_t zero = 0;

	if (bpf_map_update_elem(t->grace_outer, &zero, &t->grace_inner, BPF_ANY))
		return pr_warn_errno(-errno, "prefix table: waiting for a grace period");
	t->grace_waits++;
	return 0;
}

int prefix_table_reclaim(struct prefix_table *t)
{
	int err;

	if (!t->nid.pend.n && !t->rid.pend.n)
		return 0;
	err = grace_wait(t);
	if (err)
		return err;
	if (vec_append(&t->nid.free, &t->nid.pend) || vec_append(&t->rid.free, &t->rid.pend))
		return -ENOMEM;
	return 0;
}

/*
 * Makes sure the pass for the change will find its nodes. bound: allocations the pass cannot
 * exceed; when fewer nodes are free, a dry run of the pass counts them. -ENOSPC: nothing written.
 */
static int reserve(struct prefix_table *t, const struct change *c, size_t bound)
{
	int err;

	if (pool_available(&t->nid) < bound && t->nid.pend.n) {
		err = prefix_table_reclaim(t);
		if (err)
			return err;
	}
	if (pool_available(&t->nid) >= bound)
		return 0;
	t->dry = true;
	t->dry_allocs = t->dry_stores = 0;
	err = pass(t, c);
	t->dry = false;
	if (err)
		return err;
	return pool_available(&t->nid) < t->dry_allocs ? -ENOSPC : 0;
}

static int commit(struct prefix_table *t, const struct change *c)
{
	int err = pass(t, c);

	/* Unreachable from now on, reusable after the next grace period. */
	if (vec_append(&t->nid.pend, &t->retired))
		pr_warn("prefix table: out of memory, retired nodes leak");
	return err;
}

static int apply(struct prefix_table *t, const struct change *c, size_t bound)
{
	int err = reserve(t, c, bound);

	return err ? err : commit(t, c);
}

/* Allocations a change of one prefix can need: a fresh node and a copy per level. */
static size_t single_bound(const struct prefix_table *t)
{
	return 2 * ((size_t)t->levels + 1);
}

/* Kernel nodes the canonical form can have: one per trie node at or below the first level
 * that has something below it (an upper bound for what a whole-table pass allocates). */
static size_t node_bound(const struct prefix_table *t)
{
	size_t n = 0;

	for (uint32_t x = 1; x < t->pt_n; x++) {
		const struct pt_node *p = &t->pt[x];

		if (p->len == PT_FREE_LEN)
			continue;
		n += p->len > t->l1_bits || (p->len == t->l1_bits && (p->child[0] || p->child[1]));
	}
	return n + 1;
}

/* ---- rules ---------------------------------------------------------------------- */

static void rule_write(struct prefix_table *t, uint32_t id, const __u64 key[2], unsigned len,
		       const struct prefix_attrs *a, uint32_t parent)
{
	struct prefix_rule *r = &t->rules[id];
	/* A new gen for the id: CPUs' pending hits of its previous prefix must not land here. */
	uint32_t gen = r->gen + 1 ? r->gen + 1 : 1;

	/* Unreachable until an entry names it: plain stores. */
	memset(r, 0, sizeof(*r));
	r->gen = gen;
	if (a) {
		r->created_ns = a->created_ns;
		r->expires_ns = a->expires_ns;
		r->reason_id = a->reason_id;
		r->origin = a->origin;
	}
	r->prefixlen = (uint8_t)len;
	r->family = t->family == AF_INET ? PREFIX_FAMILY_V4 : PREFIX_FAMILY_V6;
	r->parent = parent;
	key_to_addr(t, key, r->addr);
}

/* A live rule: readers may be looking at it, so single stores. */
static void rule_update(struct prefix_table *t, uint32_t id, const struct prefix_attrs *a)
{
	struct prefix_rule *r = &t->rules[id];
	struct prefix_attrs zero = {};

	if (!a)
		a = &zero;
	r->created_ns = a->created_ns;
	r->reason_id = a->reason_id;
	r->origin = a->origin;
	__atomic_store_n(&r->expires_ns, a->expires_ns, __ATOMIC_RELEASE);
}

static void set_parent(struct prefix_table *t, uint32_t id, uint32_t parent)
{
	if (get(&t->rules[id].parent) != parent)
		__atomic_store_n(&t->rules[id].parent, parent, __ATOMIC_RELEASE);
}

/* The nearest prefixes below trie node x get parent `parent`. */
static void relink_below(struct prefix_table *t, uint32_t x, uint32_t parent)
{
	for (int i = 0; i < 2; i++) {
		uint32_t ch = t->pt[x].child[i];

		if (!ch)
			continue;
		if (t->pt[ch].rule)
			set_parent(t, t->pt[ch].rule, parent);
		else
			relink_below(t, ch, parent);
	}
}

/* Parents of every rule under x, given the nearest rule above (check: count mismatches only). */
static size_t parents_all(struct prefix_table *t, uint32_t x, uint32_t above, bool check)
{
	size_t bad = 0;

	if (!x)
		return 0;
	if (t->pt[x].rule) {
		uint32_t id = t->pt[x].rule;

		if (get(&t->rules[id].parent) != above) {
			bad++;
			if (!check)
				set_parent(t, id, above);
		}
		above = id;
	}
	bad += parents_all(t, t->pt[x].child[0], above, check);
	bad += parents_all(t, t->pt[x].child[1], above, check);
	return bad;
}

/* ---- public API ------------------------------------------------------------------ */

static void *map_mmap(int fd, size_t *len, uint32_t *entries, uint32_t value_size, const char *what)
{
	struct bpf_map_info info = {};
	uint32_t ilen = sizeof(info);
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	if (bpf_obj_get_info_by_fd(fd, &info, &ilen)) {
		pr_warn_errno(-errno, "prefix table: map info of %s", what);
		return NULL;
	}
	if (info.type != BPF_MAP_TYPE_ARRAY || !(info.map_flags & BPF_F_MMAPABLE) ||
	    info.value_size != value_size) {
		pr_warn("prefix table: map %s (%s) is not an mmapable array of %u-byte values",
			info.name, what, value_size);
		errno = EINVAL;
		return NULL;
	}
	*entries = info.max_entries;
	*len = ((size_t)info.max_entries * value_size + (size_t)page - 1) / (size_t)page * (size_t)page;
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		pr_warn_errno(-errno, "prefix table: mmap of map %s", info.name);
		return NULL;
	}
	return p;
}

void prefix_table_close(struct prefix_table *t)
{
	if (!t)
		return;
	if (t->l1)
		munmap(t->l1, t->l1_bytes);
	if (t->nodes)
		munmap(t->nodes, t->nodes_bytes);
	if (t->rules)
		munmap(t->rules, t->rules_bytes);
	if (t->grace_outer >= 0)
		close(t->grace_outer);
	if (t->grace_inner >= 0)
		close(t->grace_inner);
	free(t->pt);
	free(t->pt_free.v);
	free(t->rule_pt);
	free(t->reg);
	free(t->nstate);
	free(t->nid.free.v);
	free(t->nid.pend.v);
	free(t->rid.free.v);
	free(t->rid.pend.v);
	free(t->retired.v);
	free(t);
}

struct sort_item {
	__u64 key;
	uint32_t idx;
};

/*
 * Sorts by key (the top bytes of the address words): batch inserts then walk trie paths that
 * are still in cache, and trie nodes land in memory in about the order the passes visit them.
 * LSD radix over the top `bytes` bytes. *a may be swapped for the scratch buffer.
 */
static int radix_sort(struct sort_item **a, size_t n, unsigned bytes)
{
	struct sort_item *b = malloc(n * sizeof(*b) + 1), *tmp;

	if (!b)
		return -ENOMEM;
	for (unsigned p = 0; p < bytes; p++) {
		unsigned shift = 64 - 8 * (bytes - p);
		size_t count[257] = {};

		for (size_t i = 0; i < n; i++)
			count[(((*a)[i].key >> shift) & 0xff) + 1]++;
		for (int v = 0; v < 256; v++)
			count[v + 1] += count[v];
		for (size_t i = 0; i < n; i++)
			b[count[((*a)[i].key >> shift) & 0xff]++] = (*a)[i];
		tmp = *a;
		*a = b;
		b = tmp;
	}
	free(b);
	return 0;
}

static unsigned sort_bytes(const struct prefix_table *t)
{
	return t->family == AF_INET ? 4 : 6;
}

/* The batch's indexes in address order. */
static struct sort_item *sort_batch(const struct prefix_table *t, const struct cidr *c, size_t n)
{
	struct sort_item *a = malloc(n * sizeof(*a) + 1);

	if (!a)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		__u64 k[2] = { 0, 0 };

		if (c[i].family == t->family)
			key_from_addr(t, c[i].addr, k);
		a[i].key = k[0];
		a[i].idx = (uint32_t)i;
	}
	if (radix_sort(&a, n, sort_bytes(t))) {
		free(a);
		return NULL;
	}
	return a;
}

/* Marks and registers the nodes reachable from entry e; a depth bound guards against garbage. */
static void adopt_nodes(struct prefix_table *t, uint32_t e, unsigned level, uint32_t *hwm)
{
	struct prefix_node *n, want;
	__u64 key[2];
	uint32_t x;

	if (!node_valid(t, e) || level > t->levels)
		return;
	x = NODE_IDX(e);
	if (t->nstate[x] != NODE_FREE)
		return;		/* shared or looping: the canonical pass will rebuild around it */
	n = &t->nodes[x];
	if (n->depth % PREFIX_STRIDE || n->depth < t->l1_bits || n->depth > t->width - PREFIX_STRIDE)
		return;
	/* Only a well-formed header is kept; the canonical pass replaces anything else. */
	key_mask(n->key, n->depth, key);
	node_header(&want, n->depth, key, 0);
	if (memcmp(&want, n, offsetof(struct prefix_node, fallback)) || want.depth != n->depth ||
	    want.shift != n->shift || want.word != n->word || reg_find(t, n->depth, n->key))
		return;
	t->nstate[x] = NODE_LIVE;
	reg_add(t, x);
	if (x >= *hwm)
		*hwm = x + 1;
	for (int v = 0; v < FANOUT; v++)
		adopt_nodes(t, get(&n->slot[v]), level + 1, hwm);
}

static int adopt(struct prefix_table *t)
{
	uint8_t fam = t->family == AF_INET ? PREFIX_FAMILY_V4 : PREFIX_FAMILY_V6;
	struct change all = { .all = true };
	uint32_t hwm = 1, rhwm = 1;
	struct sort_item *order;
	size_t n = 0;
	int err;

	/* Rules: every record of our family is a prefix (ids kept, so are the hit counters). */
	order = malloc((size_t)t->rid.cap * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (uint32_t id = 1; id < t->rid.cap; id++) {
		const struct prefix_rule *r = &t->rules[id];
		__u64 k[2];

		if (r->family != fam || r->prefixlen > t->width)
			continue;
		key_from_addr(t, r->addr, k);
		order[n].key = k[0];
		order[n++].idx = id;
		rhwm = id + 1;
	}
	err = radix_sort(&order, n, sort_bytes(t));
	for (size_t i = 0; i < n && !err; i++) {
		uint32_t id = order[i].idx, x;
		__u64 raw[2], key[2];

		key_from_addr(t, t->rules[id].addr, raw);
		key_mask(raw, t->rules[id].prefixlen, key);
		x = pt_insert(t, key, t->rules[id].prefixlen);
		if (!x)
			err = -ENOMEM;
		else if (!t->pt[x].rule) {	/* else a duplicate record: dropped below */
			t->pt[x].rule = id;
			t->rule_pt[id] = x;
			t->prefixes++;
		}
	}
	free(order);
	if (err)
		return err;
	/* Nodes: the ones reachable and well formed. */
	for (uint32_t s = 0; s < (1u << t->l1_bits); s++)
		adopt_nodes(t, get(&t->l1[s]), 0, &hwm);
	/*
	 * The rest is free, after a grace period: whoever wrote these maps before may have left
	 * a lookup holding them a moment ago.
	 */
	t->nid.hwm = hwm;
	for (uint32_t x = hwm - 1; x >= 1; x--)
		if (t->nstate[x] == NODE_FREE && vec_push(&t->nid.pend, x))
			return -ENOMEM;
	t->rid.hwm = rhwm;
	for (uint32_t id = rhwm - 1; id >= 1; id--) {
		if (t->rule_pt[id])
			continue;
		t->rules[id].family = 0;
		if (vec_push(&t->rid.pend, id))
			return -ENOMEM;
	}
	if (!t->prefixes && hwm == 1)
		return 0;
	parents_all(t, t->pt_root, 0, false);
	err = apply(t, &all, node_bound(t));
	if (!err)
		pr_debug("prefix table: adopted %zu prefixes and %u nodes", t->prefixes, hwm - 1);
	return err;
}

int prefix_table_open(const struct prefix_table_maps *maps, struct prefix_table **out)
{
	LIBBPF_OPTS(bpf_map_create_opts, mopts);
	struct prefix_table *t;
	uint32_t l1_entries, n_nodes, n_rules;
	size_t reg_size = 1;
	int err;

	*out = NULL;
	if ((maps->family != AF_INET && maps->family != AF_INET6) || maps->l1_bits < PREFIX_STRIDE ||
	    maps->l1_bits > 24 || maps->l1_bits % PREFIX_STRIDE)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->grace_outer = t->grace_inner = -1;
	t->family = maps->family;
	t->width = maps->family == AF_INET ? 32 : 128;
	t->l1_bits = maps->l1_bits;
	t->levels = PREFIX_LEVELS(t->width, t->l1_bits);

	t->l1 = map_mmap(maps->l1_fd, &t->l1_bytes, &l1_entries, sizeof(struct prefix_group), "l1");
	t->nodes = map_mmap(maps->nodes_fd, &t->nodes_bytes, &n_nodes, sizeof(struct prefix_node), "nodes");
	t->rules = map_mmap(maps->rules_fd, &t->rules_bytes, &n_rules, sizeof(struct prefix_rule), "rules");
	if (!t->l1 || !t->nodes || !t->rules) {
		err = -errno;
		goto fail;
	}
	if (l1_entries != 1u << (t->l1_bits - PREFIX_STRIDE)) {
		pr_warn("prefix table: l1 map has %u groups, l1_bits %u needs %u", l1_entries,
			t->l1_bits, 1u << (t->l1_bits - PREFIX_STRIDE));
		err = -EINVAL;
		goto fail;
	}
	if (n_nodes < 2 || n_rules < 2 || n_nodes > PREFIX_ID_MAX || n_rules > PREFIX_ID_MAX) {
		err = -EINVAL;
		goto fail;
	}
	t->nid.cap = n_nodes;
	t->nid.hwm = 1;
	t->rid.cap = n_rules;
	t->rid.hwm = 1;

	/* The grace-period primitive: an ARRAY_OF_MAPS whose updates wait for synchronize_rcu(). */
	t->grace_inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "prefix_grace_i", 4, 4, 1, NULL);
	if (t->grace_inner < 0) {
		err = pr_warn_errno(-errno, "prefix table: creating the grace map");
		goto fail;
	}
	mopts.inner_map_fd = t->grace_inner;
	t->grace_outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "prefix_grace", 4, 4, 1, &mopts);
	if (t->grace_outer < 0) {
		err = pr_warn_errno(-errno, "prefix table: creating the grace map");
		goto fail;
	}

	while (reg_size < 2 * (size_t)n_nodes)
		reg_size <<= 1;
	t->reg = calloc(reg_size, sizeof(*t->reg));
	t->reg_mask = (uint32_t)(reg_size - 1);
	t->nstate = calloc(n_nodes, 1);
	t->rule_pt = calloc(n_rules, sizeof(*t->rule_pt));
	t->pt_n = 1;
	if (!t->reg || !t->nstate || !t->rule_pt) {
		err = -ENOMEM;
		goto fail;
	}
	err = adopt(t);
	if (err)
		goto fail;
	*out = t;
	return 0;
fail:
	prefix_table_close(t);
	return err;
}

/* Takes the rule id for new trie node x (created by pt_insert), or fails with the trie as before. */
static int new_rule(struct prefix_table *t, uint32_t x, uint32_t *id)
{
	if (!pool_available(&t->rid) && t->rid.pend.n) {
		int err = prefix_table_reclaim(t);

		if (err)
			return err;
	}
	*id = pool_get(&t->rid);
	return *id ? 0 : -ENOSPC;
}

/* Removes rule id from trie node x and the trie (not from the kernel). */
static void unlink_rule(struct prefix_table *t, uint32_t x)
{
	__u64 key[2] = { t->pt[x].key[0], t->pt[x].key[1] };
	unsigned len = t->pt[x].len;

	t->pt[x].rule = 0;
	pt_remove(t, key, len);
}

int prefix_table_add(struct prefix_table *t, const struct cidr *c, const struct prefix_attrs *a,
		     uint32_t *idp)
{
	struct change ch = {};
	uint32_t x, id;
	int err;

	err = key_from_cidr(t, c, ch.k, &ch.len);
	if (err)
		return err;
	x = pt_insert(t, ch.k, ch.len);
	if (!x)
		return -ENOMEM;
	if (t->pt[x].rule) {
		rule_update(t, t->pt[x].rule, a);
		if (idp)
			*idp = t->pt[x].rule;
		return 0;
	}
	err = new_rule(t, x, &id);
	if (err) {
		pt_remove(t, ch.k, ch.len);
		return err;
	}
	rule_write(t, id, ch.k, ch.len, a, pt_parent_rule(t, ch.k, ch.len));
	t->pt[x].rule = id;
	t->rule_pt[id] = x;
	err = apply(t, &ch, single_bound(t));
	if (err) {
		/* -ENOSPC from the dry run: nothing was written. */
		t->rule_pt[id] = 0;
		unlink_rule(t, x);
		t->rules[id].family = 0;
		vec_push(&t->rid.free, id);
		return err;
	}
	/* Prefixes right below now fall back to this one when they expire. */
	relink_below(t, x, id);
	t->prefixes++;
	if (idp)
		*idp = id;
	return 0;
}

int prefix_table_delete(struct prefix_table *t, const struct cidr *c)
{
	struct change ch = {};
	uint32_t x, id, parent;
	int err;

	err = key_from_cidr(t, c, ch.k, &ch.len);
	if (err)
		return err;
	x = pt_find(t, ch.k, ch.len);
	if (!x || !t->pt[x].rule)
		return -ENOENT;
	id = t->pt[x].rule;
	parent = pt_parent_rule(t, ch.k, ch.len);
	/* First the children's fallback skips this rule, then the entries stop naming it. */
	relink_below(t, x, parent);
	t->rule_pt[id] = 0;
	unlink_rule(t, x);
	err = apply(t, &ch, single_bound(t));
	if (err) {
		/* Put it back as it was. */
		x = pt_insert(t, ch.k, ch.len);
		if (!x)
			return -ENOMEM;
		t->pt[x].rule = id;
		t->rule_pt[id] = x;
		relink_below(t, x, id);
		return err;
	}
	t->rules[id].family = 0;
	if (vec_push(&t->rid.pend, id))
		pr_warn("prefix table: out of memory, rule id %u leaks", id);
	t->prefixes--;
	return 0;
}

/* attrs[i * stride] for prefix c[i]: stride 0 gives every prefix attrs[0]. */
static int load(struct prefix_table *t, const struct cidr *c, size_t n,
		const struct prefix_attrs *attrs, size_t stride, size_t *skipped)
{
	struct change all = { .all = true };
	struct u32vec fresh = {}, dups = {}, fresh_at = {}, dups_at = {};
	struct sort_item *order;
	size_t skip = 0;
	bool small;
	int err = 0;

	order = sort_batch(t, c, n);
	if (!order)
		return -ENOMEM;
	/* 1: into the trie; new prefixes are marked PT_PENDING until they get an id. */
	for (size_t j = 0; j < n; j++) {
		size_t i = order[j].idx;
		__u64 key[2];
		unsigned len;
		uint32_t x;

		if (key_from_cidr(t, &c[i], key, &len)) {
			skip++;
			continue;
		}
		x = pt_insert(t, key, len);
		if (!x) {
			err = -ENOMEM;
			goto undo;
		}
		if (t->pt[x].rule == PT_PENDING)
			continue;
		if (t->pt[x].rule) {
			err = vec_push(&dups, t->pt[x].rule);
			if (!err)
				err = vec_push(&dups_at, (uint32_t)i);
		} else {
			t->pt[x].rule = PT_PENDING;
			err = vec_push(&fresh, x);
			if (!err)
				err = vec_push(&fresh_at, (uint32_t)i);
		}
		if (err)
			goto undo;
	}
	/* 2: rule ids for the new ones, or nothing. */
	if (pool_available(&t->rid) < fresh.n && t->rid.pend.n) {
		err = prefix_table_reclaim(t);
		if (err)
			goto undo;
	}
	if (pool_available(&t->rid) < fresh.n) {
		err = -ENOSPC;
		goto undo;
	}
	for (size_t i = 0; i < fresh.n; i++) {
		uint32_t x = fresh.v[i], id = pool_get(&t->rid);

		rule_write(t, id, t->pt[x].key, t->pt[x].len, attrs ? attrs + fresh_at.v[i] * stride : NULL, 0);
		t->pt[x].rule = id;
		t->rule_pt[id] = x;
	}
	if (!fresh.n)
		goto done;
	/* 3: room for the nodes, or nothing. */
	small = fresh.n * 64 < t->prefixes &&
		pool_available(&t->nid) >= fresh.n * single_bound(t);
	err = small ? 0 : reserve(t, &all, node_bound(t));
	if (err) {
		for (size_t i = 0; i < fresh.n; i++) {
			uint32_t x = fresh.v[i], id = t->pt[x].rule;

			t->rules[id].family = 0;
			t->rule_pt[id] = 0;
			vec_push(&t->rid.free, id);	/* never reachable */
			t->pt[x].rule = PT_PENDING;
		}
		goto undo;
	}
	/* 4: parents of everything (new rules, and old ones that gained a closer parent). */
	parents_all(t, t->pt_root, 0, false);
	/* 5: one pass over the whole table, or one per prefix for a batch that is small next to
	 * the table (each pass only visits the ranges its prefix meets). */
	if (small) {
		for (size_t i = 0; i < fresh.n && !err; i++) {
			struct change one = { .len = t->pt[fresh.v[i]].len };

			one.k[0] = t->pt[fresh.v[i]].key[0];
			one.k[1] = t->pt[fresh.v[i]].key[1];
			err = commit(t, &one);
		}
	} else {
		err = commit(t, &all);
	}
	if (err)
		goto out;
done:
	for (size_t i = 0; i < dups.n; i++)
		rule_update(t, dups.v[i], attrs ? attrs + dups_at.v[i] * stride : NULL);
	t->prefixes += fresh.n;
	if (skipped)
		*skipped = skip;
	goto out;
undo:
	for (size_t i = fresh.n; i-- > 0;)
		unlink_rule(t, fresh.v[i]);
out:
	free(order);
	free(fresh.v);
	free(dups.v);
	free(fresh_at.v);
	free(dups_at.v);
	return err;
}

int prefix_table_load(struct prefix_table *t, const struct cidr *c, size_t n,
		      const struct prefix_attrs *attrs, size_t *skipped)
{
	return load(t, c, n, attrs, 0, skipped);
}

int prefix_table_load_each(struct prefix_table *t, const struct cidr *c, size_t n,
			   const struct prefix_attrs *attrs, size_t *skipped)
{
	return load(t, c, n, attrs, 1, skipped);
}

int prefix_table_set_expiry(struct prefix_table *t, const struct cidr *c, uint64_t expires_ns)
{
	uint32_t id = prefix_table_find(t, c);

	if (!id)
		return -ENOENT;
	__atomic_store_n(&t->rules[id].expires_ns, expires_ns, __ATOMIC_RELEASE);
	return 0;
}

size_t prefix_table_expire(struct prefix_table *t, uint64_t now)
{
	size_t n = 0;

	for (uint32_t id = 1; id < t->rid.hwm; id++) {
		const struct prefix_rule *r = &t->rules[id];
		struct cidr c;
		__u64 exp = r->expires_ns;

		if (!t->rule_pt[id] || !exp || exp > now)
			continue;
		if (prefix_table_cidr(t, id, &c) && !prefix_table_delete(t, &c))
			n++;
	}
	return n;
}

int prefix_table_clear(struct prefix_table *t)
{
	struct change all = { .all = true };
	int err;

	for (uint32_t id = 1; id < t->rid.hwm; id++) {
		if (!t->rule_pt[id])
			continue;
		t->rule_pt[id] = 0;
		t->rules[id].family = 0;
		vec_push(&t->rid.pend, id);
	}
	t->pt_root = 0;
	t->pt_n = 1;
	t->pt_free.n = 0;
	t->pt_live = 0;
	t->prefixes = 0;
	err = apply(t, &all, 1);
	return err;
}

uint32_t prefix_table_find(const struct prefix_table *t, const struct cidr *c)
{
	__u64 key[2];
	unsigned len;
	uint32_t x;

	if (key_from_cidr(t, c, key, &len))
		return 0;
	x = pt_find(t, key, len);
	return x ? t->pt[x].rule : 0;
}

uint32_t prefix_table_match(const struct prefix_table *t, const uint8_t *addr)
{
	__u64 key[2];

	key_from_addr(t, addr, key);
	return pt_match(t, key);
}

uint32_t prefix_table_lookup(const struct prefix_table *t, const uint8_t *addr, uint64_t now,
			     uint32_t *entry)
{
	__u64 k[2];
	uint32_t e, id;

	key_from_addr(t, addr, k);
	e = get(&t->l1[l1_slot(t, k)]);
	for (unsigned i = 0; i < t->levels && IS_NODE(e); i++) {
		const struct prefix_node *n;

		if (NODE_IDX(e) >= t->nid.cap)
			return 0;
		n = &t->nodes[NODE_IDX(e)];
		if ((k[0] & n->mask[0]) != n->key[0] || (k[1] & n->mask[1]) != n->key[1]) {
			e = get(&n->fallback);
			break;
		}
		e = get(&n->slot[(k[n->word] >> n->shift) & (FANOUT - 1)]);
	}
	if (IS_NODE(e))
		e = 0;
	if (entry)
		*entry = e;
	id = e;
	for (unsigned hop = 0; hop < PREFIX_HOPS(t->width) && id && id < t->rid.cap; hop++) {
		__u64 exp = t->rules[id].expires_ns;

		if (!exp || now < exp)
			return id;
		id = t->rules[id].parent;
	}
	return 0;
}

const struct prefix_rule *prefix_table_rule(const struct prefix_table *t, uint32_t id)
{
	return id && id < t->rid.cap ? &t->rules[id] : NULL;
}

bool prefix_table_cidr(const struct prefix_table *t, uint32_t id, struct cidr *c)
{
	uint32_t x = id && id < t->rid.cap ? t->rule_pt[id] : 0;

	if (!x)
		return false;
	memset(c, 0, sizeof(*c));
	c->family = t->family;
	c->prefixlen = t->pt[x].len;
	key_to_addr(t, t->pt[x].key, c->addr);
	return true;
}

void prefix_table_stats(const struct prefix_table *t, struct prefix_table_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->prefixes = t->prefixes;
	s->nodes = pool_in_use(&t->nid);
	s->max_nodes = t->nid.cap - 1;
	s->rules = pool_in_use(&t->rid);
	s->max_rules = t->rid.cap - 1;
	s->kernel_bytes_used = t->l1_bytes + s->nodes * sizeof(struct prefix_node) +
			       s->rules * sizeof(struct prefix_rule);
	s->kernel_bytes_alloc = t->l1_bytes + t->nodes_bytes + t->rules_bytes;
	s->user_bytes = sizeof(*t) + (size_t)t->pt_cap * sizeof(struct pt_node) +
			t->pt_free.cap * 4 + (size_t)t->rid.cap * sizeof(*t->rule_pt) +
			((size_t)t->reg_mask + 1) * sizeof(*t->reg) + t->nid.cap +
			(t->nid.free.cap + t->nid.pend.cap + t->rid.free.cap + t->rid.pend.cap +
			 t->retired.cap) * 4;
	s->grace_waits = t->grace_waits;
}

int prefix_table_check(const struct prefix_table *t)
{
	struct prefix_table *w = (struct prefix_table *)t;	/* dry: nothing is written */
	struct change all = { .all = true };
	size_t live = 0, registered = 0, bad;
	int err;

	w->dry = true;
	w->dry_allocs = w->dry_stores = 0;
	err = pass(w, &all);
	w->dry = false;
	if (err)
		return err;
	if (w->dry_allocs || w->dry_stores) {
		pr_warn("prefix table check: %zu entries and %zu nodes differ from the canonical form",
			w->dry_stores, w->dry_allocs);
		return -EUCLEAN;
	}
	bad = parents_all(w, t->pt_root, 0, true);
	if (bad) {
		pr_warn("prefix table check: %zu rules have the wrong parent", bad);
		return -EUCLEAN;
	}
	for (uint32_t x = 1; x < t->nid.hwm; x++)
		live += t->nstate[x] == NODE_LIVE;
	for (uint32_t i = 0; i <= t->reg_mask; i++)
		registered += t->reg[i] != 0;
	if (live != registered || registered != t->reg_n) {
		pr_warn("prefix table check: %zu live nodes, %zu registered", live, registered);
		return -EUCLEAN;
	}
	return 0;
}
