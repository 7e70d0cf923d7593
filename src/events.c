// SPDX-License-Identifier: GPL-2.0-only
#include <string.h>

#include "events.h"
#include "util.h"

static json_t *ring[EVENTS_KEPT];
static uint64_t next_seq = 1;	/* seq 0 means "from the oldest kept" to readers */
static void (*notify)(void);

void events_set_notify(void (*fn)(void))
{
	notify = fn;
}

uint64_t events_next_seq(void)
{
	return next_seq;
}

static uint64_t oldest_seq(void)
{
	return next_seq > EVENTS_KEPT ? next_seq - EVENTS_KEPT : 1;
}

static bool type_wanted(const char *types, const char *type);

uint64_t events_tail_seq(size_t n, const char *types)
{
	uint64_t oldest = oldest_seq(), seq = next_seq;

	/* A reader of one type wants its last n, not what is left of it among the last n of all. */
	while (n && seq > oldest) {
		json_t *ev = ring[--seq % EVENTS_KEPT];

		if (ev && type_wanted(types, json_string_value(json_object_get(ev, "type"))))
			n--;
	}
	return seq;
}

void events_publish(const char *type, json_t *ev)
{
	char when[40];
	size_t slot = next_seq % EVENTS_KEPT;

	if (!ev)
		return;
	format_rfc3339(now_realtime_ns(), when, sizeof(when));
	json_object_set_new(ev, "seq", json_integer((json_int_t)next_seq));
	json_object_set_new(ev, "type", json_string(type));
	if (!json_object_get(ev, "time"))
		json_object_set_new(ev, "time", json_string(when));
	json_decref(ring[slot]);
	ring[slot] = ev;
	next_seq++;
	if (notify)
		notify();
}

static bool type_wanted(const char *types, const char *type)
{
	size_t n = strlen(type);

	if (!types || !*types)
		return true;
	for (const char *p = types; *p;) {
		size_t len = strcspn(p, ",");

		if (len == n && strncmp(p, type, n) == 0)
			return true;
		p += len;
		if (*p == ',')
			p++;
	}
	return false;
}

json_t *events_read(uint64_t since, const char *types, size_t max, uint64_t *next, uint64_t *missed)
{
	uint64_t oldest = oldest_seq(), seq;
	json_t *out = json_array();

	*missed = since && since < oldest ? oldest - since : 0;
	seq = since < oldest ? oldest : since;
	for (; seq < next_seq && json_array_size(out) < max; seq++) {
		json_t *ev = ring[seq % EVENTS_KEPT];

		if (ev && type_wanted(types, json_string_value(json_object_get(ev, "type"))))
			json_array_append(out, ev);
	}
	*next = seq;
	return out;
}

void events_free(void)
{
	for (size_t i = 0; i < EVENTS_KEPT; i++) {
		json_decref(ring[i]);
		ring[i] = NULL;
	}
}
