/*
 * qcow2 requests: reads through the backing chain, writes in place or
 * into a new cluster (copying the rest of the cluster from the backing
 * file, or zeroes), zero clusters, discard, flush; the submitting
 * thread's fast mapping; what a range is (allocated, zero, the backing
 * file's). Runs on pool threads; metadata under each image's lock, data
 * I/O outside it. The write order is the one qcow2.h describes.
 */
#include "storage/qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/falloc.h>

#include "common/log.h"
#include "storage/internal.h"

#define SCRATCH_SEGS (DISK_IOV_MAX + 8)
#define ZEROS_LEN (1u << QCOW2_MAX_CLUSTER_BITS)

/* Never written: a source of zeroes for writes (bss, aligned). */
static uint8_t zeros[ZEROS_LEN] __attribute__((aligned(4096)));

/* A cursor over a request's segments. */
struct iovc {
	const struct iovec *iov;
	unsigned int cnt;
	size_t skip; /* bytes of iov[0] already used */
};

/* The next len bytes of c as segments appended to out[*n]; advance c. */
static int iovc_take(struct iovc *c, uint64_t len, struct iovec *out,
		     unsigned int *n, unsigned int max)
{
	size_t step;

	while (len) {
		if (!c->cnt || *n >= max)
			return -EINVAL;
		step = MIN(len, c->iov->iov_len - c->skip);
		out[(*n)++] =
			(struct iovec){ (char *)c->iov->iov_base + c->skip,
					step };
		len -= step;
		c->skip += step;
		if (c->skip == c->iov->iov_len) {
			c->iov++;
			c->cnt--;
			c->skip = 0;
		}
	}
	return 0;
}

/* Zero the next len bytes of c. */
static void iovc_zero(struct iovc *c, uint64_t len)
{
	struct iovec seg[1];
	unsigned int n;

	while (len) {
		n = 0;
		if (iovc_take(c, MIN(len, c->iov->iov_len - c->skip), seg, &n,
			      1))
			return;
		memset(seg[0].iov_base, 0, seg[0].iov_len);
		len -= seg[0].iov_len;
	}
}

/* Append len zero bytes as segments. */
static int zero_segs(uint64_t len, struct iovec *out, unsigned int *n,
		     unsigned int max)
{
	while (len) {
		if (*n >= max)
			return -EINVAL;
		out[(*n)++] = (struct iovec){ zeros, MIN(len, ZEROS_LEN) };
		len -= MIN(len, ZEROS_LEN);
	}
	return 0;
}

/*
 * preadv/pwritev all of it (iov is scratch and gets consumed). A read
 * that meets the end of the file reads zeroes there: a cluster's tail
 * that was never written.
 */
static int rw_full(int fd, bool write, struct iovec *iov, unsigned int cnt,
		   uint64_t off)
{
	ssize_t r;
	size_t step;

	while (cnt) {
		if (!iov->iov_len) { /* an empty fill segment */
			iov++;
			cnt--;
			continue;
		}
		r = write ? pwritev(fd, iov, MIN(cnt, (unsigned int)IOV_MAX),
				    off) :
			    preadv(fd, iov, MIN(cnt, (unsigned int)IOV_MAX),
				   off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0 && write)
			return -EIO;
		if (r == 0) {
			for (; cnt; cnt--, iov++)
				memset(iov->iov_base, 0, iov->iov_len);
			return 0;
		}
		off += r;
		while (r && cnt) {
			step = MIN((size_t)r, iov->iov_len);
			iov->iov_base = (char *)iov->iov_base + step;
			iov->iov_len -= step;
			r -= step;
			if (!iov->iov_len) {
				iov++;
				cnt--;
			}
		}
	}
	return 0;
}

static uint64_t cl_mask(const struct qcow2 *q)
{
	return q->cluster_size - 1;
}

static enum qcow2_kind kind_of(uint64_t e)
{
	if (e & QCOW2_OFLAG_COMPRESSED)
		return QCOW2_KIND_COMPRESSED;
	if (e & QCOW2_OFLAG_ZERO)
		return QCOW2_KIND_ZERO;
	return (e & QCOW2_OFFSET_MASK) ? QCOW2_KIND_DATA : QCOW2_KIND_UNALLOC;
}

/*
 * What [off, off+len) starts with: its kind, for DATA the host offset,
 * and how many bytes continue alike (DATA, if contig: at contiguous host
 * offsets, with the COPIED flag alike). Under q->lock.
 */
static int extent_of(struct qcow2 *q, uint64_t off, uint64_t len, bool contig,
		     enum qcow2_kind *kind, uint64_t *host, uint64_t *n)
{
	uint64_t e, e2, next, in = off & cl_mask(q);
	int rc;

	rc = qcow2_l2_get(q, off, &e);
	if (rc)
		return rc;
	*kind = kind_of(e);
	*host = (e & QCOW2_OFFSET_MASK) + in;
	*n = MIN(len, q->cluster_size - in);
	next = off - in + q->cluster_size;
	while (*n < len && *kind != QCOW2_KIND_COMPRESSED) {
		rc = qcow2_l2_get(q, next, &e2);
		if (rc)
			return rc;
		if (kind_of(e2) != *kind ||
		    (*kind == QCOW2_KIND_DATA && contig &&
		     ((e2 & QCOW2_OFFSET_MASK) !=
			      (e & QCOW2_OFFSET_MASK) + (next - (off - in)) ||
		      (e2 & QCOW2_OFLAG_COPIED) != (e & QCOW2_OFLAG_COPIED))))
			break;
		*n += MIN(len - *n, q->cluster_size);
		next += q->cluster_size;
	}
	return 0;
}

static int extent(struct qcow2 *q, uint64_t off, uint64_t len,
		  enum qcow2_kind *kind, uint64_t *host, uint64_t *n)
{
	return extent_of(q, off, len, true, kind, host, n);
}

static int compressed_refused(const struct qcow2 *q, uint64_t off)
{
	log_err("disk %s: %s: compressed cluster at guest offset %" PRIu64
		": compressed clusters are not supported (qemu-img convert the image without -c)",
		q->label, q->path, off);
	return -ENOTSUP;
}

static int read_img(struct qcow2 *q, uint64_t off, uint64_t len, struct iovc *c,
		    struct iovec *scratch);

/* A raw backing file: zeroes past its end. */
static int read_raw(struct qcow2 *q, uint64_t off, uint64_t len, struct iovc *c,
		    struct iovec *scratch)
{
	uint64_t have = off < q->size ? MIN(len, q->size - off) : 0;
	unsigned int n = 0;
	int rc;

	rc = iovc_take(c, have, scratch, &n, SCRATCH_SEGS);
	if (!rc && n)
		rc = rw_full(q->fd, false, scratch, n, off);
	if (!rc)
		iovc_zero(c, len - have);
	return rc;
}

/* Unallocated in q: the backing file's (zeroes past its end), or zeroes. */
static int read_below(struct qcow2 *q, uint64_t off, uint64_t len,
		      struct iovc *c, struct iovec *scratch)
{
	struct qcow2 *b = q->backing;
	uint64_t have = b && off < b->size ? MIN(len, b->size - off) : 0;
	int rc = 0;

	if (have)
		rc = read_img(b, off, have, c, scratch);
	if (!rc)
		iovc_zero(c, len - have);
	return rc;
}

static int read_img(struct qcow2 *q, uint64_t off, uint64_t len, struct iovc *c,
		    struct iovec *scratch)
{
	enum qcow2_kind kind;
	uint64_t host, n;
	unsigned int segs;
	int rc = 0;

	if (q->raw)
		return read_raw(q, off, len, c, scratch);
	while (len && !rc) {
		pthread_mutex_lock(&q->lock);
		rc = extent(q, off, len, &kind, &host, &n);
		pthread_mutex_unlock(&q->lock);
		if (rc)
			return rc;
		switch (kind) {
		case QCOW2_KIND_DATA:
			segs = 0;
			rc = iovc_take(c, n, scratch, &segs, SCRATCH_SEGS);
			if (!rc)
				rc = rw_full(q->fd, false, scratch, segs, host);
			break;
		case QCOW2_KIND_ZERO:
			iovc_zero(c, n);
			break;
		case QCOW2_KIND_UNALLOC:
			rc = read_below(q, off, n, c, scratch);
			break;
		default:
			return compressed_refused(q, off);
		}
		off += n;
		len -= n;
	}
	return rc;
}

/* ---- allocating writes ---- */

static bool inflight_has(const struct qcow2 *q, uint64_t cl)
{
	const struct qcow2_inflight *f;

	for (f = q->inflight; f; f = f->next) {
		if (f->cluster == cl)
			return true;
	}
	return false;
}

/* Wait until no allocation of off's cluster is in progress. */
static void inflight_wait(struct qcow2 *q, uint64_t off)
{
	while (inflight_has(q, off >> q->h.cluster_bits))
		pthread_cond_wait(&q->cond, &q->lock);
}

static void inflight_del(struct qcow2 *q, struct qcow2_inflight *me)
{
	struct qcow2_inflight **p;

	for (p = &q->inflight; *p; p = &(*p)->next) {
		if (*p == me) {
			*p = me->next;
			break;
		}
	}
	pthread_cond_broadcast(&q->cond);
}

/* How an allocating write fills the rest of its cluster. */
enum fill { FILL_ZEROES, FILL_NOTHING, FILL_BACKING };

struct alloc {
	uint64_t off, n; /* the guest bytes written, inside one cluster */
	uint64_t host; /* the cluster */
	bool is_new; /* allocated now (freed again on failure) */
	enum fill fill;
	bool defer; /* the L2 entry waits for a sync */
	struct qcow2_inflight mark;
};

/* Decide from the L2 entry e where the write goes. Under q->lock. */
static int alloc_plan(struct qcow2 *q, uint64_t e, struct alloc *a)
{
	bool fresh = false;
	int rc;

	if (e & QCOW2_OFLAG_COMPRESSED)
		return compressed_refused(q, a->off);
	if ((e & QCOW2_OFFSET_MASK) && !(e & QCOW2_OFLAG_COPIED)) {
		log_err("disk %s: %s: L2 entry 0x%" PRIx64
			" for guest offset %" PRIu64
			" lacks the COPIED flag (a shared cluster): run qemu-img check",
			q->label, q->path, e, a->off);
		return -EIO;
	}
	if (e & QCOW2_OFFSET_MASK) { /* zero cluster with its allocation */
		a->host = e & QCOW2_OFFSET_MASK;
		a->fill = FILL_ZEROES;
		return 0;
	}
	rc = qcow2_alloc(q, &a->host, &fresh);
	if (rc)
		return rc;
	a->is_new = true;
	if (!(e & QCOW2_OFLAG_ZERO) && q->backing)
		a->fill = FILL_BACKING;
	else
		a->fill = fresh ? FILL_NOTHING : FILL_ZEROES;
	return 0;
}

/* The bytes of the cluster before and after the write, from below. */
static int backing_fill(struct qcow2 *q, const struct alloc *a, uint8_t *buf,
			uint64_t head, uint64_t tail, struct iovec *scratch)
{
	struct iovec v[2] = { { buf, head }, { buf + head, tail } };
	struct iovc c = { v, 2, 0 };
	uint64_t start = a->off - head;
	int rc = 0;

	if (!head)
		c = (struct iovc){ v + 1, 1, 0 };
	if (head)
		rc = read_below(q, start, head, &c, scratch);
	if (!rc && tail)
		rc = read_below(q, a->off + a->n, tail, &c, scratch);
	return rc;
}

/* Write the cluster: head fill, the guest's bytes, tail fill. */
static int alloc_write(struct qcow2 *q, struct alloc *a, struct iovc *c,
		       struct iovec *scratch)
{
	uint64_t head = a->off & cl_mask(q);
	uint64_t tail = q->cluster_size - head - a->n;
	struct iovec *segs = scratch + SCRATCH_SEGS / 2;
	unsigned int n = 0;
	uint8_t *buf = NULL;
	int rc = 0;

	if (a->fill == FILL_NOTHING)
		head = tail = 0;
	if (a->fill == FILL_BACKING && (head || tail)) {
		if (posix_memalign((void **)&buf, 4096, head + tail))
			return -ENOMEM;
		rc = backing_fill(q, a, buf, head, tail, scratch);
		segs[n++] = (struct iovec){ buf, head };
	} else {
		rc = zero_segs(head, segs, &n, SCRATCH_SEGS / 2);
	}
	if (!rc)
		rc = iovc_take(c, a->n, segs, &n, SCRATCH_SEGS / 2);
	if (!rc && buf)
		segs[n++] = (struct iovec){ buf + head, tail };
	else if (!rc)
		rc = zero_segs(tail, segs, &n, SCRATCH_SEGS / 2);
	if (!rc)
		rc = rw_full(q->fd, true, segs, n,
			     a->host + (a->off & cl_mask(q)) - head);
	/*
	 * What was copied from below (or zeroes over a reused cluster's old
	 * bytes) must reach the disk before the L2 entry that exposes it.
	 */
	a->defer = buf || (a->fill == FILL_ZEROES && (head || tail));
	free(buf);
	return rc;
}

/* A write into one cluster that is not allocated in place. Locked. */
static int write_alloc(struct qcow2 *q, uint64_t e, struct alloc *a,
		       struct iovc *c, struct iovec *scratch)
{
	int rc = alloc_plan(q, e, a);

	if (rc)
		return rc;
	a->mark = (struct qcow2_inflight){ a->off >> q->h.cluster_bits,
					   q->inflight };
	q->inflight = &a->mark;
	pthread_mutex_unlock(&q->lock);
	rc = alloc_write(q, a, c, scratch);
	pthread_mutex_lock(&q->lock);
	if (!rc && a->defer)
		rc = qcow2_l2_set_later(q, a->off,
					a->host | QCOW2_OFLAG_COPIED);
	else if (!rc)
		rc = qcow2_l2_set(q, a->off, a->host | QCOW2_OFLAG_COPIED);
	if (rc && a->is_new && qcow2_free(q, a->host))
		log_warn("disk %s: %s: cluster 0x%" PRIx64 " leaked", q->label,
			 q->path, a->host);
	inflight_del(q, &a->mark);
	return rc;
}

/* Write the next piece of [off, off+len): in place, or allocating. */
static int write_step(struct qcow2 *q, uint64_t off, uint64_t len,
		      struct iovc *c, struct iovec *scratch, uint64_t *done)
{
	struct alloc a = { .off = off };
	enum qcow2_kind kind;
	uint64_t host, n, e;
	unsigned int segs = 0;
	int rc;

	pthread_mutex_lock(&q->lock);
	inflight_wait(q, off);
	rc = extent(q, off, len, &kind, &host, &n);
	if (!rc)
		rc = qcow2_l2_get(q, off, &e);
	if (!rc && kind == QCOW2_KIND_DATA && (e & QCOW2_OFLAG_COPIED)) {
		pthread_mutex_unlock(&q->lock);
		*done = n;
		rc = iovc_take(c, n, scratch, &segs, SCRATCH_SEGS);
		return rc ? rc : rw_full(q->fd, true, scratch, segs, host);
	}
	a.n = *done = MIN(len, q->cluster_size - (off & cl_mask(q)));
	if (!rc)
		rc = write_alloc(q, e, &a, c, scratch);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static int write_range(struct qcow2 *q, uint64_t off, uint64_t len,
		       struct iovc *c, struct iovec *scratch)
{
	uint64_t done;
	int rc = 0;

	while (len && !rc) {
		rc = write_step(q, off, len, c, scratch, &done);
		off += done;
		len -= done;
	}
	return rc;
}

/* ---- zeroes and discard ---- */

/* The new L2 entry of a whole cluster zeroed or discarded. */
static uint64_t zeroed_entry(const struct qcow2 *q, uint64_t e, bool discard,
			     bool unmap, bool *free_out)
{
	bool owned = (e & QCOW2_OFFSET_MASK) && !(e & QCOW2_OFLAG_COMPRESSED) &&
		     (e & QCOW2_OFLAG_COPIED);

	*free_out = owned && (discard || unmap);
	if (discard)
		return q->backing ? QCOW2_OFLAG_ZERO : 0;
	if (unmap || !owned)
		return QCOW2_OFLAG_ZERO;
	/* Keep the allocation: a later write goes in place. */
	return (e & QCOW2_OFFSET_MASK) | QCOW2_OFLAG_COPIED | QCOW2_OFLAG_ZERO;
}

/* L2 entry first, the refcount after a sync: a crash between leaks. */
static int zero_cluster(struct qcow2 *q, uint64_t off, bool discard, bool unmap)
{
	uint64_t e, ne, host;
	bool do_free;
	int rc;

	pthread_mutex_lock(&q->lock);
	inflight_wait(q, off);
	rc = qcow2_l2_get(q, off, &e);
	if (rc)
		goto out;
	ne = zeroed_entry(q, e, discard, unmap, &do_free);
	if (ne != e)
		rc = qcow2_l2_set(q, off, ne);
	host = e & QCOW2_OFFSET_MASK;
	if (!rc && do_free)
		rc = qcow2_free_later(q, host);
	if (!rc && do_free &&
	    fallocate(q->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, host,
		      q->cluster_size) &&
	    errno != EOPNOTSUPP)
		log_debug("disk %s: punching a hole: %s", q->label,
			  strerror(errno));
out:
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static int zero_range(struct qcow2 *q, struct disk_req *req,
		      struct iovec *scratch)
{
	bool discard = req->op == DISK_OP_DISCARD;
	bool unmap = req->flags & DISK_REQ_UNMAP;
	uint64_t off = req->offset, len = req->total, in, n;
	struct iovec zv = { zeros, ZEROS_LEN };
	struct iovc zc;
	int rc = 0;

	while (len && !rc) {
		in = off & cl_mask(q);
		n = MIN(len, q->cluster_size - in);
		/* Whole clusters (the last one may end at the disk's end). */
		if (!in && (n == q->cluster_size || off + n == q->size)) {
			rc = zero_cluster(q, off, discard, unmap);
		} else if (!discard) {
			zc = (struct iovc){ &zv, 1, 0 };
			rc = write_range(q, off, n, &zc, scratch);
		}
		off += n;
		len -= n;
	}
	return rc;
}

int qcow2_exec(struct qcow2 *q, struct disk_req *req)
{
	struct iovec *scratch = NULL;
	const struct iovec *iov;
	unsigned int cnt;
	struct iovc c;
	int rc;

	if (req->op == DISK_OP_FLUSH) {
		pthread_mutex_lock(&q->lock);
		rc = qcow2_flush(q);
		pthread_mutex_unlock(&q->lock);
		return rc;
	}
	scratch = malloc(SCRATCH_SEGS * sizeof(*scratch));
	if (!scratch)
		return -ENOMEM;
	disk_req_segments(req, &iov, &cnt);
	c = (struct iovc){ iov, cnt, 0 };
	switch (req->op) {
	case DISK_OP_READ:
		rc = read_img(q, req->offset, req->total, &c, scratch);
		break;
	case DISK_OP_WRITE:
		rc = write_range(q, req->offset, req->total, &c, scratch);
		break;
	default:
		rc = zero_range(q, req, scratch);
	}
	free(scratch);
	return rc;
}

bool qcow2_map_fast(struct qcow2 *q, uint64_t off, uint64_t len, bool write,
		    uint64_t *host_out)
{
	uint64_t e, e2, first, in = off & cl_mask(q), next;
	bool ok;

	if (pthread_mutex_trylock(&q->lock))
		return false;
	ok = qcow2_l2_peek(q, off, &e) && kind_of(e) == QCOW2_KIND_DATA &&
	     (!write || (e & QCOW2_OFLAG_COPIED));
	first = e & QCOW2_OFFSET_MASK;
	for (next = off - in + q->cluster_size; ok && next < off + len;
	     next += q->cluster_size)
		ok = qcow2_l2_peek(q, next, &e2) &&
		     e2 == (e + next - (off - in));
	pthread_mutex_unlock(&q->lock);
	if (ok)
		*host_out = first + in;
	return ok;
}

int qcow2_status(struct qcow2 *q, uint64_t off, uint64_t len,
		 enum qcow2_kind *kind_out, uint64_t *n_out)
{
	uint64_t host;
	int rc;

	pthread_mutex_lock(&q->lock);
	rc = extent_of(q, off, len, false, kind_out, &host, n_out);
	pthread_mutex_unlock(&q->lock);
	return rc;
}
