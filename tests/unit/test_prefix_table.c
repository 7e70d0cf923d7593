// SPDX-License-Identifier: GPL-2.0-only
/*
 * Prefix tables (src/prefix_table.c writing, bpf/lib/prefix.h reading) through the test-only
 * fixture build/fixtures/prefix_lookup.bpf.o, whose xdp_lookup program looks the packet's source
 * up in one of four tables (IPv4 with a 24- and an 8-bit first level, IPv6 with 20 and 4) and
 * reports the entry it found and the live rule after the expiry fallback.
 *
 * The reference is a linear scan over the prefixes the test added (trivially right). Every
 * fixture loads its own object and tables. Set AEGIS_TEST_SEED to replay a random run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "aegis/prefix.h"
#include "cidr.h"
#include "log.h"
#include "prefix_table.h"
#include "test.h"
#include "util.h"

/* Must match tests/fixtures/prefix_lookup.bpf.c. */
enum { T4, T4S, T6, T6S, NTABLES };

static const struct {
	const char *name;
	int family;
	unsigned l1_bits;
} tables[NTABLES] = {
	[T4] = { "t4", AF_INET, 24 },
	[T4S] = { "t4s", AF_INET, 8 },
	[T6] = { "t6", AF_INET6, 20 },
	[T6S] = { "t6s", AF_INET6, 4 },
};

struct prefix_ctl {
	__u32 table, entry, live, family, runs;
};

struct fx {
	struct bpf_object *obj;
	int prog;
	volatile struct prefix_ctl *ctl;
	struct prefix_table_maps maps[NTABLES];
	struct prefix_table *t[NTABLES];
};

/* ---- random numbers, reproducible ---------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static void rnd_seed(const char *test)
{
	const char *s = getenv("AEGIS_TEST_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) * 1000 + now_monotonic_ns() % 1000;

	if (!seed)
		seed = 1;
	rng_state = seed;
	fprintf(stderr, "    %s: AEGIS_TEST_SEED=%llu\n", test, (unsigned long long)seed);
}

/* ---- the fixture ------------------------------------------------------------------- */

static int fixture_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/prefix_lookup.bpf.o", test_fixtures_dir());
	return access(buf, R_OK) ? -errno : 0;
}

static void fx_close(struct fx *f)
{
	for (int i = 0; i < NTABLES; i++)
		prefix_table_close(f->t[i]);
	if (f->ctl)
		munmap((void *)f->ctl, (size_t)sysconf(_SC_PAGESIZE));
	bpf_object__close(f->obj);
	memset(f, 0, sizeof(*f));
}

static struct bpf_map *map_named(struct bpf_object *obj, const char *table, const char *suffix)
{
	char name[64];

	snprintf(name, sizeof(name), "%s_%s", table, suffix);
	return bpf_object__find_map_by_name(obj, name);
}

/* Loads the fixture with these capacities for the test tables and opens all four tables. */
static bool fx_open(struct fx *f, uint32_t nodes, uint32_t rules)
{
	char path[PATH_MAX], tail[2048];
	struct bpf_map *m;
	int err;

	memset(f, 0, sizeof(*f));
	err = fixture_path(path, sizeof(path));
	if (!ASSERT_OK(err, "fixture build/fixtures/prefix_lookup.bpf.o (make it first)"))
		return false;
	log_capture_reset();
	f->obj = bpf_object__open_file(path, NULL);
	if (!ASSERT_TRUE(f->obj, "bpf_object__open_file"))
		return false;
	for (int i = 0; i < NTABLES; i++) {
		if (!ASSERT_OK(bpf_map__set_max_entries(map_named(f->obj, tables[i].name, "nodes"), nodes),
			       "set nodes") ||
		    !ASSERT_OK(bpf_map__set_max_entries(map_named(f->obj, tables[i].name, "rules"), rules),
			       "set rules"))
			goto fail;
	}
	err = bpf_object__load(f->obj);
	if (!ASSERT_OK(err, "bpf_object__load")) {
		log_capture_tail(tail, sizeof(tail));
		fprintf(stderr, "%s\n", tail);
		goto fail;
	}
	f->prog = bpf_program__fd(bpf_object__find_program_by_name(f->obj, "xdp_lookup"));
	/* libbpf 1.1 maps global data into the kernel's copy only for skeletons: do it here. */
	bpf_object__for_each_map(m, f->obj) {
		if (bpf_map__is_internal(m) && strstr(bpf_map__name(m), ".bss")) {
			void *p = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE,
				       MAP_SHARED, bpf_map__fd(m), 0);

			if (p != MAP_FAILED)
				f->ctl = p;
		}
	}
	if (!ASSERT_TRUE(f->ctl, "mmapped .bss"))
		goto fail;
	for (int i = 0; i < NTABLES; i++) {
		f->maps[i] = (struct prefix_table_maps){
			.family = tables[i].family,
			.l1_bits = tables[i].l1_bits,
			.l1_fd = bpf_map__fd(map_named(f->obj, tables[i].name, "l1")),
			.nodes_fd = bpf_map__fd(map_named(f->obj, tables[i].name, "nodes")),
			.rules_fd = bpf_map__fd(map_named(f->obj, tables[i].name, "rules")),
		};
		if (!ASSERT_OK(prefix_table_open(&f->maps[i], &f->t[i]), "prefix_table_open"))
			goto fail;
	}
	return true;
fail:
	fx_close(f);
	return false;
}

/* The kernel's answer for addr in table tbl: raw entry and live rule. */
static bool fx_lookup(struct fx *f, int tbl, const uint8_t *addr, uint32_t *entry, uint32_t *live)
{
	uint8_t pkt[64] = {};
	size_t len;
	int err;

	if (tables[tbl].family == AF_INET) {
		pkt[12] = 0x08;
		pkt[14] = 0x45;
		memcpy(pkt + 14 + 12, addr, 4);
		len = 14 + 20;
	} else {
		pkt[12] = 0x86;
		pkt[13] = 0xdd;
		pkt[14] = 0x60;
		memcpy(pkt + 14 + 8, addr, 16);
		len = 14 + 40;
	}
	f->ctl->table = (__u32)tbl;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = (__u32)len, .repeat = 1);
	err = bpf_prog_test_run_opts(f->prog, &opts);
	if (!ASSERT_OK(err ? -errno : 0, "bpf_prog_test_run_opts"))
		return false;
	*entry = f->ctl->entry;
	*live = f->ctl->live;
	return ASSERT_EQ(opts.retval, *live ? XDP_DROP : XDP_PASS, "verdict follows the live rule");
}

static struct cidr C(const char *s)
{
	struct cidr c;
	char why[128];

	if (cidr_parse(s, &c, NULL, why, sizeof(why))) {
		fprintf(stderr, "bad cidr in test: %s (%s)\n", s, why);
		abort();
	}
	return c;
}

/* Live rule id for a textual address: the kernel's answer, which the user-space walk of the same
 * structure must repeat. */
static uint32_t q(struct fx *f, int tbl, const char *a)
{
	struct cidr c = C(a);
	uint32_t entry, live, ulive;

	if (!fx_lookup(f, tbl, c.addr, &entry, &live))
		return UINT32_MAX;
	ulive = prefix_table_lookup(f->t[tbl], c.addr, now_boottime_ns(), NULL);
	ASSERT_EQ(ulive, live, a);
	return live;
}

static uint32_t add(struct fx *f, int tbl, const char *s, uint64_t expires)
{
	struct prefix_attrs a = { .expires_ns = expires, .reason_id = 7, .origin = 1 };
	struct cidr c = C(s);
	uint32_t id = 0;

	ASSERT_OK(prefix_table_add(f->t[tbl], &c, &a, &id), s);
	return id;
}

/* ---- the reference: a linear scan ------------------------------------------------ */

struct ref_e {
	struct cidr c;
	uint32_t id;
	uint64_t expires;
};

struct ref {
	struct ref_e *e;
	size_t n, cap;
};

static bool cidr_has(const struct cidr *c, const uint8_t *addr)
{
	unsigned full = c->prefixlen / 8, rest = c->prefixlen % 8;

	if (memcmp(c->addr, addr, full))
		return false;
	return !rest || !((c->addr[full] ^ addr[full]) & (uint8_t)(0xff00 >> rest));
}

/* Longest prefix covering addr (live_only: skipping the expired ones): its id, or 0. */
static uint32_t ref_match(const struct ref *r, const uint8_t *addr, uint64_t now, bool live_only)
{
	int best = -1;
	uint32_t id = 0;

	for (size_t i = 0; i < r->n; i++) {
		const struct ref_e *e = &r->e[i];

		if (live_only && e->expires && e->expires <= now)
			continue;
		if ((int)e->c.prefixlen > best && cidr_has(&e->c, addr)) {
			best = e->c.prefixlen;
			id = e->id;
		}
	}
	return id;
}

static struct ref_e *ref_find(struct ref *r, const struct cidr *c)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->e[i].c.prefixlen == c->prefixlen && !memcmp(r->e[i].c.addr, c->addr, 16))
			return &r->e[i];
	return NULL;
}

static void ref_put(struct ref *r, const struct cidr *c, uint32_t id, uint64_t expires)
{
	struct ref_e *e = ref_find(r, c);

	if (!e) {
		if (r->n == r->cap) {
			r->cap = r->cap ? r->cap * 2 : 1024;
			r->e = realloc(r->e, r->cap * sizeof(*r->e));
			if (!r->e)
				abort();
		}
		e = &r->e[r->n++];
		e->c = *c;
	}
	e->id = id;
	e->expires = expires;
}

static void ref_del(struct ref *r, size_t i)
{
	r->e[i] = r->e[--r->n];
}

/* ---- random prefixes that nest and overlap a lot ---------------------------------- */

#define NBASES 24

struct gen {
	int family;
	unsigned bytes, width;
	uint8_t base[NBASES][16];
};

static void gen_init(struct gen *g, int family)
{
	g->family = family;
	g->bytes = family == AF_INET ? 4 : 16;
	g->width = g->bytes * 8;
	for (int i = 0; i < NBASES; i++)
		for (unsigned j = 0; j < 16; j++)
			g->base[i][j] = j < g->bytes ? (uint8_t)rnd() : 0;
}

/* An address near a base: a few bits flipped, mostly low ones. */
static void gen_addr(const struct gen *g, uint8_t *a)
{
	unsigned flips = (unsigned)(rnd() % 4);

	memcpy(a, g->base[rnd() % NBASES], 16);
	if (rnd() % 16 == 0) {
		for (unsigned j = 0; j < g->bytes; j++)
			a[j] = (uint8_t)rnd();
		return;
	}
	for (unsigned i = 0; i < flips; i++) {
		unsigned from = rnd() % 2 ? g->width / 2 : 0;
		unsigned bit = from + (unsigned)(rnd() % (g->width - from));

		a[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
	}
}

static void gen_cidr(const struct gen *g, struct cidr *c)
{
	unsigned len = (unsigned)(rnd() % (g->width + 1));

	memset(c, 0, sizeof(*c));
	c->family = g->family;
	gen_addr(g, c->addr);
	/* Favour long prefixes a little: they make the deep structure. */
	if (rnd() % 3 == 0)
		len = g->width - (unsigned)(rnd() % (g->width / 4 + 1));
	c->prefixlen = (uint8_t)len;
	for (unsigned i = len; i < g->width; i++)
		c->addr[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
}

/* addr + delta (+1 or -1), wrapping. */
static void addr_step(uint8_t *a, unsigned bytes, int delta)
{
	for (int i = (int)bytes - 1; i >= 0; i--) {
		if (delta > 0 && ++a[i] != 0)
			return;
		if (delta < 0 && a[i]-- != 0)
			return;
	}
}

/* One address to check: near the bases, or on (or next to) the edge of a prefix of the set. */
static void pick_addr(const struct gen *g, const struct ref *r, uint8_t *a)
{
	unsigned kind = (unsigned)(rnd() % 6);

	if (!r->n || kind < 2) {
		gen_addr(g, a);
		return;
	}
	const struct cidr *c = &r->e[rnd() % r->n].c;

	memcpy(a, c->addr, 16);
	if (kind >= 3)		/* last address */
		for (unsigned i = c->prefixlen; i < g->width; i++)
			a[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	if (kind == 4)
		addr_step(a, g->bytes, +1);
	if (kind == 5)
		addr_step(a, g->bytes, -1);
}

static const char *fmt_addr(int family, const uint8_t *a, char *buf, size_t len)
{
	inet_ntop(family, a, buf, (socklen_t)len);
	return buf;
}

/* Kernel, user-space walk and authoritative trie against the reference for n addresses. */
static bool check_addrs(struct fx *f, int tbl, const struct gen *g, const struct ref *r, unsigned n)
{
	uint64_t now = now_boottime_ns();
	unsigned bad = 0;

	for (unsigned i = 0; i < n && bad < 5; i++) {
		uint32_t entry, live, uentry, ulive, want_any, want_live, match;
		uint8_t a[16] = {};
		char buf[INET6_ADDRSTRLEN], what[256];

		pick_addr(g, r, a);
		want_any = ref_match(r, a, now, false);
		want_live = ref_match(r, a, now, true);
		if (!fx_lookup(f, tbl, a, &entry, &live))
			return false;
		ulive = prefix_table_lookup(f->t[tbl], a, now, &uentry);
		match = prefix_table_match(f->t[tbl], a);
		if (entry != want_any || live != want_live || uentry != want_any || ulive != want_live ||
		    match != want_any) {
			snprintf(what, sizeof(what), "%s %s: kernel entry/live", tables[tbl].name,
				 fmt_addr(g->family, a, buf, sizeof(buf)));
			ASSERT_EQ(entry, want_any, what);
			ASSERT_EQ(live, want_live, what);
			snprintf(what, sizeof(what), "%s %s: user walk entry/live, trie match",
				 tables[tbl].name, buf);
			ASSERT_EQ(uentry, want_any, what);
			ASSERT_EQ(ulive, want_live, what);
			ASSERT_EQ(match, want_any, what);
			bad++;
		}
	}
	return bad == 0;
}

/* ---- tests ------------------------------------------------------------------------- */

TEST(prefix_longest_match_v4)
{
	struct fx f;
	uint32_t p8, p16, p24, p32;

	if (!fx_open(&f, 256, 256))
		return;
	for (int tbl = T4; tbl <= T4S; tbl++) {
		p8 = add(&f, tbl, "10.0.0.0/8", 0);
		p16 = add(&f, tbl, "10.1.0.0/16", 0);
		p24 = add(&f, tbl, "10.1.2.0/24", 0);
		p32 = add(&f, tbl, "10.1.2.3/32", 0);
		ASSERT_EQ(q(&f, tbl, "10.9.9.9"), p8, "in the /8 only");
		ASSERT_EQ(q(&f, tbl, "10.1.9.9"), p16, "in the /16");
		ASSERT_EQ(q(&f, tbl, "10.1.2.4"), p24, "in the /24");
		ASSERT_EQ(q(&f, tbl, "10.1.2.3"), p32, "the /32");
		ASSERT_EQ(q(&f, tbl, "11.0.0.0"), 0, "outside");
		ASSERT_EQ(q(&f, tbl, "9.255.255.255"), 0, "just below");
		/* A host-bits /26 and a /25 next to the /32. */
		ASSERT_EQ(q(&f, tbl, "10.1.2.200"), p24, "before the /25");
		uint32_t p25 = add(&f, tbl, "10.1.2.128/25", 0);
		ASSERT_EQ(q(&f, tbl, "10.1.2.200"), p25, "in the /25");
		ASSERT_EQ(q(&f, tbl, "10.1.2.127"), p24, "below the /25");
		ASSERT_OK(prefix_table_check(f.t[tbl]), "canonical");
		/* Hit accounting on the live rule: packets, bytes (34-byte frames), a timestamp. */
		const struct prefix_rule *r24 = prefix_table_rule(f.t[tbl], p24);
		ASSERT_EQ(r24->hit_packets, 3, "the /24 answered three lookups");
		ASSERT_EQ(r24->hit_bytes, 3 * 34, "hit bytes");
		ASSERT_NEQ(r24->last_hit_ns, 0, "last hit stamped");
		ASSERT_EQ(prefix_table_rule(f.t[tbl], p8)->hit_packets, 1, "the /8 answered once");
	}
	fx_close(&f);
}

TEST(prefix_delete_restores_cover)
{
	struct cidr c;
	struct fx f;
	uint32_t p8, p16;

	if (!fx_open(&f, 256, 256))
		return;
	for (int tbl = 0; tbl < NTABLES; tbl++) {
		bool v4 = tables[tbl].family == AF_INET;

		p8 = add(&f, tbl, v4 ? "192.0.0.0/8" : "2001::/16", 0);
		p16 = add(&f, tbl, v4 ? "192.0.0.0/16" : "2001:db8::/32", 0);
		add(&f, tbl, v4 ? "192.0.2.1/32" : "2001:db8::1/128", 0);
		ASSERT_NEQ(q(&f, tbl, v4 ? "192.0.2.1" : "2001:db8::1"), p16, "the /32 wins");
		c = C(v4 ? "192.0.2.1/32" : "2001:db8::1/128");
		ASSERT_OK(prefix_table_delete(f.t[tbl], &c), "delete the host");
		ASSERT_EQ(q(&f, tbl, v4 ? "192.0.2.1" : "2001:db8::1"), p16, "back to the /16");
		ASSERT_EQ(prefix_table_delete(f.t[tbl], &c), -ENOENT, "delete twice");
		c = C(v4 ? "192.0.0.0/16" : "2001:db8::/32");
		ASSERT_OK(prefix_table_delete(f.t[tbl], &c), "delete the /16");
		ASSERT_EQ(q(&f, tbl, v4 ? "192.0.2.1" : "2001:db8::1"), p8, "back to the /8");
		c = C(v4 ? "192.0.0.0/8" : "2001::/16");
		ASSERT_OK(prefix_table_delete(f.t[tbl], &c), "delete the /8");
		ASSERT_EQ(q(&f, tbl, v4 ? "192.0.2.1" : "2001:db8::1"), 0, "nothing left");
		ASSERT_OK(prefix_table_check(f.t[tbl]), "canonical");
		struct prefix_table_stats s;
		prefix_table_stats(f.t[tbl], &s);
		ASSERT_EQ(s.prefixes, 0, "no prefixes");
		ASSERT_EQ(s.rules, 3, "three rule ids wait for a grace period");
	}
	fx_close(&f);
}

TEST(prefix_expired_host_falls_back_to_cover)
{
	uint64_t past = 1, future = now_boottime_ns() + 3600 * NSEC_PER_SEC;
	struct fx f;

	if (!fx_open(&f, 256, 256))
		return;
	for (int tbl = 0; tbl < NTABLES; tbl++) {
		bool v4 = tables[tbl].family == AF_INET;
		uint32_t cover, host, id;

		/* The bug this replaces: an expired /32 inside a live /8 let the address through. */
		cover = add(&f, tbl, v4 ? "10.0.0.0/8" : "2001:db8::/32", 0);
		host = add(&f, tbl, v4 ? "10.1.2.3/32" : "2001:db8::1/128", past);
		uint32_t entry, live;
		struct cidr a = C(v4 ? "10.1.2.3" : "2001:db8::1");

		if (!fx_lookup(&f, tbl, a.addr, &entry, &live))
			break;
		ASSERT_EQ(entry, host, "the walk finds the host entry");
		ASSERT_EQ(live, cover, "expired host: the live cover answers");
		ASSERT_EQ(prefix_table_rule(f.t[tbl], host)->parent, cover, "parent link");

		/* An expired prefix with no parent is a miss. */
		id = add(&f, tbl, v4 ? "172.16.0.0/12" : "2001:db9::/32", past);
		ASSERT_EQ(q(&f, tbl, v4 ? "172.16.1.1" : "2001:db9::5"), 0, "expired, no parent");
		ASSERT_EQ(prefix_table_rule(f.t[tbl], id)->parent, 0, "no parent");

		/* A chain of expired prefixes: /8 live, /16 /24 /32 expired. */
		add(&f, tbl, v4 ? "10.7.0.0/16" : "2001:db8:7::/48", past);
		add(&f, tbl, v4 ? "10.7.7.0/24" : "2001:db8:7:7::/64", past);
		add(&f, tbl, v4 ? "10.7.7.7/32" : "2001:db8:7:7::7/128", past);
		ASSERT_EQ(q(&f, tbl, v4 ? "10.7.7.7" : "2001:db8:7:7::7"), cover, "three hops to the cover");

		/* Not expired yet, then expired by a change of expiry in place. */
		struct cidr hc = C(v4 ? "10.1.2.3/32" : "2001:db8::1/128");
		ASSERT_OK(prefix_table_set_expiry(f.t[tbl], &hc, future), "set_expiry future");
		ASSERT_EQ(q(&f, tbl, v4 ? "10.1.2.3" : "2001:db8::1"), host, "live host");
		ASSERT_OK(prefix_table_set_expiry(f.t[tbl], &hc, past), "set_expiry past");
		ASSERT_EQ(q(&f, tbl, v4 ? "10.1.2.3" : "2001:db8::1"), cover, "expired again");

		/* The cover is added after the host: the host's parent is relinked. */
		uint32_t mid = add(&f, tbl, v4 ? "10.1.0.0/16" : "2001:db8::/48", 0);
		ASSERT_EQ(prefix_table_rule(f.t[tbl], host)->parent, mid, "relinked to the new parent");
		ASSERT_EQ(q(&f, tbl, v4 ? "10.1.2.3" : "2001:db8::1"), mid, "falls back to the /16");
		struct cidr mc = C(v4 ? "10.1.0.0/16" : "2001:db8::/48");
		ASSERT_OK(prefix_table_delete(f.t[tbl], &mc), "delete the /16");
		ASSERT_EQ(prefix_table_rule(f.t[tbl], host)->parent, cover, "relinked back");
		ASSERT_EQ(q(&f, tbl, v4 ? "10.1.2.3" : "2001:db8::1"), cover, "falls back to the /8");

		/* The agent's garbage collection removes what expired. */
		ASSERT_EQ(prefix_table_expire(f.t[tbl], now_boottime_ns()), 5, "expire removes 5");
		ASSERT_EQ(prefix_table_find(f.t[tbl], &hc), 0, "host gone");
		ASSERT_EQ(q(&f, tbl, v4 ? "10.1.2.3" : "2001:db8::1"), cover, "cover answers");
		ASSERT_OK(prefix_table_check(f.t[tbl]), "canonical");
	}
	fx_close(&f);
}

TEST(prefix_default_route)
{
	struct fx f;

	if (!fx_open(&f, 256, 256))
		return;
	for (int tbl = 0; tbl < NTABLES; tbl++) {
		bool v4 = tables[tbl].family == AF_INET;
		uint32_t all, inner;
		struct cidr c;

		all = add(&f, tbl, v4 ? "0.0.0.0/0" : "::/0", 0);
		ASSERT_EQ(q(&f, tbl, v4 ? "0.0.0.0" : "::"), all, "lowest address");
		ASSERT_EQ(q(&f, tbl, v4 ? "255.255.255.255" : "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
			  all, "highest address");
		inner = add(&f, tbl, v4 ? "203.0.113.0/24" : "2001:db8::/32", 0);
		ASSERT_EQ(q(&f, tbl, v4 ? "203.0.113.9" : "2001:db8::9"), inner, "inner wins");
		ASSERT_EQ(q(&f, tbl, v4 ? "203.0.114.9" : "2001:db9::9"), all, "default elsewhere");
		c = C(v4 ? "0.0.0.0/0" : "::/0");
		ASSERT_OK(prefix_table_delete(f.t[tbl], &c), "delete /0");
		ASSERT_EQ(q(&f, tbl, v4 ? "203.0.114.9" : "2001:db9::9"), 0, "miss without /0");
		ASSERT_EQ(q(&f, tbl, v4 ? "203.0.113.9" : "2001:db8::9"), inner, "inner stays");
		/* /0 expired with a live inner prefix, and the other way round. */
		all = add(&f, tbl, v4 ? "0.0.0.0/0" : "::/0", 1);
		ASSERT_EQ(q(&f, tbl, v4 ? "203.0.114.9" : "2001:db9::9"), 0, "expired /0 is a miss");
		ASSERT_EQ(prefix_table_rule(f.t[tbl], inner)->parent, all, "/0 is the inner's parent");
		ASSERT_OK(prefix_table_check(f.t[tbl]), "canonical");
		ASSERT_OK(prefix_table_clear(f.t[tbl]), "clear");
		ASSERT_EQ(q(&f, tbl, v4 ? "203.0.113.9" : "2001:db8::9"), 0, "cleared");
		ASSERT_OK(prefix_table_check(f.t[tbl]), "canonical after clear");
	}
	fx_close(&f);
}

TEST(prefix_wrong_family_and_host_bits)
{
	struct cidr c4 = C("192.0.2.0/24"), c6 = C("2001:db8::/32");
	struct fx f;
	size_t skipped = 0;

	if (!fx_open(&f, 256, 256))
		return;
	ASSERT_EQ(prefix_table_add(f.t[T4], &c6, NULL, NULL), -EAFNOSUPPORT, "v6 into v4");
	ASSERT_EQ(prefix_table_add(f.t[T6], &c4, NULL, NULL), -EAFNOSUPPORT, "v4 into v6");
	struct cidr both[2] = { c4, c6 };
	ASSERT_OK(prefix_table_load(f.t[T4], both, 2, NULL, &skipped), "load mixed");
	ASSERT_EQ(skipped, 1, "one skipped");
	/* Host bits set by hand (cidr_parse would clear them): the table masks them. */
	c4.addr[3] = 77;
	ASSERT_NEQ(prefix_table_find(f.t[T4], &c4), 0, "found with host bits");
	fx_close(&f);
}

/* Random adds, deletes and batch loads; after every round the kernel, the user-space walk and
 * the trie must agree with the linear scan, and the structure must be canonical. */
static void differential(int tbl, unsigned rounds, unsigned ops, unsigned checks)
{
	struct ref r = {};
	struct gen g;
	struct fx f;
	uint64_t future = now_boottime_ns() + 3600 * NSEC_PER_SEC;
	unsigned added = 0, deleted = 0, loaded = 0;

	rnd_seed(tables[tbl].name);
	gen_init(&g, tables[tbl].family);
	if (!fx_open(&f, 1 << 14, 1 << 12))
		return;
	for (unsigned round = 0; round < rounds; round++) {
		for (unsigned op = 0; op < ops; op++) {
			unsigned k = (unsigned)(rnd() % 100);
			struct cidr c;

			if (r.n && k < 35 + (r.n > 3000 ? 30 : 0)) {
				size_t i = rnd() % r.n;

				if (!ASSERT_OK(prefix_table_delete(f.t[tbl], &r.e[i].c), "delete"))
					goto out;
				ref_del(&r, i);
				deleted++;
			} else if (k < 40) {
				gen_cidr(&g, &c);
				if (!ref_find(&r, &c))
					ASSERT_EQ(prefix_table_delete(f.t[tbl], &c), -ENOENT, "delete absent");
			} else {
				struct prefix_attrs a = {};
				uint32_t id = 0;

				gen_cidr(&g, &c);
				a.expires_ns = rnd() % 8 == 0 ? 1 : rnd() % 8 == 0 ? future : 0;
				if (!ASSERT_OK(prefix_table_add(f.t[tbl], &c, &a, &id), "add"))
					goto out;
				ref_put(&r, &c, id, a.expires_ns);
				added++;
			}
		}
		/* Batches: a big one (one pass over the whole table) or a small one next to the
		 * table (one pass per prefix). */
		if (round % 2 || r.n > 1000) {
			struct prefix_attrs a = { .expires_ns = round % 4 == 1 ? 1 : 0 };
			size_t n = round % 2 ? 300 : 8;
			struct cidr batch[300];

			for (size_t i = 0; i < n; i++)
				gen_cidr(&g, &batch[i]);
			if (!ASSERT_OK(prefix_table_load(f.t[tbl], batch, n, &a, NULL), "load"))
				goto out;
			for (size_t i = 0; i < n; i++)
				ref_put(&r, &batch[i], prefix_table_find(f.t[tbl], &batch[i]), a.expires_ns);
			loaded += (unsigned)n;
		}
		if (!ASSERT_OK(prefix_table_check(f.t[tbl]), "canonical after a round"))
			goto out;
		/* Freed nodes and rule ids come first on the free lists: the next round reuses them. */
		if (!ASSERT_OK(prefix_table_reclaim(f.t[tbl]), "reclaim"))
			goto out;
		if (!check_addrs(&f, tbl, &g, &r, checks))
			goto out;
	}
	struct prefix_table_stats s;

	prefix_table_stats(f.t[tbl], &s);
	ASSERT_EQ(s.prefixes, r.n, "prefix count");
	fprintf(stderr, "    %s: %u adds, %u deletes, %u batch-loaded, %zu prefixes now, %zu nodes, "
		"%llu grace periods\n", tables[tbl].name, added, deleted, loaded, s.prefixes, s.nodes,
		(unsigned long long)s.grace_waits);
out:
	free(r.e);
	fx_close(&f);
}

TEST(prefix_differential_v4)
{
	differential(T4, 10, 400, 1500);
	differential(T4S, 10, 400, 1500);
}

TEST(prefix_differential_v6)
{
	differential(T6, 10, 400, 1500);
	differential(T6S, 10, 400, 1500);
}

/* Rule ids and nodes run out: -ENOSPC, the table as it was; deletes free them after a grace
 * period, and the table takes the grace period by itself when it needs the ids. */
TEST(prefix_capacity_and_reuse)
{
	struct cidr batch[8];
	struct fx f;
	char s[64];
	struct prefix_table_stats st;

	if (!fx_open(&f, 64, 8))
		return;
	for (int i = 0; i < 7; i++) {
		snprintf(s, sizeof(s), "10.%d.0.0/16", i);
		add(&f, T4S, s, 0);
	}
	struct cidr c = C("10.99.0.0/16");
	ASSERT_EQ(prefix_table_add(f.t[T4S], &c, NULL, NULL), -ENOSPC, "rules full");
	ASSERT_EQ(q(&f, T4S, "10.99.1.1"), 0, "not published");
	for (int i = 0; i < 8; i++) {
		snprintf(s, sizeof(s), "11.%d.0.0/16", i);
		batch[i] = C(s);
	}
	ASSERT_EQ(prefix_table_load(f.t[T4S], batch, 8, NULL, NULL), -ENOSPC, "batch does not fit");
	ASSERT_EQ(q(&f, T4S, "11.1.1.1"), 0, "nothing of the batch published");
	ASSERT_OK(prefix_table_check(f.t[T4S]), "canonical");
	for (int i = 0; i < 7; i++) {
		snprintf(s, sizeof(s), "10.%d.0.0/16", i);
		c = C(s);
		ASSERT_OK(prefix_table_delete(f.t[T4S], &c), "delete");
	}
	ASSERT_OK(prefix_table_load(f.t[T4S], batch, 7, NULL, NULL), "batch after deletes");
	prefix_table_stats(f.t[T4S], &st);
	ASSERT_GE(st.grace_waits, 1, "a grace period before reusing ids");
	ASSERT_EQ(q(&f, T4S, "11.6.1.1"), prefix_table_find(f.t[T4S], &batch[6]), "reused id answers");
	ASSERT_OK(prefix_table_check(f.t[T4S]), "canonical");

	/* Nodes: 63 usable. Hosts in distinct /8s under an 8-bit first level need 2 nodes each. */
	int n_ok = 0, err = 0;
	for (int i = 0; i < 64 && !err; i++) {
		snprintf(s, sizeof(s), "%d.%d.1.1/32", 20 + i, i);
		c = C(s);
		err = prefix_table_add(f.t[T4], &c, NULL, NULL);
		n_ok += !err;
		if (i == 5) {
			snprintf(s, sizeof(s), "%d.%d.1.1", 20 + i, i);
			ASSERT_NEQ(q(&f, T4, s), 0, "host found");
		}
	}
	ASSERT_EQ(err, -ENOSPC, "rules or nodes run out");
	ASSERT_OK(prefix_table_check(f.t[T4]), "canonical after ENOSPC");
	fx_close(&f);
}

/* A restarted agent adopts pinned maps: same answers, canonical again even if an entry was
 * damaged, and updates go on. */
TEST(prefix_adopt_existing_maps)
{
	struct gen g;
	struct ref r = {};
	struct fx f;

	rnd_seed("adopt");
	if (!fx_open(&f, 1 << 14, 1 << 13))
		return;
	for (int tbl = 0; tbl < NTABLES; tbl++) {
		struct prefix_table_stats before, after;

		gen_init(&g, tables[tbl].family);
		r.n = 0;
		for (int i = 0; i < 1500; i++) {
			struct prefix_attrs a = { .expires_ns = i % 9 == 0 ? 1 : 0 };
			struct cidr c;
			uint32_t id;

			gen_cidr(&g, &c);
			if (!ASSERT_OK(prefix_table_add(f.t[tbl], &c, &a, &id), "add"))
				goto out;
			ref_put(&r, &c, id, a.expires_ns);
		}
		prefix_table_stats(f.t[tbl], &before);
		prefix_table_close(f.t[tbl]);
		f.t[tbl] = NULL;
		/* Damage: one first-level entry points at a node that is not there. */
		uint32_t *l1 = mmap(NULL, 4u << tables[tbl].l1_bits, PROT_READ | PROT_WRITE, MAP_SHARED,
				    f.maps[tbl].l1_fd, 0);
		if (!ASSERT_TRUE(l1 != MAP_FAILED, "mmap l1"))
			goto out;
		l1[3] = PREFIX_NODE | 12345;
		munmap(l1, 4u << tables[tbl].l1_bits);
		if (!ASSERT_OK(prefix_table_open(&f.maps[tbl], &f.t[tbl]), "reopen"))
			goto out;
		prefix_table_stats(f.t[tbl], &after);
		ASSERT_EQ(after.prefixes, before.prefixes, "prefixes adopted");
		ASSERT_OK(prefix_table_check(f.t[tbl]), "canonical after adoption");
		if (!check_addrs(&f, tbl, &g, &r, 800))
			goto out;
		for (int i = 0; i < 300; i++) {
			struct cidr c;
			uint32_t id;

			gen_cidr(&g, &c);
			if (!ASSERT_OK(prefix_table_add(f.t[tbl], &c, NULL, &id), "add after adoption"))
				goto out;
			ref_put(&r, &c, id, 0);
		}
		ASSERT_OK(prefix_table_check(f.t[tbl]), "canonical after more adds");
		check_addrs(&f, tbl, &g, &r, 800);
	}
out:
	free(r.e);
	fx_close(&f);
}

/* ---- updates while the datapath reads ------------------------------------------------ */

struct reader {
	struct fx *f;
	int tbl;
	uint8_t addr[2][16];
	uint32_t want[2];
	atomic_bool stop;
	atomic_ulong runs, bad;
	uint32_t seen_bad[2];
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	uint8_t pkt[2][64] = {};
	size_t len;

	for (int i = 0; i < 2; i++) {
		if (tables[rd->tbl].family == AF_INET) {
			pkt[i][12] = 0x08;
			pkt[i][14] = 0x45;
			memcpy(pkt[i] + 26, rd->addr[i], 4);
			len = 34;
		} else {
			pkt[i][12] = 0x86;
			pkt[i][13] = 0xdd;
			pkt[i][14] = 0x60;
			memcpy(pkt[i] + 22, rd->addr[i], 16);
			len = 54;
		}
	}
	while (!atomic_load(&rd->stop)) {
		for (int i = 0; i < 2; i++) {
			LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt[i], .data_size_in = (__u32)len,
				    .repeat = 1);

			if (bpf_prog_test_run_opts(rd->f->prog, &o))
				continue;
			if (rd->f->ctl->live != rd->want[i] || rd->f->ctl->entry != rd->want[i]) {
				rd->seen_bad[i] = rd->f->ctl->live;
				atomic_fetch_add(&rd->bad, 1);
			}
			atomic_fetch_add(&rd->runs, 1);
		}
	}
	return NULL;
}

/*
 * Two watched addresses whose answers never change (one inside prefix W, one covered by
 * nothing) while another thread's adds and deletes split, merge, copy and retire the nodes
 * around them, and batch loads and grace periods recycle nodes and rule ids.
 */
static void concurrent(int tbl, double seconds)
{
	struct reader rd = { .tbl = tbl };
	struct gen g;
	struct ref r = {};
	struct fx f;
	pthread_t th;
	struct cidr w;
	unsigned ops = 0;

	rnd_seed(tables[tbl].name);
	gen_init(&g, tables[tbl].family);
	if (!fx_open(&f, 1 << 15, 1 << 14))
		return;
	rd.f = &f;
	/* All churn near the two watched addresses, so that it restructures their paths. */
	for (int i = 2; i < NBASES; i++)
		memcpy(g.base[i], g.base[i % 2], 16);
	/* W: a long prefix at base 0; A inside it; B elsewhere near base 1, covered by nothing. */
	memset(&w, 0, sizeof(w));
	w.family = g.family;
	memcpy(w.addr, g.base[0], 16);
	w.prefixlen = (uint8_t)(g.width - g.width / 8);
	for (unsigned i = w.prefixlen; i < g.width; i++)
		w.addr[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	memcpy(rd.addr[0], g.base[0], 16);
	memcpy(rd.addr[1], g.base[1], 16);
	rd.addr[1][g.bytes - 1] ^= 1;
	if (!ASSERT_OK(prefix_table_add(f.t[tbl], &w, NULL, &rd.want[0]), "add W"))
		goto out;
	rd.want[1] = 0;
	f.ctl->table = (__u32)tbl;
	if (!ASSERT_OK(pthread_create(&th, NULL, reader_main, &rd), "pthread_create"))
		goto out;
	uint64_t end = now_monotonic_ns() + (uint64_t)(seconds * 1e9);
	while (now_monotonic_ns() < end) {
		struct cidr c;

		gen_cidr(&g, &c);
		/* Nothing that could change the watched answers. */
		if ((cidr_has(&c, rd.addr[0]) && c.prefixlen >= w.prefixlen) || cidr_has(&c, rd.addr[1]))
			continue;
		if (r.n > 400 || (r.n && rnd() % 2)) {
			size_t i = rnd() % r.n;

			ASSERT_OK(prefix_table_delete(f.t[tbl], &r.e[i].c), "delete");
			ref_del(&r, i);
		} else if (!ref_find(&r, &c)) {
			ASSERT_OK(prefix_table_add(f.t[tbl], &c, NULL, NULL), "add");
			ref_put(&r, &c, 1, 0);
		}
		if (++ops % 500 == 0)
			prefix_table_reclaim(f.t[tbl]);
	}
	atomic_store(&rd.stop, true);
	pthread_join(th, NULL);
	ASSERT_OK(prefix_table_check(f.t[tbl]), "canonical");
	ASSERT_GE(atomic_load(&rd.runs), 1000, "reader ran");
	if (!ASSERT_EQ(atomic_load(&rd.bad), 0, "watched answers never changed"))
		fprintf(stderr, "    last wrong answers: %u %u (want %u %u)\n", rd.seen_bad[0],
			rd.seen_bad[1], rd.want[0], rd.want[1]);
	fprintf(stderr, "    %s: %u updates, %lu lookups alongside\n", tables[tbl].name, ops,
		atomic_load(&rd.runs));
out:
	free(r.e);
	fx_close(&f);
}

TEST(prefix_concurrent_updates)
{
	concurrent(T4S, 1.0);
	concurrent(T6S, 1.0);
}

/* ---- a feed-sized import ----------------------------------------------------------------- */

/* Lengths weighted like real block feeds: 50% /32, 38% /24, 8% /16../23, 4% /25../31, 0.01% /8../15
 * (a few thousand random /8../15 would cover the whole address space). */
static unsigned feed_len4(void)
{
	unsigned k = (unsigned)(rnd() % 10000);

	if (k < 5000)
		return 32;
	if (k < 8800)
		return 24;
	if (k < 9600)
		return 16 + (unsigned)(rnd() % 8);
	if (k < 9999)
		return 25 + (unsigned)(rnd() % 7);
	return 8 + (unsigned)(rnd() % 8);
}

static unsigned feed_len6(void)
{
	unsigned k = (unsigned)(rnd() % 100);

	if (k < 30)
		return 32;
	if (k < 60)
		return 48;
	if (k < 85)
		return 64;
	return 19 + (unsigned)(rnd() % 46);
}

static void random_cidrs(struct cidr *c, size_t n, int family)
{
	unsigned width = family == AF_INET ? 32 : 128;

	for (size_t i = 0; i < n; i++) {
		unsigned len = family == AF_INET ? feed_len4() : feed_len6();

		memset(&c[i], 0, sizeof(c[i]));
		c[i].family = family;
		c[i].prefixlen = (uint8_t)len;
		for (unsigned j = 0; j < width / 8; j++)
			c[i].addr[j] = (uint8_t)rnd();
		if (family == AF_INET6)
			c[i].addr[0] = 0x20 | (c[i].addr[0] & 0x1f);	/* 2000::/3 */
		for (unsigned b = len; b < width; b++)
			c[i].addr[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
	}
}

static void import(int tbl, size_t n, uint32_t nodes)
{
	struct cidr *c = calloc(n, sizeof(*c));
	struct prefix_table_stats s;
	struct fx f;
	uint64_t t0, t1;
	unsigned bad = 0;

	if (!ASSERT_TRUE(c, "calloc"))
		return;
	rnd_seed(tables[tbl].name);
	random_cidrs(c, n, tables[tbl].family);
	if (!fx_open(&f, nodes, (uint32_t)n + 1))
		goto out;
	t0 = now_monotonic_ns();
	if (!ASSERT_OK(prefix_table_load(f.t[tbl], c, n, NULL, NULL), "load"))
		goto close;
	t1 = now_monotonic_ns();
	prefix_table_stats(f.t[tbl], &s);
	fprintf(stderr, "    %s: imported %zu prefixes (%zu distinct) in %.3f s; %zu nodes; kernel "
		"%.1f MiB used, %.1f MiB allocated; user %.1f MiB\n", tables[tbl].name, n, s.prefixes,
		(double)(t1 - t0) / 1e9, s.nodes, s.kernel_bytes_used / 1048576.0,
		s.kernel_bytes_alloc / 1048576.0, s.user_bytes / 1048576.0);
	/* The kernel against the trie: prefix starts, ends and random addresses. */
	for (int i = 0; i < 3000 && bad < 5; i++) {
		const struct cidr *p = &c[rnd() % n];
		uint8_t a[16];
		uint32_t entry, live;

		memcpy(a, p->addr, 16);
		if (i % 3 == 1)
			for (unsigned b = p->prefixlen; b < (tables[tbl].family == AF_INET ? 32u : 128u); b++)
				a[b / 8] |= (uint8_t)(0x80 >> (b % 8));
		if (i % 3 == 2)
			for (unsigned j = 0; j < 16; j++)
				a[j] = (uint8_t)rnd();
		if (!fx_lookup(&f, tbl, a, &entry, &live))
			break;
		if (!ASSERT_EQ(live, prefix_table_match(f.t[tbl], a), "kernel == trie"))
			bad++;
	}
	/* A single update on the full table. */
	struct cidr one = c[0];
	t0 = now_monotonic_ns();
	ASSERT_OK(prefix_table_delete(f.t[tbl], &one), "delete one");
	ASSERT_OK(prefix_table_add(f.t[tbl], &one, NULL, NULL), "add it back");
	fprintf(stderr, "    %s: delete + add of one prefix on the full table: %.1f us\n",
		tables[tbl].name, (double)(now_monotonic_ns() - t0) / 1e3);
close:
	fx_close(&f);
out:
	free(c);
}

TEST(prefix_import_feed)
{
	import(T4, 1000000, 1 << 20);
	import(T6, 100000, 1 << 18);
}
