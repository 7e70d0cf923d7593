#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Ingress policy on a veth pair, with real traffic: deny by CIDR and by port (a deny rule beats
# an allow range), replies of this host's own connections let in under default deny, observe mode
# counting exactly what block mode then drops, the mode flip without a reload; check / diff /
# dry run / apply / rollback / history; broken files (syntax, unknown field, bad CIDR, reversed
# range, too many rules) refused with file:line:column and nothing changed; enforcement across
# kill -9, restored after --cleanup; metrics.
. "$(dirname "$0")/lib.sh"
require_root
setup_netns || { fail "setup" "cannot create namespaces"; exit 1; }
TOOLS="$(cd "$(dirname "$0")/.." && pwd)/tools"
PROBE="$TOOLS/netprobe.py"
ADDR_CLI2=198.18.0.3
ip -n "$NS_CLI" addr add "$ADDR_CLI2/24" dev "$IF_CLI"
mac_cli=$(ip -n "$NS_CLI" -br link show "$IF_CLI" | awk '{print $3}')
ip -n "$NS_SRV" neigh replace "$ADDR_CLI2" lladdr "$mac_cli" dev "$IF_SRV" nud permanent
write_config "  enabled: false
policy:
  events: {max_per_sec: 100000, burst: 100000}
  capacity: {rules: 64}"
start_agent || { fail "agent starts" "$(tail -5 "$TMP/agent.log")"; exit 1; }

# Servers on both sides for the whole test (ip netns exec execs python: $! is the server).
serve() {	# NS ARGS...
	local ns=$1
	shift
	ip netns exec "$ns" python3 "$PROBE" "$@" 180 2>/dev/null &
	on_cleanup "kill $!"
}
serve "$NS_SRV" serve-tcp "$ADDR_SRV" 8080
serve "$NS_SRV" serve-tcp "$ADDR_SRV" 9090
serve "$NS_CLI" serve-tcp "$ADDR_CLI" 7070
serve "$NS_CLI" echo-udp "$ADDR_CLI" 7071
sleep 0.3

policy_file() {	# FILE MODE [EXTRA-RULES]
	cat >"$1" <<YAML
# The web server's ingress.
policies:
  - name: web
    mode: $2
    selector:
      interfaces: [$IF_SRV]
    default: deny
    rules:
      - name: web-from-client
        direction: ingress
        action: allow
        protocol: tcp
        ports: [8080]
        peers: [$ADDR_CLI/32]
      - {direction: ingress, action: allow, protocol: udp, ports: [5000-5100]}
      - {direction: ingress, action: deny, protocol: udp, ports: [5050]}
      - {direction: ingress, action: deny, protocol: udp, ports: [6000]}
      - {direction: ingress, action: allow, protocol: icmp}
${3:-}
YAML
}
tcp_from() {	# SRC PORT: connect from SRC in the client namespace; prints the errno (0: connected)
	in_cli python3 - "$1" "$ADDR_SRV" "$2" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(1.0)
s.bind((sys.argv[1], 0))
try:
    s.connect((sys.argv[2], int(sys.argv[3])))
    print(0)
except socket.timeout:
    print("ETIMEDOUT")
except OSError as e:
    print(e.errno)
PY
}
udp_count() {	# PORT N: N datagrams from the client to PORT; prints how many arrived
	in_srv python3 "$TOOLS/udpcount.py" "$ADDR_SRV" 1.5 "$1" 2>"$TMP/count.err" >"$TMP/count.json" &
	local pid=$!
	for _ in $(seq 50); do grep -q ready "$TMP/count.err" 2>/dev/null && break; sleep 0.05; done
	in_cli python3 "$TOOLS/udpflood.py" "$ADDR_CLI" "$ADDR_SRV" "$1" 0.5 "$(( $2 * 2 ))" >/dev/null
	wait $pid
	jq -r ".[\"$1\"]" "$TMP/count.json"
}
rule_counter() {	# RULE-INDEX FIELD: from `aegis policy stats --json`
	cli policy stats --json | jq -r ".policies[] | select(.name == \"web\") | .rules[] | select(.index == $1) | .counters.$2"
}
expect_eq() {	# NAME ACTUAL EXPECTED
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', expected '$3'"; fi
}

policy_file "$TMP/v1.yaml" block
check "check: the file is valid" cli policy check "$TMP/v1.yaml"
out=$(cli policy diff "$TMP/v1.yaml")
if echo "$out" | grep -q "^+ policy web (added, block)" && [ "$(echo "$out" | grep -c '^    + rule')" = 5 ]; then
	pass "diff against nothing in force lists every rule"
else
	fail "diff against nothing in force lists every rule" "$out"
fi
check "apply" cli policy apply "$TMP/v1.yaml"
jcheck "generation 1 is in force with the file's hash" ".in_force.generation == 1 and .in_force.hash == \"$(sha256sum "$TMP/v1.yaml" | cut -d' ' -f1)\"" policy --json
jcheck "tcx links on the interface" "[.attachments.interfaces[] | select(.name == \"$IF_SRV\" and .tc == \"tcx\")] | length == 1" policy --json

expect_eq "tcp 8080 from the allowed /32 connects" "$(tcp_from "$ADDR_CLI" 8080)" 0
expect_eq "tcp 8080 from another address is dropped (CIDR)" "$(tcp_from "$ADDR_CLI2" 8080)" ETIMEDOUT
expect_eq "tcp 9090 from the allowed address is dropped (port)" "$(tcp_from "$ADDR_CLI" 9090)" ETIMEDOUT
expect_eq "udp 5001 inside the allowed range arrives" "$(udp_count 5001 20)" 20
expect_eq "udp 5050: the deny rule beats the allowed range" "$(udp_count 5050 20)" 0
check "ping is allowed" in_cli ping -c 1 -W 1 -q "$ADDR_SRV"
# Default deny ingress, but this host's own connections get their answers.
jcheck_ns() {	# NAME FILTER PROBE-ARGS...: netprobe in the server namespace (empty output fails)
	local n=$1 f=$2 o
	shift 2
	o=$(in_srv python3 "$PROBE" "$@")
	if [ -n "$o" ] && echo "$o" | jq -e "$f" >/dev/null; then pass "$n"; else fail "$n" "${o:-no output}"; fi
}
jcheck_ns "a tcp connection from the server out gets its replies" '.answer == "ok"' get-tcp "$ADDR_CLI" 7070
jcheck_ns "a udp request from the server out gets its answer" '.answered == true' ask-udp "$ADDR_CLI" 7071
expect_eq "but the client cannot open a connection to that port" "$(tcp_from "$ADDR_CLI" 7070)" ETIMEDOUT

# Observe mode counts exactly what it would drop, and drops nothing; the flip needs no reload.
prog=$(cli progs --json | jq '.programs[] | select(.name == "policy_tc_in") | .id')
check "switch the policy to observe" cli policy mode web observe
before=$(rule_counter 3 would_deny)
cli events --json --type policy --tail 0 >/dev/null
seq_before=$(curl -sf --unix-socket "$SOCK" "http://l/v1/events?tail=0" | jq .next)
expect_eq "observe: all 40 datagrams to the denied port arrive" "$(udp_count 6000 40)" 40
expect_eq "observe: would_deny counted exactly 40" "$(( $(rule_counter 3 would_deny) - before ))" 40
sleep 0.3
evs=$(curl -sf --unix-socket "$SOCK" "http://l/v1/events?since=$seq_before&type=policy&limit=10000")
expect_eq "observe: 40 would_deny events name the policy, rule, port and interface" \
	"$(echo "$evs" | jq "[.events[] | select(.verdict == \"would_deny\" and .policy == \"web\" and .rule == 3 and .dport == 6000 and .interface == \"$IF_SRV\" and .generation == 1 and .mode == \"observe\")] | length")" 40
check "switch back to block" cli policy mode web block
before=$(rule_counter 3 denied)
expect_eq "block: none of 40 arrive" "$(udp_count 6000 40)" 0
expect_eq "block: denied counted exactly 40" "$(( $(rule_counter 3 denied) - before ))" 40
jcheck "the mode flips were map writes: same program, same generation" \
	".programs[] | select(.name == \"policy_tc_in\") | .id == $prog" progs --json
check "mode changes are audited and in the event stream" bash -c "'$AEGIS' --socket '$SOCK' events --json --type policy_mode --tail 10 | jq -s -e '[.[] | select(.policy == \"web\")] | length == 2'"

# Metrics, one family each.
metrics=$(curl -sf --unix-socket "$SOCK" http://l/metrics)
if echo "$metrics" | grep -q "^aegis_policy_rule_denied_total{policy=\"web\",rule=\"3\",direction=\"ingress\",action=\"deny\"} 40$" &&
   [ "$(echo "$metrics" | grep -c '^# TYPE aegis_policy_rule_denied_total ')" = 1 ] &&
   echo "$metrics" | grep -q '^aegis_policy_generation 1$'; then
	pass "/metrics has per-rule and per-policy counters"
else
	fail "/metrics has per-rule and per-policy counters" "$(echo "$metrics" | grep aegis_policy | head -20)"
fi

# A second version: diff, dry run, apply, rollback.
policy_file "$TMP/v2.yaml" observe "      - {direction: ingress, action: allow, protocol: tcp, ports: [9090]}"
sed -i '/ports: \[6000\]/d' "$TMP/v2.yaml"
out=$(cli policy diff "$TMP/v2.yaml")
if echo "$out" | grep -q 'mode: "block" -> "observe"' && echo "$out" | grep -q '+ rule 4: allow ingress tcp port 9090 from any' &&
   echo "$out" | grep -q '\- rule 3: deny ingress udp port 6000 to any\|- rule 3: deny ingress udp port 6000 from any'; then
	pass "diff shows the mode change and each rule added and removed"
else
	fail "diff shows the mode change and each rule added and removed" "$out"
fi
check "apply --dry-run" cli policy apply --dry-run "$TMP/v2.yaml"
jcheck "a dry run switches nothing" '.in_force.generation == 1' policy --json
expect_eq "and enforcement is the old one" "$(tcp_from "$ADDR_CLI" 9090)" ETIMEDOUT
check "apply v2" cli policy apply "$TMP/v2.yaml"
expect_eq "v2 lets tcp 9090 in" "$(tcp_from "$ADDR_CLI" 9090)" 0
check "rollback" cli policy rollback
jcheck "generation 1 is in force again" '.in_force.generation == 1 and .previous.generation == 2' policy --json
expect_eq "rolled back: tcp 9090 is dropped again" "$(tcp_from "$ADDR_CLI" 9090)" ETIMEDOUT
jcheck "history: apply, apply, rollback with hashes and actor" \
	"[.history[] | [.action, .generation, .hash, .actor.uid]] == [[\"apply\",1,\"$(sha256sum "$TMP/v1.yaml" | cut -d' ' -f1)\",0],[\"apply\",2,\"$(sha256sum "$TMP/v2.yaml" | cut -d' ' -f1)\",0],[\"rollback\",1,\"$(sha256sum "$TMP/v1.yaml" | cut -d' ' -f1)\",0]]" \
	policy history --json
check "every phase is audited" bash -c "for op in policy.verify policy.apply policy.rollback policy.mode; do jq -e -s --arg op \$op '[.[] | select(.op == \$op and .result == \"ok\")] | length > 0' '$TMP/audit.jsonl' >/dev/null || exit 1; done"

# Broken files: refused with file:line:column, the policy in force stays.
hash_in_force() { cli policy --json | jq -r .in_force.hash; }
good_hash=$(hash_in_force)
broken() {	# NAME FILE PATTERN
	local out rc
	out=$(cli policy apply "$2" 2>&1); rc=$?
	if [ $rc -ne 0 ] && echo "$out" | grep -q -- "$3" && [ "$(hash_in_force)" = "$good_hash" ]; then
		pass "$1: refused, the policy in force stays"
	else
		fail "$1" "rc=$rc $(echo "$out" | head -c 400)"
	fi
}
printf 'policies:\n  - name: [web\n' >"$TMP/syntax.yaml"
broken "syntax error" "$TMP/syntax.yaml" "$TMP/syntax.yaml:3:1: YAML syntax error"
policy_file "$TMP/unknown.yaml" block "      - {direction: ingress, action: allow, prots: [22]}"
broken "unknown field" "$TMP/unknown.yaml" "$TMP/unknown.yaml:19:45: policies\[0\].rules\[5\].prots: unknown key 'prots' (did you mean 'ports'?)"
policy_file "$TMP/cidr.yaml" block "      - {direction: ingress, action: allow, peers: [10.0.0.0/33]}"
broken "bad CIDR" "$TMP/cidr.yaml" "$TMP/cidr.yaml:19:53: policies\[0\].rules\[5\].peers\[0\]: invalid CIDR"
policy_file "$TMP/range.yaml" block "      - {direction: ingress, action: allow, protocol: tcp, ports: [9000-80]}"
broken "reversed port range" "$TMP/range.yaml" "port range '9000-80' is reversed"
check_fails "check finds the reversed range too, without the agent" "$AEGIS" policy check "$TMP/range.yaml"
policy_file "$TMP/big.yaml" block "$(for i in $(seq 1 70); do echo "      - {direction: ingress, action: allow, protocol: tcp, ports: [$((10000 + i))]}"; done)"
broken "too many rules for the maps" "$TMP/big.yaml" "policy.capacity.rules 64"
expect_eq "after the refusals tcp 8080 still connects" "$(tcp_from "$ADDR_CLI" 8080)" 0
expect_eq "and tcp 9090 is still dropped" "$(tcp_from "$ADDR_CLI" 9090)" ETIMEDOUT
check "the refusals are audited with their phase" bash -c "jq -e -s '[.[] | select(.op == \"policy.apply\" and .result == \"error\" and .phase == \"check\")] | length == 5' '$TMP/audit.jsonl'"

# The datapath outlives the agent; a new one adopts it; after --cleanup it comes back from the state.
stop_agent_kill
expect_eq "agent killed: tcp 9090 is still dropped" "$(tcp_from "$ADDR_CLI" 9090)" ETIMEDOUT
start_agent || fail "agent restarts" "$(tail -5 "$TMP/agent.log")"
jcheck "a restarted agent adopts generation 1 with rollback to 2" '.in_force.generation == 1 and .rollback_available' policy --json
check "the adoption is audited" audit_has policy.adopt ok
stop_agent_term
check "cleanup" "$AEGIS" agent --cleanup --config "$TMP/agent.yaml"
expect_eq "nothing enforced after cleanup" "$(tcp_from "$ADDR_CLI" 9090)" 0
start_agent || fail "agent starts after cleanup" "$(tail -5 "$TMP/agent.log")"
expect_eq "restored from the state directory: tcp 9090 dropped again" "$(tcp_from "$ADDR_CLI" 9090)" ETIMEDOUT
check "the restore is audited" audit_has policy.restore ok
jcheck "and rollback to generation 2 still works" '.rolled_back and .generation == 2' policy rollback --json
expect_eq "generation 2 lets tcp 9090 in" "$(tcp_from "$ADDR_CLI" 9090)" 0
finish
