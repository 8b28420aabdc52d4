/*
 * changes.c: the change stream of a collection (include/hyperspace.h, "the change stream") and
 * the log kept for it.
 *
 * A reader (hs_changes) follows one incarnation of a collection (tenant, name, creation clock)
 * by reading its log files with a storage/walread.c reader, never through a handle: it keeps
 * nothing loaded and does not delay a drop.  What it may read is bounded by the collection's
 * applied clock (`limit`): a loaded collection's clock only moves once a write is applied (a
 * BATCH or STRICT write after its fsync; one the log refuses never is), a cold collection's
 * files hold only applied records.  Records are expanded one point at a time, so a reader holds
 * one point of a batch however large the batch is.  A change is delivered when its clock is
 * above `last`, the clock of the last change passed, which makes resuming exact: clocks strictly
 * increase along one collection's log (CONFIGURE records repeat the previous clock and are not
 * changes).
 *
 * Retention: a checkpoint keeps the newest covered segments within wal_retain_bytes
 * (hs_coll_retention) and records the log floor, the highest clock of any record it removes,
 * in its STATE before removing anything; hs_coll.log_floor holds it for a loaded collection.
 * A reader whose `last` is below the floor has lost changes: HS_ETRUNCATED.  One at or above it
 * has not, even when it finds its segment gone (the records it had not read are all newer).
 *
 * Drops remove the files at once; db->drops keeps the latest drops (incarnation, last change,
 * clock of the drop; drops.c, kept across restarts in <root>/.drops) so that a reader still
 * catching up reads what it can and then delivers the drop with its clock.
 *
 * Locking: a reader is one thread's.  It takes db->lock only to look at its collection's
 * catalog entry (when it has read everything up to the limit it knew).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/log.h"
#include "util/meta.h"

struct hs_changes {
    hs_db *db;
    char tenant[HS_NAME_MAX + 1], name[HS_NAME_MAX + 1];
    char waldir[HS_PATH_MAX], dir[HS_PATH_MAX];
    uint64_t created;         /* the incarnation followed (its creation clock) */
    hs_collection_config cfg; /* as created */
    size_t vbytes;            /* bytes of a vector in the log */
    bool f64;
    unsigned kinds;
    bool with_vector;
    uint64_t last;  /* clock of the last change passed */
    uint64_t limit; /* records with an lsn up to here are applied */
    bool dropped;   /* the collection is gone: read up to limit, then deliver the drop */
    bool gone;      /* its path may hold another incarnation's files: read no more of them */
    uint64_t drop_clock;
    bool ended;     /* the drop was delivered */
    hs_wal_reader *rd;
    /* the record being expanded */
    bool in_rec;
    uint8_t type;
    uint64_t lsn, poff;
    uint32_t n, i;
    size_t rec_len;
    double *vec;   /* the current point's vector (dimension doubles) */
    uint8_t *meta; /* its metadata, stored form [u32 len][entries] */
    size_t meta_cap;
    char sid[HS_SID_MAX]; /* its string id (collections of string ids) */
};

void hs_changes_opts_init(hs_changes_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->with_vector = 1;
}

void hs_db_set_change_observer(hs_db *db, hs_change_fn fn, void *ctx)
{
    db->change_ctx = ctx;
    __atomic_store_n(&db->change_fn, fn, __ATOMIC_RELEASE);
}

void hs_db_note_change(hs_db *db, const centry *e, uint64_t clock)
{
    hs_change_fn fn = __atomic_load_n(&db->change_fn, __ATOMIC_ACQUIRE);
    if (fn)
        fn(db->change_ctx, e->tenant, e->name, clock);
}

/* ---- the log kept for readers ------------------------------------------------------------- */

/* The last clock a record holds: a batch of n points or ids takes lsn .. lsn + n - 1. */
static int record_end(hs_wal_reader *rd, const hs_wal_record *rec, uint64_t *end,
                      hs_error *err)
{
    *end = rec->lsn;
    if ((rec->type != HS_REC_UPSERT && rec->type != HS_REC_DELETE &&
         rec->type != HS_REC_UPSERT_SID && rec->type != HS_REC_DELETE_SID) ||
        rec->len < 4)
        return HS_OK;
    const uint8_t *p;
    int rc = hs_wal_reader_payload(rd, 0, 4, &p, err);
    if (rc == HS_OK && hs_get_le32(p))
        *end = rec->lsn + hs_get_le32(p) - 1;
    return rc;
}

/* The highest clock of the records of segment seq (closed, checksummed on the way); *any is
 * false when it holds none. */
static int segment_last(hs_coll *c, uint64_t seq, uint64_t *last, bool *any, hs_error *err)
{
    char dir[HS_PATH_MAX];
    hs_coll_wal_dir(c->e, dir, sizeof(dir));
    hs_wal_reader *rd;
    int rc = hs_wal_reader_open(c->db->io, dir, seq, &rd, err);
    *last = 0;
    *any = false;
    while (rc == HS_OK) {
        hs_wal_record rec;
        int got;
        rc = hs_wal_reader_next(rd, UINT64_MAX, &rec, &got, err);
        if (rc != HS_OK || !got || rec.pos.seg != seq)
            break;
        uint64_t end;
        rc = record_end(rd, &rec, &end, err);
        *last = HS_MAX(*last, end);
        *any = true;
    }
    hs_wal_reader_close(rd);
    return rc;
}

void hs_coll_retention(hs_coll *c, hs_wal_pos from, uint64_t ckpt_clock, uint64_t *keep,
                       uint64_t *floor)
{
    uint64_t prev = __atomic_load_n(&c->log_floor, __ATOMIC_ACQUIRE);
    uint64_t oldest = hs_wal_oldest(c->wal);
    hs_wal_retention(c->wal, from, c->db->opts.wal_retain_bytes, keep);
    *floor = prev;
    if (!oldest || *keep <= oldest)
        return; /* nothing is removed */
    uint64_t last = ckpt_clock; /* every record before from.seg is covered by the checkpoint */
    if (*keep < from.seg) {
        /* the newest record removed: in the newest removed segment that holds one */
        bool any = false;
        int rc = HS_OK;
        hs_error err;
        memset(&err, 0, sizeof(err));
        for (uint64_t s = *keep; s-- > oldest && !any && rc == HS_OK;)
            rc = segment_last(c, s, &last, &any, &err);
        if (rc != HS_OK) {
            hs_log(HS_LOG_WARN, "collection '%s': the log kept for change readers is cut at the "
                   "checkpoint (%s)", c->e->name, err.message);
            *keep = from.seg;
            last = ckpt_clock;
        } else if (!any) {
            last = 0;
        }
    }
    *floor = HS_MAX(prev, last);
}

/* ---- readers ------------------------------------------------------------------------------ */

/* What the catalog says of the reader's collection now: r->limit, r->dropped (with the clock of
 * the drop and the last change), *floor when the collection is loaded (UINT64_MAX otherwise:
 * read it from the files).  HS_ENOTFOUND when it is gone and its drop is no longer known. */
static int look(hs_changes *r, uint64_t *floor, hs_error *err)
{
    hs_db *db = r->db;
    *floor = UINT64_MAX;
    pthread_mutex_lock(&db->lock);
    centry *e = hs_db_find_locked(db, r->tenant, r->name);
    if (e && e->created_clock == r->created && e->state != CE_CREATING &&
        e->state != CE_DROPPED) {
        if (e->state == CE_LOADED && e->coll) {
            r->limit = __atomic_load_n(&e->coll->clock, __ATOMIC_ACQUIRE);
            *floor = __atomic_load_n(&e->coll->log_floor, __ATOMIC_ACQUIRE);
        } else {
            r->limit = e->cold_clock;
        }
        pthread_mutex_unlock(&db->lock);
        return HS_OK;
    }
    struct hs_drop_note d;
    if (!r->dropped && hs_drops_find_locked(db, r->tenant, r->name, r->created, &d)) {
        r->dropped = true;
        r->drop_clock = d.dropped;
        r->limit = d.last;
    }
    pthread_mutex_unlock(&db->lock);
    if (r->dropped)
        return HS_OK;
    hs_error_set(err, HS_ENOTFOUND, "Collection '%s' was deleted", r->name);
    hs_error_name(err, r->name);
    return hs_error_about(err, HS_ENOTFOUND, HS_FIELD_COLLECTION, HS_REASON_NONE);
}

/* After a read that opened a file of the log by its path (or listed its directory): whether
 * the path still held this incarnation's files; a drop and a create of the same name reuse it.
 * A file opened while the incarnation was in the catalog is its own (drops leave the catalog
 * first), so a check after the read suffices.  When it is not (or the incarnation is known to
 * be dropped: its path may be anyone's now), what was read is not trusted: the reader reads no
 * more files (r->gone) and ends with the drop (HS_ENOTFOUND when the drop is not noted). */
static int check_ours(hs_changes *r, uint64_t opens_before, hs_error *err)
{
    if (r->gone || hs_wal_reader_opens(r->rd) == opens_before)
        return HS_OK;
    bool ours = false;
    if (!r->dropped) {
        pthread_mutex_lock(&r->db->lock);
        const centry *e = hs_db_find_locked(r->db, r->tenant, r->name);
        ours = e && e->created_clock == r->created && e->state != CE_CREATING &&
               e->state != CE_DROPPED;
        pthread_mutex_unlock(&r->db->lock);
    }
    if (ours)
        return HS_OK;
    r->gone = true;
    r->in_rec = false;
    hs_wal_reader_idle(r->rd);
    uint64_t floor;
    return look(r, &floor, err);
}

/* The log floor now (after a look that found the collection not loaded: from its files). */
static uint64_t floor_now(hs_changes *r, uint64_t looked)
{
    return looked != UINT64_MAX ? looked : hs_ckpt_log_floor(r->db, r->dir);
}

static int truncated(hs_changes *r, uint64_t floor, hs_error *err)
{
    hs_error_set(err, HS_ETRUNCATED, "The log of collection '%s' no longer holds the changes "
                 "after clock %" PRIu64 " (it holds those after %" PRIu64 ")", r->name, r->last,
                 floor);
    if (err) {
        err->actual = r->last;
        err->expected = floor;
    }
    hs_error_name(err, r->name);
    return hs_error_about(err, HS_ETRUNCATED, HS_FIELD_CLOCK, HS_REASON_RANGE);
}

int hs_changes_open(hs_db *db, const char *tenant, const char *name, const hs_changes_opts *o,
                    hs_changes **out, hs_error *err)
{
    return hs_changes_open_inc(db, tenant, name, 0, o, out, err);
}

int hs_changes_open_inc(hs_db *db, const char *tenant, const char *name, uint64_t created,
                        const hs_changes_opts *o, hs_changes **out, hs_error *err)
{
    *out = NULL;
    hs_changes_opts def;
    if (!o) {
        hs_changes_opts_init(&def);
        o = &def;
    }
    int rc = hs_check_names(tenant, name, err);
    if (rc != HS_OK)
        return rc;
    hs_changes *r = calloc(1, sizeof(*r));
    if (!r)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    r->db = db;
    snprintf(r->tenant, sizeof(r->tenant), "%s", tenant);
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->kinds = o->kinds ? o->kinds : ~0u;
    r->with_vector = o->with_vector != 0;
    pthread_mutex_lock(&db->lock);
    centry *e = hs_db_find_created_locked(db, tenant, name);
    if (!e || (created && e->created_clock != created)) {
        rc = hs_not_found(err, name);
    } else if (e->state == CE_FAILED) {
        hs_error_set(err, HS_ELOAD, "Collection '%s' failed to load: %s", name,
                     e->error ? e->error : "");
        hs_error_name(err, name);
        if (err)
            snprintf(err->cause, sizeof(err->cause), "%s", e->error ? e->error : "");
        rc = hs_error_about(err, HS_ELOAD, HS_FIELD_COLLECTION, HS_REASON_NONE);
    } else {
        r->created = e->created_clock;
        r->cfg = e->config;
        hs_coll_wal_dir(e, r->waldir, sizeof(r->waldir));
        snprintf(r->dir, sizeof(r->dir), "%s", e->dir);
    }
    pthread_mutex_unlock(&db->lock);
    r->f64 = r->cfg.metric == HS_METRIC_POINCARE || r->cfg.metric == HS_METRIC_LORENTZ;
    r->vbytes = (size_t)r->cfg.dimension * (r->f64 ? 8 : 4);
    uint64_t floor = UINT64_MAX;
    if (rc == HS_OK)
        rc = look(r, &floor, err);
    uint64_t now = hs_db_clock(db);
    r->last = o->from_now ? r->limit : o->after;
    if (rc == HS_OK && r->last > now) {
        hs_error_set(err, HS_ERANGE, "Clock %" PRIu64 " is ahead of this node's clock %" PRIu64
                     ": it does not come from this node's log", r->last, now);
        if (err) {
            err->actual = r->last;
            err->expected = now;
        }
        rc = hs_error_about(err, HS_ERANGE, HS_FIELD_CLOCK, HS_REASON_RANGE);
    }
    r->vec = rc == HS_OK ? malloc((r->cfg.dimension ? r->cfg.dimension : 1) * sizeof(double))
                         : NULL;
    if (rc == HS_OK && !r->vec)
        rc = hs_error_set(err, HS_ENOMEM, "Out of memory");
    if (rc == HS_OK)
        rc = hs_wal_reader_open(db->io, r->waldir, 0, &r->rd, err);
    if (rc == HS_OK)
        rc = hs_wal_reader_seek(r->rd, r->last, err);
    if (rc == HS_OK)
        rc = check_ours(r, 0, err);
    /* the floor is read after the reader has found its segments: a checkpoint raises it before
     * it removes any, so segments missing from that listing are covered by the value read */
    if (rc == HS_OK && (rc = look(r, &floor, err)) == HS_OK && !r->dropped) {
        uint64_t f = floor_now(r, floor);
        if (r->last < f)
            rc = truncated(r, f, err);
    }
    if (rc != HS_OK) {
        hs_changes_close(r);
        return rc;
    }
    *out = r;
    return HS_OK;
}

void hs_changes_close(hs_changes *r)
{
    if (!r)
        return;
    hs_wal_reader_close(r->rd);
    free(r->vec);
    free(r->meta);
    free(r);
}

uint64_t hs_changes_position(const hs_changes *r) { return r->last; }

static int corrupt(hs_changes *r, const char *what, hs_error *err)
{
    return hs_error_set(err, HS_ECORRUPT, "WAL %s: record at clock %" PRIu64 ": %s", r->waldir,
                        r->lsn, what);
}

/* Copies the metadata blob [off, off + len) of the current record into r->meta. */
static int read_meta(hs_changes *r, uint64_t off, uint32_t len, hs_error *err)
{
    if (len == 0)
        return HS_OK;
    const uint8_t *p;
    int rc = hs_wal_reader_payload(r->rd, off, len, &p, err);
    if (rc != HS_OK)
        return rc;
    if (!hs_meta_blob_ok(p, len))
        return corrupt(r, "bad metadata", err);
    if (4 + (size_t)len > r->meta_cap) {
        uint8_t *m = realloc(r->meta, 4 + (size_t)len);
        if (!m)
            return hs_error_set(err, HS_ENOMEM, "Out of memory");
        r->meta = m;
        r->meta_cap = 4 + (size_t)len;
    }
    hs_put_le32(r->meta, len);
    memcpy(r->meta + 4, p, len);
    return HS_OK;
}

static int read_vector(hs_changes *r, uint64_t off, hs_error *err)
{
    const uint8_t *p;
    int rc = hs_wal_reader_payload(r->rd, off, r->vbytes, &p, err);
    for (size_t j = 0; rc == HS_OK && j < r->cfg.dimension; j++) {
        if (r->f64) {
            memcpy(&r->vec[j], p + 8 * j, 8);
        } else {
            float f;
            memcpy(&f, p + 4 * j, 4);
            r->vec[j] = f;
        }
    }
    return rc;
}

/* The string id at r->poff of an UPSERT_SID or DELETE_SID record ({ u16 length, bytes }) into
 * r->sid; r->poff moves past it. */
static int read_sid(hs_changes *r, size_t *len, hs_error *err)
{
    const uint8_t *p;
    int rc;
    if (r->poff + 2 > r->rec_len)
        return corrupt(r, "point truncated", err);
    if ((rc = hs_wal_reader_payload(r->rd, r->poff, 2, &p, err)) != HS_OK)
        return rc;
    *len = (size_t)p[0] | (size_t)p[1] << 8;
    if (*len > r->rec_len - r->poff - 2)
        return corrupt(r, "point truncated", err);
    if ((rc = hs_wal_reader_payload(r->rd, r->poff + 2, *len, &p, err)) != HS_OK)
        return rc;
    if (hs_sid_check((const char *)p, *len, NULL) != HS_OK)
        return corrupt(r, "bad string id", err);
    memcpy(r->sid, p, *len);
    r->poff += 2 + *len;
    return HS_OK;
}

/* The next point of the record being expanded: *got when it is to be delivered. */
static int next_point(hs_changes *r, hs_change *out, int *got, hs_error *err)
{
    uint64_t clock = r->lsn + r->i;
    bool upsert = r->type == HS_REC_UPSERT || r->type == HS_REC_UPSERT_SID;
    bool want = clock > r->last &&
                (r->kinds & (1u << (upsert ? HS_CHANGE_UPSERT : HS_CHANGE_DELETE)));
    const uint8_t *p;
    int rc;
    size_t sl = 0;
    memset(out, 0, sizeof(*out));
    bool sid = r->type == HS_REC_UPSERT_SID || r->type == HS_REC_DELETE_SID;
    if (sid && (rc = read_sid(r, &sl, err)) != HS_OK)
        return rc;
    out->point.sid = sid ? r->sid : NULL; /* the internal key is not logged: id stays 0 */
    out->point.sid_len = sl;
    if (r->type == HS_REC_DELETE_SID) {
        out->kind = HS_CHANGE_DELETE;
    } else if (r->type == HS_REC_DELETE) {
        if ((rc = hs_wal_reader_payload(r->rd, 4 + 8 * (uint64_t)r->i, 8, &p, err)) != HS_OK)
            return rc;
        out->kind = HS_CHANGE_DELETE;
        out->point.id = hs_get_le64(p);
    } else {
        size_t head = sid ? 4 : 12; /* UPSERT_SID: the string id was read, then u32 meta_len */
        if (r->poff + head > r->rec_len)
            return corrupt(r, "point truncated", err);
        if ((rc = hs_wal_reader_payload(r->rd, r->poff, head, &p, err)) != HS_OK)
            return rc;
        uint64_t id = sid ? 0 : hs_get_le64(p);
        uint32_t ml = hs_get_le32(p + head - 4);
        uint64_t voff = r->poff + head, moff = voff + r->vbytes;
        if (moff > r->rec_len || ml > r->rec_len - moff)
            return corrupt(r, "point truncated", err);
        r->poff = moff + ml;
        if (want) {
            out->kind = HS_CHANGE_UPSERT;
            out->point.id = id;
            out->point.dim = r->cfg.dimension;
            if (r->with_vector && (rc = read_vector(r, voff, err)) != HS_OK)
                return rc;
            out->point.vector = r->with_vector ? r->vec : NULL;
            if ((rc = read_meta(r, moff, ml, err)) != HS_OK)
                return rc;
            /* no entries: no metadata (as a stored point has none) */
            out->point.meta = ml >= 4 && hs_get_le32(r->meta + 4) ? r->meta : NULL;
        }
    }
    r->i++;
    if ((upsert || sid) && r->i == r->n && r->poff != r->rec_len)
        return corrupt(r, "trailing bytes", err);
    if (clock > r->last) {
        r->last = clock;
        out->clock = clock;
        *got = want;
    }
    return HS_OK;
}

/* Starts on a record the reader returned: *got when it is itself a change (CREATE). */
static int begin_record(hs_changes *r, const hs_wal_record *rec, hs_change *out, int *got,
                        hs_error *err)
{
    r->lsn = rec->lsn;
    r->type = rec->type;
    r->rec_len = rec->len;
    const uint8_t *p;
    int rc;
    switch (rec->type) {
    case HS_REC_CREATE:
        if (rec->lsn <= r->last)
            return HS_OK;
        r->last = rec->lsn;
        if (!(r->kinds & (1u << HS_CHANGE_CREATE)))
            return HS_OK;
        memset(out, 0, sizeof(*out));
        out->kind = HS_CHANGE_CREATE;
        out->clock = rec->lsn;
        out->config = r->cfg; /* the catalog's (Configure may have changed the ef values) ... */
        if (rec->len >= 24 && hs_wal_reader_payload(r->rd, 0, 24, &p, err) == HS_OK &&
            hs_get_le32(p) == r->cfg.dimension) {
            /* ... the record's: the parameters as created (db.c writes them in this order) */
            out->config.m = hs_get_le32(p + 12);
            out->config.ef_construction = hs_get_le32(p + 16);
            out->config.ef_search = hs_get_le32(p + 20);
        }
        *got = 1;
        return HS_OK;
    case HS_REC_UPSERT:
    case HS_REC_DELETE:
    case HS_REC_UPSERT_SID: /* a point takes at least { u16, 1 byte, u32, vector } */
    case HS_REC_DELETE_SID: /* an id at least { u16, 1 byte } */
        if (rec->len < 4 || (rc = hs_wal_reader_payload(r->rd, 0, 4, &p, err)) != HS_OK)
            return rec->len < 4 ? corrupt(r, "too short", err) : rc;
        r->n = hs_get_le32(p);
        if (rec->type == HS_REC_DELETE && rec->len != 4 + 8 * (uint64_t)r->n)
            return corrupt(r, "bad length", err);
        if (rec->type == HS_REC_UPSERT && (uint64_t)r->n * (12 + r->vbytes) > rec->len - 4)
            return corrupt(r, "bad length", err);
        if (rec->type == HS_REC_UPSERT_SID && (uint64_t)r->n * (7 + r->vbytes) > rec->len - 4)
            return corrupt(r, "bad length", err);
        if (rec->type == HS_REC_DELETE_SID && (uint64_t)r->n * 3 > rec->len - 4)
            return corrupt(r, "bad length", err);
        uint64_t end = rec->lsn + (r->n ? r->n - 1 : 0);
        unsigned kind = rec->type == HS_REC_UPSERT || rec->type == HS_REC_UPSERT_SID
                            ? HS_CHANGE_UPSERT
                            : HS_CHANGE_DELETE;
        if (!r->n || end <= r->last || !(r->kinds & (1u << kind))) {
            r->last = HS_MAX(r->last, r->n ? end : r->last); /* passed without a look inside */
            return HS_OK;
        }
        r->i = 0;
        r->poff = 4;
        r->in_rec = true;
        return HS_OK;
    case HS_REC_CONFIGURE:
        return HS_OK; /* takes no clock: not a change */
    default:
        return corrupt(r, "unknown record type", err);
    }
}

/* The reader's segment (or the next) was removed: a loss only when the floor passed what it
 * had read; otherwise it goes on from the segment it moved to. */
static int segments_gone(hs_changes *r, hs_error *err)
{
    uint64_t floor;
    int rc = look(r, &floor, err);
    if (rc != HS_OK)
        return rc;
    uint64_t f = r->dropped ? 0 : floor_now(r, floor);
    return r->last < f ? truncated(r, f, err) : HS_OK;
}

/* Everything readable was read: idle, and the drop when the collection is gone. */
static int end(hs_changes *r, hs_change *out, int *got)
{
    hs_wal_reader_idle(r->rd);
    if (r->dropped) {
        r->ended = true;
        if (r->drop_clock > r->last && (r->kinds & (1u << HS_CHANGE_DROP))) {
            memset(out, 0, sizeof(*out));
            out->kind = HS_CHANGE_DROP;
            out->clock = r->drop_clock;
            *got = 1;
        }
        r->last = HS_MAX(r->last, r->drop_clock);
    }
    return HS_OK;
}

int hs_changes_next(hs_changes *r, hs_change *out, int *got, hs_error *err)
{
    *got = 0;
    if (r->ended)
        return HS_OK;
    bool looked = false;
    for (;;) {
        int rc;
        if (r->gone) {
            uint64_t floor; /* a drop in progress is noted once it has waited for its users */
            if (!r->dropped && (rc = look(r, &floor, err)) != HS_OK)
                return rc;
            return end(r, out, got);
        }
        if (r->in_rec) {
            if (r->i < r->n) {
                uint64_t opens = hs_wal_reader_opens(r->rd);
                rc = next_point(r, out, got, err);
                int crc = check_ours(r, opens, err);
                if (crc != HS_OK || r->gone) {
                    *got = 0;
                    if (crc != HS_OK)
                        return crc;
                    continue;
                }
                if (rc != HS_OK || *got)
                    return rc;
                continue;
            }
            r->in_rec = false;
        }
        hs_wal_record rec;
        int have = 0;
        uint64_t opens = hs_wal_reader_opens(r->rd);
        rc = hs_wal_reader_next(r->rd, r->limit, &rec, &have, err);
        int crc = check_ours(r, opens, err);
        if (crc != HS_OK)
            return crc;
        if (r->gone)
            continue;
        if (rc == HS_ETRUNCATED && (rc = segments_gone(r, err)) == HS_OK)
            continue;
        if (rc != HS_OK)
            return rc;
        if (have) {
            if ((rc = begin_record(r, &rec, out, got, err)) != HS_OK || *got)
                return rc;
            continue;
        }
        /* everything up to the limit is read: has more been applied since? */
        uint64_t before = r->limit, floor;
        if (!looked && !r->dropped) {
            looked = true;
            if ((rc = look(r, &floor, err)) != HS_OK)
                return rc;
            if (r->limit > before || r->dropped)
                continue;
        }
        /* changes up to the limit exist that the reader did not find: its next segment went */
        if (r->last < r->limit && !r->dropped) {
            opens = hs_wal_reader_opens(r->rd);
            rc = hs_wal_reader_recheck(r->rd, err);
            if ((crc = check_ours(r, opens, err)) != HS_OK)
                return crc;
            if (r->gone)
                continue;
            if (rc == HS_ETRUNCATED && (rc = segments_gone(r, err)) == HS_OK)
                continue;
            if (rc != HS_OK)
                return rc;
        }
        return end(r, out, got);
    }
}
