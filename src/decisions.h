/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The decision store: every block and allow entry with its origin, reason, creation time and
 * expiry, independent of who made it (CLI, configuration, a feed file, the auto-blocker, later
 * the fleet). It is the agent's authoritative copy: the guard writes it to the kernel, and it is
 * persisted in the state directory so entries survive a reboot with their remaining TTL.
 */
#ifndef AEGIS_DECISIONS_H
#define AEGIS_DECISIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aegis/guard.h"
#include "cidr.h"

enum decision_list {
	LIST_BLOCK,
	LIST_ALLOW,
};

/* "udp port 53": an entry that applies only to this protocol and destination port. */
struct decision_scope {
	uint8_t proto;		/* IPPROTO_TCP or IPPROTO_UDP; 0 = unscoped, the whole address */
	uint16_t port;		/* destination port, host order */
};

#define UNSCOPED ((struct decision_scope){ 0, 0 })

struct decision {
	struct cidr cidr;
	struct decision_scope scope;
	uint8_t list;		/* enum decision_list */
	uint8_t origin;		/* enum guard_origin */
	uint8_t used;		/* slot in use (hash table bookkeeping) */
	uint32_t reason_id;	/* decisions_reason() */
	uint64_t created_ns;	/* CLOCK_REALTIME */
	uint64_t expires_ns;	/* CLOCK_REALTIME; 0 = never */
};

struct decisions {
	struct decision *slots;
	size_t cap, count;
	char **reasons;		/* interned reason strings; id 0 is "" */
	size_t n_reasons, cap_reasons;
	uint32_t *reason_index;	/* open-addressing index into reasons, cap_reason_index slots */
	size_t cap_reason_index;
	/*
	 * The journal: every put and del appends a line here, and decisions_commit() writes the
	 * lines to the journal file (or a whole new snapshot when the journal has grown), so that
	 * a change is on disk before the agent answers for it.
	 */
	char *journal;
	size_t journal_len, journal_cap;
	size_t journal_pending;	/* lines in `journal`, not yet written */
	size_t journal_written;	/* lines in the journal file since the last snapshot */
	bool replaying;		/* loading: changes are not journaled */
	bool journal_failed;	/* a line could not be kept: the next commit writes a snapshot */
};

extern const char *const origin_names[GUARD_ORIGIN_COUNT];
int origin_parse(const char *s, enum guard_origin *o);
const char *list_name(enum decision_list l);

void decisions_init(struct decisions *ds);
void decisions_free(struct decisions *ds);

/* Interns a reason text; returns its id (0 for NULL or ""). */
uint32_t decisions_reason_id(struct decisions *ds, const char *reason);
const char *decisions_reason(const struct decisions *ds, uint32_t id);

/*
 * Adds or replaces the entry for (list, cidr, scope). Returns 1 when it was new, 0 when it replaced an
 * entry, -ENOMEM. *old receives the replaced entry when old is non-NULL and it existed.
 */
int decisions_put(struct decisions *ds, const struct decision *d, struct decision *old);
/* Removes (list, cidr, scope): 0, or -ENOENT. *old receives the removed entry. */
int decisions_del(struct decisions *ds, enum decision_list list, const struct cidr *c,
		  struct decision_scope scope, struct decision *old);
const struct decision *decisions_get(const struct decisions *ds, enum decision_list list,
				     const struct cidr *c, struct decision_scope scope);

/* "udp/53", or "" for an unscoped entry. */
void scope_format(struct decision_scope s, char *buf, size_t len);
/* "tcp" or "udp" and a port 1..65535 into *s; -EINVAL with why. */
int scope_parse(const char *proto, const char *port, struct decision_scope *s, char *why, size_t len);

/* Iteration: for (i = 0; (d = decisions_next(ds, &i)); ) */
const struct decision *decisions_next(const struct decisions *ds, size_t *iter);

/*
 * Persistence: a snapshot file (tab-separated lines, one entry each) and a journal file of the
 * changes since (one line each: "+" and an entry, or "-" and a key). Configuration entries are
 * not kept (they come back from the configuration).
 *
 * decisions_commit() makes the changes since the last commit durable (written and fdatasync'd):
 * appended to the journal, or, when the journal would outgrow the store, as a new snapshot
 * (written atomically) with the journal emptied. decisions_compact() always does the latter.
 */
int decisions_commit(struct decisions *ds, const char *snapshot, const char *journal);
int decisions_compact(struct decisions *ds, const char *snapshot, const char *journal);
/*
 * Loads the snapshot, then replays the journal (either may be missing: -ENOENT only when both
 * are). Entries already expired are skipped and counted in *expired; -EBADMSG when lines were
 * skipped as unreadable.
 */
int decisions_load(struct decisions *ds, const char *snapshot, const char *journal, size_t *loaded,
		   size_t *expired);

#endif
