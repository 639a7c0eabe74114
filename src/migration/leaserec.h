/*
 * The leases a stream carries (LEASE records, docs/stream-format.md):
 * plain data between the monitor, which holds the leases (src/lease/),
 * and the stream's writer and reader. The writer puts one LEASE record
 * per entry after the machine and device state; the reader collects
 * them for the monitor, which acquires each one "only if the generation
 * is still" the recorded one before the vCPUs run.
 */
#ifndef GODWIT_MIGRATION_LEASEREC_H
#define GODWIT_MIGRATION_LEASEREC_H

#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "format/stream_format.h"
#include "migration/transport/stream.h"

#define LEASEREC_MAX 32 /* LEASE records in one stream */

struct leaserec {
	char engine[LEASE_ENGINE_LEN]; /* NUL-terminated */
	char resource[LEASE_RESOURCE_LEN]; /* NUL-terminated */
	uint64_t generation;
};

struct leaserec_set {
	unsigned int nr;
	struct leaserec l[LEASEREC_MAX];
};

/* One LEASE record per entry; 0 or the stream's error. */
int leaserec_write(struct stream *s, const struct leaserec_set *set);
/*
 * A LEASE body (checked by rec_body_check) into set: -EINVAL with why
 * for a second record of one resource or more than LEASEREC_MAX.
 */
int leaserec_add(struct leaserec_set *set, const void *body, uint32_t len,
		 char *why, size_t whylen) __must_check;
const struct leaserec *leaserec_find(const struct leaserec_set *set,
				     const char *resource);

#endif
