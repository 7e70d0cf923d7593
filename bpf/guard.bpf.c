// SPDX-License-Identifier: GPL-2.0-only
/* PLACEHOLDER: replaced by the real guard datapath. Maps and program names are the contract. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "aegis/guard.h"

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

#define LPM(name, keyt, n) \
struct { \
	__uint(type, BPF_MAP_TYPE_LPM_TRIE); \
	__uint(max_entries, n); \
	__uint(map_flags, BPF_F_NO_PREALLOC); \
	__type(key, keyt); \
	__type(value, struct guard_rule); \
} name SEC(".maps");

LPM(guard_allow_v4, struct guard_lpm_v4, GUARD_ALLOW_V4_DEFAULT)
LPM(guard_allow_v6, struct guard_lpm_v6, GUARD_ALLOW_V6_DEFAULT)
LPM(guard_block_v4, struct guard_lpm_v4, GUARD_BLOCK_V4_DEFAULT)
LPM(guard_block_v6, struct guard_lpm_v6, GUARD_BLOCK_V6_DEFAULT)

SEC("xdp")
int xdp_guard(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
