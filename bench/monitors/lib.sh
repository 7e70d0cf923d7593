# SPDX-License-Identifier: GPL-2.0-only
# Shared by bench/monitors/*.sh (bash): a scratch directory, a copy of the aegis binary (a
# rebuild during a run must not take the CLI away; AEGIS_BIN=PATH measures another build), the workload programs, a loop device backed
# by tmpfs, and an agent with the guard off (pins under /sys/fs/bpf/aegis-NAME-PID: bpffs
# refuses names with a dot); everything removed on exit.
#   bench_setup NAME MONITORS-YAML
set -u
cd "$(dirname "$0")/../.." || exit 1
TMP=
SHM=		# /dev/shm/<name>: .img backs the loop device, .dd is the dd workload's file
LOOP=
AGENT=
AEGIS=

bench_cleanup() {
	[ -n "$AGENT" ] && kill "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null
	[ -n "$LOOP" ] && losetup -d "$LOOP"
	[ -n "$TMP" ] && "$AEGIS" agent --cleanup --config "$TMP/agent.yaml" >/dev/null 2>&1
	[ -n "$TMP" ] && rm -rf "$TMP" "$SHM.img" "$SHM.dd"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

cli() { "$AEGIS" --socket "$TMP/aegis.sock" "$@"; }

bench_setup() {
	command -v fio >/dev/null || { echo "bench/monitors: needs fio (apt-get install fio)" >&2; exit 1; }
	TMP=$(mktemp -d "/tmp/aegis-$1.XXXXXX")
	cp "${AEGIS_BIN:-build/aegis}" "$TMP/aegis" || exit 1
	AEGIS=$TMP/aegis
	cc -O2 -Wall -o "$TMP/pingpong" bench/monitors/pingpong.c &&
		cc -O2 -Wall -o "$TMP/udploop" bench/monitors/udploop.c || exit 1
	# The loop device's backing file is on tmpfs: the fastest block device there is.
	SHM=/dev/shm/$(basename "$TMP")
	truncate -s 256M "$SHM.img" || exit 1
	LOOP=$(losetup -f --show "$SHM.img") || exit 1
	dd if=/dev/urandom of="$LOOP" bs=1M count=256 oflag=direct status=none
	cat >"$TMP/agent.yaml" <<YAML
agent:
  socket: $TMP/aegis.sock
  state_dir: $TMP/state
  audit_log: $TMP/audit.jsonl
  log_level: warn
bpf:
  pin_root: /sys/fs/bpf/aegis-$1-$$
  stats: ${BPF_STATS:-true}
guard:
  enabled: false
$2
YAML
	"$AEGIS" agent --config "$TMP/agent.yaml" >"$TMP/agent.log" 2>&1 &
	AGENT=$!
	for _ in $(seq 50); do cli status >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "bench/monitors: the agent did not start: $(tail -3 "$TMP/agent.log")" >&2
	exit 1
}
