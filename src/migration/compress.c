/*
 * zstd page batches, both ways (compress.h). The sender compresses a
 * batch's pages as one frame that records its content size, into a
 * buffer one byte short of the pages: a frame that does not fit did not
 * shrink and the batch goes raw. The receiver checks the frame's
 * declared size against the batch before decoding anything, so no frame
 * makes it allocate or write more than the batch's pages.
 */
#include "migration/compress.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "common/clock.h"
#include "common/why.h"
#include "format/stream_format.h"
#include "migration/recio.h"

#define FRAME_MAX ((size_t)PAGE_BATCH_MAX * STREAM_PAGE_SIZE)
/* zstd's worker threads per sending stream, at most. */
#define COMPRESS_WORKERS_MAX 4
/* Decoding needs no window beyond the batch: refuse frames asking more. */
#define WINDOW_LOG_MAX 23

static const char *const mode_names[] = { "none", "zstd", "auto" };

int compress_mode_parse(const char *s, enum compress_mode *out)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(mode_names); i++) {
		if (!strcmp(s, mode_names[i])) {
			*out = (enum compress_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *compress_mode_name(enum compress_mode m)
{
	return (size_t)m < ARRAY_SIZE(mode_names) ? mode_names[m] : "?";
}

/* One zstd worker per CPU, at most COMPRESS_WORKERS_MAX; 0 on one CPU. */
static int compress_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n <= 1)
		return 0;
	return n > COMPRESS_WORKERS_MAX ? COMPRESS_WORKERS_MAX : (int)n;
}

int compress_init(struct page_compress *c, enum compress_mode mode)
{
	memset(c, 0, sizeof(*c));
	c->mode = mode;
	if (mode == COMPRESS_NONE)
		return 0;
	c->cctx = ZSTD_createCCtx();
	c->frame = malloc(FRAME_MAX);
	/* Helpers for big batches, where libzstd has them (a batch is a
	 * few jobs: the sending thread waits for them). */
	if (c->cctx && ZSTD_isError(ZSTD_CCtx_setParameter(
			       c->cctx, ZSTD_c_nbWorkers, compress_workers())))
		ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_nbWorkers, 0);
	if (!c->cctx || !c->frame ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(
		    c->cctx, ZSTD_c_compressionLevel, COMPRESS_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_contentSizeFlag,
						1))) {
		compress_destroy(c);
		return -ENOMEM;
	}
	return 0;
}

void compress_destroy(struct page_compress *c)
{
	ZSTD_freeCCtx(c->cctx);
	free(c->frame);
	c->cctx = NULL;
	c->frame = NULL;
}

int compress_attach(struct stream *s, enum compress_mode mode)
{
	struct page_compress *c;
	int rc;

	if (mode == COMPRESS_NONE)
		return 0;
	c = malloc(sizeof(*c));
	if (!c)
		return stream_set_error(s, -ENOMEM);
	rc = compress_init(c, mode);
	if (rc) {
		free(c);
		return stream_set_error(s, rc);
	}
	s->compress = c;
	return 0;
}

void compress_detach(struct stream *s, struct compress_counters *out)
{
	struct page_compress *c = s->compress;

	if (!c)
		return;
	if (out) {
		out->batches += c->n.batches;
		out->zstd_batches += c->n.zstd_batches;
		out->in_bytes += c->n.in_bytes;
		out->out_bytes += c->n.out_bytes;
		out->comp_ns += c->n.comp_ns;
	}
	compress_destroy(c);
	free(c);
	s->compress = NULL;
}

/* The pages as one frame into c->frame: its length, 0 if it did not shrink. */
static size_t compress_pages(struct page_compress *c, const struct iovec *data,
			     int ndata, size_t total)
{
	ZSTD_outBuffer out = { c->frame, total - 1, 0 };
	size_t r = 0;
	int i;

	ZSTD_CCtx_reset(c->cctx, ZSTD_reset_session_only);
	if (ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(c->cctx, total)))
		return 0;
	for (i = 0; i < ndata; i++) {
		ZSTD_inBuffer in = { data[i].iov_base, data[i].iov_len, 0 };
		ZSTD_EndDirective end = i == ndata - 1 ? ZSTD_e_end :
							 ZSTD_e_continue;

		do {
			r = ZSTD_compressStream2(c->cctx, &out, &in, end);
			if (ZSTD_isError(r) || out.pos == out.size)
				return 0; /* an error, or it does not shrink */
		} while (in.pos < in.size || (end == ZSTD_e_end && r));
	}
	return r == 0 ? out.pos : 0;
}

/* Auto: at a window's start, choose its mode; raw windows are timed. */
static void window_begin(struct stream *s, struct page_compress *c)
{
	bool on;

	if (c->mode != COMPRESS_AUTO || c->in_window)
		return;
	if (!c->every)
		c->every = COMPRESS_PROBE_EVERY;
	on = compress_next_window(&c->rates, c->on, c->windows, c->every);
	if (c->probing) {
		/* The probe told: back (same decision) or stay (changed). */
		c->every = compress_probe_interval(c->every,
						   on != c->before_probe);
		c->probing = false;
	} else if (on != c->on && compress_worth_it(&c->rates) == c->on) {
		c->probing = true; /* a probe: the figures did not ask for it */
		c->before_probe = c->on;
	}
	c->windows = on == c->on ? c->windows + 1 : 1;
	c->on = on;
	/* Probes and a first look at the compressor only measure. */
	c->window_len = c->probing || (on && !c->rates.comp_bps) ?
				COMPRESS_PROBE_BATCHES :
				COMPRESS_WINDOW_BATCHES;
	c->win_start_ns = time_mono_ns();
	c->win_off0 = s->offset;
	c->win_in = c->win_out = c->win_ns = 0;
}

/* Auto: a window ends: what it measured feeds the next decision. */
static void window_end(struct stream *s, struct page_compress *c)
{
	uint64_t ns;

	if (c->mode != COMPRESS_AUTO || ++c->in_window < c->window_len)
		return;
	c->in_window = 0;
	if (c->on && c->win_in && c->win_ns) {
		c->rates.comp_bps = c->win_in * NSEC_PER_SEC / c->win_ns;
		c->rates.ratio_pct = MAX(1, c->win_out * 100 / c->win_in);
	} else if (!c->on) {
		ns = MAX(time_mono_ns() - c->win_start_ns, 1ULL);
		c->rates.send_bps =
			(s->offset - c->win_off0) * NSEC_PER_SEC / ns;
	}
}

void compress_batch_sent(struct stream *s, struct page_compress *c)
{
	window_end(s, c);
}

int compress_batch(struct stream *s, struct page_compress *c,
		   const uint64_t *pfn, uint32_t count, uint32_t data_pages,
		   const struct iovec *data, int ndata)
{
	size_t total = (size_t)data_pages * STREAM_PAGE_SIZE, flen;
	struct rec_page_zstd z = { .count = count, .data_pages = data_pages };
	struct iovec iov[3];
	uint64_t t0;
	int rc;

	if (c->mode == COMPRESS_NONE)
		return 1;
	window_begin(s, c);
	if (!data_pages)
		return 1; /* ZERO entries only: nothing to compress */
	c->n.batches++;
	if (c->mode == COMPRESS_AUTO && !c->on)
		return 1;
	t0 = time_mono_ns();
	flen = compress_pages(c, data, ndata, total);
	t0 = time_mono_ns() - t0;
	c->n.comp_ns += t0;
	c->n.in_bytes += total;
	c->n.out_bytes += flen ? flen : total;
	c->win_ns += t0;
	c->win_in += total;
	c->win_out += flen ? flen : total;
	if (!flen)
		return 1;
	z.frame_len = flen;
	iov[0] = (struct iovec){ &z, sizeof(z) };
	iov[1] = (struct iovec){ (void *)pfn, count * sizeof(uint64_t) };
	iov[2] = (struct iovec){ c->frame, flen };
	rc = rec_write(s, REC_PAGE_ZSTD, iov, 3);
	c->n.zstd_batches++;
	window_end(s, c);
	return rc;
}

int decompress_init(struct page_decompress *d)
{
	d->dctx = ZSTD_createDCtx();
	d->frame = malloc(FRAME_MAX);
	if (!d->dctx || !d->frame ||
	    ZSTD_isError(ZSTD_DCtx_setParameter(d->dctx, ZSTD_d_windowLogMax,
						WINDOW_LOG_MAX))) {
		decompress_destroy(d);
		return -ENOMEM;
	}
	return 0;
}

void decompress_destroy(struct page_decompress *d)
{
	ZSTD_freeDCtx(d->dctx);
	free(d->frame);
	d->dctx = NULL;
	d->frame = NULL;
}

int decompress_pages(struct page_decompress *d, size_t frame_len, void *dst,
		     size_t dst_len, char *why, size_t whylen)
{
	unsigned long long size = ZSTD_getFrameContentSize(d->frame, frame_len);
	size_t r;

	if (size == ZSTD_CONTENTSIZE_ERROR)
		return why_set(why, whylen, -EINVAL,
			       "the page data is not a zstd frame");
	if (size == ZSTD_CONTENTSIZE_UNKNOWN)
		return why_set(why, whylen, -EINVAL,
			       "the zstd frame does not declare its size");
	/* A bomb declares more than the batch holds: refused unread. */
	if (size != dst_len)
		return why_set(
			why, whylen, -EINVAL,
			"the zstd frame holds %llu bytes, the batch's pages %zu",
			size, dst_len);
	r = ZSTD_findFrameCompressedSize(d->frame, frame_len);
	if (ZSTD_isError(r) || r != frame_len)
		return why_set(
			why, whylen, -EINVAL,
			"the zstd frame is not frame_len (%zu) bytes long: %s",
			frame_len,
			ZSTD_isError(r) ? ZSTD_getErrorName(r) :
					  "it ends early");
	r = ZSTD_decompressDCtx(d->dctx, dst, dst_len, d->frame, frame_len);
	if (ZSTD_isError(r))
		return why_set(why, whylen, -EINVAL,
			       "the zstd frame does not decode: %s",
			       ZSTD_getErrorName(r));
	if (r != dst_len)
		return why_set(why, whylen, -EINVAL,
			       "the zstd frame decodes to %zu bytes, not %zu",
			       r, dst_len);
	return 0;
}
