// SPDX-License-Identifier: GPL-2.0-only
/*
 * `aegis policy diff`: what a policy file changes against the one in force, policy by policy and
 * rule by rule. Rules are matched by what they say (direction, action, protocol, ports, peers,
 * name), not by position: moving a rule is no change to any verdict (deny rules win over allow
 * rules whatever their place), only to which of two overlapping rules counts a packet, and is
 * reported as such.
 */
#include <stdio.h>

#include "policy_diff.h"
#include "util.h"

static const struct policy_def *find(const struct policy_doc *d, const char *name)
{
	for (size_t i = 0; d && i < d->n; i++)
		if (streq(d->policies[i].name, name))
			return &d->policies[i];
	return NULL;
}

static json_t *rule_change(const char *sign, const struct policy_rule *r, size_t index)
{
	char text[1024];

	policy_rule_text(r, text, sizeof(text));
	return json_pack("{s:s, s:i, s:s, s:i}", "change", sign, "index", (int)index, "text", text,
			 "line", r->at.line);
}

/* Rules of b that no rule of a says the same as (each rule of a used once). */
static void unmatched(const struct policy_def *a, const struct policy_def *b, const char *sign,
		      json_t *out)
{
	bool *used = calloc(a->n_rules + 1, sizeof(bool));
	char ta[1024], tb[1024];

	for (size_t i = 0; used && i < b->n_rules; i++) {
		bool found = false;

		policy_rule_text(&b->rules[i], tb, sizeof(tb));
		for (size_t j = 0; j < a->n_rules && !found; j++) {
			if (used[j])
				continue;
			policy_rule_text(&a->rules[j], ta, sizeof(ta));
			if (streq(ta, tb))
				found = used[j] = true;
		}
		if (!found)
			json_array_append_new(out, rule_change(sign, &b->rules[i], i));
	}
	free(used);
}

static bool same_order(const struct policy_def *a, const struct policy_def *b)
{
	char ta[1024], tb[1024];

	for (size_t i = 0; i < a->n_rules && i < b->n_rules; i++) {
		policy_rule_text(&a->rules[i], ta, sizeof(ta));
		policy_rule_text(&b->rules[i], tb, sizeof(tb));
		if (!streq(ta, tb))
			return false;
	}
	return true;
}

static json_t *selector_json(const struct policy_def *p)
{
	json_t *j = policy_def_json(p), *s = json_incref(json_object_get(j, "selector"));

	json_decref(j);
	return s;
}

static json_t *default_json(const struct policy_def *p)
{
	return json_pack("{s:s, s:s}", "ingress", p->deny_default[0] ? "deny" : "allow", "egress",
			 p->deny_default[1] ? "deny" : "allow");
}

static void add_if_changed(json_t *c, const char *key, json_t *from, json_t *to)
{
	if (json_equal(from, to)) {
		json_decref(from);
		json_decref(to);
		return;
	}
	json_object_set_new(c, key, json_pack("{s:o, s:o}", "from", from, "to", to));
}

/* The changes of one policy that is in both files, or NULL when there are none. */
static json_t *modified(const struct policy_def *a, const struct policy_def *b)
{
	json_t *c = json_pack("{s:s, s:s}", "name", b->name, "change", "modified"), *rules = json_array();

	if (a->mode != b->mode)
		json_object_set_new(c, "mode", json_pack("{s:s, s:s}", "from", policy_mode_name(a->mode),
							 "to", policy_mode_name(b->mode)));
	add_if_changed(c, "selector", selector_json(a), selector_json(b));
	add_if_changed(c, "default", default_json(a), default_json(b));
	unmatched(a, b, "+", rules);
	unmatched(b, a, "-", rules);
	if (json_array_size(rules))
		json_object_set(c, "rules", rules);
	else if (a->n_rules == b->n_rules && !same_order(a, b))
		json_object_set_new(c, "reordered", json_string("the same rules in another order: no "
								"verdict changes, overlapping rules may count "
								"packets differently"));
	json_decref(rules);
	if (json_object_size(c) == 2) {
		json_decref(c);
		return NULL;
	}
	return c;
}

static json_t *whole(const struct policy_def *p, const char *change, const char *sign)
{
	json_t *c = policy_def_json(p), *rules = json_array();

	json_object_set_new(c, "change", json_string(change));
	for (size_t i = 0; i < p->n_rules; i++)
		json_array_append_new(rules, rule_change(sign, &p->rules[i], i));
	json_object_set_new(c, "rules", rules);
	return c;
}

json_t *policy_diff(const struct policy_doc *old, const struct policy_doc *new)
{
	json_t *changes = json_array();
	size_t added = 0, removed = 0, mod = 0, radd = 0, rdel = 0;

	for (size_t i = 0; i < new->n; i++) {
		const struct policy_def *b = &new->policies[i], *a = find(old, b->name);
		json_t *c = a ? modified(a, b) : whole(b, "added", "+");

		if (!c)
			continue;
		if (a)
			mod++;
		else
			added++;
		json_array_append_new(changes, c);
	}
	for (size_t i = 0; old && i < old->n; i++)
		if (!find(new, old->policies[i].name)) {
			json_array_append_new(changes, whole(&old->policies[i], "removed", "-"));
			removed++;
		}
	{
		json_t *c;
		size_t i;

		json_array_foreach(changes, i, c) {
			json_t *r;
			size_t j;

			json_array_foreach(json_object_get(c, "rules"), j, r) {
				if (streq(json_string_value(json_object_get(r, "change")), "+"))
					radd++;
				else
					rdel++;
			}
		}
	}
	return json_pack("{s:o, s:{s:I, s:I, s:I, s:I, s:I}, s:b}", "policies", changes, "summary",
			 "policies_added", (json_int_t)added, "policies_removed", (json_int_t)removed,
			 "policies_modified", (json_int_t)mod, "rules_added", (json_int_t)radd,
			 "rules_removed", (json_int_t)rdel, "changed", added + removed + mod > 0);
}
