/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Longest-prefix match for the datapath without an LPM trie (layout: include/aegis/prefix.h).
 *
 *   PREFIX_TABLE(blk4, 32, 24, 1 << 20, 1 << 20);	// maps blk4_l1, blk4_nodes, blk4_rules
 *   __u64 now = 0;
 *   struct prefix_rule *rule;
 *   __u32 id = prefix_lookup_v4(blk4, saddr_be32, &now, &rule);	// 0: no live prefix
 *
 * A lookup is one first-level array read plus one node read per 4-bit level that the table
 * actually branches on (path compression skips the rest), then the rule record. The expiry of
 * that rule is checked here: an expired rule falls back to its parent (the next shorter covering
 * prefix of the same table), so an expired /32 inside a live /8 answers the /8.
 *
 * Readers take no lock. src/prefix_table.c publishes a new node or rule with a single aligned
 * 32-bit store after writing its contents, changes entries one 32-bit store at a time (each store
 * is right on its own for every address it covers), and reuses a node or rule id only after an
 * RCU grace period, so a lookup running across an update sees, for its address, the answer from
 * before or after the update and never a half-built node. Entries are read once (READ_ONCE-like
 * volatile loads) so the compiler cannot split a read into two that see different values.
 */
#ifndef AEGIS_BPF_PREFIX_H
#define AEGIS_BPF_PREFIX_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "aegis/prefix.h"

#define PREFIX_READ_ONCE(x) (*(volatile __typeof__(x) *)&(x))

/* The clock is read at most once per packet, and only when a rule with an expiry is found. */
static __always_inline __u64 prefix_now(__u64 *now)
{
	if (!*now)
		*now = bpf_ktime_get_boot_ns();
	return *now;
}

/*
 * The entry for address (w0, w1) (host order, see struct prefix_node): a rule id or 0.
 * levels bounds the walk; a well-formed table never needs more than PREFIX_LEVELS().
 */
static __always_inline __u32 prefix_walk(void *l1, void *nodes, __u32 l1_bits, __u32 levels,
					 __u64 w0, __u64 w1)
{
	__u32 idx = (__u32)(w0 >> (64 - l1_bits));
	__u32 grp = idx >> PREFIX_STRIDE;
	struct prefix_group *g;
	struct prefix_node *n;
	__u32 e, i;

	g = bpf_map_lookup_elem(l1, &grp);
	if (!g)
		return 0;
	e = PREFIX_READ_ONCE(g->slot[idx & (PREFIX_FANOUT - 1)]);
	for (i = 0; i < levels; i++) {
		__u64 w;

		if (!(e & PREFIX_NODE))
			return e;
		idx = e & ~PREFIX_NODE;
		n = bpf_map_lookup_elem(nodes, &idx);
		if (!n)
			return 0;
		/*
		 * Path compression: the node stands for one key; elsewhere the parent's answer.
		 * A node that indexes w[0] (depth < 64) has key[1] and mask[1] zero, so only w0
		 * is tested. Branching on the word is cheaper than selecting it without a
		 * branch (fewer instructions per level; bench/guard, bench/policy), and both
		 * ways end in the same state, so the verifier does not walk more of them.
		 */
		if (n->word) {
			w = w1;
			if (((w0 & n->mask[0]) ^ n->key[0]) | ((w1 & n->mask[1]) ^ n->key[1]))
				return PREFIX_READ_ONCE(n->fallback);
		} else {
			w = w0;
			if ((w0 & n->mask[0]) ^ n->key[0])
				return PREFIX_READ_ONCE(n->fallback);
		}
		e = PREFIX_READ_ONCE(n->slot[(w >> n->shift) & (PREFIX_FANOUT - 1)]);
	}
	return e & PREFIX_NODE ? 0 : e;
}

/* State of the expiry fallback, which runs under bpf_loop(). */
struct prefix_hop {
	__u64 now;
	__u32 id;	/* in: an expired rule; out: the first live parent, or 0 */
	__u32 __pad;
};

/* One step up the parent chain: 1 (stop) once h->id is live or 0. */
static __always_inline long prefix_hop(void *rules, struct prefix_hop *h)
{
	struct prefix_rule *r;
	__u64 exp;

	r = bpf_map_lookup_elem(rules, &h->id);
	h->id = r ? PREFIX_READ_ONCE(r->parent) : 0;
	if (!h->id)
		return 1;
	r = bpf_map_lookup_elem(rules, &h->id);
	if (!r) {
		h->id = 0;
		return 1;
	}
	exp = PREFIX_READ_ONCE(r->expires_ns);
	return !exp || prefix_now(&h->now) < exp;
}

/*
 * The live rule for entry id (a rule id or 0): id itself unless it expired, else its nearest
 * live parent. Returns the id and sets *rule, or returns 0. The fallback walks at most hops
 * rules (a chain is never longer than the number of prefix lengths) under bpf_loop(), so the
 * verifier checks it once instead of once per hop and per path that reaches it.
 */
static __always_inline __u32 prefix_resolve(void *rules, void *hop_cb, __u32 id, __u32 hops,
					    __u64 *now, struct prefix_rule **rule)
{
	struct prefix_hop h = {};
	struct prefix_rule *r;
	__u64 exp;

	*rule = NULL;
	if (!id)
		return 0;
	r = bpf_map_lookup_elem(rules, &id);
	if (!r)
		return 0;
	exp = PREFIX_READ_ONCE(r->expires_ns);
	if (!exp || prefix_now(now) < exp) {
		*rule = r;
		return id;
	}
	h.now = *now;
	h.id = id;
	bpf_loop(hops, hop_cb, &h, 0);
	*now = h.now;
	id = h.id;
	if (!id)
		return 0;
	*rule = bpf_map_lookup_elem(rules, &id);
	return *rule ? id : 0;
}

/*
 * name##_walk() is inlined: on hosts whose kernel returns through a mitigation thunk (AMD with
 * SRSO "Safe RET", retbleed) a BPF-to-BPF call costs about 10 ns. A program short of verifier
 * budget can define PREFIX_WALK_CALL before including this file to make it a global function
 * instead: verified once, and its callers see one return value rather than one state per way
 * out of its loop.
 */
#ifdef PREFIX_WALK_CALL
#define PREFIX_WALK_FN __attribute__((noinline))
#else
#define PREFIX_WALK_FN static __always_inline __attribute__((unused))
#endif

/*
 * Declares the three maps of one table. l1_bits: 4..24, a multiple of 4 (IPv4 block lists: 24,
 * i.e. 64 MiB; IPv6: 16..20; small allow lists: 16). max_nodes and max_rules are defaults that
 * user space may change with bpf_map__set_max_entries() before load. Map names get _l1, _nodes
 * and _rules appended: keep the name short (the kernel shows 15 characters). It also defines
 * name##_walk(), the table's walk (see PREFIX_WALK_CALL), and name##_hop(), the bpf_loop()
 * callback of its expiry fallback. width: 32 or 128.
 */
#define PREFIX_TABLE(name, width, l1b, max_nodes, max_rules)				\
	_Static_assert((l1b) >= PREFIX_STRIDE && (l1b) <= 24 && (l1b) % PREFIX_STRIDE == 0,	\
		       #name ": l1_bits must be 4..24, a multiple of 4");			\
	_Static_assert((width) == 32 || (width) == 128, #name ": width is 32 or 128");	\
	struct {									\
		__uint(type, BPF_MAP_TYPE_ARRAY);					\
		__uint(map_flags, BPF_F_MMAPABLE);					\
		__uint(max_entries, 1 << ((l1b) - PREFIX_STRIDE));			\
		__type(key, __u32);							\
		__type(value, struct prefix_group);					\
	} name##_l1 SEC(".maps");							\
	struct {									\
		__uint(type, BPF_MAP_TYPE_ARRAY);					\
		__uint(map_flags, BPF_F_MMAPABLE);					\
		__uint(max_entries, max_nodes);						\
		__type(key, __u32);							\
		__type(value, struct prefix_node);					\
	} name##_nodes SEC(".maps");							\
	struct {									\
		__uint(type, BPF_MAP_TYPE_ARRAY);					\
		__uint(map_flags, BPF_F_MMAPABLE);					\
		__uint(max_entries, max_rules);						\
		__type(key, __u32);							\
		__type(value, struct prefix_rule);					\
	} name##_rules SEC(".maps");							\
	enum { name##_l1_bits = (l1b), name##_width = (width) };			\
	static __attribute__((unused)) long name##_hop(__u32 i, struct prefix_hop *h)	\
	{										\
		return prefix_hop(&name##_rules, h);					\
	}										\
	PREFIX_WALK_FN __u32 name##_walk(__u64 w0, __u64 w1)				\
	{										\
		return prefix_walk(&name##_l1, &name##_nodes, (l1b),			\
				   PREFIX_LEVELS((width), (l1b)), w0, w1);		\
	}

/* Address words for the walk (see struct prefix_node): IPv4 in network byte order... */
static __always_inline __u64 prefix_w0_v4(__be32 addr)
{
	return (__u64)bpf_ntohl(addr) << 32;
}

/* ...and the two words of an IPv6 address, 16 bytes in network byte order. */
static __always_inline __u64 prefix_w_v6(const __u8 *addr, int i)
{
	__u64 w;

	__builtin_memcpy(&w, addr + 8 * i, 8);
	return bpf_be64_to_cpu(w);
}

/* The live rule for an address in table `name` (declared with PREFIX_TABLE): returns its id and
 * sets *rule, or returns 0. */
#define prefix_lookup_v4(name, addr_be32, now, rule)						\
	prefix_resolve(&name##_rules, name##_hop, name##_walk(prefix_w0_v4(addr_be32), 0),	\
		       PREFIX_HOPS(32), (now), (rule))

#define prefix_lookup_v6(name, addr16, now, rule)						\
	prefix_resolve(&name##_rules, name##_hop,						\
		       name##_walk(prefix_w_v6((addr16), 0), prefix_w_v6((addr16), 1)),	\
		       PREFIX_HOPS(128), (now), (rule))

/*
 * Hit accounting. A rule's counters are shared by all CPUs, and two CPUs adding to the same
 * counters pass their cache line back and forth: with two CPUs hitting one entry that cost the
 * whole hit path 1.05x-3x (docs/benchmarks.md), and a flood from one prefix spread over a NIC's
 * queues does exactly that. So a CPU counts a run of hits on one rule in its own struct
 * prefix_hits (one per CPU and table, in a per-CPU map of the program) and adds them to the rule
 * PREFIX_HIT_BATCH at a time:
 *
 *   - a run's first hit goes to the rule at once (so does every hit while a CPU alternates
 *     between rules: no worse than adding each hit);
 *   - its next hits are counted in the CPU's prefix_hits, and added as one batch with the hit
 *     that makes PREFIX_HIT_BATCH;
 *   - what is left is added when this CPU hits another rule of the same table, if the rule still
 *     holds the same prefix (gen; a deleted prefix's hits are dropped).
 *
 * A reader gets exact counts by adding the pending hits of every CPU that name (id, gen) to the
 * rule's; while packets are in flight it may be behind by up to PREFIX_HIT_BATCH - 1 packets per
 * CPU (their bytes too), never ahead, when it reads the rule before the pending hits.
 *
 * last_hit_ns: reading the clock costs more than the whole lookup (about 40 ns with return-thunk
 * mitigations), so a flood does not pay it per packet. It is stamped on a rule's first hit, on
 * every batch (the packet in hand is a hit), on a hit added alone that is the 64m+1st, and
 * whenever the packet read the clock anyway (an expiry check). Leftovers added when a CPU moves
 * on are not stamped (the time then is not theirs); if one of them is the 64m+1st, stamp_due
 * makes the rule's next first-of-a-run hit stamp. So it
 * lags the last hit by fewer than 64 hits plus 2 x PREFIX_HIT_BATCH per CPU (the old scheme,
 * every 64th hit of the shared count: fewer than 64).
 */
static __always_inline void prefix_hit_stamp(struct prefix_rule *rule, __u64 *now)
{
	rule->last_hit_ns = prefix_now(now);
	if (rule->stamp_due)
		rule->stamp_due = 0;
}

/* Adds a run's leftovers to its rule, unless the rule id went to another prefix since. */
static __always_inline void prefix_hits_flush(void *rules, struct prefix_hits *run)
{
	__u32 id = run->id;
	struct prefix_rule *r = bpf_map_lookup_elem(rules, &id);
	__u64 n = run->packets, seen;

	if (r && PREFIX_READ_ONCE(r->gen) == run->gen) {
		seen = __sync_fetch_and_add(&r->hit_packets, n);
		__sync_fetch_and_add(&r->hit_bytes, run->bytes);
		/* A hit counted as the 64m+1st, which a hit added alone would have stamped. */
		if ((seen + n + 63) >> 6 != (seen + 63) >> 6)
			r->stamp_due = 1;
	}
	run->packets = 0;
	run->bytes = 0;
}

/*
 * One hit of rule id (found in `rules`, the table's _rules map) with bytes; run: this CPU's
 * prefix_hits for the table. Use prefix_rule_hit().
 */
static __always_inline void prefix_hit(void *rules, struct prefix_rule *rule, __u32 id,
				       struct prefix_hits *run, __u64 bytes, __u64 *now)
{
	__u32 gen = PREFIX_READ_ONCE(rule->gen);
	__u64 seen;

	if (run->id == id && run->gen == gen) {
		if (run->packets < PREFIX_HIT_BATCH - 1) {
			run->packets++;
			run->bytes += bytes;
			return;
		}
		__sync_fetch_and_add(&rule->hit_packets, run->packets + 1);
		__sync_fetch_and_add(&rule->hit_bytes, run->bytes + bytes);
		run->packets = 0;
		run->bytes = 0;
		prefix_hit_stamp(rule, now);
		return;
	}
	if (run->packets)
		prefix_hits_flush(rules, run);
	run->id = id;
	run->gen = gen;
	seen = __sync_fetch_and_add(&rule->hit_packets, 1);
	__sync_fetch_and_add(&rule->hit_bytes, bytes);
	if (!(seen & 63) || *now || rule->stamp_due)
		prefix_hit_stamp(rule, now);
}

/*
 * One hit added to the rule's shared counters at once, for a program without per-CPU runs (tests):
 * the contended way, see above.
 */
static __always_inline void prefix_rule_hit_each(struct prefix_rule *rule, __u64 bytes, __u64 *now)
{
	__u64 seen = __sync_fetch_and_add(&rule->hit_packets, 1);

	__sync_fetch_and_add(&rule->hit_bytes, bytes);
	if (!(seen & 63) || *now || rule->stamp_due)
		prefix_hit_stamp(rule, now);
}

/* A hit of the rule prefix_lookup_*(name, ...) returned (id, *rule); run as for prefix_hit(). */
#define prefix_rule_hit(name, rule, id, run, bytes, now) \
	prefix_hit(&name##_rules, (rule), (id), (run), (bytes), (now))

#endif
