// SPDX-License-Identifier: GPL-2.0-only
/*
 * The visibility packet parser (bpf/lib/vis_parse.h) under BPF_PROG_TEST_RUN, through the fixture
 * build/fixtures/vis_parse_fixture.bpf.o: each fixture packet with the addresses, ports and
 * header length it must find; every fixture cut at every byte (with its length fields following
 * the cut, and as a raw cut whose lengths still claim the whole packet), which must end in the
 * error of the header the cut falls in and never in a parse; and hostile headers.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "aegis/visibility.h"
#include "pkt.h"
#include "test.h"

#define NAME_RESULT(id, name) name,
static const char *const result_names[] = { VIS_PARSE_RESULTS(NAME_RESULT) };
#undef NAME_RESULT

struct fx {
	struct bpf_object *obj;
	int prog, out;
};

static bool fx_open(struct fx *f)
{
	char path[512];

	memset(f, 0, sizeof(*f));
	snprintf(path, sizeof(path), "%s/vis_parse_fixture.bpf.o", test_fixtures_dir());
	f->obj = bpf_object__open_file(path, NULL);
	if (!ASSERT_TRUE(f->obj, "open build/fixtures/vis_parse_fixture.bpf.o (make it first)"))
		return false;
	if (!ASSERT_OK(bpf_object__load(f->obj), "load the parser fixture"))
		return false;
	f->prog = bpf_program__fd(bpf_object__find_program_by_name(f->obj, "parse_skb"));
	f->out = bpf_map__fd(bpf_object__find_map_by_name(f->obj, "parse_out"));
	return ASSERT_TRUE(f->prog >= 0 && f->out >= 0, "fixture program and map");
}

/* Runs buf[0..len) (an Ethernet frame: the program sees it from the IP header) and reads back. */
static bool run(const struct fx *f, const void *buf, size_t len, struct vis_pkt *res, const char *what)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf, .data_size_in = (__u32)len);
	struct vis_pkt poison;
	uint32_t zero = 0;
	char name[160];

	memset(&poison, 0xee, sizeof(poison));
	bpf_map_update_elem(f->out, &zero, &poison, BPF_ANY);
	snprintf(name, sizeof(name), "%s: test_run", what);
	if (!ASSERT_OK(bpf_prog_test_run_opts(f->prog, &opts), name))
		return false;
	snprintf(name, sizeof(name), "%s: verdict", what);
	if (!ASSERT_EQ(opts.retval, 1, name))
		return false;
	return ASSERT_OK(bpf_map_lookup_elem(f->out, &zero, res), "read parse_out");
}

static bool expect_result(const struct vis_pkt *r, int want, const char *what)
{
	if (r->result == want)
		return true;
	test_fail_at(__FILE__, __LINE__, "%s: result %s, expected %s", what,
		     r->result < VIS_PARSE__COUNT ? result_names[r->result] : "?", result_names[want]);
	return false;
}

struct expect {
	int family;		/* AF_INET or AF_INET6 */
	const char *src, *dst;
	uint16_t sport, dport;
	uint8_t proto;
	uint16_t hdr_len;	/* from the IP header */
};

static bool check_parse(const struct fx *f, const struct pkt *p, const struct expect *e, const char *what)
{
	uint8_t a[16] = {};
	struct vis_pkt r;
	bool ok;

	if (!run(f, p->buf, p->len, &r, what) || !expect_result(&r, VIS_PARSE_OK, what))
		return false;
	ok = ASSERT_EQ(r.family, e->family == AF_INET ? 2 : 10, what);
	ok &= ASSERT_EQ(r.proto, e->proto, what);
	ok &= ASSERT_EQ(ntohs(r.sport), e->sport, what);
	ok &= ASSERT_EQ(ntohs(r.dport), e->dport, what);
	ok &= ASSERT_EQ(r.hdr_len, e->hdr_len, what);
	inet_pton(e->family, e->src, a);
	ok &= ASSERT_TRUE(memcmp(r.saddr, a, e->family == AF_INET ? 4 : 16) == 0, "source address");
	inet_pton(e->family, e->dst, a);
	ok &= ASSERT_TRUE(memcmp(r.daddr, a, e->family == AF_INET ? 4 : 16) == 0, "destination address");
	return ok;
}

/*
 * Cut at every byte from the end of the fixed IP header: a cut inside an IP header or extension header is
 * truncated_ip, inside the L4 header truncated_l4, inside the payload still a parse. The raw cut
 * keeps lengths that claim more than is there: any error but never a parse, up to the payload.
 */
static bool check_cuts(const struct fx *f, const struct pkt *p, const char *what)
{
	const struct pkt_hdr *l4 = pkt_find(p, PKT_TCP, 0) ? pkt_find(p, PKT_TCP, 0) : pkt_find(p, PKT_UDP, 0);
	uint8_t buf[PKT_MAX];
	struct vis_pkt r;
	char name[160];
	bool ok = true;

	/*
	 * test_run refuses an skb without a whole fixed IP header (the stack would not deliver one
	 * to a socket either): those cuts cannot reach the program, and must be refused.
	 */
	size_t fixed = 14 + (pkt_find(p, PKT_IPV4, 0) ? 20 : 40);

	for (size_t cut = 14; cut < fixed; cut++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->buf, .data_size_in = (__u32)cut);

		snprintf(name, sizeof(name), "%s cut at %zu: refused by test_run", what, cut);
		ok &= ASSERT_EQ(bpf_prog_test_run_opts(f->prog, &o), -EINVAL, name);
	}
	for (size_t cut = fixed; cut < p->len; cut++) {
		int want = cut < l4->off ? VIS_PARSE_TRUNCATED_IP : cut < l4->off + l4->len ?
			   VIS_PARSE_TRUNCATED_L4 : VIS_PARSE_OK;

		memcpy(buf, p->buf, cut);
		pkt_fix_lengths(p, buf, cut);
		snprintf(name, sizeof(name), "%s cut at %zu", what, cut);
		if (!run(f, buf, cut, &r, name) || !expect_result(&r, want, name))
			return false;
		memcpy(buf, p->buf, cut);
		snprintf(name, sizeof(name), "%s raw cut at %zu", what, cut);
		if (!run(f, buf, cut, &r, name))
			return false;
		ok &= ASSERT_TRUE(r.result != VIS_PARSE_OK, name);
	}
	return ok;
}

TEST(vis_parse_fixtures)
{
	struct fx f;
	struct pkt p;

	if (!fx_open(&f))
		goto out;

	pkt_init(&p);
	pkt_eth(&p);
	pkt_ipv4(&p, "198.18.0.2", "198.18.0.1", 0);
	pkt_tcp(&p, 40000, 5201, 12);
	pkt_payload(&p, 100);
	pkt_finish(&p);
	check_parse(&f, &p, &(struct expect){ AF_INET, "198.18.0.2", "198.18.0.1", 40000, 5201, 6, 20 + 32 }, "ipv4 tcp");
	check_cuts(&f, &p, "ipv4 tcp");

	pkt_init(&p);
	pkt_eth(&p);
	pkt_ipv4(&p, "10.0.0.1", "10.0.0.2", 8);
	pkt_udp(&p, 53, 33000);
	pkt_payload(&p, 30);
	pkt_finish(&p);
	check_parse(&f, &p, &(struct expect){ AF_INET, "10.0.0.1", "10.0.0.2", 53, 33000, 17, 28 + 8 }, "ipv4 options udp");
	check_cuts(&f, &p, "ipv4 options udp");

	pkt_init(&p);
	pkt_eth(&p);
	pkt_ipv6(&p, "fd00:ae9::2", "fd00:ae9::1");
	pkt_tcp(&p, 41000, 443, 12);
	pkt_payload(&p, 10);
	pkt_finish(&p);
	check_parse(&f, &p, &(struct expect){ AF_INET6, "fd00:ae9::2", "fd00:ae9::1", 41000, 443, 6, 40 + 32 }, "ipv6 tcp");
	check_cuts(&f, &p, "ipv6 tcp");

	/* Hop-by-hop, destination options and a first fragment before UDP. */
	pkt_init(&p);
	pkt_eth(&p);
	pkt_ipv6(&p, "2001:db8::1", "2001:db8::2");
	pkt_ipv6_ext(&p, PKT_EXT_HOP, 8);
	pkt_ipv6_ext(&p, PKT_EXT_DEST, 16);
	pkt_ipv6_frag(&p, 0, true);
	pkt_udp(&p, 5353, 5354);
	pkt_payload(&p, 20);
	pkt_finish(&p);
	check_parse(&f, &p, &(struct expect){ AF_INET6, "2001:db8::1", "2001:db8::2", 5353, 5354, 17, 40 + 32 + 8 }, "ipv6 ext udp");
	check_cuts(&f, &p, "ipv6 ext udp");

	/* A first IPv4 fragment still has its ports. */
	pkt_init(&p);
	pkt_eth(&p);
	pkt_ipv4(&p, "192.0.2.1", "192.0.2.2", 0);
	pkt_udp(&p, 1000, 2000);
	pkt_payload(&p, 64);
	pkt_finish(&p);
	pkt_ipv4_frag(&p, 0, true);
	check_parse(&f, &p, &(struct expect){ AF_INET, "192.0.2.1", "192.0.2.2", 1000, 2000, 17, 28 }, "first fragment");
out:
	bpf_object__close(f.obj);
}

static bool expect_error(const struct fx *f, struct pkt *p, int want, const char *what)
{
	struct vis_pkt r;

	return run(f, p->buf, p->len, &r, what) && expect_result(&r, want, what);
}

static void tcp_v4(struct pkt *p)
{
	pkt_init(p);
	pkt_eth(p);
	pkt_ipv4(p, "198.18.0.2", "198.18.0.1", 0);
	pkt_tcp(p, 1, 2, 0);
	pkt_payload(p, 8);
	pkt_finish(p);
}

TEST(vis_parse_hostile)
{
	struct fx f;
	struct pkt p;
	uint8_t *ip, *tcp;

	if (!fx_open(&f))
		goto out;

	tcp_v4(&p);
	ip = pkt_at(&p, PKT_IPV4, 0);
	ip[0] = 0x55;
	expect_error(&f, &p, VIS_PARSE_BAD_VERSION, "version 5");

	tcp_v4(&p);
	ip = pkt_at(&p, PKT_IPV4, 0);
	ip[0] = 0x44;
	expect_error(&f, &p, VIS_PARSE_BAD_IHL, "ihl 4");

	tcp_v4(&p);
	ip = pkt_at(&p, PKT_IPV4, 0);
	pkt_put16(ip + 2, 12);
	expect_error(&f, &p, VIS_PARSE_BAD_LENGTH, "tot_len below the header");

	tcp_v4(&p);
	ip = pkt_at(&p, PKT_IPV4, 0);
	pkt_put16(ip + 2, 1400);
	expect_error(&f, &p, VIS_PARSE_BAD_LENGTH, "tot_len beyond the packet");

	/* BIG TCP writes tot_len 0: the skb's length stands. */
	tcp_v4(&p);
	ip = pkt_at(&p, PKT_IPV4, 0);
	pkt_put16(ip + 2, 0);
	expect_error(&f, &p, VIS_PARSE_OK, "tot_len 0");

	tcp_v4(&p);
	pkt_ipv4_frag(&p, 185, false);
	expect_error(&f, &p, VIS_PARSE_LATER_FRAGMENT, "later IPv4 fragment");

	tcp_v4(&p);
	tcp = pkt_at(&p, PKT_TCP, 0);
	tcp[12] = 0x40;
	expect_error(&f, &p, VIS_PARSE_BAD_DOFF, "doff 4");

	tcp_v4(&p);
	tcp = pkt_at(&p, PKT_TCP, 0);
	tcp[12] = 0xf0;
	expect_error(&f, &p, VIS_PARSE_TRUNCATED_L4, "doff 15 past the end");

	pkt_init(&p);
	pkt_eth(&p);
	pkt_ipv4(&p, "198.18.0.2", "198.18.0.1", 0);
	pkt_icmp(&p, 8, 0);
	pkt_finish(&p);
	expect_error(&f, &p, VIS_PARSE_NOT_TCP_UDP, "icmp");

	pkt_init(&p);
	pkt_eth(&p);
	pkt_ipv6(&p, "2001:db8::1", "2001:db8::2");
	pkt_ipv6_frag(&p, 100, false);
	pkt_udp(&p, 1, 2);
	pkt_finish(&p);
	expect_error(&f, &p, VIS_PARSE_LATER_FRAGMENT, "later IPv6 fragment");

	/* Seven extension headers: one more than the parser walks. */
	pkt_init(&p);
	pkt_eth(&p);
	pkt_ipv6(&p, "2001:db8::1", "2001:db8::2");
	for (int i = 0; i < 7; i++)
		pkt_ipv6_ext(&p, PKT_EXT_DEST, 8);
	pkt_udp(&p, 1, 2);
	pkt_finish(&p);
	expect_error(&f, &p, VIS_PARSE_EXT_CHAIN, "seven extension headers");

	/* An extension header that claims 2 KiB, past the end of the packet. */
	pkt_init(&p);
	pkt_eth(&p);
	pkt_ipv6(&p, "2001:db8::1", "2001:db8::2");
	pkt_ipv6_ext(&p, PKT_EXT_HOP, 8);
	pkt_udp(&p, 1, 2);
	pkt_finish(&p);
	pkt_at(&p, PKT_IPV6_EXT, 0)[1] = 255;
	expect_error(&f, &p, VIS_PARSE_TRUNCATED_IP, "extension header past the end");

	pkt_init(&p);
	pkt_eth(&p);
	pkt_ipv6(&p, "2001:db8::1", "2001:db8::2");
	pkt_udp(&p, 1, 2);
	pkt_finish(&p);
	pkt_put16(pkt_at(&p, PKT_IPV6, 0) + 4, 3000);
	expect_error(&f, &p, VIS_PARSE_BAD_LENGTH, "payload_len beyond the packet");
out:
	bpf_object__close(f.obj);
}
