// SPDX-License-Identifier: GPL-2.0-only
/*
 * src/hooks.c on the real kernel, with build/fixtures/hooks_fixture.bpf.o: each kind of hook is
 * attached and pinned and really runs (getppid() calls and a connect() counted, a connect to
 * port 9 refused); closing every fd leaves the hooks running from their pins; a second setup
 * adopts them (same link ids); a new build of the object takes over every hook; detaching stops
 * them and removes the pins. tcx the same way, on interfaces of a network namespace of the
 * test's own, and a link left on a deleted interface is made again.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpfobj.h"
#include "config.h"
#include "hooks.h"
#include "mounts.h"
#include "netns.h"
#include "test.h"

enum { HIT_TRACEPOINT, HIT_RAW_TP, HIT_TP_BTF, HIT_CONNECT4, HIT_COUNT };

static const char *const fx_programs[] = { "tp_getppid", "raw_sys_enter", "btf_sys_enter", "connect4_deny9", NULL };
static const char *const fx_maps[] = { "hook_hits", "hook_target", NULL };

static const struct bpfobj_desc fx_v1 = {
	.name = "hooks", .file = "hooks_fixture.bpf.o", .programs = fx_programs, .maps = fx_maps,
};
static const struct bpfobj_desc fx_v2 = {
	.name = "hooks", .file = "hooks_fixture_v2.bpf.o", .programs = fx_programs, .maps = fx_maps,
};

struct fx {
	struct aegis_config cfg;
	char pin_root[64], cgroup[PATH_MAX];
	struct hook hooks[HIT_COUNT];
	struct hook_link links[HIT_COUNT];
};

static bool fx_init(struct fx *f)
{
	char cg2[PATH_MAX];

	memset(f, 0, sizeof(*f));
	snprintf(f->pin_root, sizeof(f->pin_root), "/sys/fs/bpf/aegis-unit-hooks-%d", getpid());
	f->cfg.pin_root = f->pin_root;
	f->cfg.object_dir = (char *)test_fixtures_dir();
	f->cfg.max_insns = 1000000;
	if (!ASSERT_OK(cgroup2_find(cg2, sizeof(cg2)), "cgroup v2 mount"))
		return false;
	snprintf(f->cgroup, sizeof(f->cgroup), "%s/aegis-unit-hooks-%d", cg2, getpid());
	if (!ASSERT_OK(mkdir(f->cgroup, 0755) ? -errno : 0, f->cgroup))
		return false;
	f->hooks[HIT_TRACEPOINT] = (struct hook){ HOOK_TRACEPOINT, "tp_getppid", "syscalls/sys_enter_getppid", 0, "tp_getppid" };
	f->hooks[HIT_RAW_TP] = (struct hook){ HOOK_RAW_TP, "raw_sys_enter", "sys_enter", 0, "raw_sys_enter" };
	f->hooks[HIT_TP_BTF] = (struct hook){ HOOK_TP_BTF, "btf_sys_enter", NULL, 0, "btf_sys_enter" };
	f->hooks[HIT_CONNECT4] = (struct hook){ HOOK_CGROUP, "connect4_deny9", f->cgroup, BPF_CGROUP_INET4_CONNECT, "cg_connect4" };
	for (int i = 0; i < HIT_COUNT; i++)
		f->links[i] = HOOK_LINK_NONE;
	return true;
}

static void fx_cleanup(struct fx *f)
{
	for (int i = 0; i < HIT_COUNT; i++)
		hook_release(&f->links[i]);
	bpfobj_remove_all(f->pin_root);
	rmdir(f->pin_root);
	if (f->cgroup[0])
		rmdir(f->cgroup);
}

static bool setup(struct fx *f, struct bpfobj *o, const struct bpfobj_desc *d)
{
	uint32_t zero = 0, me = (uint32_t)getpid();

	if (!ASSERT_OK(bpfobj_setup(o, d, &f->cfg), d->file))
		return false;
	if (!ASSERT_OK(bpf_map_update_elem(bpfobj_map_fd(o, "hook_target"), &zero, &me, BPF_ANY), "hook_target"))
		return false;
	for (int i = 0; i < HIT_COUNT; i++)
		if (!ASSERT_OK(hook_attach(o, &f->hooks[i], &f->links[i]), f->hooks[i].link))
			return false;
	return true;
}

static void read_hits(const struct bpfobj *o, uint64_t hits[HIT_COUNT])
{
	for (uint32_t i = 0; i < HIT_COUNT; i++)
		if (bpf_map_lookup_elem(bpfobj_map_fd(o, "hook_hits"), &i, &hits[i]))
			hits[i] = UINT64_MAX;
}

/*
 * A child in the fixture's cgroup connects to 127.0.0.1:port over UDP (no listener needed: a UDP
 * connect only sets the peer). Returns the errno it got, 0 on success.
 */
static int connect_in_cgroup(const struct fx *f, uint16_t port)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
		char procs[PATH_MAX + 16], me[16];
		int fd, s;

		snprintf(procs, sizeof(procs), "%s/cgroup.procs", f->cgroup);
		snprintf(me, sizeof(me), "%d", getpid());
		fd = open(procs, O_WRONLY);
		if (fd < 0 || write(fd, me, strlen(me)) < 0)
			_exit(250);
		close(fd);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s = socket(AF_INET, SOCK_DGRAM, 0);
		_exit(connect(s, (struct sockaddr *)&a, sizeof(a)) ? errno : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* Every hook runs the build whose counting unit is `unit` (1 for v1, 1 << 32 for v2). */
static bool hooks_run(struct fx *f, const struct bpfobj *o, uint64_t unit, const char *what)
{
	uint64_t before[HIT_COUNT], after[HIT_COUNT];
	char name[128];
	bool ok = true;

	read_hits(o, before);
	for (int i = 0; i < 3; i++)
		getppid();
	snprintf(name, sizeof(name), "%s: connect to port 9 refused", what);
	ok &= ASSERT_EQ(connect_in_cgroup(f, 9), EPERM, name);
	snprintf(name, sizeof(name), "%s: connect to port 10 allowed", what);
	ok &= ASSERT_EQ(connect_in_cgroup(f, 10), 0, name);
	read_hits(o, after);
	for (int i = 0; i < HIT_TP_BTF + 1; i++) {
		snprintf(name, sizeof(name), "%s: %s counted 3 getppid()", what, f->hooks[i].link);
		ok &= ASSERT_EQ(after[i] - before[i], 3 * unit, name);
	}
	/* connect4 counts the children: they are not hook_target's tgid, so nothing. */
	snprintf(name, sizeof(name), "%s: connect4 ran for the children only", what);
	ok &= ASSERT_EQ(after[HIT_CONNECT4] - before[HIT_CONNECT4], 0, name);
	return ok;
}

TEST(hooks_attach_adopt_replace_detach)
{
	struct bpfobj o = {}, o2 = {};
	uint32_t ids[HIT_COUNT];
	struct fx f;
	struct stat st;
	char pin[PATH_MAX];

	if (!fx_init(&f))
		goto out;
	if (!setup(&f, &o, &fx_v1) || !hooks_run(&f, &o, 1, "attached"))
		goto out;
	for (int i = 0; i < HIT_COUNT; i++) {
		ids[i] = f.links[i].id;
		ASSERT_NEQ(ids[i], 0, "link id");
		hook_release(&f.links[i]);
	}
	bpfobj_close(&o);

	/* Nothing of ours is open: the pins keep every hook. A second setup adopts them. */
	if (!setup(&f, &o, &fx_v1) || !hooks_run(&f, &o, 1, "from the pins"))
		goto out;
	for (int i = 0; i < HIT_COUNT; i++)
		ASSERT_EQ(f.links[i].id, ids[i], "adopted: same link");
	for (int i = 0; i < HIT_COUNT; i++)
		hook_release(&f.links[i]);
	bpfobj_close(&o);

	/* A new build: every hook moves to it (maps are kept, so o2 reads the same counters). */
	if (!setup(&f, &o2, &fx_v2) || !hooks_run(&f, &o2, 1ULL << 32, "new build"))
		goto out;
	ASSERT_EQ(f.links[HIT_CONNECT4].id, ids[HIT_CONNECT4], "a cgroup link is updated in place");

	for (int i = 0; i < HIT_COUNT; i++) {
		ASSERT_OK(hook_detach(&o2, &f.hooks[i], &f.links[i], &actor_agent), f.hooks[i].link);
		bpfobj_link_pin_path(&o2, f.hooks[i].link, pin, sizeof(pin));
		ASSERT_TRUE(stat(pin, &st) && errno == ENOENT, "detach removes the pin");
	}
	ASSERT_EQ(connect_in_cgroup(&f, 9), 0, "detached: port 9 connects");
	/*
	 * The kernel releases a tracepoint link in a work item after its last reference goes, so a
	 * hook may fire for a moment after detach; within a second it must have stopped.
	 */
	for (int tries = 0, moving = 1; moving; tries++) {
		uint64_t before[HIT_COUNT], after[HIT_COUNT];

		read_hits(&o2, before);
		getppid();
		read_hits(&o2, after);
		moving = memcmp(before, after, sizeof(before)) != 0;
		if (moving && !ASSERT_TRUE(tries < 20, "detached: nothing counts within a second"))
			break;
		if (moving)
			usleep(50000);
	}
out:
	bpfobj_close(&o);
	bpfobj_close(&o2);
	fx_cleanup(&f);
}

TEST(hooks_errors_name_the_hook)
{
	struct hook bad_tp = { HOOK_TRACEPOINT, "tp_getppid", "nosuch/event", 0, "bad_tp" };
	struct hook bad_cg = { HOOK_CGROUP, "connect4_deny9", "/nonexistent/cgroup", BPF_CGROUP_INET4_CONNECT, "bad_cg" };
	struct hook no_prog = { HOOK_RAW_TP, "no_such_program", "sys_enter", 0, "no_prog" };
	struct hook_link l;
	struct bpfobj o = {};
	struct fx f;

	if (!fx_init(&f) || !ASSERT_OK(bpfobj_setup(&o, &fx_v1, &f.cfg), "setup"))
		goto out;
	ASSERT_EQ(hook_attach(&o, &bad_tp, &l), -ENOENT, "unknown tracepoint");
	ASSERT_EQ(l.fd, -1, "no link");
	ASSERT_EQ(hook_attach(&o, &bad_cg, &l), -ENOENT, "missing cgroup");
	ASSERT_EQ(hook_attach(&o, &no_prog, &l), -ENOENT, "unknown program");
out:
	bpfobj_close(&o);
	fx_cleanup(&f);
}

/* ---- tcx ------------------------------------------------------------------------------- */

#define HIT_TC 4	/* hooks_fixture.bpf.c */

static const char *const tcx_programs[] = { "tc_count", NULL };
static const struct bpfobj_desc tcx_v1 = {
	.name = "hooks", .file = "hooks_fixture.bpf.o", .programs = tcx_programs, .maps = fx_maps,
};
static const struct bpfobj_desc tcx_v2 = {
	.name = "hooks", .file = "hooks_fixture_v2.bpf.o", .programs = tcx_programs, .maps = fx_maps,
};

static uint64_t tc_hits(const struct bpfobj *o)
{
	uint32_t k = HIT_TC;
	uint64_t v = UINT64_MAX;

	bpf_map_lookup_elem(bpfobj_map_fd(o, "hook_hits"), &k, &v);
	return v;
}

/*
 * Three UDP datagrams over lo to a socket of ours (no ICMP error comes back), each passing lo's
 * ingress once; received before returning, so the hook has run for all of them.
 */
static void send3(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 1 };
	socklen_t alen = sizeof(a);
	int r = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char buf[4];

	if (r < 0 || s < 0 || bind(r, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(r, (struct sockaddr *)&a, &alen) ||
	    setsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		goto out;
	for (int i = 0; i < 3; i++)
		sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof(a));
	for (int i = 0; i < 3; i++)
		if (recv(r, buf, sizeof(buf), 0) < 0)
			break;
out:
	if (r >= 0)
		close(r);
	if (s >= 0)
		close(s);
}

static bool tcx_counts(const struct bpfobj *o, uint64_t unit, const char *what)
{
	uint64_t before = tc_hits(o);

	send3();
	return ASSERT_EQ(tc_hits(o) - before, 3 * unit, what);
}

TEST(hooks_tcx_attach_adopt_replace_detach)
{
	struct hook h = { HOOK_TCX, "tc_count", "lo", HOOK_TCX_INGRESS, "tcx_lo" };
	struct hook hv = { HOOK_TCX, "tc_count", NULL, HOOK_TCX_INGRESS, "tcx_veth" };
	struct hook_link l = HOOK_LINK_NONE, lv = HOOK_LINK_NONE;
	struct bpfobj o = {}, o2 = {};
	int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), nl = -1;
	char pin[PATH_MAX], veth[IF_NAMESIZE], peer[IF_NAMESIZE];
	uint32_t id, vid;
	struct fx f;
	struct stat st;

	if (!ASSERT_TRUE(home >= 0, "own netns") || !fx_init(&f))
		goto out_home;
	/* A namespace of our own: its interfaces and their hooks go with it. */
	if (!ASSERT_OK(unshare(CLONE_NEWNET) ? -errno : 0, "unshare(CLONE_NEWNET)"))
		goto out;
	nl = rtnl_open();
	if (!ASSERT_TRUE(nl >= 0, "rtnetlink") || !ASSERT_OK(rtnl_link_set_up(nl, 1, 1), "lo up"))
		goto back;
	if (!ASSERT_OK(bpfobj_setup(&o, &tcx_v1, &f.cfg), "setup") ||
	    !ASSERT_OK(hook_attach(&o, &h, &l), "tcx attach"))
		goto back;
	id = l.id;
	ASSERT_NEQ(id, 0, "link id");
	tcx_counts(&o, 1, "attached: lo ingress counts");
	hook_release(&l);
	bpfobj_close(&o);
	if (!ASSERT_OK(bpfobj_setup(&o, &tcx_v1, &f.cfg), "setup again") ||
	    !ASSERT_OK(hook_attach(&o, &h, &l), "adopt"))
		goto back;
	ASSERT_EQ(l.id, id, "adopted: the same link");
	tcx_counts(&o, 1, "from the pin");
	hook_release(&l);
	bpfobj_close(&o);
	if (!ASSERT_OK(bpfobj_setup(&o2, &tcx_v2, &f.cfg), "new build") ||
	    !ASSERT_OK(hook_attach(&o2, &h, &l), "replace"))
		goto back;
	ASSERT_EQ(l.id, id, "a tcx link is updated in place");
	tcx_counts(&o2, 1ULL << 32, "the new build counts");
	ASSERT_OK(hook_detach(&o2, &h, &l, &actor_agent), "detach");
	bpfobj_link_pin_path(&o2, h.link, pin, sizeof(pin));
	ASSERT_TRUE(stat(pin, &st) && errno == ENOENT, "detach removes the pin");
	tcx_counts(&o2, 0, "detached: nothing counts");

	/* A link pinned on an interface that was deleted and made again is replaced. */
	snprintf(veth, sizeof(veth), "agu%d", getpid() % 100000);
	snprintf(peer, sizeof(peer), "agv%d", getpid() % 100000);
	hv.target = veth;
	if (!ASSERT_OK(rtnl_veth_add(nl, veth, peer), "veth") ||
	    !ASSERT_OK(hook_attach(&o2, &hv, &lv), "tcx on the veth"))
		goto back;
	vid = lv.id;
	hook_release(&lv);
	ASSERT_OK(rtnl_link_del(nl, link_ifindex(veth)), "delete the veth");
	ASSERT_OK(rtnl_veth_add(nl, veth, peer), "veth again");
	if (ASSERT_OK(hook_attach(&o2, &hv, &lv), "attach again"))
		ASSERT_NEQ(lv.id, vid, "a new link, not the defunct one");
	ASSERT_EQ(hook_attach(&o2, &(struct hook){ HOOK_TCX, "tc_count", "nosuch0", HOOK_TCX_INGRESS, "x" }, &l),
		  -ENODEV, "an unknown interface is refused");
back:
	hook_release(&l);
	hook_release(&lv);
	if (nl >= 0)
		close(nl);
	ASSERT_OK(setns(home, CLONE_NEWNET) ? -errno : 0, "back to the test's netns");
out:
	bpfobj_close(&o);
	bpfobj_close(&o2);
	fx_cleanup(&f);
out_home:
	if (home >= 0)
		close(home);
}
