/*
 * Page batches. The writer gathers up to PAGE_BATCH_MAX pages and writes
 * them with one writev straight from guest RAM (no copy); physically
 * adjacent pages share an iovec. The reader validates the whole pfn list,
 * reads the data into a bounce buffer and checks the CRC over it; only
 * then do the pages land in guest RAM.
 */
#include "migration/pages.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/crc32c.h"

struct batch {
	struct rec_page_data hdr;
	uint64_t pfn[PAGE_BATCH_MAX];
	struct iovec iov[REC_WRITE_MAX_IOV];
	int niov;
	uint32_t count;
	uint8_t *bounce; /* PAGES_LIVE: PAGE_BATCH_MAX page copies */
	uint32_t nbounce; /* copies in use */
};

bool page_is_zero(const void *page)
{
	const uint64_t *w = page;
	unsigned int i;

	/* Most non-zero pages fail on the first words. */
	if (w[0] | w[1] | w[511])
		return false;
	for (i = 0; i < PAGE_SIZE / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] |
		    w[i + 5] | w[i + 6] | w[i + 7])
			return false;
	return true;
}

/*
 * On a direct I/O stream, a PADDING record first puts this batch's page
 * data at a PAGE_DATA_ALIGN-aligned offset, so the pages go to the disk
 * straight from guest RAM.
 */
static int align_page_data(struct stream *s, uint32_t count)
{
	static const uint8_t zeros[PADDING_MAX];
	uint64_t data = s->offset + sizeof(struct rec_hdr) +
			sizeof(struct rec_page_data) + 8ULL * count;
	uint64_t need =
		(PAGE_DATA_ALIGN - data % PAGE_DATA_ALIGN) % PAGE_DATA_ALIGN;

	if (!s->direct || !need)
		return 0;
	if (need < sizeof(struct rec_hdr))
		need += PAGE_DATA_ALIGN;
	return rec_write_buf(s, REC_PADDING, zeros,
			     need - sizeof(struct rec_hdr));
}

static int batch_flush(struct stream *s, struct batch *b, struct page_stats *st)
{
	int rc;

	if (!b->count)
		return 0;
	rc = align_page_data(s, b->count);
	if (rc)
		return rc;
	b->hdr.count = b->count;
	b->iov[0] = (struct iovec){ &b->hdr, sizeof(b->hdr) };
	b->iov[1] = (struct iovec){ b->pfn, b->count * sizeof(uint64_t) };
	rc = rec_write(s, REC_PAGE_DATA, b->iov, b->niov);
	st->records++;
	b->count = 0;
	b->nbounce = 0;
	b->niov = 2;
	return rc;
}

static int batch_add(struct stream *s, struct batch *b, uint64_t pfn,
		     uint8_t *page, bool zero, struct page_stats *st)
{
	struct iovec *last = &b->iov[b->niov - 1];

	if (zero) {
		b->pfn[b->count++] = pfn | (PFN_TYPE_ZERO << PFN_TYPE_SHIFT);
		st->zero++;
	} else {
		b->pfn[b->count++] = pfn;
		if (b->niov > 2 &&
		    (uint8_t *)last->iov_base + last->iov_len == page)
			last->iov_len += PAGE_SIZE;
		else
			b->iov[b->niov++] = (struct iovec){ page, PAGE_SIZE };
		st->normal++;
	}
	if (b->count == PAGE_BATCH_MAX)
		return batch_flush(s, b, st);
	return 0;
}

/* Next allocated byte offset of the memfd at or after off (or size). */
static uint64_t next_data(struct guest_mem *mem, uint64_t off)
{
	off_t r = lseek(mem->memfd, off, SEEK_DATA);

	return r < 0 ? mem->size : (uint64_t)r;
}

static uint64_t next_hole(struct guest_mem *mem, uint64_t off)
{
	off_t r = lseek(mem->memfd, off, SEEK_HOLE);

	return r < 0 ? mem->size : (uint64_t)r;
}

static int send_one(struct stream *s, struct guest_mem *mem, struct batch *b,
		    uint64_t idx, unsigned int flags, struct page_stats *st)
{
	uint8_t *page = mem->host + (idx << PAGE_SHIFT);
	bool zero;

	if (b->bounce) {
		/* One snapshot decides zero-ness, CRC and wire bytes alike. */
		memcpy(b->bounce + b->nbounce * PAGE_SIZE, page, PAGE_SIZE);
		page = b->bounce + b->nbounce * PAGE_SIZE;
	}
	zero = page_is_zero(page);
	if (zero && !(flags & PAGES_ZERO_ENTRIES)) {
		st->skipped++;
		return 0;
	}
	if (b->bounce && !zero)
		b->nbounce++;
	return batch_add(s, b, mem_index_to_pfn(mem, idx), page, zero, st);
}

/* Every page in [first, last) that holds data, extent by extent. */
static int send_all(struct stream *s, struct guest_mem *mem, struct batch *b,
		    uint64_t first, uint64_t last, unsigned int flags,
		    struct page_stats *st)
{
	uint64_t limit = MIN(last << PAGE_SHIFT, mem->size);
	uint64_t off = next_data(mem, first << PAGE_SHIFT), end, idx;
	int rc;

	while (off < limit) {
		end = MIN(next_hole(mem, off), limit);
		for (idx = off >> PAGE_SHIFT;
		     idx < DIV_ROUND_UP(end, PAGE_SIZE); idx++) {
			rc = send_one(s, mem, b, idx, flags, st);
			if (rc)
				return rc;
		}
		off = next_data(mem, end);
	}
	return 0;
}

int pages_send(struct stream *s, struct guest_mem *mem,
	       const struct bitmap *which, unsigned int flags,
	       struct page_stats *st)
{
	return pages_send_range(s, mem, which, 0, mem_nr_pages(mem), flags, st);
}

int pages_send_range(struct stream *s, struct guest_mem *mem,
		     const struct bitmap *which, uint64_t first, uint64_t last,
		     unsigned int flags, struct page_stats *st)
{
	struct batch *b = calloc(1, sizeof(*b));
	size_t idx;
	int rc = 0;

	if (!b)
		return stream_set_error(s, -ENOMEM);
	b->niov = 2;
	if (flags & PAGES_LIVE) {
		b->bounce = malloc(PAGE_BATCH_MAX * PAGE_SIZE);
		if (!b->bounce) {
			free(b);
			return stream_set_error(s, -ENOMEM);
		}
	}
	if (!which) {
		rc = send_all(s, mem, b, first, last, flags, st);
	} else {
		last = MIN(last, (uint64_t)which->nbits);
		for (idx = bitmap_next_set(which, first); idx < last && !rc;
		     idx = bitmap_next_set(which, idx + 1))
			rc = send_one(s, mem, b, idx, flags, st);
	}
	if (!rc)
		rc = batch_flush(s, b, st);
	free(b->bounce);
	free(b);
	return rc;
}

static int recv_pfns(struct stream *s, const struct rec_hdr *h,
		     const struct rec_limits *lim, struct batch *b,
		     uint32_t *normal, struct rec_error *err, uint32_t *crc)
{
	size_t plen;

	if (h->length < sizeof(b->hdr)) {
		snprintf(err->why, sizeof(err->why),
			 "body of %u bytes is too short for a batch",
			 h->length);
		return stream_set_error(s, -EINVAL);
	}
	if (stream_read(s, &b->hdr, sizeof(b->hdr)))
		return rec_io_error(s, err, "record body");
	/* Bound the count before reading the list it sizes. */
	if (!b->hdr.count || b->hdr.count > PAGE_BATCH_MAX ||
	    sizeof(b->hdr) + 8ULL * b->hdr.count > h->length) {
		snprintf(err->why, sizeof(err->why),
			 "count %u is out of range (1..%u) or exceeds the body",
			 b->hdr.count, PAGE_BATCH_MAX);
		return stream_set_error(s, -EINVAL);
	}
	plen = 8ULL * b->hdr.count;
	if (stream_read(s, b->pfn, plen))
		return rec_io_error(s, err, "record body");
	*crc = crc32c(*crc, &b->hdr, sizeof(b->hdr));
	*crc = crc32c(*crc, b->pfn, plen);
	if (rec_page_data_check(&b->hdr, sizeof(b->hdr) + plen, h->length, lim,
				normal, err->why, sizeof(err->why)))
		return stream_set_error(s, -EINVAL);
	return 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a & PFN_MASK;
	uint64_t y = *(const uint64_t *)b & PFN_MASK;

	return x < y ? -1 : x > y;
}

/* A pfn that appears twice among the n entries e, or -1 if none does. */
static int64_t batch_repeat(const uint64_t *e, uint32_t n)
{
	uint64_t sorted[PAGE_BATCH_MAX];
	uint32_t i;

	/* godwit writes pfns in ascending order: then there is no repeat. */
	for (i = 1; i < n; i++)
		if ((e[i - 1] & PFN_MASK) >= (e[i] & PFN_MASK))
			break;
	if (i >= n)
		return -1;
	memcpy(sorted, e, n * sizeof(sorted[0]));
	qsort(sorted, n, sizeof(sorted[0]), u64_cmp);
	for (i = 1; i < n; i++)
		if (!u64_cmp(&sorted[i - 1], &sorted[i]))
			return sorted[i] & PFN_MASK;
	return -1;
}

/* Each pfn once per batch, and once per stream unless it is live. */
static int check_repeats(struct stream *s, struct guest_mem *mem,
			 struct batch *b, struct bitmap *seen,
			 struct rec_error *err)
{
	int64_t twice = batch_repeat(b->pfn, b->hdr.count);
	uint32_t i;

	if (twice >= 0) {
		snprintf(err->why, sizeof(err->why),
			 "pfn 0x%llx appears twice in one batch",
			 (unsigned long long)twice);
		return stream_set_error(s, -EINVAL);
	}
	for (i = 0; seen && i < b->hdr.count; i++) {
		uint64_t pfn = b->pfn[i] & PFN_MASK;
		int64_t idx = mem_pfn_to_index(mem, pfn);

		if (idx < 0)
			continue; /* not RAM: recv_pfns refused it already */
		if (bitmap_test(seen, idx)) {
			snprintf(
				err->why, sizeof(err->why),
				"pfn 0x%llx sent again in a stream without the LIVE flag",
				(unsigned long long)pfn);
			return stream_set_error(s, -EINVAL);
		}
		bitmap_set(seen, idx);
	}
	return 0;
}

int page_rx_init(struct page_rx *rx)
{
	rx->b = calloc(1, sizeof(*rx->b));
	rx->bounce = malloc(PAGE_BATCH_MAX * PAGE_SIZE);
	rx->discard = false;
	rx->data_pages = 0;
	if (!rx->b || !rx->bounce) {
		page_rx_destroy(rx);
		return -ENOMEM;
	}
	return 0;
}

void page_rx_destroy(struct page_rx *rx)
{
	free(rx->b);
	free(rx->bounce);
	rx->b = NULL;
	rx->bounce = NULL;
}

/*
 * A page that became zero. Punching a hole would split a 2 MiB page of
 * the RAM file (vmm/backing.c), so the zeros are written over a page
 * that holds data; a page in a hole reads as zero already.
 */
static int zero_page(struct guest_mem *mem, uint64_t off)
{
	static const uint8_t zeros[PAGE_SIZE];
	off_t data = lseek(mem->memfd, off, SEEK_DATA);

	if (data >= 0 && (uint64_t)data > off && !mem->hugetlb)
		return 0;
	return mem_store(mem, off, zeros, PAGE_SIZE);
}

/* Write the batch's data pages (in bounce, entry order) into RAM. */
static int place_pages(struct page_rx *rx, struct guest_mem *mem,
		       struct rec_error *err)
{
	struct batch *b = rx->b;
	uint64_t off, run_off = 0, run_len = 0;
	uint8_t *src = rx->bounce, *run_src = NULL;
	uint32_t i;
	int rc;

	for (i = 0; i <= b->hdr.count; i++) {
		bool end = i == b->hdr.count;

		if (!end && (b->pfn[i] & PFN_TYPE_MASK)) {
			off = (uint64_t)mem_pfn_to_index(mem,
							 b->pfn[i] & PFN_MASK)
			      << PAGE_SHIFT;
			rc = zero_page(mem, off);
			if (rc)
				goto fail;
			continue;
		}
		if (!end)
			off = (uint64_t)mem_pfn_to_index(mem, b->pfn[i])
			      << PAGE_SHIFT;
		/* Flush the run unless this page extends it. */
		if (run_len && (end || off != run_off + run_len)) {
			rc = mem_store(mem, run_off, run_src, run_len);
			if (rc)
				goto fail;
			run_len = 0;
		}
		if (end)
			break;
		if (!run_len) {
			run_off = off;
			run_src = src;
		}
		run_len += PAGE_SIZE;
		src += PAGE_SIZE;
	}
	return 0;
fail:
	snprintf(err->why, sizeof(err->why), "cannot write guest RAM: %s",
		 strerror(-rc));
	return -EIO;
}

int pages_recv(struct page_rx *rx, struct stream *s, struct guest_mem *mem,
	       const struct rec_hdr *h, const struct rec_limits *lim,
	       struct bitmap *seen, struct rec_error *err, uint64_t *pages_out)
{
	struct batch *b = rx->b;
	uint32_t normal, crc = rec_body_crc_init(s, h);
	int rc;

	rc = recv_pfns(s, h, lim, b, &normal, err, &crc);
	if (!rc)
		rc = check_repeats(s, mem, b, seen, err);
	if (rc)
		return rc;
	/* Every pfn was checked against the limits, which match mem. */
	if (normal && stream_read(s, rx->bounce, normal * PAGE_SIZE))
		return rec_io_error(s, err, "page data");
	crc = crc32c(crc, rx->bounce, normal * PAGE_SIZE);
	rc = rec_read_tail(s, h, crc, err);
	if (rc)
		return rc;
	/* Only a whole, checked record touches guest RAM. */
	rc = rx->discard ? 0 : place_pages(rx, mem, err);
	if (rc)
		return stream_set_error(s, rc);
	rx->data_pages += normal;
	*pages_out = b->hdr.count;
	return 0;
}
