#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Host visibility's cost, side by side: the same workloads with visibility off (the agent runs,
# no hook attached) and on (every hook attached, the agent reading), in alternating order
# round after round so that the machine's noise falls on both alike; the figures are medians
# and their ratio on/off:
#   - a fork+exec loop (build/bench/visibility/forkexec: fork, exec /bin/true, wait): processes/s
#   - iperf3 over a veth between two namespaces: throughput (one TCP stream)
#   - short connections (build/bench/visibility/connloop: connect, one byte, close) over the
#     loopback of a private namespace: connections/s
# and what the event pipeline carries:
#   - an exec storm (FORKEXEC_WORKERS loops) for VIS_STORM_SECONDS: records received and lost
#     per second, with the default 4 MiB ring;
#   - the agent's drain rate: records read per CPU-second of the agent, from a ring filled while
#     the agent was stopped (SIGSTOP).
# Visibility is switched by a configuration reload (visibility.enabled), which attaches or
# detaches every hook; the agent stays up in both modes, with its default configuration
# otherwise: bpf.stats off, as the kernel's run-time statistics add two clock reads to every
# program run (bench/visibility/per_conn.sh turns them on to say where a connection's cost goes).
# The agent reads what a workload made at its next frame (every 10 s): with visibility on, its
# CPU is counted from the workload's start to the end of the frame after it, less what it spends
# over as long a time without the workload (its idle rate, measured over one frame interval in
# each round: it reads the records of the whole host, other jobs' included).
#
# Usage: bench/visibility/run.sh           (root; after `make`; AEGIS_BIN=path: another build)
# Knobs: VIS_ROUNDS=5, VIS_SECONDS=3 (forkexec and connloop), IPERF_SECONDS=4,
#        VIS_STORM_SECONDS=5, FORKEXEC_WORKERS=4 (storm); --quick: 2 rounds of 1 s.
set -u
cd "$(dirname "$0")/../.." || exit 1

ROUNDS=${VIS_ROUNDS:-5}
SECS=${VIS_SECONDS:-3}
IPERF_SECS=${IPERF_SECONDS:-4}
STORM_SECS=${VIS_STORM_SECONDS:-5}
WORKERS=${FORKEXEC_WORKERS:-4}
[ "${1:-}" = --quick ] && ROUNDS=2 SECS=1 IPERF_SECS=1 STORM_SECS=2

BIN=$PWD/build/bench/visibility
TMP=$(mktemp -d /tmp/aegis-bench-vis.XXXXXX)
# A copy: a rebuild during the run must not change the agent under test. AEGIS_BIN measures
# another build (a before/after with the same script).
AEGIS=$TMP/aegis
PIN=/sys/fs/bpf/aegis-bench-vis-$$
TX=aegvis-tx-$$
RX=aegvis-rx-$$
AGENT=
. bench/agent.sh

die() { echo "bench/visibility: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"
cp "${AEGIS_BIN:-build/aegis}" "$AEGIS" || die "build/aegis missing: make"
command -v iperf3 >/dev/null || die "iperf3 missing: apt-get install iperf3 (scripts/install-deps.sh --test)"
make --no-print-directory -s -C bench/visibility >&2 || die "cannot build the load generators"

cleanup() {
	bench_agent_stop
	ip netns del "$TX" 2>/dev/null
	ip netns del "$RX" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

ip netns add "$TX" && ip netns add "$RX" || die "netns"
ip link add vt$$ netns "$TX" type veth peer name vr$$ netns "$RX" || die "veth"
ip -n "$TX" addr add 10.98.0.1/24 dev vt$$
ip -n "$RX" addr add 10.98.0.2/24 dev vr$$
for ns in "$TX" "$RX"; do ip -n "$ns" link set lo up; done
ip -n "$TX" link set vt$$ up
ip -n "$RX" link set vr$$ up

config() {
	bench_agent_yaml "$PIN" false "guard:
  enabled: false
visibility:
  enabled: $1"
}

config false
bench_agent_start || exit 1

# visibility on|off: a reload, then wait until the agent says so.
visibility() {
	local want=$([ "$1" = on ] && echo true || echo false)
	config "$want"
	kill -HUP "$AGENT"
	for _ in $(seq 100); do
		[ "$(cli status --json | jq .visibility.running)" = "$want" ] && return 0
		sleep 0.1
	done
	die "visibility did not turn $1"
}

# Each workload prints: its rate, its own CPU per operation (us), and its operation count.
forkexec() { "$BIN/forkexec" -p 1 -s "$SECS" | awk -v s="$SECS" '{ print $1, $2, $1 * s }'; }
connections() {
	ip netns exec "$RX" "$BIN/connloop" -s "$SECS" -a 127.0.0.1 -p 9900 | awk -v s="$SECS" '{ print $1, $2, $1 * s }'
}
# iperf3: Gbit/s; CPU of both ends (iperf3's host_total + remote_total) per MB moved.
throughput() {
	ip netns exec "$RX" iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
	local srv=$!
	sleep 0.3
	ip netns exec "$TX" iperf3 -c 10.98.0.2 -p 5299 -t "$IPERF_SECS" -J 2>/dev/null |
		jq -r --argjson t "$IPERF_SECS" '.end | [.sum_received.bits_per_second / 1e9,
			(.cpu_utilization_percent.host_total + .cpu_utilization_percent.remote_total) / 100 * $t * 1e6
			/ (.sum_received.bytes / 1e6), .sum_received.bytes / 1e6] | @tsv'
	wait "$srv"
}
agent_cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz * 1e6 }' "/proc/$AGENT/stat"; }
now_s() { date +%s.%N; }
frames() { cli status --json | jq .visibility.frames.count; }
# Until the agent has made its next frame: it has read all that came before.
next_frame() {
	local f0
	f0=$(frames)
	for _ in $(seq 120); do
		sleep 0.25
		[ "$(frames)" -gt "$f0" ] && return 0
	done
}

WORKLOADS="forkexec throughput connections"
declare -A rate cpu agent
for r in $(seq "$ROUNDS"); do
	order="off on"
	[ $((r % 2)) = 0 ] && order="on off"
	for mode in $order; do
		visibility "$mode"
		idle=0
		if [ "$mode" = on ]; then
			next_frame	# the first frame, with every process seeded at the start
			i0=$(agent_cpu_us) t0=$(now_s)
			next_frame
			idle=$(echo "$(agent_cpu_us) $i0 $(now_s) $t0" | awk '{ print ($1 - $2) / ($3 - $4) }')
			echo "round $r on: agent idle $(echo "$idle" | awk '{ printf "%.0f", $1 }') us CPU/s" >&2
		fi
		for w in $WORKLOADS; do
			a0=$(agent_cpu_us) t0=$(now_s)
			read -r v c n <<<"$($w)"
			[ "$mode" = on ] && next_frame
			a1=$(echo "$(agent_cpu_us) $idle $(now_s) $t0" | awk '{ v = $1 - $2 * ($3 - $4); print v }')
			[ "$mode" = on ] && agent[$w]="${agent[$w]:-} $(echo "$a1 $a0 $n" | awk '{ printf "%.2f", ($1 - $2) / $3 }')"
			# The agent's CPU is part of what the workload costs (the agent reads its records).
			total=$(echo "$c $a1 $a0 $n" | awk '{ printf "%.2f", $1 + ($2 - $3) / $4 }')
			rate[$w.$mode]="${rate[$w.$mode]:-} $v"
			cpu[$w.$mode]="${cpu[$w.$mode]:-} $total"
			echo "round $r $mode $w: $v, $total us CPU/op (agent $(echo "$a1 $a0 $n" | awk '{ printf "%.2f", ($1 - $2) / $3 }'))" >&2
		done
	done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# paired "OFF-LIST" "ON-LIST": each round's on/off, then their median.
paired() {
	local r
	r=$(paste <(echo "$1" | tr ' ' '\n' | grep .) <(echo "$2" | tr ' ' '\n' | grep .) | awk '{ printf "%.3f ", $2 / $1 }')
	echo "${r}median $(echo "$r" | median)"
}

echo "# aegis host visibility: cost and capacity"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm), $(nproc) CPUs, aegis $(git rev-parse --short HEAD 2>/dev/null)" \
	"$(git diff --quiet HEAD -- bpf src include 2>/dev/null || echo '+ uncommitted changes'), $ROUNDS rounds"
echo
echo "| workload | off: rate | on: rate | rate on/off | paired | target | off: CPU/op | on: CPU/op | CPU on/off | paired |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for w in $WORKLOADS; do
	roff=$(echo "${rate[$w.off]}" | median)
	ron=$(echo "${rate[$w.on]}" | median)
	coff=$(echo "${cpu[$w.off]}" | median)
	con=$(echo "${cpu[$w.on]}" | median)
	case $w in
	forkexec) unit="processes/s"; op="us/process"; target="at most 5% slower" ;;
	throughput) unit="Gbit/s"; op="us/MB"; target="at most 5% lower" ;;
	connections) unit="connections/s"; op="us/connection"; target="at most 10% lower" ;;
	esac
	printf '| %s | %.1f %s | %.1f %s | %.3f | %.3f | %s | %.1f %s | %.1f %s | %.3f | %.3f |\n' "$w" "$roff" "$unit" \
		"$ron" "$unit" "$(echo "$ron $roff" | awk '{ print $1 / $2 }')" \
		"$(paired "${rate[$w.off]}" "${rate[$w.on]}" | sed 's/.*median //')" "$target" "$coff" "$op" "$con" "$op" \
		"$(echo "$con $coff" | awk '{ print $1 / $2 }')" "$(paired "${cpu[$w.off]}" "${cpu[$w.on]}" | sed 's/.*median //')"
done
echo
echo "The agent's CPU per operation with visibility on (its reading of the records and flows, up to"
echo "the frame after the workload, less its idle rate over that time), median:"
echo
echo "| workload | agent | share of the off CPU/op |"
echo "|---|---|---|"
for w in $WORKLOADS; do
	coff=$(echo "${cpu[$w.off]}" | median)
	a=$(echo "${agent[$w]}" | median)
	case $w in forkexec) op="us/process" ;; throughput) op="us/MB" ;; connections) op="us/connection" ;; esac
	printf '| %s | %.2f %s | %.1f%% |\n' "$w" "$a" "$op" "$(echo "$a $coff" | awk '{ print $1 / $2 * 100 }')"
done
echo
echo "Rates are medians of $ROUNDS runs each, alternating; CPU/op is the workload's own CPU time (both ends)"
echo "plus the agent's, per operation, also a median; 'paired': the median of each round's on/off."
echo "All runs, off | on (| on/off per round):"
for w in $WORKLOADS; do
	echo "- $w rate:${rate[$w.off]} |${rate[$w.on]} | $(paired "${rate[$w.off]}" "${rate[$w.on]}")"
	echo "- $w CPU/op:${cpu[$w.off]} |${cpu[$w.on]} | $(paired "${cpu[$w.off]}" "${cpu[$w.on]}")"
done

# ---- the event pipeline ----------------------------------------------------------------------
visibility on
# Kernel-seen, received and lost records, from GET /v1/visibility (lighter than /v1/status).
counters() { curl -s --unix-socket "$TMP/aegis.sock" http://l/v1/visibility | jq -r '[(.counters.exec + .counters.fork + .counters.exit),
	(.records.exec + .records.fork + .records.exit),
	(.losses.ringbuf_lost.exec + .losses.ringbuf_lost.fork + .losses.ringbuf_lost.exit)] | @tsv'; }
agent_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$AGENT/stat"; }

read -r s0 r0 l0 <<<"$(counters)"
rate=$("$BIN/forkexec" -p "$WORKERS" -s "$STORM_SECS")
sleep 0.5
read -r s1 r1 l1 <<<"$(counters)"
echo
echo "Exec storm, $WORKERS loops for ${STORM_SECS} s ($rate processes/s): $(( (s1 - s0) / STORM_SECS )) records/s" \
	"made (exec, fork, exit; the whole host), $(( (r1 - r0) / STORM_SECS )) received, $(( (l1 - l0) / STORM_SECS )) lost."

# Drain: records waiting in the ring, read by an agent that did nothing else meanwhile: the
# records it read in the second after it resumed, per CPU-second it used in that second.
read -r _ rb _ <<<"$(counters)"
kill -STOP "$AGENT"
"$BIN/forkexec" -p 2 -s 3 >/dev/null
kill -CONT "$AGENT"
c0=$(agent_cpu)
sleep 1
c1=$(agent_cpu)
read -r s3 r3 l3 <<<"$(counters)"
echo "Drain: $((r3 - rb)) records read in the second after a 3 s stop (lost while stopped: $((l3 - l1)))," \
	"$(echo "$c1 $c0" | awk '{ printf "%.2f", $1 - $2 }') agent CPU-seconds:" \
	"$(echo "$r3 $rb $c1 $c0" | awk '{ d = $3 - $4; printf "%.0f", (d > 0 ? ($1 - $2) / d : 0) }') records per agent CPU-second."
