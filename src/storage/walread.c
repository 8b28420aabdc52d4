/*
 * walread.c: reading a write-ahead log while it is written (storage.h, "reading the log while
 * it is written"): the change stream reads collections' logs with it, and so will replication.
 *
 * The reader keeps a position (segment, offset of the next record) and, while active, one
 * descriptor on that segment and a window of its bytes.  It hands out a record only when the
 * whole record is in the file and its checksum holds, so a record being appended (a partial
 * pwrite) is "not yet" rather than an error; a bad record with valid data after it, or in a
 * segment that has a successor, is corruption.
 *
 * Segments: a writer starts segment s + 1 only after s is complete (rotation syncs s, then
 * creates s + 1 with its header), so a reader at the end of s moves on once s + 1 exists, after
 * one more look at s's size.  A rotation whose manifest write fails removes the new segment and
 * keeps appending to s: a reader that moved into that orphan notices s grew when it next opens
 * its segment and goes back.  Old segments are removed by checkpoints; a reader whose segment
 * (or the next one) is gone reports HS_ETRUNCATED after moving to the oldest segment left: the
 * owner knows from its log floor whether records it had not read went with them.
 *
 * Locking: none (a reader belongs to one thread; the files are the only shared state).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"
#include "util/bytes.h"
#include "util/crc32c.h"
#include "util/error.h"
#include "util/util.h"

/* Bytes read at once: a sequential scan issues few reads. */
#define WINDOW (64u << 10)
/* Records larger than this are checksummed in pieces (and then read a piece at a time) instead
 * of held whole: a reader holds at most this much, or one point when a point is larger. */
#define WHOLE_MAX (1u << 20)

struct hs_wal_reader {
    const hs_io_ops *io;
    char dir[HS_PATH_MAX];
    uint64_t seg;  /* segment of the position (0: the oldest, resolved at the next read) */
    uint64_t off;  /* offset of the next record in seg */
    int fd;        /* on seg, -1 while idle */
    uint64_t size; /* seg's size as last seen */
    /* the segment left for seg and its size then (0: none): it must not grow afterwards */
    uint64_t prev_seg, prev_size;
    uint8_t *buf;     /* window: bytes [buf_off, buf_off + buf_len) of seg */
    size_t buf_cap, buf_len;
    uint64_t buf_off;
    uint64_t rec_off; /* offset of the record last returned, its payload length */
    uint64_t rec_len;
    bool have_rec;
    uint64_t opens; /* files opened (or tried) so far */
};

static void path_of(const hs_wal_reader *r, uint64_t seq, char *buf, size_t len)
{
    hs_path(buf, len, "%s/%016" PRIx64 ".wal", r->dir, seq); /* length checked at open */
}

int hs_wal_reader_open(const hs_io_ops *io, const char *dir, uint64_t seg, hs_wal_reader **out,
                       hs_error *err)
{
    *out = NULL;
    if (strlen(dir) + 64 >= HS_PATH_MAX)
        return hs_error_set(err, HS_ERANGE, "WAL reader: path too long");
    hs_wal_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    r->io = io ? io : hs_io_posix();
    snprintf(r->dir, sizeof(r->dir), "%s", dir);
    r->fd = -1;
    r->seg = seg;
    r->off = HS_WAL_SEG_HEADER;
    *out = r;
    return HS_OK;
}

void hs_wal_reader_idle(hs_wal_reader *r)
{
    if (r->fd >= 0)
        r->io->close(r->io->ctx, r->fd);
    r->fd = -1;
    free(r->buf);
    r->buf = NULL;
    r->buf_cap = r->buf_len = 0;
    r->have_rec = false;
}

void hs_wal_reader_close(hs_wal_reader *r)
{
    if (!r)
        return;
    hs_wal_reader_idle(r);
    free(r);
}

hs_wal_pos hs_wal_reader_pos(const hs_wal_reader *r) { return (hs_wal_pos){r->seg, r->off}; }

uint64_t hs_wal_reader_opens(const hs_wal_reader *r) { return r->opens; }

/* Size of segment seq's file: HS_OK, HS_ENOTFOUND (no such file), HS_EIO. */
static int seg_size(hs_wal_reader *r, uint64_t seq, uint64_t *size)
{
    char path[HS_PATH_MAX];
    path_of(r, seq, path, sizeof(path));
    r->opens++;
    int fd = r->io->open(r->io->ctx, path, O_RDONLY, 0);
    if (fd < 0)
        return fd == -ENOENT ? HS_ENOTFOUND : HS_EIO;
    int rc = r->io->size(r->io->ctx, fd, size);
    r->io->close(r->io->ctx, fd);
    return rc < 0 ? HS_EIO : HS_OK;
}

/* Opens segment seq: HS_OK (*fd, *size), HS_ENOTFOUND, HS_EIO. */
static int seg_open(hs_wal_reader *r, uint64_t seq, int *fd, uint64_t *size)
{
    char path[HS_PATH_MAX];
    path_of(r, seq, path, sizeof(path));
    r->opens++;
    *fd = r->io->open(r->io->ctx, path, O_RDONLY, 0);
    if (*fd < 0)
        return *fd == -ENOENT ? HS_ENOTFOUND : HS_EIO;
    if (r->io->size(r->io->ctx, *fd, size) < 0) {
        r->io->close(r->io->ctx, *fd);
        *fd = -1;
        return HS_EIO;
    }
    return HS_OK;
}

/* The oldest segment at or after seq (0: none); HS_EIO when the directory cannot be listed. */
static int oldest_from(hs_wal_reader *r, uint64_t seq, uint64_t *out)
{
    uint64_t *segs;
    size_t n;
    r->opens++;
    int rc = hs_wal_list(r->io, r->dir, &segs, &n);
    *out = 0;
    for (size_t i = 0; rc == HS_OK && i < n && !*out; i++)
        if (segs[i] >= seq)
            *out = segs[i];
    free(segs);
    return rc;
}

/* Bytes [off, off + len) of the current segment into the window; *p points at them. */
static int window(hs_wal_reader *r, uint64_t off, size_t len, const uint8_t **p, hs_error *err)
{
    if (off >= r->buf_off && off + len <= r->buf_off + r->buf_len) {
        *p = r->buf + (off - r->buf_off);
        return HS_OK;
    }
    size_t want = HS_MAX(len, (size_t)WINDOW);
    if (want > r->buf_cap) {
        uint8_t *b = realloc(r->buf, want);
        if (!b)
            return hs_error_set(err, HS_ENOMEM, "Out of memory");
        r->buf = b;
        r->buf_cap = want;
    }
    long n = r->io->pread(r->io->ctx, r->fd, r->buf, r->buf_cap, off);
    if (n < 0) {
        r->buf_len = 0;
        return hs_error_set(err, HS_EIO, "WAL %s/%016" PRIx64 ".wal: read: %s", r->dir, r->seg,
                            strerror((int)-n));
    }
    r->buf_off = off;
    r->buf_len = (size_t)n;
    if ((size_t)n < len)
        return hs_error_set(err, HS_EIO, "WAL %s/%016" PRIx64 ".wal: short read at offset %" PRIu64,
                            r->dir, r->seg, off);
    *p = r->buf;
    return HS_OK;
}

/* Makes r->fd the descriptor of r->seg.  A segment left earlier that has grown since means the
 * reader moved into an orphan: it goes back there.  HS_ETRUNCATED when seg is gone. */
static int activate(hs_wal_reader *r, hs_error *err)
{
    if (r->fd >= 0)
        return HS_OK;
    uint64_t sz;
    if (r->prev_seg && seg_size(r, r->prev_seg, &sz) == HS_OK && sz > r->prev_size) {
        r->seg = r->prev_seg;
        r->off = r->prev_size;
        r->prev_seg = 0;
    }
    if (!r->seg) {
        int rc = oldest_from(r, 0, &r->seg);
        if (rc != HS_OK)
            return hs_error_set(err, rc, "WAL %s: cannot list the log", r->dir);
        if (!r->seg)
            return HS_ENOTFOUND; /* no segment yet */
        r->off = HS_WAL_SEG_HEADER;
    }
    int rc = seg_open(r, r->seg, &r->fd, &r->size);
    if (rc == HS_ENOTFOUND) {
        uint64_t next;
        if (oldest_from(r, r->seg + 1, &next) != HS_OK)
            return hs_error_set(err, HS_EIO, "WAL %s: cannot list the log", r->dir);
        if (!next)
            return HS_ENOTFOUND; /* gone with nothing after it: the log is being replaced */
        r->seg = next;
        r->off = HS_WAL_SEG_HEADER;
        r->prev_seg = 0;
        return HS_ETRUNCATED;
    }
    if (rc != HS_OK)
        return hs_error_set(err, rc, "WAL %s/%016" PRIx64 ".wal: cannot open", r->dir, r->seg);
    r->buf_len = 0;
    return HS_OK;
}

/* At the end of r->seg: moves to seg + 1 when it exists and seg is complete.  *moved = false
 * when seg is still the newest (or has grown: the caller reads on). */
static int advance(hs_wal_reader *r, bool *moved, hs_error *err)
{
    *moved = false;
    int nfd;
    uint64_t nsize;
    int rc = seg_open(r, r->seg + 1, &nfd, &nsize);
    if (rc == HS_ENOTFOUND)
        return HS_OK;
    if (rc != HS_OK)
        return hs_error_set(err, rc, "WAL %s/%016" PRIx64 ".wal: cannot open", r->dir,
                            r->seg + 1);
    uint8_t h[HS_WAL_SEG_HEADER];
    bool header = nsize >= HS_WAL_SEG_HEADER &&
                  r->io->pread(r->io->ctx, nfd, h, sizeof(h), 0) == (long)sizeof(h);
    uint64_t size = r->size;
    if (r->io->size(r->io->ctx, r->fd, &size) < 0 || size != r->size || !header) {
        /* seg grew (read on), or seg + 1 is being created (look again later) */
        r->io->close(r->io->ctx, nfd);
        r->size = size;
        return HS_OK;
    }
    if (!hs_wal_seg_header_ok(h, r->seg + 1)) {
        r->io->close(r->io->ctx, nfd);
        return hs_error_set(err, HS_ECORRUPT, "WAL %s/%016" PRIx64 ".wal: bad segment header",
                            r->dir, r->seg + 1);
    }
    if (r->off != r->size) {
        r->io->close(r->io->ctx, nfd);
        return hs_error_set(err, HS_ECORRUPT, "WAL %s/%016" PRIx64 ".wal: incomplete record at "
                            "offset %" PRIu64 " of a closed segment", r->dir, r->seg, r->off);
    }
    r->io->close(r->io->ctx, r->fd);
    r->prev_seg = r->seg;
    r->prev_size = r->size;
    r->seg++;
    r->fd = nfd;
    r->size = nsize;
    r->off = HS_WAL_SEG_HEADER;
    r->buf_len = 0;
    *moved = true;
    return HS_OK;
}

/* Checks the checksum of the record at off (header h, payload len). */
static int verify(hs_wal_reader *r, uint64_t off, const uint8_t *h, uint64_t len, bool *ok,
                  hs_error *err)
{
    const uint8_t *p;
    if (HS_WAL_HEADER + len <= WHOLE_MAX) {
        int rc = window(r, off, HS_WAL_HEADER + (size_t)len, &p, err);
        if (rc != HS_OK)
            return rc;
        hs_wal_record rec;
        *ok = hs_wal_decode(p, HS_WAL_HEADER + (size_t)len, &rec) == HS_OK;
        return HS_OK;
    }
    uint32_t crc = hs_crc32c(0, h, 4);
    crc = hs_crc32c(crc, h + 8, 9);
    for (uint64_t done = 0; done < len;) {
        size_t piece = (size_t)HS_MIN(len - done, (uint64_t)WINDOW);
        int rc = window(r, off + HS_WAL_HEADER + done, piece, &p, err);
        if (rc != HS_OK)
            return rc;
        crc = hs_crc32c(crc, p, piece);
        done += piece;
    }
    *ok = crc == hs_get_le32(h + 4);
    return HS_OK;
}

/* A record that cannot be read whole with its checksum: the end of what is written so far when
 * it is the newest segment's last bytes, corruption otherwise. */
static int bad_record(hs_wal_reader *r, int *got, hs_error *err)
{
    int nfd;
    uint64_t nsize;
    int rc = seg_open(r, r->seg + 1, &nfd, &nsize);
    if (rc == HS_ENOTFOUND) {
        *got = 0;
        r->buf_len = 0; /* read the bytes again next time: they may still change */
        return HS_OK;
    }
    if (rc == HS_OK)
        r->io->close(r->io->ctx, nfd);
    return hs_error_set(err, HS_ECORRUPT, "WAL %s/%016" PRIx64 ".wal: corrupt record at offset "
                        "%" PRIu64, r->dir, r->seg, r->off);
}

int hs_wal_reader_next(hs_wal_reader *r, uint64_t limit, hs_wal_record *rec, int *got,
                       hs_error *err)
{
    *got = 0;
    r->have_rec = false;
    int rc = activate(r, err);
    if (rc == HS_ENOTFOUND)
        return HS_OK; /* nothing to read yet */
    if (rc != HS_OK)
        return rc;
    for (;;) {
        if (r->off + HS_WAL_HEADER > r->size &&
            r->io->size(r->io->ctx, r->fd, &r->size) < 0)
            return hs_error_set(err, HS_EIO, "WAL %s: stat failed", r->dir);
        if (r->off + HS_WAL_HEADER > r->size) {
            bool moved;
            if ((rc = advance(r, &moved, err)) != HS_OK)
                return rc;
            if (moved || r->off + HS_WAL_HEADER <= r->size)
                continue;
            r->buf_len = 0;
            return HS_OK; /* at the end of the newest segment */
        }
        const uint8_t *p;
        if ((rc = window(r, r->off, HS_WAL_HEADER, &p, err)) != HS_OK)
            return rc;
        uint8_t h[HS_WAL_HEADER];
        memcpy(h, p, sizeof(h));
        uint64_t len = hs_get_le32(h), lsn = hs_get_le64(h + 8);
        if (lsn > limit) {
            /* not to be read yet (its lsn may also be a partial write's: read it again) */
            r->buf_len = 0;
            return HS_OK;
        }
        if (r->off + HS_WAL_HEADER + len > r->size &&
            r->io->size(r->io->ctx, r->fd, &r->size) < 0)
            return hs_error_set(err, HS_EIO, "WAL %s: stat failed", r->dir);
        if (r->off + HS_WAL_HEADER + len > r->size)
            return bad_record(r, got, err);
        bool ok;
        if ((rc = verify(r, r->off, h, len, &ok, err)) != HS_OK)
            return rc;
        if (!ok)
            return bad_record(r, got, err);
        *rec = (hs_wal_record){lsn, h[16], NULL, (size_t)len, {r->seg, r->off}};
        r->rec_off = r->off;
        r->rec_len = len;
        r->have_rec = true;
        r->off += HS_WAL_HEADER + len;
        *got = 1;
        return HS_OK;
    }
}

int hs_wal_reader_payload(hs_wal_reader *r, uint64_t off, size_t len, const uint8_t **p,
                          hs_error *err)
{
    if (!r->have_rec || off > r->rec_len || len > r->rec_len - off)
        return hs_error_set(err, HS_EINVAL, "WAL reader: bytes outside the record");
    return window(r, r->rec_off + HS_WAL_HEADER + off, len, p, err);
}

int hs_wal_reader_recheck(hs_wal_reader *r, hs_error *err)
{
    uint64_t next;
    if (!r->seg)
        return HS_OK;
    if (oldest_from(r, r->seg + 1, &next) != HS_OK)
        return hs_error_set(err, HS_EIO, "WAL %s: cannot list the log", r->dir);
    if (!next || next == r->seg + 1)
        return HS_OK;
    hs_wal_reader_idle(r);
    r->seg = next;
    r->off = HS_WAL_SEG_HEADER;
    r->prev_seg = 0;
    return HS_ETRUNCATED;
}

/* The lsn of the first record of segment seq: *found = false when it has none (or is gone). */
static int first_lsn(hs_wal_reader *r, uint64_t seq, uint64_t *lsn, bool *found, hs_error *err)
{
    *found = false;
    hs_wal_reader_idle(r);
    r->seg = seq;
    r->off = HS_WAL_SEG_HEADER;
    r->prev_seg = 0;
    int rc = activate(r, err);
    if (rc == HS_ENOTFOUND || rc == HS_ETRUNCATED)
        return HS_OK;
    if (rc != HS_OK)
        return rc;
    uint8_t h[HS_WAL_SEG_HEADER];
    if (r->size < HS_WAL_SEG_HEADER + HS_WAL_HEADER ||
        r->io->pread(r->io->ctx, r->fd, h, sizeof(h), 0) != (long)sizeof(h))
        return HS_OK;
    if (!hs_wal_seg_header_ok(h, seq))
        return hs_error_set(err, HS_ECORRUPT, "WAL %s/%016" PRIx64 ".wal: bad segment header",
                            r->dir, seq);
    const uint8_t *p;
    if ((rc = window(r, HS_WAL_SEG_HEADER, HS_WAL_HEADER, &p, err)) != HS_OK)
        return rc;
    uint8_t rh[HS_WAL_HEADER];
    memcpy(rh, p, sizeof(rh));
    uint64_t len = hs_get_le32(rh);
    bool ok = HS_WAL_SEG_HEADER + HS_WAL_HEADER + len <= r->size;
    if (ok && (rc = verify(r, HS_WAL_SEG_HEADER, rh, len, &ok, err)) != HS_OK)
        return rc;
    *found = ok;
    *lsn = hs_get_le64(rh + 8);
    return HS_OK;
}

int hs_wal_reader_seek(hs_wal_reader *r, uint64_t after, hs_error *err)
{
    uint64_t *segs;
    size_t n;
    r->opens++;
    int rc = hs_wal_list(r->io, r->dir, &segs, &n);
    if (rc != HS_OK)
        return hs_error_set(err, rc, "WAL %s: cannot list the log", r->dir);
    for (size_t i = 1; i < n && rc == HS_OK; i++)
        if (segs[i] != segs[i - 1] + 1) /* a hole: a reader would skip records silently */
            rc = hs_error_set(err, HS_ECORRUPT, "WAL %s/%016" PRIx64 ".wal: missing (the log "
                              "has segments %" PRIu64 " to %" PRIu64 ")", r->dir, segs[i - 1] + 1,
                              segs[0], segs[n - 1]);
    uint64_t start = n ? segs[0] : 0;
    for (size_t i = n; rc == HS_OK && after && i-- > 1;) {
        uint64_t lsn;
        bool found;
        rc = first_lsn(r, segs[i], &lsn, &found, err);
        if (rc == HS_OK && found && lsn <= after) {
            start = segs[i];
            break;
        }
    }
    free(segs);
    hs_wal_reader_idle(r);
    r->seg = start;
    r->off = HS_WAL_SEG_HEADER;
    r->prev_seg = 0;
    return rc;
}
