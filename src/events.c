// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "util.h"

/*
 * Events are kept as compact JSON text, not as jansson objects: an exec event takes ~400 bytes
 * so, ~2.5 KB as an object. They are parsed again when read; readers are few, writers many.
 */
struct slot {
	char *text;
	size_t len;
	char type[24];
};

static struct slot ring[EVENTS_KEPT];
static uint64_t next_seq = 1;	/* seq 0 means "from the oldest kept" to readers */
static uint64_t first_kept = 1;	/* the byte budget may have dropped events older than this */
static size_t bytes_kept;
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
	uint64_t by_count = next_seq > EVENTS_KEPT ? next_seq - EVENTS_KEPT : 1;

	return by_count > first_kept ? by_count : first_kept;
}

static bool type_wanted(const char *types, const char *type);

uint64_t events_tail_seq(size_t n, const char *types)
{
	uint64_t oldest = oldest_seq(), seq = next_seq;

	/* A reader of one type wants its last n, not what is left of it among the last n of all. */
	while (n && seq > oldest) {
		const struct slot *s = &ring[--seq % EVENTS_KEPT];

		if (s->text && type_wanted(types, s->type))
			n--;
	}
	return seq;
}

static void drop_slot(struct slot *s)
{
	bytes_kept -= s->len;
	free(s->text);
	s->text = NULL;
	s->len = 0;
}

/* Keeps text (taken) as the event with the next seq. */
static void keep(const char *type, char *text, size_t len)
{
	struct slot *s = &ring[next_seq % EVENTS_KEPT];

	drop_slot(s);
	s->text = text;
	s->len = len;
	snprintf(s->type, sizeof(s->type), "%s", type);
	bytes_kept += s->len;
	next_seq++;
	/* Over the byte budget, the oldest go first; readers count them as missed. */
	for (uint64_t seq = oldest_seq(); bytes_kept > EVENTS_MAX_BYTES && seq + 1 < next_seq; seq++) {
		drop_slot(&ring[seq % EVENTS_KEPT]);
		first_kept = seq + 1;
	}
	if (notify)
		notify();
}

void events_publish(const char *type, json_t *ev)
{
	char when[40];
	char *text;

	if (!ev)
		return;
	format_rfc3339(now_realtime_ns(), when, sizeof(when));
	json_object_set_new(ev, "seq", json_integer((json_int_t)next_seq));
	json_object_set_new(ev, "type", json_string(type));
	if (!json_object_get(ev, "time"))
		json_object_set_new(ev, "time", json_string(when));
	text = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(ev);
	if (!text)
		return;	/* out of memory: the seq stays free, so nothing reads as missed */
	keep(type, text, strlen(text));
}

int events_publish_text(const char *type, const char *obj, size_t len)
{
	char when[40], head[128], *text;
	int n;

	if (len < 2 || obj[0] != '{' || obj[len - 1] != '}')
		return -EINVAL;
	format_rfc3339(now_realtime_ns(), when, sizeof(when));
	/* The object's own keys follow ours: "{...}" loses its opening brace. */
	n = snprintf(head, sizeof(head), "{\"seq\":%llu,\"time\":\"%s\",\"type\":\"%s\"%s",
		     (unsigned long long)next_seq, when, type, len > 2 ? "," : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -EINVAL;
	text = malloc((size_t)n + len);
	if (!text)
		return -ENOMEM;
	memcpy(text, head, (size_t)n);
	memcpy(text + n, obj + 1, len - 1);
	text[(size_t)n + len - 1] = '\0';
	keep(type, text, (size_t)n + len - 1);
	return 0;
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
		const struct slot *s = &ring[seq % EVENTS_KEPT];
		json_t *ev;

		if (!s->text || !type_wanted(types, s->type))
			continue;
		ev = json_loadb(s->text, s->len, 0, NULL);
		if (ev)
			json_array_append_new(out, ev);
	}
	*next = seq;
	return out;
}

size_t events_bytes(void)
{
	return bytes_kept;
}

void events_free(void)
{
	for (size_t i = 0; i < EVENTS_KEPT; i++)
		drop_slot(&ring[i]);
	first_kept = next_seq;
}
