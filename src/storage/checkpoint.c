/*
 * checkpoint.c: checkpoint files (format: docs/file-format.md, "Checkpoint").
 *
 * A 1024-byte header (magic, version, section table with a CRC-32C per section, header CRC)
 * followed by the sections at 64-byte aligned offsets.  The writer streams sections into
 * `<name>.tmp`, writes the header last, fsyncs, renames into place and fsyncs the directory, so
 * a checkpoint either exists complete or not at all.  The reader verifies the header and every
 * section checksum before handing out any byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"
#include "util/bytes.h"
#include "util/crc32c.h"
#include "util/error.h"
#include "util/util.h"

#define CKPT_MAGIC "HSCKPT01"
#define CKPT_VERSION 1u
#define CKPT_HEADER 1024u
#define CKPT_ALIGN 64u
#define CKPT_TABLE 16u
#define CKPT_ENTRY 24u

struct hs_ckpt_writer {
    const hs_io_ops *io;
    char dir[HS_PATH_MAX];
    char tmp[HS_PATH_MAX];
    char path[HS_PATH_MAX];
    int fd;
    uint64_t off;
    uint32_t n;
    struct {
        uint32_t tag, crc;
        uint64_t off, len;
    } sec[HS_CKPT_MAX_SECTIONS];
};


int hs_ckpt_begin(const hs_io_ops *io, const char *dir, const char *name, hs_ckpt_writer **out,
                  hs_error *err)
{
    *out = NULL;
    hs_ckpt_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return hs_error_set(err, HS_ENOMEM, "checkpoint: out of memory");
    w->io = io;
    if (hs_path(w->dir, sizeof(w->dir), "%s", dir) != HS_OK ||
        hs_path(w->tmp, sizeof(w->tmp), "%s/%s.tmp", dir, name) != HS_OK ||
        hs_path(w->path, sizeof(w->path), "%s/%s", dir, name) != HS_OK) {
        free(w);
        return hs_error_set(err, HS_ERANGE, "checkpoint: path too long");
    }
    w->fd = io->open(io->ctx, w->tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (w->fd < 0) {
        int e = w->fd;
        free(w);
        return hs_error_set(err, hs_rc_from_errno(e), "checkpoint %s: %s", name, strerror(-e));
    }
    w->off = CKPT_HEADER;
    *out = w;
    return HS_OK;
}

int hs_ckpt_add_parts(hs_ckpt_writer *w, uint32_t tag, const hs_ckpt_part *parts, size_t nparts,
                      hs_error *err)
{
    if (w->n == HS_CKPT_MAX_SECTIONS)
        return hs_error_set(err, HS_EFULL, "checkpoint: too many sections");
    uint64_t off = w->off, len = 0;
    uint32_t crc = 0;
    for (size_t i = 0; i < nparts; i++) {
        long n = parts[i].len ? w->io->pwrite(w->io->ctx, w->fd, parts[i].data, parts[i].len,
                                              off + len)
                              : 0;
        if (n != (long)parts[i].len) {
            int e = n < 0 ? (int)n : -EIO;
            return hs_error_set(err, hs_rc_from_errno(e), "checkpoint %s: write: %s", w->tmp,
                                strerror(-e));
        }
        crc = hs_crc32c(crc, parts[i].data, parts[i].len);
        len += parts[i].len;
    }
    w->sec[w->n].tag = tag;
    w->sec[w->n].crc = crc;
    w->sec[w->n].off = off;
    w->sec[w->n].len = len;
    w->n++;
    w->off = HS_ALIGN_UP(off + len, CKPT_ALIGN);
    return HS_OK;
}

int hs_ckpt_add(hs_ckpt_writer *w, uint32_t tag, const void *data, size_t len, hs_error *err)
{
    hs_ckpt_part part = {data, len};
    return hs_ckpt_add_parts(w, tag, &part, 1, err);
}

int hs_ckpt_commit(hs_ckpt_writer *w, hs_error *err)
{
    uint8_t h[CKPT_HEADER];
    memset(h, 0, sizeof(h));
    memcpy(h, CKPT_MAGIC, 8);
    hs_put_le32(h + 8, CKPT_VERSION);
    hs_put_le32(h + 12, w->n);
    for (uint32_t i = 0; i < w->n; i++) {
        uint8_t *e = h + CKPT_TABLE + i * CKPT_ENTRY;
        hs_put_le32(e, w->sec[i].tag);
        hs_put_le32(e + 4, w->sec[i].crc);
        hs_put_le64(e + 8, w->sec[i].off);
        hs_put_le64(e + 16, w->sec[i].len);
    }
    hs_put_le32(h + CKPT_HEADER - 4, hs_crc32c(0, h, CKPT_HEADER - 4));
    const hs_io_ops *io = w->io;
    long n = io->pwrite(io->ctx, w->fd, h, sizeof(h), 0);
    int rc = n == (long)sizeof(h) ? 0 : (n < 0 ? (int)n : -EIO);
    if (rc == 0 && w->off > w->sec[w->n ? w->n - 1 : 0].off + w->sec[w->n ? w->n - 1 : 0].len)
        rc = io->ftruncate(io->ctx, w->fd, w->n ? w->sec[w->n - 1].off + w->sec[w->n - 1].len
                                               : CKPT_HEADER);
    if (rc == 0)
        rc = io->fsync(io->ctx, w->fd);
    io->close(io->ctx, w->fd);
    w->fd = -1;
    if (rc == 0)
        rc = io->rename(io->ctx, w->tmp, w->path);
    if (rc == 0)
        rc = io->fsync_dir(io->ctx, w->dir);
    int out = HS_OK;
    if (rc < 0) {
        io->unlink(io->ctx, w->tmp);
        out = hs_error_set(err, hs_rc_from_errno(rc), "checkpoint %s: %s", w->path, strerror(-rc));
    }
    free(w);
    return out;
}

void hs_ckpt_abort(hs_ckpt_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        w->io->close(w->io->ctx, w->fd);
    w->io->unlink(w->io->ctx, w->tmp);
    free(w);
}

int hs_ckpt_parse(const uint8_t *buf, size_t len, hs_ckpt *c, hs_error *err)
{
    memset(c, 0, sizeof(*c));
    if (len < CKPT_HEADER || memcmp(buf, CKPT_MAGIC, 8) != 0)
        return hs_error_set(err, HS_ECORRUPT, "checkpoint: bad magic or short file");
    if (hs_get_le32(buf + CKPT_HEADER - 4) != hs_crc32c(0, buf, CKPT_HEADER - 4))
        return hs_error_set(err, HS_ECORRUPT, "checkpoint: header checksum mismatch");
    if (hs_get_le32(buf + 8) != CKPT_VERSION)
        return hs_error_set(err, HS_EVERSION, "checkpoint: unsupported version %u", hs_get_le32(buf + 8));
    uint32_t n = hs_get_le32(buf + 12);
    if (n > HS_CKPT_MAX_SECTIONS)
        return hs_error_set(err, HS_ECORRUPT, "checkpoint: %u sections", n);
    uint64_t end = CKPT_HEADER; /* sections follow each other; the padding between is zeros */
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = buf + CKPT_TABLE + i * CKPT_ENTRY;
        uint64_t off = hs_get_le64(e + 8), l = hs_get_le64(e + 16);
        if (off < end || off > len || l > len - off)
            return hs_error_set(err, HS_ECORRUPT, "checkpoint: section %u out of bounds", i);
        for (uint64_t p = end; p < off; p++)
            if (buf[p])
                return hs_error_set(err, HS_ECORRUPT, "checkpoint: non-zero padding at offset %"
                                    PRIu64, p);
        end = off + l;
        if (hs_crc32c(0, buf + off, l) != hs_get_le32(e + 4))
            return hs_error_set(err, HS_ECORRUPT,
                                "checkpoint: section %u (tag %u) checksum mismatch at offset %"
                                PRIu64, i, hs_get_le32(e), off);
        c->sec[i].tag = hs_get_le32(e);
        c->sec[i].off = off;
        c->sec[i].len = l;
    }
    if (end != len)
        return hs_error_set(err, HS_ECORRUPT, "checkpoint: %zu bytes, the sections end at %" PRIu64,
                            len, end);
    c->nsections = n;
    c->map = (uint8_t *)buf;
    c->len = len;
    return HS_OK;
}

int hs_ckpt_open(const hs_io_ops *io, const char *path, hs_ckpt *c, hs_error *err)
{
    memset(c, 0, sizeof(*c));
    int fd = io->open(io->ctx, path, O_RDONLY, 0);
    if (fd < 0)
        return hs_error_set(err, hs_rc_from_errno(fd), "checkpoint %s: %s", path, strerror(-fd));
    uint64_t size = 0;
    int rc = io->size(io->ctx, fd, &size);
    if (rc < 0 || size < CKPT_HEADER) {
        io->close(io->ctx, fd);
        return hs_error_set(err, rc < 0 ? HS_EIO : HS_ECORRUPT, "checkpoint %s: %s", path,
                            rc < 0 ? strerror(-rc) : "short file");
    }
    uint8_t *map = io->mmap(io->ctx, fd, (size_t)size, 0);
    io->close(io->ctx, fd);
    if (!map)
        return hs_error_set(err, HS_EIO, "checkpoint %s: cannot map", path);
    rc = hs_ckpt_parse(map, (size_t)size, c, err);
    if (rc != HS_OK) {
        io->munmap(io->ctx, map, (size_t)size);
        if (err) {
            char detail[sizeof(err->message)];
            memcpy(detail, err->message, sizeof(detail));
            hs_error_set(err, rc, "%s: %s", path, detail);
        }
        return rc;
    }
    c->io = io;
    return HS_OK;
}

const uint8_t *hs_ckpt_section(const hs_ckpt *c, uint32_t tag, size_t *len)
{
    for (uint32_t i = 0; i < c->nsections; i++) {
        if (c->sec[i].tag == tag) {
            *len = (size_t)c->sec[i].len;
            return c->map + c->sec[i].off;
        }
    }
    *len = 0;
    return NULL;
}

void hs_ckpt_close(hs_ckpt *c)
{
    if (c->map && c->io)
        c->io->munmap(c->io->ctx, c->map, c->len);
    memset(c, 0, sizeof(*c));
}

int hs_ckpt_peek(const hs_io_ops *io, const char *path, uint32_t tag, void *buf, size_t cap,
                 size_t *len, hs_error *err)
{
    int fd = io->open(io->ctx, path, O_RDONLY, 0);
    if (fd < 0)
        return hs_error_set(err, hs_rc_from_errno(fd), "checkpoint %s: %s", path, strerror(-fd));
    uint8_t h[CKPT_HEADER];
    long n = io->pread(io->ctx, fd, h, sizeof(h), 0);
    int rc = HS_ECORRUPT;
    if (n == (long)sizeof(h) && !memcmp(h, CKPT_MAGIC, 8) &&
        hs_get_le32(h + CKPT_HEADER - 4) == hs_crc32c(0, h, CKPT_HEADER - 4) &&
        hs_get_le32(h + 8) == CKPT_VERSION && hs_get_le32(h + 12) <= HS_CKPT_MAX_SECTIONS) {
        rc = HS_ENOTFOUND;
        for (uint32_t i = 0; i < hs_get_le32(h + 12); i++) {
            const uint8_t *e = h + CKPT_TABLE + i * CKPT_ENTRY;
            if (hs_get_le32(e) != tag)
                continue;
            uint64_t l = hs_get_le64(e + 16);
            if (l > cap) {
                rc = HS_ECORRUPT;
                break;
            }
            n = io->pread(io->ctx, fd, buf, (size_t)l, hs_get_le64(e + 8));
            rc = n == (long)l && hs_crc32c(0, buf, (size_t)l) == hs_get_le32(e + 4) ? HS_OK
                                                                             : HS_ECORRUPT;
            *len = (size_t)l;
            break;
        }
    }
    io->close(io->ctx, fd);
    if (rc != HS_OK)
        return hs_error_set(err, rc, "checkpoint %s: section %u unreadable", path, tag);
    return HS_OK;
}
