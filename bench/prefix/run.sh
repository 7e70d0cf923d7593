#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Builds the objects it needs and runs the prefix-table benchmark (root: BPF_PROG_TEST_RUN):
#   sh bench/prefix/run.sh [-4 N] [-6 M] [-r repeat] [-k runs] [-s seed]
# Defaults: 1000000 IPv4 + 100000 IPv6 prefixes, repeat 1000000, median of 7 runs.
set -eu
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ]; then
	echo "the benchmark needs root (BPF_PROG_TEST_RUN)" >&2
	exit 1
fi
make --no-print-directory build/fixtures/prefix_lookup.bpf.o build/bpf/guard.bpf.o
make --no-print-directory -f bench/prefix/Makefile
exec ./build/bench/prefix_bench "$@"
