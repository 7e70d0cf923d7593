// SPDX-License-Identifier: GPL-2.0-only
/* Read and change commands: clients of the agent's API, a table for people or --json. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "cmd_visibility.h"
#include "probe.h"
#include "util.h"

/* Parses only --json (and -n N where allowed); returns EXIT_USAGE on anything else. */
static int parse_read_opts(int argc, char **argv, bool *json, long *n)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "lines", required_argument, NULL, 'n' },
		{},
	};
	int c;

	*json = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, n ? "n:" : "", opts, NULL)) != -1) {
		uint64_t v;

		switch (c) {
		case 'j':
			*json = true;
			break;
		case 'n':
			if (!n || parse_u64(optarg, &v) || !v || v > 100000) {
				fprintf(stderr, "aegis %s: -n must be 1..100000, not '%s'\n", argv[0], optarg);
				return EXIT_USAGE;
			}
			*n = (long)v;
			break;
		default:
			cli_print_help(argv[0]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "aegis %s: unexpected argument '%s'\n", argv[0], argv[optind]);
		return EXIT_USAGE;
	}
	return 0;
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static long long jint(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void print_guard_ifaces(json_t *guard)
{
	json_t *ifaces = json_object_get(guard, "interfaces"), *s;
	size_t i;

	if (!json_is_true(json_object_get(guard, "running"))) {
		printf("\nguard: not running\n");
		return;
	}
	printf("\nINTERFACE        MODE     XDP      LINK  RX PACKETS    PASSED        DROPPED       WOULD DROP\n");
	json_array_foreach(ifaces, i, s) {
		json_t *c = json_object_get(s, "counters");

		printf("%-16s %-8s %-8s %-5lld %-13lld %-13lld %-13lld %lld\n", jstr(s, "name"),
		       jstr(s, "mode"), jstr(s, "xdp_mode"), jint(s, "link_id"), jint(c, "rx_packets"),
		       jint(c, "passed"), jint(c, "dropped"), jint(c, "would_drop"));
	}
}

/* One line: the policy generation in force, or why there is none. */
static void print_policy_status(json_t *p)
{
	json_t *g = json_object_get(p, "in_force");

	if (!json_is_true(json_object_get(p, "running")))
		printf("\npolicy: not running\n");
	else if (!json_is_object(g))
		printf("\npolicy: no policy in force (aegis policy apply FILE)\n");
	else
		printf("\npolicy: generation %lld (sha256 %.12s), %lld policies, %lld rules, applied %s by %s%s\n",
		       jint(g, "generation"), jstr(g, "hash"), jint(g, "policies"), jint(g, "rules"),
		       jstr(g, "applied_at"), jstr(json_object_get(g, "actor"), "comm"),
		       json_is_true(json_object_get(p, "dry_run")) ? "; dry run: every policy observes" : "");
}

/* One line: which monitors are on, and how they attach. */
static void print_monitors_status(json_t *m)
{
	json_t *v;
	const char *name;
	bool any = false;

	if (!json_is_true(json_object_get(m, "running"))) {
		printf("monitors: not running\n");
		return;
	}
	printf("monitors (%s):", jstr(m, "attach"));
	json_object_foreach(json_object_get(m, "monitors"), name, v)
		if (json_is_true(json_object_get(v, "enabled"))) {
			printf(" %s", name);
			any = true;
		}
	printf("%s\n", any ? " on (aegis monitor NAME)" : " all off");
}

int cmd_status(int argc, char **argv)
{
	json_t *st;
	bool json;
	int rc = parse_read_opts(argc, argv, &json, NULL);

	if (rc)
		return rc;
	rc = client_call("GET", "/v1/status", NULL, &st);
	if (rc)
		return rc;
	if (json) {
		print_json(st);
	} else {
		json_t *cfg = json_object_get(st, "config");

		printf("aegis %s (%s), pid %lld, up %llds since %s\n", jstr(st, "version"),
		       jstr(st, "git_rev"), jint(st, "pid"), jint(st, "uptime_seconds"),
		       jstr(st, "started_at"));
		printf("configuration: %s\nlinks attached: %lld, BPF statistics: %s, reloads: %lld ok, %lld failed\n",
		       jstr(cfg, "source"), jint(st, "links_attached"),
		       json_is_true(json_object_get(st, "bpf_stats")) ? "on" : "off",
		       jint(json_object_get(st, "reloads"), "ok"), jint(json_object_get(st, "reloads"), "failed"));
		printf("\n");
		probe_print_capabilities(stdout, json_object_get(st, "capabilities"));
		print_guard_ifaces(json_object_get(st, "guard"));
		print_policy_status(json_object_get(st, "policy"));
		print_monitors_status(json_object_get(st, "monitors"));
		print_visibility_status(json_object_get(st, "visibility"));
	}
	json_decref(st);
	return 0;
}

static void print_attach(json_t *p)
{
	json_t *a;
	size_t i;

	json_array_foreach(json_object_get(p, "attached"), i, a) {
		/* XDP names its interface and mode; hooks.c's kinds (tcx, cgroup, ...) a target. */
		printf("%s%s:%s", i ? ", " : "", jstr(a, "hook"),
		       json_object_get(a, "interface") ? jstr(a, "interface") : jstr(a, "target"));
		if (json_object_get(a, "xdp_mode"))
			printf("(%s, link %lld)", jstr(a, "xdp_mode"), jint(a, "link_id"));
		else
			printf("(link %lld)", jint(a, "link_id"));
	}
	if (!json_array_size(json_object_get(p, "attached")))
		printf("-");
}

int cmd_progs(int argc, char **argv)
{
	json_t *r, *p;
	bool json;
	size_t i;
	int rc = parse_read_opts(argc, argv, &json, NULL);

	if (rc)
		return rc;
	rc = client_call("GET", "/v1/progs", NULL, &r);
	if (rc)
		return rc;
	if (json) {
		print_json(r);
		json_decref(r);
		return 0;
	}
	/* Names as the objects give them, up to 24 characters in the column (the kernel keeps 15). */
	printf("PROG ID  %-24s TYPE       RUNS          AVG NS    ATTACHED / PIN\n", "NAME");
	json_array_foreach(json_object_get(r, "programs"), i, p) {
		printf("%-8lld %-24s %-10s %-13lld %-9.1f ", jint(p, "id"), jstr(p, "name"), jstr(p, "type"),
		       jint(p, "run_count"), json_real_value(json_object_get(p, "avg_ns")));
		print_attach(p);
		printf("\n%56s %s\n", "", jstr(p, "pin"));
	}
	if (!json_is_true(json_object_get(r, "bpf_stats")))
		printf("(BPF run-time statistics are off: set bpf.stats: true)\n");
	printf("\nMAP ID   %-24s TYPE            ENTRIES     MAX ENTRIES  MEMORY\n", "NAME");
	json_array_foreach(json_object_get(r, "maps"), i, p)
		printf("%-8lld %-24s %-15s %-11lld %-12lld %lld KiB\n", jint(p, "id"), jstr(p, "name"),
		       jstr(p, "type"), jint(p, "entries"), jint(p, "max_entries"),
		       jint(p, "memlock_bytes") / 1024);
	json_decref(r);
	return 0;
}

int cmd_audit(int argc, char **argv)
{
	char path[64];
	json_t *r, *rec;
	long n = 20;
	bool json;
	size_t i;
	int rc = parse_read_opts(argc, argv, &json, &n);

	if (rc)
		return rc;
	snprintf(path, sizeof(path), "/v1/audit?n=%ld", n);
	rc = client_call("GET", path, NULL, &r);
	if (rc)
		return rc;
	if (json) {
		print_json(json_object_get(r, "records"));
		json_decref(r);
		return 0;
	}
	json_array_foreach(json_object_get(r, "records"), i, rec) {
		json_t *actor = json_object_get(rec, "actor");
		char who[64];

		if (json_is_string(actor))
			snprintf(who, sizeof(who), "%s", json_string_value(actor));
		else if (json_object_get(actor, "uid"))
			snprintf(who, sizeof(who), "uid %lld (%s)", jint(actor, "uid"), jstr(actor, "comm"));
		else
			snprintf(who, sizeof(who), "token");
		printf("%s  %-18s %-14s %-8s %s%s%s\n", jstr(rec, "time"), who, jstr(rec, "op"),
		       jstr(rec, "result"), jstr(rec, "object"),
		       json_is_string(json_object_get(rec, "error")) ? ": " : "",
		       json_is_string(json_object_get(rec, "error")) ? jstr(rec, "error") : "");
	}
	json_decref(r);
	return 0;
}

static int guard_mode(int argc, char **argv)
{
	const char *iface = NULL, *mode = NULL;
	json_t *r, *body;
	int rc;

	for (int i = 2; i < argc; i++) {
		if (streq(argv[i], "--interface") && i + 1 < argc) {
			iface = argv[++i];
		} else if (!mode && (streq(argv[i], "observe") || streq(argv[i], "block"))) {
			mode = argv[i];
		} else {
			fprintf(stderr, "aegis guard mode: unexpected argument '%s'\n", argv[i]);
			mode = NULL;
			break;
		}
	}
	if (!mode) {
		fprintf(stderr, "usage: aegis guard mode [--interface IF] observe|block\n");
		return EXIT_USAGE;
	}
	body = json_pack("{s:s}", "mode", mode);
	if (iface)
		json_object_set_new(body, "interface", json_string(iface));
	rc = client_call("POST", "/v1/guard/mode", body, &r);
	json_decref(body);
	if (!rc)
		printf("guard: %s now in %s mode\n", iface ? iface : "every interface", mode);
	json_decref(r);
	return rc;
}

int cmd_guard(int argc, char **argv)
{
	json_t *r;
	bool json;
	int rc;

	if (argc >= 2 && streq(argv[1], "mode"))
		return guard_mode(argc, argv);
	rc = parse_read_opts(argc, argv, &json, NULL);
	if (rc)
		return rc;
	rc = client_call("GET", "/v1/guard", NULL, &r);
	if (rc)
		return rc;
	if (json)
		print_json(r);
	else
		print_guard_ifaces(r);
	json_decref(r);
	return 0;
}

/* Every counter of every guarded interface, and the drop reasons, for a person. */
static void print_stats(json_t *guard)
{
	static const char *const fields[] = { "rx_packets", "rx_bytes", "passed", "dropped", "would_drop",
					      "non_ip", "malformed", "fragments", "blocked_by_list",
					      "allowed_by_list", "rate_limited" };
	json_t *s;
	size_t i;

	json_array_foreach(json_object_get(guard, "interfaces"), i, s) {
		json_t *c = json_object_get(s, "counters"), *reasons = json_object_get(c, "by_reason"), *v;
		const char *name;

		printf("%s%s (%s mode, %s XDP)\n", i ? "\n" : "", jstr(s, "name"), jstr(s, "mode"), jstr(s, "xdp_mode"));
		json_t *rec = json_object_get(c, "drop_records");

		for (size_t k = 0; k < ARRAY_SIZE(fields); k++)
			printf("  %-18s %lld\n", fields[k], jint(c, fields[k]));
		printf("  drop records       %lld sampled, %lld held back by the rate cap, %lld lost (ring full)\n",
		       jint(rec, "sampled"), jint(rec, "capped"), jint(rec, "lost"));
		printf("  by reason (dropped, or would-drop in observe mode):\n");
		json_object_foreach(reasons, name, v)
			if (json_integer_value(v))
				printf("    %-22s %lld\n", name, (long long)json_integer_value(v));
	}
}

int cmd_stats(int argc, char **argv)
{
	json_t *r;
	bool json;
	int rc = parse_read_opts(argc, argv, &json, NULL);

	if (rc)
		return rc;
	rc = client_call("GET", "/v1/guard", NULL, &r);
	if (rc)
		return rc;
	if (json)
		print_json(json_object_get(r, "interfaces"));
	else if (!json_is_true(json_object_get(r, "running")))
		printf("guard: not running\n");
	else
		print_stats(r);
	json_decref(r);
	return 0;
}

int cmd_top(int argc, char **argv)
{
	uint64_t n = 20;
	bool json = false;
	char path[64];
	json_t *r, *e;
	size_t i;
	int rc;

	for (int k = 1; k < argc; k++) {
		if (streq(argv[k], "--json"))
			json = true;
		else if (streq(argv[k], "-n") && k + 1 < argc && !parse_u64(argv[k + 1], &n) && n && n <= 100000)
			k++;
		else {
			fprintf(stderr, "usage: aegis top [-n N] [--json]\n");
			return EXIT_USAGE;
		}
	}
	snprintf(path, sizeof(path), "/v1/guard/top?n=%llu", (unsigned long long)n);
	rc = client_call("GET", path, NULL, &r);
	if (rc)
		return rc;
	if (json) {
		print_json(r);
	} else {
		if (json_string_value(json_object_get(r, "note")))
			printf("note: %s\n", jstr(r, "note"));
		printf("over the last %.1f s, sampling 1 in %lld packets; %lld sources tracked\n",
		       json_real_value(json_object_get(r, "window_seconds")), jint(r, "sample_every"),
		       jint(r, "tracked"));
		printf("%-40s %-10s %-12s %-10s %-10s %-10s %-12s %s\n", "SOURCE", "PKT/S", "BYTES/S", "PASSED/S",
		       "DROPPED/S", "WOULD/S", "PACKETS", "OVER LIMIT");
		json_array_foreach(json_object_get(r, "sources"), i, e)
			printf("%-40s %-10lld %-12lld %-10lld %-10lld %-10lld %-12lld %lld%s\n", jstr(e, "source"),
			       jint(e, "pps"), jint(e, "bps"), jint(e, "passed_pps"), jint(e, "dropped_pps"),
			       jint(e, "would_drop_pps"), jint(e, "packets"), jint(e, "over_limit_packets"),
			       json_is_true(json_object_get(e, "over_limit_now")) ? " (now)" : "");
	}
	json_decref(r);
	return 0;
}
