# SPDX-License-Identifier: GPL-2.0-only
# Shared by the end-to-end tests (bash). Each test makes its own network namespaces, veth pairs,
# pin root, socket and state directory, named after its pid so that two runs never collide, and
# removes them on exit through a trap, even when it fails.
set -u

AEGIS=${AEGIS_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/aegis}
BUILD=${AEGIS_BUILD:-$(dirname "$AEGIS")}
RESULTS=${AEGIS_TEST_RESULTS:-/dev/null}
TEST_NAME=$(basename "$0" .sh)
ID=$$
TMP=$(mktemp -d "/tmp/aegis-e2e.$TEST_NAME.XXXXXX")
NS_SRV="aegis-s$ID"
NS_CLI="aegis-c$ID"
IF_SRV="ags$ID"		# veth end in the server namespace (the agent guards it)
IF_CLI="agc$ID"
ADDR_SRV=198.18.0.1
ADDR_CLI=198.18.0.2
ADDR6_SRV=fd00:ae9::1
ADDR6_CLI=fd00:ae9::2
PIN_ROOT="/sys/fs/bpf/aegis-test-$ID"
SOCK="$TMP/aegis.sock"
AGENT_PID=
FAILS=0
CLEANUP_HOOKS=()

pass() { echo "PASS $TEST_NAME: $1" | tee -a "$RESULTS"; }
fail() {
	echo "FAIL $TEST_NAME: $1${2:+: $2}" | tee -a "$RESULTS"
	FAILS=$((FAILS + 1))
}
skip() { echo "SKIP $TEST_NAME: $1: $2" | tee -a "$RESULTS"; }

# check NAME CMD...: passes when CMD exits 0.
check() {
	local name=$1
	shift
	if "$@" >"$TMP/check.out" 2>&1; then
		pass "$name"
	else
		fail "$name" "$(tail -c 600 "$TMP/check.out" | tr '\n' ' ')"
	fi
}

# check_fails NAME CMD...: passes when CMD exits non-zero.
check_fails() {
	local name=$1
	shift
	if "$@" >"$TMP/check.out" 2>&1; then
		fail "$name" "expected failure, got success: $(tail -c 300 "$TMP/check.out" | tr '\n' ' ')"
	else
		pass "$name"
	fi
}

# on_cleanup CMD: run at exit, last registered first (what was made last is undone first: a
# process is killed before the cgroup it runs in is removed).
on_cleanup() { CLEANUP_HOOKS+=("$*"); }

# cgroup_remove DIR...: kills what still runs in each cgroup (and below) and removes it, deepest
# first, waiting up to 2 s for the kernel to let go of exiting tasks.
cgroup_remove() {
	local d sub
	for d in "$@"; do
		[ -d "$d" ] || continue
		for sub in $(find "$d" -mindepth 1 -type d | sort -r); do cgroup_remove "$sub"; done
		[ -e "$d/cgroup.kill" ] && echo 1 >"$d/cgroup.kill" 2>/dev/null
		for _ in $(seq 20); do rmdir "$d" 2>/dev/null && break; sleep 0.1; done
	done
}

cleanup() {
	local rc=$?
	set +e
	local i
	for ((i = ${#CLEANUP_HOOKS[@]} - 1; i >= 0; i--)); do eval "${CLEANUP_HOOKS[i]}" >/dev/null 2>&1; done
	stop_agent_kill
	if [ -d "$PIN_ROOT" ]; then
		"$AEGIS" agent --cleanup --config "$TMP/agent.yaml" >/dev/null 2>&1
		rm -rf "$PIN_ROOT"
	fi
	ip netns del "$NS_SRV" 2>/dev/null
	ip netns del "$NS_CLI" 2>/dev/null
	[ -n "${KEEP_TMP:-}" ] && cp -r "$TMP" /tmp/aegis-kept-$TEST_NAME; rm -rf "$TMP"
	[ "$FAILS" -gt 0 ] && exit 1
	exit $rc
}
trap cleanup EXIT INT TERM

require_root() {
	if [ "$(id -u)" != 0 ]; then
		skip all "needs root"
		exit 0
	fi
}

in_srv() { ip netns exec "$NS_SRV" "$@"; }
in_cli() { ip netns exec "$NS_CLI" "$@"; }

# Two namespaces joined by a veth pair, IPv4 and IPv6, DAD off, permanent neighbours so the first
# packet is not an ARP/ND exchange that would blur exact counts.
setup_netns() {
	ip netns add "$NS_SRV" && ip netns add "$NS_CLI" || return 1
	ip link add "$IF_SRV" netns "$NS_SRV" type veth peer name "$IF_CLI" netns "$NS_CLI" || return 1
	for ns in "$NS_SRV" "$NS_CLI"; do
		ip -n "$ns" link set lo up
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	done
	ip -n "$NS_SRV" addr add "$ADDR_SRV/24" dev "$IF_SRV"
	ip -n "$NS_CLI" addr add "$ADDR_CLI/24" dev "$IF_CLI"
	ip -n "$NS_SRV" addr add "$ADDR6_SRV/64" dev "$IF_SRV" nodad
	ip -n "$NS_CLI" addr add "$ADDR6_CLI/64" dev "$IF_CLI" nodad
	ip -n "$NS_SRV" link set "$IF_SRV" up
	ip -n "$NS_CLI" link set "$IF_CLI" up
	local mac_srv mac_cli
	mac_srv=$(ip -n "$NS_SRV" -br link show "$IF_SRV" | awk '{print $3}')
	mac_cli=$(ip -n "$NS_CLI" -br link show "$IF_CLI" | awk '{print $3}')
	ip -n "$NS_SRV" neigh replace "$ADDR_CLI" lladdr "$mac_cli" dev "$IF_SRV" nud permanent
	ip -n "$NS_CLI" neigh replace "$ADDR_SRV" lladdr "$mac_srv" dev "$IF_CLI" nud permanent
	ip -n "$NS_SRV" neigh replace "$ADDR6_CLI" lladdr "$mac_cli" dev "$IF_SRV" nud permanent
	ip -n "$NS_CLI" neigh replace "$ADDR6_SRV" lladdr "$mac_srv" dev "$IF_CLI" nud permanent
}

# write_config [EXTRA-YAML]: a configuration that keeps everything of this test in $TMP and
# $PIN_ROOT and guards $IF_SRV. BPF_STATS=true turns on the kernel's run-time statistics.
write_config() {
	local file=${CONFIG:-$TMP/agent.yaml}
	cat >"$file" <<YAML
agent:
  socket: $SOCK
  state_dir: $TMP/state
  audit_log: $TMP/audit.jsonl
  log_level: ${LOG_LEVEL:-info}
bpf:
  pin_root: $PIN_ROOT
  stats: ${BPF_STATS:-false}
guard:
  interfaces: [$IF_SRV]
  mode: ${GUARD_MODE:-observe}
${1:-}
YAML
}

# write_config_noguard [EXTRA-YAML]: as write_config, with the guard off (no veth needed).
write_config_noguard() {
	cat >"$TMP/agent.yaml" <<YAML
agent:
  socket: $SOCK
  state_dir: $TMP/state
  audit_log: $TMP/audit.jsonl
  log_level: ${LOG_LEVEL:-info}
bpf:
  pin_root: $PIN_ROOT
guard:
  enabled: false
${1:-}
YAML
}

cli() { "$AEGIS" --socket "$SOCK" "$@"; }

# start_agent [ARGS]: the agent runs in the server namespace (nsenter keeps the host's mounts,
# so its pins live in the real bpffs) and answers on its socket within 10 s.
start_agent() {
	nsenter --net="/run/netns/$NS_SRV" "$AEGIS" agent --config "$TMP/agent.yaml" "$@" \
		>>"$TMP/agent.log" 2>&1 &
	AGENT_PID=$!
	for _ in $(seq 100); do
		if cli status >/dev/null 2>&1; then return 0; fi
		if ! kill -0 "$AGENT_PID" 2>/dev/null; then
			wait "$AGENT_PID" 2>/dev/null
			AGENT_PID=
			return 1
		fi
		sleep 0.1
	done
	return 1
}

stop_agent_kill() {
	if [ -n "$AGENT_PID" ]; then
		kill -9 "$AGENT_PID" 2>/dev/null
		wait "$AGENT_PID" 2>/dev/null
		AGENT_PID=
	fi
}

stop_agent_term() {
	if [ -n "$AGENT_PID" ]; then
		kill -TERM "$AGENT_PID" 2>/dev/null
		wait "$AGENT_PID" 2>/dev/null
		AGENT_PID=
	fi
}

# audit_has OP RESULT [TEXT]: an audit record with this operation and result (and text) exists.
audit_has() {
	jq -s -e --arg op "$1" --arg res "$2" --arg txt "${3:-}" \
		'[.[] | select(.op == $op and .result == $res and (tostring | contains($txt)))] | length > 0' \
		"$TMP/audit.jsonl" >/dev/null 2>&1
}

# XDP program id attached to the server's veth (0 when none).
xdp_prog_id() {
	ip -n "$NS_SRV" -j link show "$IF_SRV" | jq -r '.[0].xdp.prog.id // 0'
}

finish() {
	[ "$FAILS" -eq 0 ]
}

# percpu_u64_sum PIN KEY OFFSET: the u64 at byte OFFSET of a per-CPU map value, summed over CPUs,
# read straight from the pinned map with bpftool (no agent involved).
percpu_u64_sum() {
	bpftool -j map lookup pinned "$1" key $(printf '%d 0 0 0' "$2") | python3 -c '
import json, sys
off = int(sys.argv[1])
v = json.load(sys.stdin)
total = 0
for cpu in v["values"]:
    raw = bytes(int(b, 16) for b in cpu["value"][off:off + 8])
    total += int.from_bytes(raw, "little")
print(total)' "$3"
}

# jcheck NAME JQ-FILTER CLI-ARGS...: the CLI command succeeds and its JSON satisfies the filter
# (empty output fails: jq -e alone would accept it).
jcheck() {
	local name=$1 filter=$2 out
	shift 2
	if ! out=$(cli "$@" 2>&1); then
		fail "$name" "aegis $* failed: $(echo "$out" | head -c 300 | tr '\n' ' ')"
		return
	fi
	if [ -n "$out" ] && echo "$out" | jq -e "$filter" >/dev/null 2>&1; then
		pass "$name"
	else
		fail "$name" "$filter on: $(echo "$out" | head -c 400 | tr '\n' ' ')"
	fi
}

# check_metrics NAME FILE: FILE is well-formed Prometheus text: one HELP and TYPE per family,
# before its samples, and no family twice.
check_metrics() {
	check "$1" python3 - "$2" <<'PY'
import re, sys
seen, current = set(), None
for line in open(sys.argv[1]):
    if line.startswith("# HELP "):
        current = line.split()[2]
        assert current not in seen, "family twice: " + current
        seen.add(current)
    elif line.startswith("# TYPE "):
        assert line.split()[2] == current, line
    elif line.strip():
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        assert name == current or name.rsplit("_", 1)[0] == current, "sample outside its family: " + line
PY
}
