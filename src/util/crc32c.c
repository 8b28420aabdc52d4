/*
 * crc32c.c: CRC-32C, reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF
 * (the iSCSI/ext4/RocksDB variant).  Hardware path: the SSE4.2 crc32 instruction, 8 bytes at a
 * time; chosen once per process.  Check value: crc32c("123456789") = 0xE3069283.
 */
#include "util/crc32c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

uint32_t hs_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&table_once, build_table);
    const uint8_t *p = buf;
    crc = ~crc;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        v ^= crc;
        crc = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^ table[5][(v >> 16) & 0xff] ^
              table[4][(v >> 24) & 0xff] ^ table[3][(v >> 32) & 0xff] ^
              table[2][(v >> 40) & 0xff] ^ table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t c = ~crc;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--)
        c32 = _mm_crc32_u8(c32, *p++);
    return ~c32;
}

static bool has_sse42(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}
#endif

uint32_t hs_crc32c(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
    static atomic_int hw = -1;
    int h = atomic_load_explicit(&hw, memory_order_relaxed);
    if (h < 0) {
        h = has_sse42();
        atomic_store_explicit(&hw, h, memory_order_relaxed);
    }
    if (h)
        return crc_hw(crc, buf, len);
#endif
    return hs_crc32c_sw(crc, buf, len);
}
