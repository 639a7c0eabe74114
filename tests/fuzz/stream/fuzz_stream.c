/*
 * libFuzzer target: arbitrary bytes as a save stream, through the same
 * reader godwit restore uses (header, config, every record, completeness
 * at END), with guest RAM in a memfd and no KVM. Any crash, hang, leak or
 * sanitizer report is a bug in the stream reader.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/platform.h"
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

	stream_open_mem_read(&s, data, size);
	if (restore_read_header(&s, &h, &config, &err))
		goto out;
	/* Big RAM sizes are valid but only cost time here. */
	if (h.mem_bytes > FUZZ_MEM_MAX || mem_init(&mem, h.mem_bytes))
		goto out;
	fuzz_devices(&devs, h.mem_bytes);
	if (vmstate_rx_init(&rx, h.nr_vcpus) == 0) {
		if (restore_records(&s, &mem, &devs, &h, &rx, &res, &err) ==
			    0 &&
		    s.offset > size)
			__builtin_trap(); /* read more than there was */
		vmstate_rx_free(&rx);
	}
	mem_destroy(&mem);
out:
	free(config);
	stream_close(&s);
	return 0;
}
