/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Where the policy programs run: TC ingress (enforce) and egress (record flows) on each selected
 * interface, and the cgroup programs on each outermost selected cgroup (a cgroup program runs
 * for the cgroups below it too; the datapath finds the nearest selected one).
 *
 * TC goes through tcx links (Linux 6.6+), pinned like every other aegis hook. A kernel without
 * tcx (or policy.tc_attach: netlink) gets a clsact qdisc and cls_bpf filters over netlink
 * instead; those are no pins, so they are recorded in <state_dir>/policy/tc-netlink.json and
 * removed from there by `aegis agent --cleanup` (a qdisc only when aegis created it).
 */
#ifndef AEGIS_POLICY_ATTACH_H
#define AEGIS_POLICY_ATTACH_H

#include <jansson.h>
#include <linux/limits.h>
#include <net/if.h>

#include "config.h"
#include "hooks.h"
#include "policy_kern.h"

/* cls_bpf filters of the netlink fallback: this handle and priority on both hooks. */
#define POLICY_TC_HANDLE 0xae91
#define POLICY_TC_PRIORITY 0xae91

enum policy_cg_prog {
	CG_EGRESS, CG_INGRESS, CG_CONNECT4, CG_CONNECT6, CG_SENDMSG4, CG_SENDMSG6, CG_SOCK_CREATE,
	CG_PROG_COUNT,
};

struct policy_att_iface {
	char name[IF_NAMESIZE];
	int ifindex;
	bool netlink;			/* clsact filters, not tcx links */
	bool qdisc_created;		/* netlink: aegis made the clsact qdisc */
	struct hook_link in, out;	/* tcx */
};

struct policy_att_cgroup {
	char path[PATH_MAX];
	uint64_t id;
	struct hook_link links[CG_PROG_COUNT];
};

struct policy_attach {
	struct policy_att_iface *ifaces;
	size_t n_ifaces;
	struct policy_att_cgroup *cgroups;
	size_t n_cgroups;
	bool tcx_missing;		/* the kernel refused tcx once (auto mode): netlink from then on */
	char state_dir[PATH_MAX];
};

/*
 * Makes the attachments exactly those wanted by the union of sels (n of them: during a switch,
 * old and new), as cfg allows (policy.tc, policy.cgroup, policy.tc_attach): attaches what is
 * missing (adopting pins of an earlier run), detaches the rest, links pinned by an earlier run
 * included. On error, what this call attached is detached again; err says what failed.
 */
int policy_attach_sync(struct policy_attach *a, struct policy_kern *k, const struct aegis_config *cfg,
		       const struct policy_selection *const *sels, size_t n, char *err, size_t len);
/* Closes our fds; pinned links and netlink filters stay (enforcement goes on). */
void policy_attach_release(struct policy_attach *a);
/* Detaches everything (agent.on_exit: detach, or the module turned off). */
void policy_attach_detach_all(struct policy_attach *a, struct policy_kern *k);

/* [{"hook": ..., ...}] for the program named prog, for `aegis progs`. */
json_t *policy_attach_json(const struct policy_attach *a, const struct policy_kern *k, const char *prog);
size_t policy_attach_count(const struct policy_attach *a);

/*
 * `aegis agent --cleanup`: removes the netlink filters (and qdiscs aegis created) recorded under
 * state_dir, in the network namespace they were made in. Returns how many, or -errno.
 */
int policy_attach_cleanup_netlink(const char *state_dir);

#endif
