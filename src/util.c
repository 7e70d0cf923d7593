// SPDX-License-Identifier: GPL-2.0-only
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "util.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t now_realtime_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

uint64_t now_monotonic_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t now_boottime_ns(void)
{
	return clock_ns(CLOCK_BOOTTIME);
}

void format_rfc3339(uint64_t realtime_ns, char *buf, size_t len)
{
	time_t secs = (time_t)(realtime_ns / NSEC_PER_SEC);
	unsigned ms = (unsigned)((realtime_ns % NSEC_PER_SEC) / NSEC_PER_MSEC);
	struct tm tm;
	char base[32];

	gmtime_r(&secs, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03uZ", base, ms);
}

static const struct {
	const char *suffix;
	uint64_t ns;
} duration_units[] = {
	{ "ms", NSEC_PER_MSEC },
	{ "s", NSEC_PER_SEC },
	{ "m", 60 * NSEC_PER_SEC },
	{ "h", 3600 * NSEC_PER_SEC },
	{ "d", 86400 * NSEC_PER_SEC },
};

int parse_duration(const char *s, uint64_t *ns)
{
	uint64_t total = 0;
	bool any = false;

	if (!s || !*s)
		return -EINVAL;
	while (*s) {
		uint64_t num = 0, unit = 0;
		const char *start = s;

		while (isdigit((unsigned char)*s)) {
			if (num > (UINT64_MAX - 9) / 10)
				return -EINVAL;
			num = num * 10 + (uint64_t)(*s++ - '0');
		}
		if (s == start)
			return -EINVAL;
		if (!*s && !any) {
			unit = NSEC_PER_SEC; /* bare number: seconds */
		} else {
			for (size_t i = 0; i < ARRAY_SIZE(duration_units); i++) {
				size_t n = strlen(duration_units[i].suffix);

				if (strncmp(s, duration_units[i].suffix, n) == 0 &&
				    !isalpha((unsigned char)s[n])) {
					unit = duration_units[i].ns;
					s += n;
					break;
				}
			}
			if (!unit)
				return -EINVAL;
		}
		if (num && unit > UINT64_MAX / num)
			return -EINVAL;
		if (total > UINT64_MAX - num * unit)
			return -EINVAL;
		total += num * unit;
		any = true;
	}
	*ns = total;
	return 0;
}

void format_duration(uint64_t ns, char *buf, size_t len)
{
	uint64_t secs = ns / NSEC_PER_SEC;
	size_t off = 0;

	if (secs == 0) {
		snprintf(buf, len, ns ? "%llums" : "0s", (unsigned long long)(ns / NSEC_PER_MSEC));
		return;
	}
	buf[0] = '\0';
	if (secs >= 86400)
		off += (size_t)snprintf(buf + off, len - off, "%llud", (unsigned long long)(secs / 86400));
	secs %= 86400;
	if (secs >= 3600 && off < len)
		off += (size_t)snprintf(buf + off, len - off, "%lluh", (unsigned long long)(secs / 3600));
	secs %= 3600;
	if (secs >= 60 && off < len)
		off += (size_t)snprintf(buf + off, len - off, "%llum", (unsigned long long)(secs / 60));
	secs %= 60;
	if (secs && off < len)
		snprintf(buf + off, len - off, "%llus", (unsigned long long)secs);
}

int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

int read_file(const char *path, char **bufp, size_t *lenp)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, len = 0;
	char *buf;

	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t r;

		if (len + 1 >= cap) {
			char *nbuf = realloc(buf, cap * 2);

			if (!nbuf) {
				free(buf);
				return -ENOMEM;
			}
			buf = nbuf;
			cap *= 2;
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -errno;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	*bufp = buf;
	if (lenp)
		*lenp = len;
	return 0;
}

int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	const char *p = buf;
	int fd, err = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		p += w;
		len -= (size_t)w;
	}
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

int read_sysctl_long(const char *path, long *val)
{
	_cleanup_free_ char *buf = NULL;
	char *end;
	int err = read_file(path, &buf, NULL);

	if (err)
		return err;
	errno = 0;
	*val = strtol(buf, &end, 10);
	if (errno || end == buf)
		return -EINVAL;
	return 0;
}

void pid_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	_cleanup_free_ char *comm = NULL;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (read_file(path, &comm, NULL)) {
		snprintf(buf, len, "?");
		return;
	}
	comm[strcspn(comm, "\n")] = '\0';
	snprintf(buf, len, "%s", comm);
}

bool unix_socket_answers(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(sa.sun_path))
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	return fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
}
