/* SPDX-License-Identifier: GPL-2.0-only */
/* The XDP guard as the agent owns it: one program, attached by a pinned link per interface. */
#ifndef AEGIS_GUARD_MOD_H
#define AEGIS_GUARD_MOD_H

#include <jansson.h>
#include <net/if.h>

#include "aegis/guard.h"
#include "audit.h"
#include "bpfobj.h"
#include "config.h"
#include "decisions.h"
#include "prefix_table.h"

struct guard_iface_state {
	char name[IF_NAMESIZE];
	int ifindex;
	int link_fd;
	uint32_t link_id;
	uint32_t slot;
	enum guard_mode mode;
	bool generic;		/* attached in generic (skb) mode */
	bool mode_override;	/* mode set at run time, not from the configuration */
};

struct guard {
	bool running;
	struct bpfobj obj;
	struct guard_iface_state ifaces[GUARD_MAX_IFACES];
	size_t n_ifaces;
	char state_file[PATH_MAX];
	/* The source lists, [enum decision_list][family == AF_INET6], open while running. */
	struct prefix_table *tables[2][2];
	/* GUARD_EMPTY_* bits in force: lists the datapath need not look up (guard_settings). */
	uint32_t empty_lists;
};

extern const struct bpfobj_desc guard_desc;

/* Loads or adopts the guard, attaches it to the configured interfaces and writes its maps. */
int guard_start(struct guard *g, const struct aegis_config *cfg);
/* Applies a new configuration; on failure the previous one is restored and an error returned. */
int guard_reconfigure(struct guard *g, const struct aegis_config *old, const struct aegis_config *cfg);
/* Releases our fds; with `detach`, also detaches and unpins (enforcement stops). */
void guard_stop(struct guard *g, const struct aegis_config *cfg, bool detach);

/* Run-time mode switch of one interface (NULL: all), a map write with no reload. */
int guard_set_mode(struct guard *g, const char *ifname, enum guard_mode mode,
		   const struct actor *who, char *err, size_t errlen);

json_t *guard_status_json(const struct guard *g);
/* Counters summed over CPUs, per interface and in total, for status and /metrics. */
int guard_read_counters(const struct guard *g, const struct guard_iface_state *s,
			struct guard_counters *out);

extern const char *const guard_reason_names[GUARD_REASON_COUNT];

/* The configuration key sizing a list ("guard.capacity.block_v4"). */
const char *guard_capacity_key(enum decision_list list, int family, bool scoped);
/* The prefix table of a source list, NULL while the guard is not running. */
struct prefix_table *guard_table(const struct guard *g, enum decision_list list, int family);
/* The protocol/port-scoped block list (an LPM trie), -1 while the guard is not running. */
int guard_scoped_fd(const struct guard *g, int family);
/* guard_hits, the CPUs' pending list-entry hits (guard_hits.h), -1 while not running. */
int guard_hits_fd(const struct guard *g);
/*
 * The GUARD_EMPTY_* bit of a list: set only once the list holds nothing (its lookup is then
 * skipped), cleared before its first entry is written. 0 or -errno.
 */
int guard_set_list_empty(struct guard *g, uint32_t bit, bool empty);

#endif
