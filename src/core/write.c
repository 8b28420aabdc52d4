/*
 * write.c: the write path (spec B2): validate everything, log one record, wait for the requested
 * durability, apply (docs/internals/storage.md, "Write path").  Replay after a restart applies
 * the same records through the same apply functions, so slots are assigned identically.
 *
 * Record payloads (little-endian):
 *   UPSERT: u32 n, then n x { u64 id, u32 meta_len, vector (dim x 4 or 8 bytes: the processed
 *           vector at storage precision), meta blob (meta_len bytes) }; point i gets clock lsn+i.
 *   DELETE: u32 n, then n ids (u64) of live points; id i gets clock lsn+i.
 *   CONFIGURE: u32 ef_search, u32 ef_construction (0 = unchanged); lsn = the current clock.
 *   CREATE: the collection's parameters (32 bytes); lsn = its creation clock.
 *   UPSERT_SID, DELETE_SID (collections of string ids, which write no UPSERT or DELETE): as
 *           UPSERT and DELETE with { u16 length, the string id } where the id was; the internal
 *           key of a string is not logged: apply gives it (the key the string holds, or the next
 *           one), so replay in log order gives every string the key it had.
 * Meta blob: u32 count, then count x { u32 key_len, key, u32 value_len, value }; in memory
 * each live slot holds a malloc'd copy prefixed with its u32 length.
 *
 * Anything that can fail (capacity, allocations) happens before the record is logged, so a
 * logged record always applies.  A logged BATCH or STRICT write waits in the collection's queue
 * (hs_pending, log order) until its record is durable and is applied then, so that no reader
 * sees a write the log may still refuse; when the log fails first, the queued writes are
 * refused, never applied, and the collection turns read-only.  Locking: writers hold c->wlock
 * from validation of the state to the append and again to apply (the queue is guarded by it);
 * apply takes c->rw for writing.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/log.h"
#include "util/meta.h"
#include "util/numfmt.h"
#include "util/siphash.h"
#include "util/utf8.h"


/* ---- validation -------------------------------------------------------------------------- */

/* A Lorentz vector lies on the upper sheet: x0 > 0 and -x0^2 + |x|^2 = -1 within
 * HS_LORENTZ_TOL x x0^2 (float32 model outputs carry a relative error of ~1e-7 per component). */
/* Details: reason RANGE with item 0 and value x0 when x0 <= 0; otherwise value = the Minkowski
 * square norm and max = the relative tolerance. */
static int check_hyperboloid(const double *v, size_t dim, bool query, hs_error *err)
{
    const char *what = query ? "Query vector" : "Vector";
    hs_field field = query ? HS_FIELD_QUERY : HS_FIELD_VECTOR;
    if (!(v[0] > 0.0)) {
        hs_error_set(err, HS_EHYPERBOLOID, "%s is not on the upper sheet of the hyperboloid: x0 "
                     "must be positive (got %g)", what, v[0]);
        if (err) {
            err->item = 0;
            err->value = v[0];
        }
        return hs_error_about(err, HS_EHYPERBOLOID, field, HS_REASON_RANGE);
    }
    double s = hs_lorentz_sqnorm(v, dim);
    if (!(fabs(s + 1.0) <= HS_LORENTZ_TOL * v[0] * v[0])) {
        char num[40];
        hs_fmt_double(s, num, sizeof(num));
        hs_error_set(err, HS_EHYPERBOLOID, "%s is not on the hyperboloid: -x0^2 + sum(xi^2) = %s, "
                     "expected -1 (relative tolerance %g of x0^2)", what, num, HS_LORENTZ_TOL);
        if (err) {
            err->value = s;
            err->max = HS_LORENTZ_TOL;
        }
        return hs_error_about(err, HS_EHYPERBOLOID, field, HS_REASON_NONE);
    }
    return HS_OK;
}

int hs_validate_vector(const hs_coll *c, const double *v, size_t dim, bool query, hs_error *err)
{
    hs_field field = query ? HS_FIELD_QUERY : HS_FIELD_VECTOR;
    if (dim == 0 || !v) {
        hs_error_set(err, HS_EEMPTY, query ? "Query vector must not be empty"
                                           : "Vector must not be empty");
        return hs_error_about(err, HS_EEMPTY, field, HS_REASON_EMPTY);
    }
    if (dim != c->cfg.dimension) {
        hs_error_set(err, HS_EDIM, "%s dimension mismatch. Expected %u, got %zu",
                     query ? "Query" : "Vector", c->cfg.dimension, dim);
        if (err) {
            err->expected = c->cfg.dimension;
            err->actual = dim;
        }
        return hs_error_about(err, HS_EDIM, field, HS_REASON_NONE);
    }
    long bad = hs_vec_first_nonfinite(v, dim);
    if (bad >= 0) {
        hs_error_set(err, HS_ENONFINITE, "Vector contains a non-finite value at index %ld", bad);
        if (err)
            err->item = bad;
        return hs_error_about(err, HS_ENONFINITE, field, HS_REASON_NONFINITE);
    }
    if (c->cfg.metric == HS_METRIC_L2) {
        /* stored and searched in float32 as given (B3.1): a larger value would become infinite
         * (cosine vectors are normalised first, so any finite value is fine there) */
        for (size_t i = 0; i < dim; i++)
            if (fabs(v[i]) > FLT_MAX) {
                hs_error_set(err, HS_ENONFINITE, "%s value at index %zu is outside the float32 "
                             "range of the l2 metric (|x| > 3.4028234663852886e+38)",
                             query ? "Query vector" : "Vector", i);
                if (err)
                    err->item = (long)i;
                return hs_error_about(err, HS_ENONFINITE, field, HS_REASON_FLOAT32);
            }
    }
    if (c->cfg.metric == HS_METRIC_COSINE) {
        bool zero = true;
        for (size_t i = 0; i < dim && zero; i++)
            zero = v[i] == 0.0;
        if (zero) {
            hs_error_set(err, HS_EZERO, "Zero vector is not allowed with the cosine metric");
            return hs_error_about(err, HS_EZERO, field, HS_REASON_NONE);
        }
    }
    if (c->cfg.metric == HS_METRIC_POINCARE) {
        double s = hs_vec_sqnorm_strict(v, dim);
        if (!(s < 1.0)) {
            char num[40];
            hs_fmt_double(s, num, sizeof(num));
            hs_error_set(err, HS_EBALL, "%s must be strictly inside the Poincaré ball (squared "
                         "norm %s >= 1)", query ? "Query vector" : "Vector", num);
            if (err)
                err->value = s;
            return hs_error_about(err, HS_EBALL, field, HS_REASON_NONE);
        }
    }
    if (c->cfg.metric == HS_METRIC_LORENTZ)
        return check_hyperboloid(v, dim, query, err);
    return HS_OK;
}

/* An HS_EMETADATA failure: message, field, reason, the limit, the key concerned (or NULL). */
static int meta_error(hs_error *err, hs_field field, hs_reason reason, double limit,
                      const hs_kv *kv, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int meta_error(hs_error *err, hs_field field, hs_reason reason, double limit,
                      const hs_kv *kv, const char *fmt, ...)
{
    if (!err)
        return HS_EMETADATA;
    char text[sizeof(err->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    hs_error_set(err, HS_EMETADATA, "%s", text);
    err->max = limit;
    if (kv)
        hs_error_key(err, kv->key, kv->key_len);
    return hs_error_about(err, HS_EMETADATA, field, reason);
}

static int too_long(hs_error *err, const hs_kv *e)
{
    return meta_error(err, HS_FIELD_METADATA_VALUE, HS_REASON_TOO_LONG, HS_META_MAX_VALUE, e,
                      "Invalid metadata: value of key '%.*s' longer than %d bytes",
                      (int)HS_MIN(e->key_len, 64u), e->key, HS_META_MAX_VALUE);
}

/* One typed scalar of entry e (a list element when in_list). */
static int validate_scalar(const hs_kv *e, const hs_value *v, bool in_list, hs_error *err)
{
    int kl = (int)HS_MIN(e->key_len, 64u);
    switch (v->type) {
    case HS_VALUE_STRING:
        if (v->len && !v->str)
            return meta_error(err, HS_FIELD_METADATA_VALUE, HS_REASON_EMPTY, 0, e,
                              "Invalid metadata: value of key '%.*s' has no bytes", kl, e->key);
        if (v->len && !hs_utf8_valid(v->str, v->len))
            return meta_error(err, HS_FIELD_METADATA, HS_REASON_ENCODING, 0, NULL,
                              "Invalid metadata: invalid UTF-8");
        if (v->len > HS_META_MAX_VALUE)
            return too_long(err, e);
        return HS_OK;
    case HS_VALUE_INT:
    case HS_VALUE_BOOL:
        return HS_OK;
    case HS_VALUE_FLOAT:
        if (!isfinite(v->f))
            return meta_error(err, HS_FIELD_METADATA_VALUE, HS_REASON_NONFINITE, 0, e,
                              "Invalid metadata: value of key '%.*s' is not a finite number", kl,
                              e->key);
        return HS_OK;
    default:
        return meta_error(err, HS_FIELD_METADATA_VALUE, HS_REASON_TYPE, 0, e,
                          in_list ? "Invalid metadata: list of key '%.*s' holds a list or a value "
                                    "of unknown type"
                                  : "Invalid metadata: value of key '%.*s' has an unknown type",
                          kl, e->key);
    }
}

/* The value of entry e: a string, a typed scalar or a list of scalars. */
static int validate_value(const hs_kv *e, hs_error *err)
{
    const hs_value *v = e->typed;
    if (!v) {
        if (e->value_len && !hs_utf8_valid(e->value, e->value_len))
            return meta_error(err, HS_FIELD_METADATA, HS_REASON_ENCODING, 0, NULL,
                              "Invalid metadata: invalid UTF-8");
        return e->value_len > HS_META_MAX_VALUE ? too_long(err, e) : HS_OK;
    }
    if (v->type != HS_VALUE_LIST)
        return validate_scalar(e, v, false, err);
    if (v->count > HS_META_MAX_LIST)
        return meta_error(err, HS_FIELD_METADATA_VALUE, HS_REASON_TOO_MANY, HS_META_MAX_LIST, e,
                          "Invalid metadata: list of key '%.*s' has more than %d elements",
                          (int)HS_MIN(e->key_len, 64u), e->key, HS_META_MAX_LIST);
    if (v->count && !v->items)
        return meta_error(err, HS_FIELD_METADATA_VALUE, HS_REASON_EMPTY, 0, e,
                          "Invalid metadata: list of key '%.*s' has no elements",
                          (int)HS_MIN(e->key_len, 64u), e->key);
    for (size_t i = 0; i < v->count; i++) {
        int rc = validate_scalar(e, &v->items[i], true, err);
        if (rc != HS_OK)
            return rc;
    }
    /* the list's string form is what a client of string metadata receives */
    return hs_value_text_len(v) > HS_META_MAX_VALUE ? too_long(err, e) : HS_OK;
}

int hs_validate_meta(const hs_kv *kv, size_t n, hs_error *err)
{
    if (n > HS_META_MAX_ENTRIES)
        return meta_error(err, HS_FIELD_METADATA, HS_REASON_TOO_MANY, HS_META_MAX_ENTRIES, NULL,
                          "Invalid metadata: more than %d entries", HS_META_MAX_ENTRIES);
    for (size_t i = 0; i < n; i++) {
        const hs_kv *e = &kv[i];
        if (e->key_len == 0 || !e->key)
            return meta_error(err, HS_FIELD_METADATA_KEY, HS_REASON_EMPTY, 0, NULL,
                              "Invalid metadata: empty key");
        if (e->key_len > HS_META_MAX_KEY)
            return meta_error(err, HS_FIELD_METADATA_KEY, HS_REASON_TOO_LONG, HS_META_MAX_KEY,
                              NULL, "Invalid metadata: key longer than %d bytes",
                              HS_META_MAX_KEY);
        if (!hs_utf8_valid(e->key, e->key_len))
            return meta_error(err, HS_FIELD_METADATA, HS_REASON_ENCODING, 0, NULL,
                              "Invalid metadata: invalid UTF-8");
        int rc = validate_value(e, err);
        if (rc != HS_OK)
            return rc;
    }
    return HS_OK;
}

/* ---- string ids --------------------------------------------------------------------------- */

int hs_sid_check(const char *sid, size_t len, hs_error *err)
{
    return hs_sid_check_at(sid, len, -1, err);
}

int hs_sid_check_at(const char *sid, size_t len, long index, hs_error *err)
{
    int rc = HS_OK;
    hs_reason why = HS_REASON_NONE;
    const char *nul = sid && len ? memchr(sid, 0, len) : NULL;
    if (len == 0 || !sid) {
        rc = hs_error_set(err, HS_EINVAL, "Invalid string id: it is empty (string ids are 1 to "
                          "%d bytes of UTF-8)", HS_SID_MAX);
        why = HS_REASON_EMPTY;
    } else if (len > HS_SID_MAX) {
        rc = hs_error_set(err, HS_EINVAL, "Invalid string id: %zu bytes, at most %d are allowed",
                          len, HS_SID_MAX);
        if (err) {
            err->actual = len;
            err->max = HS_SID_MAX;
        }
        why = HS_REASON_TOO_LONG;
    } else if (nul) {
        rc = hs_error_set(err, HS_EINVAL, "Invalid string id: it contains a NUL byte");
        if (err)
            err->item = (long)(nul - sid);
        why = HS_REASON_SYNTAX;
    } else if (!hs_utf8_valid(sid, len)) {
        rc = hs_error_set(err, HS_EINVAL, "Invalid string id: not valid UTF-8");
        why = HS_REASON_ENCODING;
    }
    if (rc == HS_OK)
        return HS_OK;
    if (err)
        err->index = index;
    return hs_error_about(err, HS_EINVAL, HS_FIELD_POINT, why);
}

void hs_error_sid(hs_error *err, const char *sid, size_t len)
{
    if (!err)
        return;
    size_t n = HS_MIN(len, 60u); /* valid UTF-8: cut before a character */
    while (n < len && n > 0 && ((unsigned char)sid[n] & 0xC0) == 0x80)
        n--;
    hs_error_key(err, sid, n);
}

int hs_coll_id_kind(const centry *e, hs_error *err)
{
    bool str = e->config.id_type == HS_ID_STRING;
    hs_error_set(err, HS_EINVAL, "Collection '%s' uses %s ids: its points cannot be named by %s",
                 e->name, str ? "string" : "integer", str ? "integers" : "strings");
    hs_error_name(err, e->name);
    if (err)
        err->expected = (uint64_t)e->config.id_type;
    return hs_error_about(err, HS_EINVAL, HS_FIELD_POINT, HS_REASON_TYPE);
}

/* ---- metadata blobs -------------------------------------------------------------------- */

/* ---- apply ------------------------------------------------------------------------------- */

static inline void live_set(hs_coll *c, uint32_t slot, bool on)
{
    uint64_t bit = 1ULL << (slot & 63);
    if (on)
        __atomic_fetch_or(&c->live[slot >> 6], bit, __ATOMIC_RELAXED);
    else
        __atomic_fetch_and(&c->live[slot >> 6], ~bit, __ATOMIC_RELAXED);
}

unsigned hs_point_bucket(uint64_t id, const uint8_t *sid)
{
    return sid ? (unsigned)(hs_siphash13(0, 0, hs_sid_str(sid), hs_sid_len(sid)) & 255)
               : (unsigned)(id & 255);
}

uint64_t hs_point_hash(hs_coll *c, uint64_t id, const uint8_t *sid, const void *rec)
{
    /* u32le(id) for the ids of the wire protocol; wider ids are hashed as u64le; a string id's
     * point: its bytes (whatever internal key it has) */
    size_t idlen = sid ? hs_sid_len(sid) : id <= UINT32_MAX ? 4 : 8, dim = c->cfg.dimension;
    if (sid)
        memcpy(c->hashbuf, hs_sid_str(sid), idlen);
    else
        hs_put_le64(c->hashbuf, id); /* its first idlen bytes */
    uint8_t *p = c->hashbuf + idlen;
    for (size_t i = 0; i < dim; i++) {
        double v = c->f64 ? ((const double *)rec)[i] : (double)((const float *)rec)[i];
        memcpy(p + 8 * i, &v, 8);
    }
    return hs_siphash13(0, 0, c->hashbuf, idlen + 8 * dim);
}

void hs_digest_recompute(hs_coll *c)
{
    memset(c->digest, 0, sizeof(c->digest));
    const hs_chunks *full = hs_segset_chunks(c->vecs);
    for (uint32_t s = 0; s < c->nslots; s++) {
        if (!hs_live(c, s))
            continue;
        uint64_t id = *(uint64_t *)hs_chunks_at(&c->slot_ids, s);
        const uint8_t *sid = hs_coll_sid(c, s);
        c->digest[hs_point_bucket(id, sid)] ^= hs_point_hash(c, id, sid, hs_chunks_at(full, s));
    }
}

/* Removes the live point of `id` (if any) from every structure.  Caller holds rw for writing. */
static bool unlink_point(hs_coll *c, uint64_t id)
{
    uint32_t old;
    if (!hs_idmap_get(&c->ids, id, &old))
        return false;
    hs_idmap_del(&c->ids, id);
    uint8_t *sid = hs_coll_sid(c, old);
    c->digest[hs_point_bucket(id, sid)] ^=
        hs_point_hash(c, id, sid, hs_chunks_at(hs_segset_chunks(c->vecs), old));
    if (sid) {
        hs_sidmap_del(&c->smap, sid);
        __atomic_fetch_sub(&c->sid_bytes, HS_SID_HDR + (uint64_t)hs_sid_len(sid),
                           __ATOMIC_RELAXED);
        hs_sid_free(c, sid);
        *(uint8_t **)hs_chunks_at(&c->sids, old) = NULL;
    }
    live_set(c, old, false);
    uint8_t **mp = (uint8_t **)hs_chunks_at(&c->meta, old);
    hs_coll_pidx_update(c, old, *mp, false);
    if (*mp)
        __atomic_fetch_sub(&c->meta_bytes, 4 + (uint64_t)hs_get_le32(*mp), __ATOMIC_RELAXED);
    hs_meta_free(c, *mp);
    *mp = NULL;
    if (hs_hnsw_contains(c->graph, old))
        hs_hnsw_mark_deleted(c->graph, old);
    c->nlive--;
    return true;
}

/* Applies one upsert.  Capacity (slots, id maps) was reserved and blob (and sid, the string id's
 * blob in a collection of string ids) allocated by the caller.  Caller holds rw for writing. */
static void apply_upsert(hs_coll *c, uint64_t id, const uint8_t *vec, uint8_t *blob, uint8_t *sid)
{
    uint32_t slot = c->nslots;
    void *rec = hs_chunks_at(hs_segset_chunks(c->vecs), slot);
    /* the payload is not aligned: copy the components out first */
    memcpy(c->scratch, vec, (size_t)c->cfg.dimension * (c->f64 ? 8 : 4));
    if (c->f64)
        hs_space_encode_f64(&c->full, c->scratch, rec);
    else
        hs_space_encode_f32(&c->full, (const float *)(const void *)c->scratch, rec);
    if (c->quantized)
        hs_coll_encode_code(c, c->scratch, hs_chunks_at(&c->codes, slot), c->codebuf);
    hs_coll_narrow_put(c, slot, rec);
    if (sid) {
        /* the key of the live point of this string, or a new one */
        const uint8_t *cur = hs_sidmap_get(&c->smap, hs_sid_str(sid), hs_sid_len(sid));
        id = cur ? hs_sid_key(cur) : c->next_key++;
        hs_put_le64(sid, id);
        *(uint8_t **)hs_chunks_at(&c->sids, slot) = sid;
        __atomic_fetch_add(&c->sid_bytes, HS_SID_HDR + (uint64_t)hs_sid_len(sid),
                           __ATOMIC_RELAXED);
    }
    *(uint64_t *)hs_chunks_at(&c->slot_ids, slot) = id;
    *(uint8_t **)hs_chunks_at(&c->meta, slot) = blob;
    if (blob)
        __atomic_fetch_add(&c->meta_bytes, 4 + (uint64_t)hs_get_le32(blob), __ATOMIC_RELAXED);
    unlink_point(c, id);
    if (sid)
        hs_sidmap_put(&c->smap, sid); /* cannot fail: capacity was reserved */
    c->digest[hs_point_bucket(id, sid)] ^= hs_point_hash(c, id, sid, rec);
    hs_idmap_put(&c->ids, id, slot); /* cannot fail: capacity was reserved */
    live_set(c, slot, true);
    c->nlive++;
    hs_coll_pidx_update(c, slot, blob, true);
    __atomic_store_n(&c->nslots, slot + 1, __ATOMIC_RELEASE);
}

/* What prepare_upserts makes of an UPSERT or UPSERT_SID payload: per point its id (UPSERT),
 * its vector in the payload, its metadata blob and (UPSERT_SID) its string id's blob; each blob
 * owned here until apply takes it. */
typedef struct prepared {
    uint32_t n;
    uint8_t **blobs;
    const uint8_t **vecs;
    uint64_t *ids;
    uint8_t **sids; /* NULL for UPSERT */
} prepared;

static void prepared_free(prepared *pr, bool blobs_too)
{
    for (uint32_t i = 0; blobs_too && i < pr->n; i++) {
        free(pr->blobs ? pr->blobs[i] : NULL);
        free(pr->sids ? pr->sids[i] : NULL);
    }
    free(pr->blobs);
    free(pr->vecs);
    free(pr->ids);
    free(pr->sids);
    memset(pr, 0, sizeof(*pr));
}

/* One point of a payload at *pp: UPSERT { u64 id, u32 meta_len, vector, meta } or UPSERT_SID
 * { u16 sid_len, sid, u32 meta_len, vector, meta }.  False when it does not fit or its string id
 * is not one (hs_sid_check); *pp then is unchanged. */
static bool next_point(const uint8_t **pp, const uint8_t *end, bool sid, size_t vbytes,
                       uint64_t *id, const uint8_t **sidp, size_t *sid_len,
                       const uint8_t **vec, const uint8_t **meta, uint32_t *ml)
{
    const uint8_t *p = *pp;
    size_t head = 12;
    if (sid) {
        if (end - p < 2)
            return false;
        *sid_len = (size_t)p[0] | (size_t)p[1] << 8;
        *sidp = p + 2;
        head = 2 + *sid_len + 4;
        if ((size_t)(end - p) < head ||
            hs_sid_check((const char *)*sidp, *sid_len, NULL) != HS_OK)
            return false;
    } else if (end - p < 12) {
        return false;
    }
    *ml = hs_get_le32(p + head - 4);
    if ((size_t)(end - p - head) < vbytes || *ml > (size_t)(end - p - head) - vbytes)
        return false;
    *id = sid ? 0 : hs_get_le64(p);
    *vec = p + head;
    *meta = p + head + vbytes;
    *pp = *meta + *ml;
    return true;
}

/* A string id's blob for apply (its key is set then). */
static uint8_t *sid_blob(const uint8_t *sid, size_t len)
{
    uint8_t *b = malloc(HS_SID_HDR + len);
    if (b) {
        hs_put_le64(b, 0);
        b[8] = (uint8_t)len;
        b[9] = (uint8_t)(len >> 8);
        memcpy(b + HS_SID_HDR, sid, len);
    }
    return b;
}

/* Reserves room in the id maps for `want` live points (growing replaces the tables that gets
 * and deletes read under the read lock). */
static int reserve_maps(hs_coll *c, size_t want, hs_error *err)
{
    if (2 * want <= c->ids.cap && (!c->sid || 2 * want <= c->smap.cap))
        return HS_OK;
    pthread_rwlock_wrlock(&c->rw);
    int rc = hs_idmap_reserve(&c->ids, want);
    if (rc == HS_OK && c->sid)
        rc = hs_sidmap_reserve(&c->smap, want);
    pthread_rwlock_unlock(&c->rw);
    return rc == HS_OK ? HS_OK : hs_error_set(err, HS_ENOMEM, "Out of memory");
}

/* Prepares the upserts of a record payload (UPSERT, or UPSERT_SID when `sid`): checks its
 * structure, reserves capacity and copies the blobs. */
static int prepare_upserts(hs_coll *c, const uint8_t *payload, size_t len, bool sid,
                           prepared *pr, hs_error *err)
{
    memset(pr, 0, sizeof(*pr));
    if (len < 4)
        return hs_error_set(err, HS_ECORRUPT, "upsert record too short");
    if (sid != c->sid)
        return hs_error_set(err, HS_ECORRUPT, "upsert record of the wrong id kind");
    uint32_t n = hs_get_le32(payload);
    size_t vbytes = (size_t)c->cfg.dimension * (c->f64 ? 8 : 4);
    /* no count beyond what the payload can hold (an id takes 12 or at least 3 bytes) */
    if (n > (len - 4) / ((sid ? 7 : 12) + vbytes))
        return hs_error_set(err, HS_ECORRUPT, "upsert record: %u points do not fit", n);
    pr->n = n;
    pr->blobs = calloc(n ? n : 1, sizeof(*pr->blobs));
    pr->vecs = calloc(n ? n : 1, sizeof(*pr->vecs));
    pr->ids = calloc(n ? n : 1, sizeof(*pr->ids));
    pr->sids = sid ? calloc(n ? n : 1, sizeof(*pr->sids)) : NULL;
    int rc = pr->blobs && pr->vecs && pr->ids && (!sid || pr->sids)
                 ? HS_OK
                 : hs_error_set(err, HS_ENOMEM, "Out of memory");
    const uint8_t *p = payload + 4, *end = payload + len;
    for (uint32_t i = 0; i < n && rc == HS_OK; i++) {
        const uint8_t *sp = NULL, *mb;
        size_t sl = 0;
        uint32_t ml;
        if (!next_point(&p, end, sid, vbytes, &pr->ids[i], &sp, &sl, &pr->vecs[i], &mb, &ml)) {
            rc = hs_error_set(err, HS_ECORRUPT, "upsert record: point %u truncated or with a "
                              "bad id", i);
            break;
        }
        if (!hs_meta_blob_ok(mb, ml)) {
            rc = hs_error_set(err, HS_ECORRUPT, "upsert record: point %u has bad metadata", i);
            break;
        }
        if (hs_get_le32(mb) != 0) { /* no entries: no blob at all */
            pr->blobs[i] = malloc(4 + (size_t)ml); /* in memory: [u32 length][blob] */
            if (!pr->blobs[i]) {
                rc = hs_error_set(err, HS_ENOMEM, "Out of memory");
                break;
            }
            hs_put_le32(pr->blobs[i], ml);
            memcpy(pr->blobs[i] + 4, mb, ml);
        }
        if (sid && !(pr->sids[i] = sid_blob(sp, sl)))
            rc = hs_error_set(err, HS_ENOMEM, "Out of memory");
    }
    if (rc == HS_OK && p != end)
        rc = hs_error_set(err, HS_ECORRUPT, "upsert record: trailing bytes");
    /* queued upserts apply first: their points take the slots in between */
    if (rc == HS_OK)
        rc = hs_coll_reserve(c, (uint64_t)c->nslots + c->pend_points + n, err);
    if (rc == HS_OK)
        rc = reserve_maps(c, (size_t)(c->nlive + c->pend_points + n), err);
    if (rc != HS_OK)
        prepared_free(pr, true);
    return rc;
}

/* Applies prepared upserts (which take their blobs).  Caller holds rw for writing. */
static void apply_prepared(hs_coll *c, const prepared *pr)
{
    for (uint32_t i = 0; i < pr->n; i++)
        apply_upsert(c, pr->ids[i], pr->vecs[i], pr->blobs[i], pr->sids ? pr->sids[i] : NULL);
}

/* Applies a whole upsert record (live write or replay). */
static int apply_upsert_record(hs_coll *c, const uint8_t *payload, size_t len, bool sid,
                               uint64_t lsn, hs_error *err)
{
    prepared pr;
    int rc = prepare_upserts(c, payload, len, sid, &pr, err);
    if (rc != HS_OK)
        return rc;
    pthread_rwlock_wrlock(&c->rw);
    apply_prepared(c, &pr);
    pthread_rwlock_unlock(&c->rw);
    if (pr.n) {
        __atomic_store_n(&c->clock, lsn + pr.n - 1, __ATOMIC_RELEASE);
        __atomic_store_n(&c->dirty, true, __ATOMIC_RELAXED);
    }
    prepared_free(&pr, false);
    return HS_OK;
}

/* The string ids of a DELETE_SID payload: whether each { u16 length, id } fits and is one. */
static bool sids_ok(const uint8_t *payload, size_t len)
{
    const uint8_t *p = payload + 4, *end = payload + len;
    for (uint32_t i = 0, n = hs_get_le32(payload); i < n; i++) {
        size_t sl = end - p >= 2 ? (size_t)p[0] | (size_t)p[1] << 8 : 0;
        if (end - p < 2 || (size_t)(end - p - 2) < sl ||
            hs_sid_check((const char *)p + 2, sl, NULL) != HS_OK)
            return false;
        p += 2 + sl;
    }
    return p == end;
}

static int apply_delete_record(hs_coll *c, const uint8_t *payload, size_t len, bool sid,
                               uint64_t lsn, hs_error *err)
{
    if (sid != c->sid)
        return hs_error_set(err, HS_ECORRUPT, "delete record of the wrong id kind");
    if (len < 4 || (sid ? !sids_ok(payload, len)
                        : (len - 4) / 8 != hs_get_le32(payload) || (len - 4) % 8))
        return hs_error_set(err, HS_ECORRUPT, "delete record: bad length");
    uint32_t n = hs_get_le32(payload);
    const uint8_t *p = payload + 4;
    pthread_rwlock_wrlock(&c->rw);
    for (uint32_t i = 0; i < n; i++) {
        if (!sid) {
            unlink_point(c, hs_get_le64(p + 8 * (size_t)i));
            continue;
        }
        size_t sl = (size_t)p[0] | (size_t)p[1] << 8;
        const uint8_t *cur = hs_sidmap_get(&c->smap, (const char *)p + 2, sl);
        if (cur)
            unlink_point(c, hs_sid_key(cur));
        p += 2 + sl;
    }
    pthread_rwlock_unlock(&c->rw);
    if (n) {
        __atomic_store_n(&c->clock, lsn + n - 1, __ATOMIC_RELEASE);
        __atomic_store_n(&c->dirty, true, __ATOMIC_RELAXED);
    }
    return HS_OK;
}

int hs_coll_replay(void *ctx, const hs_wal_record *r)
{
    hs_coll *c = ctx;
    hs_error err;
    int rc = HS_OK;
    bool sid = r->type == HS_REC_UPSERT_SID || r->type == HS_REC_DELETE_SID;
    if ((r->type == HS_REC_UPSERT || r->type == HS_REC_DELETE || sid) &&
        (rc = hs_coll_ids_locked(c, &err)) != HS_OK) {
        hs_log(HS_LOG_ERROR, "collection '%s': replay: %s", c->e->name, err.message);
        return rc;
    }
    switch (r->type) {
    case HS_REC_UPSERT:
    case HS_REC_UPSERT_SID:
        rc = apply_upsert_record(c, r->payload, r->len, sid, r->lsn, &err);
        break;
    case HS_REC_DELETE:
    case HS_REC_DELETE_SID:
        rc = apply_delete_record(c, r->payload, r->len, sid, r->lsn, &err);
        break;
    case HS_REC_CREATE:
        if (r->lsn > c->clock)
            __atomic_store_n(&c->clock, r->lsn, __ATOMIC_RELEASE);
        break;
    case HS_REC_CONFIGURE:
        break; /* collection.json holds the values (written before the record) */
    default:
        hs_log(HS_LOG_ERROR, "collection '%s': unknown log record type %u", c->e->name, r->type);
        return HS_ECORRUPT;
    }
    if (rc != HS_OK)
        hs_log(HS_LOG_ERROR, "collection '%s': replay: %s", c->e->name, err.message);
    else
        hs_db_observe_clock(c->db, c->clock);
    return rc;
}

/* ---- public write calls ----------------------------------------------------------------- */

hs_durability hs_coll_durability(const hs_coll *c, hs_durability d)
{
    if (d >= HS_DURABILITY_ASYNC && d <= HS_DURABILITY_STRICT)
        return d;
    return c->db->opts.durability;
}

/* Marks the collection read-only after its log failed (never retried), logging it once. */
static void read_only_locked(hs_coll *c, const char *why)
{
    if (c->read_only)
        return;
    c->read_only = true;
    snprintf(c->ro_msg, sizeof(c->ro_msg), "%s", why);
    hs_log(HS_LOG_ERROR, "collection '%s' (tenant '%s') is read-only after a WAL failure: %s; "
           "restart the server", c->e->name, c->e->tenant, why);
}

static int read_only_error(const hs_coll *c, hs_error *err)
{
    hs_error_set(err, HS_EREADONLY, "Collection '%s' is read-only after a WAL fsync failure "
                 "(%s); restart the server", c->e->name, c->ro_msg);
    hs_error_name(err, c->e->name);
    return hs_error_about(err, HS_EREADONLY, HS_FIELD_COLLECTION, HS_REASON_FSYNC);
}

int hs_coll_frozen(const centry *e, hs_error *err)
{
    hs_error_set(err, HS_EFROZEN, "Collection '%s' is frozen: it refuses changes until it is "
                 "unfrozen", e->name);
    hs_error_name(err, e->name);
    return hs_error_about(err, HS_EFROZEN, HS_FIELD_COLLECTION, HS_REASON_NONE);
}

int hs_coll_writable_locked(hs_coll *c, hs_error *err)
{
    if (c->read_only)
        return read_only_error(c, err);
    if (__atomic_load_n(&c->e->frozen, __ATOMIC_ACQUIRE))
        return hs_coll_frozen(c->e, err);
    return HS_OK;
}

int hs_coll_loggable_locked(hs_coll *c, hs_error *err)
{
    return c->read_only ? read_only_error(c, err) : HS_OK;
}

int hs_coll_read_only(const hs_coll *c, hs_error *err)
{
    hs_error_set(err, HS_EREADONLY, "Collection '%s' is read-only", c->e->name);
    hs_error_name(err, c->e->name);
    return hs_error_about(err, HS_EREADONLY, HS_FIELD_COLLECTION, HS_REASON_NONE);
}

int hs_coll_no_space(const hs_coll *c, hs_error *err)
{
    hs_error_set(err, HS_ENOSPC, "No space left on device while writing collection '%s'",
                 c->e->name);
    hs_error_name(err, c->e->name);
    return hs_error_about(err, HS_ENOSPC, HS_FIELD_COLLECTION, HS_REASON_NONE);
}

/* ---- writes waiting for their fsync ------------------------------------------------------ */

static bool is_upsert(const hs_pending *p)
{
    return p->type == HS_REC_UPSERT || p->type == HS_REC_UPSERT_SID;
}

static void apply_pending(hs_coll *c, hs_pending *p)
{
    if (is_upsert(p)) {
        prepared pr = {p->n, p->blobs, p->vecs, p->ids, p->sids};
        pthread_rwlock_wrlock(&c->rw);
        apply_prepared(c, &pr);
        pthread_rwlock_unlock(&c->rw);
        if (p->n) {
            __atomic_store_n(&c->clock, p->lsn + p->n - 1, __ATOMIC_RELEASE);
            __atomic_store_n(&c->dirty, true, __ATOMIC_RELAXED);
        }
    } else {
        apply_delete_record(c, p->payload, p->len, p->type == HS_REC_DELETE_SID, p->lsn, NULL);
    }
    hs_db_note_change(c->db, c->e, c->clock); /* visible now: change readers may read it */
    hs_db_tick_done(c->db, p->lsn, true);
}

void hs_coll_settle_locked(hs_coll *c)
{
    bool failed;
    char why[160];
    uint64_t durable = hs_wal_durable(c->wal, &failed, why, sizeof(why));
    hs_pending *p;
    while ((p = c->pend_head) && (p->ticket <= durable || (p->async && !failed))) {
        if (is_upsert(p))
            c->pend_points -= p->n;
        apply_pending(c, p);
        c->pend_head = p->next; /* read before the state: its writer may return at once */
        __atomic_store_n(&p->state, 1, __ATOMIC_RELEASE); /* its writer may look (finish) */
    }
    if (failed) {
        /* the log cut every record past `durable`: they never happened */
        for (p = c->pend_head; p;) {
            hs_pending *next = p->next; /* p is its writer's again once its state is set */
            if (is_upsert(p))
                c->pend_points -= p->n;
            hs_db_tick_done(c->db, p->lsn, false);
            __atomic_store_n(&p->state, -1, __ATOMIC_RELEASE);
            p = next;
        }
        c->pend_head = NULL;
        read_only_locked(c, why);
    }
    if (!c->pend_head)
        c->pend_tail = NULL;
}

void hs_coll_drain_locked(hs_coll *c)
{
    if (c->pend_tail)
        hs_wal_wait(c->wal, c->pend_tail->ticket, HS_DURABILITY_STRICT, NULL);
    hs_coll_settle_locked(c);
}

int hs_coll_wal_sync(hs_coll *c, hs_error *err)
{
    int rc = hs_wal_sync(c->wal, err);
    if (rc != HS_OK) {
        pthread_mutex_lock(&c->wlock);
        hs_coll_settle_locked(c);
        pthread_mutex_unlock(&c->wlock);
    }
    return rc;
}

/* Queues p (its record is logged) or, for an ASYNC write with nothing queued before it, applies
 * it at once.  Caller holds wlock. */
static void submit_locked(hs_coll *c, hs_pending *p)
{
    if (p->async && !c->pend_head) {
        apply_pending(c, p);
        p->state = 1;
        return;
    }
    if (is_upsert(p))
        c->pend_points += p->n;
    if (c->pend_tail)
        c->pend_tail->next = p;
    else
        c->pend_head = p;
    c->pend_tail = p;
}

/* Waits for p's record (ASYNC ones: for the records queued before it) and settles the queue.
 * Returns the outcome: HS_OK when p was applied, the log's error when it was refused. */
static int finish(hs_coll *c, hs_pending *p, hs_durability mode, hs_error *err)
{
    /* an ASYNC write applied at once, or one a drain (checkpoint, delete) applied meanwhile:
     * read without wlock, so atomically */
    if (__atomic_load_n(&p->state, __ATOMIC_ACQUIRE) == 1) {
        hs_indexer_kick(c);
        return HS_OK;
    }
    int rc = hs_wal_wait(c->wal, p->ticket, p->async ? HS_DURABILITY_BATCH : mode, err);
    pthread_mutex_lock(&c->wlock);
    hs_coll_settle_locked(c);
    int state = p->state;
    pthread_mutex_unlock(&c->wlock);
    hs_indexer_kick(c); /* slots applied by this thread or another */
    if (state == 1)
        return HS_OK;
    if (rc == HS_OK)
        rc = hs_error_set(err, HS_EIO, "the write was refused after a failed fsync");
    return rc;
}

int hs_coll_mark_changed(hs_coll *c, hs_error *err)
{
    if (c->cat_marked)
        return HS_OK;
    int rc = hs_catlog_dirty(c->db, c->e, err);
    if (rc == HS_OK)
        c->cat_marked = true;
    return rc;
}

/* Appends a record; a full disk is reported with the collection's name (spec E_NO_SPACE). */
static int log_record(hs_coll *c, uint8_t type, uint64_t lsn, uint8_t *buf, size_t len,
                      uint64_t *ticket, hs_error *err)
{
    int rc = hs_coll_mark_changed(c, err);
    if (rc != HS_OK)
        return rc;
    rc = hs_wal_append(c->wal, type, lsn, buf, len, ticket, err);
    if (rc != HS_OK)
        hs_coll_settle_locked(c); /* a failed log makes the collection read-only */
    if (rc == HS_ENOSPC)
        hs_coll_no_space(c, err);
    else if (rc == HS_EREADONLY)
        read_only_error(c, err);
    return rc;
}

int hs_coll_log_locked(hs_coll *c, uint8_t type, uint64_t lsn, uint8_t *buf, size_t len,
                       uint64_t *ticket, hs_error *err)
{
    return log_record(c, type, lsn, buf, len, ticket, err);
}

int hs_coll_submit_finish(hs_coll *c, hs_pending *p, hs_durability mode, hs_error *err)
{
    return finish(c, p, mode, err);
}

void hs_coll_submit_locked(hs_coll *c, hs_pending *p)
{
    submit_locked(c, p);
}

uint8_t *hs_coll_encode_upserts(const hs_coll *c, const hs_point *pts, size_t n, bool processed,
                                const uint8_t *const *stored, size_t *len, hs_error *err)
{
    size_t dim = c->cfg.dimension, vbytes = dim * (c->f64 ? 8 : 4), total = 4;
    for (size_t i = 0; i < n; i++)
        total += (c->sid ? 6 + pts[i].sid_len : 12) + vbytes +
                 (stored && stored[i] ? hs_get_le32(stored[i]) : hs_meta_size(&pts[i]));
    uint8_t *buf = malloc(HS_WAL_HEADER + total);
    double *tmp = malloc(dim * sizeof(double));
    if (!buf || !tmp) {
        free(buf);
        free(tmp);
        hs_error_set(err, HS_ENOMEM, "Out of memory");
        return NULL;
    }
    uint8_t *p = buf + HS_WAL_HEADER;
    hs_put_le32(p, (uint32_t)n);
    p += 4;
    for (size_t i = 0; i < n; i++) {
        uint8_t *mlp = p + 8; /* UPSERT: { u64 id, u32 meta_len, ... } */
        if (c->sid) {         /* UPSERT_SID: { u16 sid_len, sid, u32 meta_len, ... } */
            p[0] = (uint8_t)pts[i].sid_len;
            p[1] = (uint8_t)(pts[i].sid_len >> 8);
            memcpy(p + 2, pts[i].sid, pts[i].sid_len);
            mlp = p + 2 + pts[i].sid_len;
        } else {
            hs_put_le64(p, pts[i].id);
        }
        memcpy(tmp, pts[i].vector, dim * sizeof(double));
        if (c->cfg.metric == HS_METRIC_COSINE && !processed)
            hs_vec_normalize_f64(tmp, dim);
        uint8_t *v = mlp + 4;
        for (size_t j = 0; j < dim; j++) {
            if (c->f64) {
                memcpy(v + 8 * j, &tmp[j], 8);
            } else {
                float f = (float)tmp[j];
                memcpy(v + 4 * j, &f, 4);
            }
        }
        size_t ml = stored && stored[i] ? hs_get_le32(stored[i]) : 0;
        if (ml)
            memcpy(v + vbytes, stored[i] + 4, ml);
        else
            ml = hs_meta_encode(&pts[i], v + vbytes);
        hs_put_le32(mlp, (uint32_t)ml);
        p = v + vbytes + ml;
    }
    free(tmp);
    *len = (size_t)(p - (buf + HS_WAL_HEADER));
    return buf;
}

int hs_coll_upsert_locked(hs_coll *c, uint8_t *buf, size_t len, size_t n, hs_durability mode,
                          hs_pending *p, hs_error *err)
{
    return hs_coll_upsert_at_locked(c, buf, len, n, mode, 0, p, err);
}

int hs_coll_upsert_at_locked(hs_coll *c, uint8_t *buf, size_t len, size_t n, hs_durability mode,
                             uint64_t clock, hs_pending *p, hs_error *err)
{
    memset(p, 0, sizeof(*p));
    p->type = c->sid ? HS_REC_UPSERT_SID : HS_REC_UPSERT;
    p->async = mode == HS_DURABILITY_ASYNC;
    uint64_t first = 0;
    prepared pr = {0};
    int rc = hs_coll_ids_locked(c, err);
    if (rc == HS_OK)
        rc = prepare_upserts(c, buf + HS_WAL_HEADER, len, c->sid, &pr, err);
    p->n = pr.n;
    p->blobs = pr.blobs;
    p->vecs = pr.vecs;
    p->ids = pr.ids;
    p->sids = pr.sids;
    if (rc == HS_OK && clock) {
        first = clock;
        rc = hs_db_clock_merge(c->db, c->e, HS_TICK_WRITE, clock, n, err);
    } else if (rc == HS_OK) {
        rc = hs_db_tick(c->db, c->e, HS_TICK_WRITE, n, &first, err);
    }
    bool ticked = rc == HS_OK;
    if (rc == HS_OK)
        rc = log_record(c, p->type, first, buf, len, &p->ticket, err);
    if (rc == HS_OK) {
        p->lsn = first;
        submit_locked(c, p);
    } else if (ticked) {
        hs_db_tick_done(c->db, first, false); /* never logged: the clocks took no effect */
    }
    return rc;
}

int hs_coll_upsert_finish(hs_coll *c, hs_pending *p, int rc, hs_durability mode, hs_error *err)
{
    if (rc == HS_OK)
        rc = finish(c, p, mode, err);
    /* never applied: the slots did not take the blobs */
    prepared pr = {p->n, p->blobs, p->vecs, p->ids, p->sids};
    prepared_free(&pr, p->state != 1);
    p->blobs = NULL;
    p->vecs = NULL;
    p->ids = NULL;
    p->sids = NULL;
    return rc;
}

int hs_upsert(hs_collection *h, const hs_point *pts, size_t n, hs_durability durability,
              hs_error *err)
{
    if (__atomic_load_n(&h->e->frozen, __ATOMIC_ACQUIRE))
        return hs_coll_frozen(h->e, err); /* without loading it */
    hs_coll *c;
    int rc = hs_coll_acquire(h, &c, err);
    if (rc != HS_OK || n == 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((pts[i].sid != NULL) != c->sid)
            rc = hs_coll_id_kind(c->e, err);
        else if (c->sid)
            rc = hs_sid_check_at(pts[i].sid, pts[i].sid_len, (long)i, err);
        if (rc == HS_OK)
            rc = hs_validate_vector(c, pts[i].vector, pts[i].dim, false, err);
        if (rc == HS_OK)
            rc = hs_validate_meta(pts[i].meta, pts[i].nmeta, err);
        if (rc != HS_OK) {
            if (err)
                err->index = (long)i;
            return rc;
        }
    }
    size_t len;
    uint8_t *buf = hs_coll_encode_upserts(c, pts, n, false, NULL, &len, err);
    if (!buf)
        return HS_ENOMEM;
    hs_durability mode = hs_coll_durability(c, durability);
    hs_pending p;
    memset(&p, 0, sizeof(p));
    pthread_mutex_lock(&c->wlock);
    rc = hs_coll_writable_locked(c, err);
    if (rc == HS_OK)
        rc = hs_coll_upsert_locked(c, buf, len, n, mode, &p, err);
    pthread_mutex_unlock(&c->wlock);
    rc = hs_coll_upsert_finish(c, &p, rc, mode, err);
    free(buf);
    return rc;
}

/* The slots a delete chooses, each once, in the order first named (writers excluded). */
typedef struct victims {
    uint32_t *slots;
    uint32_t n;
    hs_idmap seen; /* slot -> 1 */
    size_t bytes;  /* of the record's entries */
} victims;

static int victim_add(hs_coll *c, victims *v, uint32_t slot)
{
    if (hs_idmap_get(&v->seen, slot, NULL))
        return HS_OK; /* deleting one point twice in a request deletes it once */
    if (hs_idmap_put(&v->seen, slot, 1) != HS_OK)
        return HS_ENOMEM;
    v->slots[v->n++] = slot;
    const uint8_t *sid = hs_coll_sid(c, slot);
    v->bytes += sid ? 2 + hs_sid_len(sid) : 8;
    return HS_OK;
}

/* Chooses the live points among ids or sids, or (accept set) every live one it accepts. */
static int choose_victims(hs_coll *c, const uint64_t *ids, const hs_sid *sids, size_t n,
                          int (*accept)(void *, const hs_point_view *), void *actx, victims *v)
{
    size_t cap = accept ? (size_t)c->nlive : n;
    v->slots = malloc((cap ? cap : 1) * sizeof(uint32_t));
    if (!v->slots || hs_idmap_reserve(&v->seen, cap) != HS_OK)
        return HS_ENOMEM;
    int rc = HS_OK;
    pthread_rwlock_rdlock(&c->rw);
    for (uint32_t s = 0; accept && s < c->nslots && v->n < cap && rc == HS_OK; s++) {
        if (!hs_live(c, s))
            continue;
        hs_point_view pv;
        hs_coll_view(c, s, NULL, &pv);
        if (accept(actx, &pv))
            rc = victim_add(c, v, s);
    }
    for (size_t i = 0; !accept && i < n && rc == HS_OK; i++) {
        uint32_t slot;
        uint64_t id = sids ? 0 : ids[i];
        if (sids) {
            const uint8_t *b = hs_sidmap_get(&c->smap, sids[i].str, sids[i].len);
            if (!b)
                continue;
            id = hs_sid_key(b);
        }
        if (hs_idmap_get(&c->ids, id, &slot))
            rc = victim_add(c, v, slot);
    }
    pthread_rwlock_unlock(&c->rw);
    return rc;
}

/* The DELETE (integer ids) or DELETE_SID (string ids) payload of the victims, after
 * HS_WAL_HEADER bytes of room. */
static uint8_t *delete_record(hs_coll *c, const victims *v, size_t *len)
{
    uint8_t *buf = malloc(HS_WAL_HEADER + 4 + v->bytes);
    if (!buf)
        return NULL;
    uint8_t *p = buf + HS_WAL_HEADER;
    hs_put_le32(p, v->n);
    p += 4;
    pthread_rwlock_rdlock(&c->rw);
    for (uint32_t i = 0; i < v->n; i++) {
        const uint8_t *sid = hs_coll_sid(c, v->slots[i]);
        if (!sid) {
            hs_put_le64(p, *(const uint64_t *)hs_chunks_at(&c->slot_ids, v->slots[i]));
            p += 8;
            continue;
        }
        size_t sl = hs_sid_len(sid);
        memcpy(p, sid + 8, 2 + sl); /* { u16 length, bytes } as in the blob */
        p += 2 + sl;
    }
    pthread_rwlock_unlock(&c->rw);
    *len = 4 + v->bytes;
    return buf;
}

/* Deletes the live points among ids (or sids), or (when accept is set) every live point it
 * accepts, chosen under the writer lock so that the set is taken at one instant. */
static int delete_points(hs_collection *h, const uint64_t *ids, const hs_sid *sids, size_t n,
                         int (*accept)(void *, const hs_point_view *), void *actx,
                         hs_durability durability, size_t *deleted, hs_error *err)
{
    if (deleted)
        *deleted = 0;
    if (sids && h->e->config.id_type != HS_ID_STRING)
        return hs_coll_id_kind(h->e, err);
    for (size_t i = 0; sids && i < n; i++) {
        int rc = hs_sid_check_at(sids[i].str, sids[i].len, (long)i, err);
        if (rc != HS_OK)
            return rc;
    }
    if (__atomic_load_n(&h->e->frozen, __ATOMIC_ACQUIRE))
        return hs_coll_frozen(h->e, err); /* without loading it */
    hs_coll *c;
    int rc = hs_coll_acquire(h, &c, err);
    if (rc != HS_OK || (n == 0 && !accept))
        return rc;
    pthread_mutex_lock(&c->wlock);
    hs_coll_drain_locked(c); /* the points are chosen from every write logged before */
    if (__atomic_load_n(&c->e->frozen, __ATOMIC_ACQUIRE))
        rc = hs_coll_frozen(c->e, err);
    if (rc != HS_OK || (rc = hs_coll_ids_locked(c, err)) != HS_OK) {
        pthread_mutex_unlock(&c->wlock);
        return rc;
    }
    /* writers are excluded by wlock, so the live count bounds what a filter can select */
    victims v = {0};
    hs_idmap_init(&v.seen);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (choose_victims(c, ids, sids, n, accept, actx, &v) != HS_OK ||
        !(buf = delete_record(c, &v, &len)))
        rc = hs_error_set(err, HS_ENOMEM, "Out of memory");
    uint32_t m = v.n;
    hs_durability mode = hs_coll_durability(c, durability);
    hs_pending p = {.type = c->sid ? HS_REC_DELETE_SID : HS_REC_DELETE,
                    .async = mode == HS_DURABILITY_ASYNC, .n = m};
    uint64_t first = 0;
    if (m > 0 && rc == HS_OK && c->read_only)
        rc = read_only_error(c, err);
    if (m > 0 && rc == HS_OK) {
        p.payload = buf + HS_WAL_HEADER;
        p.len = len;
        rc = hs_db_tick(c->db, c->e, HS_TICK_WRITE, m, &first, err);
        bool ticked = rc == HS_OK;
        if (rc == HS_OK)
            rc = log_record(c, p.type, first, buf, p.len, &p.ticket, err);
        if (rc == HS_OK) {
            p.lsn = first;
            submit_locked(c, &p);
        } else if (ticked) {
            hs_db_tick_done(c->db, first, false);
        }
    }
    pthread_mutex_unlock(&c->wlock);
    if (rc == HS_OK && m > 0)
        rc = finish(c, &p, mode, err);
    free(buf);
    free(v.slots);
    hs_idmap_destroy(&v.seen);
    if (rc == HS_OK && deleted)
        *deleted = m;
    return rc;
}

int hs_delete(hs_collection *h, const uint64_t *ids, size_t n, hs_durability durability,
              size_t *deleted, hs_error *err)
{
    return delete_points(h, ids, NULL, n, NULL, NULL, durability, deleted, err);
}

int hs_delete_sids(hs_collection *h, const hs_sid *sids, size_t n, hs_durability durability,
                   size_t *deleted, hs_error *err)
{
    static const hs_sid none = {0};
    return delete_points(h, NULL, sids ? sids : &none, sids ? n : 0, NULL, NULL, durability,
                         deleted, err);
}

int hs_delete_where(hs_collection *h, int (*accept)(void *ctx, const hs_point_view *p), void *ctx,
                    hs_durability durability, size_t *deleted, hs_error *err)
{
    return delete_points(h, NULL, NULL, 0, accept, ctx, durability, deleted, err);
}

int hs_collection_configure(hs_collection *h, uint32_t ef_search, uint32_t ef_construction,
                            hs_error *err)
{
    int rc = hs_check_ef(ef_search, ef_construction, err);
    if (rc != HS_OK)
        return rc;
    if (__atomic_load_n(&h->e->frozen, __ATOMIC_ACQUIRE))
        return hs_coll_frozen(h->e, err);
    hs_coll *c;
    rc = hs_coll_acquire(h, &c, err);
    if (rc != HS_OK)
        return rc;
    pthread_mutex_lock(&c->wlock);
    hs_coll_drain_locked(c); /* its record carries c->clock: nothing may be queued before it */
    if (__atomic_load_n(&c->e->frozen, __ATOMIC_ACQUIRE))
        rc = hs_coll_frozen(c->e, err);
    else
        rc = hs_coll_mark_changed(c, err); /* the catalog file's record holds the parameters */
    if (rc != HS_OK) {
        pthread_mutex_unlock(&c->wlock);
        return rc;
    }
    /* the fields collection.json holds (the entry's others are db->lock's) */
    centry updated = {0};
    memcpy(updated.tenant, c->e->tenant, sizeof(updated.tenant));
    memcpy(updated.name, c->e->name, sizeof(updated.name));
    updated.created_clock = c->e->created_clock;
    updated.format = c->e->format;
    updated.frozen = __atomic_load_n(&c->e->frozen, __ATOMIC_ACQUIRE);
    pthread_mutex_lock(&c->db->lock);
    updated.config = c->e->config;
    pthread_mutex_unlock(&c->db->lock);
    if (ef_search)
        updated.config.ef_search = ef_search;
    if (ef_construction)
        updated.config.ef_construction = ef_construction;
    rc = hs_coll_config_write(c, &updated, err);
    if (rc == HS_OK) {
        if (ef_search) {
            c->cfg.ef_search = ef_search;
            c->ef_search_set = true;
        }
        if (ef_construction) {
            c->cfg.ef_construction = ef_construction;
            c->ef_construction_set = true;
            hs_hnsw_set_ef_construction(c->graph, ef_construction);
        }
        uint8_t buf[HS_WAL_HEADER + 8];
        hs_put_le32(buf + HS_WAL_HEADER, ef_search);
        hs_put_le32(buf + HS_WAL_HEADER + 4, ef_construction);
        uint64_t t;
        hs_error ignored;
        if (!c->read_only && hs_coll_mark_changed(c, &ignored) == HS_OK &&
            hs_wal_append(c->wal, HS_REC_CONFIGURE, c->clock, buf, 8, &t, &ignored) == HS_OK)
            __atomic_store_n(&c->dirty, true, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&c->wlock);
    return rc;
}
