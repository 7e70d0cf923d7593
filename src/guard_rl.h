/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef AEGIS_GUARD_RL_H
#define AEGIS_GUARD_RL_H

#include <jansson.h>

#include "config.h"
#include "guard.h"
#include "lists.h"

/* Once a second: blocks (origin auto, with a TTL and the rate as reason) sources that stayed over. */
void guard_rl_scan(struct guard *g, struct lists *l, const struct aegis_config *cfg);
/* The busiest source prefixes by offered packet rate, from the rate-limit buckets. */
json_t *guard_rl_top(const struct guard *g, const struct aegis_config *cfg, size_t limit);

#endif
