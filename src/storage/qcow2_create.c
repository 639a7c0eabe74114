/*
 * Creating a qcow2 image (version 3, 16-bit refcounts), optionally on a
 * backing file whose format is recorded in the image (probed when not
 * given, so that opening it never has to guess). Layout: the header
 * cluster (header, extensions, backing name), the refcount table, one
 * refcount block, the L1 table; everything else is allocated by use.
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

#include "storage/internal.h"

#define HEADER_LEN 112u /* v3 with the compression type byte, padded */
#define REFCOUNT_ORDER 4

static void put32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

/* The backing file's format (probed if not given) and virtual size. */
static int backing_info(const struct qcow2_create_args *a, const char *path,
			char *fmt, size_t fmtlen, uint64_t *size, char *why,
			size_t whylen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	uint8_t hdr[32];
	struct stat st;

	if (fd < 0)
		return disk_why(why, whylen, a->path, -errno,
				"backing file %s: %s", path, strerror(errno));
	snprintf(fmt, fmtlen, "%s",
		 a->backing_fmt	 ? a->backing_fmt :
		 qcow2_probe(fd) ? "qcow2" :
				   "raw");
	if (strcmp(fmt, "raw") && strcmp(fmt, "qcow2"))
		rc = disk_why(why, whylen, a->path, -EINVAL,
			      "backing format %s: expected raw or qcow2", fmt);
	else if (!strcmp(fmt, "qcow2")) {
		if (qcow2_pread_full(fd, hdr, sizeof(hdr), 0) ||
		    be32toh(*(uint32_t *)hdr) != QCOW2_MAGIC)
			rc = disk_why(why, whylen, a->path, -EINVAL,
				      "backing file %s is not a qcow2 image",
				      path);
		else
			*size = be64toh(*(uint64_t *)(hdr + 24));
	} else if (fstat(fd, &st)) {
		rc = -errno;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size))
			rc = -errno;
	} else {
		*size = st.st_size;
	}
	close(fd);
	return rc;
}

/* Where the backing name is, as the new image will resolve it. */
static void resolve(const char *image, const char *name, char *out, size_t len)
{
	const char *slash = strrchr(image, '/');

	if (name[0] == '/' || !slash)
		snprintf(out, len, "%s", name);
	else
		snprintf(out, len, "%.*s/%s", (int)(slash - image), image,
			 name);
}

struct layout {
	uint64_t cs, size, l1_entries, l1_clusters, clusters;
	uint32_t cluster_bits;
};

static int plan(const struct qcow2_create_args *a, uint64_t size,
		struct layout *l, char *why, size_t whylen)
{
	uint64_t span;

	l->cluster_bits = a->cluster_bits ? a->cluster_bits : 16;
	if (l->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    l->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return disk_why(
			why, whylen, a->path, -EINVAL,
			"cluster size 2^%u out of range (512 bytes to 2 MiB)",
			l->cluster_bits);
	l->cs = 1ull << l->cluster_bits;
	if (!size || size % 512 || size > QCOW2_MAX_SIZE)
		return disk_why(
			why, whylen, a->path, -EINVAL,
			"size %" PRIu64
			" invalid: a multiple of 512 bytes, at most 2^55",
			size);
	span = l->cs * (l->cs / 8);
	l->size = size;
	l->l1_entries = size / span + !!(size % span);
	l->l1_clusters = (l->l1_entries * 8 + l->cs - 1) / l->cs;
	l->clusters = 3 + l->l1_clusters;
	/* One refcount block counts them all. */
	if (l->l1_entries * 8 > QCOW2_MAX_L1_BYTES ||
	    l->clusters > (l->cs * 8 >> REFCOUNT_ORDER))
		return disk_why(why, whylen, a->path, -EFBIG,
				"size %" PRIu64 " too large for %" PRIu64
				"-byte clusters",
				size, l->cs);
	return 0;
}

/* Header, extensions and backing name into the first cluster. */
static int fill_header(const struct qcow2_create_args *a,
		       const struct layout *l, const char *fmt, uint8_t *b,
		       char *why, size_t whylen)
{
	size_t at = HEADER_LEN, flen = strlen(fmt), blen;

	put32(b, QCOW2_MAGIC);
	put32(b + 4, 3);
	put32(b + 20, l->cluster_bits);
	put64(b + 24, l->size);
	put32(b + 36, l->l1_entries);
	put64(b + 40, 3 * l->cs);
	put64(b + 48, l->cs);
	put32(b + 56, 1);
	put32(b + 96, REFCOUNT_ORDER);
	put32(b + 100, HEADER_LEN);
	if (a->backing) {
		put32(b + at, QCOW2_EXT_BACKING_FORMAT);
		put32(b + at + 4, flen);
		memcpy(b + at + 8, fmt, flen);
		at += 8 + ((flen + 7) & ~7ul);
	}
	at += 8; /* the end marker: type 0, length 0 */
	if (!a->backing)
		return 0;
	blen = strlen(a->backing);
	if (!blen || blen > QCOW2_BACKING_NAME_MAX || at + blen > l->cs)
		return disk_why(why, whylen, a->path, -ENAMETOOLONG,
				"backing file name of %zu bytes does not fit",
				blen);
	put64(b + 8, at);
	put32(b + 16, blen);
	memcpy(b + at, a->backing, blen);
	return 0;
}

static int write_image(const struct qcow2_create_args *a,
		       const struct layout *l, const char *fmt, char *why,
		       size_t whylen)
{
	uint8_t *buf = calloc(l->clusters, l->cs);
	uint64_t i;
	int fd = -1, rc;

	if (!buf)
		return disk_why(why, whylen, a->path, -ENOMEM, "out of memory");
	rc = fill_header(a, l, fmt, buf, why, whylen);
	if (rc)
		goto out;
	put64(buf + l->cs, 2 * l->cs); /* refcount table -> block */
	for (i = 0; i < l->clusters; i++)
		qcow2_rb_set(buf + 2 * l->cs, REFCOUNT_ORDER, i, 1);
	fd = open(a->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = disk_why(why, whylen, a->path, -errno,
			      "cannot create it: %s", strerror(errno));
		goto out;
	}
	rc = qcow2_pwrite_full(fd, buf, l->clusters * l->cs, 0);
	if (!rc && fdatasync(fd))
		rc = -errno;
	if (rc) {
		unlink(a->path);
		rc = disk_why(why, whylen, a->path, rc, "cannot write it: %s",
			      strerror(-rc));
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

int qcow2_create(const struct qcow2_create_args *a, char *why, size_t whylen)
{
	char fmt[16] = "", path[4096];
	uint64_t size = a->size, bsize = 0;
	struct layout l = { 0 };
	int rc;

	if (a->backing) {
		resolve(a->path, a->backing, path, sizeof(path));
		rc = backing_info(a, path, fmt, sizeof(fmt), &bsize, why,
				  whylen);
		if (rc)
			return rc;
		if (!size)
			size = bsize - bsize % 512;
	}
	rc = plan(a, size, &l, why, whylen);
	if (!rc)
		rc = write_image(a, &l, fmt, why, whylen);
	return rc;
}
