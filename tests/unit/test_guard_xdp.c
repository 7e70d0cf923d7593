// SPDX-License-Identifier: GPL-2.0-only
/*
 * The XDP guard through BPF_PROG_TEST_RUN: a fixture table (packet, mode, policy, list entries
 * plain and protocol/port-scoped, expected verdict and the exact counter deltas summed over CPUs,
 * list-entry hit counters), every base packet cut at every byte (as is, and with the IP/UDP
 * lengths refitted so that only the cut header is short) under each malformed policy and with
 * every feature configured, a mode switch by map write, per-source token buckets driven with
 * test_run's repeat (K packets within microseconds, so exactly `burst` pass), drop records read
 * back from the ring buffer, and the ifindex array with its hash fallback for big ifindexes.
 * Each test loads its own skeleton and writes its own maps.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "aegis/guard.h"
#include "guard.skel.h"
#include "guard_hits.h"
#include "prefix_table.h"
#include "log.h"
#include "pkt.h"
#include "test.h"

/* test_run needs a real device for ingress_ifindex; lo is 1 in every netns. */
#define IFINDEX 1
#define SLOT 1
#ifndef ETH_HLEN
#define ETH_HLEN 14
#endif

#define S4 "192.0.2.1"
#define D4 "198.51.100.1"
#define S6 "2001:db8::1"
#define D6 "2001:db8:1::1"

#define REASON_NAME(id, name) name,
static const char *const reason_names[] = { GUARD_REASONS(REASON_NAME) };
#undef REASON_NAME

/* ---- one loaded guard ---------------------------------------------------- */

struct guard {
	struct guard_bpf *skel;
	int prog, ifaces, ifaces_big, settings, counters;
	int scoped4, scoped6;
	/* The source lists, [allow][v6], as the agent opens them (src/guard.c). */
	struct prefix_table *tables[2][2];
	int rl_limits, rl_state, events, top;
	int ncpu;
	struct guard_counters *percpu;
};

static void guard_close(struct guard *g)
{
	for (int a = 0; a < 2; a++)
		for (int v6 = 0; v6 < 2; v6++)
			prefix_table_close(g->tables[a][v6]);
	guard_bpf__destroy(g->skel);
	free(g->percpu);
	memset(g, 0, sizeof(*g));
}

static bool open_table(struct guard *g, int allow, int family, unsigned l1_bits,
		       const struct bpf_map *l1, const struct bpf_map *nodes, const struct bpf_map *rules)
{
	struct prefix_table_maps m = { .family = family, .l1_bits = l1_bits, .l1_fd = bpf_map__fd(l1),
				       .nodes_fd = bpf_map__fd(nodes), .rules_fd = bpf_map__fd(rules) };

	return ASSERT_OK(prefix_table_open(&m, &g->tables[allow][family == AF_INET6]), bpf_map__name(rules));
}

/* ring_size: guard_events' size in bytes, 0 for the object's default. */
static bool guard_open_ring(struct guard *g, __u32 ring_size)
{
	int err;

	memset(g, 0, sizeof(*g));
	log_capture_reset();
	g->skel = guard_bpf__open();
	if (!ASSERT_TRUE(g->skel, "guard_bpf__open"))
		return false;
	if (ring_size &&
	    !ASSERT_OK(bpf_map__set_max_entries(g->skel->maps.guard_events, ring_size),
		       "size guard_events"))
		goto fail;
	err = guard_bpf__load(g->skel);
	if (!ASSERT_OK(err, "guard_bpf__load")) {
		char tail[4096];

		log_capture_tail(tail, sizeof(tail));
		fprintf(stderr, "%s\n", tail);
		goto fail;
	}
	g->prog = bpf_program__fd(g->skel->progs.xdp_guard);
	g->ifaces = bpf_map__fd(g->skel->maps.guard_ifaces);
	g->ifaces_big = bpf_map__fd(g->skel->maps.guard_ifaces_big);
	g->scoped4 = bpf_map__fd(g->skel->maps.guard_block_scoped_v4);
	g->scoped6 = bpf_map__fd(g->skel->maps.guard_block_scoped_v6);
	g->rl_limits = bpf_map__fd(g->skel->maps.guard_rl_limits);
	g->rl_state = bpf_map__fd(g->skel->maps.guard_rl_state);
	g->top = bpf_map__fd(g->skel->maps.guard_top);
	g->events = bpf_map__fd(g->skel->maps.guard_events);
	g->settings = bpf_map__fd(g->skel->maps.guard_settings);
	g->counters = bpf_map__fd(g->skel->maps.guard_counters);
	if (!open_table(g, 0, AF_INET, 24, g->skel->maps.block_v4_l1, g->skel->maps.block_v4_nodes,
			g->skel->maps.block_v4_rules) ||
	    !open_table(g, 0, AF_INET6, 20, g->skel->maps.block_v6_l1, g->skel->maps.block_v6_nodes,
			g->skel->maps.block_v6_rules) ||
	    !open_table(g, 1, AF_INET, 16, g->skel->maps.allow_v4_l1, g->skel->maps.allow_v4_nodes,
			g->skel->maps.allow_v4_rules) ||
	    !open_table(g, 1, AF_INET6, 16, g->skel->maps.allow_v6_l1, g->skel->maps.allow_v6_nodes,
			g->skel->maps.allow_v6_rules))
		goto fail;
	g->ncpu = libbpf_num_possible_cpus();
	if (!ASSERT_GE(g->ncpu, 1, "libbpf_num_possible_cpus"))
		goto fail;
	g->percpu = calloc(g->ncpu, sizeof(*g->percpu));
	if (!ASSERT_TRUE(g->percpu, "calloc per-CPU counters"))
		goto fail;
	return true;
fail:
	guard_close(g);
	return false;
}

static bool guard_open(struct guard *g)
{
	return guard_open_ring(g, 0);
}

static bool guard_set_iface(struct guard *g, __u32 mode)
{
	struct guard_iface v = { .mode = mode, .slot = SLOT };
	__u32 key = IFINDEX;

	return ASSERT_OK(bpf_map_update_elem(g->ifaces, &key, &v, BPF_ANY), "guard_ifaces update");
}

static bool guard_set_settings(struct guard *g, const struct guard_settings *v)
{
	__u32 key = 0;

	return ASSERT_OK(bpf_map_update_elem(g->settings, &key, v, BPF_ANY), "guard_settings update");
}

static bool guard_set_policy(struct guard *g, __u32 malformed, __u32 later_fragment)
{
	struct guard_settings v = { .malformed_action = malformed,
				    .later_fragment_action = later_fragment };

	return guard_set_settings(g, &v);
}

static bool guard_set_limit(struct guard *g, enum guard_rl_class cls, __u64 pps, __u64 bps,
			    __u64 burst_packets, __u64 burst_bytes)
{
	struct guard_rl_limit v = { .pps = pps, .bps = bps, .burst_packets = burst_packets,
				    .burst_bytes = burst_bytes };
	__u32 key = cls;

	return ASSERT_OK(bpf_map_update_elem(g->rl_limits, &key, &v, BPF_ANY), "guard_rl_limits update");
}

/* One slot of guard_counters, summed over CPUs. */
static bool guard_read(struct guard *g, __u32 slot, struct guard_counters *sum)
{
	memset(sum, 0, sizeof(*sum));
	if (!ASSERT_OK(bpf_map_lookup_elem(g->counters, &slot, g->percpu), "guard_counters lookup"))
		return false;
	for (int c = 0; c < g->ncpu; c++) {
		const __u64 *src = (const __u64 *)&g->percpu[c];
		__u64 *dst = (__u64 *)sum;

		for (size_t i = 0; i < sizeof(*sum) / sizeof(__u64); i++)
			dst[i] += src[i];
	}
	return true;
}

/*
 * Runs the packet `repeat` times in one test_run call: back to back on one CPU, within
 * microseconds, which is what the token-bucket and sampling tests count on. retval: the last run's.
 */
static int guard_run_on(struct guard *g, const void *data, size_t len, __u32 ifindex,
			__u32 repeat, __u32 *retval)
{
	struct xdp_md ctx = { .data_end = (__u32)len, .ingress_ifindex = ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .data_in = data,
		    .data_size_in = (__u32)len,
		    .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx),
		    .repeat = repeat);
	int err;

	err = bpf_prog_test_run_opts(g->prog, &opts);
	*retval = opts.retval;
	return err ? -errno : 0;
}

static int guard_run(struct guard *g, const void *data, size_t len, __u32 *retval)
{
	return guard_run_on(g, data, len, IFINDEX, 1, retval);
}

/* ---- expected counter deltas ---------------------------------------------- */

enum {
	F_WOULD_DROP = 1 << 0,
	F_NON_IP = 1 << 1,
	F_MALFORMED = 1 << 2,
	F_FRAGMENT = 1 << 3,
	F_BLOCKED = 1 << 4,
	F_ALLOWED = 1 << 5,
	F_RATE_LIMITED = 1 << 6,	/* block mode: counted in rate_limited */
	F_SAMPLED = 1 << 7,		/* a drop record was written */
};

static void expect_delta(struct guard_counters *e, size_t len, __u32 verdict, unsigned flags,
			 enum guard_reason reason)
{
	memset(e, 0, sizeof(*e));
	e->rx_packets = 1;
	e->rx_bytes = len;
	e->passed = verdict == XDP_PASS;
	e->dropped = verdict == XDP_DROP;
	e->would_drop = !!(flags & F_WOULD_DROP);
	e->non_ip = !!(flags & F_NON_IP);
	e->malformed = !!(flags & F_MALFORMED);
	e->fragments = !!(flags & F_FRAGMENT);
	e->blocked_by_list = !!(flags & F_BLOCKED);
	e->allowed_by_list = !!(flags & F_ALLOWED);
	e->rate_limited = !!(flags & F_RATE_LIMITED);
	e->events_sampled = !!(flags & F_SAMPLED);
	if (reason != GUARD_REASON_NONE)
		e->by_reason[reason] = 1;
}

#define CNT_FIELDS(X) X(rx_packets) X(rx_bytes) X(passed) X(dropped) X(would_drop) X(non_ip) \
		      X(malformed) X(fragments) X(blocked_by_list) X(allowed_by_list) \
		      X(rate_limited) X(events_sampled) X(events_capped) X(events_lost)

/* Every field of after - before must equal expected: a stray bump is a failure too. */
static bool check_delta(const char *what, const struct guard_counters *before,
			const struct guard_counters *after, const struct guard_counters *expected)
{
	char name[512];
	bool ok = true;

#define CNT_CHECK(f)                                                                     \
	snprintf(name, sizeof(name), "%s: counter " #f, what);                           \
	ok &= ASSERT_EQ(after->f - before->f, expected->f, name);
	CNT_FIELDS(CNT_CHECK)
#undef CNT_CHECK
	for (int r = 0; r < GUARD_REASON_COUNT; r++) {
		snprintf(name, sizeof(name), "%s: by_reason[%s]", what, reason_names[r]);
		ok &= ASSERT_EQ(after->by_reason[r] - before->by_reason[r], expected->by_reason[r], name);
	}
	return ok;
}

static const char *verdict_name(__u32 v)
{
	return v == XDP_PASS ? "XDP_PASS" : v == XDP_DROP ? "XDP_DROP" : "other";
}

/* Runs one packet and checks verdict and counter deltas in slot. */
static bool run_check(struct guard *g, const char *what, const void *data, size_t len, __u32 slot,
		      __u32 verdict, unsigned flags, enum guard_reason reason)
{
	struct guard_counters before, after, expected;
	char name[512];
	__u32 retval = ~0u;
	bool ok;

	if (!guard_read(g, slot, &before))
		return false;
	snprintf(name, sizeof(name), "%s: bpf_prog_test_run_opts", what);
	if (!ASSERT_OK(guard_run(g, data, len, &retval), name))
		return false;
	snprintf(name, sizeof(name), "%s: verdict (got %s)", what, verdict_name(retval));
	ok = ASSERT_EQ(retval, verdict, name);
	if (!guard_read(g, slot, &after))
		return false;
	expect_delta(&expected, len, verdict, flags, reason);
	return check_delta(what, &before, &after, &expected) && ok;
}

/* ---- packet descriptions -------------------------------------------------- */

enum layer_type {
	L_END, L_ETH, L_VLAN, L_ARP, L_IP4, L_IP4FRAG, L_IP6, L_EXT, L_FRAG6,
	L_TCP, L_UDP, L_ICMP, L_ICMP6, L_PROTO, L_PAY,
};

struct layer {
	enum layer_type t;
	const char *a, *b;
	unsigned x, y;
};

#define ETH { .t = L_ETH }
#define VLAN(tpid) { .t = L_VLAN, .x = tpid }
#define ARP { .t = L_ARP }
#define IP4(s, d) { .t = L_IP4, .a = s, .b = d }
#define IP4O(s, d, opt) { .t = L_IP4, .a = s, .b = d, .x = opt }
#define IP4FRAG(off8, mf) { .t = L_IP4FRAG, .x = off8, .y = mf }
#define IP6(s, d) { .t = L_IP6, .a = s, .b = d }
#define EXT(type, len) { .t = L_EXT, .x = type, .y = len }
#define FRAG6(off8, m) { .t = L_FRAG6, .x = off8, .y = m }
#define TCP(opt) { .t = L_TCP, .x = opt }
#define UDP { .t = L_UDP }
#define ICMP { .t = L_ICMP, .x = 8 }
#define ICMP6 { .t = L_ICMP6, .x = 128 }
#define PROTO(n) { .t = L_PROTO, .x = n }
#define PAY(n) { .t = L_PAY, .x = n }
#define LAYERS(...) .layers = ((const struct layer[]){ __VA_ARGS__, { .t = L_END } })

/* A byte or big-endian 16-bit write into the nth header of a kind, after pkt_finish(). */
struct poke {
	enum pkt_kind kind;
	int nth;
	unsigned off;
	unsigned width;		/* 1 or 2; 0 ends the list */
	unsigned val;
	int rel;		/* 2-byte pokes: val is added to the current value */
};

#define POKE8(k, n, o, v) { .kind = k, .nth = n, .off = o, .width = 1, .val = v }
#define POKE16(k, n, o, v) { .kind = k, .nth = n, .off = o, .width = 2, .val = v }
#define POKE16_ADD(k, n, o, d) \
	{ .kind = k, .nth = n, .off = o, .width = 2, .val = (unsigned)(d), .rel = 1 }

struct build {
	const struct layer *layers;
	struct poke pokes[3];
	size_t pad;		/* bytes appended after the lengths are set (Ethernet padding) */
	size_t trim;		/* bytes cut from the end afterwards */
	bool refit;		/* after trim, fit the IP/UDP lengths to the new size */
};

static void build_packet(struct pkt *p, const struct build *b)
{
	pkt_init(p);
	for (const struct layer *l = b->layers; l->t != L_END; l++) {
		switch (l->t) {
		case L_ETH: pkt_eth(p); break;
		case L_VLAN: pkt_vlan(p, (uint16_t)l->x, 100); break;
		case L_ARP: pkt_arp(p); break;
		case L_IP4: pkt_ipv4(p, l->a, l->b, l->x); break;
		case L_IP4FRAG: pkt_ipv4_frag(p, (uint16_t)l->x, l->y); break;
		case L_IP6: pkt_ipv6(p, l->a, l->b); break;
		case L_EXT: pkt_ipv6_ext(p, (uint8_t)l->x, l->y); break;
		case L_FRAG6: pkt_ipv6_frag(p, (uint16_t)l->x, l->y); break;
		case L_TCP: pkt_tcp(p, 40000, 443, l->x); break;
		case L_UDP: pkt_udp(p, 40000, 53); break;
		case L_ICMP: pkt_icmp(p, (uint8_t)l->x, 0); break;
		case L_ICMP6: pkt_icmpv6(p, (uint8_t)l->x, 0); break;
		case L_PROTO: pkt_proto(p, (uint8_t)l->x); break;
		case L_PAY: pkt_payload(p, l->x); break;
		case L_END: break;
		}
	}
	pkt_finish(p);
	memset(p->buf + p->len, 0, b->pad);
	p->len += b->pad;
	for (const struct poke *k = b->pokes; k->width; k++) {
		uint8_t *at = pkt_at(p, k->kind, k->nth) + k->off;

		if (k->width == 1)
			*at = (uint8_t)k->val;
		else
			pkt_put16(at, (uint16_t)(k->rel ? pkt_get16(at) + k->val : k->val));
	}
	p->len -= b->trim;
	if (b->refit)
		pkt_fix_lengths(p, p->buf, p->len);
}

/* ---- the fixture table ---------------------------------------------------- */

enum { NEVER = 0, EXPIRED = -1, LIVE = 1 };

struct fx_rule {
	const char *cidr;	/* NULL ends the list */
	bool allow;		/* else block */
	int expiry;		/* NEVER, EXPIRED (in the past), LIVE (in the future) */
	bool hit;		/* the packet must bump this entry's hit counters */
	__u8 proto;		/* non-zero: a scoped block entry for this protocol... */
	__u16 port;		/* ...and destination port */
};

struct fixture {
	const char *desc;
	struct build pkt;
	bool observe;			/* else block mode */
	__u32 malformed_action;		/* GUARD_ACTION_*; DROP by default */
	__u32 later_fragment_action;
	bool unconfigured;		/* no guard_ifaces entry: slot 0 counts it */
	struct fx_rule rules[4];
	__u32 verdict;
	unsigned flags;
	enum guard_reason reason;
};

#define R_MAL(r) GUARD_REASON_MALFORMED_##r
#define BLOCK(c) { .cidr = c }
#define BLOCK_HIT(c) { .cidr = c, .hit = true }
#define ALLOW(c) { .cidr = c, .allow = true }
#define ALLOW_HIT(c) { .cidr = c, .allow = true, .hit = true }
#define SCOPED(c, pr, po) { .cidr = c, .proto = pr, .port = po }
#define SCOPED_HIT(c, pr, po) { .cidr = c, .proto = pr, .port = po, .hit = true }
#define UDP_P 17
#define TCP_P 6

static const struct fixture fixtures[] = {
	/* Well-formed traffic, empty lists, block mode. */
	{ .desc = "ipv4 udp", .pkt = { LAYERS(ETH, IP4(S4, D4), UDP, PAY(18)) },
	  .verdict = XDP_PASS },
	{ .desc = "ipv4 tcp syn with options", .pkt = { LAYERS(ETH, IP4(S4, D4), TCP(12)) },
	  .verdict = XDP_PASS },
	{ .desc = "ipv4 icmp echo", .pkt = { LAYERS(ETH, IP4(S4, D4), ICMP, PAY(8)) },
	  .verdict = XDP_PASS },
	{ .desc = "ipv6 udp", .pkt = { LAYERS(ETH, IP6(S6, D6), UDP, PAY(18)) },
	  .verdict = XDP_PASS },
	{ .desc = "ipv6 tcp", .pkt = { LAYERS(ETH, IP6(S6, D6), TCP(0)) }, .verdict = XDP_PASS },
	{ .desc = "ipv6 icmpv6 echo", .pkt = { LAYERS(ETH, IP6(S6, D6), ICMP6, PAY(8)) },
	  .verdict = XDP_PASS },
	{ .desc = "802.1Q ipv4 udp", .pkt = { LAYERS(ETH, VLAN(0x8100), IP4(S4, D4), UDP) },
	  .verdict = XDP_PASS },
	{ .desc = "802.1Q ipv4 tcp", .pkt = { LAYERS(ETH, VLAN(0x8100), IP4(S4, D4), TCP(0)) },
	  .verdict = XDP_PASS },
	{ .desc = "802.1Q ipv4 icmp", .pkt = { LAYERS(ETH, VLAN(0x8100), IP4(S4, D4), ICMP) },
	  .verdict = XDP_PASS },
	{ .desc = "802.1Q ipv6 icmpv6", .pkt = { LAYERS(ETH, VLAN(0x8100), IP6(S6, D6), ICMP6) },
	  .verdict = XDP_PASS },
	{ .desc = "802.1ad+802.1Q ipv4 tcp",
	  .pkt = { LAYERS(ETH, VLAN(0x88a8), VLAN(0x8100), IP4(S4, D4), TCP(8)) },
	  .verdict = XDP_PASS },
	{ .desc = "802.1ad+802.1Q ipv6 udp",
	  .pkt = { LAYERS(ETH, VLAN(0x88a8), VLAN(0x8100), IP6(S6, D6), UDP) },
	  .verdict = XDP_PASS },
	{ .desc = "802.1Q+802.1Q ipv6 tcp",
	  .pkt = { LAYERS(ETH, VLAN(0x8100), VLAN(0x8100), IP6(S6, D6), TCP(0)) },
	  .verdict = XDP_PASS },
	{ .desc = "ipv4 with 40 bytes of options, tcp",
	  .pkt = { LAYERS(ETH, IP4O(S4, D4, 40), TCP(4)) },
	  .verdict = XDP_PASS },
	{ .desc = "ipv4 with router alert option, udp",
	  .pkt = { LAYERS(ETH, IP4O(S4, D4, 4), UDP, PAY(4)) },
	  .verdict = XDP_PASS },
	{ .desc = "ipv6 hop-by-hop + routing + dstopts, tcp",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), EXT(PKT_EXT_HOP, 8), EXT(PKT_EXT_ROUTING, 24),
		   EXT(PKT_EXT_DEST, 16), TCP(12)) },
	  .verdict = XDP_PASS },
	{ .desc = "ipv6 with 6 extension headers (the bound), udp",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), EXT(PKT_EXT_HOP, 8), EXT(PKT_EXT_DEST, 8),
		   EXT(PKT_EXT_ROUTING, 8), EXT(PKT_EXT_AH, 16), EXT(PKT_EXT_DEST, 8),
		   EXT(PKT_EXT_DEST, 8), UDP) },
	  .verdict = XDP_PASS },
	{ .desc = "ipv6 ah, tcp", .pkt = { LAYERS(ETH, IP6(S6, D6), EXT(PKT_EXT_AH, 24), TCP(0)) },
	  .verdict = XDP_PASS },
	{ .desc = "ipv4 gre: no ports, not malformed",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), PROTO(47), PAY(4)) },
	  .verdict = XDP_PASS },
	{ .desc = "ipv6 no next header", .pkt = { LAYERS(ETH, IP6(S6, D6), PROTO(59)) },
	  .verdict = XDP_PASS },
	{ .desc = "ipv6 dstopts, no next header",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), EXT(PKT_EXT_DEST, 8), PROTO(59)) },
	  .verdict = XDP_PASS },
	/*
	 * The walk looks next-header values up in 64-bit sets: an extension header's number + 64
	 * must not alias it (the payload, 0xa0 0xa1 ..., walked as a header would be malformed, or
	 * a later fragment).
	 */
	{ .desc = "ipv6 next header 64 (hop-by-hop + 64): not an extension header",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), PROTO(64), PAY(16)) }, .verdict = XDP_PASS },
	{ .desc = "ipv6 next header 107 (routing + 64): not an extension header",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), PROTO(107), PAY(16)) }, .verdict = XDP_PASS },
	{ .desc = "ipv6 next header 108 (fragment + 64): not an extension header",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), PROTO(108), PAY(16)) }, .verdict = XDP_PASS },
	{ .desc = "ipv6 next header 115 (ah + 64): not an extension header",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), PROTO(115), PAY(16)) }, .verdict = XDP_PASS },
	{ .desc = "ipv6 hop-by-hop, then next header 124 (dstopts + 64): not an extension header",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), EXT(PKT_EXT_HOP, 8), PROTO(124), PAY(16)) },
	  .verdict = XDP_PASS },
	{ .desc = "ipv6 mobility header (135): not walked, no ports",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), PROTO(135), PAY(16)) }, .verdict = XDP_PASS },
	{ .desc = "ipv6 fragment header's reserved byte set: still 8 bytes",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), FRAG6(0, 1), UDP, PAY(8)),
	    .pokes = { POKE8(PKT_IPV6_EXT, 0, 1, 0xff) } },
	  .verdict = XDP_PASS, .flags = F_FRAGMENT },
	{ .desc = "ipv6 ah with length 1 (12 bytes, not a multiple of 8), then udp",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), EXT(PKT_EXT_AH, 12), UDP) }, .verdict = XDP_PASS },
	{ .desc = "ipv4 tcp with ethernet padding to 60 bytes",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), TCP(0)), .pad = 6 }, .verdict = XDP_PASS },
	{ .desc = "ipv4 udp with don't-fragment only: not a fragment",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP), .pokes = { POKE16(PKT_IPV4, 0, 6, 0x4000) } },
	  .verdict = XDP_PASS },
	{ .desc = "ipv6 atomic fragment (offset 0, no M): not a fragment",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), FRAG6(0, 0), UDP) }, .verdict = XDP_PASS },
	{ .desc = "arp: non-ip", .pkt = { LAYERS(ETH, ARP) }, .verdict = XDP_PASS,
	  .flags = F_NON_IP },
	{ .desc = "802.1Q arp: non-ip", .pkt = { LAYERS(ETH, VLAN(0x8100), ARP) },
	  .verdict = XDP_PASS,
	  .flags = F_NON_IP },

	/* Hostile headers, block mode, malformed_action drop. */
	{ .desc = "three vlan tags",
	  .pkt = { LAYERS(ETH, VLAN(0x88a8), VLAN(0x8100), VLAN(0x8100), IP4(S4, D4), UDP) },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(VLAN) },
	{ .desc = "ipv4 ihl 4", .pkt = { LAYERS(ETH, IP4(S4, D4), UDP),
	  .pokes = { POKE8(PKT_IPV4, 0, 0, 0x44) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(IPV4) },
	{ .desc = "ipv4 ihl 0", .pkt = { LAYERS(ETH, IP4(S4, D4), UDP),
	  .pokes = { POKE8(PKT_IPV4, 0, 0, 0x40) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(IPV4) },
	{ .desc = "ipv4 ihl*4 beyond the packet",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), ICMP), .pokes = { POKE8(PKT_IPV4, 0, 0, 0x4f) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(IPV4) },
	{ .desc = "ipv4 tot_len beyond the packet",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP, PAY(8)),
	  .pokes = { POKE16_ADD(PKT_IPV4, 0, 2, 1) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(IPV4) },
	{ .desc = "ipv4 tot_len below ihl*4",
	  .pkt = { LAYERS(ETH, IP4O(S4, D4, 8), UDP), .pokes = { POKE16(PKT_IPV4, 0, 2, 24) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(IPV4) },
	{ .desc = "ipv4 ethertype carrying version 6",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP), .pokes = { POKE8(PKT_IPV4, 0, 0, 0x65) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(IPV4) },
	{ .desc = "ipv6 ethertype carrying version 4",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), UDP), .pokes = { POKE8(PKT_IPV6, 0, 0, 0x45) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(IPV6) },
	{ .desc = "ipv6 payload_len beyond the packet",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), TCP(0)), .pokes = { POKE16_ADD(PKT_IPV6, 0, 4, 1) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(IPV6) },
	{ .desc = "ipv6 with 7 extension headers (over the bound)",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), EXT(PKT_EXT_HOP, 8), EXT(PKT_EXT_DEST, 8),
		   EXT(PKT_EXT_DEST, 8), EXT(PKT_EXT_DEST, 8), EXT(PKT_EXT_DEST, 8),
		   EXT(PKT_EXT_DEST, 8), EXT(PKT_EXT_DEST, 8), UDP) },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(IPV6_EXT) },
	{ .desc = "ipv6 extension header length beyond the packet",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), EXT(PKT_EXT_HOP, 8), UDP),
	    .pokes = { POKE8(PKT_IPV6_EXT, 0, 1, 255) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(IPV6_EXT) },
	{ .desc = "ipv6 ah length beyond the packet",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), EXT(PKT_EXT_AH, 12), TCP(0)),
	    .pokes = { POKE8(PKT_IPV6_EXT, 0, 1, 200) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(IPV6_EXT) },
	{ .desc = "ipv6 extension header beyond payload_len (in padding)",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), EXT(PKT_EXT_DEST, 16), UDP),
	    .pokes = { POKE16(PKT_IPV6, 0, 4, 8) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(IPV6_EXT) },
	{ .desc = "tcp doff 4", .pkt = { LAYERS(ETH, IP4(S4, D4), TCP(0), PAY(8)),
	  .pokes = { POKE8(PKT_TCP, 0, 12, 0x40) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(TCP) },
	{ .desc = "tcp doff*4 beyond the packet",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), TCP(4)), .pokes = { POKE8(PKT_TCP, 0, 12, 0xf0) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(TCP) },
	{ .desc = "ipv6 tcp doff 4", .pkt = { LAYERS(ETH, IP6(S6, D6), TCP(0)),
	  .pokes = { POKE8(PKT_TCP, 0, 12, 0x40) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(TCP) },
	{ .desc = "ipv6 tcp after hop-by-hop + routing + dstopts, doff*4 beyond the packet",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), EXT(PKT_EXT_HOP, 8), EXT(PKT_EXT_ROUTING, 24),
		   EXT(PKT_EXT_DEST, 16), TCP(0)),
	    .pokes = { POKE8(PKT_TCP, 0, 12, 0x60) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(TCP) },
	{ .desc = "udp len 7", .pkt = { LAYERS(ETH, IP4(S4, D4), UDP, PAY(4)),
	  .pokes = { POKE16(PKT_UDP, 0, 4, 7) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(UDP) },
	{ .desc = "udp len beyond the datagram",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP, PAY(4)),
	  .pokes = { POKE16_ADD(PKT_UDP, 0, 4, 1) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(UDP) },
	{ .desc = "udp header past tot_len, in ethernet padding",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP), .pokes = { POKE16(PKT_IPV4, 0, 2, 20) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(UDP) },
	{ .desc = "802.1ad+802.1Q ipv6 udp len 0",
	  .pkt = { LAYERS(ETH, VLAN(0x88a8), VLAN(0x8100), IP6(S6, D6), UDP),
	    .pokes = { POKE16(PKT_UDP, 0, 4, 0) } },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(UDP) },
	{ .desc = "icmp header of 4 bytes", .pkt = { LAYERS(ETH, IP4(S4, D4), ICMP), .trim = 4,
	  .refit = true },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(ICMP) },
	{ .desc = "icmpv6 header of 4 bytes", .pkt = { LAYERS(ETH, IP6(S6, D6), ICMP6), .trim = 4,
	  .refit = true },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(ICMP) },

	/* The malformed policy and observe mode. */
	{ .desc = "ipv4 ihl 4, malformed_action pass",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP), .pokes = { POKE8(PKT_IPV4, 0, 0, 0x44) } },
	  .malformed_action = GUARD_ACTION_PASS,
	  .verdict = XDP_PASS, .flags = F_MALFORMED, .reason = R_MAL(IPV4) },
	{ .desc = "ipv4 ihl 4, observe mode",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP), .pokes = { POKE8(PKT_IPV4, 0, 0, 0x44) } },
	  .observe = true,
	  .verdict = XDP_PASS, .flags = F_MALFORMED | F_WOULD_DROP, .reason = R_MAL(IPV4) },
	{ .desc = "ipv4 ihl 4, observe mode, malformed_action pass: nothing would drop",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP), .pokes = { POKE8(PKT_IPV4, 0, 0, 0x44) } },
	  .observe = true, .malformed_action = GUARD_ACTION_PASS,
	  .verdict = XDP_PASS, .flags = F_MALFORMED, .reason = R_MAL(IPV4) },

	/* Fragments. */
	{ .desc = "ipv4 later fragment, later_fragment_action drop",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), IP4FRAG(185, 1), PROTO(17), PAY(64)) },
	  .verdict = XDP_DROP, .flags = F_FRAGMENT, .reason = GUARD_REASON_FRAGMENT },
	{ .desc = "ipv4 last fragment (no MF), later_fragment_action drop",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), IP4FRAG(185, 0), PROTO(17), PAY(64)) },
	  .verdict = XDP_DROP, .flags = F_FRAGMENT, .reason = GUARD_REASON_FRAGMENT },
	{ .desc = "ipv4 later fragment, later_fragment_action pass",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), IP4FRAG(185, 1), PROTO(17), PAY(64)) },
	  .later_fragment_action = GUARD_ACTION_PASS, .verdict = XDP_PASS, .flags = F_FRAGMENT },
	{ .desc = "ipv4 later fragment, observe mode",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), IP4FRAG(185, 1), PROTO(17), PAY(64)) },
	  .observe = true,
	  .verdict = XDP_PASS, .flags = F_FRAGMENT | F_WOULD_DROP,
	  .reason = GUARD_REASON_FRAGMENT },
	{ .desc = "ipv4 later fragment with 4 bytes: no l4 header expected",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), IP4FRAG(3, 1), PROTO(17), PAY(4)) },
	  .later_fragment_action = GUARD_ACTION_PASS, .verdict = XDP_PASS, .flags = F_FRAGMENT },
	{ .desc = "ipv4 first fragment, udp len covering the whole datagram",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), IP4FRAG(0, 1), UDP, PAY(32)),
	    .pokes = { POKE16(PKT_UDP, 0, 4, 1000) } },
	  .verdict = XDP_PASS, .flags = F_FRAGMENT },
	{ .desc = "ipv4 first fragment with a 4-byte udp header: l4 is parsed",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), IP4FRAG(0, 1), UDP), .trim = 4, .refit = true },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(UDP) },
	{ .desc = "ipv6 later fragment, later_fragment_action drop",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), FRAG6(100, 1), PROTO(17), PAY(64)) },
	  .verdict = XDP_DROP, .flags = F_FRAGMENT, .reason = GUARD_REASON_FRAGMENT },
	{ .desc = "ipv6 later fragment, later_fragment_action pass",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), FRAG6(100, 1), PROTO(17), PAY(64)) },
	  .later_fragment_action = GUARD_ACTION_PASS, .verdict = XDP_PASS, .flags = F_FRAGMENT },
	{ .desc = "ipv6 hop-by-hop + later fragment, later_fragment_action drop",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), EXT(PKT_EXT_HOP, 8), FRAG6(7, 0), PROTO(6), PAY(40)) },
	  .verdict = XDP_DROP, .flags = F_FRAGMENT, .reason = GUARD_REASON_FRAGMENT },
	{ .desc = "ipv6 later fragment with 4 bytes: no l4 header expected",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), FRAG6(1, 1), PROTO(6), PAY(4)) },
	  .later_fragment_action = GUARD_ACTION_PASS, .verdict = XDP_PASS, .flags = F_FRAGMENT },
	{ .desc = "ipv6 first fragment, udp len covering the whole datagram",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), FRAG6(0, 1), UDP, PAY(32)),
	    .pokes = { POKE16(PKT_UDP, 0, 4, 1000) } },
	  .verdict = XDP_PASS, .flags = F_FRAGMENT },
	{ .desc = "ipv6 first fragment with a 4-byte udp header: l4 is parsed",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), FRAG6(0, 1), UDP), .trim = 4, .refit = true },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(UDP) },

	/* Lists. */
	{ .desc = "ipv4 source in the block list (/32)", .pkt = { LAYERS(ETH, IP4(S4, D4), UDP) },
	  .rules = { BLOCK_HIT(S4 "/32") },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "ipv4 source in the block list (/24)",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), TCP(0)) },
	  .rules = { BLOCK_HIT("192.0.2.0/24") },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "ipv4 source not in the block list", .pkt = { LAYERS(ETH, IP4(S4, D4), UDP) },
	  .rules = { BLOCK("192.0.2.2/32"), BLOCK("192.0.3.0/24") }, .verdict = XDP_PASS },
	{ .desc = "ipv4 destination in the block list: not a match",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP) },
	  .rules = { BLOCK(D4 "/32") }, .verdict = XDP_PASS },
	{ .desc = "ipv6 source in the block list (/128)", .pkt = { LAYERS(ETH, IP6(S6, D6), UDP) },
	  .rules = { BLOCK_HIT(S6 "/128") },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "ipv6 source in the block list (/48), after extension headers",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), EXT(PKT_EXT_HOP, 8), EXT(PKT_EXT_DEST, 8), TCP(0)) },
	  .rules = { BLOCK_HIT("2001:db8::/48") },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "ipv6 source not in the block list", .pkt = { LAYERS(ETH, IP6(S6, D6), UDP) },
	  .rules = { BLOCK("2001:db8::2/128"), BLOCK("2001:db8:1::/48") }, .verdict = XDP_PASS },
	{ .desc = "allow 10.1/16 wins over block 10/8: 10.1.2.3 passes",
	  .pkt = { LAYERS(ETH, IP4("10.1.2.3", D4), UDP) },
	  .rules = { BLOCK("10.0.0.0/8"), ALLOW_HIT("10.1.0.0/16") },
	  .verdict = XDP_PASS, .flags = F_ALLOWED },
	{ .desc = "allow 10.1/16, block 10/8: 10.2.0.1 drops",
	  .pkt = { LAYERS(ETH, IP4("10.2.0.1", D4), UDP) },
	  .rules = { BLOCK_HIT("10.0.0.0/8"), ALLOW("10.1.0.0/16") },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "ipv6 allow /64 wins over block /32",
	  .pkt = { LAYERS(ETH, IP6("2001:db8:5:6::7", D6), TCP(0)) },
	  .rules = { BLOCK("2001:db8::/32"), ALLOW_HIT("2001:db8:5:6::/64") },
	  .verdict = XDP_PASS, .flags = F_ALLOWED },
	{ .desc = "ipv6 allow /64, block /32: source outside the /64 drops",
	  .pkt = { LAYERS(ETH, IP6("2001:db8:5:7::7", D6), TCP(0)) },
	  .rules = { BLOCK_HIT("2001:db8::/32"), ALLOW("2001:db8:5:6::/64") },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "allow list hit with no block entry", .pkt = { LAYERS(ETH, IP4(S4, D4), UDP) },
	  .rules = { ALLOW_HIT("192.0.2.0/24") }, .verdict = XDP_PASS, .flags = F_ALLOWED },
	{ .desc = "expired block entry is a miss", .pkt = { LAYERS(ETH, IP4(S4, D4), UDP) },
	  .rules = { { .cidr = S4 "/32", .expiry = EXPIRED } }, .verdict = XDP_PASS },
	{ .desc = "block entry expiring in the future drops",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP) },
	  .rules = { { .cidr = S4 "/32", .expiry = LIVE, .hit = true } },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "expired ipv6 block entry is a miss", .pkt = { LAYERS(ETH, IP6(S6, D6), UDP) },
	  .rules = { { .cidr = S6 "/128", .expiry = EXPIRED } }, .verdict = XDP_PASS },
	{ .desc = "expired allow entry does not shield from the block list",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP) },
	  .rules = { { .cidr = S4 "/32", .allow = true,
	  .expiry = EXPIRED }, BLOCK_HIT("192.0.2.0/24") },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "allow entry expiring in the future wins",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), UDP) },
	  .rules = { { .cidr = S6 "/128", .allow = true, .expiry = LIVE,
	  .hit = true }, BLOCK("2001:db8::/32") },
	  .verdict = XDP_PASS, .flags = F_ALLOWED },
	{ .desc = "block list hit in observe mode", .pkt = { LAYERS(ETH, IP4(S4, D4), UDP) },
	  .observe = true, .rules = { BLOCK_HIT(S4 "/32") },
	  .verdict = XDP_PASS, .flags = F_WOULD_DROP, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "ipv6 block list hit in observe mode", .pkt = { LAYERS(ETH, IP6(S6, D6), ICMP6) },
	  .observe = true, .rules = { BLOCK_HIT(S6 "/128") },
	  .verdict = XDP_PASS, .flags = F_WOULD_DROP, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "802.1ad+802.1Q packet from a blocked source",
	  .pkt = { LAYERS(ETH, VLAN(0x88a8), VLAN(0x8100), IP4(S4, D4), TCP(0)) },
	  .rules = { BLOCK_HIT(S4 "/32") },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "ipv4 later fragment from a blocked source, later_fragment_action pass",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), IP4FRAG(185, 1), PROTO(17), PAY(64)) },
	  .later_fragment_action = GUARD_ACTION_PASS, .rules = { BLOCK_HIT(S4 "/32") },
	  .verdict = XDP_DROP, .flags = F_FRAGMENT | F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "ipv4 later fragment from an allowed source, later_fragment_action drop",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), IP4FRAG(185, 1), PROTO(17), PAY(64)) },
	  .rules = { ALLOW_HIT(S4 "/32") }, .verdict = XDP_PASS, .flags = F_FRAGMENT | F_ALLOWED },
	{ .desc = "ipv6 later fragment from a blocked source",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), FRAG6(100, 1), PROTO(17), PAY(64)) },
	  .later_fragment_action = GUARD_ACTION_PASS, .rules = { BLOCK_HIT("2001:db8::/64") },
	  .verdict = XDP_DROP, .flags = F_FRAGMENT | F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "malformed packet from an allowed source is still malformed",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP), .pokes = { POKE16(PKT_UDP, 0, 4, 7) } },
	  .rules = { ALLOW(S4 "/32") },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(UDP) },
	{ .desc = "arp is not checked against the lists", .pkt = { LAYERS(ETH, ARP) },
	  .rules = { BLOCK("0.0.0.0/0") }, .verdict = XDP_PASS, .flags = F_NON_IP },

	/*
	 * Protocol/port-scoped block entries. The fixtures' UDP goes 40000 -> 53, their TCP
	 * 40000 -> 443.
	 */
	{ .desc = "scoped: ipv4 udp 53 from a /24 with udp 53 blocked",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP, PAY(8)) },
	  .rules = { SCOPED_HIT("192.0.2.0/24", UDP_P, 53) },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "scoped: port mismatch (udp 54 blocked) passes",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP, PAY(8)) },
	  .rules = { SCOPED("192.0.2.0/24", UDP_P, 54), SCOPED("192.0.2.0/24", UDP_P, 52) },
	  .verdict = XDP_PASS },
	{ .desc = "scoped: protocol mismatch (tcp 53 blocked) passes udp 53",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP, PAY(8)) },
	  .rules = { SCOPED("192.0.2.0/24", TCP_P, 53) }, .verdict = XDP_PASS },
	{ .desc = "scoped: address mismatch passes",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP, PAY(8)) },
	  .rules = { SCOPED("192.0.3.0/24", UDP_P, 53), SCOPED("192.0.2.2/32", UDP_P, 53) },
	  .verdict = XDP_PASS },
	{ .desc = "scoped: the destination address is not what is matched",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP, PAY(8)) },
	  .rules = { SCOPED(D4 "/32", UDP_P, 53) }, .verdict = XDP_PASS },
	{ .desc = "scoped: tcp 443 /32 drops a syn",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), TCP(12)) },
	  .rules = { SCOPED_HIT(S4 "/32", TCP_P, 443), SCOPED("192.0.2.0/24", UDP_P, 443) },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "scoped: longest address prefix of the same port wins (both block)",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP) },
	  .rules = { SCOPED("192.0.0.0/16", UDP_P, 53), SCOPED_HIT("192.0.2.0/24", UDP_P, 53) },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "scoped: 0.0.0.0/0 udp 53 blocks every source",
	  .pkt = { LAYERS(ETH, IP4("203.0.113.9", D4), UDP) },
	  .rules = { SCOPED_HIT("0.0.0.0/0", UDP_P, 53) },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "scoped: ipv6 udp 53 from a blocked /32",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), UDP, PAY(8)) },
	  .rules = { SCOPED_HIT("2001:db8::/32", UDP_P, 53), SCOPED("2001:db8::/32", TCP_P, 53) },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "scoped: ipv6 tcp 443 after extension headers",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), EXT(PKT_EXT_HOP, 8), EXT(PKT_EXT_DEST, 16), TCP(0)) },
	  .rules = { SCOPED_HIT(S6 "/128", TCP_P, 443) },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "scoped: ipv6 port mismatch passes",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), TCP(0)) },
	  .rules = { SCOPED("2001:db8::/32", TCP_P, 444), SCOPED("2001:db8::/32", UDP_P, 443) },
	  .verdict = XDP_PASS },
	{ .desc = "scoped: 802.1ad+802.1Q ipv4 udp 53",
	  .pkt = { LAYERS(ETH, VLAN(0x88a8), VLAN(0x8100), IP4(S4, D4), UDP) },
	  .rules = { SCOPED_HIT(S4 "/32", UDP_P, 53) },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "scoped: ipv4 later fragment carries no port, not matched",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), IP4FRAG(185, 1), PROTO(17), PAY(64)) },
	  .later_fragment_action = GUARD_ACTION_PASS,
	  .rules = { SCOPED("0.0.0.0/0", UDP_P, 53), SCOPED("0.0.0.0/0", UDP_P, 0) },
	  .verdict = XDP_PASS, .flags = F_FRAGMENT },
	{ .desc = "scoped: ipv6 later fragment carries no port, not matched",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), FRAG6(100, 1), PROTO(17), PAY(64)) },
	  .later_fragment_action = GUARD_ACTION_PASS,
	  .rules = { SCOPED("::/0", UDP_P, 53), SCOPED("::/0", UDP_P, 0) },
	  .verdict = XDP_PASS, .flags = F_FRAGMENT },
	{ .desc = "scoped: ipv4 first fragment carries the udp header: matched",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), IP4FRAG(0, 1), UDP, PAY(32)) },
	  .rules = { SCOPED_HIT(S4 "/32", UDP_P, 53) },
	  .verdict = XDP_DROP, .flags = F_FRAGMENT | F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "scoped: icmp has no port: an entry for proto 1 port 0 is not looked up",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), ICMP, PAY(8)) },
	  .rules = { SCOPED("0.0.0.0/0", 1, 0) }, .verdict = XDP_PASS },
	{ .desc = "scoped: gre has no port either",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), PROTO(47), PAY(4)) },
	  .rules = { SCOPED("0.0.0.0/0", 47, 0) }, .verdict = XDP_PASS },
	{ .desc = "scoped: the allow list wins over a scoped block",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP) },
	  .rules = { ALLOW_HIT(S4 "/32"), SCOPED(S4 "/32", UDP_P, 53) },
	  .verdict = XDP_PASS, .flags = F_ALLOWED },
	{ .desc = "scoped: ipv6 allow /64 wins over a scoped block",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), TCP(0)) },
	  .rules = { ALLOW_HIT("2001:db8::/64"), SCOPED("::/0", TCP_P, 443) },
	  .verdict = XDP_PASS, .flags = F_ALLOWED },
	{ .desc = "scoped: a plain block hit is not looked up further",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP) },
	  .rules = { BLOCK_HIT("192.0.2.0/24"), SCOPED(S4 "/32", UDP_P, 53) },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "scoped: plain block miss, scoped hit",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP) },
	  .rules = { BLOCK("192.0.3.0/24"), SCOPED_HIT(S4 "/32", UDP_P, 53) },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "scoped: expired entry is a miss",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP) },
	  .rules = { { .cidr = S4 "/32", .proto = UDP_P, .port = 53, .expiry = EXPIRED } },
	  .verdict = XDP_PASS },
	{ .desc = "scoped: entry expiring in the future drops",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), UDP) },
	  .rules = { { .cidr = S6 "/128", .proto = UDP_P, .port = 53, .expiry = LIVE, .hit = true } },
	  .verdict = XDP_DROP, .flags = F_BLOCKED, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "scoped: observe mode counts would_drop",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), TCP(0)) }, .observe = true,
	  .rules = { SCOPED_HIT("192.0.2.0/24", TCP_P, 443) },
	  .verdict = XDP_PASS, .flags = F_WOULD_DROP, .reason = GUARD_REASON_BLOCKLIST },
	{ .desc = "scoped: malformed udp is malformed, not matched",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP), .pokes = { POKE16(PKT_UDP, 0, 4, 7) } },
	  .rules = { SCOPED(S4 "/32", UDP_P, 53) },
	  .verdict = XDP_DROP, .flags = F_MALFORMED, .reason = R_MAL(UDP) },

	/* No guard_ifaces entry yet: counted in slot 0, passed, no policy at all. */
	{ .desc = "unconfigured ifindex: slot 0, passed even when malformed",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP), .pokes = { POKE8(PKT_IPV4, 0, 0, 0x44) } },
	  .unconfigured = true, .verdict = XDP_PASS },
	{ .desc = "unconfigured ifindex: slot 0, passed even when blocked",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), UDP) }, .unconfigured = true,
	  .rules = { BLOCK(S4 "/32") }, .verdict = XDP_PASS },
};

/* ---- list entries --------------------------------------------------------- */

struct lpm_key {
	int family;
	size_t size;
	unsigned addr_prefix;
	union {
		struct guard_lpm_v4 v4;
		struct guard_lpm_v6 v6;
		struct guard_lpm_scoped_v4 s4;
		struct guard_lpm_scoped_v6 s6;
	};
};

static bool parse_cidr(const char *cidr, struct lpm_key *k)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(cidr, '/');
	size_t n = slash ? (size_t)(slash - cidr) : 0;
	unsigned prefix;

	memset(k, 0, sizeof(*k));
	if (!slash || n >= sizeof(addr))
		return false;
	memcpy(addr, cidr, n);
	addr[n] = '\0';
	prefix = (unsigned)atoi(slash + 1);
	k->addr_prefix = prefix;
	if (inet_pton(AF_INET, addr, k->v4.addr) == 1 && prefix <= 32) {
		k->family = AF_INET;
		k->v4.prefixlen = prefix;
		k->size = sizeof(k->v4);
		return true;
	}
	if (inet_pton(AF_INET6, addr, k->v6.addr) == 1 && prefix <= 128) {
		k->family = AF_INET6;
		k->v6.prefixlen = prefix;
		k->size = sizeof(k->v6);
		return true;
	}
	return false;
}

/* The key of a list entry: plain, or scoped as guard.h lays it out (proto, port, address). */
static bool rule_key(const struct fx_rule *r, struct lpm_key *k)
{
	struct lpm_key a;

	if (!parse_cidr(r->cidr, &a))
		return false;
	if (!r->proto) {
		*k = a;
		return true;
	}
	memset(k, 0, sizeof(*k));
	k->family = a.family;
	k->addr_prefix = a.addr_prefix;
	if (a.family == AF_INET) {
		k->s4.prefixlen = GUARD_SCOPED_KEY_BITS + a.addr_prefix;
		k->s4.proto = r->proto;
		k->s4.port[0] = (__u8)(r->port >> 8);
		k->s4.port[1] = (__u8)r->port;
		memcpy(k->s4.addr, a.v4.addr, sizeof(k->s4.addr));
		k->size = sizeof(k->s4);
	} else {
		k->s6.prefixlen = GUARD_SCOPED_KEY_BITS + a.addr_prefix;
		k->s6.proto = r->proto;
		k->s6.port[0] = (__u8)(r->port >> 8);
		k->s6.port[1] = (__u8)r->port;
		memcpy(k->s6.addr, a.v6.addr, sizeof(k->s6.addr));
		k->size = sizeof(k->s6);
	}
	return true;
}

static __u64 clock_now_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/* List expiries and drop records: bpf_ktime_get_boot_ns(). */
static __u64 boottime_ns(void)
{
	return clock_now_ns(CLOCK_BOOTTIME);
}

/* Rate-limit buckets: bpf_ktime_get_coarse_ns(), never ahead of CLOCK_MONOTONIC. */
static __u64 monotonic_ns(void)
{
	return clock_now_ns(CLOCK_MONOTONIC);
}

/* Two ticks at HZ=100: how far the datapath's cached coarse clock may lag. */
#define RL_CLOCK_SLACK_NS 20000000ull

static int rule_map(const struct guard *g, const struct fx_rule *r, int family)
{
	return family == AF_INET ? g->scoped4 : g->scoped6;
}

static struct prefix_table *rule_table(const struct guard *g, const struct fx_rule *r, int family)
{
	return g->tables[r->allow][family == AF_INET6];
}

static void rule_cidr(const struct lpm_key *k, struct cidr *c)
{
	memset(c, 0, sizeof(*c));
	c->family = k->family;
	c->prefixlen = (uint8_t)k->addr_prefix;
	memcpy(c->addr, k->family == AF_INET ? k->v4.addr : k->v6.addr, k->family == AF_INET ? 4 : 16);
}

static const char *rule_name(const struct fx_rule *r, char *buf, size_t len)
{
	if (r->proto)
		snprintf(buf, len, "%s proto %u port %u", r->cidr, r->proto, r->port);
	else
		snprintf(buf, len, "%s%s", r->allow ? "allow " : "", r->cidr);
	return buf;
}

/* The value the agent would write: reason_id 7, origin CLI, the address prefix length. */
static bool add_rule(struct guard *g, const char *desc, const struct fx_rule *r)
{
	struct guard_rule v = { .created_ns = 1, .origin = GUARD_ORIGIN_CLI, .reason_id = 7 };
	char name[512], rn[128];
	struct lpm_key k;
	__u64 now = boottime_ns();

	snprintf(name, sizeof(name), "%s: rule %s", desc, rule_name(r, rn, sizeof(rn)));
	if (!ASSERT_TRUE(rule_key(r, &k), name))
		return false;
	v.prefixlen = (__u8)k.addr_prefix;
	if (r->expiry == EXPIRED)
		v.expires_ns = now - 1000000000ull;
	else if (r->expiry == LIVE)
		v.expires_ns = now + 3600 * 1000000000ull;
	if (!r->proto) {
		struct prefix_attrs a = { .created_ns = v.created_ns, .expires_ns = v.expires_ns,
					  .reason_id = v.reason_id, .origin = v.origin };
		struct cidr c;

		rule_cidr(&k, &c);
		return ASSERT_OK(prefix_table_add(rule_table(g, r, k.family), &c, &a, NULL), name);
	}
	return ASSERT_OK(bpf_map_update_elem(rule_map(g, r, k.family), &k.v4, &v, BPF_NOEXIST), name);
}

/* The kernel's record of a list entry: the prefix table's rule, or the scoped LPM value. */
static bool rule_record(struct guard *g, const struct fx_rule *r, const struct lpm_key *k,
			struct guard_rule *v, const char *name)
{
	const struct prefix_rule *pr;
	struct prefix_table *t;
	struct cidr c;

	if (r->proto)
		return ASSERT_OK(bpf_map_lookup_elem(rule_map(g, r, k->family), &k->v4, v), name);
	t = rule_table(g, r, k->family);
	rule_cidr(k, &c);
	pr = prefix_table_rule(t, prefix_table_find(t, &c));
	if (!ASSERT_TRUE(pr, name))
		return false;
	memset(v, 0, sizeof(*v));
	v->hit_packets = pr->hit_packets;
	v->hit_bytes = pr->hit_bytes;
	v->last_hit_ns = pr->last_hit_ns;
	v->prefixlen = pr->prefixlen;
	return true;
}

/* The entry's own hit counters: bumped exactly once by a hit, untouched otherwise. */
static bool check_rule_hits(struct guard *g, const char *desc, const struct fx_rule *r, size_t len)
{
	struct guard_rule v;
	char name[512], rn[128];
	struct lpm_key k;
	bool ok = true;

	rule_key(r, &k);
	rule_name(r, rn, sizeof(rn));
	snprintf(name, sizeof(name), "%s: lookup rule %s", desc, rn);
	if (!rule_record(g, r, &k, &v, name))
		return false;
	snprintf(name, sizeof(name), "%s: rule %s hit_packets", desc, rn);
	ok &= ASSERT_EQ(v.hit_packets, r->hit ? 1 : 0, name);
	snprintf(name, sizeof(name), "%s: rule %s hit_bytes", desc, rn);
	ok &= ASSERT_EQ(v.hit_bytes, r->hit ? len : 0, name);
	snprintf(name, sizeof(name), "%s: rule %s last_hit_ns set", desc, rn);
	ok &= ASSERT_EQ(v.last_hit_ns != 0, r->hit, name);
	if (r->hit) {
		snprintf(name, sizeof(name), "%s: rule %s last_hit_ns not in the future", desc, rn);
		ok &= ASSERT_TRUE(v.last_hit_ns <= boottime_ns(), name);
	}
	return ok;
}

static bool run_fixture(const struct fixture *f)
{
	struct guard g;
	struct pkt p;
	bool ok = false;

	build_packet(&p, &f->pkt);
	if (!guard_open(&g))
		return false;
	if (!f->unconfigured &&
	    !guard_set_iface(&g, f->observe ? GUARD_MODE_OBSERVE_V : GUARD_MODE_BLOCK_V))
		goto out;
	if (!guard_set_policy(&g, f->malformed_action, f->later_fragment_action))
		goto out;
	for (const struct fx_rule *r = f->rules; r->cidr; r++)
		if (!add_rule(&g, f->desc, r))
			goto out;
	ok = run_check(&g, f->desc, p.buf, p.len, f->unconfigured ? 0 : SLOT, f->verdict, f->flags,
		       f->reason);
	for (const struct fx_rule *r = f->rules; r->cidr; r++)
		ok &= check_rule_hits(&g, f->desc, r, p.len);
out:
	guard_close(&g);
	return ok;
}

TEST(guard_xdp_fixtures)
{
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
		run_fixture(&fixtures[i]);
}

/* ---- every base packet cut at every byte --------------------------------- */

struct cut_base {
	const char *desc;
	struct build pkt;
	unsigned flags;		/* what the whole packet counts (F_FRAGMENT) */
};

static const struct cut_base cut_bases[] = {
	{ .desc = "802.1ad+802.1Q ipv4+options tcp+options",
	  .pkt = { LAYERS(ETH, VLAN(0x88a8), VLAN(0x8100), IP4O(S4, D4, 8), TCP(12), PAY(4)) } },
	{ .desc = "ipv4 udp", .pkt = { LAYERS(ETH, IP4(S4, D4), UDP, PAY(6)) } },
	{ .desc = "802.1Q ipv4 icmp",
	  .pkt = { LAYERS(ETH, VLAN(0x8100), IP4(S4, D4), ICMP, PAY(4)) } },
	{ .desc = "ipv4 first fragment udp",
	  .pkt = { LAYERS(ETH, IP4(S4, D4), IP4FRAG(0, 1), UDP, PAY(8)) },
	  .flags = F_FRAGMENT },
	{ .desc = "ipv6 hop-by-hop + routing + dstopts tcp+options",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), EXT(PKT_EXT_HOP, 8), EXT(PKT_EXT_ROUTING, 24),
		   EXT(PKT_EXT_DEST, 16), TCP(8), PAY(2)) } },
	{ .desc = "802.1Q ipv6 udp",
	  .pkt = { LAYERS(ETH, VLAN(0x8100), IP6(S6, D6), UDP, PAY(3)) } },
	{ .desc = "ipv6 icmpv6", .pkt = { LAYERS(ETH, IP6(S6, D6), ICMP6, PAY(4)) } },
	{ .desc = "ipv6 ah tcp", .pkt = { LAYERS(ETH, IP6(S6, D6), EXT(PKT_EXT_AH, 16), TCP(0)) } },
	{ .desc = "ipv6 dstopts + first fragment udp",
	  .pkt = { LAYERS(ETH, IP6(S6, D6), EXT(PKT_EXT_DEST, 8), FRAG6(0, 1), UDP, PAY(8)) },
	  .flags = F_FRAGMENT },
	{ .desc = "802.1ad+802.1Q ipv6 icmpv6",
	  .pkt = { LAYERS(ETH, VLAN(0x88a8), VLAN(0x8100), IP6(S6, D6), ICMP6) } },
};

static enum guard_reason kind_reason(enum pkt_kind kind)
{
	switch (kind) {
	case PKT_ETH: return GUARD_REASON_MALFORMED_ETH;
	case PKT_VLAN: return GUARD_REASON_MALFORMED_VLAN;
	case PKT_IPV4: return GUARD_REASON_MALFORMED_IPV4;
	case PKT_IPV6: return GUARD_REASON_MALFORMED_IPV6;
	case PKT_IPV6_EXT: return GUARD_REASON_MALFORMED_IPV6_EXT;
	case PKT_TCP: return GUARD_REASON_MALFORMED_TCP;
	case PKT_UDP: return GUARD_REASON_MALFORMED_UDP;
	case PKT_ICMP:
	case PKT_ICMPV6: return GUARD_REASON_MALFORMED_ICMP;
	default: return GUARD_REASON_NONE;
	}
}

/*
 * The reason a packet cut to len bytes must be counted under, and the header the cut is in.
 * Refitted, the cut header itself is short. As is, anything cut after the IP header leaves a
 * tot_len/payload_len that overshoots the packet, and the IP header is what fails.
 */
static enum guard_reason cut_reason(const struct pkt *p, size_t len, bool refit,
				    const struct pkt_hdr **in)
{
	enum guard_reason ip = GUARD_REASON_NONE;

	*in = NULL;
	for (int i = 0; i < p->nhdr; i++) {
		const struct pkt_hdr *h = &p->hdr[i];

		if (h->off + h->len > len) {
			*in = h;
			if (!refit && ip != GUARD_REASON_NONE)
				return ip;
			return kind_reason(h->kind);
		}
		if (h->kind == PKT_IPV4 || h->kind == PKT_IPV6)
			ip = kind_reason(h->kind);
	}
	return GUARD_REASON_NONE;
}

struct cut_config {
	const char *desc;
	bool observe;
	__u32 malformed_action;
	bool all_on;	/* scoped entry, rate limits and drop records configured, none matching */
};

static const struct cut_config cut_configs[] = {
	{ .desc = "block mode, malformed_action drop", false, GUARD_ACTION_DROP },
	{ .desc = "block mode, malformed_action pass", false, GUARD_ACTION_PASS },
	{ .desc = "observe mode", true, GUARD_ACTION_DROP },
	{ .desc = "block mode, scoped list, rate limits, drop records", false, GUARD_ACTION_DROP,
	  true },
};

/*
 * Everything configured, nothing that the test packets hit: a scoped entry for another
 * network, limits no test reaches, and a record for every drop (the sweep's malformed ones).
 */
static bool guard_all_on(struct guard *g, __u32 malformed_action)
{
	static const struct fx_rule scoped[] = { SCOPED("203.0.113.0/24", UDP_P, 53),
						 SCOPED("2001:db8:ffff::/48", TCP_P, 443) };
	struct guard_settings set = { .malformed_action = malformed_action,
				      .later_fragment_action = GUARD_ACTION_PASS,
				      .sample_every = 1, .sample_max_per_sec = 1000000 };

	for (int c = 0; c < GUARD_RL_CLASS_COUNT; c++)
		if (!guard_set_limit(g, c, 1000000000, 1000000000000ull, 0, 0))
			return false;
	for (size_t i = 0; i < sizeof(scoped) / sizeof(scoped[0]); i++) {
		struct lpm_key k;
		struct guard_rule v = {};

		rule_key(&scoped[i], &k);
		/* Written again for each config of a base: BPF_ANY. */
		if (!ASSERT_OK(bpf_map_update_elem(rule_map(g, &scoped[i], k.family), &k.v4, &v,
						   BPF_ANY), "all on: scoped entry"))
			return false;
	}
	return guard_set_settings(g, &set);
}

/* Stops at the first failing cut of a base and config: one bug, one message. */
static bool cut_base_run(struct guard *g, const struct cut_base *b, const struct cut_config *c,
			 const struct pkt *p)
{
	uint8_t buf[PKT_MAX];
	char what[512];

	for (int refit = 0; refit <= 1; refit++) {
		for (size_t len = ETH_HLEN; len < p->len; len++) {
			const struct pkt_hdr *in;
			enum guard_reason r = cut_reason(p, len, refit, &in);
			bool drop = !c->observe && c->malformed_action == GUARD_ACTION_DROP;
			unsigned flags = b->flags;
			__u32 verdict = XDP_PASS;

			memcpy(buf, p->buf, len);
			if (refit)
				pkt_fix_lengths(p, buf, len);
			if (r != GUARD_REASON_NONE) {
				flags = F_MALFORMED;
				if (c->observe && c->malformed_action == GUARD_ACTION_DROP)
					flags |= F_WOULD_DROP;
				if (drop)
					verdict = XDP_DROP;
				if (drop && c->all_on)
					flags |= F_SAMPLED;
			}
			snprintf(what, sizeof(what), "%s, %s, cut at %zu of %zu (%s+%zu)%s", b->desc,
				 c->desc, len, p->len, in ? pkt_kind_name(in->kind) : "-",
				 in ? len - in->off : 0, refit ? ", lengths refitted" : "");
			if (!run_check(g, what, buf, len, SLOT, verdict, flags, r))
				return false;
		}
	}
	return true;
}

TEST(guard_xdp_truncated)
{
	for (size_t i = 0; i < sizeof(cut_bases) / sizeof(cut_bases[0]); i++) {
		const struct cut_base *b = &cut_bases[i];
		struct guard g;
		struct pkt p;
		char what[512];

		build_packet(&p, &b->pkt);
		if (!guard_open(&g))
			return;
		if (!guard_set_iface(&g, GUARD_MODE_BLOCK_V) ||
		    !guard_set_policy(&g, GUARD_ACTION_DROP, GUARD_ACTION_PASS))
			goto next;
		snprintf(what, sizeof(what), "%s, whole", b->desc);
		if (!run_check(&g, what, p.buf, p.len, SLOT, XDP_PASS, b->flags, GUARD_REASON_NONE))
			goto next;
		for (size_t c = 0; c < sizeof(cut_configs) / sizeof(cut_configs[0]); c++) {
			const struct cut_config *cc = &cut_configs[c];

			if (!guard_set_iface(&g, cc->observe ? GUARD_MODE_OBSERVE_V : GUARD_MODE_BLOCK_V) ||
			    !guard_set_policy(&g, cc->malformed_action, GUARD_ACTION_PASS) ||
			    (cc->all_on && !guard_all_on(&g, cc->malformed_action)) ||
			    !cut_base_run(&g, b, cc, &p))
				break;
		}
next:
		guard_close(&g);
	}
}

/*
 * A cut inside the Ethernet header cannot reach the program: test_run refuses XDP input shorter
 * than ETH_HLEN with EINVAL (and so does every driver). MALFORMED_ETH is therefore unreachable
 * through test_run; check the refusal and that nothing was counted.
 */
TEST(guard_xdp_short_frame)
{
	struct guard_counters before, after;
	struct guard g;
	struct pkt p;
	char name[128];

	build_packet(&p, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP) });
	if (!guard_open(&g))
		return;
	if (!guard_set_iface(&g, GUARD_MODE_BLOCK_V) || !guard_read(&g, SLOT, &before))
		goto out;
	for (size_t len = 0; len < ETH_HLEN; len++) {
		__u32 retval;

		snprintf(name, sizeof(name), "frame of %zu bytes refused", len);
		if (!ASSERT_EQ(guard_run(&g, p.buf, len, &retval), -EINVAL, name))
			goto out;
	}
	if (guard_read(&g, SLOT, &after))
		ASSERT_EQ(after.rx_packets, before.rx_packets, "nothing counted for refused frames");
out:
	guard_close(&g);
}

/* The mode is read from guard_ifaces on every packet: a map write switches it, no reload. */
TEST(guard_xdp_mode_switch)
{
	static const struct fx_rule rule = BLOCK(S4 "/32");
	struct guard g;
	struct pkt p;

	build_packet(&p, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP, PAY(18)) });
	if (!guard_open(&g))
		return;
	if (!guard_set_policy(&g, GUARD_ACTION_DROP, GUARD_ACTION_DROP) ||
	    !add_rule(&g, "mode switch", &rule))
		goto out;
	if (!guard_set_iface(&g, GUARD_MODE_BLOCK_V) ||
	    !run_check(&g, "block mode", p.buf, p.len, SLOT, XDP_DROP, F_BLOCKED,
		       GUARD_REASON_BLOCKLIST))
		goto out;
	if (!guard_set_iface(&g, GUARD_MODE_OBSERVE_V) ||
	    !run_check(&g, "switched to observe", p.buf, p.len, SLOT, XDP_PASS, F_WOULD_DROP,
		       GUARD_REASON_BLOCKLIST))
		goto out;
	if (!guard_set_iface(&g, GUARD_MODE_BLOCK_V) ||
	    !run_check(&g, "switched back to block", p.buf, p.len, SLOT, XDP_DROP, F_BLOCKED,
		       GUARD_REASON_BLOCKLIST))
		goto out;
	/* Settings too are read when needed, not cached. */
	build_packet(&p, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP),
					  .pokes = { POKE8(PKT_IPV4, 0, 0, 0x44) } });
	if (!run_check(&g, "malformed, drop", p.buf, p.len, SLOT, XDP_DROP, F_MALFORMED,
		       GUARD_REASON_MALFORMED_IPV4) ||
	    !guard_set_policy(&g, GUARD_ACTION_PASS, GUARD_ACTION_DROP))
		goto out;
	run_check(&g, "malformed, switched to pass", p.buf, p.len, SLOT, XDP_PASS, F_MALFORMED,
		  GUARD_REASON_MALFORMED_IPV4);
out:
	guard_close(&g);
}

/* ---- empty-list hints ------------------------------------------------------ */

/* settings.empty_lists skips lookups: the agent's promise, which a wrong bit turns into a miss. */
TEST(guard_xdp_empty_hints)
{
	static const struct fx_rule rules[] = { BLOCK(S4 "/32"), SCOPED(S6 "/128", UDP_P, 53),
						ALLOW("10.0.0.0/8") };
	struct guard_settings set = { .later_fragment_action = GUARD_ACTION_PASS };
	struct guard g;
	struct pkt p4, p6, pa;

	build_packet(&p4, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP) });
	build_packet(&p6, &(struct build){ LAYERS(ETH, IP6(S6, D6), UDP) });
	build_packet(&pa, &(struct build){ LAYERS(ETH, IP4("10.1.1.1", D4), UDP) });
	if (!guard_open(&g))
		return;
	if (!guard_set_iface(&g, GUARD_MODE_BLOCK_V) || !guard_set_settings(&g, &set))
		goto out;
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (!add_rule(&g, "hints", &rules[i]))
			goto out;
	if (!run_check(&g, "no hints: blocked", p4.buf, p4.len, SLOT, XDP_DROP, F_BLOCKED,
		       GUARD_REASON_BLOCKLIST) ||
	    !run_check(&g, "no hints: scoped blocked", p6.buf, p6.len, SLOT, XDP_DROP, F_BLOCKED,
		       GUARD_REASON_BLOCKLIST) ||
	    !run_check(&g, "no hints: allowed", pa.buf, pa.len, SLOT, XDP_PASS, F_ALLOWED,
		       GUARD_REASON_NONE))
		goto out;
	/* The bits of the other lists change nothing. */
	set.empty_lists = GUARD_EMPTY_ALLOW_V6 | GUARD_EMPTY_BLOCK_V6 | GUARD_EMPTY_BLOCK_SCOPED_V4;
	if (!guard_set_settings(&g, &set) ||
	    !run_check(&g, "other bits: blocked", p4.buf, p4.len, SLOT, XDP_DROP, F_BLOCKED,
		       GUARD_REASON_BLOCKLIST) ||
	    !run_check(&g, "other bits: scoped blocked", p6.buf, p6.len, SLOT, XDP_DROP, F_BLOCKED,
		       GUARD_REASON_BLOCKLIST) ||
	    !run_check(&g, "other bits: allowed", pa.buf, pa.len, SLOT, XDP_PASS, F_ALLOWED,
		       GUARD_REASON_NONE))
		goto out;
	set.empty_lists = GUARD_EMPTY_ALLOW_V4 | GUARD_EMPTY_BLOCK_V4 | GUARD_EMPTY_BLOCK_SCOPED_V6;
	if (!guard_set_settings(&g, &set))
		goto out;
	run_check(&g, "block_v4 skipped", p4.buf, p4.len, SLOT, XDP_PASS, 0, GUARD_REASON_NONE);
	run_check(&g, "scoped_v6 skipped", p6.buf, p6.len, SLOT, XDP_PASS, 0, GUARD_REASON_NONE);
	run_check(&g, "allow_v4 skipped", pa.buf, pa.len, SLOT, XDP_PASS, 0, GUARD_REASON_NONE);
out:
	guard_close(&g);
}

/* ---- rate limits ------------------------------------------------------------ */

#define SCALE GUARD_RL_SCALE

/* The delta K runs of one packet must leave: pass packets passed, the rest over the limit. */
static void expect_rl(struct guard_counters *e, size_t len, unsigned k, unsigned pass, bool observe)
{
	unsigned over = k - pass;

	memset(e, 0, sizeof(*e));
	e->rx_packets = k;
	e->rx_bytes = (__u64)k * len;
	e->passed = observe ? k : pass;
	e->dropped = observe ? 0 : over;
	e->would_drop = observe ? over : 0;
	e->rate_limited = observe ? 0 : over;
	e->by_reason[GUARD_REASON_RATE_LIMIT] = over;
}

/* Runs the packet k times in one test_run and checks the deltas against expected. */
static bool run_k(struct guard *g, const char *what, const struct pkt *p, __u32 ifindex, unsigned k,
		  __u32 slot, const struct guard_counters *expected, __u32 last_verdict)
{
	struct guard_counters before, after;
	char name[512];
	__u32 retval = ~0u;
	bool ok;

	if (!guard_read(g, slot, &before))
		return false;
	snprintf(name, sizeof(name), "%s: bpf_prog_test_run_opts", what);
	if (!ASSERT_OK(guard_run_on(g, p->buf, p->len, ifindex, k, &retval), name))
		return false;
	snprintf(name, sizeof(name), "%s: last verdict (got %s)", what, verdict_name(retval));
	ok = ASSERT_EQ(retval, last_verdict, name);
	if (!guard_read(g, slot, &after))
		return false;
	return check_delta(what, &before, &after, expected) && ok;
}

/* K packets of which exactly `pass` get through. */
static bool run_rl(struct guard *g, const char *what, const struct pkt *p, unsigned k,
		   unsigned pass, bool observe)
{
	struct guard_counters e;

	expect_rl(&e, p->len, k, pass, observe);
	return run_k(g, what, p, IFINDEX, k, SLOT, &e,
		     k > pass && !observe ? XDP_DROP : XDP_PASS);
}

static void rl_key(struct guard_rl_key *k, int family, enum guard_rl_class cls, unsigned plen,
		   const char *addr)
{
	memset(k, 0, sizeof(*k));
	k->family = family == AF_INET ? 2 : 10;
	k->rl_class = cls;
	k->prefixlen = plen;
	if (inet_pton(family, addr, k->addr) != 1)
		abort();
}

static bool rl_state(struct guard *g, const char *what, const struct guard_rl_key *k,
		     struct guard_rl_state *st)
{
	char name[256];

	snprintf(name, sizeof(name), "%s: guard_rl_state entry", what);
	return ASSERT_OK(bpf_map_lookup_elem(g->rl_state, k, st), name);
}

static bool rl_open(struct guard *g, bool observe)
{
	if (!guard_open(g))
		return false;
	if (guard_set_iface(g, observe ? GUARD_MODE_OBSERVE_V : GUARD_MODE_BLOCK_V) &&
	    guard_set_policy(g, GUARD_ACTION_DROP, GUARD_ACTION_PASS))
		return true;
	guard_close(g);
	return false;
}

static void pkt_tcp_flags(struct pkt *p, uint8_t flags)
{
	pkt_at(p, PKT_TCP, 0)[13] = flags;
}

/* A packet limit: exactly burst pass, then every one is over; the state tells the agent so. */
TEST(guard_xdp_rate_limit_pps)
{
	struct guard_rl_state st;
	struct guard_rl_key k;
	struct guard g;
	struct pkt p, q;
	__u64 t0, t1;

	build_packet(&p, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP, PAY(18)) });
	build_packet(&q, &(struct build){ LAYERS(ETH, IP4("192.0.2.77", D4), UDP, PAY(18)) });
	if (!rl_open(&g, false))
		return;
	if (!guard_set_limit(&g, GUARD_RL_UDP, 1, 0, 5, 0))
		goto out;
	t0 = monotonic_ns();
	if (!run_rl(&g, "udp pps 1 burst 5: 12 packets", &p, 12, 5, false))
		goto out;
	t1 = monotonic_ns();
	if (!run_rl(&g, "another source has its own bucket", &q, 3, 3, false) ||
	    !run_rl(&g, "the first source is still over", &p, 2, 0, false))
		goto out;

	rl_key(&k, AF_INET, GUARD_RL_UDP, 32, S4);
	if (!rl_state(&g, "udp source", &k, &st))
		goto out;
	ASSERT_EQ(st.total_packets, 14, "total_packets");
	ASSERT_EQ(st.total_over_packets, 9, "total_over_packets");
	ASSERT_EQ(st.over_packets, 9, "over_packets in the streak");
	ASSERT_EQ(st.over_bytes, 9 * p.len, "over_bytes in the streak");
	/* The buckets' clock is the coarse one, cached per jiffy: a tick or two behind. */
	ASSERT_TRUE(st.over_since_ns + RL_CLOCK_SLACK_NS >= t0 && st.over_since_ns <= t1,
		    "over_since_ns: first over packet");
	ASSERT_TRUE(st.last_over_ns >= st.over_since_ns && st.last_over_ns <= monotonic_ns(),
		    "last_over_ns: the latest over packet");
	ASSERT_TRUE(st.created_ns + RL_CLOCK_SLACK_NS >= t0 && st.created_ns <= t1, "created_ns");
	ASSERT_TRUE(st.pkt_tokens < SCALE, "packet credit below one packet");
	ASSERT_EQ(st.byte_tokens, 0, "no byte bucket");
	rl_key(&k, AF_INET, GUARD_RL_UDP, 32, "192.0.2.77");
	if (rl_state(&g, "second source", &k, &st)) {
		ASSERT_EQ(st.total_packets, 3, "second source: total_packets");
		ASSERT_EQ(st.over_since_ns, 0, "second source: never over");
		ASSERT_EQ(st.pkt_tokens / SCALE, 2, "second source: 2 packets of credit left");
	}
	rl_key(&k, AF_INET, GUARD_RL_ALL, 32, S4);
	ASSERT_EQ(bpf_map_lookup_elem(g.rl_state, &k, &st), -ENOENT, "no ALL bucket without an ALL limit");
out:
	guard_close(&g);
}

/* Classes: SYN (without ACK), UDP, ICMP and ICMPv6 each count on their own. */
TEST(guard_xdp_rate_limit_classes)
{
	struct pkt syn, synack, ack, udp, icmp, icmp6, syn6;
	struct guard g;

	build_packet(&syn, &(struct build){ LAYERS(ETH, IP4(S4, D4), TCP(0)) });
	build_packet(&synack, &(struct build){ LAYERS(ETH, IP4(S4, D4), TCP(0)) });
	pkt_tcp_flags(&synack, 0x12);
	build_packet(&ack, &(struct build){ LAYERS(ETH, IP4(S4, D4), TCP(0), PAY(10)) });
	pkt_tcp_flags(&ack, 0x10);
	build_packet(&udp, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP) });
	build_packet(&icmp, &(struct build){ LAYERS(ETH, IP4(S4, D4), ICMP, PAY(8)) });
	build_packet(&icmp6, &(struct build){ LAYERS(ETH, IP6(S6, D6), ICMP6, PAY(8)) });
	build_packet(&syn6, &(struct build){ LAYERS(ETH, IP6(S6, D6), TCP(0)) });
	if (!rl_open(&g, false))
		return;
	if (!guard_set_limit(&g, GUARD_RL_TCP_SYN, 1, 0, 2, 0) ||
	    !guard_set_limit(&g, GUARD_RL_ICMP, 1, 0, 1, 0))
		goto out;
	if (!run_rl(&g, "syn: burst 2 of 5", &syn, 5, 2, false) ||
	    !run_rl(&g, "udp from the same source: no udp limit", &udp, 5, 5, false) ||
	    !run_rl(&g, "ack: no class, no ALL limit", &ack, 5, 5, false) ||
	    !run_rl(&g, "syn+ack is not a syn", &synack, 3, 3, false) ||
	    !run_rl(&g, "icmp: burst 1 of 3", &icmp, 3, 1, false) ||
	    !run_rl(&g, "icmpv6 is icmp too, its own source", &icmp6, 3, 1, false) ||
	    !run_rl(&g, "ipv6 syn: its own source", &syn6, 3, 2, false) ||
	    !run_rl(&g, "syn still over", &syn, 1, 0, false))
		goto out;
	/* A udp limit now, from a fresh bucket. */
	if (!guard_set_limit(&g, GUARD_RL_UDP, 1, 0, 4, 0))
		goto out;
	run_rl(&g, "udp limit set: burst 4 of 6", &udp, 6, 4, false);
out:
	guard_close(&g);
}

/* ALL counts every packet of a source, after its class bucket. */
TEST(guard_xdp_rate_limit_all)
{
	struct pkt udp, ack, syn, other;
	struct guard g;

	build_packet(&udp, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP) });
	build_packet(&ack, &(struct build){ LAYERS(ETH, IP4(S4, D4), TCP(0)) });
	pkt_tcp_flags(&ack, 0x10);
	build_packet(&syn, &(struct build){ LAYERS(ETH, IP4(S4, D4), TCP(0)) });
	build_packet(&other, &(struct build){ LAYERS(ETH, IP4(S4, D4), PROTO(47), PAY(4)) });
	if (!rl_open(&g, false))
		return;
	if (!guard_set_limit(&g, GUARD_RL_ALL, 1, 0, 5, 0) ||
	    !guard_set_limit(&g, GUARD_RL_TCP_SYN, 1, 0, 1, 0))
		goto out;
	if (!run_rl(&g, "all: 2 udp", &udp, 2, 2, false) ||
	    !run_rl(&g, "all: 1 ack", &ack, 1, 1, false) ||
	    /* The second syn is over its class bucket and never reaches ALL's. */
	    !run_rl(&g, "all: syn class burst 1 of 2", &syn, 2, 1, false) ||
	    !run_rl(&g, "all: gre, 1 left of 5", &other, 3, 1, false) ||
	    !run_rl(&g, "all: udp over ALL", &udp, 1, 0, false))
		goto out;
out:
	guard_close(&g);
}

/* Observe mode: the same decisions, counted as would_drop, everything passes. */
TEST(guard_xdp_rate_limit_observe)
{
	struct guard_rl_state st;
	struct guard_rl_key k;
	struct guard g;
	struct pkt p;

	build_packet(&p, &(struct build){ LAYERS(ETH, IP6(S6, D6), UDP, PAY(18)) });
	if (!rl_open(&g, true))
		return;
	if (!guard_set_limit(&g, GUARD_RL_UDP, 1, 0, 5, 0) ||
	    !run_rl(&g, "observe: burst 5 of 12", &p, 12, 5, true))
		goto out;
	rl_key(&k, AF_INET6, GUARD_RL_UDP, 64, "2001:db8::");
	if (rl_state(&g, "observe", &k, &st)) {
		ASSERT_EQ(st.over_packets, 7, "observe: over_packets");
		ASSERT_NEQ(st.over_since_ns, 0, "observe: over_since_ns set");
	}
out:
	guard_close(&g);
}

/* A byte limit, alone and beside a packet limit (a packet over on bytes gives its packet back). */
TEST(guard_xdp_rate_limit_bytes)
{
	struct guard_rl_state st;
	struct guard_rl_key k;
	struct guard g;
	struct pkt p, big, q;

	build_packet(&p, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP, PAY(58)) });
	build_packet(&big, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP, PAY(400)) });
	build_packet(&q, &(struct build){ LAYERS(ETH, IP4("192.0.2.99", D4), UDP, PAY(58)) });
	if (!rl_open(&g, false))
		return;
	if (!guard_set_limit(&g, GUARD_RL_UDP, 0, 1, 0, 3 * p.len + p.len / 2))
		goto out;
	if (!run_rl(&g, "bps 1, 3.5 packets of bytes: 3 of 8", &p, 8, 3, false))
		goto out;
	/* Half a small packet left: a big one does not fit either. */
	if (!run_rl(&g, "a big packet does not fit the half packet left", &big, 1, 0, false))
		goto out;
	/* Both: 10 packets of credit, bytes for 2. */
	if (!guard_set_limit(&g, GUARD_RL_UDP, 1, 1, 10, 2 * q.len) ||
	    !run_rl(&g, "pps and bps: bytes for 2 of 6", &q, 6, 2, false))
		goto out;
	rl_key(&k, AF_INET, GUARD_RL_UDP, 32, "192.0.2.99");
	if (rl_state(&g, "pps and bps", &k, &st)) {
		ASSERT_EQ(st.pkt_tokens / SCALE, 8, "packets over on bytes gave their packet back");
		ASSERT_TRUE(st.byte_tokens < SCALE, "byte credit spent");
	}
out:
	guard_close(&g);
}

/* The bucket's source prefix comes from the settings: IPv4 /32 and IPv6 /64 by default. */
TEST(guard_xdp_rate_limit_prefix)
{
	struct guard_settings set = { .later_fragment_action = GUARD_ACTION_PASS };
	struct pkt a1, a2, b, c1, c2, d;
	struct guard_rl_state st;
	struct guard_rl_key k;
	struct guard g;

	build_packet(&a1, &(struct build){ LAYERS(ETH, IP4("192.0.2.1", D4), UDP) });
	build_packet(&a2, &(struct build){ LAYERS(ETH, IP4("192.0.2.200", D4), UDP) });
	build_packet(&b, &(struct build){ LAYERS(ETH, IP4("192.0.3.1", D4), UDP) });
	build_packet(&c1, &(struct build){ LAYERS(ETH, IP6("2001:db8:0:7::1", D6), UDP) });
	build_packet(&c2, &(struct build){ LAYERS(ETH, IP6("2001:db8:0:7:ffff::2", D6), UDP) });
	build_packet(&d, &(struct build){ LAYERS(ETH, IP6("2001:db8:0:8::1", D6), UDP) });
	if (!rl_open(&g, false))
		return;
	if (!guard_set_limit(&g, GUARD_RL_UDP, 1, 0, 4, 0))
		goto out;
	/* Defaults: /32 apart, /64 shared. */
	if (!run_rl(&g, "/32: 192.0.2.1", &a1, 3, 3, false) ||
	    !run_rl(&g, "/32: 192.0.2.200 is another bucket", &a2, 3, 3, false) ||
	    !run_rl(&g, "/64: 2001:db8:0:7::1", &c1, 3, 3, false) ||
	    !run_rl(&g, "/64: 2001:db8:0:7:ffff::2 shares it", &c2, 3, 1, false) ||
	    !run_rl(&g, "/64: 2001:db8:0:8::1 is another", &d, 1, 1, false))
		goto out;
	rl_key(&k, AF_INET6, GUARD_RL_UDP, 64, "2001:db8:0:7::");
	if (rl_state(&g, "/64 bucket", &k, &st))
		ASSERT_EQ(st.total_packets, 6, "/64 bucket: both sources");
	/* /24 and /48: new buckets, keyed by the new prefix length. */
	set.rl_prefix_v4 = 24;
	set.rl_prefix_v6 = 48;
	if (!guard_set_settings(&g, &set) ||
	    !run_rl(&g, "/24: 192.0.2.1", &a1, 3, 3, false) ||
	    !run_rl(&g, "/24: 192.0.2.200 shares it", &a2, 3, 1, false) ||
	    !run_rl(&g, "/24: 192.0.3.1 is another", &b, 1, 1, false) ||
	    !run_rl(&g, "/48: 2001:db8:0:8::1", &d, 3, 3, false) ||
	    !run_rl(&g, "/48: 2001:db8:0:7::1 shares it", &c1, 2, 1, false))
		goto out;
	rl_key(&k, AF_INET, GUARD_RL_UDP, 24, "192.0.2.0");
	if (rl_state(&g, "/24 bucket", &k, &st))
		ASSERT_EQ(st.total_over_packets, 2, "/24 bucket: over packets");
	/* Out-of-range prefixes are clamped to the family's width. */
	set.rl_prefix_v4 = 99;
	if (!guard_set_settings(&g, &set) || !run_rl(&g, "prefix 99 -> /32", &b, 1, 1, false))
		goto out;
	rl_key(&k, AF_INET, GUARD_RL_UDP, 32, "192.0.3.1");
	rl_state(&g, "clamped /32 bucket", &k, &st);
out:
	guard_close(&g);
}

/* The lists come first: an allowed source is never limited, a blocked one never charged. */
TEST(guard_xdp_rate_limit_lists)
{
	static const struct fx_rule rules[] = { ALLOW(S4 "/32"), BLOCK("192.0.2.66/32"),
						SCOPED("192.0.2.67/32", UDP_P, 53) };
	struct guard_counters e;
	struct guard_rl_state st;
	struct guard_rl_key k;
	struct pkt pa, pb, ps, frag;
	struct guard g;

	build_packet(&pa, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP) });
	build_packet(&pb, &(struct build){ LAYERS(ETH, IP4("192.0.2.66", D4), UDP) });
	build_packet(&ps, &(struct build){ LAYERS(ETH, IP4("192.0.2.67", D4), UDP) });
	build_packet(&frag, &(struct build){ LAYERS(ETH, IP4("192.0.2.68", D4), IP4FRAG(185, 1),
						    PROTO(17), PAY(64)) });
	if (!rl_open(&g, false))
		return;
	if (!guard_set_limit(&g, GUARD_RL_UDP, 1, 0, 1, 0) ||
	    !guard_set_limit(&g, GUARD_RL_ALL, 1, 0, 1, 0))
		goto out;
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (!add_rule(&g, "rl lists", &rules[i]))
			goto out;
	memset(&e, 0, sizeof(e));
	e.rx_packets = e.passed = e.allowed_by_list = 5;
	e.rx_bytes = 5 * pa.len;
	if (!run_k(&g, "allowed source: 5 of 5, never limited", &pa, IFINDEX, 5, SLOT, &e, XDP_PASS))
		goto out;
	memset(&e, 0, sizeof(e));
	e.rx_packets = e.dropped = e.blocked_by_list = e.by_reason[GUARD_REASON_BLOCKLIST] = 5;
	e.rx_bytes = 5 * pb.len;
	if (!run_k(&g, "blocked source: the list drops", &pb, IFINDEX, 5, SLOT, &e, XDP_DROP))
		goto out;
	e.rx_bytes = 5 * ps.len;
	if (!run_k(&g, "scoped-blocked source: the list drops", &ps, IFINDEX, 5, SLOT, &e, XDP_DROP))
		goto out;
	rl_key(&k, AF_INET, GUARD_RL_UDP, 32, S4);
	ASSERT_EQ(bpf_map_lookup_elem(g.rl_state, &k, &st), -ENOENT, "no bucket for the allowed source");
	rl_key(&k, AF_INET, GUARD_RL_ALL, 32, "192.0.2.66");
	ASSERT_EQ(bpf_map_lookup_elem(g.rl_state, &k, &st), -ENOENT, "no bucket for the blocked source");
	/* A later fragment passed by the fragment policy is udp traffic: limited like it. */
	expect_rl(&e, frag.len, 3, 1, false);
	e.fragments = 3;
	run_k(&g, "later udp fragments: udp bucket", &frag, IFINDEX, 3, SLOT, &e, XDP_DROP);
out:
	guard_close(&g);
}

/* guard_top's entry for a source: zeroes when there is none. */
static void top_entry(struct guard *g, int family, unsigned plen, const char *addr,
		      struct guard_top_stats *st)
{
	struct guard_rl_key k;

	rl_key(&k, family, 0, plen, addr);
	if (bpf_map_lookup_elem(g->top, &k, st))
		memset(st, 0, sizeof(*st));
}

/*
 * Top talkers: one packet in top_every is charged top_every times to its source's entry, under
 * the verdict the packet got. Runs are multiples of top_every so that each CPU's countdown ends
 * where it began. Malformed packets are not charged.
 */
TEST(guard_xdp_top_sampling)
{
	static const struct fx_rule block = BLOCK("192.0.2.66/32");
	struct guard_settings set = { .malformed_action = GUARD_ACTION_PASS,
				      .later_fragment_action = GUARD_ACTION_PASS, .top_every = 4 };
	struct guard_top_stats st;
	struct pkt pa, pb, p6, bad;
	__u32 retval;
	struct guard g;

	build_packet(&pa, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP) });
	build_packet(&pb, &(struct build){ LAYERS(ETH, IP4("192.0.2.66", D4), UDP) });
	build_packet(&p6, &(struct build){ LAYERS(ETH, IP6(S6, D6), UDP, PAY(18)) });
	bad = pa;
	bad.len = 14 + 10;	/* an IPv4 header cut short */
	if (!rl_open(&g, false))
		return;
	if (!guard_set_settings(&g, &set) || !add_rule(&g, "top", &block))
		goto out;
	if (!ASSERT_OK(guard_run_on(&g, pa.buf, pa.len, IFINDEX, 8, &retval), "passed source x8") ||
	    !ASSERT_OK(guard_run_on(&g, pb.buf, pb.len, IFINDEX, 12, &retval), "blocked source x12") ||
	    !ASSERT_OK(guard_run_on(&g, p6.buf, p6.len, IFINDEX, 4, &retval), "IPv6 source x4") ||
	    !ASSERT_OK(guard_run_on(&g, bad.buf, bad.len, IFINDEX, 3, &retval), "malformed x3"))
		goto out;
	top_entry(&g, AF_INET, 32, S4, &st);
	ASSERT_EQ(st.packets[GUARD_TOP_PASSED], 8, "passed source: 8 packets passed");
	ASSERT_EQ(st.bytes[GUARD_TOP_PASSED], 8 * pa.len, "passed source: its bytes");
	ASSERT_EQ(st.packets[GUARD_TOP_DROPPED], 0, "passed source: none dropped");
	ASSERT_NEQ(st.last_ns, 0, "passed source: last seen");
	top_entry(&g, AF_INET, 32, "192.0.2.66", &st);
	ASSERT_EQ(st.packets[GUARD_TOP_DROPPED], 12, "blocked source: 12 dropped");
	ASSERT_EQ(st.packets[GUARD_TOP_PASSED], 0, "blocked source: none passed");
	top_entry(&g, AF_INET6, 64, "2001:db8::", &st);
	ASSERT_EQ(st.packets[GUARD_TOP_PASSED], 4, "IPv6 source: counted under its /64");
	/* The malformed run charged nothing: the next 4 of S4 land exactly 4 more. */
	if (!ASSERT_OK(guard_run_on(&g, pa.buf, pa.len, IFINDEX, 4, &retval), "passed source x4"))
		goto out;
	top_entry(&g, AF_INET, 32, S4, &st);
	ASSERT_EQ(st.packets[GUARD_TOP_PASSED], 12, "malformed packets moved no countdown");
	/* Observe mode: a listed source's packets are would-drops. */
	if (!guard_set_iface(&g, GUARD_MODE_OBSERVE_V) ||
	    !ASSERT_OK(guard_run_on(&g, pb.buf, pb.len, IFINDEX, 8, &retval), "observe x8"))
		goto out;
	top_entry(&g, AF_INET, 32, "192.0.2.66", &st);
	ASSERT_EQ(st.packets[GUARD_TOP_WOULD_DROP], 8, "observe: 8 would-drops");
	/* top_every 0: nothing more is charged. */
	set.top_every = 0;
	if (!guard_set_settings(&g, &set) ||
	    !ASSERT_OK(guard_run_on(&g, pa.buf, pa.len, IFINDEX, 8, &retval), "off x8"))
		goto out;
	top_entry(&g, AF_INET, 32, S4, &st);
	ASSERT_EQ(st.packets[GUARD_TOP_PASSED], 12, "sampling off: no charge");
out:
	guard_close(&g);
}

/*
 * Time: the bucket refills at pps and never above its burst; an over-limit streak ends when the
 * source has stayed under for GUARD_RL_STREAK_GAP_NS; the rate window closes after a second.
 * Sleeps 1.1 s.
 */
TEST(guard_xdp_rate_limit_refill)
{
	struct guard_rl_state st;
	struct guard_rl_key k;
	struct guard g;
	struct pkt p;
	__u64 first_over;

	build_packet(&p, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP) });
	if (!rl_open(&g, false))
		return;
	rl_key(&k, AF_INET, GUARD_RL_UDP, 32, S4);
	/* 10 pps: a packet of credit every 100 ms, each burst below lasts microseconds. */
	if (!guard_set_limit(&g, GUARD_RL_UDP, 10, 0, 1, 0) ||
	    !run_rl(&g, "burst 1 of 3", &p, 3, 1, false) || !rl_state(&g, "after the burst", &k, &st))
		goto out;
	first_over = st.over_since_ns;
	ASSERT_NEQ(first_over, 0, "streak started");
	ASSERT_EQ(st.over_packets, 2, "streak: 2 over");
	usleep(1100 * 1000);
	/* 11 packets of credit earned, the bucket holds 1. */
	if (!run_rl(&g, "after 1.1 s: one packet of credit (burst 1)", &p, 3, 1, false) ||
	    !rl_state(&g, "after 1.1 s", &k, &st))
		goto out;
	ASSERT_TRUE(st.over_since_ns > first_over, "a new streak: the old one ended after 1 s under");
	ASSERT_EQ(st.over_packets, 2, "new streak: 2 over");
	ASSERT_EQ(st.total_over_packets, 4, "total over");
	/* The window opened at creation closed with the first packet after a second. */
	ASSERT_TRUE(st.last_rate_pps >= 2 && st.last_rate_pps <= 4, "last_rate_pps: 4 packets in 1.1 s");
	/* Both from the same window, each rounded down on its own. */
	ASSERT_TRUE(st.last_rate_bps >= st.last_rate_pps * p.len &&
		    st.last_rate_bps < (st.last_rate_pps + 1) * p.len, "last_rate_bps");
	ASSERT_EQ(st.win_packets, 2, "new window: the 2 packets after the one that closed it");
out:
	guard_close(&g);
}

struct rl_thread {
	struct guard *g;
	const struct pkt *p;
	int cpu;
	unsigned k;
	int err;
};

static void *rl_thread_run(void *arg)
{
	struct rl_thread *t = arg;
	cpu_set_t set;
	__u32 retval;

	CPU_ZERO(&set);
	CPU_SET(t->cpu, &set);
	t->err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (!t->err)
		t->err = guard_run_on(t->g, t->p->buf, t->p->len, IFINDEX, t->k, &retval);
	return NULL;
}

/*
 * One source flooding from two CPUs at once: the compare-and-swaps keep the limit exact, so
 * exactly burst packets pass in total (at pps 1 the run earns no credit worth a packet).
 */
TEST(guard_xdp_rate_limit_concurrent)
{
	const unsigned burst = 5000, k = 200000;
	struct rl_thread t[2];
	pthread_t tid[2];
	struct guard_counters e;
	cpu_set_t online;
	struct guard g;
	struct pkt p;
	int cpus[2], n = 0;

	if (sched_getaffinity(0, sizeof(online), &online))
		CPU_ZERO(&online);
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &online))
			cpus[n++] = c;
	if (n < 2) {
		test_skip("needs two CPUs");
		return;
	}
	build_packet(&p, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP) });
	if (!rl_open(&g, false))
		return;
	if (!guard_set_limit(&g, GUARD_RL_UDP, 1, 0, burst, 0))
		goto out;
	for (int i = 0; i < 2; i++) {
		t[i] = (struct rl_thread){ .g = &g, .p = &p, .cpu = cpus[i], .k = k };
		if (!ASSERT_OK(pthread_create(&tid[i], NULL, rl_thread_run, &t[i]), "pthread_create")) {
			if (i)
				pthread_join(tid[0], NULL);
			goto out;
		}
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(tid[i], NULL);
		ASSERT_OK(t[i].err, "test_run on its CPU");
	}
	memset(&e, 0, sizeof(e));
	expect_rl(&e, p.len, 2 * k, burst, false);
	{
		struct guard_counters zero = {}, after;

		if (guard_read(&g, SLOT, &after))
			check_delta("two CPUs, one source", &zero, &after, &e);
	}
out:
	guard_close(&g);
}

/* ---- list-entry hit counters: per-CPU runs added in batches ------------------------------ */

/* A block-list entry's counters: the rule's own, and with every CPU's pending hits (the agent's). */
struct hits_view {
	__u32 id;
	__u64 shared, shared_bytes;	/* the rule's hit_packets, hit_bytes */
	__u64 shown, shown_bytes;	/* plus the pending hits: what `aegis list` shows */
	__u64 last_hit_ns;
};

static bool entry_hits(struct guard *g, const char *cidr, struct hits_view *v)
{
	struct guard_entry_hits h;
	struct guard_pending pend;
	const struct prefix_rule *r;
	struct prefix_table *t;
	struct lpm_key k;
	struct cidr c;

	memset(v, 0, sizeof(*v));
	if (!ASSERT_TRUE(parse_cidr(cidr, &k), cidr))
		return false;
	rule_cidr(&k, &c);
	t = g->tables[0][k.family == AF_INET6];
	v->id = prefix_table_find(t, &c);
	r = prefix_table_rule(t, v->id);
	if (!ASSERT_TRUE(r, "the entry's rule"))
		return false;
	/* The rule first, then the pending hits, as lists_json() reads them. */
	guard_entry_hits_rule(&h, r, v->id, guard_list_id(LIST_BLOCK, k.family));
	v->shared = h.packets;
	v->shared_bytes = h.bytes;
	v->last_hit_ns = r->last_hit_ns;
	if (!ASSERT_OK(guard_pending_read(bpf_map__fd(g->skel->maps.guard_hits), &pend),
		       "guard_pending_read"))
		return false;
	guard_entry_hits_pending(&h, &pend);
	guard_pending_free(&pend);
	v->shown = h.packets;
	v->shown_bytes = h.bytes;
	return true;
}

/*
 * After total hits of len bytes: what the agent shows is exact, and the rule's own counters are
 * shared (or, with shared == ~0, anything within PREFIX_HIT_BATCH - 1 packets per CPU of cpus).
 */
static bool check_hits(struct guard *g, const char *what, const char *cidr, __u64 total, size_t len,
		       __u64 shared, int cpus, struct hits_view *v)
{
	char name[256];
	bool ok = true;

	if (!entry_hits(g, cidr, v))
		return false;
	snprintf(name, sizeof(name), "%s: hit_packets shown", what);
	ok &= ASSERT_EQ(v->shown, total, name);
	snprintf(name, sizeof(name), "%s: hit_bytes shown", what);
	ok &= ASSERT_EQ(v->shown_bytes, total * len, name);
	snprintf(name, sizeof(name), "%s: the rule's hit_bytes match its hit_packets", what);
	ok &= ASSERT_EQ(v->shared_bytes, v->shared * len, name);
	snprintf(name, sizeof(name), "%s: the rule's hit_packets", what);
	if (shared != ~0ull)
		return ASSERT_EQ(v->shared, shared, name) && ok;
	ok &= ASSERT_TRUE(v->shared <= total, name);
	snprintf(name, sizeof(name), "%s: the rule's hit_packets lag by < %d per CPU", what,
		 PREFIX_HIT_BATCH);
	return ASSERT_GE(v->shared, total - (__u64)cpus * (PREFIX_HIT_BATCH - 1), name) && ok;
}

/* The first two CPUs this process may run on; false (and a skip) when there are fewer. */
static bool two_cpus(int cpus[2])
{
	cpu_set_t online;
	int n = 0;

	if (sched_getaffinity(0, sizeof(online), &online))
		CPU_ZERO(&online);
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &online))
			cpus[n++] = c;
	if (n < 2)
		test_skip("needs two CPUs");
	return n == 2;
}

/* Runs p k times on cpu (a pinned thread: each CPU has its own pending hits). */
static bool run_on_cpu(struct guard *g, const struct pkt *p, int cpu, unsigned k)
{
	struct rl_thread t = { .g = g, .p = p, .cpu = cpu, .k = k };
	pthread_t tid;

	if (!ASSERT_OK(pthread_create(&tid, NULL, rl_thread_run, &t), "pthread_create"))
		return false;
	pthread_join(tid, NULL);
	return ASSERT_OK(t.err, "test_run on its CPU");
}

static bool hits_open(struct guard *g, const char *const *cidrs)
{
	if (!guard_open(g))
		return false;
	if (!guard_set_iface(g, GUARD_MODE_BLOCK_V))
		goto fail;
	for (; *cidrs; cidrs++)
		if (!add_rule(g, "hit counters", &(struct fx_rule){ .cidr = *cidrs }))
			goto fail;
	return true;
fail:
	guard_close(g);
	return false;
}

#define S4B "192.0.2.2"

/*
 * One CPU, one entry: the first hit goes to the rule at once, the next ones are added 64 at a
 * time, the rest when the CPU hits another entry of the list; what the agent shows is exact all
 * along, and the rule's own counters never lag by 64 or more.
 */
TEST(guard_xdp_hits_batched)
{
	static const char *const cidrs[] = { S4 "/32", S4B "/32", S6 "/128", NULL };
	struct pkt p, q, p6;
	struct hits_view v;
	__u64 first_stamp;
	struct guard g;
	int cpus[2];

	if (!two_cpus(cpus))
		return;
	build_packet(&p, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP, PAY(18)) });
	build_packet(&q, &(struct build){ LAYERS(ETH, IP4(S4B, D4), UDP) });
	build_packet(&p6, &(struct build){ LAYERS(ETH, IP6(S6, D6), UDP) });
	if (!hits_open(&g, cidrs))
		return;
	if (!run_on_cpu(&g, &p, cpus[0], 1) ||
	    !check_hits(&g, "first hit", S4 "/32", 1, p.len, 1, 1, &v) ||
	    !ASSERT_NEQ(v.last_hit_ns, 0, "first hit: last_hit_ns stamped"))
		goto out;
	first_stamp = v.last_hit_ns;
	usleep(1000);
	if (!run_on_cpu(&g, &p, cpus[0], 62) ||
	    !check_hits(&g, "63 hits: 62 pending", S4 "/32", 63, p.len, 1, 1, &v) ||
	    !ASSERT_EQ(v.last_hit_ns, first_stamp, "63 hits: last_hit_ns not stamped while pending") ||
	    !run_on_cpu(&g, &p, cpus[0], 1) ||
	    !check_hits(&g, "64 hits: 63 pending", S4 "/32", 64, p.len, 1, 1, &v) ||
	    !run_on_cpu(&g, &p, cpus[0], 1) ||
	    !check_hits(&g, "65 hits: a batch of 64 added", S4 "/32", 65, p.len, 65, 1, &v) ||
	    !ASSERT_TRUE(v.last_hit_ns > first_stamp, "65 hits: the batch stamped last_hit_ns") ||
	    !run_on_cpu(&g, &p, cpus[0], 200) ||
	    !check_hits(&g, "265 hits: three more batches, 8 pending", S4 "/32", 265, p.len,
			65 + 3 * PREFIX_HIT_BATCH, 1, &v) ||
	    !check_hits(&g, "265 hits: the bound while pending", S4 "/32", 265, p.len, ~0ull, 1, &v))
		goto out;
	/* Another entry of the same list on this CPU: the pending hits go to their rule. */
	if (!run_on_cpu(&g, &q, cpus[0], 1) ||
	    !check_hits(&g, "after a hit on another entry: exact", S4 "/32", 265, p.len, 265, 1, &v) ||
	    !check_hits(&g, "the other entry's first hit", S4B "/32", 1, q.len, 1, 1, &v))
		goto out;
	/* The IPv6 list has its own run on the same CPU. */
	if (!run_on_cpu(&g, &p6, cpus[0], 100) ||
	    !check_hits(&g, "ipv6: 100 hits", S6 "/128", 100, p6.len, 1 + PREFIX_HIT_BATCH, 1, &v) ||
	    !check_hits(&g, "ipv4 entry untouched by the ipv6 run", S4B "/32", 1, q.len, 1, 1, &v))
		goto out;
out:
	guard_close(&g);
}

/*
 * Pending hits of a deleted entry never land on the entry that gets its rule id next (the rule's
 * gen changed), neither in the kernel nor in what the agent shows.
 */
TEST(guard_xdp_hits_id_reuse)
{
	static const char *const cidrs[] = { S4 "/32", NULL };
	struct prefix_table *t;
	struct hits_view v;
	struct cidr old, fresh;
	struct lpm_key k;
	struct guard g;
	struct pkt p, q;
	__u32 id;
	int cpus[2];

	if (!two_cpus(cpus))
		return;
	build_packet(&p, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP) });
	build_packet(&q, &(struct build){ LAYERS(ETH, IP4("192.0.2.9", D4), UDP) });
	if (!hits_open(&g, cidrs))
		return;
	t = g.tables[0][0];
	if (!run_on_cpu(&g, &p, cpus[0], 5) ||
	    !check_hits(&g, "5 hits, 4 pending", S4 "/32", 5, p.len, 1, 1, &v))
		goto out;
	id = v.id;
	parse_cidr(S4 "/32", &k);
	rule_cidr(&k, &old);
	parse_cidr("192.0.2.9/32", &k);
	rule_cidr(&k, &fresh);
	/* The freed id becomes reusable after a grace period, and is the next one handed out. */
	if (!ASSERT_OK(prefix_table_delete(t, &old), "delete the entry") ||
	    !ASSERT_OK(prefix_table_reclaim(t), "grace period") ||
	    !ASSERT_OK(prefix_table_add(t, &fresh, NULL, NULL), "add another") ||
	    !ASSERT_EQ(prefix_table_find(t, &fresh), id, "the new entry got the old rule id"))
		goto out;
	if (!check_hits(&g, "the new entry before any hit", "192.0.2.9/32", 0, q.len, 0, 1, &v) ||
	    !run_on_cpu(&g, &q, cpus[0], 1) ||
	    !check_hits(&g, "the new entry's first hit: the old pending hits dropped", "192.0.2.9/32",
			1, q.len, 1, 1, &v))
		goto out;
out:
	guard_close(&g);
}

/*
 * Two CPUs hitting one entry at once: what the agent shows is exact once they are done, the
 * rule's own counters lag by less than a batch per CPU, and are exact once each CPU has hit
 * another entry.
 */
TEST(guard_xdp_hits_two_cpus)
{
	static const char *const cidrs[] = { S4 "/32", S4B "/32", NULL };
	const unsigned k = 100000;
	struct rl_thread t[2];
	struct hits_view v;
	pthread_t tid[2];
	struct guard g;
	struct pkt p, q;
	int cpus[2];

	if (!two_cpus(cpus))
		return;
	build_packet(&p, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP, PAY(10)) });
	build_packet(&q, &(struct build){ LAYERS(ETH, IP4(S4B, D4), UDP) });
	if (!hits_open(&g, cidrs))
		return;
	for (int i = 0; i < 2; i++) {
		t[i] = (struct rl_thread){ .g = &g, .p = &p, .cpu = cpus[i], .k = k };
		if (!ASSERT_OK(pthread_create(&tid[i], NULL, rl_thread_run, &t[i]), "pthread_create")) {
			if (i)
				pthread_join(tid[0], NULL);
			goto out;
		}
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(tid[i], NULL);
		ASSERT_OK(t[i].err, "test_run on its CPU");
	}
	if (!check_hits(&g, "two CPUs", S4 "/32", 2 * k, p.len, ~0ull, 2, &v) ||
	    !run_on_cpu(&g, &q, cpus[0], 1) || !run_on_cpu(&g, &q, cpus[1], 1))
		goto out;
	check_hits(&g, "two CPUs, each after a hit on another entry", S4 "/32", 2 * k, p.len, 2 * k, 2, &v);
out:
	guard_close(&g);
}

/*
 * last_hit_ns keeps up when a CPU's runs on an entry are short: the leftovers added when the CPU
 * moves on carry no time, but crossing a multiple of 64 makes the entry's next run stamp.
 */
TEST(guard_xdp_hits_short_runs_stamp)
{
	static const char *const cidrs[] = { S4 "/32", S4B "/32", NULL };
	struct hits_view v;
	__u64 first_stamp;
	struct guard g;
	struct pkt p, q;
	int cpus[2];

	if (!two_cpus(cpus))
		return;
	build_packet(&p, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP) });
	build_packet(&q, &(struct build){ LAYERS(ETH, IP4(S4B, D4), UDP) });
	if (!hits_open(&g, cidrs))
		return;
	if (!run_on_cpu(&g, &p, cpus[0], 3) || !run_on_cpu(&g, &q, cpus[0], 3) ||
	    !entry_hits(&g, S4 "/32", &v))
		goto out;
	first_stamp = v.last_hit_ns;
	usleep(1000);
	/* Runs of 3: the entry's count goes 3, 6, ... 90; a first-of-run hit lands on 64 never. */
	for (int i = 1; i < 30; i++)
		if (!run_on_cpu(&g, &p, cpus[0], 3) || !run_on_cpu(&g, &q, cpus[0], 3))
			goto out;
	if (check_hits(&g, "30 runs of 3", S4 "/32", 90, p.len, 90, 1, &v))
		ASSERT_TRUE(v.last_hit_ns > first_stamp, "30 runs of 3: last_hit_ns stamped again");
out:
	guard_close(&g);
}

/* ---- drop records ----------------------------------------------------------- */

#define EV_MAX 64

struct ev_sink {
	struct guard_event ev[EV_MAX];
	int n;		/* records seen, including any beyond EV_MAX */
	int bad_size;
};

static int ev_collect(void *ctx, void *data, size_t size)
{
	struct ev_sink *s = ctx;

	if (size != sizeof(struct guard_event))
		s->bad_size++;
	else if (s->n < EV_MAX)
		memcpy(&s->ev[s->n], data, sizeof(struct guard_event));
	s->n++;
	return 0;
}

/* Reads everything in the ring, as the agent's consumer would. */
static bool ev_drain(struct guard *g, struct ev_sink *s)
{
	struct ring_buffer *rb;
	int n;

	memset(s, 0, sizeof(*s));
	rb = ring_buffer__new(g->events, ev_collect, s, NULL);
	if (!ASSERT_TRUE(rb, "ring_buffer__new"))
		return false;
	n = ring_buffer__consume(rb);
	ring_buffer__free(rb);
	return ASSERT_GE(n, 0, "ring_buffer__consume") && ASSERT_EQ(s->bad_size, 0, "record size");
}

static bool ev_open(struct guard *g, __u32 ring, __u32 every, __u32 max_per_sec, bool observe)
{
	struct guard_settings set = { .later_fragment_action = GUARD_ACTION_PASS,
				      .sample_every = every, .sample_max_per_sec = max_per_sec };

	if (!guard_open_ring(g, ring))
		return false;
	if (guard_set_iface(g, observe ? GUARD_MODE_OBSERVE_V : GUARD_MODE_BLOCK_V) &&
	    guard_set_settings(g, &set))
		return true;
	guard_close(g);
	return false;
}

static void addr16(int family, const char *text, __u8 out[16])
{
	memset(out, 0, 16);
	if (inet_pton(family, text, out) != 1)
		abort();
}

/* One record: every field, and the packet's first bytes. */
static void check_event(const char *what, const struct guard_event *e, const struct pkt *p,
			int family, const char *src, const char *dst, __u8 proto, __u8 reason,
			__u8 verdict, __u8 match, __u8 prefixlen, __u64 t0, __u64 t1)
{
	size_t cap = p->len < GUARD_EVENT_SNAPLEN ? p->len : GUARD_EVENT_SNAPLEN;
	__u8 zero[GUARD_EVENT_SNAPLEN] = {}, a[16];
	char name[512];

#define EV_EQ(field, val)                                                        \
	do {                                                                     \
		snprintf(name, sizeof(name), "%s: " #field, what);               \
		ASSERT_EQ(e->field, val, name);                                  \
	} while (0)
	snprintf(name, sizeof(name), "%s: ts_ns within the run", what);
	ASSERT_TRUE(e->ts_ns >= t0 && e->ts_ns <= t1, name);
	EV_EQ(ifindex, IFINDEX);
	EV_EQ(pkt_len, p->len);
	EV_EQ(cap_len, cap);
	EV_EQ(reason, reason);
	EV_EQ(verdict, verdict);
	EV_EQ(family, family == AF_INET ? 2 : 10);
	EV_EQ(proto, proto);
	EV_EQ(match, match);
	EV_EQ(match_prefixlen, prefixlen);
	EV_EQ(sample_every, 1);
	if (match == GUARD_MATCH_BLOCK || match == GUARD_MATCH_BLOCK_SCOPED) {
		EV_EQ(rule_origin, GUARD_ORIGIN_CLI);
		EV_EQ(rule_reason_id, 7);
	} else {
		EV_EQ(rule_origin, 0);
		EV_EQ(rule_reason_id, 0);
	}
	addr16(family, src, a);
	snprintf(name, sizeof(name), "%s: saddr", what);
	ASSERT_MEMEQ(e->saddr, 16, a, 16, name);
	addr16(family, dst, a);
	snprintf(name, sizeof(name), "%s: daddr", what);
	ASSERT_MEMEQ(e->daddr, 16, a, 16, name);
	snprintf(name, sizeof(name), "%s: data", what);
	ASSERT_MEMEQ(e->data, cap, p->buf, cap, name);
	snprintf(name, sizeof(name), "%s: data past cap_len is zero", what);
	ASSERT_MEMEQ(e->data + cap, GUARD_EVENT_SNAPLEN - cap, zero, GUARD_EVENT_SNAPLEN - cap, name);
#undef EV_EQ
}

TEST(guard_xdp_events_fields)
{
	static const struct fx_rule rules[] = { BLOCK(S4 "/32"), SCOPED("2001:db8::/32", UDP_P, 53) };
	struct pkt p4, p6, prl, pmal;
	struct guard_counters e;
	struct ev_sink s;
	struct guard g;
	__u64 t0, t1;

	build_packet(&p4, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP, PAY(8)) });
	build_packet(&p6, &(struct build){ LAYERS(ETH, IP6(S6, D6), UDP, PAY(300)) });
	build_packet(&prl, &(struct build){ LAYERS(ETH, IP4("198.51.100.9", D4), TCP(4)) });
	build_packet(&pmal, &(struct build){ LAYERS(ETH, IP4("198.51.100.10", D4), UDP),
					     .pokes = { POKE16(PKT_UDP, 0, 4, 7) } });
	if (!ev_open(&g, 0, 1, 0, false))
		return;
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (!add_rule(&g, "events", &rules[i]))
			goto out;
	if (!guard_set_limit(&g, GUARD_RL_TCP_SYN, 1, 0, 1, 0))
		goto out;

	t0 = boottime_ns();
	if (!run_check(&g, "block list drop, short packet", p4.buf, p4.len, SLOT, XDP_DROP,
		       F_BLOCKED | F_SAMPLED, GUARD_REASON_BLOCKLIST) ||
	    !run_check(&g, "scoped drop, long packet", p6.buf, p6.len, SLOT, XDP_DROP,
		       F_BLOCKED | F_SAMPLED, GUARD_REASON_BLOCKLIST) ||
	    !run_check(&g, "malformed drop", pmal.buf, pmal.len, SLOT, XDP_DROP,
		       F_MALFORMED | F_SAMPLED, GUARD_REASON_MALFORMED_UDP))
		goto out;
	/* Observe mode, over a rate limit: the second syn is a would-drop. */
	if (!guard_set_iface(&g, GUARD_MODE_OBSERVE_V))
		goto out;
	expect_rl(&e, prl.len, 2, 1, true);
	e.events_sampled = 1;
	if (!run_k(&g, "rate limit would-drop", &prl, IFINDEX, 2, SLOT, &e, XDP_PASS))
		goto out;
	t1 = boottime_ns();

	if (!ev_drain(&g, &s) || !ASSERT_EQ(s.n, 4, "records"))
		goto out;
	check_event("block", &s.ev[0], &p4, AF_INET, S4, D4, 17, GUARD_REASON_BLOCKLIST,
		    GUARD_EVENT_DROPPED, GUARD_MATCH_BLOCK, 32, t0, t1);
	ASSERT_EQ(s.ev[0].sport, htons(40000), "block: sport");
	ASSERT_EQ(s.ev[0].dport, htons(53), "block: dport");
	check_event("scoped", &s.ev[1], &p6, AF_INET6, S6, D6, 17, GUARD_REASON_BLOCKLIST,
		    GUARD_EVENT_DROPPED, GUARD_MATCH_BLOCK_SCOPED, 32, t0, t1);
	ASSERT_EQ(s.ev[1].cap_len, GUARD_EVENT_SNAPLEN, "scoped: capped at the snap length");
	check_event("malformed", &s.ev[2], &pmal, AF_INET, "198.51.100.10", D4, 17,
		    GUARD_REASON_MALFORMED_UDP, GUARD_EVENT_DROPPED, GUARD_MATCH_NONE, 0, t0, t1);
	ASSERT_EQ(s.ev[2].dport, 0, "malformed: ports not parsed");
	check_event("rate limit", &s.ev[3], &prl, AF_INET, "198.51.100.9", D4, 6,
		    GUARD_REASON_RATE_LIMIT, GUARD_EVENT_WOULD_DROP, GUARD_MATCH_RATE_LIMIT, 32, t0, t1);
	ASSERT_EQ(s.ev[3].rl_class, GUARD_RL_TCP_SYN, "rate limit: rl_class");
	ASSERT_EQ(s.ev[3].tcp_flags, 0x02, "rate limit: tcp_flags");
	ASSERT_EQ(s.ev[3].dport, htons(443), "rate limit: dport");
out:
	guard_close(&g);
}

/* Drops of one run: a block-listed source, k times in one test_run (one CPU). */
static bool ev_drops(struct guard *g, const char *what, unsigned k, unsigned sampled,
		     unsigned capped, unsigned lost)
{
	struct guard_counters e;
	struct pkt p;

	build_packet(&p, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP) });
	memset(&e, 0, sizeof(e));
	e.rx_packets = e.dropped = e.blocked_by_list = e.by_reason[GUARD_REASON_BLOCKLIST] = k;
	e.rx_bytes = (__u64)k * p.len;
	e.events_sampled = sampled;
	e.events_capped = capped;
	e.events_lost = lost;
	return run_k(g, what, &p, IFINDEX, k, SLOT, &e, XDP_DROP);
}

static bool ev_block_s4(struct guard *g)
{
	static const struct fx_rule r = BLOCK(S4 "/32");

	return add_rule(g, "events", &r);
}

/* One in N per CPU: a countdown that samples the first drop, then every Nth. */
TEST(guard_xdp_events_sample_every)
{
	static const struct { unsigned every, k, records; } cases[] = {
		{ 1, 7, 7 }, { 4, 20, 5 }, { 3, 10, 4 }, { 10, 9, 1 }, { 0, 20, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ev_sink s;
		struct guard g;
		char what[128];

		snprintf(what, sizeof(what), "sample_every %u, %u drops", cases[i].every, cases[i].k);
		if (!ev_open(&g, 0, cases[i].every, 0, false))
			return;
		if (ev_block_s4(&g) && ev_drops(&g, what, cases[i].k, cases[i].records, 0, 0) &&
		    ev_drain(&g, &s))
			ASSERT_EQ(s.n, cases[i].records, what);
		guard_close(&g);
	}
}

/* The per-CPU records/s bucket: a flood of drops yields its burst, the rest are counted capped. */
TEST(guard_xdp_events_cap)
{
	struct guard_settings set = { .later_fragment_action = GUARD_ACTION_PASS, .sample_every = 1,
				      .sample_max_per_sec = 100, .sample_burst = 3 };
	struct ev_sink s;
	struct guard g;

	if (!ev_open(&g, 0, 1, 5, false))
		return;
	if (!ev_block_s4(&g) || !ev_drops(&g, "max 5/s: 5 of 20", 20, 5, 15, 0) ||
	    !ev_drain(&g, &s) || !ASSERT_EQ(s.n, 5, "max 5/s: records"))
		goto out;
	guard_close(&g);

	/* 0: the default, 1000/s with a burst of 1000. */
	if (!ev_open(&g, 0, 1, 0, false))
		return;
	if (!ev_block_s4(&g) || !ev_drops(&g, "default cap: 40 of 40", 40, 40, 0, 0) ||
	    !ev_drain(&g, &s) || !ASSERT_EQ(s.n, 40, "default cap: records"))
		goto out;
	guard_close(&g);

	/* sample_burst sets the depth apart from the rate... */
	if (!ev_open(&g, 0, 1, 0, false))
		return;
	if (!guard_set_settings(&g, &set) || !ev_block_s4(&g) ||
	    !ev_drops(&g, "100/s, burst 3: 3 of 10", 10, 3, 7, 0))
		goto out;
	guard_close(&g);

	/* ...but the bucket holds at least GUARD_RL_MIN_DEPTH_NS of the rate: 10 at 1000/s. */
	set.sample_max_per_sec = 1000;
	if (!ev_open(&g, 0, 1, 0, false))
		return;
	if (!guard_set_settings(&g, &set) || !ev_block_s4(&g) ||
	    !ev_drops(&g, "1000/s, burst 3: depth 10 of 20", 20, 10, 10, 0))
		goto out;
out:
	guard_close(&g);
}

/* A full ring: records that do not fit are counted lost; reading frees the room again. */
TEST(guard_xdp_events_lost)
{
	/* Each record takes an 8-byte header, the whole rounded up to 8. */
	const unsigned fit = 4096 / ((sizeof(struct guard_event) + 8 + 7) / 8 * 8);
	struct ev_sink s;
	struct guard g;

	if (!ev_open(&g, 4096, 1, 1000000, false))
		return;
	if (!ev_block_s4(&g) || !ev_drops(&g, "4 KiB ring: 30 drops", 30, fit, 0, 30 - fit) ||
	    !ev_drain(&g, &s) || !ASSERT_EQ(s.n, fit, "records in a 4 KiB ring"))
		goto out;
	if (!ev_drops(&g, "after reading: room again", 5, 5, 0, 0) || !ev_drain(&g, &s))
		goto out;
	ASSERT_EQ(s.n, 5, "records after reading");
out:
	guard_close(&g);
}

/* ---- ifindex: the array, zeroed entries, and the hash for big ifindexes ------------------- */

/* The agent's way to forget an interface in an array: delete fails, a zeroed entry is written. */
TEST(guard_xdp_ifindex_array)
{
	static const struct fx_rule rule = BLOCK(S4 "/32");
	struct guard_iface zero = {};
	__u32 key = IFINDEX;
	struct guard g;
	struct pkt p;

	build_packet(&p, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP) });
	if (!guard_open(&g))
		return;
	if (!guard_set_iface(&g, GUARD_MODE_BLOCK_V) || !add_rule(&g, "array", &rule) ||
	    !run_check(&g, "configured lo: dropped in its slot", p.buf, p.len, SLOT, XDP_DROP,
		       F_BLOCKED, GUARD_REASON_BLOCKLIST))
		goto out;
	ASSERT_EQ(bpf_map_delete_elem(g.ifaces, &key), -EINVAL, "an array cannot delete");
	if (!ASSERT_OK(bpf_map_update_elem(g.ifaces, &key, &zero, BPF_ANY), "zeroed entry"))
		goto out;
	run_check(&g, "zeroed entry: unconfigured, slot 0, passed", p.buf, p.len, 0, XDP_PASS, 0,
		  GUARD_REASON_NONE);
	key = GUARD_MAX_IFINDEX;
	ASSERT_ERR(bpf_map_update_elem(g.ifaces, &key, &zero, BPF_ANY),
		   "ifindex GUARD_MAX_IFINDEX does not fit the array");
out:
	guard_close(&g);
}

struct big_ifindex {
	int ifindex;
	bool array;		/* below GUARD_MAX_IFINDEX */
};

/*
 * Veth pairs with chosen ifindexes on both sides of GUARD_MAX_IFINDEX, in a network namespace of
 * our own that takes them along when we leave it (test_run wants a real device in the caller's
 * namespace for ingress_ifindex).
 */
TEST(guard_xdp_ifindex_big)
{
	static const struct big_ifindex devs[] = {
		{ GUARD_MAX_IFINDEX - 1, true }, { GUARD_MAX_IFINDEX, false }, { 100000, false },
	};
	static const struct fx_rule rule = BLOCK(S4 "/32");
	struct guard_counters e;
	int home, err;
	struct guard g;
	struct pkt p;
	char cmd[256];

	build_packet(&p, &(struct build){ LAYERS(ETH, IP4(S4, D4), UDP) });
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (!ASSERT_GE(home, 0, "open /proc/self/ns/net"))
		return;
	if (unshare(CLONE_NEWNET)) {
		test_skip("cannot unshare a network namespace");
		close(home);
		return;
	}
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		snprintf(cmd, sizeof(cmd),
			 "ip link add aegisbig%zu index %d type veth peer name aegispeer%zu 2>&1",
			 i, devs[i].ifindex, i);
		if (system(cmd) != 0) {
			test_skip("cannot create veth pairs with chosen ifindexes (ip link add ... index)");
			goto home;
		}
	}
	if (!guard_open(&g))
		goto home;
	if (!guard_set_policy(&g, GUARD_ACTION_DROP, GUARD_ACTION_PASS) ||
	    !add_rule(&g, "big", &rule))
		goto out;
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		struct guard_iface v = { .mode = GUARD_MODE_BLOCK_V, .slot = 2 + (__u32)i };
		__u32 key = (__u32)devs[i].ifindex;
		int map = devs[i].array ? g.ifaces : g.ifaces_big;
		char what[128];

		snprintf(what, sizeof(what), "ifindex %d unconfigured: slot 0", devs[i].ifindex);
		expect_delta(&e, p.len, XDP_PASS, 0, GUARD_REASON_NONE);
		if (!run_k(&g, what, &p, key, 1, 0, &e, XDP_PASS))
			goto out;
		if (!devs[i].array)
			ASSERT_ERR(bpf_map_update_elem(g.ifaces, &key, &v, BPF_ANY),
				   "a big ifindex does not fit the array");
		snprintf(what, sizeof(what), "ifindex %d: entry in %s", devs[i].ifindex,
			 devs[i].array ? "guard_ifaces" : "guard_ifaces_big");
		if (!ASSERT_OK(bpf_map_update_elem(map, &key, &v, BPF_ANY), what))
			goto out;
		snprintf(what, sizeof(what), "ifindex %d configured: blocked in slot %u",
			 devs[i].ifindex, v.slot);
		expect_delta(&e, p.len, XDP_DROP, F_BLOCKED, GUARD_REASON_BLOCKLIST);
		if (!run_k(&g, what, &p, key, 1, v.slot, &e, XDP_DROP))
			goto out;
		v.mode = GUARD_MODE_OBSERVE_V;
		snprintf(what, sizeof(what), "ifindex %d switched to observe", devs[i].ifindex);
		expect_delta(&e, p.len, XDP_PASS, F_WOULD_DROP, GUARD_REASON_BLOCKLIST);
		if (!ASSERT_OK(bpf_map_update_elem(map, &key, &v, BPF_ANY), what) ||
		    !run_k(&g, what, &p, key, 1, v.slot, &e, XDP_PASS))
			goto out;
		/* Forgotten: zeroed (the array) or deleted (the hash). */
		memset(&v, 0, sizeof(v));
		err = devs[i].array ? bpf_map_update_elem(map, &key, &v, BPF_ANY) :
				      bpf_map_delete_elem(map, &key);
		snprintf(what, sizeof(what), "ifindex %d forgotten: slot 0", devs[i].ifindex);
		expect_delta(&e, p.len, XDP_PASS, 0, GUARD_REASON_NONE);
		if (!ASSERT_OK(err, what) || !run_k(&g, what, &p, key, 1, 0, &e, XDP_PASS))
			goto out;
	}
out:
	guard_close(&g);
home:
	if (!ASSERT_OK(setns(home, CLONE_NEWNET) ? -errno : 0, "back to the original namespace"))
		abort();	/* the rest of the tests would run in the wrong namespace */
	close(home);
}
