// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host monitors (src/monitors.c): run-queue latency and context switches, block I/O latency,
 * memory pressure (reclaim stalls, page allocation failures, OOM kills), and the network events
 * the kernel's per-device counters do not tell (drops with their reason, TCP retransmits), all
 * from tracepoints. Nothing here runs per packet: per-interface packets and bytes are the
 * device's own counters, which the agent reads over netlink (src/monitors_link.c).
 *
 * Built twice from this one source: as tp_btf programs (this file) and, with MON_RAW_TP, as
 * raw_tp programs (monitors_raw.bpf.c) for kernels where tp_btf does not attach. Both read the
 * tracepoints' raw arguments with CO-RE, so the bodies are the same; only what needs BTF-typed
 * pointers differs (task storage, the task iterator). Program and map names are the same in both,
 * so the agent pins either under one directory and moves the hooks from one to the other.
 *
 * Run-queue latency comes from the kernel's own accounting (CONFIG_SCHED_INFO): enqueueing a task
 * stamps task->sched_info.last_queued with its runqueue clock, and sched_switch sees it before
 * the kernel turns it into run_delay. So one hook (sched_switch) gives what runqlat gets from
 * three (sched_wakeup, sched_wakeup_new, sched_switch) and a hash update per wakeup, which cost
 * pipe ping-pong 25% here against 5% for this.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "aegis/monitors.h"

/*
 * RD(p, a, b) reads p->a->b. tp_btf arguments are BTF-typed pointers the verifier lets programs
 * load through directly (checked loads, relocated by CO-RE); raw_tp arguments are plain numbers,
 * read with bpf_probe_read_kernel (BPF_CORE_READ), a helper call per step that costs 30-40 ns
 * here, so the tp_btf build avoids it.
 */
#ifdef MON_RAW_TP
#define HOOK(tp) "raw_tp/" tp
#define RD(...) BPF_CORE_READ(__VA_ARGS__)
#else
#define HOOK(tp) "tp_btf/" tp
#define RD(...) ___arrow(__VA_ARGS__)
#endif

#define AF_INET 2
#define AF_INET6 10
#define REQ_OP_MASK 0xff	/* (1 << REQ_OP_BITS) - 1 */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mon_settings);
} mon_settings SEC(".maps");

/* ---- helpers ----------------------------------------------------------------------------- */

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) r += 1;
	return r;
}

/* Adds one sample (ns) to a per-CPU histogram: no atomics needed. */
static __always_inline void hist_add(struct mon_hist *h, __u64 ns)
{
	__u32 slot = log2_u64(ns / 1000);

	if (slot >= MON_HIST_SLOTS)
		slot = MON_HIST_SLOTS - 1;
	h->slots[slot]++;
	h->sum_ns += ns;
}

static __always_inline struct mon_settings *settings(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&mon_settings, &zero);
}

/* A per-CPU hash value, created zeroed on first use; NULL when the map is full. */
static __always_inline void *percpu_hash_get(void *map, const void *key, const void *zero)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/* ---- run queue --------------------------------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MON_RUNQ_HISTS);
	__type(key, __u32);
	__type(value, struct mon_hist);
} mon_runq_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MON_CSW_KINDS);
	__type(key, __u32);
	__type(value, __u64);
} mon_cswitch SEC(".maps");

/* The configured cgroups (v2 ids) and their slots, written by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MON_RUNQ_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct mon_cgroup_slot);
} mon_runq_cgroups SEC(".maps");

/*
 * Per task: the run_delay the kernel will have counted once the task's current wait ends. The
 * next wait is the growth of run_delay since, which also covers a wait split by a migration
 * (the kernel adds the part on the old CPU to run_delay when it dequeues the task there).
 */
struct mon_task_state {
	__u64 run_delay_after;
};

#ifdef MON_RAW_TP
/* raw_tp arguments are not BTF pointers, so task storage cannot take them: a tid-keyed LRU. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct mon_task_state);
} mon_task_state SEC(".maps");

static __always_inline struct mon_task_state *task_state(struct task_struct *t)
{
	static const struct mon_task_state empty;
	__u32 tid = RD(t, pid);
	struct mon_task_state *s = bpf_map_lookup_elem(&mon_task_state, &tid);

	if (s)
		return s;
	bpf_map_update_elem(&mon_task_state, &tid, &empty, BPF_NOEXIST);
	return bpf_map_lookup_elem(&mon_task_state, &tid);
}
#else
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct mon_task_state);
} mon_task_state SEC(".maps");

static __always_inline struct mon_task_state *task_state(struct task_struct *t)
{
	return bpf_task_storage_get(&mon_task_state, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
}
#endif

/* rq->clock of the task's runqueue: the clock sched_info stamps with. */
static __always_inline __u64 rq_clock_of(struct task_struct *t)
{
	struct cfs_rq *cfs = RD(t, se.cfs_rq);
	unsigned long addr;

	/* With CONFIG_FAIR_GROUP_SCHED a cfs_rq points to its rq; without, it is inside it. */
	if (bpf_core_field_exists(cfs->rq))
		return RD(cfs, rq, clock);
	/* A number, not a BTF pointer, so that arithmetic on it is allowed. */
	addr = (unsigned long)BPF_CORE_READ(t, se.cfs_rq) - bpf_core_field_offset(struct rq, cfs);
	return BPF_CORE_READ((struct rq *)addr, clock);
}

/* The configured cgroup (slot + 1) the task is in, itself or below; 0 for none. */
static __always_inline __u32 cgroup_slot(struct task_struct *t)
{
	struct cgroup *cg = RD(t, cgroups, dfl_cgrp);

	for (int i = 0; i < MON_CGROUP_DEPTH && cg; i++) {
		__u64 id = RD(cg, kn, id);
		struct mon_cgroup_slot *s = bpf_map_lookup_elem(&mon_runq_cgroups, &id);

		if (s)
			return s->slot_plus_1;
		cg = RD(cg, self.parent, cgroup);
	}
	return 0;
}

static __always_inline void runq_sample(struct task_struct *next, __u32 runq_cgroups)
{
	__u64 queued = RD(next, sched_info.last_queued), now, wait, total;
	struct mon_task_state *st;
	struct mon_hist *h;
	__u32 slot = 0;

	/* 0: it did not wait (the idle task, or a task the kernel did not queue). */
	if (!queued)
		return;
	now = rq_clock_of(next);
	wait = now > queued ? now - queued : 0;
	total = RD(next, sched_info.run_delay) + wait;
	st = task_state(next);
	if (st) {
		if (st->run_delay_after && st->run_delay_after <= total && total - st->run_delay_after >= wait)
			wait = total - st->run_delay_after;
		st->run_delay_after = total;
	}
	h = bpf_map_lookup_elem(&mon_runq_hist, &slot);
	if (h)
		hist_add(h, wait);
	if (!runq_cgroups)
		return;
	slot = cgroup_slot(next);
	if (!slot)
		return;
	h = bpf_map_lookup_elem(&mon_runq_hist, &slot);
	if (h)
		hist_add(h, wait);
}

/*
 * Voluntary: prev gave up the CPU itself (it blocks: !preempt and a sleeping state), as the
 * kernel counts nvcsw; everything else is involuntary (nivcsw).
 */
SEC(HOOK("sched_switch"))
int BPF_PROG(mon_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u32 kind = !preempt && prev_state ? MON_CSW_VOLUNTARY : MON_CSW_INVOLUNTARY;
	struct mon_settings *s = settings();
	__u64 *n = bpf_map_lookup_elem(&mon_cswitch, &kind);

	if (n)
		(*n)++;
	runq_sample(next, s ? s->runq_cgroups : 0);
	return 0;
}

#ifndef MON_RAW_TP
/* "Top tasks by run-queue wait": every task's cumulative wait, read on demand by the agent. */
SEC("iter/task")
int mon_task_iter(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	struct mon_task_rec rec = {};

	if (!t)
		return 0;
	rec.run_delay_ns = RD(t, sched_info.run_delay);
	if (!rec.run_delay_ns)
		return 0;
	rec.pcount = RD(t, sched_info.pcount);
	rec.start_time_ns = RD(t, start_time);
	rec.tid = RD(t, pid);
	rec.tgid = RD(t, tgid);
	BPF_CORE_READ_STR_INTO(&rec.comm, t, comm);
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}
#endif

/* ---- block I/O --------------------------------------------------------------------------- */

/*
 * Issue times, direct-mapped by the request's address: one array slot per request, no lock and
 * no allocation. Hash maps cost 340-460 ns a request here (their element free lists bounce
 * between the CPU that issues and the one that completes), this a few. A request that lands on
 * the slot of one still in flight overwrites it: the older one's completion finds another
 * address there and is counted as unmatched (MON_IO_UNMATCHED), as are completions of
 * requests issued before the monitor was on. With MON_IO_SLOTS slots that is about
 * in_flight / MON_IO_SLOTS of the samples.
 */
struct io_start {
	__u64 rq;
	__u64 ts;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MON_IO_SLOTS);
	__type(key, __u32);
	__type(value, struct io_start);
} mon_io_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MON_IO_MAX_DEVICES);
	__type(key, struct mon_io_key);
	__type(value, struct mon_io_stats);
} mon_io SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MON_IO_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} mon_io_overflow SEC(".maps");

/*
 * The request's address as a number: the verifier refuses arithmetic on a tp_btf argument (a
 * trusted pointer), so the tp_btf build reads it back from the context as plain bytes.
 */
static __always_inline __u64 arg0_value(unsigned long long *ctx)
{
#ifdef MON_RAW_TP
	return ctx[0];
#else
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), ctx);
	return v;
#endif
}

static __always_inline __u32 io_slot(__u64 rq)
{
	/* Fibonacci hashing: requests sit at regular strides in their tag set. */
	return (__u32)(((rq >> 6) * 0x9E3779B97F4A7C15ULL) >> 48) & (MON_IO_SLOTS - 1);
}

static __always_inline void io_count(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&mon_io_overflow, &which);

	if (n)
		(*n)++;
}

SEC(HOOK("block_rq_issue"))
int BPF_PROG(mon_block_rq_issue, struct request *rq)
{
	__u64 addr = arg0_value(ctx);
	__u32 slot = io_slot(addr);
	struct io_start *s = bpf_map_lookup_elem(&mon_io_start, &slot);

	if (s) {
		s->rq = addr;
		s->ts = bpf_ktime_get_ns();
	}
	return 0;
}

static __always_inline __u32 io_op(__u32 cmd_flags)
{
	switch (cmd_flags & REQ_OP_MASK) {
	case 0: return MON_IO_OP_READ;		/* REQ_OP_READ */
	case 1: return MON_IO_OP_WRITE;		/* REQ_OP_WRITE */
	case 2: return MON_IO_OP_FLUSH;		/* REQ_OP_FLUSH */
	case 3: return MON_IO_OP_DISCARD;	/* REQ_OP_DISCARD */
	default: return MON_IO_OP_OTHER;
	}
}

/*
 * A request may complete in parts (nr_bytes at a time); its bytes are counted at each, its
 * latency once, when the last part completes (the tracepoint fires before the request shrinks).
 */
SEC(HOOK("block_rq_complete"))
int BPF_PROG(mon_block_rq_complete, struct request *rq, int error, unsigned int nr_bytes)
{
	static const struct mon_io_stats zero;
	struct gendisk *disk = RD(rq, q, disk);
	__u64 addr = arg0_value(ctx);
	__u32 slot = io_slot(addr);
	struct mon_io_key key = {};
	struct mon_io_stats *st;
	struct io_start *start;
	bool last;

	if (disk)
		key.dev = (__u32)RD(disk, major) << 20 | (__u32)RD(disk, first_minor);
	key.op = io_op(RD(rq, cmd_flags));
	last = nr_bytes >= RD(rq, __data_len);
	st = percpu_hash_get(&mon_io, &key, &zero);
	if (!st) {
		io_count(MON_IO_OVERFLOW);
		return 0;
	}
	st->bytes += nr_bytes;
	if (!last)
		return 0;
	if (error)
		st->errors++;
	start = bpf_map_lookup_elem(&mon_io_start, &slot);
	if (!start || start->rq != addr) {
		io_count(MON_IO_UNMATCHED);
		return 0;
	}
	hist_add(&st->lat, bpf_ktime_get_ns() - start->ts);
	start->rq = 0;
	return 0;
}

/* ---- memory ------------------------------------------------------------------------------ */

struct reclaim_start {
	__u64 ts;
	__u32 kind;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);	/* tid: reclaim runs in the task that needs the memory */
	__type(value, struct reclaim_start);
} mon_reclaim_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MON_RECLAIM_KINDS);
	__type(key, __u32);
	__type(value, struct mon_hist);
} mon_reclaim_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mon_alloc_fail);
} mon_alloc_fail SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mon_mem_counters);
} mon_mem SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MON_EVENTS_BYTES);
} mon_events SEC(".maps");

static __always_inline void reclaim_begin(__u32 kind)
{
	struct reclaim_start s = { .ts = bpf_ktime_get_ns(), .kind = kind };
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_update_elem(&mon_reclaim_start, &tid, &s, BPF_ANY);
}

static __always_inline void reclaim_end(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), kind;
	struct reclaim_start *s = bpf_map_lookup_elem(&mon_reclaim_start, &tid);
	struct mon_hist *h;
	__u64 now = bpf_ktime_get_ns();

	if (!s)
		return;
	kind = s->kind;
	h = bpf_map_lookup_elem(&mon_reclaim_hist, &kind);
	if (h)
		hist_add(h, now - s->ts);
	bpf_map_delete_elem(&mon_reclaim_start, &tid);
}

SEC(HOOK("mm_vmscan_direct_reclaim_begin"))
int BPF_PROG(mon_direct_reclaim_begin, int order, gfp_t gfp)
{
	reclaim_begin(MON_RECLAIM_DIRECT);
	return 0;
}

SEC(HOOK("mm_vmscan_direct_reclaim_end"))
int BPF_PROG(mon_direct_reclaim_end, unsigned long nr_reclaimed)
{
	reclaim_end();
	return 0;
}

SEC(HOOK("mm_vmscan_memcg_reclaim_begin"))
int BPF_PROG(mon_memcg_reclaim_begin, int order, gfp_t gfp)
{
	reclaim_begin(MON_RECLAIM_MEMCG);
	return 0;
}

SEC(HOOK("mm_vmscan_memcg_reclaim_end"))
int BPF_PROG(mon_memcg_reclaim_end, unsigned long nr_reclaimed)
{
	reclaim_end();
	return 0;
}

/*
 * The page allocator traces every call, and a failed one with no page: that includes kmem
 * charges refused by a memory cgroup (the page is freed and NULL returned). Opportunistic calls
 * that have a fallback (THP, kvmalloc's first try) pass __GFP_NOWARN: counted apart.
 */
SEC(HOOK("mm_page_alloc"))
int BPF_PROG(mon_page_alloc, struct page *page, unsigned int order, gfp_t gfp, int migratetype)
{
	struct mon_settings *s;
	struct mon_alloc_fail *f;
	__u32 zero = 0, nowarn;

	if (page)
		return 0;
	s = settings();
	f = bpf_map_lookup_elem(&mon_alloc_fail, &zero);
	if (!s || !f)
		return 0;
	nowarn = (gfp & s->gfp_nowarn) != 0;
	f->failures[order < MON_MAX_ORDER ? order : MON_MAX_ORDER - 1][nowarn]++;
	f->last_ns = bpf_ktime_get_boot_ns();
	f->last_pid = bpf_get_current_pid_tgid() >> 32;
	f->last_order = order;
	f->last_gfp = gfp;
	bpf_get_current_comm(f->last_comm, sizeof(f->last_comm));
	return 0;
}

/*
 * The cgroup's path, leaf first, as names: the agent joins them (the root is left out). OOM kills
 * are rare, so this reads with bpf_probe_read_kernel in both builds: it takes any pointer.
 */
static __always_inline void cgroup_path(struct mon_cgroup_path *p, struct cgroup *cg)
{
	if (!cg)
		return;
	p->id = BPF_CORE_READ(cg, kn, id);
	for (int i = 0; i < MON_CGROUP_DEPTH; i++) {
		struct cgroup *parent = BPF_CORE_READ(cg, self.parent, cgroup);

		if (!parent)
			return;
		bpf_probe_read_kernel_str(p->names[i], MON_CGROUP_NAME, BPF_CORE_READ(cg, kn, name));
		p->depth = i + 1;
		cg = parent;
	}
	p->truncated = BPF_CORE_READ(cg, self.parent) != NULL;
}

SEC(HOOK("mark_victim"))
int BPF_PROG(mon_mark_victim, struct task_struct *task, uid_t uid)
{
	__u32 zero = 0, memcg_id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	struct mon_mem_counters *c = bpf_map_lookup_elem(&mon_mem, &zero);
	struct cgroup_subsys_state *css = NULL;
	struct css_set *cset = RD(task, cgroups);
	struct mon_oom_event *e;

	if (c)
		c->oom_kills++;
	e = bpf_ringbuf_reserve(&mon_events, sizeof(*e), 0);
	if (!e) {
		if (c)
			c->events_lost++;
		return 0;
	}
	/* Too big to clear whole: every field the agent reads is set (names up to depth). */
	e->memcg.depth = e->memcg.truncated = e->cgroup.depth = e->cgroup.truncated = 0;
	e->memcg.id = e->cgroup.id = 0;
	e->pad = 0;
	e->type = MON_EVENT_OOM;
	e->pid = RD(task, tgid);
	e->tid = RD(task, pid);
	e->uid = uid;
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->oom_score_adj = RD(task, signal, oom_score_adj);
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	if (memcg_id < CGROUP_SUBSYS_COUNT)
		bpf_core_read(&css, sizeof(css), &cset->subsys[memcg_id]);
	if (css)
		cgroup_path(&e->memcg, BPF_CORE_READ(css, cgroup));
	cgroup_path(&e->cgroup, RD(cset, dfl_cgrp));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* ---- network ----------------------------------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MON_NET_MAX_DROP_KEYS);
	__type(key, struct mon_drop_key);
	__type(value, __u64);
} mon_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mon_net_counters);
} mon_net SEC(".maps");

static __always_inline struct mon_net_counters *net_counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&mon_net, &zero);
}

/* True when a namespace is the one the agent watches (its own, like node_exporter's). */
static __always_inline bool our_netns(__u64 ino)
{
	struct mon_settings *s = settings();

	return s && ino == s->netns_ino;
}

/*
 * A packet the kernel freed as dropped. On 6.18 only drops come here: a packet freed after use
 * (SKB_CONSUMED) is traced as skb:consume_skb instead (the tracepoint's own reason table starts
 * at NOT_SPECIFIED, and a tracefs filter on reason <= SKB_CONSUMED sees nothing under traffic).
 * The check on SKB_CONSUMED keeps a kernel that routed it here from counting consumed packets.
 */
SEC(HOOK("kfree_skb"))
int BPF_PROG(mon_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason,
	     struct sock *rx_sk)
{
	struct net_device *dev = RD(skb, dev);
	struct mon_drop_key key = { .reason = reason };
	struct sock *sk;
	__u64 ino, *n;

	if (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_CONSUMED) &&
	    reason == bpf_core_enum_value(enum skb_drop_reason, SKB_CONSUMED))
		return 0;
	/* The namespace of the device, else of the socket; a packet with neither is not ours. */
	if (dev) {
		ino = RD(dev, nd_net.net, ns.inum);
		key.ifindex = RD(dev, ifindex);
	} else {
		sk = RD(skb, sk);
		if (!sk)
			return 0;
		ino = RD(sk, __sk_common.skc_net.net, ns.inum);
	}
	if (!our_netns(ino))
		return 0;
	n = bpf_map_lookup_elem(&mon_drops, &key);
	if (!n) {
		static const __u64 zero;

		n = percpu_hash_get(&mon_drops, &key, &zero);
		if (!n) {
			struct mon_net_counters *c = net_counters();

			if (c)
				c->drops_overflow++;
			return 0;
		}
	}
	(*n)++;
	return 0;
}

SEC(HOOK("tcp_retransmit_skb"))
int BPF_PROG(mon_tcp_retransmit_skb, const struct sock *sk, const struct sk_buff *skb, int err)
{
	struct mon_net_counters *c;

	if (!our_netns(RD(sk, __sk_common.skc_net.net, ns.inum)))
		return 0;
	c = net_counters();
	if (c)
		c->tcp_retransmits[RD(sk, __sk_common.skc_family) == AF_INET6 ? MON_TCP_V6 : MON_TCP_V4]++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
