/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef AEGIS_AGENT_H
#define AEGIS_AGENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "config.h"

struct agent {
	struct aegis_config cfg;
	const char *config_path;	/* NULL: the embedded configuration */
	struct api_server *api;
	json_t *probe_report;		/* what `aegis probe` found at start */
	int epfd, sigfd, timerfd;
	int stats_fd;			/* held open while BPF run-time statistics are on */
	int lock_fd;
	uint64_t started_mono, started_real;
	uint64_t reloads_ok, reloads_failed;
	bool stop;
	/* The modules' fds the loop watches, with their owners (struct agent_module). */
	struct watched_fd {
		int fd;
		const struct agent_module *module;
	} watched[16];
	size_t n_watched;
	size_t n_started;		/* agent_modules[0..n_started) have been started */
};

/* The one agent of this process: the API handlers run in its loop and use it directly. */
extern struct agent agent;
extern const struct api_route agent_routes[];

/*
 * Re-reads the configuration file and applies it; a bad one is refused and the running one
 * stays in force. *result (may be NULL) receives the outcome for the API.
 */
int agent_reload(const struct actor *who, json_t **result);

/*
 * A module opened or closed a file descriptor its poll_fds() reports (a BPF object loaded on
 * demand, with its ring buffer): the loop asks every module again.
 */
void agent_fds_changed(void);

#endif
