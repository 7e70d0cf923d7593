// SPDX-License-Identifier: GPL-2.0-only
#include <ctype.h>
#include <errno.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>

#include "cidr.h"
#include "config.h"
#include "iface.h"
#include "util.h"

static int default_route_v4(char *name, size_t len)
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[512], ifn[IF_NAMESIZE + 1];
	unsigned long dest, mask, metric, best_metric = ~0UL;
	int err = -ENOENT;

	if (!f)
		return -errno;
	/* Iface Destination Gateway Flags RefCnt Use Metric Mask ... (hex, host byte order) */
	while (fgets(line, sizeof(line), f)) {
		unsigned flags;

		if (sscanf(line, "%16s %lx %*x %x %*d %*d %lu %lx", ifn, &dest, &flags, &metric, &mask) != 5)
			continue;
		if (dest || mask || !(flags & 0x1 /* RTF_UP */) || metric >= best_metric)
			continue;
		best_metric = metric;
		snprintf(name, len, "%s", ifn);
		err = 0;
	}
	fclose(f);
	return err;
}

static int default_route_v6(char *name, size_t len)
{
	FILE *f = fopen("/proc/net/ipv6_route", "re");
	char line[512], dst[33], ifn[IF_NAMESIZE + 1];
	unsigned plen, metric, flags, best_metric = ~0U;
	int err = -ENOENT;

	if (!f)
		return -errno;
	/* dst dst_len src src_len nexthop metric refcnt use flags iface */
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%32s %x %*s %*x %*s %x %*x %*x %x %16s", dst, &plen, &metric, &flags, ifn) != 5)
			continue;
		if (plen != 0 || strspn(dst, "0") != 32 || streq(ifn, "lo") || metric >= best_metric)
			continue;
		if (!(flags & 0x1))
			continue;
		best_metric = metric;
		snprintf(name, len, "%s", ifn);
		err = 0;
	}
	fclose(f);
	return err;
}

int iface_default_route(char *name, size_t len)
{
	if (default_route_v4(name, len) == 0)
		return 0;
	return default_route_v6(name, len);
}

int iface_resolve(const char *configured, char *name, size_t len, int *ifindex)
{
	unsigned idx;

	if (streq(configured, IFACE_DEFAULT_ROUTE)) {
		int err = iface_default_route(name, len);

		if (err)
			return err;
	} else {
		snprintf(name, len, "%s", configured);
	}
	idx = if_nametoindex(name);
	if (!idx)
		return -errno ? -errno : -ENODEV;
	*ifindex = (int)idx;
	return 0;
}

static size_t gateway_v4(struct cidr *out, size_t max)
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[512], ifn[IF_NAMESIZE + 1];
	unsigned long dest, gw, mask;
	unsigned flags;
	size_t n = 0;

	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%16s %lx %lx %x %*d %*d %*u %lx", ifn, &dest, &gw, &flags, &mask) != 5)
			continue;
		if (dest || mask || !gw || !(flags & 0x2 /* RTF_GATEWAY */))
			continue;
		/* /proc/net/route prints the address as a host-order number of network-order bytes. */
		uint32_t be = (uint32_t)gw;

		memset(&out[n], 0, sizeof(out[n]));
		out[n].family = AF_INET;
		out[n].prefixlen = 32;
		memcpy(out[n].addr, &be, 4);
		n++;
	}
	fclose(f);
	return n;
}

static size_t gateway_v6(struct cidr *out, size_t max)
{
	FILE *f = fopen("/proc/net/ipv6_route", "re");
	char line[512], dst[33], nh[33];
	unsigned plen;
	size_t n = 0;

	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%32s %x %*s %*x %32s", dst, &plen, nh) != 3)
			continue;
		if (plen || strspn(dst, "0") != 32 || strspn(nh, "0") == 32)
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		out[n].family = AF_INET6;
		out[n].prefixlen = 128;
		for (int i = 0; i < 16; i++) {
			unsigned byte;

			sscanf(nh + 2 * i, "%2x", &byte);
			out[n].addr[i] = (uint8_t)byte;
		}
		n++;
	}
	fclose(f);
	return n;
}

size_t iface_default_gateways(struct cidr *out, size_t max)
{
	size_t n = gateway_v4(out, max);

	return n + gateway_v6(out + n, max - n);
}

/* The kernel's dev_valid_name(), so that a name we accept can exist. */
const char *iface_name_problem(const char *s)
{
	if (strlen(s) >= IF_NAMESIZE)
		return "is longer than 15 characters";
	if (streq(s, ".") || streq(s, ".."))
		return "is not a valid interface name";
	for (const char *c = s; *c; c++)
		if (*c == '/' || *c == ':' || isspace((unsigned char)*c))
			return "contains '/', ':' or whitespace";
	return NULL;
}
