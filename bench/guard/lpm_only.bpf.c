// SPDX-License-Identifier: GPL-2.0-only
/*
 * A plain LPM-trie source lookup: Ethernet, up to two VLAN tags, the IPv4 or IPv6 fixed header,
 * one lookup of the source address, XDP_DROP on a hit. No extension-header walk, no L4 checks,
 * no counters, no allow list: the plain LPM-trie baseline, holding the same prefixes as the
 * guard's prefix tables. Keys and values are those of the guard's lists before they became
 * prefix tables (struct guard_lpm_v4/v6, struct guard_rule), so its nodes are the old lists'.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "aegis/guard.h"

#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86DD
#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88A8

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, GUARD_BLOCK_V4_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct guard_lpm_v4);
	__type(value, struct guard_rule);
} lpm_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, GUARD_BLOCK_V6_DEFAULT);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct guard_lpm_v6);
	__type(value, struct guard_rule);
} lpm_v6 SEC(".maps");

SEC("xdp")
int xdp_lpm_only(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	void *pos = eth + 1;
	__u16 proto;
	int i;

	if (pos > data_end)
		return XDP_PASS;
	proto = bpf_ntohs(eth->h_proto);
#pragma unroll
	for (i = 0; i < 2; i++) {
		struct vlan_hdr *vh = pos;

		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		if ((void *)(vh + 1) > data_end)
			return XDP_PASS;
		proto = bpf_ntohs(vh->h_vlan_encapsulated_proto);
		pos = vh + 1;
	}

	if (proto == ETH_P_IP) {
		struct iphdr *iph = pos;
		struct guard_lpm_v4 key = { .prefixlen = 32 };

		if ((void *)(iph + 1) > data_end)
			return XDP_PASS;
		__builtin_memcpy(key.addr, &iph->saddr, sizeof(key.addr));
		return bpf_map_lookup_elem(&lpm_v4, &key) ? XDP_DROP : XDP_PASS;
	}
	if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6h = pos;
		struct guard_lpm_v6 key = { .prefixlen = 128 };

		if ((void *)(ip6h + 1) > data_end)
			return XDP_PASS;
		__builtin_memcpy(key.addr, &ip6h->saddr, sizeof(key.addr));
		return bpf_map_lookup_elem(&lpm_v6, &key) ? XDP_DROP : XDP_PASS;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
