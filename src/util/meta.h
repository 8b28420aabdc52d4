/*
 * meta.h: the metadata codec, the one stored form of a point's metadata shared by the write
 * path, the log, the checkpoint, the payload indexes and filter evaluation (docs/file-format.md,
 * "Metadata encoding"):
 *
 *   entries: [u32 count] ([u32 key_len][key][u32 word][payload]) x count   (little-endian)
 *   stored:  [u32 len][entries of len bytes]   (a slot's blob in memory and in checkpoints)
 *
 * word = type << 24 | payload length.  Type 0 is a string (the payload is its bytes), so the
 * string-only blobs written before types existed are read unchanged, and a point whose values
 * are all strings is still written byte for byte as then.  Type 1 int64 (8 bytes), 2 float64
 * (8 bytes, finite, never -0.0), 3 boolean (1 byte, 0 or 1), 4 list: [u32 n] then n elements
 * [u8 type 0..3][payload], a string element as [u32 len][bytes].
 *
 * Keys are unique within a blob (the encoder keeps the last value of a repeated key).  The
 * reader checks every length, type and element of untrusted bytes before use.
 */
#ifndef HS_UTIL_META_H
#define HS_UTIL_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyperspace.h"

#define HS_META_LEN_MASK 0x00FFFFFFu /* payload length bits of an entry's word */
#define HS_META_TYPE_SHIFT 24

/* A stored value as read, without allocation: scalars decoded, a list as its element bytes. */
typedef struct hs_mval {
    hs_value_type type;
    const char *str; /* STRING */
    uint32_t len;
    int64_t i;       /* INT; BOOL 0 / 1 */
    double f;        /* FLOAT */
    const uint8_t *list; /* LIST: the encoded elements (after the count) */
    uint32_t list_len;
    uint32_t count;
} hs_mval;

/* Bytes of the entries form of pt's metadata (an upper bound when keys repeat). */
size_t hs_meta_size(const hs_point *pt);
/* Writes the entries form into out (hs_meta_size bytes); returns the bytes written.  Values must
 * have passed the write path's checks (types known, floats finite, no list in a list). */
size_t hs_meta_encode(const hs_point *pt, uint8_t *out);

/* A payload update: the entries of a stored blob (NULL = none) whose key `drop` (may be NULL)
 * does not name, in their stored order, followed by the entries of kv[0..n) (each key once, the
 * last of a repeated key), as an entries form written into out; returns its length (its entry
 * count is its first u32).  out holds hs_meta_rewrite_size bytes (an upper bound).  The values
 * of kv must have passed the write path's checks. */
size_t hs_meta_rewrite_size(const uint8_t *stored, const hs_kv *kv, size_t n);
size_t hs_meta_rewrite(const uint8_t *stored, bool (*drop)(void *ctx, const char *k, size_t kl),
                       void *ctx, const hs_kv *kv, size_t n, uint8_t *out);

/* Reads one entry at *p (bounded by end), checking its value; false when it is malformed. */
bool hs_meta_read(const uint8_t **p, const uint8_t *end, const char **k, uint32_t *kl,
                  hs_mval *v);
/* One entry's key, word and payload at *p without looking into the payload (bounded by end,
 * so safe on any bytes); hs_meta_decode then reads (and checks) the value.  For a walk that
 * wants one key's value out of many entries. */
bool hs_meta_skip(const uint8_t **p, const uint8_t *end, const char **k, uint32_t *kl,
                  uint32_t *word, const uint8_t **payload);
bool hs_meta_decode(uint32_t word, const uint8_t *payload, hs_mval *v);
/* As hs_meta_read, the value as its stored payload bytes (any type). */
bool hs_meta_next(const uint8_t **p, const uint8_t *end, const char **k, uint32_t *kl,
                  const char **v, uint32_t *vl);
/* Whether len bytes are exactly one well-formed entries form (untrusted input). */
bool hs_meta_blob_ok(const uint8_t *b, size_t len);

/* The scalars of a value: the value itself, or each element of a list, in order. */
typedef struct hs_scalars {
    const hs_mval *v;
    const uint8_t *p, *end;
    uint32_t left;
    bool done;
} hs_scalars;
void hs_scalars_init(hs_scalars *s, const hs_mval *v);
bool hs_scalars_next(hs_scalars *s, hs_mval *out);

/* The string form of a value (hs_meta_fn in hyperspace.h) into buf, cut at cap bytes; returns
 * its full length (call again with a larger buffer when it is above cap). */
size_t hs_mval_text(const hs_mval *v, char *buf, size_t cap);
/* The string form's length of a value given to the write path (lists: their JSON text). */
size_t hs_value_text_len(const hs_value *v);

/* Calls fn for each entry of a stored blob (NULL = none) until fn returns non-zero; returns
 * that value (0 when every entry was seen, HS_ENOMEM when a long value's text could not be
 * made).  Typed values are given in their string form. */
int hs_meta_each_stored(const uint8_t *stored, hs_meta_fn fn, void *ctx);
/* The same with the values typed. */
int hs_meta_each_typed_stored(const uint8_t *stored, hs_value_fn fn, void *ctx);
/* Whether a stored blob has a value that is not a string. */
bool hs_meta_has_typed_stored(const uint8_t *stored);

/* The canonical number of a numeric scalar, for equality across int and float: an integral
 * float within int64 is that integer (*is_int set), any other float itself. */
void hs_mval_number(const hs_mval *v, bool *is_int, int64_t *i, double *f);

#endif /* HS_UTIL_META_H */
