#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The policy benchmarks, side by side with their baselines (docs/policy.md, Benchmarks):
#   1. ns/packet of policy_tc_in with 10,000 rules vs an empty TC program (BPF_PROG_TEST_RUN)
#   2. ns per connect() in a selected cgroup, with and without the policy's cgroup hooks
#   3. time to apply a 10,000-rule policy through the agent (aegis policy apply)
#   4. iperf3 over a veth, with and without a 10,000-rule ingress policy in force
# About 2 minutes. Markdown on stdout and in build/bench/policy-<UTC time>.md.
#   bench/policy/run.sh [--quick]
set -u
cd "$(dirname "$0")/../.." || exit 1
quick=0
[ "${1:-}" = --quick ] && quick=1
if [ "$(id -u)" != 0 ]; then
	echo "bench/policy/run.sh: needs root (BPF, namespaces, cgroups)" >&2
	exit 1
fi
for tool in iperf3 jq; do
	command -v $tool >/dev/null || { echo "bench/policy/run.sh: needs $tool (scripts/install-deps.sh --test)" >&2; exit 1; }
done
make --no-print-directory >&2 && make --no-print-directory -C bench/policy >&2 || exit 1
BENCH=build/bench/policy_bench
AEGIS=$PWD/build/aegis
ID=$$
NS_SRV=aegbench-pol-s$ID
NS_CLI=aegbench-pol-c$ID
IF_SRV=agbs$ID
IF_CLI=agbc$ID
TMP=$(mktemp -d /tmp/aegbench-policy.XXXXXX)
PIN_ROOT=/sys/fs/bpf/aegbench-policy-$ID
SOCK=$TMP/aegis.sock
AGENT=
IPERF=
cleanup() {
	[ -n "$IPERF" ] && kill "$IPERF" 2>/dev/null
	[ -n "$AGENT" ] && kill "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null
	"$AEGIS" agent --cleanup --config "$TMP/agent.yaml" >/dev/null 2>&1
	ip netns del "$NS_SRV" 2>/dev/null
	ip netns del "$NS_CLI" 2>/dev/null
	rm -rf "$TMP" "$PIN_ROOT"
}
trap cleanup EXIT INT TERM
repeat=2000000 runs=11 connects=200000 applies=5 secs=5 rounds=3
[ $quick = 1 ] && repeat=200000 runs=3 connects=20000 applies=2 secs=2 rounds=1
out=build/bench/policy-$(date -u +%Y%m%dT%H%M%SZ).md
mkdir -p build/bench

{
echo "# aegis policy benchmarks"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), load average $(cut -d' ' -f1-3 /proc/loadavg), aegis $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
echo
echo "## 1. TC program, ns/packet (BPF_PROG_TEST_RUN)"
echo
$BENCH tc --rules 10000 --repeat $repeat --runs $runs
echo
echo "## 2. connect() in a selected cgroup"
echo
$BENCH connect --rules 10000 --connects $connects --runs $runs

# An agent on a veth pair for the last two.
ip netns add "$NS_SRV" && ip netns add "$NS_CLI"
ip link add "$IF_SRV" netns "$NS_SRV" type veth peer name "$IF_CLI" netns "$NS_CLI"
ip -n "$NS_SRV" addr add 198.18.0.1/24 dev "$IF_SRV"
ip -n "$NS_CLI" addr add 198.18.0.2/24 dev "$IF_CLI"
for ns in "$NS_SRV" "$NS_CLI"; do ip -n "$ns" link set lo up; done
ip -n "$NS_SRV" link set "$IF_SRV" up
ip -n "$NS_CLI" link set "$IF_CLI" up
cat >"$TMP/agent.yaml" <<YAML
agent: {socket: $SOCK, state_dir: $TMP/state, audit_log: $TMP/audit.jsonl, log_level: warn}
bpf: {pin_root: $PIN_ROOT, stats: false}
guard: {enabled: false}
policy:
  capacity: {rules: 16384, prefixes_v4: 16384, prefixes_v6: 4096}
YAML
nsenter --net="/run/netns/$NS_SRV" "$AEGIS" agent --config "$TMP/agent.yaml" >"$TMP/agent.log" 2>&1 &
AGENT=$!
for _ in $(seq 100); do "$AEGIS" --socket "$SOCK" status >/dev/null 2>&1 && break; sleep 0.1; done
cli() { "$AEGIS" --socket "$SOCK" "$@"; }
# The iperf3 flow (the client to port 5201) is allowed by one of the 10,000 rules.
$BENCH gen --rules 10000 --iface "$IF_SRV" --allow 198.18.0.2:5201 >"$TMP/a.yaml"
sed 's/mode: block/mode: block  # b/' "$TMP/a.yaml" >"$TMP/b.yaml"
echo 'policies: []' >"$TMP/none.yaml"
cli policy apply "$TMP/none.yaml" >/dev/null	# loads the datapath: not part of an apply's time

echo
echo "## 3. aegis policy apply of 10,000 rules (wall clock of the CLI, and the agent's phases)"
echo
echo "| apply | wall ms | compile ms | write ms | verify ms | switch ms | cells | samples verified |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for i in $(seq 1 $applies); do
	f=$TMP/$([ $((i % 2)) = 1 ] && echo a || echo b).yaml
	t0=$(date +%s%N)
	r=$(cli policy apply "$f" --json)
	t1=$(date +%s%N)
	echo "$r" | jq -r --arg i "$i" --arg w "$(( (t1 - t0) / 1000000 ))" \
		'"| \($i) | \($w) | \(.timing_ms.compile) | \(.timing_ms.write) | \(.timing_ms.verify) | \(.timing_ms.switch) | \(.verify.cells) | \(.verify.samples) |"'
done
echo
echo "target: under 1 s"

echo
echo "## 4. iperf3 over the veth (TCP, one stream, ${secs} s each, $rounds rounds in turn)"
echo
ip netns exec "$NS_SRV" iperf3 -s -B 198.18.0.1 >/dev/null 2>&1 &
IPERF=$!
sleep 0.5
iperf() { ip netns exec "$NS_CLI" iperf3 -c 198.18.0.1 -t "$secs" -J 2>/dev/null | jq '.end.sum_received.bits_per_second / 1e9'; }
declare -A gbps
run_variant() {	# none|policy
	local f=$TMP/none.yaml
	[ "$1" = policy ] && f=$TMP/a.yaml
	cli policy apply "$f" >/dev/null
	gbps[$1]+="$(iperf) "
	[ "$1" = policy ] && cli policy stats --json >"$TMP/stats.json"
}
for r in $(seq 1 $rounds); do
	# In turn, first one then the other, so that drift lands on both alike.
	if [ $((r % 2)) = 1 ]; then run_variant none; run_variant policy; else run_variant policy; run_variant none; fi
done
med() { echo "$1" | tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
none=$(med "${gbps[none]}")
pol=$(med "${gbps[policy]}")
echo "| | Gbit/s (median) | runs | vs no policy |"
echo "|---|---:|---|---:|"
echo "| no policy in force | $(printf %.2f "$none") | ${gbps[none]}| 1.00 |"
echo "| 10,000-rule ingress policy, block mode (TC ingress + egress flow recorder) | $(printf %.2f "$pol") | ${gbps[policy]}| $(echo "$pol / $none" | bc -l | xargs printf %.2f) |"
echo
jq -r '"in the last policy run the TC program decided \(.policies[0].counters.packets) packets, allowed \(.policies[0].counters.allowed), denied \(.policies[0].counters.denied + .policies[0].counters.would_deny); the egress recorder made \(.datapath.flows_recorded) flow-table writes"' "$TMP/stats.json"
} > >(tee "$out")	# not a pipeline: the block must set AGENT and IPERF for cleanup()
echo "results in $out" >&2
