/*
 * bzImage loader, Linux x86 boot protocol 2.12+ with the 64-bit entry.
 *
 * Steps: parse and validate the setup header (every field the loader uses
 * is bounds-checked against the file), decide where everything goes in
 * guest RAM (kernel, initrd) and check it fits, and only then write: the
 * kernel, the initrd, the command line, boot_params, page tables and GDT.
 * A rejected image leaves guest RAM untouched.
 *
 * Field offsets are those of Documentation/arch/x86/boot.rst and
 * zero-page.rst; the setup header sits at the same offset in the image and
 * in boot_params, so it is copied across byte for byte.
 */
#include "vmm/x86/bzimage.h"

#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "vmm/x86/e820.h"
#include "vmm/x86/layout.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "boot_params is little-endian; so must the host be");

/* boot_params ("zero page") fields outside the setup header. */
#define BP_SIZE 4096
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_E820_ENTRIES 0x1e8
#define BP_HDR_END 0x290 /* edd_mbr_sig_buffer follows the setup header */
#define BP_E820_TABLE 0x2d0
#define BP_E820_ENTRY_SIZE 20
#define BP_E820_MAX 128

/* Setup header fields, at these offsets in the image and boot_params. */
#define HDR_START 0x1f1
#define HDR_SETUP_SECTS 0x1f1
#define HDR_SYSSIZE 0x1f4
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_SETUP_DATA 0x250
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_END_2_12 0x268 /* protocol 2.12 headers end after handover_offset */

#define BOOT_FLAG_MAGIC 0xaa55
#define HDR_MAGIC_HDRS 0x53726448 /* "HdrS" */
#define SECTOR_SIZE 512
#define SETUP_SECTS_DEFAULT 4 /* setup_sects 0 means 4 */
#define LOADER_TYPE_UNDEFINED 0xff
#define LOADFLAG_CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 (1u << 0)
/*
 * End of a 64 KiB real-mode segment minus 0x200, as the protocol defines
 * heap_end_ptr. The 64-bit entry never runs the real-mode setup code, so
 * the value only keeps boot_params self-consistent.
 */
#define HEAP_END_PTR 0xfe00
#define ENTRY_64_OFFSET 0x200

/* Identity map entries: present, writable; PS marks a 2 MiB page. */
#define PTE_PRESENT 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PS 0x80ULL
#define PT_ENTRIES 512
#define IDENTITY_PDS 4 /* 4 x 1 GiB = 4 GiB */

/* What the loader needs from a validated setup header. */
struct bz_info {
	size_t setup_size; /* boot sector + real-mode setup, in bytes */
	size_t hdr_end; /* offset just past the setup header */
	uint64_t kernel_size; /* protected-mode kernel: syssize * 16 */
	uint16_t version;
	uint32_t initrd_addr_max;
	uint32_t kernel_alignment;
	uint32_t cmdline_size;
	uint32_t init_size;
	uint64_t pref_address;
	bool relocatable;
};

/* Where things go in guest RAM. */
struct bz_placement {
	uint64_t load; /* protected-mode kernel copied here */
	uint64_t end; /* above everything the kernel touches while booting */
	uint64_t initrd; /* 0 without an initrd */
};

/* Little-endian field of n (<= 8) bytes at off; callers bound off + n. */
static uint64_t get_le(const uint8_t *p, size_t off, size_t n)
{
	uint64_t v = 0;

	memcpy(&v, p + off, n);
	return v;
}

static void put_le(uint8_t *p, size_t off, uint64_t v, size_t n)
{
	memcpy(p + off, &v, n);
}

bool bzimage_probe(const void *image, size_t len)
{
	const uint8_t *p = image;

	return len >= HDR_MAGIC + 4 &&
	       get_le(p, HDR_BOOT_FLAG, 2) == BOOT_FLAG_MAGIC &&
	       get_le(p, HDR_MAGIC, 4) == HDR_MAGIC_HDRS;
}

/* Signature, protocol version and header extent: is this a header at all? */
static int bz_parse_magic(const uint8_t *p, size_t len, struct bz_info *info)
{
	if (len < HDR_VERSION + 2) {
		log_err("bzImage: file of %zu bytes is too short for a setup header",
			len);
		return -ENODATA;
	}
	if (get_le(p, HDR_BOOT_FLAG, 2) != BOOT_FLAG_MAGIC) {
		log_err("bzImage: no boot sector signature 0xaa55 at 0x1fe");
		return -ENOEXEC;
	}
	if (get_le(p, HDR_MAGIC, 4) != HDR_MAGIC_HDRS) {
		log_err("bzImage: no \"HdrS\" setup header magic at 0x202");
		return -ENOEXEC;
	}
	info->version = (uint16_t)get_le(p, HDR_VERSION, 2);
	if (info->version < BZIMAGE_MIN_PROTOCOL) {
		log_err("bzImage: protocol %u.%02u too old, need %u.%02u",
			info->version >> 8, info->version & 0xff,
			BZIMAGE_MIN_PROTOCOL >> 8, BZIMAGE_MIN_PROTOCOL & 0xff);
		return -EPROTONOSUPPORT;
	}
	/* The header ends where the short jump at 0x200 lands. */
	info->hdr_end = HDR_MAGIC + p[HDR_JUMP + 1];
	if (info->hdr_end < HDR_END_2_12 || info->hdr_end > BP_HDR_END) {
		log_err("bzImage: setup header ends at 0x%zx, expected 0x%x..0x%x",
			info->hdr_end, HDR_END_2_12, BP_HDR_END);
		return -EBADMSG;
	}
	if (len < info->hdr_end) {
		log_err("bzImage: file of %zu bytes ends inside the setup header",
			len);
		return -ENODATA;
	}
	return 0;
}

/* Sizes: setup sectors and syssize must lie inside the file. */
static int bz_parse_sizes(const uint8_t *p, size_t len, struct bz_info *info)
{
	unsigned int sects = p[HDR_SETUP_SECTS];

	if (!sects)
		sects = SETUP_SECTS_DEFAULT;
	info->setup_size = (sects + 1) * SECTOR_SIZE;
	info->kernel_size = get_le(p, HDR_SYSSIZE, 4) * 16;
	/* Signed images carry extra bytes after the kernel; fewer is wrong. */
	if (len < info->setup_size ||
	    info->kernel_size > len - info->setup_size) {
		log_err("bzImage: truncated: %zu setup + %llu kernel bytes, file has %zu",
			info->setup_size, (unsigned long long)info->kernel_size,
			len);
		return -ENODATA;
	}
	if (info->kernel_size <= ENTRY_64_OFFSET) {
		log_err("bzImage: protected-mode kernel of %llu bytes is too small for the 64-bit entry at 0x%x",
			(unsigned long long)info->kernel_size, ENTRY_64_OFFSET);
		return -EBADMSG;
	}
	return 0;
}

/* The fields that decide placement, checked for sense. */
static int bz_parse_fields(const uint8_t *p, struct bz_info *info)
{
	uint32_t align;

	if (!(get_le(p, HDR_XLOADFLAGS, 2) & XLF_KERNEL_64)) {
		log_err("bzImage: no 64-bit entry point (xloadflags lacks XLF_KERNEL_64)");
		return -ENOTSUP;
	}
	info->initrd_addr_max = (uint32_t)get_le(p, HDR_INITRD_ADDR_MAX, 4);
	info->kernel_alignment = (uint32_t)get_le(p, HDR_KERNEL_ALIGNMENT, 4);
	info->relocatable = p[HDR_RELOCATABLE] != 0;
	info->cmdline_size = (uint32_t)get_le(p, HDR_CMDLINE_SIZE, 4);
	info->pref_address = get_le(p, HDR_PREF_ADDRESS, 8);
	info->init_size = (uint32_t)get_le(p, HDR_INIT_SIZE, 4);
	align = info->kernel_alignment;
	if (info->relocatable && (align < PAGE_SIZE || (align & (align - 1)))) {
		log_err("bzImage: kernel_alignment 0x%x is not a power of two >= 4 KiB",
			align);
		return -EBADMSG;
	}
	if (info->init_size < info->kernel_size) {
		log_err("bzImage: init_size 0x%x is smaller than the kernel (0x%llx bytes)",
			info->init_size, (unsigned long long)info->kernel_size);
		return -EBADMSG;
	}
	return 0;
}

static int bz_parse(const uint8_t *p, size_t len, struct bz_info *info)
{
	int rc;

	memset(info, 0, sizeof(*info));
	rc = bz_parse_magic(p, len, info);
	if (!rc)
		rc = bz_parse_sizes(p, len, info);
	if (!rc)
		rc = bz_parse_fields(p, info);
	return rc;
}

static bool bz_fits(uint64_t addr, uint64_t size, uint64_t limit)
{
	return addr <= limit && size <= limit - addr;
}

/*
 * The 64-bit entry code moves the compressed kernel up and decompresses
 * it in [run, run + init_size), where run is the load address rounded up
 * to kernel_alignment but never below LOAD_PHYSICAL_ADDR (= pref_address);
 * a non-relocatable kernel runs at pref_address. Both the copy as loaded
 * and that range must be RAM, and the initrd must stay above both.
 */
static int bz_place_kernel(const struct guest_mem *mem,
			   const struct bz_info *info, struct bz_placement *pl)
{
	uint64_t low_end = mem->regions[0].size;
	uint64_t need = MAX(info->kernel_size, (uint64_t)info->init_size);
	uint64_t pref = info->pref_address;
	uint64_t run;

	pl->load = LAYOUT_HIGH_MEM;
	if (info->relocatable && pref >= LAYOUT_HIGH_MEM &&
	    IS_ALIGNED(pref, info->kernel_alignment) &&
	    bz_fits(pref, need, low_end))
		pl->load = pref;
	run = pl->load;
	if (info->relocatable)
		run = ALIGN_UP(run, (uint64_t)info->kernel_alignment);
	run = MAX(run, pref);
	if (!bz_fits(pl->load, info->kernel_size, low_end) ||
	    !bz_fits(run, info->init_size, low_end)) {
		log_err("bzImage: kernel needs 0x%x bytes at 0x%llx but low RAM ends at 0x%llx",
			info->init_size, (unsigned long long)run,
			(unsigned long long)low_end);
		return -EFBIG;
	}
	pl->end = MAX(pl->load + info->kernel_size, run + info->init_size);
	return 0;
}

/* Page-aligned at the top of low RAM, under initrd_addr_max. */
static int bz_place_initrd(const struct guest_mem *mem,
			   const struct bz_info *info, size_t initrd_len,
			   struct bz_placement *pl)
{
	uint64_t limit =
		MIN(mem->regions[0].size, (uint64_t)info->initrd_addr_max + 1);
	uint64_t floor = ALIGN_UP(pl->end, PAGE_SIZE);
	uint64_t addr;

	pl->initrd = 0;
	if (!initrd_len)
		return 0;
	addr = initrd_len <= limit ? (limit - initrd_len) & ~(PAGE_SIZE - 1) :
				     0;
	if (addr < floor) {
		log_err("bzImage: initrd of %zu bytes does not fit between the kernel end 0x%llx and 0x%llx",
			initrd_len, (unsigned long long)floor,
			(unsigned long long)limit);
		return -ENOSPC;
	}
	pl->initrd = addr;
	return 0;
}

static int bz_check_cmdline(const struct bz_info *info, const char *cmdline)
{
	size_t n = strlen(cmdline);

	if (n > info->cmdline_size || n + 1 > LAYOUT_CMDLINE_MAX) {
		log_err("bzImage: command line of %zu bytes is longer than the kernel's limit %u",
			n,
			(unsigned int)MIN((uint64_t)info->cmdline_size,
					  LAYOUT_CMDLINE_MAX - 1));
		return -E2BIG;
	}
	return 0;
}

static int bz_fill_e820(const struct guest_mem *mem, uint8_t *bp)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	unsigned int nr, i;
	int rc;

	_Static_assert(E820_MAX_ENTRIES <= BP_E820_MAX, "e820 table size");
	rc = e820_build(mem, map, E820_MAX_ENTRIES, &nr);
	if (rc) {
		log_err("bzImage: cannot build the e820 map: %s",
			strerror(-rc));
		return rc;
	}
	bp[BP_E820_ENTRIES] = (uint8_t)nr;
	for (i = 0; i < nr; i++) {
		size_t off = BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;

		put_le(bp, off, map[i].addr, 8);
		put_le(bp, off + 8, map[i].size, 8);
		put_le(bp, off + 16, map[i].type, 4);
	}
	return 0;
}

/* boot_params: the image's setup header plus what the loader owns. */
static int bz_build_zero_page(uint8_t bp[BP_SIZE], const struct guest_mem *mem,
			      const uint8_t *image, const struct bz_info *info,
			      const struct bz_placement *pl, size_t initrd_len,
			      uint64_t rsdp_gpa)
{
	memset(bp, 0, BP_SIZE);
	memcpy(bp + HDR_START, image + HDR_START, info->hdr_end - HDR_START);
	bp[HDR_TYPE_OF_LOADER] = LOADER_TYPE_UNDEFINED;
	bp[HDR_LOADFLAGS] |= LOADFLAG_CAN_USE_HEAP;
	put_le(bp, HDR_HEAP_END_PTR, HEAP_END_PTR, 2);
	put_le(bp, HDR_CMD_LINE_PTR, LAYOUT_CMDLINE, 4);
	put_le(bp, HDR_RAMDISK_IMAGE, pl->initrd, 4);
	put_le(bp, HDR_RAMDISK_SIZE, initrd_len, 4);
	/* A loader-owned pointer: never pass on what the file says. */
	put_le(bp, HDR_SETUP_DATA, 0, 8);
	/* Protocol 2.14 introduced the field (boot_params, not the header). */
	if (info->version >= 0x020e)
		put_le(bp, BP_ACPI_RSDP_ADDR, rsdp_gpa, 8);
	return bz_fill_e820(mem, bp);
}

/* PML4[0] -> PDPT, PDPT[0..3] -> 4 PDs of 2 MiB pages: 0..4 GiB 1:1. */
static int bz_write_page_tables(struct guest_mem *mem)
{
	uint64_t page[PT_ENTRIES];
	unsigned int i, j;
	int rc;

	memset(page, 0, sizeof(page));
	page[0] = LAYOUT_BOOT_PDPT | PTE_PRESENT | PTE_RW;
	rc = mem_write(mem, LAYOUT_BOOT_PML4, page, sizeof(page));
	if (rc)
		return rc;
	memset(page, 0, sizeof(page));
	for (i = 0; i < IDENTITY_PDS; i++)
		page[i] = (LAYOUT_BOOT_PD + i * PAGE_SIZE) | PTE_PRESENT |
			  PTE_RW;
	rc = mem_write(mem, LAYOUT_BOOT_PDPT, page, sizeof(page));
	for (i = 0; i < IDENTITY_PDS && !rc; i++) {
		for (j = 0; j < PT_ENTRIES; j++)
			page[j] = ((uint64_t)(i * PT_ENTRIES + j) << 21) |
				  PTE_PRESENT | PTE_RW | PTE_PS;
		rc = mem_write(mem, LAYOUT_BOOT_PD + i * PAGE_SIZE, page,
			       sizeof(page));
	}
	return rc;
}

static int bz_write_gdt(struct guest_mem *mem)
{
	const uint64_t gdt[BZIMAGE_GDT_ENTRIES] = {
		[BZIMAGE_BOOT_CS / 8] = BZIMAGE_GDT_CODE64,
		[BZIMAGE_BOOT_DS / 8] = BZIMAGE_GDT_DATA,
	};

	return mem_write(mem, LAYOUT_BOOT_GDT, gdt, sizeof(gdt));
}

/* Everything that goes into guest RAM, in one straight line. */
static int bz_write_all(struct guest_mem *mem, const uint8_t *image,
			const struct bz_info *info,
			const struct bz_placement *pl, const char *cmdline,
			const void *initrd, size_t initrd_len,
			const uint8_t *zero_page)
{
	int rc;

	rc = mem_write(mem, pl->load, image + info->setup_size,
		       info->kernel_size);
	if (!rc && initrd_len)
		rc = mem_write(mem, pl->initrd, initrd, initrd_len);
	if (!rc)
		rc = mem_write(mem, LAYOUT_CMDLINE, cmdline,
			       strlen(cmdline) + 1);
	if (!rc)
		rc = mem_write(mem, LAYOUT_ZERO_PAGE, zero_page, BP_SIZE);
	if (!rc)
		rc = bz_write_page_tables(mem);
	if (!rc)
		rc = bz_write_gdt(mem);
	if (rc)
		log_err("bzImage: cannot write the boot structures into guest RAM: %s",
			strerror(-rc));
	return rc;
}

int bzimage_load(struct guest_mem *mem, const void *image, size_t len,
		 const char *cmdline, const void *initrd, size_t initrd_len,
		 uint64_t rsdp_gpa, struct boot_entry *entry_out)
{
	uint8_t zero_page[BP_SIZE];
	struct bz_placement pl;
	struct bz_info info;
	int rc;

	if (!image || (initrd_len && !initrd)) {
		log_err("bzImage: no data for the kernel or the %zu-byte initrd",
			initrd_len);
		return -EINVAL;
	}
	if (!mem->nr_regions || mem->regions[0].gpa != 0) {
		log_err("bzImage: guest RAM does not start at address 0");
		return -EINVAL;
	}
	if (!cmdline)
		cmdline = "";
	rc = bz_parse(image, len, &info);
	if (!rc)
		rc = bz_check_cmdline(&info, cmdline);
	if (!rc)
		rc = bz_place_kernel(mem, &info, &pl);
	if (!rc)
		rc = bz_place_initrd(mem, &info, initrd_len, &pl);
	if (!rc)
		rc = bz_build_zero_page(zero_page, mem, image, &info, &pl,
					initrd_len, rsdp_gpa);
	if (!rc)
		rc = bz_write_all(mem, image, &info, &pl, cmdline, initrd,
				  initrd_len, zero_page);
	if (rc)
		return rc;
	*entry_out = (struct boot_entry){
		.mode = BOOT_LINUX64,
		.rip = pl.load + ENTRY_64_OFFSET,
		.arg = LAYOUT_ZERO_PAGE,
	};
	log_debug(
		"bzImage: protocol %u.%02u, kernel at 0x%llx, initrd at 0x%llx (%zu bytes)",
		info.version >> 8, info.version & 0xff,
		(unsigned long long)pl.load, (unsigned long long)pl.initrd,
		initrd_len);
	return 0;
}
