/*
 * Guest RAM in a memfd, its KVM memory slots and its dirty log.
 *
 * The memfd is mapped once, contiguously, in RAM order; KVM sees one slot
 * per region (low RAM below the MMIO hole, high RAM from 4 GiB). Dirty
 * tracking merges two sources: KVM's per-slot dirty bitmap (guest writes)
 * and vmm_dirty (writes the VMM itself made through mem_write()).
 */
#include "vmm/memory.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/x86/layout.h"

void mem_plan(uint64_t size, struct mem_region regions_out[2],
	      unsigned int *nr_out)
{
	uint64_t low = ram_layout_low_bytes(size);

	regions_out[0] = (struct mem_region){ .gpa = 0, .size = low };
	*nr_out = 1;
	if (size > low) {
		regions_out[1] = (struct mem_region){
			.gpa = LAYOUT_MMIO_HOLE_END,
			.size = size - low,
			.offset = low,
		};
		*nr_out = 2;
	}
}

int mem_init(struct guest_mem *mem, uint64_t size)
{
	return mem_init_backed(mem, size, MEM_BACKING_THP);
}

int mem_init_backed(struct guest_mem *mem, uint64_t size,
		    enum mem_backing backing)
{
	int rc;

	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
	mem->vm_fd = -1;
	mem->host = MAP_FAILED;
	mem->backing = backing;
	if (!size || !IS_ALIGNED(size, 2 * MIB))
		return -EINVAL;
	mem->size = size;
	mem_plan(size, mem->regions, &mem->nr_regions);

	rc = mem_backing_open(mem);
	if (rc < 0)
		goto err;
	mem->memfd = rc;
	if (ftruncate(mem->memfd, size) < 0)
		goto err_errno;
	rc = mem_backing_map(mem);
	if (rc)
		goto err;
	/* Guest RAM is big and not ours to dump. */
	madvise(mem->host, size, MADV_DONTDUMP);
	rc = bitmap_init(&mem->vmm_dirty, size >> PAGE_SHIFT);
	if (rc)
		goto err;
	return 0;
err_errno:
	rc = -errno;
err:
	mem_destroy(mem);
	return rc;
}

void mem_destroy(struct guest_mem *mem)
{
	if (mem->host && mem->host != MAP_FAILED)
		munmap(mem->host, mem->size);
	mem->host = NULL;
	if (mem->memfd >= 0)
		close(mem->memfd);
	mem->memfd = -1;
	bitmap_destroy(&mem->vmm_dirty);
	mem->vm_fd = -1;
}

int mem_set_slot(struct guest_mem *mem, unsigned int slot, uint32_t flags)
{
	const struct mem_region *r = &mem->regions[slot];
	struct kvm_userspace_memory_region region = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = r->gpa,
		.memory_size = r->size,
		.userspace_addr = (uint64_t)(uintptr_t)(mem->host + r->offset),
	};

	if (ioctl(mem->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return -errno;
	return 0;
}

int mem_register(struct guest_mem *mem, int vm_fd)
{
	unsigned int i;
	int rc;

	mem->vm_fd = vm_fd;
	for (i = 0; i < mem->nr_regions; i++) {
		rc = mem_set_slot(mem, i, 0);
		if (rc) {
			log_err("cannot register guest RAM slot %u: %s", i,
				strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static const struct mem_region *mem_find(const struct guest_mem *mem,
					 uint64_t gpa, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < mem->nr_regions; i++) {
		const struct mem_region *r = &mem->regions[i];

		if (gpa >= r->gpa && len <= r->size &&
		    gpa - r->gpa <= r->size - len)
			return r;
	}
	return NULL;
}

void *mem_gpa_to_hva(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	const struct mem_region *r = mem_find(mem, gpa, len);

	return r ? mem->host + r->offset + (gpa - r->gpa) : NULL;
}

bool mem_gpa_is_ram(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	return mem_find(mem, gpa, len) != NULL;
}

uint64_t mem_pfn_limit(const struct guest_mem *mem)
{
	const struct mem_region *r = &mem->regions[mem->nr_regions - 1];

	return (r->gpa + r->size) >> PAGE_SHIFT;
}

int64_t mem_pfn_to_index(const struct guest_mem *mem, uint64_t pfn)
{
	const struct mem_region *r;

	if (pfn > (UINT64_MAX >> PAGE_SHIFT))
		return -1;
	r = mem_find(mem, pfn << PAGE_SHIFT, PAGE_SIZE);
	if (!r)
		return -1;
	return (int64_t)((r->offset + ((pfn << PAGE_SHIFT) - r->gpa)) >>
			 PAGE_SHIFT);
}

uint64_t mem_index_to_pfn(const struct guest_mem *mem, uint64_t index)
{
	uint64_t off = index << PAGE_SHIFT;
	unsigned int i;

	for (i = 0; i < mem->nr_regions; i++) {
		const struct mem_region *r = &mem->regions[i];

		if (off >= r->offset && off - r->offset < r->size)
			return (r->gpa + (off - r->offset)) >> PAGE_SHIFT;
	}
	return UINT64_MAX;
}

void mem_mark_dirty(struct guest_mem *mem, const void *hva, uint64_t len)
{
	uint64_t off = (uint64_t)((const uint8_t *)hva - mem->host), i;

	if (!len || off >= mem->size || len > mem->size - off)
		return;
	for (i = off >> PAGE_SHIFT; i <= (off + len - 1) >> PAGE_SHIFT; i++)
		__atomic_fetch_or(&mem->vmm_dirty.words[i / 64],
				  1ULL << (i % 64), __ATOMIC_RELEASE);
}

int mem_store(struct guest_mem *mem, uint64_t off, const void *buf,
	      uint64_t len)
{
	ssize_t r;

	if (off > mem->size || len > mem->size - off)
		return -EFAULT;
	if (mem->hugetlb) {
		memcpy(mem->host + off, buf, len);
		return 0;
	}
	while (len) {
		r = pwrite(mem->memfd, buf, len, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		buf = (const uint8_t *)buf + r;
		off += r;
		len -= r;
	}
	return 0;
}

int mem_write(struct guest_mem *mem, uint64_t gpa, const void *buf,
	      uint64_t len)
{
	uint8_t *dst = mem_gpa_to_hva(mem, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, buf, len);
	mem_mark_dirty(mem, dst, len);
	return 0;
}
