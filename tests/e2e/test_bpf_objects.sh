#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Objects are validated before they reach the kernel: a truncated or foreign ELF is refused with a
# clear error and nothing is loaded; a verifier rejection names the program and shows the log.
. "$(dirname "$0")/lib.sh"
require_root
setup_netns || { fail "setup" "cannot create namespaces"; exit 1; }
OBJDIR="$TMP/objects"
mkdir -p "$OBJDIR"
# object_dir belongs in the bpf section.
write_config && sed -i "s|^  pin_root: .*|&\n  object_dir: $OBJDIR|" "$TMP/agent.yaml"

expect_refused() {	# NAME PATTERN: the agent must exit non-zero, say PATTERN and load nothing
	local name=$1 pattern=$2
	: >"$TMP/agent.log"
	if start_agent; then
		fail "$name" "the agent started"
		stop_agent_kill
		return
	fi
	if ! grep -qE "$pattern" "$TMP/agent.log"; then
		fail "$name" "no '$pattern' in: $(tail -c 400 "$TMP/agent.log" | tr '\n' ' ')"
	elif [ -e "$PIN_ROOT/guard/progs/xdp_guard" ] || [ "$(xdp_prog_id)" != 0 ]; then
		fail "$name" "something was loaded or attached"
	else
		pass "$name"
	fi
}

size=$(stat -c %s "$BUILD/bpf/guard.bpf.o")
head -c $((size / 2)) "$BUILD/bpf/guard.bpf.o" >"$OBJDIR/guard.bpf.o"
expect_refused "a truncated object is refused before load" "guard.bpf.o: refused: .*truncated"
check "the refusal is audited" audit_has validate error "truncated"

cp /bin/true "$OBJDIR/guard.bpf.o"
expect_refused "a foreign ELF is refused before load" "guard.bpf.o: refused: .*(machine|BPF)"

printf 'this is not an ELF file\n' >"$OBJDIR/guard.bpf.o"
expect_refused "a text file is refused before load" "guard.bpf.o: refused"

cp "$BUILD/fixtures/verifier_reject.bpf.o" "$OBJDIR/guard.bpf.o"
expect_refused "a verifier rejection names the program" "refused to load .*program xdp_guard"
check "the verifier log tail is shown" grep -q "verifier log" "$TMP/agent.log"
check "the verifier rejection is audited with the log" \
	bash -c "jq -s -e '[.[] | select(.op == \"load\" and .result == \"error\" and .program == \"xdp_guard\" and (.verifier_log_tail | length) > 0)] | length > 0' '$TMP/audit.jsonl'"

cp "$BUILD/bpf/guard.bpf.o" "$OBJDIR/guard.bpf.o"
if start_agent; then pass "a valid object from bpf.object_dir loads"; else fail "a valid object from bpf.object_dir loads" "$(tail -5 "$TMP/agent.log")"; fi
jcheck "progs names the object file" ".programs[0].object == \"$OBJDIR/guard.bpf.o\"" progs --json
finish
