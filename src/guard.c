// SPDX-License-Identifier: GPL-2.0-only
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <linux/if_link.h>
#include <stddef.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "guard.h"
#include "guard.skel.h"
#include "iface.h"
#include "log.h"
#include "util.h"

#define REASON_NAME(id, name) name,
const char *const guard_reason_names[GUARD_REASON_COUNT] = { GUARD_REASONS(REASON_NAME) };
#undef REASON_NAME

static const char *const guard_programs[] = { "xdp_guard", NULL };
static const char *const guard_maps[] = {
	"guard_ifaces", "guard_ifaces_big", "guard_settings", "guard_counters",
	"allow_v4_l1", "allow_v4_nodes", "allow_v4_rules",
	"allow_v6_l1", "allow_v6_nodes", "allow_v6_rules",
	"block_v4_l1", "block_v4_nodes", "block_v4_rules",
	"block_v6_l1", "block_v6_nodes", "block_v6_rules",
	"guard_block_scoped_v4", "guard_block_scoped_v6", "guard_rl_limits", "guard_rl_state",
	"guard_events", "guard_cpu_state", "guard_top", "guard_hits", NULL,
};

static const void *guard_elf_bytes(size_t *len)
{
	return guard_bpf__elf_bytes(len);
}

static int map_fd(const struct guard *g, const char *name);

/*
 * The source lists: prefix tables (bpf/guard.bpf.c PREFIX_TABLE(), with the same first-level
 * bits). A table of capacity N has N + 1 rule slots (id 0 is "none") and node room for dense
 * lists: a /32 alone under its first-level slot takes one node, two under one slot take two or
 * three. Measured: 0.6 nodes per IPv4 prefix of a feed-like mix, 1.09 per prefix of a million
 * random IPv4 /32s (the e2e test), 1.2 per IPv6 prefix. Room for 1.25 (IPv4) and 1.5 (IPv6)
 * nodes per prefix; a pathological list (pairs of /32s under every /24) can need up to 2 and is
 * then refused as full before its capacity in prefixes.
 */
static const struct list_table {
	const char *name;		/* maps <name>_l1, <name>_nodes, <name>_rules */
	enum decision_list list;
	int family;
	unsigned l1_bits;
	unsigned nodes_per_4_rules;
	const char *key;
	size_t off;
} list_tables[] = {
	{ "block_v4", LIST_BLOCK, AF_INET, 24, 5, "guard.capacity.block_v4", offsetof(struct aegis_config, guard_cap_block_v4) },
	{ "block_v6", LIST_BLOCK, AF_INET6, 20, 6, "guard.capacity.block_v6", offsetof(struct aegis_config, guard_cap_block_v6) },
	{ "allow_v4", LIST_ALLOW, AF_INET, 16, 5, "guard.capacity.allow_v4", offsetof(struct aegis_config, guard_cap_allow_v4) },
	{ "allow_v6", LIST_ALLOW, AF_INET6, 16, 6, "guard.capacity.allow_v6", offsetof(struct aegis_config, guard_cap_allow_v6) },
};

/* Protocol/port-scoped block entries: LPM tries, [family == AF_INET6]. */
static const struct {
	const char *map, *key;
	size_t off;
} scoped_lists[] = {
	{ "guard_block_scoped_v4", "guard.capacity.block_scoped_v4", offsetof(struct aegis_config, guard_cap_block_scoped_v4) },
	{ "guard_block_scoped_v6", "guard.capacity.block_scoped_v6", offsetof(struct aegis_config, guard_cap_block_scoped_v6) },
};

static uint32_t cfg_u32(const struct aegis_config *cfg, size_t off)
{
	return *(const uint32_t *)((const char *)cfg + off);
}

static uint32_t table_rules(const struct aegis_config *cfg, const struct list_table *t)
{
	return cfg_u32(cfg, t->off) + 1;
}

static uint32_t table_nodes(const struct aegis_config *cfg, const struct list_table *t)
{
	return (uint32_t)(((uint64_t)cfg_u32(cfg, t->off) * t->nodes_per_4_rules + 3) / 4) + 16;
}

static const struct list_table *table_of(enum decision_list list, int family)
{
	for (size_t i = 0; i < ARRAY_SIZE(list_tables); i++)
		if (list_tables[i].list == list && list_tables[i].family == family)
			return &list_tables[i];
	return NULL;
}

const char *guard_capacity_key(enum decision_list list, int family, bool scoped)
{
	const struct list_table *t = table_of(list, family);

	if (scoped)
		return scoped_lists[family == AF_INET6].key;
	return t ? t->key : "?";
}

/* Kernel memory the four source lists take as sized (arrays: all of it, from the start). */
static uint64_t list_bytes(const struct aegis_config *cfg)
{
	uint64_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(list_tables); i++) {
		const struct list_table *t = &list_tables[i];

		n += ((uint64_t)1 << t->l1_bits) / PREFIX_FANOUT * sizeof(struct prefix_group) +
		     (uint64_t)table_nodes(cfg, t) * sizeof(struct prefix_node) +
		     (uint64_t)table_rules(cfg, t) * sizeof(struct prefix_rule);
	}
	return n;
}

/* Said once, when the lists are created: a small host may not want the default capacities. */
static void warn_list_memory(const struct aegis_config *cfg)
{
	uint64_t need = list_bytes(cfg);
	struct sysinfo si;

	if (sysinfo(&si) || !si.totalram)
		return;
	if (need * 10 > (uint64_t)si.totalram * si.mem_unit)
		pr_warn("guard: the block and allow lists take %llu MiB of kernel memory, more than a tenth "
			"of this host's %llu MiB: lower guard.capacity.* if it needs no lists that long "
			"(docs/config.md gives the sizes)", (unsigned long long)(need >> 20),
			(unsigned long long)(((uint64_t)si.totalram * si.mem_unit) >> 20));
	else
		pr_info("guard: the block and allow lists take %llu MiB of kernel memory",
			(unsigned long long)(need >> 20));
}

static int size_lists(struct bpf_object *obj, const struct aegis_config *cfg)
{
	char name[64];
	int err = 0;

	for (size_t i = 0; i < ARRAY_SIZE(list_tables) && !err; i++) {
		const struct list_table *t = &list_tables[i];

		snprintf(name, sizeof(name), "%s_nodes", t->name);
		err = bpfobj_size_map(obj, name, table_nodes(cfg, t), t->key);
		snprintf(name, sizeof(name), "%s_rules", t->name);
		if (!err)
			err = bpfobj_size_map(obj, name, table_rules(cfg, t), t->key);
	}
	for (size_t i = 0; i < ARRAY_SIZE(scoped_lists) && !err; i++)
		err = bpfobj_size_map(obj, scoped_lists[i].map, cfg_u32(cfg, scoped_lists[i].off), scoped_lists[i].key);
	if (!err)
		warn_list_memory(cfg);
	return err;
}

const struct bpfobj_desc guard_desc = {
	.name = "guard",
	.file = "guard.bpf.o",
	.embedded = guard_elf_bytes,
	.programs = guard_programs,
	.maps = guard_maps,
	.configure = size_lists,
};

/*
 * The map's max_entries is want; else a refusal saying what to do. slack: max_entries minus the
 * capacity it stands for (1 for a rules map, whose id 0 is unused; 0 for a scoped list), or -1
 * when the map's size says no capacity by itself (a node map).
 */
static int check_size(struct guard *g, const char *map, uint32_t want, int slack, const char *key,
		      uint32_t cap, const struct aegis_config *cfg)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	int fd = map_fd(g, map);
	char was[32] = "another capacity";

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) || info.max_entries == want)
		return 0;
	if (slack >= 0)
		snprintf(was, sizeof(was), "%u", info.max_entries - (uint32_t)slack);
	pr_err("guard: %s is %u but the pinned %s was created for %s: a new capacity needs "
	       "`aegis agent --cleanup` and a restart (the lists come back from %s)",
	       key, cap, map, was, cfg->state_dir);
	return -EEXIST;
}

/*
 * Pinned list maps keep the size they were created with (their contents survive restarts); a
 * changed capacity is refused with what to do rather than silently ignored.
 */
static int check_capacities(struct guard *g, const struct aegis_config *cfg)
{
	char name[64];
	int err = 0;

	for (size_t i = 0; i < ARRAY_SIZE(list_tables) && !err; i++) {
		const struct list_table *t = &list_tables[i];
		uint32_t cap = cfg_u32(cfg, t->off);

		snprintf(name, sizeof(name), "%s_rules", t->name);
		err = check_size(g, name, table_rules(cfg, t), 1, t->key, cap, cfg);
		snprintf(name, sizeof(name), "%s_nodes", t->name);
		if (!err)
			err = check_size(g, name, table_nodes(cfg, t), -1, t->key, cap, cfg);
	}
	for (size_t i = 0; i < ARRAY_SIZE(scoped_lists) && !err; i++) {
		uint32_t cap = cfg_u32(cfg, scoped_lists[i].off);

		err = check_size(g, scoped_lists[i].map, cap, 0, scoped_lists[i].key, cap, cfg);
	}
	return err;
}

static void close_tables(struct guard *g)
{
	for (size_t i = 0; i < ARRAY_SIZE(list_tables); i++) {
		struct prefix_table **t = &g->tables[list_tables[i].list][list_tables[i].family == AF_INET6];

		prefix_table_close(*t);
		*t = NULL;
	}
}

/* Takes over the list tables; entries pinned by an earlier agent are adopted with them. */
static int open_tables(struct guard *g)
{
	for (size_t i = 0; i < ARRAY_SIZE(list_tables); i++) {
		const struct list_table *t = &list_tables[i];
		struct prefix_table_maps m = { .family = t->family, .l1_bits = t->l1_bits };
		char name[64];
		int err;

		snprintf(name, sizeof(name), "%s_l1", t->name);
		m.l1_fd = map_fd(g, name);
		snprintf(name, sizeof(name), "%s_nodes", t->name);
		m.nodes_fd = map_fd(g, name);
		snprintf(name, sizeof(name), "%s_rules", t->name);
		m.rules_fd = map_fd(g, name);
		err = prefix_table_open(&m, &g->tables[t->list][t->family == AF_INET6]);
		if (err) {
			close_tables(g);
			return pr_err_errno(err, "guard: cannot open the %s prefix table", t->name);
		}
	}
	return 0;
}

struct prefix_table *guard_table(const struct guard *g, enum decision_list list, int family)
{
	return g->running ? g->tables[list][family == AF_INET6] : NULL;
}

int guard_scoped_fd(const struct guard *g, int family)
{
	return g->running ? map_fd(g, scoped_lists[family == AF_INET6].map) : -1;
}

int guard_hits_fd(const struct guard *g)
{
	return g->running ? map_fd(g, "guard_hits") : -1;
}

int guard_set_list_empty(struct guard *g, uint32_t bit, bool empty)
{
	uint32_t want = empty ? g->empty_lists | bit : g->empty_lists & ~bit, key = 0;
	struct guard_settings s;
	int fd;

	if (!g->running || want == g->empty_lists)
		return 0;
	fd = map_fd(g, "guard_settings");
	/* The settings as written (the configuration's part stays), with this one bit changed. */
	if (bpf_map_lookup_elem(fd, &key, &s))
		return pr_err_errno(-errno, "guard: cannot read guard_settings");
	s.empty_lists = want;
	if (bpf_map_update_elem(fd, &key, &s, BPF_ANY))
		return pr_err_errno(-errno, "guard: cannot write guard_settings");
	g->empty_lists = want;
	return 0;
}

static int map_fd(const struct guard *g, const char *name)
{
	return bpfobj_map_fd(&g->obj, name);
}

static struct guard_iface_state *find_iface(struct guard *g, const char *name)
{
	for (size_t i = 0; i < g->n_ifaces; i++)
		if (streq(g->ifaces[i].name, name))
			return &g->ifaces[i];
	return NULL;
}

static uint32_t mode_value(enum guard_mode m)
{
	return m == GUARD_MODE_BLOCK ? GUARD_MODE_BLOCK_V : GUARD_MODE_OBSERVE_V;
}

/* Slot 0 counts unconfigured interfaces; a slot is zeroed when handed out so counts start at 0. */
static int alloc_slot(struct guard *g, uint32_t *slot)
{
	int fd = map_fd(g, "guard_counters");
	int ncpu = libbpf_num_possible_cpus();
	_cleanup_free_ struct guard_counters *zero = NULL;

	for (uint32_t s = 1; s < GUARD_MAX_IFACES; s++) {
		bool used = false;

		for (size_t i = 0; i < g->n_ifaces; i++)
			used |= g->ifaces[i].slot == s;
		if (used)
			continue;
		if (ncpu <= 0)
			return ncpu ? ncpu : -EINVAL;
		zero = calloc((size_t)ncpu, sizeof(*zero));
		if (!zero)
			return -ENOMEM;
		if (bpf_map_update_elem(fd, &s, zero, BPF_ANY))
			return -errno;
		*slot = s;
		return 0;
	}
	return -ENOSPC;
}

/* guard_ifaces is an array over small ifindexes; bigger ones live in a hash beside it. */
static int iface_map_fd(struct guard *g, int ifindex)
{
	return map_fd(g, ifindex < GUARD_MAX_IFINDEX ? "guard_ifaces" : "guard_ifaces_big");
}

/*
 * Forgets an interface in guard_ifaces. An array map cannot delete: a zeroed entry (slot 0,
 * observe) means "not configured" to the datapath as well.
 */
static void clear_iface_entry(struct guard *g, int ifindex)
{
	struct guard_iface zero = {};
	uint32_t key = (uint32_t)ifindex;
	int fd = iface_map_fd(g, ifindex);

	if (bpf_map_delete_elem(fd, &key) && errno == EINVAL)
		bpf_map_update_elem(fd, &key, &zero, BPF_ANY);
}

static int write_iface_entry(struct guard *g, const struct guard_iface_state *s)
{
	struct guard_iface v = { .mode = mode_value(s->mode), .slot = s->slot };
	uint32_t key = (uint32_t)s->ifindex;

	if (bpf_map_update_elem(iface_map_fd(g, s->ifindex), &key, &v, BPF_ANY))
		return -errno;
	return 0;
}

/* What is on the interface now, to name the owner when the attach is refused. */
static void describe_occupant(int ifindex, char *buf, size_t len)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct bpf_prog_info info = {};
	uint32_t ilen = sizeof(info);
	int fd;

	snprintf(buf, len, "another XDP program");
	if (bpf_xdp_query(ifindex, 0, &q) || !q.prog_id)
		return;
	fd = bpf_prog_get_fd_by_id(q.prog_id);
	if (fd < 0)
		return;
	if (!bpf_obj_get_info_by_fd(fd, &info, &ilen))
		snprintf(buf, len, "XDP program id %u (%s) not owned by aegis", q.prog_id, info.name);
	close(fd);
}

static bool attached_generic(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	return bpf_xdp_query(ifindex, 0, &q) == 0 && q.attach_mode == XDP_ATTACHED_SKB;
}

static int link_info(int fd, struct bpf_link_info *info)
{
	uint32_t len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

/* A pinned link from an earlier run: kept when it still drives this interface. */
static int adopt_link(struct guard *g, struct guard_iface_state *s, const char *pin)
{
	int prog_fd = bpfobj_prog_fd(&g->obj, "xdp_guard");
	struct bpf_link_info info;
	int fd = bpf_obj_get(pin);

	if (fd < 0)
		return -ENOENT;
	if (link_info(fd, &info) || info.type != BPF_LINK_TYPE_XDP ||
	    info.xdp.ifindex != (uint32_t)s->ifindex) {
		/* The interface was deleted or renumbered: the old link is defunct. */
		close(fd);
		unlink(pin);
		audit_log(&actor_agent, "unpin", pin, 0, NULL, json_pack("{s:s}", "why", "defunct link"));
		return -ENOENT;
	}
	if (info.prog_id != g->obj.prog_id[0]) {
		/* A new build of the program: swap it in atomically, no gap in protection. */
		if (bpf_link_update(fd, prog_fd, NULL)) {
			int err = -errno;

			close(fd);
			audit_log(&actor_agent, "replace", pin, err, NULL, NULL);
			return pr_err_errno(err, "guard: %s: cannot update the XDP link to the new program", s->name);
		}
		audit_log(&actor_agent, "replace", pin, 0, NULL,
			  json_pack("{s:I, s:I}", "old_prog_id", (json_int_t)info.prog_id, "prog_id",
				    (json_int_t)g->obj.prog_id[0]));
	}
	s->link_fd = fd;
	s->link_id = info.id;
	s->generic = attached_generic(s->ifindex);
	audit_log(&actor_agent, "adopt", pin, 0, NULL,
		  json_pack("{s:I, s:s}", "link_id", (json_int_t)info.id, "interface", s->name));
	return 0;
}

static int create_link(struct guard *g, struct guard_iface_state *s, enum xdp_attach_mode want)
{
	int prog_fd = bpfobj_prog_fd(&g->obj, "xdp_guard");
	LIBBPF_OPTS(bpf_link_create_opts, opts);
	int fd = -1, err = 0;

	if (want != XDP_ATTACH_GENERIC) {
		opts.flags = XDP_FLAGS_DRV_MODE;
		fd = bpf_link_create(prog_fd, s->ifindex, BPF_XDP, &opts);
		err = fd < 0 ? -errno : 0;
		if (fd < 0 && want == XDP_ATTACH_AUTO && err != -EBUSY && err != -EEXIST)
			log_once(LOG_LVL_WARN, s->name,
				 "guard: %s: native XDP unavailable (%s); using generic XDP, which runs after "
				 "the kernel allocates the skb and costs more per packet", s->name, errstr(err));
	}
	if (fd < 0 && want != XDP_ATTACH_NATIVE && err != -EBUSY && err != -EEXIST) {
		opts.flags = XDP_FLAGS_SKB_MODE;
		fd = bpf_link_create(prog_fd, s->ifindex, BPF_XDP, &opts);
		err = fd < 0 ? -errno : 0;
		s->generic = fd >= 0;
	}
	if (fd < 0) {
		char occupant[128];

		if (err == -EBUSY || err == -EEXIST) {
			describe_occupant(s->ifindex, occupant, sizeof(occupant));
			pr_err("guard: %s: cannot attach: the interface already has %s", s->name, occupant);
		} else {
			pr_err("guard: %s: cannot attach XDP (%s mode): %s", s->name,
			       xdp_attach_mode_name(want), errstr(err));
		}
		return err;
	}
	s->link_fd = fd;
	return 0;
}

static int attach_iface(struct guard *g, struct guard_iface_state *s, const struct aegis_config *cfg)
{
	char pin[PATH_MAX], linkname[IF_NAMESIZE + 8];
	struct bpf_link_info info;
	int err;

	snprintf(linkname, sizeof(linkname), "xdp_%s", s->name);
	if (bpfobj_link_pin_path(&g->obj, linkname, pin, sizeof(pin)))
		return -ENAMETOOLONG;
	if (adopt_link(g, s, pin) == 0)
		return 0;
	err = create_link(g, s, cfg->guard_xdp_mode);
	if (err) {
		audit_log(&actor_config, "attach", s->name, err, NULL, json_pack("{s:s}", "hook", "xdp"));
		return err;
	}
	if (bpf_obj_pin(s->link_fd, pin)) {
		err = -errno;
		close(s->link_fd);
		s->link_fd = -1;
		audit_log(&actor_config, "pin", pin, err, NULL, NULL);
		return pr_err_errno(err, "guard: %s: cannot pin the XDP link at %s", s->name, pin);
	}
	if (link_info(s->link_fd, &info) == 0)
		s->link_id = info.id;
	pr_info("guard: attached to %s (ifindex %d, %s XDP, mode %s)", s->name, s->ifindex,
		s->generic ? "generic" : "native", guard_mode_name(s->mode));
	audit_log(&actor_config, "attach", s->name, 0, NULL,
		  json_pack("{s:s, s:s, s:I, s:s}", "hook", "xdp", "xdp_mode", s->generic ? "generic" : "native",
			    "link_id", (json_int_t)s->link_id, "pin", pin));
	return 0;
}

static void detach_iface(struct guard *g, struct guard_iface_state *s, const struct actor *who)
{
	char pin[PATH_MAX], linkname[IF_NAMESIZE + 8];
	int err = 0;

	snprintf(linkname, sizeof(linkname), "xdp_%s", s->name);
	if (s->link_fd >= 0 && bpf_link_detach(s->link_fd))
		err = -errno;
	if (bpfobj_link_pin_path(&g->obj, linkname, pin, sizeof(pin)) == 0)
		unlink(pin);
	if (s->link_fd >= 0)
		close(s->link_fd);
	s->link_fd = -1;
	clear_iface_entry(g, s->ifindex);
	audit_log(who, "detach", s->name, err, NULL, json_pack("{s:s}", "hook", "xdp"));
	if (err)
		pr_warn_errno(err, "guard: %s: detach", s->name);
	else
		pr_info("guard: detached from %s", s->name);
}

/* The datapath's knobs and per-class rate limits, from the configuration. */
static int write_settings(struct guard *g, const struct aegis_config *cfg)
{
	struct guard_settings s = {
		.malformed_action = cfg->guard_malformed_action,
		.later_fragment_action = cfg->guard_later_fragment_action,
		.rl_prefix_v4 = cfg->rl_prefix_v4,
		.rl_prefix_v6 = cfg->rl_prefix_v6,
		.sample_every = cfg->sample_every,
		.sample_max_per_sec = cfg->sample_max_per_sec,
		.sample_burst = cfg->sample_burst,
		.top_every = cfg->top_every,
		.empty_lists = g->empty_lists,
	};
	uint32_t key = 0;

	if (bpf_map_update_elem(map_fd(g, "guard_settings"), &key, &s, BPF_ANY))
		return pr_err_errno(-errno, "guard: cannot write guard_settings");
	for (uint32_t c = 0; c < GUARD_RL_CLASS_COUNT; c++) {
		struct guard_rl_limit lim = {
			.pps = cfg->rl[c].pps,
			.bps = cfg->rl[c].bps,
			.burst_packets = cfg->rl[c].burst_packets,
			.burst_bytes = cfg->rl[c].burst_bytes,
		};

		if (bpf_map_update_elem(map_fd(g, "guard_rl_limits"), &c, &lim, BPF_ANY))
			return pr_err_errno(-errno, "guard: cannot write guard_rl_limits[%u]", c);
	}
	return 0;
}

/* ---- interface set ---------------------------------------------------------------------- */

/*
 * Keeps the counter slot an earlier run gave this interface (its counters go on). The mode comes
 * from the configuration: a run-time switch lasts until the agent restarts.
 */
static void load_existing_slot(struct guard *g, struct guard_iface_state *s)
{
	struct guard_iface v;
	uint32_t key = (uint32_t)s->ifindex;

	if (bpf_map_lookup_elem(iface_map_fd(g, s->ifindex), &key, &v) == 0 && v.slot &&
	    v.slot < GUARD_MAX_IFACES)
		s->slot = v.slot;
}

struct wanted_iface {
	char name[IF_NAMESIZE];
	int ifindex;
};

static int resolve_wanted(const struct aegis_config *cfg, struct wanted_iface *w, size_t *n)
{
	*n = 0;
	for (size_t i = 0; cfg->guard_enabled && i < cfg->n_guard_ifaces; i++) {
		struct wanted_iface x;
		int err = iface_resolve(cfg->guard_ifaces[i], x.name, sizeof(x.name), &x.ifindex);
		bool dup = false;

		if (err == -ENOENT && streq(cfg->guard_ifaces[i], IFACE_DEFAULT_ROUTE)) {
			/* A host without a default route still runs the rest of the agent. */
			log_once(LOG_LVL_WARN, "no-default-route", "guard: this host has no default route, so "
				 "guard.interfaces: [default-route] protects nothing; name interfaces instead");
			continue;
		}
		if (err)
			return pr_err_errno(err, "guard: interface '%s' (guard.interfaces)", cfg->guard_ifaces[i]);
		for (size_t j = 0; j < *n; j++)
			dup |= w[j].ifindex == x.ifindex;
		if (!dup && *n < GUARD_MAX_IFACES - 1)
			w[(*n)++] = x;
	}
	return 0;
}

static bool wanted_has(const struct wanted_iface *w, size_t n, const struct guard_iface_state *s)
{
	for (size_t i = 0; i < n; i++)
		if (streq(w[i].name, s->name) && w[i].ifindex == s->ifindex)
			return true;
	return false;
}

static int add_iface(struct guard *g, const struct wanted_iface *w, const struct aegis_config *cfg)
{
	struct guard_iface_state *s = &g->ifaces[g->n_ifaces];
	int err;

	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", w->name);
	s->ifindex = w->ifindex;
	s->link_fd = -1;
	s->mode = cfg->guard_mode;
	load_existing_slot(g, s);
	if (!s->slot) {
		err = alloc_slot(g, &s->slot);
		if (err)
			return pr_err_errno(err, "guard: %s: no counter slot", s->name);
	}
	err = write_iface_entry(g, s);
	if (err)
		return pr_err_errno(err, "guard: %s: cannot write guard_ifaces", s->name);
	err = attach_iface(g, s, cfg);
	if (err) {
		clear_iface_entry(g, s->ifindex);
		return err;
	}
	g->n_ifaces++;
	return 0;
}

static void remove_iface_at(struct guard *g, size_t i, const struct actor *who)
{
	detach_iface(g, &g->ifaces[i], who);
	g->ifaces[i] = g->ifaces[--g->n_ifaces];
}

/* Detaches pinned links of interfaces that are no longer configured (left by an earlier run). */
static void drop_unwanted_pins(struct guard *g, const struct wanted_iface *w, size_t n)
{
	char dir[PATH_MAX];
	DIR *dp;
	struct dirent *de;

	if (bpfobj_link_pin_path(&g->obj, "", dir, sizeof(dir)))
		return;
	dp = opendir(dir);
	if (!dp)
		return;
	while ((de = readdir(dp))) {
		struct guard_iface_state s = { .link_fd = -1 };
		bool keep = false;
		char pin[PATH_MAX];

		if (strncmp(de->d_name, "xdp_", 4))
			continue;
		snprintf(s.name, sizeof(s.name), "%s", de->d_name + 4);
		for (size_t i = 0; i < n; i++)
			keep |= streq(w[i].name, s.name);
		if (keep)
			continue;
		if ((size_t)snprintf(pin, sizeof(pin), "%s/%s", dir, de->d_name) >= sizeof(pin))
			continue;
		s.link_fd = bpf_obj_get(pin);
		s.ifindex = (int)if_nametoindex(s.name);
		detach_iface(g, &s, &actor_config);
	}
	closedir(dp);
}

static int sync_ifaces(struct guard *g, const struct aegis_config *cfg)
{
	struct wanted_iface w[GUARD_MAX_IFACES];
	size_t n;
	int err = resolve_wanted(cfg, w, &n);

	if (err)
		return err;
	for (size_t i = 0; i < g->n_ifaces;) {
		if (!wanted_has(w, n, &g->ifaces[i]))
			remove_iface_at(g, i, &actor_config);
		else
			i++;
	}
	drop_unwanted_pins(g, w, n);
	for (size_t i = 0; i < n; i++) {
		struct guard_iface_state *s = find_iface(g, w[i].name);

		if (s) {
			if (!s->mode_override)
				s->mode = cfg->guard_mode;
			err = write_iface_entry(g, s);
		} else {
			err = add_iface(g, &w[i], cfg);
		}
		if (err)
			return err;
	}
	return 0;
}

int guard_start(struct guard *g, const struct aegis_config *cfg)
{
	int err;

	memset(g, 0, sizeof(*g));
	if (!cfg->guard_enabled) {
		pr_info("guard: disabled by configuration (guard.enabled: false)");
		return 0;
	}
	err = bpfobj_setup(&g->obj, &guard_desc, cfg);
	if (err)
		return err;
	g->running = true;
	err = check_capacities(g, cfg);
	if (!err)
		err = open_tables(g);
	if (err)
		goto fail;
	err = write_settings(g, cfg);
	if (err)
		goto fail;
	err = sync_ifaces(g, cfg);
	if (err)
		goto fail;
	return 0;
fail:
	guard_stop(g, cfg, false);
	return err;
}

int guard_reconfigure(struct guard *g, const struct aegis_config *old, const struct aegis_config *cfg)
{
	int err;

	if (!g->running && cfg->guard_enabled)
		return guard_start(g, cfg);
	if (g->running && !cfg->guard_enabled) {
		guard_stop(g, old, true);
		return 0;
	}
	if (!g->running)
		return 0;
	err = check_capacities(g, cfg);
	if (err)
		return err;
	if (old->guard_mode != cfg->guard_mode)
		for (size_t i = 0; i < g->n_ifaces; i++)
			g->ifaces[i].mode_override = false;
	err = write_settings(g, cfg);
	if (!err)
		err = sync_ifaces(g, cfg);
	if (err) {
		pr_warn("guard: restoring the previous interfaces and settings");
		if (sync_ifaces(g, old) || write_settings(g, old))
			pr_err("guard: could not fully restore the previous interfaces");
	}
	return err;
}

void guard_stop(struct guard *g, const struct aegis_config *cfg, bool detach)
{
	if (!g->running)
		return;
	for (size_t i = 0; i < g->n_ifaces; i++) {
		if (detach) {
			detach_iface(g, &g->ifaces[i], &actor_agent);
		} else if (g->ifaces[i].link_fd >= 0) {
			close(g->ifaces[i].link_fd);
			g->ifaces[i].link_fd = -1;
		}
	}
	g->n_ifaces = 0;
	close_tables(g);
	bpfobj_close(&g->obj);
	if (detach) {
		int n = bpfobj_remove_all(g->obj.pin_dir);

		if (n < 0)
			pr_warn_errno(n, "guard: cannot remove pins under %s", g->obj.pin_dir);
	}
	g->running = false;
}

int guard_set_mode(struct guard *g, const char *ifname, enum guard_mode mode,
		   const struct actor *who, char *err, size_t errlen)
{
	size_t changed = 0;

	if (!g->running) {
		snprintf(err, errlen, "the guard is not running (guard.enabled: false)");
		return -ENOENT;
	}
	for (size_t i = 0; i < g->n_ifaces; i++) {
		struct guard_iface_state *s = &g->ifaces[i];
		enum guard_mode old = s->mode;
		int e;

		if (ifname && !streq(ifname, s->name))
			continue;
		s->mode = mode;
		e = write_iface_entry(g, s);
		audit_log(who, "guard.mode", s->name, e, NULL,
			  json_pack("{s:s, s:s}", "from", guard_mode_name(old), "to", guard_mode_name(mode)));
		if (e) {
			s->mode = old;
			snprintf(err, errlen, "%s: cannot write guard_ifaces: %s", s->name, errstr(e));
			return e;
		}
		s->mode_override = true;
		changed++;
	}
	if (!changed) {
		snprintf(err, errlen, "interface '%s' is not protected by the guard", ifname ? ifname : "*");
		return -ENOENT;
	}
	return 0;
}

int guard_read_counters(const struct guard *g, const struct guard_iface_state *s,
			struct guard_counters *out)
{
	int ncpu = libbpf_num_possible_cpus();
	_cleanup_free_ struct guard_counters *percpu = NULL;
	uint32_t key = s->slot;

	memset(out, 0, sizeof(*out));
	if (ncpu <= 0)
		return -EINVAL;
	percpu = calloc((size_t)ncpu, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(map_fd(g, "guard_counters"), &key, percpu))
		return -errno;
	for (int c = 0; c < ncpu; c++) {
		const uint64_t *src = (const uint64_t *)&percpu[c];
		uint64_t *dst = (uint64_t *)out;

		for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
			dst[i] += src[i];
	}
	return 0;
}

static json_t *counters_json(const struct guard_counters *c)
{
	json_t *reasons = json_object();
	json_t *o;

	for (int r = 1; r < GUARD_REASON_COUNT; r++)
		json_object_set_new(reasons, guard_reason_names[r], json_integer((json_int_t)c->by_reason[r]));
	o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		      "rx_packets", (json_int_t)c->rx_packets, "rx_bytes", (json_int_t)c->rx_bytes,
		      "passed", (json_int_t)c->passed, "dropped", (json_int_t)c->dropped,
		      "would_drop", (json_int_t)c->would_drop, "non_ip", (json_int_t)c->non_ip,
		      "malformed", (json_int_t)c->malformed, "fragments", (json_int_t)c->fragments,
		      "blocked_by_list", (json_int_t)c->blocked_by_list,
		      "allowed_by_list", (json_int_t)c->allowed_by_list);
	json_object_set_new(o, "rate_limited", json_integer((json_int_t)c->rate_limited));
	json_object_set_new(o, "drop_records", json_pack("{s:I, s:I, s:I}", "sampled", (json_int_t)c->events_sampled,
							 "capped", (json_int_t)c->events_capped, "lost",
							 (json_int_t)c->events_lost));
	json_object_set_new(o, "by_reason", reasons);
	return o;
}

json_t *guard_status_json(const struct guard *g)
{
	json_t *ifaces;

	if (!g->running)
		return json_pack("{s:b}", "running", 0);
	ifaces = json_array();
	for (size_t i = 0; i < g->n_ifaces; i++) {
		const struct guard_iface_state *s = &g->ifaces[i];
		struct guard_counters c;
		json_t *o = json_pack("{s:s, s:i, s:s, s:s, s:I, s:i, s:b}", "name", s->name, "ifindex",
				      s->ifindex, "mode", guard_mode_name(s->mode), "xdp_mode",
				      s->generic ? "generic" : "native", "link_id", (json_int_t)s->link_id,
				      "slot", (int)s->slot, "mode_set_at_runtime", s->mode_override);

		if (guard_read_counters(g, s, &c) == 0)
			json_object_set_new(o, "counters", counters_json(&c));
		json_array_append_new(ifaces, o);
	}
	return json_pack("{s:b, s:b, s:I, s:s, s:s, s:o}", "running", 1, "adopted", g->obj.adopted,
			 "prog_id", (json_int_t)g->obj.prog_id[0], "object", g->obj.source, "pin_dir",
			 g->obj.pin_dir, "interfaces", ifaces);
}
