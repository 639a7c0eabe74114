/*
 * Port I/O and MMIO dispatch from vCPU exits to device models. Devices
 * register fixed ranges at VM creation; lookups happen on vCPU threads,
 * so the tables are immutable once vCPUs run and each device locks its
 * own state.
 */
#ifndef GODWIT_VMM_BUS_H
#define GODWIT_VMM_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"

#define BUS_MAX_RANGES 32

/*
 * Called on a vCPU thread for an access of len (1, 2, 4 or 8) bytes at
 * offset bytes into the range. Reads fill data; writes consume it.
 */
typedef void (*bus_io_fn)(void *opaque, uint64_t offset, uint8_t *data,
			  unsigned int len, bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_io_fn io;
	void *opaque;
};

struct bus {
	struct bus_range ranges[BUS_MAX_RANGES];
	unsigned int nr_ranges;
};

int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn io,
		 void *opaque) __must_check;
/*
 * Dispatch one access. Unclaimed reads return all ones (an empty ISA
 * bus); unclaimed writes are dropped. Returns false if unclaimed.
 */
bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, unsigned int len,
		bool is_write);

#endif
