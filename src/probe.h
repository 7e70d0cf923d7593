/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * `aegis probe`: what this kernel and this process can do, proven by trying (load, attach,
 * detach), and the resulting state of each aegis capability. The JSON schema is documented in
 * docs/probe.md.
 */
#ifndef AEGIS_PROBE_H
#define AEGIS_PROBE_H

#include <jansson.h>
#include <stdio.h>

#include "config.h"

#define PROBE_SCHEMA 1

/*
 * Runs every check (well under a second) and returns the report, or NULL on allocation
 * failure. *exit_code is 0 when every capability the configuration enables is ready or degraded,
 * 1 when one is unavailable. cfg may be NULL (only `agent` enabled). Leaves nothing behind: no
 * interface, namespace, cgroup, program, link, pin or mount of its own outlives the call.
 * Forks short-lived children (temporary network and mount namespaces).
 */
json_t *probe_run(const struct aegis_config *cfg, int *exit_code);

/* The report's "capabilities" array as a new reference (json_decref it), NULL when absent. */
json_t *probe_capabilities(const json_t *report);

/* "ready", "degraded" or "unavailable" for one capability of a report; NULL when unknown. */
const char *probe_capability_state(const json_t *report, const char *name);

/* The human report (sections, then the capability table). */
void probe_print(FILE *out, const json_t *report);

/* Just the capability table, for `aegis status`. */
void probe_print_capabilities(FILE *out, const json_t *capabilities);

#endif
