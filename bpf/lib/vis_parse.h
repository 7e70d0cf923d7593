/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The headers of a packet the visibility counters need, from an skb whose data starts at the IP
 * header (cgroup_skb, in both directions): the addresses, the ports and the length of the IP and
 * L4 headers (to count the headers of every GSO segment). bpf_skb_load_bytes() reads them, so a
 * header in the paged part of a non-linear skb is read as well as one in the linear part.
 *
 * Every header is checked before it is believed: IPv4 version, ihl >= 5, a total length that
 * covers the header and fits the packet (0 is BIG TCP's "see the skb length"); IPv6 extension
 * headers are walked, at most VIS_MAX_IPV6_EXT of them within VIS_MAX_HDR_OFF bytes; a later
 * fragment has no L4 header; TCP doff >= 5 and the whole TCP header present.
 *
 * tests/fixtures/vis_parse_fixture.bpf.c runs it under BPF_PROG_TEST_RUN, truncated at every
 * offset and with hostile headers (tests/unit/test_visibility_parse.c).
 */
#ifndef AEGIS_BPF_VIS_PARSE_H
#define AEGIS_BPF_VIS_PARSE_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "aegis/visibility.h"

#define VIS_IPPROTO_TCP		6
#define VIS_IPPROTO_UDP		17
#define VIS_AF_INET		2
#define VIS_AF_INET6		10

#define VIS_NEXTHDR_HOP		0
#define VIS_NEXTHDR_ROUTING	43
#define VIS_NEXTHDR_FRAGMENT	44
#define VIS_NEXTHDR_AUTH	51
#define VIS_NEXTHDR_DEST	60

#define VIS_IP_OFFSET		0x1FFF
#define VIS_IP6_OFFSET		0xFFF8

#define VIS_MAX_IPV6_EXT	6
#define VIS_MAX_HDR_OFF		512	/* an extension chain reaching further is refused */

static __always_inline int vis_parse_ipv4(struct __sk_buff *skb, struct vis_pkt *p, __u32 *l4_off)
{
	struct iphdr iph;
	__u32 hlen, tot;
	__u8 vihl;

	if (bpf_skb_load_bytes(skb, 0, &iph, sizeof(iph)))
		return VIS_PARSE_TRUNCATED_IP;
	/* version/ihl as a byte: bitfield order in vmlinux.h follows the build host. */
	vihl = *(__u8 *)&iph;
	if ((vihl >> 4) != 4)
		return VIS_PARSE_BAD_VERSION;
	hlen = (vihl & 0x0f) * 4;
	if (hlen < sizeof(iph))
		return VIS_PARSE_BAD_IHL;
	if (hlen > skb->len)
		return VIS_PARSE_TRUNCATED_IP;
	tot = bpf_ntohs(iph.tot_len);
	if (tot && (tot < hlen || tot > skb->len))
		return VIS_PARSE_BAD_LENGTH;
	p->family = VIS_AF_INET;
	p->proto = iph.protocol;
	__builtin_memcpy(p->saddr, &iph.saddr, 4);
	__builtin_memcpy(p->daddr, &iph.daddr, 4);
	p->hdr_len = (__u16)hlen;
	if (bpf_ntohs(iph.frag_off) & VIS_IP_OFFSET)
		return VIS_PARSE_LATER_FRAGMENT;
	*l4_off = hlen;
	return VIS_PARSE_OK;
}

/* One extension header at *off: moves *off past it and sets *next. */
static __always_inline int vis_parse_ipv6_ext(struct __sk_buff *skb, __u8 *next, __u32 *off)
{
	__u8 hdr[8];

	if (*off + 8 > skb->len || bpf_skb_load_bytes(skb, *off, hdr, sizeof(hdr)))
		return VIS_PARSE_TRUNCATED_IP;
	switch (*next) {
	case VIS_NEXTHDR_FRAGMENT:
		/* Offset in the upper 13 bits of bytes 2-3: a later fragment has no L4 header. */
		if (((__u16)hdr[2] << 8 | hdr[3]) & VIS_IP6_OFFSET)
			return VIS_PARSE_LATER_FRAGMENT;
		*off += 8;
		break;
	case VIS_NEXTHDR_AUTH:
		*off += ((__u32)hdr[1] + 2) * 4;
		break;
	default:	/* hop-by-hop, routing, destination options */
		*off += ((__u32)hdr[1] + 1) * 8;
		break;
	}
	*next = hdr[0];
	return *off > skb->len ? VIS_PARSE_TRUNCATED_IP : VIS_PARSE_OK;
}

static __always_inline bool vis_is_ipv6_ext(__u8 n)
{
	return n == VIS_NEXTHDR_HOP || n == VIS_NEXTHDR_ROUTING || n == VIS_NEXTHDR_FRAGMENT ||
	       n == VIS_NEXTHDR_AUTH || n == VIS_NEXTHDR_DEST;
}

static __always_inline int vis_parse_ipv6(struct __sk_buff *skb, struct vis_pkt *p, __u32 *l4_off)
{
	struct ipv6hdr ip6;
	__u32 off = sizeof(ip6), plen;
	__u8 next;
	int i, r;

	if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
		return VIS_PARSE_TRUNCATED_IP;
	if ((*(__u8 *)&ip6 >> 4) != 6)
		return VIS_PARSE_BAD_VERSION;
	plen = bpf_ntohs(ip6.payload_len);
	/* 0: a jumbogram or BIG TCP, whose length is the skb's. */
	if (plen && sizeof(ip6) + plen > skb->len)
		return VIS_PARSE_BAD_LENGTH;
	p->family = VIS_AF_INET6;
	__builtin_memcpy(p->saddr, &ip6.saddr, 16);
	__builtin_memcpy(p->daddr, &ip6.daddr, 16);
	next = ip6.nexthdr;
#pragma unroll
	for (i = 0; i < VIS_MAX_IPV6_EXT; i++) {
		if (!vis_is_ipv6_ext(next))
			break;
		r = vis_parse_ipv6_ext(skb, &next, &off);
		p->hdr_len = (__u16)off;
		if (r != VIS_PARSE_OK)
			return r;
		if (off > VIS_MAX_HDR_OFF)
			return VIS_PARSE_EXT_CHAIN;
	}
	if (vis_is_ipv6_ext(next))
		return VIS_PARSE_EXT_CHAIN;
	p->proto = next;
	p->hdr_len = (__u16)off;
	*l4_off = off;
	return VIS_PARSE_OK;
}

static __always_inline int vis_parse_l4(struct __sk_buff *skb, struct vis_pkt *p, __u32 off)
{
	__u8 h[20];
	__u32 doff;

	if (p->proto == VIS_IPPROTO_UDP) {
		if (off + 8 > skb->len || bpf_skb_load_bytes(skb, off, h, 8))
			return VIS_PARSE_TRUNCATED_L4;
		p->hdr_len = (__u16)(off + 8);
	} else if (p->proto == VIS_IPPROTO_TCP) {
		if (off + 20 > skb->len || bpf_skb_load_bytes(skb, off, h, 20))
			return VIS_PARSE_TRUNCATED_L4;
		doff = (__u32)(h[12] >> 4) * 4;
		if (doff < 20)
			return VIS_PARSE_BAD_DOFF;
		if (off + doff > skb->len)
			return VIS_PARSE_TRUNCATED_L4;
		p->tcp_flags = h[13];
		p->hdr_len = (__u16)(off + doff);
	} else {
		return VIS_PARSE_NOT_TCP_UDP;
	}
	__builtin_memcpy(&p->sport, &h[0], 2);
	__builtin_memcpy(&p->dport, &h[2], 2);
	return VIS_PARSE_OK;
}

/* Fills p (zeroed first) and returns enum vis_parse_result, also left in p->result. */
static __always_inline int vis_parse(struct __sk_buff *skb, struct vis_pkt *p)
{
	__u32 l4_off = 0;
	__u8 first;
	int r;

	__builtin_memset(p, 0, sizeof(*p));
	if (bpf_skb_load_bytes(skb, 0, &first, 1))
		r = VIS_PARSE_TRUNCATED_IP;
	else if ((first >> 4) == 4)
		r = vis_parse_ipv4(skb, p, &l4_off);
	else if ((first >> 4) == 6)
		r = vis_parse_ipv6(skb, p, &l4_off);
	else
		r = VIS_PARSE_BAD_VERSION;
	if (r == VIS_PARSE_OK)
		r = vis_parse_l4(skb, p, l4_off);
	p->result = (__u8)r;
	return r;
}

#endif
