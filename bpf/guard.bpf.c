// SPDX-License-Identifier: GPL-2.0-only
/*
 * The XDP guard: malformed-packet and fragment policy, source-address allow and block lists
 * (prefix tables, plus protocol/port-scoped block entries in LPM tries), per-source rate limits
 * (token buckets in an LRU map), per-CPU counters per interface and sampled drop records in a
 * ring buffer. Maps and the program name are the contract with src/guard.c; their layouts live
 * in include/aegis/guard.h.
 *
 * Order per packet: interface lookup -> parse -> malformed policy -> lists (allow wins over
 * everything; then block, then scoped block) -> later-fragment policy -> rate limits. Every
 * packet ends as exactly one of passed or dropped; in observe mode what block mode would drop
 * is counted in would_drop and passed. One in settings.sample_every of those drops and
 * would-drops is recorded in guard_events.
 *
 * Clocks are read only when something needs them: CLOCK_BOOTTIME at most once per packet, for a
 * list entry found or a drop record written; for the token buckets, a coarse clock cached per
 * CPU and jiffy (guard_coarse_now()).
 *
 * A rate-limit bucket check and the drop-record writer are global functions: the verifier checks
 * each once on its own instead of once per path through the parser (see guard_rl_check()).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "aegis/guard.h"
#include "lib/parse.h"
#include "lib/bucket.h"
#include "lib/prefix.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GUARD_MAX_IFINDEX);
	__type(key, __u32);
	__type(value, struct guard_iface);
} guard_ifaces SEC(".maps");

/* Only packets from an ifindex >= GUARD_MAX_IFINDEX pay for a hash lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GUARD_IFACES_BIG_MAX);
	__type(key, __u32);
	__type(value, struct guard_iface);
} guard_ifaces_big SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct guard_settings);
} guard_settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GUARD_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct guard_counters);
} guard_counters SEC(".maps");

/*
 * Source allow and block lists: prefix tables (bpf/lib/prefix.h), longest-prefix match in one
 * first-level read plus a node read per level the table branches on, 3-4x cheaper than an LPM
 * trie lookup (bench/prefix). The node and rule counts below are the object's own defaults; the
 * agent resizes both from guard.capacity.* before load (src/guard.c). First levels: 2^24 entries (64 MiB) for the big IPv4 block list,
 * so a /24 or shorter is found without a node; 2^20 for IPv6 (its /32../64 live in nodes); 2^16
 * for the allow lists, which stay short.
 */
PREFIX_TABLE(allow_v4, 32, 16, 4096, 4096);
PREFIX_TABLE(allow_v6, 128, 16, 4096, 4096);
PREFIX_TABLE(block_v4, 32, 24, 4096, 4096);
PREFIX_TABLE(block_v6, 128, 20, 4096, 4096);

/* Protocol/port-scoped entries stay in LPM tries: looked up only when the lists above missed. */
#define GUARD_LPM(name, keyt, n)				\
	struct {						\
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);		\
		__uint(max_entries, n);				\
		__uint(map_flags, BPF_F_NO_PREALLOC);		\
		__type(key, keyt);				\
		__type(value, struct guard_rule);		\
	} name SEC(".maps")

GUARD_LPM(guard_block_scoped_v4, struct guard_lpm_scoped_v4, GUARD_BLOCK_SCOPED_V4_DEFAULT);
GUARD_LPM(guard_block_scoped_v6, struct guard_lpm_scoped_v6, GUARD_BLOCK_SCOPED_V6_DEFAULT);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GUARD_RL_CLASS_COUNT);
	__type(key, __u32);
	__type(value, struct guard_rl_limit);
} guard_rl_limits SEC(".maps");

/*
 * One common LRU list: a source flood with random addresses evicts the oldest buckets, which
 * only hands the evicted sources a fresh (full) bucket when they come back.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GUARD_RL_STATE_DEFAULT);
	__type(key, struct guard_rl_key);
	__type(value, struct guard_rl_state);
} guard_rl_state SEC(".maps");

/* Sampled per-source traffic for `aegis top` (guard_settings.top_every). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GUARD_TOP_DEFAULT);
	__type(key, struct guard_rl_key);
	__type(value, struct guard_top_stats);
} guard_top SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, GUARD_EVENTS_DEFAULT);
} guard_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct guard_cpu_state);
} guard_cpu_state SEC(".maps");

/* Per CPU: each list's run of hits on one entry, added to the entry in batches (lib/prefix.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct guard_hits);
} guard_hits SEC(".maps");

enum list_hit {
	LIST_MISS,
	LIST_ALLOW,
	LIST_BLOCK,
};

/*
 * What decided a drop, for the counters and the drop record. Scalars only: a global function
 * (guard_record) takes a pointer to it.
 */
struct guard_verdict {
	__u32 rule_reason_id;		/* the matched entry's, see guard_event */
	__u8 reason;			/* enum guard_reason */
	__u8 match;			/* GUARD_MATCH_* */
	__u8 rl_class;
	__u8 prefixlen;			/* the entry's guard_rule.prefixlen, or the bucket's */
	__u8 rule_origin;
	__u8 verdict;			/* GUARD_EVENT_* */
	__u8 __pad[2];
};

/* CLOCK_BOOTTIME, for list entries and drop records: read at most once per packet. */
static __always_inline __u64 guard_now(__u64 *now)
{
	return prefix_now(now);
}

/*
 * CLOCK_MONOTONIC_COARSE, for the token buckets: read once per tick per CPU and kept with its
 * jiffy, so a packet pays an inlined jiffies load (~3 ns) instead of a clock read (~45 ns for
 * boot time on the reference VM, ~17 ns for the coarse clock). The timekeeper moves jiffies a
 * moment before the coarse time, so a cached value can be a tick behind: see guard_rl_state.
 */
static __always_inline __u64 guard_coarse_now(struct guard_cpu_state *cs)
{
	__u64 j = bpf_jiffies64();

	if (j != cs->clock_jiffies) {
		cs->clock_ns = bpf_ktime_get_coarse_ns();
		cs->clock_jiffies = j;
	}
	return cs->clock_ns;
}

static __always_inline struct guard_cpu_state *guard_cpu(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&guard_cpu_state, &zero);
}

/* An expired scoped entry is a miss: blocks end on time even while the agent is not there to GC. */
static __always_inline struct guard_rule *guard_live(struct guard_rule *rule, __u64 *now)
{
	if (rule && rule->expires_ns && guard_now(now) >= rule->expires_ns)
		return NULL;
	return rule;
}

/* TCP and UDP with their header in this packet: what a scoped entry can match. */
static __always_inline bool guard_has_ports(const struct parse_result *res)
{
	return (res->l4_proto == PARSE_NEXTHDR_TCP || res->l4_proto == PARSE_NEXTHDR_UDP) &&
	       !res->is_later_fragment;
}

/* The scoped block entry for this source, protocol and destination port, if any. */
static __always_inline struct guard_rule *guard_scoped(const struct parse_result *res, __u64 *now)
{
	if (res->family == PARSE_AF_INET) {
		struct guard_lpm_scoped_v4 sk = {
			.prefixlen = GUARD_SCOPED_KEY_BITS + 32,
			.proto = res->l4_proto,
		};

		__builtin_memcpy(sk.port, &res->dport, sizeof(sk.port));
		__builtin_memcpy(sk.addr, &res->saddr.v4, sizeof(sk.addr));
		return guard_live(bpf_map_lookup_elem(&guard_block_scoped_v4, &sk), now);
	} else {
		struct guard_lpm_scoped_v6 sk = {
			.prefixlen = GUARD_SCOPED_KEY_BITS + 128,
			.proto = res->l4_proto,
		};

		__builtin_memcpy(sk.port, &res->dport, sizeof(sk.port));
		__builtin_memcpy(sk.addr, res->saddr.v6, sizeof(sk.addr));
		return guard_live(bpf_map_lookup_elem(&guard_block_scoped_v6, &sk), now);
	}
}

/*
 * A hit of entry (rule, id) of list `name` (idx: its GUARD_LIST_*), counted through this CPU's
 * run of hits for that list (bpf/lib/prefix.h).
 */
#define guard_list_hit(name, idx, rule, id, bytes, now)				\
	({									\
		__u32 __zero = 0;						\
		struct guard_hits *__h = bpf_map_lookup_elem(&guard_hits, &__zero);	\
									\
		if (__h)							\
			prefix_rule_hit(name, rule, id, &__h->list[idx], bytes, now);	\
	})

/*
 * Allow, then block, then (TCP/UDP only) scoped block. empty: GUARD_EMPTY_* bits, lists the
 * agent says hold nothing, not looked up. A prefix-table lookup resolves expiry itself: an
 * expired prefix answers with its nearest live cover.
 */
static __always_inline enum list_hit guard_lists(const struct parse_result *res, __u64 bytes,
						 __u32 empty, __u64 *now, struct guard_verdict *v)
{
	struct prefix_rule *rule = NULL;
	struct guard_rule *scoped;
	bool v4 = res->family == PARSE_AF_INET;
	__u32 id;

	if (v4) {
		id = empty & GUARD_EMPTY_ALLOW_V4 ? 0 :
			prefix_lookup_v4(allow_v4, res->saddr.v4, now, &rule);
		if (id) {
			guard_list_hit(allow_v4, GUARD_LIST_ALLOW_V4, rule, id, bytes, now);
			return LIST_ALLOW;
		}
		id = empty & GUARD_EMPTY_BLOCK_V4 ? 0 :
			prefix_lookup_v4(block_v4, res->saddr.v4, now, &rule);
		if (id)
			guard_list_hit(block_v4, GUARD_LIST_BLOCK_V4, rule, id, bytes, now);
	} else {
		id = empty & GUARD_EMPTY_ALLOW_V6 ? 0 :
			prefix_lookup_v6(allow_v6, res->saddr.v6, now, &rule);
		if (id) {
			guard_list_hit(allow_v6, GUARD_LIST_ALLOW_V6, rule, id, bytes, now);
			return LIST_ALLOW;
		}
		id = empty & GUARD_EMPTY_BLOCK_V6 ? 0 :
			prefix_lookup_v6(block_v6, res->saddr.v6, now, &rule);
		if (id)
			guard_list_hit(block_v6, GUARD_LIST_BLOCK_V6, rule, id, bytes, now);
	}
	if (id && rule) {
		v->match = GUARD_MATCH_BLOCK;
		v->prefixlen = rule->prefixlen;
		v->rule_origin = rule->origin;
		v->rule_reason_id = rule->reason_id;
		return LIST_BLOCK;
	}
	if (!(empty & (v4 ? GUARD_EMPTY_BLOCK_SCOPED_V4 : GUARD_EMPTY_BLOCK_SCOPED_V6)) &&
	    guard_has_ports(res)) {
		scoped = guard_scoped(res, now);
		if (scoped) {
			/* Shared by all CPUs, hence the atomic adds; last_hit_ns may race, harmlessly. */
			__sync_fetch_and_add(&scoped->hit_packets, 1);
			__sync_fetch_and_add(&scoped->hit_bytes, bytes);
			scoped->last_hit_ns = guard_now(now);
			v->match = GUARD_MATCH_BLOCK_SCOPED;
			v->prefixlen = scoped->prefixlen;
			v->rule_origin = scoped->origin;
			v->rule_reason_id = scoped->reason_id;
			return LIST_BLOCK;
		}
	}
	return LIST_MISS;
}

static __always_inline struct guard_settings *guard_get_settings(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&guard_settings, &zero);
}

/* ---- rate limits ---------------------------------------------------------------------- */

/* The packet's own class; GUARD_RL_CLASS_COUNT when only ALL applies (TCP without SYN, GRE...). */
static __always_inline __u32 guard_rl_class(const struct parse_result *res)
{
	if (res->l4_proto == PARSE_NEXTHDR_UDP)
		return GUARD_RL_UDP;
	if (res->l4_proto == PARSE_NEXTHDR_TCP)
		return (res->tcp_flags & (PARSE_TCP_SYN | PARSE_TCP_ACK)) == PARSE_TCP_SYN ?
			       GUARD_RL_TCP_SYN : GUARD_RL_CLASS_COUNT;
	if ((res->family == PARSE_AF_INET && res->l4_proto == IPPROTO_ICMP) ||
	    (res->family == PARSE_AF_INET6 && res->l4_proto == PARSE_NEXTHDR_ICMPV6))
		return GUARD_RL_ICMP;
	return GUARD_RL_CLASS_COUNT;
}

/* A limit that limits nothing is no limit: the caller skips the bucket altogether. */
static __always_inline struct guard_rl_limit *guard_rl_limit_of(__u32 cls)
{
	struct guard_rl_limit *lim = bpf_map_lookup_elem(&guard_rl_limits, &cls);

	if (lim && (lim->pps || lim->bps))
		return lim;
	return NULL;
}

/* The top plen bits (0..32) of a big-endian 32-bit word. */
static __always_inline __be32 guard_mask_be32(__be32 w, __s32 plen)
{
	if (plen >= 32)
		return w;
	if (plen <= 0)
		return 0;
	return w & bpf_htonl(~0U << (32 - plen));
}

/* The source prefix a bucket covers, from the settings (0 = the default). */
static __always_inline bool guard_rl_key_init(struct guard_rl_key *key,
					      const struct parse_result *res)
{
	struct guard_settings *set = guard_get_settings();
	__u32 plen;

	if (!set)
		return false;	/* cannot happen: an array always has index 0 */

	key->family = res->family;
	if (res->family == PARSE_AF_INET) {
		plen = set->rl_prefix_v4 ? set->rl_prefix_v4 : GUARD_RL_PREFIX_V4_DEFAULT;
		if (plen > 32)
			plen = 32;
		*(__be32 *)key->addr = guard_mask_be32(res->saddr.v4, plen);
	} else {
		const __be32 *a = (const __be32 *)res->saddr.v6;
		__be32 *k = (__be32 *)key->addr;

		plen = set->rl_prefix_v6 ? set->rl_prefix_v6 : GUARD_RL_PREFIX_V6_DEFAULT;
		if (plen > 128)
			plen = 128;
		k[0] = guard_mask_be32(a[0], plen);
		k[1] = guard_mask_be32(a[1], (__s32)plen - 32);
		k[2] = guard_mask_be32(a[2], (__s32)plen - 64);
		k[3] = guard_mask_be32(a[3], (__s32)plen - 96);
	}
	key->prefixlen = plen;
	return true;
}

/*
 * Charges one packet of bytes to key's bucket under lim: 1 when it is over the limit, else 0.
 * See guard_rl_state in guard.h for the units and for who may write what when.
 *
 * A global function, so the verifier checks it once, on its own, and a caller sees a call that
 * returns a number. Inlined, the compare-and-swap loops here, times two buckets, times every
 * path the parser can take, made the verifier process ~514K instructions for the object (of its
 * 1M limit; ~174K with the rest of this file as it is now), against ~25K. A call costs ~7 ns on
 * the reference VM (its returns go through the SRSO return thunk), only where a limit is
 * configured.
 */
__noinline int guard_rl_check(struct guard_rl_key *key, const struct guard_rl_limit *lim,
			      __u64 bytes, __u64 now)
{
	__u64 last, elapsed = 0, ws, pps, bps, full_p, full_b;
	struct guard_rl_state *st;
	bool over = false;

	if (!key || !lim)
		return 0;
	pps = bucket_clamp(lim->pps);
	bps = bucket_clamp(lim->bps);
	/* Computed even for a dimension that is off (rate 0), where nothing reads them. */
	full_p = bucket_full(pps, lim->burst_packets);
	full_b = bucket_full(bps, lim->burst_bytes);
	st = bpf_map_lookup_elem(&guard_rl_state, key);
	if (!st) {
		struct guard_rl_state init = {
			.pkt_tokens = full_p,
			.byte_tokens = full_b,
			.last_ns = now,
			.created_ns = now,
			.win_start_ns = now,
		};

		/* Two CPUs may race to create it: one wins, both then charge the same bucket. */
		bpf_map_update_elem(&guard_rl_state, key, &init, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&guard_rl_state, key);
		if (!st)
			return 0;
	}

	/* The CPU that moves last_ns forward owns the credit of (last, now]; the others add none. */
	last = *(volatile __u64 *)&st->last_ns;
	if (now > last && __sync_val_compare_and_swap(&st->last_ns, last, now) == last)
		elapsed = now - last;
	if (pps)
		over = !bucket_take_shared(&st->pkt_tokens, bucket_credit(elapsed, pps, full_p),
					   full_p, GUARD_RL_SCALE);
	if (bps) {
		/* Over on packets: still bank the byte credit, but take nothing. */
		bool ok = bucket_take_shared(&st->byte_tokens, bucket_credit(elapsed, bps, full_b),
					     full_b, over ? 0 : bytes * GUARD_RL_SCALE);

		if (!ok && !over) {
			over = true;
			/* Give back the packet it did not send (the next take caps the bucket). */
			if (pps)
				__sync_fetch_and_add(&st->pkt_tokens, GUARD_RL_SCALE);
		}
	}

	/* Statistics for the agent: plain stores, see guard.h. */
	st->total_packets++;
	st->win_packets++;
	st->win_bytes += bytes;
	/* Comparisons written so that another CPU's clock a tick behind cannot wrap them. */
	if (over) {
		if (!st->over_since_ns || now > st->last_over_ns + GUARD_RL_STREAK_GAP_NS) {
			st->over_since_ns = now;
			st->over_packets = 0;
			st->over_bytes = 0;
		}
		st->over_packets++;
		st->over_bytes += bytes;
		st->last_over_ns = now;
		st->total_over_packets++;
	} else if (st->over_since_ns && now > st->last_over_ns + GUARD_RL_STREAK_GAP_NS) {
		st->over_since_ns = 0;
		st->over_packets = 0;
		st->over_bytes = 0;
	}
	/* Once a second per source: close the rate window (the only divisions here). */
	ws = st->win_start_ns;
	if (now > ws + GUARD_RL_WINDOW_NS &&
	    __sync_val_compare_and_swap(&st->win_start_ns, ws, now) == ws) {
		__u64 us = (now - ws) / 1000;

		st->last_rate_pps = st->win_packets * 1000000 / us;
		st->last_rate_bps = st->win_bytes * 1000000 / us;
		st->win_packets = 0;
		st->win_bytes = 0;
	}
	return over;
}

/*
 * After the lists: the packet's class bucket, then ALL's. True when over a limit; v says which.
 * With no limit configured this is two inlined array reads.
 */
static __always_inline bool guard_rate_limit(const struct parse_result *res, __u64 bytes,
					     struct guard_verdict *v)
{
	struct guard_rl_limit *lc = NULL, *la;
	struct guard_rl_key key = {};
	struct guard_cpu_state *cs;
	__u32 cls = guard_rl_class(res);
	__u64 now;

	if (cls < GUARD_RL_ALL)
		lc = guard_rl_limit_of(cls);
	la = guard_rl_limit_of(GUARD_RL_ALL);
	if (!lc && !la)
		return false;
	cs = guard_cpu();
	if (!cs || !guard_rl_key_init(&key, res))
		return false;
	now = guard_coarse_now(cs);
	if (lc) {
		key.rl_class = cls;
		if (guard_rl_check(&key, lc, bytes, now))
			goto over;
	}
	if (la) {
		key.rl_class = GUARD_RL_ALL;
		if (guard_rl_check(&key, la, bytes, now))
			goto over;
	}
	return false;
over:
	v->match = GUARD_MATCH_RATE_LIMIT;
	v->rl_class = key.rl_class;
	v->prefixlen = key.prefixlen;
	return true;
}

/* ---- drop records ---------------------------------------------------------------------- */

/*
 * Writes one drop record, if the per-CPU records/s bucket lets it: the part of sampling that
 * runs for 1 in sample_every drops. A global function (verified once, like guard_rl_check()).
 * The packet's first bytes are copied with bpf_xdp_load_bytes, which also reads past the
 * first buffer of a multi-buffer frame.
 */
__noinline int guard_record(struct xdp_md *ctx, struct guard_counters *cnt,
			    const struct parse_result *res, const struct guard_verdict *v)
{
	struct guard_settings *set = guard_get_settings();
	struct guard_cpu_state *cs = guard_cpu();
	struct guard_event *e;
	__u64 rate, full, cap;
	__u32 len;

	if (!ctx || !cnt || !res || !v || !set || !cs)
		return 0;
	rate = bucket_clamp(set->sample_max_per_sec ? set->sample_max_per_sec :
						      GUARD_SAMPLE_MAX_PER_SEC_DEFAULT);
	full = bucket_full(rate, set->sample_burst);
	if (!bucket_take_local(&cs->tokens, &cs->last_ns, guard_coarse_now(cs), rate, full,
			       GUARD_RL_SCALE)) {
		cnt->events_capped++;
		return 0;
	}

	e = bpf_ringbuf_reserve(&guard_events, sizeof(*e), 0);
	if (!e) {
		cnt->events_lost++;
		return 0;
	}
	len = bpf_xdp_get_buff_len(ctx);
	cap = len;
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->ifindex = ctx->ingress_ifindex;
	e->pkt_len = len;
	e->reason = v->reason;
	e->verdict = v->verdict;
	e->family = res->family;
	e->proto = res->l4_proto;
	e->match = v->match;
	e->match_prefixlen = v->prefixlen;
	e->sport = res->sport;
	e->dport = res->dport;
	e->rl_class = v->rl_class;
	e->rule_origin = v->rule_origin;
	e->tcp_flags = res->tcp_flags;
	e->__pad = 0;
	e->rule_reason_id = v->rule_reason_id;
	e->sample_every = set->sample_every;
	__builtin_memcpy(e->saddr, res->saddr.v6, sizeof(e->saddr));
	__builtin_memcpy(e->daddr, res->daddr.v6, sizeof(e->daddr));
	__builtin_memset(e->data, 0, sizeof(e->data));
	/* One register, bounded in both directions right before the call, or the verifier loses it. */
	if (cap > GUARD_EVENT_SNAPLEN)
		cap = GUARD_EVENT_SNAPLEN;
	barrier_var(cap);
	if (cap == 0 || cap > GUARD_EVENT_SNAPLEN || bpf_xdp_load_bytes(ctx, 0, e->data, cap))
		cap = 0;
	e->cap_len = cap;
	bpf_ringbuf_submit(e, 0);
	cnt->events_sampled++;
	return 1;
}

/*
 * One in sample_every drops per CPU: a countdown, no division, inlined, so that a flood of drops
 * pays a decrement for each one that is not sampled.
 */
static __always_inline void guard_sample(struct xdp_md *ctx, struct guard_counters *cnt,
					 const struct parse_result *res, struct guard_verdict *v)
{
	struct guard_settings *set = guard_get_settings();
	struct guard_cpu_state *cs;

	if (!set || !set->sample_every)
		return;
	cs = guard_cpu();
	if (!cs)
		return;
	if (cs->countdown) {
		cs->countdown--;
		return;
	}
	cs->countdown = set->sample_every - 1;
	guard_record(ctx, cnt, res, v);
}

/*
 * Charges weight packets of bytes each to the source's guard_top entry under verdict. A global
 * function like guard_rl_check(): it runs for one packet in top_every, and inlined its map
 * update would be verified once per path through the parser.
 */
__noinline int guard_top_charge(struct guard_rl_key *key, __u64 bytes, __u32 verdict, __u64 weight)
{
	struct guard_cpu_state *cs = guard_cpu();
	struct guard_top_stats *st;

	/* The verifier checks a global function for any caller: key may be NULL. */
	if (!key || verdict >= GUARD_TOP_VERDICTS || !cs)
		return 0;
	st = bpf_map_lookup_elem(&guard_top, key);
	if (!st) {
		struct guard_top_stats init = {};

		/* Two CPUs may race to create it: one wins, both then charge the same entry. */
		bpf_map_update_elem(&guard_top, key, &init, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&guard_top, key);
		if (!st)
			return 0;
	}
	/* Constant indexes: a bounds check on verdict does not survive clang's spills. */
	switch (verdict) {
	case GUARD_TOP_PASSED:
		__sync_fetch_and_add(&st->packets[GUARD_TOP_PASSED], weight);
		__sync_fetch_and_add(&st->bytes[GUARD_TOP_PASSED], bytes * weight);
		break;
	case GUARD_TOP_DROPPED:
		__sync_fetch_and_add(&st->packets[GUARD_TOP_DROPPED], weight);
		__sync_fetch_and_add(&st->bytes[GUARD_TOP_DROPPED], bytes * weight);
		break;
	default:
		__sync_fetch_and_add(&st->packets[GUARD_TOP_WOULD_DROP], weight);
		__sync_fetch_and_add(&st->bytes[GUARD_TOP_WOULD_DROP], bytes * weight);
		break;
	}
	st->last_ns = guard_coarse_now(cs);
	return 1;
}

/*
 * One in top_every IP packets per CPU (not malformed ones: parsed) goes to guard_top: a countdown, no division, inlined, so
 * that the others pay a decrement.
 */
static __always_inline void guard_top_sample(const struct parse_result *res, bool parsed, __u64 bytes,
					     __u32 verdict)
{
	struct guard_settings *set = guard_get_settings();
	struct guard_rl_key key = {};
	struct guard_cpu_state *cs;

	if (!parsed || !res->family || !set || !set->top_every)
		return;
	cs = guard_cpu();
	if (!cs)
		return;
	if (cs->top_countdown) {
		cs->top_countdown--;
		return;
	}
	cs->top_countdown = set->top_every - 1;
	if (guard_rl_key_init(&key, res))
		guard_top_charge(&key, bytes, verdict, set->top_every);
}

/* ---- the program ---------------------------------------------------------------------- */

SEC("xdp")
int xdp_guard(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	__u32 ifindex = ctx->ingress_ifindex;
	struct guard_verdict v = {};
	struct parse_result res = {};
	struct guard_counters *cnt;
	struct guard_settings *set;
	struct guard_iface *iface;
	__u64 bytes = data_end - data;
	__u32 slot = 0, mode = 0;
	bool parsed = false;
	__u64 now = 0;
	int reason;

	/* The array answers for ifindex < GUARD_MAX_IFINDEX (inlined); NULL sends us to the hash. */
	iface = bpf_map_lookup_elem(&guard_ifaces, &ifindex);
	if (!iface)
		iface = bpf_map_lookup_elem(&guard_ifaces_big, &ifindex);
	if (iface) {
		slot = iface->slot;
		/* Read per packet so that switching mode is a map write. Anything but block observes. */
		mode = iface->mode;
	}
	if (slot >= GUARD_MAX_IFACES)
		slot = 0;
	cnt = bpf_map_lookup_elem(&guard_counters, &slot);
	if (!cnt)
		return XDP_PASS;	/* cannot happen: slot is in range */
	cnt->rx_packets++;
	cnt->rx_bytes += bytes;
	/*
	 * No entry, or a zeroed one (the agent's "forget this interface" on an array), or a slot
	 * out of range: count it in slot 0 and stay out of the way.
	 */
	if (!slot)
		goto pass;

	/*
	 * Settings are looked up where they are used, never cached, so a map write takes effect at
	 * once. The lookups are inlined array reads; holding the pointer across the calls instead
	 * costs spills in the parser (there are four callee-saved registers), ~7 ns measured.
	 */
	reason = parse_packet(data, data_end, &res);
	parsed = reason == GUARD_REASON_NONE;
	if (!parsed) {
		cnt->malformed++;
		if (reason < GUARD_REASON_COUNT)
			cnt->by_reason[reason]++;
		set = guard_get_settings();
		if (!set || set->malformed_action == GUARD_ACTION_PASS)
			goto pass;
		v.reason = reason;
		goto drop;
	}
	if (!res.family) {
		cnt->non_ip++;
		goto pass;
	}
	if (res.is_fragment)
		cnt->fragments++;

	set = guard_get_settings();
	switch (guard_lists(&res, bytes, set ? set->empty_lists : 0, &now, &v)) {
	case LIST_ALLOW:
		cnt->allowed_by_list++;
		goto pass;
	case LIST_BLOCK:
		cnt->by_reason[GUARD_REASON_BLOCKLIST]++;
		if (mode == GUARD_MODE_BLOCK_V)
			cnt->blocked_by_list++;
		v.reason = GUARD_REASON_BLOCKLIST;
		goto drop;
	case LIST_MISS:
		break;
	}

	/* A later fragment has no ports: the policy decides, after the lists had their say. */
	if (res.is_later_fragment) {
		set = guard_get_settings();
		if (!set || set->later_fragment_action != GUARD_ACTION_PASS) {
			cnt->by_reason[GUARD_REASON_FRAGMENT]++;
			v.reason = GUARD_REASON_FRAGMENT;
			goto drop;
		}
	}

	if (guard_rate_limit(&res, bytes, &v)) {
		cnt->by_reason[GUARD_REASON_RATE_LIMIT]++;
		if (mode == GUARD_MODE_BLOCK_V)
			cnt->rate_limited++;
		v.reason = GUARD_REASON_RATE_LIMIT;
		goto drop;
	}

pass:
	cnt->passed++;
	guard_top_sample(&res, parsed, bytes, GUARD_TOP_PASSED);
	return XDP_PASS;
drop:
	v.verdict = mode == GUARD_MODE_BLOCK_V ? GUARD_EVENT_DROPPED : GUARD_EVENT_WOULD_DROP;
	guard_sample(ctx, cnt, &res, &v);
	if (mode == GUARD_MODE_BLOCK_V) {
		cnt->dropped++;
		guard_top_sample(&res, parsed, bytes, GUARD_TOP_DROPPED);
		return XDP_DROP;
	}
	cnt->would_drop++;
	cnt->passed++;
	guard_top_sample(&res, parsed, bytes, GUARD_TOP_WOULD_DROP);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
