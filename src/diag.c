// SPDX-License-Identifier: GPL-2.0-only
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

void diags_add(struct diags *d, const char *file, int line, int col, const char *key,
	       const char *fmt, ...)
{
	struct diag *x;
	va_list ap;

	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 8;
		struct diag *nv = realloc(d->v, ncap * sizeof(*nv));

		if (!nv)
			return;
		d->v = nv;
		d->cap = ncap;
	}
	x = &d->v[d->n++];
	x->file = strdup(file ? file : "<input>");
	x->line = line;
	x->col = col;
	x->key = key ? strdup(key) : NULL;
	va_start(ap, fmt);
	if (vasprintf(&x->msg, fmt, ap) < 0)
		x->msg = NULL;
	va_end(ap);
}

static void diag_format(const struct diag *x, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%d:%d: %s%s%s", x->file, x->line, x->col, x->key ? x->key : "",
		 x->key ? ": " : "", x->msg ? x->msg : "(no message)");
}

void diags_print(const struct diags *d, FILE *out)
{
	char line[2048];

	for (size_t i = 0; i < d->n; i++) {
		diag_format(&d->v[i], line, sizeof(line));
		fprintf(out, "%s\n", line);
	}
}

json_t *diags_to_json(const struct diags *d)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < d->n; i++) {
		const struct diag *x = &d->v[i];

		json_array_append_new(arr, json_pack("{s:s, s:i, s:i, s:s?, s:s}", "file", x->file,
						     "line", x->line, "column", x->col, "key",
						     x->key, "message", x->msg ? x->msg : ""));
	}
	return arr;
}

char *diags_join(const struct diags *d)
{
	size_t cap = 1, off = 0;
	char line[2048], *out;

	for (size_t i = 0; i < d->n; i++)
		cap += sizeof(line) + 2;
	out = calloc(1, cap);
	if (!out)
		return NULL;
	for (size_t i = 0; i < d->n; i++) {
		diag_format(&d->v[i], line, sizeof(line));
		off += (size_t)snprintf(out + off, cap - off, "%s%s", i ? "; " : "", line);
	}
	return out;
}

void diags_free(struct diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].key);
		free(d->v[i].msg);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}
