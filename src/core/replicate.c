/*
 * replicate.c: a follower's apply of its leader's changes (include/hyperspace.h,
 * "replication": hs_db_replicate, hs_db_replicate_upserts, hs_db_sync; spec B11.3).
 *
 * A change goes through the write path with the leader's clock instead of a tick: creates and
 * drops through db.c (hs_db_create, hs_db_drop with the clock), upserts and deletes as log
 * records whose lsn is the leader's clock (hs_coll_upsert_at_locked, or a DELETE record built
 * here), queued and applied as any write (write.c).  The node clock merges the leader's
 * (hs_db_clock_merge: C := max(C, r) + 1) and the range is tracked until applied, as a tick.
 *
 * Idempotence by clocks: a collection's log holds its changes in clock order, so a change at
 * or below the clock of the last record logged (the newest queued write, or c->clock) was
 * applied before; a create or drop compares with the creation clock of the collection of that
 * name.  Upserts store the leader's stored vector as it is (no normalisation: the digests
 * agree bit for bit) and its metadata as given (hs_kv, or the stored form a change reader
 * gives).  Frozen collections and tenant quotas do not hold a replicated change back.
 *
 * Locking: as the write path: the skip test, the merge and the append under the collection's
 * wlock, so that a change sent twice concurrently is logged once.
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

/* The clock of the last change logged in c (queued or applied).  wlock held. */
static uint64_t logged_clock_locked(const hs_coll *c)
{
    const hs_pending *p = c->pend_tail;
    return p ? p->lsn + (p->n ? p->n - 1 : 0) : c->clock;
}

static int bad_kind(hs_error *err, int kind)
{
    hs_error_set(err, HS_EINVAL, "hs_db_replicate: unknown change kind %d", kind);
    if (err)
        err->actual = (uint64_t)kind;
    return HS_EINVAL;
}

/* Opens and loads (tenant, name) for a replicated write. */
static int acquire(hs_db *db, const char *tenant, const char *name, hs_collection **h,
                   hs_coll **c, hs_error *err)
{
    int rc = hs_collection_open(db, tenant, name, h, err);
    if (rc == HS_OK && (rc = hs_coll_acquire(*h, c, err)) != HS_OK) {
        hs_collection_close(*h);
        *h = NULL;
    }
    return rc;
}

/* Checks replicated points: their id kind, string ids, vectors (the leader stored them, but
 * they arrive over the network), metadata. */
static int check_points(const hs_coll *c, const hs_point *pts, size_t n,
                        const uint8_t *const *stored, hs_error *err)
{
    for (size_t i = 0; i < n; i++) {
        int rc = HS_OK;
        if ((pts[i].sid != NULL) != c->sid)
            rc = hs_coll_id_kind(c->e, err);
        else if (c->sid)
            rc = hs_sid_check_at(pts[i].sid, pts[i].sid_len, (long)i, err);
        if (rc == HS_OK)
            rc = hs_validate_vector(c, pts[i].vector, pts[i].dim, false, err);
        if (rc == HS_OK && stored && stored[i] &&
            !hs_meta_blob_ok(stored[i] + 4, hs_get_le32(stored[i])))
            rc = hs_error_set(err, HS_EMETADATA, "Invalid metadata: the stored form does not "
                              "read");
        if (rc == HS_OK && !(stored && stored[i]))
            rc = hs_validate_meta(pts[i].meta, pts[i].nmeta, err);
        if (rc != HS_OK) {
            if (err)
                err->index = (long)i;
            return rc;
        }
    }
    return HS_OK;
}

/* n upserts with clocks first .. first + n - 1, those already logged skipped. */
static int replicate_points(hs_db *db, const char *tenant, const char *name, uint64_t first,
                            const hs_point *pts, size_t n, const uint8_t *const *stored,
                            hs_durability durability, size_t *applied, hs_error *err)
{
    *applied = 0;
    hs_collection *h;
    hs_coll *c;
    int rc = acquire(db, tenant, name, &h, &c, err);
    if (rc != HS_OK)
        return rc;
    if (n == 0 || (rc = check_points(c, pts, n, stored, err)) != HS_OK) {
        hs_collection_close(h);
        return rc;
    }
    hs_durability mode = hs_coll_durability(c, durability);
    hs_pending p;
    memset(&p, 0, sizeof(p));
    uint8_t *buf = NULL;
    size_t len = 0, skip = 0;
    pthread_mutex_lock(&c->wlock);
    rc = hs_coll_loggable_locked(c, err);
    if (rc == HS_OK) {
        uint64_t logged = logged_clock_locked(c);
        skip = logged >= first ? (size_t)HS_MIN(logged - first + 1, (uint64_t)n) : 0;
    }
    bool logging = rc == HS_OK && skip < n;
    if (logging) {
        buf = hs_coll_encode_upserts(c, pts + skip, n - skip, true, stored ? stored + skip : NULL,
                                     &len, err);
        rc = buf ? hs_coll_upsert_at_locked(c, buf, len, n - skip, mode, first + skip, &p, err)
                 : HS_ENOMEM;
    }
    pthread_mutex_unlock(&c->wlock);
    if (logging) {
        rc = hs_coll_upsert_finish(c, &p, rc, mode, err);
        if (rc == HS_OK)
            *applied = n - skip;
    }
    free(buf);
    hs_collection_close(h);
    return rc;
}

/* One DELETE (DELETE_SID) with the leader's clock: logged whether or not the point is live here,
 * so that the collection's clock becomes the leader's. */
static int replicate_delete(hs_db *db, const char *tenant, const char *name, const hs_change *ch,
                            hs_durability durability, int *applied, hs_error *err)
{
    hs_collection *h;
    hs_coll *c;
    int rc = acquire(db, tenant, name, &h, &c, err);
    if (rc != HS_OK)
        return rc;
    const hs_point_view *pv = &ch->point;
    if ((pv->sid != NULL) != c->sid)
        rc = hs_coll_id_kind(c->e, err);
    else if (c->sid)
        rc = hs_sid_check(pv->sid, pv->sid_len, err);
    size_t len = 4 + (c->sid ? 2 + pv->sid_len : 8);
    uint8_t *buf = rc == HS_OK ? malloc(HS_WAL_HEADER + len) : NULL;
    if (rc == HS_OK && !buf)
        rc = hs_error_set(err, HS_ENOMEM, "Out of memory");
    if (rc != HS_OK) {
        hs_collection_close(h);
        return rc;
    }
    uint8_t *q = buf + HS_WAL_HEADER;
    hs_put_le32(q, 1);
    if (c->sid) {
        q[4] = (uint8_t)pv->sid_len;
        q[5] = (uint8_t)(pv->sid_len >> 8);
        memcpy(q + 6, pv->sid, pv->sid_len);
    } else {
        hs_put_le64(q + 4, pv->id);
    }
    hs_durability mode = hs_coll_durability(c, durability);
    hs_pending p = {.type = c->sid ? HS_REC_DELETE_SID : HS_REC_DELETE,
                    .async = mode == HS_DURABILITY_ASYNC, .n = 1, .payload = q, .len = len};
    pthread_mutex_lock(&c->wlock);
    rc = hs_coll_loggable_locked(c, err);
    if (rc == HS_OK)
        rc = hs_coll_ids_locked(c, err); /* apply looks the point up */
    bool logging = rc == HS_OK && ch->clock > logged_clock_locked(c);
    if (logging) {
        rc = hs_db_clock_merge(db, c->e, HS_TICK_WRITE, ch->clock, 1, err);
        bool merged = rc == HS_OK;
        if (rc == HS_OK)
            rc = hs_coll_log_locked(c, p.type, ch->clock, buf, len, &p.ticket, err);
        if (rc == HS_OK) {
            p.lsn = ch->clock;
            hs_coll_submit_locked(c, &p);
        } else if (merged) {
            hs_db_tick_done(db, ch->clock, false);
        }
    }
    pthread_mutex_unlock(&c->wlock);
    if (logging && rc == HS_OK)
        rc = hs_coll_submit_finish(c, &p, mode, err);
    *applied = logging && rc == HS_OK;
    free(buf);
    hs_collection_close(h);
    return rc;
}

/* CREATE: skipped when the collection of that name was created at or after the change, or
 * was dropped at a later clock (a create sent again after its drop must not bring the
 * collection back; the drop notes remember the latest 1,024 drops); one created before is
 * replaced. */
static int replicate_create(hs_db *db, const char *tenant, const char *name, const hs_change *ch,
                            int *applied, hs_error *err)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        pthread_mutex_lock(&db->lock);
        const centry *e = hs_db_find_created_locked(db, tenant, name);
        uint64_t cur = e ? e->created_clock : 0;
        uint64_t dropped = hs_drops_last_locked(db, tenant, name);
        pthread_mutex_unlock(&db->lock);
        if ((e && cur >= ch->clock) || dropped >= ch->clock)
            return HS_OK; /* a later incarnation, or dropped since: applied before */
        if (e) {
            hs_drop_how how = {cur, 0, 0, HS_DROP_SILENT, NULL};
            int rc = hs_db_drop(db, tenant, name, &how, err);
            if (rc != HS_OK && rc != HS_ENOTFOUND)
                return rc;
            hs_log(HS_LOG_INFO, "Replication: collection '%s' (tenant '%s', created at clock %"
                   PRIu64 ") replaced by the leader's of clock %" PRIu64, name, tenant, cur,
                   ch->clock);
        }
        int rc = hs_db_create(db, tenant, name, &ch->config, ch->clock, err);
        if (rc != HS_EEXIST) {
            *applied = rc == HS_OK;
            return rc;
        }
    }
    return hs_error_set(err, HS_EBUSY, "Collection '%s' keeps being created beside the "
                        "replicated create", name);
}

int hs_db_replicate(hs_db *db, const char *tenant, const char *name, const hs_change *ch,
                    const hs_kv *meta, size_t nmeta, hs_durability mode, int *applied,
                    hs_error *err)
{
    int dummy;
    if (!applied)
        applied = &dummy;
    *applied = 0;
    int rc = hs_check_names(tenant, name, err);
    if (rc != HS_OK)
        return rc;
    if (ch->clock == 0) {
        hs_error_set(err, HS_ERANGE, "A replicated change needs the leader's clock (got 0)");
        return hs_error_about(err, HS_ERANGE, HS_FIELD_CLOCK, HS_REASON_RANGE);
    }
    switch (ch->kind) {
    case HS_CHANGE_CREATE:
        return replicate_create(db, tenant, name, ch, applied, err);
    case HS_CHANGE_DROP: {
        hs_drop_how how = {0, ch->clock, ch->clock, HS_DROP_MERGE, applied};
        rc = hs_db_drop(db, tenant, name, &how, err);
        return rc == HS_ENOTFOUND ? HS_OK : rc; /* a missing collection: nothing to drop */
    }
    case HS_CHANGE_DELETE:
        return replicate_delete(db, tenant, name, ch, mode, applied, err);
    case HS_CHANGE_UPSERT: {
        const hs_point_view *v = &ch->point;
        hs_point pt = {v->id, v->vector, v->dim, meta, nmeta, v->sid, v->sid_len};
        const uint8_t *stored = !meta && !nmeta ? v->meta : NULL;
        size_t n;
        rc = replicate_points(db, tenant, name, ch->clock, &pt, 1, &stored, mode, &n, err);
        *applied = n == 1;
        return rc;
    }
    default:
        return bad_kind(err, (int)ch->kind);
    }
}

int hs_db_replicate_upserts(hs_db *db, const char *tenant, const char *name,
                            uint64_t first_clock, const hs_point *pts, size_t n,
                            hs_durability mode, size_t *applied, hs_error *err)
{
    size_t dummy;
    if (!applied)
        applied = &dummy;
    *applied = 0;
    int rc = hs_check_names(tenant, name, err);
    if (rc != HS_OK)
        return rc;
    if (first_clock == 0) {
        hs_error_set(err, HS_ERANGE, "A replicated change needs the leader's clock (got 0)");
        return hs_error_about(err, HS_ERANGE, HS_FIELD_CLOCK, HS_REASON_RANGE);
    }
    return replicate_points(db, tenant, name, first_clock, pts, n, NULL, mode, applied, err);
}

/* ---- sync ---------------------------------------------------------------------------------- */

int hs_db_sync(hs_db *db, hs_error *err)
{
    pthread_mutex_lock(&db->lock);
    size_t n = 0;
    for (centry *e = db->loaded; e; e = e->lnext)
        n++;
    char (*names)[2][HS_NAME_MAX + 1] = malloc((n ? n : 1) * sizeof(*names));
    if (!names) {
        pthread_mutex_unlock(&db->lock);
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    }
    size_t k = 0;
    for (centry *e = db->loaded; e; e = e->lnext, k++) {
        memcpy(names[k][0], e->tenant, sizeof(e->tenant));
        memcpy(names[k][1], e->name, sizeof(e->name));
    }
    int first = HS_OK;
    for (size_t i = 0; i < k; i++) {
        centry *e;
        /* one being unloaded syncs its log before it turns cold: wait for that */
        while ((e = hs_db_find_locked(db, names[i][0], names[i][1])) &&
               e->state == CE_UNLOADING)
            pthread_cond_wait(&db->cond, &db->lock);
        if (!e || e->state != CE_LOADED)
            continue; /* unloaded (its log synced then), dropped, or never loaded since */
        e->refs++;
        hs_coll *c = e->coll;
        pthread_mutex_unlock(&db->lock);
        hs_error cerr;
        int rc = hs_coll_wal_sync(c, &cerr);
        pthread_mutex_lock(&db->lock);
        e->refs--;
        pthread_cond_broadcast(&db->cond);
        if (rc != HS_OK && first == HS_OK) {
            first = rc;
            if (err)
                *err = cerr;
        }
    }
    pthread_mutex_unlock(&db->lock);
    free(names);
    return first;
}

/* ---- the history held --------------------------------------------------------------------- */

uint64_t hs_db_held_clock(hs_db *db)
{
    pthread_mutex_lock(&db->lock);
    uint64_t m = hs_drops_max_locked(db);
    for (const centry *e = db->entries; e; e = e->next) {
        m = HS_MAX(m, e->created_clock);
        if (e->state == CE_LOADED)
            m = HS_MAX(m, __atomic_load_n(&e->coll->clock, __ATOMIC_ACQUIRE));
        else
            m = HS_MAX(m, e->cold_clock); /* exact once open replayed every pending log */
    }
    for (const centry *e = db->dropping; e; e = e->drop_next)
        m = HS_MAX(m, e->created_clock);
    pthread_mutex_unlock(&db->lock);
    return m;
}

/* ---- reset ----------------------------------------------------------------------------------- */

typedef struct reset_names {
    char (*v)[2][HS_NAME_MAX + 1];
    size_t n, cap;
} reset_names;

static int reset_collect(void *ctx, const char *tenant, const char *name)
{
    reset_names *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        void *v = realloc(l->v, cap * sizeof(*l->v));
        if (!v)
            return HS_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    snprintf(l->v[l->n][0], sizeof(l->v[l->n][0]), "%s", tenant);
    snprintf(l->v[l->n][1], sizeof(l->v[l->n][1]), "%s", name);
    l->n++;
    return 0;
}

int hs_db_replica_reset(hs_db *db, uint64_t horizon, hs_error *err)
{
    /* first the readers: every clock of the old history is at or below the node clock (silent
     * drops take none), so a reader positioned there (or below `horizon`) is told it lost
     * drops before it can miss a collection; the directory no longer names them either */
    uint64_t clock = hs_db_clock(db);
    uint64_t h = HS_MAX(clock + 1, horizon);
    pthread_mutex_lock(&db->lock);
    int rc = hs_drops_forget_locked(db, h, horizon, err);
    pthread_mutex_unlock(&db->lock);
    hs_ticks_forget(db, clock);
    if (rc != HS_OK)
        return rc;
    /* silent drops: no clock, no note (the collections' directories go as in any drop) */
    reset_names l = {0};
    for (int round = 0; round < 8; round++) {
        l.n = 0;
        rc = hs_collection_list(db, NULL, reset_collect, &l, err);
        if (rc == HS_ENOMEM)
            hs_error_set(err, HS_ENOMEM, "Out of memory");
        if (rc != HS_OK || l.n == 0)
            break;
        for (size_t i = 0; i < l.n && rc == HS_OK; i++) {
            hs_drop_how how = {0, 0, 0, HS_DROP_SILENT, NULL};
            rc = hs_db_drop(db, l.v[i][0], l.v[i][1], &how, err);
            if (rc == HS_ENOTFOUND)
                rc = HS_OK;
        }
        if (rc != HS_OK)
            break;
    }
    free(l.v);
    if (rc == HS_OK && l.n)
        rc = hs_error_set(err, HS_EBUSY, "Collections keep being created during the reset");
    if (rc == HS_OK)
        hs_log(HS_LOG_INFO, "Replication: this node's collections and drop notes are forgotten "
               "(node clock %" PRIu64 "; node-wide readers from below clock %" PRIu64
               " must start from a snapshot)", clock, h);
    return rc;
}
