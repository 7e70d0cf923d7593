// SPDX-License-Identifier: GPL-2.0-only
/*
 * Network policy enforcement (layout and decision path: include/aegis/policy.h).
 *
 *   policy_tc_in        TC ingress on selected interfaces: decides every packet
 *   policy_tc_out       TC egress on the same interfaces: records flows, so replies get in
 *   policy_cg_egress    cgroup_skb egress on selected cgroups: decides every packet
 *   policy_cg_ingress   cgroup_skb ingress on the same cgroups: records flows, so replies get out
 *   policy_connect4/6   cgroup connect: a denied TCP (or UDP) connect fails at once with EPERM
 *   policy_sendmsg4/6   cgroup sendmsg: a denied unconnected UDP send fails with EPERM
 *   policy_sock_create  cgroup sock_create: remembers who made a socket, for egress events
 *
 * Allowing returns TC_ACT_UNSPEC (tcx: "next"), so programs of others behind ours still run.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include "aegis/policy.h"
#include "lib/parse.h"
#include "lib/prefix.h"
#include "lib/bucket.h"

/* vmlinux.h carries types, not the uapi macros. */
#define TC_ACT_UNSPEC (-1)
#define TC_ACT_SHOT 2
#define SK_DROP 0
#define SK_PASS 1
#define POL_AF_INET 2
#define POL_AF_INET6 10
#define POL_IPPROTO_ICMP 1
#define POL_IPPROTO_TCP 6
#define POL_IPPROTO_UDP 17

char LICENSE[] SEC("license") = "GPL";

/* Set by the agent between open and load; the maps are sized from the same numbers. */
const volatile struct policy_caps policy_caps = {
	.rules = 1024, .cell_groups = 1024, .rulesets = 64, .policies = 32,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct policy_ctl);
} pol_ctl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct policy_settings);
} pol_settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, POLICY_MAX_IFINDEX);
	__type(key, __u32);
	__type(value, struct policy_sel);
} pol_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, POLICY_IFACES_BIG_MAX);
	__type(key, __u32);
	__type(value, struct policy_sel);
} pol_ifaces_big SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct policy_sel);
} pol_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, POLICY_CGCACHE_MAX);
	__type(key, __u64);
	__type(value, struct policy_cgcache);
} pol_cgcache SEC(".maps");

/* The address classes, one prefix table per slot and family (sizes set by the agent). */
PREFIX_TABLE(pol_a4, 32, 20, 1024, 1024)
PREFIX_TABLE(pol_b4, 32, 20, 1024, 1024)
PREFIX_TABLE(pol_a6, 128, 16, 1024, 1024)
PREFIX_TABLE(pol_b6, 128, 16, 1024, 1024)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 2048);
	__type(key, __u32);
	__type(value, struct policy_cells);
} pol_cells SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, struct policy_ruleset);
} pol_rulesets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} pol_modes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2048);
	__type(key, __u32);
	__type(value, struct policy_counters);
} pol_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct policy_stats);
} pol_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, POLICY_EVENTS_DEFAULT);
} pol_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct policy_flow_key);
	__type(value, struct policy_flow);
} pol_flows_out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct policy_flow_key);
	__type(value, struct policy_flow);
} pol_flows_in SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct policy_owner);
} pol_owners SEC(".maps");

/* ---- one decision ------------------------------------------------------------------------ */

/* What the rules look at, from a packet or a connect()/sendmsg(). */
struct pol_tuple {
	__u8 peer[16];		/* network byte order; IPv4 in [0..3] */
	__u8 local[16];		/* for events only; 0 when not known yet (a connect() before bind) */
	__be16 peer_port;
	__be16 local_port;
	__u16 port;		/* host order: the port rules match (the destination port) */
	__u8 family;
	__u8 proto;
	__u8 pk;		/* enum policy_pk */
	__u8 direction;
	__u8 hook;		/* enum policy_hook */
	__u8 tcp_flags;		/* TCP: byte 13 of the header */
};

/* The decision and what it is accounted and reported with. */
struct pol_decision {
	__u32 ctl;
	__u32 rs;		/* ruleset index within the slot */
	__u32 word;		/* rule | POLICY_CELL_FLAG for deny */
	__u32 policy;
	__u8 verdict;		/* enum policy_verdict */
	__u8 mode;
	__u8 __pad[2];
	__u64 cgroup_id;
	__u64 sel_cgroup_id;
	__u32 ifindex;
	__u32 pkt_len;
};

static __always_inline struct policy_stats *stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pol_stats, &zero);
}

#define STAT_INC(field)                                       \
	({                                                    \
		struct policy_stats *___s = stats();          \
		if (___s)                                     \
			___s->field++;                        \
	})

static __always_inline __u32 read_ctl(void)
{
	__u32 zero = 0;
	struct policy_ctl *c = bpf_map_lookup_elem(&pol_ctl, &zero);

	/* Read once: every later lookup of this run takes this slot. */
	return c ? PREFIX_READ_ONCE(c->ctl) : 0;
}

static __always_inline __u32 cell(__u32 idx)
{
	__u32 g = idx / POLICY_CELLS_PER_GROUP;
	struct policy_cells *c = bpf_map_lookup_elem(&pol_cells, &g);

	return c ? c->v[idx & (POLICY_CELLS_PER_GROUP - 1)] : 0;
}

static __always_inline __u32 addr_class(__u32 slot, const struct pol_tuple *t)
{
	__u64 w0, w1;

	if (t->family == POL_AF_INET) {
		__be32 a;

		__builtin_memcpy(&a, t->peer, 4);
		w0 = prefix_w0_v4(a);
		return slot ? pol_b4_walk(w0, 0) : pol_a4_walk(w0, 0);
	}
	w0 = prefix_w_v6(t->peer, 0);
	w1 = prefix_w_v6(t->peer, 1);
	return slot ? pol_b6_walk(w0, w1) : pol_a6_walk(w0, w1);
}

/* List position k for t's port from a record's port entry e (include/aegis/policy.h). */
static __always_inline __u32 walk_entry(__u32 base, __u32 e, const struct pol_tuple *t)
{
	__u32 l;

	if ((e & (POLICY_CELL_FLAG | POLICY_ENTRY_ONE_PORT)) == (POLICY_CELL_FLAG | POLICY_ENTRY_ONE_PORT))
		return t->port == (e & 0xffff) ? (e >> 16) & POLICY_ENTRY_K_MAX :
						 (e >> 23) & POLICY_ENTRY_K_MAX;
	if (e & POLICY_CELL_FLAG)
		return e & POLICY_CELL_VALUE;
	if (e & POLICY_ENTRY_ONE_RANGE) {
		__u32 at = base + (e & POLICY_ENTRY_OFFSET), range = cell(at), ks = cell(at + 1);

		return t->port >= (range & 0xffff) && t->port <= range >> 16 ? ks & 0xffff : ks >> 16;
	}
	/* Three levels (policy.h); a cell with the flag holds k for its whole block. */
	l = cell(base + e + (t->port >> 12));
	if (l & POLICY_CELL_FLAG)
		return l & POLICY_CELL_VALUE;
	l = cell(base + l + ((t->port >> 8) & (POLICY_PORT_FANOUT - 1)));
	if (l & POLICY_CELL_FLAG)
		return l & POLICY_CELL_VALUE;
	return cell(base + l + (t->port & (POLICY_PORT_LEAF - 1)));
}

/*
 * The rule word for t under ruleset rs of the slot (include/aegis/policy.h): the better ranked
 * (lower index) of what the address's record and the ruleset's rules without peers say; k = 0
 * is the default, which costs no read.
 */
static __always_inline __u32 decide(__u32 slot, const struct policy_ruleset *rs,
				    const struct pol_tuple *t)
{
	__u32 base = slot * policy_caps.cell_groups * POLICY_CELLS_PER_GROUP;
	__u32 row = t->family == POL_AF_INET ? rs->row4 : rs->row6;
	__u32 a, ka, kr, wa, wr, off, g, pk = t->pk;
	struct policy_cells *ga;

	if (pk >= POLICY_PK_COUNT)
		pk = POLICY_PK_OTHER;
	if (row & POLICY_CELL_FLAG)
		a = row & POLICY_CELL_VALUE;
	else
		a = cell(base + row + addr_class(slot, t));
	/* The compiler keeps a record's port entries in one map value, and mostly its list. */
	g = (base + a) / POLICY_CELLS_PER_GROUP;
	ga = bpf_map_lookup_elem(&pol_cells, &g);
	if (!ga)
		return rs->default_word;
	ka = walk_entry(base, ga->v[(a + pk) & (POLICY_CELLS_PER_GROUP - 1)], t);
	off = (a & (POLICY_CELLS_PER_GROUP - 1)) + POLICY_PK_COUNT + ka;
	if (!ka)
		wa = rs->default_word;
	else if (off < POLICY_CELLS_PER_GROUP)
		wa = ga->v[off];
	else
		wa = cell(base + a + POLICY_PK_COUNT + ka);
	kr = walk_entry(base, rs->any_pk[pk], t);
	wr = kr ? cell(base + rs->any_list + kr) : rs->default_word;
	return (wa & POLICY_CELL_VALUE) <= (wr & POLICY_CELL_VALUE) ? wa : wr;
}

static __always_inline __u8 packet_kind(__u8 family, __u8 proto)
{
	if (proto == POL_IPPROTO_TCP)
		return POLICY_PK_TCP;
	if (proto == POL_IPPROTO_UDP)
		return POLICY_PK_UDP;
	if (proto == POL_IPPROTO_ICMP && family == POL_AF_INET)
		return POLICY_PK_ICMP;
	if (proto == PARSE_NEXTHDR_ICMPV6 && family == POL_AF_INET6)
		return POLICY_PK_ICMPV6;
	return POLICY_PK_OTHER;
}

static __always_inline const struct policy_ruleset *ruleset(__u32 slot, __u32 rs)
{
	__u32 idx = slot * policy_caps.rulesets + rs;

	return bpf_map_lookup_elem(&pol_rulesets, &idx);
}

static __always_inline struct policy_settings *settings(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pol_settings, &zero);
}

/* The policy's mode in the slot, observe whenever the agent runs dry. */
static __always_inline __u8 mode_of(__u32 slot, __u32 policy, const struct policy_settings *s)
{
	__u32 idx = slot * policy_caps.policies + policy;
	__u32 *m;

	if (s && s->dry_run)
		return POLICY_MODE_OBSERVE;
	m = bpf_map_lookup_elem(&pol_modes, &idx);
	return m && *m == POLICY_MODE_BLOCK ? POLICY_MODE_BLOCK : POLICY_MODE_OBSERVE;
}

/* CLOCK_MONOTONIC_COARSE, read once per jiffy per CPU (struct policy_stats). */
static __always_inline __u64 coarse_now(struct policy_stats *st)
{
	__u64 j = bpf_jiffies64();

	if (!st)
		return bpf_ktime_get_coarse_ns();
	if (j != st->clock_jiffies) {
		st->clock_ns = bpf_ktime_get_coarse_ns();
		st->clock_jiffies = j;
	}
	return st->clock_ns;
}

static __always_inline __u64 flow_timeout(__u8 proto)
{
	__u32 zero = 0;
	struct policy_settings *s = bpf_map_lookup_elem(&pol_settings, &zero);
	__u64 t = 0;

	if (s)
		t = proto == POL_IPPROTO_TCP ? s->flow_timeout_tcp_ns :
		    proto == POL_IPPROTO_UDP ? s->flow_timeout_udp_ns : s->flow_timeout_other_ns;
	if (t)
		return t;
	return proto == POL_IPPROTO_TCP ? POLICY_FLOW_TIMEOUT_TCP_NS :
	       proto == POL_IPPROTO_UDP ? POLICY_FLOW_TIMEOUT_UDP_NS : POLICY_FLOW_TIMEOUT_OTHER_NS;
}

static __always_inline void flow_key(struct policy_flow_key *k, const struct pol_tuple *t)
{
	__builtin_memcpy(k->peer, t->peer, 16);
	k->peer_port = t->peer_port;
	k->local_port = t->local_port;
	k->family = t->family;
	k->proto = t->proto;
}

/*
 * True when flows holds the reverse of t, seen within its protocol's timeout. A TCP SYN opens a
 * connection and answers none: it costs no lookup (a flood of denied SYNs stays cheap).
 */
static __always_inline bool is_reply(void *flows, const struct pol_tuple *t)
{
	struct policy_flow_key k = {};
	struct policy_flow *f;

	if (t->proto == POL_IPPROTO_TCP && (t->tcp_flags & 0x12) == 0x02)
		return false;
	flow_key(&k, t);
	f = bpf_map_lookup_elem(flows, &k);
	return f && coarse_now(stats()) - f->last_ns < flow_timeout(t->proto);
}

/* Remembers that this host exchanged t, rewriting a fresh entry at most once a second. */
static __always_inline void record_flow(void *flows, const struct pol_tuple *t)
{
	struct policy_flow_key k = {};
	struct policy_flow *f, v;
	__u64 now = coarse_now(stats());

	flow_key(&k, t);
	f = bpf_map_lookup_elem(flows, &k);
	if (f) {
		if (now - f->last_ns >= POLICY_FLOW_REFRESH_NS)
			f->last_ns = now;
		return;
	}
	v.last_ns = now;
	if (bpf_map_update_elem(flows, &k, &v, BPF_ANY) == 0)
		STAT_INC(flows_recorded);
}

static __always_inline void count(__u32 slot, __u32 rule, __u8 verdict, __u64 bytes)
{
	__u32 idx = slot * policy_caps.rules + rule;
	struct policy_counters *c = bpf_map_lookup_elem(&pol_counters, &idx);

	if (!c)
		return;
	c->packets++;
	c->bytes += bytes;
	if (verdict == POLICY_VERDICT_ALLOW)
		c->allowed++;
	else if (verdict == POLICY_VERDICT_DENY)
		c->denied++;
	else if (verdict == POLICY_VERDICT_WOULD_DENY)
		c->would_deny++;
	else
		c->replies++;
}

/* The per-CPU token bucket of events: a flood of denies cannot swamp the agent. */
static __always_inline bool event_allowed(struct policy_stats *st, const struct policy_settings *s)
{
	__u64 rate = POLICY_EVENTS_PER_SEC_DEFAULT, burst = 0, now = coarse_now(st);

	/*
	 * A flood of denies finds the bucket empty and the clock where the last one left it: no
	 * credit to add, nothing to compute (bucket_take_local() would say the same).
	 */
	if (st->ev_tokens < GUARD_RL_SCALE && now == st->ev_last_ns)
		return false;
	if (s && s->events_per_sec)
		rate = s->events_per_sec;
	if (s)
		burst = s->events_burst;
	return bucket_take_local(&st->ev_tokens, &st->ev_last_ns, now, rate,
				 bucket_full(rate, burst), GUARD_RL_SCALE);
}

/*
 * sk: the packet's socket (full: false, a cgroup_skb program's skb->sk) or the socket of a
 * connect()/sendmsg() (full: true, sock_addr programs cannot call bpf_sk_fullsock()).
 */
static __always_inline void fill_owner(struct policy_event *e, struct bpf_sock *sk, bool full)
{
	struct policy_owner *o = NULL;
	__u64 id;

	if (sk && !full)
		sk = bpf_sk_fullsock(sk);
	if (sk)
		o = bpf_sk_storage_get(&pol_owners, sk, 0, 0);
	if (o) {
		e->pid = o->pid;
		e->tgid = o->tgid;
		__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
		return;
	}
	/* No record (a socket older than the policy): the task running now, as good as it gets. */
	id = bpf_get_current_pid_tgid();
	e->pid = (__u32)id;
	e->tgid = id >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

static __always_inline void emit(const struct pol_tuple *t, const struct pol_decision *d,
				 struct bpf_sock *sk, bool full, const struct policy_settings *s)
{
	struct policy_stats *st = stats();
	struct policy_event *e;

	if (!st)
		return;
	if (!event_allowed(st, s)) {
		st->events_capped++;
		return;
	}
	e = bpf_ringbuf_reserve(&pol_events, sizeof(*e), 0);
	if (!e) {
		st->events_lost++;
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->generation = d->ctl >> 1;
	e->rule = d->word & POLICY_CELL_VALUE;
	e->ruleset = d->rs;
	e->ifindex = d->ifindex;
	e->cgroup_id = d->cgroup_id;
	e->sel_cgroup_id = d->sel_cgroup_id;
	e->pkt_len = d->pkt_len;
	e->family = t->family;
	e->proto = t->proto;
	e->direction = t->direction;
	e->verdict = d->verdict;
	e->mode = d->mode;
	e->hook = t->hook;
	if (t->direction == POLICY_DIR_INGRESS) {
		__builtin_memcpy(e->saddr, t->peer, 16);
		__builtin_memcpy(e->daddr, t->local, 16);
		e->sport = t->peer_port;
		e->dport = t->local_port;
	} else {
		__builtin_memcpy(e->saddr, t->local, 16);
		__builtin_memcpy(e->daddr, t->peer, 16);
		e->dport = t->peer_port;
		e->sport = t->local_port;
		fill_owner(e, sk, full);
	}
	bpf_ringbuf_submit(e, 0);
	st->events_sent++;
}

/*
 * Decides t under ruleset d->rs (or takes d->word when set), counts it and reports a deny. flows:
 * the table of the reverse direction, which lets a reply through. Returns the verdict.
 */
static __always_inline __u8 judge(__u32 slot, const struct policy_ruleset *rs,
				  const struct pol_tuple *t, struct pol_decision *d, void *flows,
				  struct bpf_sock *sk, bool decided)
{
	if (!decided)
		d->word = decide(slot, rs, t);
	d->policy = rs->policy;
	/* The mode matters to a deny only: an allowed packet reads no more. */
	if (!(d->word & POLICY_CELL_FLAG)) {
		d->verdict = POLICY_VERDICT_ALLOW;
	} else if (flows && is_reply(flows, t)) {
		d->verdict = POLICY_VERDICT_REPLY;
	} else {
		const struct policy_settings *s = settings();

		d->mode = mode_of(slot, rs->policy, s);
		d->verdict = d->mode == POLICY_MODE_BLOCK ? POLICY_VERDICT_DENY : POLICY_VERDICT_WOULD_DENY;
		count(slot, d->word & POLICY_CELL_VALUE, d->verdict, d->pkt_len);
		emit(t, d, sk, false, s);
		return d->verdict;
	}
	count(slot, d->word & POLICY_CELL_VALUE, d->verdict, d->pkt_len);
	return d->verdict;
}

/* ---- packets ----------------------------------------------------------------------------- */

/*
 * Keeps a struct on the stack in memory. Left alone, clang splits struct parse_result and struct
 * pol_tuple into one value per field (SROA); the parser sets fields on many paths, so each way out
 * of it then re-stores every field it splits, and the decision reloads them from spill slots:
 * 6-13 ns a packet of policy_tc_in (bench/policy). Its fields in memory cost no more than spills.
 */
#define KEEP_IN_MEMORY(p) asm volatile("" : : "r"(p) : "memory")

/*
 * parse_packet_len() from the IP header on: what cgroup_skb programs see. pkt_len: the whole
 * packet (its payload may be outside the linear part, as a TCP segment's is).
 */
static __always_inline int parse_l3(void *data, void *data_end, __u64 pkt_len, __u16 l3_proto,
				    struct parse_result *res)
{
	struct hdr_cursor nh = { .pos = data };
	__u32 l4_len = 0;
	int r;

	res->l3_proto = l3_proto;
	if (l3_proto == PARSE_ETH_P_IP)
		r = parse_ipv4_len(&nh, data_end, pkt_len, res, &l4_len);
	else if (l3_proto == PARSE_ETH_P_IPV6)
		r = parse_ipv6_len(&nh, data, data_end, pkt_len, res, &l4_len);
	else
		r = GUARD_REASON_NONE;
	if (r == GUARD_REASON_NONE && res->family) {
		res->l4_off = (__u16)(nh.pos - data);
		r = parse_l4(&nh, data_end, res, l4_len);
	}
	res->reason = r;
	return r;
}

/* The ICMP echo identifier (at offset 4 of the header): the "port" of a ping, both ways. */
static __always_inline __be16 echo_id(void *data, void *data_end, const struct parse_result *res)
{
	__u32 off = res->l4_off;
	__be16 *id;

	if (off > PARSE_MAX_OFF)
		return 0;
	id = data + off + 4;
	if ((void *)(id + 1) > data_end)
		return 0;
	return *id;
}

static __always_inline bool is_echo(__u8 family, __u8 type)
{
	return family == POL_AF_INET ? type == 0 || type == 8 : type == 128 || type == 129;
}

/* The tuple of a parsed packet, peer being the source (ingress) or the destination (egress). */
static __always_inline void packet_tuple(struct pol_tuple *t, const struct parse_result *res,
					 void *data, void *data_end, __u8 direction)
{
	bool in = direction == POLICY_DIR_INGRESS;

	t->family = res->family;
	t->proto = res->l4_proto;
	t->pk = packet_kind(res->family, res->l4_proto);
	t->direction = direction;
	if (res->family == PARSE_AF_INET) {
		__builtin_memcpy(t->peer, in ? &res->saddr.v4 : &res->daddr.v4, 4);
		__builtin_memcpy(t->local, in ? &res->daddr.v4 : &res->saddr.v4, 4);
	} else {
		__builtin_memcpy(t->peer, in ? res->saddr.v6 : res->daddr.v6, 16);
		__builtin_memcpy(t->local, in ? res->daddr.v6 : res->saddr.v6, 16);
	}
	t->peer_port = in ? res->sport : res->dport;
	t->local_port = in ? res->dport : res->sport;
	t->port = bpf_ntohs(res->dport);
	t->tcp_flags = res->tcp_flags;
	if ((t->pk == POLICY_PK_ICMP || t->pk == POLICY_PK_ICMPV6) && !res->is_later_fragment &&
	    is_echo(res->family, res->icmp_type))
		t->peer_port = t->local_port = echo_id(data, data_end, res);
}

/*
 * ICMPv6 neighbour discovery (133..137) and multicast listener discovery (130..132, 143): IPv6
 * does not work without them, whatever the policy.
 */
static __always_inline bool is_ndp(const struct parse_result *res)
{
	__u8 t = res->icmp_type;

	return res->family == PARSE_AF_INET6 && res->l4_proto == PARSE_NEXTHDR_ICMPV6 &&
	       ((t >= 130 && t <= 137) || t == 143);
}

/*
 * An ICMP error (unreachable, packet too big, time exceeded, parameter problem) about a packet
 * this host sent: the tuple of the packet it quotes, as a reply would carry it. Path MTU
 * discovery breaks without these. Only a quoted TCP/UDP header right after the quoted IP header
 * is understood: quoted IPv6 extension headers are not walked (a known limit, docs/policy.md).
 */
static __always_inline bool icmp_error_tuple(void *data, void *data_end,
					     const struct parse_result *res, struct pol_tuple *t)
{
	__u32 off = res->l4_off + 8;
	__u8 type = res->icmp_type, proto;
	__be16 *ports;

	if (res->is_fragment || off > PARSE_MAX_OFF)
		return false;
	if (res->family == PARSE_AF_INET) {
		struct iphdr *ip = data + off;
		__u32 hlen;

		if (res->l4_proto != POL_IPPROTO_ICMP || (type != 3 && type != 11 && type != 12))
			return false;
		if ((void *)(ip + 1) > data_end)
			return false;
		hlen = (*(__u8 *)ip & 0x0f) * 4;
		if (hlen < sizeof(*ip) || hlen > 60)
			return false;
		proto = ip->protocol;
		__builtin_memcpy(t->peer, &ip->daddr, 4);
		ports = (void *)ip + hlen;
	} else {
		struct ipv6hdr *ip6 = data + off;

		if (res->l4_proto != PARSE_NEXTHDR_ICMPV6 || type < 1 || type > 4)
			return false;
		if ((void *)(ip6 + 1) > data_end)
			return false;
		proto = ip6->nexthdr;
		__builtin_memcpy(t->peer, &ip6->daddr, 16);
		ports = (void *)(ip6 + 1);
	}
	if ((proto != POL_IPPROTO_TCP && proto != POL_IPPROTO_UDP) || (void *)(ports + 2) > data_end)
		return false;
	t->local_port = ports[0];
	t->peer_port = ports[1];
	t->proto = proto;
	return true;
}

/*
 * The array answers for ifindex < POLICY_MAX_IFINDEX (an inlined lookup); NULL sends us to the
 * hash. Written as two lookups one after the other: an if/else lets clang pick the map first
 * and make one call with it, which the verifier cannot inline (a helper call per packet).
 */
static __always_inline const struct policy_sel *iface_sel(__u32 ifindex)
{
	const struct policy_sel *s = bpf_map_lookup_elem(&pol_ifaces, &ifindex);

	if (!s)
		s = bpf_map_lookup_elem(&pol_ifaces_big, &ifindex);
	return s;
}

/*
 * Parses the skb from its Ethernet header. The payload may lie outside the linear part; the
 * headers must not: when they do not fit, they are pulled in once and parsed again.
 */
static __always_inline int parse_skb(struct __sk_buff *skb, struct parse_result *res)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	__u32 linear = data_end - data;
	int r = parse_packet_len(data, data_end, skb->len, res);

	if (r == GUARD_REASON_NONE || skb->len <= linear || linear >= 256)
		return r;
	if (bpf_skb_pull_data(skb, skb->len < 256 ? skb->len : 256))
		return r;
	__builtin_memset(res, 0, sizeof(*res));
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	return parse_packet_len(data, data_end, skb->len, res);
}

SEC("tc")
int policy_tc_in(struct __sk_buff *skb)
{
	struct parse_result res = {};
	struct pol_decision d = {};
	struct pol_tuple t = {};
	const struct policy_ruleset *rs;
	const struct policy_sel *sel;
	void *data, *data_end;
	__u32 slot, rsi;

	KEEP_IN_MEMORY(&res);
	KEEP_IN_MEMORY(&t);
	d.ctl = read_ctl();
	if (!d.ctl)
		return TC_ACT_UNSPEC;
	slot = d.ctl & 1;
	/* ingress_ifindex is a field of the skb; ifindex would go through skb->dev. */
	sel = iface_sel(skb->ingress_ifindex);
	rsi = sel ? sel->rs[slot & 1] : 0;
	if (!rsi) {
		STAT_INC(unselected);
		return TC_ACT_UNSPEC;
	}
	d.rs = rsi - 1;
	rs = ruleset(slot, d.rs);
	if (!rs)
		return TC_ACT_UNSPEC;
	if (parse_skb(skb, &res) == GUARD_REASON_NONE && !res.family) {
		STAT_INC(non_ip);
		return TC_ACT_UNSPEC;
	}
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	t.hook = POLICY_HOOK_TC_INGRESS;
	d.ifindex = skb->ingress_ifindex;
	d.pkt_len = skb->len;
	if (res.reason != GUARD_REASON_NONE) {
		STAT_INC(malformed);
		t.direction = POLICY_DIR_INGRESS;
		t.family = res.family;
		d.word = rs->default_word;
	} else if (is_ndp(&res)) {
		STAT_INC(ndp);
		return TC_ACT_UNSPEC;
	} else {
		packet_tuple(&t, &res, data, data_end, POLICY_DIR_INGRESS);
		d.word = decide(slot, rs, &t);
		if (d.word & POLICY_CELL_FLAG) {
			struct pol_tuple q = t;

			/* An ICMP error about a flow of ours gets in as that flow's reply. */
			if (icmp_error_tuple(data, data_end, &res, &q) && is_reply(&pol_flows_out, &q)) {
				d.policy = rs->policy;
				d.mode = mode_of(slot, rs->policy, settings());
				d.verdict = POLICY_VERDICT_REPLY;
				count(slot, d.word & POLICY_CELL_VALUE, d.verdict, d.pkt_len);
				return TC_ACT_UNSPEC;
			}
		}
	}
	if (judge(slot, rs, &t, &d, res.reason == GUARD_REASON_NONE ? &pol_flows_out : NULL, NULL,
		  true) == POLICY_VERDICT_DENY)
		return TC_ACT_SHOT;
	return TC_ACT_UNSPEC;
}

/* Outbound packets of a selected interface: the flows whose replies policy_tc_in lets in. */
SEC("tc")
int policy_tc_out(struct __sk_buff *skb)
{
	struct parse_result res = {};
	struct pol_tuple t = {};
	const struct policy_sel *sel;
	__u32 ctl = read_ctl();

	KEEP_IN_MEMORY(&res);
	KEEP_IN_MEMORY(&t);
	if (!ctl)
		return TC_ACT_UNSPEC;
	sel = iface_sel(skb->ifindex);
	if (!sel || !sel->rs[ctl & 1])
		return TC_ACT_UNSPEC;
	if (parse_skb(skb, &res) != GUARD_REASON_NONE || !res.family || res.is_later_fragment)
		return TC_ACT_UNSPEC;
	packet_tuple(&t, &res, (void *)(long)skb->data, (void *)(long)skb->data_end,
		     POLICY_DIR_EGRESS);
	record_flow(&pol_flows_out, &t);
	return TC_ACT_UNSPEC;
}

/* ---- cgroups ----------------------------------------------------------------------------- */

/*
 * The ruleset (+ 1, 0: none) for a socket in cgroup `leaf`: that of its nearest selected
 * ancestor (itself included), cached per generation, since cgroups of a busy host are few and
 * their packets many. skb: cgroup_skb (the socket's cgroup); NULL: sock_addr (the task's).
 */
static __always_inline __u32 cgroup_ruleset(__u32 ctl, __u64 leaf, struct __sk_buff *skb,
					    __u64 *sel_cgid)
{
	struct policy_cgcache *c = bpf_map_lookup_elem(&pol_cgcache, &leaf), n = {};
	__u32 slot = ctl & 1;
	int level;

	if (c && c->ctl == ctl) {
		*sel_cgid = c->sel_cgid;
		return c->rs;
	}
	n.ctl = ctl;
	for (level = 0; level < POLICY_MAX_CGROUP_LEVEL; level++) {
		__u64 id = skb ? bpf_skb_ancestor_cgroup_id(skb, level) :
				 bpf_get_current_ancestor_cgroup_id(level);
		struct policy_sel *s;

		if (!id)
			break;
		s = bpf_map_lookup_elem(&pol_cgroups, &id);
		if (s && s->rs[slot]) {
			n.rs = s->rs[slot];
			n.sel_cgid = id;
		}
		if (id == leaf)
			break;
	}
	bpf_map_update_elem(&pol_cgcache, &leaf, &n, BPF_ANY);
	*sel_cgid = n.sel_cgid;
	return n.rs;
}

static __always_inline int cg_skb_parse(struct __sk_buff *skb, struct parse_result *res)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;

	return parse_l3(data, data_end, skb->len, bpf_ntohs(skb->protocol), res);
}

SEC("cgroup_skb/egress")
int policy_cg_egress(struct __sk_buff *skb)
{
	struct parse_result res = {};
	struct pol_decision d = {};
	struct pol_tuple t = {};
	const struct policy_ruleset *rs;
	__u32 slot, rsi;
	bool decided = false;

	d.ctl = read_ctl();
	if (!d.ctl)
		return SK_PASS;
	slot = d.ctl & 1;
	d.cgroup_id = bpf_skb_cgroup_id(skb);
	rsi = cgroup_ruleset(d.ctl, d.cgroup_id, skb, &d.sel_cgroup_id);
	if (!rsi) {
		STAT_INC(unselected);
		return SK_PASS;
	}
	d.rs = rsi - 1;
	rs = ruleset(slot, d.rs);
	if (!rs)
		return SK_PASS;
	if (cg_skb_parse(skb, &res) == GUARD_REASON_NONE && !res.family) {
		STAT_INC(non_ip);
		return SK_PASS;
	}
	t.hook = POLICY_HOOK_CGROUP_EGRESS;
	d.pkt_len = skb->len;
	if (res.reason != GUARD_REASON_NONE) {
		STAT_INC(malformed);
		t.direction = POLICY_DIR_EGRESS;
		t.family = res.family;
		d.word = rs->default_word;
		decided = true;
	} else if (is_ndp(&res)) {
		STAT_INC(ndp);
		return SK_PASS;
	} else {
		packet_tuple(&t, &res, (void *)(long)skb->data, (void *)(long)skb->data_end,
			     POLICY_DIR_EGRESS);
	}
	if (judge(slot, rs, &t, &d, res.reason == GUARD_REASON_NONE ? &pol_flows_in : NULL, skb->sk,
		  decided) == POLICY_VERDICT_DENY)
		return SK_DROP;
	return SK_PASS;
}

/* Inbound packets of sockets in selected cgroups: the flows whose replies may leave. */
SEC("cgroup_skb/ingress")
int policy_cg_ingress(struct __sk_buff *skb)
{
	struct parse_result res = {};
	struct pol_tuple t = {};
	__u64 sel_cgid;
	__u32 ctl = read_ctl();

	if (!ctl || !cgroup_ruleset(ctl, bpf_skb_cgroup_id(skb), skb, &sel_cgid))
		return SK_PASS;
	if (cg_skb_parse(skb, &res) != GUARD_REASON_NONE || !res.family || res.is_later_fragment)
		return SK_PASS;
	packet_tuple(&t, &res, (void *)(long)skb->data, (void *)(long)skb->data_end,
		     POLICY_DIR_INGRESS);
	record_flow(&pol_flows_in, &t);
	return SK_PASS;
}

static __always_inline void remember_owner(struct bpf_sock *sk)
{
	struct policy_owner *o = bpf_sk_storage_get(&pol_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	__u64 id = bpf_get_current_pid_tgid();

	if (!o)
		return;
	o->pid = (__u32)id;
	o->tgid = id >> 32;
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

/*
 * connect() and sendmsg(): decided before anything is sent, so a denied peer is refused with
 * EPERM at once. Only block mode refuses; in observe mode the packets that follow are what the
 * cgroup_skb program counts, so nothing is counted here. A sendmsg() may answer a peer that
 * wrote to us first: that is a reply (pol_flows_in).
 */
static __always_inline int sock_addr_decide(struct bpf_sock_addr *ctx, __u8 hook, bool v6,
					    bool sendmsg)
{
	const struct policy_settings *s;
	struct pol_decision d = {};
	struct pol_tuple t = {};
	const struct policy_ruleset *rs;
	__u32 slot, rsi;

	if (ctx->sk)
		remember_owner(ctx->sk);
	d.ctl = read_ctl();
	if (!d.ctl)
		return SK_PASS;
	slot = d.ctl & 1;
	d.cgroup_id = bpf_get_current_cgroup_id();
	rsi = cgroup_ruleset(d.ctl, d.cgroup_id, NULL, &d.sel_cgroup_id);
	if (!rsi)
		return SK_PASS;
	d.rs = rsi - 1;
	rs = ruleset(slot, d.rs);
	if (!rs)
		return SK_PASS;
	t.hook = hook;
	t.direction = POLICY_DIR_EGRESS;
	t.family = v6 ? POL_AF_INET6 : POL_AF_INET;
	t.proto = ctx->protocol;
	t.pk = packet_kind(t.family, t.proto);
	if (v6) {
		__u32 a[4];

		a[0] = ctx->user_ip6[0];
		a[1] = ctx->user_ip6[1];
		a[2] = ctx->user_ip6[2];
		a[3] = ctx->user_ip6[3];
		__builtin_memcpy(t.peer, a, 16);
	} else {
		__u32 a = ctx->user_ip4;

		__builtin_memcpy(t.peer, &a, 4);
	}
	t.peer_port = (__be16)ctx->user_port;
	t.port = bpf_ntohs(t.peer_port);
	if (ctx->sk) {
		t.local_port = bpf_htons((__u16)ctx->sk->src_port);
		if (v6) {
			__u32 l[4];

			l[0] = ctx->sk->src_ip6[0];
			l[1] = ctx->sk->src_ip6[1];
			l[2] = ctx->sk->src_ip6[2];
			l[3] = ctx->sk->src_ip6[3];
			__builtin_memcpy(t.local, l, 16);
		} else {
			__u32 l = ctx->sk->src_ip4;

			__builtin_memcpy(t.local, &l, 4);
		}
	}
	d.word = decide(slot, rs, &t);
	if (!(d.word & POLICY_CELL_FLAG))
		return SK_PASS;
	d.policy = rs->policy;
	s = settings();
	d.mode = mode_of(slot, rs->policy, s);
	if (d.mode != POLICY_MODE_BLOCK || (sendmsg && is_reply(&pol_flows_in, &t)))
		return SK_PASS;
	d.verdict = POLICY_VERDICT_DENY;
	count(slot, d.word & POLICY_CELL_VALUE, d.verdict, 0);
	emit(&t, &d, ctx->sk, true, s);
	return SK_DROP;
}

SEC("cgroup/connect4")
int policy_connect4(struct bpf_sock_addr *ctx)
{
	return sock_addr_decide(ctx, POLICY_HOOK_CONNECT4, false, false);
}

SEC("cgroup/connect6")
int policy_connect6(struct bpf_sock_addr *ctx)
{
	return sock_addr_decide(ctx, POLICY_HOOK_CONNECT6, true, false);
}

SEC("cgroup/sendmsg4")
int policy_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_addr_decide(ctx, POLICY_HOOK_SENDMSG4, false, true);
}

SEC("cgroup/sendmsg6")
int policy_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sock_addr_decide(ctx, POLICY_HOOK_SENDMSG6, true, true);
}

SEC("cgroup/sock_create")
int policy_sock_create(struct bpf_sock *sk)
{
	remember_owner(sk);
	return SK_PASS;
}
