/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The control API: HTTP/JSON (libmicrohttpd) on a unix socket, optionally also on a loopback TCP
 * port that requires a token. Runs inside the agent's event loop (no threads), so handlers may
 * touch the agent's state and maps without locks.
 */
#ifndef AEGIS_API_H
#define AEGIS_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit.h"
#include "config.h"

#define API_MAX_BODY (64u << 20)	/* a million-line feed file comes through here */

struct api_request {
	const char *method;
	const char *path;
	struct MHD_Connection *conn;
	json_t *body;		/* parsed JSON body, NULL when none was sent (or the route is raw) */
	const char *raw;	/* the body as sent, for raw routes */
	size_t raw_len;
	struct actor actor;
	bool privileged;	/* root, the admin group, or the TCP token */
	uint64_t *wait_until;	/* per connection, 0 on the first call: for long polls */
};

/* A handler sets resp->status to this to wait: it is called again after api_wake(). */
#define API_SUSPEND 0

struct api_response {
	unsigned status;
	json_t *json;		/* stolen */
	char *text;		/* freed; used when json is NULL */
	const char *content_type;
};

typedef void (*api_handler)(struct api_request *req, struct api_response *resp);

struct api_route {
	const char *method;
	const char *path;	/* exact, or a prefix when it ends in '/' */
	bool change;		/* changes state: needs privilege, always audited */
	api_handler fn;
	const char *op;		/* audit operation name for refusals */
	bool raw;		/* the body is text (a feed file), not JSON */
};

/* A query parameter (?n=20), or NULL. */
const char *api_query(struct api_request *req, const char *key);
/*
 * A numeric query parameter 0..max into *out (left alone when absent). False, with a 400 set,
 * when it is not such a number.
 */
bool api_query_u64(struct api_request *req, const char *key, uint64_t max, uint64_t *out,
		   struct api_response *resp);

/*
 * The JSON body is an object whose fields are all in `allowed` (NULL-terminated). False, with a
 * 400 naming the field, otherwise.
 */
bool api_body_fields(struct api_request *req, const char *const *allowed, struct api_response *resp);

/* Sets an error response {"error": message} and returns the status for chaining. */
unsigned api_error(struct api_response *resp, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct api_server;

/*
 * Binds the unix socket (refusing to start when another agent answers on it), and the TCP
 * listener when configured. The fds to watch come from api_poll_fds().
 */
int api_start(struct api_server **out, const struct aegis_config *cfg, const struct api_route *routes);
/* fds (epoll fds of each listener) the agent's loop watches; returns their count. */
int api_poll_fds(struct api_server *s, int *fds, int max);
/* Processes whatever is ready; call when a watched fd is readable or the timeout passed. */
void api_run(struct api_server *s);
/* Milliseconds until the API needs api_run() again (-1: no deadline). */
int api_timeout_ms(struct api_server *s);
/* Calls every waiting (suspended) request's handler again: new events, or a deadline. */
void api_wake(struct api_server *s);
void api_stop(struct api_server *s);

#endif
