/*
 * blk.elf: what ring 0 (blk.c: virtio-blk setup, interrupts, output) and
 * ring 3 (blk_user.c: the workload, blk_pattern.c: the on-disk format)
 * share, and the on-disk format itself (guests/README.md has the rules).
 *
 * Disk layout, in 512-byte sectors:
 *   0      the commit record (struct blk_commit), sectors 1-7 zero;
 *   8..    the data area, up to the capacity rounded down to 4 KiB,
 *          written in blocks of bs bytes (the last one may be shorter).
 * Every data sector is self-describing: {magic, lba, generation} and 61
 * words derived from (lba, generation); an all-zero sector is
 * generation 0 (never written).
 *
 * Request framing: two descriptors per request, header and data in one
 * device-readable buffer for writes, data and status in one
 * device-writable buffer for reads (VERSION_1 devices accept any framing).
 * Each slot owns a page (indirect table at its start, the 16-byte header
 * at its end) followed by its data buffer and the status byte.
 */
#ifndef GUEST_BLK_H
#define GUEST_BLK_H

#include "virtio.h"

#define BLK_SECTOR 512
#define BLK_META_SECTORS 8 /* the first 4 KiB hold the commit record */
#define BLK_MAX_QD 128
#define BLK_MAX_SLOTS 256
#define BLK_MAX_BS (1U << 20)
#define BLK_SECTOR_MAGIC 0x31534b4c42574447ULL /* "GDWBLKS1" */
#define BLK_COMMIT_MAGIC 0x31434b4c42574447ULL /* "GDWBLKC1" */
#define BLK_COMMIT_DISCARD 1ULL /* zeroed data sectors may appear */
#define BLK_DISCARD_EVERY 16 /* discard=1: every 16th block */

/* virtio-blk (virtio 1.2, 5.2). */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_CFG_CAPACITY 0
#define VIRTIO_BLK_CFG_SIZE_MAX 8
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS 48

struct virtio_blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct virtio_blk_discard {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

enum blk_mode { BLK_MODE_WRITE, BLK_MODE_VERIFY, BLK_MODE_READ };

/* Sector 0. check mixes the words before it (a torn record fails). */
struct blk_commit {
	uint64_t magic;
	uint64_t version; /* 1 */
	uint64_t gen; /* generation of the last completed pass */
	uint64_t flags; /* BLK_COMMIT_DISCARD */
	uint64_t sectors; /* capacity when written (information only) */
	uint64_t check;
};

/* One request buffer; ring 3 owns it unless it is staged or in flight. */
struct blk_slot {
	uint8_t *page; /* indirect table at +0, header at +4080 */
	uint8_t *data; /* page + 4096; the status byte follows the data */
	uint16_t head; /* descriptor index the device reports */
};

/* Ring 0 writes it before ring 3 starts. */
struct blk_config {
	uint32_t mode; /* enum blk_mode */
	bool rand; /* pattern=rand */
	bool stats;
	bool discard; /* discard=1 */
	bool mix; /* mix=1: write and read-back steps overlap */
	bool flush; /* VIRTIO_BLK_F_FLUSH */
	bool can_discard; /* VIRTIO_BLK_F_DISCARD */
	bool can_zero; /* VIRTIO_BLK_F_WRITE_ZEROES */
	uint64_t passes; /* 0: forever */
	uint64_t qd;
	uint64_t bs;
	uint64_t capacity; /* sectors */
	uint64_t data_end; /* first sector after the data area */
	uint32_t nslots;
	struct virtq *q;
	struct blk_slot slot[BLK_MAX_SLOTS];
};

extern struct blk_config blk_config;

enum blk_bad { BLK_BAD_CORRUPT = 1, BLK_BAD_IO, BLK_BAD_RECORD };

/* One pass's figures: bytes, requests and TSC time of two steps. */
struct blk_figures {
	uint64_t w_bytes, w_reqs, w_tsc;
	uint64_t r_bytes, r_reqs, r_tsc;
};

/*
 * What ring 3 reports besides user_status[0] (progress = passes done;
 * on USER_BAD with BLK_BAD_CORRUPT: bad_a = lba, bad_b = expected,
 * bad_c = found; BLK_BAD_IO: bad_a = sector, bad_b = request type,
 * bad_c = status byte; BLK_BAD_RECORD: bad_a = the record's first word).
 * Pass p's figures are in fig[p & 1], written before progress = p, so a
 * tick that interrupts ring 3 never reads half-written ones.
 */
struct blk_report {
	uint32_t bad; /* enum blk_bad */
	uint64_t committed; /* generation in the commit record at start */
	struct blk_figures fig[2];
} __attribute__((aligned(CACHELINE)));

extern struct blk_report blk_report;

/*
 * Ring 3 sets it while it only waits for completions, clears it when it
 * reaps one; ring 0 then halts the vCPU until the next interrupt.
 */
extern volatile uint32_t blk_waiting;

/* blk_pattern.c (ring 3): the on-disk format. */
void blk_fill_sectors(uint8_t *buf, uint64_t lba, uint32_t n, uint64_t gen);
/*
 * Check n sectors at lba: each must hold a generation in [lo, hi], where
 * generation 0 is an all-zero sector; zero_ok also accepts zero sectors.
 * Returns true if all do, else fills the first mismatch (lba, expected
 * and found 64-bit word).
 */
bool blk_check_sectors(const uint8_t *buf, uint64_t lba, uint32_t n,
		       uint64_t lo, uint64_t hi, bool zero_ok,
		       uint64_t bad_out[3]);
void blk_commit_make(struct blk_commit *c, uint64_t gen, uint64_t flags,
		     uint64_t sectors);
bool blk_commit_valid(const struct blk_commit *c);

#endif
