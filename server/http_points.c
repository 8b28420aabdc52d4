/*
 * http_points.c: the point routes: insert (one, a JSON batch, or the binary bulk format
 * application/x-hyperspace-f32), delete (one, by ids, by filter), search (one or a batch) and
 * the reads (get one or many, scroll, count, peek).
 */
#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/http_route.h"
#include "util/log.h"
#include "util/numfmt.h"
#include "util/utf8.h"

/* ---- routes: writes ---------------------------------------------------------------------------- */

/* Upserts pts into the route's collection and writes the reply. */
static void upsert(hctx *c, const hs_point *pts, size_t n, hs_durability d, bool batch)
{
    hs_op_write w;
    if (!hs_op_upsert(hs_http_tenant(c), c->st->name, pts, n, d, batch, true, &w, &c->f))
        hs_http_write_reply(c, "upserted", w.n, w.clock);
}

/* One point object of insert / insert batch (its id as a collection of `kind` takes it); vec
 * and meta are the caller's to free. */
static int point_from_json(hctx *c, const cJSON *o, int kind, hs_point *p, double **vec,
                           kvbuf *meta)
{
    uint64_t id;
    hs_sid sid;
    size_t dim;
    *vec = NULL;
    memset(meta, 0, sizeof(*meta));
    if (!cJSON_IsObject(o))
        return hs_http_fail(c, HS_ERR_FIELD, "Field 'vectors' must be an array of objects");
    if (hs_http_get_point_id(c, o, "id", true, kind, &id, &sid, NULL) ||
        hs_http_get_vector(c, o, "vector", vec, &dim) || hs_http_get_metadata(c, o, meta))
        return c->f.id;
    *p = (hs_point){id, *vec, dim, meta->kv, meta->n, sid.str, sid.len};
    return 0;
}

void hs_route_insert(hctx *c)
{
    hs_point p;
    double *vec = NULL;
    kvbuf meta = {0};
    hs_durability d;
    if (!point_from_json(c, c->json, hs_http_kind(c), &p, &vec, &meta) &&
        !hs_http_get_durability(c, &d))
        upsert(c, &p, 1, d, false);
    free(vec);
    hs_http_kvbuf_free(&meta);
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The binary bulk format (http.md 5). */
static void insert_binary(hctx *c)
{
    const unsigned char *b = (const unsigned char *)c->req->body;
    size_t len = c->req->body_len;
    hs_durability d;
    if (hs_http_get_durability(c, &d))
        return;
    if (len < 20 || memcmp(b, "HSF1", 4)) {
        if (len >= 4 && !memcmp(b, "HSF1", 4))
            hs_http_fail(c, HS_ERR_BINARY, "Invalid binary body: length is %zu bytes, expected at least 20",
                         len);
        else
            hs_http_fail(c, HS_ERR_BINARY, "Invalid binary body: bad magic");
        return;
    }
    uint32_t dim = rd32(b + 4), count = rd32(b + 8), flags = rd32(b + 12), first = rd32(b + 16);
    if (flags & ~3u) {
        hs_http_fail(c, HS_ERR_BINARY, "Invalid binary body: unknown flags 0x%x", flags);
        return;
    }
    bool has_ids = flags & 1, has_meta = flags & 2;
    /* fixed part: header, ids, vectors (in 64 bits: no overflow for u32 inputs) */
    uint64_t need = 20 + (has_ids ? 4ull * count : 0) + 4ull * dim * count;
    if (need > len || (!has_meta && need != len)) {
        hs_http_fail(c, HS_ERR_BINARY, "Invalid binary body: length is %zu bytes, expected %llu", len,
                     (unsigned long long)need);
        return;
    }
    /* metadata section: walk the lengths */
    uint64_t at = need;
    if (has_meta) {
        for (uint32_t i = 0; i < count; i++) {
            if (at + 4 > len) {
                hs_http_fail(c, HS_ERR_BINARY, "Invalid binary body: length is %zu bytes, expected %llu",
                             len, (unsigned long long)(at + 4));
                return;
            }
            uint32_t ml = rd32(b + at);
            if (at + 4 + ml <= len) { /* refused before anything is opened or created */
                char what[48];
                snprintf(what, sizeof(what), "vectors[%u].metadata", i);
                if (hs_http_nul_fail(c, (const char *)b + at + 4, ml, what))
                    return;
            }
            at += 4ull + ml;
        }
        if (at != len) {
            hs_http_fail(c, HS_ERR_BINARY, "Invalid binary body: length is %zu bytes, expected %llu", len,
                         (unsigned long long)at);
            return;
        }
    }
    hs_collection *h = NULL;
    if (hs_http_open_coll(c, count > 0, &h))
        return;
    hs_collection_stats st;
    hs_ops_stats_named(hs_http_tenant(c), c->st->name, &st, NULL);
    if (count && st.config.id_type == HS_ID_STRING) {
        hs_collection_close(h);
        hs_http_fail(c, HS_ERR_BINARY, "Invalid binary body: collection '%s' uses string ids, "
                     "which the binary format cannot carry (send a JSON batch)", c->st->name);
        return;
    }
    if (count && dim != st.config.dimension) {
        hs_collection_close(h);
        hs_http_fail(c, HS_ERR_DIMENSION_MISMATCH, "Vector dimension mismatch. Expected %u, got %u",
                     st.config.dimension, dim);
        snprintf(c->f.details, sizeof(c->f.details), "\"expected\":%u,\"got\":%u",
                 st.config.dimension, dim);
        return;
    }
    if (!has_ids && count && (uint64_t)first + count - 1 > 4294967295ull) {
        hs_collection_close(h);
        hs_http_fail(c, HS_ERR_BINARY, "Invalid binary body: ids overflow 4294967295");
        return;
    }
    hs_point *pts = calloc(count ? count : 1, sizeof(hs_point));
    double *vecs = malloc((count ? (size_t)count * dim : 1) * sizeof(double));
    kvbuf *metas = calloc(count ? count : 1, sizeof(kvbuf));
    cJSON **docs = calloc(count ? count : 1, sizeof(cJSON *));
    if (!pts || !vecs || !metas || !docs) {
        hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
        goto out;
    }
    const unsigned char *ids = b + 20, *fl = b + 20 + (has_ids ? 4ull * count : 0);
    for (size_t i = 0; i < (size_t)count * dim; i++) {
        uint32_t bits = rd32(fl + 4 * i);
        float f;
        memcpy(&f, &bits, sizeof(f));
        vecs[i] = (double)f;
    }
    at = need;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t id = has_ids ? rd32(ids + 4ull * i) : (uint64_t)first + i;
        pts[i] = (hs_point){id, vecs + (size_t)i * dim, dim, NULL, 0};
        if (!has_meta)
            continue;
        uint32_t ml = rd32(b + at);
        const char *mj = (const char *)b + at + 4;
        at += 4ull + ml;
        if (!ml)
            continue;
        const char *end = NULL;
        cJSON *doc = NULL;
        json_shape shape = hs_http_json_scan(mj, ml);
        if (hs_utf8_valid(mj, ml) && shape.max_depth <= JSON_MAX_DEPTH)
            doc = cJSON_ParseWithLengthOpts(mj, ml, &end, 0);
        docs[i] = doc;
        bool ok = doc && cJSON_IsObject(doc) && end == mj + ml;
        if (ok && shape.long_digits) {
            num_walk w = {mj, ml, 0, false};
            hs_http_exact_numbers(doc->child, &w);
            ok = !w.oom;
        }
        hs_fail saved = c->f;
        if (ok && hs_http_get_metadata_obj(c, doc, &metas[i])) {
            ok = false;
            c->f = saved;
        }
        if (!ok) {
            hs_http_fail(c, HS_ERR_BINARY,
                         "Invalid binary body: metadata of vectors[%u] is not a JSON object of strings", i);
            goto out;
        }
        pts[i].meta = metas[i].kv;
        pts[i].nmeta = metas[i].n;
    }
    hs_op_write w;
    if (!hs_op_upsert(hs_http_tenant(c), c->st->name, pts, count, d, true, true, &w, &c->f))
        hs_http_write_reply(c, "upserted", w.n, w.clock);
out:
    for (uint32_t i = 0; docs && metas && i < count; i++) {
        cJSON_Delete(docs[i]);
        hs_http_kvbuf_free(&metas[i]);
    }
    free(docs);
    free(metas);
    free(vecs);
    free(pts);
    hs_collection_close(h);
}

void hs_route_insert_batch(hctx *c)
{
    if (c->st->binary) {
        insert_binary(c);
        return;
    }
    if (hs_http_parse_body(c, false))
        return;
    cJSON *arr = hs_http_get_object_array(c, "vectors");
    if (!arr)
        return;
    size_t n = (size_t)cJSON_GetArraySize(arr);
    hs_point *pts = calloc(n ? n : 1, sizeof(hs_point));
    double **vecs = calloc(n ? n : 1, sizeof(double *));
    kvbuf *metas = calloc(n ? n : 1, sizeof(kvbuf));
    hs_durability d;
    if (!pts || !vecs || !metas) {
        hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    } else {
        size_t i = 0;
        int kind = n ? hs_http_kind(c) : -1;
        for (cJSON *it = arr->child; it; it = it->next, i++)
            if (point_from_json(c, it, kind, &pts[i], &vecs[i], &metas[i])) {
                hs_http_fail_prefix(c, "vectors", (long)i);
                break;
            }
        if (!c->f.id && !hs_http_get_durability(c, &d))
            upsert(c, pts, n, d, true);
    }
    for (size_t i = 0; vecs && metas && i < n; i++) {
        free(vecs[i]);
        hs_http_kvbuf_free(&metas[i]);
    }
    free(pts);
    free(vecs);
    free(metas);
}

void hs_route_delete_point(hctx *c)
{
    hs_durability d;
    if (hs_http_get_durability(c, &d))
        return;
    uint64_t id = c->st->id;
    hs_sid sid = {c->st->sid, c->st->sid_len};
    hs_op_write w;
    if (!hs_op_delete(hs_http_tenant(c), c->st->name, sid.len ? NULL : &id, sid.len ? &sid : NULL,
                      1, NULL, d, true, &w, &c->f))
        hs_http_write_reply(c, "deleted", w.n, w.clock);
}

void hs_route_points_delete(hctx *c)
{
    cJSON *ids_j = hs_http_member(c->json, "ids");
    bool has_filter = hs_http_has_filter_member(c->json);
    hs_filter_set fs;
    hs_filter_init(&fs);
    uint64_t *ids = NULL;
    hs_sid *sids = NULL;
    size_t nids = 0;
    hs_durability d;
    if (ids_j && has_filter) {
        hs_http_fail(c, HS_ERR_SELECTOR, "Provide exactly one of 'ids' or a filter");
        goto out;
    }
    if (!ids_j && !has_filter) {
        hs_http_fail(c, HS_ERR_SELECTOR, "Provide exactly one of 'ids' or a filter");
        goto out;
    }
    if (ids_j ? hs_http_get_point_ids(c, ids_j, hs_http_kind(c), &ids, &sids, &nids)
              : hs_http_get_filters(c, c->json, &fs))
        goto out;
    if (!ids_j && fs.n == 0) {
        hs_http_fail(c, HS_ERR_SELECTOR, "Delete by filter needs at least one condition");
        goto out;
    }
    if (hs_http_get_durability(c, &d))
        goto out;
    hs_op_write w;
    if (!hs_op_delete(hs_http_tenant(c), c->st->name, ids, sids, nids, &fs, d, true, &w, &c->f))
        hs_http_write_reply(c, "deleted", w.n, w.clock);
out:
    hs_filter_free(&fs);
    free(ids);
    free(sids);
}

/* ---- routes: reads ----------------------------------------------------------------------------- */

typedef struct search_q {
    double *vec;
    hs_filter_set fs;
    hs_op_search_req r; /* vector, text and filter point into this struct and the JSON tree */
} search_q;

static void search_q_free(search_q *q)
{
    free(q->vec);
    hs_filter_free(&q->fs);
}

/* Decodes one search body (step 5 of B9.3) into q, with the operations layer's checks where
 * the spec orders them (top_k after the vector, alpha and the query length after hybrid_query). */
static int search_parse(hctx *c, const cJSON *o, search_q *q)
{
    memset(q, 0, sizeof(*q));
    hs_filter_init(&q->fs);
    if (!cJSON_IsObject(o))
        return hs_http_fail(c, HS_ERR_FIELD, "Field 'searches' must be an array of objects");
    int64_t k = 0;
    const char *hq = NULL;
    if (hs_http_get_vector(c, o, "vector", &q->vec, &q->r.dim) ||
        hs_http_get_int(c, o, "top_k", false, 0, INT64_MAX / 2, &k, NULL) ||
        hs_op_check_top_k((uint64_t)k, &c->f) ||
        hs_http_get_oversampling(c, o, &q->r.oversampling))
        return c->f.id;
    q->r.vector = q->vec;
    q->r.top_k = (uint64_t)k;
    if (hs_http_get_string(c, o, "hybrid_query", false, &hq))
        return c->f.id;
    if (hq) {
        cJSON *a = hs_http_member(o, "hybrid_alpha");
        if (a && !cJSON_IsNumber(a))
            return hs_http_fail(c, HS_ERR_FIELD, "Field 'hybrid_alpha' must be a number");
        q->r.hybrid = true;
        q->r.text = hq;
        q->r.text_len = strlen(hq);
        q->r.has_alpha = a != NULL;
        q->r.alpha = a ? a->valuedouble : 0.5;
        if (hs_op_check_hybrid(q->r.has_alpha, q->r.alpha, q->r.text_len, &c->f))
            return c->f.id;
    }
    q->r.filter = &q->fs;
    return hs_http_get_filters(c, o, &q->fs);
}

typedef struct result_meta {
    sb *meta; /* one per result */
    sb *sid;  /* one per result: a string id as JSON (empty for integer ids) */
} result_meta;

static int on_result(void *ctx, size_t i, const hs_point_view *p)
{
    result_meta *rm = ctx;
    hs_http_meta_object(&rm->meta[i], p);
    hs_http_typed_member(&rm->meta[i], p);
    if (p->sid)
        hs_sb_str(&rm->sid[i], p->sid, p->sid_len);
    return 0;
}

/* A result's id: the string id its callback kept, or the hit's integer id. */
static void result_id(sb *b, const sb *sid, uint64_t id)
{
    if (sid->oom)
        b->oom = true;
    else if (sid->n)
        hs_sb_put(b, sid->p, sid->n);
    else
        hs_sb_u64(b, id);
}

/* Runs q against h and appends the JSON result array to c->out. */
static int search_run(hctx *c, hs_collection *h, search_q *q)
{
    size_t k = hs_op_search_k(&q->r);
    hs_hit *hits = malloc(k * sizeof(hs_hit));
    result_meta rm = {calloc(k, sizeof(sb)), calloc(k, sizeof(sb))};
    size_t n = 0;
    if (!hits || !rm.meta || !rm.sid) {
        free(hits);
        free(rm.meta);
        free(rm.sid);
        return hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    }
    q->r.filter = &q->fs;
    q->r.on_result = on_result;
    q->r.result_ctx = &rm;
    if (!hs_op_search(hs_http_tenant(c), c->st->name, h, &q->r, hits, &n, &c->f)) {
        sb *b = &c->out;
        hs_sb_put(b, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i)
                hs_sb_put(b, ",", 1);
            hs_sb_puts(b, "{\"id\":");
            result_id(b, &rm.sid[i], hits[i].id);
            hs_sb_puts(b, ",\"distance\":");
            hs_sb_double(b, hits[i].distance);
            hs_sb_puts(b, ",\"metadata\":");
            if (rm.meta[i].oom)
                b->oom = true;
            else if (rm.meta[i].n)
                hs_sb_put(b, rm.meta[i].p, rm.meta[i].n);
            else
                hs_sb_puts(b, "{}"); /* not reported by the engine: no metadata known */
            if (q->r.hybrid) {
                hs_sb_puts(b, ",\"score\":");
                hs_sb_double(b, hits[i].score);
            }
            hs_sb_put(b, "}", 1);
        }
        hs_sb_put(b, "]", 1);
    }
    for (size_t i = 0; i < k; i++) {
        free(rm.meta[i].p);
        free(rm.sid[i].p);
    }
    free(rm.meta);
    free(rm.sid);
    free(hits);
    return c->f.id;
}

void hs_route_search(hctx *c)
{
    search_q q;
    hs_collection *h = NULL;
    if (!search_parse(c, c->json, &q) && !hs_http_open_coll(c, false, &h))
        search_run(c, h, &q);
    hs_collection_close(h);
    search_q_free(&q);
}

void hs_route_search_batch(hctx *c)
{
    cJSON *arr = hs_http_get_object_array(c, "searches");
    if (!arr)
        return;
    size_t n = (size_t)cJSON_GetArraySize(arr);
    search_q *qs = calloc(n ? n : 1, sizeof(search_q));
    hs_collection *h = NULL;
    if (!qs) {
        hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
        return;
    }
    size_t i = 0, parsed = 0;
    for (cJSON *it = arr->child; it; it = it->next, i++) {
        parsed++;
        if (search_parse(c, it, &qs[i])) {
            hs_http_fail_prefix(c, "searches", (long)i);
            goto out;
        }
    }
    if (hs_http_open_coll(c, false, &h))
        goto out;
    hs_sb_put(&c->out, "[", 1);
    for (i = 0; i < n; i++) {
        if (i)
            hs_sb_put(&c->out, ",", 1);
        if (search_run(c, h, &qs[i])) {
            hs_http_fail_prefix(c, "searches", (long)i);
            goto out;
        }
    }
    hs_sb_put(&c->out, "]", 1);
out:
    hs_collection_close(h);
    for (i = 0; i < parsed; i++)
        search_q_free(&qs[i]);
    free(qs);
}

static int with_vector_arg(hctx *c, bool *out)
{
    char buf[16];
    const char *v = hs_http_query_arg(c, "with_vector", buf, sizeof(buf));
    *out = true;
    if (!v)
        return 0;
    if (!strcasecmp(v, "false") || !strcmp(v, "0"))
        *out = false;
    else if (strcasecmp(v, "true") && strcmp(v, "1"))
        return hs_http_fail(c, HS_ERR_FIELD, "Field 'with_vector' must be a boolean");
    return 0;
}

void hs_route_get_point(hctx *c)
{
    bool wv;
    if (with_vector_arg(c, &wv))
        return;
    hs_collection *h = NULL;
    if (hs_http_open_coll(c, false, &h))
        return;
    point_out o = {&c->out, wv, true, 0, 0};
    uint64_t id = c->st->id;
    hs_sid sid = {c->st->sid, c->st->sid_len};
    hs_read_opts ro;
    hs_read_opts_init(&ro);
    ro.mode = HS_READ_IDS;
    ro.ids = &id;
    ro.nids = 1;
    ro.sids = sid.len ? &sid : NULL;
    ro.nsids = 1;
    ro.with_vector = wv;
    hs_read_result res;
    int rc = hs_op_read(h, &ro, NULL, hs_http_point_json, &o, &res, &c->f);
    hs_collection_close(h);
    char shown[80];
    if (!rc && res.visited == 0 && sid.len) {
        hs_op_sid_echo(sid.str, sid.len, shown, sizeof(shown));
        hs_http_fail(c, HS_ERR_POINT_NOT_FOUND, "Point '%s' not found in collection '%s'", shown,
                     c->st->name);
    } else if (!rc && res.visited == 0) {
        hs_http_fail(c, HS_ERR_POINT_NOT_FOUND, "Point %llu not found in collection '%s'",
                     (unsigned long long)c->st->id, c->st->name);
    }
}

/* The string ids of `?ids=` (decoded into s): a JSON array of strings, or (not starting with
 * '[') a comma-separated list; each checked, each kept once in the order given. */
static int query_sids(hctx *c, char *s, hs_sid **out, size_t *n, cJSON **doc)
{
    size_t cap = strlen(s) + 1; /* tokens: at most one more than the commas */
    hs_sid *v = malloc(cap * sizeof(hs_sid));
    *out = v;
    *n = 0;
    if (!v)
        return hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    if (*s == '[') {
        /* no NUL in a string (it would cut the id short), nesting as in bodies */
        if (strstr(s, "\\u0000") || hs_http_json_scan(s, strlen(s)).max_depth > JSON_MAX_DEPTH)
            return hs_http_fail(c, HS_ERR_INVALID_ARGUMENT, "Invalid point ids: 'ids' holds a "
                                "NUL character or is nested too deeply");
        *doc = cJSON_Parse(s);
        if (!cJSON_IsArray(*doc))
            return hs_http_fail(c, HS_ERR_INVALID_ARGUMENT, "Invalid point ids: 'ids' starting "
                                "with '[' must be a JSON array of strings");
        cap = (size_t)cJSON_GetArraySize(*doc) + 1;
        v = realloc(v, cap * sizeof(hs_sid));
        if (!v)
            return hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
        *out = v;
        for (cJSON *it = (*doc)->child; it; it = it->next) {
            if (!cJSON_IsString(it))
                return hs_http_fail(c, HS_ERR_INVALID_ARGUMENT, "Invalid point ids: 'ids' "
                                    "starting with '[' must be a JSON array of strings");
            v[(*n)++] = (hs_sid){it->valuestring, strlen(it->valuestring)};
        }
    } else {
        for (char *tok = s;;) {
            char *comma = strchr(tok, ',');
            v[(*n)++] = (hs_sid){tok, comma ? (size_t)(comma - tok) : strlen(tok)};
            if (!comma)
                break;
            tok = comma + 1;
        }
    }
    if (*n < 1 || *n > MAX_IDS)
        return hs_http_fail(c, HS_ERR_PARAM_RANGE, "ids must be between 1 and 10000 (got %zu)",
                            *n);
    size_t u = 0;
    for (size_t i = 0; i < *n; i++) {
        if (hs_op_check_sid(v[i].str, v[i].len, &c->f)) {
            hs_http_fail_prefix(c, "ids", (long)i);
            return c->f.id;
        }
        bool again = false; /* at most 10,000 */
        for (size_t j = 0; j < u && !again; j++)
            again = v[j].len == v[i].len && !memcmp(v[j].str, v[i].str, v[i].len);
        if (!again)
            v[u++] = v[i];
    }
    *n = u;
    return 0;
}

/* GET .../points?ids= of a collection of string ids. */
static void get_points_sid(hctx *c, char *s, bool wv)
{
    hs_sid *sids = NULL;
    size_t n = 0;
    cJSON *doc = NULL;
    hs_collection *h = NULL;
    if (!query_sids(c, s, &sids, &n, &doc) && !hs_http_open_coll(c, false, &h)) {
        point_out o = {&c->out, wv, true, 0, 0};
        hs_read_opts ro;
        hs_read_opts_init(&ro);
        ro.mode = HS_READ_IDS;
        ro.sids = sids;
        ro.nsids = n;
        ro.with_vector = wv;
        hs_read_result res;
        hs_sb_put(&c->out, "[", 1);
        if (!hs_op_read(h, &ro, NULL, hs_http_point_json, &o, &res, &c->f))
            hs_sb_put(&c->out, "]", 1);
    }
    hs_collection_close(h);
    cJSON_Delete(doc);
    free(sids);
}

void hs_route_get_points(hctx *c)
{
    bool wv;
    if (with_vector_arg(c, &wv))
        return;
    const char *raw = c->req->arg ? c->req->arg(c->req->ctx, "ids") : NULL;
    if (!raw) {
        hs_http_fail(c, HS_ERR_PARAM_RANGE, "ids must be between 1 and 10000 (got 0)");
        return;
    }
    if (hs_http_kind(c) == HS_ID_STRING) {
        size_t rl = strlen(raw);
        char *s = malloc(rl + 1);
        if (!s)
            hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
        else if (!hs_http_pct_decode(raw, rl, s, rl + 1, true))
            hs_http_fail(c, HS_ERR_INVALID_ARGUMENT, "Invalid point ids: bad percent-encoding "
                         "or a %%00 in 'ids'");
        else
            get_points_sid(c, s, wv);
        free(s);
        return;
    }
    size_t rl = strlen(raw);
    char *s = malloc(rl + 1);
    uint64_t *ids = malloc((rl / 2 + 2) * sizeof(uint64_t));
    uint64_t *seen = malloc((rl / 2 + 2) * sizeof(uint64_t));
    size_t n = 0, nseen = 0;
    hs_collection *h = NULL;
    if (!s || !ids || !seen) {
        hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
        goto out;
    }
    if (!hs_http_pct_decode(raw, rl, s, rl + 1, true))
        snprintf(s, rl + 1, "%s", raw);
    for (char *tok = s;;) {
        char *comma = strchr(tok, ',');
        size_t tl = comma ? (size_t)(comma - tok) : strlen(tok);
        uint64_t id;
        if (!hs_http_parse_u64(tok, tl, 4294967295ull, &id)) {
            hs_http_fail(c, HS_ERR_INVALID_ARGUMENT, "Invalid point id '%.*s'", (int)(tl > 64 ? 64 : tl),
                         tok);
            goto out;
        }
        ids[n++] = id;
        if (!comma)
            break;
        tok = comma + 1;
    }
    if (n > MAX_IDS) {
        hs_http_fail(c, HS_ERR_PARAM_RANGE, "ids must be between 1 and 10000 (got %zu)", n);
        goto out;
    }
    if (hs_http_open_coll(c, false, &h))
        goto out;
    point_out o = {&c->out, wv, true, 0, 0};
    hs_sb_put(&c->out, "[", 1);
    for (size_t i = 0; i < n; i++) {
        /* each id at most once: `seen` stays sorted */
        size_t lo = 0, hi = nseen;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (seen[mid] < ids[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < nseen && seen[lo] == ids[i])
            continue;
        memmove(seen + lo + 1, seen + lo, (nseen - lo) * sizeof(uint64_t));
        seen[lo] = ids[i];
        nseen++;
        hs_read_opts ro;
        hs_read_opts_init(&ro);
        ro.mode = HS_READ_IDS;
        ro.ids = &ids[i];
        ro.nids = 1;
        ro.with_vector = wv;
        hs_read_result res;
        if (hs_op_read(h, &ro, NULL, hs_http_point_json, &o, &res, &c->f))
            goto out;
    }
    hs_sb_put(&c->out, "]", 1);
out:
    hs_collection_close(h);
    free(s);
    free(ids);
    free(seen);
}

void hs_route_scroll(hctx *c)
{
    hs_op_scroll_req q = {0};
    bool wm;
    int64_t offset = 0;
    hs_filter_set fs;
    hs_filter_init(&fs);
    hs_collection *h = NULL;
    if (hs_http_get_int(c, c->json, "limit", false, INT64_MIN / 2, INT64_MAX / 2, &q.limit,
                        &q.has_limit) ||
        hs_http_get_bool(c, c->json, "with_vector", false, &q.with_vector) ||
        hs_http_get_bool(c, c->json, "with_metadata", true, &wm) ||
        hs_http_get_int(c, c->json, "offset", false, 0, INT64_MAX / 2, &offset, NULL))
        goto out;
    q.offset = (uint64_t)offset;
    cJSON *cj = hs_http_member(c->json, "cursor");
    if (cj && !cJSON_IsString(cj)) {
        hs_http_fail(c, HS_ERR_CURSOR, "Invalid cursor");
        goto out;
    }
    q.cursor = cj ? cj->valuestring : NULL;
    q.id_type = hs_http_kind(c) == HS_ID_STRING ? HS_ID_STRING : HS_ID_INTEGER;
    q.filter = &fs;
    if (hs_op_scroll_check(&q, &c->f) || hs_http_get_filters(c, c->json, &fs) ||
        hs_http_open_coll(c, false, &h))
        goto out;
    point_out o = {&c->out, q.with_vector, wm, 0, 0};
    hs_sb_puts(&c->out, "{\"points\":[");
    hs_op_scroll_out so;
    if (hs_op_scroll(h, &q, hs_http_point_json, &o, &so, &c->f))
        goto out;
    hs_sb_puts(&c->out, "],\"next_cursor\":");
    if (so.more)
        hs_sb_cstr(&c->out, so.next_cursor);
    else
        hs_sb_puts(&c->out, "null");
    hs_sb_put(&c->out, "}", 1);
out:
    hs_collection_close(h);
    hs_filter_free(&fs);
}

void hs_route_count(hctx *c)
{
    hs_filter_set fs;
    hs_collection *h = NULL;
    if (hs_http_get_filters(c, c->json, &fs) || hs_http_open_coll(c, false, &h))
        goto out;
    hs_read_opts ro;
    hs_read_opts_init(&ro);
    ro.mode = HS_READ_COUNT;
    hs_read_result res;
    if (!hs_op_read(h, &ro, &fs, NULL, NULL, &res, &c->f))
        hs_sb_printf(&c->out, "{\"count\":%llu}", (unsigned long long)res.visited);
out:
    hs_collection_close(h);
    hs_filter_free(&fs);
}

void hs_route_peek(hctx *c)
{
    char buf[32];
    uint64_t limit = 50, cursor = 0;
    const char *l = hs_http_query_arg(c, "limit", buf, sizeof(buf));
    if (l) {
        if (!hs_http_parse_u64(l, strlen(l), UINT64_MAX, &limit)) {
            hs_http_fail(c, HS_ERR_FIELD, "Field 'limit' must be an integer between 1 and 100");
            return;
        }
        limit = limit < 1 ? 1 : limit > 100 ? 100 : limit;
    }
    const char *cur = hs_http_query_arg(c, "cursor", buf, sizeof(buf));
    if (cur && !hs_http_parse_u64(cur, strlen(cur), UINT64_MAX, &cursor)) {
        hs_http_fail(c, HS_ERR_CURSOR, "Invalid cursor");
        return;
    }
    hs_collection *h = NULL;
    if (hs_http_open_coll(c, false, &h))
        return;
    point_out o = {&c->out, true, true, 0, 0};
    hs_sb_put(&c->out, "[", 1);
    hs_read_opts ro;
    hs_read_opts_init(&ro);
    ro.mode = HS_READ_NEWEST;
    ro.cursor = cursor;
    ro.limit = (size_t)limit;
    ro.with_vector = 1;
    hs_read_result res;
    int rc = hs_op_read(h, &ro, NULL, hs_http_peek_json, &o, &res, &c->f);
    hs_collection_close(h);
    if (rc)
        return;
    hs_sb_put(&c->out, "]", 1);
    if (res.more)
        hs_hresp_header(c->resp, "X-Next-Cursor", "%llu", (unsigned long long)res.next);
}

/* ---- routes: payload updates, searches across collections --------------------------------------- */

/* The keys of a delete-mode payload update: an array of strings (checked by the engine). */
static int get_keys(hctx *c, hs_kv **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    cJSON *arr = hs_http_member(c->json, "keys");
    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr))
        return hs_http_fail(c, HS_ERR_FIELD, "Field 'keys' must be an array of strings");
    size_t len = (size_t)cJSON_GetArraySize(arr), i = 0;
    hs_kv *keys = calloc(len ? len : 1, sizeof(hs_kv));
    if (!keys)
        return hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    for (cJSON *it = arr->child; it; it = it->next, i++) {
        if (!cJSON_IsString(it)) {
            free(keys);
            return hs_http_fail(c, HS_ERR_FIELD, "Field 'keys' must be an array of strings");
        }
        keys[i] = (hs_kv){it->valuestring, strlen(it->valuestring), NULL, 0, NULL};
    }
    *out = keys;
    *n = len;
    return 0;
}

static int get_mode(hctx *c, hs_payload_mode *mode)
{
    static const char *names[] = {"merge", "replace", "delete"};
    const char *m = NULL;
    *mode = HS_PAYLOAD_MERGE;
    if (hs_http_get_string(c, c->json, "mode", false, &m))
        return c->f.id;
    for (int i = 0; m && i < 3; i++)
        if (!strcasecmp(m, names[i])) {
            *mode = (hs_payload_mode)i;
            return 0;
        }
    if (m)
        return hs_http_fail(c, HS_ERR_FIELD, "Field 'mode' must be one of merge, replace, "
                            "delete (got '%.64s')", m);
    return 0;
}

void hs_route_payload(hctx *c)
{
    hs_op_payload_req q = {0};
    kvbuf meta = {0};
    hs_kv *keys = NULL;
    uint64_t *ids = NULL, one = 0;
    hs_sid *sids = NULL, sone;
    bool has_id = false;
    hs_filter_set fs;
    hs_filter_init(&fs);
    hs_op_payload_out out = {0};
    cJSON *ids_j = hs_http_member(c->json, "ids");
    bool has_filter = hs_http_has_filter_member(c->json);
    int kind = hs_http_kind(c);
    if (hs_http_get_point_id(c, c->json, "id", false, kind, &one, &sone, &has_id))
        goto done;
    if ((int)has_id + (ids_j != NULL) + (int)has_filter != 1) {
        hs_http_fail(c, HS_ERR_SELECTOR, "Provide exactly one of 'id', 'ids' or a filter");
        goto done;
    }
    if (ids_j ? hs_http_get_point_ids(c, ids_j, kind, &ids, &sids, &q.nids)
              : has_filter && hs_http_get_filters(c, c->json, &fs))
        goto done;
    if (get_mode(c, &q.mode) || hs_http_get_metadata(c, c->json, &meta) ||
        get_keys(c, &keys, &q.nkeys) || hs_http_get_durability(c, &q.durability))
        goto done;
    q.single = has_id;
    q.ids = has_id && !sone.str ? &one : ids;
    q.sids = has_id && sone.str ? &sone : sids;
    q.nids = has_id ? 1 : q.nids;
    q.filter = has_filter ? &fs : NULL;
    q.meta = meta.kv;
    q.nmeta = meta.n;
    q.keys = keys;
    if (hs_op_update_payload(hs_http_tenant(c), c->st->name, &q, true, &out, &c->f))
        goto done;
    hs_sb_printf(&c->out, "{\"updated\":%llu,\"not_found\":[", (unsigned long long)out.updated);
    for (size_t i = 0; i < out.nmissing; i++) {
        if (i)
            hs_sb_put(&c->out, ",", 1);
        if (q.sids)
            hs_sb_str(&c->out, q.sids[out.missing_at[i]].str, q.sids[out.missing_at[i]].len);
        else
            hs_sb_u64(&c->out, out.missing[i]);
    }
    hs_sb_printf(&c->out, "],\"logical_clock\":%llu}", (unsigned long long)out.clock);
done:
    free(out.missing);
    free(out.missing_at);
    free(ids);
    free(sids);
    free(keys);
    hs_http_kvbuf_free(&meta);
    hs_filter_free(&fs);
}

typedef struct multi_meta {
    sb *meta; /* n x k: collection c's result i at c x k + i */
    sb *sid;  /* n x k: its string id as JSON, when it has one */
    size_t k;
} multi_meta;

static int multi_on_result(void *ctx, size_t coll, size_t i, const hs_point_view *p)
{
    multi_meta *mm = ctx;
    sb *b = &mm->meta[coll * mm->k + i];
    hs_http_meta_object(b, p);
    hs_http_typed_member(b, p);
    if (p->sid)
        hs_sb_str(&mm->sid[coll * mm->k + i], p->sid, p->sid_len);
    return 0;
}

/* The names of a search across collections: an array of strings (pointers into the body). */
static int get_collection_names(hctx *c, const char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    cJSON *arr = hs_http_member(c->json, "collections");
    if (!arr || !cJSON_IsArray(arr))
        return hs_http_fail(c, HS_ERR_FIELD, arr ? "Field 'collections' must be an array of "
                            "collection names" : "Missing field 'collections'");
    size_t len = (size_t)cJSON_GetArraySize(arr), i = 0;
    const char **names = calloc(len ? len : 1, sizeof(char *));
    if (!names)
        return hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    for (cJSON *it = arr->child; it; it = it->next, i++) {
        if (!cJSON_IsString(it)) {
            free(names);
            return hs_http_fail(c, HS_ERR_FIELD, "Field 'collections' must be an array of "
                                "collection names");
        }
        names[i] = it->valuestring;
    }
    *out = names;
    *n = len;
    return 0;
}

static void multi_write(hctx *c, const hs_op_multi_req *r, const hs_op_multi_hit *merged,
                        size_t n, const multi_meta *mm)
{
    sb *b = &c->out;
    hs_sb_puts(b, "{\"results\":[");
    for (size_t i = 0; i < n; i++) {
        const hs_op_multi_hit *m = &merged[i];
        const sb *meta = &mm->meta[m->coll * mm->k + m->rank];
        hs_sb_puts(b, i ? ",{\"collection\":" : "{\"collection\":");
        hs_sb_cstr(b, *r->names[m->coll] ? r->names[m->coll] : "default");
        hs_sb_puts(b, ",\"id\":");
        result_id(b, &mm->sid[m->coll * mm->k + m->rank], m->hit.id);
        hs_sb_puts(b, ",\"distance\":");
        hs_sb_double(b, m->hit.distance);
        hs_sb_puts(b, ",\"metadata\":");
        if (meta->oom)
            b->oom = true;
        else if (meta->n)
            hs_sb_put(b, meta->p, meta->n);
        else
            hs_sb_puts(b, "{}");
        hs_sb_put(b, "}", 1);
    }
    hs_sb_puts(b, "]}");
}

void hs_route_search_multi(hctx *c)
{
    search_q q;
    hs_op_multi_req r = {0};
    multi_meta mm = {0};
    hs_hit *hits = NULL;
    size_t *counts = NULL;
    hs_op_multi_hit *merged = NULL;
    if (search_parse(c, c->json, &q) || get_collection_names(c, (const char ***)&r.names, &r.n))
        goto out;
    if (q.r.hybrid) {
        hs_http_fail(c, HS_ERR_INVALID_ARGUMENT, "A search across collections cannot be hybrid "
                     "(drop 'hybrid_query')");
        goto out;
    }
    r.search = q.r;
    if (hs_op_multi_check(&r, &c->f))
        goto out;
    size_t k = hs_op_search_k(&q.r);
    mm.k = k;
    mm.meta = calloc(r.n * k, sizeof(sb));
    mm.sid = calloc(r.n * k, sizeof(sb));
    hits = malloc(r.n * k * sizeof(hs_hit));
    counts = calloc(r.n, sizeof(size_t));
    merged = malloc(k * sizeof(hs_op_multi_hit));
    if (!mm.meta || !mm.sid || !hits || !counts || !merged) {
        hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
        goto out;
    }
    r.on_result = multi_on_result;
    r.result_ctx = &mm;
    size_t n = 0;
    if (!hs_op_search_multi(hs_http_tenant(c), &r, hits, counts, merged, &n, &c->f))
        multi_write(c, &r, merged, n, &mm);
out:
    for (size_t i = 0; mm.meta && i < r.n * mm.k; i++)
        free(mm.meta[i].p);
    for (size_t i = 0; mm.sid && i < r.n * mm.k; i++)
        free(mm.sid[i].p);
    free(mm.meta);
    free(mm.sid);
    free(hits);
    free(counts);
    free(merged);
    free((void *)r.names);
    search_q_free(&q);
}
