// SPDX-License-Identifier: GPL-2.0-only
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"
#include "util.h"

static bool clear_host_bits(struct cidr *c)
{
	unsigned bits = c->family == AF_INET ? 32 : 128;
	bool changed = false;

	for (unsigned i = c->prefixlen; i < bits; i++) {
		uint8_t mask = (uint8_t)(0x80 >> (i % 8));

		if (c->addr[i / 8] & mask) {
			c->addr[i / 8] &= (uint8_t)~mask;
			changed = true;
		}
	}
	return changed;
}

int cidr_parse(const char *s, struct cidr *out, bool *host_bits, char *why, size_t whylen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned maxlen;

	memset(out, 0, sizeof(*out));
	if (host_bits)
		*host_bits = false;
	if (alen == 0 || alen >= sizeof(addr)) {
		snprintf(why, whylen, "'%s' is not an IP address or CIDR", s);
		return -EINVAL;
	}
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		maxlen = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		maxlen = 128;
	} else {
		snprintf(why, whylen, "'%s' is not an IPv4 or IPv6 address", addr);
		return -EINVAL;
	}
	out->prefixlen = (uint8_t)maxlen;
	if (slash) {
		uint64_t len;

		if (parse_u64(slash + 1, &len) || len > maxlen) {
			snprintf(why, whylen, "prefix length '%s' must be 0..%u", slash + 1, maxlen);
			return -EINVAL;
		}
		out->prefixlen = (uint8_t)len;
	}
	if (clear_host_bits(out) && host_bits)
		*host_bits = true;
	return 0;
}

void cidr_format(const struct cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(c->family, c->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->prefixlen);
}

bool cidr_contains(const struct cidr *outer, const struct cidr *inner)
{
	if (outer->family != inner->family || outer->prefixlen > inner->prefixlen)
		return false;
	for (unsigned i = 0; i < outer->prefixlen; i++) {
		uint8_t mask = (uint8_t)(0x80 >> (i % 8));

		if ((outer->addr[i / 8] ^ inner->addr[i / 8]) & mask)
			return false;
	}
	return true;
}

bool cidr_is_default(const struct cidr *c)
{
	return c->prefixlen == 0;
}
