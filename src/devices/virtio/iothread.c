/*
 * A virtio device's I/O thread and its parking. The thread loops: park
 * while asked to (after the model's drain, so nothing taken from the
 * guest is left unfinished), then wait on the wake eventfd, the queues'
 * kick eventfds and the transport's fds, and run the work for each.
 *
 * Parking is how every other thread stops the device: the vCPU that
 * resets it or disables a queue, the pausing thread (quiesce), teardown.
 * A parker holds vd->lock, counts itself in park_req, wakes the thread
 * and waits on vd->cond until the thread reports itself parked; the
 * thread stays parked until park_req is back to zero. Without a thread
 * (unit tests drive the device with virtio_poll()) nothing runs
 * concurrently and parking returns at once.
 */
#include "devices/virtio/virtio.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"

int virtio_init(struct virtio_dev *vd, const struct virtio_model *model,
		const struct virtio_transport *t, struct guest_mem *mem,
		const char *name)
{
	unsigned int i;

	memset(vd, 0, sizeof(*vd));
	vd->model = model;
	vd->transport = t;
	vd->mem = mem;
	snprintf(vd->name, sizeof(vd->name), "%s", name);
	pthread_mutex_init(&vd->lock, NULL);
	pthread_cond_init(&vd->cond, NULL);
	vd->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	for (i = 0; i < VIRTIO_QUEUES_MAX; i++)
		vd->kick_fd[i] =
			i < model->num_queues ?
				eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) :
				-1;
	if (vd->wake_fd < 0)
		return -errno;
	for (i = 0; i < model->num_queues; i++)
		if (vd->kick_fd[i] < 0)
			return -errno;
	return 0;
}

static void virtio_stop_thread(struct virtio_dev *vd)
{
	uint64_t one = 1;

	if (!vd->thread_started)
		return;
	pthread_mutex_lock(&vd->lock);
	vd->quit = true;
	pthread_cond_broadcast(&vd->cond);
	pthread_mutex_unlock(&vd->lock);
	if (write(vd->wake_fd, &one, sizeof(one)) < 0)
		log_debug("%s: cannot wake the I/O thread", vd->name);
	pthread_join(vd->thread, NULL);
	vd->thread_started = false;
}

void virtio_destroy(struct virtio_dev *vd)
{
	unsigned int i;

	if (!vd->model)
		return; /* never initialised */
	virtio_stop_thread(vd);
	for (i = 0; i < VIRTIO_QUEUES_MAX; i++) {
		if (vd->kick_fd[i] >= 0)
			close(vd->kick_fd[i]);
		vd->kick_fd[i] = -1;
	}
	if (vd->wake_fd >= 0)
		close(vd->wake_fd);
	vd->wake_fd = -1;
	pthread_cond_destroy(&vd->cond);
	pthread_mutex_destroy(&vd->lock);
	vd->model = NULL;
}

int virtio_watch(struct virtio_dev *vd, int fd, void (*fn)(struct virtio_dev *))
{
	if (vd->nr_watch == ARRAY_SIZE(vd->watch) || fd < 0)
		return -EINVAL;
	vd->watch[vd->nr_watch++] = (struct virtio_watch){ fd, fn, false };
	return 0;
}

void virtio_watch_set(struct virtio_dev *vd, int fd, bool on)
{
	unsigned int i;

	for (i = 0; i < vd->nr_watch; i++)
		if (vd->watch[i].fd == fd)
			vd->watch[i].off = !on;
}

static void virtio_drain_fd(int fd)
{
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("eventfd read: %s", strerror(errno));
}

static void virtio_on_wake(struct virtio_dev *vd)
{
	bool work;

	virtio_drain_fd(vd->wake_fd);
	pthread_mutex_lock(&vd->lock);
	work = vd->wake_pending;
	vd->wake_pending = false;
	pthread_mutex_unlock(&vd->lock);
	if (work)
		vd->model->wake(vd);
}

/* What the thread waits on: wake, each queue's kick, the watches. */
static unsigned int virtio_pollset(struct virtio_dev *vd, struct pollfd *p)
{
	unsigned int n = 0, i;

	p[n++] = (struct pollfd){ .fd = vd->wake_fd, .events = POLLIN };
	for (i = 0; i < vd->model->num_queues; i++)
		p[n++] = (struct pollfd){ .fd = vd->kick_fd[i],
					  .events = POLLIN };
	for (i = 0; i < vd->nr_watch; i++) {
		/* poll() skips a negative fd: a watch that is off */
		int fd = vd->watch[i].off ? -1 : vd->watch[i].fd;

		p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}
	return n;
}

int virtio_poll(struct virtio_dev *vd, int timeout_ms)
{
	struct pollfd p[1 + VIRTIO_QUEUES_MAX + ARRAY_SIZE(vd->watch)];
	unsigned int nq = vd->model->num_queues, i;
	int handled = 0;

	if (poll(p, virtio_pollset(vd, p), timeout_ms) <= 0)
		return 0;
	if (p[0].revents) {
		handled++;
		virtio_on_wake(vd);
	}
	for (i = 0; i < nq; i++) {
		if (!p[1 + i].revents)
			continue;
		handled++;
		virtio_drain_fd(vd->kick_fd[i]);
		if (virtio_live_queue(vd, i))
			vd->model->queue_work(vd, i);
	}
	for (i = 0; i < vd->nr_watch; i++) {
		if (!p[1 + nq + i].revents)
			continue;
		handled++;
		vd->watch[i].fn(vd);
	}
	return handled;
}

/* Park while asked to; true when the thread must end. */
static bool virtio_thread_park(struct virtio_dev *vd)
{
	bool quit;

	pthread_mutex_lock(&vd->lock);
	if (vd->park_req && !vd->quit) {
		pthread_mutex_unlock(&vd->lock);
		vd->model->drain(vd);
		pthread_mutex_lock(&vd->lock);
		vd->parked = true;
		pthread_cond_broadcast(&vd->cond);
		while (vd->park_req && !vd->quit)
			pthread_cond_wait(&vd->cond, &vd->lock);
		vd->parked = false;
	}
	quit = vd->quit;
	pthread_mutex_unlock(&vd->lock);
	return quit;
}

static void *virtio_thread(void *arg)
{
	struct virtio_dev *vd = arg;
	char name[16];

	snprintf(name, sizeof(name), "io-%s", vd->name);
	pthread_setname_np(pthread_self(), name);
	while (!virtio_thread_park(vd))
		virtio_poll(vd, -1);
	/* Parkers waiting now see a thread that will never run again. */
	pthread_mutex_lock(&vd->lock);
	vd->parked = true;
	pthread_cond_broadcast(&vd->cond);
	pthread_mutex_unlock(&vd->lock);
	return NULL;
}

int virtio_start_thread(struct virtio_dev *vd)
{
	int r = pthread_create(&vd->thread, NULL, virtio_thread, vd);

	if (r)
		return -r;
	vd->thread_started = true;
	return 0;
}

void virtio_park_locked(struct virtio_dev *vd)
{
	uint64_t one = 1;

	vd->park_req++;
	/* The thread itself (a model failing a queue) is never in the way. */
	if (!vd->thread_started || pthread_equal(pthread_self(), vd->thread))
		return;
	if (write(vd->wake_fd, &one, sizeof(one)) < 0)
		log_debug("%s: cannot wake the I/O thread", vd->name);
	while (!vd->parked)
		pthread_cond_wait(&vd->cond, &vd->lock);
}

void virtio_unpark_locked(struct virtio_dev *vd)
{
	if (vd->park_req && --vd->park_req == 0)
		pthread_cond_broadcast(&vd->cond);
}

void virtio_wake(struct virtio_dev *vd)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vd->lock);
	vd->wake_pending = true;
	pthread_mutex_unlock(&vd->lock);
	if (write(vd->wake_fd, &one, sizeof(one)) < 0)
		log_debug("%s: cannot wake the I/O thread", vd->name);
}

void virtio_reset(struct virtio_dev *vd)
{
	pthread_mutex_lock(&vd->lock);
	virtio_set_status(vd, 0);
	pthread_mutex_unlock(&vd->lock);
}

void virtio_quiesce(struct virtio_dev *vd)
{
	pthread_mutex_lock(&vd->lock);
	virtio_park_locked(vd);
	pthread_mutex_unlock(&vd->lock);
}

void virtio_resume(struct virtio_dev *vd)
{
	unsigned int i;

	pthread_mutex_lock(&vd->lock);
	virtio_unpark_locked(vd);
	/* Kicks and EOIs the old VM saw, or that came while parked. */
	if (!vd->park_req) {
		vd->transport->renotify(vd);
		for (i = 0; i < vd->model->num_queues; i++)
			virtio_kick(vd, i);
	}
	pthread_mutex_unlock(&vd->lock);
}
