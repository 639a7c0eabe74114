/*
 * Reading and writing whole records on a stream: header, body, padding
 * and CRC, and in revision 2 the record chain (sequence numbers and CRCs
 * continued from record to record, counted and digested by END). Errors
 * carry the record type and the byte offset of its header so that every
 * message can say where the stream went wrong.
 */
#ifndef GODWIT_MIGRATION_RECIO_H
#define GODWIT_MIGRATION_RECIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/compiler.h"
#include "format/record.h"
#include "migration/transport/stream.h"

/* rec_error.type values for failures outside a known record. */
#define REC_ERR_STREAM_HEADER UINT32_MAX /* header or config */
#define REC_ERR_RECORD_HEADER (UINT32_MAX - 1) /* a record header */

/* Where reading went wrong: filled by the reading functions. */
struct rec_error {
	uint64_t offset; /* of the record header, or of the header/config */
	uint32_t type; /* record type, or a REC_ERR_* value */
	char why[256];
};

/* A page batch needs the pfn list plus one iovec per page. */
#define REC_WRITE_MAX_IOV (PAGE_BATCH_MAX + 2)

/*
 * The records that follow h (just written or read, with its config) are
 * framed as h's revision says; the chain starts from its header_crc.
 */
void rec_stream_start(struct stream *s, const struct stream_header *h);

/*
 * Write a record whose body is the iovecs (at most REC_MAX_LENGTH).
 * Writes may be chained without checking each: the stream's error is
 * sticky, so check s->error (or the last return) once at the end.
 */
int rec_write(struct stream *s, uint32_t type, const struct iovec *body, int n);
int rec_write_buf(struct stream *s, uint32_t type, const void *body,
		  uint32_t len);
/* The END record: in revision 2 it counts and digests the stream. */
int rec_write_end(struct stream *s);

/* Read and check a record header; err->offset/type describe it. */
int rec_read_hdr(struct stream *s, struct rec_hdr *h,
		 struct rec_error *err) __must_check;
/* Read a whole body (h->length bytes) into buf, check padding and CRC. */
int rec_read_body(struct stream *s, const struct rec_hdr *h, void *buf,
		  struct rec_error *err) __must_check;
/*
 * For readers that take a body in pieces: the CRC to continue over the
 * body, then rec_read_tail() with the result (it reads the padding,
 * compares the CRC and moves the chain on).
 */
uint32_t rec_body_crc_init(const struct stream *s, const struct rec_hdr *h);
int rec_read_tail(struct stream *s, const struct rec_hdr *h, uint32_t crc,
		  struct rec_error *err) __must_check;
/*
 * A record whose body is read and checked later, by its offset: the
 * caller has read prefix bytes of it (through the stream, adding them to
 * the CRC it began with rec_body_crc_init()); the rest and the padding
 * are passed over (a regular file: stream_seek_ahead) and the chain
 * moves on with the record's own CRC, taken on trust until the caller
 * checks the whole body against it. Nothing of the body may be used
 * before that check. Lazy restore's page batches.
 */
int rec_defer_body(struct stream *s, const struct rec_hdr *h, uint32_t prefix,
		   struct rec_error *err) __must_check;

/*
 * END's body (h read by rec_read_hdr): its structure, and in revision 2
 * that it counts the records and bytes before it and carries their
 * digest. Nothing of the stream may be used before this succeeded.
 */
int rec_read_end(struct stream *s, const struct rec_hdr *h,
		 const struct rec_limits *lim,
		 struct rec_error *err) __must_check;

/* Describe a stream error (EOF, I/O) in err->why. */
int rec_io_error(struct stream *s, struct rec_error *err, const char *what);

#endif
