/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Host monitors (bpf/monitors.bpf.c): one BPF object, pinned under <pin_root>/monitors/, whose
 * hooks are attached per monitor (runq, io, mem, net). A monitor that is off has its hooks
 * detached: its programs stay loaded and pinned but never run. The counters in the maps are
 * cumulative and never reset; readers take differences.
 */
#ifndef AEGIS_MONITORS_SRC_H
#define AEGIS_MONITORS_SRC_H

#include <bpf/libbpf.h>
#include <jansson.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "aegis/monitors.h"
#include "audit.h"
#include "bpfobj.h"
#include "config.h"
#include "hooks.h"

#define MON_HOOKS_MAX 16
#define MON_TOP_WINDOW_MAX 60	/* seconds of per-task history kept for "top tasks" */

struct mon_tasks;

struct mon_cgroup {
	char path[4096];	/* as configured: "/system.slice/nginx.service" */
	uint64_t id;		/* its cgroup v2 id now; 0 while it does not exist */
};

struct monitors {
	struct bpfobj obj;
	bool running;			/* the object is loaded (some monitor is or was on) */
	bool raw;			/* the raw_tp build is loaded, not the tp_btf one */
	bool enabled[MON_COUNT];
	bool alloc_failures;		/* mem includes the page allocator hook */
	const char *unavailable[MON_COUNT];	/* why it cannot run on this kernel; NULL: it can */
	struct hook_link links[MON_HOOKS_MAX];
	struct mon_cgroup cgroups[MON_RUNQ_MAX_CGROUPS];
	size_t n_cgroups;
	struct ring_buffer *rb;		/* OOM kill records */
	int iter_link_fd;		/* the task iterator (tp_btf build only), or -1 */
	struct mon_tasks *tasks;	/* per-task run-queue wait history */
	char **drop_reasons;		/* enum skb_drop_reason value -> "NO_SOCKET" */
	size_t n_drop_reasons;
	uint32_t gfp_nowarn;
	uint64_t netns_ino;
	/* Page allocation failures seen at the last tick ([order][nowarn]), for burst events. */
	uint64_t alloc_seen[MON_MAX_ORDER][2];
	bool alloc_seen_valid;
	uint64_t oom_events;		/* OOM records turned into events */
};

extern const char *const mon_names[MON_COUNT];	/* "runq", "io", "mem", "net" */
/* MON_RUNQ.. for a name, or -1. */
int mon_index(const char *name);

int monitors_start(struct monitors *m, const struct aegis_config *cfg);
int monitors_reconfigure(struct monitors *m, const struct aegis_config *old, const struct aegis_config *cfg);
void monitors_stop(struct monitors *m, bool detach);
/* Once a second: cgroups re-resolved, task history sampled, bursts turned into events. */
void monitors_tick(struct monitors *m);

/*
 * Switches one monitor at run time (until the next reload or restart): attaches or detaches its
 * hooks, audited with `who`. 0, or -errno with a message in err.
 */
int monitors_set_enabled(struct monitors *m, const struct aegis_config *cfg, int mon, bool on,
			 const struct actor *who, char *err, size_t errlen);

/* The ring buffer's fd for the agent's loop (-1 when none), and its reader. */
int monitors_events_fd(const struct monitors *m);
void monitors_events_consume(struct monitors *m);

/* Where each program of the object is attached, for `aegis progs`. */
json_t *monitors_attachments(const struct monitors *m, const char *prog);

/* ---- reading (monitors_read.c) ---- */

/* One monitor's cumulative data ({"enabled": false, ...} when off); top/window for runq. */
json_t *monitors_json(struct monitors *m, int mon, size_t top, unsigned window);
json_t *monitors_status_json(const struct monitors *m);
void monitors_metrics(struct monitors *m, FILE *f);
/* Deletes drop counters of interfaces that no longer exist (their names cannot be given). */
void monitors_forget_gone_ifaces(struct monitors *m);
/* Sums one per-CPU value of the map over the CPUs: 0 or -errno. */
int mon_percpu_sum_u64(int map_fd, const void *key, size_t n_u64, uint64_t *out);
/* "loop3" for a dev_t as the kernel encodes it (major << 20 | minor), or "7:3". */
void mon_dev_name(uint32_t dev, char *buf, size_t len);
/* The kernel's name of a drop reason ("NO_SOCKET"), from its BTF. */
const char *mon_drop_reason_name(const struct monitors *m, uint32_t reason, char *buf, size_t len);
int mon_load_drop_reasons(struct monitors *m);
/* The __GFP_NOWARN bit of this kernel, from its BTF (0x2000 when BTF does not name it). */
uint32_t mon_gfp_nowarn_mask(void);

/* ---- interface counters from the kernel (monitors_link.c) ---- */

/* One interface of the agent's network namespace, as its device counts (rtnl_link_stats64). */
struct mon_link {
	uint32_t ifindex;
	char name[IF_NAMESIZE];
	uint64_t rx_packets, rx_bytes, rx_errors, rx_dropped;
	uint64_t tx_packets, tx_bytes, tx_errors, tx_dropped;
};

struct mon_links {
	struct mon_link *v;
	size_t n, cap;
	size_t malformed;	/* link messages skipped as malformed */
};

/*
 * One RTM_NEWLINK message into l: 1 when it is a link with a name and stats64, 0 when it is not
 * (another type, no name or no stats: skipped), -EBADMSG when it is malformed (an attribute runs
 * past the message, a name without its NUL within IFNAMSIZ, stats64 shorter than its first
 * eight counters). nh->nlmsg_len must have been checked against the datagram.
 */
int mon_link_parse(const struct nlmsghdr *nh, struct mon_link *l);
/*
 * One datagram of an RTM_GETLINK dump (messages of sequence seq; others are ignored): links
 * appended to ls, malformed ones counted and skipped. 1 at NLMSG_DONE, 0 when more datagrams
 * follow, -EAGAIN when the kernel marks the dump interrupted (the link list changed: start
 * again), the kernel's -errno from NLMSG_ERROR or DONE, -EBADMSG when the datagram's framing is
 * broken, -ENOMEM.
 */
int mon_links_parse(struct mon_links *ls, const void *buf, size_t len, uint32_t seq);
/* Every interface of the calling thread's network namespace, in one dump: 0 or -errno. */
int mon_links_read(struct mon_links *ls);
void mon_links_free(struct mon_links *ls);

/* ---- top tasks by run-queue wait (monitors_tasks.c) ---- */

struct mon_tasks *mon_tasks_new(void);
void mon_tasks_free(struct mon_tasks *t);
/* Reads every task's cumulative wait through the iterator and records the last second. */
int mon_tasks_sample(struct mon_tasks *t, int iter_link_fd);
/* The n tasks that waited most over the last `window` seconds (1..MON_TOP_WINDOW_MAX). */
json_t *mon_tasks_top(const struct mon_tasks *t, size_t n, unsigned window);

#endif
