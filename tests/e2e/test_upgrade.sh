#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# A different build of the guard object replaces the pinned program in place: the XDP link is
# updated atomically (same link, new program id) and the pinned maps keep their contents.
# Also: bpffs missing from a fresh mount namespace is mounted by the agent, which says so.
. "$(dirname "$0")/lib.sh"
require_root
setup_netns || { fail "setup" "cannot create namespaces"; exit 1; }
in_cli sysctl -qw "net.ipv6.conf.$IF_CLI.disable_ipv6=1"
write_config
start_agent || { fail "agent starts" "$(tail -5 "$TMP/agent.log")"; exit 1; }
in_cli ping -c 4 -i 0.01 -W 1 -q "$ADDR_SRV" >/dev/null
old_prog=$(cli progs --json | jq '.programs[0].id')
old_link=$(cli progs --json | jq '.programs[0].attached[0].link_id')
old_rx=$(cli guard --json | jq '.interfaces[0].counters.rx_packets')
stop_agent_kill

# Same programs and maps, different bytes: debug info stripped (BTF stays).
mkdir -p "$TMP/objects"
llvm-strip --strip-debug -o "$TMP/objects/guard.bpf.o" "$BUILD/bpf/guard.bpf.o"
sed -i "s|^  pin_root: .*|&\n  object_dir: $TMP/objects|" "$TMP/agent.yaml"
start_agent || { fail "the agent starts with a new object build" "$(tail -5 "$TMP/agent.log")"; exit 1; }
new_prog=$(cli progs --json | jq '.programs[0].id')
if [ "$new_prog" != "$old_prog" ] && [ "$(xdp_prog_id)" = "$new_prog" ]; then pass "a new build replaces the attached program"; else fail "a new build replaces the attached program" "old $old_prog new $new_prog attached $(xdp_prog_id)"; fi
jcheck "the XDP link is kept (updated in place)" ".programs[0].attached[0].link_id == $old_link and .programs[0].adopted == false" progs --json
jcheck "the pinned maps kept their contents" ".interfaces[0].counters.rx_packets >= $old_rx and $old_rx >= 4" guard --json
check "the replacement is audited" audit_has replace ok "xdp_"
check_fails "the old program is gone" bpftool prog show id "$old_prog"
check "traffic still flows" in_cli ping -c 2 -W 1 -q "$ADDR_SRV"
stop_agent_kill
check "cleanup" "$AEGIS" agent --cleanup --config "$TMP/agent.yaml"

# bpffs missing: a private mount namespace where /sys/fs/bpf is not mounted.
write_config
out=$(unshare --mount --propagation private bash -c "
	umount -l /sys/fs/bpf 2>/dev/null
	mountpoint -q /sys/fs/bpf && exit 3
	nsenter --net=/run/netns/$NS_SRV timeout -s INT 3 '$AEGIS' agent --config '$TMP/agent.yaml'
	grep -q ' /sys/fs/bpf bpf ' /proc/mounts" 2>&1); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "mounted bpffs at /sys/fs/bpf"; then pass "the agent mounts a missing bpffs and says so"; else fail "the agent mounts a missing bpffs and says so" "rc=$rc $(echo "$out" | tail -3)"; fi
if [ "$(xdp_prog_id)" = 0 ]; then pass "pins in a vanished bpffs leave nothing attached"; else fail "pins in a vanished bpffs leave nothing attached" "$(xdp_prog_id)"; fi
check "the mount is audited" audit_has mount ok "/sys/fs/bpf"
finish
