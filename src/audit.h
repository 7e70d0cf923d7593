/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The audit log: one JSON line for every load, attach, detach, pin, map change, configuration
 * reload and refused request, with time, actor, operation, object, result and error.
 */
#ifndef AEGIS_AUDIT_H
#define AEGIS_AUDIT_H

#include <jansson.h>
#include <sys/types.h>

enum actor_kind {
	ACTOR_AGENT,	/* the agent itself (start, adoption, expiry) */
	ACTOR_CONFIG,	/* the configuration file */
	ACTOR_PEER,	/* an API client identified by SO_PEERCRED */
	ACTOR_TOKEN,	/* an API client on TCP that presented the token */
};

struct actor {
	enum actor_kind kind;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char comm[17];
};

extern const struct actor actor_agent;
extern const struct actor actor_config;

int audit_open(const char *path);
void audit_close(void);
const char *audit_path(void);

/*
 * Appends one record. err == 0 is "ok"; err < 0 is "error" with errmsg (or strerror) text;
 * AUDIT_REFUSED marks a request refused for lack of privilege. `details` (may be NULL) is merged
 * into the record and its reference is stolen.
 */
#define AUDIT_REFUSED 1
void audit_log(const struct actor *who, const char *op, const char *object, int err,
	       const char *errmsg, json_t *details);

json_t *actor_to_json(const struct actor *who);

#endif
