#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# The guard benchmarks, side by side with their baselines (see docs/benchmarks.md):
#   1. build/bench/ns_per_packet: ns/packet under BPF_PROG_TEST_RUN (about 4 minutes)
#   2. bench/guard/flood.sh: a veth flood, packets dropped per softirq CPU-second (about 1
#      minute, a quarter of it loading 1.1M prefixes into nftables)
#   3. bench/guard/import.sh: `aegis block --file` of 1M and 1.1M prefixes into a running agent,
#      end to end (about a minute; needs build/aegis, from `make`)
# Builds build/bpf/guard.bpf.o and build/bench/ first. About 5 minutes on 2 cores (276-308 s
# measured; more when other jobs share the CPUs); --quick (small lists, short runs) takes about
# a minute and is only a smoke test of the harness.
# The results, as markdown, also go to build/bench/results-<UTC time>.md.
#
#   bench/run.sh [--quick] [--no-flood] [--no-ns] [--no-import]
#
# Not part of `make test`: needs root, a quiet machine, and takes minutes.
set -u
cd "$(dirname "$0")/.." || exit 1

quick=0
flood=1
ns=1
import=1
for a in "$@"; do
	case $a in
	--quick) quick=1 ;;
	--no-flood) flood=0 ;;
	--no-ns) ns=0 ;;
	--no-import) import=0 ;;
	*) echo "usage: bench/run.sh [--quick] [--no-flood] [--no-ns] [--no-import]" >&2; exit 2 ;;
	esac
done
if [ "$(id -u)" != 0 ]; then
	echo "bench/run.sh: needs root (BPF, network namespaces)" >&2
	exit 1
fi

start=$(date +%s)
echo "== build" >&2
# Only the guard's object from the top Makefile: the benchmark needs nothing else of the agent.
make --no-print-directory build/bpf/guard.bpf.o >&2 || exit 1
make --no-print-directory -C bench/guard >&2 || exit 1

mkdir -p build/bench
out=build/bench/results-$(date -u +%Y%m%dT%H%M%SZ).md
# The block below runs in a pipeline's subshell: failures reach us through a file.
failed=$(mktemp /tmp/aegbench-rc.XXXXXX)
trap 'rm -f "$failed"' EXIT
{
	echo "# aegis guard benchmarks"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1))," \
		"guard object built from $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- bpf include 2>/dev/null || echo ' + uncommitted changes')"
	echo
	if [ $ns = 1 ]; then
		if [ $quick = 1 ]; then
			./build/bench/ns_per_packet --repeat 200000 --runs 3 --v4 100000 --v6 10000 || echo x >>"$failed"
		else
			./build/bench/ns_per_packet || echo x >>"$failed"
		fi
		echo
	fi
	if [ $flood = 1 ]; then
		if [ $quick = 1 ]; then
			FLOOD_SECONDS=2 FLOOD_ROUNDS=1 FLOOD_V4=100000 FLOOD_V6=10000 bench/guard/flood.sh || echo x >>"$failed"
		else
			bench/guard/flood.sh || echo x >>"$failed"
		fi
	fi
	if [ $import = 1 ]; then
		echo
		if [ -x build/aegis ]; then
			IMPORT_ROUNDS=$([ $quick = 1 ] && echo 1 || echo 3) bench/guard/import.sh || echo x >>"$failed"
		else
			echo "(the import benchmark needs the agent: build/aegis is missing, run make)"
		fi
	fi
} | tee "$out"
echo
echo "bench/run.sh took $(( $(date +%s) - start )) s; results in $out"
[ ! -s "$failed" ]
