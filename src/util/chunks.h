/*
 * chunks.h: a table of fixed-size records addressed by a dense uint32 slot, stored in chunks of
 * 2^shift records so that it can grow while other threads read it without locks.
 *
 * Readers call hs_chunks_at() with no lock: the chunk directory is published with release
 * semantics and never freed while the table lives (a grown directory replaces the old one, which
 * is retired until hs_chunks_destroy).  Chunks themselves never move.  Writers that add chunks
 * must be serialised by the owner (one grower at a time).
 *
 * Chunks are either owned (allocated zeroed by the table) or external (memory the caller mapped,
 * such as a file segment; the table never frees those).  Owned chunks of 2 MiB or more are
 * mapped one by one on huge pages; smaller ones come from the heap while the table is small and,
 * once it holds 4 MiB, in groups from huge-page mappings (see chunks.c).
 */
#ifndef HS_UTIL_CHUNKS_H
#define HS_UTIL_CHUNKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hs_chunks {
    char **dir;         /* atomic pointer: chunk addresses; read with acquire */
    uint8_t *owned;     /* per chunk: 0 external, else how it was allocated (grow lock) */
    uint32_t nchunks;   /* chunks present (guarded by the owner's grow lock; atomic for readers) */
    uint32_t dir_cap;   /* entries in dir (grow lock) */
    uint32_t shift;     /* log2 of records per chunk (immutable) */
    uint32_t rec_len;   /* bytes per record (immutable) */
    char ***retired;    /* old directories, freed at destroy (grow lock) */
    size_t nretired;
    char *spare;        /* next unused chunk of the current group mapping (grow lock) */
    uint32_t nspare;    /* chunks left there */
} hs_chunks;

/* Ownership: c is caller storage.  Thread-safety: not thread-safe.  Errors: HS_EINVAL. */
int hs_chunks_init(hs_chunks *c, uint32_t rec_len, uint32_t shift);
/* Frees owned chunks, directories and retired directories.  No reader may remain. */
void hs_chunks_destroy(hs_chunks *c);

/* Makes records [0, nrecs) addressable by adding zeroed owned chunks.  Serialise with other
 * growers; concurrent readers are fine.  Errors: HS_ENOMEM (nothing changed), HS_EFULL. */
int hs_chunks_reserve(hs_chunks *c, uint64_t nrecs);
/* Appends an external chunk (at least rec_len << shift bytes, caller keeps it alive). */
int hs_chunks_append_external(hs_chunks *c, void *mem);

/* Number of addressable records. */
static inline uint64_t hs_chunks_capacity(const hs_chunks *c)
{
    return (uint64_t)__atomic_load_n(&c->nchunks, __ATOMIC_ACQUIRE) << c->shift;
}

/* Bytes allocated by the table itself (owned chunks and directories). */
size_t hs_chunks_owned_bytes(const hs_chunks *c);

/* Bytes of [p, p + len) mapped into this process's RAM now, by whole pages (pages the range
 * shares with its neighbours count whole), from /proc/self/pagemap; where that cannot be read,
 * mincore (which for file pages says "in the page cache").  0 when nothing can be measured. */
uint64_t hs_mem_resident(const void *p, size_t len);
/* Bytes of the records [0, nrecs) in RAM now (hs_mem_resident of each chunk's part). */
uint64_t hs_chunks_resident_bytes(const hs_chunks *c, uint64_t nrecs);

/* Record address of slot i; i must be below hs_chunks_capacity(). Lock-free. */
static inline char *hs_chunks_at(const hs_chunks *c, uint32_t i)
{
    char **dir = __atomic_load_n(&c->dir, __ATOMIC_ACQUIRE);
    return dir[i >> c->shift] + (size_t)(i & ((1u << c->shift) - 1)) * c->rec_len;
}

#endif
