// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hooks.h"
#include "log.h"
#include "mounts.h"
#include "util.h"

static const char *const kind_names[] = {
	[HOOK_TRACEPOINT] = "tracepoint",
	[HOOK_RAW_TP] = "raw_tp",
	[HOOK_TP_BTF] = "tp_btf",
	[HOOK_CGROUP] = "cgroup",
	[HOOK_TCX] = "tcx",
};

/* The link type the kernel gives each kind of hook. */
static const enum bpf_link_type link_types[] = {
	[HOOK_TRACEPOINT] = BPF_LINK_TYPE_PERF_EVENT,
	[HOOK_RAW_TP] = BPF_LINK_TYPE_RAW_TRACEPOINT,
	[HOOK_TP_BTF] = BPF_LINK_TYPE_RAW_TRACEPOINT,	/* tp_btf attaches as a raw tracepoint */
	[HOOK_CGROUP] = BPF_LINK_TYPE_CGROUP,
	[HOOK_TCX] = HOOK_LINK_TYPE_TCX,
};

const char *hook_kind_name(enum hook_kind k)
{
	return (unsigned)k < ARRAY_SIZE(kind_names) ? kind_names[k] : "?";
}

static const char *target_text(const struct hook *h)
{
	return h->target ? h->target : h->prog;
}

/* The tracepoint's event id, from tracefs (the agent mounts it when missing). */
static int tracepoint_id(const char *target, uint64_t *id)
{
	char tracefs[PATH_MAX], path[PATH_MAX * 2];
	_cleanup_free_ char *text = NULL;
	size_t len;
	int err;

	err = mount_find("tracefs", tracefs, sizeof(tracefs));
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/events/%s/id", tracefs, target);
	err = read_file(path, &text, &len);
	if (err)
		return err;
	text[strcspn(text, "\n")] = '\0';
	return parse_u64(text, id) ? -EINVAL : 0;
}

static int attach_tracepoint(int prog_fd, const char *target)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_TRACEPOINT,
		.size = sizeof(attr),
		.sample_period = 1,
		.wakeup_events = 1,
	};
	uint64_t id;
	int pfd, fd, err;

	err = tracepoint_id(target, &id);
	if (err)
		return err;
	attr.config = id;
	/*
	 * Any task, CPU 0: the event only gives the program a home; a BPF program on a tracepoint
	 * runs wherever the tracepoint fires (as libbpf attaches them).
	 */
	pfd = (int)syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (pfd < 0)
		return -errno;
	fd = bpf_link_create(prog_fd, pfd, BPF_PERF_EVENT, NULL);
	err = fd < 0 ? -errno : 0;
	close(pfd);	/* the link holds the event */
	return fd < 0 ? err : fd;
}

static int attach_cgroup(int prog_fd, const char *dir, enum bpf_attach_type type)
{
	int cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd, err;

	if (cg < 0)
		return -errno;
	fd = bpf_link_create(prog_fd, cg, type, NULL);
	err = fd < 0 ? -errno : 0;
	close(cg);
	return fd < 0 ? err : fd;
}

/* tcx: the interface by name in the agent's network namespace. */
static int attach_tcx(int prog_fd, const char *ifname, enum bpf_attach_type type)
{
	int ifindex = (int)if_nametoindex(ifname), fd;

	if (!ifindex)
		return -errno;
	fd = bpf_link_create(prog_fd, ifindex, type, NULL);
	return fd < 0 ? -errno : fd;
}

/* A new link for h: an fd, or -errno. */
static int create_link(int prog_fd, const struct hook *h)
{
	int fd;

	switch (h->kind) {
	case HOOK_TRACEPOINT:
		return attach_tracepoint(prog_fd, h->target);
	case HOOK_RAW_TP:
		fd = bpf_raw_tracepoint_open(h->target, prog_fd);
		return fd < 0 ? -errno : fd;
	case HOOK_TP_BTF:
		fd = bpf_raw_tracepoint_open(NULL, prog_fd);
		return fd < 0 ? -errno : fd;
	case HOOK_CGROUP:
		return attach_cgroup(prog_fd, h->target, h->attach_type);
	case HOOK_TCX:
		return attach_tcx(prog_fd, h->target, h->attach_type);
	}
	return -EINVAL;
}

static int link_info(int fd, struct bpf_link_info *info)
{
	uint32_t len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

static uint32_t prog_id(int prog_fd)
{
	struct bpf_prog_info info = {};
	uint32_t len = sizeof(info);

	return bpf_obj_get_info_by_fd(prog_fd, &info, &len) ? 0 : info.id;
}

static json_t *hook_details(const struct hook *h, uint32_t link_id, const char *pin)
{
	json_t *j = json_pack("{s:s, s:s, s:s}", "hook", hook_kind_name(h->kind), "target",
			      target_text(h), "program", h->prog);

	if (link_id)
		json_object_set_new(j, "link_id", json_integer(link_id));
	if (pin)
		json_object_set_new(j, "pin", json_string(pin));
	return j;
}

/*
 * A link of another program on h's pin: a new build of the object. Cgroup and tcx links are
 * updated in place; the others cannot be, so the new link goes in first and then takes over the pin (rename
 * is atomic): the hook never runs neither program, at worst both for an instant.
 */
static int replace_link(const struct hook *h, int old_fd, int prog_fd, const char *pin,
			const struct bpf_link_info *old, struct hook_link *out)
{
	char tmp[PATH_MAX + 16];
	int fd, err;

	if (h->kind == HOOK_CGROUP || h->kind == HOOK_TCX) {
		if (bpf_link_update(old_fd, prog_fd, NULL))
			return -errno;
		out->fd = old_fd;
		out->id = old->id;
		return 0;
	}
	fd = create_link(prog_fd, h);
	if (fd < 0)
		return fd;
	snprintf(tmp, sizeof(tmp), "%s-replacing", pin);	/* bpffs refuses names with a dot */
	unlink(tmp);
	if (bpf_obj_pin(fd, tmp) || rename(tmp, pin)) {
		err = -errno;
		unlink(tmp);
		bpf_link_detach(fd);
		close(fd);
		return err;
	}
	bpf_link_detach(old_fd);	/* EOPNOTSUPP for these kinds: the close releases it */
	close(old_fd);
	out->fd = fd;
	out->id = 0;
	return 0;
}

/*
 * A tcx link whose interface went away (the kernel sets its ifindex to 0) or is now another
 * device under the same name. The ifindex sits where XDP's does in bpf_link_info (UAPI 6.6).
 */
static bool tcx_moved(const struct hook *h, const struct bpf_link_info *info)
{
	return h->kind == HOOK_TCX && (!info->xdp.ifindex || info->xdp.ifindex != if_nametoindex(h->target));
}

/* The pinned link from an earlier run: 0 when it is kept (or replaced), -ENOENT when there is none. */
static int adopt_link(const struct hook *h, int prog_fd, const char *pin, struct hook_link *out)
{
	struct bpf_link_info info;
	uint32_t want = prog_id(prog_fd);
	int fd = bpf_obj_get(pin), err;

	if (fd < 0)
		return -ENOENT;
	if (link_info(fd, &info) || info.type != link_types[h->kind] || tcx_moved(h, &info)) {
		/*
		 * Not a link of this kind (a defunct cgroup, a stray pin) or a tcx link left on a
		 * deleted interface: made again below.
		 */
		bpf_link_detach(fd);
		close(fd);
		unlink(pin);
		audit_log(&actor_agent, "unpin", pin, 0, NULL, json_pack("{s:s}", "why", "defunct link"));
		return -ENOENT;
	}
	if (info.prog_id == want) {
		out->fd = fd;
		out->id = info.id;
		audit_log(&actor_agent, "adopt", pin, 0, NULL, hook_details(h, info.id, NULL));
		return 0;
	}
	err = replace_link(h, fd, prog_fd, pin, &info, out);
	if (err) {
		close(fd);
		audit_log(&actor_agent, "replace", pin, err, NULL, hook_details(h, info.id, NULL));
		return pr_err_errno(err, "%s %s: cannot move the hook to the new program %s",
				    hook_kind_name(h->kind), target_text(h), h->prog);
	}
	if (!out->id && link_info(out->fd, &info) == 0)
		out->id = info.id;
	audit_log(&actor_agent, "replace", pin, 0, NULL,
		  json_pack("{s:I, s:I, s:I}", "old_prog_id", (json_int_t)info.prog_id, "prog_id",
			    (json_int_t)want, "link_id", (json_int_t)out->id));
	return 0;
}

int hook_attach(const struct bpfobj *o, const struct hook *h, struct hook_link *out)
{
	int prog_fd = bpfobj_prog_fd(o, h->prog);
	struct bpf_link_info info;
	char pin[PATH_MAX];
	int fd, err;

	*out = HOOK_LINK_NONE;
	if (prog_fd < 0)
		return pr_err_errno(-ENOENT, "%s: no program %s", o->desc->name, h->prog);
	if (bpfobj_link_pin_path(o, h->link, pin, sizeof(pin)))
		return pr_err_errno(-ENAMETOOLONG, "%s: link pin path for %s", o->desc->name, h->link);
	err = adopt_link(h, prog_fd, pin, out);
	if (err != -ENOENT)
		return err;
	fd = create_link(prog_fd, h);
	if (fd < 0) {
		audit_log(&actor_config, "attach", target_text(h), fd, NULL, hook_details(h, 0, NULL));
		return pr_err_errno(fd, "%s: cannot attach %s to %s %s", o->desc->name, h->prog,
				    hook_kind_name(h->kind), target_text(h));
	}
	if (bpf_obj_pin(fd, pin)) {
		err = -errno;
		bpf_link_detach(fd);
		close(fd);
		audit_log(&actor_config, "pin", pin, err, NULL, NULL);
		return pr_err_errno(err, "%s: cannot pin the link of %s at %s", o->desc->name, h->prog, pin);
	}
	out->fd = fd;
	out->id = link_info(fd, &info) == 0 ? info.id : 0;
	audit_log(&actor_config, "attach", target_text(h), 0, NULL, hook_details(h, out->id, pin));
	return 0;
}

int hook_detach(const struct bpfobj *o, const struct hook *h, struct hook_link *l,
		const struct actor *who)
{
	char pin[PATH_MAX];
	int fd = l->fd, err = 0;

	if (bpfobj_link_pin_path(o, h->link, pin, sizeof(pin)))
		return -ENAMETOOLONG;
	if (fd < 0)
		fd = bpf_obj_get(pin);
	/*
	 * Tracepoint and raw tracepoint links cannot be detached, only released: they go with the
	 * last reference, which the pin and our fd are.
	 */
	if (fd >= 0 && bpf_link_detach(fd) && errno != EOPNOTSUPP)
		err = -errno;
	if (fd >= 0)
		close(fd);
	*l = HOOK_LINK_NONE;
	if (unlink(pin) && errno != ENOENT && !err)
		err = -errno;
	audit_log(who, "detach", target_text(h), err, NULL, hook_details(h, 0, NULL));
	if (err)
		pr_warn_errno(err, "%s: detach %s from %s %s", o->desc->name, h->prog,
			      hook_kind_name(h->kind), target_text(h));
	return err;
}

void hook_release(struct hook_link *l)
{
	if (l->fd >= 0)
		close(l->fd);
	*l = HOOK_LINK_NONE;
}

json_t *hook_json(const struct bpfobj *o, const struct hook *h, const struct hook_link *l)
{
	char pin[PATH_MAX];

	return hook_details(h, l->id, bpfobj_link_pin_path(o, h->link, pin, sizeof(pin)) ? NULL : pin);
}
