/*
 * Encoding and validation of the stream's fixed structures: header,
 * record headers, record bodies and handover messages. No I/O and no VM:
 * everything here is a pure function of its bytes (the fuzz target's
 * surface). Validation failures fill why with one line naming the field.
 */
#ifndef GODWIT_FORMAT_RECORD_H
#define GODWIT_FORMAT_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "format/stream_format.h"

/* What a body is checked against: the VM the stream must describe. */
struct rec_limits {
	uint32_t nr_vcpus;
	uint64_t mem_bytes;
	/* The stream's revision, for bodies that differ (END); 0: current. */
	uint32_t version;
};

const char *rec_type_name(uint32_t type);
/* A type this reader knows, mandatory or optional. */
bool rec_type_known(uint32_t type);
static inline uint32_t rec_padded(uint32_t len)
{
	return ALIGN_UP(len, REC_ALIGN);
}

/* A header of the current revision (STREAM_VERSION), sealed. */
void stream_header_init(struct stream_header *h, uint32_t flags,
			uint64_t mem_bytes, uint32_t nr_vcpus,
			const char vendor[12], uint32_t cpuid_digest,
			const uint8_t stream_id[STREAM_ID_LEN],
			const char *config, uint32_t config_len);
/* Set header_crc for h's version, header_size and the config text. */
void stream_header_seal(struct stream_header *h, const char *config);
/* Header bytes of a stream revision on the wire, 0 if unknown. */
uint32_t stream_header_size(uint32_t version);
/* Structure, limits and CRC of a header and its config text. */
int stream_header_check(const struct stream_header *h, const char *config,
			char *why, size_t whylen) __must_check;
/* Same without the config (its length is checked, its CRC not yet). */
int stream_header_check_fixed(const struct stream_header *h, char *why,
			      size_t whylen) __must_check;

/*
 * The CRC a record's body continues: revision 1 starts from zero over
 * type and length; revision 2 from chain (the previous record's CRC, or
 * header_crc) over type, length and seq.
 */
uint32_t rec_crc_begin(uint32_t version, uint32_t chain,
		       const struct rec_hdr *h);
void rec_hdr_init(struct rec_hdr *h, uint32_t type, uint32_t length,
		  uint32_t crc, uint32_t seq);
/*
 * Length limit, known or optional type, and the sequence number: seq in
 * revision 2 (the records before this one), 0 in revision 1.
 */
int rec_hdr_check(const struct rec_hdr *h, uint32_t version, uint32_t seq,
		  char *why, size_t whylen) __must_check;

/*
 * PAGE_DATA: check the first 8 + 8*count bytes (the pfn list) of a body
 * of total length len; *data_pages_out gets the number of NORMAL pages.
 */
int rec_page_data_check(const void *prefix, size_t prefix_len, uint32_t len,
			const struct rec_limits *lim, uint32_t *data_pages_out,
			char *why, size_t whylen) __must_check;
/*
 * PAGE_ZSTD: its fixed part z and the z->count entries, in a body of
 * length len: entries, data_pages, and that frame_len fits the body and
 * is smaller than the pages it holds. The frame is the decompressor's.
 */
int rec_page_zstd_check(const struct rec_page_zstd *z, const uint64_t *entries,
			uint32_t len, const struct rec_limits *lim, char *why,
			size_t whylen) __must_check;
/* Any other record type: the whole body. */
int rec_body_check(uint32_t type, const void *body, uint32_t len,
		   const struct rec_limits *lim, char *why,
		   size_t whylen) __must_check;
/*
 * A revision 2 END (its body checked by rec_body_check) against what the
 * reader saw: records and bytes before END, and the chain value.
 */
int rec_end_check(const struct rec_end *e, uint64_t records, uint64_t bytes,
		  uint32_t digest, char *why, size_t whylen) __must_check;

/* Build a handover message (stream_format.h); text may be NULL. */
void handover_msg_init(struct handover_msg *m, uint32_t type, uint64_t time_ns,
		       uint64_t value, int error, const char *text);
/* An OUTCOME message: what became of arrival_id (enum handover_outcome). */
void handover_msg_outcome_init(struct handover_msg *m, uint64_t time_ns,
			       uint64_t arrival_id, uint32_t outcome);
int handover_msg_check(const struct handover_msg *m, char *why,
		       size_t whylen) __must_check;

/* The hello of extra connection index (of count) of the stream h heads. */
void conn_hello_init(struct conn_hello *m, const struct stream_header *h,
		     uint32_t index, uint32_t count);
/* Is m a hello for one of the count connections of the stream h heads? */
int conn_hello_check(const struct conn_hello *m, const struct stream_header *h,
		     uint32_t count, char *why, size_t whylen) __must_check;

#endif
