/*
 * Little-endian field access for unit tests: read and write integers at
 * the byte offsets a specification gives, so tests check bytes rather
 * than the implementation's own structs.
 */
#ifndef GODWIT_TESTS_UNIT_LE_H
#define GODWIT_TESTS_UNIT_LE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Little-endian integer of n (<= 8) bytes at p + off. */
static inline uint64_t le(const void *p, size_t off, size_t n)
{
	const uint8_t *b = (const uint8_t *)p + off;
	uint64_t v = 0;

	while (n--)
		v = (v << 8) | b[n];
	return v;
}

/* Store v at p + off in host order (x86: little-endian). */
static inline void put32(void *p, size_t off, uint32_t v)
{
	memcpy((uint8_t *)p + off, &v, 4);
}

static inline void put64(void *p, size_t off, uint64_t v)
{
	memcpy((uint8_t *)p + off, &v, 8);
}

#endif
