// SPDX-License-Identifier: GPL-2.0-only
/*
 * The decision store (src/decisions.c): keys with scopes, deletion that keeps probe chains
 * intact at scale, and persistence as a snapshot plus a journal, replayed in order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "decisions.h"
#include "test.h"
#include "util.h"

struct files {
	char snap[256], journal[256];
};

static void files_init(struct files *f)
{
	snprintf(f->snap, sizeof(f->snap), "%s/decisions.tsv", test_tmpdir());
	snprintf(f->journal, sizeof(f->journal), "%s/decisions.journal", test_tmpdir());
	unlink(f->snap);
	unlink(f->journal);
}

static struct decision entry(const char *cidr, enum decision_list list, enum guard_origin origin,
			     struct decision_scope sc, uint64_t expires_ns)
{
	struct decision d = { .scope = sc, .list = (uint8_t)list, .origin = (uint8_t)origin,
			      .created_ns = 1000, .expires_ns = expires_ns };
	char why[128];

	if (cidr_parse(cidr, &d.cidr, NULL, why, sizeof(why)))
		abort();
	return d;
}

static bool has(const struct decisions *ds, const char *cidr, enum decision_list list, struct decision_scope sc)
{
	struct decision d = entry(cidr, list, GUARD_ORIGIN_CLI, sc, 0);

	return decisions_get(ds, list, &d.cidr, sc) != NULL;
}

static size_t count_lines(const char *path)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, n = 0;

	if (read_file(path, &buf, &len))
		return 0;
	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\n';
	return n;
}

static void load_fresh(struct decisions *ds, const struct files *f, int want_err, size_t *loaded,
		       size_t *expired)
{
	decisions_init(ds);
	ASSERT_EQ(decisions_load(ds, f->snap, f->journal, loaded, expired), want_err, "decisions_load");
}

TEST(decisions_scopes_are_keys)
{
	struct decision_scope udp53 = { IPPROTO_UDP, 53 }, tcp53 = { IPPROTO_TCP, 53 };
	struct decisions ds;
	struct decision d;

	decisions_init(&ds);
	d = entry("198.51.100.0/24", LIST_BLOCK, GUARD_ORIGIN_CLI, UNSCOPED, 0);
	ASSERT_EQ(decisions_put(&ds, &d, NULL), 1, "unscoped");
	d.scope = udp53;
	ASSERT_EQ(decisions_put(&ds, &d, NULL), 1, "udp/53 beside it");
	d.scope = tcp53;
	ASSERT_EQ(decisions_put(&ds, &d, NULL), 1, "tcp/53 beside both");
	ASSERT_EQ(decisions_put(&ds, &d, NULL), 0, "tcp/53 again replaces");
	ASSERT_EQ(ds.count, 3, "three entries");
	ASSERT_OK(decisions_del(&ds, LIST_BLOCK, &d.cidr, udp53, NULL), "del udp/53");
	ASSERT_TRUE(has(&ds, "198.51.100.0/24", LIST_BLOCK, UNSCOPED), "unscoped stays");
	ASSERT_TRUE(has(&ds, "198.51.100.0/24", LIST_BLOCK, tcp53), "tcp/53 stays");
	ASSERT_FALSE(has(&ds, "198.51.100.0/24", LIST_BLOCK, udp53), "udp/53 gone");
	ASSERT_FALSE(has(&ds, "198.51.100.0/24", LIST_ALLOW, UNSCOPED), "the allow list is another key");
	decisions_free(&ds);
}

/* Many inserts and every other one deleted: every survivor is still found (backward shift). */
TEST(decisions_delete_at_scale)
{
	struct decisions ds;
	char text[32];
	size_t missing = 0, found_deleted = 0;

	decisions_init(&ds);
	for (unsigned i = 0; i < 100000; i++) {
		struct decision d;

		snprintf(text, sizeof(text), "10.%u.%u.%u/32", i >> 16, (i >> 8) & 255, i & 255);
		d = entry(text, LIST_BLOCK, GUARD_ORIGIN_FILE, UNSCOPED, 0);
		if (!ASSERT_EQ(decisions_put(&ds, &d, NULL), 1, "put"))
			goto out;
	}
	for (unsigned i = 0; i < 100000; i += 2) {
		struct decision d;

		snprintf(text, sizeof(text), "10.%u.%u.%u/32", i >> 16, (i >> 8) & 255, i & 255);
		d = entry(text, LIST_BLOCK, GUARD_ORIGIN_FILE, UNSCOPED, 0);
		ASSERT_OK(decisions_del(&ds, LIST_BLOCK, &d.cidr, UNSCOPED, NULL), "del");
	}
	for (unsigned i = 0; i < 100000; i++) {
		snprintf(text, sizeof(text), "10.%u.%u.%u/32", i >> 16, (i >> 8) & 255, i & 255);
		if (i & 1)
			missing += !has(&ds, text, LIST_BLOCK, UNSCOPED);
		else
			found_deleted += has(&ds, text, LIST_BLOCK, UNSCOPED);
	}
	ASSERT_EQ(missing, 0, "every survivor found");
	ASSERT_EQ(found_deleted, 0, "no deleted entry found");
	ASSERT_EQ(ds.count, 50000, "count");
out:
	decisions_free(&ds);
}

/* Changes reach disk at commit, as journal lines; a fresh store replays them in order. */
TEST(decisions_journal_replay)
{
	struct decision_scope udp53 = { IPPROTO_UDP, 53 };
	uint64_t later = now_realtime_ns() + 3600 * NSEC_PER_SEC;
	struct decisions ds, back;
	size_t loaded, expired;
	struct decision d;
	struct files f;

	files_init(&f);
	decisions_init(&ds);
	load_fresh(&back, &f, -ENOENT, &loaded, &expired);
	decisions_free(&back);
	ASSERT_OK(decisions_compact(&ds, f.snap, f.journal), "empty snapshot");

	d = entry("192.0.2.0/24", LIST_BLOCK, GUARD_ORIGIN_CLI, UNSCOPED, later);
	d.reason_id = decisions_reason_id(&ds, "scanner, with spaces");
	decisions_put(&ds, &d, NULL);
	d = entry("2001:db8::/32", LIST_ALLOW, GUARD_ORIGIN_CLI, UNSCOPED, 0);
	decisions_put(&ds, &d, NULL);
	d = entry("203.0.113.7/32", LIST_BLOCK, GUARD_ORIGIN_AUTO, udp53, 0);
	decisions_put(&ds, &d, NULL);
	d = entry("198.51.100.9/32", LIST_BLOCK, GUARD_ORIGIN_CLI, UNSCOPED, 0);
	decisions_put(&ds, &d, NULL);
	ASSERT_OK(decisions_del(&ds, LIST_BLOCK, &d.cidr, UNSCOPED, NULL), "del");
	ASSERT_EQ(count_lines(f.journal), 0, "nothing written before the commit");
	ASSERT_OK(decisions_commit(&ds, f.snap, f.journal), "commit");
	ASSERT_EQ(count_lines(f.journal), 5, "four puts and a del in the journal");
	ASSERT_OK(decisions_commit(&ds, f.snap, f.journal), "a commit with nothing new");
	ASSERT_EQ(count_lines(f.journal), 5, "writes nothing");

	load_fresh(&back, &f, 0, &loaded, &expired);
	ASSERT_EQ(back.count, 3, "three entries back");
	ASSERT_EQ(loaded, 3, "loaded");
	ASSERT_TRUE(has(&back, "192.0.2.0/24", LIST_BLOCK, UNSCOPED), "block back");
	ASSERT_TRUE(has(&back, "2001:db8::/32", LIST_ALLOW, UNSCOPED), "allow back");
	ASSERT_TRUE(has(&back, "203.0.113.7/32", LIST_BLOCK, udp53), "scoped block back");
	ASSERT_FALSE(has(&back, "198.51.100.9/32", LIST_BLOCK, UNSCOPED), "the deleted one stays deleted");
	{
		struct decision k = entry("192.0.2.0/24", LIST_BLOCK, GUARD_ORIGIN_CLI, UNSCOPED, 0);
		const struct decision *g = decisions_get(&back, LIST_BLOCK, &k.cidr, UNSCOPED);

		if (ASSERT_TRUE(g, "get")) {
			ASSERT_STREQ(decisions_reason(&back, g->reason_id), "scanner, with spaces", "reason kept");
			ASSERT_EQ(g->expires_ns, later, "expiry kept");
			ASSERT_EQ(g->origin, GUARD_ORIGIN_CLI, "origin kept");
		}
	}
	ASSERT_EQ(back.journal_pending, 0, "replay journals nothing");
	decisions_free(&back);
	decisions_free(&ds);
}

/* A replaced entry that expired while the agent was down is gone, not its older version. */
TEST(decisions_journal_expired_replacement)
{
	struct decisions ds, back;
	size_t loaded, expired;
	struct decision d;
	struct files f;

	files_init(&f);
	decisions_init(&ds);
	d = entry("192.0.2.0/24", LIST_BLOCK, GUARD_ORIGIN_CLI, UNSCOPED, 0);
	decisions_put(&ds, &d, NULL);
	ASSERT_OK(decisions_compact(&ds, f.snap, f.journal), "snapshot with a permanent block");
	d.expires_ns = now_realtime_ns() + 50 * 1000000ULL;	/* replaced by a 50 ms block */
	decisions_put(&ds, &d, NULL);
	ASSERT_OK(decisions_commit(&ds, f.snap, f.journal), "commit");
	usleep(100000);
	load_fresh(&back, &f, 0, &loaded, &expired);
	ASSERT_FALSE(has(&back, "192.0.2.0/24", LIST_BLOCK, UNSCOPED), "expired: gone");
	ASSERT_EQ(expired, 1, "counted as expired");
	decisions_free(&back);
	decisions_free(&ds);
}

/* Configuration entries are not kept, but taking a key from a kept entry is. */
TEST(decisions_journal_config_entries)
{
	struct decisions ds, back;
	size_t loaded, expired;
	struct decision d;
	struct files f;

	files_init(&f);
	decisions_init(&ds);
	d = entry("192.0.2.0/24", LIST_BLOCK, GUARD_ORIGIN_CLI, UNSCOPED, 0);
	decisions_put(&ds, &d, NULL);
	d = entry("198.51.100.0/24", LIST_BLOCK, GUARD_ORIGIN_CONFIG, UNSCOPED, 0);
	decisions_put(&ds, &d, NULL);
	ASSERT_OK(decisions_compact(&ds, f.snap, f.journal), "snapshot");
	ASSERT_EQ(count_lines(f.snap), 2, "header and the cli entry: not the configuration's");
	d = entry("192.0.2.0/24", LIST_BLOCK, GUARD_ORIGIN_CONFIG, UNSCOPED, 0);
	decisions_put(&ds, &d, NULL);	/* the configuration takes the cli entry's key */
	ASSERT_OK(decisions_commit(&ds, f.snap, f.journal), "commit");
	load_fresh(&back, &f, 0, &loaded, &expired);
	ASSERT_EQ(back.count, 0, "nothing kept: both are the configuration's now");
	decisions_free(&back);
	decisions_free(&ds);
}

/* A journal that would outgrow the store becomes a snapshot, and the journal starts over. */
TEST(decisions_journal_compacts)
{
	struct decisions ds, back;
	size_t loaded, expired;
	struct decision d;
	struct files f;

	files_init(&f);
	decisions_init(&ds);
	d = entry("192.0.2.1/32", LIST_BLOCK, GUARD_ORIGIN_CLI, UNSCOPED, 0);
	for (int i = 0; i < 5000; i++) {	/* the same entry over and over: a store of one */
		d.created_ns = (uint64_t)i;
		decisions_put(&ds, &d, NULL);
		if (i % 1000 == 999)
			ASSERT_OK(decisions_commit(&ds, f.snap, f.journal), "commit");
	}
	ASSERT_TRUE(count_lines(f.journal) < 4096, "the journal was compacted");
	ASSERT_EQ(count_lines(f.snap), 2, "into a snapshot of the one entry");
	load_fresh(&back, &f, 0, &loaded, &expired);
	ASSERT_EQ(back.count, 1, "one entry back");
	{
		const struct decision *g = decisions_get(&back, LIST_BLOCK, &d.cidr, UNSCOPED);

		ASSERT_TRUE(g && g->created_ns == 4999, "its last version");
	}
	decisions_free(&back);
	decisions_free(&ds);
}

/* Unreadable lines are skipped and said; the readable ones load; v1 lines (no scope) still read. */
TEST(decisions_load_bad_and_v1_lines)
{
	struct decisions back;
	size_t loaded, expired;
	struct files f;

	files_init(&f);
	{
		const char *text = "# aegis decisions v1\n"
				   "block\t192.0.2.0/24\tcli\t5\t0\told format\n"
				   "block\tnot-a-cidr\t-\tcli\t5\t0\t\n"
				   "allow\t198.51.100.0/24\tudp/53\tcli\t5\t0\tallow cannot be scoped\n";

		ASSERT_OK(write_file_atomic(f.snap, text, strlen(text), 0600), "write the snapshot");
		ASSERT_OK(write_file_atomic(f.journal, "?\tgarbage\n", 10, 0600), "write the journal");
	}
	load_fresh(&back, &f, -EBADMSG, &loaded, &expired);
	ASSERT_EQ(back.count, 1, "the readable line loaded");
	ASSERT_TRUE(has(&back, "192.0.2.0/24", LIST_BLOCK, UNSCOPED), "the v1 line");
	decisions_free(&back);
}
