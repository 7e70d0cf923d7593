// SPDX-License-Identifier: GPL-2.0-only
/*
 * BPF object validation with libelf. elf_memory() trusts the offsets it finds in the buffer, so
 * the header, the section header table and every section are bounds-checked here before libelf
 * is asked to read them. The rules mirror what libbpf 1.x and the kernel would refuse anyway; the
 * point is a message that names the object and the problem, before anything is loaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <linux/btf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "objcheck.h"
#include "util.h"

#define BPF_INSN_SIZE 8		/* sizeof(struct bpf_insn) */
#define SHOWN_MAX 64		/* names taken from the file are cut to this in messages */

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_ELFDATA ELFDATA2LSB
#else
#define HOST_ELFDATA ELFDATA2MSB
#endif

/* The kernel's license_is_gpl_compatible() list; anything else loses the GPL-only helpers. */
static const char *const gpl_licenses[] = {
	"GPL", "GPL v2", "GPL and additional rights",
	"Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL",
};

enum sym_kind {
	SYM_END,
	SYM_PROG,	/* entry program: a global function outside .text */
	SYM_SUBPROG,	/* a function in .text, only reachable through calls */
	SYM_MAP,	/* an object defined in .maps */
};

struct objcheck_ctx {
	const char *name;
	const unsigned char *buf;
	size_t len;
	uint32_t max_insns;
	char *err;
	size_t errlen;
	Elf *elf;
	size_t shnum;
	size_t shstrndx;
	/* Section indexes of interest; 0 (the null section) when absent. */
	size_t symtab, strtab, license, btf, btf_ext, maps, text;
	Elf_Data *syms;
	size_t nsyms;
	uint32_t n_programs, n_maps, total_insns;
};

static int refuse(struct objcheck_ctx *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse(struct objcheck_ctx *c, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(c->err, c->errlen, "%s: refused: ", c->name);
	if (n < 0 || (size_t)n >= c->errlen)
		return err;
	/* A message cut at the buffer's end still names the object and the start of the problem. */
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return err;
}

/* Names from a hostile file go into logs: replace control bytes and cut long ones. */
static const char *shown(const char *s, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < outlen; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
	if (s[i] && outlen > 4)
		memcpy(out + outlen - 4, "...", 4);
	return out;
}

static const char *machine_name(unsigned int m, char *buf, size_t len)
{
	switch (m) {
	case EM_NONE:		return "none";
	case EM_386:		return "i386";
	case EM_X86_64:		return "x86-64";
	case EM_ARM:		return "arm";
	case EM_AARCH64:	return "aarch64";
	case EM_PPC:		return "ppc";
	case EM_PPC64:		return "ppc64";
	case EM_S390:		return "s390";
	case EM_MIPS:		return "mips";
	case EM_RISCV:		return "riscv";
	case EM_SPARCV9:	return "sparc64";
	}
	snprintf(buf, len, "%u", m);
	return buf;
}

static const char *type_name(unsigned int t)
{
	switch (t) {
	case ET_NONE:	return "none";
	case ET_EXEC:	return "executable";
	case ET_DYN:	return "shared object or PIE";
	case ET_CORE:	return "core dump";
	}
	return "unknown";
}

static const char *byte_order_name(unsigned int d)
{
	if (d == ELFDATA2LSB)
		return "little-endian";
	if (d == ELFDATA2MSB)
		return "big-endian";
	return "invalid";
}

static int check_ident(struct objcheck_ctx *c)
{
	const unsigned char *id = c->buf;

	if (c->len == 0)
		return refuse(c, -ENOEXEC, "empty (0 bytes), not an ELF object");
	if (memcmp(id, ELFMAG, c->len < SELFMAG ? c->len : SELFMAG) != 0)
		return refuse(c, -ENOEXEC, "not an ELF object (no ELF magic)");
	if (c->len < EI_NIDENT)
		goto truncated;
	if (id[EI_CLASS] != ELFCLASS64)
		return refuse(c, -ENOEXEC, "not a 64-bit ELF object (class %s)",
			      id[EI_CLASS] == ELFCLASS32 ? "ELFCLASS32" : "invalid");
	/*
	 * The kernel runs instructions in host byte order (libbpf 1.1 refuses the other one), and
	 * the raw header reads below rely on it too.
	 */
	if (id[EI_DATA] != HOST_ELFDATA)
		return refuse(c, -ENOEXEC, "byte order %s (%u), host is %s",
			      byte_order_name(id[EI_DATA]), id[EI_DATA],
			      byte_order_name(HOST_ELFDATA));
	if (id[EI_VERSION] != EV_CURRENT)
		return refuse(c, -ENOEXEC, "ELF version %u, expected %u", id[EI_VERSION],
			      EV_CURRENT);
	if (c->len >= sizeof(Elf64_Ehdr))
		return 0;
truncated:
	return refuse(c, -EINVAL, "truncated (ELF header needs %zu bytes, file is %zu bytes)",
		      sizeof(Elf64_Ehdr), c->len);
}

static int check_ehdr(struct objcheck_ctx *c, const Elf64_Ehdr *eh)
{
	char num[16];

	if (eh->e_machine != EM_BPF)
		return refuse(c, -ENOEXEC, "not a BPF object (machine %s, not BPF)",
			      machine_name(eh->e_machine, num, sizeof(num)));
	if (eh->e_type != ET_REL)
		return refuse(c, -ENOEXEC, "not a relocatable object (type %s, not ET_REL)",
			      type_name(eh->e_type));
	if (eh->e_shoff == 0)
		return refuse(c, -EINVAL, "no section header table");
	if (eh->e_shentsize != sizeof(Elf64_Shdr))
		return refuse(c, -EINVAL, "section header size %u, expected %zu",
			      eh->e_shentsize, sizeof(Elf64_Shdr));
	return 0;
}

/*
 * Finds the section count and section-name table index, following the extended numbering in
 * section 0 that libelf would follow, and checks the whole table lies inside the buffer.
 */
static int check_shdr_table(struct objcheck_ctx *c, const Elf64_Ehdr *eh)
{
	Elf64_Shdr sh0;
	uint64_t shnum, room;

	if (eh->e_shoff > c->len || c->len - eh->e_shoff < sizeof(Elf64_Shdr))
		return refuse(c, -EINVAL, "truncated (section header table at %llu, file is %zu bytes)",
			      (unsigned long long)eh->e_shoff, c->len);
	memcpy(&sh0, c->buf + eh->e_shoff, sizeof(sh0));
	shnum = eh->e_shnum ? eh->e_shnum : sh0.sh_size;
	room = (c->len - eh->e_shoff) / sizeof(Elf64_Shdr);
	if (shnum > room)
		return refuse(c, -EINVAL,
			      "truncated (section header table: %llu entries at %llu, file is %zu bytes)",
			      (unsigned long long)shnum, (unsigned long long)eh->e_shoff, c->len);
	if (shnum < 2)
		return refuse(c, -EINVAL, "no sections");
	c->shnum = shnum;
	c->shstrndx = eh->e_shstrndx == SHN_XINDEX ? sh0.sh_link : eh->e_shstrndx;
	if (c->shstrndx == SHN_UNDEF || c->shstrndx >= c->shnum)
		return refuse(c, -EINVAL, "section-name table index %zu out of range (%zu sections)",
			      c->shstrndx, c->shnum);
	return 0;
}

static int open_elf(struct objcheck_ctx *c)
{
	size_t n;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return refuse(c, -EINVAL, "libelf: %s", elf_errmsg(-1));
	/* Read-only use, as libbpf's bpf_object__open_mem() does with the same const cast. */
	c->elf = elf_memory((char *)c->buf, c->len);
	if (!c->elf)
		return refuse(c, -EINVAL, "elf_memory: %s", elf_errmsg(-1));
	if (elf_kind(c->elf) != ELF_K_ELF)
		return refuse(c, -ENOEXEC, "libelf does not see an ELF object (kind %d)",
			      (int)elf_kind(c->elf));
	if (elf_getshdrnum(c->elf, &n) != 0)
		return refuse(c, -EINVAL, "elf_getshdrnum: %s", elf_errmsg(-1));
	if (n != c->shnum)
		return refuse(c, -EINVAL, "section count %zu, libelf counts %zu", c->shnum, n);
	if (elf_getshdrstrndx(c->elf, &n) != 0)
		return refuse(c, -EINVAL, "elf_getshdrstrndx: %s", elf_errmsg(-1));
	if (n != c->shstrndx)
		return refuse(c, -EINVAL, "section-name table %zu, libelf says %zu",
			      c->shstrndx, n);
	return 0;
}

static int get_shdr(struct objcheck_ctx *c, size_t idx, GElf_Shdr *sh)
{
	Elf_Scn *scn = elf_getscn(c->elf, idx);

	if (!scn)
		return refuse(c, -EINVAL, "section %zu: elf_getscn: %s", idx, elf_errmsg(-1));
	if (!gelf_getshdr(scn, sh))
		return refuse(c, -EINVAL, "section %zu: gelf_getshdr: %s", idx, elf_errmsg(-1));
	return 0;
}

/* Only for sections whose bounds check_sections() has already verified. */
static int get_data(struct objcheck_ctx *c, size_t idx, const char *what, Elf_Data **data)
{
	Elf_Scn *scn = elf_getscn(c->elf, idx);

	if (!scn)
		return refuse(c, -EINVAL, "section %zu: elf_getscn: %s", idx, elf_errmsg(-1));
	*data = elf_getdata(scn, NULL);
	if (!*data || !(*data)->d_buf)
		return refuse(c, -EINVAL, "%s (section %zu): elf_getdata: %s", what, idx,
			      elf_errmsg(-1));
	return 0;
}

static int section_name(struct objcheck_ctx *c, size_t idx, const GElf_Shdr *sh, const char **name)
{
	*name = elf_strptr(c->elf, c->shstrndx, sh->sh_name);
	if (!*name)
		return refuse(c, -EINVAL, "section %zu: bad name offset %u: %s", idx, sh->sh_name,
			      elf_errmsg(-1));
	return 0;
}

static int check_bounds(struct objcheck_ctx *c, size_t idx, const GElf_Shdr *sh, const char *name)
{
	char nm[SHOWN_MAX];

	if (sh->sh_type == SHT_NOBITS || sh->sh_type == SHT_NULL)
		return 0;
	if (sh->sh_offset <= c->len && sh->sh_size <= c->len - sh->sh_offset)
		return 0;
	if (sh->sh_size > UINT64_MAX - sh->sh_offset)
		return refuse(c, -EINVAL, "truncated (section %zu \"%s\" at %llu has size %llu, file is %zu bytes)",
			      idx, shown(name, nm, sizeof(nm)), (unsigned long long)sh->sh_offset,
			      (unsigned long long)sh->sh_size, c->len);
	return refuse(c, -EINVAL, "truncated (section %zu \"%s\" ends at %llu, file is %zu bytes)",
		      idx, shown(name, nm, sizeof(nm)),
		      (unsigned long long)(sh->sh_offset + sh->sh_size), c->len);
}

static int note_section(struct objcheck_ctx *c, size_t *slot, size_t idx, const char *name)
{
	char nm[SHOWN_MAX];

	if (*slot)
		return refuse(c, -EINVAL, "duplicate section \"%s\" (sections %zu and %zu)",
			      shown(name, nm, sizeof(nm)), *slot, idx);
	*slot = idx;
	return 0;
}

static int classify_section(struct objcheck_ctx *c, size_t idx, const GElf_Shdr *sh,
			    const char *name)
{
	char nm[SHOWN_MAX];

	/* libbpf loads code from the file, so a NOBITS "code" section has nothing to load. */
	if ((sh->sh_flags & SHF_EXECINSTR) && sh->sh_type != SHT_PROGBITS)
		return refuse(c, -EINVAL, "executable section %zu \"%s\" has no data (type %u)",
			      idx, shown(name, nm, sizeof(nm)), sh->sh_type);
	if ((sh->sh_flags & SHF_EXECINSTR) && sh->sh_size % BPF_INSN_SIZE)
		return refuse(c, -EINVAL, "section %zu \"%s\" size %llu is not whole instructions of %d bytes",
			      idx, shown(name, nm, sizeof(nm)), (unsigned long long)sh->sh_size,
			      BPF_INSN_SIZE);
	if (sh->sh_type == SHT_SYMTAB)
		return note_section(c, &c->symtab, idx, name);
	if (streq(name, "license"))
		return note_section(c, &c->license, idx, name);
	if (streq(name, ".BTF"))
		return note_section(c, &c->btf, idx, name);
	if (streq(name, ".BTF.ext"))
		return note_section(c, &c->btf_ext, idx, name);
	if (streq(name, ".maps"))
		return note_section(c, &c->maps, idx, name);
	if (streq(name, ".text"))
		return note_section(c, &c->text, idx, name);
	if (streq(name, "maps"))
		return refuse(c, -ENOTSUP, "legacy \"maps\" section (libbpf 1.x only loads BTF-defined maps from \".maps\")");
	return 0;
}

/*
 * Only headers and names are read here; section data is read later, once every section is known
 * to lie inside the buffer.
 */
static int check_sections(struct objcheck_ctx *c)
{
	GElf_Shdr sh;
	const char *name;
	int err;

	err = get_shdr(c, c->shstrndx, &sh);
	if (err)
		return err;
	if (sh.sh_type != SHT_STRTAB)
		return refuse(c, -EINVAL, "section %zu, the section-name table, is not a string table",
			      c->shstrndx);
	err = check_bounds(c, c->shstrndx, &sh, "(section names)");
	if (err)
		return err;
	for (size_t i = 1; i < c->shnum; i++) {
		err = get_shdr(c, i, &sh);
		if (!err)
			err = section_name(c, i, &sh, &name);
		if (!err)
			err = check_bounds(c, i, &sh, name);
		if (!err)
			err = classify_section(c, i, &sh, name);
		if (err)
			return err;
	}
	return 0;
}

static int check_license(struct objcheck_ctx *c)
{
	char lic[SHOWN_MAX];
	GElf_Shdr sh;
	Elf_Data *d;
	int err;

	if (!c->license)
		return refuse(c, -EPERM, "no \"license\" section (GPL-only helpers need a GPL-compatible license)");
	err = get_shdr(c, c->license, &sh);
	if (err)
		return err;
	if (sh.sh_type == SHT_NOBITS || sh.sh_size == 0)
		return refuse(c, -EINVAL, "\"license\" section is empty");
	err = get_data(c, c->license, "\"license\"", &d);
	if (err)
		return err;
	if (!memchr(d->d_buf, '\0', d->d_size))
		return refuse(c, -EINVAL, "license is not NUL-terminated");
	for (size_t i = 0; i < ARRAY_SIZE(gpl_licenses); i++)
		if (streq(d->d_buf, gpl_licenses[i]))
			return 0;
	return refuse(c, -EPERM, "license \"%s\" is not GPL-compatible",
		      shown(d->d_buf, lic, sizeof(lic)));
}

static int check_btf(struct objcheck_ctx *c)
{
	struct btf_header hdr;
	GElf_Shdr sh;
	Elf_Data *d;
	int err;

	if (!c->btf)
		return refuse(c, -EINVAL, "no \".BTF\" section (needed for CO-RE and map definitions)");
	err = get_shdr(c, c->btf, &sh);
	if (err)
		return err;
	if (sh.sh_type == SHT_NOBITS || sh.sh_size == 0)
		return refuse(c, -EINVAL, "\".BTF\" section is empty");
	if (sh.sh_size < sizeof(hdr))
		return refuse(c, -EINVAL, "\".BTF\" section is %llu bytes, smaller than its header",
			      (unsigned long long)sh.sh_size);
	err = get_data(c, c->btf, "\".BTF\"", &d);
	if (err)
		return err;
	if (d->d_size < sizeof(hdr))
		return refuse(c, -EINVAL, "\".BTF\" data is %zu bytes, smaller than its header",
			      d->d_size);
	memcpy(&hdr, d->d_buf, sizeof(hdr));
	if (hdr.magic != BTF_MAGIC)
		return refuse(c, -EINVAL, "\".BTF\" magic 0x%04x, expected 0x%04x", hdr.magic,
			      BTF_MAGIC);
	if (!c->btf_ext)
		pr_debug("%s: no .BTF.ext: no CO-RE relocations or line info", c->name);
	return 0;
}

static int load_symtab(struct objcheck_ctx *c)
{
	GElf_Shdr sh;
	int err;

	if (!c->symtab)
		return refuse(c, -EINVAL, "no symbol table");
	err = get_shdr(c, c->symtab, &sh);
	if (err)
		return err;
	if (sh.sh_entsize != sizeof(Elf64_Sym))
		return refuse(c, -EINVAL, "symbol table entry size %llu, expected %zu",
			      (unsigned long long)sh.sh_entsize, sizeof(Elf64_Sym));
	if (sh.sh_link == SHN_UNDEF || sh.sh_link >= c->shnum)
		return refuse(c, -EINVAL, "symbol table names section %u, object has %zu sections",
			      sh.sh_link, c->shnum);
	c->strtab = sh.sh_link;
	if (sh.sh_size == 0)
		return 0;
	err = get_data(c, c->symtab, "symbol table", &c->syms);
	if (err)
		return err;
	c->nsyms = c->syms->d_size / sizeof(Elf64_Sym);
	if (c->nsyms > INT_MAX)
		return refuse(c, -EINVAL, "%zu symbols, more than libelf can index", c->nsyms);
	return 0;
}

static int sym_kind(struct objcheck_ctx *c, size_t i, const GElf_Sym *sym, enum sym_kind *kind)
{
	GElf_Shdr sh;
	int err;

	*kind = SYM_END;
	/* Externs (kfuncs, kconfig) and absolute symbols are not code or maps in this object. */
	if (sym->st_shndx == SHN_UNDEF || sym->st_shndx >= SHN_LORESERVE)
		return 0;
	if (sym->st_shndx >= c->shnum)
		return refuse(c, -EINVAL, "symbol %zu is in section %u, object has %zu sections",
			      i, sym->st_shndx, c->shnum);
	if (GELF_ST_TYPE(sym->st_info) == STT_OBJECT && sym->st_shndx == c->maps && c->maps) {
		*kind = SYM_MAP;
		return 0;
	}
	if (GELF_ST_TYPE(sym->st_info) != STT_FUNC)
		return 0;
	err = get_shdr(c, sym->st_shndx, &sh);
	if (err)
		return err;
	if (sh.sh_flags & SHF_EXECINSTR)
		*kind = sym->st_shndx == c->text ? SYM_SUBPROG : SYM_PROG;
	return 0;
}

/*
 * Steps *i to the next program, subprogram or map symbol. Returns its kind, SYM_END after the
 * last symbol, or a negative error.
 */
static int next_sym(struct objcheck_ctx *c, size_t *i, GElf_Sym *sym, const char **name)
{
	enum sym_kind kind;
	int err;

	for (; *i < c->nsyms; (*i)++) {
		if (!gelf_getsym(c->syms, (int)*i, sym))
			return refuse(c, -EINVAL, "symbol %zu: gelf_getsym: %s", *i,
				      elf_errmsg(-1));
		err = sym_kind(c, *i, sym, &kind);
		if (err)
			return err;
		if (kind == SYM_END)
			continue;
		*name = elf_strptr(c->elf, c->strtab, sym->st_name);
		if (!*name)
			return refuse(c, -EINVAL, "symbol %zu: bad name offset %u: %s", *i,
				      sym->st_name, elf_errmsg(-1));
		(*i)++;
		return kind;
	}
	return SYM_END;
}

/* The symbol must lie inside its section, as libbpf checks for programs. */
static int check_extent(struct objcheck_ctx *c, const GElf_Sym *sym, const char *what,
			const char *name)
{
	char nm[SHOWN_MAX], sn[SHOWN_MAX];
	const char *secname;
	GElf_Shdr sh;
	int err;

	err = get_shdr(c, sym->st_shndx, &sh);
	if (!err)
		err = section_name(c, sym->st_shndx, &sh, &secname);
	if (err)
		return err;
	if (sym->st_value <= sh.sh_size && sym->st_size <= sh.sh_size - sym->st_value)
		return 0;
	return refuse(c, -EINVAL, "%s \"%s\" (offset %llu, %llu bytes) crosses the end of section \"%s\" (%llu bytes)",
		      what, shown(name, nm, sizeof(nm)), (unsigned long long)sym->st_value,
		      (unsigned long long)sym->st_size, shown(secname, sn, sizeof(sn)),
		      (unsigned long long)sh.sh_size);
}

static int check_function(struct objcheck_ctx *c, enum sym_kind kind, const GElf_Sym *sym,
			  const char *name)
{
	const char *what = kind == SYM_PROG ? "program" : "subprogram";
	char nm[SHOWN_MAX];
	uint64_t insns;
	int err;

	shown(name, nm, sizeof(nm));
	if (!name[0])
		return refuse(c, -EINVAL, "unnamed %s", what);
	if (kind == SYM_PROG && GELF_ST_BIND(sym->st_info) == STB_LOCAL)
		return refuse(c, -ENOTSUP,
			      "program \"%s\" is static (libbpf 1.x refuses static programs)", nm);
	if (sym->st_size == 0 || sym->st_size % BPF_INSN_SIZE)
		return refuse(c, -EINVAL, "%s \"%s\" is %llu bytes, not whole instructions of %d bytes",
			      what, nm, (unsigned long long)sym->st_size, BPF_INSN_SIZE);
	err = check_extent(c, sym, what, name);
	if (err)
		return err;
	insns = sym->st_size / BPF_INSN_SIZE;
	if (insns > c->max_insns)
		return refuse(c, -E2BIG, "%s \"%s\" has %llu instructions, limit %u",
			      what, nm, (unsigned long long)insns, c->max_insns);
	if (kind == SYM_PROG)
		c->n_programs++;
	/* insns < 2^61, so the 64-bit sum cannot wrap; the 32-bit total saturates instead. */
	c->total_insns = insns + c->total_insns > UINT32_MAX ? UINT32_MAX
							    : (uint32_t)(insns + c->total_insns);
	return 0;
}

static int check_map(struct objcheck_ctx *c, const GElf_Sym *sym, const char *name)
{
	char nm[SHOWN_MAX];
	int err;

	if (!name[0])
		return refuse(c, -EINVAL, "unnamed map in \".maps\"");
	if (GELF_ST_BIND(sym->st_info) == STB_LOCAL)
		return refuse(c, -ENOTSUP, "map \"%s\" is static (libbpf 1.x refuses static maps)",
			      shown(name, nm, sizeof(nm)));
	err = check_extent(c, sym, "map", name);
	if (err)
		return err;
	c->n_maps++;
	return 0;
}

static int check_symbols(struct objcheck_ctx *c)
{
	const char *name;
	GElf_Sym sym;
	size_t i = 1;	/* symbol 0 is the null symbol */
	int kind, err;

	while ((kind = next_sym(c, &i, &sym, &name)) > 0) {
		if (kind == SYM_MAP)
			err = check_map(c, &sym, name);
		else
			err = check_function(c, kind, &sym, name);
		if (err)
			return err;
	}
	return kind;
}

/* 1 when a symbol of this kind and name exists, 0 when not, or a negative error. */
static int find_sym(struct objcheck_ctx *c, enum sym_kind want, const char *wanted)
{
	const char *name;
	GElf_Sym sym;
	size_t i = 1;
	int kind;

	while ((kind = next_sym(c, &i, &sym, &name)) > 0)
		if ((enum sym_kind)kind == want && streq(name, wanted))
			return 1;
	return kind;
}

/* "a, b, c" or "none", for the message that says what the object has instead. */
static int list_syms(struct objcheck_ctx *c, enum sym_kind want, char *out, size_t outlen)
{
	char nm[SHOWN_MAX];
	const char *name;
	size_t used = 0;
	GElf_Sym sym;
	size_t i = 1;
	int kind, n;

	snprintf(out, outlen, "none");
	while ((kind = next_sym(c, &i, &sym, &name)) > 0) {
		if ((enum sym_kind)kind != want)
			continue;
		n = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "",
			     shown(name, nm, sizeof(nm)));
		if (n < 0 || (size_t)n >= outlen - used) {
			memcpy(out + outlen - 4, "...", 4);
			return 0;
		}
		used += (size_t)n;
	}
	return kind;
}

static int require(struct objcheck_ctx *c, enum sym_kind kind, const char *const *names)
{
	const char *what = kind == SYM_PROG ? "program" : "map";
	char has[256];
	int found;

	for (; names && *names; names++) {
		found = find_sym(c, kind, *names);
		if (found < 0)
			return found;
		if (found)
			continue;
		found = list_syms(c, kind, has, sizeof(has));
		if (found < 0)
			return found;
		return refuse(c, -ENOENT, "%s \"%s\" missing (has: %s)", what, *names, has);
	}
	return 0;
}

static int check_all(struct objcheck_ctx *c, const struct objcheck_spec *spec)
{
	Elf64_Ehdr eh;
	int err;

	err = check_ident(c);
	if (err)
		return err;
	/* Host byte order is established, so the raw header reads as is. */
	memcpy(&eh, c->buf, sizeof(eh));
	err = check_ehdr(c, &eh);
	if (!err)
		err = check_shdr_table(c, &eh);
	if (!err)
		err = open_elf(c);
	if (!err)
		err = check_sections(c);
	if (!err)
		err = check_license(c);
	if (!err)
		err = check_btf(c);
	if (!err)
		err = load_symtab(c);
	if (!err)
		err = check_symbols(c);
	if (!err && spec)
		err = require(c, SYM_PROG, spec->programs);
	if (!err && spec)
		err = require(c, SYM_MAP, spec->maps);
	return err;
}

int objcheck_validate(const void *buf, size_t len, const struct objcheck_spec *spec,
		      struct objcheck_result *res)
{
	struct objcheck_result scratch;
	struct objcheck_ctx c = {
		.name = spec && spec->name ? spec->name : "BPF object",
		.buf = buf,
		.len = buf ? len : 0,
		.max_insns = spec && spec->max_insns ? spec->max_insns : OBJCHECK_DEFAULT_MAX_INSNS,
	};
	int err;

	if (!res)
		res = &scratch;
	memset(res, 0, sizeof(*res));
	c.err = res->error;
	c.errlen = sizeof(res->error);
	err = check_all(&c, spec);
	/* elf_end() returns the remaining reference count; only ours was taken. */
	if (c.elf && elf_end(c.elf) != 0)
		pr_warn("%s: libelf descriptor still referenced after elf_end", c.name);
	if (err)
		return err;
	res->n_programs = c.n_programs;
	res->n_maps = c.n_maps;
	res->total_insns = c.total_insns;
	return 0;
}

static int file_error(struct objcheck_result *res, const char *name, const char *path,
		      const char *what, int err)
{
	if (name == path)
		snprintf(res->error, sizeof(res->error), "%s: %s: %s", name, what, strerror(-err));
	else
		snprintf(res->error, sizeof(res->error), "%s: %s %s: %s", name, what, path,
			 strerror(-err));
	return err;
}

static int read_all(int fd, void *buf, size_t size, size_t *got)
{
	ssize_t r;

	*got = 0;
	while (*got < size) {
		r = read(fd, (char *)buf + *got, size - *got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		/* A file that shrank is validated as read; the bounds checks refuse it if cut. */
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

static int read_object(const char *path, const char *name, void **buf, size_t *len,
		       struct objcheck_result *res)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int err;

	if (fd < 0)
		return file_error(res, name, path, "cannot open", -errno);
	if (fstat(fd, &st) != 0)
		return file_error(res, name, path, "cannot stat", -errno);
	/* A FIFO or device could block or never end. */
	if (!S_ISREG(st.st_mode)) {
		snprintf(res->error, sizeof(res->error), "%s: refused: %s is not a regular file",
			 name, path);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > OBJCHECK_MAX_FILE_SIZE) {
		snprintf(res->error, sizeof(res->error), "%s: refused: %s is %lld bytes, limit %u",
			 name, path, (long long)st.st_size, OBJCHECK_MAX_FILE_SIZE);
		return -EFBIG;
	}
	*buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!*buf)
		return file_error(res, name, path, "cannot read", -ENOMEM);
	err = read_all(fd, *buf, (size_t)st.st_size, len);
	if (err)
		return file_error(res, name, path, "cannot read", err);
	return 0;
}

int objcheck_validate_file(const char *path, const struct objcheck_spec *spec,
			   struct objcheck_result *res)
{
	struct objcheck_result scratch;
	struct objcheck_spec named = spec ? *spec : (struct objcheck_spec){ 0 };
	_cleanup_free_ void *buf = NULL;
	size_t len = 0;
	int err;

	if (!res)
		res = &scratch;
	memset(res, 0, sizeof(*res));
	if (!named.name)
		named.name = path;
	err = read_object(path, named.name, &buf, &len, res);
	if (err)
		return err;
	return objcheck_validate(buf, len, &named, res);
}
