// SPDX-License-Identifier: GPL-2.0-only
/*
 * The user side of host visibility without the kernel: the hash table under it, exec_ids
 * (round trip, another boot, garbage), container ids from cgroup paths, and the process table
 * fed with records as the kernel writes them: fork, exec and exit, pid reuse, a lost exit
 * record, a stale record from before the agent's start, a record of a bad size, ancestry,
 * reconciling with vis_procs, and retention; a flow's JSON text.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hmap.h"
#include "test.h"
#include "util.h"
#include "vis_flow.h"
#include "vis_proc.h"

struct item {
	uint64_t key;
	int value;
};

static bool match_item(const void *item, const void *key)
{
	return ((const struct item *)item)->key == *(const uint64_t *)key;
}

TEST(vis_hmap_collisions_and_deletes)
{
	enum { N = 5000 };
	struct item *items = calloc(N, sizeof(*items));
	struct hmap m = {};
	size_t it = 0, seen = 0;
	bool ok = true;

	if (!ASSERT_TRUE(items, "calloc"))
		return;
	/* Seven hash values for 5000 keys: long runs, wrapped around the table's end. */
	for (int i = 0; i < N; i++) {
		items[i] = (struct item){ .key = (uint64_t)i * 1000003, .value = i };
		ok &= ASSERT_OK(hmap_put(&m, (uint64_t)(i % 7) * 0x9e3779b97f4a7c15ULL, &items[i]), "put");
	}
	ASSERT_EQ(m.count, N, "count");
	for (int i = 0; i < N && ok; i++) {
		struct item *x = hmap_get(&m, (uint64_t)(i % 7) * 0x9e3779b97f4a7c15ULL, &items[i].key, match_item);

		ok &= ASSERT_TRUE(x == &items[i], "get every key");
	}
	for (int i = 0; i < N; i += 2)
		ok &= ASSERT_TRUE(hmap_del(&m, (uint64_t)(i % 7) * 0x9e3779b97f4a7c15ULL, &items[i].key, match_item) == &items[i], "del");
	for (int i = 0; i < N && ok; i++) {
		struct item *x = hmap_get(&m, (uint64_t)(i % 7) * 0x9e3779b97f4a7c15ULL, &items[i].key, match_item);

		ok &= ASSERT_TRUE(i % 2 ? x == &items[i] : x == NULL, "after deleting the even keys");
	}
	while (hmap_next(&m, &it))
		seen++;
	ASSERT_EQ(seen, N / 2, "iteration sees what is left");
	ASSERT_TRUE(hmap_del(&m, 1, &items[0].key, match_item) == NULL, "deleting a missing key");
	hmap_free(&m);
	free(items);
}

TEST(vis_container_ids)
{
	static const char hex[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	static const struct {
		const char *fmt;
		bool found;
	} cases[] = {
		{ "/system.slice/docker-%s.scope", true },
		{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice/cri-containerd-%s.scope", true },
		{ "/docker/%s", true },
		{ "/machine.slice/libpod-%s.scope/container", true },
		{ "/user.slice/user-0.slice/session-1%s.scope", false },	/* 65 hex digits in a row */
		{ "/user.slice/user-0.slice/session-1.scope", false },
		{ "/", false },
	};
	char path[512], id[65];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(path, sizeof(path), cases[i].fmt, hex);
		ASSERT_EQ(vis_container_id(path, id), cases[i].found, path);
		if (cases[i].found)
			ASSERT_STREQ(id, hex, path);
		else
			ASSERT_STREQ(id, "", path);
	}
	snprintf(path, sizeof(path), "/docker/%.32s%.32s", "0123456789ABCDEF0123456789ABCDEF", hex);
	ASSERT_FALSE(vis_container_id(path, id), "upper-case hex is not a container id");
}

/* A record as the kernel writes it. */
static struct vis_proc_event rec(uint32_t kind, uint32_t tgid, uint64_t ktime, uint32_t ptgid, uint64_t pktime)
{
	struct vis_proc_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.tgid = ev.pid = tgid;
	ev.ppid = ptgid;
	ev.ktime = ktime;
	ev.ts_ns = ktime;
	ev.parent_tgid = ptgid;
	ev.parent_ktime = pktime;
	snprintf(ev.comm, sizeof(ev.comm), "t%u", tgid);
	if (kind == VIS_EV_EXEC)
		ev.proc_flags = VIS_PROC_EXECED;
	return ev;
}

static void feed(struct vis_procs *t, struct vis_proc_event *ev, const char *filename, const char *args,
		 size_t args_len)
{
	size_t size = VIS_PROC_EVENT_HDR_SIZE;

	if (ev->kind == VIS_EV_EXEC) {
		size_t fn = strlen(filename) + 1;

		memcpy(ev->data, filename, fn);
		memcpy(ev->data + fn, args, args_len);
		ev->filename_len = (uint16_t)fn;
		ev->args_len = (uint16_t)args_len;
		size += fn + args_len;
	}
	vis_procs_record(t, ev, size);
}

#define ID(k, t) ((struct vis_ident){ (k), (t) })

TEST(vis_exec_id_round_trip)
{
	struct vis_procs t;
	struct vis_ident id;
	char text[VIS_EXEC_ID_LEN + 1], other[VIS_EXEC_ID_LEN + 1];

	if (!ASSERT_OK(vis_procs_init(&t, 100), "init"))
		return;
	vis_exec_id(&t, ID(123456789012345ULL, 4194303), text);
	ASSERT_EQ(strlen(text), VIS_EXEC_ID_LEN, "length");
	ASSERT_OK(vis_exec_id_parse(&t, text, &id), "parse");
	ASSERT_EQ(id.ktime, 123456789012345ULL, "ktime back");
	ASSERT_EQ(id.tgid, 4194303, "tgid back");
	vis_exec_id(&t, ID(123456789012345ULL, 4194302), other);
	ASSERT_TRUE(strcmp(text, other) != 0, "another pid, another exec_id");
	vis_exec_id(&t, ID(123456789012346ULL, 4194303), other);
	ASSERT_TRUE(strcmp(text, other) != 0, "another start, another exec_id");
	t.boot_id[0] ^= 1;
	ASSERT_EQ(vis_exec_id_parse(&t, text, &id), -ESRCH, "another boot");
	t.boot_id[0] ^= 1;
	ASSERT_EQ(vis_exec_id_parse(&t, "short", &id), -EINVAL, "too short");
	text[5] = '*';
	ASSERT_EQ(vis_exec_id_parse(&t, text, &id), -EINVAL, "not base64url");
	vis_procs_free(&t);
}

TEST(vis_procs_fork_exec_exit_and_pid_reuse)
{
	static const char args[] = "sh\0-c\0exit 3";
	struct vis_procs t;
	struct vis_process *p;
	struct vis_proc_event ev;
	json_t *j;

	if (!ASSERT_OK(vis_procs_init(&t, 100), "init"))
		return;
	ev = rec(VIS_EV_EXEC, 10, 50, 1, 5);
	feed(&t, &ev, "/bin/bash", "bash", 5);
	ev = rec(VIS_EV_FORK, 1000, 100, 10, 50);
	feed(&t, &ev, NULL, NULL, 0);
	p = vis_procs_running(&t, 1000);
	if (!ASSERT_TRUE(p && p->origin == VIS_ORIGIN_FORK, "fork makes a running image"))
		goto out;
	ASSERT_STREQ(p->filename, "/bin/bash", "a fork runs its parent's program");

	ev = rec(VIS_EV_EXEC, 1000, 200, 10, 50);
	ev.prev_ktime = 100;
	feed(&t, &ev, "/bin/sh", args, sizeof(args));
	p = vis_procs_get(&t, ID(100, 1000));
	ASSERT_TRUE(p && p->state == VIS_PS_REPLACED && p->replaced_by.ktime == 200, "exec replaces the fork image");
	p = vis_procs_running(&t, 1000);
	ASSERT_TRUE(p && p->id.ktime == 200 && p->parent.ktime == 50 && p->parent.tgid == 10,
		    "the new image's parent is the one that forked the process");
	ASSERT_EQ(t.stats.exits_inferred, 0, "an exec is no lost exit");

	ev = rec(VIS_EV_EXIT, 1000, 200, 10, 50);
	ev.exit_status = 3 << 8;
	feed(&t, &ev, NULL, NULL, 0);
	p = vis_procs_get(&t, ID(200, 1000));
	ASSERT_TRUE(p && p->state == VIS_PS_EXITED && !vis_procs_running(&t, 1000), "exit ends it");
	j = vis_process_json(&t, p);
	ASSERT_EQ(json_integer_value(json_object_get(j, "exit_code")), 3, "exit code 3");
	ASSERT_EQ(json_array_size(json_object_get(j, "args")), 3, "three arguments");
	ASSERT_STREQ(json_string_value(json_array_get(json_object_get(j, "args"), 2)), "exit 3", "third argument");
	json_decref(j);

	/* The pid comes back: a new exec_id, the old one keeps its exit. */
	ev = rec(VIS_EV_FORK, 1000, 300, 10, 50);
	feed(&t, &ev, NULL, NULL, 0);
	ev = rec(VIS_EV_EXIT, 1000, 300, 10, 50);
	ev.exit_status = 9;	/* SIGKILL */
	feed(&t, &ev, NULL, NULL, 0);
	p = vis_procs_get(&t, ID(300, 1000));
	j = p ? vis_process_json(&t, p) : json_object();
	ASSERT_EQ(json_integer_value(json_object_get(j, "signal")), 9, "the reused pid was killed by signal 9");
	ASSERT_TRUE(json_is_null(json_object_get(j, "exit_code")), "no exit code for a signal");
	json_decref(j);
	p = vis_procs_get(&t, ID(200, 1000));
	ASSERT_TRUE(p && p->exit_status == 3 << 8, "the first process keeps its own exit");
	ASSERT_EQ(t.stats.exits_inferred, 0, "nothing inferred");
out:
	vis_procs_free(&t);
}

TEST(vis_procs_lost_and_stale_records)
{
	struct vis_procs t;
	struct vis_process *p;
	struct vis_proc_event ev;

	if (!ASSERT_OK(vis_procs_init(&t, 100), "init"))
		return;
	/* Two forks of one tgid without an exit between: the first one's exit record was lost. */
	ev = rec(VIS_EV_FORK, 2000, 400, 1, 1);
	feed(&t, &ev, NULL, NULL, 0);
	ev = rec(VIS_EV_FORK, 2000, 500, 1, 1);
	feed(&t, &ev, NULL, NULL, 0);
	p = vis_procs_get(&t, ID(400, 2000));
	ASSERT_TRUE(p && p->state == VIS_PS_EXITED && p->exit_inferred, "lost exit inferred");
	ASSERT_EQ(t.stats.exits_inferred, 1, "counted");

	/* A record older than the image the table has (it waited in the ring): history, not news. */
	ev = rec(VIS_EV_EXEC, 3000, 600, 1, 1);
	feed(&t, &ev, "/bin/true", "true", 5);
	ev = rec(VIS_EV_FORK, 3000, 550, 1, 1);
	feed(&t, &ev, NULL, NULL, 0);
	p = vis_procs_get(&t, ID(550, 3000));
	ASSERT_TRUE(p && p->state == VIS_PS_REPLACED && p->replaced_by.ktime == 600, "stale fork: replaced");
	p = vis_procs_running(&t, 3000);
	ASSERT_TRUE(p && p->id.ktime == 600, "the newer image keeps running");
	ASSERT_EQ(t.stats.exits_inferred, 1, "a stale record is no lost exit");

	/* Records of a bad size or kind are counted and ignored. */
	ev = rec(VIS_EV_EXEC, 4000, 700, 1, 1);
	ev.filename_len = 300;
	vis_procs_record(&t, &ev, VIS_PROC_EVENT_HDR_SIZE + 10);
	ev.kind = 77;
	vis_procs_record(&t, &ev, VIS_PROC_EVENT_HDR_SIZE);
	vis_procs_record(&t, &ev, 10);
	ASSERT_EQ(t.stats.bad_records, 3, "bad records counted");
	ASSERT_TRUE(!vis_procs_running(&t, 4000), "and not believed");
	vis_procs_free(&t);
}

TEST(vis_procs_ancestry)
{
	struct vis_procs t;
	struct vis_proc_event ev;
	char a[VIS_EXEC_ID_LEN + 1], b[VIS_EXEC_ID_LEN + 1];
	json_t *chain;

	if (!ASSERT_OK(vis_procs_init(&t, 100), "init"))
		return;
	ev = rec(VIS_EV_EXEC, 100, 10, 1, 0);
	feed(&t, &ev, "/bin/a", "a", 2);
	ev = rec(VIS_EV_FORK, 101, 20, 100, 10);
	feed(&t, &ev, NULL, NULL, 0);
	ev = rec(VIS_EV_FORK, 102, 30, 101, 20);
	feed(&t, &ev, NULL, NULL, 0);
	chain = vis_ancestry_json(&t, vis_procs_get(&t, ID(30, 102)));
	vis_exec_id(&t, ID(20, 101), a);
	vis_exec_id(&t, ID(10, 100), b);
	ASSERT_EQ(json_array_size(chain), 2, "two ancestors with an identity");
	ASSERT_STREQ(json_string_value(json_array_get(chain, 0)), a, "parent first");
	ASSERT_STREQ(json_string_value(json_array_get(chain, 1)), b, "then its parent");
	json_decref(chain);
	vis_procs_free(&t);
}

TEST(vis_procs_reconcile_with_the_kernel_table)
{
	/* Above any pid_max: kill(0) says ESRCH, as for a process that is gone. */
	uint32_t gone = 0x7ffffff0, me = (uint32_t)getpid();
	struct vis_proc in_map = { .ktime = now_boottime_ns(), .parent_tgid = (uint32_t)getppid() };
	struct vis_procs t;
	struct vis_process *p;
	struct vis_proc_event ev;

	if (!ASSERT_OK(vis_procs_init(&t, 100), "init"))
		return;
	t.args_max = 256;
	ev = rec(VIS_EV_FORK, gone, 100, 1, 1);
	feed(&t, &ev, NULL, NULL, 0);
	/* The kernel's table has us (no record came) and not `gone` (its exit record was lost). */
	vis_procs_reconcile(&t, &me, &in_map, 1);
	p = vis_procs_get(&t, ID(100, gone));
	ASSERT_TRUE(p && p->state == VIS_PS_EXITED && p->exit_inferred, "gone from the map and from /proc: exited");
	p = vis_procs_running(&t, me);
	ASSERT_TRUE(p && p->record_lost && p->origin == VIS_ORIGIN_PROC, "in the map without a record: from /proc");
	ASSERT_TRUE(p && p->filename && p->filename[0] == '/', "its binary from /proc/PID/exe");
	ASSERT_EQ(t.stats.records_inferred, 1, "records inferred");
	ASSERT_EQ(t.stats.exits_inferred, 1, "exits inferred");
	vis_procs_free(&t);
}

TEST(vis_procs_retention)
{
	struct vis_procs t;
	struct vis_proc_event ev;

	if (!ASSERT_OK(vis_procs_init(&t, 3), "init"))
		return;
	for (uint32_t i = 0; i < 10; i++) {
		ev = rec(VIS_EV_FORK, 5000 + i, 1000 + i, 1, 1);
		feed(&t, &ev, NULL, NULL, 0);
		ev = rec(VIS_EV_EXIT, 5000 + i, 1000 + i, 1, 1);
		ev.ts_ns = 2000 + i;
		feed(&t, &ev, NULL, NULL, 0);
	}
	vis_procs_frame_reset(&t);
	vis_procs_expire(&t, 2005, 1000);
	ASSERT_EQ(t.n_ended, 3, "at most max_ended ended images stay");
	ASSERT_EQ(t.stats.ended_dropped, 7, "the others dropped early and counted");
	ASSERT_TRUE(vis_procs_get(&t, ID(1009, 5009)) && !vis_procs_get(&t, ID(1006, 5006)), "the newest stay");
	vis_procs_expire(&t, 2008 + 1001, 1000);
	ASSERT_EQ(t.n_ended, 1, "past their retention they go");
	ASSERT_EQ(t.stats.ended_dropped, 7, "that is no early drop");
	vis_procs_free(&t);
}

/*
 * A flow's JSON is written as text (vis_flow_text): it must parse, carry every field as the
 * kernel's counters and the process table say, escape what a comm or a path may hold (quotes,
 * backslashes, control bytes; bytes that are not UTF-8 become '?'), and mark a history longer
 * than the kernel keeps.
 */
TEST(vis_flow_json_text)
{
	static const char path[] = "/opt/we\"ird\\dir/\xff" "bin";
	struct vis_flowrec f = {
		.key = { .cookie = 4242, .rport = htons(443), .family = 2, .proto = 6 },
		.first_ns = 1000000000, .last_ns = 2000000000, .end_ns = 3000000000,
		.bytes = { 1500, 64 }, .packets = { 3, 2 }, .lport = htons(40000),
		.state = VIS_FLOW_CLOSED, .close_reason = VIS_CLOSE_TCP, .has_sock = true,
		.sock = { .owner_tgid = 77, .owner_ktime = 500, .owner_pid = 78, .owner_uid = 1000,
			  .owner_source = VIS_OWNER_CONNECT, .direction = VIS_DIR_OUTBOUND, .tcp_state = 7,
			  .n_states = 9, .states = { 2, 1, 4, 5, 6, 7, 1, 1 }, .cgroup_id = 99 },
	};
	struct vis_proc_event ev;
	struct vis_procs t;
	const char *text;
	size_t len;
	json_t *j, *o, *st;

	if (!ASSERT_OK(vis_procs_init(&t, 100), "init"))
		return;
	ev = rec(VIS_EV_EXEC, 77, 500, 1, 5);
	snprintf(ev.comm, sizeof(ev.comm), "a\"b\\c\td");
	feed(&t, &ev, path, "x", 2);
	memcpy(f.key.raddr, (uint8_t[]){ 192, 0, 2, 1 }, 4);
	memcpy(f.laddr, (uint8_t[]){ 10, 0, 0, 7 }, 4);

	text = vis_flow_text(&t, &f, "closed", true, &len);
	if (!ASSERT_TRUE(text && len == strlen(text), "text"))
		goto out;
	j = json_loadb(text, len, 0, NULL);
	if (!ASSERT_TRUE(j, text))
		goto out;
	ASSERT_STREQ(json_string_value(json_object_get(j, "protocol")), "tcp", "protocol");
	ASSERT_STREQ(json_string_value(json_object_get(j, "remote_address")), "192.0.2.1", "remote address");
	ASSERT_EQ(json_integer_value(json_object_get(j, "remote_port")), 443, "remote port");
	ASSERT_STREQ(json_string_value(json_object_get(j, "local_address")), "10.0.0.7", "local address");
	ASSERT_EQ(json_integer_value(json_object_get(j, "local_port")), 40000, "local port");
	ASSERT_STREQ(json_string_value(json_object_get(j, "direction")), "outbound", "direction");
	ASSERT_EQ(json_integer_value(json_object_get(j, "bytes_in")), 1500, "bytes in");
	ASSERT_EQ(json_integer_value(json_object_get(j, "packets_out")), 2, "packets out");
	ASSERT_STREQ(json_string_value(json_object_get(j, "close_reason")), "tcp_close", "close reason");
	ASSERT_EQ(json_integer_value(json_object_get(j, "socket_cookie")), 4242, "cookie");
	ASSERT_EQ(json_integer_value(json_object_get(j, "cgroup_id")), 99, "cgroup id");
	ASSERT_TRUE(json_is_true(json_object_get(j, "new")), "new");
	ASSERT_STREQ(json_string_value(json_object_get(j, "event")), "closed", "event");
	ASSERT_EQ(strlen(json_string_value(json_object_get(j, "end_time"))), 24, "an RFC 3339 time with ms");
	st = json_object_get(j, "tcp_states");
	ASSERT_EQ(json_array_size(st), VIS_TCP_STATES_MAX + 1, "8 states and a mark for the 9th");
	ASSERT_STREQ(json_string_value(json_array_get(st, 0)), "SYN_SENT", "first state");
	ASSERT_STREQ(json_string_value(json_array_get(st, VIS_TCP_STATES_MAX)), "...", "more than kept");
	o = json_object_get(j, "owner");
	ASSERT_EQ(json_integer_value(json_object_get(o, "pid")), 77, "owner pid");
	ASSERT_EQ(json_integer_value(json_object_get(o, "tid")), 78, "owner tid");
	ASSERT_STREQ(json_string_value(json_object_get(o, "captured_by")), "connect", "captured by");
	ASSERT_STREQ(json_string_value(json_object_get(o, "comm")), "a\"b\\c\td", "comm escaped and back");
	ASSERT_STREQ(json_string_value(json_object_get(o, "binary")), "/opt/we\"ird\\dir/?bin", "not UTF-8: '?'");
	ASSERT_EQ(strlen(json_string_value(json_object_get(o, "exec_id"))), VIS_EXEC_ID_LEN, "exec_id");
	json_decref(j);

	/* Without an owner, as a frame lists it (no event, not new). */
	f.sock.owner_tgid = 0;
	f.state = VIS_FLOW_OPEN;
	j = vis_flow_json(&t, &f);
	ASSERT_TRUE(json_is_null(json_object_get(j, "owner")), "no owner: null");
	ASSERT_FALSE(json_object_get(j, "event") || json_object_get(j, "new") || json_object_get(j, "end_time"),
		     "no event, not new, not ended");
	json_decref(j);
out:
	vis_procs_free(&t);
}
