/*
 * qcow2 images (version 3) inside the storage layer: the on-disk layout
 * (QEMU's docs/interop/qcow2.txt), the parsed header, one open image of
 * a backing chain, and the functions disk.c and io.c call.
 *
 * Supported: read and write, backing chains of qcow2 and raw images,
 * zero clusters, discard, refcount widths 1 to 64 bits, cluster sizes
 * 512 bytes to 2 MiB. Refused at open with one line naming the image and
 * the field: version 2, encryption, internal snapshots, external data
 * files, extended L2 entries, unknown incompatible features, and (for
 * read-write) the dirty or corrupt bits. Compressed clusters are refused
 * when a request reaches one.
 *
 * Crash safety. Metadata is written through (never cached dirty), in an
 * order that leaves at most leaked clusters after a crash at any moment:
 *   1. refcounts of a run of clusters are raised (and the file extended
 *      over them) before any is used, then fdatasync: a crash leaks the
 *      unused rest of the run;
 *   2. a new cluster's data is written, then its L2 entry; when the
 *      cluster holds bytes the guest did not write (copied up from the
 *      backing file, or zeroes over a reused cluster's old bytes), the
 *      entry is set in the cache at once but written to the file only
 *      after an fdatasync (batched: at the guest's next FLUSH, or when
 *      many are pending), so it never reaches the disk before the data;
 *   3. a new L2 table is written (and synced) before the L1 entry that
 *      points at it;
 *   4. freeing goes the other way: the L2 entry first, then (after an
 *      fdatasync, so batched: qcow2_free_later) the refcount.
 * A power failure or a process crash (SIGKILL) keeps what a FLUSH
 * covered, as with any write-back cache (a process crash also keeps
 * every completed write except first writes to clusters of an overlay
 * not yet flushed).
 *
 * Clusters freed while the image is open are not reused until it is
 * opened again: a request's data write may still be in flight to a
 * cluster a concurrent discard freed, and it must never land in a
 * cluster that meanwhile became metadata or another range's data.
 *
 * Threads: requests run on the disk's pool threads (qcow2_exec) and the
 * submitting thread maps the common case of an allocated cluster
 * (qcow2_map_fast) so that its data goes through io_uring. Each image's
 * metadata is under its own mutex, held for lookups and metadata writes,
 * never across data I/O. A cluster being allocated is marked in flight;
 * a second allocating writer of the same cluster waits for the first.
 */
#ifndef GODWIT_STORAGE_QCOW2_H
#define GODWIT_STORAGE_QCOW2_H

#include <endian.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "common/compiler.h"
#include "storage/disk.h"

#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */
#define QCOW2_V3_HEADER_LEN 104u
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_L1_BYTES (32u << 20) /* as QEMU: enough for 2^55 bytes */
#define QCOW2_MAX_RT_BYTES (8u << 20)
#define QCOW2_MAX_SIZE (1ull << 55) /* virtual size limit (bytes) */
#define QCOW2_BACKING_NAME_MAX 1023
#define QCOW2_CHAIN_MAX 64 /* images in a backing chain */

/* Header field offsets (big-endian on disk). */
#define QCOW2_OFF_BACKING_OFFSET 8
#define QCOW2_OFF_RT_OFFSET 48 /* u64, then rt_clusters u32 at 56 */
#define QCOW2_OFF_INCOMPAT 72
#define QCOW2_OFF_AUTOCLEAR 88

/* Feature bits. */
#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)

/* Header extension types. */
#define QCOW2_EXT_END 0u
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_FEATURE_NAMES 0x6803f857u
#define QCOW2_EXT_BITMAPS 0x23852875u
#define QCOW2_EXT_CRYPTO 0x0537be77u
#define QCOW2_EXT_DATA_FILE 0x44415441u

/* Table entries. */
#define QCOW2_OFLAG_COPIED (UINT64_C(1) << 63)
#define QCOW2_OFLAG_COMPRESSED (UINT64_C(1) << 62)
#define QCOW2_OFLAG_ZERO UINT64_C(1)
#define QCOW2_OFFSET_MASK UINT64_C(0x00fffffffffffe00) /* bits 9-55 */
#define QCOW2_L1_RESERVED UINT64_C(0x7f000000000001ff)
#define QCOW2_L2_RESERVED UINT64_C(0x3f000000000001fe)
#define QCOW2_RT_RESERVED 0x1ffull

/* The header, host byte order, after every check of qcow2_header_parse. */
struct qcow2_header {
	uint32_t version;
	uint32_t cluster_bits;
	uint64_t size; /* virtual size, bytes */
	uint32_t crypt_method;
	uint32_t l1_size; /* entries */
	uint64_t l1_offset;
	uint64_t rt_offset;
	uint32_t rt_clusters;
	uint32_t nb_snapshots;
	uint64_t incompat, compat, autoclear;
	uint32_t refcount_order;
	uint32_t header_length;
	uint64_t backing_offset;
	uint32_t backing_len;
	char backing[QCOW2_BACKING_NAME_MAX + 1]; /* "" = none */
	char backing_fmt[16]; /* "", "raw" or "qcow2" */
};

/*
 * Tables read from the image (L2 tables, refcount blocks), one cluster
 * each, keyed by their index (L1 index, refcount table index). Written
 * through, so a slot can always be dropped. Under the image's lock.
 */
struct qcow2_slot {
	uint64_t key;
	uint64_t used; /* LRU tick */
	void *data; /* cluster-sized, 4 KiB aligned; big-endian as on disk */
	bool valid;
};

struct qcow2_cache {
	struct qcow2_slot *slots;
	unsigned int nslots;
	uint64_t tick;
};

/* What a guest range is, in one image (qcow2_status). */
enum qcow2_kind {
	QCOW2_KIND_DATA, /* host clusters hold it */
	QCOW2_KIND_ZERO, /* reads as zeroes (zero flag) */
	QCOW2_KIND_UNALLOC, /* the backing file's, or zeroes without one */
	QCOW2_KIND_COMPRESSED, /* refused */
};

/* One allocating write in progress, guest cluster index. */
struct qcow2_inflight {
	uint64_t cluster;
	struct qcow2_inflight *next;
};

/* One image of a chain: a qcow2 image or (as a backing file) raw. */
struct qcow2 {
	int fd; /* data; the disk's own fd for the top image */
	int meta_fd; /* metadata: fd, or a second open without O_DIRECT */
	bool own_fd; /* close fd at the end (backing images) */
	bool raw; /* a raw backing file: only fd and size are used */
	bool readonly;
	bool direct;
	bool blockdev; /* cannot grow: no ftruncate, no fresh clusters */
	char path[4096];
	char label[64];
	struct qcow2_header h;
	uint64_t size; /* virtual size (raw: the file's size) */
	uint64_t cluster_size;
	unsigned int l2_bits; /* log2 of entries per L2 table */
	unsigned int rb_bits; /* log2 of entries per refcount block */
	uint64_t *l1; /* host order, l1_size entries */
	uint64_t *rt; /* host order, rt_entries entries */
	uint64_t rt_entries;
	uint64_t file_end; /* bytes: the host file's size, cluster-rounded */
	uint64_t free_hint; /* first cluster index that may be free */
	uint64_t res_next, res_end; /* reserved clusters not yet used */
	uint64_t res_fresh; /* reserved clusters >= this are holes */
	unsigned int res_batch; /* clusters to reserve next time */
	struct qcow2_cache l2c, rbc;
	uint64_t *frees; /* clusters whose refcount drops after a sync */
	size_t nfrees;
	struct qcow2_inflight *inflight;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* an in-flight allocation finished */
	bool lock_init;
	/*
	 * Guest offsets whose L2 entry (set in the cache) reaches the file
	 * only after a sync: copy-up writes (qcow2_l2_set_later).
	 */
	uint64_t *pend;
	size_t npend;
	struct qcow2 *backing; /* NULL: none */
	dev_t dev;
	ino_t ino;
};

/*
 * Parse and check the first cluster of an image (len bytes of it, at
 * least the header; file_size: the image's size). Every refusal is one
 * line "disk LABEL: PATH: ..." naming the field. Pure: fuzzed.
 */
int qcow2_header_parse(const uint8_t *buf, size_t len, uint64_t file_size,
		       const char *label, const char *path,
		       struct qcow2_header *h, char *why,
		       size_t whylen) __must_check;

struct qcow2_open_args {
	int fd; /* the open image; not closed by qcow2_close */
	const char *path;
	const char *label;
	bool readonly;
	bool direct; /* fd has O_DIRECT */
	bool no_backing; /* ignore a backing file (fuzzing) */
};

/* Open the image on fd and its backing chain (read-only, read-locked). */
int qcow2_open(const struct qcow2_open_args *a, struct qcow2 **q_out, char *why,
	       size_t whylen) __must_check;
/* Give back unused reserved clusters, close the chain. NULL ok. */
void qcow2_close(struct qcow2 *q);

/* Does the file start with the qcow2 magic? */
bool qcow2_probe(int fd);

/*
 * Run a request synchronously (a pool thread). READ, WRITE, DISCARD,
 * WRITE_ZEROES, FLUSH. 0 or -errno; -EIO after a metadata error, which
 * is logged naming the image and the entry.
 */
int qcow2_exec(struct qcow2 *q, struct disk_req *req);

/*
 * The fast path, on the submitting thread: if [off, off+len) lies in
 * clusters that are allocated (for a write: and not shared) at
 * contiguous host offsets and whose L2 table is cached, put the host
 * offset in host_out and return true. Never does I/O.
 */
bool qcow2_map_fast(struct qcow2 *q, uint64_t off, uint64_t len, bool write,
		    uint64_t *host_out);

/*
 * What [off, off+len) is in the top image: the kind of its first byte
 * and how many bytes from off have the same kind (>= 1 cluster's worth
 * or up to len). Any thread.
 */
int qcow2_status(struct qcow2 *q, uint64_t off, uint64_t len,
		 enum qcow2_kind *kind_out, uint64_t *n_out) __must_check;

struct qcow2_create_args {
	const char *path;
	uint64_t size; /* 0: the backing file's */
	unsigned int cluster_bits; /* 0: 16 (64 KiB) */
	const char *backing; /* NULL: none; stored as given */
	const char *backing_fmt; /* "raw" or "qcow2"; NULL: probed */
};

/*
 * Create a new image (O_EXCL: never over an existing file), refcount
 * width 16, lazy refcounts off. why: one line naming the file.
 */
int qcow2_create(const struct qcow2_create_args *a, char *why,
		 size_t whylen) __must_check;

/* qcow2_meta.c: the image's tables; all under q->lock. */
int qcow2_meta_init(struct qcow2 *q, char *why, size_t whylen) __must_check;
void qcow2_meta_fini(struct qcow2 *q);
/* The L2 entry for guest offset off (0: none); -EIO if corrupt. */
int qcow2_l2_get(struct qcow2 *q, uint64_t off, uint64_t *entry) __must_check;
/* Cached only: false if the table is not in the cache. */
bool qcow2_l2_peek(struct qcow2 *q, uint64_t off, uint64_t *entry);
/* Write the L2 entry for off, allocating its table if needed. */
int qcow2_l2_set(struct qcow2 *q, uint64_t off, uint64_t entry) __must_check;
/* Set it in the cache now, write it after the next sync (see above). */
int qcow2_l2_set_later(struct qcow2 *q, uint64_t off,
		       uint64_t entry) __must_check;
/*
 * Make what is written so far stable: fdatasync, then the pending L2
 * entries, then fdatasync again (nothing pending: one fdatasync).
 */
int qcow2_flush(struct qcow2 *q) __must_check;
/* A free cluster (refcount 1 from now on); fresh: it reads zeroes. */
int qcow2_alloc(struct qcow2 *q, uint64_t *host_out,
		bool *fresh_out) __must_check;
/* Drop a cluster's refcount to 0 now (it was never referenced). */
int qcow2_free(struct qcow2 *q, uint64_t host) __must_check;
/*
 * Its last reference was just written away: drop its refcount once that
 * write is synced (a power failure in between must not leave a
 * reference to a free cluster). Batched; a crash first leaks it.
 */
int qcow2_free_later(struct qcow2 *q, uint64_t host) __must_check;
/* Sync, then drop the refcounts qcow2_free_later left pending. */
int qcow2_free_pending(struct qcow2 *q) __must_check;
int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster,
		       uint64_t *rc_out) __must_check;
/* Apply pending frees; give back the reserved clusters nothing used
 * (at close, before the lock goes, before an overlay goes on top). */
void qcow2_unreserve(struct qcow2 *q);

/* The table cache (qcow2_meta.c): find, take a slot for key, drop. */
void *qcow2_cache_find(struct qcow2_cache *c, uint64_t key);
struct qcow2_slot *qcow2_cache_take(struct qcow2_cache *c, uint64_t key,
				    size_t bytes);
void qcow2_cache_drop(struct qcow2_cache *c, uint64_t key);
/* Log one line naming the image: a metadata error met during I/O. */
void qcow2_meta_error(const struct qcow2 *q, const char *fmt, ...)
	__printf(2, 3);
/* fdatasync the metadata fd. */
int qcow2_sync_meta(struct qcow2 *q) __must_check;
/* Reserved-run sizing at open (qcow2_refcount.c). */
unsigned int qcow2_reserve_first(const struct qcow2 *q);

static inline uint64_t qcow2_be64_get(const void *t, uint64_t i)
{
	uint64_t v;

	memcpy(&v, (const char *)t + i * 8, 8);
	return be64toh(v);
}

static inline void qcow2_be64_put(void *t, uint64_t i, uint64_t v)
{
	v = htobe64(v);
	memcpy((char *)t + i * 8, &v, 8);
}

/* Pure helpers shared with the tests. */
uint64_t qcow2_rb_get(const void *block, unsigned int order, uint64_t i);
void qcow2_rb_set(void *block, unsigned int order, uint64_t i, uint64_t v);
/* Read whole: 0, -errno, -EIO at end of file. */
int qcow2_pread_full(int fd, void *buf, size_t len, uint64_t off);
int qcow2_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

#endif
