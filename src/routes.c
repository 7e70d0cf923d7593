// SPDX-License-Identifier: GPL-2.0-only
/* The API's endpoints (documented in docs/api.md). They run in the agent's loop. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "bpfinfo.h"
#include "events.h"
#include "guard_rl.h"
#include "lists.h"
#include "log.h"
#include "probe.h"
#include "util.h"

static json_t *capabilities(void)
{
	json_t *caps = json_object_get(agent.probe_report, "capabilities");

	return caps ? json_incref(caps) : json_array();
}

static size_t links_attached(void)
{
	size_t n = 0;

	for (size_t i = 0; agent.guard.running && i < agent.guard.n_ifaces; i++)
		n += agent.guard.ifaces[i].link_fd >= 0;
	return n;
}

static json_t *headline_counters(void)
{
	struct guard_counters total = {}, c;

	for (size_t i = 0; agent.guard.running && i < agent.guard.n_ifaces; i++) {
		if (guard_read_counters(&agent.guard, &agent.guard.ifaces[i], &c))
			continue;
		total.rx_packets += c.rx_packets;
		total.rx_bytes += c.rx_bytes;
		total.passed += c.passed;
		total.dropped += c.dropped;
		total.would_drop += c.would_drop;
		total.malformed += c.malformed;
	}
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "rx_packets", (json_int_t)total.rx_packets,
			 "rx_bytes", (json_int_t)total.rx_bytes, "passed", (json_int_t)total.passed,
			 "dropped", (json_int_t)total.dropped, "would_drop", (json_int_t)total.would_drop,
			 "malformed", (json_int_t)total.malformed);
}

static void get_status(struct api_request *req, struct api_response *resp)
{
	char started[40];

	format_rfc3339(agent.started_real, started, sizeof(started));
	resp->json = json_pack("{s:s, s:s, s:i, s:s, s:I, s:o, s:o, s:o, s:I, s:o, s:{s:I, s:I}, s:b}",
			       "version", AEGIS_VERSION, "git_rev", AEGIS_GIT_REV, "pid", (int)getpid(),
			       "started_at", started, "uptime_seconds",
			       (json_int_t)((now_monotonic_ns() - agent.started_mono) / NSEC_PER_SEC),
			       "config", config_to_json(&agent.cfg), "capabilities", capabilities(),
			       "guard", guard_status_json(&agent.guard), "links_attached",
			       (json_int_t)links_attached(), "counters", headline_counters(), "reloads",
			       "ok", (json_int_t)agent.reloads_ok, "failed", (json_int_t)agent.reloads_failed,
			       "bpf_stats", agent.stats_fd >= 0);
}

static void append_object(json_t *progs, json_t *maps, const struct bpfobj *o,
			  const struct guard *g)
{
	for (size_t i = 0; i < o->n_progs; i++) {
		struct prog_stats st;
		json_t *p, *attach = json_array();
		char pin[PATH_MAX];

		if (prog_stats_get(o->prog_fd[i], &st))
			continue;
		p = prog_stats_json(&st);
		snprintf(pin, sizeof(pin), "%s/progs/%s", o->pin_dir, o->desc->programs[i]);
		json_object_set_new(p, "pin", json_string(pin));
		json_object_set_new(p, "object", json_string(o->source));
		json_object_set_new(p, "adopted", json_boolean(o->adopted));
		for (size_t k = 0; g && k < g->n_ifaces; k++) {
			char lp[PATH_MAX], name[IF_NAMESIZE + 8];

			snprintf(name, sizeof(name), "xdp_%s", g->ifaces[k].name);
			bpfobj_link_pin_path(o, name, lp, sizeof(lp));
			json_array_append_new(attach, json_pack("{s:s, s:s, s:i, s:s, s:I, s:s}", "hook", "xdp",
				"interface", g->ifaces[k].name, "ifindex", g->ifaces[k].ifindex, "xdp_mode",
				g->ifaces[k].generic ? "generic" : "native", "link_id",
				(json_int_t)g->ifaces[k].link_id, "pin", lp));
		}
		json_object_set_new(p, "attached", attach);
		json_array_append_new(progs, p);
	}
	for (size_t i = 0; i < o->n_maps; i++) {
		struct map_stats st;
		json_t *m;
		char pin[PATH_MAX];

		if (map_stats_get(o->map_fd[i], &st))
			continue;
		if (st.entries == MAP_ENTRIES_UNKNOWN)
			st.entries = lists_map_entries(&agent.lists, st.name);
		m = map_stats_json(&st);
		snprintf(pin, sizeof(pin), "%s/maps/%s", o->pin_dir, o->desc->maps[i]);
		json_object_set_new(m, "pin", json_string(pin));
		json_array_append_new(maps, m);
	}
}

static void get_progs(struct api_request *req, struct api_response *resp)
{
	json_t *progs = json_array(), *maps = json_array();

	if (agent.guard.running)
		append_object(progs, maps, &agent.guard.obj, &agent.guard);
	resp->json = json_pack("{s:o, s:o, s:b}", "programs", progs, "maps", maps, "bpf_stats",
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

static void get_guard(struct api_request *req, struct api_response *resp)
{
	resp->json = guard_status_json(&agent.guard);
}

static void post_guard_mode(struct api_request *req, struct api_response *resp)
{
	const char *mode_s = json_string_value(json_object_get(req->body, "mode"));
	json_t *iface_j = json_object_get(req->body, "interface");
	const char *iface = json_string_value(iface_j);
	enum guard_mode mode;
	char err[256];
	int e;

	if (!json_is_object(req->body) || !mode_s || guard_mode_parse(mode_s, &mode)) {
		api_error(resp, 400, "body must be {\"mode\": \"observe\"|\"block\", \"interface\": NAME (optional)}");
		return;
	}
	if (iface_j && !iface) {
		api_error(resp, 400, "\"interface\" must be a string");
		return;
	}
	e = guard_set_mode(&agent.guard, iface, mode, &req->actor, err, sizeof(err));
	if (e) {
		api_error(resp, e == -ENOENT ? 404 : 500, "%s", err);
		return;
	}
	resp->json = guard_status_json(&agent.guard);
}

/* ---- Prometheus ---------------------------------------------------------------------- */

struct text {
	char *p;
	size_t len;
	FILE *f;
};

static void metric_help(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics_programs(FILE *f, const struct bpfobj *o)
{
	metric_help(f, "aegis_bpf_program_run_count_total", "counter",
		    "Times the program ran (kernel BPF statistics; 0 while they are off).");
	for (size_t i = 0; i < o->n_progs; i++) {
		struct prog_stats st;

		if (prog_stats_get(o->prog_fd[i], &st) == 0)
			fprintf(f, "aegis_bpf_program_run_count_total{program=\"%s\",id=\"%u\"} %llu\n",
				st.name, st.id, (unsigned long long)st.run_cnt);
	}
	metric_help(f, "aegis_bpf_program_run_time_seconds_total", "counter",
		    "Time spent running the program.");
	for (size_t i = 0; i < o->n_progs; i++) {
		struct prog_stats st;

		if (prog_stats_get(o->prog_fd[i], &st) == 0)
			fprintf(f, "aegis_bpf_program_run_time_seconds_total{program=\"%s\",id=\"%u\"} %.9f\n",
				st.name, st.id, (double)st.run_time_ns / 1e9);
	}
	metric_help(f, "aegis_bpf_map_entries", "gauge", "Entries in the map.");
	for (size_t i = 0; i < o->n_maps; i++) {
		struct map_stats st;

		if (map_stats_get(o->map_fd[i], &st))
			continue;
		if (st.entries == MAP_ENTRIES_UNKNOWN)
			st.entries = lists_map_entries(&agent.lists, st.name);
		if (st.entries != MAP_ENTRIES_UNKNOWN)
			fprintf(f, "aegis_bpf_map_entries{map=\"%s\"} %llu\n", st.name,
				(unsigned long long)st.entries);
		fprintf(f, "aegis_bpf_map_max_entries{map=\"%s\"} %u\naegis_bpf_map_memory_bytes{map=\"%s\"} %llu\n",
			st.name, st.max_entries, st.name, (unsigned long long)st.memlock);
	}
}

static void metrics_guard(FILE *f, const struct guard *g)
{
	static const struct {
		const char *name;
		size_t off;
		const char *help;
	} fields[] = {
		{ "aegis_guard_rx_packets_total", offsetof(struct guard_counters, rx_packets), "Packets seen by the XDP guard." },
		{ "aegis_guard_rx_bytes_total", offsetof(struct guard_counters, rx_bytes), "Bytes seen by the XDP guard." },
		{ "aegis_guard_passed_total", offsetof(struct guard_counters, passed), "Packets passed." },
		{ "aegis_guard_dropped_total", offsetof(struct guard_counters, dropped), "Packets dropped." },
		{ "aegis_guard_would_drop_total", offsetof(struct guard_counters, would_drop), "Packets observe mode would have dropped." },
		{ "aegis_guard_malformed_total", offsetof(struct guard_counters, malformed), "Malformed packets." },
		{ "aegis_guard_fragments_total", offsetof(struct guard_counters, fragments), "IP fragments." },
		{ "aegis_guard_non_ip_total", offsetof(struct guard_counters, non_ip), "Non-IP packets (passed)." },
	};
	struct guard_counters c[GUARD_MAX_IFACES];

	for (size_t k = 0; k < g->n_ifaces; k++)
		if (guard_read_counters(g, &g->ifaces[k], &c[k]))
			memset(&c[k], 0, sizeof(c[k]));
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		metric_help(f, fields[i].name, "counter", fields[i].help);
		for (size_t k = 0; k < g->n_ifaces; k++)
			fprintf(f, "%s{interface=\"%s\",mode=\"%s\"} %llu\n", fields[i].name, g->ifaces[k].name,
				guard_mode_name(g->ifaces[k].mode),
				(unsigned long long)*(const uint64_t *)((const char *)&c[k] + fields[i].off));
	}
	metric_help(f, "aegis_guard_reason_total", "counter",
		    "Packets dropped or (observe mode) would-dropped, by reason.");
	for (size_t k = 0; k < g->n_ifaces; k++)
		for (int r = 1; r < GUARD_REASON_COUNT; r++)
			fprintf(f, "aegis_guard_reason_total{interface=\"%s\",reason=\"%s\"} %llu\n",
				g->ifaces[k].name, guard_reason_names[r],
				(unsigned long long)c[k].by_reason[r]);
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
	if (agent.guard.running) {
		metrics_programs(t.f, &agent.guard.obj);
		metrics_guard(t.f, &agent.guard);
	}
	fclose(t.f);
	resp->text = t.p;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* ---- events ------------------------------------------------------------------------ */

#define EVENTS_MAX_WAIT_S 60

static bool query_u64(struct api_request *req, const char *key, uint64_t max, uint64_t *out,
		      struct api_response *resp)
{
	const char *v = api_query(req, key);

	if (!v)
		return true;
	if (parse_u64(v, out) || *out > max) {
		api_error(resp, 400, "%s must be a number 0..%llu, not '%s'", key, (unsigned long long)max, v);
		return false;
	}
	return true;
}

/*
 * Long poll: with wait=S and nothing new, the request waits (suspended, no thread) until an
 * event arrives or S seconds pass. Clients follow with since=<next>.
 */
static void get_events(struct api_request *req, struct api_response *resp)
{
	uint64_t since = 0, tail = 0, wait = 0, limit = 1000, next, missed;
	const char *types = api_query(req, "type");
	json_t *evs;

	if (!query_u64(req, "since", UINT64_MAX, &since, resp) ||
	    !query_u64(req, "tail", EVENTS_KEPT, &tail, resp) ||
	    !query_u64(req, "wait", EVENTS_MAX_WAIT_S, &wait, resp) ||
	    !query_u64(req, "limit", 10000, &limit, resp))
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

/* ---- block and allow lists ---------------------------------------------------------- */

#define MAX_REASON 256

/* ttl: "10m" or a number of seconds; reason: printable text. Sets a 400 and returns false. */
static bool parse_ttl_reason(json_t *ttl_j, const char *reason, struct list_request *rq,
			     struct api_response *resp)
{
	rq->ttl_ns = 0;
	if (json_is_integer(ttl_j)) {
		json_int_t secs = json_integer_value(ttl_j);

		if (secs <= 0 || secs > 100LL * 365 * 86400) {
			api_error(resp, 400, "ttl: %lld seconds is out of range (1 s .. 100 years)", (long long)secs);
			return false;
		}
		rq->ttl_ns = (uint64_t)secs * NSEC_PER_SEC;
	} else if (json_is_string(ttl_j)) {
		const char *t = json_string_value(ttl_j);

		if (parse_duration(t, &rq->ttl_ns) || rq->ttl_ns == 0 ||
		    rq->ttl_ns > 100ULL * 365 * 86400 * NSEC_PER_SEC) {
			api_error(resp, 400, "ttl: '%s' is not a duration such as 90s, 10m, 2h or 7d", t);
			return false;
		}
	} else if (ttl_j && !json_is_null(ttl_j)) {
		api_error(resp, 400, "ttl must be a duration string (\"10m\") or a number of seconds");
		return false;
	}
	if (reason) {
		size_t n = strlen(reason);

		if (n > MAX_REASON) {
			api_error(resp, 400, "reason is %zu characters; at most %d", n, MAX_REASON);
			return false;
		}
		for (size_t i = 0; i < n; i++) {
			if ((unsigned char)reason[i] < 0x20 || reason[i] == 0x7f) {
				api_error(resp, 400, "reason must not contain control characters");
				return false;
			}
		}
	}
	rq->reason = reason;
	return true;
}

static bool parse_cidr_field(json_t *body, struct cidr *c, bool *host_bits, struct api_response *resp)
{
	const char *s = json_string_value(json_object_get(body, "cidr"));
	char why[160];

	if (!s) {
		api_error(resp, 400, "body must be {\"cidr\": \"ADDRESS[/LEN]\", ...}");
		return false;
	}
	if (cidr_parse(s, c, host_bits, why, sizeof(why))) {
		api_error(resp, 400, "cidr: %s", why);
		return false;
	}
	return true;
}

static unsigned status_of(int err)
{
	switch (err) {
	case -ENOENT:
		return 404;
	case -EPERM:
	case -EEXIST:
		return 409;
	case -ENOSPC:
	case -E2BIG:
		return 507;
	default:
		return 500;
	}
}

static void add_entry(struct api_request *req, struct api_response *resp, enum decision_list list)
{
	struct list_request rq = { .list = list, .origin = GUARD_ORIGIN_CLI };
	char note[160], err[256], text[CIDR_STRLEN];
	json_t *force = json_object_get(req->body, "force");
	bool host_bits;
	struct cidr c;
	int e;

	if (!json_is_object(req->body)) {
		api_error(resp, 400, "body must be {\"cidr\": ..., \"ttl\": \"10m\", \"reason\": ..., \"force\": false}");
		return;
	}
	if (!parse_cidr_field(req->body, &c, &host_bits, resp) ||
	    !parse_ttl_reason(json_object_get(req->body, "ttl"),
			      json_string_value(json_object_get(req->body, "reason")), &rq, resp))
		return;
	if (force && !json_is_boolean(force)) {
		api_error(resp, 400, "force must be true or false");
		return;
	}
	rq.force = json_is_true(force);
	e = lists_add(&agent.lists, &rq, &c, host_bits, &req->actor, note, sizeof(note), err, sizeof(err));
	if (e) {
		api_error(resp, status_of(e), "%s", err);
		return;
	}
	cidr_format(&c, text, sizeof(text));
	resp->json = json_pack("{s:s, s:s, s:I}", "list", list_name(list), "cidr", text, "ttl_seconds",
			       (json_int_t)(rq.ttl_ns / NSEC_PER_SEC));
	if (note[0])
		json_object_set_new(resp->json, "note", json_string(note));
}

static void remove_entry(struct api_request *req, struct api_response *resp, enum decision_list list)
{
	char err[256];
	bool host_bits;
	struct cidr c;
	int e;

	if (!parse_cidr_field(req->body, &c, &host_bits, resp))
		return;
	e = lists_remove(&agent.lists, list, &c, &req->actor, err, sizeof(err));
	if (e) {
		api_error(resp, status_of(e), "%s", err);
		return;
	}
	resp->json = json_pack("{s:b}", "removed", 1);
}

static void import_entries(struct api_request *req, struct api_response *resp, enum decision_list list)
{
	struct list_request rq = { .list = list, .origin = GUARD_ORIGIN_FILE };
	const char *force = api_query(req, "force"), *ttl = api_query(req, "ttl");
	json_t *ttl_j = ttl ? json_string(ttl) : NULL;
	struct import_result res;
	char err[256];
	bool ok;
	int e;

	ok = parse_ttl_reason(ttl_j, api_query(req, "reason"), &rq, resp);
	json_decref(ttl_j);
	if (!ok)
		return;
	rq.force = force && streq(force, "1");
	e = lists_import(&agent.lists, &rq, req->raw, req->raw_len, &req->actor, &res, err, sizeof(err));
	resp->json = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "lines", (json_int_t)res.lines,
			       "accepted", (json_int_t)res.accepted, "duplicate", (json_int_t)res.duplicate,
			       "rejected", (json_int_t)res.rejected, "normalised", (json_int_t)res.normalised,
			       "rejects", res.rejects);
	json_object_set_new(resp->json, "timing_ms", json_pack("{s:I, s:I}", "parse_and_store",
			    (json_int_t)res.parse_store_ms, "kernel", (json_int_t)res.kernel_ms));
	if (e) {
		resp->status = status_of(e);
		json_object_set_new(resp->json, "error", json_string(err));
	}
}

static void post_block(struct api_request *req, struct api_response *resp) { add_entry(req, resp, LIST_BLOCK); }
static void post_allow(struct api_request *req, struct api_response *resp) { add_entry(req, resp, LIST_ALLOW); }
static void post_unblock(struct api_request *req, struct api_response *resp) { remove_entry(req, resp, LIST_BLOCK); }
static void post_unallow(struct api_request *req, struct api_response *resp) { remove_entry(req, resp, LIST_ALLOW); }
static void post_block_import(struct api_request *req, struct api_response *resp) { import_entries(req, resp, LIST_BLOCK); }
static void post_allow_import(struct api_request *req, struct api_response *resp) { import_entries(req, resp, LIST_ALLOW); }

static void get_lists(struct api_request *req, struct api_response *resp)
{
	const char *which = api_query(req, "list"), *lim = api_query(req, "limit");
	uint64_t limit = 10000;
	int list = -1;

	if (which && !streq(which, "block") && !streq(which, "allow")) {
		api_error(resp, 400, "list must be block or allow, not '%s'", which);
		return;
	}
	if (which)
		list = streq(which, "allow") ? LIST_ALLOW : LIST_BLOCK;
	if (lim && (parse_u64(lim, &limit) || !limit)) {
		api_error(resp, 400, "limit must be a positive number, not '%s'", lim);
		return;
	}
	resp->json = lists_json(&agent.lists, list, (size_t)limit);
}

static void get_top(struct api_request *req, struct api_response *resp)
{
	uint64_t n = 20;

	if (!query_u64(req, "n", 100000, &n, resp))
		return;
	resp->json = guard_rl_top(&agent.guard, &agent.cfg, (size_t)n);
}

const struct api_route agent_routes[] = {
	{ .method = "GET", .path = "/v1/guard/top", .fn = get_top },
	{ .method = "GET", .path = "/v1/status", .fn = get_status },
	{ .method = "GET", .path = "/v1/progs", .fn = get_progs },
	{ .method = "GET", .path = "/v1/config", .fn = get_config },
	{ .method = "POST", .path = "/v1/config/reload", .change = true, .fn = post_reload, .op = "config.reload" },
	{ .method = "GET", .path = "/v1/probe", .fn = get_probe },
	{ .method = "GET", .path = "/v1/audit", .change = true, .fn = get_audit, .op = "audit.read" },
	{ .method = "GET", .path = "/v1/guard", .fn = get_guard },
	{ .method = "POST", .path = "/v1/guard/mode", .change = true, .fn = post_guard_mode, .op = "guard.mode" },
	{ .method = "GET", .path = "/v1/guard/lists", .fn = get_lists },
	{ .method = "POST", .path = "/v1/guard/block", .change = true, .fn = post_block, .op = "block" },
	{ .method = "POST", .path = "/v1/guard/unblock", .change = true, .fn = post_unblock, .op = "unblock" },
	{ .method = "POST", .path = "/v1/guard/allow", .change = true, .fn = post_allow, .op = "allow" },
	{ .method = "POST", .path = "/v1/guard/unallow", .change = true, .fn = post_unallow, .op = "unallow" },
	{ .method = "POST", .path = "/v1/guard/block/import", .change = true, .fn = post_block_import,
	  .op = "block.import", .raw = true },
	{ .method = "POST", .path = "/v1/guard/allow/import", .change = true, .fn = post_allow_import,
	  .op = "allow.import", .raw = true },
	{ .method = "GET", .path = "/v1/events", .change = true, .fn = get_events, .op = "events.read" },
	{ .method = "GET", .path = "/metrics", .fn = get_metrics },
	{},
};
