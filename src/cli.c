// SPDX-License-Identifier: GPL-2.0-only
/* The command table: names, synopses and help texts, shared by main() and the commands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "util.h"

static const struct command commands[] = {
	{ "agent", cmd_agent, "agent [--config FILE] [--cleanup]",
	  "Run the daemon: load, pin and attach the eBPF programs, serve the control API.\n"
	  "  --config FILE   YAML configuration (default: the embedded one, see `aegis config default`)\n"
	  "  --cleanup       remove every program, link, pin and attachment aegis made, then exit\n"
	  "  --log-level L   error, warn, info or debug (overrides agent.log_level)\n"
	  "Signals: SIGHUP reloads the configuration (a bad one is refused, the running one stays);\n"
	  "SIGTERM/SIGINT stop the agent and leave enforcement in place (agent.on_exit: keep)." },
	{ "probe", cmd_probe, "probe [--json] [--config FILE]",
	  "Find out by trying what this kernel and this process can do: program types (loaded and\n"
	  "attached), map types, helpers, kfuncs, BTF, JIT, mounts, capabilities, memlock; then the\n"
	  "state of each aegis capability. Exit 0 when every capability the configuration enables is\n"
	  "ready. Leaves nothing behind.\n"
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
	{ "audit", cmd_audit, "audit [-n N] [--json]",
	  "The last N records of the agent's audit log (default 20)." },
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

