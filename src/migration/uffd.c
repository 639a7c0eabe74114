/*
 * userfaultfd on guest RAM, by 2 MiB region (uffd.h). A wanted region
 * is written into the RAM file whole (pwrite: the file hands out a huge
 * page for it) and the threads waiting on it are woken; hugetlbfs has no
 * write, so there UFFDIO_COPY places it. A region nobody wants is zero:
 * its holes are allocated (fallocate leaves pages that hold data alone).
 */
#include "migration/uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/why.h"
#include "format/stream_format.h"

#define REGION MEM_REGION_SIZE

/* The syscall, or /dev/userfaultfd where the syscall is not allowed. */
static int uffd_new(void)
{
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK), dev;

	if (fd >= 0 || errno != EPERM)
		return fd >= 0 ? fd : -errno;
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -EPERM;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	close(dev);
	return fd >= 0 ? fd : -errno;
}

static int uffd_setup(struct uffd_ram *u, char *why, size_t whylen)
{
	uint64_t need = u->mem->hugetlb ? UFFD_FEATURE_MISSING_HUGETLBFS :
					  UFFD_FEATURE_MISSING_SHMEM;
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { (uintptr_t)u->mem->host, u->mem->size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (ioctl(u->fd, UFFDIO_API, &api) < 0) {
		return why_set(why, whylen, -errno, "userfaultfd handshake: %s",
			       strerror(errno));
	}
	if (!(api.features & need)) {
		return why_set(
			why, whylen, -EOPNOTSUPP,
			"this kernel's userfaultfd cannot serve %s memory",
			u->mem->hugetlb ? "hugetlbfs" : "shared");
	}
	if (ioctl(u->fd, UFFDIO_REGISTER, &reg) < 0) {
		return why_set(why, whylen, -errno,
			       "userfaultfd on guest RAM: %s", strerror(errno));
	}
	return 0;
}

int uffd_ram_open(struct uffd_ram *u, struct guest_mem *mem, char *why,
		  size_t whylen)
{
	int rc;

	memset(u, 0, sizeof(*u));
	u->mem = mem;
	u->nr_regions = mem->size / REGION;
	u->fd = uffd_new();
	if (u->fd < 0) {
		return why_set(why, whylen, u->fd, "userfaultfd: %s",
			       strerror(-u->fd));
	}
	rc = uffd_setup(u, why, whylen);
	if (!rc && (bitmap_init(&u->wanted, u->nr_regions) ||
		    bitmap_init(&u->loaded, u->nr_regions))) {
		rc = why_set(why, whylen, -ENOMEM, "out of memory");
	}
	if (!rc && mem->hugetlb) {
		u->zeros = calloc(1, REGION);
		rc = u->zeros ? 0 : -ENOMEM;
	}
	if (rc)
		uffd_ram_close(u);
	return rc;
}

int uffd_ram_want(struct uffd_ram *u, uint64_t r)
{
	if (r >= u->nr_regions)
		return -EINVAL;
	if (bitmap_test(&u->wanted, r))
		return 0;
	if (fallocate(u->mem->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      r * REGION, REGION))
		return -errno;
	bitmap_set(&u->wanted, r);
	u->nr_wanted++;
	return 0;
}

static int wake(struct uffd_ram *u, uint64_t r)
{
	struct uffdio_range range = { (uintptr_t)u->mem->host + r * REGION,
				      REGION };

	return ioctl(u->fd, UFFDIO_WAKE, &range) < 0 ? -errno : 0;
}

/* hugetlbfs: copy in and wake; a page already there is not replaced. */
static int copy_in(struct uffd_ram *u, uint64_t r, const void *data)
{
	struct uffdio_copy c = { .dst = (uintptr_t)u->mem->host + r * REGION,
				 .src = (uintptr_t)(data ? data : u->zeros),
				 .len = REGION };

	if (ioctl(u->fd, UFFDIO_COPY, &c) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* A region nobody sends: allocate its holes as zeros, keep the rest. */
static int zero_fill(struct uffd_ram *u, uint64_t r)
{
	if (u->mem->hugetlb)
		return copy_in(u, r, NULL);
	if (fallocate(u->mem->memfd, 0, r * REGION, REGION))
		return -errno;
	return wake(u, r);
}

int uffd_ram_next_fault(struct uffd_ram *u, uint64_t *region_out,
			bool *fetch_out)
{
	struct uffd_msg msg;
	uint64_t off, r;
	ssize_t n;

	do
		n = read(u->fd, &msg, sizeof(msg));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n != sizeof(msg) || msg.event != UFFD_EVENT_PAGEFAULT)
		return -EAGAIN; /* no other event is enabled */
	off = msg.arg.pagefault.address - (uintptr_t)u->mem->host;
	if (off >= u->mem->size)
		return -EFAULT;
	r = off / REGION;
	*region_out = r;
	*fetch_out = !uffd_ram_is_loaded(u, r);
	if (*fetch_out)
		return 0;
	/* Loaded meanwhile (the fault raced with it), or never wanted. */
	return bitmap_test(&u->wanted, r) ? wake(u, r) : zero_fill(u, r);
}

int uffd_ram_place(struct uffd_ram *u, uint64_t r, const void *data)
{
	int rc;

	if (r >= u->nr_regions)
		return -EINVAL;
	if (uffd_ram_is_loaded(u, r))
		return 0;
	if (u->mem->hugetlb)
		rc = copy_in(u, r, data);
	else if (data)
		rc = mem_store(u->mem, r * REGION, data, REGION);
	else
		rc = fallocate(u->mem->memfd, 0, r * REGION, REGION) ? -errno :
								       0;
	if (!rc && !u->mem->hugetlb)
		rc = wake(u, r);
	if (rc)
		return rc;
	bitmap_set(&u->loaded, r);
	u->nr_loaded++;
	return 0;
}

void uffd_ram_close(struct uffd_ram *u)
{
	struct uffdio_range range;

	if (u->fd >= 0 && u->mem) {
		range = (struct uffdio_range){ (uintptr_t)u->mem->host,
					       u->mem->size };
		if (ioctl(u->fd, UFFDIO_UNREGISTER, &range) < 0)
			log_debug("userfaultfd unregister: %s",
				  strerror(errno));
	}
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
	bitmap_destroy(&u->wanted);
	bitmap_destroy(&u->loaded);
	free(u->zeros);
	u->zeros = NULL;
}
