// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit test runner: `test_unit [SUBSTRING...]` runs the tests whose names contain any SUBSTRING.
 * Prints PASS/FAIL/SKIP per test and ends with "N passed, N failed, N skipped".
 */
#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "test.h"

static struct test_case *tests_head, **tests_tail = &tests_head;
static bool cur_failed, cur_skipped;
static char cur_skip_why[256];
static char cur_tmpdir[64];

void test_register(struct test_case *t)
{
	*tests_tail = t;
	tests_tail = &t->next;
}

void test_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "    %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cur_failed = true;
}

void test_skip(const char *why)
{
	cur_skipped = true;
	snprintf(cur_skip_why, sizeof(cur_skip_why), "%s", why);
}

const char *test_tmpdir(void)
{
	if (!cur_tmpdir[0]) {
		snprintf(cur_tmpdir, sizeof(cur_tmpdir), "/tmp/aegis-unit.XXXXXX");
		if (!mkdtemp(cur_tmpdir)) {
			cur_tmpdir[0] = '\0';
			return "/tmp";
		}
	}
	return cur_tmpdir;
}

const char *test_fixtures_dir(void)
{
	static char dir[PATH_MAX];
	const char *build = getenv("AEGIS_BUILD");
	char exe[PATH_MAX];
	ssize_t n;

	if (dir[0])
		return dir;
	if (build) {
		snprintf(dir, sizeof(dir), "%s/fixtures", build);
		return dir;
	}
	/* build/test_unit -> build/fixtures */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	snprintf(dir, sizeof(dir), "%s/fixtures", n > 0 ? dirname(exe) : "build");
	return dir;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

bool assert_mem_eq(const char *file, int line, const void *actual, size_t alen,
		   const void *expected, size_t elen, const char *name)
{
	const unsigned char *a = actual, *e = expected;
	size_t n = alen < elen ? alen : elen, off;

	for (off = 0; off < n && a[off] == e[off]; off++)
		;
	if (off == n && alen == elen)
		return true;
	test_fail_at(file, line, "%s: bytes differ at offset %zu (actual len %zu, expected len %zu)",
		     name, off, alen, elen);
	for (size_t row = off & ~(size_t)15; row < off + 32 && (row < alen || row < elen); row += 16) {
		fprintf(stderr, "      %04zx  actual:", row);
		for (size_t i = row; i < row + 16; i++)
			fprintf(stderr, i < alen ? " %02x" : "   ", i < alen ? a[i] : 0);
		fprintf(stderr, "\n      %04zx  expect:", row);
		for (size_t i = row; i < row + 16; i++)
			fprintf(stderr, i < elen ? " %02x" : "   ", i < elen ? e[i] : 0);
		fputc('\n', stderr);
	}
	return false;
}

static bool selected(const char *name, int argc, char **argv)
{
	if (argc <= 1)
		return true;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;

	log_setup_libbpf();
	if (!getenv("AEGIS_TEST_VERBOSE"))
		log_set_level(LOG_LVL_ERROR);
	for (struct test_case *t = tests_head; t; t = t->next) {
		if (!selected(t->name, argc, argv))
			continue;
		cur_failed = cur_skipped = false;
		cur_tmpdir[0] = '\0';
		t->fn();
		if (cur_tmpdir[0])
			nftw(cur_tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		if (cur_failed) {
			printf("FAIL %s\n", t->name);
			failed++;
		} else if (cur_skipped) {
			printf("SKIP %s: %s\n", t->name, cur_skip_why);
			skipped++;
		} else {
			printf("PASS %s\n", t->name);
			passed++;
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
