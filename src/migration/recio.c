/*
 * Record framing on top of the transport: CRC, padding, limits, and the
 * revision 2 chain. The chain state lives in the stream (rec_* fields),
 * so every writer and reader of records on it shares one chain without
 * passing it around.
 */
#include "migration/recio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/crc32c.h"

static const uint8_t zero_pad[REC_ALIGN];

/* A stream whose header was not framed yet counts as the current one. */
static uint32_t revision(const struct stream *s)
{
	return s->rec_version ? s->rec_version : STREAM_VERSION;
}

void rec_stream_start(struct stream *s, const struct stream_header *h)
{
	s->rec_version = h->version;
	s->rec_chain = h->version >= 2 ? h->header_crc : 0;
	s->rec_count = 0;
	s->rec_bytes = h->header_size + rec_padded(h->config_len);
	memcpy(s->rec_stream_id, h->stream_id, sizeof(s->rec_stream_id));
}

/* A record went by whole: the next one continues from its CRC. */
static void chain_on(struct stream *s, const struct rec_hdr *h, uint32_t crc)
{
	if (revision(s) >= 2)
		s->rec_chain = crc;
	s->rec_bytes += sizeof(*h) + rec_padded(h->length);
}

uint32_t rec_body_crc_init(const struct stream *s, const struct rec_hdr *h)
{
	return rec_crc_begin(revision(s), s->rec_chain, h);
}

int rec_write(struct stream *s, uint32_t type, const struct iovec *body, int n)
{
	struct iovec iov[REC_WRITE_MAX_IOV + 2];
	struct rec_hdr h;
	uint64_t len = 0;
	uint32_t crc;
	int i;

	if (n < 0 || n > (int)REC_WRITE_MAX_IOV)
		return stream_set_error(s, -E2BIG);
	for (i = 0; i < n; i++)
		len += body[i].iov_len;
	if (len > REC_MAX_LENGTH)
		return stream_set_error(s, -E2BIG);
	rec_hdr_init(&h, type, len, 0,
		     revision(s) >= 2 ? (uint32_t)s->rec_count : 0);
	crc = rec_body_crc_init(s, &h);
	for (i = 0; i < n; i++)
		crc = crc32c(crc, body[i].iov_base, body[i].iov_len);
	h.crc = crc;
	iov[0] = (struct iovec){ &h, sizeof(h) };
	memcpy(&iov[1], body, n * sizeof(*body));
	iov[n + 1] = (struct iovec){ (void *)zero_pad, rec_padded(len) - len };
	chain_on(s, &h, crc);
	s->rec_count++;
	return stream_writev(s, iov, n + 2);
}

int rec_write_buf(struct stream *s, uint32_t type, const void *body,
		  uint32_t len)
{
	struct iovec v = { (void *)body, len };

	return rec_write(s, type, &v, len ? 1 : 0);
}

int rec_write_end(struct stream *s)
{
	struct rec_end e = { .records = s->rec_count,
			     .bytes = s->rec_bytes,
			     .digest = s->rec_chain };

	if (revision(s) == 1)
		return rec_write_buf(s, REC_END, NULL, 0);
	return rec_write_buf(s, REC_END, &e, sizeof(e));
}

int rec_io_error(struct stream *s, struct rec_error *err, const char *what)
{
	if (s->error == -EPIPE)
		snprintf(err->why, sizeof(err->why),
			 "stream ends in the middle of the %s (truncated)",
			 what);
	else
		snprintf(err->why, sizeof(err->why), "cannot read the %s: %s",
			 what, strerror(-s->error));
	return s->error ? s->error : -EIO;
}

int rec_read_hdr(struct stream *s, struct rec_hdr *h, struct rec_error *err)
{
	uint32_t seq = revision(s) >= 2 ? (uint32_t)s->rec_count : 0;

	err->offset = s->offset;
	err->type = REC_ERR_RECORD_HEADER;
	if (stream_read(s, h, sizeof(*h))) {
		if (s->error == -EPIPE)
			snprintf(
				err->why, sizeof(err->why),
				"stream ends without an END record (truncated)");
		else
			rec_io_error(s, err, "record header");
		return s->error;
	}
	err->type = h->type;
	if (rec_hdr_check(h, revision(s), seq, err->why, sizeof(err->why)))
		return stream_set_error(s, -EINVAL);
	s->rec_count++;
	return 0;
}

int rec_read_tail(struct stream *s, const struct rec_hdr *h, uint32_t crc,
		  struct rec_error *err)
{
	uint8_t pad[REC_ALIGN];
	uint32_t npad = rec_padded(h->length) - h->length;

	if (npad && stream_read(s, pad, npad))
		return rec_io_error(s, err, "record padding");
	if (npad && memcmp(pad, zero_pad, npad)) {
		snprintf(err->why, sizeof(err->why), "padding is not zero");
		return stream_set_error(s, -EINVAL);
	}
	if (crc != h->crc) {
		snprintf(
			err->why, sizeof(err->why),
			revision(s) >= 2 ?
				"CRC mismatch (computed 0x%08x, record says 0x%08x): corrupted, or not the record that followed the one before it" :
				"CRC mismatch (computed 0x%08x, record says 0x%08x): corrupted",
			crc, h->crc);
		return stream_set_error(s, -EBADMSG);
	}
	chain_on(s, h, crc);
	return 0;
}

int rec_defer_body(struct stream *s, const struct rec_hdr *h, uint32_t prefix,
		   struct rec_error *err)
{
	if (prefix > h->length ||
	    stream_seek_ahead(s, rec_padded(h->length) - prefix))
		return rec_io_error(s, err, "record body");
	chain_on(s, h, h->crc);
	return 0;
}

int rec_read_body(struct stream *s, const struct rec_hdr *h, void *buf,
		  struct rec_error *err)
{
	uint32_t crc;

	if (h->length && stream_read(s, buf, h->length))
		return rec_io_error(s, err, "record body");
	crc = crc32c(rec_body_crc_init(s, h), buf, h->length);
	return rec_read_tail(s, h, crc, err);
}

int rec_read_end(struct stream *s, const struct rec_hdr *h,
		 const struct rec_limits *lim, struct rec_error *err)
{
	struct rec_end e = { 0 };
	uint64_t records = s->rec_count - 1, bytes = s->rec_bytes;
	uint32_t digest = s->rec_chain;

	/* Bound the length before reading a body into e. */
	if (rec_body_check(REC_END, &e, h->length, lim, err->why,
			   sizeof(err->why)))
		return stream_set_error(s, -EINVAL);
	if (rec_read_body(s, h, &e, err))
		return s->error;
	if (rec_body_check(REC_END, &e, h->length, lim, err->why,
			   sizeof(err->why)))
		return stream_set_error(s, -EINVAL);
	if (lim->version >= 2 && rec_end_check(&e, records, bytes, digest,
					       err->why, sizeof(err->why)))
		return stream_set_error(s, -EINVAL);
	return 0;
}
