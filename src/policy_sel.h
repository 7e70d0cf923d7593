/* SPDX-License-Identifier: GPL-2.0-only */
/* What a policy file selects on this host (policy_sel.c). */
#ifndef AEGIS_POLICY_SEL_H
#define AEGIS_POLICY_SEL_H

#include "policy_kern.h"

/* The id of a cgroup v2 directory (what bpf_skb_cgroup_id() returns); -ENOTDIR elsewhere. */
int policy_cgroup_id(const char *path, uint64_t *id);

/*
 * Resolves the interfaces and cgroups of every policy: applies[i][dir] says which rulesets
 * policy i gets, sel what they select (rulesets numbered later by policy_selection_assign()).
 * Policies that select nothing take default_ifaces. An interface or cgroup is selected by one
 * policy at most; a cgroup inside a selected one may be selected by another (the nearest wins).
 * Problems go to d at the line that named the interface or cgroup.
 */
int policy_resolve(const struct policy_doc *doc, char *const *default_ifaces, size_t n_default,
		   bool (*applies)[2], struct policy_selection *sel, struct diags *d);
/* Turns the (policy, direction) of each selection into the compiled image's ruleset index. */
int policy_selection_assign(struct policy_selection *sel, const struct policy_image *img);
/* True when no other selected cgroup contains cgroup i: the programs are attached there. */
bool policy_cgroup_is_outermost(const struct policy_selection *sel, size_t i);

#endif
