/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A small test runner in the style of the kernel's test_progs: ASSERT_* return bool and print the
 * name with actual vs expected, so tests read as `if (!ASSERT_OK(err, "load")) goto out;`.
 */
#ifndef AEGIS_TEST_H
#define AEGIS_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
	struct test_case *next;
};

void test_register(struct test_case *t);
void test_fail_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Marks the running test skipped with a reason (it must then return). */
void test_skip(const char *why);
/* A scratch directory for this test, removed afterwards. */
const char *test_tmpdir(void);
/* Where the BPF test fixtures are built: $AEGIS_BUILD/fixtures, else beside this binary. */
const char *test_fixtures_dir(void);

#define TEST(n)                                                             \
	static void test_##n(void);                                         \
	static struct test_case test_case_##n = { #n, test_##n, NULL };     \
	__attribute__((constructor)) static void test_reg_##n(void)         \
	{                                                                   \
		test_register(&test_case_##n);                              \
	}                                                                   \
	static void test_##n(void)

#define ASSERT_TRUE(cond, name)                                                            \
	({                                                                                 \
		bool ___ok = !!(cond);                                                     \
		if (!___ok)                                                                \
			test_fail_at(__FILE__, __LINE__, "%s: expected true: %s", name, #cond); \
		___ok;                                                                     \
	})
#define ASSERT_FALSE(cond, name) ASSERT_TRUE(!(cond), name)

#define ASSERT_EQ(actual, expected, name)                                                   \
	({                                                                                  \
		long long ___a = (long long)(actual), ___e = (long long)(expected);         \
		bool ___ok = ___a == ___e;                                                  \
		if (!___ok)                                                                 \
			test_fail_at(__FILE__, __LINE__, "%s: actual %lld != expected %lld", \
				     name, ___a, ___e);                                     \
		___ok;                                                                      \
	})

#define ASSERT_NEQ(actual, unexpected, name)                                              \
	({                                                                                \
		long long ___a = (long long)(actual), ___e = (long long)(unexpected);     \
		bool ___ok = ___a != ___e;                                                \
		if (!___ok)                                                               \
			test_fail_at(__FILE__, __LINE__, "%s: unexpected %lld", name, ___a); \
		___ok;                                                                    \
	})

#define ASSERT_GE(actual, bound, name)                                                      \
	({                                                                                  \
		long long ___a = (long long)(actual), ___b = (long long)(bound);            \
		bool ___ok = ___a >= ___b;                                                  \
		if (!___ok)                                                                 \
			test_fail_at(__FILE__, __LINE__, "%s: actual %lld < %lld", name, ___a, ___b); \
		___ok;                                                                      \
	})

#define ASSERT_OK(err, name)                                                           \
	({                                                                             \
		long long ___e = (long long)(err);                                     \
		bool ___ok = ___e == 0;                                                \
		if (!___ok)                                                            \
			test_fail_at(__FILE__, __LINE__, "%s: unexpected error %lld (%s)", \
				     name, ___e, strerror(___e < 0 ? (int)-___e : (int)___e)); \
		___ok;                                                                 \
	})

#define ASSERT_ERR(err, name)                                                          \
	({                                                                             \
		long long ___e = (long long)(err);                                     \
		bool ___ok = ___e < 0;                                                 \
		if (!___ok)                                                            \
			test_fail_at(__FILE__, __LINE__, "%s: expected an error, got %lld", \
				     name, ___e);                                          \
		___ok;                                                                 \
	})

#define ASSERT_STREQ(actual, expected, name)                                               \
	({                                                                                 \
		const char *___a = (actual), *___e = (expected);                           \
		bool ___ok = ___a && ___e && strcmp(___a, ___e) == 0;                      \
		if (!___ok)                                                                \
			test_fail_at(__FILE__, __LINE__, "%s: actual \"%s\" != expected \"%s\"", \
				     name, ___a ? ___a : "(null)", ___e ? ___e : "(null)"); \
		___ok;                                                                     \
	})

#define ASSERT_STRSTR(haystack, needle, name)                                              \
	({                                                                                 \
		const char *___h = (haystack), *___n = (needle);                           \
		bool ___ok = ___h && ___n && strstr(___h, ___n);                           \
		if (!___ok)                                                                \
			test_fail_at(__FILE__, __LINE__, "%s: \"%s\" not found in \"%s\"", \
				     name, ___n ? ___n : "(null)", ___h ? ___h : "(null)"); \
		___ok;                                                                     \
	})

/* Byte comparison that prints a hex diff around the first differing offset. */
bool assert_mem_eq(const char *file, int line, const void *actual, size_t alen,
		   const void *expected, size_t elen, const char *name);
#define ASSERT_MEMEQ(a, alen, e, elen, name) assert_mem_eq(__FILE__, __LINE__, a, alen, e, elen, name)

#endif
