// SPDX-License-Identifier: GPL-2.0-only
/* The command table: names, synopses and help texts, shared by main() and the commands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "util.h"

static const struct command commands[] = {
	{ "agent", cmd_agent, "agent [--config FILE] [--cleanup] [--iface IF]... [--no-tc] [--no-cg] [--dry-run]",
	  "Run the daemon: load, pin and attach the eBPF programs, serve the control API.\n"
	  "  --config FILE   YAML configuration (default: the embedded one, see `aegis config default`)\n"
	  "  --cleanup       remove every program, link, pin and attachment aegis made, then exit\n"
	  "  --log-level L   error, warn, info or debug (overrides agent.log_level)\n"
	  "  --iface IF      ingress interface of policies that select none (policy.interfaces;\n"
	  "                  repeatable)\n"
	  "  --no-tc         attach no TC programs: ingress policies are not enforced (policy.tc)\n"
	  "  --no-cg         attach no cgroup programs: egress policies are not enforced (policy.cgroup)\n"
	  "  --dry-run       every policy observes, whatever its mode (policy.dry_run)\n"
	  "Signals: SIGHUP reloads the configuration (a bad one is refused, the running one stays);\n"
	  "SIGTERM/SIGINT stop the agent and leave enforcement in place (agent.on_exit: keep)." },
	{ "probe", cmd_probe, "probe [--json] [--config FILE]",
	  "Find out by trying what this kernel and this process can do: program types (loaded and\n"
	  "attached), map types, helpers, kfuncs, BTF, JIT, mounts, capabilities, memlock; then the\n"
	  "state of each aegis capability. Exit 0 when every capability the configuration enables is\n"
	  "ready or degraded, 1 when one is unavailable (the reason is printed). Leaves nothing behind.\n"
	  "  --json          machine-readable report\n"
	  "  --config FILE   judge readiness against this configuration (default: the embedded one)" },
	{ "config", cmd_config, "config default | check FILE... | show [FILE] [--json]",
	  "  default         print the embedded default configuration\n"
	  "  check FILE...   validate completely; every problem as file:line:column: key: message\n"
	  "  show [FILE]     the effective configuration (defaults filled in) as JSON" },
	{ "status", cmd_status, "status [--json]",
	  "Ask the running agent: version, uptime, configuration in force, each capability's state,\n"
	  "programs attached and headline counters." },
	{ "progs", cmd_progs, "progs [--json]",
	  "Every program and map aegis has in the kernel: ids, attach points, pin paths, run count\n"
	  "and average run time (kernel BPF statistics), map entries, max entries and memory." },
	{ "guard", cmd_guard, "guard [--json] | guard mode [--interface IF] observe|block",
	  "Show the XDP guard's interfaces, modes and counters, or switch the mode at run time\n"
	  "(a map write: no reload, no gap). A run-time switch lasts until the agent restarts." },
	{ "block", cmd_block, "block CIDR [--ttl D] [--reason TEXT] [--proto tcp|udp --port N] [--force] | block --file FILE [...]",
	  "Drop traffic from CIDR (IPv4 or IPv6) on every guarded interface in block mode (counted as\n"
	  "would-drop in observe mode). Expiry is enforced in the kernel, so it holds while the agent\n"
	  "is down. Host bits are cleared (with a note). Blocking 0.0.0.0/0, ::/0 or a prefix holding\n"
	  "this host's default gateway needs --force. Entries persist across restarts.\n"
	  "  --ttl D         90s, 10m, 2h, 7d or seconds (default: no expiry)\n"
	  "  --reason TEXT   why, shown by `aegis list` and in the audit log\n"
	  "  --proto P --port N  only TCP or UDP packets to destination port N (`block\n"
	  "                  198.51.100.0/24 --proto udp --port 53`); other traffic from CIDR passes.\n"
	  "                  A scoped entry is its own entry: unblock it with the same --proto/--port\n"
	  "  --file FILE     bulk import (- for stdin): one CIDR a line, '#' and ';' comments, as in\n"
	  "                  FireHOL and Spamhaus DROP lists; prints accepted, duplicate and rejected\n"
	  "  --json          machine output" },
	{ "unblock", cmd_unblock, "unblock CIDR [--proto tcp|udp --port N]",
	  "Remove CIDR from the block list (exactly that prefix, and that scope when given)." },
	{ "allow", cmd_allow, "allow CIDR [--ttl D] [--reason TEXT] | allow --file FILE [...]",
	  "Never drop traffic from CIDR: the allow list wins over any block, so a management network\n"
	  "cannot be locked out. Options as for block, but for --proto/--port: an allowed source\n"
	  "passes whole." },
	{ "unallow", cmd_unallow, "unallow CIDR", "Remove CIDR from the allow list." },
	{ "list", cmd_list, "list [blocks|allows] [--limit N] [--json]",
	  "The entries with origin (cli, config, file, auto), remaining TTL, hit packets and bytes, and\n"
	  "reason; sorted by address; at most N (default 10000)." },
	{ "stats", cmd_stats, "stats [--json]",
	  "Every guard counter per interface (summed over CPUs): received, passed, dropped,\n"
	  "would-drop (observe mode), non-IP, malformed, fragments, list hits, and drops by reason." },
	{ "events", cmd_events, "events [--follow] [--json] [--type T,...] [--tail N]",
	  "The agent's event stream: audit records (type audit: every load, attach, list change,\n"
	  "reload and refusal), drop samples and auto-blocks, and with visibility the process\n"
	  "events (exec, fork, exit), flow events (flow: new and closed) and frames (frame).\n"
	  "  --follow, -f    keep reading as events arrive (long polling; no busy loop)\n"
	  "  --json          one JSON object per line\n"
	  "  --type T,...    only these types\n"
	  "  --tail N        start with the last N kept events of those types (default 20)\n"
	  "Events missed because the agent's ring (65536) moved on are counted on stderr." },
	{ "capture", cmd_capture, "capture -w FILE.pcap [-c N] [--seconds S]",
	  "Write the guard's sampled drop records (guard.sampling) from now on to a pcap file that\n"
	  "tcpdump and Wireshark open: the first 128 bytes of each dropped (or would-dropped) packet.\n"
	  "Stops after N packets, S seconds, or Ctrl-C." },
	{ "top", cmd_top, "top [-n N] [--json]",
	  "The busiest source prefixes (the rate-limit prefix: /32 and /64 by default) over the last\n"
	  "second: packets and bytes per second, split into passed, dropped and would-drop (observe\n"
	  "mode), with totals and, where a rate limit applies, the packets over it. From a sample of\n"
	  "1 in guard.top.sample_every packets, so figures are estimates and a source must send that\n"
	  "many packets to appear." },
	{ "audit", cmd_audit, "audit [-n N] [--json]",
	  "The last N records of the agent's audit log (default 20)." },
	{ "policy", cmd_policy, "policy [show] | check FILE... | diff FILE | apply FILE [--dry-run] | rollback | history [-n N] | stats | mode NAME observe|block",
	  "Network policy enforcement (docs/policy.md): TC ingress on interfaces, cgroup egress for\n"
	  "processes, per-policy observe or block mode. Every subcommand takes --json.\n"
	  "  show            the generation in force: hash, when and by whom, policies and modes,\n"
	  "                  the previous generation (rollback target), attachments\n"
	  "  check FILE...   validate completely, here (no agent): every problem as\n"
	  "                  file:line:column: key: message; exit 1 on any\n"
	  "  diff FILE       what FILE changes against the policy in force, rule by rule\n"
	  "  apply FILE      compile into the maps' free generation, read it back and decide sample\n"
	  "                  packets from what was read, then switch in one store: every packet is\n"
	  "                  decided wholly by the old or the new policy. A file that fails any step\n"
	  "                  is not applied and the policy in force stays.\n"
	  "    --dry-run     everything but the switch; prints the diff\n"
	  "  rollback        back to the previous generation in one switch (again: forward)\n"
	  "  history [-n N]  the generations applied: hash, time, actor, source (kept across restarts)\n"
	  "  stats           packets, bytes, allowed, denied, would-deny and replies per rule and policy\n"
	  "  mode NAME M     observe or block, at run time (a map write, no reload); kept across\n"
	  "                  restarts until the next apply\n"
	  "Decisions: `aegis events --follow --json --type policy`; phases: policy_verify,\n"
	  "policy_apply, policy_rollback, policy_mode, policy_restore." },
	{ "monitor", cmd_monitor, "monitor [runq|io|mem|net] [--interval S] [--count N] [--top N] [--json] | monitor enable|disable NAME",
	  "The host monitors (tracepoints, always on): without a name, which are on. With one:\n"
	  "  runq   run-queue latency (log2 histogram of microseconds, whole host and per configured\n"
	  "         cgroup), context switches per CPU (voluntary, involuntary), top tasks by wait\n"
	  "  io     block I/O latency from issue to completion per device and operation, with bytes\n"
	  "  mem    reclaim stalls (direct, memcg), page allocation failures, OOM kills\n"
	  "  net    packets and bytes per interface, drops by the kernel's reason, TCP retransmits\n"
	  "Without --interval: totals since the monitor was attached. With it: what happened in each\n"
	  "interval (the CLI reads the agent's cumulative counters twice; nothing is reset).\n"
	  "  --interval S    seconds per report (1..3600); --count N reports, then exit (default: until Ctrl-C)\n"
	  "  --top N         tasks in the runq top list (default 10)\n"
	  "  --json          one JSON object per report\n"
	  "  enable|disable NAME  attach or detach a monitor's programs now (audited); lasts until the\n"
	  "                  next reload or restart, which apply monitors.NAME.enabled" },
	{ "ps", cmd_ps, "ps [--tree] [--all] [--json] [--pid N]",
	  "The processes host visibility tracks (visibility.enabled): pid, parent, user, state, start,\n"
	  "exec_id and command line. An exec_id names one program run on this host, unique across\n"
	  "reboots and pid reuse; its parent's exec_id makes the ancestry a chain of exec_ids.\n"
	  "  --tree          children under their parent (by exec_id), like ps --forest\n"
	  "  --all           also the processes that exited or exec'd in the last\n"
	  "                  visibility.exited_retention, with their exit code or signal\n"
	  "  --pid N         every process pid N was in that time, with its ancestry\n"
	  "  --json          the records as the API gives them (docs/visibility.md)" },
	{ "flows", cmd_flows, "flows [--json] [--pid N] [--exec-id ID]",
	  "Every TCP and UDP flow (IPv4 and IPv6) with its direction, state, bytes and packets each\n"
	  "way and the process that owns it, kept after the process exits; closed flows stay for\n"
	  "visibility.flow_retention.\n"
	  "  --pid N         flows owned by process N (any program it ran)\n"
	  "  --exec-id ID    flows owned by that one program run\n"
	  "  --json          the records as the API gives them (docs/visibility.md)" },
};

static const char *global_options =
	"Global options: --socket PATH (default /run/aegis/aegis.sock, or $AEGIS_SOCKET),\n"
	"                --version, --help\n";

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (streq(argv[i], "--"))
			break;
		if (streq(argv[i], "--help") || streq(argv[i], "-h"))
			return true;
	}
	return false;
}

/* docs/cli.md is generated from this table (`make docs`), so the reference never drifts. */
void cli_print_markdown(void)
{
	printf("# aegis command reference\n\n<!-- generated by `make docs` from src/cli.c: do not edit -->\n\n");
	printf("```\nusage: aegis [--socket PATH] COMMAND [ARGS]\n```\n\n%s\n", global_options);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		printf("## aegis %s\n\n```\naegis %s\n```\n\n```\n%s\n```\n\n", commands[i].name,
		       commands[i].synopsis, commands[i].help);
}

bool cli_print_help(const char *name)
{
	if (!name) {
		printf("usage: aegis COMMAND [ARGS]\n\nCommands:\n");
		for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
			printf("  %s\n", commands[i].synopsis);
		printf("  help [COMMAND]\n\n%s", global_options);
		return true;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (streq(commands[i].name, name)) {
			printf("usage: aegis %s\n\n%s\n", commands[i].synopsis, commands[i].help);
			return true;
		}
	}
	return false;
}

const struct command *cli_find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (streq(commands[i].name, name))
			return &commands[i];
	return NULL;
}

