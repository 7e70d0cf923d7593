#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Host visibility, flows: one connection each over the test's veth pair (TCP and UDP, IPv4 and
# IPv6) and over loopback that moves exactly 10 MiB one way and 1 MiB back. Each side's flow
# must show both directions with byte counts within the headers' overhead of the payload (UDP:
# exactly, a datagram's headers being fixed), the right direction, and the owner's pid and
# exec_id, after both processes have exited. The hooks see the whole host: only the test's own
# pids are looked at. Then the flow events and frames carry them, and /metrics is well-formed.
source "$(dirname "$0")/lib.sh"
require_root

XFER="$(cd "$(dirname "$0")/../tools" && pwd)/xfer.py"
N=$((10 * 1024 * 1024))
M=$((1024 * 1024))
DGRAM=1200

if ! setup_netns; then
	fail "setup" "cannot create the namespaces and veth pair"
	exit 1
fi
write_config "visibility:
  enabled: true
  frame_interval: 1s"
if ! start_agent; then
	fail "agent starts with visibility" "$(tail -5 "$TMP/agent.log" | tr '\n' ' ')"
	exit 1
fi
pass "agent starts with visibility"

# xfer LABEL PROTO ADDR PORT WHERE: server and client in the namespaces (veth) or on the host (lo).
xfer() {
	local label=$1 proto=$2 addr=$3 port=$4 where=$5 srv=() clt=()
	[ "$where" = veth ] && srv=(ip netns exec "$NS_SRV") && clt=(ip netns exec "$NS_CLI")
	"${srv[@]}" python3 "$XFER" server "$proto" "$addr" "$port" --recv $N --send $M \
		--info "$TMP/$label.srv" 2>"$TMP/$label.srv.err" &
	local spid=$!
	for _ in $(seq 100); do grep -q ready "$TMP/$label.srv.err" 2>/dev/null && break; sleep 0.05; done
	if ! "${clt[@]}" python3 "$XFER" client "$proto" "$addr" "$port" --send $N --recv $M \
		--info "$TMP/$label.cli" 2>"$TMP/$label.cli.err"; then
		kill "$spid" 2>/dev/null
		fail "$label: transfer" "$(cat "$TMP/$label.cli.err" "$TMP/$label.srv.err" | tr '\n' ' ')"
		return 1
	fi
	wait "$spid"
}

# The exec_id of the program that ran as pid (its last image, which exited).
exec_id_of() {
	cli ps --pid "$1" --json | jq -r '[.processes[] | select(.state == "exited")][0].exec_id // "none"'
}

# check_side LABEL SIDE PROTO DIR OUT_PAYLOAD IN_PAYLOAD HMIN HMAX REMOTE_ADDR REMOTE_PORT
# The one flow of that side's pid: direction, owner, peer, and for each way
#   payload + HMIN * packets <= bytes <= payload + HMAX * packets (UDP: HMIN = HMAX).
# TCP's payload out is what the socket sent, resent bytes included (from its tcp_info: a busy
# host drops and TCP resends), and its packets out are the segments it sent, give or take the
# handshake the kernel's request socket answers and a last ACK.
check_side() {
	local label=$1 side=$2 proto=$3 dir=$4 out=$5 in=$6 hmin=$7 hmax=$8 raddr=$9 rport=${10}
	local info="$TMP/$label.$side" pid eid flows resent segs
	pid=$(jq .pid "$info")
	resent=$(jq '.bytes_retrans // 0' "$info")
	segs=$(jq '.segs_out // -1' "$info")
	eid=$(exec_id_of "$pid")
	flows=$(cli flows --pid "$pid" --json | jq -c --arg p "$proto" '[.flows[] | select(.protocol == $p)]')
	echo "$label $side: $(cat "$info") $flows" >>"$TMP/flows.log"
	if ! echo "$flows" | jq -e --arg dir "$dir" --arg eid "$eid" --argjson pid "$pid" \
		--argjson out $((out + resent)) --argjson in "$in" --argjson hmin "$hmin" --argjson hmax "$hmax" \
		--arg ra "$raddr" --argjson rp "$rport" --argjson segs "$segs" '
		length == 1 and (.[0] | .direction == $dir and .owner.pid == $pid and .owner.exec_id == $eid
		and .owner.running == false and .remote_address == $ra and .remote_port == $rp
		and .bytes_out >= $out + $hmin * .packets_out and .bytes_out <= $out + $hmax * .packets_out
		and .bytes_in >= $in + $hmin * .packets_in
		and ($segs < 0 or (.packets_out >= $segs - 2 and .packets_out <= $segs + 2)))' >/dev/null; then
		fail "$label: $side's flow ($dir, owner pid $pid exec_id $eid, bytes within headers)" \
			"resent $resent, segments out $segs: $flows"
		return 1
	fi
	pass "$label: $side's flow ($dir, owner pid $pid, exec_id, bytes within headers, after exit)"
}

check_tcp() {
	local label=$1 addr=$2 port=$3 hmin=$4 hmax=$5 cport
	cport=$(jq .port "$TMP/$label.cli")
	check_side "$label" cli tcp outbound $N $M "$hmin" "$hmax" "$addr" "$port"
	check_side "$label" srv tcp inbound $M $N "$hmin" "$hmax" "$6" "$cport"
}

# UDP: a datagram's headers are fixed, so the counts are exact.
check_udp() {
	local label=$1 addr=$2 port=$3 h=$4 cport
	cport=$(jq .port "$TMP/$label.cli")
	if ! jq -e --argjson o $(((N + DGRAM - 1) / DGRAM)) '.datagrams_in == $o' "$TMP/$label.srv" >/dev/null; then
		fail "$label: every datagram arrived" "$(cat "$TMP/$label.srv")"
		return
	fi
	check_side "$label" cli udp outbound $N $M "$h" "$h" "$addr" "$port"
	check_side "$label" srv udp inbound $M $N "$h" "$h" "$5" "$cport"
}

# IPv4: 20 + 20..60 bytes of headers a TCP segment, 28 a datagram; IPv6: 40 + ..., 48.
xfer tcp4 tcp "$ADDR_SRV" 5201 veth && check_tcp tcp4 "$ADDR_SRV" 5201 40 80 "$ADDR_CLI"
# The closed flow is in one frame (of the last few: older frames keep only their counts).
pid=$(jq .pid "$TMP/tcp4.cli")
cookie=$(cli flows --pid "$pid" --json | jq '.flows[0].socket_cookie')
out=$(cli flows --pid "$pid" --json | jq '.flows[0].bytes_out')
for _ in $(seq 30); do
	n=$(cli events --json --type frame --tail 8 | jq -s --argjson c "$cookie" --argjson o "$out" \
		'[.[] | .flows.closed[]? | select(.socket_cookie == $c and .bytes_out == $o)] | length')
	[ "$n" != 0 ] && break
	sleep 0.2
done
if [ "$n" = 1 ]; then pass "tcp4: the closed flow is in one frame, with its counts"; else fail "tcp4: the closed flow is in one frame, with its counts" "in $n frames"; fi

xfer tcp4lo tcp 127.0.0.1 $((20000 + ID % 20000)) lo &&
	check_tcp tcp4lo 127.0.0.1 $((20000 + ID % 20000)) 40 80 127.0.0.1
xfer udp4 udp "$ADDR_SRV" 5202 veth && check_udp udp4 "$ADDR_SRV" 5202 28 "$ADDR_CLI"
xfer tcp6 tcp "$ADDR6_SRV" 5203 veth && check_tcp tcp6 "$ADDR6_SRV" 5203 60 100 "$ADDR6_CLI"
xfer udp6 udp "$ADDR6_SRV" 5204 veth && check_udp udp6 "$ADDR6_SRV" 5204 48 "$ADDR6_CLI"

# TCP's states, from the tracepoint: the client went through SYN_SENT to CLOSE.
pid=$(jq .pid "$TMP/tcp4.cli")
jcheck "tcp4: the client's TCP states, closed" \
	'.flows[0] | .state == "closed" and .tcp_states[0] == "SYN_SENT" and .tcp_states[1] == "ESTABLISHED"
	 and .tcp_state == "CLOSE" and .close_reason == "tcp_close"' flows --pid "$pid" --json

# The closed flow went out as a flow event, with the same counts.
cookie=$(cli flows --pid "$pid" --json | jq '.flows[0].socket_cookie')
out=$(cli flows --pid "$pid" --json | jq '.flows[0].bytes_out')
if cli events --json --type flow --tail 5000 | jq -s -e --argjson c "$cookie" --argjson o "$out" \
	'[.[] | select(.socket_cookie == $c and .event == "closed" and .bytes_out == $o)] | length == 1' >/dev/null; then
	pass "tcp4: one closed-flow event with its counts"
else
	fail "tcp4: one closed-flow event with its counts" "cookie $cookie"
fi

curl -sf --unix-socket "$SOCK" http://l/metrics >"$TMP/metrics.txt"
check "metrics count flow evictions" grep -q '^aegis_visibility_flow_evictions_total ' "$TMP/metrics.txt"
check_metrics "metrics with visibility are well-formed Prometheus text" "$TMP/metrics.txt"
finish
