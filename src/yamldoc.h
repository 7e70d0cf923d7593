/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libyaml helpers shared by the two YAML inputs aegis reads, the agent configuration (config.c)
 * and the policy file (policy_file.c), so that both report problems the same way: as
 * file:line:column: key: message, lines and columns counted from 1.
 */
#ifndef AEGIS_YAMLDOC_H
#define AEGIS_YAMLDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "diag.h"

/* "a mapping", "a list", "a plain scalar" or "a quoted string", for messages. */
const char *ynode_kind(const yaml_node_t *n);

static inline const char *ynode_scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* YAML's null: an empty value, `~` or `null`, unquoted. */
bool ynode_is_null(const yaml_node_t *n);

/* 1-based line and column of a node. */
static inline int ynode_line(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

static inline int ynode_col(const yaml_node_t *n)
{
	return (int)n->start_mark.column + 1;
}

/*
 * The scalar text of a string value, or NULL after adding to d why it isn't one. Control
 * characters are refused: a block scalar (`|`) would otherwise smuggle a newline into a name.
 */
const char *ynode_str(struct diags *d, const char *file, const yaml_node_t *n, const char *key);

/* Edit distance between two short names (SIZE_MAX when one is 64 characters or longer). */
size_t yedit_distance(const char *a, const char *b);

/*
 * Loads the single document in text into *doc. A syntax error is added to d (with libyaml's own
 * description) and false returned: libyaml builds no document after one. A second document is
 * not an error here: *has_second is set with where it starts, so that the caller reports it after
 * the first document's problems, in file order.
 */
bool ydoc_load(const char *text, size_t len, const char *file, struct diags *d,
	       yaml_document_t *doc, yaml_mark_t *second, bool *has_second);

#endif
