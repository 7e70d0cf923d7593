/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Generations of the policy in force: check -> diff -> apply (write the free slot, read it back,
 * switch) -> rollback, the history, and the state kept in <agent.state_dir>/policy so that a
 * restarted agent knows (and, after a reboot or --cleanup, restores) what is in force.
 */
#ifndef AEGIS_POLICY_GEN_H
#define AEGIS_POLICY_GEN_H

#include <bpf/libbpf.h>
#include <jansson.h>

#include "audit.h"
#include "config.h"
#include "policy_attach.h"
#include "policy_kern.h"
#include "sha256.h"

/* One generation, as it sits in a slot. */
struct policy_gen {
	bool present;
	bool broken;			/* kept in the state but no longer compiles here (restart) */
	uint32_t generation;
	char hash[SHA256_HEX_LEN];	/* of the text, as `sha256sum FILE` prints it */
	char *text;
	size_t len;
	char *source;			/* the file name the client gave */
	char **ifaces;			/* the agent's interfaces it was applied with (--iface) */
	size_t n_ifaces;
	uint64_t applied_ns;		/* CLOCK_REALTIME */
	json_t *actor;
	bool *mode_runtime;		/* per policy: mode set by `aegis policy mode` */
	struct policy_doc doc;
	struct policy_image img;
	struct policy_selection sel;
};

struct policy_state {
	bool enabled;
	bool loaded;			/* the BPF object is set up */
	struct policy_kern k;
	struct policy_attach att;
	struct policy_gen gen[POLICY_SLOTS];	/* by slot */
	int active;			/* slot in force, -1: none */
	uint32_t max_generation;
	char dir[PATH_MAX];		/* <state_dir>/policy */
	struct ring_buffer *rb;
	uint64_t applies_ok, applies_failed, rollbacks, events_received;
	char restore_error[512];
};

extern struct policy_state PS;

/* Start: read the state and bring the datapath back to it (adopting the pins when they match). */
int policy_gen_start(const struct aegis_config *cfg);
void policy_gen_stop(const struct aegis_config *cfg, bool detach);
int policy_gen_reconfigure(const struct aegis_config *old, const struct aegis_config *cfg);

/*
 * The lifecycle as the API calls it. Each returns the HTTP status and sets *out; every phase
 * (verify, apply, rollback, mode) is audited and published as an event.
 */
unsigned policy_gen_diff(const char *text, size_t len, const char *source, json_t **out);
unsigned policy_gen_apply(const char *text, size_t len, const char *source, bool dry_run,
			  const struct actor *who, json_t **out);
unsigned policy_gen_rollback(const struct actor *who, json_t **out);
unsigned policy_gen_mode(const char *policy, int mode, const struct actor *who, json_t **out);
json_t *policy_gen_history(size_t max);

/* The generation in force (NULL: none). */
const struct policy_gen *policy_gen_active(void);
/* The generation numbered n, in either slot (NULL: neither holds it). */
const struct policy_gen *policy_gen_find(uint32_t n);
json_t *policy_gen_json(const struct policy_gen *g, bool detailed);

#endif
