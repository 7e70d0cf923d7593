// SPDX-License-Identifier: GPL-2.0-only
/*
 * Loads a benchmark XDP program for an interface and holds it until SIGINT/SIGTERM, then
 * prints its counters and detaches. Used by flood.sh inside the receiving namespace.
 *
 *   xdp_attach --iface IF --prog drop              the empty XDP_DROP program
 *   xdp_attach --iface IF --prog guard [--v4 N --v6 N --seed S --mode block|observe]
 *   xdp_attach --iface IF --prog lpm|parse         lpm_only (filled) / parse_only, to take the
 *                                                  guard apart in the datapath
 *
 * The guard is loaded straight from build/bpf/guard.bpf.o with libbpf (no agent), its block
 * lists (prefix tables, written with the agent's src/prefix_table.c) filled with the same
 * generated list as ns_per_packet and `prefixes --nft`, and its guard_ifaces entry written for
 * the interface.
 *
 * It attaches at once unless --detached; SIGUSR1 attaches, SIGUSR2 detaches, so that flood.sh
 * can take turns between programs loaded once. --state FILE holds "attached" or "detached"
 * (replaced atomically after each change) for the script to wait on; "ready" on stdout means
 * loaded and filled.
 */
#include <errno.h>
#include <getopt.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "benchlib.h"

#define SLOT 1

static void usage(FILE *f)
{
	fprintf(f, "usage: xdp_attach --iface IF --prog drop|guard [--generic] [--guard-obj PATH]\n"
		   "                  [--objdir DIR] [--v4 N] [--v6 N] [--seed N] [--mode block|observe]\n"
		   "                  [--sample-every N] [--top-every N] [--detached] [--state FILE] [-v]\n");
}

static int write_state(const char *file, const char *state)
{
	char tmp[4096];
	FILE *f;

	if (!file)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%s\n", state) < 0 || fclose(f) || rename(tmp, file)) {
		bench_err("%s: %m", file);
		return -1;
	}
	return 0;
}

static int attach(int ifindex, int fd, uint32_t flags, const char *iface)
{
	int err = bpf_xdp_attach(ifindex, fd, flags | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);

	if (err)
		bench_err("%s: cannot attach XDP (%s mode): %s", iface,
			  flags == XDP_FLAGS_DRV_MODE ? "native" : "generic", strerror(-err));
	return err;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "iface", required_argument, NULL, 'i' }, { "prog", required_argument, NULL, 'p' },
		{ "guard-obj", required_argument, NULL, 'g' }, { "objdir", required_argument, NULL, 'o' },
		{ "v4", required_argument, NULL, '4' }, { "v6", required_argument, NULL, '6' },
		{ "seed", required_argument, NULL, 's' }, { "mode", required_argument, NULL, 'm' },
		{ "generic", no_argument, NULL, 'G' }, { "help", no_argument, NULL, 'h' },
		{ "detached", no_argument, NULL, 'D' }, { "state", required_argument, NULL, 'S' },
		{ "sample-every", required_argument, NULL, 'E' }, { "top-every", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state = NULL, *iface = NULL, *prog = NULL, *guard_obj = "build/bpf/guard.bpf.o", *objdir = "build/bench";
	size_t n4 = 1000000, n6 = 100000;
	uint64_t seed = BENCH_DEFAULT_SEED;
	uint32_t mode = GUARD_MODE_BLOCK_V, flags = XDP_FLAGS_DRV_MODE, sample_every = BENCH_SAMPLE_EVERY;
	uint32_t top_every = BENCH_TOP_EVERY;
	char desc[160];
	struct bpf_object *obj = NULL;
	struct guard_obj g = { 0 };
	int c, fd, ifindex, err, sig;
	bool attached = false, detached = false;
	sigset_t set;

	while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case 'i': iface = optarg; break;
		case 'p': prog = optarg; break;
		case 'g': guard_obj = optarg; break;
		case 'o': objdir = optarg; break;
		case '4': n4 = strtoul(optarg, NULL, 0); break;
		case '6': n6 = strtoul(optarg, NULL, 0); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'm': mode = !strcmp(optarg, "observe") ? GUARD_MODE_OBSERVE_V : GUARD_MODE_BLOCK_V; break;
		case 'G': flags = XDP_FLAGS_SKB_MODE; break;
		case 'D': detached = true; break;
		case 'S': state = optarg; break;
		case 'E': sample_every = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'T': top_every = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'v': bench_verbose = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!iface || !prog ||
	    (strcmp(prog, "drop") && strcmp(prog, "guard") && strcmp(prog, "lpm") && strcmp(prog, "parse"))) {
		usage(stderr);
		return 2;
	}
	ifindex = (int)if_nametoindex(iface);
	if (!ifindex) {
		bench_err("%s: no such interface in this namespace", iface);
		return 1;
	}
	bench_libbpf_logging();

	/* Signals are taken synchronously, so that the detach always happens. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);

	if (strcmp(prog, "guard")) {
		const char *file = !strcmp(prog, "drop") ? "xdp_drop" : !strcmp(prog, "lpm") ? "lpm_only" : "parse_only";
		char path[512];

		snprintf(path, sizeof(path), "%s/%s.bpf.o", objdir, file);
		obj = bench_open(path);
		if (!obj)
			return 1;
		if (!strcmp(prog, "lpm")) {
			bench_map_min_entries(obj, "lpm_v4", (uint32_t)n4);
			bench_map_min_entries(obj, "lpm_v6", (uint32_t)n6);
		}
		if (bench_load(obj, path))
			return 1;
		fd = bench_prog_fd(obj, NULL);
		if (!strcmp(prog, "lpm")) {
			struct fill_result r4, r6;
			struct guard_rule rule;
			struct prefix_set ps;

			bench_rule(&rule);
			if (prefixes_generate(&ps, n4, n6, seed) ||
			    lpm_fill(bench_map_fd(obj, "lpm_v4"), ps.v4, sizeof(*ps.v4), ps.n4, &rule, sizeof(rule), &r4) ||
			    lpm_fill(bench_map_fd(obj, "lpm_v6"), ps.v6, sizeof(*ps.v6), ps.n6, &rule, sizeof(rule), &r6))
				return 1;
			prefixes_free(&ps);
		}
	} else {
		struct fill_result r4, r6;
		struct prefix_set ps;
		double t = bench_now();

		if (prefixes_generate(&ps, n4, n6, seed)) {
			bench_err("cannot generate the block list");
			return 1;
		}
		fprintf(stderr, "xdp_attach: block list generated in %.1f s\n", bench_now() - t);
		if (guard_load(&g, guard_obj, n4, n6) || guard_fill_block(&g, &ps, &r4, &r6) ||
		    guard_write_settings(&g, sample_every, top_every, desc, sizeof(desc)) ||
		    guard_set_iface(&g, (uint32_t)ifindex, mode, SLOT))
			return 1;
		fprintf(stderr, "xdp_attach: guard_settings: %s\n", desc);
		fprintf(stderr, "xdp_attach: guard lists filled: %zu IPv4 in %.2f s, %zu IPv6 in %.2f s (%s; "
			"tables opened in %.2f s)\n", r4.entries, r4.seconds, r6.entries, r6.seconds,
			r4.how, g.open_seconds);
		prefixes_free(&ps);
		fd = g.prog;
	}

	if (!detached) {
		if (attach(ifindex, fd, flags, iface))
			return 1;
		attached = true;
	}
	if (write_state(state, attached ? "attached" : "detached"))
		goto out;
	printf("ready\n");
	fflush(stdout);

	while (sigwait(&set, &sig) == 0 && sig != SIGINT && sig != SIGTERM) {
		if (sig == SIGUSR1 && !attached) {
			if (attach(ifindex, fd, flags, iface))
				break;
			attached = true;
		} else if (sig == SIGUSR2 && attached) {
			bpf_xdp_detach(ifindex, flags, NULL);
			attached = false;
		}
		if (write_state(state, attached ? "attached" : "detached"))
			break;
	}
out:

	if (g.obj) {
		struct guard_stats gs;

		err = guard_read_stats(&g, SLOT, &gs);
		if (err)
			printf("guard counters: unreadable (%s)\n", strerror(-err));
		else
			printf("guard counters: rx_packets=%llu dropped=%llu passed=%llu malformed=%llu "
			       "blocked_by_list=%llu\n",
			       (unsigned long long)gs.rx_packets, (unsigned long long)gs.dropped,
			       (unsigned long long)gs.passed, (unsigned long long)gs.malformed,
			       (unsigned long long)gs.blocked_by_list);
	}
	if (attached)
		bpf_xdp_detach(ifindex, flags, NULL);
	if (g.obj)
		guard_close(&g);
	bpf_object__close(obj);
	return 0;
}
