// SPDX-License-Identifier: GPL-2.0-only
#include <bpf/bpf.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "mapwalk.h"
#include "mounts.h"
#include "util.h"
#include "vis_proc.h"

#define ANCESTRY_MAX 64
#define FILEID_KERNFS 0xfe	/* cgroupfs file handles: the 64-bit kernfs id, which is the cgroup id */

struct vis_cgroup {
	uint64_t id;
	char *path;		/* relative to the cgroup v2 mount; "" when it could not be resolved */
	char container_id[65];	/* "" when none */
};

/* ---- identities and exec_ids --------------------------------------------------------------- */

static uint64_t ident_hash(struct vis_ident id)
{
	return hmap_hash_u64(id.ktime ^ ((uint64_t)id.tgid << 32 | id.tgid));
}

static bool match_ident(const void *item, const void *key)
{
	const struct vis_process *p = item;
	const struct vis_ident *id = key;

	return p->id.ktime == id->ktime && p->id.tgid == id->tgid;
}

static bool match_tgid(const void *item, const void *key)
{
	return ((const struct vis_process *)item)->id.tgid == *(const uint32_t *)key;
}

static bool match_u32(const void *item, const void *key)
{
	return *(const uint32_t *)item == *(const uint32_t *)key;
}

static bool match_cgroup(const void *item, const void *key)
{
	return ((const struct vis_cgroup *)item)->id == *(const uint64_t *)key;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void vis_exec_id(const struct vis_procs *t, struct vis_ident id, char *buf)
{
	uint8_t raw[28];
	size_t o = 0;

	memcpy(raw, t->boot_id, 16);
	for (int i = 0; i < 8; i++)
		raw[16 + i] = (uint8_t)(id.ktime >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		raw[24 + i] = (uint8_t)(id.tgid >> (24 - 8 * i));
	for (size_t i = 0; i < sizeof(raw); i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (i + 1 < sizeof(raw) ? (uint32_t)raw[i + 1] << 8 : 0) |
			     (i + 2 < sizeof(raw) ? raw[i + 2] : 0);
		size_t chars = i + 2 < sizeof(raw) ? 4 : i + 1 < sizeof(raw) ? 3 : 2;

		for (size_t c = 0; c < chars; c++)
			buf[o++] = b64url[(v >> (18 - 6 * c)) & 63];
	}
	buf[o] = '\0';
}

int vis_exec_id_parse(const struct vis_procs *t, const char *s, struct vis_ident *id)
{
	uint8_t raw[28];
	uint32_t acc = 0;
	size_t n = 0;
	int bits = 0;

	if (!s || strlen(s) != VIS_EXEC_ID_LEN)
		return -EINVAL;
	for (const char *c = s; *c; c++) {
		const char *p = strchr(b64url, *c);

		if (!p || !*c)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)(p - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= sizeof(raw))
				return -EINVAL;
			raw[n++] = (uint8_t)(acc >> bits);
		}
	}
	if (n != sizeof(raw))
		return -EINVAL;
	if (memcmp(raw, t->boot_id, 16))
		return -ESRCH;
	id->ktime = 0;
	for (int i = 0; i < 8; i++)
		id->ktime = id->ktime << 8 | raw[16 + i];
	id->tgid = (uint32_t)raw[24] << 24 | (uint32_t)raw[25] << 16 | (uint32_t)raw[26] << 8 | raw[27];
	return 0;
}

static int read_boot_id(uint8_t out[16])
{
	_cleanup_free_ char *text = NULL;
	size_t n = 0;
	int err = read_file("/proc/sys/kernel/random/boot_id", &text, NULL);

	if (err)
		return pr_err_errno(err, "visibility: cannot read /proc/sys/kernel/random/boot_id");
	for (const char *c = text; *c && n < 32; c++) {
		if (*c == '-')
			continue;
		if (!isxdigit((unsigned char)*c))
			break;
		out[n / 2] = (uint8_t)(out[n / 2] << 4 | (isdigit((unsigned char)*c) ? *c - '0' : (tolower((unsigned char)*c) - 'a' + 10)));
		n++;
	}
	if (n != 32)
		return pr_err_errno(-EINVAL, "visibility: /proc/sys/kernel/random/boot_id is not a UUID");
	return 0;
}

/* ---- time -------------------------------------------------------------------------------- */

void vis_boot_time_text(uint64_t boot_ns, char *buf, size_t len)
{
	uint64_t rt = now_realtime_ns(), bt = now_boottime_ns();

	format_rfc3339(rt - (bt > boot_ns ? bt - boot_ns : 0), buf, len);
}

/* ---- cgroups and containers -------------------------------------------------------------- */

static bool is_hex_run(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

bool vis_container_id(const char *path, char *buf)
{
	size_t len = path ? strlen(path) : 0;

	/* From the leaf up: the innermost cgroup named after a container wins. */
	while (len) {
		size_t start = len;

		while (start && path[start - 1] != '/')
			start--;
		for (size_t i = start; i + 64 <= len; i++) {
			bool left = i == start || !isxdigit((unsigned char)path[i - 1]);
			bool right = i + 64 == len || !isxdigit((unsigned char)path[i + 64]);

			if (left && right && is_hex_run(path + i, 64)) {
				memcpy(buf, path + i, 64);
				buf[64] = '\0';
				return true;
			}
		}
		len = start ? start - 1 : 0;
	}
	buf[0] = '\0';
	return false;
}

/* The cgroup's path from its id through a file handle: exact, and no walk of the hierarchy. */
static char *cgroup_path_of(const struct vis_procs *t, uint64_t id)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh = { .handle_bytes = sizeof(uint64_t), .handle_type = FILEID_KERNFS }, .id = id };
	char link[64], target[PATH_MAX];
	size_t root = strlen(t->cgroup_root);
	ssize_t n;
	int fd;

	if (t->cgroup_root_fd < 0)
		return NULL;
	fd = open_by_handle_at(t->cgroup_root_fd, &h.fh, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	target[n] = '\0';
	if (strncmp(target, t->cgroup_root, root))
		return NULL;
	return strdup(target[root] ? target + root : "/");
}

static const struct vis_cgroup *cgroup_of(struct vis_procs *t, uint64_t id)
{
	struct vis_cgroup *c = hmap_get(&t->cgroups, hmap_hash_u64(id), &id, match_cgroup);

	/* Cgroup ids are never reused, so an answer (or its absence) holds for good. */
	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->id = id;
	c->path = cgroup_path_of(t, id);
	if (!c->path)
		c->path = strdup("");
	if (!c->path || hmap_put(&t->cgroups, hmap_hash_u64(id), c)) {
		free(c->path);
		free(c);
		return NULL;
	}
	vis_container_id(c->path, c->container_id);
	return c;
}

static void set_cgroup(struct vis_procs *t, struct vis_process *p, uint64_t id)
{
	const struct vis_cgroup *c = id ? cgroup_of(t, id) : NULL;

	p->cgroup_id = id;
	p->cgroup_path = c ? c->path : "";
	p->container_id = c && c->container_id[0] ? c->container_id : NULL;
}

/* ---- the table --------------------------------------------------------------------------- */

int vis_procs_init(struct vis_procs *t, uint32_t max_ended)
{
	int err;

	memset(t, 0, sizeof(*t));
	t->max_ended = max_ended;
	t->cgroup_root_fd = -1;
	err = read_boot_id(t->boot_id);
	if (err)
		return err;
	if (cgroup2_find(t->cgroup_root, sizeof(t->cgroup_root))) {
		log_once(LOG_LVL_WARN, "vis-cgroup2", "visibility: no cgroup v2 mount: cgroup paths and "
			 "container ids are unknown");
		return 0;
	}
	t->cgroup_root_fd = open(t->cgroup_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->cgroup_root_fd < 0)
		pr_warn_errno(-errno, "visibility: cannot open %s: cgroup paths are unknown", t->cgroup_root);
	return 0;
}

static void process_free(struct vis_process *p)
{
	free(p->filename);
	free(p->args);
	free(p);
}

void vis_procs_free(struct vis_procs *t)
{
	struct vis_process *p;
	struct vis_cgroup *c;
	size_t i = 0;

	while ((p = hmap_next(&t->by_id, &i)))
		process_free(p);
	i = 0;
	while ((c = hmap_next(&t->cgroups, &i))) {
		free(c->path);
		free(c);
	}
	hmap_free(&t->by_id);
	hmap_free(&t->by_tgid);
	hmap_free(&t->cgroups);
	free(t->frame);
	if (t->cgroup_root_fd >= 0)
		close(t->cgroup_root_fd);
	memset(t, 0, sizeof(*t));
	t->cgroup_root_fd = -1;
}

struct vis_process *vis_procs_get(const struct vis_procs *t, struct vis_ident id)
{
	return hmap_get(&t->by_id, ident_hash(id), &id, match_ident);
}

struct vis_process *vis_procs_running(const struct vis_procs *t, uint32_t tgid)
{
	return hmap_get(&t->by_tgid, hmap_hash_u64(tgid), &tgid, match_tgid);
}

static void mark(struct vis_procs *t, struct vis_process *p, uint8_t bit)
{
	if (!p->frame_bits) {
		if (vec_reserve((void **)&t->frame, &t->cap_frame, t->n_frame + 1, sizeof(*t->frame))) {
			log_once(LOG_LVL_WARN, "vis-frame-oom", "visibility: out of memory for the frame");
			return;
		}
		t->frame[t->n_frame++] = p;
	}
	p->frame_bits |= bit;
}

/*
 * A new image. It runs, unless the table already knows a newer image of its tgid: then the record
 * is older than what the table was seeded with (it waited in the ring while no agent read it)
 * and the image it describes is over. Otherwise an image still running under the tgid ended
 * unseen: its exit record was lost and the pid came back.
 */
static struct vis_process *add_running(struct vis_procs *t, struct vis_ident id)
{
	struct vis_process *p = vis_procs_get(t, id), *old;

	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->id = id;
	p->exit_status = -1;
	if (hmap_put(&t->by_id, ident_hash(id), p)) {
		free(p);
		return NULL;
	}
	old = vis_procs_running(t, id.tgid);
	if (old && old->id.ktime > id.ktime) {
		bool execed = old->proc_flags & VIS_PROC_EXECED;

		p->state = execed ? VIS_PS_REPLACED : VIS_PS_EXITED;
		p->replaced_by = execed ? old->id : (struct vis_ident){};
		p->exit_inferred = !execed;
		p->end_ns = old->start_ns;
		t->n_ended++;
		mark(t, p, VIS_FRAME_NEW | (execed ? VIS_FRAME_CHANGED : VIS_FRAME_ENDED));
		return p;
	}
	if (old) {
		hmap_del(&t->by_tgid, hmap_hash_u64(id.tgid), &id.tgid, match_tgid);
		old->state = VIS_PS_EXITED;
		old->exit_inferred = true;
		old->end_ns = now_boottime_ns();
		t->n_running--;
		t->n_ended++;
		t->stats.exits_inferred++;
		mark(t, old, VIS_FRAME_ENDED);
	}
	if (hmap_put(&t->by_tgid, hmap_hash_u64(id.tgid), p)) {
		hmap_del(&t->by_id, ident_hash(id), &id, match_ident);
		free(p);
		return NULL;
	}
	p->state = VIS_PS_RUNNING;
	t->n_running++;
	mark(t, p, VIS_FRAME_NEW);
	return p;
}

static void end_image(struct vis_procs *t, struct vis_process *p, enum vis_pstate st, uint64_t when)
{
	if (p->state != VIS_PS_RUNNING)
		return;
	if (vis_procs_running(t, p->id.tgid) == p)
		hmap_del(&t->by_tgid, hmap_hash_u64(p->id.tgid), &p->id.tgid, match_tgid);
	p->state = (uint8_t)st;
	p->end_ns = when;
	t->n_running--;
	t->n_ended++;
	mark(t, p, st == VIS_PS_REPLACED ? VIS_FRAME_CHANGED : VIS_FRAME_ENDED);
}

static void copy_strings(struct vis_process *p, const char *filename, const char *args, size_t args_len)
{
	free(p->filename);
	free(p->args);
	p->filename = filename ? strdup(filename) : NULL;
	p->args = NULL;
	p->args_len = 0;
	if (args && args_len) {
		p->args = malloc(args_len);
		if (p->args) {
			memcpy(p->args, args, args_len);
			p->args_len = (uint32_t)args_len;
		}
	}
}

static void fill_from_record(struct vis_procs *t, struct vis_process *p, const struct vis_proc_event *ev)
{
	p->parent.tgid = ev->parent_tgid;
	p->parent.ktime = ev->parent_ktime;
	p->ppid = ev->ppid;
	p->uid = ev->uid;
	p->gid = ev->gid;
	p->proc_flags = ev->proc_flags;
	p->ev_flags = ev->flags;
	memcpy(p->comm, ev->comm, sizeof(p->comm));
	p->comm[sizeof(p->comm) - 1] = '\0';
	set_cgroup(t, p, ev->cgroup_id);
}

/*
 * execve("./tool") says where the program was relative to a directory the record does not carry:
 * /proc/PID/exe says where it is, while the process still runs that image (its comm, which exec
 * set from the name, still matches).
 */
static void resolve_relative(struct vis_process *p)
{
	char path[64], target[PATH_MAX], comm[VIS_COMM_LEN + 2] = "";
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/comm", p->id.tgid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	if (!streq(comm, p->comm))
		return;
	snprintf(path, sizeof(path), "/proc/%u/exe", p->id.tgid);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	free(p->filename);
	p->filename = strdup(target);
}

static void on_exec(struct vis_procs *t, const struct vis_proc_event *ev, size_t size)
{
	struct vis_ident id = { ev->ktime, ev->tgid }, prev_id = { ev->prev_ktime, ev->tgid };
	struct vis_process *prev = vis_procs_get(t, prev_id), *p;
	size_t fn = ev->filename_len, args = ev->args_len;

	if (VIS_PROC_EVENT_HDR_SIZE + fn + args > size || fn > VIS_FILENAME_MAX || args > VIS_ARGS_MAX) {
		t->stats.bad_records++;
		return;
	}
	if (!prev)
		prev = vis_procs_running(t, ev->tgid);
	/* The old image ends before the new one takes the tgid (else it looks like a lost exit). */
	if (prev && (prev->id.ktime != id.ktime || prev->id.tgid != id.tgid)) {
		end_image(t, prev, VIS_PS_REPLACED, ev->ts_ns);
		prev->replaced_by = id;
	}
	p = add_running(t, id);
	if (!p)
		return;
	fill_from_record(t, p, ev);
	p->origin = VIS_ORIGIN_EXEC;
	p->record_lost = false;
	p->start_ns = ev->ts_ns;
	{
		char name[VIS_FILENAME_MAX + 1];

		memcpy(name, ev->data, fn);
		name[fn] = '\0';
		copy_strings(p, name, ev->data + fn, args);
	}
	if (p->filename && p->filename[0] != '/')
		resolve_relative(p);
}

static void on_fork(struct vis_procs *t, const struct vis_proc_event *ev)
{
	struct vis_process *p = add_running(t, (struct vis_ident){ ev->ktime, ev->tgid });
	struct vis_process *parent;

	if (!p)
		return;
	fill_from_record(t, p, ev);
	p->origin = VIS_ORIGIN_FORK;
	p->record_lost = false;
	p->start_ns = ev->ktime;
	/* A fork runs its parent's program until it execs. */
	parent = vis_procs_get(t, p->parent);
	if (!parent)
		parent = vis_procs_running(t, p->parent.tgid);
	if (parent)
		copy_strings(p, parent->filename, parent->args, parent->args_len);
}

static void on_exit_record(struct vis_procs *t, const struct vis_proc_event *ev)
{
	struct vis_ident id = { ev->ktime, ev->tgid };
	struct vis_process *p = vis_procs_get(t, id);

	if (!p) {
		struct vis_process *running = vis_procs_running(t, ev->tgid);

		/* The kernel named it by its start tick (it was not in vis_procs): the same process. */
		if (running && (ev->flags & VIS_EVF_NO_PARENT))
			p = running;
	}
	if (!p) {
		/* Known only by its end: its start came while records were lost. */
		p = add_running(t, id);
		if (!p)
			return;
		fill_from_record(t, p, ev);
		p->origin = VIS_ORIGIN_NONE;
		p->record_lost = true;
		p->start_ns = ev->ktime;
	}
	p->exit_status = ev->exit_status;
	p->exit_inferred = false;
	if (p->state == VIS_PS_RUNNING) {
		end_image(t, p, VIS_PS_EXITED, ev->ts_ns);
	} else {
		/* An image a stale record had made as ended: the exit record says how. */
		p->state = VIS_PS_EXITED;
		p->end_ns = ev->ts_ns;
		mark(t, p, VIS_FRAME_ENDED);
	}
}

void vis_procs_record(struct vis_procs *t, const void *data, size_t size)
{
	const struct vis_proc_event *ev = data;

	if (size < VIS_PROC_EVENT_HDR_SIZE || ev->kind < VIS_EV_EXEC || ev->kind > VIS_EV_EXIT) {
		t->stats.bad_records++;
		return;
	}
	t->stats.records[ev->kind]++;
	switch (ev->kind) {
	case VIS_EV_EXEC:
		on_exec(t, ev, size);
		break;
	case VIS_EV_FORK:
		on_fork(t, ev);
		break;
	case VIS_EV_EXIT:
		on_exit_record(t, ev);
		break;
	}
}

/* ---- /proc ------------------------------------------------------------------------------- */

static bool pid_alive(uint32_t pid)
{
	return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

struct proc_info {
	uint32_t ppid, uid, gid;
	uint64_t start_ns;	/* start tick as ns */
	uint64_t cgroup_id;
	bool kthread;
	char comm[VIS_COMM_LEN];
	char *exe;
	char *cmdline;
	size_t cmdline_len;
};

static int read_stat(uint32_t pid, struct proc_info *pi)
{
	_cleanup_free_ char *text = NULL;
	char path[64], *open_paren, *close_paren;
	unsigned long long start = 0;
	unsigned long flags = 0;
	int ppid = 0, err;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	err = read_file(path, &text, NULL);
	if (err)
		return err;
	/* "pid (comm) state ppid ...": comm may hold spaces and parentheses; it ends at the last ')'. */
	open_paren = strchr(text, '(');
	close_paren = strrchr(text, ')');
	if (!open_paren || !close_paren || close_paren < open_paren)
		return -EINVAL;
	snprintf(pi->comm, sizeof(pi->comm), "%.*s", (int)(close_paren - open_paren - 1), open_paren + 1);
	if (sscanf(close_paren + 2, "%*c %d %*d %*d %*d %*d %lu %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
		   "%*d %*d %llu", &ppid, &flags, &start) != 3)
		return -EINVAL;
	pi->ppid = (uint32_t)ppid;
	pi->kthread = flags & 0x00200000;	/* PF_KTHREAD */
	pi->start_ns = start * VIS_NS_PER_TICK;
	return 0;
}

static void read_ids(uint32_t pid, struct proc_info *pi)
{
	_cleanup_free_ char *text = NULL;
	char path[64];
	const char *u, *g;

	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	if (read_file(path, &text, NULL))
		return;
	u = strstr(text, "\nUid:");
	g = strstr(text, "\nGid:");
	if (u)
		pi->uid = (uint32_t)strtoul(u + 5, NULL, 10);
	if (g)
		pi->gid = (uint32_t)strtoul(g + 5, NULL, 10);
}

static void read_cgroup(const struct vis_procs *t, uint32_t pid, struct proc_info *pi)
{
	_cleanup_free_ char *text = NULL;
	char path[64], dir[PATH_MAX * 2];
	const char *line;
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%u/cgroup", pid);
	if (!t->cgroup_root[0] || read_file(path, &text, NULL))
		return;
	line = strncmp(text, "0::", 3) == 0 ? text : strstr(text, "\n0::");
	if (!line)
		return;
	line += line == text ? 3 : 4;
	snprintf(dir, sizeof(dir), "%s%.*s", t->cgroup_root, (int)strcspn(line, "\n"), line);
	if (stat(dir, &st) == 0)
		pi->cgroup_id = st.st_ino;
}

static void read_cmdline(uint32_t pid, uint32_t max, struct proc_info *pi)
{
	char path[64], target[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	n = readlink(path, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		pi->exe = strdup(target);
	}
	if (!max)
		return;
	snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	pi->cmdline = malloc(max);
	n = pi->cmdline ? read(fd, pi->cmdline, max) : -1;
	close(fd);
	pi->cmdline_len = n > 0 ? (size_t)n : 0;
}

static void proc_info_free(struct proc_info *pi)
{
	free(pi->exe);
	free(pi->cmdline);
}

/*
 * What /proc says about pid, if it is the process whose image has identity ktime: it must have
 * started no later (a reused pid started after the old process ended).
 */
static int read_proc(const struct vis_procs *t, uint32_t pid, uint64_t ktime, struct proc_info *pi)
{
	int err;

	memset(pi, 0, sizeof(*pi));
	err = read_stat(pid, pi);
	if (err)
		return err;
	if (ktime && pi->start_ns > ktime)
		return -ESRCH;
	read_ids(pid, pi);
	read_cgroup(t, pid, pi);
	read_cmdline(pid, t->args_max, pi);
	return 0;
}

static void fill_from_proc(struct vis_procs *t, struct vis_process *p, const struct proc_info *pi)
{
	p->ppid = pi->ppid;
	p->uid = pi->uid;
	p->gid = pi->gid;
	memcpy(p->comm, pi->comm, sizeof(p->comm));
	if (pi->kthread)
		p->proc_flags |= VIS_PROC_KTHREAD;
	set_cgroup(t, p, pi->cgroup_id);
	copy_strings(p, pi->exe, pi->cmdline, pi->cmdline_len);
	p->origin = VIS_ORIGIN_PROC;
}

/* An image the map holds: from the map's identity and /proc's details. */
static struct vis_process *add_from_map(struct vis_procs *t, uint32_t tgid, const struct vis_proc *v)
{
	struct proc_info pi;
	struct vis_process *p;

	if (read_proc(t, tgid, v->ktime, &pi))
		return NULL;
	p = add_running(t, (struct vis_ident){ v->ktime, tgid });
	if (p) {
		fill_from_proc(t, p, &pi);
		p->parent.tgid = v->parent_tgid;
		p->parent.ktime = v->parent_ktime;
		p->proc_flags |= v->flags;
		p->start_ns = v->ktime;
	}
	proc_info_free(&pi);
	return p;
}

/* Numeric entries of /proc, ascending: parents (mostly) before their children. */
static int proc_pids(uint32_t **out, size_t *n)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		uint64_t pid;

		if (parse_u64(de->d_name, &pid) || !pid || pid > UINT32_MAX)
			continue;
		if (vec_reserve((void **)out, &cap, *n + 1, sizeof(**out))) {
			closedir(d);
			return -ENOMEM;
		}
		(*out)[(*n)++] = (uint32_t)pid;
	}
	closedir(d);
	return 0;
}

int vis_procs_seed(struct vis_procs *t, int map_fd)
{
	_cleanup_free_ uint32_t *pids = NULL;
	_cleanup_free_ void *keys = NULL;
	_cleanup_free_ void *vals = NULL;
	size_t n = 0, adopted = 0, stale = 0;
	ssize_t in_map;
	struct vis_proc v;
	int err;

	/* What the kernel tracked while no agent read it: adopt what is still there. */
	in_map = map_read_all(map_fd, sizeof(uint32_t), sizeof(struct vis_proc), &keys, &vals);
	if (in_map < 0)
		return pr_err_errno((int)in_map, "visibility: cannot read vis_procs");
	for (ssize_t i = 0; i < in_map; i++) {
		uint32_t tgid = ((uint32_t *)keys)[i];
		const struct vis_proc *e = &((struct vis_proc *)vals)[i];

		if (add_from_map(t, tgid, e)) {
			adopted++;
		} else if (bpf_map_lookup_elem(map_fd, &tgid, &v) == 0 && v.ktime == e->ktime) {
			bpf_map_delete_elem(map_fd, &tgid);
			stale++;
		}
	}
	err = proc_pids(&pids, &n);
	if (err)
		return pr_err_errno(err, "visibility: cannot list /proc");
	for (size_t i = 0; i < n; i++) {
		struct proc_info pi;
		struct vis_process *p, *parent;
		struct vis_proc seed = { .flags = VIS_PROC_SEEDED };

		if (vis_procs_running(t, pids[i]) || read_proc(t, pids[i], 0, &pi))
			continue;
		seed.ktime = pi.start_ns;
		seed.parent_tgid = pi.ppid;
		parent = pi.ppid ? vis_procs_running(t, pi.ppid) : NULL;
		seed.parent_ktime = parent ? parent->id.ktime : 0;
		if (pi.kthread)
			seed.flags |= VIS_PROC_KTHREAD;
		/* NOEXIST: a fork or exec the kernel recorded meanwhile is newer than /proc. */
		if (bpf_map_update_elem(map_fd, &pids[i], &seed, BPF_NOEXIST) && errno != EEXIST)
			log_once(LOG_LVL_WARN, "vis-seed-full", "visibility: cannot seed pid %u into "
				 "vis_procs: %s (visibility.capacity.processes)", pids[i], strerror(errno));
		if (bpf_map_lookup_elem(map_fd, &pids[i], &v) || v.ktime != seed.ktime) {
			proc_info_free(&pi);
			continue;	/* it changed meanwhile: its record is in the ring */
		}
		p = add_running(t, (struct vis_ident){ seed.ktime, pids[i] });
		if (p) {
			fill_from_proc(t, p, &pi);
			p->parent.tgid = seed.parent_tgid;
			p->parent.ktime = seed.parent_ktime;
			p->proc_flags |= seed.flags;
			p->start_ns = seed.ktime;
			t->stats.seeded++;
		}
		proc_info_free(&pi);
		/* It may have exited before it was in the map: then no exit record will remove it. */
		if (!pid_alive(pids[i]) && bpf_map_lookup_elem(map_fd, &pids[i], &v) == 0 &&
		    v.ktime == seed.ktime)
			bpf_map_delete_elem(map_fd, &pids[i]);
	}
	pr_info("visibility: %zu processes from the kernel's table (%zu stale removed), %llu seeded "
		"from /proc", adopted, stale, (unsigned long long)t->stats.seeded);
	vis_procs_frame_reset(t);	/* what ran before is not news */
	return 0;
}

void vis_procs_reconcile(struct vis_procs *t, const uint32_t *tgids, const struct vis_proc *vals,
			 size_t n)
{
	struct hmap in_map = {};
	struct vis_process *p;
	size_t i;

	for (i = 0; i < n; i++) {
		struct vis_ident id = { vals[i].ktime, tgids[i] };

		if (hmap_put(&in_map, hmap_hash_u64(tgids[i]), (void *)&tgids[i]))
			break;
		if (vis_procs_get(t, id))
			continue;
		p = add_from_map(t, tgids[i], &vals[i]);
		if (p) {
			p->record_lost = true;
			t->stats.records_inferred++;
		}
	}
	if (i < n) {
		hmap_free(&in_map);
		return;	/* out of memory: better no inference than a wrong one */
	}
	/* Running images the kernel no longer has: their exit record was lost. */
	{
		struct vis_process **gone = NULL;
		size_t n_gone = 0, it = 0;

		gone = calloc(t->n_running ? t->n_running : 1, sizeof(*gone));
		while (gone && (p = hmap_next(&t->by_tgid, &it))) {
			const uint32_t *k = hmap_get(&in_map, hmap_hash_u64(p->id.tgid), &p->id.tgid, match_u32);

			/* Not in the map because the map was full: keep it while /proc has it. */
			if (!k && !pid_alive(p->id.tgid))
				gone[n_gone++] = p;
		}
		for (size_t g = 0; g < n_gone; g++) {
			gone[g]->exit_inferred = true;
			end_image(t, gone[g], VIS_PS_EXITED, now_boottime_ns());
			t->stats.exits_inferred++;
		}
		free(gone);
	}
	hmap_free(&in_map);
}

void vis_procs_frame_reset(struct vis_procs *t)
{
	for (size_t i = 0; i < t->n_frame; i++)
		t->frame[i]->frame_bits = 0;
	t->n_frame = 0;
}

static int by_end(const void *a, const void *b)
{
	const struct vis_process *x = *(struct vis_process *const *)a, *y = *(struct vis_process *const *)b;

	return x->end_ns < y->end_ns ? -1 : x->end_ns > y->end_ns;
}

void vis_procs_expire(struct vis_procs *t, uint64_t now, uint64_t retention_ns)
{
	_cleanup_free_ struct vis_process **ended = calloc(t->n_ended ? t->n_ended : 1, sizeof(*ended));
	struct vis_process *p;
	size_t n = 0, it = 0, drop_extra;

	if (!ended)
		return;
	while ((p = hmap_next(&t->by_id, &it)))
		if (p->state != VIS_PS_RUNNING && !p->frame_bits && n < t->n_ended)
			ended[n++] = p;
	qsort(ended, n, sizeof(*ended), by_end);
	drop_extra = n > t->max_ended ? n - t->max_ended : 0;
	for (size_t i = 0; i < n; i++) {
		bool old = ended[i]->end_ns + retention_ns < now;

		if (!old && i >= drop_extra)
			break;
		if (!old)
			t->stats.ended_dropped++;
		hmap_del(&t->by_id, ident_hash(ended[i]->id), &ended[i]->id, match_ident);
		t->n_ended--;
		process_free(ended[i]);
	}
}

/* ---- JSON -------------------------------------------------------------------------------- */

static const char *const origin_names[] = {
	[VIS_ORIGIN_EXEC] = "exec",
	[VIS_ORIGIN_FORK] = "fork",
	[VIS_ORIGIN_PROC] = "proc",
	[VIS_ORIGIN_NONE] = "exit_only",
};

static const char *const state_names[] = {
	[VIS_PS_RUNNING] = "running",
	[VIS_PS_EXITED] = "exited",
	[VIS_PS_REPLACED] = "replaced",
};

/* Bytes that are not UTF-8 would make jansson refuse the string (or its dump): they become '?'. */
static json_t *textn_json(const char *s, size_t len)
{
	json_t *j;
	char *copy;

	if (!s)
		return json_null();
	j = json_stringn(s, len);
	if (j)
		return j;
	copy = malloc(len + 1);
	if (!copy)
		return json_null();
	for (size_t i = 0; i < len; i++)
		copy[i] = (unsigned char)s[i] >= 0x80 || !s[i] ? '?' : s[i];
	copy[len] = '\0';
	j = json_stringn(copy, len);
	free(copy);
	return j ? j : json_null();
}

static json_t *text_json(const char *s)
{
	return s ? textn_json(s, strlen(s)) : json_null();
}

static json_t *args_json(const struct vis_process *p)
{
	json_t *a = json_array();
	size_t off = 0;

	while (a && off < p->args_len) {
		size_t len = strnlen(p->args + off, p->args_len - off);

		json_array_append_new(a, textn_json(p->args + off, len));
		off += len + 1;
	}
	return a;
}

static void set_exit(json_t *j, const struct vis_process *p)
{
	int64_t st = p->exit_status;

	if (p->state != VIS_PS_EXITED || st < 0) {
		json_object_set_new(j, "exit_code", json_null());
		return;
	}
	if ((st & 0x7f) == 0) {
		json_object_set_new(j, "exit_code", json_integer((st >> 8) & 0xff));
	} else {
		json_object_set_new(j, "exit_code", json_null());
		json_object_set_new(j, "signal", json_integer(st & 0x7f));
		json_object_set_new(j, "core_dumped", json_boolean(st & 0x80));
	}
}

json_t *vis_process_json(const struct vis_procs *t, const struct vis_process *p)
{
	char id[VIS_EXEC_ID_LEN + 1], parent[VIS_EXEC_ID_LEN + 1], when[40];
	json_t *j;

	vis_exec_id(t, p->id, id);
	vis_exec_id(t, p->parent, parent);
	vis_boot_time_text(p->start_ns, when, sizeof(when));
	j = json_pack("{s:s, s:i, s:i, s:s?, s:i, s:i, s:o, s:o, s:o, s:b, s:s, s:s, s:s, s:b, s:b, s:I, s:o, s:s?}",
		      "exec_id", id, "pid", (int)p->id.tgid, "ppid", (int)p->ppid, "parent_exec_id",
		      p->parent.tgid && p->parent.ktime ? parent : NULL, "uid", (int)p->uid, "gid", (int)p->gid, "comm",
		      text_json(p->comm), "binary", text_json(p->filename), "args", args_json(p),
		      "args_truncated", (p->ev_flags & VIS_EVF_ARGS_TRUNC) != 0, "origin",
		      origin_names[p->origin], "state", state_names[p->state], "start_time", when,
		      "seeded", (p->proc_flags & VIS_PROC_SEEDED) != 0, "kernel_thread",
		      (p->proc_flags & VIS_PROC_KTHREAD) != 0, "cgroup_id", (json_int_t)p->cgroup_id,
		      "cgroup", text_json(p->cgroup_path), "container_id", p->container_id);
	if (!j)
		return json_object();
	if (p->record_lost)
		json_object_set_new(j, "record_lost", json_true());
	if (p->state != VIS_PS_RUNNING) {
		vis_boot_time_text(p->end_ns, when, sizeof(when));
		json_object_set_new(j, "end_time", json_string(when));
	}
	if (p->state == VIS_PS_EXITED) {
		set_exit(j, p);
		json_object_set_new(j, "exit_inferred", json_boolean(p->exit_inferred));
	}
	if (p->state == VIS_PS_REPLACED) {
		vis_exec_id(t, p->replaced_by, id);
		json_object_set_new(j, "replaced_by", json_string(id));
	}
	return j;
}

/*
 * The event stream carries one of these per exec and exit, so they hold what a reader needs and
 * no more (the agent keeps the last 65536 events of every kind in memory).
 */
json_t *vis_process_event_json(const struct vis_procs *t, const struct vis_process *p, bool exit)
{
	char id[VIS_EXEC_ID_LEN + 1], parent[VIS_EXEC_ID_LEN + 1], when[40];
	json_t *j;

	vis_exec_id(t, p->id, id);
	vis_boot_time_text(exit ? p->end_ns : p->start_ns, when, sizeof(when));
	if (exit) {
		j = json_pack("{s:s, s:s, s:i, s:i, s:o, s:o}", "time", when, "exec_id", id, "pid",
			      (int)p->id.tgid, "ppid", (int)p->ppid, "comm", text_json(p->comm), "binary",
			      text_json(p->filename));
		if (j)
			set_exit(j, p);
		return j ? j : json_object();
	}
	vis_exec_id(t, p->parent, parent);
	j = json_pack("{s:s, s:s, s:i, s:i, s:s?, s:i, s:o, s:o, s:o, s:o}", "time", when, "exec_id", id,
		      "pid", (int)p->id.tgid, "ppid", (int)p->ppid, "parent_exec_id",
		      p->parent.tgid && p->parent.ktime ? parent : NULL, "uid", (int)p->uid, "comm",
		      text_json(p->comm), "binary", text_json(p->filename), "args", args_json(p), "cgroup",
		      text_json(p->cgroup_path));
	if (!j)
		return json_object();
	if (p->container_id)
		json_object_set_new(j, "container_id", json_string(p->container_id));
	if (p->ev_flags & VIS_EVF_ARGS_TRUNC)
		json_object_set_new(j, "args_truncated", json_true());
	return j;
}

json_t *vis_ancestry_json(const struct vis_procs *t, const struct vis_process *p)
{
	json_t *chain = json_array();
	char id[VIS_EXEC_ID_LEN + 1];

	for (int depth = 0; chain && p && p->parent.tgid && p->parent.ktime && depth < ANCESTRY_MAX; depth++) {
		vis_exec_id(t, p->parent, id);
		json_array_append_new(chain, json_string(id));
		p = vis_procs_get(t, p->parent);
	}
	return chain;
}
