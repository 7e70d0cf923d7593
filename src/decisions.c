// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "decisions.h"
#include "util.h"

#define ORIGIN_NAME(id, name) name,
const char *const origin_names[GUARD_ORIGIN_COUNT] = { GUARD_ORIGINS(ORIGIN_NAME) };
#undef ORIGIN_NAME

int origin_parse(const char *s, enum guard_origin *o)
{
	for (int i = 0; i < GUARD_ORIGIN_COUNT; i++) {
		if (streq(s, origin_names[i])) {
			*o = (enum guard_origin)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *list_name(enum decision_list l)
{
	return l == LIST_ALLOW ? "allow" : "block";
}

static uint64_t fnv1a(const void *buf, size_t len, uint64_t h)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t key_hash(enum decision_list list, const struct cidr *c, struct decision_scope sc)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint8_t head[6] = { (uint8_t)list, (uint8_t)c->family, c->prefixlen, sc.proto,
			    (uint8_t)(sc.port >> 8), (uint8_t)sc.port };

	h = fnv1a(head, sizeof(head), h);
	return fnv1a(c->addr, c->family == AF_INET ? 4 : 16, h);
}

static bool key_eq(const struct decision *d, enum decision_list list, const struct cidr *c,
		   struct decision_scope sc)
{
	return d->list == list && d->cidr.family == c->family && d->cidr.prefixlen == c->prefixlen &&
	       d->scope.proto == sc.proto && d->scope.port == sc.port &&
	       memcmp(d->cidr.addr, c->addr, c->family == AF_INET ? 4 : 16) == 0;
}

void scope_format(struct decision_scope s, char *buf, size_t len)
{
	if (!s.proto && len)
		buf[0] = '\0';
	else if (s.proto)
		snprintf(buf, len, "%s/%u", s.proto == IPPROTO_TCP ? "tcp" : s.proto == IPPROTO_UDP ? "udp" : "?",
			 s.port);
}

int scope_parse(const char *proto, const char *port, struct decision_scope *s, char *why, size_t len)
{
	uint64_t p;

	*s = UNSCOPED;
	if (!proto && !port)
		return 0;
	if (!proto || !port) {
		snprintf(why, len, "a scoped entry needs both a protocol (tcp or udp) and a port");
		return -EINVAL;
	}
	if (!streq(proto, "tcp") && !streq(proto, "udp")) {
		snprintf(why, len, "protocol '%s': expected tcp or udp (ports exist only there)", proto);
		return -EINVAL;
	}
	if (parse_u64(port, &p) || p < 1 || p > 65535) {
		snprintf(why, len, "port '%s': expected 1..65535", port);
		return -EINVAL;
	}
	s->proto = streq(proto, "tcp") ? IPPROTO_TCP : IPPROTO_UDP;
	s->port = (uint16_t)p;
	return 0;
}

void decisions_init(struct decisions *ds)
{
	memset(ds, 0, sizeof(*ds));
}

void decisions_free(struct decisions *ds)
{
	for (size_t i = 0; i < ds->n_reasons; i++)
		free(ds->reasons[i]);
	free(ds->reasons);
	free(ds->reason_index);
	free(ds->slots);
	memset(ds, 0, sizeof(*ds));
}

/* Linear probing: the slot holding the key, or the empty slot where it would go. */
static size_t find_slot(const struct decisions *ds, enum decision_list list, const struct cidr *c,
			struct decision_scope sc)
{
	size_t mask = ds->cap - 1, i = (size_t)key_hash(list, c, sc) & mask;

	while (ds->slots[i].used && !key_eq(&ds->slots[i], list, c, sc))
		i = (i + 1) & mask;
	return i;
}

static int grow(struct decisions *ds)
{
	size_t ncap = ds->cap ? ds->cap * 2 : 1024;
	struct decision *old = ds->slots, *nslots = calloc(ncap, sizeof(*nslots));
	size_t ocap = ds->cap;

	if (!nslots)
		return -ENOMEM;
	ds->slots = nslots;
	ds->cap = ncap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].used)
			ds->slots[find_slot(ds, (enum decision_list)old[i].list, &old[i].cidr, old[i].scope)] = old[i];
	free(old);
	return 0;
}

int decisions_put(struct decisions *ds, const struct decision *d, struct decision *old)
{
	size_t i;

	/* Keep the load under 1/2 so probes stay short at a million entries. */
	if ((ds->count + 1) * 2 > ds->cap && grow(ds))
		return -ENOMEM;
	i = find_slot(ds, (enum decision_list)d->list, &d->cidr, d->scope);
	if (ds->slots[i].used) {
		if (old)
			*old = ds->slots[i];
		ds->slots[i] = *d;
		ds->slots[i].used = 1;
		ds->dirty = true;
		return 0;
	}
	ds->slots[i] = *d;
	ds->slots[i].used = 1;
	ds->count++;
	ds->dirty = true;
	return 1;
}

const struct decision *decisions_get(const struct decisions *ds, enum decision_list list,
				     const struct cidr *c, struct decision_scope scope)
{
	size_t i;

	if (!ds->cap)
		return NULL;
	i = find_slot(ds, list, c, scope);
	return ds->slots[i].used ? &ds->slots[i] : NULL;
}

int decisions_del(struct decisions *ds, enum decision_list list, const struct cidr *c,
		  struct decision_scope scope, struct decision *old)
{
	size_t mask, i, j;

	if (!ds->cap)
		return -ENOENT;
	mask = ds->cap - 1;
	i = find_slot(ds, list, c, scope);
	if (!ds->slots[i].used)
		return -ENOENT;
	if (old)
		*old = ds->slots[i];
	/* Backward-shift deletion keeps probe chains intact without tombstones. */
	for (j = (i + 1) & mask; ds->slots[j].used; j = (j + 1) & mask) {
		size_t home = (size_t)key_hash((enum decision_list)ds->slots[j].list, &ds->slots[j].cidr,
					       ds->slots[j].scope) & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			ds->slots[i] = ds->slots[j];
			i = j;
		}
	}
	memset(&ds->slots[i], 0, sizeof(ds->slots[i]));
	ds->count--;
	ds->dirty = true;
	return 0;
}

const struct decision *decisions_next(const struct decisions *ds, size_t *iter)
{
	while (*iter < ds->cap) {
		const struct decision *d = &ds->slots[(*iter)++];

		if (d->used)
			return d;
	}
	return NULL;
}

static int reason_index_grow(struct decisions *ds)
{
	size_t ncap = ds->cap_reason_index ? ds->cap_reason_index * 2 : 256;
	uint32_t *idx = calloc(ncap, sizeof(*idx));

	if (!idx)
		return -ENOMEM;
	free(ds->reason_index);
	ds->reason_index = idx;
	ds->cap_reason_index = ncap;
	for (size_t id = 1; id < ds->n_reasons; id++) {
		size_t k = (size_t)fnv1a(ds->reasons[id], strlen(ds->reasons[id]), 0xcbf29ce484222325ULL) & (ncap - 1);

		while (idx[k])
			k = (k + 1) & (ncap - 1);
		idx[k] = (uint32_t)id;
	}
	return 0;
}

uint32_t decisions_reason_id(struct decisions *ds, const char *reason)
{
	size_t k, mask;

	if (!reason || !*reason)
		return 0;
	if (!ds->n_reasons) {
		ds->reasons = calloc(16, sizeof(*ds->reasons));
		if (!ds->reasons || !(ds->reasons[0] = strdup("")))
			return 0;
		ds->cap_reasons = 16;
		ds->n_reasons = 1;
	}
	if ((ds->n_reasons + 1) * 2 > ds->cap_reason_index && reason_index_grow(ds))
		return 0;
	mask = ds->cap_reason_index - 1;
	k = (size_t)fnv1a(reason, strlen(reason), 0xcbf29ce484222325ULL) & mask;
	for (; ds->reason_index[k]; k = (k + 1) & mask)
		if (streq(ds->reasons[ds->reason_index[k]], reason))
			return ds->reason_index[k];
	if (ds->n_reasons == ds->cap_reasons) {
		char **nr = realloc(ds->reasons, ds->cap_reasons * 2 * sizeof(*nr));

		if (!nr)
			return 0;
		ds->reasons = nr;
		ds->cap_reasons *= 2;
	}
	ds->reasons[ds->n_reasons] = strdup(reason);
	if (!ds->reasons[ds->n_reasons])
		return 0;
	ds->reason_index[k] = (uint32_t)ds->n_reasons;
	return (uint32_t)ds->n_reasons++;
}

const char *decisions_reason(const struct decisions *ds, uint32_t id)
{
	return id && id < ds->n_reasons ? ds->reasons[id] : "";
}

int decisions_save(struct decisions *ds, const char *path)
{
	const struct decision *d;
	size_t it = 0, len = 0;
	char *buf = NULL;
	FILE *f = open_memstream(&buf, &len);
	int err;

	if (!f)
		return -errno;
	fprintf(f, "# aegis decisions v2: list cidr scope origin created_ns expires_ns reason\n");
	while ((d = decisions_next(ds, &it))) {
		char text[CIDR_STRLEN], scope[16];

		/* Configuration entries come back from the configuration itself. */
		if (d->origin == GUARD_ORIGIN_CONFIG)
			continue;
		cidr_format(&d->cidr, text, sizeof(text));
		scope_format(d->scope, scope, sizeof(scope));
		fprintf(f, "%s\t%s\t%s\t%s\t%llu\t%llu\t%s\n", list_name((enum decision_list)d->list), text,
			scope[0] ? scope : "-", origin_names[d->origin], (unsigned long long)d->created_ns,
			(unsigned long long)d->expires_ns, decisions_reason(ds, d->reason_id));
	}
	if (fclose(f))
		return -errno;
	err = write_file_atomic(path, buf, len, 0600);
	free(buf);
	if (!err)
		ds->dirty = false;
	return err;
}

/* "-" or "udp/53", as scope_format() writes it. */
static int parse_scope_field(const char *f, struct decision_scope *sc)
{
	char proto[8], why[96];
	const char *slash = strchr(f, '/');

	*sc = UNSCOPED;
	if (streq(f, "-"))
		return 0;
	if (!slash || (size_t)(slash - f) >= sizeof(proto))
		return -EINVAL;
	memcpy(proto, f, (size_t)(slash - f));
	proto[slash - f] = '\0';
	return scope_parse(proto, slash + 1, sc, why, sizeof(why));
}

/*
 * v2: list cidr scope origin created expires [reason]; v1 (no scope column) is still read: its
 * third field is an origin name, never a scope.
 */
static int parse_line(struct decisions *ds, char *line, uint64_t now, size_t *loaded, size_t *expired)
{
	char *fields[7], *save = NULL;
	struct decision d = {};
	enum guard_origin origin;
	uint64_t created, expires;
	char why[128];
	int n = 0, o;

	for (char *t = strtok_r(line, "\t", &save); t && n < 7; t = strtok_r(NULL, n == 6 ? "" : "\t", &save))
		fields[n++] = t;
	if (n < 5)
		return -EINVAL;
	o = origin_parse(fields[2], &origin) == 0 ? 2 : 3;	/* where the origin column is */
	if (n < o + 3 || (!streq(fields[0], "block") && !streq(fields[0], "allow")) ||
	    cidr_parse(fields[1], &d.cidr, NULL, why, sizeof(why)) ||
	    (o == 3 && parse_scope_field(fields[2], &d.scope)) || origin_parse(fields[o], &origin) ||
	    parse_u64(fields[o + 1], &created) || parse_u64(fields[o + 2], &expires))
		return -EINVAL;
	if (d.scope.proto && streq(fields[0], "allow"))
		return -EINVAL;
	if (expires && expires <= now) {
		(*expired)++;
		return 0;
	}
	d.list = streq(fields[0], "allow") ? LIST_ALLOW : LIST_BLOCK;
	d.origin = (uint8_t)origin;
	d.created_ns = created;
	d.expires_ns = expires;
	d.reason_id = decisions_reason_id(ds, n > o + 3 ? fields[o + 3] : NULL);
	if (decisions_put(ds, &d, NULL) < 0)
		return -ENOMEM;
	(*loaded)++;
	return 0;
}

int decisions_load(struct decisions *ds, const char *path, size_t *loaded, size_t *expired)
{
	_cleanup_free_ char *buf = NULL;
	uint64_t now = now_realtime_ns();
	char *save = NULL;
	int err = read_file(path, &buf, NULL), bad = 0;

	*loaded = *expired = 0;
	if (err)
		return err;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		err = parse_line(ds, line, now, loaded, expired);
		if (err == -ENOMEM)
			return err;
		bad += err != 0;
	}
	return bad ? -EBADMSG : 0;
}
