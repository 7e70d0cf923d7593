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

#define GUARD_MAX_IFACES 64		/* counter slots; slot 0 counts unconfigured interfaces */
#define GUARD_ALLOW_V4_DEFAULT 65536
#define GUARD_ALLOW_V6_DEFAULT 16384
#define GUARD_BLOCK_V4_DEFAULT 1000000
#define GUARD_BLOCK_V6_DEFAULT 250000
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
	X(FRAGMENT, "fragment")

#define GUARD_REASON_ENUM(id, name) GUARD_REASON_##id,
enum guard_reason { GUARD_REASONS(GUARD_REASON_ENUM) GUARD_REASON_COUNT };
#undef GUARD_REASON_ENUM

/* What to do with a malformed packet / a non-first fragment (it carries no ports) in block mode. */
#define GUARD_ACTION_DROP 0
#define GUARD_ACTION_PASS 1

/* guard_ifaces: ifindex -> per-interface settings. */
struct guard_iface {
	__u32 mode;		/* GUARD_MODE_*_V */
	__u32 slot;		/* index into guard_counters, 1..GUARD_MAX_IFACES-1 */
};

/* guard_settings[0]: datapath-wide knobs the agent writes; read on every packet. */
struct guard_settings {
	__u32 malformed_action;		/* GUARD_ACTION_* */
	__u32 later_fragment_action;	/* GUARD_ACTION_* */
};

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
	__u64 __pad;		/* keep the size a multiple of 16 */
};

/* LPM trie keys: prefixlen first, address in network byte order. */
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
	__u8 __pad[3];
};

#ifndef __bpf__
_Static_assert(sizeof(struct guard_iface) == 8, "guard_iface layout");
_Static_assert(sizeof(struct guard_settings) == 8, "guard_settings layout");
_Static_assert(sizeof(struct guard_counters) == (11 + GUARD_REASON_COUNT) * 8, "guard_counters layout");
_Static_assert(sizeof(struct guard_lpm_v4) == 8, "guard_lpm_v4 layout");
_Static_assert(sizeof(struct guard_lpm_v6) == 20, "guard_lpm_v6 layout");
_Static_assert(sizeof(struct guard_rule) == 48, "guard_rule layout");
#endif

#endif
