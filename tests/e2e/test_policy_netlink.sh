#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The TC fallback for kernels without tcx (policy.tc_attach: netlink): cls_bpf filters on a clsact
# qdisc enforce the policy; they are no pins, so they survive kill -9 and `aegis agent --cleanup`
# removes them from its record, with the qdisc aegis made and not the one it found; the agent's
# own switches: --no-tc attaches nothing, --dry-run observes, --iface gives a policy without a
# selector its interfaces.
. "$(dirname "$0")/lib.sh"
require_root
setup_netns || { fail "setup" "cannot create namespaces"; exit 1; }
TOOLS="$(cd "$(dirname "$0")/.." && pwd)/tools"
# A second interface (a veth with both ends in the server's namespace: no dummy module here).
DUMMY="agd$ID"
ip -n "$NS_SRV" link add "$DUMMY" type veth peer name "age$ID" && ip -n "$NS_SRV" link set "$DUMMY" up
# Someone else's clsact qdisc and filter on it: aegis must leave both.
ip netns exec "$NS_SRV" tc qdisc add dev "$DUMMY" clsact
ip netns exec "$NS_SRV" tc filter add dev "$DUMMY" ingress prio 3 u32 match u32 0 0 classid 1:1
write_config "  enabled: false
policy:
  tc_attach: netlink"
start_agent || { fail "agent starts" "$(tail -5 "$TMP/agent.log")"; exit 1; }

cat >"$TMP/p.yaml" <<YAML
policies:
  - name: in
    mode: block
    selector: {interfaces: [$IF_SRV, $DUMMY]}
    default: allow
    rules:
      - {direction: ingress, action: deny, protocol: udp, ports: [5353]}
YAML
udp_arrived() {	# PORT: 20 datagrams from the client; prints how many arrived
	in_srv python3 "$TOOLS/udpcount.py" "$ADDR_SRV" 1.2 "$1" 2>"$TMP/count.err" >"$TMP/count.json" &
	local pid=$!
	for _ in $(seq 50); do grep -q ready "$TMP/count.err" 2>/dev/null && break; sleep 0.05; done
	in_cli python3 "$TOOLS/udpflood.py" "$ADDR_CLI" "$ADDR_SRV" "$1" 0.4 50 >/dev/null
	wait $pid
	jq -r ".[\"$1\"]" "$TMP/count.json"
}
filters() {	# IFACE DIRECTION
	ip netns exec "$NS_SRV" tc filter show dev "$1" "$2"
}
expect_eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', expected '$3'"; fi; }

check "apply with tc_attach: netlink" cli policy apply "$TMP/p.yaml"
jcheck "both interfaces on netlink filters" '[.attachments.interfaces[].tc] == ["netlink", "netlink"]' policy --json
check "a cls_bpf filter with aegis's handle on ingress" bash -c "ip netns exec '$NS_SRV' tc filter show dev '$IF_SRV' ingress | grep -q 'policy_tc_in.*direct-action' && ip netns exec '$NS_SRV' tc filter show dev '$IF_SRV' ingress | grep -q 'handle 0xae91'"
check "and egress (the flow recorder)" bash -c "ip netns exec '$NS_SRV' tc filter show dev '$IF_SRV' egress | grep -q policy_tc_out"
expect_eq "the denied port gets nothing" "$(udp_arrived 5353)" 0
expect_eq "another port gets everything" "$(udp_arrived 5354)" 20
check "the filters are recorded for --cleanup" jq -e "length == 2 and (.[] | select(.interface == \"$IF_SRV\") | .qdisc_created) and (.[] | select(.interface == \"$DUMMY\") | .qdisc_created | not)" "$TMP/state/policy/tc-netlink.json"

stop_agent_kill
expect_eq "agent killed: the filter still enforces" "$(udp_arrived 5353)" 0
start_agent || fail "agent restarts" "$(tail -5 "$TMP/agent.log")"
expect_eq "restarted: still enforced (filters replaced in place)" "$(udp_arrived 5353)" 0
check "one filter of ours, not two" bash -c "[ \$(ip netns exec '$NS_SRV' tc filter show dev '$IF_SRV' ingress | grep -c policy_tc_in) = 1 ]"
stop_agent_term
check "cleanup" "$AEGIS" agent --cleanup --config "$TMP/agent.yaml"
check_fails "cleanup removed our filter" bash -c "filters_out=\$(ip netns exec '$NS_SRV' tc filter show dev '$IF_SRV' ingress); echo \"\$filters_out\" | grep -q policy_tc"
check_fails "and the clsact qdisc aegis made" bash -c "ip netns exec '$NS_SRV' tc qdisc show dev '$IF_SRV' | grep -q clsact"
check "the clsact qdisc it found stays, with the other filter" bash -c "ip netns exec '$NS_SRV' tc qdisc show dev '$DUMMY' | grep -q clsact && ip netns exec '$NS_SRV' tc filter show dev '$DUMMY' ingress | grep -q 'pref 3 u32' && ! ip netns exec '$NS_SRV' tc filter show dev '$DUMMY' ingress | grep -q policy_tc"
expect_eq "nothing enforced after cleanup" "$(udp_arrived 5353)" 20
check "the removal is audited" bash -c "jq -e -s '[.[] | select(.op == \"detach\" and .hook == \"tc_clsact\" and .qdisc_removed)] | length == 1' '$TMP/audit.jsonl'"

# The agent's switches: --no-tc attaches nothing (ingress not enforced), --dry-run observes.
start_agent --no-tc || fail "agent starts with --no-tc" "$(tail -5 "$TMP/agent.log")"
jcheck "--no-tc: the policy is in force, no TC attachment" '.in_force.generation == 1 and (.attachments.interfaces | length) == 0 and (.tc | not)' policy --json
expect_eq "--no-tc: not enforced" "$(udp_arrived 5353)" 20
stop_agent_term
start_agent --dry-run || fail "agent starts with --dry-run" "$(tail -5 "$TMP/agent.log")"
jcheck "--dry-run: attached, dry run reported" '(.attachments.interfaces | length) == 2 and .dry_run' policy --json
expect_eq "--dry-run: the denied port gets everything" "$(udp_arrived 5353)" 20
jcheck "--dry-run: counted as would-deny" '.policies[0].rules[0].counters.would_deny == 20 and .policies[0].rules[0].counters.denied == 0' policy stats --json
stop_agent_term
# The same switches as configuration keys, and a reload that changes them.
start_agent || fail "agent starts" "$(tail -5 "$TMP/agent.log")"
expect_eq "policy.dry_run: false: enforced" "$(udp_arrived 5353)" 0
sed -i 's/^  tc_attach: netlink$/  tc_attach: netlink\n  dry_run: true/' "$TMP/agent.yaml"
check "reload with policy.dry_run: true (SIGHUP)" bash -c "kill -HUP $AGENT_PID && sleep 0.5 && '$AEGIS' --socket '$SOCK' policy --json | jq -e .dry_run"
expect_eq "policy.dry_run: true after the reload: observed, not dropped" "$(udp_arrived 5353)" 20
sed -i 's/^  dry_run: true$/  dry_run: false\n  tc: false/' "$TMP/agent.yaml"
check "reload with policy.tc: false (SIGHUP)" bash -c "kill -HUP $AGENT_PID && sleep 0.5 && '$AEGIS' --socket '$SOCK' policy --json | jq -e '.tc | not'"
jcheck "policy.tc: false: the TC filters are gone" '(.attachments.interfaces | length) == 0' policy --json
check_fails "and not on the interface" bash -c "ip netns exec '$NS_SRV' tc filter show dev '$IF_SRV' ingress | grep -q policy_tc"
# --iface: the default interfaces of a policy without a selector; without them it is refused.
stop_agent_term
sed -i '/^  tc: false$/d' "$TMP/agent.yaml"
cat >"$TMP/nosel.yaml" <<YAML
policies:
  - name: anywhere
    mode: block
    default: allow
    rules:
      - {direction: ingress, action: deny, protocol: udp, ports: [5355]}
YAML
start_agent || fail "agent starts" "$(tail -5 "$TMP/agent.log")"
check_fails "no selector and no --iface: refused" cli policy apply "$TMP/nosel.yaml"
check "the refusal names the file, line and --iface" bash -c "'$AEGIS' --socket '$SOCK' policy apply '$TMP/nosel.yaml' 2>&1 | grep -q 'nosel.yaml:2:.*--iface'"
stop_agent_term
start_agent --iface "$IF_SRV" || fail "agent starts with --iface" "$(tail -5 "$TMP/agent.log")"
check "--iface: a policy without a selector applies" cli policy apply "$TMP/nosel.yaml"
jcheck "--iface: attached on that interface only" "[.attachments.interfaces[].name] == [\"$IF_SRV\"]" policy --json
expect_eq "--iface: the denied port gets nothing" "$(udp_arrived 5355)" 0
expect_eq "--iface: another port gets everything" "$(udp_arrived 5354)" 20
finish
