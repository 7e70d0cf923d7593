// SPDX-License-Identifier: GPL-2.0-only
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpfinfo.h"
#include "log.h"
#include "util.h"

const char *prog_type_name(uint32_t type)
{
	const char *s = libbpf_bpf_prog_type_str((enum bpf_prog_type)type);

	return s ? s : "unknown";
}

const char *map_type_name(uint32_t type)
{
	const char *s = libbpf_bpf_map_type_str((enum bpf_map_type)type);

	return s ? s : "unknown";
}

/* "memlock:" of /proc/self/fdinfo: the memory the kernel charges for the object. */
static uint64_t fd_memlock(int fd)
{
	char path[64];
	_cleanup_free_ char *buf = NULL;
	const char *p;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (read_file(path, &buf, NULL))
		return 0;
	p = strstr(buf, "memlock:");
	return p ? strtoull(p + 8, NULL, 10) : 0;
}

int prog_stats_get(int fd, struct prog_stats *st)
{
	struct bpf_prog_info info = {};
	uint32_t len = sizeof(info);

	memset(st, 0, sizeof(*st));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	st->id = info.id;
	memcpy(st->name, info.name, sizeof(st->name));
	st->name[sizeof(st->name) - 1] = '\0';
	st->type = info.type;
	st->run_cnt = info.run_cnt;
	st->run_time_ns = info.run_time_ns;
	st->xlated_len = info.xlated_prog_len;
	st->jited_len = info.jited_prog_len;
	st->memlock = fd_memlock(fd);
	return 0;
}

static bool is_array(uint32_t type)
{
	return type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       type == BPF_MAP_TYPE_PROG_ARRAY || type == BPF_MAP_TYPE_PERF_EVENT_ARRAY;
}

static uint64_t count_entries(int fd, const struct map_stats *st)
{
	uint8_t key[256], next[256];
	void *prev = NULL;
	uint64_t n = 0;

	if (is_array(st->type))
		return st->max_entries;
	/* Walking a big map costs a syscall per entry: its owner counts those (map_stats_set_entries). */
	if (st->type == BPF_MAP_TYPE_RINGBUF || st->key_size > sizeof(key) ||
	    st->max_entries > MAP_WALK_MAX)
		return MAP_ENTRIES_UNKNOWN;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, st->key_size);
		prev = key;
		n++;
	}
	return n;
}

int map_stats_get(int fd, struct map_stats *st)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);

	memset(st, 0, sizeof(*st));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	st->id = info.id;
	memcpy(st->name, info.name, sizeof(st->name));
	st->name[sizeof(st->name) - 1] = '\0';
	st->type = info.type;
	st->key_size = info.key_size;
	st->value_size = info.value_size;
	st->max_entries = info.max_entries;
	st->flags = info.map_flags;
	st->entries = count_entries(fd, st);
	st->memlock = fd_memlock(fd);
	return 0;
}

json_t *prog_stats_json(const struct prog_stats *st)
{
	double avg = st->run_cnt ? (double)st->run_time_ns / (double)st->run_cnt : 0.0;

	return json_pack("{s:I, s:s, s:s, s:I, s:I, s:f, s:I, s:I, s:I}", "id", (json_int_t)st->id,
			 "name", st->name, "type", prog_type_name(st->type), "run_count",
			 (json_int_t)st->run_cnt, "run_time_ns", (json_int_t)st->run_time_ns,
			 "avg_ns", avg, "xlated_bytes", (json_int_t)st->xlated_len, "jited_bytes",
			 (json_int_t)st->jited_len, "memlock_bytes", (json_int_t)st->memlock);
}

json_t *map_stats_json(const struct map_stats *st)
{
	return json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "id", (json_int_t)st->id,
			 "name", st->name, "type", map_type_name(st->type), "key_size",
			 (json_int_t)st->key_size, "value_size", (json_int_t)st->value_size,
			 "max_entries", (json_int_t)st->max_entries, "entries",
			 st->entries == MAP_ENTRIES_UNKNOWN ? -1 : (json_int_t)st->entries,
			 "flags", (json_int_t)st->flags, "memlock_bytes", (json_int_t)st->memlock);
}
