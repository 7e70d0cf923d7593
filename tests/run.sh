#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Runs the unit tests (C runner) and the end-to-end tests (tests/e2e/test_*.sh), then prints one
# summary line "N passed, N failed, N skipped" and exits non-zero on any failure.
#   sh tests/run.sh [unit|e2e|all] [NAME-FILTER]
set -u
cd "$(dirname "$0")/.."
what=${1:-all}
filter=${2:-}
results=$(mktemp /tmp/aegis-results.XXXXXX)
trap 'rm -f "$results"' EXIT
export AEGIS_TEST_RESULTS="$results"
export AEGIS_BIN="$PWD/build/aegis"
export AEGIS_BUILD="$PWD/build"

if [ "$(id -u)" != 0 ]; then
	echo "tests need root (network namespaces, BPF): run as root" >&2
	exit 1
fi

run_unit() {
	echo "== unit tests (build/test_unit)"
	# shellcheck disable=SC2086
	./build/test_unit $filter >"$results.unit" 2>&1
	rc=$?
	cat "$results.unit"
	grep -E '^(PASS|FAIL|SKIP) ' "$results.unit" | sed 's/^/unit: /' >>"$results"
	if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$results.unit"; then
		echo "FAIL unit: test_unit exited $rc without a result line (crash?)" >>"$results"
	fi
	rm -f "$results.unit"
}

run_e2e() {
	for t in tests/e2e/test_*.sh; do
		case "$t" in *"$filter"*) ;; *) continue ;; esac
		echo "== $t"
		before=$(wc -l <"$results")
		start=$(date +%s)
		timeout --kill-after=10 600 bash "$t"
		rc=$?
		after=$(wc -l <"$results")
		echo "   ($t: $(( $(date +%s) - start ))s)"
		if [ $rc -ne 0 ] && ! tail -n $((after - before)) "$results" | grep -q '^FAIL '; then
			echo "FAIL $t: exited $rc without reporting a failure" >>"$results"
		fi
	done
}

case "$what" in
unit) run_unit ;;
e2e) run_e2e ;;
all) run_unit; run_e2e ;;
*) echo "usage: tests/run.sh [unit|e2e|all] [FILTER]" >&2; exit 2 ;;
esac

passed=$(grep -Ec '^(unit: )?PASS ' "$results" || true)
failed=$(grep -Ec '^(unit: )?FAIL ' "$results" || true)
skipped=$(grep -Ec '^(unit: )?SKIP ' "$results" || true)
if [ "$failed" -gt 0 ]; then
	echo "-- failures:"
	grep -E '^(unit: )?FAIL ' "$results"
fi
if [ "$skipped" -gt 0 ]; then
	echo "-- skipped:"
	grep -E '^(unit: )?SKIP ' "$results"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
