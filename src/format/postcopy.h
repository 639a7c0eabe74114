/*
 * Post-copy's wire structures: the POSTCOPY record's body and the
 * messages on the destination's post-copy connections (stream_format.h,
 * docs/stream-format.md "Post-copy"). Pure functions of their bytes, as
 * record.h: the fuzz target's surface (tests/fuzz/postcopy).
 */
#ifndef GODWIT_FORMAT_POSTCOPY_H
#define GODWIT_FORMAT_POSTCOPY_H

#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "format/record.h"

/* Words of a region map over nr_regions regions. */
static inline uint64_t postcopy_map_words(uint64_t nr_regions)
{
	return DIV_ROUND_UP(nr_regions, 64);
}

/* Regions of guest RAM of mem_bytes (a multiple of 2 MiB). */
static inline uint64_t postcopy_nr_regions(uint64_t mem_bytes)
{
	return mem_bytes / POSTCOPY_REGION_SIZE;
}

/* A POSTCOPY body: layout, its map against the VM's RAM, the count. */
int rec_postcopy_check(const void *body, uint32_t len,
		       const struct rec_limits *lim, char *why,
		       size_t whylen) __must_check;

/* A message with length bytes of data after it (data may be NULL if 0). */
void postcopy_msg_init(struct postcopy_msg *m, uint32_t type, uint64_t region,
		       uint32_t arg, const void *data, uint32_t length);
/* Structure and CRC of a message of a VM with nr_regions regions. */
int postcopy_msg_check(const struct postcopy_msg *m, uint64_t nr_regions,
		       char *why, size_t whylen) __must_check;
/* The data that followed m, against its data_crc. */
int postcopy_data_check(const struct postcopy_msg *m, const void *data,
			char *why, size_t whylen) __must_check;
/*
 * A HELLO's data (m checked): the stream it is for, and for the pages
 * role a map with no bit past nr_regions.
 */
int postcopy_hello_check(const struct postcopy_msg *m, const void *data,
			 const uint8_t stream_id[STREAM_ID_LEN],
			 uint64_t nr_regions, char *why,
			 size_t whylen) __must_check;
const char *postcopy_type_name(uint32_t type);

#endif
