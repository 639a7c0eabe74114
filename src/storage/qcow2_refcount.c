/*
 * qcow2 refcounts: entries of any width (1 to 64 bits), refcount blocks
 * (cached; new ones written and synced before the table points at
 * them), a refcount table that grows by moving to the end of the file
 * (one header write switches to it), and cluster allocation in reserved
 * runs whose refcounts are raised and synced before any cluster of the
 * run is used. Callers hold q->lock.
 */
#include "storage/qcow2.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

#define RESERVE_BYTES_MAX (64u << 20) /* leaked at most by a crash */
#define RESERVE_FIRST 16
#define FREES_MAX 4096 /* pending frees: leaked at most by a crash */

static uint64_t csize(const struct qcow2 *q)
{
	return q->cluster_size;
}

uint64_t qcow2_rb_get(const void *block, unsigned int order, uint64_t i)
{
	const uint8_t *b = block;
	unsigned int bits = 1u << order;
	uint16_t v16;
	uint32_t v32;

	switch (order) {
	case 6:
		return qcow2_be64_get(block, i);
	case 5:
		memcpy(&v32, b + i * 4, 4);
		return be32toh(v32);
	case 4:
		memcpy(&v16, b + i * 2, 2);
		return be16toh(v16);
	case 3:
		return b[i];
	default: /* packed, lowest-order bits first */
		return (b[i * bits / 8] >> (i * bits % 8)) & ((1u << bits) - 1);
	}
}

void qcow2_rb_set(void *block, unsigned int order, uint64_t i, uint64_t v)
{
	uint8_t *b = block;
	unsigned int bits = 1u << order, sh;
	uint16_t v16;
	uint32_t v32;

	switch (order) {
	case 6:
		qcow2_be64_put(block, i, v);
		break;
	case 5:
		v32 = htobe32(v);
		memcpy(b + i * 4, &v32, 4);
		break;
	case 4:
		v16 = htobe16(v);
		memcpy(b + i * 2, &v16, 2);
		break;
	case 3:
		b[i] = v;
		break;
	default:
		sh = i * bits % 8;
		b[i * bits / 8] &= ~(((1u << bits) - 1) << sh);
		b[i * bits / 8] |= (v & ((1u << bits) - 1)) << sh;
	}
}

/* ---- refcounts ---- */

static int load_refblock(struct qcow2 *q, uint64_t ti, void **b_out)
{
	struct qcow2_slot *s;
	int rc;

	*b_out = qcow2_cache_find(&q->rbc, ti);
	if (*b_out)
		return 0;
	s = qcow2_cache_take(&q->rbc, ti, csize(q));
	if (!s)
		return -ENOMEM;
	rc = qcow2_pread_full(q->meta_fd, s->data, csize(q), q->rt[ti]);
	if (rc) {
		qcow2_meta_error(q,
				 "cannot read refcount block %" PRIu64 ": %s",
				 ti, strerror(-rc));
		return -EIO;
	}
	s->valid = true;
	*b_out = s->data;
	return 0;
}

int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *rc_out)
{
	uint64_t ti = cluster >> q->rb_bits;
	void *b;
	int rc;

	*rc_out = 0;
	if (ti >= q->rt_entries || !q->rt[ti])
		return 0;
	rc = load_refblock(q, ti, &b);
	if (!rc)
		*rc_out = qcow2_rb_get(b, q->h.refcount_order,
				       cluster & ((1ull << q->rb_bits) - 1));
	return rc;
}

/* The next cluster at the end of the file, for new metadata. */
static uint64_t take_end_cluster(struct qcow2 *q)
{
	uint64_t c = q->file_end >> q->h.cluster_bits;

	q->file_end += csize(q);
	return c;
}

int qcow2_sync_meta(struct qcow2 *q)
{
	return fdatasync(q->meta_fd) ? -errno : 0;
}

static int refcount_set(struct qcow2 *q, uint64_t c, uint64_t v, int depth);

/* Write the refcount table entry ti (the table itself moves in grow_rt). */
static int write_rt_entry(struct qcow2 *q, uint64_t ti)
{
	uint64_t be = htobe64(q->rt[ti]);

	return qcow2_pwrite_full(q->meta_fd, &be, 8, q->h.rt_offset + ti * 8);
}

/*
 * A new refcount block for table index ti at the end of the file. It
 * counts itself when it covers its own cluster; otherwise its cluster is
 * counted first, in the block that covers it. Written and synced before
 * the table entry points at it.
 */
static int new_refblock(struct qcow2 *q, uint64_t ti, int depth)
{
	uint64_t b = take_end_cluster(q), mask = (1ull << q->rb_bits) - 1;
	struct qcow2_slot *s;
	int rc;

	if (depth > 3)
		return -EIO;
	if ((b >> q->rb_bits) != ti) {
		rc = refcount_set(q, b, 1, depth + 1);
		if (rc)
			return rc;
	}
	s = qcow2_cache_take(&q->rbc, ti, csize(q));
	if (!s)
		return -ENOMEM;
	memset(s->data, 0, csize(q));
	if ((b >> q->rb_bits) == ti)
		qcow2_rb_set(s->data, q->h.refcount_order, b & mask, 1);
	rc = qcow2_pwrite_full(q->meta_fd, s->data, csize(q),
			       b << q->h.cluster_bits);
	if (!rc)
		rc = qcow2_sync_meta(q);
	if (rc)
		return rc;
	s->valid = true;
	q->rt[ti] = b << q->h.cluster_bits;
	return write_rt_entry(q, ti);
}

static int grow_rt(struct qcow2 *q, uint64_t need_ti);

static int refblock_for(struct qcow2 *q, uint64_t c, void **b_out, int depth)
{
	uint64_t ti = c >> q->rb_bits;
	int rc;

	if (ti >= q->rt_entries) {
		rc = grow_rt(q, ti);
		if (rc)
			return rc;
	}
	if (!q->rt[ti]) {
		rc = new_refblock(q, ti, depth);
		if (rc)
			return rc;
	}
	return load_refblock(q, ti, b_out);
}

/* Write the aligned 8 bytes holding entry i of refcount block ti. */
static int write_rb_word(struct qcow2 *q, uint64_t ti, const void *b,
			 uint64_t i)
{
	uint64_t byte = (i << q->h.refcount_order) / 8 & ~7ull;

	return qcow2_pwrite_full(q->meta_fd, (const char *)b + byte, 8,
				 q->rt[ti] + byte);
}

static int refcount_set(struct qcow2 *q, uint64_t c, uint64_t v, int depth)
{
	unsigned int order = q->h.refcount_order;
	uint64_t i = c & ((1ull << q->rb_bits) - 1);
	void *b;
	int rc;

	if (order < 6 && v >> (1u << order)) {
		qcow2_meta_error(q,
				 "refcount overflow: cluster %" PRIu64
				 " cannot count %" PRIu64 " (%u-bit refcounts)",
				 c, v, 1u << order);
		return -ERANGE;
	}
	rc = refblock_for(q, c, &b, depth);
	if (rc)
		return rc;
	qcow2_rb_set(b, order, i, v);
	rc = write_rb_word(q, c >> q->rb_bits, b, i);
	if (rc)
		qcow2_cache_drop(&q->rbc, c >> q->rb_bits);
	return rc;
}

/* Set clusters [c, c+n) to v, one write per refcount block touched. */
static int refcount_set_run(struct qcow2 *q, uint64_t c, uint64_t n, uint64_t v)
{
	uint64_t mask = (1ull << q->rb_bits) - 1, i, k, lo, hi, ti;
	unsigned int order = q->h.refcount_order;
	void *b;
	int rc;

	while (n) {
		ti = c >> q->rb_bits;
		rc = refblock_for(q, c, &b, 0);
		if (rc)
			return rc;
		i = c & mask;
		k = MIN(n, mask + 1 - i);
		for (lo = 0; lo < k; lo++)
			qcow2_rb_set(b, order, i + lo, v);
		lo = ((i << order) / 8) & ~7ull;
		hi = ((((i + k) << order) + 7) / 8 + 7) & ~7ull;
		hi = MIN(hi, csize(q));
		rc = qcow2_pwrite_full(q->meta_fd, (char *)b + lo, hi - lo,
				       q->rt[ti] + lo);
		if (rc) {
			qcow2_cache_drop(&q->rbc, ti);
			return rc;
		}
		c += k;
		n -= k;
	}
	return 0;
}

/* ---- the refcount table growing ---- */

static bool rt_missing(const struct qcow2 *q, uint64_t ti)
{
	return ti >= q->rt_entries || !q->rt[ti];
}

/* Refcount blocks missing for clusters [t, end). */
static uint64_t blocks_missing(const struct qcow2 *q, uint64_t t, uint64_t end)
{
	uint64_t ti, n = 0;

	for (ti = t >> q->rb_bits; ti <= (end - 1) >> q->rb_bits; ti++)
		n += rt_missing(q, ti);
	return n;
}

/*
 * Write the new table's refcount blocks: every block the area [t, end)
 * lacks goes at [t + tc, end), counting the area's clusters it covers.
 */
static int grow_write_blocks(struct qcow2 *q, uint64_t *nt, uint64_t t,
			     uint64_t tc, uint64_t end)
{
	uint64_t mask = (1ull << q->rb_bits) - 1, ti, c, b = t + tc;
	void *blk;
	int rc = 0;

	if (posix_memalign(&blk, 4096, csize(q)))
		return -ENOMEM;
	for (ti = t >> q->rb_bits; ti <= (end - 1) >> q->rb_bits && !rc; ti++) {
		if (!rt_missing(q, ti))
			continue;
		memset(blk, 0, csize(q));
		for (c = MAX(t, ti << q->rb_bits);
		     c < end && (c >> q->rb_bits) == ti; c++)
			qcow2_rb_set(blk, q->h.refcount_order, c & mask, 1);
		nt[ti] = htobe64(b << q->h.cluster_bits);
		rc = qcow2_pwrite_full(q->meta_fd, blk, csize(q),
				       b++ << q->h.cluster_bits);
	}
	free(blk);
	return rc;
}

/* Area clusters covered by refcount blocks that exist: count them there. */
static int grow_count_existing(struct qcow2 *q, uint64_t t, uint64_t end)
{
	uint64_t c;
	int rc;

	for (c = t; c < end; c++) {
		if (rt_missing(q, c >> q->rb_bits))
			continue;
		rc = refcount_set(q, c, 1, 0);
		if (rc)
			return rc;
	}
	return 0;
}

/* Point the header at the new table (one 12-byte write), synced. */
static int grow_switch(struct qcow2 *q, uint64_t off, uint32_t clusters)
{
	uint8_t hdr[12];
	uint64_t o = htobe64(off);
	uint32_t c = htobe32(clusters);
	int rc;

	memcpy(hdr, &o, 8);
	memcpy(hdr + 8, &c, 4);
	rc = qcow2_sync_meta(q);
	if (!rc)
		rc = qcow2_pwrite_full(q->meta_fd, hdr, 12,
				       QCOW2_OFF_RT_OFFSET);
	if (!rc)
		rc = qcow2_sync_meta(q);
	return rc;
}

static int grow_install(struct qcow2 *q, uint64_t *nt, uint64_t entries,
			uint64_t t, uint64_t tc)
{
	uint64_t old = q->h.rt_offset >> q->h.cluster_bits, i;
	uint32_t old_n = q->h.rt_clusters;

	for (i = 0; i < entries; i++)
		nt[i] = be64toh(nt[i]);
	free(q->rt);
	q->rt = nt;
	q->rt_entries = entries;
	q->h.rt_offset = t << q->h.cluster_bits;
	q->h.rt_clusters = tc;
	/* The old table's clusters are free now (never reused this run). */
	q->free_hint = MAX(q->free_hint, old + old_n);
	return refcount_set_run(q, old, old_n, 0);
}

/*
 * A larger refcount table at the end of the file, with the refcount
 * blocks that count it. Until the header points at it (one write),
 * nothing refers to it: a crash leaves the old table in charge.
 */
static int grow_rt(struct qcow2 *q, uint64_t need_ti)
{
	uint64_t entries = MAX(need_ti + 1, q->rt_entries * 2), tc, t, nb, m;
	uint64_t end;
	uint64_t *nt;
	int rc;

	tc = (entries * 8 + csize(q) - 1) >> q->h.cluster_bits;
	if (tc * csize(q) > QCOW2_MAX_RT_BYTES) {
		qcow2_meta_error(q, "the refcount table would exceed %u bytes",
				 QCOW2_MAX_RT_BYTES);
		return -EFBIG;
	}
	entries = tc * csize(q) / 8;
	t = q->file_end >> q->h.cluster_bits;
	/* The blocks count the area they extend: grow until it holds. */
	for (nb = 0;; nb = m) {
		end = t + tc + nb;
		m = blocks_missing(q, t, end);
		if (m == nb)
			break;
	}
	nt = calloc(entries, 8);
	if (!nt)
		return -ENOMEM;
	memcpy(nt, q->rt, q->rt_entries * 8);
	for (uint64_t i = 0; i < q->rt_entries; i++)
		nt[i] = htobe64(nt[i]);
	q->file_end = end << q->h.cluster_bits;
	rc = grow_write_blocks(q, nt, t, tc, end);
	if (!rc)
		rc = qcow2_pwrite_full(q->meta_fd, nt, tc * csize(q),
				       t << q->h.cluster_bits);
	if (!rc)
		rc = grow_count_existing(q, t, end);
	if (!rc)
		rc = grow_switch(q, t << q->h.cluster_bits, tc);
	if (rc) {
		free(nt);
		return rc;
	}
	return grow_install(q, nt, entries, t, tc);
}

/* ---- allocation ---- */

unsigned int qcow2_reserve_first(const struct qcow2 *q)
{
	return MAX(1u, MIN(RESERVE_FIRST, (unsigned int)(RESERVE_BYTES_MAX >>
							 q->h.cluster_bits)));
}

/* Clusters nothing may be allocated over, whatever their refcount. */
static bool is_fixed_meta(const struct qcow2 *q, uint64_t c)
{
	uint64_t off = c << q->h.cluster_bits;
	uint64_t l1end = q->h.l1_offset + (uint64_t)q->h.l1_size * 8;
	uint64_t rtend = q->h.rt_offset + (uint64_t)q->h.rt_clusters * csize(q);

	return c == 0 || (off >= q->h.l1_offset && off < l1end) ||
	       (off >= q->h.rt_offset && off < rtend);
}

/* The first run of at most want free clusters from free_hint. */
static int find_run(struct qcow2 *q, uint64_t want, uint64_t *c_out,
		    uint64_t *n_out)
{
	uint64_t c = q->free_hint, end_c = q->file_end >> q->h.cluster_bits;
	uint64_t n = 0, r;
	int rc;

	for (; n < want; c++) {
		if (c >= end_c) {
			n = want;
			break;
		}
		rc = qcow2_refcount_get(q, c, &r);
		if (rc)
			return rc;
		if (!r && !is_fixed_meta(q, c)) {
			n++;
			continue;
		}
		if (n)
			break;
		q->free_hint = c + 1;
	}
	*c_out = q->free_hint;
	*n_out = n;
	return 0;
}

/*
 * Reserve a run: extend the file over it, count every cluster of it,
 * sync. A crash from here on leaks what the run had not used.
 */
static int reserve(struct qcow2 *q)
{
	uint64_t c, n, end;
	int rc;

	rc = find_run(q, q->res_batch, &c, &n);
	if (rc)
		return rc;
	end = (c + n) << q->h.cluster_bits;
	q->res_fresh = MAX(c, q->file_end >> q->h.cluster_bits);
	if (q->blockdev) {
		q->res_fresh = c + n;
		if (end > q->file_end)
			return -ENOSPC;
	} else if (end > q->file_end) {
		if (ftruncate(q->meta_fd, end))
			return -errno;
		q->file_end = end;
	}
	rc = refcount_set_run(q, c, n, 1);
	if (!rc)
		rc = qcow2_sync_meta(q);
	if (rc)
		return rc;
	q->res_next = c;
	q->res_end = q->free_hint = c + n;
	q->res_batch = MIN(q->res_batch * 2,
			   MAX(1u, RESERVE_BYTES_MAX >> q->h.cluster_bits));
	return 0;
}

int qcow2_alloc(struct qcow2 *q, uint64_t *host_out, bool *fresh_out)
{
	uint64_t c;
	int rc;

	if (q->res_next == q->res_end) {
		rc = reserve(q);
		if (rc)
			return rc;
	}
	c = q->res_next++;
	*host_out = c << q->h.cluster_bits;
	*fresh_out = c >= q->res_fresh;
	return 0;
}

int qcow2_free(struct qcow2 *q, uint64_t host)
{
	uint64_t c = host >> q->h.cluster_bits;

	/* Not reused while open: in-flight I/O may still target it. */
	q->free_hint = MAX(q->free_hint, c + 1);
	return refcount_set(q, c, 0, 0);
}

int qcow2_free_later(struct qcow2 *q, uint64_t host)
{
	uint64_t *f;

	q->free_hint = MAX(q->free_hint, (host >> q->h.cluster_bits) + 1);
	if (!q->frees) {
		f = malloc(FREES_MAX * sizeof(*f));
		if (!f)
			return -ENOMEM;
		q->frees = f;
	}
	q->frees[q->nfrees++] = host;
	return q->nfrees < FREES_MAX ? 0 : qcow2_free_pending(q);
}

int qcow2_free_pending(struct qcow2 *q)
{
	size_t i;
	int rc;

	if (!q->nfrees)
		return 0;
	rc = qcow2_sync_meta(q);
	for (i = 0; i < q->nfrees && !rc; i++)
		rc = qcow2_free(q, q->frees[i]);
	if (rc)
		log_warn(
			"disk %s: %s: %zu freed clusters stay allocated (leaked)",
			q->label, q->path, q->nfrees - i);
	q->nfrees = 0;
	return rc;
}

void qcow2_unreserve(struct qcow2 *q)
{
	uint64_t n = q->res_end - q->res_next;

	if (qcow2_flush(q) || qcow2_free_pending(q))
		log_debug("disk %s: pending updates failed", q->label);
	if (!n)
		return;
	if (refcount_set_run(q, q->res_next, n, 0) || qcow2_sync_meta(q)) {
		log_warn("disk %s: %s: %" PRIu64
			 " reserved clusters stay allocated (leaked)",
			 q->label, q->path, n);
		return;
	}
	if (!q->blockdev && q->file_end == q->res_end << q->h.cluster_bits &&
	    !ftruncate(q->meta_fd, q->res_next << q->h.cluster_bits))
		q->file_end = q->res_next << q->h.cluster_bits;
	q->res_end = q->res_next;
}
