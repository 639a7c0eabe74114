/*
 * libFuzzer target of godwitd's configuration file (src/config/host.c):
 * arbitrary bytes parsed as godwitd.conf. A parse either succeeds with a
 * known on_host_stop or fails with a message; it never crashes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "config/host_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config_diag diag;
	struct host_config h;

	if (host_config_parse("fuzz", (const char *)data, size, &h, &diag)) {
		if (!diag.error[0])
			abort();
		return 0;
	}
	if (h.on_host_stop != HOST_ON_STOP_KEEP &&
	    h.on_host_stop != HOST_ON_STOP_SAVE)
		abort();
	return 0;
}
