// SPDX-License-Identifier: GPL-2.0-only
/* The baseline of the policy's TC benchmark: a TC program that only lets the packet go on. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tc")
int tc_empty(struct __sk_buff *skb)
{
	return -1;	/* TC_ACT_UNSPEC, what policy_tc_in returns for an allowed packet */
}

char LICENSE[] SEC("license") = "GPL";
