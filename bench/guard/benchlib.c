// SPDX-License-Identifier: GPL-2.0-only
/* Shared by the guard benchmarks: see benchlib.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "benchlib.h"
#include "cidr.h"
#include "log.h"

#ifndef ENOTSUPP
#define ENOTSUPP 524	/* kernel-internal, but what an unsupported batch op returns */
#endif

int bench_verbose;

void bench_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	fputs("error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void bench_info(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);	/* progress lines must not land inside a half-written table */
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_WARN && !bench_verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void bench_libbpf_logging(void)
{
	libbpf_set_print(libbpf_print);
	/* src/prefix_table.c logs through src/log.c: its warnings, and its debug lines with -v. */
	log_set_level(bench_verbose ? LOG_LVL_DEBUG : LOG_LVL_WARN);
}

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the block list ------------------------------------------------------------------- */

/* splitmix64: small, fast, and the same list for the same seed on every machine. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A unicast IPv4 address outside 0/8, 10/8 (the flood's own addresses), 127/8 and 224/3. */
static uint32_t rand_unicast4(uint64_t *s)
{
	for (;;) {
		uint32_t a = (uint32_t)rng_next(s);
		uint32_t o = a >> 24;

		if (o != 0 && o != 10 && o != 127 && o < 224)
			return a;
	}
}

static unsigned rand_len4(uint64_t *s)
{
	uint64_t r = rng_next(s);
	unsigned p = (unsigned)(r % 1000);

	if (p < 600)
		return 24;
	if (p < 950)
		return 32;
	if (p < 990)
		return 20 + (unsigned)((r >> 20) % 4);
	return 16 + (unsigned)((r >> 20) % 4);
}

static unsigned rand_len6(uint64_t *s)
{
	unsigned p = (unsigned)(rng_next(s) % 1000);

	if (p < 100)
		return 32;
	if (p < 500)
		return 48;
	return 64;
}

typedef unsigned __int128 u128;

static u128 mask6(unsigned len)
{
	return len == 0 ? 0 : ~(u128)0 << (128 - len);
}

/* 2000::/3, global unicast. */
static u128 rand_unicast6(uint64_t *s)
{
	u128 a = (u128)rng_next(s) << 64 | rng_next(s);

	return (a & (~(u128)0 >> 3)) | (u128)1 << 125;
}

struct p4 {
	uint32_t addr;
	uint32_t len;
};

struct p6 {
	u128 addr;
	uint32_t len;
};

static int cmp_p4(const void *a, const void *b)
{
	const struct p4 *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (int)x->len - (int)y->len;
}

static int cmp_p6(const void *a, const void *b)
{
	const struct p6 *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (int)x->len - (int)y->len;
}

static uint64_t end4(const struct p4 *p)
{
	return (uint64_t)p->addr + ((uint64_t)1 << (32 - p->len)) - 1;
}

static u128 end6(const struct p6 *p)
{
	return p->addr | ~mask6(p->len);
}

/*
 * Sorted by address, shorter first: a prefix that starts at or before the end of the last kept
 * one lies inside it (prefixes nest or are disjoint), so one sweep drops nested and duplicate
 * entries. Returns how many are kept at the front of the array.
 */
static size_t unnest4(struct p4 *v, size_t n)
{
	size_t k = 0;
	uint64_t last_end = 0;

	qsort(v, n, sizeof(*v), cmp_p4);
	for (size_t i = 0; i < n; i++) {
		if (k && v[i].addr <= last_end)
			continue;
		v[k++] = v[i];
		last_end = end4(&v[i]);
	}
	return k;
}

static size_t unnest6(struct p6 *v, size_t n)
{
	size_t k = 0;
	u128 last_end = 0;

	qsort(v, n, sizeof(*v), cmp_p6);
	for (size_t i = 0; i < n; i++) {
		if (k && v[i].addr <= last_end)
			continue;
		v[k++] = v[i];
		last_end = end6(&v[i]);
	}
	return k;
}

/* n random entries of v[0..k) moved to the front (partial Fisher-Yates). */
static void pick(void *v, size_t k, size_t n, size_t size, uint64_t *s)
{
	char tmp[64];

	for (size_t i = 0; i < n; i++) {
		size_t j = i + (size_t)(rng_next(s) % (k - i));
		char *a = (char *)v + i * size, *b = (char *)v + j * size;

		memcpy(tmp, a, size);
		memcpy(a, b, size);
		memcpy(b, tmp, size);
	}
}

static void put6(uint8_t out[16], u128 a)
{
	for (int i = 15; i >= 0; i--) {
		out[i] = (uint8_t)a;
		a >>= 8;
	}
}

static u128 get6(const uint8_t in[16])
{
	u128 a = 0;

	for (int i = 0; i < 16; i++)
		a = a << 8 | in[i];
	return a;
}

static uint32_t get4(const uint8_t in[4])
{
	return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
}

static void put4(uint8_t out[4], uint32_t a)
{
	out[0] = (uint8_t)(a >> 24);
	out[1] = (uint8_t)(a >> 16);
	out[2] = (uint8_t)(a >> 8);
	out[3] = (uint8_t)a;
}

static int gen4(struct prefix_set *ps, size_t n, uint64_t *s)
{
	size_t m = n + n / 8 + 1024, k;
	struct p4 *v = NULL;

	for (;;) {
		free(v);
		v = calloc(m, sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < m; i++) {
			v[i].len = rand_len4(s);
			v[i].addr = rand_unicast4(s) & (uint32_t)(~0ULL << (32 - v[i].len));
		}
		k = unnest4(v, m);
		if (k >= n)
			break;
		m += m / 2;
	}
	pick(v, k, n, sizeof(*v), s);
	qsort(v, n, sizeof(*v), cmp_p4);

	ps->v4 = calloc(n ? n : 1, sizeof(*ps->v4));
	if (!ps->v4) {
		free(v);
		return -ENOMEM;
	}
	ps->n4 = n;
	for (size_t i = 0; i < n; i++) {
		ps->v4[i].prefixlen = v[i].len;
		put4(ps->v4[i].addr, v[i].addr);
		ps->len_hist4[v[i].len]++;
	}

	/* The hit: a /32 entry if there is one, else host .77 of whatever entry comes up. */
	if (n) {
		size_t start = (size_t)(rng_next(s) % n), at = start;

		for (size_t i = 0; i < n; i++) {
			at = (start + i) % n;
			if (v[at].len == 32)
				break;
		}
		put4(ps->hit4, v[at].addr + (uint32_t)(77 % (end4(&v[at]) - v[at].addr + 1)));
	}
	free(v);
	do
		put4(ps->miss4, rand_unicast4(s));
	while (prefixes_cover4(ps, ps->miss4));
	return 0;
}

static int gen6(struct prefix_set *ps, size_t n, uint64_t *s)
{
	size_t m = n + n / 8 + 1024, k;
	struct p6 *v = NULL;

	for (;;) {
		free(v);
		v = calloc(m, sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < m; i++) {
			v[i].len = rand_len6(s);
			v[i].addr = rand_unicast6(s) & mask6(v[i].len);
		}
		k = unnest6(v, m);
		if (k >= n)
			break;
		m += m / 2;
	}
	pick(v, k, n, sizeof(*v), s);
	qsort(v, n, sizeof(*v), cmp_p6);

	ps->v6 = calloc(n ? n : 1, sizeof(*ps->v6));
	if (!ps->v6) {
		free(v);
		return -ENOMEM;
	}
	ps->n6 = n;
	for (size_t i = 0; i < n; i++) {
		ps->v6[i].prefixlen = v[i].len;
		put6(ps->v6[i].addr, v[i].addr);
		ps->len_hist6[v[i].len]++;
	}
	/* The hit: host ::77 of a random entry (the list has no /128s). */
	if (n) {
		size_t at = (size_t)(rng_next(s) % n);

		put6(ps->hit6, v[at].addr | 0x77);
	}
	free(v);
	do
		put6(ps->miss6, rand_unicast6(s));
	while (prefixes_cover6(ps, ps->miss6));
	return 0;
}

int prefixes_generate(struct prefix_set *ps, size_t n4, size_t n6, uint64_t seed)
{
	uint64_t s = seed;
	int err;

	memset(ps, 0, sizeof(*ps));
	err = gen4(ps, n4, &s);
	if (!err)
		err = gen6(ps, n6, &s);
	if (err)
		prefixes_free(ps);
	return err;
}

void prefixes_free(struct prefix_set *ps)
{
	free(ps->v4);
	free(ps->v6);
	memset(ps, 0, sizeof(*ps));
}

static void describe(const unsigned *hist, unsigned maxlen, size_t n, const unsigned *shown,
		     size_t nshown, char *buf, size_t len)
{
	size_t off = 0, rest = n;

	buf[0] = 0;
	if (!n)
		return;
	for (size_t i = 0; i < nshown && off < len; i++) {
		off += (size_t)snprintf(buf + off, len - off, "%s%.0f%% /%u", i ? ", " : "",
					100.0 * hist[shown[i]] / (double)n, shown[i]);
		rest -= hist[shown[i]];
	}
	(void)maxlen;
	if (rest && off < len)
		snprintf(buf + off, len - off, ", %.0f%% other", 100.0 * (double)rest / (double)n);
}

void prefixes_describe(const struct prefix_set *ps, char *buf4, size_t len4, char *buf6, size_t len6)
{
	static const unsigned shown4[] = { 24, 32 }, shown6[] = { 32, 48, 64 };

	describe(ps->len_hist4, 32, ps->n4, shown4, 2, buf4, len4);
	describe(ps->len_hist6, 128, ps->n6, shown6, 3, buf6, len6);
}

/* The last entry starting at or before addr is the only one that can cover it. */
bool prefixes_cover4(const struct prefix_set *ps, const uint8_t addr[4])
{
	uint32_t a = get4(addr);
	size_t lo = 0, hi = ps->n4;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (get4(ps->v4[mid].addr) <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return false;
	struct p4 p = { get4(ps->v4[lo - 1].addr), ps->v4[lo - 1].prefixlen };

	return a <= end4(&p);
}

size_t prefixes_hits4(const struct prefix_set *ps, size_t n, uint8_t (*out)[4], uint64_t seed)
{
	uint64_t s = seed;
	size_t k = 0;

	if (!ps->n4 || !n)
		return 0;
	memcpy(out[k++], ps->hit4, 4);
	/* A stride through the sorted list from a random start: distinct entries, spread out. */
	for (size_t i = 0, at = (size_t)(rng_next(&s) % ps->n4); k < n && i < ps->n4; i++) {
		struct p4 p;

		at = (at + ps->n4 / n + 1) % ps->n4;
		p.addr = get4(ps->v4[at].addr);
		p.len = ps->v4[at].prefixlen;
		put4(out[k], p.addr + (uint32_t)(77 % (end4(&p) - p.addr + 1)));
		if (memcmp(out[k], ps->hit4, 4))
			k++;
	}
	return k;
}

bool prefixes_cover6(const struct prefix_set *ps, const uint8_t addr[16])
{
	u128 a = get6(addr);
	size_t lo = 0, hi = ps->n6;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (get6(ps->v6[mid].addr) <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return false;
	struct p6 p = { get6(ps->v6[lo - 1].addr), ps->v6[lo - 1].prefixlen };

	return a <= end6(&p);
}

#define FILL_CHUNK 16384

int lpm_fill(int map_fd, const void *keys, size_t key_size, size_t n, const void *value,
	     size_t value_size, struct fill_result *res)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
	size_t chunk = n < FILL_CHUNK ? n : FILL_CHUNK, done = 0;
	char *values;
	double t0 = bench_now();
	int err = 0;

	memset(res, 0, sizeof(*res));
	if (!n)
		return 0;
	values = malloc(chunk * value_size);
	if (!values)
		return -ENOMEM;
	for (size_t i = 0; i < chunk; i++)
		memcpy(values + i * value_size, value, value_size);

	res->how = "bpf_map_update_batch";
	while (done < n) {
		__u32 count = (__u32)(n - done < chunk ? n - done : chunk);

		if (bpf_map_update_batch(map_fd, (const char *)keys + done * key_size, values, &count,
					 &opts)) {
			err = -errno;
			if (done == 0 && count == 0 &&
			    (err == -EINVAL || err == -ENOTSUPP || err == -EOPNOTSUPP)) {
				res->how = "one bpf_map_update_elem per entry";
				err = 0;
				break;
			}
			bench_err("bpf_map_update_batch after %zu entries: %s", done + count, strerror(-err));
			goto out;
		}
		done += count;
	}
	for (; done < n; done++) {
		if (bpf_map_update_elem(map_fd, (const char *)keys + done * key_size, value, BPF_ANY)) {
			err = -errno;
			bench_err("bpf_map_update_elem at entry %zu: %s", done, strerror(-err));
			goto out;
		}
	}
out:
	res->entries = done;
	res->seconds = bench_now() - t0;
	free(values);
	return err;
}

void bench_rule(struct guard_rule *r)
{
	struct timespec ts;

	memset(r, 0, sizeof(*r));
	clock_gettime(CLOCK_REALTIME, &ts);
	r->created_ns = (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
	r->origin = GUARD_ORIGIN_FILE;
}

void bench_attrs(struct prefix_attrs *a)
{
	struct timespec ts;

	memset(a, 0, sizeof(*a));
	clock_gettime(CLOCK_REALTIME, &ts);
	a->created_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	a->origin = GUARD_ORIGIN_FILE;
}

uint64_t bench_map_memlock(int fd)
{
	char path[64], line[256];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

int64_t bench_slab_kib(void)
{
	char line[256];
	long long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Slab: %lld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* ---- objects ---------------------------------------------------------------------------- */

struct bpf_object *bench_open(const char *path)
{
	struct bpf_object *obj;
	struct bpf_map *m;

	if (access(path, R_OK)) {
		bench_err("%s: %s", path, strerror(errno));
		return NULL;
	}
	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		bench_err("%s: cannot open BPF object: %s", path, strerror(errno));
		return NULL;
	}
	bpf_object__for_each_map(m, obj)
		bpf_map__set_pin_path(m, NULL);
	return obj;
}

int bench_load(struct bpf_object *obj, const char *what)
{
	int err = bpf_object__load(obj);

	if (err) {
		char msg[128];

		libbpf_strerror(err, msg, sizeof(msg));
		bench_err("%s: load failed: %s (verifier log above)", what, msg);
	}
	return err;
}

int bench_prog_fd(struct bpf_object *obj, const char *name)
{
	struct bpf_program *p = name ? bpf_object__find_program_by_name(obj, name)
				     : bpf_object__next_program(obj, NULL);

	return p ? bpf_program__fd(p) : -ENOENT;
}

uint32_t bench_verified_insns(int prog)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return prog < 0 || bpf_obj_get_info_by_fd(prog, &info, &len) ? 0 : info.verified_insns;
}

int bench_map_fd(struct bpf_object *obj, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);

	return m ? bpf_map__fd(m) : -ENOENT;
}

int bench_map_min_entries(struct bpf_object *obj, const char *name, uint32_t n)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);

	if (!m)
		return -ENOENT;
	if (bpf_map__max_entries(m) >= n)
		return 0;
	return bpf_map__set_max_entries(m, n);
}

const char *bench_map_type_name(struct bpf_object *obj, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
	const char *s = m ? libbpf_bpf_map_type_str(bpf_map__type(m)) : NULL;

	return s ? s : "absent";
}

/* ---- map values through BTF ----------------------------------------------------------- */

static const struct btf_type *skip_mods(const struct btf *btf, __u32 id)
{
	const struct btf_type *t = btf__type_by_id(btf, id);

	while (t && (btf_is_typedef(t) || btf_is_mod(t)))
		t = btf__type_by_id(btf, t->type);
	return t;
}

int bench_value_field(struct bpf_object *obj, const char *map, const char *field, struct bench_field *f)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, map);
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_type *t;
	const struct btf_member *mb;

	if (!m || !btf)
		return -ENOENT;
	t = skip_mods(btf, bpf_map__btf_value_type_id(m));
	if (!t || !btf_is_struct(t))
		return -ENOENT;
	mb = btf_members(t);
	for (int i = 0; i < btf_vlen(t); i++, mb++) {
		const struct btf_type *ft;

		if (strcmp(btf__name_by_offset(btf, mb->name_off), field))
			continue;
		ft = skip_mods(btf, mb->type);
		if (!ft || !btf_is_int(ft) || btf_member_bitfield_size(t, i) || ft->size > 8)
			return -EINVAL;
		f->off = btf_member_bit_offset(t, i) / 8;
		f->size = ft->size;
		return 0;
	}
	return -ENOENT;
}

int bench_set(struct bpf_object *obj, const char *map, void *val, const char *field, uint64_t v)
{
	struct bench_field f;
	int err = bench_value_field(obj, map, field, &f);

	if (err)
		return err;
	memcpy((char *)val + f.off, &v, f.size);	/* little endian: the low bytes */
	return 0;
}

uint64_t bench_get(const void *val, const struct bench_field *f)
{
	uint64_t v = 0;

	memcpy(&v, (const char *)val + f->off, f->size);
	return v;
}

/* ---- the guard -------------------------------------------------------------------------- */

/*
 * The list tables as src/guard.c's list_tables[] has them: nodes per 4 rules says how many nodes
 * the agent allows per prefix of a capacity (IPv6 prefixes branch deeper below the first level).
 */
static const struct {
	const char *name;
	int family;
	unsigned nodes_per_4_rules;
} list_tables[GL_COUNT] = {
	[GL_BLOCK_V4] = { "block_v4", AF_INET, 5 },
	[GL_BLOCK_V6] = { "block_v6", AF_INET6, 6 },
	[GL_ALLOW_V4] = { "allow_v4", AF_INET, 5 },
	[GL_ALLOW_V6] = { "allow_v6", AF_INET6, 6 },
};

const char *guard_list_name(enum guard_list l)
{
	return l < GL_COUNT ? list_tables[l].name : "?";
}

static struct bpf_map *list_map(struct guard_obj *g, enum guard_list l, const char *part)
{
	char name[64];

	snprintf(name, sizeof(name), "%s_%s", list_tables[l].name, part);
	return bpf_object__find_map_by_name(g->obj, name);
}

/* Capacity cap as the agent sizes it; 0 keeps the object's sizes. */
static int size_table(struct guard_obj *g, enum guard_list l, size_t cap)
{
	uint64_t nodes = ((uint64_t)cap * list_tables[l].nodes_per_4_rules + 3) / 4 + 16;
	char name[64];
	int err;

	if (!cap)
		return 0;
	if (cap >= PREFIX_ID_MAX || nodes >= PREFIX_ID_MAX)
		return -E2BIG;
	snprintf(name, sizeof(name), "%s_nodes", list_tables[l].name);
	err = bench_map_min_entries(g->obj, name, (uint32_t)nodes);
	snprintf(name, sizeof(name), "%s_rules", list_tables[l].name);
	if (!err)
		err = bench_map_min_entries(g->obj, name, (uint32_t)cap + 1);
	return err;
}

/* prefix_table_open() over the table's three maps; l1_bits from the size of its _l1 map. */
static int open_table(struct guard_obj *g, enum guard_list l)
{
	struct bpf_map *l1 = list_map(g, l, "l1"), *nodes = list_map(g, l, "nodes"), *rules = list_map(g, l, "rules");
	struct prefix_table_maps m = { .family = list_tables[l].family };
	uint32_t groups;
	int err;

	if (!l1 || !nodes || !rules)
		return -ENOENT;
	groups = bpf_map__max_entries(l1);
	if (!groups || groups & (groups - 1)) {
		bench_err("%s: %s: %u groups is not a power of two", g->path, bpf_map__name(l1), groups);
		return -EINVAL;
	}
	m.l1_bits = (unsigned)__builtin_ctz(groups) + PREFIX_STRIDE;
	m.l1_fd = bpf_map__fd(l1);
	m.nodes_fd = bpf_map__fd(nodes);
	m.rules_fd = bpf_map__fd(rules);
	err = prefix_table_open(&m, &g->lists[l]);
	if (err) {
		bench_err("%s: prefix_table_open(%s, l1_bits %u): %s", g->path, list_tables[l].name,
			  m.l1_bits, strerror(-err));
		return err;
	}
	g->l1_bits[l] = m.l1_bits;
	return 0;
}

int guard_load(struct guard_obj *g, const char *path, size_t n4, size_t n6)
{
	double t;
	int err;

	memset(g, 0, sizeof(*g));
	g->path = path;
	g->obj = bench_open(path);
	if (!g->obj)
		return -ENOENT;
	g->prog = -ENOENT;
	for (int l = 0; l < GL_COUNT; l++) {
		if (!list_map(g, l, "l1") || !list_map(g, l, "nodes") || !list_map(g, l, "rules")) {
			bench_err("%s: no %s_l1/_nodes/_rules maps: the guard's lists are not the prefix "
				  "tables this harness writes; update bench/guard/benchlib.c", path,
				  list_tables[l].name);
			err = -ENOENT;
			goto fail;
		}
	}
	/* The agent sizes the lists from its configuration; here, from the list. */
	err = size_table(g, GL_BLOCK_V4, n4);
	if (!err)
		err = size_table(g, GL_BLOCK_V6, n6);
	if (err) {
		bench_err("%s: cannot size the block lists for %zu + %zu prefixes: %s", path, n4, n6,
			  strerror(-err));
		goto fail;
	}
	err = bench_load(g->obj, path);
	if (err)
		goto fail;
	g->prog = bench_prog_fd(g->obj, "xdp_guard");
	if (g->prog < 0 || bench_map_fd(g->obj, "guard_ifaces") < 0) {
		bench_err("%s: no xdp_guard program or no guard_ifaces map: the datapath's contract "
			  "changed, update bench/guard/benchlib.c", path);
		err = -ENOENT;
		goto fail;
	}
	t = bench_now();
	for (int l = 0; l < GL_COUNT && !err; l++)
		err = open_table(g, l);
	g->open_seconds = bench_now() - t;
	if (err)
		goto fail;
	return 0;
fail:
	guard_close(g);
	return err ? err : -EINVAL;
}

void guard_close(struct guard_obj *g)
{
	/* The tables unmap the maps first: they belong to the object. */
	for (int l = 0; l < GL_COUNT; l++)
		prefix_table_close(g->lists[l]);
	bpf_object__close(g->obj);
	memset(g, 0, sizeof(*g));
}

int guard_list_memory(struct guard_obj *g, enum guard_list l, struct guard_list_mem *m)
{
	static const char *const parts[] = { "l1", "nodes", "rules" };

	memset(m, 0, sizeof(*m));
	if (l >= GL_COUNT || !g->lists[l])
		return -ENOENT;
	prefix_table_stats(g->lists[l], &m->st);
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		m->memlock += bench_map_memlock(bpf_map__fd(list_map(g, l, parts[i])));
	return 0;
}

/* A zeroed value buffer of map's value size; NULL when the map is absent. */
static void *value_buf(struct guard_obj *g, const char *map, int *fd)
{
	struct bpf_map *m = bpf_object__find_map_by_name(g->obj, map);

	if (!m)
		return NULL;
	*fd = bpf_map__fd(m);
	return calloc(1, bpf_map__value_size(m));
}

int guard_set_iface(struct guard_obj *g, uint32_t ifindex, uint32_t mode, uint32_t slot)
{
	struct bpf_map *m = bpf_object__find_map_by_name(g->obj, "guard_ifaces");
	const char *map = "guard_ifaces";
	void *v;
	int fd, err = 0;

	if (m && bpf_map__type(m) == BPF_MAP_TYPE_ARRAY && ifindex >= bpf_map__max_entries(m))
		map = "guard_ifaces_big";
	v = value_buf(g, map, &fd);
	if (!v) {
		bench_err("ifindex %u: no %s map", ifindex, map);
		return -ENOENT;
	}
	if (bench_set(g->obj, map, v, "mode", mode) || bench_set(g->obj, map, v, "slot", slot)) {
		bench_err("%s: no mode/slot field: update bench/guard/benchlib.c", map);
		err = -EINVAL;
	} else if (bpf_map_update_elem(fd, &ifindex, v, BPF_ANY)) {
		err = -errno;
		bench_err("%s[%u] (%s): %s", map, ifindex, bench_map_type_name(g->obj, map), strerror(-err));
	}
	free(v);
	return err;
}

/* The list's prefixes as struct cidr, for prefix_table_load(). */
static struct cidr *to_cidrs(const struct prefix_set *ps, int family)
{
	size_t n = family == AF_INET ? ps->n4 : ps->n6;
	struct cidr *c = calloc(n ? n : 1, sizeof(*c));

	if (!c)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		c[i].family = family;
		if (family == AF_INET) {
			c[i].prefixlen = (uint8_t)ps->v4[i].prefixlen;
			memcpy(c[i].addr, ps->v4[i].addr, 4);
		} else {
			c[i].prefixlen = (uint8_t)ps->v6[i].prefixlen;
			memcpy(c[i].addr, ps->v6[i].addr, 16);
		}
	}
	return c;
}

static int table_fill(struct guard_obj *g, enum guard_list l, const struct prefix_set *ps,
		      struct fill_result *r)
{
	int family = list_tables[l].family;
	size_t n = family == AF_INET ? ps->n4 : ps->n6, skipped = 0;
	struct cidr *c = to_cidrs(ps, family);
	struct prefix_table_stats st;
	struct prefix_attrs a;
	double t0;
	int err;

	memset(r, 0, sizeof(*r));
	r->how = "prefix_table_load, one pass";
	if (!c)
		return -ENOMEM;
	bench_attrs(&a);
	t0 = bench_now();
	err = prefix_table_load(g->lists[l], c, n, &a, &skipped);
	r->seconds = bench_now() - t0;
	free(c);
	if (err) {
		bench_err("%s: prefix_table_load(%s, %zu prefixes): %s", g->path, list_tables[l].name, n,
			  strerror(-err));
		return err;
	}
	prefix_table_stats(g->lists[l], &st);
	r->entries = st.prefixes;
	if (skipped || st.prefixes != n) {
		bench_err("%s: %s holds %zu prefixes of %zu (%zu skipped)", g->path, list_tables[l].name,
			  st.prefixes, n, skipped);
		return -EINVAL;
	}
	return 0;
}

int guard_fill_block(struct guard_obj *g, const struct prefix_set *ps, struct fill_result *r4,
		     struct fill_result *r6)
{
	int err = table_fill(g, GL_BLOCK_V4, ps, r4);

	if (!err)
		err = table_fill(g, GL_BLOCK_V6, ps, r6);
	return err;
}

static bool map_empty(struct guard_obj *g, const char *name)
{
	char key[256];
	int fd = bench_map_fd(g->obj, name);

	return fd >= 0 && bpf_map_get_next_key(fd, NULL, key) && errno == ENOENT;
}

static bool table_empty(struct guard_obj *g, enum guard_list l)
{
	struct prefix_table_stats st;

	if (!g->lists[l])
		return false;
	prefix_table_stats(g->lists[l], &st);
	return st.prefixes == 0;
}

int guard_write_settings(struct guard_obj *g, uint32_t sample_every, uint32_t top_every, char *desc,
			 size_t desclen)
{
	static const struct {
		int table;		/* enum guard_list, or -1: an LPM trie called map */
		const char *map;
		uint32_t bit;
	} lists[] = {
		{ GL_ALLOW_V4, NULL, GUARD_EMPTY_ALLOW_V4 },
		{ GL_ALLOW_V6, NULL, GUARD_EMPTY_ALLOW_V6 },
		{ GL_BLOCK_V4, NULL, GUARD_EMPTY_BLOCK_V4 },
		{ GL_BLOCK_V6, NULL, GUARD_EMPTY_BLOCK_V6 },
		{ -1, "guard_block_scoped_v4", GUARD_EMPTY_BLOCK_SCOPED_V4 },
		{ -1, "guard_block_scoped_v6", GUARD_EMPTY_BLOCK_SCOPED_V6 },
	};
	const char *map = "guard_settings";
	uint32_t zero = 0, empty = 0;
	size_t off = 0;
	int fd, err = 0;
	void *v = value_buf(g, map, &fd);

	desc[0] = 0;
	if (!v)
		return 0;	/* an object without settings: nothing to write */
	bench_set(g->obj, map, v, "malformed_action", GUARD_ACTION_DROP);
	bench_set(g->obj, map, v, "later_fragment_action", GUARD_ACTION_PASS);
	off += (size_t)snprintf(desc + off, desclen - off, "malformed drop, later fragments pass");
	if (bench_set(g->obj, map, v, "sample_every", sample_every) == 0)
		off += (size_t)snprintf(desc + off, desclen - off, ", sample_every %u", sample_every);
	if (bench_set(g->obj, map, v, "top_every", top_every) == 0 && off < desclen)
		off += (size_t)snprintf(desc + off, desclen - off, ", top_every %u", top_every);
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		if (lists[i].table >= 0 ? table_empty(g, lists[i].table) : map_empty(g, lists[i].map))
			empty |= lists[i].bit;
	g->empty_hint = empty;
	if (bench_set(g->obj, map, v, "empty_lists", empty) == 0 && off < desclen)
		snprintf(desc + off, desclen - off, ", empty_lists 0x%x", empty);
	if (bpf_map_update_elem(fd, &zero, v, BPF_ANY)) {
		err = -errno;
		bench_err("%s: guard_settings: %s", g->path, strerror(-err));
	}
	free(v);
	return err;
}

int guard_set_empty_lists(struct guard_obj *g, uint32_t bits)
{
	const char *map = "guard_settings";
	uint32_t zero = 0;
	int fd, err;
	void *v = value_buf(g, map, &fd);

	if (!v)
		return -ENOENT;
	err = bpf_map_lookup_elem(fd, &zero, v) ? -errno : bench_set(g->obj, map, v, "empty_lists", bits);
	if (!err && bpf_map_update_elem(fd, &zero, v, BPF_ANY))
		err = -errno;
	free(v);
	return err;
}

int guard_rate_limits_on(struct guard_obj *g, char *why, size_t whylen)
{
	const char *map = "guard_rl_limits";
	struct bpf_map *m = bpf_object__find_map_by_name(g->obj, map);
	int fd, err = 0;
	void *v;

	if (!m) {
		snprintf(why, whylen, "the guard object has no guard_rl_limits map");
		return -ENOENT;
	}
	v = value_buf(g, map, &fd);
	if (!v)
		return -ENOMEM;
	if (bench_set(g->obj, map, v, "pps", 0xffffffffULL) || bench_set(g->obj, map, v, "bps", 0xffffffffULL)) {
		snprintf(why, whylen, "guard_rl_limits has no pps/bps fields: update bench/guard/benchlib.c");
		free(v);
		return -EINVAL;
	}
	for (uint32_t k = 0; k < bpf_map__max_entries(m) && k < 256; k++) {
		if (bpf_map_update_elem(fd, &k, v, BPF_ANY)) {
			err = -errno;
			snprintf(why, whylen, "guard_rl_limits[%u]: %s", k, strerror(-err));
			break;
		}
	}
	free(v);
	return err;
}

bool guard_rl_engaged(struct guard_obj *g)
{
	return bench_map_fd(g->obj, "guard_rl_state") >= 0 && !map_empty(g, "guard_rl_state");
}

int guard_read_stats(struct guard_obj *g, uint32_t slot, struct guard_stats *out)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
		{ "rx_packets", offsetof(struct guard_stats, rx_packets) },
		{ "passed", offsetof(struct guard_stats, passed) },
		{ "dropped", offsetof(struct guard_stats, dropped) },
		{ "would_drop", offsetof(struct guard_stats, would_drop) },
		{ "malformed", offsetof(struct guard_stats, malformed) },
		{ "blocked_by_list", offsetof(struct guard_stats, blocked_by_list) },
		{ "rate_limited", offsetof(struct guard_stats, rate_limited) },
	};
	struct bpf_map *m = bpf_object__find_map_by_name(g->obj, "guard_counters");
	int ncpu = libbpf_num_possible_cpus();
	size_t stride;
	char *buf;

	memset(out, 0, sizeof(*out));
	if (!m || ncpu <= 0)
		return -ENOENT;
	stride = (bpf_map__value_size(m) + 7) & ~(size_t)7;
	buf = calloc((size_t)ncpu, stride);
	if (!buf)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(m), &slot, buf)) {
		int err = -errno;

		free(buf);
		return err;
	}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		struct bench_field f;

		if (bench_value_field(g->obj, "guard_counters", fields[i].name, &f))
			continue;
		for (int c = 0; c < ncpu; c++)
			*(uint64_t *)((char *)out + fields[i].off) += bench_get(buf + (size_t)c * stride, &f);
	}
	free(buf);
	return 0;
}
