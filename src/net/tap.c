/*
 * Host tap devices (tap.h): TUNSETIFF with a virtio-net header, the
 * offloads, and the built-in host-side setup through the classic
 * interface ioctls on a datagram socket.
 */
#include "net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "common/why.h"

/* The tap device's own ioctls need no socket; the link's do. */
static int tap_ctl_socket(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	return s < 0 ? -errno : s;
}

static const char *tap_open_error(int err)
{
	switch (err) {
	case EBUSY:
		return "is in use by another process";
	case EPERM:
	case EACCES:
		return "cannot be created or opened (CAP_NET_ADMIN is needed)";
	case EINVAL:
		return "exists and is not a tap device";
	default:
		return strerror(err);
	}
}

int tap_open(const char *name, int *fd_out, char name_out[IFNAMSIZ], char *why,
	     size_t whylen)
{
	struct ifreq ifr = { 0 };
	int fd, hdr = TAP_VNET_HDR_LEN, rc;

	if (strlen(name) >= IFNAMSIZ)
		return why_set(why, whylen, -EINVAL,
			       "tap name %s is longer than %d bytes", name,
			       IFNAMSIZ - 1);
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		return why_set(why, whylen, rc, "cannot open /dev/net/tun: %s",
			       strerror(-rc));
	}
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name[0] ? name : "gw%d");
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		rc = -errno;
		why_set(why, whylen, 0, "tap %s %s",
			name[0] ? name : "(automatic)", tap_open_error(errno));
		close(fd);
		return rc;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		rc = -errno;
		why_set(why, whylen, 0,
			"tap %s: cannot set its virtio-net header size: %s",
			ifr.ifr_name, strerror(errno));
		close(fd);
		return rc;
	}
	snprintf(name_out, IFNAMSIZ, "%s", ifr.ifr_name);
	*fd_out = fd;
	return 0;
}

int tap_set_offload(int fd, unsigned int offloads)
{
	_Static_assert(TAP_OFFLOAD_CSUM == TUN_F_CSUM &&
			       TAP_OFFLOAD_TSO4 == TUN_F_TSO4 &&
			       TAP_OFFLOAD_TSO6 == TUN_F_TSO6 &&
			       TAP_OFFLOAD_TSO_ECN == TUN_F_TSO_ECN,
		       "TUNSETOFFLOAD bits");
	return ioctl(fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0 ? -errno :
								       0;
}

static int tap_set_hwaddr(int s, const char *name)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	ifr.ifr_hwaddr.sa_family = 1; /* ARPHRD_ETHER */
	memset(ifr.ifr_hwaddr.sa_data, 0xff, 6);
	ifr.ifr_hwaddr.sa_data[0] = (char)0xfe;
	return ioctl(s, SIOCSIFHWADDR, &ifr) < 0 ? -errno : 0;
}

static int tap_to_bridge(int s, const char *name, const char *bridge)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", bridge);
	ifr.ifr_ifindex = (int)if_nametoindex(name);
	if (!ifr.ifr_ifindex)
		return -errno;
	return ioctl(s, SIOCBRADDIF, &ifr) < 0 ? -errno : 0;
}

static int tap_link_up(int s, const char *name)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP;
	return ioctl(s, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

static const char *tap_bridge_error(int err)
{
	switch (err) {
	case ENODEV:
	case ENXIO:
		return "does not exist";
	case EOPNOTSUPP:
	case EINVAL:
		return "is not a bridge";
	default:
		return strerror(err);
	}
}

int tap_plug(const char *name, const char *bridge, char *why, size_t whylen)
{
	int s = tap_ctl_socket(), rc;

	if (s < 0)
		return why_set(why, whylen, s,
			       "tap %s: no socket for its setup: %s", name,
			       strerror(-s));
	rc = tap_set_hwaddr(s, name);
	if (rc) {
		why_set(why, whylen, 0,
			"tap %s: cannot set its host-side MAC: %s", name,
			strerror(-rc));
		goto out;
	}
	if (bridge[0]) {
		rc = tap_to_bridge(s, name, bridge);
		if (rc) {
			why_set(why, whylen, 0,
				"tap %s: cannot join bridge %s: the bridge %s",
				name, bridge, tap_bridge_error(-rc));
			goto out;
		}
	}
	rc = tap_link_up(s, name);
	if (rc)
		why_set(why, whylen, 0, "tap %s: cannot bring the link up: %s",
			name, strerror(-rc));
out:
	close(s);
	return rc;
}

int tap_wait_running(const char *name, unsigned int timeout_ms)
{
	struct ifreq ifr = { 0 };
	unsigned int waited_us = 0;
	int s = tap_ctl_socket(), rc = 0;

	if (s < 0)
		return s;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	for (;;) {
		if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
			rc = -errno;
			break;
		}
		if (!(ifr.ifr_flags & IFF_UP) || (ifr.ifr_flags & IFF_RUNNING))
			break;
		if (waited_us >= timeout_ms * 1000u) {
			rc = -ETIMEDOUT;
			break;
		}
		usleep(1000);
		waited_us += 1000;
	}
	close(s);
	return rc;
}
