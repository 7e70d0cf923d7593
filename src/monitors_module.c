// SPDX-License-Identifier: GPL-2.0-only
/* The host monitors as an agent module: life cycle, API endpoints, metrics. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "module.h"
#include "monitors.h"
#include "util.h"

#define TOP_DEFAULT 10
#define TOP_MAX 1000

static struct monitors M = { .iter_link_fd = -1 };
static char start_error[256];	/* why the monitors could not be loaded, for status */

static bool any_enabled(const struct aegis_config *cfg)
{
	for (int mon = 0; mon < MON_COUNT; mon++)
		if (cfg->mon_enabled[mon])
			return true;
	return false;
}

/*
 * Nothing is loaded while every monitor is off (a reload or `aegis monitor enable` loads it),
 * unless an earlier run left hooks pinned: then it loads to detach them.
 */
static int mon_start(const struct aegis_config *cfg)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/monitors/links", cfg->pin_root);
	int err;

	start_error[0] = '\0';
	if (!any_enabled(cfg) && access(dir, F_OK)) {
		pr_info("monitors: all off in the configuration: nothing loaded");
		return 0;
	}
	err = monitors_start(&M, cfg);
	if (err) {
		/* Host monitors are not worth the guard: the agent runs on without them, and says so. */
		snprintf(start_error, sizeof(start_error), "cannot load or attach: %s (see the agent's log)",
			 errstr(err));
		pr_err("monitors: %s; the agent runs without them", start_error);
		monitors_stop(&M, false);
	}
	return 0;
}

static int mon_reconfigure(const struct aegis_config *old, const struct aegis_config *cfg)
{
	if (!M.running)
		return mon_start(cfg);
	return monitors_reconfigure(&M, old, cfg);
}

static void mon_stop(const struct aegis_config *cfg, bool detach)
{
	monitors_stop(&M, detach);
}

static void mon_tick(const struct aegis_config *cfg)
{
	monitors_tick(&M);
}

static int mon_poll_fds(int *fds, int max)
{
	int fd = monitors_events_fd(&M);

	if (fd < 0 || max < 1)
		return 0;
	fds[0] = fd;
	return 1;
}

static void mon_on_readable(int fd)
{
	monitors_events_consume(&M);
}

static json_t *mon_status(void)
{
	json_t *s = monitors_status_json(&M);

	if (start_error[0])
		json_object_set_new(s, "error", json_string(start_error));
	return s;
}

static void mon_metrics(FILE *f)
{
	monitors_metrics(&M, f);
}

static size_t mon_objects(const struct bpfobj **out, size_t max)
{
	if (!M.running || max < 1)
		return 0;
	out[0] = &M.obj;
	return 1;
}

static json_t *mon_attachments(const struct bpfobj *o, const char *prog)
{
	return monitors_attachments(&M, prog);
}

/* ---- API --------------------------------------------------------------------------------- */

static void get_all(struct api_request *req, struct api_response *resp)
{
	resp->json = mon_status();
}

/* GET /v1/monitors/NAME[?top=N&window=S] */
static void get_one(struct api_request *req, struct api_response *resp)
{
	const char *name = req->path + strlen("/v1/monitors/");
	uint64_t top = TOP_DEFAULT, window = 1;
	int mon = mon_index(name);

	if (mon < 0) {
		api_error(resp, 404, "no monitor '%s': runq, io, mem or net", name);
		return;
	}
	if (!api_query_u64(req, "top", TOP_MAX, &top, resp) ||
	    !api_query_u64(req, "window", MON_TOP_WINDOW_MAX, &window, resp))
		return;
	if (!window) {
		api_error(resp, 400, "window must be 1..%d seconds", MON_TOP_WINDOW_MAX);
		return;
	}
	resp->json = monitors_json(&M, mon, (size_t)top, (unsigned)window);
}

static void set_state(struct api_request *req, struct api_response *resp, bool on)
{
	static const char *const fields[] = { "monitor", NULL };
	const char *name = json_string_value(json_object_get(req->body, "monitor"));
	char err[256];
	int mon = name ? mon_index(name) : -1, e;

	if (!api_body_fields(req, fields, resp))
		return;
	if (!json_is_object(req->body) || !name) {
		api_error(resp, 400, "body must be {\"monitor\": \"runq\"|\"io\"|\"mem\"|\"net\"}");
		return;
	}
	if (mon < 0) {
		api_error(resp, 404, "no monitor '%s': runq, io, mem or net", name);
		return;
	}
	if (!M.running && on) {
		/* Everything was off: load now, with the configuration's other settings. */
		struct aegis_config cfg = agent.cfg;

		for (int k = 0; k < MON_COUNT; k++)
			cfg.mon_enabled[k] = k == mon;
		e = monitors_start(&M, &cfg);
		if (e) {
			api_error(resp, 500, "cannot load the monitors: %s (see the agent's log)", errstr(e));
			audit_log(&req->actor, "monitor.enable", name, e, "load failed", NULL);
			return;
		}
		audit_log(&req->actor, "monitor.enable", name, 0, NULL, json_pack("{s:b}", "enabled", 1));
	} else {
		e = monitors_set_enabled(&M, &agent.cfg, mon, on, &req->actor, err, sizeof(err));
		if (e) {
			api_error(resp, e == -EOPNOTSUPP ? 409 : e == -ENODEV ? 409 : 500, "%s", err);
			return;
		}
	}
	resp->json = monitors_status_json(&M);
}

static void post_enable(struct api_request *req, struct api_response *resp) { set_state(req, resp, true); }
static void post_disable(struct api_request *req, struct api_response *resp) { set_state(req, resp, false); }

static const struct api_route mon_routes[] = {
	{ .method = "GET", .path = "/v1/monitors", .fn = get_all },
	{ .method = "POST", .path = "/v1/monitors/enable", .change = true, .fn = post_enable, .op = "monitor.enable" },
	{ .method = "POST", .path = "/v1/monitors/disable", .change = true, .fn = post_disable, .op = "monitor.disable" },
	{ .method = "GET", .path = "/v1/monitors/", .fn = get_one },
	{},
};

const struct agent_module monitors_module = {
	.name = "monitors",
	.start = mon_start,
	.reconfigure = mon_reconfigure,
	.stop = mon_stop,
	.tick = mon_tick,
	.poll_fds = mon_poll_fds,
	.on_readable = mon_on_readable,
	.status = mon_status,
	.metrics = mon_metrics,
	.objects = mon_objects,
	.attachments = mon_attachments,
	.routes = mon_routes,
};
