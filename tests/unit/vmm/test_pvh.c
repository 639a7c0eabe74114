/*
 * Unit tests of the PVH boot path without KVM: synthetic ELF64 and ELF32
 * kernels (built here, byte by byte) are loaded into mem_init() RAM; every
 * malformed image is refused with a reason naming the problem and without
 * touching guest RAM; pvh_setup() is checked against the byte offsets of
 * the Xen PVH ABI (hvm_start_info version 1), not against our own structs.
 */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "le.h"
#include "vmm/memory.h"
#include "vmm/x86/layout.h"
#include "vmm/x86/pvh.h"

/* ---- Synthetic kernels ------------------------------------------------- */

/*
 * File layout of every test image:
 *   0x000  ELF header, then 3 program headers: NOTE, LOAD text, LOAD data
 *   0x200  notes: a GNU note, a Xen note of another type, the PVH note
 *   0x1000 text: 0x1800 bytes, loaded at 1 MiB
 *   0x3000 data: 0x100 bytes, loaded at 2 MiB with a BSS up to 0x3000
 */
#define IMG_SIZE 0x3100
#define TEXT_OFF 0x1000
#define TEXT_PADDR 0x100000ULL
#define TEXT_SIZE 0x1800
#define DATA_OFF 0x3000
#define DATA_PADDR 0x200000ULL
#define DATA_FILESZ 0x100
#define DATA_MEMSZ 0x3000
#define NOTE_OFF 0x200
#define ENTRY (TEXT_PADDR + 0x40)
#define IMG_END (DATA_PADDR + DATA_MEMSZ)
#define GUEST_MEM (64 * MIB)
#define FILL 0xa5
#define CHECKED (4 * MIB) /* RAM compared before and after a rejection */

enum { PH_NOTE, PH_TEXT, PH_DATA, NR_PH };
enum phf { F_TYPE, F_OFFSET, F_VADDR, F_PADDR, F_FILESZ, F_MEMSZ };

struct image {
	uint8_t b[IMG_SIZE];
	size_t len;
	bool is64;
	size_t note_len;
	size_t pvh_desc_off; /* file offset of the PVH note's descriptor */
	size_t pvh_note_off;
};

static size_t put_note(uint8_t *p, const char *name, uint32_t type,
		       const void *desc, uint32_t descsz)
{
	uint32_t namesz = strlen(name) + 1;
	size_t n = 12;

	put32(p, 0, namesz);
	put32(p, 4, descsz);
	put32(p, 8, type);
	memcpy(p + n, name, namesz);
	n += (namesz + 3) & ~3u;
	memcpy(p + n, desc, descsz);
	n += (descsz + 3) & ~3u;
	return n;
}

/* Elf32_Phdr and Elf64_Phdr share field names, not layout. */
#define SET_PH_FIELD(ph, f, v)                \
	do {                                  \
		switch (f) {                  \
		case F_TYPE:                  \
			(ph)->p_type = (v);   \
			break;                \
		case F_OFFSET:                \
			(ph)->p_offset = (v); \
			break;                \
		case F_VADDR:                 \
			(ph)->p_vaddr = (v);  \
			break;                \
		case F_PADDR:                 \
			(ph)->p_paddr = (v);  \
			break;                \
		case F_FILESZ:                \
			(ph)->p_filesz = (v); \
			break;                \
		case F_MEMSZ:                 \
			(ph)->p_memsz = (v);  \
			break;                \
		}                             \
	} while (0)

static void set_ph(struct image *im, int i, enum phf f, uint64_t v)
{
	if (im->is64)
		SET_PH_FIELD((Elf64_Phdr *)(im->b + sizeof(Elf64_Ehdr)) + i, f,
			     v);
	else
		SET_PH_FIELD((Elf32_Phdr *)(im->b + sizeof(Elf32_Ehdr)) + i, f,
			     v);
}

/* A valid PVH kernel; desc_size is 4 or 8 (the entry's width). */
static struct image *make_image(bool is64, uint32_t desc_size, uint64_t entry)
{
	struct image *im = calloc(1, sizeof(*im));
	static const uint8_t gnu_id[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint32_t other = 0x1234, e32 = entry;
	size_t n = NOTE_OFF, i;

	assert_non_null(im);
	im->is64 = is64;
	im->len = IMG_SIZE;
	memcpy(im->b, ELFMAG, SELFMAG);
	im->b[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
	im->b[EI_DATA] = ELFDATA2LSB;
	im->b[EI_VERSION] = EV_CURRENT;
	if (is64) {
		Elf64_Ehdr *e = (Elf64_Ehdr *)im->b;

		e->e_type = ET_EXEC;
		e->e_machine = EM_X86_64;
		e->e_version = EV_CURRENT;
		e->e_entry =
			0xffffffff81000000ULL; /* the 64-bit entry: unused */
		e->e_phoff = sizeof(Elf64_Ehdr);
		e->e_ehsize = sizeof(Elf64_Ehdr);
		e->e_phentsize = sizeof(Elf64_Phdr);
		e->e_phnum = NR_PH;
	} else {
		Elf32_Ehdr *e = (Elf32_Ehdr *)im->b;

		e->e_type = ET_EXEC;
		e->e_machine = EM_386;
		e->e_version = EV_CURRENT;
		e->e_entry = 0xc1000000u;
		e->e_phoff = sizeof(Elf32_Ehdr);
		e->e_ehsize = sizeof(Elf32_Ehdr);
		e->e_phentsize = sizeof(Elf32_Phdr);
		e->e_phnum = NR_PH;
	}
	/* Notes a loader must walk past before the PVH entry note. */
	n += put_note(im->b + n, "GNU", 3, gnu_id, sizeof(gnu_id));
	n += put_note(im->b + n, "Xen", 6, &other, 4); /* XEN_ELFNOTE_LOADER */
	im->pvh_note_off = n;
	im->pvh_desc_off = n + 16;
	if (desc_size == 8)
		n += put_note(im->b + n, "Xen", XEN_ELFNOTE_PHYS32_ENTRY,
			      &entry, 8);
	else
		n += put_note(im->b + n, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &e32,
			      4);
	im->note_len = n - NOTE_OFF;

	set_ph(im, PH_NOTE, F_TYPE, PT_NOTE);
	set_ph(im, PH_NOTE, F_OFFSET, NOTE_OFF);
	set_ph(im, PH_NOTE, F_FILESZ, im->note_len);
	set_ph(im, PH_TEXT, F_TYPE, PT_LOAD);
	set_ph(im, PH_TEXT, F_OFFSET, TEXT_OFF);
	set_ph(im, PH_TEXT, F_PADDR, TEXT_PADDR);
	set_ph(im, PH_TEXT, F_FILESZ, TEXT_SIZE);
	set_ph(im, PH_TEXT, F_MEMSZ, TEXT_SIZE);
	set_ph(im, PH_DATA, F_TYPE, PT_LOAD);
	set_ph(im, PH_DATA, F_OFFSET, DATA_OFF);
	set_ph(im, PH_DATA, F_PADDR, DATA_PADDR);
	set_ph(im, PH_DATA, F_FILESZ, DATA_FILESZ);
	set_ph(im, PH_DATA, F_MEMSZ, DATA_MEMSZ);
	/* Virtual addresses differ from physical ones, as in vmlinux. */
	set_ph(im, PH_TEXT, F_VADDR,
	       is64 ? 0xffffffff81000000ULL : 0xc1000000u);
	set_ph(im, PH_DATA, F_VADDR,
	       is64 ? 0xffffffff81100000ULL : 0xc1100000u);
	for (i = 0; i < TEXT_SIZE; i++)
		im->b[TEXT_OFF + i] = (uint8_t)(i * 13 + 5);
	for (i = 0; i < DATA_FILESZ; i++)
		im->b[DATA_OFF + i] = (uint8_t)(0xff - i);
	return im;
}

/* ---- Helpers ----------------------------------------------------------- */

static void mem_setup(struct guest_mem *mem, uint64_t size)
{
	assert_int_equal(mem_init(mem, size), 0);
	/* Dirty the area images land in, so untouched bytes show. */
	memset(mem->host + TEXT_PADDR - 4096, FILL, 2 * MIB);
}

static int load(struct guest_mem *mem, const struct image *im,
		struct pvh_image *out, char *why)
{
	why[0] = 0;
	return pvh_elf_load(mem, im->b, im->len, out, why, 256);
}

static void check_loaded(const struct guest_mem *mem, const struct image *im,
			 const struct pvh_image *out, uint64_t entry)
{
	size_t i;

	assert_int_equal(out->entry, entry);
	assert_int_equal(out->start, TEXT_PADDR);
	assert_int_equal(out->end, IMG_END);
	/* Segments land at p_paddr, not p_vaddr. */
	assert_memory_equal(mem->host + TEXT_PADDR, im->b + TEXT_OFF,
			    TEXT_SIZE);
	assert_memory_equal(mem->host + DATA_PADDR, im->b + DATA_OFF,
			    DATA_FILESZ);
	/* The BSS tail is zeroed even though RAM held other bytes. */
	for (i = DATA_FILESZ; i < DATA_MEMSZ; i++)
		assert_int_equal(mem->host[DATA_PADDR + i], 0);
	/* Nothing around the segments is touched. */
	assert_int_equal(mem->host[TEXT_PADDR - 1], FILL);
	assert_int_equal(mem->host[TEXT_PADDR + TEXT_SIZE], FILL);
	assert_int_equal(mem->host[DATA_PADDR - 1], FILL);
	assert_int_equal(mem->host[IMG_END], FILL);
}

/* Load im into fresh RAM, expect success and entry; frees im. */
static void expect_load(struct image *im, uint64_t entry)
{
	struct guest_mem mem;
	struct pvh_image out;
	char why[256];

	mem_setup(&mem, GUEST_MEM);
	assert_int_equal(load(&mem, im, &out, why), 0);
	check_loaded(&mem, im, &out, entry);
	mem_destroy(&mem);
	free(im);
}

static void load_ok(bool is64, uint32_t desc, uint64_t entry)
{
	struct image *im = make_image(is64, desc, entry);

	assert_true(pvh_elf_probe(im->b, im->len));
	expect_load(im, entry);
}

/*
 * Load im, expect rc and a reason containing what, and check that no
 * byte of guest RAM changed.
 */
static void expect_reject(struct image *im, uint64_t mem_size, int rc,
			  const char *what)
{
	struct guest_mem mem;
	struct pvh_image out;
	char why[256];
	uint8_t *copy;

	mem_setup(&mem, mem_size);
	copy = malloc(CHECKED);
	assert_non_null(copy);
	memcpy(copy, mem.host, CHECKED);
	assert_int_equal(load(&mem, im, &out, why), rc);
	if (!strstr(why, what))
		fail_msg("why '%s' does not mention '%s'", why, what);
	assert_null(strchr(why, '\n'));
	assert_memory_equal(mem.host, copy, CHECKED);
	free(copy);
	mem_destroy(&mem);
	free(im);
}

/* ---- Loading ----------------------------------------------------------- */

static void test_load_elf64_8byte_note(void **state)
{
	load_ok(true, 8, ENTRY);
}

static void test_load_elf64_4byte_note(void **state)
{
	load_ok(true, 4, ENTRY);
}

static void test_load_elf32_4byte_note(void **state)
{
	load_ok(false, 4, ENTRY);
}

static void test_load_elf32_8byte_note(void **state)
{
	load_ok(false, 8, ENTRY + 0x100);
}

static void test_load_elf32_x86_64_machine(void **state)
{
	struct image *im = make_image(false, 4, ENTRY);

	((Elf32_Ehdr *)im->b)->e_machine = EM_X86_64;
	expect_load(im, ENTRY);
}

/* Entry at the first and last byte of the image is inside it. */
static void test_entry_at_image_edges(void **state)
{
	load_ok(true, 8, TEXT_PADDR);
	load_ok(true, 8, IMG_END - 1);
}

/* An empty PT_LOAD (memsz 0) is ignored wherever it points. */
static void test_empty_load_segment_ignored(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);
	Elf64_Ehdr *e = (Elf64_Ehdr *)im->b;
	Elf64_Phdr *ph = (Elf64_Phdr *)(im->b + e->e_phoff);

	/* Add a fourth header (the note area starts at 0x200: room). */
	e->e_phnum = 4;
	ph[3] = (Elf64_Phdr){ .p_type = PT_LOAD,
			      .p_offset = 0x100000,
			      .p_paddr = 0x1000,
			      .p_filesz = 0,
			      .p_memsz = 0 };
	expect_load(im, ENTRY);
}

static void test_probe(void **state)
{
	assert_true(pvh_elf_probe("\x7f"
				  "ELF",
				  4));
	assert_false(pvh_elf_probe("\x7f"
				   "EL",
				   3));
	assert_false(pvh_elf_probe("MZ\0\0", 4));
}

/* ---- Rejections -------------------------------------------------------- */

static void test_reject_not_elf(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);

	im->b[3] = 'G';
	expect_reject(im, GUEST_MEM, -ENOEXEC, "not an ELF file");
	im = make_image(true, 8, ENTRY);
	im->len = 40; /* shorter than any ELF header */
	expect_reject(im, GUEST_MEM, -ENOEXEC, "not an ELF file");
}

static void test_reject_big_endian(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);

	im->b[EI_DATA] = ELFDATA2MSB;
	expect_reject(im, GUEST_MEM, -ENOEXEC, "little-endian");
}

static void test_reject_unknown_class(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);

	im->b[EI_CLASS] = 7;
	expect_reject(im, GUEST_MEM, -ENOEXEC, "class 7");
}

static void test_reject_truncated_elf64_header(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);

	im->len = sizeof(Elf64_Ehdr) - 4; /* longer than an ELF32 header */
	expect_reject(im, GUEST_MEM, -ENOEXEC, "header truncated");
}

static void test_reject_wrong_machine(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);

	((Elf64_Ehdr *)im->b)->e_machine = EM_AARCH64;
	expect_reject(im, GUEST_MEM, -ENOEXEC, "machine 183 is not x86-64");
	im = make_image(true, 8, ENTRY);
	((Elf64_Ehdr *)im->b)->e_machine = EM_386; /* 64-bit i386: no */
	expect_reject(im, GUEST_MEM, -ENOEXEC, "not x86-64");
	im = make_image(false, 4, ENTRY);
	((Elf32_Ehdr *)im->b)->e_machine = EM_ARM;
	expect_reject(im, GUEST_MEM, -ENOEXEC, "machine 40 is not x86");
}

static void test_reject_phentsize(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);

	((Elf64_Ehdr *)im->b)->e_phentsize = sizeof(Elf32_Phdr);
	expect_reject(im, GUEST_MEM, -ENOEXEC, "program header size 32");
	im = make_image(false, 4, ENTRY);
	((Elf32_Ehdr *)im->b)->e_phentsize = sizeof(Elf64_Phdr);
	expect_reject(im, GUEST_MEM, -ENOEXEC, "program header size 56");
}

static void test_reject_phdrs_outside_file(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);

	((Elf64_Ehdr *)im->b)->e_phoff = IMG_SIZE + 8;
	expect_reject(im, GUEST_MEM, -ENOEXEC, "program headers lie outside");
	/* The table starts inside but its last entry runs past the end. */
	im = make_image(true, 8, ENTRY);
	((Elf64_Ehdr *)im->b)->e_phoff = IMG_SIZE - 2 * sizeof(Elf64_Phdr);
	expect_reject(im, GUEST_MEM, -ENOEXEC, "program headers lie outside");
	/* A phoff so large that phoff + size wraps. */
	im = make_image(true, 8, ENTRY);
	((Elf64_Ehdr *)im->b)->e_phoff = UINT64_MAX - 8;
	expect_reject(im, GUEST_MEM, -ENOEXEC, "program headers lie outside");
	im = make_image(false, 4, ENTRY);
	((Elf32_Ehdr *)im->b)->e_phnum = 0xffff;
	expect_reject(im, GUEST_MEM, -ENOEXEC, "program headers");
	im = make_image(true, 8, ENTRY);
	((Elf64_Ehdr *)im->b)->e_phnum = 0;
	expect_reject(im, GUEST_MEM, -ENOEXEC, "program headers");
}

static void test_reject_segment_outside_file(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);

	set_ph(im, PH_DATA, F_OFFSET, IMG_SIZE + 1);
	expect_reject(im, GUEST_MEM, -ENOEXEC,
		      "segment 2 lies outside the file");
	im = make_image(true, 8, ENTRY);
	set_ph(im, PH_DATA, F_FILESZ, DATA_FILESZ + 1);
	expect_reject(im, GUEST_MEM, -ENOEXEC,
		      "segment 2 lies outside the file");
	im = make_image(false, 4, ENTRY);
	set_ph(im, PH_TEXT, F_OFFSET, 0xfffffff0u);
	expect_reject(im, GUEST_MEM, -ENOEXEC,
		      "segment 1 lies outside the file");
	/* The note segment is checked the same way. */
	im = make_image(true, 8, ENTRY);
	set_ph(im, PH_NOTE, F_OFFSET, UINT64_MAX);
	expect_reject(im, GUEST_MEM, -ENOEXEC,
		      "segment 0 lies outside the file");
}

static void test_reject_filesz_above_memsz(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);

	set_ph(im, PH_TEXT, F_MEMSZ, TEXT_SIZE - 1);
	expect_reject(
		im, GUEST_MEM, -ENOEXEC,
		"segment 1 has p_filesz 0x1800 larger than p_memsz 0x17ff");
}

static void test_reject_segment_below_1m(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);

	set_ph(im, PH_DATA, F_PADDR, 0xff000);
	expect_reject(im, GUEST_MEM, -ENOEXEC,
		      "segment 2 at 0xff000 is below 1 MiB");
}

static void test_reject_segment_beyond_ram(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);

	/* Starts inside RAM, BSS runs past the end. */
	set_ph(im, PH_DATA, F_PADDR, GUEST_MEM - 0x1000);
	expect_reject(im, GUEST_MEM, -E2BIG, "does not fit in 64 MiB");
	im = make_image(true, 8, ENTRY);
	set_ph(im, PH_DATA, F_PADDR, 0x100000000ULL);
	expect_reject(im, GUEST_MEM, -E2BIG, "segment 2 (0x100000000-");
	/* Wrapping paddr + memsz. */
	im = make_image(true, 8, ENTRY);
	set_ph(im, PH_DATA, F_PADDR, UINT64_MAX - 0x1000);
	expect_reject(im, GUEST_MEM, -E2BIG, "does not fit");
}

static void test_reject_segment_in_mmio_hole(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);

	/* 5 GiB: RAM on both sides of the hole, the segment spans it. */
	set_ph(im, PH_DATA, F_PADDR, LAYOUT_MMIO_HOLE - 0x1000);
	expect_reject(im, 5 * GIB, -E2BIG, "does not fit in 5120 MiB");
}

static void test_reject_no_pvh_note(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);

	/* A Xen note of another type is not the entry. */
	memset(im->b + im->pvh_note_off + 8, 17, 1);
	expect_reject(im, GUEST_MEM, -ENOEXEC, "no PVH entry point");
	/* The right type under another owner's name is not it either. */
	im = make_image(true, 8, ENTRY);
	memcpy(im->b + im->pvh_note_off + 12, "Xan", 4);
	expect_reject(im, GUEST_MEM, -ENOEXEC, "no PVH entry point");
	/* No note segment at all. */
	im = make_image(false, 4, ENTRY);
	set_ph(im, PH_NOTE, F_TYPE, PT_NULL);
	expect_reject(im, GUEST_MEM, -ENOEXEC, "no PVH entry point");
}

static void test_reject_entry_outside_image(void **state)
{
	expect_reject(make_image(true, 8, 0x80000), GUEST_MEM, -ENOEXEC,
		      "PVH entry 0x80000 lies outside the loaded image");
	expect_reject(make_image(true, 8, IMG_END), GUEST_MEM, -ENOEXEC,
		      "lies outside the loaded image");
	expect_reject(make_image(false, 4, TEXT_PADDR - 1), GUEST_MEM, -ENOEXEC,
		      "lies outside the loaded image");
	/* An 8-byte entry above 4 GiB is not truncated into the image. */
	expect_reject(make_image(true, 8, (1ULL << 32) | ENTRY), GUEST_MEM,
		      -ENOEXEC, "lies outside the loaded image");
}

static void test_reject_truncated_note(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);

	/* The segment ends in the middle of the PVH note's descriptor. */
	set_ph(im, PH_NOTE, F_FILESZ, im->note_len - 4);
	expect_reject(im, GUEST_MEM, -ENOEXEC, "note segment 0 is truncated");
	/* descsz claims more bytes than the segment holds. */
	im = make_image(false, 4, ENTRY);
	memset(im->b + im->pvh_note_off + 4, 0xff, 4);
	expect_reject(im, GUEST_MEM, -ENOEXEC, "note segment 0 is truncated");
}

/* A malformed note segment does not hide the entry in a later one. */
static void test_truncated_note_then_good_segment(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);
	Elf64_Ehdr *e = (Elf64_Ehdr *)im->b;
	Elf64_Phdr *ph = (Elf64_Phdr *)(im->b + e->e_phoff);

	e->e_phnum = 4;
	ph[3] = ph[PH_NOTE];
	set_ph(im, PH_NOTE, F_FILESZ, im->note_len - 4);
	expect_load(im, ENTRY);
}

static void test_reject_bad_desc_size(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);

	/* A 2-byte entry: neither a 32- nor a 64-bit address. */
	put32(im->b, im->pvh_note_off + 4, 2);
	expect_reject(im, GUEST_MEM, -ENOEXEC, "2-byte descriptor");
}

static void test_reject_no_loadable_segment(void **state)
{
	struct image *im = make_image(true, 8, ENTRY);

	set_ph(im, PH_TEXT, F_TYPE, PT_NULL);
	set_ph(im, PH_DATA, F_MEMSZ, 0);
	set_ph(im, PH_DATA, F_FILESZ, 0);
	expect_reject(im, GUEST_MEM, -ENOEXEC, "no loadable segment");
}

/* ---- hvm_start_info ---------------------------------------------------- */

static void load_standard(struct guest_mem *mem, uint64_t size,
			  struct pvh_image *out)
{
	struct image *im = make_image(true, 8, ENTRY);
	char why[256];

	mem_setup(mem, size);
	assert_int_equal(load(mem, im, out, why), 0);
	free(im);
}

static const uint8_t *start_info(const struct guest_mem *mem)
{
	return mem_gpa_to_hva(mem, LAYOUT_START_INFO, 56);
}

static void check_memmap_entry(const struct guest_mem *mem, unsigned int i,
			       uint64_t addr, uint64_t size, uint32_t type)
{
	const uint8_t *m = mem_gpa_to_hva(mem, LAYOUT_MEMMAP + 24 * i, 24);

	assert_int_equal(le(m, 0, 8), addr);
	assert_int_equal(le(m, 8, 8), size);
	assert_int_equal(le(m, 16, 4), type);
	assert_int_equal(le(m, 20, 4), 0);
}

static void test_setup_start_info_bytes(void **state)
{
	const char cmdline[] = "console=ttyS0 earlyprintk=serial";
	struct boot_entry entry;
	struct guest_mem mem;
	struct pvh_image img;
	const uint8_t *si;
	char why[256] = "";

	load_standard(&mem, GUEST_MEM, &img);
	bitmap_clear_all(&mem.vmm_dirty);
	assert_int_equal(pvh_setup(&mem, &img, cmdline, NULL, 0, 0xe0000,
				   &entry, why, sizeof(why)),
			 0);
	si = start_info(&mem);
	assert_int_equal(le(si, 0, 4), 0x336ec578);
	assert_int_equal(le(si, 4, 4), 1);
	assert_int_equal(le(si, 8, 4), 0); /* flags */
	assert_int_equal(le(si, 12, 4), 0); /* nr_modules */
	assert_int_equal(le(si, 16, 8), 0); /* modlist_paddr */
	assert_int_equal(le(si, 24, 8), LAYOUT_CMDLINE);
	assert_int_equal(le(si, 32, 8), 0xe0000); /* rsdp_paddr */
	assert_int_equal(le(si, 40, 8), LAYOUT_MEMMAP);
	assert_int_equal(le(si, 48, 4), 3); /* memmap_entries */
	assert_int_equal(le(si, 52, 4), 0);

	/* The memory map, 24 bytes an entry, as e820 says. */
	check_memmap_entry(&mem, 0, 0, 0x9fc00, 1);
	check_memmap_entry(&mem, 1, 0x9fc00, 0x100000 - 0x9fc00, 2);
	check_memmap_entry(&mem, 2, 0x100000, GUEST_MEM - 0x100000, 1);

	/* The command line, NUL-terminated, where cmdline_paddr says. */
	assert_string_equal((const char *)mem_gpa_to_hva(&mem, LAYOUT_CMDLINE,
							 sizeof(cmdline)),
			    cmdline);

	assert_int_equal(entry.mode, BOOT_PVH32);
	assert_int_equal(entry.rip, ENTRY);
	assert_int_equal(entry.arg, LAYOUT_START_INFO);

	/* The VMM's writes are in the dirty set (live migration sees them). */
	assert_true(bitmap_test(&mem.vmm_dirty, LAYOUT_START_INFO >> 12));
	assert_true(bitmap_test(&mem.vmm_dirty, LAYOUT_MEMMAP >> 12));
	assert_true(bitmap_test(&mem.vmm_dirty, LAYOUT_CMDLINE >> 12));
	assert_false(bitmap_test(&mem.vmm_dirty, LAYOUT_MODLIST >> 12));
	mem_destroy(&mem);
}

static void test_setup_initrd_module(void **state)
{
	const size_t ilen = 10000;
	struct boot_entry entry;
	struct guest_mem mem;
	struct pvh_image img;
	const uint8_t *si, *mod;
	uint8_t *initrd = malloc(ilen);
	uint64_t paddr = GUEST_MEM - 3 * 4096; /* 10000 rounded up to pages */
	char why[256] = "";
	size_t i;

	for (i = 0; i < ilen; i++)
		initrd[i] = (uint8_t)(i ^ (i >> 8));
	load_standard(&mem, GUEST_MEM, &img);
	assert_int_equal(pvh_setup(&mem, &img, "", initrd, ilen, 0xe0000,
				   &entry, why, sizeof(why)),
			 0);
	si = start_info(&mem);
	assert_int_equal(le(si, 12, 4), 1);
	assert_int_equal(le(si, 16, 8), LAYOUT_MODLIST);
	mod = mem_gpa_to_hva(&mem, LAYOUT_MODLIST, 32);
	assert_int_equal(le(mod, 0, 8), paddr);
	assert_int_equal(le(mod, 8, 8), ilen);
	assert_int_equal(le(mod, 16, 8), 0); /* no module command line */
	assert_int_equal(le(mod, 24, 8), 0);
	assert_int_equal(paddr % 4096, 0);
	assert_true(paddr >= img.end);
	assert_memory_equal(mem_gpa_to_hva(&mem, paddr, ilen), initrd, ilen);
	assert_true(bitmap_test(&mem.vmm_dirty, paddr >> 12));
	assert_true(bitmap_test(&mem.vmm_dirty, (GUEST_MEM >> 12) - 1));
	/* An empty command line is still a string. */
	assert_int_equal(le(si, 24, 8), LAYOUT_CMDLINE);
	assert_int_equal(*(const char *)mem_gpa_to_hva(&mem, LAYOUT_CMDLINE, 1),
			 0);
	free(initrd);
	mem_destroy(&mem);
}

/* With RAM above 4 GiB the initrd still goes to the top of low RAM. */
static void test_setup_large_guest(void **state)
{
	const size_t ilen = 2 * 4096;
	uint8_t initrd[2 * 4096];
	struct boot_entry entry;
	struct guest_mem mem;
	struct pvh_image img;
	const uint8_t *si, *mod;
	char why[256] = "";

	memset(initrd, 0x5a, sizeof(initrd));
	load_standard(&mem, 5 * GIB, &img);
	assert_int_equal(pvh_setup(&mem, &img, "x", initrd, ilen, 0xe0000,
				   &entry, why, sizeof(why)),
			 0);
	si = start_info(&mem);
	assert_int_equal(le(si, 48, 4), 4);
	check_memmap_entry(&mem, 2, 0x100000, LAYOUT_MMIO_HOLE - 0x100000, 1);
	check_memmap_entry(&mem, 3, LAYOUT_MMIO_HOLE_END, 2 * GIB, 1);
	mod = mem_gpa_to_hva(&mem, LAYOUT_MODLIST, 32);
	assert_int_equal(le(mod, 0, 8), LAYOUT_MMIO_HOLE - ilen);
	assert_memory_equal(mem_gpa_to_hva(&mem, LAYOUT_MMIO_HOLE - ilen, ilen),
			    initrd, ilen);
	mem_destroy(&mem);
}

static void test_setup_initrd_fit_boundary(void **state)
{
	const size_t room = GUEST_MEM - IMG_END; /* IMG_END is page aligned */
	struct boot_entry entry;
	struct guest_mem mem;
	struct pvh_image img;
	uint8_t *initrd = calloc(1, room + 1);
	char why[256] = "", want[64];

	/* Exactly the room between the kernel and the end of RAM fits. */
	load_standard(&mem, GUEST_MEM, &img);
	assert_int_equal(pvh_setup(&mem, &img, "", initrd, room, 0, &entry, why,
				   sizeof(why)),
			 0);
	assert_int_equal(le(mem_gpa_to_hva(&mem, LAYOUT_MODLIST, 8), 0, 8),
			 IMG_END);
	mem_destroy(&mem);

	/* One byte more needs another page that would overlap the kernel. */
	load_standard(&mem, GUEST_MEM, &img);
	assert_int_equal(pvh_setup(&mem, &img, "", initrd, room + 1, 0, &entry,
				   why, sizeof(why)),
			 -E2BIG);
	snprintf(want, sizeof(want), "initrd of %zu bytes does not fit",
		 room + 1);
	assert_non_null(strstr(why, want));
	/* Nothing claimed a module. */
	assert_int_equal(le(start_info(&mem), 12, 4), 0);
	mem_destroy(&mem);

	/* Larger than all of RAM. */
	load_standard(&mem, GUEST_MEM, &img);
	assert_int_equal(pvh_setup(&mem, &img, "", initrd, GUEST_MEM + 4096, 0,
				   &entry, why, sizeof(why)),
			 -E2BIG);
	assert_non_null(strstr(why, "does not fit"));
	mem_destroy(&mem);
	free(initrd);
}

static void test_setup_cmdline_limit(void **state)
{
	const size_t max = LAYOUT_CMDLINE_MAX - 1;
	char *cmdline = malloc(max + 2);
	struct boot_entry entry;
	struct guest_mem mem;
	struct pvh_image img;
	char why[256] = "";

	memset(cmdline, 'c', max + 1);
	cmdline[max] = 0;
	load_standard(&mem, GUEST_MEM, &img);
	assert_int_equal(pvh_setup(&mem, &img, cmdline, NULL, 0, 0, &entry, why,
				   sizeof(why)),
			 0);
	assert_int_equal(strlen((const char *)mem_gpa_to_hva(
				 &mem, LAYOUT_CMDLINE, LAYOUT_CMDLINE_MAX)),
			 max);
	mem_destroy(&mem);

	cmdline[max] = 'c';
	cmdline[max + 1] = 0;
	load_standard(&mem, GUEST_MEM, &img);
	bitmap_clear_all(&mem.vmm_dirty);
	assert_int_equal(pvh_setup(&mem, &img, cmdline, NULL, 0, 0, &entry, why,
				   sizeof(why)),
			 -E2BIG);
	assert_non_null(strstr(
		why, "command line of 65536 bytes is longer than 65535"));
	assert_int_equal(bitmap_count(&mem.vmm_dirty), 0);
	mem_destroy(&mem);
	free(cmdline);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_elf64_8byte_note),
		cmocka_unit_test(test_load_elf64_4byte_note),
		cmocka_unit_test(test_load_elf32_4byte_note),
		cmocka_unit_test(test_load_elf32_8byte_note),
		cmocka_unit_test(test_load_elf32_x86_64_machine),
		cmocka_unit_test(test_entry_at_image_edges),
		cmocka_unit_test(test_empty_load_segment_ignored),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_reject_not_elf),
		cmocka_unit_test(test_reject_big_endian),
		cmocka_unit_test(test_reject_unknown_class),
		cmocka_unit_test(test_reject_truncated_elf64_header),
		cmocka_unit_test(test_reject_wrong_machine),
		cmocka_unit_test(test_reject_phentsize),
		cmocka_unit_test(test_reject_phdrs_outside_file),
		cmocka_unit_test(test_reject_segment_outside_file),
		cmocka_unit_test(test_reject_filesz_above_memsz),
		cmocka_unit_test(test_reject_segment_below_1m),
		cmocka_unit_test(test_reject_segment_beyond_ram),
		cmocka_unit_test(test_reject_segment_in_mmio_hole),
		cmocka_unit_test(test_reject_no_pvh_note),
		cmocka_unit_test(test_reject_entry_outside_image),
		cmocka_unit_test(test_reject_truncated_note),
		cmocka_unit_test(test_truncated_note_then_good_segment),
		cmocka_unit_test(test_reject_bad_desc_size),
		cmocka_unit_test(test_reject_no_loadable_segment),
		cmocka_unit_test(test_setup_start_info_bytes),
		cmocka_unit_test(test_setup_initrd_module),
		cmocka_unit_test(test_setup_large_guest),
		cmocka_unit_test(test_setup_initrd_fit_boundary),
		cmocka_unit_test(test_setup_cmdline_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
