#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The CLI without an agent, and its usage errors: one clear line and the right exit code.
. "$(dirname "$0")/lib.sh"

out=$("$AEGIS" --socket "$TMP/none.sock" status 2>&1); rc=$?
if [ $rc -eq 1 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] && echo "$out" | grep -q "agent is not running"; then
	pass "status without an agent: one line, exit 1"
else
	fail "status without an agent: one line, exit 1" "rc=$rc out=$out"
fi
out=$("$AEGIS" --socket "$TMP/none.sock" progs --json 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "not running"; then pass "progs without an agent: exit 1"; else fail "progs without an agent" "rc=$rc"; fi
check "--version prints the version" bash -c "set -o pipefail; '$AEGIS' --version | grep -Eq '^aegis [0-9]+\.[0-9]+\.[0-9]+'"
check "help lists the commands" bash -c "'$AEGIS' help | grep -q 'probe' && '$AEGIS' help | grep -q 'agent'"
for c in agent probe config status progs guard audit block unblock allow unallow list stats events; do
	check "$c --help" bash -c "set -o pipefail; '$AEGIS' $c --help | grep -q 'usage: aegis $c'"
done
"$AEGIS" frobnicate >/dev/null 2>&1; rc=$?
if [ $rc -eq 2 ]; then pass "unknown command exits 2"; else fail "unknown command exits 2" "rc=$rc"; fi
"$AEGIS" status --bogus >/dev/null 2>&1; rc=$?
if [ $rc -eq 2 ]; then pass "unknown option exits 2"; else fail "unknown option exits 2" "rc=$rc"; fi
"$AEGIS" help frobnicate >/dev/null 2>&1; rc=$?
if [ $rc -eq 2 ]; then pass "help of an unknown command exits 2"; else fail "help of an unknown command exits 2" "rc=$rc"; fi
out=$("$AEGIS" config check "$TMP/missing.yaml" 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "missing.yaml"; then pass "config check of a missing file names it"; else fail "config check of a missing file" "rc=$rc out=$out"; fi
check "config default is a valid configuration" bash -c "'$AEGIS' config default > '$TMP/default.yaml' && '$AEGIS' config check '$TMP/default.yaml'"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
check "docs/cli.md matches the command table (make docs)" bash -c "'$AEGIS' help --markdown | diff -u '$REPO/docs/cli.md' -"
check "make install puts the binary, unit, configuration and docs in DESTDIR" bash -c "
	make -s -C '$REPO' install DESTDIR='$TMP/inst' >/dev/null &&
	'$TMP/inst/usr/local/sbin/aegis' --version &&
	test -f '$TMP/inst/etc/systemd/system/aegis.service' &&
	'$TMP/inst/usr/local/sbin/aegis' config check '$TMP/inst/etc/aegis/aegis.yaml' &&
	test -f '$TMP/inst/usr/local/share/doc/aegis/api.md'"
finish
