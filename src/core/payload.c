/*
 * payload.c: metadata updates of existing points (hs_update_payload).
 *
 * An update rewrites each chosen point with its stored vector and its new metadata, as one
 * UPSERT record (write.c) holding the vectors exactly as stored (processed, at storage
 * precision).  So the log, replay, checkpoints, rebuilds, the payload indexes and the text index
 * treat it as the upsert it is, with nothing of their own to learn, and the point's digest hash
 * (id and vector) is unchanged.  A rewritten point takes a new slot, as every replacement does:
 * a slot's metadata never changes, which the payload indexes rely on.
 *
 * The new metadata is computed under the writer lock from the applied state, after the queue of
 * writes waiting for their fsync has been drained, so the record never overtakes an earlier
 * write of the same point and replay reproduces it exactly.  Locking: wlock from the drain to
 * the append; the read lock while the points are chosen and their records read.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/meta.h"

void hs_payload_opts_init(hs_payload_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->mode = HS_PAYLOAD_MERGE;
    o->durability = HS_DURABILITY_DEFAULT;
}

/* ---- the keys an update names ------------------------------------------------------------ */

static int cmp_key(const void *a, const void *b)
{
    const hs_kv *x = *(const hs_kv *const *)a, *y = *(const hs_kv *const *)b;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    return memcmp(x->key, y->key, x->key_len);
}

typedef struct keyset {
    const hs_kv **k; /* sorted by (length, bytes) */
    size_t n;
} keyset;

static bool keyset_has(void *ctx, const char *k, size_t kl)
{
    const keyset *ks = ctx;
    hs_kv probe = {k, kl, NULL, 0, NULL};
    const hs_kv *pp = &probe;
    return ks->n && bsearch(&pp, ks->k, ks->n, sizeof(*ks->k), cmp_key) != NULL;
}

/* The entries (MERGE, REPLACE) or keys (DELETE) of o, checked as the write path checks them. */
static int check_entries(const hs_payload_opts *o, hs_error *err)
{
    if (o->mode != HS_PAYLOAD_MERGE && o->mode != HS_PAYLOAD_REPLACE &&
        o->mode != HS_PAYLOAD_DELETE)
        return hs_error_set(err, HS_EINVAL, "Unknown payload update mode %d", (int)o->mode);
    if (o->nmeta && !o->meta)
        return hs_error_set(err, HS_EINVAL, "metadata entries missing");
    if (o->mode != HS_PAYLOAD_DELETE)
        return hs_validate_meta(o->meta, o->nmeta, err);
    hs_kv *keys = malloc((o->nmeta ? o->nmeta : 1) * sizeof(hs_kv));
    if (!keys)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    for (size_t i = 0; i < o->nmeta; i++) /* only the keys are read */
        keys[i] = (hs_kv){o->meta[i].key, o->meta[i].key_len, NULL, 0, NULL};
    int rc = hs_validate_meta(keys, o->nmeta, err);
    free(keys);
    return rc;
}

/* ---- choosing the points ------------------------------------------------------------------ */

typedef struct chosen {
    uint32_t *slots;
    size_t n, cap;
    uint64_t matched; /* accept: every matching point, past the limit too */
} chosen;

static int chosen_add(chosen *ch, uint32_t slot)
{
    if (ch->n == ch->cap) {
        size_t cap = ch->cap ? ch->cap * 2 : 64;
        uint32_t *ns = realloc(ch->slots, cap * sizeof(uint32_t));
        if (!ns)
            return HS_ENOMEM;
        ch->slots = ns;
        ch->cap = cap;
    }
    ch->slots[ch->n++] = slot;
    return HS_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The live points among o->ids, in the order given, each once; the others into o->missing. */
static int choose_ids(hs_coll *c, const hs_payload_opts *o, chosen *ch, hs_payload_result *res)
{
    size_t n = o->nids, u = 0;
    uint64_t *sorted = malloc((n ? n : 1) * sizeof(uint64_t));
    bool *seen = calloc(n ? n : 1, sizeof(bool));
    int rc = sorted && seen ? HS_OK : HS_ENOMEM;
    if (rc == HS_OK && n) {
        memcpy(sorted, o->ids, n * sizeof(uint64_t));
        qsort(sorted, n, sizeof(uint64_t), cmp_u64);
        for (size_t i = 0; i < n; i++)
            if (u == 0 || sorted[u - 1] != sorted[i])
                sorted[u++] = sorted[i];
    }
    for (size_t i = 0; i < n && rc == HS_OK; i++) {
        uint64_t *at = bsearch(&o->ids[i], sorted, u, sizeof(uint64_t), cmp_u64);
        size_t pos = (size_t)(at - sorted);
        if (seen[pos])
            continue;
        seen[pos] = true;
        uint32_t slot;
        if (hs_idmap_get(&c->ids, o->ids[i], &slot))
            rc = chosen_add(ch, slot);
        else if (o->missing)
            o->missing[res->missing++] = o->ids[i];
        else
            res->missing++;
    }
    free(sorted);
    free(seen);
    return rc;
}

/* Every live point accept takes, in slot order (up to max_points; all are counted). */
static int choose_accepted(hs_coll *c, const hs_payload_opts *o, chosen *ch)
{
    for (uint32_t s = 0; s < c->nslots; s++) {
        if (!hs_live(c, s))
            continue;
        hs_point_view v;
        hs_coll_view(c, s, NULL, &v);
        if (!o->accept(o->accept_ctx, &v))
            continue;
        ch->matched++;
        if (o->max_points && ch->matched > o->max_points)
            continue;
        if (chosen_add(ch, s) != HS_OK)
            return HS_ENOMEM;
    }
    return HS_OK;
}

/* ---- the record ----------------------------------------------------------------------------- */

typedef struct update {
    const hs_payload_opts *o;
    keyset ks;             /* MERGE, DELETE: the keys whose old entries go */
    const hs_kv *add;      /* MERGE, REPLACE: the entries written */
    size_t nadd;
} update;

static const uint8_t *slot_meta(const hs_coll *c, uint32_t slot)
{
    return *(uint8_t *const *)hs_chunks_at(&c->meta, slot);
}

/* The UPSERT payload of the chosen points whose metadata changes (after HS_WAL_HEADER bytes of
 * room in *out); *npoints of them.  The read lock is held by the caller. */
static int build_record(hs_coll *c, const update *u, const chosen *ch, uint8_t **out,
                        size_t *len, size_t *npoints, hs_error *err)
{
    size_t vbytes = (size_t)c->cfg.dimension * (c->f64 ? 8 : 4), total = 4;
    for (size_t i = 0; i < ch->n; i++) {
        const uint8_t *old = u->o->mode == HS_PAYLOAD_REPLACE ? NULL : slot_meta(c, ch->slots[i]);
        total += 12 + vbytes + hs_meta_rewrite_size(old, u->add, u->nadd);
    }
    uint8_t *buf = malloc(HS_WAL_HEADER + total);
    if (!buf)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    uint8_t *p = buf + HS_WAL_HEADER + 4;
    size_t n = 0;
    const hs_chunks *recs = hs_segset_chunks(c->vecs);
    for (size_t i = 0; i < ch->n; i++) {
        uint32_t slot = ch->slots[i];
        const uint8_t *stored = slot_meta(c, slot);
        const uint8_t *old = u->o->mode == HS_PAYLOAD_REPLACE ? NULL : stored;
        uint8_t *m = p + 12 + vbytes;
        size_t ml = hs_meta_rewrite(old, u->ks.n ? keyset_has : NULL, (void *)&u->ks, u->add,
                                    u->nadd, m);
        uint64_t id = *(const uint64_t *)hs_chunks_at(&c->slot_ids, slot);
        if (hs_get_le32(m) > HS_META_MAX_ENTRIES) {
            free(buf);
            hs_error_set(err, HS_EMETADATA, "Invalid metadata: point %llu would hold more than "
                         "%d entries", (unsigned long long)id, HS_META_MAX_ENTRIES);
            if (err) {
                err->max = HS_META_MAX_ENTRIES;
                err->id = id;
            }
            return hs_error_about(err, HS_EMETADATA, HS_FIELD_POINT, HS_REASON_TOO_MANY);
        }
        /* unchanged (no entries before and none now, or the same bytes): not rewritten */
        bool same = stored ? hs_get_le32(stored) == ml && !memcmp(stored + 4, m, ml)
                           : hs_get_le32(m) == 0;
        if (same)
            continue;
        hs_put_le64(p, id);
        hs_put_le32(p + 8, (uint32_t)ml);
        memcpy(p + 12, hs_chunks_at(recs, slot), vbytes); /* the components as stored */
        p = m + ml;
        n++;
    }
    hs_put_le32(buf + HS_WAL_HEADER, (uint32_t)n);
    *out = buf;
    *len = (size_t)(p - (buf + HS_WAL_HEADER));
    *npoints = n;
    return HS_OK;
}

/* Chooses the points and builds the record under the read lock (wlock held by the caller). */
static int choose_and_build(hs_coll *c, const update *u, hs_payload_result *res, uint8_t **buf,
                            size_t *len, size_t *n, hs_error *err)
{
    const hs_payload_opts *o = u->o;
    chosen ch = {0};
    pthread_rwlock_rdlock(&c->rw);
    int rc = o->ids ? choose_ids(c, o, &ch, res) : choose_accepted(c, o, &ch);
    if (rc != HS_OK)
        rc = hs_error_set(err, HS_ENOMEM, "Out of memory");
    if (rc == HS_OK && !o->ids && o->max_points && ch.matched > o->max_points) {
        hs_error_set(err, HS_ERANGE, "%llu points match; at most %zu are updated at once",
                     (unsigned long long)ch.matched, o->max_points);
        rc = hs_error_range(err, HS_ERANGE, HS_FIELD_FILTER, ch.matched, (double)ch.matched, 0,
                            (double)o->max_points);
    }
    if (rc == HS_OK) {
        res->updated = ch.n;
        rc = build_record(c, u, &ch, buf, len, n, err);
    }
    pthread_rwlock_unlock(&c->rw);
    free(ch.slots);
    return rc;
}

static int prepare_update(const hs_payload_opts *o, update *u, hs_error *err)
{
    memset(u, 0, sizeof(*u));
    u->o = o;
    if (o->mode != HS_PAYLOAD_DELETE) {
        u->add = o->meta;
        u->nadd = o->nmeta;
    }
    if (o->mode == HS_PAYLOAD_REPLACE || o->nmeta == 0)
        return HS_OK;
    u->ks.k = malloc(o->nmeta * sizeof(*u->ks.k));
    if (!u->ks.k)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    for (size_t i = 0; i < o->nmeta; i++)
        u->ks.k[i] = &o->meta[i];
    qsort(u->ks.k, o->nmeta, sizeof(*u->ks.k), cmp_key);
    u->ks.n = o->nmeta;
    return HS_OK;
}

int hs_update_payload(hs_collection *h, const hs_payload_opts *o, hs_payload_result *res,
                      hs_error *err)
{
    hs_payload_result local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof(*res));
    int rc = check_entries(o, err);
    if (rc != HS_OK)
        return rc;
    if (!o->ids && !o->accept)
        return HS_OK; /* no point chosen */
    if (__atomic_load_n(&h->e->frozen, __ATOMIC_ACQUIRE))
        return hs_coll_frozen(h->e, err); /* without loading it */
    hs_coll *c;
    if ((rc = hs_coll_acquire(h, &c, err)) != HS_OK)
        return rc;
    update u;
    if ((rc = prepare_update(o, &u, err)) != HS_OK)
        return rc;
    hs_durability mode = hs_coll_durability(c, o->durability);
    hs_pending p;
    memset(&p, 0, sizeof(p));
    uint8_t *buf = NULL;
    size_t len = 0, n = 0;
    pthread_mutex_lock(&c->wlock);
    hs_coll_drain_locked(c); /* the new metadata is computed from every write logged before */
    rc = hs_coll_writable_locked(c, err);
    if (rc == HS_OK)
        rc = hs_coll_ids_locked(c, err);
    if (rc == HS_OK)
        rc = choose_and_build(c, &u, res, &buf, &len, &n, err);
    bool logging = rc == HS_OK && n > 0;
    if (logging)
        rc = hs_coll_upsert_locked(c, buf, len, n, mode, &p, err);
    pthread_mutex_unlock(&c->wlock);
    if (logging)
        rc = hs_coll_upsert_finish(c, &p, rc, mode, err);
    free(buf);
    free(u.ks.k);
    if (rc != HS_OK) {
        res->updated = 0;
        res->missing = 0;
    }
    return rc;
}
