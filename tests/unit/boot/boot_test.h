/*
 * Helpers shared by the boot-structure unit tests: read little-endian
 * fields of guest memory at the offsets the specifications give, so the
 * tests check bytes, not the implementation's own structs.
 */
#ifndef GODWIT_TEST_BOOT_TEST_H
#define GODWIT_TEST_BOOT_TEST_H

#include <stdint.h>
#include <string.h>

#include "vmm/memory.h"

/* Little-endian integer of n (<= 8) bytes at p + off. */
static inline uint64_t le(const void *p, size_t off, size_t n)
{
	const uint8_t *b = (const uint8_t *)p + off;
	uint64_t v = 0;

	while (n--)
		v = (v << 8) | b[n];
	return v;
}

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
