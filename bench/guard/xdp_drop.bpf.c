// SPDX-License-Identifier: GPL-2.0-only
/* The floor: an XDP program that drops every packet and does nothing else. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
