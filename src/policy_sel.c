// SPDX-License-Identifier: GPL-2.0-only
/*
 * What a policy file selects on this host: its interfaces (in the agent's network namespace) and
 * cgroups (below the cgroup v2 mount) resolved to ifindexes and cgroup ids, at apply time, with
 * every problem at the place in the file that named it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "mounts.h"
#include "policy_sel.h"
#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

int policy_cgroup_id(const char *path, uint64_t *id)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh.handle_bytes = sizeof(uint64_t) };
	struct statfs sfs;
	int mount_id;

	if (statfs(path, &sfs))
		return -errno;
	if (sfs.f_type != CGROUP2_SUPER_MAGIC)
		return -ENOTDIR;
	/* A cgroup v2 directory's file handle is its id, what bpf_skb_cgroup_id() returns. */
	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0))
		return -errno;
	*id = h.id;
	return 0;
}

/* selector.cgroups[i] as an absolute path below the cgroup v2 mount. */
static int cgroup_path(const char *mount, const char *written, char *out, size_t len)
{
	size_t ml = strlen(mount);
	int n;

	if (written[0] == '/') {
		if (strncmp(written, mount, ml) || (written[ml] && written[ml] != '/'))
			return -EXDEV;
		n = snprintf(out, len, "%s", written);
	} else {
		n = snprintf(out, len, "%s/%s", mount, written);
	}
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	/* One spelling per cgroup, so that duplicates and nesting are seen. */
	for (size_t i = strlen(out); i > ml && out[i - 1] == '/'; i--)
		out[i - 1] = '\0';
	return 0;
}

static void perr(struct diags *d, const char *file, const struct policy_pos *at, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void perr(struct diags *d, const char *file, const struct policy_pos *at, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diags_add(d, file, at->line, at->col, at->key, "%s", msg);
}

static int grow(void **v, size_t n, size_t size)
{
	void *p = realloc(*v, (n + 1) * size);

	if (!p)
		return -ENOMEM;
	*v = p;
	return 0;
}

static int add_iface(struct policy_selection *sel, const char *name, uint32_t policy,
		     const struct policy_doc *doc, const struct policy_pos *at, struct diags *d)
{
	struct policy_sel_iface *x;
	int ifindex = (int)if_nametoindex(name);

	if (!ifindex) {
		perr(d, doc->source, at, "interface '%s' does not exist (in the agent's network namespace)", name);
		return -ENODEV;
	}
	for (size_t i = 0; i < sel->n_ifaces; i++)
		if (sel->ifaces[i].ifindex == ifindex) {
			perr(d, doc->source, at, "interface '%s' is already selected by policy '%s': an "
			     "interface belongs to one policy", name, doc->policies[sel->ifaces[i].rs / 2].name);
			return -EEXIST;
		}
	if (grow((void **)&sel->ifaces, sel->n_ifaces, sizeof(*sel->ifaces)))
		return -ENOMEM;
	x = &sel->ifaces[sel->n_ifaces++];
	memset(x, 0, sizeof(*x));
	snprintf(x->name, sizeof(x->name), "%s", name);
	x->ifindex = ifindex;
	x->rs = policy * 2 + POLICY_DIR_INGRESS;	/* the ruleset once compiled: policy_selection_assign() */
	return 0;
}

static int add_cgroup(struct policy_selection *sel, const char *mount, const char *written,
		      uint32_t policy, const struct policy_doc *doc, const struct policy_pos *at,
		      struct diags *d)
{
	struct policy_sel_cgroup *x;
	char path[PATH_MAX];
	uint64_t id;
	int err = cgroup_path(mount, written, path, sizeof(path));

	if (err == -EXDEV) {
		perr(d, doc->source, at, "'%s' is not below the cgroup v2 mount %s: write the path "
		     "relative to it (system.slice/nginx.service) or under it", written, mount);
		return err;
	}
	if (!err)
		err = policy_cgroup_id(path, &id);
	if (err) {
		perr(d, doc->source, at, "cgroup %s: %s", path, err == -ENOTDIR ? "not a cgroup v2 directory" :
		     strerror(-err));
		return err;
	}
	for (size_t i = 0; i < sel->n_cgroups; i++)
		if (sel->cgroups[i].id == id) {
			perr(d, doc->source, at, "cgroup %s is already selected by policy '%s': a cgroup "
			     "belongs to one policy (a policy on a cgroup inside it wins there)", path,
			     doc->policies[sel->cgroups[i].rs / 2].name);
			return -EEXIST;
		}
	if (grow((void **)&sel->cgroups, sel->n_cgroups, sizeof(*sel->cgroups)))
		return -ENOMEM;
	x = &sel->cgroups[sel->n_cgroups++];
	memset(x, 0, sizeof(*x));
	snprintf(x->path, sizeof(x->path), "%s", path);
	x->id = id;
	x->rs = policy * 2 + POLICY_DIR_EGRESS;
	return 0;
}

int policy_resolve(const struct policy_doc *doc, char *const *default_ifaces, size_t n_default,
		   bool (*applies)[2], struct policy_selection *sel, struct diags *d)
{
	char mount[PATH_MAX];
	bool have_mount = cgroup2_find(mount, sizeof(mount)) == 0;
	int err = 0;

	memset(sel, 0, sizeof(*sel));
	for (uint32_t i = 0; i < doc->n; i++) {
		const struct policy_def *p = &doc->policies[i];
		bool own = p->n_ifaces > 0, defaults = !own && !p->n_cgroups && !p->host;

		/* A policy that selects nothing takes the agent's interfaces (policy.interfaces, --iface). */
		if (defaults && !n_default) {
			perr(d, doc->source, &p->selector_at, "policy '%s' selects nothing: give "
			     "selector.interfaces, selector.cgroups or selector.host, or start the agent "
			     "with --iface (policy.interfaces)", p->name);
			err = err ? err : -EINVAL;
		}
		applies[i][POLICY_DIR_INGRESS] = own || (defaults && n_default);
		applies[i][POLICY_DIR_EGRESS] = p->n_cgroups > 0 || p->host;
		for (size_t j = 0; j < (own ? p->n_ifaces : defaults ? n_default : 0); j++) {
			int e = add_iface(sel, own ? p->ifaces[j] : default_ifaces[j], i, doc,
					  own ? &p->iface_at[j] : &p->selector_at, d);

			err = err ? err : e;
		}
		if ((p->n_cgroups || p->host) && !have_mount) {
			perr(d, doc->source, &p->selector_at, "no cgroup v2 mount on this host: egress "
			     "policies need one");
			err = err ? err : -ENOENT;
			continue;
		}
		for (size_t j = 0; j < p->n_cgroups; j++) {
			int e = add_cgroup(sel, mount, p->cgroups[j], i, doc, &p->cgroup_at[j], d);

			err = err ? err : e;
		}
		if (p->host) {
			int e = add_cgroup(sel, mount, mount, i, doc, &p->selector_at, d);

			err = err ? err : e;
		}
	}
	if (err)
		policy_selection_free(sel);
	return err;
}

int policy_selection_assign(struct policy_selection *sel, const struct policy_image *img)
{
	for (size_t n = 0; n < sel->n_ifaces + sel->n_cgroups; n++) {
		uint32_t *rs = n < sel->n_ifaces ? &sel->ifaces[n].rs : &sel->cgroups[n - sel->n_ifaces].rs;
		uint32_t policy = *rs / 2, dir = *rs % 2;
		size_t i;

		for (i = 0; i < img->n_rs; i++)
			if (img->rs[i].policy == policy && img->rs[i].direction == dir)
				break;
		if (i == img->n_rs)
			return -ENOENT;
		*rs = (uint32_t)i;
	}
	return 0;
}

bool policy_cgroup_is_outermost(const struct policy_selection *sel, size_t i)
{
	const char *p = sel->cgroups[i].path;

	for (size_t j = 0; j < sel->n_cgroups; j++) {
		const char *q = sel->cgroups[j].path;
		size_t n = strlen(q);

		if (j != i && strncmp(p, q, n) == 0 && p[n] == '/')
			return false;
	}
	return true;
}
