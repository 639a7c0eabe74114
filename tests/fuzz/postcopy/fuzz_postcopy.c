/*
 * libFuzzer target: post-copy's wire structures (src/format/postcopy.c)
 * and the destination's plan (src/migration/postcopy_dst.c). The first
 * byte picks the guest's RAM size, the next two the length of a POSTCOPY
 * record body that follows; the rest is read as the messages a peer
 * sends on a post-copy connection, each with the data it announces. A
 * body or message the checks accept must be one the users can take
 * without reading out of bounds: the plan's count matches its map, a
 * HELLO's map has no bit past the RAM.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/postcopy.h"
#include "migration/postcopy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t id[STREAM_ID_LEN] = "fuzz-stream-id!";

static void plan(const uint8_t *body, uint32_t len, uint64_t mem)
{
	struct rec_limits lim = { .nr_vcpus = 1,
				  .mem_bytes = mem,
				  .version = STREAM_VERSION };
	struct postcopy_plan p = { .present = false };
	char why[256];
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		return;
	memcpy(copy, body, len); /* aligned, as the reader's buffer is */
	if (!rec_body_check(REC_POSTCOPY, copy, len, &lim, why, sizeof(why)) &&
	    !postcopy_plan_read(&p, copy, len)) {
		if (bitmap_count(&p.regions) != p.pending ||
		    p.nr_regions != postcopy_nr_regions(mem))
			__builtin_trap();
		postcopy_plan_destroy(&p);
	}
	free(copy);
}

static void messages(const uint8_t *data, size_t size, uint64_t nr)
{
	struct postcopy_msg m;
	char why[256];
	uint8_t *buf;

	while (size >= sizeof(m)) {
		memcpy(&m, data, sizeof(m));
		data += sizeof(m);
		size -= sizeof(m);
		if (postcopy_msg_check(&m, nr, why, sizeof(why)))
			continue;
		if (m.length > size)
			return;
		buf = malloc(m.length ? m.length : 1);
		if (!buf)
			return;
		memcpy(buf, data, m.length);
		if (!postcopy_data_check(&m, buf, why, sizeof(why)) &&
		    m.type == POSTCOPY_HELLO)
			(void)!postcopy_hello_check(&m, buf, id, nr, why,
						    sizeof(why));
		free(buf);
		data += m.length;
		size -= m.length;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t mem;
	uint32_t len;

	if (size < 3)
		return 0;
	/* 2 MiB .. 512 MiB, or past the 3 GiB hole for large values. */
	mem = (uint64_t)(data[0] % 128 + 1) * (data[0] >= 128 ? 64 : 4) << 20;
	len = data[1] | data[2] << 8;
	data += 3;
	size -= 3;
	if (len > size)
		len = size;
	plan(data, len, mem);
	messages(data + len, size - len, postcopy_nr_regions(mem));
	return 0;
}
