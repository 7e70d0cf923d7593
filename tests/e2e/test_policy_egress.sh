#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Egress policy on cgroups the test creates, with real connect() and sendto() calls: a process in
# the cgroup gets EPERM at once on a denied TCP connect (IPv4 and IPv6), a process outside
# connects; UDP to a denied peer fails with EPERM and nothing arrives; the event names the
# process and the cgroup; observe mode counts every datagram it lets through; a policy on a
# cgroup inside wins there; replies of connections into the cgroup leave under default deny;
# `aegis events --follow` streams the denies; `aegis agent --no-cg` leaves the cgroups alone.
. "$(dirname "$0")/lib.sh"
require_root
setup_netns || { fail "setup" "cannot create namespaces"; exit 1; }
TOOLS="$(cd "$(dirname "$0")/.." && pwd)/tools"
PROBE="$TOOLS/netprobe.py"
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
if [ -z "$CG2" ]; then
	skip all "no cgroup v2 mount"
	exit 0
fi
CG="$CG2/aegis-e2e-policy-$ID"
mkdir -p "$CG/inner" || { fail "setup" "cannot create $CG"; exit 1; }
on_cleanup "cgroup_remove $CG"
write_config "  enabled: false
policy:
  events: {max_per_sec: 100000, burst: 100000}"
start_agent || { fail "agent starts" "$(tail -5 "$TMP/agent.log")"; exit 1; }

serve() {	# NS ARGS...: a server for the whole test ($! is the server: ip netns exec execs it)
	local ns=$1
	shift
	ip netns exec "$ns" python3 "$PROBE" "$@" 120 2>/dev/null &
	on_cleanup "kill $!"
}
serve "$NS_CLI" serve-tcp "$ADDR_CLI" 7070
serve "$NS_CLI" serve-tcp "$ADDR_CLI" 7072
serve "$NS_CLI" serve-tcp "$ADDR6_CLI" 7070
# A server in the cgroup, for replies. The cgroup is joined before `ip netns exec`, which mounts
# a sysfs of its own over /sys, and with it the cgroup v2 mount below it.
bash -c "echo \$\$ > '$CG/cgroup.procs' && exec ip netns exec '$NS_SRV' python3 '$PROBE' serve-tcp $ADDR_SRV 8081 120" 2>/dev/null &
on_cleanup "kill $!"
sleep 0.3

# run_in CGROUP|- ARGS...: netprobe in the server's namespace, in the cgroup (- : not in it).
run_in() {
	local cg=$1
	shift
	if [ "$cg" = - ]; then
		in_srv python3 "$PROBE" "$@"
	else
		bash -c "echo \$\$ > '$cg/cgroup.procs' && exec ip netns exec '$NS_SRV' python3 '$PROBE' $*"
	fi
}
expect() {	# NAME JQ-FILTER CGROUP|- ARGS...
	local name=$1 filter=$2 out
	shift 2
	out=$(run_in "$@")
	# jq -e accepts empty input: a probe that did not run must not pass.
	if [ -n "$out" ] && echo "$out" | jq -e "$filter" >/dev/null 2>&1; then pass "$name"; else fail "$name" "${out:-no output}"; fi
}
udp_arrived() {	# CGROUP|- PORT N: N datagrams from the cgroup to the client; prints how many arrived
	in_cli python3 "$TOOLS/udpcount.py" "$ADDR_CLI" 1.2 "$2" 2>"$TMP/count.err" >"$TMP/count.json" &
	local pid=$!
	for _ in $(seq 50); do grep -q ready "$TMP/count.err" 2>/dev/null && break; sleep 0.05; done
	run_in "$1" udp "$ADDR_CLI" "$2" "$3" >"$TMP/send.json"
	wait $pid
	jq -r ".[\"$2\"]" "$TMP/count.json"
}

cat >"$TMP/egress.yaml" <<YAML
policies:
  - name: app
    mode: block
    selector:
      cgroups: [$CG]
    default: allow
    rules:
      - {direction: egress, action: deny, protocol: tcp, ports: [7070], peers: [$ADDR_CLI/32, "$ADDR6_CLI/128"]}
      - {direction: egress, action: deny, protocol: udp, ports: [5353], peers: [$ADDR_CLI/32]}
  - name: inner
    mode: block
    selector:
      cgroups: [${CG#"$CG2"/}/inner]
    default: allow
    rules:
      - {direction: egress, action: deny, protocol: tcp, ports: [7072]}
YAML
check "apply the egress policies" cli policy apply "$TMP/egress.yaml"
jcheck "the cgroup programs are attached once, on the outer cgroup" \
	"[.attachments.cgroups[].path] == [\"$CG\"]" policy --json

expect "in the cgroup: a denied TCP connect fails at once with EPERM" '.errno == "EPERM" and .ms < 500' "$CG" tcp "$ADDR_CLI" 7070
expect "IPv6 too (connect6)" '.errno == "EPERM"' "$CG" tcp "$ADDR6_CLI" 7070
expect "outside the cgroup the same connect succeeds" '.errno == 0' - tcp "$ADDR_CLI" 7070
expect "in the cgroup another port connects" '.errno == 0' "$CG" tcp "$ADDR_CLI" 7072
expect "in the cgroup UDP sendto a denied peer fails with EPERM" '.errno == "EPERM" and .sent == 0' "$CG" udp "$ADDR_CLI" 5353 3
expect "connected UDP: the connect fails with EPERM" '.errno == "EPERM"' "$CG" udp-connected "$ADDR_CLI" 5353 3
n=$(udp_arrived "$CG" 5353 20)
if [ "$n" = 0 ]; then pass "UDP to the denied peer: nothing arrives"; else fail "UDP to the denied peer: nothing arrives" "$n arrived"; fi
n=$(udp_arrived - 5353 20)
if [ "$n" = 20 ]; then pass "UDP from outside the cgroup arrives"; else fail "UDP from outside the cgroup arrives" "$n of 20"; fi

# The inner cgroup's own policy decides there (the nearest selected cgroup wins).
expect "in the inner cgroup its policy denies 7072" '.errno == "EPERM"' "$CG/inner" tcp "$ADDR_CLI" 7072
expect "in the inner cgroup 7070 connects (the outer policy does not apply there)" '.errno == 0' "$CG/inner" tcp "$ADDR_CLI" 7070

sleep 0.3
evs=$(curl -sf --unix-socket "$SOCK" "http://l/v1/events?type=policy&limit=10000")
if echo "$evs" | jq -e "[.events[] | select(.hook == \"connect4\" and .verdict == \"deny\" and .policy == \"app\" and .rule == 0 and .dst == \"$ADDR_CLI\" and .dport == 7070 and .comm == \"python3\" and .pid > 0 and .cgroup == \"$CG\" and .direction == \"egress\")] | length >= 1" >/dev/null; then
	pass "the deny event names the policy, rule, peer, process and cgroup"
else
	fail "the deny event names the policy, rule, peer, process and cgroup" "$(echo "$evs" | jq -c '.events[0]')"
fi
# Two connects (IPv4, IPv6) and three UDP sends refused (netprobe stops at the first error).
jcheck "stats: refused connects and sends counted as denied" \
	'[.policies[] | select(.name == "app") | .rules[] | select(.index == 0) | .counters.denied] == [2] and ([.policies[] | select(.name == "app") | .rules[] | select(.index == 1) | .counters.denied] == [3])' \
	policy stats --json

# The live stream: `aegis events --follow --json` prints the deny as it happens.
"$AEGIS" --socket "$SOCK" events --follow --json --type policy --tail 0 >"$TMP/follow.jsonl" 2>&1 &
fpid=$!
sleep 0.3
run_in "$CG" tcp "$ADDR_CLI" 7070 >/dev/null
for _ in $(seq 30); do grep -q connect4 "$TMP/follow.jsonl" && break; sleep 0.1; done
kill "$fpid"
wait "$fpid" 2>/dev/null
check "events --follow --json streams the deny as it happens" jq -e -s \
	"[.[] | select(.type == \"policy\" and .hook == \"connect4\" and .verdict == \"deny\" and .dport == 7070 and .generation == 1)] | length == 1" "$TMP/follow.jsonl"

# Observe: nothing refused, every datagram counted.
check "app to observe" cli policy mode app observe
before=$(cli policy stats --json | jq '.policies[] | select(.name == "app") | .rules[] | select(.index == 1) | .counters.would_deny')
n=$(udp_arrived "$CG" 5353 25)
after=$(cli policy stats --json | jq '.policies[] | select(.name == "app") | .rules[] | select(.index == 1) | .counters.would_deny')
if [ "$n" = 25 ] && [ $((after - before)) = 25 ]; then
	pass "observe: 25 datagrams arrive and 25 would_deny are counted"
else
	fail "observe: 25 datagrams arrive and 25 would_deny are counted" "arrived $n, counted $((after - before))"
fi
expect "observe: the denied connect succeeds" '.errno == 0' "$CG" tcp "$ADDR_CLI" 7070

# Default deny egress: the cgroup cannot open connections, but its server answers clients.
cat >"$TMP/deny.yaml" <<YAML
policies:
  - name: app
    mode: block
    selector: {cgroups: [$CG]}
    default: deny
YAML
check "apply default deny for the cgroup" cli policy apply "$TMP/deny.yaml"
expect "default deny: a connect out fails with EPERM" '.errno == "EPERM"' "$CG" tcp "$ADDR_CLI" 7072
out=$(in_cli python3 "$PROBE" get-tcp "$ADDR_SRV" 8081)
if echo "$out" | jq -e '.answer == "ok"' >/dev/null; then
	pass "default deny: the server in the cgroup answers a client (replies leave)"
else
	fail "default deny: the server in the cgroup answers a client (replies leave)" "$out"
fi
check "rollback" cli policy rollback
expect "rolled back: the connect on 7072 works again" '.errno == 0' "$CG" tcp "$ADDR_CLI" 7072
# --no-cg: the policy stays in force, but no cgroup program is attached (egress not enforced).
check "apply the egress policies again" cli policy apply "$TMP/egress.yaml"
expect "enforced: 7070 from the cgroup fails with EPERM" '.errno == "EPERM"' "$CG" tcp "$ADDR_CLI" 7070
check "bpftool shows aegis's programs on the cgroup" bash -c "bpftool cgroup show '$CG' | grep -q policy_"
stop_agent_term
start_agent --no-cg || fail "agent starts with --no-cg" "$(tail -5 "$TMP/agent.log")"
jcheck "--no-cg: the policy is in force, no cgroup attachment" '.in_force.policies >= 1 and (.attachments.cgroups | length) == 0 and (.cgroup | not)' policy --json
check_fails "--no-cg: no aegis program on the cgroup" bash -c "bpftool cgroup show '$CG' 2>/dev/null | grep -q policy_"
expect "--no-cg: 7070 from the cgroup connects" '.errno == 0' "$CG" tcp "$ADDR_CLI" 7070
stop_agent_term
start_agent || fail "agent restarts without --no-cg" "$(tail -5 "$TMP/agent.log")"
expect "without --no-cg: enforced again" '.errno == "EPERM"' "$CG" tcp "$ADDR_CLI" 7070
check "apply no policy at all" bash -c "echo 'policies: []' > '$TMP/none.yaml' && '$AEGIS' --socket '$SOCK' policy apply '$TMP/none.yaml'"
jcheck "no policy: nothing attached" '(.attachments.cgroups | length) == 0 and (.attachments.interfaces | length) == 0' policy --json
expect "no policy: the connect on 7070 works" '.errno == 0' "$CG" tcp "$ADDR_CLI" 7070
finish
