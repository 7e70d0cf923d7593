/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Subcommand entry points. Each takes the arguments after the subcommand name (argv[0] is the
 * subcommand itself) and returns the process exit code: 0 success, 1 failure, 2 usage error.
 */
#ifndef AEGIS_CLI_H
#define AEGIS_CLI_H

#include <stdbool.h>

#define EXIT_USAGE 2

int cmd_agent(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_progs(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_guard(int argc, char **argv);
int cmd_block(int argc, char **argv);
int cmd_unblock(int argc, char **argv);
int cmd_allow(int argc, char **argv);
int cmd_unallow(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_capture(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_flows(int argc, char **argv);

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *synopsis;
	const char *help;
};

const struct command *cli_find_command(const char *name);

/* Prints the help text of one command (or the overview for NULL); false when unknown. */
bool cli_print_help(const char *command);

/* The whole command reference as markdown (docs/cli.md). */
void cli_print_markdown(void);

/* True when argv holds "--help" or "-h": commands print their help and exit 0. */
bool cli_wants_help(int argc, char **argv);

#endif
