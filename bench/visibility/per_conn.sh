#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Where a short connection's cost goes with visibility on: COUNT connections of
# build/bench/visibility/connloop (connect, one byte, close; both ends on the loopback of a
# private namespace), and per connection:
#   - each visibility program's runs and run time, from the kernel's BPF statistics (bpf.stats
#     on, in this script only: they add two clock reads to every program run on the host, which
#     is why bench/visibility/run.sh measures the rates with them off);
#   - the kernel tables' inserts (vis_stats, counted by the programs) and the agent's deletes
#     (counted after a refresh that reads the tables).
# The hooks see the whole host, so another job's traffic adds to the counts: COUNT is large for
# that reason, and the runs of a program that fires once per socket show how much.
#
# Usage: bench/visibility/per_conn.sh [COUNT]     (root; after `make`; default 20000)
#        AEGIS_BIN=path measures another build; VIS_TRACING=raw_tp the raw_tp twins.
set -u
cd "$(dirname "$0")/../.." || exit 1

COUNT=${1:-20000}
TMP=$(mktemp -d /tmp/aegis-bench-visconn.XXXXXX)
PIN=/sys/fs/bpf/aegis-bench-visconn-$$
NS=aegvisconn-$$
AGENT=
. bench/agent.sh

die() { echo "bench/visibility/per_conn: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"
cp "${AEGIS_BIN:-build/aegis}" "$TMP/aegis" || die "build/aegis missing: make"
AEGIS=$TMP/aegis
make --no-print-directory -s -C bench/visibility >&2 || die "cannot build the load generators"

cleanup() {
	bench_agent_stop
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_agent_yaml "$PIN" true "guard:
  enabled: false
visibility:
  enabled: true
  tracing: ${VIS_TRACING:-auto}"
bench_agent_start || exit 1
ip netns add "$NS" && ip -n "$NS" link set lo up || die "netns"

progs() { cli progs --json | jq -c '[.programs[] | select(.module == "visibility") | {name, run_count, run_time_ns}]'; }
# The flows endpoint refreshes first: the agent's deletions of what closed are counted after it.
counters() { cli flows --pid 1 --json >/dev/null && cli status --json | jq -c .visibility.counters; }

agent_cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz * 1e6 }' "/proc/$AGENT/stat"; }
frames() { cli status --json | jq .visibility.frames.count; }
# Waits for the second frame from now: the agent has read (and reported) all that came before.
next_frames() { local f0; f0=$(frames); while [ "$(frames)" -lt $((f0 + 2)) ]; do sleep 0.2; done; }

# The agent's CPU over two frames without the workload, then over two frames with it.
next_frames
a0=$(agent_cpu_us)
next_frames
a1=$(agent_cpu_us)
p0=$(progs)
c0=$(counters)
a2=$(agent_cpu_us)
ip netns exec "$NS" build/bench/visibility/connloop -n "$COUNT" -a 127.0.0.1 -p 9901 >"$TMP/rate"
next_frames
a3=$(agent_cpu_us)
c1=$(counters)
p1=$(progs)

echo "# visibility: a short connection's cost, $COUNT connections ($(cut -d' ' -f1 "$TMP/rate") connections/s with bpf.stats on)"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm), aegis $(git rev-parse --short HEAD 2>/dev/null)" \
	"$(git diff --quiet HEAD -- bpf src include 2>/dev/null || echo '+ uncommitted changes'), tracing $(cli status --json | jq -r .visibility.tracing)"
echo
echo "| program | runs per connection | ns per run | ns per connection |"
echo "|---|---:|---:|---:|"
jq -rn --argjson a "$p0" --argjson b "$p1" --argjson n "$COUNT" '
	[$b[] as $p | ($a[] | select(.name == $p.name)) as $q |
	 {name: $p.name, runs: ($p.run_count - $q.run_count), ns: ($p.run_time_ns - $q.run_time_ns)} |
	 select(.runs > 0)] | sort_by(-.ns) as $rows |
	($rows[] | "| \(.name) | \(.runs / $n * 100 | round / 100) | \(.ns / .runs | round) | \(.ns / $n | round) |"),
	"| all | \([$rows[].runs] | add / $n * 100 | round / 100) | \([$rows[].ns] | add / ([$rows[].runs] | add) | round) | \([$rows[].ns] | add / $n | round) |"'
echo
echo "Agent: $(echo "$a0 $a1 $a2 $a3 $COUNT" | awk '{ printf "%.2f", (($4 - $3) - ($2 - $1)) / $5 }') us CPU per connection" \
	"(its CPU over the frames that read them, less its CPU over as many frames without them)."
echo
echo "| table operation (vis_stats counter) | per connection |"
echo "|---|---:|"
jq -rn --argjson a "$c0" --argjson b "$c1" --argjson n "$COUNT" '
	[["vis_socks inserts", "socket_inserts"], ["  of which TCP (each a flow)", "tcp_flow_inserts"],
	 ["vis_flows inserts", "flow_inserts"], ["vis_socks deletes (agent)", "socket_deletes"],
	 ["  of which TCP", "tcp_flow_deletes"], ["vis_flows deletes (agent)", "flow_deletes"],
	 ["failed inserts", "socket_insert_fail"], ["failed vis_flows inserts", "flow_insert_fail"],
	 ["packets of time-wait sockets", "skb_not_fullsock"], ["packets not parsed", "skb_unparsed"],
	 ["socket events without a cookie", "no_cookie"]][] as [$what, $k] |
	select($b[$k] != null) | "| \($what) (`\($k)`) | \(($b[$k] - $a[$k]) / $n * 100 | round / 100) |"'
