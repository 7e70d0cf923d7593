/* SPDX-License-Identifier: GPL-2.0-only */
/* The CLI's side of the control API: HTTP over the agent's unix socket (libcurl). */
#ifndef AEGIS_CLIENT_H
#define AEGIS_CLIENT_H

#include <jansson.h>

#define AEGIS_SOCKET_DEFAULT "/run/aegis/aegis.sock"

/* $AEGIS_SOCKET (set by `aegis --socket PATH`) or the default path. */
const char *client_socket_path(void);

/*
 * Sends one request and parses the JSON answer into *out (NULL for non-JSON bodies, whose text
 * goes to *text when text is non-NULL). Returns the HTTP status, or 0 after printing one line
 * when the agent cannot be reached ("the agent is not running").
 */
long client_request(const char *method, const char *path, json_t *body, json_t **out, char **text);

/*
 * The usual shape of a read or change command: request, print an {"error": ...} answer in one
 * line. Returns the exit code (0 for 2xx, 1 otherwise) and the JSON answer in *out on success.
 */
int client_call(const char *method, const char *path, json_t *body, json_t **out);

/* client_call with a text body (a feed file) POSTed to path. */
int client_call_text(const char *path, const char *data, size_t len, json_t **out);

/* Prints a JSON value indented (for --json). */
void print_json(json_t *v);

#endif
