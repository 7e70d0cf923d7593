/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The agent's flow table: every TCP and UDP flow the kernel counted (a TCP socket's in its
 * vis_socks entry, UDP's per peer in vis_flows), joined with what it knows of its socket
 * (vis_socks: owner, direction, TCP states, close) and kept with
 * running totals that survive the kernel entry being evicted and made again. Closed flows are
 * reported once, removed from the kernel's maps, and stay listed for a retention time.
 *
 * Evictions: an LRU map evicts silently. The programs count every insert; the agent counts its
 * own deletions (both kept in the pinned vis_stats, so they span agent restarts); what is neither
 * in the map nor deleted was evicted:
 *   evictions = inserts - deletions - entries present.
 * For flows, inserts, deletions and entries are vis_flows' and the TCP entries of vis_socks'.
 * Exact whenever the map does not change during the read of it; while it does, off by the
 * entries inserted or evicted during that read (the figure never goes down).
 */
#ifndef AEGIS_VIS_FLOW_H
#define AEGIS_VIS_FLOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "aegis/visibility.h"
#include "hmap.h"
#include "vis_proc.h"

enum vis_flow_state {
	VIS_FLOW_OPEN,
	VIS_FLOW_CLOSED,
};

enum vis_close_reason {
	VIS_CLOSE_NONE,
	VIS_CLOSE_TCP,		/* TCP reached CLOSE */
	VIS_CLOSE_RELEASED,	/* the socket was closed by its last holder */
	VIS_CLOSE_IDLE,		/* without packets for visibility.flow_idle_timeout: UDP, or TCP
				 * whose socket entry was evicted (its close cannot be seen) */
	VIS_CLOSE_EVICTED,	/* its kernel entry was evicted (the table was full) */
};

struct vis_flowrec {
	struct vis_flow_key key;
	uint64_t first_ns, last_ns, end_ns;	/* CLOCK_BOOTTIME */
	uint64_t bytes[2], packets[2];		/* totals, [enum vis_way] */
	/* The kernel entry the counters come from, as last read. */
	uint64_t map_first_ns;
	uint64_t map_bytes[2], map_packets[2];
	uint8_t laddr[16];
	__be16 lport;
	uint8_t first_way;
	uint8_t state;				/* enum vis_flow_state */
	uint8_t close_reason;
	uint8_t frame_bits;			/* VIS_FRAME_* */
	bool seen;				/* in the last read of vis_flows */
	bool has_sock;				/* sock below was filled from vis_socks */
	bool sock_seen;				/* its socket was in the last read of vis_socks */
	bool owner_inferred;			/* owner's identity found by pid, not captured */
	bool in_sock;				/* counted in its socket's entry (TCP), not vis_flows */
	struct vis_sock sock;			/* owner, direction, TCP states */
};

/* Counters of the kernel side (vis_stats), as read before the maps; flows: UDP's and TCP's. */
struct vis_map_totals {
	uint64_t flow_inserts, flow_deletes, sock_inserts, sock_deletes;
};

struct vis_flows_stats {
	/* Ours in the last refresh, to add to vis_stats: vis_flows', vis_socks' and its TCP ones. */
	uint64_t flow_deletes, sock_deletes, tcp_flow_deletes;
	uint64_t flow_evictions, sock_evictions;	/* derived, never decreasing */
	uint64_t flows_dropped;			/* closed flows dropped before their retention */
	uint64_t flow_entries, sock_entries;	/* in the kernel maps at the last read */
};

struct vis_flows {
	struct hmap by_key;
	size_t n_open, n_closed;
	uint32_t max_closed;			/* closed flows kept at most */
	struct vis_flowrec **frame;		/* flows with frame_bits set */
	size_t n_frame, cap_frame;
	struct vis_flows_stats stats;
};

struct vis_flows_config {
	uint64_t idle_timeout_ns;
	uint64_t retention_ns;
};

void vis_flows_init(struct vis_flows *t, uint32_t max_closed);
void vis_flows_free(struct vis_flows *t);

/*
 * Reads vis_socks and vis_flows, updates the table, closes what ended, removes closed flows
 * (and their sockets) from the kernel maps and derives the evictions from the counters. The
 * deletions it made are in t->stats.flow_deletes and sock_deletes, for the caller to add to
 * vis_stats.
 */
int vis_flows_refresh(struct vis_flows *t, const struct vis_procs *procs, int flows_fd, int socks_fd,
		      const struct vis_map_totals *totals, const struct vis_flows_config *cfg);

/* Drops closed flows older than the retention (and the oldest beyond max_closed). */
void vis_flows_expire(struct vis_flows *t, uint64_t now_boot_ns, uint64_t retention_ns);
void vis_flows_frame_reset(struct vis_flows *t);

/*
 * A flow as JSON text (one object, the same as vis_flow_json()), with "new": true if is_new and
 * "event": event unless NULL, and its length in *len. The text is the module's one buffer, valid
 * until the next call; NULL: out of memory.
 */
const char *vis_flow_text(const struct vis_procs *procs, const struct vis_flowrec *f, const char *event,
			  bool is_new, size_t *len);
json_t *vis_flow_json(const struct vis_procs *procs, const struct vis_flowrec *f);

/* The owner's identity: captured, or inferred from the running process of that pid. */
bool vis_flow_owner(const struct vis_flowrec *f, struct vis_ident *id);

#endif
