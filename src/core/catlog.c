/*
 * catlog.c: the node's catalog file, `<root>/.catalog` (format: docs/file-format.md), which
 * lets a database with 100,000 collections open without touching each collection's files.
 *
 * It is a log of records, each with its CRC-32C:
 *   CLEAN  a collection's parameters and figures (points, deleted, clock, bytes on disk), true
 *          while nothing follows it for that collection: its files hold exactly what the
 *          figures say (written when it is created, unloaded, or the database closes);
 *   DIRTY  the collection is about to change: appended and fsynced before its first log
 *          record after a CLEAN (so a CLEAN that no longer holds is always followed by a
 *          durable DIRTY);
 *   GONE   the collection was dropped.
 * A CLEAN needs no fsync: if it is lost, the DIRTY before it (or nothing) stays in force and
 * the collection is read from its own files, as every collection was before this file existed.
 *
 * Opening: read the records (up to the first bad one: a torn tail), then list the directories
 * (one readdir per tenant and bucket, no file opened): a collection directory with a CLEAN
 * record for that path is taken from the record; any other (DIRTY, no record, another path) is
 * read from its files (collection.json, the newest checkpoint's STATE, the log's record
 * headers); records without a directory are dropped collections.  Then the file is rewritten
 * as one CLEAN per clean collection (temporary file, fsync, rename) and reopened for appending.
 * A failed catalog write never fails an operation except DIRTY's (the write waits for it; when
 * it cannot be made durable the write fails with HS_EIO and nothing is logged).
 *
 * Locking: db->cat_mu guards the file, its length and every e->cat_clean / cat_fresh; it is the innermost
 * lock (taken under db->lock or a collection's wlock, nothing taken inside it).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "util/bytes.h"
#include "util/crc32c.h"
#include "util/error.h"
#include "util/log.h"

#define CAT_MAGIC "HSCATL01"
#define CAT_HEADER 16
#define CAT_MAX ((size_t)1 << 32) /* a larger file is not read (the directories are) */

enum { CAT_CLEAN = 1, CAT_DIRTY = 2, CAT_GONE = 3 };
#define CAT_FLAG_FROZEN 1u /* a CLEAN's optional trailing u32 of flags */
#define CAT_FLAG_SID 2u    /* the collection uses string ids (hs_collection_config.id_type) */
#define CAT_FLAG_OVS 4u    /* a u32 follows the flags: hs_collection_config.oversampling x 100 */

/* ---- records ------------------------------------------------------------------------------ */

typedef struct rec {
    uint8_t buf[8 + 1 + 2 * (1 + HS_NAME_MAX) + 2 + HS_PATH_MAX + 128];
    size_t len;
} rec;

static void put_name(rec *r, const char *s)
{
    size_t n = strlen(s);
    r->buf[r->len++] = (uint8_t)n;
    memcpy(r->buf + r->len, s, n);
    r->len += n;
}

static void put32(rec *r, uint32_t v)
{
    hs_put_le32(r->buf + r->len, v);
    r->len += 4;
}

static void put64(rec *r, uint64_t v)
{
    hs_put_le64(r->buf + r->len, v);
    r->len += 8;
}

static void rec_begin(rec *r, uint8_t type, const centry *e)
{
    r->len = 8;
    r->buf[r->len++] = type;
    put_name(r, e->tenant);
    put_name(r, e->name);
}

static void rec_end(rec *r)
{
    hs_put_le32(r->buf, (uint32_t)(r->len - 8));
    hs_put_le32(r->buf + 4, hs_crc32c(0, r->buf + 8, r->len - 8));
}

/* A CLEAN record of e; rel is e->dir relative to the root. */
static void rec_clean(rec *r, const hs_db *db, const centry *e)
{
    rec_begin(r, CAT_CLEAN, e);
    const char *rel = e->dir + strlen(db->root) + 1;
    size_t n = strlen(rel);
    r->buf[r->len++] = (uint8_t)(n & 0xff);
    r->buf[r->len++] = (uint8_t)(n >> 8);
    memcpy(r->buf + r->len, rel, n);
    r->len += n;
    put32(r, e->format);
    put64(r, e->created_clock);
    const hs_collection_config *c = &e->config;
    put32(r, c->dimension);
    put32(r, (uint32_t)c->metric);
    put32(r, (uint32_t)c->quantization);
    put32(r, c->m);
    put32(r, c->ef_construction);
    put32(r, c->ef_search);
    put64(r, e->cold_count);
    put64(r, e->cold_deleted);
    put64(r, e->cold_clock);
    put64(r, e->cold_disk);
    uint32_t flags = (__atomic_load_n(&e->frozen, __ATOMIC_ACQUIRE) ? CAT_FLAG_FROZEN : 0) |
                     (c->id_type == HS_ID_STRING ? CAT_FLAG_SID : 0) |
                     (c->oversampling > 0 ? CAT_FLAG_OVS : 0);
    if (flags)
        put32(r, flags); /* the flags, only when one is set */
    if (flags & CAT_FLAG_OVS) /* kept to hundredths by hs_db_check_config */
        put32(r, (uint32_t)lround(c->oversampling * 100.0));
    rec_end(r);
}

/* Appends r at the end of the file; fsyncs when `sync`.  cat_mu held. */
static int append_locked(hs_db *db, const rec *r, bool sync)
{
    if (db->cat_fd < 0)
        return -EBADF;
    long n = db->io->pwrite(db->io->ctx, db->cat_fd, r->buf, r->len, db->cat_len);
    if (n != (long)r->len) {
        /* a partial record is a torn tail: the next open stops there and rewrites the file */
        return n < 0 ? (int)n : -EIO;
    }
    db->cat_len += r->len;
    return sync ? db->io->fsync(db->io->ctx, db->cat_fd) : 0;
}

void hs_catlog_clean_locked(hs_db *db, centry *e)
{
    if (e->state == CE_FAILED || e->t == NULL)
        return;
    rec r;
    rec_clean(&r, db, e);
    pthread_mutex_lock(&db->cat_mu);
    if (append_locked(db, &r, false) == 0)
        e->cat_clean = true;
    e->cat_fresh = false;
    pthread_mutex_unlock(&db->cat_mu);
}

void hs_catlog_fresh_locked(hs_db *db, centry *e)
{
    pthread_mutex_lock(&db->cat_mu);
    e->cat_fresh = true;
    pthread_mutex_unlock(&db->cat_mu);
}

int hs_catlog_dirty(hs_db *db, centry *e, hs_error *err)
{
    pthread_mutex_lock(&db->cat_mu);
    int rc = 0;
    e->cat_fresh = false; /* no record says it is clean: nothing to contradict */
    if (e->cat_clean) {
        rec r;
        rec_begin(&r, CAT_DIRTY, e);
        rec_end(&r);
        rc = append_locked(db, &r, true);
        if (rc == 0)
            e->cat_clean = false;
    }
    pthread_mutex_unlock(&db->cat_mu);
    if (rc < 0)
        return hs_error_set(err, HS_EIO, "%s/.catalog: cannot record a change of collection "
                            "'%s': %s", db->root, e->name, strerror(-rc));
    return HS_OK;
}

void hs_catlog_gone(hs_db *db, centry *e)
{
    rec r;
    rec_begin(&r, CAT_GONE, e);
    rec_end(&r);
    pthread_mutex_lock(&db->cat_mu);
    append_locked(db, &r, false);
    e->cat_clean = false;
    pthread_mutex_unlock(&db->cat_mu);
}

/* ---- reading ------------------------------------------------------------------------------ */

static bool get_name(hs_reader *rd, char *out)
{
    uint8_t n;
    const uint8_t *p;
    if (!hs_read_bytes(rd, &n, 1) || n == 0 || n > HS_NAME_MAX || !hs_read_span(rd, n, &p))
        return false;
    memcpy(out, p, n);
    out[n] = 0;
    return true;
}

/* Applies one record (its body: type onwards) to the catalog being built.  False: a record
 * that does not parse (the caller treats it as the end of the usable log). */
static bool apply(hs_db *db, const uint8_t *b, size_t len)
{
    hs_reader rd = hs_reader_of(b, len);
    uint8_t type;
    char tenant[HS_NAME_MAX + 1], name[HS_NAME_MAX + 1];
    if (!hs_read_bytes(&rd, &type, 1) || !get_name(&rd, tenant) || !get_name(&rd, name) ||
        hs_check_names(tenant, name, NULL) != HS_OK)
        return false;
    centry *e = hs_db_find_locked(db, tenant, name);
    if (type == CAT_DIRTY || type == CAT_GONE) {
        if (e) {
            hs_cat_remove_locked(db, e);
            hs_centry_free(e);
        }
        return hs_reader_left(&rd) == 0;
    }
    if (type != CAT_CLEAN)
        return false;
    uint8_t dl2[2];
    const uint8_t *dir;
    uint32_t format, cfg[6];
    uint64_t created, fig[4];
    if (!hs_read_bytes(&rd, dl2, 2))
        return false;
    size_t dl = (size_t)dl2[0] | (size_t)dl2[1] << 8;
    if (dl == 0 || !hs_read_span(&rd, dl, &dir) || memchr(dir, 0, dl) ||
        !hs_read_le32(&rd, &format) || !hs_read_le64(&rd, &created) ||
        !hs_read_le32_array(&rd, cfg, 6))
        return false;
    for (int i = 0; i < 4; i++)
        if (!hs_read_le64(&rd, &fig[i]))
            return false;
    uint32_t flags = 0, ovs = 0;
    if (hs_reader_left(&rd) >= 4 &&
        (!hs_read_le32(&rd, &flags) ||
         (flags & ~(CAT_FLAG_FROZEN | CAT_FLAG_SID | CAT_FLAG_OVS))))
        return false;
    if ((flags & CAT_FLAG_OVS) &&
        (!hs_read_le32(&rd, &ovs) || ovs < 100 || ovs > HS_OVERSAMPLING_MAX * 100))
        return false;
    char path[HS_PATH_MAX];
    if (hs_reader_left(&rd) != 0 ||
        hs_path(path, sizeof(path), "%s/%.*s", db->root, (int)dl, (const char *)dir) != HS_OK)
        return false;
    if (!e) {
        e = calloc(1, sizeof(*e));
        if (!e)
            return false;
        memcpy(e->tenant, tenant, sizeof(tenant));
        memcpy(e->name, name, sizeof(name));
        if (hs_cat_insert_locked(db, e) != HS_OK) {
            hs_centry_free(e);
            return false;
        }
    }
    if (hs_centry_set(&e->dir, path) != HS_OK) {
        hs_cat_remove_locked(db, e);
        hs_centry_free(e);
        return false;
    }
    e->format = format;
    e->created_clock = created;
    e->config.dimension = cfg[0];
    e->config.metric = (hs_metric)cfg[1];
    e->config.quantization = (hs_quantization)cfg[2];
    e->config.m = cfg[3];
    e->config.ef_construction = cfg[4];
    e->config.ef_search = cfg[5];
    e->config.id_type = flags & CAT_FLAG_SID ? HS_ID_STRING : HS_ID_INTEGER;
    e->config.oversampling = ovs / 100.0;
    hs_cat_set_cold_locked(e, fig[0], fig[1], fig[3]);
    e->cold_clock = fig[2];
    __atomic_store_n(&e->frozen, (flags & CAT_FLAG_FROZEN) != 0, __ATOMIC_RELEASE);
    e->state = CE_COLD;
    e->cat_clean = true;
    e->seen = false;
    return true;
}

/* Reads the records into the catalog; returns how many were used. */
static size_t read_log(hs_db *db, const char *path)
{
    char *data;
    size_t len;
    hs_error err;
    if (hs_file_read(db->io, path, &data, &len, CAT_MAX, &err) != HS_OK)
        return 0; /* missing (a new database, or one from before this file): the directories */
    const uint8_t *b = (const uint8_t *)data;
    size_t off = CAT_HEADER, used = 0;
    if (len < CAT_HEADER || memcmp(b, CAT_MAGIC, 8) != 0 || hs_get_le32(b + 8) != 1 ||
        hs_get_le32(b + 12) != hs_crc32c(0, b, 12)) {
        hs_log(HS_LOG_WARN, "%s: not a catalog of this version; reading every collection's "
               "files instead", path);
        off = len;
    }
    while (off + 8 <= len) {
        uint32_t rl = hs_get_le32(b + off), crc = hs_get_le32(b + off + 4);
        if (rl == 0 || rl > len - off - 8 || hs_crc32c(0, b + off + 8, rl) != crc ||
            !apply(db, b + off + 8, rl))
            break;
        off += 8 + rl;
        used++;
    }
    if (off != len)
        hs_log(HS_LOG_WARN, "%s: %zu bytes after offset %zu are not a valid record (a torn "
               "tail); those collections are read from their files", path, len - off, off);
    free(data);
    return used;
}

/* ---- writing a fresh file ----------------------------------------------------------------- */

/* Writes one CLEAN per clean entry into `.catalog` (temporary file, fsync, rename, directory
 * fsync) and leaves it open for appending.  db->lock held (or no other thread). */
int hs_catlog_rewrite_locked(hs_db *db, hs_error *err)
{
    size_t cap = 1 << 20, len = CAT_HEADER;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    memcpy(buf, CAT_MAGIC, 8);
    hs_put_le32(buf + 8, 1);
    hs_put_le32(buf + 12, hs_crc32c(0, buf, 12));
    pthread_mutex_lock(&db->cat_mu);
    for (centry *e = db->entries; e; e = e->next) {
        if ((!e->cat_clean && !(e->cat_fresh && e->state == CE_COLD)) || e->state == CE_FAILED)
            continue;
        /* a fresh collection gets its record now: a change must then be preceded by a DIRTY */
        e->cat_clean = true;
        e->cat_fresh = false;
        rec r;
        rec_clean(&r, db, e);
        if (len + r.len > cap) {
            uint8_t *n = realloc(buf, cap * 2);
            if (!n) {
                pthread_mutex_unlock(&db->cat_mu);
                free(buf);
                return hs_error_set(err, HS_ENOMEM, "Out of memory");
            }
            buf = n;
            cap *= 2;
        }
        memcpy(buf + len, r.buf, r.len);
        len += r.len;
    }
    if (db->cat_fd >= 0)
        db->io->close(db->io->ctx, db->cat_fd);
    db->cat_fd = -1;
    int rc = hs_file_replace(db->io, db->root, ".catalog", buf, len, err);
    free(buf);
    if (rc == HS_OK) {
        char path[HS_PATH_MAX];
        hs_path(path, sizeof(path), "%s/.catalog", db->root);
        int fd = db->io->open(db->io->ctx, path, O_RDWR, 0);
        if (fd < 0) {
            rc = hs_error_set(err, hs_rc_from_errno(fd), "%s: %s", path, strerror(-fd));
        } else {
            db->cat_fd = fd;
            db->cat_len = len;
        }
    }
    if (rc != HS_OK) {
        /* no usable file: the old one must not be trusted at the next open (which then reads
         * every collection's files), and no record can be appended, so nothing is clean */
        char path[HS_PATH_MAX];
        hs_path(path, sizeof(path), "%s/.catalog", db->root);
        db->io->unlink(db->io->ctx, path);
        db->io->fsync_dir(db->io->ctx, db->root);
        for (centry *e = db->entries; e; e = e->next)
            e->cat_clean = e->cat_fresh = false;
    }
    pthread_mutex_unlock(&db->cat_mu);
    return rc;
}

/* Rewrites the file when its records have grown past four times what a fresh file would hold
 * (and 16 MiB): every unload appends a CLEAN, so a long-running node would otherwise grow it
 * without bound.  The rewrite holds db->lock (about 12 MB written at 100,000 collections, once
 * per several hundred thousand unloads).  Called by the sweeper without db->lock. */
void hs_catlog_compact(hs_db *db)
{
    pthread_mutex_lock(&db->lock);
    pthread_mutex_lock(&db->cat_mu);
    uint64_t len = db->cat_len, fresh = CAT_HEADER + (uint64_t)db->nentries * 128;
    pthread_mutex_unlock(&db->cat_mu);
    if (len > ((uint64_t)16 << 20) && len > 4 * fresh) {
        hs_error err;
        if (hs_catlog_rewrite_locked(db, &err) != HS_OK)
            hs_log(HS_LOG_WARN, "catalog: rewrite failed: %s (the file keeps growing; it is "
                   "rewritten at the next open)", err.message);
    }
    pthread_mutex_unlock(&db->lock);
}

/* ---- opening ------------------------------------------------------------------------------ */

typedef struct scan_ctx {
    hs_db *db;
    const char *tenant;
    const char *dir; /* the directory being listed */
    bool top;        /* the tenant's directory (buckets and collections), else a bucket */
    int rc;
    size_t slow;
} scan_ctx;

/* A collection directory: taken from its CLEAN record when it names this path, else read from
 * its files (hs_db_scan_collection). */
static int found_collection(scan_ctx *s, const char *name, const char *path)
{
    hs_db *db = s->db;
    centry *e = hs_db_find_locked(db, s->tenant, name);
    if (e && !e->seen && e->cat_clean && !strcmp(e->dir, path)) {
        e->seen = true;
        return 0;
    }
    if (e) { /* another path, or a second directory of the same name: the files decide */
        if (e->seen) {
            hs_log(HS_LOG_ERROR, "collection '%s' (tenant '%s') has two directories: %s and %s; "
                   "the second is ignored", name, s->tenant, e->dir, path);
            return 0;
        }
        hs_cat_remove_locked(db, e);
        hs_centry_free(e);
    }
    s->slow++;
    int rc = hs_db_scan_collection(db, s->tenant, name, path);
    if (rc != HS_OK) {
        s->rc = rc;
        return 1;
    }
    return 0;
}

static int scan_entry(void *arg, const char *name)
{
    scan_ctx *s = arg;
    char path[HS_PATH_MAX];
    if (hs_path(path, sizeof(path), "%s/%s", s->dir, name) != HS_OK)
        return 0;
    if (name[0] == '.') {
        if (!strncmp(name, ".new-", 5) || !strncmp(name, ".trash-", 7))
            hs_remove_tree(s->db->io, path); /* an interrupted create or drop */
        return 0;
    }
    if (s->top && hs_bucket_name_ok(name)) {
        scan_ctx b = *s;
        b.dir = path;
        b.top = false;
        s->db->io->list(s->db->io->ctx, path, scan_entry, &b);
        s->slow = b.slow;
        s->rc = b.rc;
        return b.rc != HS_OK;
    }
    if (hs_name_check(HS_FIELD_COLLECTION, name, NULL) != HS_OK)
        return 0;
    return found_collection(s, name, path);
}

static int scan_tenant(void *arg, const char *name)
{
    scan_ctx *s = arg;
    if (hs_name_check(HS_FIELD_TENANT, name, NULL) != HS_OK)
        return 0;
    char path[HS_PATH_MAX];
    if (hs_path(path, sizeof(path), "%s/%s", s->db->root, name) != HS_OK)
        return 0;
    scan_ctx t = {s->db, name, path, true, HS_OK, s->slow};
    int rc = s->db->io->list(s->db->io->ctx, path, scan_entry, &t);
    s->slow = t.slow;
    if (rc == -ENOTDIR)
        return 0;
    s->rc = t.rc;
    return t.rc != HS_OK;
}

static void drop_unseen_locked(hs_db *db)
{
    for (centry *e = db->entries, *n; e; e = n) {
        n = e->next;
        if (!e->seen) {
            hs_cat_remove_locked(db, e);
            hs_centry_free(e);
        }
    }
}

int hs_catlog_open(hs_db *db, hs_error *err)
{
    char path[HS_PATH_MAX];
    if (hs_path(path, sizeof(path), "%s/.catalog", db->root) != HS_OK)
        return hs_error_set(err, HS_ERANGE, "path too long");
    pthread_mutex_lock(&db->lock);
    size_t used = read_log(db, path);
    scan_ctx s = {db, NULL, db->root, false, HS_OK, 0};
    int lrc = db->io->list(db->io->ctx, db->root, scan_tenant, &s);
    int rc = HS_OK;
    if (lrc < 0)
        rc = hs_error_set(err, HS_EIO, "%s: %s", db->root, strerror(-lrc));
    else if (s.rc != HS_OK)
        rc = hs_error_set(err, s.rc, "cannot read the collections: %s", hs_rc_message(s.rc));
    if (rc == HS_OK) {
        drop_unseen_locked(db);
        if (used || s.slow)
            hs_log(HS_LOG_INFO, "catalog: %zu collections, %zu from the catalog file, %zu read "
                   "from their files", db->nentries, db->nentries - s.slow, s.slow);
        /* a file that cannot be written (a full disk, say) must not keep the database from
         * opening: the failed rewrite removes the old file and marks nothing clean, so the
         * next open reads every collection's files, as without the file */
        hs_error werr;
        if (hs_catlog_rewrite_locked(db, &werr) != HS_OK)
            hs_log(HS_LOG_WARN, "catalog: %s (working without the catalog file)", werr.message);
    }
    pthread_mutex_unlock(&db->lock);
    return rc;
}
