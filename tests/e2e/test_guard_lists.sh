#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Block and allow lists from the CLI, with real traffic: a blocked source is dropped and another
# passes, the allow list wins over a wider block, TTLs expire in the kernel, entries persist
# across kill -9 and --cleanup, bad input gets clear errors, feed files import with counts.
. "$(dirname "$0")/lib.sh"
require_root
setup_netns || { fail "setup" "cannot create namespaces"; exit 1; }
ADDR_CLI2=198.18.0.3
ip -n "$NS_CLI" addr add "$ADDR_CLI2/24" dev "$IF_CLI"
in_cli sysctl -qw "net.ipv6.conf.$IF_CLI.disable_ipv6=1"
FLOOD="$(cd "$(dirname "$0")/.." && pwd)/tools/udpflood.py"
mac_cli=$(ip -n "$NS_CLI" -br link show "$IF_CLI" | awk '{print $3}')
ip -n "$NS_SRV" neigh replace "$ADDR_CLI2" lladdr "$mac_cli" dev "$IF_SRV" nud permanent
GUARD_MODE=block write_config "  capacity:
    block_v4: 1000010"
start_agent || { fail "agent starts" "$(tail -5 "$TMP/agent.log")"; exit 1; }

ping_from() { in_cli ping -c 2 -i 0.1 -W 1 -q -I "$1" "$ADDR_SRV" >/dev/null 2>&1; }
jcheck "BPF run-time statistics are off unless configured" '.bpf_stats == false' progs --json

# guard_settings.empty_lists (byte 28): the lists the datapath skips because they hold nothing.
empty_lists() {
	bpftool -j map lookup pinned "$PIN_ROOT/guard/maps/guard_settings" key 0 0 0 0 |
		jq -r '[.value[28:32][] | ltrimstr("0x")] | reverse | join("")' | xargs -I{} printf '%d\n' 0x{}
}
check "with every list empty, the datapath skips all six" test "$(empty_lists)" = 63
check "block a /32 with a TTL and a reason" cli block "$ADDR_CLI/32" --ttl 1h --reason "e2e test"
check "the IPv4 block list is looked up again" test "$(empty_lists)" = 59
check_fails "the blocked source is dropped" ping_from "$ADDR_CLI"
check "another source passes" ping_from "$ADDR_CLI2"
# Exactly the two echo requests of 98 bytes: the agent adds the hits still pending on CPUs.
jcheck "list shows origin, reason, remaining TTL and exact hits" \
	"[.entries[] | select(.cidr == \"$ADDR_CLI/32\" and .origin == \"cli\" and .reason == \"e2e test\" and .ttl_remaining_seconds > 3500 and .hit_packets == 2 and .hit_bytes == 196 and .last_hit != null)] | length == 1" list blocks --json
check "the block is audited" audit_has block ok "$ADDR_CLI/32"
check "unblock" cli unblock "$ADDR_CLI/32"
check "the source passes after unblock" ping_from "$ADDR_CLI"
check "and the empty list is skipped again" test "$(empty_lists)" = 63

# The allow list wins over a wider block.
check "block the /24" cli block 198.18.0.0/24
check "allow one address inside it" cli allow "$ADDR_CLI"
check "the allowed address passes the wider block" ping_from "$ADDR_CLI"
check_fails "the rest of the /24 is dropped" ping_from "$ADDR_CLI2"
check "unblock the /24" cli unblock 198.18.0.0/24
check "unallow" cli unallow "$ADDR_CLI"

# Observe mode counts and passes.
check "switch to observe" cli guard mode observe
check "block the client again" cli block "$ADDR_CLI"
check "observe mode lets a blocked source through" ping_from "$ADDR_CLI"
jcheck "observe mode counts would-drops by reason" '.interfaces[0].counters.by_reason.blocklist >= 2 and .interfaces[0].counters.would_drop >= 2' guard --json
check "stats shows the would-drops by reason" bash -c "'$AEGIS' --socket '$SOCK' stats | grep -Eq '^ +blocklist +[1-9]'"
check "back to block mode" cli guard mode block
check "unblock" cli unblock "$ADDR_CLI"

# TTLs expire in the kernel on time, then the agent removes the entry.
check "block with a 2 s TTL" cli block "$ADDR_CLI" --ttl 2s
check_fails "dropped before the TTL" ping_from "$ADDR_CLI"
sleep 2.5
check "passes after the TTL" ping_from "$ADDR_CLI"
sleep 1
jcheck "the expired entry left the list" "[.entries[] | select(.cidr == \"$ADDR_CLI/32\")] | length == 0" list --json
check "expiry is audited" audit_has expire ok "$ADDR_CLI/32"

# Bad input: clear errors, nothing changes.
expect_error() {	# NAME PATTERN CLI-ARGS...
	local name=$1 pattern=$2 out rc
	shift 2
	out=$(cli "$@" 2>&1); rc=$?
	if [ $rc -ne 0 ] && echo "$out" | grep -q "$pattern"; then pass "$name"; else fail "$name" "rc=$rc $out"; fi
}
expect_error "an invalid IPv4 CIDR is refused" "not an IPv4 or IPv6 address" block 300.1.1.1/8
expect_error "an invalid IPv6 prefix length is refused" "prefix length '129'" block ::/129
expect_error "a bad TTL is refused" "not a duration" block 192.0.2.1 --ttl 5x
expect_error "0.0.0.0/0 needs --force" "add --force" block 0.0.0.0/0
expect_error "::/0 needs --force" "add --force" block ::/0
ip -n "$NS_SRV" route add default via "$ADDR_CLI2" dev "$IF_SRV"
expect_error "the default gateway needs --force" "default gateway 198.18.0.3" block 198.18.0.0/16
ip -n "$NS_SRV" route del default
out=$(curl -s -w ' %{http_code}' --unix-socket "$SOCK" -X POST http://l/v1/guard/block -d '{"cidr": "192.0.2.9", "tll": "1m"}')
if echo "$out" | tr '\n' ' ' | grep -q "unknown field 'tll'.* 400 *$"; then pass "an API body with a misspelt field is refused"; else fail "an API body with a misspelt field is refused" "$out"; fi
jcheck "and nothing was blocked" '[.entries[] | select(.cidr == "192.0.2.9/32")] | length == 0' list --json
expect_error "unblocking what is not listed says so" "not in the block list" unblock 192.0.2.77
expect_error "a CIDR and --file together are refused" "one CIDR or --file" block 192.0.2.1 --file /dev/null
out=$(cli block 198.51.100.7/24 2>&1)
if echo "$out" | grep -q "normalised to 198.51.100.0/24"; then pass "host bits are normalised with a note"; else fail "host bits are normalised with a note" "$out"; fi
check "unblock the normalised prefix" cli unblock 198.51.100.0/24
check "--force blocks ::/0" cli block ::/0 --force
check "and it can be removed" cli unblock ::/0

# A protocol/port-scoped block: UDP to one port is dropped, the source's other traffic passes.
COUNT="$(cd "$(dirname "$0")/.." && pwd)/tools/udpcount.py"
udp_counts() {	# sends 20 datagrams to each of ports 5353 and 5354; prints {"5353": n, "5354": m}
	in_srv python3 "$COUNT" "$ADDR_SRV" 2 5353 5354 2>"$TMP/count.err" >"$TMP/count.json" &
	local pid=$!
	for _ in $(seq 50); do grep -q ready "$TMP/count.err" 2>/dev/null && break; sleep 0.05; done
	in_cli python3 "$FLOOD" "$ADDR_CLI" "$ADDR_SRV" 5353 0.4 50 >/dev/null
	in_cli python3 "$FLOOD" "$ADDR_CLI" "$ADDR_SRV" 5354 0.4 50 >/dev/null
	wait $pid
	cat "$TMP/count.json"
}
check "block the client for udp port 5353 only" cli block "$ADDR_CLI" --proto udp --port 5353 --reason "scoped test"
counts=$(udp_counts)
if echo "$counts" | jq -e '.["5353"] == 0 and .["5354"] >= 15' >/dev/null; then
	pass "a scoped block drops UDP to its port and passes UDP to another"
else
	fail "a scoped block drops UDP to its port and passes UDP to another" "$counts"
fi
check "ping from a source with a scoped block passes" ping_from "$ADDR_CLI"
jcheck "list shows the scope and its hits" \
	"[.entries[] | select(.cidr == \"$ADDR_CLI/32\" and .proto == \"udp\" and .port == 5353 and .hit_packets >= 15)] | length == 1" list blocks --json
expect_error "unblock without the scope names the entry missing" "not in the block list" unblock "$ADDR_CLI"
expect_error "a scope on the allow list is refused" "cannot be scoped" allow "$ADDR_CLI" --proto udp --port 53
expect_error "a port without a protocol is refused" "needs both a protocol" block "$ADDR_CLI" --port 53
expect_error "an ICMP scope is refused" "expected tcp or udp" block "$ADDR_CLI" --proto icmp --port 1
expect_error "port 0 is refused" "expected 1..65535" block "$ADDR_CLI" --proto tcp --port 0
check "unblock the scoped entry" cli unblock "$ADDR_CLI" --proto udp --port 5353
counts=$(udp_counts)
if echo "$counts" | jq -e '.["5353"] >= 15' >/dev/null; then pass "after unblock the port gets through"; else fail "after unblock the port gets through" "$counts"; fi

# Feed files: FireHOL and Spamhaus DROP formats, with duplicate and bad lines.
cat >"$TMP/feed.txt" <<FEED
# FireHOL-style header

#
203.0.113.0/24
203.0.113.0/24
198.51.100.0/24 ; SBL123456
2001:db8:1::/48
this is not a cidr
10.1.2.3/33
$ADDR_CLI2/32
FEED
out=$(cli block --file "$TMP/feed.txt" --reason "feed test" --ttl 1h --json)
if echo "$out" | jq -e '.lines == 7 and .accepted == 4 and .duplicate == 1 and .rejected == 2 and .rejects[0].line == 8 and .rejects[1].line == 9' >/dev/null; then
	pass "a feed file imports with accepted, duplicate and rejected counts"
else
	fail "a feed file imports with counts" "$out"
fi
check_fails "a source from the feed is dropped" ping_from "$ADDR_CLI2"
jcheck "feed entries have origin file" '[.entries[] | select(.origin == "file")] | length == 4' list --json
check "the import is audited with its counts" bash -c "jq -s -e '[.[] | select(.op == \"block.import\" and .accepted == 4 and .rejected == 2)] | length == 1' '$TMP/audit.jsonl'"

# Persistence: kill -9 keeps the datapath; --cleanup then restart restores from the state dir.
# A change is on disk before the CLI returns: one made just before kill -9 survives too.
check "block a prefix just before kill -9" cli block 192.0.2.200/32 --reason "just before"
stop_agent_kill
check_fails "blocks hold while the agent is dead" ping_from "$ADDR_CLI2"
check "cleanup removes the kernel objects" "$AEGIS" agent --cleanup --config "$TMP/agent.yaml"
check "with nothing in the kernel the source passes" ping_from "$ADDR_CLI2"
start_agent || fail "agent restarts" "$(tail -5 "$TMP/agent.log")"
check_fails "a restarted agent restores the blocks from its state directory" ping_from "$ADDR_CLI2"
jcheck "a block made just before kill -9 is restored" \
	'[.entries[] | select(.cidr == "192.0.2.200/32" and .reason == "just before")] | length == 1' list --json
jcheck "restored entries keep their reason and TTL" \
	"[.entries[] | select(.cidr == \"$ADDR_CLI2/32\" and .reason == \"feed test\" and .ttl_remaining_seconds > 3000)] | length == 1" list --json

# A million prefixes from a file (the timing is a benchmark; here it must just work).
python3 - "$TMP/big.txt" <<'PY'
import random, sys
random.seed(7)
with open(sys.argv[1], "w") as f:
    seen = set()
    while len(seen) < 1000000:
        a = random.getrandbits(32) & 0x7fffffff | 0x01000000
        if (a >> 24) in (198, 127, 10):
            continue
        seen.add(a)
    for a in seen:
        f.write("%d.%d.%d.%d\n" % (a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255))
PY
start=$(date +%s.%N)
out=$(cli block --file "$TMP/big.txt" --json)
secs=$(echo "$(date +%s.%N) - $start" | bc)
if echo "$out" | jq -e '.accepted == 1000000 and .rejected == 0' >/dev/null; then
	pass "1,000,000 prefixes import ($secs s; timing $(echo "$out" | jq -c .timing_ms))"
else
	fail "1,000,000 prefixes import" "$(echo "$out" | head -c 300)"
fi
jcheck "the list reports a million and more entries" '.total >= 1000000 and (.entries | length) == 5' list blocks --limit 5 --json
jcheck "progs counts the million entries without walking the map" '[.maps[] | select(.name == "block_v4_rules" and .entries >= 1000000)] | length == 1' progs --json
check "/metrics stays fast with a million entries" bash -c "s=\$(date +%s%N); curl -sf --unix-socket '$SOCK' http://l/metrics | grep -q 'aegis_bpf_map_entries{module=\"guard\",map=\"block_v4_rules\"} 10000' && [ \$(( (\$(date +%s%N) - s) / 1000000 )) -lt 500 ]"
check "/metrics counts list entries by list and family" bash -c "curl -sf --unix-socket '$SOCK' http://l/metrics | grep -Eq '^aegis_guard_list_entries\{list=\"block\",family=\"ipv4\",scoped=\"false\"\} 100000[0-9]$'"
check "/metrics counts list hits per interface" bash -c "curl -sf --unix-socket '$SOCK' http://l/metrics | grep -Eq '^aegis_guard_blocked_by_list_total\{interface=\"$IF_SRV\",mode=\"block\"\} [1-9]'"
seq 1 20 | sed 's/^/192.0.2./' >"$TMP/more.txt"
out=$(cli block --file "$TMP/more.txt" 2>&1); rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q "IPv4 block list is full (capacity 1000010): raise guard.capacity.block_v4"; then pass "a full list is a clear error naming the setting"; else fail "a full list is a clear error naming the setting" "rc=$rc $out"; fi
finish
