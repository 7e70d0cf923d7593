/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The XDP guard: structs and constants shared by bpf/guard.bpf.c and src/guard.c.
 * Every map value is a named struct with explicit padding; sizes are pinned by _Static_assert so
 * a change that would break adoption of pinned maps fails the build instead.
 */
#ifndef AEGIS_GUARD_H
#define AEGIS_GUARD_H

#ifndef __bpf__
#include <linux/types.h>
#endif
#include "aegis/prefix.h"

#define GUARD_MAX_IFACES 64		/* counter slots; slot 0 counts unconfigured interfaces */
#define GUARD_MAX_IFINDEX 4096		/* guard_ifaces is an array over ifindex 0..GUARD_MAX_IFINDEX-1 */
#define GUARD_IFACES_BIG_MAX GUARD_MAX_IFACES	/* guard_ifaces_big: ifindexes >= GUARD_MAX_IFINDEX */
#define GUARD_ALLOW_V4_DEFAULT 65536
#define GUARD_ALLOW_V6_DEFAULT 16384
#define GUARD_BLOCK_V4_DEFAULT 1000000
#define GUARD_BLOCK_V6_DEFAULT 250000
#define GUARD_BLOCK_SCOPED_V4_DEFAULT 65536
#define GUARD_BLOCK_SCOPED_V6_DEFAULT 16384
#define GUARD_RL_STATE_DEFAULT 65536	/* guard_rl_state: (source, class) buckets, LRU-evicted */
#define GUARD_TOP_DEFAULT 65536		/* guard_top: sources, LRU-evicted */
#define GUARD_TOP_EVERY_DEFAULT 32	/* guard.top.sample_every */
#define GUARD_EVENTS_DEFAULT (1 << 20)	/* guard_events ring buffer bytes (a power of 2, >= 4096) */
#define GUARD_MAX_VLAN_DEPTH 2
#define GUARD_MAX_IPV6_EXT 6		/* extension headers walked before giving up (malformed) */

/* Per-interface mode, switchable at run time by a map write. */
#define GUARD_MODE_OBSERVE_V 0
#define GUARD_MODE_BLOCK_V 1

/*
 * Why the guard dropped (or in observe mode would have dropped) a packet. X-macro: one list gives
 * the enum and the names used in logs, JSON and metrics.
 */
#define GUARD_REASONS(X)                                    \
	X(NONE, "none")                                     \
	X(BLOCKLIST, "blocklist")                           \
	X(MALFORMED_ETH, "malformed_eth")                   \
	X(MALFORMED_VLAN, "malformed_vlan")                 \
	X(MALFORMED_IPV4, "malformed_ipv4")                 \
	X(MALFORMED_IPV6, "malformed_ipv6")                 \
	X(MALFORMED_IPV6_EXT, "malformed_ipv6_ext")         \
	X(MALFORMED_TCP, "malformed_tcp")                   \
	X(MALFORMED_UDP, "malformed_udp")                   \
	X(MALFORMED_ICMP, "malformed_icmp")                 \
	X(FRAGMENT, "fragment")                             \
	X(RATE_LIMIT, "rate_limit")

#define GUARD_REASON_ENUM(id, name) GUARD_REASON_##id,
enum guard_reason { GUARD_REASONS(GUARD_REASON_ENUM) GUARD_REASON_COUNT };
#undef GUARD_REASON_ENUM

/* What to do with a malformed packet / a non-first fragment (it carries no ports) in block mode. */
#define GUARD_ACTION_DROP 0
#define GUARD_ACTION_PASS 1

/*
 * guard_ifaces: ARRAY indexed by ifindex (< GUARD_MAX_IFINDEX), so the per-packet lookup is an
 * address computation the verifier inlines, not a hash. An ifindex >= GUARD_MAX_IFINDEX (container
 * hosts go there) is looked up in the HASH guard_ifaces_big instead, only by packets from such
 * an interface. An array cannot delete: a zeroed entry (slot 0) means "unconfigured interface"
 * to the datapath, which counts the packet in slot 0 and passes it.
 */
struct guard_iface {
	__u32 mode;		/* GUARD_MODE_*_V */
	__u32 slot;		/* index into guard_counters, 1..GUARD_MAX_IFACES-1; 0 (or out of
				 * range) = unconfigured */
};

/* What guard_settings.rl_prefix_* mean when 0 (what an agent that does not know them writes). */
#define GUARD_RL_PREFIX_V4_DEFAULT 32
#define GUARD_RL_PREFIX_V6_DEFAULT 64
#define GUARD_SAMPLE_MAX_PER_SEC_DEFAULT 1000

/*
 * guard_settings[0]: datapath-wide knobs the agent writes. Every field appended after the first
 * two reads 0 as "off" or "the default", so an agent writing a shorter, zero-filled struct gets
 * the documented defaults. Looked up where used, never cached (an inlined array read): a map
 * write takes effect with the next packet.
 */
struct guard_settings {
	__u32 malformed_action;		/* GUARD_ACTION_* */
	__u32 later_fragment_action;	/* GUARD_ACTION_* */
	/*
	 * The source prefix one rate-limit bucket covers: IPv4 1..32 (0 = 32), IPv6 1..128
	 * (0 = 64, one subnet, since a single host owns a whole /64). Larger values are clamped. A
	 * change takes effect for new buckets at once; the key records the prefix length, so old
	 * buckets are never matched again and age out of the LRU.
	 */
	__u32 rl_prefix_v4;
	__u32 rl_prefix_v6;
	/*
	 * Drop records: one in sample_every dropped or would-dropped packets (counted per CPU) goes
	 * to guard_events; 0 = none. On top of that, a per-CPU token bucket lets at most
	 * sample_max_per_sec records per second per CPU through (0 = the default 1000), with a depth
	 * of sample_burst records (0 = sample_max_per_sec; at least GUARD_RL_MIN_DEPTH_NS of the
	 * rate), so a flood cannot swamp the agent.
	 */
	__u32 sample_every;
	__u32 sample_max_per_sec;
	__u32 sample_burst;
	/*
	 * GUARD_EMPTY_* bits: the agent's word that these list maps hold no entry at all, so the
	 * datapath skips their lookups (a prefix-table walk or an LPM call each: ~11 ns for an IPv4
	 * miss with the allow lists empty, docs/benchmarks.md). 0, the
	 * default, looks every list up. The agent clears a bit before it writes the list's first
	 * entry and sets it only after deleting the last one; a bit set over a non-empty list makes
	 * its entries invisible.
	 */
	__u32 empty_lists;
	/*
	 * Top talkers: one in top_every packets per CPU (0 = off) is charged, times top_every, to its
	 * source prefix (rl_prefix_*) in guard_top, by verdict. A sample, not a count: a source must
	 * send about top_every packets to show up, and its figures are estimates.
	 */
	__u32 top_every;
	__u32 __pad;
};

#define GUARD_EMPTY_ALLOW_V4 (1U << 0)
#define GUARD_EMPTY_ALLOW_V6 (1U << 1)
#define GUARD_EMPTY_BLOCK_V4 (1U << 2)
#define GUARD_EMPTY_BLOCK_V6 (1U << 3)
#define GUARD_EMPTY_BLOCK_SCOPED_V4 (1U << 4)
#define GUARD_EMPTY_BLOCK_SCOPED_V6 (1U << 5)

/* guard_counters: per-CPU, one slot per interface; user space sums the CPUs. */
struct guard_counters {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 passed;
	__u64 dropped;
	__u64 would_drop;	/* observe mode: what block mode would have dropped */
	__u64 non_ip;		/* ARP and other non-IP ethertypes: always passed */
	__u64 malformed;
	__u64 fragments;	/* any IPv4/IPv6 fragment */
	__u64 blocked_by_list;
	__u64 allowed_by_list;
	__u64 by_reason[GUARD_REASON_COUNT];
	__u64 __pad;
	/* Appended fields. */
	__u64 rate_limited;	/* block mode: dropped by a rate limit (by_reason counts observe too) */
	__u64 events_sampled;	/* drop records written to guard_events */
	__u64 events_capped;	/* sampled, but held back by the per-CPU records/s cap */
	__u64 events_lost;	/* sampled and let through, but the ring buffer was full */
	__u64 __pad2;		/* size a multiple of 16 with GUARD_REASON_COUNT = 12 */
};

/*
 * LPM trie keys: prefixlen first, address in network byte order. The guard's lists are prefix
 * tables (include/aegis/prefix.h); these are the keys of the LPM baseline the benchmarks and the
 * prefix-table tests compare with.
 */
struct guard_lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct guard_lpm_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Who put an entry in a list. */
#define GUARD_ORIGINS(X)     \
	X(CLI, "cli")        \
	X(CONFIG, "config")  \
	X(FILE, "file")      \
	X(AUTO, "auto")

#define GUARD_ORIGIN_ENUM(id, name) GUARD_ORIGIN_##id,
enum guard_origin { GUARD_ORIGINS(GUARD_ORIGIN_ENUM) GUARD_ORIGIN_COUNT };
#undef GUARD_ORIGIN_ENUM

/*
 * A block/allow list entry. The expiry is enforced in the kernel (an expired entry is a miss), so
 * a block ends on time even while the agent is down; the agent only garbage-collects.
 */
struct guard_rule {
	__u64 created_ns;	/* CLOCK_REALTIME, for people */
	__u64 expires_ns;	/* CLOCK_BOOTTIME (bpf_ktime_get_boot_ns); 0 = never */
	__u64 hit_packets;	/* updated with atomic adds: the value is shared by all CPUs */
	__u64 hit_bytes;
	__u64 last_hit_ns;	/* CLOCK_BOOTTIME */
	__u32 reason_id;	/* index into the agent's reason strings (state dir) */
	__u8 origin;		/* enum guard_origin */
	/*
	 * The entry's address prefix length, written by the agent (for a scoped entry: the address
	 * bits, not the key's 24 + address bits). Carried into drop records: an LPM lookup returns
	 * the value, never the key that matched. Was padding: old entries read 0.
	 */
	__u8 prefixlen;
	__u8 __pad[2];
};

/*
 * Protocol/port-scoped block lists (guard_block_scoped_v4/_v6, LPM tries, BPF_F_NO_PREALLOC,
 * value struct guard_rule): "block 198.51.100.0/24 udp port 53". The key's data is
 * proto (8 bits), destination port (16 bits, network byte order), then the source address, one
 * contiguous bit string, so that
 *
 *	prefixlen = 24 + address prefix length
 *
 * covers protocol and port exactly and then the first address bits. Protocol and port are
 * therefore always exact (an entry cannot say "any port" and a CIDR at once: that is the
 * unscoped list). The datapath looks an entry up with prefixlen 24 + 32 (or + 128), only for
 * TCP and UDP packets that carry their header (not later fragments), and only when the allow
 * list and the unscoped block list missed. The trailing pad bytes lie beyond every prefix the
 * datapath looks up and must be 0. They make the key's data (all but prefixlen) a multiple of 8
 * bytes: an LPM trie node stores the value right after the key's data, and a guard_rule at 4 mod
 * 8 would put its atomically updated __u64 counters across cache lines in some nodes (a split
 * lock, ~2 us per packet on the reference VM; docs/benchmarks.md).
 */
struct guard_lpm_scoped_v4 {
	__u32 prefixlen;	/* 24 + 0..32 */
	__u8 proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 port[2];		/* destination port, big-endian: port[0] = high byte */
	__u8 addr[4];
	__u8 __pad;
};

struct guard_lpm_scoped_v6 {
	__u32 prefixlen;	/* 24 + 0..128 */
	__u8 proto;
	__u8 port[2];
	__u8 addr[16];
	__u8 __pad[5];
};

#define GUARD_SCOPED_KEY_BITS 24	/* proto + port, ahead of the address in a scoped key */

/*
 * Per-source rate limits. Each packet that neither list decided belongs to one class by its
 * L4 protocol (TCP_SYN: SYN without ACK; UDP; ICMP: ICMP and ICMPv6) and to ALL. It is checked
 * against its class's limit, then against ALL's, each only when configured; the first bucket
 * that is out of credit drops it (observe mode: would_drop), reason RATE_LIMIT. X-macro, the
 * index into guard_rl_limits and guard_rl_key.rl_class.
 */
#define GUARD_RL_CLASSES(X)       \
	X(TCP_SYN, "tcp_syn")     \
	X(UDP, "udp")             \
	X(ICMP, "icmp")           \
	X(ALL, "all")

#define GUARD_RL_CLASS_ENUM(id, name) GUARD_RL_##id,
enum guard_rl_class { GUARD_RL_CLASSES(GUARD_RL_CLASS_ENUM) GUARD_RL_CLASS_COUNT };
#undef GUARD_RL_CLASS_ENUM

/*
 * guard_rl_limits[class] (ARRAY, GUARD_RL_CLASS_COUNT entries): one token bucket per source
 * prefix per class. A rate of 0 turns that dimension off; a class with both rates 0 costs
 * nothing per packet. Rates and bursts above GUARD_RL_MAX (2^32 - 1, i.e. 34 Gbit/s in bytes)
 * are clamped to it. Bytes are frame bytes as XDP sees them (Ethernet header on, FCS off), as in
 * rx_bytes; burst_bytes below the frame size drops every frame of that size.
 */
struct guard_rl_limit {
	__u64 pps;		/* packets per second; 0 = no packet limit */
	__u64 bps;		/* bytes per second; 0 = no byte limit */
	__u64 burst_packets;	/* bucket depth in packets; 0 = pps (one second's worth) */
	__u64 burst_bytes;	/* bucket depth in bytes; 0 = bps */
};

#define GUARD_RL_MAX 0xffffffffULL
#define GUARD_RL_SCALE 1000000000ULL	/* bucket units per packet or byte (see guard_rl_state) */
/*
 * A bucket holds at least this much of its rate, whatever its burst: the rate limiter's clock
 * moves once per kernel tick (1-10 ms, see guard_rl_state), so a shallower bucket would overflow
 * between two ticks and cut the rate itself.
 */
#define GUARD_RL_MIN_DEPTH_NS 10000000ULL
#define GUARD_RL_STREAK_GAP_NS 1000000000ULL	/* over-limit packets closer than this: one streak */
#define GUARD_RL_WINDOW_NS 1000000000ULL	/* last_rate_* are measured over windows >= 1 s */

/*
 * guard_top (LRU_HASH, GUARD_TOP_DEFAULT entries), keyed by struct guard_rl_key with rl_class 0:
 * sampled per-source traffic by what the guard did with it (see guard_settings.top_every). The
 * agent reads it every second and turns the differences into rates for `aegis top`.
 */
enum guard_top_verdict { GUARD_TOP_PASSED, GUARD_TOP_DROPPED, GUARD_TOP_WOULD_DROP, GUARD_TOP_VERDICTS };

struct guard_top_stats {
	__u64 packets[GUARD_TOP_VERDICTS];	/* estimates: sampled packets times top_every */
	__u64 bytes[GUARD_TOP_VERDICTS];
	__u64 last_ns;				/* CLOCK_MONOTONIC_COARSE of the last sample */
	__u64 __pad;
};

/* guard_rl_state key: the source prefix (address masked to prefixlen) and the class. */
struct guard_rl_key {
	__u8 family;		/* 2 (AF_INET) or 10 (AF_INET6) */
	__u8 rl_class;		/* enum guard_rl_class */
	__u8 prefixlen;		/* the guard_settings.rl_prefix_* in force when it was created */
	__u8 __pad;
	__u8 addr[16];		/* network byte order, host bits zeroed; IPv4 in addr[0..3] */
};

/*
 * guard_rl_state (LRU_HASH, GUARD_RL_STATE_DEFAULT entries): one bucket per key. The agent
 * scans it to auto-block sources that stay over their limit and to show top talkers; it may
 * delete entries, never needs to write them.
 *
 * Bucket: credit in units of 1/GUARD_RL_SCALE packet (or byte), so that a refill over elapsed
 * ns is elapsed * rate, with no division per packet; full = max(burst * GUARD_RL_SCALE,
 * rate * GUARD_RL_MIN_DEPTH_NS). A new bucket starts full.
 *
 * Clock: every *_ns field here is CLOCK_MONOTONIC_COARSE (bpf_ktime_get_coarse_ns, read once
 * per tick per CPU and cached with the jiffy it belongs to), so it moves in ticks and may lag
 * the clock_gettime(CLOCK_MONOTONIC_COARSE) the agent compares it with by a tick or two. Why:
 * a precise read costs ~45 ns per packet on the reference VM, the cached one ~3 ns.
 *
 * Concurrency: packets of one source arrive on several CPUs. The credit for the interval
 * (last_ns, now] goes to the one CPU that moves last_ns forward with a compare-and-swap, and
 * every take is a compare-and-swap on the credit, so credit is never created twice nor spent
 * twice: the limit holds exactly under any interleaving (under extreme contention a CPU gives
 * up after a few failed swaps and lets the packet through uncharged). The statistics below are
 * plain stores: exact from one CPU, approximate (a lost update here and there) from several.
 */
struct guard_rl_state {
	__u64 pkt_tokens;	/* packet credit, GUARD_RL_SCALE per packet */
	__u64 byte_tokens;	/* byte credit, GUARD_RL_SCALE per byte */
	__u64 last_ns;		/* last refill; also "last seen", to within a tick */
	__u64 created_ns;
	/*
	 * An over-limit streak: over-limit packets with no gap of GUARD_RL_STREAK_GAP_NS between
	 * them. over_since_ns is its first packet, 0 when the source is under its limit. The
	 * datapath clears it only when a packet comes, so a source that fell silent keeps a stale
	 * value: the streak is over when now - last_over_ns > GUARD_RL_STREAK_GAP_NS.
	 */
	__u64 over_since_ns;
	__u64 last_over_ns;
	__u64 over_packets;	/* in the current streak */
	__u64 over_bytes;
	__u64 total_packets;	/* since created: passed and over */
	__u64 total_over_packets;
	/* Offered load: packets and bytes per second over the last window closed (>= 1 s). */
	__u64 last_rate_pps;
	__u64 last_rate_bps;
	__u64 win_start_ns;
	__u64 win_packets;
	__u64 win_bytes;
	__u64 __pad;
};

/*
 * guard_events (RINGBUF, GUARD_EVENTS_DEFAULT bytes): sampled drop records, see
 * guard_settings.sample_*. One fixed-size record per packet; cap_len says how much of data[] is
 * the packet (from its Ethernet header). The parser fills the addresses and ports as far as it
 * got: a malformed packet may have them zero.
 */
#define GUARD_EVENT_SNAPLEN 128

#define GUARD_EVENT_DROPPED 1
#define GUARD_EVENT_WOULD_DROP 2	/* observe mode */

/* What decided a recorded drop, beyond its reason. */
#define GUARD_MATCH_NONE 0		/* malformed, fragment policy */
#define GUARD_MATCH_BLOCK 1		/* guard_block_v4/_v6 */
#define GUARD_MATCH_BLOCK_SCOPED 2	/* guard_block_scoped_v4/_v6 */
#define GUARD_MATCH_RATE_LIMIT 3	/* guard_rl_state: rl_class, and match_prefixlen the bucket's */

struct guard_event {
	__u64 ts_ns;		/* CLOCK_BOOTTIME */
	__u32 ifindex;
	__u32 pkt_len;		/* the frame's length, all its buffers */
	__u16 cap_len;		/* bytes of the frame in data[], <= GUARD_EVENT_SNAPLEN */
	__u8 reason;		/* enum guard_reason */
	__u8 verdict;		/* GUARD_EVENT_* */
	__u8 family;		/* 2 (AF_INET), 10 (AF_INET6), or 0: not IP / not parsed that far */
	__u8 proto;		/* L4 protocol (IPv6: after the extension headers) */
	__u8 match;		/* GUARD_MATCH_* */
	__u8 match_prefixlen;	/* the entry's guard_rule.prefixlen, or the rate-limit bucket's */
	__be16 sport;		/* TCP/UDP, network byte order; 0 otherwise */
	__be16 dport;
	__u8 rl_class;		/* match RATE_LIMIT: enum guard_rl_class */
	__u8 rule_origin;	/* match BLOCK*: the entry's enum guard_origin */
	__u8 tcp_flags;
	__u8 __pad;
	__u32 rule_reason_id;	/* match BLOCK*: the entry's reason_id */
	__u32 sample_every;	/* the 1-in-N in force: one record stands for that many drops */
	__u8 saddr[16];		/* network byte order; IPv4 in [0..3] */
	__u8 daddr[16];
	__u8 data[GUARD_EVENT_SNAPLEN];
};

/*
 * guard_cpu_state[0] (PERCPU_ARRAY): what the datapath keeps per CPU: the sampling countdown,
 * the records/s bucket, and the coarse clock cached for the current jiffy. Not for the agent.
 */
struct guard_cpu_state {
	__u64 countdown;	/* drops left until the next sampled one; 0: sample the next */
	__u64 top_countdown;	/* packets left until the next top-talkers sample */
	__u64 tokens;		/* GUARD_RL_SCALE per record */
	__u64 last_ns;		/* last refill, CLOCK_MONOTONIC_COARSE */
	__u64 clock_jiffies;	/* the jiffy clock_ns was read in */
	__u64 clock_ns;		/* CLOCK_MONOTONIC_COARSE */
	__u64 __pad[2];
};

/*
 * guard_hits[0] (PERCPU_ARRAY): per CPU and source list, the hits on one entry not yet added to
 * its counters (include/aegis/prefix.h, struct prefix_hits). The agent adds the ones that name an
 * entry to that entry's hit_packets/hit_bytes when it shows them.
 */
enum guard_list_id {
	GUARD_LIST_ALLOW_V4,
	GUARD_LIST_ALLOW_V6,
	GUARD_LIST_BLOCK_V4,
	GUARD_LIST_BLOCK_V6,
	GUARD_LIST_COUNT
};

struct guard_hits {
	struct prefix_hits list[GUARD_LIST_COUNT];
};

#ifndef __bpf__
_Static_assert(sizeof(struct guard_hits) == 96, "guard_hits layout");
_Static_assert(sizeof(struct guard_iface) == 8, "guard_iface layout");
_Static_assert(sizeof(struct guard_settings) == 40, "guard_settings layout");
_Static_assert(sizeof(struct guard_top_stats) == 64, "guard_top_stats layout");
_Static_assert(sizeof(struct guard_counters) == (16 + GUARD_REASON_COUNT) * 8, "guard_counters layout");
_Static_assert(sizeof(struct guard_lpm_v4) == 8, "guard_lpm_v4 layout");
_Static_assert(sizeof(struct guard_lpm_v6) == 20, "guard_lpm_v6 layout");
_Static_assert(sizeof(struct guard_rule) == 48, "guard_rule layout");
_Static_assert(sizeof(struct guard_lpm_scoped_v4) == 12, "guard_lpm_scoped_v4 layout");
_Static_assert(sizeof(struct guard_lpm_scoped_v6) == 28, "guard_lpm_scoped_v6 layout");
_Static_assert(sizeof(struct guard_rl_limit) == 32, "guard_rl_limit layout");
_Static_assert(sizeof(struct guard_rl_key) == 20, "guard_rl_key layout");
_Static_assert(sizeof(struct guard_rl_state) == 128, "guard_rl_state layout");
_Static_assert(sizeof(struct guard_event) == 72 + GUARD_EVENT_SNAPLEN, "guard_event layout");
_Static_assert(sizeof(struct guard_cpu_state) == 64, "guard_cpu_state layout");
#endif

#endif
