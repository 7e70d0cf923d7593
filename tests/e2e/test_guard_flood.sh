#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# A UDP flood from one source is rate-limited, then auto-blocked with a TTL and a reason, while a
# second source still gets through; drop samples reach `aegis events` and a pcap tcpdump reads;
# blocks survive kill -9 of the agent under flood.
. "$(dirname "$0")/lib.sh"
require_root
setup_netns || { fail "setup" "cannot create namespaces"; exit 1; }
FLOOD="$(cd "$(dirname "$0")/.." && pwd)/tools/udpflood.py"
ADDR_CLI2=198.18.0.3
ip -n "$NS_CLI" addr add "$ADDR_CLI2/24" dev "$IF_CLI"
in_cli sysctl -qw "net.ipv6.conf.$IF_CLI.disable_ipv6=1"
mac_cli=$(ip -n "$NS_CLI" -br link show "$IF_CLI" | awk '{print $3}')
ip -n "$NS_SRV" neigh replace "$ADDR_CLI2" lladdr "$mac_cli" dev "$IF_SRV" nud permanent
GUARD_MODE=block write_config "  rate_limit:
    udp: {pps: 1000}
    auto_block: {after: 2s, ttl: 1m}
  sampling: {every: 1, max_per_sec: 200}"
start_agent || { fail "agent starts" "$(tail -5 "$TMP/agent.log")"; exit 1; }

cli capture -w "$TMP/drops.pcap" -c 20 --seconds 15 2>"$TMP/capture.err" &
capture=$!
on_cleanup "kill $capture"
sleep 0.3
in_cli python3 "$FLOOD" "$ADDR_CLI2" "$ADDR_SRV" 9999 4 300 >"$TMP/quiet.sent" &
quiet=$!
sent=$(in_cli python3 "$FLOOD" "$ADDR_CLI" "$ADDR_SRV" 9999 4 5000)
wait $quiet
jcheck "the flooding source was rate-limited" '.[0].counters.by_reason.rate_limit > 1000 and .[0].counters.rate_limited > 1000' stats --json
# sampling every 1 at most 200/s per CPU over ~4 s of a 5000 pkt/s flood: both kinds happen.
jcheck "stats count drop records sampled and held back by the cap" '.[0].counters.drop_records.sampled >= 20 and .[0].counters.drop_records.capped > 1000' stats --json
jcheck "the flooding source was auto-blocked with a TTL and its rate as reason" \
	"[.entries[] | select(.cidr == \"$ADDR_CLI/32\" and .origin == \"auto\" and (.reason | test(\"^auto: udp [0-9]+ pps > 1000$\")) and .ttl_remaining_seconds > 40)] | length == 1" list --json
check "the auto-block is audited" bash -c "jq -s -e '[.[] | select(.op == \"block\" and .origin == \"auto\" and .object == \"$ADDR_CLI/32\")] | length == 1' '$TMP/audit.jsonl'"
events_have() {	# TYPES JQ-FILTER: the recent events (JSON lines) of these types satisfy it
	cli events --json --type "$1" --tail 200 | jq -s -e "$2" >/dev/null
}
check "the auto-block is an event" events_have auto_block "[.[] | select(.cidr == \"$ADDR_CLI/32\")] | length == 1"
jcheck "the second source (300 pkt/s) was never over its limit" "[.sources[] | select(.source == \"$ADDR_CLI2/32\" and .over_limit_packets == 0)] | length == 1" top --json
check "the second source still gets through" in_cli ping -c 2 -W 1 -q -I "$ADDR_CLI2" "$ADDR_SRV"
jcheck "top shows the flooding source first" ".sources[0].source == \"$ADDR_CLI/32\" and .sources[0].over_limit_packets > 0" top --json
check "drop samples name the auto-block entry that matched" events_have drop \
	'[.[] | select(.src == "198.18.0.2" and .dport == 9999 and .reason == "blocklist" and .match.origin == "auto" and (.match.reason | startswith("auto: udp")))] | length > 0'
wait $capture
check "the pcap of drop samples opens in tcpdump" bash -c "tcpdump -nn -r '$TMP/drops.pcap' 2>/dev/null | grep -c 'IP $ADDR_CLI.[0-9]* > $ADDR_SRV.9999: UDP' | grep -qx 20"

# kill -9 under flood: the blocks hold and nothing leaks through.
in_cli python3 "$FLOOD" "$ADDR_CLI" "$ADDR_SRV" 9999 4 3000 >/dev/null &
flood=$!
sleep 1.5
# top samples 1 in 32 packets: the blocked flood shows as dropped, in the hundreds a second.
jcheck "top shows the blocked flood as dropped traffic, by source" \
	".sample_every == 32 and .sources[0].source == \"$ADDR_CLI/32\" and .sources[0].dropped_pps > 500 and .sources[0].passed_pps == 0" top --json
stop_agent_kill
before=$(percpu_u64_sum "$PIN_ROOT/guard/maps/guard_counters" 1 16)
sleep 1
after=$(percpu_u64_sum "$PIN_ROOT/guard/maps/guard_counters" 1 16)
wait $flood
check_fails "while the agent is dead the blocked source stays blocked" in_cli ping -c 2 -i 0.2 -W 1 -q -I "$ADDR_CLI" "$ADDR_SRV"
check "the passed counter did not move for the blocked flood" bash -c "[ $((after - before)) -lt 5 ]"
start_agent || fail "the agent restarts" "$(tail -3 "$TMP/agent.log")"
jcheck "the restarted agent still lists the auto-block" "[.entries[] | select(.cidr == \"$ADDR_CLI/32\" and .origin == \"auto\")] | length == 1" list --json
finish
