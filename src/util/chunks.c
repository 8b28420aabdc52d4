/*
 * chunks.c: growth and teardown of hs_chunks (see chunks.h for the concurrency contract).
 */
#include "util/chunks.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hyperspace.h"
#include "util/util.h"

/* Chunks of at least this size are mapped directly, 2 MiB aligned and marked for transparent
 * huge pages: graph search touches records in random order, and with 4 KiB pages nearly every
 * record access of a large table is also a TLB miss. */
#define HUGE_ALIGN ((size_t)2 << 20)
/* Small chunks (a graph's level-0 lists: 4,096 x 132 bytes) of a table that already holds this
 * much are carved, several at a time, out of huge-page mappings: the lists are read in random
 * order too, and on 4 KiB pages the prefetch of each list waited for a page walk (1M x 64
 * hyperbolic: a quarter of the search time).  Below it, the heap, so that thousands of small
 * collections do not each hold a 2 MiB page. */
#define GROUP_AFTER ((size_t)4 << 20)
#define OWNED_HEAP 1
#define OWNED_MAP 2
#define OWNED_GROUP 3    /* first chunk of a group mapping: unmapping it frees the group */
#define OWNED_IN_GROUP 4 /* a later chunk of a group: freed with the first */

static size_t chunk_bytes(const hs_chunks *c) { return ((size_t)1 << c->shift) * c->rec_len; }

/* Length of a group mapping: at least 8 chunks, whole huge pages (so at most an eighth of it
 * is left over, and that only as untouched address space). */
static size_t group_bytes(const hs_chunks *c) { return HS_ALIGN_UP(8 * chunk_bytes(c), HUGE_ALIGN); }

/* len bytes (a multiple of 2 MiB), zeroed, 2 MiB aligned, marked for huge pages. */
static char *map_huge(size_t maplen)
{
    char *p = mmap(NULL, maplen + HUGE_ALIGN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    char *start = (char *)HS_ALIGN_UP((uintptr_t)p, HUGE_ALIGN);
    if (start > p)
        munmap(p, (size_t)(start - p));
    size_t tail = (size_t)(p + maplen + HUGE_ALIGN - (start + maplen));
    if (tail)
        munmap(start + maplen, tail);
    madvise(start, maplen, MADV_HUGEPAGE); /* advisory: failure only costs speed */
    return start;
}

static char *chunk_alloc(hs_chunks *c, uint8_t *how)
{
    size_t len = chunk_bytes(c);
    if (len >= HUGE_ALIGN) {
        *how = OWNED_MAP;
        return map_huge(HS_ALIGN_UP(len, HUGE_ALIGN));
    }
    if ((size_t)c->nchunks * len < GROUP_AFTER) {
        *how = OWNED_HEAP;
        return calloc(1, len);
    }
    if (c->nspare > 0) {
        char *p = c->spare;
        c->spare += len;
        c->nspare--;
        *how = OWNED_IN_GROUP;
        return p;
    }
    size_t glen = group_bytes(c);
    char *p = map_huge(glen);
    if (!p)
        return NULL;
    c->spare = p + len;
    c->nspare = (uint32_t)(glen / len - 1);
    *how = OWNED_GROUP;
    return p;
}

static void chunk_free(hs_chunks *c, char *p, uint8_t how)
{
    if (how == OWNED_HEAP) {
        free(p);
    } else if (how == OWNED_MAP) {
        munmap(p, HS_ALIGN_UP(chunk_bytes(c), HUGE_ALIGN));
    } else if (how == OWNED_GROUP) {
        if (c->spare > p && c->spare <= p + group_bytes(c)) {
            c->spare = NULL; /* the rest of this group goes with it */
            c->nspare = 0;
        }
        munmap(p, group_bytes(c));
    }
}

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
        chunk_free(c, c->dir[i], c->owned[i]);
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

static int append_chunk(hs_chunks *c, char *mem, uint8_t owned)
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
        uint8_t how;
        char *mem = chunk_alloc(c, &how);
        if (!mem)
            return HS_ENOMEM;
        int rc = append_chunk(c, mem, how);
        if (rc != HS_OK) {
            chunk_free(c, mem, how);
            return rc;
        }
    }
    return HS_OK;
}

int hs_chunks_append_external(hs_chunks *c, void *mem)
{
    if (!mem)
        return HS_EINVAL;
    return append_chunk(c, mem, 0);
}

/* The pages of [lo, lo + npages * page) mapped into this process now, from /proc/self/pagemap
 * (bit 63: present); -1 when it cannot be read. */
static int64_t pagemap_present(uintptr_t lo, size_t npages, size_t page)
{
    static int fd = -2;
    int f = __atomic_load_n(&fd, __ATOMIC_ACQUIRE);
    if (f == -2) {
        int nf = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        int expect = -2;
        if (!__atomic_compare_exchange_n(&fd, &expect, nf, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE)) {
            if (nf >= 0)
                close(nf);
            nf = expect;
        }
        f = nf;
    }
    if (f < 0)
        return -1;
    uint64_t ent[512];
    int64_t present = 0;
    for (size_t done = 0; done < npages;) {
        size_t n = HS_MIN(npages - done, sizeof(ent) / sizeof(ent[0]));
        off_t off = (off_t)((lo / page + done) * sizeof(uint64_t));
        if (pread(f, ent, n * sizeof(uint64_t), off) != (ssize_t)(n * sizeof(uint64_t)))
            return -1;
        for (size_t i = 0; i < n; i++)
            present += (int64_t)(ent[i] >> 63);
        done += n;
    }
    return present;
}

uint64_t hs_mem_resident(const void *p, size_t len)
{
    if (!p || !len)
        return 0;
    static size_t page_size; /* atomic: statistics are read from any thread */
    size_t page = __atomic_load_n(&page_size, __ATOMIC_RELAXED);
    if (!page) {
        page = (size_t)sysconf(_SC_PAGESIZE);
        __atomic_store_n(&page_size, page, __ATOMIC_RELAXED);
    }
    uintptr_t lo = (uintptr_t)p & ~(uintptr_t)(page - 1);
    uintptr_t hi = ((uintptr_t)p + len + page - 1) & ~(uintptr_t)(page - 1);
    size_t npages = (hi - lo) / page;
    int64_t present = pagemap_present(lo, npages, page);
    if (present >= 0)
        return (uint64_t)present * page;
    /* no pagemap: mincore (for file pages it answers "in the page cache", an upper bound) */
    unsigned char vec[4096];
    uint64_t resident = 0;
    for (size_t done = 0; done < npages;) {
        size_t n = HS_MIN(npages - done, sizeof(vec));
        if (mincore((void *)(lo + done * page), n * page, vec) != 0)
            return 0;
        for (size_t i = 0; i < n; i++)
            resident += vec[i] & 1;
        done += n;
    }
    return resident * page;
}

uint64_t hs_chunks_resident_bytes(const hs_chunks *c, uint64_t nrecs)
{
    uint64_t per = (uint64_t)1 << c->shift, b = 0;
    uint32_t n = __atomic_load_n(&c->nchunks, __ATOMIC_ACQUIRE);
    char **dir = __atomic_load_n(&c->dir, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n && (uint64_t)i * per < nrecs; i++) {
        uint64_t recs = HS_MIN(per, nrecs - (uint64_t)i * per);
        b += hs_mem_resident(dir[i], (size_t)(recs * c->rec_len));
    }
    return b;
}

size_t hs_chunks_owned_bytes(const hs_chunks *c)
{
    size_t n = (size_t)c->dir_cap * (sizeof(char *) + 1);
    for (uint32_t i = 0; i < c->nchunks; i++)
        if (c->owned[i])
            n += ((size_t)1 << c->shift) * c->rec_len;
    return n;
}
