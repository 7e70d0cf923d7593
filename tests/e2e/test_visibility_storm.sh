#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Host visibility under a fork/exec storm and a flood of short connections, with a small ring
# buffer and small flow tables, while the agent is stopped (SIGSTOP) so that nothing is read:
# records must be lost and entries evicted, and every one of them counted. Then the agent runs
# on and answers. The kernel's counts include the host's other activity, so the checks are
# bounds that hold whatever else runs, and that an uncounted loss would break.
source "$(dirname "$0")/lib.sh"
require_root

ip netns add "$NS_SRV"	# the agent's home (start_agent); no traffic here
write_config_noguard "visibility:
  enabled: true
  frame_interval: 1s
  ring_buffer_kb: 64
  capacity:
    flows: 1024
    sockets: 1024"
if ! start_agent; then
	fail "agent starts with visibility" "$(tail -5 "$TMP/agent.log" | tr '\n' ' ')"
	exit 1
fi
pass "agent starts with visibility (64 KiB ring, 1024 flows and sockets)"

# COUNT short TCP connections over loopback, each with one byte: a client and a server socket.
# With PER_SECOND, at most that many a second.
connections() {
	python3 - "$1" "${2:-0}" <<'EOF'
import socket, sys, threading, time
n, rate = int(sys.argv[1]), int(sys.argv[2])
start = time.monotonic()
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(512)
def serve():
    for _ in range(n):
        c, _ = ls.accept()
        c.recv(1)
        c.close()
t = threading.Thread(target=serve)
t.start()
for i in range(n):
    if rate:
        time.sleep(max(0, start + i / rate - time.monotonic()))
    c = socket.create_connection(ls.getsockname())
    c.send(b"x")
    c.close()
t.join()
EOF
}

STORM=4000	# processes
CONNS=3000	# connections: a client and a server flow each

kill -STOP "$AGENT_PID"
loops=()
for _ in 1 2 3 4; do
	(for _ in $(seq $((STORM / 4))); do /bin/true; done) &
	loops+=($!)
done
connections "$CONNS"
wait "${loops[@]}"	# not a bare wait: the agent is a child of this shell too
kill -CONT "$AGENT_PID"

# The agent reads again: the API answers, a refresh has run.
check "the agent answers after the storm" cli ps --pid $$ --json
sleep 1.5
cli status --json >"$TMP/status.json"
kill -0 "$AGENT_PID" && pass "the agent is alive" || fail "the agent is alive" "$(tail -5 "$TMP/agent.log")"

# Ring buffer: lost ones are counted. Seen = received + lost, but for records still in flight.
for kind in exec fork exit; do
	if jq -e --arg k "$kind" '.visibility as $v | $v.losses.ringbuf_lost[$k] > 0 and
		($v.counters[$k] - $v.records[$k] - $v.losses.ringbuf_lost[$k]) as $gap | $gap >= 0 and $gap < 500' \
		"$TMP/status.json" >/dev/null; then
		pass "ring buffer: $kind records lost, and every one counted (seen = received + lost)"
	else
		fail "ring buffer: $kind records lost, and every one counted" "$(jq -c --arg k "$kind" \
			'.visibility | {seen: .counters[$k], received: .records[$k], lost: .losses.ringbuf_lost[$k]}' "$TMP/status.json")"
	fi
done

# Flow and socket tables: at least every insert beyond the capacity was evicted.
jcheck "flows: at least $((2 * CONNS - 1024)) evictions counted" \
	".visibility.losses.flow_evictions >= $((2 * CONNS - 1024)) and
	 .visibility.losses.flow_evictions <= .visibility.counters.flow_inserts + .visibility.counters.tcp_flow_inserts" \
	status --json
jcheck "sockets: at least $((2 * CONNS - 1024)) evictions counted" \
	".visibility.losses.socket_evictions >= $((2 * CONNS - 1024))" status --json

for _ in $(seq 30); do
	lost=$(cli events --json --type frame --tail 1 | jq '.losses.ringbuf_lost.exec')
	[ "${lost:-0}" -gt 0 ] && break
	sleep 0.2
done
if [ "${lost:-0}" -gt 0 ]; then pass "frames carry the losses"; else fail "frames carry the losses" "$lost"; fi
curl -sf --unix-socket "$SOCK" http://l/metrics >"$TMP/metrics.txt"
check "metrics count ring buffer losses" grep -Eq '^aegis_visibility_ringbuf_lost_total\{kind="exec"\} [1-9]' "$TMP/metrics.txt"
check "metrics count flow evictions" grep -Eq '^aegis_visibility_flow_evictions_total [1-9]' "$TMP/metrics.txt"
check_metrics "metrics stay well-formed" "$TMP/metrics.txt"

# With the agent reading, a flood that would fill the tables between two frames brings the
# next frame early, before the LRU maps evict what the agent has not read: with hour-long frames,
# 1500 connections (3000 socket inserts) through 1024 entries would evict at least 1976. At 1500
# connections a second, 300 inserts come between two of the agent's 100 ms checks, fewer than the
# 512 that bring a frame: it keeps up and nearly nothing is evicted (a bound with room for a
# slow tick).
write_config_noguard "visibility:
  enabled: true
  frame_interval: 1h
  ring_buffer_kb: 64
  capacity:
    flows: 1024
    sockets: 1024"
kill -HUP "$AGENT_PID"
for _ in $(seq 50); do
	[ "$(cli status --json | jq .visibility.frames.interval_seconds)" = 3600 ] && break
	sleep 0.2
done
jcheck "the reload sets hour-long frames" '.visibility.frames.interval_seconds == 3600' status --json
cli status --json >"$TMP/before.json"
connections 1500 1500
sleep 0.5	# the agent's next timer tick sees the last inserts
cli status --json >"$TMP/after.json"
early=$(jq -n --slurpfile a "$TMP/before.json" --slurpfile b "$TMP/after.json" \
	'$b[0].visibility.frames.early - $a[0].visibility.frames.early')
evicted=$(jq -n --slurpfile a "$TMP/before.json" --slurpfile b "$TMP/after.json" \
	'$b[0].visibility.losses.socket_evictions - $a[0].visibility.losses.socket_evictions')
if [ "$early" -ge 1 ] && [ "$evicted" -lt 500 ]; then
	pass "a flood brings frames early: $early early frames, $evicted of 3000 socket entries evicted"
else
	fail "a flood brings frames early" "early frames $early, socket evictions $evicted (>= 1976 without them)"
fi

# And it still sees what comes next.
sh -c 'echo $$ > "$0/after"; exit 2' "$TMP"
jcheck "after the storm: a new process with its exit code" \
	'[.processes[] | select(.state == "exited")][0].exit_code == 2' ps --pid "$(cat "$TMP/after")" --json
finish
