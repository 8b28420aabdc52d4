/*
 * idmap.h: open-addressing hash map from a uint64 user id to a uint32 slot (linear probing,
 * backward-shift deletion, load factor <= 0.5).  Not thread-safe: the owner serialises writers
 * and readers (the collection's read-write lock).
 */
#ifndef HS_UTIL_IDMAP_H
#define HS_UTIL_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hs_idmap {
    uint64_t *keys;
    uint32_t *vals;
    uint8_t *used;
    size_t cap; /* power of two, or 0 */
    size_t count;
} hs_idmap;

void hs_idmap_init(hs_idmap *m);
void hs_idmap_destroy(hs_idmap *m);
/* Makes room for n entries without rehashing later.  Errors: HS_ENOMEM. */
int hs_idmap_reserve(hs_idmap *m, size_t n);
/* Inserts or replaces.  Errors: HS_ENOMEM (the map is unchanged). */
int hs_idmap_put(hs_idmap *m, uint64_t key, uint32_t val);
bool hs_idmap_get(const hs_idmap *m, uint64_t key, uint32_t *val);
bool hs_idmap_del(hs_idmap *m, uint64_t key);
size_t hs_idmap_bytes(const hs_idmap *m);

#endif
