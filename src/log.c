// SPDX-License-Identifier: GPL-2.0-only
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum log_level current_level = LOG_LVL_INFO;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level lvl)
{
	current_level = lvl;
}

enum log_level log_get_level(void)
{
	return current_level;
}

int log_parse_level(const char *name, enum log_level *lvl)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*lvl = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *log_level_name(enum log_level lvl)
{
	return lvl <= LOG_LVL_DEBUG ? level_names[lvl] : "?";
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	char line[4096];
	int n;

	if (lvl > current_level)
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	/* Strip one trailing newline so callers may or may not add one. */
	if (n > 0 && (size_t)n < sizeof(line) && line[n - 1] == '\n')
		line[n - 1] = '\0';
	fprintf(stderr, "aegis: %s%s%s\n", lvl == LOG_LVL_INFO ? "" : level_names[lvl],
		lvl == LOG_LVL_INFO ? "" : ": ", line);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

const char *errstr(int err)
{
	static __thread char buf[256];

	if (err == 0)
		return "success";
	if (libbpf_strerror(err < 0 ? err : -err, buf, sizeof(buf)) == 0)
		return buf;
	return strerror(err < 0 ? -err : err);
}

int log_errno(enum log_level lvl, int err, const char *fmt, ...)
{
	char msg[3072];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(lvl, "%s: %s", msg, errstr(err));
	return err < 0 ? err : -err;
}

#define CAPTURE_SIZE 16384
static char capture[CAPTURE_SIZE];
static size_t capture_len;

static void capture_append(const char *s, size_t n)
{
	if (n >= CAPTURE_SIZE) {
		s += n - (CAPTURE_SIZE - 1);
		n = CAPTURE_SIZE - 1;
	}
	if (capture_len + n >= CAPTURE_SIZE) {
		size_t drop = capture_len + n - (CAPTURE_SIZE - 1);

		memmove(capture, capture + drop, capture_len - drop);
		capture_len -= drop;
	}
	memcpy(capture + capture_len, s, n);
	capture_len += n;
	capture[capture_len] = '\0';
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[8192];
	int n = vsnprintf(line, sizeof(line), fmt, ap);

	if (n < 0)
		return n;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	capture_append(line, (size_t)n);
	if (current_level >= LOG_LVL_DEBUG && level != LIBBPF_DEBUG)
		fprintf(stderr, "libbpf: %s", line);
	return n;
}

void log_setup_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}

void log_capture_reset(void)
{
	capture_len = 0;
	capture[0] = '\0';
}

void log_capture_tail(char *buf, size_t len)
{
	size_t n;

	if (!len)
		return;
	n = capture_len < len - 1 ? capture_len : len - 1;
	memcpy(buf, capture + capture_len - n, n);
	buf[n] = '\0';
}

#define ONCE_MAX 64
static char once_keys[ONCE_MAX][64];
static int once_count;

void log_once(enum log_level lvl, const char *key, const char *fmt, ...)
{
	va_list ap;

	for (int i = 0; i < once_count; i++)
		if (strcmp(once_keys[i], key) == 0)
			return;
	if (once_count < ONCE_MAX)
		snprintf(once_keys[once_count++], sizeof(once_keys[0]), "%s", key);
	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}
