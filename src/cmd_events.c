// SPDX-License-Identifier: GPL-2.0-only
/* aegis events [--follow] [--json] [--type T,...]: the agent's event stream, by long polling. */
#include <curl/curl.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <time.h>
#include <sys/time.h>
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

struct sink {
	bool json;
	pcap_dumper_t *pcap;	/* set: write drop samples instead of printing */
	uint64_t *written, limit;	/* pcap: samples written so far, and the most wanted */
};

static int poll_to(const char *query, const char *types, uint64_t *next, const struct sink *sk);

static int poll_once(const char *query, const char *types, bool json, uint64_t *next)
{
	struct sink sk = { .json = json };

	return poll_to(query, types, next, &sk);
}

static int poll_sink(const char *query, const char *types, uint64_t *next, pcap_dumper_t *d,
		     uint64_t *written, uint64_t limit)
{
	struct sink sk = { .pcap = d, .written = written, .limit = limit };

	return poll_to(query, types, next, &sk);
}

static int write_drop(pcap_dumper_t *d, json_t *ev);

/* One poll; returns the exit code and advances *next. */
static int poll_to(const char *query, const char *types, uint64_t *next, const struct sink *sk)
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
	json_array_foreach(json_object_get(r, "events"), i, ev) {
		if (sk->pcap && sk->written && (!sk->limit || *sk->written < sk->limit))
			*sk->written += (uint64_t)write_drop(sk->pcap, ev);
		else if (!sk->pcap)
			print_event(ev, sk->json);
	}
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

/* ---- aegis capture ------------------------------------------------------------------------ */

static volatile sig_atomic_t capture_stop;

static void on_capture_signal(int sig)
{
	capture_stop = 1;
}

static size_t unbase64(const char *in, uint8_t *out, size_t max)
{
	size_t n = 0;
	uint32_t acc = 0;
	int bits = 0;

	for (; *in && *in != '='; in++) {
		const char *tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const char *p = strchr(tbl, *in);

		if (!p)
			break;
		acc = acc << 6 | (uint32_t)(p - tbl);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n < max)
				out[n++] = (uint8_t)(acc >> bits);
		}
	}
	return n;
}

/* "2026-11-23T20:31:31.551Z" -> timeval */
static void event_time(const char *s, struct timeval *tv)
{
	struct tm tm = {};
	const char *rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;

	tv->tv_sec = rest ? timegm(&tm) : time(NULL);
	tv->tv_usec = rest && *rest == '.' ? atoi(rest + 1) * 1000 : 0;
}

static int write_drop(pcap_dumper_t *d, json_t *ev)
{
	uint8_t pkt[256];
	struct pcap_pkthdr h = {};
	const char *data = json_string_value(json_object_get(ev, "data"));

	if (!data)
		return 0;
	h.caplen = (bpf_u_int32)unbase64(data, pkt, sizeof(pkt));
	h.len = (bpf_u_int32)json_integer_value(json_object_get(ev, "pkt_len"));
	if (h.len < h.caplen)
		h.len = h.caplen;
	event_time(json_string_value(json_object_get(ev, "time")), &h.ts);
	pcap_dump((u_char *)d, &h, pkt);
	return 1;
}

int cmd_capture(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "write", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{},
	};
	const char *file = NULL;
	uint64_t count = 0, seconds = 0, written = 0, next, deadline;
	pcap_t *dead;
	pcap_dumper_t *dump;
	char query[128];
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "w:c:", opts, NULL)) != -1) {
		switch (c) {
		case 'w': file = optarg; break;
		case 'c':
		case 's':
			if (parse_u64(optarg, c == 'c' ? &count : &seconds)) {
				fprintf(stderr, "aegis capture: '%s' is not a number\n", optarg);
				return EXIT_USAGE;
			}
			break;
		default:
			cli_print_help("capture");
			return EXIT_USAGE;
		}
	}
	if (!file || optind < argc) {
		fprintf(stderr, "usage: aegis capture -w FILE.pcap [-c N] [--seconds S]\n");
		return EXIT_USAGE;
	}
	dead = pcap_open_dead(DLT_EN10MB, 65535);
	dump = dead ? pcap_dump_open(dead, file) : NULL;
	if (!dump) {
		fprintf(stderr, "aegis capture: cannot write %s: %s\n", file, dead ? pcap_geterr(dead) : "libpcap");
		if (dead)
			pcap_close(dead);
		return 1;
	}
	signal(SIGINT, on_capture_signal);
	signal(SIGTERM, on_capture_signal);
	next = 0;
	deadline = seconds ? now_monotonic_ns() + seconds * NSEC_PER_SEC : 0;
	/* Start at the newest event: a capture records what happens from now on. */
	rc = poll_sink("tail=0", "drop", &next, dump, &written, count);
	while (!rc && !capture_stop && (!count || written < count) &&
	       (!deadline || now_monotonic_ns() < deadline)) {
		snprintf(query, sizeof(query), "since=%llu&wait=1", (unsigned long long)next);
		rc = poll_sink(query, "drop", &next, dump, &written, count);
		pcap_dump_flush(dump);
	}
	pcap_dump_close(dump);
	pcap_close(dead);
	fprintf(stderr, "aegis capture: %llu drop samples written to %s\n", (unsigned long long)written, file);
	return rc;
}
