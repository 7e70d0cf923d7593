// SPDX-License-Identifier: GPL-2.0-only
/*
 * The event stream (src/events.c): events come back as published, with seq, type and time; type
 * filters and tails; the count bound and the byte bound both drop the oldest first, and a reader
 * behind them is told how many it missed; an event published as text gets the same seq, type
 * and time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "test.h"

TEST(events_read_back_filter_and_tail)
{
	uint64_t first, next, missed, tail;
	json_t *evs;

	events_free();
	first = events_next_seq();
	for (int i = 0; i < 3; i++)
		events_publish("audit", json_pack("{s:i}", "n", i));
	events_publish("exec", json_pack("{s:s, s:[s,s]}", "binary", "/bin/sh", "args", "sh", "-c"));
	events_publish("exit", json_pack("{s:i}", "exit_code", 3));
	evs = events_read(first, "exec,exit", 100, &next, &missed);
	ASSERT_EQ(json_array_size(evs), 2, "two of the types asked for");
	ASSERT_EQ(missed, 0, "nothing missed");
	ASSERT_EQ(next, first + 5, "next after the last");
	ASSERT_STREQ(json_string_value(json_object_get(json_array_get(evs, 0), "type")), "exec", "type kept");
	ASSERT_EQ(json_integer_value(json_object_get(json_array_get(evs, 0), "seq")), first + 3, "seq kept");
	ASSERT_STREQ(json_string_value(json_array_get(json_object_get(json_array_get(evs, 0), "args"), 1)), "-c",
		     "the event as published");
	ASSERT_TRUE(json_is_string(json_object_get(json_array_get(evs, 1), "time")), "a time");
	json_decref(evs);
	tail = events_tail_seq(2, "audit");
	ASSERT_EQ(tail, first + 1, "the last two audit events start at the second");
	ASSERT_EQ(events_tail_seq(1, "exit"), first + 4, "the last exit");
}

TEST(events_byte_budget_drops_the_oldest)
{
	size_t big = 1u << 20;
	char *text = malloc(big + 1);
	uint64_t first, next, missed;
	int n = (int)(EVENTS_MAX_BYTES / big) + 8;
	json_t *evs;

	if (!ASSERT_TRUE(text, "malloc"))
		return;
	memset(text, 'x', big);
	text[big] = '\0';
	events_free();
	first = events_next_seq();
	for (int i = 0; i < n; i++)
		events_publish("frame", json_pack("{s:s, s:i}", "payload", text, "n", i));
	ASSERT_TRUE(events_bytes() <= EVENTS_MAX_BYTES, "within the byte budget");
	ASSERT_TRUE(events_bytes() > EVENTS_MAX_BYTES - 2 * big, "and the budget is used");
	evs = events_read(first, NULL, 1000, &next, &missed);
	ASSERT_TRUE(missed >= 8, "the oldest were dropped, and a reader from the start is told");
	ASSERT_EQ(missed + json_array_size(evs), (size_t)n, "missed + read = published");
	ASSERT_EQ(json_integer_value(json_object_get(json_array_get(evs, json_array_size(evs) - 1), "n")), n - 1,
		  "the newest is kept");
	json_decref(evs);
	free(text);
	events_free();
	ASSERT_EQ(events_bytes(), 0, "freed");
}

TEST(events_count_bound)
{
	uint64_t first, next, missed;
	json_t *evs;

	events_free();
	first = events_next_seq();
	for (int i = 0; i < EVENTS_KEPT + 10; i++)
		events_publish("exec", json_pack("{s:i}", "n", i));
	evs = events_read(first, "exec", 5, &next, &missed);
	ASSERT_EQ(missed, 10, "ten fell out of the ring");
	ASSERT_EQ(json_integer_value(json_object_get(json_array_get(evs, 0), "n")), 10, "the oldest kept");
	json_decref(evs);
	events_free();
}

TEST(events_publish_text_adds_seq_type_and_time)
{
	static const char obj[] = "{\"bytes\":3,\"peer\":\"x\"}";
	uint64_t first, next, missed;
	json_t *evs, *ev;

	events_free();
	first = events_next_seq();
	ASSERT_OK(events_publish_text("flow", obj, strlen(obj)), "an object");
	ASSERT_OK(events_publish_text("flow", "{}", 2), "an empty object");
	ASSERT_EQ(events_publish_text("flow", "[1]", 3), -EINVAL, "not an object");
	ASSERT_EQ(events_publish_text("flow", "{", 1), -EINVAL, "too short");
	ASSERT_EQ(events_next_seq(), first + 2, "refused ones take no seq");
	evs = events_read(first, "flow", 100, &next, &missed);
	ASSERT_EQ(json_array_size(evs), 2, "both read back");
	ev = json_array_get(evs, 0);
	ASSERT_EQ(json_integer_value(json_object_get(ev, "seq")), first, "seq");
	ASSERT_STREQ(json_string_value(json_object_get(ev, "type")), "flow", "type");
	ASSERT_TRUE(json_is_string(json_object_get(ev, "time")), "time");
	ASSERT_EQ(json_integer_value(json_object_get(ev, "bytes")), 3, "its own keys");
	ASSERT_STREQ(json_string_value(json_object_get(ev, "peer")), "x", "its own keys");
	ASSERT_EQ(json_object_size(json_array_get(evs, 1)), 3, "{}: seq, type and time");
	json_decref(evs);
}
