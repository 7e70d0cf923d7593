/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The agent's process table: every image (exec or fork) with its exec_id, parent, command line,
 * cgroup and container, built from the kernel's records (vis_events) and checked against the
 * kernel's vis_procs map, so a record the ring buffer lost still leaves the process in the
 * table (marked) instead of a hole. Exited and replaced images stay for a retention time, so a
 * flow still finds its owner after the process is gone.
 *
 * An exec_id is boot id + identity time + tgid, so it is unique on the host across reboots and
 * pid reuse: base64url of the 16-byte boot id, the big-endian 64-bit CLOCK_BOOTTIME ns of the
 * fork or exec that made the image (for a process seeded from /proc: its start in USER_HZ
 * ticks, as ns) and the big-endian 32-bit tgid (38 characters).
 */
#ifndef AEGIS_VIS_PROC_H
#define AEGIS_VIS_PROC_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "aegis/visibility.h"
#include "hmap.h"

#define VIS_EXEC_ID_LEN 38

struct vis_ident {
	uint64_t ktime;
	uint32_t tgid;
};

enum vis_pstate {
	VIS_PS_RUNNING,
	VIS_PS_EXITED,
	VIS_PS_REPLACED,	/* the process exec'd: this image ended, the pid runs another */
};

/* Where what we know of an image comes from. */
enum vis_origin {
	VIS_ORIGIN_EXEC,	/* its exec record */
	VIS_ORIGIN_FORK,	/* its fork record: binary and arguments are its parent's */
	VIS_ORIGIN_PROC,	/* /proc: it ran before the agent, or its record was lost */
	VIS_ORIGIN_NONE,	/* only its exit record: it came and went while records were lost */
};

/* Bits of a frame: what happened to a process since the last frame. */
#define VIS_FRAME_NEW		(1u << 0)
#define VIS_FRAME_CHANGED	(1u << 1)
#define VIS_FRAME_ENDED		(1u << 2)

struct vis_process {
	struct vis_ident id;
	struct vis_ident parent;	/* the image that forked it (ktime 0: unknown) */
	uint32_t ppid, uid, gid;
	uint64_t start_ns, end_ns;	/* CLOCK_BOOTTIME; end_ns 0 while running */
	uint64_t cgroup_id;
	int64_t exit_status;		/* wait(2) status, -1 when unknown */
	uint32_t proc_flags;		/* VIS_PROC_* */
	uint32_t ev_flags;		/* VIS_EVF_* of its record */
	uint8_t state;			/* enum vis_pstate */
	uint8_t origin;			/* enum vis_origin */
	uint8_t frame_bits;
	bool record_lost;		/* known from vis_procs or /proc: its record never came */
	bool exit_inferred;		/* gone from vis_procs without an exit record */
	struct vis_ident replaced_by;
	char comm[VIS_COMM_LEN];
	char *filename;
	char *args;			/* NUL-separated, as /proc/PID/cmdline */
	uint32_t args_len;
	const char *cgroup_path;	/* owned by the table's cgroup cache; "" when unknown */
	const char *container_id;	/* likewise; NULL when none */
};

struct vis_procs_stats {
	uint64_t records[4];		/* by enum vis_event_kind */
	uint64_t seeded;		/* processes seeded from /proc */
	uint64_t records_inferred;	/* images found in vis_procs whose record never came */
	uint64_t exits_inferred;	/* exits found by their absence from vis_procs */
	uint64_t ended_dropped;		/* ended images dropped before their retention (table full) */
	uint64_t bad_records;		/* records of an unexpected size or kind */
};

struct vis_procs {
	struct hmap by_id;		/* vis_ident -> struct vis_process */
	struct hmap by_tgid;		/* tgid -> the running image */
	struct hmap cgroups;		/* cgroup id -> struct vis_cgroup */
	uint8_t boot_id[16];
	int cgroup_root_fd;
	char cgroup_root[PATH_MAX];
	size_t n_running, n_ended;
	uint32_t max_ended;		/* ended images kept at most (visibility.capacity.processes) */
	uint32_t args_max;		/* bytes of arguments read from /proc (visibility.args_max) */
	struct vis_process **frame;	/* images with frame_bits set */
	size_t n_frame, cap_frame;
	struct vis_procs_stats stats;
};

int vis_procs_init(struct vis_procs *t, uint32_t max_ended);
void vis_procs_free(struct vis_procs *t);

/* One record from the ring buffer. */
void vis_procs_record(struct vis_procs *t, const void *data, size_t size);

/*
 * At start: the images vis_procs already holds (a restarted agent; hooks ran meanwhile) and then
 * every process /proc shows that it does not (added to it, marked seeded). Details come from
 * /proc. Entries for processes that are gone are removed from the map.
 */
int vis_procs_seed(struct vis_procs *t, int map_fd);

/*
 * Compares the table with vis_procs: images there without their record are added from /proc,
 * running images gone from it without an exit record are ended. Call it after reading the map
 * and then draining the ring (so every record of what the map showed has come).
 */
void vis_procs_reconcile(struct vis_procs *t, const uint32_t *tgids, const struct vis_proc *vals,
			 size_t n);

/* Frees ended images older than retention_ns (and the oldest beyond max_ended). */
void vis_procs_expire(struct vis_procs *t, uint64_t now_boot_ns, uint64_t retention_ns);

struct vis_process *vis_procs_get(const struct vis_procs *t, struct vis_ident id);
struct vis_process *vis_procs_running(const struct vis_procs *t, uint32_t tgid);

/* exec_id text of an identity on this boot (buf: VIS_EXEC_ID_LEN + 1). */
void vis_exec_id(const struct vis_procs *t, struct vis_ident id, char *buf);
/* Parses an exec_id of this boot: 0, -EINVAL (not one), -ESRCH (another boot). */
int vis_exec_id_parse(const struct vis_procs *t, const char *s, struct vis_ident *id);

json_t *vis_process_json(const struct vis_procs *t, const struct vis_process *p);
/* The short form for the event stream: an exec (start) or an exit. */
json_t *vis_process_event_json(const struct vis_procs *t, const struct vis_process *p, bool exit);
/* The exec_ids of p's ancestors, nearest first (at most 64; stops at one not in the table). */
json_t *vis_ancestry_json(const struct vis_procs *t, const struct vis_process *p);

/* Clears the frame bits and list after a frame was built. */
void vis_procs_frame_reset(struct vis_procs *t);

/* "/system.slice/docker-<id>.scope" -> "<id>": the innermost 64-hex-digit name. buf: 65 bytes. */
bool vis_container_id(const char *cgroup_path, char *buf);

/* Boot-time ns to an RFC 3339 string. */
void vis_boot_time_text(uint64_t boot_ns, char *buf, size_t len);

#endif
