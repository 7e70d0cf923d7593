// SPDX-License-Identifier: GPL-2.0-only
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/mman.h>

#include "log.h"
#include "policy_kern.h"	/* the types the skeleton names */
#include "policy.skel.h"
#include "util.h"

static const char *const policy_programs[] = {
	"policy_tc_in", "policy_tc_out", "policy_cg_egress", "policy_cg_ingress",
	"policy_connect4", "policy_connect6", "policy_sendmsg4", "policy_sendmsg6",
	"policy_sock_create", NULL,
};

/* Prefix tables: [slot][family] -> map name prefix (bpf/policy.bpf.c PREFIX_TABLE()). */
static const char *const table_names[POLICY_SLOTS][2] = {
	{ "pol_a4", "pol_a6" },
	{ "pol_b4", "pol_b6" },
};
/*
 * First-level bits (bpf/policy.bpf.c PREFIX_TABLE()): IPv4 20 (4 MiB a table), so that a /32
 * costs three node reads at most; IPv6 16 (256 KiB).
 */
static const unsigned table_l1_bits[2] = { 20, 16 };

static const char *const policy_maps[] = {
	"pol_ctl", "pol_settings", "pol_ifaces", "pol_ifaces_big", "pol_cgroups", "pol_cgcache",
	"pol_a4_l1", "pol_a4_nodes", "pol_a4_rules", "pol_b4_l1", "pol_b4_nodes", "pol_b4_rules",
	"pol_a6_l1", "pol_a6_nodes", "pol_a6_rules", "pol_b6_l1", "pol_b6_nodes", "pol_b6_rules",
	"pol_cells", "pol_rulesets", "pol_modes", "pol_counters", "pol_stats", "pol_events",
	"pol_flows_out", "pol_flows_in", "pol_owners", NULL,
};

static const void *policy_elf_bytes(size_t *len)
{
	return policy_bpf__elf_bytes(len);
}

void policy_limits_from_config(const struct aegis_config *cfg, struct policy_limits *lim)
{
	lim->policies = cfg->policy_cap_policies;
	lim->rulesets = 2 * cfg->policy_cap_policies;
	lim->rules = cfg->policy_cap_rules;
	/* Whole values of 16 cells. */
	lim->cells = (cfg->policy_cap_cells + POLICY_CELLS_PER_GROUP - 1) / POLICY_CELLS_PER_GROUP *
		     POLICY_CELLS_PER_GROUP;
	lim->prefixes[0] = cfg->policy_cap_prefixes_v4;
	lim->prefixes[1] = cfg->policy_cap_prefixes_v6;
}

/* A prefix table of n prefixes: n + 1 rule ids (0 unused), and nodes for the worst case. */
static uint32_t table_nodes(uint32_t prefixes)
{
	return 2 * prefixes + 16;
}

/* Map sizes, and the datapath's copy of the capacities. */
struct sizing {
	const char *map;
	uint32_t entries;
	const char *key;
};

static size_t sizings(const struct aegis_config *cfg, struct sizing *s)
{
	struct policy_limits l;
	size_t n = 0;

	policy_limits_from_config(cfg, &l);
	for (int slot = 0; slot < POLICY_SLOTS; slot++)
		for (int f = 0; f < 2; f++) {
			static char names[POLICY_SLOTS][2][2][32];
			const char *key = f ? "policy.capacity.prefixes_v6" : "policy.capacity.prefixes_v4";

			snprintf(names[slot][f][0], 32, "%s_nodes", table_names[slot][f]);
			snprintf(names[slot][f][1], 32, "%s_rules", table_names[slot][f]);
			s[n++] = (struct sizing){ names[slot][f][0], table_nodes(l.prefixes[f]), key };
			s[n++] = (struct sizing){ names[slot][f][1], l.prefixes[f] + 1, key };
		}
	s[n++] = (struct sizing){ "pol_cells", POLICY_SLOTS * l.cells / POLICY_CELLS_PER_GROUP, "policy.capacity.cells" };
	s[n++] = (struct sizing){ "pol_rulesets", POLICY_SLOTS * l.rulesets, "policy.capacity.policies" };
	s[n++] = (struct sizing){ "pol_modes", POLICY_SLOTS * l.policies, "policy.capacity.policies" };
	s[n++] = (struct sizing){ "pol_counters", POLICY_SLOTS * l.rules, "policy.capacity.rules" };
	s[n++] = (struct sizing){ "pol_cgroups", cfg->policy_cap_cgroups, "policy.capacity.cgroups" };
	s[n++] = (struct sizing){ "pol_flows_out", cfg->policy_cap_flows, "policy.capacity.flows" };
	s[n++] = (struct sizing){ "pol_flows_in", cfg->policy_cap_flows, "policy.capacity.flows" };
	return n;
}

#define MAX_SIZINGS 16

/* Sets a global of .rodata by name (const volatile knobs, set between open and load). */
static int set_rodata(struct bpf_object *obj, const char *var, const void *val, size_t len)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, ".rodata");
	const struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	size_t size;
	char *data;
	int id;

	if (!m || !btf)
		return -ENOENT;
	/* libbpf 1.1 returns it const; it is the copy load() will use, meant to be set. */
	data = (char *)bpf_map__initial_value(m, &size);
	id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (!data || id <= 0)
		return -ENOENT;
	sec = btf__type_by_id(btf, (uint32_t)id);
	vs = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vs++) {
		const struct btf_type *t = btf__type_by_id(btf, vs->type);

		if (!streq(btf__name_by_offset(btf, t->name_off), var))
			continue;
		if (vs->size != len || vs->offset + len > size)
			return -EINVAL;
		memcpy(data + vs->offset, val, len);
		return 0;
	}
	return -ENOENT;
}

static int configure(struct bpf_object *obj, const struct aegis_config *cfg)
{
	struct sizing s[MAX_SIZINGS];
	struct policy_limits l;
	struct policy_caps caps;
	size_t n = sizings(cfg, s);
	int err;

	for (size_t i = 0; i < n; i++) {
		err = bpfobj_size_map(obj, s[i].map, s[i].entries, s[i].key);
		if (err)
			return err;
	}
	policy_limits_from_config(cfg, &l);
	caps = (struct policy_caps){
		.rules = l.rules, .cell_groups = l.cells / POLICY_CELLS_PER_GROUP,
		.rulesets = l.rulesets, .policies = l.policies,
	};
	err = set_rodata(obj, "policy_caps", &caps, sizeof(caps));
	if (err)
		return pr_err_errno(err, "policy: cannot set the datapath's capacities (policy_caps)");
	return 0;
}

const struct bpfobj_desc policy_desc = {
	.name = "policy",
	.file = "policy.bpf.o",
	.embedded = policy_elf_bytes,
	.programs = policy_programs,
	.maps = policy_maps,
	.configure = configure,
};

static int map_fd(const struct policy_kern *k, const char *name)
{
	return bpfobj_map_fd(&k->obj, name);
}

int policy_kern_check_capacity(struct policy_kern *k, const struct aegis_config *cfg)
{
	struct sizing s[MAX_SIZINGS];
	size_t n = sizings(cfg, s);

	for (size_t i = 0; i < n; i++) {
		struct bpf_map_info info = {};
		uint32_t len = sizeof(info);
		int fd = map_fd(k, s[i].map);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) || info.max_entries == s[i].entries)
			continue;
		pr_err("policy: %s changed, but the pinned %s was created for another size: a new "
		       "capacity needs `aegis agent --cleanup` and a restart (the policy in force "
		       "comes back from %s)", s[i].key, s[i].map, cfg->state_dir);
		return -EEXIST;
	}
	return 0;
}

/* ---- mmaps and grace periods ------------------------------------------------------------- */

static void *mmap_map(int fd, size_t *len)
{
	struct bpf_map_info info = {};
	uint32_t ilen = sizeof(info);
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	if (bpf_obj_get_info_by_fd(fd, &info, &ilen))
		return NULL;
	*len = ((size_t)info.max_entries * info.value_size + (size_t)page - 1) / (size_t)page * (size_t)page;
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* An update of an ARRAY_OF_MAPS waits for an RCU grace period (synchronize_rcu). */
static int grace_wait(struct policy_kern *k)
{
	uint32_t zero = 0;

	if (bpf_map_update_elem(k->grace_outer, &zero, &k->grace_inner, BPF_ANY))
		return pr_err_errno(-errno, "policy: waiting for an RCU grace period");
	k->grace_waits++;
	return 0;
}

static int grace_open(struct policy_kern *k)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts);

	k->grace_inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "pol_grace_i", 4, 4, 1, NULL);
	if (k->grace_inner < 0)
		return pr_err_errno(-errno, "policy: creating the grace-period map");
	opts.inner_map_fd = k->grace_inner;
	k->grace_outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "pol_grace", 4, 4, 1, &opts);
	if (k->grace_outer < 0)
		return pr_err_errno(-errno, "policy: creating the grace-period map");
	return 0;
}

static int table_maps(const struct policy_kern *k, unsigned slot, int f, struct prefix_table_maps *m)
{
	char name[32];

	m->family = f ? AF_INET6 : AF_INET;
	m->l1_bits = table_l1_bits[f];
	snprintf(name, sizeof(name), "%s_l1", table_names[slot][f]);
	m->l1_fd = map_fd(k, name);
	snprintf(name, sizeof(name), "%s_nodes", table_names[slot][f]);
	m->nodes_fd = map_fd(k, name);
	snprintf(name, sizeof(name), "%s_rules", table_names[slot][f]);
	m->rules_fd = map_fd(k, name);
	return m->l1_fd < 0 || m->nodes_fd < 0 || m->rules_fd < 0 ? -ENOENT : 0;
}

static int open_table(struct policy_kern *k, unsigned slot, int f)
{
	struct prefix_table_maps m;
	int err = table_maps(k, slot, f, &m);

	if (!err)
		err = prefix_table_open(&m, &k->pt[slot][f]);
	if (err)
		return pr_err_errno(err, "policy: cannot open the %s prefix table", table_names[slot][f]);
	return 0;
}

/*
 * Empties a slot's prefix table so that a new generation numbers its prefixes 1..n: the maps are
 * zeroed under a closed table, which then reopens empty. Only for a slot nothing reads.
 */
static int reset_table(struct policy_kern *k, unsigned slot, int f)
{
	struct prefix_table_maps m;
	int fds[3], err = table_maps(k, slot, f, &m);

	prefix_table_close(k->pt[slot][f]);
	k->pt[slot][f] = NULL;
	if (err)
		return err;
	fds[0] = m.l1_fd;
	fds[1] = m.nodes_fd;
	fds[2] = m.rules_fd;
	for (int i = 0; i < 3; i++) {
		size_t len;
		void *p = mmap_map(fds[i], &len);

		if (!p)
			return pr_err_errno(-errno, "policy: cannot map the %s prefix table", table_names[slot][f]);
		memset(p, 0, len);
		munmap(p, len);
	}
	return open_table(k, slot, f);
}

/* ---- open / close ------------------------------------------------------------------------ */

int policy_kern_open(struct policy_kern *k, const struct aegis_config *cfg)
{
	int err;

	memset(k, 0, sizeof(*k));
	k->grace_inner = k->grace_outer = -1;
	policy_limits_from_config(cfg, &k->lim);
	k->caps = (struct policy_caps){
		.rules = k->lim.rules, .cell_groups = k->lim.cells / POLICY_CELLS_PER_GROUP,
		.rulesets = k->lim.rulesets, .policies = k->lim.policies,
	};
	err = bpfobj_setup(&k->obj, &policy_desc, cfg);
	if (err)
		return err;
	k->open = true;
	err = policy_kern_check_capacity(k, cfg);
	if (err)
		goto fail;
	err = grace_open(k);
	if (err)
		goto fail;
	k->ctl = mmap_map(map_fd(k, "pol_ctl"), &k->ctl_bytes);
	k->cells = mmap_map(map_fd(k, "pol_cells"), &k->cells_bytes);
	if (!k->ctl || !k->cells) {
		err = pr_err_errno(-errno, "policy: cannot map pol_ctl and pol_cells");
		goto fail;
	}
	for (unsigned slot = 0; slot < POLICY_SLOTS && !err; slot++)
		for (int f = 0; f < 2 && !err; f++)
			err = open_table(k, slot, f);
	if (!err)
		err = policy_kern_settings(k, cfg);
	if (!err)
		return 0;
fail:
	policy_kern_close(k);
	return err;
}

void policy_kern_close(struct policy_kern *k)
{
	for (unsigned slot = 0; slot < POLICY_SLOTS; slot++)
		for (int f = 0; f < 2; f++) {
			prefix_table_close(k->pt[slot][f]);
			k->pt[slot][f] = NULL;
		}
	if (k->ctl)
		munmap(k->ctl, k->ctl_bytes);
	if (k->cells)
		munmap(k->cells, k->cells_bytes);
	k->ctl = NULL;
	k->cells = NULL;
	if (k->grace_outer >= 0)
		close(k->grace_outer);
	if (k->grace_inner >= 0)
		close(k->grace_inner);
	k->grace_outer = k->grace_inner = -1;
	if (k->open)
		bpfobj_close(&k->obj);
	k->open = false;
}

uint32_t policy_kern_ctl(const struct policy_kern *k)
{
	return k->ctl ? __atomic_load_n(&k->ctl->ctl, __ATOMIC_ACQUIRE) : 0;
}

int policy_kern_settings(struct policy_kern *k, const struct aegis_config *cfg)
{
	struct policy_settings s = {
		.dry_run = cfg->policy_dry_run,
		.events_per_sec = cfg->policy_events_per_sec,
		.events_burst = cfg->policy_events_burst,
		.flow_timeout_tcp_ns = cfg->policy_flow_tcp_ns,
		.flow_timeout_udp_ns = cfg->policy_flow_udp_ns,
		.flow_timeout_other_ns = cfg->policy_flow_other_ns,
	};
	uint32_t zero = 0;

	if (bpf_map_update_elem(map_fd(k, "pol_settings"), &zero, &s, BPF_ANY))
		return pr_err_errno(-errno, "policy: cannot write pol_settings");
	return 0;
}

/* ---- writing a slot ---------------------------------------------------------------------- */

static int load_prefixes(struct policy_kern *k, unsigned slot, const struct policy_image *img,
			 uint32_t *ids[2], uint32_t max_id[2], struct diags *d)
{
	for (int f = 0; f < 2; f++) {
		size_t n = img->n_prefixes[f];
		int err = 0;

		max_id[f] = 0;
		ids[f] = calloc(n + 1, sizeof(uint32_t));
		if (!ids[f])
			return -ENOMEM;
		if (n)
			err = prefix_table_load(k->pt[slot][f], img->prefixes[f], n, NULL, NULL);
		if (err) {
			diags_add(d, NULL, 0, 0, f ? "policy.capacity.prefixes_v6" : "policy.capacity.prefixes_v4",
				  "loading %zu IPv%d prefixes into the %s prefix table: %s", n, f ? 6 : 4,
				  table_names[slot][f], errstr(err));
			return err;
		}
		for (size_t i = 0; i < n; i++) {
			ids[f][i] = prefix_table_find(k->pt[slot][f], &img->prefixes[f][i]);
			if (!ids[f][i]) {
				diags_add(d, NULL, 0, 0, NULL, "the %s prefix table lost a prefix it just took",
					  table_names[slot][f]);
				return -EIO;
			}
			if (ids[f][i] > max_id[f])
				max_id[f] = ids[f][i];
		}
	}
	return 0;
}

static int layout(struct policy_kern *k, unsigned slot, struct policy_image *img, struct diags *d,
		  bool fresh)
{
	uint32_t *ids[2] = {}, max_id[2];
	int err = 0;

	for (int f = 0; f < 2 && fresh && !err; f++)
		err = reset_table(k, slot, f);
	if (!err && fresh)
		err = load_prefixes(k, slot, img, ids, max_id, d);
	else if (!err) {
		/* What the tables hold already: the same prefixes must be there. */
		for (int f = 0; f < 2 && !err; f++) {
			ids[f] = calloc(img->n_prefixes[f] + 1, sizeof(uint32_t));
			max_id[f] = 0;
			if (!ids[f])
				err = -ENOMEM;
			for (size_t i = 0; !err && i < img->n_prefixes[f]; i++) {
				ids[f][i] = prefix_table_find(k->pt[slot][f], &img->prefixes[f][i]);
				if (!ids[f][i])
					err = -ENOENT;
				max_id[f] = ids[f][i] > max_id[f] ? ids[f][i] : max_id[f];
			}
		}
	}
	if (!err) {
		const uint32_t *cids[2] = { ids[0], ids[1] };

		err = policy_image_layout(img, cids, max_id, &k->lim, d);
	}
	free(ids[0]);
	free(ids[1]);
	return err;
}

int policy_kern_layout_existing(struct policy_kern *k, unsigned slot, struct policy_image *img,
				struct diags *d)
{
	return layout(k, slot, img, d, false);
}

static size_t cell_base(const struct policy_kern *k, unsigned slot)
{
	return (size_t)slot * k->caps.cell_groups * POLICY_CELLS_PER_GROUP;
}

static int write_array(int fd, uint32_t first, const void *vals, size_t n, size_t size)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t key = first + (uint32_t)i;

		if (bpf_map_update_elem(fd, &key, (const char *)vals + i * size, BPF_ANY))
			return -errno;
	}
	return 0;
}

int policy_kern_zero_counters(struct policy_kern *k, unsigned slot, size_t n)
{
	int ncpu = libbpf_num_possible_cpus(), fd = map_fd(k, "pol_counters");
	_cleanup_free_ struct policy_counters *zero = NULL;

	if (ncpu <= 0)
		return -EINVAL;
	zero = calloc((size_t)ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint32_t key = slot * k->caps.rules + (uint32_t)i;

		if (bpf_map_update_elem(fd, &key, zero, BPF_ANY))
			return -errno;
	}
	return 0;
}

/* The ruleset + 1 that sel gives ifindex / cgroup id, 0 for none. */
static uint32_t iface_rs(const struct policy_selection *sel, uint32_t ifindex)
{
	for (size_t i = 0; i < sel->n_ifaces; i++)
		if ((uint32_t)sel->ifaces[i].ifindex == ifindex)
			return sel->ifaces[i].rs + 1;
	return 0;
}

static uint32_t cgroup_rs(const struct policy_selection *sel, uint64_t id)
{
	for (size_t i = 0; i < sel->n_cgroups; i++)
		if (sel->cgroups[i].id == id)
			return sel->cgroups[i].rs + 1;
	return 0;
}

/* Sets slot's half of every entry of a hash by key (u32 ifindex or u64 cgroup id). */
static int sync_hash(int fd, unsigned slot, size_t key_size, const struct policy_selection *sel,
		     bool ifaces)
{
	uint64_t key = 0, next;
	void *prev = NULL;
	struct policy_sel v;

	/* Entries already there: rewrite our half, drop those nobody selects any more. */
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		uint64_t k = key_size == 4 ? (uint32_t)next : next;
		uint32_t want = ifaces ? iface_rs(sel, (uint32_t)k) : cgroup_rs(sel, k);

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &next, &v))
			continue;
		v.rs[slot] = want;
		if (!v.rs[0] && !v.rs[1]) {
			/* Deleting moves the iteration: start over from the beginning. */
			if (bpf_map_delete_elem(fd, &next) == 0)
				prev = NULL;
		} else if (bpf_map_update_elem(fd, &next, &v, BPF_EXIST)) {
			return -errno;
		}
	}
	for (size_t i = 0; i < (ifaces ? sel->n_ifaces : sel->n_cgroups); i++) {
		uint64_t k = ifaces ? (uint64_t)sel->ifaces[i].ifindex : sel->cgroups[i].id;
		uint32_t k32 = (uint32_t)k;
		void *kp = key_size == 4 ? (void *)&k32 : (void *)&k;

		if (ifaces && k < POLICY_MAX_IFINDEX)
			continue;
		if (bpf_map_lookup_elem(fd, kp, &v))
			memset(&v, 0, sizeof(v));
		v.rs[slot] = ifaces ? sel->ifaces[i].rs + 1 : sel->cgroups[i].rs + 1;
		if (bpf_map_update_elem(fd, kp, &v, BPF_ANY))
			return -errno;
	}
	return 0;
}

static int write_selection(struct policy_kern *k, unsigned slot, const struct policy_selection *sel)
{
	int fd = map_fd(k, "pol_ifaces"), err;

	for (uint32_t i = 0; i < POLICY_MAX_IFINDEX; i++) {
		struct policy_sel v;
		uint32_t want = iface_rs(sel, i);

		if (bpf_map_lookup_elem(fd, &i, &v))
			return -errno;
		if (v.rs[slot] == want)
			continue;
		v.rs[slot] = want;
		if (bpf_map_update_elem(fd, &i, &v, BPF_ANY))
			return -errno;
	}
	err = sync_hash(map_fd(k, "pol_ifaces_big"), slot, 4, sel, true);
	if (!err)
		err = sync_hash(map_fd(k, "pol_cgroups"), slot, 8, sel, false);
	return err;
}

int policy_kern_write(struct policy_kern *k, unsigned slot, struct policy_image *img,
		      const struct policy_selection *sel, struct diags *d)
{
	size_t base = cell_base(k, slot);
	int err;

	/* No packet may still be reading this slot from before the last switch. */
	err = grace_wait(k);
	if (!err)
		err = layout(k, slot, img, d, true);
	if (err)
		return err;
	memcpy(k->cells + base, img->cells, img->n_cells * sizeof(uint32_t));
	err = -EIO;
	for (size_t i = 0; i < img->n_rs; i++) {
		err = write_array(map_fd(k, "pol_rulesets"), slot * k->caps.rulesets + (uint32_t)i,
				  &img->rs[i].rec, 1, sizeof(img->rs[i].rec));
		if (err)
			break;
	}
	if (!img->n_rs)
		err = 0;
	if (!err)
		err = write_array(map_fd(k, "pol_modes"), slot * k->caps.policies, img->modes,
				  img->n_policies, sizeof(uint32_t));
	if (!err)
		err = policy_kern_zero_counters(k, slot, img->n_rules);
	if (!err)
		err = write_selection(k, slot, sel);
	if (err)
		diags_add(d, NULL, 0, 0, NULL, "writing the policy maps (slot %u): %s", slot, errstr(err));
	return err;
}

/* ---- reading back ------------------------------------------------------------------------ */

/*
 * The cells of a slot as the kernel returns them through the syscall, not our mapping: in
 * batches (BPF_MAP_LOOKUP_BATCH walks the array from the key after in_batch).
 */
static int read_cells(struct policy_kern *k, unsigned slot, size_t n, uint32_t **out)
{
	int fd = map_fd(k, "pol_cells");
	size_t groups = (n + POLICY_CELLS_PER_GROUP - 1) / POLICY_CELLS_PER_GROUP, done = 0;
	uint32_t first = slot * k->caps.cell_groups, prev = first - 1, next;
	struct policy_cells *buf = calloc(groups + 1, sizeof(*buf));
	uint32_t *keys = calloc(groups + 1, sizeof(*keys));
	int err = 0;

	if (!buf || !keys) {
		free(buf);
		free(keys);
		return -ENOMEM;
	}
	while (done < groups) {
		uint32_t count = (uint32_t)(groups - done);

		if (bpf_map_lookup_batch(fd, first ? &prev : (done ? &prev : NULL), &next, keys + done,
					 buf + done, &count, NULL) && errno != ENOENT) {
			err = -errno;
			break;
		}
		if (!count) {
			err = -EIO;
			break;
		}
		for (uint32_t i = 0; i < count; i++)
			if (keys[done + i] != first + done + i)
				err = -EIO;
		done += count;
		prev = next;
		if (err)
			break;
	}
	free(keys);
	if (err) {
		free(buf);
		return err;
	}
	*out = (uint32_t *)buf;
	return 0;
}

static int fail(struct policy_verify_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct policy_verify_report *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	return -EIO;
}

/* Every entry of a selection hash (u32 ifindex or u64 cgroup id): slot's half as sel says. */
static int verify_hash(int fd, unsigned slot, bool ifaces, const struct policy_selection *sel,
		       struct policy_verify_report *r)
{
	uint64_t key = 0, next = 0;
	void *prev = NULL;
	struct policy_sel v;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		uint64_t k = ifaces ? (uint32_t)next : next;
		uint32_t want = ifaces ? iface_rs(sel, (uint32_t)k) : cgroup_rs(sel, k);

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v))
			continue;
		if (v.rs[slot] != want)
			return fail(r, "%s %llu selects ruleset %u in the maps, %u in the policy",
				    ifaces ? "interface" : "cgroup", (unsigned long long)k, v.rs[slot], want);
		r->selections += v.rs[slot] != 0;
	}
	return 0;
}

static int verify_selection(struct policy_kern *k, unsigned slot, const struct policy_selection *sel,
			    struct policy_verify_report *r)
{
	int fd = map_fd(k, "pol_ifaces"), err;
	struct policy_sel v;

	for (uint32_t i = 0; i < POLICY_MAX_IFINDEX; i++) {
		if (bpf_map_lookup_elem(fd, &i, &v))
			return fail(r, "pol_ifaces[%u]: %s", i, strerror(errno));
		if (v.rs[slot] != iface_rs(sel, i))
			return fail(r, "interface %u selects ruleset %u in the maps, %u in the policy", i,
				    v.rs[slot], iface_rs(sel, i));
		r->selections += v.rs[slot] != 0;
	}
	err = verify_hash(map_fd(k, "pol_ifaces_big"), slot, true, sel, r);
	if (!err)
		err = verify_hash(map_fd(k, "pol_cgroups"), slot, false, sel, r);
	if (!err && r->selections != sel->n_ifaces + sel->n_cgroups)
		return fail(r, "%zu selections in the maps, %zu in the policy", r->selections,
			    sel->n_ifaces + sel->n_cgroups);
	return err;
}

/* A few addresses per class (its first and last) and per rule boundary, probed from read-back maps. */
static int verify_samples(struct policy_kern *k, unsigned slot, const struct policy_image *img,
			  const struct policy_doc *doc, const uint32_t *cells, size_t n_cells,
			  const struct policy_ruleset *recs, struct policy_verify_report *r)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6, 47 };
	static const uint16_t ports[] = { 0, 1, 22, 53, 80, 443, 1024, 8080, 65535 };
	/*
	 * The file read rule by rule costs a pass over the ruleset's rules per sample: a budget of
	 * some two million rule checks, 4096 samples at most, 64 at least per ruleset.
	 */
	size_t budget = img->n_rules ? 2000000 / img->n_rules : 4096, per;

	budget = budget > 4096 ? 4096 : budget;
	per = img->n_rs ? budget / img->n_rs + 1 : 0;
	per = per < 64 ? 64 : per;

	for (uint32_t rs = 0; rs < img->n_rs; rs++) {
		for (size_t s = 0; s < per; s++) {
			int f = (int)(s & 1), family = f ? AF_INET6 : AF_INET;
			size_t n = img->n_prefixes[f];
			uint8_t addr[16] = {}, proto = protos[(s / 2) % ARRAY_SIZE(protos)];
			uint16_t port = ports[(s / 10) % ARRAY_SIZE(ports)];
			uint32_t klass, got, want;

			if (n) {
				const struct cidr *c = &img->prefixes[f][(s / 2) % n];

				memcpy(addr, c->addr, 16);
				if (s & 2)	/* the last address of the prefix */
					for (unsigned b = c->prefixlen; b < (f ? 128u : 32u); b++)
						addr[b / 8] |= (uint8_t)(0x80 >> (b % 8));
			}
			klass = prefix_table_lookup(k->pt[slot][f], addr, 0, NULL);
			got = policy_cells_decide(cells, n_cells, &recs[rs], family, klass, proto, port);
			want = policy_image_reference(img, doc, rs, family, addr, proto, port);
			if ((got & POLICY_CELL_VALUE) != want ||
			    !!(got & POLICY_CELL_FLAG) != img->rules[want].deny) {
				char a[INET6_ADDRSTRLEN];

				inet_ntop(family, addr, a, sizeof(a));
				return fail(r, "ruleset %u: %s proto %u port %u is decided by rule %u "
					    "in the maps, by rule %u in the file", rs, a, proto, port,
					    got & POLICY_CELL_VALUE, want);
			}
			r->samples++;
		}
	}
	return 0;
}

int policy_kern_verify(struct policy_kern *k, unsigned slot, const struct policy_image *img,
		       const struct policy_doc *doc, const struct policy_selection *sel,
		       struct policy_verify_report *r)
{
	_cleanup_free_ uint32_t *cells = NULL;
	_cleanup_free_ struct policy_ruleset *recs = calloc(img->n_rs + 1, sizeof(*recs));
	int err;

	memset(r, 0, sizeof(*r));
	if (!recs)
		return fail(r, "out of memory");
	err = read_cells(k, slot, img->n_cells, &cells);
	if (err)
		return fail(r, "reading pol_cells: %s", errstr(err));
	for (size_t i = 0; i < img->n_cells; i++)
		if (cells[i] != img->cells[i])
			return fail(r, "pol_cells: cell %zu of slot %u reads %#x, the policy has %#x", i,
				    slot, cells[i], img->cells[i]);
	r->cells = img->n_cells;
	for (size_t i = 0; i < img->n_rs; i++) {
		uint32_t key = slot * k->caps.rulesets + (uint32_t)i;

		if (bpf_map_lookup_elem(map_fd(k, "pol_rulesets"), &key, &recs[i]))
			return fail(r, "pol_rulesets[%u]: %s", key, strerror(errno));
		if (memcmp(&recs[i], &img->rs[i].rec, sizeof(recs[i])))
			return fail(r, "pol_rulesets[%u] differs from ruleset %zu of the policy", key, i);
	}
	r->rulesets = img->n_rs;
	for (size_t i = 0; i < img->n_policies; i++) {
		uint32_t key = slot * k->caps.policies + (uint32_t)i, mode;

		if (bpf_map_lookup_elem(map_fd(k, "pol_modes"), &key, &mode) || mode != img->modes[i])
			return fail(r, "pol_modes[%u] is not the mode of policy %zu", key, i);
	}
	for (int f = 0; f < 2; f++) {
		if (prefix_table_check(k->pt[slot][f]))
			return fail(r, "the %s prefix table is inconsistent", table_names[slot][f]);
		for (size_t i = 0; i < img->n_prefixes[f]; i++)
			if (!prefix_table_find(k->pt[slot][f], &img->prefixes[f][i]))
				return fail(r, "the %s prefix table lacks prefix %zu", table_names[slot][f], i);
		r->prefixes += img->n_prefixes[f];
	}
	err = verify_selection(k, slot, sel, r);
	if (!err)
		err = verify_samples(k, slot, img, doc, cells, img->n_cells, recs, r);
	return err;
}

/* ---- switching and reading --------------------------------------------------------------- */

int policy_kern_flip(struct policy_kern *k, uint32_t ctl)
{
	struct policy_ctl back;
	uint32_t zero = 0;

	/* The one store that moves every packet from the old generation to the new one. */
	__atomic_store_n(&k->ctl->ctl, ctl, __ATOMIC_SEQ_CST);
	if (bpf_map_lookup_elem(map_fd(k, "pol_ctl"), &zero, &back))
		return pr_err_errno(-errno, "policy: reading pol_ctl back");
	if (back.ctl != ctl) {
		pr_err("policy: pol_ctl reads %#x after writing %#x", back.ctl, ctl);
		return -EIO;
	}
	return 0;
}

int policy_kern_set_mode(struct policy_kern *k, unsigned slot, uint32_t policy, int mode)
{
	uint32_t key = slot * k->caps.policies + policy, v = (uint32_t)mode;

	if (bpf_map_update_elem(map_fd(k, "pol_modes"), &key, &v, BPF_ANY))
		return -errno;
	return 0;
}

int policy_kern_counters(struct policy_kern *k, unsigned slot, size_t n, struct policy_counters *out)
{
	int ncpu = libbpf_num_possible_cpus(), fd = map_fd(k, "pol_counters");
	_cleanup_free_ struct policy_counters *percpu = NULL;

	if (ncpu <= 0)
		return -EINVAL;
	percpu = calloc((size_t)ncpu, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	memset(out, 0, n * sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		uint32_t key = slot * k->caps.rules + (uint32_t)i;

		if (bpf_map_lookup_elem(fd, &key, percpu))
			return -errno;
		for (int c = 0; c < ncpu; c++) {
			out[i].packets += percpu[c].packets;
			out[i].bytes += percpu[c].bytes;
			out[i].allowed += percpu[c].allowed;
			out[i].denied += percpu[c].denied;
			out[i].would_deny += percpu[c].would_deny;
			out[i].replies += percpu[c].replies;
		}
	}
	return 0;
}

int policy_kern_stats(struct policy_kern *k, struct policy_stats *out)
{
	int ncpu = libbpf_num_possible_cpus(), fd = map_fd(k, "pol_stats");
	_cleanup_free_ struct policy_stats *percpu = NULL;
	uint32_t zero = 0;

	memset(out, 0, sizeof(*out));
	if (ncpu <= 0)
		return -EINVAL;
	percpu = calloc((size_t)ncpu, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &zero, percpu))
		return -errno;
	for (int c = 0; c < ncpu; c++) {
		const uint64_t *src = (const uint64_t *)&percpu[c];
		uint64_t *dst = (uint64_t *)out;

		/* The event bucket's own state (the last two fields) is not a counter. */
		for (size_t i = 0; i < offsetof(struct policy_stats, ev_tokens) / sizeof(uint64_t); i++)
			dst[i] += src[i];
	}
	return 0;
}

void policy_selection_free(struct policy_selection *s)
{
	free(s->ifaces);
	free(s->cgroups);
	memset(s, 0, sizeof(*s));
}
