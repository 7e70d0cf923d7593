/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A source-list entry's hit counters as the datapath keeps them: the rule's shared counters plus
 * the hits each CPU has counted for it and not yet added (guard_hits, bpf/lib/prefix.h). Read the
 * rules first and the pending hits after them: a batch added in between is then missed for this
 * read (behind by at most PREFIX_HIT_BATCH - 1 packets per CPU), never counted twice.
 */
#ifndef AEGIS_GUARD_HITS_H
#define AEGIS_GUARD_HITS_H

#include <stdint.h>

#include "aegis/guard.h"
#include "decisions.h"

/* Every CPU's guard_hits, read at one moment. */
struct guard_pending {
	int ncpu;
	struct guard_hits *cpu;		/* [ncpu]; NULL: nothing read (no pending hits added) */
};

/* Reads the per-CPU map guard_hits (fd); 0 or -errno (p then adds nothing). */
int guard_pending_read(int fd, struct guard_pending *p);
void guard_pending_free(struct guard_pending *p);

/* The GUARD_LIST_* of a source list. */
enum guard_list_id guard_list_id(enum decision_list list, int family);

/* One entry's counters, read in two steps: the rule (before guard_pending_read()), then p. */
struct guard_entry_hits {
	uint64_t packets, bytes;
	uint32_t id, gen;
	enum guard_list_id list;
};

/* Step 1: rule id's record r in list, its own counters. */
void guard_entry_hits_rule(struct guard_entry_hits *h, const struct prefix_rule *r, uint32_t id,
			   enum guard_list_id list);
/* Step 2: adds the pending hits of every CPU that name (id, gen). */
void guard_entry_hits_pending(struct guard_entry_hits *h, const struct guard_pending *p);

#endif
