/*
 * The restore loop, after Xen's: read a record header (recio checks its
 * length, sequence number and type), then process_record() hands it to
 * the handler of its type. Page data goes straight into guest RAM; state
 * is collected and applied only once END proved the stream whole.
 */
#include "migration/restore.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "common/why.h"
#include "migration/handover.h"
#include "migration/lazy.h"
#include "migration/pages.h"
#include "migration/postcopy.h"
#include "migration/vmstate.h"
#include "vmm/vm.h"

#define STATE_BODY_MAX (XSAVE_MAX + 64)

/* Everything one pass over the records needs. */
struct restore_ctx {
	struct stream *s;
	const struct restore_target *t;
	struct rec_limits lim;
	bool live; /* LIVE stream: pages may repeat, ROUNDs are answered */
	struct bitmap seen; /* not live: the pages received so far */
	struct page_rx prx;
	uint8_t *buf; /* body of a state or optional record */
	struct rec_hdr h; /* the record being processed */
	struct restore_result *res;
	struct rec_error *err;
};

void restore_describe(const struct rec_error *err, char *buf, size_t len)
{
	if (err->type == REC_ERR_STREAM_HEADER)
		snprintf(buf, len, "stream header at offset %llu: %s",
			 (unsigned long long)err->offset, err->why);
	else if (err->type == REC_ERR_RECORD_HEADER)
		snprintf(buf, len, "record header at offset %llu: %s",
			 (unsigned long long)err->offset, err->why);
	else
		snprintf(buf, len, "record %s (0x%x) at offset %llu: %s",
			 rec_type_name(err->type), err->type,
			 (unsigned long long)err->offset, err->why);
}

static int header_error(struct stream *s, char *config, int rc)
{
	free(config);
	return stream_set_error(s, rc);
}

/* The fixed part; in revision 2 the stream id follows the first 64. */
static int read_fixed_header(struct stream *s, struct stream_header *h,
			     struct rec_error *err)
{
	memset(h, 0, sizeof(*h));
	if (stream_read(s, h, STREAM_HEADER_V1_SIZE))
		return rec_io_error(s, err, "stream header");
	if (stream_header_check_fixed(h, err->why, sizeof(err->why)))
		return stream_set_error(s, -EINVAL);
	if (h->header_size > STREAM_HEADER_V1_SIZE &&
	    stream_read(s, (uint8_t *)h + STREAM_HEADER_V1_SIZE,
			h->header_size - STREAM_HEADER_V1_SIZE))
		return rec_io_error(s, err, "stream header");
	return 0;
}

int restore_read_header(struct stream *s, struct stream_header *h,
			char **config_out, struct rec_error *err)
{
	uint32_t padded, i;
	char *config;

	err->offset = 0;
	err->type = REC_ERR_STREAM_HEADER;
	if (read_fixed_header(s, h, err))
		return s->error;
	padded = rec_padded(h->config_len);
	config = calloc(1, padded + 1);
	if (!config)
		return stream_set_error(s, -ENOMEM);
	err->offset = h->header_size;
	if (stream_read(s, config, padded)) {
		rec_io_error(s, err, "domain config");
		return header_error(s, config, s->error);
	}
	if (stream_header_check(h, config, err->why, sizeof(err->why)))
		return header_error(s, config, -EINVAL);
	/* The padding is not under the CRC: it must be zero, as specified. */
	for (i = h->config_len; i < padded; i++) {
		if (config[i]) {
			snprintf(err->why, sizeof(err->why),
				 "config padding is not zero");
			return header_error(s, config, -EINVAL);
		}
	}
	config[h->config_len] = 0;
	rec_stream_start(s, h);
	*config_out = config;
	return 0;
}

int restore_check_machine(const struct stream_header *h, uint64_t mem_bytes,
			  uint32_t nr_vcpus, char *why, size_t whylen)
{
	if (h->mem_bytes != mem_bytes)
		return why_set(
			why, whylen, -EINVAL,
			"machine identity: memory %llu MiB, but the config says %llu MiB",
			(unsigned long long)(h->mem_bytes >> 20),
			(unsigned long long)(mem_bytes >> 20));
	if (h->nr_vcpus != nr_vcpus)
		return why_set(
			why, whylen, -EINVAL,
			"machine identity: %u vCPUs, but the config says %u",
			h->nr_vcpus, nr_vcpus);
	return 0;
}

int restore_check_identity(const struct vm *vm, const struct stream_header *h,
			   char *why, size_t whylen)
{
	if (memcmp(h->cpu_vendor, vm->cpu_vendor, sizeof(h->cpu_vendor)))
		return why_set(
			why, whylen, -EINVAL,
			"machine identity: CPU vendor %.12s, this host is %.12s",
			h->cpu_vendor, vm->cpu_vendor);
	if (h->cpuid_digest != vm->cpuid_digest)
		return why_set(
			why, whylen, -EINVAL,
			"machine identity: CPU feature digest 0x%08x differs from this host's 0x%08x for cpu model '%s'",
			h->cpuid_digest, vm->cpuid_digest,
			vm->config.cpu_model);
	return restore_check_machine(h, vm->mem.size, vm->nr_vcpus, why,
				     whylen);
}

static int fail(struct restore_ctx *c, int rc)
{
	return stream_set_error(c->s, rc);
}

static int fail_why(struct restore_ctx *c, const char *why)
{
	snprintf(c->err->why, sizeof(c->err->why), "%s", why);
	return fail(c, -EINVAL);
}

/* An unknown optional record: skipped, its CRC still checked. */
static int handle_skip(struct restore_ctx *c)
{
	uint8_t buf[4096];
	uint32_t left = c->h.length, crc = rec_body_crc_init(c->s, &c->h);

	while (left) {
		uint32_t k = MIN(left, (uint32_t)sizeof(buf));

		if (stream_read(c->s, buf, k))
			return rec_io_error(c->s, c->err, "record body");
		crc = crc32c(crc, buf, k);
		left -= k;
	}
	return rec_read_tail(c->s, &c->h, crc, c->err);
}

/* Any record but PAGE_DATA: the whole body into c->buf, checked. */
static int read_checked_body(struct restore_ctx *c)
{
	if (c->h.length > STATE_BODY_MAX)
		return fail_why(c, "length is too large for this record type");
	if (rec_read_body(c->s, &c->h, c->buf, c->err))
		return c->s->error;
	if (rec_body_check(c->h.type, c->buf, c->h.length, &c->lim, c->err->why,
			   sizeof(c->err->why)))
		return fail(c, -EINVAL);
	return 0;
}

/* SAVE_INFO, PADDING: informational, checked and dropped. */
static int handle_info(struct restore_ctx *c)
{
	return read_checked_body(c);
}

/*
 * A live source waits for its last ROUND to be applied before pausing
 * the VM: acknowledge it. Best effort: a file or a full socket buffer
 * just means no acknowledgement.
 */
static int handle_round(struct restore_ctx *c)
{
	const struct rec_round *r = (const struct rec_round *)c->buf;
	int rc = read_checked_body(c);

	if (rc)
		return rc;
	c->res->rounds++;
	if (c->live && handover_send_nowait(c->s, HANDOVER_ROUND_ACK, r->round))
		log_debug("round %u not acknowledged", r->round);
	return 0;
}

/* Machine and device state: collected, applied after END. */
static int handle_state(struct restore_ctx *c)
{
	int rc = read_checked_body(c);

	if (!rc)
		rc = vmstate_rx_add(c->t->rx, c->t->devs, c->h.type, c->buf,
				    c->h.length, c->err->offset, c->err->why,
				    sizeof(c->err->why));
	return rc ? fail(c, rc) : 0;
}

/*
 * POSTCOPY: the regions to fetch after the handover. Only in a live
 * stream, once, after the last page (the source sends none after it).
 */
static int handle_postcopy(struct restore_ctx *c)
{
	int rc;

	if (!c->live || !c->t->postcopy)
		return fail_why(
			c,
			c->live ? "post-copy is not possible here" :
				  "POSTCOPY in a stream without the LIVE flag");
	if (c->t->postcopy->present)
		return fail_why(c, "a second POSTCOPY record");
	rc = read_checked_body(c);
	if (rc)
		return rc;
	rc = postcopy_plan_read(c->t->postcopy, c->buf, c->h.length);
	return rc ? fail(c, rc) : 0;
}

static int handle_page_data(struct restore_ctx *c)
{
	uint64_t n = 0;
	int rc;

	if (c->t->postcopy && c->t->postcopy->present)
		return fail_why(c, "PAGE_DATA after POSTCOPY");
	if (c->t->lazy && c->live)
		return fail_why(c, "a live stream cannot be restored lazily");
	if (c->t->lazy)
		return lazy_index_batch(c->t->lazy, c->s, &c->h, &c->lim,
					c->t->mem, &c->seen, c->err);
	rc = pages_recv(&c->prx, c->s, c->t->mem, &c->h, &c->lim,
			c->live ? NULL : &c->seen, c->err, &n);
	c->res->pages += n;
	return rc;
}

/* The stream is whole (counted and digested) and the state complete. */
static int handle_end(struct restore_ctx *c)
{
	if (rec_read_end(c->s, &c->h, &c->lim, c->err))
		return c->s->error;
	if (vmstate_rx_complete(c->t->rx, c->t->devs, c->err->why,
				sizeof(c->err->why)))
		return fail(c, -EINVAL);
	return 0;
}

static int process_record(struct restore_ctx *c)
{
	switch (c->h.type) {
	case REC_END:
		return handle_end(c);
	case REC_PAGE_DATA:
		return handle_page_data(c);
	case REC_VCPU_REGS:
	case REC_VCPU_SREGS:
	case REC_VCPU_XSAVE:
	case REC_VCPU_XCRS:
	case REC_VCPU_MSRS:
	case REC_VCPU_LAPIC:
	case REC_VCPU_EVENTS:
	case REC_VCPU_MP_STATE:
	case REC_VCPU_DEBUGREGS:
	case REC_IRQCHIP:
	case REC_PIT:
	case REC_CLOCK:
	case REC_DEVICE:
		return handle_state(c);
	case REC_POSTCOPY:
		return handle_postcopy(c);
	case REC_ROUND:
		return handle_round(c);
	case REC_SAVE_INFO:
	case REC_PADDING:
		return handle_info(c);
	default: /* optional: rec_read_hdr refused unknown mandatory types */
		return handle_skip(c);
	}
}

static void count_record(struct restore_result *res, uint32_t type)
{
	res->records++;
	if (type < RESTORE_NR_TYPES)
		res->count[type]++;
	else
		res->optional++;
}

/* Read records until END. */
static int read_records(struct restore_ctx *c)
{
	int rc;

	do {
		rc = rec_read_hdr(c->s, &c->h, c->err);
		if (!rc)
			rc = process_record(c);
		if (!rc)
			count_record(c->res, c->h.type);
	} while (!rc && c->h.type != REC_END);
	return rc;
}

static int ctx_init(struct restore_ctx *c, struct stream *s,
		    const struct stream_header *h,
		    const struct restore_target *t)
{
	c->s = s;
	c->t = t;
	c->lim = (struct rec_limits){ .nr_vcpus = h->nr_vcpus,
				      .version = h->version,
				      .mem_bytes = h->mem_bytes };
	c->live = h->flags & STREAM_F_LIVE;
	c->buf = malloc(STATE_BODY_MAX);
	if (!c->buf || page_rx_init(&c->prx))
		return -ENOMEM;
	c->prx.discard = t->check_only; /* page_rx_init: false */
	if (!c->live && bitmap_init(&c->seen, mem_nr_pages(t->mem)))
		return -ENOMEM;
	return 0;
}

static void ctx_destroy(struct restore_ctx *c)
{
	bitmap_destroy(&c->seen);
	page_rx_destroy(&c->prx);
	free(c->buf);
}

int restore_records(struct stream *s, const struct stream_header *h,
		    const struct restore_target *t, struct restore_result *res,
		    struct rec_error *err)
{
	struct restore_ctx c = { .res = res, .err = err };
	uint64_t start = time_mono_ns(), off0 = s->offset;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = ctx_init(&c, s, h, t);
	if (rc)
		snprintf(err->why, sizeof(err->why), "out of memory");
	else
		rc = read_records(&c);
	res->pages_data = c.prx.data_pages;
	ctx_destroy(&c);
	res->bytes = s->offset - off0;
	res->duration_ns = time_mono_ns() - start;
	return rc;
}

int restore_check_stream(struct stream *s, const struct stream_header *h,
			 struct dev_registry *devs, struct restore_result *res,
			 struct rec_error *err)
{
	/* The layout of guest RAM, without any RAM. */
	struct guest_mem mem = { .memfd = -1, .vm_fd = -1 };
	struct postcopy_plan plan = { .present = false };
	struct vmstate_rx rx;
	struct restore_target t = { .mem = &mem,
				    .check_only = true,
				    .devs = devs,
				    .rx = &rx,
				    .postcopy = &plan };
	int rc;

	mem.size = h->mem_bytes;
	mem_plan(h->mem_bytes, mem.regions, &mem.nr_regions);
	rc = vmstate_rx_init(&rx, h->nr_vcpus);
	if (rc) {
		snprintf(err->why, sizeof(err->why), "out of memory");
		return rc;
	}
	rc = restore_records(s, h, &t, res, err);
	vmstate_rx_free(&rx);
	postcopy_plan_destroy(&plan);
	return rc;
}

static void check_clock(const struct vmstate_rx *rx, struct vm *vm)
{
	int khz = ioctl(vm->fd, KVM_GET_TSC_KHZ, 0);
	uint64_t src = rx->clock.tsc_khz;

	if (khz > 0 && src &&
	    (src > khz * 1001ULL / 1000 || src < khz * 999ULL / 1000))
		log_warn(
			"the guest's TSC ran at %llu kHz, this host's at %d kHz: guest time will run at a different rate",
			(unsigned long long)src, khz);
}

int restore_vm(struct stream *s, struct vm *vm, struct dev_registry *devs,
	       const struct stream_header *h, struct postcopy_plan *postcopy,
	       struct lazy_restore *lazy, struct restore_result *res,
	       struct rec_error *err)
{
	struct vmstate_rx rx;
	struct restore_target t = { .mem = &vm->mem,
				    .devs = devs,
				    .rx = &rx,
				    .postcopy = postcopy,
				    .lazy = lazy };
	int rc;

	rc = vmstate_rx_init(&rx, vm->nr_vcpus);
	if (rc) {
		snprintf(err->why, sizeof(err->why), "out of memory");
		return rc;
	}
	rc = restore_records(s, h, &t, res, err);
	if (!rc) {
		check_clock(&rx, vm);
		rc = vmstate_rx_apply(&rx, vm, devs, err);
	}
	vmstate_rx_free(&rx);
	return rc;
}
