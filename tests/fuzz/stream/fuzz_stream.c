/*
 * libFuzzer target: arbitrary bytes as a save stream, through the same
 * reader godwit restore uses (header, config, every record, completeness
 * at END), with guest RAM in a memfd and no KVM. Any crash, hang, leak or
 * sanitizer report is a bug in the stream reader.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/registry.h"
#include "migration/restore.h"
#include "migration/vmstate.h"
#include "vmm/memory.h"

#define FUZZ_MEM_MAX (64ULL << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_devices(struct dev_registry *devs)
{
	unsigned int i;

	memset(devs, 0, sizeof(*devs));
	for (i = 0; i < devreg_platform_count; i++)
		if (devreg_add(devs, &devreg_platform[i]))
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
	fuzz_devices(&devs);
	if (vmstate_rx_init(&rx, h.nr_vcpus) == 0) {
		struct restore_target t = { .mem = &mem,
					    .devs = &devs,
					    .rx = &rx };

		if (restore_records(&s, &h, &t, &res, &err) == 0 &&
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
