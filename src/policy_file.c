// SPDX-License-Identifier: GPL-2.0-only
/* The policy file: schema in docs/policy.md; parsing shared with the configuration (yamldoc.h). */
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "aegis/policy.h"
#include "policy_file.h"
#include "iface.h"
#include "util.h"
#include "yamldoc.h"

#define MAX_RULES_PER_POLICY 1000000
#define MAX_POLICIES 65536

struct pparser {
	yaml_document_t *doc;
	const char *file;
	struct diags *d;
	unsigned int errors;
	bool oom;
};

static const char *const proto_names[] = {
	[POLICY_PROTO_ANY] = "any",
	[POLICY_PROTO_TCP] = "tcp",
	[POLICY_PROTO_UDP] = "udp",
	[POLICY_PROTO_ICMP] = "icmp",
	[POLICY_PROTO_ICMPV6] = "icmpv6",
};
static const char *const mode_names[] = {
	[POLICY_MODE_OBSERVE] = "observe",
	[POLICY_MODE_BLOCK] = "block",
};
static const char *const dir_names[] = {
	[POLICY_DIR_INGRESS] = "ingress",
	[POLICY_DIR_EGRESS] = "egress",
};
static const char *const action_names[] = { "allow", "deny" };

const char *policy_proto_name(enum policy_proto p)
{
	return (unsigned)p < ARRAY_SIZE(proto_names) ? proto_names[p] : "?";
}

const char *policy_mode_name(int mode)
{
	return (unsigned)mode < ARRAY_SIZE(mode_names) ? mode_names[mode] : "?";
}

const char *policy_dir_name(int dir)
{
	return (unsigned)dir < ARRAY_SIZE(dir_names) ? dir_names[dir] : "?";
}

static int lookup(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (streq(names[i], s))
			return (int)i;
	return -1;
}

int policy_mode_parse(const char *s, int *mode)
{
	int i = lookup(mode_names, ARRAY_SIZE(mode_names), s);

	if (i < 0)
		return -EINVAL;
	*mode = i;
	return 0;
}

bool policy_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

/* ---- diagnostics ------------------------------------------------------------------------- */

static void perr(struct pparser *p, const yaml_node_t *n, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void perr(struct pparser *p, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diags_add(p->d, p->file, n ? ynode_line(n) : 0, n ? ynode_col(n) : 0, key, "%s", msg);
	p->errors++;
}

static void oom(struct pparser *p, const yaml_node_t *n, const char *key)
{
	if (!p->oom)
		perr(p, n, key, "out of memory");
	p->oom = true;
}

static void set_pos(struct policy_pos *at, const yaml_node_t *n, const char *key)
{
	at->line = ynode_line(n);
	at->col = ynode_col(n);
	snprintf(at->key, sizeof(at->key), "%s", key);
}

static const yaml_node_t *node(struct pparser *p, yaml_node_item_t i)
{
	return yaml_document_get_node(p->doc, i);
}

/* ---- mappings ---------------------------------------------------------------------------- */

/*
 * Walks the keys of a mapping: vals[i] gets the value of names[i] (NULL when absent). Unknown and
 * repeated keys are reported (with a suggestion for a near miss). False when `map` is no mapping.
 */
static bool walk_keys(struct pparser *p, const yaml_node_t *map, const char *key,
		      const char *const *names, size_t n, const yaml_node_t **vals)
{
	memset(vals, 0, n * sizeof(*vals));
	if (map->type != YAML_MAPPING_NODE) {
		perr(p, map, key, "expected a mapping, got %s", ynode_kind(map));
		return false;
	}
	for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
	     pair++) {
		const yaml_node_t *k = node(p, pair->key), *v = node(p, pair->value);
		char sub[160], valid[256] = "", hint[96] = "";
		size_t best = 3, off = 0;
		int i;

		if (!k || !v)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			perr(p, k, key, "keys must be strings, got %s", ynode_kind(k));
			continue;
		}
		snprintf(sub, sizeof(sub), "%s%s%s", key, *key ? "." : "", ynode_scalar(k));
		i = lookup(names, n, ynode_scalar(k));
		if (i >= 0 && vals[i]) {
			perr(p, k, sub, "duplicate key (first given at line %d)", ynode_line(vals[i]));
			continue;
		}
		if (i >= 0) {
			vals[i] = v;
			continue;
		}
		for (size_t j = 0; j < n && off < sizeof(valid); j++) {
			size_t dist = yedit_distance(ynode_scalar(k), names[j]);

			off += (size_t)snprintf(valid + off, sizeof(valid) - off, "%s%s", j ? ", " : "",
						names[j]);
			if (dist < best) {
				best = dist;
				snprintf(hint, sizeof(hint), " (did you mean '%s'?)", names[j]);
			}
		}
		perr(p, k, sub, "unknown key '%s'%s; valid keys: %s", ynode_scalar(k), hint, valid);
	}
	return true;
}

static void missing(struct pparser *p, const yaml_node_t *map, const char *key, const char *what)
{
	perr(p, map, key, "'%s' is required", what);
}

/* ---- values ------------------------------------------------------------------------------ */

static const char *str_of(struct pparser *p, const yaml_node_t *n, const char *key)
{
	const char *s = ynode_str(p->d, p->file, n, key);

	if (!s)
		p->errors++;
	return s;
}

static int enum_of(struct pparser *p, const yaml_node_t *n, const char *key,
		   const char *const *names, size_t count)
{
	const char *s = str_of(p, n, key);
	char allowed[128] = "";
	size_t off = 0;
	int i;

	if (!s)
		return -1;
	i = lookup(names, count, s);
	if (i >= 0)
		return i;
	for (size_t j = 0; j < count; j++)
		off += (size_t)snprintf(allowed + off, sizeof(allowed) - off, "%s%s", j ? ", " : "", names[j]);
	perr(p, n, key, "unknown value '%s'; expected one of %s", s, allowed);
	return -1;
}

static int bool_of(struct pparser *p, const yaml_node_t *n, const char *key)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };

	if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
			if (!strcasecmp(ynode_scalar(n), yes[i]))
				return 1;
			if (!strcasecmp(ynode_scalar(n), no[i]))
				return 0;
		}
	}
	perr(p, n, key, "expected a boolean (true/false), got %s", n->type == YAML_SCALAR_NODE ?
	     ynode_scalar(n) : ynode_kind(n));
	return -1;
}

/* The items of a list (a null value is an empty list); -1 after an error. */
static ssize_t list_of(struct pparser *p, const yaml_node_t *n, const char *key, const char *what)
{
	if (ynode_is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE) {
		perr(p, n, key, "expected a list of %s, got %s", what, ynode_kind(n));
		return -1;
	}
	return n->data.sequence.items.top - n->data.sequence.items.start;
}

static const yaml_node_t *item(struct pparser *p, const yaml_node_t *list, ssize_t i)
{
	return node(p, list->data.sequence.items.start[i]);
}

/* A list item that must be a non-empty scalar; "key[i]" goes to ikey. */
static const char *item_str(struct pparser *p, const yaml_node_t *it, const char *ikey)
{
	if (it->type != YAML_SCALAR_NODE) {
		perr(p, it, ikey, "expected a scalar, but this item is %s", ynode_kind(it));
		return NULL;
	}
	if (ynode_is_null(it)) {
		perr(p, it, ikey, "empty list item");
		return NULL;
	}
	return str_of(p, it, ikey);
}

/* ---- rules ------------------------------------------------------------------------------- */

static int port_of(const char *s, uint16_t *out)
{
	uint64_t v;

	if (parse_u64(s, &v) || v < 1 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* "443" or "8000-8080" (a plain YAML integer arrives as its text). */
static bool parse_port_item(struct pparser *p, const yaml_node_t *it, const char *ikey,
			    struct policy_ports *out)
{
	const char *s = item_str(p, it, ikey), *dash;
	char lo[16];

	if (!s)
		return false;
	dash = strchr(s, '-');
	if (!dash) {
		if (port_of(s, &out->lo)) {
			perr(p, it, ikey, "'%s' is not a port: expected 1..65535 or a range such as 8000-8080", s);
			return false;
		}
		out->hi = out->lo;
		return true;
	}
	if ((size_t)(dash - s) >= sizeof(lo) || dash == s) {
		perr(p, it, ikey, "'%s' is not a port range: expected LOW-HIGH such as 8000-8080", s);
		return false;
	}
	memcpy(lo, s, (size_t)(dash - s));
	lo[dash - s] = '\0';
	if (port_of(lo, &out->lo) || port_of(dash + 1, &out->hi)) {
		perr(p, it, ikey, "'%s' is not a port range: both ends must be 1..65535", s);
		return false;
	}
	if (out->lo > out->hi) {
		perr(p, it, ikey, "port range '%s' is reversed: did you mean %u-%u?", s, out->hi, out->lo);
		return false;
	}
	return true;
}

static void parse_ports(struct pparser *p, const yaml_node_t *v, const char *key,
			struct policy_rule *r)
{
	ssize_t n = list_of(p, v, key, "ports");
	char ikey[192];

	if (n <= 0)
		return;
	r->ports = calloc((size_t)n, sizeof(*r->ports));
	if (!r->ports) {
		oom(p, v, key);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		snprintf(ikey, sizeof(ikey), "%s[%zd]", key, i);
		if (parse_port_item(p, item(p, v, i), ikey, &r->ports[r->n_ports]))
			r->n_ports++;
	}
}

static void parse_peers(struct pparser *p, const yaml_node_t *v, const char *key,
			struct policy_rule *r)
{
	ssize_t n = list_of(p, v, key, "CIDRs");
	char ikey[192], why[128], fixed[CIDR_STRLEN];

	if (n <= 0)
		return;
	r->peers = calloc((size_t)n, sizeof(*r->peers));
	if (!r->peers) {
		oom(p, v, key);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		const yaml_node_t *it = item(p, v, i);
		const char *s;
		bool host_bits;

		snprintf(ikey, sizeof(ikey), "%s[%zd]", key, i);
		s = item_str(p, it, ikey);
		if (!s)
			continue;
		if (cidr_parse(s, &r->peers[r->n_peers], &host_bits, why, sizeof(why))) {
			perr(p, it, ikey, "invalid CIDR: %s", why);
			continue;
		}
		/* In a file someone wrote, 10.1.2.3/8 is more likely a typo than a wish for 10/8. */
		if (host_bits) {
			cidr_format(&r->peers[r->n_peers], fixed, sizeof(fixed));
			perr(p, it, ikey, "'%s': host bits set: did you mean %s?", s, fixed);
			continue;
		}
		r->n_peers++;
	}
}

enum { R_NAME, R_DIRECTION, R_ACTION, R_PROTOCOL, R_PORTS, R_PEERS, R__COUNT };
static const char *const rule_keys[R__COUNT] = {
	"name", "direction", "action", "protocol", "ports", "peers",
};

static void parse_rule(struct pparser *p, const yaml_node_t *n, const char *key,
		       struct policy_rule *r)
{
	const yaml_node_t *v[R__COUNT];
	char sub[160];
	int i;

	set_pos(&r->at, n, key);
	if (!walk_keys(p, n, key, rule_keys, R__COUNT, v))
		return;
	snprintf(sub, sizeof(sub), "%s.name", key);
	if (v[R_NAME]) {
		const char *s = str_of(p, v[R_NAME], sub);

		if (s && !policy_name_ok(s))
			perr(p, v[R_NAME], sub, "'%s': a rule name is 1..63 letters, digits, '_', '.' or '-'", s);
		else if (s && !(r->name = strdup(s)))
			oom(p, v[R_NAME], sub);
	}
	snprintf(sub, sizeof(sub), "%s.direction", key);
	if (!v[R_DIRECTION])
		missing(p, n, key, "direction");
	else if ((i = enum_of(p, v[R_DIRECTION], sub, dir_names, ARRAY_SIZE(dir_names))) >= 0)
		r->direction = i;
	snprintf(sub, sizeof(sub), "%s.action", key);
	if (!v[R_ACTION])
		missing(p, n, key, "action");
	else if ((i = enum_of(p, v[R_ACTION], sub, action_names, ARRAY_SIZE(action_names))) >= 0)
		r->deny = i == 1;
	snprintf(sub, sizeof(sub), "%s.protocol", key);
	if (v[R_PROTOCOL] && (i = enum_of(p, v[R_PROTOCOL], sub, proto_names, ARRAY_SIZE(proto_names))) >= 0)
		r->proto = (enum policy_proto)i;
	snprintf(sub, sizeof(sub), "%s.ports", key);
	if (v[R_PORTS]) {
		parse_ports(p, v[R_PORTS], sub, r);
		if (r->n_ports && (r->proto == POLICY_PROTO_ICMP || r->proto == POLICY_PROTO_ICMPV6))
			perr(p, v[R_PORTS], sub, "%s has no ports: ports apply to tcp, udp and any "
			     "(any with ports means tcp and udp)", policy_proto_name(r->proto));
	}
	snprintf(sub, sizeof(sub), "%s.peers", key);
	if (v[R_PEERS])
		parse_peers(p, v[R_PEERS], sub, r);
}

/* ---- policies ---------------------------------------------------------------------------- */

static const char *cgroup_problem(const char *s)
{
	const char *c = s;

	if (!*s)
		return "is empty";
	while (*c) {
		size_t n = strcspn(c, "/");

		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return "must not contain '.' or '..' components";
		c += n;
		while (*c == '/')
			c++;
	}
	return NULL;
}

/* selector.interfaces or selector.cgroups: names, each once. */
static void parse_names(struct pparser *p, const yaml_node_t *v, const char *key, bool ifaces,
			char ***out, struct policy_pos **at, size_t *count)
{
	ssize_t n = list_of(p, v, key, ifaces ? "interface names" : "cgroup paths");
	char ikey[192];

	if (n <= 0)
		return;
	*out = calloc((size_t)n, sizeof(**out));
	*at = calloc((size_t)n, sizeof(**at));
	if (!*out || !*at) {
		oom(p, v, key);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		const yaml_node_t *it = item(p, v, i);
		const char *s, *why;
		bool dup = false;

		snprintf(ikey, sizeof(ikey), "%s[%zd]", key, i);
		s = item_str(p, it, ikey);
		if (!s)
			continue;
		why = ifaces ? iface_name_problem(s) : cgroup_problem(s);
		if (why) {
			perr(p, it, ikey, "%s '%s' %s", ifaces ? "interface name" : "cgroup path", s, why);
			continue;
		}
		for (size_t j = 0; j < *count; j++)
			dup |= streq((*out)[j], s);
		if (dup) {
			perr(p, it, ikey, "'%s' is listed twice", s);
			continue;
		}
		(*out)[*count] = strdup(s);
		if (!(*out)[*count]) {
			oom(p, it, ikey);
			continue;
		}
		set_pos(&(*at)[*count], it, ikey);
		(*count)++;
	}
}

enum { S_INTERFACES, S_CGROUPS, S_HOST, S__COUNT };
static const char *const selector_keys[S__COUNT] = { "interfaces", "cgroups", "host" };

static void parse_selector(struct pparser *p, const yaml_node_t *n, const char *key,
			   struct policy_def *pol)
{
	const yaml_node_t *v[S__COUNT];
	char sub[160];
	int b;

	set_pos(&pol->selector_at, n, key);
	if (!walk_keys(p, n, key, selector_keys, S__COUNT, v))
		return;
	snprintf(sub, sizeof(sub), "%s.interfaces", key);
	if (v[S_INTERFACES])
		parse_names(p, v[S_INTERFACES], sub, true, &pol->ifaces, &pol->iface_at, &pol->n_ifaces);
	snprintf(sub, sizeof(sub), "%s.cgroups", key);
	if (v[S_CGROUPS])
		parse_names(p, v[S_CGROUPS], sub, false, &pol->cgroups, &pol->cgroup_at, &pol->n_cgroups);
	snprintf(sub, sizeof(sub), "%s.host", key);
	if (v[S_HOST] && (b = bool_of(p, v[S_HOST], sub)) >= 0)
		pol->host = b;
	if (v[S_HOST] && pol->host && pol->n_cgroups)
		perr(p, v[S_HOST], sub, "host: true already selects every cgroup; drop selector.cgroups");
}

/* `default: deny`, or per direction: `default: {ingress: deny, egress: allow}` (omitted: allow). */
static void parse_default(struct pparser *p, const yaml_node_t *n, const char *key,
			  struct policy_def *pol)
{
	const yaml_node_t *v[2];
	char sub[160];
	int i;

	if (n->type == YAML_SCALAR_NODE) {
		if ((i = enum_of(p, n, key, action_names, ARRAY_SIZE(action_names))) >= 0)
			pol->deny_default[POLICY_DIR_INGRESS] = pol->deny_default[POLICY_DIR_EGRESS] = i == 1;
		return;
	}
	if (!walk_keys(p, n, key, dir_names, ARRAY_SIZE(dir_names), v))
		return;
	for (int dir = 0; dir < 2; dir++) {
		snprintf(sub, sizeof(sub), "%s.%s", key, dir_names[dir]);
		if (v[dir] && (i = enum_of(p, v[dir], sub, action_names, ARRAY_SIZE(action_names))) >= 0)
			pol->deny_default[dir] = i == 1;
	}
}

static void parse_rules(struct pparser *p, const yaml_node_t *v, const char *key,
			struct policy_def *pol)
{
	ssize_t n = list_of(p, v, key, "rules");
	char ikey[160];

	if (n <= 0)
		return;
	if (n > MAX_RULES_PER_POLICY) {
		perr(p, v, key, "%zd rules; a policy holds at most %d", n, MAX_RULES_PER_POLICY);
		return;
	}
	pol->rules = calloc((size_t)n, sizeof(*pol->rules));
	if (!pol->rules) {
		oom(p, v, key);
		return;
	}
	pol->n_rules = (size_t)n;
	for (ssize_t i = 0; i < n; i++) {
		snprintf(ikey, sizeof(ikey), "%s[%zd]", key, i);
		parse_rule(p, item(p, v, i), ikey, &pol->rules[i]);
	}
}

enum { P_NAME, P_MODE, P_SELECTOR, P_DEFAULT, P_RULES, P__COUNT };
static const char *const policy_keys[P__COUNT] = { "name", "mode", "selector", "default", "rules" };

static void parse_policy(struct pparser *p, const yaml_node_t *n, const char *key,
			 struct policy_def *pol)
{
	const yaml_node_t *v[P__COUNT];
	char sub[160];
	const char *s;
	int i;

	set_pos(&pol->at, n, key);
	if (!walk_keys(p, n, key, policy_keys, P__COUNT, v))
		return;
	snprintf(sub, sizeof(sub), "%s.name", key);
	if (!v[P_NAME]) {
		missing(p, n, key, "name");
	} else if ((s = str_of(p, v[P_NAME], sub))) {
		if (!policy_name_ok(s))
			perr(p, v[P_NAME], sub, "'%s': a policy name is 1..63 letters, digits, '_', '.' or '-'", s);
		else if (!(pol->name = strdup(s)))
			oom(p, v[P_NAME], sub);
	}
	snprintf(sub, sizeof(sub), "%s.mode", key);
	if (!v[P_MODE])
		missing(p, n, key, "mode");
	else if ((i = enum_of(p, v[P_MODE], sub, mode_names, ARRAY_SIZE(mode_names))) >= 0)
		pol->mode = i;
	/* No selector: the agent's interfaces (policy.interfaces, --iface), checked at apply. */
	snprintf(sub, sizeof(sub), "%s.selector", key);
	pol->selector_at = pol->at;
	if (v[P_SELECTOR] && !ynode_is_null(v[P_SELECTOR]))
		parse_selector(p, v[P_SELECTOR], sub, pol);
	snprintf(sub, sizeof(sub), "%s.default", key);
	if (!v[P_DEFAULT])
		missing(p, n, key, "default");
	else
		parse_default(p, v[P_DEFAULT], sub, pol);
	snprintf(sub, sizeof(sub), "%s.rules", key);
	if (v[P_RULES])
		parse_rules(p, v[P_RULES], sub, pol);
}

static void check_unique_names(struct pparser *p, const yaml_node_t *list, struct policy_doc *doc)
{
	for (size_t i = 0; i < doc->n; i++)
		for (size_t j = 0; j < i; j++)
			if (doc->policies[i].name && streq(doc->policies[i].name, doc->policies[j].name))
				perr(p, item(p, list, (ssize_t)i), doc->policies[i].at.key,
				     "policy name '%s' is used twice (first at line %d)",
				     doc->policies[i].name, doc->policies[j].at.line);
}

static void walk_root(struct pparser *p, struct policy_doc *doc)
{
	static const char *const top[] = { "policies" };
	const yaml_node_t *root = yaml_document_get_root_node(p->doc), *v[1];
	ssize_t n;

	if (!root || ynode_is_null(root)) {
		perr(p, root, NULL, "the file holds no policies: write `policies: []` to mean none");
		return;
	}
	if (!walk_keys(p, root, "", top, 1, v))
		return;
	if (!v[0]) {
		missing(p, root, "", "policies");
		return;
	}
	n = list_of(p, v[0], "policies", "policies");
	if (n <= 0)
		return;
	if (n > MAX_POLICIES) {
		perr(p, v[0], "policies", "%zd policies; at most %d", n, MAX_POLICIES);
		return;
	}
	doc->policies = calloc((size_t)n, sizeof(*doc->policies));
	if (!doc->policies) {
		oom(p, v[0], "policies");
		return;
	}
	doc->n = (size_t)n;
	for (ssize_t i = 0; i < n; i++) {
		char key[64];

		snprintf(key, sizeof(key), "policies[%zd]", i);
		parse_policy(p, item(p, v[0], i), key, &doc->policies[i]);
	}
	check_unique_names(p, v[0], doc);
}

int policy_doc_parse(const char *text, size_t len, const char *source, struct policy_doc *doc,
		     struct diags *d)
{
	struct diags scratch = {};
	struct pparser p = { .file = source ? source : "<input>", .d = d ? d : &scratch };
	yaml_document_t ydoc;
	yaml_mark_t second;
	bool has_second;

	memset(doc, 0, sizeof(*doc));
	if (!ydoc_load(text, len, p.file, p.d, &ydoc, &second, &has_second)) {
		diags_free(&scratch);
		return -EINVAL;
	}
	p.doc = &ydoc;
	doc->source = strdup(p.file);
	if (!doc->source)
		oom(&p, NULL, NULL);
	else
		walk_root(&p, doc);
	if (has_second) {
		diags_add(p.d, p.file, (int)second.line + 1, (int)second.column + 1, NULL,
			  "only one YAML document is allowed (a second one starts here)");
		p.errors++;
	}
	yaml_document_delete(&ydoc);
	diags_free(&scratch);
	if (p.errors) {
		policy_doc_free(doc);
		return p.oom ? -ENOMEM : -EINVAL;
	}
	return 0;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void policy_doc_free(struct policy_doc *doc)
{
	for (size_t i = 0; i < doc->n; i++) {
		struct policy_def *pol = &doc->policies[i];

		free(pol->name);
		free_names(pol->ifaces, pol->n_ifaces);
		free(pol->iface_at);
		free_names(pol->cgroups, pol->n_cgroups);
		free(pol->cgroup_at);
		for (size_t j = 0; j < pol->n_rules; j++) {
			free(pol->rules[j].name);
			free(pol->rules[j].peers);
			free(pol->rules[j].ports);
		}
		free(pol->rules);
	}
	free(doc->policies);
	free(doc->source);
	memset(doc, 0, sizeof(*doc));
}

/* ---- text and JSON ----------------------------------------------------------------------- */

static size_t ports_text(const struct policy_rule *r, char *buf, size_t len)
{
	size_t off = 0;

	for (size_t i = 0; i < r->n_ports && off < len; i++) {
		if (r->ports[i].lo == r->ports[i].hi)
			off += (size_t)snprintf(buf + off, len - off, "%s%u", i ? "," : "", r->ports[i].lo);
		else
			off += (size_t)snprintf(buf + off, len - off, "%s%u-%u", i ? "," : "",
						r->ports[i].lo, r->ports[i].hi);
	}
	return off;
}

void policy_rule_text(const struct policy_rule *r, char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "%s %s %s", r->deny ? "deny" : "allow",
				      policy_dir_name(r->direction), policy_proto_name(r->proto));
	char c[CIDR_STRLEN];

	if (off < len && r->n_ports) {
		off += (size_t)snprintf(buf + off, len - off, " port ");
		if (off < len)
			off += ports_text(r, buf + off, len - off);
	}
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, " %s ", r->direction == POLICY_DIR_INGRESS ?
					"from" : "to");
	if (off < len && !r->n_peers)
		off += (size_t)snprintf(buf + off, len - off, "any");
	for (size_t i = 0; i < r->n_peers && off < len; i++) {
		cidr_format(&r->peers[i], c, sizeof(c));
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", c);
	}
	if (off < len && r->name)
		snprintf(buf + off, len - off, " (%s)", r->name);
}

json_t *policy_rule_json(const struct policy_rule *r)
{
	json_t *peers = json_array(), *ports = json_array();
	char buf[CIDR_STRLEN];
	json_t *j;

	for (size_t i = 0; i < r->n_peers; i++) {
		cidr_format(&r->peers[i], buf, sizeof(buf));
		json_array_append_new(peers, json_string(buf));
	}
	for (size_t i = 0; i < r->n_ports; i++) {
		if (r->ports[i].lo == r->ports[i].hi)
			snprintf(buf, sizeof(buf), "%u", r->ports[i].lo);
		else
			snprintf(buf, sizeof(buf), "%u-%u", r->ports[i].lo, r->ports[i].hi);
		json_array_append_new(ports, json_string(buf));
	}
	j = json_pack("{s:s, s:s, s:s, s:o, s:o}", "direction", policy_dir_name(r->direction),
		      "action", r->deny ? "deny" : "allow", "protocol", policy_proto_name(r->proto),
		      "ports", ports, "peers", peers);
	if (j && r->name)
		json_object_set_new(j, "name", json_string(r->name));
	return j;
}

static json_t *strv(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *policy_def_json(const struct policy_def *p)
{
	return json_pack("{s:s, s:s, s:{s:o, s:o, s:b}, s:{s:s, s:s}, s:I}", "name", p->name, "mode",
			 policy_mode_name(p->mode), "selector", "interfaces", strv(p->ifaces, p->n_ifaces),
			 "cgroups", strv(p->cgroups, p->n_cgroups), "host", p->host, "default",
			 "ingress", p->deny_default[POLICY_DIR_INGRESS] ? "deny" : "allow", "egress",
			 p->deny_default[POLICY_DIR_EGRESS] ? "deny" : "allow", "rules",
			 (json_int_t)p->n_rules);
}
