/*
 * idmap.c: see idmap.h.  Deletion shifts later entries of the probe run back (no tombstones), so
 * lookups never degrade after many deletes.
 */
#include "util/idmap.h"

#include <stdlib.h>

#include "hyperspace.h"
#include "util/util.h"

void hs_idmap_init(hs_idmap *m) { *m = (hs_idmap){0}; }

void hs_idmap_destroy(hs_idmap *m)
{
    free(m->keys);
    free(m->vals);
    free(m->used);
    *m = (hs_idmap){0};
}

static inline size_t slot_of(const hs_idmap *m, uint64_t key)
{
    return (size_t)hs_mix64(key) & (m->cap - 1);
}

static int rehash(hs_idmap *m, size_t ncap)
{
    hs_idmap n = {.cap = ncap};
    n.keys = malloc(ncap * sizeof(*n.keys));
    n.vals = malloc(ncap * sizeof(*n.vals));
    n.used = calloc(ncap, 1);
    if (!n.keys || !n.vals || !n.used) {
        hs_idmap_destroy(&n);
        return HS_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->used[i])
            continue;
        size_t j = slot_of(&n, m->keys[i]);
        while (n.used[j])
            j = (j + 1) & (ncap - 1);
        n.used[j] = 1;
        n.keys[j] = m->keys[i];
        n.vals[j] = m->vals[i];
    }
    n.count = m->count;
    hs_idmap_destroy(m);
    *m = n;
    return HS_OK;
}

int hs_idmap_reserve(hs_idmap *m, size_t n)
{
    size_t cap = m->cap ? m->cap : 16;
    while (cap < 2 * n)
        cap *= 2;
    return cap > m->cap ? rehash(m, cap) : HS_OK;
}

int hs_idmap_put(hs_idmap *m, uint64_t key, uint32_t val)
{
    if (2 * (m->count + 1) > m->cap) {
        int rc = rehash(m, m->cap ? m->cap * 2 : 16);
        if (rc != HS_OK)
            return rc;
    }
    size_t j = slot_of(m, key);
    while (m->used[j]) {
        if (m->keys[j] == key) {
            m->vals[j] = val;
            return HS_OK;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->used[j] = 1;
    m->keys[j] = key;
    m->vals[j] = val;
    m->count++;
    return HS_OK;
}

bool hs_idmap_get(const hs_idmap *m, uint64_t key, uint32_t *val)
{
    if (!m->cap)
        return false;
    size_t j = slot_of(m, key);
    while (m->used[j]) {
        if (m->keys[j] == key) {
            if (val)
                *val = m->vals[j];
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return false;
}

bool hs_idmap_del(hs_idmap *m, uint64_t key)
{
    if (!m->cap)
        return false;
    size_t mask = m->cap - 1, j = slot_of(m, key);
    while (m->used[j] && m->keys[j] != key)
        j = (j + 1) & mask;
    if (!m->used[j])
        return false;
    /* backward-shift: move later members of the run into the hole when their home allows */
    size_t hole = j;
    for (size_t k = (j + 1) & mask; m->used[k]; k = (k + 1) & mask) {
        size_t home = slot_of(m, m->keys[k]);
        bool movable = hole <= k ? (home <= hole || home > k) : (home <= hole && home > k);
        if (movable) {
            m->keys[hole] = m->keys[k];
            m->vals[hole] = m->vals[k];
            hole = k;
        }
    }
    m->used[hole] = 0;
    m->count--;
    return true;
}

size_t hs_idmap_bytes(const hs_idmap *m) { return m->cap * (sizeof(uint64_t) + sizeof(uint32_t) + 1); }
