/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef AEGIS_GUARD_EVENTS_H
#define AEGIS_GUARD_EVENTS_H

#include <jansson.h>

#include "guard.h"
#include "lists.h"

struct ring_buffer;

struct guard_events_ctx {
	struct ring_buffer *rb;
	struct lists *lists;	/* for the reasons of the entries that matched */
	uint64_t received;
};

/* Opens the guard's ring buffer (nothing when the guard is not running). */
int guard_events_open(struct guard_events_ctx *ctx, const struct guard *g, struct lists *l);
/* The fd to watch with epoll, or -1. */
int guard_events_fd(const struct guard_events_ctx *ctx);
/* Turns every waiting record into a "drop" event. */
void guard_events_consume(struct guard_events_ctx *ctx);
void guard_events_close(struct guard_events_ctx *ctx);

json_t *guard_event_json(const struct guard_events_ctx *ctx, const struct guard_event *e);
const char *guard_rl_class_name(unsigned c);

#endif
