// SPDX-License-Identifier: GPL-2.0-only
/*
 * Generations (policy_gen.h). The state file, <state_dir>/policy/state.json, holds both slots'
 * texts, the agent interfaces they were applied with, run-time modes and which slot is in
 * force; history.jsonl one line per apply and rollback. A restarted agent compiles the texts
 * again (the compiler is deterministic) and reads the pinned slots back against them: equal,
 * they are adopted as they are; else (after a reboot or --cleanup) they are written and switched
 * to again, which is audited as a restore.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "agent.h"
#include "events.h"
#include "log.h"
#include "policy_diff.h"
#include "policy_gen.h"
#include "policy_sel.h"
#include "util.h"

struct policy_state PS = { .active = -1 };

static uint64_t ms_since(uint64_t t0)
{
	return (now_monotonic_ns() - t0) / NSEC_PER_MSEC;
}

/* ---- one generation ----------------------------------------------------------------------- */

static void gen_free(struct policy_gen *g)
{
	free(g->text);
	free(g->source);
	for (size_t i = 0; i < g->n_ifaces; i++)
		free(g->ifaces[i]);
	free(g->ifaces);
	free(g->mode_runtime);
	json_decref(g->actor);
	policy_doc_free(&g->doc);
	policy_image_free(&g->img);
	policy_selection_free(&g->sel);
	memset(g, 0, sizeof(*g));
}

static char **strv_dup(char *const *v, size_t n)
{
	char **out = calloc(n + 1, sizeof(*out));

	for (size_t i = 0; out && i < n; i++)
		if (!(out[i] = strdup(v[i])))
			return NULL;
	return out;
}

/*
 * Parses, resolves on this host and compiles text into g (its text, hash and interfaces kept).
 * Problems go to d. 0, -EINVAL (the file), -E2BIG (a capacity), -ENOMEM.
 */
static int gen_prepare(struct policy_gen *g, const char *text, size_t len, const char *source,
		       char *const *ifaces, size_t n_ifaces, const struct aegis_config *cfg,
		       struct diags *d)
{
	struct policy_limits lim;
	bool (*applies)[2];
	int err;

	memset(g, 0, sizeof(*g));
	g->text = malloc(len + 1);
	g->source = strdup(source ? source : "<input>");
	g->ifaces = strv_dup(ifaces, n_ifaces);
	if (!g->text || !g->source || !g->ifaces)
		return -ENOMEM;
	memcpy(g->text, text, len);
	g->text[len] = '\0';
	g->len = len;
	g->n_ifaces = n_ifaces;
	sha256_hex(text, len, g->hash);
	err = policy_doc_parse(text, len, g->source, &g->doc, d);
	if (err)
		return err;
	applies = calloc(g->doc.n + 1, sizeof(*applies));
	g->mode_runtime = calloc(g->doc.n + 1, sizeof(bool));
	if (!applies || !g->mode_runtime) {
		free(applies);
		return -ENOMEM;
	}
	policy_limits_from_config(cfg, &lim);
	err = policy_resolve(&g->doc, g->ifaces, g->n_ifaces, applies, &g->sel, d);
	if (!err)
		err = policy_compile(&g->doc, applies, &lim, &g->img, d);
	if (!err && policy_selection_assign(&g->sel, &g->img))
		err = -EINVAL;
	free(applies);
	/* Messages of the compiler that name no file are the file's all the same. */
	for (size_t i = 0; i < d->n; i++)
		if (streq(d->v[i].file, "<input>") && !streq(g->source, "<input>")) {
			free(d->v[i].file);
			d->v[i].file = strdup(g->source);
		}
	return err;
}

static size_t rules_of(const struct policy_gen *g)
{
	size_t n = 0;

	for (size_t i = 0; i < g->doc.n; i++)
		n += g->doc.policies[i].n_rules;
	return n;
}

json_t *policy_gen_json(const struct policy_gen *g, bool detailed)
{
	char when[40];
	json_t *j;

	if (!g || !g->present)
		return json_null();
	format_rfc3339(g->applied_ns, when, sizeof(when));
	j = json_pack("{s:I, s:s, s:s, s:s, s:O?, s:I, s:I}", "generation", (json_int_t)g->generation,
		      "hash", g->hash, "source", g->source, "applied_at", when, "actor", g->actor,
		      "policies", (json_int_t)g->doc.n, "rules", (json_int_t)rules_of(g));
	if (g->broken)
		json_object_set_new(j, "broken", json_true());
	if (!detailed || g->broken)
		return j;
	{
		json_t *pols = json_array();

		for (size_t i = 0; i < g->doc.n; i++) {
			json_t *p = policy_def_json(&g->doc.policies[i]);

			json_object_set_new(p, "mode", json_string(policy_mode_name((int)g->img.modes[i])));
			json_object_set_new(p, "mode_set_at_runtime", json_boolean(g->mode_runtime[i]));
			json_array_append_new(pols, p);
		}
		json_object_set_new(j, "policies_in_force", pols);
		json_object_set_new(j, "compiled", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			"rule_slots", (json_int_t)g->img.n_rules, "rulesets", (json_int_t)g->img.n_rs,
			"prefixes_v4", (json_int_t)g->img.n_prefixes[0], "prefixes_v6",
			(json_int_t)g->img.n_prefixes[1], "cells", (json_int_t)g->img.n_cells,
			"address_records", (json_int_t)g->img.n_a_records, "port_tables",
			(json_int_t)g->img.n_port_tables));
	}
	return j;
}

const struct policy_gen *policy_gen_active(void)
{
	return PS.active >= 0 && PS.gen[PS.active].present ? &PS.gen[PS.active] : NULL;
}

const struct policy_gen *policy_gen_find(uint32_t n)
{
	for (int s = 0; s < POLICY_SLOTS; s++)
		if (PS.gen[s].present && PS.gen[s].generation == n)
			return &PS.gen[s];
	return NULL;
}

/* ---- state and history -------------------------------------------------------------------- */

static json_t *strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *slot_json(const struct policy_gen *g)
{
	json_t *modes = json_object();

	if (!g->present)
		return json_null();
	for (size_t i = 0; !g->broken && i < g->doc.n; i++)
		if (g->mode_runtime[i])
			json_object_set_new(modes, g->doc.policies[i].name,
					    json_string(policy_mode_name((int)g->img.modes[i])));
	return json_pack("{s:I, s:s, s:s, s:I, s:O?, s:s, s:o, s:o}", "generation",
			 (json_int_t)g->generation, "hash", g->hash, "source", g->source, "applied_ns",
			 (json_int_t)g->applied_ns, "actor", g->actor, "text", g->text, "interfaces",
			 strv_json(g->ifaces, g->n_ifaces), "runtime_modes", modes);
}

static int state_save(void)
{
	char path[PATH_MAX];
	json_t *s = json_pack("{s:i, s:i, s:I, s:[o, o]}", "version", 1, "active", PS.active,
			      "max_generation", (json_int_t)PS.max_generation, "slots",
			      slot_json(&PS.gen[0]), slot_json(&PS.gen[1]));
	char *text = s ? json_dumps(s, JSON_INDENT(1)) : NULL;
	int err;

	json_decref(s);
	snprintf(path, sizeof(path), "%s/state.json", PS.dir);
	err = text ? write_file_atomic(path, text, strlen(text), 0600) : -ENOMEM;
	free(text);
	if (err)
		pr_err_errno(err, "policy: cannot save %s: a restarted agent will not know the policy in force", path);
	return err;
}

static void history_append(const char *action, const struct policy_gen *g, const struct actor *who,
			   const char *note)
{
	char path[PATH_MAX], when[40];
	json_t *e;
	char *line;
	FILE *f;

	format_rfc3339(now_realtime_ns(), when, sizeof(when));
	e = json_pack("{s:s, s:s, s:I, s:s, s:s, s:o, s:I, s:I}", "time", when, "action", action,
		      "generation", (json_int_t)g->generation, "hash", g->hash, "source", g->source,
		      "actor", actor_to_json(who), "policies", (json_int_t)g->doc.n, "rules",
		      (json_int_t)rules_of(g));
	if (note)
		json_object_set_new(e, "note", json_string(note));
	line = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	snprintf(path, sizeof(path), "%s/history.jsonl", PS.dir);
	f = fopen(path, "ae");
	if (!f || !line || fprintf(f, "%s\n", line) < 0 || fflush(f))
		log_once(LOG_LVL_WARN, "policy-history", "policy: cannot append to %s: %s", path,
			 strerror(errno));
	if (f)
		fclose(f);
	free(line);
}

json_t *policy_gen_history(size_t max)
{
	char path[PATH_MAX];
	_cleanup_free_ char *text = NULL;
	json_t *all = json_array(), *out = json_array();
	size_t len, n, i;
	json_t *e;

	snprintf(path, sizeof(path), "%s/history.jsonl", PS.dir);
	if (read_file(path, &text, &len) == 0)
		for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
			json_t *j = json_loads(line, 0, NULL);

			if (j)
				json_array_append_new(all, j);
		}
	n = json_array_size(all);
	json_array_foreach(all, i, e)
		if (i + max >= n) {
			const struct policy_gen *a = policy_gen_active();
			uint32_t gn = (uint32_t)json_integer_value(json_object_get(e, "generation"));

			json_object_set_new(e, "in_force", json_boolean(a && a->generation == gn && i + 1 == n));
			json_array_append(out, e);
		}
	json_decref(all);
	return out;
}

/* ---- the datapath ------------------------------------------------------------------------- */

static int ensure_loaded(const struct aegis_config *cfg)
{
	int err;

	if (PS.loaded)
		return 0;
	err = policy_kern_open(&PS.k, cfg);
	if (err)
		return err;
	PS.loaded = true;
	pr_info("policy: datapath loaded (%s)", PS.k.obj.source);
	/* Its ring buffer of decisions joins the loop. */
	agent_fds_changed();
	return 0;
}

/* Publishes an event of type and audits op; details (stolen) go into both. */
static void phase_event(const char *type, const char *op, const struct actor *who, int err,
			const char *errmsg, json_t *details)
{
	json_t *ev = json_deep_copy(details);

	json_object_set_new(ev, "result", json_string(err ? "error" : "ok"));
	if (errmsg)
		json_object_set_new(ev, "error", json_string(errmsg));
	json_object_set_new(ev, "actor", actor_to_json(who));
	events_publish(type, ev);
	audit_log(who, op, NULL, err, errmsg, details);
}

/* Puts g back into its slot after the slot served a candidate (a dry run, a failed apply). */
static void rewrite_slot(unsigned slot)
{
	struct policy_gen *g = &PS.gen[slot];
	struct policy_verify_report r;
	struct diags d = {};

	if (!g->present || g->broken)
		return;
	if (policy_kern_write(&PS.k, slot, &g->img, &g->sel, &d) ||
	    policy_kern_verify(&PS.k, slot, &g->img, &g->doc, &g->sel, &r)) {
		pr_err("policy: generation %u could not be put back into slot %u: rollback to it is no "
		       "longer possible", g->generation, slot);
		g->broken = true;
	}
	diags_free(&d);
}

/* The attachments the union of generations a and b (either may be NULL) needs, and no other. */
static int sync_for(const struct policy_gen *a, const struct policy_gen *b,
		    const struct aegis_config *cfg, char *err, size_t len)
{
	const struct policy_selection *v[2];
	size_t n = 0;

	if (a && a->present && !a->broken)
		v[n++] = &a->sel;
	if (b && b->present && !b->broken && b != a)
		v[n++] = &b->sel;
	return policy_attach_sync(&PS.att, &PS.k, cfg, v, n, err, len);
}

/*
 * Moves the datapath from the slot in force to `slot` (holding g): the programs go wherever
 * either generation needs them, then the one store, then what only the old one needed goes.
 */
static int switch_to(unsigned slot, const struct policy_gen *g, const struct aegis_config *cfg,
		     char *err, size_t len)
{
	const struct policy_gen *old = policy_gen_active();
	int e = sync_for(old, g, cfg, err, len);

	if (e)
		return e;
	e = policy_kern_flip(&PS.k, g->generation << 1 | slot);
	if (e) {
		snprintf(err, len, "switching generations: %s", errstr(e));
		sync_for(old, NULL, cfg, err, len);
		return e;
	}
	PS.active = (int)slot;
	if (sync_for(g, NULL, cfg, err, len))
		pr_warn("policy: generation %u is in force, but detaching what only the previous "
			"one needed failed: %s", g->generation, err);
	return 0;
}

/* ---- check, diff, apply, rollback, mode ------------------------------------------------------ */

static json_t *errors_json(struct diags *d)
{
	json_t *j = diags_to_json(d);

	diags_free(d);
	return j;
}

unsigned policy_gen_diff(const char *text, size_t len, const char *source, json_t **out)
{
	const struct aegis_config *cfg = &agent.cfg;
	const struct policy_gen *a = policy_gen_active();
	struct policy_gen cand;
	struct diags d = {};
	int err = gen_prepare(&cand, text, len, source, cfg->policy_ifaces, cfg->n_policy_ifaces, cfg, &d);

	if (err) {
		*out = json_pack("{s:s, s:o}", "error", "the policy file has problems", "errors", errors_json(&d));
		gen_free(&cand);
		return err == -ENOMEM ? 500 : 422;
	}
	diags_free(&d);
	*out = policy_diff(a && !a->broken ? &a->doc : NULL, &cand.doc);
	json_object_set_new(*out, "hash", json_string(cand.hash));
	json_object_set_new(*out, "in_force", policy_gen_json(a, false));
	gen_free(&cand);
	return 200;
}

/* A refusal: the state in force stays; the audit record and the event say which phase. */
static unsigned refuse(const char *phase, unsigned status, const char *msg, json_t *errors,
		       const struct policy_gen *cand, const struct actor *who, json_t **out)
{
	json_t *details = json_pack("{s:s, s:s?, s:s?}", "phase", phase, "hash", cand->hash[0] ?
				    cand->hash : NULL, "source", cand->source);

	if (errors)
		json_object_set(details, "errors", errors);
	phase_event("policy_apply", "policy.apply", who, -EINVAL, msg, details);
	*out = json_pack("{s:b, s:s, s:s}", "applied", 0, "phase", phase, "error", msg);
	if (errors)
		json_object_set_new(*out, "errors", errors);
	json_object_set_new(*out, "in_force", policy_gen_json(policy_gen_active(), false));
	PS.applies_failed++;
	return status;
}

unsigned policy_gen_apply(const char *text, size_t len, const char *source, bool dry_run,
			  const struct actor *who, json_t **out)
{
	const struct aegis_config *cfg = &agent.cfg;
	const struct policy_gen *old = policy_gen_active();
	uint64_t t0 = now_monotonic_ns(), t_compile, t_write, t_verify, t_switch;
	struct policy_verify_report r;
	struct policy_gen cand;
	struct diags d = {};
	json_t *diff, *verify;
	unsigned slot, status;
	char err[512];
	int e;

	e = gen_prepare(&cand, text, len, source, cfg->policy_ifaces, cfg->n_policy_ifaces, cfg, &d);
	t_compile = ms_since(t0);
	if (e) {
		status = refuse("check", e == -ENOMEM ? 500 : 422, e == -E2BIG ?
				"the policy does not fit the maps (policy.capacity)" :
				"the policy file has problems; the policy in force stays", errors_json(&d),
				&cand, who, out);
		gen_free(&cand);
		return status;
	}
	diags_free(&d);
	diff = policy_diff(old ? &old->doc : NULL, &cand.doc);
	e = ensure_loaded(cfg);
	if (e) {
		json_decref(diff);
		snprintf(err, sizeof(err), "the policy datapath cannot be loaded: %s (see the agent's log)",
			 errstr(e));
		status = refuse("load", 500, err, NULL, &cand, who, out);
		gen_free(&cand);
		return status;
	}
	slot = PS.active < 0 ? 0 : (unsigned)PS.active ^ 1;
	cand.generation = PS.max_generation + 1;
	t0 = now_monotonic_ns();
	e = policy_kern_write(&PS.k, slot, &cand.img, &cand.sel, &d);
	t_write = ms_since(t0);
	if (e) {
		json_decref(diff);
		rewrite_slot(slot);
		status = refuse("write", e == -E2BIG ? 422 : 500, e == -E2BIG ?
				"the compiled policy does not fit the maps (policy.capacity)" :
				"writing the maps failed", errors_json(&d), &cand, who, out);
		gen_free(&cand);
		return status;
	}
	diags_free(&d);
	t0 = now_monotonic_ns();
	e = policy_kern_verify(&PS.k, slot, &cand.img, &cand.doc, &cand.sel, &r);
	t_verify = ms_since(t0);
	verify = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I}", "generation",
			   (json_int_t)cand.generation, "cells", (json_int_t)r.cells, "rulesets",
			   (json_int_t)r.rulesets, "prefixes", (json_int_t)r.prefixes, "selections",
			   (json_int_t)r.selections, "samples", (json_int_t)r.samples, "hash", cand.hash,
			   "slot", (json_int_t)slot);
	phase_event("policy_verify", "policy.verify", who, e, e ? r.error : NULL, json_incref(verify));
	if (e) {
		json_decref(diff);
		rewrite_slot(slot);
		snprintf(err, sizeof(err), "reading the new generation back found a difference: %s", r.error);
		status = refuse("verify", 500, err, NULL, &cand, who, out);
		json_decref(verify);
		gen_free(&cand);
		return status;
	}
	if (dry_run) {
		rewrite_slot(slot);
		*out = json_pack("{s:b, s:b, s:I, s:s, s:o, s:o, s:o}", "applied", 0, "dry_run", 1,
				 "generation_would_be", (json_int_t)cand.generation, "hash", cand.hash,
				 "diff", diff, "verify", verify, "in_force", policy_gen_json(old, false));
		audit_log(who, "policy.apply", cand.source, 0, NULL,
			  json_pack("{s:b, s:s}", "dry_run", 1, "hash", cand.hash));
		gen_free(&cand);
		return 200;
	}
	cand.present = true;
	cand.applied_ns = now_realtime_ns();
	cand.actor = actor_to_json(who);
	t0 = now_monotonic_ns();
	e = switch_to(slot, &cand, cfg, err, sizeof(err));
	t_switch = ms_since(t0);
	if (e) {
		json_decref(diff);
		json_decref(verify);
		rewrite_slot(slot);
		status = refuse("attach", 500, err, NULL, &cand, who, out);
		gen_free(&cand);
		return status;
	}
	gen_free(&PS.gen[slot]);
	PS.gen[slot] = cand;
	PS.max_generation = cand.generation;
	PS.applies_ok++;
	state_save();
	history_append("apply", &PS.gen[slot], who, NULL);
	*out = json_pack("{s:b, s:I, s:s, s:I, s:o, s:o, s:{s:I, s:I, s:I, s:I}}", "applied", 1,
			 "generation", (json_int_t)cand.generation, "hash", cand.hash, "previous",
			 (json_int_t)(old ? old->generation : 0), "diff", diff, "verify", verify,
			 "timing_ms", "compile", (json_int_t)t_compile, "write", (json_int_t)t_write,
			 "verify", (json_int_t)t_verify, "switch", (json_int_t)t_switch);
	phase_event("policy_apply", "policy.apply", who, 0, NULL,
		    json_pack("{s:I, s:I, s:s, s:s, s:O}", "generation", (json_int_t)cand.generation,
			      "previous", (json_int_t)(old ? old->generation : 0), "hash", cand.hash,
			      "source", cand.source, "timing_ms", json_object_get(*out, "timing_ms")));
	pr_info("policy: generation %u in force (%s, sha256 %.12s, %zu policies)", cand.generation,
		cand.source, cand.hash, cand.doc.n);
	return 200;
}

unsigned policy_gen_rollback(const struct actor *who, json_t **out)
{
	const struct aegis_config *cfg = &agent.cfg;
	const struct policy_gen *from = policy_gen_active();
	unsigned other = PS.active < 0 ? 0 : (unsigned)PS.active ^ 1;
	struct policy_gen *to = &PS.gen[other];
	char err[512];
	int e;

	if (!from || !to->present || to->broken) {
		snprintf(err, sizeof(err), "%s", !from ? "no policy is in force" :
			 "there is no previous generation to roll back to");
		phase_event("policy_rollback", "policy.rollback", who, -ENOENT, err, json_object());
		*out = json_pack("{s:b, s:s}", "rolled_back", 0, "error", err);
		return 409;
	}
	/* Counters count from the moment a generation is put in force. */
	e = policy_kern_zero_counters(&PS.k, other, to->img.n_rules);
	if (!e)
		e = switch_to(other, to, cfg, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "zeroing the counters: %s", errstr(e));
	if (e) {
		phase_event("policy_rollback", "policy.rollback", who, e, err,
			    json_pack("{s:I, s:I}", "from", (json_int_t)from->generation, "to",
				      (json_int_t)to->generation));
		*out = json_pack("{s:b, s:s}", "rolled_back", 0, "error", err);
		return 500;
	}
	PS.rollbacks++;
	state_save();
	history_append("rollback", to, who, NULL);
	phase_event("policy_rollback", "policy.rollback", who, 0, NULL,
		    json_pack("{s:I, s:I, s:s}", "from", (json_int_t)PS.gen[other ^ 1].generation, "to",
			      (json_int_t)to->generation, "hash", to->hash));
	*out = json_pack("{s:b, s:I, s:I, s:s}", "rolled_back", 1, "generation",
			 (json_int_t)to->generation, "from", (json_int_t)PS.gen[other ^ 1].generation,
			 "hash", to->hash);
	pr_info("policy: rolled back to generation %u", to->generation);
	return 200;
}

unsigned policy_gen_mode(const char *name, int mode, const struct actor *who, json_t **out)
{
	struct policy_gen *g = PS.active >= 0 ? &PS.gen[PS.active] : NULL;
	size_t i;
	int e, was;

	for (i = 0; g && g->present && !g->broken && i < g->doc.n; i++)
		if (streq(g->doc.policies[i].name, name))
			break;
	if (!g || !g->present || g->broken || i == g->doc.n) {
		*out = json_pack("{s:o}", "error", json_sprintf("policy '%s' is not in force", name));
		return 404;
	}
	was = (int)g->img.modes[i];
	e = policy_kern_set_mode(&PS.k, (unsigned)PS.active, (uint32_t)i, mode);
	phase_event("policy_mode", "policy.mode", who, e, NULL,
		    json_pack("{s:s, s:s, s:s, s:I}", "policy", name, "from", policy_mode_name(was), "to",
			      policy_mode_name(mode), "generation", (json_int_t)g->generation));
	if (e) {
		*out = json_pack("{s:o}", "error", json_sprintf("writing pol_modes: %s", errstr(e)));
		return 500;
	}
	g->img.modes[i] = (uint32_t)mode;
	g->mode_runtime[i] = true;
	state_save();
	*out = json_pack("{s:s, s:s, s:s, s:I}", "policy", name, "from", policy_mode_name(was), "mode",
			 policy_mode_name(mode), "generation", (json_int_t)g->generation);
	return 200;
}

/* ---- start, restore, stop ----------------------------------------------------------------- */

static int load_slot(json_t *j, struct policy_gen *g, const struct aegis_config *cfg)
{
	const char *text = json_string_value(json_object_get(j, "text"));
	json_t *ifs = json_object_get(j, "interfaces"), *m, *modes;
	char **names = calloc(json_array_size(ifs) + 1, sizeof(*names));
	struct diags d = {};
	const char *k;
	size_t i;
	int err;

	if (!text || !names) {
		free(names);
		return -EINVAL;
	}
	json_array_foreach(ifs, i, m)
		names[i] = (char *)json_string_value(m);
	err = gen_prepare(g, text, strlen(text), json_string_value(json_object_get(j, "source")),
			  names, json_array_size(ifs), cfg, &d);
	free(names);
	g->present = true;
	g->generation = (uint32_t)json_integer_value(json_object_get(j, "generation"));
	g->applied_ns = (uint64_t)json_integer_value(json_object_get(j, "applied_ns"));
	g->actor = json_incref(json_object_get(j, "actor"));
	if (err) {
		char *why = diags_join(&d);

		g->broken = true;
		snprintf(PS.restore_error, sizeof(PS.restore_error), "generation %u no longer applies "
			 "on this host: %s", g->generation, why ? why : errstr(err));
		pr_err("policy: %s", PS.restore_error);
		free(why);
		diags_free(&d);
		return err;
	}
	diags_free(&d);
	modes = json_object_get(j, "runtime_modes");
	json_object_foreach(modes, k, m)
		for (size_t p = 0; p < g->doc.n; p++)
			if (streq(g->doc.policies[p].name, k) &&
			    !policy_mode_parse(json_string_value(m), (int *)&g->img.modes[p]))
				g->mode_runtime[p] = true;
	return 0;
}

/* Is slot holding g already (the pins of an agent that ran before)? */
static bool slot_holds(unsigned slot, struct policy_gen *g)
{
	struct policy_verify_report r;
	struct diags d = {};
	bool ok = policy_kern_layout_existing(&PS.k, slot, &g->img, &d) == 0 &&
		  policy_kern_verify(&PS.k, slot, &g->img, &g->doc, &g->sel, &r) == 0;

	diags_free(&d);
	return ok;
}

static int write_and_verify(unsigned slot, struct policy_gen *g)
{
	struct policy_verify_report r;
	struct diags d = {};
	int err = policy_kern_write(&PS.k, slot, &g->img, &g->sel, &d);

	if (!err)
		err = policy_kern_verify(&PS.k, slot, &g->img, &g->doc, &g->sel, &r);
	diags_free(&d);
	return err;
}

static void swap_slots(void)
{
	struct policy_gen t = PS.gen[0];

	PS.gen[0] = PS.gen[1];
	PS.gen[1] = t;
	if (PS.active >= 0)
		PS.active ^= 1;
}

/*
 * Brings the datapath to the state file: the slot in force adopted when the pins hold it, else
 * written into the slot the kernel is not reading and switched to (then the previous one into
 * the other slot).
 */
static int restore(const struct aegis_config *cfg)
{
	struct policy_gen *a = &PS.gen[PS.active];
	unsigned slot = (unsigned)PS.active, other = slot ^ 1;
	uint32_t ctl = policy_kern_ctl(&PS.k);
	char err[512];
	int e;

	if (ctl == (a->generation << 1 | slot) && slot_holds(slot, a)) {
		audit_log(&actor_agent, "policy.adopt", NULL, 0, NULL,
			  json_pack("{s:I, s:s}", "generation", (json_int_t)a->generation, "hash", a->hash));
		pr_info("policy: generation %u adopted from the pins", a->generation);
	} else {
		/* A reboot or --cleanup emptied the maps, or they hold something else. */
		unsigned target = ctl ? (ctl & 1) ^ 1 : slot;

		if (target != slot) {
			swap_slots();
			a = &PS.gen[PS.active];
			slot = target;
			other = slot ^ 1;
		}
		e = write_and_verify(slot, a);
		if (!e)
			e = switch_to(slot, a, cfg, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "%s", errstr(e));
		phase_event("policy_restore", "policy.restore", &actor_agent, e, e ? err : NULL,
			    json_pack("{s:I, s:s}", "generation", (json_int_t)a->generation, "hash", a->hash));
		if (e) {
			snprintf(PS.restore_error, sizeof(PS.restore_error), "generation %u could not be "
				 "restored: %s", a->generation, err);
			return pr_err_errno(e, "policy: %s", PS.restore_error);
		}
		pr_info("policy: generation %u restored from %s/state.json", a->generation, PS.dir);
	}
	if (PS.gen[other].present && !PS.gen[other].broken && !slot_holds(other, &PS.gen[other]) &&
	    write_and_verify(other, &PS.gen[other])) {
		pr_warn("policy: the previous generation %u could not be restored: rollback to it is "
			"unavailable", PS.gen[other].generation);
		PS.gen[other].broken = true;
	}
	return 0;
}

int policy_gen_start(const struct aegis_config *cfg)
{
	char path[PATH_MAX], err[512];
	json_t *st, *slots;
	int e;

	snprintf(PS.dir, sizeof(PS.dir), "%s/policy", cfg->state_dir);
	snprintf(PS.att.state_dir, sizeof(PS.att.state_dir), "%s", cfg->state_dir);
	e = mkdir_p(PS.dir, 0750);
	if (e)
		return pr_err_errno(e, "policy: cannot create %s", PS.dir);
	snprintf(path, sizeof(path), "%s/state.json", PS.dir);
	st = json_load_file(path, 0, NULL);
	if (!st && access(path, F_OK) == 0)
		pr_err("policy: %s cannot be read as JSON: starting with no policy in force", path);
	slots = json_object_get(st, "slots");
	PS.active = st ? (int)json_integer_value(json_object_get(st, "active")) : -1;
	PS.max_generation = (uint32_t)json_integer_value(json_object_get(st, "max_generation"));
	for (int s = 0; s < POLICY_SLOTS; s++)
		if (json_is_object(json_array_get(slots, (size_t)s)))
			load_slot(json_array_get(slots, (size_t)s), &PS.gen[s], cfg);
	json_decref(st);
	if (PS.active < -1 || PS.active >= POLICY_SLOTS || (PS.active >= 0 && !PS.gen[PS.active].present))
		PS.active = -1;
	/* Nothing in force and nothing pinned: stay unloaded until the first apply. */
	snprintf(path, sizeof(path), "%s/policy", cfg->pin_root);
	if (PS.active < 0 && access(path, F_OK)) {
		pr_info("policy: no policy in force (`aegis policy apply FILE` puts one in force)");
		return 0;
	}
	e = ensure_loaded(cfg);
	if (e)
		return e;
	if (PS.active < 0) {
		if (policy_kern_ctl(&PS.k))
			pr_warn("policy: pinned generation %u has no record in %s: it keeps running; "
				"`aegis policy apply` replaces it, `aegis agent --cleanup` removes it",
				policy_kern_ctl(&PS.k) >> 1, PS.dir);
		return 0;
	}
	if (PS.gen[PS.active].broken)
		return 0;	/* the pins keep enforcing what they hold; logged by load_slot() */
	e = restore(cfg);
	if (e)
		return 0;	/* logged; the agent runs on, `aegis policy apply` can fix it */
	state_save();
	e = sync_for(policy_gen_active(), NULL, cfg, err, sizeof(err));
	if (e)
		pr_err("policy: %s", err);
	return 0;
}

int policy_gen_reconfigure(const struct aegis_config *old, const struct aegis_config *cfg)
{
	char err[512];
	int e;

	if (!PS.loaded)
		return 0;
	e = policy_kern_check_capacity(&PS.k, cfg);
	if (!e)
		e = policy_kern_settings(&PS.k, cfg);
	if (!e && PS.active >= 0 && !PS.gen[PS.active].broken) {
		/* policy.tc and policy.cgroup (--no-tc, --no-cg) say which attachments may exist. */
		e = sync_for(policy_gen_active(), NULL, cfg, err, sizeof(err));
		if (e)
			pr_err("policy: %s", err);
	}
	if (e)
		policy_kern_settings(&PS.k, old);
	return e;
}

void policy_gen_stop(const struct aegis_config *cfg, bool detach)
{
	ring_buffer__free(PS.rb);
	PS.rb = NULL;
	if (PS.loaded && detach)
		policy_attach_detach_all(&PS.att, &PS.k);
	else
		policy_attach_release(&PS.att);
	if (PS.loaded)
		policy_kern_close(&PS.k);
	PS.loaded = false;
	for (int s = 0; s < POLICY_SLOTS; s++)
		gen_free(&PS.gen[s]);
	PS.active = -1;
}
