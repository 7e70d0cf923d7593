/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef AEGIS_GUARD_RL_H
#define AEGIS_GUARD_RL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "guard.h"
#include "lists.h"

/* Once a second: blocks (origin auto, with a TTL and the rate as reason) sources that stayed over. */
void guard_rl_scan(struct guard *g, struct lists *l, const struct aegis_config *cfg);
/* Every rate-limit bucket (keys and states into fresh arrays, free() them): how many, 0 on error. */
size_t guard_rl_read(const struct guard *g, struct guard_rl_key **keys, struct guard_rl_state **sts);
/* Over its limit now: the last over-limit packet came within GUARD_RL_STREAK_GAP_NS of now. */
bool guard_rl_over_now(const struct guard_rl_state *st, uint64_t now);
/* The source prefix of a bucket (or of a guard_top entry, which has the same key). */
void guard_rl_key_cidr(const struct guard_rl_key *k, struct cidr *c);

#endif
