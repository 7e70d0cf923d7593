/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef AEGIS_POLICY_DIFF_H
#define AEGIS_POLICY_DIFF_H

#include <jansson.h>

#include "policy_file.h"

/*
 * {"changed": bool, "summary": {...}, "policies": [{"name", "change": added|removed|modified,
 * "mode"/"selector"/"default": {"from", "to"}, "rules": [{"change": "+"|"-", "index", "text",
 * "line"}], "reordered"}]}: what `new` changes against `old` (NULL: no policy in force).
 */
json_t *policy_diff(const struct policy_doc *old, const struct policy_doc *new);

#endif
