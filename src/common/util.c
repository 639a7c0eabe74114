/* Full-length fd I/O, strict number parsing and small filesystem helpers. */
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t r = read(fd, p, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EPIPE;
		p += r;
		len -= r;
	}
	return 0;
}

int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t r = write(fd, p, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO; /* no progress: do not spin */
		p += r;
		len -= r;
	}
	return 0;
}

int parse_u64(const char *s, uint64_t *val_out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno)
		return -errno;
	if (*end)
		return -EINVAL;
	*val_out = v;
	return 0;
}

static int size_shift(const char *suffix, unsigned int *shift_out)
{
	static const struct {
		const char *name;
		unsigned int shift;
	} units[] = {
		{ "", 20 },    { "k", 10 },   { "kb", 10 },  { "kib", 10 },
		{ "m", 20 },   { "mb", 20 },  { "mib", 20 }, { "g", 30 },
		{ "gb", 30 },  { "gib", 30 }, { "t", 40 },   { "tb", 40 },
		{ "tib", 40 }, { "b", 0 },
	};
	char low[8];
	size_t i;

	if (strlen(suffix) >= sizeof(low))
		return -EINVAL;
	for (i = 0; suffix[i]; i++)
		low[i] = tolower((unsigned char)suffix[i]);
	low[i] = 0;
	for (i = 0; i < ARRAY_SIZE(units); i++) {
		if (!strcmp(low, units[i].name)) {
			*shift_out = units[i].shift;
			return 0;
		}
	}
	return -EINVAL;
}

int parse_size_bytes(const char *s, uint64_t *bytes_out)
{
	unsigned long long v;
	unsigned int shift;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -errno;
	if (size_shift(end, &shift))
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*bytes_out = (uint64_t)v << shift;
	return 0;
}

int str_printf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int fd_set_cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

int fd_set_nonblock(int fd, bool nonblock)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0)
		return -errno;
	flags = nonblock ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
	if (fcntl(fd, F_SETFL, flags) < 0)
		return -errno;
	return 0;
}

int mkdir_p(const char *path, unsigned int mode)
{
	char buf[4096];
	char *p;

	if (str_printf(buf, sizeof(buf), "%s", path))
		return -ENAMETOOLONG;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int file_read_all(const char *path, size_t max, void **buf_out, size_t *len_out)
{
	struct stat st;
	void *buf = NULL;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	rc = S_ISDIR(st.st_mode) ? -EISDIR : !S_ISREG(st.st_mode) ? -EINVAL : 0;
	if (!rc && (uint64_t)st.st_size > max)
		rc = -EFBIG;
	if (rc)
		goto out;
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	rc = read_full(fd, buf, st.st_size);
	if (rc) {
		free(buf);
		goto out;
	}
	*buf_out = buf;
	*len_out = st.st_size;
out:
	close(fd);
	return rc;
}

const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && *v ? v : dflt;
}

const char *util_run_dir(void)
{
	return env_or("GODWIT_RUN_DIR", GODWIT_RUN_DIR_DEFAULT);
}

int util_vm_socket(const char *run_dir, const char *name, char *buf, size_t len)
{
	return str_printf(buf, len, "%s/vm/%s.qmp", run_dir, name);
}

int file_write_atomic(const char *path, const void *buf, size_t len,
		      unsigned int mode)
{
	return file_write_replace(path, buf, len, mode, true);
}

int file_write_replace(const char *path, const void *buf, size_t len,
		       unsigned int mode, bool durable)
{
	char tmp[PATH_MAX + 8];
	int fd, rc;

	rc = str_printf(tmp, sizeof(tmp), "%s.tmp", path);
	if (rc)
		return rc;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	rc = write_full(fd, buf, len);
	if (!rc && durable && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}
