/*
 * qcow2 metadata: the L1 table and refcount table (in memory, checked at
 * open), the table cache, L2 tables (cached, checked as they are read,
 * new ones written and synced before the L1 entry points at them).
 * Refcounts and allocation are in qcow2_refcount.c. Written through in
 * the crash-safe order qcow2.h describes; callers hold q->lock.
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
#define PEND_MAX 1024 /* L2 entries waiting for a sync */

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

void *qcow2_cache_find(struct qcow2_cache *c, uint64_t key)
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
struct qcow2_slot *qcow2_cache_take(struct qcow2_cache *c, uint64_t key,
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

void qcow2_cache_drop(struct qcow2_cache *c, uint64_t key)
{
	unsigned int i;

	for (i = 0; i < c->nslots; i++) {
		if (c->slots[i].key == key)
			c->slots[i].valid = false;
	}
}

void qcow2_meta_error(const struct qcow2 *q, const char *fmt, ...)
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
	q->res_batch = qcow2_reserve_first(q);
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
	free(q->frees);
	free(q->pend);
	q->frees = q->pend = NULL;
	q->l1 = q->rt = NULL;
}

/* ---- L2 tables ---- */

static int check_l2(const struct qcow2 *q, const void *t, uint64_t l1i)
{
	uint64_t n = 1ull << q->l2_bits, i, e, off;

	for (i = 0; i < n; i++) {
		e = qcow2_be64_get(t, i);
		if (e & QCOW2_OFLAG_COMPRESSED)
			continue;
		off = e & QCOW2_OFFSET_MASK;
		if ((e & QCOW2_L2_RESERVED) || (off && !offset_ok(q, off))) {
			qcow2_meta_error(
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

/*
 * A table with entries that wait for a sync must not be dropped (read
 * again, it would lack them): before the cache drops one, write them.
 */
static int make_room(struct qcow2 *q)
{
	unsigned int i;

	if (!q->npend)
		return 0;
	for (i = 0; i < q->l2c.nslots; i++) {
		if (!q->l2c.slots[i].valid)
			return 0;
	}
	return qcow2_flush(q);
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
	*t_out = qcow2_cache_find(&q->l2c, l1i);
	if (*t_out)
		return 0;
	rc = make_room(q);
	if (rc)
		return rc;
	s = qcow2_cache_take(&q->l2c, l1i, csize(q));
	if (!s)
		return -ENOMEM;
	rc = qcow2_pread_full(q->meta_fd, s->data, csize(q), off);
	if (rc) {
		qcow2_meta_error(q, "cannot read L2 table %" PRIu64 ": %s", l1i,
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
		*entry = qcow2_be64_get(t, l2i);
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
	t = qcow2_cache_find(&q->l2c, l1i);
	if (t)
		*entry = qcow2_be64_get(t, l2i);
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
	if (!rc)
		rc = make_room(q);
	if (rc)
		return rc;
	s = qcow2_cache_take(&q->l2c, l1i, csize(q));
	if (!s)
		return -ENOMEM;
	memset(s->data, 0, csize(q));
	rc = qcow2_pwrite_full(q->meta_fd, s->data, csize(q), host);
	if (!rc)
		rc = qcow2_sync_meta(q);
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
	old = qcow2_be64_get(t, l2i);
	qcow2_be64_put(t, l2i, entry);
	rc = qcow2_pwrite_full(q->meta_fd, (char *)t + l2i * 8, 8,
			       (q->l1[l1i] & QCOW2_OFFSET_MASK) + l2i * 8);
	if (rc)
		qcow2_be64_put(t, l2i, old);
	return rc;
}

int qcow2_l2_set_later(struct qcow2 *q, uint64_t off, uint64_t entry)
{
	uint64_t l1i, l2i, *p;
	void *t;
	int rc;

	if (!q->pend) {
		p = malloc(PEND_MAX * sizeof(*p));
		if (!p)
			return -ENOMEM;
		q->pend = p;
	}
	l2_index(q, off, &l1i, &l2i);
	if (l1i >= q->h.l1_size)
		return -EIO;
	rc = l2_table(q, l1i, &t);
	if (!rc && !t)
		rc = new_l2(q, l1i, &t);
	if (rc)
		return rc;
	qcow2_be64_put(t, l2i, entry);
	q->pend[q->npend++] = off;
	return q->npend < PEND_MAX ? 0 : qcow2_flush(q);
}

/* Write the pending entries as the cache has them now. */
static int write_pending(struct qcow2 *q)
{
	uint64_t l1i, l2i;
	size_t i;
	void *t;
	int rc = 0;

	for (i = 0; i < q->npend && !rc; i++) {
		l2_index(q, q->pend[i], &l1i, &l2i);
		t = qcow2_cache_find(&q->l2c, l1i);
		if (!t)
			return -EIO; /* make_room keeps them cached */
		rc = qcow2_pwrite_full(q->meta_fd, (char *)t + l2i * 8, 8,
				       (q->l1[l1i] & QCOW2_OFFSET_MASK) +
					       l2i * 8);
	}
	return rc;
}

int qcow2_flush(struct qcow2 *q)
{
	int rc;

	rc = qcow2_sync_meta(q);
	if (rc || !q->npend)
		return rc;
	rc = write_pending(q);
	if (!rc)
		rc = qcow2_sync_meta(q);
	if (rc) {
		qcow2_meta_error(q, "cannot write pending L2 entries: %s",
				 strerror(-rc));
		return rc;
	}
	q->npend = 0;
	return 0;
}
