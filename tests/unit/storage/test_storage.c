/*
 * Unit tests of the storage layer (src/storage): this file holds the
 * shared helpers and main(), which runs every group. Images live in a
 * scratch directory under /tmp, removed at exit; loop devices are
 * created with LO_FLAGS_AUTOCLEAR, so the kernel detaches them when the
 * last fd closes, even if a test dies.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/loop.h>

#include "common/util.h"
#include "helpers.h"

static char scratch[64];

static void scratch_remove(void)
{
	char cmd[128];

	if (!scratch[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", scratch);
}

const char *st_dir(void)
{
	if (!scratch[0]) {
		strcpy(scratch, "/tmp/godwit-storage-XXXXXX");
		if (!mkdtemp(scratch))
			abort();
		atexit(scratch_remove);
	}
	return scratch;
}

uint64_t st_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

void st_fill(uint8_t *p, size_t len, uint64_t *state)
{
	uint64_t v;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		v = st_rand(state);
		memcpy(p + i, &v, 8);
	}
	for (v = st_rand(state); i < len; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static int write_file(const char *path, uint64_t size, unsigned int seed)
{
	uint64_t state = seed * 2654435761u + 1;
	uint8_t buf[65536];
	uint64_t done = 0;
	int fd, rc = 0;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (!rc && done < size) {
		size_t n = MIN(sizeof(buf), size - done);

		st_fill(buf, n, &state);
		rc = write_full(fd, buf, n);
		done += n;
	}
	close(fd);
	return rc;
}

/* A free loop device over file, autoclear; the fd keeps it attached. */
static int loop_attach(struct image *im, bool ro)
{
	struct loop_config lc;
	int ctl, n, lfd, bfd, tries, rc = -EBUSY;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	bfd = open(im->file, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	/* Another program may take the free device first: try again. */
	for (tries = 0; bfd >= 0 && rc == -EBUSY && tries < 10; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			rc = -errno;
			break;
		}
		snprintf(im->path, sizeof(im->path), "/dev/loop%d", n);
		lfd = open(im->path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (lfd < 0) {
			rc = -errno;
			break;
		}
		memset(&lc, 0, sizeof(lc));
		lc.fd = bfd;
		lc.info.lo_flags = LO_FLAGS_AUTOCLEAR |
				   (ro ? LO_FLAGS_READ_ONLY : 0);
		rc = ioctl(lfd, LOOP_CONFIGURE, &lc) ? -errno : 0;
		if (rc)
			close(lfd);
		else
			im->loop_fd = lfd;
	}
	if (bfd >= 0)
		close(bfd);
	else
		rc = -errno;
	close(ctl);
	return rc;
}

int st_image(struct image *im, const char *dir, enum backing b, uint64_t size,
	     unsigned int seed, bool ro)
{
	static unsigned int n;
	int rc;

	memset(im, 0, sizeof(*im));
	im->loop_fd = -1;
	snprintf(im->file, sizeof(im->file), "%s/img%u.raw", dir, n++);
	snprintf(im->path, sizeof(im->path), "%s", im->file);
	rc = write_file(im->file, size, seed);
	if (!rc && b == BACKING_LOOP)
		rc = loop_attach(im, ro);
	if (rc)
		unlink(im->file);
	return rc;
}

void st_image_free(struct image *im)
{
	if (im->loop_fd >= 0)
		close(im->loop_fd);
	im->loop_fd = -1;
	unlink(im->file);
}

void st_skip_no_loop(int rc)
{
	fprintf(stderr,
		"SKIP: loop devices are not available here (%s): block device cases not run\n",
		strerror(-rc));
	skip();
}

struct disk *st_open(const char *path, enum disk_engine engine, bool ro,
		     bool direct)
{
	struct disk_open_args a = {
		.path = path,
		.label = "xvda",
		.readonly = ro,
		.direct = direct,
		.engine = engine,
	};
	char why[DISK_WHY_MAX] = "";
	struct disk *d = NULL;
	int rc = disk_open(&a, &d, why, sizeof(why));

	if (rc)
		fail_msg("disk_open %s: %s", path, why);
	return d;
}

void st_wait(struct disk_queue *q, const unsigned int *count, unsigned int want)
{
	struct pollfd p = { .fd = disk_queue_fd(q), .events = POLLIN };
	int spins = 0;

	while (*count < want) {
		assert_true(spins++ < 3000);
		if (poll(&p, 1, 10) < 0)
			fail_msg("poll: %s", strerror(errno));
		disk_queue_poll(q);
	}
}

static void count_done(struct disk_req *req)
{
	(*(unsigned int *)req->opaque)++;
}

int st_do(struct disk_queue *q, enum disk_op op, uint64_t offset, void *buf,
	  uint64_t len, unsigned int flags)
{
	struct iovec iov = { buf, len };
	unsigned int done = 0;
	struct disk_req req = {
		.op = op,
		.flags = flags,
		.offset = offset,
		.len = len,
		.iov = &iov,
		.iovcnt = 1,
		.done = count_done,
		.opaque = &done,
	};
	int rc = disk_submit(q, &req);

	if (rc)
		return rc;
	st_wait(q, &done, 1);
	return req.result;
}

int st_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	return r < 0 || !WIFEXITED(r) ? -1 : WEXITSTATUS(r);
}

bool st_have_qemu_img(void)
{
	return st_sh("qemu-img --version >/dev/null 2>&1") == 0;
}

int main(void)
{
	int failed = 0;

	failed += storage_test_io();
	failed += storage_test_open();
	failed += storage_test_qcow2();
	failed += storage_test_qcow2_interop();
	return failed ? 1 : 0;
}
