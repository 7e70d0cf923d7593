#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# `aegis block --file` end to end: the wall-clock time of the CLI importing a feed file into a
# running agent (read and send the file, parse, normalise and store the entries, write the
# kernel's prefix tables, make the lists durable), the agent's own split of it (timing_ms), and
# its memory after. The target (issue 4): 1,000,000 prefixes in at most 3 s.
#
# Feeds, from bench/guard/prefixes (the benchmark's block list, same seed as ns_per_packet):
#   v4     1,000,000 IPv4 prefixes (61% /24, 34% /32, the rest /16../23)
#   mixed  the same plus 100,000 IPv6 prefixes (10% /32, 40% /48, 50% /64)
# Each round imports into a fresh agent (its pins removed by `aegis agent --cleanup` first), on
# a veth pair in a private namespace that the guard watches in observe mode.
#
# Usage: bench/guard/import.sh      (root; after `make`; IMPORT_ROUNDS=3; about a minute)
set -u
cd "$(dirname "$0")/../.." || exit 1

ROUNDS=${IMPORT_ROUNDS:-3}
TMP=$(mktemp -d /tmp/aegis-bench-import.XXXXXX)
PIN=/sys/fs/bpf/aegis-bench-import-$$
NS=aegimp-$$
AEGIS=$TMP/aegis	# a copy: a rebuild during the run must not change the agent under test
AGENT=
. bench/agent.sh

die() { echo "bench/guard/import: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"
cp build/aegis "$AEGIS" || die "build/aegis missing: make"
make --no-print-directory -s -C bench/guard >&2 || die "cannot build bench/guard"

cleanup() {
	bench_agent_stop
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

ip netns add "$NS" || die "cannot make network namespace $NS"
ip -n "$NS" link add imp0 type veth peer name imp1 || die "cannot make a veth pair in $NS"
{ ip -n "$NS" link set imp0 up && ip -n "$NS" link set imp1 up; } || die "cannot set the veth pair up"

bench_agent_yaml "$PIN" false "guard:
  interfaces: [imp0]
  mode: observe"
start_agent() {
	rm -rf "$TMP/state"
	bench_agent_start nsenter --net="/run/netns/$NS" || exit 1
}
rss_mib() { awk -v k="$1:" '$1 == k { printf "%.0f", $2 / 1024 }' "/proc/$AGENT/status"; }

build/bench/prefixes --v6 0 --feed "$TMP/v4.txt" || die "cannot write the IPv4 feed"
build/bench/prefixes --feed "$TMP/mixed.txt" || die "cannot write the mixed feed"

echo "# aegis block --file: import of the benchmark's block list"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm), $(nproc) CPUs, aegis $(git rev-parse --short HEAD 2>/dev/null)" \
	"$(git diff --quiet HEAD -- src include 2>/dev/null || echo '+ uncommitted changes'), $ROUNDS rounds per feed"
echo
echo "| feed | prefixes | round | wall s | agent: parse and store ms | agent: kernel ms | accepted | agent RSS MiB after | of it anonymous | of it the mapped tables | agent peak RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for feed in v4 mixed; do
	n=$(grep -vc '^#' "$TMP/$feed.txt")
	for r in $(seq "$ROUNDS"); do
		bench_agent_stop
		start_agent
		t0=$(date +%s.%N)
		out=$(cli block --file "$TMP/$feed.txt" --json) || die "import of $feed failed: $(echo "$out" | head -c 300)"
		t1=$(date +%s.%N)
		[ "$(echo "$out" | jq .accepted)" = "$n" ] || die "$feed: accepted $(echo "$out" | jq -c '{accepted, duplicate, rejected}') of $n"
		printf '| %s | %s | %s | %.2f | %s | %s | %s | %s | %s | %s | %s |\n' "$feed" "$n" "$r" \
			"$(echo "$t1 $t0" | awk '{ print $1 - $2 }')" "$(echo "$out" | jq .timing_ms.parse_and_store)" \
			"$(echo "$out" | jq .timing_ms.kernel)" "$(echo "$out" | jq .accepted)" "$(rss_mib VmRSS)" "$(rss_mib RssAnon)" \
			"$(rss_mib RssFile)" "$(rss_mib VmHWM)"
	done
done
echo
echo "wall s: the CLI's whole run (it reads the file and sends it to the agent, which answers once the"
echo "entries are in the kernel and on disk); the agent's two figures are its own split of that time."
echo "RSS: the agent's resident memory after the import; the prefix tables are BPF arrays the agent"
echo "maps to write them (file-backed pages of bpffs maps, also counted in the kernel's figures of docs/benchmarks.md);"
echo "anonymous is its own heap: the prefix set it keeps, the entries' records and the request's buffers."
