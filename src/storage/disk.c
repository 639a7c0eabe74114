/*
 * Opening and closing a disk: the image's kind (regular file or block
 * device), its size and block size, direct I/O alignment, the engine,
 * the lock. Every refusal is one line naming the disk.
 */
#include "storage/internal.h"
#include "storage/qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/fs.h>

#include "common/clock.h"
#include "common/log.h"

#define SECTOR 512u

int disk_why(char *why, size_t whylen, const char *label, int rc,
	     const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(why, whylen, "disk %s: ", label);
	if (n < 0 || (size_t)n >= whylen)
		return rc;
	va_start(ap, fmt);
	vsnprintf(why + n, whylen - n, fmt, ap);
	va_end(ap);
	return rc;
}

const char *disk_engine_name(enum disk_engine e)
{
	return e == DISK_ENGINE_URING	? "io_uring" :
	       e == DISK_ENGINE_THREADS ? "threads" :
					  "auto";
}

int disk_engine_parse(const char *value, enum disk_engine *engine_out)
{
	if (!value || !*value || !strcmp(value, "auto"))
		*engine_out = DISK_ENGINE_AUTO;
	else if (!strcmp(value, "io_uring"))
		*engine_out = DISK_ENGINE_URING;
	else if (!strcmp(value, "threads"))
		*engine_out = DISK_ENGINE_THREADS;
	else
		return -EINVAL;
	return 0;
}

/* Can this process set up an io_uring? -errno says why not. */
static int uring_probe(void)
{
	struct io_uring ring;
	int rc = io_uring_queue_init(4, &ring, 0);

	if (rc)
		return rc;
	io_uring_queue_exit(&ring);
	return 0;
}

/* The engine: asked for, else GODWIT_IO_ENGINE, else what works. */
static int pick_engine(const struct disk_open_args *a, enum disk_engine *e,
		       char *why, size_t whylen)
{
	const char *env = getenv("GODWIT_IO_ENGINE");
	bool forced;
	int rc;

	*e = a->engine;
	if (*e == DISK_ENGINE_AUTO && disk_engine_parse(env, e))
		return disk_why(
			why, whylen, a->label, -EINVAL,
			"GODWIT_IO_ENGINE=%s: expected io_uring, threads or auto",
			env);
	if (*e == DISK_ENGINE_THREADS)
		return 0;
	forced = *e == DISK_ENGINE_URING;
	rc = uring_probe();
	if (!rc) {
		*e = DISK_ENGINE_URING;
		return 0;
	}
	if (forced)
		return disk_why(
			why, whylen, a->label, rc,
			"io_uring was asked for but cannot be set up here: %s",
			strerror(-rc));
	log_info(
		"disk %s: io_uring is not available (%s): using the thread pool",
		a->label, strerror(-rc));
	*e = DISK_ENGINE_THREADS;
	return 0;
}

/* Why open() failed, in the user's terms. */
static int open_failed(const struct disk_open_args *a, int err, char *why,
		       size_t whylen)
{
	if (err == ENOENT)
		return disk_why(why, whylen, a->label, -err,
				"%s does not exist", a->path);
	if (!a->readonly && (err == EACCES || err == EPERM || err == EROFS))
		return disk_why(
			why, whylen, a->label, -err,
			"%s is read-only (%s): use access=ro to give it to the guest read-only",
			a->path, strerror(err));
	if (err == EINVAL && a->direct)
		return disk_why(
			why, whylen, a->label, -err,
			"%s: its file system does not support direct I/O (drop direct-io)",
			a->path);
	return disk_why(why, whylen, a->label, -err, "cannot open %s: %s",
			a->path, strerror(err));
}

static bool blockdev_is_readonly(const struct disk *d)
{
	int ro = 0;

	return ioctl(d->fd, BLKROGET, &ro) == 0 && ro;
}

/* open() of the image; the lock comes after (lock.c). */
static int open_image(const struct disk_open_args *a, struct disk *d, char *why,
		      size_t whylen)
{
	int flags = O_CLOEXEC | (a->readonly ? O_RDONLY : O_RDWR);
	struct stat st;

	if (stat(a->path, &st))
		return open_failed(a, errno, why, whylen);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return disk_why(why, whylen, a->label, -EINVAL,
				"%s is not a regular file or a block device",
				a->path);
	if (a->direct)
		flags |= O_DIRECT;
	d->fd = open(a->path, flags);
	if (d->fd < 0)
		return open_failed(a, errno, why, whylen);
	if (fstat(d->fd, &st))
		return disk_why(why, whylen, a->label, -errno, "%s: fstat: %s",
				a->path, strerror(errno));
	d->info.is_blockdev = S_ISBLK(st.st_mode);
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	/* A read-only device opens for writing; its writes would fail. */
	if (d->info.is_blockdev && !a->readonly && blockdev_is_readonly(d))
		return open_failed(a, EACCES, why, whylen);
	return 0;
}

/* The image's size in bytes and the logical block size of a device. */
static int image_size(struct disk *d, const char *label, uint64_t *size,
		      unsigned int *lbs, char *why, size_t whylen)
{
	struct stat st;
	int ss;

	*lbs = SECTOR;
	if (!d->info.is_blockdev) {
		if (fstat(d->fd, &st))
			return disk_why(why, whylen, label, -errno,
					"%s: fstat: %s", d->path,
					strerror(errno));
		*size = st.st_size;
		return 0;
	}
	if (ioctl(d->fd, BLKGETSIZE64, size) || ioctl(d->fd, BLKSSZGET, &ss))
		return disk_why(why, whylen, label, -errno,
				"%s: cannot read the device's size: %s",
				d->path, strerror(errno));
	if (ss >= (int)SECTOR && ss <= 65536 && !(ss & (ss - 1)))
		*lbs = ss;
	return 0;
}

/*
 * Direct I/O alignment from statx (Linux 6.1+); without it, 4 KiB for
 * memory and offsets is safe on every file system and device we know.
 */
static int direct_alignment(struct disk *d, const char *label, char *why,
			    size_t whylen)
{
	unsigned int lbs = d->info.block_size;
	struct statx stx;

	d->info.mem_align = 4096;
	d->info.block_size = MAX(lbs, 4096u);
	if (statx(d->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) ||
	    !(stx.stx_mask & STATX_DIOALIGN))
		return 0;
	if (!stx.stx_dio_offset_align)
		return disk_why(
			why, whylen, label, -EINVAL,
			"%s: its file system does not support direct I/O (drop direct-io)",
			d->path);
	d->info.mem_align = MAX(stx.stx_dio_mem_align, 1u);
	d->info.block_size = MAX(lbs, stx.stx_dio_offset_align);
	return 0;
}

/* Does the block device discard? (sysfs; a partition asks its disk) */
static bool blockdev_discards(const struct disk *d)
{
	static const char *const where[] = { "queue", "../queue" };
	unsigned long long max = 0;
	struct stat st;
	char path[128];
	FILE *f;
	size_t i;

	if (fstat(d->fd, &st))
		return false;
	for (i = 0; i < ARRAY_SIZE(where); i++) {
		snprintf(path, sizeof(path),
			 "/sys/dev/block/%u:%u/%s/discard_max_bytes",
			 major(st.st_rdev), minor(st.st_rdev), where[i]);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fscanf(f, "%llu", &max) != 1)
			max = 0;
		fclose(f);
		return max > 0;
	}
	return false;
}

/* Size, block size and what the disk can do. */
static int probe(struct disk *d, const struct disk_open_args *a, char *why,
		 size_t whylen)
{
	uint64_t size;
	int rc;

	rc = image_size(d, a->label, &size, &d->info.block_size, why, whylen);
	if (!rc && a->direct)
		rc = direct_alignment(d, a->label, why, whylen);
	if (rc)
		return rc;
	if (d->qcow2 && a->direct &&
	    d->qcow2->cluster_size < d->info.block_size)
		return disk_why(
			why, whylen, a->label, -EINVAL,
			"%s: direct I/O needs clusters of at least %u bytes",
			a->path, d->info.block_size);
	if (d->qcow2)
		size = d->qcow2->size; /* what the guest sees: virtual */
	if (!a->direct)
		d->info.mem_align = 1;
	if (a->size && size < a->size)
		return disk_why(
			why, whylen, a->label, -ENOSPC,
			"%s is %" PRIu64
			" bytes, smaller than the disk's configured size of %" PRIu64
			" bytes",
			a->path, size, a->size);
	if (a->size)
		size = a->size;
	if (size < d->info.block_size)
		return disk_why(why, whylen, a->label, -ENOSPC,
				"%s is %" PRIu64
				" bytes, smaller than one %u-byte block",
				a->path, size, d->info.block_size);
	if (size % d->info.block_size)
		log_warn(
			"disk %s: %s is not a whole number of %u-byte blocks: the guest sees %" PRIu64
			" bytes of it",
			a->label, a->path, d->info.block_size,
			size - size % d->info.block_size);
	d->info.size = size - size % d->info.block_size;
	d->info.can_discard = !d->info.is_blockdev || d->qcow2 ||
			      blockdev_discards(d);
	return 0;
}

/* A raw image that starts like a qcow2 one is almost always a mistake. */
static void warn_if_qcow2(const struct disk *d)
{
	unsigned char *buf = NULL;

	if (posix_memalign((void **)&buf, 4096, 4096))
		return;
	if (pread(d->fd, buf, 4096, 0) >= 4 && !memcmp(buf, "QFI\xfb", 4))
		log_warn(
			"disk %s: %s starts like a qcow2 image but is used as raw: the guest sees the qcow2 file's bytes",
			d->label, d->path);
	free(buf);
}

static int disk_init(struct disk *d, const struct disk_open_args *a, char *why,
		     size_t whylen)
{
	int rc;

	if (!a->path || !*a->path)
		return disk_why(why, whylen, a->label, -EINVAL,
				"no image path");
	if (a->size % SECTOR)
		return disk_why(why, whylen, a->label, -EINVAL,
				"size %" PRIu64
				" is not a multiple of 512 bytes",
				a->size);
	snprintf(d->path, sizeof(d->path), "%s", a->path);
	snprintf(d->label, sizeof(d->label), "%s", a->label);
	d->info.readonly = a->readonly;
	d->info.direct = a->direct;
	d->info.format = a->format;
	d->want_readonly = a->readonly;
	rc = pick_engine(a, &d->info.engine, why, whylen);
	/* Next to io_uring the pool only runs the odd blocking ioctl. */
	d->pool.max = d->info.engine == DISK_ENGINE_THREADS ?
			      DISK_POOL_THREADS_MAX :
			      2;
	if (!rc)
		rc = open_image(a, d, why, whylen);
	if (!rc && a->format == DISK_FORMAT_QCOW2)
		rc = disk_format_open(d, a, why, whylen);
	if (!rc)
		rc = probe(d, a, why, whylen);
	if (!rc && a->lock == DISK_LOCK_NOW)
		rc = disk_lock_take(d, why, whylen);
	/* The qcow2 metadata is only read for good under the lock. */
	if (!rc && a->lock == DISK_LOCK_NOW && d->qcow2)
		rc = disk_format_relock(d, why, whylen);
	if (!rc && !d->qcow2)
		warn_if_qcow2(d);
	return rc;
}

int disk_open(const struct disk_open_args *args, struct disk **disk_out,
	      char *why, size_t whylen)
{
	struct disk *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return disk_why(why, whylen, args->label, -ENOMEM,
				"out of memory");
	d->fd = d->claim_fd = -1;
	rc = disk_pool_init(&d->pool);
	if (rc) {
		free(d);
		return disk_why(why, whylen, args->label, rc,
				"cannot set up its threads: %s", strerror(-rc));
	}
	rc = disk_init(d, args, why, whylen);
	if (rc) {
		disk_close(d);
		return rc;
	}
	*disk_out = d;
	return 0;
}

void disk_close(struct disk *d)
{
	if (!d)
		return;
	if (d->queues)
		log_warn("disk %s: closed with %u queues open", d->label,
			 d->queues);
	if (!disk_pool_destroy(&d->pool)) {
		/* Its fd and struct are still in use there. */
		log_warn(
			"disk %s: an I/O thread is stuck in the kernel: left behind",
			d->label);
		return;
	}
	disk_format_close(d);
	disk_lock_release(d);
	if (d->fd >= 0)
		close(d->fd);
	free(d->dirty);
	free(d);
}

const struct disk_info *disk_get_info(const struct disk *d)
{
	return &d->info;
}

int disk_lock(struct disk *d, unsigned int timeout_ms, char *why, size_t whylen)
{
	uint64_t deadline = time_mono_ns() + timeout_ms * NSEC_PER_MSEC;
	bool had = d->locked;
	int rc;

	for (;;) {
		rc = disk_lock_take(d, why, whylen);
		if (!rc && !had && d->qcow2)
			rc = disk_format_relock(d, why, whylen);
		if (rc != -EAGAIN || time_mono_ns() >= deadline)
			return rc;
		usleep(20000);
	}
}

void disk_unlock(struct disk *d)
{
	disk_format_unlock(d);
	disk_lock_release(d);
}

int disk_sync(struct disk *d)
{
	if (d->info.readonly)
		return 0;
	return fdatasync(d->fd) ? -errno : 0;
}
