/*
 * wal.c: the segmented write-ahead log (format: docs/file-format.md, "WAL").
 *
 * Files: <dir>/<seq as 16 hex digits>.wal, each a 32-byte header then records
 * [u32 len][u32 crc32c][u64 lsn][u8 type][payload], crc over len, lsn, type and payload.
 *
 * Durability (group commit): `appended` counts every byte written since open and `durable`
 * every byte covered by a completed fsync; a record's ticket is `appended` after it.  STRICT
 * waiters run (or join) an fsync that starts after their write; BATCH waiters elect a leader
 * that sleeps until one interval after the previous fsync started, then fsyncs for everyone.
 * A failed fsync marks the log failed: that waiter gets HS_EIO and every later append
 * HS_EREADONLY (no retry, no pretending); the records written since the last good fsync (all
 * refused: their waiters get HS_EIO) are truncated away so that no restart replays them.
 *
 * Locking: one mutex `lock` guards every field; fsync runs without it (sync_running keeps the
 * descriptor from being swapped by a rotation meanwhile).  Appends hold it for the write.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/storage.h"
#include "util/bytes.h"
#include "util/crc32c.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timing.h"
#include "util/util.h"

#define WAL_MAGIC "HSWAL001"
#define WAL_VERSION 1u
#define WAL_MAX_RECORD ((size_t)1 << 31)

struct hs_wal {
    const hs_io_ops *io;
    char dir[HS_PATH_MAX];
    bool private_dir; /* segments created without their own fsyncs (hs_wal_opts) */
    uint64_t segment_bytes;
    uint32_t interval_ms;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int fd;          /* current segment */
    uint64_t seg;    /* its sequence number */
    uint64_t off;    /* its length */
    uint64_t *segs;  /* live segment numbers, ascending (including seg) */
    size_t nsegs;
    uint64_t disk_bytes;
    uint64_t appended; /* bytes written since open */
    uint64_t durable;  /* bytes covered by a finished fsync */
    bool sync_running;
    bool leader_waiting;
    uint64_t last_sync_ns;
    bool failed;
    char fail_msg[160];
    uint64_t need_last; /* the owner's manifest names segments up to here (0: unknown) */
    int (*on_segment)(void *ctx, const hs_wal_seginfo *closed, uint64_t seq, hs_error *err);
    void *hook_ctx;
};

void hs_wal_opts_init(hs_wal_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->io = hs_io_posix();
    o->segment_bytes = 64u << 20;
    o->batch_interval_ms = 10;
}


static uint32_t record_crc(const uint8_t *rec, size_t len)
{
    uint32_t c = hs_crc32c(0, rec, 4);             /* len */
    return hs_crc32c(c, rec + 8, 9 + len);         /* lsn, type, payload */
}

int hs_wal_decode(const uint8_t *buf, size_t avail, hs_wal_record *r)
{
    if (avail < HS_WAL_HEADER)
        return HS_EINVAL;
    uint32_t len = hs_get_le32(buf);
    if ((uint64_t)len > avail - HS_WAL_HEADER)
        return HS_EINVAL;
    if (record_crc(buf, len) != hs_get_le32(buf + 4))
        return HS_ECORRUPT;
    r->lsn = hs_get_le64(buf + 8);
    r->type = buf[16];
    r->payload = buf + HS_WAL_HEADER;
    r->len = len;
    return HS_OK;
}

static void seg_path(const hs_wal *w, uint64_t seq, char *buf, size_t len)
{
    hs_path(buf, len, "%s/%016" PRIx64 ".wal", w->dir, seq); /* dir length checked at open */
}

static void seg_header(uint8_t *h, uint64_t seq)
{
    memset(h, 0, HS_WAL_SEG_HEADER);
    memcpy(h, WAL_MAGIC, 8);
    hs_put_le32(h + 8, WAL_VERSION);
    hs_put_le64(h + 16, seq);
    hs_put_le32(h + 24, hs_crc32c(0, h, 24));
}

bool hs_wal_seg_header_ok(const uint8_t *h, uint64_t seq)
{
    uint8_t want[HS_WAL_SEG_HEADER];
    seg_header(want, seq);
    return memcmp(h, want, HS_WAL_SEG_HEADER) == 0;
}

/* ---- opening and replay -------------------------------------------------------------- */

static int collect_seg(void *arg, const char *name)
{
    hs_wal *w = arg;
    unsigned long long seq;
    char tail[8];
    if (strlen(name) != 20 || sscanf(name, "%16llx%7s", &seq, tail) != 2 ||
        strcmp(tail, ".wal") != 0)
        return 0;
    uint64_t *n = realloc(w->segs, (w->nsegs + 1) * sizeof(*n));
    if (!n)
        return HS_ENOMEM;
    w->segs = n;
    w->segs[w->nsegs++] = seq;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int hs_wal_list(const hs_io_ops *io, const char *dir, uint64_t **segs, size_t *n)
{
    hs_wal w;
    memset(&w, 0, sizeof(w));
    int lrc = io->list(io->ctx, dir, collect_seg, &w);
    if (lrc != 0) {
        free(w.segs);
        *segs = NULL;
        *n = 0;
        return lrc == -ENOENT ? HS_OK : lrc < 0 ? HS_EIO : HS_ENOMEM; /* no directory: no log */
    }
    if (w.nsegs > 1)
        qsort(w.segs, w.nsegs, sizeof(*w.segs), cmp_u64);
    *segs = w.segs;
    *n = w.nsegs;
    return HS_OK;
}

/* Reads a whole segment file; *fd stays open (read-write) for the caller. */
static int read_segment(hs_wal *w, uint64_t seq, int *fd, uint8_t **data, uint64_t *size,
                        hs_error *err)
{
    char path[HS_PATH_MAX];
    seg_path(w, seq, path, sizeof(path));
    *fd = w->io->open(w->io->ctx, path, O_RDWR, 0);
    if (*fd < 0)
        return hs_error_set(err, hs_rc_from_errno(*fd), "WAL %s: open: %s", path, strerror(-*fd));
    int rc = w->io->size(w->io->ctx, *fd, size);
    if (rc < 0)
        return hs_error_set(err, HS_EIO, "WAL %s: stat: %s", path, strerror(-rc));
    *data = malloc(*size ? *size : 1);
    if (!*data)
        return hs_error_set(err, HS_ENOMEM, "WAL %s: out of memory", path);
    long n = w->io->pread(w->io->ctx, *fd, *data, *size, 0);
    if (n < 0 || (uint64_t)n != *size)
        return hs_error_set(err, HS_EIO, "WAL %s: read failed", path);
    return HS_OK;
}

/* True when a valid record (lsn >= min_lsn) starts anywhere in data[from, size). */
static bool valid_record_after(const uint8_t *data, uint64_t from, uint64_t size, uint64_t min_lsn)
{
    for (uint64_t off = from; off + HS_WAL_HEADER <= size; off++) {
        hs_wal_record r;
        if (hs_wal_decode(data + off, size - off, &r) == HS_OK && r.lsn >= min_lsn)
            return true;
    }
    return false;
}

static bool all_zero(const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

typedef struct replay_state {
    int (*fn)(void *ctx, const hs_wal_record *r);
    void *ctx;
    hs_wal_pos from;
    uint64_t last_lsn;
} replay_state;

/* Replays one segment.  *end gets the offset after its last good record. */
static int replay_segment(hs_wal *w, uint64_t seq, bool last, replay_state *st, int fd,
                          const uint8_t *data, uint64_t size, uint64_t *end, hs_error *err)
{
    char path[HS_PATH_MAX];
    seg_path(w, seq, path, sizeof(path));
    uint8_t want[HS_WAL_SEG_HEADER];
    seg_header(want, seq);
    if (size < HS_WAL_SEG_HEADER || memcmp(data, want, HS_WAL_SEG_HEADER) != 0) {
        /* a segment created but never filled is legal only at the tail (crash during rotate) */
        if (last && seq > w->need_last && (size < HS_WAL_SEG_HEADER || all_zero(data, size))) {
            *end = 0;
            return HS_OK;
        }
        return hs_error_set(err, HS_ECORRUPT, "WAL %s: bad segment header at offset 0", path);
    }
    uint64_t off = HS_WAL_SEG_HEADER;
    while (off < size) {
        hs_wal_record r;
        int rc = hs_wal_decode(data + off, size - off, &r);
        if (rc == HS_OK && r.lsn < st->last_lsn)
            rc = HS_ECORRUPT; /* clocks never go back */
        if (rc != HS_OK) {
            bool torn = last && !valid_record_after(data, off + 1, size, st->last_lsn);
            if (!torn)
                return hs_error_set(err, HS_ECORRUPT,
                                    "WAL %s: corrupt record at offset %" PRIu64 " (of %" PRIu64
                                    " bytes) followed by valid records",
                                    path, off, size);
            hs_log(HS_LOG_WARN, "WAL %s: torn tail at offset %" PRIu64 ", %" PRIu64
                   " bytes truncated", path, off, size - off);
            int trc = w->io->ftruncate(w->io->ctx, fd, off);
            if (trc == 0)
                trc = w->io->fsync(w->io->ctx, fd);
            if (trc < 0)
                return hs_error_set(err, HS_EIO, "WAL %s: cannot truncate the torn tail: %s",
                                    path, strerror(-trc));
            break;
        }
        r.pos = (hs_wal_pos){seq, off};
        st->last_lsn = r.lsn;
        if (seq > st->from.seg || (seq == st->from.seg && off >= st->from.off)) {
            int frc = st->fn ? st->fn(st->ctx, &r) : 0;
            if (frc != 0)
                return hs_error_set(err, frc, "WAL %s: replay stopped at offset %" PRIu64, path,
                                    off);
        }
        off += HS_WAL_HEADER + r.len;
    }
    *end = off;
    return HS_OK;
}

static int create_segment(hs_wal *w, uint64_t seq, hs_error *err)
{
    char path[HS_PATH_MAX];
    seg_path(w, seq, path, sizeof(path));
    int fd = w->io->open(w->io->ctx, path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return hs_error_set(err, hs_rc_from_errno(fd), "WAL %s: create: %s", path, strerror(-fd));
    uint8_t h[HS_WAL_SEG_HEADER];
    seg_header(h, seq);
    long n = w->io->pwrite(w->io->ctx, fd, h, sizeof(h), 0);
    int rc = n == (long)sizeof(h) ? 0 : (n < 0 ? (int)n : -EIO);
    if (rc == 0 && !w->private_dir)
        rc = w->io->fsync(w->io->ctx, fd);
    if (rc == 0 && !w->private_dir)
        rc = w->io->fsync_dir(w->io->ctx, w->dir);
    if (rc < 0) {
        w->io->close(w->io->ctx, fd);
        w->io->unlink(w->io->ctx, path);
        return hs_error_set(err, hs_rc_from_errno(rc), "WAL %s: create: %s", path, strerror(-rc));
    }
    hs_wal_seginfo prev = {w->seg, w->off};
    int hrc = w->on_segment ? w->on_segment(w->hook_ctx, w->fd >= 0 ? &prev : NULL, seq, err)
                            : HS_OK;
    if (hrc != HS_OK) {
        w->io->close(w->io->ctx, fd);
        w->io->unlink(w->io->ctx, path);
        return hrc;
    }
    uint64_t *segs = realloc(w->segs, (w->nsegs + 1) * sizeof(*segs));
    if (!segs) {
        w->io->close(w->io->ctx, fd);
        return hs_error_set(err, HS_ENOMEM, "WAL: out of memory");
    }
    w->segs = segs;
    w->segs[w->nsegs++] = seq;
    w->fd = fd;
    w->seg = seq;
    w->off = HS_WAL_SEG_HEADER;
    w->disk_bytes += HS_WAL_SEG_HEADER;
    return HS_OK;
}

/* The owner's manifest: segments first_seg.. must all be there (no gap), up to last_seg at
 * least, and closed ones must have their recorded length. */
static int check_segments(const hs_wal *w, const hs_wal_opts *o, hs_error *err)
{
    if (!o->first_seg)
        return HS_OK;
    uint64_t want = o->first_seg;
    for (size_t i = 0; i < w->nsegs; i++) {
        if (w->segs[i] < o->first_seg)
            continue;
        if (w->segs[i] != want)
            break;
        want++;
    }
    bool gap = want <= o->last_seg || want == o->first_seg;
    for (size_t i = 0; i < w->nsegs && !gap; i++)
        gap = w->segs[i] > want; /* a later segment after a missing one */
    if (gap) {
        char path[HS_PATH_MAX];
        seg_path(w, want, path, sizeof(path));
        return hs_error_set(err, HS_ECORRUPT, "WAL %s: missing (the log needs segments %" PRIu64
                            " to %" PRIu64 ")", path, o->first_seg,
                            HS_MAX(o->last_seg, o->first_seg));
    }
    return HS_OK;
}

static int check_length(const hs_wal *w, const hs_wal_opts *o, uint64_t seq, uint64_t size,
                        hs_error *err)
{
    for (size_t i = 0; i < o->nclosed; i++) {
        if (o->closed[i].seq != seq || o->closed[i].len == size)
            continue;
        char path[HS_PATH_MAX];
        seg_path(w, seq, path, sizeof(path));
        return hs_error_set(err, HS_ECORRUPT, "WAL %s: %" PRIu64 " bytes, but the segment was "
                            "closed at %" PRIu64 " bytes (truncated or overwritten)", path, size,
                            o->closed[i].len);
    }
    return HS_OK;
}

/* The size of a segment file (without reading it). */
static int segment_size(hs_wal *w, uint64_t seq, uint64_t *size, hs_error *err)
{
    char path[HS_PATH_MAX];
    seg_path(w, seq, path, sizeof(path));
    int fd = w->io->open(w->io->ctx, path, O_RDONLY, 0);
    if (fd < 0)
        return hs_error_set(err, hs_rc_from_errno(fd), "WAL %s: open: %s", path, strerror(-fd));
    int rc = w->io->size(w->io->ctx, fd, size);
    w->io->close(w->io->ctx, fd);
    return rc < 0 ? hs_error_set(err, HS_EIO, "WAL %s: stat: %s", path, strerror(-rc)) : HS_OK;
}

static int replay_all(hs_wal *w, const hs_wal_opts *o, replay_state *st, hs_error *err)
{
    int rc = check_segments(w, o, err);
    for (size_t i = 0; i < w->nsegs && rc == HS_OK; i++) {
        bool last = i + 1 == w->nsegs;
        int fd = -1;
        uint8_t *data = NULL;
        uint64_t size = 0, end = 0;
        /* older than the checkpoint (kept for change readers): not replayed, only counted */
        bool covered = w->segs[i] < st->from.seg;
        rc = covered ? segment_size(w, w->segs[i], &size, err)
                     : read_segment(w, w->segs[i], &fd, &data, &size, err);
        if (rc == HS_OK && !covered)
            rc = check_length(w, o, w->segs[i], size, err);
        if (rc == HS_OK && !covered)
            rc = replay_segment(w, w->segs[i], last, st, fd, data, size, &end, err);
        else if (rc == HS_OK)
            end = size;
        free(data);
        w->disk_bytes += end;
        if (rc == HS_OK && last && !covered && end >= HS_WAL_SEG_HEADER) {
            w->fd = fd;
            w->seg = w->segs[i];
            w->off = end;
            fd = -1;
        } else if (rc == HS_OK && last && !covered) {
            /* an empty tail segment: drop it, a fresh one is created below */
            char path[HS_PATH_MAX];
            seg_path(w, w->segs[i], path, sizeof(path));
            w->io->unlink(w->io->ctx, path);
            w->nsegs--;
        }
        if (fd >= 0)
            w->io->close(w->io->ctx, fd);
    }
    return rc;
}

int hs_wal_open(const char *dir, const hs_wal_opts *o, hs_wal_pos from,
                int (*fn)(void *ctx, const hs_wal_record *r), void *ctx, hs_wal **out,
                hs_error *err)
{
    *out = NULL;
    hs_wal_opts def;
    if (!o) {
        hs_wal_opts_init(&def);
        o = &def;
    }
    hs_wal *w = calloc(1, sizeof(*w));
    if (!w)
        return hs_error_set(err, HS_ENOMEM, "WAL: out of memory");
    w->io = o->io ? o->io : hs_io_posix();
    w->segment_bytes = o->segment_bytes ? o->segment_bytes : 64u << 20;
    w->interval_ms = o->batch_interval_ms ? o->batch_interval_ms : 10;
    w->fd = -1;
    w->need_last = o->last_seg;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    int rc = strlen(dir) + 64 < sizeof(w->dir) ? hs_path(w->dir, sizeof(w->dir), "%s", dir)
                                               : hs_error_set(err, HS_ERANGE, "WAL: path too long");
    if (rc == HS_OK) {
        int lrc = w->io->list(w->io->ctx, dir, collect_seg, w);
        if (lrc < 0)
            rc = hs_error_set(err, hs_rc_from_errno(lrc), "WAL %s: %s", dir, strerror(-lrc));
        else if (lrc > 0)
            rc = hs_error_set(err, HS_ENOMEM, "WAL: out of memory");
    }
    if (rc == HS_OK) {
        if (w->nsegs > 1)
            qsort(w->segs, w->nsegs, sizeof(*w->segs), cmp_u64);
        replay_state st = {fn, ctx, from, 0};
        rc = replay_all(w, o, &st, err);
    }
    /* before the first segment is made: a private directory's creator syncs it (with the
     * directory) itself, so the header gets no fsync of its own */
    w->private_dir = o->private_dir;
    if (rc == HS_OK && w->fd < 0) {
        uint64_t next = HS_MAX(from.seg, 1);
        if (w->nsegs)
            next = HS_MAX(next, w->segs[w->nsegs - 1] + 1);
        rc = create_segment(w, next, err);
    }
    /* from now on the owner hears of every new segment (at open it reads hs_wal_segments) */
    w->on_segment = o->on_segment;
    w->hook_ctx = o->hook_ctx;
    if (rc != HS_OK) {
        hs_wal_close(w);
        return rc;
    }
    *out = w;
    return HS_OK;
}

/* The complete record starting at off of the open segment fd (size bytes): its type, or -1. */
static int record_type_at(const hs_io_ops *io, int fd, uint64_t off, uint64_t size,
                          uint64_t *next)
{
    uint8_t h[HS_WAL_HEADER];
    if (off + HS_WAL_HEADER > size || io->pread(io->ctx, fd, h, sizeof(h), off) != (long)sizeof(h))
        return -1;
    uint64_t len = hs_get_le32(h);
    if (len > size - off - HS_WAL_HEADER)
        return -1;
    uint8_t *rec = malloc(HS_WAL_HEADER + len);
    bool ok = rec && io->pread(io->ctx, fd, rec, HS_WAL_HEADER + len, off) ==
                         (long)(HS_WAL_HEADER + len);
    hs_wal_record r;
    ok = ok && hs_wal_decode(rec, HS_WAL_HEADER + len, &r) == HS_OK;
    free(rec);
    *next = off + HS_WAL_HEADER + len;
    return ok ? r.type : -1;
}

int hs_wal_pending(const hs_io_ops *io, const char *dir, hs_wal_pos from, const uint8_t *types,
                   size_t ntypes, bool *pending)
{
    *pending = false;
    hs_wal w;
    memset(&w, 0, sizeof(w));
    w.io = io ? io : hs_io_posix();
    if (strlen(dir) + 64 >= sizeof(w.dir))
        return HS_ERANGE;
    hs_path(w.dir, sizeof(w.dir), "%s", dir);
    int lrc = w.io->list(w.io->ctx, dir, collect_seg, &w);
    if (lrc != 0) {
        free(w.segs);
        return lrc == -ENOENT ? HS_OK : lrc < 0 ? hs_rc_from_errno(lrc) : HS_ENOMEM;
    }
    if (w.nsegs > 1)
        qsort(w.segs, w.nsegs, sizeof(*w.segs), cmp_u64);
    for (size_t i = 0; i < w.nsegs && !*pending; i++) {
        if (w.segs[i] < from.seg)
            continue;
        char path[HS_PATH_MAX];
        seg_path(&w, w.segs[i], path, sizeof(path));
        int fd = w.io->open(w.io->ctx, path, O_RDONLY, 0);
        if (fd < 0)
            continue;
        uint64_t size = 0, next;
        uint64_t off = w.segs[i] == from.seg ? HS_MAX(from.off, HS_WAL_SEG_HEADER)
                                             : HS_WAL_SEG_HEADER;
        int type;
        if (w.io->size(w.io->ctx, fd, &size) == 0)
            while (!*pending && (type = record_type_at(w.io, fd, off, size, &next)) >= 0) {
                for (size_t t = 0; t < ntypes; t++)
                    *pending |= type == types[t];
                off = next;
            }
        w.io->close(w.io->ctx, fd);
    }
    free(w.segs);
    return HS_OK;
}

/* ---- appending and syncing ------------------------------------------------------------- */

hs_wal_counters_t hs_wal_counters;

/* A failed fsync: the log is failed for good, and the records it did not make durable are
 * refused (their writers get an error), so they are cut from the current segment: a restart
 * must not replay a write that was refused.  Every byte not durable is in the current segment
 * (a rotation fsyncs the old one first).  Best effort: when the truncation fails too, the log
 * line says those records may come back.  Called with the lock held. */
static void fail_locked(hs_wal *w, int rc)
{
    if (!w->failed) {
        w->failed = true;
        snprintf(w->fail_msg, sizeof(w->fail_msg), "fsync failed: %s", strerror(-rc));
        uint64_t cut = w->appended - w->durable;
        if (cut && cut <= w->off - HS_WAL_SEG_HEADER) {
            char path[HS_PATH_MAX];
            seg_path(w, w->seg, path, sizeof(path));
            int trc = w->io->ftruncate(w->io->ctx, w->fd, w->off - cut);
            if (trc == 0) {
                w->off -= cut;
                w->disk_bytes -= cut;
                hs_log(HS_LOG_ERROR, "WAL %s: %s; the %" PRIu64 " bytes of records written "
                       "since the last good fsync were refused and removed", path,
                       w->fail_msg, cut);
            } else {
                hs_log(HS_LOG_ERROR, "WAL %s: %s; the %" PRIu64 " bytes of refused records "
                       "written since the last good fsync cannot be removed (%s): a restart "
                       "may replay them", path, w->fail_msg, cut, strerror(-trc));
            }
        }
    }
    pthread_cond_broadcast(&w->cond);
}

static int rotate_locked(hs_wal *w, hs_error *err)
{
    while (w->sync_running)
        pthread_cond_wait(&w->cond, &w->lock);
    int rc = w->io->fsync(w->io->ctx, w->fd);
    if (rc < 0) {
        fail_locked(w, rc);
        return hs_error_set(err, HS_EIO, "WAL Error: %s", w->fail_msg);
    }
    w->durable = w->appended;
    pthread_cond_broadcast(&w->cond);
    int old = w->fd;
    rc = create_segment(w, w->seg + 1, err);
    if (rc != HS_OK)
        return rc;
    w->io->close(w->io->ctx, old);
    return HS_OK;
}

int hs_wal_append(hs_wal *w, uint8_t type, uint64_t lsn, uint8_t *buf, size_t len,
                  uint64_t *ticket, hs_error *err)
{
    if (len > WAL_MAX_RECORD)
        return hs_error_set(err, HS_ERANGE, "WAL: record of %zu bytes is too large", len);
    hs_put_le32(buf, (uint32_t)len);
    hs_put_le64(buf + 8, lsn);
    buf[16] = type;
    hs_put_le32(buf + 4, record_crc(buf, len));
    size_t total = HS_WAL_HEADER + len;
    pthread_mutex_lock(&w->lock);
    int rc = HS_OK;
    if (w->failed) {
        rc = hs_error_set(err, HS_EREADONLY, "%s", w->fail_msg);
        goto done;
    }
    if (w->off > HS_WAL_SEG_HEADER && w->off + total > w->segment_bytes &&
        (rc = rotate_locked(w, err)) != HS_OK)
        goto done;
    long n = w->io->pwrite(w->io->ctx, w->fd, buf, total, w->off);
    if (n != (long)total) {
        int e = n < 0 ? (int)n : -EIO;
        /* remove whatever part reached the file, so the next record follows the last good one */
        int trc = w->io->ftruncate(w->io->ctx, w->fd, w->off);
        if (trc < 0) {
            w->failed = true;
            snprintf(w->fail_msg, sizeof(w->fail_msg), "cannot remove a partial record: %s",
                     strerror(-trc));
        }
        rc = e == -ENOSPC ? hs_error_set(err, HS_ENOSPC, "No space left on device")
                          : hs_error_set(err, HS_EIO, "WAL Error: write failed: %s", strerror(-e));
        goto done;
    }
    w->off += total;
    w->disk_bytes += total;
    w->appended += total;
    *ticket = w->appended;
done:
    pthread_mutex_unlock(&w->lock);
    return rc;
}

/* Runs one fsync for everything appended so far.  Called with the lock held; drops it while
 * the fsync runs. */
static int sync_locked(hs_wal *w)
{
    w->sync_running = true;
    uint64_t target = w->appended;
    int fd = w->fd;
    w->last_sync_ns = hs_now_ns();
    pthread_mutex_unlock(&w->lock);
    uint64_t t0 = hs_now_ns();
    int rc = w->io->fsync(w->io->ctx, fd);
    hs_timing_report(HS_TIMING_WAL_FSYNC, (double)(hs_now_ns() - t0) / 1e9);
    __atomic_fetch_add(rc < 0 ? &hs_wal_counters.fsync_failures : &hs_wal_counters.fsyncs, 1,
                       __ATOMIC_RELAXED);
    pthread_mutex_lock(&w->lock);
    w->sync_running = false;
    if (rc < 0) {
        fail_locked(w, rc);
    } else if (target > w->durable) {
        w->durable = target;
    }
    pthread_cond_broadcast(&w->cond);
    return rc < 0 ? HS_EIO : HS_OK;
}

static void wait_until_ns(hs_wal *w, uint64_t deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t mono = hs_now_ns();
    if (deadline <= mono)
        return;
    uint64_t delta = deadline - mono;
    struct timespec ts = {now.tv_sec + (time_t)(delta / 1000000000u),
                          now.tv_nsec + (long)(delta % 1000000000u)};
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&w->cond, &w->lock, &ts);
}

int hs_wal_wait(hs_wal *w, uint64_t ticket, hs_durability mode, hs_error *err)
{
    if (mode == HS_DURABILITY_ASYNC)
        return HS_OK;
    pthread_mutex_lock(&w->lock);
    int rc = HS_OK;
    uint64_t interval = (uint64_t)w->interval_ms * 1000000u;
    while (w->durable < ticket && !w->failed) {
        if (w->sync_running) {
            pthread_cond_wait(&w->cond, &w->lock); /* it may have started before our write */
            continue;
        }
        if (mode == HS_DURABILITY_STRICT) {
            sync_locked(w);
            continue;
        }
        if (w->leader_waiting) {
            pthread_cond_wait(&w->cond, &w->lock);
            continue;
        }
        /* BATCH leader: wait out the interval since the previous fsync, then sync for all */
        w->leader_waiting = true;
        uint64_t due = w->last_sync_ns + interval;
        while (hs_now_ns() < due && !w->failed && w->durable < ticket)
            wait_until_ns(w, due);
        w->leader_waiting = false;
        if (w->durable < ticket && !w->failed && !w->sync_running)
            sync_locked(w);
        pthread_cond_broadcast(&w->cond);
    }
    if (w->durable < ticket)
        rc = hs_error_set(err, HS_EIO, "WAL Error: %s", w->fail_msg);
    pthread_mutex_unlock(&w->lock);
    return rc;
}

int hs_wal_sync(hs_wal *w, hs_error *err)
{
    pthread_mutex_lock(&w->lock);
    uint64_t ticket = w->appended;
    pthread_mutex_unlock(&w->lock);
    return hs_wal_wait(w, ticket, HS_DURABILITY_STRICT, err);
}

int hs_wal_rotate(hs_wal *w, hs_wal_pos *start, hs_error *err)
{
    pthread_mutex_lock(&w->lock);
    int rc = w->failed ? hs_error_set(err, HS_EREADONLY, "%s", w->fail_msg) : HS_OK;
    if (rc == HS_OK && w->off > HS_WAL_SEG_HEADER)
        rc = rotate_locked(w, err);
    if (rc == HS_OK)
        *start = (hs_wal_pos){w->seg, w->off};
    pthread_mutex_unlock(&w->lock);
    return rc;
}

int hs_wal_remove_before(hs_wal *w, hs_wal_pos pos, hs_error *err)
{
    pthread_mutex_lock(&w->lock);
    size_t keep = 0;
    int rc = HS_OK;
    for (size_t i = 0; i < w->nsegs; i++) {
        if (w->segs[i] < pos.seg && w->segs[i] != w->seg) {
            char path[HS_PATH_MAX];
            seg_path(w, w->segs[i], path, sizeof(path));
            int urc = w->io->unlink(w->io->ctx, path);
            if (urc < 0 && urc != -ENOENT) {
                rc = hs_error_set(err, HS_EIO, "WAL %s: unlink: %s", path, strerror(-urc));
                w->segs[keep++] = w->segs[i];
            }
        } else {
            w->segs[keep++] = w->segs[i];
        }
    }
    w->nsegs = keep;
    /* the on-disk size is recomputed lazily: remaining segments are the current one plus any
     * kept ones; count the current one exactly and the others by their sizes */
    uint64_t bytes = 0;
    for (size_t i = 0; i < w->nsegs; i++) {
        if (w->segs[i] == w->seg) {
            bytes += w->off;
            continue;
        }
        char path[HS_PATH_MAX];
        seg_path(w, w->segs[i], path, sizeof(path));
        int fd = w->io->open(w->io->ctx, path, O_RDONLY, 0);
        uint64_t sz = 0;
        if (fd >= 0) {
            w->io->size(w->io->ctx, fd, &sz);
            w->io->close(w->io->ctx, fd);
        }
        bytes += sz;
    }
    w->disk_bytes = bytes;
    if (rc == HS_OK)
        w->io->fsync_dir(w->io->ctx, w->dir);
    pthread_mutex_unlock(&w->lock);
    return rc;
}

void hs_wal_retention(hs_wal *w, hs_wal_pos from, uint64_t retain, uint64_t *keep)
{
    hs_wal_seginfo *segs;
    size_t n;
    *keep = from.seg;
    if (!retain || hs_wal_segments(w, &segs, &n) != HS_OK)
        return;
    uint64_t total = 0;
    for (size_t i = n; i-- > 0;) {
        if (segs[i].seq >= from.seg)
            continue;
        if (total + segs[i].len > retain || segs[i].seq + 1 != *keep)
            break; /* over the budget, or a gap (nothing older can be read through it) */
        total += segs[i].len;
        *keep = segs[i].seq;
    }
    free(segs);
}

uint64_t hs_wal_oldest(hs_wal *w)
{
    pthread_mutex_lock(&w->lock);
    uint64_t seq = w->nsegs ? w->segs[0] : 0;
    pthread_mutex_unlock(&w->lock);
    return seq;
}

int hs_wal_segments(hs_wal *w, hs_wal_seginfo **out, size_t *n)
{
    pthread_mutex_lock(&w->lock);
    *n = w->nsegs;
    *out = malloc((w->nsegs ? w->nsegs : 1) * sizeof(**out));
    for (size_t i = 0; *out && i < w->nsegs; i++) {
        uint64_t sz = 0;
        if (w->segs[i] == w->seg) {
            sz = w->off;
        } else {
            char path[HS_PATH_MAX];
            seg_path(w, w->segs[i], path, sizeof(path));
            int fd = w->io->open(w->io->ctx, path, O_RDONLY, 0);
            if (fd >= 0) {
                w->io->size(w->io->ctx, fd, &sz);
                w->io->close(w->io->ctx, fd);
            }
        }
        (*out)[i] = (hs_wal_seginfo){w->segs[i], sz};
    }
    pthread_mutex_unlock(&w->lock);
    return *out ? HS_OK : HS_ENOMEM;
}

hs_wal_pos hs_wal_end(hs_wal *w)
{
    pthread_mutex_lock(&w->lock);
    hs_wal_pos p = {w->seg, w->off};
    pthread_mutex_unlock(&w->lock);
    return p;
}

uint64_t hs_wal_disk_bytes(hs_wal *w)
{
    pthread_mutex_lock(&w->lock);
    uint64_t b = w->disk_bytes;
    pthread_mutex_unlock(&w->lock);
    return b;
}

uint64_t hs_wal_durable(hs_wal *w, bool *failed, char *msg, size_t len)
{
    pthread_mutex_lock(&w->lock);
    uint64_t d = w->durable;
    *failed = w->failed;
    if (w->failed && msg)
        snprintf(msg, len, "%s", w->fail_msg);
    pthread_mutex_unlock(&w->lock);
    return d;
}

bool hs_wal_failed(hs_wal *w)
{
    pthread_mutex_lock(&w->lock);
    bool f = w->failed;
    pthread_mutex_unlock(&w->lock);
    return f;
}

void hs_wal_close(hs_wal *w)
{
    if (!w)
        return;
    if (w->fd >= 0) {
        pthread_mutex_lock(&w->lock);
        while (w->sync_running)
            pthread_cond_wait(&w->cond, &w->lock);
        if (!w->failed && w->durable < w->appended)
            w->io->fsync(w->io->ctx, w->fd);
        pthread_mutex_unlock(&w->lock);
        w->io->close(w->io->ctx, w->fd);
    }
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w->segs);
    free(w);
}
