// SPDX-License-Identifier: GPL-2.0-only
/*
 * aegis probe: finds out by trying what this kernel and this process can do. Version numbers
 * lie (backports, distribution configs, lockdown, missing PMUs), so every program type is
 * loaded and attached where attaching is the real question, every map type created, every
 * helper and kfunc checked by the verifier. Each check records what was tried, the errno and
 * a likely cause, and the aegis capabilities are derived from the checks.
 *
 * Nothing is left behind: network attachments happen in a child's temporary network namespace,
 * mounts the probe needs only to read (securityfs, bpffs) happen in a child's private mount
 * namespace, the temporary cgroup is removed, tracefs is unmounted when the probe mounted it,
 * and every fd (programs, links, perf events) is closed on every path.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/perf_event.h>
#include <mntent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "diag.h"
#include "log.h"
#include "mounts.h"
#include "netns.h"
#include "probe.h"
#include "util.h"

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* kernel-internal, but bpf() returns it */
#endif

#define NAME_PREFIX "aegisp_"	     /* every program and map the probe creates */
#define CGROUP_PREFIX "aegis-probe." /* the temporary cgroup directory */
#define VETH_NAME "aegisp0"
#define VETH_PEER "aegisp1"
#define CHILD_TIMEOUT_MS 5000
#define VLOG_SIZE (64 * 1024)

/* ---- checks ----------------------------------------------------------------------------- */

enum stage {
	ST_NONE,
	ST_SETUP,
	ST_LOAD,
	ST_CREATE,
	ST_ATTACH,
	ST_DETACH,
	ST_PIN,
	ST_RUN,
	ST_CLEANUP
};

static const char *const stage_names[] = {
	"", "setup", "load", "create", "attach", "detach", "pin", "run", "cleanup",
};

/* Plain data, so that a child can send one back through a pipe. */
struct check {
	bool ok;
	int err;   /* -errno of the step that failed */
	int stage; /* enum stage of that step */
	char tried[256];
	char cause[256];
	char note[256];
	char log[512]; /* tail of the verifier log when the verifier rejected */
};

static void check_init(struct check *c)
{
	memset(c, 0, sizeof(*c));
	c->err = -ECANCELED;
	c->stage = ST_SETUP;
	snprintf(c->cause, sizeof(c->cause), "not attempted");
}

static void __attribute__((format(printf, 2, 3))) check_tried(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->tried, sizeof(c->tried), fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 2, 3))) check_note(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->note, sizeof(c->note), fmt, ap);
	va_end(ap);
}

static void check_pass(struct check *c)
{
	c->ok = true;
	c->err = 0;
	c->stage = ST_NONE;
	c->cause[0] = '\0';
}

/* The usual reason behind an errno, when the check has nothing more specific to say. */
static const char *generic_cause(int err, int stage)
{
	switch (-err) {
	case EPERM:
	case EACCES:
		return "not permitted: missing CAP_BPF/CAP_SYS_ADMIN/CAP_NET_ADMIN/CAP_PERFMON, or "
		       "kernel lockdown";
	case EINVAL:
		return stage == ST_LOAD ? "program or attach type unknown to this kernel, or "
					  "rejected by the verifier"
					: "not supported by this kernel in this combination";
	case ENOTSUPP:
	case EOPNOTSUPP:
		return "not supported by this kernel or driver";
	case ENOENT:
		return "not present in this kernel";
	case ENOMEM:
		return "out of memory: memcg limit, or RLIMIT_MEMLOCK on kernels before 5.11";
	case E2BIG:
		return "kernel too old for this attribute";
	case ENOSYS:
		return "bpf() syscall missing (CONFIG_BPF_SYSCALL off)";
	default:
		return "";
	}
}

/* Records a failure and returns err, for `return check_fail(...)`. */
static int check_fail(struct check *c, int stage, int err, const char *cause)
{
	c->ok = false;
	c->err = err < 0 ? err : -err;
	c->stage = stage;
	snprintf(c->cause, sizeof(c->cause), "%s", cause ? cause : generic_cause(c->err, stage));
	return c->err;
}

/* errstr() knows no ENOTSUPP, which bpf() returns for "not supported here". */
static const char *err_text(int err)
{
	if (err == -ENOTSUPP || err == ENOTSUPP)
		return "Operation not supported (ENOTSUPP)";
	return errstr(err);
}

/* ---- raw instructions ------------------------------------------------------------------- */

#define I_MOV64_IMM(d, v) \
	((struct bpf_insn){ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = d, .imm = v })
#define I_MOV64_REG(d, s) \
	((struct bpf_insn){ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = d, .src_reg = s })
#define I_ADD64_IMM(d, v) \
	((struct bpf_insn){ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = d, .imm = v })
#define I_ST_MEM(sz, d, o, v) \
	((struct bpf_insn){ .code = BPF_ST | BPF_MEM | sz, .dst_reg = d, .off = o, .imm = v })
#define I_JEQ_IMM(d, v, o) \
	((struct bpf_insn){ .code = BPF_JMP | BPF_JEQ | BPF_K, .dst_reg = d, .off = o, .imm = v })
#define I_KFUNC(id) \
	((struct bpf_insn){ .code = BPF_JMP | BPF_CALL, .src_reg = BPF_PSEUDO_KFUNC_CALL, .imm = id })
#define I_EXIT() ((struct bpf_insn){ .code = BPF_JMP | BPF_EXIT })

struct prog_spec {
	enum bpf_prog_type type;
	enum bpf_attach_type attach; /* expected_attach_type */
	__u32 btf_id;		     /* attach_btf_id (tracing, LSM) */
	const char *name;
	const struct bpf_insn *insns;
	size_t cnt;
	int verdict; /* for the two-instruction "return verdict" program */
};

static __u32 kernel_version_code(void)
{
	struct utsname u;
	unsigned int a = 0, b = 0, c = 0;

	if (uname(&u) || sscanf(u.release, "%u.%u.%u", &a, &b, &c) < 2)
		return 0;
	return (a << 16) + (b << 8) + (c > 255 ? 255 : c);
}

/* Keeps the last lines of the verifier log that fit, starting at a line boundary. */
static void keep_log_tail(struct check *c, const char *log)
{
	size_t n = strlen(log), keep = sizeof(c->log) - 1;
	const char *p = log;

	while (n && (log[n - 1] == '\n' || log[n - 1] == ' '))
		n--;
	if (n > keep) {
		p = log + n - keep;
		const char *nl = memchr(p, '\n', keep);

		if (nl && nl + 1 < log + n)
			p = nl + 1;
	}
	snprintf(c->log, sizeof(c->log), "%.*s", (int)(log + n - p), p);
}

/*
 * The load that failed is repeated with a log: a log buffer too small for the log turns the
 * real error into ENOSPC on kernels >= 6.4, so the errno reported is the one without a log.
 */
static void capture_vlog(const struct prog_spec *s, const struct bpf_prog_load_opts *o,
			 struct check *c)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts);
	_cleanup_free_ char *buf = malloc(VLOG_SIZE);
	int fd;

	if (!buf)
		return;
	opts = *o;
	buf[0] = '\0';
	opts.log_buf = buf;
	opts.log_size = VLOG_SIZE;
	opts.log_level = 1;
	fd = bpf_prog_load(s->type, s->name, "GPL", s->insns, s->cnt, &opts);
	if (fd >= 0)
		close(fd);
	if (buf[0])
		keep_log_tail(c, buf);
}

/* Ids of the programs loaded by this process, to wait for the kernel to free them. */
struct prog_ids {
	__u32 id[32];
	int n;
};

static void track_prog(int fd, struct prog_ids *ids)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);

	if (ids && ids->n < (int)ARRAY_SIZE(ids->id) && !bpf_obj_get_info_by_fd(fd, &info, &len))
		ids->id[ids->n++] = info.id;
}

/* Loads a program; fd, or -errno with the failure recorded in c. ids may be NULL (children). */
static int load_prog(const struct prog_spec *s, struct check *c, struct prog_ids *ids)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = s->attach,
		    .attach_btf_id = s->btf_id);
	struct bpf_insn ret[2] = { I_MOV64_IMM(BPF_REG_0, s->verdict), I_EXIT() };
	struct prog_spec spec = *s;
	int fd;

	if (!spec.insns) {
		spec.insns = ret;
		spec.cnt = ARRAY_SIZE(ret);
	}
	/* Only kprobe programs of kernels before 5.0 check it, but those do. */
	if (s->type == BPF_PROG_TYPE_KPROBE)
		opts.kern_version = kernel_version_code();
	fd = bpf_prog_load(spec.type, spec.name, "GPL", spec.insns, spec.cnt, &opts);
	if (fd >= 0) {
		track_prog(fd, ids);
		return fd;
	}
	check_fail(c, ST_LOAD, fd, NULL);
	capture_vlog(&spec, &opts, c);
	if (c->log[0] && (fd == -EACCES || fd == -EINVAL))
		snprintf(c->cause, sizeof(c->cause),
			 "the verifier rejected the program (see its log)");
	return c->err;
}

/* ---- what is probed --------------------------------------------------------------------- */

#define PROG_CHECKS(X)                            \
	X(P_XDP_NATIVE, "xdp_native")             \
	X(P_XDP_GENERIC, "xdp_generic")           \
	X(P_TC_INGRESS, "tc_ingress")             \
	X(P_TC_EGRESS, "tc_egress")               \
	X(P_TCX_INGRESS, "tcx_ingress")           \
	X(P_CG_CONNECT4, "cgroup_connect4")       \
	X(P_CG_CONNECT6, "cgroup_connect6")       \
	X(P_CG_SENDMSG4, "cgroup_sendmsg4")       \
	X(P_CG_SENDMSG6, "cgroup_sendmsg6")       \
	X(P_CG_SKB_INGRESS, "cgroup_skb_ingress") \
	X(P_CG_SKB_EGRESS, "cgroup_skb_egress")   \
	X(P_SOCK_OPS, "sock_ops")                 \
	X(P_TRACEPOINT, "tracepoint")             \
	X(P_RAW_TP, "raw_tp")                     \
	X(P_TP_BTF, "tp_btf")                     \
	X(P_KPROBE, "kprobe")                     \
	X(P_FENTRY, "fentry")                     \
	X(P_LSM, "lsm")

#define MAP_CHECKS(X)                                                            \
	X(M_HASH, "hash", BPF_MAP_TYPE_HASH)                                     \
	X(M_LRU_HASH, "lru_hash", BPF_MAP_TYPE_LRU_HASH)                         \
	X(M_PERCPU_HASH, "percpu_hash", BPF_MAP_TYPE_PERCPU_HASH)                \
	X(M_PERCPU_ARRAY, "percpu_array", BPF_MAP_TYPE_PERCPU_ARRAY)             \
	X(M_LRU_PERCPU_HASH, "lru_percpu_hash", BPF_MAP_TYPE_LRU_PERCPU_HASH)    \
	X(M_ARRAY, "array", BPF_MAP_TYPE_ARRAY)                                  \
	X(M_LPM_TRIE, "lpm_trie", BPF_MAP_TYPE_LPM_TRIE)                         \
	X(M_RINGBUF, "ringbuf", BPF_MAP_TYPE_RINGBUF)                            \
	X(M_PERF_EVENT_ARRAY, "perf_event_array", BPF_MAP_TYPE_PERF_EVENT_ARRAY) \
	X(M_PROG_ARRAY, "prog_array", BPF_MAP_TYPE_PROG_ARRAY)

/* libbpf cannot probe helpers for BPF_PROG_TYPE_TRACING, so tracing helpers use TRACEPOINT. */
#define HELPER_CHECKS(X)                                                                        \
	X(H_SYN_GEN4, "xdp", BPF_PROG_TYPE_XDP, tcp_raw_gen_syncookie_ipv4)                     \
	X(H_SYN_GEN6, "xdp", BPF_PROG_TYPE_XDP, tcp_raw_gen_syncookie_ipv6)                     \
	X(H_SYN_CHECK4, "xdp", BPF_PROG_TYPE_XDP, tcp_raw_check_syncookie_ipv4)                 \
	X(H_SYN_CHECK6, "xdp", BPF_PROG_TYPE_XDP, tcp_raw_check_syncookie_ipv6)                 \
	X(H_XDP_BOOT_NS, "xdp", BPF_PROG_TYPE_XDP, ktime_get_boot_ns)                           \
	X(H_XDP_RINGBUF, "xdp", BPF_PROG_TYPE_XDP, ringbuf_output)                              \
	X(H_XDP_ADJ_TAIL, "xdp", BPF_PROG_TYPE_XDP, xdp_adjust_tail)                            \
	X(H_XDP_FIB, "xdp", BPF_PROG_TYPE_XDP, fib_lookup)                                      \
	X(H_SA_PID, "cgroup_sock_addr", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, get_current_pid_tgid)   \
	X(H_SA_COOKIE, "cgroup_sock_addr", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, get_socket_cookie)   \
	X(H_SA_CGID, "cgroup_sock_addr", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, get_current_cgroup_id) \
	X(H_TP_TASK_BTF, "tracepoint", BPF_PROG_TYPE_TRACEPOINT, get_current_task_btf)          \
	X(H_TP_READ_KERNEL, "tracepoint", BPF_PROG_TYPE_TRACEPOINT, probe_read_kernel)

#define TP_CHECKS(X)                                        \
	X(T_SCHED_SWITCH, "sched", "sched_switch")          \
	X(T_SCHED_WAKEUP, "sched", "sched_wakeup")          \
	X(T_SCHED_EXEC, "sched", "sched_process_exec")      \
	X(T_SCHED_FORK, "sched", "sched_process_fork")      \
	X(T_SCHED_EXIT, "sched", "sched_process_exit")      \
	X(T_INET_SOCK_STATE, "sock", "inet_sock_set_state") \
	X(T_BLOCK_ISSUE, "block", "block_rq_issue")         \
	X(T_BLOCK_COMPLETE, "block", "block_rq_complete")   \
	X(T_MM_PAGE_ALLOC, "kmem", "mm_page_alloc")

#define KFUNC_CHECKS(X)                         \
	X(K_XDP_CT_LOOKUP, "bpf_xdp_ct_lookup") \
	X(K_SKB_CT_LOOKUP, "bpf_skb_ct_lookup") \
	X(K_CT_RELEASE, "bpf_ct_release")

#define X_ENUM(e, ...) e,
enum prog_check { PROG_CHECKS(X_ENUM) P__COUNT };
enum map_check { MAP_CHECKS(X_ENUM) M__COUNT };
enum helper_check { HELPER_CHECKS(X_ENUM) H__COUNT };
enum tp_check { TP_CHECKS(X_ENUM) T__COUNT };
enum kfunc_check { KFUNC_CHECKS(X_ENUM) K__COUNT };
#undef X_ENUM

#define X_NAME(e, n, ...) n,
static const char *const prog_names[] = { PROG_CHECKS(X_NAME) };
static const char *const kfunc_names[] = { KFUNC_CHECKS(X_NAME) };
#undef X_NAME

static const struct {
	const char *name;
	enum bpf_map_type type;
} map_table[] = {
#define X_MAP(e, n, t) { n, t },
	MAP_CHECKS(X_MAP)
#undef X_MAP
};

static const struct {
	const char *group;
	enum bpf_prog_type type;
	const char *name;
	enum bpf_func_id id;
} helper_table[] = {
#define X_HELPER(e, g, t, fn) { g, t, "bpf_" #fn, BPF_FUNC_##fn },
	HELPER_CHECKS(X_HELPER)
#undef X_HELPER
};

static const struct {
	const char *category, *event;
} tp_table[] = {
#define X_TP(e, c, n) { c, n },
	TP_CHECKS(X_TP)
#undef X_TP
};

struct tp_result {
	int id;	  /* tracefs event id, 0 when unknown */
	bool btf; /* btf_trace_<event> typedef in vmlinux BTF (tp_btf possible) */
	struct check c;
};

struct kfunc_result {
	bool in_btf;
	int btf_id;
	char btf_name[64]; /* "vmlinux" or the module */
	struct check load; /* a program calling it loaded and ran */
};

struct knob {
	const char *key, *path;
	long val;
	int err;
};

struct secfs_result {
	int mount_err; /* private securityfs mount, when the host has none */
	int lsm_err, lockdown_err;
	char lsm[256];
	char lockdown[64];
};

struct sys_result {
	struct utsname uts;
	struct check btf;
	int btf_types;
	struct knob knobs[5];
	struct secfs_result sec;
	char secfs_at[256]; /* "" when read through a private mount */
	char bpffs_at[256]; /* "" when not mounted */
	bool sys_fs_bpf;    /* /sys/fs/bpf itself is a bpffs */
	struct check pinning;
	char tracefs_at[256];
	bool tracefs_mounted, tracefs_unmounted;
	int tracefs_err, tracefs_umount_err;
	char cgroup2_at[256];
	char cgroup_dir[300]; /* the temporary cgroup */
	int cgroup2_err;
	bool hybrid;
	char v1_controllers[256];
	int caps_err;
	int caps[5]; /* 1 set, 0 clear, -1 unknown */
	struct rlimit memlock;
	int memlock_err;
	struct check memcg;
	struct check test_run;
	struct check netns;
	bool kprobe_events; /* legacy tracefs kprobe_events exists */
};

static const struct {
	const char *name;
	cap_value_t cap;
} cap_table[] = {
	{ "CAP_BPF", CAP_BPF },
	{ "CAP_NET_ADMIN", CAP_NET_ADMIN },
	{ "CAP_PERFMON", CAP_PERFMON },
	{ "CAP_SYS_ADMIN", CAP_SYS_ADMIN },
	{ "CAP_SYS_RESOURCE", CAP_SYS_RESOURCE },
};

struct probe {
	const struct aegis_config *cfg;
	struct btf *vmlinux; /* NULL when unparseable */
	struct check prog[P__COUNT];
	struct check map[M__COUNT];
	struct check helper[H__COUNT];
	struct tp_result tp[T__COUNT];
	struct kfunc_result kfunc[K__COUNT];
	struct sys_result sys;
	struct prog_ids loaded;
	struct ns_child netns_child; /* XDP and TC, running meanwhile */
	int netns_err;
	pthread_t closer; /* closes the perf event, see probe_tracepoint() */
	bool closer_running;
	json_t *notes;
};

static void __attribute__((format(printf, 2, 3))) add_note(struct probe *p, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_append_new(p->notes, json_string(buf));
}

/* ---- network: XDP and TC in a temporary network namespace --------------------------------- */

struct netns_result {
	struct check setup;
	struct check xdp_native, xdp_generic, tc_ingress, tc_egress, tcx_ingress;
};

/* Attaching is what native XDP depends on (the driver), so the mode is read back afterwards. */
static void probe_xdp(int ifindex, __u32 mode, struct check *c)
{
	const struct prog_spec spec = { .type = BPF_PROG_TYPE_XDP,
					.name = NAME_PREFIX "xdp",
					.verdict = XDP_PASS };
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	bool drv = mode == XDP_FLAGS_DRV_MODE;
	int fd, err;

	check_tried(c,
		    "bpf_prog_load(XDP) + bpf_xdp_attach(veth %s, %s) in a temporary netns, "
		    "bpf_xdp_query, bpf_xdp_detach",
		    VETH_NAME, drv ? "XDP_FLAGS_DRV_MODE" : "XDP_FLAGS_SKB_MODE");
	fd = load_prog(&spec, c, NULL);
	if (fd < 0)
		return;
	err = bpf_xdp_attach(ifindex, fd, mode | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
	if (err) {
		check_fail(c, ST_ATTACH, err,
			   drv ? "driver has no native XDP (veth has it since 4.19)" : NULL);
		goto out;
	}
	err = bpf_xdp_query(ifindex, 0, &q);
	if (!err && q.attach_mode != (drv ? XDP_ATTACHED_DRV : XDP_ATTACHED_SKB))
		err = -EPROTO;
	if (err) {
		check_fail(c, ST_ATTACH, err,
			   err == -EPROTO ? "attached, but the kernel reports another XDP mode"
					  : NULL);
		/* Best effort: the netns and the program die with the child anyway. */
		if (bpf_xdp_detach(ifindex, mode, NULL))
			check_note(c, "detaching after the failed query failed too");
		goto out;
	}
	err = bpf_xdp_detach(ifindex, mode, NULL);
	if (err)
		check_fail(c, ST_DETACH, err, NULL);
	else
		check_pass(c);
out:
	close(fd);
}

/* Attaches to the clsact qdisc netns_child() created, then detaches. */
static void probe_tc(int ifindex, enum bpf_tc_attach_point point, struct check *c)
{
	const struct prog_spec spec = { .type = BPF_PROG_TYPE_SCHED_CLS, .name = NAME_PREFIX "tc" };
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts);
	int fd, err;

	check_tried(c,
		    "bpf_prog_load(SCHED_CLS) + bpf_tc_hook_create(clsact) + bpf_tc_attach(%s) "
		    "on veth %s in a temporary netns, bpf_tc_detach",
		    point == BPF_TC_INGRESS ? "BPF_TC_INGRESS" : "BPF_TC_EGRESS", VETH_NAME);
	fd = load_prog(&spec, c, NULL);
	if (fd < 0)
		return;
	opts.prog_fd = fd;
	err = bpf_tc_attach(&hook, &opts);
	if (err) {
		check_fail(c, ST_ATTACH, err,
			   "direct-action cls_bpf unavailable (CONFIG_NET_CLS_BPF off)");
		goto out;
	}
	{
		LIBBPF_OPTS(bpf_tc_opts, del, .handle = opts.handle, .priority = opts.priority);

		err = bpf_tc_detach(&hook, &del);
	}
	if (err)
		check_fail(c, ST_DETACH, err, NULL);
	else
		check_pass(c);
out:
	close(fd);
}

/*
 * tcx (Linux 6.6+): the TC hook as a BPF link, which aegis pins like its other hooks. Its attach
 * type is defined locally: Debian 12's UAPI headers (6.1) do not have it.
 */
static void probe_tcx(int ifindex, struct check *c)
{
	const struct prog_spec spec = { .type = BPF_PROG_TYPE_SCHED_CLS, .name = NAME_PREFIX "tcx" };
	int fd, link;

	check_tried(c, "bpf_prog_load(SCHED_CLS) + bpf_link_create(BPF_TCX_INGRESS) on veth %s in a "
		    "temporary netns, close", VETH_NAME);
	fd = load_prog(&spec, c, NULL);
	if (fd < 0)
		return;
	link = bpf_link_create(fd, ifindex, (enum bpf_attach_type)46 /* BPF_TCX_INGRESS */, NULL);
	if (link < 0)
		check_fail(c, ST_ATTACH, -errno, errno == EINVAL ? "no tcx links: Linux 6.6 or later "
			   "has them; policy falls back to a clsact qdisc" : NULL);
	else
		check_pass(c);
	if (link >= 0)
		close(link);	/* an unpinned link detaches with its last fd */
	close(fd);
}

/* One clsact qdisc serves both directions; it is destroyed after both checks. */
static void probe_tc_both(int ifindex, struct netns_result *r)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	int err = bpf_tc_hook_create(&hook);

	if (err) {
		check_tried(&r->tc_ingress,
			    "bpf_tc_hook_create(clsact) on veth %s in a temporary netns",
			    VETH_NAME);
		check_fail(&r->tc_ingress, ST_SETUP, err,
			   "clsact qdisc unavailable (CONFIG_NET_SCH_INGRESS off)");
		r->tc_egress = r->tc_ingress;
		return;
	}
	probe_tc(ifindex, BPF_TC_INGRESS, &r->tc_ingress);
	probe_tc(ifindex, BPF_TC_EGRESS, &r->tc_egress);
	hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
	err = bpf_tc_hook_destroy(&hook);
	if (err)
		check_note(&r->tc_egress, "destroying the clsact qdisc failed: %s", err_text(err));
}

static int netns_setup(struct check *c, int *nl)
{
	int err, ifindex, peer;

	check_tried(c, "fork + unshare(CLONE_NEWNET), rtnetlink RTM_NEWLINK veth %s/%s, set up",
		    VETH_NAME, VETH_PEER);
	*nl = rtnl_open();
	if (*nl < 0)
		return check_fail(c, ST_SETUP, *nl, "no rtnetlink socket");
	err = rtnl_veth_add(*nl, VETH_NAME, VETH_PEER);
	if (err)
		return check_fail(c, ST_SETUP, err,
				  err == -EOPNOTSUPP ? "veth driver missing (CONFIG_VETH off)"
						     : NULL);
	ifindex = link_ifindex(VETH_NAME);
	peer = link_ifindex(VETH_PEER);
	if (ifindex < 0 || peer < 0)
		return check_fail(c, ST_SETUP, ifindex < 0 ? ifindex : peer,
				  "veth created but not found");
	err = rtnl_link_set_up(*nl, ifindex, 1);
	if (!err)
		err = rtnl_link_set_up(*nl, peer, 1);
	if (err)
		return check_fail(c, ST_SETUP, err, "cannot set the veth pair up");
	check_pass(c);
	return ifindex;
}

static int netns_child(void *arg, void *result, size_t len)
{
	struct netns_result *r = result;
	int nl = -1, ifindex;

	check_init(&r->setup);
	check_init(&r->xdp_native);
	check_init(&r->xdp_generic);
	check_init(&r->tc_ingress);
	check_init(&r->tc_egress);
	check_init(&r->tcx_ingress);
	ifindex = netns_setup(&r->setup, &nl);
	if (ifindex > 0) {
		int err;

		probe_xdp(ifindex, XDP_FLAGS_DRV_MODE, &r->xdp_native);
		probe_xdp(ifindex, XDP_FLAGS_SKB_MODE, &r->xdp_generic);
		probe_tc_both(ifindex, r);
		probe_tcx(ifindex, &r->tcx_ingress);
		/* The namespace dies with this process; deleting anyway shows rtnetlink deletion works. */
		err = rtnl_link_del(nl, ifindex);
		if (err)
			check_note(&r->setup, "deleting veth %s failed: %s", VETH_NAME,
				   err_text(err));
	}
	if (nl >= 0)
		close(nl);
	return 0;
}

static void copy_failure(struct check *dst, const struct check *setup)
{
	check_fail(dst, ST_SETUP, setup->err, setup->cause);
	check_note(dst, "no temporary netns: %s", setup->tried);
}

/* The netns child runs while the parent probes the rest: creating a network namespace can take
 * most of a second when other namespaces are being torn down. */
static void probe_netns_start(struct probe *p)
{
	p->netns_err = ns_child_start(&p->netns_child, CLONE_NEWNET, netns_child, NULL,
				      sizeof(struct netns_result), CHILD_TIMEOUT_MS);
}

static void probe_netns_finish(struct probe *p)
{
	struct netns_result r;
	int err = p->netns_err;

	memset(&r, 0, sizeof(r));
	if (!err)
		err = ns_child_finish(&p->netns_child, &r);
	if (err) {
		check_init(&r.setup);
		check_tried(&r.setup, "fork + unshare(CLONE_NEWNET)");
		check_fail(&r.setup, ST_SETUP, err,
			   err == -EPERM ? "no CAP_SYS_ADMIN to create a network namespace" : NULL);
	}
	p->sys.netns = r.setup;
	if (!r.setup.ok) {
		copy_failure(&r.xdp_native, &r.setup);
		copy_failure(&r.xdp_generic, &r.setup);
		copy_failure(&r.tc_ingress, &r.setup);
		copy_failure(&r.tc_egress, &r.setup);
		copy_failure(&r.tcx_ingress, &r.setup);
	}
	p->prog[P_XDP_NATIVE] = r.xdp_native;
	p->prog[P_XDP_GENERIC] = r.xdp_generic;
	p->prog[P_TC_INGRESS] = r.tc_ingress;
	p->prog[P_TC_EGRESS] = r.tc_egress;
	p->prog[P_TCX_INGRESS] = r.tcx_ingress;
}

/* ---- cgroup hooks in a temporary cgroup ---------------------------------------------------- */

static const struct cg_probe {
	enum prog_check check;
	enum bpf_prog_type type;
	enum bpf_attach_type attach;
	const char *attach_name;
	int verdict;
} cg_table[] = {
	/* connect4 denies: a child's connect() from inside the cgroup then proves the hook runs. */
	{ P_CG_CONNECT4, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT,
	  "BPF_CGROUP_INET4_CONNECT", 0 },
	{ P_CG_CONNECT6, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_CONNECT,
	  "BPF_CGROUP_INET6_CONNECT", 1 },
	{ P_CG_SENDMSG4, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_SENDMSG,
	  "BPF_CGROUP_UDP4_SENDMSG", 1 },
	{ P_CG_SENDMSG6, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP6_SENDMSG,
	  "BPF_CGROUP_UDP6_SENDMSG", 1 },
	{ P_CG_SKB_INGRESS, BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_INGRESS,
	  "BPF_CGROUP_INET_INGRESS", 1 },
	{ P_CG_SKB_EGRESS, BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_EGRESS,
	  "BPF_CGROUP_INET_EGRESS", 1 },
	{ P_SOCK_OPS, BPF_PROG_TYPE_SOCK_OPS, BPF_CGROUP_SOCK_OPS, "BPF_CGROUP_SOCK_OPS", 1 },
};

struct cg_fire_result {
	int setup_err;	 /* could not join the cgroup or make a socket */
	int connect_err; /* 0: connect() went through, i.e. the hook did not run */
};

/* Joins the temporary cgroup and connect()s a UDP socket: the deny program must say EPERM. */
static int cg_fire_child(void *arg, void *result, size_t len)
{
	struct cg_fire_result *r = result;
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(9),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char path[512], pid[32];
	ssize_t w;
	int fd, n;

	snprintf(path, sizeof(path), "%s/cgroup.procs", (const char *)arg);
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		r->setup_err = -errno;
		return 0;
	}
	w = write(fd, pid, (size_t)n);
	r->setup_err = w < 0 ? -errno : w != n ? -EIO : 0;
	close(fd);
	if (r->setup_err)
		return 0;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r->setup_err = -errno;
		return 0;
	}
	r->connect_err = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) ? -errno : 0;
	close(fd);
	return 0;
}

static void cg_prove_fires(const char *dir, struct check *c)
{
	struct cg_fire_result r = { 0 };
	int err = ns_child_run(0, cg_fire_child, (void *)dir, &r, sizeof(r), CHILD_TIMEOUT_MS);

	if (!err)
		err = r.setup_err;
	if (err)
		check_note(c, "could not check that the hook runs: %s", err_text(err));
	else if (r.connect_err == -EPERM)
		check_note(c, "the hook runs: connect() from a process in the cgroup got EPERM "
			      "from the probe program");
	else
		check_fail(c, ST_RUN, r.connect_err ? r.connect_err : -ENOEXEC,
			   "attached, but connect() in the cgroup was not denied: socket cgroup "
			   "attribution off (v1 net_cls/net_prio in use?)");
}

static void probe_cg_one(struct probe *p, const struct cg_probe *t, int cgfd, const char *dir,
			 struct check *c)
{
	const struct prog_spec spec = { .type = t->type,
					.attach = t->attach,
					.name = NAME_PREFIX "cgroup",
					.verdict = t->verdict };
	int fd, link;

	check_tried(c,
		    "bpf_prog_load(expected_attach_type %s) + bpf_link_create on a temporary "
		    "cgroup %s, close the link",
		    t->attach_name, dir);
	fd = load_prog(&spec, c, &p->loaded);
	if (fd < 0)
		return;
	link = bpf_link_create(fd, cgfd, t->attach, NULL);
	if (link < 0) {
		check_fail(c, ST_ATTACH, link,
			   link == -EINVAL ? "attach type unknown to this kernel" : NULL);
		close(fd);
		return;
	}
	check_pass(c);
	if (t->check == P_CG_CONNECT4)
		cg_prove_fires(dir, c);
	close(link);
	close(fd);
}

/* The cgroup may stay busy for a moment after its last task was reaped. */
static int rmdir_retry(const char *dir)
{
	for (int i = 0; i < 100; i++) {
		if (!rmdir(dir))
			return 0;
		if (errno != EBUSY)
			return -errno;
		usleep(2000);
	}
	return -EBUSY;
}

static void cg_fail_all(struct probe *p, int err, const char *cause, const char *tried)
{
	for (size_t i = 0; i < ARRAY_SIZE(cg_table); i++) {
		check_tried(&p->prog[cg_table[i].check], "%s", tried);
		check_fail(&p->prog[cg_table[i].check], ST_SETUP, err, cause);
	}
}

static void probe_cgroups(struct probe *p)
{
	char *dir = p->sys.cgroup_dir;
	int cgfd, err;

	if (p->sys.cgroup2_err)
		return cg_fail_all(p, p->sys.cgroup2_err,
				   "no cgroup v2 mount (mount -t cgroup2 none /sys/fs/cgroup)",
				   "cgroup2_find");
	snprintf(dir, sizeof(p->sys.cgroup_dir), "%s/" CGROUP_PREFIX "%d", p->sys.cgroup2_at,
		 (int)getpid());
	if (mkdir(dir, 0755)) {
		err = -errno;
		return cg_fail_all(p, err, "cannot create a cgroup under the cgroup v2 mount",
				   "mkdir under the cgroup v2 mount");
	}
	cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0) {
		err = -errno;
		cg_fail_all(p, err, NULL, "open the temporary cgroup");
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(cg_table); i++)
			probe_cg_one(p, &cg_table[i], cgfd, dir, &p->prog[cg_table[i].check]);
		close(cgfd);
	}
	err = rmdir_retry(dir);
	if (err)
		add_note(p, "could not remove the temporary cgroup %s: %s", dir, err_text(err));
}

/* ---- tracing: tracepoint, raw_tp, tp_btf, kprobe, fentry, LSM ---------------------------------- */

static int perf_event_open_attr(struct perf_event_attr *attr)
{
	/* pid -1 and one CPU: a system-wide event, as libbpf attaches tracepoints. */
	int fd = (int)syscall(__NR_perf_event_open, attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* Attaches the program to a perf event; closes the event on failure. */
static int perf_set_bpf(int pfd, int prog_fd, struct check *c)
{
	if (ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog_fd)) {
		int err =
		    check_fail(c, ST_ATTACH, -errno, "PERF_EVENT_IOC_SET_BPF refused the program");

		close(pfd);
		return err;
	}
	return 0;
}

static int tp_id(const char *tracefs, const char *category, const char *event)
{
	char path[512];
	long id;
	int err;

	snprintf(path, sizeof(path), "%s/events/%s/%s/id", tracefs, category, event);
	err = read_sysctl_long(path, &id);
	return err ? err : (int)id;
}

/* Attaches a TRACEPOINT program the perf way; the attached event's fd, or -errno. */
static int tp_perf_attach(int prog_fd, int id, struct check *c)
{
	struct perf_event_attr attr = { .type = PERF_TYPE_TRACEPOINT,
					.size = sizeof(attr),
					.config = (__u64)id,
					.sample_period = 1,
					.wakeup_events = 1 };
	int pfd = perf_event_open_attr(&attr), err;

	if (pfd < 0)
		return check_fail(c, ST_ATTACH, pfd, NULL);
	err = perf_set_bpf(pfd, prog_fd, c);
	return err ? err : pfd;
}

/*
 * Each tracepoint aegis uses: its tracefs id (it exists), a btf_trace_<event> typedef (tp_btf
 * can attach) and an actual attachment, through raw_tp when that works (closing a perf event
 * waits for a grace period, closing a raw_tp link does not). Returns the attachment's fd.
 */
static int probe_tp_one(struct probe *p, int prog_fd, bool raw, enum tp_check t)
{
	struct tp_result *r = &p->tp[t];
	const char *cat = tp_table[t].category, *ev = tp_table[t].event;
	char name[128];
	int id = -ENOENT, fd;

	snprintf(name, sizeof(name), "btf_trace_%s", ev);
	r->btf = p->vmlinux && btf__find_by_name_kind(p->vmlinux, name, BTF_KIND_TYPEDEF) > 0;
	if (raw)
		check_tried(&r->c, "tracefs events/%s/%s/id + bpf_raw_tracepoint_open(\"%s\")", cat,
			    ev, ev);
	else
		check_tried(&r->c,
			    "perf_event_open(PERF_TYPE_TRACEPOINT, events/%s/%s/id) + "
			    "PERF_EVENT_IOC_SET_BPF",
			    cat, ev);
	if (p->sys.tracefs_at[0]) {
		id = tp_id(p->sys.tracefs_at, cat, ev);
		if (id == -ENOENT)
			return check_fail(&r->c, ST_SETUP, id, "tracepoint not in this kernel");
		if (id < 0)
			return check_fail(&r->c, ST_SETUP, id, NULL);
		r->id = id;
	}
	if (raw) {
		fd = bpf_raw_tracepoint_open(ev, prog_fd);
		if (fd < 0)
			return check_fail(&r->c, ST_ATTACH, fd,
					  fd == -ENOENT ? "tracepoint not in this kernel" : NULL);
	} else {
		if (id < 0)
			return check_fail(&r->c, ST_SETUP, p->sys.tracefs_err,
					  "no tracefs: tracepoint id unknown");
		fd = tp_perf_attach(prog_fd, id, &r->c);
		if (fd < 0)
			return fd;
	}
	check_pass(&r->c);
	return fd;
}

static void probe_tp_list(struct probe *p)
{
	bool raw = p->prog[P_RAW_TP].ok;
	const struct prog_spec spec = { .type = raw ? BPF_PROG_TYPE_RAW_TRACEPOINT
						    : BPF_PROG_TYPE_TRACEPOINT,
					.name = NAME_PREFIX "tp_list" };
	struct check loadc;
	int fd, links[T__COUNT];

	check_init(&loadc);
	for (int t = 0; t < T__COUNT; t++)
		check_init(&p->tp[t].c);
	if (!raw && !p->prog[P_TRACEPOINT].ok) {
		for (int t = 0; t < T__COUNT; t++)
			check_fail(&p->tp[t].c, ST_SETUP, p->prog[P_TRACEPOINT].err,
				   "neither raw_tp nor tracepoint programs attach");
		return;
	}
	fd = load_prog(&spec, &loadc, &p->loaded);
	if (fd < 0) {
		for (int t = 0; t < T__COUNT; t++)
			p->tp[t].c = loadc;
		return;
	}
	/*
	 * All attached first, then all closed: registering a tracepoint right after another one
	 * was unregistered waits for a grace period (tracepoint.c, tp_rcu_cond_sync()).
	 */
	for (int t = 0; t < T__COUNT; t++)
		links[t] = probe_tp_one(p, fd, raw, t);
	for (int t = 0; t < T__COUNT; t++)
		if (links[t] >= 0)
			close(links[t]);
	close(fd);
}

static void tracefs_setup(struct probe *p)
{
	struct sys_result *s = &p->sys;

	s->tracefs_err =
	    mount_ensure_tracefs(s->tracefs_at, sizeof(s->tracefs_at), &s->tracefs_mounted);
	if (s->tracefs_err)
		s->tracefs_at[0] = '\0';
	else if (s->tracefs_mounted)
		add_note(p,
			 "tracefs was not mounted: the probe mounted it at %s and unmounts it "
			 "afterwards",
			 s->tracefs_at);
}

static void tracefs_teardown(struct probe *p)
{
	struct sys_result *s = &p->sys;

	if (!s->tracefs_mounted)
		return;
	if (umount2(s->tracefs_at, 0) && (errno != EBUSY || umount2(s->tracefs_at, MNT_DETACH)))
		s->tracefs_umount_err = -errno;
	s->tracefs_unmounted = !s->tracefs_umount_err;
	if (s->tracefs_umount_err)
		add_note(p, "could not unmount the tracefs the probe mounted at %s: %s",
			 s->tracefs_at, err_text(s->tracefs_umount_err));
}

static void *close_thread(void *arg)
{
	close((int)(intptr_t)arg);
	return NULL;
}

/*
 * Closing the last perf event of a tracepoint waits for RCU grace periods (50 to 500 ms here,
 * depending on load): a thread does it while the probe goes on, and probe_run() joins it.
 */
static void close_in_background(struct probe *p, int fd)
{
	if (p->closer_running ||
	    pthread_create(&p->closer, NULL, close_thread, (void *)(intptr_t)fd)) {
		close(fd);
		return;
	}
	p->closer_running = true;
}

static void join_closer(struct probe *p)
{
	int err;

	if (!p->closer_running)
		return;
	err = pthread_join(p->closer, NULL);
	if (err)
		add_note(p, "joining the perf event closer thread failed: %s", strerror(err));
	p->closer_running = false;
}

static void probe_tracepoint(struct probe *p)
{
	const struct prog_spec spec = { .type = BPF_PROG_TYPE_TRACEPOINT,
					.name = NAME_PREFIX "tp" };
	struct check *c = &p->prog[P_TRACEPOINT];
	int fd, id, pfd;

	check_tried(c, "bpf_prog_load(TRACEPOINT) + perf_event_open(PERF_TYPE_TRACEPOINT, "
		       "sched/sched_switch) + PERF_EVENT_IOC_SET_BPF");
	if (p->sys.tracefs_err) {
		check_fail(c, ST_SETUP, p->sys.tracefs_err,
			   "tracefs not mounted and mounting it failed: no tracepoint ids");
		return;
	}
	id = tp_id(p->sys.tracefs_at, "sched", "sched_switch");
	if (id < 0) {
		check_fail(c, ST_SETUP, id, "no sched/sched_switch in tracefs");
		return;
	}
	fd = load_prog(&spec, c, &p->loaded);
	if (fd < 0)
		return;
	pfd = tp_perf_attach(fd, id, c);
	if (pfd >= 0) {
		check_pass(c);
		close_in_background(p, pfd);
	}
	close(fd);
}

static void probe_raw_tp(struct probe *p)
{
	const struct prog_spec spec = { .type = BPF_PROG_TYPE_RAW_TRACEPOINT,
					.name = NAME_PREFIX "raw_tp" };
	struct check *c = &p->prog[P_RAW_TP];
	int fd, link;

	check_tried(c, "bpf_prog_load(RAW_TRACEPOINT) + bpf_raw_tracepoint_open(\"sched_switch\")");
	fd = load_prog(&spec, c, &p->loaded);
	if (fd < 0)
		return;
	link = bpf_raw_tracepoint_open("sched_switch", fd);
	if (link < 0)
		check_fail(c, ST_ATTACH, link, NULL);
	else
		check_pass(c);
	if (link >= 0)
		close(link);
	close(fd);
}

/* BTF id of a vmlinux type, recorded as a setup failure when missing. */
static int btf_target(struct probe *p, const char *name, int kind, struct check *c)
{
	int id;

	if (!p->vmlinux)
		return check_fail(c, ST_SETUP, p->sys.btf.err,
				  "no vmlinux BTF (CONFIG_DEBUG_INFO_BTF off)");
	id = btf__find_by_name_kind(p->vmlinux, name, kind);
	if (id <= 0)
		return check_fail(c, ST_SETUP, -ENOENT, "attach target not in vmlinux BTF");
	return id;
}

/* tp_btf, fentry and LSM: load against a BTF id, attach through bpf_raw_tracepoint_open(NULL). */
static void probe_btf_prog(struct probe *p, struct check *c, struct prog_spec *spec,
			   const char *target, int kind)
{
	int id = btf_target(p, target, kind, c), fd, link;

	if (id < 0)
		return;
	spec->btf_id = (__u32)id;
	fd = load_prog(spec, c, &p->loaded);
	if (fd < 0)
		return;
	link = bpf_raw_tracepoint_open(NULL, fd);
	if (link < 0)
		check_fail(c, ST_ATTACH, link, NULL);
	else
		check_pass(c);
	if (link >= 0)
		close(link);
	close(fd);
}

static void probe_tp_btf(struct probe *p)
{
	struct prog_spec spec = { .type = BPF_PROG_TYPE_TRACING,
				  .attach = BPF_TRACE_RAW_TP,
				  .name = NAME_PREFIX "tp_btf" };
	struct check *c = &p->prog[P_TP_BTF];

	check_tried(c, "bpf_prog_load(TRACING, BPF_TRACE_RAW_TP, attach_btf_id of typedef "
		       "btf_trace_sched_switch) + bpf_raw_tracepoint_open(NULL)");
	probe_btf_prog(p, c, &spec, "btf_trace_sched_switch", BTF_KIND_TYPEDEF);
}

/* Trampoline failures say little; whether the verifier ran at all narrows it down. */
static void trampoline_cause(const struct probe *p, const struct check *c, const char *what,
			     char *buf, size_t len)
{
	const char *lock = p->sys.sec.lockdown_err ? "unknown" : p->sys.sec.lockdown;

	snprintf(buf, len, "%s%s; lockdown: %s",
		 c->log[0] ? "" : "no verifier log, so refused before verification: ", what, lock);
}

static void probe_fentry(struct probe *p)
{
	struct prog_spec spec = { .type = BPF_PROG_TYPE_TRACING,
				  .attach = BPF_TRACE_FENTRY,
				  .name = NAME_PREFIX "fentry" };
	struct check *c = &p->prog[P_FENTRY];
	char cause[256];

	check_tried(c, "bpf_prog_load(TRACING, BPF_TRACE_FENTRY, attach_btf_id of FUNC "
		       "do_nanosleep) + bpf_raw_tracepoint_open(NULL)");
	probe_btf_prog(p, c, &spec, "do_nanosleep", BTF_KIND_FUNC);
	if (c->ok || c->stage == ST_SETUP)
		return;
	trampoline_cause(p, c,
			 "BPF trampolines unavailable: kernel lockdown or LSM policy, "
			 "CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS off, or no JIT trampoline "
			 "support",
			 cause, sizeof(cause));
	snprintf(c->cause, sizeof(c->cause), "%s", cause);
}

static void probe_lsm(struct probe *p)
{
	struct prog_spec spec = { .type = BPF_PROG_TYPE_LSM,
				  .attach = BPF_LSM_MAC,
				  .name = NAME_PREFIX "lsm" };
	struct check *c = &p->prog[P_LSM];
	bool listed = strstr(p->sys.sec.lsm, "bpf") != NULL;
	char cause[256];

	check_tried(c, "bpf_prog_load(LSM, BPF_LSM_MAC, attach_btf_id of FUNC bpf_lsm_file_open) "
		       "+ bpf_raw_tracepoint_open(NULL)");
	probe_btf_prog(p, c, &spec, "bpf_lsm_file_open", BTF_KIND_FUNC);
	if (!p->sys.sec.lsm_err)
		check_note(c, "active LSMs: %s", p->sys.sec.lsm);
	if (c->ok || c->stage == ST_SETUP)
		return;
	if (p->sys.sec.lsm_err)
		trampoline_cause(p, c,
				 "bpf not in the lsm= boot parameter or CONFIG_BPF_LSM off (LSM "
				 "list unreadable)",
				 cause, sizeof(cause));
	else if (!listed)
		trampoline_cause(p, c,
				 "bpf is not an active LSM: add it to the lsm= boot parameter "
				 "(needs CONFIG_BPF_LSM)",
				 cause, sizeof(cause));
	else
		trampoline_cause(p, c,
				 "bpf is an active LSM, but BPF trampolines are unavailable (see "
				 "fentry)",
				 cause, sizeof(cause));
	snprintf(c->cause, sizeof(c->cause), "%s", cause);
}

/* The kprobe PMU is what modern attachment needs; the legacy tracefs interface is only noted. */
static void probe_kprobe(struct probe *p)
{
	const struct prog_spec spec = { .type = BPF_PROG_TYPE_KPROBE,
					.name = NAME_PREFIX "kprobe" };
	struct perf_event_attr attr = { .size = sizeof(attr),
					.sample_period = 1,
					.wakeup_events = 1 };
	struct check *c = &p->prog[P_KPROBE];
	char path[512];
	long type;
	int fd, pfd, err;

	snprintf(path, sizeof(path), "%s/kprobe_events", p->sys.tracefs_at);
	p->sys.kprobe_events = p->sys.tracefs_at[0] && access(path, F_OK) == 0;
	check_tried(c, "bpf_prog_load(KPROBE) + perf_event_open(kprobe PMU from "
		       "/sys/bus/event_source/devices/kprobe/type, do_nanosleep) + "
		       "PERF_EVENT_IOC_SET_BPF");
	check_note(c, "legacy tracefs kprobe_events: %s",
		   p->sys.kprobe_events	  ? "present"
		   : p->sys.tracefs_at[0] ? "absent"
					  : "unknown (no tracefs)");
	fd = load_prog(&spec, c, &p->loaded);
	if (fd < 0)
		return;
	err = read_sysctl_long("/sys/bus/event_source/devices/kprobe/type", &type);
	if (err) {
		check_fail(c, ST_ATTACH, err,
			   "no kprobe PMU: kernel built without CONFIG_KPROBE_EVENTS or kprobe PMU "
			   "missing");
		goto out;
	}
	attr.type = (__u32)type;
	attr.kprobe_func = (__u64)(uintptr_t) "do_nanosleep";
	pfd = perf_event_open_attr(&attr);
	if (pfd < 0) {
		check_fail(c, ST_ATTACH, pfd,
			   pfd == -ENOENT ? "do_nanosleep not probeable (inlined or blacklisted)"
					  : NULL);
		goto out;
	}
	if (!perf_set_bpf(pfd, fd, c)) {
		check_pass(c);
		close(pfd);
	}
out:
	close(fd);
}

static void probe_tracing(struct probe *p)
{
	tracefs_setup(p);
	probe_tracepoint(p);
	probe_raw_tp(p);
	probe_tp_list(p);
	probe_kprobe(p);
	tracefs_teardown(p);
	probe_tp_btf(p);
	probe_fentry(p);
	probe_lsm(p);
}

/* ---- maps, helpers ------------------------------------------------------------------------ */

static void probe_maps(struct probe *p)
{
	for (int i = 0; i < M__COUNT; i++) {
		struct check *c = &p->map[i];
		int r = libbpf_probe_bpf_map_type(map_table[i].type, NULL);

		check_init(c);
		check_tried(c, "libbpf_probe_bpf_map_type(%s)", map_table[i].name);
		if (r == 1)
			check_pass(c);
		else if (r == 0)
			check_fail(c, ST_CREATE, -EOPNOTSUPP,
				   "the kernel refused to create this map type");
		else
			check_fail(c, ST_CREATE, r, NULL);
	}
}

static void probe_helpers(struct probe *p)
{
	for (int i = 0; i < H__COUNT; i++) {
		struct check *c = &p->helper[i];
		int r = libbpf_probe_bpf_helper(helper_table[i].type, helper_table[i].id, NULL);

		check_init(c);
		check_tried(c, "libbpf_probe_bpf_helper(%s, %s)", helper_table[i].group,
			    helper_table[i].name);
		if (r == 1)
			check_pass(c);
		else if (r == 0)
			check_fail(c, ST_LOAD, -EINVAL,
				   "the verifier does not know this helper for this program type");
		else
			check_fail(c, ST_LOAD, r, NULL);
	}
}

/* ---- kfuncs: conntrack ------------------------------------------------------------------- */

/* Looks for a FUNC in vmlinux BTF, then in every module's BTF (/sys/kernel/btf/<module>). */
static void kfunc_find(struct probe *p, const char *name, struct kfunc_result *k)
{
	static const char *const mods[] = { "nf_conntrack" };
	int id = p->vmlinux ? btf__find_by_name_kind(p->vmlinux, name, BTF_KIND_FUNC) : -ENOENT;

	if (id > 0) {
		k->in_btf = true;
		k->btf_id = id;
		snprintf(k->btf_name, sizeof(k->btf_name), "vmlinux");
		return;
	}
	if (!p->vmlinux)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(mods); i++) {
		char path[128];
		struct btf *mod;

		snprintf(path, sizeof(path), "/sys/kernel/btf/%s", mods[i]);
		mod = btf__parse_split(path, p->vmlinux);
		if (!mod)
			continue;
		id = btf__find_by_name_kind(mod, name, BTF_KIND_FUNC);
		btf__free(mod);
		if (id > 0) {
			k->in_btf = true;
			k->btf_id = id;
			snprintf(k->btf_name, sizeof(k->btf_name), "%s", mods[i]);
			return;
		}
	}
}

/* Size of struct bpf_ct_opts and the offsets of the two fields the probe sets. */
static int ct_opts_layout(const struct btf *btf, int *netns_off, int *l4proto_off)
{
	int id = btf__find_by_name_kind(btf, "bpf_ct_opts", BTF_KIND_STRUCT);
	const struct btf_type *t;
	const struct btf_member *m;

	if (id <= 0)
		return -ENOENT;
	t = btf__type_by_id(btf, id);
	m = btf_members(t);
	*netns_off = *l4proto_off = -1;
	for (int i = 0; i < btf_vlen(t); i++, m++) {
		const char *n = btf__name_by_offset(btf, m->name_off);

		if (streq(n, "netns_id"))
			*netns_off = (int)(m->offset / 8);
		else if (streq(n, "l4proto"))
			*l4proto_off = (int)(m->offset / 8);
	}
	if (*netns_off < 0 || *l4proto_off < 0 || t->size > 32)
		return -EPROTO;
	return (int)t->size;
}

/*
 * lookup(ctx, &tuple, sizeof(tuple.ipv4), &opts, sizeof(opts)); if (ct) release(ct); return v.
 * The tuple lives at fp-16, the opts at fp-48 (32 bytes zeroed: room for a grown struct).
 */
static size_t ct_insns(struct bpf_insn *in, int lookup, int release, int opts_sz, int netns_off,
		       int l4_off, int verdict)
{
	size_t i = 0;

	in[i++] = I_MOV64_REG(BPF_REG_6, BPF_REG_1);
	for (int off = -48; off < 0; off += 8)
		in[i++] = I_ST_MEM(BPF_DW, BPF_REG_10, off, 0);
	in[i++] = I_ST_MEM(BPF_W, BPF_REG_10, -48 + netns_off, -1); /* BPF_F_CURRENT_NETNS */
	in[i++] = I_ST_MEM(BPF_B, BPF_REG_10, -48 + l4_off, IPPROTO_TCP);
	in[i++] = I_MOV64_REG(BPF_REG_1, BPF_REG_6);
	in[i++] = I_MOV64_REG(BPF_REG_2, BPF_REG_10);
	in[i++] = I_ADD64_IMM(BPF_REG_2, -16);
	in[i++] = I_MOV64_IMM(BPF_REG_3, 12);
	in[i++] = I_MOV64_REG(BPF_REG_4, BPF_REG_10);
	in[i++] = I_ADD64_IMM(BPF_REG_4, -48);
	in[i++] = I_MOV64_IMM(BPF_REG_5, opts_sz);
	in[i++] = I_KFUNC(lookup);
	in[i++] = I_JEQ_IMM(BPF_REG_0, 0, 2);
	in[i++] = I_MOV64_REG(BPF_REG_1, BPF_REG_0);
	in[i++] = I_KFUNC(release);
	in[i++] = I_MOV64_IMM(BPF_REG_0, verdict);
	in[i++] = I_EXIT();
	return i;
}

/* Loads and test-runs a program calling lookup + release on a zeroed 64-byte frame. */
static void ct_load_test(struct probe *p, enum kfunc_check lookup, enum bpf_prog_type type,
			 int verdict, struct check *c)
{
	struct kfunc_result *l = &p->kfunc[lookup], *r = &p->kfunc[K_CT_RELEASE];
	struct bpf_insn insns[32];
	struct prog_spec spec = { .type = type, .name = NAME_PREFIX "ct", .insns = insns };
	unsigned char pkt[64] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = pkt, .data_size_in = sizeof(pkt));
	int sz, netns_off, l4_off, fd, err;

	check_tried(c,
		    "bpf_prog_load(%s calling %s + bpf_ct_release by BTF id) + BPF_PROG_TEST_RUN",
		    type == BPF_PROG_TYPE_XDP ? "XDP" : "SCHED_CLS", kfunc_names[lookup]);
	if (!l->in_btf || !r->in_btf) {
		check_fail(c, ST_SETUP, -ENOENT,
			   "kfunc not in BTF: CONFIG_NF_CONNTRACK off, nf_conntrack module "
			   "not loaded, or no module BTF (CONFIG_DEBUG_INFO_BTF_MODULES)");
		return;
	}
	if (!streq(l->btf_name, "vmlinux") || !streq(r->btf_name, "vmlinux")) {
		check_pass(c);
		check_note(c, "present in BTF of module %s (not load-tested)", l->btf_name);
		return;
	}
	sz = ct_opts_layout(p->vmlinux, &netns_off, &l4_off);
	if (sz < 0) {
		check_pass(c);
		check_note(c, "present in BTF (not load-tested: struct bpf_ct_opts layout "
			      "unknown)");
		return;
	}
	spec.cnt = ct_insns(insns, l->btf_id, r->btf_id, sz, netns_off, l4_off, verdict);
	fd = load_prog(&spec, c, &p->loaded);
	if (fd < 0)
		return;
	err = bpf_prog_test_run_opts(fd, &run);
	if (err)
		check_fail(c, ST_RUN, err, NULL);
	else if ((int)run.retval != verdict)
		check_fail(c, ST_RUN, -EPROTO, "the test program returned an unexpected verdict");
	else
		check_pass(c);
	close(fd);
}

static void probe_kfuncs(struct probe *p)
{
	struct kfunc_result *k = p->kfunc;

	for (int i = 0; i < K__COUNT; i++) {
		check_init(&k[i].load);
		kfunc_find(p, kfunc_names[i], &k[i]);
	}
	ct_load_test(p, K_XDP_CT_LOOKUP, BPF_PROG_TYPE_XDP, XDP_PASS, &k[K_XDP_CT_LOOKUP].load);
	ct_load_test(p, K_SKB_CT_LOOKUP, BPF_PROG_TYPE_SCHED_CLS, 0, &k[K_SKB_CT_LOOKUP].load);
	/* The release is proven by either program: the verifier insists on it. */
	k[K_CT_RELEASE].load =
	    k[K_XDP_CT_LOOKUP].load.ok ? k[K_XDP_CT_LOOKUP].load : k[K_SKB_CT_LOOKUP].load;
	snprintf(k[K_CT_RELEASE].load.tried, sizeof(k[K_CT_RELEASE].load.tried),
		 "released the lookup's reference in the bpf_xdp_ct_lookup / bpf_skb_ct_lookup "
		 "programs");
}

/* ---- system ------------------------------------------------------------------------------ */

static void probe_btf(struct probe *p)
{
	struct check *c = &p->sys.btf;

	check_init(c);
	check_tried(c, "open /sys/kernel/btf/vmlinux and parse it (btf__load_vmlinux_btf)");
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		check_fail(c, ST_SETUP, -errno,
			   "kernel built without CONFIG_DEBUG_INFO_BTF: CO-RE, tp_btf and kfuncs "
			   "need it");
		return;
	}
	p->vmlinux = btf__load_vmlinux_btf();
	if (!p->vmlinux) {
		check_fail(c, ST_RUN, -errno,
			   "vmlinux BTF present but libbpf cannot parse it (libbpf too old?)");
		return;
	}
	p->sys.btf_types = (int)btf__type_cnt(p->vmlinux);
	check_pass(c);
}

static void probe_knobs(struct probe *p)
{
	static const struct {
		const char *key, *path;
	} paths[] = {
		{ "net.core.bpf_jit_enable", "/proc/sys/net/core/bpf_jit_enable" },
		{ "net.core.bpf_jit_harden", "/proc/sys/net/core/bpf_jit_harden" },
		{ "net.core.bpf_jit_kallsyms", "/proc/sys/net/core/bpf_jit_kallsyms" },
		{ "kernel.bpf_stats_enabled", "/proc/sys/kernel/bpf_stats_enabled" },
		{ "kernel.unprivileged_bpf_disabled",
		  "/proc/sys/kernel/unprivileged_bpf_disabled" },
	};
	_Static_assert(ARRAY_SIZE(paths) == ARRAY_SIZE(p->sys.knobs), "one knob per path");

	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		struct knob *k = &p->sys.knobs[i];

		k->key = paths[i].key;
		k->path = paths[i].path;
		k->err = read_sysctl_long(k->path, &k->val);
	}
}

/* "[none] integrity confidentiality" -> "none" */
static void lockdown_mode(const char *text, char *out, size_t len)
{
	const char *a = strchr(text, '['), *b = a ? strchr(a, ']') : NULL;

	if (a && b)
		snprintf(out, len, "%.*s", (int)(b - a - 1), a + 1);
	else
		snprintf(out, len, "%s", text);
}

static void read_secfs(const char *dir, struct secfs_result *r)
{
	_cleanup_free_ char *lsm = NULL, *lock = NULL;
	char path[512];

	snprintf(path, sizeof(path), "%s/lsm", dir);
	r->lsm_err = read_file(path, &lsm, NULL);
	if (!r->lsm_err)
		snprintf(r->lsm, sizeof(r->lsm), "%s", lsm);
	snprintf(path, sizeof(path), "%s/lockdown", dir);
	r->lockdown_err = read_file(path, &lock, NULL);
	if (!r->lockdown_err)
		lockdown_mode(lock, r->lockdown, sizeof(r->lockdown));
	r->lsm[strcspn(r->lsm, "\n")] = '\0';
}

static int secfs_child(void *arg, void *result, size_t len)
{
	struct secfs_result *r = result;

	if (mount("securityfs", "/sys/kernel/security", "securityfs",
		  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		r->mount_err = r->lsm_err = r->lockdown_err = -errno;
		return 0;
	}
	read_secfs("/sys/kernel/security", r);
	return 0;
}

/* securityfs holds the LSM list and lockdown; when unmounted, read it in a private mount. */
static void probe_securityfs(struct probe *p)
{
	struct secfs_result *r = &p->sys.sec;
	int err;

	if (mount_find("securityfs", p->sys.secfs_at, sizeof(p->sys.secfs_at)) == 0) {
		read_secfs(p->sys.secfs_at, r);
		return;
	}
	p->sys.secfs_at[0] = '\0';
	err = ns_child_run(CLONE_NEWNS, secfs_child, NULL, r, sizeof(*r), CHILD_TIMEOUT_MS);
	if (err)
		r->mount_err = r->lsm_err = r->lockdown_err = err;
	else if (!r->mount_err)
		add_note(p, "securityfs is not mounted: LSM list and lockdown read through a "
			    "private mount "
			    "in a child mount namespace");
}

static void pin_test(const char *dir, struct check *c)
{
	char path[512];
	int fd, got, err;

	/* bpffs refuses names with a dot (reserved for its own *.debug files). */
	snprintf(path, sizeof(path), "%s/" NAME_PREFIX "pin_%d", dir, (int)getpid());
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NAME_PREFIX "pin", 4, 4, 1, NULL);
	if (fd < 0) {
		check_fail(c, ST_CREATE, fd, NULL);
		return;
	}
	err = bpf_obj_pin(fd, path);
	close(fd);
	if (err) {
		check_fail(c, ST_PIN, err, "bpffs refused the pin (read-only, or not a bpffs)");
		return;
	}
	got = bpf_obj_get(path);
	if (got < 0)
		check_fail(c, ST_PIN, got, "pinned, but bpf_obj_get failed");
	else
		check_pass(c);
	if (got >= 0)
		close(got);
	if (unlink(path))
		check_fail(c, ST_CLEANUP, -errno, "could not remove the test pin");
}

static int bpffs_child(void *arg, void *result, size_t len)
{
	struct check *c = result;

	check_init(c);
	if (mount("bpf", BPFFS_DEFAULT, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700")) {
		check_fail(c, ST_SETUP, -errno,
			   "cannot mount bpffs (CONFIG_BPF_SYSCALL off, or no CAP_SYS_ADMIN)");
		return 0;
	}
	pin_test(BPFFS_DEFAULT, c);
	return 0;
}

/* Pinning where bpffs is mounted; when it is not, mount and pin in a private mount namespace. */
static void probe_bpffs(struct probe *p)
{
	struct sys_result *s = &p->sys;
	struct check *c = &s->pinning;
	int err;

	check_init(c);
	s->sys_fs_bpf = mount_is(BPFFS_DEFAULT, "bpf");
	if (mount_find("bpf", s->bpffs_at, sizeof(s->bpffs_at)) == 0) {
		check_tried(c, "pin an array map under %s (bpf_obj_pin, bpf_obj_get, unlink)",
			    s->bpffs_at);
		pin_test(s->bpffs_at, c);
		return;
	}
	s->bpffs_at[0] = '\0';
	err = ns_child_run(CLONE_NEWNS, bpffs_child, NULL, c, sizeof(*c), CHILD_TIMEOUT_MS);
	if (err)
		check_fail(c, ST_SETUP, err, "cannot create a mount namespace");
	check_tried(c,
		    "mount bpffs on %s in a child mount namespace, pin an array map, bpf_obj_get",
		    BPFFS_DEFAULT);
	if (c->ok)
		add_note(p,
			 "bpffs is not mounted: the agent mounts it at %s (mount -t bpf bpf %s); "
			 "mounting and pinning were tried in a private mount namespace",
			 BPFFS_DEFAULT, BPFFS_DEFAULT);
}

/* Hybrid layout: cgroup v1 hierarchies next to the v2 mount. Controllers bound to v1 come
 * from /proc/cgroups (hierarchy id != 0). */
static void probe_cgroup_layout(struct probe *p)
{
	struct sys_result *s = &p->sys;
	FILE *f;
	char line[256];

	s->cgroup2_err = cgroup2_find(s->cgroup2_at, sizeof(s->cgroup2_at));
	if (s->cgroup2_err)
		s->cgroup2_at[0] = '\0';
	f = fopen("/proc/cgroups", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char name[64];
		int hier;

		if (line[0] == '#' || sscanf(line, "%63s %d", name, &hier) != 2 || hier == 0)
			continue;
		s->hybrid = true;
		if (s->v1_controllers[0])
			strncat(s->v1_controllers, ",",
				sizeof(s->v1_controllers) - strlen(s->v1_controllers) - 1);
		strncat(s->v1_controllers, name,
			sizeof(s->v1_controllers) - strlen(s->v1_controllers) - 1);
	}
	fclose(f);
	if (strstr(s->v1_controllers, "net_cls") || strstr(s->v1_controllers, "net_prio"))
		add_note(p, "cgroup v1 net_cls/net_prio are mounted: once configured, the kernel "
			    "stops "
			    "attributing sockets to cgroup v2 and cgroup BPF hooks go blind");
}

static void probe_caps(struct probe *p)
{
	cap_t caps = cap_get_proc();

	for (size_t i = 0; i < ARRAY_SIZE(cap_table); i++)
		p->sys.caps[i] = -1;
	if (!caps) {
		p->sys.caps_err = -errno;
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cap_table); i++) {
		cap_flag_value_t v;

		/* libcap older than the kernel may not know CAP_BPF/CAP_PERFMON: then unknown. */
		if (cap_get_flag(caps, cap_table[i].cap, CAP_EFFECTIVE, &v) == 0)
			p->sys.caps[i] = v == CAP_SET;
	}
	cap_free(caps);
}

static int memcg_child(void *arg, void *result, size_t len)
{
	struct check *c = result;
	struct rlimit zero = { 0, 0 };
	int fd;

	check_init(c);
	if (setrlimit(RLIMIT_MEMLOCK, &zero)) {
		check_fail(c, ST_SETUP, -errno, "cannot lower RLIMIT_MEMLOCK");
		return 0;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NAME_PREFIX "memlock", 4, 8, 1, NULL);
	if (fd < 0) {
		check_fail(c, ST_CREATE, fd,
			   "BPF memory is charged to RLIMIT_MEMLOCK (kernel before 5.11): "
			   "the agent raises it (LimitMEMLOCK=infinity)");
		return 0;
	}
	close(fd);
	check_pass(c);
	return 0;
}

/* Since 5.11 BPF memory is charged to the memcg: a map created with RLIMIT_MEMLOCK 0 proves it. */
static void probe_memlock(struct probe *p)
{
	struct check *c = &p->sys.memcg;
	int err;

	if (getrlimit(RLIMIT_MEMLOCK, &p->sys.memlock))
		p->sys.memlock_err = -errno;
	check_init(c);
	err = ns_child_run(0, memcg_child, NULL, c, sizeof(*c), CHILD_TIMEOUT_MS);
	if (err)
		check_fail(c, ST_SETUP, err, "cannot start a child process");
	check_tried(c, "bpf_map_create(ARRAY) in a child with RLIMIT_MEMLOCK lowered to 0");
}

static void probe_test_run(struct probe *p)
{
	const struct prog_spec spec = { .type = BPF_PROG_TYPE_XDP,
					.name = NAME_PREFIX "test_run",
					.verdict = XDP_PASS };
	struct check *c = &p->sys.test_run;
	unsigned char pkt[64] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = pkt, .data_size_in = sizeof(pkt));
	int fd, err;

	check_init(c);
	check_tried(c, "bpf_prog_load(XDP returning XDP_PASS) + BPF_PROG_TEST_RUN on a 64-byte "
		       "frame");
	fd = load_prog(&spec, c, &p->loaded);
	if (fd < 0)
		return;
	err = bpf_prog_test_run_opts(fd, &run);
	if (err)
		check_fail(c, ST_RUN, err, "BPF_PROG_TEST_RUN unavailable for XDP");
	else if (run.retval != XDP_PASS)
		check_fail(c, ST_RUN, -EPROTO, "test run returned an unexpected verdict");
	else
		check_pass(c);
	close(fd);
}

static void probe_system(struct probe *p)
{
	if (uname(&p->sys.uts))
		memset(&p->sys.uts, 0, sizeof(p->sys.uts));
	probe_btf(p);
	probe_knobs(p);
	probe_securityfs(p);
	probe_bpffs(p);
	probe_cgroup_layout(p);
	probe_caps(p);
	probe_memlock(p);
	probe_test_run(p);
}

/* ---- capabilities ------------------------------------------------------------------------ */

enum cap_state { STATE_READY, STATE_DEGRADED, STATE_UNAVAILABLE };

static const char *const state_names[] = { "ready", "degraded", "unavailable" };

struct capability {
	const char *name;
	bool enabled;
	enum cap_state state;
	char detail[512];
};

static void __attribute__((format(printf, 3, 4)))
cap_set(struct capability *cap, enum cap_state st, const char *fmt, ...)
{
	va_list ap;

	cap->state = st;
	va_start(ap, fmt);
	vsnprintf(cap->detail, sizeof(cap->detail), fmt, ap);
	va_end(ap);
}

/* Appends the names of the failed checks among `which` to buf; true when all passed. */
static bool all_ok(const struct check *checks, const char *const *names, const int *which, size_t n,
		   char *buf, size_t len)
{
	bool ok = true;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const struct check *c = &checks[which[i]];

		if (c->ok)
			continue;
		ok = false;
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s (%s)", buf[0] ? ", " : "",
			 names[which[i]], err_text(c->err));
	}
	return ok;
}

static const char *map_name(int i)
{
	return map_table[i].name;
}

static bool maps_ok(const struct probe *p, const int *which, size_t n, char *buf, size_t len)
{
	const char *names[M__COUNT];

	for (int i = 0; i < M__COUNT; i++)
		names[i] = map_name(i);
	return all_ok(p->map, names, which, n, buf, len);
}

static bool progs_ok(const struct probe *p, const int *which, size_t n, char *buf, size_t len)
{
	return all_ok(p->prog, prog_names, which, n, buf, len);
}

static void cap_agent(const struct probe *p, struct capability *cap)
{
	const struct sys_result *s = &p->sys;
	static const int maps[] = { M_ARRAY, M_HASH };
	char missing[256];

	if (!s->btf.ok)
		return cap_set(cap, STATE_UNAVAILABLE, "no usable vmlinux BTF: %s",
			       err_text(s->btf.err));
	if (!maps_ok(p, maps, ARRAY_SIZE(maps), missing, sizeof(missing)))
		return cap_set(cap, STATE_UNAVAILABLE, "cannot create maps: %s", missing);
	if (!s->test_run.ok && s->test_run.stage == ST_LOAD)
		return cap_set(cap, STATE_UNAVAILABLE, "cannot load a program: %s",
			       err_text(s->test_run.err));
	if (!s->pinning.ok)
		return cap_set(cap, STATE_UNAVAILABLE, "cannot pin in bpffs (%s): %s",
			       stage_names[s->pinning.stage], err_text(s->pinning.err));
	if (s->bpffs_at[0])
		return cap_set(cap, STATE_READY,
			       "BTF, maps, program load and pinning ok; bpffs at %s", s->bpffs_at);
	cap_set(cap, STATE_READY,
		"BTF, maps, program load and pinning ok; bpffs not mounted: the agent mounts it at "
		"%s",
		BPFFS_DEFAULT);
}

static enum xdp_attach_mode guard_mode(const struct probe *p)
{
	return p->cfg ? p->cfg->guard_xdp_mode : XDP_ATTACH_AUTO;
}

static void cap_guard(const struct probe *p, struct capability *cap)
{
	static const int maps[] = { M_LPM_TRIE, M_LRU_HASH, M_PERCPU_ARRAY, M_RINGBUF };
	const struct check *drv = &p->prog[P_XDP_NATIVE], *skb = &p->prog[P_XDP_GENERIC];
	enum xdp_attach_mode mode = guard_mode(p);
	char missing[256];

	if (!maps_ok(p, maps, ARRAY_SIZE(maps), missing, sizeof(missing)))
		return cap_set(cap, STATE_UNAVAILABLE, "missing map types: %s", missing);
	if (mode == XDP_ATTACH_NATIVE && !drv->ok)
		return cap_set(cap, STATE_UNAVAILABLE,
			       "guard.xdp_mode is native, but native XDP failed on veth: %s",
			       err_text(drv->err));
	if (mode == XDP_ATTACH_GENERIC)
		return skb->ok ? cap_set(cap, STATE_READY,
					 "generic XDP as configured (slower, runs after skb "
					 "allocation)")
			       : cap_set(cap, STATE_UNAVAILABLE, "generic XDP failed: %s",
					 err_text(skb->err));
	if (drv->ok)
		return cap_set(cap, STATE_READY,
			       "native XDP (proven on veth; each interface's driver decides at "
			       "attach)");
	if (skb->ok)
		return cap_set(cap, STATE_DEGRADED,
			       "generic XDP: slower, runs after skb allocation (native failed: %s)",
			       err_text(drv->err));
	cap_set(cap, STATE_UNAVAILABLE, "no XDP: native %s, generic %s", err_text(drv->err),
		err_text(skb->err));
}

static void cap_syncookies(const struct probe *p, struct capability *cap)
{
	const struct check *h = p->helper;
	const char *names[H__COUNT];
	static const int v4[] = { H_SYN_GEN4, H_SYN_CHECK4 }, v6[] = { H_SYN_GEN6, H_SYN_CHECK6 };
	char m4[256], m6[256];
	bool ok4, ok6;

	for (int i = 0; i < H__COUNT; i++)
		names[i] = helper_table[i].name;
	ok4 = all_ok(h, names, v4, ARRAY_SIZE(v4), m4, sizeof(m4));
	ok6 = all_ok(h, names, v6, ARRAY_SIZE(v6), m6, sizeof(m6));
	if (!p->prog[P_XDP_NATIVE].ok && !p->prog[P_XDP_GENERIC].ok)
		return cap_set(cap, STATE_UNAVAILABLE, "no XDP attach");
	if (ok4 && ok6)
		return cap_set(cap, STATE_READY, "XDP SYN cookie helpers for IPv4 and IPv6");
	if (ok4)
		return cap_set(cap, STATE_DEGRADED, "IPv4 only: missing %s", m6);
	cap_set(cap, STATE_UNAVAILABLE, "missing helpers: %s%s%s", m4, ok6 ? "" : ", ",
		ok6 ? "" : m6);
}

static void cap_policy(const struct probe *p, struct capability *cap)
{
	static const int need[] = { P_CG_SKB_EGRESS, P_CG_CONNECT4, P_CG_CONNECT6 };
	static const int maps[] = { M_HASH, M_LRU_HASH, M_PERCPU_ARRAY, M_ARRAY, M_RINGBUF };
	char missing[512];

	if (!p->prog[P_TCX_INGRESS].ok && !p->prog[P_TC_INGRESS].ok)
		return cap_set(cap, STATE_UNAVAILABLE, "no TC ingress hook: neither tcx (%s) nor clsact (%s)",
			       err_text(p->prog[P_TCX_INGRESS].err), err_text(p->prog[P_TC_INGRESS].err));
	if (!progs_ok(p, need, ARRAY_SIZE(need), missing, sizeof(missing)))
		return cap_set(cap, STATE_UNAVAILABLE, "missing hooks: %s", missing);
	if (!maps_ok(p, maps, ARRAY_SIZE(maps), missing, sizeof(missing)))
		return cap_set(cap, STATE_UNAVAILABLE, "missing map types: %s", missing);
	if (!p->prog[P_TCX_INGRESS].ok)
		return cap_set(cap, STATE_READY, "TC ingress on clsact qdiscs (no tcx links: %s), cgroup_skb "
			       "egress, cgroup connect4/6", err_text(p->prog[P_TCX_INGRESS].err));
	cap_set(cap, STATE_READY, "TC ingress through tcx links, cgroup_skb egress, cgroup connect4/6");
}

static void cap_egress(const struct probe *p, struct capability *cap)
{
	static const int need[] = { P_CG_CONNECT4, P_CG_CONNECT6, P_CG_SENDMSG4 };
	const struct check *lsm = &p->prog[P_LSM];
	char missing[512];

	if (!progs_ok(p, need, ARRAY_SIZE(need), missing, sizeof(missing)))
		return cap_set(cap, STATE_UNAVAILABLE, "missing hooks: %s", missing);
	if (!p->prog[P_CG_SENDMSG6].ok)
		return cap_set(cap, STATE_DEGRADED,
			       "no cgroup sendmsg6: IPv6 UDP without connect() goes unchecked");
	if (lsm->ok)
		return cap_set(cap, STATE_READY,
			       "cgroup connect4/6 and sendmsg4/6; BPF LSM available as a richer "
			       "hook");
	cap_set(cap, STATE_READY,
		"cgroup connect4/6 and sendmsg4/6; the richer hook (BPF LSM) is unavailable: %s",
		err_text(lsm->err));
}

/* Missing tracepoints among `which` into buf; returns how many are missing. */
static int tps_missing(const struct probe *p, const int *which, size_t n, char *buf, size_t len)
{
	int missing = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (p->tp[which[i]].c.ok)
			continue;
		missing++;
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s/%s", buf[0] ? ", " : "",
			 tp_table[which[i]].category, tp_table[which[i]].event);
	}
	return missing;
}

static void cap_visibility(const struct probe *p, struct capability *cap)
{
	static const int tps[] = { T_SCHED_EXEC, T_SCHED_FORK, T_SCHED_EXIT, T_INET_SOCK_STATE };
	static const int skb[] = { P_CG_SKB_INGRESS, P_CG_SKB_EGRESS };
	char missing[512];

	if (tps_missing(p, tps, ARRAY_SIZE(tps), missing, sizeof(missing)))
		return cap_set(cap, STATE_UNAVAILABLE, "tracepoints missing or not attachable: %s",
			       missing);
	if (!progs_ok(p, skb, ARRAY_SIZE(skb), missing, sizeof(missing)))
		return cap_set(cap, STATE_DEGRADED, "no flow byte/packet counters: %s", missing);
	if (!p->prog[P_TP_BTF].ok)
		return cap_set(cap, STATE_DEGRADED,
			       "tp_btf unavailable (%s): falls back to %s, fewer fields",
			       err_text(p->prog[P_TP_BTF].err),
			       p->prog[P_RAW_TP].ok ? "raw_tp" : "tracepoint");
	cap_set(cap, STATE_READY,
		"tracepoints exec/fork/exit/inet_sock_set_state, tp_btf, cgroup_skb");
}

static void cap_monitors(const struct probe *p, struct capability *cap)
{
	/* Run-queue wait comes from sched_info at sched_switch: no wakeup hooks (docs/monitors.md). */
	static const int tps[] = { T_SCHED_SWITCH, T_BLOCK_ISSUE, T_BLOCK_COMPLETE, T_MM_PAGE_ALLOC };
	char missing[512];
	int n = tps_missing(p, tps, ARRAY_SIZE(tps), missing, sizeof(missing));

	if (n == (int)ARRAY_SIZE(tps))
		return cap_set(cap, STATE_UNAVAILABLE, "no tracepoint attachable: %s", missing);
	if (n)
		return cap_set(cap, STATE_DEGRADED,
			       "tracepoints missing, those monitors are off: %s", missing);
	if (!p->prog[P_TP_BTF].ok)
		return cap_set(cap, STATE_DEGRADED,
			       "tp_btf unavailable (%s): falls back to raw_tp, no top tasks by run-queue wait",
			       err_text(p->prog[P_TP_BTF].err));
	cap_set(cap, STATE_READY, "tracepoints sched_switch, block, kmem and tp_btf");
}

static void cap_conntrack(const struct probe *p, struct capability *cap)
{
	const struct kfunc_result *x = &p->kfunc[K_XDP_CT_LOOKUP], *s = &p->kfunc[K_SKB_CT_LOOKUP];

	if (!x->load.ok && !s->load.ok)
		return cap_set(cap, STATE_UNAVAILABLE, "conntrack kfuncs: %s (%s)",
			       err_text(x->load.err), x->load.cause);
	if (!x->load.ok)
		return cap_set(cap, STATE_DEGRADED, "TC only: bpf_xdp_ct_lookup failed: %s",
			       err_text(x->load.err));
	if (x->load.note[0])
		return cap_set(cap, STATE_READY, "bpf_xdp_ct_lookup, bpf_ct_release: %s",
			       x->load.note);
	if (!s->load.ok)
		return cap_set(cap, STATE_DEGRADED, "XDP only: bpf_skb_ct_lookup failed: %s",
			       err_text(s->load.err));
	cap_set(cap, STATE_READY,
		"bpf_xdp_ct_lookup, bpf_skb_ct_lookup, bpf_ct_release load-tested (vmlinux BTF)");
}

static const struct {
	const char *name;
	void (*derive)(const struct probe *p, struct capability *cap);
} cap_derivers[] = {
	{ "agent", cap_agent },
	{ "guard", cap_guard },
	{ "syncookies", cap_syncookies },
	{ "policy", cap_policy },
	{ "egress_firewall", cap_egress },
	{ "visibility", cap_visibility },
	{ "monitors", cap_monitors },
	{ "conntrack", cap_conntrack },
};

/* Only agent, guard, policy, monitors and visibility are configurable so far; the others report enabled=false. */
static bool cap_enabled(const struct probe *p, const char *name)
{
	if (streq(name, "agent"))
		return true;
	if (streq(name, "guard"))
		return p->cfg && p->cfg->guard_enabled;
	if (streq(name, "policy"))
		return p->cfg && p->cfg->policy_enabled;
	if (streq(name, "monitors"))
		return p->cfg && (p->cfg->mon_enabled[0] || p->cfg->mon_enabled[1] ||
				  p->cfg->mon_enabled[2] || p->cfg->mon_enabled[3]);
	if (streq(name, "visibility"))
		return p->cfg && p->cfg->vis_enabled;
	return false;
}

/* ---- JSON --------------------------------------------------------------------------------- */

static void jset(json_t *o, const char *key, json_t *v)
{
	json_object_set_new(o, key, v ? v : json_null());
}

static json_t *check_json(const struct check *c)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	jset(o, "ok", json_boolean(c->ok));
	jset(o, "tried", json_string(c->tried));
	if (!c->ok) {
		jset(o, "stage", json_string(stage_names[c->stage]));
		jset(o, "errno", json_integer(-c->err));
		jset(o, "error", json_string(err_text(c->err)));
		jset(o, "cause", json_string(c->cause));
	}
	if (c->log[0])
		jset(o, "verifier_log", json_string(c->log));
	if (c->note[0])
		jset(o, "note", json_string(c->note));
	return o;
}

static json_t *programs_json(const struct probe *p)
{
	json_t *o = json_object();

	for (int i = 0; i < P__COUNT && o; i++)
		jset(o, prog_names[i], check_json(&p->prog[i]));
	return o;
}

static json_t *maps_json(const struct probe *p)
{
	json_t *o = json_object();

	for (int i = 0; i < M__COUNT && o; i++)
		jset(o, map_table[i].name, check_json(&p->map[i]));
	return o;
}

static json_t *helpers_json(const struct probe *p)
{
	json_t *o = json_object();

	for (int i = 0; i < H__COUNT && o; i++) {
		json_t *group = json_object_get(o, helper_table[i].group);

		if (!group) {
			group = json_object();
			jset(o, helper_table[i].group, group);
		}
		if (group)
			jset(group, helper_table[i].name, check_json(&p->helper[i]));
	}
	return o;
}

static json_t *tracepoints_json(const struct probe *p)
{
	json_t *o = json_object();

	for (int i = 0; i < T__COUNT && o; i++) {
		json_t *c = check_json(&p->tp[i].c);
		char key[128];

		snprintf(key, sizeof(key), "%s/%s", tp_table[i].category, tp_table[i].event);
		if (c) {
			jset(c, "id", p->tp[i].id ? json_integer(p->tp[i].id) : json_null());
			jset(c, "btf", json_boolean(p->tp[i].btf));
		}
		jset(o, key, c);
	}
	return o;
}

static json_t *kfuncs_json(const struct probe *p)
{
	json_t *o = json_object();

	for (int i = 0; i < K__COUNT && o; i++) {
		const struct kfunc_result *k = &p->kfunc[i];
		json_t *c = check_json(&k->load);

		if (c) {
			jset(c, "in_btf", json_boolean(k->in_btf));
			jset(c, "btf", k->in_btf ? json_string(k->btf_name) : json_null());
			jset(c, "btf_id", k->in_btf ? json_integer(k->btf_id) : json_null());
			jset(c, "load_tested", json_boolean(k->load.ok && !k->load.note[0]));
		}
		jset(o, kfunc_names[i], c);
	}
	return o;
}

static json_t *str_or_null(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

static json_t *err_json(int err)
{
	return err ? json_string(err_text(err)) : json_null();
}

static json_t *security_json(const struct sys_result *s)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	jset(o, "securityfs", str_or_null(s->secfs_at));
	jset(o, "read_via_private_mount", json_boolean(!s->secfs_at[0] && !s->sec.mount_err));
	jset(o, "lsm", s->sec.lsm_err ? json_null() : json_string(s->sec.lsm));
	jset(o, "lsm_error", err_json(s->sec.lsm_err));
	jset(o, "bpf_lsm_active",
	     s->sec.lsm_err ? json_null() : json_boolean(strstr(s->sec.lsm, "bpf") != NULL));
	jset(o, "lockdown", s->sec.lockdown_err ? json_null() : json_string(s->sec.lockdown));
	jset(o, "lockdown_error", err_json(s->sec.lockdown_err));
	return o;
}

static json_t *mounts_json(const struct sys_result *s)
{
	json_t *o = json_object(), *bpffs = json_object(), *tfs = json_object(),
	       *cg = json_object();

	if (!o || !bpffs || !tfs || !cg) {
		json_decref(o);
		json_decref(bpffs);
		json_decref(tfs);
		json_decref(cg);
		return NULL;
	}
	jset(bpffs, "mounted_at", str_or_null(s->bpffs_at));
	jset(bpffs, "sys_fs_bpf_is_bpffs", json_boolean(s->sys_fs_bpf));
	jset(bpffs, "pinning", check_json(&s->pinning));
	jset(tfs, "mounted_at", str_or_null(s->tracefs_at));
	jset(tfs, "error", err_json(s->tracefs_err));
	jset(tfs, "mounted_by_probe", json_boolean(s->tracefs_mounted));
	jset(tfs, "unmounted_by_probe", json_boolean(s->tracefs_unmounted));
	jset(cg, "mounted_at", str_or_null(s->cgroup2_at));
	jset(cg, "error", err_json(s->cgroup2_err));
	jset(cg, "hybrid", json_boolean(s->hybrid && !s->cgroup2_err));
	jset(cg, "v1_controllers", json_string(s->v1_controllers));
	jset(cg, "probe_cgroup", str_or_null(s->cgroup_dir));
	jset(o, "bpffs", bpffs);
	jset(o, "tracefs", tfs);
	jset(o, "cgroup2", cg);
	return o;
}

static json_t *rlim_json(rlim_t v)
{
	return v == RLIM_INFINITY ? json_null() : json_integer((json_int_t)v);
}

static json_t *system_json(const struct probe *p)
{
	const struct sys_result *s = &p->sys;
	json_t *o = json_object(), *knobs = json_object(), *caps = json_object(),
	       *ml = json_object();

	if (!o || !knobs || !caps || !ml) {
		json_decref(o);
		json_decref(knobs);
		json_decref(caps);
		json_decref(ml);
		return NULL;
	}
	jset(o, "btf", check_json(&s->btf));
	jset(o, "btf_types", s->btf.ok ? json_integer(s->btf_types) : json_null());
	for (size_t i = 0; i < ARRAY_SIZE(s->knobs); i++)
		jset(knobs, s->knobs[i].key,
		     s->knobs[i].err ? json_null() : json_integer(s->knobs[i].val));
	jset(o, "sysctl", knobs);
	jset(o, "security", security_json(s));
	jset(o, "mounts", mounts_json(s));
	for (size_t i = 0; i < ARRAY_SIZE(cap_table); i++)
		jset(caps, cap_table[i].name,
		     s->caps[i] < 0 ? json_null() : json_boolean(s->caps[i]));
	jset(o, "process_capabilities", caps);
	jset(ml, "soft_bytes", s->memlock_err ? json_null() : rlim_json(s->memlock.rlim_cur));
	jset(ml, "hard_bytes", s->memlock_err ? json_null() : rlim_json(s->memlock.rlim_max));
	jset(ml, "memcg_accounting", check_json(&s->memcg));
	jset(o, "memlock", ml);
	jset(o, "prog_test_run", check_json(&s->test_run));
	jset(o, "netns", check_json(&s->netns));
	jset(o, "kprobe_events_legacy", json_boolean(s->kprobe_events));
	return o;
}

static json_t *kernel_json(const struct sys_result *s)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	jset(o, "release", json_string(s->uts.release));
	jset(o, "version", json_string(s->uts.version));
	jset(o, "machine", json_string(s->uts.machine));
	return o;
}

/* Builds the capability array and works out the exit code and its reason. */
static json_t *capabilities_json(const struct probe *p, int *exit_code, char *why, size_t len)
{
	json_t *arr = json_array();

	*exit_code = 0;
	why[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(cap_derivers) && arr; i++) {
		struct capability cap = { .name = cap_derivers[i].name };
		json_t *o = json_object();

		cap.enabled = cap_enabled(p, cap.name);
		cap_derivers[i].derive(p, &cap);
		if (cap.enabled && cap.state == STATE_UNAVAILABLE) {
			*exit_code = 1;
			snprintf(why + strlen(why), len - strlen(why),
				 "%s%s is enabled but unavailable: %s", why[0] ? "; " : "",
				 cap.name, cap.detail);
		}
		if (!o)
			continue;
		jset(o, "name", json_string(cap.name));
		jset(o, "enabled", json_boolean(cap.enabled));
		jset(o, "state", json_string(state_names[cap.state]));
		jset(o, "detail", json_string(cap.detail));
		json_array_append_new(arr, o);
	}
	return arr;
}

static json_t *report_json(struct probe *p, uint64_t ns, int *exit_code)
{
	json_t *r = json_object();
	char why[1024];

	if (!r)
		return NULL;
	jset(r, "schema", json_integer(PROBE_SCHEMA));
	jset(r, "aegis_version", json_string(AEGIS_VERSION));
	jset(r, "kernel", kernel_json(&p->sys));
	jset(r, "duration_ms", json_integer((json_int_t)(ns / NSEC_PER_MSEC)));
	jset(r, "system", system_json(p));
	jset(r, "programs", programs_json(p));
	jset(r, "tracepoints", tracepoints_json(p));
	jset(r, "maps", maps_json(p));
	jset(r, "helpers", helpers_json(p));
	jset(r, "kfuncs", kfuncs_json(p));
	jset(r, "notes", json_incref(p->notes));
	jset(r, "capabilities", capabilities_json(p, exit_code, why, sizeof(why)));
	jset(r, "exit_code", json_integer(*exit_code));
	jset(r, "exit_reason", str_or_null(why));
	return r;
}

/* ---- entry points ------------------------------------------------------------------------ */

static void probe_init(struct probe *p, const struct aegis_config *cfg)
{
	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
	for (int i = 0; i < P__COUNT; i++)
		check_init(&p->prog[i]);
	check_init(&p->sys.netns);
	check_init(&p->sys.memcg);
	check_init(&p->sys.test_run);
}

/*
 * Closing a raw_tp or tracing link frees its program only after an RCU grace period; wait for
 * that (bounded) so that "nothing left behind" holds when probe_run() returns.
 */
static void wait_progs_freed(struct probe *p)
{
	const int timeout_ms = 1000;
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	int alive = 0;

	for (int waited = 0; waited <= timeout_ms; waited += 5) {
		alive = 0;
		for (int i = 0; i < p->loaded.n; i++) {
			int fd = bpf_prog_get_fd_by_id(p->loaded.id[i]);

			if (fd >= 0) {
				alive++;
				close(fd);
			}
		}
		if (!alive)
			return;
		nanosleep(&ts, NULL);
	}
	add_note(p,
		 "%d probe program(s) not yet freed by the kernel after %d ms (RCU grace period)",
		 alive, timeout_ms);
}

/* Each phase's time at debug level: the probe must stay well under 2 s on a loaded machine. */
static void run_phase(struct probe *p, const char *name, void (*fn)(struct probe *p))
{
	uint64_t t = now_monotonic_ns();

	fn(p);
	pr_debug("probe: %s: %llu ms", name,
		 (unsigned long long)((now_monotonic_ns() - t) / NSEC_PER_MSEC));
}

json_t *probe_run(const struct aegis_config *cfg, int *exit_code)
{
	uint64_t t0 = now_monotonic_ns();
	struct probe *p = calloc(1, sizeof(*p));
	json_t *report = NULL;

	*exit_code = 1;
	if (!p)
		return NULL;
	probe_init(p, cfg);
	p->notes = json_array();
	if (!p->notes)
		goto out;
	/* Children must not inherit unflushed output and print it twice. */
	fflush(NULL);
	run_phase(p, "netns start", probe_netns_start);
	run_phase(p, "system", probe_system);
	run_phase(p, "cgroups", probe_cgroups);
	run_phase(p, "tracing", probe_tracing);
	run_phase(p, "maps", probe_maps);
	run_phase(p, "helpers", probe_helpers);
	run_phase(p, "kfuncs", probe_kfuncs);
	run_phase(p, "netns finish", probe_netns_finish);
	run_phase(p, "perf close", join_closer);
	run_phase(p, "programs freed", wait_progs_freed);
	report = report_json(p, now_monotonic_ns() - t0, exit_code);
out:
	json_decref(p->notes);
	btf__free(p->vmlinux);
	free(p);
	return report;
}

json_t *probe_capabilities(const json_t *report)
{
	json_t *caps = json_object_get(report, "capabilities");

	return json_is_array(caps) ? json_incref(caps) : NULL;
}

const char *probe_capability_state(const json_t *report, const char *name)
{
	json_t *caps = json_object_get(report, "capabilities"), *c;
	size_t i;

	json_array_foreach (caps, i, c) {
		if (streq(json_string_value(json_object_get(c, "name")), name))
			return json_string_value(json_object_get(c, "state"));
	}
	return NULL;
}

/* ---- human output ------------------------------------------------------------------------- */

#define COL 34 /* fits the longest labels: kernel.unprivileged_bpf_disabled, helper names */

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static void print_check(FILE *out, const char *name, const json_t *c)
{
	const char *log = jstr(c, "verifier_log"), *note = jstr(c, "note");

	if (json_is_true(json_object_get(c, "ok"))) {
		fprintf(out, "  %-*s ok\n", COL, name);
	} else {
		const char *cause = jstr(c, "cause");

		fprintf(out, "  %-*s FAIL at %s: %s%s%s%s\n", COL, name, jstr(c, "stage"),
			jstr(c, "error"), cause[0] ? " (" : "", cause, cause[0] ? ")" : "");
	}
	if (note[0])
		fprintf(out, "  %-*s   %s\n", COL, "", note);
	if (log[0] && !json_is_true(json_object_get(c, "ok"))) {
		_cleanup_free_ char *copy = strdup(log);

		for (char *save = NULL, *l = copy ? strtok_r(copy, "\n", &save) : NULL; l;
		     l = strtok_r(NULL, "\n", &save))
			fprintf(out, "  %-*s   | %s\n", COL, "", l);
	}
}

static void print_section(FILE *out, const char *title, const json_t *obj)
{
	const char *key;
	json_t *c;

	fprintf(out, "\n%s\n", title);
	json_object_foreach ((json_t *)obj, key, c)
		print_check(out, key, c);
}

static void print_value(FILE *out, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void print_value(FILE *out, const char *name, const char *fmt, ...)
{
	va_list ap;

	fprintf(out, "  %-*s ", COL, name);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
}

/* What the numbers mean, so the report reads at a glance. */
static const char *knob_meaning(const char *key, long long v)
{
	if (streq(key, "net.core.bpf_jit_enable"))
		return v == 0 ? "interpreter only" : v == 1 ? "JIT on" : "JIT on, debug output";
	if (streq(key, "net.core.bpf_jit_harden"))
		return v == 0 ? "off" : v == 1 ? "for unprivileged users" : "for everyone";
	if (streq(key, "kernel.bpf_stats_enabled"))
		return v ? "run-time statistics on" : "run-time statistics off";
	if (streq(key, "kernel.unprivileged_bpf_disabled"))
		return v == 0	? "unprivileged bpf() allowed"
		       : v == 1 ? "unprivileged bpf() off, for good"
				: "unprivileged bpf() off, an admin may re-enable";
	return "";
}

static void print_sysctls(FILE *out, const json_t *knobs)
{
	const char *key;
	json_t *v;

	json_object_foreach ((json_t *)knobs, key, v) {
		long long n = json_integer_value(v);
		const char *m = knob_meaning(key, n);

		if (json_is_integer(v))
			print_value(out, key, "%lld%s%s%s", n, m[0] ? " (" : "", m,
				    m[0] ? ")" : "");
		else
			print_value(out, key, "unreadable");
	}
}

static void print_security(FILE *out, const json_t *sec)
{
	const char *via = json_is_true(json_object_get(sec, "read_via_private_mount"))
			      ? " (securityfs not mounted: read through a private mount)"
			      : "";

	if (json_is_string(json_object_get(sec, "lsm")))
		print_value(out, "active LSMs", "%s (bpf %s)%s", jstr(sec, "lsm"),
			    json_is_true(json_object_get(sec, "bpf_lsm_active")) ? "active"
										 : "not active",
			    via);
	else
		print_value(out, "active LSMs", "unknown: %s", jstr(sec, "lsm_error"));
	if (json_is_string(json_object_get(sec, "lockdown")))
		print_value(out, "lockdown", "%s", jstr(sec, "lockdown"));
	else
		print_value(out, "lockdown", "unknown: %s", jstr(sec, "lockdown_error"));
}

static void print_mounts(FILE *out, const json_t *m)
{
	const json_t *b = json_object_get(m, "bpffs"), *t = json_object_get(m, "tracefs"),
		     *cg = json_object_get(m, "cgroup2");

	print_value(out, "bpffs", "%s%s",
		    json_is_string(json_object_get(b, "mounted_at")) ? "mounted at "
								     : "not mounted",
		    jstr(b, "mounted_at"));
	print_check(out, "bpffs pinning", json_object_get(b, "pinning"));
	if (json_is_true(json_object_get(t, "mounted_by_probe")))
		print_value(out, "tracefs", "not mounted: mounted by the probe at %s, %s",
			    jstr(t, "mounted_at"),
			    json_is_true(json_object_get(t, "unmounted_by_probe")) ? "unmounted "
										     "afterwards"
										   : "STILL "
										     "MOUNTED");
	else if (json_is_string(json_object_get(t, "mounted_at")))
		print_value(out, "tracefs", "mounted at %s", jstr(t, "mounted_at"));
	else
		print_value(out, "tracefs", "unavailable: %s", jstr(t, "error"));
	if (json_is_string(json_object_get(cg, "mounted_at")))
		print_value(
		    out, "cgroup2", "%s%s%s%s", jstr(cg, "mounted_at"),
		    json_is_true(json_object_get(cg, "hybrid")) ? " (hybrid: v1 controllers " : "",
		    json_is_true(json_object_get(cg, "hybrid")) ? jstr(cg, "v1_controllers") : "",
		    json_is_true(json_object_get(cg, "hybrid")) ? ")" : "");
	else
		print_value(out, "cgroup2", "not mounted: %s", jstr(cg, "error"));
}

static void print_memlock(FILE *out, const json_t *ml)
{
	const json_t *soft = json_object_get(ml, "soft_bytes");
	char lim[64];

	if (json_is_integer(soft))
		snprintf(lim, sizeof(lim), "%lld KiB", (long long)json_integer_value(soft) / 1024);
	else
		snprintf(lim, sizeof(lim), "unlimited");
	print_value(out, "RLIMIT_MEMLOCK", "%s", lim);
	print_check(out, "memcg accounting", json_object_get(ml, "memcg_accounting"));
}

static void print_system(FILE *out, const json_t *sys)
{
	const json_t *caps = json_object_get(sys, "process_capabilities");
	char line[256] = "";
	const char *key;
	json_t *v;

	fprintf(out, "\nSystem\n");
	print_check(out, "btf", json_object_get(sys, "btf"));
	if (json_is_integer(json_object_get(sys, "btf_types")))
		fprintf(out, "  %-*s   %lld types in /sys/kernel/btf/vmlinux\n", COL, "",
			(long long)json_integer_value(json_object_get(sys, "btf_types")));
	print_sysctls(out, json_object_get(sys, "sysctl"));
	print_security(out, json_object_get(sys, "security"));
	print_mounts(out, json_object_get(sys, "mounts"));
	json_object_foreach ((json_t *)caps, key, v)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "%s%s%s",
			 line[0] ? " " : "", json_is_true(v) ? "" : "-", key);
	print_value(out, "capabilities (effective)", "%s", line);
	print_memlock(out, json_object_get(sys, "memlock"));
	print_check(out, "prog_test_run", json_object_get(sys, "prog_test_run"));
	print_check(out, "temporary netns + veth", json_object_get(sys, "netns"));
}

static void print_helpers(FILE *out, const json_t *helpers)
{
	const char *group, *name;
	json_t *g, *c;
	char label[128];

	fprintf(out, "\nHelpers (by program type)\n");
	json_object_foreach ((json_t *)helpers, group, g) {
		fprintf(out, "  %s\n", group);
		json_object_foreach (g, name, c) {
			snprintf(label, sizeof(label), "  %s", name);
			print_check(out, label, c);
		}
	}
}

static void print_kfuncs(FILE *out, const json_t *kfuncs)
{
	const char *name;
	json_t *k;

	fprintf(out, "\nKfuncs\n");
	json_object_foreach ((json_t *)kfuncs, name, k) {
		print_check(out, name, k);
		if (json_is_true(json_object_get(k, "in_btf")))
			fprintf(out, "  %-*s   %s BTF id %lld%s\n", COL, "", jstr(k, "btf"),
				(long long)json_integer_value(json_object_get(k, "btf_id")),
				json_is_true(json_object_get(k, "load_tested")) ? ", load-tested"
										: "");
	}
}

void probe_print_capabilities(FILE *out, const json_t *caps)
{
	size_t i;
	json_t *c;

	fprintf(out, "  %-16s %-8s %-12s %s\n", "CAPABILITY", "ENABLED", "STATE", "DETAIL");
	json_array_foreach (caps, i, c)
		fprintf(out, "  %-16s %-8s %-12s %s\n", jstr(c, "name"),
			json_is_true(json_object_get(c, "enabled")) ? "yes" : "no",
			jstr(c, "state"), jstr(c, "detail"));
}

void probe_print(FILE *out, const json_t *r)
{
	const json_t *k = json_object_get(r, "kernel"), *notes = json_object_get(r, "notes");
	size_t i;
	json_t *n;

	fprintf(out, "aegis probe: Linux %s %s, %lld ms\n", jstr(k, "release"), jstr(k, "machine"),
		(long long)json_integer_value(json_object_get(r, "duration_ms")));
	print_system(out, json_object_get(r, "system"));
	print_section(out, "Program types (load + attach + detach)",
		      json_object_get(r, "programs"));
	print_section(out, "Tracepoints (attach)", json_object_get(r, "tracepoints"));
	print_section(out, "Map types", json_object_get(r, "maps"));
	print_helpers(out, json_object_get(r, "helpers"));
	print_kfuncs(out, json_object_get(r, "kfuncs"));
	if (json_array_size(notes)) {
		fprintf(out, "\nNotes\n");
		json_array_foreach (notes, i, n)
			fprintf(out, "  - %s\n", json_string_value(n));
	}
	fprintf(out, "\nCapabilities\n");
	probe_print_capabilities(out, json_object_get(r, "capabilities"));
	if (json_integer_value(json_object_get(r, "exit_code")))
		fprintf(out, "\nNot ready: %s\n", jstr(r, "exit_reason"));
}

static int probe_usage(const char *why, const char *arg)
{
	fprintf(stderr, "aegis probe: %s '%s'\nusage: aegis probe [--json] [--config FILE]\n", why,
		arg);
	return EXIT_USAGE;
}

int cmd_probe(int argc, char **argv)
{
	struct aegis_config cfg;
	struct diags d = { 0 };
	const char *path = NULL;
	bool json = false;
	json_t *report;
	int code, err;

	for (int i = 1; i < argc; i++) {
		if (streq(argv[i], "--json"))
			json = true;
		else if (streq(argv[i], "--config") && i + 1 < argc)
			path = argv[++i];
		else if (!strncmp(argv[i], "--config=", 9) && argv[i][9])
			path = argv[i] + 9;
		else
			return probe_usage(streq(argv[i], "--config") ? "missing FILE after"
								      : "unknown argument",
					   argv[i]);
	}
	memset(&cfg, 0, sizeof(cfg));
	err = config_load(path, &cfg, &d);
	if (err) {
		diags_print(&d, stderr);
		pr_err("cannot load the configuration %s: %s", path ? path : "<embedded>",
		       errstr(err));
		diags_free(&d);
		return EXIT_USAGE;
	}
	diags_free(&d);
	report = probe_run(&cfg, &code);
	config_free(&cfg);
	if (!report) {
		pr_err("probe: out of memory building the report");
		return 1;
	}
	if (json) {
		if (json_dumpf(report, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0)
			fputc('\n', stdout);
		if (code)
			pr_err("probe: %s", json_string_value(json_object_get(report, "exit_"
										      "reason")));
	} else {
		probe_print(stdout, report);
	}
	json_decref(report);
	return code;
}
