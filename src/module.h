/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One capability of the agent (the guard, policy, visibility, monitors) as the agent's loop sees
 * it. A module owns its BPF objects (struct bpfobj, pinned under <pin_root>/<name>/), its state
 * and its API routes; the agent calls it in a fixed order from its one thread, so a module needs
 * no locks. Every hook but name may be NULL.
 *
 * Life cycle: start once with the configuration in force (a module the configuration leaves off
 * returns 0 and stays stopped); reconfigure on every accepted reload, with the right to refuse:
 * on error it must have restored `old` itself, and the agent puts the modules already
 * reconfigured back to `old` too, so a reload applies wholly or not at all; stop at exit, with
 * `detach` when enforcement is to end (agent.on_exit: detach). `aegis agent --cleanup` needs no
 * hook: it removes everything under the pin root.
 *
 * A configuration pointer is valid for the duration of the call only: keep copies, not pointers.
 */
#ifndef AEGIS_MODULE_H
#define AEGIS_MODULE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "api.h"
#include "bpfobj.h"
#include "config.h"

struct agent_module {
	const char *name;	/* the key of its part in `aegis status` */

	int (*start)(const struct aegis_config *cfg);
	int (*reconfigure)(const struct aegis_config *old, const struct aegis_config *cfg);
	void (*stop)(const struct aegis_config *cfg, bool detach);
	/* Once a second, with the configuration in force. */
	void (*tick)(const struct aegis_config *cfg);

	/*
	 * File descriptors for the loop to watch (ring buffers, perf buffers): asked again after
	 * start and after every reload, so a module may open and close them as it is configured.
	 * on_readable(fd) runs when one is readable.
	 */
	int (*poll_fds)(int *fds, int max);
	void (*on_readable)(int fd);

	/* Its part of `aegis status` ({"running": false} when stopped). */
	json_t *(*status)(void);
	/* Its Prometheus metrics (program and map metrics come from objects()). */
	void (*metrics)(FILE *f);
	/* The BPF objects it has in the kernel now, for `aegis progs` and /metrics. */
	size_t (*objects)(const struct bpfobj **out, size_t max);
	/* Where program `prog` of object o is attached: [{"hook": ..., "link_id": ..., ...}]. */
	json_t *(*attachments)(const struct bpfobj *o, const char *prog);
	/*
	 * Entries in use of a map that the module counts better than the kernel can (an LPM trie
	 * too big to walk, an array whose slots are not all in use), or MAP_ENTRIES_UNKNOWN.
	 */
	uint64_t (*map_entries)(const char *map);

	const struct api_route *routes;	/* terminated by an entry with a NULL path; may be NULL */

	/*
	 * `aegis agent --cleanup`, with no agent running: removes what the module put in the
	 * kernel that is not pinned under the pin root (netlink TC filters, qdiscs), before the
	 * pins go. Returns how many objects it removed, or -errno.
	 */
	int (*cleanup)(const struct aegis_config *cfg);
};

/* Every module, in start order; NULL-terminated (src/agent.c). */
extern const struct agent_module *const agent_modules[];

extern const struct agent_module guard_module;
extern const struct agent_module policy_module;
extern const struct agent_module monitors_module;
extern const struct agent_module visibility_module;

/* "# HELP name help\n# TYPE name type\n": the header of one Prometheus metric family. */
void metric_help(FILE *f, const char *name, const char *type, const char *help);

#endif
