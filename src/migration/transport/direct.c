/*
 * Direct I/O file backend for saves. O_DIRECT moves data from memory to
 * the disk without copying it into the page cache, which matters when
 * the data is a guest's RAM: cold in the CPU caches and as large as the
 * guest. Every transfer must be block aligned, in memory and in the file.
 * So bytes collect in an aligned staging buffer, written in whole blocks,
 * except runs of page-aligned memory that arrive at an aligned file
 * offset (the writer arranges that for page data): those go straight out
 * once the staging buffer, which then holds whole blocks, is written.
 */
#include "migration/transport/stream.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

#define DIRECT_ALIGN 4096u
#define STAGE_SIZE (1u << 20)

static bool is_aligned_run(const struct iovec *v)
{
	return !((uintptr_t)v->iov_base % DIRECT_ALIGN) && v->iov_len &&
	       !(v->iov_len % DIRECT_ALIGN);
}

/* Write the whole blocks of the staging buffer, keep the tail. */
static int stage_drain(struct stream *s)
{
	size_t whole = s->stage_len / DIRECT_ALIGN * DIRECT_ALIGN;
	int rc;

	if (!whole)
		return 0;
	rc = write_full(s->fd, s->stage, whole);
	if (rc)
		return rc;
	memmove(s->stage, s->stage + whole, s->stage_len - whole);
	s->stage_len -= whole;
	s->file_pos += whole;
	return 0;
}

/* Aligned runs at an aligned offset, with nothing staged: write them. */
static ssize_t direct_run(struct stream *s, const struct iovec *iov, int iovcnt)
{
	ssize_t r;
	int n = 0;

	while (n < iovcnt && n < IOV_MAX && is_aligned_run(&iov[n]))
		n++;
	do {
		r = writev(s->fd, iov, n);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	/* A short direct write stops on a block boundary, or fails. */
	r -= r % DIRECT_ALIGN;
	if (!r)
		return -EIO;
	s->file_pos += r;
	return r;
}

static ssize_t direct_writev(struct stream *s, const struct iovec *iov,
			     int iovcnt)
{
	uint64_t pos = s->file_pos + s->stage_len;
	size_t n;
	int rc;

	if (is_aligned_run(&iov[0]) && !(pos % DIRECT_ALIGN)) {
		rc = stage_drain(s); /* holds whole blocks: empties it */
		return rc ? rc : direct_run(s, iov, iovcnt);
	}
	n = MIN(iov[0].iov_len, STAGE_SIZE - s->stage_len);
	memcpy(s->stage + s->stage_len, iov[0].iov_base, n);
	s->stage_len += n;
	if (s->stage_len == STAGE_SIZE) {
		rc = stage_drain(s);
		if (rc)
			return rc;
	}
	return n;
}

/* The last partial block goes out zero-padded; then trim to length. */
static int direct_flush(struct stream *s)
{
	uint64_t end = s->file_pos + s->stage_len;
	size_t padded = ALIGN_UP(s->stage_len, (size_t)DIRECT_ALIGN);
	int rc;

	memset(s->stage + s->stage_len, 0, padded - s->stage_len);
	rc = padded ? write_full(s->fd, s->stage, padded) : 0;
	if (rc)
		return rc;
	s->stage_len = 0;
	s->file_pos = end;
	return ftruncate(s->fd, end) < 0 ? -errno : 0;
}

static void direct_close(struct stream *s)
{
	if (s->own_fd && s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->stage);
	s->stage = NULL;
}

static ssize_t direct_readv(struct stream *s, const struct iovec *iov,
			    int iovcnt)
{
	return -EBADF; /* a save target is written, never read */
}

static const struct stream_ops direct_ops = {
	.readv = direct_readv,
	.writev = direct_writev,
	.flush = direct_flush,
	.close = direct_close,
};

int stream_open_direct(struct stream *s, int fd, bool own_fd)
{
	memset(s, 0, sizeof(*s));
	s->ops = &direct_ops;
	s->fd = fd;
	s->own_fd = own_fd;
	s->direct = true;
	if (posix_memalign((void **)&s->stage, DIRECT_ALIGN, STAGE_SIZE))
		return -ENOMEM;
	return 0;
}
