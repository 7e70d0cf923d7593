// SPDX-License-Identifier: GPL-2.0-only
/*
 * The policy datapath through BPF_PROG_TEST_RUN, driven by the agent's own code (policy_kern.c:
 * load and pin, write a slot, read it back, switch): a fixture table (packet, verdict, the rule
 * whose counters move and by how much), every IP fixture cut at every byte and hostile headers
 * (all malformed: decided by the default), observe mode and the agent's dry run by map writes,
 * replies let in by the flow table (and an ICMPv6 "packet too big" about one of our flows), the
 * generation switch (the old slot decides until the one store, the new one after), and the
 * cgroup_skb egress program on the test's own cgroup, with the events it reports, and the event
 * path's limits (a full ring buffer counts lost events, the per-CPU bucket holds back the excess).
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "mounts.h"
#include "pkt.h"
#include "policy_kern.h"
#include "policy_sel.h"
#include "test.h"
#include "util.h"

#define TC_ACT_UNSPEC (-1)
#define TC_ACT_SHOT 2

struct fx {
	struct aegis_config cfg;
	char pin_root[64];
	struct policy_kern k;
	struct policy_doc doc;
	struct policy_image img;
	struct policy_selection sel;
	int tc_in, tc_out, cg_egress;
};

static bool fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->pin_root, sizeof(f->pin_root), "/sys/fs/bpf/aegis-unit-policy-%d", getpid());
	f->cfg.pin_root = f->pin_root;
	f->cfg.max_insns = 1000000;
	f->cfg.policy_enabled = true;
	f->cfg.policy_events_per_sec = 100000;
	f->cfg.policy_cap_policies = 8;
	f->cfg.policy_cap_rules = 256;
	f->cfg.policy_cap_cells = 16384;
	f->cfg.policy_cap_prefixes_v4 = 256;
	f->cfg.policy_cap_prefixes_v6 = 256;
	f->cfg.policy_cap_cgroups = 16;
	f->cfg.policy_cap_flows = 1024;
	if (!ASSERT_OK(policy_kern_open(&f->k, &f->cfg), "policy_kern_open"))
		return false;
	f->tc_in = bpfobj_prog_fd(&f->k.obj, "policy_tc_in");
	f->tc_out = bpfobj_prog_fd(&f->k.obj, "policy_tc_out");
	f->cg_egress = bpfobj_prog_fd(&f->k.obj, "policy_cg_egress");
	return true;
}

static void fx_drop_policy(struct fx *f)
{
	policy_image_free(&f->img);
	policy_doc_free(&f->doc);
	policy_selection_free(&f->sel);
}

static void fx_cleanup(struct fx *f)
{
	fx_drop_policy(f);
	policy_kern_close(&f->k);
	bpfobj_remove_all(f->pin_root);
	rmdir(f->pin_root);
}

/* Compiles text, writes it into slot, reads it back; with gen, switches to it. */
static bool fx_apply(struct fx *f, const char *text, unsigned slot, uint32_t gen)
{
	struct policy_limits lim;
	struct policy_verify_report r;
	struct diags d = {};
	bool applies[8][2], ok = false;

	fx_drop_policy(f);
	policy_limits_from_config(&f->cfg, &lim);
	if (!ASSERT_OK(policy_doc_parse(text, strlen(text), "t.yaml", &f->doc, &d), "parse") ||
	    !ASSERT_OK(policy_resolve(&f->doc, NULL, 0, applies, &f->sel, &d), "resolve") ||
	    !ASSERT_OK(policy_compile(&f->doc, applies, &lim, &f->img, &d), "compile") ||
	    !ASSERT_OK(policy_selection_assign(&f->sel, &f->img), "assign") ||
	    !ASSERT_OK(policy_kern_write(&f->k, slot, &f->img, &f->sel, &d), "write"))
		goto out;
	if (!ASSERT_OK(policy_kern_verify(&f->k, slot, &f->img, &f->doc, &f->sel, &r), "verify")) {
		fprintf(stderr, "verify: %s\n", r.error);
		goto out;
	}
	ASSERT_TRUE(r.cells == f->img.n_cells && r.samples > 0, "verify looked at every cell and probed");
	ok = !gen || ASSERT_OK(policy_kern_flip(&f->k, gen << 1 | slot), "flip");
out:
	diags_print(&d, stderr);
	diags_free(&d);
	return ok;
}

/* As the packet arrived on lo: TC ingress keys on the skb's ingress ifindex. */
static int run(int prog, const struct pkt *p, size_t len)
{
	struct __sk_buff ctx = { .ingress_ifindex = 1 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->buf, .data_size_in = (uint32_t)len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));

	if (bpf_prog_test_run_opts(prog, &o))
		return -1000 - errno;
	return (int)o.retval;
}

static struct policy_counters rule_counters(struct fx *f, unsigned slot, uint32_t rule)
{
	struct policy_counters c[64];

	memset(c, 0, sizeof(c));
	policy_kern_counters(&f->k, slot, rule + 1, c);
	return c[rule];
}

static struct policy_stats stats(struct fx *f)
{
	struct policy_stats s;

	policy_kern_stats(&f->k, &s);
	return s;
}

static const char base_policy[] =
	"policies:\n"
	"  - name: t\n"
	"    mode: block\n"
	"    selector: {interfaces: [lo]}\n"
	"    default: deny\n"
	"    rules:\n"
	"      - {direction: ingress, action: allow, protocol: tcp, ports: [22], peers: [10.0.0.0/8]}\n"
	"      - {direction: ingress, action: deny, protocol: tcp, ports: [22], peers: [10.1.0.0/16]}\n"
	"      - {direction: ingress, action: allow, protocol: udp, ports: [53, 5000-5100]}\n"
	"      - {direction: ingress, action: allow, protocol: icmp}\n"
	"      - {direction: ingress, action: allow, peers: [\"2001:db8::/32\"]}\n";

/* The rule table: deny rules first, then allow rules in file order, then the default. */
enum { R_DENY_10_1, R_SSH, R_UDP, R_ICMP, R_V6, R_DEFAULT };

enum pk { P_TCP4, P_TCP6, P_UDP4, P_ICMP4, P_ICMPV6_NS, P_ARP, P_IHL4, P_DOFF4 };

static void build(struct pkt *p, enum pk kind, const char *src, const char *dst, uint16_t sport,
		  uint16_t dport)
{
	pkt_init(p);
	pkt_eth(p);
	switch (kind) {
	case P_TCP4:
	case P_IHL4:
	case P_DOFF4:
		pkt_ipv4(p, src, dst, 0);
		pkt_tcp(p, sport, dport, 0);
		break;
	case P_TCP6:
		pkt_ipv6(p, src, dst);
		pkt_tcp(p, sport, dport, 0);
		break;
	case P_UDP4:
		pkt_ipv4(p, src, dst, 0);
		pkt_udp(p, sport, dport);
		pkt_payload(p, 10);
		break;
	case P_ICMP4:
		pkt_ipv4(p, src, dst, 0);
		pkt_icmp(p, 8, 0);
		break;
	case P_ICMPV6_NS:
		pkt_ipv6(p, src, dst);
		pkt_icmpv6(p, 135, 0);
		pkt_payload(p, 16);
		break;
	case P_ARP:
		pkt_arp(p);
		break;
	}
	pkt_finish(p);
	if (kind == P_IHL4)
		p->buf[14] = 0x44;		/* IPv4 header length 16: under the minimum of 20 */
	if (kind == P_DOFF4)
		p->buf[14 + 20 + 12] = 0x40;	/* TCP data offset 16 */
}

struct fixture {
	const char *desc;
	enum pk kind;
	const char *src, *dst;
	uint16_t sport, dport;
	int retval;
	int rule;		/* whose counters move; -1: none (passed undecided) */
	bool malformed;
};

static const struct fixture fixtures[] = {
	{ "tcp 22 from 10/8: allowed by the ssh rule", P_TCP4, "10.2.3.4", "10.9.9.9", 40000, 22, TC_ACT_UNSPEC, R_SSH, false },
	{ "tcp 22 from 10.1/16: the deny rule wins over the allow", P_TCP4, "10.1.2.3", "10.9.9.9", 40000, 22, TC_ACT_SHOT, R_DENY_10_1, false },
	{ "tcp 22 from elsewhere: the default denies", P_TCP4, "192.0.2.1", "10.9.9.9", 40000, 22, TC_ACT_SHOT, R_DEFAULT, false },
	{ "tcp 23 from 10/8: no rule, default", P_TCP4, "10.2.3.4", "10.9.9.9", 40000, 23, TC_ACT_SHOT, R_DEFAULT, false },
	{ "udp 53 from anywhere", P_UDP4, "192.0.2.1", "10.9.9.9", 5353, 53, TC_ACT_UNSPEC, R_UDP, false },
	{ "udp 5050, inside a range", P_UDP4, "192.0.2.1", "10.9.9.9", 5353, 5050, TC_ACT_UNSPEC, R_UDP, false },
	{ "udp 5101, just past it", P_UDP4, "192.0.2.1", "10.9.9.9", 5353, 5101, TC_ACT_SHOT, R_DEFAULT, false },
	{ "icmp echo", P_ICMP4, "192.0.2.1", "10.9.9.9", 0, 0, TC_ACT_UNSPEC, R_ICMP, false },
	{ "ipv6 tcp from 2001:db8::/32", P_TCP6, "2001:db8::1", "2001:db8:1::1", 40000, 80, TC_ACT_UNSPEC, R_V6, false },
	{ "ipv6 tcp from elsewhere", P_TCP6, "2001:db9::1", "2001:db8:1::1", 40000, 80, TC_ACT_SHOT, R_DEFAULT, false },
	{ "neighbour solicitation passes whatever the policy", P_ICMPV6_NS, "fe80::1", "ff02::1:ff00:1", 0, 0, TC_ACT_UNSPEC, -1, false },
	{ "arp passes undecided", P_ARP, NULL, NULL, 0, 0, TC_ACT_UNSPEC, -1, false },
	{ "ipv4 ihl 4: malformed, the default", P_IHL4, "10.2.3.4", "10.9.9.9", 40000, 22, TC_ACT_SHOT, R_DEFAULT, true },
	{ "tcp doff 4: malformed, the default", P_DOFF4, "10.2.3.4", "10.9.9.9", 40000, 22, TC_ACT_SHOT, R_DEFAULT, true },
};

static bool check_fixture(struct fx *f, const struct fixture *x, const struct pkt *p, size_t len,
			  int retval, bool malformed, uint8_t verdict)
{
	struct policy_counters before = {}, after = {};
	struct policy_stats s0 = stats(f), s1;
	char name[192];
	bool ok;
	int got;

	if (x->rule >= 0)
		before = rule_counters(f, 0, (uint32_t)x->rule);
	got = run(f->tc_in, p, len);
	s1 = stats(f);
	snprintf(name, sizeof(name), "%s (%zu bytes): verdict", x->desc, len);
	ok = ASSERT_EQ(got, retval, name);
	snprintf(name, sizeof(name), "%s (%zu bytes): malformed counted", x->desc, len);
	ok &= ASSERT_EQ(s1.malformed - s0.malformed, malformed, name);
	if (x->rule < 0) {
		snprintf(name, sizeof(name), "%s: counted as ndp or non-ip", x->desc);
		return ok & ASSERT_EQ((s1.ndp - s0.ndp) + (s1.non_ip - s0.non_ip), 1, name);
	}
	after = rule_counters(f, 0, (uint32_t)x->rule);
	snprintf(name, sizeof(name), "%s (%zu bytes): rule %d packets", x->desc, len, x->rule);
	ok &= ASSERT_EQ(after.packets - before.packets, 1, name);
	snprintf(name, sizeof(name), "%s (%zu bytes): rule %d bytes", x->desc, len, x->rule);
	ok &= ASSERT_EQ(after.bytes - before.bytes, len, name);
	snprintf(name, sizeof(name), "%s: outcome", x->desc);
	if (verdict == POLICY_VERDICT_ALLOW)
		ok &= ASSERT_EQ(after.allowed - before.allowed, 1, name);
	else if (verdict == POLICY_VERDICT_DENY)
		ok &= ASSERT_EQ(after.denied - before.denied, 1, name);
	else
		ok &= ASSERT_EQ(after.would_deny - before.would_deny, 1, name);
	return ok;
}

TEST(policy_tc_fixtures)
{
	struct fx f;
	struct pkt p;

	if (!fx_init(&f) || !fx_apply(&f, base_policy, 0, 1))
		goto out;
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		const struct fixture *x = &fixtures[i];

		build(&p, x->kind, x->src, x->dst, x->sport, x->dport);
		check_fixture(&f, x, &p, p.len, x->retval, x->malformed,
			      x->retval == TC_ACT_SHOT ? POLICY_VERDICT_DENY : POLICY_VERDICT_ALLOW);
	}
	/* Observe mode, by a map write: the same packets pass, counted as would-deny. */
	if (!ASSERT_OK(policy_kern_set_mode(&f.k, 0, 0, POLICY_MODE_OBSERVE), "observe"))
		goto out;
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		const struct fixture *x = &fixtures[i];

		build(&p, x->kind, x->src, x->dst, x->sport, x->dport);
		check_fixture(&f, x, &p, p.len, TC_ACT_UNSPEC, x->malformed,
			      x->retval == TC_ACT_SHOT ? POLICY_VERDICT_WOULD_DENY : POLICY_VERDICT_ALLOW);
	}
	/* The agent's dry run observes a policy in block mode. */
	policy_kern_set_mode(&f.k, 0, 0, POLICY_MODE_BLOCK);
	f.cfg.policy_dry_run = true;
	policy_kern_settings(&f.k, &f.cfg);
	build(&p, P_TCP4, "192.0.2.1", "10.9.9.9", 40000, 22);
	check_fixture(&f, &fixtures[2], &p, p.len, TC_ACT_UNSPEC, false, POLICY_VERDICT_WOULD_DENY);
	f.cfg.policy_dry_run = false;
	policy_kern_settings(&f.k, &f.cfg);
	check_fixture(&f, &fixtures[2], &p, p.len, TC_ACT_SHOT, false, POLICY_VERDICT_DENY);
out:
	fx_cleanup(&f);
}

/* Every IP fixture cut at every byte past the Ethernet header: malformed, so the default decides. */
TEST(policy_tc_truncated_packets)
{
	struct fixture cut = { .rule = R_DEFAULT, .malformed = true };
	struct fx f;
	struct pkt p;

	if (!fx_init(&f) || !fx_apply(&f, base_policy, 0, 1))
		goto out;
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		const struct fixture *x = &fixtures[i];

		if (x->kind == P_ARP)
			continue;
		build(&p, x->kind, x->src, x->dst, x->sport, x->dport);
		cut.desc = x->desc;
		/*
		 * test_run refuses a frame whose fixed IP header is cut (20 bytes IPv4, 40 IPv6):
		 * those never reach the program here; every longer cut does.
		 */
		size_t ip_hdr = 14 + (p.buf[12] == 0x86 ? 40 : 20);

		for (size_t len = 14; len < ip_hdr; len++)
			if (!ASSERT_EQ(run(f.tc_in, &p, len), -1000 - EINVAL, "a cut IP header is refused by test_run"))
				goto out;
		for (size_t len = ip_hdr; len < p.len; len++)
			if (!check_fixture(&f, &cut, &p, len, TC_ACT_SHOT, true, POLICY_VERDICT_DENY))
				goto out;
	}
out:
	fx_cleanup(&f);
}

/* What this host sent opens the way back: replies, and ICMP errors about them. */
TEST(policy_tc_replies)
{
	struct fx f;
	struct pkt p;
	struct policy_counters before, after;

	if (!fx_init(&f) || !fx_apply(&f, base_policy, 0, 1))
		goto out;
	build(&p, P_TCP4, "192.0.2.7", "10.9.9.9", 443, 40000);
	ASSERT_EQ(run(f.tc_in, &p, p.len), TC_ACT_SHOT, "before: the answer is denied");
	build(&p, P_TCP4, "10.9.9.9", "192.0.2.7", 40000, 443);
	ASSERT_EQ(run(f.tc_out, &p, p.len), TC_ACT_UNSPEC, "the egress program only records");
	before = rule_counters(&f, 0, R_DEFAULT);
	build(&p, P_TCP4, "192.0.2.7", "10.9.9.9", 443, 40000);
	ASSERT_EQ(run(f.tc_in, &p, p.len), TC_ACT_SHOT, "a SYN is no reply: it opens a connection");
	p.buf[14 + 20 + 13] = 0x12;	/* SYN+ACK */
	ASSERT_EQ(run(f.tc_in, &p, p.len), TC_ACT_UNSPEC, "after: the reply gets in");
	after = rule_counters(&f, 0, R_DEFAULT);
	ASSERT_EQ(after.replies - before.replies, 1, "counted as a reply of the default's");
	ASSERT_EQ(after.denied - before.denied, 1, "the SYN as denied");
	build(&p, P_TCP4, "192.0.2.7", "10.9.9.9", 443, 40001);
	p.buf[14 + 20 + 13] = 0x10;	/* ACK */
	ASSERT_EQ(run(f.tc_in, &p, p.len), TC_ACT_SHOT, "another local port is no reply");
	build(&p, P_TCP4, "192.0.2.8", "10.9.9.9", 443, 40000);
	p.buf[14 + 20 + 13] = 0x10;
	ASSERT_EQ(run(f.tc_in, &p, p.len), TC_ACT_SHOT, "another peer is no reply");

	/* IPv6: a router's "packet too big" about a flow of ours gets in (path MTU discovery). */
	build(&p, P_TCP6, "2001:db8:1::1", "2001:db9::7", 40000, 443);
	ASSERT_EQ(run(f.tc_out, &p, p.len), TC_ACT_UNSPEC, "record the v6 flow");
	pkt_init(&p);
	pkt_eth(&p);
	pkt_ipv6(&p, "2001:db9::99", "2001:db8:1::1");
	pkt_icmpv6(&p, 2, 0);
	pkt_payload(&p, 40 + 20);
	{
		uint8_t *q = p.buf + 14 + 40 + 8;	/* the quoted packet */

		q[0] = 0x60;
		q[6] = IPPROTO_TCP;
		inet_pton(AF_INET6, "2001:db8:1::1", q + 8);
		inet_pton(AF_INET6, "2001:db9::7", q + 24);
		pkt_put16(q + 40, 40000);
		pkt_put16(q + 42, 443);
	}
	pkt_finish(&p);
	ASSERT_EQ(run(f.tc_in, &p, p.len), TC_ACT_UNSPEC, "packet too big about our flow gets in");
	p.buf[14 + 40 + 8 + 40] ^= 1;	/* another local port */
	ASSERT_EQ(run(f.tc_in, &p, p.len), TC_ACT_SHOT, "about a flow we do not have: denied");
out:
	fx_cleanup(&f);
}

/*
 * Generations: while slot 1 is written and checked, slot 0 decides; one store switches; switching
 * back is a rollback. ctl 0: nothing decides, everything passes.
 */
TEST(policy_tc_generations)
{
	static const char other[] =
		"policies:\n"
		"  - name: t2\n"
		"    mode: block\n"
		"    selector: {interfaces: [lo]}\n"
		"    default: allow\n"
		"    rules:\n"
		"      - {direction: ingress, action: deny, protocol: udp, ports: [53]}\n";
	struct fx f;
	struct pkt tcp, dns;
	struct policy_doc keep;

	build(&tcp, P_TCP4, "192.0.2.1", "10.9.9.9", 40000, 22);
	build(&dns, P_UDP4, "192.0.2.1", "10.9.9.9", 5353, 53);
	if (!fx_init(&f))
		goto out;
	ASSERT_EQ(run(f.tc_in, &tcp, tcp.len), TC_ACT_UNSPEC, "no generation: everything passes");
	if (!fx_apply(&f, base_policy, 0, 1))
		goto out;
	ASSERT_EQ(run(f.tc_in, &tcp, tcp.len), TC_ACT_SHOT, "generation 1 denies tcp 22");
	ASSERT_EQ(run(f.tc_in, &dns, dns.len), TC_ACT_UNSPEC, "generation 1 allows dns");
	keep = f.doc;
	memset(&f.doc, 0, sizeof(f.doc));
	if (!fx_apply(&f, other, 1, 0))
		goto out_keep;
	ASSERT_EQ(policy_kern_ctl(&f.k), 1 << 1 | 0, "still generation 1");
	ASSERT_EQ(run(f.tc_in, &tcp, tcp.len), TC_ACT_SHOT, "written, not switched: generation 1 decides");
	ASSERT_OK(policy_kern_flip(&f.k, 2 << 1 | 1), "switch to generation 2");
	ASSERT_EQ(run(f.tc_in, &tcp, tcp.len), TC_ACT_UNSPEC, "generation 2 allows tcp 22");
	ASSERT_EQ(run(f.tc_in, &dns, dns.len), TC_ACT_SHOT, "generation 2 denies dns");
	ASSERT_EQ(rule_counters(&f, 1, 0).denied, 1, "counted in slot 1");
	ASSERT_OK(policy_kern_flip(&f.k, 1 << 1 | 0), "roll back");
	ASSERT_EQ(run(f.tc_in, &tcp, tcp.len), TC_ACT_SHOT, "generation 1 again");
	ASSERT_OK(policy_kern_flip(&f.k, 0), "no generation");
	ASSERT_EQ(run(f.tc_in, &tcp, tcp.len), TC_ACT_UNSPEC, "everything passes again");
out_keep:
	policy_doc_free(&keep);
out:
	fx_cleanup(&f);
}

/* The test's own cgroup (test_run gives its skb a socket of the running task's cgroup). */
static bool own_cgroup(char *path, size_t len)
{
	char mount[PATH_MAX], *text = NULL, *rel;
	size_t n;
	bool ok = false;

	if (cgroup2_find(mount, sizeof(mount)) || read_file("/proc/self/cgroup", &text, &n))
		return false;
	rel = strstr(text, "0::");
	if (rel) {
		rel[strcspn(rel, "\n")] = '\0';
		snprintf(path, len, "%s%s", mount, rel + 3);
		ok = true;
	}
	free(text);
	return ok;
}

static int on_event(void *ctx, void *data, size_t size)
{
	if (size >= sizeof(struct policy_event))
		memcpy(ctx, data, sizeof(struct policy_event));
	return 0;
}

TEST(policy_cgroup_egress_and_events)
{
	char cg[PATH_MAX], text[PATH_MAX + 512];
	struct fx f;
	struct pkt p;
	struct ring_buffer *rb = NULL;
	struct policy_event ev = {};

	if (!own_cgroup(cg, sizeof(cg))) {
		test_skip("no cgroup v2 path in /proc/self/cgroup");
		return;
	}
	snprintf(text, sizeof(text),
		 "policies:\n"
		 "  - name: out\n"
		 "    mode: block\n"
		 "    selector: {cgroups: [\"%s\"]}\n"
		 "    default: allow\n"
		 "    rules:\n"
		 "      - {direction: egress, action: deny, protocol: tcp, ports: [25], peers: [198.51.100.0/24]}\n",
		 cg);
	if (!fx_init(&f) || !fx_apply(&f, text, 0, 7))
		goto out;
	build(&p, P_TCP4, "10.9.9.9", "198.51.100.5", 40000, 25);
	ASSERT_EQ(run(f.cg_egress, &p, p.len), 0, "smtp to the denied /24 is dropped");
	build(&p, P_TCP4, "10.9.9.9", "198.51.100.5", 40000, 587);
	ASSERT_EQ(run(f.cg_egress, &p, p.len), 1, "another port passes");
	build(&p, P_TCP4, "10.9.9.9", "203.0.113.5", 40000, 25);
	ASSERT_EQ(run(f.cg_egress, &p, p.len), 1, "another peer passes");
	ASSERT_EQ(rule_counters(&f, 0, 0).denied, 1, "the deny rule counted one");

	/* The deny was reported: policy, rule, generation, 5-tuple, direction, verdict, cgroup. */
	rb = ring_buffer__new(bpfobj_map_fd(&f.k.obj, "pol_events"), on_event, &ev, NULL);
	if (!ASSERT_TRUE(rb != NULL, "ring buffer"))
		goto out;
	ASSERT_EQ(ring_buffer__consume(rb), 1, "one event");
	ASSERT_EQ(ev.generation, 7, "generation");
	ASSERT_EQ(ev.rule, 0, "rule");
	ASSERT_EQ(ev.verdict, POLICY_VERDICT_DENY, "verdict");
	ASSERT_EQ(ev.direction, POLICY_DIR_EGRESS, "direction");
	ASSERT_EQ(ev.hook, POLICY_HOOK_CGROUP_EGRESS, "hook");
	ASSERT_EQ(ev.mode, POLICY_MODE_BLOCK, "mode");
	ASSERT_EQ(ntohs(ev.dport), 25, "dport");
	ASSERT_EQ(ev.daddr[0], 198, "daddr");
	ASSERT_EQ(ev.sel_cgroup_id, f.sel.cgroups[0].id, "the selected cgroup");
	ASSERT_EQ(ev.tgid, getpid(), "the sending task");
	ring_buffer__free(rb);
out:
	fx_cleanup(&f);
}

static int count_event(void *ctx, void *data, size_t size)
{
	const struct policy_event *e = data;

	if (size >= sizeof(*e) && e->verdict == POLICY_VERDICT_DENY && e->rule == R_DEFAULT)
		++*(size_t *)ctx;
	return 0;
}

/* One BPF_PROG_TEST_RUN of n runs: they stay on one CPU, so one per-CPU bucket decides. */
static int run_n(int prog, const struct pkt *p, uint32_t n)
{
	struct __sk_buff ctx = { .ingress_ifindex = 1 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->buf, .data_size_in = (uint32_t)p->len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = n);

	if (bpf_prog_test_run_opts(prog, &o))
		return -1000 - errno;
	return (int)o.retval;
}

/*
 * The event path's two limits: a full ring buffer (the agent not reading) counts lost events and
 * drops nothing it should not; the per-CPU token bucket (policy.events) holds back the excess and
 * counts it. Either way the verdict and the rule counters are exact.
 */
TEST(policy_events_rate_limit_and_lost)
{
	/* A record: the 112-byte event and the ring buffer's 8-byte header. */
	const uint32_t fit = POLICY_EVENTS_DEFAULT / (sizeof(struct policy_event) + 8), n = 20000;
	struct ring_buffer *rb = NULL;
	struct policy_stats s0, s1;
	size_t got = 0;
	struct fx f;
	struct pkt p;

	if (!fx_init(&f))
		goto out;
	/* Room for every event in the bucket: the ring buffer fills, the rest are lost. */
	f.cfg.policy_events_per_sec = 1000000;
	f.cfg.policy_events_burst = 1000000;
	if (!fx_apply(&f, base_policy, 0, 1) || !ASSERT_OK(policy_kern_settings(&f.k, &f.cfg), "settings"))
		goto out;
	rb = ring_buffer__new(bpfobj_map_fd(&f.k.obj, "pol_events"), count_event, &got, NULL);
	if (!ASSERT_TRUE(rb != NULL, "ring buffer"))
		goto out;
	build(&p, P_TCP4, "192.0.2.1", "10.9.9.9", 40000, 23);
	s0 = stats(&f);
	ASSERT_EQ(run_n(f.tc_in, &p, n), TC_ACT_SHOT, "denied while the ring buffer is full");
	s1 = stats(&f);
	ASSERT_EQ(s1.events_sent - s0.events_sent, fit, "the ring buffer took what fits");
	ASSERT_EQ(s1.events_lost - s0.events_lost, n - fit, "the rest counted as lost");
	ASSERT_EQ(s1.events_capped - s0.events_capped, 0, "none held back by the bucket");
	ASSERT_EQ(rule_counters(&f, 0, R_DEFAULT).denied, n, "every packet counted denied");
	ASSERT_EQ(ring_buffer__consume(rb), fit, "the reader gets each sent event");
	ASSERT_EQ(got, fit, "each one the default's deny");

	/* One event a second, a burst of 5: 5 of 50 sent, 45 held back, none lost. */
	f.cfg.policy_events_per_sec = 1;
	f.cfg.policy_events_burst = 5;
	if (!ASSERT_OK(policy_kern_settings(&f.k, &f.cfg), "settings: 1/s, burst 5"))
		goto out;
	got = 0;
	s0 = stats(&f);
	ASSERT_EQ(run_n(f.tc_in, &p, 50), TC_ACT_SHOT, "denied while rate limited");
	s1 = stats(&f);
	ASSERT_EQ(s1.events_sent - s0.events_sent, 5, "the burst is sent");
	ASSERT_EQ(s1.events_capped - s0.events_capped, 45, "the rest held back and counted");
	ASSERT_EQ(s1.events_lost - s0.events_lost, 0, "none lost");
	ASSERT_EQ(rule_counters(&f, 0, R_DEFAULT).denied, n + 50, "the counters see every packet");
	ASSERT_EQ(ring_buffer__consume(rb), 5, "the reader gets the burst");
out:
	ring_buffer__free(rb);
	fx_cleanup(&f);
}
