# SPDX-License-Identifier: GPL-2.0-only
# Shared by bench/monitors/*.sh (bash): a scratch directory, a copy of the aegis binary (a
# rebuild during a run must not take the CLI away; AEGIS_BIN=PATH measures another build), the workload programs, a loop device backed
# by tmpfs, and an agent with the guard off (pins under /sys/fs/bpf/aegis-NAME-PID: bpffs
# refuses names with a dot); everything removed on exit.
#   bench_setup NAME MONITORS-YAML
set -u
cd "$(dirname "$0")/../.." || exit 1
. bench/agent.sh
TMP=
SHM=		# /dev/shm/<name>: .img backs the loop device, .dd is the dd workload's file
LOOP=
AGENT=
AEGIS=

bench_cleanup() {
	[ -n "$TMP" ] && bench_agent_stop
	[ -n "$LOOP" ] && losetup -d "$LOOP"
	[ -n "$TMP" ] && rm -rf "$TMP" "$SHM.img" "$SHM.dd"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

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
	bench_agent_yaml "/sys/fs/bpf/aegis-$1-$$" "${BPF_STATS:-true}" "guard:
  enabled: false
$2"
	bench_agent_start || exit 1
}
