/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A program of a module's BPF object on a kernel hook, through a link pinned at
 * <pin_dir>/links/<name>, so the hook keeps running while the agent is down and a restarted agent
 * adopts it instead of attaching twice. For the hooks every capability after the guard uses:
 * tracepoints (through perf_event_open, by the event id from tracefs), raw tracepoints, tp_btf,
 * cgroup hooks and tcx (the TC hook as a link, Linux 6.6+). Attaching works from the program's fd alone, so it works as well for an
 * object adopted from its pins as for one just loaded.
 *
 * Every attach, adopt, replace and detach is audited. `aegis agent --cleanup` needs nothing from
 * here: it detaches every link under the pin root.
 */
#ifndef AEGIS_HOOKS_H
#define AEGIS_HOOKS_H

#include <bpf/bpf.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit.h"
#include "bpfobj.h"

enum hook_kind {
	HOOK_TRACEPOINT,	/* target "sched/sched_switch" (category/name under tracefs events/) */
	HOOK_RAW_TP,		/* target "sched_switch" */
	HOOK_TP_BTF,		/* target unused: the program's attach_btf_id names the tracepoint */
	HOOK_CGROUP,		/* target: a cgroup v2 directory; attach_type BPF_CGROUP_* */
	HOOK_TCX,		/* target: an interface name; attach_type HOOK_TCX_INGRESS/EGRESS */
};

/*
 * tcx attach types and link type, from Linux 6.6's UAPI: Debian 12's linux-libc-dev (6.1) does
 * not have them. A kernel without tcx refuses the attach type with EINVAL.
 */
#define HOOK_TCX_INGRESS ((enum bpf_attach_type)46)	/* BPF_TCX_INGRESS */
#define HOOK_TCX_EGRESS ((enum bpf_attach_type)47)	/* BPF_TCX_EGRESS */
#define HOOK_LINK_TYPE_TCX ((enum bpf_link_type)11)	/* BPF_LINK_TYPE_TCX */

struct hook {
	enum hook_kind kind;
	const char *prog;	/* program name, as in the object's bpfobj_desc */
	const char *target;
	enum bpf_attach_type attach_type;	/* HOOK_CGROUP and HOOK_TCX */
	const char *link;	/* pin name under <pin_dir>/links/: unique per (program, target) */
};

/* A hook in place: the link's fd (ours) and id (the kernel's). */
struct hook_link {
	int fd;
	uint32_t id;
};

#define HOOK_LINK_NONE ((struct hook_link){ .fd = -1, .id = 0 })

/*
 * Makes sure h runs the object's current program: adopts the pinned link when there is one
 * (updating it in place, or replacing it, when the object's program is a new build), else
 * attaches and pins a new link. 0 or -errno, logged with the hook and the program.
 */
int hook_attach(const struct bpfobj *o, const struct hook *h, struct hook_link *out);
/* Detaches and unpins h (whether or not l holds its fd); audited with `who`. 0 or -errno. */
int hook_detach(const struct bpfobj *o, const struct hook *h, struct hook_link *l,
		const struct actor *who);
/* Closes our fd; the pinned link, and so the hook, stays. */
void hook_release(struct hook_link *l);

/* {"hook": "tracepoint", "target": ..., "link_id": N, "pin": ...}, for `aegis progs`. */
json_t *hook_json(const struct bpfobj *o, const struct hook *h, const struct hook_link *l);

/* "tracepoint", "raw_tp", "tp_btf", "cgroup", "tcx". */
const char *hook_kind_name(enum hook_kind k);

#endif
