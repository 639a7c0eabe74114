/*
 * Unit tests of record framing (recio.c) on the memory stream: the bytes a
 * record becomes (header, CRC32C, zero padding), reading them back, and a
 * complete synthetic save stream read through the restore reader without
 * KVM, where corrupting any single byte must fail with the type and offset
 * of the record that holds it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/crc32c.h"
#include "devices/registry.h"
#include "le.h"
#include "devices/serial.h"
#include "migration/pages.h"
#include "migration/recio.h"
#include "migration/restore.h"
#include "migration/vmstate.h"
#include "vmm/memory.h"

static uint8_t *take(struct stream *s, size_t *len)
{
	uint8_t *p = stream_mem_take(s, len);

	stream_close(s);
	return p;
}

/* ---- Writing ----------------------------------------------------------- */

static void test_write_layout(void **state)
{
	uint8_t body[40], *out;
	struct stream s;
	uint32_t len, crc;
	size_t n, i;

	for (i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(0xa0 + i);
	for (len = 0; len <= sizeof(body); len++) {
		stream_open_mem_write(&s);
		assert_int_equal(rec_write_buf(&s, 0x80000042, body, len), 0);
		out = take(&s, &n);
		assert_int_equal(n, 16 + ((len + 7) & ~7u));
		assert_int_equal(n % 8, 0);
		assert_int_equal(le(out, 0, 4), 0x80000042);
		assert_int_equal(le(out, 4, 4), len);
		/* A fresh stream: chain 0, sequence number 0. */
		crc = crc32c(crc32c(crc32c(0, out, 8), out + 12, 4), body, len);
		assert_int_equal(le(out, 8, 4), crc);
		assert_int_equal(le(out, 12, 4), 0);
		assert_memory_equal(out + 16, body, len);
		for (i = 16 + len; i < n; i++)
			assert_int_equal(out[i], 0);
		free(out);
	}
}

/* A body given in pieces is the same record as in one buffer. */
static void test_write_iovecs_equal_buffer(void **state)
{
	uint8_t body[1000], *a, *b;
	struct iovec iov[4] = {
		{ body, 1 },
		{ body + 1, 0 },
		{ body + 1, 500 },
		{ body + 501, 498 },
	};
	struct stream s;
	size_t na, nb, i;

	for (i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 31);
	stream_open_mem_write(&s);
	assert_int_equal(rec_write(&s, REC_DEVICE, iov, 4), 0);
	a = take(&s, &na);
	stream_open_mem_write(&s);
	assert_int_equal(rec_write_buf(&s, REC_DEVICE, body, 999), 0);
	b = take(&s, &nb);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	free(a);
	free(b);
}

static void test_write_limits(void **state)
{
	static struct iovec iov[REC_WRITE_MAX_IOV + 1];
	uint8_t *big = malloc(REC_MAX_LENGTH / 2 + 8), *out;
	struct stream s;
	size_t n;
	int i;

	for (i = 0; i <= (int)REC_WRITE_MAX_IOV; i++)
		iov[i] = (struct iovec){ big, 1 };
	/* As many iovecs as a full page batch needs: fine. */
	stream_open_mem_write(&s);
	assert_int_equal(rec_write(&s, REC_PAGE_DATA, iov, REC_WRITE_MAX_IOV),
			 0);
	out = take(&s, &n);
	assert_int_equal(n, 16 + ((REC_WRITE_MAX_IOV + 7) & ~7u));
	free(out);
	/* One more, or a body over the maximum: refused, nothing written. */
	stream_open_mem_write(&s);
	assert_int_equal(rec_write(&s, REC_PAGE_DATA, iov,
				   REC_WRITE_MAX_IOV + 1),
			 -E2BIG);
	assert_int_equal(s.error, -E2BIG);
	assert_int_equal(s.offset, 0);
	stream_close(&s);
	iov[0] = (struct iovec){ big, REC_MAX_LENGTH / 2 };
	iov[1] = (struct iovec){ big, REC_MAX_LENGTH / 2 + 1 };
	stream_open_mem_write(&s);
	assert_int_equal(rec_write(&s, REC_PAGE_DATA, iov, 2), -E2BIG);
	assert_int_equal(s.offset, 0);
	/* The error is sticky: later records are not written either. */
	assert_int_equal(rec_write_buf(&s, REC_END, NULL, 0), -E2BIG);
	assert_int_equal(s.offset, 0);
	stream_close(&s);
	free(big);
}

/* ---- Reading ----------------------------------------------------------- */

static void test_read_back(void **state)
{
	uint8_t body[64], got[64], *out;
	struct rec_error err;
	struct rec_hdr h;
	struct stream s;
	uint64_t offsets[64];
	uint32_t len;
	size_t n;

	memset(body, 0x5c, sizeof(body));
	stream_open_mem_write(&s);
	for (len = 0; len < 20; len++) {
		offsets[len] = s.offset;
		body[0] = (uint8_t)len;
		rec_write_buf(&s, REC_OPTIONAL | len, body, len);
	}
	rec_write_buf(&s, REC_END, NULL, 0);
	assert_int_equal(s.error, 0);
	out = take(&s, &n);

	stream_open_mem_read(&s, out, n);
	for (len = 0; len < 20; len++) {
		assert_int_equal(rec_read_hdr(&s, &h, &err), 0);
		assert_int_equal(err.offset, offsets[len]);
		assert_int_equal(err.type, REC_OPTIONAL | len);
		assert_int_equal(h.length, len);
		memset(got, 0, sizeof(got));
		assert_int_equal(rec_read_body(&s, &h, got, &err), 0);
		if (len)
			assert_int_equal(got[0], len);
		assert_memory_equal(got + 1, body + 1, len > 1 ? len - 1 : 0);
		assert_int_equal(s.offset % 8, 0);
	}
	assert_int_equal(rec_read_hdr(&s, &h, &err), 0);
	assert_int_equal(h.type, REC_END);
	assert_int_equal(rec_read_body(&s, &h, NULL, &err), 0);
	assert_int_equal(s.offset, n);
	/* Reading past the end: a truncated stream. */
	assert_int_equal(rec_read_hdr(&s, &h, &err), -EPIPE);
	assert_int_equal(err.type, REC_ERR_RECORD_HEADER);
	assert_int_equal(err.offset, n);
	assert_non_null(strstr(err.why, "without an END record"));
	stream_close(&s);
	free(out);
}

/* Write one record and return its bytes. */
static uint8_t *one_record(uint32_t type, const void *body, uint32_t len,
			   size_t *n)
{
	struct stream s;

	stream_open_mem_write(&s);
	assert_int_equal(rec_write_buf(&s, type, body, len), 0);
	return take(&s, n);
}

/* Read one record from bytes; returns the error, fills err. */
static int read_one(const uint8_t *buf, size_t n, struct rec_error *err)
{
	uint8_t body[256];
	struct rec_hdr h;
	struct stream s;
	int rc;

	memset(err, 0, sizeof(*err));
	stream_open_mem_read(&s, buf, n);
	rc = rec_read_hdr(&s, &h, err);
	if (!rc) {
		assert_true(h.length <= sizeof(body));
		rc = rec_read_body(&s, &h, body, err);
	}
	assert_int_equal(rc, s.error);
	stream_close(&s);
	return rc;
}

static void test_read_rejections(void **state)
{
	const uint8_t body[13] = "hello, world";
	struct rec_error err;
	uint8_t *rec;
	size_t n, cut;

	rec = one_record(REC_CLOCK, body, 13, &n);
	assert_int_equal(read_one(rec, n, &err), 0);

	/* Padding byte. */
	rec[16 + 13] = 1;
	assert_int_equal(read_one(rec, n, &err), -EINVAL);
	assert_string_equal(err.why, "padding is not zero");
	assert_int_equal(err.type, REC_CLOCK);
	assert_int_equal(err.offset, 0);
	rec[16 + 13] = 0;

	/* Body byte: the CRC catches it. */
	rec[20] ^= 4;
	assert_int_equal(read_one(rec, n, &err), -EBADMSG);
	assert_non_null(strstr(err.why, "CRC mismatch"));
	rec[20] ^= 4;

	/* The CRC field itself. */
	rec[9] ^= 1;
	assert_int_equal(read_one(rec, n, &err), -EBADMSG);
	rec[9] ^= 1;

	/* The sequence number (0 for the first record). */
	rec[15] = 1;
	assert_int_equal(read_one(rec, n, &err), -EINVAL);
	assert_non_null(
		strstr(err.why, "sequence number 16777216, expected 0"));
	assert_int_equal(err.type, REC_CLOCK);
	rec[15] = 0;

	/* Truncated anywhere: header, body or padding. */
	for (cut = 0; cut < n; cut++) {
		assert_int_equal(read_one(rec, cut, &err), -EPIPE);
		assert_int_equal(err.offset, 0);
		if (cut < 16) {
			assert_int_equal(err.type, REC_ERR_RECORD_HEADER);
		} else {
			assert_int_equal(err.type, REC_CLOCK);
			assert_non_null(strstr(err.why, "(truncated)"));
		}
	}
	assert_non_null(strstr((read_one(rec, 20, &err), err.why),
			       "in the middle of the record body"));
	assert_non_null(strstr((read_one(rec, 30, &err), err.why),
			       "in the middle of the record padding"));
	free(rec);

	/* A length over the maximum is refused before any body is read. */
	rec = one_record(REC_CLOCK, body, 8, &n);
	rec[7] = 0x01; /* 16 MiB + 8 */
	assert_int_equal(read_one(rec, n, &err), -EINVAL);
	assert_non_null(strstr(err.why, "exceeds the maximum"));
	assert_int_equal(n, 24);
	free(rec);
}

/* ---- A whole stream through the restore reader --------------------------- */

#define GUEST_MEM (4 * MIB)

static const char config[] = "name = 'vm'\nmemory = 4\nvcpus = 1\n";

struct synth {
	uint8_t *buf;
	size_t len;
	size_t body_start; /* end of header and config */
	unsigned int nr;
	uint64_t off[64]; /* record offsets; off[nr] = len */
	uint32_t type[64];
};

static void note(struct synth *x, struct stream *s, uint32_t type)
{
	x->off[x->nr] = s->offset;
	x->type[x->nr++] = type;
}

static void put_rec(struct synth *x, struct stream *s, uint32_t type,
		    const void *body, uint32_t len)
{
	note(x, s, type);
	rec_write_buf(s, type, body, len);
}

static void put_vcpu(struct synth *x, struct stream *s, uint32_t type,
		     uint32_t arg, uint32_t size, uint8_t fill)
{
	uint8_t *b = malloc(8 + size);
	uint32_t v[2] = { 0, arg };

	memset(b, fill, 8 + size);
	memcpy(b, v, 8);
	put_rec(x, s, type, b, 8 + size);
	free(b);
}

static void fill_guest(struct guest_mem *mem)
{
	static const uint64_t pages[] = { 0, 1, 2, 700 };
	size_t i, j;

	for (i = 0; i < ARRAY_SIZE(pages); i++)
		for (j = 0; j < 4096; j++)
			mem->host[pages[i] * 4096 + j] =
				(uint8_t)(j + i * 3 + 1);
}

/*
 * A complete stream of the given revision; streams built with different
 * id bytes hold the same records but are different streams.
 */
static void build_stream_v(struct synth *x, struct guest_mem *src,
			   uint32_t version, uint8_t id_byte)
{
	static const uint8_t zeros[8];
	struct serial_state ser = { .ier = 0x05,
				    .lcr = 3,
				    .mcr = 0x0b,
				    .dll = 1,
				    .rx_count = 2,
				    .rx_head = 62,
				    .rx_fifo = { [62] = 'o', [63] = 'k' } };
	struct rec_save_info info = { .time_ns = 1, .producer = "test" };
	struct rec_round round = { .round = 0, .pages_sent = 4 };
	struct rec_clock clock = { 1000, 2000, 2000000, 0 };
	struct rec_irqchip chip;
	struct rec_device dev = { .id = "serial0",
				  .version = 1,
				  .length = sizeof(ser) };
	struct msr2 {
		uint32_t vcpu, count;
		struct rec_msr m[2];
	} msrs = { 0, 2, { { 0x174, 0, 0x10 }, { 0xc0000080, 0, 0xd01 } } };
	struct page_stats st = { 0 };
	struct stream_header h;
	uint8_t id[STREAM_ID_LEN];
	struct iovec iov[3];
	uint8_t odd[5] = { 1, 2, 3, 4, 5 };
	uint8_t devbody[sizeof(dev) + sizeof(ser)];
	struct stream s;
	uint32_t i;

	memset(x, 0, sizeof(*x));
	stream_open_mem_write(&s);
	memset(id, id_byte, sizeof(id));
	stream_header_init(&h, 0, GUEST_MEM, 1, "GenuineIntel", 7, id, config,
			   sizeof(config) - 1);
	if (version == 1) {
		h.version = 1;
		h.header_size = STREAM_HEADER_V1_SIZE;
		memset(h.stream_id, 0, sizeof(h.stream_id));
		stream_header_seal(&h, config);
	}
	iov[0] = (struct iovec){ &h, h.header_size };
	iov[1] = (struct iovec){ (void *)config, sizeof(config) - 1 };
	iov[2] = (struct iovec){ (void *)zeros, rec_padded(sizeof(config) - 1) -
							(sizeof(config) - 1) };
	stream_writev(&s, iov, 3);
	rec_stream_start(&s, &h);
	x->body_start = s.offset;

	put_rec(x, &s, REC_SAVE_INFO, &info, sizeof(info));
	note(x, &s, REC_PAGE_DATA);
	assert_int_equal(pages_send(&s, src, NULL, false, &st), 0);
	assert_int_equal(st.records, 1);
	put_rec(x, &s, REC_CLOCK, &clock, sizeof(clock));
	for (i = 0; i < 3; i++) {
		memset(&chip, 0x30 + i, sizeof(chip));
		chip.chip_id = i;
		chip.reserved = 0;
		put_rec(x, &s, REC_IRQCHIP, &chip, sizeof(chip));
	}
	put_rec(x, &s, REC_OPTIONAL | 0x77, odd, sizeof(odd)); /* skipped */
	put_vcpu(x, &s, REC_PIT, 0, 104, 0x11); /* 112 bytes */
	put_vcpu(x, &s, REC_VCPU_REGS, 0, 144, 0x21);
	put_vcpu(x, &s, REC_VCPU_SREGS, 0, 312, 0x22);
	put_vcpu(x, &s, REC_VCPU_XSAVE, 4096, 4096, 0x23);
	put_vcpu(x, &s, REC_VCPU_XCRS, 0, 392, 0);
	put_rec(x, &s, REC_VCPU_MSRS, &msrs, sizeof(msrs));
	put_vcpu(x, &s, REC_VCPU_LAPIC, 0, 1024, 0x25);
	put_vcpu(x, &s, REC_VCPU_EVENTS, 0, 64, 0);
	put_vcpu(x, &s, REC_VCPU_MP_STATE, 3, 0, 0);
	put_vcpu(x, &s, REC_VCPU_DEBUGREGS, 0, 128, 0x27);
	put_rec(x, &s, REC_ROUND, &round, sizeof(round));
	memcpy(devbody, &dev, sizeof(dev));
	memcpy(devbody + sizeof(dev), &ser, sizeof(ser));
	put_rec(x, &s, REC_DEVICE, devbody, sizeof(devbody));
	note(x, &s, REC_END);
	rec_write_end(&s);
	assert_int_equal(s.error, 0);
	x->off[x->nr] = s.offset;
	x->buf = take(&s, &x->len);
	assert_int_equal(x->len, x->off[x->nr]);
}

static void build_stream(struct synth *x, struct guest_mem *src)
{
	build_stream_v(x, src, STREAM_VERSION, 0xa5);
}

struct reader {
	struct guest_mem mem;
	struct dev_registry devs;
	struct serial ser;
};

static void reader_init(struct reader *r)
{
	const struct dev_slot slot = { "serial0", &serial_type, .res = { 0 } };

	memset(r, 0, sizeof(*r));
	assert_int_equal(mem_init(&r->mem, GUEST_MEM), 0);
	serial_init(&r->ser, -1, NULL, NULL);
	assert_int_equal(devreg_add_list(&r->devs, &slot, 1), 0);
	assert_int_equal(devreg_attach(&r->devs, "serial0", &r->ser), 0);
}

static void reader_destroy(struct reader *r)
{
	serial_destroy(&r->ser);
	mem_destroy(&r->mem);
}

/* Read a whole stream: header, config, every record to END. */
static int restore(struct reader *r, const uint8_t *buf, size_t len,
		   struct rec_error *err, struct vmstate_rx *rx_out)
{
	struct restore_result res;
	struct stream_header h;
	struct vmstate_rx rx;
	struct restore_target t = { .mem = &r->mem,
				    .devs = &r->devs,
				    .rx = &rx };
	struct stream s;
	char *cfg = NULL;
	int rc;

	memset(err, 0, sizeof(*err));
	stream_open_mem_read(&s, buf, len);
	rc = restore_read_header(&s, &h, &cfg, err);
	if (!rc) {
		assert_int_equal(h.mem_bytes, GUEST_MEM);
		assert_string_equal(cfg, config);
		assert_int_equal(vmstate_rx_init(&rx, h.nr_vcpus), 0);
		rc = restore_records(&s, &h, &t, &res, err);
		if (rx_out && !rc)
			*rx_out = rx;
		else
			vmstate_rx_free(&rx);
	}
	free(cfg);
	stream_close(&s);
	return rc;
}

static void test_stream_restores(void **state)
{
	struct guest_mem src;
	struct reader r;
	struct synth x;
	struct rec_error err;
	struct vmstate_rx rx;
	char desc[400];
	int rc;

	assert_int_equal(mem_init(&src, GUEST_MEM), 0);
	fill_guest(&src);
	build_stream(&x, &src);
	reader_init(&r);
	rc = restore(&r, x.buf, x.len, &err, &rx);
	if (rc) {
		restore_describe(&err, desc, sizeof(desc));
		fail_msg("%s", desc);
	}
	assert_memory_equal(r.mem.host, src.host, GUEST_MEM);
	assert_int_equal(rx.vcpus[0].xsave_size, 4096);
	assert_int_equal(rx.vcpus[0].nmsrs, 2);
	assert_int_equal(rx.vcpus[0].msrs[1].index, 0xc0000080);
	assert_int_equal(rx.vcpus[0].msrs[1].data, 0xd01);
	assert_int_equal(rx.vcpus[0].mp_state.mp_state, 3);
	assert_int_equal(rx.clock.kvmclock_ns, 2000);
	assert_int_equal(rx.vm.chip[2].chip_id, 2);
	assert_int_equal(rx.dev_state[0][1], 3); /* serial lcr */
	vmstate_rx_free(&rx);
	/* Without its last byte, or without END, the stream is truncated. */
	assert_int_equal(restore(&r, x.buf, x.len - 1, &err, NULL), -EPIPE);
	assert_int_equal(restore(&r, x.buf, x.off[x.nr - 1], &err, NULL),
			 -EPIPE);
	assert_int_equal(err.offset, x.off[x.nr - 1]);
	assert_non_null(strstr(err.why, "without an END record"));
	reader_destroy(&r);
	free(x.buf);
	mem_destroy(&src);
}

/* The record holding byte i, or -1 for the header and config. */
static int record_of(const struct synth *x, size_t i)
{
	unsigned int r;

	if (i < x->body_start)
		return -1;
	for (r = 0; r < x->nr; r++)
		if (i >= x->off[r] && i < x->off[r + 1])
			return r;
	fail_msg("byte %zu is in no record", i);
	return -1;
}

static void test_any_corrupt_byte_is_caught(void **state)
{
	struct guest_mem src;
	struct reader r;
	struct synth x;
	struct rec_error err;
	uint8_t *bad;
	char desc[400];
	size_t i;
	int rec, rc;

	assert_int_equal(mem_init(&src, GUEST_MEM), 0);
	fill_guest(&src);
	build_stream(&x, &src);
	reader_init(&r);
	bad = malloc(x.len);
	for (i = 0; i < x.len; i++) {
		uint8_t flip = (uint8_t)(1u << (i % 8));

		memcpy(bad, x.buf, x.len);
		bad[i] ^= flip;
		rc = restore(&r, bad, x.len, &err, NULL);
		restore_describe(&err, desc, sizeof(desc));
		if (rc == 0)
			fail_msg("byte %zu ^ 0x%02x went unnoticed", i, flip);
		assert_true(rc < 0);
		rec = record_of(&x, i);
		if (rec < 0) {
			if (err.type != REC_ERR_STREAM_HEADER)
				fail_msg("byte %zu: %s", i, desc);
			continue;
		}
		if (err.offset != x.off[rec])
			fail_msg("byte %zu of record %s at %llu: %s", i,
				 rec_type_name(x.type[rec]),
				 (unsigned long long)x.off[rec], desc);
		/* The type is the record's, unless the type was hit. */
		if (i - x.off[rec] >= 4 && err.type != x.type[rec])
			fail_msg("byte %zu: type %s: %s", i,
				 rec_type_name(x.type[rec]), desc);
		if (i - x.off[rec] < 4)
			assert_int_equal(err.type,
					 x.type[rec] ^
						 ((uint32_t)flip
						  << (8 * (i - x.off[rec]))));
	}
	free(bad);
	reader_destroy(&r);
	free(x.buf);
	mem_destroy(&src);
}

/* ---- Revision 2: the record chain --------------------------------------- */

/* Bytes [a, b) of x, appended to out at *n. */
static void cat(uint8_t *out, size_t *n, const struct synth *x, size_t a,
		size_t b)
{
	memcpy(out + *n, x->buf + a, b - a);
	*n += b - a;
}

/* Restore must refuse buf, at the record that starts at offset at. */
static void refused_at(struct reader *r, const uint8_t *buf, size_t len,
		       uint64_t at, const char *what, const char *label,
		       unsigned int rec)
{
	struct rec_error err;
	char desc[400];
	int rc = restore(r, buf, len, &err, NULL);

	restore_describe(&err, desc, sizeof(desc));
	if (!rc)
		fail_msg("%s record %u: accepted", label, rec);
	if (err.offset != at || !strstr(err.why, what))
		fail_msg("%s record %u: want /%s/ at %llu, got: %s", label, rec,
			 what, (unsigned long long)at, desc);
}

/*
 * The mutations that got through revision 1: a record deleted, repeated,
 * two swapped, the rest of the stream taken from another save of the
 * same VM (same records, other stream id), END from another save, the
 * stream cut before END. Each is refused at the record where it happens.
 */
static void test_chain_refuses_splices(void **state)
{
	struct synth a, b;
	struct guest_mem src;
	struct reader r;
	uint8_t *out;
	unsigned int i, end;
	size_t n;

	assert_int_equal(mem_init(&src, GUEST_MEM), 0);
	fill_guest(&src);
	build_stream_v(&a, &src, 2, 0xa5);
	build_stream_v(&b, &src, 2, 0x5a);
	assert_int_equal(a.len, b.len);
	reader_init(&r);
	out = malloc(2 * a.len);
	end = a.nr - 1;
	assert_int_equal(a.type[end], REC_END);
	for (i = 0; i < a.nr; i++) {
		n = 0; /* record i deleted */
		cat(out, &n, &a, 0, a.off[i]);
		cat(out, &n, &a, a.off[i + 1], a.len);
		refused_at(&r, out, n, a.off[i],
			   i == end ? "without an END record" :
				      "sequence number",
			   "deleted", i);
		n = 0; /* the rest from b */
		cat(out, &n, &a, 0, a.off[i]);
		cat(out, &n, &b, b.off[i], b.len);
		refused_at(&r, out, n, a.off[i], "CRC mismatch", "spliced", i);
		if (i == end)
			continue;
		n = 0; /* record i twice */
		cat(out, &n, &a, 0, a.off[i + 1]);
		cat(out, &n, &a, a.off[i], a.len);
		refused_at(&r, out, n, a.off[i + 1], "sequence number",
			   "repeated", i);
		n = 0; /* records i and i + 1 swapped */
		cat(out, &n, &a, 0, a.off[i]);
		cat(out, &n, &a, a.off[i + 1], a.off[i + 2]);
		cat(out, &n, &a, a.off[i], a.off[i + 1]);
		cat(out, &n, &a, a.off[i + 2], a.len);
		refused_at(&r, out, n, a.off[i], "sequence number", "swapped",
			   i);
	}
	/* Both are valid on their own. */
	assert_int_equal(
		restore(&r, a.buf, a.len, &(struct rec_error){ 0 }, NULL), 0);
	assert_int_equal(
		restore(&r, b.buf, b.len, &(struct rec_error){ 0 }, NULL), 0);
	free(out);
	reader_destroy(&r);
	free(a.buf);
	free(b.buf);
	mem_destroy(&src);
}

/* A forged END: right CRC, wrong count, bytes or digest. */
static void test_end_counts_and_digests(void **state)
{
	struct guest_mem src;
	struct reader r;
	struct synth x;
	struct rec_end e, orig;
	struct rec_hdr h;
	uint64_t at;
	unsigned int field;

	assert_int_equal(mem_init(&src, GUEST_MEM), 0);
	fill_guest(&src);
	build_stream(&x, &src);
	reader_init(&r);
	at = x.off[x.nr - 1];
	memcpy(&h, x.buf + at, sizeof(h));
	memcpy(&orig, x.buf + at + 16, sizeof(orig));
	assert_int_equal(h.length, sizeof(e));
	for (field = 0; field < 3; field++) {
		uint32_t crc;

		e = orig;
		assert_int_equal(e.records, x.nr - 1);
		assert_int_equal(e.bytes, at);
		if (field == 0)
			e.records++;
		else if (field == 1)
			e.bytes -= 8;
		else
			e.digest ^= 1;
		/* Re-seal END's own CRC from the true chain value. */
		memcpy(&crc, x.buf + x.off[x.nr - 2] + 8, 4);
		h.crc = crc32c(rec_crc_begin(2, crc, &h), &e, sizeof(e));
		memcpy(x.buf + at, &h, sizeof(h));
		memcpy(x.buf + at + 16, &e, sizeof(e));
		refused_at(&r, x.buf, x.len, at,
			   field == 0 ? "records, the stream had" :
			   field == 1 ? "bytes" :
					"END is from another stream",
			   "forged END", field);
	}
	reader_destroy(&r);
	free(x.buf);
	mem_destroy(&src);
}

/*
 * The chain value is the CRC32C of the whole stream: header (CRC field
 * zero) and config, then each record's type, length, seq and body.
 */
static void test_chain_is_crc_of_stream(void **state)
{
	struct guest_mem src;
	struct synth x;
	struct stream_header h;
	struct rec_end e;
	uint32_t crc, len;
	uint64_t off;
	unsigned int i;

	assert_int_equal(mem_init(&src, GUEST_MEM), 0);
	fill_guest(&src);
	build_stream(&x, &src);
	memcpy(&h, x.buf, sizeof(h));
	h.header_crc = 0;
	crc = crc32c(crc32c(0, &h, sizeof(h)), x.buf + sizeof(h),
		     sizeof(config) - 1);
	for (i = 0; i + 1 < x.nr; i++) {
		off = x.off[i];
		memcpy(&len, x.buf + off + 4, 4);
		crc = crc32c(crc, x.buf + off, 8);
		crc = crc32c(crc, x.buf + off + 12, 4);
		crc = crc32c(crc, x.buf + off + 16, len);
		assert_int_equal(crc, le(x.buf, off + 8, 4));
	}
	memcpy(&e, x.buf + x.off[x.nr - 1] + 16, sizeof(e));
	assert_int_equal(e.digest, crc);
	free(x.buf);
	mem_destroy(&src);
}

/* Revision 1 streams (unchained, empty END) are still read. */
static void test_revision_1_is_read(void **state)
{
	struct guest_mem src;
	struct reader r;
	struct synth x;
	struct rec_error err;
	char desc[400];

	assert_int_equal(mem_init(&src, GUEST_MEM), 0);
	fill_guest(&src);
	build_stream_v(&x, &src, 1, 0);
	assert_int_equal(le(x.buf, 8, 4), 1);
	assert_int_equal(le(x.buf, x.off[1] + 12, 4), 0); /* no seq */
	assert_int_equal(le(x.buf, x.off[x.nr - 1] + 4, 4), 0); /* END */
	reader_init(&r);
	if (restore(&r, x.buf, x.len, &err, NULL)) {
		restore_describe(&err, desc, sizeof(desc));
		fail_msg("%s", desc);
	}
	assert_memory_equal(r.mem.host, src.host, GUEST_MEM);
	/* A sequence number where revision 1 has a reserved word. */
	x.buf[x.off[1] + 12] = 1;
	assert_int_equal(restore(&r, x.buf, x.len, &err, NULL), -EINVAL);
	assert_non_null(strstr(err.why, "reserved header field"));
	reader_destroy(&r);
	free(x.buf);
	mem_destroy(&src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_layout),
		cmocka_unit_test(test_write_iovecs_equal_buffer),
		cmocka_unit_test(test_write_limits),
		cmocka_unit_test(test_read_back),
		cmocka_unit_test(test_read_rejections),
		cmocka_unit_test(test_stream_restores),
		cmocka_unit_test(test_any_corrupt_byte_is_caught),
		cmocka_unit_test(test_chain_refuses_splices),
		cmocka_unit_test(test_end_counts_and_digests),
		cmocka_unit_test(test_chain_is_crc_of_stream),
		cmocka_unit_test(test_revision_1_is_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
