/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The agent's event stream: audit records, and (from the datapath) drop samples, auto-blocks,
 * process and flow events and visibility frames, kept in a bounded in-memory ring with sequence
 * numbers: the last EVENTS_KEPT events or EVENTS_MAX_BYTES of them (as compact JSON text),
 * whichever is less. Readers ask for what came after a sequence number and learn how many they
 * missed when the ring moved past them: losses are counted, never silent.
 */
#ifndef AEGIS_EVENTS_H
#define AEGIS_EVENTS_H

#include <jansson.h>
#include <stdint.h>

#define EVENTS_KEPT 65536
#define EVENTS_MAX_BYTES (64u << 20)

/* Adds "seq", "type" and "time" to ev (stolen) and keeps it; wakes waiting readers. */
void events_publish(const char *type, json_t *ev);
/*
 * The same for an event that is JSON text already (one object, without "seq", "type" or "time"
 * keys), for producers of many events that need no json_t: obj is copied. 0, or -ENOMEM/-EINVAL.
 */
int events_publish_text(const char *type, const char *obj, size_t len);
/* Called after each publish (the API wakes its long-polling readers). */
void events_set_notify(void (*fn)(void));

/*
 * Events with seq >= since (0: the oldest kept) whose type is in `types` (comma-separated,
 * NULL: all), at most max. *next is the seq to ask for next; *missed counts events that were
 * dropped from the ring before this reader got them.
 */
json_t *events_read(uint64_t since, const char *types, size_t max, uint64_t *next, uint64_t *missed);
/* The seq the next event will get. */
uint64_t events_next_seq(void);
/*
 * The seq of the last n kept events of these types (as in events_read), for "show the recent
 * ones, then follow".
 */
uint64_t events_tail_seq(size_t n, const char *types);
/* Bytes the kept events take (their JSON text). */
size_t events_bytes(void);
void events_free(void);

#endif
