/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Network policy enforcement: structs and constants shared by bpf/policy.bpf.c and the agent
 * (src/policy*.c). Every map value is a named struct with explicit padding, sizes pinned by
 * _Static_assert.
 *
 * Generations. Two copies (slots 0 and 1) of everything a decision reads live side by side in
 * the maps: the agent compiles a policy into the slot not in use, reads it back, and then
 * switches with one aligned 32-bit store to pol_ctl (ctl = generation << 1 | slot). Each program
 * run reads ctl once and takes every later lookup from that slot, so a packet is decided wholly by
 * one generation. The other slot keeps the previous generation for `aegis policy rollback`.
 *
 * The decision for a packet of a ruleset (one policy, one direction), without a loop over rules:
 *
 *   peer address --prefix table (slot's pol_a4/pol_b4, pol_a6/pol_b6)--> class C (0: no prefix)
 *   ruleset row[C]                                      --> A: the rules of the ruleset whose
 *                                                           peers cover the address, as a record
 *   A.pk[kind of packet] --uniform, one port, one range, or--> port table --> k
 *   A.list[k]                                           --> rule word (k = 0: the default)
 *
 * A port table has three levels: l2[port >> 12] -> l1[(port >> 8) & 15] -> leaf[port & 255];
 * a cell with POLICY_CELL_FLAG holds k for its whole block, else the offset of the next level.
 *
 * and the same port walk over the ruleset's own entries for its rules without peers (they match
 * every address, so they are kept out of the A records, which would otherwise all carry them);
 * of the two words, the lower rule index wins. Rule indices are ranks (deny rules before allow
 * rules, then file order, the default last), so that is the rule the file says decides.
 *
 * All of it in pol_cells, an array of 32-bit cells (16 to a map value), so every step is an
 * array read the verifier inlines. Port tables hold list positions k, not rules, so records with
 * the same pattern of ports share them.
 */
#ifndef AEGIS_POLICY_H
#define AEGIS_POLICY_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* pol_ifaces is an array over ifindex 0..POLICY_MAX_IFINDEX-1; bigger ones live in pol_ifaces_big. */
#define POLICY_MAX_IFINDEX 4096
#define POLICY_IFACES_BIG_MAX 256
#define POLICY_SLOTS 2
/* Cgroup levels walked to find the nearest selected ancestor of a socket's cgroup. */
#define POLICY_MAX_CGROUP_LEVEL 32
#define POLICY_CGCACHE_MAX 16384
#define POLICY_EVENTS_DEFAULT (1 << 20)	/* pol_events ring buffer bytes */
#define POLICY_EVENTS_PER_SEC_DEFAULT 1000

/* Rule words and cell flags. */
#define POLICY_CELL_FLAG 0x80000000u	/* entry or table cell: k follows; rule word: deny */
#define POLICY_CELL_VALUE 0x7fffffffu
/*
 * A pk entry with POLICY_CELL_FLAG and POLICY_ENTRY_ONE_PORT: one port (bits 0..15) has list
 * position k_hit (bits 16..22), every other port k_miss (bits 23..29). The most common record
 * (one rule on one port for a peer) then needs no port table at all.
 */
#define POLICY_ENTRY_ONE_PORT 0x40000000u
#define POLICY_ENTRY_K_MAX 0x7fu
/*
 * A pk entry with POLICY_ENTRY_ONE_RANGE and not POLICY_CELL_FLAG: one port range has k_hit,
 * every other port k_miss, in the two cells at the offset in bits 0..29: [lo | hi << 16],
 * [k_hit | k_miss << 16]. Without it, every rule with its own range would need its own tables.
 */
#define POLICY_ENTRY_ONE_RANGE 0x40000000u
#define POLICY_ENTRY_OFFSET 0x3fffffffu
#define POLICY_CELLS_PER_GROUP 16
#define POLICY_PORT_FANOUT 16		/* cells of a port table's upper two levels */
#define POLICY_PORT_LEAF 256		/* cells of a leaf: one per port */

/* Kinds of packet, by L4 protocol: the index into an A record's pk entries. */
#define POLICY_PKS(X)            \
	X(TCP, "tcp")            \
	X(UDP, "udp")            \
	X(ICMP, "icmp")          \
	X(ICMPV6, "icmpv6")      \
	X(OTHER, "other")

#define POLICY_PK_ENUM(id, name) POLICY_PK_##id,
enum policy_pk { POLICY_PKS(POLICY_PK_ENUM) POLICY_PK_COUNT };
#undef POLICY_PK_ENUM

#define POLICY_DIR_INGRESS 0
#define POLICY_DIR_EGRESS 1

#define POLICY_MODE_OBSERVE 0
#define POLICY_MODE_BLOCK 1

/* What happened to a packet (or a connect/sendmsg). X-macro: enum and names for JSON. */
#define POLICY_VERDICTS(X)               \
	X(ALLOW, "allow")                \
	X(DENY, "deny")                  \
	X(WOULD_DENY, "would_deny")      \
	X(REPLY, "reply")

#define POLICY_VERDICT_ENUM(id, name) POLICY_VERDICT_##id,
enum policy_verdict { POLICY_VERDICTS(POLICY_VERDICT_ENUM) POLICY_VERDICT_COUNT };
#undef POLICY_VERDICT_ENUM

/* Where a decision was made. */
#define POLICY_HOOKS(X)                     \
	X(TC_INGRESS, "tc_ingress")         \
	X(CGROUP_EGRESS, "cgroup_egress")   \
	X(CONNECT4, "connect4")             \
	X(CONNECT6, "connect6")             \
	X(SENDMSG4, "sendmsg4")             \
	X(SENDMSG6, "sendmsg6")

#define POLICY_HOOK_ENUM(id, name) POLICY_HOOK_##id,
enum policy_hook { POLICY_HOOKS(POLICY_HOOK_ENUM) POLICY_HOOK_COUNT };
#undef POLICY_HOOK_ENUM

/* pol_ctl[0] (ARRAY, BPF_F_MMAPABLE): the one word that switches generations. */
struct policy_ctl {
	__u32 ctl;		/* generation << 1 | slot; 0: no policy (everything passes) */
	__u32 __pad;
};

/*
 * Capacities per slot, set between open and load (rodata); the maps are sized from the same
 * numbers (twice over for the slotted ones).
 */
struct policy_caps {
	__u32 rules;		/* rule words, counters: rules of every policy + 2 defaults each */
	__u32 cell_groups;	/* pol_cells values (16 cells each) */
	__u32 rulesets;
	__u32 policies;
};

/* pol_settings[0]: knobs the agent writes; looked up per packet, never cached. */
struct policy_settings {
	__u32 dry_run;			/* 1: every policy observes, whatever its mode */
	__u32 events_per_sec;		/* per CPU; 0 = POLICY_EVENTS_PER_SEC_DEFAULT */
	__u32 events_burst;		/* 0 = events_per_sec */
	__u32 __pad;
	/* A reply is allowed while its flow was seen within (0 = the defaults below): */
	__u64 flow_timeout_tcp_ns;
	__u64 flow_timeout_udp_ns;
	__u64 flow_timeout_other_ns;
};

#define POLICY_FLOW_TIMEOUT_TCP_NS (5ULL * 86400 * 1000000000ULL)	/* as conntrack: 5 days */
#define POLICY_FLOW_TIMEOUT_UDP_NS (120ULL * 1000000000ULL)
#define POLICY_FLOW_TIMEOUT_OTHER_NS (30ULL * 1000000000ULL)
/* A flow entry is rewritten at most this often by packets that find it fresh. */
#define POLICY_FLOW_REFRESH_NS 1000000000ULL

/* pol_ifaces / pol_ifaces_big (by ifindex) and pol_cgroups (by cgroup id): the ruleset + 1 per slot. */
struct policy_sel {
	__u32 rs[POLICY_SLOTS];	/* 0: not selected in that slot */
};

/* pol_cgcache (LRU, by the socket's cgroup id): its nearest selected ancestor, per ctl. */
struct policy_cgcache {
	__u32 ctl;		/* the ctl this answer belongs to */
	__u32 rs;		/* ruleset + 1, 0: none */
	__u64 sel_cgid;		/* the selected ancestor (0: none) */
};

/* pol_rulesets[slot * caps.rulesets + i]. */
struct policy_ruleset {
	__u32 policy;		/* index into pol_modes within the slot */
	__u32 direction;	/* POLICY_DIR_* */
	/*
	 * Cell offset of the row by IPv4 / IPv6 address class, or POLICY_CELL_FLAG | A when every
	 * address of that family has the same rules (no rule names a prefix of it).
	 */
	__u32 row4;
	__u32 row6;
	__u32 default_word;	/* rule word of the default (also for a malformed packet) */
	/*
	 * The ruleset's rules without peers, as an A record kept here, so that a ruleset without
	 * such rules costs no cell read: their port entry per kind of packet, and where their list
	 * is (list[k] at cell any_list + k; k = 0 is the default, read from default_word).
	 */
	__u32 any_list;
	__u32 any_pk[POLICY_PK_COUNT];
	__u32 __pad[5];
};

/* pol_counters (PERCPU_ARRAY) [slot * caps.rules + rule]: packets = the four outcomes summed. */
struct policy_counters {
	__u64 packets;
	__u64 bytes;
	__u64 allowed;
	__u64 denied;		/* block mode; a refused connect()/sendmsg() counts one, 0 bytes */
	__u64 would_deny;	/* observe mode (or dry run) */
	__u64 replies;		/* would be denied, but a reply of a flow this host allowed */
};

/* pol_stats[0] (PERCPU_ARRAY): what no rule counter shows, and the event stream's own state. */
struct policy_stats {
	__u64 non_ip;		/* passed undecided (ARP, ...) */
	__u64 malformed;	/* decided by the ruleset's default */
	__u64 unselected;	/* hook ran where the generation in force selects no policy */
	__u64 ndp;		/* ICMPv6 neighbour and multicast listener discovery: always passed */
	__u64 flows_recorded;	/* flow-table writes */
	__u64 events_sent;
	__u64 events_capped;	/* held back by the per-CPU events/s bucket */
	__u64 events_lost;	/* the ring buffer was full */
	/* The per-CPU token bucket of events (GUARD_RL_SCALE per event). */
	__u64 ev_tokens;
	__u64 ev_last_ns;
	/*
	 * bpf_ktime_get_coarse_ns() cached for the jiffy it was read in: a packet then pays an
	 * inlined jiffies load, not a helper call (as the guard does, bpf/guard.bpf.c).
	 */
	__u64 clock_jiffies;
	__u64 clock_ns;
};

/*
 * pol_flows_out (written by TC egress on selected interfaces, read by TC ingress) and
 * pol_flows_in (written by cgroup_skb ingress on selected cgroups, read by egress): a packet the
 * rules deny is let through as a reply when the reverse flow was seen recently. The local address
 * is not in the key, so the sendmsg hook (which may not know it yet) can ask too.
 */
struct policy_flow_key {
	__u8 peer[16];		/* network byte order; IPv4 in [0..3] */
	__be16 peer_port;	/* TCP/UDP ports; ICMP echo: the identifier on both */
	__be16 local_port;
	__u8 family;		/* 2 or 10 */
	__u8 proto;
	__u8 __pad[2];
};

struct policy_flow {
	__u64 last_ns;		/* bpf_ktime_get_coarse_ns */
};

/* pol_owners (SK_STORAGE): who made the socket, for egress events sent outside its context. */
struct policy_owner {
	__u32 pid;		/* thread id */
	__u32 tgid;
	char comm[16];
};

/* pol_events (RINGBUF): one record per deny / would-deny decision, rate-limited per CPU. */
struct policy_event {
	__u64 ts_ns;		/* CLOCK_BOOTTIME */
	__u64 cgroup_id;	/* egress: the socket's cgroup */
	__u64 sel_cgroup_id;	/* egress: the selected cgroup that made the policy apply */
	__u32 generation;
	__u32 rule;		/* rule index within the generation (the agent names it) */
	__u32 ruleset;
	__u32 ifindex;		/* ingress: the interface */
	__u32 pid;		/* egress */
	__u32 tgid;
	__u32 pkt_len;		/* 0 for a connect()/sendmsg() */
	__u8 family;
	__u8 proto;
	__u8 direction;		/* POLICY_DIR_* */
	__u8 verdict;		/* enum policy_verdict */
	__u8 mode;		/* POLICY_MODE_* in force (dry run: observe) */
	__u8 hook;		/* enum policy_hook */
	__be16 sport;
	__be16 dport;
	__u8 __pad[2];
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[16];
};

/* pol_cells value: 16 cells, so that an array of them wastes nothing on rounding. */
struct policy_cells {
	__u32 v[POLICY_CELLS_PER_GROUP];
};

#ifndef __bpf__
_Static_assert(sizeof(struct policy_cells) == 64, "policy_cells layout");
_Static_assert(sizeof(struct policy_ctl) == 8, "policy_ctl layout");
_Static_assert(sizeof(struct policy_caps) == 16, "policy_caps layout");
_Static_assert(sizeof(struct policy_settings) == 40, "policy_settings layout");
_Static_assert(sizeof(struct policy_sel) == 8, "policy_sel layout");
_Static_assert(sizeof(struct policy_cgcache) == 16, "policy_cgcache layout");
_Static_assert(sizeof(struct policy_ruleset) == 64, "policy_ruleset layout");
_Static_assert(sizeof(struct policy_counters) == 48, "policy_counters layout");
_Static_assert(sizeof(struct policy_stats) == 96, "policy_stats layout");
_Static_assert(sizeof(struct policy_flow_key) == 24, "policy_flow_key layout");
_Static_assert(sizeof(struct policy_flow) == 8, "policy_flow layout");
_Static_assert(sizeof(struct policy_owner) == 24, "policy_owner layout");
_Static_assert(sizeof(struct policy_event) == 112, "policy_event layout");
#endif

#endif
