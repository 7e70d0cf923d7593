// SPDX-License-Identifier: GPL-2.0-only
/* aegis block / unblock / allow / unallow / list: the operator's side of the guard's lists. */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "util.h"

struct add_opts {
	const char *ttl, *reason, *file;
	const char *proto, *port;	/* a scoped block: one protocol and destination port */
	bool force, json;
};

/* "proto" and "port" of a scoped entry into a request body; the agent validates them. */
static void add_scope(json_t *body, const char *proto, const char *port)
{
	if (proto)
		json_object_set_new(body, "proto", json_string(proto));
	if (port)
		json_object_set_new(body, "port", json_string(port));
}

/* The agent's word that a change is in force but could not be saved. */
static void print_warning(json_t *r)
{
	const char *w = json_string_value(json_object_get(r, "warning"));

	if (w)
		fprintf(stderr, "aegis: warning: %s\n", w);
}

/* "udp/53" for a scoped entry of an API answer, "any" otherwise (static buffer: one at a time). */
static const char *entry_scope(json_t *e)
{
	static char buf[16];
	const char *proto = json_string_value(json_object_get(e, "proto"));

	if (!proto)
		return "any";
	snprintf(buf, sizeof(buf), "%s/%lld", proto, (long long)json_integer_value(json_object_get(e, "port")));
	return buf;
}

static int parse_add_opts(int argc, char **argv, struct add_opts *o, const char **cidr)
{
	static const struct option opts[] = {
		{ "ttl", required_argument, NULL, 't' },
		{ "reason", required_argument, NULL, 'r' },
		{ "file", required_argument, NULL, 'f' },
		{ "force", no_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ "proto", required_argument, NULL, 'P' },
		{ "port", required_argument, NULL, 'p' },
		{},
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't': o->ttl = optarg; break;
		case 'r': o->reason = optarg; break;
		case 'f': o->file = optarg; break;
		case 'F': o->force = true; break;
		case 'j': o->json = true; break;
		case 'P': o->proto = optarg; break;
		case 'p': o->port = optarg; break;
		default:
			cli_print_help(argv[0]);
			return EXIT_USAGE;
		}
	}
	*cidr = optind < argc ? argv[optind++] : NULL;
	if (optind < argc || (!*cidr == !o->file)) {
		fprintf(stderr, "aegis %s: give one CIDR or --file FILE (see aegis help %s)\n", argv[0], argv[0]);
		return EXIT_USAGE;
	}
	return 0;
}

static void print_import(const char *cmd, json_t *r)
{
	json_t *rej;
	size_t i;

	printf("%s: %lld lines: %lld accepted, %lld duplicate, %lld rejected", cmd,
	       (long long)json_integer_value(json_object_get(r, "lines")),
	       (long long)json_integer_value(json_object_get(r, "accepted")),
	       (long long)json_integer_value(json_object_get(r, "duplicate")),
	       (long long)json_integer_value(json_object_get(r, "rejected")));
	if (json_integer_value(json_object_get(r, "normalised")))
		printf(" (%lld with host bits set, normalised)",
		       (long long)json_integer_value(json_object_get(r, "normalised")));
	printf("\n");
	json_array_foreach(json_object_get(r, "rejects"), i, rej)
		printf("  line %lld: %s: %s\n", (long long)json_integer_value(json_object_get(rej, "line")),
		       json_string_value(json_object_get(rej, "text")),
		       json_string_value(json_object_get(rej, "error")));
}

static int import_file(const char *cmd, const struct add_opts *o)
{
	_cleanup_free_ char *data = NULL, *reason = NULL, *ttl = NULL, *proto = NULL, *port = NULL;
	char path[768];
	size_t len;
	json_t *r;
	int err, rc;

	err = streq(o->file, "-") ? read_file("/dev/stdin", &data, &len) : read_file(o->file, &data, &len);
	if (err) {
		fprintf(stderr, "aegis %s: cannot read %s: %s\n", cmd, o->file, strerror(-err));
		return 1;
	}
	reason = o->reason ? curl_easy_escape(NULL, o->reason, 0) : NULL;
	ttl = o->ttl ? curl_easy_escape(NULL, o->ttl, 0) : NULL;
	proto = o->proto ? curl_easy_escape(NULL, o->proto, 0) : NULL;
	port = o->port ? curl_easy_escape(NULL, o->port, 0) : NULL;
	snprintf(path, sizeof(path), "/v1/guard/%s/import?force=%d%s%s%s%s%s%s%s%s", cmd, o->force,
		 ttl ? "&ttl=" : "", ttl ? ttl : "", reason ? "&reason=" : "", reason ? reason : "",
		 proto ? "&proto=" : "", proto ? proto : "", port ? "&port=" : "", port ? port : "");
	rc = client_call_text(path, data, len, &r);
	if (rc)
		return rc;
	print_warning(r);
	if (o->json)
		print_json(r);
	else
		print_import(cmd, r);
	json_decref(r);
	return 0;
}

/* block and allow */
static int add_cmd(int argc, char **argv)
{
	struct add_opts o;
	const char *cidr;
	char path[64];
	json_t *body, *r;
	int rc = parse_add_opts(argc, argv, &o, &cidr);

	if (rc)
		return rc;
	if (o.file)
		return import_file(argv[0], &o);
	body = json_pack("{s:s, s:b}", "cidr", cidr, "force", o.force);
	if (o.ttl)
		json_object_set_new(body, "ttl", json_string(o.ttl));
	if (o.reason)
		json_object_set_new(body, "reason", json_string(o.reason));
	add_scope(body, o.proto, o.port);
	snprintf(path, sizeof(path), "/v1/guard/%s", argv[0]);
	rc = client_call("POST", path, body, &r);
	json_decref(body);
	if (rc)
		return rc;
	print_warning(r);
	if (o.json) {
		print_json(r);
	} else {
		const char *note = json_string_value(json_object_get(r, "note"));

		if (note)
			printf("note: %s\n", note);
		printf("%s %s%s%s%s%s\n", argv[0], json_string_value(json_object_get(r, "cidr")),
		       o.proto ? " " : "", o.proto ? entry_scope(r) : "", o.ttl ? " for " : "",
		       o.ttl ? o.ttl : "");
	}
	json_decref(r);
	return 0;
}

/* unblock and unallow: CIDR [--proto P --port N] */
static int remove_cmd(int argc, char **argv)
{
	const char *cidr = NULL, *proto = NULL, *port = NULL;
	char path[64];
	json_t *body, *r;
	int rc;

	for (int k = 1; k < argc; k++) {
		if (streq(argv[k], "--proto") && k + 1 < argc)
			proto = argv[++k];
		else if (streq(argv[k], "--port") && k + 1 < argc)
			port = argv[++k];
		else if (!cidr && argv[k][0] != '-')
			cidr = argv[k];
		else
			cidr = NULL, k = argc;
	}
	if (!cidr) {
		fprintf(stderr, "usage: aegis %s CIDR [--proto tcp|udp --port N]\n", argv[0]);
		return EXIT_USAGE;
	}
	body = json_pack("{s:s}", "cidr", cidr);
	add_scope(body, proto, port);
	snprintf(path, sizeof(path), "/v1/guard/%s", argv[0]);
	rc = client_call("POST", path, body, &r);
	json_decref(body);
	if (!rc)
		print_warning(r);
	if (!rc)
		printf("%s %s%s%s%s%s\n", argv[0], cidr, proto ? " " : "", proto ? proto : "",
		       port ? " port " : "", port ? port : "");
	json_decref(r);
	return rc;
}

int cmd_block(int argc, char **argv) { return add_cmd(argc, argv); }
int cmd_allow(int argc, char **argv) { return add_cmd(argc, argv); }
int cmd_unblock(int argc, char **argv) { return remove_cmd(argc, argv); }
int cmd_unallow(int argc, char **argv) { return remove_cmd(argc, argv); }

static void print_entry(json_t *e)
{
	json_t *ttl = json_object_get(e, "ttl_remaining_seconds");
	char left[32] = "never";

	if (json_is_integer(ttl))
		format_duration((uint64_t)json_integer_value(ttl) * NSEC_PER_SEC, left, sizeof(left));
	printf("%-6s %-40s %-9s %-7s %-10s %-12lld %-14lld %s\n", json_string_value(json_object_get(e, "list")),
	       json_string_value(json_object_get(e, "cidr")), entry_scope(e),
	       json_string_value(json_object_get(e, "origin")),
	       left, (long long)json_integer_value(json_object_get(e, "hit_packets")),
	       (long long)json_integer_value(json_object_get(e, "hit_bytes")),
	       json_string_value(json_object_get(e, "reason")));
}

int cmd_list(int argc, char **argv)
{
	const char *which = NULL;
	uint64_t limit = 10000;
	bool json = false;
	char path[96];
	json_t *r, *e;
	size_t i;
	int rc;

	for (int k = 1; k < argc; k++) {
		if (streq(argv[k], "--json"))
			json = true;
		else if (streq(argv[k], "--limit") && k + 1 < argc && !parse_u64(argv[k + 1], &limit) && limit)
			k++;
		else if (!which && (streq(argv[k], "blocks") || streq(argv[k], "allows")))
			which = streq(argv[k], "blocks") ? "block" : "allow";
		else {
			fprintf(stderr, "usage: aegis list [blocks|allows] [--limit N] [--json]\n");
			return EXIT_USAGE;
		}
	}
	snprintf(path, sizeof(path), "/v1/guard/lists?limit=%llu%s%s", (unsigned long long)limit,
		 which ? "&list=" : "", which ? which : "");
	rc = client_call("GET", path, NULL, &r);
	if (rc)
		return rc;
	if (json) {
		print_json(r);
		json_decref(r);
		return 0;
	}
	printf("%-6s %-40s %-9s %-7s %-10s %-12s %-14s %s\n", "LIST", "CIDR", "SCOPE", "ORIGIN", "TTL LEFT",
	       "HIT PKTS", "HIT BYTES", "REASON");
	json_array_foreach(json_object_get(r, "entries"), i, e)
		print_entry(e);
	if (json_is_true(json_object_get(r, "truncated")))
		printf("(%lld entries in all; --limit shows more)\n",
		       (long long)json_integer_value(json_object_get(r, "total")));
	json_decref(r);
	return 0;
}
