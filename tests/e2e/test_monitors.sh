#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Host monitors on the real kernel: a CPU hog raises a sleeper's run-queue latency; O_DIRECT
# writes and reads on a loop device show up with the right device, operation and exact bytes; a
# process OOM-killed in a memory-limited cgroup and a refused kernel allocation show up as events
# with its pid and comm; packets over the test's veth pair are counted exactly (the numbers sent,
# and as the device counts them), packets delivered are no drops and packets sent to a closed
# port are drops with reason NO_SOCKET; TCP retransmits are counted; no net hook runs per packet;
# a monitor switched off counts nothing; hooks are adopted across a restart. Tracepoints are host-wide: every check filters on this test's cgroups, devices,
# interfaces and pids, and counts differences, never totals.
. "$(dirname "$0")/lib.sh"
require_root

CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
CGNAME="aegis-mon-$ID"
LOOPDEV=
PIDS=()
on_cleanup 'for p in "${PIDS[@]}"; do kill -9 $p; done; cgroup_remove "$CG2/$CGNAME"'
on_cleanup '[ -n "$LOOPDEV" ] && losetup -d "$LOOPDEV"'

setup_netns || { fail "setup" "cannot create namespaces"; exit 1; }
# Only this test's packets on the pair: no IPv6 (router solicitations, MLD reports).
for ns in "$NS_SRV" "$NS_CLI"; do ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done
mkdir -p "$CG2/$CGNAME" || { fail "setup" "cannot create cgroup $CG2/$CGNAME"; exit 1; }

write_monitors_config() {
	cat >"$TMP/agent.yaml" <<YAML
agent:
  socket: $SOCK
  state_dir: $TMP/state
  audit_log: $TMP/audit.jsonl
bpf:
  pin_root: $PIN_ROOT
guard:
  enabled: false
monitors:
  attach: ${ATTACH:-auto}
  runq:
    enabled: true
    cgroups: [/$CGNAME]
  io:
    enabled: ${IO_ENABLED:-true}
  mem:
    alloc_failures: ${ALLOC:-true}
YAML
}
write_monitors_config
start_agent || { fail "agent starts" "$(tail -5 "$TMP/agent.log")"; exit 1; }

jcheck "every monitor is on, attached as tp_btf" \
	'.running and .attach == "tp_btf" and ([.monitors[] | .enabled] | all)' monitor --json
mon() { cli monitor "$1" --json --top "${2:-10}"; }

# ---- run queue ---------------------------------------------------------------------------
# The sleeper and the hog are real-time (SCHED_FIFO) and pinned to one CPU, so that nothing
# else on this shared machine (other tests, builds: all SCHED_OTHER) delays either: alone, the
# sleeper runs as soon as it wakes; beside the hog (a higher priority, busy 2 ms of every 3) it
# waits for the hog's busy spells. Both stop by themselves after 30 s.
CPU=$(python3 -c '
import time
def idle():
    d = {}
    for line in open("/proc/stat"):
        f = line.split()
        if f[0].startswith("cpu") and f[0][3:].isdigit():
            d[int(f[0][3:])] = int(f[4]) + int(f[5])
    return d
a = idle(); time.sleep(0.3); b = idle()
print(max(b, key=lambda c: b[c] - a[c]))')
python3 -c '
import os, sys, time
open(sys.argv[1] + "/cgroup.procs", "w").write(str(os.getpid()))
os.sched_setaffinity(0, {int(sys.argv[2])})
os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
end = time.monotonic() + 30
while time.monotonic() < end:
    time.sleep(0.002)' "$CG2/$CGNAME" "$CPU" &
SLEEPER=$!
PIDS+=("$SLEEPER")
hog() { exec python3 -c '
import os, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(2))
end = time.monotonic() + 30
while time.monotonic() < end:
    busy = time.monotonic() + 0.002
    while time.monotonic() < busy:
        pass
    time.sleep(0.001)' "$CPU"; }
sleep 0.5
cg_latency() { mon runq | jq -c --arg cg "/$CGNAME" '.cgroups[] | select(.cgroup == $cg) | .latency'; }
cpu1_switches() { mon runq | jq -c --argjson c "$CPU" '.context_switches[] | select(.cpu == $c)'; }
# Windows without and with the hogs alternate, so both see the same background, and the sums of
# each kind are compared.
acc() { jq -n --argjson s "$1" --argjson x "$2" --argjson y "$3" '{count: ($s.count + $y.count - $x.count), sum_ns: ($s.sum_ns + $y.sum_ns - $x.sum_ns)}' | jq -c .; }
alone_acc='{"count":0,"sum_ns":0}'; hogged_acc='{"count":0,"sum_ns":0}'
csw_a=$(cpu1_switches)
for round in 1 2 3; do
	a=$(cg_latency); sleep 1; b=$(cg_latency)
	alone_acc=$(acc "$alone_acc" "$a" "$b")
	hog & HOG1=$!
	PIDS+=("$HOG1")
	sleep 0.2
	[ $round = 1 ] && csw_h=$(cpu1_switches)
	c=$(cg_latency); sleep 1; d=$(cg_latency)
	[ $round = 1 ] && csw_d=$(cpu1_switches)
	hogged_acc=$(acc "$hogged_acc" "$c" "$d")
	[ $round = 3 ] && top=$(mon runq 20 | jq -c .top_tasks)
	kill -9 "$HOG1"
	wait "$HOG1" 2>/dev/null
done
csw_b=$csw_h
mean_of() { echo "$1" | jq 'if .count > 0 then (.sum_ns / .count / 1000 | floor) else -1 end'; }
alone=$(mean_of "$alone_acc"); hogged=$(mean_of "$hogged_acc")
n_alone=$(echo "$alone_acc" | jq .count)
echo "   sleeper's mean run-queue wait on CPU $CPU: ${alone} us alone ($n_alone waits), ${hogged} us beside the hog"
if [ "$n_alone" -ge 300 ] && [ "$alone" -ge 0 ] && [ "$hogged" -ge 200 ] && [ "$hogged" -ge $((alone * 3)) ]; then
	pass "a CPU hog raises the sleeper's run-queue latency (cgroup histogram: $alone -> $hogged us mean)"
else
	fail "a CPU hog raises the sleeper's run-queue latency" "alone $alone us ($n_alone waits), with the hog $hogged us"
fi
cli monitor runq --interval 1 --count 1 >"$TMP/runq.txt"
runq_text_ok() {
	grep -qE '^ +usecs +: count +distribution$' "$1" && grep -qE '^ +[0-9]+ -> [0-9]+ +: [0-9]+ +\|\*+ *\|$' "$1" &&
		grep -qE '^CPU +VOLUNTARY +INVOLUNTARY$' "$1"
}
check "aegis monitor runq --interval 1 prints a libbpf-tools histogram and the CPU table" runq_text_ok "$TMP/runq.txt"
host_hist_ok=$(mon runq | jq '.latency.count > 0 and (.latency.slots | length) == 27')
check "the whole-host histogram has samples in 27 log2 slots" test "$host_hist_ok" = true
vol=$(jq -n --argjson x "$csw_a" --argjson y "$csw_b" '$y.voluntary - $x.voluntary')
invol=$(jq -n --argjson x "$csw_h" --argjson y "$csw_d" '$y.involuntary - $x.involuntary')
if [ "$vol" -ge 150 ] && [ "$invol" -ge 100 ]; then
	pass "CPU $CPU counts the sleeper's voluntary switches ($vol in 1 s) and the hog's preemptions ($invol in 1 s)"
else
	fail "context switches per CPU" "voluntary $vol (want >= 150 in 1 s), involuntary with the hog $invol (want >= 100)"
fi
if echo "$top" | jq -e --argjson p "$SLEEPER" '.tasks | map(.pid) | index($p) != null' >/dev/null; then
	pass "the sleeper is among the top tasks by run-queue wait"
else
	fail "the sleeper is among the top tasks by run-queue wait" "$top"
fi
kill -9 "$SLEEPER"
wait "$SLEEPER" 2>/dev/null

# ---- block I/O ---------------------------------------------------------------------------
io_dev() { mon io | jq -c --arg d "$1" --arg op "$2" '[.devices[] | select(.device == $d and .op == $op)][0] // {"bytes":0,"latency":{"count":0}}'; }
if truncate -s 64M "$TMP/disk.img" && LOOPDEV=$(losetup -f --show "$TMP/disk.img" 2>"$TMP/losetup.err"); then
	dev=$(basename "$LOOPDEV")
	head -c 4194304 /dev/urandom >"$TMP/data"
	w0=$(io_dev "$dev" write); f0=$(io_dev "$dev" flush)
	dd if="$TMP/data" of="$LOOPDEV" bs=64k oflag=direct conv=fsync status=none
	sleep 0.3
	w1=$(io_dev "$dev" write); f1=$(io_dev "$dev" flush)
	wb=$(jq -n --argjson x "$w0" --argjson y "$w1" '$y.bytes - $x.bytes')
	wn=$(jq -n --argjson x "$w0" --argjson y "$w1" '$y.latency.count - $x.latency.count')
	fn=$(jq -n --argjson x "$f0" --argjson y "$f1" '$y.latency.count - $x.latency.count')
	if [ "$wb" = 4194304 ] && [ "$wn" -ge 64 ] && [ "$fn" -ge 1 ]; then
		pass "4 MiB written and fsynced to $dev: write bytes exactly 4194304 ($wn requests), $fn flush"
	else
		fail "writes to $dev counted" "write bytes $wb (want 4194304), requests $wn, flushes $fn"
	fi
	r0=$(io_dev "$dev" read)
	dd if="$LOOPDEV" of="$TMP/back" bs=64k count=64 iflag=direct status=none
	sleep 0.3
	r1=$(io_dev "$dev" read)
	rb=$(jq -n --argjson x "$r0" --argjson y "$r1" '$y.bytes - $x.bytes')
	check "reading 4 MiB back from $dev counts exactly 4194304 read bytes (got $rb)" test "$rb" = 4194304
	check "what was read is what was written" cmp -s "$TMP/data" "$TMP/back"
	lat_ok=$(echo "$w1" | jq '.latency.sum_ns > 0 and .dev != null and (.dev | startswith("7:"))')
	check "$dev's write latency histogram has a sum and the loop major (7:N)" test "$lat_ok" = true
else
	skip "block I/O on a loop device" "losetup failed: $(cat "$TMP/losetup.err") (no loop module?)"
fi

# ---- memory ------------------------------------------------------------------------------
MEMCG_ROOT=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/mounts)
if [ -n "$MEMCG_ROOT" ]; then
	MEMCG="$MEMCG_ROOT/$CGNAME"
	LIMIT_FILE=memory.limit_in_bytes
elif grep -qw memory "$CG2/cgroup.controllers" 2>/dev/null; then
	MEMCG="$CG2/$CGNAME-mem"
	LIMIT_FILE=memory.max
	echo +memory >"$CG2/cgroup.subtree_control" 2>/dev/null
fi
memcg_stalls() { mon mem | jq '.reclaim_stalls.memcg.count'; }
if [ -n "${MEMCG:-}" ] && mkdir -p "$MEMCG" && echo 32M >"$MEMCG/$LIMIT_FILE"; then
	on_cleanup "cgroup_remove '$MEMCG'"
	stalls0=$(memcg_stalls)
	bash -c 'echo $$ >"$1/cgroup.procs"; exec python3 -c "
b = []
while True:
    b.append(bytearray(1 << 20))"' _ "$MEMCG" &
	victim=$!
	wait "$victim" 2>/dev/null
	sleep 1
	ev=$(cli events --type oom_kill --json --tail 50 | jq -c --argjson p "$victim" 'select(.pid == $p)')
	if echo "$ev" | jq -e --arg cg "/$CGNAME" '.comm == "python3" and (.memcg | endswith($cg))' >/dev/null 2>&1; then
		pass "the OOM kill of pid $victim is an event with its pid, comm and memory cgroup ($MEMCG)"
	else
		fail "the OOM kill of pid $victim is an event" "got: ${ev:-nothing}; agent: $(tail -3 "$TMP/agent.log")"
	fi
	# A process fills its cgroup to the limit, then needs a larger fd table: the kernel's
	# first try (kmalloc, __GFP_NORETRY | __GFP_NOWARN) is refused by the memory cgroup.
	sh -c 'echo $$ >"$1/cgroup.procs"; exec python3 "$2" "$1" "$3"' _ "$MEMCG" "$(dirname "$0")/../tools/allocfail.py" "$LIMIT_FILE" >"$TMP/allocfail.out" 2>&1 &
	filler=$!
	wait "$filler"
	sleep 1.5
	ev=$(cli events --type alloc_failure --json --tail 50 | jq -c --argjson p "$filler" 'select(.last.pid == $p)' | tail -1)
	if echo "$ev" | jq -e '(.failures + .nowarn_failures) >= 1 and .last.comm == "python3"' >/dev/null 2>&1; then
		pass "a refused page allocation of pid $filler is an alloc_failure event ($(echo "$ev" | jq -c '.by_order'))"
	else
		fail "a refused page allocation is an alloc_failure event" "got: ${ev:-nothing}; $(cat "$TMP/allocfail.out")"
	fi
	stalls1=$(memcg_stalls)
	check "reclaim at the cgroup's limit shows as memcg reclaim stalls ($((stalls1 - stalls0)))" \
		test $((stalls1 - stalls0)) -ge 1
else
	skip "OOM kill and allocation failure events" "no memory controller found (cgroup v1 memory or v2 with memory)"
fi

# ---- network ----------------------------------------------------------------------------
# Interface counters are the device's own (netlink, read when asked): checked against the
# exact packets and bytes this test sends, and against `ip -s link`. Drops and retransmits come
# from skb:kfree_skb and tcp:tcp_retransmit_skb.
if_stats() { mon net | jq -c --arg d "$IF_SRV" '[.interfaces[] | select(.device == $d)][0] // {"rx_packets":0,"rx_bytes":0,"tx_packets":0,"tx_bytes":0}'; }
kernel_stats() { ip -n "$NS_SRV" -s -j link show "$IF_SRV" | jq -c '.[0].stats64 | {rx_packets: .rx.packets, rx_bytes: .rx.bytes, tx_packets: .tx.packets, tx_bytes: .tx.bytes}'; }
drops_of() { mon net | jq --arg d "$IF_SRV" --arg r "$1" '[.drops[] | select(.device == $d and ($r == "" or .reason == $r)) | .packets] | add // 0'; }
check "the net monitor's hooks are kfree_skb and tcp_retransmit_skb alone: nothing runs per packet" \
	test "$(cli progs --json | jq -c '[.programs[] | select(.module == "monitors") | .attached[] | select(.monitor == "net") | .tracepoint] | sort')" = '["kfree_skb","tcp_retransmit_skb"]'
# A UDP echo server: every datagram is read (consumed, not dropped) and sent back.
in_srv python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9999))
s.settimeout(30)
try:
    while True:
        d, a = s.recvfrom(2048)
        s.sendto(d, a)
except socket.timeout:
    pass' &
PIDS+=("$!")
sleep 0.5
udp_send() { in_cli python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(b"x" * 100, (sys.argv[1], int(sys.argv[3])))' "$ADDR_SRV" "$1" "$2"; }
udp_echo() { in_cli python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for i in range(int(sys.argv[2])):
    s.sendto(b"x" * 100, (sys.argv[1], 9999))
    assert s.recv(2048) == b"x" * 100' "$ADDR_SRV" "$1"; }
m0=$(if_stats); k0=$(kernel_stats); any0=$(drops_of "")
udp_echo 200 || fail "200 UDP echoes over the veth" "a reply did not come back"
sleep 0.3
m1=$(if_stats); k1=$(kernel_stats); any1=$(drops_of "")
delta() { jq -n --argjson x "$1" --argjson y "$2" '{rx_packets: ($y.rx_packets - $x.rx_packets), rx_bytes: ($y.rx_bytes - $x.rx_bytes), tx_packets: ($y.tx_packets - $x.tx_packets), tx_bytes: ($y.tx_bytes - $x.tx_bytes)}' | jq -c .; }
md=$(delta "$m0" "$m1"); kd=$(delta "$k0" "$k1")
# 100 bytes of data + 8 UDP + 20 IPv4 + 14 Ethernet = 142 bytes a packet, each way.
want='{"rx_packets":200,"rx_bytes":28400,"tx_packets":200,"tx_bytes":28400}'
if [ "$md" = "$want" ]; then
	pass "200 UDP packets in and 200 echoes out of $IF_SRV: exactly 200 packets and 28400 bytes each way"
else
	fail "packets over the veth are counted exactly" "monitor $md, want $want"
fi
check "and the same as the device's counters (ip -s link)" test "$md" = "$kd"
check "200 packets delivered and read are no drops on $IF_SRV (skb:kfree_skb sees drops only; got $((any1 - any0)))" \
	test $((any1 - any0)) = 0
d0=$(drops_of NO_SOCKET)
udp_send 50 9998
sleep 0.3
d1=$(drops_of NO_SOCKET)
check "50 packets to a closed port are 50 drops on $IF_SRV with reason NO_SOCKET (got $((d1 - d0)))" test $((d1 - d0)) = 50

# ---- switching off and on ----------------------------------------------------------------
m1=$(if_stats); d1=$(drops_of NO_SOCKET)
check "aegis monitor disable net" cli monitor disable net
check "its links are gone" test ! -e "$PIN_ROOT/monitors/links/mon_kfree_skb" -a ! -e "$PIN_ROOT/monitors/links/mon_tcp_retransmit_skb"
jcheck "a disabled monitor reports enabled: false" '.enabled == false and (has("interfaces") | not)' monitor net --json
udp_send 20 9998
sleep 0.2
check "aegis monitor enable net" cli monitor enable net
d2=$(drops_of NO_SOCKET)
check "no drop was counted while it was off ($((d2 - d1)))" test "$d2" = "$d1"
udp_send 5 9998
sleep 0.2
m3=$(if_stats); d3=$(drops_of NO_SOCKET)
check "and drops are counted again once on (5 packets: $((d3 - d2)))" test $((d3 - d2)) = 5
check "the interface counters are the device's, which went on counting (25 packets: $(( $(echo "$m3" | jq .rx_packets) - $(echo "$m1" | jq .rx_packets) )))" \
	test $(( $(echo "$m3" | jq .rx_packets) - $(echo "$m1" | jq .rx_packets) )) = 25
check "switching is audited with the caller" audit_has monitor.disable ok net

# After the exact counts: a reset from the killed client may reach the server much later.
# TCP retransmits: the server sends into a peer whose link went down.
rt() { mon net | jq '.tcp_retransmits.ipv4'; }
in_srv python3 -c '
import socket, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", 9997)); l.listen(1)
c, _ = l.accept()
time.sleep(1)
c.send(b"x" * 1000)
time.sleep(5)' &
PIDS+=("$!")
sleep 0.3
in_cli python3 -c '
import socket, time
s = socket.create_connection(("'"$ADDR_SRV"'", 9997)); time.sleep(6)' &
PIDS+=("$!")
sleep 0.5
t0=$(rt)
ip -n "$NS_CLI" link set "$IF_CLI" down
sleep 2.5
t1=$(rt)
ip -n "$NS_CLI" link set "$IF_CLI" up
check "data sent to a peer that went away is retransmitted: $((t1 - t0)) TCP retransmits counted" test $((t1 - t0)) -ge 1

# The veth may still carry the retransmit test's last segments: /metrics is read between two
# API reads, and its values must lie between theirs.
s_before=$(if_stats)
metrics=$(curl -s --unix-socket "$SOCK" http://aegis/metrics)
s_after=$(if_stats)
dup=$(echo "$metrics" | grep -E '^# (HELP|TYPE) ' | awk '{print $2, $3}' | sort | uniq -d)
check "every metric family has HELP and TYPE once" test -z "$dup"
hist_ok=$(echo "$metrics" | awk '/^aegis_runqueue_latency_seconds_bucket/ { v = $NF; if (v < last) bad = 1; last = v; n++ } /^aegis_runqueue_latency_seconds_count/ { c = $NF } END { print (!bad && n == 27 && last == c) ? "ok" : "bad" }')
check "the run-queue histogram is a Prometheus histogram (27 cumulative buckets, +Inf = count)" test "$hist_ok" = ok
metric_of() { awk -v m="$1{device=\"$IF_SRV\"}" '$1 == m { print $2 }' <<<"$metrics"; }
metric_between() {
	local v lo hi
	v=$(metric_of "$1"); lo=$(echo "$s_before" | jq ".$2"); hi=$(echo "$s_after" | jq ".$2")
	[ -n "$v" ] && [ "$v" -ge "$lo" ] && [ "$v" -le "$hi" ]
}
check "/metrics has per-interface counters in node_exporter style, with the device's values" \
	metric_between aegis_network_receive_packets_total rx_packets
check "aegis_network_transmit_bytes_total is the device's tx_bytes" metric_between aegis_network_transmit_bytes_total tx_bytes
check "/metrics has the device's drop and error counters" \
	test -n "$(metric_of aegis_network_receive_drop_total)" -a -n "$(metric_of aegis_network_transmit_errors_total)"

# ---- restart, reload, raw_tp ---------------------------------------------------------------
ids() { cli progs --json | jq -c '[.programs[] | select(.module == "monitors") | .attached[].link_id] | sort'; }
before=$(ids)
stop_agent_kill
start_agent || fail "agent restarts" "$(tail -5 "$TMP/agent.log")"
after=$(ids)
check "a restarted agent adopts the pinned hooks (same link ids)" test "$before" = "$after" -a "$before" != "[]"
IO_ENABLED=false ALLOC=false write_monitors_config
reload() { kill -HUP "$AGENT_PID"; sleep 1; }
reload
check "io's links are detached by the reload" test ! -e "$PIN_ROOT/monitors/links/mon_block_rq_issue"
check "mem.alloc_failures: false detaches the page allocator hook alone" \
	test ! -e "$PIN_ROOT/monitors/links/mon_page_alloc" -a -e "$PIN_ROOT/monitors/links/mon_mark_victim"
ATTACH=raw_tp write_monitors_config
reload
jcheck "the monitors now run as raw_tp" '.attach == "raw_tp" and .monitors.runq.enabled' monitor --json
r0=$(mon runq | jq '.latency.count'); sleep 1; r1=$(mon runq | jq '.latency.count')
check "the raw_tp build samples run-queue latency ($((r1 - r0)) waits in 1 s)" test $((r1 - r0)) -gt 0
jcheck "top tasks say why they are unavailable under raw_tp" '.top_tasks.unavailable | test("tp_btf")' monitor runq --json
finish
