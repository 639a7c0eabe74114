/*
 * Opening a qcow2 image: the header and its extensions checked field by
 * field (qcow2_header_parse, pure and fuzzed), the refusals of what this
 * driver does not do, and the backing chain (each image opened
 * read-only under an OFD read lock, loops and depth refused).
 */
#include "storage/qcow2.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include "common/log.h"
#include "storage/internal.h"

static uint32_t be32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static uint64_t be64_at(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

/* Parsing state: where errors go. */
struct hp {
	const char *label, *path;
	char *why;
	size_t whylen;
};

#define HP_ERR(p, rc, fmt, ...)                                                \
	disk_why((p)->why, (p)->whylen, (p)->label, rc, "%s: " fmt, (p)->path, \
		 ##__VA_ARGS__)

static void header_fields(const uint8_t *b, struct qcow2_header *h)
{
	memset(h, 0, sizeof(*h));
	h->version = be32_at(b + 4);
	h->backing_offset = be64_at(b + 8);
	h->backing_len = be32_at(b + 16);
	h->cluster_bits = be32_at(b + 20);
	h->size = be64_at(b + 24);
	h->crypt_method = be32_at(b + 32);
	h->l1_size = be32_at(b + 36);
	h->l1_offset = be64_at(b + 40);
	h->rt_offset = be64_at(b + 48);
	h->rt_clusters = be32_at(b + 56);
	h->nb_snapshots = be32_at(b + 60);
	h->incompat = be64_at(b + 72);
	h->compat = be64_at(b + 80);
	h->autoclear = be64_at(b + 88);
	h->refcount_order = be32_at(b + 96);
	h->header_length = be32_at(b + 100);
}

/* Incompatible features this driver cannot honour, named. */
static int check_incompat(const struct hp *p, const struct qcow2_header *h)
{
	uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT |
			 QCOW2_INCOMPAT_DATA_FILE | QCOW2_INCOMPAT_COMPRESSION |
			 QCOW2_INCOMPAT_EXTL2;

	if (h->incompat & ~known)
		return HP_ERR(p, -ENOTSUP,
			      "unknown incompatible feature bits 0x%" PRIx64
			      " (incompatible_features 0x%" PRIx64
			      "): written by a newer qcow2 driver",
			      h->incompat & ~known, h->incompat);
	if (h->incompat & QCOW2_INCOMPAT_DATA_FILE)
		return HP_ERR(
			p, -ENOTSUP,
			"external data files (incompatible feature bit 2) are not supported");
	if (h->incompat & QCOW2_INCOMPAT_EXTL2)
		return HP_ERR(
			p, -ENOTSUP,
			"extended L2 entries (subclusters, incompatible feature bit 4) are not supported");
	return 0;
}

/* Version, cluster size, header length, what is refused outright. */
static int check_basics(const struct hp *p, const struct qcow2_header *h,
			size_t len)
{
	if (h->version == 2)
		return HP_ERR(
			p, -ENOTSUP,
			"qcow2 version 2 (compat=0.10) is not supported: convert with qemu-img amend -o compat=1.1");
	if (h->version != 3)
		return HP_ERR(p, -EINVAL, "unknown qcow2 version %u",
			      h->version);
	if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return HP_ERR(p, -EINVAL,
			      "cluster_bits %u out of range (9 to 21)",
			      h->cluster_bits);
	if (h->header_length < QCOW2_V3_HEADER_LEN || h->header_length % 8 ||
	    h->header_length > (1u << h->cluster_bits) ||
	    h->header_length > len)
		return HP_ERR(
			p, -EINVAL,
			"header_length %u invalid (a multiple of 8, 104 to the cluster size)",
			h->header_length);
	if (h->crypt_method)
		return HP_ERR(
			p, -ENOTSUP,
			"encrypted images are not supported (crypt_method %u)",
			h->crypt_method);
	if (h->nb_snapshots)
		return HP_ERR(
			p, -ENOTSUP,
			"internal snapshots are not supported (nb_snapshots %u): delete them with qemu-img snapshot -d",
			h->nb_snapshots);
	if (h->refcount_order > 6)
		return HP_ERR(
			p, -EINVAL,
			"refcount_order %u out of range (0 to 6: 1- to 64-bit refcounts)",
			h->refcount_order);
	if (h->size > QCOW2_MAX_SIZE)
		return HP_ERR(p, -EINVAL,
			      "virtual size %" PRIu64
			      " too large (at most 2^55)",
			      h->size);
	return check_incompat(p, h);
}

/* A table of n bytes at off: aligned, past the header, inside the file. */
static int check_table(const struct hp *p, const char *what, uint64_t off,
		       uint64_t n, uint64_t csize, uint64_t file_size)
{
	if (off % csize || (n && off < csize))
		return HP_ERR(p, -EINVAL,
			      "%s offset 0x%" PRIx64
			      " is not a cluster boundary after the header",
			      what, off);
	if (off > file_size || n > file_size - off)
		return HP_ERR(p, -EINVAL,
			      "%s at 0x%" PRIx64 " (%" PRIu64
			      " bytes) lies outside the file (%" PRIu64
			      " bytes)",
			      what, off, n, file_size);
	return 0;
}

static int check_tables(const struct hp *p, const struct qcow2_header *h,
			uint64_t file_size)
{
	uint64_t csize = 1ull << h->cluster_bits;
	uint64_t span = csize * (csize / 8), need;
	int rc;

	need = h->size / span + !!(h->size % span);
	if (h->l1_size < need)
		return HP_ERR(
			p, -EINVAL,
			"l1_size %u does not cover the virtual size %" PRIu64
			" (needs %" PRIu64 " entries)",
			h->l1_size, h->size, need);
	if ((uint64_t)h->l1_size * 8 > QCOW2_MAX_L1_BYTES)
		return HP_ERR(p, -EINVAL, "l1_size %u too large (at most %u)",
			      h->l1_size, QCOW2_MAX_L1_BYTES / 8);
	if (!h->rt_clusters ||
	    (uint64_t)h->rt_clusters * csize > QCOW2_MAX_RT_BYTES)
		return HP_ERR(
			p, -EINVAL,
			"refcount_table_clusters %u out of range (1 to %" PRIu64
			")",
			h->rt_clusters, QCOW2_MAX_RT_BYTES / csize);
	rc = check_table(p, "L1 table", h->l1_offset, (uint64_t)h->l1_size * 8,
			 csize, file_size);
	if (!rc)
		rc = check_table(p, "refcount table", h->rt_offset,
				 (uint64_t)h->rt_clusters * csize, csize,
				 file_size);
	return rc;
}

static int ext_backing_format(const struct hp *p, struct qcow2_header *h,
			      const uint8_t *d, uint32_t n)
{
	if (!n || n >= sizeof(h->backing_fmt) || memchr(d, 0, n))
		return HP_ERR(p, -EINVAL,
			      "backing format extension of %u bytes is invalid",
			      n);
	memcpy(h->backing_fmt, d, n);
	h->backing_fmt[n] = 0;
	if (strcmp(h->backing_fmt, "raw") && strcmp(h->backing_fmt, "qcow2"))
		return HP_ERR(
			p, -ENOTSUP,
			"backing format %s is not supported (raw or qcow2)",
			h->backing_fmt);
	return 0;
}

/* Header extensions between header_length and end. */
static int check_extensions(const struct hp *p, struct qcow2_header *h,
			    const uint8_t *b, uint64_t end)
{
	uint64_t at = h->header_length;
	uint32_t type, n;
	int rc;

	while (at + 8 <= end) {
		type = be32_at(b + at);
		n = be32_at(b + at + 4);
		if (type == QCOW2_EXT_END)
			return 0;
		if (n > end - at - 8)
			return HP_ERR(p, -EINVAL,
				      "header extension 0x%08x at %" PRIu64
				      " (%u bytes) runs past the header area",
				      type, at, n);
		if (type == QCOW2_EXT_BACKING_FORMAT) {
			rc = ext_backing_format(p, h, b + at + 8, n);
			if (rc)
				return rc;
		}
		at += 8 + (((uint64_t)n + 7) & ~7ull);
	}
	/* Without an end marker the extensions end at the header area. */
	return 0;
}

static int check_backing(const struct hp *p, struct qcow2_header *h,
			 const uint8_t *b, size_t len)
{
	uint64_t off = h->backing_offset, n = h->backing_len;

	if (!off) {
		if (h->backing_fmt[0])
			return HP_ERR(
				p, -EINVAL,
				"a backing format without a backing file");
		return 0;
	}
	if (!n || n > QCOW2_BACKING_NAME_MAX)
		return HP_ERR(p, -EINVAL,
			      "backing_file_size %" PRIu64
			      " out of range (1 to %d)",
			      n, QCOW2_BACKING_NAME_MAX);
	if (off < h->header_length || off > len || n > len - off)
		return HP_ERR(p, -EINVAL,
			      "backing file name at %" PRIu64 " (%" PRIu64
			      " bytes) lies outside the header cluster",
			      off, n);
	if (memchr(b + off, 0, n))
		return HP_ERR(p, -EINVAL,
			      "backing file name contains a NUL byte");
	memcpy(h->backing, b + off, n);
	h->backing[n] = 0;
	return 0;
}

int qcow2_header_parse(const uint8_t *buf, size_t len, uint64_t file_size,
		       const char *label, const char *path,
		       struct qcow2_header *h, char *why, size_t whylen)
{
	struct hp p = { label, path, why, whylen };
	uint64_t end;
	int rc;

	if (len < QCOW2_V3_HEADER_LEN || be32_at(buf) != QCOW2_MAGIC)
		return HP_ERR(
			&p, -EINVAL,
			"not a qcow2 image (no QFI\\xfb magic and header)");
	header_fields(buf, h);
	rc = check_basics(&p, h, len);
	if (!rc)
		rc = check_tables(&p, h, file_size);
	if (rc)
		return rc;
	len = MIN(len, (size_t)1 << h->cluster_bits);
	end = h->backing_offset && h->backing_offset < len ? h->backing_offset :
							     len;
	rc = check_extensions(&p, h, buf, end);
	if (!rc)
		rc = check_backing(&p, h, buf, len);
	return rc;
}

bool qcow2_probe(int fd)
{
	uint8_t m[4];

	return pread(fd, m, 4, 0) == 4 && be32_at(m) == QCOW2_MAGIC;
}

/* Bytes in the file or device behind fd. */
static int fd_size(int fd, uint64_t *size, dev_t *dev, ino_t *ino)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	*dev = st.st_dev;
	*ino = st.st_ino;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size) ? -errno : 0;
	*size = st.st_size;
	return 0;
}

/* The first cluster (or what the file has of it), parsed. */
static int read_header(struct qcow2 *q, uint64_t file_size, char *why,
		       size_t whylen)
{
	size_t len = MIN(file_size, (uint64_t)1 << QCOW2_MAX_CLUSTER_BITS);
	uint8_t *buf = malloc(MAX(len, (size_t)1));
	int rc;

	if (!buf)
		return disk_why(why, whylen, q->label, -ENOMEM,
				"out of memory");
	rc = qcow2_pread_full(q->meta_fd, buf, len, 0);
	if (rc)
		rc = disk_why(why, whylen, q->label, rc,
			      "%s: cannot read the qcow2 header: %s", q->path,
			      strerror(-rc));
	else
		rc = qcow2_header_parse(buf, len, file_size, q->label, q->path,
					&q->h, why, whylen);
	free(buf);
	return rc;
}

/* Dirty and corrupt images are read-only until repaired. */
static int check_writable(struct qcow2 *q, char *why, size_t whylen)
{
	if (q->readonly)
		return 0;
	if (q->h.incompat & QCOW2_INCOMPAT_CORRUPT)
		return disk_why(
			why, whylen, q->label, -EUCLEAN,
			"%s: marked corrupt (incompatible feature bit 1): repair it with qemu-img check -r all, or use it read-only",
			q->path);
	if (q->h.incompat & QCOW2_INCOMPAT_DIRTY)
		return disk_why(
			why, whylen, q->label, -EUCLEAN,
			"%s: its refcounts are dirty (lazy refcounts, incompatible feature bit 0): repair it with qemu-img check -r all, or use it read-only",
			q->path);
	return 0;
}

/*
 * Autoclear features this driver does not know (persistent bitmaps,
 * raw external data) become stale once it writes: clear them, as the
 * spec asks of a writer that does not maintain them.
 */
static int clear_autoclear(struct qcow2 *q, char *why, size_t whylen)
{
	uint64_t zero = 0;
	int rc;

	if (q->readonly || !q->h.autoclear)
		return 0;
	rc = qcow2_pwrite_full(q->meta_fd, &zero, 8, QCOW2_OFF_AUTOCLEAR);
	if (!rc && fdatasync(q->meta_fd))
		rc = -errno;
	if (rc)
		return disk_why(why, whylen, q->label, rc,
				"%s: cannot clear autoclear features: %s",
				q->path, strerror(-rc));
	log_info("disk %s: %s: cleared autoclear features 0x%" PRIx64
		 " (persistent bitmaps are not kept up to date here)",
		 q->label, q->path, q->h.autoclear);
	q->h.autoclear = 0;
	return 0;
}

/* The images of the chain opened so far, for loops and depth. */
struct chain {
	dev_t dev[QCOW2_CHAIN_MAX];
	ino_t ino[QCOW2_CHAIN_MAX];
	unsigned int n;
};

static int open_image(const struct qcow2_open_args *a, struct chain *c,
		      struct qcow2 **q_out, char *why, size_t whylen);

/* Where a backing name points: absolute, or next to the image. */
static int backing_path(const struct qcow2 *q, char *out, size_t len)
{
	const char *slash = strrchr(q->path, '/');
	int n;

	if (q->h.backing[0] == '/' || !slash)
		n = snprintf(out, len, "%s", q->h.backing);
	else
		n = snprintf(out, len, "%.*s/%s", (int)(slash - q->path),
			     q->path, q->h.backing);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* A read lock: a writer elsewhere would change what we read. */
static int read_lock(int fd)
{
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };

	return fcntl(fd, F_OFD_SETLK, &fl) ? -errno : 0;
}

static int open_backing_fd(struct qcow2 *q, const char *path, int *fd_out,
			   char *why, size_t whylen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return disk_why(why, whylen, q->label, -errno,
				"%s: backing file %s %s%s", q->path, path,
				errno == ENOENT ? "does not exist" :
						  "cannot be opened: ",
				errno == ENOENT ? "" : strerror(errno));
	rc = read_lock(fd);
	if (rc) {
		close(fd);
		return disk_why(
			why, whylen, q->label, rc == -EAGAIN ? -EBUSY : rc,
			"%s: backing file %s is open read-write by another process",
			q->path, path);
	}
	*fd_out = fd;
	return 0;
}

static int open_raw_backing(struct qcow2 *q, int fd, const char *path,
			    struct qcow2 **b_out)
{
	struct qcow2 *b = calloc(1, sizeof(*b));
	int rc;

	if (!b)
		return -ENOMEM;
	b->fd = b->meta_fd = fd;
	b->own_fd = b->raw = b->readonly = true;
	snprintf(b->path, sizeof(b->path), "%s", path);
	snprintf(b->label, sizeof(b->label), "%s", q->label);
	rc = fd_size(fd, &b->size, &b->dev, &b->ino);
	if (rc) {
		free(b);
		return rc;
	}
	*b_out = b;
	return 0;
}

static bool chain_has(const struct chain *c, dev_t dev, ino_t ino)
{
	unsigned int i;

	for (i = 0; i < c->n; i++) {
		if (c->dev[i] == dev && c->ino[i] == ino)
			return true;
	}
	return false;
}

/* The backing file's format: as the image says, else probed (warned). */
static bool backing_is_qcow2(const struct qcow2 *q, int fd, const char *path)
{
	if (q->h.backing_fmt[0])
		return !strcmp(q->h.backing_fmt, "qcow2");
	log_warn(
		"disk %s: %s: no backing format recorded: %s probed as %s (record it with qemu-img rebase -u -F FMT)",
		q->label, q->path, path, qcow2_probe(fd) ? "qcow2" : "raw");
	return qcow2_probe(fd);
}

static int open_backing(struct qcow2 *q, struct chain *c, char *why,
			size_t whylen)
{
	struct qcow2_open_args a = { .label = q->label, .readonly = true };
	char path[4096];
	struct stat st;
	int fd = -1, rc;

	if (backing_path(q, path, sizeof(path)))
		return disk_why(why, whylen, q->label, -ENAMETOOLONG,
				"%s: backing file name too long", q->path);
	rc = open_backing_fd(q, path, &fd, why, whylen);
	if (rc)
		return rc;
	if (fstat(fd, &st) || chain_has(c, st.st_dev, st.st_ino)) {
		close(fd);
		return disk_why(
			why, whylen, q->label, -ELOOP,
			"%s: backing file %s is already in the chain (a backing loop)",
			q->path, path);
	}
	if (!backing_is_qcow2(q, fd, path)) {
		rc = open_raw_backing(q, fd, path, &q->backing);
		if (rc) {
			close(fd);
			return disk_why(why, whylen, q->label, rc,
					"%s: backing file %s: %s", q->path,
					path, strerror(-rc));
		}
		return 0;
	}
	a.fd = fd;
	a.path = path;
	rc = open_image(&a, c, &q->backing, why, whylen);
	if (rc) {
		close(fd);
		return rc;
	}
	q->backing->own_fd = true;
	return 0;
}

/* Direct I/O: metadata goes through a second, cached open. */
static int open_meta_fd(struct qcow2 *q, char *why, size_t whylen)
{
	struct stat st;

	if (!q->direct) {
		q->meta_fd = q->fd;
		return 0;
	}
	q->meta_fd =
		open(q->path, (q->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (q->meta_fd < 0 || fstat(q->meta_fd, &st) || st.st_dev != q->dev ||
	    st.st_ino != q->ino)
		return disk_why(why, whylen, q->label, -EIO,
				"%s: cannot open it again for metadata",
				q->path);
	return 0;
}

static int open_steps(struct qcow2 *q, const struct qcow2_open_args *a,
		      struct chain *c, char *why, size_t whylen)
{
	uint64_t file_size;
	int rc;

	rc = fd_size(q->fd, &file_size, &q->dev, &q->ino);
	if (rc)
		return disk_why(why, whylen, q->label, rc, "%s: %s", q->path,
				strerror(-rc));
	if (c->n >= QCOW2_CHAIN_MAX)
		return disk_why(why, whylen, q->label, -ELOOP,
				"%s: backing chain longer than %d images",
				q->path, QCOW2_CHAIN_MAX);
	c->dev[c->n] = q->dev;
	c->ino[c->n++] = q->ino;
	q->file_end = file_size; /* meta_init rounds it up */
	rc = open_meta_fd(q, why, whylen);
	if (!rc)
		rc = read_header(q, file_size, why, whylen);
	if (!rc)
		rc = check_writable(q, why, whylen);
	if (!rc)
		rc = qcow2_meta_init(q, why, whylen);
	if (!rc)
		rc = clear_autoclear(q, why, whylen);
	if (!rc && q->h.backing[0] && !a->no_backing)
		rc = open_backing(q, c, why, whylen);
	return rc;
}

static int open_image(const struct qcow2_open_args *a, struct chain *c,
		      struct qcow2 **q_out, char *why, size_t whylen)
{
	struct qcow2 *q = calloc(1, sizeof(*q));
	int rc;

	if (!q)
		return disk_why(why, whylen, a->label, -ENOMEM,
				"out of memory");
	q->fd = a->fd;
	q->meta_fd = -1;
	q->readonly = a->readonly;
	q->direct = a->direct;
	snprintf(q->path, sizeof(q->path), "%s", a->path);
	snprintf(q->label, sizeof(q->label), "%s", a->label);
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	q->lock_init = true;
	rc = open_steps(q, a, c, why, whylen);
	if (rc) {
		qcow2_close(q);
		return rc;
	}
	q->size = q->h.size;
	*q_out = q;
	return 0;
}

int qcow2_open(const struct qcow2_open_args *a, struct qcow2 **q_out, char *why,
	       size_t whylen)
{
	struct chain c = { .n = 0 };

	return open_image(a, &c, q_out, why, whylen);
}

void qcow2_close(struct qcow2 *q)
{
	if (!q)
		return;
	if (!q->raw && !q->readonly)
		qcow2_unreserve(q);
	qcow2_close(q->backing);
	qcow2_meta_fini(q);
	if (q->meta_fd >= 0 && q->meta_fd != q->fd)
		close(q->meta_fd);
	if (q->own_fd && q->fd >= 0)
		close(q->fd);
	if (q->lock_init) {
		pthread_mutex_destroy(&q->lock);
		pthread_cond_destroy(&q->cond);
	}
	free(q);
}

int qcow2_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t r;

	while (len) {
		r = pread(fd, buf, len, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		buf = (char *)buf + r;
		len -= r;
		off += r;
	}
	return 0;
}

int qcow2_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	ssize_t r;

	while (len) {
		r = pwrite(fd, buf, len, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		buf = (const char *)buf + r;
		len -= r;
		off += r;
	}
	return 0;
}
