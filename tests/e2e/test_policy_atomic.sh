#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Atomicity under load: two policies that deny opposite UDP ports are applied alternately, 200
# applies, while datagrams to both ports flow. Every deny event names the generation that decided
# it; the port it denied must be the one that generation's policy denies (by the hash the history
# gives it), never the other: no packet is decided by a mix of two generations.
. "$(dirname "$0")/lib.sh"
require_root
setup_netns || { fail "setup" "cannot create namespaces"; exit 1; }
TOOLS="$(cd "$(dirname "$0")/.." && pwd)/tools"
APPLIES=${POLICY_ATOMIC_APPLIES:-200}
write_config "  enabled: false
policy:
  events: {max_per_sec: 1000000, burst: 1000000}"
start_agent || { fail "agent starts" "$(tail -5 "$TMP/agent.log")"; exit 1; }

for p in 6001 6002; do
	cat >"$TMP/deny$p.yaml" <<YAML
policies:
  - name: flip
    mode: block
    selector: {interfaces: [$IF_SRV]}
    default: allow
    rules:
      - {direction: ingress, action: deny, protocol: udp, ports: [$p]}
YAML
done
hash6001=$(sha256sum "$TMP/deny6001.yaml" | cut -d' ' -f1)
hash6002=$(sha256sum "$TMP/deny6002.yaml" | cut -d' ' -f1)
check "apply the first policy" cli policy apply "$TMP/deny6001.yaml"
start_seq=$(curl -sf --unix-socket "$SOCK" "http://l/v1/events?tail=0" | jq .next)

# Traffic to both ports all along (1000 datagrams/s each), applies back to back meanwhile.
for p in 6001 6002; do
	ip netns exec "$NS_CLI" python3 "$TOOLS/udpflood.py" "$ADDR_CLI" "$ADDR_SRV" "$p" 120 1000 >/dev/null &
	on_cleanup "kill $!"
	eval "flood$p=$!"
done
sleep 0.5
failed=0
start=$(date +%s.%N)
# In pairs (B B A A B B ...): the slot a generation is written into (the one before the one in
# force) then always held the other policy, so a packet decided by what the slot held before
# the new generation was complete would show under the new generation's number.
for i in $(seq 1 "$APPLIES"); do
	f="$TMP/deny$(( (i / 2) % 2 ? 6001 : 6002 )).yaml"
	if ! cli policy apply "$f" >/dev/null 2>"$TMP/apply.err"; then
		failed=$((failed + 1))
		cat "$TMP/apply.err" >&2
	fi
done
secs=$(echo "$(date +%s.%N) - $start" | bc)
sleep 0.5
kill "$flood6001" "$flood6002" 2>/dev/null
sleep 0.3
if [ "$failed" = 0 ]; then pass "$APPLIES applies under traffic ($secs s)"; else fail "$APPLIES applies under traffic" "$failed failed"; fi

cli policy history -n 100000 --json >"$TMP/history.json"
# Every decision event since the first apply, a page of 10000 at a time.
seq=$start_seq
missed=0
: >"$TMP/ev.txt"
while :; do
	curl -sf --unix-socket "$SOCK" "http://l/v1/events?since=$seq&type=policy&limit=10000" >"$TMP/page.json" || break
	jq -r '.events[] | "\(.generation) \(.dport) \(.verdict)"' "$TMP/page.json" >>"$TMP/ev.txt"
	missed=$((missed + $(jq .missed "$TMP/page.json")))
	[ "$(jq '.events | length' "$TMP/page.json")" = 0 ] && break
	seq=$(jq .next "$TMP/page.json")
done
# generation -> the port its policy denies
jq -r --arg a "$hash6001" --arg b "$hash6002" \
	'.history[] | select(.action == "apply") | "\(.generation) \(if .hash == $a then 6001 elif .hash == $b then 6002 else 0 end)"' \
	"$TMP/history.json" >"$TMP/gen_port.txt"
read -r total wrong gens unknown < <(awk 'NR == FNR { port[$1] = $2; next }
	{ n++; if (!($1 in port)) unk++; else if (port[$1] != $2) bad++; seen[$1] = 1 }
	END { g = 0; for (k in seen) g++; print n + 0, bad + 0, g, unk + 0 }' "$TMP/gen_port.txt" "$TMP/ev.txt")
if [ "$total" -gt 1000 ] && [ "$gens" -gt $((APPLIES / 2)) ] && [ "$missed" = 0 ] && [ "$unknown" = 0 ]; then
	pass "$total deny events over $gens generations, none missed"
else
	fail "enough deny events over many generations" "total $total, generations $gens, missed $missed, unknown generation $unknown"
fi
if [ "$wrong" = 0 ] && [ "$total" -gt 0 ]; then
	pass "every event's denied port is the one its generation's policy denies"
else
	fail "every event's denied port is the one its generation's policy denies" "$wrong of $total wrong"
fi
n=$(cli events --json --type policy_verify --tail 65536 | jq -s '[.[] | select(.result == "ok")] | length')
if [ "$n" -ge "$APPLIES" ]; then pass "every apply was verified before its switch ($n)"; else fail "every apply was verified" "$n"; fi
finish
