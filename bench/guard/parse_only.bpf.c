// SPDX-License-Identifier: GPL-2.0-only
/*
 * The guard's parser (bpf/lib/parse.h) and nothing else: no map, no counter. Between the empty
 * program and the guard, it tells how much of the guard's time is parsing.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "aegis/guard.h"
#include "lib/parse.h"

SEC("xdp")
int xdp_parse_only(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct parse_result res = {};

	/* Drop what parses, pass what does not: the verdict lets the harness check the path. */
	if (parse_packet(data, data_end, &res) != GUARD_REASON_NONE || !res.family)
		return XDP_PASS;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
