/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `aegis top`: the busiest source prefixes, from the datapath's sampled per-source counters
 * (guard_top, see guard_settings.top_every). The agent reads the map once a second and keeps
 * the rates over the last interval, so a request costs no map walk.
 */
#ifndef AEGIS_GUARD_TOP_H
#define AEGIS_GUARD_TOP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "aegis/guard.h"
#include "config.h"
#include "guard.h"

struct top_sample {
	struct guard_rl_key key;
	struct guard_top_stats st;
};

struct top_rate {
	struct guard_rl_key key;
	__u64 pps[GUARD_TOP_VERDICTS], bps[GUARD_TOP_VERDICTS];	/* over the last interval */
	uint64_t packets, bytes;					/* since first seen (estimates) */
	uint64_t last_ns;						/* CLOCK_MONOTONIC_COARSE */
};

struct guard_top_view {
	struct top_sample *prev;	/* the last read, sorted by key */
	size_t n_prev;
	uint64_t prev_ns;		/* CLOCK_MONOTONIC of the last read; 0: none yet */
	struct top_rate *rates;		/* busiest first */
	size_t n_rates;
	uint64_t window_ns;		/* what the rates are measured over */
};

/* Once a second: reads guard_top and turns the change since the last read into rates. */
void guard_top_tick(struct guard_top_view *v, const struct guard *g);
/* The n busiest sources with their rates, totals and rate-limit state. */
json_t *guard_top_json(const struct guard_top_view *v, const struct guard *g,
		       const struct aegis_config *cfg, size_t n);
void guard_top_free(struct guard_top_view *v);

#endif
