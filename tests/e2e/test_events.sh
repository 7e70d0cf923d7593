#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# `aegis events --follow` streams changes as they happen (long polling, no busy loop).
. "$(dirname "$0")/lib.sh"
require_root
setup_netns || { fail "setup" "cannot create namespaces"; exit 1; }
write_config
start_agent || { fail "agent starts" "$(tail -5 "$TMP/agent.log")"; exit 1; }

jcheck_lines() { jq -s -e "$1" "$2" >/dev/null 2>&1; }
cli events --tail 5 --json >"$TMP/recent.json"
check "events --tail shows the start-up records" jcheck_lines 'length == 5 and all(.[]; .type == "audit")' "$TMP/recent.json"

cli events --follow --json --tail 0 --type audit >"$TMP/follow.json" 2>"$TMP/follow.err" &
follower=$!
on_cleanup "kill $follower"
sleep 0.5
t0=$(date +%s%N)
cli block 192.0.2.44 --reason "stream me" >/dev/null
for _ in $(seq 50); do grep -q '"object":"192.0.2.44/32"' "$TMP/follow.json" && break; sleep 0.02; done
t1=$(date +%s%N)
if grep -q '"op":"block"' "$TMP/follow.json"; then pass "a follower sees a block within $(( (t1 - t0) / 1000000 )) ms"; else fail "a follower sees a block" "$(cat "$TMP/follow.json" "$TMP/follow.err")"; fi
cpu=$(ps -o times= -p "$AGENT_PID" | tr -d ' ')
sleep 2
cpu2=$(ps -o times= -p "$AGENT_PID" | tr -d ' ')
if [ "$cpu2" -le $((cpu + 1)) ]; then pass "a waiting follower costs the agent no CPU"; else fail "a waiting follower costs the agent no CPU" "$cpu -> $cpu2 s"; fi
cli unblock 192.0.2.44 >/dev/null
sleep 0.3
check "the follower keeps following" grep -q '"op":"unblock"' "$TMP/follow.json"
check "every line is one JSON event with a sequence number" jcheck_lines 'all(.[]; .seq > 0 and .type == "audit")' "$TMP/follow.json"
kill "$follower" 2>/dev/null
finish
