/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef AEGIS_CMD_VISIBILITY_H
#define AEGIS_CMD_VISIBILITY_H

#include <jansson.h>

/* The visibility part of `aegis status` (GET /v1/status "visibility"). */
void print_visibility_status(json_t *v);

#endif
