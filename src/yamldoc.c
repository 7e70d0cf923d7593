// SPDX-License-Identifier: GPL-2.0-only
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "util.h"
#include "yamldoc.h"

const char *ynode_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? "a plain scalar" : "a quoted string";
	}
}

bool ynode_is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(nulls); i++)
		if (streq(nulls[i], ynode_scalar(n)))
			return true;
	return false;
}

const char *ynode_str(struct diags *d, const char *file, const yaml_node_t *n, const char *key)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE) {
		diags_add(d, file, ynode_line(n), ynode_col(n), key, "expected a string, got %s",
			  ynode_kind(n));
		return NULL;
	}
	s = ynode_scalar(n);
	if (strlen(s) != n->data.scalar.length) {
		diags_add(d, file, ynode_line(n), ynode_col(n), key, "contains a NUL character");
		return NULL;
	}
	for (const char *c = s; *c; c++) {
		if (iscntrl((unsigned char)*c)) {
			diags_add(d, file, ynode_line(n), ynode_col(n), key,
				  "contains a control character (0x%02x)", (unsigned char)*c);
			return NULL;
		}
	}
	return s;
}

/* Names are short, so the O(n*m) rows are cheap. */
size_t yedit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];

	if (lb >= ARRAY_SIZE(row) || la >= ARRAY_SIZE(row))
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			best = up + 1 < best ? up + 1 : best;
			best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

/* libyaml counts reader errors (bad UTF-8, control characters) in bytes, not lines. */
static void offset_to_pos(const char *text, size_t len, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static void syntax_error(struct diags *d, const char *file, const yaml_parser_t *yp,
			 const char *text, size_t len)
{
	int line = (int)yp->problem_mark.line + 1, col = (int)yp->problem_mark.column + 1;
	const char *problem = yp->problem ? yp->problem : "unknown error";

	if (yp->error == YAML_MEMORY_ERROR) {
		diags_add(d, file, 0, 0, NULL, "out of memory while parsing YAML");
		return;
	}
	if (yp->error == YAML_READER_ERROR) {
		offset_to_pos(text, len, yp->problem_offset, &line, &col);
		diags_add(d, file, line, col, NULL, "YAML syntax error: %s (byte 0x%02x)", problem,
			  (unsigned int)yp->problem_value & 0xff);
		return;
	}
	if (yp->context)
		diags_add(d, file, line, col, NULL, "YAML syntax error: %s (%s at line %zu, column %zu)",
			  problem, yp->context, yp->context_mark.line + 1, yp->context_mark.column + 1);
	else
		diags_add(d, file, line, col, NULL, "YAML syntax error: %s", problem);
}

bool ydoc_load(const char *text, size_t len, const char *file, struct diags *d,
	       yaml_document_t *doc, yaml_mark_t *second, bool *has_second)
{
	yaml_parser_t yp;
	yaml_document_t extra;
	const yaml_node_t *root;
	bool ok = false;

	*has_second = false;
	if (!yaml_parser_initialize(&yp)) {
		diags_add(d, file, 0, 0, NULL, "out of memory while parsing YAML");
		return false;
	}
	yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
	if (!yaml_parser_load(&yp, doc)) {
		syntax_error(d, file, &yp, text, len);
		goto out;
	}
	/* A second document would be silently ignored: the caller refuses it instead. */
	if (!yaml_parser_load(&yp, &extra)) {
		syntax_error(d, file, &yp, text, len);
		yaml_document_delete(doc);
		goto out;
	}
	root = yaml_document_get_root_node(&extra);
	if (root) {
		*second = root->start_mark;
		*has_second = true;
	}
	yaml_document_delete(&extra);
	ok = true;
out:
	yaml_parser_delete(&yp);
	return ok;
}
