// SPDX-License-Identifier: GPL-2.0-only
/*
 * The host monitors' object and hooks: which build to load (tp_btf, else raw_tp), which hooks
 * each monitor owns, switching monitors on and off, the settings the programs read, the cgroups
 * of the per-cgroup run-queue histograms, and the OOM records turned into events.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "log.h"
#include "monitors.h"
#include "monitors.skel.h"
#include "monitors_raw.skel.h"
#include "mounts.h"
#include "util.h"

const char *const mon_names[MON_COUNT] = {
	[MON_RUNQ] = "runq",
	[MON_IO] = "io",
	[MON_MEM] = "mem",
	[MON_NET] = "net",
};

int mon_index(const char *name)
{
	for (int i = 0; i < MON_COUNT; i++)
		if (streq(mon_names[i], name))
			return i;
	return -1;
}

/* Every hook, by monitor; the link pins are named after the programs. */
static const struct mon_hook {
	int mon;
	const char *prog;
	const char *tp;		/* raw tracepoint name */
	const char *category;	/* tracefs category, for the existence check */
} mon_hooks[] = {
	{ MON_RUNQ, "mon_sched_switch", "sched_switch", "sched" },
	{ MON_IO, "mon_block_rq_issue", "block_rq_issue", "block" },
	{ MON_IO, "mon_block_rq_complete", "block_rq_complete", "block" },
	{ MON_MEM, "mon_direct_reclaim_begin", "mm_vmscan_direct_reclaim_begin", "vmscan" },
	{ MON_MEM, "mon_direct_reclaim_end", "mm_vmscan_direct_reclaim_end", "vmscan" },
	{ MON_MEM, "mon_memcg_reclaim_begin", "mm_vmscan_memcg_reclaim_begin", "vmscan" },
	{ MON_MEM, "mon_memcg_reclaim_end", "mm_vmscan_memcg_reclaim_end", "vmscan" },
	{ MON_MEM, "mon_page_alloc", "mm_page_alloc", "kmem" },
	{ MON_MEM, "mon_mark_victim", "mark_victim", "oom" },
	{ MON_NET, "mon_kfree_skb", "kfree_skb", "skb" },
	{ MON_NET, "mon_tcp_retransmit_skb", "tcp_retransmit_skb", "tcp" },
};
_Static_assert(ARRAY_SIZE(mon_hooks) <= MON_HOOKS_MAX, "MON_HOOKS_MAX");

#define MON_MAPS "mon_settings", "mon_runq_hist", "mon_cswitch", "mon_runq_cgroups", \
	"mon_task_state", "mon_io_start", "mon_io", "mon_io_overflow", "mon_reclaim_start", \
	"mon_reclaim_hist", "mon_alloc_fail", "mon_mem", "mon_events", "mon_drops", "mon_net"
#define MON_PROGS "mon_sched_switch", "mon_block_rq_issue", "mon_block_rq_complete", \
	"mon_direct_reclaim_begin", "mon_direct_reclaim_end", "mon_memcg_reclaim_begin", \
	"mon_memcg_reclaim_end", "mon_page_alloc", "mon_mark_victim", "mon_kfree_skb", \
	"mon_tcp_retransmit_skb"

static const char *const btf_programs[] = { MON_PROGS, "mon_task_iter", NULL };
static const char *const raw_programs[] = { MON_PROGS, NULL };
static const char *const mon_maps[] = { MON_MAPS, NULL };

static const void *btf_bytes(size_t *len) { return monitors_bpf__elf_bytes(len); }
static const void *raw_bytes(size_t *len) { return monitors_raw_bpf__elf_bytes(len); }

/* Both builds pin under one name, so a change of build keeps the maps and moves the hooks. */
static const struct bpfobj_desc btf_desc = {
	.name = "monitors", .file = "monitors.bpf.o", .embedded = btf_bytes,
	.programs = btf_programs, .maps = mon_maps,
};
static const struct bpfobj_desc raw_desc = {
	.name = "monitors", .file = "monitors_raw.bpf.o", .embedded = raw_bytes,
	.programs = raw_programs, .maps = mon_maps,
};

/* The page allocator hook runs on every allocation: mem has it only with alloc_failures. */
static bool hook_wanted(const struct monitors *m, const struct mon_hook *mh)
{
	return m->alloc_failures || !streq(mh->prog, "mon_page_alloc");
}

static struct hook hook_of(const struct monitors *m, const struct mon_hook *mh)
{
	return (struct hook){
		.kind = m->raw ? HOOK_RAW_TP : HOOK_TP_BTF,
		.prog = mh->prog,
		.target = m->raw ? mh->tp : NULL,
		.link = mh->prog,
	};
}

/* ---- settings and cgroups ---------------------------------------------------------------- */

static uint64_t own_netns_ino(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) ? 0 : (uint64_t)st.st_ino;
}

static int write_settings(struct monitors *m)
{
	struct mon_settings s = {
		.netns_ino = m->netns_ino,
		.runq_cgroups = (uint32_t)m->n_cgroups,
		.gfp_nowarn = m->gfp_nowarn,
	};
	uint32_t zero = 0;

	if (bpf_map_update_elem(bpfobj_map_fd(&m->obj, "mon_settings"), &zero, &s, BPF_ANY))
		return pr_err_errno(-errno, "monitors: cannot write mon_settings");
	return 0;
}

/* The cgroup v2 id of a configured path (the inode of its directory), or 0 when it is gone. */
static uint64_t cgroup_id_of(const char *path)
{
	char root[PATH_MAX], full[PATH_MAX + 4096];
	struct stat st;

	if (cgroup2_find(root, sizeof(root)))
		return 0;
	snprintf(full, sizeof(full), "%s%s", root, path);
	return stat(full, &st) || !S_ISDIR(st.st_mode) ? 0 : (uint64_t)st.st_ino;
}

/*
 * Keeps mon_runq_cgroups in step with the configured paths: a service restart makes a new
 * cgroup (a new id) under the same path, so this runs every tick, not only at start.
 */
static void sync_cgroups(struct monitors *m)
{
	int fd = bpfobj_map_fd(&m->obj, "mon_runq_cgroups");

	for (size_t i = 0; i < m->n_cgroups; i++) {
		struct mon_cgroup *c = &m->cgroups[i];
		struct mon_cgroup_slot slot = { .slot_plus_1 = (uint32_t)i + 1 };
		uint64_t id = cgroup_id_of(c->path);

		if (id == c->id)
			continue;
		if (c->id)
			bpf_map_delete_elem(fd, &c->id);
		if (id && bpf_map_update_elem(fd, &id, &slot, BPF_ANY)) {
			pr_warn_errno(-errno, "monitors: cgroup %s: cannot add it to mon_runq_cgroups", c->path);
			id = 0;
		}
		if (!id && c->id)
			pr_info("monitors: cgroup %s is gone; its histogram resumes when it is back", c->path);
		else if (!id)
			log_once(LOG_LVL_WARN, c->path, "monitors: cgroup %s does not exist (yet): its "
				 "run-queue histogram stays empty until it does", c->path);
		c->id = id;
	}
}

/* Empties the cgroup map of every entry, so slots of an older configuration do not linger. */
static void clear_cgroups(struct monitors *m)
{
	int fd = bpfobj_map_fd(&m->obj, "mon_runq_cgroups");
	uint64_t key, next;
	bool first = true;

	while (bpf_map_get_next_key(fd, first ? NULL : &key, &next) == 0) {
		bpf_map_delete_elem(fd, &next);
		first = false;
		key = next;
	}
	for (size_t i = 0; i < m->n_cgroups; i++)
		m->cgroups[i].id = 0;
}

static int apply_cgroups(struct monitors *m, const struct aegis_config *cfg)
{
	clear_cgroups(m);
	m->n_cgroups = cfg->n_mon_runq_cgroups;
	for (size_t i = 0; i < m->n_cgroups; i++) {
		snprintf(m->cgroups[i].path, sizeof(m->cgroups[i].path), "%s", cfg->mon_runq_cgroups[i]);
		m->cgroups[i].id = 0;
	}
	sync_cgroups(m);
	return write_settings(m);
}

/* ---- hooks ------------------------------------------------------------------------------- */

static bool link_pinned(const struct monitors *m, const char *name)
{
	char pin[PATH_MAX];

	return bpfobj_link_pin_path(&m->obj, name, pin, sizeof(pin)) == 0 && access(pin, F_OK) == 0;
}

/* Detaches a monitor's hooks (those pinned by this run or an earlier one). */
static int detach_monitor(struct monitors *m, int mon, const struct actor *who)
{
	int err = 0;

	for (size_t i = 0; i < ARRAY_SIZE(mon_hooks); i++) {
		struct hook h = hook_of(m, &mon_hooks[i]);

		if (mon_hooks[i].mon != mon || (m->links[i].fd < 0 && !link_pinned(m, h.link)))
			continue;
		if (hook_detach(&m->obj, &h, &m->links[i], who))
			err = -EIO;
	}
	return err;
}

static int attach_monitor(struct monitors *m, int mon)
{
	for (size_t i = 0; i < ARRAY_SIZE(mon_hooks); i++) {
		struct hook h = hook_of(m, &mon_hooks[i]);
		int err;

		if (mon_hooks[i].mon != mon || m->links[i].fd >= 0 || !hook_wanted(m, &mon_hooks[i]))
			continue;
		err = hook_attach(&m->obj, &h, &m->links[i]);
		if (err) {
			detach_monitor(m, mon, &actor_agent);
			return err;
		}
	}
	return 0;
}

/* Why a monitor cannot run on this kernel: a tracepoint missing, or run-queue accounting off. */
static const char *check_available(int mon)
{
	char tracefs[PATH_MAX], path[PATH_MAX * 2];
	struct btf *btf;
	const char *why = NULL;

	if (mount_find("tracefs", tracefs, sizeof(tracefs)))
		return "tracefs is not mounted";
	for (size_t i = 0; i < ARRAY_SIZE(mon_hooks); i++) {
		if (mon_hooks[i].mon != mon)
			continue;
		snprintf(path, sizeof(path), "%s/events/%s/%s", tracefs, mon_hooks[i].category, mon_hooks[i].tp);
		if (access(path, F_OK))
			return "a tracepoint it needs is missing from this kernel (see `aegis probe`)";
	}
	if (mon != MON_RUNQ)
		return NULL;
	/* The run-queue wait comes from sched_info, which CONFIG_SCHED_INFO provides. */
	btf = btf__load_vmlinux_btf();
	if (!btf)
		return "the kernel has no BTF";
	{
		int id = btf__find_by_name_kind(btf, "sched_info", BTF_KIND_STRUCT);
		const struct btf_type *t = id > 0 ? btf__type_by_id(btf, id) : NULL;
		const struct btf_member *mb = t ? btf_members(t) : NULL;
		bool found = false;

		for (int k = 0; t && k < btf_vlen(t); k++)
			found |= streq(btf__name_by_offset(btf, mb[k].name_off), "last_queued");
		if (!found)
			why = "the kernel keeps no run-queue accounting (CONFIG_SCHED_INFO, which "
			      "CONFIG_SCHEDSTATS or CONFIG_TASK_DELAY_ACCT select, is off)";
	}
	btf__free(btf);
	return why;
}

/* ---- pins of other builds ---------------------------------------------------------------- */

static bool listed(const char *const *names, const char *name)
{
	for (; *names; names++)
		if (streq(*names, name))
			return true;
	return false;
}

static bool is_hook_link(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(mon_hooks); i++)
		if (streq(mon_hooks[i].prog, name))
			return true;
	return false;
}

static bool known_pin(const char *kind, const char *name)
{
	if (streq(kind, "links"))
		return is_hook_link(name);
	if (streq(kind, "progs"))
		return listed(btf_programs, name);
	return listed(mon_maps, name);
}

/*
 * Pins under <pin_dir>/{links,progs,maps} that no build of this agent has, left by an older
 * one: its hooks would go on running (the per-packet net_dev_xmit and netif_receive_skb hooks
 * of the builds that counted interface packets themselves), its programs and maps stay pinned.
 * Links go first: the pin is a hook's last reference, so removing it detaches the hook.
 */
static void remove_foreign_pins(struct monitors *m)
{
	static const char *const kinds[] = { "links", "progs", "maps" };

	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		char dir[PATH_MAX], path[PATH_MAX + 256];
		struct dirent *de;
		DIR *dp;

		snprintf(dir, sizeof(dir), "%s/%s", m->obj.pin_dir, kinds[k]);
		dp = opendir(dir);
		if (!dp)
			continue;
		while ((de = readdir(dp))) {
			struct hook_link none = HOOK_LINK_NONE;
			struct hook h = { .kind = m->raw ? HOOK_RAW_TP : HOOK_TP_BTF, .prog = de->d_name,
					  .link = de->d_name };

			if (de->d_name[0] == '.' || known_pin(kinds[k], de->d_name))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (k == 0 && !hook_detach(&m->obj, &h, &none, &actor_agent)) {
				pr_info("monitors: %s is no hook of this build: detached", path);
			} else if (k > 0 && unlink(path) == 0) {
				audit_log(&actor_agent, "unpin", path, 0, NULL,
					  json_pack("{s:s}", "why", "not in this build"));
				pr_info("monitors: %s is not in this build: unpinned", path);
			} else if (k > 0) {
				int err = -errno;

				audit_log(&actor_agent, "unpin", path, err, NULL, NULL);
				pr_warn_errno(err, "monitors: cannot remove %s, which is not in this build", path);
			}
		}
		closedir(dp);
	}
}

/* ---- object ------------------------------------------------------------------------------ */

static void close_object(struct monitors *m)
{
	for (size_t i = 0; i < ARRAY_SIZE(mon_hooks); i++)
		hook_release(&m->links[i]);
	ring_buffer__free(m->rb);
	m->rb = NULL;
	if (m->iter_link_fd >= 0)
		close(m->iter_link_fd);
	m->iter_link_fd = -1;
	bpfobj_close(&m->obj);
	m->running = false;
}

static int open_events(struct monitors *m);

static int setup_object(struct monitors *m, const struct aegis_config *cfg, bool raw)
{
	int err;

	m->raw = raw;
	err = bpfobj_setup(&m->obj, raw ? &raw_desc : &btf_desc, cfg);
	if (err)
		return err;
	m->running = true;
	remove_foreign_pins(m);
	err = write_settings(m);
	if (!err)
		err = open_events(m);
	if (err)
		close_object(m);
	return err;
}

/*
 * tp_btf where it works (it reads arguments without copies and carries BTF for task storage and
 * the task iterator), else the raw_tp build: tried in that order under `attach: auto`.
 */
static int load_object(struct monitors *m, const struct aegis_config *cfg)
{
	int err;

	if (cfg->mon_attach == MON_ATTACH_RAW_TP)
		return setup_object(m, cfg, true);
	err = setup_object(m, cfg, false);
	if (err && cfg->mon_attach == MON_ATTACH_AUTO) {
		log_once(LOG_LVL_WARN, "monitors-tp-btf", "monitors: the tp_btf build cannot be loaded "
			 "(%s): using the raw_tp build", errstr(err));
		err = setup_object(m, cfg, true);
	}
	return err;
}

static void open_task_iter(struct monitors *m)
{
	int prog = bpfobj_prog_fd(&m->obj, "mon_task_iter");

	m->iter_link_fd = -1;
	if (m->raw || prog < 0) {
		log_once(LOG_LVL_WARN, "monitors-top-tasks", "monitors: top tasks by run-queue wait need "
			 "a BPF task iterator, which the raw_tp build cannot have: unavailable");
		return;
	}
	m->iter_link_fd = bpf_link_create(prog, 0, BPF_TRACE_ITER, NULL);
	if (m->iter_link_fd < 0) {
		log_once(LOG_LVL_WARN, "monitors-iter", "monitors: cannot create the task iterator (%s): "
			 "top tasks by run-queue wait unavailable", errstr(-errno));
		m->iter_link_fd = -1;
	}
}

/* Every monitor to the state cfg asks for; the first that cannot attach fails the call. */
static int apply_states(struct monitors *m, const struct aegis_config *cfg)
{
	int err = 0;

	m->alloc_failures = cfg->mon_alloc_failures;
	for (size_t i = 0; i < ARRAY_SIZE(mon_hooks); i++) {
		struct hook h = hook_of(m, &mon_hooks[i]);

		/* mem stays on without its allocation hook: that one alone goes. */
		if (!hook_wanted(m, &mon_hooks[i]) && (m->links[i].fd >= 0 || link_pinned(m, h.link)))
			hook_detach(&m->obj, &h, &m->links[i], &actor_config);
	}

	for (int mon = 0; mon < MON_COUNT; mon++) {
		bool want = cfg->mon_enabled[mon] && !m->unavailable[mon];

		if (cfg->mon_enabled[mon] && m->unavailable[mon])
			log_once(LOG_LVL_WARN, mon_names[mon], "monitors: %s is unavailable: %s",
				 mon_names[mon], m->unavailable[mon]);
		if (want && !err)
			err = attach_monitor(m, mon);
		else if (!want)
			detach_monitor(m, mon, &actor_config);
		m->enabled[mon] = want && !err;
	}
	return err;
}

int monitors_start(struct monitors *m, const struct aegis_config *cfg)
{
	int err;

	memset(m, 0, sizeof(*m));
	m->iter_link_fd = -1;
	for (size_t i = 0; i < ARRAY_SIZE(mon_hooks); i++)
		m->links[i] = HOOK_LINK_NONE;
	for (int mon = 0; mon < MON_COUNT; mon++)
		m->unavailable[mon] = check_available(mon);
	m->netns_ino = own_netns_ino();
	m->gfp_nowarn = mon_gfp_nowarn_mask();
	mon_load_drop_reasons(m);
	m->tasks = mon_tasks_new();
	if (!m->tasks)
		return pr_err_errno(-ENOMEM, "monitors: task history");
	err = load_object(m, cfg);
	if (err)
		return err;
	err = apply_cgroups(m, cfg);
	if (!err)
		err = apply_states(m, cfg);
	if (!err && m->raw && cfg->mon_attach == MON_ATTACH_AUTO)
		pr_info("monitors: attached as raw_tp");
	if (err && !m->raw && cfg->mon_attach == MON_ATTACH_AUTO) {
		/* Loaded but not attachable as tp_btf (a sandbox may refuse BTF attach): raw_tp. */
		log_once(LOG_LVL_WARN, "monitors-tp-btf-attach", "monitors: tp_btf hooks cannot attach "
			 "(%s): using the raw_tp build", errstr(err));
		for (int mon = 0; mon < MON_COUNT; mon++)
			detach_monitor(m, mon, &actor_agent);
		close_object(m);
		err = setup_object(m, cfg, true);
		if (!err)
			err = apply_cgroups(m, cfg);
		if (!err)
			err = apply_states(m, cfg);
	}
	if (!err)
		open_task_iter(m);
	return err;
}

int monitors_reconfigure(struct monitors *m, const struct aegis_config *old, const struct aegis_config *cfg)
{
	bool was[MON_COUNT];
	int err;

	if (old->mon_attach != cfg->mon_attach) {
		/* Another build: the hooks move to its programs (hook_attach replaces them). */
		monitors_stop(m, false);
		return monitors_start(m, cfg);
	}
	memcpy(was, m->enabled, sizeof(was));
	err = apply_cgroups(m, cfg);
	if (!err)
		err = apply_states(m, cfg);
	if (err) {
		apply_cgroups(m, old);
		apply_states(m, old);
		return err;
	}
	for (int mon = 0; mon < MON_COUNT; mon++)
		if (was[mon] != m->enabled[mon])
			pr_info("monitors: %s %s", mon_names[mon], m->enabled[mon] ? "on" : "off");
	return 0;
}

void monitors_stop(struct monitors *m, bool detach)
{
	if (m->running && detach)
		for (int mon = 0; mon < MON_COUNT; mon++)
			detach_monitor(m, mon, &actor_agent);
	close_object(m);
	mon_tasks_free(m->tasks);
	m->tasks = NULL;
	for (size_t i = 0; i < m->n_drop_reasons; i++)
		free(m->drop_reasons[i]);
	free(m->drop_reasons);
	m->drop_reasons = NULL;
	m->n_drop_reasons = 0;
}

int monitors_set_enabled(struct monitors *m, const struct aegis_config *cfg, int mon, bool on,
			 const struct actor *who, char *err, size_t errlen)
{
	const char *op = on ? "monitor.enable" : "monitor.disable";
	int e = 0;

	if (!m->running) {
		snprintf(err, errlen, "the monitors are not loaded (see the agent's log)");
		return -ENODEV;
	}
	if (on && m->unavailable[mon]) {
		snprintf(err, errlen, "%s is unavailable on this kernel: %s", mon_names[mon], m->unavailable[mon]);
		audit_log(who, op, mon_names[mon], -EOPNOTSUPP, err, NULL);
		return -EOPNOTSUPP;
	}
	if (on != m->enabled[mon])
		e = on ? attach_monitor(m, mon) : detach_monitor(m, mon, who);
	if (e) {
		snprintf(err, errlen, "%s: cannot %s its hooks: %s", mon_names[mon], on ? "attach" : "detach",
			 errstr(e));
		audit_log(who, op, mon_names[mon], e, err, NULL);
		return e;
	}
	m->enabled[mon] = on;
	audit_log(who, op, mon_names[mon], 0, NULL, json_pack("{s:b}", "enabled", on));
	pr_info("monitors: %s switched %s at run time", mon_names[mon], on ? "on" : "off");
	(void)cfg;
	return 0;
}

json_t *monitors_attachments(const struct monitors *m, const char *prog)
{
	json_t *a = json_array();

	for (size_t i = 0; i < ARRAY_SIZE(mon_hooks); i++) {
		struct hook h = hook_of(m, &mon_hooks[i]);

		if (streq(mon_hooks[i].prog, prog) && m->links[i].fd >= 0) {
			json_t *j = hook_json(&m->obj, &h, &m->links[i]);

			json_object_set_new(j, "tracepoint", json_string(mon_hooks[i].tp));
			json_object_set_new(j, "monitor", json_string(mon_names[mon_hooks[i].mon]));
			json_array_append_new(a, j);
		}
	}
	return a;
}

/* ---- events ------------------------------------------------------------------------------ */

static json_t *cgroup_path_json(const struct mon_cgroup_path *p)
{
	char path[MON_CGROUP_DEPTH * (MON_CGROUP_NAME + 1) + 8] = "";
	size_t off = 0;
	uint32_t depth = p->depth < MON_CGROUP_DEPTH ? p->depth : MON_CGROUP_DEPTH;

	if (p->truncated)
		off += (size_t)snprintf(path, sizeof(path), "/...");
	for (uint32_t i = depth; i-- > 0 && off < sizeof(path);)
		off += (size_t)snprintf(path + off, sizeof(path) - off, "/%.*s", MON_CGROUP_NAME, p->names[i]);
	if (!depth && !p->truncated)
		snprintf(path, sizeof(path), "/");
	return json_string(path);
}

static json_t *oom_json(const struct mon_oom_event *e)
{
	char comm[sizeof(e->comm) + 1], when[40];
	uint64_t now_rt = now_realtime_ns(), now_boot = now_boottime_ns();

	memcpy(comm, e->comm, sizeof(e->comm));
	comm[sizeof(e->comm)] = '\0';
	format_rfc3339(now_rt - (now_boot > e->ts_ns ? now_boot - e->ts_ns : 0), when, sizeof(when));
	return json_pack("{s:s, s:i, s:i, s:s, s:i, s:i, s:o, s:I, s:o, s:I}", "killed_at", when,
			 "pid", (int)e->pid, "tid", (int)e->tid, "comm", comm, "uid", (int)e->uid,
			 "oom_score_adj", (int)e->oom_score_adj, "memcg", cgroup_path_json(&e->memcg),
			 "memcg_id", (json_int_t)e->memcg.id, "cgroup", cgroup_path_json(&e->cgroup),
			 "cgroup_id", (json_int_t)e->cgroup.id);
}

static int on_record(void *arg, void *data, size_t size)
{
	struct monitors *m = arg;
	const struct mon_oom_event *e = data;

	if (size < sizeof(*e) || e->type != MON_EVENT_OOM) {
		log_once(LOG_LVL_WARN, "monitors-record", "monitors: a record of %zu bytes, type %u: "
			 "ignored (programs and agent from different builds?)", size,
			 size >= 4 ? e->type : 0);
		return 0;
	}
	m->oom_events++;
	events_publish("oom_kill", oom_json(e));
	return 0;
}

static int open_events(struct monitors *m)
{
	int fd = bpfobj_map_fd(&m->obj, "mon_events");

	m->rb = fd >= 0 ? ring_buffer__new(fd, on_record, m, NULL) : NULL;
	if (!m->rb)
		return pr_err_errno(fd < 0 ? -ENOENT : -errno, "monitors: cannot open the mon_events ring buffer");
	return 0;
}

int monitors_events_fd(const struct monitors *m)
{
	return m->rb ? ring_buffer__epoll_fd(m->rb) : -1;
}

void monitors_events_consume(struct monitors *m)
{
	if (m->rb && ring_buffer__consume(m->rb) < 0)
		log_once(LOG_LVL_WARN, "monitors-consume", "monitors: reading OOM records: %s", strerror(errno));
}

/* ---- tick -------------------------------------------------------------------------------- */

/*
 * Page allocation failures in the last second, as one event per second that had any (a burst,
 * not an event per failure): those the caller did not expect and, apart, those it allowed for
 * (__GFP_NOWARN, which a memory cgroup at its limit also produces for kernel memory).
 */
static void alloc_failure_events(struct monitors *m)
{
	struct mon_alloc_fail f = {}, *v;
	uint64_t total[2] = {};
	char comm[sizeof(f.last_comm) + 1], gfp[24], key[8];
	int ncpu = libbpf_num_possible_cpus();
	uint32_t zero = 0;
	json_t *orders;

	if (ncpu <= 0 || !m->enabled[MON_MEM] || !m->alloc_failures)
		return;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v || bpf_map_lookup_elem(bpfobj_map_fd(&m->obj, "mon_alloc_fail"), &zero, v)) {
		free(v);
		return;
	}
	for (int c = 0; c < ncpu; c++) {
		for (int o = 0; o < MON_MAX_ORDER; o++)
			for (int w = 0; w < 2; w++)
				f.failures[o][w] += v[c].failures[o][w];
		if (v[c].last_ns > f.last_ns) {
			f.last_ns = v[c].last_ns;
			f.last_pid = v[c].last_pid;
			f.last_order = v[c].last_order;
			f.last_gfp = v[c].last_gfp;
			memcpy(f.last_comm, v[c].last_comm, sizeof(f.last_comm));
		}
	}
	free(v);
	orders = json_object();
	for (int o = 0; m->alloc_seen_valid && o < MON_MAX_ORDER; o++) {
		uint64_t d[2] = { f.failures[o][0] - m->alloc_seen[o][0], f.failures[o][1] - m->alloc_seen[o][1] };

		total[0] += d[0];
		total[1] += d[1];
		snprintf(key, sizeof(key), "%d", o);
		if (d[0] || d[1])
			json_object_set_new(orders, key, json_pack("{s:I, s:I}", "failures", (json_int_t)d[0],
								   "nowarn", (json_int_t)d[1]));
	}
	memcpy(m->alloc_seen, f.failures, sizeof(m->alloc_seen));
	m->alloc_seen_valid = true;
	if (!total[0] && !total[1]) {
		json_decref(orders);
		return;
	}
	memcpy(comm, f.last_comm, sizeof(f.last_comm));
	comm[sizeof(f.last_comm)] = '\0';
	snprintf(gfp, sizeof(gfp), "0x%llx", (unsigned long long)f.last_gfp);
	events_publish("alloc_failure",
		       json_pack("{s:I, s:I, s:i, s:o, s:{s:i, s:s, s:i, s:s}}", "failures",
				 (json_int_t)total[0], "nowarn_failures", (json_int_t)total[1],
				 "interval_seconds", 1, "by_order", orders, "last", "pid", (int)f.last_pid,
				 "comm", comm, "order", (int)f.last_order, "gfp", gfp));
}

void monitors_tick(struct monitors *m)
{
	static unsigned ticks;

	if (!m->running)
		return;
	if (m->n_cgroups)
		sync_cgroups(m);
	if (m->enabled[MON_RUNQ] && m->iter_link_fd >= 0 && m->tasks)
		mon_tasks_sample(m->tasks, m->iter_link_fd);
	alloc_failure_events(m);
	if (++ticks % 10)
		return;
	if (m->enabled[MON_NET])
		monitors_forget_gone_ifaces(m);
}
