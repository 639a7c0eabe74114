/*
 * libFuzzer target: arbitrary bytes as a save stream, through the same
 * reader godwit restore uses (header, config, every record and its place
 * in the chain, END's count and digest, completeness), with guest RAM in
 * a memfd and no KVM; then through godwit inspect's pass over it (no RAM),
 * which must come to the same verdict. Any crash, hang, leak, sanitizer
 * report or disagreement is a bug in the stream reader.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/platform.h"
#include "migration/postcopy.h"
#include "migration/restore.h"
#include "migration/vmstate.h"
#include "vmm/memory.h"

#define FUZZ_MEM_MAX (64ULL << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_devices(struct dev_registry *devs, uint64_t mem_bytes)
{
	memset(devs, 0, sizeof(*devs));
	if (platform_describe(devs, mem_bytes))
		__builtin_trap();
}

/* godwit inspect's pass: the same reader without guest RAM. */
static int check_only(const uint8_t *data, size_t size)
{
	struct restore_result res;
	struct stream_header h;
	struct dev_registry devs;
	struct rec_error err;
	struct stream s;
	char *config = NULL;
	int rc;

	stream_open_mem_read(&s, data, size);
	rc = restore_read_header(&s, &h, &config, &err);
	if (!rc) {
		fuzz_devices(&devs, h.mem_bytes);
		rc = restore_check_stream(&s, &h, &devs, &res, &err);
	}
	free(config);
	stream_close(&s);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct restore_result res;
	struct stream_header h;
	struct dev_registry devs;
	struct vmstate_rx rx;
	struct rec_error err;
	struct guest_mem mem;
	struct stream s;
	char *config = NULL;
	int rc = -1;

	stream_open_mem_read(&s, data, size);
	if (restore_read_header(&s, &h, &config, &err))
		goto out;
	/* Big RAM sizes are valid but only cost time here. */
	if (h.mem_bytes > FUZZ_MEM_MAX || mem_init(&mem, h.mem_bytes))
		goto out;
	fuzz_devices(&devs, h.mem_bytes);
	if (vmstate_rx_init(&rx, h.nr_vcpus) == 0) {
		struct postcopy_plan plan = { .present = false };
		struct restore_target t = {
			.mem = &mem, .devs = &devs, .rx = &rx, .postcopy = &plan
		};

		rc = restore_records(&s, &h, &t, &res, &err);
		if (rc == 0 && s.offset > size)
			__builtin_trap(); /* read more than there was */
		vmstate_rx_free(&rx);
		postcopy_plan_destroy(&plan);
	}
	mem_destroy(&mem);
	/* inspect accepts exactly what restore accepts. */
	if (rc != -1 && (rc == 0) != (check_only(data, size) == 0))
		__builtin_trap();
out:
	free(config);
	stream_close(&s);
	return 0;
}
