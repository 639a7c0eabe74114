/*
 * The restore loop, after Xen's: read a record header, check it against
 * the limits, dispatch by type. Page data goes straight into guest RAM;
 * state is collected and applied only once END proved the stream whole.
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
#include "migration/handover.h"
#include "migration/pages.h"
#include "migration/vmstate.h"
#include "vmm/vm.h"

#define STATE_BODY_MAX (XSAVE_MAX + 64)
#define WHY(...) (snprintf(why, whylen, __VA_ARGS__), -EINVAL)

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

int restore_read_header(struct stream *s, struct stream_header *h,
			char **config_out, struct rec_error *err)
{
	uint32_t padded, i;
	char *config;

	err->offset = 0;
	err->type = REC_ERR_STREAM_HEADER;
	if (stream_read(s, h, sizeof(*h)))
		return rec_io_error(s, err, "stream header");
	if (stream_header_check_fixed(h, err->why, sizeof(err->why)))
		return stream_set_error(s, -EINVAL);
	padded = rec_padded(h->config_len);
	config = calloc(1, padded + 1);
	if (!config)
		return stream_set_error(s, -ENOMEM);
	err->offset = sizeof(*h);
	if (stream_read(s, config, padded)) {
		free(config);
		return rec_io_error(s, err, "domain config");
	}
	if (stream_header_check(h, config, err->why, sizeof(err->why))) {
		free(config);
		return stream_set_error(s, -EINVAL);
	}
	/* The padding is not under the CRC: it must be zero, as specified. */
	for (i = h->config_len; i < padded; i++) {
		if (config[i]) {
			snprintf(err->why, sizeof(err->why),
				 "config padding is not zero");
			free(config);
			return stream_set_error(s, -EINVAL);
		}
	}
	config[h->config_len] = 0;
	*config_out = config;
	return 0;
}

int restore_check_identity(const struct vm *vm, const struct stream_header *h,
			   char *why, size_t whylen)
{
	if (memcmp(h->cpu_vendor, vm->cpu_vendor, sizeof(h->cpu_vendor)))
		return WHY(
			"machine identity: CPU vendor %.12s, this host is %.12s",
			h->cpu_vendor, vm->cpu_vendor);
	if (h->cpuid_digest != vm->cpuid_digest)
		return WHY(
			"machine identity: CPU feature digest 0x%08x differs from this host's 0x%08x for cpu model '%s'",
			h->cpuid_digest, vm->cpuid_digest,
			vm->config.cpu_model);
	if (h->mem_bytes != vm->mem.size)
		return WHY(
			"machine identity: memory %llu MiB, but the config says %llu MiB",
			(unsigned long long)(h->mem_bytes >> 20),
			(unsigned long long)(vm->mem.size >> 20));
	if (h->nr_vcpus != vm->nr_vcpus)
		return WHY("machine identity: %u vCPUs, but the config says %u",
			   h->nr_vcpus, vm->nr_vcpus);
	return 0;
}

/* Skip an unknown optional record, still checking its CRC. */
static int skip_body(struct stream *s, const struct rec_hdr *h,
		     struct rec_error *err)
{
	uint8_t buf[4096];
	uint32_t left = h->length, crc = rec_crc_start(h->type, h->length);

	while (left) {
		uint32_t k = MIN(left, (uint32_t)sizeof(buf));

		if (stream_read(s, buf, k))
			return rec_io_error(s, err, "record body");
		crc = crc32c(crc, buf, k);
		left -= k;
	}
	return rec_read_tail(s, h, crc, err);
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

static int restore_end(struct stream *s, struct dev_registry *devs,
		       const struct rec_hdr *h, struct vmstate_rx *rx,
		       struct rec_error *err)
{
	if (h->length) {
		snprintf(err->why, sizeof(err->why),
			 "END has a body of %u bytes", h->length);
		return stream_set_error(s, -EINVAL);
	}
	if (rec_read_body(s, h, NULL, err))
		return s->error;
	if (vmstate_rx_complete(rx, devs, err->why, sizeof(err->why)))
		return stream_set_error(s, -EINVAL);
	return 0;
}

static int restore_state_rec(struct stream *s, struct dev_registry *devs,
			     const struct rec_hdr *h,
			     const struct rec_limits *lim, uint8_t *buf,
			     struct vmstate_rx *rx, struct rec_error *err)
{
	int rc;

	if (h->length > STATE_BODY_MAX) {
		snprintf(err->why, sizeof(err->why),
			 "length %u is too large for this record type",
			 h->length);
		return stream_set_error(s, -EINVAL);
	}
	if (rec_read_body(s, h, buf, err))
		return s->error;
	if (rec_body_check(h->type, buf, h->length, lim, err->why,
			   sizeof(err->why)))
		return stream_set_error(s, -EINVAL);
	if (h->type & REC_OPTIONAL)
		return 0; /* informational: ROUND, SAVE_INFO, PADDING */
	rc = vmstate_rx_add(rx, devs, h->type, buf, h->length, err->why,
			    sizeof(err->why));
	return rc ? stream_set_error(s, rc) : 0;
}

/*
 * Tell a live source that everything up to this round is in guest RAM,
 * so it can pause the VM with nothing left in flight. Best effort: a file
 * or a full socket buffer just means no acknowledgement.
 */
static void ack_round(struct stream *s, const uint8_t *body)
{
	const struct rec_round *r = (const struct rec_round *)body;

	if (handover_send_nowait(s, HANDOVER_ROUND_ACK, r->round))
		log_debug("round %u not acknowledged", r->round);
}

/* Read records until END; page data goes through prx into mem. */
static int read_records(struct stream *s, struct guest_mem *mem,
			struct dev_registry *devs, const struct rec_limits *lim,
			uint8_t *buf, struct bitmap *seen, struct page_rx *prx,
			struct vmstate_rx *rx, struct restore_result *res,
			struct rec_error *err, bool live)
{
	struct rec_hdr h;
	uint64_t n;

	for (;;) {
		if (rec_read_hdr(s, &h, err))
			return s->error;
		res->records++;
		if (h.type == REC_END)
			return restore_end(s, devs, &h, rx, err);
		if (h.type == REC_PAGE_DATA) {
			if (pages_recv(prx, s, mem, &h, lim, seen, err, &n))
				return s->error;
			res->pages += n;
		} else if (!rec_type_known(h.type)) {
			/* optional: rec_read_hdr refused unknown mandatory */
			if (skip_body(s, &h, err))
				return s->error;
		} else if (restore_state_rec(s, devs, &h, lim, buf, rx, err)) {
			return s->error;
		} else if (h.type == REC_ROUND && live) {
			ack_round(s, buf);
		}
	}
}

int restore_records(struct stream *s, struct guest_mem *mem,
		    struct dev_registry *devs, const struct stream_header *h,
		    struct vmstate_rx *rx, struct restore_result *res,
		    struct rec_error *err)
{
	struct rec_limits lim = { .nr_vcpus = h->nr_vcpus,
				  .mem_bytes = h->mem_bytes };
	uint64_t start = time_mono_ns(), off0 = s->offset;
	bool live = h->flags & STREAM_F_LIVE;
	struct bitmap seen = { 0 };
	struct page_rx prx = { 0 };
	uint8_t *buf;
	int rc = -ENOMEM;

	memset(res, 0, sizeof(*res));
	buf = malloc(STATE_BODY_MAX);
	if (buf && !page_rx_init(&prx) &&
	    (live || !bitmap_init(&seen, mem_nr_pages(mem))))
		rc = read_records(s, mem, devs, &lim, buf, live ? NULL : &seen,
				  &prx, rx, res, err, live);
	else
		snprintf(err->why, sizeof(err->why), "out of memory");
	bitmap_destroy(&seen);
	page_rx_destroy(&prx);
	free(buf);
	res->bytes = s->offset - off0;
	res->duration_ns = time_mono_ns() - start;
	return rc;
}

int restore_vm(struct stream *s, struct vm *vm, struct dev_registry *devs,
	       const struct stream_header *h, struct restore_result *res,
	       struct rec_error *err)
{
	struct vmstate_rx rx;
	int rc;

	rc = vmstate_rx_init(&rx, vm->nr_vcpus);
	if (rc) {
		snprintf(err->why, sizeof(err->why), "out of memory");
		return rc;
	}
	rc = restore_records(s, &vm->mem, devs, h, &rx, res, err);
	if (!rc) {
		check_clock(&rx, vm);
		rc = vmstate_rx_apply(&rx, vm, devs);
		if (rc)
			snprintf(err->why, sizeof(err->why),
				 "KVM refused the saved state: %s",
				 strerror(-rc));
	}
	vmstate_rx_free(&rx);
	return rc;
}
