#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The cost of leaving each host monitor on: every workload runs with all monitors off, then with
# one on (runq, io, mem, net), then with all on, in alternating rounds on the same agent so that
# the machine's noise falls on every state alike; two tables (best of ROUNDS, median) give ns
# per operation and the change against "off", and a third the median of each round's own change
# (a state against the "off" run of the same round: the steadiest figure when the machine's load
# drifts). Needs root, fio, a loop device. About 45 s a round.
#   bench/monitors/run.sh [ROUNDS]     (BPF_STATS=false: with bpf.stats off; STATES="off net",
#                                       WORKLOADS="udp_loopback": a subset; AEGIS_BIN=PATH:
#                                       another build of aegis)
. "$(dirname "$0")/lib.sh"
ROUNDS=${1:-5}
bench_setup bench-mon "monitors:
  mem: {alloc_failures: true}"

# mem is measured with its page allocator hook (monitors.mem.alloc_failures: true, off by
# default): without it, mem's hooks (reclaim, OOM) do not run on these workloads at all.
STATES=${STATES:-"off runq io mem net all"}
WORKLOADS=${WORKLOADS:-"pingpong_same_cpu fio_qd1 fio_qd8 dd_tmpfs udp_loopback udp_drops"}

set_state() {
	for m in runq io mem net; do
		if [ "$1" = all ] || [ "$1" = "$m" ]; then cli monitor enable "$m" >/dev/null; else cli monitor disable "$m" >/dev/null; fi
	done
}

# Each prints nanoseconds per operation (lower is better).
run_workload() {
	case $1 in
	pingpong_same_cpu) "$TMP/pingpong" -n 200000 -c 1 ;;
	pingpong_cross_cpu) "$TMP/pingpong" -n 20000 -c 0 -x 1 ;;
	fio_qd1 | fio_qd8)
		taskset -c 1 fio --name=r --filename="$LOOP" --rw=randread --bs=4k --direct=1 \
		    $([ "$1" = fio_qd1 ] && echo --ioengine=psync || echo --ioengine=libaio --iodepth=8) \
		    --runtime=2 --time_based --output-format=json 2>/dev/null |
			jq '1e9 / .jobs[0].read.iops | floor' ;;
	dd_tmpfs)
		local t0 t1
		t0=$(date +%s%N)
		taskset -c 1 dd if=/dev/zero of="$SHM.dd" bs=1M count=512 status=none
		t1=$(date +%s%N)
		rm -f "$SHM.dd"
		echo $(( (t1 - t0) / (512 * 256) )) ;;	# per 4 KiB page
	udp_loopback) taskset -c 1 "$TMP/udploop" -n 300000 ;;
	udp_drops) taskset -c 1 "$TMP/udploop" -n 200000 -d ;;	# every packet a drop
	esac
}

for r in $(seq "$ROUNDS"); do
	for s in $STATES; do
		set_state "$s"
		for w in $WORKLOADS; do
			echo "$w $s $(run_workload "$w") $r" >>"$TMP/results"
		done
	done
	echo "round $r of $ROUNDS done" >&2
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minimum() { sort -n | head -1; }

# Other tenants' work only ever adds time, so the best of N runs is the steadiest figure here;
# the medians follow for comparison.
table() {
	local stat=$1 w s v base unit
	printf "| workload (unit) |"; for s in $STATES; do printf " %s |" "$s"; done; echo
	printf "|---|"; for s in $STATES; do printf -- "---:|"; done; echo
	for w in $WORKLOADS; do
		base=$(awk -v w="$w" '$1 == w && $2 == "off" { print $3 }' "$TMP/results" | $stat)
		case $w in
		pingpong_same_cpu) unit="ns/round trip, both on one CPU" ;;
		fio_qd1) unit="ns/4k read, one at a time, loop on tmpfs" ;;
		fio_qd8) unit="ns/4k read, 8 in flight, loop on tmpfs" ;;
		dd_tmpfs) unit="ns/4k page written" ;;
		udp_loopback) unit="ns/packet" ;;
		udp_drops) unit="ns/packet, each dropped: no socket" ;;
		esac
		printf "| %s (%s) |" "$w" "$unit"
		for s in $STATES; do
			v=$(awk -v w="$w" -v s="$s" '$1 == w && $2 == s { print $3 }' "$TMP/results" | $stat)
			if [ "$s" = off ]; then printf " %s |" "$v"; else awk -v v="$v" -v b="$base" 'BEGIN { printf " %s (%+.1f%%) |", v, (v - b) * 100 / b }'; fi
		done
		echo
	done
}
# The change of each round against the same round's "off" run, as a median over the rounds.
paired_table() {
	local w s unit
	printf "| workload |"; for s in $STATES; do [ "$s" = off ] || printf " %s |" "$s"; done; echo
	printf "|---|"; for s in $STATES; do [ "$s" = off ] || printf -- "---:|"; done; echo
	for w in $WORKLOADS; do
		printf "| %s |" "$w"
		for s in $STATES; do
			[ "$s" = off ] && continue
			awk -v w="$w" -v s="$s" '$1 == w && $2 == "off" { b[$4] = $3 } $1 == w && $2 == s { v[$4] = $3 }
				END { for (r in v) if (r in b) print (v[r] - b[r]) * 100 / b[r] }' "$TMP/results" |
				median | awk '{ printf " %+.1f%% |", $1 }'
		done
		echo
	done
}
echo "kernel $(uname -r), $(nproc) CPUs, bpf.stats ${BPF_STATS:-true}, $ROUNDS rounds (ns per operation; change against off)"
echo
echo "Best of $ROUNDS:"
echo
table minimum
echo
echo "Median of $ROUNDS:"
echo
table median
echo
echo "Median of the $ROUNDS rounds' own changes against off (paired by round):"
echo
paired_table
