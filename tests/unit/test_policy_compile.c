// SPDX-License-Identifier: GPL-2.0-only
/*
 * The policy file parser (every field, and the file:line:column of each kind of mistake) and the
 * compiler: random policies of overlapping prefixes, port ranges, protocols and actions, where
 * the compiled cells must decide every probed packet exactly as the file read rule by rule does
 * (deny before allow, then file order, else the default); layouts under shuffled prefix ids;
 * sharing of identical records; capacities refused with their numbers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include "policy_compile.h"
#include "policy_file.h"
#include "test.h"
#include "util.h"

static int parse(const char *text, struct policy_doc *doc, struct diags *d)
{
	return policy_doc_parse(text, strlen(text), "p.yaml", doc, d);
}

static bool expect_diag(const struct diags *d, const char *key, int line, int col, const char *needle)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct diag *x = &d->v[i];

		if ((key ? streq(x->key, key) : !x->key) && x->line == line && x->col == col &&
		    x->msg && strstr(x->msg, needle) && streq(x->file, "p.yaml"))
			return true;
	}
	test_fail_at(__FILE__, __LINE__, "no diagnostic %s at %d:%d containing '%s'", key ? key : "-",
		     line, col, needle);
	diags_print(d, stderr);
	return false;
}

static const char good[] =
	"policies:\n"
	"  - name: web\n"
	"    mode: block\n"
	"    selector:\n"
	"      interfaces: [eth0, eth1]\n"
	"      cgroups: [system.slice/nginx.service]\n"
	"    default: {ingress: deny}\n"
	"    rules:\n"
	"      - name: https\n"
	"        direction: ingress\n"
	"        action: allow\n"
	"        protocol: tcp\n"
	"        ports: [443, 8000-8080]\n"
	"        peers: [10.0.0.0/8, \"2001:db8::/32\"]\n"
	"      - direction: egress\n"
	"        action: deny\n"
	"        protocol: udp\n"
	"        ports: [53]\n"
	"  - name: mon\n"
	"    mode: observe\n"
	"    selector: {host: true}\n"
	"    default: deny\n";

TEST(policy_file_valid)
{
	struct policy_doc doc;
	struct diags d = {};
	const struct policy_def *p;
	const struct policy_rule *r;
	char text[256];

	if (!ASSERT_OK(parse(good, &doc, &d), "parse")) {
		diags_print(&d, stderr);
		goto out;
	}
	ASSERT_EQ(doc.n, 2, "policies");
	p = &doc.policies[0];
	ASSERT_STREQ(p->name, "web", "name");
	ASSERT_EQ(p->mode, POLICY_MODE_BLOCK, "mode");
	ASSERT_EQ(p->n_ifaces, 2, "interfaces");
	ASSERT_STREQ(p->ifaces[1], "eth1", "interface 1");
	ASSERT_EQ(p->iface_at[1].line, 5, "interface line");
	ASSERT_EQ(p->n_cgroups, 1, "cgroups");
	ASSERT_TRUE(p->deny_default[POLICY_DIR_INGRESS] && !p->deny_default[POLICY_DIR_EGRESS],
		    "per-direction default, egress omitted = allow");
	ASSERT_EQ(p->n_rules, 2, "rules");
	r = &p->rules[0];
	ASSERT_STREQ(r->name, "https", "rule name");
	ASSERT_TRUE(r->direction == POLICY_DIR_INGRESS && !r->deny && r->proto == POLICY_PROTO_TCP, "rule 0");
	ASSERT_EQ(r->n_ports, 2, "ports");
	ASSERT_TRUE(r->ports[1].lo == 8000 && r->ports[1].hi == 8080, "range");
	ASSERT_EQ(r->n_peers, 2, "peers");
	ASSERT_EQ(r->peers[1].family, AF_INET6, "v6 peer");
	ASSERT_EQ(r->at.line, 9, "rule line");
	ASSERT_STREQ(r->at.key, "policies[0].rules[0]", "rule key");
	policy_rule_text(r, text, sizeof(text));
	ASSERT_STREQ(text, "allow ingress tcp port 443,8000-8080 from 10.0.0.0/8,2001:db8::/32 (https)", "text");
	policy_rule_text(&p->rules[1], text, sizeof(text));
	ASSERT_STREQ(text, "deny egress udp port 53 to any", "text 2");
	p = &doc.policies[1];
	ASSERT_TRUE(p->host && p->deny_default[0] && p->deny_default[1], "host, default deny both ways");
	policy_doc_free(&doc);
out:
	diags_free(&d);
}

TEST(policy_file_errors_name_the_place)
{
	struct policy_doc doc;
	struct diags d = {};
	static const char bad[] =
		"policies:\n"
		"  - name: web\n"
		"    mode: blok\n"
		"    selector: {interfaces: [eth0]}\n"
		"    default: deny\n"
		"    rules:\n"
		"      - direction: ingress\n"
		"        action: allow\n"
		"        peerz: [10.0.0.0/8]\n"
		"      - direction: ingress\n"
		"        action: allow\n"
		"        peers: [10.0.0.300/8, 10.1.2.3/8]\n"
		"        ports: [9000-80, 0, 70000, http]\n"
		"      - direction: sideways\n"
		"        action: allow\n"
		"        protocol: icmp\n"
		"        ports: [1]\n"
		"      - action: allow\n"
		"  - name: web\n"
		"    mode: observe\n"
		"    selector: {interfaces: [\"a b\"]}\n"
		"    default: maybe\n";

	ASSERT_EQ(parse(bad, &doc, &d), -EINVAL, "refused");
	expect_diag(&d, "policies[0].mode", 3, 11, "unknown value 'blok'; expected one of observe, block");
	expect_diag(&d, "policies[0].rules[0].peerz", 9, 9, "did you mean 'peers'?");
	expect_diag(&d, "policies[0].rules[1].peers[0]", 12, 17, "invalid CIDR");
	expect_diag(&d, "policies[0].rules[1].peers[1]", 12, 31, "host bits set: did you mean 10.0.0.0/8?");
	expect_diag(&d, "policies[0].rules[1].ports[0]", 13, 17, "port range '9000-80' is reversed: did you mean 80-9000?");
	expect_diag(&d, "policies[0].rules[1].ports[1]", 13, 26, "is not a port");
	expect_diag(&d, "policies[0].rules[1].ports[2]", 13, 29, "is not a port");
	expect_diag(&d, "policies[0].rules[1].ports[3]", 13, 36, "is not a port");
	expect_diag(&d, "policies[0].rules[2].direction", 14, 20, "unknown value 'sideways'");
	expect_diag(&d, "policies[0].rules[2].ports", 17, 16, "icmp has no ports");
	expect_diag(&d, "policies[0].rules[3]", 18, 9, "'direction' is required");
	expect_diag(&d, "policies[1]", 19, 5, "policy name 'web' is used twice (first at line 2)");
	expect_diag(&d, "policies[1].selector.interfaces[0]", 21, 29, "contains '/', ':' or whitespace");
	expect_diag(&d, "policies[1].default", 22, 14, "unknown value 'maybe'");
	ASSERT_EQ(doc.n, 0, "nothing half-parsed");
	diags_free(&d);

	d = (struct diags){};
	ASSERT_EQ(parse("policies:\n  - name: [x\n", &doc, &d), -EINVAL, "syntax");
	ASSERT_TRUE(d.n == 1 && d.v[0].line == 3 && strstr(d.v[0].msg, "YAML syntax error"), "syntax error");
	diags_free(&d);
	d = (struct diags){};
	ASSERT_EQ(parse("", &doc, &d), -EINVAL, "empty file");
	ASSERT_TRUE(d.n == 1 && strstr(d.v[0].msg, "policies: []"), "empty file says what to write");
	diags_free(&d);
	d = (struct diags){};
	ASSERT_OK(parse("policies: []\n", &doc, &d), "no policies is a valid file");
	policy_doc_free(&doc);
	diags_free(&d);
	d = (struct diags){};
	ASSERT_EQ(parse("policies: []\n---\npolicies: []\n", &doc, &d), -EINVAL, "two documents");
	expect_diag(&d, NULL, 3, 1, "only one YAML document");
	diags_free(&d);
}

/* ---- the compiler against the file read rule by rule ---------------------------------------- */

static const struct policy_limits big = {
	.rules = 1 << 20, .cells = 1 << 26, .rulesets = 1024, .policies = 512,
	.prefixes = { 1 << 20, 1 << 20 },
};

/* Class of addr: the longest prefix of the family containing it (index + 1), 0: none. */
static uint32_t class_of(const struct policy_image *img, int family, const uint8_t *addr)
{
	int f = family == AF_INET6;
	struct cidr host = { .family = family, .prefixlen = f ? 128 : 32 };
	uint32_t best = 0;
	int best_len = -1;

	memcpy(host.addr, addr, f ? 16 : 4);
	for (size_t i = 0; i < img->n_prefixes[f]; i++)
		if (cidr_contains(&img->prefixes[f][i], &host) && img->prefixes[f][i].prefixlen > best_len) {
			best_len = img->prefixes[f][i].prefixlen;
			best = (uint32_t)i + 1;
		}
	return best;
}

static uint32_t rnd(uint32_t n)
{
	return (uint32_t)random() % n;
}

/* Addresses from a small space, so that prefixes overlap and nest. */
static void rnd_addr(int family, uint8_t *a)
{
	memset(a, 0, 16);
	if (family == AF_INET) {
		a[0] = 10;
		a[1] = (uint8_t)rnd(4);
		a[2] = (uint8_t)rnd(4);
		a[3] = (uint8_t)rnd(8);
	} else {
		a[0] = 0x20;
		a[1] = 0x01;
		a[2] = 0x0d;
		a[3] = 0xb8;
		a[7] = (uint8_t)rnd(4);
		a[15] = (uint8_t)rnd(8);
	}
}

static uint16_t rnd_port(void)
{
	static const uint16_t interesting[] = { 0, 1, 22, 53, 80, 255, 256, 443, 511, 512, 8080, 65535 };

	return rnd(3) ? interesting[rnd(ARRAY_SIZE(interesting))] : (uint16_t)rnd(65536);
}

static void rnd_rule(struct policy_rule *r)
{
	static const enum policy_proto protos[] = { POLICY_PROTO_ANY, POLICY_PROTO_TCP, POLICY_PROTO_UDP,
						    POLICY_PROTO_ICMP, POLICY_PROTO_ICMPV6 };

	memset(r, 0, sizeof(*r));
	r->direction = (int)rnd(2);
	r->deny = rnd(2);
	r->proto = protos[rnd(ARRAY_SIZE(protos))];
	r->n_peers = rnd(3);
	r->peers = calloc(r->n_peers + 1, sizeof(*r->peers));
	for (size_t i = 0; i < r->n_peers; i++) {
		struct cidr *c = &r->peers[i];
		int v6 = rnd(3) == 0;
		char text[CIDR_STRLEN], why[64];
		uint8_t a[16];
		bool hb;

		rnd_addr(v6 ? AF_INET6 : AF_INET, a);
		inet_ntop(v6 ? AF_INET6 : AF_INET, a, text, sizeof(text));
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "/%u",
			 v6 ? 48 + rnd(81) : 8 + rnd(25));
		cidr_parse(text, c, &hb, why, sizeof(why));
	}
	if (r->proto != POLICY_PROTO_ICMP && r->proto != POLICY_PROTO_ICMPV6 && rnd(3)) {
		r->n_ports = 1 + rnd(3);
		r->ports = calloc(r->n_ports, sizeof(*r->ports));
		for (size_t i = 0; i < r->n_ports; i++) {
			uint16_t a = rnd_port() | 1, b = rnd(2) ? a : rnd_port() | 1;

			r->ports[i].lo = a < b ? a : b;
			r->ports[i].hi = a < b ? b : a;
		}
	}
}

static void rnd_doc(struct policy_doc *doc, size_t n_pol, size_t n_rules, bool (*applies)[2])
{
	memset(doc, 0, sizeof(*doc));
	doc->source = strdup("rnd.yaml");
	doc->n = n_pol;
	doc->policies = calloc(n_pol, sizeof(*doc->policies));
	for (size_t i = 0; i < n_pol; i++) {
		struct policy_def *p = &doc->policies[i];
		char name[16];

		snprintf(name, sizeof(name), "p%zu", i);
		p->name = strdup(name);
		p->deny_default[0] = rnd(2);
		p->deny_default[1] = rnd(2);
		p->n_rules = n_rules;
		p->rules = calloc(n_rules, sizeof(*p->rules));
		for (size_t j = 0; j < n_rules; j++)
			rnd_rule(&p->rules[j]);
		applies[i][0] = applies[i][1] = true;
	}
}

static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6, 47 };

/* Probes n random packets per ruleset; every verdict must be the reference's. */
static bool agree(const struct policy_image *img, const struct policy_doc *doc, const uint32_t *ids[2], int n)
{
	for (uint32_t rs = 0; rs < img->n_rs; rs++) {
		for (int i = 0; i < n; i++) {
			int family = rnd(2) ? AF_INET : AF_INET6;
			uint8_t addr[16], proto = protos[rnd(ARRAY_SIZE(protos))];
			uint16_t port = rnd_port();
			uint32_t klass, want, got;

			rnd_addr(family, addr);
			klass = class_of(img, family, addr);
			if (klass && ids[family == AF_INET6])
				klass = ids[family == AF_INET6][klass - 1];
			want = policy_image_reference(img, doc, rs, family, addr, proto, port);
			got = policy_cells_decide(img->cells, img->n_cells, &img->rs[rs].rec, family, klass, proto, port);
			if ((got & POLICY_CELL_VALUE) != want ||
			    !!(got & POLICY_CELL_FLAG) != img->rules[want].deny) {
				char a[64];

				inet_ntop(family, addr, a, sizeof(a));
				test_fail_at(__FILE__, __LINE__, "ruleset %u, %s proto %u port %u: cells say rule %u, "
					     "the file says %u", rs, a, proto, port, got & POLICY_CELL_VALUE, want);
				return false;
			}
		}
	}
	return true;
}

TEST(policy_compile_agrees_with_the_file)
{
	srandom(1234);
	for (int round = 0; round < 60; round++) {
		bool applies[4][2];
		struct policy_doc doc;
		struct policy_image img;
		struct diags d = {};
		uint32_t max_id[2], *ids[2] = {};
		const uint32_t *cids[2];

		rnd_doc(&doc, 1 + rnd(3), 1 + rnd(round < 30 ? 6 : 40), applies);
		if (!ASSERT_OK(policy_compile(&doc, applies, &big, &img, &d), "compile")) {
			diags_print(&d, stderr);
			policy_doc_free(&doc);
			diags_free(&d);
			return;
		}
		/* As the kernel's prefix table might number them: shuffled, with holes. */
		for (int f = 0; f < 2; f++) {
			size_t n = img.n_prefixes[f];

			ids[f] = calloc(n + 1, sizeof(uint32_t));
			for (size_t i = 0; i < n; i++)
				ids[f][i] = (uint32_t)(2 * i + 3);
			for (size_t i = n; i > 1; i--) {
				size_t j = rnd((uint32_t)i);
				uint32_t t = ids[f][i - 1];

				ids[f][i - 1] = ids[f][j];
				ids[f][j] = t;
			}
			max_id[f] = (uint32_t)(2 * n + 4);
			cids[f] = ids[f];
		}
		if (ASSERT_OK(policy_image_layout(&img, cids, max_id, &big, &d), "layout"))
			agree(&img, &doc, cids, 400);
		free(ids[0]);
		free(ids[1]);
		policy_image_free(&img);
		policy_doc_free(&doc);
		diags_free(&d);
	}
}

/* Ten thousand rules, one per /32, all on port 443: no port table, a row of one cell per class. */
TEST(policy_compile_shares_identical_tables)
{
	struct policy_doc doc = { .source = strdup("big.yaml"), .n = 1 };
	struct policy_image img;
	struct diags d = {};
	bool applies[1][2] = { { true, false } };
	const uint32_t *ids[2] = {};
	uint32_t max_id[2];

	doc.policies = calloc(1, sizeof(*doc.policies));
	doc.policies[0].name = strdup("big");
	doc.policies[0].deny_default[0] = true;
	doc.policies[0].n_rules = 10000;
	doc.policies[0].rules = calloc(10000, sizeof(struct policy_rule));
	for (int i = 0; i < 10000; i++) {
		struct policy_rule *r = &doc.policies[0].rules[i];

		r->proto = POLICY_PROTO_TCP;
		r->n_ports = 1;
		r->ports = calloc(1, sizeof(*r->ports));
		r->ports[0].lo = r->ports[0].hi = 443;
		r->n_peers = 1;
		r->peers = calloc(1, sizeof(*r->peers));
		r->peers[0].family = AF_INET;
		r->peers[0].prefixlen = 32;
		r->peers[0].addr[0] = 10;
		r->peers[0].addr[1] = (uint8_t)(i >> 16);
		r->peers[0].addr[2] = (uint8_t)(i >> 8);
		r->peers[0].addr[3] = (uint8_t)i;
	}
	if (!ASSERT_OK(policy_compile(&doc, applies, &big, &img, &d), "compile"))
		goto out;
	max_id[0] = (uint32_t)img.n_prefixes[0];
	max_id[1] = (uint32_t)img.n_prefixes[1];
	if (!ASSERT_OK(policy_image_layout(&img, ids, max_id, &big, &d), "layout"))
		goto out;
	ASSERT_EQ(img.n_prefixes[0], 10000, "one class per /32");
	ASSERT_EQ(img.n_a_records, 10001, "one record per rule, one for no rule (also the one of the rules without peers: none)");
	ASSERT_EQ(img.n_port_tables, 0, "one rule on one port: its record's entry says it all, no table");
	/* A 7-cell record is padded so as not to cross a 16-cell group: 8 cells each on average. */
	ASSERT_TRUE(img.n_cells <= 10001 * 8 + 10001 + 16, "cells: records and one row");
	agree(&img, &doc, ids, 2000);
	policy_image_free(&img);
out:
	diags_print(&d, stderr);
	policy_doc_free(&doc);
	diags_free(&d);
}

TEST(policy_compile_refuses_over_capacity)
{
	struct policy_doc doc;
	struct policy_image img;
	struct diags d = {};
	bool applies[3][2];
	struct policy_limits lim = big;
	const uint32_t *ids[2] = {};
	uint32_t max_id[2];

	srandom(99);
	rnd_doc(&doc, 3, 10, applies);
	lim.rules = 15;
	ASSERT_EQ(policy_compile(&doc, applies, &lim, &img, &d), -E2BIG, "rules");
	ASSERT_TRUE(d.n == 1 && strstr(d.v[0].msg, "policy.capacity.rules 15"), "names the key and its value");
	diags_free(&d);
	d = (struct diags){};
	lim = big;
	lim.prefixes[0] = 1;
	ASSERT_EQ(policy_compile(&doc, applies, &lim, &img, &d), -E2BIG, "prefixes");
	ASSERT_TRUE(d.n == 1 && strstr(d.v[0].msg, "policy.capacity.prefixes_v4 is 1"), "names the key");
	diags_free(&d);
	d = (struct diags){};
	lim = big;
	lim.cells = 100;
	if (ASSERT_OK(policy_compile(&doc, applies, &lim, &img, &d), "compiles")) {
		max_id[0] = (uint32_t)img.n_prefixes[0];
		max_id[1] = (uint32_t)img.n_prefixes[1];
		ASSERT_EQ(policy_image_layout(&img, ids, max_id, &lim, &d), -E2BIG, "cells");
		ASSERT_TRUE(d.n == 1 && strstr(d.v[0].msg, "policy.capacity.cells is 100"), "names the key");
		policy_image_free(&img);
	}
	diags_free(&d);
	d = (struct diags){};
	applies[1][1] = false;
	ASSERT_EQ(policy_compile(&doc, applies, &big, &img, &d), -EINVAL, "egress rules without egress selection");
	ASSERT_TRUE(d.n > 0 && strstr(d.v[0].msg, "selects nothing for egress"), "says why");
	diags_free(&d);
	policy_doc_free(&doc);
}

#include "sha256.h"

/* The history's hashes are what `sha256sum FILE` prints: FIPS 180-4 vectors, and block edges. */
TEST(sha256_vectors)
{
	char hex[SHA256_HEX_LEN], buf[200];

	sha256_hex("", 0, hex);
	ASSERT_STREQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "empty");
	sha256_hex("abc", 3, hex);
	ASSERT_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "abc");
	sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	ASSERT_STREQ(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "56 bytes: two padding blocks");
	memset(buf, 'a', sizeof(buf));
	sha256_hex(buf, 64, hex);
	ASSERT_STREQ(hex, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb", "64 a");
	sha256_hex(buf, 200, hex);
	ASSERT_STREQ(hex, "c2a908d98f5df987ade41b5fce213067efbcc21ef2240212a41e54b5e7c28ae5", "200 a");
}

#include "policy_sel.h"

/* What only the host can tell, at the line that named it. */
TEST(policy_resolve_names_the_place)
{
	static const char text[] =
		"policies:\n"
		"  - {name: a, mode: block, default: deny, selector: {interfaces: [lo]}}\n"
		"  - {name: b, mode: block, default: deny, selector: {interfaces: [lo, nosuch0]}}\n"
		"  - {name: c, mode: block, default: deny, selector: {cgroups: [aegis-no-such-cgroup/x, /tmp]}}\n"
		"  - {name: d, mode: block, default: deny}\n";
	char *defaults[] = { "lo" };
	struct policy_doc doc;
	struct policy_selection sel;
	struct diags d = {};
	bool applies[4][2];

	if (!ASSERT_OK(parse(text, &doc, &d), "parse"))
		goto out;
	ASSERT_ERR(policy_resolve(&doc, NULL, 0, applies, &sel, &d), "refused");
	expect_diag(&d, "policies[1].selector.interfaces[0]", 3, 67, "already selected by policy 'a'");
	expect_diag(&d, "policies[1].selector.interfaces[1]", 3, 71, "interface 'nosuch0' does not exist");
	expect_diag(&d, "policies[2].selector.cgroups[0]", 4, 64, "No such file or directory");
	expect_diag(&d, "policies[2].selector.cgroups[1]", 4, 88, "is not below the cgroup v2 mount");
	expect_diag(&d, "policies[3]", 5, 5, "selects nothing");
	diags_free(&d);
	policy_doc_free(&doc);

	/* With the agent's interfaces, a policy that selects nothing takes them. */
	d = (struct diags){};
	if (!ASSERT_OK(parse("policies:\n  - {name: d, mode: block, default: deny}\n", &doc, &d), "parse"))
		goto out;
	if (ASSERT_OK(policy_resolve(&doc, defaults, 1, applies, &sel, &d), "resolve with --iface lo")) {
		ASSERT_TRUE(applies[0][POLICY_DIR_INGRESS] && !applies[0][POLICY_DIR_EGRESS], "ingress only");
		ASSERT_TRUE(sel.n_ifaces == 1 && sel.ifaces[0].ifindex == 1, "on lo");
		policy_selection_free(&sel);
	}
	policy_doc_free(&doc);
out:
	diags_free(&d);
}
