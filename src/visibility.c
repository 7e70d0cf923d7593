// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host visibility as an agent module: bpf/visibility.bpf.c on its hooks (tracepoints, and cgroup
 * hooks on the cgroup v2 root, which sees every socket of the host whatever its namespace), the
 * process table (vis_proc.c), the flow table (vis_flow.c), exec/fork/exit events as they come,
 * a frame every visibility.frame_interval, and the losses, never silent.
 *
 * The process records are drained on a 100 ms timer (the programs wake the agent early only when
 * an eighth of the ring is waiting), so a steady stream of processes costs no wakeup each.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "agent.h"
#include "events.h"
#include "hooks.h"
#include "log.h"
#include "mapwalk.h"
#include "module.h"
#include "mounts.h"
#include "util.h"
#include "vis_flow.h"
#include "vis_proc.h"
#include "visibility.skel.h"

#define DRAIN_INTERVAL_MS 100

enum vis_mode { MODE_TP_BTF, MODE_RAW_TP };

static const char *const mode_names[] = { "tp_btf", "raw_tp" };

static const char *const vis_maps[] = {
	"vis_procs", "vis_socks", "vis_flows", "vis_events", "vis_settings", "vis_stats", "vis_scratch", NULL,
};

/*
 * Which runs of the hooks below load: the tracepoint twins of one mode, and the send/receive
 * twins as tp_btf where vmlinux BTF names those tracepoints (plain loads instead of probe reads).
 */
enum hook_set {
	SET_ALL,
	SET_TP_BTF,		/* tracing mode tp_btf */
	SET_RAW_TP,		/* tracing mode raw_tp */
	SET_SOCK_BTF,		/* tp_btf, and vmlinux BTF has sock_send_length and sock_recv_length */
	SET_SOCK_RAW,		/* otherwise */
};

/* A hook, the set it belongs to, and whether the module runs without it (what is missing, said once). */
struct vis_hook {
	struct hook h;
	enum hook_set set;
	const char *without;	/* NULL: required */
};

#define CG(prog, type, link, without) { { HOOK_CGROUP, prog, NULL, type, link }, SET_ALL, without }
#define TRACE_HOOKS(kind, sfx, pfx, set)									\
	{ { kind, "vis_fork_" sfx, "sched_process_fork", 0, pfx "sched_process_fork" }, set, NULL },		\
	{ { kind, "vis_exec_" sfx, "sched_process_exec", 0, pfx "sched_process_exec" }, set, NULL },		\
	{ { kind, "vis_exit_" sfx, "sched_process_exit", 0, pfx "sched_process_exit" }, set, NULL },		\
	{ { kind, "vis_state_" sfx, "inet_sock_set_state", 0, pfx "inet_sock_set_state" }, set, NULL }
#define SOCK_HOOKS(kind, sfx, pfx, set)										\
	{ { kind, "vis_send_" sfx, "sock_send_length", 0, pfx "sock_send_length" }, set,			\
	  "an accepted socket gets its owner only from traffic of a connect or sendmsg (no sock_send_length tracepoint: Linux < 6.3)" }, \
	{ { kind, "vis_recv_" sfx, "sock_recv_length", 0, pfx "sock_recv_length" }, set,			\
	  "a socket that only receives gets no owner (no sock_recv_length tracepoint: Linux < 6.3)" }
static struct vis_hook all_hooks[] = {
	CG("vis_skb_ingress", BPF_CGROUP_INET_INGRESS, "cg_skb_ingress", NULL),
	CG("vis_skb_egress", BPF_CGROUP_INET_EGRESS, "cg_skb_egress", NULL),
	CG("vis_connect4", BPF_CGROUP_INET4_CONNECT, "cg_connect4", NULL),
	CG("vis_connect6", BPF_CGROUP_INET6_CONNECT, "cg_connect6", NULL),
	CG("vis_sendmsg4", BPF_CGROUP_UDP4_SENDMSG, "cg_sendmsg4", NULL),
	CG("vis_sendmsg6", BPF_CGROUP_UDP6_SENDMSG, "cg_sendmsg6", NULL),
	CG("vis_release", BPF_CGROUP_INET_SOCK_RELEASE, "cg_sock_release",
	   "UDP flows close only when idle (no cgroup sock_release hook)"),
	TRACE_HOOKS(HOOK_TP_BTF, "btf", "tp_btf_", SET_TP_BTF),
	TRACE_HOOKS(HOOK_RAW_TP, "raw", "raw_tp_", SET_RAW_TP),
	/* sock_ops only where inet_sock_set_state cannot tell an accepted socket's direction (raw_tp). */
	{ { HOOK_CGROUP, "vis_sockops", NULL, BPF_CGROUP_SOCK_OPS, "cg_sockops" }, SET_RAW_TP, NULL },
	SOCK_HOOKS(HOOK_TP_BTF, "btf", "tp_btf_", SET_SOCK_BTF),
	SOCK_HOOKS(HOOK_RAW_TP, "raw", "raw_tp_", SET_SOCK_RAW),
};
#undef CG
#undef TRACE_HOOKS
#undef SOCK_HOOKS

#define N_HOOKS ARRAY_SIZE(all_hooks)

static int vis_configure(struct bpf_object *obj, const struct aegis_config *cfg);

static const void *vis_elf_bytes(size_t *len)
{
	return visibility_bpf__elf_bytes(len);
}

/*
 * One object, the programs of the hooks in use (the others are not loaded); filled at start. All
 * sets pin under the same name, so a mode switch keeps the maps (and the process table).
 */
static const char *programs_in_use[N_HOOKS + 1];
static struct bpfobj_desc vis_desc = {
	.name = "visibility", .file = "visibility.bpf.o", .embedded = vis_elf_bytes,
	.programs = programs_in_use, .maps = vis_maps, .configure = vis_configure,
};

static struct {
	bool running;
	enum vis_mode mode;
	bool sock_btf;		/* the send/receive tracepoints as tp_btf */
	struct bpfobj obj;
	char cgroup_root[PATH_MAX];
	struct vis_hook *hooks[N_HOOKS];
	struct hook_link links[N_HOOKS];
	int attach_err[N_HOOKS];
	struct ring_buffer *rb;
	int timer_fd;
	struct vis_procs procs;
	struct vis_flows flows;
	struct vis_flows_config flow_cfg;
	uint64_t exited_retention_ns;
	uint64_t frame_interval_ns, next_frame_ns;
	uint32_t frame_max_items;
	uint64_t frames;
	/* vis_stats' inserts at the last refresh, and the capacities: a flood refreshes early. */
	uint64_t refreshed_sock_inserts, refreshed_flow_inserts;
	uint32_t cap_sockets, cap_flows;
	uint64_t early_frames;
	uint64_t flow_events_published;
	enum vis_flow_events flow_events;
	json_t *last_frame;
} V = { .timer_fd = -1 };

/* ---- loading ------------------------------------------------------------------------------ */

static bool hook_in_use(const struct vis_hook *vh)
{
	switch (vh->set) {
	case SET_ALL: return true;
	case SET_TP_BTF: return V.mode == MODE_TP_BTF;
	case SET_RAW_TP: return V.mode == MODE_RAW_TP;
	case SET_SOCK_BTF: return V.sock_btf;
	case SET_SOCK_RAW: return !V.sock_btf;
	}
	return false;
}

/* Between open and load: sizes from the configuration, and only the programs in use. */
static int vis_configure(struct bpf_object *obj, const struct aegis_config *cfg)
{
	int err;

	err = bpfobj_size_map(obj, "vis_procs", cfg->vis_cap_processes, "visibility.capacity.processes");
	if (!err)
		err = bpfobj_size_map(obj, "vis_flows", cfg->vis_cap_flows, "visibility.capacity.flows");
	if (!err)
		err = bpfobj_size_map(obj, "vis_socks", cfg->vis_cap_sockets, "visibility.capacity.sockets");
	if (!err)
		err = bpfobj_size_map(obj, "vis_events", cfg->vis_ring_kb * 1024, "visibility.ring_buffer_kb");
	for (size_t i = 0; !err && i < N_HOOKS; i++) {
		struct bpf_program *p = bpf_object__find_program_by_name(obj, all_hooks[i].h.prog);

		err = p ? bpf_program__set_autoload(p, hook_in_use(&all_hooks[i])) : -ENOENT;
		if (err)
			pr_err_errno(err, "visibility: program %s", all_hooks[i].h.prog);
	}
	return err;
}

/* vmlinux BTF names the tracepoint (its btf_trace_ type): a tp_btf program for it loads. */
static bool tp_btf_known(const char *tp)
{
	return libbpf_find_vmlinux_btf_id(tp, BPF_TRACE_RAW_TP) > 0;
}

/* tp_btf where the probe attached one and vmlinux BTF names every tracepoint; else raw_tp. */
static int choose_mode(const struct aegis_config *cfg)
{
	static const char *const tps[] = { "sched/sched_process_fork", "sched/sched_process_exec",
					   "sched/sched_process_exit", "sock/inet_sock_set_state" };
	json_t *progs = json_object_get(agent.probe_report, "programs");
	json_t *tp = json_object_get(agent.probe_report, "tracepoints");
	bool btf = json_is_true(json_object_get(json_object_get(progs, "tp_btf"), "ok"));
	const char *why = btf ? NULL : "tp_btf programs do not attach (aegis probe)";
	size_t n = 0;

	for (size_t i = 0; btf && i < ARRAY_SIZE(tps); i++) {
		if (!json_is_true(json_object_get(json_object_get(tp, tps[i]), "btf"))) {
			btf = false;
			why = "vmlinux BTF lacks a tracepoint's btf_trace_ type";
		}
	}
	if (cfg->vis_tracing == VIS_TRACING_TP_BTF && !btf)
		return pr_err_errno(-EOPNOTSUPP, "visibility.tracing is tp_btf, but %s", why);
	V.mode = cfg->vis_tracing == VIS_TRACING_RAW_TP || !btf ? MODE_RAW_TP : MODE_TP_BTF;
	/* Before Linux 6.3 there are no send/receive tracepoints: the raw_tp twins load, and their
	 * attach fails with what that costs. */
	V.sock_btf = V.mode == MODE_TP_BTF && tp_btf_known("sock_send_length") && tp_btf_known("sock_recv_length");
	if (V.mode == MODE_RAW_TP && cfg->vis_tracing == VIS_TRACING_AUTO)
		log_once(LOG_LVL_WARN, "vis-raw-tp", "visibility: %s: the tracepoints run as raw_tp "
			 "(the same fields, read with CO-RE probe reads)", why);
	log_once(LOG_LVL_INFO, V.mode == MODE_TP_BTF ? "vis-mode-btf" : "vis-mode-raw",
		 "visibility: process and TCP state tracepoints run as %s", mode_names[V.mode]);
	for (size_t i = 0; i < N_HOOKS; i++)
		if (hook_in_use(&all_hooks[i]))
			programs_in_use[n++] = all_hooks[i].h.prog;
	programs_in_use[n] = NULL;
	return 0;
}

/* The links and programs of hooks not in use, left by an earlier run, go: they would run twice. */
static void remove_other_mode(void)
{
	char pin[PATH_MAX];

	for (size_t i = 0; i < N_HOOKS; i++) {
		const struct vis_hook *vh = &all_hooks[i];
		struct hook_link none = HOOK_LINK_NONE;

		if (hook_in_use(vh))
			continue;
		if (bpfobj_link_pin_path(&V.obj, vh->h.link, pin, sizeof(pin)) == 0 && access(pin, F_OK) == 0)
			hook_detach(&V.obj, &vh->h, &none, &actor_agent);
		snprintf(pin, sizeof(pin), "%s/progs/%s", V.obj.pin_dir, vh->h.prog);
		if (unlink(pin) == 0)
			audit_log(&actor_agent, "unpin", pin, 0, NULL, json_pack("{s:s}", "why", "other tracing mode"));
	}
}

static int write_settings(const struct aegis_config *cfg)
{
	struct vis_settings s = { .args_max = cfg->vis_args_max, .wakeup_bytes = cfg->vis_ring_kb * 1024 / 8 };
	int fd = bpfobj_map_fd(&V.obj, "vis_settings");
	uint32_t zero = 0;

	if (fd < 0 || bpf_map_update_elem(fd, &zero, &s, BPF_ANY))
		return pr_err_errno(fd < 0 ? fd : -errno, "visibility: cannot write vis_settings");
	return 0;
}

/* Pinned maps keep their size: a new capacity is refused with what to do. */
static int check_sizes(const struct aegis_config *cfg)
{
	static const struct {
		const char *map, *key;
		size_t off;
		uint32_t unit;
	} sized[] = {
		{ "vis_procs", "visibility.capacity.processes", offsetof(struct aegis_config, vis_cap_processes), 1 },
		{ "vis_flows", "visibility.capacity.flows", offsetof(struct aegis_config, vis_cap_flows), 1 },
		{ "vis_socks", "visibility.capacity.sockets", offsetof(struct aegis_config, vis_cap_sockets), 1 },
		{ "vis_events", "visibility.ring_buffer_kb", offsetof(struct aegis_config, vis_ring_kb), 1024 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(sized); i++) {
		struct bpf_map_info info = {};
		uint32_t len = sizeof(info), want = *(const uint32_t *)((const char *)cfg + sized[i].off);
		int fd = bpfobj_map_fd(&V.obj, sized[i].map);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) || info.max_entries == want * sized[i].unit)
			continue;
		pr_err("visibility: %s is %u but the pinned %s was made for %u: a new size needs `aegis agent "
		       "--cleanup` and a restart", sized[i].key, want, sized[i].map, info.max_entries / sized[i].unit);
		return -EEXIST;
	}
	return 0;
}

/* ---- hooks -------------------------------------------------------------------------------- */

static int attach_all(void)
{
	size_t n = 0;

	for (size_t i = 0; i < N_HOOKS; i++) {
		struct vis_hook *vh = &all_hooks[i];

		if (!hook_in_use(vh))
			continue;
		V.hooks[n] = vh;
		if (vh->h.kind == HOOK_CGROUP)
			vh->h.target = V.cgroup_root;
		V.attach_err[n] = hook_attach(&V.obj, &vh->h, &V.links[n]);
		if (!V.attach_err[n++])
			continue;
		if (!vh->without)
			return V.attach_err[n - 1];
		log_once(LOG_LVL_WARN, vh->h.link, "visibility: %s unavailable (%s): %s", vh->h.link,
			 errstr(V.attach_err[n - 1]), vh->without);
	}
	return 0;
}

static void release_links(bool detach)
{
	for (size_t i = 0; i < N_HOOKS; i++) {
		if (!V.hooks[i])
			continue;
		if (detach && !V.attach_err[i])
			hook_detach(&V.obj, &V.hooks[i]->h, &V.links[i], &actor_config);
		else
			hook_release(&V.links[i]);
	}
}

/* ---- process records ---------------------------------------------------------------------- */

/*
 * exec and exit events as records come. A fork is no event of its own (nearly every one is
 * followed by an exec): forked processes are in the frames, and their exits are events.
 */
static void publish_record(const struct vis_proc_event *ev)
{
	const struct vis_process *p;
	json_t *j;

	if (ev->kind != VIS_EV_EXEC && ev->kind != VIS_EV_EXIT)
		return;
	p = vis_procs_get(&V.procs, (struct vis_ident){ ev->ktime, ev->tgid });
	if (!p)
		p = vis_procs_running(&V.procs, ev->tgid);
	if (!p)
		return;
	j = vis_process_event_json(&V.procs, p, ev->kind == VIS_EV_EXIT);
	if (ev->kind == VIS_EV_EXEC && ev->prev_ktime) {
		char prev[VIS_EXEC_ID_LEN + 1];

		vis_exec_id(&V.procs, (struct vis_ident){ ev->prev_ktime, ev->tgid }, prev);
		json_object_set_new(j, "replaces", json_string(prev));
	}
	events_publish(ev->kind == VIS_EV_EXEC ? "exec" : "exit", j);
}

static int on_record(void *ctx, void *data, size_t size)
{
	vis_procs_record(&V.procs, data, size);
	if (size >= VIS_PROC_EVENT_HDR_SIZE)
		publish_record(data);
	return 0;
}

static void drain(void)
{
	if (V.rb && ring_buffer__consume(V.rb) < 0)
		log_once(LOG_LVL_WARN, "vis-consume", "visibility: reading vis_events: %s", strerror(errno));
}

/* One vis_stats counter, summed over CPUs (0 when it cannot be read). */
static uint64_t read_counter(uint32_t id)
{
	int fd = bpfobj_map_fd(&V.obj, "vis_stats"), ncpu = libbpf_num_possible_cpus();
	uint64_t sum = 0;

	if (fd < 0 || ncpu <= 0)
		return 0;
	{
		uint64_t vals[ncpu];

		if (bpf_map_lookup_elem(fd, &id, vals))
			return 0;
		for (int i = 0; i < ncpu; i++)
			sum += vals[i];
	}
	return sum;
}

static void read_counters(uint64_t out[VIS_C__COUNT])
{
	for (uint32_t c = 0; c < VIS_C__COUNT; c++)
		out[c] = read_counter(c);
}

/*
 * The agent's own counts (its deletions) live in vis_stats beside the programs' inserts, so that
 * evictions = inserts - deletions - entries holds across agent restarts. The programs never
 * write these slots: a read-add-write of CPU 0's value races with nothing.
 */
static void add_counter(uint32_t counter, uint64_t n)
{
	int fd = bpfobj_map_fd(&V.obj, "vis_stats"), ncpu = libbpf_num_possible_cpus();

	if (!n || fd < 0 || ncpu <= 0)
		return;
	{
		uint64_t vals[ncpu];

		if (bpf_map_lookup_elem(fd, &counter, vals) == 0) {
			vals[0] += n;
			if (bpf_map_update_elem(fd, &counter, vals, BPF_ANY) == 0)
				return;
		}
	}
	log_once(LOG_LVL_WARN, "vis-add-counter", "visibility: cannot update vis_stats: %s; eviction "
		 "counts will be too high", strerror(errno));
}

/* ---- refresh and frames ------------------------------------------------------------------- */

/*
 * The maps are read first and the ring drained after, so every record of what the maps showed
 * has arrived before the table is compared with them (the programs write the record first).
 */
static void refresh(void)
{
	struct vis_map_totals totals;
	uint64_t c[VIS_C__COUNT];
	void *keys = NULL, *vals = NULL;
	ssize_t n;

	read_counters(c);
	n = map_read_all(bpfobj_map_fd(&V.obj, "vis_procs"), sizeof(uint32_t), sizeof(struct vis_proc), &keys, &vals);
	drain();
	if (n >= 0)
		vis_procs_reconcile(&V.procs, keys, vals, (size_t)n);
	else
		log_once(LOG_LVL_WARN, "vis-procs-read", "visibility: cannot read vis_procs: %s", errstr((int)n));
	free(keys);
	free(vals);
	V.refreshed_sock_inserts = c[VIS_C_SOCK_INSERTS];
	V.refreshed_flow_inserts = c[VIS_C_FLOW_INSERTS];
	totals = (struct vis_map_totals){ c[VIS_C_FLOW_INSERTS] + c[VIS_C_TCP_FLOW_INSERTS],
					  c[VIS_C_FLOW_DELETES] + c[VIS_C_TCP_FLOW_DELETES], c[VIS_C_SOCK_INSERTS],
					  c[VIS_C_SOCK_DELETES] };
	vis_flows_refresh(&V.flows, &V.procs, bpfobj_map_fd(&V.obj, "vis_flows"), bpfobj_map_fd(&V.obj, "vis_socks"),
			  &totals, &V.flow_cfg);
	add_counter(VIS_C_FLOW_DELETES, V.flows.stats.flow_deletes);
	add_counter(VIS_C_SOCK_DELETES, V.flows.stats.sock_deletes);
	add_counter(VIS_C_TCP_FLOW_DELETES, V.flows.stats.tcp_flow_deletes);
}

static json_t *losses_json(const uint64_t c[VIS_C__COUNT])
{
	const struct vis_procs_stats *ps = &V.procs.stats;
	const struct vis_flows_stats *fs = &V.flows.stats;

	return json_pack("{s:{s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "ringbuf_lost", "exec", (json_int_t)c[VIS_C_RB_LOST_EXEC], "fork",
			 (json_int_t)c[VIS_C_RB_LOST_FORK], "exit", (json_int_t)c[VIS_C_RB_LOST_EXIT],
			 "records_inferred", (json_int_t)ps->records_inferred, "exits_inferred",
			 (json_int_t)ps->exits_inferred, "process_table_full", (json_int_t)c[VIS_C_PROCS_FULL],
			 "flow_evictions", (json_int_t)fs->flow_evictions, "socket_evictions",
			 (json_int_t)fs->sock_evictions, "flow_insert_fail", (json_int_t)c[VIS_C_FLOW_INSERT_FAIL],
			 "socket_insert_fail", (json_int_t)c[VIS_C_SOCK_INSERT_FAIL], "processes_dropped",
			 (json_int_t)ps->ended_dropped, "flows_dropped", (json_int_t)fs->flows_dropped);
}

static json_t *frame_processes(uint64_t *truncated)
{
	json_t *started = json_array(), *changed = json_array(), *exited = json_array();

	for (size_t i = 0; i < V.procs.n_frame; i++) {
		const struct vis_process *p = V.procs.frame[i];
		uint8_t b = p->frame_bits;
		json_t *list = b & VIS_FRAME_ENDED ? exited : b & VIS_FRAME_CHANGED ? changed : started, *j;

		if (json_array_size(list) >= V.frame_max_items) {
			(*truncated)++;
			continue;
		}
		j = vis_process_json(&V.procs, p);
		if (b & VIS_FRAME_NEW && b & (VIS_FRAME_CHANGED | VIS_FRAME_ENDED))
			json_object_set_new(j, "new", json_true());
		json_array_append_new(list, j);
	}
	return json_pack("{s:o, s:o, s:o}", "started", started, "changed", changed, "exited", exited);
}

/*
 * Flow events (visibility.flow_events): one when a flow closes, with its final counts, and with
 * "all" one when it is first seen (one in all for a flow that began and ended within a frame).
 * A flow's JSON is made only if the frame or an event takes it, and an event's as text, without
 * jansson objects: under a flood of connections that is most of the agent's work.
 */
static json_t *frame_flows(uint64_t *truncated)
{
	json_t *fresh = json_array(), *active = json_array(), *closed = json_array();

	for (size_t i = 0; i < V.flows.n_frame; i++) {
		const struct vis_flowrec *f = V.flows.frame[i];
		uint8_t b = f->frame_bits;
		bool ended = f->state == VIS_FLOW_CLOSED, is_new = b & VIS_FRAME_NEW;
		json_t *list = ended ? closed : is_new ? fresh : active, *j;
		bool event = V.flow_events != VIS_FLOW_EVENTS_NONE &&
			     (ended || (is_new && V.flow_events == VIS_FLOW_EVENTS_ALL));
		bool in_frame = json_array_size(list) < V.frame_max_items;

		if (!in_frame)
			(*truncated)++;
		if (event) {
			size_t len;
			const char *text = vis_flow_text(&V.procs, f, ended ? "closed" : "new", is_new && ended, &len);

			if (text && events_publish_text("flow", text, len) == 0)
				V.flow_events_published++;
		}
		if (!in_frame)
			continue;
		j = vis_flow_json(&V.procs, f);
		if (is_new && ended)
			json_object_set_new(j, "new", json_true());
		json_array_append_new(list, j);
	}
	return json_pack("{s:o, s:o, s:o}", "new", fresh, "active", active, "closed", closed);
}

static void build_frame(void)
{
	uint64_t c[VIS_C__COUNT], truncated[2] = {};
	char when[40];
	json_t *f;

	refresh();
	read_counters(c);
	format_rfc3339(now_realtime_ns(), when, sizeof(when));
	f = json_pack("{s:I, s:s, s:I, s:o, s:o}", "frame", (json_int_t)++V.frames, "time", when,
		      "interval_seconds", (json_int_t)(V.frame_interval_ns / NSEC_PER_SEC),
		      "processes", frame_processes(&truncated[0]), "flows", frame_flows(&truncated[1]));
	json_object_set_new(f, "counts", json_pack("{s:I, s:I, s:I, s:I}", "processes_running",
		(json_int_t)V.procs.n_running, "processes_ended", (json_int_t)V.procs.n_ended,
		"flows_open", (json_int_t)V.flows.n_open, "flows_closed", (json_int_t)V.flows.n_closed));
	json_object_set_new(f, "losses", losses_json(c));
	if (truncated[0] || truncated[1])
		json_object_set_new(f, "truncated", json_pack("{s:I, s:I}", "processes", (json_int_t)truncated[0],
							      "flows", (json_int_t)truncated[1]));
	vis_procs_frame_reset(&V.procs);
	vis_flows_frame_reset(&V.flows);
	vis_procs_expire(&V.procs, now_boottime_ns(), V.exited_retention_ns);
	vis_flows_expire(&V.flows, now_boottime_ns(), V.flow_cfg.retention_ns);
	json_decref(V.last_frame);
	V.last_frame = f;
	events_publish("frame", json_copy(f));	/* serialized at once: sharing values is fine */
}

/* ---- life cycle --------------------------------------------------------------------------- */

static void apply_live(const struct aegis_config *cfg)
{
	V.frame_interval_ns = cfg->vis_frame_interval_ns;
	V.next_frame_ns = now_monotonic_ns() + V.frame_interval_ns;
	V.frame_max_items = cfg->vis_frame_max_items;
	V.flow_events = cfg->vis_flow_events;
	V.exited_retention_ns = cfg->vis_exited_retention_ns;
	V.flow_cfg.retention_ns = cfg->vis_flow_retention_ns;
	V.flow_cfg.idle_timeout_ns = cfg->vis_flow_idle_ns;
	V.procs.max_ended = cfg->vis_cap_processes;
	V.procs.args_max = cfg->vis_args_max;
	V.flows.max_closed = cfg->vis_cap_flows;
	V.cap_sockets = cfg->vis_cap_sockets;
	V.cap_flows = cfg->vis_cap_flows;
}

static int open_readers(void)
{
	struct itimerspec every = {
		.it_interval = { 0, DRAIN_INTERVAL_MS * NSEC_PER_MSEC },
		.it_value = { 0, DRAIN_INTERVAL_MS * NSEC_PER_MSEC },
	};

	V.rb = ring_buffer__new(bpfobj_map_fd(&V.obj, "vis_events"), on_record, NULL, NULL);
	if (!V.rb)
		return pr_err_errno(-errno, "visibility: cannot open the vis_events ring buffer");
	V.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (V.timer_fd < 0 || timerfd_settime(V.timer_fd, 0, &every, NULL))
		return pr_err_errno(-errno, "visibility: cannot set up its drain timer");
	return 0;
}

static void vis_stop(const struct aegis_config *cfg, bool detach);

static int vis_start(const struct aegis_config *cfg)
{
	int err;

	if (!cfg->vis_enabled)
		return 0;
	err = choose_mode(cfg);
	if (!err)
		err = cgroup2_find(V.cgroup_root, sizeof(V.cgroup_root));
	if (err)
		return pr_err_errno(err, "visibility: %s", V.cgroup_root[0] ? "cannot start" : "no cgroup v2 mount");
	err = bpfobj_setup(&V.obj, &vis_desc, cfg);
	if (err)
		return err;
	V.running = true;	/* from here on, vis_stop() undoes what was done */
	err = check_sizes(cfg);
	if (!err)
		err = write_settings(cfg);
	if (!err)
		err = vis_procs_init(&V.procs, cfg->vis_cap_processes);
	vis_flows_init(&V.flows, cfg->vis_cap_flows);
	apply_live(cfg);
	if (!err) {
		remove_other_mode();
		err = attach_all();
	}
	/* Seeded after the hooks run: a process that starts meanwhile is in vis_procs already. */
	if (!err)
		err = vis_procs_seed(&V.procs, bpfobj_map_fd(&V.obj, "vis_procs"));
	if (!err)
		err = open_readers();
	if (err) {
		/* Nothing half-applied: the hooks this start attached go again. */
		pr_err("visibility: not started: %s", errstr(err));
		vis_stop(cfg, true);
		return err;
	}
	drain();
	pr_info("visibility: running (%s), %zu processes, frames every %llus", mode_names[V.mode],
		V.procs.n_running, (unsigned long long)(V.frame_interval_ns / NSEC_PER_SEC));
	return 0;
}

static void vis_stop(const struct aegis_config *cfg, bool detach)
{
	if (!V.running)
		return;
	release_links(detach);
	ring_buffer__free(V.rb);
	V.rb = NULL;
	if (V.timer_fd >= 0)
		close(V.timer_fd);
	V.timer_fd = -1;
	vis_procs_free(&V.procs);
	vis_flows_free(&V.flows);
	json_decref(V.last_frame);
	V.last_frame = NULL;
	bpfobj_close(&V.obj);
	memset(V.hooks, 0, sizeof(V.hooks));
	V.running = false;
}

static bool same_load(const struct aegis_config *a, const struct aegis_config *b)
{
	return a->vis_tracing == b->vis_tracing && a->vis_cap_processes == b->vis_cap_processes &&
	       a->vis_cap_flows == b->vis_cap_flows && a->vis_cap_sockets == b->vis_cap_sockets &&
	       a->vis_ring_kb == b->vis_ring_kb;
}

static int vis_reconfigure(const struct aegis_config *old, const struct aegis_config *cfg)
{
	int err;

	if (V.running && cfg->vis_enabled && same_load(old, cfg)) {
		err = write_settings(cfg);
		if (!err)
			apply_live(cfg);
		return err;
	}
	if (V.running && cfg->vis_enabled && (old->vis_cap_processes != cfg->vis_cap_processes ||
	    old->vis_cap_flows != cfg->vis_cap_flows || old->vis_cap_sockets != cfg->vis_cap_sockets ||
	    old->vis_ring_kb != cfg->vis_ring_kb)) {
		pr_err("visibility: capacities and ring_buffer_kb size pinned maps: a change needs "
		       "`aegis agent --cleanup` and a restart");
		return -EEXIST;
	}
	/* Enabled, disabled, or another tracing mode: stop (hooks detached) and start again. */
	vis_stop(old, true);
	err = vis_start(cfg);
	if (err && old->vis_enabled && vis_start(old))
		pr_err("visibility: could not restart with the previous configuration either");
	return err;
}

static void vis_tick(const struct aegis_config *cfg)
{
	if (V.running && now_monotonic_ns() >= V.next_frame_ns) {
		build_frame();
		V.next_frame_ns += V.frame_interval_ns;
		if (V.next_frame_ns < now_monotonic_ns())
			V.next_frame_ns = now_monotonic_ns() + V.frame_interval_ns;
	}
}

static int vis_poll_fds(int *fds, int max)
{
	int n = 0;

	if (!V.running)
		return 0;
	if (n < max && V.rb)
		fds[n++] = ring_buffer__epoll_fd(V.rb);
	if (n < max && V.timer_fd >= 0)
		fds[n++] = V.timer_fd;
	return n;
}

static void build_frame(void);

/*
 * Between frames, a flood of short connections would fill the kernel's LRU tables, which would
 * then evict flows the agent has not read (and spend the inserts' time evicting): when half of
 * a table's capacity was inserted since the last read, the frame comes early. A frame, not only
 * a read: it reports the closed flows and lets the agent's own table drop them (retention), so
 * that the agent's memory stays bounded too.
 */
static void frame_if_filling(void)
{
	if (read_counter(VIS_C_SOCK_INSERTS) - V.refreshed_sock_inserts <= V.cap_sockets / 2 &&
	    read_counter(VIS_C_FLOW_INSERTS) - V.refreshed_flow_inserts <= V.cap_flows / 2)
		return;
	V.early_frames++;
	build_frame();
	V.next_frame_ns = now_monotonic_ns() + V.frame_interval_ns;
}

static void vis_on_readable(int fd)
{
	uint64_t expirations;

	if (fd == V.timer_fd && read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_once(LOG_LVL_WARN, "vis-timer", "visibility: timer read: %s", strerror(errno));
	drain();
	if (fd == V.timer_fd)
		frame_if_filling();
}

/* ---- status, objects, metrics ------------------------------------------------------------- */

static json_t *hooks_json(void)
{
	json_t *a = json_array();

	for (size_t i = 0; i < N_HOOKS && V.hooks[i]; i++) {
		json_t *h = hook_json(&V.obj, &V.hooks[i]->h, &V.links[i]);

		json_object_set_new(h, "attached", json_boolean(!V.attach_err[i]));
		if (V.attach_err[i]) {
			json_object_set_new(h, "error", json_string(errstr(V.attach_err[i])));
			json_object_set_new(h, "without_it", json_string(V.hooks[i]->without));
		}
		json_array_append_new(a, h);
	}
	return a;
}

static json_t *vis_status(void)
{
	uint64_t c[VIS_C__COUNT];
	json_t *s, *counters = json_object();

	if (!V.running)
		return json_pack("{s:b}", "running", 0);
	read_counters(c);
#define COUNTER_JSON(id, name, help) json_object_set_new(counters, name, json_integer((json_int_t)c[id]));
	VIS_COUNTERS(COUNTER_JSON)
#undef COUNTER_JSON
	s = json_pack("{s:b, s:s, s:s, s:o, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:o, s:o}",
		      "running", 1, "tracing", mode_names[V.mode], "pin_dir", V.obj.pin_dir, "hooks", hooks_json(),
		      "processes", "running", (json_int_t)V.procs.n_running, "ended", (json_int_t)V.procs.n_ended,
		      "seeded", (json_int_t)V.procs.stats.seeded,
		      "flows", "open", (json_int_t)V.flows.n_open, "closed", (json_int_t)V.flows.n_closed,
		      "kernel_entries", (json_int_t)V.flows.stats.flow_entries, "socket_entries",
		      (json_int_t)V.flows.stats.sock_entries,
		      "frames", "count", (json_int_t)V.frames, "interval_seconds",
		      (json_int_t)(V.frame_interval_ns / NSEC_PER_SEC), "early", (json_int_t)V.early_frames,
		      "flow_events", (json_int_t)V.flow_events_published,
		      "losses", losses_json(c), "counters", counters);
	json_object_set_new(s, "records", json_pack("{s:I, s:I, s:I, s:I}", "exec",
		(json_int_t)V.procs.stats.records[VIS_EV_EXEC], "fork", (json_int_t)V.procs.stats.records[VIS_EV_FORK],
		"exit", (json_int_t)V.procs.stats.records[VIS_EV_EXIT], "bad", (json_int_t)V.procs.stats.bad_records));
	return s;
}

static size_t vis_objects(const struct bpfobj **out, size_t max)
{
	if (!V.running || max < 1)
		return 0;
	out[0] = &V.obj;
	return 1;
}

static json_t *vis_attachments(const struct bpfobj *o, const char *prog)
{
	json_t *a = json_array();

	for (size_t i = 0; i < N_HOOKS && V.hooks[i]; i++)
		if (!V.attach_err[i] && streq(V.hooks[i]->h.prog, prog))
			json_array_append_new(a, hook_json(o, &V.hooks[i]->h, &V.links[i]));
	return a;
}

static void metric_kinds(FILE *f, const char *name, const char *help, const uint64_t *v3)
{
	static const char *const kinds[] = { "exec", "fork", "exit" };

	metric_help(f, name, "counter", help);
	for (int k = 0; k < 3; k++)
		fprintf(f, "%s{kind=\"%s\"} %llu\n", name, kinds[k], (unsigned long long)v3[k]);
}

static void metric_one(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
	metric_help(f, name, type, help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

static void vis_metrics(FILE *f)
{
	uint64_t c[VIS_C__COUNT], seen[3], lost[3], recs[3];

	if (!V.running)
		return;
	read_counters(c);
	seen[0] = c[VIS_C_EXEC], seen[1] = c[VIS_C_FORK], seen[2] = c[VIS_C_EXIT];
	lost[0] = c[VIS_C_RB_LOST_EXEC], lost[1] = c[VIS_C_RB_LOST_FORK], lost[2] = c[VIS_C_RB_LOST_EXIT];
	for (int k = 0; k < 3; k++)
		recs[k] = V.procs.stats.records[VIS_EV_EXEC + k];
	metric_kinds(f, "aegis_visibility_process_events_total", "Process events the kernel saw.", seen);
	metric_kinds(f, "aegis_visibility_ringbuf_lost_total", "Process records lost: the ring buffer was full.", lost);
	metric_kinds(f, "aegis_visibility_records_total", "Process records the agent received.", recs);
	metric_one(f, "aegis_visibility_records_inferred_total", "counter",
		   "Processes found in the kernel's table whose record never came.", V.procs.stats.records_inferred);
	metric_one(f, "aegis_visibility_exits_inferred_total", "counter",
		   "Exits found by a process's absence from the kernel's table.", V.procs.stats.exits_inferred);
	metric_one(f, "aegis_visibility_process_table_full_total", "counter",
		   "Processes the kernel could not track: vis_procs was full.", c[VIS_C_PROCS_FULL]);
	metric_one(f, "aegis_visibility_flow_evictions_total", "counter",
		   "Flow entries the kernel's LRU table evicted.", V.flows.stats.flow_evictions);
	metric_one(f, "aegis_visibility_socket_evictions_total", "counter",
		   "Socket entries the kernel's LRU table evicted.", V.flows.stats.sock_evictions);
	metric_one(f, "aegis_visibility_flow_inserts_total", "counter",
		   "Flows the kernel began counting (UDP entries of vis_flows, TCP entries of vis_socks).",
		   c[VIS_C_FLOW_INSERTS] + c[VIS_C_TCP_FLOW_INSERTS]);
	metric_one(f, "aegis_visibility_packets_not_fullsock_total", "counter",
		   "Packets of request or time-wait sockets, not counted in a flow.", c[VIS_C_SKB_NOT_FULLSOCK]);
	metric_one(f, "aegis_visibility_packets_unparsed_total", "counter",
		   "Packets counted at their length as is (headers not parsed).", c[VIS_C_SKB_UNPARSED]);
	metric_help(f, "aegis_visibility_dropped_total", "counter",
		    "Ended processes and closed flows dropped before their retention time (table full).");
	fprintf(f, "aegis_visibility_dropped_total{what=\"processes\"} %llu\n",
		(unsigned long long)V.procs.stats.ended_dropped);
	fprintf(f, "aegis_visibility_dropped_total{what=\"flows\"} %llu\n",
		(unsigned long long)V.flows.stats.flows_dropped);
	metric_help(f, "aegis_visibility_processes", "gauge", "Processes in the agent's table.");
	fprintf(f, "aegis_visibility_processes{state=\"running\"} %zu\n", V.procs.n_running);
	fprintf(f, "aegis_visibility_processes{state=\"ended\"} %zu\n", V.procs.n_ended);
	metric_help(f, "aegis_visibility_flows", "gauge", "Flows in the agent's table.");
	fprintf(f, "aegis_visibility_flows{state=\"open\"} %zu\n", V.flows.n_open);
	fprintf(f, "aegis_visibility_flows{state=\"closed\"} %zu\n", V.flows.n_closed);
	metric_one(f, "aegis_visibility_frames_total", "counter", "Frames published.", V.frames);
}

/* ---- API ---------------------------------------------------------------------------------- */

static bool parse_filters(struct api_request *req, struct api_response *resp, uint64_t *pid,
			  struct vis_ident *id, bool *by_id)
{
	const char *eid = api_query(req, "exec_id");
	int err;

	*pid = 0;
	*by_id = false;
	if (!api_query_u64(req, "pid", UINT32_MAX, pid, resp))
		return false;
	if (!eid)
		return true;
	err = vis_exec_id_parse(&V.procs, eid, id);
	if (err) {
		api_error(resp, 400, "exec_id: '%s' is %s", eid, err == -ESRCH ? "from another boot of this host" :
			  "not an exec_id (38 characters of base64url)");
		return false;
	}
	*by_id = true;
	return true;
}

static bool not_running(struct api_response *resp)
{
	if (V.running)
		return false;
	api_error(resp, 404, "visibility is not running (visibility.enabled)");
	return true;
}


static void get_processes(struct api_request *req, struct api_response *resp)
{
	const char *all = api_query(req, "all");
	json_t *list;
	struct vis_ident id;
	struct vis_process *p;
	uint64_t pid;
	bool by_id;
	size_t it = 0;

	if (not_running(resp) || !parse_filters(req, resp, &pid, &id, &by_id))
		return;
	refresh();	/* an answer as of now: a process that just exited shows its exit */
	list = json_array();
	while ((p = hmap_next(&V.procs.by_id, &it))) {
		bool wanted = by_id ? p->id.ktime == id.ktime && p->id.tgid == id.tgid :
			      pid ? p->id.tgid == pid : p->state == VIS_PS_RUNNING || (all && streq(all, "1"));
		json_t *j;

		if (!wanted)
			continue;
		j = vis_process_json(&V.procs, p);
		if (pid || by_id)
			json_object_set_new(j, "ancestry", vis_ancestry_json(&V.procs, p));
		json_array_append_new(list, j);
	}
	resp->json = json_pack("{s:o}", "processes", list);
}

static void get_flows(struct api_request *req, struct api_response *resp)
{
	struct vis_ident id, owner;
	struct vis_flowrec *f;
	json_t *list;
	uint64_t pid;
	bool by_id;
	size_t it = 0;

	if (not_running(resp) || !parse_filters(req, resp, &pid, &id, &by_id))
		return;
	refresh();	/* counts as of now, not as of the last frame */
	list = json_array();
	while ((f = hmap_next(&V.flows.by_key, &it))) {
		bool has = vis_flow_owner(f, &owner);

		if (by_id && !(has && owner.tgid == id.tgid && owner.ktime == id.ktime))
			continue;
		if (pid && !(has && owner.tgid == pid))
			continue;
		json_array_append_new(list, vis_flow_json(&V.procs, f));
	}
	resp->json = json_pack("{s:o}", "flows", list);
}

static void get_frame(struct api_request *req, struct api_response *resp)
{
	if (not_running(resp))
		return;
	if (!V.last_frame) {
		api_error(resp, 404, "no frame yet: the first comes %llus after the start",
			  (unsigned long long)(V.frame_interval_ns / NSEC_PER_SEC));
		return;
	}
	resp->json = json_incref(V.last_frame);
}

static void get_visibility(struct api_request *req, struct api_response *resp)
{
	resp->json = vis_status();
}

static const struct api_route vis_routes[] = {
	{ .method = "GET", .path = "/v1/visibility", .fn = get_visibility },
	{ .method = "GET", .path = "/v1/visibility/processes", .fn = get_processes },
	{ .method = "GET", .path = "/v1/visibility/flows", .fn = get_flows },
	{ .method = "GET", .path = "/v1/visibility/frame", .fn = get_frame },
	{},
};

const struct agent_module visibility_module = {
	.name = "visibility",
	.start = vis_start,
	.reconfigure = vis_reconfigure,
	.stop = vis_stop,
	.tick = vis_tick,
	.poll_fds = vis_poll_fds,
	.on_readable = vis_on_readable,
	.status = vis_status,
	.metrics = vis_metrics,
	.objects = vis_objects,
	.attachments = vis_attachments,
	.routes = vis_routes,
};
