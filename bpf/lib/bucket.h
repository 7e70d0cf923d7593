/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Token buckets in integer nanoseconds, for the guard's per-source rate limits (shared by all
 * CPUs) and its per-CPU cap on drop records.
 *
 * A bucket holds credit in units of 1/GUARD_RL_SCALE of a packet (or byte): a rate of r per
 * second earns elapsed_ns * r units, so refilling is one multiply, with no division per packet.
 * Rates and depths are clamped to GUARD_RL_MAX (< 2^32), which keeps every product below 2^63
 * and a full bucket (depth * GUARD_RL_SCALE < 2^62) with room for one more credit.
 */
#ifndef AEGIS_BPF_BUCKET_H
#define AEGIS_BPF_BUCKET_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "aegis/guard.h"

/* Compare-and-swap attempts before a contended take gives up (and lets the packet through). */
#define BUCKET_CAS_TRIES 4

/*
 * Branch-free arithmetic on the limits. The verifier walks both sides of every branch, and the
 * limits feed a chain of them (clamp, default, floor, for two dimensions): as branches they
 * made guard_rl_check() cost it ~38K instructions processed instead of ~14K. barrier_var()
 * keeps clang from turning them back into selects, which BPF can only express as branches.
 */

/* 1 when v != 0, else 0. */
static __always_inline __u64 bucket_nonzero(__u64 v)
{
	barrier_var(v);
	return (v | -v) >> 63;
}

/* max(a, b) for a, b < 2^63. */
static __always_inline __u64 bucket_max(__u64 a, __u64 b)
{
	__u64 d = a - b;

	barrier_var(d);
	return a - (d & (__u64)((__s64)d >> 63));
}

/* min(a, b) for a, b < 2^63. */
static __always_inline __u64 bucket_min(__u64 a, __u64 b)
{
	__u64 d = a - b;

	barrier_var(d);
	return b + (d & (__u64)((__s64)d >> 63));
}

static __always_inline __u64 bucket_clamp(__u64 v)
{
	return (v & GUARD_RL_MAX) | (GUARD_RL_MAX * bucket_nonzero(v >> 32));
}

/*
 * The depth in units: burst, or one second's worth of rate when burst is 0; at least
 * GUARD_RL_MIN_DEPTH_NS of rate. rate <= GUARD_RL_MAX.
 */
static __always_inline __u64 bucket_full(__u64 rate, __u64 burst)
{
	__u64 b = bucket_clamp(burst);
	/* burst ? burst : rate */
	__u64 depth = rate + bucket_nonzero(b) * (b - rate);

	return bucket_max(depth * GUARD_RL_SCALE, rate * GUARD_RL_MIN_DEPTH_NS);
}

/*
 * Credit earned over elapsed ns at rate (0..GUARD_RL_MAX) per second, at most full. Below 2^31
 * ns (2.1 s), elapsed * rate stays below 2^63, which bucket_min() needs: a multiply. A source
 * idle for longer costs one division, on its first packet back (a rate of 0 divides to 0 in
 * BPF, and its credit is never used).
 */
static __always_inline __u64 bucket_credit(__u64 elapsed, __u64 rate, __u64 full)
{
	if (elapsed < (1ULL << 31))
		return bucket_min(elapsed * rate, full);
	if (elapsed > full / rate)
		return full;
	return elapsed * rate;
}

/*
 * Adds credit (the bucket stays at most full) and takes cost, on a bucket that other CPUs update
 * too. True when the cost was taken; cost 0 only adds the credit. An out-of-credit take writes
 * nothing unless it brings credit, so a source flooding over its limit mostly reads the line.
 * Each attempt is one compare-and-swap on the whole value: credit is never spent twice.
 */
static __always_inline bool bucket_take_shared(__u64 *tokens, __u64 credit, __u64 full, __u64 cost)
{
	__u64 old = *(volatile __u64 *)tokens, new, prev;
	bool ok;
	int i;

	for (i = 0; i < BUCKET_CAS_TRIES; i++) {
		new = old + credit;
		if (new > full)
			new = full;
		ok = new >= cost;
		if (ok)
			new -= cost;
		if (new == old)
			return ok;
		prev = __sync_val_compare_and_swap(tokens, old, new);
		if (prev == old)
			return ok;
		old = prev;
	}
	/* Contended beyond reason: let this one through uncharged rather than spin. */
	return true;
}

/* The same for a bucket only this CPU touches (per-CPU map value): plain loads and stores. */
static __always_inline bool bucket_take_local(__u64 *tokens, __u64 *last_ns, __u64 now, __u64 rate,
					      __u64 full, __u64 cost)
{
	__u64 t = *tokens;

	if (now > *last_ns) {
		t += bucket_credit(now - *last_ns, rate, full);
		*last_ns = now;
	}
	if (t > full)
		t = full;
	if (t < cost) {
		*tokens = t;
		return false;
	}
	*tokens = t - cost;
	return true;
}

#endif
