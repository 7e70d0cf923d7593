/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The policy datapath's maps as the agent drives them: one generation written into a slot,
 * read back through the kernel and checked, then switched to with one store (include/aegis/policy.h).
 * Not thread-safe: the agent's loop is the only caller.
 */
#ifndef AEGIS_POLICY_KERN_H
#define AEGIS_POLICY_KERN_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "aegis/policy.h"
#include "bpfobj.h"
#include "config.h"
#include "policy_compile.h"
#include "prefix_table.h"

/* What a generation selects: interfaces (ingress) and cgroups (egress), each with its ruleset. */
struct policy_sel_iface {
	char name[IF_NAMESIZE];
	int ifindex;
	uint32_t rs;		/* ruleset index in the image */
};

struct policy_sel_cgroup {
	char path[4096];	/* absolute, below the cgroup v2 mount */
	uint64_t id;
	uint32_t rs;
};

struct policy_selection {
	struct policy_sel_iface *ifaces;
	size_t n_ifaces;
	struct policy_sel_cgroup *cgroups;
	size_t n_cgroups;
};

void policy_selection_free(struct policy_selection *s);

struct policy_kern {
	bool open;
	struct bpfobj obj;
	struct policy_caps caps;	/* per slot, as loaded */
	struct policy_limits lim;
	struct prefix_table *pt[POLICY_SLOTS][2];	/* [slot][IPv6] */
	struct policy_ctl *ctl;		/* mmapped pol_ctl[0] */
	size_t ctl_bytes;
	uint32_t *cells;		/* mmapped pol_cells, both slots */
	size_t cells_bytes;
	int grace_outer, grace_inner;
	uint64_t grace_waits;
};

/* What a verification looked at. */
struct policy_verify_report {
	size_t cells, rulesets, prefixes, selections, samples;
	char error[512];
};

extern const struct bpfobj_desc policy_desc;

/* The capacities of one slot from the configuration. */
void policy_limits_from_config(const struct aegis_config *cfg, struct policy_limits *lim);

/* Loads or adopts the object and takes over its maps. 0 or a logged -errno. */
int policy_kern_open(struct policy_kern *k, const struct aegis_config *cfg);
void policy_kern_close(struct policy_kern *k);
/* The pinned maps were created for these capacities; else a refusal that says what to do. */
int policy_kern_check_capacity(struct policy_kern *k, const struct aegis_config *cfg);

uint32_t policy_kern_ctl(const struct policy_kern *k);
int policy_kern_settings(struct policy_kern *k, const struct aegis_config *cfg);

/*
 * Writes img into slot (which nothing reads: the caller made sure it is not the one in force),
 * laying out its rows once the slot's prefix tables have numbered the prefixes. Problems go to d.
 */
int policy_kern_write(struct policy_kern *k, unsigned slot, struct policy_image *img,
		      const struct policy_selection *sel, struct diags *d);
/*
 * Lays out img against what slot's prefix tables hold already (after an agent restart), writing
 * nothing: policy_kern_verify() then says whether the slot holds this generation.
 */
int policy_kern_layout_existing(struct policy_kern *k, unsigned slot, struct policy_image *img,
				struct diags *d);
/*
 * Reads slot back through the kernel (cells, rulesets, modes, selections, the prefix tables'
 * structure) and decides sample packets from what was read, against the file read rule by rule.
 * 0, or -EIO with what differs in r->error.
 */
int policy_kern_verify(struct policy_kern *k, unsigned slot, const struct policy_image *img,
		       const struct policy_doc *doc, const struct policy_selection *sel,
		       struct policy_verify_report *r);
/* Switches generations: one aligned store of ctl, then read back. */
int policy_kern_flip(struct policy_kern *k, uint32_t ctl);
int policy_kern_set_mode(struct policy_kern *k, unsigned slot, uint32_t policy, int mode);
/* Counters of rules [0, n) of slot back to 0 (a generation put in force again counts afresh). */
int policy_kern_zero_counters(struct policy_kern *k, unsigned slot, size_t n);
/* Counters of rules [0, n) of slot, summed over CPUs. */
int policy_kern_counters(struct policy_kern *k, unsigned slot, size_t n,
			 struct policy_counters *out);
int policy_kern_stats(struct policy_kern *k, struct policy_stats *out);

#endif
