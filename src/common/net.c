/* TCP sockets for migration: parse, listen, connect with a timeout. */
#include "common/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"

int net_parse_hostport(const char *s, char *host, size_t hostlen,
		       uint16_t *port, uint16_t default_port)
{
	const char *colon, *end = s + strlen(s);
	uint64_t p = default_port;

	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || (rb[1] && rb[1] != ':'))
			return -EINVAL;
		if ((size_t)(rb - s - 1) >= hostlen)
			return -ENAMETOOLONG;
		memcpy(host, s + 1, rb - s - 1);
		host[rb - s - 1] = 0;
		colon = rb[1] ? rb + 1 : NULL;
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			return -EINVAL; /* bare IPv6 needs brackets */
		end = colon ? colon : end;
		if ((size_t)(end - s) >= hostlen)
			return -ENAMETOOLONG;
		memcpy(host, s, end - s);
		host[end - s] = 0;
	}
	if (colon && (parse_u64(colon + 1, &p) || !p || p > 65535))
		return -EINVAL;
	if (!host[0])
		return -EINVAL;
	*port = p;
	return 0;
}

static int net_resolve(const char *host, uint16_t port, bool passive,
		       struct addrinfo **res)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = passive ? AI_PASSIVE : 0 };
	char ps[8];

	snprintf(ps, sizeof(ps), "%u", port);
	return getaddrinfo(host, ps, &hints, res);
}

int net_listen(const char *host, uint16_t port, int *fd_out)
{
	struct addrinfo *ai;
	int fd, one = 1, rc;

	if (net_resolve(host, port, true, &ai))
		return -EADDRNOTAVAIL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4) < 0) {
		rc = -errno;
		close(fd);
		goto out;
	}
	*fd_out = fd;
	rc = 0;
out:
	freeaddrinfo(ai);
	return rc;
}

static int connect_wait(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int r, err = 0;

	do {
		r = poll(&p, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ETIMEDOUT;
	if (r < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

int net_connect(const char *host, uint16_t port, int timeout_ms, int *fd_out,
		char *why, size_t whylen)
{
	struct addrinfo *ai;
	int fd, rc, gai;

	gai = net_resolve(host, port, false, &ai);
	if (gai) {
		snprintf(why, whylen, "cannot resolve %s: %s", host,
			 gai_strerror(gai));
		return -EHOSTUNREACH;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	rc = fd < 0 ? -errno : 0;
	if (!rc && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		rc = errno == EINPROGRESS ? connect_wait(fd, timeout_ms) :
					    -errno;
	if (!rc)
		rc = fd_set_nonblock(fd, false);
	if (!rc)
		rc = net_set_nodelay(fd);
	freeaddrinfo(ai);
	if (rc) {
		snprintf(why, whylen, "cannot connect to %s port %u: %s", host,
			 port, strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	*fd_out = fd;
	return 0;
}

int net_set_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
		return 0;
	return errno == EOPNOTSUPP || errno == ENOPROTOOPT ? 0 : -errno;
}

void net_peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[NET_HOST_MAX], serv[16];

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv,
			sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV)) {
		snprintf(buf, len, "(unknown peer)");
		return;
	}
	snprintf(buf, len, "%s:%s", host, serv);
}
