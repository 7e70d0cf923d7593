// SPDX-License-Identifier: GPL-2.0-only
/* aegis events [--follow] [--json] [--type T,...]: the agent's event stream, by long polling. */
#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "util.h"

#define FOLLOW_WAIT_S 30

static void print_event(json_t *ev, bool json)
{
	const char *type = json_string_value(json_object_get(ev, "type"));

	if (json) {
		json_dumpf(ev, stdout, JSON_COMPACT | JSON_SORT_KEYS);
		fputc('\n', stdout);
	} else if (streq(type, "audit")) {
		json_t *err = json_object_get(ev, "error");

		printf("%s audit  %-14s %-8s %s%s%s\n", json_string_value(json_object_get(ev, "time")),
		       json_string_value(json_object_get(ev, "op")),
		       json_string_value(json_object_get(ev, "result")),
		       json_string_value(json_object_get(ev, "object")), json_is_string(err) ? ": " : "",
		       json_is_string(err) ? json_string_value(err) : "");
	} else {
		char *body = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);

		printf("%s %-6s %s\n", json_string_value(json_object_get(ev, "time")), type ? type : "?",
		       body ? body : "");
		free(body);
	}
	fflush(stdout);
}

/* One poll; returns the exit code and advances *next. */
static int poll_once(const char *query, const char *types, bool json, uint64_t *next)
{
	_cleanup_free_ char *esc = types ? curl_easy_escape(NULL, types, 0) : NULL;
	char path[512];
	json_t *r, *ev;
	size_t i;
	int rc;

	snprintf(path, sizeof(path), "/v1/events?%s%s%s", query, esc ? "&type=" : "", esc ? esc : "");
	rc = client_call("GET", path, NULL, &r);
	if (rc)
		return rc;
	if (json_integer_value(json_object_get(r, "missed")))
		fprintf(stderr, "aegis: %lld events were lost before they could be read (the agent keeps "
				"the last %d)\n", (long long)json_integer_value(json_object_get(r, "missed")), 65536);
	json_array_foreach(json_object_get(r, "events"), i, ev)
		print_event(ev, json);
	*next = (uint64_t)json_integer_value(json_object_get(r, "next"));
	json_decref(r);
	return 0;
}

int cmd_events(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "type", required_argument, NULL, 't' },
		{ "tail", required_argument, NULL, 'n' },
		{},
	};
	const char *types = NULL;
	bool follow = false, json = false;
	uint64_t next = 0, tail = 20;
	char query[128];
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "fn:", opts, NULL)) != -1) {
		switch (c) {
		case 'f': follow = true; break;
		case 'j': json = true; break;
		case 't': types = optarg; break;
		case 'n':
			if (parse_u64(optarg, &tail) || tail > 65536) {
				fprintf(stderr, "aegis events: --tail must be 0..65536, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		default:
			cli_print_help("events");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "aegis events: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_DFL);
	snprintf(query, sizeof(query), "tail=%llu", (unsigned long long)tail);
	rc = poll_once(query, types, json, &next);
	while (!rc && follow) {
		snprintf(query, sizeof(query), "since=%llu&wait=%d", (unsigned long long)next, FOLLOW_WAIT_S);
		rc = poll_once(query, types, json, &next);
	}
	return rc;
}
