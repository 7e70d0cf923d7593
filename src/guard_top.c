// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mapwalk.h"
#include "guard_events.h"
#include "guard_rl.h"
#include "guard_top.h"
#include "log.h"
#include "util.h"

static const char *const verdict_names[GUARD_TOP_VERDICTS] = {
	[GUARD_TOP_PASSED] = "passed",
	[GUARD_TOP_DROPPED] = "dropped",
	[GUARD_TOP_WOULD_DROP] = "would_drop",
};

static int by_key(const void *a, const void *b)
{
	return memcmp(&((const struct top_sample *)a)->key, &((const struct top_sample *)b)->key,
		      sizeof(struct guard_rl_key));
}

/* __u64 (the BPF side's unsigned long long) and uint64_t (unsigned long) are different types. */
static uint64_t sum(const __u64 *v)
{
	uint64_t n = 0;

	for (int i = 0; i < GUARD_TOP_VERDICTS; i++)
		n += v[i];
	return n;
}

/* Busiest first: by packet rate, then by total packets. */
static int by_rate(const void *pa, const void *pb)
{
	const struct top_rate *a = pa, *b = pb;
	uint64_t ra = sum(a->pps), rb = sum(b->pps);

	if (ra != rb)
		return ra < rb ? 1 : -1;
	return a->packets < b->packets ? 1 : a->packets > b->packets ? -1 : 0;
}

/* The map's entries as samples sorted by key; NULL (and *n = 0) when there are none. */
static struct top_sample *read_samples(const struct guard *g, size_t *n)
{
	int fd = bpfobj_map_fd(&g->obj, "guard_top");
	_cleanup_free_ struct guard_rl_key *keys = NULL;
	_cleanup_free_ struct guard_top_stats *sts = NULL;
	struct top_sample *s;
	ssize_t got;

	*n = 0;
	if (fd < 0)
		return NULL;
	got = map_read_all(fd, sizeof(*keys), sizeof(*sts), (void **)&keys, (void **)&sts);
	if (got <= 0) {
		if (got < 0)
			log_once(LOG_LVL_WARN, "top-read", "guard: cannot read guard_top: %s", strerror((int)-got));
		return NULL;
	}
	s = malloc((size_t)got * sizeof(*s));
	if (!s)
		return NULL;
	for (ssize_t i = 0; i < got; i++) {
		s[i].key = keys[i];
		s[i].st = sts[i];
	}
	qsort(s, (size_t)got, sizeof(*s), by_key);
	*n = (size_t)got;
	return s;
}

/* A counter's growth; a smaller value means the entry was evicted and made again since. */
static uint64_t grown(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : now;
}

void guard_top_tick(struct guard_top_view *v, const struct guard *g)
{
	uint64_t now = now_monotonic_ns(), window = v->prev_ns ? now - v->prev_ns : 0;
	struct top_rate *rates;
	struct top_sample *cur;
	size_t n, j = 0;

	if (!g->running)
		return;
	cur = read_samples(g, &n);
	rates = n ? calloc(n, sizeof(*rates)) : NULL;
	if (n && !rates) {
		free(cur);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct guard_top_stats *st = &cur[i].st, *old = NULL;
		struct top_rate *r = &rates[i];

		while (j < v->n_prev && by_key(&v->prev[j], &cur[i]) < 0)
			j++;
		if (j < v->n_prev && by_key(&v->prev[j], &cur[i]) == 0)
			old = &v->prev[j].st;
		r->key = cur[i].key;
		r->packets = sum(st->packets);
		r->bytes = sum(st->bytes);
		r->last_ns = st->last_ns;
		for (int k = 0; window && k < GUARD_TOP_VERDICTS; k++) {
			r->pps[k] = grown(st->packets[k], old ? old->packets[k] : 0) * NSEC_PER_SEC / window;
			r->bps[k] = grown(st->bytes[k], old ? old->bytes[k] : 0) * NSEC_PER_SEC / window;
		}
	}
	qsort(rates, n, sizeof(*rates), by_rate);
	free(v->prev);
	free(v->rates);
	v->prev = cur;
	v->n_prev = n;
	v->rates = rates;
	v->n_rates = n;
	v->prev_ns = now;
	v->window_ns = window;
}

/* Adds the source's rate-limit figures, summed over the classes that have a bucket for it. */
static void add_rate_limits(json_t *e, const struct guard_rl_key *src, const struct guard_rl_key *keys,
			    const struct guard_rl_state *sts, size_t n, uint64_t now)
{
	uint64_t over = 0;
	bool over_now = false;
	json_t *classes = json_array();

	for (size_t i = 0; i < n; i++) {
		if (keys[i].family != src->family || keys[i].prefixlen != src->prefixlen ||
		    memcmp(keys[i].addr, src->addr, sizeof(src->addr)))
			continue;
		over += sts[i].total_over_packets;
		over_now |= guard_rl_over_now(&sts[i], now);
		json_array_append_new(classes, json_string(guard_rl_class_name(keys[i].rl_class)));
	}
	json_object_set_new(e, "over_limit_packets", json_integer((json_int_t)over));
	json_object_set_new(e, "over_limit_now", json_boolean(over_now));
	json_object_set_new(e, "rate_limit_classes", classes);
}

static json_t *rate_json(const struct top_rate *r)
{
	char text[CIDR_STRLEN];
	struct cidr c;
	json_t *e;

	guard_rl_key_cidr(&r->key, &c);
	cidr_format(&c, text, sizeof(text));
	e = json_pack("{s:s, s:I, s:I, s:I, s:I}", "source", text, "pps", (json_int_t)sum(r->pps), "bps",
		      (json_int_t)sum(r->bps), "packets", (json_int_t)r->packets, "bytes", (json_int_t)r->bytes);
	for (int k = 0; k < GUARD_TOP_VERDICTS; k++) {
		char name[32];

		snprintf(name, sizeof(name), "%s_pps", verdict_names[k]);
		json_object_set_new(e, name, json_integer((json_int_t)r->pps[k]));
		snprintf(name, sizeof(name), "%s_bps", verdict_names[k]);
		json_object_set_new(e, name, json_integer((json_int_t)r->bps[k]));
	}
	return e;
}

json_t *guard_top_json(const struct guard_top_view *v, const struct guard *g,
		       const struct aegis_config *cfg, size_t n)
{
	_cleanup_free_ struct guard_rl_key *keys = NULL;
	_cleanup_free_ struct guard_rl_state *sts = NULL;
	uint64_t now = now_monotonic_ns();
	json_t *arr = json_array();
	size_t nrl;

	if (!g->running)
		return json_pack("{s:o, s:s}", "sources", arr, "note", "the guard is not running");
	nrl = guard_rl_read(g, &keys, &sts);
	for (size_t i = 0; i < v->n_rates && i < n; i++) {
		json_t *e = rate_json(&v->rates[i]);

		add_rate_limits(e, &v->rates[i].key, keys, sts, nrl, now);
		json_array_append_new(arr, e);
	}
	return json_pack("{s:o, s:I, s:f, s:I, s:s?}", "sources", arr, "tracked", (json_int_t)v->n_rates,
			 "window_seconds", (double)v->window_ns / NSEC_PER_SEC, "sample_every",
			 (json_int_t)cfg->top_every, "note",
			 cfg->top_every ? NULL : "per-source sampling is off (guard.top.sample_every: 0)");
}

void guard_top_free(struct guard_top_view *v)
{
	free(v->prev);
	free(v->rates);
	memset(v, 0, sizeof(*v));
}
