/*
 * manifest.c: the collection manifest (format: docs/file-format.md, "Manifest").
 *
 * A checkpoint describes the state up to its log position and checksums the vector records it
 * covers; the manifest says which files must exist beside it, so that a deleted checkpoint, a
 * deleted log segment or a log segment cut at a record boundary is noticed at load instead of
 * silently shrinking the collection.  It is small and rewritten whole (temporary file, fsync,
 * rename, directory fsync) when a log segment is created and after each checkpoint.
 *
 * Locking: none inside; the owner serialises writers (hs_coll.man_mu).
 */
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"
#include "util/bytes.h"
#include "util/crc32c.h"
#include "util/error.h"

#define MAN_MAGIC "HSMANI01"
#define MAN_VERSION 1u
#define MAN_FIXED 32u /* magic, version, count, checkpoint, last segment */
#define MAN_ENTRY 16u


int hs_manifest_parse(const uint8_t *buf, size_t len, hs_manifest *m)
{
    memset(m, 0, sizeof(*m));
    if (len < MAN_FIXED + 4 || memcmp(buf, MAN_MAGIC, 8) != 0)
        return HS_ECORRUPT;
    uint32_t n = hs_get_le32(buf + 12);
    if (n > HS_MANIFEST_MAX_CLOSED || len != MAN_FIXED + (size_t)n * MAN_ENTRY + 4 ||
        hs_get_le32(buf + len - 4) != hs_crc32c(0, buf, len - 4))
        return HS_ECORRUPT;
    if (hs_get_le32(buf + 8) != MAN_VERSION)
        return HS_EVERSION;
    m->ckpt_seq = hs_get_le64(buf + 16);
    m->wal_last = hs_get_le64(buf + 24);
    m->closed = malloc((n ? n : 1) * sizeof(*m->closed));
    if (!m->closed)
        return HS_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = buf + MAN_FIXED + (size_t)i * MAN_ENTRY;
        m->closed[i] = (hs_wal_seginfo){hs_get_le64(e), hs_get_le64(e + 8)};
        if ((i && m->closed[i].seq <= m->closed[i - 1].seq) || m->closed[i].seq >= m->wal_last) {
            hs_manifest_destroy(m);
            return HS_ECORRUPT;
        }
    }
    m->nclosed = n;
    return HS_OK;
}

int hs_manifest_read(const hs_io_ops *io, const char *dir, hs_manifest *m, hs_error *err)
{
    memset(m, 0, sizeof(*m));
    char path[HS_PATH_MAX];
    if (hs_path(path, sizeof(path), "%s/" HS_MANIFEST_NAME, dir) != HS_OK)
        return hs_error_set(err, HS_ERANGE, "path too long: %s", dir);
    char *data;
    size_t len;
    int rc = hs_file_read(io, path, &data, &len,
                          MAN_FIXED + (size_t)HS_MANIFEST_MAX_CLOSED * MAN_ENTRY + 4, err);
    if (rc != HS_OK)
        return rc;
    rc = hs_manifest_parse((const uint8_t *)data, len, m);
    free(data);
    if (rc != HS_OK)
        return hs_error_set(err, rc, "%s: %s", path,
                            rc == HS_EVERSION ? "unsupported version"
                            : rc == HS_ENOMEM ? "out of memory"
                                              : "damaged (bad magic, length or checksum)");
    return HS_OK;
}

int hs_manifest_encode(const hs_manifest *m, uint8_t **out, size_t *out_len, hs_error *err)
{
    size_t len = MAN_FIXED + m->nclosed * MAN_ENTRY + 4;
    if (m->nclosed > HS_MANIFEST_MAX_CLOSED)
        return hs_error_set(err, HS_EFULL, HS_MANIFEST_NAME ": too many log segments since the "
                            "last checkpoint");
    uint8_t *b = calloc(1, len);
    if (!b)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    memcpy(b, MAN_MAGIC, 8);
    hs_put_le32(b + 8, MAN_VERSION);
    hs_put_le32(b + 12, (uint32_t)m->nclosed);
    hs_put_le64(b + 16, m->ckpt_seq);
    hs_put_le64(b + 24, m->wal_last);
    for (size_t i = 0; i < m->nclosed; i++) {
        hs_put_le64(b + MAN_FIXED + i * MAN_ENTRY, m->closed[i].seq);
        hs_put_le64(b + MAN_FIXED + i * MAN_ENTRY + 8, m->closed[i].len);
    }
    hs_put_le32(b + len - 4, hs_crc32c(0, b, len - 4));
    *out = b;
    *out_len = len;
    return HS_OK;
}

int hs_manifest_write(const hs_io_ops *io, const char *dir, const hs_manifest *m, hs_error *err)
{
    uint8_t *b;
    size_t len;
    int rc = hs_manifest_encode(m, &b, &len, err);
    if (rc != HS_OK)
        return rc;
    rc = hs_file_replace(io, dir, HS_MANIFEST_NAME, b, len, err);
    free(b);
    return rc;
}

int hs_manifest_add_closed(hs_manifest *m, hs_wal_seginfo s)
{
    size_t i = 0;
    while (i < m->nclosed && m->closed[i].seq < s.seq)
        i++;
    if (i < m->nclosed && m->closed[i].seq == s.seq) {
        m->closed[i] = s;
        return HS_OK;
    }
    hs_wal_seginfo *n = realloc(m->closed, (m->nclosed + 1) * sizeof(*n));
    if (!n)
        return HS_ENOMEM;
    m->closed = n;
    memmove(n + i + 1, n + i, (m->nclosed - i) * sizeof(*n));
    n[i] = s;
    m->nclosed++;
    return HS_OK;
}

void hs_manifest_prune(hs_manifest *m, uint64_t seq)
{
    size_t k = 0;
    for (size_t i = 0; i < m->nclosed; i++)
        if (m->closed[i].seq >= seq)
            m->closed[k++] = m->closed[i];
    m->nclosed = k;
}

void hs_manifest_destroy(hs_manifest *m)
{
    free(m->closed);
    m->closed = NULL;
    m->nclosed = 0;
}
