/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef AEGIS_LOG_H
#define AEGIS_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOG_LVL_ERROR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* "error", "warn", "info", "debug" -> level; -EINVAL on anything else. */
int log_parse_level(const char *name, enum log_level *lvl);
const char *log_level_name(enum log_level lvl);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap);

/* Logs "<message>: <strerror(-err)>" and returns err (negative), for one-line error returns. */
int log_errno(enum log_level lvl, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define pr_err(...)   log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define pr_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define pr_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define pr_err_errno(err, ...)  log_errno(LOG_LVL_ERROR, err, __VA_ARGS__)
#define pr_warn_errno(err, ...) log_errno(LOG_LVL_WARN, err, __VA_ARGS__)

/*
 * libbpf's own messages go to the debug level; they are also kept in a capture buffer so that a
 * failed load can show the tail of the verifier log instead of silencing it.
 */
void log_setup_libbpf(void);
void log_capture_reset(void);
/* Copies the last (at most len-1) bytes that libbpf printed since the last reset. */
void log_capture_tail(char *buf, size_t len);

/* Text for a libbpf or errno style negative error code. */
const char *errstr(int err);

/* Logs a message at most once per key for the life of the process ("feature X unavailable"). */
void log_once(enum log_level lvl, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
