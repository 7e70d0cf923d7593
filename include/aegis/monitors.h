/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Host monitors: structs and constants shared by bpf/monitors.bpf.c and src/monitors*.c.
 *
 * Every counter is cumulative and never reset, in per-CPU slots the BPF side adds to without
 * atomics; user space sums the CPUs and takes differences between two reads for an interval, so
 * no update is lost between a read and a reset (libbpf-tools' runqlat reads then deletes, and
 * loses what lands in between). Sizes are pinned by _Static_assert: a change that would break the
 * adoption of pinned maps fails the build instead.
 */
#ifndef AEGIS_MONITORS_H
#define AEGIS_MONITORS_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/*
 * log2 histograms of microseconds, as libbpf-tools prints them: slot k holds values whose
 * microsecond count has k as its base-2 logarithm, so slot 0 is [0, 2) us and slot k >= 1 is
 * [2^k, 2^(k+1)) us. The last slot also takes everything longer (about 67 s and up).
 */
#define MON_HIST_SLOTS 27

struct mon_hist {
	__u64 slots[MON_HIST_SLOTS];
	__u64 sum_ns;		/* exact sum of the samples, for Prometheus _sum */
};

/* The monitors, each switched on and off on its own (its hooks attached or detached). */
#define MON_RUNQ 0
#define MON_IO 1
#define MON_MEM 2
#define MON_NET 3
#define MON_COUNT 4

/* ---- run queue ------------------------------------------------------------------------- */

/* Per-cgroup run-queue histograms: slot 0 is the whole host, slots 1.. the configured cgroups. */
#define MON_RUNQ_MAX_CGROUPS 16
#define MON_RUNQ_HISTS (MON_RUNQ_MAX_CGROUPS + 1)

/* mon_cswitch (per-CPU array), by kind of switch. */
#define MON_CSW_VOLUNTARY 0
#define MON_CSW_INVOLUNTARY 1
#define MON_CSW_KINDS 2

/* mon_cgroup_slot: cgroup v2 id -> slot + 1 (0: in none of the configured cgroups). */
struct mon_cgroup_slot {
	__u32 slot_plus_1;
	__u32 pad;
};

/* One task, as the task iterator writes it for "top tasks by run-queue wait". */
struct mon_task_rec {
	__u64 run_delay_ns;	/* the kernel's sched_info.run_delay: total time spent waiting */
	__u64 pcount;		/* times it got a CPU after waiting */
	__u64 start_time_ns;	/* tells a reused tid from the task seen before */
	__u32 tid;
	__u32 tgid;
	char comm[16];
};

/* ---- block I/O ------------------------------------------------------------------------- */

#define MON_IO_OP_READ 0
#define MON_IO_OP_WRITE 1
#define MON_IO_OP_FLUSH 2
#define MON_IO_OP_DISCARD 3
#define MON_IO_OP_OTHER 4
#define MON_IO_OPS 5

#define MON_IO_MAX_DEVICES 1024	/* (device, operation) pairs */
#define MON_IO_SLOTS 16384	/* issue-time slots, direct-mapped by request address (2^n) */

/* mon_io_overflow (per-CPU array): completions not in a histogram, and why. */
#define MON_IO_OVERFLOW 0	/* more (device, operation) pairs than MON_IO_MAX_DEVICES */
#define MON_IO_UNMATCHED 1	/* no issue time: issued before the monitor, or its slot reused */
#define MON_IO_COUNTERS 2

struct mon_io_key {
	__u32 dev;		/* the kernel's dev_t: major << 20 | minor (of the whole disk) */
	__u32 op;		/* MON_IO_OP_* */
};

struct mon_io_stats {
	struct mon_hist lat;	/* issue to completion */
	__u64 bytes;		/* completed bytes */
	__u64 errors;		/* completions with an error status */
};

/* ---- memory ---------------------------------------------------------------------------- */

#define MON_RECLAIM_DIRECT 0	/* a task reclaimed pages itself (mm_vmscan_direct_reclaim_*) */
#define MON_RECLAIM_MEMCG 1	/* a task reclaimed at its memory cgroup's limit */
#define MON_RECLAIM_KINDS 2

#define MON_MAX_ORDER 11	/* page allocation orders 0..10 (MAX_PAGE_ORDER on x86 is 10) */

/* mon_alloc_fail (per-CPU array [0]): page allocations that returned no page. */
struct mon_alloc_fail {
	__u64 failures[MON_MAX_ORDER][2];	/* [order][nowarn]: the caller passed __GFP_NOWARN */
	__u64 last_ns;				/* the last one (any CPU: the newest wins) */
	__u32 last_pid;
	__u32 last_order;
	__u64 last_gfp;
	char last_comm[16];
};

#define MON_CGROUP_DEPTH 8	/* cgroup path components an OOM event carries, leaf upwards */
#define MON_CGROUP_NAME 64

struct mon_cgroup_path {
	char names[MON_CGROUP_DEPTH][MON_CGROUP_NAME];	/* [0] the leaf, then its parents */
	__u32 depth;		/* components filled in */
	__u32 truncated;	/* deeper than MON_CGROUP_DEPTH: the top is cut */
	__u64 id;		/* the cgroup's kernfs id */
};

/* mon_events ring buffer record: an OOM kill (oom:mark_victim). */
#define MON_EVENT_OOM 1

struct mon_oom_event {
	__u32 type;		/* MON_EVENT_OOM */
	__u32 pid;		/* the victim's thread group */
	__u32 tid;
	__u32 uid;
	__u64 ts_ns;		/* bpf_ktime_get_boot_ns() */
	__s32 oom_score_adj;
	__u32 pad;
	char comm[16];
	struct mon_cgroup_path memcg;	/* the cgroup of the memory controller (v1 or v2) */
	struct mon_cgroup_path cgroup;	/* the cgroup v2 (unified) cgroup */
};

#define MON_EVENTS_BYTES (64 * 1024)

/* mon_mem (per-CPU array [0]): counters without a histogram. */
struct mon_mem_counters {
	__u64 oom_kills;
	__u64 events_lost;	/* OOM records the ring buffer had no room for */
};

/* ---- network ---------------------------------------------------------------------------- */

/*
 * Per-interface packets, bytes, errors and device drops are not counted here: the agent reads the
 * kernel's own per-device counters (rtnl_link_stats64) over netlink when asked. The programs only
 * see what the device counters cannot tell: drops with the kernel's reason, TCP retransmits.
 */
#define MON_NET_MAX_DROP_KEYS 4096

struct mon_drop_key {
	__u32 ifindex;		/* 0: the packet had no device */
	__u32 reason;		/* enum skb_drop_reason, named from the kernel's BTF */
};

#define MON_TCP_V4 0
#define MON_TCP_V6 1

/* mon_net (per-CPU array [0]). */
struct mon_net_counters {
	__u64 tcp_retransmits[2];	/* MON_TCP_V4, MON_TCP_V6 */
	__u64 drops_overflow;		/* drops beyond MON_NET_MAX_DROP_KEYS (device, reason) pairs */
};

/* ---- settings -------------------------------------------------------------------------- */

/* mon_settings[0], written by the agent; read where used, so a write takes effect at once. */
struct mon_settings {
	__u64 netns_ino;	/* the agent's network namespace (inode): the net monitor's scope */
	__u32 runq_cgroups;	/* configured cgroups: 0 skips the per-cgroup lookup */
	__u32 gfp_nowarn;	/* the kernel's __GFP_NOWARN bit, from its BTF */
};

#ifndef __bpf__
_Static_assert(sizeof(struct mon_hist) == 8 * (MON_HIST_SLOTS + 1), "mon_hist size");
_Static_assert(sizeof(struct mon_task_rec) == 48, "mon_task_rec size");
_Static_assert(sizeof(struct mon_io_key) == 8, "mon_io_key size");
_Static_assert(sizeof(struct mon_io_stats) == sizeof(struct mon_hist) + 16, "mon_io_stats size");
_Static_assert(sizeof(struct mon_alloc_fail) == 8 * 2 * MON_MAX_ORDER + 40, "mon_alloc_fail size");
_Static_assert(sizeof(struct mon_cgroup_path) == MON_CGROUP_DEPTH * MON_CGROUP_NAME + 16, "path size");
_Static_assert(sizeof(struct mon_oom_event) == 48 + 2 * sizeof(struct mon_cgroup_path), "oom size");
_Static_assert(sizeof(struct mon_drop_key) == 8, "mon_drop_key size");
_Static_assert(sizeof(struct mon_net_counters) == 24, "mon_net_counters size");
_Static_assert(sizeof(struct mon_settings) == 16, "mon_settings size");
#endif

#endif
