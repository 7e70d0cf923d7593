// SPDX-License-Identifier: GPL-2.0-only
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mapwalk.h"
#include "util.h"
#include "vis_flow.h"

#define TCP_CLOSE_STATE 7

static const char *const tcp_state_names[] = {
	"?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
	"CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE",
};

static const char *const close_names[] = {
	[VIS_CLOSE_NONE] = NULL,
	[VIS_CLOSE_TCP] = "tcp_close",
	[VIS_CLOSE_RELEASED] = "socket_closed",
	[VIS_CLOSE_IDLE] = "idle",
	[VIS_CLOSE_EVICTED] = "evicted",
};

static const char *const owner_sources[] = {
	[VIS_OWNER_NONE] = NULL,
	[VIS_OWNER_CONNECT] = "connect",
	[VIS_OWNER_SENDMSG] = "sendmsg",
	[VIS_OWNER_SEND] = "send",
	[VIS_OWNER_RECV] = "recv",
};

static uint64_t key_hash(const struct vis_flow_key *k)
{
	return hmap_hash(k, sizeof(*k));
}

static bool match_key(const void *item, const void *key)
{
	return memcmp(&((const struct vis_flowrec *)item)->key, key, sizeof(struct vis_flow_key)) == 0;
}

struct sockref {
	uint64_t cookie;
	const struct vis_sock *s;
};

static bool match_cookie(const void *item, const void *key)
{
	return ((const struct sockref *)item)->cookie == *(const uint64_t *)key;
}

void vis_flows_init(struct vis_flows *t, uint32_t max_closed)
{
	memset(t, 0, sizeof(*t));
	t->max_closed = max_closed;
}

void vis_flows_free(struct vis_flows *t)
{
	struct vis_flowrec *f;
	size_t i = 0;

	while ((f = hmap_next(&t->by_key, &i)))
		free(f);
	hmap_free(&t->by_key);
	free(t->frame);
	memset(t, 0, sizeof(*t));
}

static void mark(struct vis_flows *t, struct vis_flowrec *f, uint8_t bit)
{
	if (!f->frame_bits) {
		if (vec_reserve((void **)&t->frame, &t->cap_frame, t->n_frame + 1, sizeof(*t->frame))) {
			log_once(LOG_LVL_WARN, "vis-flow-frame-oom", "visibility: out of memory for the frame");
			return;
		}
		t->frame[t->n_frame++] = f;
	}
	f->frame_bits |= bit;
}

void vis_flows_frame_reset(struct vis_flows *t)
{
	for (size_t i = 0; i < t->n_frame; i++)
		t->frame[i]->frame_bits = 0;
	t->n_frame = 0;
}

/* The kernel's last_ns is CLOCK_MONOTONIC_COARSE; the table keeps boot time. */
static uint64_t boot_of_mono(uint64_t mono)
{
	uint64_t b = now_boottime_ns(), m = now_monotonic_ns();

	return mono + (b > m ? b - m : 0);
}

static void take_counters(struct vis_flowrec *f, const struct vis_flow *v, bool fresh_entry)
{
	uint64_t last = boot_of_mono(v->last_ns);

	/* The coarse clock may lag the first packet's exact one by a jiffy. */
	if (last < v->first_ns)
		last = v->first_ns;

	for (int w = 0; w < 2; w++) {
		uint64_t b = fresh_entry ? 0 : f->map_bytes[w], p = fresh_entry ? 0 : f->map_packets[w];

		/* A counter below what was read before means a new entry we missed the start of. */
		f->bytes[w] += v->bytes[w] >= b ? v->bytes[w] - b : v->bytes[w];
		f->packets[w] += v->packets[w] >= p ? v->packets[w] - p : v->packets[w];
		f->map_bytes[w] = v->bytes[w];
		f->map_packets[w] = v->packets[w];
	}
	f->map_first_ns = v->first_ns;
	if (last > f->last_ns)
		f->last_ns = last;
}

static struct vis_flowrec *new_rec(struct vis_flows *t, const struct vis_flow_key *k, const struct vis_flow *v)
{
	struct vis_flowrec *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->key = *k;
	f->first_ns = v->first_ns;
	f->first_way = v->first_way;
	memcpy(f->laddr, v->laddr, sizeof(f->laddr));
	f->lport = v->lport;
	if (hmap_put(&t->by_key, key_hash(k), f)) {
		free(f);
		return NULL;
	}
	t->n_open++;
	take_counters(f, v, true);
	mark(t, f, VIS_FRAME_NEW);
	return f;
}

static void reopen(struct vis_flows *t, struct vis_flowrec *f)
{
	f->state = VIS_FLOW_OPEN;
	f->close_reason = VIS_CLOSE_NONE;
	f->end_ns = 0;
	t->n_closed--;
	t->n_open++;
}

/* Keys to delete from the kernel maps at the end of a refresh, in one batch each. */
struct pending {
	void *keys;
	size_t n, cap, size;
};

static void pending_add(struct pending *p, const void *key)
{
	if (vec_reserve(&p->keys, &p->cap, p->n + 1, p->size))
		return;	/* stays in the map: removed at a later refresh */
	memcpy((char *)p->keys + p->n++ * p->size, key, p->size);
}

/*
 * One entry of vis_flows; returns its record, or NULL for packets that came after the flow was
 * closed (a reset, a last ACK), which are added to it and their entry removed again.
 */
static struct vis_flowrec *update(struct vis_flows *t, struct pending *del, const struct vis_flow_key *k,
				  const struct vis_flow *v)
{
	struct vis_flowrec *f = hmap_get(&t->by_key, key_hash(k), k, match_key);
	bool fresh;

	if (!f)
		return new_rec(t, k, v);
	fresh = v->first_ns != f->map_first_ns;
	if (f->state == VIS_FLOW_CLOSED) {
		bool resumed = fresh && (f->close_reason == VIS_CLOSE_IDLE || f->close_reason == VIS_CLOSE_EVICTED);

		if (!resumed) {
			take_counters(f, v, fresh);
			pending_add(del, k);
			return NULL;
		}
		reopen(t, f);
	}
	if (fresh || v->bytes[0] != f->map_bytes[0] || v->bytes[1] != f->map_bytes[1])
		mark(t, f, VIS_FRAME_CHANGED);
	take_counters(f, v, fresh);
	return f;
}

static void join_sock(struct vis_flowrec *f, const struct vis_flow *v, const struct hmap *socks)
{
	const struct sockref *r = hmap_get(socks, hmap_hash_u64(f->key.cookie), &f->key.cookie, match_cookie);

	f->sock_seen = r != NULL;
	if (r) {
		struct vis_sock prev = f->sock;

		f->sock = *r->s;
		f->has_sock = true;
		/* The owner stays once known, even if the socket's entry lost it (evicted, made again). */
		if (!f->sock.owner_tgid && prev.owner_tgid) {
			f->sock.owner_tgid = prev.owner_tgid;
			f->sock.owner_ktime = prev.owner_ktime;
			f->sock.owner_pid = prev.owner_pid;
			f->sock.owner_uid = prev.owner_uid;
			f->sock.owner_source = prev.owner_source;
			f->sock.cgroup_id = prev.cgroup_id;
			memcpy(f->sock.comm, prev.comm, sizeof(prev.comm));
		}
	}
	if (!f->sock.owner_tgid && v && v->owner_tgid) {
		f->sock.owner_tgid = v->owner_tgid;
		f->sock.owner_ktime = v->owner_ktime;
	}
}

/* An owner captured before its process was in vis_procs: the process running under that pid. */
static void infer_owner(struct vis_flowrec *f, const struct vis_procs *procs)
{
	const struct vis_process *p;

	if (!f->sock.owner_tgid || f->sock.owner_ktime)
		return;
	p = vis_procs_running(procs, f->sock.owner_tgid);
	if (p && (!f->sock.owner_ns || p->start_ns <= f->sock.owner_ns)) {
		f->sock.owner_ktime = p->id.ktime;
		f->owner_inferred = true;
	}
}

static uint8_t close_reason(const struct vis_flowrec *f, uint64_t now, const struct vis_flows_config *cfg)
{
	if (!f->seen)
		return VIS_CLOSE_EVICTED;
	if (f->has_sock && f->key.proto == 6 && f->sock.tcp_state == TCP_CLOSE_STATE)
		return VIS_CLOSE_TCP;
	if (f->has_sock && f->sock.released)
		return VIS_CLOSE_RELEASED;
	/* TCP closes by its states, unless its socket entry is gone: then only silence tells. */
	if ((f->key.proto == 17 || !f->sock_seen) && cfg->idle_timeout_ns && now > f->last_ns + cfg->idle_timeout_ns)
		return VIS_CLOSE_IDLE;
	return VIS_CLOSE_NONE;
}

static void close_flow(struct vis_flows *t, struct vis_flowrec *f, uint8_t reason, struct pending *del, uint64_t now)
{
	f->state = VIS_FLOW_CLOSED;
	f->close_reason = reason;
	f->end_ns = reason == VIS_CLOSE_IDLE || reason == VIS_CLOSE_EVICTED ? f->last_ns :
		    f->sock.closed_ns ? f->sock.closed_ns : now;
	t->n_open--;
	t->n_closed++;
	mark(t, f, VIS_FRAME_ENDED);
	if (f->seen)
		pending_add(del, &f->key);
}

static bool match_u64(const void *item, const void *key)
{
	return *(const uint64_t *)item == *(const uint64_t *)key;
}

/* Sockets that are over and have no open flow left go from vis_socks. */
static void delete_done_socks(struct vis_flows *t, struct pending *del, const uint64_t *cookies,
			      const struct vis_sock *vals, size_t n)
{
	struct hmap open = {};
	struct vis_flowrec *f;
	size_t it = 0;

	while ((f = hmap_next(&t->by_key, &it)))
		if (f->state == VIS_FLOW_OPEN &&
		    !hmap_get(&open, hmap_hash_u64(f->key.cookie), &f->key.cookie, match_u64) &&
		    hmap_put(&open, hmap_hash_u64(f->key.cookie), &f->key.cookie))
			goto out;
	for (size_t i = 0; i < n; i++) {
		bool over = vals[i].released || vals[i].tcp_state == TCP_CLOSE_STATE;

		if (over && !hmap_get(&open, hmap_hash_u64(cookies[i]), &cookies[i], match_u64))
			pending_add(del, &cookies[i]);
	}
out:
	hmap_free(&open);
}

static uint64_t evictions(uint64_t inserts, uint64_t deletes, uint64_t entries, uint64_t before)
{
	uint64_t gone = inserts > deletes + entries ? inserts - deletes - entries : 0;

	return gone > before ? gone : before;
}

int vis_flows_refresh(struct vis_flows *t, const struct vis_procs *procs, int flows_fd, int socks_fd,
		      const struct vis_map_totals *totals, const struct vis_flows_config *cfg)
{
	_cleanup_free_ void *skeys = NULL, *svals = NULL, *fkeys = NULL, *fvals = NULL;
	_cleanup_free_ struct sockref *refs = NULL;
	const struct vis_flow_key *keys;
	const struct vis_flow *vals;
	uint64_t now = now_boottime_ns();
	struct pending del_flows = { .size = sizeof(struct vis_flow_key) }, del_socks = { .size = sizeof(uint64_t) };
	struct hmap socks = {};
	struct vis_flowrec *f;
	ssize_t ns, nf;
	size_t it = 0;
	int err = 0;

	ns = map_read_all(socks_fd, sizeof(uint64_t), sizeof(struct vis_sock), &skeys, &svals);
	nf = ns < 0 ? ns : map_read_all(flows_fd, sizeof(struct vis_flow_key), sizeof(struct vis_flow), &fkeys, &fvals);
	if (ns < 0 || nf < 0)
		return pr_err_errno((int)(ns < 0 ? ns : nf), "visibility: cannot read %s",
				    ns < 0 ? "vis_socks" : "vis_flows");
	/* Derived before this round deletes anything: the deletions so far match the read. */
	t->stats.flow_entries = (uint64_t)nf;
	t->stats.sock_entries = (uint64_t)ns;
	t->stats.flow_evictions = evictions(totals->flow_inserts, totals->flow_deletes, (uint64_t)nf,
					    t->stats.flow_evictions);
	t->stats.sock_evictions = evictions(totals->sock_inserts, totals->sock_deletes, (uint64_t)ns,
					    t->stats.sock_evictions);

	refs = calloc(ns ? (size_t)ns : 1, sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	for (ssize_t i = 0; i < ns; i++) {
		refs[i] = (struct sockref){ ((uint64_t *)skeys)[i], &((struct vis_sock *)svals)[i] };
		if (hmap_put(&socks, hmap_hash_u64(refs[i].cookie), &refs[i])) {
			err = -ENOMEM;
			goto out;
		}
	}
	while ((f = hmap_next(&t->by_key, &it)))
		f->seen = false;
	keys = fkeys;
	vals = fvals;
	for (ssize_t i = 0; i < nf; i++) {
		f = update(t, &del_flows, &keys[i], &vals[i]);
		if (!f)
			continue;
		f->seen = true;
		join_sock(f, &vals[i], &socks);
	}
	it = 0;
	while ((f = hmap_next(&t->by_key, &it))) {
		uint8_t why;

		if (f->state != VIS_FLOW_OPEN)
			continue;
		if (!f->seen)
			join_sock(f, NULL, &socks);
		infer_owner(f, procs);
		why = close_reason(f, now, cfg);
		if (why != VIS_CLOSE_NONE)
			close_flow(t, f, why, &del_flows, now);
	}
	delete_done_socks(t, &del_socks, skeys, svals, (size_t)ns);
	t->stats.flow_deletes = map_delete_keys(flows_fd, del_flows.keys, del_flows.n, del_flows.size);
	t->stats.sock_deletes = map_delete_keys(socks_fd, del_socks.keys, del_socks.n, del_socks.size);
out:
	free(del_flows.keys);
	free(del_socks.keys);
	hmap_free(&socks);
	return err;
}

static int by_end(const void *a, const void *b)
{
	const struct vis_flowrec *x = *(struct vis_flowrec *const *)a, *y = *(struct vis_flowrec *const *)b;

	return x->end_ns < y->end_ns ? -1 : x->end_ns > y->end_ns;
}

void vis_flows_expire(struct vis_flows *t, uint64_t now, uint64_t retention_ns)
{
	_cleanup_free_ struct vis_flowrec **closed = calloc(t->n_closed ? t->n_closed : 1, sizeof(*closed));
	struct vis_flowrec *f;
	size_t n = 0, it = 0, drop_extra;

	if (!closed)
		return;
	while ((f = hmap_next(&t->by_key, &it)))
		if (f->state == VIS_FLOW_CLOSED && !f->frame_bits && n < t->n_closed)
			closed[n++] = f;
	qsort(closed, n, sizeof(*closed), by_end);
	drop_extra = n > t->max_closed ? n - t->max_closed : 0;
	for (size_t i = 0; i < n; i++) {
		bool old = closed[i]->end_ns + retention_ns < now;

		if (!old && i >= drop_extra)
			break;
		if (!old)
			t->stats.flows_dropped++;
		hmap_del(&t->by_key, key_hash(&closed[i]->key), &closed[i]->key, match_key);
		t->n_closed--;
		free(closed[i]);
	}
}

bool vis_flow_owner(const struct vis_flowrec *f, struct vis_ident *id)
{
	if (!f->sock.owner_tgid)
		return false;
	id->tgid = f->sock.owner_tgid;
	id->ktime = f->sock.owner_ktime;
	return true;
}

static void addr_text(uint8_t family, const uint8_t *a, char *buf, size_t len)
{
	if (!inet_ntop(family == 2 ? AF_INET : AF_INET6, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

static const char *direction_name(const struct vis_flowrec *f)
{
	uint8_t d = f->sock.direction;

	if (f->key.proto == 17 && !d)
		d = f->first_way == VIS_OUT ? VIS_DIR_OUTBOUND : VIS_DIR_INBOUND;
	return d == VIS_DIR_OUTBOUND ? "outbound" : d == VIS_DIR_INBOUND ? "inbound" : "unknown";
}

static json_t *owner_json(const struct vis_procs *procs, const struct vis_flowrec *f)
{
	char id[VIS_EXEC_ID_LEN + 1], comm[VIS_COMM_LEN + 1];
	const struct vis_process *p;
	struct vis_ident ident;
	json_t *o;

	if (!vis_flow_owner(f, &ident))
		return json_null();
	memcpy(comm, f->sock.comm, VIS_COMM_LEN);
	comm[VIS_COMM_LEN] = '\0';
	p = ident.ktime ? vis_procs_get(procs, ident) : NULL;
	if (ident.ktime)
		vis_exec_id(procs, ident, id);
	o = json_pack("{s:i, s:s?, s:s?}", "pid", (int)ident.tgid, "exec_id", ident.ktime ? id : NULL,
		      "captured_by", owner_sources[f->sock.owner_source < 5 ? f->sock.owner_source : 0]);
	if (!o)
		return json_null();
	if (f->sock.owner_source) {
		json_object_set_new(o, "tid", json_integer(f->sock.owner_pid));
		json_object_set_new(o, "uid", json_integer(f->sock.owner_uid));
	}
	if (p) {
		json_object_set_new(o, "comm", json_string(p->comm));
		json_object_set_new(o, "binary", p->filename ? json_string(p->filename) : json_null());
		json_object_set_new(o, "running", json_boolean(p->state == VIS_PS_RUNNING));
	} else if (comm[0]) {
		json_object_set_new(o, "comm", json_string(comm));
	}
	if (f->owner_inferred)
		json_object_set_new(o, "inferred", json_true());
	return o;
}

static json_t *tcp_states_json(const struct vis_flowrec *f)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < f->sock.n_states && i < VIS_TCP_STATES_MAX; i++) {
		uint8_t s = f->sock.states[i];

		json_array_append_new(a, json_string(s < ARRAY_SIZE(tcp_state_names) ? tcp_state_names[s] : "?"));
	}
	if (a && f->sock.n_states > VIS_TCP_STATES_MAX)
		json_array_append_new(a, json_string("..."));
	return a;
}

json_t *vis_flow_json(const struct vis_procs *procs, const struct vis_flowrec *f)
{
	char la[INET6_ADDRSTRLEN], ra[INET6_ADDRSTRLEN], first[40], last[40];
	bool v4 = f->key.family == 2;
	json_t *j;

	addr_text(f->key.family, f->key.raddr, ra, sizeof(ra));
	/* The local address of an IPv4 flow: the first four bytes, as the kernel stored them. */
	addr_text(v4 ? 2 : 10, f->laddr, la, sizeof(la));
	vis_boot_time_text(f->first_ns, first, sizeof(first));
	vis_boot_time_text(f->last_ns, last, sizeof(last));
	j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:I}",
		      "protocol", f->key.proto == 6 ? "tcp" : "udp", "family", v4 ? "ipv4" : "ipv6",
		      "local_address", la, "local_port", ntohs(f->lport), "remote_address", ra,
		      "remote_port", ntohs(f->key.rport), "direction", direction_name(f), "state",
		      f->state == VIS_FLOW_OPEN ? "open" : "closed", "start_time", first, "last_seen", last,
		      "bytes_in", (json_int_t)f->bytes[VIS_IN], "bytes_out", (json_int_t)f->bytes[VIS_OUT],
		      "packets_in", (json_int_t)f->packets[VIS_IN], "packets_out",
		      (json_int_t)f->packets[VIS_OUT], "owner", owner_json(procs, f), "socket_cookie",
		      (json_int_t)f->key.cookie);
	if (!j)
		return json_object();
	if (f->state == VIS_FLOW_CLOSED) {
		vis_boot_time_text(f->end_ns, last, sizeof(last));
		json_object_set_new(j, "end_time", json_string(last));
		json_object_set_new(j, "close_reason", json_string(close_names[f->close_reason]));
	}
	if (f->key.proto == 6 && f->has_sock) {
		uint8_t s = f->sock.tcp_state;

		json_object_set_new(j, "tcp_state", json_string(s < ARRAY_SIZE(tcp_state_names) ? tcp_state_names[s] : "?"));
		json_object_set_new(j, "tcp_states", tcp_states_json(f));
	}
	if (f->sock.cgroup_id)
		json_object_set_new(j, "cgroup_id", json_integer((json_int_t)f->sock.cgroup_id));
	return j;
}
