/*
 * The virtio device core (virtio 1.2, modern devices only), between a
 * device model and a transport:
 *
 *   model (console.c; blk, net next): a struct virtio_model of constants
 *     and callbacks, and a struct virtio_dev it embeds;
 *   transport (mmio.c; virtio-pci with MSI-X later): decodes the
 *     driver's register accesses into the calls below and delivers
 *     interrupts through struct virtio_transport;
 *   core (core.c, iothread.c): device status, feature negotiation,
 *     queue setup, interrupt status, the I/O thread, saved state.
 *
 * Threads. vCPU threads run register accesses through the transport,
 * which holds vd->lock around each. One I/O thread per device waits on
 * the queues' kick eventfds (which KVM signals through ioeventfd
 * without a vCPU exit), on the wake eventfd and the transport's fds,
 * and runs the model's work; no device work runs on a vCPU thread.
 * Other threads park the I/O thread to quiesce or reset the device:
 * parking returns once the thread is between two pieces of work with
 * the model's drain done, so nothing taken from the guest is
 * unfinished, and it touches no guest RAM until unparked.
 *
 * A guest that breaks the rules makes the device set DEVICE_NEEDS_RESET
 * (one log line, a configuration-change interrupt) and stop all work
 * until the driver resets it: virtio_fail().
 */
#ifndef GODWIT_DEVICES_VIRTIO_VIRTIO_H
#define GODWIT_DEVICES_VIRTIO_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "devices/device.h"
#include "devices/virtio/queue.h"
#include "format/stream_format.h"

struct guest_mem;

/* Feature bits the transport core offers itself (6: reserved features). */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_CORE_FEATURES                     \
	((1ULL << VIRTIO_RING_F_INDIRECT_DESC) | \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_F_VERSION_1))

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80
#define VIRTIO_STATUS_KNOWN 0xcf

/* Interrupt status bits (4.2.2: InterruptStatus). */
#define VIRTIO_INT_USED 0x1
#define VIRTIO_INT_CONFIG 0x2

#define VIRTIO_QUEUES_MAX VIRTIO_STATE_QUEUES
#define VIRTIO_CONFIG_MAX 256

struct virtio_dev;

/* A device model: constants and callbacks, every one required. */
struct virtio_model {
	const char *name; /* "virtio-console" */
	uint32_t device_id; /* virtio device id (3: console) */
	unsigned int num_queues; /* 1..VIRTIO_QUEUES_MAX */
	uint16_t queue_max; /* QueueNumMax: a power of two */
	uint64_t features; /* device-specific features offered */
	uint32_t config_size; /* bytes of config space used */
	/*
	 * Queue q may have work: it was kicked, or is looked at after
	 * DRIVER_OK, a resume or a restore. I/O thread, no lock held;
	 * take chains with virtio_pop(), return them with virtio_push(),
	 * then virtio_flush().
	 */
	void (*queue_work)(struct virtio_dev *vd, unsigned int q);
	/* The host side has work (virtio_wake()). I/O thread, no lock. */
	void (*wake)(struct virtio_dev *vd);
	/*
	 * Complete every request taken from the guest, before the I/O
	 * thread parks (quiesce, reset). I/O thread, no lock.
	 */
	void (*drain)(struct virtio_dev *vd);
	/*
	 * The driver wrote len bytes of config space at off (inside
	 * config_size). vCPU thread, vd->lock held.
	 */
	void (*config_write)(struct virtio_dev *vd, uint32_t off,
			     const uint8_t *data, uint32_t len);
	/*
	 * Back to the power-on state of the model's own fields (the core
	 * resets its own). vd->lock held, I/O thread parked.
	 */
	void (*reset)(struct virtio_dev *vd);
};

/* What a transport does for the core. */
struct virtio_transport {
	/*
	 * Signal the driver: why is VIRTIO_INT_USED (queue q has used
	 * buffers) or VIRTIO_INT_CONFIG. vd->lock held; any thread.
	 */
	void (*notify)(struct virtio_dev *vd, uint32_t why, unsigned int q);
	/*
	 * Raise again what the driver has not acknowledged (after resume
	 * or an EOI that left an event pending). vd->lock held.
	 */
	void (*renotify)(struct virtio_dev *vd);
};

/* An fd the I/O thread waits on besides the kicks and wake. */
struct virtio_watch {
	int fd;
	void (*fn)(struct virtio_dev *vd);
	bool off; /* not waited on for now (virtio_watch_set) */
};

struct virtio_dev {
	const struct virtio_model *model;
	const struct virtio_transport *transport;
	void *transport_priv;
	struct guest_mem *mem;
	char name[DEVICE_ID_LEN + 16]; /* for log lines: "console0" */

	pthread_mutex_t lock;
	/* Registers and queues: under lock. */
	uint32_t status;
	uint32_t isr; /* VIRTIO_INT_* not yet acknowledged */
	uint32_t config_generation;
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	uint64_t driver_features;
	uint8_t config[VIRTIO_CONFIG_MAX];
	struct vq vq[VIRTIO_QUEUES_MAX];
	int kick_fd[VIRTIO_QUEUES_MAX]; /* eventfds: ioeventfd or transport */

	/* The I/O thread and its parking (under lock). */
	pthread_t thread;
	bool thread_started;
	pthread_cond_t cond;
	int wake_fd; /* eventfd: parking requests and virtio_wake() */
	bool wake_pending; /* virtio_wake() not yet handled */
	unsigned int park_req; /* parkers waiting or parked */
	bool parked; /* the thread sits in its park */
	bool quit;
	struct virtio_watch watch[4];
	unsigned int nr_watch;
};

/* ---- Lifecycle (core.c, iothread.c) ------------------------------------ */

/* Set up vd for model over mem; no thread yet. */
int virtio_init(struct virtio_dev *vd, const struct virtio_model *model,
		const struct virtio_transport *t, struct guest_mem *mem,
		const char *name) __must_check;
/* Stop the I/O thread and close every fd. Idempotent. */
void virtio_destroy(struct virtio_dev *vd);
/* Also wait on fd; fn runs on the I/O thread when it is readable. */
int virtio_watch(struct virtio_dev *vd, int fd,
		 void (*fn)(struct virtio_dev *vd)) __must_check;
/*
 * Wait on the watched fd again (on) or not for now: a backend with
 * frames the guest has no room for stays readable. I/O thread, or with
 * the thread parked.
 */
void virtio_watch_set(struct virtio_dev *vd, int fd, bool on);
int virtio_start_thread(struct virtio_dev *vd) __must_check;
/*
 * One round of the I/O thread's work: wait up to timeout_ms for an fd,
 * then handle every ready one. Returns how many were handled. Unit
 * tests drive a device with it instead of a thread.
 */
int virtio_poll(struct virtio_dev *vd, int timeout_ms);
/* Park / unpark the I/O thread; nests. vd->lock held. */
void virtio_park_locked(struct virtio_dev *vd);
void virtio_unpark_locked(struct virtio_dev *vd);

/* The dev_type members of every virtio device (lock taken inside). */
void virtio_reset(struct virtio_dev *vd);
void virtio_quiesce(struct virtio_dev *vd);
void virtio_resume(struct virtio_dev *vd);

/* ---- Driver side: called by the transport with vd->lock held ---------- */

uint32_t virtio_device_features(struct virtio_dev *vd);
void virtio_set_driver_features(struct virtio_dev *vd, uint32_t val);
void virtio_set_status(struct virtio_dev *vd, uint32_t val);
/* The selected queue's config, or NULL if none is selected. */
struct vq *virtio_selected(struct virtio_dev *vd);
void virtio_set_queue_ready(struct virtio_dev *vd, bool ready);
/* Queue q was notified (QueueNotify without an ioeventfd). */
void virtio_kick(struct virtio_dev *vd, unsigned int q);
void virtio_ack(struct virtio_dev *vd, uint32_t bits);
void virtio_config_read(struct virtio_dev *vd, uint32_t off, uint8_t *data,
			uint32_t len);
void virtio_config_write(struct virtio_dev *vd, uint32_t off,
			 const uint8_t *data, uint32_t len);

/* ---- Device side: the model's work on the I/O thread ------------------- */

/* Queue q if the driver made it usable (DRIVER_OK, ready, not broken). */
struct vq *virtio_live_queue(struct virtio_dev *vd, unsigned int q);
/* vq_pop() that fails the device when the guest broke a rule. */
int virtio_pop(struct virtio_dev *vd, struct vq *q, struct vq_elem *e);
/* vq_peek(), likewise. */
bool virtio_peek(struct virtio_dev *vd, struct vq *q);
void virtio_push(struct virtio_dev *vd, struct vq *q, const struct vq_elem *e,
		 uint32_t written);
/* After pushes: interrupt the driver if it wants one for queue q. */
void virtio_flush(struct virtio_dev *vd, unsigned int q);
/* Host-side work for the model's wake callback. Any thread. */
void virtio_wake(struct virtio_dev *vd);
/*
 * The driver broke a rule: DEVICE_NEEDS_RESET, a configuration-change
 * interrupt, one log line "<name>: <why>". Takes vd->lock.
 */
void virtio_fail(struct virtio_dev *vd, const char *fmt, ...) __printf(2, 3);
bool virtio_driver_ok(struct virtio_dev *vd);

/* ---- Saved state (core.c) ---------------------------------------------- */

/* Registers and queues into st (mmio_base and gsi left to the transport). */
void virtio_save_state(struct virtio_dev *vd, struct virtio_mmio_state *st);
/*
 * Is st loadable for model over RAM of env's size? The transport's own
 * fields are checked by the transport. Pure.
 */
int virtio_check_state(const struct virtio_model *model,
		       const struct dev_env *env,
		       const struct virtio_mmio_state *st, char *why,
		       size_t whylen) __must_check;
/* Take a checked st; queues that were ready are made ready again. */
int virtio_load_state(struct virtio_dev *vd,
		      const struct virtio_mmio_state *st) __must_check;

#endif
