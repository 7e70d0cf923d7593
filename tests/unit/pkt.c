// SPDX-License-Identifier: GPL-2.0-only
/* Packet builder for test fixtures: see pkt.h. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkt.h"

/* A fixture that does not fit or names a bad address is a bug in the test: stop loudly. */
static void pkt_die(const char *what)
{
	fprintf(stderr, "pkt: broken fixture: %s\n", what);
	abort();
}

void pkt_put16(uint8_t *at, uint16_t host_val)
{
	at[0] = host_val >> 8;
	at[1] = host_val & 0xff;
}

uint16_t pkt_get16(const uint8_t *at)
{
	return (uint16_t)(at[0] << 8 | at[1]);
}

static uint8_t *pkt_push(struct pkt *p, enum pkt_kind kind, size_t len)
{
	uint8_t *h;

	if (p->len + len > PKT_MAX || p->nhdr == PKT_MAX_HDRS)
		pkt_die("packet too long");
	h = p->buf + p->len;
	memset(h, 0, len);
	p->hdr[p->nhdr++] = (struct pkt_hdr){ .kind = kind, .off = p->len, .len = len };
	p->len += len;
	return h;
}

/* Fill in the previous header's "what comes next" field. */
static void pkt_link(struct pkt *p, uint16_t proto)
{
	if (p->proto_size == 2)
		pkt_put16(p->buf + p->proto_off, proto);
	else if (p->proto_size == 1)
		p->buf[p->proto_off] = (uint8_t)proto;
	p->proto_size = 0;
}

void pkt_init(struct pkt *p)
{
	memset(p, 0, sizeof(*p));
}

void pkt_eth(struct pkt *p)
{
	static const uint8_t dst[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
	static const uint8_t src[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
	uint8_t *h = pkt_push(p, PKT_ETH, 14);

	memcpy(h, dst, 6);
	memcpy(h + 6, src, 6);
	p->proto_off = h + 12 - p->buf;
	p->proto_size = 2;
}

void pkt_vlan(struct pkt *p, uint16_t tpid, uint16_t vid)
{
	uint8_t *h;

	pkt_link(p, tpid);
	h = pkt_push(p, PKT_VLAN, 4);
	pkt_put16(h, vid & 0x0fff);
	p->proto_off = h + 2 - p->buf;
	p->proto_size = 2;
}

void pkt_arp(struct pkt *p)
{
	uint8_t *h;

	pkt_link(p, 0x0806);
	h = pkt_push(p, PKT_ARP, 28);
	pkt_put16(h, 1);		/* Ethernet */
	pkt_put16(h + 2, 0x0800);	/* IPv4 */
	h[4] = 6;
	h[5] = 4;
	pkt_put16(h + 6, 1);		/* request */
}

static void pkt_addr(int af, const char *text, void *out)
{
	if (inet_pton(af, text, out) != 1)
		pkt_die(text);
}

void pkt_ipv4(struct pkt *p, const char *src, const char *dst, size_t opt_len)
{
	uint8_t *h;

	if (opt_len % 4 || opt_len > 40)
		pkt_die("IPv4 options length");
	pkt_link(p, 0x0800);
	h = pkt_push(p, PKT_IPV4, 20 + opt_len);
	h[0] = 0x40 | (uint8_t)((20 + opt_len) / 4);
	pkt_put16(h + 4, 0x1234);	/* id */
	h[8] = 64;			/* ttl */
	pkt_addr(AF_INET, src, h + 12);
	pkt_addr(AF_INET, dst, h + 16);
	if (opt_len) {
		/* Router alert, then no-ops, then end of list: real options, not filler. */
		h[20] = 0x94;
		h[21] = 4;
		memset(h + 24, 0x01, opt_len - 4);
		if (opt_len > 4)
			h[20 + opt_len - 1] = 0x00;
	}
	p->proto_off = h + 9 - p->buf;
	p->proto_size = 1;
}

void pkt_ipv4_frag(struct pkt *p, uint16_t offset8, bool more)
{
	const struct pkt_hdr *ip = NULL;

	for (int i = 0; i < p->nhdr; i++)
		if (p->hdr[i].kind == PKT_IPV4)
			ip = &p->hdr[i];
	if (!ip)
		pkt_die("fragment without IPv4");
	pkt_put16(p->buf + ip->off + 6, (uint16_t)((offset8 & 0x1fff) | (more ? 0x2000 : 0)));
}

void pkt_ipv6(struct pkt *p, const char *src, const char *dst)
{
	uint8_t *h;

	pkt_link(p, 0x86dd);
	h = pkt_push(p, PKT_IPV6, 40);
	h[0] = 0x60;
	h[7] = 64;			/* hop limit */
	pkt_addr(AF_INET6, src, h + 8);
	pkt_addr(AF_INET6, dst, h + 24);
	p->proto_off = h + 6 - p->buf;
	p->proto_size = 1;
}

void pkt_ipv6_ext(struct pkt *p, uint8_t type, size_t len)
{
	uint8_t *h;

	if (type == PKT_EXT_AH ? (len < 12 || len % 4 || len > 1028)
			       : (type == PKT_EXT_FRAGMENT || len < 8 || len % 8 || len > 2048))
		pkt_die("IPv6 extension header length");
	pkt_link(p, type);
	h = pkt_push(p, PKT_IPV6_EXT, len);
	if (type == PKT_EXT_AH) {
		h[1] = (uint8_t)(len / 4 - 2);
		h[7] = 1;		/* SPI 1 */
		h[11] = 1;		/* sequence 1 */
	} else {
		h[1] = (uint8_t)(len / 8 - 1);
		if (type == PKT_EXT_ROUTING) {
			h[2] = 4;	/* segment routing, segments left 0: processed as done */
		} else if (len - 2 >= 2) {
			h[2] = 1;	/* PadN over the rest */
			h[3] = (uint8_t)(len - 4);
		}
	}
	p->proto_off = h - p->buf;
	p->proto_size = 1;
}

void pkt_ipv6_frag(struct pkt *p, uint16_t offset8, bool more)
{
	uint8_t *h;

	pkt_link(p, PKT_EXT_FRAGMENT);
	h = pkt_push(p, PKT_IPV6_EXT, 8);
	pkt_put16(h + 2, (uint16_t)(offset8 << 3 | (more ? 1 : 0)));
	h[7] = 0x42;			/* identification */
	p->proto_off = h - p->buf;
	p->proto_size = 1;
}

void pkt_tcp(struct pkt *p, uint16_t sport, uint16_t dport, size_t opt_len)
{
	uint8_t *h;

	if (opt_len % 4 || opt_len > 40)
		pkt_die("TCP options length");
	pkt_link(p, 6);
	h = pkt_push(p, PKT_TCP, 20 + opt_len);
	pkt_put16(h, sport);
	pkt_put16(h + 2, dport);
	h[7] = 1;			/* seq */
	h[12] = (uint8_t)((20 + opt_len) / 4) << 4;
	h[13] = 0x02;			/* SYN */
	pkt_put16(h + 14, 64240);
	if (opt_len) {
		h[20] = 2;		/* MSS 1460 */
		h[21] = 4;
		pkt_put16(h + 22, 1460);
		memset(h + 24, 0x01, opt_len - 4);
	}
}

void pkt_udp(struct pkt *p, uint16_t sport, uint16_t dport)
{
	uint8_t *h;

	pkt_link(p, 17);
	h = pkt_push(p, PKT_UDP, 8);
	pkt_put16(h, sport);
	pkt_put16(h + 2, dport);
}

void pkt_icmp(struct pkt *p, uint8_t type, uint8_t code)
{
	uint8_t *h;

	pkt_link(p, 1);
	h = pkt_push(p, PKT_ICMP, 8);
	h[0] = type;
	h[1] = code;
	h[5] = 1;			/* id */
	h[7] = 1;			/* sequence */
}

void pkt_icmpv6(struct pkt *p, uint8_t type, uint8_t code)
{
	uint8_t *h;

	pkt_link(p, 58);
	h = pkt_push(p, PKT_ICMPV6, 8);
	h[0] = type;
	h[1] = code;
	h[5] = 1;
	h[7] = 1;
}

void pkt_proto(struct pkt *p, uint8_t proto)
{
	pkt_link(p, proto);
}

void pkt_payload(struct pkt *p, size_t n)
{
	uint8_t *h = pkt_push(p, PKT_PAYLOAD, n);

	for (size_t i = 0; i < n; i++)
		h[i] = (uint8_t)(0xa0 + i);
}

void pkt_ipv4_csum(uint8_t *ip)
{
	size_t hlen = (size_t)(ip[0] & 0x0f) * 4;
	uint32_t sum = 0;

	ip[10] = ip[11] = 0;
	for (size_t i = 0; i + 1 < hlen; i += 2)
		sum += pkt_get16(ip + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	pkt_put16(ip + 10, (uint16_t)~sum);
}

static uint16_t pkt_clamp16(size_t end, size_t start)
{
	return end > start ? (uint16_t)(end - start) : 0;
}

void pkt_fix_lengths(const struct pkt *p, uint8_t *buf, size_t len)
{
	for (int i = 0; i < p->nhdr; i++) {
		const struct pkt_hdr *h = &p->hdr[i];

		switch (h->kind) {
		case PKT_IPV4:
			if (h->off + 4 <= len)
				pkt_put16(buf + h->off + 2, pkt_clamp16(len, h->off));
			if (h->off + h->len <= len)
				pkt_ipv4_csum(buf + h->off);
			break;
		case PKT_IPV6:
			if (h->off + 6 <= len)
				pkt_put16(buf + h->off + 4, pkt_clamp16(len, h->off + 40));
			break;
		case PKT_UDP:
			if (h->off + 6 <= len)
				pkt_put16(buf + h->off + 4, pkt_clamp16(len, h->off));
			break;
		default:
			break;
		}
	}
}

void pkt_finish(struct pkt *p)
{
	pkt_fix_lengths(p, p->buf, p->len);
}

const struct pkt_hdr *pkt_find(const struct pkt *p, enum pkt_kind kind, int nth)
{
	for (int i = 0; i < p->nhdr; i++)
		if (p->hdr[i].kind == kind && nth-- == 0)
			return &p->hdr[i];
	return NULL;
}

uint8_t *pkt_at(struct pkt *p, enum pkt_kind kind, int nth)
{
	const struct pkt_hdr *h = pkt_find(p, kind, nth);

	if (!h)
		pkt_die(pkt_kind_name(kind));
	return p->buf + h->off;
}

const char *pkt_kind_name(enum pkt_kind kind)
{
	static const char *const names[] = {
		[PKT_ETH] = "eth", [PKT_VLAN] = "vlan", [PKT_ARP] = "arp",
		[PKT_IPV4] = "ipv4", [PKT_IPV6] = "ipv6", [PKT_IPV6_EXT] = "ipv6_ext",
		[PKT_TCP] = "tcp", [PKT_UDP] = "udp", [PKT_ICMP] = "icmp",
		[PKT_ICMPV6] = "icmpv6", [PKT_PAYLOAD] = "payload",
	};

	return (unsigned)kind < sizeof(names) / sizeof(names[0]) && names[kind] ? names[kind] : "?";
}
