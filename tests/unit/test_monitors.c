// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host monitors: the histogram printer and Prometheus writer (exact text), the monitors section
 * of the configuration (every mistake at its line and column), names from the kernel's BTF,
 * both builds of bpf/monitors.bpf.c on the real kernel (loaded, attached, counting context
 * switches and run-queue waits of this process's own sleeps, then detached), and the interface
 * counters: the netlink dump parser on crafted and truncated messages, the real kernel's
 * counters in a fresh network namespace.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpfobj.h"
#include "config.h"
#include "hist.h"
#include "monitors.h"
#include "netns.h"
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

/* ---- interface counters: the netlink dump parser, and the real kernel's counters ---- */

/* A datagram of netlink messages, built the way the kernel lays them out. */
struct nlbuf {
	char b[4096] __attribute__((aligned(NLMSG_ALIGNTO)));
	size_t len;
};

static struct nlmsghdr *msg_begin(struct nlbuf *nb, uint16_t type, uint16_t flags, uint32_t seq,
				  int ifindex)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)(nb->b + nb->len);
	struct ifinfomsg *ifi = NLMSG_DATA(nh);

	memset(nh, 0, NLMSG_SPACE(sizeof(*ifi)));
	nh->nlmsg_len = NLMSG_LENGTH(sizeof(*ifi));
	nh->nlmsg_type = type;
	nh->nlmsg_flags = flags | NLM_F_MULTI;
	nh->nlmsg_seq = seq;
	ifi->ifi_index = ifindex;
	return nh;
}

/* Appends an attribute whose header says rta_len (0: its real length). */
static void msg_attr(struct nlmsghdr *nh, uint16_t type, const void *data, size_t len, size_t rta_len)
{
	struct rtattr *rta = (struct rtattr *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = (unsigned short)(rta_len ? rta_len : RTA_LENGTH(len));
	memcpy(RTA_DATA(rta), data, len);
	memset((char *)RTA_DATA(rta) + len, 0, RTA_ALIGN(RTA_LENGTH(len)) - RTA_LENGTH(len));
	nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(RTA_LENGTH(len));
}

static void msg_end(struct nlbuf *nb, struct nlmsghdr *nh)
{
	nb->len += NLMSG_ALIGN(nh->nlmsg_len);
}

static void msg_done(struct nlbuf *nb, uint32_t seq, int error)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)(nb->b + nb->len);

	nh->nlmsg_len = NLMSG_LENGTH(sizeof(int));
	nh->nlmsg_type = NLMSG_DONE;
	nh->nlmsg_flags = NLM_F_MULTI;
	nh->nlmsg_seq = seq;
	memcpy(NLMSG_DATA(nh), &error, sizeof(error));
	nb->len += NLMSG_ALIGN(nh->nlmsg_len);
}

/* rtnl_link_stats64 as 6.1's UAPI lays it out, each counter a distinct value. */
static void fake_stats(struct rtnl_link_stats64 *st, uint64_t base)
{
	uint64_t *w = (uint64_t *)st;

	for (size_t i = 0; i < sizeof(*st) / 8; i++)
		w[i] = base + i;
}

/* A well-formed link: name, an attribute the parser does not know, then stats64. */
static struct nlmsghdr *good_link(struct nlbuf *nb, uint32_t seq, int ifindex, const char *name,
				  uint64_t base)
{
	struct nlmsghdr *nh = msg_begin(nb, RTM_NEWLINK, 0, seq, ifindex);
	struct rtnl_link_stats64 st;
	static const char unknown[5] = "\x01\x02\x03\x04\x05";	/* 5 bytes: padded to 8 */

	fake_stats(&st, base);
	msg_attr(nh, IFLA_IFNAME, name, strlen(name) + 1, 0);
	msg_attr(nh, 0x7ff, unknown, sizeof(unknown), 0);
	msg_attr(nh, IFLA_STATS64, &st, sizeof(st), 0);
	return nh;
}

TEST(monitors_link_dump_parser)
{
	struct nlbuf nb = {};
	struct mon_links ls = {};
	struct nlmsghdr *nh;
	struct rtnl_link_stats64 st;
	char noterm[IF_NAMESIZE];
	const uint32_t seq = 41;

	/* 7: a good link. */
	msg_end(&nb, good_link(&nb, seq, 7, "veth7", 1000));
	/* 8: its stats attribute says 200 bytes, the message ends 72 bytes in: truncated. */
	nh = msg_begin(&nb, RTM_NEWLINK, 0, seq, 8);
	fake_stats(&st, 2000);
	msg_attr(nh, IFLA_IFNAME, "trunc8", 7, 0);
	msg_attr(nh, IFLA_STATS64, &st, 64, 200);
	msg_end(&nb, nh);
	/* 9: stats64 with 5 counters: not a stats64. */
	nh = msg_begin(&nb, RTM_NEWLINK, 0, seq, 9);
	msg_attr(nh, IFLA_IFNAME, "short9", 7, 0);
	msg_attr(nh, IFLA_STATS64, &st, 40, 0);
	msg_end(&nb, nh);
	/* 10: a name that fills IFNAMSIZ without its NUL. */
	memset(noterm, 'n', sizeof(noterm));
	nh = msg_begin(&nb, RTM_NEWLINK, 0, seq, 10);
	msg_attr(nh, IFLA_IFNAME, noterm, sizeof(noterm), 0);
	msg_attr(nh, IFLA_STATS64, &st, sizeof(st), 0);
	msg_end(&nb, nh);
	/* 11: no stats at all: skipped, not malformed. */
	nh = msg_begin(&nb, RTM_NEWLINK, 0, seq, 11);
	msg_attr(nh, IFLA_IFNAME, "nostats", 8, 0);
	msg_end(&nb, nh);
	/* 12: another request's answer: ignored. */
	msg_end(&nb, good_link(&nb, seq + 1, 12, "other", 3000));
	/* 13: an old kernel's stats64, the eight first counters only, and a nested unknown. */
	nh = msg_begin(&nb, RTM_NEWLINK, 0, seq, 13);
	fake_stats(&st, 4000);
	msg_attr(nh, IFLA_STATS64, &st, 64, 0);
	msg_attr(nh, IFLA_IFNAME, "old13", 6, 0);
	msg_attr(nh, NLA_F_NESTED | 0x7fe, &st, 12, 0);
	msg_end(&nb, nh);
	msg_done(&nb, seq, 0);

	if (!ASSERT_EQ(mon_links_parse(&ls, nb.b, nb.len, seq), 1, "the dump ends at DONE"))
		goto out;
	ASSERT_EQ(ls.malformed, 3, "truncated attribute, short stats, unterminated name");
	if (!ASSERT_EQ(ls.n, 2, "links 7 and 13"))
		goto out;
	ASSERT_EQ(ls.v[0].ifindex, 7, "ifindex");
	ASSERT_STREQ(ls.v[0].name, "veth7", "name");
	/* rtnl_link_stats64: rx_packets, tx_packets, rx_bytes, tx_bytes, rx_errors, tx_errors,
	 * rx_dropped, tx_dropped. */
	ASSERT_EQ(ls.v[0].rx_packets, 1000, "rx_packets");
	ASSERT_EQ(ls.v[0].tx_packets, 1001, "tx_packets");
	ASSERT_EQ(ls.v[0].rx_bytes, 1002, "rx_bytes");
	ASSERT_EQ(ls.v[0].tx_bytes, 1003, "tx_bytes");
	ASSERT_EQ(ls.v[0].rx_errors, 1004, "rx_errors");
	ASSERT_EQ(ls.v[0].tx_errors, 1005, "tx_errors");
	ASSERT_EQ(ls.v[0].rx_dropped, 1006, "rx_dropped");
	ASSERT_EQ(ls.v[0].tx_dropped, 1007, "tx_dropped");
	ASSERT_STREQ(ls.v[1].name, "old13", "attributes in any order");
	ASSERT_EQ(ls.v[1].tx_dropped, 4007, "eight counters are enough");
out:
	mon_links_free(&ls);
}

TEST(monitors_link_dump_parser_truncated_at_every_length)
{
	struct nlbuf nb = {};
	struct mon_links ls = {};
	struct nlmsghdr *nh = good_link(&nb, 5, 3, "eth3", 1);
	uint32_t full = nh->nlmsg_len;

	/* Cut short anywhere, the message never yields a link (stats64 comes last). */
	for (uint32_t len = sizeof(*nh); len < full; len++) {
		char *copy = malloc(len);
		int r;

		if (!ASSERT_TRUE(copy != NULL, "malloc"))
			break;
		memcpy(copy, nb.b, len);
		((struct nlmsghdr *)copy)->nlmsg_len = len;
		r = mon_links_parse(&ls, copy, len, 5);
		free(copy);
		if (!ASSERT_EQ(r, 0, "no DONE, no error") || !ASSERT_EQ(ls.n, 0, "no link from a cut message"))
			break;
	}
	ASSERT_GE(ls.malformed, 1, "cuts inside an attribute are malformed");
	mon_links_free(&ls);
}

TEST(monitors_link_dump_parser_framing)
{
	struct nlbuf nb = {};
	struct mon_links ls = {};
	struct nlmsghdr *nh;
	struct nlmsgerr *e;

	/* A message longer than the datagram cannot be walked. */
	nh = good_link(&nb, 1, 3, "eth3", 1);
	msg_end(&nb, nh);
	ASSERT_EQ(mon_links_parse(&ls, nb.b, nb.len - 8, 1), -EBADMSG, "nlmsg_len past the datagram");
	ASSERT_EQ(mon_links_parse(&ls, nb.b, 10, 1), -EBADMSG, "less than a header");
	/* The kernel's refusal. */
	memset(&nb, 0, sizeof(nb));
	nh = (struct nlmsghdr *)nb.b;
	nh->nlmsg_len = NLMSG_LENGTH(sizeof(*e));
	nh->nlmsg_type = NLMSG_ERROR;
	nh->nlmsg_seq = 2;
	e = NLMSG_DATA(nh);
	e->error = -EPERM;
	ASSERT_EQ(mon_links_parse(&ls, nb.b, NLMSG_ALIGN(nh->nlmsg_len), 2), -EPERM, "NLMSG_ERROR");
	/* An error at the end of the dump. */
	memset(&nb, 0, sizeof(nb));
	msg_done(&nb, 3, -ENOBUFS);
	ASSERT_EQ(mon_links_parse(&ls, nb.b, nb.len, 3), -ENOBUFS, "DONE with an error");
	/* The link list changed during the dump: start again. */
	memset(&nb, 0, sizeof(nb));
	nh = good_link(&nb, 4, 3, "eth3", 1);
	nh->nlmsg_flags |= NLM_F_DUMP_INTR;
	msg_end(&nb, nh);
	ASSERT_EQ(mon_links_parse(&ls, nb.b, nb.len, 4), -EAGAIN, "NLM_F_DUMP_INTR");
	/* More to come. */
	memset(&nb, 0, sizeof(nb));
	ls.n = 0;
	msg_end(&nb, good_link(&nb, 6, 3, "eth3", 1));
	ASSERT_EQ(mon_links_parse(&ls, nb.b, nb.len, 6), 0, "no DONE yet");
	ASSERT_EQ(ls.n, 1, "the link is taken");
	mon_links_free(&ls);
}

/*
 * The real kernel, in a fresh network namespace where nothing else sends: UDP over lo and raw
 * frames from one end of a veth pair are counted exactly, as the devices count them.
 */
struct link_counts {
	struct mon_link before[3], after[3];	/* lo, aegism0, aegism1 */
	int ifindex[3];
	size_t malformed;
};

static const char *const counted_links[3] = { "lo", "aegism0", "aegism1" };

static int find_links(const struct mon_links *ls, struct mon_link out[3])
{
	int found = 0;

	for (size_t i = 0; i < ls->n; i++)
		for (int k = 0; k < 3; k++)
			if (streq(ls->v[i].name, counted_links[k])) {
				out[k] = ls->v[i];
				found++;
			}
	return found == 3 ? 0 : -ENODEV;
}

/* COUNT broadcast frames of an experimental ethertype (0x88b5): the peer counts and drops them. */
static int send_frames(int veth_ifindex, int count)
{
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_ifindex = veth_ifindex, .sll_halen = 6,
				  .sll_addr = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
	char frame[60] = { 0 };
	_cleanup_close_ int raw = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);

	if (raw < 0)
		return -errno;
	memset(frame, 0xff, 6);
	frame[12] = (char)0x88;
	frame[13] = (char)0xb5;
	for (int i = 0; i < count; i++)
		if (sendto(raw, frame, sizeof(frame), 0, (struct sockaddr *)&ll, sizeof(ll)) != sizeof(frame))
			return -errno;
	return 0;
}

static int send_udp_on_lo(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	char data[100] = { 0 };
	_cleanup_close_ int rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	_cleanup_close_ int tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (rx < 0 || tx < 0 || bind(rx, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(rx, (struct sockaddr *)&a, &alen))
		return -errno;
	for (int i = 0; i < 10; i++)
		if (sendto(tx, data, sizeof(data), 0, (struct sockaddr *)&a, sizeof(a)) != sizeof(data) ||
		    recv(rx, data, sizeof(data), 0) != sizeof(data))
			return -errno;
	return 0;
}

/*
 * A veth brought up has its carrier at once, but its queueing discipline only once the
 * kernel's link watch runs (up to a second later): frames sent before that are dropped
 * uncounted. So send one frame at a time until the device counts one.
 */
static int wait_until_veth_sends(int ifindex, const char *name)
{
	for (int tries = 0; tries < 300; tries++) {
		struct mon_links ls = {};
		uint64_t before = 0, after = 0;
		int err = mon_links_read(&ls);

		for (size_t i = 0; !err && i < ls.n; i++)
			if (streq(ls.v[i].name, name))
				before = ls.v[i].tx_packets;
		if (!err)
			err = send_frames(ifindex, 1);
		if (!err)
			err = mon_links_read(&ls);
		for (size_t i = 0; !err && i < ls.n; i++)
			if (streq(ls.v[i].name, name))
				after = ls.v[i].tx_packets;
		mon_links_free(&ls);
		if (err || after > before)
			return err;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

static int write_text(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -errno;
}

static int link_counts_child(void *arg, void *result, size_t len)
{
	struct link_counts *c = result;
	struct mon_links ls = {};
	_cleanup_close_ int nl = rtnl_open();
	int err;

	if (nl < 0)
		return nl;
	/* No IPv6: its router solicitations and MLD reports would add packets of their own. */
	err = write_text("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1\n");
	if (!err)
		err = write_text("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1\n");
	if (err)
		return err;
	err = rtnl_veth_add(nl, "aegism0", "aegism1");
	for (int k = 0; !err && k < 3; k++) {
		c->ifindex[k] = link_ifindex(counted_links[k]);
		err = c->ifindex[k] < 0 ? c->ifindex[k] : rtnl_link_set_up(nl, c->ifindex[k], 1);
	}
	if (!err)
		err = wait_until_veth_sends(c->ifindex[1], counted_links[1]);
	if (!err)
		err = mon_links_read(&ls);
	if (!err)
		err = find_links(&ls, c->before);
	if (!err)
		err = send_udp_on_lo();
	if (!err)
		err = send_frames(c->ifindex[1], 7);
	if (!err)
		err = mon_links_read(&ls);
	if (!err)
		err = find_links(&ls, c->after);
	c->malformed = ls.malformed;
	mon_links_free(&ls);
	return err;
}

TEST(monitors_link_counters_from_the_kernel)
{
	struct link_counts c = {};
	const struct mon_link *b = c.before, *a = c.after;

	if (!ASSERT_OK(netns_run(link_counts_child, NULL, &c, sizeof(c), 5000), "child"))
		return;
	ASSERT_EQ(c.malformed, 0, "no malformed message from the kernel");
	for (int k = 0; k < 3; k++)
		ASSERT_EQ(a[k].ifindex, c.ifindex[k], counted_links[k]);
	/*
	 * 10 UDP datagrams of 100 bytes: + 8 UDP + 20 IPv4 = 128 bytes each on lo, which counts
	 * after eth_type_trans() has pulled its 14-byte Ethernet header (a veth counts it).
	 */
	ASSERT_EQ(a[0].tx_packets - b[0].tx_packets, 10, "lo tx_packets");
	ASSERT_EQ(a[0].rx_packets - b[0].rx_packets, 10, "lo rx_packets");
	ASSERT_EQ(a[0].tx_bytes - b[0].tx_bytes, 1280, "lo tx_bytes");
	ASSERT_EQ(a[0].rx_bytes - b[0].rx_bytes, 1280, "lo rx_bytes");
	/* 7 frames of 60 bytes out of aegism0, into aegism1. */
	ASSERT_EQ(a[1].tx_packets - b[1].tx_packets, 7, "aegism0 tx_packets");
	ASSERT_EQ(a[1].tx_bytes - b[1].tx_bytes, 420, "aegism0 tx_bytes");
	ASSERT_EQ(a[1].rx_packets - b[1].rx_packets, 0, "aegism0 received nothing");
	ASSERT_EQ(a[2].rx_packets - b[2].rx_packets, 7, "aegism1 rx_packets");
	ASSERT_EQ(a[2].rx_bytes - b[2].rx_bytes, 420, "aegism1 rx_bytes");
}

/* ---- pins of an older build ---- */

static uint32_t link_id_of(const char *pin)
{
	struct bpf_link_info info = {};
	uint32_t len = sizeof(info);
	_cleanup_close_ int fd = bpf_obj_get(pin);

	return fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) ? info.id : 0;
}

/* True once no link has this id (freed when its last reference went). */
static bool link_gone(uint32_t id)
{
	for (int i = 0; i < 100; i++) {
		int fd = bpf_link_get_fd_by_id(id);

		if (fd < 0 && errno == ENOENT)
			return true;
		if (fd >= 0)
			close(fd);
		usleep(10000);
	}
	return false;
}

/*
 * An older build left a hook running (a second link on kfree_skb, pinned as the retired
 * per-packet mon_netif_receive_skb), a program and a map this build does not have: the next
 * start detaches and unpins them, and this build's hooks stay as they were.
 */
TEST(monitors_pins_of_an_older_build_are_removed)
{
	char pin_root[64], stale_link[128], stale_prog[128], stale_map[128], kept[128];
	struct aegis_config cfg = {};
	struct monitors m = {};
	uint32_t stale_id = 0, kept_id;
	int fd;

	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/aegis-unit-monpins-%d", getpid());
	snprintf(stale_link, sizeof(stale_link), "%s/monitors/links/mon_netif_receive_skb", pin_root);
	snprintf(stale_prog, sizeof(stale_prog), "%s/monitors/progs/mon_net_dev_xmit", pin_root);
	snprintf(stale_map, sizeof(stale_map), "%s/monitors/maps/mon_if", pin_root);
	snprintf(kept, sizeof(kept), "%s/monitors/links/mon_kfree_skb", pin_root);
	cfg.pin_root = pin_root;
	cfg.max_insns = 1000000;
	cfg.mon_attach = MON_ATTACH_TP_BTF;
	cfg.mon_enabled[MON_NET] = true;
	if (!ASSERT_OK(monitors_start(&m, &cfg), "start"))
		goto out;
	fd = bpf_raw_tracepoint_open(NULL, bpfobj_prog_fd(&m.obj, "mon_kfree_skb"));
	if (!ASSERT_GE(fd, 0, "a second link on kfree_skb"))
		goto out;
	ASSERT_OK(bpf_obj_pin(fd, stale_link), "pinned as an older build's link");
	close(fd);
	stale_id = link_id_of(stale_link);
	ASSERT_OK(bpf_obj_pin(bpfobj_prog_fd(&m.obj, "mon_kfree_skb"), stale_prog), "an older program pin");
	ASSERT_OK(bpf_obj_pin(bpfobj_map_fd(&m.obj, "mon_drops"), stale_map), "an older map pin");
	kept_id = link_id_of(kept);
	monitors_stop(&m, false);	/* the agent goes, its hooks stay */

	if (!ASSERT_OK(monitors_start(&m, &cfg), "the next start"))
		goto out;
	ASSERT_TRUE(access(stale_link, F_OK) != 0, "the older build's link is unpinned");
	ASSERT_TRUE(stale_id && link_gone(stale_id), "and its hook detached");
	ASSERT_TRUE(access(stale_prog, F_OK) != 0, "the older program pin is removed");
	ASSERT_TRUE(access(stale_map, F_OK) != 0, "the older map pin is removed");
	ASSERT_TRUE(kept_id && link_id_of(kept) == kept_id, "this build's hook is adopted as it was");
	monitors_stop(&m, true);
out:
	monitors_stop(&m, false);
	bpfobj_remove_all(pin_root);
}
