#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# What each monitor program costs per run, from the kernel's own BPF run-time statistics
# (bpf.stats: run count and time per program): every monitor on, each workload once, the
# difference of run_time / run_count per program. This is the time inside the program; the
# tracepoint's dispatch to it (measured as the cost of an empty program) comes on top.
#   bench/monitors/per_event.sh            (ATTACH=raw_tp: the raw_tp build)
set -u
cd "$(dirname "$0")/../.."
TMP=$(mktemp -d /tmp/aegis-bench-mon-ev.XXXXXX)
cp build/aegis "$TMP/aegis" || exit 1
AEGIS=$TMP/aegis
SOCK=$TMP/aegis.sock
LOOP=
AGENT=
cleanup() {
	[ -n "$AGENT" ] && kill "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null
	[ -n "$LOOP" ] && losetup -d "$LOOP"
	"$AEGIS" agent --cleanup --config "$TMP/agent.yaml" >/dev/null 2>&1
	rm -rf "$TMP" /dev/shm/aegis-bench-mon-ev-$$.img /dev/shm/aegis-bench-mon-ev-$$.dd
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cc -O2 -Wall -o "$TMP/pingpong" bench/monitors/pingpong.c && cc -O2 -Wall -o "$TMP/udploop" bench/monitors/udploop.c || exit 1
truncate -s 256M /dev/shm/aegis-bench-mon-ev-$$.img
LOOP=$(losetup -f --show /dev/shm/aegis-bench-mon-ev-$$.img) || exit 1
cat >"$TMP/agent.yaml" <<YAML
agent:
  socket: $SOCK
  state_dir: $TMP/state
  audit_log: $TMP/audit.jsonl
  log_level: warn
bpf:
  pin_root: /sys/fs/bpf/aegis-bench-mon-ev-$$
  stats: true
guard:
  enabled: false
monitors:
  attach: ${ATTACH:-auto}
  runq: {enabled: true}
  mem: {alloc_failures: true}
YAML
"$AEGIS" agent --config "$TMP/agent.yaml" >"$TMP/agent.log" 2>&1 &
AGENT=$!
for _ in $(seq 50); do "$AEGIS" --socket "$SOCK" status >/dev/null 2>&1 && break; sleep 0.1; done
snap() { "$AEGIS" --socket "$SOCK" progs --json | jq -c '[.programs[] | select(.module == "monitors") | {name, run_count, run_time_ns}]'; }
before=$(snap)
"$TMP/pingpong" -n 200000 -c 1 >/dev/null
fio --name=r --filename="$LOOP" --rw=randrw --bs=4k --direct=1 --ioengine=psync --runtime=2 --time_based >/dev/null 2>&1
dd if=/dev/zero of=/dev/shm/aegis-bench-mon-ev-$$.dd bs=1M count=512 status=none
"$TMP/udploop" -n 300000 >/dev/null
after=$(snap)
echo "| program (tracepoint) | runs | ns per run |"
echo "|---|---:|---:|"
jq -rn --argjson a "$before" --argjson b "$after" '
	$b[] as $p | ($a[] | select(.name == $p.name)) as $q |
	($p.run_count - $q.run_count) as $n | select($n > 0) |
	"| \($p.name) | \($n) | \((($p.run_time_ns - $q.run_time_ns) / $n * 10 | floor) / 10) |"'
