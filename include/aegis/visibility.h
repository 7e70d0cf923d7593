/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Host visibility: the contract between bpf/visibility.bpf.c and src/visibility*.c. Fixed-width
 * fields, explicit padding and size asserts, because both sides read the same bytes.
 *
 * Processes: vis_procs maps a tgid to the identity of the image it runs now (the CLOCK_BOOTTIME
 * time of the fork or exec that made it, and the image that forked it); with the boot id it is
 * the exec_id. Process events (exec, fork, exit) go through the vis_events ring buffer.
 *
 * Flows: vis_socks holds per socket (by cookie) the owning process, captured in process context
 * when the socket connects, sends or receives first, TCP's direction and state history, and a
 * TCP socket's flow: its peer and its IP bytes and packets each way (a TCP socket has one peer,
 * so its flow needs no entry of its own: one insert per socket). vis_flows counts UDP per
 * (socket cookie, remote address and port): an unconnected UDP socket has a flow per peer.
 * Both are LRU maps: an LRU map does not report evictions, so the programs count their inserts
 * and the agent its deletions, both in the pinned vis_stats (so the count spans agent restarts),
 * and evictions = inserts - deletions - entries present. A TCP socket's entry is a flow from its
 * insert: flows' evictions count vis_flows' and the TCP entries of vis_socks (tcp_flow_*).
 */
#ifndef AEGIS_VISIBILITY_H
#define AEGIS_VISIBILITY_H

#ifndef __bpf__
#include <linux/types.h>
#include <stddef.h>
#endif

#define VIS_COMM_LEN		16
#define VIS_FILENAME_MAX	256	/* bytes of execve's filename kept, NUL included */
#define VIS_ARGS_MAX		4096	/* upper bound of visibility.args_max */
#define VIS_TCP_STATES_MAX	8	/* TCP states a socket's history keeps */

/* USER_HZ: /proc/PID/stat counts start times in these ticks on every architecture. */
#define VIS_USER_HZ		100
#define VIS_NS_PER_TICK		(1000000000ULL / VIS_USER_HZ)

/* ---- processes ---------------------------------------------------------------------------- */

/* vis_proc.flags and vis_proc_event.proc_flags */
#define VIS_PROC_EXECED		(1u << 0)	/* the image comes from an exec (else a fork) */
#define VIS_PROC_SEEDED		(1u << 1)	/* written by the agent from /proc at start */
#define VIS_PROC_KTHREAD	(1u << 2)	/* a kernel thread */

/* vis_procs value; key: tgid (__u32). */
struct vis_proc {
	__u64 ktime;		/* identity: CLOCK_BOOTTIME ns of the fork or exec (seeded: start tick) */
	__u64 parent_ktime;	/* identity of the image that forked this process (0: unknown) */
	__u32 parent_tgid;
	__u32 flags;
};

enum vis_event_kind {
	VIS_EV_EXEC = 1,
	VIS_EV_FORK = 2,
	VIS_EV_EXIT = 3,
};

/* vis_proc_event.flags */
#define VIS_EVF_FILENAME_TRUNC	(1u << 0)
#define VIS_EVF_ARGS_TRUNC	(1u << 1)	/* more arguments than visibility.args_max */
#define VIS_EVF_ARGS_FAULT	(1u << 2)	/* the argument pages could not be read */
#define VIS_EVF_NO_PARENT	(1u << 3)	/* parent not in vis_procs: identity from its start tick */

/*
 * One process event. FORK and EXIT records end at `data`; an EXEC record carries filename_len
 * bytes of execve's filename (NUL-terminated) then args_len bytes of arguments, each
 * NUL-terminated as in /proc/PID/cmdline.
 */
struct vis_proc_event {
	__u32 kind;		/* enum vis_event_kind */
	__u32 tgid;
	__u32 pid;		/* the thread: EXEC after de_thread == tgid; EXIT the last thread */
	__u32 ppid;		/* real_parent's tgid at the time */
	__u64 ktime;		/* identity of the image (EXEC: the new one) */
	__u64 prev_ktime;	/* EXEC: the image it replaces */
	__u64 parent_ktime;	/* identity of the image that forked it */
	__u32 parent_tgid;
	__u32 uid;
	__u32 gid;
	__u32 exit_status;	/* EXIT: the wait(2) status */
	__u64 ts_ns;		/* CLOCK_BOOTTIME of the event */
	__u64 cgroup_id;	/* cgroup v2 id (the inode of its directory) */
	__u32 flags;		/* VIS_EVF_* */
	__u32 proc_flags;	/* VIS_PROC_* */
	__u16 filename_len;
	__u16 args_len;
	__u32 __pad;
	char comm[VIS_COMM_LEN];
	char data[VIS_FILENAME_MAX + VIS_ARGS_MAX];
};

#define VIS_PROC_EVENT_HDR_SIZE offsetof(struct vis_proc_event, data)

/* ---- sockets and flows -------------------------------------------------------------------- */

enum vis_dir {
	VIS_DIR_UNKNOWN = 0,
	VIS_DIR_INBOUND = 1,	/* the peer opened it (accepted; UDP: its first packet came in) */
	VIS_DIR_OUTBOUND = 2,	/* this host opened it (connect; UDP: its first packet went out) */
};

/* Where a socket's owner was learnt. */
enum vis_owner_source {
	VIS_OWNER_NONE = 0,
	VIS_OWNER_CONNECT = 1,	/* cgroup connect4/6 */
	VIS_OWNER_SENDMSG = 2,	/* cgroup sendmsg4/6 (UDP without connect) */
	VIS_OWNER_SEND = 3,	/* sock/sock_send_length: first send (an accepted socket) */
	VIS_OWNER_RECV = 4,	/* sock/sock_recv_length: first receive */
};

/*
 * vis_socks value; key: socket cookie (__u64). The flow part is a TCP socket's (proto 6) flow,
 * filled by its first counted packet (first_ns != 0 from then on); bytes and packets as in
 * struct vis_flow.
 */
struct vis_sock {
	__u64 owner_ktime;	/* owner's identity (0: it was not in vis_procs) */
	__u64 owner_ns;		/* when the owner was captured */
	__u64 established_ns;	/* TCP: ESTABLISHED reached */
	__u64 closed_ns;	/* TCP: CLOSE reached, or the socket released */
	__u64 cgroup_id;	/* the owner's cgroup at capture */
	__u32 owner_tgid;	/* 0: not captured yet */
	__u32 owner_pid;
	__u32 owner_uid;
	__u8 owner_source;	/* enum vis_owner_source */
	__u8 direction;		/* enum vis_dir (TCP) */
	__u8 tcp_state;		/* current TCP state (the kernel's TCP_* numbers) */
	__u8 n_states;		/* transitions seen; states[] keeps the first VIS_TCP_STATES_MAX */
	__u8 released;		/* the socket was closed by its last holder */
	__u8 proto;		/* 6 (TCP) or 17 (UDP), set at the insert */
	__u8 family;		/* flow: 2 or 10, of raddr and laddr (IPv4-mapped peers as IPv4) */
	__u8 first_way;		/* flow: enum vis_way of the first packet */
	__be16 rport;		/* flow: the peer's port */
	__be16 lport;
	__u8 __pad[8];
	__u8 states[VIS_TCP_STATES_MAX];
	char comm[VIS_COMM_LEN];	/* the owner's comm at capture */
	/* TCP: the flow */
	__u64 first_ns;		/* CLOCK_BOOTTIME of the first counted packet (0: none yet) */
	__u64 last_ns;		/* CLOCK_MONOTONIC_COARSE of the last */
	__u64 bytes[2];		/* [enum vis_way] */
	__u64 packets[2];
	__u8 raddr[16];
	__u8 laddr[16];
};

enum vis_way {
	VIS_IN = 0,
	VIS_OUT = 1,
};

/*
 * vis_flows key (UDP). A connected socket: its peer; an unconnected one: the peer of the packet,
 * so a socket talking to several peers has a flow per peer. IPv4 (also an IPv4-mapped peer of an
 * IPv6 socket) in raddr[0..3], family 2. The agent names a TCP flow (kept in its vis_socks entry)
 * with the same key: its cookie, its peer, proto 6.
 */
struct vis_flow_key {
	__u64 cookie;
	__u8 raddr[16];
	__be16 rport;
	__u8 family;		/* 2 (AF_INET) or 10 (AF_INET6) */
	__u8 proto;		/* 6 (TCP) or 17 (UDP) */
	__u32 __pad;
};

/*
 * vis_flows value (UDP; a TCP flow has the same counters in its vis_sock). Bytes are IP bytes on
 * the wire: headers included, every GSO segment counted.
 * first_ns is CLOCK_BOOTTIME (read once, at the insert); last_ns, written by every packet, is the
 * cheaper CLOCK_MONOTONIC_COARSE (jiffy resolution), which the agent moves to boot time.
 */
struct vis_flow {
	__u64 first_ns;
	__u64 last_ns;
	__u64 bytes[2];		/* [enum vis_way] */
	__u64 packets[2];
	__u64 owner_ktime;	/* copied from vis_socks once known */
	__u32 owner_tgid;
	__be16 lport;
	__u8 first_way;		/* enum vis_way of the first packet */
	__u8 __pad;
	__u8 laddr[16];
};

/* ---- settings and counters ---------------------------------------------------------------- */

struct vis_settings {
	__u32 args_max;		/* visibility.args_max */
	__u32 wakeup_bytes;	/* wake the agent when this much is waiting; else it polls */
};

/* Per-CPU counters (vis_stats), summed by the agent. */
#define VIS_COUNTERS(X)									\
	X(VIS_C_EXEC, "exec", "process executions seen")				\
	X(VIS_C_FORK, "fork", "processes forked")					\
	X(VIS_C_EXIT, "exit", "processes exited")					\
	X(VIS_C_RB_LOST_EXEC, "ringbuf_lost_exec", "exec events lost: ring buffer full")	\
	X(VIS_C_RB_LOST_FORK, "ringbuf_lost_fork", "fork events lost: ring buffer full")	\
	X(VIS_C_RB_LOST_EXIT, "ringbuf_lost_exit", "exit events lost: ring buffer full")	\
	X(VIS_C_PROCS_FULL, "process_table_full", "processes not tracked: vis_procs full")	\
	X(VIS_C_ARGS_FAULT, "args_fault", "exec arguments that could not be read")	\
	X(VIS_C_FLOW_INSERTS, "flow_inserts", "entries added to vis_flows (UDP)")		\
	X(VIS_C_FLOW_INSERT_FAIL, "flow_insert_fail", "vis_flows inserts that failed")	\
	X(VIS_C_SOCK_INSERTS, "socket_inserts", "entries added to vis_socks")		\
	X(VIS_C_SOCK_INSERT_FAIL, "socket_insert_fail", "vis_socks inserts that failed")	\
	X(VIS_C_SKB_NOT_FULLSOCK, "skb_not_fullsock",					\
	  "packets of request or time-wait sockets (not counted in a flow)")		\
	X(VIS_C_SKB_UNPARSED, "skb_unparsed",						\
	  "packets counted without their headers parsed (length as is)")		\
	X(VIS_C_NO_COOKIE, "no_cookie",							\
	  "socket events before the socket had a cookie (raw_tp mode)")			\
	X(VIS_C_FLOW_DELETES, "flow_deletes",						\
	  "entries the agent removed from vis_flows (written by the agent)")		\
	X(VIS_C_SOCK_DELETES, "socket_deletes",						\
	  "entries the agent removed from vis_socks (written by the agent)")		\
	X(VIS_C_TCP_FLOW_INSERTS, "tcp_flow_inserts",					\
	  "TCP entries added to vis_socks (among socket_inserts): each is a flow")	\
	X(VIS_C_TCP_FLOW_DELETES, "tcp_flow_deletes",					\
	  "TCP entries the agent removed from vis_socks (among socket_deletes)")

#define VIS_COUNTER_ENUM(id, name, help) id,
enum vis_counter { VIS_COUNTERS(VIS_COUNTER_ENUM) VIS_C__COUNT };
#undef VIS_COUNTER_ENUM

/* Parser results (bpf/lib/vis_parse.h), for the fixtures that test it. */
#define VIS_PARSE_RESULTS(X)				\
	X(VIS_PARSE_OK, "ok")				\
	X(VIS_PARSE_TRUNCATED_IP, "truncated_ip")	\
	X(VIS_PARSE_BAD_VERSION, "bad_version")		\
	X(VIS_PARSE_BAD_IHL, "bad_ihl")			\
	X(VIS_PARSE_BAD_LENGTH, "bad_length")		\
	X(VIS_PARSE_EXT_CHAIN, "ext_chain")		\
	X(VIS_PARSE_LATER_FRAGMENT, "later_fragment")	\
	X(VIS_PARSE_NOT_TCP_UDP, "not_tcp_udp")		\
	X(VIS_PARSE_TRUNCATED_L4, "truncated_l4")	\
	X(VIS_PARSE_BAD_DOFF, "bad_doff")

#define VIS_PARSE_ENUM(id, name) id,
enum vis_parse_result { VIS_PARSE_RESULTS(VIS_PARSE_ENUM) VIS_PARSE__COUNT };
#undef VIS_PARSE_ENUM

/* What the parser found; the fixture program copies it to a map. */
struct vis_pkt {
	__u8 saddr[16];
	__u8 daddr[16];
	__be16 sport;
	__be16 dport;
	__u16 hdr_len;		/* IP header (with IPv6 extension headers) + L4 header */
	__u8 family;		/* 2 or 10 */
	__u8 proto;
	__u8 tcp_flags;
	__u8 result;		/* enum vis_parse_result */
	__u8 __pad[2];
};

#ifndef __bpf__
_Static_assert(sizeof(struct vis_proc) == 24, "vis_proc layout");
_Static_assert(sizeof(struct vis_proc_event) == 104 + VIS_FILENAME_MAX + VIS_ARGS_MAX,
	       "vis_proc_event layout");
_Static_assert(VIS_PROC_EVENT_HDR_SIZE == 104, "vis_proc_event header");
_Static_assert(sizeof(struct vis_sock) == 176, "vis_sock layout");
_Static_assert(offsetof(struct vis_sock, first_ns) == 96, "vis_sock: no hidden padding");
_Static_assert(sizeof(struct vis_flow_key) == 32, "vis_flow_key layout");
_Static_assert(sizeof(struct vis_flow) == 80, "vis_flow layout");
_Static_assert(sizeof(struct vis_settings) == 8, "vis_settings layout");
_Static_assert(sizeof(struct vis_pkt) == 44, "vis_pkt layout");
#endif

#endif
