// SPDX-License-Identifier: GPL-2.0-only
/*
 * The XDP guard through BPF_PROG_TEST_RUN: a fixture table (packet, mode, policy, list entries,
 * expected verdict and the exact counter deltas summed over CPUs, list-entry hit counters),
 * every base packet cut at every byte (as is, and with the IP/UDP lengths refitted so that only
 * the cut header is short) under each malformed policy, and a mode switch by map write.
 * Each fixture loads its own skeleton and writes its own maps.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "aegis/guard.h"
#include "guard.skel.h"
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
	int prog, ifaces, settings, counters;
	int allow4, allow6, block4, block6;
	int ncpu;
	struct guard_counters *percpu;
};

static void guard_close(struct guard *g)
{
	guard_bpf__destroy(g->skel);
	free(g->percpu);
	memset(g, 0, sizeof(*g));
}

static bool guard_open(struct guard *g)
{
	memset(g, 0, sizeof(*g));
	log_capture_reset();
	g->skel = guard_bpf__open_and_load();
	if (!ASSERT_TRUE(g->skel, "guard_bpf__open_and_load")) {
		char tail[4096];

		log_capture_tail(tail, sizeof(tail));
		fprintf(stderr, "%s\n", tail);
		return false;
	}
	g->prog = bpf_program__fd(g->skel->progs.xdp_guard);
	g->ifaces = bpf_map__fd(g->skel->maps.guard_ifaces);
	g->settings = bpf_map__fd(g->skel->maps.guard_settings);
	g->counters = bpf_map__fd(g->skel->maps.guard_counters);
	g->allow4 = bpf_map__fd(g->skel->maps.guard_allow_v4);
	g->allow6 = bpf_map__fd(g->skel->maps.guard_allow_v6);
	g->block4 = bpf_map__fd(g->skel->maps.guard_block_v4);
	g->block6 = bpf_map__fd(g->skel->maps.guard_block_v6);
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

static bool guard_set_iface(struct guard *g, __u32 mode)
{
	struct guard_iface v = { .mode = mode, .slot = SLOT };
	__u32 key = IFINDEX;

	return ASSERT_OK(bpf_map_update_elem(g->ifaces, &key, &v, BPF_ANY), "guard_ifaces update");
}

static bool guard_set_policy(struct guard *g, __u32 malformed, __u32 later_fragment)
{
	struct guard_settings v = { .malformed_action = malformed,
				    .later_fragment_action = later_fragment };
	__u32 key = 0;

	return ASSERT_OK(bpf_map_update_elem(g->settings, &key, &v, BPF_ANY), "guard_settings update");
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

static int guard_run(struct guard *g, const void *data, size_t len, __u32 *retval)
{
	struct xdp_md ctx = { .data_end = (__u32)len, .ingress_ifindex = IFINDEX };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .data_in = data,
		    .data_size_in = (__u32)len,
		    .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx),
		    .repeat = 1);
	int err;

	err = bpf_prog_test_run_opts(g->prog, &opts);
	*retval = opts.retval;
	return err ? -errno : 0;
}

/* ---- expected counter deltas ---------------------------------------------- */

enum {
	F_WOULD_DROP = 1 << 0,
	F_NON_IP = 1 << 1,
	F_MALFORMED = 1 << 2,
	F_FRAGMENT = 1 << 3,
	F_BLOCKED = 1 << 4,
	F_ALLOWED = 1 << 5,
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
	if (reason != GUARD_REASON_NONE)
		e->by_reason[reason] = 1;
}

#define CNT_FIELDS(X) X(rx_packets) X(rx_bytes) X(passed) X(dropped) X(would_drop) X(non_ip) \
		      X(malformed) X(fragments) X(blocked_by_list) X(allowed_by_list)

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
	union {
		struct guard_lpm_v4 v4;
		struct guard_lpm_v6 v6;
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

static __u64 boottime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

static int rule_map(const struct guard *g, const struct fx_rule *r, int family)
{
	if (family == AF_INET)
		return r->allow ? g->allow4 : g->block4;
	return r->allow ? g->allow6 : g->block6;
}

static bool add_rule(struct guard *g, const char *desc, const struct fx_rule *r)
{
	struct guard_rule v = { .created_ns = 1, .origin = GUARD_ORIGIN_CLI };
	char name[512];
	struct lpm_key k;
	__u64 now = boottime_ns();

	snprintf(name, sizeof(name), "%s: rule %s", desc, r->cidr);
	if (!ASSERT_TRUE(parse_cidr(r->cidr, &k), name))
		return false;
	if (r->expiry == EXPIRED)
		v.expires_ns = now - 1000000000ull;
	else if (r->expiry == LIVE)
		v.expires_ns = now + 3600 * 1000000000ull;
	return ASSERT_OK(bpf_map_update_elem(rule_map(g, r, k.family), &k.v4, &v, BPF_NOEXIST), name);
}

/* The entry's own hit counters: bumped exactly once by a hit, untouched otherwise. */
static bool check_rule_hits(struct guard *g, const char *desc, const struct fx_rule *r, size_t len)
{
	struct guard_rule v;
	char name[512];
	struct lpm_key k;
	bool ok = true;

	parse_cidr(r->cidr, &k);
	snprintf(name, sizeof(name), "%s: lookup rule %s", desc, r->cidr);
	if (!ASSERT_OK(bpf_map_lookup_elem(rule_map(g, r, k.family), &k.v4, &v), name))
		return false;
	snprintf(name, sizeof(name), "%s: rule %s hit_packets", desc, r->cidr);
	ok &= ASSERT_EQ(v.hit_packets, r->hit ? 1 : 0, name);
	snprintf(name, sizeof(name), "%s: rule %s hit_bytes", desc, r->cidr);
	ok &= ASSERT_EQ(v.hit_bytes, r->hit ? len : 0, name);
	snprintf(name, sizeof(name), "%s: rule %s last_hit_ns set", desc, r->cidr);
	ok &= ASSERT_EQ(v.last_hit_ns != 0, r->hit, name);
	if (r->hit) {
		snprintf(name, sizeof(name), "%s: rule %s last_hit_ns not in the future", desc, r->cidr);
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
};

static const struct cut_config cut_configs[] = {
	{ .desc = "block mode, malformed_action drop", false, GUARD_ACTION_DROP },
	{ .desc = "block mode, malformed_action pass", false, GUARD_ACTION_PASS },
	{ .desc = "observe mode", true, GUARD_ACTION_DROP },
};

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
