/*
 * virtio-console (virtio 1.2, 5.3; device id 3), port 0 only: no
 * MULTIPORT, no SIZE, no EMERG_WRITE. Queue 0 (receiveq) carries console
 * input to the guest, queue 1 (transmitq) its output, which goes where
 * the UART's goes (the console fd: stdout, a file or a pty).
 *
 * Every godwit VM has one, "console0", the way every xl PV guest has its
 * PV console: a guest without a driver never sees a difference. Console
 * input goes to it instead of the UART once the guest uses it: its
 * driver is running and it has written to port 0
 * (virtio_console_takes_input()).
 *
 * Input waits in a small buffer (part of the saved state) until the
 * guest posts a receive buffer; a receive buffer is taken from the ring
 * only when there is input for it, so the device never holds a guest
 * buffer across a pause.
 */
#ifndef GODWIT_DEVICES_VIRTIO_CONSOLE_H
#define GODWIT_DEVICES_VIRTIO_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "devices/device.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/virtio.h"

#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_CONSOLE_RXQ 0
#define VIRTIO_CONSOLE_TXQ 1

struct guest_mem;

struct virtio_console {
	struct virtio_dev vd;
	struct virtio_mmio mmio;
	int out_fd; /* guest output (I/O thread); -1: discarded */
	uint64_t tx_bytes;
	/* Under vd.lock: */
	uint32_t flags; /* VIRTIO_CONSOLE_F_* */
	uint32_t rx_count;
	uint8_t rx[VIRTIO_CONSOLE_RX_MAX];
};

/*
 * Set up con over mem as host says (host->vm NULL for a unit test, which
 * drives it with virtio_mmio_io() and virtio_poll() instead of a VM and
 * an I/O thread).
 */
int virtio_console_setup(struct virtio_console *con,
			 const struct dev_host *host,
			 struct guest_mem *mem) __must_check;
/* Queue console input; returns how many bytes fit. Any thread. */
size_t virtio_console_receive(struct virtio_console *con, const uint8_t *buf,
			      size_t len);
/* Does the guest use port 0 as its console (input goes here)? */
bool virtio_console_takes_input(struct virtio_console *con);

/* The descriptor: virtio-mmio slot from the platform list. */
extern const struct dev_type virtio_console_type;

#endif
