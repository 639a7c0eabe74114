/*
 * virtio-blk: requests from the queues to the disk and back, on the
 * device's I/O thread (blk.h). A kick takes every chain there is a slot
 * for and submits them in one batch; the disk queue's eventfd brings the
 * completions, which free slots for chains left waiting on the ring.
 */
#include "devices/virtio/blk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/why.h"
#include "devices/virtio/blk_req.h"
#include "vmm/memory.h"
#include "vmm/vm.h"

#define BIT(n) (1ULL << (n))
/* Every feature this device may offer (RO and DISCARD per disk). */
#define BLK_FEATURES_ALL                                          \
	(BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_BLK_SIZE) | \
	 BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_MQ) |         \
	 BIT(VIRTIO_BLK_F_RO) | BIT(VIRTIO_BLK_F_DISCARD) |       \
	 BIT(VIRTIO_BLK_F_WRITE_ZEROES))

static struct virtio_blk *blk_of(struct virtio_dev *vd)
{
	return (struct virtio_blk *)vd;
}

static bool blk_acked(const struct virtio_blk *b, unsigned int bit)
{
	/* Fixed from FEATURES_OK on, before any queue can be used. */
	return b->vd.driver_features & BIT(bit);
}

/* ---- Requests ------------------------------------------------------------ */

/* Give r's chain back with its status; its slot is free again. */
static void blk_complete(struct virtio_blk_req *r, uint8_t status)
{
	struct virtio_blk *b = r->blk;
	struct virtio_blk_queue *bq = &b->q[r->qi];

	*r->status = status;
	mem_mark_dirty(b->vd.mem, r->status, 1);
	virtio_push(&b->vd, &b->vd.vq[r->qi], &r->e,
		    (status == VIRTIO_BLK_S_OK ? r->written : 0) + 1);
	r->next_free = bq->free;
	bq->free = r;
	bq->pushed = true;
	bq->completed++;
	b->requests++;
}

static void blk_io_error(struct virtio_blk *b, const struct disk_req *dr,
			 int rc)
{
	static const char *const ops[] = { "read", "write", "flush", "discard",
					   "write-zeroes" };

	if (b->io_error_logged)
		return;
	b->io_error_logged = true;
	log_warn(
		"%s: %s of %llu bytes at %llu failed: %s (the guest gets an I/O error; further failures are not logged)",
		b->vd.name, ops[dr->op], (unsigned long long)dr->len,
		(unsigned long long)dr->offset, strerror(-rc));
}

/* Disk completion (I/O thread, from disk_queue_poll or _drain). */
static void blk_done(struct disk_req *dr)
{
	struct virtio_blk_req *r = dr->opaque;
	struct virtio_blk *b = r->blk;
	unsigned int i;

	/* The kernel wrote guest RAM: pre-copy must send it, even a part. */
	if (dr->op == DISK_OP_READ)
		for (i = 0; i < dr->iovcnt; i++)
			mem_mark_dirty(b->vd.mem, r->iov[i].iov_base,
				       r->iov[i].iov_len);
	if (!dr->result && r->then_flush) { /* write-through */
		r->then_flush = false;
		dr->op = DISK_OP_FLUSH;
		dr->result = disk_submit(b->dq, dr);
		if (!dr->result)
			return;
	}
	if (dr->result)
		blk_io_error(b, dr, dr->result);
	blk_complete(r, dr->result ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
}

static void blk_submit(struct virtio_blk *b, struct virtio_blk_req *r,
		       const struct virtio_blk_parsed *p)
{
	bool changes = p->op != DISK_OP_READ && p->op != DISK_OP_FLUSH;
	int rc;

	r->dr = (struct disk_req){
		.op = p->op,
		/* Deallocating is discarding: only where DISCARD is offered. */
		.flags = (b->model.features & BIT(VIRTIO_BLK_F_DISCARD)) ?
				 p->flags :
				 0,
		.offset = p->offset,
		.len = p->len,
		.iov = r->iov,
		.iovcnt = p->iovcnt,
		.done = blk_done,
		.opaque = r,
	};
	r->then_flush = changes && !blk_acked(b, VIRTIO_BLK_F_FLUSH);
	rc = disk_submit(b->dq, &r->dr);
	if (rc) {
		blk_io_error(b, &r->dr, rc);
		blk_complete(r, VIRTIO_BLK_S_IOERR);
	}
}

/* Act on a chain just taken. false: the driver broke a rule. */
static bool blk_start(struct virtio_blk *b, struct virtio_blk_req *r)
{
	struct virtio_blk_limits lim = {
		.capacity = b->conf.size,
		.readonly = b->conf.readonly,
		.discard = blk_acked(b, VIRTIO_BLK_F_DISCARD),
		.write_zeroes = blk_acked(b, VIRTIO_BLK_F_WRITE_ZEROES),
	};
	struct virtio_blk_parsed p;
	char why[160];
	int rc = virtio_blk_parse(&lim, &r->e, r->iov, &p, why, sizeof(why));

	r->status = p.status_byte;
	r->written = p.written;
	switch (rc) {
	case VIRTIO_BLK_REQ_BROKEN:
		virtio_fail(&b->vd, "queue %u: %s", r->qi, why);
		r->next_free = b->q[r->qi].free; /* never given back */
		b->q[r->qi].free = r;
		return false;
	case VIRTIO_BLK_REQ_DONE:
		blk_complete(r, p.status);
		return true;
	case VIRTIO_BLK_REQ_ID:
		r->written = vq_copy_to(&b->vd.vq[r->qi], &r->e, 0,
					b->conf.serial, p.written);
		blk_complete(r, VIRTIO_BLK_S_OK);
		return true;
	default:
		blk_submit(b, r, &p);
		return true;
	}
}

/* Take queue qi's chains while there are free slots, in one batch. */
static void blk_take(struct virtio_blk *b, unsigned int qi)
{
	struct vq *q = virtio_live_queue(&b->vd, qi);
	struct virtio_blk_queue *bq = &b->q[qi];
	struct virtio_blk_req *r;
	bool ok = true;

	if (!q)
		return;
	disk_queue_plug(b->dq);
	while (ok && (r = bq->free)) {
		r->e = (struct vq_elem){ .buf = r->buf,
					 .max = ARRAY_SIZE(r->buf) };
		if (virtio_pop(&b->vd, q, &r->e) <= 0)
			break;
		bq->free = r->next_free;
		ok = blk_start(b, r);
	}
	bq->starved = !bq->free;
	if (disk_queue_unplug(b->dq))
		log_warn(
			"%s: cannot submit to the disk now; retried at the next request",
			b->vd.name);
}

/* Interrupt the driver for the queues with new used entries. */
static void blk_signal(struct virtio_blk *b)
{
	unsigned int i;

	for (i = 0; i < b->model.num_queues; i++) {
		if (!b->q[i].pushed)
			continue;
		b->q[i].pushed = false;
		virtio_flush(&b->vd, i);
	}
}

static void blk_queue_work(struct virtio_dev *vd, unsigned int qi)
{
	blk_take(blk_of(vd), qi);
	blk_signal(blk_of(vd));
}

/* The disk queue's eventfd: completions, then chains left waiting. */
static void blk_on_io(struct virtio_dev *vd)
{
	struct virtio_blk *b = blk_of(vd);
	unsigned int i;

	disk_queue_poll(b->dq);
	blk_signal(b);
	for (i = 0; i < b->model.num_queues; i++)
		if (b->q[i].starved && b->q[i].free)
			blk_take(b, i);
	blk_signal(b);
}

/* Before the I/O thread parks: nothing taken stays unfinished. */
static void blk_drain(struct virtio_dev *vd)
{
	struct virtio_blk *b = blk_of(vd);
	unsigned int n = b->dq ? disk_queue_in_flight(b->dq) : 0;

	if (n)
		log_debug("%s: quiesce completed %u requests in flight",
			  vd->name, n);
	if (n && disk_queue_drain(b->dq, VIRTIO_BLK_DRAIN_MS))
		log_err("%s: %u requests still in flight after %u s: the disk does not answer; they complete later, if ever",
			vd->name, disk_queue_in_flight(b->dq),
			VIRTIO_BLK_DRAIN_MS / 1000);
	blk_signal(b);
}

/* No host-side events: the disk queue has its own watch. */
static void blk_wake(struct virtio_dev *vd)
{
}

/* writeback (offset 32) needs CONFIG_WCE, which is not offered. */
static void blk_config_write(struct virtio_dev *vd, uint32_t off,
			     const uint8_t *data, uint32_t len)
{
}

/* ---- Configuration ------------------------------------------------------- */

static uint64_t blk_features(const struct virtio_blk_conf *c)
{
	uint64_t f = BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_BLK_SIZE) |
		     BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_MQ);

	if (c->readonly)
		return f | BIT(VIRTIO_BLK_F_RO);
	f |= BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	/* Described only (godwit inspect): the disk may discard. */
	if (c->discard && (!c->disk || disk_get_info(c->disk)->can_discard))
		f |= BIT(VIRTIO_BLK_F_DISCARD);
	return f;
}

static const struct virtio_model blk_model_template = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.queue_max = VIRTIO_BLK_QUEUE_MAX,
	.config_size = VIRTIO_BLK_CONFIG_SIZE,
	.queue_work = blk_queue_work,
	.wake = blk_wake,
	.drain = blk_drain,
	.config_write = blk_config_write,
};

static void blk_model_init(struct virtio_model *m,
			   const struct virtio_blk_conf *c,
			   void (*reset)(struct virtio_dev *))
{
	*m = blk_model_template;
	m->num_queues = c->num_queues;
	m->features = blk_features(c);
	m->reset = reset;
}

static void put(uint8_t *config, unsigned int off, uint64_t v, size_t n)
{
	memcpy(config + off, &v, n); /* little-endian host */
}

static uint32_t get32(const uint8_t *config, unsigned int off)
{
	uint32_t v;

	memcpy(&v, config + off, 4);
	return v;
}

static void blk_config_space(struct virtio_blk *b)
{
	uint8_t *c = b->vd.config;
	uint64_t f = b->model.features;
	uint32_t bs = disk_get_info(b->conf.disk)->block_size;
	uint32_t dmax =
		(f & BIT(VIRTIO_BLK_F_DISCARD)) ? VIRTIO_BLK_DISCARD_MAX : 0;
	uint32_t zmax = (f & BIT(VIRTIO_BLK_F_WRITE_ZEROES)) ?
				VIRTIO_BLK_DISCARD_MAX :
				0;

	memset(c, 0, sizeof(b->vd.config));
	put(c, VIRTIO_BLK_CFG_CAPACITY, b->conf.size / 512, 8);
	put(c, VIRTIO_BLK_CFG_SEG_MAX, VIRTIO_BLK_SEG_MAX, 4);
	put(c, VIRTIO_BLK_CFG_BLK_SIZE, bs, 4);
	put(c, VIRTIO_BLK_CFG_NUM_QUEUES, b->model.num_queues, 2);
	put(c, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, dmax, 4);
	put(c, VIRTIO_BLK_CFG_MAX_DISCARD_SEG, !!dmax, 4);
	put(c, VIRTIO_BLK_CFG_DISCARD_ALIGNMENT, dmax ? bs / 512 : 0, 4);
	put(c, VIRTIO_BLK_CFG_MAX_WZ_SECTORS, zmax, 4);
	put(c, VIRTIO_BLK_CFG_MAX_WZ_SEG, !!zmax, 4);
	put(c, VIRTIO_BLK_CFG_WZ_MAY_UNMAP, !!dmax, 1);
}

/* Power-on (vd->lock held, I/O thread parked: nothing in flight). */
static void blk_reset(struct virtio_dev *vd)
{
	struct virtio_blk *b = blk_of(vd);
	unsigned int qi, i;

	blk_config_space(b);
	if (!b->dq || disk_queue_in_flight(b->dq))
		return; /* a stuck disk keeps its slots (blk_drain said so) */
	for (qi = 0; qi < b->model.num_queues; qi++) {
		struct virtio_blk_queue *bq = &b->q[qi];

		*bq = (struct virtio_blk_queue){ 0 };
		for (i = VIRTIO_BLK_DEPTH; i-- > 0;) {
			struct virtio_blk_req *r =
				&b->reqs[qi * VIRTIO_BLK_DEPTH + i];

			r->blk = b;
			r->qi = qi;
			r->next_free = bq->free;
			bq->free = r;
		}
	}
}

int virtio_blk_setup(struct virtio_blk *b, const struct dev_host *host,
		     struct guest_mem *mem)
{
	const struct virtio_blk_conf *c = host->arg;
	unsigned int nq;
	int rc;

	/* destroy() may follow a failure before the line exists. */
	b->mmio.line.irqfd = b->mmio.line.resample_fd = -1;
	if (!c || !c->disk || !c->num_queues ||
	    c->num_queues > VIRTIO_QUEUES_MAX)
		return -EINVAL;
	b->conf = *c;
	nq = c->num_queues;
	blk_model_init(&b->model, c, blk_reset);
	b->reqs = calloc(nq * VIRTIO_BLK_DEPTH, sizeof(*b->reqs));
	if (!b->reqs)
		return -ENOMEM;
	rc = disk_queue_new(c->disk, nq * VIRTIO_BLK_DEPTH, &b->dq);
	if (!rc)
		rc = virtio_init(&b->vd, &b->model, &virtio_mmio_transport, mem,
				 host->id ? host->id : "blk");
	if (!rc)
		rc = virtio_mmio_init(&b->mmio, &b->vd, host->vm, &host->res);
	if (!rc)
		rc = virtio_watch(&b->vd, disk_queue_fd(b->dq), blk_on_io);
	if (!rc && host->vm)
		rc = virtio_start_thread(&b->vd);
	return rc;
}

/* ---- The device descriptor (device.h) ---------------------------------- */

static int blk_realize(void *dev, const struct dev_host *host)
{
	return virtio_blk_setup(dev, host, &host->vm->mem);
}

static void blk_reset_op(void *dev)
{
	virtio_reset(&blk_of(dev)->vd);
}

static void blk_quiesce(void *dev)
{
	virtio_quiesce(&blk_of(dev)->vd);
}

static void blk_resume(void *dev)
{
	virtio_resume(&blk_of(dev)->vd);
}

static void blk_save(void *dev, void *state)
{
	struct virtio_blk *b = dev;
	struct virtio_blk_state *st = state;
	const uint8_t *c = b->vd.config;

	virtio_mmio_save(&b->vd, &st->vio);
	st->capacity = b->conf.size / 512;
	st->features = b->model.features | VIRTIO_CORE_FEATURES;
	st->seg_max = get32(c, VIRTIO_BLK_CFG_SEG_MAX);
	st->blk_size = get32(c, VIRTIO_BLK_CFG_BLK_SIZE);
	st->max_discard_sectors = get32(c, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS);
	st->max_write_zeroes_sectors = get32(c, VIRTIO_BLK_CFG_MAX_WZ_SECTORS);
	st->num_queues = b->model.num_queues;
	memcpy(st->serial, b->conf.serial, sizeof(st->serial));
}

/* The config space fields against what this disk shows a guest. */
static int blk_check_config(const struct virtio_blk_conf *c,
			    const struct virtio_blk_state *st, char *why,
			    size_t whylen)
{
	uint32_t bs = st->blk_size;
	uint32_t dmax = (st->features & BIT(VIRTIO_BLK_F_DISCARD)) ?
				VIRTIO_BLK_DISCARD_MAX :
				0;
	uint32_t zmax = (st->features & BIT(VIRTIO_BLK_F_WRITE_ZEROES)) ?
				VIRTIO_BLK_DISCARD_MAX :
				0;

	if (st->capacity != c->size / 512)
		return why_set(
			why, whylen, -EINVAL,
			"capacity of %llu sectors, but the disk is %llu sectors here",
			(unsigned long long)st->capacity,
			(unsigned long long)(c->size / 512));
	if (st->num_queues != c->num_queues ||
	    st->seg_max != VIRTIO_BLK_SEG_MAX)
		return why_set(
			why, whylen, -EINVAL,
			"%u queues of %u segments, but this disk has %u of %u",
			st->num_queues, st->seg_max, c->num_queues,
			VIRTIO_BLK_SEG_MAX);
	if (bs < 512 || bs > 65536 || (bs & (bs - 1)))
		return why_set(why, whylen, -EINVAL, "block size %u", bs);
	if (c->disk && bs != disk_get_info(c->disk)->block_size)
		return why_set(
			why, whylen, -EINVAL,
			"block size %u, but the disk opened here needs %u", bs,
			disk_get_info(c->disk)->block_size);
	if (st->max_discard_sectors != dmax ||
	    st->max_write_zeroes_sectors != zmax)
		return why_set(
			why, whylen, -EINVAL,
			"discard limits %u and %u sectors, not %u and %u",
			st->max_discard_sectors, st->max_write_zeroes_sectors,
			dmax, zmax);
	if (memcmp(st->serial, c->serial, sizeof(st->serial)))
		return why_set(why, whylen, -EINVAL,
			       "serial '%.20s', but this disk is '%s'",
			       st->serial, c->serial);
	return 0;
}

static int blk_check(const struct dev_env *env, const void *state, char *why,
		     size_t whylen)
{
	const struct virtio_blk_state *st = state;
	const struct virtio_blk_conf *c = env->arg;
	bool ro = st->features & BIT(VIRTIO_BLK_F_RO);
	struct virtio_model m;
	unsigned int i;
	int rc;

	if (!c)
		return why_set(why, whylen, -EINVAL,
			       "no disk is configured for it");
	if (st->reserved0 || st->reserved1 || st->reserved2)
		return why_set(why, whylen, -EINVAL,
			       "reserved field is not zero");
	if (st->features & ~(BLK_FEATURES_ALL | VIRTIO_CORE_FEATURES))
		return why_set(
			why, whylen, -EINVAL,
			"offered features 0x%llx that virtio-blk does not have",
			(unsigned long long)st->features);
	if (ro != c->readonly)
		return why_set(why, whylen, -EINVAL,
			       "saved %s, but the disk is configured %s",
			       ro ? "read-only" : "read-write",
			       c->readonly ? "read-only" : "read-write");
	if (st->vio.driver_features & ~st->features)
		return why_set(
			why, whylen, -EINVAL,
			"acknowledged features 0x%llx were not offered (0x%llx)",
			(unsigned long long)st->vio.driver_features,
			(unsigned long long)st->features);
	rc = blk_check_config(c, st, why, whylen);
	if (rc)
		return rc;
	for (i = 0; i < VIRTIO_STATE_QUEUES; i++)
		if (st->vio.queue[i].next_avail != st->vio.queue[i].next_used)
			return why_set(
				why, whylen, -EINVAL,
				"queue %u has requests in flight (next_avail %u, next_used %u): they would be lost",
				i, st->vio.queue[i].next_avail,
				st->vio.queue[i].next_used);
	/* What the guest acknowledged, this disk must offer too. */
	blk_model_init(&m, c, NULL);
	return virtio_mmio_check(&m, env, &st->vio, why, whylen);
}

static int blk_load(void *dev, const void *state)
{
	const struct virtio_blk_state *st = state;
	struct virtio_blk *b = dev;
	unsigned int i;

	for (i = 0; i < b->model.num_queues; i++)
		b->q[i].first_used = st->vio.queue[i].next_used;
	return virtio_mmio_load(&b->vd, &st->vio);
}

/*
 * Which part of each ring this process served: a chain of processes
 * (restores, migration hops) must continue each other's indices, no gap
 * (a lost request) and no overlap (one done twice). Debug: campaigns.
 */
static void blk_log_rings(struct virtio_blk *b)
{
	unsigned int i;

	for (i = 0; i < b->model.num_queues; i++)
		log_debug(
			"%s: queue %u: %llu requests completed, used index %u to %u",
			b->vd.name, i, (unsigned long long)b->q[i].completed,
			b->q[i].first_used, b->vd.vq[i].next_used);
}

static void blk_destroy(void *dev)
{
	struct virtio_blk *b = dev;

	if (b->reqs && b->vd.model)
		blk_log_rings(b);

	virtio_destroy(&b->vd);
	if (b->dq)
		disk_queue_free(b->dq, VIRTIO_BLK_DRAIN_MS);
	b->dq = NULL;
	virtio_mmio_destroy(&b->mmio);
	free(b->reqs);
	b->reqs = NULL;
}

const struct dev_type virtio_blk_type = {
	.name = "virtio-blk",
	.state_version = VIRTIO_BLK_STATE_VERSION,
	.state_size = sizeof(struct virtio_blk_state),
	.size = sizeof(struct virtio_blk),
	.realize = blk_realize,
	.reset = blk_reset_op,
	.quiesce = blk_quiesce,
	.save = blk_save,
	.check = blk_check,
	.load = blk_load,
	.resume = blk_resume,
	.destroy = blk_destroy,
};
