// SPDX-License-Identifier: GPL-2.0-only
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ---- JSON text ---------------------------------------------------------------------------- */

/*
 * A flow is written as JSON text directly: under a flood of short connections every closed flow
 * becomes an event, and building then dumping jansson objects for each was most of the agent's
 * work. vis_flow_json() parses this text, so the text is the one definition of a flow's JSON.
 * One buffer, reused (the agent is one thread): no allocation per flow.
 */
static struct {
	char *s;
	size_t len, cap;
	bool oom;
} jb;

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
	free(jb.s);
	memset(&jb, 0, sizeof(jb));
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
 * One flow the kernel counts (an entry of vis_flows, or a TCP entry of vis_socks); returns its
 * record, or NULL for packets that came after the flow was closed (a reset, a last ACK), which
 * are added to it and their entry (del_key in del) removed again.
 */
static struct vis_flowrec *update(struct vis_flows *t, struct pending *del, const void *del_key,
				  const struct vis_flow_key *k, const struct vis_flow *v)
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
			pending_add(del, del_key);
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
	/* A TCP flow's entry is its socket's, which goes with the socket (delete_done_socks). */
	if (f->seen && !f->in_sock)
		pending_add(del, &f->key);
}

static bool match_u64(const void *item, const void *key)
{
	return *(const uint64_t *)item == *(const uint64_t *)key;
}

/* Sockets that are over and have no open flow left go from vis_socks (TCP ones to del_tcp). */
static void delete_done_socks(struct vis_flows *t, struct pending *del, struct pending *del_tcp,
			      const uint64_t *cookies, const struct vis_sock *vals, size_t n)
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
			pending_add(vals[i].proto == IPPROTO_TCP ? del_tcp : del, &cookies[i]);
	}
out:
	hmap_free(&open);
}

static uint64_t evictions(uint64_t inserts, uint64_t deletes, uint64_t entries, uint64_t before)
{
	uint64_t gone = inserts > deletes + entries ? inserts - deletes - entries : 0;

	return gone > before ? gone : before;
}

/* A TCP socket's flow, as vis_flows would hold it. */
static void tcp_flow_of(uint64_t cookie, const struct vis_sock *s, struct vis_flow_key *k, struct vis_flow *v)
{
	*k = (struct vis_flow_key){ .cookie = cookie, .rport = s->rport, .family = s->family, .proto = IPPROTO_TCP };
	memcpy(k->raddr, s->raddr, sizeof(k->raddr));
	*v = (struct vis_flow){ .first_ns = s->first_ns, .last_ns = s->last_ns, .owner_ktime = s->owner_ktime,
				.owner_tgid = s->owner_tgid, .lport = s->lport, .first_way = s->first_way };
	memcpy(v->bytes, s->bytes, sizeof(v->bytes));
	memcpy(v->packets, s->packets, sizeof(v->packets));
	memcpy(v->laddr, s->laddr, sizeof(v->laddr));
}

static void seen_flow(struct vis_flowrec *f, const struct vis_flow *v, const struct hmap *socks, bool in_sock)
{
	f->seen = true;
	f->in_sock = in_sock;
	join_sock(f, v, socks);
}

int vis_flows_refresh(struct vis_flows *t, const struct vis_procs *procs, int flows_fd, int socks_fd,
		      const struct vis_map_totals *totals, const struct vis_flows_config *cfg)
{
	_cleanup_free_ void *skeys = NULL, *svals = NULL, *fkeys = NULL, *fvals = NULL;
	_cleanup_free_ struct sockref *refs = NULL;
	const struct vis_flow_key *keys;
	const struct vis_flow *vals;
	const struct vis_sock *sv;
	const uint64_t *sk;
	uint64_t now = now_boottime_ns(), tcp_entries = 0;
	struct pending del_flows = { .size = sizeof(struct vis_flow_key) }, del_socks = { .size = sizeof(uint64_t) };
	struct pending del_tcp = { .size = sizeof(uint64_t) };
	struct hmap socks = {};
	struct vis_flowrec *f;
	size_t tcp_deleted;
	ssize_t ns, nf;
	size_t it = 0;
	int err = 0;

	ns = map_read_all(socks_fd, sizeof(uint64_t), sizeof(struct vis_sock), &skeys, &svals);
	nf = ns < 0 ? ns : map_read_all(flows_fd, sizeof(struct vis_flow_key), sizeof(struct vis_flow), &fkeys, &fvals);
	if (ns < 0 || nf < 0)
		return pr_err_errno((int)(ns < 0 ? ns : nf), "visibility: cannot read %s",
				    ns < 0 ? "vis_socks" : "vis_flows");
	sk = skeys;
	sv = svals;
	for (ssize_t i = 0; i < ns; i++)
		tcp_entries += sv[i].proto == IPPROTO_TCP;
	/* Derived before this round deletes anything: the deletions so far match the read. A TCP
	 * socket's entry is a flow from its insert. */
	t->stats.flow_entries = (uint64_t)nf + tcp_entries;
	t->stats.sock_entries = (uint64_t)ns;
	t->stats.flow_evictions = evictions(totals->flow_inserts, totals->flow_deletes, t->stats.flow_entries,
					    t->stats.flow_evictions);
	t->stats.sock_evictions = evictions(totals->sock_inserts, totals->sock_deletes, (uint64_t)ns,
					    t->stats.sock_evictions);

	refs = calloc(ns ? (size_t)ns : 1, sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	for (ssize_t i = 0; i < ns; i++) {
		refs[i] = (struct sockref){ sk[i], &sv[i] };
		if (hmap_put(&socks, hmap_hash_u64(refs[i].cookie), &refs[i])) {
			err = -ENOMEM;
			goto out;
		}
	}
	while ((f = hmap_next(&t->by_key, &it)))
		f->seen = false;
	/* TCP: the flows in their sockets' entries (those that had a packet). */
	for (ssize_t i = 0; i < ns; i++) {
		struct vis_flow_key k;
		struct vis_flow v;

		if (sv[i].proto != IPPROTO_TCP || !sv[i].first_ns)
			continue;
		tcp_flow_of(sk[i], &sv[i], &k, &v);
		f = update(t, &del_tcp, &sk[i], &k, &v);
		if (f)
			seen_flow(f, &v, &socks, true);
	}
	keys = fkeys;
	vals = fvals;
	for (ssize_t i = 0; i < nf; i++) {
		f = update(t, &del_flows, &keys[i], &keys[i], &vals[i]);
		if (f)
			seen_flow(f, &vals[i], &socks, false);
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
	delete_done_socks(t, &del_socks, &del_tcp, skeys, svals, (size_t)ns);
	tcp_deleted = map_delete_keys(socks_fd, del_tcp.keys, del_tcp.n, del_tcp.size);
	t->stats.tcp_flow_deletes = tcp_deleted;
	t->stats.flow_deletes = map_delete_keys(flows_fd, del_flows.keys, del_flows.n, del_flows.size);
	t->stats.sock_deletes = map_delete_keys(socks_fd, del_socks.keys, del_socks.n, del_socks.size) + tcp_deleted;
out:
	free(del_flows.keys);
	free(del_socks.keys);
	free(del_tcp.keys);
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

static void jb_grow(size_t need)
{
	size_t cap = jb.cap ? jb.cap : 2048;
	char *s;

	while (cap < need)
		cap *= 2;
	s = cap == jb.cap ? jb.s : realloc(jb.s, cap);
	if (!s) {
		jb.oom = true;
		return;
	}
	jb.s = s;
	jb.cap = cap;
}

__attribute__((format(printf, 1, 2))) static void jb_printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	for (int pass = 0; pass < 2 && !jb.oom; pass++) {
		va_start(ap, fmt);
		n = vsnprintf(jb.s + jb.len, jb.cap - jb.len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			jb.oom = true;
			return;
		}
		if ((size_t)n < jb.cap - jb.len) {
			jb.len += (size_t)n;
			return;
		}
		jb_grow(jb.len + (size_t)n + 1);
	}
}

static void jb_putc(char c)
{
	if (jb.len + 2 > jb.cap)
		jb_grow(jb.len + 2);
	if (jb.oom)
		return;
	jb.s[jb.len++] = c;
	jb.s[jb.len] = '\0';
}

static void jb_puts(const char *str)
{
	size_t n = strlen(str);

	if (jb.len + n + 1 > jb.cap)
		jb_grow(jb.len + n + 1);
	if (jb.oom)
		return;
	memcpy(jb.s + jb.len, str, n + 1);
	jb.len += n;
}

static void jb_u64(uint64_t v)
{
	char d[24];
	int i = sizeof(d);

	d[--i] = '\0';
	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	jb_puts(d + i);
}

/* ,"key":value for a number, and ,"key":"text" for a text that needs no escaping. */
static void jb_num(const char *key, uint64_t v)
{
	jb_puts(",\"");
	jb_puts(key);
	jb_puts("\":");
	jb_u64(v);
}

static void jb_word(const char *key, const char *text)
{
	jb_puts(",\"");
	jb_puts(key);
	jb_puts("\":\"");
	jb_puts(text);
	jb_putc('"');
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;

		if (!len || i + len > n || (len == 2 && c < 0xc2))
			return false;
		for (size_t k = 1; k < len; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

/* A JSON string; bytes that are not UTF-8 become '?', as the process table's texts do. */
static void put_str(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	bool utf8 = utf8_valid((const unsigned char *)s, n);

	jb_putc('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			jb_printf("\\%c", c);
		else if (c < 0x20)
			jb_printf("\\u%04x", c);
		else
			jb_putc(c >= 0x80 && !utf8 ? '?' : (char)c);
	}
	jb_putc('"');
}

/*
 * A CLOCK_BOOTTIME instant as RFC 3339 wall-clock text (as vis_boot_time_text), with the
 * boot-to-wall offset read once per flow and the date part kept for the second it names: a
 * flood's flows fall in the same few seconds.
 */
static void put_time(const char *key, uint64_t boot_ns, uint64_t wall_minus_boot)
{
	static char date[32];
	static time_t date_sec = -1;
	uint64_t wall = boot_ns + wall_minus_boot;
	time_t sec = (time_t)(wall / NSEC_PER_SEC);
	unsigned ms = (unsigned)((wall % NSEC_PER_SEC) / NSEC_PER_MSEC);
	char text[40];

	if (sec != date_sec) {
		struct tm tm;

		gmtime_r(&sec, &tm);
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
		date_sec = sec;
	}
	snprintf(text, sizeof(text), "%s.%03uZ", date, ms);
	jb_word(key, text);
}

static void put_owner(const struct vis_procs *procs, const struct vis_flowrec *f)
{
	char id[VIS_EXEC_ID_LEN + 1];
	const struct vis_process *p;
	struct vis_ident ident;
	uint8_t src = f->sock.owner_source < 5 ? f->sock.owner_source : 0;

	if (!vis_flow_owner(f, &ident)) {
		jb_puts(",\"owner\":null");
		return;
	}
	jb_puts(",\"owner\":{\"pid\":");
	jb_u64(ident.tgid);
	if (ident.ktime) {
		vis_exec_id(procs, ident, id);
		jb_word("exec_id", id);
	}
	if (owner_sources[src])
		jb_word("captured_by", owner_sources[src]);
	if (f->sock.owner_source) {
		jb_num("tid", f->sock.owner_pid);
		jb_num("uid", f->sock.owner_uid);
	}
	p = ident.ktime ? vis_procs_get(procs, ident) : NULL;
	if (p) {
		jb_puts(",\"comm\":");
		put_str(p->comm, sizeof(p->comm));
		jb_puts(",\"binary\":");
		if (p->filename)
			put_str(p->filename, SIZE_MAX);
		else
			jb_puts("null");
		jb_puts(p->state == VIS_PS_RUNNING ? ",\"running\":true" : ",\"running\":false");
	} else if (f->sock.comm[0]) {
		jb_puts(",\"comm\":");
		put_str(f->sock.comm, VIS_COMM_LEN);
	}
	if (f->owner_inferred)
		jb_puts(",\"inferred\":true");
	jb_putc('}');
}

static const char *tcp_state_name(uint8_t s)
{
	return s < ARRAY_SIZE(tcp_state_names) ? tcp_state_names[s] : "?";
}

const char *vis_flow_text(const struct vis_procs *procs, const struct vis_flowrec *f, const char *event,
			  bool is_new, size_t *len)
{
	char la[INET6_ADDRSTRLEN], ra[INET6_ADDRSTRLEN];
	uint64_t rt = now_realtime_ns(), bt = now_boottime_ns();
	bool v4 = f->key.family == 2;

	jb.len = 0;
	jb.oom = false;
	jb_grow(1);
	addr_text(f->key.family, f->key.raddr, ra, sizeof(ra));
	/* The local address of an IPv4 flow: the first four bytes, as the kernel stored them. */
	addr_text(v4 ? 2 : 10, f->laddr, la, sizeof(la));
	jb_puts(f->key.proto == 6 ? "{\"protocol\":\"tcp\"" : "{\"protocol\":\"udp\"");
	jb_word("family", v4 ? "ipv4" : "ipv6");
	jb_word("local_address", la);
	jb_num("local_port", ntohs(f->lport));
	jb_word("remote_address", ra);
	jb_num("remote_port", ntohs(f->key.rport));
	jb_word("direction", direction_name(f));
	jb_word("state", f->state == VIS_FLOW_OPEN ? "open" : "closed");
	put_time("start_time", f->first_ns, rt - bt);
	put_time("last_seen", f->last_ns, rt - bt);
	jb_num("bytes_in", f->bytes[VIS_IN]);
	jb_num("bytes_out", f->bytes[VIS_OUT]);
	jb_num("packets_in", f->packets[VIS_IN]);
	jb_num("packets_out", f->packets[VIS_OUT]);
	put_owner(procs, f);
	/* Signed, as jansson's integers: a cookie past 2^63 reads back the same. */
	jb_printf(",\"socket_cookie\":%lld", (long long)f->key.cookie);
	if (f->state == VIS_FLOW_CLOSED) {
		put_time("end_time", f->end_ns, rt - bt);
		jb_word("close_reason", close_names[f->close_reason]);
	}
	if (f->key.proto == 6 && f->has_sock) {
		jb_word("tcp_state", tcp_state_name(f->sock.tcp_state));
		jb_puts(",\"tcp_states\":[");
		for (unsigned i = 0; i < f->sock.n_states && i < VIS_TCP_STATES_MAX; i++) {
			jb_puts(i ? ",\"" : "\"");
			jb_puts(tcp_state_name(f->sock.states[i]));
			jb_putc('"');
		}
		jb_puts(f->sock.n_states > VIS_TCP_STATES_MAX ? ",\"...\"]" : "]");
	}
	if (f->sock.cgroup_id)
		jb_printf(",\"cgroup_id\":%lld", (long long)f->sock.cgroup_id);
	if (is_new)
		jb_puts(",\"new\":true");
	if (event)
		jb_word("event", event);
	jb_putc('}');
	if (jb.oom)
		return NULL;
	*len = jb.len;
	return jb.s;
}

json_t *vis_flow_json(const struct vis_procs *procs, const struct vis_flowrec *f)
{
	size_t len;
	const char *text = vis_flow_text(procs, f, NULL, false, &len);
	json_t *j = text ? json_loadb(text, len, 0, NULL) : NULL;

	return j ? j : json_object();
}
