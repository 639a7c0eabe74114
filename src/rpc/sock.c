/* Unix socket setup and SCM_RIGHTS-capable send/receive. */
#include "rpc/sock.h"

#include <errno.h>
#include <libgen.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"

#define RPC_SOCK_BACKLOG 16
/* Pause between connect attempts while the server's backlog is full. */
#define RPC_SOCK_RETRY_MS 10

static int sock_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!*path)
		return -EINVAL;
	if (str_printf(sa->sun_path, sizeof(sa->sun_path), "%s", path))
		return -ENAMETOOLONG;
	return 0;
}

static int sock_new(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	return fd < 0 ? -errno : fd;
}

static int parent_dir_create(const char *path)
{
	char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *dir;

	if (str_printf(buf, sizeof(buf), "%s", path))
		return -ENAMETOOLONG;
	dir = dirname(buf);
	if (!strcmp(dir, ".") || !strcmp(dir, "/"))
		return 0;
	return mkdir_p(dir, 0700);
}

/* Remove a socket file nobody answers on; refuse anything else. */
static int stale_remove(const char *path)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("rpc: %s exists and is not a socket", path);
		return -EEXIST;
	}
	fd = rpc_sock_connect(path, 0);
	if (fd >= 0) {
		close(fd);
		log_err("rpc: a server is already listening on %s", path);
		return -EADDRINUSE;
	}
	if (fd != -ECONNREFUSED)
		return fd == -ETIMEDOUT ? -EADDRINUSE : fd;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int rpc_sock_listen(const char *path, struct rpc_sock_file *file_out)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd = -1, rc;

	rc = sock_addr(path, &sa);
	if (rc)
		return rc;
	rc = parent_dir_create(path);
	if (rc)
		return rc;
	rc = stale_remove(path);
	if (rc)
		return rc;
	fd = sock_new();
	if (fd < 0)
		return fd;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto err_errno;
	/* Nobody can connect before listen(), so the mode is set in time. */
	if (chmod(path, 0600) < 0 || stat(path, &st) < 0)
		goto err_unlink;
	if (listen(fd, RPC_SOCK_BACKLOG) < 0)
		goto err_unlink;
	file_out->dev = st.st_dev;
	file_out->ino = st.st_ino;
	return fd;

err_unlink:
	rc = -errno;
	unlink(path);
	close(fd);
	return rc;
err_errno:
	rc = -errno;
	close(fd);
	return rc;
}

void rpc_sock_unlink(const char *path, const struct rpc_sock_file *file)
{
	struct stat st;

	if (lstat(path, &st) == 0 && st.st_dev == file->dev &&
	    st.st_ino == file->ino)
		unlink(path);
}

int rpc_sock_wait(int fd, short events, uint64_t deadline_ns)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int timeout = -1, r;

	if (deadline_ns) {
		uint64_t now = time_mono_ns();

		if (now >= deadline_ns)
			return -ETIMEDOUT;
		timeout = (int)DIV_ROUND_UP(deadline_ns - now, NSEC_PER_MSEC);
	}
	r = poll(&pfd, 1, timeout);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r ? 0 : -ETIMEDOUT;
}

uint64_t rpc_deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return 0;
	return time_mono_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;
}

static int connect_retry(int fd, const struct sockaddr_un *sa,
			 uint64_t deadline_ns)
{
	for (;;) {
		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EINPROGRESS)
			return rpc_sock_wait(fd, POLLOUT, deadline_ns);
		if (errno != EAGAIN)
			return -errno;
		/* Backlog full: the server is slow to accept. */
		if (deadline_ns && time_mono_ns() >= deadline_ns)
			return -ETIMEDOUT;
		usleep(RPC_SOCK_RETRY_MS * 1000);
	}
}

int rpc_sock_connect(const char *path, int timeout_ms)
{
	uint64_t deadline = rpc_deadline(timeout_ms);
	struct sockaddr_un sa;
	int fd, rc;

	rc = sock_addr(path, &sa);
	if (rc)
		return rc;
	fd = sock_new();
	if (fd < 0)
		return fd;
	rc = connect_retry(fd, &sa, deadline);
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

ssize_t rpc_sock_send(int sock, const void *buf, size_t len, int passfd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t r;

	if (passfd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &passfd, sizeof(int));
	}
	do {
		r = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static void fds_collect(struct msghdr *msg, int *fds_out, size_t *nfds_out)
{
	struct cmsghdr *cm;
	size_t i, n;

	*nfds_out = 0;
	for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			       sizeof(fd));
			if (*nfds_out < RPC_SOCK_FDS_MAX)
				fds_out[(*nfds_out)++] = fd;
			else
				close(fd);
		}
	}
}

ssize_t rpc_sock_recv(int sock, void *buf, size_t len, int *fds_out,
		      size_t *nfds_out)
{
	union {
		char buf[CMSG_SPACE(RPC_SOCK_FDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	ssize_t r;

	*nfds_out = 0;
	do {
		r = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	fds_collect(&msg, fds_out, nfds_out);
	return r;
}
