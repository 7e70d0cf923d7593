#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The veth flood: packets dropped per softirq CPU-second on the receiving side, for
#   - the empty XDP_DROP program (the floor),
#   - the guard in block mode, the flood's sources in its block list (1M IPv4 + 100k IPv6 in its
#     prefix tables, written with the agent's src/prefix_table.c),
#   - nftables with the same prefixes in interval sets on the netdev ingress hook.
#
# Namespaces aegbench-tx and aegbench-rx joined by a veth pair; build/bench/pktgen sends prebuilt
# 64-byte IPv4 UDP frames with sendmmsg, pinned to one CPU, from FLOOD_SOURCES source addresses
# in as many different block-list entries (a flood comes from many hosts; and one source alone
# measures one list entry, whose cost can depend on where the kernel happened to allocate it).
# No traffic leaves these two namespaces.
#
# All three filters are loaded once and take turns in each round (the nft table stays loaded;
# an attached XDP program drops before the ingress hook sees anything), in a rotating order, so
# that noise hits them alike. Softirq time is the per-CPU softirq column of /proc/stat (this
# kernel samples it at the tick); on a veth the receive side runs as softirq on the sender's
# CPU. Drops: what reached veth-rx (its rx_packets, which count XDP's packets too) minus what
# reached IP in the rx namespace (Ip InReceives in /proc/net/snmp). The nft rules count too, but
# reading them is useless here: listing a chain fetches the sets, and dumping a 1M-element
# interval set takes minutes (the rbtree dump restarts its walk for every netlink message).
#
# FLOOD_BPF_STATS=1 also reports the XDP programs' own run time per packet in the datapath
# (kernel.bpf_stats_enabled: costs two clock reads per run, so it is off for the main figures).
# Without it, an XDP turn whose program's run_cnt moved ran with kernel BPF stats on anyway
# (another process holds them, e.g. an aegis agent with bpf.stats on): the table says which.
#
# Usage: bench/guard/flood.sh        (root; after `make -C bench/guard` and `make`)
# Knobs (environment): FLOOD_SECONDS=4 per turn, FLOOD_ROUNDS=3, FLOOD_SOURCES=64, FLOOD_V4=1000000,
#   FLOOD_V6=100000, FLOOD_CPU=0 (sender), FLOOD_NFT_LIMIT=120 (s; past it nft gets 100k),
#   FLOOD_EXTRA="lpm parse" adds lpm_only and the guard's parser alone as filters (diagnostic),
#   FLOOD_BPF_STATS=0, FLOOD_GUARD_ARGS= (more xdp_attach options for the guard, e.g.
#   "--sample-every 0"), BENCH_BIN=build/bench, GUARD_OBJ=build/bpf/guard.bpf.o
set -u
cd "$(dirname "$0")/../.." || exit 1

BIN=${BENCH_BIN:-build/bench}
GUARD_OBJ=${GUARD_OBJ:-build/bpf/guard.bpf.o}
SECS=${FLOOD_SECONDS:-4}
ROUNDS=${FLOOD_ROUNDS:-3}
N4=${FLOOD_V4:-1000000}
N6=${FLOOD_V6:-100000}
CPU=${FLOOD_CPU:-0}
SOURCES=${FLOOD_SOURCES:-64}
NFT_LIMIT=${FLOOD_NFT_LIMIT:-120}
BPF_STATS=${FLOOD_BPF_STATS:-0}
NFT_FALLBACK_V4=100000
NFT_FALLBACK_V6=10000

TX=aegbench-tx
RX=aegbench-rx
TXIF=veth-tx
RXIF=veth-rx
DST=10.99.0.2
HZ=$(getconf CLK_TCK)

die() { echo "flood: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (namespaces, XDP)"
for b in pktgen xdp_attach prefixes; do
	[ -x "$BIN/$b" ] || die "$BIN/$b missing: make -C bench/guard"
done
[ -r "$GUARD_OBJ" ] || die "$GUARD_OBJ missing: make"
have_nft=1
command -v nft >/dev/null || { have_nft=0; echo "flood: nft not installed: nftables skipped" >&2; }

TMP=$(mktemp -d /tmp/aegbench.XXXXXX)
DROP_PID=
GUARD_PID=
LPM_PID=
PARSE_PID=
EXTRA=${FLOOD_EXTRA:-}
old_stats=

cleanup() {
	[ -n "$old_stats" ] && sysctl -qw kernel.bpf_stats_enabled="$old_stats"
	for p in $DROP_PID $GUARD_PID $LPM_PID $PARSE_PID; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $DROP_PID $GUARD_PID $LPM_PID $PARSE_PID; do
		wait "$p" 2>/dev/null
	done
	# Deleting the namespaces deletes the veth pair and the nft table with them.
	ip netns del $TX 2>/dev/null
	ip netns del $RX 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of an interrupted run.
ip netns del $TX 2>/dev/null
ip netns del $RX 2>/dev/null

ip netns add $TX || die "ip netns add $TX"
ip netns add $RX || die "ip netns add $RX"
ip link add $TXIF netns $TX type veth peer name $RXIF netns $RX || die "cannot create the veth pair"
for ns in $TX $RX; do
	# No IPv6 on the pair: no router or neighbour solicitations mixed into the counts.
	ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip netns exec $ns sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip -n $ns link set lo up
done
ip -n $TX addr add 10.99.0.1/24 dev $TXIF
ip -n $RX addr add $DST/24 dev $RXIF
ip -n $TX link set $TXIF up
ip -n $RX link set $RXIF up
RXMAC=$(ip netns exec $RX cat /sys/class/net/$RXIF/address)
hits() { "$BIN/prefixes" --v4 "$1" --v6 "$2" --print hits4 --count "$SOURCES" | paste -sd, -; }
SRC=$(hits "$N4" "$N6") || die "prefixes failed"
[ -n "$SRC" ] || die "no source addresses"

now() { date +%s.%N; }
secs_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Sum of the softirq column over all CPUs, in USER_HZ ticks.
softirq_ticks() { awk '/^cpu[0-9]/ { s += $8 } END { print s }' /proc/stat; }
# Packets that reached veth-rx but not IP: dropped by whichever filter is on.
rx_not_ip() {
	ip netns exec $RX sh -c "cat /sys/class/net/$RXIF/statistics/rx_packets; cat /proc/net/snmp" |
		awk 'NR == 1 { rx = $1; next }
			/^Ip: [A-Z]/ { for (i = 2; i <= NF; i++) if ($i == "InReceives") col = i; next }
			/^Ip: / { print rx - $col; exit }'
}
# "run_time_ns run_cnt" of the XDP program on veth-rx (they move only while BPF stats are on).
xdp_prog_stats() {
	local id
	id=$(ip -n $RX -d link show $RXIF | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p' | head -1)
	[ -n "$id" ] || { echo "0 0"; return; }
	bpftool prog show id "$id" | awk '{ for (i = 1; i < NF; i++) { if ($i == "run_time_ns") t = $(i + 1);
		if ($i == "run_cnt") c = $(i + 1) } } END { printf "%.0f %.0f\n", t, c }'
}

wait_for() {	# FILE TEXT TIMEOUT
	local i=0
	while [ "$(cat "$1" 2>/dev/null)" != "$2" ]; do
		i=$((i + 1))
		[ $i -gt $(($3 * 20)) ] && return 1
		sleep 0.05
	done
}

start_loader() {	# NAME ARGS...: loads detached, sets NAME_PID
	local name=$1
	shift
	ip netns exec $RX "$BIN/xdp_attach" --iface $RXIF --detached --state "$TMP/$name.state" "$@" \
		>"$TMP/$name.out" 2>"$TMP/$name.err" &
	eval "${name}_PID=$!"
	if ! wait_for "$TMP/$name.state" detached 180; then
		cat "$TMP/$name.err" >&2
		die "$name: xdp_attach did not come up"
	fi
}

echo "## veth flood"
echo
echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), kernel $(uname -r), $(nproc) CPUs; sender pinned to CPU $CPU"
echo "- $ROUNDS rounds x $SECS s per filter, filters interleaved; 64-byte IPv4 UDP from $SOURCES sources in" \
	"$SOURCES different block-list entries (first: ${SRC%%,*})"

t=$(now)
start_loader DROP --prog drop
# shellcheck disable=SC2086
start_loader GUARD --prog guard --guard-obj "$GUARD_OBJ" --v4 "$N4" --v6 "$N6" --mode block ${FLOOD_GUARD_ARGS:-}
for x in $EXTRA; do
	case $x in
	lpm) start_loader LPM --prog lpm --v4 "$N4" --v6 "$N6" ;;
	parse) start_loader PARSE --prog parse ;;
	*) die "FLOOD_EXTRA: lpm or parse, not $x" ;;
	esac
done
echo "- guard loaded from $GUARD_OBJ with libbpf; the loaders were up in $(secs_since "$t") s" \
	"(list generation, BPF loads, table fill); prefix tables filled: $(sed -n 's/^xdp_attach: guard lists filled: //p' "$TMP/GUARD.err")"

nft_note=
if [ $have_nft = 1 ]; then
	"$BIN/prefixes" --v4 "$N4" --v6 "$N6" --nft "$TMP/block.nft" --iface $RXIF || die "prefixes --nft failed"
	t=$(now)
	ip netns exec $RX timeout "$NFT_LIMIT" nft -f "$TMP/block.nft"
	rc=$?
	nft_load=$(secs_since "$t")
	if [ $rc = 124 ]; then
		ip netns exec $RX nft delete table netdev aegbench 2>/dev/null
		nft_note="nft -f of $N4 + $N6 prefixes took over ${NFT_LIMIT} s: nftables holds $NFT_FALLBACK_V4 + $NFT_FALLBACK_V6 instead"
		# The sources are picked again, from the shorter list.
		"$BIN/prefixes" --v4 $NFT_FALLBACK_V4 --v6 $NFT_FALLBACK_V6 --nft "$TMP/block.nft" --iface $RXIF
		NFT_SRC=$(hits $NFT_FALLBACK_V4 $NFT_FALLBACK_V6)
		t=$(now)
		ip netns exec $RX nft -f "$TMP/block.nft" || die "nft -f failed"
		nft_load=$(secs_since "$t")
		echo "- $nft_note (loaded in $nft_load s; sources from that list)"
	elif [ $rc != 0 ]; then
		die "nft -f $TMP/block.nft failed"
	else
		NFT_SRC=$SRC
		echo "- nftables: $N4 + $N6 prefixes in interval sets on netdev ingress of $RXIF; \`nft -f\` took $nft_load s"
	fi
fi

# Turn one filter on: XDP programs by signal, nftables by having no XDP program in front of it.
use() {
	local p n want=
	case $1 in
	drop) want=DROP ;; guard) want=GUARD ;; lpm) want=LPM ;; parse) want=PARSE ;;
	esac
	for n in DROP GUARD LPM PARSE; do
		p=${n}_PID
		[ -n "${!p}" ] && [ $n != "$want" ] || continue
		kill -USR2 "${!p}" && wait_for "$TMP/$n.state" detached 10 || return 1
	done
	if [ -n "$want" ]; then
		p=${want}_PID
		kill -USR1 "${!p}" && wait_for "$TMP/$want.state" attached 10 || return 1
	fi
}

declare -A SENT DROPPED TICKS WALL RUNNS RUNCNT
STATS_ON=
cases="drop guard"
[ $have_nft = 1 ] && cases="drop guard nft"
cases="$cases $EXTRA"
for c in $cases; do SENT[$c]=0; DROPPED[$c]=0; TICKS[$c]=0; WALL[$c]=0; RUNNS[$c]=0; RUNCNT[$c]=0; done
if [ "$BPF_STATS" = 1 ]; then
	old_stats=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -qw kernel.bpf_stats_enabled=1
	echo "- kernel.bpf_stats_enabled=1 for this run: every XDP run also reads the clock twice"
fi

for r in $(seq 1 "$ROUNDS"); do
	# Rotate the order each round.
	set -- $cases
	for _ in $(seq 2 "$r"); do set -- "${@:2}" "$1"; done
	for c in "$@"; do
		use $c || die "cannot switch to $c"
		sleep 0.3
		src=$SRC
		[ $c = nft ] && src=$NFT_SRC
		read -r p0 q0 < <(xdp_prog_stats)
		d0=$(rx_not_ip)
		s0=$(softirq_ticks)
		out=$(ip netns exec $TX "$BIN/pktgen" --iface $TXIF --src "$src" --dst $DST --dst-mac "$RXMAC" \
			--cpu "$CPU" --seconds "$SECS") || die "pktgen failed"
		s1=$(softirq_ticks)
		d1=$(rx_not_ip)
		read -r p1 q1 < <(xdp_prog_stats)
		RUNNS[$c]=$((RUNNS[$c] + p1 - p0))
		RUNCNT[$c]=$((RUNCNT[$c] + q1 - q0))
		[ "$BPF_STATS" != 1 ] && [ "$q1" != "$q0" ] && STATS_ON="$STATS_ON round $r $c,"
		sent=$(echo "$out" | sed -n 's/.*sent=\([0-9]*\).*/\1/p')
		wall=$(echo "$out" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p')
		SENT[$c]=$((SENT[$c] + sent))
		DROPPED[$c]=$((DROPPED[$c] + d1 - d0))
		TICKS[$c]=$((TICKS[$c] + s1 - s0))
		WALL[$c]=$(awk -v a="${WALL[$c]}" -v b="$wall" 'BEGIN { print a + b }')
		echo "  round $r $c: sent $sent, dropped $((d1 - d0)), softirq $((s1 - s0)) ticks" >&2
	done
done
use nft >/dev/null 2>&1	# leave nothing attached
if [ -n "$old_stats" ]; then
	sysctl -qw kernel.bpf_stats_enabled="$old_stats"
	old_stats=
fi

mpps_per_cpu() { awk -v d="${DROPPED[$1]}" -v t="${TICKS[$1]}" -v hz="$HZ" \
	'BEGIN { if (t > 0) printf "%.2f", d / (t / hz) / 1e6; else print "n/a" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }

declare -A EFF
for c in $cases; do EFF[$c]=$(mpps_per_cpu $c); done
echo
echo "| filter | offered Mpps | dropped Mpps | softirq CPU-s per s | Mpps dropped per softirq CPU-s | vs empty XDP | vs nftables |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for c in $cases; do
	case $c in
	drop) name="empty XDP_DROP (native XDP)" ;;
	guard) name="guard, block mode, $N4 + $N6 prefixes (native XDP)" ;;
	nft) name="nftables netdev ingress, interval sets"
		[ -n "$nft_note" ] && name="$name ($NFT_FALLBACK_V4 + $NFT_FALLBACK_V6 prefixes)" ;;
	lpm) name="lpm_only, same prefixes (native XDP; diagnostic)" ;;
	parse) name="the guard's parser alone (native XDP; diagnostic)" ;;
	esac
	awk -v n="$name" -v s="${SENT[$c]}" -v d="${DROPPED[$c]}" -v t="${TICKS[$c]}" -v w="${WALL[$c]}" \
		-v hz="$HZ" -v e="${EFF[$c]}" -v re="$(ratio "${EFF[$c]}" "${EFF[drop]}")" \
		-v rn="$(ratio "${EFF[$c]}" "${EFF[nft]:-0}")" \
		'BEGIN { printf "| %s | %.2f | %.2f | %.2f | %s | %s | %s |\n", n, s / w / 1e6, d / w / 1e6,
			 t / hz / w, e, re, rn }'
done
if [ -n "$STATS_ON" ]; then
	echo
	echo "Kernel BPF stats were on (another process held them) during:${STATS_ON%,}: those turns paid two" \
		"clock reads per XDP run (nftables turns cannot tell); run again."
fi
if [ "$BPF_STATS" = 1 ]; then
	echo
	echo "| XDP program | ns per run in the datapath (bpf_stats) | runs |"
	echo "|---|---:|---:|"
	for c in drop guard $EXTRA; do
		awk -v n="$c" -v t="${RUNNS[$c]}" -v k="${RUNCNT[$c]}" \
			'BEGIN { printf "| %s | %s | %d |\n", n, (k > 0 ? sprintf("%.0f", t / k) : "-"), k }'
	done
fi
echo
for p in DROP GUARD LPM PARSE; do
	pid=${p}_PID
	[ -n "${!pid}" ] || continue
	kill -TERM "${!pid}" 2>/dev/null
	wait "${!pid}" 2>/dev/null
	eval "${p}_PID="
done
sed -n 's/^guard counters: /- guard counters at exit (all rounds): /p' "$TMP/GUARD.out"
