/*
 * segment.c: vector segments (format: docs/file-format.md, "Vector segment").
 *
 * <dir>/<prefix><index as 6 digits>.seg: a 64-byte header (version 2; version 1 files, still
 * read, have 4,096 bytes), then 2^shift records of rec_len bytes.
 * Each file is mapped shared and writable for its full size once; the file itself grows in
 * steps with fallocate, so a full disk surfaces as HS_ENOSPC from hs_segset_reserve rather than
 * as SIGBUS on a write into the mapping.  Records never move: their addresses are published as
 * external chunks of an hs_chunks table that readers use without locks.
 *
 * Locking: none inside; the owner serialises reserve/sync/close (the collection's writer lock).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/storage.h"
#include "util/bytes.h"
#include "util/crc32c.h"
#include "util/error.h"
#include "util/util.h"

#define SEG_MAGIC "HSVSEG01"
#define SEG_VERSION 2u /* version 1: a 4,096-byte header (HS_SEG_HEADER), still read */
#define SEG_HEADER_V2 64u
#define SEG_GROW_STEP 4096u /* files grow geometrically from one page of records */

typedef struct seg {
    int fd;
    uint8_t *map;
    size_t maplen;
    uint32_t hdr;     /* bytes before the first record: 64 (version 2) or 4,096 (version 1) */
    uint64_t alloc;   /* bytes of the file that are allocated */
    uint64_t sum_len; /* record bytes covered by sum_crc (the last checkpoint's or verified) */
    uint32_t sum_crc;
} seg;

struct hs_segset {
    const hs_io_ops *io;
    char dir[HS_PATH_MAX];
    char prefix[32]; /* of the file names: <dir>/<prefix><index as 6 digits>.seg */
    uint32_t rec_len, shift;
    seg *segs;
    size_t nsegs;
    hs_chunks chunks;
    bool dir_unsynced; /* a file was created since the directory was last synced */
    bool random;       /* records are read one by one (re-ranking): no read-ahead */
};

uint32_t hs_seg_shift_for(uint32_t rec_len)
{
    uint32_t shift = 16;
    while (shift > 6 && ((uint64_t)rec_len << shift) > ((uint64_t)64 << 20))
        shift--;
    return shift;
}


static void make_header(uint8_t *h, uint32_t rec_len, uint32_t shift, uint32_t index)
{
    memset(h, 0, SEG_HEADER_V2);
    memcpy(h, SEG_MAGIC, 8);
    hs_put_le32(h + 8, SEG_VERSION);
    hs_put_le32(h + 12, rec_len);
    hs_put_le32(h + 16, shift);
    hs_put_le32(h + 20, index);
    hs_put_le32(h + 24, hs_crc32c(0, h, 24));
}

int hs_seg_header_check(const uint8_t *buf, size_t len, uint32_t rec_len, uint32_t shift,
                        uint32_t index)
{
    if (len < 28 || memcmp(buf, SEG_MAGIC, 8) != 0)
        return HS_ECORRUPT;
    if (hs_get_le32(buf + 24) != hs_crc32c(0, buf, 24))
        return HS_ECORRUPT;
    if (hs_get_le32(buf + 8) != 1 && hs_get_le32(buf + 8) != SEG_VERSION)
        return HS_EVERSION;
    if (hs_get_le32(buf + 12) != rec_len || hs_get_le32(buf + 16) != shift || hs_get_le32(buf + 20) != index)
        return HS_ECORRUPT;
    return HS_OK;
}

static size_t map_len(const hs_segset *s, uint32_t hdr)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return HS_ALIGN_UP(hdr + ((size_t)s->rec_len << s->shift), page);
}

static void seg_path(const hs_segset *s, size_t index, char *buf, size_t len)
{
    hs_path(buf, len, "%s/%s%06zu.seg", s->dir, s->prefix, index); /* lengths checked at open */
}

/* Maps an open segment and appends it to the table. */
static int add_segment(hs_segset *s, int fd, uint64_t alloc, uint32_t hdr, hs_error *err)
{
    seg *n = realloc(s->segs, (s->nsegs + 1) * sizeof(*n));
    if (!n)
        return hs_error_set(err, HS_ENOMEM, "segments: out of memory");
    s->segs = n;
    size_t len = map_len(s, hdr);
    uint8_t *map = s->io->mmap(s->io->ctx, fd, len, 1);
    if (!map)
        return hs_error_set(err, HS_ENOMEM, "segments %s: cannot map %zu bytes", s->dir, len);
    int rc = hs_chunks_append_external(&s->chunks, map + hdr);
    if (rc != HS_OK) {
        s->io->munmap(s->io->ctx, map, len);
        return hs_error_set(err, rc, "segments: out of memory");
    }
    s->segs[s->nsegs++] = (seg){fd, map, len, hdr, alloc, 0, 0};
    if (s->random && s->io->advise)
        s->io->advise(s->io->ctx, map, len, HS_ADVISE_RANDOM);
    return HS_OK;
}

static int open_existing(hs_segset *s, hs_error *err)
{
    for (size_t i = 0;; i++) {
        char path[HS_PATH_MAX];
        seg_path(s, i, path, sizeof(path));
        int fd = s->io->open(s->io->ctx, path, O_RDWR, 0);
        if (fd == -ENOENT)
            return HS_OK;
        if (fd < 0)
            return hs_error_set(err, hs_rc_from_errno(fd), "%s: %s", path, strerror(-fd));
        uint8_t h[SEG_HEADER_V2], zero[SEG_HEADER_V2] = {0};
        uint64_t size = 0;
        long n = s->io->pread(s->io->ctx, fd, h, sizeof(h), 0);
        int rc = s->io->size(s->io->ctx, fd, &size) < 0 ? HS_EIO : HS_OK;
        if (rc == HS_OK && (n < (long)sizeof(h) || !memcmp(h, zero, sizeof(h)))) {
            /* created but never synced (a crash before the checkpoint that would have synced
             * it): its records come from the log again; records a checkpoint covers are
             * checked against it after the open (hs_segset_verify) */
            make_header(h, s->rec_len, s->shift, (uint32_t)i);
            n = s->io->pwrite(s->io->ctx, fd, h, sizeof(h), 0);
            rc = n == (long)sizeof(h) ? HS_OK : HS_EIO;
            size = HS_MAX(size, (uint64_t)sizeof(h));
            s->dir_unsynced = true;
        }
        if (rc == HS_OK)
            rc = hs_seg_header_check(h, sizeof(h), s->rec_len, s->shift, (uint32_t)i);
        uint32_t hdr = hs_get_le32(h + 8) == 1 ? HS_SEG_HEADER : SEG_HEADER_V2;
        if (rc == HS_OK && size < hdr)
            rc = HS_ECORRUPT;
        if (rc != HS_OK) {
            s->io->close(s->io->ctx, fd);
            return hs_error_set(err, rc, "%s: bad segment header at offset 0", path);
        }
        if ((rc = add_segment(s, fd, size, hdr, err)) != HS_OK) {
            s->io->close(s->io->ctx, fd);
            return rc;
        }
    }
}

int hs_segset_open(const hs_io_ops *io, const char *dir, const char *prefix, uint32_t rec_len,
                   uint32_t shift, hs_segset **out, hs_error *err)
{
    *out = NULL;
    hs_segset *s = calloc(1, sizeof(*s));
    if (!s)
        return hs_error_set(err, HS_ENOMEM, "segments: out of memory");
    s->io = io;
    s->rec_len = rec_len;
    s->shift = shift;
    int rc = strlen(dir) + 64 < sizeof(s->dir) && strlen(prefix) < sizeof(s->prefix)
                 ? hs_path(s->dir, sizeof(s->dir), "%s", dir)
                 : HS_ERANGE;
    if (rc == HS_OK)
        memcpy(s->prefix, prefix, strlen(prefix) + 1);
    if (rc == HS_OK)
        rc = hs_chunks_init(&s->chunks, rec_len, shift);
    if (rc != HS_OK) {
        free(s);
        return hs_error_set(err, rc, "segments %s: bad parameters", dir);
    }
    int mrc = io->mkdir(io->ctx, dir, 0755);
    if (mrc < 0 && mrc != -EEXIST) {
        hs_segset_close(s);
        return hs_error_set(err, hs_rc_from_errno(mrc), "%s: %s", dir, strerror(-mrc));
    }
    rc = open_existing(s, err);
    if (rc != HS_OK) {
        hs_segset_close(s);
        return rc;
    }
    *out = s;
    return HS_OK;
}

static int create_segment(hs_segset *s, hs_error *err)
{
    char path[HS_PATH_MAX];
    seg_path(s, s->nsegs, path, sizeof(path));
    int fd = s->io->open(s->io->ctx, path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return hs_error_set(err, hs_rc_from_errno(fd), "%s: %s", path, strerror(-fd));
    uint8_t h[SEG_HEADER_V2];
    make_header(h, s->rec_len, s->shift, (uint32_t)s->nsegs);
    int rc = s->io->fallocate(s->io->ctx, fd, 0, SEG_HEADER_V2);
    if (rc == 0) {
        long n = s->io->pwrite(s->io->ctx, fd, h, sizeof(h), 0);
        rc = n == (long)sizeof(h) ? 0 : (n < 0 ? (int)n : -EIO);
    }
    /* not synced here: the file and its directory entry are made durable by the next
     * hs_segset_sync (a checkpoint), before anything relies on them; until then the records
     * are in the log, and an unsynced file found after a crash is taken as new (open_existing) */
    s->dir_unsynced = true;
    int hrc = rc < 0 ? hs_error_set(err, hs_rc_from_errno(rc), "%s: %s", path, strerror(-rc))
                     : add_segment(s, fd, SEG_HEADER_V2, SEG_HEADER_V2, err);
    if (hrc != HS_OK) {
        s->io->close(s->io->ctx, fd);
        s->io->unlink(s->io->ctx, path);
    }
    return hrc;
}

int hs_segset_reserve(hs_segset *s, uint64_t n, hs_error *err)
{
    uint64_t per = (uint64_t)1 << s->shift;
    if (n > ((uint64_t)1 << 32))
        return hs_error_set(err, HS_EFULL, "segments: more than 2^32 records");
    while ((uint64_t)s->nsegs * per < n) {
        int rc = create_segment(s, err);
        if (rc != HS_OK)
            return rc;
    }
    for (size_t i = 0; i < s->nsegs && (uint64_t)i * per < n; i++) {
        uint64_t recs = HS_MIN(per, n - (uint64_t)i * per);
        seg *g = &s->segs[i];
        uint64_t need = g->hdr + recs * s->rec_len;
        if (g->alloc >= need)
            continue;
        uint64_t full = g->hdr + per * s->rec_len;
        /* double (a small collection costs a page or two, a large one O(log n) fallocates) */
        uint64_t target = HS_MIN(full, HS_ALIGN_UP(HS_MAX(need, g->alloc * 2), SEG_GROW_STEP));
        int rc = s->io->fallocate(s->io->ctx, g->fd, g->alloc, target - g->alloc);
        if (rc == -ENOSPC && target > need) /* retry with just what is needed */
            rc = s->io->fallocate(s->io->ctx, g->fd, g->alloc, (target = need) - g->alloc);
        if (rc < 0) {
            char path[HS_PATH_MAX];
            seg_path(s, i, path, sizeof(path));
            return hs_error_set(err, hs_rc_from_errno(rc), "%s: cannot grow to %" PRIu64
                                " bytes: %s", path, target, strerror(-rc));
        }
        g->alloc = target;
    }
    return HS_OK;
}

const hs_chunks *hs_segset_chunks(const hs_segset *s) { return &s->chunks; }

int hs_segset_sync(hs_segset *s, hs_error *err)
{
    for (size_t i = 0; i < s->nsegs; i++) {
        seg *g = &s->segs[i];
        int rc = s->io->msync(s->io->ctx, g->map, HS_MIN(g->alloc, g->maplen));
        if (rc == 0)
            rc = s->io->fsync(s->io->ctx, g->fd);
        if (rc < 0) {
            char path[HS_PATH_MAX];
            seg_path(s, i, path, sizeof(path));
            return hs_error_set(err, HS_EIO, "%s: sync failed: %s", path, strerror(-rc));
        }
    }
    if (s->dir_unsynced) {
        int rc = s->io->fsync_dir(s->io->ctx, s->dir);
        if (rc < 0)
            return hs_error_set(err, HS_EIO, "%s: sync failed: %s", s->dir, strerror(-rc));
        s->dir_unsynced = false;
    }
    return HS_OK;
}

int hs_segset_sums(hs_segset *s, uint64_t n, hs_seg_sum **out, size_t *count, hs_error *err)
{
    uint64_t per = (uint64_t)1 << s->shift;
    size_t k = 0;
    *out = malloc((s->nsegs ? s->nsegs : 1) * sizeof(**out));
    if (!*out)
        return hs_error_set(err, HS_ENOMEM, "segments: out of memory");
    for (size_t i = 0; i < s->nsegs && (uint64_t)i * per < n; i++) {
        seg *g = &s->segs[i];
        uint64_t len = HS_MIN(per, n - (uint64_t)i * per) * s->rec_len;
        if (len < g->sum_len) /* never happens: records are only added */
            g->sum_len = g->sum_crc = 0;
        g->sum_crc = hs_crc32c(g->sum_crc, g->map + g->hdr + g->sum_len, len - g->sum_len);
        g->sum_len = len;
        (*out)[k++] = (hs_seg_sum){(uint32_t)i, g->sum_crc, len};
    }
    *count = k;
    return HS_OK;
}

int hs_segset_verify(hs_segset *s, const hs_seg_sum *sums, size_t count, hs_error *err)
{
    for (size_t i = 0; i < count; i++) {
        const hs_seg_sum *m = &sums[i];
        char path[HS_PATH_MAX];
        seg_path(s, m->index, path, sizeof(path));
        if (m->index >= s->nsegs)
            return hs_error_set(err, HS_ECORRUPT, "%s: missing (the checkpoint covers %" PRIu64
                                " bytes of it)", path, m->len);
        seg *g = &s->segs[m->index];
        if (m->len > ((uint64_t)s->rec_len << s->shift) || m->len % s->rec_len)
            return hs_error_set(err, HS_ECORRUPT, "%s: the checkpoint records an impossible "
                                "length %" PRIu64, path, m->len);
        if (g->alloc < g->hdr + m->len)
            return hs_error_set(err, HS_ECORRUPT, "%s: %" PRIu64 " bytes, shorter than the %"
                                PRIu64 " the checkpoint covers", path, g->alloc,
                                g->hdr + m->len);
        uint32_t crc = hs_crc32c(0, g->map + g->hdr, m->len);
        if (crc != m->crc)
            return hs_error_set(err, HS_ECORRUPT, "%s: checksum mismatch in records 0..%" PRIu64
                                " (damaged since the checkpoint)", path, m->len / s->rec_len);
        g->sum_len = m->len;
        g->sum_crc = crc;
    }
    return HS_OK;
}

void hs_segset_set_random(hs_segset *s)
{
    s->random = true;
    for (size_t i = 0; s->io->advise && i < s->nsegs; i++)
        s->io->advise(s->io->ctx, s->segs[i].map, s->segs[i].maplen, HS_ADVISE_RANDOM);
}

void hs_segset_release(hs_segset *s)
{
    for (size_t i = 0; s->io->advise && i < s->nsegs; i++)
        s->io->advise(s->io->ctx, s->segs[i].map, s->segs[i].maplen, HS_ADVISE_RELEASE);
}

uint64_t hs_segset_resident_bytes(const hs_segset *s)
{
    uint64_t b = 0;
    for (size_t i = 0; i < s->nsegs; i++)
        b += hs_mem_resident(s->segs[i].map, HS_MIN(s->segs[i].alloc, s->segs[i].maplen));
    return b;
}

int hs_segset_pread(const hs_segset *s, uint32_t slot, void *buf)
{
    size_t i = slot >> s->shift;
    if (i >= s->nsegs)
        return HS_ERANGE;
    const seg *g = &s->segs[i];
    uint64_t off = g->hdr + (uint64_t)(slot & ((1u << s->shift) - 1)) * s->rec_len;
    long n = s->io->pread(s->io->ctx, g->fd, buf, s->rec_len, off);
    return n == (long)s->rec_len ? HS_OK : HS_EIO;
}

uint64_t hs_segset_disk_bytes(const hs_segset *s)
{
    uint64_t b = 0;
    for (size_t i = 0; i < s->nsegs; i++)
        b += s->segs[i].alloc;
    return b;
}

void hs_segset_close(hs_segset *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nsegs; i++) {
        s->io->munmap(s->io->ctx, s->segs[i].map, s->segs[i].maplen);
        s->io->close(s->io->ctx, s->segs[i].fd);
    }
    hs_chunks_destroy(&s->chunks);
    free(s->segs);
    free(s);
}
