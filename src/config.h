/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef AEGIS_CONFIG_H
#define AEGIS_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "diag.h"
#include "log.h"

enum guard_mode {
	GUARD_MODE_OBSERVE,	/* count what would be dropped, drop nothing */
	GUARD_MODE_BLOCK,
};

enum xdp_attach_mode {
	XDP_ATTACH_AUTO,	/* native where the driver supports it, else generic (logged) */
	XDP_ATTACH_NATIVE,
	XDP_ATTACH_GENERIC,
};

/* Which twin of the visibility tracepoint programs runs. */
enum vis_tracing {
	VIS_TRACING_AUTO,	/* tp_btf where the probe says it works, else raw_tp (logged) */
	VIS_TRACING_TP_BTF,
	VIS_TRACING_RAW_TP,
};

/* Which flows become "flow" events (frames list them all the same). */
enum vis_flow_events {
	VIS_FLOW_EVENTS_CLOSED,	/* one per flow, when it closes, with its final counts */
	VIS_FLOW_EVENTS_ALL,	/* also one when a flow is first seen */
	VIS_FLOW_EVENTS_NONE,
};

enum exit_action {
	EXIT_KEEP,		/* SIGTERM leaves programs attached and pinned */
	EXIT_DETACH,		/* SIGTERM detaches and unpins, like --cleanup */
};

enum policy_tc_attach {
	POLICY_TC_AUTO,		/* tcx links where the kernel has them, else netlink clsact (logged) */
	POLICY_TC_TCX,
	POLICY_TC_NETLINK,
};

/* How the monitors' programs attach: tp_btf where it works, or raw_tp (monitors.attach). */
enum mon_attach_mode {
	MON_ATTACH_AUTO,
	MON_ATTACH_TP_BTF,
	MON_ATTACH_RAW_TP,
};

/* Interface name meaning "the interface of the IPv4 (else IPv6) default route". */
#define IFACE_DEFAULT_ROUTE "default-route"

struct cfg_cidr {
	struct cidr cidr;
	int line;		/* where it was written, for messages */
};

struct aegis_config {
	char *source;		/* file path, or "<embedded>" */

	/* agent: */
	char *socket_path;
	char *socket_group;	/* group owning the socket: its members may connect and read */
	char *admin_group;	/* members may also change state; NULL: only root may */
	char *listen_tcp;	/* NULL, or "127.0.0.1:PORT" / "[::1]:PORT" (loopback only) */
	char *token_file;	/* required when listen_tcp is set */
	char *state_dir;
	char *audit_log;
	enum log_level log_level;
	enum exit_action on_exit;

	/* bpf: */
	char *pin_root;
	char *object_dir;	/* NULL: the objects embedded in the binary */
	bool bpf_stats;		/* kernel run-time statistics while the agent runs */
	uint32_t max_insns;	/* refuse objects whose programs are larger */

	/* guard: */
	bool guard_enabled;
	char **guard_ifaces;	/* names, or IFACE_DEFAULT_ROUTE */
	size_t n_guard_ifaces;
	enum guard_mode guard_mode;
	enum xdp_attach_mode guard_xdp_mode;
	struct cfg_cidr *guard_allow;
	size_t n_guard_allow;
	struct cfg_cidr *guard_block;
	size_t n_guard_block;
	uint32_t guard_malformed_action;	/* GUARD_ACTION_*, in block mode */
	uint32_t guard_later_fragment_action;

	/* guard.rate_limit: per source prefix, per class (enum guard_rl_class order). */
	uint32_t rl_prefix_v4, rl_prefix_v6;
	struct cfg_rate {
		uint32_t pps, bps, burst_packets, burst_bytes;	/* 0 = off / one second's worth */
	} rl[4];
	uint64_t rl_auto_block_after_ns;	/* over the limit this long: auto-block; 0 = never */
	uint64_t rl_auto_block_ttl_ns;

	/* guard.sampling: drop records to user space. */
	uint32_t sample_every;			/* 1 in N drops; 0 = none */
	uint32_t sample_max_per_sec, sample_burst;

	/* guard.top: one in top_every packets sampled into the per-source counters; 0 = off. */
	uint32_t top_every;

	/* Entries each list map holds; a full list is an error naming the key to raise. */
	uint32_t guard_cap_block_v4, guard_cap_block_v6;
	uint32_t guard_cap_allow_v4, guard_cap_allow_v6;
	uint32_t guard_cap_block_scoped_v4, guard_cap_block_scoped_v6;

	/* policy: network policy enforcement (docs/policy.md). */
	bool policy_enabled;
	char **policy_ifaces;		/* ingress interfaces of policies without selector.interfaces */
	size_t n_policy_ifaces;
	bool policy_tc;			/* attach TC programs (false: --no-tc) */
	bool policy_cgroup;		/* attach cgroup programs (false: --no-cg) */
	bool policy_dry_run;		/* every policy observes (--dry-run) */
	enum policy_tc_attach policy_tc_attach;
	uint32_t policy_events_per_sec, policy_events_burst;
	uint64_t policy_flow_tcp_ns, policy_flow_udp_ns, policy_flow_other_ns;
	uint32_t policy_cap_policies, policy_cap_rules, policy_cap_cells;
	uint32_t policy_cap_prefixes_v4, policy_cap_prefixes_v6;
	uint32_t policy_cap_cgroups, policy_cap_flows;
	/* monitors: each one on or off (indexed by MON_RUNQ.. in aegis/monitors.h). */
	enum mon_attach_mode mon_attach;
	bool mon_enabled[4];
	bool mon_alloc_failures;	/* mem: also hook every page allocation (kmem:mm_page_alloc) */
	char **mon_runq_cgroups;	/* cgroup v2 paths ("/system.slice/x.service") */
	size_t n_mon_runq_cgroups;
	/* visibility: processes and flows (src/visibility.c). */
	bool vis_enabled;
	enum vis_tracing vis_tracing;
	uint64_t vis_frame_interval_ns;
	uint64_t vis_exited_retention_ns;	/* ended processes stay this long */
	uint64_t vis_flow_retention_ns;		/* closed flows stay this long */
	uint64_t vis_flow_idle_ns;		/* a UDP flow without packets this long is closed */
	uint32_t vis_args_max;			/* bytes of arguments per exec */
	uint32_t vis_frame_max_items;		/* per list of a frame */
	enum vis_flow_events vis_flow_events;
	uint32_t vis_ring_kb;			/* vis_events ring buffer, KiB (a power of two) */
	uint32_t vis_cap_processes, vis_cap_flows, vis_cap_sockets;
};

/* The embedded default configuration text (src/default.yaml), NUL-terminated. */
const char *config_default_text(void);

/*
 * Parses and validates a whole configuration; every problem is added to `d` with file:line:column
 * and the key (YAML syntax, unknown keys, wrong types, bad values, bad CIDRs). Unset keys take
 * their defaults. Returns 0, or -EINVAL when `d` holds errors (then `cfg` is left zeroed).
 */
int config_parse(const char *text, size_t len, const char *source, struct aegis_config *cfg,
		 struct diags *d);
/* Reads `path` (NULL: the embedded default) and parses it; -errno for I/O errors (also in d). */
int config_load(const char *path, struct aegis_config *cfg, struct diags *d);
void config_free(struct aegis_config *cfg);
/* The configuration in force, as the API and `aegis status` show it. */
json_t *config_to_json(const struct aegis_config *cfg);

const char *guard_mode_name(enum guard_mode m);
int guard_mode_parse(const char *s, enum guard_mode *m);
const char *xdp_attach_mode_name(enum xdp_attach_mode m);
const char *policy_tc_attach_name(enum policy_tc_attach a);
const char *mon_attach_mode_name(enum mon_attach_mode m);
const char *vis_tracing_name(enum vis_tracing t);

/* `aegis config default | check FILE... | show [FILE]` */
int cmd_config(int argc, char **argv);

#endif
