/*
 * sidmap.c: see sidmap.h.  Each entry keeps the string's hash beside the blob pointer, so a
 * probe compares bytes only when the hashes are equal and a rehash or a backward shift never
 * reads a blob.
 */
#include "util/sidmap.h"

#include <stdlib.h>
#include <sys/random.h>

#include "hyperspace.h"
#include "util/siphash.h"
#include "util/util.h"

void hs_sidmap_init(hs_sidmap *m)
{
    *m = (hs_sidmap){0};
    uint64_t k[2] = {0, 0};
    if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
        k[0] = hs_mix64(hs_now_ns() ^ (uint64_t)(uintptr_t)m);
        k[1] = hs_mix64(k[0] + 0x9e3779b97f4a7c15ULL);
    }
    m->k0 = k[0];
    m->k1 = k[1];
}

void hs_sidmap_destroy(hs_sidmap *m)
{
    free(m->hash);
    free(m->blob);
    m->hash = NULL;
    m->blob = NULL;
    m->cap = m->count = 0;
}

static inline uint64_t hash_of(const hs_sidmap *m, const char *s, size_t len)
{
    return hs_siphash13(m->k0, m->k1, s, len);
}

static int rehash(hs_sidmap *m, size_t ncap)
{
    uint64_t *nh = malloc(ncap * sizeof(*nh));
    uint8_t **nb = calloc(ncap, sizeof(*nb));
    if (!nh || !nb) {
        free(nh);
        free(nb);
        return HS_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->blob[i])
            continue;
        size_t j = (size_t)m->hash[i] & (ncap - 1);
        while (nb[j])
            j = (j + 1) & (ncap - 1);
        nh[j] = m->hash[i];
        nb[j] = m->blob[i];
    }
    free(m->hash);
    free(m->blob);
    m->hash = nh;
    m->blob = nb;
    m->cap = ncap;
    return HS_OK;
}

int hs_sidmap_reserve(hs_sidmap *m, size_t n)
{
    size_t cap = m->cap ? m->cap : 16;
    while (cap < 2 * n)
        cap *= 2;
    return cap > m->cap ? rehash(m, cap) : HS_OK;
}

static bool same(const uint8_t *b, const char *s, size_t len)
{
    return hs_sid_len(b) == len && !memcmp(hs_sid_str(b), s, len);
}

uint8_t *hs_sidmap_get(const hs_sidmap *m, const char *s, size_t len)
{
    if (!m->cap)
        return NULL;
    uint64_t h = hash_of(m, s, len);
    for (size_t j = (size_t)h & (m->cap - 1); m->blob[j]; j = (j + 1) & (m->cap - 1))
        if (m->hash[j] == h && same(m->blob[j], s, len))
            return m->blob[j];
    return NULL;
}

int hs_sidmap_put(hs_sidmap *m, uint8_t *blob)
{
    if (2 * (m->count + 1) > m->cap) {
        int rc = rehash(m, m->cap ? m->cap * 2 : 16);
        if (rc != HS_OK)
            return rc;
    }
    const char *s = hs_sid_str(blob);
    size_t len = hs_sid_len(blob);
    uint64_t h = hash_of(m, s, len);
    size_t j = (size_t)h & (m->cap - 1);
    for (; m->blob[j]; j = (j + 1) & (m->cap - 1))
        if (m->hash[j] == h && same(m->blob[j], s, len)) {
            m->blob[j] = blob;
            return HS_OK;
        }
    m->hash[j] = h;
    m->blob[j] = blob;
    m->count++;
    return HS_OK;
}

bool hs_sidmap_del(hs_sidmap *m, const uint8_t *blob)
{
    if (!m->cap)
        return false;
    size_t mask = m->cap - 1;
    uint64_t h = hash_of(m, hs_sid_str(blob), hs_sid_len(blob));
    size_t j = (size_t)h & mask;
    while (m->blob[j] && m->blob[j] != blob)
        j = (j + 1) & mask;
    if (!m->blob[j])
        return false;
    /* backward shift: later members of the run move into the hole when their home allows */
    size_t hole = j;
    for (size_t k = (j + 1) & mask; m->blob[k]; k = (k + 1) & mask) {
        size_t home = (size_t)m->hash[k] & mask;
        bool movable = hole <= k ? (home <= hole || home > k) : (home <= hole && home > k);
        if (movable) {
            m->hash[hole] = m->hash[k];
            m->blob[hole] = m->blob[k];
            hole = k;
        }
    }
    m->blob[hole] = NULL;
    m->count--;
    return true;
}

size_t hs_sidmap_bytes(const hs_sidmap *m)
{
    return m->cap * (sizeof(uint64_t) + sizeof(uint8_t *));
}
