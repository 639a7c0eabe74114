/*
 * Lazy restore (godwit restore --lazy FILE): the guest runs as soon as
 * its state is loaded; its memory comes from the save file on first
 * touch, a 2 MiB region at a time (uffd.h), while a background pass
 * loads the rest. Regions the file has no page of are never read: they
 * are zero, allocated when touched.
 *
 * The restore pass reads every record as a plain restore does (state,
 * END's count and digest, completeness), except page batches: of those
 * it reads only the pfn list, checks it (RAM, once per stream), notes
 * where each page's data lies, and passes over the data (the record's
 * CRC is taken on trust for the chain: recio.h, rec_defer_body). A batch
 * is read whole, and its CRC checked against the chain value before it,
 * the first time a page of it is needed: before any of its pages is
 * placed. A batch that does not check out (the file was damaged or
 * changed after the restore pass) stops the VM with one line; it never
 * runs on memory the file did not vouch for. The file stays open while
 * the VM runs from it; a change to it is reported at once.
 *
 * A save or migration of the VM waits for the background pass: until
 * then guest RAM has holes that are not zero (monitor_job_may_start).
 */
#ifndef GODWIT_MIGRATION_LAZY_H
#define GODWIT_MIGRATION_LAZY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/compiler.h"
#include "migration/recio.h"
#include "migration/uffd.h"

struct vm;

/* One page batch: where it is, and what checks it. */
struct lazy_batch {
	uint64_t body_off; /* file offset of the body */
	struct rec_hdr h; /* as read: type, length, CRC, seq */
	uint32_t seed; /* the chain value before the record */
};

/* A batch read and checked: the pfn of each data block (slot). */
struct lazy_cached {
	int64_t batch; /* -1: empty */
	uint8_t *body; /* the whole body */
	uint32_t nr_slots;
	uint64_t slot_pfn[PAGE_BATCH_MAX];
	const uint8_t *data; /* the first data block */
};

/* What the lazy thread reports, on its own thread. */
struct lazy_ops {
	/* Every region is in (rc 0), or a batch failed its checks (why). */
	void (*done)(void *opaque, int rc, const char *why);
};

struct lazy_restore {
	/* the index, built by the restore pass */
	uint32_t version;
	struct lazy_batch *batches;
	uint64_t nr_batches, cap;
	uint32_t *page; /* per RAM page: (batch + 1) << 10 | data slot */
	uint64_t nr_pages, data_pages;
	/* serving */
	struct vm *vm;
	int fd;
	char name[256]; /* for messages */
	struct stat st0; /* the file as it was restored */
	bool changed; /* reported once */
	struct uffd_ram ram;
	uint8_t *region;
	struct lazy_cached cache[2];
	unsigned int next_cache;
	uint64_t next_bg; /* the background pass's next region */
	int ctl_fd; /* eventfd: stop */
	pthread_t thread;
	bool thread_on;
	const struct lazy_ops *ops;
	void *opaque;
	/* figures, atomic */
	uint64_t faults, start_ns, done_ns;
	bool complete;
};

/* An empty index for guest RAM of nr_pages pages. */
int lazy_init(struct lazy_restore *lz, uint64_t nr_pages,
	      uint32_t version) __must_check;
/*
 * The restore pass met a PAGE_DATA record (header h read from s, a
 * regular file): index it (seen: pages of this stream so far) and pass
 * over its data. As pages_recv(), it refuses what a plain restore does.
 */
int lazy_index_batch(struct lazy_restore *lz, struct stream *s,
		     const struct rec_hdr *h, const struct rec_limits *lim,
		     struct guest_mem *mem, struct bitmap *seen,
		     struct rec_error *err) __must_check;
/*
 * The state is loaded, the vCPUs not started: serve guest RAM from the
 * file fd (kept open) from now on. -errno with why.
 */
int lazy_start(struct lazy_restore *lz, struct vm *vm, int fd, const char *name,
	       const struct lazy_ops *ops, void *opaque, char *why,
	       size_t whylen) __must_check;
/* Stop the thread (the VM ends) and free everything. Idempotent. */
void lazy_destroy(struct lazy_restore *lz);
static inline bool lazy_complete(struct lazy_restore *lz)
{
	return __atomic_load_n(&lz->complete, __ATOMIC_ACQUIRE);
}

#endif
