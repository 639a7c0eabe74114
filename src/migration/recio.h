/*
 * Reading and writing whole records on a stream: header, body, padding
 * and CRC. Errors carry the record type and the byte offset of its
 * header so that every message can say where the stream went wrong.
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
 * Write a record whose body is the iovecs (at most REC_MAX_LENGTH).
 * Writes may be chained without checking each: the stream's error is
 * sticky, so check s->error (or the last return) once at the end.
 */
int rec_write(struct stream *s, uint32_t type, const struct iovec *body, int n);
int rec_write_buf(struct stream *s, uint32_t type, const void *body,
		  uint32_t len);

/* Read and check a record header; err->offset/type describe it. */
int rec_read_hdr(struct stream *s, struct rec_hdr *h,
		 struct rec_error *err) __must_check;
/* Read a whole body (h->length bytes) into buf, check padding and CRC. */
int rec_read_body(struct stream *s, const struct rec_hdr *h, void *buf,
		  struct rec_error *err) __must_check;
/* Read the padding after a body and compare the CRC computed by the
 * caller over the body. */
int rec_read_tail(struct stream *s, const struct rec_hdr *h, uint32_t crc,
		  struct rec_error *err) __must_check;

/* Describe a stream error (EOF, I/O) in err->why. */
int rec_io_error(struct stream *s, struct rec_error *err, const char *what);

#endif
