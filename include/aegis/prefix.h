/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Prefix tables: longest-prefix match over IPv4 or IPv6 source addresses without an LPM trie.
 * Structs and constants shared by bpf/lib/prefix.h (the lookup) and src/prefix_table.c (the only
 * writer). One table = three BPF_F_MMAPABLE arrays that user space writes with plain stores:
 *
 *   <name>_l1     2^l1_bits entries (rule id, node pointer or 0) indexed by the top l1_bits of
 *                 the address, stored as groups of 16 (an mmapable array rounds every value up to
 *                 8 bytes, so single __u32 values would waste half the memory).
 *   <name>_nodes  path-compressed multibit trie nodes with a 4-bit stride. A node checks the
 *                 address against its key (all bits above `depth`) and then indexes bits
 *                 [depth, depth + 4); on a key mismatch the answer is its fallback. Entries are
 *                 leaf-pushed: every entry holds the answer for its whole range.
 *   <name>_rules  one record per prefix (index = rule id, 0 unused): attributes, hit counters,
 *                 expiry, and the rule id of the next shorter covering prefix in the same table,
 *                 so that an expired prefix falls back to its live parent in the kernel.
 *
 * Entry encoding (__u32): 0 = no prefix covers the range; PREFIX_NODE | index = go to that node;
 * anything else is a rule id.
 */
#ifndef AEGIS_PREFIX_H
#define AEGIS_PREFIX_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#define PREFIX_STRIDE 4
#define PREFIX_FANOUT (1 << PREFIX_STRIDE)
#define PREFIX_NODE 0x80000000u		/* entry flag: the rest is a node index */
#define PREFIX_ID_MAX 0x7fffffffu	/* rule ids and node indexes are 1..PREFIX_ID_MAX */

/* Node levels a lookup may walk below l1_bits: one per stride, at most. */
#define PREFIX_LEVELS(width, l1_bits) (((width) - (l1_bits)) / PREFIX_STRIDE)
/* Rules an expiry fallback may visit: one per possible prefix length, 0..width. */
#define PREFIX_HOPS(width) ((width) + 1)

/* prefix_rule.family: which table the record belongs to; 0 = slot not in use. */
#define PREFIX_FAMILY_V4 4
#define PREFIX_FAMILY_V6 6

/* <name>_l1 value: 16 consecutive first-level entries. */
struct prefix_group {
	__u32 slot[PREFIX_FANOUT];
};

/*
 * <name>_nodes value. Addresses are handled as two host-order 64-bit words, bits 0..63 in w[0]
 * (an IPv4 address sits in the top half of w[0]). Everything but fallback and slot[] is written
 * once, before the node is published, and never changes while the node is reachable.
 */
struct prefix_node {
	__u64 key[2];		/* address bits [0, depth), the rest zero */
	__u64 mask[2];		/* ones over bits [0, depth) */
	__u32 fallback;		/* entry for addresses of the parent range that miss key */
	__u8 depth;		/* bits [depth, depth + 4) select the slot; a multiple of 4 */
	__u8 shift;		/* right shift of the word holding those bits */
	__u8 word;		/* 0: w[0], 1: w[1] */
	__u8 __pad;
	__u32 slot[PREFIX_FANOUT];
};

/*
 * <name>_rules value. The first fields are laid out like struct guard_rule. The hit fields are the
 * datapath's (bpf/lib/prefix.h: counters by atomic adds, a CPU's run of hits on one rule added in
 * batches, see struct prefix_hits); user space writes the rest before the id becomes reachable,
 * and afterwards only expires_ns and parent (single aligned stores) while the rule is live.
 */
struct prefix_rule {
	__u64 created_ns;	/* CLOCK_REALTIME, for people */
	__u64 expires_ns;	/* CLOCK_BOOTTIME (bpf_ktime_get_boot_ns); 0 = never */
	__u64 hit_packets;	/* without the hits still pending on CPUs (struct prefix_hits) */
	__u64 hit_bytes;
	__u64 last_hit_ns;	/* CLOCK_BOOTTIME; lags, see prefix_rule_hit() */
	__u32 reason_id;
	__u8 origin;
	__u8 prefixlen;
	__u8 family;		/* PREFIX_FAMILY_*; 0 = free (user space only, never read by BPF) */
	__u8 stamp_due;		/* datapath: hits came in without a last_hit_ns; the next stamps */
	__u32 parent;		/* rule id of the next shorter covering prefix; 0 = none */
	/*
	 * Bumped by the writer each time it gives the id to a prefix (1 after the first; 0 in
	 * tables written before it existed): a CPU's pending hits name (id, gen), so that hits of a
	 * deleted prefix never land on the next prefix to get its id.
	 */
	__u32 gen;
	__u8 addr[16];		/* network byte order, host bits clear: lets a restart rebuild */
};

/*
 * Hits a CPU has counted for one rule of one table and not yet added to the rule's counters
 * (bpf/lib/prefix.h, prefix_rule_hit()): at most PREFIX_HIT_BATCH - 1 packets. Kept by the
 * program in a per-CPU map, one per table; a reader adds the ones naming (id, gen) of a rule to
 * its counters.
 */
#define PREFIX_HIT_BATCH 64

struct prefix_hits {
	__u32 id;		/* the rule; 0 = none */
	__u32 gen;		/* its gen when the run began */
	__u64 packets;		/* pending, 0..PREFIX_HIT_BATCH - 1 */
	__u64 bytes;
};

#ifndef __bpf__
_Static_assert(sizeof(struct prefix_group) == 64, "prefix_group layout");
_Static_assert(sizeof(struct prefix_node) == 104, "prefix_node layout");
_Static_assert(sizeof(struct prefix_rule) == 72, "prefix_rule layout");
_Static_assert(sizeof(struct prefix_hits) == 24, "prefix_hits layout");
#endif

#endif
