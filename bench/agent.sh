# SPDX-License-Identifier: GPL-2.0-only
# Shared by the benchmark scripts that run an aegis agent (bash, sourced). The caller sets TMP (its
# scratch directory), AEGIS (a copy of the binary: a rebuild during a run must not change the
# agent under test) and AGENT= (the agent's pid, set here).

# bench_agent_yaml PIN-ROOT BPF-STATS [EXTRA-YAML]: $TMP/agent.yaml, with the socket, state, audit
# log and agent log in $TMP, pins under PIN-ROOT (bpffs refuses names with a dot), the kernel's
# BPF run-time statistics on or off (true|false), then EXTRA-YAML (guard, visibility, ...).
bench_agent_yaml() {
	cat >"$TMP/agent.yaml" <<YAML
agent:
  socket: $TMP/aegis.sock
  state_dir: $TMP/state
  audit_log: $TMP/audit.jsonl
  log_level: warn
bpf:
  pin_root: $1
  stats: $2
${3:-}
YAML
}

cli() { "$AEGIS" --socket "$TMP/aegis.sock" "$@"; }

# bench_agent_start [PREFIX...]: starts the agent (behind PREFIX, e.g. nsenter --net=...) and waits
# up to 10 s for its API; says why and returns 1 when it does not answer.
bench_agent_start() {
	"$@" "$AEGIS" agent --config "$TMP/agent.yaml" >>"$TMP/agent.log" 2>&1 &
	AGENT=$!
	for _ in $(seq 100); do
		cli status >/dev/null 2>&1 && return 0
		kill -0 "$AGENT" 2>/dev/null || break
		sleep 0.1
	done
	echo "$(basename "$0"): the agent did not start: $(tail -3 "$TMP/agent.log")" >&2
	return 1
}

# bench_agent_stop: stops the agent (also when stopped with SIGSTOP) and removes every program,
# link and pin it made.
bench_agent_stop() {
	if [ -n "$AGENT" ]; then
		kill -CONT "$AGENT" 2>/dev/null
		kill "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null
	fi
	AGENT=
	[ -f "$TMP/agent.yaml" ] && "$AEGIS" agent --cleanup --config "$TMP/agent.yaml" >/dev/null 2>&1
	return 0
}
