/*
 * Where guest RAM lives, and why it is on huge pages.
 *
 * Measured here (bench/save-restore, "time to 90% speed"): with guest RAM
 * in a plain memfd, shmem hands out 4 KiB pages (shmem THP is "never" on
 * our hosts), so after a restore or a migration every page the guest
 * touches first costs a fault in the VMM's page tables and another in
 * KVM's: a 1 GiB guest sweeping its memory completed no sweep for over a
 * second after a restore, where QEMU (anonymous memory, THP) ran at full
 * speed at once. With 2 MiB pages there are 512 times fewer faults.
 *
 * MEM_BACKING_THP (the default) therefore puts guest RAM in a file of a
 * private tmpfs mounted with huge=always: created with the new mount API
 * (fsopen/fsmount), never attached to any directory, gone when the file
 * closes, so no system setting changes. Writes (a restore's pwrite) and
 * faults both allocate 2 MiB pages there. Creating a mount needs
 * CAP_SYS_ADMIN: without it, a memfd with MADV_HUGEPAGE (which gets huge
 * pages only where /sys/kernel/mm/transparent_hugepage/shmem_enabled
 * allows). MEM_BACKING_HUGETLB uses hugetlbfs pages reserved by the
 * administrator (vm.nr_hugepages); MEM_BACKING_SMALL is the plain memfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/memfd.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/memory.h"

/* A private tmpfs of size bytes (and a page to spare) with huge=always. */
static int huge_tmpfs_file(uint64_t size)
{
	char bytes[32];
	int fs, mnt = -1, fd = -1;

	fs = syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
	if (fs < 0)
		return -errno;
	snprintf(bytes, sizeof(bytes), "%llu",
		 (unsigned long long)(size + MEM_REGION_SIZE));
	if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "huge", "always",
		    0) ||
	    syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "size", bytes, 0) ||
	    syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0))
		goto out;
	mnt = syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
	if (mnt < 0)
		goto out;
	/*
	 * Named, then unlinked: /proc/PID/maps shows "/godwit-ram
	 * (deleted)". The open file keeps the detached mount alive, and
	 * nothing else does.
	 */
	fd = openat(mnt, "godwit-ram", O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC,
		    0600);
	if (fd >= 0)
		unlinkat(mnt, "godwit-ram", 0);
out:
	if (fd < 0)
		fd = -errno;
	if (mnt >= 0)
		close(mnt);
	close(fs);
	return fd;
}

static int small_memfd(void)
{
	int fd = memfd_create("godwit-ram", MFD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static int thp_file(struct guest_mem *mem)
{
	int fd = huge_tmpfs_file(mem->size);

	if (fd >= 0) {
		mem->huge_pages = true;
		return fd;
	}
	log_debug(
		"guest RAM: no private huge-page tmpfs (%s); a memfd, on huge pages only if shmem_enabled allows",
		strerror(-fd));
	return small_memfd();
}

static int hugetlb_file(struct guest_mem *mem)
{
	int fd = memfd_create("godwit-ram",
			      MFD_CLOEXEC | MFD_HUGETLB | MFD_HUGE_2MB);

	if (fd < 0)
		return -errno;
	mem->huge_pages = true;
	mem->hugetlb = true;
	return fd;
}

int mem_backing_open(struct guest_mem *mem)
{
	switch (mem->backing) {
	case MEM_BACKING_HUGETLB:
		return hugetlb_file(mem);
	case MEM_BACKING_SMALL:
		return small_memfd();
	default:
		return thp_file(mem);
	}
}

/*
 * Map the file at a 2 MiB-aligned address: only there can the kernel (and
 * KVM after it) map a 2 MiB page with one entry. Both RAM regions start
 * at 2 MiB multiples of the file and of guest physical memory.
 */
int mem_backing_map(struct guest_mem *mem)
{
	uint64_t span = mem->size + MEM_REGION_SIZE;
	uint8_t *r, *a;
	void *p;

	r = mmap(NULL, span, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		return -errno;
	a = (uint8_t *)ALIGN_UP((uintptr_t)r, (uintptr_t)MEM_REGION_SIZE);
	if (a > r)
		munmap(r, a - r);
	munmap(a + mem->size, r + span - (a + mem->size));
	/* hugetlbfs reserves the pages here: too few fail now, not later. */
	p = mmap(a, mem->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 mem->memfd, 0);
	if (p == MAP_FAILED) {
		munmap(a, mem->size);
		return -errno;
	}
	mem->host = p;
	if (mem->backing == MEM_BACKING_THP)
		madvise(mem->host, mem->size, MADV_HUGEPAGE);
	return 0;
}

const char *mem_backing_name(enum mem_backing b)
{
	static const char *const names[] = { "thp", "small", "hugepages" };

	return (unsigned int)b < 3 ? names[b] : "unknown";
}
