/*
 * drops.c: the drops a node remembers for change readers (db->drops: the latest HS_DROP_NOTES,
 * each the incarnation dropped, its last change and the drop's clock) and their file
 * <root>/.drops (docs/file-format.md, "Drop notes"), so that readers learn of drops made before
 * a restart: a collection's reader ends with its drop, the node-wide reader delivers it.
 *
 * The file is a sequence of checksummed records: a HORIZON (the highest clock of a drop no
 * longer noted: a node-wide reader from below it has lost a drop, HS_ETRUNCATED) and one NOTE
 * per drop, appended and fsynced by the drop itself before it is visible (a drop is rare and
 * already costs directory fsyncs).  At open the file is read up to its first record that does
 * not check out (a torn append), the latest notes are kept, and it is rewritten (atomic replace)
 * with the horizon and those notes; it is rewritten again once it holds twice as many records.
 * A drop whose note is in the file but whose collection is still there (a crash between the
 * note and the removal of its directory) is finished at open (db.c), so a noted drop always
 * happened.
 *
 * Locking: db->lock guards the notes, the horizon and the file's descriptor (the append and its
 * fsync run under it, as a drop's directory operations do).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "util/bytes.h"
#include "util/crc32c.h"
#include "util/error.h"
#include "util/log.h"

#define DROPS_FILE ".drops"
#define DROPS_MAX_BYTES (64u << 20) /* far above 2 x HS_DROP_NOTES records of ~160 bytes */
enum { REC_NOTE = 1, REC_HORIZON = 2, REC_KEPT = 3 };

/* Encodes one record at p ([u32 body length][u32 crc32c of the body][body]); returns its
 * length (at most 8 + 1 + 24 + 2 + 2 x HS_NAME_MAX bytes). */
static size_t encode_note(uint8_t *p, const struct hs_drop_note *d)
{
    uint8_t *b = p + 8;
    size_t tl = strlen(d->tenant), nl = strlen(d->name);
    b[0] = REC_NOTE;
    hs_put_le64(b + 1, d->created);
    hs_put_le64(b + 9, d->last);
    hs_put_le64(b + 17, d->dropped);
    b[25] = (uint8_t)tl;
    memcpy(b + 26, d->tenant, tl);
    b[26 + tl] = (uint8_t)nl;
    memcpy(b + 27 + tl, d->name, nl);
    size_t len = 27 + tl + nl;
    hs_put_le32(p, (uint32_t)len);
    hs_put_le32(p + 4, hs_crc32c(0, b, len));
    return 8 + len;
}

static size_t encode_horizon(uint8_t *p, int type, uint64_t horizon)
{
    p[8] = (uint8_t)type;
    hs_put_le64(p + 9, horizon);
    hs_put_le32(p, 9);
    hs_put_le32(p + 4, hs_crc32c(0, p + 8, 9));
    return 17;
}

#define REC_MAX (8 + 27 + 2 * HS_NAME_MAX)

/* Adds a note to the ring; the one it replaces raises the horizon. */
static void remember_locked(hs_db *db, const struct hs_drop_note *n)
{
    struct hs_drop_note *d = &db->drops[db->ndrops % HS_DROP_NOTES];
    if (db->ndrops >= HS_DROP_NOTES && d->dropped > db->drop_horizon)
        db->drop_horizon = d->dropped;
    if (db->ndrops >= HS_DROP_NOTES && d->dropped > db->drop_kept_horizon)
        db->drop_kept_horizon = d->dropped;
    *d = *n;
    db->ndrops++;
}

/* The notes kept, oldest first (i-th of n). */
static const struct hs_drop_note *kept_locked(const hs_db *db, size_t i)
{
    size_t n = HS_MIN(db->ndrops, (size_t)HS_DROP_NOTES);
    return &db->drops[(db->ndrops - n + i) % HS_DROP_NOTES];
}

static int open_append(hs_db *db, hs_error *err)
{
    char path[HS_PATH_MAX];
    if (hs_path(path, sizeof(path), "%s/%s", db->root, DROPS_FILE) != HS_OK)
        return hs_error_set(err, HS_ERANGE, "path too long");
    int fd = db->io->open(db->io->ctx, path, O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        return hs_error_set(err, hs_rc_from_errno(fd), "%s: %s", path, strerror(-fd));
    uint64_t size = 0;
    int rc = db->io->size(db->io->ctx, fd, &size);
    if (rc < 0) {
        db->io->close(db->io->ctx, fd);
        return hs_error_set(err, hs_rc_from_errno(rc), "%s: %s", path, strerror(-rc));
    }
    db->drops_fd = fd;
    db->drops_len = size;
    return HS_OK;
}

/* Replaces the file with the horizon and the notes kept, and opens it for appending. */
static int rewrite_locked(hs_db *db, hs_error *err)
{
    size_t n = HS_MIN(db->ndrops, (size_t)HS_DROP_NOTES);
    uint8_t *buf = malloc(34 + n * REC_MAX);
    if (!buf)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    size_t len = encode_horizon(buf, REC_HORIZON, db->drop_horizon);
    len += encode_horizon(buf + len, REC_KEPT, db->drop_kept_horizon);
    for (size_t i = 0; i < n; i++)
        len += encode_note(buf + len, kept_locked(db, i));
    if (db->drops_fd >= 0)
        db->io->close(db->io->ctx, db->drops_fd);
    db->drops_fd = -1;
    int rc = hs_file_replace(db->io, db->root, DROPS_FILE, buf, len, err);
    free(buf);
    if (rc == HS_OK)
        rc = open_append(db, err);
    db->drops_records = (uint32_t)n + 2;
    return rc;
}

void hs_db_note_drop_locked(hs_db *db, const centry *e, uint64_t last, uint64_t clock)
{
    struct hs_drop_note n;
    memset(&n, 0, sizeof(n));
    memcpy(n.tenant, e->tenant, sizeof(n.tenant));
    memcpy(n.name, e->name, sizeof(n.name));
    n.created = e->created_clock;
    n.last = last;
    n.dropped = clock;
    remember_locked(db, &n);
    hs_error err;
    int rc;
    if (db->drops_fd < 0 || db->drops_records >= 2 * HS_DROP_NOTES) {
        rc = rewrite_locked(db, &err);
    } else {
        uint8_t rec[REC_MAX];
        size_t len = encode_note(rec, &n);
        long w = db->io->pwrite(db->io->ctx, db->drops_fd, rec, len, db->drops_len);
        int frc = w == (long)len ? db->io->fsync(db->io->ctx, db->drops_fd)
                                 : (w < 0 ? (int)w : -EIO);
        rc = frc < 0 ? hs_error_set(&err, hs_rc_from_errno(frc), "%s/%s: %s", db->root,
                                    DROPS_FILE, strerror(-frc))
                     : HS_OK;
        if (rc == HS_OK) {
            db->drops_len += len;
            db->drops_records++;
        } else {
            rc = rewrite_locked(db, &err); /* a torn append is cut by the rewrite */
        }
    }
    if (rc != HS_OK)
        hs_log(HS_LOG_ERROR, "the drop of collection '%s' (tenant '%s', clock %" PRIu64 ") is "
               "not durable for change readers: %s (it is written again with the next drop and "
               "at close)", e->name, e->tenant, clock, err.message);
}

int hs_drops_find_locked(const hs_db *db, const char *tenant, const char *name,
                         uint64_t created, struct hs_drop_note *out)
{
    size_t n = HS_MIN(db->ndrops, (size_t)HS_DROP_NOTES);
    for (size_t i = 0; i < n; i++) {
        const struct hs_drop_note *d = &db->drops[i];
        if (d->created == created && !strcmp(d->name, name) && !strcmp(d->tenant, tenant)) {
            *out = *d;
            return 1;
        }
    }
    return 0;
}

void hs_drops_disarm_locked(hs_db *db, const centry *e)
{
    size_t n = HS_MIN(db->ndrops, (size_t)HS_DROP_NOTES);
    bool changed = false;
    for (size_t i = 0; i < n; i++) {
        struct hs_drop_note *d = &db->drops[i];
        if (d->created == e->created_clock && !strcmp(d->name, e->name) &&
            !strcmp(d->tenant, e->tenant)) {
            d->created = 0; /* no incarnation: still a drop of that name at its clock */
            changed = true;
        }
    }
    hs_error err;
    if (changed && rewrite_locked(db, &err) != HS_OK)
        hs_log(HS_LOG_WARN, "drop notes not rewritten after restoring collection '%s': %s",
               e->name, err.message);
}

uint64_t hs_drops_last_locked(const hs_db *db, const char *tenant, const char *name)
{
    size_t n = HS_MIN(db->ndrops, (size_t)HS_DROP_NOTES);
    uint64_t last = 0;
    for (size_t i = 0; i < n; i++) {
        const struct hs_drop_note *d = &db->drops[i];
        if (d->dropped > last && !strcmp(d->name, name) && !strcmp(d->tenant, tenant))
            last = d->dropped;
    }
    return last;
}

/* Decodes the records of the file into the notes; stops at the first that does not check
 * out. */
static void parse(hs_db *db, const uint8_t *p, size_t len)
{
    size_t off = 0, good = 0;
    bool kept = false; /* a file written before REC_KEPT: the kept horizon is the horizon */
    while (len - off >= 8) {
        uint32_t bl = hs_get_le32(p + off);
        if (bl < 9 || bl > len - off - 8 ||
            hs_crc32c(0, p + off + 8, bl) != hs_get_le32(p + off + 4))
            break;
        const uint8_t *b = p + off + 8;
        if (b[0] == REC_HORIZON && bl == 9) {
            db->drop_horizon = HS_MAX(db->drop_horizon, hs_get_le64(b + 1));
        } else if (b[0] == REC_KEPT && bl == 9) {
            db->drop_kept_horizon = HS_MAX(db->drop_kept_horizon, hs_get_le64(b + 1));
            kept = true;
        } else if (b[0] == REC_NOTE && bl >= 27) {
            struct hs_drop_note n;
            memset(&n, 0, sizeof(n));
            size_t tl = b[25], nl = bl > 26 + tl ? b[26 + tl] : 0;
            if (tl < 1 || tl > HS_NAME_MAX || nl < 1 || nl > HS_NAME_MAX || 27 + tl + nl != bl)
                break;
            n.created = hs_get_le64(b + 1);
            n.last = hs_get_le64(b + 9);
            n.dropped = hs_get_le64(b + 17);
            memcpy(n.tenant, b + 26, tl);
            memcpy(n.name, b + 27 + tl, nl);
            if (hs_check_names(n.tenant, n.name, NULL) != HS_OK)
                break;
            remember_locked(db, &n);
        } else {
            break;
        }
        off += 8 + bl;
        good++;
    }
    if (!kept)
        db->drop_kept_horizon = HS_MAX(db->drop_kept_horizon, db->drop_horizon);
    if (off != len)
        hs_log(HS_LOG_WARN, "%s/%s: %zu bytes after record %zu do not read (a torn append): "
               "ignored", db->root, DROPS_FILE, len - off, good);
}

int hs_drops_open(hs_db *db, hs_error *err)
{
    char path[HS_PATH_MAX];
    db->drops_fd = -1;
    if (hs_path(path, sizeof(path), "%s/%s", db->root, DROPS_FILE) != HS_OK)
        return hs_error_set(err, HS_ERANGE, "path too long");
    char *data = NULL;
    size_t len = 0;
    hs_error rerr;
    int rc = hs_file_read(db->io, path, &data, &len, DROPS_MAX_BYTES, &rerr);
    if (rc == HS_ENOTFOUND) {
        rc = HS_OK;
    } else if (rc != HS_OK) {
        if (err)
            *err = rerr;
        return rc;
    }
    pthread_mutex_lock(&db->lock);
    if (data)
        parse(db, (const uint8_t *)data, len);
    free(data);
    rc = rewrite_locked(db, err);
    pthread_mutex_unlock(&db->lock);
    return rc;
}

void hs_drops_close(hs_db *db)
{
    pthread_mutex_lock(&db->lock);
    hs_error err;
    if ((db->drops_fd < 0 || db->drops_records > HS_DROP_NOTES + 1) &&
        rewrite_locked(db, &err) != HS_OK)
        hs_log(HS_LOG_WARN, "drop notes not written at close: %s", err.message);
    if (db->drops_fd >= 0)
        db->io->close(db->io->ctx, db->drops_fd);
    db->drops_fd = -1;
    pthread_mutex_unlock(&db->lock);
}

uint64_t hs_drops_horizon(hs_db *db, bool kept)
{
    pthread_mutex_lock(&db->lock);
    uint64_t h = kept ? db->drop_kept_horizon : db->drop_horizon;
    pthread_mutex_unlock(&db->lock);
    return h;
}

int hs_drops_forget_locked(hs_db *db, uint64_t horizon, uint64_t base, hs_error *err)
{
    memset(db->drops, 0, sizeof(db->drops));
    db->ndrops = 0;
    if (horizon > db->drop_horizon)
        db->drop_horizon = horizon;
    db->drop_kept_horizon = base; /* the history held from now on starts there */
    return rewrite_locked(db, err);
}

uint64_t hs_db_drop_clock(hs_db *db, const char *tenant, const char *name)
{
    pthread_mutex_lock(&db->lock);
    uint64_t c = hs_drops_last_locked(db, tenant, name);
    pthread_mutex_unlock(&db->lock);
    return c;
}

uint64_t hs_drops_max_locked(const hs_db *db)
{
    uint64_t m = 0;
    for (size_t i = 0, n = HS_MIN(db->ndrops, (size_t)HS_DROP_NOTES); i < n; i++)
        m = HS_MAX(m, kept_locked(db, i)->dropped);
    return m;
}
