// SPDX-License-Identifier: GPL-2.0-only
/*
 * The agent's own API endpoints (documented in docs/api.md); modules bring theirs (struct
 * agent_module.routes). They run in the agent's loop.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "bpfinfo.h"
#include "events.h"
#include "log.h"
#include "module.h"
#include "probe.h"
#include "util.h"

static json_t *capabilities(void)
{
	json_t *caps = json_object_get(agent.probe_report, "capabilities");

	return caps ? json_incref(caps) : json_array();
}

/* Hooks attached, over every module's programs. */
static size_t links_attached(void)
{
	size_t n = 0;

	for (const struct agent_module *const *m = agent_modules; *m; m++) {
		const struct bpfobj *objs[8];
		size_t k = (*m)->objects && (*m)->attachments ? (*m)->objects(objs, 8) : 0;

		for (size_t o = 0; o < k; o++)
			for (size_t p = 0; p < objs[o]->n_progs; p++) {
				json_t *a = (*m)->attachments(objs[o], objs[o]->desc->programs[p]);

				n += json_array_size(a);
				json_decref(a);
			}
	}
	return n;
}

static void get_status(struct api_request *req, struct api_response *resp)
{
	char started[40];

	format_rfc3339(agent.started_real, started, sizeof(started));
	resp->json = json_pack("{s:s, s:s, s:i, s:s, s:I, s:o, s:o, s:I, s:{s:I, s:I}, s:b}",
			       "version", AEGIS_VERSION, "git_rev", AEGIS_GIT_REV, "pid", (int)getpid(),
			       "started_at", started, "uptime_seconds",
			       (json_int_t)((now_monotonic_ns() - agent.started_mono) / NSEC_PER_SEC),
			       "config", config_to_json(&agent.cfg), "capabilities", capabilities(),
			       "links_attached", (json_int_t)links_attached(), "reloads",
			       "ok", (json_int_t)agent.reloads_ok, "failed", (json_int_t)agent.reloads_failed,
			       "bpf_stats", agent.stats_fd >= 0);
	for (const struct agent_module *const *m = agent_modules; *m; m++)
		if ((*m)->status)
			json_object_set_new(resp->json, (*m)->name, (*m)->status());
}

/* Program i of an object, under the object's own name for it. */
static int object_prog_stats(const struct bpfobj *o, size_t i, struct prog_stats *st)
{
	int err = prog_stats_get(o->prog_fd[i], st);

	if (!err)
		snprintf(st->name, sizeof(st->name), "%s", o->desc->programs[i]);
	return err;
}

/*
 * Map i of an object, under the object's own name for it (the kernel keeps 15 characters), with
 * the entries its module counts better than the kernel can.
 */
static int object_map_stats(const struct agent_module *m, const struct bpfobj *o, size_t i,
			    struct map_stats *st)
{
	int err = map_stats_get(o->map_fd[i], st);

	if (err)
		return err;
	snprintf(st->name, sizeof(st->name), "%s", o->desc->maps[i]);
	if (m->map_entries) {
		uint64_t owned = m->map_entries(st->name);

		if (owned != MAP_ENTRIES_UNKNOWN)
			st->entries = owned;
	}
	return 0;
}

static void append_object(json_t *progs, json_t *maps, const struct agent_module *m,
			  const struct bpfobj *o)
{
	for (size_t i = 0; i < o->n_progs; i++) {
		struct prog_stats st;
		json_t *p, *attach;
		char pin[PATH_MAX];

		if (object_prog_stats(o, i, &st))
			continue;
		p = prog_stats_json(&st);
		snprintf(pin, sizeof(pin), "%s/progs/%s", o->pin_dir, o->desc->programs[i]);
		json_object_set_new(p, "pin", json_string(pin));
		json_object_set_new(p, "object", json_string(o->source));
		json_object_set_new(p, "module", json_string(m->name));
		json_object_set_new(p, "adopted", json_boolean(o->adopted));
		attach = m->attachments ? m->attachments(o, o->desc->programs[i]) : NULL;
		json_object_set_new(p, "attached", attach ? attach : json_array());
		json_array_append_new(progs, p);
	}
	for (size_t i = 0; i < o->n_maps; i++) {
		struct map_stats st;
		json_t *j;
		char pin[PATH_MAX];

		if (object_map_stats(m, o, i, &st))
			continue;
		j = map_stats_json(&st);
		snprintf(pin, sizeof(pin), "%s/maps/%s", o->pin_dir, o->desc->maps[i]);
		json_object_set_new(j, "pin", json_string(pin));
		json_object_set_new(j, "module", json_string(m->name));
		json_array_append_new(maps, j);
	}
}

/* Calls fn for every BPF object of every module. */
static void for_each_object(void (*fn)(const struct agent_module *, const struct bpfobj *, void *),
			    void *arg)
{
	for (const struct agent_module *const *m = agent_modules; *m; m++) {
		const struct bpfobj *objs[8];
		size_t n = (*m)->objects ? (*m)->objects(objs, 8) : 0;

		for (size_t i = 0; i < n; i++)
			fn(*m, objs[i], arg);
	}
}

static void progs_of(const struct agent_module *m, const struct bpfobj *o, void *arg)
{
	json_t **pm = arg;

	append_object(pm[0], pm[1], m, o);
}

static void get_progs(struct api_request *req, struct api_response *resp)
{
	json_t *pm[2] = { json_array(), json_array() };

	for_each_object(progs_of, pm);
	resp->json = json_pack("{s:o, s:o, s:b}", "programs", pm[0], "maps", pm[1], "bpf_stats",
			       agent.stats_fd >= 0);
}

static void get_config(struct api_request *req, struct api_response *resp)
{
	resp->json = config_to_json(&agent.cfg);
}

static void post_reload(struct api_request *req, struct api_response *resp)
{
	json_t *result = NULL;
	int err = agent_reload(&req->actor, &result);

	resp->status = err ? 422 : 200;
	resp->json = result ? result : json_pack("{s:b}", "applied", !err);
	if (err && !json_object_get(resp->json, "error"))
		json_object_set_new(resp->json, "error",
				    json_string("configuration refused; the running one stays in force"));
}

static void get_probe(struct api_request *req, struct api_response *resp)
{
	const char *fresh = api_query(req, "fresh");

	if (fresh && streq(fresh, "1")) {
		int code;

		json_decref(agent.probe_report);
		agent.probe_report = probe_run(&agent.cfg, &code);
	}
	resp->json = agent.probe_report ? json_incref(agent.probe_report) : json_object();
}

static void get_audit(struct api_request *req, struct api_response *resp)
{
	const char *ns = api_query(req, "n");
	_cleanup_free_ char *buf = NULL;
	uint64_t n = 20;
	json_t *records = json_array();
	char *start;
	size_t len;
	int err;

	if (ns && (parse_u64(ns, &n) || n == 0 || n > 100000)) {
		json_decref(records);
		api_error(resp, 400, "n must be 1..100000, not '%s'", ns);
		return;
	}
	err = read_file(audit_path(), &buf, &len);
	if (err) {
		json_decref(records);
		api_error(resp, 500, "cannot read the audit log %s: %s", audit_path(), strerror(-err));
		return;
	}
	/* Walk back n lines from the end. */
	start = buf + len;
	while (start > buf && n) {
		start--;
		if (start > buf && start[-1] == '\n' && *start != '\n')
			n--;
	}
	for (char *line = strtok(start, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *rec = json_loads(line, 0, NULL);

		if (rec)
			json_array_append_new(records, rec);
	}
	resp->json = json_pack("{s:s, s:o}", "path", audit_path(), "records", records);
}

/* ---- Prometheus ---------------------------------------------------------------------- */

struct text {
	char *p;
	size_t len;
	FILE *f;
};

void metric_help(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * The kernel-object metric families. Each is written as one block (HELP and TYPE once, then a
 * sample per program or map of every module), as the text format requires.
 */
enum bpf_metric { RUN_COUNT, RUN_TIME, MAP_ENTRIES, MAP_MAX_ENTRIES, MAP_MEMORY, BPF_METRIC_COUNT };

static const struct {
	const char *name, *type, *help;
} bpf_metrics[BPF_METRIC_COUNT] = {
	[RUN_COUNT] = { "aegis_bpf_program_run_count_total", "counter",
			"Times the program ran (kernel BPF statistics; 0 while they are off)." },
	[RUN_TIME] = { "aegis_bpf_program_run_time_seconds_total", "counter",
		       "Time spent running the program (kernel BPF statistics)." },
	[MAP_ENTRIES] = { "aegis_bpf_map_entries", "gauge", "Entries in use in the map." },
	[MAP_MAX_ENTRIES] = { "aegis_bpf_map_max_entries", "gauge", "Entries the map was created for." },
	[MAP_MEMORY] = { "aegis_bpf_map_memory_bytes", "gauge", "Kernel memory the map takes." },
};

struct metric_block {
	FILE *f;
	enum bpf_metric which;
};

static void metric_samples(const struct agent_module *m, const struct bpfobj *o, void *arg)
{
	const struct metric_block *b = arg;
	const char *name = bpf_metrics[b->which].name;
	struct prog_stats ps;
	struct map_stats ms;

	for (size_t i = 0; b->which <= RUN_TIME && i < o->n_progs; i++) {
		if (object_prog_stats(o, i, &ps))
			continue;
		if (b->which == RUN_COUNT)
			fprintf(b->f, "%s{module=\"%s\",program=\"%s\",id=\"%u\"} %llu\n", name, m->name,
				ps.name, ps.id, (unsigned long long)ps.run_cnt);
		else
			fprintf(b->f, "%s{module=\"%s\",program=\"%s\",id=\"%u\"} %.9f\n", name, m->name,
				ps.name, ps.id, (double)ps.run_time_ns / 1e9);
	}
	for (size_t i = 0; b->which >= MAP_ENTRIES && i < o->n_maps; i++) {
		if (object_map_stats(m, o, i, &ms))
			continue;
		if (b->which == MAP_ENTRIES && ms.entries != MAP_ENTRIES_UNKNOWN)
			fprintf(b->f, "%s{module=\"%s\",map=\"%s\"} %llu\n", name, m->name, ms.name,
				(unsigned long long)ms.entries);
		else if (b->which == MAP_MAX_ENTRIES)
			fprintf(b->f, "%s{module=\"%s\",map=\"%s\"} %u\n", name, m->name, ms.name, ms.max_entries);
		else if (b->which == MAP_MEMORY)
			fprintf(b->f, "%s{module=\"%s\",map=\"%s\"} %llu\n", name, m->name, ms.name,
				(unsigned long long)ms.memlock);
	}
}

static void metrics_objects(FILE *f)
{
	for (int k = 0; k < BPF_METRIC_COUNT; k++) {
		struct metric_block b = { .f = f, .which = (enum bpf_metric)k };

		metric_help(f, bpf_metrics[k].name, bpf_metrics[k].type, bpf_metrics[k].help);
		for_each_object(metric_samples, &b);
	}
}

static void get_metrics(struct api_request *req, struct api_response *resp)
{
	struct text t = {};

	t.f = open_memstream(&t.p, &t.len);
	if (!t.f) {
		api_error(resp, 500, "open_memstream: %s", strerror(errno));
		return;
	}
	metric_help(t.f, "aegis_up", "gauge", "1 while the agent runs.");
	fprintf(t.f, "aegis_up 1\n");
	metric_help(t.f, "aegis_build_info", "gauge", "Version of the running agent.");
	fprintf(t.f, "aegis_build_info{version=\"%s\",git_rev=\"%s\"} 1\n", AEGIS_VERSION, AEGIS_GIT_REV);
	metric_help(t.f, "aegis_uptime_seconds", "gauge", "Seconds since the agent started.");
	fprintf(t.f, "aegis_uptime_seconds %llu\n",
		(unsigned long long)((now_monotonic_ns() - agent.started_mono) / NSEC_PER_SEC));
	metric_help(t.f, "aegis_config_reloads_total", "counter", "Configuration reloads by result.");
	fprintf(t.f, "aegis_config_reloads_total{result=\"ok\"} %llu\naegis_config_reloads_total{result=\"error\"} %llu\n",
		(unsigned long long)agent.reloads_ok, (unsigned long long)agent.reloads_failed);
	metric_help(t.f, "aegis_bpf_links_attached", "gauge", "Hooks aegis has attached.");
	fprintf(t.f, "aegis_bpf_links_attached %zu\n", links_attached());
	metrics_objects(t.f);
	for (const struct agent_module *const *m = agent_modules; *m; m++)
		if ((*m)->metrics)
			(*m)->metrics(t.f);
	fclose(t.f);
	resp->text = t.p;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* ---- events ------------------------------------------------------------------------ */

#define EVENTS_MAX_WAIT_S 60

/*
 * Long poll: with wait=S and nothing new, the request waits (suspended, no thread) until an
 * event arrives or S seconds pass. Clients follow with since=<next>.
 */
static void get_events(struct api_request *req, struct api_response *resp)
{
	uint64_t since = 0, tail = 0, wait = 0, limit = 1000, next, missed;
	const char *types = api_query(req, "type");
	json_t *evs;

	if (!api_query_u64(req, "since", UINT64_MAX, &since, resp) ||
	    !api_query_u64(req, "tail", EVENTS_KEPT, &tail, resp) ||
	    !api_query_u64(req, "wait", EVENTS_MAX_WAIT_S, &wait, resp) ||
	    !api_query_u64(req, "limit", 10000, &limit, resp))
		return;
	if (api_query(req, "tail"))
		since = events_tail_seq((size_t)tail, types);
	evs = events_read(since, types, (size_t)limit, &next, &missed);
	if (!json_array_size(evs) && wait) {
		uint64_t now = now_monotonic_ns();

		if (!*req->wait_until)
			*req->wait_until = now + wait * NSEC_PER_SEC;
		if (now < *req->wait_until) {
			json_decref(evs);
			resp->status = API_SUSPEND;
			return;
		}
	}
	resp->json = json_pack("{s:o, s:I, s:I}", "events", evs, "next", (json_int_t)next, "missed",
			       (json_int_t)missed);
}

const struct api_route agent_routes[] = {
	{ .method = "GET", .path = "/v1/status", .fn = get_status },
	{ .method = "GET", .path = "/v1/progs", .fn = get_progs },
	{ .method = "GET", .path = "/v1/config", .fn = get_config },
	{ .method = "POST", .path = "/v1/config/reload", .change = true, .fn = post_reload, .op = "config.reload" },
	{ .method = "GET", .path = "/v1/probe", .fn = get_probe },
	{ .method = "GET", .path = "/v1/audit", .change = true, .fn = get_audit, .op = "audit.read" },
	{ .method = "GET", .path = "/v1/events", .change = true, .fn = get_events, .op = "events.read" },
	{ .method = "GET", .path = "/metrics", .fn = get_metrics },
	{},
};
