// SPDX-License-Identifier: GPL-2.0-only
/*
 * The policy compiler (see policy_compile.h). Steps:
 *
 *   1. the rule table: per ruleset, deny rules, allow rules (file order), then the default;
 *   2. per family, the distinct peer prefixes with the rules naming them, sorted so that a
 *      prefix comes before the prefixes inside it;
 *   3. per prefix, the rules whose peers cover it (its own and those of every covering prefix);
 *   4. per ruleset and prefix, that set cut to the ruleset: an A record (shared by every prefix
 *      with the same set), holding per kind of packet the port -> rule table; and per ruleset
 *      one more record for its rules without peers, which match every address (kept out of the
 *      A records, which they would all swell);
 *   5. rows (policy_image_layout), once the kernel's prefix ids are known.
 *
 * Port tables: the winner per port is found over elementary intervals (the ports between two
 * range boundaries of the candidates), each given to the first candidate covering it; a
 * union-find "next unassigned interval" keeps that linear however the ranges overlap. Identical
 * A records and port tables are stored once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>

#include "policy_compile.h"
#include "util.h"

#define ALL_PORTS_HI 65535u
#define NO_OFFSET UINT32_MAX

/* ---- small containers --------------------------------------------------------------------- */

struct u32v {
	uint32_t *v;
	size_t n, cap;
};

static int u32v_push(struct u32v *a, uint32_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		uint32_t *v = realloc(a->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return 0;
}

static int cells_reserve(struct policy_image *img, size_t n)
{
	if (img->n_cells + n > img->cap_cells) {
		size_t cap = img->cap_cells ? img->cap_cells : 1024;
		uint32_t *v;

		while (cap < img->n_cells + n)
			cap *= 2;
		v = realloc(img->cells, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		img->cells = v;
		img->cap_cells = cap;
	}
	return 0;
}

/* Appends n cells (zeroed); their offset, or NO_OFFSET when out of memory. */
static uint32_t cells_append(struct policy_image *img, size_t n)
{
	uint32_t off = (uint32_t)img->n_cells;

	if (cells_reserve(img, n) || img->n_cells + n > UINT32_MAX / 2)
		return NO_OFFSET;
	memset(img->cells + off, 0, n * sizeof(*img->cells));
	img->n_cells += n;
	return off;
}

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * Open-addressing set of stored things, by hash; equality is the caller's (it compares what an
 * entry's value points at).
 */
struct dedupe {
	uint64_t *hash;
	uint32_t *val;
	size_t n, cap;
};

static int dedupe_grow(struct dedupe *t)
{
	size_t cap = t->cap ? t->cap * 2 : 1024;
	uint64_t *h = calloc(cap, sizeof(*h));
	uint32_t *v = calloc(cap, sizeof(*v));

	if (!h || !v) {
		free(h);
		free(v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->cap; i++) {
		size_t j;

		if (!t->hash[i])
			continue;
		for (j = t->hash[i] & (cap - 1); h[j]; j = (j + 1) & (cap - 1))
			;
		h[j] = t->hash[i];
		v[j] = t->val[i];
	}
	free(t->hash);
	free(t->val);
	t->hash = h;
	t->val = v;
	t->cap = cap;
	return 0;
}

/* Looks for an entry with hash h that eq() accepts; its value, or NO_OFFSET. */
static uint32_t dedupe_find(const struct dedupe *t, uint64_t h, bool (*eq)(uint32_t, const void *),
			    const void *arg)
{
	h |= 1;	/* 0 marks an empty slot */
	for (size_t j = t->cap ? h & (t->cap - 1) : 0; t->cap && t->hash[j]; j = (j + 1) & (t->cap - 1))
		if (t->hash[j] == h && eq(t->val[j], arg))
			return t->val[j];
	return NO_OFFSET;
}

static int dedupe_add(struct dedupe *t, uint64_t h, uint32_t val)
{
	size_t j;

	h |= 1;
	if ((t->n + 1) * 2 > t->cap && dedupe_grow(t))
		return -ENOMEM;
	for (j = h & (t->cap - 1); t->hash[j]; j = (j + 1) & (t->cap - 1))
		;
	t->hash[j] = h;
	t->val[j] = val;
	t->n++;
	return 0;
}

static void dedupe_free(struct dedupe *t)
{
	free(t->hash);
	free(t->val);
	memset(t, 0, sizeof(*t));
}

/* ---- kinds of packet ---------------------------------------------------------------------- */

enum policy_pk policy_packet_kind(int family, uint8_t proto)
{
	if (proto == IPPROTO_TCP)
		return POLICY_PK_TCP;
	if (proto == IPPROTO_UDP)
		return POLICY_PK_UDP;
	if (proto == IPPROTO_ICMP && family == AF_INET)
		return POLICY_PK_ICMP;
	if (proto == IPPROTO_ICMPV6 && family == AF_INET6)
		return POLICY_PK_ICMPV6;
	return POLICY_PK_OTHER;
}

/* Does rule r apply to packets of kind pk at all (ports aside)? */
static bool rule_kind_matches(const struct policy_rule *r, enum policy_pk pk)
{
	bool ported = pk == POLICY_PK_TCP || pk == POLICY_PK_UDP;

	switch (r->proto) {
	case POLICY_PROTO_ANY:
		return ported || !r->n_ports;	/* any with ports: tcp and udp */
	case POLICY_PROTO_TCP:
		return pk == POLICY_PK_TCP;
	case POLICY_PROTO_UDP:
		return pk == POLICY_PK_UDP;
	case POLICY_PROTO_ICMP:
		return pk == POLICY_PK_ICMP;
	case POLICY_PROTO_ICMPV6:
		return pk == POLICY_PK_ICMPV6;
	}
	return false;
}

static bool rule_port_matches(const struct policy_rule *r, uint16_t port)
{
	if (!r->n_ports)
		return true;
	for (size_t i = 0; i < r->n_ports; i++)
		if (port >= r->ports[i].lo && port <= r->ports[i].hi)
			return true;
	return false;
}

/* ---- the compiler's state ------------------------------------------------------------------ */

/* A distinct prefix with the rules (rule table indices, ascending) naming it. */
struct pfx {
	struct cidr c;
	struct u32v rules;	/* naming it */
	struct u32v cover;	/* covering it: its own and those of every prefix around it */
};

struct a_desc {
	uint32_t off;		/* the record's first cell */
	uint32_t rs;
	uint32_t m;		/* rules in its list (the default is list[0], not counted) */
};

struct compiler {
	const struct policy_doc *doc;
	const struct policy_limits *lim;
	struct policy_image *img;
	struct diags *d;
	struct pfx *pfx[2];
	size_t n_pfx[2];
	struct a_desc *a;
	size_t n_a, cap_a;
	struct dedupe a_set, table_set;
	/* scratch for the port painting */
	uint32_t *bounds, *owner, *next;
	size_t cap_bounds;
};

static const struct policy_rule *file_rule(const struct compiler *c, uint32_t idx)
{
	const struct policy_image_rule *r = &c->img->rules[idx];

	return r->file_rule < 0 ? NULL : &c->doc->policies[r->policy].rules[r->file_rule];
}

static uint32_t rule_word(const struct policy_image *img, uint32_t idx)
{
	return idx | (img->rules[idx].deny ? POLICY_CELL_FLAG : 0);
}

/* ---- 1. rules ------------------------------------------------------------------------------ */

static int add_rule(struct policy_image *img, size_t *cap, uint32_t policy, int32_t file_rule,
		    int dir, bool deny)
{
	if (img->n_rules == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct policy_image_rule *v = realloc(img->rules, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		img->rules = v;
		*cap = ncap;
	}
	img->rules[img->n_rules++] = (struct policy_image_rule){
		.policy = policy, .file_rule = file_rule, .direction = (uint8_t)dir, .deny = deny,
	};
	return 0;
}

static const char *const dir_selector[2] = {
	[POLICY_DIR_INGRESS] = "selector.interfaces (or policy.interfaces / --iface of the agent)",
	[POLICY_DIR_EGRESS] = "selector.cgroups or selector.host",
};

static int build_rules(struct compiler *c, const bool (*applies)[2])
{
	const struct policy_doc *doc = c->doc;
	struct policy_image *img = c->img;
	size_t cap = 0, cap_rs = 0;
	int err = 0;

	if (doc->n > c->lim->policies) {
		diags_add(c->d, doc->source, doc->policies[c->lim->policies].at.line,
			  doc->policies[c->lim->policies].at.col, doc->policies[c->lim->policies].at.key,
			  "%zu policies; policy.capacity.policies is %u", doc->n, c->lim->policies);
		return -E2BIG;
	}
	for (uint32_t i = 0; i < doc->n; i++) {
		const struct policy_def *p = &doc->policies[i];

		for (int dir = 0; dir < 2; dir++) {
			struct policy_image_rs *rs;

			if (!applies[i][dir]) {
				for (size_t j = 0; j < p->n_rules; j++)
					if (p->rules[j].direction == dir) {
						diags_add(c->d, doc->source, p->rules[j].at.line, p->rules[j].at.col,
							  p->rules[j].at.key, "an %s rule, but policy '%s' selects "
							  "nothing for %s: give %s", policy_dir_name(dir), p->name,
							  policy_dir_name(dir), dir_selector[dir]);
						err = -EINVAL;
					}
				continue;
			}
			if (img->n_rs == cap_rs) {
				size_t ncap = cap_rs ? cap_rs * 2 : 16;
				struct policy_image_rs *v = realloc(img->rs, ncap * sizeof(*v));

				if (!v)
					return -ENOMEM;
				img->rs = v;
				cap_rs = ncap;
			}
			rs = &img->rs[img->n_rs++];
			memset(rs, 0, sizeof(*rs));
			rs->policy = i;
			rs->direction = (uint8_t)dir;
			rs->first_rule = (uint32_t)img->n_rules;
			for (int deny = 1; deny >= 0; deny--)
				for (size_t j = 0; j < p->n_rules; j++)
					if (p->rules[j].direction == dir && p->rules[j].deny == deny &&
					    add_rule(img, &cap, i, (int32_t)j, dir, deny))
						return -ENOMEM;
			if (add_rule(img, &cap, i, -1, dir, p->deny_default[dir]))
				return -ENOMEM;
			rs->n_rules = (uint32_t)img->n_rules - rs->first_rule;
			rs->rec.policy = i;
			rs->rec.direction = (uint32_t)dir;
			rs->rec.default_word = rule_word(img, (uint32_t)img->n_rules - 1);
			if (img->n_rs > c->lim->rulesets || img->n_rules > c->lim->rules) {
				diags_add(c->d, doc->source, p->at.line, p->at.col, p->at.key,
					  "policy '%s' brings the total to %zu rulesets and %zu rule slots "
					  "(a default per direction included); policy.capacity.rulesets is "
					  "%u and policy.capacity.rules %u", p->name, img->n_rs,
					  img->n_rules, c->lim->rulesets, c->lim->rules);
				return -E2BIG;
			}
		}
	}
	return err;
}

/* ---- 2. and 3. prefixes -------------------------------------------------------------------- */

static int fam(int family)
{
	return family == AF_INET6;
}

static int cidr_cmp(const struct cidr *a, const struct cidr *b)
{
	int r = memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16);

	if (r)
		return r;
	return (int)a->prefixlen - (int)b->prefixlen;
}

struct naming {
	struct cidr c;
	uint32_t rule;
};

static int naming_cmp(const void *x, const void *y)
{
	const struct naming *a = x, *b = y;
	int r = cidr_cmp(&a->c, &b->c);

	if (r)
		return r;
	return a->rule < b->rule ? -1 : a->rule > b->rule;
}

static int collect_namings(struct compiler *c, int f, struct naming **out, size_t *n)
{
	struct policy_image *img = c->img;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	for (uint32_t i = 0; i < img->n_rules; i++) {
		const struct policy_rule *r = file_rule(c, i);

		if (!r)
			continue;
		for (size_t j = 0; j < r->n_peers; j++) {
			const struct cidr *p = &r->peers[j];

			if (fam(p->family) != f)
				continue;
			if (*n == cap) {
				size_t ncap = cap ? cap * 2 : 256;
				struct naming *v = realloc(*out, ncap * sizeof(*v));

				if (!v)
					return -ENOMEM;
				*out = v;
				cap = ncap;
			}
			(*out)[(*n)++] = (struct naming){ .c = *p, .rule = i };
		}
	}
	qsort(*out, *n, sizeof(**out), naming_cmp);
	return 0;
}

static bool cidr_covers(const struct cidr *outer, const struct cidr *inner)
{
	return cidr_contains(outer, inner);
}

/* cover = parent's cover merged with own (both ascending, no duplicates). */
static int merge_cover(struct u32v *out, const struct u32v *a, const struct u32v *b)
{
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		uint32_t x;

		if (j == b->n || (i < a->n && a->v[i] < b->v[j])) {
			x = a->v[i++];
		} else if (i == a->n || b->v[j] < a->v[i]) {
			x = b->v[j++];
		} else {
			x = a->v[i++];
			j++;
		}
		if (u32v_push(out, x))
			return -ENOMEM;
	}
	return 0;
}

static int build_prefixes(struct compiler *c, int f)
{
	struct naming *nm;
	size_t n, *stack = NULL, depth = 0;
	struct u32v empty = {};
	int err = collect_namings(c, f, &nm, &n);

	if (err)
		return err;
	c->pfx[f] = calloc(n + 1, sizeof(*c->pfx[f]));
	stack = calloc(n + 1, sizeof(*stack));
	if (!c->pfx[f] || !stack) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct pfx *p;

		if (!c->n_pfx[f] || cidr_cmp(&c->pfx[f][c->n_pfx[f] - 1].c, &nm[i].c)) {
			p = &c->pfx[f][c->n_pfx[f]++];
			p->c = nm[i].c;
		} else {
			p = &c->pfx[f][c->n_pfx[f] - 1];
		}
		if ((!p->rules.n || p->rules.v[p->rules.n - 1] != nm[i].rule) &&
		    u32v_push(&p->rules, nm[i].rule)) {
			err = -ENOMEM;
			goto out;
		}
	}
	if (c->n_pfx[f] > c->lim->prefixes[f]) {
		const struct policy_pos *at = &c->doc->policies[0].at;

		diags_add(c->d, c->doc->source, at->line, at->col, "policies",
			  "%zu distinct IPv%d peer prefixes; policy.capacity.prefixes_v%d is %u",
			  c->n_pfx[f], f ? 6 : 4, f ? 6 : 4, c->lim->prefixes[f]);
		err = -E2BIG;
		goto out;
	}
	/* Sorted by address then length: what covers a prefix is on the stack before it. */
	for (size_t i = 0; i < c->n_pfx[f]; i++) {
		struct pfx *p = &c->pfx[f][i];

		while (depth && !cidr_covers(&c->pfx[f][stack[depth - 1]].c, &p->c))
			depth--;
		err = merge_cover(&p->cover, depth ? &c->pfx[f][stack[depth - 1]].cover : &empty, &p->rules);
		if (err)
			goto out;
		stack[depth++] = i;
	}
	c->img->n_prefixes[f] = c->n_pfx[f];
	c->img->prefixes[f] = calloc(c->n_pfx[f] + 1, sizeof(struct cidr));
	if (!c->img->prefixes[f]) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < c->n_pfx[f]; i++)
		c->img->prefixes[f][i] = c->pfx[f][i].c;
out:
	free(nm);
	free(stack);
	return err;
}

/* ---- 4. A records and port tables ---------------------------------------------------------- */

/* The candidates of one kind of packet: list positions k (1-based) in precedence order. */
struct cand {
	uint32_t k;
	const struct policy_rule *r;	/* NULL: every port */
};

struct table_key {
	const struct policy_image *img;
	const uint32_t *v;
	size_t n;
};

static bool table_eq(uint32_t off, const void *arg)
{
	const struct table_key *k = arg;

	return memcmp(k->img->cells + off, k->v, k->n * sizeof(*k->v)) == 0;
}

/* Stores a table of n cells once: its offset (an existing identical one's if any). */
static uint32_t store_table(struct compiler *c, const uint32_t *v, size_t n)
{
	struct table_key k = { c->img, v, n };
	uint64_t h = fnv(fnv(0xcbf29ce484222325ULL, &n, sizeof(n)), v, n * sizeof(*v));
	uint32_t off = dedupe_find(&c->table_set, h, table_eq, &k);

	if (off != NO_OFFSET)
		return off;
	off = cells_append(c->img, n);
	if (off == NO_OFFSET)
		return NO_OFFSET;
	memcpy(c->img->cells + off, v, n * sizeof(*v));
	if (dedupe_add(&c->table_set, h, off))
		return NO_OFFSET;
	c->img->n_port_tables++;
	return off;
}

static int u32_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

static uint32_t find_next(uint32_t *next, uint32_t i)
{
	uint32_t root = i;

	while (next[root] != root)
		root = next[root];
	while (next[i] != root) {
		uint32_t up = next[i];

		next[i] = root;
		i = up;
	}
	return root;
}

static int scratch(struct compiler *c, size_t n)
{
	if (n <= c->cap_bounds)
		return 0;
	free(c->bounds);
	free(c->owner);
	free(c->next);
	c->bounds = malloc(n * sizeof(*c->bounds));
	c->owner = malloc(n * sizeof(*c->owner));
	c->next = malloc(n * sizeof(*c->next));
	c->cap_bounds = c->bounds && c->owner && c->next ? n : 0;
	return c->cap_bounds ? 0 : -ENOMEM;
}

static size_t interval_of(const uint32_t *bounds, size_t nb, uint32_t port)
{
	size_t lo = 0, hi = nb - 1;	/* bounds[lo] <= port < bounds[hi] */

	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (bounds[mid] <= port)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static void paint(struct compiler *c, size_t nb, uint32_t lo, uint32_t hi, uint32_t k)
{
	size_t i = interval_of(c->bounds, nb, lo), end = interval_of(c->bounds, nb, hi);

	for (i = find_next(c->next, (uint32_t)i); i <= end; i = find_next(c->next, (uint32_t)i)) {
		c->owner[i] = k;
		c->next[i] = (uint32_t)i + 1;
	}
}

/* k of port p from the painted intervals. */
static uint32_t owner_at(const struct compiler *c, size_t nb, uint32_t p)
{
	return c->owner[interval_of(c->bounds, nb, p)];
}

/*
 * One port range with its own list position and the same one on both sides: a one-port entry
 * (no cell) or a one-range entry (two cells, shared by the records with the same range). The
 * painted intervals are then at most three, the outer ones (those present) with one owner.
 */
static int one_range(struct compiler *c, size_t nb, uint32_t *entry)
{
	uint32_t hit, miss, lo, hi, v[2];
	size_t in;

	if (nb > 4)
		return 1;
	/* The inner interval: the middle one of three, or the one whose owner differs. */
	in = nb == 4 ? 1 : c->owner[0] ? 0 : 1;
	hit = c->owner[in];
	miss = c->owner[in ? 0 : 1];
	for (size_t j = 0; j + 1 < nb; j++)
		if (j != in && c->owner[j] != miss)
			return 1;
	lo = c->bounds[in];
	hi = c->bounds[in + 1] - 1;
	if (lo == hi && hit <= POLICY_ENTRY_K_MAX && miss <= POLICY_ENTRY_K_MAX) {
		*entry = POLICY_CELL_FLAG | POLICY_ENTRY_ONE_PORT | miss << 23 | hit << 16 | lo;
		return 0;
	}
	if (hit > 0xffff || miss > 0xffff)
		return 1;
	v[0] = lo | hi << 16;
	v[1] = hit | miss << 16;
	*entry = store_table(c, v, 2);
	if (*entry == NO_OFFSET)
		return -ENOMEM;
	*entry |= POLICY_ENTRY_ONE_RANGE;
	return 0;
}

/*
 * The cell for ports [first, first + 16^level * 256): FLAG | k when one list position has them
 * all, else the offset of the table one level down (16 cells for levels 2 and 1, 256 for the
 * leaf, level 0), stored once however many records share it.
 */
static uint32_t port_table(struct compiler *c, size_t nb, uint32_t first, int level)
{
	uint32_t span = POLICY_PORT_LEAF << (4 * level), v[POLICY_PORT_LEAF];
	size_t n = level ? POLICY_PORT_FANOUT : POLICY_PORT_LEAF;

	if (interval_of(c->bounds, nb, first) == interval_of(c->bounds, nb, first + span - 1))
		return POLICY_CELL_FLAG | owner_at(c, nb, first);
	for (size_t i = 0; i < n; i++) {
		if (!level) {
			v[i] = owner_at(c, nb, first + (uint32_t)i);
			continue;
		}
		v[i] = port_table(c, nb, first + (uint32_t)i * (span / POLICY_PORT_FANOUT), level - 1);
		if (v[i] == NO_OFFSET)
			return NO_OFFSET;
	}
	return store_table(c, v, n);
}

/* The pk entry for TCP or UDP: uniform k, one port or range, or a three-level port table. */
static int port_entry(struct compiler *c, const struct cand *cand, size_t n, uint32_t *entry)
{
	size_t nb = 2, intervals;
	bool uniform;
	int err;

	for (size_t i = 0; i < n; i++)
		nb += cand[i].r && cand[i].r->n_ports ? 2 * cand[i].r->n_ports : 2;
	err = scratch(c, nb);
	if (err)
		return err;
	nb = 0;
	c->bounds[nb++] = 0;
	c->bounds[nb++] = ALL_PORTS_HI + 1;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; cand[i].r && j < cand[i].r->n_ports; j++) {
			c->bounds[nb++] = cand[i].r->ports[j].lo;
			c->bounds[nb++] = cand[i].r->ports[j].hi + 1u;
		}
	qsort(c->bounds, nb, sizeof(*c->bounds), u32_cmp);
	intervals = 1;
	for (size_t i = 1; i < nb; i++)
		if (c->bounds[i] != c->bounds[intervals - 1])
			c->bounds[intervals++] = c->bounds[i];
	nb = intervals;	/* bounds[0..nb): nb - 1 intervals */
	for (size_t i = 0; i < nb; i++) {
		c->owner[i] = 0;
		c->next[i] = (uint32_t)i;
	}
	for (size_t i = 0; i < n; i++) {
		const struct policy_rule *r = cand[i].r;

		if (!r || !r->n_ports)
			paint(c, nb, 0, ALL_PORTS_HI, cand[i].k);
		for (size_t j = 0; r && j < r->n_ports; j++)
			paint(c, nb, r->ports[j].lo, r->ports[j].hi, cand[i].k);
	}
	uniform = true;
	for (size_t i = 1; i + 1 < nb && uniform; i++)
		uniform = c->owner[i] == c->owner[0];
	if (uniform) {
		*entry = POLICY_CELL_FLAG | c->owner[0];
		return 0;
	}
	err = one_range(c, nb, entry);
	if (err <= 0)
		return err;
	/* Not uniform: the top level is a table, never a flag. */
	*entry = port_table(c, nb, 0, 2);
	return *entry == NO_OFFSET ? -ENOMEM : 0;
}

struct a_key {
	const struct compiler *c;
	uint32_t rs;
	const uint32_t *rules;
	size_t m;
};

static bool a_eq(uint32_t ai, const void *arg)
{
	const struct a_key *k = arg;
	const struct a_desc *a = &k->c->a[ai];
	const uint32_t *list = k->c->img->cells + a->off + POLICY_PK_COUNT + 1;

	if (a->rs != k->rs || a->m != k->m)
		return false;
	for (size_t i = 0; i < k->m; i++)
		if ((list[i] & POLICY_CELL_VALUE) != k->rules[i])
			return false;
	return true;
}

static int build_a(struct compiler *c, uint32_t rs, const uint32_t *rules, size_t m, uint32_t *off)
{
	struct policy_image *img = c->img;
	struct a_key key = { c, rs, rules, m };
	uint64_t h = fnv(fnv(0xcbf29ce484222325ULL, &rs, sizeof(rs)), rules, m * sizeof(*rules));
	uint32_t ai = dedupe_find(&c->a_set, h, a_eq, &key), o, entries[POLICY_PK_COUNT];
	struct cand *cand;
	int err = 0;

	if (ai != NO_OFFSET) {
		*off = c->a[ai].off;
		return 0;
	}
	cand = calloc(m + 1, sizeof(*cand));
	if (!cand)
		return -ENOMEM;
	for (int pk = 0; pk < POLICY_PK_COUNT && !err; pk++) {
		size_t n = 0;

		for (size_t i = 0; i < m; i++) {
			const struct policy_rule *r = file_rule(c, rules[i]);

			if (rule_kind_matches(r, (enum policy_pk)pk))
				cand[n++] = (struct cand){ (uint32_t)i + 1, r };
		}
		if (pk == POLICY_PK_TCP || pk == POLICY_PK_UDP)
			err = port_entry(c, cand, n, &entries[pk]);
		else
			entries[pk] = POLICY_CELL_FLAG | (n ? cand[0].k : 0);
	}
	free(cand);
	if (err)
		return err;
	/*
	 * A record does not cross a 16-cell boundary when it fits in 16 cells, and starts on one
	 * when it does not: the datapath then reads its port entry and (mostly) its rule word in
	 * one map lookup (policy.h).
	 */
	{
		size_t len = POLICY_PK_COUNT + 1 + m, at = img->n_cells % POLICY_CELLS_PER_GROUP;

		if ((len <= POLICY_CELLS_PER_GROUP && at + len > POLICY_CELLS_PER_GROUP) ||
		    (len > POLICY_CELLS_PER_GROUP && at))
			if (cells_append(img, POLICY_CELLS_PER_GROUP - at) == NO_OFFSET)
				return -ENOMEM;
		o = cells_append(img, len);
	}
	if (o == NO_OFFSET)
		return -ENOMEM;
	memcpy(img->cells + o, entries, sizeof(entries));
	img->cells[o + POLICY_PK_COUNT] = img->rs[rs].rec.default_word;
	for (size_t i = 0; i < m; i++)
		img->cells[o + POLICY_PK_COUNT + 1 + i] = rule_word(img, rules[i]);
	if (c->n_a == c->cap_a) {
		size_t ncap = c->cap_a ? c->cap_a * 2 : 64;
		struct a_desc *v = realloc(c->a, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->a = v;
		c->cap_a = ncap;
	}
	c->a[c->n_a] = (struct a_desc){ o, rs, (uint32_t)m };
	if (dedupe_add(&c->a_set, h, (uint32_t)c->n_a))
		return -ENOMEM;
	c->n_a++;
	img->n_a_records++;
	*off = o;
	return 0;
}

/* The part of an ascending vector within [lo, hi). */
static void slice(const struct u32v *v, uint32_t lo, uint32_t hi, const uint32_t **start, size_t *n)
{
	size_t a = 0, b;

	while (a < v->n && v->v[a] < lo)
		a++;
	for (b = a; b < v->n && v->v[b] < hi; b++)
		;
	*start = v->v + a;
	*n = b - a;
}

/* The record of the ruleset's rules without peers, in rank order. */
static int build_any(struct compiler *c, uint32_t r)
{
	struct policy_image_rs *rs = &c->img->rs[r];
	uint32_t *rules = calloc(rs->n_rules, sizeof(*rules)), off;
	size_t m = 0;
	int err;

	if (!rules)
		return -ENOMEM;
	for (uint32_t i = rs->first_rule; i + 1 < rs->first_rule + rs->n_rules; i++)
		if (!file_rule(c, i)->n_peers)
			rules[m++] = i;
	err = build_a(c, r, rules, m, &off);
	free(rules);
	if (err)
		return err;
	/* Its entries go into the ruleset record itself (policy.h), its list stays in the cells. */
	memcpy(rs->rec.any_pk, c->img->cells + off, sizeof(rs->rec.any_pk));
	rs->rec.any_list = off + POLICY_PK_COUNT;
	return 0;
}

static int build_classes(struct compiler *c)
{
	struct policy_image *img = c->img;

	for (uint32_t r = 0; r < img->n_rs; r++) {
		struct policy_image_rs *rs = &img->rs[r];
		uint32_t lo = rs->first_rule, hi = rs->first_rule + rs->n_rules - 1;
		int err = build_any(c, r);

		if (err)
			return err;
		for (int f = 0; f < 2; f++) {
			rs->class_a[f] = calloc(c->n_pfx[f] + 1, sizeof(uint32_t));
			if (!rs->class_a[f])
				return -ENOMEM;
			err = build_a(c, r, NULL, 0, &rs->class_a[f][0]);
			for (size_t i = 0; i < c->n_pfx[f] && !err; i++) {
				const uint32_t *rules;
				size_t m;

				slice(&c->pfx[f][i].cover, lo, hi, &rules, &m);
				err = build_a(c, r, rules, m, &rs->class_a[f][i + 1]);
			}
			if (err)
				return err;
		}
	}
	return 0;
}

static void compiler_free(struct compiler *c)
{
	for (int f = 0; f < 2; f++) {
		for (size_t i = 0; c->pfx[f] && i < c->n_pfx[f]; i++) {
			free(c->pfx[f][i].rules.v);
			free(c->pfx[f][i].cover.v);
		}
		free(c->pfx[f]);
	}
	free(c->a);
	dedupe_free(&c->a_set);
	dedupe_free(&c->table_set);
	free(c->bounds);
	free(c->owner);
	free(c->next);
}

int policy_compile(const struct policy_doc *doc, const bool (*applies)[2],
		   const struct policy_limits *lim, struct policy_image *img, struct diags *d)
{
	struct compiler c = { .doc = doc, .lim = lim, .img = img, .d = d };
	int err;

	memset(img, 0, sizeof(*img));
	img->n_policies = doc->n;
	img->modes = calloc(doc->n + 1, sizeof(*img->modes));
	if (!img->modes)
		return -ENOMEM;
	for (size_t i = 0; i < doc->n; i++)
		img->modes[i] = (uint32_t)doc->policies[i].mode;
	err = build_rules(&c, applies);
	if (!err)
		err = build_prefixes(&c, 0);
	if (!err)
		err = build_prefixes(&c, 1);
	if (!err)
		err = build_classes(&c);
	img->n_record_cells = img->n_cells;
	compiler_free(&c);
	if (err == -ENOMEM)
		diags_add(d, doc->source, 0, 0, NULL, "out of memory compiling the policy");
	if (err)
		policy_image_free(img);
	return err;
}

/* ---- 5. rows ------------------------------------------------------------------------------- */

int policy_image_layout(struct policy_image *img, const uint32_t *const ids[2],
			const uint32_t max_id[2], const struct policy_limits *lim, struct diags *d)
{
	img->n_cells = img->n_record_cells;	/* a layout may be redone */
	for (size_t r = 0; r < img->n_rs; r++) {
		struct policy_image_rs *rs = &img->rs[r];

		for (int f = 0; f < 2; f++) {
			const uint32_t *a = rs->class_a[f];
			size_t n = img->n_prefixes[f];
			bool same = true;
			uint32_t off;

			for (size_t i = 1; i <= n && same; i++)
				same = a[i] == a[0];
			if (same) {
				*(f ? &rs->rec.row6 : &rs->rec.row4) = POLICY_CELL_FLAG | a[0];
				continue;
			}
			off = cells_append(img, (size_t)max_id[f] + 1);
			if (off == NO_OFFSET) {
				diags_add(d, NULL, 0, 0, NULL, "out of memory laying out the policy");
				return -ENOMEM;
			}
			for (size_t i = 0; i <= max_id[f]; i++)
				img->cells[off + i] = a[0];
			for (size_t i = 0; i < n; i++)
				img->cells[off + (ids[f] ? ids[f][i] : i + 1)] = a[i + 1];
			*(f ? &rs->rec.row6 : &rs->rec.row4) = off;
		}
	}
	if (img->n_cells > lim->cells) {
		diags_add(d, NULL, 0, 0, "policies", "the compiled policy needs %zu cells (%zu in rule "
			  "records and port tables, %zu in per-ruleset address rows); "
			  "policy.capacity.cells is %u", img->n_cells, img->n_record_cells,
			  img->n_cells - img->n_record_cells, lim->cells);
		return -E2BIG;
	}
	return 0;
}

void policy_image_free(struct policy_image *img)
{
	for (size_t r = 0; img->rs && r < img->n_rs; r++) {
		free(img->rs[r].class_a[0]);
		free(img->rs[r].class_a[1]);
	}
	free(img->rs);
	free(img->rules);
	free(img->prefixes[0]);
	free(img->prefixes[1]);
	free(img->cells);
	free(img->modes);
	memset(img, 0, sizeof(*img));
}

/* ---- evaluation ---------------------------------------------------------------------------- */

static uint32_t cell_at(const uint32_t *cells, size_t n, uint64_t i)
{
	return i < n ? cells[i] : 0;
}

static uint32_t walk_entry(const uint32_t *cells, size_t n_cells, uint32_t e, uint32_t list,
			   uint32_t dflt, uint16_t port)
{
	uint32_t k, l;

	if ((e & (POLICY_CELL_FLAG | POLICY_ENTRY_ONE_PORT)) == (POLICY_CELL_FLAG | POLICY_ENTRY_ONE_PORT)) {
		k = port == (e & 0xffff) ? (e >> 16) & POLICY_ENTRY_K_MAX : (e >> 23) & POLICY_ENTRY_K_MAX;
	} else if (e & POLICY_CELL_FLAG) {
		k = e & POLICY_CELL_VALUE;
	} else if (e & POLICY_ENTRY_ONE_RANGE) {
		uint64_t at = e & POLICY_ENTRY_OFFSET;
		uint32_t range = cell_at(cells, n_cells, at), ks = cell_at(cells, n_cells, at + 1);

		k = port >= (range & 0xffff) && port <= range >> 16 ? ks & 0xffff : ks >> 16;
	} else {
		/* Three levels of 16, 16 and 256 cells; FLAG | k ends the walk early. */
		l = cell_at(cells, n_cells, (uint64_t)e + (port >> 12));
		if (!(l & POLICY_CELL_FLAG))
			l = cell_at(cells, n_cells, (uint64_t)l + ((port >> 8) & 15));
		if (!(l & POLICY_CELL_FLAG))
			l = POLICY_CELL_FLAG | cell_at(cells, n_cells, (uint64_t)l + (port & 255));
		k = l & POLICY_CELL_VALUE;
	}
	return k ? cell_at(cells, n_cells, (uint64_t)list + k) : dflt;
}

uint32_t policy_cells_decide(const uint32_t *cells, size_t n_cells, const struct policy_ruleset *rs,
			     int family, uint32_t klass, uint8_t proto, uint16_t port)
{
	uint32_t row = family == AF_INET ? rs->row4 : rs->row6, a, wa, wr;
	enum policy_pk pk = policy_packet_kind(family, proto);

	if (row & POLICY_CELL_FLAG)
		a = row & POLICY_CELL_VALUE;
	else
		a = cell_at(cells, n_cells, (uint64_t)row + klass);
	wa = walk_entry(cells, n_cells, cell_at(cells, n_cells, (uint64_t)a + pk), a + POLICY_PK_COUNT,
			rs->default_word, port);
	wr = walk_entry(cells, n_cells, rs->any_pk[pk], rs->any_list, rs->default_word, port);
	return (wa & POLICY_CELL_VALUE) <= (wr & POLICY_CELL_VALUE) ? wa : wr;
}

static bool addr_in(const struct cidr *c, int family, const uint8_t *addr)
{
	struct cidr host = { .family = family, .prefixlen = family == AF_INET ? 32 : 128 };

	if (c->family != family)
		return false;
	memcpy(host.addr, addr, family == AF_INET ? 4 : 16);
	return cidr_contains(c, &host);
}

static bool rule_matches(const struct policy_rule *r, int family, const uint8_t *addr,
			 enum policy_pk pk, uint16_t port)
{
	bool peer = !r->n_peers;

	for (size_t j = 0; j < r->n_peers && !peer; j++)
		peer = addr_in(&r->peers[j], family, addr);
	return peer && rule_kind_matches(r, pk) &&
	       (!(pk == POLICY_PK_TCP || pk == POLICY_PK_UDP) || rule_port_matches(r, port));
}

/* Straight from the file: deny rules in file order, then allow rules, then the default. */
uint32_t policy_image_reference(const struct policy_image *img, const struct policy_doc *doc,
				uint32_t rsi, int family, const uint8_t *addr, uint8_t proto,
				uint16_t port)
{
	const struct policy_image_rs *rs = &img->rs[rsi];
	const struct policy_def *p = &doc->policies[rs->policy];
	enum policy_pk pk = policy_packet_kind(family, proto);
	uint32_t last = rs->first_rule + rs->n_rules - 1;

	for (int deny = 1; deny >= 0; deny--) {
		for (size_t j = 0; j < p->n_rules; j++) {
			const struct policy_rule *r = &p->rules[j];

			if (r->direction != rs->direction || r->deny != deny ||
			    !rule_matches(r, family, addr, pk, port))
				continue;
			for (uint32_t i = rs->first_rule; i < last; i++)
				if (img->rules[i].file_rule == (int32_t)j)
					return i;
		}
	}
	return last;
}
