/*
 * The format's place in struct disk: opening a qcow2 image read-only to
 * learn its size, reading its metadata for good once the image lock is
 * held (a migration's destination must not trust tables the source was
 * still changing), giving back reserved clusters before the lock goes;
 * and what issue 15 builds on: creating images, an overlay on an open
 * disk (disk_snapshot), what a range is (disk_block_status) and the
 * dirty bitmap.
 */
#include "storage/internal.h"
#include "storage/qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

const char *disk_format_name(enum disk_format f)
{
	return f == DISK_FORMAT_QCOW2 ? "qcow2" : "raw";
}

static int open_q(struct disk *d, bool readonly, struct qcow2 **q_out,
		  char *why, size_t whylen)
{
	struct qcow2_open_args qa = {
		.fd = d->fd,
		.path = d->path,
		.label = d->label,
		.readonly = readonly,
		.direct = d->info.direct,
	};

	return qcow2_open(&qa, q_out, why, whylen);
}

/* Read-only until the lock is held: nothing is written before it. */
int disk_format_open(struct disk *d, const struct disk_open_args *a, char *why,
		     size_t whylen)
{
	(void)a;
	d->pool.max = DISK_POOL_THREADS_MAX; /* qcow2 requests run there */
	return open_q(d, true, &d->qcow2, why, whylen);
}

int disk_format_relock(struct disk *d, char *why, size_t whylen)
{
	struct qcow2 *q = NULL;
	int rc;

	rc = open_q(d, d->want_readonly, &q, why, whylen);
	if (rc)
		return rc;
	if (q->size < d->info.size) {
		qcow2_close(q);
		return disk_why(
			why, whylen, d->label, -EIO,
			"%s: its virtual size shrank while it was not locked",
			d->path);
	}
	qcow2_close(d->qcow2);
	d->qcow2 = q;
	return 0;
}

void disk_format_unlock(struct disk *d)
{
	if (d->qcow2 && d->locked && !d->qcow2->readonly) {
		pthread_mutex_lock(&d->qcow2->lock);
		qcow2_unreserve(d->qcow2);
		pthread_mutex_unlock(&d->qcow2->lock);
	}
}

void disk_format_close(struct disk *d)
{
	disk_format_unlock(d);
	/* Unreserved already; closing must not write without the lock. */
	if (d->qcow2 && !d->locked)
		d->qcow2->readonly = true;
	qcow2_close(d->qcow2);
	d->qcow2 = NULL;
}

/* ---- what a range is ---- */

static int raw_status(struct disk *d, uint64_t off, uint64_t len,
		      enum disk_extent *kind, uint64_t *n)
{
	off_t data = lseek(d->fd, off, SEEK_DATA), hole;

	*kind = DISK_EXTENT_DATA;
	*n = len;
	if (d->info.is_blockdev)
		return 0;
	if (data < 0 && errno == ENXIO) { /* a hole up to the end */
		*kind = DISK_EXTENT_ZERO;
		return 0;
	}
	if (data < 0)
		return 0; /* no SEEK_DATA here: all data */
	if ((uint64_t)data > off) {
		*kind = DISK_EXTENT_ZERO;
		*n = MIN(len, (uint64_t)data - off);
		return 0;
	}
	hole = lseek(d->fd, off, SEEK_HOLE);
	if (hole > (off_t)off)
		*n = MIN(len, (uint64_t)hole - off);
	return 0;
}

int disk_block_status(struct disk *d, uint64_t offset, uint64_t len,
		      enum disk_extent *kind_out, uint64_t *n_out)
{
	static const enum disk_extent map[] = {
		[QCOW2_KIND_DATA] = DISK_EXTENT_DATA,
		[QCOW2_KIND_ZERO] = DISK_EXTENT_ZERO,
		[QCOW2_KIND_UNALLOC] = DISK_EXTENT_BACKING,
		[QCOW2_KIND_COMPRESSED] = DISK_EXTENT_DATA,
	};
	enum qcow2_kind k;
	int rc;

	if (!len || offset >= d->info.size || len > d->info.size - offset)
		return -EINVAL;
	if (!d->qcow2)
		return raw_status(d, offset, len, kind_out, n_out);
	rc = qcow2_status(d->qcow2, offset, len, &k, n_out);
	if (rc)
		return rc;
	*kind_out = map[k];
	/* Unallocated without a backing file reads as zeroes. */
	if (k == QCOW2_KIND_UNALLOC && !d->qcow2->backing)
		*kind_out = DISK_EXTENT_ZERO;
	return 0;
}

/* ---- creating ---- */

int disk_create(const struct disk_create_args *a, char *why, size_t whylen)
{
	struct qcow2_create_args qa = {
		.path = a->path,
		.size = a->size,
		.backing = a->backing,
	};
	unsigned int bits = 0;

	if (a->cluster_size) {
		while ((1u << bits) < a->cluster_size && bits < 31)
			bits++;
		if ((1u << bits) != a->cluster_size)
			return disk_why(why, whylen, a->path, -EINVAL,
					"cluster size %u is not a power of 2",
					a->cluster_size);
	}
	qa.cluster_bits = bits;
	if (a->backing && a->backing_format_given)
		qa.backing_fmt = disk_format_name(a->backing_format);
	return qcow2_create(&qa, why, whylen);
}

/* ---- an overlay on an open disk ---- */

/*
 * The old top becomes the overlay's backing image: pending metadata
 * written and reservations given back while it is still write-locked,
 * then the lock downgraded (ours to read, nobody's to write).
 */
static int base_of(struct disk *d, struct qcow2 **b_out)
{
	struct flock rd = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	struct qcow2 *b = d->qcow2;

	if (b) {
		pthread_mutex_lock(&b->lock);
		qcow2_unreserve(b);
		pthread_mutex_unlock(&b->lock);
	} else {
		b = calloc(1, sizeof(*b));
		if (!b)
			return -ENOMEM;
		b->meta_fd = d->fd;
		b->raw = true;
		b->size = d->info.size;
		snprintf(b->path, sizeof(b->path), "%s", d->path);
		snprintf(b->label, sizeof(b->label), "%s", d->label);
	}
	if (fcntl(d->fd, F_OFD_SETLK, &rd)) {
		if (b != d->qcow2)
			free(b);
		return -errno;
	}
	b->fd = d->fd;
	b->readonly = b->own_fd = true;
	*b_out = b;
	return 0;
}

/* From now on d's requests go to the overlay q on fd. */
static void become_overlay(struct disk *d, int fd, struct qcow2 *q,
			   const char *path)
{
	struct stat st;

	d->qcow2 = q;
	d->fd = fd;
	if (!fstat(fd, &st)) {
		d->dev = st.st_dev;
		d->ino = st.st_ino;
	}
	d->info.format = DISK_FORMAT_QCOW2;
	d->pool.max = DISK_POOL_THREADS_MAX;
	log_info("disk %s: %s is the new top image over %s", d->label, path,
		 d->path);
	snprintf(d->path, sizeof(d->path), "%s", path);
}

/* Open the new overlay read-write, write-locked, without its backing. */
static int open_overlay(struct disk *d, const char *path, int *fd_out,
			struct qcow2 **q_out, char *why, size_t whylen)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	struct qcow2_open_args qa = { .path = path,
				      .label = d->label,
				      .direct = d->info.direct,
				      .no_backing = true };
	int fd, rc;

	fd = open(path, O_RDWR | O_CLOEXEC | (d->info.direct ? O_DIRECT : 0));
	if (fd < 0)
		return disk_why(why, whylen, d->label, -errno,
				"cannot open the overlay %s: %s", path,
				strerror(errno));
	if (fcntl(fd, F_OFD_SETLK, &fl)) {
		rc = disk_why(why, whylen, d->label, -errno,
			      "cannot lock the overlay %s: %s", path,
			      strerror(errno));
		close(fd);
		return rc;
	}
	qa.fd = fd;
	rc = qcow2_open(&qa, q_out, why, whylen);
	if (rc) {
		close(fd);
		return rc;
	}
	*fd_out = fd;
	return 0;
}

int disk_snapshot(struct disk *d, const char *path, char *why, size_t whylen)
{
	struct disk_create_args ca = {
		.path = path,
		.size = d->info.size,
		.backing = d->path,
		.backing_format = d->qcow2 ? DISK_FORMAT_QCOW2 :
					     DISK_FORMAT_RAW,
		.backing_format_given = true,
	};
	struct qcow2 *q = NULL, *b = NULL;
	bool created = false;
	int fd = -1, rc;

	if (d->info.readonly || d->info.is_blockdev || !d->locked ||
	    d->path[0] != '/')
		return disk_why(
			why, whylen, d->label, -EINVAL,
			"an overlay needs a locked, read-write image file with an absolute path");
	rc = disk_create(&ca, why, whylen);
	created = !rc;
	if (!rc)
		rc = open_overlay(d, path, &fd, &q, why, whylen);
	if (!rc && base_of(d, &b))
		rc = disk_why(why, whylen, d->label, -EIO,
			      "cannot make %s the overlay's backing file",
			      d->path);
	if (rc) {
		qcow2_close(q);
		if (fd >= 0)
			close(fd);
		if (created)
			unlink(path);
		return rc;
	}
	q->backing = b;
	become_overlay(d, fd, q, path);
	return 0;
}

/* ---- dirty bitmap ---- */

int disk_dirty_start(struct disk *d, uint64_t granularity)
{
	unsigned int shift = 9;
	size_t words;

	while ((1ull << shift) < granularity && shift < 40)
		shift++;
	if (granularity < 512 || (1ull << shift) != granularity)
		return -EINVAL;
	words = (((d->info.size + granularity - 1) >> shift) + 63) / 64;
	if (d->dirty && (d->dirty_shift != shift || d->dirty_words != words))
		return -EBUSY; /* kept while open: a queue may be marking */
	if (!d->dirty) {
		d->dirty = calloc(words, 8);
		if (!d->dirty)
			return -ENOMEM;
		d->dirty_words = words;
		d->dirty_shift = shift;
	}
	for (size_t i = 0; i < words; i++)
		__atomic_store_n(&d->dirty[i], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&d->dirty_on, true, __ATOMIC_RELEASE);
	return 0;
}

void disk_dirty_stop(struct disk *d)
{
	__atomic_store_n(&d->dirty_on, false, __ATOMIC_RELEASE);
}

void disk_dirty_mark(struct disk *d, const struct disk_req *req)
{
	uint64_t first, last, b;

	if (!__atomic_load_n(&d->dirty_on, __ATOMIC_ACQUIRE))
		return;
	first = req->offset >> d->dirty_shift;
	last = (req->offset + req->total - 1) >> d->dirty_shift;
	for (b = first; b <= last && b / 64 < d->dirty_words; b++)
		__atomic_fetch_or(&d->dirty[b / 64], 1ull << (b % 64),
				  __ATOMIC_RELEASE);
}

long disk_dirty_take(struct disk *d, uint64_t *bits, size_t nwords)
{
	size_t i;

	if (!__atomic_load_n(&d->dirty_on, __ATOMIC_ACQUIRE))
		return -EINVAL;
	for (i = 0; i < d->dirty_words && i < nwords; i++)
		bits[i] =
			__atomic_exchange_n(&d->dirty[i], 0, __ATOMIC_ACQ_REL);
	return d->dirty_words;
}
