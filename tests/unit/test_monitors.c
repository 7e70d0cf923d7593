// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host monitors: the histogram printer and Prometheus writer (exact text), the monitors section
 * of the configuration (every mistake at its line and column), names from the kernel's BTF, and
 * both builds of bpf/monitors.bpf.c on the real kernel: loaded, attached, counting context
 * switches and run-queue waits of this process's own sleeps, then detached.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpfobj.h"
#include "config.h"
#include "hist.h"
#include "monitors.h"
#include "test.h"
#include "util.h"

static char *capture(void (*fn)(FILE *f, void *arg), void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fn(f, arg);
	fclose(f);
	return buf;
}

static void print_small(FILE *f, void *arg)
{
	uint64_t slots[MON_HIST_SLOTS] = { [0] = 1, [2] = 4 };

	hist_print_log2(f, slots, MON_HIST_SLOTS, "usecs");
}

TEST(monitors_log2_histogram_layout)
{
	_cleanup_free_ char *out = capture(print_small, NULL);

	ASSERT_STREQ(out,
		     "     usecs               : count    distribution\n"
		     "         0 -> 1          : 1        |**********                              |\n"
		     "         2 -> 3          : 0        |                                        |\n"
		     "         4 -> 7          : 4        |****************************************|\n",
		     "libbpf-tools layout, up to the last non-empty slot");
}

static void print_empty(FILE *f, void *arg)
{
	uint64_t slots[MON_HIST_SLOTS] = {};

	hist_print_log2(f, slots, MON_HIST_SLOTS, "usecs");
}

TEST(monitors_empty_histogram_prints_nothing)
{
	_cleanup_free_ char *out = capture(print_empty, NULL);

	ASSERT_STREQ(out, "", "no header for no samples");
}

static void prom_small(FILE *f, void *arg)
{
	uint64_t slots[MON_HIST_SLOTS] = { [0] = 2, [3] = 1, [MON_HIST_SLOTS - 1] = 1 };

	hist_prometheus(f, "x_seconds", "device=\"sda\"", slots, MON_HIST_SLOTS, 1500000000ULL);
}

TEST(monitors_prometheus_histogram)
{
	_cleanup_free_ char *out = capture(prom_small, NULL);

	if (!ASSERT_TRUE(out != NULL, "output"))
		return;
	ASSERT_STRSTR(out, "x_seconds_bucket{device=\"sda\",le=\"2e-06\"} 2\n", "first bucket: slot 0 below 2 us");
	ASSERT_STRSTR(out, "x_seconds_bucket{device=\"sda\",le=\"8e-06\"} 2\n", "cumulative");
	ASSERT_STRSTR(out, "x_seconds_bucket{device=\"sda\",le=\"1.6e-05\"} 3\n", "slot 3 below 16 us");
	ASSERT_STRSTR(out, "x_seconds_bucket{device=\"sda\",le=\"67.1089\"} 3\n", "last bounded bucket: 2^26 us");
	ASSERT_STRSTR(out, "x_seconds_bucket{device=\"sda\",le=\"+Inf\"} 4\n", "the open slot only in +Inf");
	ASSERT_STRSTR(out, "x_seconds_sum{device=\"sda\"} 1.500000000\n", "sum in seconds");
	ASSERT_STRSTR(out, "x_seconds_count{device=\"sda\"} 4\n", "count = +Inf");
}

TEST(monitors_quantiles_and_json)
{
	uint64_t slots[MON_HIST_SLOTS] = { [1] = 50, [5] = 49, [10] = 1 }, back[MON_HIST_SLOTS], sum;
	json_t *j = hist_json(slots, MON_HIST_SLOTS, 12345);

	ASSERT_EQ(hist_quantile_us(slots, MON_HIST_SLOTS, 0.5), 4, "p50: slot 1's upper bound");
	ASSERT_EQ(hist_quantile_us(slots, MON_HIST_SLOTS, 0.99), 64, "p99: slot 5's upper bound");
	ASSERT_EQ(json_integer_value(json_object_get(j, "count")), 100, "count");
	ASSERT_OK(hist_from_json(j, back, MON_HIST_SLOTS, &sum), "parse back");
	ASSERT_EQ(memcmp(back, slots, sizeof(slots)), 0, "same slots");
	ASSERT_EQ(sum, 12345, "same sum");
	ASSERT_EQ(hist_from_json(json_object_get(j, "count"), back, MON_HIST_SLOTS, &sum), -EINVAL, "not a histogram");
	json_decref(j);
}

/* ---- configuration ---- */

static int parse(const char *text, struct aegis_config *c, struct diags *d)
{
	return config_parse(text, strlen(text), "t.yaml", c, d);
}

static bool has_diag(const struct diags *d, const char *key, int line, int col, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (streq(d->v[i].key, key) && d->v[i].line == line && d->v[i].col == col &&
		    strstr(d->v[i].msg, needle))
			return true;
	diags_print(d, stderr);
	return false;
}

TEST(monitors_config_defaults_and_values)
{
	struct aegis_config c;
	struct diags d = {};

	if (!ASSERT_OK(parse("", &c, &d), "empty"))
		return;
	ASSERT_EQ(c.mon_attach, MON_ATTACH_AUTO, "attach: auto");
	/* The defaults follow the measured costs (docs/monitors.md, Benchmarks). */
	ASSERT_FALSE(c.mon_enabled[MON_RUNQ], "runq off by default (8-9% on pipe ping-pong)");
	ASSERT_TRUE(c.mon_enabled[MON_IO], "io on by default");
	ASSERT_TRUE(c.mon_enabled[MON_MEM], "mem on by default");
	ASSERT_TRUE(c.mon_enabled[MON_NET], "net on by default");
	ASSERT_FALSE(c.mon_alloc_failures, "the page allocator hook off by default");
	config_free(&c);
	if (!ASSERT_OK(parse("monitors:\n  attach: raw_tp\n  mem: {enabled: false, alloc_failures: yes}\n"
			     "  runq:\n    cgroups: [/system.slice/a.service, /]\n", &c, &d), "values"))
		return;
	ASSERT_EQ(c.mon_attach, MON_ATTACH_RAW_TP, "raw_tp");
	ASSERT_FALSE(c.mon_enabled[MON_MEM], "mem off");
	ASSERT_TRUE(c.mon_alloc_failures, "alloc_failures on");
	ASSERT_TRUE(c.mon_enabled[MON_NET], "net stays on");
	ASSERT_EQ(c.n_mon_runq_cgroups, 2, "two cgroups");
	ASSERT_STREQ(c.mon_runq_cgroups[0], "/system.slice/a.service", "cgroup path");
	ASSERT_STREQ(json_string_value(json_object_get(json_object_get(config_to_json(&c), "monitors"), "attach")),
		     "raw_tp", "shown by config_to_json");
	config_free(&c);
	diags_free(&d);
}

TEST(monitors_config_mistakes)
{
	struct aegis_config c;
	struct diags d = {};
	char many[1024] = "monitors:\n  runq:\n    cgroups: [";

	ASSERT_EQ(parse("monitors:\n  attach: kprobe\n  io: {enabled: maybe}\n  disk: {}\n"
			"  runq:\n    cgroups: [system.slice, /a/../b, /x, /x]\n", &c, &d), -EINVAL, "bad");
	ASSERT_TRUE(has_diag(&d, "monitors.attach", 2, 11, "expected one of auto, tp_btf, raw_tp"), "attach");
	ASSERT_TRUE(has_diag(&d, "monitors.io.enabled", 3, 17, "expected a boolean"), "enabled");
	ASSERT_TRUE(has_diag(&d, "monitors.disk", 4, 3, "unknown key"), "unknown monitor");
	ASSERT_TRUE(has_diag(&d, "monitors.runq.cgroups[0]", 6, 15, "must be absolute"), "relative");
	ASSERT_TRUE(has_diag(&d, "monitors.runq.cgroups[1]", 6, 29, "component"), "dot-dot");
	ASSERT_TRUE(has_diag(&d, "monitors.runq.cgroups[3]", 6, 42, "listed twice"), "duplicate");
	diags_free(&d);
	for (int i = 0; i < 17; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s/c%d", i ? ", " : "", i);
	strcat(many, "]\n");
	ASSERT_EQ(parse(many, &c, &d), -EINVAL, "17 cgroups");
	ASSERT_TRUE(has_diag(&d, "monitors.runq.cgroups", 3, 14, "at most 16"), "too many");
	diags_free(&d);
}

/* ---- names from BTF ---- */

TEST(monitors_names_from_kernel_btf)
{
	struct monitors m = {};
	char buf[32];

	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		test_skip("no /sys/kernel/btf/vmlinux");
		return;
	}
	ASSERT_OK(mon_load_drop_reasons(&m), "enum skb_drop_reason");
	/* SKB_DROP_REASON_NOT_SPECIFIED = 2 and NO_SOCKET = 3 since 5.17. */
	ASSERT_STREQ(mon_drop_reason_name(&m, 2, buf, sizeof(buf)), "NOT_SPECIFIED", "2");
	ASSERT_STREQ(mon_drop_reason_name(&m, 3, buf, sizeof(buf)), "NO_SOCKET", "3");
	ASSERT_STREQ(mon_drop_reason_name(&m, 0x10002, buf, sizeof(buf)), "reason_65538", "a subsystem reason");
	for (size_t i = 0; i < m.n_drop_reasons; i++)
		free(m.drop_reasons[i]);
	free(m.drop_reasons);
	ASSERT_EQ(__builtin_popcount(mon_gfp_nowarn_mask()), 1, "__GFP_NOWARN is one bit");
	mon_dev_name(7u << 20 | 4095u, buf, sizeof(buf));
	ASSERT_STREQ(buf, "7:4095", "a device without a node is MAJ:MIN");
}

/* ---- both builds on the real kernel ---- */

static bool runq_counts(const char *attach_name, enum mon_attach_mode attach)
{
	char pin_root[64], name[96];
	struct aegis_config cfg = {};
	struct monitors m = {};
	json_t *a, *b;
	long long sw_a = 0, sw_b = 0, waits;
	bool ok = true;
	size_t i;
	json_t *c;

	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/aegis-unit-mon-%d", getpid());
	cfg.pin_root = pin_root;
	cfg.max_insns = 1000000;
	cfg.mon_attach = attach;
	cfg.mon_enabled[MON_RUNQ] = true;
	snprintf(name, sizeof(name), "%s: start", attach_name);
	if (!ASSERT_OK(monitors_start(&m, &cfg), name))
		goto out;
	snprintf(name, sizeof(name), "%s: loaded as asked", attach_name);
	ok &= ASSERT_EQ(m.raw, attach == MON_ATTACH_RAW_TP, name);
	ok &= ASSERT_FALSE(m.enabled[MON_IO], "io stays off");
	a = monitors_json(&m, MON_RUNQ, 0, 1);
	for (int k = 0; k < 50; k++)
		usleep(200);	/* 50 voluntary switches of ours, and 50 waits to run again */
	b = monitors_json(&m, MON_RUNQ, 0, 1);
	json_array_foreach(json_object_get(a, "context_switches"), i, c)
		sw_a += json_integer_value(json_object_get(c, "voluntary"));
	json_array_foreach(json_object_get(b, "context_switches"), i, c)
		sw_b += json_integer_value(json_object_get(c, "voluntary"));
	waits = json_integer_value(json_object_get(json_object_get(b, "latency"), "count")) -
		json_integer_value(json_object_get(json_object_get(a, "latency"), "count"));
	snprintf(name, sizeof(name), "%s: 50 sleeps are >= 50 voluntary switches", attach_name);
	ok &= ASSERT_GE(sw_b - sw_a, 50, name);
	snprintf(name, sizeof(name), "%s: and >= 50 run-queue waits", attach_name);
	ok &= ASSERT_GE(waits, 50, name);
	json_decref(a);
	json_decref(b);
	monitors_stop(&m, true);
	snprintf(name, sizeof(name), "%s/monitors/links/mon_sched_switch", pin_root);
	ok &= ASSERT_TRUE(access(name, F_OK) != 0, "stop with detach removes the link");
out:
	monitors_stop(&m, false);
	bpfobj_remove_all(pin_root);
	return ok;
}

TEST(monitors_both_builds_count_on_this_kernel)
{
	runq_counts("tp_btf", MON_ATTACH_TP_BTF);
	runq_counts("raw_tp", MON_ATTACH_RAW_TP);
}
