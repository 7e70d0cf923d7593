// SPDX-License-Identifier: GPL-2.0-only
/*
 * Prefix tables against the LPM trie, under BPF_PROG_TEST_RUN, with the same prefixes:
 * N random IPv4 prefixes with a block-feed length mix and M random IPv6 prefixes, loaded into
 *
 *   lists:LPM      LPM tries (what bpf/guard.bpf.c did before its lists became prefix tables),
 *   lists:prefix   prefix tables (bpf/lib/prefix.h, written by src/prefix_table.c),
 *   lists:hashlen  one hash map per list probed once per prefix length present,
 *
 * each program parsing the packet with the guard's parse_packet() and looking the source up in
 * an (empty) allow list and then the block list, with hit accounting: the guard's list step.
 * The programs come from build/fixtures/prefix_lookup.bpf.o. Alongside: XDP_DROP, today's whole
 * guard (build/bpf/guard.bpf.o, its block-list prefix tables loaded with the same prefixes as the
 * agent loads them, the other lists empty and skipped by the agent's empty-list hint) and
 * xdp-filter's xdpfilt_dny_all.o when installed. When the guard cannot be set up, the table
 * says why instead of showing its column. Prints a table: median ns/packet over several runs of
 * bpf_prog_test_run_opts(repeat), import times and memory.
 *
 *   prefix_bench [-4 N] [-6 M] [-r repeat] [-k runs] [-s seed]
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "aegis/guard.h"
#include "aegis/prefix.h"
#include "cidr.h"
#include "log.h"
#include "prefix_table.h"
#include "util.h"

#define XDPFILTER_OBJ "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_dny_all.o"

static uint64_t rng = 42;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Same mix as tests/unit/test_prefix_table.c: 50% /32, 38% /24, 8% /16../23, 4% /25../31,
 * 0.01% /8../15 (a few thousand random /8../15 would cover the whole address space). */
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

/* /19../64, mostly /32 /48 /64. */
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

/* ---- memory ----------------------------------------------------------------------- */

/* The kernel's own accounting of a map (fdinfo "memlock"). */
static uint64_t map_memlock(int fd)
{
	char path[64], line[256];
	uint64_t v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %lu", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* Slab memory (the LPM trie's nodes are slab objects): a delta around a fill, noisy. */
static int64_t slab_kib(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Slab: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* Distinct (depth, key) among the prefixes' paths: nodes an uncompressed multibit trie with a
 * first level of l1 bits and this stride would need (computed on the data, not built). */
static size_t count_uncompressed(const struct cidr *c, size_t n, unsigned width, unsigned l1,
				 unsigned stride)
{
	size_t cap = 1, used = 0;
	struct key {
		uint64_t k[2];
		uint32_t d;
		uint32_t used;
	} *set;

	while (cap < n * 8)
		cap <<= 1;
	set = calloc(cap, sizeof(*set));
	if (!set)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t a[2] = { 0, 0 };

		if (width == 32) {
			uint32_t v;

			memcpy(&v, c[i].addr, 4);
			a[0] = (uint64_t)ntohl(v) << 32;
		} else {
			uint64_t w[2];

			memcpy(w, c[i].addr, 16);
			a[0] = be64toh(w[0]);
			a[1] = be64toh(w[1]);
		}
		for (unsigned d = l1; d < c[i].prefixlen; d += stride) {
			struct key k = { { d >= 64 ? a[0] : d ? a[0] & (~0ULL << (64 - d)) : 0,
					   d > 64 ? a[1] & (~0ULL << (128 - d)) : 0 }, d, 1 };
			uint64_t h = (k.k[0] * 0x9e3779b97f4a7c15ULL) ^ (k.k[1] + d) * 0xc2b2ae3d27d4eb4fULL;
			size_t j = (h ^ (h >> 31)) & (cap - 1);

			while (set[j].used && (set[j].d != d || set[j].k[0] != k.k[0] || set[j].k[1] != k.k[1]))
				j = (j + 1) & (cap - 1);
			if (!set[j].used) {
				set[j] = k;
				used++;
			}
		}
	}
	free(set);
	return used;
}

/* ---- packets ------------------------------------------------------------------------ */

struct packet {
	const char *what;
	int family;
	uint8_t src[16];
	uint8_t buf[64];
	size_t len;
	bool hit;
};

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* 64-byte Ethernet + IP + UDP frame from src, as the guard's parser wants it. */
static void packet_build(struct packet *p)
{
	uint8_t *b = p->buf;

	memset(b, 0, sizeof(p->buf));
	memset(b, 0x02, 12);
	if (p->family == AF_INET) {
		uint8_t *ip = b + 14, *udp = ip + 20;
		uint16_t c;

		b[12] = 0x08;
		ip[0] = 0x45;
		ip[3] = 64 - 14;
		ip[8] = 64;
		ip[9] = 17;
		memcpy(ip + 12, p->src, 4);
		ip[16] = 198, ip[17] = 51, ip[18] = 100, ip[19] = 1;
		c = csum(ip, 20);
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
		udp[1] = 53;
		udp[3] = 53;
		udp[5] = 64 - 14 - 20;
	} else {
		uint8_t *ip = b + 14, *udp = ip + 40;

		b[12] = 0x86;
		b[13] = 0xdd;
		ip[0] = 0x60;
		ip[5] = 64 - 14 - 40;
		ip[6] = 17;
		ip[7] = 64;
		memcpy(ip + 8, p->src, 16);
		ip[24] = 0x20, ip[25] = 0x01, ip[26] = 0x0d, ip[27] = 0xb8, ip[39] = 1;
		udp[1] = 53;
		udp[3] = 53;
		udp[5] = 64 - 14 - 40;
	}
	p->len = 64;
}

/* An address whose longest match is a prefix of exactly this length (0: no match at all). */
static bool pick(struct prefix_table *t, const struct cidr *c, size_t n, unsigned lo, unsigned hi,
		 struct packet *p)
{
	unsigned width = p->family == AF_INET ? 32 : 128;

	for (int tries = 0; tries < 1000000; tries++) {
		struct cidr m;
		uint8_t a[16] = {};
		uint32_t id;

		if (hi == 0) {
			for (unsigned j = 0; j < width / 8; j++)
				a[j] = (uint8_t)rnd();
			if (p->family == AF_INET6)
				a[0] = 0x20 | (a[0] & 0x1f);
		} else {
			const struct cidr *x = &c[rnd() % n];

			if (x->prefixlen < lo || x->prefixlen > hi)
				continue;
			memcpy(a, x->addr, 16);
			for (unsigned b = x->prefixlen; b < width; b++)
				if (rnd() & 1)
					a[b / 8] |= (uint8_t)(0x80 >> (b % 8));
		}
		id = prefix_table_match(t, a);
		if (hi == 0 ? id != 0 : !prefix_table_cidr(t, id, &m) || m.prefixlen < lo || m.prefixlen > hi)
			continue;
		memcpy(p->src, a, 16);
		p->hit = hi != 0;
		packet_build(p);
		return true;
	}
	return false;
}

/* ---- programs ----------------------------------------------------------------------- */

struct prog {
	const char *name;
	int fd;
	bool ctx_lo;	/* needs ingress_ifindex (the guard looks the interface up) */
};

static int run(const struct prog *pr, const struct packet *p, uint32_t repeat, uint32_t *ns,
	       uint32_t *verdict)
{
	struct xdp_md ctx = { .data_end = (uint32_t)p->len, .ingress_ifindex = 1 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->buf, .data_size_in = (uint32_t)p->len,
		    .repeat = repeat);

	if (pr->ctx_lo) {
		o.ctx_in = &ctx;
		o.ctx_size_in = sizeof(ctx);
	}
	if (bpf_prog_test_run_opts(pr->fd, &o))
		return -errno;
	*ns = o.duration;
	*verdict = o.retval;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- loading ------------------------------------------------------------------------ */

static int set_max(struct bpf_object *o, const char *map, uint32_t n)
{
	struct bpf_map *m = bpf_object__find_map_by_name(o, map);

	return m ? bpf_map__set_max_entries(m, n) : -ENOENT;
}

static int map_fd(struct bpf_object *o, const char *map)
{
	struct bpf_map *m = bpf_object__find_map_by_name(o, map);

	return m ? bpf_map__fd(m) : -ENOENT;
}

/* LPM keys + guard_rule values for n prefixes of one family; batch update, timed. */
static int fill_lpm(int fd, const struct cidr *c, size_t n, int family, double *secs)
{
	size_t ksz = family == AF_INET ? sizeof(struct guard_lpm_v4) : sizeof(struct guard_lpm_v6);
	uint8_t *keys = calloc(n, ksz);
	struct guard_rule *vals = calloc(n, sizeof(*vals));
	uint64_t t0;
	uint32_t cnt = (uint32_t)n;
	int err;
	LIBBPF_OPTS(bpf_map_batch_opts, bo);

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t len = c[i].prefixlen;

		memcpy(keys + i * ksz, &len, 4);
		memcpy(keys + i * ksz + 4, c[i].addr, ksz - 4);
	}
	t0 = now_monotonic_ns();
	err = bpf_map_update_batch(fd, keys, vals, &cnt, &bo) ? -errno : 0;
	*secs = (double)(now_monotonic_ns() - t0) / 1e9;
	free(keys);
	free(vals);
	return err;
}

struct hl_key4 {
	uint32_t len;
	uint8_t addr[4];
};

struct hl_key6 {
	uint32_t len;
	uint8_t addr[16];
};

struct hl_lens {
	uint64_t v4;
	uint64_t v6[3];
};

static int fill_hashlen(int fd, const struct cidr *c, size_t n, int family, struct hl_lens *lens,
			double *secs)
{
	size_t ksz = family == AF_INET ? sizeof(struct hl_key4) : sizeof(struct hl_key6);
	uint8_t *keys = calloc(n, ksz);
	struct guard_rule *vals = calloc(n, sizeof(*vals));
	uint64_t t0;
	uint32_t cnt = (uint32_t)n;
	int err;
	LIBBPF_OPTS(bpf_map_batch_opts, bo);

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t len = c[i].prefixlen;

		memcpy(keys + i * ksz, &len, 4);
		memcpy(keys + i * ksz + 4, c[i].addr, ksz - 4);
		if (family == AF_INET)
			lens->v4 |= 1ULL << len;
		else
			lens->v6[len / 64] |= 1ULL << (len % 64);
	}
	t0 = now_monotonic_ns();
	err = bpf_map_update_batch(fd, keys, vals, &cnt, &bo) ? -errno : 0;
	*secs = (double)(now_monotonic_ns() - t0) / 1e9;
	free(keys);
	free(vals);
	return err;
}

static struct prefix_table *open_table(struct bpf_object *o, const char *name, int family,
				       unsigned l1_bits)
{
	struct prefix_table_maps m = { .family = family, .l1_bits = l1_bits };
	struct prefix_table *t = NULL;
	char n[64];

	snprintf(n, sizeof(n), "%s_l1", name);
	m.l1_fd = map_fd(o, n);
	snprintf(n, sizeof(n), "%s_nodes", name);
	m.nodes_fd = map_fd(o, n);
	snprintf(n, sizeof(n), "%s_rules", name);
	m.rules_fd = map_fd(o, n);
	if (prefix_table_open(&m, &t))
		return NULL;
	return t;
}

/*
 * Today's guard: the block lists' prefix tables sized as the agent sizes them for n4/n6 prefixes
 * (src/guard.c list_tables[]: rules = n + 1, nodes = n x 5/4 + 16 for IPv4, x 6/4 for IPv6),
 * filled with prefix_table_load(), block mode on lo, and guard_settings as the agent writes them
 * by default with these lists (empty_lists: the allow and scoped lists hold nothing). NULL with
 * why on failure: the datapath changes under this benchmark, so it says what it could not do.
 */
static struct bpf_object *load_guard(const char *path, const struct cidr *c4, size_t n4,
				     const struct cidr *c6, size_t n6, struct prefix_table **g4,
				     struct prefix_table **g6, double *secs, char *why, size_t whylen)
{
	struct guard_settings set = {
		.malformed_action = GUARD_ACTION_DROP, .later_fragment_action = GUARD_ACTION_PASS,
		.sample_every = 100, .top_every = 32,
		.empty_lists = GUARD_EMPTY_ALLOW_V4 | GUARD_EMPTY_ALLOW_V6 | GUARD_EMPTY_BLOCK_SCOPED_V4 |
			       GUARD_EMPTY_BLOCK_SCOPED_V6,
	};
	struct guard_iface gi = { .mode = GUARD_MODE_BLOCK_V, .slot = 1 };
	struct bpf_object *o = bpf_object__open_file(path, NULL);
	uint32_t lo = 1, zero = 0;
	uint64_t t0;

	*g4 = *g6 = NULL;
	if (!o) {
		snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (set_max(o, "block_v4_rules", (uint32_t)n4 + 1) ||
	    set_max(o, "block_v4_nodes", (uint32_t)(n4 * 5 / 4 + 16)) ||
	    set_max(o, "block_v6_rules", (uint32_t)n6 + 1) ||
	    set_max(o, "block_v6_nodes", (uint32_t)(n6 * 6 / 4 + 16))) {
		snprintf(why, whylen, "%s has no block_v4/block_v6 prefix tables (maps block_v*_rules, "
			 "_nodes): update bench/prefix/prefix_bench.c load_guard() to the datapath", path);
		goto fail;
	}
	if (bpf_object__load(o)) {
		snprintf(why, whylen, "loading %s failed: %s", path, strerror(errno));
		goto fail;
	}
	*g4 = open_table(o, "block_v4", AF_INET, 24);
	*g6 = open_table(o, "block_v6", AF_INET6, 20);
	if (!*g4 || !*g6) {
		snprintf(why, whylen, "prefix_table_open() of block_v4/block_v6 failed (first-level bits "
			 "24/20 as in bpf/guard.bpf.c?)");
		goto fail;
	}
	t0 = now_monotonic_ns();
	if (prefix_table_load(*g4, c4, n4, NULL, NULL) || prefix_table_load(*g6, c6, n6, NULL, NULL)) {
		snprintf(why, whylen, "prefix_table_load() into the guard's block lists failed");
		goto fail;
	}
	*secs = (double)(now_monotonic_ns() - t0) / 1e9;
	if (bpf_map_update_elem(map_fd(o, "guard_ifaces"), &lo, &gi, BPF_ANY) ||
	    bpf_map_update_elem(map_fd(o, "guard_settings"), &zero, &set, BPF_ANY)) {
		snprintf(why, whylen, "writing guard_ifaces/guard_settings failed: %s", strerror(errno));
		goto fail;
	}
	return o;
fail:
	prefix_table_close(*g4);
	prefix_table_close(*g6);
	*g4 = *g6 = NULL;
	bpf_object__close(o);
	return NULL;
}

static double mib(uint64_t b)
{
	return (double)b / 1048576.0;
}

int main(int argc, char **argv)
{
	size_t n4 = 1000000, n6 = 100000;
	uint32_t repeat = 1000000, runs = 7;
	const char *build = getenv("AEGIS_BUILD") ? getenv("AEGIS_BUILD") : "build";
	char path[512];
	struct bpf_object *fx = NULL, *guard = NULL, *xf = NULL;
	struct prefix_table *t4, *t6, *a4, *a6, *g4 = NULL, *g6 = NULL;
	char guard_why[512] = "";
	struct cidr *c4, *c6;
	struct hl_lens lens[2] = {};
	double s_p4, s_p6, s_l4, s_l6, s_h4, s_h6, s_g = 0;
	int64_t slab0, slab1;
	uint64_t seed = 42;
	int opt, err;

	while ((opt = getopt(argc, argv, "4:6:r:k:s:")) != -1) {
		switch (opt) {
		case '4': n4 = strtoul(optarg, NULL, 0); break;
		case '6': n6 = strtoul(optarg, NULL, 0); break;
		case 'r': repeat = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'k': runs = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 's': seed = strtoull(optarg, NULL, 0) ?: 42; break;
		default:
			fprintf(stderr, "usage: %s [-4 N] [-6 M] [-r repeat] [-k runs] [-s seed]\n", argv[0]);
			return 2;
		}
	}
	rng = seed;
	log_setup_libbpf();
	log_set_level(LOG_LVL_WARN);
	c4 = calloc(n4, sizeof(*c4));
	c6 = calloc(n6, sizeof(*c6));
	if (!c4 || !c6)
		return 1;
	random_cidrs(c4, n4, AF_INET);
	random_cidrs(c6, n6, AF_INET6);

	snprintf(path, sizeof(path), "%s/fixtures/prefix_lookup.bpf.o", build);
	fx = bpf_object__open_file(path, NULL);
	if (!fx) {
		fprintf(stderr, "open %s: %s (run make first)\n", path, strerror(errno));
		return 1;
	}
	err = set_max(fx, "t4_nodes", 1 << 20) ?: set_max(fx, "t4_rules", (uint32_t)n4 + 1) ?:
	      set_max(fx, "t6_nodes", (uint32_t)(n6 * 2 + 1024)) ?: set_max(fx, "t6_rules", (uint32_t)n6 + 1) ?:
	      set_max(fx, "t4s_nodes", 2) ?: set_max(fx, "t4s_rules", 2) ?:
	      set_max(fx, "t6s_nodes", 2) ?: set_max(fx, "t6s_rules", 2) ?:
	      set_max(fx, "lpm_block_v4", (uint32_t)n4) ?: set_max(fx, "lpm_block_v6", (uint32_t)n6) ?:
	      set_max(fx, "hl_block_v4", (uint32_t)n4) ?: set_max(fx, "hl_block_v6", (uint32_t)n6);
	if (err || bpf_object__load(fx)) {
		fprintf(stderr, "loading %s failed\n", path);
		return 1;
	}
	t4 = open_table(fx, "t4", AF_INET, 24);
	t6 = open_table(fx, "t6", AF_INET6, 20);
	a4 = open_table(fx, "a4", AF_INET, 16);
	a6 = open_table(fx, "a6", AF_INET6, 16);
	if (!t4 || !t6 || !a4 || !a6) {
		fprintf(stderr, "prefix_table_open failed\n");
		return 1;
	}

	/* Imports. */
	uint64_t t0 = now_monotonic_ns();
	if (prefix_table_load(t4, c4, n4, NULL, NULL))
		return 1;
	s_p4 = (double)(now_monotonic_ns() - t0) / 1e9;
	t0 = now_monotonic_ns();
	if (prefix_table_load(t6, c6, n6, NULL, NULL))
		return 1;
	s_p6 = (double)(now_monotonic_ns() - t0) / 1e9;
	slab0 = slab_kib();
	if (fill_lpm(map_fd(fx, "lpm_block_v4"), c4, n4, AF_INET, &s_l4) ||
	    fill_lpm(map_fd(fx, "lpm_block_v6"), c6, n6, AF_INET6, &s_l6)) {
		fprintf(stderr, "LPM fill failed\n");
		return 1;
	}
	slab1 = slab_kib();
	if (fill_hashlen(map_fd(fx, "hl_block_v4"), c4, n4, AF_INET, &lens[1], &s_h4) ||
	    fill_hashlen(map_fd(fx, "hl_block_v6"), c6, n6, AF_INET6, &lens[1], &s_h6)) {
		fprintf(stderr, "hash fill failed\n");
		return 1;
	}
	uint32_t one = 1;
	bpf_map_update_elem(map_fd(fx, "hl_lens"), &one, &lens[1], BPF_ANY);

	/* Today's guard with the same prefixes, and xdp-filter, when they load. */
	snprintf(path, sizeof(path), "%s/bpf/guard.bpf.o", build);
	guard = load_guard(path, c4, n4, c6, n6, &g4, &g6, &s_g, guard_why, sizeof(guard_why));
	if (!guard)
		fprintf(stderr, "warning: the guard column is left out: %s\n", guard_why);
	xf = bpf_object__open_file(XDPFILTER_OBJ, NULL);
	if (xf && bpf_object__load(xf)) {
		bpf_object__close(xf);
		xf = NULL;
	}

	struct prog progs[12];
	int np = 0;
	progs[np++] = (struct prog){ "XDP_DROP", bpf_program__fd(bpf_object__find_program_by_name(fx, "xdp_drop")), false };
	progs[np++] = (struct prog){ "parse", bpf_program__fd(bpf_object__find_program_by_name(fx, "xdp_parse")), false };
	progs[np++] = (struct prog){ "find:LPM", bpf_program__fd(bpf_object__find_program_by_name(fx, "xdp_find_lpm")), false };
	progs[np++] = (struct prog){ "find:prefix", bpf_program__fd(bpf_object__find_program_by_name(fx, "xdp_find_prefix")), false };
	progs[np++] = (struct prog){ "lists:LPM", bpf_program__fd(bpf_object__find_program_by_name(fx, "xdp_lists_lpm")), false };
	progs[np++] = (struct prog){ "lists:prefix", bpf_program__fd(bpf_object__find_program_by_name(fx, "xdp_lists_prefix")), false };
	progs[np++] = (struct prog){ "lists:hashlen", bpf_program__fd(bpf_object__find_program_by_name(fx, "xdp_lists_hashlen")), false };
	if (guard)
		progs[np++] = (struct prog){ "guard", bpf_program__fd(bpf_object__find_program_by_name(guard, "xdp_guard")), true };
	if (xf)
		progs[np++] = (struct prog){ "xdp-filter", bpf_program__fd(bpf_object__next_program(xf, NULL)), false };

	static const char *const what[8] = { "v4 hit /32", "v4 hit /24", "v4 hit /16-/23", "v4 miss",
					     "v6 hit /64", "v6 hit /48", "v6 hit /32", "v6 miss" };
	struct packet pk[8];
	static const unsigned range[8][2] = { { 32, 32 }, { 24, 24 }, { 16, 23 }, { 0, 0 },
					      { 64, 64 }, { 48, 48 }, { 32, 32 }, { 0, 0 } };
	for (int i = 0; i < 8; i++) {
		struct prefix_table *t;

		memset(&pk[i], 0, sizeof(pk[i]));
		pk[i].what = what[i];
		pk[i].family = i < 4 ? AF_INET : AF_INET6;
		t = pk[i].family == AF_INET ? t4 : t6;

		if (!pick(t, pk[i].family == AF_INET ? c4 : c6, pk[i].family == AF_INET ? n4 : n6,
			  range[i][0], range[i][1], &pk[i])) {
			fprintf(stderr, "no address for %s\n", pk[i].what);
			return 1;
		}
	}

	/* Every program must give the expected verdict before it is timed (the guard, which other
	 * work keeps changing, is left out with a note instead of failing the run). */
	for (int j = 1; j < np; j++) {
		for (int i = 0; i < 8; i++) {
			uint32_t ns, v;
			uint32_t want = pk[i].hit ? XDP_DROP : XDP_PASS;

			if (!strcmp(progs[j].name, "xdp-filter") || !strcmp(progs[j].name, "parse"))
				continue;
			if (!run(&progs[j], &pk[i], 1, &ns, &v) && v == want)
				continue;
			fprintf(stderr, "%s on %s: verdict %u, want %u\n", progs[j].name, pk[i].what, v, want);
			if (strcmp(progs[j].name, "guard"))
				return 1;
			snprintf(guard_why, sizeof(guard_why), "wrong verdict on %s (%u, want %u)", pk[i].what,
				 v, want);
			fprintf(stderr, "warning: the guard column is left out: %s\n", guard_why);
			memmove(&progs[j], &progs[j + 1], (size_t)(np - j - 1) * sizeof(progs[0]));
			np--;
			j--;
			break;
		}
	}

	/* Timing: rounds interleave programs and packets so that drift hits all alike. */
	uint32_t *ns = calloc((size_t)8 * np * runs, sizeof(*ns));
	for (uint32_t r = 0; r < runs; r++)
		for (int i = 0; i < 8; i++)
			for (int j = 0; j < np; j++) {
				uint32_t v;

				if (run(&progs[j], &pk[i], repeat, &ns[((size_t)i * np + j) * runs + r], &v)) {
					fprintf(stderr, "test_run %s failed\n", progs[j].name);
					return 1;
				}
			}

	struct prefix_table_stats s4, s6;
	prefix_table_stats(t4, &s4);
	prefix_table_stats(t6, &s6);
	printf("prefix tables vs LPM trie: %zu IPv4 (%zu distinct) + %zu IPv6 (%zu distinct) prefixes, "
	       "seed %llu\n", n4, s4.prefixes, n6, s6.prefixes, (unsigned long long)seed);
	printf("ns/packet under BPF_PROG_TEST_RUN, 64-byte UDP frame, median of %u runs x repeat %u\n\n",
	       runs, repeat);
	printf("%-15s", "");
	for (int j = 0; j < np; j++)
		printf("%14s", progs[j].name);
	printf("%14s%14s\n", "prefix-DROP", "LPM-DROP");
	int prefix_col = 0, lpm_col = 0;

	for (int j = 0; j < np; j++) {
		if (!strcmp(progs[j].name, "lists:prefix"))
			prefix_col = j;
		if (!strcmp(progs[j].name, "lists:LPM"))
			lpm_col = j;
	}
	for (int i = 0; i < 8; i++) {
		uint32_t med[12];

		printf("%-15s", pk[i].what);
		for (int j = 0; j < np; j++) {
			uint32_t *v = &ns[((size_t)i * np + j) * runs];

			qsort(v, runs, sizeof(*v), cmp_u32);
			med[j] = v[runs / 2];
			printf("%14u", med[j]);
		}
		printf("%14d%14d\n", (int)med[prefix_col] - (int)med[0], (int)med[lpm_col] - (int)med[0]);
	}
	if (guard && guard_why[0] == '\0')
		printf("\n(guard is today's whole guard program, its block lists' prefix tables loaded with "
		       "the same prefixes in %.3f s, block mode)\n", s_g);
	else
		printf("\n*** NO GUARD COLUMN: %s ***\n", guard_why);

	printf("\nimport (load into an empty table):\n");
	printf("  prefix table  v4 %.3f s   v6 %.3f s   (trie + rules + canonical structure)\n", s_p4, s_p6);
	printf("  LPM trie      v4 %.3f s   v6 %.3f s   (BPF_MAP_UPDATE_BATCH)\n", s_l4, s_l6);
	printf("  hash/length   v4 %.3f s   v6 %.3f s   (BPF_MAP_UPDATE_BATCH)\n", s_h4, s_h6);

	printf("\nmemory:\n");
	printf("  prefix v4: %.1f MiB used (l1 %.1f + %zu nodes x %zu B + %zu rules x %zu B), "
	       "%.1f MiB allocated, user side %.1f MiB\n", mib(s4.kernel_bytes_used),
	       mib((uint64_t)1 << 24 << 2), s4.nodes, sizeof(struct prefix_node), s4.rules,
	       sizeof(struct prefix_rule), mib(s4.kernel_bytes_alloc), mib(s4.user_bytes));
	printf("  prefix v6: %.1f MiB used (l1 %.1f + %zu nodes + %zu rules), %.1f MiB allocated, "
	       "user side %.1f MiB\n", mib(s6.kernel_bytes_used), mib((uint64_t)1 << 20 << 2), s6.nodes,
	       s6.rules, mib(s6.kernel_bytes_alloc), mib(s6.user_bytes));
	printf("  prefix per million v4 prefixes: %.1f MiB used\n",
	       mib(s4.kernel_bytes_used) * 1e6 / (double)s4.prefixes);
	printf("  LPM v4+v6: memlock %.1f + %.1f MiB; slab grew %.1f MiB during the fill\n",
	       mib(map_memlock(map_fd(fx, "lpm_block_v4"))), mib(map_memlock(map_fd(fx, "lpm_block_v6"))),
	       (double)(slab1 - slab0) / 1024.0);
	printf("  hash/length v4+v6: memlock %.1f + %.1f MiB (preallocated)\n",
	       mib(map_memlock(map_fd(fx, "hl_block_v4"))), mib(map_memlock(map_fd(fx, "hl_block_v6"))));
	size_t d248 = count_uncompressed(c4, n4, 32, 24, 8);
	size_t v6s8 = count_uncompressed(c6, n6, 128, 20, 8), v6s4 = count_uncompressed(c6, n6, 128, 20, 4);
	printf("  computed, not built: DIR-24-8 v4 = l1 64 MiB + %zu chunks x 1 KiB = %.1f MiB;\n"
	       "    v6 uncompressed multibit from /20: stride 8 = %zu x 1 KiB = %.1f MiB, stride 4 = "
	       "%zu x 64 B = %.1f MiB\n", d248, 64 + (double)d248 / 1024, v6s8, (double)v6s8 / 1024,
	       v6s4, (double)v6s4 * 64 / 1048576);

	/* Single updates on the full table. */
	t0 = now_monotonic_ns();
	for (int i = 0; i < 1000; i++) {
		prefix_table_delete(t4, &c4[i]);
		prefix_table_add(t4, &c4[i], NULL, NULL);
	}
	printf("\nsingle updates on the full v4 table: %.1f us per delete+add (1000 prefixes)\n",
	       (double)(now_monotonic_ns() - t0) / 1e3 / 1000);
	prefix_table_close(t4);
	prefix_table_close(t6);
	prefix_table_close(a4);
	prefix_table_close(a6);
	prefix_table_close(g4);
	prefix_table_close(g6);
	bpf_object__close(guard);
	bpf_object__close(xf);
	bpf_object__close(fx);
	free(ns);
	free(c4);
	free(c6);
	return 0;
}
