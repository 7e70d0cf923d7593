#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# `aegis probe` proves by trying: XDP attaches on a veth, kprobe/fentry/LSM are reported
# unavailable here with their errno and a cause, and it leaves nothing behind.
. "$(dirname "$0")/lib.sh"
require_root

# What the probe makes (src/probe.c: veths aegisp0/1 in an unnamed netns, cgroups aegis-probe.*,
# programs and maps aegisp_*), so that other tests running beside this one do not count.
snapshot() {
	{
		ip netns list | grep -i probe | sort
		ip -br link | awk '{print $1}' | grep '^aegisp' | sort
		cg=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
		ls "$cg" | grep '^aegis-probe' | sort
		grep -c ' tracefs ' /proc/mounts
		bpftool prog show -j | jq -r '.[] | select((.name // "") | startswith("aegisp")) | .id'
	} 2>/dev/null
}
before=$(snapshot)
"$AEGIS" probe --json >"$TMP/probe.json"; rc=$?
after=$(snapshot)
if [ $rc -eq 0 ]; then pass "probe exits 0 when the enabled capabilities are ready"; else fail "probe exits 0" "rc=$rc: $(jq -r .exit_reason "$TMP/probe.json")"; fi
pj() { jq -e "$1" "$TMP/probe.json" >/dev/null; }
check "XDP native attach on a veth is available" pj '.programs.xdp_native.ok == true'
check "XDP generic attach is available" pj '.programs.xdp_generic.ok == true'
check "TC ingress and egress are available" pj '.programs.tc_ingress.ok and .programs.tc_egress.ok'
check "cgroup hooks are available" pj '.programs.cgroup_connect4.ok and .programs.cgroup_skb_egress.ok and .programs.sock_ops.ok'
check "tracepoint, raw_tp and tp_btf are available" pj '.programs.tracepoint.ok and .programs.raw_tp.ok and .programs.tp_btf.ok'
for p in kprobe fentry lsm; do
	check "$p is reported unavailable with errno text and cause" \
		pj ".programs.$p.ok == false and (.programs.$p.error | length) > 0 and (.programs.$p.cause | length) > 0 and .programs.$p.errno > 0"
done
check "the guard capability is ready" pj '[.capabilities[] | select(.name == "guard" and .state == "ready")] | length == 1'
check "lpm_trie and ringbuf maps are available" pj '.maps.lpm_trie.ok and .maps.ringbuf.ok'
if [ "$before" = "$after" ]; then pass "probe leaves nothing behind (netns, links, cgroups, tracefs, programs)"; else fail "probe leaves nothing behind" "$(diff <(echo "$before") <(echo "$after") | head -5 | tr '\n' ' ')"; fi
check "the human report names the failing hooks" bash -c "'$AEGIS' probe | grep -E '^ *kprobe .*(FAIL|No such file)'"
printf 'guard:\n  enabled: false\n' >"$TMP/off.yaml"
check "probe --config judges against that configuration" bash -c "'$AEGIS' probe --json --config '$TMP/off.yaml' | jq -e '[.capabilities[] | select(.name == \"guard\" and .enabled == false)] | length == 1'"
"$AEGIS" probe --bogus >/dev/null 2>&1; rc=$?
if [ $rc -eq 2 ]; then pass "probe usage error exits 2"; else fail "probe usage error exits 2" "rc=$rc"; fi
finish
