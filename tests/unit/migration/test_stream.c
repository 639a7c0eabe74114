/*
 * Unit tests of the migration transport (struct stream): exact reads and
 * the sticky error on the memory and fd backends, the fd backend's 1 MiB
 * read buffer (crossed by small reads, bypassed by big ones), writes of
 * more than IOV_MAX iovecs, short transfers through a trickling test
 * backend, offsets, stream_skip() and the write rate limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/clock.h"
#include "migration/transport/stream.h"

/* Byte i of every test pattern: never periodic at a power of two. */
static uint8_t pat(uint64_t i)
{
	return (uint8_t)(i * 2654435761u >> 13) ^ (uint8_t)(i / 251);
}

static uint8_t *pattern(size_t len)
{
	uint8_t *p = malloc(len);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		p[i] = pat(i);
	return p;
}

/* A memfd holding len pattern bytes, positioned at 0. */
static int pattern_file(size_t len)
{
	uint8_t *p = pattern(len);
	int fd = memfd_create("stream-test", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	free(p);
	return fd;
}

static uint64_t rng_state = 88172645463325252ULL;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static void check_pattern(const uint8_t *p, size_t len, uint64_t from)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != pat(from + i))
			fail_msg("byte %llu: 0x%02x, expected 0x%02x",
				 (unsigned long long)(from + i), p[i],
				 pat(from + i));
}

/*
 * Describe base[*off, len) with up to max iovecs of random sizes below
 * bound (empty ones included); advances *off, returns the count.
 */
static int random_iovecs(struct iovec *iov, int max, uint8_t *base, size_t *off,
			 size_t len, uint32_t bound)
{
	int n = 0;

	while (n < max && *off < len) {
		size_t k = rnd(bound); /* MIN() would draw twice */

		k = MIN(k, len - *off);
		iov[n++] = (struct iovec){ base + *off, k };
		*off += k;
	}
	return n;
}

/* ---- Memory backend ---------------------------------------------------- */

static void test_mem_exact_reads(void **state)
{
	uint8_t *src = pattern(100), buf[100];
	struct stream s;

	stream_open_mem_read(&s, src, 100);
	assert_int_equal(stream_read(&s, buf, 10), 0);
	check_pattern(buf, 10, 0);
	assert_int_equal(s.offset, 10);
	assert_int_equal(stream_read(&s, buf, 0), 0);
	assert_int_equal(stream_read(&s, buf, 90), 0);
	check_pattern(buf, 90, 10);
	assert_int_equal(s.offset, 100);
	assert_int_equal(s.error, 0);
	/* End of stream exactly at a boundary: the next read is -EPIPE. */
	assert_int_equal(stream_read(&s, buf, 1), -EPIPE);
	assert_int_equal(s.error, -EPIPE);
	assert_int_equal(s.offset, 100);
	stream_close(&s);
	free(src);
}

static void test_mem_eof_mid_read_is_sticky(void **state)
{
	uint8_t *src = pattern(10), buf[20];
	struct stream s;

	stream_open_mem_read(&s, src, 10);
	assert_int_equal(stream_read(&s, buf, 4), 0);
	assert_int_equal(stream_read(&s, buf, 20), -EPIPE);
	assert_int_equal(s.offset, 4); /* a failed read counts nothing */
	/* Later calls return the error and do nothing. */
	memset(buf, 0x77, sizeof(buf));
	assert_int_equal(stream_read(&s, buf, 1), -EPIPE);
	assert_int_equal(stream_read(&s, buf, 0), -EPIPE);
	assert_int_equal(stream_skip(&s, 1), -EPIPE);
	assert_int_equal(stream_write(&s, buf, 5), -EPIPE);
	assert_int_equal(buf[0], 0x77);
	assert_int_equal(s.offset, 4);
	assert_int_equal(stream_set_error(&s, -EIO), -EPIPE);
	stream_close(&s);
	free(src);
}

static void test_mem_write_and_take(void **state)
{
	uint8_t *src = pattern(100000), *out;
	struct iovec iov[3];
	struct stream s;
	size_t len;

	stream_open_mem_write(&s);
	assert_int_equal(stream_write(&s, src, 10), 0);
	assert_int_equal(stream_write(&s, src + 10, 0), 0);
	iov[0] = (struct iovec){ src + 10, 5000 };
	iov[1] = (struct iovec){ NULL, 0 }; /* an empty piece of a body */
	iov[2] = (struct iovec){ src + 5010, 94990 };
	assert_int_equal(stream_writev(&s, iov, 3), 0);
	assert_int_equal(s.offset, 100000);
	out = stream_mem_take(&s, &len);
	assert_int_equal(len, 100000);
	check_pattern(out, len, 0);
	stream_close(&s);
	/* Reading into the same shape of iovecs. */
	memset(src, 0, 100000);
	stream_open_mem_read(&s, out, len);
	iov[0] = (struct iovec){ src, 5010 };
	iov[1] = (struct iovec){ NULL, 0 };
	iov[2] = (struct iovec){ src + 5010, 94990 };
	assert_int_equal(stream_readv(&s, iov, 3), 0);
	check_pattern(src, 100000, 0);
	stream_close(&s);
	free(out);
	free(src);
}

/* After an error, writes change nothing. */
static void test_mem_write_error_is_sticky(void **state)
{
	uint8_t buf[16] = { 1 };
	struct stream s;
	size_t len;
	uint8_t *out;

	stream_open_mem_write(&s);
	assert_int_equal(stream_write(&s, buf, 16), 0);
	assert_int_equal(stream_set_error(&s, -ENOSPC), -ENOSPC);
	assert_int_equal(stream_set_error(&s, -EIO), -ENOSPC);
	assert_int_equal(stream_write(&s, buf, 16), -ENOSPC);
	assert_int_equal(s.offset, 16);
	out = stream_mem_take(&s, &len);
	assert_int_equal(len, 16);
	free(out);
	stream_close(&s);
}

/* Many writev iovecs, more than IOV_MAX, on the memory backend. */
static void test_mem_writev_many(void **state)
{
	const int n = 3 * IOV_MAX + 7;
	uint8_t *src = pattern(n * 8), *out;
	struct iovec *iov = calloc(n, sizeof(*iov));
	size_t off = 0, len;
	struct stream s;
	int i;

	for (i = 0; i < n; i++) {
		iov[i] = (struct iovec){ src + off, i % 9 };
		off += i % 9;
	}
	stream_open_mem_write(&s);
	assert_int_equal(stream_writev(&s, iov, n), 0);
	assert_int_equal(s.offset, off);
	out = stream_mem_take(&s, &len);
	assert_int_equal(len, off);
	check_pattern(out, len, 0);
	free(out);
	free(iov);
	free(src);
	stream_close(&s);
}

static void test_skip(void **state)
{
	uint8_t *src = pattern(20000), b;
	struct stream s;

	stream_open_mem_read(&s, src, 20000);
	assert_int_equal(stream_skip(&s, 0), 0);
	assert_int_equal(stream_skip(&s, 10000), 0);
	assert_int_equal(s.offset, 10000);
	assert_int_equal(stream_read(&s, &b, 1), 0);
	assert_int_equal(b, pat(10000));
	assert_int_equal(stream_skip(&s, 9999), 0);
	assert_int_equal(s.offset, 20000);
	assert_int_equal(stream_skip(&s, 1), -EPIPE);
	stream_close(&s);

	stream_open_mem_read(&s, src, 20000);
	assert_int_equal(stream_skip(&s, 30000), -EPIPE);
	assert_int_equal(s.error, -EPIPE);
	stream_close(&s);
	free(src);
}

/* ---- A backend that moves at most a few bytes per call ------------------ */

struct trickle {
	struct stream s;
	const uint8_t *src;
	size_t src_len, src_pos;
	uint8_t *dst;
	size_t dst_len;
	unsigned int calls;
};

static ssize_t trickle_readv(struct stream *s, const struct iovec *iov,
			     int iovcnt)
{
	struct trickle *t = (struct trickle *)s;
	size_t want = 1 + rnd(5), n = 0;
	int i;

	t->calls++;
	for (i = 0; i < iovcnt && n < want && t->src_pos < t->src_len; i++) {
		size_t k = MIN(MIN(iov[i].iov_len, want - n),
			       t->src_len - t->src_pos);

		memcpy(iov[i].iov_base, t->src + t->src_pos, k);
		t->src_pos += k;
		n += k;
	}
	return n;
}

static ssize_t trickle_writev(struct stream *s, const struct iovec *iov,
			      int iovcnt)
{
	struct trickle *t = (struct trickle *)s;
	size_t want = 1 + rnd(7), n = 0;
	int i;

	t->calls++;
	assert_true(iovcnt > 0);
	for (i = 0; i < iovcnt && n < want; i++) {
		size_t k = MIN(iov[i].iov_len, want - n);

		memcpy(t->dst + t->dst_len, iov[i].iov_base, k);
		t->dst_len += k;
		n += k;
	}
	return n ? (ssize_t)n : -EINVAL;
}

static void trickle_close(struct stream *s)
{
	free(s->rbuf);
	s->rbuf = NULL;
}

static const struct stream_ops trickle_ops = {
	.readv = trickle_readv,
	.writev = trickle_writev,
	.close = trickle_close,
};

static void trickle_open(struct trickle *t, const uint8_t *src, size_t len,
			 bool buffered)
{
	memset(t, 0, sizeof(*t));
	t->s.ops = &trickle_ops;
	t->s.fd = -1;
	t->src = src;
	t->src_len = len;
	t->dst = calloc(1, len + 1);
	assert_non_null(t->dst);
	if (buffered) {
		t->s.rbuf = malloc(STREAM_RBUF_SIZE);
		assert_non_null(t->s.rbuf);
	}
}

/* Short reads and writes resume inside an iovec, never lose a byte. */
static void trickle_round_trip(bool buffered)
{
	const size_t len = 50000;
	uint8_t *src = pattern(len), *dst = calloc(1, len);
	struct iovec iov[16];
	struct trickle t;
	size_t off = 0;

	trickle_open(&t, src, len, buffered);
	while (off < len) {
		size_t start = off;
		int n = random_iovecs(iov, 16, dst, &off, len, 300);

		assert_int_equal(stream_readv(&t.s, iov, n), 0);
		assert_int_equal(t.s.offset, off);
		check_pattern(dst + start, off - start, start);
	}
	assert_true(t.calls > 10000);
	/* Writes: the same bytes back, in odd iovecs. */
	t.calls = 0;
	for (off = 0; off < len;) {
		int n = random_iovecs(iov, 16, src, &off, len, 200);

		assert_int_equal(stream_writev(&t.s, iov, n), 0);
	}
	assert_true(t.calls > 5000);
	assert_int_equal(t.dst_len, len);
	check_pattern(t.dst, len, 0);
	assert_int_equal(t.s.offset, 2 * len);
	stream_close(&t.s);
	free(t.dst);
	free(dst);
	free(src);
}

static void test_short_transfers_unbuffered(void **state)
{
	trickle_round_trip(false);
}

static void test_short_transfers_buffered(void **state)
{
	trickle_round_trip(true);
}

/* ---- fd backend -------------------------------------------------------- */

static void test_fd_eof_mid_read_is_sticky(void **state)
{
	uint8_t buf[20];
	struct stream s;
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "0123456789", 10), 10);
	close(p[1]);
	assert_int_equal(stream_open_fd(&s, p[0], true), 0);
	assert_int_equal(stream_read(&s, buf, 4), 0);
	assert_memory_equal(buf, "0123", 4);
	assert_int_equal(stream_read(&s, buf, 20), -EPIPE);
	assert_int_equal(s.offset, 4);
	assert_int_equal(stream_read(&s, buf, 1), -EPIPE);
	assert_int_equal(stream_write(&s, buf, 1), -EPIPE);
	assert_int_equal(stream_skip(&s, 100), -EPIPE);
	assert_int_equal(s.offset, 4);
	stream_close(&s);
	/* own_fd: closed by stream_close(). */
	assert_int_equal(fcntl(p[0], F_GETFD), -1);
	assert_int_equal(errno, EBADF);
}

/* A sticky error leaves the fd alone: no byte read or written. */
static void test_fd_error_has_no_side_effects(void **state)
{
	uint8_t buf[64];
	struct stream s;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(stream_open_fd(&s, sv[0], false), 0);
	assert_int_equal(stream_set_error(&s, -EIO), -EIO);
	assert_int_equal(write(sv[1], "abcdef", 6), 6);
	assert_int_equal(stream_read(&s, buf, 3), -EIO);
	assert_int_equal(stream_write(&s, "xyz", 3), -EIO);
	/* All six bytes are still queued for us; nothing went to the peer. */
	assert_int_equal(recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT), 6);
	assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(s.offset, 0);
	stream_close(&s);
	/* Without own_fd the fd stays open. */
	assert_int_not_equal(fcntl(sv[0], F_GETFD), -1);
	close(sv[0]);
	close(sv[1]);
}

static void test_fd_read_error(void **state)
{
	uint8_t buf[8];
	struct stream s;
	int p[2];

	assert_int_equal(pipe(p), 0);
	/* Reading the write end of a pipe fails with EBADF. */
	assert_int_equal(stream_open_fd(&s, p[1], false), 0);
	assert_int_equal(stream_read(&s, buf, 8), -EBADF);
	assert_int_equal(stream_read(&s, buf, 8), -EBADF);
	stream_close(&s);
	close(p[0]);
	close(p[1]);
}

static void test_fd_write_to_closed_peer(void **state)
{
	uint8_t buf[4096] = { 0 };
	struct stream s;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	assert_int_equal(stream_open_fd(&s, sv[0], true), 0);
	assert_int_equal(stream_write(&s, buf, sizeof(buf)), -EPIPE);
	assert_int_equal(s.error, -EPIPE);
	assert_int_equal(stream_write(&s, buf, 1), -EPIPE);
	assert_int_equal(s.offset, 0);
	stream_close(&s);
}

/*
 * A peer that speaks while we write (a destination acknowledging rounds):
 * two messages can arrive in one read, and the second then sits in the
 * read buffer where poll() cannot see it. It still counts as spoken.
 */
static void test_peer_wait_sees_buffered_bytes(void **state)
{
	uint8_t two[2 * 136], one[136];
	struct stream s;
	int sv[2];

	memset(two, 0x5a, sizeof(two));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(stream_open_fd(&s, sv[0], true), 0);
	assert_int_equal(write(sv[1], two, sizeof(two)), sizeof(two));
	assert_int_equal(stream_peer_wait(&s, 0), 1);
	assert_int_equal(stream_read(&s, one, sizeof(one)), 0);
	assert_true(s.rbuf_pos < s.rbuf_len); /* the second is buffered */
	assert_int_equal(stream_peer_wait(&s, 0), 1);
	assert_int_equal(stream_read(&s, one, sizeof(one)), 0);
	assert_int_equal(stream_peer_wait(&s, 20), 0); /* waited, nothing */
	close(sv[1]);
	assert_int_equal(stream_peer_wait(&s, 0), 1); /* closing is speaking */
	stream_close(&s);
}

/* Small readv calls with many iovecs, across several buffer refills. */
static void test_fd_readv_crosses_buffer(void **state)
{
	const size_t len = 3 * MIB + 12345;
	uint8_t *dst = malloc(len), b;
	struct iovec iov[64];
	struct stream s;
	size_t off = 0;
	int fd = pattern_file(len);

	assert_int_equal(stream_open_fd(&s, fd, true), 0);
	while (off < len) {
		size_t start = off;
		/* Up to 64 iovecs of 0..4999 bytes: well under 256 KiB. */
		int n = random_iovecs(iov, 64, dst, &off, len, 5000);

		assert_int_equal(stream_readv(&s, iov, n), 0);
		assert_int_equal(s.offset, off);
		check_pattern(dst + start, off - start, start);
	}
	assert_int_equal(stream_read(&s, &b, 1), -EPIPE);
	assert_int_equal(s.offset, len);
	stream_close(&s);
	free(dst);
}

/* Reads of a quarter buffer or more go straight to the fd. */
static void test_fd_big_reads_bypass_buffer(void **state)
{
	const size_t len = 6 * MIB;
	uint8_t *dst = malloc(len);
	struct stream s;
	int fd = pattern_file(len);
	size_t pos;

	assert_int_equal(stream_open_fd(&s, fd, false), 0);
	assert_int_equal(stream_read(&s, dst, 2 * MIB), 0);
	check_pattern(dst, 2 * MIB, 0);
	/* Nothing was read ahead. */
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 2 * MIB);
	assert_int_equal(s.rbuf_len - s.rbuf_pos, 0);
	/* A small read fills the buffer with a whole MiB... */
	assert_int_equal(stream_read(&s, dst, 100), 0);
	check_pattern(dst, 100, 2 * MIB);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 3 * MIB);
	/* ...which later reads use, whatever their size, before the fd. */
	assert_int_equal(stream_read(&s, dst, MIB - 100), 0);
	check_pattern(dst, MIB - 100, 2 * MIB + 100);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 3 * MIB);
	/* Exactly STREAM_RBUF_SIZE / 4 bypasses too. */
	assert_int_equal(stream_read(&s, dst, STREAM_RBUF_SIZE / 4), 0);
	check_pattern(dst, STREAM_RBUF_SIZE / 4, 3 * MIB);
	assert_int_equal(lseek(fd, 0, SEEK_CUR),
			 3 * MIB + STREAM_RBUF_SIZE / 4);
	/* A big read that starts in the buffer takes the rest from the fd. */
	pos = 3 * MIB + STREAM_RBUF_SIZE / 4;
	assert_int_equal(stream_read(&s, dst, 10), 0);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), pos + MIB);
	assert_int_equal(stream_read(&s, dst, 3 * MIB / 2), 0);
	check_pattern(dst, 3 * MIB / 2, pos + 10);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), pos + 10 + 3 * MIB / 2);
	assert_int_equal(s.offset, pos + 10 + 3 * MIB / 2);
	stream_close(&s);
	close(fd);
	free(dst);
}

/* More iovecs than readv takes in one call, on the direct path. */
static void test_fd_readv_more_than_iov_max(void **state)
{
	const int n = 3 * IOV_MAX;
	const size_t each = 100; /* 300 KiB: above the buffered size */
	uint8_t *dst = malloc(n * each);
	struct iovec *iov = calloc(n, sizeof(*iov));
	struct stream s;
	int fd = pattern_file(n * each), i;

	for (i = 0; i < n; i++)
		iov[i] = (struct iovec){ dst + i * each, each };
	assert_int_equal(stream_open_fd(&s, fd, true), 0);
	assert_int_equal(stream_readv(&s, iov, n), 0);
	check_pattern(dst, n * each, 0);
	assert_int_equal(s.offset, n * each);
	stream_close(&s);
	free(iov);
	free(dst);
}

static void test_fd_writev_more_than_iov_max(void **state)
{
	const int n = 2 * IOV_MAX + 100;
	uint8_t *src = pattern(n * 9 + MIB), *back;
	struct iovec *iov = calloc(n + 1, sizeof(*iov));
	size_t off = 0;
	struct stream s;
	int fd = memfd_create("stream-test", MFD_CLOEXEC), i;

	for (i = 0; i < n; i++) {
		iov[i] = (struct iovec){ src + off, i % 10 };
		off += i % 10;
	}
	iov[n] = (struct iovec){ src + off, MIB };
	off += MIB;
	assert_int_equal(stream_open_fd(&s, fd, true), 0);
	assert_int_equal(stream_writev(&s, iov, n + 1), 0);
	assert_int_equal(s.offset, off);
	back = malloc(off);
	assert_int_equal(pread(fd, back, off, 0), (ssize_t)off);
	assert_int_equal(lseek(fd, 0, SEEK_END), off);
	check_pattern(back, off, 0);
	stream_close(&s);
	free(back);
	free(iov);
	free(src);
}

/* ---- fd backend over a socket, with a writer on another thread ---------- */

struct writer {
	int fd;
	size_t len;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint8_t *src = pattern(w->len);
	struct stream s;
	size_t off = 0;

	if (stream_open_fd(&s, w->fd, true))
		return NULL;
	while (off < w->len) {
		size_t k = MIN(1 + (off * 7919) % 70000, w->len - off);

		if (stream_write(&s, src + off, k))
			break;
		off += k;
	}
	stream_close(&s);
	free(src);
	return NULL;
}

static void test_socket_mixed_reads(void **state)
{
	struct writer w = { .len = 5 * MIB + 777 };
	uint8_t *dst = malloc(w.len), b;
	struct stream s;
	pthread_t th;
	size_t off = 0;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	w.fd = sv[1];
	assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
	assert_int_equal(stream_open_fd(&s, sv[0], true), 0);
	while (off < w.len) {
		/* A record's shape: a 16-byte header, then a body. */
		size_t k = rnd(4) ? 16 : 1 + rnd(600000);

		k = MIN(k, w.len - off);
		assert_int_equal(stream_read(&s, dst + off, k), 0);
		off += k;
	}
	check_pattern(dst, w.len, 0);
	assert_int_equal(s.offset, w.len);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(stream_read(&s, &b, 1), -EPIPE);
	stream_close(&s);
	free(dst);
}

/* ---- Rate limit -------------------------------------------------------- */

static double write_seconds(struct stream *s, const uint8_t *buf, size_t chunk,
			    size_t total)
{
	uint64_t t0 = time_mono_ns();
	size_t off;

	for (off = 0; off < total; off += chunk)
		assert_int_equal(stream_write(s, buf + off, chunk), 0);
	return (time_mono_ns() - t0) / 1e9;
}

static void test_rate_limit(void **state)
{
	uint8_t *buf = pattern(2 * MIB), *out;
	struct stream s;
	double t;
	size_t len;

	/* 2 MiB at 8 MiB/s: a quarter second, one write or many. */
	stream_open_mem_write(&s);
	stream_set_rate_limit(&s, 8 * MIB);
	t = write_seconds(&s, buf, 2 * MIB, 2 * MIB);
	assert_true(t >= 0.2);
	assert_true(t < 2.0);
	stream_set_rate_limit(&s, 8 * MIB);
	t = write_seconds(&s, buf, 256 * 1024, 2 * MIB);
	assert_true(t >= 0.2);
	assert_true(t < 2.0);
	/* Under the limit no write waits long. */
	stream_set_rate_limit(&s, 64 * MIB);
	t = write_seconds(&s, buf, 4096, 64 * 1024);
	assert_true(t < 0.5);
	/* 0 removes the limit: 8 MiB would take a second at 8 MiB/s. */
	stream_set_rate_limit(&s, 8 * MIB);
	stream_set_rate_limit(&s, 0);
	t = write_seconds(&s, buf, 2 * MIB, 2 * MIB);
	t += write_seconds(&s, buf, 2 * MIB, 2 * MIB);
	t += write_seconds(&s, buf, 2 * MIB, 2 * MIB);
	t += write_seconds(&s, buf, 2 * MIB, 2 * MIB);
	assert_true(t < 0.5);
	assert_int_equal(s.offset, 12 * MIB + 64 * 1024);
	out = stream_mem_take(&s, &len);
	assert_int_equal(len, s.offset);
	check_pattern(out, 2 * MIB, 0);
	free(out);
	stream_close(&s);
	free(buf);
}

static int setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mem_exact_reads),
		cmocka_unit_test(test_mem_eof_mid_read_is_sticky),
		cmocka_unit_test(test_mem_write_and_take),
		cmocka_unit_test(test_mem_write_error_is_sticky),
		cmocka_unit_test(test_mem_writev_many),
		cmocka_unit_test(test_skip),
		cmocka_unit_test(test_short_transfers_unbuffered),
		cmocka_unit_test(test_short_transfers_buffered),
		cmocka_unit_test(test_fd_eof_mid_read_is_sticky),
		cmocka_unit_test(test_fd_error_has_no_side_effects),
		cmocka_unit_test(test_fd_read_error),
		cmocka_unit_test(test_fd_write_to_closed_peer),
		cmocka_unit_test(test_fd_readv_crosses_buffer),
		cmocka_unit_test(test_fd_big_reads_bypass_buffer),
		cmocka_unit_test(test_fd_readv_more_than_iov_max),
		cmocka_unit_test(test_fd_writev_more_than_iov_max),
		cmocka_unit_test(test_socket_mixed_reads),
		cmocka_unit_test(test_peer_wait_sees_buffered_bytes),
		cmocka_unit_test(test_rate_limit),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
