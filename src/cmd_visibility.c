// SPDX-License-Identifier: GPL-2.0-only
/* aegis ps and aegis flows: clients of the visibility endpoints (docs/api.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "cmd_visibility.h"
#include "util.h"

#define TREE_MAX_DEPTH 64

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static long long jint(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* "running", "exit 3", "signal 9", "replaced", "exited" */
static void state_text(json_t *p, char *buf, size_t len)
{
	const char *st = jstr(p, "state");

	if (streq(st, "exited") && json_is_integer(json_object_get(p, "exit_code")))
		snprintf(buf, len, "exit %lld", jint(p, "exit_code"));
	else if (streq(st, "exited") && json_is_integer(json_object_get(p, "signal")))
		snprintf(buf, len, "signal %lld", jint(p, "signal"));
	else
		snprintf(buf, len, "%s", st);
}

/* The command line, or the binary, or the comm in brackets (a kernel thread). */
static void command_text(json_t *p, char *buf, size_t len)
{
	json_t *args = json_object_get(p, "args"), *a;
	size_t i, off = 0;

	buf[0] = '\0';
	json_array_foreach(args, i, a)
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s", i ? " " : "",
					json_string_value(a) ? json_string_value(a) : "");
	if (!buf[0])
		snprintf(buf, len, json_is_string(json_object_get(p, "binary")) ? "%s" : "[%s]",
			 json_is_string(json_object_get(p, "binary")) ? jstr(p, "binary") : jstr(p, "comm"));
}

static void print_process(json_t *p, int depth)
{
	char state[32], cmd[512];

	state_text(p, state, sizeof(state));
	command_text(p, cmd, sizeof(cmd));
	printf("%-8lld %-8lld %-6lld %-10s %-24.24s %-38s %*s%s%s\n", jint(p, "pid"), jint(p, "ppid"),
	       jint(p, "uid"), state, jstr(p, "start_time"), jstr(p, "exec_id"), depth * 2, "",
	       depth ? "\\_ " : "", cmd);
}

static void print_header(void)
{
	printf("%-8s %-8s %-6s %-10s %-24s %-38s %s\n", "PID", "PPID", "UID", "STATE", "START", "EXEC_ID",
	       "COMMAND");
}

static int by_start(const void *a, const void *b)
{
	return strcmp(jstr(*(json_t *const *)a, "start_time"), jstr(*(json_t *const *)b, "start_time"));
}

static void print_children(json_t *const *procs, size_t n, const char *parent, int depth)
{
	for (size_t i = 0; i < n; i++) {
		if (!streq(jstr(procs[i], "parent_exec_id"), parent))
			continue;
		print_process(procs[i], depth);
		if (depth < TREE_MAX_DEPTH)
			print_children(procs, n, jstr(procs[i], "exec_id"), depth + 1);
	}
}

/* Roots: processes whose parent is not in the list; each with its descendants below it. */
static void print_tree(json_t *list)
{
	size_t n = json_array_size(list);
	json_t **procs = calloc(n ? n : 1, sizeof(*procs));
	json_t *ids = json_object();

	if (!procs || !ids) {
		free(procs);
		json_decref(ids);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		procs[i] = json_array_get(list, i);
		json_object_set_new(ids, jstr(procs[i], "exec_id"), json_true());
	}
	qsort(procs, n, sizeof(*procs), by_start);
	for (size_t i = 0; i < n; i++) {
		if (json_object_get(ids, jstr(procs[i], "parent_exec_id")))
			continue;
		print_process(procs[i], 0);
		print_children(procs, n, jstr(procs[i], "exec_id"), 1);
	}
	free(procs);
	json_decref(ids);
}

int cmd_ps(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tree", no_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "pid", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{},
	};
	bool tree = false, json = false, all = false;
	uint64_t pid = 0;
	char path[128];
	json_t *r, *list, *p;
	size_t i;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "ap:", opts, NULL)) != -1) {
		switch (c) {
		case 't': tree = true; break;
		case 'j': json = true; break;
		case 'a': all = true; break;
		case 'p':
			if (parse_u64(optarg, &pid) || !pid || pid > UINT32_MAX) {
				fprintf(stderr, "aegis ps: --pid must be a process id, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		default:
			cli_print_help("ps");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "aegis ps: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (pid)
		snprintf(path, sizeof(path), "/v1/visibility/processes?pid=%llu", (unsigned long long)pid);
	else
		snprintf(path, sizeof(path), "/v1/visibility/processes%s", all ? "?all=1" : "");
	rc = client_call("GET", path, NULL, &r);
	if (rc)
		return rc;
	list = json_object_get(r, "processes");
	if (json) {
		print_json(r);
	} else {
		print_header();
		if (tree) {
			print_tree(list);
		} else {
			json_t **sorted = calloc(json_array_size(list) + 1, sizeof(*sorted));

			json_array_foreach(list, i, p)
				if (sorted)
					sorted[i] = p;
			if (sorted)
				qsort(sorted, json_array_size(list), sizeof(*sorted), by_start);
			for (i = 0; sorted && i < json_array_size(list); i++) {
				json_t *anc = json_object_get(sorted[i], "ancestry"), *a;
				size_t k;

				print_process(sorted[i], 0);
				if (json_array_size(anc))
					printf("%-8s ancestry:", "");
				json_array_foreach(anc, k, a)
					printf(" %s%s", k ? "<- " : "", json_string_value(a));
				if (json_array_size(anc))
					printf("\n");
			}
			free(sorted);
		}
	}
	json_decref(r);
	return 0;
}

static void endpoint_text(json_t *f, const char *side, char *buf, size_t len)
{
	char key[32];
	const char *addr;

	snprintf(key, sizeof(key), "%s_address", side);
	addr = jstr(f, key);
	snprintf(key, sizeof(key), "%s_port", side);
	snprintf(buf, len, strchr(addr, ':') ? "[%s]:%lld" : "%s:%lld", addr, jint(f, key));
}

int cmd_flows(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pid", required_argument, NULL, 'p' },
		{ "exec-id", required_argument, NULL, 'e' },
		{},
	};
	const char *exec_id = NULL;
	uint64_t pid = 0;
	bool json = false;
	char path[256];
	json_t *r, *f;
	size_t i;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'e': exec_id = optarg; break;
		case 'p':
			if (parse_u64(optarg, &pid) || !pid || pid > UINT32_MAX) {
				fprintf(stderr, "aegis flows: --pid must be a process id, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		default:
			cli_print_help("flows");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "aegis flows: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (exec_id && strspn(exec_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(exec_id)) {
		fprintf(stderr, "aegis flows: --exec-id '%s' is not an exec_id (base64url)\n", exec_id);
		return EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/v1/visibility/flows%s", pid || exec_id ? "?" : "");
	if (pid)
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "pid=%llu%s", (unsigned long long)pid,
			 exec_id ? "&" : "");
	if (exec_id)
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "exec_id=%s", exec_id);
	rc = client_call("GET", path, NULL, &r);
	if (rc)
		return rc;
	if (json) {
		print_json(r);
		json_decref(r);
		return 0;
	}
	printf("%-5s %-28s %-28s %-9s %-7s %-12s %-12s %-8s %-16s %s\n", "PROTO", "LOCAL", "REMOTE", "DIR",
	       "STATE", "BYTES IN", "BYTES OUT", "PID", "COMM", "EXEC_ID");
	json_array_foreach(json_object_get(r, "flows"), i, f) {
		char local[64], remote[64], pid_text[16] = "-";
		json_t *owner = json_object_get(f, "owner");
		bool owned = json_is_object(owner);

		endpoint_text(f, "local", local, sizeof(local));
		endpoint_text(f, "remote", remote, sizeof(remote));
		if (owned)
			snprintf(pid_text, sizeof(pid_text), "%lld", jint(owner, "pid"));
		printf("%-5s %-28s %-28s %-9s %-7s %-12lld %-12lld %-8s %-16s %s\n", jstr(f, "protocol"), local,
		       remote, jstr(f, "direction"), jstr(f, "state"), jint(f, "bytes_in"), jint(f, "bytes_out"),
		       pid_text, owned ? jstr(owner, "comm") : "-", owned ? jstr(owner, "exec_id") : "-");
	}
	json_decref(r);
	return 0;
}

void print_visibility_status(json_t *v)
{
	json_t *procs = json_object_get(v, "processes"), *flows = json_object_get(v, "flows");
	json_t *losses = json_object_get(v, "losses"), *rb = json_object_get(losses, "ringbuf_lost");

	if (!json_is_true(json_object_get(v, "running"))) {
		printf("\nvisibility: not running\n");
		return;
	}
	printf("\nvisibility: running (%s): %lld processes running, %lld ended; %lld flows open, %lld closed; "
	       "%lld frames, every %llds\n", jstr(v, "tracing"), jint(procs, "running"), jint(procs, "ended"),
	       jint(flows, "open"), jint(flows, "closed"), jint(json_object_get(v, "frames"), "count"),
	       jint(json_object_get(v, "frames"), "interval_seconds"));
	printf("  losses: ring buffer %lld exec, %lld fork, %lld exit; %lld flow and %lld socket evictions; "
	       "%lld process table full; %lld records and %lld exits inferred\n", jint(rb, "exec"),
	       jint(rb, "fork"), jint(rb, "exit"), jint(losses, "flow_evictions"), jint(losses, "socket_evictions"),
	       jint(losses, "process_table_full"), jint(losses, "records_inferred"), jint(losses, "exits_inferred"));
}
