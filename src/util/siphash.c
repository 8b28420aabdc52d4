/*
 * siphash.c: SipHash-1-3 (Aumasson & Bernstein's SipHash with c = 1, d = 3), little-endian
 * message words; the last block carries the message length mod 256 in its top byte.
 */
#include "util/siphash.h"

#include <string.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static inline void round_(uint64_t *v0, uint64_t *v1, uint64_t *v2, uint64_t *v3)
{
    *v0 += *v1;
    *v1 = ROTL(*v1, 13);
    *v1 ^= *v0;
    *v0 = ROTL(*v0, 32);
    *v2 += *v3;
    *v3 = ROTL(*v3, 16);
    *v3 ^= *v2;
    *v0 += *v3;
    *v3 = ROTL(*v3, 21);
    *v3 ^= *v0;
    *v2 += *v1;
    *v1 = ROTL(*v1, 17);
    *v1 ^= *v2;
    *v2 = ROTL(*v2, 32);
}

uint64_t hs_siphash13(uint64_t k0, uint64_t k1, const void *data, size_t len)
{
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    const unsigned char *p = data;
    size_t blocks = len / 8;
    for (size_t i = 0; i < blocks; i++) {
        uint64_t m;
        memcpy(&m, p + 8 * i, 8);
        v3 ^= m;
        round_(&v0, &v1, &v2, &v3);
        v0 ^= m;
    }
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    const unsigned char *tail = p + 8 * blocks;
    for (size_t i = 0; i < (len & 7); i++)
        last |= (uint64_t)tail[i] << (8 * i);
    v3 ^= last;
    round_(&v0, &v1, &v2, &v3);
    v0 ^= last;
    v2 ^= 0xff;
    for (int i = 0; i < 3; i++)
        round_(&v0, &v1, &v2, &v3);
    return v0 ^ v1 ^ v2 ^ v3;
}
