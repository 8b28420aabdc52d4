/*
 * chunks.c: growth and teardown of hs_chunks (see chunks.h for the concurrency contract).
 */
#include "util/chunks.h"

#include <stdlib.h>
#include <string.h>

#include "hyperspace.h"

int hs_chunks_init(hs_chunks *c, uint32_t rec_len, uint32_t shift)
{
    memset(c, 0, sizeof(*c));
    if (rec_len == 0 || shift > 24)
        return HS_EINVAL;
    c->rec_len = rec_len;
    c->shift = shift;
    return HS_OK;
}

void hs_chunks_destroy(hs_chunks *c)
{
    for (uint32_t i = 0; i < c->nchunks; i++)
        if (c->owned[i])
            free(c->dir[i]);
    free(c->dir);
    free(c->owned);
    for (size_t i = 0; i < c->nretired; i++)
        free(c->retired[i]);
    free(c->retired);
    memset(c, 0, sizeof(*c));
}

/* Makes room for one more directory entry; the old directory is retired, not freed, because
 * readers may still hold it. */
static int grow_dir(hs_chunks *c)
{
    if (c->nchunks < c->dir_cap)
        return HS_OK;
    uint32_t ncap = c->dir_cap ? c->dir_cap * 2 : 4;
    if ((uint64_t)ncap << c->shift > ((uint64_t)1 << 32))
        ncap = (uint32_t)(((uint64_t)1 << 32) >> c->shift);
    if (ncap <= c->dir_cap)
        return HS_EFULL;
    char **nd = calloc(ncap, sizeof(*nd));
    uint8_t *no = calloc(ncap, 1);
    char ***nr = c->dir ? realloc(c->retired, (c->nretired + 1) * sizeof(*nr)) : c->retired;
    if (!nd || !no || (c->dir && !nr)) {
        free(nd);
        free(no);
        if (nr)
            c->retired = nr;
        return HS_ENOMEM;
    }
    if (c->nchunks) {
        memcpy(nd, c->dir, c->nchunks * sizeof(*nd));
        memcpy(no, c->owned, c->nchunks);
    }
    if (c->dir) {
        c->retired = nr;
        c->retired[c->nretired++] = c->dir;
    }
    free(c->owned);
    c->owned = no;
    c->dir_cap = ncap;
    __atomic_store_n(&c->dir, nd, __ATOMIC_RELEASE);
    return HS_OK;
}

static int append_chunk(hs_chunks *c, char *mem, bool owned)
{
    int rc = grow_dir(c);
    if (rc != HS_OK)
        return rc;
    c->dir[c->nchunks] = mem;
    c->owned[c->nchunks] = owned;
    __atomic_store_n(&c->nchunks, c->nchunks + 1, __ATOMIC_RELEASE);
    return HS_OK;
}

int hs_chunks_reserve(hs_chunks *c, uint64_t nrecs)
{
    while (hs_chunks_capacity(c) < nrecs) {
        if (hs_chunks_capacity(c) >= ((uint64_t)1 << 32))
            return HS_EFULL;
        char *mem = calloc((size_t)1 << c->shift, c->rec_len);
        if (!mem)
            return HS_ENOMEM;
        int rc = append_chunk(c, mem, true);
        if (rc != HS_OK) {
            free(mem);
            return rc;
        }
    }
    return HS_OK;
}

int hs_chunks_append_external(hs_chunks *c, void *mem)
{
    if (!mem)
        return HS_EINVAL;
    return append_chunk(c, mem, false);
}

size_t hs_chunks_owned_bytes(const hs_chunks *c)
{
    size_t n = (size_t)c->dir_cap * (sizeof(char *) + 1);
    for (uint32_t i = 0; i < c->nchunks; i++)
        if (c->owned[i])
            n += ((size_t)1 << c->shift) * c->rec_len;
    return n;
}
