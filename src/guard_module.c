// SPDX-License-Identifier: GPL-2.0-only
/*
 * The DDoS guard as an agent module: the XDP program and its maps (guard.c), the block and allow
 * lists applied to them (lists.c), the rate limiter's auto-blocker (guard_rl.c) and the drop
 * records (guard_events.c), with the guard's API endpoints and metrics.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "guard.h"
#include "guard_events.h"
#include "guard_rl.h"
#include "lists.h"
#include "log.h"
#include "guard_top.h"
#include "module.h"
#include "util.h"

static struct {
	struct guard guard;
	struct lists lists;		/* the decision store, applied to the guard */
	struct guard_events_ctx drops;	/* sampled drop records */
	struct guard_top_view top;	/* `aegis top` */
} G;

/* ---- life cycle ------------------------------------------------------------------------- */

static int guard_mod_start(const struct aegis_config *cfg)
{
	int err = guard_start(&G.guard, cfg);

	return err ? err : lists_start(&G.lists, &G.guard, cfg);
}

static int guard_mod_reconfigure(const struct aegis_config *old, const struct aegis_config *cfg)
{
	bool was_running = G.guard.running;
	int err = guard_reconfigure(&G.guard, old, cfg);

	if (!err && G.guard.running && !was_running)
		err = lists_restore(&G.lists);
	if (!err) {
		err = lists_sync_config(&G.lists, cfg);
		if (err) {
			/* Back to the running configuration, interfaces and list entries alike. */
			guard_reconfigure(&G.guard, cfg, old);
			lists_sync_config(&G.lists, old);
		}
	}
	return err;
}

static void guard_mod_stop(const struct aegis_config *cfg, bool detach)
{
	guard_events_close(&G.drops);
	guard_top_free(&G.top);
	lists_stop(&G.lists);
	guard_stop(&G.guard, cfg, detach);
}

static void guard_mod_tick(const struct aegis_config *cfg)
{
	guard_rl_scan(&G.guard, &G.lists, cfg);
	guard_top_tick(&G.top, &G.guard);
	lists_tick(&G.lists);
}

/* The drop records follow the guard across reloads that stop or start it. */
static int guard_mod_poll_fds(int *fds, int max)
{
	if (!G.guard.running) {
		guard_events_close(&G.drops);
		return 0;
	}
	if (guard_events_fd(&G.drops) < 0 && guard_events_open(&G.drops, &G.guard, &G.lists))
		return 0;
	if (max < 1)
		return 0;
	fds[0] = guard_events_fd(&G.drops);
	return fds[0] >= 0;
}

static void guard_mod_on_readable(int fd)
{
	guard_events_consume(&G.drops);
}

/* ---- status, objects and metrics ------------------------------------------------------ */

static json_t *total_counters(void)
{
	struct guard_counters total = {}, c;

	for (size_t i = 0; G.guard.running && i < G.guard.n_ifaces; i++) {
		if (guard_read_counters(&G.guard, &G.guard.ifaces[i], &c))
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

static json_t *guard_mod_status(void)
{
	json_t *s = guard_status_json(&G.guard);

	if (G.guard.running)
		json_object_set_new(s, "counters", total_counters());
	return s;
}

static size_t guard_mod_objects(const struct bpfobj **out, size_t max)
{
	if (!G.guard.running || max < 1)
		return 0;
	out[0] = &G.guard.obj;
	return 1;
}

static json_t *guard_mod_attachments(const struct bpfobj *o, const char *prog)
{
	json_t *attach = json_array();

	for (size_t k = 0; k < G.guard.n_ifaces; k++) {
		const struct guard_iface_state *s = &G.guard.ifaces[k];
		char lp[PATH_MAX], name[IF_NAMESIZE + 8];

		if (s->link_fd < 0)
			continue;
		snprintf(name, sizeof(name), "xdp_%s", s->name);
		bpfobj_link_pin_path(o, name, lp, sizeof(lp));
		json_array_append_new(attach, json_pack("{s:s, s:s, s:i, s:s, s:I, s:s}", "hook", "xdp",
			"interface", s->name, "ifindex", s->ifindex, "xdp_mode",
			s->generic ? "generic" : "native", "link_id", (json_int_t)s->link_id, "pin", lp));
	}
	return attach;
}

static uint64_t guard_mod_map_entries(const char *map)
{
	return lists_map_entries(&G.lists, map);
}

/* ---- API --------------------------------------------------------------------------- */

static void get_guard(struct api_request *req, struct api_response *resp)
{
	resp->json = guard_mod_status();
}

static void post_guard_mode(struct api_request *req, struct api_response *resp)
{
	const char *mode_s = json_string_value(json_object_get(req->body, "mode"));
	json_t *iface_j = json_object_get(req->body, "interface");
	const char *iface = json_string_value(iface_j);
	enum guard_mode mode;
	char err[256];
	int e;

	static const char *const fields[] = { "mode", "interface", NULL };

	if (!api_body_fields(req, fields, resp))
		return;
	if (!mode_s || guard_mode_parse(mode_s, &mode)) {
		api_error(resp, 400, "body must be {\"mode\": \"observe\"|\"block\", \"interface\": NAME (optional)}");
		return;
	}
	if (iface_j && !iface) {
		api_error(resp, 400, "\"interface\" must be a string");
		return;
	}
	e = guard_set_mode(&G.guard, iface, mode, &req->actor, err, sizeof(err));
	if (e) {
		api_error(resp, e == -ENOENT ? 404 : 500, "%s", err);
		return;
	}
	resp->json = guard_status_json(&G.guard);
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

/* "proto": "tcp"|"udp" and "port": 1..65535, both or neither. Sets a 400 and returns false. */
static bool parse_scope_fields(json_t *body, struct decision_scope *sc, struct api_response *resp)
{
	json_t *proto = json_object_get(body, "proto"), *port = json_object_get(body, "port");
	char why[128], portbuf[24];

	if ((proto && !json_is_string(proto)) || (port && !json_is_integer(port) && !json_is_string(port))) {
		api_error(resp, 400, "proto must be \"tcp\" or \"udp\" and port a number 1..65535");
		return false;
	}
	if (json_is_integer(port))
		snprintf(portbuf, sizeof(portbuf), "%lld", (long long)json_integer_value(port));
	else if (port)
		snprintf(portbuf, sizeof(portbuf), "%s", json_string_value(port));
	if (scope_parse(json_string_value(proto), port ? portbuf : NULL, sc, why, sizeof(why))) {
		api_error(resp, 400, "%s", why);
		return false;
	}
	return true;
}

/*
 * A change is made durable before the agent answers for it; if the state directory refuses it,
 * the change is in force all the same and the answer says so.
 */
static void commit_changes(struct api_response *resp)
{
	char why[512];
	int err = lists_commit(&G.lists);

	if (!err || !resp->json)
		return;
	snprintf(why, sizeof(why), "in force, but not saved to %s: %s; a restart after --cleanup or a "
		 "reboot would lose it", G.lists.journal_file, errstr(err));
	json_object_set_new(resp->json, "warning", json_string(why));
}

static unsigned status_of(int err)
{
	switch (err) {
	case -ENOENT:
		return 404;
	case -EPERM:
	case -EEXIST:
		return 409;
	case -EINVAL:
		return 400;
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

	static const char *const fields[] = { "cidr", "ttl", "reason", "force", "proto", "port", NULL };

	if (!api_body_fields(req, fields, resp))
		return;
	if (!parse_cidr_field(req->body, &c, &host_bits, resp) ||
	    !parse_scope_fields(req->body, &rq.scope, resp) ||
	    !parse_ttl_reason(json_object_get(req->body, "ttl"),
			      json_string_value(json_object_get(req->body, "reason")), &rq, resp))
		return;
	if (force && !json_is_boolean(force)) {
		api_error(resp, 400, "force must be true or false");
		return;
	}
	rq.force = json_is_true(force);
	e = lists_add(&G.lists, &rq, &c, host_bits, &req->actor, note, sizeof(note), err, sizeof(err));
	if (e) {
		api_error(resp, status_of(e), "%s", err);
		return;
	}
	cidr_format(&c, text, sizeof(text));
	resp->json = json_pack("{s:s, s:s, s:I}", "list", list_name(list), "cidr", text, "ttl_seconds",
			       (json_int_t)(rq.ttl_ns / NSEC_PER_SEC));
	if (rq.scope.proto) {
		json_object_set_new(resp->json, "proto", json_string(rq.scope.proto == IPPROTO_TCP ? "tcp" : "udp"));
		json_object_set_new(resp->json, "port", json_integer(rq.scope.port));
	}
	if (note[0])
		json_object_set_new(resp->json, "note", json_string(note));
	commit_changes(resp);
}

static void remove_entry(struct api_request *req, struct api_response *resp, enum decision_list list)
{
	struct decision_scope scope;
	char err[256];
	bool host_bits;
	struct cidr c;
	int e;

	static const char *const fields[] = { "cidr", "proto", "port", NULL };

	if (!api_body_fields(req, fields, resp) || !parse_cidr_field(req->body, &c, &host_bits, resp) ||
	    !parse_scope_fields(req->body, &scope, resp))
		return;
	e = lists_remove(&G.lists, list, &c, scope, &req->actor, err, sizeof(err));
	if (e) {
		api_error(resp, status_of(e), "%s", err);
		return;
	}
	resp->json = json_pack("{s:b}", "removed", 1);
	commit_changes(resp);
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
	if (scope_parse(api_query(req, "proto"), api_query(req, "port"), &rq.scope, err, sizeof(err))) {
		api_error(resp, 400, "%s", err);
		return;
	}
	rq.force = force && streq(force, "1");
	e = lists_import(&G.lists, &rq, req->raw, req->raw_len, &req->actor, &res, err, sizeof(err));
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
	commit_changes(resp);
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
	resp->json = lists_json(&G.lists, list, (size_t)limit);
}

static void get_top(struct api_request *req, struct api_response *resp)
{
	uint64_t n = 20;

	if (!api_query_u64(req, "n", 100000, &n, resp))
		return;
	resp->json = guard_top_json(&G.top, &G.guard, &agent.cfg, (size_t)n);
}

/* Entries per list, family and scope, from the decision store (no map walk at a million). */
static void guard_list_metrics(FILE *f)
{
	uint64_t n[2][2][2] = {};	/* [list][v6][scoped] */
	const struct decision *d;
	size_t it = 0;

	while ((d = decisions_next(&G.lists.store, &it)))
		n[d->list & 1][d->cidr.family == AF_INET6][d->scope.proto != 0]++;
	metric_help(f, "aegis_guard_list_entries", "gauge", "Entries in the guard's allow and block lists.");
	for (int l = 0; l < 2; l++)
		for (int v6 = 0; v6 < 2; v6++)
			for (int sc = 0; sc < 2 - l; sc++)	/* the allow list has no scoped entries */
				fprintf(f, "aegis_guard_list_entries{list=\"%s\",family=\"%s\",scoped=\"%s\"} %llu\n",
					list_name((enum decision_list)l), v6 ? "ipv6" : "ipv4", sc ? "true" : "false",
					(unsigned long long)n[l][v6][sc]);
}

static void guard_mod_metrics(FILE *f)
{
	const struct guard *g = &G.guard;
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
		{ "aegis_guard_blocked_by_list_total", offsetof(struct guard_counters, blocked_by_list), "Packets a block-list entry matched (dropped or, in observe mode, would-dropped)." },
		{ "aegis_guard_allowed_by_list_total", offsetof(struct guard_counters, allowed_by_list), "Packets the allow list let through." },
		{ "aegis_guard_rate_limited_total", offsetof(struct guard_counters, rate_limited), "Packets dropped by a rate limit (block mode)." },
		{ "aegis_guard_drop_records_sampled_total", offsetof(struct guard_counters, events_sampled), "Drop records written to the ring buffer." },
		{ "aegis_guard_drop_records_capped_total", offsetof(struct guard_counters, events_capped), "Drop records held back by the per-CPU records/s cap." },
		{ "aegis_guard_drop_records_lost_total", offsetof(struct guard_counters, events_lost), "Drop records lost because the ring buffer was full." },
	};
	struct guard_counters c[GUARD_MAX_IFACES];

	if (!g->running)
		return;

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
	guard_list_metrics(f);
}

static const struct api_route guard_routes[] = {
	{ .method = "GET", .path = "/v1/guard", .fn = get_guard },
	{ .method = "POST", .path = "/v1/guard/mode", .change = true, .fn = post_guard_mode, .op = "guard.mode" },
	{ .method = "GET", .path = "/v1/guard/top", .fn = get_top },
	{ .method = "GET", .path = "/v1/guard/lists", .fn = get_lists },
	{ .method = "POST", .path = "/v1/guard/block", .change = true, .fn = post_block, .op = "block" },
	{ .method = "POST", .path = "/v1/guard/unblock", .change = true, .fn = post_unblock, .op = "unblock" },
	{ .method = "POST", .path = "/v1/guard/allow", .change = true, .fn = post_allow, .op = "allow" },
	{ .method = "POST", .path = "/v1/guard/unallow", .change = true, .fn = post_unallow, .op = "unallow" },
	{ .method = "POST", .path = "/v1/guard/block/import", .change = true, .fn = post_block_import,
	  .op = "block.import", .raw = true },
	{ .method = "POST", .path = "/v1/guard/allow/import", .change = true, .fn = post_allow_import,
	  .op = "allow.import", .raw = true },
	{},
};

const struct agent_module guard_module = {
	.name = "guard",
	.start = guard_mod_start,
	.reconfigure = guard_mod_reconfigure,
	.stop = guard_mod_stop,
	.tick = guard_mod_tick,
	.poll_fds = guard_mod_poll_fds,
	.on_readable = guard_mod_on_readable,
	.status = guard_mod_status,
	.metrics = guard_mod_metrics,
	.objects = guard_mod_objects,
	.attachments = guard_mod_attachments,
	.map_entries = guard_mod_map_entries,
	.routes = guard_routes,
};
