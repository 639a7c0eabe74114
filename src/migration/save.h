/*
 * Save: write a paused VM as a complete stream (header and config, page
 * data, machine state, END). Straight-line code on the caller's thread;
 * the caller pauses the VM before and decides what happens after.
 */
#ifndef GODWIT_MIGRATION_SAVE_H
#define GODWIT_MIGRATION_SAVE_H

#include <stdint.h>

#include "common/compiler.h"
#include "devices/registry.h"
#include "migration/leaserec.h"
#include "migration/pages.h"
#include "migration/transport/stream.h"

struct vm;

struct save_result {
	struct page_stats pages;
	uint64_t bytes;
	uint64_t duration_ns;
};

/* A new stream's random identity (getrandom); 0 or -errno. */
int save_stream_id(uint8_t id_out[STREAM_ID_LEN]) __must_check;
/* Header, config text (padded) and SAVE_INFO. */
int save_header(struct stream *s, struct vm *vm, const char *config,
		uint32_t config_len, uint32_t flags) __must_check;
/* The same, and the header written into *h_out. */
int save_header_get(struct stream *s, struct vm *vm, const char *config,
		    uint32_t config_len, uint32_t flags,
		    struct stream_header *h_out) __must_check;
/*
 * Machine state records, the leases' LEASE records (NULL: none) and END
 * (VM paused); END counts the stream.
 */
int save_state(struct stream *s, struct vm *vm, struct dev_registry *devs,
	       const struct leaserec_set *leases) __must_check;
/* The whole stream of a paused VM. */
int save_vm(struct stream *s, struct vm *vm, struct dev_registry *devs,
	    const char *config, uint32_t config_len,
	    const struct leaserec_set *leases,
	    struct save_result *res) __must_check;

#endif
