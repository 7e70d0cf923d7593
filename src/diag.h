/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef AEGIS_DIAG_H
#define AEGIS_DIAG_H

#include <jansson.h>
#include <stdio.h>

/* One problem found in an input file, located as file:line:column and the key it concerns. */
struct diag {
	char *file;
	int line;	/* 1-based; 0 when unknown */
	int col;	/* 1-based; 0 when unknown */
	char *key;	/* dotted path ("guard.allow[2]"), may be NULL */
	char *msg;
};

struct diags {
	struct diag *v;
	size_t n, cap;
};

void diags_add(struct diags *d, const char *file, int line, int col, const char *key,
	       const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* "file:line:col: key: message", one per line. */
void diags_print(const struct diags *d, FILE *out);
/* [{"file":..,"line":..,"column":..,"key":..,"message":..}] */
json_t *diags_to_json(const struct diags *d);
/* All messages joined with "; " into one line (for logs and API errors). */
char *diags_join(const struct diags *d);
void diags_free(struct diags *d);

#endif
