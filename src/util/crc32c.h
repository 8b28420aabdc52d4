/* crc32c.h: CRC-32C (Castagnoli), the checksum of every WAL record and on-disk section. */
#ifndef HS_UTIL_CRC32C_H
#define HS_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over len bytes.  SSE4.2 instruction when the CPU has it, else a
 * table.  Thread-safety: safe. */
uint32_t hs_crc32c(uint32_t crc, const void *buf, size_t len);
/* The table version (reference for tests). */
uint32_t hs_crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif
