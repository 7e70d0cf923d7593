#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The guard against real TCP connections and IPv6 traffic: a blocked IPv4 or IPv6 source cannot
# connect while another source can; a TCP port-scoped block stops only that port; over IPv6 the
# allow list wins over a wider block, and an expired IPv6 entry passes again.
. "$(dirname "$0")/lib.sh"
require_root
setup_netns || { fail "setup" "cannot create namespaces"; exit 1; }
TOOLS="$(cd "$(dirname "$0")/.." && pwd)/tools"
ADDR_CLI2=198.18.0.3
ADDR6_CLI2=fd00:ae9::3
mac_cli=$(ip -n "$NS_CLI" -br link show "$IF_CLI" | awk '{print $3}')
ip -n "$NS_CLI" addr add "$ADDR_CLI2/24" dev "$IF_CLI"
ip -n "$NS_CLI" addr add "$ADDR6_CLI2/64" dev "$IF_CLI" nodad
ip -n "$NS_SRV" neigh replace "$ADDR_CLI2" lladdr "$mac_cli" dev "$IF_SRV" nud permanent
ip -n "$NS_SRV" neigh replace "$ADDR6_CLI2" lladdr "$mac_cli" dev "$IF_SRV" nud permanent
GUARD_MODE=block write_config
start_agent || { fail "agent starts" "$(tail -5 "$TMP/agent.log")"; exit 1; }

# Listeners on both families, two ports each.
# Started with ip netns exec itself, not through the in_srv function, so that $! is the listener
# (a function in the background is a subshell: killing it would orphan the listener).
for a in "$ADDR_SRV" "$ADDR6_SRV"; do
	ip netns exec "$NS_SRV" python3 "$TOOLS/tcplisten.py" "$a" 8080 8081 >"$TMP/listen.$a" 2>&1 &
	on_cleanup "kill $!"
done
for _ in $(seq 50); do
	[ "$(cat "$TMP"/listen.* 2>/dev/null | grep -c ready)" = 2 ] && break
	sleep 0.1
done
connect() { in_cli python3 "$TOOLS/tcpconnect.py" "$@"; }	# SRC DST PORT
ping6_from() { in_cli ping -6 -c 2 -i 0.1 -W 1 -q -I "$1" "$ADDR6_SRV" >/dev/null 2>&1; }

check "TCP connects before any block (IPv4)" connect "$ADDR_CLI" "$ADDR_SRV" 8080
check "TCP connects before any block (IPv6)" connect "$ADDR6_CLI" "$ADDR6_SRV" 8080

# A whole-source block stops TCP; another source still connects.
check "block an IPv4 source" cli block "$ADDR_CLI/32"
check_fails "the blocked IPv4 source cannot connect" connect "$ADDR_CLI" "$ADDR_SRV" 8080
check "another IPv4 source connects" connect "$ADDR_CLI2" "$ADDR_SRV" 8080
check "unblock it" cli unblock "$ADDR_CLI/32"
check "block an IPv6 source" cli block "$ADDR6_CLI/128"
check_fails "the blocked IPv6 source cannot connect" connect "$ADDR6_CLI" "$ADDR6_SRV" 8080
check_fails "nor ping" ping6_from "$ADDR6_CLI"
check "another IPv6 source connects" connect "$ADDR6_CLI2" "$ADDR6_SRV" 8080
check "and pings" ping6_from "$ADDR6_CLI2"
check "unblock it" cli unblock "$ADDR6_CLI/128"

# A TCP port-scoped block: that port only, both families.
check "block tcp port 8080 from the IPv4 source" cli block "$ADDR_CLI" --proto tcp --port 8080
check_fails "tcp/8080 is refused" connect "$ADDR_CLI" "$ADDR_SRV" 8080
check "tcp/8081 still connects" connect "$ADDR_CLI" "$ADDR_SRV" 8081
check "block tcp port 8080 from the IPv6 /64" cli block "fd00:ae9::/64" --proto tcp --port 8080
check_fails "IPv6 tcp/8080 is refused" connect "$ADDR6_CLI2" "$ADDR6_SRV" 8080
check "IPv6 tcp/8081 still connects" connect "$ADDR6_CLI2" "$ADDR6_SRV" 8081
check "unblock both" bash -c "'$AEGIS' --socket '$SOCK' unblock '$ADDR_CLI' --proto tcp --port 8080 && '$AEGIS' --socket '$SOCK' unblock fd00:ae9::/64 --proto tcp --port 8080"

# IPv6: the allow list wins over a wider block; a TTL ends on time.
check "block the IPv6 /48" cli block fd00:ae9::/48
check "allow one IPv6 address inside it" cli allow "$ADDR6_CLI/128"
check "the allowed IPv6 address connects" connect "$ADDR6_CLI" "$ADDR6_SRV" 8080
check_fails "the rest of the /48 cannot" connect "$ADDR6_CLI2" "$ADDR6_SRV" 8080
check "unblock the /48" cli unblock fd00:ae9::/48
check "unallow" cli unallow "$ADDR6_CLI/128"
check "block an IPv6 source for 2 s" cli block "$ADDR6_CLI2" --ttl 2s
check_fails "blocked before the TTL" connect "$ADDR6_CLI2" "$ADDR6_SRV" 8080
sleep 2.2
check "connects after the TTL" connect "$ADDR6_CLI2" "$ADDR6_SRV" 8080
jcheck "the drops were counted by reason" '.interfaces[0].counters.by_reason.blocklist > 0' guard --json
finish
