/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Validates a BPF ELF object (skeleton bytes or a file from the object directory) before libbpf or
 * the kernel sees it, so a foreign or corrupt object is refused with a message naming the object
 * and the problem instead of a libbpf format error or a verifier rejection.
 */
#ifndef AEGIS_OBJCHECK_H
#define AEGIS_OBJCHECK_H

#include <stddef.h>
#include <stdint.h>

#define OBJCHECK_DEFAULT_MAX_INSNS 1000000u	/* the kernel's BPF_COMPLEXITY_LIMIT_INSNS */
#define OBJCHECK_MAX_FILE_SIZE (64u << 20)	/* larger files are refused unread */

struct objcheck_spec {
	const char *name;		/* object name for messages, e.g. "guard.bpf.o" */
	const char *const *programs;	/* NULL-terminated program (function) names required */
	const char *const *maps;	/* NULL-terminated map names required */
	uint32_t max_insns;		/* per-function instruction limit (0 = 1,000,000) */
};

struct objcheck_result {
	char error[512];		/* "guard.bpf.o: refused: ..."; empty on success */
	uint32_t n_programs;		/* entry programs: global functions outside .text */
	uint32_t n_maps;		/* objects defined in .maps */
	uint32_t total_insns;		/* programs and .text subprograms */
};

/*
 * Checks the ELF header (64-bit, host byte order, ET_REL, EM_BPF), that every section lies inside
 * buf, a GPL-compatible NUL-terminated license, a non-empty .BTF, the size of every function and
 * that the programs and maps in spec exist. buf is only read, never past len.
 * spec may be NULL (no requirements, name "BPF object"); res may be NULL.
 * Returns 0, or a negative errno with res->error naming the object and the problem:
 * -ENOEXEC not a 64-bit host-order BPF relocatable object; -EINVAL truncated or malformed;
 * -EPERM license missing or not GPL-compatible; -ENOENT a required program or map missing;
 * -E2BIG a function over max_insns; -ENOTSUP something libbpf 1.x refuses (static programs
 * or maps, a legacy "maps" section); -ENOMEM.
 */
int objcheck_validate(const void *buf, size_t len, const struct objcheck_spec *spec,
		      struct objcheck_result *res);

/*
 * Reads a regular file (at most OBJCHECK_MAX_FILE_SIZE) and validates it. Messages name
 * spec->name, or the path when spec or its name is NULL. Open and read errors return -errno
 * with the strerror text in res->error.
 */
int objcheck_validate_file(const char *path, const struct objcheck_spec *spec,
			   struct objcheck_result *res);

#endif
