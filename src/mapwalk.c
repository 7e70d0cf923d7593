// SPDX-License-Identifier: GPL-2.0-only
#include <bpf/bpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mapwalk.h"

#define BATCH 1024

static int reserve(void **keys, void **vals, size_t *cap, size_t need, size_t ksz, size_t vsz)
{
	size_t ncap = *cap ? *cap : BATCH;
	void *nk, *nv;

	while (ncap < need)
		ncap *= 2;
	if (ncap == *cap)
		return 0;
	nk = realloc(*keys, ncap * ksz);
	if (nk)
		*keys = nk;
	nv = nk ? realloc(*vals, ncap * vsz) : NULL;
	if (!nv)
		return -ENOMEM;
	*vals = nv;
	*cap = ncap;
	return 0;
}

/* The batch token of a hash map is a bucket index; it must be as large as a key. */
static ssize_t read_batches(int fd, size_t ksz, size_t vsz, void **keys, void **vals, size_t *cap)
{
	size_t tok_size = ksz > sizeof(uint64_t) ? ksz : sizeof(uint64_t);
	void *in = calloc(1, tok_size), *out = calloc(1, tok_size);
	uint32_t batch = BATCH;
	size_t n = 0;
	bool first = true;
	int err = 0;

	if (!in || !out) {
		err = -ENOMEM;
		goto done;
	}
	while (!err) {
		uint32_t count = batch;

		err = reserve(keys, vals, cap, n + batch, ksz, vsz);
		if (err)
			break;
		err = bpf_map_lookup_batch(fd, first ? NULL : in, out, (char *)*keys + n * ksz,
					   (char *)*vals + n * vsz, &count, NULL);
		err = err ? -errno : 0;
		if (err == -ENOSPC && batch < (1u << 20)) {
			batch *= 2;	/* a bucket holds more than a batch */
			err = 0;
			continue;
		}
		if (err && err != -ENOENT)
			break;
		n += count;	/* -ENOENT: the last batch, count says how much of it there is */
		memcpy(in, out, tok_size);
		first = false;
	}
done:
	free(in);
	free(out);
	return err == -ENOENT ? (ssize_t)n : err;
}

static ssize_t read_keys(int fd, size_t ksz, size_t vsz, void **keys, void **vals, size_t *cap)
{
	void *prev = NULL;
	size_t n = 0;

	for (;;) {
		if (reserve(keys, vals, cap, n + 1, ksz, vsz))
			return -ENOMEM;
		if (bpf_map_get_next_key(fd, prev, (char *)*keys + n * ksz))
			return errno == ENOENT ? (ssize_t)n : -errno;
		prev = (char *)*keys + n * ksz;
		if (bpf_map_lookup_elem(fd, prev, (char *)*vals + n * vsz) == 0)
			n++;
		else
			prev = n ? (char *)*keys + (n - 1) * ksz : NULL;
	}
}

ssize_t map_read_all(int fd, size_t key_size, size_t value_size, void **keys, void **vals)
{
	size_t cap = 0;
	ssize_t n;

	*keys = *vals = NULL;
	n = read_batches(fd, key_size, value_size, keys, vals, &cap);
	/* 524: the kernel's ENOTSUPP, which user space headers do not name. */
	if (n != -EINVAL && n != -EOPNOTSUPP && n != -524)
		return n;
	log_once(LOG_LVL_INFO, "map-batch", "batch map lookups unavailable (%s): walking keys",
		 strerror((int)-n));
	return read_keys(fd, key_size, value_size, keys, vals, &cap);
}

size_t map_delete_keys(int fd, const void *keys, size_t n, size_t key_size)
{
	size_t done = 0, deleted = 0;

	while (done < n) {
		uint32_t count = (uint32_t)(n - done > BATCH ? BATCH : n - done);
		int err = bpf_map_delete_batch(fd, (const char *)keys + done * key_size, &count, NULL);

		/* On an error, count says how many were deleted before the key that failed. */
		deleted += count;
		done += count;
		if (!err)
			continue;
		if (errno != ENOENT) {
			/* No batch deletes here (or another failure): one at a time. */
			for (; done < n; done++)
				deleted += bpf_map_delete_elem(fd, (const char *)keys + done * key_size) == 0;
			break;
		}
		done++;	/* the key that was not there */
	}
	return deleted;
}
