// SPDX-License-Identifier: GPL-2.0-only
/*
 * `aegis probe` and the netns helpers, run as root on the real kernel: the probe must report what
 * this machine does (DESIGN.md "Kernel facts"), agree with independent attempts where a check
 * fails, and leave nothing behind.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "mounts.h"
#include "netns.h"
#include "probe.h"
#include "test.h"
#include "util.h"

/* One probe run shared by the read-only tests (guard enabled, XDP mode auto). */
static json_t *shared_report;
static int shared_exit;

static json_t *report(void)
{
	struct aegis_config cfg;

	if (shared_report)
		return shared_report;
	memset(&cfg, 0, sizeof(cfg));
	cfg.guard_enabled = true;
	cfg.guard_xdp_mode = XDP_ATTACH_AUTO;
	shared_report = probe_run(&cfg, &shared_exit);
	return shared_report;
}

static const json_t *get(const json_t *o, const char *section, const char *key)
{
	return json_object_get(json_object_get(o, section), key);
}

static bool is_ok(const json_t *check)
{
	return json_is_true(json_object_get(check, "ok"));
}

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

TEST(probe_program_types_available)
{
	static const char *const want[] = {
		"xdp_native",	   "xdp_generic",	 "tc_ingress",
		"tc_egress",	   "cgroup_connect4",	 "cgroup_connect6",
		"cgroup_sendmsg4", "cgroup_skb_ingress", "cgroup_skb_egress",
		"sock_ops",	   "tracepoint",	 "raw_tp",
		"tp_btf",	   "tcx_ingress",
	};
	json_t *r = report();

	if (!ASSERT_TRUE(r, "probe_run"))
		return;
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		const json_t *c = get(r, "programs", want[i]);

		if (!ASSERT_TRUE(c, want[i]))
			continue;
		if (!ASSERT_TRUE(is_ok(c), want[i]))
			fprintf(stderr, "    %s: %s at %s (%s)\n", want[i], str(c, "error"),
				str(c, "stage"), str(c, "cause"));
		ASSERT_TRUE(str(c, "tried") && str(c, "tried")[0], "tried is recorded");
	}
	/* The connect4 check also proved the hook runs for a process in the cgroup. */
	ASSERT_STRSTR(str(get(r, "programs", "cgroup_connect4"), "note"), "EPERM",
		      "connect4 fired");
}

/* A failed check says where, the errno text and a likely cause. */
static void assert_failure_explained(const json_t *c, const char *name)
{
	ASSERT_FALSE(is_ok(c), name);
	ASSERT_TRUE(str(c, "error") && str(c, "error")[0], "error text");
	ASSERT_TRUE(str(c, "cause") && str(c, "cause")[0], "cause");
	ASSERT_TRUE(str(c, "stage") && str(c, "stage")[0], "stage");
	ASSERT_GE(json_integer_value(json_object_get(c, "errno")), 1, "errno");
}

/* Loads a BTF-attached program the way the probe does, as an independent witness. */
static int witness_load(enum bpf_prog_type type, enum bpf_attach_type attach, const char *func)
{
	struct bpf_insn insns[2] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct btf *vmlinux = btf__load_vmlinux_btf();
	int id, fd;

	if (!vmlinux)
		return -errno;
	id = btf__find_by_name_kind(vmlinux, func, BTF_KIND_FUNC);
	btf__free(vmlinux);
	if (id <= 0)
		return -ENOENT;
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach,
		    .attach_btf_id = (__u32)id);
	fd = bpf_prog_load(type, "aegist_witness", "GPL", insns, 2, &opts);
	if (fd < 0)
		return fd;
	/* Loading is not attaching: attach too, then undo both. */
	id = bpf_raw_tracepoint_open(NULL, fd);
	close(fd);
	if (id < 0)
		return id;
	close(id);
	return 0;
}

TEST(probe_kprobe_fentry_lsm_unavailable)
{
	json_t *r = report();
	const json_t *kp, *fe, *lsm;
	int err;

	if (!ASSERT_TRUE(r, "probe_run"))
		return;
	kp = get(r, "programs", "kprobe");
	fe = get(r, "programs", "fentry");
	lsm = get(r, "programs", "lsm");
	/* This machine has no kprobe PMU (DESIGN.md): the probe must say so. */
	if (access("/sys/bus/event_source/devices/kprobe/type", F_OK)) {
		assert_failure_explained(kp, "kprobe");
		ASSERT_STRSTR(str(kp, "cause"), "no kprobe PMU", "kprobe cause");
	}
	err = witness_load(BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, "do_nanosleep");
	if (err) {
		assert_failure_explained(fe, "fentry");
		ASSERT_EQ(json_integer_value(json_object_get(fe, "errno")), -err,
			  "fentry errno as witnessed");
	} else {
		ASSERT_TRUE(is_ok(fe), "fentry works here, the probe must agree");
	}
	err = witness_load(BPF_PROG_TYPE_LSM, BPF_LSM_MAC, "bpf_lsm_file_open");
	if (err) {
		assert_failure_explained(lsm, "lsm");
		ASSERT_EQ(json_integer_value(json_object_get(lsm, "errno")), -err,
			  "lsm errno as witnessed");
	} else {
		ASSERT_TRUE(is_ok(lsm), "LSM works here, the probe must agree");
	}
	/* On this workplace (DESIGN.md) all three fail; say so loudly if that ever changes. */
	ASSERT_FALSE(is_ok(kp) && is_ok(fe) && is_ok(lsm), "kprobe/fentry/lsm all work: update "
							   "DESIGN.md");
}

TEST(probe_maps_helpers_kfuncs)
{
	static const char *const maps[] = { "lpm_trie", "ringbuf", "lru_hash", "percpu_array",
					    "hash" };
	json_t *r = report();
	const json_t *xdp;

	if (!ASSERT_TRUE(r, "probe_run"))
		return;
	for (size_t i = 0; i < ARRAY_SIZE(maps); i++)
		ASSERT_TRUE(is_ok(get(r, "maps", maps[i])), maps[i]);
	xdp = get(r, "helpers", "xdp");
	ASSERT_TRUE(is_ok(json_object_get(xdp, "bpf_tcp_raw_gen_syncookie_ipv4")), "syncookie "
										   "gen4");
	ASSERT_TRUE(is_ok(json_object_get(xdp, "bpf_tcp_raw_check_syncookie_ipv6")), "syncookie "
										     "check6");
	/* DESIGN.md: conntrack kfuncs work here; the probe load-tests them. */
	ASSERT_TRUE(json_is_true(json_object_get(get(r, "kfuncs", "bpf_xdp_ct_lookup"), "load_"
											"tested")),
		    "bpf_xdp_ct_lookup load-tested");
	ASSERT_TRUE(is_ok(get(r, "kfuncs", "bpf_ct_release")), "bpf_ct_release");
}

TEST(probe_capabilities_guard_ready)
{
	json_t *r = report(), *caps, *c;
	size_t i, n = 0;

	if (!ASSERT_TRUE(r, "probe_run"))
		return;
	ASSERT_STREQ(probe_capability_state(r, "guard"), "ready", "guard");
	ASSERT_STREQ(probe_capability_state(r, "agent"), "ready", "agent");
	ASSERT_TRUE(probe_capability_state(r, "nonsense") == NULL, "unknown capability");
	ASSERT_EQ(shared_exit, 0, "exit code with agent and guard ready");
	ASSERT_EQ(json_integer_value(json_object_get(r, "exit_code")), 0,
		  "exit_code in the report");
	caps = probe_capabilities(r);
	if (!ASSERT_TRUE(json_is_array(caps), "capabilities array"))
		return;
	json_array_foreach (caps, i, c) {
		const char *state = str(c, "state");

		n++;
		ASSERT_TRUE(str(c, "name") && str(c, "detail") && str(c, "detail")[0], "name and "
										       "detail");
		ASSERT_TRUE(streq(state, "ready") || streq(state, "degraded") ||
				streq(state, "unavailable"),
			    "state value");
		ASSERT_TRUE(json_is_boolean(json_object_get(c, "enabled")), "enabled is a boolean");
	}
	ASSERT_EQ(n, 8, "eight capabilities");
	/* BPF LSM is missing here: the firewall is ready and says the richer hook is missing. */
	json_array_foreach (caps, i, c) {
		if (streq(str(c, "name"), "egress_firewall") && !is_ok(get(r, "programs", "lsm")))
			ASSERT_STRSTR(str(c, "detail"), "BPF LSM",
				      "egress_firewall mentions the missing hook");
		if (streq(str(c, "name"), "syncookies"))
			ASSERT_FALSE(json_is_true(json_object_get(c, "enabled")), "not "
										  "configurable "
										  "yet");
	}
	json_decref(caps);
}

TEST(probe_guard_generic_mode)
{
	struct aegis_config cfg;
	json_t *r;
	int code = -1;

	memset(&cfg, 0, sizeof(cfg));
	cfg.guard_enabled = true;
	cfg.guard_xdp_mode = XDP_ATTACH_GENERIC;
	r = probe_run(&cfg, &code);
	if (!ASSERT_TRUE(r, "probe_run"))
		return;
	ASSERT_STREQ(probe_capability_state(r, "guard"), "ready", "generic guard");
	ASSERT_EQ(code, 0, "exit code");
	json_decref(r);
}

/* ---- nothing left behind ---------------------------------------------------------------- */

#define MAX_IDS 4096

struct snapshot {
	/*
	 * Ids of programs named aegisp_*: every program the probe loads itself carries that name.
	 * Unnamed ones (libbpf's own feature probes) are left out: any process makes them all the time.
	 */
	__u32 progs[MAX_IDS];
	int n_progs;
	char cgroups[8192]; /* entries of the cgroup2 root, one per line */
	char links[4096];   /* host interfaces */
	char netns[4096];   /* `ip netns` entries (/run/netns) */
	char mounts[4096];  /* tracefs, bpf and securityfs lines of /proc/self/mounts */
	char fds[4096];	    /* this process's open fds */
};

static bool ours(int fd)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return false;
	return !strncmp(info.name, "aegisp_", 7);
}

static void print_prog(__u32 id)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);

	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		fprintf(stderr, "    program id %u: gone by now\n", id);
	else
		fprintf(stderr, "    program id %u: name '%s' type %u\n", id, info.name, info.type);
	if (fd >= 0)
		close(fd);
}

static void snap_progs(struct snapshot *s)
{
	__u32 id = 0;

	s->n_progs = 0;
	while (!bpf_prog_get_next_id(id, &id) && s->n_progs < MAX_IDS) {
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (ours(fd))
			s->progs[s->n_progs++] = id;
		close(fd);
	}
}

/* The entries of a directory whose names start with prefix ("" for all). */
static void snap_dir(const char *path, const char *prefix, char *buf, size_t len)
{
	DIR *d = opendir(path);
	struct dirent *e;

	buf[0] = '\0';
	if (!d)
		return;
	while ((e = readdir(d)))
		if ((e->d_type == DT_DIR || e->d_type == DT_REG || e->d_type == DT_LNK ||
		     e->d_type == DT_UNKNOWN) && !strncmp(e->d_name, prefix, strlen(prefix)))
			snprintf(buf + strlen(buf), len - strlen(buf), "%s\n", e->d_name);
	closedir(d);
}

static void snap_links(char *buf, size_t len)
{
	struct if_nameindex *ifs = if_nameindex(), *i;

	buf[0] = '\0';
	for (i = ifs; i && i->if_index; i++)
		if (!strncmp(i->if_name, "aegisp", 6))
			snprintf(buf + strlen(buf), len - strlen(buf), "%u:%s\n", i->if_index, i->if_name);
	if (ifs)
		if_freenameindex(ifs);
}

static void snap_mounts(char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char line[512];

	buf[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " tracefs ") || strstr(line, " bpf ") ||
		    strstr(line, " securityfs "))
			snprintf(buf + strlen(buf), len - strlen(buf), "%s", line);
	fclose(f);
}

/*
 * What the probe makes: programs and maps named aegisp_*, veths aegisp0/1, cgroups
 * aegis-probe.*, mounts; and this process's fds. Only those names, so that other tests and
 * agents running on the host at the same time do not count.
 */
static void snapshot(struct snapshot *s)
{
	char cg[256];

	snap_progs(s);
	if (cgroup2_find(cg, sizeof(cg)) == 0)
		snap_dir(cg, "aegis-probe", s->cgroups, sizeof(s->cgroups));
	snap_links(s->links, sizeof(s->links));
	snap_dir("/run/netns", "aegis-probe", s->netns, sizeof(s->netns));
	snap_mounts(s->mounts, sizeof(s->mounts));
	snap_dir("/proc/self/fd", "", s->fds, sizeof(s->fds));
}

/* Programs of `after` that `before` did not have: 0 once the kernel has freed the probe's. */
static int new_progs(const struct snapshot *before, const struct snapshot *after);

static bool has_id(const struct snapshot *s, __u32 id)
{
	for (int i = 0; i < s->n_progs; i++)
		if (s->progs[i] == id)
			return true;
	return false;
}

static int new_progs(const struct snapshot *before, const struct snapshot *after)
{
	int n = 0;

	for (int i = 0; i < after->n_progs; i++)
		n += !has_id(before, after->progs[i]);
	return n;
}

TEST(probe_leaves_nothing_behind)
{
	struct snapshot *before = calloc(1, sizeof(*before)), *after = calloc(1, sizeof(*after));
	const char *dir;
	json_t *r = NULL;
	int code;

	if (!ASSERT_TRUE(before && after, "alloc"))
		goto out;
	snapshot(before);
	r = probe_run(NULL, &code);
	if (!ASSERT_TRUE(r, "probe_run"))
		goto out;
	/*
	 * A detached TC filter's program is freed after an RCU grace period and a netns's after
	 * its asynchronous teardown: give the kernel a moment, as long as it needs up to 5 s.
	 */
	for (int tries = 0; tries < 50; tries++) {
		snapshot(after);
		if (!new_progs(before, after))
			break;
		usleep(100000);
	}
	for (int i = 0; i < after->n_progs; i++)
		if (!ASSERT_TRUE(has_id(before, after->progs[i]), "no program of the probe left "
								  "loaded"))
			print_prog(after->progs[i]);
	ASSERT_STREQ(after->cgroups, before->cgroups, "cgroup2 root entries");
	ASSERT_STREQ(after->links, before->links, "host interfaces");
	ASSERT_STREQ(after->netns, before->netns, "ip netns");
	ASSERT_STREQ(after->mounts, before->mounts, "tracefs/bpffs/securityfs mounts");
	ASSERT_STREQ(after->fds, before->fds, "no fd left open");
	dir = json_string_value(get(get(r, "system", "mounts"), "cgroup2", "probe_cgroup"));
	if (ASSERT_TRUE(dir, "probe_cgroup reported"))
		ASSERT_TRUE(access(dir, F_OK) && errno == ENOENT, "temporary cgroup removed");
	ASSERT_EQ(link_ifindex("aegisp0"), -ENODEV, "probe veth not in the host");
out:
	json_decref(r);
	free(before);
	free(after);
}

struct tracefs_child {
	bool was_mounted; /* tracefs in the private namespace before the probe */
	bool mounted_by_probe, unmounted_by_probe, report_ok;
	char before[4096], after[4096];
};

/* In a private mount namespace without tracefs, the probe mounts it and takes it away again. */
static int tracefs_child(void *arg, void *result, size_t len)
{
	struct tracefs_child *t = result;
	const json_t *tfs;
	char path[256];
	json_t *r;
	int code;

	while (mount_find("tracefs", path, sizeof(path)) == 0)
		if (umount2(path, MNT_DETACH))
			return -errno;
	t->was_mounted = mount_find("tracefs", path, sizeof(path)) == 0;
	snap_mounts(t->before, sizeof(t->before));
	r = probe_run(NULL, &code);
	if (!r)
		return -ENOMEM;
	snap_mounts(t->after, sizeof(t->after));
	tfs = json_object_get(get(r, "system", "mounts"), "tracefs");
	t->mounted_by_probe = json_is_true(json_object_get(tfs, "mounted_by_probe"));
	t->unmounted_by_probe = json_is_true(json_object_get(tfs, "unmounted_by_probe"));
	t->report_ok = is_ok(get(r, "programs", "tracepoint"));
	json_decref(r);
	return 0;
}

TEST(probe_tracefs_mounted_and_unmounted)
{
	struct tracefs_child t;
	int err = ns_child_run(CLONE_NEWNS, tracefs_child, NULL, &t, sizeof(t), 10000);

	if (!ASSERT_OK(err, "child"))
		return;
	ASSERT_FALSE(t.was_mounted, "tracefs gone in the private namespace");
	ASSERT_TRUE(t.mounted_by_probe, "probe mounted tracefs");
	ASSERT_TRUE(t.unmounted_by_probe, "probe unmounted tracefs");
	ASSERT_TRUE(t.report_ok, "tracepoint attach with the probe's tracefs");
	ASSERT_STREQ(t.after, t.before, "mount table unchanged");
}

struct ro_child {
	int code;
	char agent[32];
	char reason[256];
};

/* A read-only bpffs makes pinning fail: the agent is unavailable and the exit code says so. */
static int ro_bpffs_child(void *arg, void *result, size_t len)
{
	struct ro_child *t = result;
	const char *s;
	char path[256];
	json_t *r;

	while (mount_find("bpf", path, sizeof(path)) == 0)
		if (umount2(path, MNT_DETACH))
			return -errno;
	if (mount("bpf", BPFFS_DEFAULT, "bpf", MS_RDONLY, NULL))
		return -errno;
	r = probe_run(NULL, &t->code);
	if (!r)
		return -ENOMEM;
	s = probe_capability_state(r, "agent");
	snprintf(t->agent, sizeof(t->agent), "%s", s ? s : "");
	s = json_string_value(json_object_get(r, "exit_reason"));
	snprintf(t->reason, sizeof(t->reason), "%s", s ? s : "");
	json_decref(r);
	return 0;
}

TEST(probe_exit_code_unavailable)
{
	struct ro_child t = { 0 };
	int err = ns_child_run(CLONE_NEWNS, ro_bpffs_child, NULL, &t, sizeof(t), 10000);

	if (!ASSERT_OK(err, "child"))
		return;
	ASSERT_STREQ(t.agent, "unavailable", "agent without pinning");
	ASSERT_EQ(t.code, 1, "exit code");
	ASSERT_STRSTR(t.reason, "agent", "exit_reason names the capability");
}

TEST(probe_json_keys_stable)
{
	static const char *const keys[] = { "schema",	   "aegis_version", "kernel",
					    "duration_ms", "system",	    "programs",
					    "tracepoints", "maps",	    "helpers",
					    "kfuncs",	   "notes",	    "capabilities",
					    "exit_code",   "exit_reason" };
	json_t *r = report();

	if (!ASSERT_TRUE(r, "probe_run"))
		return;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		ASSERT_TRUE(json_object_get(r, keys[i]), keys[i]);
	ASSERT_EQ(json_integer_value(json_object_get(r, "schema")), PROBE_SCHEMA, "schema");
	ASSERT_TRUE(json_integer_value(json_object_get(r, "duration_ms")) < 2000, "well under 2 s");
}

/* ---- netns helpers ---------------------------------------------------------------------- */

struct veth_child {
	int ifindex, peer, dup_err, del_err, after_del;
	char netns[64];
};

static int veth_child(void *arg, void *result, size_t len)
{
	struct veth_child *v = result;
	int nl = rtnl_open(), err;
	ssize_t n;

	if (nl < 0)
		return nl;
	n = readlink("/proc/self/ns/net", v->netns, sizeof(v->netns) - 1);
	err = rtnl_veth_add(nl, "aegist0", "aegist1");
	if (!err) {
		v->ifindex = link_ifindex("aegist0");
		v->peer = link_ifindex("aegist1");
		err = v->ifindex > 0 ? rtnl_link_set_up(nl, v->ifindex, 1) : v->ifindex;
	}
	v->dup_err = rtnl_veth_add(nl, "aegist0", "aegist2");
	v->del_err = v->ifindex > 0 ? rtnl_link_del(nl, v->ifindex) : -ENODEV;
	v->after_del = link_ifindex("aegist1");
	close(nl);
	return n < 0 ? -EIO : err;
}

TEST(netns_veth_in_child)
{
	struct veth_child v = { 0 };
	char mine[64] = "";
	int err = netns_run(veth_child, NULL, &v, sizeof(v), 5000);

	if (!ASSERT_OK(err, "child"))
		return;
	ASSERT_GE(v.ifindex, 1, "veth ifindex");
	ASSERT_GE(v.peer, 1, "peer ifindex");
	ASSERT_EQ(v.dup_err, -EEXIST, "second veth with the same name");
	ASSERT_OK(v.del_err, "rtnl_link_del");
	ASSERT_EQ(v.after_del, -ENODEV, "peer deleted with its veth");
	if (readlink("/proc/self/ns/net", mine, sizeof(mine) - 1) > 0)
		ASSERT_FALSE(streq(mine, v.netns), "the child ran in another netns");
	ASSERT_EQ(link_ifindex("aegist0"), -ENODEV, "nothing in the host netns");
}

/* The child moves the peer into the host: when the child's netns dies, the peer must go too. */
static int leak_child(void *arg, void *result, size_t len)
{
	char path[64];
	int nl = rtnl_open(), err, host, peer;

	if (nl < 0)
		return nl;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", *(int *)arg);
	host = open(path, O_RDONLY | O_CLOEXEC);
	err = host < 0 ? -errno : rtnl_veth_add(nl, "aegist3", "aegist4");
	peer = err ? err : link_ifindex("aegist4");
	if (!err)
		err = peer < 0 ? peer : rtnl_link_set_netns_fd(nl, peer, host);
	if (host >= 0)
		close(host);
	close(nl);
	return err;
}

TEST(netns_interfaces_gone_after_child)
{
	int parent = (int)getpid(), err, idx = 0;
	char dummy;
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	err = netns_run(leak_child, &parent, &dummy, sizeof(dummy), 5000);
	if (!ASSERT_OK(err, "child"))
		return;
	/* Namespace teardown runs from a workqueue: wait for it, up to 3 s. */
	for (int i = 0; i < 300; i++) {
		idx = link_ifindex("aegist4");
		if (idx == -ENODEV)
			break;
		nanosleep(&ts, NULL);
	}
	ASSERT_EQ(idx, -ENODEV, "veth end in the host removed with the child's netns");
}

static int sleepy_child(void *arg, void *result, size_t len)
{
	sleep(10);
	return 0;
}

static int failing_child(void *arg, void *result, size_t len)
{
	*(int *)result = 42;
	return -EXDEV;
}

static int dying_child(void *arg, void *result, size_t len)
{
	_exit(3);
}

TEST(netns_child_errors)
{
	struct timespec t0, t1;
	int res = 0, err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = netns_run(sleepy_child, NULL, &res, sizeof(res), 200);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ASSERT_EQ(err, -ETIMEDOUT, "timeout");
	ASSERT_TRUE(t1.tv_sec - t0.tv_sec < 2, "killed after the timeout");
	err = netns_run(failing_child, NULL, &res, sizeof(res), 2000);
	ASSERT_EQ(err, -EXDEV, "child's error returned");
	ASSERT_EQ(res, 42, "result delivered with the error");
	ASSERT_EQ(netns_run(dying_child, NULL, &res, sizeof(res), 2000), -ECHILD,
		  "child died without a result");
	ASSERT_EQ(ns_child_run(0, failing_child, NULL, &res, sizeof(res), 2000), -EXDEV,
		  "no namespace flags");
}

/* Runs last among the probe tests (registration order): frees the shared report. */
TEST(probe_zz_cleanup)
{
	json_decref(shared_report);
	shared_report = NULL;
}
