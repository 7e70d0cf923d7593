/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Packet builder for test fixtures. Headers are appended in order; each one writes its protocol
 * number into the header before it (ethertype, IPv4 protocol, IPv6 next header), and
 * pkt_finish() fills the length fields and the IPv4 header checksum, so a fixture only says
 * what it wants different. Every header is recorded (kind, offset, length) so that a test can
 * truncate the packet at each byte and know which header the cut falls in, or poke a field.
 */
#ifndef AEGIS_TEST_PKT_H
#define AEGIS_TEST_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKT_MAX 2048
#define PKT_MAX_HDRS 16

enum pkt_kind {
	PKT_ETH,
	PKT_VLAN,
	PKT_ARP,
	PKT_IPV4,
	PKT_IPV6,
	PKT_IPV6_EXT,	/* hop-by-hop, routing, destination options, fragment, AH */
	PKT_TCP,
	PKT_UDP,
	PKT_ICMP,
	PKT_ICMPV6,
	PKT_PAYLOAD,
};

struct pkt_hdr {
	enum pkt_kind kind;
	size_t off;
	size_t len;
};

struct pkt {
	uint8_t buf[PKT_MAX];
	size_t len;
	struct pkt_hdr hdr[PKT_MAX_HDRS];
	int nhdr;
	size_t proto_off;	/* where the next header's protocol number goes */
	int proto_size;		/* 2: ethertype, 1: IP protocol / next header, 0: nowhere */
};

/* IPv6 extension header types (next-header values). */
#define PKT_EXT_HOP 0
#define PKT_EXT_ROUTING 43
#define PKT_EXT_FRAGMENT 44
#define PKT_EXT_AH 51
#define PKT_EXT_DEST 60

void pkt_init(struct pkt *p);
void pkt_eth(struct pkt *p);
/* tpid: 0x8100 or 0x88a8 */
void pkt_vlan(struct pkt *p, uint16_t tpid, uint16_t vid);
void pkt_arp(struct pkt *p);
/* Addresses as text; opt_len (a multiple of 4, <= 40) bytes of options follow the header. */
void pkt_ipv4(struct pkt *p, const char *src, const char *dst, size_t opt_len);
/* Marks the last IPv4 header as a fragment: offset in 8-byte units, more = MF. */
void pkt_ipv4_frag(struct pkt *p, uint16_t offset8, bool more);
void pkt_ipv6(struct pkt *p, const char *src, const char *dst);
/*
 * An extension header of len bytes: hop-by-hop, routing and destination options take a multiple
 * of 8 (>= 8), AH a multiple of 4 (>= 12); a fragment header is always 8 (use pkt_ipv6_frag).
 */
void pkt_ipv6_ext(struct pkt *p, uint8_t type, size_t len);
void pkt_ipv6_frag(struct pkt *p, uint16_t offset8, bool more);
/* opt_len: a multiple of 4, <= 40 */
void pkt_tcp(struct pkt *p, uint16_t sport, uint16_t dport, size_t opt_len);
void pkt_udp(struct pkt *p, uint16_t sport, uint16_t dport);
void pkt_icmp(struct pkt *p, uint8_t type, uint8_t code);
void pkt_icmpv6(struct pkt *p, uint8_t type, uint8_t code);
/* Writes a protocol number with no header of ours behind it (GRE, "no next header"...). */
void pkt_proto(struct pkt *p, uint8_t proto);
void pkt_payload(struct pkt *p, size_t n);
/* Fills IPv4 tot_len and checksum, IPv6 payload_len and UDP length from p->len. */
void pkt_finish(struct pkt *p);

/*
 * Same, for buf: a copy of p's bytes cut to len. Only fields that lie within len are written,
 * so a cut packet keeps consistent lengths and only the cut header itself is short.
 */
void pkt_fix_lengths(const struct pkt *p, uint8_t *buf, size_t len);

/* The nth (0-based) header of a kind, or NULL. */
const struct pkt_hdr *pkt_find(const struct pkt *p, enum pkt_kind kind, int nth);
/* Pointer to the nth header of a kind; aborts if there is none (a broken fixture). */
uint8_t *pkt_at(struct pkt *p, enum pkt_kind kind, int nth);
void pkt_put16(uint8_t *at, uint16_t host_val);
uint16_t pkt_get16(const uint8_t *at);
/* The IPv4 header checksum over its ihl*4 bytes, to redo after poking a field. */
void pkt_ipv4_csum(uint8_t *ip);

const char *pkt_kind_name(enum pkt_kind kind);

#endif
