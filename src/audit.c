// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>

#include "audit.h"
#include "events.h"
#include "log.h"
#include "util.h"

const struct actor actor_agent = { .kind = ACTOR_AGENT };
const struct actor actor_config = { .kind = ACTOR_CONFIG };

static int audit_fd = -1;
static char audit_file[PATH_MAX];

int audit_open(const char *path)
{
	char dir[PATH_MAX];
	int err, fd;

	snprintf(dir, sizeof(dir), "%s", path);
	err = mkdir_p(dirname(dir), 0750);
	if (err)
		return pr_err_errno(err, "audit log %s: cannot create its directory", path);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return pr_err_errno(-errno, "audit log %s: cannot open", path);
	audit_close();
	audit_fd = fd;
	snprintf(audit_file, sizeof(audit_file), "%s", path);
	return 0;
}

void audit_close(void)
{
	if (audit_fd >= 0)
		close(audit_fd);
	audit_fd = -1;
}

const char *audit_path(void)
{
	return audit_file;
}

json_t *actor_to_json(const struct actor *who)
{
	switch (who->kind) {
	case ACTOR_AGENT:
		return json_string("agent");
	case ACTOR_CONFIG:
		return json_string("config");
	case ACTOR_TOKEN:
		return json_pack("{s:s}", "token", "tcp");
	case ACTOR_PEER:
	default:
		return json_pack("{s:I, s:I, s:I, s:s}", "uid", (json_int_t)who->uid, "gid",
				 (json_int_t)who->gid, "pid", (json_int_t)who->pid, "comm", who->comm);
	}
}

void audit_log(const struct actor *who, const char *op, const char *object, int err,
	       const char *errmsg, json_t *details)
{
	char when[40];
	const char *result = err == 0 ? "ok" : err == AUDIT_REFUSED ? "refused" : "error";
	json_t *rec;
	char *line;
	size_t len;

	format_rfc3339(now_realtime_ns(), when, sizeof(when));
	rec = json_pack("{s:s, s:o, s:s, s:s, s:s}", "time", when, "actor", actor_to_json(who),
			"op", op, "object", object ? object : "", "result", result);
	if (!rec) {
		json_decref(details);
		return;
	}
	if (err)
		json_object_set_new(rec, "error",
				    json_string(errmsg ? errmsg : err < 0 ? errstr(err) : "permission denied"));
	else
		json_object_set_new(rec, "error", json_null());
	if (details) {
		json_object_update_missing(rec, details);
		json_decref(details);
	}
	line = json_dumps(rec, JSON_COMPACT);
	/* Every audit record is also an event, so `aegis events --follow` shows changes live. */
	events_publish("audit", rec);
	if (!line)
		return;
	pr_debug("audit: %s", line);
	if (audit_fd >= 0) {
		len = strlen(line);
		line[len] = '\n';
		/* One write() per record: O_APPEND keeps concurrent writers' lines whole. */
		if (write(audit_fd, line, len + 1) != (ssize_t)(len + 1))
			log_once(LOG_LVL_WARN, "audit-write", "audit log %s: write failed: %s",
				 audit_file, strerror(errno));
	}
	free(line);
}
