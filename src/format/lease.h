/*
 * Checks of the lease layouts of stream_format.h: the LEASE record's
 * body and the `file` engine's lease file record. Pure functions of
 * their bytes (fuzz targets: tests/fuzz/stream, tests/fuzz/lease).
 */
#ifndef GODWIT_FORMAT_LEASE_H
#define GODWIT_FORMAT_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "format/stream_format.h"

/* A LEASE record's body of len bytes; why names the field. */
int rec_lease_check(const void *body, uint32_t len, char *why,
		    size_t whylen) __must_check;
/* Set r's crc (every other field filled in, reserved and padding 0). */
void lease_file_rec_seal(struct lease_file_rec *r);
/*
 * The len bytes read from a lease file: one whole sealed record, every
 * field within its limits. -EINVAL with why ("checksum mismatch", ...).
 */
int lease_file_rec_check(const void *buf, size_t len, char *why,
			 size_t whylen) __must_check;

#endif
