/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef AEGIS_IFACE_H
#define AEGIS_IFACE_H

#include <net/if.h>
#include <stddef.h>

/*
 * The interface of the IPv4 default route with the lowest metric, else the IPv6 one, read from
 * /proc/net/route and /proc/net/ipv6_route. 0, or -ENOENT when the host has no default route.
 */
int iface_default_route(char *name, size_t len);

/* Resolves a configured name (or IFACE_DEFAULT_ROUTE) to a real name and ifindex; -ENODEV. */
int iface_resolve(const char *configured, char *name, size_t len, int *ifindex);

/* Why a name cannot be an interface's (the kernel's dev_valid_name()), or NULL when it can. */
const char *iface_name_problem(const char *name);

struct cidr;
/* The gateways of the default routes (IPv4 and IPv6) as /32 and /128; returns how many. */
size_t iface_default_gateways(struct cidr *out, size_t max);

#endif
