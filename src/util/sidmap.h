/*
 * sidmap.h: the string ids of a collection that uses them (include/hyperspace.h, HS_ID_STRING).
 *
 * A string id lives in a blob owned by the slot of the point's current version:
 *     [u64 internal key][u16 length][length bytes of UTF-8]
 * (the key is the u64 id the rest of the engine knows the point by).  hs_sidmap maps the string
 * to that blob: open addressing on a keyed SipHash of the string (a random key per map, so that
 * chosen ids cannot pile up in one probe run), linear probing, backward-shift deletion, load
 * factor <= 0.5.  The map only points at blobs; their owner frees them.  Not thread-safe: the
 * owner serialises writers and readers (the collection's read-write lock).
 */
#ifndef HS_UTIL_SIDMAP_H
#define HS_UTIL_SIDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/bytes.h"

#define HS_SID_HDR 10 /* key (8) and length (2) before the bytes of a blob */

static inline uint64_t hs_sid_key(const uint8_t *b) { return hs_get_le64(b); }

static inline size_t hs_sid_len(const uint8_t *b) { return (size_t)b[8] | (size_t)b[9] << 8; }
static inline const char *hs_sid_str(const uint8_t *b) { return (const char *)b + HS_SID_HDR; }

typedef struct hs_sidmap {
    uint64_t *hash;
    uint8_t **blob; /* NULL = empty entry */
    size_t cap;     /* power of two, or 0 */
    size_t count;
    uint64_t k0, k1;
} hs_sidmap;

void hs_sidmap_init(hs_sidmap *m);
void hs_sidmap_destroy(hs_sidmap *m);
/* Makes room for n entries without rehashing later.  Errors: HS_ENOMEM. */
int hs_sidmap_reserve(hs_sidmap *m, size_t n);
/* The blob holding the string s[0..len), or NULL. */
uint8_t *hs_sidmap_get(const hs_sidmap *m, const char *s, size_t len);
/* Inserts blob, replacing the entry of the same string.  Errors: HS_ENOMEM (unchanged). */
int hs_sidmap_put(hs_sidmap *m, uint8_t *blob);
/* Removes the entry that holds exactly this blob (not another blob of the same string). */
bool hs_sidmap_del(hs_sidmap *m, const uint8_t *blob);
size_t hs_sidmap_bytes(const hs_sidmap *m);

#endif
