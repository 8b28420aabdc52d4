/*
 * archive.c: the snapshot archive container (format: docs/file-format.md, "Snapshot archive").
 *
 * One stream of bytes holding named entries, written front to back with no seek, so that it can
 * go to a file, a socket or a replication stream alike:
 *
 *   header (32 bytes)  entry ... entry  manifest entry  trailer (32 bytes)
 *
 * Every byte is covered by a checksum: the header and the trailer carry a CRC-32C of themselves,
 * an entry header (with its name) one of itself, an entry's data one after the data.  The
 * manifest, the last entry, lists every entry before it (offset, length, checksum, group, kind,
 * name) and carries the caller's own description (`meta`); the trailer points at it, so a file's
 * manifest can be read without reading the whole file (hs_archive_peek).  A reader
 * (hs_archive_read) checks each checksum as the bytes arrive, that the manifest lists exactly
 * the entries it saw and that the stream ends right after the trailer: a flipped byte anywhere
 * or a cut anywhere is refused, naming the offset.
 *
 * The container knows nothing of what the entries hold: groups, kinds (1..65535; 0 is the
 * manifest) and names are the caller's, and a caller must never use a name as a path without
 * checking it against its own grammar.
 *
 * Locking: none; a writer or a reader is used by one thread.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"
#include "util/bytes.h"
#include "util/crc32c.h"
#include "util/error.h"
#include "util/util.h"

#define ARCH_MAGIC "HSARCH01"
#define ARCH_END_MAGIC "HSARCEND"
#define ARCH_VERSION 1u
#define ENTRY_MAGIC "HSEN"
#define ENTRY_HEADER 32u
#define MANIFEST_VERSION 1u
#define MANIFEST_KIND 0u
#define MANIFEST_GROUP 0xffffffffu
#define MANIFEST_NAME "manifest"
/* the manifest is read into memory: at most this much (about 4 million entries) */
#define MANIFEST_MAX ((uint64_t)256 << 20)
#define MAX_ENTRIES (1u << 24)
#define CHUNK (64u << 10)

/* ---- writing ------------------------------------------------------------------------------- */

struct hs_archive_writer {
    hs_archive_sink sink;
    void *ctx;
    uint64_t off;          /* bytes written so far */
    hs_archive_entry cur;  /* the entry being written */
    bool open;             /* cur is open */
    uint64_t left;         /* data bytes cur still expects */
    uint32_t crc;          /* of cur's data so far */
    hs_archive_entry *list;
    size_t n, cap;
    bool failed;
};

static int put(hs_archive_writer *w, const void *buf, size_t len, hs_error *err)
{
    if (w->failed)
        return hs_error_set(err, HS_EIO, "archive: an earlier write failed");
    int rc = len ? w->sink(w->ctx, buf, len) : 0;
    if (rc < 0) {
        w->failed = true;
        return hs_error_set(err, hs_rc_from_errno(rc), "archive: write failed at offset %" PRIu64
                            ": %s", w->off, strerror(-rc));
    }
    w->off += len;
    return HS_OK;
}

int hs_archive_start(hs_archive_sink sink, void *ctx, uint64_t clock, hs_archive_writer **out,
                     hs_error *err)
{
    *out = NULL;
    hs_archive_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return hs_error_set(err, HS_ENOMEM, "archive: out of memory");
    w->sink = sink;
    w->ctx = ctx;
    uint8_t h[HS_ARCHIVE_HEADER] = {0};
    memcpy(h, ARCH_MAGIC, 8);
    hs_put_le32(h + 8, ARCH_VERSION);
    hs_put_le64(h + 16, clock);
    hs_put_le32(h + 28, hs_crc32c(0, h, 28));
    int rc = put(w, h, sizeof(h), err);
    if (rc != HS_OK) {
        free(w);
        return rc;
    }
    *out = w;
    return HS_OK;
}

static bool name_ok(const char *name, size_t *len)
{
    *len = name ? strlen(name) : 0;
    return *len >= 1 && *len <= HS_ARCHIVE_NAME_MAX;
}

/* The 32-byte entry header (without the name; its checksum covers the name too). */
static void entry_header(uint8_t *h, const hs_archive_entry *e, size_t name_len)
{
    memset(h, 0, ENTRY_HEADER);
    memcpy(h, ENTRY_MAGIC, 4);
    h[4] = (uint8_t)e->kind;
    h[5] = (uint8_t)(e->kind >> 8);
    h[6] = (uint8_t)name_len;
    h[7] = (uint8_t)(name_len >> 8);
    hs_put_le32(h + 8, e->group);
    hs_put_le64(h + 16, e->len);
    uint32_t crc = hs_crc32c(0, h, 28);
    hs_put_le32(h + 28, hs_crc32c(crc, e->name, name_len));
}

static int begin_any(hs_archive_writer *w, uint32_t group, uint16_t kind, const char *name,
                     uint64_t len, hs_error *err)
{
    size_t nl;
    if (w->open)
        return hs_error_set(err, HS_EINVAL, "archive: entry '%s' is still open", w->cur.name);
    if (!name_ok(name, &nl))
        return hs_error_set(err, HS_EINVAL, "archive: an entry name must have 1 to %d bytes",
                            HS_ARCHIVE_NAME_MAX);
    hs_archive_entry *e = &w->cur;
    memset(e, 0, sizeof(*e));
    e->group = group;
    e->kind = kind;
    memcpy(e->name, name, nl + 1);
    e->len = len;
    e->offset = w->off;
    uint8_t h[ENTRY_HEADER];
    entry_header(h, e, nl);
    int rc = put(w, h, sizeof(h), err);
    if (rc == HS_OK)
        rc = put(w, name, nl, err);
    if (rc != HS_OK)
        return rc;
    w->open = true;
    w->left = len;
    w->crc = 0;
    return HS_OK;
}

int hs_archive_entry_begin(hs_archive_writer *w, uint32_t group, uint16_t kind, const char *name,
                           uint64_t len, hs_error *err)
{
    if (kind == MANIFEST_KIND)
        return hs_error_set(err, HS_EINVAL, "archive: kind 0 is the manifest's");
    if (w->n >= MAX_ENTRIES)
        return hs_error_set(err, HS_EFULL, "archive: more than %u entries", MAX_ENTRIES);
    return begin_any(w, group, kind, name, len, err);
}

int hs_archive_entry_data(hs_archive_writer *w, const void *buf, size_t len, hs_error *err)
{
    if (!w->open || len > w->left)
        return hs_error_set(err, HS_EINVAL, "archive: %zu bytes beyond the length of entry '%s'",
                            len, w->cur.name);
    int rc = put(w, buf, len, err);
    if (rc == HS_OK) {
        w->crc = hs_crc32c(w->crc, buf, len);
        w->left -= len;
    }
    return rc;
}

static int end_any(hs_archive_writer *w, hs_error *err)
{
    if (!w->open || w->left)
        return hs_error_set(err, HS_EINVAL, "archive: entry '%s' is %" PRIu64 " bytes short",
                            w->cur.name, w->left);
    uint8_t c[4];
    hs_put_le32(c, w->crc);
    int rc = put(w, c, 4, err);
    if (rc != HS_OK)
        return rc;
    w->open = false;
    w->cur.crc = w->crc;
    return HS_OK;
}

int hs_archive_entry_end(hs_archive_writer *w, hs_error *err)
{
    int rc = end_any(w, err);
    if (rc != HS_OK)
        return rc;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        hs_archive_entry *l = realloc(w->list, cap * sizeof(*l));
        if (!l)
            return hs_error_set(err, HS_ENOMEM, "archive: out of memory");
        w->list = l;
        w->cap = cap;
    }
    w->list[w->n++] = w->cur;
    return HS_OK;
}

/* The manifest's bytes: the entries, then the caller's description. */
static uint8_t *manifest_encode(const hs_archive_writer *w, const void *meta, size_t meta_len,
                                size_t *out_len)
{
    size_t len = 8 + 8 + meta_len;
    for (size_t i = 0; i < w->n; i++)
        len += 32 + strlen(w->list[i].name);
    uint8_t *b = malloc(len), *p = b;
    if (!b)
        return NULL;
    hs_put_le32(p, MANIFEST_VERSION);
    hs_put_le32(p + 4, (uint32_t)w->n);
    p += 8;
    for (size_t i = 0; i < w->n; i++) {
        const hs_archive_entry *e = &w->list[i];
        size_t nl = strlen(e->name);
        hs_put_le64(p, e->offset);
        hs_put_le64(p + 8, e->len);
        hs_put_le32(p + 16, e->crc);
        hs_put_le32(p + 20, e->group);
        hs_put_le32(p + 24, e->kind);
        hs_put_le32(p + 28, (uint32_t)nl);
        memcpy(p + 32, e->name, nl);
        p += 32 + nl;
    }
    hs_put_le64(p, meta_len);
    if (meta_len)
        memcpy(p + 8, meta, meta_len);
    *out_len = len;
    return b;
}

int hs_archive_finish(hs_archive_writer *w, const void *meta, size_t meta_len, uint64_t *total,
                      hs_error *err)
{
    size_t len;
    uint8_t *m = manifest_encode(w, meta, meta_len, &len);
    if (!m)
        return hs_error_set(err, HS_ENOMEM, "archive: out of memory");
    if (len > MANIFEST_MAX) {
        free(m);
        return hs_error_set(err, HS_EFULL, "archive: the manifest would take %zu bytes", len);
    }
    uint64_t at = w->off;
    int rc = begin_any(w, MANIFEST_GROUP, MANIFEST_KIND, MANIFEST_NAME, len, err);
    if (rc == HS_OK)
        rc = hs_archive_entry_data(w, m, len, err);
    if (rc == HS_OK)
        rc = end_any(w, err);
    free(m);
    if (rc != HS_OK)
        return rc;
    uint8_t t[HS_ARCHIVE_TRAILER] = {0};
    memcpy(t, ARCH_END_MAGIC, 8);
    hs_put_le64(t + 8, at);
    hs_put_le64(t + 16, w->off + HS_ARCHIVE_TRAILER);
    hs_put_le32(t + 28, hs_crc32c(0, t, 28));
    rc = put(w, t, sizeof(t), err);
    if (rc == HS_OK && total)
        *total = w->off;
    return rc;
}

void hs_archive_writer_free(hs_archive_writer *w)
{
    if (!w)
        return;
    free(w->list);
    free(w);
}

/* ---- reading ------------------------------------------------------------------------------- */

void hs_archive_toc_free(hs_archive_toc *t)
{
    free(t->entries);
    free(t->meta);
    memset(t, 0, sizeof(*t));
}

static int corrupt(hs_error *err, uint64_t off, const char *what)
{
    return hs_error_set(err, HS_ECORRUPT, "archive: %s at offset %" PRIu64, what, off);
}

static int check_header(const uint8_t *h, uint64_t *clock, hs_error *err)
{
    if (memcmp(h, ARCH_MAGIC, 8) != 0)
        return corrupt(err, 0, "not a snapshot archive (bad magic)");
    if (hs_get_le32(h + 28) != hs_crc32c(0, h, 28))
        return corrupt(err, 0, "header checksum mismatch");
    if (hs_get_le32(h + 8) != ARCH_VERSION)
        return hs_error_set(err, HS_EVERSION, "archive: unsupported version %u",
                            hs_get_le32(h + 8));
    if (hs_get_le32(h + 12) || hs_get_le32(h + 24))
        return corrupt(err, 12, "unknown flags in the header");
    *clock = hs_get_le64(h + 16);
    return HS_OK;
}

/* Decodes an entry header (h: 32 bytes, then the name of nl bytes) at off. */
static int check_entry(const uint8_t *h, const uint8_t *name, uint64_t off, hs_archive_entry *e,
                       hs_error *err)
{
    size_t nl = (size_t)h[6] | (size_t)h[7] << 8;
    uint32_t crc = hs_crc32c(hs_crc32c(0, h, 28), name, nl);
    if (hs_get_le32(h + 28) != crc)
        return corrupt(err, off, "entry header checksum mismatch");
    if (memchr(name, 0, nl))
        return corrupt(err, off, "NUL byte in an entry name");
    memset(e, 0, sizeof(*e));
    e->kind = (uint16_t)(h[4] | h[5] << 8);
    e->group = hs_get_le32(h + 8);
    e->len = hs_get_le64(h + 16);
    e->offset = off;
    memcpy(e->name, name, nl);
    return HS_OK;
}

/* Reads the fixed part of an entry header and returns the name length (checked for range). */
static int entry_fixed(const uint8_t *h, uint64_t off, size_t *nl, hs_error *err)
{
    if (memcmp(h, ENTRY_MAGIC, 4) != 0)
        return corrupt(err, off, "bad entry magic");
    *nl = (size_t)h[6] | (size_t)h[7] << 8;
    if (*nl < 1 || *nl > HS_ARCHIVE_NAME_MAX || hs_get_le32(h + 12) || hs_get_le32(h + 24))
        return corrupt(err, off, "bad entry header");
    return HS_OK;
}

/* Parses the manifest's bytes into t (entries and meta). */
static int manifest_parse(const uint8_t *b, size_t len, uint64_t at, hs_archive_toc *t,
                          hs_error *err)
{
    hs_reader r = hs_reader_of(b, len);
    uint32_t ver, n;
    if (!hs_read_le32(&r, &ver) || !hs_read_le32(&r, &n))
        return corrupt(err, at, "manifest too short");
    if (ver != MANIFEST_VERSION)
        return hs_error_set(err, HS_EVERSION, "archive: unsupported manifest version %u", ver);
    if (n > MAX_ENTRIES || n > hs_reader_left(&r) / 32)
        return corrupt(err, at, "manifest entry count out of range");
    t->entries = calloc(n ? n : 1, sizeof(*t->entries));
    if (!t->entries)
        return hs_error_set(err, HS_ENOMEM, "archive: out of memory");
    for (uint32_t i = 0; i < n; i++) {
        hs_archive_entry *e = &t->entries[i];
        uint32_t kind, nl;
        const uint8_t *name;
        if (!hs_read_le64(&r, &e->offset) || !hs_read_le64(&r, &e->len) ||
            !hs_read_le32(&r, &e->crc) || !hs_read_le32(&r, &e->group) ||
            !hs_read_le32(&r, &kind) || !hs_read_le32(&r, &nl) || kind < 1 || kind > 0xffff ||
            nl < 1 || nl > HS_ARCHIVE_NAME_MAX || !hs_read_span(&r, nl, &name) ||
            memchr(name, 0, nl))
            return corrupt(err, at, "bad manifest entry");
        e->kind = (uint16_t)kind;
        memcpy(e->name, name, nl);
        t->n = i + 1;
    }
    uint64_t ml;
    const uint8_t *meta;
    if (!hs_read_le64(&r, &ml) || ml != hs_reader_left(&r) || !hs_read_span(&r, (size_t)ml, &meta))
        return corrupt(err, at, "bad manifest description length");
    t->meta = malloc(ml ? (size_t)ml : 1);
    if (!t->meta)
        return hs_error_set(err, HS_ENOMEM, "archive: out of memory");
    if (ml)
        memcpy(t->meta, meta, (size_t)ml);
    t->meta_len = (size_t)ml;
    return HS_OK;
}

static int check_trailer(const uint8_t *tr, uint64_t off, uint64_t *manifest_at, uint64_t *total,
                         hs_error *err)
{
    if (memcmp(tr, ARCH_END_MAGIC, 8) != 0)
        return corrupt(err, off, "bad trailer magic");
    if (hs_get_le32(tr + 28) != hs_crc32c(0, tr, 28))
        return corrupt(err, off, "trailer checksum mismatch");
    if (hs_get_le32(tr + 24))
        return corrupt(err, off, "bad trailer");
    *manifest_at = hs_get_le64(tr + 8);
    *total = hs_get_le64(tr + 16);
    return HS_OK;
}

/* A buffered reader over the source, counting offsets. */
typedef struct rd {
    hs_archive_source src;
    void *ctx;
    uint8_t *buf;
    size_t have, at; /* buf[at, have) not consumed yet */
    uint64_t off;    /* offset of buf[at] in the archive */
    bool eof;
} rd;

/* Reads the next chunk from the source once everything buffered is consumed. */
static int refill(rd *r, hs_error *err)
{
    r->at = r->have = 0;
    if (r->eof)
        return HS_OK;
    long n = r->src(r->ctx, r->buf, CHUNK);
    if (n < 0)
        return hs_error_set(err, hs_rc_from_errno((int)n), "archive: read failed at offset %"
                            PRIu64 ": %s", r->off, strerror((int)-n));
    if (n == 0)
        r->eof = true;
    r->have = (size_t)HS_MIN((uint64_t)n, (uint64_t)CHUNK);
    return HS_OK;
}

/* Reads exactly len bytes (HS_ECORRUPT naming the offset when the stream ends first). */
static int take(rd *r, void *out, size_t len, const char *what, hs_error *err)
{
    uint8_t *o = out;
    while (len) {
        if (r->at == r->have) {
            if (r->eof)
                return hs_error_set(err, HS_ECORRUPT, "archive: truncated at offset %" PRIu64
                                    " (in %s)", r->off, what);
            int rc = refill(r, err);
            if (rc != HS_OK)
                return rc;
            continue;
        }
        size_t k = HS_MIN(len, r->have - r->at);
        memcpy(o, r->buf + r->at, k);
        o += k;
        r->at += k;
        r->off += k;
        len -= k;
    }
    return HS_OK;
}

/* Streams an entry's data to the visitor and checks its checksum. */
static int entry_data(rd *r, const hs_archive_visitor *v, hs_archive_entry *e, hs_error *err)
{
    uint8_t *chunk = malloc(CHUNK);
    if (!chunk)
        return hs_error_set(err, HS_ENOMEM, "archive: out of memory");
    uint32_t crc = 0;
    uint64_t left = e->len;
    int rc = HS_OK;
    while (left && rc == HS_OK) {
        size_t k = (size_t)HS_MIN(left, (uint64_t)CHUNK);
        rc = take(r, chunk, k, e->name, err);
        if (rc == HS_OK) {
            crc = hs_crc32c(crc, chunk, k);
            left -= k;
            if (v && v->data)
                rc = v->data(v->ctx, chunk, k, err);
        }
    }
    free(chunk);
    uint8_t c[4];
    if (rc == HS_OK)
        rc = take(r, c, 4, e->name, err);
    if (rc == HS_OK && hs_get_le32(c) != crc)
        rc = hs_error_set(err, HS_ECORRUPT, "archive: checksum mismatch in the data of entry "
                          "'%s' (offset %" PRIu64 ")", e->name, e->offset);
    e->crc = crc;
    return rc;
}

static bool same_entry(const hs_archive_entry *a, const hs_archive_entry *b)
{
    return a->offset == b->offset && a->len == b->len && a->crc == b->crc &&
           a->group == b->group && a->kind == b->kind && !strcmp(a->name, b->name);
}

/* The manifest entry (its header e read), the trailer and the end of the stream. */
static int read_manifest(rd *r, hs_archive_entry *e, const hs_archive_entry *seen, size_t nseen,
                         hs_archive_toc *t, hs_error *err)
{
    if (e->group != MANIFEST_GROUP || strcmp(e->name, MANIFEST_NAME) || e->len < 16 ||
        e->len > MANIFEST_MAX)
        return corrupt(err, e->offset, "bad manifest entry");
    uint8_t *m = malloc((size_t)e->len);
    if (!m)
        return hs_error_set(err, HS_ENOMEM, "archive: out of memory");
    uint32_t crc;
    uint8_t c[4];
    int rc = take(r, m, (size_t)e->len, "the manifest", err);
    if (rc == HS_OK && (rc = take(r, c, 4, "the manifest", err)) == HS_OK &&
        hs_get_le32(c) != (crc = hs_crc32c(0, m, (size_t)e->len)))
        rc = corrupt(err, e->offset, "manifest checksum mismatch");
    if (rc == HS_OK)
        rc = manifest_parse(m, (size_t)e->len, e->offset, t, err);
    free(m);
    if (rc == HS_OK && t->n != nseen)
        rc = corrupt(err, e->offset, "the manifest does not list the entries the archive holds");
    for (size_t i = 0; rc == HS_OK && i < nseen; i++)
        if (!same_entry(&t->entries[i], &seen[i]))
            rc = corrupt(err, seen[i].offset, "entry differs from its manifest record");
    uint8_t tr[HS_ARCHIVE_TRAILER];
    uint64_t at, total;
    uint64_t toff = r->off;
    if (rc == HS_OK)
        rc = take(r, tr, sizeof(tr), "the trailer", err);
    if (rc == HS_OK)
        rc = check_trailer(tr, toff, &at, &total, err);
    if (rc == HS_OK && (at != e->offset || total != r->off))
        rc = corrupt(err, toff, "the trailer does not match the archive");
    if (rc == HS_OK && r->at == r->have)
        rc = refill(r, err);
    if (rc == HS_OK && r->at != r->have)
        rc = corrupt(err, r->off, "bytes after the trailer");
    if (rc == HS_OK)
        t->total = total;
    return rc;
}

int hs_archive_read(hs_archive_source src, void *ctx, const hs_archive_visitor *v,
                    hs_archive_toc *t, hs_error *err)
{
    memset(t, 0, sizeof(*t));
    rd r = {src, ctx, malloc(CHUNK), 0, 0, 0, false};
    if (!r.buf)
        return hs_error_set(err, HS_ENOMEM, "archive: out of memory");
    hs_archive_entry *seen = NULL;
    size_t nseen = 0, cap = 0;
    uint8_t h[HS_ARCHIVE_HEADER];
    int rc = take(&r, h, sizeof(h), "the header", err);
    if (rc == HS_OK)
        rc = check_header(h, &t->clock, err);
    while (rc == HS_OK) {
        uint64_t off = r.off;
        uint8_t eh[ENTRY_HEADER], name[HS_ARCHIVE_NAME_MAX];
        size_t nl = 0;
        hs_archive_entry e;
        rc = take(&r, eh, sizeof(eh), "an entry header", err);
        if (rc == HS_OK)
            rc = entry_fixed(eh, off, &nl, err);
        if (rc == HS_OK)
            rc = take(&r, name, nl, "an entry name", err);
        if (rc == HS_OK)
            rc = check_entry(eh, name, off, &e, err);
        if (rc != HS_OK)
            break;
        if (e.kind == MANIFEST_KIND) {
            rc = read_manifest(&r, &e, seen, nseen, t, err);
            break;
        }
        if (nseen == MAX_ENTRIES) {
            rc = corrupt(err, off, "too many entries");
            break;
        }
        if (nseen == cap) {
            cap = cap ? 2 * cap : 64;
            hs_archive_entry *l = realloc(seen, cap * sizeof(*l));
            if (!l) {
                rc = hs_error_set(err, HS_ENOMEM, "archive: out of memory");
                break;
            }
            seen = l;
        }
        if (v && v->begin && (rc = v->begin(v->ctx, &e, err)) != HS_OK)
            break;
        rc = entry_data(&r, v, &e, err);
        if (rc == HS_OK && v && v->end)
            rc = v->end(v->ctx, &e, err);
        seen[nseen++] = e;
    }
    free(seen);
    free(r.buf);
    if (rc != HS_OK)
        hs_archive_toc_free(t);
    return rc;
}

int hs_archive_peek(hs_archive_pread fn, void *ctx, uint64_t size, hs_archive_toc *t,
                    hs_error *err)
{
    memset(t, 0, sizeof(*t));
    uint8_t h[HS_ARCHIVE_HEADER], tr[HS_ARCHIVE_TRAILER], eh[ENTRY_HEADER];
    uint8_t name[HS_ARCHIVE_NAME_MAX];
    if (size < HS_ARCHIVE_HEADER + ENTRY_HEADER + HS_ARCHIVE_TRAILER)
        return hs_error_set(err, HS_ECORRUPT, "archive: truncated (%" PRIu64 " bytes)", size);
    long n = fn(ctx, h, sizeof(h), 0);
    if (n != (long)sizeof(h))
        return hs_error_set(err, HS_EIO, "archive: cannot read the header");
    int rc = check_header(h, &t->clock, err);
    uint64_t toff = size - HS_ARCHIVE_TRAILER, at = 0, total = 0;
    if (rc == HS_OK && fn(ctx, tr, sizeof(tr), toff) != (long)sizeof(tr))
        rc = hs_error_set(err, HS_EIO, "archive: cannot read the trailer");
    if (rc == HS_OK)
        rc = check_trailer(tr, toff, &at, &total, err);
    if (rc == HS_OK && total != size)
        rc = hs_error_set(err, HS_ECORRUPT, "archive: truncated or extended (%" PRIu64
                          " bytes, the trailer says %" PRIu64 ")", size, total);
    if (rc == HS_OK && (at < HS_ARCHIVE_HEADER || at > toff - ENTRY_HEADER))
        rc = corrupt(err, toff, "the trailer points outside the archive");
    size_t nl = 0;
    if (rc == HS_OK && fn(ctx, eh, sizeof(eh), at) != (long)sizeof(eh))
        rc = hs_error_set(err, HS_EIO, "archive: cannot read the manifest");
    if (rc == HS_OK)
        rc = entry_fixed(eh, at, &nl, err);
    if (rc == HS_OK && fn(ctx, name, nl, at + ENTRY_HEADER) != (long)nl)
        rc = hs_error_set(err, HS_EIO, "archive: cannot read the manifest");
    hs_archive_entry e;
    if (rc == HS_OK)
        rc = check_entry(eh, name, at, &e, err);
    uint64_t data = at + ENTRY_HEADER + nl;
    if (rc == HS_OK && (e.kind != MANIFEST_KIND || e.group != MANIFEST_GROUP ||
                        strcmp(e.name, MANIFEST_NAME) || e.len > MANIFEST_MAX ||
                        data + e.len + 4 != toff))
        rc = corrupt(err, at, "bad manifest entry");
    uint8_t *m = rc == HS_OK ? malloc((size_t)e.len + 4) : NULL;
    if (rc == HS_OK && !m)
        rc = hs_error_set(err, HS_ENOMEM, "archive: out of memory");
    if (rc == HS_OK && fn(ctx, m, (size_t)e.len + 4, data) != (long)(e.len + 4))
        rc = hs_error_set(err, HS_EIO, "archive: cannot read the manifest");
    if (rc == HS_OK && hs_get_le32(m + e.len) != hs_crc32c(0, m, (size_t)e.len))
        rc = corrupt(err, at, "manifest checksum mismatch");
    if (rc == HS_OK)
        rc = manifest_parse(m, (size_t)e.len, at, t, err);
    free(m);
    /* the entries tile the archive between the header and the manifest */
    uint64_t next = HS_ARCHIVE_HEADER;
    for (size_t i = 0; rc == HS_OK && i < t->n; i++) {
        const hs_archive_entry *x = &t->entries[i];
        if (x->offset != next || x->len > at)
            rc = corrupt(err, at, "the manifest's entries do not tile the archive");
        else
            next = x->offset + ENTRY_HEADER + strlen(x->name) + x->len + 4;
    }
    if (rc == HS_OK && next != at)
        rc = corrupt(err, at, "the manifest's entries do not tile the archive");
    if (rc == HS_OK)
        t->total = total;
    else
        hs_archive_toc_free(t);
    return rc;
}
