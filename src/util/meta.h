/*
 * meta.h: the metadata codec, the one stored form of a point's metadata shared by the write
 * path, the checkpoint, the payload indexes and filter evaluation (docs/file-format.md):
 *
 *   entries: [u32 count] ([u32 key_len][key][u32 value_len][value]) x count   (little-endian)
 *   stored:  [u32 len][entries of len bytes]   (a slot's blob in memory and in checkpoints)
 *
 * Keys are unique within a blob (the encoder keeps the last value of a repeated key).
 */
#ifndef HS_UTIL_META_H
#define HS_UTIL_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyperspace.h"

/* Bytes of the entries form of pt's metadata (an upper bound when keys repeat). */
size_t hs_meta_size(const hs_point *pt);
/* Writes the entries form into out (hs_meta_size bytes); returns the bytes written. */
size_t hs_meta_encode(const hs_point *pt, uint8_t *out);
/* Reads one entry at *p (bounded by end); false when it does not fit. */
bool hs_meta_next(const uint8_t **p, const uint8_t *end, const char **k, uint32_t *kl,
                  const char **v, uint32_t *vl);
/* Whether len bytes are exactly one well-formed entries form (untrusted input). */
bool hs_meta_blob_ok(const uint8_t *b, size_t len);
/* Calls fn for each entry of a stored blob (NULL = none) until fn returns non-zero; returns
 * that value (0 when every entry was seen). */
int hs_meta_each_stored(const uint8_t *stored, hs_meta_fn fn, void *ctx);

#endif /* HS_UTIL_META_H */
