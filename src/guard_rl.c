// SPDX-License-Identifier: GPL-2.0-only
/*
 * The user side of the per-source rate limits: the auto-blocker (a source over its limit for
 * guard.rate_limit.auto_block.after is blocked for its ttl) and the top-talkers view, both read
 * from the datapath's guard_rl_state buckets.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "events.h"
#include "guard_events.h"
#include "guard_rl.h"
#include "log.h"
#include "util.h"

struct rl_entry {
	struct guard_rl_key key;
	struct guard_rl_state st;
};

static bool grow(struct rl_entry **v, size_t *cap, size_t need)
{
	struct rl_entry *nv;
	size_t ncap = *cap ? *cap : 1024;

	while (ncap < need)
		ncap *= 2;
	if (ncap == *cap)
		return true;
	nv = realloc(*v, ncap * sizeof(*nv));
	if (!nv)
		return false;
	*v = nv;
	*cap = ncap;
	return true;
}

#define RL_BATCH 1024

/*
 * Every bucket, in batches of RL_BATCH (a full 64k-entry map is 64 syscalls, not 128k: the
 * auto-blocker reads it every second). A kernel without batch lookups for this map type
 * (-EINVAL, -ENOTSUPP) gets the key walk, logged once.
 */
static size_t read_buckets(const struct guard *g, struct rl_entry **out)
{
	int fd = bpfobj_map_fd(&g->obj, "guard_rl_state");
	_cleanup_free_ struct guard_rl_key *keys = malloc(RL_BATCH * sizeof(*keys));
	_cleanup_free_ struct guard_rl_state *vals = malloc(RL_BATCH * sizeof(*vals));
	struct guard_rl_key key, next;
	union { struct guard_rl_key k; __u32 bucket; } in, outb;	/* the hash's batch token */
	size_t n = 0, cap = 0;
	bool first = true;
	void *prev = NULL;
	int err = 0;

	*out = NULL;
	if (fd < 0 || !keys || !vals)
		return 0;
	while (!err) {
		__u32 count = RL_BATCH;

		err = bpf_map_lookup_batch(fd, first ? NULL : &in, &outb, keys, vals, &count, NULL);
		err = err ? -errno : 0;
		if (err && err != -ENOENT)
			break;	/* ENOENT: the last batch, count says how much of it there is */
		if (!grow(out, &cap, n + count))
			return n;
		for (__u32 i = 0; i < count; i++, n++) {
			(*out)[n].key = keys[i];
			(*out)[n].st = vals[i];
		}
		in = outb;
		first = false;
	}
	if (err == -ENOENT || n)
		return n;
	log_once(LOG_LVL_INFO, "rl-batch", "guard: batch lookup of guard_rl_state: %s; walking its keys",
		 strerror(-err));
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (!grow(out, &cap, n + 1))
			break;
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &(*out)[n].st) == 0)
			(*out)[n++].key = key;
	}
	return n;
}

static void bucket_cidr(const struct guard_rl_key *k, struct cidr *c)
{
	memset(c, 0, sizeof(*c));
	c->family = k->family == 2 ? AF_INET : AF_INET6;
	c->prefixlen = k->prefixlen;
	memcpy(c->addr, k->addr, 16);
}

/* "auto: udp 48000 pps > 10000", naming whichever limit the source broke. */
static void auto_reason(const struct aegis_config *cfg, const struct rl_entry *e, char *buf, size_t len)
{
	const struct cfg_rate *lim = &cfg->rl[e->key.rl_class < GUARD_RL_CLASS_COUNT ? e->key.rl_class : 0];
	const char *cls = guard_rl_class_name(e->key.rl_class);

	if (lim->pps && e->st.last_rate_pps > lim->pps)
		snprintf(buf, len, "auto: %s %llu pps > %u", cls, (unsigned long long)e->st.last_rate_pps, lim->pps);
	else if (lim->bps && e->st.last_rate_bps > lim->bps)
		snprintf(buf, len, "auto: %s %llu B/s > %u", cls, (unsigned long long)e->st.last_rate_bps, lim->bps);
	else
		snprintf(buf, len, "auto: %s over its limit (%llu pps, %llu B/s)", cls,
			 (unsigned long long)e->st.last_rate_pps, (unsigned long long)e->st.last_rate_bps);
}

static bool over_long_enough(const struct aegis_config *cfg, const struct guard_rl_state *st, uint64_t now)
{
	if (!cfg->rl_auto_block_after_ns || !st->over_since_ns)
		return false;
	/* The datapath clears a streak only when a packet comes: a silent source's streak is over. */
	if (now > st->last_over_ns && now - st->last_over_ns > GUARD_RL_STREAK_GAP_NS)
		return false;
	return st->last_over_ns - st->over_since_ns >= cfg->rl_auto_block_after_ns;
}

void guard_rl_scan(struct guard *g, struct lists *l, const struct aegis_config *cfg)
{
	struct list_request rq = { .list = LIST_BLOCK, .origin = GUARD_ORIGIN_AUTO, .force = false };
	_cleanup_free_ struct rl_entry *v = NULL;
	uint64_t now = now_monotonic_ns();
	size_t n;

	if (!g->running || !cfg->rl_auto_block_after_ns)
		return;
	n = read_buckets(g, &v);
	rq.ttl_ns = cfg->rl_auto_block_ttl_ns;
	for (size_t i = 0; i < n; i++) {
		char reason[128], note[128], err[256], text[CIDR_STRLEN];
		struct cidr c;

		if (!over_long_enough(cfg, &v[i].st, now))
			continue;
		bucket_cidr(&v[i].key, &c);
		if (decisions_get(&l->store, LIST_BLOCK, &c, UNSCOPED) || decisions_get(&l->store, LIST_ALLOW, &c, UNSCOPED))
			continue;
		auto_reason(cfg, &v[i], reason, sizeof(reason));
		rq.reason = reason;
		cidr_format(&c, text, sizeof(text));
		if (lists_add(l, &rq, &c, false, &actor_agent, note, sizeof(note), err, sizeof(err))) {
			log_once(LOG_LVL_WARN, text, "guard: cannot auto-block %s: %s", text, err);
			continue;
		}
		pr_info("guard: auto-blocked %s for %llus (%s)", text,
			(unsigned long long)(rq.ttl_ns / NSEC_PER_SEC), reason);
		events_publish("auto_block", json_pack("{s:s, s:s, s:I, s:I, s:I}", "cidr", text, "reason", reason,
						       "ttl_seconds", (json_int_t)(rq.ttl_ns / NSEC_PER_SEC),
						       "rate_pps", (json_int_t)v[i].st.last_rate_pps,
						       "rate_bps", (json_int_t)v[i].st.last_rate_bps));
	}
}

static int by_rate(const void *pa, const void *pb)
{
	const struct rl_entry *a = pa, *b = pb;

	if (a->st.last_rate_pps != b->st.last_rate_pps)
		return a->st.last_rate_pps < b->st.last_rate_pps ? 1 : -1;
	return a->st.total_packets < b->st.total_packets ? 1 : a->st.total_packets > b->st.total_packets ? -1 : 0;
}

json_t *guard_rl_top(const struct guard *g, const struct aegis_config *cfg, size_t limit)
{
	_cleanup_free_ struct rl_entry *v = NULL;
	uint64_t now = now_monotonic_ns();
	json_t *arr = json_array();
	size_t n;
	bool any_limit = false;

	for (int c = 0; c < GUARD_RL_CLASS_COUNT; c++)
		any_limit |= cfg->rl[c].pps || cfg->rl[c].bps;
	if (!g->running)
		return json_pack("{s:o, s:s}", "sources", arr, "note", "the guard is not running");
	n = read_buckets(g, &v);
	qsort(v, n, sizeof(*v), by_rate);
	for (size_t i = 0; i < n && i < limit; i++) {
		char text[CIDR_STRLEN];
		struct cidr c;
		bool over = v[i].st.over_since_ns && now - v[i].st.last_over_ns <= GUARD_RL_STREAK_GAP_NS;

		bucket_cidr(&v[i].key, &c);
		cidr_format(&c, text, sizeof(text));
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:I}", "source", text,
			"class", guard_rl_class_name(v[i].key.rl_class), "rate_pps", (json_int_t)v[i].st.last_rate_pps,
			"rate_bps", (json_int_t)v[i].st.last_rate_bps, "packets", (json_int_t)v[i].st.total_packets,
			"over_limit_packets", (json_int_t)v[i].st.total_over_packets, "over_limit_now", over,
			"seconds_seen", (json_int_t)((now - v[i].st.created_ns) / NSEC_PER_SEC)));
	}
	return json_pack("{s:o, s:I, s:s?}", "sources", arr, "buckets", (json_int_t)n, "note",
			 any_limit ? NULL : "per-source accounting runs only for classes with a rate limit "
					    "(guard.rate_limit); none is configured");
}
