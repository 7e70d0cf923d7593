#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The agent owns and pins its objects: it starts, answers on its socket, counts real traffic,
# survives kill -9 with the datapath still attached, is adopted by a new agent (same ids), keeps
# enforcement on SIGTERM, and `--cleanup` leaves no program, link or pin behind.
. "$(dirname "$0")/lib.sh"
require_root
setup_netns || { fail "setup" "cannot create namespaces"; exit 1; }
BPF_STATS=true write_config
# Exact counts: no IPv6 chatter (MLD reports, router solicitations) from the client.
in_cli sysctl -qw "net.ipv6.conf.$IF_CLI.disable_ipv6=1"

if ! start_agent; then
	fail "agent starts on a veth" "$(tail -5 "$TMP/agent.log")"
	exit 1
fi
pass "agent starts on a veth"
check "status answers over the socket" cli status
jcheck "status --json names the guarded interface" ".guard.interfaces[0].name == \"$IF_SRV\"" status --json

prog_id=$(xdp_prog_id)
if [ "$prog_id" -gt 0 ] 2>/dev/null; then pass "XDP program attached to $IF_SRV"; else fail "XDP program attached" "id=$prog_id"; fi
jcheck "progs lists xdp_guard with its pin and attach point" \
	"[.programs[] | select(.name == \"xdp_guard\" and .id == $prog_id and (.pin | endswith(\"progs/xdp_guard\")) and .attached[0].interface == \"$IF_SRV\")] | length == 1" progs --json
check "pins exist under the pin root" test -e "$PIN_ROOT/guard/progs/xdp_guard" -a -e "$PIN_ROOT/guard/links/xdp_$IF_SRV"

# Observe mode counts exactly: 20 pings in, 20 replies out (XDP sees only the 20 requests).
rx_before=$(cli guard --json | jq '.interfaces[0].counters.rx_packets')
in_cli ping -c 20 -i 0.01 -W 1 -q "$ADDR_SRV" >/dev/null 2>&1
rx_after=$(cli guard --json | jq '.interfaces[0].counters.rx_packets')
if [ $((rx_after - rx_before)) -eq 20 ]; then pass "observe mode counts 20 pings exactly"; else fail "observe mode counts 20 pings exactly" "counted $((rx_after - rx_before))"; fi
check "ping passes in observe mode" in_cli ping -c 2 -W 1 -q "$ADDR_SRV"
jcheck "run-time statistics are on" ".programs[0].run_count > 0" progs --json
curl -sf --unix-socket "$SOCK" http://l/metrics >"$TMP/metrics.txt"
check "metrics expose program run counts" grep -q '^aegis_bpf_program_run_count_total{module="guard",program="xdp_guard"' "$TMP/metrics.txt"
check_metrics "metrics are well-formed Prometheus text" "$TMP/metrics.txt"
link_id=$(cli progs --json | jq '.programs[0].attached[0].link_id')

# kill -9: the datapath keeps running from the pins.
stop_agent_kill
if [ "$(xdp_prog_id)" = "$prog_id" ]; then pass "kill -9 leaves the program attached"; else fail "kill -9 leaves the program attached" "now $(xdp_prog_id)"; fi
cnt_before=$(percpu_u64_sum "$PIN_ROOT/guard/maps/guard_counters" 1 0)
in_cli ping -c 5 -i 0.01 -W 1 -q "$ADDR_SRV" >/dev/null 2>&1
cnt_after=$(percpu_u64_sum "$PIN_ROOT/guard/maps/guard_counters" 1 0)
if [ $((cnt_after - cnt_before)) -eq 5 ]; then pass "the datapath counts while the agent is dead"; else fail "the datapath counts while the agent is dead" "$cnt_before -> $cnt_after"; fi

# A new agent adopts: same program id, same link, counters continue.
if start_agent; then pass "a new agent starts over the pins"; else fail "a new agent starts over the pins" "$(tail -5 "$TMP/agent.log")"; fi
jcheck "the new agent adopted the pinned program (same id)" \
	".programs[0].id == $prog_id and .programs[0].adopted == true and .programs[0].attached[0].link_id == $link_id" progs --json
rx_now=$(cli guard --json | jq '.interfaces[0].counters.rx_packets')
if [ "$rx_now" -ge $((rx_after + 5)) ]; then pass "adopted counters keep their contents"; else fail "adopted counters keep their contents" "$rx_now < $rx_after + 5"; fi
check "adoption is audited" audit_has adopt ok "progs/xdp_guard"

# SIGTERM: enforcement stays (agent.on_exit: keep).
stop_agent_term
if [ "$(xdp_prog_id)" = "$prog_id" ]; then pass "SIGTERM leaves enforcement in place"; else fail "SIGTERM leaves enforcement in place"; fi
check "the agent removed its socket on SIGTERM" test ! -e "$SOCK"
check "agent.stop is audited" audit_has agent.stop ok

# --cleanup: nothing of aegis remains in the kernel.
check "agent --cleanup succeeds" "$AEGIS" agent --cleanup --config "$TMP/agent.yaml"
if [ "$(xdp_prog_id)" = 0 ]; then pass "cleanup detached XDP"; else fail "cleanup detached XDP" "$(xdp_prog_id)"; fi
check "cleanup removed every pin" test ! -e "$PIN_ROOT"
check_fails "the program is gone from the kernel" bpftool prog show id "$prog_id"
check "cleanup is audited" audit_has cleanup ok
check "a second cleanup is harmless" "$AEGIS" agent --cleanup --config "$TMP/agent.yaml"

# on_exit: detach removes everything on SIGTERM.
write_config "" && sed -i 's/^  log_level: info/  log_level: info\n  on_exit: detach/' "$TMP/agent.yaml"
if start_agent; then
	stop_agent_term
	if [ "$(xdp_prog_id)" = 0 ] && [ ! -e "$PIN_ROOT/guard" ]; then pass "on_exit: detach removes the datapath on SIGTERM"; else fail "on_exit: detach removes the datapath on SIGTERM"; fi
else
	fail "agent starts with on_exit: detach" "$(tail -5 "$TMP/agent.log")"
fi

# interfaces: [default-route] follows the namespace's default route, and a host without one
# still runs the agent (with a warning) instead of refusing to start.
"$AEGIS" agent --cleanup --config "$TMP/agent.yaml" >/dev/null 2>&1
write_config && sed -i "s|interfaces: \[.*\]|interfaces: [default-route]|" "$TMP/agent.yaml"
if start_agent && grep -q "no default route" "$TMP/agent.log"; then pass "no default route: the agent runs and says the guard protects nothing"; else fail "no default route: the agent runs and warns" "$(tail -3 "$TMP/agent.log")"; fi
stop_agent_term
ip -n "$NS_SRV" route add default via "$ADDR_CLI" dev "$IF_SRV"
if start_agent; then
	jcheck "default-route resolves to the namespace's default interface" ".interfaces[0].name == \"$IF_SRV\"" guard --json
else
	fail "the agent starts with a default route" "$(tail -3 "$TMP/agent.log")"
fi
finish
