// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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
	free(ds->journal);
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

/* ---- the journal ------------------------------------------------------------------------ */

#define SNAPSHOT_HEADER "# aegis decisions v2: list cidr scope origin created_ns expires_ns reason\n"

static void journal_append(struct decisions *ds, const char *line, size_t len)
{
	if (ds->journal_len + len > ds->journal_cap) {
		size_t ncap = ds->journal_cap ? ds->journal_cap : 4096;
		char *nj;

		while (ncap < ds->journal_len + len)
			ncap *= 2;
		nj = realloc(ds->journal, ncap);
		if (!nj) {
			ds->journal_failed = true;
			return;
		}
		ds->journal = nj;
		ds->journal_cap = ncap;
	}
	memcpy(ds->journal + ds->journal_len, line, len);
	ds->journal_len += len;
	ds->journal_pending++;
}

/* "block\t198.51.100.0/24\tudp/53": an entry's key, as the snapshot writes it. */
static int key_text(enum decision_list list, const struct cidr *c, struct decision_scope sc, char *buf,
		    size_t len)
{
	char text[CIDR_STRLEN], scope[16];

	cidr_format(c, text, sizeof(text));
	scope_format(sc, scope, sizeof(scope));
	return snprintf(buf, len, "%s\t%s\t%s", list_name(list), text, scope[0] ? scope : "-");
}

static int entry_line(const struct decisions *ds, const struct decision *d, char *buf, size_t len)
{
	int n = key_text((enum decision_list)d->list, &d->cidr, d->scope, buf, len);

	return n + snprintf(buf + n, len - (size_t)n, "\t%s\t%llu\t%llu\t%s\n", origin_names[d->origin],
			    (unsigned long long)d->created_ns, (unsigned long long)d->expires_ns,
			    decisions_reason(ds, d->reason_id));
}

static void journal_del(struct decisions *ds, enum decision_list list, const struct cidr *c,
			struct decision_scope sc)
{
	char line[CIDR_STRLEN + 64];
	int n;

	if (ds->replaying)
		return;
	line[0] = '-';
	line[1] = '\t';
	n = 2 + key_text(list, c, sc, line + 2, sizeof(line) - 3);
	line[n++] = '\n';
	journal_append(ds, line, (size_t)n);
}

/* A configuration entry is not kept: it may only take the key from a kept one. */
static void journal_put(struct decisions *ds, const struct decision *d)
{
	char line[CIDR_STRLEN + 512];
	int n;

	if (ds->replaying)
		return;
	if (d->origin == GUARD_ORIGIN_CONFIG) {
		journal_del(ds, (enum decision_list)d->list, &d->cidr, d->scope);
		return;
	}
	line[0] = '+';
	line[1] = '\t';
	n = 2 + entry_line(ds, d, line + 2, sizeof(line) - 2);
	journal_append(ds, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

int decisions_put(struct decisions *ds, const struct decision *d, struct decision *old)
{
	size_t i;

	/* Keep the load under 1/2 so probes stay short at a million entries. */
	if ((ds->count + 1) * 2 > ds->cap && grow(ds))
		return -ENOMEM;
	i = find_slot(ds, (enum decision_list)d->list, &d->cidr, d->scope);
	journal_put(ds, d);
	if (ds->slots[i].used) {
		if (old)
			*old = ds->slots[i];
		ds->slots[i] = *d;
		ds->slots[i].used = 1;
		return 0;
	}
	ds->slots[i] = *d;
	ds->slots[i].used = 1;
	ds->count++;
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
	journal_del(ds, list, c, scope);
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

static int write_snapshot(struct decisions *ds, const char *path)
{
	const struct decision *d;
	size_t it = 0, len = 0;
	char *buf = NULL, line[CIDR_STRLEN + 512];
	FILE *f = open_memstream(&buf, &len);
	int err;

	if (!f)
		return -errno;
	fputs(SNAPSHOT_HEADER, f);
	while ((d = decisions_next(ds, &it)))
		if (d->origin != GUARD_ORIGIN_CONFIG && entry_line(ds, d, line, sizeof(line)) < (int)sizeof(line))
			fputs(line, f);
	if (fclose(f))
		return -errno;
	err = write_file_atomic(path, buf, len, 0600);
	free(buf);
	return err;
}

/* Appends the pending lines to the journal file and makes them durable. */
static int write_journal(struct decisions *ds, const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600), err = 0;
	const char *p = ds->journal;
	size_t left = ds->journal_len;

	if (fd < 0)
		return -errno;
	while (left && !err) {
		ssize_t w = write(fd, p, left);

		if (w < 0 && errno != EINTR)
			err = -errno;
		else if (w > 0)
			p += w, left -= (size_t)w;
	}
	if (!err && fdatasync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	return err;
}

static void journal_clear(struct decisions *ds)
{
	ds->journal_len = 0;
	ds->journal_pending = 0;
	ds->journal_failed = false;
}

int decisions_compact(struct decisions *ds, const char *snapshot, const char *journal)
{
	int err = write_snapshot(ds, snapshot), fd;

	if (err)
		return err;
	/* The snapshot holds everything: the journal's lines would only repeat it. */
	fd = open(journal, O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fdatasync(fd))
		err = -errno;
	close(fd);
	journal_clear(ds);
	ds->journal_written = 0;
	return err;
}

int decisions_commit(struct decisions *ds, const char *snapshot, const char *journal)
{
	int err;

	if (!ds->journal_pending && !ds->journal_failed)
		return 0;
	/* A journal longer than the store replays slower than a snapshot reads. */
	if (ds->journal_failed || ds->journal_written + ds->journal_pending > (ds->count > 4096 ? ds->count : 4096))
		return decisions_compact(ds, snapshot, journal);
	err = write_journal(ds, journal);
	if (err)
		return err;
	ds->journal_written += ds->journal_pending;
	journal_clear(ds);
	return 0;
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
	d.list = streq(fields[0], "allow") ? LIST_ALLOW : LIST_BLOCK;
	if (expires && expires <= now) {
		/* Gone while the agent was down; in the journal it also ends what it replaced. */
		decisions_del(ds, (enum decision_list)d.list, &d.cidr, d.scope, NULL);
		(*expired)++;
		return 0;
	}
	d.origin = (uint8_t)origin;
	d.created_ns = created;
	d.expires_ns = expires;
	d.reason_id = decisions_reason_id(ds, n > o + 3 ? fields[o + 3] : NULL);
	if (decisions_put(ds, &d, NULL) < 0)
		return -ENOMEM;
	(*loaded)++;
	return 0;
}

/* "-\tlist\tcidr\tscope": removes that entry (absent is fine: the snapshot may be newer). */
static int parse_removal(struct decisions *ds, char *line)
{
	char *fields[3], *save = NULL, why[128];
	struct decision_scope sc;
	struct cidr c;
	int n = 0;

	for (char *t = strtok_r(line, "\t", &save); t && n < 3; t = strtok_r(NULL, "\t", &save))
		fields[n++] = t;
	if (n < 3 || (!streq(fields[0], "block") && !streq(fields[0], "allow")) ||
	    cidr_parse(fields[1], &c, NULL, why, sizeof(why)) || parse_scope_field(fields[2], &sc))
		return -EINVAL;
	decisions_del(ds, streq(fields[0], "allow") ? LIST_ALLOW : LIST_BLOCK, &c, sc, NULL);
	return 0;
}

/* One file's lines; journal lines start with "+\t" or "-\t". *bad counts unreadable ones. */
static int load_file(struct decisions *ds, const char *path, bool journal, uint64_t now,
		     size_t *loaded, size_t *expired, int *bad)
{
	_cleanup_free_ char *buf = NULL;
	char *save = NULL;
	int err = read_file(path, &buf, NULL);

	if (err)
		return err;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		if (!journal)
			err = parse_line(ds, line, now, loaded, expired);
		else if (line[0] == '+' && line[1] == '\t')
			err = parse_line(ds, line + 2, now, loaded, expired);
		else if (line[0] == '-' && line[1] == '\t')
			err = parse_removal(ds, line + 2);
		else
			err = -EINVAL;
		if (err == -ENOMEM)
			return err;
		*bad += err != 0;
	}
	return 0;
}

int decisions_load(struct decisions *ds, const char *snapshot, const char *journal, size_t *loaded,
		   size_t *expired)
{
	uint64_t now = now_realtime_ns();
	int bad = 0, e1, e2;

	*loaded = *expired = 0;
	ds->replaying = true;
	e1 = load_file(ds, snapshot, false, now, loaded, expired, &bad);
	e2 = e1 == -ENOMEM ? e1 : load_file(ds, journal, true, now, loaded, expired, &bad);
	ds->replaying = false;
	if (e1 == -ENOMEM || e2 == -ENOMEM)
		return -ENOMEM;
	if (e1 && e1 != -ENOENT)
		return e1;
	if (e2 && e2 != -ENOENT)
		return e2;
	if (e1 == -ENOENT && e2 == -ENOENT)
		return -ENOENT;
	*loaded = ds->count;
	return bad ? -EBADMSG : 0;
}
