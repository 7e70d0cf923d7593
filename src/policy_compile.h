/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Policy compiler: a parsed policy file -> the image one generation of the datapath reads
 * (include/aegis/policy.h): the rule table (counters and events are indexed by it), the rulesets,
 * the distinct peer prefixes of each family (the address classes) and the cells.
 *
 * Which rule wins is settled here, once: among the rules of a ruleset that match a packet, deny
 * rules win over allow rules, and among those the first in the file; no match: the ruleset's
 * default. The rule table is ordered that way (ruleset, then deny first, then file order), so a
 * rule's index is also its rank.
 *
 * Pure user space, no kernel: the agent loads the prefixes into the slot's prefix tables, hands
 * the ids the tables gave them to policy_image_layout(), and writes the cells.
 */
#ifndef AEGIS_POLICY_COMPILE_H
#define AEGIS_POLICY_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aegis/policy.h"
#include "cidr.h"
#include "diag.h"
#include "policy_file.h"

/* Capacities of one slot, from the agent configuration (policy.capacity). */
struct policy_limits {
	uint32_t rules;
	uint32_t cells;
	uint32_t rulesets;
	uint32_t policies;
	uint32_t prefixes[2];	/* [0]: IPv4, [1]: IPv6 */
};

struct policy_image_rule {
	uint32_t policy;	/* index in the doc */
	int32_t file_rule;	/* index in the policy's rules; -1: the ruleset's default */
	uint8_t direction;
	bool deny;
};

struct policy_image_rs {
	uint32_t policy;
	uint8_t direction;
	uint32_t first_rule, n_rules;	/* its rules in the rule table (the default last) */
	struct policy_ruleset rec;	/* what the kernel gets (rows filled by layout) */
	uint32_t *class_a[2];		/* A offset per address class 0..n_prefixes[f] */
};

struct policy_image {
	struct policy_image_rule *rules;
	size_t n_rules;
	struct policy_image_rs *rs;
	size_t n_rs;
	struct cidr *prefixes[2];	/* the address classes: class i + 1 is prefixes[f][i] */
	size_t n_prefixes[2];
	uint32_t *cells;
	size_t n_cells, cap_cells;
	size_t n_record_cells;		/* cells before the rows */
	uint32_t *modes;		/* per policy, POLICY_MODE_* */
	size_t n_policies;
	/* Statistics, for logs and `aegis policy show`. */
	size_t n_a_records, n_port_tables;
};

/*
 * Compiles doc. applies[i][dir] says whether policy i has a ruleset in that direction (selects an
 * interface for ingress, a cgroup or the host for egress); rules in a direction the policy does
 * not apply in are refused. Problems (capacities exceeded) go to d at the place in the file they
 * concern. 0, -E2BIG (over a capacity), -EINVAL, -ENOMEM.
 */
int policy_compile(const struct policy_doc *doc, const bool (*applies)[2],
		   const struct policy_limits *lim, struct policy_image *img, struct diags *d);

/*
 * Lays out the rows once the prefix tables have given each prefix its id: ids[f][i] is the id of
 * prefixes[f][i] (NULL: i + 1), max_id[f] the largest id the table can return. Fills the rulesets'
 * row4/row6. -E2BIG (with the numbers in d) when the cells do not fit.
 */
int policy_image_layout(struct policy_image *img, const uint32_t *const ids[2],
			const uint32_t max_id[2], const struct policy_limits *lim, struct diags *d);

void policy_image_free(struct policy_image *img);

/*
 * What the datapath decides (bpf/policy.bpf.c decide()) from cells: the rule word for a peer
 * address (family AF_INET/AF_INET6, network order) of class `klass` (the prefix table's answer),
 * L4 protocol and destination port, under ruleset rs. Used to verify what was read back from the
 * kernel, and by the tests.
 */
uint32_t policy_cells_decide(const uint32_t *cells, size_t n_cells, const struct policy_ruleset *rs,
			     int family, uint32_t klass, uint8_t proto, uint16_t port);

/* The same question answered from the file itself, rule by rule: the rule table index. */
uint32_t policy_image_reference(const struct policy_image *img, const struct policy_doc *doc,
				uint32_t rs, int family, const uint8_t *addr, uint8_t proto,
				uint16_t port);

enum policy_pk policy_packet_kind(int family, uint8_t proto);

#endif
