/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One BPF object family (guard, policy, ...) as the agent owns it: validated before load, its maps
 * and programs pinned under <pin_root>/<name>/, and adopted from those pins by a restarted agent
 * so the datapath keeps its programs (same ids) and its map contents.
 */
#ifndef AEGIS_BPFOBJ_H
#define AEGIS_BPFOBJ_H

#include <bpf/libbpf.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

#define BPFOBJ_MAX 32

struct bpfobj_desc {
	const char *name;			/* "guard": pin directory, state and messages */
	const char *file;			/* "guard.bpf.o" in bpf.object_dir */
	const void *(*embedded)(size_t *len);	/* the skeleton's elf_bytes() */
	const char *const *programs;		/* NULL-terminated, in a fixed order */
	const char *const *maps;		/* NULL-terminated, in a fixed order */
	/* Sizes maps etc. from the configuration between open and load; may be NULL. */
	int (*configure)(struct bpf_object *obj, const struct aegis_config *cfg);
};

struct bpfobj {
	const struct bpfobj_desc *desc;
	struct bpf_object *obj;		/* loaded by this run; NULL when adopted */
	int prog_fd[BPFOBJ_MAX];
	uint32_t prog_id[BPFOBJ_MAX];
	int map_fd[BPFOBJ_MAX];
	size_t n_progs, n_maps;
	bool adopted;			/* programs taken over from pins */
	bool reloaded;			/* new programs replaced older pinned ones: update links */
	uint64_t digest;		/* identity of the object bytes */
	char pin_dir[PATH_MAX];
	char source[PATH_MAX];		/* "embedded" or the file it came from */
};

/*
 * Validates, then adopts the pinned programs and maps when they come from the same object bytes,
 * else loads (reusing pinned maps, so their contents survive an upgrade) and pins. Every step is
 * audited. Returns 0 or a negative error that has already been logged with the object's name.
 */
int bpfobj_setup(struct bpfobj *o, const struct bpfobj_desc *d, const struct aegis_config *cfg);
/* Closes our fds; pins (and so the datapath) stay. */
void bpfobj_close(struct bpfobj *o);

/*
 * For a desc's configure(): sets map's max_entries to n before load. An error is logged naming
 * the object, the map and key, the configuration setting that asked for the size.
 */
int bpfobj_size_map(struct bpf_object *obj, const char *map, uint32_t n, const char *key);

int bpfobj_map_fd(const struct bpfobj *o, const char *name);
int bpfobj_prog_fd(const struct bpfobj *o, const char *name);
/* <pin_dir>/links/<link>: -ENAMETOOLONG when it does not fit. */
int bpfobj_link_pin_path(const struct bpfobj *o, const char *link, char *buf, size_t len);

/*
 * Removes everything under pin_root: links are detached first (so the hook is really gone even
 * if something else holds the link), then every pin is unlinked and the directories removed.
 * Each removal is audited. Returns the number of objects removed, or a negative error.
 */
int bpfobj_remove_all(const char *pin_root);

#endif
