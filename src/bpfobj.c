// SPDX-License-Identifier: GPL-2.0-only
#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "audit.h"
#include "bpfobj.h"
#include "log.h"
#include "objcheck.h"
#include "util.h"

/*
 * <pin_dir>/meta: a one-entry array pinned beside the object's maps, so the pins describe
 * themselves: which object bytes the pinned programs were loaded from, and when.
 */
struct bpfobj_meta {
	uint64_t digest;
	uint64_t loaded_realtime_ns;
	char version[16];
};

/* FNV-1a: identifies object bytes to tell "same build" from "upgrade"; not a security check. */
static uint64_t digest_bytes(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static size_t count_names(const char *const *names)
{
	size_t n = 0;

	while (names && names[n])
		n++;
	return n;
}

static int object_bytes(const struct bpfobj_desc *d, const struct aegis_config *cfg,
			struct bpfobj *o, const void **buf, size_t *len, char **owned)
{
	*owned = NULL;
	if (!cfg->object_dir) {
		*buf = d->embedded(len);
		snprintf(o->source, sizeof(o->source), "embedded %s", d->file);
		return 0;
	}
	snprintf(o->source, sizeof(o->source), "%s/%s", cfg->object_dir, d->file);
	{
		int err = read_file(o->source, owned, len);

		if (err)
			return pr_err_errno(err, "%s: cannot read BPF object", o->source);
	}
	*buf = *owned;
	return 0;
}

static int validate(struct bpfobj *o, const struct bpfobj_desc *d, const struct aegis_config *cfg,
		    const void *buf, size_t len)
{
	struct objcheck_spec spec = {
		.name = o->source,
		.programs = d->programs,
		.maps = d->maps,
		.max_insns = cfg->max_insns,
	};
	struct objcheck_result res;
	int err = objcheck_validate(buf, len, &spec, &res);

	if (err) {
		pr_err("%s", res.error);
		audit_log(&actor_agent, "validate", o->source, err, res.error, NULL);
		return err;
	}
	audit_log(&actor_agent, "validate", o->source, 0, NULL,
		  json_pack("{s:I, s:I, s:I}", "programs", (json_int_t)res.n_programs, "maps",
			    (json_int_t)res.n_maps, "instructions", (json_int_t)res.total_insns));
	return 0;
}

static int path_join(char *buf, size_t len, const char *a, const char *b, const char *c)
{
	int n = snprintf(buf, len, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "");

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static bool all_pins_exist(const struct bpfobj *o, const struct bpfobj_desc *d)
{
	char path[PATH_MAX];

	for (size_t i = 0; d->programs[i]; i++)
		if (path_join(path, sizeof(path), o->pin_dir, "progs", d->programs[i]) ||
		    access(path, F_OK))
			return false;
	for (size_t i = 0; d->maps[i]; i++)
		if (path_join(path, sizeof(path), o->pin_dir, "maps", d->maps[i]) ||
		    access(path, F_OK))
			return false;
	return true;
}

static int read_meta(const struct bpfobj *o, struct bpfobj_meta *meta)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	uint32_t key = 0;

	if (path_join(path, sizeof(path), o->pin_dir, "meta", NULL))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	if (bpf_map_lookup_elem(fd, &key, meta))
		return -errno;
	return 0;
}

static int write_meta(const struct bpfobj *o)
{
	struct bpfobj_meta meta = { .digest = o->digest, .loaded_realtime_ns = now_realtime_ns() };
	LIBBPF_OPTS(bpf_map_create_opts, opts);
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	uint32_t key = 0;

	snprintf(meta.version, sizeof(meta.version), "%s", AEGIS_VERSION);
	if (path_join(path, sizeof(path), o->pin_dir, "meta", NULL))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "aegis_meta", sizeof(key), sizeof(meta), 1, &opts);
		if (fd < 0)
			return pr_err_errno(-errno, "%s: cannot create the meta map", o->desc->name);
		if (bpf_obj_pin(fd, path))
			return pr_err_errno(-errno, "%s: cannot pin %s", o->desc->name, path);
	}
	if (bpf_map_update_elem(fd, &key, &meta, BPF_ANY))
		return pr_err_errno(-errno, "%s: cannot write %s", o->desc->name, path);
	return 0;
}

static int prog_id_of(int fd, uint32_t *id)
{
	struct bpf_prog_info info = {};
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*id = info.id;
	return 0;
}

static int adopt(struct bpfobj *o, const struct bpfobj_desc *d)
{
	char path[PATH_MAX];
	int err;

	for (size_t i = 0; i < o->n_maps; i++) {
		path_join(path, sizeof(path), o->pin_dir, "maps", d->maps[i]);
		o->map_fd[i] = bpf_obj_get(path);
		if (o->map_fd[i] < 0)
			return pr_err_errno(-errno, "%s: cannot open pinned map %s", d->name, path);
	}
	for (size_t i = 0; i < o->n_progs; i++) {
		path_join(path, sizeof(path), o->pin_dir, "progs", d->programs[i]);
		o->prog_fd[i] = bpf_obj_get(path);
		if (o->prog_fd[i] < 0)
			return pr_err_errno(-errno, "%s: cannot open pinned program %s", d->name, path);
		err = prog_id_of(o->prog_fd[i], &o->prog_id[i]);
		if (err)
			return pr_err_errno(err, "%s: cannot query pinned program %s", d->name, path);
		audit_log(&actor_agent, "adopt", path, 0, NULL,
			  json_pack("{s:I}", "prog_id", (json_int_t)o->prog_id[i]));
	}
	o->adopted = true;
	pr_info("%s: adopted pinned programs and maps from %s", d->name, o->pin_dir);
	return 0;
}

/*
 * A pinned map from an older build whose layout differs cannot be reused: it is unpinned (and so
 * recreated empty by this load). A size difference is a configuration change that would lose
 * contents: refused with what to do.
 */
static int drop_incompatible_pin(struct bpfobj *o, struct bpf_map *m, const char *path)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	_cleanup_close_ int fd = bpf_obj_get(path);
	char why[160];

	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return pr_err_errno(-errno, "%s: cannot query pinned map %s", o->desc->name, path);
	if (info.type == bpf_map__type(m) && info.key_size == bpf_map__key_size(m) &&
	    info.value_size == bpf_map__value_size(m) && info.map_flags == bpf_map__map_flags(m)) {
		if (info.max_entries == bpf_map__max_entries(m))
			return 0;
		pr_err("%s: the pinned map %s holds %u entries but this configuration sizes it %u: run "
		       "`aegis agent --cleanup` to recreate it", o->desc->name, path, info.max_entries,
		       bpf_map__max_entries(m));
		return -EEXIST;
	}
	snprintf(why, sizeof(why), "layout changed in this build: key %u->%u, value %u->%u bytes, type %u->%u",
		 info.key_size, bpf_map__key_size(m), info.value_size, bpf_map__value_size(m), info.type,
		 bpf_map__type(m));
	if (unlink(path))
		return pr_err_errno(-errno, "%s: cannot remove the incompatible pin %s", o->desc->name, path);
	pr_warn("%s: %s recreated empty (%s)", o->desc->name, path, why);
	audit_log(&actor_agent, "unpin", path, 0, NULL, json_pack("{s:s}", "why", why));
	return 0;
}

/* The kernel's verdict on a failed load: the program it names and the tail of its log. */
static void report_load_failure(struct bpfobj *o, int err)
{
	char tail[4096], prog[64] = "?";
	const char *p;

	log_capture_tail(tail, sizeof(tail));
	p = strstr(tail, "prog '");
	if (p)
		sscanf(p, "prog '%63[^']'", prog);
	pr_err("%s: the kernel refused to load %s (program %s): %s\n--- verifier log (tail) ---\n%s---",
	       o->desc->name, o->source, prog, errstr(err), tail);
	audit_log(&actor_agent, "load", o->source, err, errstr(err),
		  json_pack("{s:s, s:s}", "program", prog, "verifier_log_tail", tail));
}

static int pin_programs(struct bpfobj *o, const struct bpfobj_desc *d)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < o->n_progs; i++) {
		path_join(path, sizeof(path), o->pin_dir, "progs", d->programs[i]);
		if (unlink(path) == 0)
			o->reloaded = true;
		if (bpf_obj_pin(o->prog_fd[i], path)) {
			int err = -errno;

			audit_log(&actor_agent, "pin", path, err, NULL, NULL);
			return pr_err_errno(err, "%s: cannot pin program at %s", d->name, path);
		}
		audit_log(&actor_agent, "pin", path, 0, NULL,
			  json_pack("{s:I}", "prog_id", (json_int_t)o->prog_id[i]));
	}
	return 0;
}

static int load(struct bpfobj *o, const struct bpfobj_desc *d, const struct aegis_config *cfg,
		const void *buf, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = d->name);
	char path[PATH_MAX];
	int err;

	o->obj = bpf_object__open_mem(buf, len, &opts);
	if (!o->obj) {
		err = -errno;
		audit_log(&actor_agent, "open", o->source, err, NULL, NULL);
		return pr_err_errno(err, "%s: libbpf cannot open %s", d->name, o->source);
	}
	for (size_t i = 0; i < o->n_maps; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(o->obj, d->maps[i]);

		/* Pinned maps of an earlier load are reused, so an upgrade keeps their contents. */
		if (!m || path_join(path, sizeof(path), o->pin_dir, "maps", d->maps[i]) ||
		    bpf_map__set_pin_path(m, path))
			return pr_err_errno(-EINVAL, "%s: map %s: cannot set its pin path", d->name, d->maps[i]);
	}
	if (d->configure) {
		err = d->configure(o->obj, cfg);
		if (err)
			return err;
	}
	for (size_t i = 0; i < o->n_maps; i++) {
		struct bpf_map *m = bpf_object__find_map_by_name(o->obj, d->maps[i]);

		path_join(path, sizeof(path), o->pin_dir, "maps", d->maps[i]);
		err = drop_incompatible_pin(o, m, path);
		if (err)
			return err;
	}
	log_capture_reset();
	err = bpf_object__load(o->obj);
	if (err) {
		report_load_failure(o, err);
		return err;
	}
	for (size_t i = 0; i < o->n_maps; i++)
		o->map_fd[i] = bpf_map__fd(bpf_object__find_map_by_name(o->obj, d->maps[i]));
	for (size_t i = 0; i < o->n_progs; i++) {
		struct bpf_program *p = bpf_object__find_program_by_name(o->obj, d->programs[i]);

		o->prog_fd[i] = p ? bpf_program__fd(p) : -1;
		if (o->prog_fd[i] < 0 || prog_id_of(o->prog_fd[i], &o->prog_id[i]))
			return pr_err_errno(-ENOENT, "%s: program %s not loaded", d->name, d->programs[i]);
		audit_log(&actor_agent, "load", d->programs[i], 0, NULL,
			  json_pack("{s:s, s:I}", "object", o->source, "prog_id", (json_int_t)o->prog_id[i]));
	}
	err = pin_programs(o, d);
	if (err)
		return err;
	return write_meta(o);
}

int bpfobj_setup(struct bpfobj *o, const struct bpfobj_desc *d, const struct aegis_config *cfg)
{
	_cleanup_free_ char *owned = NULL;
	struct bpfobj_meta meta;
	const void *buf = NULL;
	size_t len;
	char path[PATH_MAX];
	int err;

	memset(o, 0, sizeof(*o));
	o->desc = d;
	o->n_progs = count_names(d->programs);
	o->n_maps = count_names(d->maps);
	for (size_t i = 0; i < BPFOBJ_MAX; i++)
		o->prog_fd[i] = o->map_fd[i] = -1;
	if (o->n_progs > BPFOBJ_MAX || o->n_maps > BPFOBJ_MAX)
		return pr_err_errno(-E2BIG, "%s: too many programs or maps", d->name);
	if (path_join(o->pin_dir, sizeof(o->pin_dir), cfg->pin_root, d->name, NULL))
		return pr_err_errno(-ENAMETOOLONG, "%s: pin path too long", d->name);

	err = object_bytes(d, cfg, o, &buf, &len, &owned);
	if (err)
		return err;
	err = validate(o, d, cfg, buf, len);
	if (err)
		return err;
	o->digest = digest_bytes(buf, len);

	for (const char *sub = "maps"; sub; sub = streq(sub, "maps") ? "progs" : streq(sub, "progs") ? "links" : NULL) {
		path_join(path, sizeof(path), o->pin_dir, sub, NULL);
		err = mkdir_p(path, 0700);
		if (err)
			return pr_err_errno(err, "%s: cannot create pin directory %s", d->name, path);
	}
	if (all_pins_exist(o, d) && read_meta(o, &meta) == 0 && meta.digest == o->digest)
		err = adopt(o, d);
	else
		err = load(o, d, cfg, buf, len);
	if (err)
		bpfobj_close(o);
	return err;
}

void bpfobj_close(struct bpfobj *o)
{
	if (o->obj) {
		/* The object owns the fds it loaded. */
		bpf_object__close(o->obj);
		o->obj = NULL;
	} else {
		for (size_t i = 0; i < BPFOBJ_MAX; i++) {
			if (o->prog_fd[i] >= 0)
				close(o->prog_fd[i]);
			if (o->map_fd[i] >= 0)
				close(o->map_fd[i]);
		}
	}
	for (size_t i = 0; i < BPFOBJ_MAX; i++)
		o->prog_fd[i] = o->map_fd[i] = -1;
}

static int index_of(const char *const *names, const char *name)
{
	for (int i = 0; names && names[i]; i++)
		if (streq(names[i], name))
			return i;
	return -1;
}

int bpfobj_size_map(struct bpf_object *obj, const char *map, uint32_t n, const char *key)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, map);
	int err = m ? bpf_map__set_max_entries(m, n) : -ENOENT;

	if (err)
		return pr_err_errno(err, "%s: cannot size map %s to %u (%s)", bpf_object__name(obj), map, n, key);
	return 0;
}

int bpfobj_map_fd(const struct bpfobj *o, const char *name)
{
	int i = index_of(o->desc->maps, name);

	return i < 0 ? -ENOENT : o->map_fd[i];
}

int bpfobj_prog_fd(const struct bpfobj *o, const char *name)
{
	int i = index_of(o->desc->programs, name);

	return i < 0 ? -ENOENT : o->prog_fd[i];
}

int bpfobj_link_pin_path(const struct bpfobj *o, const char *link, char *buf, size_t len)
{
	return path_join(buf, len, o->pin_dir, "links", link);
}

static int remove_tree(const char *dir, bool links_dir)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	int removed = 0;

	if (!dp)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dp))) {
		char path[PATH_MAX];
		struct stat st;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
			continue;
		if (lstat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			int n = remove_tree(path, streq(de->d_name, "links"));

			if (n > 0)
				removed += n;
			continue;
		}
		if (links_dir) {
			int fd = bpf_obj_get(path);

			/*
			 * Detach even if another process holds the link: the hook must be gone.
			 * Tracepoint and raw tracepoint links cannot be detached (EOPNOTSUPP):
			 * they go with their last reference, which the unlink below drops.
			 */
			if (fd >= 0) {
				if (bpf_link_detach(fd) && errno != EOPNOTSUPP)
					pr_warn_errno(-errno, "cannot detach link %s", path);
				else
					audit_log(&actor_agent, "detach", path, 0, NULL, NULL);
				close(fd);
			}
		}
		if (unlink(path)) {
			audit_log(&actor_agent, "unpin", path, -errno, NULL, NULL);
			pr_warn_errno(-errno, "cannot remove pin %s", path);
			continue;
		}
		audit_log(&actor_agent, "unpin", path, 0, NULL, NULL);
		removed++;
	}
	closedir(dp);
	if (rmdir(dir) && errno != ENOENT)
		pr_warn_errno(-errno, "cannot remove %s", dir);
	return removed;
}

int bpfobj_remove_all(const char *pin_root)
{
	/* Links first: removing a program pin does not detach a link that still uses it. */
	char links[PATH_MAX];
	DIR *dp = opendir(pin_root);
	struct dirent *de;
	int n, total = 0;

	if (!dp)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dp))) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(links, sizeof(links), "%s/%s/links", pin_root, de->d_name) >= sizeof(links))
			continue;
		n = remove_tree(links, true);
		if (n > 0)
			total += n;
	}
	closedir(dp);
	n = remove_tree(pin_root, false);
	return n < 0 ? n : total + n;
}
