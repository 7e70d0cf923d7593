/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Block and allow lists as the operator sees them: the decision store applied to the guard's
 * kernel maps, with TTLs, reasons, bulk imports, persistence and expiry.
 */
#ifndef AEGIS_LISTS_H
#define AEGIS_LISTS_H

#include <jansson.h>

#include "audit.h"
#include "config.h"
#include "decisions.h"
#include "guard.h"

struct lists {
	struct decisions store;
	struct guard *guard;
	char state_file[PATH_MAX];	/* the snapshot, decisions.tsv */
	char journal_file[PATH_MAX];	/* changes since, decisions.journal */
};

/* What an add or import asks for. */
struct list_request {
	enum decision_list list;
	enum guard_origin origin;
	struct decision_scope scope;	/* block only: one protocol and destination port */
	uint64_t ttl_ns;	/* 0 = no expiry */
	const char *reason;
	bool force;		/* allow /0 and the default gateway in the block list */
};

struct import_result {
	size_t lines, accepted, duplicate, rejected, normalised;
	uint64_t parse_store_ms, kernel_ms;	/* where an import's time went */
	json_t *rejects;	/* the first rejected lines: [{"line": N, "text": ..., "error": ...}] */
};

/*
 * Loads the persisted entries, reconciles them with what the (possibly adopted) kernel maps hold,
 * and applies the configuration's entries. The guard may be stopped: then only the store is kept.
 */
int lists_start(struct lists *l, struct guard *g, const struct aegis_config *cfg);
/* Writes every stored entry the kernel lacks (after the guard started with fresh maps). */
int lists_restore(struct lists *l);
/* Applies the configuration's allow/block entries (origin config), removing ones it dropped. */
int lists_sync_config(struct lists *l, const struct aegis_config *cfg);
void lists_stop(struct lists *l);

/* One entry. 0; or -errno with err naming the problem (bad /0 without force, list full, ...). */
int lists_add(struct lists *l, const struct list_request *rq, const struct cidr *c, bool host_bits,
	      const struct actor *who, char *note, size_t notelen, char *err, size_t errlen);
int lists_remove(struct lists *l, enum decision_list list, const struct cidr *c,
		 struct decision_scope scope, const struct actor *who, char *err, size_t errlen);
/* A feed file's text: one CIDR a line, '#' and ';' comments (FireHOL, Spamhaus DROP). */
int lists_import(struct lists *l, const struct list_request *rq, const char *text, size_t len,
		 const struct actor *who, struct import_result *res, char *err, size_t errlen);

/* Once a second: expired entries leave the kernel and the store; changes are committed. */
void lists_tick(struct lists *l);
/*
 * Makes the changes since the last commit durable in the state directory (see
 * decisions_commit): the API calls it before it answers for a change. 0 or -errno (logged).
 */
int lists_commit(struct lists *l);

/*
 * How many entries of a guard list map are in use (by its map name: a prefix table's rules or
 * nodes, a scoped list), MAP_ENTRIES_UNKNOWN if not a list.
 */
uint64_t lists_map_entries(const struct lists *l, const char *map);

/* Entries of one list (or both when list < 0), with hit counters and remaining TTL. */
json_t *lists_json(struct lists *l, int list, size_t limit);

#endif
