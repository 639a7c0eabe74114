/* Record framing on top of the transport: CRC, padding, limits. */
#include "migration/recio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/crc32c.h"

static const uint8_t zero_pad[REC_ALIGN];

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
	crc = rec_crc_start(type, len);
	for (i = 0; i < n; i++)
		crc = crc32c(crc, body[i].iov_base, body[i].iov_len);
	rec_hdr_init(&h, type, len, crc);
	iov[0] = (struct iovec){ &h, sizeof(h) };
	memcpy(&iov[1], body, n * sizeof(*body));
	iov[n + 1] = (struct iovec){ (void *)zero_pad, rec_padded(len) - len };
	return stream_writev(s, iov, n + 2);
}

int rec_write_buf(struct stream *s, uint32_t type, const void *body,
		  uint32_t len)
{
	struct iovec v = { (void *)body, len };

	return rec_write(s, type, &v, len ? 1 : 0);
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
	if (rec_hdr_check(h, err->why, sizeof(err->why)))
		return stream_set_error(s, -EINVAL);
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
			"CRC mismatch (computed 0x%08x, record says 0x%08x): corrupted",
			crc, h->crc);
		return stream_set_error(s, -EBADMSG);
	}
	return 0;
}

int rec_read_body(struct stream *s, const struct rec_hdr *h, void *buf,
		  struct rec_error *err)
{
	uint32_t crc;

	if (h->length && stream_read(s, buf, h->length))
		return rec_io_error(s, err, "record body");
	crc = crc32c(rec_crc_start(h->type, h->length), buf, h->length);
	return rec_read_tail(s, h, crc, err);
}
