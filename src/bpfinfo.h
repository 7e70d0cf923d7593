/* SPDX-License-Identifier: GPL-2.0-only */
/* What the kernel says about a program or map we hold: ids, run statistics, fill, memory. */
#ifndef AEGIS_BPFINFO_H
#define AEGIS_BPFINFO_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

struct prog_stats {
	uint32_t id;
	char name[64];		/* the kernel's (15 characters) until the owner names it in full */
	uint32_t type;
	uint64_t run_cnt;
	uint64_t run_time_ns;
	uint32_t xlated_len, jited_len;
	uint64_t memlock;
};

struct map_stats {
	uint32_t id;
	char name[64];		/* the kernel's (15 characters) until the owner names it in full */
	uint32_t type;
	uint32_t key_size, value_size, max_entries, flags;
	uint64_t entries;	/* counted by walking the keys (arrays: max_entries) */
	uint64_t memlock;
};

#define MAP_WALK_MAX 65536		/* bigger maps are not walked to count entries */
#define MAP_ENTRIES_UNKNOWN UINT64_MAX	/* shown as -1 */

int prog_stats_get(int fd, struct prog_stats *st);
int map_stats_get(int fd, struct map_stats *st);
json_t *prog_stats_json(const struct prog_stats *st);
json_t *map_stats_json(const struct map_stats *st);


const char *prog_type_name(uint32_t type);
const char *map_type_name(uint32_t type);

#endif
