/*
 * read.c: point views, get, scroll, count, peek, statistics and digests (search: search.c).
 */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "util/error.h"
#include "util/meta.h"

static int point_not_found(hs_error *err, uint64_t id)
{
    hs_error_set(err, HS_ENOTFOUND, "Point %llu not found", (unsigned long long)id);
    if (err)
        err->id = id;
    return hs_error_about(err, HS_ENOTFOUND, HS_FIELD_POINT, HS_REASON_NONE);
}

#define view_of hs_coll_view

/* A view of slot (its vector decoded into vbuf when vbuf is not NULL).  Caller holds rw. */
void hs_coll_view(const hs_coll *c, uint32_t slot, double *vbuf, hs_point_view *v)
{
    v->id = *(const uint64_t *)hs_chunks_at(&c->slot_ids, slot);
    v->dim = c->cfg.dimension;
    v->meta = *(uint8_t *const *)hs_chunks_at(&c->meta, slot);
    const uint8_t *sid = hs_coll_sid(c, slot);
    v->sid = sid ? hs_sid_str(sid) : NULL;
    v->sid_len = sid ? hs_sid_len(sid) : 0;
    v->vector = vbuf;
    if (vbuf) {
        const void *rec = hs_chunks_at(hs_segset_chunks(c->vecs), slot);
        for (size_t i = 0; i < v->dim; i++)
            vbuf[i] = c->f64 ? ((const double *)rec)[i] : (double)((const float *)rec)[i];
    }
}

int hs_meta_each(const hs_point_view *p, hs_meta_fn fn, void *ctx)
{
    return hs_meta_each_stored(p->meta, fn, ctx);
}

int hs_meta_each_typed(const hs_point_view *p, hs_value_fn fn, void *ctx)
{
    return hs_meta_each_typed_stored(p->meta, fn, ctx);
}

int hs_meta_has_typed(const hs_point_view *p) { return hs_meta_has_typed_stored(p->meta); }

/* The slot of the live point named by id, or (sid not NULL) by the string id; rw held. */
static bool find_slot(const hs_coll *c, uint64_t id, const char *sid, size_t len, uint32_t *slot)
{
    if (sid) {
        const uint8_t *b = hs_sidmap_get(&c->smap, sid, len);
        if (!b)
            return false;
        id = hs_sid_key(b);
    }
    return hs_idmap_get(&c->ids, id, slot);
}

static int get_point(hs_collection *h, uint64_t id, const char *sid, size_t len, double *vector,
                     hs_meta_fn fn, void *ctx, hs_error *err)
{
    if (sid && h->e->config.id_type != HS_ID_STRING)
        return hs_coll_id_kind(h->e, err);
    if (sid && hs_sid_check(sid, len, err) != HS_OK)
        return HS_EINVAL;
    hs_coll *c;
    int rc = hs_coll_acquire(h, &c, err);
    if (rc == HS_OK)
        rc = hs_coll_ids(c, err);
    if (rc != HS_OK)
        return rc;
    pthread_rwlock_rdlock(&c->rw);
    uint32_t slot;
    if (!find_slot(c, id, sid, len, &slot)) {
        pthread_rwlock_unlock(&c->rw);
        if (!sid)
            return point_not_found(err, id);
        hs_error_set(err, HS_ENOTFOUND, "Point '%.*s' not found", (int)HS_MIN(len, 64u), sid);
        hs_error_sid(err, sid, len);
        return hs_error_about(err, HS_ENOTFOUND, HS_FIELD_POINT, HS_REASON_NONE);
    }
    hs_point_view v;
    view_of(c, slot, vector, &v);
    if (fn)
        hs_meta_each(&v, fn, ctx);
    pthread_rwlock_unlock(&c->rw);
    return HS_OK;
}

int hs_get(hs_collection *h, uint64_t id, double *vector, hs_meta_fn fn, void *ctx,
           hs_error *err)
{
    return get_point(h, id, NULL, 0, vector, fn, ctx, err);
}

int hs_get_sid(hs_collection *h, const char *sid, size_t len, double *vector, hs_meta_fn fn,
               void *ctx, hs_error *err)
{
    return get_point(h, 0, sid ? sid : "", sid ? len : 0, vector, fn, ctx, err);
}

/* The accept test of a read: its conditions and its predicate, both when set. */
typedef struct read_filter {
    const hs_where *where;
    hs_point_fn accept;
    void *actx;
} read_filter;

static bool accepted(const read_filter *f, const hs_point_view *v)
{
    if (f->where && !hs_where_match(f->where, v))
        return false;
    return !f->accept || f->accept(f->actx, v);
}

static bool filtered(const read_filter *f) { return f->where || f->accept; }

/* HS_READ_IDS: the live points among ids, in the given order. */
static int read_ids(hs_coll *c, const hs_read_opts *o, const read_filter *f, hs_point_fn fn,
                    void *ctx, hs_read_result *res, hs_error *err)
{
    double *vbuf = o->with_vector ? malloc(c->cfg.dimension * sizeof(double)) : NULL;
    if (o->with_vector && !vbuf)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    int rc = 0;
    pthread_rwlock_rdlock(&c->rw);
    size_t n = o->sids ? o->nsids : o->nids;
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint32_t slot;
        if (o->sids ? !find_slot(c, 0, o->sids[i].str, o->sids[i].len, &slot)
                    : !hs_idmap_get(&c->ids, o->ids[i], &slot))
            continue;
        hs_point_view v;
        view_of(c, slot, vbuf, &v);
        if (filtered(f) && !accepted(f, &v))
            continue;
        res->visited++;
        rc = fn ? fn(ctx, &v) : 0;
    }
    pthread_rwlock_unlock(&c->rw);
    free(vbuf);
    return rc;
}

/* (id, slot) max-heap on the point's order: the scroll keeps the `limit + 1` smallest after the
 * cursor.  Points are ordered by id, or (collections of string ids) by their string ids' bytes,
 * unsigned, a prefix first. */
typedef struct idslot {
    uint64_t id;
    uint32_t slot;
    const uint8_t *sid; /* the blob of a string id */
} idslot;

static int sid_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int d = memcmp(a, b, HS_MIN(al, bl));
    return d ? d : al < bl ? -1 : al > bl;
}

static int idslot_cmp(const idslot *x, const idslot *y)
{
    if (x->sid)
        return sid_cmp(hs_sid_str(x->sid), hs_sid_len(x->sid), hs_sid_str(y->sid),
                       hs_sid_len(y->sid));
    return x->id < y->id ? -1 : x->id > y->id;
}

static void idheap_push(idslot *h, size_t *n, idslot x)
{
    size_t i = (*n)++;
    while (i > 0 && idslot_cmp(&h[(i - 1) / 2], &x) < 0) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = x;
}

static void idheap_pop(idslot *h, size_t *n)
{
    idslot last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && idslot_cmp(&h[c + 1], &h[c]) > 0)
            c++;
        if (idslot_cmp(&h[c], &last) <= 0)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = last;
}

static int cmp_idslot(const void *a, const void *b) { return idslot_cmp(a, b); }

/* Whether the point x comes after the scroll's cursor. */
static bool after_cursor(const hs_read_opts *o, const idslot *x)
{
    if (x->sid)
        return !o->after_sid || sid_cmp(hs_sid_str(x->sid), hs_sid_len(x->sid), o->after_sid,
                                        o->after_sid_len) > 0;
    return !o->has_after || x->id > o->after;
}

/* HS_READ_SCROLL: ascending ids after the cursor; keeps the limit + 1 smallest in a heap. */
static int read_scroll(hs_coll *c, const hs_read_opts *o, const read_filter *f, hs_point_fn fn,
                       void *ctx, hs_read_result *res, hs_error *err)
{
    size_t limit = o->limit;
    bool with_vector = o->with_vector, accept = filtered(f);
    int rc = 0;
    if (limit == 0)
        return HS_OK;
    idslot *heap = malloc((limit + 1) * sizeof(*heap));
    double *vbuf = with_vector ? malloc(c->cfg.dimension * sizeof(double)) : NULL;
    if (!heap || (with_vector && !vbuf)) {
        free(heap);
        free(vbuf);
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    }
    size_t n = 0;
    pthread_rwlock_rdlock(&c->rw);
    for (uint32_t s = 0; s < c->nslots; s++) {
        if (!hs_live(c, s))
            continue;
        idslot x = {*(const uint64_t *)hs_chunks_at(&c->slot_ids, s), s, hs_coll_sid(c, s)};
        if (!after_cursor(o, &x))
            continue;
        if (accept && n == limit + 1 && idslot_cmp(&x, &heap[0]) >= 0)
            continue;
        if (accept) {
            hs_point_view v;
            view_of(c, s, NULL, &v);
            if (!accepted(f, &v))
                continue;
        }
        if (n < limit + 1) {
            idheap_push(heap, &n, x);
        } else if (idslot_cmp(&x, &heap[0]) < 0) {
            idheap_pop(heap, &n);
            idheap_push(heap, &n, x);
        }
    }
    if (n > 1)
        qsort(heap, n, sizeof(*heap), cmp_idslot);
    res->more = n > limit;
    for (size_t i = 0; i < HS_MIN(n, limit) && rc == 0; i++) {
        hs_point_view v;
        view_of(c, heap[i].slot, vbuf, &v);
        res->visited++;
        rc = fn ? fn(ctx, &v) : 0;
    }
    pthread_rwlock_unlock(&c->rw);
    free(heap);
    free(vbuf);
    return rc;
}

/* HS_READ_COUNT: the matching live points at one instant. */
static int read_count(hs_coll *c, const read_filter *f, hs_read_result *res)
{
    uint64_t n = 0;
    pthread_rwlock_rdlock(&c->rw);
    if (!filtered(f)) {
        n = c->nlive;
    } else {
        for (uint32_t s = 0; s < c->nslots; s++) {
            if (!hs_live(c, s))
                continue;
            hs_point_view v;
            view_of(c, s, NULL, &v);
            n += accepted(f, &v);
        }
    }
    pthread_rwlock_unlock(&c->rw);
    res->visited = n;
    return HS_OK;
}

/* HS_READ_NEWEST: slots are assigned in write order (a rebuild keeps that order): walk them
 * downwards; the cursor counts slots from the newest. */
static int read_newest(hs_coll *c, const hs_read_opts *o, const read_filter *f, hs_point_fn fn,
                       void *ctx, hs_read_result *res, hs_error *err)
{
    res->next = o->cursor;
    if (o->limit == 0)
        return HS_OK;
    double *vbuf = o->with_vector ? malloc(c->cfg.dimension * sizeof(double)) : NULL;
    if (o->with_vector && !vbuf)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    int rc = 0;
    pthread_rwlock_rdlock(&c->rw);
    uint64_t pos = o->cursor;
    size_t seen = 0;
    for (; pos < c->nslots && rc == 0; pos++) {
        uint32_t s = (uint32_t)(c->nslots - 1 - pos);
        if (!hs_live(c, s))
            continue;
        hs_point_view v;
        view_of(c, s, vbuf, &v);
        if (filtered(f) && !accepted(f, &v))
            continue;
        if (seen == o->limit) {
            res->more = 1;
            break;
        }
        res->visited++;
        rc = fn ? fn(ctx, &v) : 0;
        seen++;
    }
    res->next = pos;
    pthread_rwlock_unlock(&c->rw);
    free(vbuf);
    return rc;
}

void hs_read_opts_init(hs_read_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->mode = HS_READ_SCROLL;
    o->limit = 100;
}

int hs_read(hs_collection *h, const hs_read_opts *o, hs_point_fn fn, void *ctx,
            hs_read_result *res, hs_error *err)
{
    hs_read_result local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof(*res));
    res->next = o->cursor;
    if (o->mode != HS_READ_IDS && o->mode != HS_READ_SCROLL && o->mode != HS_READ_NEWEST &&
        o->mode != HS_READ_COUNT)
        return hs_error_set(err, HS_EINVAL, "Unknown read mode %d", (int)o->mode);
    if (o->where) {
        int rc = hs_where_check(o->where, err);
        if (rc != HS_OK)
            return rc;
    }
    bool by_sid = (o->mode == HS_READ_IDS && o->sids) ||
                  (o->mode == HS_READ_SCROLL && o->after_sid);
    if (by_sid && h->e->config.id_type != HS_ID_STRING)
        return hs_coll_id_kind(h->e, err);
    for (size_t i = 0; o->mode == HS_READ_IDS && o->sids && i < o->nsids; i++) {
        int rc = hs_sid_check_at(o->sids[i].str, o->sids[i].len, (long)i, err);
        if (rc != HS_OK)
            return rc;
    }
    if (o->mode == HS_READ_SCROLL && o->after_sid) {
        int rc = hs_sid_check(o->after_sid, o->after_sid_len, err);
        if (rc != HS_OK)
            return rc;
    }
    hs_coll *c;
    int rc = hs_coll_acquire(h, &c, err);
    if (rc == HS_OK && o->mode == HS_READ_IDS)
        rc = hs_coll_ids(c, err);
    if (rc != HS_OK)
        return rc;
    read_filter f = {o->where, o->accept, o->accept_ctx};
    switch (o->mode) {
    case HS_READ_IDS:
        return read_ids(c, o, &f, fn, ctx, res, err);
    case HS_READ_SCROLL:
        return read_scroll(c, o, &f, fn, ctx, res, err);
    case HS_READ_NEWEST:
        return read_newest(c, o, &f, fn, ctx, res, err);
    default:
        return read_count(c, &f, res);
    }
}

int hs_coll_stats_of(hs_collection *h, hs_collection_stats *st)
{
    memset(st, 0, sizeof(*st));
    /* The handle's reference keeps a LOADED collection loaded, but the handle may have been
     * opened while the collection was loading or unloading: e->coll is read, and the state
     * checked, under db->lock.  Anything not LOADED answers from the catalog (an unloading
     * collection's figures there are final, a loading one's are those it is loaded from). */
    pthread_mutex_lock(&h->db->lock);
    hs_coll *c = h->e->state == CE_LOADED ? h->e->coll : NULL;
    if (!c)
        hs_stats_cold_locked(h->db, h->e, st);
    pthread_mutex_unlock(&h->db->lock);
    if (!c)
        return HS_OK;
    pthread_mutex_lock(&c->wlock);
    pthread_rwlock_rdlock(&c->rw);
    st->config = c->cfg;
    st->config.ef_search = hs_coll_ef_search(c);
    st->config.ef_construction = hs_coll_ef_construction(c);
    st->config.oversampling = hs_coll_oversampling(c);
    st->count = c->nlive;
    st->deleted = c->nslots - c->nlive;
    uint32_t low = __atomic_load_n(&c->index_low, __ATOMIC_ACQUIRE);
    st->indexing_queue = c->nslots > low ? c->nslots - low : 0;
    st->clock = c->clock;
    st->loaded = 1;
    st->unreachable = __atomic_load_n(&c->unreachable, __ATOMIC_RELAXED);
    st->read_only = c->read_only;
    st->frozen = __atomic_load_n(&c->e->frozen, __ATOMIC_ACQUIRE);
    pthread_rwlock_unlock(&c->rw);
    st->memory_bytes = hs_coll_memory(c);
    hs_coll_resident(c, st);
    st->disk_bytes = hs_segset_disk_bytes(c->vecs) + hs_wal_disk_bytes(c->wal);
    pthread_mutex_unlock(&c->wlock);
    return HS_OK;
}

int hs_collection_wait_indexed(hs_collection *h, hs_error *err)
{
    hs_coll *c;
    int rc = hs_coll_acquire(h, &c, err);
    if (rc == HS_OK)
        hs_indexer_drain(c);
    return rc;
}

int hs_collection_digest(hs_collection *h, hs_digest *out, hs_error *err)
{
    hs_coll *c;
    int rc = hs_coll_acquire(h, &c, err);
    if (rc != HS_OK)
        return rc;
    pthread_mutex_lock(&c->wlock); /* the clock is guarded by wlock */
    pthread_rwlock_rdlock(&c->rw);
    memcpy(out->buckets, c->digest, sizeof(out->buckets));
    out->count = c->nlive;
    out->clock = c->clock;
    pthread_rwlock_unlock(&c->rw);
    pthread_mutex_unlock(&c->wlock);
    out->state_hash = 0;
    for (int b = 0; b < 256; b++)
        out->state_hash ^= out->buckets[b];
    return HS_OK;
}
