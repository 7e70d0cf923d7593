#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Bad configurations of several kinds give file:line:column errors; the agent refuses to start on
# one, and on SIGHUP a bad one is refused while the running one stays in force (checked with real
# traffic against a block list), and a good one takes effect.
. "$(dirname "$0")/lib.sh"
require_root
setup_netns || { fail "setup" "cannot create namespaces"; exit 1; }
in_cli sysctl -qw "net.ipv6.conf.$IF_CLI.disable_ipv6=1"

# expect_check_error NAME FILE-CONTENT LINE:COL KEY
expect_check_error() {
	local name=$1 line=$3 key=$4 out rc
	printf '%s\n' "$2" >"$TMP/bad.yaml"
	out=$("$AEGIS" config check "$TMP/bad.yaml" 2>&1); rc=$?
	if [ $rc -eq 1 ] && echo "$out" | grep -q "^$TMP/bad.yaml:$line: $key"; then
		pass "$name"
	else
		fail "$name" "rc=$rc, expected $TMP/bad.yaml:$line: $key in: $out"
	fi
}
expect_check_error "YAML syntax error: file:line:col" $'guard:\n  mode: [observe\n  enabled: true' "3:[0-9]*" ""
expect_check_error "unknown key: file:line:col and key" $'guard:\n  modee: block' "2:3" "guard.modee"
expect_check_error "wrong type: file:line:col and key" $'guard:\n  enabled: "yes please"' "2:12" "guard.enabled"
expect_check_error "bad CIDR: file:line:col and key" $'guard:\n  block:\n    - 10.0.0.0/8\n    - 300.1.1.1/8' "4:7" "guard.block\\[1\\]"
expect_check_error "bad enum value names the choices" $'guard:\n  mode: drop' "2:9" "guard.mode"

# The agent does not start on a bad configuration.
write_config
cp "$TMP/agent.yaml" "$TMP/good.yaml"
printf 'guard:\n  modee: block\n' >>"$TMP/agent.yaml"
if start_agent; then fail "the agent refuses a bad configuration" "it started"; stop_agent_kill; else
	if grep -q "agent.yaml:[0-9]*:[0-9]*: " "$TMP/agent.log"; then pass "the agent refuses a bad configuration, naming file:line"; else fail "the agent refuses a bad configuration" "$(tail -3 "$TMP/agent.log")"; fi
fi

# Observe mode with the client on the block list: traffic passes, would-drops are counted.
write_config "  block: [$ADDR_CLI/32]"
start_agent || { fail "agent starts" "$(tail -5 "$TMP/agent.log")"; exit 1; }
check "observe: a listed source still gets through" in_cli ping -c 3 -i 0.05 -W 1 -q "$ADDR_SRV"
jcheck "observe: would-drops are counted" '.interfaces[0].counters.would_drop >= 3 and .interfaces[0].counters.dropped == 0' guard --json

# A bad configuration on SIGHUP is refused; the running one stays.
for bad in $'guard:\n  modee: block' $'guard:\n  mode: block\n  enabled: sometimes' $'guard:\n  mode: block\n  block: [10.0.0.0/33]' $'guard: [mode: block'; do
	printf '%s\n' "$bad" >"$TMP/agent.yaml"
	kill -HUP "$AGENT_PID"
	sleep 0.5
done
jcheck "4 bad reloads were refused" '.reloads.failed == 4 and .reloads.ok == 0' status --json
jcheck "the running configuration stayed in force" '.config.guard.mode == "observe" and .guard.interfaces[0].mode == "observe"' status --json
check "traffic still passes after refused reloads" in_cli ping -c 2 -W 1 -q "$ADDR_SRV"
check "refused reloads are audited with the errors" bash -c "jq -s -e '[.[] | select(.op == \"config.reload\" and .result == \"error\" and (.errors | length) > 0)] | length == 4' '$TMP/audit.jsonl'"
check "the log names file:line of a refused reload" grep -q "agent.yaml:2:3: guard.modee" "$TMP/agent.log"

# The API's reload answers 422 with the errors.
code=$(curl -s -o "$TMP/reload.json" -w '%{http_code}' --unix-socket "$SOCK" -X POST http://l/v1/config/reload)
if [ "$code" = 422 ] && jq -e '.applied == false and .errors[0].line == 2 and (.errors[0].message | test("YAML syntax"))' "$TMP/reload.json" >/dev/null; then pass "POST /v1/config/reload refuses with 422 and the errors"; else fail "POST /v1/config/reload refuses with 422" "$code $(cat "$TMP/reload.json")"; fi

# A good configuration on SIGHUP takes effect: block mode drops the listed client.
GUARD_MODE=block write_config "  block: [$ADDR_CLI/32]"
kill -HUP "$AGENT_PID"
sleep 0.5
jcheck "a good reload is applied" '.reloads.ok == 1 and .config.guard.mode == "block"' status --json
check_fails "block: the listed client's traffic is dropped" in_cli ping -c 2 -i 0.1 -W 1 -q "$ADDR_SRV"
jcheck "block: drops are counted by reason" '.interfaces[0].counters.dropped >= 2 and .interfaces[0].counters.by_reason.blocklist >= 2' guard --json
check "the good reload is audited" audit_has config.reload ok

# Removing the entry from the configuration removes it from the datapath.
GUARD_MODE=block write_config
kill -HUP "$AGENT_PID"
sleep 0.5
check "a config entry removed on reload stops blocking" in_cli ping -c 2 -W 1 -q "$ADDR_SRV"
check "list changes from the configuration are audited" bash -c "grep -q '\"op\":\"block\",\"object\":\"$ADDR_CLI/32\"' '$TMP/audit.jsonl' && grep -q '\"op\":\"unblock\",\"object\":\"$ADDR_CLI/32\"' '$TMP/audit.jsonl'"

# A capacity change cannot resize pinned maps: the reload and a restart say what to do.
GUARD_MODE=block write_config "  capacity:
    block_v4: 5000"
kill -HUP "$AGENT_PID"
sleep 0.5
check "a capacity change on reload is refused with the advice" grep -q "guard.capacity.block_v4 is 5000 but the pinned block_v4_rules was created for 1000000: a new capacity needs .aegis agent --cleanup." "$TMP/agent.log"
stop_agent_kill
if start_agent; then fail "a restart with a new capacity is refused" "it started"; else pass "a restart with a new capacity is refused"; fi
"$AEGIS" agent --cleanup --config "$TMP/agent.yaml" >/dev/null
if start_agent; then pass "after --cleanup the new capacity takes effect"; else fail "after --cleanup the new capacity takes effect" "$(tail -3 "$TMP/agent.log")"; fi
# A prefix table of capacity N has N + 1 rule slots (id 0 is unused).
jcheck "the block list has the new capacity" '[.maps[] | select(.name == "block_v4_rules" and .max_entries == 5001)] | length == 1' progs --json
finish
