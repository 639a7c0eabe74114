/*
 * qcow2 metadata: the L1 table and refcount table (in memory, checked at
 * open), L2 tables and refcount blocks (cached, checked as they are
 * read), refcounts of any width, cluster allocation in reserved runs,
 * new L2 tables, new refcount blocks and a growing refcount table. All
 * of it is written through in the crash-safe order qcow2.h describes;
 * callers hold q->lock.
 */
#include "storage/qcow2.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "storage/internal.h"

#define L2_CACHE_BYTES_MAX (32u << 20) /* covers 256 GiB at 64 KiB */
#define RB_CACHE_SLOTS 8
#define RESERVE_BYTES_MAX (64u << 20) /* leaked at most by a crash */
#define RESERVE_FIRST 16

static uint64_t csize(const struct qcow2 *q)
{
	return q->cluster_size;
}

/* ---- table cache ---- */

static int cache_init(struct qcow2_cache *c, unsigned int n)
{
	c->slots = calloc(n, sizeof(*c->slots));
	c->nslots = c->slots ? n : 0;
	return c->slots ? 0 : -ENOMEM;
}

static void cache_fini(struct qcow2_cache *c)
{
	unsigned int i;

	for (i = 0; i < c->nslots; i++)
		free(c->slots[i].data);
	free(c->slots);
	c->slots = NULL;
	c->nslots = 0;
}

static void *cache_find(struct qcow2_cache *c, uint64_t key)
{
	unsigned int i;

	for (i = 0; i < c->nslots; i++) {
		if (c->slots[i].valid && c->slots[i].key == key) {
			c->slots[i].used = ++c->tick;
			return c->slots[i].data;
		}
	}
	return NULL;
}

/* A slot for key: an empty one or the least recently used (dropped). */
static struct qcow2_slot *cache_take(struct qcow2_cache *c, uint64_t key,
				     size_t bytes)
{
	struct qcow2_slot *s = &c->slots[0];
	unsigned int i;

	for (i = 0; i < c->nslots; i++) {
		if (!c->slots[i].valid) {
			s = &c->slots[i];
			break;
		}
		if (c->slots[i].used < s->used)
			s = &c->slots[i];
	}
	if (!s->data && posix_memalign(&s->data, 4096, bytes))
		return NULL;
	s->valid = false;
	s->key = key;
	s->used = ++c->tick;
	return s;
}

static void cache_drop(struct qcow2_cache *c, uint64_t key)
{
	unsigned int i;

	for (i = 0; i < c->nslots; i++) {
		if (c->slots[i].key == key)
			c->slots[i].valid = false;
	}
}

/* ---- entries ---- */

static uint64_t be64_get(const void *t, uint64_t i)
{
	uint64_t v;

	memcpy(&v, (const char *)t + i * 8, 8);
	return be64toh(v);
}

static void be64_put(void *t, uint64_t i, uint64_t v)
{
	v = htobe64(v);
	memcpy((char *)t + i * 8, &v, 8);
}

uint64_t qcow2_rb_get(const void *block, unsigned int order, uint64_t i)
{
	const uint8_t *b = block;
	unsigned int bits = 1u << order;
	uint16_t v16;
	uint32_t v32;

	switch (order) {
	case 6:
		return be64_get(block, i);
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
		be64_put(block, i, v);
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

static void meta_error(const struct qcow2 *q, const char *fmt, ...)
	__printf(2, 3);

static void meta_error(const struct qcow2 *q, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err("disk %s: %s: %s", q->label, q->path, msg);
}

/* An offset found in a table: aligned and inside the file. */
static bool offset_ok(const struct qcow2 *q, uint64_t off)
{
	return !(off & (csize(q) - 1)) && off < q->file_end &&
	       q->file_end - off >= csize(q);
}

/* ---- open ---- */

static int load_l1(struct qcow2 *q, char *why, size_t whylen)
{
	uint64_t n = q->h.l1_size, i, e;
	int rc;

	q->l1 = calloc(n ? n : 1, 8);
	if (!q->l1)
		return -ENOMEM;
	rc = qcow2_pread_full(q->meta_fd, q->l1, n * 8, q->h.l1_offset);
	if (rc)
		return disk_why(why, whylen, q->label, rc,
				"%s: cannot read the L1 table: %s", q->path,
				strerror(-rc));
	for (i = 0; i < n; i++) {
		e = q->l1[i] = be64toh(q->l1[i]);
		if (e & QCOW2_L1_RESERVED)
			return disk_why(why, whylen, q->label, -EINVAL,
					"%s: L1 entry %" PRIu64 " (0x%" PRIx64
					") has reserved bits set",
					q->path, i, e);
		e &= QCOW2_OFFSET_MASK;
		if (e && !offset_ok(q, e))
			return disk_why(why, whylen, q->label, -EINVAL,
					"%s: L1 entry %" PRIu64
					" points at L2 table 0x%" PRIx64
					", unaligned or outside the file",
					q->path, i, e);
	}
	return 0;
}

static int load_rt(struct qcow2 *q, char *why, size_t whylen)
{
	uint64_t bytes = (uint64_t)q->h.rt_clusters * csize(q), i, e;
	int rc;

	q->rt_entries = bytes / 8;
	q->rt = malloc(bytes);
	if (!q->rt)
		return -ENOMEM;
	rc = qcow2_pread_full(q->meta_fd, q->rt, bytes, q->h.rt_offset);
	if (rc)
		return disk_why(why, whylen, q->label, rc,
				"%s: cannot read the refcount table: %s",
				q->path, strerror(-rc));
	for (i = 0; i < q->rt_entries; i++) {
		e = q->rt[i] = be64toh(q->rt[i]);
		if ((e & QCOW2_RT_RESERVED) || (e && !offset_ok(q, e)))
			return disk_why(
				why, whylen, q->label, -EINVAL,
				"%s: refcount table entry %" PRIu64
				" (0x%" PRIx64
				") is unaligned, has reserved bits set or lies outside the file",
				q->path, i, e);
	}
	return 0;
}

int qcow2_meta_init(struct qcow2 *q, char *why, size_t whylen)
{
	uint64_t tables, n;
	struct stat st;
	int rc;

	q->cluster_size = 1ull << q->h.cluster_bits;
	q->l2_bits = q->h.cluster_bits - 3;
	q->rb_bits = q->h.cluster_bits + 3 - q->h.refcount_order;
	q->blockdev = !fstat(q->fd, &st) && S_ISBLK(st.st_mode);
	q->file_end = (q->file_end + csize(q) - 1) & ~(csize(q) - 1);
	q->res_batch =
		MAX(1u, MIN(RESERVE_FIRST, (unsigned int)(RESERVE_BYTES_MAX >>
							  q->h.cluster_bits)));
	rc = load_l1(q, why, whylen);
	if (!rc)
		rc = load_rt(q, why, whylen);
	if (rc)
		return rc;
	/* Enough L2 tables for the whole disk, within a memory cap. */
	tables = MAX(q->h.l1_size, 1u);
	n = MAX(2u, MIN(tables, L2_CACHE_BYTES_MAX >> q->h.cluster_bits));
	rc = cache_init(&q->l2c, n);
	if (!rc)
		rc = cache_init(&q->rbc, RB_CACHE_SLOTS);
	if (rc)
		return disk_why(why, whylen, q->label, rc, "out of memory");
	return 0;
}

void qcow2_meta_fini(struct qcow2 *q)
{
	cache_fini(&q->l2c);
	cache_fini(&q->rbc);
	free(q->l1);
	free(q->rt);
	q->l1 = q->rt = NULL;
}

/* ---- refcounts ---- */

static int load_refblock(struct qcow2 *q, uint64_t ti, void **b_out)
{
	struct qcow2_slot *s;
	int rc;

	*b_out = cache_find(&q->rbc, ti);
	if (*b_out)
		return 0;
	s = cache_take(&q->rbc, ti, csize(q));
	if (!s)
		return -ENOMEM;
	rc = qcow2_pread_full(q->meta_fd, s->data, csize(q), q->rt[ti]);
	if (rc) {
		meta_error(q, "cannot read refcount block %" PRIu64 ": %s", ti,
			   strerror(-rc));
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

static int sync_meta(struct qcow2 *q)
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
	s = cache_take(&q->rbc, ti, csize(q));
	if (!s)
		return -ENOMEM;
	memset(s->data, 0, csize(q));
	if ((b >> q->rb_bits) == ti)
		qcow2_rb_set(s->data, q->h.refcount_order, b & mask, 1);
	rc = qcow2_pwrite_full(q->meta_fd, s->data, csize(q),
			       b << q->h.cluster_bits);
	if (!rc)
		rc = sync_meta(q);
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
		meta_error(q,
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
		cache_drop(&q->rbc, c >> q->rb_bits);
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
			cache_drop(&q->rbc, ti);
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
	rc = sync_meta(q);
	if (!rc)
		rc = qcow2_pwrite_full(q->meta_fd, hdr, 12,
				       QCOW2_OFF_RT_OFFSET);
	if (!rc)
		rc = sync_meta(q);
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
		meta_error(q, "the refcount table would exceed %u bytes",
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
		rc = sync_meta(q);
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

void qcow2_unreserve(struct qcow2 *q)
{
	uint64_t n = q->res_end - q->res_next;

	if (!n)
		return;
	if (refcount_set_run(q, q->res_next, n, 0) || sync_meta(q)) {
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

/* ---- L2 tables ---- */

static int check_l2(const struct qcow2 *q, const void *t, uint64_t l1i)
{
	uint64_t n = 1ull << q->l2_bits, i, e, off;

	for (i = 0; i < n; i++) {
		e = be64_get(t, i);
		if (e & QCOW2_OFLAG_COMPRESSED)
			continue;
		off = e & QCOW2_OFFSET_MASK;
		if ((e & QCOW2_L2_RESERVED) || (off && !offset_ok(q, off))) {
			meta_error(
				q,
				"L2 table %" PRIu64 " (at 0x%" PRIx64
				"): entry %" PRIu64 " (0x%" PRIx64
				") is unaligned, has reserved bits set or lies outside the file",
				l1i, q->l1[l1i] & QCOW2_OFFSET_MASK, i, e);
			return -EIO;
		}
	}
	return 0;
}

/* The L2 table for L1 index l1i, read if needed; NULL if none. */
static int l2_table(struct qcow2 *q, uint64_t l1i, void **t_out)
{
	uint64_t off = q->l1[l1i] & QCOW2_OFFSET_MASK;
	struct qcow2_slot *s;
	int rc;

	*t_out = NULL;
	if (!off)
		return 0;
	*t_out = cache_find(&q->l2c, l1i);
	if (*t_out)
		return 0;
	s = cache_take(&q->l2c, l1i, csize(q));
	if (!s)
		return -ENOMEM;
	rc = qcow2_pread_full(q->meta_fd, s->data, csize(q), off);
	if (rc) {
		meta_error(q, "cannot read L2 table %" PRIu64 ": %s", l1i,
			   strerror(-rc));
		return -EIO;
	}
	rc = check_l2(q, s->data, l1i);
	if (rc)
		return rc;
	s->valid = true;
	*t_out = s->data;
	return 0;
}

static void l2_index(const struct qcow2 *q, uint64_t off, uint64_t *l1i,
		     uint64_t *l2i)
{
	*l1i = off >> (q->h.cluster_bits + q->l2_bits);
	*l2i = (off >> q->h.cluster_bits) & ((1ull << q->l2_bits) - 1);
}

int qcow2_l2_get(struct qcow2 *q, uint64_t off, uint64_t *entry)
{
	uint64_t l1i, l2i;
	void *t;
	int rc;

	*entry = 0;
	l2_index(q, off, &l1i, &l2i);
	if (l1i >= q->h.l1_size)
		return -EIO;
	rc = l2_table(q, l1i, &t);
	if (!rc && t)
		*entry = be64_get(t, l2i);
	return rc;
}

bool qcow2_l2_peek(struct qcow2 *q, uint64_t off, uint64_t *entry)
{
	uint64_t l1i, l2i;
	void *t;

	l2_index(q, off, &l1i, &l2i);
	if (l1i >= q->h.l1_size)
		return false;
	if (!(q->l1[l1i] & QCOW2_OFFSET_MASK)) {
		*entry = 0;
		return true;
	}
	t = cache_find(&q->l2c, l1i);
	if (t)
		*entry = be64_get(t, l2i);
	return t != NULL;
}

/* A new, empty L2 table: written and synced before L1 points at it. */
static int new_l2(struct qcow2 *q, uint64_t l1i, void **t_out)
{
	struct qcow2_slot *s;
	uint64_t host, be;
	bool fresh;
	int rc;

	rc = qcow2_alloc(q, &host, &fresh);
	if (rc)
		return rc;
	s = cache_take(&q->l2c, l1i, csize(q));
	if (!s)
		return -ENOMEM;
	memset(s->data, 0, csize(q));
	rc = qcow2_pwrite_full(q->meta_fd, s->data, csize(q), host);
	if (!rc)
		rc = sync_meta(q);
	if (rc)
		return rc;
	q->l1[l1i] = host | QCOW2_OFLAG_COPIED;
	be = htobe64(q->l1[l1i]);
	rc = qcow2_pwrite_full(q->meta_fd, &be, 8, q->h.l1_offset + l1i * 8);
	if (rc) {
		q->l1[l1i] = 0;
		return rc;
	}
	s->valid = true;
	*t_out = s->data;
	return 0;
}

int qcow2_l2_set(struct qcow2 *q, uint64_t off, uint64_t entry)
{
	uint64_t l1i, l2i, old;
	void *t;
	int rc;

	l2_index(q, off, &l1i, &l2i);
	if (l1i >= q->h.l1_size)
		return -EIO;
	rc = l2_table(q, l1i, &t);
	if (!rc && !t)
		rc = new_l2(q, l1i, &t);
	if (rc)
		return rc;
	old = be64_get(t, l2i);
	be64_put(t, l2i, entry);
	rc = qcow2_pwrite_full(q->meta_fd, (char *)t + l2i * 8, 8,
			       (q->l1[l1i] & QCOW2_OFFSET_MASK) + l2i * 8);
	if (rc)
		be64_put(t, l2i, old);
	return rc;
}
