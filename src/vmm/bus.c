/* Range lookup for port I/O and MMIO exits. */
#include "vmm/bus.h"

#include <errno.h>
#include <string.h>

int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn io,
		 void *opaque)
{
	unsigned int i;

	if (!len || base + len < base)
		return -EINVAL;
	for (i = 0; i < bus->nr_ranges; i++) {
		const struct bus_range *r = &bus->ranges[i];

		if (base < r->base + r->len && r->base < base + len)
			return -EBUSY;
	}
	if (bus->nr_ranges == BUS_MAX_RANGES)
		return -ENOSPC;
	bus->ranges[bus->nr_ranges++] = (struct bus_range){
		.base = base,
		.len = len,
		.io = io,
		.opaque = opaque,
	};
	return 0;
}

bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, unsigned int len,
		bool is_write)
{
	unsigned int i;

	for (i = 0; i < bus->nr_ranges; i++) {
		const struct bus_range *r = &bus->ranges[i];

		if (addr >= r->base && addr - r->base < r->len) {
			r->io(r->opaque, addr - r->base, data, len, is_write);
			return true;
		}
	}
	if (!is_write)
		memset(data, 0xff, len);
	return false;
}
