/*
 * Lazy restore (lazy.h): the index the restore pass builds, and the
 * thread that serves guest RAM from the save file afterwards. The thread
 * answers faults first, then loads the next region of the background
 * pass, one region between looks at the fault queue. A region is
 * assembled in a buffer from the batches that hold its pages (the last
 * two batches read are kept: regions and batches both go in page order)
 * and placed whole.
 */
#include "migration/lazy.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "vmm/vm.h"

#define SLOT_BITS 10
#define REGION_PAGES MEM_REGION_PAGES
#define MAX_BATCHES (1ULL << (32 - SLOT_BITS)) /* 16 TiB of 4 MiB batches */
/* The longest page batch a reader accepts, padded. */
#define BATCH_BODY_MAX                                                 \
	rec_padded(sizeof(struct rec_page_data) + 8 * PAGE_BATCH_MAX + \
		   PAGE_BATCH_MAX * STREAM_PAGE_SIZE)

int lazy_init(struct lazy_restore *lz, uint64_t nr_pages, uint32_t version)
{
	memset(lz, 0, sizeof(*lz));
	lz->fd = -1;
	lz->ctl_fd = -1;
	lz->ram.fd = -1;
	lz->version = version;
	lz->nr_pages = nr_pages;
	lz->cache[0].batch = lz->cache[1].batch = -1;
	lz->page = calloc(nr_pages, sizeof(*lz->page));
	return lz->page ? 0 : -ENOMEM;
}

static int add_batch(struct lazy_restore *lz, const struct lazy_batch *b)
{
	struct lazy_batch *n;

	if (lz->nr_batches == MAX_BATCHES)
		return -E2BIG;
	if (lz->nr_batches == lz->cap) {
		lz->cap = lz->cap ? lz->cap * 2 : 256;
		n = realloc(lz->batches, lz->cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		lz->batches = n;
	}
	lz->batches[lz->nr_batches++] = *b;
	return 0;
}

/* Every NORMAL page: its batch and data slot; each pfn once. */
static int note_pages(struct lazy_restore *lz, const uint64_t *pfn,
		      uint32_t count, struct guest_mem *mem,
		      struct bitmap *seen, struct rec_error *err)
{
	uint32_t i, slot = 0;
	int64_t idx;

	for (i = 0; i < count; i++) {
		idx = mem_pfn_to_index(mem, pfn[i] & PFN_MASK);
		if (idx < 0)
			return -EINVAL; /* rec_page_data_check refused it */
		if (bitmap_test(seen, idx)) {
			snprintf(
				err->why, sizeof(err->why),
				"pfn 0x%llx sent again in a stream without the LIVE flag",
				(unsigned long long)(pfn[i] & PFN_MASK));
			return -EINVAL;
		}
		bitmap_set(seen, idx);
		if (pfn[i] & PFN_TYPE_MASK)
			continue; /* ZERO: nothing to load */
		lz->page[idx] = (uint32_t)(lz->nr_batches + 1) << SLOT_BITS |
				slot++;
		lz->data_pages++;
	}
	return 0;
}

int lazy_index_batch(struct lazy_restore *lz, struct stream *s,
		     const struct rec_hdr *h, const struct rec_limits *lim,
		     struct guest_mem *mem, struct bitmap *seen,
		     struct rec_error *err)
{
	struct lazy_batch b = { .body_off = s->offset,
				.h = *h,
				.seed = s->rec_chain };
	uint64_t pfn[PAGE_BATCH_MAX + 1];
	struct rec_page_data *pd = (struct rec_page_data *)pfn;
	uint32_t normal;
	int rc;

	if (h->length < sizeof(*pd)) {
		snprintf(err->why, sizeof(err->why),
			 "body of %u bytes is too short for a batch",
			 h->length);
		return stream_set_error(s, -EINVAL);
	}
	if (stream_read(s, pd, sizeof(*pd)))
		return rec_io_error(s, err, "record body");
	if (!pd->count || pd->count > PAGE_BATCH_MAX ||
	    sizeof(*pd) + 8ULL * pd->count > h->length) {
		snprintf(err->why, sizeof(err->why),
			 "count %u is out of range (1..%u) or exceeds the body",
			 pd->count, PAGE_BATCH_MAX);
		return stream_set_error(s, -EINVAL);
	}
	if (stream_read(s, pfn + 1, 8ULL * pd->count))
		return rec_io_error(s, err, "record body");
	if (rec_page_data_check(pd, sizeof(*pd) + 8ULL * pd->count, h->length,
				lim, &normal, err->why, sizeof(err->why)))
		return stream_set_error(s, -EINVAL);
	rc = note_pages(lz, pfn + 1, pd->count, mem, seen, err);
	if (!rc)
		rc = add_batch(lz, &b);
	if (rc)
		return stream_set_error(s, rc);
	return rec_defer_body(s, h, sizeof(*pd) + 8 * pd->count, err);
}

/* ---- serving ---- */

/* Read batch b whole and check it, as the restore pass could not. */
static int read_batch(struct lazy_restore *lz, uint64_t b,
		      struct lazy_cached *c, char *why, size_t whylen)
{
	const struct lazy_batch *lb = &lz->batches[b];
	uint32_t padded = rec_padded(lb->h.length), crc, i, n = 0;
	const struct rec_page_data *pd;
	const uint64_t *pfn;
	ssize_t r;

	r = pread(lz->fd, c->body, padded, lb->body_off);
	if (r != (ssize_t)padded) {
		snprintf(why, whylen,
			 "record PAGE_DATA at offset %llu: cannot read it: %s",
			 (unsigned long long)(lb->body_off - sizeof(lb->h)),
			 r < 0 ? strerror(errno) : "the file is shorter now");
		return -EIO;
	}
	crc = crc32c(rec_crc_begin(lz->version, lb->seed, &lb->h), c->body,
		     lb->h.length);
	for (i = lb->h.length; i < padded && !c->body[i]; i++)
		;
	if (crc != lb->h.crc || i < padded) {
		snprintf(
			why, whylen, "record PAGE_DATA at offset %llu: %s",
			(unsigned long long)(lb->body_off - sizeof(lb->h)),
			i < padded ?
				"padding is not zero" :
				"CRC mismatch: the save file was damaged or changed after the restore began");
		return -EBADMSG;
	}
	pd = (const struct rec_page_data *)c->body;
	pfn = (const uint64_t *)(pd + 1);
	for (i = 0; i < pd->count && i < PAGE_BATCH_MAX; i++)
		if (!(pfn[i] & PFN_TYPE_MASK))
			c->slot_pfn[n++] = pfn[i] & PFN_MASK;
	c->nr_slots = n;
	c->data = (const uint8_t *)(pfn + pd->count);
	c->batch = b;
	return 0;
}

static struct lazy_cached *get_batch(struct lazy_restore *lz, uint64_t b,
				     char *why, size_t whylen)
{
	struct lazy_cached *c;
	unsigned int i;

	for (i = 0; i < 2; i++)
		if (lz->cache[i].batch == (int64_t)b)
			return &lz->cache[i];
	c = &lz->cache[lz->next_cache];
	lz->next_cache ^= 1;
	c->batch = -1;
	return read_batch(lz, b, c, why, whylen) ? NULL : c;
}

/* Region r's pages from their batches into lz->region, then placed. */
static int load_region(struct lazy_restore *lz, uint64_t r, char *why,
		       size_t whylen)
{
	struct guest_mem *mem = lz->ram.mem;
	struct lazy_cached *c;
	uint64_t i, idx;
	uint32_t v, slot;
	int rc;

	memset(lz->region, 0, MEM_REGION_SIZE);
	for (i = 0; i < REGION_PAGES; i++) {
		idx = r * REGION_PAGES + i;
		v = idx < lz->nr_pages ? lz->page[idx] : 0;
		if (!v)
			continue;
		c = get_batch(lz, (v >> SLOT_BITS) - 1, why, whylen);
		if (!c)
			return -EBADMSG;
		slot = v & ((1u << SLOT_BITS) - 1);
		if (slot >= c->nr_slots ||
		    c->slot_pfn[slot] != mem_index_to_pfn(mem, idx)) {
			snprintf(
				why, whylen,
				"a page batch names other pages than when the restore began: the save file changed");
			return -EBADMSG;
		}
		memcpy(lz->region + i * PAGE_SIZE,
		       c->data + (uint64_t)slot * PAGE_SIZE, PAGE_SIZE);
	}
	rc = uffd_ram_place(&lz->ram, r, lz->region);
	if (rc)
		snprintf(why, whylen, "placing guest RAM: %s", strerror(-rc));
	return rc;
}

/* Warn once if the file is not the one the restore read. */
static void check_file(struct lazy_restore *lz)
{
	struct stat st;

	if (lz->changed || fstat(lz->fd, &st))
		return;
	if (st.st_size == lz->st0.st_size &&
	    st.st_mtim.tv_sec == lz->st0.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == lz->st0.st_mtim.tv_nsec)
		return;
	lz->changed = true;
	log_warn(
		"restore %s: the save file changed while the VM runs from it: every page still to come is checked, and the VM stops at the first that is not what the file held",
		lz->name);
}

/* Faults first: each region a thread waits on, now. */
static int serve_faults(struct lazy_restore *lz, char *why, size_t whylen)
{
	uint64_t r;
	bool fetch;
	int rc;

	while (!(rc = uffd_ram_next_fault(&lz->ram, &r, &fetch))) {
		__atomic_fetch_add(&lz->faults, 1, __ATOMIC_RELAXED);
		if (fetch && (rc = load_region(lz, r, why, whylen)))
			return rc;
	}
	if (rc == -EAGAIN)
		return 0;
	snprintf(why, whylen, "userfaultfd: %s", strerror(-rc));
	return rc;
}

/* The background pass: the next region not in yet, if any. */
static int load_next(struct lazy_restore *lz, char *why, size_t whylen)
{
	while (lz->next_bg < lz->ram.nr_regions &&
	       uffd_ram_is_loaded(&lz->ram, lz->next_bg))
		lz->next_bg++;
	if (lz->next_bg == lz->ram.nr_regions)
		return 0;
	if (lz->next_bg % 64 == 0)
		check_file(lz);
	return load_region(lz, lz->next_bg++, why, whylen);
}

static void *lazy_thread(void *opaque)
{
	struct lazy_restore *lz = opaque;
	char why[300] = "";
	int rc = 0;

	while (!rc && !uffd_ram_complete(&lz->ram)) {
		struct pollfd p[2] = { { .fd = lz->ram.fd, .events = POLLIN },
				       { .fd = lz->ctl_fd, .events = POLLIN } };

		if (poll(p, 2, 0) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			return NULL; /* stop: the VM ends */
		rc = serve_faults(lz, why, sizeof(why));
		if (!rc)
			rc = load_next(lz, why, sizeof(why));
	}
	if (!rc) {
		uffd_ram_close(&lz->ram);
		__atomic_store_n(&lz->done_ns, time_mono_ns(),
				 __ATOMIC_RELAXED);
		__atomic_store_n(&lz->complete, true, __ATOMIC_RELEASE);
	}
	lz->ops->done(lz->opaque, rc, why);
	return NULL;
}

/* Every region the file has a page of is wanted. */
static int want_regions(struct lazy_restore *lz)
{
	uint64_t r, i;
	int rc = 0;

	for (r = 0; !rc && r < lz->ram.nr_regions; r++) {
		for (i = 0; i < REGION_PAGES; i++) {
			if (lz->page[r * REGION_PAGES + i]) {
				rc = uffd_ram_want(&lz->ram, r);
				break;
			}
		}
	}
	return rc;
}

int lazy_start(struct lazy_restore *lz, struct vm *vm, int fd, const char *name,
	       const struct lazy_ops *ops, void *opaque, char *why,
	       size_t whylen)
{
	int rc;

	lz->vm = vm;
	lz->fd = fd;
	lz->ops = ops;
	lz->opaque = opaque;
	lz->start_ns = time_mono_ns();
	snprintf(lz->name, sizeof(lz->name), "%s", name);
	if (fstat(fd, &lz->st0) || !S_ISREG(lz->st0.st_mode)) {
		snprintf(why, whylen, "--lazy needs a regular file");
		return -EINVAL;
	}
	rc = uffd_ram_open(&lz->ram, &vm->mem, why, whylen);
	if (rc)
		return rc;
	lz->region = malloc(MEM_REGION_SIZE);
	lz->cache[0].body = malloc(BATCH_BODY_MAX);
	lz->cache[1].body = malloc(BATCH_BODY_MAX);
	lz->ctl_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rc = lz->region && lz->cache[0].body && lz->cache[1].body &&
			     lz->ctl_fd >= 0 ?
		     want_regions(lz) :
		     -ENOMEM;
	if (!rc)
		rc = -pthread_create(&lz->thread, NULL, lazy_thread, lz);
	lz->thread_on = !rc;
	if (rc)
		snprintf(why, whylen, "starting the lazy restore: %s",
			 strerror(-rc));
	return rc;
}

void lazy_destroy(struct lazy_restore *lz)
{
	uint64_t one = 1;

	if (lz->thread_on) {
		if (write(lz->ctl_fd, &one, sizeof(one)) < 0)
			log_warn("cannot stop the lazy restore thread");
		pthread_join(lz->thread, NULL);
		lz->thread_on = false;
	}
	uffd_ram_close(&lz->ram);
	if (lz->ctl_fd >= 0)
		close(lz->ctl_fd);
	lz->ctl_fd = -1;
	free(lz->region);
	free(lz->cache[0].body);
	free(lz->cache[1].body);
	free(lz->batches);
	free(lz->page);
	memset(lz, 0, sizeof(*lz));
	lz->fd = lz->ctl_fd = lz->ram.fd = -1;
}
