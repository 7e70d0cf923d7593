// SPDX-License-Identifier: GPL-2.0-only
/*
 * Network policy enforcement as an agent module: the generations (policy_gen.c), the decision
 * events from the datapath's ring buffer, status, stats, Prometheus metrics and the API.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>

#include "agent.h"
#include "events.h"
#include "log.h"
#include "module.h"
#include "policy_gen.h"
#include "util.h"

#define VERDICT_NAME(id, name) name,
static const char *const verdict_names[] = { POLICY_VERDICTS(VERDICT_NAME) };
#undef VERDICT_NAME
#define HOOK_NAME(id, name) name,
static const char *const hook_names[] = { POLICY_HOOKS(HOOK_NAME) };
#undef HOOK_NAME

/* ---- life cycle ------------------------------------------------------------------------- */

static int policy_mod_start(const struct aegis_config *cfg)
{
	PS.enabled = cfg->policy_enabled;
	if (!cfg->policy_enabled) {
		pr_info("policy: disabled by configuration (policy.enabled: false)");
		return 0;
	}
	return policy_gen_start(cfg);
}

static void policy_mod_stop(const struct aegis_config *cfg, bool detach)
{
	policy_gen_stop(cfg, detach);
	PS.enabled = false;
}

static int policy_mod_reconfigure(const struct aegis_config *old, const struct aegis_config *cfg)
{
	if (PS.enabled && !cfg->policy_enabled) {
		/* Turning the module off ends enforcement, as turning the guard off does. */
		policy_gen_stop(old, true);
		PS.enabled = false;
		return 0;
	}
	if (!PS.enabled && cfg->policy_enabled)
		return policy_mod_start(cfg);
	return PS.enabled ? policy_gen_reconfigure(old, cfg) : 0;
}

static int policy_mod_cleanup(const struct aegis_config *cfg)
{
	return policy_attach_cleanup_netlink(cfg->state_dir);
}

/* ---- decision events -------------------------------------------------------------------- */

static void addr_text(uint8_t family, const uint8_t *a, char *buf, size_t len)
{
	if (family == 2 || family == 10)
		inet_ntop(family == 2 ? AF_INET : AF_INET6, a, buf, (socklen_t)len);
	else
		snprintf(buf, len, "-");
}

/* The policy and rule an event names, from the generation it names (if a slot still holds it). */
static void name_rule(json_t *j, uint32_t generation, uint32_t rule)
{
	const struct policy_gen *g = policy_gen_find(generation);
	const struct policy_image_rule *r;
	const struct policy_def *p;
	char text[512];

	if (!g || g->broken || rule >= g->img.n_rules) {
		json_object_set_new(j, "rule_index", json_integer(rule));
		return;
	}
	r = &g->img.rules[rule];
	p = &g->doc.policies[r->policy];
	json_object_set_new(j, "policy", json_string(p->name));
	if (r->file_rule < 0) {
		json_object_set_new(j, "rule", json_string("default"));
		return;
	}
	policy_rule_text(&p->rules[r->file_rule], text, sizeof(text));
	json_object_set_new(j, "rule", json_integer(r->file_rule));
	json_object_set_new(j, "rule_text", json_string(text));
	if (p->rules[r->file_rule].name)
		json_object_set_new(j, "rule_name", json_string(p->rules[r->file_rule].name));
}

static json_t *event_json(const struct policy_event *e)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], when[40], ifname[IF_NAMESIZE] = "";
	uint64_t now_rt = now_realtime_ns(), now_boot = now_boottime_ns();
	json_t *j;

	addr_text(e->family, e->saddr, src, sizeof(src));
	addr_text(e->family, e->daddr, dst, sizeof(dst));
	format_rfc3339(now_rt - (now_boot > e->ts_ns ? now_boot - e->ts_ns : 0), when, sizeof(when));
	j = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:I}", "time", when,
		      "generation", (json_int_t)e->generation, "verdict",
		      e->verdict < POLICY_VERDICT_COUNT ? verdict_names[e->verdict] : "?", "mode",
		      e->mode == POLICY_MODE_BLOCK ? "block" : "observe", "direction",
		      policy_dir_name(e->direction), "hook", e->hook < POLICY_HOOK_COUNT ?
		      hook_names[e->hook] : "?", "src", src, "dst", dst, "proto", e->proto, "sport",
		      ntohs(e->sport), "dport", ntohs(e->dport), "pkt_len", (json_int_t)e->pkt_len);
	name_rule(j, e->generation, e->rule);
	if (e->direction == POLICY_DIR_INGRESS) {
		if_indextoname(e->ifindex, ifname);
		json_object_set_new(j, "interface", json_string(ifname[0] ? ifname : "?"));
		json_object_set_new(j, "ifindex", json_integer(e->ifindex));
	} else {
		const struct policy_gen *g = policy_gen_find(e->generation);

		json_object_set_new(j, "cgroup_id", json_integer((json_int_t)e->cgroup_id));
		for (size_t i = 0; g && i < g->sel.n_cgroups; i++)
			if (g->sel.cgroups[i].id == e->sel_cgroup_id)
				json_object_set_new(j, "cgroup", json_string(g->sel.cgroups[i].path));
		json_object_set_new(j, "pid", json_integer(e->tgid));
		json_object_set_new(j, "tid", json_integer(e->pid));
		json_object_set_new(j, "comm", json_stringn(e->comm, strnlen(e->comm, sizeof(e->comm))));
	}
	return j;
}

static int on_event(void *ctx, void *data, size_t size)
{
	if (size < sizeof(struct policy_event)) {
		log_once(LOG_LVL_WARN, "policy-event-size", "policy: an event of %zu bytes, expected %zu: "
			 "ignored (datapath and agent from different builds?)", size, sizeof(struct policy_event));
		return 0;
	}
	PS.events_received++;
	events_publish("policy", event_json(data));
	return 0;
}

static int policy_mod_poll_fds(int *fds, int max)
{
	if (!PS.loaded) {
		ring_buffer__free(PS.rb);
		PS.rb = NULL;
		return 0;
	}
	if (!PS.rb) {
		PS.rb = ring_buffer__new(bpfobj_map_fd(&PS.k.obj, "pol_events"), on_event, NULL, NULL);
		if (!PS.rb) {
			log_once(LOG_LVL_ERROR, "policy-rb", "policy: cannot open the pol_events ring buffer: %s",
				 strerror(errno));
			return 0;
		}
	}
	if (max < 1)
		return 0;
	fds[0] = ring_buffer__epoll_fd(PS.rb);
	return 1;
}

static void policy_mod_on_readable(int fd)
{
	if (PS.rb && ring_buffer__consume(PS.rb) < 0)
		log_once(LOG_LVL_WARN, "policy-consume", "policy: reading events: %s", strerror(errno));
}

/* ---- status, stats, metrics ------------------------------------------------------------ */

static json_t *attachments_json(void)
{
	json_t *ifs = json_array(), *cgs = json_array();

	for (size_t i = 0; i < PS.att.n_ifaces; i++)
		json_array_append_new(ifs, json_pack("{s:s, s:i, s:s}", "name", PS.att.ifaces[i].name,
			"ifindex", PS.att.ifaces[i].ifindex, "tc", PS.att.ifaces[i].netlink ? "netlink" : "tcx"));
	for (size_t i = 0; i < PS.att.n_cgroups; i++)
		json_array_append_new(cgs, json_pack("{s:s, s:I}", "path", PS.att.cgroups[i].path, "id",
						     (json_int_t)PS.att.cgroups[i].id));
	return json_pack("{s:o, s:o}", "interfaces", ifs, "cgroups", cgs);
}

static json_t *policy_mod_status(void)
{
	const struct aegis_config *cfg = &agent.cfg;
	const struct policy_gen *a = policy_gen_active();
	int other = PS.active < 0 ? -1 : PS.active ^ 1;
	json_t *j;

	if (!PS.enabled)
		return json_pack("{s:b}", "running", 0);
	j = json_pack("{s:b, s:b, s:o, s:o, s:b, s:b, s:b, s:b, s:s, s:o}", "running", 1, "loaded",
		      PS.loaded, "in_force", policy_gen_json(a, true), "previous",
		      policy_gen_json(other >= 0 ? &PS.gen[other] : NULL, false), "rollback_available",
		      other >= 0 && PS.gen[other].present && !PS.gen[other].broken, "dry_run",
		      cfg->policy_dry_run, "tc", cfg->policy_tc, "cgroup", cfg->policy_cgroup,
		      "tc_attach", policy_tc_attach_name(cfg->policy_tc_attach), "attachments",
		      attachments_json());
	if (PS.loaded)
		json_object_set_new(j, "ctl", json_pack("{s:I, s:I}", "generation",
			(json_int_t)(policy_kern_ctl(&PS.k) >> 1), "slot", (json_int_t)(policy_kern_ctl(&PS.k) & 1)));
	if (PS.restore_error[0])
		json_object_set_new(j, "restore_error", json_string(PS.restore_error));
	return j;
}

static json_t *counters_json(const struct policy_counters *c)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "packets", (json_int_t)c->packets, "bytes",
			 (json_int_t)c->bytes, "allowed", (json_int_t)c->allowed, "denied",
			 (json_int_t)c->denied, "would_deny", (json_int_t)c->would_deny, "replies",
			 (json_int_t)c->replies);
}

static void add_counters(struct policy_counters *to, const struct policy_counters *c)
{
	to->packets += c->packets;
	to->bytes += c->bytes;
	to->allowed += c->allowed;
	to->denied += c->denied;
	to->would_deny += c->would_deny;
	to->replies += c->replies;
}

/* The counters of every rule of the generation in force, or NULL (none, or unreadable). */
static struct policy_counters *read_counters(const struct policy_gen *g)
{
	struct policy_counters *c = calloc(g->img.n_rules + 1, sizeof(*c));

	if (c && policy_kern_counters(&PS.k, (unsigned)PS.active, g->img.n_rules, c)) {
		free(c);
		return NULL;
	}
	return c;
}

static json_t *stats_json(void)
{
	const struct policy_gen *g = policy_gen_active();
	_cleanup_free_ struct policy_counters *c = NULL;
	struct policy_stats st = {};
	json_t *pols = json_array(), *j;

	if (PS.loaded)
		policy_kern_stats(&PS.k, &st);
	j = json_pack("{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "datapath", "non_ip",
		      (json_int_t)st.non_ip, "malformed", (json_int_t)st.malformed, "unselected",
		      (json_int_t)st.unselected, "ndp", (json_int_t)st.ndp, "flows_recorded",
		      (json_int_t)st.flows_recorded, "events_sent", (json_int_t)st.events_sent,
		      "events_capped", (json_int_t)st.events_capped, "events_lost", (json_int_t)st.events_lost);
	if (!g || g->broken || !(c = read_counters(g))) {
		json_object_set_new(j, "generation", json_null());
		json_object_set_new(j, "policies", pols);
		return j;
	}
	for (size_t p = 0; p < g->doc.n; p++) {
		const struct policy_def *pd = &g->doc.policies[p];
		struct policy_counters total = {};
		json_t *rules = json_array(), *defaults = json_object();

		for (size_t i = 0; i < g->img.n_rules; i++) {
			const struct policy_image_rule *r = &g->img.rules[i];
			char text[512];
			json_t *rj;

			if (r->policy != p)
				continue;
			add_counters(&total, &c[i]);
			if (r->file_rule < 0) {
				json_object_set_new(defaults, policy_dir_name(r->direction),
						    json_pack("{s:s, s:o}", "action", r->deny ? "deny" : "allow",
							      "counters", counters_json(&c[i])));
				continue;
			}
			policy_rule_text(&pd->rules[r->file_rule], text, sizeof(text));
			rj = json_pack("{s:i, s:s, s:s, s:s, s:o}", "index", r->file_rule, "text", text,
				       "direction", policy_dir_name(r->direction), "action",
				       r->deny ? "deny" : "allow", "counters", counters_json(&c[i]));
			if (pd->rules[r->file_rule].name)
				json_object_set_new(rj, "name", json_string(pd->rules[r->file_rule].name));
			json_array_append_new(rules, rj);
		}
		json_array_append_new(pols, json_pack("{s:s, s:s, s:o, s:o, s:o}", "name", pd->name, "mode",
			policy_mode_name((int)g->img.modes[p]), "counters", counters_json(&total), "rules",
			rules, "defaults", defaults));
	}
	json_object_set_new(j, "generation", json_integer(g->generation));
	json_object_set_new(j, "policies", pols);
	return j;
}

static const struct {
	const char *name;
	size_t off;
	const char *help;
} counter_fields[] = {
	{ "packets", offsetof(struct policy_counters, packets), "Packets decided (and refused connect()/sendmsg() calls)." },
	{ "bytes", offsetof(struct policy_counters, bytes), "Bytes of the packets decided." },
	{ "allowed", offsetof(struct policy_counters, allowed), "Packets allowed." },
	{ "denied", offsetof(struct policy_counters, denied), "Packets dropped (and connects refused) in block mode." },
	{ "would_deny", offsetof(struct policy_counters, would_deny), "Packets observe mode (or the dry run) would have dropped." },
	{ "replies", offsetof(struct policy_counters, replies), "Packets the rules deny, let through as replies of flows this host allowed." },
};

static uint64_t field(const struct policy_counters *c, size_t off)
{
	return *(const uint64_t *)((const char *)c + off);
}

static void policy_mod_metrics(FILE *f)
{
	const struct policy_gen *g = policy_gen_active();
	_cleanup_free_ struct policy_counters *c = NULL, *tot = NULL;
	struct policy_stats st = {};
	char name[128];

	if (!PS.enabled)
		return;
	metric_help(f, "aegis_policy_generation", "gauge", "Generation of the policy in force (0: none).");
	fprintf(f, "aegis_policy_generation %u\n", g ? g->generation : 0);
	metric_help(f, "aegis_policy_applies_total", "counter", "Policy applies by result, since the agent started.");
	fprintf(f, "aegis_policy_applies_total{result=\"ok\"} %llu\naegis_policy_applies_total{result=\"error\"} %llu\n",
		(unsigned long long)PS.applies_ok, (unsigned long long)PS.applies_failed);
	metric_help(f, "aegis_policy_rollbacks_total", "counter", "Rollbacks since the agent started.");
	fprintf(f, "aegis_policy_rollbacks_total %llu\n", (unsigned long long)PS.rollbacks);
	if (PS.loaded)
		policy_kern_stats(&PS.k, &st);
	metric_help(f, "aegis_policy_events_total", "counter",
		    "Deny and would-deny events: sent, held back by the per-CPU rate limit, lost (ring buffer full).");
	fprintf(f, "aegis_policy_events_total{result=\"sent\"} %llu\naegis_policy_events_total{result=\"capped\"} %llu\n"
		"aegis_policy_events_total{result=\"lost\"} %llu\n", (unsigned long long)st.events_sent,
		(unsigned long long)st.events_capped, (unsigned long long)st.events_lost);
	metric_help(f, "aegis_policy_undecided_total", "counter",
		    "Packets on policy hooks that no rule decided: non-IP and NDP (passed), unselected (no policy there).");
	fprintf(f, "aegis_policy_undecided_total{reason=\"non_ip\"} %llu\naegis_policy_undecided_total{reason=\"ndp\"} %llu\n"
		"aegis_policy_undecided_total{reason=\"unselected\"} %llu\n", (unsigned long long)st.non_ip,
		(unsigned long long)st.ndp, (unsigned long long)st.unselected);
	metric_help(f, "aegis_policy_malformed_total", "counter", "Malformed packets (decided by the default).");
	fprintf(f, "aegis_policy_malformed_total %llu\n", (unsigned long long)st.malformed);
	if (!g || g->broken || !(c = read_counters(g)) || !(tot = calloc(g->doc.n + 1, sizeof(*tot))))
		return;
	metric_help(f, "aegis_policy_mode", "gauge", "1 when the policy blocks, 0 when it observes.");
	for (size_t p = 0; p < g->doc.n; p++)
		fprintf(f, "aegis_policy_mode{policy=\"%s\"} %d\n", g->doc.policies[p].name,
			g->img.modes[p] == POLICY_MODE_BLOCK);
	for (size_t i = 0; i < g->img.n_rules; i++)
		add_counters(&tot[g->img.rules[i].policy], &c[i]);
	for (size_t k = 0; k < ARRAY_SIZE(counter_fields); k++) {
		snprintf(name, sizeof(name), "aegis_policy_%s_total", counter_fields[k].name);
		metric_help(f, name, "counter", counter_fields[k].help);
		for (size_t p = 0; p < g->doc.n; p++)
			fprintf(f, "%s{policy=\"%s\"} %llu\n", name, g->doc.policies[p].name,
				(unsigned long long)field(&tot[p], counter_fields[k].off));
	}
	for (size_t k = 0; k < ARRAY_SIZE(counter_fields); k++) {
		snprintf(name, sizeof(name), "aegis_policy_rule_%s_total", counter_fields[k].name);
		metric_help(f, name, "counter", counter_fields[k].help);
		for (size_t i = 0; i < g->img.n_rules; i++) {
			const struct policy_image_rule *r = &g->img.rules[i];
			const struct policy_def *p = &g->doc.policies[r->policy];
			char rule[80];

			if (r->file_rule < 0)
				snprintf(rule, sizeof(rule), "default");
			else if (p->rules[r->file_rule].name)
				snprintf(rule, sizeof(rule), "%s", p->rules[r->file_rule].name);
			else
				snprintf(rule, sizeof(rule), "%d", r->file_rule);
			fprintf(f, "%s{policy=\"%s\",rule=\"%s\",direction=\"%s\",action=\"%s\"} %llu\n", name,
				p->name, rule, policy_dir_name(r->direction), r->deny ? "deny" : "allow",
				(unsigned long long)field(&c[i], counter_fields[k].off));
		}
	}
}

static size_t policy_mod_objects(const struct bpfobj **out, size_t max)
{
	if (!PS.loaded || max < 1)
		return 0;
	out[0] = &PS.k.obj;
	return 1;
}

static json_t *policy_mod_attachments(const struct bpfobj *o, const char *prog)
{
	return policy_attach_json(&PS.att, &PS.k, prog);
}

/* ---- API --------------------------------------------------------------------------------- */

static void get_policy(struct api_request *req, struct api_response *resp)
{
	resp->json = policy_mod_status();
}

/* {"text": ..., "path": ...}: the CLI reads the file, so errors name the user's path. */
static bool policy_body(struct api_request *req, struct api_response *resp, const char **text,
			size_t *len, const char **path)
{
	static const char *const fields[] = { "text", "path", "dry_run", NULL };
	json_t *t = json_object_get(req->body, "text"), *p = json_object_get(req->body, "path");

	if (!PS.enabled) {
		api_error(resp, 409, "policy enforcement is off (policy.enabled: false)");
		return false;
	}
	if (!api_body_fields(req, fields, resp))
		return false;
	if (!json_is_string(t) || (p && !json_is_string(p))) {
		api_error(resp, 400, "body must be {\"text\": POLICY-FILE-TEXT, \"path\": NAME (optional)}");
		return false;
	}
	*text = json_string_value(t);
	*len = json_string_length(t);
	*path = p ? json_string_value(p) : "<input>";
	return true;
}

static void post_diff(struct api_request *req, struct api_response *resp)
{
	const char *text, *path;
	size_t len;

	if (policy_body(req, resp, &text, &len, &path))
		resp->status = policy_gen_diff(text, len, path, &resp->json);
}

static void post_apply(struct api_request *req, struct api_response *resp)
{
	json_t *dry = json_object_get(req->body, "dry_run");
	const char *text, *path;
	size_t len;

	if (!policy_body(req, resp, &text, &len, &path))
		return;
	if (dry && !json_is_boolean(dry)) {
		api_error(resp, 400, "dry_run must be true or false");
		return;
	}
	resp->status = policy_gen_apply(text, len, path, json_is_true(dry), &req->actor, &resp->json);
}

static void post_rollback(struct api_request *req, struct api_response *resp)
{
	if (!PS.enabled) {
		api_error(resp, 409, "policy enforcement is off (policy.enabled: false)");
		return;
	}
	resp->status = policy_gen_rollback(&req->actor, &resp->json);
}

static void post_mode(struct api_request *req, struct api_response *resp)
{
	const char *name = json_string_value(json_object_get(req->body, "policy"));
	const char *m = json_string_value(json_object_get(req->body, "mode"));
	static const char *const fields[] = { "policy", "mode", NULL };
	int mode;

	if (!api_body_fields(req, fields, resp))
		return;
	if (!name || !m || policy_mode_parse(m, &mode)) {
		api_error(resp, 400, "body must be {\"policy\": NAME, \"mode\": \"observe\"|\"block\"}");
		return;
	}
	resp->status = policy_gen_mode(name, mode, &req->actor, &resp->json);
}

static void get_history(struct api_request *req, struct api_response *resp)
{
	uint64_t n = 50;

	if (!api_query_u64(req, "n", 100000, &n, resp))
		return;
	resp->json = json_pack("{s:o}", "history", policy_gen_history((size_t)n));
}

static void get_stats(struct api_request *req, struct api_response *resp)
{
	resp->json = stats_json();
}

static const struct api_route policy_routes[] = {
	{ .method = "GET", .path = "/v1/policy", .fn = get_policy },
	{ .method = "POST", .path = "/v1/policy/diff", .fn = post_diff },
	{ .method = "POST", .path = "/v1/policy/apply", .change = true, .fn = post_apply, .op = "policy.apply" },
	{ .method = "POST", .path = "/v1/policy/rollback", .change = true, .fn = post_rollback, .op = "policy.rollback" },
	{ .method = "POST", .path = "/v1/policy/mode", .change = true, .fn = post_mode, .op = "policy.mode" },
	{ .method = "GET", .path = "/v1/policy/history", .fn = get_history },
	{ .method = "GET", .path = "/v1/policy/stats", .fn = get_stats },
	{},
};

const struct agent_module policy_module = {
	.name = "policy",
	.start = policy_mod_start,
	.reconfigure = policy_mod_reconfigure,
	.stop = policy_mod_stop,
	.poll_fds = policy_mod_poll_fds,
	.on_readable = policy_mod_on_readable,
	.status = policy_mod_status,
	.metrics = policy_mod_metrics,
	.objects = policy_mod_objects,
	.attachments = policy_mod_attachments,
	.routes = policy_routes,
	.cleanup = policy_mod_cleanup,
};
