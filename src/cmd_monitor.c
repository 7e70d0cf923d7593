// SPDX-License-Identifier: GPL-2.0-only
/*
 * aegis monitor: the host monitors as libbpf-tools shows them (log2 histograms with a bar), or
 * JSON. The agent's counters are cumulative; with --interval the CLI reads twice and shows the
 * difference, so readers never reset anything and two of them never disturb each other.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aegis/monitors.h"
#include "cli.h"
#include "client.h"
#include "hist.h"
#include "util.h"

#define INTERVAL_MAX 3600
#define WINDOW_MAX 60	/* the agent keeps a minute of per-task history */

static const char *const names[] = { "runq", "io", "mem", "net" };

static bool known_monitor(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (streq(names[i], s))
			return true;
	return false;
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

/* ---- differences -------------------------------------------------------------------------- */

/* Members that name a thing rather than count it: kept as they are, and used to pair entries. */
static bool is_identity(const char *key)
{
	static const char *const ids[] = { "device", "dev", "op", "cgroup", "cpu", "order", "reason",
					   "reason_code", "ifindex", "id", "netns", "monitor", NULL };

	for (int i = 0; ids[i]; i++)
		if (streq(ids[i], key))
			return true;
	return false;
}

static bool same_entity(json_t *a, json_t *b)
{
	const char *key;
	json_t *v;

	json_object_foreach(a, key, v)
		if (is_identity(key) && !json_equal(v, json_object_get(b, key)))
			return false;
	return true;
}

static json_t *diff(json_t *cur, json_t *prev);

static json_t *diff_array(json_t *cur, json_t *prev)
{
	json_t *out = json_array(), *c, *p;
	size_t i, k;

	json_array_foreach(cur, i, c) {
		json_t *match = NULL;

		if (json_is_integer(c)) {
			p = json_array_get(prev, i);
			json_array_append_new(out, json_integer(json_integer_value(c) - json_integer_value(p)));
			continue;
		}
		json_array_foreach(prev, k, p)
			if (!match && json_is_object(p) && same_entity(c, p))
				match = p;
		json_array_append_new(out, diff(c, match));
	}
	return out;
}

/* cur - prev for every counter (prev NULL: cur as it is). */
static json_t *diff(json_t *cur, json_t *prev)
{
	json_t *out, *v;
	const char *key;

	if (json_is_array(cur))
		return diff_array(cur, prev);
	if (!json_is_object(cur) || !prev)
		return json_deep_copy(cur);
	out = json_object();
	json_object_foreach(cur, key, v) {
		json_t *p = json_object_get(prev, key);

		if (json_is_integer(v) && !is_identity(key) && json_is_integer(p))
			json_object_set_new(out, key, json_integer(json_integer_value(v) - json_integer_value(p)));
		else if ((json_is_object(v) || json_is_array(v)) && !streq(key, "top_tasks"))
			json_object_set_new(out, key, diff(v, p));
		else
			json_object_set(out, key, v);
	}
	return out;
}

/* ---- printing ------------------------------------------------------------------------------ */

static void print_hist(json_t *h, const char *title)
{
	uint64_t slots[MON_HIST_SLOTS], sum;
	long long count = jint(h, "count");

	if (hist_from_json(h, slots, MON_HIST_SLOTS, &sum))
		return;
	printf("%s: %lld samples", title, count);
	if (count)
		printf(", avg %.1f us, p50 <= %llu us, p99 <= %llu us", (double)sum / 1000.0 / (double)count,
		       (unsigned long long)hist_quantile_us(slots, MON_HIST_SLOTS, 0.5),
		       (unsigned long long)hist_quantile_us(slots, MON_HIST_SLOTS, 0.99));
	printf("\n");
	hist_print_log2(stdout, slots, MON_HIST_SLOTS, "usecs");
	printf("\n");
}

static void print_runq(json_t *j)
{
	json_t *c, *tasks = json_object_get(json_object_get(j, "top_tasks"), "tasks");
	size_t i;

	print_hist(json_object_get(j, "latency"), "Run-queue latency, whole host");
	json_array_foreach(json_object_get(j, "cgroups"), i, c) {
		char title[4200];

		snprintf(title, sizeof(title), "Run-queue latency, cgroup %s", jstr(c, "cgroup"));
		print_hist(json_object_get(c, "latency"), title);
	}
	printf("%-5s %14s %14s\n", "CPU", "VOLUNTARY", "INVOLUNTARY");
	json_array_foreach(json_object_get(j, "context_switches"), i, c)
		printf("%-5lld %14lld %14lld\n", jint(c, "cpu"), jint(c, "voluntary"), jint(c, "involuntary"));
	if (!tasks) {
		printf("\ntop tasks: %s\n", jstr(json_object_get(j, "top_tasks"), "unavailable"));
		return;
	}
	printf("\nTop tasks by run-queue wait (last %lld s)\n%-8s %-8s %-16s %12s %8s %12s\n",
	       jint(json_object_get(j, "top_tasks"), "window_seconds"), "TID", "PID", "COMM", "WAIT ms",
	       "WAITS", "AVG us");
	json_array_foreach(tasks, i, c)
		printf("%-8lld %-8lld %-16s %12.3f %8lld %12.1f\n", jint(c, "tid"), jint(c, "pid"),
		       jstr(c, "comm"), json_number_value(json_object_get(c, "wait_seconds")) * 1e3,
		       jint(c, "waits"), json_number_value(json_object_get(c, "mean_wait_us")));
}

static void print_io(json_t *j, double secs)
{
	json_t *d;
	size_t i;
	bool any = false;

	json_array_foreach(json_object_get(j, "devices"), i, d) {
		char title[160];
		long long bytes = jint(d, "bytes");

		if (!jint(json_object_get(d, "latency"), "count") && !bytes)
			continue;
		any = true;
		snprintf(title, sizeof(title), "%s (%s) %s: %lld bytes%s", jstr(d, "device"), jstr(d, "dev"),
			 jstr(d, "op"), bytes, jint(d, "errors") ? ", with errors" : "");
		if (secs > 0)
			snprintf(title + strlen(title), sizeof(title) - strlen(title), " (%.1f MB/s)",
				 (double)bytes / secs / 1e6);
		print_hist(json_object_get(d, "latency"), title);
	}
	if (!any)
		printf("no block I/O completed\n");
	if (jint(j, "overflow"))
		printf("(%lld completions on (device, operation) pairs beyond %d not counted)\n",
		       jint(j, "overflow"), MON_IO_MAX_DEVICES);
}

static void print_mem(json_t *j)
{
	json_t *pf = json_object_get(j, "page_alloc_failures"), *o, *last;
	const char *kind;
	json_t *h;
	size_t i;

	json_object_foreach(json_object_get(j, "reclaim_stalls"), kind, h) {
		char title[64];

		snprintf(title, sizeof(title), "Reclaim stalls (%s)", kind);
		print_hist(h, title);
	}
	if (json_is_false(json_object_get(pf, "enabled"))) {
		printf("Page allocation failures: not watched (monitors.mem.alloc_failures: false)\n");
		goto oom;
	}
	printf("Page allocation failures: %lld (and %lld that the caller allowed, __GFP_NOWARN)\n",
	       jint(pf, "failures"), jint(pf, "nowarn"));
	json_array_foreach(json_object_get(pf, "by_order"), i, o)
		if (jint(o, "failures") || jint(o, "nowarn"))
			printf("  order %-2lld %10lld %10lld nowarn\n", jint(o, "order"), jint(o, "failures"),
			       jint(o, "nowarn"));
	last = json_object_get(pf, "last");
	if (json_is_object(last))
		printf("  last: pid %lld (%s), order %lld, gfp 0x%llx\n", jint(last, "pid"), jstr(last, "comm"),
		       jint(last, "order"), jint(last, "gfp"));
oom:
	printf("OOM kills: %lld (details: aegis events --type oom_kill)\n", jint(j, "oom_kills"));
}

static void print_net(json_t *j, double secs)
{
	json_t *x;
	size_t i;

	printf("%-16s %12s %14s %8s %8s %12s %14s %8s %8s\n", "DEVICE", "RX PACKETS", "RX BYTES",
	       "RX ERR", "RX DROP", "TX PACKETS", "TX BYTES", "TX ERR", "TX DROP");
	json_array_foreach(json_object_get(j, "interfaces"), i, x) {
		printf("%-16s %12lld %14lld %8lld %8lld %12lld %14lld %8lld %8lld", jstr(x, "device"),
		       jint(x, "rx_packets"), jint(x, "rx_bytes"), jint(x, "rx_errors"), jint(x, "rx_dropped"),
		       jint(x, "tx_packets"), jint(x, "tx_bytes"), jint(x, "tx_errors"), jint(x, "tx_dropped"));
		if (secs > 0)
			printf("   %.0f/%.0f pkt/s", (double)jint(x, "rx_packets") / secs,
			       (double)jint(x, "tx_packets") / secs);
		printf("\n");
	}
	if (json_object_get(j, "interfaces_error"))
		printf("(interface counters unavailable: %s)\n", jstr(j, "interfaces_error"));
	printf("\n%-16s %-32s %12s\n", "DROPS ON", "REASON", "PACKETS");
	json_array_foreach(json_object_get(j, "drops"), i, x)
		if (jint(x, "packets"))
			printf("%-16s %-32s %12lld\n", jstr(x, "device"), jstr(x, "reason"), jint(x, "packets"));
	x = json_object_get(j, "tcp_retransmits");
	printf("\nTCP retransmits: %lld IPv4, %lld IPv6\n", jint(x, "ipv4"), jint(x, "ipv6"));
}

static void print_monitor(const char *name, json_t *j, double secs)
{
	if (!json_is_true(json_object_get(j, "enabled"))) {
		printf("%s: off%s%s\n", name, json_object_get(j, "unavailable") ? ": " : "",
		       json_object_get(j, "unavailable") ? jstr(j, "unavailable") : "");
		return;
	}
	if (streq(name, "runq"))
		print_runq(j);
	else if (streq(name, "io"))
		print_io(j, secs);
	else if (streq(name, "mem"))
		print_mem(j);
	else
		print_net(j, secs);
}

/* ---- commands ------------------------------------------------------------------------------ */

static volatile sig_atomic_t stop;

static void on_sigint(int sig)
{
	stop = 1;
}

static int fetch(const char *name, unsigned top, unsigned window, json_t **out)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/monitors/%s?top=%u&window=%u", name, top,
		 window > WINDOW_MAX ? WINDOW_MAX : window);
	return client_call("GET", path, NULL, out);
}

static int show_summary(bool json)
{
	json_t *st, *m;
	const char *name;
	int rc = client_call("GET", "/v1/monitors", NULL, &st);

	if (rc)
		return rc;
	if (json) {
		print_json(st);
	} else {
		printf("monitors: %s, attached as %s\n",
		       json_is_true(json_object_get(st, "running")) ? "loaded" : "not loaded", jstr(st, "attach"));
		json_object_foreach(json_object_get(st, "monitors"), name, m)
			printf("  %-5s %s%s%s\n", name, json_is_true(json_object_get(m, "enabled")) ? "on" : "off",
			       json_object_get(m, "unavailable") ? ": " : "",
			       json_object_get(m, "unavailable") ? jstr(m, "unavailable") : "");
	}
	json_decref(st);
	return 0;
}

static int set_state(int argc, char **argv)
{
	json_t *r;
	int rc;

	if (argc != 3 || !known_monitor(argv[2])) {
		fprintf(stderr, "usage: aegis monitor %s runq|io|mem|net\n", argv[1]);
		return EXIT_USAGE;
	}
	rc = client_call("POST", streq(argv[1], "enable") ? "/v1/monitors/enable" : "/v1/monitors/disable",
			 json_pack("{s:s}", "monitor", argv[2]), &r);
	if (rc)
		return rc;
	printf("%s: %s\n", argv[2], streq(argv[1], "enable") ? "on" : "off (its programs are detached)");
	json_decref(r);
	return 0;
}

struct watch_opts {
	unsigned interval, count, top;
	bool json;
};

static void emit(const char *name, json_t *j, const struct watch_opts *o)
{
	char when[40];

	if (o->json) {
		format_rfc3339(now_realtime_ns(), when, sizeof(when));
		json_object_set_new(j, "time", json_string(when));
		if (o->interval)
			json_object_set_new(j, "interval_seconds", json_integer(o->interval));
		json_dumpf(j, stdout, JSON_COMPACT | JSON_SORT_KEYS);
		printf("\n");
	} else {
		if (o->interval) {
			format_rfc3339(now_realtime_ns(), when, sizeof(when));
			printf("--- %s, last %u s ---\n", when, o->interval);
		} else if (streq(name, "net")) {
			printf("(interfaces: the devices' own counters, since each device was created; drops "
			       "and retransmits: since the monitor was attached; --interval S for rates)\n");
		} else {
			printf("(since the monitor was attached; --interval S for rates)\n");
		}
		print_monitor(name, j, o->interval);
	}
	fflush(stdout);
}

static int watch(const char *name, const struct watch_opts *o)
{
	json_t *prev = NULL, *cur;
	int rc = fetch(name, o->top, o->interval ? o->interval : 1, &prev);

	if (rc)
		return rc;
	if (!o->interval) {
		emit(name, prev, o);
		json_decref(prev);
		return 0;
	}
	signal(SIGINT, on_sigint);
	for (unsigned n = 0; !stop && (!o->count || n < o->count); n++) {
		json_t *d;

		for (unsigned s = 0; s < o->interval * 10 && !stop; s++)
			usleep(100000);
		if (stop)
			break;
		rc = fetch(name, o->top, o->interval, &cur);
		if (rc)
			break;
		d = diff(cur, prev);
		emit(name, d, o);
		json_decref(d);
		json_decref(prev);
		prev = cur;
	}
	json_decref(prev);
	return rc;
}

int cmd_monitor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "top", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{},
	};
	struct watch_opts o = { .top = 10 };
	uint64_t v;
	int c;

	if (argc >= 2 && (streq(argv[1], "enable") || streq(argv[1], "disable")))
		return set_state(argc, argv);
	optind = 1;
	while ((c = getopt_long(argc, argv, "i:c:t:", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
		case 'c':
		case 't':
			if (parse_u64(optarg, &v) || (c == 'i' && (v < 1 || v > INTERVAL_MAX)) ||
			    (c == 't' && v > 1000) || v > 1000000) {
				fprintf(stderr, "aegis monitor: --%s: '%s' is out of range (interval 1..%d s, "
					"top 0..1000)\n", c == 'i' ? "interval" : c == 'c' ? "count" : "top",
					optarg, INTERVAL_MAX);
				return EXIT_USAGE;
			}
			*(c == 'i' ? &o.interval : c == 'c' ? &o.count : &o.top) = (unsigned)v;
			break;
		case 'j':
			o.json = true;
			break;
		default:
			cli_print_help(argv[0]);
			return EXIT_USAGE;
		}
	}
	if (optind == argc)
		return show_summary(o.json);
	if (!known_monitor(argv[optind])) {
		fprintf(stderr, "aegis monitor: expected runq, io, mem, net, enable or disable, not '%s'\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "aegis monitor: unexpected argument '%s'\n", argv[optind + 1]);
		return EXIT_USAGE;
	}
	if (o.count && !o.interval) {
		fprintf(stderr, "aegis monitor: --count needs --interval\n");
		return EXIT_USAGE;
	}
	return watch(argv[optind], &o);
}
