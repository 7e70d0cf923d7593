// SPDX-License-Identifier: GPL-2.0-only
/*
 * The user side of the per-source rate limits: the auto-blocker (a source over its limit for
 * guard.rate_limit.auto_block.after is blocked for its ttl), from the datapath's guard_rl_state
 * buckets, which `aegis top` also reads for each source's over-limit figures.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "mapwalk.h"
#include "events.h"
#include "guard_events.h"
#include "guard_rl.h"
#include "log.h"
#include "util.h"

size_t guard_rl_read(const struct guard *g, struct guard_rl_key **keys, struct guard_rl_state **sts)
{
	int fd = bpfobj_map_fd(&g->obj, "guard_rl_state");
	ssize_t n;

	*keys = NULL;
	*sts = NULL;
	if (fd < 0)
		return 0;
	n = map_read_all(fd, sizeof(**keys), sizeof(**sts), (void **)keys, (void **)sts);
	if (n >= 0)
		return (size_t)n;
	log_once(LOG_LVL_WARN, "rl-read", "guard: cannot read guard_rl_state: %s", strerror((int)-n));
	free(*keys);
	free(*sts);
	*keys = NULL;
	*sts = NULL;
	return 0;
}

void guard_rl_key_cidr(const struct guard_rl_key *k, struct cidr *c)
{
	memset(c, 0, sizeof(*c));
	c->family = k->family == 2 ? AF_INET : AF_INET6;
	c->prefixlen = k->prefixlen;
	memcpy(c->addr, k->addr, 16);
}

/* "auto: udp 48000 pps > 10000", naming whichever limit the source broke. */
static void auto_reason(const struct aegis_config *cfg, const struct guard_rl_key *k,
			const struct guard_rl_state *st, char *buf, size_t len)
{
	const struct cfg_rate *lim = &cfg->rl[k->rl_class < GUARD_RL_CLASS_COUNT ? k->rl_class : 0];
	const char *cls = guard_rl_class_name(k->rl_class);

	if (lim->pps && st->last_rate_pps > lim->pps)
		snprintf(buf, len, "auto: %s %llu pps > %u", cls, (unsigned long long)st->last_rate_pps, lim->pps);
	else if (lim->bps && st->last_rate_bps > lim->bps)
		snprintf(buf, len, "auto: %s %llu B/s > %u", cls, (unsigned long long)st->last_rate_bps, lim->bps);
	else
		snprintf(buf, len, "auto: %s over its limit (%llu pps, %llu B/s)", cls,
			 (unsigned long long)st->last_rate_pps, (unsigned long long)st->last_rate_bps);
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

bool guard_rl_over_now(const struct guard_rl_state *st, uint64_t now)
{
	return st->over_since_ns && now - st->last_over_ns <= GUARD_RL_STREAK_GAP_NS;
}

void guard_rl_scan(struct guard *g, struct lists *l, const struct aegis_config *cfg)
{
	struct list_request rq = { .list = LIST_BLOCK, .origin = GUARD_ORIGIN_AUTO, .force = false };
	_cleanup_free_ struct guard_rl_key *keys = NULL;
	_cleanup_free_ struct guard_rl_state *sts = NULL;
	uint64_t now = now_monotonic_ns();
	size_t n;

	if (!g->running || !cfg->rl_auto_block_after_ns)
		return;
	n = guard_rl_read(g, &keys, &sts);
	rq.ttl_ns = cfg->rl_auto_block_ttl_ns;
	for (size_t i = 0; i < n; i++) {
		char reason[128], note[128], err[256], text[CIDR_STRLEN];
		struct cidr c;

		if (!over_long_enough(cfg, &sts[i], now))
			continue;
		guard_rl_key_cidr(&keys[i], &c);
		if (decisions_get(&l->store, LIST_BLOCK, &c, UNSCOPED) || decisions_get(&l->store, LIST_ALLOW, &c, UNSCOPED))
			continue;
		auto_reason(cfg, &keys[i], &sts[i], reason, sizeof(reason));
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
						       "rate_pps", (json_int_t)sts[i].last_rate_pps,
						       "rate_bps", (json_int_t)sts[i].last_rate_bps));
	}
}
