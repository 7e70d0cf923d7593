// SPDX-License-Identifier: GPL-2.0-only
/*
 * Reading the monitors' maps: per-CPU values summed over the CPUs, device and interface names,
 * drop reasons named from the kernel's BTF; as JSON for the API and as Prometheus metrics.
 * Nothing here writes a counter: every value is cumulative, and readers take differences.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "hist.h"
#include "log.h"
#include "module.h"
#include "monitors.h"
#include "util.h"

static const char *const io_op_names[MON_IO_OPS] = {
	[MON_IO_OP_READ] = "read",
	[MON_IO_OP_WRITE] = "write",
	[MON_IO_OP_FLUSH] = "flush",
	[MON_IO_OP_DISCARD] = "discard",
	[MON_IO_OP_OTHER] = "other",
};

static const char *const reclaim_names[MON_RECLAIM_KINDS] = {
	[MON_RECLAIM_DIRECT] = "direct",
	[MON_RECLAIM_MEMCG] = "memcg",
};

static int ncpus(void)
{
	static int n;

	if (!n)
		n = libbpf_num_possible_cpus();
	return n;
}

/* One per-CPU value (of value_size bytes) summed over the CPUs as u64 words. */
static int percpu_sum(int fd, const void *key, size_t value_size, void *out)
{
	int n = ncpus();
	size_t words = value_size / 8;
	uint64_t *buf, *sum = out;

	if (n <= 0)
		return -EINVAL;
	buf = calloc((size_t)n, value_size);
	if (!buf)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, key, buf)) {
		int err = -errno;

		free(buf);
		return err;
	}
	memset(out, 0, value_size);
	for (int c = 0; c < n; c++)
		for (size_t w = 0; w < words; w++)
			sum[w] += buf[(size_t)c * words + w];
	free(buf);
	return 0;
}

int mon_percpu_sum_u64(int map_fd, const void *key, size_t n_u64, uint64_t *out)
{
	return percpu_sum(map_fd, key, n_u64 * 8, out);
}

static int map_fd(struct monitors *m, const char *name)
{
	return bpfobj_map_fd(&m->obj, name);
}

static json_t *mhist_json(const struct mon_hist *h)
{
	return hist_json((const uint64_t *)h->slots, MON_HIST_SLOTS, h->sum_ns);
}

/* ---- names ------------------------------------------------------------------------------- */

void mon_dev_name(uint32_t dev, char *buf, size_t len)
{
	unsigned major = dev >> 20, minor = dev & ((1u << 20) - 1);
	char path[64], *text = NULL, *name;
	size_t n;

	snprintf(buf, len, "%u:%u", major, minor);
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", major, minor);
	if (read_file(path, &text, &n))
		return;
	name = strstr(text, "DEVNAME=");
	if (name) {
		name += 8;
		name[strcspn(name, "\n")] = '\0';
		snprintf(buf, len, "%s", name);
	}
	free(text);
}

int mon_load_drop_reasons(struct monitors *m)
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_type *t;
	const struct btf_enum *e;
	uint32_t max = 0;
	int id;

	if (!btf) {
		log_once(LOG_LVL_WARN, "monitors-drop-names", "monitors: no kernel BTF: drop reasons are "
			 "shown as numbers");
		return -ENOENT;
	}
	id = btf__find_by_name_kind(btf, "skb_drop_reason", BTF_KIND_ENUM);
	t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	if (!t) {
		log_once(LOG_LVL_WARN, "monitors-drop-names", "monitors: the kernel's BTF has no enum "
			 "skb_drop_reason: drop reasons are shown as numbers");
		btf__free(btf);
		return -ENOENT;
	}
	e = btf_enum(t);
	for (int i = 0; i < btf_vlen(t); i++)
		if ((uint32_t)e[i].val > max && (uint32_t)e[i].val < 65536)
			max = (uint32_t)e[i].val;
	m->drop_reasons = calloc(max + 1, sizeof(char *));
	if (m->drop_reasons) {
		m->n_drop_reasons = max + 1;
		for (int i = 0; i < btf_vlen(t); i++) {
			const char *name = btf__name_by_offset(btf, e[i].name_off);
			uint32_t v = (uint32_t)e[i].val;

			if (v > max || !name || m->drop_reasons[v])
				continue;
			if (!strncmp(name, "SKB_DROP_REASON_", 16))
				name += 16;
			m->drop_reasons[v] = strdup(name);
		}
	}
	btf__free(btf);
	return 0;
}

const char *mon_drop_reason_name(const struct monitors *m, uint32_t reason, char *buf, size_t len)
{
	if (reason < m->n_drop_reasons && m->drop_reasons[reason])
		return m->drop_reasons[reason];
	/* Subsystem reasons (mac80211, openvswitch...) carry the subsystem in the upper 16 bits. */
	snprintf(buf, len, "reason_%u", reason);
	return buf;
}

uint32_t mon_gfp_nowarn_mask(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	uint32_t mask = 0x2000;	/* ___GFP_NOWARN on 4.x..6.9, before the bits became an enum */
	int n;

	if (!btf)
		return mask;
	n = (int)btf__type_cnt(btf);
	for (int id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		const struct btf_enum *e;

		if (!btf_is_enum(t))
			continue;
		e = btf_enum(t);
		for (int i = 0; i < btf_vlen(t); i++)
			if (streq(btf__name_by_offset(btf, e[i].name_off), "___GFP_NOWARN_BIT")) {
				mask = 1u << e[i].val;
				btf__free(btf);
				return mask;
			}
	}
	btf__free(btf);
	return mask;
}

/* ---- runq ------------------------------------------------------------------------------- */

static json_t *runq_json(struct monitors *m, size_t top, unsigned window)
{
	json_t *cpus = json_array(), *cgroups = json_array(), *j;
	int hist_fd = map_fd(m, "mon_runq_hist"), csw_fd = map_fd(m, "mon_cswitch"), n = ncpus();
	struct mon_hist h;
	uint32_t key = 0;

	if (percpu_sum(hist_fd, &key, sizeof(h), &h))
		memset(&h, 0, sizeof(h));
	j = json_pack("{s:o}", "latency", mhist_json(&h));
	for (size_t i = 0; i < m->n_cgroups; i++) {
		key = (uint32_t)i + 1;
		if (percpu_sum(hist_fd, &key, sizeof(h), &h))
			memset(&h, 0, sizeof(h));
		json_array_append_new(cgroups, json_pack("{s:s, s:I, s:o}", "cgroup", m->cgroups[i].path,
							 "id", (json_int_t)m->cgroups[i].id, "latency",
							 mhist_json(&h)));
	}
	json_object_set_new(j, "cgroups", cgroups);
	/* Context switches per CPU: the per-CPU values are the answer, not summed. */
	if (n > 0) {
		uint64_t *v = calloc((size_t)n * MON_CSW_KINDS, sizeof(uint64_t));

		for (uint32_t kind = 0; v && kind < MON_CSW_KINDS; kind++)
			if (bpf_map_lookup_elem(csw_fd, &kind, v + (size_t)kind * (size_t)n))
				memset(v + (size_t)kind * (size_t)n, 0, (size_t)n * 8);
		for (int c = 0; v && c < n; c++)
			json_array_append_new(cpus, json_pack("{s:i, s:I, s:I}", "cpu", c, "voluntary",
							      (json_int_t)v[c], "involuntary",
							      (json_int_t)v[(size_t)n + (size_t)c]));
		free(v);
	}
	json_object_set_new(j, "context_switches", cpus);
	if (m->iter_link_fd >= 0 && m->tasks)
		json_object_set_new(j, "top_tasks", mon_tasks_top(m->tasks, top, window));
	else
		json_object_set_new(j, "top_tasks", json_pack("{s:s}", "unavailable",
			m->raw ? "needs the tp_btf build (a BPF task iterator)" : "the task iterator could not be created"));
	return j;
}

/* ---- io --------------------------------------------------------------------------------- */

static json_t *io_json(struct monitors *m)
{
	int fd = map_fd(m, "mon_io");
	struct mon_io_key key, next;
	struct mon_io_stats st;
	json_t *devs = json_array();
	uint64_t overflow = 0, unmatched = 0;
	uint32_t k_overflow = MON_IO_OVERFLOW, k_unmatched = MON_IO_UNMATCHED;
	bool first = true;
	char name[64], majmin[24];

	while (bpf_map_get_next_key(fd, first ? NULL : &key, &next) == 0) {
		first = false;
		key = next;
		if (percpu_sum(fd, &key, sizeof(st), &st))
			continue;
		mon_dev_name(key.dev, name, sizeof(name));
		snprintf(majmin, sizeof(majmin), "%u:%u", key.dev >> 20, key.dev & ((1u << 20) - 1));
		json_array_append_new(devs, json_pack("{s:s, s:s, s:s, s:o, s:I, s:I}", "device", name,
			"dev", majmin, "op",
			key.op < MON_IO_OPS ? io_op_names[key.op] : "other", "latency", mhist_json(&st.lat),
			"bytes", (json_int_t)st.bytes, "errors", (json_int_t)st.errors));
	}
	mon_percpu_sum_u64(map_fd(m, "mon_io_overflow"), &k_overflow, 1, &overflow);
	mon_percpu_sum_u64(map_fd(m, "mon_io_overflow"), &k_unmatched, 1, &unmatched);
	return json_pack("{s:o, s:I, s:I}", "devices", devs, "overflow", (json_int_t)overflow,
			 "unmatched", (json_int_t)unmatched);
}

/* ---- mem -------------------------------------------------------------------------------- */

static json_t *mem_json(struct monitors *m)
{
	struct mon_hist h;
	struct mon_mem_counters mc;
	json_t *reclaim = json_object(), *orders = json_array();
	uint64_t total[2] = {};
	uint32_t zero = 0;
	int n = ncpus();
	struct mon_alloc_fail *v = n > 0 ? calloc((size_t)n, sizeof(*v)) : NULL, last = {};

	for (uint32_t k = 0; k < MON_RECLAIM_KINDS; k++) {
		if (percpu_sum(map_fd(m, "mon_reclaim_hist"), &k, sizeof(h), &h))
			memset(&h, 0, sizeof(h));
		json_object_set_new(reclaim, reclaim_names[k], mhist_json(&h));
	}
	if (!v || bpf_map_lookup_elem(map_fd(m, "mon_alloc_fail"), &zero, v))
		n = 0;
	for (int o = 0; o < MON_MAX_ORDER; o++) {
		uint64_t f[2] = {};

		for (int c = 0; c < n; c++)
			for (int w = 0; w < 2; w++)
				f[w] += v[c].failures[o][w];
		total[0] += f[0];
		total[1] += f[1];
		json_array_append_new(orders, json_pack("{s:i, s:I, s:I}", "order", o, "failures",
							(json_int_t)f[0], "nowarn", (json_int_t)f[1]));
	}
	for (int c = 0; c < n; c++)
		if (v[c].last_ns > last.last_ns)
			last = v[c];
	free(v);
	if (percpu_sum(map_fd(m, "mon_mem"), &zero, sizeof(mc), &mc))
		memset(&mc, 0, sizeof(mc));
	{
		char comm[17];

		memcpy(comm, last.last_comm, 16);
		comm[16] = '\0';
		return json_pack("{s:o, s:{s:b, s:I, s:I, s:o, s:o}, s:I, s:I, s:I}", "reclaim_stalls", reclaim,
				 "page_alloc_failures", "enabled", m->alloc_failures, "failures", (json_int_t)total[0], "nowarn",
				 (json_int_t)total[1], "by_order", orders, "last",
				 last.last_ns ? json_pack("{s:i, s:s, s:i, s:I}", "pid", (int)last.last_pid,
							  "comm", comm, "order", (int)last.last_order,
							  "gfp", (json_int_t)last.last_gfp) : json_null(),
				 "oom_kills", (json_int_t)mc.oom_kills, "oom_events_lost",
				 (json_int_t)mc.events_lost, "oom_events_published", (json_int_t)m->oom_events);
	}
}

/* ---- net -------------------------------------------------------------------------------- */

/* The interface's name in the agent's namespace; false when it is gone. */
static bool ifname(uint32_t ifindex, char *buf)
{
	if (!ifindex) {
		snprintf(buf, IF_NAMESIZE, "-");
		return true;
	}
	return if_indextoname(ifindex, buf) != NULL;
}

/*
 * The interfaces as their devices count them, read from the kernel now (one netlink dump). A
 * failed read is said in the answer and logged once, never shown as zeros.
 */
static void add_interfaces(json_t *j)
{
	struct mon_links ls = {};
	json_t *ifs = json_array();
	int err = mon_links_read(&ls);

	if (err) {
		log_once(LOG_LVL_WARN, "monitors-links", "monitors: cannot read the interface counters "
			 "(netlink RTM_GETLINK dump): %s", errstr(err));
		json_object_set_new(j, "interfaces_error", json_sprintf("netlink RTM_GETLINK dump: %s",
									 errstr(err)));
	}
	if (ls.malformed)
		log_once(LOG_LVL_WARN, "monitors-links-malformed", "monitors: %zu malformed link "
			 "messages in a netlink dump were skipped", ls.malformed);
	for (size_t i = 0; !err && i < ls.n; i++) {
		const struct mon_link *l = &ls.v[i];

		json_array_append_new(ifs, json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			"device", l->name, "ifindex", (int)l->ifindex,
			"rx_packets", (json_int_t)l->rx_packets, "rx_bytes", (json_int_t)l->rx_bytes,
			"rx_errors", (json_int_t)l->rx_errors, "rx_dropped", (json_int_t)l->rx_dropped,
			"tx_packets", (json_int_t)l->tx_packets, "tx_bytes", (json_int_t)l->tx_bytes,
			"tx_errors", (json_int_t)l->tx_errors, "tx_dropped", (json_int_t)l->tx_dropped));
	}
	json_object_set_new(j, "interfaces", ifs);
	mon_links_free(&ls);
}

static json_t *net_json(struct monitors *m)
{
	int dfd = map_fd(m, "mon_drops");
	json_t *drops = json_array(), *j;
	struct mon_drop_key dkey, dnext;
	struct mon_net_counters nc;
	char name[IF_NAMESIZE], rbuf[32];
	uint32_t zero = 0;
	bool first = true;

	while (bpf_map_get_next_key(dfd, first ? NULL : &dkey, &dnext) == 0) {
		uint64_t count;

		first = false;
		dkey = dnext;
		if (!ifname(dkey.ifindex, name) || mon_percpu_sum_u64(dfd, &dkey, 1, &count))
			continue;
		json_array_append_new(drops, json_pack("{s:s, s:i, s:s, s:i, s:I}", "device", name,
			"ifindex", (int)dkey.ifindex, "reason",
			mon_drop_reason_name(m, dkey.reason, rbuf, sizeof(rbuf)), "reason_code",
			(int)dkey.reason, "packets", (json_int_t)count));
	}
	if (percpu_sum(map_fd(m, "mon_net"), &zero, sizeof(nc), &nc))
		memset(&nc, 0, sizeof(nc));
	j = json_pack("{s:I, s:o, s:{s:I, s:I}, s:I}", "netns", (json_int_t)m->netns_ino,
		      "drops", drops, "tcp_retransmits", "ipv4",
		      (json_int_t)nc.tcp_retransmits[MON_TCP_V4], "ipv6",
		      (json_int_t)nc.tcp_retransmits[MON_TCP_V6], "drops_overflow",
		      (json_int_t)nc.drops_overflow);
	add_interfaces(j);
	return j;
}

void monitors_forget_gone_ifaces(struct monitors *m)
{
	int dfd = map_fd(m, "mon_drops");
	struct mon_drop_key dkey, dnext;
	char name[IF_NAMESIZE];

	/* Deleting the current key would restart the walk: step first, then delete. */
	if (bpf_map_get_next_key(dfd, NULL, &dkey) == 0) {
		for (bool more = true; more; dkey = dnext) {
			more = bpf_map_get_next_key(dfd, &dkey, &dnext) == 0;
			if (!ifname(dkey.ifindex, name))
				bpf_map_delete_elem(dfd, &dkey);
		}
	}
}

/* ---- JSON --------------------------------------------------------------------------------- */

json_t *monitors_json(struct monitors *m, int mon, size_t top, unsigned window)
{
	json_t *j;

	if (!m->running || !m->enabled[mon]) {
		j = json_pack("{s:s, s:b}", "monitor", mon_names[mon], "enabled", 0);
		if (m->unavailable[mon])
			json_object_set_new(j, "unavailable", json_string(m->unavailable[mon]));
		return j;
	}
	switch (mon) {
	case MON_RUNQ:
		j = runq_json(m, top, window);
		break;
	case MON_IO:
		j = io_json(m);
		break;
	case MON_MEM:
		j = mem_json(m);
		break;
	default:
		j = net_json(m);
		break;
	}
	json_object_set_new(j, "monitor", json_string(mon_names[mon]));
	json_object_set_new(j, "enabled", json_true());
	json_object_set_new(j, "unit", json_string("histograms: log2 microsecond slots, sum in ns"));
	return j;
}

json_t *monitors_status_json(const struct monitors *m)
{
	json_t *mons = json_object();

	for (int mon = 0; mon < MON_COUNT; mon++) {
		json_t *s = json_pack("{s:b}", "enabled", m->running && m->enabled[mon]);

		if (m->unavailable[mon])
			json_object_set_new(s, "unavailable", json_string(m->unavailable[mon]));
		json_object_set_new(mons, mon_names[mon], s);
	}
	return json_pack("{s:b, s:s, s:o}", "running", m->running, "attach",
			 !m->running ? "-" : m->raw ? "raw_tp" : "tp_btf", "monitors", mons);
}

/* ---- Prometheus ------------------------------------------------------------------------------ */

static void hist_family(FILE *f, const char *name, const char *help)
{
	metric_help(f, name, "histogram", help);
}

static void runq_metrics(struct monitors *m, FILE *f, json_t *j)
{
	json_t *c;
	size_t i;
	uint64_t slots[MON_HIST_SLOTS], sum;
	char label[4200], esc[4150];

	hist_family(f, "aegis_runqueue_latency_seconds",
		    "Time tasks waited on a run queue before they ran (whole host).");
	if (!hist_from_json(json_object_get(j, "latency"), slots, MON_HIST_SLOTS, &sum))
		hist_prometheus(f, "aegis_runqueue_latency_seconds", "", slots, MON_HIST_SLOTS, sum);
	if (json_array_size(json_object_get(j, "cgroups"))) {
		hist_family(f, "aegis_cgroup_runqueue_latency_seconds",
			    "Time the tasks of a configured cgroup (and those below it) waited on a run queue.");
		json_array_foreach(json_object_get(j, "cgroups"), i, c) {
			prom_label_escape(json_string_value(json_object_get(c, "cgroup")), esc, sizeof(esc));
			snprintf(label, sizeof(label), "cgroup=\"%s\"", esc);
			if (!hist_from_json(json_object_get(c, "latency"), slots, MON_HIST_SLOTS, &sum))
				hist_prometheus(f, "aegis_cgroup_runqueue_latency_seconds", label, slots,
						MON_HIST_SLOTS, sum);
		}
	}
	metric_help(f, "aegis_context_switches_total", "counter",
		    "Context switches per CPU: voluntary (the task blocked) or involuntary (preempted).");
	json_array_foreach(json_object_get(j, "context_switches"), i, c) {
		long long cpu = json_integer_value(json_object_get(c, "cpu"));

		fprintf(f, "aegis_context_switches_total{cpu=\"%lld\",kind=\"voluntary\"} %lld\n", cpu,
			(long long)json_integer_value(json_object_get(c, "voluntary")));
		fprintf(f, "aegis_context_switches_total{cpu=\"%lld\",kind=\"involuntary\"} %lld\n", cpu,
			(long long)json_integer_value(json_object_get(c, "involuntary")));
	}
}

static void io_metrics(FILE *f, json_t *j)
{
	static const struct { const char *name, *type, *help; } fam[] = {
		{ "aegis_disk_io_latency_seconds", "histogram", "Block I/O latency from issue to completion, by device and operation." },
		{ "aegis_disk_io_bytes_total", "counter", "Bytes of completed block I/O, by device and operation." },
		{ "aegis_disk_io_errors_total", "counter", "Block I/O requests completed with an error, by device and operation." },
	};
	json_t *d;
	size_t i;
	uint64_t slots[MON_HIST_SLOTS], sum;
	char label[160];

	for (size_t k = 0; k < ARRAY_SIZE(fam); k++) {
		metric_help(f, fam[k].name, fam[k].type, fam[k].help);
		json_array_foreach(json_object_get(j, "devices"), i, d) {
			snprintf(label, sizeof(label), "device=\"%s\",op=\"%s\"",
				 json_string_value(json_object_get(d, "device")),
				 json_string_value(json_object_get(d, "op")));
			if (k == 0 && !hist_from_json(json_object_get(d, "latency"), slots, MON_HIST_SLOTS, &sum))
				hist_prometheus(f, fam[k].name, label, slots, MON_HIST_SLOTS, sum);
			else if (k > 0)
				fprintf(f, "%s{%s} %lld\n", fam[k].name, label,
					(long long)json_integer_value(json_object_get(d, k == 1 ? "bytes" : "errors")));
		}
	}
}

static void mem_metrics(FILE *f, json_t *j, bool alloc_failures)
{
	json_t *o, *pf = json_object_get(j, "page_alloc_failures");
	uint64_t slots[MON_HIST_SLOTS], sum;
	size_t i;

	hist_family(f, "aegis_memory_reclaim_stall_seconds",
		    "Time tasks spent reclaiming memory themselves: direct (the system) or memcg (a cgroup's limit).");
	for (int k = 0; k < MON_RECLAIM_KINDS; k++) {
		char label[32];

		snprintf(label, sizeof(label), "kind=\"%s\"", reclaim_names[k]);
		if (!hist_from_json(json_object_get(json_object_get(j, "reclaim_stalls"), reclaim_names[k]),
				    slots, MON_HIST_SLOTS, &sum))
			hist_prometheus(f, "aegis_memory_reclaim_stall_seconds", label, slots, MON_HIST_SLOTS, sum);
	}
	if (!alloc_failures)
		goto oom;
	metric_help(f, "aegis_memory_page_alloc_failures_total", "counter",
		    "Page allocations that returned no page, by order; nowarn=\"true\": the caller expected it might (__GFP_NOWARN).");
	json_array_foreach(json_object_get(pf, "by_order"), i, o) {
		long long order = json_integer_value(json_object_get(o, "order"));

		fprintf(f, "aegis_memory_page_alloc_failures_total{order=\"%lld\",nowarn=\"false\"} %lld\n", order,
			(long long)json_integer_value(json_object_get(o, "failures")));
		fprintf(f, "aegis_memory_page_alloc_failures_total{order=\"%lld\",nowarn=\"true\"} %lld\n", order,
			(long long)json_integer_value(json_object_get(o, "nowarn")));
	}
oom:
	metric_help(f, "aegis_memory_oom_kills_total", "counter", "Tasks the OOM killer chose (oom:mark_victim).");
	fprintf(f, "aegis_memory_oom_kills_total %lld\n", (long long)json_integer_value(json_object_get(j, "oom_kills")));
}

static void net_metrics(FILE *f, json_t *j)
{
	/* node_exporter's node_network_* names; the values are the device's own counters. */
	static const struct { const char *name, *field, *help; } fam[] = {
		{ "aegis_network_receive_packets_total", "rx_packets", "Packets received, by interface, as the device counts them (rtnl_link_stats64)." },
		{ "aegis_network_receive_bytes_total", "rx_bytes", "Bytes received, by interface, as the device counts them (rtnl_link_stats64)." },
		{ "aegis_network_receive_errors_total", "rx_errors", "Receive errors, by interface, as the device counts them (rtnl_link_stats64)." },
		{ "aegis_network_receive_drop_total", "rx_dropped", "Received packets the device dropped, by interface (rtnl_link_stats64 rx_dropped)." },
		{ "aegis_network_transmit_packets_total", "tx_packets", "Packets transmitted, by interface, as the device counts them (rtnl_link_stats64)." },
		{ "aegis_network_transmit_bytes_total", "tx_bytes", "Bytes transmitted, by interface, as the device counts them (rtnl_link_stats64)." },
		{ "aegis_network_transmit_errors_total", "tx_errors", "Transmit errors, by interface, as the device counts them (rtnl_link_stats64)." },
		{ "aegis_network_transmit_drop_total", "tx_dropped", "Packets to transmit the device dropped, by interface (rtnl_link_stats64 tx_dropped)." },
	};
	char dev[IF_NAMESIZE * 2 + 2];
	json_t *x;
	size_t i;

	for (size_t k = 0; k < ARRAY_SIZE(fam); k++) {
		metric_help(f, fam[k].name, "counter", fam[k].help);
		json_array_foreach(json_object_get(j, "interfaces"), i, x) {
			prom_label_escape(json_string_value(json_object_get(x, "device")), dev, sizeof(dev));
			fprintf(f, "%s{device=\"%s\"} %lld\n", fam[k].name, dev,
				(long long)json_integer_value(json_object_get(x, fam[k].field)));
		}
	}
	metric_help(f, "aegis_network_drops_total", "counter",
		    "Packets the kernel dropped (skb:kfree_skb), by interface (\"-\": none) and the kernel's drop reason.");
	json_array_foreach(json_object_get(j, "drops"), i, x) {
		prom_label_escape(json_string_value(json_object_get(x, "device")), dev, sizeof(dev));
		fprintf(f, "aegis_network_drops_total{device=\"%s\",reason=\"%s\"} %lld\n", dev,
			json_string_value(json_object_get(x, "reason")),
			(long long)json_integer_value(json_object_get(x, "packets")));
	}
	metric_help(f, "aegis_tcp_retransmits_total", "counter", "TCP segments retransmitted, by address family.");
	x = json_object_get(j, "tcp_retransmits");
	fprintf(f, "aegis_tcp_retransmits_total{family=\"ipv4\"} %lld\naegis_tcp_retransmits_total{family=\"ipv6\"} %lld\n",
		(long long)json_integer_value(json_object_get(x, "ipv4")),
		(long long)json_integer_value(json_object_get(x, "ipv6")));
}

void monitors_metrics(struct monitors *m, FILE *f)
{
	metric_help(f, "aegis_monitor_enabled", "gauge", "1 while a monitor's hooks are attached.");
	for (int mon = 0; mon < MON_COUNT; mon++)
		fprintf(f, "aegis_monitor_enabled{monitor=\"%s\"} %d\n", mon_names[mon],
			m->running && m->enabled[mon]);
	for (int mon = 0; m->running && mon < MON_COUNT; mon++) {
		json_t *j;

		if (!m->enabled[mon])
			continue;
		j = monitors_json(m, mon, 0, 1);
		if (mon == MON_RUNQ)
			runq_metrics(m, f, j);
		else if (mon == MON_IO)
			io_metrics(f, j);
		else if (mon == MON_MEM)
			mem_metrics(f, j, m->alloc_failures);
		else
			net_metrics(f, j);
		json_decref(j);
	}
}
