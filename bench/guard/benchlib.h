/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared by the guard benchmarks (ns_per_packet, xdp_attach, prefixes): a deterministic random
 * block list, filling LPM tries (the baseline) and the guard's prefix tables with it, and
 * loading BPF objects from files so that the harness runs against whatever
 * build/bpf/guard.bpf.o is today. Map types and sizes are read from the object, never assumed:
 * guard_ifaces may be a hash or an array, a table's first-level size comes from its _l1 map,
 * maps come and go. The prefix tables are written by src/prefix_table.c, the agent's own writer.
 */
#ifndef AEGIS_BENCH_BENCHLIB_H
#define AEGIS_BENCH_BENCHLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bpf/libbpf.h>

#include "aegis/guard.h"
#include "prefix_table.h"

#define BENCH_DEFAULT_SEED 0x61656769735f6231ULL	/* "aegis_b1" */
/* What the agent writes by default: guard.sample.every and guard.top.sample_every. */
#define BENCH_SAMPLE_EVERY 100
#ifdef GUARD_TOP_EVERY_DEFAULT
#define BENCH_TOP_EVERY GUARD_TOP_EVERY_DEFAULT
#else
#define BENCH_TOP_EVERY 32
#endif

extern int bench_verbose;

__attribute__((format(printf, 1, 2))) void bench_err(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void bench_info(const char *fmt, ...);
/* libbpf warnings are shown, its info and debug output only with -v. */
void bench_libbpf_logging(void);
double bench_now(void);		/* CLOCK_MONOTONIC, seconds */

/* ---- the block list ------------------------------------------------------------------- */

/*
 * n4 IPv4 and n6 IPv6 prefixes, none inside another (an nftables interval set refuses
 * overlaps, and the three filters must hold the same list), sorted by address.
 * IPv4: about 60% /24, 35% /32, the rest /16../23. IPv6: about 10% /32, 40% /48, 50% /64.
 * hit*: a host address a lookup finds (the address of a /32 entry, or host .77 of a /24);
 * miss*: a unicast address no prefix covers.
 */
struct prefix_set {
	struct guard_lpm_v4 *v4;
	size_t n4;
	struct guard_lpm_v6 *v6;
	size_t n6;
	uint8_t hit4[4], miss4[4];
	uint8_t hit6[16], miss6[16];
	unsigned len_hist4[33];
	unsigned len_hist6[129];
};

int prefixes_generate(struct prefix_set *ps, size_t n4, size_t n6, uint64_t seed);
void prefixes_free(struct prefix_set *ps);
/* "60% /24, 35% /32, ..." from the histogram. */
void prefixes_describe(const struct prefix_set *ps, char *buf4, size_t len4, char *buf6, size_t len6);
bool prefixes_cover4(const struct prefix_set *ps, const uint8_t addr[4]);
/*
 * n hit addresses in n different entries, picked with seed (the same every run); the first is
 * hit4. Returns how many (fewer when the list is shorter).
 */
size_t prefixes_hits4(const struct prefix_set *ps, size_t n, uint8_t (*out)[4], uint64_t seed);
bool prefixes_cover6(const struct prefix_set *ps, const uint8_t addr[16]);

struct fill_result {
	double seconds;
	const char *how;	/* "bpf_map_update_batch", "prefix_table_load", ... */
	size_t entries;
};

/*
 * Writes n keys with the same value. Tries bpf_map_update_batch in chunks and falls back to a
 * loop when the map type has no batch update (EINVAL/ENOTSUPP on the first chunk).
 */
int lpm_fill(int map_fd, const void *keys, size_t key_size, size_t n, const void *value,
	     size_t value_size, struct fill_result *res);

/* The value every benchmark list entry carries: origin file, no expiry. */
void bench_rule(struct guard_rule *r);
/* The same for a prefix table. */
void bench_attrs(struct prefix_attrs *a);
/* The kernel's accounting of a map (fdinfo "memlock", i.e. the map's mem_usage), 0 if unknown. */
uint64_t bench_map_memlock(int fd);
/* Slab memory in KiB (/proc/meminfo): a delta around an LPM fill, noisy. -1 if unknown. */
int64_t bench_slab_kib(void);

/* ---- objects ---------------------------------------------------------------------------- */

/*
 * Opens path with pinning turned off on every map (xdp-filter's maps pin by name; a benchmark
 * must leave no trace in bpffs). Returns NULL with a message.
 */
struct bpf_object *bench_open(const char *path);
/* Loads; on failure prints libbpf's error (the verifier log went through the print callback). */
int bench_load(struct bpf_object *obj, const char *what);
/* The program called name, or the object's only/first program when name is NULL. */
int bench_prog_fd(struct bpf_object *obj, const char *name);
int bench_map_fd(struct bpf_object *obj, const char *name);
/* Instructions the verifier processed to load prog (its budget is 1M); 0 if unknown. */
uint32_t bench_verified_insns(int prog);
/* Raises max_entries to at least n before load; the object's value when it is bigger. */
int bench_map_min_entries(struct bpf_object *obj, const char *name, uint32_t n);
const char *bench_map_type_name(struct bpf_object *obj, const char *name);

/* ---- map values through BTF ----------------------------------------------------------- */

/*
 * Map values are read and written by field name, from the object's BTF, not through the structs
 * in guard.h: the object on disk may be newer than this build (fields appended, maps added), and
 * a field the object does not have is simply absent.
 */
struct bench_field {
	uint32_t off, size;
};

/* A named integer member of a map's value struct; -ENOENT when the map or member is absent. */
int bench_value_field(struct bpf_object *obj, const char *map, const char *field, struct bench_field *f);
int bench_set(struct bpf_object *obj, const char *map, void *val, const char *field, uint64_t v);
uint64_t bench_get(const void *val, const struct bench_field *f);

/* ---- the guard -------------------------------------------------------------------------- */

/* The guard's source lists: prefix tables (bpf/lib/prefix.h), three maps each. */
enum guard_list { GL_BLOCK_V4, GL_BLOCK_V6, GL_ALLOW_V4, GL_ALLOW_V6, GL_COUNT };

struct guard_obj {
	struct bpf_object *obj;
	int prog;
	struct prefix_table *lists[GL_COUNT];
	unsigned l1_bits[GL_COUNT];	/* from each table's _l1 map */
	double open_seconds;		/* prefix_table_open() of all four */
	uint32_t empty_hint;		/* GUARD_EMPTY_* bits guard_write_settings() computed */
	const char *path;
};

/* "block_v4", ...: the table's name in the object (maps <name>_l1, _nodes, _rules). */
const char *guard_list_name(enum guard_list l);

/* What one list table takes: prefix_table_stats() plus the kernel's own accounting of its maps. */
struct guard_list_mem {
	struct prefix_table_stats st;
	uint64_t memlock;	/* fdinfo memlock of the three maps, summed */
};

int guard_list_memory(struct guard_obj *g, enum guard_list l, struct guard_list_mem *m);

/* The guard's counters this harness reads (0 when the object has no such field). */
struct guard_stats {
	uint64_t rx_packets, passed, dropped, would_drop, malformed, blocked_by_list, rate_limited;
};

/*
 * Opens and loads the guard with block lists sized for n4/n6 prefixes as the agent sizes them
 * for that capacity (src/guard.c, list_tables[]: rules = cap + 1, nodes = cap * 5/4 + 16 for
 * IPv4 and cap * 6/4 + 16 for IPv6; never below the object's defaults), then opens the four
 * list tables with prefix_table_open() as the agent does. The allow lists keep the object's
 * sizes and stay empty.
 */
int guard_load(struct guard_obj *g, const char *path, size_t n4, size_t n6);
void guard_close(struct guard_obj *g);
/*
 * guard_ifaces[ifindex] = { mode, slot } with bpf_map_update_elem, which works for a hash and an
 * array alike; an ifindex past an array's end goes to guard_ifaces_big when there is one.
 */
int guard_set_iface(struct guard_obj *g, uint32_t ifindex, uint32_t mode, uint32_t slot);
/*
 * The block lists' prefix tables get the list, each with one prefix_table_load() (what the
 * agent does for an import: one batched pass). r4/r6 time the load alone, not the conversion
 * of the list to struct cidr.
 */
int guard_fill_block(struct guard_obj *g, const struct prefix_set *ps, struct fill_result *r4,
		     struct fill_result *r6);
/*
 * guard_settings as the agent writes them: malformed packets dropped, later fragments passed,
 * one drop record in sample_every and one top-talkers sample in top_every packets (each when
 * the object has the field), and the empty_lists hint with a bit for every list that holds
 * nothing (a prefix table without prefixes, an empty scoped LPM trie), kept in g->empty_hint.
 * Call it after the lists are filled. desc gets what was written, for the report.
 */
int guard_write_settings(struct guard_obj *g, uint32_t sample_every, uint32_t top_every, char *desc,
			 size_t desclen);
/* Rewrites guard_settings.empty_lists alone (-ENOENT: the object has no such field). */
int guard_set_empty_lists(struct guard_obj *g, uint32_t bits);
/*
 * Turns every rate-limit class on (guard_rl_limits: pps and bps at the maximum), so that the
 * token buckets run on every packet no list decided, and never limit a benchmark's traffic.
 * -ENOENT: the object has no rate limiting.
 */
int guard_rate_limits_on(struct guard_obj *g, char *why, size_t whylen);
/* Entries in guard_rl_state (up to a few): did the rate limiter run? */
bool guard_rl_engaged(struct guard_obj *g);
int guard_read_stats(struct guard_obj *g, uint32_t slot, struct guard_stats *out);

#endif
