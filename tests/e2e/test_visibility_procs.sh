#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Host visibility, processes: a known tree (a shell that starts a shell that starts a shell, each
# with its own exit code) with every exec_id, ppid, parent exec_id and ancestry right; a kill by
# signal; a pid made to be reused, whose two programs never mix; the exec and exit events and a
# frame; records written while the agent is down (kill -9), read by the next agent, which adopts
# the hooks; and the raw_tp twins after a reload that asks for them, the tp_btf ones gone.
# Tracepoints are host-wide: only the test's own pids are looked at.
source "$(dirname "$0")/lib.sh"
require_root

ip netns add "$NS_SRV"	# the agent's home (start_agent); no traffic here
write_config_noguard "visibility:
  enabled: true
  frame_interval: 1s"
if ! start_agent; then
	fail "agent starts with visibility" "$(tail -5 "$TMP/agent.log" | tr '\n' ' ')"
	exit 1
fi
pass "agent starts with visibility"
check "status shows visibility running with tp_btf" sh -c "'$AEGIS' --socket '$SOCK' status | grep -q 'visibility: running (tp_btf)'"

# ps_json PID: every image pid was in, with ancestry.
ps_json() { cli ps --pid "$1" --json; }
# The exec image of pid that exited (a fork image is replaced by its exec).
exited_image() { ps_json "$1" | jq -c '[.processes[] | select(.state == "exited")][0]'; }

cat >"$TMP/tree.sh" <<'EOF'
echo $$ > "$1/p0"
sh -c 'echo $$ > "$0/p1"; sh -c "echo \$\$ > $0/p2; exit 7"; exit 5' "$1"
exit 3
EOF
sh "$TMP/tree.sh" "$TMP"
p0=$(cat "$TMP/p0") p1=$(cat "$TMP/p1") p2=$(cat "$TMP/p2")
i0=$(exited_image "$p0") i1=$(exited_image "$p1") i2=$(exited_image "$p2")
e0=$(echo "$i0" | jq -r .exec_id) e1=$(echo "$i1" | jq -r .exec_id) e2=$(echo "$i2" | jq -r .exec_id)

if echo "$i0" | jq -e --arg f "$TMP/tree.sh" '.exit_code == 3 and .origin == "exec" and .args[1] == $f' >/dev/null &&
	echo "$i1" | jq -e --argjson pp "$p0" --arg pe "$e0" '.exit_code == 5 and .ppid == $pp and .parent_exec_id == $pe' >/dev/null &&
	echo "$i2" | jq -e --argjson pp "$p1" --arg pe "$e1" '.exit_code == 7 and .ppid == $pp and .parent_exec_id == $pe
		and .args[0] == "sh" and .args[1] == "-c" and (.args[2] | endswith("exit 7"))' >/dev/null; then
	pass "tree: exit codes 3, 5, 7; each ppid and parent exec_id is the level above"
else
	fail "tree: exit codes, ppids and parent exec_ids" "$i0 $i1 $i2"
fi
jcheck "tree: the ancestry of the innermost shell is a chain of exec_ids" \
	"[.processes[] | select(.exec_id == \"$e2\")][0].ancestry[0:2] == [\"$e1\", \"$e0\"]" ps --pid "$p2" --json
jcheck "tree: the middle shell's fork image was replaced by its exec" \
	"[.processes[] | select(.state == \"replaced\")] | length == 1 and .[0].replaced_by == \"$e1\" and .[0].parent_exec_id == \"$e0\"" \
	ps --pid "$p1" --json
if [ "$e0" != "$e1" ] && [ "$e1" != "$e2" ] && [ "$e0" != "$e2" ] && [ ${#e2} = 38 ]; then
	pass "tree: three exec_ids, distinct"
else
	fail "tree: three exec_ids, distinct" "$e0 $e1 $e2"
fi
# ps --tree: each shell below its parent and one level deeper (the column of its "\_ "); the
# exec_id is the sixth column, or the seventh after a state of two words ("exit 3").
cli ps --tree --all >"$TMP/tree.txt"
if awk -v a="$e0" -v b="$e1" -v c="$e2" '
	function depth(line) { return index(line, "\\_") }
	$6 == a || $7 == a { la = NR; da = depth($0) }
	$6 == b || $7 == b { lb = NR; db = depth($0) }
	$6 == c || $7 == c { lc = NR; dc = depth($0) }
	END { exit !(la && la < lb && lb < lc && da < db && db < dc) }' "$TMP/tree.txt"; then
	pass "ps --tree: each shell below its parent, one level deeper"
else
	fail "ps --tree: each shell below its parent, one level deeper" "$(grep -e "$e0" -e "$e1" -e "$e2" "$TMP/tree.txt")"
fi

# A process in a cgroup named as a container runtime names its scopes: its cgroup path (from the
# cgroup id the kernel gave) and the container id in it.
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
CID=$(printf '%064x' "$ID")
CG="$CG2/aegis-test-$ID/docker-$CID.scope"
if mkdir -p "$CG"; then
	on_cleanup "cgroup_remove '$CG2/aegis-test-$ID'"
	sh -c 'echo $$ > "$1/cgroup.procs" && exec sh -c "echo \$\$ > $2/pcg; exit 0"' _ "$CG" "$TMP"
	jcheck "container: the cgroup path and the container id of a process in it" \
		"[.processes[] | select(.state == \"exited\")][0] | .cgroup == \"/aegis-test-$ID/docker-$CID.scope\" and .container_id == \"$CID\"" \
		ps --pid "$(cat "$TMP/pcg")" --json
else
	skip "container" "cannot make a cgroup under $CG2"
fi

sleep 30 &
kpid=$!
kill -9 "$kpid"
wait "$kpid" 2>/dev/null
jcheck "a process killed by SIGKILL: signal 9, no exit code" \
	'[.processes[] | select(.state == "exited")][0] | .signal == 9 and .exit_code == null' ps --pid "$kpid" --json

# Pid reuse: ns_last_pid makes the next fork take the pid just freed (retried while other
# processes of the host take it first).
python3 - >"$TMP/reuse.json" <<'EOF'
import json, os, sys
def run(code):
    pid = os.fork()
    if pid == 0:
        os.execv("/bin/sh", ["sh", "-c", f"exit {code}"])
    os.waitpid(pid, 0)
    return pid
a = run(11)
for tries in range(1, 500):
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
        f.write(str(a - 1))
    if run(12) == a:
        print(json.dumps({"pid": a, "tries": tries}))
        sys.exit(0)
sys.exit(1)
EOF
if [ -s "$TMP/reuse.json" ]; then
	rp=$(jq .pid "$TMP/reuse.json")
	jcheck "pid reuse: two programs under pid $rp, two exec_ids, each with its own exit code" \
		'[.processes[] | select(.state == "exited")] | length == 2 and (map(.exec_id) | unique | length == 2)
		 and (map(.exit_code) | sort == [11, 12]) and all(.args[2] == "exit \(.exit_code)")' ps --pid "$rp" --json
else
	skip "pid reuse" "the host's other processes took the pid 500 times in a row"
fi

if cli events --json --type exec,exit --tail 5000 | jq -s -e --arg e "$e2" \
	'[.[] | select(.exec_id == $e)] | map(.type) == ["exec", "exit"] and .[1].exit_code == 7' >/dev/null; then
	pass "events: the innermost shell's exec, then its exit with 7"
else
	fail "events: the innermost shell's exec, then its exit with 7" "$(cli events --json --type exec,exit --tail 5000 | grep -F "$e2")"
fi
for _ in $(seq 30); do
	n=$(cli events --json --type frame --tail 8 | jq -s --arg e "$e2" '[.[] | .processes.exited[]? | select(.exec_id == $e and .exit_code == 7)] | length')
	[ "$n" != 0 ] && break
	sleep 0.2
done
if [ "$n" = 1 ]; then pass "frame: the innermost shell exited with 7, in one frame"; else fail "frame: the innermost shell exited with 7, in one frame" "in $n frames"; fi

# kill -9: the hooks keep recording into the ring; the next agent reads it and adopts the hooks.
links_before=$(cli status --json | jq -c '[.visibility.hooks[].link_id]')
stop_agent_kill
sh -c 'echo $$ > "$0/pdown"; exit 9' "$TMP"
pdown=$(cat "$TMP/pdown")
if start_agent; then pass "a new agent starts over the pins"; else fail "a new agent starts over the pins" "$(tail -5 "$TMP/agent.log")"; fi
jcheck "the new agent adopted every hook (same link ids)" ".visibility.hooks | map(.link_id) == $links_before" status --json
jcheck "a process that ran while no agent did: exit 9, from the records in the ring" \
	'[.processes[] | select(.state == "exited")][0] | .exit_code == 9 and .origin == "exec" and (.args[2] | endswith("exit 9"))' \
	ps --pid "$pdown" --json

# A reload that asks for raw_tp: its twins run, the tp_btf links are gone.
sed -i 's/^  frame_interval: 1s/  frame_interval: 1s\n  tracing: raw_tp/' "$TMP/agent.yaml"
kill -HUP "$AGENT_PID"
for _ in $(seq 50); do [ "$(cli status --json | jq -r .visibility.tracing)" = raw_tp ] && break; sleep 0.1; done
jcheck "reload to raw_tp: the raw_tp twins are attached" \
	'.visibility.tracing == "raw_tp" and ([.visibility.hooks[] | select(.attached and (.pin | test("raw_tp_sched_process_(exec|fork|exit)$")))] | length == 3)' status --json
check_fails "reload to raw_tp: no tp_btf link is left pinned" sh -c "ls '$PIN_ROOT/visibility/links' | grep -q tp_btf"
sh -c 'echo $$ > "$0/praw"; sh -c "echo \$\$ > $0/prawc; exit 6"; exit 4' "$TMP"
praw=$(cat "$TMP/praw") prawc=$(cat "$TMP/prawc")
eraw=$(exited_image "$praw" | jq -r .exec_id)
jcheck "raw_tp: a shell exits 4, its child 6 with it as parent" \
	"[.processes[] | select(.state == \"exited\")][0] | .exit_code == 6 and .ppid == $praw and .parent_exec_id == \"$eraw\"" \
	ps --pid "$prawc" --json
jcheck "raw_tp: the parent's exit code" '[.processes[] | select(.state == "exited")][0].exit_code == 4' ps --pid "$praw" --json
finish
