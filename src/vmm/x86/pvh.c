/*
 * PVH ELF loader and hvm_start_info builder. The image is hostile input:
 * every header, offset and size is checked against the file length and
 * guest RAM before anything is copied, and the first problem is reported
 * in one line.
 */
#include "vmm/x86/pvh.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/why.h"
#include "vmm/x86/e820.h"
#include "vmm/x86/layout.h"

/* Class-independent view of one program header. */
struct phdr {
	uint32_t type;
	uint64_t offset, paddr, filesz, memsz, align;
};

struct elf_view {
	const uint8_t *img;
	size_t len;
	bool is64;
	uint64_t phoff;
	uint16_t phnum, phentsize;
};

bool pvh_elf_probe(const void *image, size_t len)
{
	return len >= SELFMAG && !memcmp(image, ELFMAG, SELFMAG);
}

static int elf_view_init(struct elf_view *v, const void *image, size_t len,
			 char *why, size_t whylen)
{
	const Elf64_Ehdr *e64 = image;
	const Elf32_Ehdr *e32 = image;

	v->img = image;
	v->len = len;
	if (len < sizeof(Elf32_Ehdr) || !pvh_elf_probe(image, len))
		return why_set(why, whylen, -ENOEXEC, "not an ELF file");
	if (e32->e_ident[EI_DATA] != ELFDATA2LSB)
		return why_set(why, whylen, -ENOEXEC,
			       "ELF file is not little-endian");
	v->is64 = e32->e_ident[EI_CLASS] == ELFCLASS64;
	if (!v->is64 && e32->e_ident[EI_CLASS] != ELFCLASS32)
		return why_set(why, whylen, -ENOEXEC, "ELF class %d is unknown",
			       e32->e_ident[EI_CLASS]);
	if (v->is64 && len < sizeof(Elf64_Ehdr))
		return why_set(why, whylen, -ENOEXEC, "ELF header truncated");
	if (v->is64) {
		v->phoff = e64->e_phoff;
		v->phnum = e64->e_phnum;
		v->phentsize = e64->e_phentsize;
		if (e64->e_machine != EM_X86_64)
			return why_set(why, whylen, -ENOEXEC,
				       "ELF machine %u is not x86-64",
				       e64->e_machine);
	} else {
		v->phoff = e32->e_phoff;
		v->phnum = e32->e_phnum;
		v->phentsize = e32->e_phentsize;
		if (e32->e_machine != EM_386 && e32->e_machine != EM_X86_64)
			return why_set(why, whylen, -ENOEXEC,
				       "ELF machine %u is not x86",
				       e32->e_machine);
	}
	if (v->phentsize != (v->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)))
		return why_set(why, whylen, -ENOEXEC,
			       "ELF program header size %u is wrong",
			       v->phentsize);
	if (!v->phnum || v->phoff > len ||
	    (uint64_t)v->phnum * v->phentsize > len - v->phoff)
		return why_set(why, whylen, -ENOEXEC,
			       "ELF program headers lie outside the file");
	return 0;
}

static void elf_phdr(const struct elf_view *v, unsigned int i, struct phdr *p)
{
	const uint8_t *raw = v->img + v->phoff + (uint64_t)i * v->phentsize;

	if (v->is64) {
		Elf64_Phdr h;

		memcpy(&h, raw, sizeof(h));
		*p = (struct phdr){ h.p_type,	h.p_offset, h.p_paddr,
				    h.p_filesz, h.p_memsz,  h.p_align };
	} else {
		Elf32_Phdr h;

		memcpy(&h, raw, sizeof(h));
		*p = (struct phdr){ h.p_type,	h.p_offset, h.p_paddr,
				    h.p_filesz, h.p_memsz,  h.p_align };
	}
}

/*
 * Walk the notes of PT_NOTE segment i looking for the PVH entry: 0, or
 * -ENOENT if it is not there, or -ENOEXEC with why for a malformed note.
 */
static int elf_find_entry(const struct elf_view *v, const struct phdr *p,
			  unsigned int i, uint64_t *entry, char *why,
			  size_t whylen)
{
	const uint8_t *n = v->img + p->offset;
	uint64_t left = p->filesz;
	/*
	 * Name and descriptor start at offsets (from the note's start)
	 * aligned to 4, or to 8 in a segment aligned to 8 (gABI).
	 */
	uint64_t pad = p->align == 8 ? 8 : 4;

	while (left >= 12) {
		uint32_t namesz, descsz, type, e32;
		uint64_t desc, next;

		memcpy(&namesz, n, 4);
		memcpy(&descsz, n + 4, 4);
		memcpy(&type, n + 8, 4);
		desc = ALIGN_UP(12 + (uint64_t)namesz, pad);
		next = ALIGN_UP(desc + descsz, pad);
		if (desc + descsz > left)
			return why_set(why, whylen, -ENOEXEC,
				       "ELF note segment %u is truncated", i);
		if (namesz == 4 && !memcmp(n + 12, "Xen", 4) &&
		    type == XEN_ELFNOTE_PHYS32_ENTRY) {
			if (descsz == 8) {
				memcpy(entry, n + desc, 8);
			} else if (descsz == 4) {
				memcpy(&e32, n + desc, 4);
				*entry = e32;
			} else {
				return why_set(
					why, whylen, -ENOEXEC,
					"PVH entry note has a %u-byte descriptor (expected 4 or 8)",
					descsz);
			}
			return 0;
		}
		if (next >= left)
			break;
		n += next;
		left -= next;
	}
	return -ENOENT;
}

static int elf_check_segment(const struct elf_view *v, struct guest_mem *mem,
			     unsigned int i, const struct phdr *p, char *why,
			     size_t whylen)
{
	if (p->offset > v->len || p->filesz > v->len - p->offset)
		return why_set(why, whylen, -ENOEXEC,
			       "ELF segment %u lies outside the file", i);
	if (p->filesz > p->memsz)
		return why_set(
			why, whylen, -ENOEXEC,
			"ELF segment %u has p_filesz 0x%llx larger than p_memsz 0x%llx",
			i, (unsigned long long)p->filesz,
			(unsigned long long)p->memsz);
	if (p->paddr < LAYOUT_HIGH_MEM)
		return why_set(why, whylen, -ENOEXEC,
			       "ELF segment %u at 0x%llx is below 1 MiB", i,
			       (unsigned long long)p->paddr);
	if (!mem_gpa_is_ram(mem, p->paddr, p->memsz))
		return why_set(
			why, whylen, -E2BIG,
			"ELF segment %u (0x%llx-0x%llx) does not fit in %llu MiB of guest RAM",
			i, (unsigned long long)p->paddr,
			(unsigned long long)(p->paddr + p->memsz),
			(unsigned long long)(mem->size >> 20));
	return 0;
}

/* The PVH note comes first: without it nothing else matters. */
static int elf_find_pvh_note(const struct elf_view *v, uint64_t *entry,
			     char *why, size_t whylen)
{
	struct phdr p;
	unsigned int i;
	int rc, bad = 0;

	for (i = 0; i < v->phnum; i++) {
		elf_phdr(v, i, &p);
		if (p.type != PT_NOTE)
			continue;
		if (p.offset > v->len || p.filesz > v->len - p.offset)
			return why_set(why, whylen, -ENOEXEC,
				       "ELF segment %u lies outside the file",
				       i);
		/* A malformed note segment is reported only if no other
		 * segment holds the entry (why then names it). */
		rc = elf_find_entry(v, &p, i, entry, why, whylen);
		if (rc == 0)
			return 0;
		if (rc != -ENOENT)
			bad = rc;
	}
	if (bad)
		return bad;
	return why_set(
		why, whylen, -ENOEXEC,
		"no PVH entry point (ELF note Xen/XEN_ELFNOTE_PHYS32_ENTRY): not a PVH kernel");
}

int pvh_elf_load(struct guest_mem *mem, const void *image, size_t len,
		 struct pvh_image *out, char *why, size_t whylen)
{
	struct elf_view v;
	struct phdr p;
	bool have_load = false;
	unsigned int i;
	int rc;

	rc = elf_view_init(&v, image, len, why, whylen);
	if (!rc)
		rc = elf_find_pvh_note(&v, &out->entry, why, whylen);
	if (rc)
		return rc;
	out->start = UINT64_MAX;
	out->end = 0;
	for (i = 0; i < v.phnum; i++) {
		elf_phdr(&v, i, &p);
		if (p.type != PT_LOAD || !p.memsz)
			continue;
		rc = elf_check_segment(&v, mem, i, &p, why, whylen);
		if (rc)
			return rc;
		have_load = true;
		out->start = MIN(out->start, p.paddr);
		out->end = MAX(out->end, p.paddr + p.memsz);
	}
	if (!have_load)
		return why_set(why, whylen, -ENOEXEC,
			       "ELF file has no loadable segment");
	if (out->entry < out->start || out->entry >= out->end)
		return why_set(why, whylen, -ENOEXEC,
			       "PVH entry 0x%llx lies outside the loaded image",
			       (unsigned long long)out->entry);
	/* Checked everything: now copy, zero-filling each BSS tail. */
	for (i = 0; i < v.phnum; i++) {
		uint8_t *dst;

		elf_phdr(&v, i, &p);
		if (p.type != PT_LOAD || !p.memsz)
			continue;
		dst = mem_gpa_to_hva(mem, p.paddr, p.memsz);
		memcpy(dst, v.img + p.offset, p.filesz);
		memset(dst + p.filesz, 0, p.memsz - p.filesz);
	}
	return 0;
}

static int pvh_write_memmap(struct guest_mem *mem, unsigned int *nr_out,
			    char *why, size_t whylen)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	struct hvm_memmap_table_entry m[E820_MAX_ENTRIES];
	unsigned int i, n;
	int rc;

	rc = e820_build(mem, e, E820_MAX_ENTRIES, &n);
	if (rc)
		return why_set(why, whylen, rc,
			       "cannot build the memory map: %s",
			       strerror(-rc));
	for (i = 0; i < n; i++)
		m[i] = (struct hvm_memmap_table_entry){ e[i].addr, e[i].size,
							e[i].type, 0 };
	*nr_out = n;
	return mem_write(mem, LAYOUT_MEMMAP, m, n * sizeof(m[0]));
}

/* Initrd: page-aligned at the top of low RAM, above the kernel. */
static int pvh_place_initrd(struct guest_mem *mem, const struct pvh_image *img,
			    size_t initrd_len, uint64_t *gpa_out, char *why,
			    size_t whylen)
{
	uint64_t top = mem->regions[0].size;
	uint64_t len = ALIGN_UP((uint64_t)initrd_len, PAGE_SIZE);
	uint64_t floor = ALIGN_UP(img->end, PAGE_SIZE);

	if (len > top || top - len < floor)
		return why_set(
			why, whylen, -E2BIG,
			"initrd of %zu bytes does not fit between the kernel (ends 0x%llx) and the end of low RAM (0x%llx)",
			initrd_len, (unsigned long long)img->end,
			(unsigned long long)top);
	*gpa_out = top - len;
	return 0;
}

int pvh_setup(struct guest_mem *mem, const struct pvh_image *img,
	      const char *cmdline, const void *initrd, size_t initrd_len,
	      uint64_t rsdp_gpa, struct boot_entry *entry, char *why,
	      size_t whylen)
{
	struct hvm_start_info si = {
		.magic = HVM_START_MAGIC,
		.version = 1,
		.cmdline_paddr = LAYOUT_CMDLINE,
		.rsdp_paddr = rsdp_gpa,
		.memmap_paddr = LAYOUT_MEMMAP,
	};
	size_t clen = strlen(cmdline) + 1;
	int rc;

	if (clen > LAYOUT_CMDLINE_MAX)
		return why_set(why, whylen, -E2BIG,
			       "command line of %zu bytes is longer than %llu",
			       clen - 1, LAYOUT_CMDLINE_MAX - 1);
	rc = mem_write(mem, LAYOUT_CMDLINE, cmdline, clen);
	if (!rc)
		rc = pvh_write_memmap(mem, &si.memmap_entries, why, whylen);
	if (rc)
		return rc;
	if (initrd) {
		struct hvm_modlist_entry mod = { .size = initrd_len };

		rc = pvh_place_initrd(mem, img, initrd_len, &mod.paddr, why,
				      whylen);
		if (!rc)
			rc = mem_write(mem, mod.paddr, initrd, initrd_len);
		if (!rc)
			rc = mem_write(mem, LAYOUT_MODLIST, &mod, sizeof(mod));
		if (rc)
			return rc;
		si.nr_modules = 1;
		si.modlist_paddr = LAYOUT_MODLIST;
	}
	rc = mem_write(mem, LAYOUT_START_INFO, &si, sizeof(si));
	if (rc)
		return rc;
	*entry = (struct boot_entry){ .mode = BOOT_PVH32,
				      .rip = img->entry,
				      .arg = LAYOUT_START_INFO };
	return 0;
}
