/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The policy file (docs/policy.md): YAML text -> struct policy_doc. Like the configuration, the
 * whole document is walked after a problem, so that `aegis policy check` lists every mistake at
 * once as file:line:column: key: message. Every value keeps where it was written, so that the
 * agent's own refusals (an interface that does not exist, a policy too big for the maps) point
 * at the line too.
 */
#ifndef AEGIS_POLICY_FILE_H
#define AEGIS_POLICY_FILE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "diag.h"

enum policy_proto {
	POLICY_PROTO_ANY,
	POLICY_PROTO_TCP,
	POLICY_PROTO_UDP,
	POLICY_PROTO_ICMP,
	POLICY_PROTO_ICMPV6,
};

/* Where something was written: 1-based line and column, and its dotted key. */
struct policy_pos {
	int line, col;
	char key[80];
};

struct policy_ports {
	uint16_t lo, hi;	/* 1..65535, lo <= hi */
};

struct policy_rule {
	char *name;			/* optional; NULL */
	int direction;			/* POLICY_DIR_* */
	bool deny;
	enum policy_proto proto;
	struct cidr *peers;		/* none: any peer */
	size_t n_peers;
	struct policy_ports *ports;	/* none: any port */
	size_t n_ports;
	struct policy_pos at;
};

struct policy_def {
	char *name;
	int mode;			/* POLICY_MODE_* */
	char **ifaces;			/* selector.interfaces */
	size_t n_ifaces;
	struct policy_pos *iface_at;
	char **cgroups;			/* selector.cgroups, as written */
	size_t n_cgroups;
	struct policy_pos *cgroup_at;
	bool host;			/* selector.host: every process, for egress */
	bool deny_default[2];		/* by POLICY_DIR_* */
	struct policy_rule *rules;
	size_t n_rules;
	struct policy_pos at, selector_at;
};

struct policy_doc {
	char *source;			/* the file name messages use */
	struct policy_def *policies;
	size_t n;
};

/*
 * Parses and validates a whole policy file; every problem goes to d. Returns 0, or -EINVAL when
 * d holds errors (doc is then empty), -ENOMEM.
 */
int policy_doc_parse(const char *text, size_t len, const char *source, struct policy_doc *doc,
		     struct diags *d);
void policy_doc_free(struct policy_doc *doc);

const char *policy_proto_name(enum policy_proto p);
const char *policy_mode_name(int mode);
int policy_mode_parse(const char *s, int *mode);
const char *policy_dir_name(int dir);

/* "allow ingress tcp 80,443 from 10.0.0.0/8" (no peers: "from any"): for diff and logs. */
void policy_rule_text(const struct policy_rule *r, char *buf, size_t len);
/* The rule, and a policy without its rules, as JSON (the same keys as the file). */
json_t *policy_rule_json(const struct policy_rule *r);
json_t *policy_def_json(const struct policy_def *p);

/* Policy names: 1..63 of [A-Za-z0-9_.-], so they fit metric labels and URLs as they are. */
bool policy_name_ok(const char *s);

#endif
