/*
 * Guest pages on the stream: PAGE_DATA batches out of guest RAM and back
 * into it. Sending skips pages that were never allocated (holes in the
 * RAM memfd, found with SEEK_DATA without touching them) and, in a save
 * or round 0, pages that are all zero; later live rounds send a page that
 * became zero as a ZERO entry. Receiving writes pages into the RAM file
 * with pwrite, so a fresh page is neither faulted in nor zeroed first.
 */
#ifndef GODWIT_MIGRATION_PAGES_H
#define GODWIT_MIGRATION_PAGES_H

#include <stdbool.h>
#include <stdint.h>

#include "common/bitmap.h"
#include "common/compiler.h"
#include "migration/recio.h"
#include "vmm/memory.h"

struct page_stats {
	uint64_t normal; /* pages sent with data */
	uint64_t zero; /* pages sent as ZERO entries */
	uint64_t skipped; /* zero pages not sent at all */
	uint64_t records;
};

/* How pages_send() treats pages. */
enum pages_flags {
	/* Zero pages go out as ZERO entries (the destination may hold an
	 * older copy); without it they are left out. */
	PAGES_ZERO_ENTRIES = 1 << 0,
	/* The guest is running: copy each page before checksumming and
	 * sending it, so the CRC matches the bytes on the wire. */
	PAGES_LIVE = 1 << 1,
};

/*
 * Send the pages whose RAM-order index is set in which, or every page if
 * which is NULL, as PAGES_* flags say.
 */
int pages_send(struct stream *s, struct guest_mem *mem,
	       const struct bitmap *which, unsigned int flags,
	       struct page_stats *st) __must_check;
/*
 * The same for the pages with RAM-order index in [first, last) only: a
 * driver that looks at its peer between parts of a round sends in ranges.
 */
int pages_send_range(struct stream *s, struct guest_mem *mem,
		     const struct bitmap *which, uint64_t first, uint64_t last,
		     unsigned int flags, struct page_stats *st) __must_check;

/* Buffers for receiving page batches, reused from record to record. */
struct page_rx {
	struct batch *b;
	uint8_t *bounce; /* PAGE_BATCH_MAX pages */
	bool discard; /* check every batch, write nothing (godwit inspect) */
	uint64_t data_pages; /* NORMAL entries received so far */
};

int page_rx_init(struct page_rx *rx) __must_check;
void page_rx_destroy(struct page_rx *rx);

/*
 * Read one PAGE_DATA record's body (h already read) into guest RAM. A pfn
 * may appear once per batch; with seen (streams without the LIVE flag)
 * once per stream: seen records the RAM-order pages received so far.
 */
int pages_recv(struct page_rx *rx, struct stream *s, struct guest_mem *mem,
	       const struct rec_hdr *h, const struct rec_limits *lim,
	       struct bitmap *seen, struct rec_error *err,
	       uint64_t *pages_out) __must_check;

bool page_is_zero(const void *page);

#endif
