// SPDX-License-Identifier: GPL-2.0-only
/*
 * aegis policy: check (here, no agent needed), diff, apply, rollback, history, stats, mode and
 * show (clients of the agent's API). The CLI reads the file and sends its text with the name it
 * was given, so that the agent's errors point at the user's file:line:column.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "policy_file.h"
#include "util.h"

static const char policy_usage[] =
	"usage: aegis policy [show] [--json] | check FILE... [--json] | diff FILE [--json] |\n"
	"       apply FILE [--dry-run] [--json] | rollback [--json] | history [-n N] [--json] |\n"
	"       stats [--json] | mode NAME observe|block\n";

static int usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "aegis policy: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", policy_usage);
	return EXIT_USAGE;
}

struct opts {
	bool json, dry_run;
	long n;
	const char *args[4];
	int nargs;
};

/* Options of every subcommand; positional arguments go to o->args (at most max). */
static int parse(int argc, char **argv, struct opts *o, int max, bool dry_run_ok, bool n_ok)
{
	static const struct option long_opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ "lines", required_argument, NULL, 'n' },
		{},
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->n = 50;
	optind = 1;
	while ((c = getopt_long(argc, argv, n_ok ? "n:" : "", long_opts, NULL)) != -1) {
		uint64_t v;

		switch (c) {
		case 'j':
			o->json = true;
			break;
		case 'd':
			if (!dry_run_ok)
				return usage("--dry-run is for apply", "");
			o->dry_run = true;
			break;
		case 'n':
			if (!n_ok || parse_u64(optarg, &v) || !v || v > 100000)
				return usage("-n must be 1..100000, not '%s'", optarg);
			o->n = (long)v;
			break;
		default:
			return usage("unknown option of %s", argv[0]);
		}
	}
	for (; optind < argc; optind++) {
		if (o->nargs == max)
			return usage("unexpected argument '%s'", argv[optind]);
		o->args[o->nargs++] = argv[optind];
	}
	return 0;
}

/* ---- check ------------------------------------------------------------------------------- */

static int read_policy(const char *path, char **text, size_t *len, struct diags *d)
{
	int err = read_file(path, text, len);

	if (err)
		diags_add(d, path, 0, 0, NULL, "cannot read: %s", strerror(-err));
	return err;
}

static int policy_check(int argc, char **argv)
{
	json_t *report;
	bool all_ok = true, json = false;

	for (int i = 1; i < argc; i++) {
		if (streq(argv[i], "--json"))
			json = true;
		else if (argv[i][0] == '-')
			return usage("check: unknown option '%s'", argv[i]);
	}
	report = json_array();
	for (int i = 1; i < argc; i++) {
		_cleanup_free_ char *text = NULL;
		struct policy_doc doc;
		struct diags d = {};
		size_t len;
		bool ok;

		if (argv[i][0] == '-')
			continue;
		ok = read_policy(argv[i], &text, &len, &d) == 0 &&
		     policy_doc_parse(text, len, argv[i], &doc, &d) == 0;
		if (ok) {
			size_t rules = 0;

			for (size_t p = 0; p < doc.n; p++)
				rules += doc.policies[p].n_rules;
			if (!json)
				printf("%s: OK (%zu policies, %zu rules)\n", argv[i], doc.n, rules);
			policy_doc_free(&doc);
		} else if (!json) {
			diags_print(&d, stderr);
		}
		json_array_append_new(report, json_pack("{s:s, s:b, s:o}", "file", argv[i], "ok", ok,
							"errors", diags_to_json(&d)));
		diags_free(&d);
		all_ok &= ok;
	}
	if (!json_array_size(report)) {
		json_decref(report);
		return usage("check: no FILE given%s", "");
	}
	if (json)
		print_json(report);
	json_decref(report);
	return all_ok ? 0 : 1;
}

/* ---- agent calls ----------------------------------------------------------------------- */

/* The API's file problems, as `check` prints them. */
static void print_errors(json_t *r)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(r, "errors"), i, e) {
		const char *key = json_string_value(json_object_get(e, "key"));

		fprintf(stderr, "%s:%lld:%lld: %s%s%s\n", json_string_value(json_object_get(e, "file")),
			(long long)json_integer_value(json_object_get(e, "line")),
			(long long)json_integer_value(json_object_get(e, "column")), key ? key : "",
			key ? ": " : "", json_string_value(json_object_get(e, "message")));
	}
}

/* POSTs {"text", "path", ...} of a file; returns the exit code, the answer in *out either way. */
static int post_file(const char *api, const char *path, bool dry_run, json_t **out)
{
	_cleanup_free_ char *text = NULL;
	struct diags d = {};
	json_t *body, *t;
	size_t len;
	long status;

	*out = NULL;
	if (read_policy(path, &text, &len, &d)) {
		diags_print(&d, stderr);
		diags_free(&d);
		return 1;
	}
	t = json_stringn(text, len);
	if (!t) {
		/* Not UTF-8 (or a NUL inside): the parser says where, as check would. */
		struct policy_doc doc;

		if (policy_doc_parse(text, len, path, &doc, &d) == 0) {
			policy_doc_free(&doc);
			diags_add(&d, path, 0, 0, NULL, "contains a NUL byte or text that is not UTF-8");
		}
		diags_print(&d, stderr);
		diags_free(&d);
		return 1;
	}
	body = json_pack("{s:o, s:s, s:b}", "text", t, "path", path, "dry_run", dry_run);
	status = client_request("POST", api, body, out, NULL);
	json_decref(body);
	if (!status)
		return 1;
	if (status >= 200 && status < 300)
		return 0;
	print_errors(*out);
	fprintf(stderr, "aegis: %s (HTTP %ld)\n",
		json_string_value(json_object_get(*out, "error")) ?: "request failed", status);
	return 1;
}

static void print_rule_changes(json_t *rules)
{
	json_t *r;
	size_t i;

	json_array_foreach(rules, i, r)
		printf("    %s rule %lld: %s (line %lld)\n", json_string_value(json_object_get(r, "change")),
		       (long long)json_integer_value(json_object_get(r, "index")),
		       json_string_value(json_object_get(r, "text")),
		       (long long)json_integer_value(json_object_get(r, "line")));
}

static void print_from_to(json_t *c, const char *key)
{
	json_t *x = json_object_get(c, key);
	char *from, *to;

	if (!x)
		return;
	from = json_dumps(json_object_get(x, "from"), JSON_COMPACT | JSON_ENCODE_ANY);
	to = json_dumps(json_object_get(x, "to"), JSON_COMPACT | JSON_ENCODE_ANY);
	printf("    %s: %s -> %s\n", key, from ? from : "?", to ? to : "?");
	free(from);
	free(to);
}

static void print_diff(json_t *diff)
{
	json_t *c, *s = json_object_get(diff, "summary");
	size_t i;

	if (!json_is_true(json_object_get(diff, "changed"))) {
		printf("no change to the policy in force\n");
		return;
	}
	json_array_foreach(json_object_get(diff, "policies"), i, c) {
		const char *change = json_string_value(json_object_get(c, "change"));

		printf("%s policy %s", streq(change, "added") ? "+" : streq(change, "removed") ? "-" : "~",
		       json_string_value(json_object_get(c, "name")));
		if (!streq(change, "modified")) {
			printf(" (%s, %s)\n", change, json_string_value(json_object_get(c, "mode")));
		} else {
			printf("\n");
			print_from_to(c, "mode");
			print_from_to(c, "selector");
			print_from_to(c, "default");
		}
		if (json_object_get(c, "reordered"))
			printf("    rules reordered: %s\n", json_string_value(json_object_get(c, "reordered")));
		print_rule_changes(json_object_get(c, "rules"));
	}
	printf("%lld policies added, %lld removed, %lld modified; %lld rules added, %lld removed\n",
	       (long long)json_integer_value(json_object_get(s, "policies_added")),
	       (long long)json_integer_value(json_object_get(s, "policies_removed")),
	       (long long)json_integer_value(json_object_get(s, "policies_modified")),
	       (long long)json_integer_value(json_object_get(s, "rules_added")),
	       (long long)json_integer_value(json_object_get(s, "rules_removed")));
}

static long long jint(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static int policy_diff_cmd(int argc, char **argv)
{
	struct opts o;
	json_t *r;
	int rc = parse(argc, argv, &o, 1, false, false);

	if (rc)
		return rc;
	if (!o.nargs)
		return usage("diff: no FILE given%s", "");
	rc = post_file("/v1/policy/diff", o.args[0], false, &r);
	if (!rc) {
		if (o.json) {
			print_json(r);
		} else {
			json_t *in = json_object_get(r, "in_force");

			if (json_is_object(in))
				printf("against generation %lld (sha256 %.12s, %s):\n", jint(in, "generation"),
				       jstr(in, "hash"), jstr(in, "source"));
			else
				printf("against no policy in force:\n");
			print_diff(r);
		}
	}
	json_decref(r);
	return rc;
}

static int policy_apply_cmd(int argc, char **argv)
{
	struct opts o;
	json_t *r, *v;
	int rc = parse(argc, argv, &o, 1, true, false);

	if (rc)
		return rc;
	if (!o.nargs)
		return usage("apply: no FILE given%s", "");
	rc = post_file("/v1/policy/apply", o.args[0], o.dry_run, &r);
	if (rc && o.json && r)
		print_json(r);
	if (rc) {
		json_decref(r);
		return rc;
	}
	if (o.json) {
		print_json(r);
		json_decref(r);
		return 0;
	}
	print_diff(json_object_get(r, "diff"));
	v = json_object_get(r, "verify");
	printf("verified: %lld cells, %lld rulesets, %lld prefixes and %lld selections read back; "
	       "%lld sample packets decided from them as the file says\n", jint(v, "cells"),
	       jint(v, "rulesets"), jint(v, "prefixes"), jint(v, "selections"), jint(v, "samples"));
	if (o.dry_run)
		printf("dry run: generation %lld (sha256 %.12s) was written and checked, not switched to; "
		       "the policy in force stays\n", jint(r, "generation_would_be"), jstr(r, "hash"));
	else
		printf("generation %lld in force (sha256 %.12s), previous %lld; %lld ms to compile, %lld "
		       "to write, %lld to verify, %lld to switch\n", jint(r, "generation"), jstr(r, "hash"),
		       jint(r, "previous"), jint(json_object_get(r, "timing_ms"), "compile"),
		       jint(json_object_get(r, "timing_ms"), "write"),
		       jint(json_object_get(r, "timing_ms"), "verify"),
		       jint(json_object_get(r, "timing_ms"), "switch"));
	json_decref(r);
	return 0;
}

static int policy_rollback_cmd(int argc, char **argv)
{
	struct opts o;
	json_t *r;
	int rc = parse(argc, argv, &o, 0, false, false);

	if (rc || (rc = client_call("POST", "/v1/policy/rollback", NULL, &r)))
		return rc;
	if (o.json)
		print_json(r);
	else
		printf("rolled back: generation %lld in force again (sha256 %.12s), was %lld\n",
		       jint(r, "generation"), jstr(r, "hash"), jint(r, "from"));
	json_decref(r);
	return 0;
}

static int policy_history_cmd(int argc, char **argv)
{
	struct opts o;
	char path[64];
	json_t *r, *e;
	size_t i;
	int rc = parse(argc, argv, &o, 0, false, true);

	if (rc)
		return rc;
	snprintf(path, sizeof(path), "/v1/policy/history?n=%ld", o.n);
	if ((rc = client_call("GET", path, NULL, &r)))
		return rc;
	if (o.json) {
		print_json(r);
		json_decref(r);
		return 0;
	}
	printf("  GEN  ACTION    TIME                      SHA256        ACTOR            POLICIES  RULES  SOURCE\n");
	json_array_foreach(json_object_get(r, "history"), i, e) {
		json_t *a = json_object_get(e, "actor");
		char actor[64];

		if (json_is_string(a))
			snprintf(actor, sizeof(actor), "%s", json_string_value(a));
		else
			snprintf(actor, sizeof(actor), "uid %lld (%s)", jint(a, "uid"), jstr(a, "comm"));
		printf("%s %4lld  %-9s %-25s %-13.12s %-16s %8lld %6lld  %s\n",
		       json_is_true(json_object_get(e, "in_force")) ? "*" : " ", jint(e, "generation"),
		       jstr(e, "action"), jstr(e, "time"), jstr(e, "hash"), actor, jint(e, "policies"),
		       jint(e, "rules"), jstr(e, "source"));
	}
	json_decref(r);
	return 0;
}

static void print_counter_row(const char *policy, const char *rule, const char *dir, const char *action,
			      json_t *c)
{
	printf("%-16s %-10s %-8s %-6s %12lld %14lld %12lld %12lld %12lld %10lld\n", policy, rule, dir, action,
	       jint(c, "packets"), jint(c, "bytes"), jint(c, "allowed"), jint(c, "denied"),
	       jint(c, "would_deny"), jint(c, "replies"));
}

static int policy_stats_cmd(int argc, char **argv)
{
	struct opts o;
	json_t *r, *p, *d;
	size_t i;
	int rc = parse(argc, argv, &o, 0, false, false);

	if (rc || (rc = client_call("GET", "/v1/policy/stats", NULL, &r)))
		return rc;
	if (o.json) {
		print_json(r);
		json_decref(r);
		return 0;
	}
	if (json_is_null(json_object_get(r, "generation"))) {
		printf("no policy in force\n");
	} else {
		printf("generation %lld\n%-16s %-10s %-8s %-6s %12s %14s %12s %12s %12s %10s\n",
		       jint(r, "generation"), "POLICY", "RULE", "DIR", "ACTION", "PACKETS", "BYTES",
		       "ALLOWED", "DENIED", "WOULD-DENY", "REPLIES");
		json_array_foreach(json_object_get(r, "policies"), i, p) {
			const char *name = jstr(p, "name");
			json_t *x;
			const char *dir;
			size_t j;

			json_array_foreach(json_object_get(p, "rules"), j, x) {
				char rule[32];

				snprintf(rule, sizeof(rule), "%lld", jint(x, "index"));
				print_counter_row(name, json_object_get(x, "name") ? jstr(x, "name") : rule,
						  jstr(x, "direction"), jstr(x, "action"), json_object_get(x, "counters"));
			}
			json_object_foreach(json_object_get(p, "defaults"), dir, x)
				print_counter_row(name, "default", dir, jstr(x, "action"), json_object_get(x, "counters"));
			print_counter_row(name, "(total)", "", jstr(p, "mode"), json_object_get(p, "counters"));
		}
	}
	d = json_object_get(r, "datapath");
	printf("datapath: %lld malformed, %lld non-IP, %lld NDP, %lld on unselected hooks; %lld flows "
	       "recorded; events %lld sent, %lld capped, %lld lost\n", jint(d, "malformed"),
	       jint(d, "non_ip"), jint(d, "ndp"), jint(d, "unselected"), jint(d, "flows_recorded"),
	       jint(d, "events_sent"), jint(d, "events_capped"), jint(d, "events_lost"));
	json_decref(r);
	return 0;
}

static int policy_mode_cmd(int argc, char **argv)
{
	struct opts o;
	json_t *r, *body;
	int rc = parse(argc, argv, &o, 2, false, false);

	if (rc)
		return rc;
	if (o.nargs != 2 || (!streq(o.args[1], "observe") && !streq(o.args[1], "block")))
		return usage("mode: give NAME and observe or block%s", "");
	body = json_pack("{s:s, s:s}", "policy", o.args[0], "mode", o.args[1]);
	rc = client_call("POST", "/v1/policy/mode", body, &r);
	json_decref(body);
	if (rc)
		return rc;
	if (o.json)
		print_json(r);
	else
		printf("policy %s: %s -> %s (generation %lld, no reload)\n", jstr(r, "policy"),
		       jstr(r, "from"), jstr(r, "mode"), jint(r, "generation"));
	json_decref(r);
	return 0;
}

static void print_generation(const char *what, json_t *g)
{
	json_t *a = json_object_get(g, "actor");

	if (!json_is_object(g)) {
		printf("%s: none\n", what);
		return;
	}
	printf("%s: generation %lld, sha256 %s\n  from %s, applied %s by ", what, jint(g, "generation"),
	       jstr(g, "hash"), jstr(g, "source"), jstr(g, "applied_at"));
	if (json_is_string(a))
		printf("%s\n", json_string_value(a));
	else
		printf("uid %lld (%s)\n", jint(a, "uid"), jstr(a, "comm"));
}

static int policy_show(int argc, char **argv)
{
	struct opts o;
	json_t *r, *in, *p, *att;
	size_t i;
	int rc = parse(argc, argv, &o, 0, false, false);

	if (rc || (rc = client_call("GET", "/v1/policy", NULL, &r)))
		return rc;
	if (o.json || !json_is_true(json_object_get(r, "running"))) {
		if (o.json)
			print_json(r);
		else
			printf("policy enforcement is off (policy.enabled: false)\n");
		json_decref(r);
		return 0;
	}
	in = json_object_get(r, "in_force");
	print_generation("in force", in);
	json_array_foreach(json_object_get(in, "policies_in_force"), i, p) {
		char *sel = json_dumps(json_object_get(p, "selector"), JSON_COMPACT);
		char *def = json_dumps(json_object_get(p, "default"), JSON_COMPACT);

		printf("  %-16s %-7s%s rules %-5lld default %s selector %s\n", jstr(p, "name"), jstr(p, "mode"),
		       json_is_true(json_object_get(p, "mode_set_at_runtime")) ? "*" : " ", jint(p, "rules"),
		       def ? def : "?", sel ? sel : "?");
		free(sel);
		free(def);
	}
	print_generation("previous (rollback)", json_object_get(r, "previous"));
	att = json_object_get(r, "attachments");
	printf("attached: %zu interfaces (TC), %zu cgroups; tc %s (%s), cgroup %s%s\n",
	       json_array_size(json_object_get(att, "interfaces")),
	       json_array_size(json_object_get(att, "cgroups")),
	       json_is_true(json_object_get(r, "tc")) ? "on" : "off", jstr(r, "tc_attach"),
	       json_is_true(json_object_get(r, "cgroup")) ? "on" : "off",
	       json_is_true(json_object_get(r, "dry_run")) ? "; DRY RUN: every policy observes" : "");
	if (json_object_get(r, "restore_error"))
		printf("restore error: %s\n", jstr(r, "restore_error"));
	json_decref(r);
	return 0;
}

int cmd_policy(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-')
		return policy_show(argc, argv);
	if (streq(argv[1], "show"))
		return policy_show(argc - 1, argv + 1);
	if (streq(argv[1], "check"))
		return policy_check(argc - 1, argv + 1);
	if (streq(argv[1], "diff"))
		return policy_diff_cmd(argc - 1, argv + 1);
	if (streq(argv[1], "apply"))
		return policy_apply_cmd(argc - 1, argv + 1);
	if (streq(argv[1], "rollback"))
		return policy_rollback_cmd(argc - 1, argv + 1);
	if (streq(argv[1], "history"))
		return policy_history_cmd(argc - 1, argv + 1);
	if (streq(argv[1], "stats"))
		return policy_stats_cmd(argc - 1, argv + 1);
	if (streq(argv[1], "mode"))
		return policy_mode_cmd(argc - 1, argv + 1);
	return usage("unknown subcommand '%s'; valid: show, check, diff, apply, rollback, history, "
		     "stats, mode", argv[1]);
}
