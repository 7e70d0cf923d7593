/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef AEGIS_MOUNTS_H
#define AEGIS_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>

#define BPFFS_DEFAULT "/sys/fs/bpf"
#define TRACEFS_DEFAULT "/sys/kernel/tracing"

/*
 * First mount point of a filesystem type in /proc/mounts ("bpf", "tracefs", "cgroup2").
 * Returns 0 and the path, -ENOENT when none is mounted, -errno on read failure.
 */
int mount_find(const char *fstype, char *path, size_t len);

/* True when `path` itself is a mount of `fstype` (statfs magic). */
bool mount_is(const char *path, const char *fstype);

/*
 * Makes sure `dir` (e.g. /sys/fs/bpf) holds a bpffs/tracefs; mounts one when missing and sets
 * *mounted so the caller can log it (and a probe can undo it). 0 or -errno.
 */
int mount_ensure_bpffs(const char *dir, bool *mounted);
int mount_ensure_tracefs(char *path, size_t len, bool *mounted);

/* The cgroup v2 mount (a hybrid layout has it at /sys/fs/cgroup/unified). */
int cgroup2_find(char *path, size_t len);

#endif
