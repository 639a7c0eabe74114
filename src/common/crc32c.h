/*
 * CRC32C (Castagnoli), the checksum of every stream record. Uses the SSE4.2
 * crc32 instruction when the host has it, a table otherwise; both give the
 * same result (checked by a unit test).
 */
#ifndef GODWIT_COMMON_CRC32C_H
#define GODWIT_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Start with crc = 0; feed the previous result to continue a running sum. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif
