// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host visibility: every process and every TCP/UDP flow with its owner, from tracepoints and
 * cgroup hooks (no kprobes). Maps, records and counters are the contract with src/visibility*.c;
 * their layouts live in include/aegis/visibility.h. Every cgroup program returns "allow":
 * visibility never changes a verdict.
 *
 * Processes: sched_process_fork/exec/exit keep vis_procs (tgid -> identity of its image) and
 * send a record of each to vis_events. The tracepoints come in twins: tp_btf (typed arguments,
 * checked by the verifier at load) and raw_tp (the same arguments read with CO-RE probe reads);
 * the agent loads one set (bpf_program__set_autoload) and says which.
 *
 * Flows: the owner of a socket is captured in process context by whoever first connects
 * (connect4/6), sends without connecting (sendmsg4/6), or sends or receives on it (the
 * sock_send_length / sock_recv_length tracepoints: an accepted socket); cgroup_skb on the root
 * cgroup counts IP bytes and packets each way, a TCP socket's in its vis_socks entry (one entry
 * per socket: the owner, the states and the counts) and UDP's per peer in vis_flows;
 * inet_sock_set_state gives TCP's direction and state history (and sock_ops the direction in
 * raw_tp mode); sock_release marks a UDP socket closed.
 *
 * Order in the process handlers: the record goes to the ring buffer before vis_procs changes,
 * so an agent that walks vis_procs and then drains the ring has every record of what it saw.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "aegis/visibility.h"
#include "lib/vis_parse.h"

/* Kernel constants that are #defines, not BTF (include/linux/sched.h, sched/signal.h). */
#define VIS_PF_KTHREAD		0x00200000
#define VIS_SIGNAL_GROUP_EXIT	0x00000004
#define VIS_EEXIST		17
#define VIS_TCP_ESTABLISHED	1
#define VIS_TCP_SYN_SENT	2
#define VIS_TCP_SYN_RECV	3
#define VIS_TCP_CLOSE		7

/* max_entries here is the object's default: the agent resizes each map from
 * visibility.capacity.* before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct vis_proc);
} vis_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct vis_sock);
} vis_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct vis_flow_key);
	__type(value, struct vis_flow);
} vis_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} vis_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vis_settings);
} vis_settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIS_C__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} vis_stats SEC(".maps");

/* An exec record is too big for the stack: it is built here, then copied to the ring. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vis_proc_event);
} vis_scratch SEC(".maps");

static __always_inline void count(__u32 counter)
{
	__u64 *v = bpf_map_lookup_elem(&vis_stats, &counter);

	if (v)
		*v += 1;	/* per-CPU: no other writer */
}

/* ---- processes ---------------------------------------------------------------------------- */

/*
 * The identity the agent gives a process it seeds from /proc: its start in /proc's ticks. Used
 * for a process vis_procs does not hold, so both sides name it alike.
 */
static __always_inline __u64 seed_ktime(struct task_struct *t)
{
	__u64 start = BPF_CORE_READ(t, group_leader, start_boottime);

	return start / VIS_NS_PER_TICK * VIS_NS_PER_TICK;
}

static __always_inline __u64 identity_of(__u32 tgid, struct task_struct *t, __u32 *flags)
{
	struct vis_proc *p = bpf_map_lookup_elem(&vis_procs, &tgid);

	if (p)
		return p->ktime;
	*flags |= VIS_EVF_NO_PARENT;
	return seed_ktime(t);
}

/* The common part of a record; uid, gid and cgroup are the current task's. */
static __always_inline void fill_event(struct vis_proc_event *ev, __u32 kind, struct task_struct *t)
{
	__u64 ugid = bpf_get_current_uid_gid();

	ev->kind = kind;
	ev->tgid = BPF_CORE_READ(t, tgid);
	ev->pid = BPF_CORE_READ(t, pid);
	ev->ppid = BPF_CORE_READ(t, real_parent, tgid);
	ev->uid = (__u32)ugid;
	ev->gid = (__u32)(ugid >> 32);
	ev->ts_ns = bpf_ktime_get_boot_ns();
	ev->cgroup_id = bpf_get_current_cgroup_id();
	ev->flags = 0;
	ev->proc_flags = BPF_CORE_READ(t, flags) & VIS_PF_KTHREAD ? VIS_PROC_KTHREAD : 0;
	ev->exit_status = 0;
	ev->prev_ktime = 0;
	ev->filename_len = 0;
	ev->args_len = 0;
	ev->__pad = 0;
	bpf_probe_read_kernel_str(ev->comm, sizeof(ev->comm), t->comm);
}

/*
 * Wakes the agent only when a good part of the ring is waiting: it drains the ring on its own
 * timer too, so a steady trickle costs no wakeup per record.
 */
static __always_inline void emit(struct vis_proc_event *ev, __u64 size, __u32 lost)
{
	__u32 zero = 0;
	struct vis_settings *s = bpf_map_lookup_elem(&vis_settings, &zero);
	__u64 flags = BPF_RB_FORCE_WAKEUP;

	if (s && bpf_ringbuf_query(&vis_events, BPF_RB_AVAIL_DATA) < s->wakeup_bytes)
		flags = BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&vis_events, ev, size, flags))
		count(lost);
}

static __always_inline void track(__u32 tgid, __u64 ktime, __u64 parent_ktime, __u32 parent_tgid,
				  __u32 flags)
{
	struct vis_proc p = {
		.ktime = ktime, .parent_ktime = parent_ktime, .parent_tgid = parent_tgid, .flags = flags,
	};

	if (bpf_map_update_elem(&vis_procs, &tgid, &p, BPF_ANY))
		count(VIS_C_PROCS_FULL);
}

static __always_inline int on_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 zero = 0, ptgid;
	struct vis_proc_event *ev;

	/* A new thread is not a new process. */
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	ev = bpf_map_lookup_elem(&vis_scratch, &zero);
	if (!ev)
		return 0;
	count(VIS_C_FORK);
	fill_event(ev, VIS_EV_FORK, child);
	ptgid = BPF_CORE_READ(parent, tgid);
	ev->ktime = BPF_CORE_READ(child, start_boottime);
	ev->parent_tgid = ptgid;
	ev->parent_ktime = identity_of(ptgid, parent, &ev->flags);
	emit(ev, VIS_PROC_EVENT_HDR_SIZE, VIS_C_RB_LOST_FORK);
	track(ev->tgid, ev->ktime, ev->parent_ktime, ptgid, ev->proc_flags);
	return 0;
}

/* execve's filename and arguments after the header; returns the bytes written. */
static __always_inline __u32 exec_strings(struct vis_proc_event *ev, struct task_struct *t,
					  struct linux_binprm *bprm)
{
	__u32 zero = 0;
	struct vis_settings *s = bpf_map_lookup_elem(&vis_settings, &zero);
	__u64 start, end, max = 0, fn, len;
	long n;

	n = bpf_probe_read_kernel_str(ev->data, VIS_FILENAME_MAX, BPF_CORE_READ(bprm, filename));
	if (n <= 0) {
		ev->data[0] = '\0';
		n = 1;
	}
	fn = (__u64)n;
	if (fn > VIS_FILENAME_MAX)
		fn = VIS_FILENAME_MAX;
	if (fn == VIS_FILENAME_MAX)
		ev->flags |= VIS_EVF_FILENAME_TRUNC;
	if (s)
		max = s->args_max;
	if (max > VIS_ARGS_MAX)
		max = VIS_ARGS_MAX;
	start = BPF_CORE_READ(t, mm, arg_start);
	end = BPF_CORE_READ(t, mm, arg_end);
	len = end > start ? end - start : 0;
	if (len > max) {
		len = max;
		ev->flags |= VIS_EVF_ARGS_TRUNC;
	}
	/* For the verifier, which would otherwise see the helper get a copy made before the clamp. */
	barrier_var(len);
	if (len > VIS_ARGS_MAX)
		len = VIS_ARGS_MAX;
	barrier_var(fn);
	if (fn > VIS_FILENAME_MAX)
		fn = VIS_FILENAME_MAX;
	if (len && bpf_probe_read_user(ev->data + fn, len, (void *)start)) {
		ev->flags |= VIS_EVF_ARGS_FAULT;
		count(VIS_C_ARGS_FAULT);
		len = 0;
	}
	ev->filename_len = (__u16)fn;
	ev->args_len = (__u16)len;
	return (__u32)(fn + len);
}

static __always_inline int on_exec(struct task_struct *t, struct linux_binprm *bprm)
{
	__u32 zero = 0, tgid = BPF_CORE_READ(t, tgid), ppid;
	struct vis_proc_event *ev = bpf_map_lookup_elem(&vis_scratch, &zero);
	struct vis_proc *prev;
	__u32 size;

	if (!ev)
		return 0;
	count(VIS_C_EXEC);
	fill_event(ev, VIS_EV_EXEC, t);
	ev->ktime = ev->ts_ns;
	ev->proc_flags |= VIS_PROC_EXECED;
	prev = bpf_map_lookup_elem(&vis_procs, &tgid);
	if (prev) {
		/* The new image's parent is the one that forked the process, not its old image. */
		ev->prev_ktime = prev->ktime;
		ev->parent_tgid = prev->parent_tgid;
		ev->parent_ktime = prev->parent_ktime;
	} else {
		ppid = ev->ppid;
		ev->prev_ktime = seed_ktime(t);
		ev->parent_tgid = ppid;
		ev->parent_ktime = identity_of(ppid, BPF_CORE_READ(t, real_parent), &ev->flags);
	}
	size = exec_strings(ev, t, bprm);
	if (size > VIS_FILENAME_MAX + VIS_ARGS_MAX)
		size = VIS_FILENAME_MAX + VIS_ARGS_MAX;
	emit(ev, VIS_PROC_EVENT_HDR_SIZE + size, VIS_C_RB_LOST_EXEC);
	track(tgid, ev->ktime, ev->parent_ktime, ev->parent_tgid, ev->proc_flags);
	return 0;
}

/* The status wait(2) would report, as do_wait() builds it for the thread group leader. */
static __always_inline __u32 exit_status(struct task_struct *t)
{
	if (BPF_CORE_READ(t, signal, flags) & VIS_SIGNAL_GROUP_EXIT)
		return (__u32)BPF_CORE_READ(t, signal, group_exit_code);
	return (__u32)BPF_CORE_READ(t, group_leader, exit_code);
}

static __always_inline int on_exit(struct task_struct *t)
{
	__u32 zero = 0, tgid;
	struct vis_proc_event *ev;
	struct vis_proc *p;

	/* Only the last thread ends the process (do_exit counts signal->live down before). */
	if (BPF_CORE_READ(t, signal, live.counter) != 0)
		return 0;
	ev = bpf_map_lookup_elem(&vis_scratch, &zero);
	if (!ev)
		return 0;
	count(VIS_C_EXIT);
	fill_event(ev, VIS_EV_EXIT, t);
	tgid = ev->tgid;
	ev->exit_status = exit_status(t);
	p = bpf_map_lookup_elem(&vis_procs, &tgid);
	if (p) {
		ev->ktime = p->ktime;
		ev->parent_tgid = p->parent_tgid;
		ev->parent_ktime = p->parent_ktime;
		ev->proc_flags |= p->flags & (VIS_PROC_EXECED | VIS_PROC_SEEDED);
	} else {
		ev->ktime = seed_ktime(t);
		ev->parent_tgid = ev->ppid;
		ev->parent_ktime = 0;
		ev->flags |= VIS_EVF_NO_PARENT;
	}
	emit(ev, VIS_PROC_EVENT_HDR_SIZE, VIS_C_RB_LOST_EXIT);
	if (p)
		bpf_map_delete_elem(&vis_procs, &tgid);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vis_fork_btf, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(vis_fork_raw, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vis_exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p, bprm);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(vis_exec_raw, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p, bprm);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(vis_exit_btf, struct task_struct *p)
{
	return on_exit(p);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(vis_exit_raw, struct task_struct *p)
{
	return on_exit(p);
}

/* ---- sockets ------------------------------------------------------------------------------ */

static __always_inline bool tcp_or_udp(__u32 proto)
{
	return proto == VIS_IPPROTO_TCP || proto == VIS_IPPROTO_UDP;
}

/*
 * A new entry of vis_socks, whole (one insert, no lookup before it when the caller has seen none).
 * A TCP socket's entry is its flow too, so it counts as a flow begun. Returns the entry, whoever
 * made it.
 */
static __always_inline struct vis_sock *sock_insert(__u64 cookie, const struct vis_sock *fresh)
{
	long err = bpf_map_update_elem(&vis_socks, &cookie, fresh, BPF_NOEXIST);

	if (!err) {
		count(VIS_C_SOCK_INSERTS);
		if (fresh->proto == VIS_IPPROTO_TCP)
			count(VIS_C_TCP_FLOW_INSERTS);
	} else if (err != -VIS_EEXIST) {
		count(VIS_C_SOCK_INSERT_FAIL);
		return NULL;
	}
	return bpf_map_lookup_elem(&vis_socks, &cookie);
}

static __always_inline struct vis_sock *sock_get(__u64 cookie, __u8 proto)
{
	struct vis_sock *s = bpf_map_lookup_elem(&vis_socks, &cookie);
	struct vis_sock fresh = { .proto = proto };

	if (s)
		return s;
	return sock_insert(cookie, &fresh);
}

static __always_inline void fill_owner(struct vis_sock *s, __u8 source)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct vis_proc *p = bpf_map_lookup_elem(&vis_procs, &tgid);

	s->owner_ktime = p ? p->ktime : 0;
	s->owner_pid = (__u32)id;
	s->owner_uid = (__u32)bpf_get_current_uid_gid();
	s->cgroup_id = bpf_get_current_cgroup_id();
	s->owner_ns = bpf_ktime_get_boot_ns();
	bpf_get_current_comm(s->comm, sizeof(s->comm));
	s->owner_source = source;
	s->owner_tgid = tgid;	/* last: a non-zero tgid says the rest is there */
}

/*
 * In process context: the current process owns the socket unless someone did before. `s` is the
 * socket's entry if the caller looked it up (NULL: none, or not looked up: a connect, which
 * nearly always comes first, tries the insert at once).
 */
static __always_inline void sock_set_owner(__u64 cookie, struct vis_sock *s, __u8 proto, __u8 source)
{
	struct vis_sock fresh = { .proto = proto };

	if (s) {
		if (!s->owner_tgid)
			fill_owner(s, source);
		return;
	}
	fill_owner(&fresh, source);
	s = sock_insert(cookie, &fresh);
	if (s && !s->owner_tgid)	/* another program made it meanwhile, without an owner */
		fill_owner(s, source);
}

SEC("cgroup/connect4")
int vis_connect4(struct bpf_sock_addr *ctx)
{
	__u32 proto = ctx->protocol;

	if (tcp_or_udp(proto))
		sock_set_owner(bpf_get_socket_cookie(ctx), NULL, (__u8)proto, VIS_OWNER_CONNECT);
	return 1;
}

SEC("cgroup/connect6")
int vis_connect6(struct bpf_sock_addr *ctx)
{
	__u32 proto = ctx->protocol;

	if (tcp_or_udp(proto))
		sock_set_owner(bpf_get_socket_cookie(ctx), NULL, (__u8)proto, VIS_OWNER_CONNECT);
	return 1;
}

SEC("cgroup/sendmsg4")
int vis_sendmsg4(struct bpf_sock_addr *ctx)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);

	sock_set_owner(cookie, bpf_map_lookup_elem(&vis_socks, &cookie), VIS_IPPROTO_UDP, VIS_OWNER_SENDMSG);
	return 1;
}

SEC("cgroup/sendmsg6")
int vis_sendmsg6(struct bpf_sock_addr *ctx)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);

	sock_set_owner(cookie, bpf_map_lookup_elem(&vis_socks, &cookie), VIS_IPPROTO_UDP, VIS_OWNER_SENDMSG);
	return 1;
}

/*
 * Any send or receive on an inet socket, in the calling process: the owner of an accepted
 * socket, or of one that existed before the agent. Nearly every call finds the owner known: one
 * lookup.
 */
static __always_inline int on_sock_use(__u64 cookie, __u16 family, __u16 proto, __u8 source)
{
	struct vis_sock *s;

	if ((family != VIS_AF_INET && family != VIS_AF_INET6) || !tcp_or_udp(proto))
		return 0;
	if (!cookie) {
		count(VIS_C_NO_COOKIE);
		return 0;
	}
	s = bpf_map_lookup_elem(&vis_socks, &cookie);
	if (!s || !s->owner_tgid)
		sock_set_owner(cookie, s, (__u8)proto, source);
	return 0;
}

/* tp_btf: the socket's fields are plain loads, and its cookie is made if it has none yet. */
SEC("tp_btf/sock_send_length")
int BPF_PROG(vis_send_btf, struct sock *sk)
{
	return on_sock_use(bpf_get_socket_cookie(sk), sk->__sk_common.skc_family, sk->sk_protocol,
			   VIS_OWNER_SEND);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(vis_recv_btf, struct sock *sk)
{
	return on_sock_use(bpf_get_socket_cookie(sk), sk->__sk_common.skc_family, sk->sk_protocol,
			   VIS_OWNER_RECV);
}

/*
 * raw_tp: probe reads; the cookie is read, not made (raw_tp has no helper for it): sock_ops made
 * it at establishment, cgroup_skb at the first packet.
 */
static __always_inline int on_sock_use_raw(struct sock *sk, __u8 source)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family != VIS_AF_INET && family != VIS_AF_INET6)
		return 0;
	return on_sock_use(BPF_CORE_READ(sk, __sk_common.skc_cookie.counter), family,
			   BPF_CORE_READ(sk, sk_protocol), source);
}

SEC("raw_tp/sock_send_length")
int BPF_PROG(vis_send_raw, struct sock *sk)
{
	return on_sock_use_raw(sk, VIS_OWNER_SEND);
}

SEC("raw_tp/sock_recv_length")
int BPF_PROG(vis_recv_raw, struct sock *sk)
{
	return on_sock_use_raw(sk, VIS_OWNER_RECV);
}

/*
 * TCP's direction, from the callback that completes the handshake on either side. Attached in
 * raw_tp mode only: there inet_sock_set_state cannot make a cookie, and an accepted socket has
 * none yet when it reaches ESTABLISHED; in tp_btf mode the state tracepoint tells it.
 */
SEC("sockops")
int vis_sockops(struct bpf_sock_ops *ops)
{
	__u32 op = ops->op;
	struct vis_sock *s;

	if (op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB && op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	s = sock_get(bpf_get_socket_cookie(ops), VIS_IPPROTO_TCP);
	if (!s)
		return 1;
	if (!s->direction)
		s->direction = op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB ? VIS_DIR_OUTBOUND : VIS_DIR_INBOUND;
	if (!s->established_ns)
		s->established_ns = bpf_ktime_get_boot_ns();
	return 1;
}

static __always_inline void on_tcp_state(__u64 cookie, int oldstate, int newstate)
{
	struct vis_sock *s;
	__u8 n;

	if (!cookie) {
		count(VIS_C_NO_COOKIE);
		return;
	}
	s = sock_get(cookie, VIS_IPPROTO_TCP);
	if (!s)
		return;
	n = s->n_states;
	if (n < VIS_TCP_STATES_MAX)
		s->states[n & (VIS_TCP_STATES_MAX - 1)] = (__u8)newstate;
	if (n < 255)
		s->n_states = n + 1;
	s->tcp_state = (__u8)newstate;
	if (newstate == VIS_TCP_ESTABLISHED) {
		if (!s->direction && oldstate == VIS_TCP_SYN_SENT)
			s->direction = VIS_DIR_OUTBOUND;
		else if (!s->direction && oldstate == VIS_TCP_SYN_RECV)
			s->direction = VIS_DIR_INBOUND;
		if (!s->established_ns)
			s->established_ns = bpf_ktime_get_boot_ns();
	} else if (newstate == VIS_TCP_CLOSE && !s->closed_ns) {
		s->closed_ns = bpf_ktime_get_boot_ns();
	}
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(vis_state_btf, const struct sock *sk, const int oldstate, const int newstate)
{
	if (sk->sk_protocol == VIS_IPPROTO_TCP)
		on_tcp_state(bpf_get_socket_cookie((void *)sk), oldstate, newstate);
	return 0;
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(vis_state_raw, struct sock *sk, int oldstate, int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) == VIS_IPPROTO_TCP)
		on_tcp_state(BPF_CORE_READ(sk, __sk_common.skc_cookie.counter), oldstate, newstate);
	return 0;
}

/* UDP's close (TCP's is its CLOSE state). */
SEC("cgroup/sock_release")
int vis_release(struct bpf_sock *sk)
{
	struct vis_sock *s;
	__u64 cookie;

	if (sk->protocol != VIS_IPPROTO_UDP)
		return 1;
	cookie = bpf_get_socket_cookie(sk);
	s = bpf_map_lookup_elem(&vis_socks, &cookie);
	if (s) {
		s->released = 1;
		if (!s->closed_ns)
			s->closed_ns = bpf_ktime_get_boot_ns();
	}
	return 1;
}

/* ---- flows -------------------------------------------------------------------------------- */

static __always_inline bool v4_mapped(const __u32 a[4])
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0x0000ffff);
}

/* The peer of a connected socket; an IPv4-mapped peer is keyed as IPv4. Returns its family. */
static __always_inline __u8 peer_of_sock(struct bpf_sock *sk, __u8 raddr[16], __be16 *rport)
{
	__u32 a[4];

	*rport = (__be16)sk->dst_port;
	if (sk->family == VIS_AF_INET) {
		a[0] = sk->dst_ip4;
		__builtin_memcpy(raddr, a, 4);
		return VIS_AF_INET;
	}
	a[0] = sk->dst_ip6[0];
	a[1] = sk->dst_ip6[1];
	a[2] = sk->dst_ip6[2];
	a[3] = sk->dst_ip6[3];
	if (v4_mapped(a)) {
		__builtin_memcpy(raddr, &a[3], 4);
		return VIS_AF_INET;
	}
	__builtin_memcpy(raddr, a, 16);
	return VIS_AF_INET6;
}

/* The socket's own address, or the packet's when the socket is bound to the wildcard. */
static __always_inline void local_of(struct bpf_sock *sk, const struct vis_pkt *pkt, bool parsed,
				     __u8 way, __u8 laddr[16], __be16 *lport)
{
	__u32 a[4] = {};

	*lport = bpf_htons((__u16)sk->src_port);
	if (sk->family == VIS_AF_INET) {
		a[0] = sk->src_ip4;
	} else {
		a[0] = sk->src_ip6[0];
		a[1] = sk->src_ip6[1];
		a[2] = sk->src_ip6[2];
		a[3] = sk->src_ip6[3];
		if (v4_mapped(a)) {
			a[0] = a[3];
			a[3] = a[2] = 0;
		}
	}
	__builtin_memcpy(laddr, a, 16);
	if (!a[0] && !a[1] && !a[2] && !a[3] && parsed)
		__builtin_memcpy(laddr, way == VIS_IN ? pkt->daddr : pkt->saddr, 16);
}

/*
 * A TCP packet, counted in its socket's entry: one lookup by cookie. The first packet names the
 * flow (peer, local address, time); a socket the agent met no other way (it existed before the
 * agent, or its entry was evicted) gets its entry here.
 */
static __always_inline void count_tcp(struct __sk_buff *skb, struct bpf_sock *sk, __u8 way, __u32 segs,
				      const struct vis_pkt *pkt, bool parsed, __u64 bytes)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct vis_sock *s = sock_get(cookie, VIS_IPPROTO_TCP);

	if (!s)
		return;
	if (!s->first_ns) {
		s->family = peer_of_sock(sk, s->raddr, &s->rport);
		local_of(sk, pkt, parsed, way, s->laddr, &s->lport);
		s->first_way = way;
		s->first_ns = bpf_ktime_get_boot_ns();
	}
	__sync_fetch_and_add(&s->bytes[way & 1], bytes);
	__sync_fetch_and_add(&s->packets[way & 1], segs);
	s->last_ns = bpf_ktime_get_coarse_ns();
}

/* A UDP datagram, counted per (socket, peer) in vis_flows, with the owner copied once known. */
static __always_inline void count_udp(struct __sk_buff *skb, struct bpf_sock *sk, __u8 way, __u32 segs,
				      bool connected, const struct vis_pkt *pkt, bool parsed, __u64 bytes)
{
	struct vis_flow_key key = { .proto = VIS_IPPROTO_UDP };
	struct vis_flow *f;
	struct vis_sock *s;
	__u64 now;

	key.cookie = bpf_get_socket_cookie(skb);
	if (connected) {
		key.family = peer_of_sock(sk, key.raddr, &key.rport);
	} else if (parsed) {
		key.family = pkt->family;
		__builtin_memcpy(key.raddr, way == VIS_IN ? pkt->saddr : pkt->daddr, 16);
		key.rport = way == VIS_IN ? pkt->sport : pkt->dport;
	} else {
		key.family = (__u8)sk->family;
	}
	now = bpf_ktime_get_coarse_ns();

	f = bpf_map_lookup_elem(&vis_flows, &key);
	if (!f) {
		struct vis_flow fresh = { .first_ns = bpf_ktime_get_boot_ns(), .last_ns = now, .first_way = way };
		long err;

		local_of(sk, pkt, parsed, way, fresh.laddr, &fresh.lport);
		err = bpf_map_update_elem(&vis_flows, &key, &fresh, BPF_NOEXIST);
		if (!err)
			count(VIS_C_FLOW_INSERTS);
		else if (err != -VIS_EEXIST)
			count(VIS_C_FLOW_INSERT_FAIL);
		f = bpf_map_lookup_elem(&vis_flows, &key);
		if (!f)
			return;
	}
	__sync_fetch_and_add(&f->bytes[way & 1], bytes);
	__sync_fetch_and_add(&f->packets[way & 1], segs);
	f->last_ns = now;
	if (!f->owner_tgid) {
		s = bpf_map_lookup_elem(&vis_socks, &key.cookie);
		if (s && s->owner_tgid) {
			f->owner_ktime = s->owner_ktime;
			f->owner_tgid = s->owner_tgid;
		}
	}
}

static __always_inline int count_skb(struct __sk_buff *skb, __u8 way)
{
	struct vis_pkt pkt = {};
	struct bpf_sock *sk = skb->sk;
	__u32 proto, segs;
	bool connected, parsed = false;
	__u64 bytes;

	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk) {
		count(VIS_C_SKB_NOT_FULLSOCK);
		return 1;
	}
	proto = sk->protocol;
	if (!tcp_or_udp(proto) || (sk->family != VIS_AF_INET && sk->family != VIS_AF_INET6))
		return 1;
	connected = sk->dst_port != 0;
	/* A TCP socket without a peer (a listener, the kernel's reply socket) is no flow. */
	if (proto == VIS_IPPROTO_TCP && !connected)
		return 1;
	segs = skb->gso_segs ? skb->gso_segs : 1;
	if (!connected || segs > 1) {
		parsed = vis_parse(skb, &pkt) == VIS_PARSE_OK;
		if (!parsed)
			count(VIS_C_SKB_UNPARSED);
	}
	/* A GSO packet leaves as segs packets, each with its own headers. */
	bytes = skb->len;
	if (segs > 1 && parsed)
		bytes += (__u64)(segs - 1) * pkt.hdr_len;
	if (proto == VIS_IPPROTO_TCP)
		count_tcp(skb, sk, way, segs, &pkt, parsed, bytes);
	else
		count_udp(skb, sk, way, segs, connected, &pkt, parsed, bytes);
	return 1;
}

SEC("cgroup_skb/ingress")
int vis_skb_ingress(struct __sk_buff *skb)
{
	return count_skb(skb, VIS_IN);
}

SEC("cgroup_skb/egress")
int vis_skb_egress(struct __sk_buff *skb)
{
	return count_skb(skb, VIS_OUT);
}

char LICENSE[] SEC("license") = "GPL";
