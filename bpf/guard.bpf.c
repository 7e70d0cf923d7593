// SPDX-License-Identifier: GPL-2.0-only
/*
 * The XDP guard: malformed-packet and fragment policy, then source-address allow and block lists
 * (LPM tries), with per-CPU counters per interface. Maps and the program name are the contract
 * with src/guard.c; their layouts live in include/aegis/guard.h.
 *
 * Order per packet: interface lookup -> parse -> malformed policy -> lists (allow wins) ->
 * later-fragment policy. Every packet ends as exactly one of passed or dropped; in observe mode
 * what block mode would drop is counted in would_drop and passed.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "aegis/guard.h"
#include "lib/parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GUARD_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct guard_iface);
} guard_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct guard_settings);
} guard_settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GUARD_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct guard_counters);
} guard_counters SEC(".maps");

#define GUARD_LPM(name, keyt, n)				\
	struct {						\
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);		\
		__uint(max_entries, n);				\
		__uint(map_flags, BPF_F_NO_PREALLOC);		\
		__type(key, keyt);				\
		__type(value, struct guard_rule);		\
	} name SEC(".maps")

GUARD_LPM(guard_allow_v4, struct guard_lpm_v4, GUARD_ALLOW_V4_DEFAULT);
GUARD_LPM(guard_allow_v6, struct guard_lpm_v6, GUARD_ALLOW_V6_DEFAULT);
GUARD_LPM(guard_block_v4, struct guard_lpm_v4, GUARD_BLOCK_V4_DEFAULT);
GUARD_LPM(guard_block_v6, struct guard_lpm_v6, GUARD_BLOCK_V6_DEFAULT);

enum list_hit {
	LIST_MISS,
	LIST_ALLOW,
	LIST_BLOCK,
};

/* The clock is read at most once per packet, and only when an entry is found. */
static __always_inline __u64 guard_now(__u64 *now)
{
	if (!*now)
		*now = bpf_ktime_get_boot_ns();
	return *now;
}

/* An expired entry is a miss: blocks end on time even while the agent is not there to GC. */
static __always_inline struct guard_rule *guard_live(struct guard_rule *rule, __u64 *now)
{
	if (rule && rule->expires_ns && guard_now(now) >= rule->expires_ns)
		return NULL;
	return rule;
}

/* Entries are shared by all CPUs, hence the atomic adds; last_hit_ns may race, harmlessly. */
static __always_inline void guard_rule_hit(struct guard_rule *rule, __u64 bytes, __u64 *now)
{
	__sync_fetch_and_add(&rule->hit_packets, 1);
	__sync_fetch_and_add(&rule->hit_bytes, bytes);
	rule->last_hit_ns = guard_now(now);
}

static __always_inline enum list_hit guard_lists(const struct parse_result *res, __u64 bytes)
{
	struct guard_rule *rule;
	__u64 now = 0;

	if (res->family == PARSE_AF_INET) {
		struct guard_lpm_v4 key = { .prefixlen = 32 };

		__builtin_memcpy(key.addr, &res->saddr.v4, sizeof(key.addr));
		rule = guard_live(bpf_map_lookup_elem(&guard_allow_v4, &key), &now);
		if (rule) {
			guard_rule_hit(rule, bytes, &now);
			return LIST_ALLOW;
		}
		rule = guard_live(bpf_map_lookup_elem(&guard_block_v4, &key), &now);
	} else {
		struct guard_lpm_v6 key = { .prefixlen = 128 };

		__builtin_memcpy(key.addr, res->saddr.v6, sizeof(key.addr));
		rule = guard_live(bpf_map_lookup_elem(&guard_allow_v6, &key), &now);
		if (rule) {
			guard_rule_hit(rule, bytes, &now);
			return LIST_ALLOW;
		}
		rule = guard_live(bpf_map_lookup_elem(&guard_block_v6, &key), &now);
	}
	if (!rule)
		return LIST_MISS;
	guard_rule_hit(rule, bytes, &now);
	return LIST_BLOCK;
}

/* Settings are read only on the slow paths (malformed, later fragment), never per packet. */
static __always_inline struct guard_settings *guard_get_settings(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&guard_settings, &zero);
}

SEC("xdp")
int xdp_guard(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	__u32 ifindex = ctx->ingress_ifindex;
	struct parse_result res = {};
	struct guard_counters *cnt;
	struct guard_settings *set;
	struct guard_iface *iface;
	__u64 bytes = data_end - data;
	__u32 slot = 0, mode;
	int reason;

	iface = bpf_map_lookup_elem(&guard_ifaces, &ifindex);
	if (iface && iface->slot < GUARD_MAX_IFACES)
		slot = iface->slot;
	cnt = bpf_map_lookup_elem(&guard_counters, &slot);
	if (!cnt)
		return XDP_PASS;	/* cannot happen: slot is in range */
	cnt->rx_packets++;
	cnt->rx_bytes += bytes;
	/* Attached before the agent wrote the interface entry: count it and stay out of the way. */
	if (!iface)
		goto pass;
	/* Read per packet so that switching mode is a map write. Anything but block observes. */
	mode = iface->mode;

	reason = parse_packet(data, data_end, &res);
	if (reason != GUARD_REASON_NONE) {
		cnt->malformed++;
		if (reason < GUARD_REASON_COUNT)
			cnt->by_reason[reason]++;
		set = guard_get_settings();
		if (set && set->malformed_action == GUARD_ACTION_PASS)
			goto pass;
		goto drop;
	}
	if (!res.family) {
		cnt->non_ip++;
		goto pass;
	}
	if (res.is_fragment)
		cnt->fragments++;

	switch (guard_lists(&res, bytes)) {
	case LIST_ALLOW:
		cnt->allowed_by_list++;
		goto pass;
	case LIST_BLOCK:
		cnt->by_reason[GUARD_REASON_BLOCKLIST]++;
		if (mode == GUARD_MODE_BLOCK_V)
			cnt->blocked_by_list++;
		goto drop;
	case LIST_MISS:
		break;
	}

	/* A later fragment has no ports: the policy decides, after the lists had their say. */
	if (res.is_later_fragment) {
		set = guard_get_settings();
		if (set && set->later_fragment_action == GUARD_ACTION_PASS)
			goto pass;
		cnt->by_reason[GUARD_REASON_FRAGMENT]++;
		goto drop;
	}

pass:
	cnt->passed++;
	return XDP_PASS;
drop:
	if (mode == GUARD_MODE_BLOCK_V) {
		cnt->dropped++;
		return XDP_DROP;
	}
	cnt->would_drop++;
	cnt->passed++;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
