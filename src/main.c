// SPDX-License-Identifier: GPL-2.0-only
/* aegis: one binary, subcommands. The agent owns the kernel objects; the rest are API clients. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "util.h"

int main(int argc, char **argv)
{
	const struct command *cmd;
	int i;

	log_setup_libbpf();
	/* Global options come before the command. */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (streq(argv[i], "--version") || streq(argv[i], "-V")) {
			printf("aegis %s (%s)\n", AEGIS_VERSION, AEGIS_GIT_REV);
			return 0;
		} else if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
			cli_print_help(NULL);
			return 0;
		} else if (streq(argv[i], "--socket") && i + 1 < argc) {
			setenv("AEGIS_SOCKET", argv[++i], 1);
		} else {
			fprintf(stderr, "aegis: unknown option '%s' (see aegis --help)\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		cli_print_help(NULL);
		return EXIT_USAGE;
	}
	if (streq(argv[i], "help") && i + 1 < argc && streq(argv[i + 1], "--markdown")) {
		cli_print_markdown();
		return 0;
	}
	if (streq(argv[i], "help")) {
		if (!cli_print_help(i + 1 < argc ? argv[i + 1] : NULL)) {
			fprintf(stderr, "aegis: no such command '%s' (see aegis help)\n", argv[i + 1]);
			return EXIT_USAGE;
		}
		return 0;
	}
	cmd = cli_find_command(argv[i]);
	if (!cmd) {
		fprintf(stderr, "aegis: no such command '%s' (see aegis help)\n", argv[i]);
		return EXIT_USAGE;
	}
	if (cli_wants_help(argc - i, argv + i)) {
		cli_print_help(cmd->name);
		return 0;
	}
	return cmd->fn(argc - i, argv + i);
}
