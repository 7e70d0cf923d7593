// SPDX-License-Identifier: GPL-2.0-only
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/stat.h>

#include "log.h"
#include "policy_attach.h"
#include "policy_sel.h"
#include "util.h"

static const struct {
	const char *prog, *suffix;
	enum bpf_attach_type type;
} cg_progs[CG_PROG_COUNT] = {
	[CG_EGRESS] = { "policy_cg_egress", "egress", BPF_CGROUP_INET_EGRESS },
	[CG_INGRESS] = { "policy_cg_ingress", "ingress", BPF_CGROUP_INET_INGRESS },
	[CG_CONNECT4] = { "policy_connect4", "connect4", BPF_CGROUP_INET4_CONNECT },
	[CG_CONNECT6] = { "policy_connect6", "connect6", BPF_CGROUP_INET6_CONNECT },
	[CG_SENDMSG4] = { "policy_sendmsg4", "sendmsg4", BPF_CGROUP_UDP4_SENDMSG },
	[CG_SENDMSG6] = { "policy_sendmsg6", "sendmsg6", BPF_CGROUP_UDP6_SENDMSG },
	[CG_SOCK_CREATE] = { "policy_sock_create", "sock_create", BPF_CGROUP_INET_SOCK_CREATE },
};

/* ---- hooks of one interface / cgroup ------------------------------------------------------ */

static void tcx_hook(const char *ifname, bool in, char *link, size_t len, struct hook *h)
{
	snprintf(link, len, "tcx_%s_%s", in ? "in" : "out", ifname);
	*h = (struct hook){ HOOK_TCX, in ? "policy_tc_in" : "policy_tc_out", ifname,
			    in ? HOOK_TCX_INGRESS : HOOK_TCX_EGRESS, link };
}

static void cg_hook(const struct policy_att_cgroup *c, int i, char *link, size_t len, struct hook *h)
{
	snprintf(link, len, "cg%llu_%s", (unsigned long long)c->id, cg_progs[i].suffix);
	*h = (struct hook){ HOOK_CGROUP, cg_progs[i].prog, c->path, cg_progs[i].type, link };
}

/* ---- netlink fallback --------------------------------------------------------------------- */

static const char *netlink_record(const char *state_dir, char *buf, size_t len)
{
	snprintf(buf, len, "%s/policy/tc-netlink.json", state_dir);
	return buf;
}

/* /run/netns/NAME of the agent's network namespace, "" when it has none (the host's). */
static void netns_name(char *out, size_t len, uint64_t *ino)
{
	struct stat self, st;
	DIR *dp = opendir("/run/netns");
	struct dirent *de;

	out[0] = '\0';
	*ino = 0;
	if (stat("/proc/self/ns/net", &self))
		return;
	*ino = self.st_ino;
	while (dp && (de = readdir(dp))) {
		char path[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
		if (!stat(path, &st) && st.st_ino == self.st_ino && st.st_dev == self.st_dev) {
			snprintf(out, len, "%s", path);
			break;
		}
	}
	if (dp)
		closedir(dp);
}

/*
 * Records every netlink attachment of a (and of `extra`, those a sync is making), so that
 * --cleanup finds them even if the agent dies right after making them.
 */
static void write_netlink_record(const struct policy_attach *a, const struct policy_att_iface *extra,
				 size_t n_extra)
{
	char path[PATH_MAX], ns[PATH_MAX];
	json_t *arr = json_array();
	uint64_t ino;
	char *text;

	netns_name(ns, sizeof(ns), &ino);
	for (size_t i = 0; i < a->n_ifaces + n_extra; i++) {
		const struct policy_att_iface *x = i < a->n_ifaces ? &a->ifaces[i] : &extra[i - a->n_ifaces];
		bool dup = false;

		for (size_t j = 0; i >= a->n_ifaces && j < a->n_ifaces; j++)
			dup |= streq(a->ifaces[j].name, x->name);
		if (x->netlink && !dup)
			json_array_append_new(arr, json_pack("{s:s, s:i, s:b, s:s, s:I}", "interface",
				x->name, "ifindex", x->ifindex, "qdisc_created", x->qdisc_created, "netns",
				ns, "netns_ino", (json_int_t)ino));
	}
	netlink_record(a->state_dir, path, sizeof(path));
	if (!json_array_size(arr)) {
		unlink(path);
		json_decref(arr);
		return;
	}
	text = json_dumps(arr, JSON_INDENT(2));
	json_decref(arr);
	if (!text || write_file_atomic(path, text, strlen(text), 0600))
		log_once(LOG_LVL_WARN, "tc-netlink-record", "policy: cannot write %s: `aegis agent "
			 "--cleanup` will not find the TC filters to remove", path);
	free(text);
}

/* The clsact qdisc of record (if it was ours before), for the flag to survive a restart. */
static bool recorded_qdisc(const char *state_dir, const char *ifname)
{
	char path[PATH_MAX];
	json_t *arr = json_load_file(netlink_record(state_dir, path, sizeof(path)), 0, NULL), *e;
	bool created = false;
	size_t i;

	json_array_foreach(arr, i, e)
		if (streq(json_string_value(json_object_get(e, "interface")), ifname))
			created = json_is_true(json_object_get(e, "qdisc_created"));
	json_decref(arr);
	return created;
}

static int nl_attach(struct policy_att_iface *x, int fd_in, int fd_out, const char *state_dir)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = x->ifindex, .attach_point = BPF_TC_INGRESS);
	int err = bpf_tc_hook_create(&hook);

	if (err && err != -EEXIST)
		return err;
	x->qdisc_created = !err || recorded_qdisc(state_dir, x->name) || x->qdisc_created;
	for (int in = 1; in >= 0; in--) {
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = POLICY_TC_HANDLE,
				    .priority = POLICY_TC_PRIORITY, .prog_fd = in ? fd_in : fd_out,
				    .flags = BPF_TC_F_REPLACE);

		hook.attach_point = in ? BPF_TC_INGRESS : BPF_TC_EGRESS;
		err = bpf_tc_attach(&hook, &opts);
		if (err)
			return err;
	}
	return 0;
}

/* Removes our filters and, when aegis made it, the clsact qdisc. 0 or the first -errno. */
static int nl_detach(int ifindex, bool qdisc_created)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex);
	int err = 0;

	for (int in = 1; in >= 0; in--) {
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = POLICY_TC_HANDLE,
				    .priority = POLICY_TC_PRIORITY);
		int e;

		hook.attach_point = in ? BPF_TC_INGRESS : BPF_TC_EGRESS;
		e = bpf_tc_detach(&hook, &opts);
		if (e && e != -ENOENT && !err)
			err = e;
	}
	if (qdisc_created) {
		int e;

		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		e = bpf_tc_hook_destroy(&hook);
		if (e && e != -ENOENT && !err)
			err = e;
	}
	return err;
}

/* ---- one interface ---------------------------------------------------------------------- */

static bool want_tcx(struct policy_attach *a, const struct aegis_config *cfg)
{
	return cfg->policy_tc_attach == POLICY_TC_TCX ||
	       (cfg->policy_tc_attach == POLICY_TC_AUTO && !a->tcx_missing);
}

static int iface_up(struct policy_attach *a, struct policy_kern *k, const struct aegis_config *cfg,
		    struct policy_att_iface *x, char *err, size_t len)
{
	char lin[64], lout[64];
	struct hook hin, hout;
	int e;

	if (want_tcx(a, cfg)) {
		tcx_hook(x->name, true, lin, sizeof(lin), &hin);
		tcx_hook(x->name, false, lout, sizeof(lout), &hout);
		e = hook_attach(&k->obj, &hin, &x->in);
		if (!e)
			e = hook_attach(&k->obj, &hout, &x->out);
		if (!e)
			return 0;
		hook_detach(&k->obj, &hin, &x->in, &actor_config);
		if (cfg->policy_tc_attach == POLICY_TC_TCX || (e != -EINVAL && e != -EOPNOTSUPP)) {
			snprintf(err, len, "interface %s: cannot attach the TC programs through tcx: %s",
				 x->name, errstr(e));
			return e;
		}
		a->tcx_missing = true;
		log_once(LOG_LVL_WARN, "policy-no-tcx", "policy: this kernel has no tcx links (%s); "
			 "the TC programs go on a clsact qdisc through netlink instead, removed by "
			 "`aegis agent --cleanup` from %s/policy/tc-netlink.json", errstr(e), a->state_dir);
	}
	e = nl_attach(x, bpfobj_prog_fd(&k->obj, "policy_tc_in"), bpfobj_prog_fd(&k->obj, "policy_tc_out"),
		      a->state_dir);
	audit_log(&actor_config, "attach", x->name, e, NULL,
		  json_pack("{s:s, s:b}", "hook", "tc_clsact", "qdisc_created", x->qdisc_created));
	if (e) {
		nl_detach(x->ifindex, x->qdisc_created);
		snprintf(err, len, "interface %s: cannot attach the TC programs to a clsact qdisc: %s",
			 x->name, errstr(e));
		return e;
	}
	x->netlink = true;
	return 0;
}

static void iface_down(struct policy_attach *a, struct policy_kern *k, struct policy_att_iface *x)
{
	char lin[64], lout[64];
	struct hook hin, hout;

	if (x->netlink) {
		int e = nl_detach(x->ifindex, x->qdisc_created);

		audit_log(&actor_config, "detach", x->name, e, NULL, json_pack("{s:s}", "hook", "tc_clsact"));
		x->netlink = false;
		write_netlink_record(a, NULL, 0);
		return;
	}
	tcx_hook(x->name, true, lin, sizeof(lin), &hin);
	tcx_hook(x->name, false, lout, sizeof(lout), &hout);
	hook_detach(&k->obj, &hin, &x->in, &actor_config);
	hook_detach(&k->obj, &hout, &x->out, &actor_config);
}

static int cgroup_up(struct policy_kern *k, struct policy_att_cgroup *c, char *err, size_t len)
{
	for (int i = 0; i < CG_PROG_COUNT; i++) {
		char link[64];
		struct hook h;
		int e;

		cg_hook(c, i, link, sizeof(link), &h);
		e = hook_attach(&k->obj, &h, &c->links[i]);
		if (e) {
			snprintf(err, len, "cgroup %s: cannot attach %s: %s", c->path, cg_progs[i].prog,
				 errstr(e));
			return e;
		}
	}
	return 0;
}

static void cgroup_down(struct policy_kern *k, struct policy_att_cgroup *c)
{
	for (int i = 0; i < CG_PROG_COUNT; i++) {
		char link[64];
		struct hook h;

		cg_hook(c, i, link, sizeof(link), &h);
		hook_detach(&k->obj, &h, &c->links[i], &actor_config);
	}
}

/* ---- the wanted set ----------------------------------------------------------------------- */

struct want {
	struct policy_att_iface *ifaces;
	size_t n_ifaces;
	struct policy_att_cgroup *cgroups;
	size_t n_cgroups;
};

static int want_build(const struct policy_selection *const *sels, size_t n, const struct aegis_config *cfg,
		      struct want *w)
{
	struct policy_selection all = {};
	int err = 0;

	memset(w, 0, sizeof(*w));
	for (size_t s = 0; s < n; s++) {
		for (size_t i = 0; cfg->policy_tc && i < sels[s]->n_ifaces; i++) {
			const struct policy_sel_iface *x = &sels[s]->ifaces[i];
			bool dup = false;

			for (size_t j = 0; j < w->n_ifaces; j++)
				dup |= streq(w->ifaces[j].name, x->name);
			if (dup)
				continue;
			w->ifaces = realloc(w->ifaces, (w->n_ifaces + 1) * sizeof(*w->ifaces));
			if (!w->ifaces)
				return -ENOMEM;
			memset(&w->ifaces[w->n_ifaces], 0, sizeof(*w->ifaces));
			snprintf(w->ifaces[w->n_ifaces].name, IF_NAMESIZE, "%s", x->name);
			w->ifaces[w->n_ifaces++].ifindex = x->ifindex;
		}
		for (size_t i = 0; cfg->policy_cgroup && i < sels[s]->n_cgroups; i++) {
			bool dup = false;

			for (size_t j = 0; j < all.n_cgroups; j++)
				dup |= all.cgroups[j].id == sels[s]->cgroups[i].id;
			if (dup)
				continue;
			all.cgroups = realloc(all.cgroups, (all.n_cgroups + 1) * sizeof(*all.cgroups));
			if (!all.cgroups)
				return -ENOMEM;
			all.cgroups[all.n_cgroups++] = sels[s]->cgroups[i];
		}
	}
	/* A program on a cgroup runs for those below it: only the outermost get them. */
	for (size_t i = 0; i < all.n_cgroups && !err; i++) {
		struct policy_att_cgroup *c;

		if (!policy_cgroup_is_outermost(&all, i))
			continue;
		w->cgroups = realloc(w->cgroups, (w->n_cgroups + 1) * sizeof(*w->cgroups));
		if (!w->cgroups) {
			err = -ENOMEM;
			break;
		}
		c = &w->cgroups[w->n_cgroups++];
		memset(c, 0, sizeof(*c));
		snprintf(c->path, sizeof(c->path), "%s", all.cgroups[i].path);
		c->id = all.cgroups[i].id;
		for (int j = 0; j < CG_PROG_COUNT; j++)
			c->links[j] = HOOK_LINK_NONE;
	}
	free(all.cgroups);
	return err;
}

static ssize_t find_iface(const struct policy_att_iface *v, size_t n, const struct policy_att_iface *x)
{
	for (size_t i = 0; i < n; i++)
		if (streq(v[i].name, x->name) && v[i].ifindex == x->ifindex)
			return (ssize_t)i;
	return -1;
}

static ssize_t find_cgroup(const struct policy_att_cgroup *v, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].id == id)
			return (ssize_t)i;
	return -1;
}

/* Pins of links an earlier run made that nothing wants now (the agent restarted meanwhile). */
static void drop_stray_pins(struct policy_kern *k, const struct want *w)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *dp;

	if (bpfobj_link_pin_path(&k->obj, "", dir, sizeof(dir)) || !(dp = opendir(dir)))
		return;
	while ((de = readdir(dp))) {
		char pin[PATH_MAX * 2];
		bool keep = false;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		for (size_t i = 0; i < w->n_ifaces && !keep; i++)
			for (int in = 0; in < 2; in++) {
				char link[64];
				struct hook h;

				tcx_hook(w->ifaces[i].name, in, link, sizeof(link), &h);
				keep |= streq(link, de->d_name);
			}
		for (size_t i = 0; i < w->n_cgroups && !keep; i++)
			for (int j = 0; j < CG_PROG_COUNT; j++) {
				char link[64];
				struct hook h;

				cg_hook(&w->cgroups[i], j, link, sizeof(link), &h);
				keep |= streq(link, de->d_name);
			}
		if (keep)
			continue;
		snprintf(pin, sizeof(pin), "%s/%s", dir, de->d_name);
		fd = bpf_obj_get(pin);
		if (fd >= 0) {
			bpf_link_detach(fd);
			close(fd);
		}
		unlink(pin);
		audit_log(&actor_config, "detach", pin, 0, NULL, json_pack("{s:s}", "why", "no policy selects it"));
	}
	closedir(dp);
}

int policy_attach_sync(struct policy_attach *a, struct policy_kern *k, const struct aegis_config *cfg,
		       const struct policy_selection *const *sels, size_t n, char *err, size_t len)
{
	struct want w;
	bool *taken_if = NULL, *taken_cg = NULL, *fresh_if = NULL, *fresh_cg = NULL;
	int e = want_build(sels, n, cfg, &w);

	if (!e) {
		taken_if = calloc(a->n_ifaces + 1, sizeof(bool));
		taken_cg = calloc(a->n_cgroups + 1, sizeof(bool));
		fresh_if = calloc(w.n_ifaces + 1, sizeof(bool));
		fresh_cg = calloc(w.n_cgroups + 1, sizeof(bool));
		if (!taken_if || !taken_cg || !fresh_if || !fresh_cg)
			e = -ENOMEM;
	}
	if (e) {
		snprintf(err, len, "out of memory");
		goto out;
	}
	/* What stays keeps its links; what is new is attached (or adopted from a pin). */
	for (size_t i = 0; i < w.n_ifaces && !e; i++) {
		ssize_t j = find_iface(a->ifaces, a->n_ifaces, &w.ifaces[i]);

		if (j >= 0) {
			w.ifaces[i] = a->ifaces[j];
			taken_if[j] = true;
			continue;
		}
		w.ifaces[i].in = w.ifaces[i].out = HOOK_LINK_NONE;
		fresh_if[i] = true;
		e = iface_up(a, k, cfg, &w.ifaces[i], err, len);
		if (!e && w.ifaces[i].netlink)
			write_netlink_record(a, w.ifaces, i + 1);
	}
	for (size_t i = 0; i < w.n_cgroups && !e; i++) {
		ssize_t j = find_cgroup(a->cgroups, a->n_cgroups, w.cgroups[i].id);

		if (j >= 0) {
			w.cgroups[i] = a->cgroups[j];
			taken_cg[j] = true;
			continue;
		}
		fresh_cg[i] = true;
		e = cgroup_up(k, &w.cgroups[i], err, len);
	}
	if (e) {
		/* Undo what this call attached; what was there stays as it was. */
		for (size_t i = 0; i < w.n_ifaces; i++)
			if (fresh_if[i])
				iface_down(a, k, &w.ifaces[i]);
		for (size_t i = 0; i < w.n_cgroups; i++)
			if (fresh_cg[i])
				cgroup_down(k, &w.cgroups[i]);
		free(w.ifaces);
		free(w.cgroups);
		goto out;
	}
	for (size_t j = 0; j < a->n_ifaces; j++)
		if (!taken_if[j])
			iface_down(a, k, &a->ifaces[j]);
	for (size_t j = 0; j < a->n_cgroups; j++)
		if (!taken_cg[j])
			cgroup_down(k, &a->cgroups[j]);
	free(a->ifaces);
	free(a->cgroups);
	a->ifaces = w.ifaces;
	a->n_ifaces = w.n_ifaces;
	a->cgroups = w.cgroups;
	a->n_cgroups = w.n_cgroups;
	drop_stray_pins(k, &w);
	write_netlink_record(a, NULL, 0);
out:
	free(taken_if);
	free(taken_cg);
	free(fresh_if);
	free(fresh_cg);
	return e;
}

void policy_attach_release(struct policy_attach *a)
{
	for (size_t i = 0; i < a->n_ifaces; i++) {
		hook_release(&a->ifaces[i].in);
		hook_release(&a->ifaces[i].out);
	}
	for (size_t i = 0; i < a->n_cgroups; i++)
		for (int j = 0; j < CG_PROG_COUNT; j++)
			hook_release(&a->cgroups[i].links[j]);
	free(a->ifaces);
	free(a->cgroups);
	a->ifaces = NULL;
	a->cgroups = NULL;
	a->n_ifaces = a->n_cgroups = 0;
}

void policy_attach_detach_all(struct policy_attach *a, struct policy_kern *k)
{
	struct want none = {};

	for (size_t i = 0; i < a->n_ifaces; i++)
		iface_down(a, k, &a->ifaces[i]);
	for (size_t i = 0; i < a->n_cgroups; i++)
		cgroup_down(k, &a->cgroups[i]);
	free(a->ifaces);
	free(a->cgroups);
	a->ifaces = NULL;
	a->cgroups = NULL;
	a->n_ifaces = a->n_cgroups = 0;
	drop_stray_pins(k, &none);
	write_netlink_record(a, NULL, 0);
}

size_t policy_attach_count(const struct policy_attach *a)
{
	return a->n_ifaces * 2 + a->n_cgroups * CG_PROG_COUNT;
}

json_t *policy_attach_json(const struct policy_attach *a, const struct policy_kern *k, const char *prog)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < a->n_ifaces; i++) {
		const struct policy_att_iface *x = &a->ifaces[i];
		bool in = streq(prog, "policy_tc_in");
		char link[64];
		struct hook h;

		if (!in && !streq(prog, "policy_tc_out"))
			break;
		if (x->netlink) {
			json_array_append_new(arr, json_pack("{s:s, s:s, s:i, s:s, s:i, s:i}", "hook",
				"tc_clsact", "interface", x->name, "ifindex", x->ifindex, "direction",
				in ? "ingress" : "egress", "handle", POLICY_TC_HANDLE, "priority",
				POLICY_TC_PRIORITY));
			continue;
		}
		tcx_hook(x->name, in, link, sizeof(link), &h);
		json_array_append_new(arr, hook_json(&k->obj, &h, in ? &x->in : &x->out));
	}
	for (size_t i = 0; i < a->n_cgroups; i++)
		for (int j = 0; j < CG_PROG_COUNT; j++) {
			char link[64];
			struct hook h;

			if (!streq(prog, cg_progs[j].prog))
				continue;
			cg_hook(&a->cgroups[i], j, link, sizeof(link), &h);
			json_array_append_new(arr, hook_json(&k->obj, &h, &a->cgroups[i].links[j]));
		}
	return arr;
}

/* ---- --cleanup ---------------------------------------------------------------------------- */

/* Enters the network namespace recorded for a filter; *home gets ours back. -ENOENT: it is gone. */
static int enter_netns(json_t *e, int *home)
{
	const char *ns = json_string_value(json_object_get(e, "netns"));
	uint64_t ino = (uint64_t)json_integer_value(json_object_get(e, "netns_ino"));
	struct stat st;
	int fd, err = 0;

	*home = -1;
	if (!ns || !*ns)
		return 0;
	fd = open(ns, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	if (fstat(fd, &st) || st.st_ino != ino) {
		close(fd);
		return -ENOENT;	/* a namespace of the same name, not the one the filter was made in */
	}
	*home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*home < 0 || setns(fd, CLONE_NEWNET))
		err = -errno;
	close(fd);
	return err;
}

int policy_attach_cleanup_netlink(const char *state_dir)
{
	char path[PATH_MAX];
	json_t *arr = json_load_file(netlink_record(state_dir, path, sizeof(path)), 0, NULL), *e;
	int removed = 0;
	size_t i;

	if (!arr)
		return access(path, F_OK) ? 0 : -EINVAL;
	json_array_foreach(arr, i, e) {
		const char *ifname = json_string_value(json_object_get(e, "interface"));
		int home, err = enter_netns(e, &home), ifindex;

		if (err == -ENOENT || !ifname)
			continue;	/* the namespace, and its interfaces with it, are gone */
		if (err) {
			pr_warn_errno(err, "policy: cannot enter the network namespace of %s", ifname);
			continue;
		}
		ifindex = (int)if_nametoindex(ifname);
		if (ifindex && ifindex == json_integer_value(json_object_get(e, "ifindex"))) {
			err = nl_detach(ifindex, json_is_true(json_object_get(e, "qdisc_created")));
			audit_log(&actor_agent, "detach", ifname, err, NULL,
				  json_pack("{s:s, s:b}", "hook", "tc_clsact", "qdisc_removed",
					    json_is_true(json_object_get(e, "qdisc_created"))));
			if (!err)
				removed++;
		}
		if (home >= 0) {
			if (setns(home, CLONE_NEWNET))
				pr_warn_errno(-errno, "policy: cannot go back to the agent's network namespace");
			close(home);
		}
	}
	json_decref(arr);
	unlink(path);
	return removed;
}
