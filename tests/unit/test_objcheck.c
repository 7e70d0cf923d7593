// SPDX-License-Identifier: GPL-2.0-only
/*
 * objcheck against the real guard object from its skeleton, and against hostile variants of it:
 * cut at every offset, patched header fields, licenses, section names and symbols, random byte
 * flips. Every variant lives in an exact-size heap copy, so valgrind flags any read past its end.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guard.h"
#include "guard.skel.h"
#include "objcheck.h"
#include "test.h"

#define OBJ "guard.bpf.o"
#define REFUSED OBJ ": refused: "

/* What the agent requires of the object (src/guard.c). */
#define guard_spec (struct objcheck_spec){ .name = OBJ, .programs = guard_desc.programs, \
					   .maps = guard_desc.maps }

/* The object defines exactly the maps the agent requires, no more. */
static uint32_t guard_map_count(void)
{
	uint32_t n = 0;

	while (guard_desc.maps[n])
		n++;
	return n;
}

struct fixture {
	unsigned char *buf;
	size_t len;
};

/* A heap copy of the first len bytes of the guard object (all of it when len is SIZE_MAX). */
static bool fixture_get(struct fixture *f, size_t len)
{
	size_t full;
	const void *src = guard_bpf__elf_bytes(&full);

	f->len = len < full ? len : full;
	/* malloc(0) may return NULL; one spare byte that the length never covers. */
	f->buf = malloc(f->len ? f->len : 1);
	if (!ASSERT_TRUE(f->buf, "malloc fixture"))
		return false;
	memcpy(f->buf, src, f->len);
	return true;
}

static void fixture_put(struct fixture *f)
{
	free(f->buf);
	f->buf = NULL;
}

/* Appends bytes after the object (no section covers them) and returns their offset. */
static bool fixture_append(struct fixture *f, const void *data, size_t n, size_t *off)
{
	unsigned char *nbuf = realloc(f->buf, f->len + n);

	if (!ASSERT_TRUE(nbuf, "realloc fixture"))
		return false;
	f->buf = nbuf;
	memcpy(f->buf + f->len, data, n);
	*off = f->len;
	f->len += n;
	return true;
}

/*
 * Raw views into the fixture, which is the well-formed object bpftool wrote (8-byte aligned
 * tables in host byte order). Pointers are invalidated by fixture_append().
 */
static Elf64_Ehdr *fx_ehdr(struct fixture *f)
{
	return (Elf64_Ehdr *)f->buf;
}

static Elf64_Shdr *fx_shdr(struct fixture *f, size_t idx)
{
	return (Elf64_Shdr *)(f->buf + fx_ehdr(f)->e_shoff) + idx;
}

static char *fx_secname(struct fixture *f, size_t idx)
{
	Elf64_Shdr *names = fx_shdr(f, fx_ehdr(f)->e_shstrndx);

	return (char *)f->buf + names->sh_offset + fx_shdr(f, idx)->sh_name;
}

static Elf64_Shdr *fx_section(struct fixture *f, const char *name, size_t *idx)
{
	for (size_t i = 1; i < fx_ehdr(f)->e_shnum; i++) {
		if (strcmp(fx_secname(f, i), name) == 0) {
			if (idx)
				*idx = i;
			return fx_shdr(f, i);
		}
	}
	test_fail_at(__FILE__, __LINE__, "fixture has no section \"%s\"", name);
	return NULL;
}

static Elf64_Sym *fx_symbol(struct fixture *f, const char *name, size_t *idx)
{
	for (size_t s = 1; s < fx_ehdr(f)->e_shnum; s++) {
		Elf64_Shdr *sh = fx_shdr(f, s);
		const char *strs;
		Elf64_Sym *syms;

		if (sh->sh_type != SHT_SYMTAB)
			continue;
		syms = (Elf64_Sym *)(f->buf + sh->sh_offset);
		strs = (const char *)f->buf + fx_shdr(f, sh->sh_link)->sh_offset;
		for (size_t i = 1; i < sh->sh_size / sizeof(*syms); i++) {
			if (strcmp(strs + syms[i].st_name, name) == 0) {
				if (idx)
					*idx = i;
				return &syms[i];
			}
		}
	}
	test_fail_at(__FILE__, __LINE__, "fixture has no symbol \"%s\"", name);
	return NULL;
}

static int validate(struct fixture *f, struct objcheck_result *res)
{
	return objcheck_validate(f->buf, f->len, &guard_spec, res);
}

static bool write_tmp(const char *name, const void *data, size_t len, char *path, size_t pathlen)
{
	FILE *fp;
	bool ok;

	snprintf(path, pathlen, "%s/%s", test_tmpdir(), name);
	fp = fopen(path, "w");
	if (!ASSERT_TRUE(fp, "fopen tmp"))
		return false;
	ok = fwrite(data, 1, len, fp) == len;
	if (fclose(fp) != 0)
		ok = false;
	return ASSERT_TRUE(ok, "write tmp");
}

TEST(objcheck_guard_valid)
{
	struct objcheck_result res;
	const void *bytes;
	size_t len;
	int err;

	/* Straight from the skeleton's .rodata, as the agent calls it. */
	bytes = guard_bpf__elf_bytes(&len);
	err = objcheck_validate(bytes, len, &guard_spec, &res);
	if (!ASSERT_OK(err, "validate guard")) {
		fprintf(stderr, "    %s\n", res.error);
		return;
	}
	ASSERT_STREQ(res.error, "", "no error text");
	ASSERT_EQ(res.n_programs, 1, "n_programs");
	ASSERT_EQ(res.n_maps, guard_map_count(), "n_maps");
	/* Even a stub returns: at least "r0 = XDP_PASS; exit". */
	ASSERT_GE(res.total_insns, 2, "total_insns");
	ASSERT_OK(objcheck_validate(bytes, len, NULL, NULL), "no spec, no result");
}

TEST(objcheck_guard_file)
{
	struct objcheck_result res;
	char path[256];
	const void *bytes;
	size_t len;
	int err;

	bytes = guard_bpf__elf_bytes(&len);
	if (!write_tmp("guard.bpf.o", bytes, len, path, sizeof(path)))
		return;
	err = objcheck_validate_file(path, &guard_spec, &res);
	if (!ASSERT_OK(err, "validate file")) {
		fprintf(stderr, "    %s\n", res.error);
		return;
	}
	ASSERT_EQ(res.n_maps, guard_map_count(), "n_maps");
	ASSERT_EQ(res.n_programs, 1, "n_programs");
}

static bool truncated_refused(size_t cut, int *err_out, char *msg, size_t msglen)
{
	struct objcheck_result res;
	struct fixture f;
	int err;

	if (!fixture_get(&f, cut))
		return false;
	err = validate(&f, &res);
	fixture_put(&f);
	*err_out = err;
	snprintf(msg, msglen, "%s", res.error);
	if (ASSERT_ERR(err, "truncated object refused") &&
	    ASSERT_STRSTR(res.error, REFUSED, "message names the object"))
		return true;
	fprintf(stderr, "    cut at %zu of the object\n", cut);
	return false;
}

TEST(objcheck_truncated_every_offset)
{
	char msg[512];
	size_t len, cut, tried = 0;
	int err;

	guard_bpf__elf_bytes(&len);
	for (cut = 0; cut < len; cut += cut < 256 ? 1 : 61, tried++)
		if (!truncated_refused(cut, &err, msg, sizeof(msg)))
			return;
	if (!truncated_refused(len - 1, &err, msg, sizeof(msg)))
		return;
	ASSERT_GE(tried, 256 + (len - 256) / 61, "offsets tried");
	/* Cut one byte short: the section header table, written last, no longer fits. */
	ASSERT_EQ(err, -EINVAL, "len-1 error");
	ASSERT_STRSTR(msg, REFUSED "truncated (section header table", "len-1 message");
	truncated_refused(3, &err, msg, sizeof(msg));
	ASSERT_STRSTR(msg, "truncated (ELF header needs 64 bytes, file is 3 bytes)",
		      "3-byte message");
}

/* Highest end of any section's data: a buffer shorter than this cannot hold the object. */
static size_t fx_data_end(struct fixture *f)
{
	size_t end = 0;

	for (size_t i = 1; i < fx_ehdr(f)->e_shnum; i++) {
		Elf64_Shdr *sh = fx_shdr(f, i);

		if (sh->sh_type != SHT_NOBITS && sh->sh_offset + sh->sh_size > end)
			end = sh->sh_offset + sh->sh_size;
	}
	return end;
}

/*
 * The section header table comes last, so a plain cut is always caught there. Here the data is
 * cut and the intact table is moved right after it: the per-section bounds checks are reached.
 */
static bool cut_sections_refused(size_t cut)
{
	struct objcheck_result res;
	struct fixture f, t;
	size_t shoff, tbl, need;
	int err;

	if (!fixture_get(&f, SIZE_MAX))
		return false;
	shoff = fx_ehdr(&f)->e_shoff;
	tbl = fx_ehdr(&f)->e_shnum * sizeof(Elf64_Shdr);
	need = fx_data_end(&f);
	if (!fixture_get(&t, cut)) {
		fixture_put(&f);
		return false;
	}
	if (!fixture_append(&t, f.buf + shoff, tbl, &shoff)) {
		fixture_put(&f);
		fixture_put(&t);
		return false;
	}
	fixture_put(&f);
	fx_ehdr(&t)->e_shoff = shoff;
	err = validate(&t, &res);
	fixture_put(&t);
	/* Sections that now overlap the moved table hold table bytes: any verdict will do. */
	if (need <= cut + tbl)
		return true;
	if (ASSERT_ERR(err, "cut sections refused") &&
	    ASSERT_STRSTR(res.error, REFUSED "truncated (section ", "names the cut section"))
		return true;
	fprintf(stderr, "    data cut at %zu\n", cut);
	return false;
}

TEST(objcheck_truncated_sections)
{
	struct fixture f;
	size_t shoff;

	if (!fixture_get(&f, SIZE_MAX))
		return;
	shoff = fx_ehdr(&f)->e_shoff;
	fixture_put(&f);
	for (size_t cut = sizeof(Elf64_Ehdr); cut < shoff; cut += cut < 256 ? 1 : 61)
		if (!cut_sections_refused(cut))
			return;
	cut_sections_refused(shoff - 1);
}

struct header_patch {
	const char *what;
	size_t off;
	unsigned int width;
	uint64_t value;
	int err;
	const char *expect;
};

static const struct header_patch header_patches[] = {
	{ "magic", 1, 1, 'X', -ENOEXEC, REFUSED "not an ELF object (no ELF magic)" },
	{ "32-bit", EI_CLASS, 1, ELFCLASS32, -ENOEXEC,
	  REFUSED "not a 64-bit ELF object (class ELFCLASS32)" },
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	{ "big-endian", EI_DATA, 1, ELFDATA2MSB, -ENOEXEC,
	  REFUSED "byte order big-endian (2), host is little-endian" },
#endif
	{ "ELF version", EI_VERSION, 1, 2, -ENOEXEC, REFUSED "ELF version 2, expected 1" },
	{ "x86-64", offsetof(Elf64_Ehdr, e_machine), 2, EM_X86_64, -ENOEXEC,
	  REFUSED "not a BPF object (machine x86-64, not BPF)" },
	{ "machine 4242", offsetof(Elf64_Ehdr, e_machine), 2, 4242, -ENOEXEC,
	  REFUSED "not a BPF object (machine 4242, not BPF)" },
	{ "ET_EXEC", offsetof(Elf64_Ehdr, e_type), 2, ET_EXEC, -ENOEXEC,
	  REFUSED "not a relocatable object (type executable, not ET_REL)" },
	{ "no shdrs", offsetof(Elf64_Ehdr, e_shoff), 8, 0, -EINVAL,
	  REFUSED "no section header table" },
	{ "shoff past end", offsetof(Elf64_Ehdr, e_shoff), 8, UINT64_MAX - 8, -EINVAL,
	  REFUSED "truncated (section header table at 18446744073709551607, file is" },
	{ "shentsize", offsetof(Elf64_Ehdr, e_shentsize), 2, 40, -EINVAL,
	  REFUSED "section header size 40, expected 64" },
	{ "shnum", offsetof(Elf64_Ehdr, e_shnum), 2, 0xff00, -EINVAL,
	  REFUSED "truncated (section header table: 65280 entries at" },
	{ "shstrndx", offsetof(Elf64_Ehdr, e_shstrndx), 2, 100, -EINVAL,
	  REFUSED "section-name table index 100 out of range" },
	{ "shstrndx 0", offsetof(Elf64_Ehdr, e_shstrndx), 2, 0, -EINVAL,
	  REFUSED "section-name table index 0 out of range" },
};

/* Host byte order is the object's byte order, so a plain copy writes the field. */
static void patch_field(unsigned char *p, unsigned int width, uint64_t v)
{
	uint8_t v8 = (uint8_t)v;
	uint16_t v16 = (uint16_t)v;

	if (width == 1)
		memcpy(p, &v8, 1);
	else if (width == 2)
		memcpy(p, &v16, 2);
	else
		memcpy(p, &v, 8);
}

TEST(objcheck_header_fields)
{
	for (size_t i = 0; i < sizeof(header_patches) / sizeof(header_patches[0]); i++) {
		const struct header_patch *hp = &header_patches[i];
		struct objcheck_result res;
		struct fixture f;
		int err;

		if (!fixture_get(&f, SIZE_MAX))
			return;
		patch_field(f.buf + hp->off, hp->width, hp->value);
		err = validate(&f, &res);
		fixture_put(&f);
		if (!ASSERT_EQ(err, hp->err, hp->what) ||
		    !ASSERT_STRSTR(res.error, hp->expect, hp->what))
			return;
	}
}

TEST(objcheck_host_elf)
{
	struct objcheck_result res;
	int err;

	err = objcheck_validate_file("/proc/self/exe", &guard_spec, &res);
	ASSERT_EQ(err, -ENOEXEC, "host ELF refused");
	ASSERT_STRSTR(res.error, REFUSED "not a BPF object (machine ", "names the machine");
#ifdef __x86_64__
	ASSERT_STRSTR(res.error, "machine x86-64, not BPF", "x86-64");
#endif
}

/* Points the license section at bytes appended to the object. */
static int with_license(const void *lic, size_t n, struct objcheck_result *res)
{
	struct fixture f;
	Elf64_Shdr *sh;
	size_t off;
	int err;

	if (!fixture_get(&f, SIZE_MAX))
		return 1;
	if (!fixture_append(&f, lic, n, &off) || !(sh = fx_section(&f, "license", NULL))) {
		fixture_put(&f);
		return 1;
	}
	sh->sh_offset = off;
	sh->sh_size = n;
	err = validate(&f, res);
	fixture_put(&f);
	return err;
}

TEST(objcheck_license)
{
	static const char proprietary[] = "Proprietary";
	static const char dual[] = "Dual BSD/GPL";
	static const char gpl2[] = "GPL v2";
	static const char escape[] = "GPL\x1b[2J";
	struct objcheck_result res;
	struct fixture f;
	size_t idx = 0;
	int err;

	err = with_license(proprietary, sizeof(proprietary), &res);
	ASSERT_EQ(err, -EPERM, "Proprietary refused");
	ASSERT_STREQ(res.error, REFUSED "license \"Proprietary\" is not GPL-compatible",
		     "Proprietary message");
	ASSERT_OK(with_license(dual, sizeof(dual), &res), "Dual BSD/GPL accepted");
	ASSERT_OK(with_license(gpl2, sizeof(gpl2), &res), "GPL v2 accepted");
	/* The kernel compares up to the NUL; padding after it is fine, a missing NUL is not. */
	ASSERT_OK(with_license("GPL\0\0\0\0", 8, &res), "padded GPL accepted");
	err = with_license("GPL", 3, &res);
	ASSERT_EQ(err, -EINVAL, "unterminated refused");
	ASSERT_STRSTR(res.error, "license is not NUL-terminated", "unterminated message");
	/* A terminal escape in a license must not reach the log as is. */
	err = with_license(escape, sizeof(escape), &res);
	ASSERT_EQ(err, -EPERM, "escape refused");
	ASSERT_STRSTR(res.error, "license \"GPL?[2J\" is not", "escape shown safely");

	if (!fixture_get(&f, SIZE_MAX))
		return;
	if (fx_section(&f, "license", &idx))
		fx_secname(&f, idx)[0] = 'L';
	err = validate(&f, &res);
	fixture_put(&f);
	ASSERT_EQ(err, -EPERM, "no license refused");
	ASSERT_STRSTR(res.error, REFUSED "no \"license\" section", "no license message");
}

/* Runs validate on a copy with one section header changed by fn. */
static int with_section(const char *name, void (*fn)(struct fixture *, Elf64_Shdr *, size_t),
			struct objcheck_result *res)
{
	struct fixture f;
	Elf64_Shdr *sh;
	size_t idx;
	int err;

	if (!fixture_get(&f, SIZE_MAX))
		return 1;
	sh = fx_section(&f, name, &idx);
	if (!sh) {
		fixture_put(&f);
		return 1;
	}
	fn(&f, sh, idx);
	err = validate(&f, res);
	fixture_put(&f);
	return err;
}

static void rename_section(struct fixture *f, Elf64_Shdr *sh, size_t idx)
{
	fx_secname(f, idx)[3] = 'X';	/* ".BTF" -> ".BTX", ".BTF.ext" -> ".BTX.ext" */
}

static void empty_section(struct fixture *f, Elf64_Shdr *sh, size_t idx)
{
	sh->sh_size = 0;
}

static void break_magic(struct fixture *f, Elf64_Shdr *sh, size_t idx)
{
	f->buf[sh->sh_offset] ^= 0xff;
}

static void past_end(struct fixture *f, Elf64_Shdr *sh, size_t idx)
{
	sh->sh_offset = f->len - 16;
}

static void huge_size(struct fixture *f, Elf64_Shdr *sh, size_t idx)
{
	sh->sh_size = UINT64_MAX;
}

static void make_nobits(struct fixture *f, Elf64_Shdr *sh, size_t idx)
{
	sh->sh_type = SHT_NOBITS;
}

static void odd_section(struct fixture *f, Elf64_Shdr *sh, size_t idx)
{
	sh->sh_size -= 4;
}

static void bad_name(struct fixture *f, Elf64_Shdr *sh, size_t idx)
{
	sh->sh_name = 0x7fffffff;
}

static void names_in_symtab(struct fixture *f, Elf64_Shdr *sh, size_t idx)
{
	fx_ehdr(f)->e_shstrndx = (Elf64_Half)idx;
}

TEST(objcheck_btf)
{
	struct objcheck_result res;
	int err;

	err = with_section(".BTF", rename_section, &res);
	ASSERT_EQ(err, -EINVAL, ".BTF renamed");
	ASSERT_STREQ(res.error, REFUSED "no \".BTF\" section (needed for CO-RE and map definitions)",
		     ".BTF renamed message");
	err = with_section(".BTF", empty_section, &res);
	ASSERT_EQ(err, -EINVAL, ".BTF empty");
	ASSERT_STRSTR(res.error, "\".BTF\" section is empty", ".BTF empty message");
	err = with_section(".BTF", break_magic, &res);
	ASSERT_EQ(err, -EINVAL, ".BTF magic");
	ASSERT_STRSTR(res.error, "\".BTF\" magic 0x", ".BTF magic message");
	/* .BTF.ext is only noted: without it CO-RE has nothing to relocate, which is legal. */
	ASSERT_OK(with_section(".BTF.ext", rename_section, &res), ".BTF.ext renamed is accepted");
}

TEST(objcheck_section_bounds)
{
	struct objcheck_result res;
	char expect[256];
	struct fixture f;
	size_t idx = 0;
	int err;

	if (!fixture_get(&f, SIZE_MAX))
		return;
	if (fx_section(&f, ".BTF", &idx))
		snprintf(expect, sizeof(expect),
			 REFUSED "truncated (section %zu \".BTF\" ends at %llu, file is %zu bytes)", idx,
			 (unsigned long long)(f.len - 16 + fx_shdr(&f, idx)->sh_size), f.len);
	fixture_put(&f);
	err = with_section(".BTF", past_end, &res);
	ASSERT_EQ(err, -EINVAL, ".BTF past the end");
	ASSERT_STREQ(res.error, expect, ".BTF past the end message");
	err = with_section(".symtab", huge_size, &res);
	ASSERT_EQ(err, -EINVAL, "symtab size 2^64-1");
	ASSERT_STRSTR(res.error, "\".symtab\" at ", "symtab size message");
	err = with_section(".symtab", names_in_symtab, &res);
	ASSERT_EQ(err, -EINVAL, "section names in the symbol table");
	ASSERT_STRSTR(res.error, ", the section-name table, is not a string table",
		      "shstrndx message");
	err = with_section("xdp", make_nobits, &res);
	ASSERT_EQ(err, -EINVAL, "code section without data");
	ASSERT_STRSTR(res.error, "\"xdp\" has no data (type 8)", "NOBITS code message");
	err = with_section("xdp", odd_section, &res);
	ASSERT_EQ(err, -EINVAL, "code section of partial instructions");
	ASSERT_STRSTR(res.error, "is not whole instructions of 8 bytes", "odd code section message");
	err = with_section("xdp", bad_name, &res);
	ASSERT_EQ(err, -EINVAL, "name offset out of range");
	ASSERT_STRSTR(res.error, "bad name offset 2147483647", "bad name message");
}

TEST(objcheck_required)
{
	static const char *const progs[] = { "xdp_guard", "xdp_nope", NULL };
	static const char *const maps[] = { "guard_ifaces", "guard_nope", NULL };
	struct objcheck_spec spec = guard_spec;
	struct objcheck_result res;
	const void *bytes;
	size_t len;
	int err;

	bytes = guard_bpf__elf_bytes(&len);
	spec.programs = progs;
	err = objcheck_validate(bytes, len, &spec, &res);
	ASSERT_EQ(err, -ENOENT, "missing program");
	ASSERT_STRSTR(res.error, REFUSED "program \"xdp_nope\" missing (has: ", "program message");
	ASSERT_STRSTR(res.error, "xdp_guard", "lists what it has");

	spec.programs = guard_desc.programs;
	spec.maps = maps;
	err = objcheck_validate(bytes, len, &spec, &res);
	ASSERT_EQ(err, -ENOENT, "missing map");
	ASSERT_STRSTR(res.error, REFUSED "map \"guard_nope\" missing (has: ", "map message");
	ASSERT_STRSTR(res.error, "guard_counters", "lists what it has");
	/* A map name is not a program. */
	spec.maps = NULL;
	spec.programs = (const char *const[]){ "guard_ifaces", NULL };
	err = objcheck_validate(bytes, len, &spec, &res);
	ASSERT_EQ(err, -ENOENT, "map is not a program");
}

TEST(objcheck_max_insns)
{
	struct objcheck_spec spec = guard_spec;
	struct objcheck_result res;
	char expect[128];
	struct fixture f;
	Elf64_Sym *sym;
	uint64_t insns;
	int err;

	if (!fixture_get(&f, SIZE_MAX))
		return;
	sym = fx_symbol(&f, "xdp_guard", NULL);
	if (!sym) {
		fixture_put(&f);
		return;
	}
	insns = sym->st_size / 8;
	spec.max_insns = (uint32_t)insns - 1;
	err = validate(&f, &res);
	ASSERT_OK(err, "default limit");
	err = objcheck_validate(f.buf, f.len, &spec, &res);
	fixture_put(&f);
	ASSERT_EQ(err, -E2BIG, "over the limit");
	snprintf(expect, sizeof(expect), "has %llu instructions, limit %u",
		 (unsigned long long)insns, spec.max_insns);
	ASSERT_STRSTR(res.error, expect, "limit message");
}

struct sym_patch {
	const char *what;
	const char *sym;
	void (*fn)(Elf64_Sym *sym);
	int err;
	const char *expect;
};

static void odd_size(Elf64_Sym *sym)
{
	sym->st_size += 4;
}

static void zero_size(Elf64_Sym *sym)
{
	sym->st_size = 0;
}

static void too_big(Elf64_Sym *sym)
{
	sym->st_size = 1ull << 40;
}

static void wraps(Elf64_Sym *sym)
{
	sym->st_value = UINT64_MAX - 7;
}

static void make_static(Elf64_Sym *sym)
{
	sym->st_info = ELF64_ST_INFO(STB_LOCAL, ELF64_ST_TYPE(sym->st_info));
}

static void bad_shndx(Elf64_Sym *sym)
{
	sym->st_shndx = 0xfe00;
}

static void bad_symname(Elf64_Sym *sym)
{
	sym->st_name = 0x7fffffff;
}

static const struct sym_patch sym_patches[] = {
	{ "odd size", "xdp_guard", odd_size, -EINVAL, "not whole instructions of 8 bytes" },
	{ "zero size", "xdp_guard", zero_size, -EINVAL, "program \"xdp_guard\" is 0 bytes" },
	{ "past section", "xdp_guard", too_big, -EINVAL,
	  "program \"xdp_guard\" (offset 0, 1099511627776 bytes) crosses the end of section \"xdp\"" },
	{ "offset wraps", "xdp_guard", wraps, -EINVAL, "crosses the end of section" },
	{ "static program", "xdp_guard", make_static, -ENOTSUP, "program \"xdp_guard\" is static" },
	{ "static map", "guard_ifaces", make_static, -ENOTSUP, "map \"guard_ifaces\" is static" },
	{ "map past section", "block_v6_rules", too_big, -EINVAL,
	  "map \"block_v6_rules\" (offset" },
	{ "section index", "xdp_guard", bad_shndx, -EINVAL, "is in section 65024, object has" },
	{ "name offset", "xdp_guard", bad_symname, -EINVAL, "bad name offset 2147483647" },
};

TEST(objcheck_symbols)
{
	for (size_t i = 0; i < sizeof(sym_patches) / sizeof(sym_patches[0]); i++) {
		const struct sym_patch *sp = &sym_patches[i];
		struct objcheck_result res;
		struct fixture f;
		Elf64_Sym *sym;
		int err;

		if (!fixture_get(&f, SIZE_MAX))
			return;
		sym = fx_symbol(&f, sp->sym, NULL);
		if (!sym) {
			fixture_put(&f);
			return;
		}
		sp->fn(sym);
		err = validate(&f, &res);
		fixture_put(&f);
		if (!ASSERT_EQ(err, sp->err, sp->what) ||
		    !ASSERT_STRSTR(res.error, sp->expect, sp->what))
			return;
	}
}

/* xorshift64: a fixed seed makes every run flip the same bytes, so a failure reproduces. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Flips 1-4 random bytes in [start, start+span) of a copy; the result must be a clean verdict. */
static bool flip_variant(uint64_t *seed, size_t start, size_t span, unsigned *refused)
{
	struct objcheck_result res;
	struct fixture f;
	unsigned flips;
	int err;

	if (!fixture_get(&f, SIZE_MAX))
		return false;
	flips = 1 + rnd(seed) % 4;
	for (unsigned k = 0; k < flips; k++)
		f.buf[start + rnd(seed) % span] ^= (uint8_t)(1 + rnd(seed) % 255);
	err = validate(&f, &res);
	fixture_put(&f);
	if (err == 0)
		return ASSERT_STREQ(res.error, "", "accepted variant has no error text");
	(*refused)++;
	return ASSERT_STRSTR(res.error, REFUSED, "refused variant names the object");
}

TEST(objcheck_random_flips)
{
	uint64_t seed = 0x5eed0b1ec7c4ec4bull;
	unsigned refused = 0;
	struct fixture f;
	size_t shoff, shsize;

	if (!fixture_get(&f, SIZE_MAX))
		return;
	shoff = fx_ehdr(&f)->e_shoff;
	shsize = f.len - shoff;
	fixture_put(&f);
	for (int i = 0; i < 300; i++)
		if (!flip_variant(&seed, 0, sizeof(Elf64_Ehdr), &refused))
			return;
	ASSERT_GE(refused, 150, "most ELF header flips refused");
	for (int i = 0; i < 300; i++)
		if (!flip_variant(&seed, shoff, shsize, &refused))
			return;
	for (int i = 0; i < 300; i++)
		if (!flip_variant(&seed, 0, f.len, &refused))
			return;
}

TEST(objcheck_not_elf)
{
	static const char text[] = "guard:\n  interfaces: [eth0]\n";
	struct objcheck_result res;
	char path[256];
	int err;

	err = objcheck_validate(NULL, 0, &guard_spec, &res);
	ASSERT_EQ(err, -ENOEXEC, "NULL buffer");
	ASSERT_STREQ(res.error, REFUSED "empty (0 bytes), not an ELF object", "empty message");
	err = objcheck_validate(text, 0, &guard_spec, &res);
	ASSERT_EQ(err, -ENOEXEC, "zero length");
	err = objcheck_validate(text, sizeof(text) - 1, &guard_spec, &res);
	ASSERT_EQ(err, -ENOEXEC, "text buffer");
	ASSERT_STREQ(res.error, REFUSED "not an ELF object (no ELF magic)", "text message");
	if (!write_tmp("aegis.yaml", text, sizeof(text) - 1, path, sizeof(path)))
		return;
	err = objcheck_validate_file(path, &guard_spec, &res);
	ASSERT_EQ(err, -ENOEXEC, "text file");
	ASSERT_STRSTR(res.error, REFUSED "not an ELF object", "text file message");
	if (!write_tmp("empty.bpf.o", text, 0, path, sizeof(path)))
		return;
	err = objcheck_validate_file(path, NULL, &res);
	ASSERT_EQ(err, -ENOEXEC, "empty file");
	ASSERT_STRSTR(res.error, "empty.bpf.o: refused: empty", "empty file named by path");
}

TEST(objcheck_file_errors)
{
	struct objcheck_result res;
	char path[256], expect[512];
	int err;

	snprintf(path, sizeof(path), "%s/missing.bpf.o", test_tmpdir());
	err = objcheck_validate_file(path, &guard_spec, &res);
	ASSERT_EQ(err, -ENOENT, "missing file");
	snprintf(expect, sizeof(expect), OBJ ": cannot open %s: %s", path, strerror(ENOENT));
	ASSERT_STREQ(res.error, expect, "missing file message");
	err = objcheck_validate_file(path, NULL, &res);
	snprintf(expect, sizeof(expect), "%s: cannot open: %s", path, strerror(ENOENT));
	ASSERT_STREQ(res.error, expect, "missing file named by path");
	err = objcheck_validate_file(test_tmpdir(), &guard_spec, &res);
	ASSERT_EQ(err, -EINVAL, "directory");
	ASSERT_STRSTR(res.error, "is not a regular file", "directory message");
}
