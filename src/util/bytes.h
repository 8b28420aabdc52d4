/*
 * bytes.h: explicit little-endian encoding of the on-disk and checkpoint formats
 * (docs/file-format.md: every integer is little-endian whatever the host), and a bounded reader
 * for untrusted bytes: every read checks what is left and reports a short input instead of
 * reading past the end.  Compilers turn the byte shifts into single loads and stores on
 * little-endian hosts.
 */
#ifndef HS_UTIL_BYTES_H
#define HS_UTIL_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void hs_put_le32(void *dst, uint32_t v)
{
    uint8_t *p = dst;
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void hs_put_le64(void *dst, uint64_t v)
{
    hs_put_le32(dst, (uint32_t)v);
    hs_put_le32((uint8_t *)dst + 4, (uint32_t)(v >> 32));
}

static inline uint32_t hs_get_le32(const void *src)
{
    const uint8_t *p = src;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t hs_get_le64(const void *src)
{
    return (uint64_t)hs_get_le32(src) | (uint64_t)hs_get_le32((const uint8_t *)src + 4) << 32;
}

/* A bounded reader over [p, end): a read that does not fit fails and consumes nothing. */
typedef struct hs_reader {
    const uint8_t *p, *end;
} hs_reader;

static inline hs_reader hs_reader_of(const void *buf, size_t len)
{
    hs_reader r = {buf, (const uint8_t *)buf + len};
    return r;
}

static inline size_t hs_reader_left(const hs_reader *r) { return (size_t)(r->end - r->p); }

/* Points *at to the next n bytes and skips them. */
static inline bool hs_read_span(hs_reader *r, size_t n, const uint8_t **at)
{
    if (hs_reader_left(r) < n)
        return false;
    if (at)
        *at = r->p;
    r->p += n;
    return true;
}

static inline bool hs_read_bytes(hs_reader *r, void *out, size_t n)
{
    const uint8_t *at;
    if (!hs_read_span(r, n, &at))
        return false;
    if (n)
        memcpy(out, at, n);
    return true;
}

static inline bool hs_read_le32(hs_reader *r, uint32_t *out)
{
    const uint8_t *at;
    if (!hs_read_span(r, 4, &at))
        return false;
    *out = hs_get_le32(at);
    return true;
}

static inline bool hs_read_le64(hs_reader *r, uint64_t *out)
{
    const uint8_t *at;
    if (!hs_read_span(r, 8, &at))
        return false;
    *out = hs_get_le64(at);
    return true;
}

/* n little-endian u32 values into out. */
static inline bool hs_read_le32_array(hs_reader *r, uint32_t *out, size_t n)
{
    const uint8_t *at;
    if (n > hs_reader_left(r) / 4 || !hs_read_span(r, n * 4, &at))
        return false;
    for (size_t i = 0; i < n; i++)
        out[i] = hs_get_le32(at + 4 * i);
    return true;
}

#endif /* HS_UTIL_BYTES_H */
