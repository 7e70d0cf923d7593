/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef AEGIS_CIDR_H
#define AEGIS_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t prefixlen;
	uint8_t addr[16];	/* network byte order; IPv4 in the first 4 bytes */
};

#define CIDR_STRLEN 64

/*
 * Parses "192.0.2.0/24", "2001:db8::/32" or a bare address (a /32 or /128).
 * Host bits beyond the prefix are cleared and *host_bits set tells the caller so it can note it.
 * Returns 0, or -EINVAL with a reason in `why` ("prefix length 129 > 128", "not an address").
 */
int cidr_parse(const char *s, struct cidr *out, bool *host_bits, char *why, size_t whylen);
void cidr_format(const struct cidr *c, char *buf, size_t len);
bool cidr_contains(const struct cidr *outer, const struct cidr *inner);
bool cidr_is_default(const struct cidr *c);

#endif
