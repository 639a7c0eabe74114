/*
 * Host tap devices for virtio-net: a tap opened with a virtio-net header
 * in front of every frame (IFF_VNET_HDR, 12 bytes: the VERSION_1 header
 * with num_buffers), so the guest's checksum and segmentation requests
 * pass through to the host kernel and back; the offloads the guest
 * accepted (TUNSETOFFLOAD); and the host-side setup godwit does itself
 * when an interface has no script: its own MAC, a bridge port, link up.
 *
 * Everything here acts in the calling thread's network namespace, and
 * is plain ioctls: no netlink library, no helper programs.
 */
#ifndef GODWIT_NET_TAP_H
#define GODWIT_NET_TAP_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

#define TAP_VNET_HDR_LEN 12 /* struct virtio_net_hdr_v1 */
/* The largest frame a tap hands over with GSO: 64 KiB plus headers. */
#define TAP_FRAME_MAX (65536 + 14 + 4)

/* TUNSETOFFLOAD bits (linux/if_tun.h), what the guest can take. */
#define TAP_OFFLOAD_CSUM 0x01
#define TAP_OFFLOAD_TSO4 0x02
#define TAP_OFFLOAD_TSO6 0x04
#define TAP_OFFLOAD_TSO_ECN 0x08

/*
 * Open the tap name (created if it does not exist; a free "gwN" name
 * picked by the kernel when name is empty) with a 12-byte virtio-net
 * header, non-blocking, close-on-exec. The name it got goes to
 * name_out. -errno with one line in why ("tap web0 is in use by another
 * process", ...).
 */
int tap_open(const char *name, int *fd_out, char name_out[IFNAMSIZ], char *why,
	     size_t whylen) __must_check;
/* Tell the tap which offloads its reader accepts (TAP_OFFLOAD_*). */
int tap_set_offload(int fd, unsigned int offloads) __must_check;
/*
 * godwit's own setup of a tap (no script): its host-side MAC set to
 * fe:ff:ff:ff:ff:ff (as Xen's vif-bridge does, so a bridge never takes
 * it for its own address), a port of bridge (if not empty), link up.
 * -errno with one line in why.
 */
int tap_plug(const char *name, const char *bridge, char *why,
	     size_t whylen) __must_check;
/*
 * Wait up to timeout_ms until the link of name, if it is up, is also
 * running (IFF_RUNNING: its operational state is up). The kernel sets
 * that, and a bridge starts forwarding on the port, only when its link
 * watcher gets to it, up to a second after the link came up; a VM that
 * resumes before then loses its first frames, announcements included.
 * 0 (running, or not up at all), -ETIMEDOUT, or -errno.
 */
int tap_wait_running(const char *name, unsigned int timeout_ms) __must_check;

#endif
