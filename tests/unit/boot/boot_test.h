/*
 * Helpers shared by the boot-structure unit tests: read little-endian
 * fields (le.h) of guest memory at the offsets the specifications give,
 * so the tests check bytes, not the implementation's own structs.
 */
#ifndef GODWIT_TEST_BOOT_TEST_H
#define GODWIT_TEST_BOOT_TEST_H

#include <stdint.h>
#include <string.h>

#include "le.h"
#include "vmm/memory.h"

/* Host pointer to len bytes of guest RAM at gpa; NULL if not RAM. */
static inline uint8_t *guest(const struct guest_mem *mem, uint64_t gpa,
			     uint64_t len)
{
	return mem_gpa_to_hva(mem, gpa, len);
}

/* Sum of len bytes modulo 256: 0 for a correctly checksummed table. */
static inline uint8_t byte_sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *p++;
	return s;
}

#endif
