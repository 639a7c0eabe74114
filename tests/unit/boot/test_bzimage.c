/*
 * Unit tests of the bzImage loader with synthetic images built here: the
 * zero page compared byte by byte with one assembled from the boot
 * protocol's offsets (Documentation/arch/x86/boot.rst, zero-page.rst), the
 * kernel, initrd and command line in guest RAM, the identity map and GDT,
 * placement rules, every rejected input (with its errno, its log line and
 * guest RAM left unwritten), and a mutation run that must never crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "boot_test.h"
#include "common/log.h"
#include "vmm/x86/bzimage.h"
#include "vmm/x86/layout.h"

#define SETUP_SECTS 4
#define SETUP_SIZE ((SETUP_SECTS + 1) * 512)
#define KERNEL_SIZE (64 * 1024)
#define TRAILER 100 /* e.g. an appended signature: not part of the kernel */
#define IMAGE_LEN (SETUP_SIZE + KERNEL_SIZE + TRAILER)
#define PREF 0x1000000ULL
#define INIT_SIZE 0x400000ULL
#define ALIGN_2M 0x200000
#define RSDP 0xe0000ULL
#define MEM_64M (64 * MIB)

static void set(uint8_t *p, size_t off, uint64_t v, size_t n)
{
	memcpy(p + off, &v, n);
}

/*
 * A protocol 2.15 bzImage: setup bytes hold a pattern (so copied and
 * uncopied bytes can be told apart), header fields as a real kernel has
 * them, and a kernel body with its own pattern.
 */
static uint8_t *make_image(void)
{
	uint8_t *p = malloc(IMAGE_LEN);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < SETUP_SIZE; i++)
		p[i] = (uint8_t)(i * 13 + 1) ^ 0x55;
	for (i = 0; i < KERNEL_SIZE; i++)
		p[SETUP_SIZE + i] = (uint8_t)(i * 7 + 3);
	memset(p + SETUP_SIZE + KERNEL_SIZE, 0xee, TRAILER);
	p[0x1f1] = SETUP_SECTS;
	set(p, 0x1f4, KERNEL_SIZE / 16, 4); /* syssize */
	set(p, 0x1fe, 0xaa55, 2); /* boot_flag */
	p[0x200] = 0xeb; /* jmp short */
	p[0x201] = 0x26c - 0x202; /* header ends at 0x26c */
	memcpy(p + 0x202, "HdrS", 4);
	set(p, 0x206, 0x020f, 2); /* version 2.15 */
	p[0x211] = 0x01; /* loadflags: LOADED_HIGH */
	set(p, 0x22c, 0x7fffffff, 4); /* initrd_addr_max */
	set(p, 0x230, ALIGN_2M, 4); /* kernel_alignment */
	p[0x234] = 1; /* relocatable_kernel */
	p[0x235] = 21; /* min_alignment */
	set(p, 0x236, 0x3, 2); /* XLF_KERNEL_64 | ABOVE_4G */
	set(p, 0x238, 2047, 4); /* cmdline_size */
	set(p, 0x23c, 0, 4); /* hardware_subarch */
	set(p, 0x250, 0xdeadbeef, 8); /* setup_data: garbage in the file */
	set(p, 0x258, PREF, 8); /* pref_address */
	set(p, 0x260, INIT_SIZE, 4); /* init_size */
	return p;
}

static uint8_t *make_initrd(size_t len)
{
	uint8_t *p = malloc(len);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + 5);
	return p;
}

/* The zero page the protocol asks for, assembled from spec offsets. */
static void expected_zero_page(uint8_t want[4096], const uint8_t *img,
			       size_t hdr_end, uint64_t initrd_gpa,
			       size_t initrd_len, uint64_t rsdp)
{
	memset(want, 0, 4096);
	memcpy(want + 0x1f1, img + 0x1f1, hdr_end - 0x1f1);
	want[0x210] = 0xff; /* type_of_loader: undefined */
	want[0x211] |= 0x80; /* loadflags: CAN_USE_HEAP */
	set(want, 0x218, initrd_gpa, 4); /* ramdisk_image */
	set(want, 0x21c, initrd_len, 4); /* ramdisk_size */
	set(want, 0x224, 0xfe00, 2); /* heap_end_ptr */
	set(want, 0x228, LAYOUT_CMDLINE, 4); /* cmd_line_ptr */
	set(want, 0x250, 0, 8); /* setup_data: none */
	set(want, 0x070, rsdp, 8); /* acpi_rsdp_addr */
}

/* e820_table at 0x2d0: 20-byte entries {u64 addr, u64 size, u32 type}. */
static void add_e820(uint8_t want[4096], unsigned int i, uint64_t addr,
		     uint64_t size, uint32_t type)
{
	want[0x1e8] = (uint8_t)(i + 1); /* e820_entries */
	set(want, 0x2d0 + 20 * i, addr, 8);
	set(want, 0x2d0 + 20 * i + 8, size, 8);
	set(want, 0x2d0 + 20 * i + 16, type, 4);
}

static void add_e820_low(uint8_t want[4096], uint64_t low_end)
{
	add_e820(want, 0, 0, 0x9fc00, 1);
	add_e820(want, 1, 0x9fc00, 0x100000 - 0x9fc00, 2);
	add_e820(want, 2, 0x100000, low_end - 0x100000, 1);
}

static void test_probe(void **state)
{
	uint8_t *img = make_image();
	static const uint8_t elf[0x300] = { 0x7f, 'E', 'L', 'F' };

	assert_true(bzimage_probe(img, IMAGE_LEN));
	assert_true(bzimage_probe(img, 0x206));
	assert_false(bzimage_probe(img, 0x205));
	assert_false(bzimage_probe(elf, sizeof(elf)));
	img[0x1fe] = 0;
	assert_false(bzimage_probe(img, IMAGE_LEN));
	free(img);
}

/* 64 MiB guest, kernel at pref_address, initrd at the top of RAM. */
static void test_load_basic(void **state)
{
	const char *cmdline = "console=ttyS0 panic=-1";
	size_t initrd_len = 1 * MIB + 123;
	uint8_t *img = make_image(), *initrd = make_initrd(initrd_len);
	uint64_t initrd_gpa = (MEM_64M - initrd_len) & ~0xfffULL;
	uint8_t want[4096];
	struct boot_entry entry;
	struct guest_mem mem;
	uint8_t *zp;

	assert_int_equal(mem_init(&mem, MEM_64M), 0);
	assert_int_equal(bzimage_load(&mem, img, IMAGE_LEN, cmdline, initrd,
				      initrd_len, RSDP, &entry),
			 0);
	assert_int_equal(entry.mode, BOOT_LINUX64);
	assert_int_equal(entry.rip, PREF + 0x200);
	assert_int_equal(entry.arg, LAYOUT_ZERO_PAGE);

	zp = guest(&mem, LAYOUT_ZERO_PAGE, 4096);
	assert_int_equal(zp[0x210], 0xff);
	assert_int_equal(zp[0x211], 0x81);
	assert_int_equal(le(zp, 0x218, 4), initrd_gpa);
	assert_int_equal(le(zp, 0x21c, 4), initrd_len);
	assert_int_equal(le(zp, 0x224, 2), 0xfe00);
	assert_int_equal(le(zp, 0x228, 4), LAYOUT_CMDLINE);
	assert_int_equal(le(zp, 0x070, 8), RSDP);
	assert_int_equal(zp[0x1e8], 3);
	assert_int_equal(zp[0x1ef], 0); /* sentinel */
	expected_zero_page(want, img, 0x26c, initrd_gpa, initrd_len, RSDP);
	add_e820_low(want, MEM_64M);
	assert_memory_equal(zp, want, 4096);

	/* The protected-mode kernel (not the trailer), initrd, cmdline. */
	assert_memory_equal(guest(&mem, PREF, KERNEL_SIZE), img + SETUP_SIZE,
			    KERNEL_SIZE);
	assert_int_equal(*guest(&mem, PREF + KERNEL_SIZE, 1), 0);
	assert_memory_equal(guest(&mem, initrd_gpa, initrd_len), initrd,
			    initrd_len);
	assert_true(initrd_gpa >= PREF + INIT_SIZE);
	assert_memory_equal(guest(&mem, LAYOUT_CMDLINE, strlen(cmdline) + 1),
			    cmdline, strlen(cmdline) + 1);
	mem_destroy(&mem);
	free(img);
	free(initrd);
}

/* PML4[0] -> PDPT; PDPT[0..3] -> PDs; PD entries map 2 MiB pages 1:1. */
static void test_page_tables(void **state)
{
	uint8_t *img = make_image();
	struct boot_entry entry;
	struct guest_mem mem;
	uint8_t *pml4, *pdpt, *pd;
	unsigned int i;

	assert_int_equal(mem_init(&mem, MEM_64M), 0);
	assert_int_equal(
		bzimage_load(&mem, img, IMAGE_LEN, "", NULL, 0, 0, &entry), 0);
	pml4 = guest(&mem, LAYOUT_BOOT_PML4, 4096);
	pdpt = guest(&mem, LAYOUT_BOOT_PDPT, 4096);
	pd = guest(&mem, LAYOUT_BOOT_PD, 4 * 4096);
	assert_int_equal(le(pml4, 0, 8), LAYOUT_BOOT_PDPT | 0x3);
	for (i = 1; i < 512; i++)
		assert_int_equal(le(pml4, 8 * i, 8), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(le(pdpt, 8 * i, 8),
				 (LAYOUT_BOOT_PD + 4096 * i) | 0x3);
	for (i = 4; i < 512; i++)
		assert_int_equal(le(pdpt, 8 * i, 8), 0);
	/* 2048 entries: present, writable, PS; address i * 2 MiB. */
	for (i = 0; i < 2048; i++)
		assert_int_equal(le(pd, 8 * i, 8), ((uint64_t)i << 21) | 0x83);
	/* The ranges the 64-bit entry needs mapped are below 4 GiB. */
	assert_true(PREF + INIT_SIZE <= 4 * GIB);
	mem_destroy(&mem);
	free(img);
}

/* Descriptor fields decoded as the SDM lays them out. */
static void check_flat_descriptor(uint64_t d, unsigned int type, bool code)
{
	assert_int_equal(d & 0xffff, 0xffff); /* limit 15:0 */
	assert_int_equal((d >> 48) & 0xf, 0xf); /* limit 19:16 */
	assert_int_equal((d >> 16) & 0xffffff, 0); /* base 23:0 */
	assert_int_equal((d >> 56) & 0xff, 0); /* base 31:24 */
	assert_int_equal((d >> 40) & 0xf, type); /* type */
	assert_int_equal((d >> 44) & 1, 1); /* S: code/data */
	assert_int_equal((d >> 45) & 3, 0); /* DPL 0 */
	assert_int_equal((d >> 47) & 1, 1); /* present */
	assert_int_equal((d >> 53) & 1, code ? 1 : 0); /* L */
	assert_int_equal((d >> 54) & 1, code ? 0 : 1); /* D/B */
	assert_int_equal((d >> 55) & 1, 1); /* G: 4 KiB */
}

static void test_gdt(void **state)
{
	uint8_t *img = make_image();
	struct boot_entry entry;
	struct guest_mem mem;
	uint8_t *gdt;

	assert_int_equal(mem_init(&mem, MEM_64M), 0);
	assert_int_equal(bzimage_load(&mem, img, IMAGE_LEN, NULL, NULL, 0, 0,
				      &entry),
			 0);
	gdt = guest(&mem, LAYOUT_BOOT_GDT, 32);
	assert_int_equal(le(gdt, 0x00, 8), 0);
	assert_int_equal(le(gdt, 0x08, 8), 0);
	assert_int_equal(le(gdt, 0x10, 8), 0x00af9b000000ffffULL);
	assert_int_equal(le(gdt, 0x18, 8), 0x00cf93000000ffffULL);
	check_flat_descriptor(le(gdt, 0x10, 8), 0xb, true); /* exec/read */
	check_flat_descriptor(le(gdt, 0x18, 8), 0x3, false); /* read/write */
	assert_int_equal(BZIMAGE_BOOT_CS, 0x10);
	assert_int_equal(BZIMAGE_BOOT_DS, 0x18);
	/* NULL command line: an empty string, still pointed to. */
	assert_int_equal(*guest(&mem, LAYOUT_CMDLINE, 1), 0);
	mem_destroy(&mem);
	free(img);
}

/* setup_sects 0 means 4: the same image loads the same way. */
static void test_setup_sects_zero(void **state)
{
	uint8_t *img = make_image();
	struct boot_entry entry;
	struct guest_mem mem;

	img[0x1f1] = 0;
	assert_int_equal(mem_init(&mem, MEM_64M), 0);
	assert_int_equal(
		bzimage_load(&mem, img, IMAGE_LEN, "", NULL, 0, 0, &entry), 0);
	assert_memory_equal(guest(&mem, PREF, KERNEL_SIZE), img + SETUP_SIZE,
			    KERNEL_SIZE);
	assert_int_equal(*guest(&mem, LAYOUT_ZERO_PAGE + 0x1f1, 1), 0);
	mem_destroy(&mem);
	free(img);
}

/*
 * Protocol 2.12, header ending at 0x268: only that much is copied, and
 * acpi_rsdp_addr (2.14+) stays 0.
 */
static void test_protocol_2_12(void **state)
{
	uint8_t *img = make_image(), want[4096];
	struct boot_entry entry;
	struct guest_mem mem;

	set(img, 0x206, 0x020c, 2);
	img[0x201] = 0x268 - 0x202;
	assert_int_equal(mem_init(&mem, MEM_64M), 0);
	assert_int_equal(bzimage_load(&mem, img, IMAGE_LEN, "x", NULL, 0, RSDP,
				      &entry),
			 0);
	expected_zero_page(want, img, 0x268, 0, 0, 0);
	add_e820_low(want, MEM_64M);
	assert_memory_equal(guest(&mem, LAYOUT_ZERO_PAGE, 4096), want, 4096);
	mem_destroy(&mem);
	free(img);
}

/*
 * Not relocatable: loaded at 1 MiB, but it runs at pref_address, so the
 * initrd must stay above pref_address + init_size.
 */
static void test_non_relocatable(void **state)
{
	size_t initrd_len = 40 * MIB;
	uint8_t *img = make_image(), *initrd = make_initrd(initrd_len);
	struct boot_entry entry;
	struct guest_mem mem;
	uint64_t gpa;

	img[0x234] = 0;
	assert_int_equal(mem_init(&mem, MEM_64M), 0);
	assert_int_equal(bzimage_load(&mem, img, IMAGE_LEN, "", initrd,
				      initrd_len, 0, &entry),
			 0);
	assert_int_equal(entry.rip, 0x100000 + 0x200);
	assert_memory_equal(guest(&mem, 0x100000, KERNEL_SIZE),
			    img + SETUP_SIZE, KERNEL_SIZE);
	gpa = le(guest(&mem, LAYOUT_ZERO_PAGE, 4096), 0x218, 4);
	assert_true(gpa >= PREF + INIT_SIZE);
	assert_int_equal(gpa % 4096, 0);
	mem_destroy(&mem);
	/* 44 MiB ends just at pref + init_size; 45 MiB would reach in. */
	initrd = realloc(initrd, 45 * MIB);
	assert_non_null(initrd);
	assert_int_equal(mem_init(&mem, MEM_64M), 0);
	assert_int_equal(bzimage_load(&mem, img, IMAGE_LEN, "", initrd,
				      44 * MIB, 0, &entry),
			 0);
	assert_int_equal(le(guest(&mem, LAYOUT_ZERO_PAGE, 4096), 0x218, 4),
			 PREF + INIT_SIZE);
	mem_destroy(&mem);
	assert_int_equal(mem_init(&mem, MEM_64M), 0);
	assert_int_equal(bzimage_load(&mem, img, IMAGE_LEN, "", initrd,
				      45 * MIB, 0, &entry),
			 -ENOSPC);
	mem_destroy(&mem);
	free(img);
	free(initrd);
}

/*
 * Relocatable without a usable pref_address (0): loaded at 1 MiB; the
 * kernel decompresses at 1 MiB rounded up to kernel_alignment.
 */
static void test_fallback_1m(void **state)
{
	size_t initrd_len = 4096;
	uint8_t *img = make_image(), *initrd = make_initrd(initrd_len);
	struct boot_entry entry;
	struct guest_mem mem;

	set(img, 0x258, 0, 8);
	assert_int_equal(mem_init(&mem, 8 * MIB), 0);
	assert_int_equal(bzimage_load(&mem, img, IMAGE_LEN, "", initrd,
				      initrd_len, 0, &entry),
			 0);
	assert_int_equal(entry.rip, 0x100200);
	/* 2 MiB + init_size (4 MiB) = 6 MiB: the initrd goes above. */
	assert_int_equal(le(guest(&mem, LAYOUT_ZERO_PAGE, 4096), 0x218, 4),
			 8 * MIB - 4096);
	mem_destroy(&mem);
	free(img);
	free(initrd);
}

/* initrd_addr_max caps where the initrd may end. */
static void test_initrd_addr_max(void **state)
{
	size_t initrd_len = 3 * MIB + 1;
	uint8_t *img = make_image(), *initrd = make_initrd(initrd_len);
	struct boot_entry entry;
	struct guest_mem mem;
	uint64_t gpa;

	set(img, 0x22c, 32 * MIB - 1, 4);
	assert_int_equal(mem_init(&mem, MEM_64M), 0);
	assert_int_equal(bzimage_load(&mem, img, IMAGE_LEN, "", initrd,
				      initrd_len, 0, &entry),
			 0);
	gpa = le(guest(&mem, LAYOUT_ZERO_PAGE, 4096), 0x218, 4);
	assert_int_equal(gpa, (32 * MIB - initrd_len) & ~0xfffULL);
	assert_true(gpa + initrd_len <= 32 * MIB);
	mem_destroy(&mem);
	free(img);
	free(initrd);
}

/* 5 GiB: four e820 entries, initrd under initrd_addr_max (2 GiB). */
static void test_large_guest(void **state)
{
	size_t initrd_len = 2 * MIB;
	uint8_t *img = make_image(), *initrd = make_initrd(initrd_len);
	uint8_t want[4096];
	struct boot_entry entry;
	struct guest_mem mem;
	uint64_t gpa = 0x80000000ULL - initrd_len;

	assert_int_equal(mem_init(&mem, 5 * GIB), 0);
	assert_int_equal(bzimage_load(&mem, img, IMAGE_LEN, "big", initrd,
				      initrd_len, RSDP, &entry),
			 0);
	expected_zero_page(want, img, 0x26c, gpa, initrd_len, RSDP);
	add_e820_low(want, 0xc0000000ULL);
	add_e820(want, 3, 0x100000000ULL, 2 * GIB, 1);
	assert_memory_equal(guest(&mem, LAYOUT_ZERO_PAGE, 4096), want, 4096);
	assert_memory_equal(guest(&mem, gpa, initrd_len), initrd, initrd_len);
	mem_destroy(&mem);
	free(img);
	free(initrd);
}

/* Captures log lines through the logger's extra fd. */
static int log_fd = -1;

static int log_setup(void **state)
{
	log_fd = memfd_create("log", 0);
	if (log_fd < 0)
		return -1;
	log_set_extra_fd(log_fd);
	return 0;
}

static int log_teardown(void **state)
{
	log_set_extra_fd(-1);
	close(log_fd);
	return 0;
}

/* Everything logged since the last call, as a string. */
static void take_log(char *buf, size_t size)
{
	ssize_t n = pread(log_fd, buf, size - 1, 0);

	assert_true(n >= 0);
	buf[n] = 0;
	assert_int_equal(ftruncate(log_fd, 0), 0);
	assert_int_equal(lseek(log_fd, 0, SEEK_SET), 0);
}

enum mutation {
	M_SHORT,
	M_NO_KERNEL_BYTES,
	M_SETUP_PAST_END,
	M_BOOT_FLAG,
	M_MAGIC,
	M_OLD_PROTOCOL,
	M_NOT_64BIT,
	M_HDR_TOO_LONG,
	M_HDR_TOO_SHORT,
	M_SYSSIZE_ZERO,
	M_BAD_ALIGNMENT,
	M_INIT_SIZE_SMALL,
	M_INIT_SIZE_HUGE,
	M_CMDLINE_LONG,
	M_INITRD_LARGE,
	M_INITRD_NULL,
};

struct bad_case {
	enum mutation m;
	int rc;
	const char *log; /* expected in the one log line */
};

static const struct bad_case bad_cases[] = {
	{ M_SHORT, -ENODATA, "too short for a setup header" },
	{ M_NO_KERNEL_BYTES, -ENODATA, "truncated" },
	{ M_SETUP_PAST_END, -ENODATA, "truncated" },
	{ M_BOOT_FLAG, -ENOEXEC, "signature 0xaa55 at 0x1fe" },
	{ M_MAGIC, -ENOEXEC, "\"HdrS\" setup header magic" },
	{ M_OLD_PROTOCOL, -EPROTONOSUPPORT,
	  "protocol 2.10 too old, need 2.12" },
	{ M_NOT_64BIT, -ENOTSUP, "XLF_KERNEL_64" },
	{ M_HDR_TOO_LONG, -EBADMSG, "setup header ends at 0x292" },
	{ M_HDR_TOO_SHORT, -EBADMSG, "setup header ends at 0x262" },
	{ M_SYSSIZE_ZERO, -EBADMSG, "kernel of 0 bytes" },
	{ M_BAD_ALIGNMENT, -EBADMSG, "kernel_alignment 0x3000" },
	{ M_INIT_SIZE_SMALL, -EBADMSG, "init_size 0x100" },
	{ M_INIT_SIZE_HUGE, -EFBIG, "low RAM ends at 0x4000000" },
	{ M_CMDLINE_LONG, -E2BIG, "command line of 17 bytes" },
	{ M_INITRD_LARGE, -ENOSPC, "initrd of" },
	{ M_INITRD_NULL, -EINVAL, "4096-byte initrd" },
};

struct load_args {
	size_t len;
	char cmdline[32];
	const void *initrd;
	size_t initrd_len;
};

static void mutate(uint8_t *img, enum mutation m, struct load_args *a,
		   const uint8_t *big_initrd)
{
	switch (m) {
	case M_SHORT:
		a->len = 0x100;
		break;
	case M_NO_KERNEL_BYTES:
		a->len = IMAGE_LEN - TRAILER - 16;
		break;
	case M_SETUP_PAST_END:
		img[0x1f1] = 200;
		break;
	case M_BOOT_FLAG:
		set(img, 0x1fe, 0, 2);
		break;
	case M_MAGIC:
		img[0x205] = 'X';
		break;
	case M_OLD_PROTOCOL:
		set(img, 0x206, 0x020a, 2);
		break;
	case M_NOT_64BIT:
		set(img, 0x236, 0x2, 2);
		break;
	case M_HDR_TOO_LONG:
		img[0x201] = 0x90;
		break;
	case M_HDR_TOO_SHORT:
		img[0x201] = 0x60;
		break;
	case M_SYSSIZE_ZERO:
		set(img, 0x1f4, 0, 4);
		break;
	case M_BAD_ALIGNMENT:
		set(img, 0x230, 0x3000, 4);
		break;
	case M_INIT_SIZE_SMALL:
		set(img, 0x260, 0x100, 4);
		break;
	case M_INIT_SIZE_HUGE:
		set(img, 0x260, 64 * MIB, 4);
		break;
	case M_CMDLINE_LONG:
		set(img, 0x238, 16, 4);
		strcpy(a->cmdline, "0123456789abcdefX");
		break;
	case M_INITRD_LARGE:
		a->initrd = big_initrd;
		a->initrd_len = 62 * MIB;
		break;
	case M_INITRD_NULL:
		a->initrd_len = 4096;
		break;
	}
}

/* Each bad input: its errno, one log line naming it, RAM unwritten. */
static void test_bad_inputs(void **state)
{
	uint8_t *big = calloc(1, 62 * MIB);
	char log[2048];
	unsigned int i;

	assert_non_null(big);
	take_log(log, sizeof(log)); /* drop what earlier tests logged */
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct load_args a = { .len = IMAGE_LEN };
		uint8_t *img = make_image();
		struct boot_entry entry = { 0 };
		struct guest_mem mem;

		mutate(img, c->m, &a, big);
		assert_int_equal(mem_init(&mem, MEM_64M), 0);
		assert_int_equal(bzimage_load(&mem, img, a.len, a.cmdline,
					      a.initrd, a.initrd_len, RSDP,
					      &entry),
				 c->rc);
		take_log(log, sizeof(log));
		if (!strstr(log, c->log))
			fail_msg("case %u: log \"%s\" lacks \"%s\"", i, log,
				 c->log);
		assert_non_null(strstr(log, "bzImage: "));
		assert_int_equal(strchr(log, '\n') - log + 1, strlen(log));
		assert_int_equal(bitmap_count(&mem.vmm_dirty), 0);
		assert_int_equal(entry.rip, 0);
		mem_destroy(&mem);
		free(img);
	}
	free(big);
}

/* Limits are inclusive: exactly cmdline_size bytes is fine. */
static void test_cmdline_limit(void **state)
{
	uint8_t *img = make_image();
	struct boot_entry entry;
	struct guest_mem mem;

	set(img, 0x238, 16, 4);
	assert_int_equal(mem_init(&mem, MEM_64M), 0);
	assert_int_equal(bzimage_load(&mem, img, IMAGE_LEN, "0123456789abcdef",
				      NULL, 0, 0, &entry),
			 0);
	assert_memory_equal(guest(&mem, LAYOUT_CMDLINE, 17), "0123456789abcdef",
			    17);
	mem_destroy(&mem);
	free(img);
}

/* xorshift64: a fixed sequence, so a failure reproduces. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Random header bytes and lengths on a valid image: any result is fine
 * except a crash or a kernel outside RAM.
 */
static void test_garbage(void **state)
{
	uint8_t *base = make_image(), *img = malloc(IMAGE_LEN);
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	int saved_stderr = dup(STDERR_FILENO);
	int null_fd = open("/dev/null", O_WRONLY);
	struct guest_mem mem;
	unsigned int i, j;

	assert_non_null(img);
	assert_true(saved_stderr >= 0 && null_fd >= 0);
	assert_int_equal(mem_init(&mem, MEM_64M), 0);
	/* Thousands of expected error lines: keep them out of the test log. */
	assert_true(dup2(null_fd, STDERR_FILENO) >= 0);
	for (i = 0; i < 3000; i++) {
		struct boot_entry entry = { 0 };
		size_t len = IMAGE_LEN;
		int rc;

		memcpy(img, base, IMAGE_LEN);
		for (j = 0; j < 1 + rng_next(&seed) % 8; j++)
			img[0x1f1 + rng_next(&seed) % (0x290 - 0x1f1)] =
				(uint8_t)rng_next(&seed);
		if (rng_next(&seed) % 4 == 0)
			len = rng_next(&seed) % (IMAGE_LEN + 1);
		rc = bzimage_load(&mem, img, len, "x", NULL, 0, 0, &entry);
		if (!rc)
			assert_true(mem_gpa_is_ram(&mem, entry.rip, 1));
		take_log((char[256]){ 0 }, 256);
	}
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	close(null_fd);
	mem_destroy(&mem);
	free(img);
	free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_load_basic),
		cmocka_unit_test(test_page_tables),
		cmocka_unit_test(test_gdt),
		cmocka_unit_test(test_setup_sects_zero),
		cmocka_unit_test(test_protocol_2_12),
		cmocka_unit_test(test_non_relocatable),
		cmocka_unit_test(test_fallback_1m),
		cmocka_unit_test(test_initrd_addr_max),
		cmocka_unit_test(test_large_guest),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_cmdline_limit),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, log_setup, log_teardown);
}
