/*
 * zstd for page batches (PAGE_ZSTD records, docs/stream-format.md). A
 * sender attaches a struct page_compress to its stream (s->compress);
 * pages.c then offers it each batch: it writes the batch as PAGE_ZSTD
 * when the batch shrinks, or tells pages.c to write PAGE_DATA. In
 * COMPRESS_AUTO it decides window by window whether compressing is worth
 * it (compress_policy.h), from what it measures. A receiver decompresses
 * a frame into a buffer of exactly the size the batch says, after the
 * record's CRC checked out; a frame that declares any other size (a
 * bomb), lies about its length or does not decode is refused in one line.
 *
 * Threads: one struct per sending thread; one page_decompress per reader.
 */
#ifndef GODWIT_MIGRATION_COMPRESS_H
#define GODWIT_MIGRATION_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/compiler.h"
#include "migration/compress_policy.h"
#include "migration/transport/stream.h"

enum compress_mode {
	COMPRESS_NONE,
	COMPRESS_ZSTD, /* every batch that shrinks */
	COMPRESS_AUTO, /* when the link, not the CPU, is the bottleneck */
};

/* The zstd level: fast; the link is slow, not the memory. */
#define COMPRESS_LEVEL 1

struct compress_counters {
	uint64_t batches; /* offered */
	uint64_t zstd_batches; /* written as PAGE_ZSTD */
	uint64_t in_bytes; /* page bytes compressed (PAGE_ZSTD or not) */
	uint64_t out_bytes; /* frame bytes of those attempts */
	uint64_t comp_ns; /* time in the compressor */
};

struct page_compress {
	enum compress_mode mode;
	void *cctx; /* ZSTD_CCtx */
	uint8_t *frame; /* PAGE_BATCH_MAX pages */
	struct compress_counters n;
	/* COMPRESS_AUTO */
	bool on; /* this window compresses */
	unsigned int in_window; /* batches in this window */
	unsigned int windows; /* windows in this mode since a switch */
	unsigned int every; /* probe after this many windows */
	bool probing; /* this window is a probe of the other mode */
	bool before_probe; /* the mode before the probe */
	unsigned int window_len; /* batches in this window */
	uint64_t win_start_ns, win_off0; /* raw window: time, stream offset */
	uint64_t win_in, win_out, win_ns; /* zstd window: compressor figures */
	struct compress_rates rates;
};

int compress_init(struct page_compress *c,
		  enum compress_mode mode) __must_check;
void compress_destroy(struct page_compress *c);

/*
 * One batch: count pfn entries (data_pages NORMAL ones, whose pages are
 * the ndata iovecs). 0: written as PAGE_ZSTD; 1: not compressed (off,
 * or it did not shrink): the caller writes PAGE_DATA, then calls
 * compress_batch_sent(); -errno: the stream failed.
 */
int compress_batch(struct stream *s, struct page_compress *c,
		   const uint64_t *pfn, uint32_t count, uint32_t data_pages,
		   const struct iovec *data, int ndata) __must_check;
/* A batch the caller wrote raw went out: the end of it, for auto. */
void compress_batch_sent(struct stream *s, struct page_compress *c);

/*
 * Give s a compressor for mode (none: nothing to do); compress_detach()
 * takes it back and frees it, adding its counters to *out (may be NULL).
 */
int compress_attach(struct stream *s, enum compress_mode mode) __must_check;
void compress_detach(struct stream *s, struct compress_counters *out);

/* Parse "auto", "zstd", "none"; -EINVAL for anything else. */
int compress_mode_parse(const char *s, enum compress_mode *out) __must_check;
const char *compress_mode_name(enum compress_mode m);

struct page_decompress {
	void *dctx; /* ZSTD_DCtx */
	uint8_t *frame; /* PAGE_BATCH_MAX pages */
};

int decompress_init(struct page_decompress *d) __must_check;
void decompress_destroy(struct page_decompress *d);
/*
 * Decode the one zstd frame of frame_len bytes (in d->frame) into dst,
 * which it must fill exactly; -EINVAL with why otherwise.
 */
int decompress_pages(struct page_decompress *d, size_t frame_len, void *dst,
		     size_t dst_len, char *why, size_t whylen) __must_check;

#endif
