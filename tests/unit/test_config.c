// SPDX-License-Identifier: GPL-2.0-only
/*
 * Configuration parser: defaults, every key, and the exact file:line:column of each kind of
 * mistake, since `aegis config check` is only useful if it points at the right place.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "aegis/guard.h"
#include "config.h"
#include "test.h"
#include "util.h"

static int parse(const char *text, struct aegis_config *c, struct diags *d)
{
	return config_parse(text, strlen(text), "t.yaml", c, d);
}

static const struct diag *diag_for(const struct diags *d, const char *key)
{
	for (size_t i = 0; i < d->n; i++)
		if (streq(d->v[i].key, key))
			return &d->v[i];
	return NULL;
}

/* One diagnostic for `key` at line:col whose message contains `needle`. */
static bool expect_diag(const struct diags *d, const char *key, int line, int col,
			const char *needle)
{
	const struct diag *x = diag_for(d, key);
	bool ok;

	if (!ASSERT_TRUE(x != NULL, key)) {
		diags_print(d, stderr);
		return false;
	}
	ok = ASSERT_STREQ(x->file, "t.yaml", key);
	ok &= ASSERT_EQ(x->line, line, key);
	ok &= ASSERT_EQ(x->col, col, key);
	ok &= ASSERT_STRSTR(x->msg, needle, key);
	if (!ok)
		diags_print(d, stderr);
	return ok;
}

/* Parses text that must fail; the caller looks at `d` and frees it. */
static bool parse_bad(const char *text, struct diags *d)
{
	struct aegis_config c;
	int err = parse(text, &c, d);
	bool ok = ASSERT_EQ(err, -EINVAL, "config_parse") & ASSERT_TRUE(d->n > 0, "diags");

	/* A failed parse leaves nothing behind. */
	ok &= ASSERT_TRUE(c.source == NULL && c.socket_path == NULL && c.guard_ifaces == NULL,
			  "cfg zeroed");
	return ok;
}

static bool json_eq_except_source(json_t *a, json_t *b)
{
	json_object_del(a, "source");
	json_object_del(b, "source");
	return json_equal(a, b);
}

TEST(config_default_embedded)
{
	struct aegis_config c, empty;
	struct diags d = { 0 };
	json_t *ja = NULL, *jb = NULL;

	if (!ASSERT_OK(config_load(NULL, &c, &d), "load default")) {
		diags_print(&d, stderr);
		goto out;
	}
	ASSERT_EQ(d.n, 0, "no diags");
	ASSERT_STREQ(c.source, "<embedded>", "source");
	ASSERT_STREQ(c.socket_path, "/run/aegis/aegis.sock", "socket");
	ASSERT_TRUE(c.socket_group == NULL, "socket_group");
	ASSERT_TRUE(c.listen_tcp == NULL, "listen_tcp");
	ASSERT_TRUE(c.token_file == NULL, "token_file");
	ASSERT_STREQ(c.state_dir, "/var/lib/aegis", "state_dir");
	ASSERT_STREQ(c.audit_log, "/var/log/aegis/audit.jsonl", "audit_log");
	ASSERT_EQ(c.log_level, LOG_LVL_INFO, "log_level");
	ASSERT_EQ(c.on_exit, EXIT_KEEP, "on_exit");
	ASSERT_STREQ(c.pin_root, "/sys/fs/bpf/aegis", "pin_root");
	ASSERT_TRUE(c.object_dir == NULL, "object_dir");
	ASSERT_FALSE(c.bpf_stats, "stats");
	ASSERT_EQ(c.max_insns, 1000000, "max_insns");
	ASSERT_TRUE(c.guard_enabled, "enabled");
	if (ASSERT_EQ(c.n_guard_ifaces, 1, "n_ifaces"))
		ASSERT_STREQ(c.guard_ifaces[0], IFACE_DEFAULT_ROUTE, "iface");
	ASSERT_EQ(c.guard_mode, GUARD_MODE_OBSERVE, "mode");
	ASSERT_EQ(c.guard_xdp_mode, XDP_ATTACH_AUTO, "xdp_mode");
	ASSERT_EQ(c.n_guard_allow, 0, "allow");
	ASSERT_EQ(c.n_guard_block, 0, "block");

	/* The text users copy and the built-in defaults of an empty file must not drift apart. */
	if (!ASSERT_OK(parse("", &empty, &d), "parse empty"))
		goto out_c;
	ja = config_to_json(&c);
	jb = config_to_json(&empty);
	if (ASSERT_TRUE(ja && jb, "to_json"))
		ASSERT_TRUE(json_eq_except_source(ja, jb), "default.yaml == built-in defaults");
	json_decref(ja);
	json_decref(jb);
	config_free(&empty);
out_c:
	config_free(&c);
out:
	diags_free(&d);
}

TEST(config_default_text_is_embedded_file)
{
	_cleanup_free_ char *file = NULL;
	size_t len;

	/* The unit tests run from the repository root, like `make unit`. */
	if (read_file("src/default.yaml", &file, &len)) {
		test_skip("src/default.yaml not readable from the working directory");
		return;
	}
	ASSERT_STREQ(config_default_text(), file, "embedded text");
}

TEST(config_full_valid)
{
	const struct group *gr = getgrgid(0);
	char text[2048];
	struct aegis_config c;
	struct diags d = { 0 };
	char buf[CIDR_STRLEN];

	if (!gr) {
		test_skip("no group for gid 0");
		return;
	}
	snprintf(text, sizeof(text),
		 "# every key\n"
		 "agent:\n"
		 "  socket: /run/x/x.sock\n"
		 "  socket_group: %s\n"
		 "  admin_group: %s\n"
		 "  listen_tcp: \"[::1]:8443\"\n"
		 "  token_file: /etc/aegis/token\n"
		 "  state_dir: /var/lib/x\n"
		 "  audit_log: /var/log/x.jsonl\n"
		 "  log_level: debug\n"
		 "  on_exit: detach\n"
		 "bpf:\n"
		 "  pin_root: /sys/fs/bpf/x\n"
		 "  object_dir: /usr/lib/aegis\n"
		 "  stats: off\n"
		 "  max_insns: 4096\n"
		 "guard:\n"
		 "  enabled: Yes\n"
		 "  interfaces:\n"
		 "    - eth0\n"
		 "    - 'wlan0'\n"
		 "    - default-route\n"
		 "  mode: block\n"
		 "  xdp_mode: generic\n"
		 "  allow: [192.0.2.0/24, \"2001:db8::/32\", 10.1.2.3]\n"
		 "  block:\n"
		 "    - 198.51.100.0/24\n",
		 gr->gr_name, gr->gr_name);
	if (!ASSERT_OK(parse(text, &c, &d), "parse")) {
		diags_print(&d, stderr);
		goto out;
	}
	ASSERT_STREQ(c.source, "t.yaml", "source");
	ASSERT_STREQ(c.socket_path, "/run/x/x.sock", "socket");
	ASSERT_STREQ(c.socket_group, gr->gr_name, "socket_group");
	ASSERT_STREQ(c.admin_group, gr->gr_name, "admin_group");
	ASSERT_STREQ(c.listen_tcp, "[::1]:8443", "listen_tcp");
	ASSERT_STREQ(c.token_file, "/etc/aegis/token", "token_file");
	ASSERT_STREQ(c.state_dir, "/var/lib/x", "state_dir");
	ASSERT_STREQ(c.audit_log, "/var/log/x.jsonl", "audit_log");
	ASSERT_EQ(c.log_level, LOG_LVL_DEBUG, "log_level");
	ASSERT_EQ(c.on_exit, EXIT_DETACH, "on_exit");
	ASSERT_STREQ(c.pin_root, "/sys/fs/bpf/x", "pin_root");
	ASSERT_STREQ(c.object_dir, "/usr/lib/aegis", "object_dir");
	ASSERT_FALSE(c.bpf_stats, "stats");
	ASSERT_EQ(c.max_insns, 4096, "max_insns");
	ASSERT_TRUE(c.guard_enabled, "enabled");
	if (ASSERT_EQ(c.n_guard_ifaces, 3, "n_ifaces")) {
		ASSERT_STREQ(c.guard_ifaces[0], "eth0", "iface 0");
		ASSERT_STREQ(c.guard_ifaces[1], "wlan0", "iface 1");
		ASSERT_STREQ(c.guard_ifaces[2], "default-route", "iface 2");
	}
	ASSERT_EQ(c.guard_mode, GUARD_MODE_BLOCK, "mode");
	ASSERT_EQ(c.guard_xdp_mode, XDP_ATTACH_GENERIC, "xdp_mode");
	if (ASSERT_EQ(c.n_guard_allow, 3, "n_allow")) {
		cidr_format(&c.guard_allow[1].cidr, buf, sizeof(buf));
		ASSERT_STREQ(buf, "2001:db8::/32", "allow[1]");
		cidr_format(&c.guard_allow[2].cidr, buf, sizeof(buf));
		ASSERT_STREQ(buf, "10.1.2.3/32", "bare address is a /32");
		ASSERT_EQ(c.guard_allow[0].line, 25, "allow[0] line");
	}
	if (ASSERT_EQ(c.n_guard_block, 1, "n_block")) {
		cidr_format(&c.guard_block[0].cidr, buf, sizeof(buf));
		ASSERT_STREQ(buf, "198.51.100.0/24", "block[0]");
		ASSERT_EQ(c.guard_block[0].line, 27, "block[0] line");
	}
	config_free(&c);
	ASSERT_TRUE(c.source == NULL && c.guard_allow == NULL, "config_free zeroes");
out:
	diags_free(&d);
}

TEST(config_empty_is_defaults)
{
	static const char *const texts[] = { "", "# only a comment\n\n# another\n", "---\n",
					     "guard:\n" };

	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		struct aegis_config c;
		struct diags d = { 0 };

		if (ASSERT_OK(parse(texts[i], &c, &d), texts[i])) {
			ASSERT_STREQ(c.socket_path, "/run/aegis/aegis.sock", "socket");
			ASSERT_EQ(c.n_guard_ifaces, 1, "ifaces");
			ASSERT_EQ(c.guard_mode, GUARD_MODE_OBSERVE, "mode");
			ASSERT_EQ(c.max_insns, 1000000, "max_insns");
		}
		config_free(&c);
		diags_free(&d);
	}
}

TEST(config_syntax_error)
{
	struct diags d = { 0 };

	if (parse_bad("agent:\n socket: /a\n  x: 1\n", &d)) {
		/* After a syntax error there is no tree: that one problem only. */
		ASSERT_EQ(d.n, 1, "one diag");
		ASSERT_EQ(d.v[0].line, 3, "line");
		ASSERT_EQ(d.v[0].col, 4, "col");
		ASSERT_STRSTR(d.v[0].msg, "YAML syntax error: mapping values are not allowed", "msg");
	}
	diags_free(&d);

	if (parse_bad("guard:\n  allow: [10.0.0.0/8\nagent:\n  bogus: 1\n", &d)) {
		ASSERT_EQ(d.n, 1, "one diag");
		ASSERT_EQ(d.v[0].line, 3, "line");
		ASSERT_STRSTR(d.v[0].msg, "flow sequence at line 2, column 10", "context");
	}
	diags_free(&d);
}

TEST(config_bad_utf8)
{
	struct diags d = { 0 };

	if (parse_bad("agent:\n  socket: /a\xff\n", &d)) {
		ASSERT_EQ(d.n, 1, "one diag");
		ASSERT_EQ(d.v[0].line, 2, "line");
		ASSERT_EQ(d.v[0].col, 13, "col");
		ASSERT_STRSTR(d.v[0].msg, "UTF-8", "msg");
	}
	diags_free(&d);
}

TEST(config_unknown_keys)
{
	struct diags d = { 0 };

	if (parse_bad("foo: 1\n"
		      "guard:\n"
		      "  modee: block\n"
		      "agent:\n"
		      "  sockett: /x\n", &d)) {
		ASSERT_EQ(d.n, 3, "three diags");
		expect_diag(&d, "foo", 1, 1, "unknown section 'foo'; valid sections: agent, bpf, guard");
		expect_diag(&d, "guard.modee", 3, 3, "unknown key 'modee' in guard (did you mean 'mode'?)");
		expect_diag(&d, "guard.modee", 3, 3,
			    "valid keys: enabled, interfaces, mode, xdp_mode, allow, block");
		expect_diag(&d, "agent.sockett", 5, 3, "did you mean 'socket'?");
	}
	diags_free(&d);
}

TEST(config_wrong_types)
{
	struct diags d = { 0 };

	if (parse_bad("agent:\n"
		      "  socket: [a, b]\n"
		      "  state_dir: {a: b}\n"
		      "bpf:\n"
		      "  stats: \"true\"\n"
		      "  max_insns: '5'\n"
		      "guard:\n"
		      "  enabled: maybe\n"
		      "  interfaces: {eth0: 1}\n"
		      "  allow: 10.0.0.0/8\n"
		      "  block:\n"
		      "    - [a]\n", &d)) {
		ASSERT_EQ(d.n, 8, "eight diags");
		expect_diag(&d, "agent.socket", 2, 11, "expected a string, got a list");
		expect_diag(&d, "agent.state_dir", 3, 14, "expected a string, got a mapping");
		expect_diag(&d, "bpf.stats", 5, 10, "expected a boolean");
		expect_diag(&d, "bpf.max_insns", 6, 14, "expected an integer 1..1000000");
		expect_diag(&d, "guard.enabled", 8, 12, "expected a boolean");
		expect_diag(&d, "guard.interfaces", 9, 15, "expected a list of strings, got a mapping");
		expect_diag(&d, "guard.allow", 10, 10, "expected a list of strings");
		expect_diag(&d, "guard.block[0]", 12, 7, "expected a list of strings");
	}
	diags_free(&d);

	if (parse_bad("agent: 5\nbpf: [1]\n", &d)) {
		expect_diag(&d, "agent", 1, 8, "expected a mapping");
		expect_diag(&d, "bpf", 2, 6, "expected a mapping, got a list");
	}
	diags_free(&d);

	if (parse_bad("- agent\n", &d))
		ASSERT_STRSTR(d.v[0].msg, "top level must be a mapping", "top level");
	diags_free(&d);
}

TEST(config_booleans)
{
	static const struct {
		const char *word;
		bool val;
	} words[] = {
		{ "true", true }, { "True", true }, { "YES", true }, { "on", true },
		{ "false", false }, { "No", false }, { "OFF", false },
	};
	char text[64];

	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		struct aegis_config c;
		struct diags d = { 0 };

		snprintf(text, sizeof(text), "bpf:\n  stats: %s\n", words[i].word);
		if (ASSERT_OK(parse(text, &c, &d), words[i].word))
			ASSERT_EQ(c.bpf_stats, words[i].val, words[i].word);
		config_free(&c);
		diags_free(&d);
	}
}

TEST(config_bad_enums)
{
	struct diags d = { 0 };

	if (parse_bad("agent:\n"
		      "  log_level: loud\n"
		      "  on_exit: stay\n"
		      "guard:\n"
		      "  mode: blok\n"
		      "  xdp_mode: offload\n", &d)) {
		ASSERT_EQ(d.n, 4, "four diags");
		expect_diag(&d, "agent.log_level", 2, 14, "'loud'; expected one of error, warn, info, debug");
		expect_diag(&d, "agent.on_exit", 3, 12, "'stay'; expected one of keep, detach");
		expect_diag(&d, "guard.mode", 5, 9, "'blok'; expected one of observe, block");
		expect_diag(&d, "guard.xdp_mode", 6, 13, "'offload'; expected one of auto, native, generic");
	}
	diags_free(&d);
}

TEST(config_bad_integers)
{
	static const char *const bad[] = { "0", "1000001", "12abc", "-1", "0x10", "99999999999999999999" };
	char text[128];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct diags d = { 0 };

		snprintf(text, sizeof(text), "bpf:\n  max_insns: %s\n", bad[i]);
		if (parse_bad(text, &d))
			expect_diag(&d, "bpf.max_insns", 2, 14, "1..1000000");
		diags_free(&d);
	}
}

TEST(config_bad_cidrs)
{
	struct diags d = { 0 };

	if (parse_bad("guard:\n"
		      "  allow:\n"
		      "    - 300.1.1.1/8\n"
		      "    - ::/129\n"
		      "  block: [10.0.0.0/33, hello]\n", &d)) {
		ASSERT_EQ(d.n, 4, "four diags");
		expect_diag(&d, "guard.allow[0]", 3, 7, "invalid CIDR: '300.1.1.1' is not an IPv4 or IPv6");
		expect_diag(&d, "guard.allow[1]", 4, 7, "invalid CIDR: prefix length '129' must be 0..128");
		expect_diag(&d, "guard.block[0]", 5, 11, "prefix length '33' must be 0..32");
		expect_diag(&d, "guard.block[1]", 5, 24, "'hello' is not an IPv4 or IPv6 address");
	}
	diags_free(&d);
}

TEST(config_cidr_host_bits)
{
	struct diags d = { 0 };

	if (parse_bad("guard:\n"
		      "  block:\n"
		      "    - 10.0.0.0/8\n"
		      "    - 10.1.2.3/8\n"
		      "    - \"2001:db8::1/64\"\n", &d)) {
		ASSERT_EQ(d.n, 2, "two diags");
		expect_diag(&d, "guard.block[1]", 4, 7, "host bits set: did you mean 10.0.0.0/8?");
		expect_diag(&d, "guard.block[2]", 5, 7, "host bits set: did you mean 2001:db8::/64?");
	}
	diags_free(&d);
}

TEST(config_listen_tcp)
{
	static const char *const bad[] = {
		"0.0.0.0:80", "192.0.2.1:80", "[2001:db8::1]:80", "127.0.0.1", "127.0.0.1:0",
		"127.0.0.1:65536", "::1:80", "localhost:80", "[::1]80", "127.0.0.1:http",
	};
	static const char *const good[] = { "127.0.0.1:8080", "[::1]:1", "127.0.0.2:65535" };
	char text[256];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct diags d = { 0 };

		snprintf(text, sizeof(text), "agent:\n  token_file: /t\n  listen_tcp: \"%s\"\n", bad[i]);
		if (parse_bad(text, &d)) {
			ASSERT_EQ(d.n, 1, bad[i]);
			expect_diag(&d, "agent.listen_tcp", 3, 15, "expected 127.0.0.1:PORT or [::1]:PORT");
		}
		diags_free(&d);
	}
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct aegis_config c;
		struct diags d = { 0 };

		snprintf(text, sizeof(text), "agent:\n  token_file: /t\n  listen_tcp: \"%s\"\n", good[i]);
		if (ASSERT_OK(parse(text, &c, &d), good[i]))
			ASSERT_STREQ(c.listen_tcp, good[i], "listen_tcp");
		config_free(&c);
		diags_free(&d);
	}
}

TEST(config_listen_tcp_needs_token)
{
	struct diags d = { 0 };

	if (parse_bad("agent:\n  listen_tcp: 127.0.0.1:9000\n  token_file: \"\"\n", &d)) {
		ASSERT_EQ(d.n, 1, "one diag");
		expect_diag(&d, "agent.listen_tcp", 2, 15, "needs agent.token_file");
	}
	diags_free(&d);
}

TEST(config_duplicate_key)
{
	struct diags d = { 0 };

	if (parse_bad("guard:\n  mode: block\n  enabled: true\n  mode: observe\nguard: {}\n", &d)) {
		ASSERT_EQ(d.n, 2, "two diags");
		expect_diag(&d, "guard.mode", 4, 3, "duplicate key (first given at line 2, column 3)");
		expect_diag(&d, "guard", 5, 1, "duplicate key (first given at line 1, column 1)");
	}
	diags_free(&d);
}

TEST(config_relative_paths)
{
	struct diags d = { 0 };

	if (parse_bad("agent:\n"
		      "  socket: aegis.sock\n"
		      "  token_file: ./token\n"
		      "  state_dir: var/lib\n"
		      "  audit_log: ''\n"
		      "bpf:\n"
		      "  pin_root: /\n"
		      "  object_dir: objs\n", &d)) {
		ASSERT_EQ(d.n, 6, "six diags");
		expect_diag(&d, "agent.socket", 2, 11, "must be an absolute path, got 'aegis.sock'");
		expect_diag(&d, "agent.token_file", 3, 15, "must be an absolute path");
		expect_diag(&d, "agent.state_dir", 4, 14, "must be an absolute path");
		expect_diag(&d, "agent.audit_log", 5, 14, "must be an absolute path, got ''");
		expect_diag(&d, "bpf.pin_root", 7, 13, "must be a directory below /");
		expect_diag(&d, "bpf.object_dir", 8, 15, "must be an absolute path");
	}
	diags_free(&d);
}

TEST(config_control_characters)
{
	struct diags d = { 0 };

	/* A literal block scalar keeps its newline: "/run/a.sock\n" is not a path anyone meant. */
	if (parse_bad("agent:\n  socket: |\n    /run/a.sock\n  state_dir: \"/a\\0b\"\n", &d)) {
		expect_diag(&d, "agent.socket", 2, 11, "control character");
		expect_diag(&d, "agent.state_dir", 4, 14, "NUL");
	}
	diags_free(&d);
}

TEST(config_socket_group)
{
	struct diags d = { 0 };

	if (parse_bad("agent:\n  socket_group: no-such-group-aegis-test\n", &d))
		expect_diag(&d, "agent.socket_group", 2, 17,
			    "group 'no-such-group-aegis-test' does not exist");
	diags_free(&d);
}

TEST(config_interfaces)
{
	struct aegis_config c;
	struct diags d = { 0 };

	if (parse_bad("guard:\n"
		      "  interfaces: [eth0, a-name-longer-than-15, \"eth 1\", eth0, ../x]\n", &d)) {
		ASSERT_EQ(d.n, 4, "four diags");
		expect_diag(&d, "guard.interfaces[1]", 2, 22, "longer than 15");
		expect_diag(&d, "guard.interfaces[2]", 2, 45, "whitespace");
		expect_diag(&d, "guard.interfaces[3]", 2, 54, "'eth0' is listed twice");
		expect_diag(&d, "guard.interfaces[4]", 2, 60, "contains '/'");
	}
	diags_free(&d);

	if (parse_bad("guard:\n  interfaces: []\n", &d))
		expect_diag(&d, "guard.interfaces", 2, 15, "must not be empty while guard.enabled");
	diags_free(&d);

	/* With the guard off, no interface is fine. */
	if (ASSERT_OK(parse("guard:\n  enabled: false\n  interfaces: []\n", &c, &d), "disabled"))
		ASSERT_EQ(c.n_guard_ifaces, 0, "no ifaces");
	config_free(&c);
	diags_free(&d);
}

TEST(config_many_errors_all_reported)
{
	struct diags d = { 0 };

	if (parse_bad("agent:\n"
		      "  socket: relative\n"		/* 1 */
		      "  log_level: chatty\n"		/* 2 */
		      "  listen_tcp: 10.0.0.1:80\n"	/* 3 */
		      "bpf:\n"
		      "  max_insns: 2000000\n"		/* 4 */
		      "  colour: blue\n"		/* 5 */
		      "guard:\n"
		      "  mode: drop\n"			/* 6 */
		      "  allow: [1.2.3.4/40, 5.6.7.8/24]\n"	/* 7, 8 */
		      "  enabled: sure\n"		/* 9 */
		      "extra: {}\n", &d)) {		/* 10 */
		ASSERT_EQ(d.n, 10, "ten diags");
		/* In file order, so the output reads top to bottom. */
		for (size_t i = 1; i < d.n; i++)
			ASSERT_GE(d.v[i].line, d.v[i - 1].line, "file order");
	}
	diags_free(&d);
}

TEST(config_second_document)
{
	struct diags d = { 0 };

	if (parse_bad("guard:\n  mode: block\n---\nguard:\n  mode: observe\n", &d)) {
		ASSERT_EQ(d.n, 1, "one diag");
		ASSERT_EQ(d.v[0].line, 4, "line");
		ASSERT_STRSTR(d.v[0].msg, "only one YAML document", "msg");
	}
	diags_free(&d);
}

TEST(config_load_missing_file)
{
	struct aegis_config c;
	struct diags d = { 0 };
	char path[256];

	snprintf(path, sizeof(path), "%s/nope.yaml", test_tmpdir());
	ASSERT_EQ(config_load(path, &c, &d), -ENOENT, "config_load");
	if (ASSERT_EQ(d.n, 1, "one diag")) {
		ASSERT_STREQ(d.v[0].file, path, "file");
		ASSERT_EQ(d.v[0].line, 0, "line");
		ASSERT_STRSTR(d.v[0].msg, "cannot read: No such file or directory", "msg");
	}
	ASSERT_TRUE(c.source == NULL, "cfg zeroed");
	diags_free(&d);
}

TEST(config_to_json_shape)
{
	struct aegis_config c;
	struct diags d = { 0 };
	json_t *j;

	if (!ASSERT_OK(parse("agent:\n  log_level: warn\nguard:\n  block: [192.0.2.0/24]\n", &c, &d),
		       "parse"))
		goto out;
	j = config_to_json(&c);
	if (ASSERT_TRUE(j != NULL, "to_json")) {
		ASSERT_STREQ(json_string_value(json_object_get(j, "source")), "t.yaml", "source");
		ASSERT_STREQ(json_string_value(json_object_get(json_object_get(j, "agent"), "log_level")),
			     "warn", "log_level");
		ASSERT_TRUE(json_is_null(json_object_get(json_object_get(j, "agent"), "token_file")),
			    "null token_file");
		ASSERT_EQ(json_integer_value(json_object_get(json_object_get(j, "bpf"), "max_insns")),
			  1000000, "max_insns");
		ASSERT_STREQ(json_string_value(json_array_get(
				     json_object_get(json_object_get(j, "guard"), "block"), 0)),
			     "192.0.2.0/24", "block[0]");
		ASSERT_STREQ(json_string_value(json_object_get(json_object_get(j, "guard"), "mode")),
			     "observe", "mode");
	}
	json_decref(j);
	config_free(&c);
out:
	diags_free(&d);
}

TEST(config_mode_names)
{
	enum guard_mode m;

	ASSERT_OK(guard_mode_parse("block", &m), "parse block");
	ASSERT_EQ(m, GUARD_MODE_BLOCK, "block");
	ASSERT_STREQ(guard_mode_name(GUARD_MODE_OBSERVE), "observe", "observe");
	ASSERT_EQ(guard_mode_parse("Block", &m), -EINVAL, "case matters");
	ASSERT_STREQ(xdp_attach_mode_name(XDP_ATTACH_NATIVE), "native", "native");
}

/* Runs `aegis config ARGS` in a child with stdout/stderr in files; returns the exit code. */
static int run_cmd(char **argv, int argc, char *out, size_t outlen)
{
	char path[256];
	int status, fd;
	ssize_t n;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/out", test_tmpdir());
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		status = cmd_config(argc, argv);
		/* _exit() skips stdio's flush, and stdout is a fully buffered file here. */
		fflush(NULL);
		_exit(status);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	fd = open(path, O_RDONLY);
	n = fd < 0 ? -1 : read(fd, out, outlen - 1);
	out[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	return WEXITSTATUS(status);
}

static bool write_text(const char *path, const char *text)
{
	return write_file_atomic(path, text, strlen(text), 0600) == 0;
}

TEST(config_cmd)
{
	static char out[65536];	/* the whole default configuration fits */
	char good[256], bad[256];
	char *a_default[] = { "config", "default" };
	char *a_check[] = { "config", "check", good, bad };
	char *a_check_good[] = { "config", "check", good };
	char *a_check_json[] = { "config", "check", "--json", bad };
	char *a_check_none[] = { "config", "check" };
	char *a_show[] = { "config", "show", good };
	char *a_bogus[] = { "config", "frobnicate" };

	snprintf(good, sizeof(good), "%s/good.yaml", test_tmpdir());
	snprintf(bad, sizeof(bad), "%s/bad.yaml", test_tmpdir());
	if (!ASSERT_TRUE(write_text(good, "guard:\n  mode: block\n") &&
			 write_text(bad, "guard:\n  mode: blok\n"), "write fixtures"))
		return;

	ASSERT_EQ(run_cmd(a_default, 2, out, sizeof(out)), 0, "default");
	ASSERT_STREQ(out, config_default_text(), "default verbatim");

	ASSERT_EQ(run_cmd(a_check_good, 3, out, sizeof(out)), 0, "check good");
	ASSERT_STRSTR(out, "good.yaml: OK", "OK line");

	ASSERT_EQ(run_cmd(a_check, 4, out, sizeof(out)), 1, "check good+bad");
	ASSERT_STRSTR(out, "bad.yaml:2:9: guard.mode: unknown value 'blok'", "diag line");

	ASSERT_EQ(run_cmd(a_check_json, 4, out, sizeof(out)), 1, "check --json");
	ASSERT_STRSTR(out, "\"ok\": false", "json ok");
	ASSERT_STRSTR(out, "\"key\": \"guard.mode\"", "json key");

	ASSERT_EQ(run_cmd(a_check_none, 2, out, sizeof(out)), EXIT_USAGE, "check without FILE");

	ASSERT_EQ(run_cmd(a_show, 3, out, sizeof(out)), 0, "show");
	ASSERT_STRSTR(out, "\"mode\": \"block\"", "show mode");

	ASSERT_EQ(run_cmd(a_bogus, 2, out, sizeof(out)), EXIT_USAGE, "unknown subcommand");
	ASSERT_STRSTR(out, "'frobnicate'", "names it");
	ASSERT_STRSTR(out, "default, check, show", "lists valid ones");
}

TEST(config_guard_policies)
{
	struct aegis_config c = { 0 };
	struct diags d = { 0 };
	const char *ok = "guard:\n  malformed: pass\n  later_fragments: drop\n"
			 "  rate_limit:\n    prefix_v6: 56\n    udp: {pps: 10000, burst_packets: 20000}\n"
			 "    auto_block: {after: 30s, ttl: 1h}\n  sampling: {every: 10, max_per_sec: 50}\n";

	if (ASSERT_OK(parse(ok, &c, &d), "parse")) {
		ASSERT_EQ(c.guard_malformed_action, GUARD_ACTION_PASS, "malformed");
		ASSERT_EQ(c.guard_later_fragment_action, GUARD_ACTION_DROP, "later_fragments");
		ASSERT_EQ(c.rl_prefix_v6, 56, "prefix_v6");
		ASSERT_EQ(c.rl_prefix_v4, 32, "prefix_v4 default");
		ASSERT_EQ(c.rl[GUARD_RL_UDP].pps, 10000, "udp pps");
		ASSERT_EQ(c.rl[GUARD_RL_UDP].burst_packets, 20000, "udp burst");
		ASSERT_EQ(c.rl[GUARD_RL_ALL].pps, 0, "all pps default");
		ASSERT_EQ(c.rl_auto_block_after_ns, 30 * NSEC_PER_SEC, "after");
		ASSERT_EQ(c.rl_auto_block_ttl_ns, 3600 * NSEC_PER_SEC, "ttl");
		ASSERT_EQ(c.sample_every, 10, "sample_every");
	}
	config_free(&c);
	diags_free(&d);
	if (parse_bad("guard:\n  rate_limit:\n    auto_block:\n      after: soon\n", &d))
		expect_diag(&d, "guard.rate_limit.auto_block.after", 4, 14, "expected a duration");
	diags_free(&d);
	if (parse_bad("guard:\n  rate_limit:\n    prefix_v4: 33\n", &d))
		expect_diag(&d, "guard.rate_limit.prefix_v4", 3, 16, "out of range");
	diags_free(&d);
	if (parse_bad("guard:\n  malformed: ignore\n", &d))
		expect_diag(&d, "guard.malformed", 2, 14, "drop");
	diags_free(&d);
	if (parse_bad("guard:\n  rate_limit:\n    udp: {ppps: 5}\n", &d))
		expect_diag(&d, "guard.rate_limit.udp.ppps", 3, 11, "pps");
	diags_free(&d);
}
