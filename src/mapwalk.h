/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Reads every entry of a hash or LRU map into two arrays, in batches (a 64k-entry map is 64
 * syscalls, not 128k), falling back to a key walk where the kernel has no batch lookup for the
 * map type. Entries that come or go during the read may or may not be in it; none is read twice.
 */
#ifndef AEGIS_MAPWALK_H
#define AEGIS_MAPWALK_H

#include <stddef.h>
#include <sys/types.h>

/*
 * *keys and *vals (malloc'd, the caller frees them, also on error) receive the entries.
 * Returns their number or -errno.
 */
ssize_t map_read_all(int fd, size_t key_size, size_t value_size, void **keys, void **vals);

/*
 * Deletes these keys (one syscall for many where the kernel has batch deletes); a key that is
 * not there (an LRU map evicted it meanwhile) is skipped. Returns how many were deleted.
 */
size_t map_delete_keys(int fd, const void *keys, size_t n, size_t key_size);

#endif
