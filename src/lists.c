// SPDX-License-Identifier: GPL-2.0-only
#include <bpf/bpf.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bpfinfo.h"
#include "guard_hits.h"
#include "iface.h"
#include "lists.h"
#include "log.h"
#include "util.h"

#define MAX_REJECTS_SHOWN 20

/* The kernel enforces expiry on CLOCK_BOOTTIME; people and the state file use wall time. */
static uint64_t realtime_to_boot(uint64_t rt)
{
	uint64_t now_rt = now_realtime_ns(), now_boot = now_boottime_ns();

	if (!rt)
		return 0;
	return rt > now_rt ? now_boot + (rt - now_rt) : 1;	/* 1: already expired */
}

static uint64_t boot_to_realtime(uint64_t boot)
{
	uint64_t now_rt = now_realtime_ns(), now_boot = now_boottime_ns();

	if (!boot)
		return 0;
	return boot > now_boot ? now_rt + (boot - now_boot) : now_rt;
}

static struct prefix_table *table(const struct lists *l, enum decision_list list, int family)
{
	return l->guard ? guard_table(l->guard, list, family) : NULL;
}

static void to_attrs(const struct decision *d, struct prefix_attrs *a)
{
	memset(a, 0, sizeof(*a));
	a->created_ns = d->created_ns;
	a->expires_ns = realtime_to_boot(d->expires_ns);
	a->reason_id = d->reason_id;
	a->origin = d->origin;
}

static const char *list_text(enum decision_list list, int family, bool scoped)
{
	static const char *const names[2][2][2] = {
		{ { "IPv4 block", "IPv6 block" }, { "IPv4 allow", "IPv6 allow" } },
		{ { "IPv4 scoped block", "IPv6 scoped block" }, { "?", "?" } },
	};

	return names[scoped][list][family == AF_INET6];
}

/* The capacity in prefixes of a list as the kernel's maps were created, 0 if unknown. */
static uint32_t list_capacity(const struct lists *l, enum decision_list list, int family, bool scoped)
{
	struct prefix_table *t = scoped ? NULL : table(l, list, family);
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	struct prefix_table_stats st;
	int fd;

	if (t) {
		prefix_table_stats(t, &st);
		return (uint32_t)st.max_rules;
	}
	fd = scoped && l->guard ? guard_scoped_fd(l->guard, family) : -1;
	return fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) ? info.max_entries : 0;
}

static void full_list_error(const struct lists *l, enum decision_list list, int family, bool scoped,
			    char *err, size_t errlen)
{
	snprintf(err, errlen, "the %s list is full (capacity %u): raise %s (then `aegis agent "
		 "--cleanup` and a restart; the lists come back from the state directory)",
		 list_text(list, family, scoped), list_capacity(l, list, family, scoped),
		 guard_capacity_key(list, family, scoped));
}

/* ---- the datapath's "this list is empty" hints (guard_settings.empty_lists) ---- */

static uint32_t empty_bit(enum decision_list list, int family, bool scoped)
{
	bool v6 = family == AF_INET6;

	if (scoped)
		return v6 ? GUARD_EMPTY_BLOCK_SCOPED_V6 : GUARD_EMPTY_BLOCK_SCOPED_V4;
	if (list == LIST_ALLOW)
		return v6 ? GUARD_EMPTY_ALLOW_V6 : GUARD_EMPTY_ALLOW_V4;
	return v6 ? GUARD_EMPTY_BLOCK_V6 : GUARD_EMPTY_BLOCK_V4;
}

static bool kernel_list_empty(const struct lists *l, enum decision_list list, int family, bool scoped)
{
	struct prefix_table *t = scoped ? NULL : table(l, list, family);
	union {
		struct guard_lpm_scoped_v4 v4;
		struct guard_lpm_scoped_v6 v6;
	} key;
	struct prefix_table_stats st;
	int fd;

	if (t) {
		prefix_table_stats(t, &st);
		return st.prefixes == 0;
	}
	fd = scoped && l->guard ? guard_scoped_fd(l->guard, family) : -1;
	return fd >= 0 && bpf_map_get_next_key(fd, NULL, &key) && errno == ENOENT;
}

/* Before a list's first entry goes in: the datapath must look it up from now on. */
static int mark_in_use(struct lists *l, enum decision_list list, int family, bool scoped)
{
	return l->guard ? guard_set_list_empty(l->guard, empty_bit(list, family, scoped), false) : 0;
}

/* After a change: a list left with nothing in it is skipped by the datapath. */
static void mark_if_empty(struct lists *l, enum decision_list list, int family, bool scoped)
{
	if (l->guard && kernel_list_empty(l, list, family, scoped))
		guard_set_list_empty(l->guard, empty_bit(list, family, scoped), true);
}

static void refresh_empty_hints(struct lists *l)
{
	for (int f = AF_INET; f; f = f == AF_INET ? AF_INET6 : 0) {
		mark_if_empty(l, LIST_BLOCK, f, false);
		mark_if_empty(l, LIST_ALLOW, f, false);
		mark_if_empty(l, LIST_BLOCK, f, true);
	}
}

/* ---- protocol/port-scoped entries: an LPM trie whose key starts with proto and port ---- */

union scoped_key {
	struct guard_lpm_scoped_v4 v4;
	struct guard_lpm_scoped_v6 v6;
};

static void scoped_key(const struct decision *d, union scoped_key *k)
{
	memset(k, 0, sizeof(*k));
	if (d->cidr.family == AF_INET) {
		k->v4.prefixlen = GUARD_SCOPED_KEY_BITS + d->cidr.prefixlen;
		k->v4.proto = d->scope.proto;
		k->v4.port[0] = (uint8_t)(d->scope.port >> 8);
		k->v4.port[1] = (uint8_t)d->scope.port;
		memcpy(k->v4.addr, d->cidr.addr, 4);
	} else {
		k->v6.prefixlen = GUARD_SCOPED_KEY_BITS + d->cidr.prefixlen;
		k->v6.proto = d->scope.proto;
		k->v6.port[0] = (uint8_t)(d->scope.port >> 8);
		k->v6.port[1] = (uint8_t)d->scope.port;
		memcpy(k->v6.addr, d->cidr.addr, 16);
	}
}

static int scoped_put(struct lists *l, const struct decision *d, char *err, size_t errlen)
{
	int fd = guard_scoped_fd(l->guard, d->cidr.family);
	struct guard_rule rule = {}, cur;
	union scoped_key k;
	int e;

	if (fd < 0)
		return 0;
	e = mark_in_use(l, LIST_BLOCK, d->cidr.family, true);
	if (e) {
		snprintf(err, errlen, "cannot write the guard's settings: %s", errstr(e));
		return e;
	}
	scoped_key(d, &k);
	rule.created_ns = d->created_ns;
	rule.expires_ns = realtime_to_boot(d->expires_ns);
	rule.reason_id = d->reason_id;
	rule.origin = d->origin;
	rule.prefixlen = d->cidr.prefixlen;	/* drop records name the entry that matched */
	if (bpf_map_lookup_elem(fd, &k, &cur) == 0) {
		rule.hit_packets = cur.hit_packets;
		rule.hit_bytes = cur.hit_bytes;
		rule.last_hit_ns = cur.last_hit_ns;
	}
	if (!bpf_map_update_elem(fd, &k, &rule, BPF_ANY))
		return 0;
	e = -errno;
	mark_if_empty(l, LIST_BLOCK, d->cidr.family, true);
	if (e == -ENOSPC || e == -E2BIG)
		full_list_error(l, LIST_BLOCK, d->cidr.family, true, err, errlen);
	else
		snprintf(err, errlen, "cannot write the %s list: %s", list_text(LIST_BLOCK, d->cidr.family, true),
			 errstr(e));
	return e;
}

/* ---- the kernel side of one entry -------------------------------------------------------- */

/* Writes one entry; an existing kernel entry keeps its hit counters. */
static int kernel_put(struct lists *l, const struct decision *d, char *err, size_t errlen)
{
	struct prefix_table *t = table(l, (enum decision_list)d->list, d->cidr.family);
	struct prefix_attrs a;
	int e;

	if (d->scope.proto)
		return scoped_put(l, d, err, errlen);
	if (!t)
		return 0;
	to_attrs(d, &a);
	e = mark_in_use(l, (enum decision_list)d->list, d->cidr.family, false);
	if (!e)
		e = prefix_table_add(t, &d->cidr, &a, NULL);
	if (e)
		mark_if_empty(l, (enum decision_list)d->list, d->cidr.family, false);
	if (e == -ENOSPC)
		full_list_error(l, (enum decision_list)d->list, d->cidr.family, false, err, errlen);
	else if (e)
		snprintf(err, errlen, "cannot write the %s list: %s",
			 list_text((enum decision_list)d->list, d->cidr.family, false), errstr(e));
	return e;
}

static int kernel_del(struct lists *l, const struct decision *d)
{
	struct prefix_table *t = table(l, (enum decision_list)d->list, d->cidr.family);
	union scoped_key k;
	int fd, e;

	if (d->scope.proto) {
		fd = guard_scoped_fd(l->guard, d->cidr.family);
		if (fd < 0)
			return 0;
		scoped_key(d, &k);
		e = bpf_map_delete_elem(fd, &k) && errno != ENOENT ? -errno : 0;
		mark_if_empty(l, LIST_BLOCK, d->cidr.family, true);
		return e;
	}
	if (!t)
		return 0;
	e = prefix_table_delete(t, &d->cidr);
	mark_if_empty(l, (enum decision_list)d->list, d->cidr.family, false);
	return e == -ENOENT ? 0 : e;
}

/* A scoped entry's kernel record: 0, -ENODEV while the guard is not running, or -errno. */
static int scoped_lookup(const struct lists *l, const struct decision *d, struct guard_rule *rule)
{
	int fd = l->guard ? guard_scoped_fd(l->guard, d->cidr.family) : -1;
	union scoped_key k;

	if (fd < 0)
		return -ENODEV;
	scoped_key(d, &k);
	return bpf_map_lookup_elem(fd, &k, rule) ? -errno : 0;
}

/*
 * Hit counters of an entry, from the kernel; zeroes when it is not there. A prefix-table entry's
 * still lack the hits pending on CPUs: guard_entry_hits_pending() adds them.
 */
static void kernel_hits(const struct lists *l, const struct decision *d, struct guard_entry_hits *h,
			uint64_t *last_hit_boot)
{
	struct prefix_table *t = table(l, (enum decision_list)d->list, d->cidr.family);
	const struct prefix_rule *r;
	struct guard_rule rule;
	uint32_t id;

	memset(h, 0, sizeof(*h));
	*last_hit_boot = 0;
	if (d->scope.proto) {
		if (scoped_lookup(l, d, &rule) == 0) {
			h->packets = rule.hit_packets;
			h->bytes = rule.hit_bytes;
			*last_hit_boot = rule.last_hit_ns;
		}
		return;
	}
	id = t ? prefix_table_find(t, &d->cidr) : 0;
	r = t ? prefix_table_rule(t, id) : NULL;
	if (r) {
		guard_entry_hits_rule(h, r, id, guard_list_id((enum decision_list)d->list, d->cidr.family));
		*last_hit_boot = __atomic_load_n(&r->last_hit_ns, __ATOMIC_RELAXED);
	}
}

/* The kernel has the entry, or has no lists to have it in. */
static bool kernel_has(const struct lists *l, const struct decision *d)
{
	struct prefix_table *t = table(l, (enum decision_list)d->list, d->cidr.family);
	struct guard_rule rule;

	if (d->scope.proto) {
		int e = scoped_lookup(l, d, &rule);

		return e == 0 || e == -ENODEV;
	}
	return !t || prefix_table_find(t, &d->cidr) != 0;
}

/*
 * Many entries of one (list, family) at once: one pass over the prefix table for the whole
 * batch, which is what makes a million-line feed load in about a second. Either all of them
 * reach the kernel or none does (-ENOSPC leaves the table as it was).
 */
static int kernel_put_many(struct lists *l, enum decision_list list, int family,
			   const struct decision *const *ds, size_t n, char *err, size_t errlen)
{
	struct prefix_table *t = table(l, list, family);
	_cleanup_free_ struct cidr *c = NULL;
	_cleanup_free_ struct prefix_attrs *a = NULL;
	size_t unscoped = 0;
	int e;

	for (size_t i = 0; i < n; i++) {
		if (!ds[i]->scope.proto)
			continue;
		e = scoped_put(l, ds[i], err, errlen);
		if (e)
			return e;
	}
	if (!t || !n)
		return 0;
	c = malloc(n * sizeof(*c));
	a = malloc(n * sizeof(*a));
	if (!c || !a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (ds[i]->scope.proto)
			continue;
		c[unscoped] = ds[i]->cidr;
		to_attrs(ds[i], &a[unscoped++]);
	}
	e = unscoped ? mark_in_use(l, list, family, false) : 0;
	if (!e)
		e = prefix_table_load_each(t, c, unscoped, a, NULL);
	if (e)
		mark_if_empty(l, list, family, false);
	if (e == -ENOSPC)
		full_list_error(l, list, family, false, err, errlen);
	else if (e)
		snprintf(err, errlen, "cannot write the %s list: %s", list_text(list, family, false), errstr(e));
	return e;
}

/* ---- policy checks ---------------------------------------------------------------------- */

/* This host's default gateways, read once per request (an import checks every line). */
struct gateways {
	struct cidr v[8];
	size_t n;
};

static void read_gateways(struct gateways *gw)
{
	gw->n = iface_default_gateways(gw->v, ARRAY_SIZE(gw->v));
}

static int check_block_safety(const struct list_request *rq, const struct gateways *gw,
			      const struct cidr *c, char *err, size_t errlen)
{
	if (rq->list != LIST_BLOCK || rq->force)
		return 0;
	if (cidr_is_default(c)) {
		snprintf(err, errlen, "blocking %s drops all %s traffic: add --force if you mean it",
			 c->family == AF_INET ? "0.0.0.0/0" : "::/0", c->family == AF_INET ? "IPv4" : "IPv6");
		return -EPERM;
	}
	for (size_t i = 0; i < gw->n; i++) {
		if (cidr_contains(c, &gw->v[i])) {
			char a[CIDR_STRLEN], g[CIDR_STRLEN];

			cidr_format(c, a, sizeof(a));
			cidr_format(&gw->v[i], g, sizeof(g));
			snprintf(err, errlen, "%s contains this host's default gateway %s: add --force if you mean it", a, g);
			return -EPERM;
		}
	}
	return 0;
}

/* The entry a request makes; `now` and the reason id are the same for a whole import. */
static void fill_decision(const struct list_request *rq, const struct cidr *c, uint64_t now,
			  uint32_t reason_id, struct decision *d)
{
	memset(d, 0, sizeof(*d));
	d->cidr = *c;
	d->scope = rq->scope;
	d->list = (uint8_t)rq->list;
	d->origin = (uint8_t)rq->origin;
	d->created_ns = now;
	d->expires_ns = rq->ttl_ns ? now + rq->ttl_ns : 0;
	d->reason_id = reason_id;
}

/* "198.51.100.0/24", or "198.51.100.0/24 udp/53" for a scoped entry. */
static void entry_text(const struct cidr *c, struct decision_scope sc, char *buf, size_t len)
{
	char cidr[CIDR_STRLEN], scope[16];

	cidr_format(c, cidr, sizeof(cidr));
	scope_format(sc, scope, sizeof(scope));
	snprintf(buf, len, "%s%s%s", cidr, scope[0] ? " " : "", scope);
}

static json_t *decision_details(const struct lists *l, const struct decision *d)
{
	return json_pack("{s:s, s:s, s:I}", "origin", origin_names[d->origin], "reason",
			 decisions_reason(&l->store, d->reason_id), "ttl_seconds",
			 (json_int_t)(d->expires_ns ? (d->expires_ns - d->created_ns) / NSEC_PER_SEC : 0));
}

int lists_add(struct lists *l, const struct list_request *rq, const struct cidr *c, bool host_bits,
	      const struct actor *who, char *note, size_t notelen, char *err, size_t errlen)
{
	const struct decision *cur = decisions_get(&l->store, rq->list, c, rq->scope);
	char text[CIDR_STRLEN + 16], cidr[CIDR_STRLEN];
	struct decision d, old;
	struct gateways gw;
	int e, put;

	entry_text(c, rq->scope, text, sizeof(text));
	cidr_format(c, cidr, sizeof(cidr));
	note[0] = '\0';
	if (host_bits)
		snprintf(note, notelen, "host bits set: normalised to %s", cidr);
	read_gateways(&gw);
	e = rq->scope.proto && rq->list == LIST_ALLOW ? -EINVAL : 0;
	if (e)
		snprintf(err, errlen, "allow entries cannot be scoped to a protocol and port: the allow "
			 "list lets a source through whole");
	if (!e)
		e = check_block_safety(rq, &gw, c, err, errlen);
	if (!e && cur && cur->origin == GUARD_ORIGIN_CONFIG && rq->origin != GUARD_ORIGIN_CONFIG) {
		snprintf(err, errlen, "%s is in the %s list from the configuration file: change it there",
			 text, list_name(rq->list));
		e = -EEXIST;
	}
	if (e) {
		audit_log(who, list_name(rq->list), text, e, err, NULL);
		return e;
	}
	fill_decision(rq, c, now_realtime_ns(), decisions_reason_id(&l->store, rq->reason), &d);
	put = decisions_put(&l->store, &d, &old);
	if (put < 0) {
		snprintf(err, errlen, "out of memory");
		return put;
	}
	e = kernel_put(l, &d, err, errlen);
	if (e) {
		if (put == 1)
			decisions_del(&l->store, rq->list, c, rq->scope, NULL);
		else
			decisions_put(&l->store, &old, NULL);
	}
	audit_log(who, list_name(rq->list), text, e, e ? err : NULL, decision_details(l, &d));
	return e;
}

int lists_remove(struct lists *l, enum decision_list list, const struct cidr *c,
		 struct decision_scope scope, const struct actor *who, char *err, size_t errlen)
{
	const struct decision *cur = decisions_get(&l->store, list, c, scope);
	const char *op = list == LIST_ALLOW ? "unallow" : "unblock";
	char text[CIDR_STRLEN + 16];
	struct decision old;
	int e = 0;

	entry_text(c, scope, text, sizeof(text));
	if (!cur) {
		snprintf(err, errlen, "%s is not in the %s list", text, list_name(list));
		e = -ENOENT;
	} else if (cur->origin == GUARD_ORIGIN_CONFIG) {
		snprintf(err, errlen, "%s is in the %s list from the configuration file: remove it there",
			 text, list_name(list));
		e = -EPERM;
	} else {
		old = *cur;
		e = kernel_del(l, &old);
		if (e)
			snprintf(err, errlen, "cannot remove %s from the kernel: %s", text, errstr(e));
		else
			decisions_del(&l->store, list, c, scope, NULL);
	}
	audit_log(who, op, text, e, e ? err : NULL, NULL);
	return e;
}

/* ---- bulk import ------------------------------------------------------------------------ */

static void reject(struct import_result *res, size_t line, const char *text, const char *why)
{
	res->rejected++;
	if (json_array_size(res->rejects) < MAX_REJECTS_SHOWN)
		json_array_append_new(res->rejects, json_pack("{s:I, s:s, s:s}", "line", (json_int_t)line,
							      "text", text, "error", why));
}

/* The first field of a feed line, comments (# and ;) and blanks removed; NULL when none. */
static char *feed_token(char *line)
{
	char *end;

	line[strcspn(line, "#;")] = '\0';
	while (isspace((unsigned char)*line))
		line++;
	if (!*line)
		return NULL;
	for (end = line; *end && !isspace((unsigned char)*end); end++)
		;
	*end = '\0';
	return line;
}

struct pending {
	const struct decision **v[2][2];	/* [list][v6] */
	size_t n[2][2], cap[2][2];
};

static int pending_push(struct pending *p, const struct decision *d)
{
	int a = d->list, b = d->cidr.family == AF_INET6;

	if (p->n[a][b] == p->cap[a][b]) {
		size_t ncap = p->cap[a][b] ? p->cap[a][b] * 2 : 4096;
		const struct decision **nv = realloc(p->v[a][b], ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		p->v[a][b] = nv;
		p->cap[a][b] = ncap;
	}
	p->v[a][b][p->n[a][b]++] = d;
	return 0;
}

static void pending_free(struct pending *p)
{
	for (int a = 0; a < 2; a++)
		for (int b = 0; b < 2; b++)
			free(p->v[a][b]);
}

static int parse_feed(struct lists *l, const struct list_request *rq, char *text,
		      struct import_result *res, struct cidr **out, size_t *nout)
{
	size_t cap = 0, lineno = 0;
	struct gateways gw;

	read_gateways(&gw);
	*out = NULL;
	*nout = 0;
	for (char *line = text, *next; line && *line; line = next) {
		char why[160], orig[96];
		struct cidr c;
		bool host_bits;
		char *tok;

		/* By hand, not strtok: blank lines must still count for the line numbers. */
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		snprintf(orig, sizeof(orig), "%s", line);
		orig[strcspn(orig, "\r")] = '\0';
		tok = feed_token(line);
		if (!tok)
			continue;
		res->lines++;
		if (cidr_parse(tok, &c, &host_bits, why, sizeof(why))) {
			reject(res, lineno, orig, why);
			continue;
		}
		if (check_block_safety(rq, &gw, &c, why, sizeof(why))) {
			reject(res, lineno, orig, why);
			continue;
		}
		res->normalised += host_bits;
		if (*nout == cap) {
			struct cidr *nc = realloc(*out, (cap ? cap * 2 : 4096) * sizeof(*nc));

			if (!nc)
				return -ENOMEM;
			*out = nc;
			cap = cap ? cap * 2 : 4096;
		}
		(*out)[(*nout)++] = c;
	}
	(void)l;
	return 0;
}

int lists_import(struct lists *l, const struct list_request *rq, const char *text, size_t len,
		 const struct actor *who, struct import_result *res, char *err, size_t errlen)
{
	_cleanup_free_ char *copy = strndup(text, len);
	_cleanup_free_ struct cidr *cidrs = NULL;
	_cleanup_free_ bool *fresh = NULL;
	struct pending p = {};
	size_t n = 0;
	int e;

	memset(res, 0, sizeof(*res));
	res->rejects = json_array();
	if (!copy)
		return -ENOMEM;
	uint64_t now = now_realtime_ns(), t0 = now_monotonic_ns(), t1, t2;
	uint32_t reason_id = decisions_reason_id(&l->store, rq->reason);

	e = parse_feed(l, rq, copy, res, &cidrs, &n);
	fresh = n ? calloc(n, sizeof(*fresh)) : NULL;
	if (n && !fresh)
		e = -ENOMEM;
	for (size_t i = 0; !e && i < n; i++) {
		struct decision d;

		if (decisions_get(&l->store, rq->list, &cidrs[i], rq->scope)) {
			res->duplicate++;	/* already listed, or earlier in this file */
			continue;
		}
		fill_decision(rq, &cidrs[i], now, reason_id, &d);
		e = decisions_put(&l->store, &d, NULL) < 0 ? -ENOMEM : 0;
		fresh[i] = true;
	}
	/* Pointers into the store are taken only now: inserting may have moved its entries. */
	for (size_t i = 0; !e && i < n; i++)
		if (fresh[i])
			e = pending_push(&p, decisions_get(&l->store, rq->list, &cidrs[i], rq->scope));
	t1 = now_monotonic_ns();
	if (e) {
		snprintf(err, errlen, "out of memory");
	} else {
		for (int b = 0; b < 2 && !e; b++) {
			e = kernel_put_many(l, rq->list, b ? AF_INET6 : AF_INET, p.v[rq->list][b],
					    p.n[rq->list][b], err, errlen);
			if (!e)
				res->accepted += p.n[rq->list][b];
		}
		/*
		 * What did not reach the kernel is not kept either. By the file's lines, not by the
		 * pointers: a delete moves other entries of the store.
		 */
		for (size_t i = 0; e && i < n; i++) {
			const struct decision *d = fresh[i] ? decisions_get(&l->store, rq->list, &cidrs[i], rq->scope) : NULL;

			if (d && (d->cidr.family == AF_INET6 || !res->accepted))
				decisions_del(&l->store, rq->list, &cidrs[i], rq->scope, NULL);
		}
	}
	pending_free(&p);
	t2 = now_monotonic_ns();
	res->parse_store_ms = (t1 - t0) / NSEC_PER_MSEC;
	res->kernel_ms = (t2 - t1) / NSEC_PER_MSEC;
	audit_log(who, rq->list == LIST_ALLOW ? "allow.import" : "block.import", origin_names[rq->origin],
		  e, e ? err : NULL,
		  json_pack("{s:I, s:I, s:I, s:I, s:s}", "accepted", (json_int_t)res->accepted,
			    "duplicate", (json_int_t)res->duplicate, "rejected", (json_int_t)res->rejected,
			    "lines", (json_int_t)res->lines, "reason", rq->reason ? rq->reason : ""));
	return e;
}

/* ---- life cycle ------------------------------------------------------------------------- */

/* Entries the kernel holds that the store does not know (state file lost): taken in. */
/* An entry found in the kernel but not in the store (state file lost): taken in. */
static bool adopt_one(struct lists *l, struct decision *d, uint8_t origin, uint64_t created_ns,
		      uint64_t expires_boot)
{
	if (decisions_get(&l->store, (enum decision_list)d->list, &d->cidr, d->scope))
		return false;
	d->origin = origin < GUARD_ORIGIN_COUNT ? origin : GUARD_ORIGIN_CLI;
	d->created_ns = created_ns;
	d->expires_ns = boot_to_realtime(expires_boot);
	return decisions_put(&l->store, d, NULL) == 1;
}

static size_t adopt_table(struct lists *l, enum decision_list list, int family)
{
	struct prefix_table *t = table(l, list, family);
	struct prefix_table_stats st;
	size_t n = 0;

	if (!t)
		return 0;
	prefix_table_stats(t, &st);
	for (uint32_t id = 1; id <= st.max_rules; id++) {
		const struct prefix_rule *r = prefix_table_rule(t, id);
		struct decision d = { .list = (uint8_t)list };

		if (r && prefix_table_cidr(t, id, &d.cidr))
			n += adopt_one(l, &d, r->origin, r->created_ns, r->expires_ns);
	}
	return n;
}

static size_t adopt_scoped(struct lists *l, int family)
{
	int fd = l->guard ? guard_scoped_fd(l->guard, family) : -1;
	union scoped_key key, next;
	struct guard_rule rule;
	void *prev = NULL;
	size_t n = 0;

	while (fd >= 0 && bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct decision d = { .list = LIST_BLOCK };
		const uint8_t *port = family == AF_INET ? next.v4.port : next.v6.port;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &rule))
			continue;
		d.cidr.family = family;
		d.cidr.prefixlen = (uint8_t)((family == AF_INET ? key.v4.prefixlen : key.v6.prefixlen) -
					     GUARD_SCOPED_KEY_BITS);
		memcpy(d.cidr.addr, family == AF_INET ? key.v4.addr : key.v6.addr, family == AF_INET ? 4 : 16);
		d.scope.proto = family == AF_INET ? key.v4.proto : key.v6.proto;
		d.scope.port = (uint16_t)(port[0] << 8 | port[1]);
		n += adopt_one(l, &d, rule.origin, rule.created_ns, rule.expires_ns);
	}
	return n;
}

static void adopt_kernel_entries(struct lists *l)
{
	size_t n = 0;

	for (int f = AF_INET; f; f = f == AF_INET ? AF_INET6 : 0) {
		n += adopt_table(l, LIST_BLOCK, f) + adopt_table(l, LIST_ALLOW, f);
		n += adopt_scoped(l, f);
	}
	if (n)
		pr_warn("guard: %zu list entries were in the kernel but not in the state file; kept "
			"(their reasons are unknown)", n);
}

/* Store entries missing from the kernel (fresh maps after a cleanup or reboot): written back. */
int lists_restore(struct lists *l)
{
	struct pending p = {};
	const struct decision *d;
	size_t it = 0;
	int e = 0;
	char err[256];

	while (!e && (d = decisions_next(&l->store, &it)))
		if (!kernel_has(l, d))
			e = pending_push(&p, d);
	for (int a = 0; a < 2 && !e; a++)
		for (int b = 0; b < 2 && !e; b++) {
			e = kernel_put_many(l, (enum decision_list)a, b ? AF_INET6 : AF_INET, p.v[a][b],
					    p.n[a][b], err, sizeof(err));
			if (e)
				pr_err("guard: restoring the %s list: %s", list_name((enum decision_list)a), err);
			else if (p.n[a][b])
				pr_info("guard: restored %zu %s %s-list entries from %s", p.n[a][b],
					b ? "IPv6" : "IPv4", list_name((enum decision_list)a), l->state_file);
		}
	pending_free(&p);
	refresh_empty_hints(l);
	return e;
}

int lists_start(struct lists *l, struct guard *g, const struct aegis_config *cfg)
{
	size_t loaded = 0, expired = 0;
	int err;

	memset(l, 0, sizeof(*l));
	decisions_init(&l->store);
	l->guard = g;
	snprintf(l->state_file, sizeof(l->state_file), "%s/decisions.tsv", cfg->state_dir);
	snprintf(l->journal_file, sizeof(l->journal_file), "%s/decisions.journal", cfg->state_dir);
	err = decisions_load(&l->store, l->state_file, l->journal_file, &loaded, &expired);
	if (err == -EBADMSG)
		pr_warn("guard: %s or %s has lines that are not entries; they were skipped", l->state_file,
			l->journal_file);
	else if (err && err != -ENOENT)
		return pr_err_errno(err, "guard: cannot read %s", l->state_file);
	if (loaded || expired)
		pr_info("guard: %zu list entries from %s (%zu expired while the agent was down)", loaded,
			l->state_file, expired);
	adopt_kernel_entries(l);
	err = lists_restore(l);
	if (!err)
		err = lists_sync_config(l, cfg);
	/* One snapshot of what is in force now; the journal starts empty. */
	if (!err) {
		int e = decisions_compact(&l->store, l->state_file, l->journal_file);

		if (e)
			pr_err_errno(e, "guard: cannot save the lists to %s", l->state_file);
	}
	return err;
}

int lists_commit(struct lists *l)
{
	int err = decisions_commit(&l->store, l->state_file, l->journal_file);

	if (err)
		log_once(LOG_LVL_ERROR, "lists-commit", "guard: cannot save list changes to %s: %s "
			 "(they are in force, but a restart after --cleanup or a reboot would lose them)",
			 l->journal_file, errstr(err));
	return err;
}

static bool configured(const struct cfg_cidr *v, size_t n, const struct cidr *c)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].cidr.family == c->family && v[i].cidr.prefixlen == c->prefixlen &&
		    memcmp(v[i].cidr.addr, c->addr, c->family == AF_INET ? 4 : 16) == 0)
			return true;
	return false;
}

int lists_sync_config(struct lists *l, const struct aegis_config *cfg)
{
	const struct cfg_cidr *want[2] = { cfg->guard_block, cfg->guard_allow };
	size_t nwant[2] = { cfg->n_guard_block, cfg->n_guard_allow };
	struct list_request rq = { .origin = GUARD_ORIGIN_CONFIG, .force = true, .reason = "configuration" };
	const struct decision *d;
	struct decision stale[256];
	size_t it, nstale;
	char note[128], err[256];
	int e;

	/* Entries the configuration no longer has; collected first, the walk must not see deletes. */
	do {
		nstale = 0;
		it = 0;
		while ((d = decisions_next(&l->store, &it)) && nstale < ARRAY_SIZE(stale)) {
			if (d->origin != GUARD_ORIGIN_CONFIG || configured(want[d->list], nwant[d->list], &d->cidr))
				continue;
			stale[nstale++] = *d;
		}
		for (size_t i = 0; i < nstale; i++) {
			enum decision_list list = (enum decision_list)stale[i].list;
			struct decision old;
			char text[CIDR_STRLEN];

			if (decisions_del(&l->store, list, &stale[i].cidr, stale[i].scope, &old))
				continue;
			kernel_del(l, &old);
			cidr_format(&stale[i].cidr, text, sizeof(text));
			audit_log(&actor_config, list == LIST_ALLOW ? "unallow" : "unblock", text, 0, NULL, NULL);
		}
	} while (nstale == ARRAY_SIZE(stale));
	for (int a = 0; a < 2; a++) {
		rq.list = (enum decision_list)a;
		for (size_t i = 0; i < nwant[a]; i++) {
			const struct decision *cur = decisions_get(&l->store, rq.list, &want[a][i].cidr, UNSCOPED);

			if (cur && cur->origin == GUARD_ORIGIN_CONFIG)
				continue;
			e = lists_add(l, &rq, &want[a][i].cidr, false, &actor_config, note, sizeof(note), err, sizeof(err));
			if (e)
				return pr_err_errno(e, "guard: %s list entry from line %d: %s", list_name(rq.list),
						    want[a][i].line, err);
		}
	}
	return 0;
}

void lists_stop(struct lists *l)
{
	if (l->state_file[0])
		lists_commit(l);
	decisions_free(&l->store);
}

void lists_tick(struct lists *l)
{
	uint64_t now = now_realtime_ns();
	json_t *gone = json_array();
	struct decision due[512];
	size_t n, total = 0;

	/* Expired entries are already misses in the kernel; this frees their space. */
	do {
		const struct decision *d;
		size_t it = 0;

		n = 0;
		while ((d = decisions_next(&l->store, &it)) && n < ARRAY_SIZE(due))
			if (d->expires_ns && d->expires_ns <= now)
				due[n++] = *d;
		for (size_t i = 0; i < n; i++) {
			struct decision old;

			if (decisions_del(&l->store, (enum decision_list)due[i].list, &due[i].cidr, due[i].scope, &old))
				continue;
			kernel_del(l, &old);
			if (json_array_size(gone) < 20) {
				char text[CIDR_STRLEN + 16];

				entry_text(&due[i].cidr, due[i].scope, text, sizeof(text));
				json_array_append_new(gone, json_pack("{s:s, s:s}", "list",
					list_name((enum decision_list)due[i].list), "cidr", text));
			}
			total++;
		}
	} while (n == ARRAY_SIZE(due));
	if (total)
		audit_log(&actor_agent, "expire", "guard lists", 0, NULL,
			  json_pack("{s:I, s:o}", "count", (json_int_t)total, "entries", gone));
	else
		json_decref(gone);
	lists_commit(l);
}

static int cmp_decisions(const void *pa, const void *pb)
{
	const struct decision *a = *(const struct decision *const *)pa, *b = *(const struct decision *const *)pb;

	if (a->list != b->list)
		return a->list - b->list;
	if (a->cidr.family != b->cidr.family)
		return a->cidr.family - b->cidr.family;
	int c = memcmp(a->cidr.addr, b->cidr.addr, 16);

	if (c)
		return c;
	if (a->cidr.prefixlen != b->cidr.prefixlen)
		return a->cidr.prefixlen - b->cidr.prefixlen;
	return a->scope.proto != b->scope.proto ? a->scope.proto - b->scope.proto : a->scope.port - b->scope.port;
}

/* Adds every CPU's pending hits to the entries' counters, read before (see guard_hits.h). */
static void add_pending_hits(const struct lists *l, struct guard_entry_hits *h, json_t **e, size_t n)
{
	struct guard_pending p = {};
	int fd = l->guard ? guard_hits_fd(l->guard) : -1, err;

	if (fd < 0)
		return;
	err = guard_pending_read(fd, &p);
	if (err) {
		log_once(LOG_LVL_WARN, "guard-hits-read",
			 "guard: cannot read guard_hits: %s; list hit counts leave out up to %d packets per CPU",
			 strerror(-err), PREFIX_HIT_BATCH - 1);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (!h[i].id)
			continue;
		guard_entry_hits_pending(&h[i], &p);
		json_object_set_new(e[i], "hit_packets", json_integer((json_int_t)h[i].packets));
		json_object_set_new(e[i], "hit_bytes", json_integer((json_int_t)h[i].bytes));
	}
	guard_pending_free(&p);
}

json_t *lists_json(struct lists *l, int list, size_t limit)
{
	_cleanup_free_ const struct decision **v = calloc(l->store.count + 1, sizeof(*v));
	size_t shown = limit < l->store.count ? limit : l->store.count;
	_cleanup_free_ struct guard_entry_hits *hits = calloc(shown + 1, sizeof(*hits));
	_cleanup_free_ json_t **shown_e = calloc(shown + 1, sizeof(*shown_e));
	json_t *entries = json_array();
	uint64_t now = now_realtime_ns();
	const struct decision *d;
	size_t it = 0, n = 0, i;

	if (!v || !hits || !shown_e)
		return json_pack("{s:o, s:I, s:b}", "entries", entries, "total", (json_int_t)0, "truncated", 0);
	while ((d = decisions_next(&l->store, &it)))
		if (list < 0 || d->list == list)
			v[n++] = d;
	qsort(v, n, sizeof(*v), cmp_decisions);
	for (i = 0; i < n && i < limit; i++) {
		char text[CIDR_STRLEN], created[40];
		uint64_t last_hit;
		json_t *e;

		kernel_hits(l, v[i], &hits[i], &last_hit);
		cidr_format(&v[i]->cidr, text, sizeof(text));
		format_rfc3339(v[i]->created_ns, created, sizeof(created));
		e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "list", list_name((enum decision_list)v[i]->list),
			      "cidr", text, "origin", origin_names[v[i]->origin], "reason",
			      decisions_reason(&l->store, v[i]->reason_id), "created", created,
			      "hit_packets", (json_int_t)hits[i].packets, "hit_bytes", (json_int_t)hits[i].bytes);
		if (v[i]->scope.proto) {
			json_object_set_new(e, "proto", json_string(v[i]->scope.proto == IPPROTO_TCP ? "tcp" : "udp"));
			json_object_set_new(e, "port", json_integer(v[i]->scope.port));
		}
		if (v[i]->expires_ns) {
			char exp[40];

			format_rfc3339(v[i]->expires_ns, exp, sizeof(exp));
			json_object_set_new(e, "expires", json_string(exp));
			json_object_set_new(e, "ttl_remaining_seconds",
					    json_integer(v[i]->expires_ns > now ? (json_int_t)((v[i]->expires_ns - now) / NSEC_PER_SEC) : 0));
		} else {
			json_object_set_new(e, "expires", json_null());
			json_object_set_new(e, "ttl_remaining_seconds", json_null());
		}
		if (last_hit) {
			uint64_t boot_now = now_boottime_ns();
			char last[40];

			/* A boot-clock instant in the past, on the wall clock. */
			format_rfc3339(now - (boot_now > last_hit ? boot_now - last_hit : 0), last, sizeof(last));
			json_object_set_new(e, "last_hit", json_string(last));
		}
		json_array_append_new(entries, e);
		shown_e[i] = e;
	}
	add_pending_hits(l, hits, shown_e, i);
	return json_pack("{s:o, s:I, s:b}", "entries", entries, "total", (json_int_t)n, "truncated", n > limit);
}

uint64_t lists_map_entries(const struct lists *l, const char *map)
{
	static const char *const scoped[2] = { "guard_block_scoped_v4", "guard_block_scoped_v6" };
	const struct decision *d;
	size_t it = 0;
	uint64_t n = 0;

	/* A prefix table's arrays are always full to the kernel: what is in use is the table's. */
	for (int a = 0; a < 2; a++)
		for (int f = AF_INET; f; f = f == AF_INET ? AF_INET6 : 0) {
			struct prefix_table *t = table(l, (enum decision_list)a, f);
			struct prefix_table_stats st;
			char name[32];
			size_t plen;

			snprintf(name, sizeof(name), "%s_v%d_", list_name((enum decision_list)a), f == AF_INET ? 4 : 6);
			plen = strlen(name);
			if (!t || strncmp(map, name, plen))
				continue;
			prefix_table_stats(t, &st);
			if (streq(map + plen, "rules"))
				return st.prefixes;
			if (streq(map + plen, "nodes"))
				return st.nodes;
			return MAP_ENTRIES_UNKNOWN;
		}
	for (int f = 0; f < 2; f++) {
		if (!streq(map, scoped[f]))
			continue;
		while ((d = decisions_next(&l->store, &it)))
			n += d->scope.proto && (d->cidr.family == AF_INET6) == f;
		return n;
	}
	return MAP_ENTRIES_UNKNOWN;
}
