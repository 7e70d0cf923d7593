// SPDX-License-Identifier: GPL-2.0-only
/*
 * ns/packet of the guard and its baselines under BPF_PROG_TEST_RUN, side by side.
 *
 * Every program runs every packet in every round, in a rotating order, so that noise from the
 * machine (other jobs, frequency changes) lands on all of them alike; a cell is the median of
 * the rounds, and the tables give ratios to the empty program and to xdp-filter.
 *
 * Kernel BPF run-time statistics (BPF_ENABLE_STATS, held by any process: an aegis agent with
 * bpf.stats on does it) add two clock reads to every program run, tens of ns here, to whatever
 * runs meanwhile. A measurement during which the program's run_cnt moved ran with them on: it
 * is left out of its cell's median when the cell has clean rounds, and counted in the output.
 *
 * Programs:
 *   (a) xdp_drop: returns XDP_DROP, the floor
 *   (b) xdp-filter (Debian's xdp-tools, xdpfilt_alw_ip.o): one exact-address rule per family
 *   (c) lpm_only: one LPM lookup of the source, holding the same prefixes as (e): the plain
 *       LPM-trie baseline (the guard's lists were LPM tries before they became prefix tables)
 *   (d) the guard with empty lists
 *   (e) the guard with the block list (1M IPv4 + 100k IPv6 by default) in its prefix tables,
 *       observe and block mode; and block mode with the empty_lists hint off (every list
 *       looked up, as before the agent kept the hint)
 *   (f) the guard with rate limiting, when the object has guard_rl_limits
 *   (g) parse_only: the guard's parser alone, to tell parsing from the rest
 * Source address a hit (in the list / the xdp-filter rule) and a miss, where that matters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "benchlib.h"
#include "pkt.h"

#define MAX_RUNS 31
#define MAX_VARIANTS 24
#define SLOT 1

/* xdp-filter's map flags (xdp-tools, xdp-filter/common_kern_user.h). */
#define XDPF_MAP_FLAG_SRC (1 << 0)

enum { SRC_NONE, SRC_HIT, SRC_MISS };

enum pkt_id { P_UDP4, P_SYN4, P_UDP6, P_EXT6, P_VLAN4, P_COUNT };

static const char *const pkt_names[P_COUNT] = {
	[P_UDP4] = "IPv4 UDP", [P_SYN4] = "IPv4 TCP SYN", [P_UDP6] = "IPv6 UDP",
	[P_EXT6] = "IPv6 HBH+DST UDP", [P_VLAN4] = "802.1Q IPv4 UDP",
};

struct packet {
	uint8_t buf[PKT_MAX];
	size_t len;
};

/* [packet][0: miss, 1: hit] */
static struct packet packets[P_COUNT][2];

struct variant {
	char name[64];
	int prog;
	int src;			/* SRC_*: which packet set it runs */
	struct guard_obj *guard;	/* mode written before each measurement */
	uint32_t mode;
	uint32_t expect;		/* XDP verdict on every packet */
	int ref_xdpf;			/* row of xdp-filter with the same source, or -1 */
	bool no_hint;			/* guard_settings.empty_lists 0 instead of the guard's hint */
	bool bad[P_COUNT];		/* verdict was not the expected one */
	unsigned long repeat[P_COUNT];	/* opt.repeat, less for a very slow cell (see probe()) */
	double ns[MAX_RUNS][P_COUNT];
	bool stats[MAX_RUNS][P_COUNT];	/* kernel BPF stats were on during that measurement */
	double med[P_COUNT];
	int clean[P_COUNT];		/* rounds in the median */
};

static struct variant vars[MAX_VARIANTS];
static int nvars;

static struct {
	unsigned long repeat;
	int runs;
	size_t n4, n6;
	uint64_t seed;
	const char *guard_obj;
	const char *objdir;
	const char *xdpf_obj;
	bool contention;
	uint32_t ifindex;
	uint32_t sample_every, top_every;
	double slow_ns;
} opt = {
	.repeat = 5000000,
	.runs = 5,
	.n4 = 1000000,
	.n6 = 100000,
	.seed = BENCH_DEFAULT_SEED,
	.guard_obj = "build/bpf/guard.bpf.o",
	.objdir = "build/bench",
	.xdpf_obj = "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_ip.o",
	.contention = true,
	.sample_every = BENCH_SAMPLE_EVERY,
	.top_every = BENCH_TOP_EVERY,
	.slow_ns = 500,
};

static const char *verdict_name(uint32_t v)
{
	static const char *const n[] = { "ABORTED", "DROP", "PASS", "TX", "REDIRECT" };

	return v < 5 ? n[v] : "?";
}

/* ---- packets ---------------------------------------------------------------------------- */

/* Pads with zero bytes after the IP datagram, as a NIC's minimum frame would. */
static void pad_to(struct pkt *p, size_t len)
{
	if (p->len < len)
		p->len = len;
}

static void build_packets(const struct prefix_set *ps)
{
	char s4[2][INET_ADDRSTRLEN], s6[2][INET6_ADDRSTRLEN];

	inet_ntop(AF_INET, ps->miss4, s4[0], sizeof(s4[0]));
	inet_ntop(AF_INET, ps->hit4, s4[1], sizeof(s4[1]));
	inet_ntop(AF_INET6, ps->miss6, s6[0], sizeof(s6[0]));
	inet_ntop(AF_INET6, ps->hit6, s6[1], sizeof(s6[1]));

	for (int h = 0; h < 2; h++) {
		struct pkt p;

		/* 14 + 20 + 8 + 22 = 64 bytes */
		pkt_init(&p);
		pkt_eth(&p);
		pkt_ipv4(&p, s4[h], "10.99.0.2", 0);
		pkt_udp(&p, 40000, 53);
		pkt_payload(&p, 22);
		pkt_finish(&p);
		memcpy(packets[P_UDP4][h].buf, p.buf, p.len);
		packets[P_UDP4][h].len = p.len;

		/* 14 + 20 + 20 = 54 bytes, then Ethernet padding to 64 */
		pkt_init(&p);
		pkt_eth(&p);
		pkt_ipv4(&p, s4[h], "10.99.0.2", 0);
		pkt_tcp(&p, 40000, 80, 0);
		pkt_finish(&p);
		pad_to(&p, 64);
		memcpy(packets[P_SYN4][h].buf, p.buf, p.len);
		packets[P_SYN4][h].len = p.len;

		/* 14 + 40 + 8 + 2 = 64 bytes */
		pkt_init(&p);
		pkt_eth(&p);
		pkt_ipv6(&p, s6[h], "fd00:99::2");
		pkt_udp(&p, 40000, 53);
		pkt_payload(&p, 2);
		pkt_finish(&p);
		memcpy(packets[P_UDP6][h].buf, p.buf, p.len);
		packets[P_UDP6][h].len = p.len;

		/* 14 + 40 + 8 (hop-by-hop) + 8 (destination options) + 8 + 2 = 80 bytes */
		pkt_init(&p);
		pkt_eth(&p);
		pkt_ipv6(&p, s6[h], "fd00:99::2");
		pkt_ipv6_ext(&p, PKT_EXT_HOP, 8);
		pkt_ipv6_ext(&p, PKT_EXT_DEST, 8);
		pkt_udp(&p, 40000, 53);
		pkt_payload(&p, 2);
		pkt_finish(&p);
		memcpy(packets[P_EXT6][h].buf, p.buf, p.len);
		packets[P_EXT6][h].len = p.len;

		/* 14 + 4 + 20 + 8 + 18 = 64 bytes */
		pkt_init(&p);
		pkt_eth(&p);
		pkt_vlan(&p, 0x8100, 100);
		pkt_ipv4(&p, s4[h], "10.99.0.2", 0);
		pkt_udp(&p, 40000, 53);
		pkt_payload(&p, 18);
		pkt_finish(&p);
		memcpy(packets[P_VLAN4][h].buf, p.buf, p.len);
		packets[P_VLAN4][h].len = p.len;
	}
}

static const struct packet *packet_of(const struct variant *v, int pk)
{
	return &packets[pk][v->src == SRC_HIT ? 1 : 0];
}

/* ---- running ---------------------------------------------------------------------------- */

/* run_cnt of a program: it only moves while kernel BPF stats are on. */
static uint64_t prog_run_cnt(int prog)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(prog, &info, &len) ? 0 : info.run_cnt;
}

/* Whether the calling thread's last run_once() ran with kernel BPF stats on; and how many did. */
static __thread bool last_run_stats;
static unsigned long stats_runs;

static int run_once(int prog, const struct packet *pk, unsigned long repeat, uint32_t *retval,
		    double *ns)
{
	struct xdp_md ctx = { .data_end = (__u32)pk->len, .ingress_ifindex = opt.ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, topts,
		    .data_in = pk->buf,
		    .data_size_in = (__u32)pk->len,
		    .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx),
		    .repeat = (int)repeat);
	uint64_t cnt = prog_run_cnt(prog);

	if (bpf_prog_test_run_opts(prog, &topts))
		return -errno;
	last_run_stats = prog_run_cnt(prog) != cnt;
	if (last_run_stats)
		__atomic_add_fetch(&stats_runs, 1, __ATOMIC_RELAXED);
	*retval = topts.retval;
	*ns = topts.duration;	/* the kernel's average per repeat, in ns */
	return 0;
}

static int variant_prepare(struct variant *v)
{
	int err;

	if (!v->guard)
		return 0;
	err = guard_set_iface(v->guard, opt.ifindex, v->mode, SLOT);
	if (!err && v->guard->empty_hint) {
		err = guard_set_empty_lists(v->guard, v->no_hint ? 0 : v->guard->empty_hint);
		if (err)
			bench_err("%s: guard_settings.empty_lists: %s", v->name, strerror(-err));
	}
	return err;
}

static int verify(void)
{
	int bad = 0;

	for (int i = 0; i < nvars; i++) {
		struct variant *v = &vars[i];

		if (variant_prepare(v))
			return -1;
		for (int pk = 0; pk < P_COUNT; pk++) {
			uint32_t ret;
			double ns;
			int err = run_once(v->prog, packet_of(v, pk), 1, &ret, &ns);

			if (err) {
				bench_err("%s, %s: bpf_prog_test_run_opts: %s", v->name, pkt_names[pk],
					  strerror(-err));
				return -1;
			}
			if (ret != v->expect) {
				v->bad[pk] = true;
				bad++;
				bench_info("warning: %s, %s: verdict %s, expected %s (marked ! in the tables)",
					   v->name, pkt_names[pk], verdict_name(ret), verdict_name(v->expect));
			}
		}
	}
	return bad;
}

/*
 * A short run of every cell first: one slower than opt.slow_ns per packet (a pathological path,
 * microseconds per packet) runs SLOW_REPEAT repeats instead of opt.repeat, which is plenty for
 * its figure, so that one slow path does not stretch the run by minutes. Marked in the table.
 */
#define SLOW_REPEAT 1000000UL

static int probe(void)
{
	for (int i = 0; i < nvars; i++) {
		struct variant *v = &vars[i];

		if (variant_prepare(v))
			return -1;
		for (int pk = 0; pk < P_COUNT; pk++) {
			uint32_t ret;
			double ns;

			v->repeat[pk] = opt.repeat;
			if (run_once(v->prog, packet_of(v, pk), 50000, &ret, &ns))
				return -1;
			if (ns > opt.slow_ns && opt.repeat > SLOW_REPEAT)
				v->repeat[pk] = SLOW_REPEAT;
		}
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	double tmp[MAX_RUNS];

	memcpy(tmp, v, sizeof(double) * (size_t)n);
	qsort(tmp, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static int measure(void)
{
	double t0 = bench_now();
	int tainted = 0;

	for (int r = 0; r < opt.runs; r++) {
		for (int pk = 0; pk < P_COUNT; pk++) {
			for (int k = 0; k < nvars; k++) {
				/* Rotate the order each round: no program always runs first. */
				struct variant *v = &vars[(k + r) % nvars];
				uint32_t ret;
				int err;

				if (variant_prepare(v))
					return -1;
				err = run_once(v->prog, packet_of(v, pk), v->repeat[pk], &ret, &v->ns[r][pk]);
				if (err) {
					bench_err("%s: bpf_prog_test_run_opts: %s", v->name, strerror(-err));
					return -1;
				}
				v->stats[r][pk] = last_run_stats;
				tainted += last_run_stats;
			}
		}
		bench_info("  round %d/%d done (%.0f s)%s", r + 1, opt.runs, bench_now() - t0,
			   tainted ? " (kernel BPF stats were on during some measurements)" : "");
	}
	for (int i = 0; i < nvars; i++) {
		for (int pk = 0; pk < P_COUNT; pk++) {
			struct variant *v = &vars[i];
			double col[MAX_RUNS];
			int n = 0;

			for (int r = 0; r < opt.runs; r++)
				if (!v->stats[r][pk])
					col[n++] = v->ns[r][pk];
			v->clean[pk] = n;
			if (!n)	/* every round had them on: the cell shows it */
				for (int r = 0; r < opt.runs; r++)
					col[n++] = v->ns[r][pk];
			v->med[pk] = median(col, n);
		}
	}
	return 0;
}

/* ---- two CPUs at once ------------------------------------------------------------------- */

static unsigned long par_repeat(void)
{
	/* A fifth of the main repeat (>= 1M): enough for a ratio, and it keeps run.sh short. */
	return opt.repeat / 5 > 1000000 ? opt.repeat / 5 : (opt.repeat < 1000000 ? opt.repeat : 1000000);
}

struct par_arg {
	unsigned long repeat;
	int cpu, prog;
	const struct packet *pk;
	pthread_barrier_t *bar;
	double ns;
	int err;
};

static void *par_thread(void *p)
{
	struct par_arg *a = p;
	cpu_set_t set;
	uint32_t ret;

	CPU_ZERO(&set);
	CPU_SET(a->cpu, &set);
	a->err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	pthread_barrier_wait(a->bar);
	if (!a->err)
		a->err = run_once(a->prog, a->pk, a->repeat, &ret, &a->ns);
	return NULL;
}

/*
 * The same program and packet on two CPUs at the same time: a flood from one source spread over
 * RX queues. A list entry's hit counters are shared by all CPUs; while the guard added every hit
 * to them (atomic adds) their cache line bounced between the CPUs on every packet, and now it
 * adds a CPU's hits on one entry 64 at a time (bpf/lib/prefix.h). Per-CPU state never bounces.
 * Returns the mean ns/packet of the two CPUs.
 */
static int run_parallel(int prog, const struct packet *pk, unsigned long repeat, double *ns)
{
	pthread_barrier_t bar;
	struct par_arg a[2];
	pthread_t t[2];

	pthread_barrier_init(&bar, NULL, 2);
	for (int i = 0; i < 2; i++) {
		a[i] = (struct par_arg){ .repeat = repeat, .cpu = i, .prog = prog, .pk = pk, .bar = &bar };
		pthread_create(&t[i], NULL, par_thread, &a[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&bar);
	for (int i = 0; i < 2; i++)
		if (a[i].err)
			return a[i].err < 0 ? a[i].err : -a[i].err;
	*ns = (a[0].ns + a[1].ns) / 2;
	return 0;
}

static void contention_table(const int *rows, int nrows)
{
	double one[MAX_VARIANTS][MAX_RUNS], two[MAX_VARIANTS][MAX_RUNS];

	for (int r = 0; r < opt.runs; r++) {
		for (int k = 0; k < nrows; k++) {
			struct variant *v = &vars[rows[(k + r) % nrows]];
			int row = (k + r) % nrows;
			unsigned long rep = par_repeat() < v->repeat[P_UDP4] ? par_repeat() : v->repeat[P_UDP4];
			uint32_t ret;

			if (variant_prepare(v) || run_once(v->prog, packet_of(v, P_UDP4), rep, &ret, &one[row][r]) ||
			    run_parallel(v->prog, packet_of(v, P_UDP4), rep, &two[row][r])) {
				bench_err("%s: two-CPU run failed", v->name);
				return;
			}
		}
	}
	printf("\n### Two CPUs at once (IPv4 UDP, the same entry; ns/packet per CPU, median of %d rounds of "
	       "up to %lu)\n\n", opt.runs, par_repeat());
	printf("| program | 1 CPU | 2 CPUs at once | slowdown |\n|---|---:|---:|---:|\n");
	for (int k = 0; k < nrows; k++) {
		double a = median(one[k], opt.runs), b = median(two[k], opt.runs);

		printf("| %s | %.1f | %.1f | %.2fx |\n", vars[rows[k]].name, a, b, b / a);
	}
}

/* ---- many list entries ------------------------------------------------------------------ */

#define SPREAD_N 64

/*
 * The tables above hit one list entry. This runs IPv4 UDP from SPREAD_N sources in as many
 * entries, once each: an entry's cost can depend on where it sits (its depth in the trie or the
 * prefix table, the cache lines it lands on) and, for the guard, on where its hit counters sit:
 * in an LPM trie node they straddled cache lines (a split lock on every atomic add).
 */
static void spread_table(const struct prefix_set *ps, const int *rows, int nrows)
{
	static double ns[MAX_VARIANTS][SPREAD_N];
	uint8_t hits[SPREAD_N][4];
	size_t n = prefixes_hits4(ps, SPREAD_N, hits, opt.seed ^ 0x68697473);
	unsigned long repeat = 20000;

	for (size_t i = 0; i < n; i++) {
		char a[INET_ADDRSTRLEN];
		struct packet pk;
		struct pkt p;

		inet_ntop(AF_INET, hits[i], a, sizeof(a));
		pkt_init(&p);
		pkt_eth(&p);
		pkt_ipv4(&p, a, "10.99.0.2", 0);
		pkt_udp(&p, 40000, 53);
		pkt_payload(&p, 22);
		pkt_finish(&p);
		memcpy(pk.buf, p.buf, p.len);
		pk.len = p.len;
		for (int k = 0; k < nrows; k++) {
			struct variant *v = &vars[rows[k]];
			uint32_t ret;

			if (variant_prepare(v) || run_once(v->prog, &pk, repeat, &ret, &ns[k][i])) {
				bench_err("%s: test run failed", v->name);
				return;
			}
		}
	}
	printf("\n### %zu different IPv4 entries hit (IPv4 UDP, %lu repeats each; ns/packet)\n\n", n, repeat);
	printf("| program | min | median | max | entries over 3x min |\n|---|---:|---:|---:|---:|\n");
	for (int k = 0; k < nrows; k++) {
		double sorted[SPREAD_N];
		int slow = 0;

		memcpy(sorted, ns[k], sizeof(double) * n);
		qsort(sorted, n, sizeof(double), cmp_double);
		for (size_t i = 0; i < n; i++)
			slow += sorted[i] > 3 * sorted[0];
		printf("| %s | %.0f | %.0f | %.0f | %d of %zu |\n", vars[rows[k]].name, sorted[0], sorted[n / 2],
		       sorted[n - 1], slow, n);
	}
	/* The tables' hit is the first of these. */
	for (int k = 0; k < nrows; k++) {
		double lo = ns[k][0];

		for (size_t i = 1; i < n; i++)
			lo = ns[k][i] < lo ? ns[k][i] : lo;
		if (ns[k][0] > 3 * lo)
			printf("\nNote: the hit entry of the tables above is one of the slow ones for %s "
			       "(%.0f ns here, fastest %.0f).\n", vars[rows[k]].name, ns[k][0], lo);
	}
}

/* ---- loading ---------------------------------------------------------------------------- */

/* "%s", "110k": the list size in row names. */
static const char *list_size(void)
{
	static char buf[32];
	double n = (double)(opt.n4 + opt.n6);

	if (n >= 1e6)
		snprintf(buf, sizeof(buf), "%.3gM", n / 1e6);
	else
		snprintf(buf, sizeof(buf), "%.3gk", n / 1e3);
	return buf;
}

/* name may hold one %s: the list size. */
static struct variant *add_variant(const char *name, int prog, int src, uint32_t expect)
{
	struct variant *v = &vars[nvars++];

	memset(v, 0, sizeof(*v));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(v->name, sizeof(v->name), name, list_size());
#pragma GCC diagnostic pop
	v->prog = prog;
	v->src = src;
	v->expect = expect;
	v->ref_xdpf = -1;
	return v;
}

static struct bpf_object *load_simple(const char *file, const char *what, int *prog)
{
	char path[512];
	struct bpf_object *obj;

	snprintf(path, sizeof(path), "%s/%s", opt.objdir, file);
	obj = bench_open(path);
	if (!obj)
		return NULL;
	if (bench_load(obj, what)) {
		bpf_object__close(obj);
		return NULL;
	}
	*prog = bench_prog_fd(obj, NULL);
	return obj;
}

/*
 * xdp-filter keeps per-CPU __u64 flags per address: MAP_FLAG_SRC marks a source rule. In the
 * "allow" policy object (xdpfilt_alw_*), a hit drops and a miss passes, like a block list.
 */
static int xdpf_add_rules(struct bpf_object *obj, const struct prefix_set *ps)
{
	int ncpu = libbpf_num_possible_cpus();
	int fd4 = bench_map_fd(obj, "filter_ipv4"), fd6 = bench_map_fd(obj, "filter_ipv6");
	__u64 *flags;
	__u32 a4;
	int err = 0;

	if (fd4 < 0 || fd6 < 0 || ncpu <= 0) {
		bench_err("%s: no filter_ipv4/filter_ipv6 map (not an xdp-filter IP object?)", opt.xdpf_obj);
		return -ENOENT;
	}
	flags = calloc((size_t)ncpu, sizeof(*flags));
	if (!flags)
		return -ENOMEM;
	for (int c = 0; c < ncpu; c++)
		flags[c] = XDPF_MAP_FLAG_SRC;
	memcpy(&a4, ps->hit4, 4);
	if (bpf_map_update_elem(fd4, &a4, flags, BPF_ANY) ||
	    bpf_map_update_elem(fd6, ps->hit6, flags, BPF_ANY)) {
		err = -errno;
		bench_err("xdp-filter rule: %s", strerror(errno));
	}
	free(flags);
	return err;
}

static void print_fill(const char *what, const struct fill_result *r)
{
	printf("- %s: %zu entries in %.2f s (%s, %.0f k entries/s)\n", what, r->entries, r->seconds,
	       r->how ? r->how : "?", r->seconds > 0 ? (double)r->entries / r->seconds / 1e3 : 0.0);
}

static double mib(uint64_t b)
{
	return (double)b / 1048576.0;
}

/*
 * Kernel memory of the lists: the guard's prefix tables (prefix_table_stats: used = first level +
 * nodes and rules in use, allocated = the three preallocated arrays; memlock = the kernel's own
 * figure for those arrays) beside lpm_only's tries (memlock = entries x node size, without the
 * trie's intermediate nodes or allocator rounding, hence also the slab growth during their fill).
 */
static void memory_table(struct guard_obj *g, struct bpf_object *lpm, int64_t lpm_slab_kib)
{
	uint64_t used = 0, alloc = 0, memlock = 0, lpm4, lpm6;

	printf("\n### Kernel memory of the lists (%s prefixes)\n\n", list_size());
	printf("| lists | prefixes | nodes in use / max | used MiB | allocated MiB | memlock MiB |\n"
	       "|---|---:|---:|---:|---:|---:|\n");
	for (int l = 0; l < GL_COUNT; l++) {
		struct guard_list_mem m;

		if (guard_list_memory(g, l, &m))
			continue;
		printf("| guard %s (prefix table, l1_bits %u) | %zu | %zu / %zu | %.1f | %.1f | %.1f |\n",
		       guard_list_name(l), g->l1_bits[l], m.st.prefixes, m.st.nodes, m.st.max_nodes,
		       mib(m.st.kernel_bytes_used), mib(m.st.kernel_bytes_alloc), mib(m.memlock));
		used += m.st.kernel_bytes_used;
		alloc += m.st.kernel_bytes_alloc;
		memlock += m.memlock;
	}
	printf("| **guard, four list tables** | %zu | | **%.1f** | **%.1f** | %.1f |\n", opt.n4 + opt.n6,
	       mib(used), mib(alloc), mib(memlock));
	lpm4 = bench_map_memlock(bench_map_fd(lpm, "lpm_v4"));
	lpm6 = bench_map_memlock(bench_map_fd(lpm, "lpm_v6"));
	printf("| lpm_only lpm_v4 (LPM trie) | %zu | | | | %.1f |\n", opt.n4, mib(lpm4));
	printf("| lpm_only lpm_v6 (LPM trie) | %zu | | | | %.1f |\n", opt.n6, mib(lpm6));
	if (lpm_slab_kib >= 0)
		printf("| **lpm_only, both tries** | %zu | | **%.1f** (slab growth during the fill) | | %.1f |\n",
		       opt.n4 + opt.n6, (double)lpm_slab_kib / 1024.0, mib(lpm4 + lpm6));
	printf("\nThe scoped lists (guard_block_scoped_v4/v6) are LPM tries holding nothing here. The agent "
	       "also keeps the prefix set in user space; the tool's own share: ");
	for (int l = 0; l < 2; l++) {
		struct guard_list_mem m;

		if (!guard_list_memory(g, l, &m))
			printf("%s%s %.1f MiB", l ? ", " : "", guard_list_name(l), mib(m.st.user_bytes));
	}
	printf(".\n");
}

/* ---- output ----------------------------------------------------------------------------- */

static void table_header(const char *title)
{
	printf("\n### %s\n\n| program |", title);
	for (int pk = 0; pk < P_COUNT; pk++)
		printf(" %s |", pkt_names[pk]);
	printf("\n|---|");
	for (int pk = 0; pk < P_COUNT; pk++)
		printf("---:|");
	printf("\n");
}

/* Whether round r of a cell is in its median (see measure()). */
static bool in_median(const struct variant *v, int r, int pk)
{
	return !v->clean[pk] || !v->stats[r][pk];
}

static void print_tables(void)
{
	int all_stats = 0, some_stats = 0, fewest = opt.runs;
	bool cut = false;

	table_header("ns/packet (median)");
	for (int i = 0; i < nvars; i++) {
		printf("| %s |", vars[i].name);
		for (int pk = 0; pk < P_COUNT; pk++) {
			bool c = vars[i].repeat[pk] < opt.repeat;
			int clean = vars[i].clean[pk];

			printf(" %.1f%s%s%s |", vars[i].med[pk], vars[i].bad[pk] ? "!" : "", c ? "*" : "",
			       !clean ? "†" : clean < opt.runs ? "‡" : "");
			cut |= c;
			all_stats += !clean;
			some_stats += clean && clean < opt.runs;
			fewest = clean && clean < fewest ? clean : fewest;
		}
		printf("\n");
	}
	if (cut)
		printf("\n\\* over %.0f ns/packet: %lu repeats instead of %lu\n", opt.slow_ns, SLOW_REPEAT,
		       opt.repeat);
	if (some_stats)
		printf("\n‡ %d cells: the median of the rounds without kernel BPF stats, %d of %d at the fewest "
		       "(another process had them on during the others)\n", some_stats, fewest, opt.runs);
	if (all_stats)
		printf("\n† %d cells: kernel BPF stats were on in every round (another process, e.g. an aegis "
		       "agent with bpf.stats on): two clock reads per run included, run again\n", all_stats);
	table_header("ratio to (a) the empty program");
	for (int i = 0; i < nvars; i++) {
		printf("| %s |", vars[i].name);
		for (int pk = 0; pk < P_COUNT; pk++)
			printf(" %.2f |", vars[i].med[pk] / vars[0].med[pk]);
		printf("\n");
	}
	table_header("ratio to (b) xdp-filter with the same source (hit/miss)");
	for (int i = 0; i < nvars; i++) {
		const struct variant *ref = vars[i].ref_xdpf >= 0 ? &vars[vars[i].ref_xdpf] : NULL;

		printf("| %s |", vars[i].name);
		for (int pk = 0; pk < P_COUNT; pk++) {
			if (ref)
				printf(" %.2f |", vars[i].med[pk] / ref->med[pk]);
			else
				printf(" - |");
		}
		printf("\n");
	}
	table_header("spread over the rounds in the median: (max - min) / median");
	for (int i = 0; i < nvars; i++) {
		printf("| %s |", vars[i].name);
		for (int pk = 0; pk < P_COUNT; pk++) {
			double lo = 0, hi = 0;
			bool first = true;

			for (int r = 0; r < opt.runs; r++) {
				double x = vars[i].ns[r][pk];

				if (!in_median(&vars[i], r, pk))
					continue;
				lo = first || x < lo ? x : lo;
				hi = first || x > hi ? x : hi;
				first = false;
			}
			printf(" %.0f%% |", 100 * (hi - lo) / vars[i].med[pk]);
		}
		printf("\n");
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ns_per_packet [options]\n"
		"  --repeat N        BPF_PROG_TEST_RUN repeat per measurement (default 5000000)\n"
		"  --runs N          rounds; a cell is their median (default 5, odd, <= %d)\n"
		"  --v4 N --v6 N     block-list size (default 1000000 and 100000)\n"
		"  --seed N          block-list seed\n"
		"  --guard-obj PATH  the guard (default build/bpf/guard.bpf.o)\n"
		"  --objdir DIR      where xdp_drop/lpm_only/parse_only.bpf.o are (default build/bench)\n"
		"  --xdp-filter-obj PATH  (default %s)\n"
		"  --sample-every N  guard drop records: one in N drops (default %u, the agent's; 0 = off)\n"
		"  --top-every N     guard top talkers: one sample in N packets (default %u, the agent's; 0 = off)\n"
		"  --no-contention   skip the two-CPUs-at-once table\n"
		"  --slow-ns N       a cell over N ns/packet runs 1000000 repeats, not --repeat (500)\n"
		"  -v                libbpf debug output\n",
		MAX_RUNS, opt.xdpf_obj, BENCH_SAMPLE_EVERY, BENCH_TOP_EVERY);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "repeat", required_argument, NULL, 'r' }, { "runs", required_argument, NULL, 'n' },
		{ "v4", required_argument, NULL, '4' }, { "v6", required_argument, NULL, '6' },
		{ "seed", required_argument, NULL, 's' }, { "guard-obj", required_argument, NULL, 'g' },
		{ "objdir", required_argument, NULL, 'o' }, { "xdp-filter-obj", required_argument, NULL, 'x' },
		{ "no-contention", no_argument, NULL, 'C' }, { "help", no_argument, NULL, 'h' },
		{ "sample-every", required_argument, NULL, 'S' },
		{ "top-every", required_argument, NULL, 'T' },
		{ "slow-ns", required_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 },
	};
	struct bpf_object *o_drop, *o_parse, *o_xdpf, *o_lpm;
	int p_drop, p_parse, p_xdpf, p_lpm, c, x_hit, x_miss, lpm_hit = 0, blk_hit = 0, blk_miss = 0;
	struct guard_obj g_empty, g_full, g_rl;
	struct fill_result f4, f6, l4, l6;
	int64_t slab0, slab1;
	unsigned long stats0;
	struct prefix_set ps;
	struct guard_rule rule;
	char d4[128], d6[128], a4[INET_ADDRSTRLEN], a6[INET6_ADDRSTRLEN], why[256] = "";
	char set_empty[160], set_full[160], set_rl[160];
	bool have_rl = false;
	struct utsname u;
	time_t now = time(NULL);
	double t0 = bench_now(), t;

	while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case 'r': opt.repeat = strtoul(optarg, NULL, 0); break;
		case 'n': opt.runs = atoi(optarg); break;
		case '4': opt.n4 = strtoul(optarg, NULL, 0); break;
		case '6': opt.n6 = strtoul(optarg, NULL, 0); break;
		case 's': opt.seed = strtoull(optarg, NULL, 0); break;
		case 'g': opt.guard_obj = optarg; break;
		case 'o': opt.objdir = optarg; break;
		case 'x': opt.xdpf_obj = optarg; break;
		case 'C': opt.contention = false; break;
		case 'S': opt.sample_every = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'T': opt.top_every = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'M': opt.slow_ns = atof(optarg); break;
		case 'v': bench_verbose = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (opt.runs < 1 || opt.runs > MAX_RUNS || !opt.repeat || opt.repeat > INT32_MAX || !opt.n4 ||
	    !opt.n6) {
		usage(stderr);
		return 2;
	}
	bench_libbpf_logging();
	/* test_run takes its ingress device from the caller's netns: lo. */
	opt.ifindex = if_nametoindex("lo");
	if (!opt.ifindex) {
		bench_err("no lo in this network namespace");
		return 1;
	}

	uname(&u);
	printf("## ns/packet under BPF_PROG_TEST_RUN\n\n");
	printf("- %s, kernel %s, %ld CPUs online\n", strtok(ctime(&now), "\n"), u.release,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("- repeat %lu per measurement, median of %d rounds, programs interleaved in each round\n",
	       opt.repeat, opt.runs);

	t = bench_now();
	if (prefixes_generate(&ps, opt.n4, opt.n6, opt.seed)) {
		bench_err("cannot generate the block list (out of memory?)");
		return 1;
	}
	prefixes_describe(&ps, d4, sizeof(d4), d6, sizeof(d6));
	inet_ntop(AF_INET, ps.hit4, a4, sizeof(a4));
	inet_ntop(AF_INET6, ps.hit6, a6, sizeof(a6));
	printf("- block list: %zu IPv4 (%s) + %zu IPv6 (%s), none nested, seed 0x%llx, generated in %.1f s\n",
	       ps.n4, d4, ps.n6, d6, (unsigned long long)opt.seed, bench_now() - t);
	printf("- hit sources %s and %s; the miss sources are covered by no prefix\n", a4, a6);
	build_packets(&ps);

	/* (a), (g), (b), (c) */
	o_drop = load_simple("xdp_drop.bpf.o", "xdp_drop", &p_drop);
	o_parse = load_simple("parse_only.bpf.o", "parse_only", &p_parse);
	o_lpm = NULL;
	{
		char path[512];

		snprintf(path, sizeof(path), "%s/lpm_only.bpf.o", opt.objdir);
		o_lpm = bench_open(path);
		if (o_lpm) {
			bench_map_min_entries(o_lpm, "lpm_v4", (uint32_t)opt.n4);
			bench_map_min_entries(o_lpm, "lpm_v6", (uint32_t)opt.n6);
			if (bench_load(o_lpm, "lpm_only")) {
				bpf_object__close(o_lpm);
				o_lpm = NULL;
			}
		}
	}
	o_xdpf = bench_open(opt.xdpf_obj);
	if (o_xdpf && bench_load(o_xdpf, opt.xdpf_obj)) {
		bpf_object__close(o_xdpf);
		o_xdpf = NULL;
	}
	if (!o_drop || !o_parse || !o_lpm || !o_xdpf)
		return 1;
	p_lpm = bench_prog_fd(o_lpm, NULL);
	p_xdpf = bench_prog_fd(o_xdpf, NULL);
	if (xdpf_add_rules(o_xdpf, &ps))
		return 1;
	bench_rule(&rule);
	slab0 = bench_slab_kib();
	if (lpm_fill(bench_map_fd(o_lpm, "lpm_v4"), ps.v4, sizeof(*ps.v4), ps.n4, &rule, sizeof(rule), &l4) ||
	    lpm_fill(bench_map_fd(o_lpm, "lpm_v6"), ps.v6, sizeof(*ps.v6), ps.n6, &rule, sizeof(rule), &l6))
		return 1;
	slab1 = bench_slab_kib();

	/* (d), (e) */
	if (guard_load(&g_empty, opt.guard_obj, 1, 1) || guard_load(&g_full, opt.guard_obj, opt.n4, opt.n6))
		return 1;
	if (guard_fill_block(&g_full, &ps, &f4, &f6) ||
	    guard_write_settings(&g_empty, opt.sample_every, opt.top_every, set_empty, sizeof(set_empty)) ||
	    guard_write_settings(&g_full, opt.sample_every, opt.top_every, set_full, sizeof(set_full)))
		return 1;
	printf("- guard object %s: guard_ifaces is %s; lists in prefix tables (l1_bits: block_v4 %u, "
	       "block_v6 %u, allow_v4 %u, allow_v6 %u), written with src/prefix_table.c\n", opt.guard_obj,
	       bench_map_type_name(g_full.obj, "guard_ifaces"), g_full.l1_bits[GL_BLOCK_V4],
	       g_full.l1_bits[GL_BLOCK_V6], g_full.l1_bits[GL_ALLOW_V4], g_full.l1_bits[GL_ALLOW_V6]);
	printf("- guard_settings as the agent writes them: (d) %s; (e) %s\n", set_empty, set_full);
	printf("- xdp-filter object %s (one source rule per family)\n", opt.xdpf_obj);
	printf("- verified instructions (of the verifier's 1M budget): guard %u, guard parser only %u, "
	       "lpm_only %u, xdp-filter %u\n", bench_verified_insns(g_full.prog), bench_verified_insns(p_parse),
	       bench_verified_insns(p_lpm), bench_verified_insns(p_xdpf));
	printf("\nFill times (into empty maps):\n\n");
	print_fill("lpm_only IPv4 (LPM trie)", &l4);
	print_fill("lpm_only IPv6 (LPM trie)", &l6);
	print_fill("guard block_v4 (prefix table)", &f4);
	print_fill("guard block_v6 (prefix table)", &f6);
	printf("- guard: prefix_table_open() of the four tables (mmap, adopting nothing) %.2f s; "
	       "IPv4 + IPv6 load %.2f s\n", g_full.open_seconds, f4.seconds + f6.seconds);

	/* (f): only when the datapath has it */
	if (bpf_object__find_map_by_name(g_full.obj, "guard_rl_limits")) {
		struct fill_result x4, x6;

		if (guard_load(&g_rl, opt.guard_obj, opt.n4, opt.n6) == 0 &&
		    guard_fill_block(&g_rl, &ps, &x4, &x6) == 0 &&
		    guard_write_settings(&g_rl, opt.sample_every, opt.top_every, set_rl, sizeof(set_rl)) == 0 &&
		    guard_rate_limits_on(&g_rl, why, sizeof(why)) == 0)
			have_rl = true;
		if (have_rl)
			printf("- (f): every rate-limit class on (guard_rl_limits pps and bps at 2^32-1: the buckets "
			       "run, nothing is limited); list misses only, since a list hit skips the limiter\n");
	} else {
		snprintf(why, sizeof(why), "the guard object has no guard_rl_limits map yet");
	}

	add_variant("(a) empty XDP_DROP", p_drop, SRC_MISS, XDP_DROP);
	x_hit = nvars;
	add_variant("(b) xdp-filter, source hit", p_xdpf, SRC_HIT, XDP_DROP)->ref_xdpf = x_hit;
	x_miss = nvars;
	add_variant("(b) xdp-filter, source miss", p_xdpf, SRC_MISS, XDP_PASS)->ref_xdpf = x_miss;
	add_variant("(g) guard parser only", p_parse, SRC_MISS, XDP_DROP)->ref_xdpf = x_miss;
	lpm_hit = nvars;
	add_variant("(c) lpm_only %s, hit", p_lpm, SRC_HIT, XDP_DROP)->ref_xdpf = x_hit;
	add_variant("(c) lpm_only %s, miss", p_lpm, SRC_MISS, XDP_PASS)->ref_xdpf = x_miss;
	{
		struct variant *v = add_variant("(d) guard, empty lists, block", g_empty.prog, SRC_MISS, XDP_PASS);

		v->guard = &g_empty;
		v->mode = GUARD_MODE_BLOCK_V;
		v->ref_xdpf = x_miss;
	}
	static const struct {
		const char *name;
		uint32_t mode;
		int src;
		uint32_t expect;
	} gv[] = {
		{ "(e) guard %s, observe, hit", GUARD_MODE_OBSERVE_V, SRC_HIT, XDP_PASS },
		{ "(e) guard %s, observe, miss", GUARD_MODE_OBSERVE_V, SRC_MISS, XDP_PASS },
		{ "(e) guard %s, block, hit", GUARD_MODE_BLOCK_V, SRC_HIT, XDP_DROP },
		{ "(e) guard %s, block, miss", GUARD_MODE_BLOCK_V, SRC_MISS, XDP_PASS },
	};
	for (size_t i = 0; i < sizeof(gv) / sizeof(gv[0]); i++) {
		struct variant *v = add_variant(gv[i].name, g_full.prog, gv[i].src, gv[i].expect);

		v->guard = &g_full;
		v->mode = gv[i].mode;
		v->ref_xdpf = gv[i].src == SRC_HIT ? x_hit : x_miss;
		if (v->mode == GUARD_MODE_BLOCK_V)
			*(gv[i].src == SRC_HIT ? &blk_hit : &blk_miss) = nvars - 1;
	}
	if (g_full.empty_hint) {
		/* What the hint saves: every list looked up. */
		struct variant *v = add_variant("(e) guard %s, block, miss, no empty-list hint", g_full.prog,
						SRC_MISS, XDP_PASS);

		v->guard = &g_full;
		v->mode = GUARD_MODE_BLOCK_V;
		v->ref_xdpf = x_miss;
		v->no_hint = true;
	}
	if (have_rl) {
		struct variant *v = add_variant("(f) guard %s + rate limit, block, miss", g_rl.prog, SRC_MISS,
						XDP_PASS);

		v->guard = &g_rl;
		v->mode = GUARD_MODE_BLOCK_V;
		v->ref_xdpf = x_miss;
	}

	bench_info("verifying verdicts, then %d rounds of %d programs x %d packets x %lu repeats...",
		   opt.runs, nvars, P_COUNT, opt.repeat);
	if (verify() < 0 || probe() < 0)
		return 1;
	if (have_rl && !guard_rl_engaged(&g_rl)) {
		snprintf(why, sizeof(why), "guard_rl_limits written but guard_rl_state stayed empty: "
			 "update guard_rate_limits_on() in bench/guard/benchlib.c to the datapath");
		nvars--;
		have_rl = false;
	}
	{
		struct guard_stats gs;

		if (guard_read_stats(&g_full, SLOT, &gs) == 0 && gs.malformed)
			bench_info("warning: the guard counted %llu of the fixtures as malformed",
				   (unsigned long long)gs.malformed);
		if (have_rl && guard_read_stats(&g_rl, SLOT, &gs) == 0 && gs.rate_limited)
			bench_info("warning: the rate limiter dropped %llu fixtures",
				   (unsigned long long)gs.rate_limited);
	}
	if (measure())
		return 1;

	print_tables();
	if (!have_rl)
		printf("\n(f) rate limiting: skipped: %s\n", why);
	memory_table(&g_full, o_lpm, slab0 >= 0 && slab1 >= 0 ? slab1 - slab0 : -1);

	stats0 = stats_runs;
	{
		int rows[] = { lpm_hit, blk_hit };

		bench_info("%d different list entries...", SPREAD_N);
		spread_table(&ps, rows, 2);
	}
	if (opt.contention && sysconf(_SC_NPROCESSORS_ONLN) >= 2) {
		int rows[] = { 0, x_hit, lpm_hit, blk_hit, blk_miss };

		bench_info("two CPUs at once...");
		contention_table(rows, sizeof(rows) / sizeof(rows[0]));
	}
	if (stats_runs != stats0)
		printf("\nKernel BPF stats were on during %lu measurements of the last two tables (another "
		       "process had them on): those include two clock reads per run.\n", stats_runs - stats0);
	printf("\nns_per_packet ran %.0f s\n", bench_now() - t0);

	if (have_rl)
		guard_close(&g_rl);
	guard_close(&g_full);
	guard_close(&g_empty);
	bpf_object__close(o_xdpf);
	bpf_object__close(o_lpm);
	bpf_object__close(o_parse);
	bpf_object__close(o_drop);
	prefixes_free(&ps);
	return 0;
}
