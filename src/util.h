/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef AEGIS_UTIL_H
#define AEGIS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NSEC_PER_SEC 1000000000ULL
#define NSEC_PER_MSEC 1000000ULL

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

static inline bool streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* Clock readings in nanoseconds. */
uint64_t now_realtime_ns(void);
/* CLOCK_MONOTONIC: never behind the rate limiter's coarse clock (bpf_ktime_get_coarse_ns). */
uint64_t now_monotonic_ns(void);
/* CLOCK_BOOTTIME: what bpf_ktime_get_boot_ns() returns, so expiries survive suspend. */
uint64_t now_boottime_ns(void);

/* "2026-11-23T19:27:01.123Z" */
void format_rfc3339(uint64_t realtime_ns, char *buf, size_t len);

/*
 * Durations: "90s", "10m", "1h30m", "500ms", "2d", or a bare number of seconds.
 * Returns 0 and *ns, or -EINVAL (empty, unknown unit, overflow, trailing junk).
 */
int parse_duration(const char *s, uint64_t *ns);
/* "1h2m3s" style, shortest form; "0s" for 0. */
void format_duration(uint64_t ns, char *buf, size_t len);

/* Strict unsigned integer parse of the whole string (base 10); -EINVAL / -ERANGE. */
int parse_u64(const char *s, uint64_t *out);

/* mkdir -p with mode for created components. */
int mkdir_p(const char *path, mode_t mode);

/* Reads a whole file (NUL-terminated). Returns 0 or -errno. */
int read_file(const char *path, char **buf, size_t *len);
/* Writes via a temporary file and rename() so readers never see half a file. */
int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode);

/* Reads one integer from a /proc or /sys file. */
int read_sysctl_long(const char *path, long *val);

/* True when something accepts connections on the unix socket at path. */
bool unix_socket_answers(const char *path);

/* comm of a pid from /proc/PID/comm, "?" when gone. */
void pid_comm(pid_t pid, char *buf, size_t len);

#endif
