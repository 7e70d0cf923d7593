// SPDX-License-Identifier: GPL-2.0-only
/*
 * Configuration: YAML text -> struct aegis_config. The whole document is walked even after a
 * problem so that `aegis config check` lists every mistake at once, each as
 * file:line:column: key: message. Only a YAML syntax error stops the walk: after one, libyaml
 * has no tree left to look at.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <yaml.h>

#include "aegis/guard.h"
#include "aegis/monitors.h"
#include "cli.h"
#include "config.h"
#include "iface.h"
#include "util.h"
#include "yamldoc.h"

/* src/default.yaml, linked in by src/embed.S. */
extern const char aegis_default_config[];

#define DEFAULT_SOCKET		"/run/aegis/aegis.sock"
#define DEFAULT_STATE_DIR	"/var/lib/aegis"
#define DEFAULT_AUDIT_LOG	"/var/log/aegis/audit.jsonl"
#define DEFAULT_PIN_ROOT	"/sys/fs/bpf/aegis"
#define MAX_INSNS_LIMIT		1000000		/* BPF_COMPLEXITY_LIMIT_INSNS */
#define EMBEDDED_SOURCE		"<embedded>"

/* Indexed by the enum values: the same tables parse and print. */
static const char *const guard_mode_names[] = {
	[GUARD_MODE_OBSERVE] = "observe",
	[GUARD_MODE_BLOCK] = "block",
	NULL,
};
static const char *const xdp_mode_names[] = {
	[XDP_ATTACH_AUTO] = "auto",
	[XDP_ATTACH_NATIVE] = "native",
	[XDP_ATTACH_GENERIC] = "generic",
	NULL,
};
static const char *const action_names[] = {
	[GUARD_ACTION_DROP] = "drop",
	[GUARD_ACTION_PASS] = "pass",
	NULL,
};

static const char *const policy_tc_attach_names[] = {
	[POLICY_TC_AUTO] = "auto",
	[POLICY_TC_TCX] = "tcx",
	[POLICY_TC_NETLINK] = "netlink",
	NULL,
};

static const char *const mon_attach_names[] = {
	[MON_ATTACH_AUTO] = "auto",
	[MON_ATTACH_TP_BTF] = "tp_btf",
	[MON_ATTACH_RAW_TP] = "raw_tp",
	NULL,
};

static const char *const vis_tracing_names[] = {
	[VIS_TRACING_AUTO] = "auto",
	[VIS_TRACING_TP_BTF] = "tp_btf",
	[VIS_TRACING_RAW_TP] = "raw_tp",
	NULL,
};

static const char *const vis_flow_events_names[] = {
	[VIS_FLOW_EVENTS_CLOSED] = "closed",
	[VIS_FLOW_EVENTS_ALL] = "all",
	[VIS_FLOW_EVENTS_NONE] = "none",
	NULL,
};

static const char *const exit_action_names[] = {
	[EXIT_KEEP] = "keep",
	[EXIT_DETACH] = "detach",
	NULL,
};

/* Enum fields are stored through a generic int-sized slot (see set_enum). */
_Static_assert(sizeof(enum guard_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(enum xdp_attach_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(enum exit_action) == sizeof(int), "enum size");
_Static_assert(sizeof(enum policy_tc_attach) == sizeof(int), "enum size");
_Static_assert(sizeof(enum mon_attach_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(((struct aegis_config *)0)->mon_enabled) == MON_COUNT * sizeof(bool), "one per monitor");
_Static_assert(sizeof(enum vis_tracing) == sizeof(int), "enum size");
_Static_assert(sizeof(enum vis_flow_events) == sizeof(int), "enum size");

enum val_type {
	V_SECTION,	/* mapping of keys in `sub` */
	V_PATH,		/* absolute path */
	V_GROUP,	/* existing group name */
	V_LISTEN,	/* loopback ADDRESS:PORT */
	V_ENUM,		/* one of `names` */
	V_LOGLEVEL,
	V_BOOL,
	V_U32,		/* min..max */
	V_IFACES,	/* list of interface names */
	V_CIDRS,	/* list of CIDRs */
	V_DURATION,	/* "10s", "5m": uint64_t ns, min..max seconds */
	V_CGROUPS,	/* list of cgroup v2 paths, at most `max` */
};

#define F_NULLABLE	(1u << 0)	/* "" (or null) stores NULL */
#define F_NOT_ROOT	(1u << 1)	/* a path that must not be "/" itself */
#define F_POW2		(1u << 2)	/* V_U32: a power of two */

struct key_spec {
	const char *name;
	enum val_type type;
	unsigned int flags;
	size_t off;			/* field in struct aegis_config */
	size_t n_off;			/* its count, for lists */
	const char *const *names;	/* V_ENUM */
	uint32_t min, max;		/* V_U32 */
	const struct key_spec *sub;	/* V_SECTION */
	size_t n_sub;
};

#define FIELD(f) offsetof(struct aegis_config, f)

static const struct key_spec agent_keys[] = {
	{ .name = "socket", .type = V_PATH, .off = FIELD(socket_path) },
	{ .name = "socket_group", .type = V_GROUP, .flags = F_NULLABLE, .off = FIELD(socket_group) },
	{ .name = "admin_group", .type = V_GROUP, .flags = F_NULLABLE, .off = FIELD(admin_group) },
	{ .name = "listen_tcp", .type = V_LISTEN, .flags = F_NULLABLE, .off = FIELD(listen_tcp) },
	{ .name = "token_file", .type = V_PATH, .flags = F_NULLABLE, .off = FIELD(token_file) },
	{ .name = "state_dir", .type = V_PATH, .off = FIELD(state_dir) },
	{ .name = "audit_log", .type = V_PATH, .off = FIELD(audit_log) },
	{ .name = "log_level", .type = V_LOGLEVEL, .off = FIELD(log_level) },
	{ .name = "on_exit", .type = V_ENUM, .off = FIELD(on_exit), .names = exit_action_names },
};

static const struct key_spec bpf_keys[] = {
	{ .name = "pin_root", .type = V_PATH, .flags = F_NOT_ROOT, .off = FIELD(pin_root) },
	{ .name = "object_dir", .type = V_PATH, .flags = F_NULLABLE, .off = FIELD(object_dir) },
	{ .name = "stats", .type = V_BOOL, .off = FIELD(bpf_stats) },
	{ .name = "max_insns", .type = V_U32, .off = FIELD(max_insns), .min = 1, .max = MAX_INSNS_LIMIT },
};

#define CAPACITY_MAX 16000000u

static const struct key_spec capacity_keys[] = {
	{ .name = "block_v4", .type = V_U32, .off = FIELD(guard_cap_block_v4), .min = 1, .max = CAPACITY_MAX },
	{ .name = "block_v6", .type = V_U32, .off = FIELD(guard_cap_block_v6), .min = 1, .max = CAPACITY_MAX },
	{ .name = "allow_v4", .type = V_U32, .off = FIELD(guard_cap_allow_v4), .min = 1, .max = CAPACITY_MAX },
	{ .name = "allow_v6", .type = V_U32, .off = FIELD(guard_cap_allow_v6), .min = 1, .max = CAPACITY_MAX },
	{ .name = "block_scoped_v4", .type = V_U32, .off = FIELD(guard_cap_block_scoped_v4), .min = 1, .max = CAPACITY_MAX },
	{ .name = "block_scoped_v6", .type = V_U32, .off = FIELD(guard_cap_block_scoped_v6), .min = 1, .max = CAPACITY_MAX },
};

#define RATE_KEYS(i)                                                                              \
	{ .name = "pps", .type = V_U32, .off = FIELD(rl[i].pps), .max = UINT32_MAX },             \
	{ .name = "bps", .type = V_U32, .off = FIELD(rl[i].bps), .max = UINT32_MAX },             \
	{ .name = "burst_packets", .type = V_U32, .off = FIELD(rl[i].burst_packets), .max = UINT32_MAX }, \
	{ .name = "burst_bytes", .type = V_U32, .off = FIELD(rl[i].burst_bytes), .max = UINT32_MAX }

static const struct key_spec rate_syn_keys[] = { RATE_KEYS(0) };
static const struct key_spec rate_udp_keys[] = { RATE_KEYS(1) };
static const struct key_spec rate_icmp_keys[] = { RATE_KEYS(2) };
static const struct key_spec rate_all_keys[] = { RATE_KEYS(3) };

static const struct key_spec auto_block_keys[] = {
	{ .name = "after", .type = V_DURATION, .off = FIELD(rl_auto_block_after_ns), .max = 86400 },
	{ .name = "ttl", .type = V_DURATION, .off = FIELD(rl_auto_block_ttl_ns), .min = 1, .max = 365 * 86400 },
};

#define SECTION(n, keys) { .name = n, .type = V_SECTION, .sub = keys, .n_sub = ARRAY_SIZE(keys) }

static const struct key_spec rate_limit_keys[] = {
	{ .name = "prefix_v4", .type = V_U32, .off = FIELD(rl_prefix_v4), .min = 1, .max = 32 },
	{ .name = "prefix_v6", .type = V_U32, .off = FIELD(rl_prefix_v6), .min = 1, .max = 128 },
	SECTION("tcp_syn", rate_syn_keys),
	SECTION("udp", rate_udp_keys),
	SECTION("icmp", rate_icmp_keys),
	SECTION("all", rate_all_keys),
	SECTION("auto_block", auto_block_keys),
};

static const struct key_spec sampling_keys[] = {
	{ .name = "every", .type = V_U32, .off = FIELD(sample_every), .max = UINT32_MAX },
	{ .name = "max_per_sec", .type = V_U32, .off = FIELD(sample_max_per_sec), .min = 1, .max = 1000000 },
	{ .name = "burst", .type = V_U32, .off = FIELD(sample_burst), .max = 1000000 },
};

static const struct key_spec guard_top_keys[] = {
	{ .name = "sample_every", .type = V_U32, .off = FIELD(top_every), .max = 1000000 },
};

static const struct key_spec guard_keys[] = {
	{ .name = "enabled", .type = V_BOOL, .off = FIELD(guard_enabled) },
	{ .name = "interfaces", .type = V_IFACES, .off = FIELD(guard_ifaces),
	  .n_off = FIELD(n_guard_ifaces) },
	{ .name = "mode", .type = V_ENUM, .off = FIELD(guard_mode), .names = guard_mode_names },
	{ .name = "xdp_mode", .type = V_ENUM, .off = FIELD(guard_xdp_mode), .names = xdp_mode_names },
	{ .name = "allow", .type = V_CIDRS, .off = FIELD(guard_allow), .n_off = FIELD(n_guard_allow) },
	{ .name = "block", .type = V_CIDRS, .off = FIELD(guard_block), .n_off = FIELD(n_guard_block) },
	{ .name = "capacity", .type = V_SECTION, .sub = capacity_keys, .n_sub = ARRAY_SIZE(capacity_keys) },
	{ .name = "malformed", .type = V_ENUM, .off = FIELD(guard_malformed_action), .names = action_names },
	{ .name = "later_fragments", .type = V_ENUM, .off = FIELD(guard_later_fragment_action), .names = action_names },
	SECTION("rate_limit", rate_limit_keys),
	SECTION("sampling", sampling_keys),
	SECTION("top", guard_top_keys),
};

#define POLICY_CAP_MAX 16000000u

static const struct key_spec policy_events_keys[] = {
	{ .name = "max_per_sec", .type = V_U32, .off = FIELD(policy_events_per_sec), .min = 1, .max = 1000000 },
	{ .name = "burst", .type = V_U32, .off = FIELD(policy_events_burst), .max = 1000000 },
};

static const struct key_spec policy_flow_keys[] = {
	{ .name = "tcp", .type = V_DURATION, .off = FIELD(policy_flow_tcp_ns), .min = 1, .max = 30 * 86400 },
	{ .name = "udp", .type = V_DURATION, .off = FIELD(policy_flow_udp_ns), .min = 1, .max = 30 * 86400 },
	{ .name = "other", .type = V_DURATION, .off = FIELD(policy_flow_other_ns), .min = 1, .max = 30 * 86400 },
};

static const struct key_spec policy_capacity_keys[] = {
	{ .name = "policies", .type = V_U32, .off = FIELD(policy_cap_policies), .min = 1, .max = 65536 },
	{ .name = "rules", .type = V_U32, .off = FIELD(policy_cap_rules), .min = 16, .max = POLICY_CAP_MAX },
	{ .name = "cells", .type = V_U32, .off = FIELD(policy_cap_cells), .min = 1024, .max = 256000000 },
	{ .name = "prefixes_v4", .type = V_U32, .off = FIELD(policy_cap_prefixes_v4), .min = 16, .max = POLICY_CAP_MAX },
	{ .name = "prefixes_v6", .type = V_U32, .off = FIELD(policy_cap_prefixes_v6), .min = 16, .max = POLICY_CAP_MAX },
	{ .name = "cgroups", .type = V_U32, .off = FIELD(policy_cap_cgroups), .min = 1, .max = 1000000 },
	{ .name = "flows", .type = V_U32, .off = FIELD(policy_cap_flows), .min = 1024, .max = POLICY_CAP_MAX },
};

static const struct key_spec policy_keys[] = {
	{ .name = "enabled", .type = V_BOOL, .off = FIELD(policy_enabled) },
	{ .name = "interfaces", .type = V_IFACES, .off = FIELD(policy_ifaces), .n_off = FIELD(n_policy_ifaces) },
	{ .name = "tc", .type = V_BOOL, .off = FIELD(policy_tc) },
	{ .name = "cgroup", .type = V_BOOL, .off = FIELD(policy_cgroup) },
	{ .name = "dry_run", .type = V_BOOL, .off = FIELD(policy_dry_run) },
	{ .name = "tc_attach", .type = V_ENUM, .off = FIELD(policy_tc_attach), .names = policy_tc_attach_names },
	SECTION("events", policy_events_keys),
	SECTION("flow_timeouts", policy_flow_keys),
	SECTION("capacity", policy_capacity_keys),
};

static const struct key_spec mon_runq_keys[] = {
	{ .name = "enabled", .type = V_BOOL, .off = FIELD(mon_enabled[MON_RUNQ]) },
	{ .name = "cgroups", .type = V_CGROUPS, .off = FIELD(mon_runq_cgroups),
	  .n_off = FIELD(n_mon_runq_cgroups), .max = MON_RUNQ_MAX_CGROUPS },
};
static const struct key_spec mon_io_keys[] = {
	{ .name = "enabled", .type = V_BOOL, .off = FIELD(mon_enabled[MON_IO]) },
};
static const struct key_spec mon_mem_keys[] = {
	{ .name = "enabled", .type = V_BOOL, .off = FIELD(mon_enabled[MON_MEM]) },
	{ .name = "alloc_failures", .type = V_BOOL, .off = FIELD(mon_alloc_failures) },
};
static const struct key_spec mon_net_keys[] = {
	{ .name = "enabled", .type = V_BOOL, .off = FIELD(mon_enabled[MON_NET]) },
};

static const struct key_spec monitors_keys[] = {
	{ .name = "attach", .type = V_ENUM, .off = FIELD(mon_attach), .names = mon_attach_names },
	SECTION("runq", mon_runq_keys),
	SECTION("io", mon_io_keys),
	SECTION("mem", mon_mem_keys),
	SECTION("net", mon_net_keys),
};

static const struct key_spec vis_capacity_keys[] = {
	{ .name = "processes", .type = V_U32, .off = FIELD(vis_cap_processes), .min = 1024, .max = 4194304 },
	{ .name = "flows", .type = V_U32, .off = FIELD(vis_cap_flows), .min = 1024, .max = CAPACITY_MAX },
	{ .name = "sockets", .type = V_U32, .off = FIELD(vis_cap_sockets), .min = 1024, .max = CAPACITY_MAX },
};

static const struct key_spec visibility_keys[] = {
	{ .name = "enabled", .type = V_BOOL, .off = FIELD(vis_enabled) },
	{ .name = "tracing", .type = V_ENUM, .off = FIELD(vis_tracing), .names = vis_tracing_names },
	{ .name = "frame_interval", .type = V_DURATION, .off = FIELD(vis_frame_interval_ns), .min = 1, .max = 3600 },
	{ .name = "exited_retention", .type = V_DURATION, .off = FIELD(vis_exited_retention_ns), .max = 86400 },
	{ .name = "flow_retention", .type = V_DURATION, .off = FIELD(vis_flow_retention_ns), .max = 86400 },
	{ .name = "flow_idle_timeout", .type = V_DURATION, .off = FIELD(vis_flow_idle_ns), .min = 1, .max = 86400 },
	{ .name = "args_max", .type = V_U32, .off = FIELD(vis_args_max), .max = 4096 },
	{ .name = "frame_max_items", .type = V_U32, .off = FIELD(vis_frame_max_items), .min = 10, .max = 100000 },
	{ .name = "flow_events", .type = V_ENUM, .off = FIELD(vis_flow_events), .names = vis_flow_events_names },
	{ .name = "ring_buffer_kb", .type = V_U32, .flags = F_POW2, .off = FIELD(vis_ring_kb), .min = 64, .max = 1048576 },
	SECTION("capacity", vis_capacity_keys),
};

static const struct key_spec top_keys[] = {
	{ .name = "agent", .type = V_SECTION, .sub = agent_keys, .n_sub = ARRAY_SIZE(agent_keys) },
	{ .name = "bpf", .type = V_SECTION, .sub = bpf_keys, .n_sub = ARRAY_SIZE(bpf_keys) },
	{ .name = "guard", .type = V_SECTION, .sub = guard_keys, .n_sub = ARRAY_SIZE(guard_keys) },
	{ .name = "policy", .type = V_SECTION, .sub = policy_keys, .n_sub = ARRAY_SIZE(policy_keys) },
	SECTION("monitors", monitors_keys),
	{ .name = "visibility", .type = V_SECTION, .sub = visibility_keys, .n_sub = ARRAY_SIZE(visibility_keys) },
};

struct parser {
	yaml_document_t *doc;
	const char *file;
	struct aegis_config *cfg;
	struct diags *d;
	unsigned int errors;	/* ours: diags_add drops entries when out of memory */
	bool oom;
	/* For the checks that involve two keys, once every key has been seen. */
	const yaml_node_t *listen_node;
	const yaml_node_t *empty_ifaces_node;
	yaml_mark_t second_doc;
	bool has_second_doc;
};

const char *config_default_text(void)
{
	return aegis_default_config;
}

const char *guard_mode_name(enum guard_mode m)
{
	return (size_t)m < ARRAY_SIZE(guard_mode_names) - 1 ? guard_mode_names[m] : "?";
}

const char *xdp_attach_mode_name(enum xdp_attach_mode m)
{
	return (size_t)m < ARRAY_SIZE(xdp_mode_names) - 1 ? xdp_mode_names[m] : "?";
}

const char *policy_tc_attach_name(enum policy_tc_attach a)
{
	return (size_t)a < ARRAY_SIZE(policy_tc_attach_names) - 1 ? policy_tc_attach_names[a] : "?";
}

const char *mon_attach_mode_name(enum mon_attach_mode m)
{
	return (size_t)m < ARRAY_SIZE(mon_attach_names) - 1 ? mon_attach_names[m] : "?";
}

const char *vis_tracing_name(enum vis_tracing t)
{
	return (size_t)t < ARRAY_SIZE(vis_tracing_names) - 1 ? vis_tracing_names[t] : "?";
}

static const char *exit_action_name(enum exit_action a)
{
	return (size_t)a < ARRAY_SIZE(exit_action_names) - 1 ? exit_action_names[a] : "?";
}

static int names_lookup(const char *const *names, const char *s)
{
	for (int i = 0; names[i]; i++)
		if (streq(names[i], s))
			return i;
	return -1;
}

int guard_mode_parse(const char *s, enum guard_mode *m)
{
	int i = names_lookup(guard_mode_names, s);

	if (i < 0)
		return -EINVAL;
	*m = (enum guard_mode)i;
	return 0;
}

/* ---- diagnostics ------------------------------------------------------------------------- */

static void perr_at(struct parser *p, int line, int col, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void perr_at(struct parser *p, int line, int col, const char *key, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diags_add(p->d, p->file, line, col, key, "%s", msg);
	p->errors++;
}

/* libyaml marks are 0-based; people count from 1. */
#define perr(p, node, key, ...) \
	perr_at(p, (int)(node)->start_mark.line + 1, (int)(node)->start_mark.column + 1, key, __VA_ARGS__)

static void note_oom(struct parser *p, const yaml_node_t *n, const char *key)
{
	if (!p->oom)
		perr(p, n, key, "out of memory");
	p->oom = true;
}

/* ---- YAML node helpers ------------------------------------------------------------------- */

static const char *kind(const yaml_node_t *n)
{
	return ynode_kind(n);
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* YAML's null: an empty value, `~` or `null`, unquoted. */
static bool is_null(const yaml_node_t *n)
{
	return ynode_is_null(n);
}

/* The scalar text of a string value, or NULL after reporting why it isn't one (yamldoc.h). */
static const char *get_str(struct parser *p, const yaml_node_t *n, const char *key)
{
	const char *s = ynode_str(p->d, p->file, n, key);

	if (!s)
		p->errors++;
	return s;
}

static bool set_str(struct parser *p, const yaml_node_t *n, const char *key, char **field,
		    const char *val)
{
	char *dup = NULL;

	if (val) {
		dup = strdup(val);
		if (!dup) {
			note_oom(p, n, key);
			return false;
		}
	}
	free(*field);
	*field = dup;
	return true;
}

static void join_names(const char *const *names, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; names[i] && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", names[i]);
}

/* ---- values ------------------------------------------------------------------------------ */

static void set_path(struct parser *p, const struct key_spec *k, const yaml_node_t *v,
		     const char *key)
{
	char **field = (char **)((char *)p->cfg + k->off);
	const char *s;

	if ((k->flags & F_NULLABLE) && is_null(v)) {
		set_str(p, v, key, field, NULL);
		return;
	}
	s = get_str(p, v, key);
	if (!s)
		return;
	if ((k->flags & F_NULLABLE) && !*s) {
		set_str(p, v, key, field, NULL);
		return;
	}
	if (s[0] != '/') {
		perr(p, v, key, "must be an absolute path, got '%s'", s);
		return;
	}
	if ((k->flags & F_NOT_ROOT) && !s[strspn(s, "/")]) {
		perr(p, v, key, "must be a directory below /, such as %s", DEFAULT_PIN_ROOT);
		return;
	}
	set_str(p, v, key, field, s);
}

static void set_group(struct parser *p, const struct key_spec *k, const yaml_node_t *v,
		      const char *key)
{
	char **field = (char **)((char *)p->cfg + k->off);
	const char *s = is_null(v) ? "" : get_str(p, v, key);

	if (!s)
		return;
	if (!*s) {
		set_str(p, v, key, field, NULL);
		return;
	}
	errno = 0;
	if (!getgrnam(s)) {
		/* getgrnam reports "no such group" as NULL with errno 0, ENOENT, ESRCH, EBADF or EPERM. */
		if (errno == ENOMEM || errno == EIO || errno == EMFILE || errno == ENFILE)
			perr(p, v, key, "cannot look up group '%s': %s", s, strerror(errno));
		else
			perr(p, v, key, "group '%s' does not exist", s);
		return;
	}
	set_str(p, v, key, field, s);
}

/* "127.0.0.1:PORT" or "[::1]:PORT"; any loopback address. Returns false with a reason. */
static bool listen_ok(const char *s, char *why, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
	bool v6 = s[0] == '[';
	const char *h = v6 ? s + 1 : s, *end = v6 ? strchr(s, ']') : strrchr(s, ':');
	size_t hlen;
	uint64_t port;

	if (!end || (v6 && end[1] != ':')) {
		snprintf(why, len, "'%s' has no ':PORT'", s);
		return false;
	}
	hlen = (size_t)(end - h);
	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(why, len, "'%s' has no address", s);
		return false;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, &addr) != 1) {
		snprintf(why, len, "'%s' is not an %s address%s", host, v6 ? "IPv6" : "IPv4",
			 v6 ? "" : " (write IPv6 as [::1]:PORT)");
		return false;
	}
	if (v6 ? !IN6_IS_ADDR_LOOPBACK(&addr.v6) : ntohl(addr.v4.s_addr) >> 24 != 127) {
		snprintf(why, len,
			 "'%s' is not a loopback address: the API must not be reachable from the network",
			 host);
		return false;
	}
	if (parse_u64(end + (v6 ? 2 : 1), &port) || port < 1 || port > 65535) {
		snprintf(why, len, "port '%s' must be 1..65535", end + (v6 ? 2 : 1));
		return false;
	}
	return true;
}

static void set_listen(struct parser *p, const struct key_spec *k, const yaml_node_t *v,
		       const char *key)
{
	char **field = (char **)((char *)p->cfg + k->off);
	const char *s = is_null(v) ? "" : get_str(p, v, key);
	char why[256];

	if (!s)
		return;
	if (!*s) {
		set_str(p, v, key, field, NULL);
		return;
	}
	if (!listen_ok(s, why, sizeof(why))) {
		perr(p, v, key, "%s; expected 127.0.0.1:PORT or [::1]:PORT", why);
		return;
	}
	if (set_str(p, v, key, field, s))
		p->listen_node = v;
}

static void set_enum(struct parser *p, const struct key_spec *k, const yaml_node_t *v,
		     const char *key)
{
	const char *s = get_str(p, v, key);
	char allowed[256];
	int i;

	if (!s)
		return;
	i = names_lookup(k->names, s);
	if (i < 0) {
		join_names(k->names, allowed, sizeof(allowed));
		perr(p, v, key, "unknown value '%s'; expected one of %s", s, allowed);
		return;
	}
	memcpy((char *)p->cfg + k->off, &i, sizeof(i));
}

static void set_loglevel(struct parser *p, const struct key_spec *k, const yaml_node_t *v,
			 const char *key)
{
	const char *s = get_str(p, v, key);
	enum log_level lvl;

	if (!s)
		return;
	if (log_parse_level(s, &lvl)) {
		perr(p, v, key, "unknown value '%s'; expected one of %s, %s, %s, %s", s,
		     log_level_name(LOG_LVL_ERROR), log_level_name(LOG_LVL_WARN),
		     log_level_name(LOG_LVL_INFO), log_level_name(LOG_LVL_DEBUG));
		return;
	}
	p->cfg->log_level = lvl;
}

/* YAML 1.1 and 1.2 spellings, but only unquoted: "true" in quotes is a string. */
static void set_bool(struct parser *p, const struct key_spec *k, const yaml_node_t *v,
		     const char *key)
{
	static const char *const yes[] = { "true", "yes", "on", NULL };
	static const char *const no[] = { "false", "no", "off", NULL };
	bool *field = (bool *)((char *)p->cfg + k->off);
	const char *s;

	if (v->type != YAML_SCALAR_NODE || v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
	    is_null(v)) {
		perr(p, v, key, "expected a boolean (true/false, yes/no, on/off), got %s",
		     is_null(v) ? "nothing" : kind(v));
		return;
	}
	s = scalar(v);
	for (int i = 0; yes[i]; i++) {
		if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
			*field = !strcasecmp(s, yes[i]);
			return;
		}
	}
	perr(p, v, key, "expected a boolean (true/false, yes/no, on/off), got '%s'", s);
}

static void set_u32(struct parser *p, const struct key_spec *k, const yaml_node_t *v,
		    const char *key)
{
	uint32_t *field = (uint32_t *)((char *)p->cfg + k->off);
	uint64_t n;

	if (v->type != YAML_SCALAR_NODE || v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		perr(p, v, key, "expected an integer %u..%u, got %s", k->min, k->max, kind(v));
		return;
	}
	if (parse_u64(scalar(v), &n)) {
		perr(p, v, key, "expected an integer %u..%u, got '%s'", k->min, k->max, scalar(v));
		return;
	}
	if (n < k->min || n > k->max) {
		perr(p, v, key, "%s is out of range %u..%u", scalar(v), k->min, k->max);
		return;
	}
	if ((k->flags & F_POW2) && (n & (n - 1))) {
		perr(p, v, key, "%s is not a power of two", scalar(v));
		return;
	}
	*field = (uint32_t)n;
}

static void set_duration(struct parser *p, const struct key_spec *k, const yaml_node_t *v,
			 const char *key)
{
	uint64_t *field = (uint64_t *)((char *)p->cfg + k->off);
	uint64_t ns;

	if (v->type != YAML_SCALAR_NODE || v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
	    parse_duration(scalar(v), &ns)) {
		perr(p, v, key, "expected a duration such as 10s, 5m or 1h, got %s",
		     v->type == YAML_SCALAR_NODE ? scalar(v) : kind(v));
		return;
	}
	if (ns < (uint64_t)k->min * NSEC_PER_SEC || ns > (uint64_t)k->max * NSEC_PER_SEC) {
		perr(p, v, key, "%s is out of range %us..%us", scalar(v), k->min, k->max);
		return;
	}
	*field = ns;
}

/* ---- lists ------------------------------------------------------------------------------- */

/* Checks that `v` is a list (null counts as empty) and returns its length, or -1 after an error. */
static ssize_t list_len(struct parser *p, const yaml_node_t *v, const char *key)
{
	if (is_null(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE) {
		perr(p, v, key, "expected a list of strings, got %s", kind(v));
		return -1;
	}
	return v->data.sequence.items.top - v->data.sequence.items.start;
}

/* Item i of list `v` as a string, with "key[i]" in `ikey`; NULL after an error. */
static const char *list_item(struct parser *p, const yaml_node_t *v, ssize_t i, const char *key,
			     char *ikey, size_t ikeylen, const yaml_node_t **item)
{
	*item = yaml_document_get_node(p->doc, v->data.sequence.items.start[i]);
	snprintf(ikey, ikeylen, "%s[%zd]", key, i);
	if (!*item)
		return NULL;
	if ((*item)->type != YAML_SCALAR_NODE) {
		perr(p, *item, ikey, "expected a list of strings, but this item is %s", kind(*item));
		return NULL;
	}
	if (is_null(*item)) {
		perr(p, *item, ikey, "empty list item");
		return NULL;
	}
	return get_str(p, *item, ikey);
}

/*
 * The string list at v (len items) into the char ** field of k, replacing what it held: each item
 * checked by problem() ("'NAME' <problem>" is reported as "<noun> 'NAME' <problem>") and listed
 * once ("<noun> 'NAME' is listed twice").
 */
static void set_name_list(struct parser *p, const struct key_spec *k, const yaml_node_t *v,
			  const char *key, ssize_t len, const char *noun,
			  const char *(*problem)(const char *))
{
	char ***field = (char ***)((char *)p->cfg + k->off);
	size_t *nfield = (size_t *)((char *)p->cfg + k->n_off);
	const yaml_node_t *item;
	char ikey[256], **names = calloc((size_t)len + 1, sizeof(*names));
	size_t n = 0;

	if (!names) {
		note_oom(p, v, key);
		return;
	}
	for (ssize_t i = 0; i < len; i++) {
		const char *s = list_item(p, v, i, key, ikey, sizeof(ikey), &item);
		const char *why;
		bool dup = false;

		if (!s)
			continue;
		why = problem(s);
		if (why) {
			perr(p, item, ikey, "%s '%s' %s", noun, s, why);
			continue;
		}
		for (size_t j = 0; j < n; j++)
			dup |= streq(names[j], s);
		if (dup) {
			perr(p, item, ikey, "%s '%s' is listed twice", noun, s);
			continue;
		}
		names[n] = strdup(s);
		if (!names[n]) {
			note_oom(p, item, ikey);
			continue;
		}
		n++;
	}
	for (size_t j = 0; j < *nfield; j++)
		free((*field)[j]);
	free(*field);
	*field = names;
	*nfield = n;
}

static void set_ifaces(struct parser *p, const struct key_spec *k, const yaml_node_t *v,
		       const char *key)
{
	ssize_t len = list_len(p, v, key);

	if (len < 0)
		return;
	if (len == 0 && k->off == FIELD(guard_ifaces))
		p->empty_ifaces_node = v;
	set_name_list(p, k, v, key, len, "interface", iface_name_problem);
}

static void set_cidrs(struct parser *p, const struct key_spec *k, const yaml_node_t *v,
		      const char *key)
{
	struct cfg_cidr **field = (struct cfg_cidr **)((char *)p->cfg + k->off);
	size_t *nfield = (size_t *)((char *)p->cfg + k->n_off);
	ssize_t len = list_len(p, v, key);
	const yaml_node_t *item;
	struct cfg_cidr *out;
	char ikey[256], why[128], fixed[CIDR_STRLEN];
	size_t n = 0;

	if (len < 0)
		return;
	out = calloc((size_t)len + 1, sizeof(*out));
	if (!out) {
		note_oom(p, v, key);
		return;
	}
	for (ssize_t i = 0; i < len; i++) {
		const char *s = list_item(p, v, i, key, ikey, sizeof(ikey), &item);
		bool host_bits;

		if (!s)
			continue;
		if (cidr_parse(s, &out[n].cidr, &host_bits, why, sizeof(why))) {
			perr(p, item, ikey, "invalid CIDR: %s", why);
			continue;
		}
		/* In a file someone wrote, 10.1.2.3/8 is more likely a typo than a wish for 10/8. */
		if (host_bits) {
			cidr_format(&out[n].cidr, fixed, sizeof(fixed));
			perr(p, item, ikey, "'%s': host bits set: did you mean %s?", s, fixed);
			continue;
		}
		out[n++].line = (int)item->start_mark.line + 1;
	}
	free(*field);
	*field = out;
	*nfield = n;
}

/*
 * A cgroup v2 path as /proc/PID/cgroup shows it ("/system.slice/nginx.service"): absolute, no
 * "." or ".." component, no empty component but the root itself.
 */
static const char *cgroup_path_problem(const char *s)
{
	if (s[0] != '/')
		return "must be absolute, as in /proc/PID/cgroup (\"/system.slice/nginx.service\")";
	if (strlen(s) >= 4096)
		return "is longer than 4095 characters";
	for (const char *c = s; *c; c = strchrnul(c + 1, '/')) {
		const char *next = strchrnul(c + 1, '/');
		size_t n = (size_t)(next - c - 1);

		if ((n == 0 && (*next || c != s)) || (n == 1 && c[1] == '.') ||
		    (n == 2 && c[1] == '.' && c[2] == '.'))
			return "has an empty, \".\" or \"..\" component";
	}
	return NULL;
}

static void set_cgroups(struct parser *p, const struct key_spec *k, const yaml_node_t *v,
			const char *key)
{
	ssize_t len = list_len(p, v, key);

	if (len < 0)
		return;
	if ((size_t)len > k->max) {
		perr(p, v, key, "at most %u cgroups, got %zd", k->max, len);
		return;
	}
	set_name_list(p, k, v, key, len, "cgroup", cgroup_path_problem);
}

/* ---- mappings ---------------------------------------------------------------------------- */

static void walk_mapping(struct parser *p, const yaml_node_t *map, const char *prefix,
			 const struct key_spec *specs, size_t n);

static void set_section(struct parser *p, const struct key_spec *k, const yaml_node_t *v,
			const char *key)
{
	/* `guard:` with nothing under it: every key keeps its default. */
	if (is_null(v))
		return;
	if (v->type != YAML_MAPPING_NODE) {
		perr(p, v, key, "expected a mapping, got %s", kind(v));
		return;
	}
	walk_mapping(p, v, key, k->sub, k->n_sub);
}

static void apply(struct parser *p, const struct key_spec *k, const yaml_node_t *v,
		  const char *key)
{
	switch (k->type) {
	case V_SECTION:
		set_section(p, k, v, key);
		break;
	case V_PATH:
		set_path(p, k, v, key);
		break;
	case V_GROUP:
		set_group(p, k, v, key);
		break;
	case V_LISTEN:
		set_listen(p, k, v, key);
		break;
	case V_ENUM:
		set_enum(p, k, v, key);
		break;
	case V_LOGLEVEL:
		set_loglevel(p, k, v, key);
		break;
	case V_BOOL:
		set_bool(p, k, v, key);
		break;
	case V_U32:
		set_u32(p, k, v, key);
		break;
	case V_IFACES:
		set_ifaces(p, k, v, key);
		break;
	case V_CIDRS:
		set_cidrs(p, k, v, key);
		break;
	case V_DURATION:
		set_duration(p, k, v, key);
		break;
	case V_CGROUPS:
		set_cgroups(p, k, v, key);
		break;
	}
}

/* Edit distance, to suggest "mode" for "modee". */
static size_t edit_distance(const char *a, const char *b)
{
	return yedit_distance(a, b);
}

static void unknown_key(struct parser *p, const yaml_node_t *k, const char *key, const char *prefix,
			const struct key_spec *specs, size_t n)
{
	char valid[256], hint[96] = "";
	size_t off = 0, best = 3;

	for (size_t i = 0; i < n && off < sizeof(valid); i++) {
		size_t dist = edit_distance(scalar(k), specs[i].name);

		off += (size_t)snprintf(valid + off, sizeof(valid) - off, "%s%s", i ? ", " : "",
					specs[i].name);
		if (dist < best) {
			best = dist;
			snprintf(hint, sizeof(hint), " (did you mean '%s'?)", specs[i].name);
		}
	}
	if (prefix)
		perr(p, k, key, "unknown key '%s' in %s%s; valid keys: %s", scalar(k), prefix, hint,
		     valid);
	else
		perr(p, k, key, "unknown section '%s'%s; valid sections: %s", scalar(k), hint, valid);
}

/* The earlier key with the same name in `map`, if any. */
static const yaml_node_t *earlier_key(struct parser *p, const yaml_node_t *map,
				      const yaml_node_pair_t *pair, const char *name)
{
	for (const yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pair; q++) {
		const yaml_node_t *k = yaml_document_get_node(p->doc, q->key);

		if (k && k->type == YAML_SCALAR_NODE && streq(scalar(k), name))
			return k;
	}
	return NULL;
}

static void walk_mapping(struct parser *p, const yaml_node_t *map, const char *prefix,
			 const struct key_spec *specs, size_t n)
{
	for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		const yaml_node_t *k = yaml_document_get_node(p->doc, pair->key);
		const yaml_node_t *v = yaml_document_get_node(p->doc, pair->value);
		const yaml_node_t *first;
		const struct key_spec *spec = NULL;
		char key[256];

		if (!k || !v)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			perr(p, k, prefix, "keys must be strings, got %s", kind(k));
			continue;
		}
		if (prefix)
			snprintf(key, sizeof(key), "%s.%s", prefix, scalar(k));
		else
			snprintf(key, sizeof(key), "%s", scalar(k));
		first = earlier_key(p, map, pair, scalar(k));
		if (first) {
			perr(p, k, key, "duplicate key (first given at line %zu, column %zu)",
			     first->start_mark.line + 1, first->start_mark.column + 1);
			continue;
		}
		for (size_t i = 0; i < n && !spec; i++)
			if (streq(specs[i].name, scalar(k)))
				spec = &specs[i];
		if (!spec) {
			unknown_key(p, k, key, prefix, specs, n);
			continue;
		}
		apply(p, spec, v, key);
	}
}

/* Rules that involve more than one key, checked once all of them are known. */
static void check_combinations(struct parser *p)
{
	const struct aegis_config *c = p->cfg;

	if (c->listen_tcp && !c->token_file && p->listen_node)
		perr(p, p->listen_node, "agent.listen_tcp",
		     "needs agent.token_file: TCP clients must present a token, the socket's "
		     "permissions do not protect a TCP port");
	if (c->guard_enabled && !c->n_guard_ifaces && p->empty_ifaces_node)
		perr(p, p->empty_ifaces_node, "guard.interfaces",
		     "must not be empty while guard.enabled is true (use [%s] for the interface of "
		     "the default route, or set enabled: false)", IFACE_DEFAULT_ROUTE);
}

/* ---- documents --------------------------------------------------------------------------- */

static int set_defaults(struct aegis_config *c, const char *source)
{
	c->source = strdup(source);
	c->socket_path = strdup(DEFAULT_SOCKET);
	c->state_dir = strdup(DEFAULT_STATE_DIR);
	c->audit_log = strdup(DEFAULT_AUDIT_LOG);
	c->log_level = LOG_LVL_INFO;
	c->on_exit = EXIT_KEEP;
	c->pin_root = strdup(DEFAULT_PIN_ROOT);
	c->bpf_stats = false;	/* two clock reads per run of every BPF program on the host */
	c->max_insns = MAX_INSNS_LIMIT;
	c->guard_enabled = true;
	c->guard_ifaces = calloc(2, sizeof(*c->guard_ifaces));
	if (c->guard_ifaces) {
		c->guard_ifaces[0] = strdup(IFACE_DEFAULT_ROUTE);
		c->n_guard_ifaces = c->guard_ifaces[0] ? 1 : 0;
	}
	c->guard_mode = GUARD_MODE_OBSERVE;
	c->guard_xdp_mode = XDP_ATTACH_AUTO;
	c->guard_malformed_action = GUARD_ACTION_DROP;
	c->guard_later_fragment_action = GUARD_ACTION_PASS;
	c->rl_prefix_v4 = 32;
	c->rl_prefix_v6 = 64;
	c->rl_auto_block_after_ns = 10 * NSEC_PER_SEC;
	c->rl_auto_block_ttl_ns = 600 * NSEC_PER_SEC;
	c->sample_every = 100;
	c->sample_max_per_sec = 1000;
	c->guard_cap_block_v4 = GUARD_BLOCK_V4_DEFAULT;
	c->guard_cap_block_v6 = GUARD_BLOCK_V6_DEFAULT;
	c->guard_cap_allow_v4 = GUARD_ALLOW_V4_DEFAULT;
	c->guard_cap_allow_v6 = GUARD_ALLOW_V6_DEFAULT;
	c->guard_cap_block_scoped_v4 = GUARD_BLOCK_SCOPED_V4_DEFAULT;
	c->guard_cap_block_scoped_v6 = GUARD_BLOCK_SCOPED_V6_DEFAULT;
	c->top_every = GUARD_TOP_EVERY_DEFAULT;
	c->policy_enabled = true;
	c->policy_tc = true;
	c->policy_cgroup = true;
	c->policy_tc_attach = POLICY_TC_AUTO;
	c->policy_events_per_sec = 1000;
	c->policy_flow_tcp_ns = 5 * 86400 * NSEC_PER_SEC;
	c->policy_flow_udp_ns = 120 * NSEC_PER_SEC;
	c->policy_flow_other_ns = 30 * NSEC_PER_SEC;
	c->policy_cap_policies = 256;
	c->policy_cap_rules = 16384;
	c->policy_cap_cells = 1048576;
	c->policy_cap_prefixes_v4 = 16384;
	c->policy_cap_prefixes_v6 = 4096;
	c->policy_cap_cgroups = 1024;
	c->policy_cap_flows = 65536;
	c->mon_attach = MON_ATTACH_AUTO;
	/*
	 * On by default: what costs at most 3% on the benchmarks (docs/monitors.md,
	 * Benchmarks). runq costs 8-9% on pipe ping-pong and the page allocator hook 10-11% on dd
	 * into tmpfs, so they are off until asked for.
	 */
	for (int i = 0; i < MON_COUNT; i++)
		c->mon_enabled[i] = i != MON_RUNQ;
	c->mon_alloc_failures = false;
	c->vis_enabled = false;
	c->vis_tracing = VIS_TRACING_AUTO;
	c->vis_frame_interval_ns = 10 * NSEC_PER_SEC;
	c->vis_exited_retention_ns = 300 * NSEC_PER_SEC;
	c->vis_flow_retention_ns = 300 * NSEC_PER_SEC;
	c->vis_flow_idle_ns = 120 * NSEC_PER_SEC;
	c->vis_args_max = 1024;
	c->vis_frame_max_items = 1000;
	c->vis_flow_events = VIS_FLOW_EVENTS_CLOSED;
	c->vis_ring_kb = 4096;
	c->vis_cap_processes = 32768;
	c->vis_cap_flows = 65536;
	c->vis_cap_sockets = 65536;
	if (!c->source || !c->socket_path || !c->state_dir || !c->audit_log || !c->pin_root ||
	    !c->n_guard_ifaces)
		return -ENOMEM;
	return 0;
}

/* Loads the single document in `text`; false after reporting a syntax error. */
static bool load_document(struct parser *p, const char *text, size_t len, yaml_document_t *doc)
{
	unsigned int before = (unsigned int)p->d->n;
	bool ok = ydoc_load(text, len, p->file, p->d, doc, &p->second_doc, &p->has_second_doc);

	p->errors += (unsigned int)p->d->n - before;
	return ok;
}

static void walk_root(struct parser *p)
{
	const yaml_node_t *root = yaml_document_get_root_node(p->doc);

	/* An empty file, or only comments: all defaults. */
	if (!root || is_null(root))
		return;
	if (root->type != YAML_MAPPING_NODE) {
		perr(p, root, NULL, "the top level must be a mapping of sections (agent, bpf, guard, policy, monitors, visibility), got %s",
		     kind(root));
		return;
	}
	walk_mapping(p, root, NULL, top_keys, ARRAY_SIZE(top_keys));
}

int config_parse(const char *text, size_t len, const char *source, struct aegis_config *cfg,
		 struct diags *d)
{
	struct diags scratch = { 0 };
	struct parser p = {
		.file = source ? source : "<input>",
		.cfg = cfg,
		.d = d ? d : &scratch,
	};
	yaml_document_t doc;
	int err;

	memset(cfg, 0, sizeof(*cfg));
	if (!load_document(&p, text, len, &doc)) {
		diags_free(&scratch);
		return -EINVAL;
	}
	p.doc = &doc;
	err = set_defaults(cfg, p.file);
	if (err) {
		perr_at(&p, 0, 0, NULL, "out of memory");
	} else {
		walk_root(&p);
		check_combinations(&p);
		if (p.has_second_doc)
			perr_at(&p, (int)p.second_doc.line + 1, (int)p.second_doc.column + 1, NULL,
				"only one YAML document is allowed (a second one starts here)");
	}
	yaml_document_delete(&doc);
	diags_free(&scratch);
	if (p.errors) {
		config_free(cfg);
		return err || p.oom ? -ENOMEM : -EINVAL;
	}
	return 0;
}

int config_load(const char *path, struct aegis_config *cfg, struct diags *d)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int err;

	if (!path)
		return config_parse(aegis_default_config, strlen(aegis_default_config),
				    EMBEDDED_SOURCE, cfg, d);
	memset(cfg, 0, sizeof(*cfg));
	err = read_file(path, &text, &len);
	if (err) {
		if (d)
			diags_add(d, path, 0, 0, NULL, "cannot read: %s", strerror(-err));
		return err;
	}
	return config_parse(text, len, path, cfg, d);
}

void config_free(struct aegis_config *cfg)
{
	free(cfg->source);
	free(cfg->socket_path);
	free(cfg->socket_group);
	free(cfg->admin_group);
	free(cfg->listen_tcp);
	free(cfg->token_file);
	free(cfg->state_dir);
	free(cfg->audit_log);
	free(cfg->pin_root);
	free(cfg->object_dir);
	for (size_t i = 0; i < cfg->n_guard_ifaces; i++)
		free(cfg->guard_ifaces[i]);
	free(cfg->guard_ifaces);
	free(cfg->guard_allow);
	free(cfg->guard_block);
	for (size_t i = 0; i < cfg->n_policy_ifaces; i++)
		free(cfg->policy_ifaces[i]);
	free(cfg->policy_ifaces);
	for (size_t i = 0; i < cfg->n_mon_runq_cgroups; i++)
		free(cfg->mon_runq_cgroups[i]);
	free(cfg->mon_runq_cgroups);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- JSON -------------------------------------------------------------------------------- */

static json_t *strv_json(char *const *v, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		if (json_array_append_new(arr, json_string(v[i]))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *cidrs_json(const struct cfg_cidr *v, size_t n)
{
	json_t *arr = json_array();
	char buf[CIDR_STRLEN];

	for (size_t i = 0; arr && i < n; i++) {
		cidr_format(&v[i].cidr, buf, sizeof(buf));
		if (json_array_append_new(arr, json_string(buf))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *config_to_json_base(const struct aegis_config *c)
{
	/* json_pack's "o" takes ownership even when packing fails, so nothing leaks on ENOMEM. */
	return json_pack("{s:s?, s:{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s, s:s},"
			 " s:{s:s?, s:s?, s:b, s:I},"
			 " s:{s:b, s:o, s:s, s:s, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}}}",
			 "source", c->source,
			 "agent",
			 "socket", c->socket_path,
			 "socket_group", c->socket_group,
			 "admin_group", c->admin_group,
			 "listen_tcp", c->listen_tcp,
			 "token_file", c->token_file,
			 "state_dir", c->state_dir,
			 "audit_log", c->audit_log,
			 "log_level", log_level_name(c->log_level),
			 "on_exit", exit_action_name(c->on_exit),
			 "bpf",
			 "pin_root", c->pin_root,
			 "object_dir", c->object_dir,
			 "stats", c->bpf_stats,
			 "max_insns", (json_int_t)c->max_insns,
			 "guard",
			 "enabled", c->guard_enabled,
			 "interfaces", strv_json(c->guard_ifaces, c->n_guard_ifaces),
			 "mode", guard_mode_name(c->guard_mode),
			 "xdp_mode", xdp_attach_mode_name(c->guard_xdp_mode),
			 "allow", cidrs_json(c->guard_allow, c->n_guard_allow),
			 "block", cidrs_json(c->guard_block, c->n_guard_block),
			 "capacity",
			 "block_v4", (json_int_t)c->guard_cap_block_v4,
			 "block_v6", (json_int_t)c->guard_cap_block_v6,
			 "allow_v4", (json_int_t)c->guard_cap_allow_v4,
			 "allow_v6", (json_int_t)c->guard_cap_allow_v6,
			 "block_scoped_v4", (json_int_t)c->guard_cap_block_scoped_v4,
			 "block_scoped_v6", (json_int_t)c->guard_cap_block_scoped_v6);
}

static json_t *rate_json(const struct cfg_rate *r)
{
	return json_pack("{s:I, s:I, s:I, s:I}", "pps", (json_int_t)r->pps, "bps", (json_int_t)r->bps,
			 "burst_packets", (json_int_t)r->burst_packets, "burst_bytes",
			 (json_int_t)r->burst_bytes);
}

static json_t *policy_config_json(const struct aegis_config *c)
{
	char tcp[32], udp[32], other[32];

	format_duration(c->policy_flow_tcp_ns, tcp, sizeof(tcp));
	format_duration(c->policy_flow_udp_ns, udp, sizeof(udp));
	format_duration(c->policy_flow_other_ns, other, sizeof(other));
	return json_pack("{s:b, s:o, s:b, s:b, s:b, s:s, s:{s:I, s:I}, s:{s:s, s:s, s:s},"
			 " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
			 "enabled", c->policy_enabled,
			 "interfaces", strv_json(c->policy_ifaces, c->n_policy_ifaces),
			 "tc", c->policy_tc, "cgroup", c->policy_cgroup, "dry_run", c->policy_dry_run,
			 "tc_attach", policy_tc_attach_name(c->policy_tc_attach),
			 "events", "max_per_sec", (json_int_t)c->policy_events_per_sec,
			 "burst", (json_int_t)c->policy_events_burst,
			 "flow_timeouts", "tcp", tcp, "udp", udp, "other", other,
			 "capacity", "policies", (json_int_t)c->policy_cap_policies,
			 "rules", (json_int_t)c->policy_cap_rules, "cells", (json_int_t)c->policy_cap_cells,
			 "prefixes_v4", (json_int_t)c->policy_cap_prefixes_v4,
			 "prefixes_v6", (json_int_t)c->policy_cap_prefixes_v6,
			 "cgroups", (json_int_t)c->policy_cap_cgroups, "flows", (json_int_t)c->policy_cap_flows);
}

static json_t *visibility_json(const struct aegis_config *c)
{
	char frame[32], exited[32], flows[32], idle[32];

	format_duration(c->vis_frame_interval_ns, frame, sizeof(frame));
	format_duration(c->vis_exited_retention_ns, exited, sizeof(exited));
	format_duration(c->vis_flow_retention_ns, flows, sizeof(flows));
	format_duration(c->vis_flow_idle_ns, idle, sizeof(idle));
	return json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:{s:I, s:I, s:I}}",
			 "enabled", c->vis_enabled, "tracing", vis_tracing_name(c->vis_tracing),
			 "frame_interval", frame, "exited_retention", exited, "flow_retention", flows,
			 "flow_idle_timeout", idle, "args_max", (json_int_t)c->vis_args_max,
			 "frame_max_items", (json_int_t)c->vis_frame_max_items, "flow_events",
			 vis_flow_events_names[c->vis_flow_events], "ring_buffer_kb",
			 (json_int_t)c->vis_ring_kb, "capacity", "processes", (json_int_t)c->vis_cap_processes,
			 "flows", (json_int_t)c->vis_cap_flows, "sockets", (json_int_t)c->vis_cap_sockets);
}

json_t *config_to_json(const struct aegis_config *c)
{
	json_t *j = config_to_json_base(c), *g = json_object_get(j, "guard");
	char after[32], ttl[32];

	if (!g)
		return j;
	format_duration(c->rl_auto_block_after_ns, after, sizeof(after));
	format_duration(c->rl_auto_block_ttl_ns, ttl, sizeof(ttl));
	json_object_set_new(g, "malformed", json_string(action_names[c->guard_malformed_action]));
	json_object_set_new(g, "later_fragments", json_string(action_names[c->guard_later_fragment_action]));
	json_object_set_new(g, "rate_limit",
			    json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:{s:s, s:s}}", "prefix_v4",
				      (json_int_t)c->rl_prefix_v4, "prefix_v6", (json_int_t)c->rl_prefix_v6,
				      "tcp_syn", rate_json(&c->rl[0]), "udp", rate_json(&c->rl[1]),
				      "icmp", rate_json(&c->rl[2]), "all", rate_json(&c->rl[3]),
				      "auto_block", "after", after, "ttl", ttl));
	json_object_set_new(g, "top", json_pack("{s:I}", "sample_every", (json_int_t)c->top_every));
	json_object_set_new(g, "sampling",
			    json_pack("{s:I, s:I, s:I}", "every", (json_int_t)c->sample_every,
				      "max_per_sec", (json_int_t)c->sample_max_per_sec, "burst",
				      (json_int_t)c->sample_burst));
	json_object_set_new(j, "policy", policy_config_json(c));
	json_object_set_new(j, "monitors",
			    json_pack("{s:s, s:{s:b, s:o}, s:{s:b}, s:{s:b, s:b}, s:{s:b}}", "attach",
				      mon_attach_mode_name(c->mon_attach), "runq", "enabled",
				      c->mon_enabled[MON_RUNQ], "cgroups",
				      strv_json(c->mon_runq_cgroups, c->n_mon_runq_cgroups), "io",
				      "enabled", c->mon_enabled[MON_IO], "mem", "enabled",
				      c->mon_enabled[MON_MEM], "alloc_failures", c->mon_alloc_failures,
				      "net", "enabled", c->mon_enabled[MON_NET]));
	json_object_set_new(j, "visibility", visibility_json(c));
	return j;
}

/* ---- aegis config ------------------------------------------------------------------------ */

static const char config_usage[] =
	"usage: aegis config default | check [--json] FILE... | show [FILE]\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "aegis config: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", config_usage);
	return EXIT_USAGE;
}

static int print_json(json_t *j)
{
	int err;

	if (!j) {
		fprintf(stderr, "aegis config: out of memory\n");
		return 1;
	}
	err = json_dumpf(j, stdout, JSON_INDENT(2));
	json_decref(j);
	if (err || putchar('\n') == EOF || fflush(stdout)) {
		fprintf(stderr, "aegis config: cannot write to stdout: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

/* Validates one file; with `report` a {file, ok, errors} object is appended to it. */
static bool check_one(const char *path, json_t *report)
{
	struct aegis_config cfg;
	struct diags d = { 0 };
	bool ok = config_load(path, &cfg, &d) == 0;

	config_free(&cfg);
	if (report) {
		if (json_array_append_new(report, json_pack("{s:s, s:b, s:o}", "file", path, "ok", ok,
							    "errors", diags_to_json(&d))))
			ok = false;
	} else {
		diags_print(&d, stderr);
		if (ok)
			printf("%s: OK\n", path);
	}
	diags_free(&d);
	return ok;
}

static int config_check(int argc, char **argv)
{
	json_t *report = NULL;
	bool as_json = false, all_ok = true, opts = true;
	int nfiles = 0;

	for (int i = 1; i < argc; i++) {
		if (opts && streq(argv[i], "--json"))
			as_json = true;
		else if (opts && streq(argv[i], "--"))
			opts = false;
		else if (opts && argv[i][0] == '-' && argv[i][1])
			return usage_error("check: unknown option '%s'", argv[i]);
		else
			nfiles++;
	}
	if (!nfiles)
		return usage_error("check: no FILE given");
	if (as_json) {
		report = json_array();
		if (!report) {
			fprintf(stderr, "aegis config: out of memory\n");
			return 1;
		}
	}
	opts = true;
	for (int i = 1; i < argc; i++) {
		if (opts && (streq(argv[i], "--json") || streq(argv[i], "--"))) {
			opts = !streq(argv[i], "--");
			continue;
		}
		all_ok &= check_one(argv[i], report);
	}
	if (report && print_json(report))
		return 1;
	return all_ok ? 0 : 1;
}

static int config_show(int argc, char **argv)
{
	struct aegis_config cfg;
	struct diags d = { 0 };
	const char *path = NULL;
	bool opts = true;
	int err;

	for (int i = 1; i < argc; i++) {
		/* The output is JSON either way; --json is accepted for symmetry with check. */
		if (opts && streq(argv[i], "--json"))
			continue;
		if (opts && streq(argv[i], "--")) {
			opts = false;
		} else if (opts && argv[i][0] == '-' && argv[i][1]) {
			return usage_error("show: unknown option '%s'", argv[i]);
		} else {
			if (path)
				return usage_error("show: takes at most one FILE, got also '%s'", argv[i]);
			path = argv[i];
		}
	}
	err = config_load(path, &cfg, &d);
	diags_print(&d, stderr);
	diags_free(&d);
	if (err)
		return 1;
	err = print_json(config_to_json(&cfg));
	config_free(&cfg);
	return err;
}

int cmd_config(int argc, char **argv)
{
	/* main() answers --help before dispatching; the unit tests link without main.o. */
	if (argc < 2)
		return usage_error("missing subcommand");
	if (streq(argv[1], "default")) {
		if (argc > 2)
			return usage_error("default: unexpected argument '%s'", argv[2]);
		if (fputs(config_default_text(), stdout) == EOF || fflush(stdout)) {
			fprintf(stderr, "aegis config: cannot write to stdout: %s\n", strerror(errno));
			return 1;
		}
		return 0;
	}
	if (streq(argv[1], "check"))
		return config_check(argc - 1, argv + 1);
	if (streq(argv[1], "show"))
		return config_show(argc - 1, argv + 1);
	return usage_error("unknown subcommand '%s'; valid: default, check, show", argv[1]);
}
