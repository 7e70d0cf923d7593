#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# What each monitor program costs per run, from the kernel's own BPF run-time statistics
# (bpf.stats: run count and time per program): every monitor on, each workload once, the
# difference of run_time / run_count per program. This is the time inside the program; the
# tracepoint's dispatch to it (measured as the cost of an empty program) comes on top.
#   bench/monitors/per_event.sh            (ATTACH=raw_tp: the raw_tp build)
. "$(dirname "$0")/lib.sh"
bench_setup bench-mon-ev "monitors:
  attach: ${ATTACH:-auto}
  runq: {enabled: true}
  mem: {alloc_failures: true}"
snap() { cli progs --json | jq -c '[.programs[] | select(.module == "monitors") | {name, run_count, run_time_ns}]'; }
before=$(snap)
"$TMP/pingpong" -n 200000 -c 1 >/dev/null
fio --name=r --filename="$LOOP" --rw=randrw --bs=4k --direct=1 --ioengine=psync --runtime=2 --time_based >/dev/null 2>&1
dd if=/dev/zero of="$SHM.dd" bs=1M count=512 status=none; rm -f "$SHM.dd"
"$TMP/udploop" -n 300000 >/dev/null
"$TMP/udploop" -n 100000 -d >/dev/null	# drops: the net monitor's kfree_skb hook
after=$(snap)
echo "| program (tracepoint) | runs | ns per run |"
echo "|---|---:|---:|"
jq -rn --argjson a "$before" --argjson b "$after" '
	$b[] as $p | ($a[] | select(.name == $p.name)) as $q |
	($p.run_count - $q.run_count) as $n | select($n > 0) |
	"| \($p.name) | \($n) | \((($p.run_time_ns - $q.run_time_ns) / $n * 10 | floor) / 10) |"'
