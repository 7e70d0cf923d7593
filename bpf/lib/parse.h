/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Packet parser shared by the guard's XDP program and, later, the TC programs: a cursor walks
 * Ethernet, up to GUARD_MAX_VLAN_DEPTH VLAN tags, IPv4 or IPv6 (with its extension-header chain)
 * and the L4 header, bounds-checking every header before reading it (the shape of xdp-tools'
 * parsing_helpers.h, with the full header checks it leaves out).
 *
 * parse_packet() fills a struct parse_result and returns GUARD_REASON_NONE, or the
 * GUARD_REASON_MALFORMED_* of the first header that fails. Non-IP frames are not malformed:
 * family stays 0. Each header is checked against both the bytes present (data_end) and the
 * length the enclosing IP header claims, so a header that only fits thanks to Ethernet padding
 * is malformed too; the kernel stack would drop such a packet later anyway.
 *
 * An skb (TC, cgroup_skb) may carry its payload outside the linear part that data_end bounds:
 * parse_packet_len() takes the whole packet's length for the IP length checks, while every
 * header must still be within data_end. For XDP the two are the same.
 */
#ifndef AEGIS_BPF_PARSE_H
#define AEGIS_BPF_PARSE_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "aegis/guard.h"

/* vmlinux.h carries types, not the uapi macros. */
#define PARSE_ETH_P_IP		0x0800
#define PARSE_ETH_P_IPV6	0x86DD
#define PARSE_ETH_P_8021Q	0x8100
#define PARSE_ETH_P_8021AD	0x88A8

#define PARSE_AF_INET		2
#define PARSE_AF_INET6		10

#define PARSE_IP_MF		0x2000
#define PARSE_IP_OFFSET		0x1FFF
#define PARSE_IP6_OFFSET	0xFFF8
#define PARSE_IP6_MF		0x0001

#define PARSE_NEXTHDR_HOP	0
#define PARSE_NEXTHDR_TCP	6
#define PARSE_NEXTHDR_UDP	17
#define PARSE_NEXTHDR_ROUTING	43
#define PARSE_NEXTHDR_FRAGMENT	44
#define PARSE_NEXTHDR_AUTH	51
#define PARSE_NEXTHDR_ICMPV6	58
#define PARSE_NEXTHDR_DEST	60

#define PARSE_TCP_SYN		0x02
#define PARSE_TCP_ACK		0x10

struct hdr_cursor {
	void *pos;
};

union parse_addr {
	__be32 v4;
	__u8 v6[16];
};

struct parse_result {
	union parse_addr saddr;		/* network byte order; IPv4 uses v4 only */
	union parse_addr daddr;
	__be16 sport;			/* network byte order; 0 when no L4 ports were parsed */
	__be16 dport;
	__u16 l3_proto;			/* ethertype after the VLAN tags, host byte order */
	__u8 family;			/* PARSE_AF_INET, PARSE_AF_INET6, or 0 for non-IP */
	__u8 l4_proto;			/* IPPROTO_*; IPv6: the header after the extension chain */
	__u8 is_fragment;		/* any fragment, first or later */
	__u8 is_later_fragment;		/* offset != 0: no L4 header in this packet */
	__u8 vlan_depth;
	__u8 ipv6_ext_count;
	__u8 icmp_type;			/* ICMP and ICMPv6 */
	__u8 icmp_code;
	__u8 reason;			/* enum guard_reason, also the return value */
	__u8 tcp_flags;			/* TCP: byte 13 of the header (CWR..FIN) */
	__u16 l3_off;			/* offset of the IP header from data */
	__u16 l4_off;			/* offset of the L4 header (or a later fragment's payload)
					 * from data; 0 when the IP header did not parse */
};

static __always_inline int parse_ethhdr(struct hdr_cursor *nh, void *data_end, __u16 *proto)
{
	struct ethhdr *eth = nh->pos;

	if ((void *)(eth + 1) > data_end)
		return GUARD_REASON_MALFORMED_ETH;
	nh->pos = eth + 1;
	*proto = bpf_ntohs(eth->h_proto);
	return GUARD_REASON_NONE;
}

static __always_inline bool parse_proto_is_vlan(__u16 proto)
{
	return proto == PARSE_ETH_P_8021Q || proto == PARSE_ETH_P_8021AD;
}

/*
 * A tag deeper than GUARD_MAX_VLAN_DEPTH is malformed rather than "non-IP": passing it unparsed
 * would let a sender wrap anything in a third tag to walk around the lists.
 */
static __always_inline int parse_vlans(struct hdr_cursor *nh, void *data_end, __u16 *proto,
				       struct parse_result *res)
{
	__u16 p = *proto;
	int i;

#pragma unroll
	for (i = 0; i < GUARD_MAX_VLAN_DEPTH; i++) {
		struct vlan_hdr *vh = nh->pos;

		if (!parse_proto_is_vlan(p))
			break;
		if ((void *)(vh + 1) > data_end)
			return GUARD_REASON_MALFORMED_VLAN;
		nh->pos = vh + 1;
		p = bpf_ntohs(vh->h_vlan_encapsulated_proto);
		res->vlan_depth++;
	}
	if (parse_proto_is_vlan(p))
		return GUARD_REASON_MALFORMED_VLAN;
	*proto = p;
	return GUARD_REASON_NONE;
}

/*
 * On success the cursor is at the L4 header and *l4_len is what tot_len leaves for it. pkt_left:
 * the packet's bytes from the IP header on, linear or not.
 * XXX: BIG TCP GRO packets (tot_len 0) are malformed here; only generic XDP could see them, and
 * only with gro_max_size raised above 64K.
 */
static __always_inline int parse_ipv4_len(struct hdr_cursor *nh, void *data_end, __u64 pkt_left,
					  struct parse_result *res, __u32 *l4_len)
{
	struct iphdr *iph = nh->pos;
	__u32 hlen, tot_len;
	__u16 frag;
	__u8 vihl;

	if ((void *)(iph + 1) > data_end)
		return GUARD_REASON_MALFORMED_IPV4;
	/* Read version/ihl as a byte: bitfield order in vmlinux.h follows the build host. */
	vihl = *(__u8 *)iph;
	if ((vihl >> 4) != 4)
		return GUARD_REASON_MALFORMED_IPV4;
	hlen = (vihl & 0x0f) * 4;
	if (hlen < sizeof(*iph))
		return GUARD_REASON_MALFORMED_IPV4;
	if (nh->pos + hlen > data_end)
		return GUARD_REASON_MALFORMED_IPV4;
	/* Longer than tot_len is Ethernet padding and fine; shorter is a truncated datagram. */
	tot_len = bpf_ntohs(iph->tot_len);
	if (tot_len < hlen || tot_len > pkt_left)
		return GUARD_REASON_MALFORMED_IPV4;

	res->family = PARSE_AF_INET;
	res->saddr.v4 = iph->saddr;
	res->daddr.v4 = iph->daddr;
	res->l4_proto = iph->protocol;
	frag = bpf_ntohs(iph->frag_off);
	if (frag & (PARSE_IP_MF | PARSE_IP_OFFSET))
		res->is_fragment = 1;
	if (frag & PARSE_IP_OFFSET)
		res->is_later_fragment = 1;

	nh->pos += hlen;
	*l4_len = tot_len - hlen;
	return GUARD_REASON_NONE;
}

static __always_inline int parse_ipv4(struct hdr_cursor *nh, void *data_end,
				      struct parse_result *res, __u32 *l4_len)
{
	return parse_ipv4_len(nh, data_end, data_end - nh->pos, res, l4_len);
}

/*
 * The extension headers the walk steps over, as sets of next-header values (all below 64, one bit
 * each): hop-by-hop, routing and destination options are (hdrlen + 1) * 8 bytes long, AH
 * (hdrlen + 2) * 4, a fragment header 8 (its second byte is reserved, not a length).
 */
#define PARSE_EXT_BIT(n)	(1ULL << (n))
#define PARSE_EXT_ALL								\
	(PARSE_EXT_BIT(PARSE_NEXTHDR_HOP) | PARSE_EXT_BIT(PARSE_NEXTHDR_ROUTING) |	\
	 PARSE_EXT_BIT(PARSE_NEXTHDR_FRAGMENT) | PARSE_EXT_BIT(PARSE_NEXTHDR_AUTH) |	\
	 PARSE_EXT_BIT(PARSE_NEXTHDR_DEST))

/* 1 when nexthdr is in set (PARSE_EXT_*), else 0. */
static __always_inline __u64 parse_ext_in(__u64 set, __u64 nexthdr)
{
	return nexthdr < 64 ? (set >> nexthdr) & 1 : 0;
}

static __always_inline bool parse_is_ipv6_ext(__u8 nexthdr)
{
	return parse_ext_in(PARSE_EXT_ALL, nexthdr);
}

/*
 * An extension chain reaching further into the packet than this is malformed. Far beyond any real
 * chain; it also gives the verifier its bound on the cursor.
 */
#define PARSE_MAX_OFF 4096

/*
 * Walks at most GUARD_MAX_IPV6_EXT extension headers; a chain still going after that is
 * malformed, since an unbounded chain is how a sender pushes the L4 header out of reach.
 * A fragment header with a non-zero offset ends the walk: what follows is payload.
 * *remaining is payload_len on entry and what is left for L4 on return.
 *
 * The cursor is an offset from data (off). Each header's length comes from one formula for
 * every type, with the type looked up in the PARSE_EXT_* sets by shifts, not chosen by branches.
 * The verifier does not follow a shift by a variable amount, so every header, whatever its type,
 * leaves it the same state (a cursor checked into [0, PARSE_MAX_OFF]) and it checks the rest of
 * the walk and of the program once per header rather than once per mix of types along the chain
 * (~3^n states: 338K instructions processed for n = 6 when each type moved the cursor by its
 * own expression; about 5K for the parser alone this way). A BPF-to-BPF call that hid the cursor
 * did it before, at ~10 ns a header where returns go through a mitigation thunk (SRSO).
 */
static __always_inline int parse_ipv6_ext(struct hdr_cursor *nh, void *data, void *data_end,
					  __u64 off, struct parse_result *res, __u8 nexthdr,
					  __u32 *remaining)
{
	__u64 left = *remaining, next = nexthdr;
	int i;

#pragma unroll
	for (i = 0; i <= GUARD_MAX_IPV6_EXT; i++) {
		__u8 *oh = data + off;
		__u64 ah, frag, hlen, end;

		if (!parse_ext_in(PARSE_EXT_ALL, next) || res->is_later_fragment) {
			nh->pos = oh;
			res->l4_proto = next;
			*remaining = left;
			return GUARD_REASON_NONE;
		}
		if (i == GUARD_MAX_IPV6_EXT)
			break;

		/* Every extension header has 8 bytes or more: the fragment fields are in them. */
		if ((void *)(oh + 8) > data_end)
			return GUARD_REASON_MALFORMED_IPV6_EXT;
		ah = parse_ext_in(PARSE_EXT_BIT(PARSE_NEXTHDR_AUTH), next);
		frag = parse_ext_in(PARSE_EXT_BIT(PARSE_NEXTHDR_FRAGMENT), next);
		/* (hdrlen + 1) << 3; AH: (hdrlen + 2) << 2; fragment: hdrlen taken as 0, so 8. */
		hlen = ((oh[1] & (frag - 1)) + 1 + ah) << (3 - ah);
		end = off + hlen;
		/* 64 bits and behind a barrier: clang checks the copy it adds to data. */
		barrier_var(end);
		if (hlen > left || end > PARSE_MAX_OFF || data + end > data_end)
			return GUARD_REASON_MALFORMED_IPV6_EXT;
		res->ipv6_ext_count++;

		if (frag) {
			__u16 fo = bpf_ntohs(*(__be16 *)(oh + 2));

			if (fo & (PARSE_IP6_OFFSET | PARSE_IP6_MF))
				res->is_fragment = 1;
			if (fo & PARSE_IP6_OFFSET)
				res->is_later_fragment = 1;
		}
		next = oh[0];
		off = end;
		left -= hlen;
	}
	return GUARD_REASON_MALFORMED_IPV6_EXT;
}

/*
 * payload_len 0 (a jumbogram) leaves no room for L4 and so ends up malformed; see parse_ipv4.
 * pkt_left as for parse_ipv4_len().
 */
static __always_inline int parse_ipv6_len(struct hdr_cursor *nh, void *data, void *data_end,
					  __u64 pkt_left, struct parse_result *res, __u32 *l4_len)
{
	struct ipv6hdr *ip6h = nh->pos;
	__u32 plen;

	if ((void *)(ip6h + 1) > data_end)
		return GUARD_REASON_MALFORMED_IPV6;
	if ((*(__u8 *)ip6h >> 4) != 6)
		return GUARD_REASON_MALFORMED_IPV6;
	plen = bpf_ntohs(ip6h->payload_len);
	if (sizeof(*ip6h) + plen > pkt_left)
		return GUARD_REASON_MALFORMED_IPV6;

	res->family = PARSE_AF_INET6;
	__builtin_memcpy(res->saddr.v6, &ip6h->saddr, sizeof(res->saddr.v6));
	__builtin_memcpy(res->daddr.v6, &ip6h->daddr, sizeof(res->daddr.v6));
	nh->pos = ip6h + 1;
	*l4_len = plen;
	res->l4_proto = ip6h->nexthdr;
	if (!parse_is_ipv6_ext(ip6h->nexthdr))
		return GUARD_REASON_NONE;
	return parse_ipv6_ext(nh, data, data_end, res->l3_off + sizeof(*ip6h), res,
			      ip6h->nexthdr, l4_len);
}

static __always_inline int parse_ipv6(struct hdr_cursor *nh, void *data, void *data_end,
				      struct parse_result *res, __u32 *l4_len)
{
	return parse_ipv6_len(nh, data, data_end, data_end - nh->pos, res, l4_len);
}

/*
 * l4_len is what the IP header leaves for L4. A later fragment has no L4 header; a first
 * fragment must carry a whole one, but its UDP length covers the reassembled datagram, so it
 * is only held against l4_len when the packet is not a fragment.
 */
static __always_inline int parse_l4(struct hdr_cursor *nh, void *data_end,
				    struct parse_result *res, __u32 l4_len)
{
	if (res->is_later_fragment)
		return GUARD_REASON_NONE;

	if (res->l4_proto == PARSE_NEXTHDR_TCP) {
		struct tcphdr *th = nh->pos;
		__u32 hlen;

		if ((void *)(th + 1) > data_end || l4_len < sizeof(*th))
			return GUARD_REASON_MALFORMED_TCP;
		hlen = (((__u8 *)th)[12] >> 4) * 4;	/* doff, read as a byte like ihl */
		if (hlen < sizeof(*th) || hlen > l4_len || nh->pos + hlen > data_end)
			return GUARD_REASON_MALFORMED_TCP;
		res->sport = th->source;
		res->dport = th->dest;
		res->tcp_flags = ((__u8 *)th)[13];
	} else if (res->l4_proto == PARSE_NEXTHDR_UDP) {
		struct udphdr *uh = nh->pos;
		__u32 ulen;

		if ((void *)(uh + 1) > data_end || l4_len < sizeof(*uh))
			return GUARD_REASON_MALFORMED_UDP;
		ulen = bpf_ntohs(uh->len);
		if (ulen < sizeof(*uh) || (!res->is_fragment && ulen > l4_len))
			return GUARD_REASON_MALFORMED_UDP;
		res->sport = uh->source;
		res->dport = uh->dest;
	} else if ((res->family == PARSE_AF_INET && res->l4_proto == IPPROTO_ICMP) ||
		   (res->family == PARSE_AF_INET6 && res->l4_proto == PARSE_NEXTHDR_ICMPV6)) {
		/* icmphdr and icmp6hdr share type/code and are both 8 bytes. */
		struct icmphdr *ih = nh->pos;

		if ((void *)(ih + 1) > data_end || l4_len < sizeof(*ih))
			return GUARD_REASON_MALFORMED_ICMP;
		res->icmp_type = ih->type;
		res->icmp_code = ih->code;
	}
	/* Any other protocol carries no ports we know of and is not ours to judge. */
	return GUARD_REASON_NONE;
}

/* res must be zeroed by the caller. pkt_len: the whole packet from data on (see the top). */
static __always_inline int parse_packet_len(void *data, void *data_end, __u64 pkt_len,
					    struct parse_result *res)
{
	struct hdr_cursor nh = { .pos = data };
	__u32 l4_len = 0;
	__u16 proto;
	int r;

	r = parse_ethhdr(&nh, data_end, &proto);
	if (r == GUARD_REASON_NONE)
		r = parse_vlans(&nh, data_end, &proto, res);
	if (r != GUARD_REASON_NONE)
		goto out;
	res->l3_proto = proto;
	/* Kept as a number: the extension-header walk works on offsets, not pointers. */
	res->l3_off = sizeof(struct ethhdr) + res->vlan_depth * sizeof(struct vlan_hdr);

	if (proto == PARSE_ETH_P_IP)
		r = parse_ipv4_len(&nh, data_end, pkt_len - res->l3_off, res, &l4_len);
	else if (proto == PARSE_ETH_P_IPV6)
		r = parse_ipv6_len(&nh, data, data_end, pkt_len - res->l3_off, res, &l4_len);
	else
		goto out;
	if (r == GUARD_REASON_NONE) {
		res->l4_off = (__u16)(nh.pos - data);
		r = parse_l4(&nh, data_end, res, l4_len);
	}
out:
	res->reason = r;
	return r;
}

static __always_inline int parse_packet(void *data, void *data_end, struct parse_result *res)
{
	return parse_packet_len(data, data_end, data_end - data, res);
}

#endif
