/*
 * grpc_api.c: the RPCs of hyperspace.Database (spec grpc.md section 4 and 5).  Each RPC unpacks
 * its request with protobuf-c into the operations layer's request (ops.h), calls the operation
 * (validation in the spec's order, the engine, metrics) and packs the reply or the failure.
 *
 * Monitor streams are kept in a list served by one thread that sends SystemStats at t0 + n
 * seconds to every stream whose previous message has gone out (at most one unsent message per
 * stream); a stream ends when its client cancels or the server stops (UNAVAILABLE).  The
 * completions of the other streams go to their files: SubscribeToEvents (grpc_events.c),
 * Replicate and ReplicateSnapshot (repl_leader.c).
 */
#include <grpc/status.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperspace.pb-c.h"
#include "server/filters.h"
#include "server/ops.h"
#include "util/numfmt.h"
#include "server/grpc_int.h"
#include "server/repl.h"
#include "util/log.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static void reply(hs_gcall *c, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    c->reply = malloc(n ? n : 1);
    if (!c->reply) {
        hs_gcall_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "Out of memory");
        return;
    }
    c->reply_len = protobuf_c_message_pack(m, c->reply);
    hs_gcall_finish(c, GRPC_STATUS_OK, "");
}

static void status_reply(hs_gcall *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void status_reply(hs_gcall *c, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    Hyperspace__StatusResponse r = HYPERSPACE__STATUS_RESPONSE__INIT;
    r.status = text;
    reply(c, &r.base);
}

static void fail(hs_gcall *c, const hs_fail *f) { hs_gcall_fail(c, f); }

static void bad_message(hs_gcall *c)
{
    hs_gcall_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "Malformed request message");
}

static int check_name(const char *name, bool empty_is_error, hs_fail *f)
{
    return hs_op_check_name(name, empty_is_error, f);
}

static hs_durability durability_of(int level)
{
    return level >= 1 && level <= 3 ? (hs_durability)level : HS_DURABILITY_DEFAULT;
}

void hs_grpc_reply(hs_gcall *c, const ProtobufCMessage *m) { reply(c, m); }

void hs_gcall_trailer(hs_gcall *c, const char *key, const char *value)
{
    size_t cap = sizeof(c->trailers) / sizeof(c->trailers[0]);
    if (c->n_trailers == cap)
        return;
    grpc_metadata *m = &c->trailers[c->n_trailers++];
    memset(m, 0, sizeof(*m));
    m->key = grpc_slice_from_static_string(key);
    m->value = grpc_slice_from_copied_string(value);
}

void hs_grpc_status_reply(hs_gcall *c, const char *text) { status_reply(c, "%s", text); }

void hs_grpc_bad_message(hs_gcall *c) { bad_message(c); }

hs_durability hs_grpc_durability(int level) { return durability_of(level); }

/* ---- collections ------------------------------------------------------------------------------ */

static void rpc_create(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__CreateCollectionRequest *r =
        hyperspace__create_collection_request__unpack(NULL, len, msg);
    if (!r)
        return bad_message(c);
    hs_fail f = {0};
    hs_op_create_req q = {r->name, r->dimension, r->metric, r->quantization, r->m,
                          r->ef_construction, r->ef_search, r->id_type, r->oversampling};
    if (hs_op_create(c->auth.tenant, &q, NULL, &f))
        fail(c, &f);
    else
        status_reply(c, "Collection '%s' created.", r->name);
    hyperspace__create_collection_request__free_unpacked(r, NULL);
}

static void rpc_delete_collection(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__DeleteCollectionRequest *r =
        hyperspace__delete_collection_request__unpack(NULL, len, msg);
    if (!r)
        return bad_message(c);
    hs_fail f = {0};
    if (!check_name(r->name, true, &f))
        hs_op_drop(c->auth.tenant, r->name, &f);
    if (f.id)
        fail(c, &f);
    else
        status_reply(c, "Collection '%s' deleted.", r->name);
    hyperspace__delete_collection_request__free_unpacked(r, NULL);
}

typedef struct names {
    char **v;
    size_t n, cap;
} names;

static int add_name(void *ctx, const char *tenant, const char *name)
{
    (void)tenant;
    names *ns = ctx;
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 16;
        char **v = realloc(ns->v, cap * sizeof(char *));
        if (!v)
            return HS_ENOMEM;
        ns->v = v;
        ns->cap = cap;
    }
    ns->v[ns->n] = strdup(name);
    return ns->v[ns->n++] ? 0 : HS_ENOMEM;
}

static void rpc_list(hs_gcall *c, const uint8_t *msg, size_t len)
{
    (void)msg;
    (void)len;
    names ns = {0};
    hs_error err;
    int rc = hs_collection_list(g_srv.db, c->auth.tenant, add_name, &ns, &err);
    if (rc) {
        hs_fail f;
        hs_fail_from_engine(&f, rc, &err);
        fail(c, &f);
    } else {
        Hyperspace__ListCollectionsResponse r = HYPERSPACE__LIST_COLLECTIONS_RESPONSE__INIT;
        r.n_collections = ns.n;
        r.collections = ns.v;
        reply(c, &r.base);
    }
    for (size_t i = 0; i < ns.n; i++)
        free(ns.v[i]);
    free(ns.v);
}

static void rpc_stats(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__CollectionStatsRequest *r =
        hyperspace__collection_stats_request__unpack(NULL, len, msg);
    if (!r)
        return bad_message(c);
    hs_fail f = {0};
    const char *name = *r->name ? r->name : "default";
    hs_collection_stats st;
    if (!check_name(r->name, false, &f))
        hs_op_stats(c->auth.tenant, name, &st, &f);
    if (f.id) {
        fail(c, &f);
    } else {
        Hyperspace__CollectionStatsResponse out = HYPERSPACE__COLLECTION_STATS_RESPONSE__INIT;
        out.count = st.count;
        out.dimension = st.config.dimension;
        out.metric = (char *)hs_metric_name(st.config.metric);
        out.indexing_queue = st.indexing_queue;
        out.quantization = (char *)hs_quant_name(st.config.quantization);
        out.deleted_count = st.deleted;
        out.memory_bytes = st.memory_bytes;
        out.loaded = st.loaded != 0;
        out.m = st.config.m;
        out.ef_construction = st.config.ef_construction;
        out.ef_search = st.config.ef_search;
        out.frozen = st.frozen != 0;
        out.resident_graph_bytes = st.resident_graph_bytes;
        out.resident_codes_bytes = st.resident_codes_bytes;
        out.resident_vector_bytes = st.resident_vector_bytes;
        out.resident_payload_bytes = st.resident_payload_bytes;
        out.id_type = st.config.id_type == HS_ID_STRING ? "string" : "integer";
        out.oversampling = st.config.oversampling;
        reply(c, &out.base);
    }
    hyperspace__collection_stats_request__free_unpacked(r, NULL);
}

/* ---- writes ---------------------------------------------------------------------------------- */

int hs_gpoint_id(const char *name, int kind, uint32_t id, const char *sid, hs_point *p,
                 hs_fail *f)
{
    const char *shown = *name ? name : "default";
    if (kind == HS_ID_STRING && (!*sid || id))
        return hs_fail_set(f, HS_ERR_INVALID_ARGUMENT, "Collection '%s' uses string ids: set "
                           "'string_id' (field 1002 or 1001) and leave 'id' 0", shown);
    if (kind == HS_ID_INTEGER && *sid)
        return hs_fail_set(f, HS_ERR_INVALID_ARGUMENT, "Collection '%s' uses integer ids: "
                           "'string_id' cannot be set", shown);
    p->id = id;
    p->sid = *sid ? sid : NULL; /* kind -1 (not found): the operation says so */
    p->sid_len = strlen(sid);
    return 0;
}

static void upsert_points(hs_gcall *c, const char *collection, hs_point *pts, size_t n,
                          hs_durability d, bool batch)
{
    hs_fail f = {0};
    if (hs_op_upsert(c->auth.tenant, collection, pts, n, d, batch, false, NULL, &f)) {
        fail(c, &f);
        return;
    }
    Hyperspace__InsertResponse r = HYPERSPACE__INSERT_RESPONSE__INIT;
    r.success = true;
    reply(c, &r.base);
}

static void rpc_insert(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__InsertRequest *r = hyperspace__insert_request__unpack(NULL, len, msg);
    if (!r)
        return bad_message(c);
    hs_gmeta m;
    bool ok;
    HS_GMETA_OF(&m, r, ok);
    hs_point p = {r->id, r->vector, r->n_vector, m.kv, m.n, NULL, 0};
    hs_fail f = {0};
    int kind = hs_op_id_type(c->auth.tenant, r->collection);
    if (!ok)
        hs_gcall_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "Out of memory");
    else if (hs_gpoint_id(r->collection, kind, r->id, r->string_id, &p, &f))
        fail(c, &f);
    else
        upsert_points(c, r->collection, &p, 1, durability_of(r->durability), false);
    hs_gmeta_free(&m);
    hyperspace__insert_request__free_unpacked(r, NULL);
}

static void rpc_batch_insert(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__BatchInsertRequest *r = hyperspace__batch_insert_request__unpack(NULL, len, msg);
    if (!r)
        return bad_message(c);
    hs_point *pts = calloc(r->n_vectors ? r->n_vectors : 1, sizeof(hs_point));
    hs_gmeta *ms = calloc(r->n_vectors ? r->n_vectors : 1, sizeof(hs_gmeta));
    bool ok = pts && ms;
    hs_fail f = {0};
    int kind = r->n_vectors ? hs_op_id_type(c->auth.tenant, r->collection) : -1;
    for (size_t i = 0; ok && !f.id && i < r->n_vectors; i++) {
        Hyperspace__VectorData *v = r->vectors[i];
        HS_GMETA_OF(&ms[i], v, ok);
        pts[i] = (hs_point){v->id, v->vector, v->n_vector, ms[i].kv, ms[i].n, NULL, 0};
        if (hs_gpoint_id(r->collection, kind, v->id, v->string_id, &pts[i], &f)) {
            char m[sizeof(f.message)];
            snprintf(m, sizeof(m), "%s", f.message);
            snprintf(f.message, sizeof(f.message), "vectors[%zu]: %.470s", i, m);
        }
    }
    if (!ok)
        hs_gcall_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "Out of memory");
    else if (f.id)
        fail(c, &f);
    else
        upsert_points(c, r->collection, pts, r->n_vectors, durability_of(r->durability), true);
    for (size_t i = 0; ms && i < r->n_vectors; i++)
        hs_gmeta_free(&ms[i]);
    free(ms);
    free(pts);
    hyperspace__batch_insert_request__free_unpacked(r, NULL);
}

static void rpc_insert_text(hs_gcall *c, const uint8_t *msg, size_t len)
{
    (void)msg;
    (void)len;
    hs_gcall_finish(c, GRPC_STATUS_UNIMPLEMENTED, "Embedding feature not compiled");
}

static void rpc_delete(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__DeleteRequest *r = hyperspace__delete_request__unpack(NULL, len, msg);
    if (!r)
        return bad_message(c);
    hs_fail f = {0};
    uint64_t id = r->id;
    hs_op_write w = {0};
    hs_point p = {0};
    int kind = hs_op_id_type(c->auth.tenant, r->collection);
    hs_sid sid = {r->string_id, strlen(r->string_id)};
    if (hs_gpoint_id(r->collection, kind, r->id, r->string_id, &p, &f) ||
        hs_op_delete(c->auth.tenant, r->collection, p.sid ? NULL : &id, p.sid ? &sid : NULL, 1,
                     NULL, HS_DURABILITY_DEFAULT, false, &w, &f)) {
        fail(c, &f);
    } else {
        Hyperspace__DeleteResponse out = HYPERSPACE__DELETE_RESPONSE__INIT;
        out.success = w.n > 0;
        reply(c, &out.base);
    }
    hyperspace__delete_request__free_unpacked(r, NULL);
}

/* ---- search ----------------------------------------------------------------------------------- */

static int collect_kv(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    hs_gkv_list *m = ctx;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        Hyperspace__SearchResult__MetadataEntry *ne = realloc(m->e, cap * sizeof(*ne));
        if (!ne) {
            m->oom = true;
            return 1;
        }
        m->e = ne;
        m->cap = cap;
    }
    Hyperspace__SearchResult__MetadataEntry init = HYPERSPACE__SEARCH_RESULT__METADATA_ENTRY__INIT;
    init.key = strndup(k, kl);
    init.value = strndup(v, vl);
    if (!init.key || !init.value) {
        free(init.key);
        free(init.value);
        m->oom = true;
        return 1;
    }
    m->e[m->n++] = init;
    return 0;
}

int hs_gsearch_on_result(void *ctx, size_t i, const hs_point_view *p)
{
    hs_gsearch *o = ctx;
    if (hs_meta_each(p, collect_kv, &o->meta[i]) < 0 || hs_gtyped_collect(&o->typed[i], p))
        o->meta[i].oom = true;
    if (p->sid && o->sids && !(o->sids[i] = strndup(p->sid, p->sid_len)))
        o->meta[i].oom = true;
    return 0;
}

void hs_gsearch_free(hs_gsearch *o, size_t k)
{
    for (size_t i = 0; o->meta && i < k; i++) {
        for (size_t j = 0; j < o->meta[i].n; j++) {
            free(o->meta[i].e[j].key);
            free(o->meta[i].e[j].value);
        }
        free(o->meta[i].e);
    }
    for (size_t i = 0; o->typed && i < k; i++)
        hs_gtyped_free(&o->typed[i]);
    for (size_t i = 0; o->tents && i < k; i++) {
        free(o->tents[i].e);
        free(o->tents[i].p);
    }
    for (size_t i = 0; o->sids && i < k; i++)
        free(o->sids[i]);
    free(o->sids);
    free(o->tents);
    free(o->typed);
    free(o->meta);
    free(o->res);
}

/* Builds the conditions of a SearchRequest into fs (or only validates them when fs is NULL). */
static int hs_filter_from_grpc(const Hyperspace__SearchRequest *r, hs_filter_set *out, hs_fail *f)
{
    hs_filter_set tmp, *fs = out ? out : &tmp;
    hs_filter_init(fs);
    int rc = hs_gfilters_add(fs, r->filter, r->n_filter, r->filters, r->n_filters, f);
    if (rc || !out)
        hs_filter_free(fs);
    return rc;
}

/* The request as the operations layer takes it (strings stay in r). */
static hs_op_search_req search_req(const Hyperspace__SearchRequest *r)
{
    hs_op_search_req q = {0};
    q.vector = r->vector;
    q.dim = r->n_vector;
    q.top_k = r->top_k;
    q.oversampling = r->oversampling;
    q.hybrid = r->_hybrid_query_case == HYPERSPACE__SEARCH_REQUEST___HYBRID_QUERY_HYBRID_QUERY;
    if (q.hybrid) {
        q.text = r->hybrid_query;
        q.text_len = strlen(r->hybrid_query);
        q.has_alpha =
            r->_hybrid_alpha_case == HYPERSPACE__SEARCH_REQUEST___HYBRID_ALPHA_HYBRID_ALPHA;
        q.alpha = q.has_alpha ? (double)r->hybrid_alpha : 0.5;
    }
    return q;
}

/* Steps 1-4 of Search validation (before the collection is looked up). */
static int validate_search(const Hyperspace__SearchRequest *r, hs_fail *f)
{
    if (check_name(r->collection, false, f))
        return f->id;
    hs_op_search_req q = search_req(r);
    if (hs_op_search_check(&q, f))
        return f->id;
    return hs_filter_from_grpc(r, NULL, f);
}

/* Runs one validated search into o; returns a failure id or 0. */
static int run_search(hs_gcall *c, const Hyperspace__SearchRequest *r, hs_gsearch *o, hs_fail *f)
{
    hs_op_search_req q = search_req(r);
    size_t k = hs_op_search_k(&q);
    hs_filter_set fs;
    if (hs_filter_from_grpc(r, &fs, f))
        return f->id;
    hs_collection *h = NULL;
    int rc = hs_ops_open(c->auth.tenant, r->collection, false, &h, f);
    hs_hit *hits = NULL;
    if (!rc) {
        hits = malloc(k * sizeof(hs_hit));
        o->meta = calloc(k, sizeof(hs_gkv_list));
        o->typed = calloc(k, sizeof(hs_gtyped));
        o->tents = calloc(k, sizeof(hs_gtyped_entries));
        o->res = calloc(k, sizeof(Hyperspace__SearchResult));
        o->sids = calloc(k, sizeof(char *));
        if (!hits || !o->meta || !o->typed || !o->tents || !o->res || !o->sids)
            rc = hs_fail_set(f, HS_ERR_NO_MEMORY, "Out of memory");
    }
    if (!rc) {
        q.filter = &fs;
        q.on_result = hs_gsearch_on_result;
        q.result_ctx = o;
        rc = hs_op_search(c->auth.tenant, r->collection, h, &q, hits, &o->n, f);
    }
    for (size_t i = 0; !rc && i < o->n; i++) {
        Hyperspace__SearchResult init = HYPERSPACE__SEARCH_RESULT__INIT;
        o->res[i] = init;
        o->res[i].id = (uint32_t)hits[i].id;
        o->res[i].distance = hits[i].distance;
        o->res[i].score = hits[i].score;
        if (o->meta[i].oom)
            rc = hs_fail_set(f, HS_ERR_NO_MEMORY, "Out of memory");
    }
    hs_filter_free(&fs);
    free(hits);
    hs_collection_close(h);
    return rc;
}

/* Fills a SearchResponse from o (pointers into o; valid while o lives). */
void hs_gsearch_fill(Hyperspace__SearchResponse *resp, hs_gsearch *o,
                          Hyperspace__SearchResult **ptrs,
                          Hyperspace__SearchResult__MetadataEntry ***entry_ptrs)
{
    for (size_t i = 0; i < o->n; i++) {
        const hs_gtyped *t = &o->typed[i];
        hs_gtyped_entries *te = &o->tents[i];
        size_t nm = o->meta[i].n, nt = t->n;
        entry_ptrs[i] = malloc((nm ? nm : 1) * sizeof(void *));
        te->e = malloc((nt ? nt : 1) * sizeof(*te->e));
        te->p = malloc((nt ? nt : 1) * sizeof(*te->p));
        for (size_t j = 0; entry_ptrs[i] && j < nm; j++)
            entry_ptrs[i][j] = &o->meta[i].e[j];
        for (size_t j = 0; te->e && te->p && j < nt; j++) {
            hyperspace__search_result__typed_metadata_entry__init(&te->e[j]);
            te->e[j].key = t->keys[j];
            te->e[j].value = t->vals[j];
            te->p[j] = &te->e[j];
        }
        o->res[i].n_metadata = entry_ptrs[i] ? nm : 0;
        o->res[i].metadata = entry_ptrs[i];
        o->res[i].n_typed_metadata = te->e && te->p ? nt : 0;
        o->res[i].typed_metadata = te->p;
        if (o->sids && o->sids[i]) { /* a string id's point: id 0, the string beside it */
            o->res[i].id = 0;
            o->res[i].string_id = o->sids[i];
        }
        ptrs[i] = &o->res[i];
    }
    resp->n_results = o->n;
    resp->results = ptrs;
}

static void rpc_search(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__SearchRequest *r = hyperspace__search_request__unpack(NULL, len, msg);
    if (!r)
        return bad_message(c);
    hs_fail f = {0};
    hs_gsearch o = {0};
    size_t k = r->top_k ? r->top_k : 10;
    if (!validate_search(r, &f))
        run_search(c, r, &o, &f);
    if (f.id) {
        fail(c, &f);
    } else {
        Hyperspace__SearchResponse resp = HYPERSPACE__SEARCH_RESPONSE__INIT;
        Hyperspace__SearchResult **ptrs = malloc((o.n ? o.n : 1) * sizeof(void *));
        Hyperspace__SearchResult__MetadataEntry ***eps = calloc(o.n ? o.n : 1, sizeof(void *));
        hs_gsearch_fill(&resp, &o, ptrs, eps);
        reply(c, &resp.base);
        for (size_t i = 0; i < o.n; i++)
            free(eps[i]);
        free(eps);
        free(ptrs);
    }
    hs_gsearch_free(&o, k);
    hyperspace__search_request__free_unpacked(r, NULL);
}

static void rpc_search_batch(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__BatchSearchRequest *r = hyperspace__batch_search_request__unpack(NULL, len, msg);
    if (!r)
        return bad_message(c);
    size_t n = r->n_searches;
    hs_fail f = {0};
    long bad = -1;
    for (size_t i = 0; i < n && bad < 0; i++)
        if (validate_search(r->searches[i], &f))
            bad = (long)i;
    hs_gsearch *outs = calloc(n ? n : 1, sizeof(hs_gsearch));
    for (size_t i = 0; bad < 0 && outs && i < n; i++)
        if (run_search(c, r->searches[i], &outs[i], &f))
            bad = (long)i;
    if (bad >= 0) {
        char m[sizeof(f.message)];
        snprintf(m, sizeof(m), "%s", f.message);
        snprintf(f.message, sizeof(f.message), "searches[%ld]: %.480s", bad, m);
        fail(c, &f);
    } else if (!outs) {
        hs_gcall_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "Out of memory");
    } else {
        Hyperspace__BatchSearchResponse resp = HYPERSPACE__BATCH_SEARCH_RESPONSE__INIT;
        Hyperspace__SearchResponse *rs = calloc(n ? n : 1, sizeof(*rs));
        Hyperspace__SearchResponse **rps = calloc(n ? n : 1, sizeof(void *));
        Hyperspace__SearchResult ***ptrs = calloc(n ? n : 1, sizeof(void *));
        Hyperspace__SearchResult__MetadataEntry ****eps = calloc(n ? n : 1, sizeof(void *));
        for (size_t i = 0; i < n; i++) {
            Hyperspace__SearchResponse init = HYPERSPACE__SEARCH_RESPONSE__INIT;
            rs[i] = init;
            ptrs[i] = malloc((outs[i].n ? outs[i].n : 1) * sizeof(void *));
            eps[i] = calloc(outs[i].n ? outs[i].n : 1, sizeof(void *));
            hs_gsearch_fill(&rs[i], &outs[i], ptrs[i], eps[i]);
            rps[i] = &rs[i];
        }
        resp.n_responses = n;
        resp.responses = rps;
        reply(c, &resp.base);
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < outs[i].n; j++)
                free(eps[i][j]);
            free(eps[i]);
            free(ptrs[i]);
        }
        free(eps);
        free(ptrs);
        free(rps);
        free(rs);
    }
    for (size_t i = 0; outs && i < n; i++)
        hs_gsearch_free(&outs[i], r->searches[i]->top_k ? r->searches[i]->top_k : 10);
    free(outs);
    hyperspace__batch_search_request__free_unpacked(r, NULL);
}

/* ---- reads by id and count (the later protocol's GetPoints, Count) ----------------------- */


typedef struct vd_meta {
    Hyperspace__VectorData *vd;
    size_t cap;
} vd_meta;

static int collect_vd_kv(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    vd_meta *m = ctx;
    Hyperspace__VectorData *vd = m->vd;
    if (vd->n_metadata == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        Hyperspace__VectorData__MetadataEntry **ne =
            realloc(vd->metadata, cap * sizeof(*ne));
        if (!ne)
            return 1;
        vd->metadata = ne;
        m->cap = cap;
    }
    Hyperspace__VectorData__MetadataEntry *e = malloc(sizeof(*e));
    if (!e)
        return 1;
    Hyperspace__VectorData__MetadataEntry init = HYPERSPACE__VECTOR_DATA__METADATA_ENTRY__INIT;
    *e = init;
    e->key = strndup(k, kl);
    e->value = strndup(v, vl);
    vd->metadata[vd->n_metadata++] = e;
    return e->key && e->value ? 0 : 1;
}

static void vector_data_free(Hyperspace__VectorData *vd)
{
    if (!vd)
        return;
    for (size_t j = 0; j < vd->n_metadata; j++) {
        free(vd->metadata[j]->key);
        free(vd->metadata[j]->value);
        free(vd->metadata[j]);
    }
    free(vd->metadata);
    for (size_t j = 0; j < vd->n_typed_metadata; j++) {
        free(vd->typed_metadata[j]->key);
        hs_gmv_free(vd->typed_metadata[j]->value);
        free(vd->typed_metadata[j]);
    }
    free(vd->typed_metadata);
    if (vd->string_id && *vd->string_id) /* a copy: string ids are never empty */
        free(vd->string_id);
    free(vd->vector);
    free(vd);
}

/* A visited point as a VectorData (vector and metadata copied: the view dies with the call). */
int hs_gpoints_add(void *ctx, const hs_point_view *p)
{
    hs_gpoints *o = ctx;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        Hyperspace__VectorData **nv = realloc(o->v, cap * sizeof(*nv));
        if (!nv)
            goto oom;
        o->v = nv;
        o->cap = cap;
    }
    Hyperspace__VectorData *vd = malloc(sizeof(*vd));
    if (!vd)
        goto oom;
    Hyperspace__VectorData init = HYPERSPACE__VECTOR_DATA__INIT;
    *vd = init;
    o->v[o->n++] = vd;
    vd->id = p->sid ? 0 : (uint32_t)p->id;
    if (p->sid && !(vd->string_id = strndup(p->sid, p->sid_len))) {
        vd->string_id = (char *)protobuf_c_empty_string;
        goto oom;
    }
    vd->vector = malloc((p->dim ? p->dim : 1) * sizeof(double));
    if (!vd->vector)
        goto oom;
    if (p->vector)
        memcpy(vd->vector, p->vector, p->dim * sizeof(double));
    vd->n_vector = p->vector ? p->dim : 0;
    if (o->skip_meta)
        return 0;
    vd_meta m = {vd, 0};
    if (hs_meta_each(p, collect_vd_kv, &m))
        goto oom;
    hs_gtyped t = {0};
    int trc = hs_gtyped_collect(&t, p);
    vd->typed_metadata = t.n ? calloc(t.n, sizeof(*vd->typed_metadata)) : NULL;
    for (size_t j = 0; trc == 0 && vd->typed_metadata && j < t.n; j++) {
        Hyperspace__VectorData__TypedMetadataEntry *e = malloc(sizeof(*e));
        if (!e)
            break;
        hyperspace__vector_data__typed_metadata_entry__init(e);
        e->key = t.keys[j]; /* moved out of t */
        e->value = t.vals[j];
        t.keys[j] = NULL;
        t.vals[j] = NULL;
        vd->typed_metadata[vd->n_typed_metadata++] = e;
    }
    bool all = trc == 0 && vd->n_typed_metadata == t.n;
    hs_gtyped_free(&t);
    if (!all)
        goto oom;
    return 0;
oom:
    o->oom = true;
    return 1;
}

void hs_gpoints_free(hs_gpoints *o)
{
    for (size_t i = 0; i < o->n; i++)
        vector_data_free(o->v[i]);
    free(o->v);
    memset(o, 0, sizeof(*o));
}

static int cmp_id_pos(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b; /* (id, position) pairs */
    return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

/* The ids in the order asked, each once (its first occurrence); *n gets how many. */
static uint64_t *unique_ids(const uint32_t *ids, size_t nids, size_t *n)
{
    uint64_t *pairs = malloc(2 * (nids ? nids : 1) * sizeof(uint64_t));
    uint64_t *out = malloc((nids ? nids : 1) * sizeof(uint64_t));
    bool *keep = calloc(nids ? nids : 1, sizeof(bool));
    *n = 0;
    if (pairs && out && keep) {
        for (size_t i = 0; i < nids; i++) {
            pairs[2 * i] = ids[i];
            pairs[2 * i + 1] = i;
        }
        qsort(pairs, nids, 2 * sizeof(uint64_t), cmp_id_pos);
        for (size_t i = 0; i < nids; i++)
            if (i == 0 || pairs[2 * i] != pairs[2 * i - 2])
                keep[pairs[2 * i + 1]] = true;
        for (size_t i = 0; i < nids; i++)
            if (keep[i])
                out[(*n)++] = ids[i];
    } else {
        free(out);
        out = NULL;
    }
    free(pairs);
    free(keep);
    return out;
}

/* The string ids asked for, checked, in the order asked, each once (a malloc'd array, never NULL
 * on success); NULL with f set when one is not a string id. */
static hs_sid *unique_sids(char **s, size_t n, size_t *nout, hs_fail *f)
{
    hs_sid *out = malloc((n ? n : 1) * sizeof(hs_sid));
    *nout = 0;
    for (size_t i = 0; out && i < n; i++) {
        size_t len = strlen(s[i]);
        if (hs_op_check_sid(s[i], len, f)) {
            char m[sizeof(f->message)];
            snprintf(m, sizeof(m), "%s", f->message);
            snprintf(f->message, sizeof(f->message), "string_ids[%zu]: %.470s", i, m);
            free(out);
            return NULL;
        }
        bool again = false; /* n is at most 10,000 */
        for (size_t j = 0; j < *nout && !again; j++)
            again = out[j].len == len && !memcmp(out[j].str, s[i], len);
        if (!again)
            out[(*nout)++] = (hs_sid){s[i], len};
    }
    return out;
}

static void rpc_get_points(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__GetPointsRequest *r = hyperspace__get_points_request__unpack(NULL, len, msg);
    if (!r)
        return bad_message(c);
    hs_fail f = {0};
    hs_gpoints o = {0};
    hs_collection *h = NULL;
    uint64_t *ids = NULL;
    hs_sid *sids = NULL;
    size_t n = 0, nsids = 0;
    if (check_name(r->collection, false, &f))
        goto done;
    size_t asked = r->n_ids + r->n_string_ids;
    if (asked < 1 || asked > HS_OP_IDS_MAX) {
        hs_fail_set(&f, HS_ERR_PARAM_RANGE, "ids must be between 1 and %d (got %zu)",
                    HS_OP_IDS_MAX, asked);
        goto done;
    }
    int kind = hs_op_id_type(c->auth.tenant, r->collection);
    if (kind >= 0 && (kind == HS_ID_STRING) != (r->n_string_ids > 0)) {
        hs_fail_set(&f, HS_ERR_INVALID_ARGUMENT, kind == HS_ID_STRING
                    ? "Collection '%s' uses string ids: ask for 'string_ids', not 'ids'"
                    : "Collection '%s' uses integer ids: ask for 'ids', not 'string_ids'",
                    *r->collection ? r->collection : "default");
        goto done;
    }
    sids = unique_sids(r->string_ids, r->n_string_ids, &nsids, &f);
    ids = sids ? unique_ids(r->ids, r->n_ids, &n) : NULL;
    if (!ids) {
        if (!f.id)
            hs_fail_set(&f, HS_ERR_NO_MEMORY, "Out of memory");
        goto done;
    }
    if (hs_ops_open(c->auth.tenant, r->collection, false, &h, &f))
        goto done;
    hs_read_opts ro;
    hs_read_opts_init(&ro);
    ro.mode = HS_READ_IDS;
    ro.ids = ids;
    ro.nids = n;
    ro.sids = r->n_string_ids ? sids : NULL;
    ro.nsids = nsids;
    ro.with_vector = 1;
    hs_read_result res;
    int rc = hs_op_read(h, &ro, NULL, hs_gpoints_add, &o, &res, &f);
    if (o.oom) {
        hs_fail_set(&f, HS_ERR_NO_MEMORY, "Out of memory");
    } else if (!rc) {
        Hyperspace__GetPointsResponse out = HYPERSPACE__GET_POINTS_RESPONSE__INIT;
        out.n_points = o.n;
        out.points = o.v;
        reply(c, &out.base);
    }
done:
    if (f.id)
        fail(c, &f);
    hs_collection_close(h);
    hs_gpoints_free(&o);
    free(ids);
    free(sids);
    hyperspace__get_points_request__free_unpacked(r, NULL);
}

static void rpc_count(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__CountRequest *r = hyperspace__count_request__unpack(NULL, len, msg);
    if (!r)
        return bad_message(c);
    hs_fail f = {0};
    hs_filter_set fs;
    hs_filter_init(&fs);
    hs_collection *h = NULL;
    hs_read_result res = {0};
    if (!check_name(r->collection, false, &f) &&
        !hs_gfilters_add(&fs, NULL, 0, r->filters, r->n_filters, &f) &&
        !hs_ops_open(c->auth.tenant, r->collection, false, &h, &f)) {
        hs_read_opts ro;
        hs_read_opts_init(&ro);
        ro.mode = HS_READ_COUNT;
        hs_op_read(h, &ro, &fs, NULL, NULL, &res, &f);
    }
    if (f.id) {
        fail(c, &f);
    } else {
        Hyperspace__CountResponse out = HYPERSPACE__COUNT_RESPONSE__INIT;
        out.count = res.visited;
        reply(c, &out.base);
    }
    hs_collection_close(h);
    hs_filter_free(&fs);
    hyperspace__count_request__free_unpacked(r, NULL);
}

static void rpc_health(hs_gcall *c, const uint8_t *msg, size_t len)
{
    (void)msg;
    (void)len;
    Hyperspace__HealthCheckResponse out = HYPERSPACE__HEALTH_CHECK_RESPONSE__INIT;
    out.status = "SERVING";
    reply(c, &out.base);
}

/* ---- maintenance ----------------------------------------------------------------------------- */

static void rpc_snapshot(hs_gcall *c, const uint8_t *msg, size_t len)
{
    (void)msg;
    (void)len;
    size_t n = 0;
    hs_fail f = {0};
    if (hs_op_snapshot(&n, &f))
        return fail(c, &f);
    status_reply(c, "Snapshot completed for %zu collections", n);
}

static void rpc_vacuum(hs_gcall *c, const uint8_t *msg, size_t len)
{
    (void)msg;
    (void)len;
    size_t n = 0;
    uint64_t reclaimed = 0;
    hs_fail f = {0};
    if (hs_op_vacuum(&n, &reclaimed, &f))
        return fail(c, &f);
    status_reply(c, "Vacuum completed: %zu collections compacted, %llu entries reclaimed", n,
                 (unsigned long long)reclaimed);
}

static void rpc_configure(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__ConfigUpdate *r = hyperspace__config_update__unpack(NULL, len, msg);
    if (!r)
        return bad_message(c);
    hs_fail f = {0};
    hs_op_configure_req q = {
        .has_ef_search = r->_ef_search_case == HYPERSPACE__CONFIG_UPDATE___EF_SEARCH_EF_SEARCH,
        .has_ef_construction =
            r->_ef_construction_case == HYPERSPACE__CONFIG_UPDATE___EF_CONSTRUCTION_EF_CONSTRUCTION,
        .ef_search = r->ef_search,
        .ef_construction = r->ef_construction};
    const char *name = *r->collection ? r->collection : "default";
    hs_collection_stats st;
    if (!check_name(r->collection, false, &f))
        hs_op_collection(c->auth.tenant, r->collection, HS_OP_CONFIGURE, &q, &st, &f);
    if (f.id)
        fail(c, &f);
    else
        status_reply(c, "Collection '%s' configured: ef_search=%u, ef_construction=%u", name,
                     st.config.ef_search, st.config.ef_construction);
    hyperspace__config_update__free_unpacked(r, NULL);
}

static void rpc_digest(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__DigestRequest *r = hyperspace__digest_request__unpack(NULL, len, msg);
    if (!r)
        return bad_message(c);
    hs_fail f = {0};
    hs_digest d;
    if (!check_name(r->collection, false, &f))
        hs_op_collection(c->auth.tenant, r->collection, HS_OP_DIGEST, &d, NULL, &f);
    if (f.id) {
        fail(c, &f);
    } else {
        Hyperspace__DigestResponse out = HYPERSPACE__DIGEST_RESPONSE__INIT;
        out.logical_clock = d.clock;
        out.state_hash = d.state_hash;
        out.n_buckets = 256;
        out.buckets = d.buckets;
        out.count = d.count;
        reply(c, &out.base);
    }
    hyperspace__digest_request__free_unpacked(r, NULL);
}

static void rpc_rebuild(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__RebuildIndexRequest *r = hyperspace__rebuild_index_request__unpack(NULL, len, msg);
    if (!r)
        return bad_message(c);
    hs_fail f = {0};
    if (!check_name(r->name, false, &f))
        hs_op_collection(c->auth.tenant, r->name, HS_OP_REBUILD, NULL, NULL, &f);
    if (f.id)
        fail(c, &f);
    else
        status_reply(c, "Index rebuilt and reloaded successfully");
    hyperspace__rebuild_index_request__free_unpacked(r, NULL);
}

/* ---- Monitor streams ----------------------------------------------------------------------- */

static pthread_mutex_t streams_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t streams_cond = PTHREAD_COND_INITIALIZER;
static hs_gcall *streams;
static bool streams_stop;
static pthread_t streams_thread;
static bool streams_running;

/* Sends one SystemStats on c (caller holds c->mu; no send in flight). */
static void send_stats(hs_gcall *c)
{
    uint64_t cols, pts, loaded, failed;
    hs_db_totals(g_srv.db, &cols, &pts, &loaded, &failed);
    Hyperspace__SystemStats st = HYPERSPACE__SYSTEM_STATS__INIT;
    st.total_collections = cols;
    st.total_vectors = pts;
    st.total_memory_mb = (double)hs_process_rss() / 1048576.0;
    st.qps = hs_ops_qps();
    size_t n = protobuf_c_message_get_packed_size(&st.base);
    uint8_t buf[128];
    protobuf_c_message_pack(&st.base, buf);
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    c->send_in_flight = true;
    if (grpc_call_start_batch(c->call, &op, 1, &c->tag_sent, NULL) != GRPC_CALL_OK)
        c->send_in_flight = false;
    grpc_byte_buffer_destroy(bb);
}

/* The stream is over (client gone or shutdown): send the final status once nothing is in
 * flight (caller holds c->mu); the last of the close and status completions frees the call. */
static void maybe_end(hs_gcall *c, int status, const char *message)
{
    if (c->send_in_flight || c->done_sent)
        return;
    c->done_sent = true;
    hs_gcall_finish(c, status, message);
}

static void rpc_monitor(hs_gcall *c, const uint8_t *msg, size_t len)
{
    (void)msg;
    (void)len;
    c->stream = true;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    c->close_armed = true;
    pthread_mutex_lock(&streams_lock);
    pthread_mutex_lock(&c->mu);
    /* one reference for the close batch, one for the status batch (sent by maybe_end) */
    c->refs = 2;
    if (grpc_call_start_batch(c->call, &op, 1, &c->tag_close, NULL) != GRPC_CALL_OK) {
        c->refs = 1;
        c->closed = true;
    }
    c->next_due = (double)hs_now_ns_srv() / 1e9 + 1.0;
    if (c->closed || streams_stop) {
        maybe_end(c, GRPC_STATUS_UNAVAILABLE, "Server is shutting down");
    } else {
        send_stats(c); /* the first message at once */
        c->next = streams;
        streams = c;
        pthread_cond_broadcast(&streams_cond);
    }
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_unlock(&streams_lock);
}

/* Unlinks c from the stream list (caller holds streams_lock). */
static void unlink_stream(hs_gcall *c)
{
    for (hs_gcall **p = &streams; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            return;
        }
}

/* Drops one of a Monitor call's references (caller holds c->mu, released here); the last frees
 * the call, after the unlock. */
static void monitor_unref_unlock(hs_gcall *c)
{
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (last)
        hs_gcall_free(c);
}

/* Lock order for Monitor calls: streams_lock, then c->mu (as the streamer takes them). */
void hs_grpc_stream_event(hs_gcall *c, int kind, bool ok)
{
    if (c->events)
        return hs_events_stream_event(c, kind, ok);
    if (c->repl)
        return hs_repl_stream_event(c, kind, ok);
    pthread_mutex_lock(&streams_lock);
    pthread_mutex_lock(&c->mu);
    if (kind == TAG_SENT)
        c->send_in_flight = false;
    if (kind == TAG_CLOSE || !ok)
        c->closed = true;
    if (c->closed || __atomic_load_n(&streams_stop, __ATOMIC_ACQUIRE)) {
        unlink_stream(c);
        maybe_end(c, GRPC_STATUS_UNAVAILABLE, "Server is shutting down");
    }
    pthread_mutex_unlock(&streams_lock);
    if (kind == TAG_CLOSE)
        monitor_unref_unlock(c);
    else
        pthread_mutex_unlock(&c->mu);
}

void hs_grpc_stream_done(hs_gcall *c)
{
    if (c->events)
        return hs_events_stream_done(c);
    if (c->repl)
        return hs_repl_stream_done(c);
    /* the status batch finished; the close batch's completion may still be on its way */
    pthread_mutex_lock(&c->mu);
    monitor_unref_unlock(c);
}

static void *streams_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&streams_lock);
    while (!streams_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&streams_cond, &streams_lock, &ts);
        double now = (double)hs_now_ns_srv() / 1e9;
        for (hs_gcall *c = streams; c; c = c->next) {
            pthread_mutex_lock(&c->mu);
            if (now >= c->next_due && !c->closed) {
                while (c->next_due <= now)
                    c->next_due += 1.0; /* t0 + n: no drift; skipped seconds are not queued */
                if (!c->send_in_flight)
                    send_stats(c);
            }
            pthread_mutex_unlock(&c->mu);
        }
    }
    /* shutdown: end every stream with UNAVAILABLE (a call stays listed, so alive, until its close
     * completion, which waits for streams_lock) */
    for (hs_gcall *c = streams; c; c = c->next) {
        pthread_mutex_lock(&c->mu);
        maybe_end(c, GRPC_STATUS_UNAVAILABLE, "Server is shutting down");
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&streams_lock);
    return NULL;
}

void hs_grpc_streams_start(void)
{
    streams_running = pthread_create(&streams_thread, NULL, streams_main, NULL) == 0;
    hs_events_start();
    hs_repl_leader_start();
}

void hs_grpc_streams_stop(void)
{
    pthread_mutex_lock(&streams_lock);
    __atomic_store_n(&streams_stop, true, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&streams_cond);
    pthread_mutex_unlock(&streams_lock);
    if (streams_running)
        pthread_join(streams_thread, NULL);
    streams_running = false;
    hs_events_stop();
    hs_repl_leader_stop();
}

/* ---- the table --------------------------------------------------------------------------- */

#define P "/hyperspace.Database/"
static const hs_rpc rpcs[] = {
    {P "CreateCollection", "CreateCollection", HS_ROLE_WRITER, false, true, rpc_create,
     &hyperspace__create_collection_request__descriptor},
    {P "DeleteCollection", "DeleteCollection", HS_ROLE_WRITER, false, true, rpc_delete_collection,
     &hyperspace__delete_collection_request__descriptor},
    {P "ListCollections", "ListCollections", HS_ROLE_READER, false, false, rpc_list,
     &hyperspace__empty__descriptor},
    {P "GetCollectionStats", "GetCollectionStats", HS_ROLE_READER, false, false, rpc_stats,
     &hyperspace__collection_stats_request__descriptor},
    {P "Insert", "Insert", HS_ROLE_WRITER, false, true, rpc_insert,
     &hyperspace__insert_request__descriptor},
    {P "BatchInsert", "BatchInsert", HS_ROLE_WRITER, false, true, rpc_batch_insert,
     &hyperspace__batch_insert_request__descriptor},
    {P "InsertText", "InsertText", HS_ROLE_WRITER, false, true, rpc_insert_text,
     &hyperspace__insert_text_request__descriptor},
    {P "Delete", "Delete", HS_ROLE_WRITER, false, true, rpc_delete,
     &hyperspace__delete_request__descriptor},
    {P "Search", "Search", HS_ROLE_READER, false, false, rpc_search,
     &hyperspace__search_request__descriptor},
    {P "SearchBatch", "SearchBatch", HS_ROLE_READER, false, false, rpc_search_batch,
     &hyperspace__batch_search_request__descriptor},
    {P "Monitor", "Monitor", HS_ROLE_ADMIN, true, false, rpc_monitor,
     &hyperspace__monitor_request__descriptor},
    {P "TriggerSnapshot", "TriggerSnapshot", HS_ROLE_ADMIN, true, false, rpc_snapshot,
     &hyperspace__empty__descriptor},
    {P "TriggerVacuum", "TriggerVacuum", HS_ROLE_ADMIN, true, false, rpc_vacuum,
     &hyperspace__empty__descriptor},
    {P "Configure", "Configure", HS_ROLE_ADMIN, false, false, rpc_configure,
     &hyperspace__config_update__descriptor},
    {P "Replicate", "Replicate", HS_ROLE_ADMIN, true, false, hs_repl_replicate,
     &hyperspace__replication_request__descriptor},
    {P "GetDigest", "GetDigest", HS_ROLE_READER, false, false, rpc_digest,
     &hyperspace__digest_request__descriptor},
    {P "RebuildIndex", "RebuildIndex", HS_ROLE_ADMIN, false, false, rpc_rebuild,
     &hyperspace__rebuild_index_request__descriptor},
    {P "GetPoints", "GetPoints", HS_ROLE_READER, false, false, rpc_get_points,
     &hyperspace__get_points_request__descriptor},
    {P "Count", "Count", HS_ROLE_READER, false, false, rpc_count,
     &hyperspace__count_request__descriptor},
    /* no key needed, like GET /healthz */
    {P "HealthCheck", "HealthCheck", HS_ROLE_NONE, false, false, rpc_health,
     &hyperspace__empty__descriptor},
    /* the later releases' calls of grpc_later.c */
    {P "UpdatePayload", "UpdatePayload", HS_ROLE_WRITER, false, true, hs_rpc_update_payload,
     &hyperspace__update_payload_request__descriptor},
    {P "Scroll", "Scroll", HS_ROLE_READER, false, false, hs_rpc_scroll,
     &hyperspace__scroll_request__descriptor},
    {P "SearchMultiCollection", "SearchMultiCollection", HS_ROLE_READER, false, false,
     hs_rpc_search_multi, &hyperspace__search_multi_collection_request__descriptor},
    {P "FreezeCollection", "FreezeCollection", HS_ROLE_ADMIN, false, true, hs_rpc_freeze,
     &hyperspace__freeze_collection_request__descriptor},
    {P "UnfreezeCollection", "UnfreezeCollection", HS_ROLE_ADMIN, false, true, hs_rpc_unfreeze,
     &hyperspace__unfreeze_collection_request__descriptor},
    {P "SubscribeToEvents", "SubscribeToEvents", HS_ROLE_READER, false, false,
     hs_events_subscribe, &hyperspace__event_subscription_request__descriptor},
    /* snapshot archives (grpc_snapshots.c); a restore writes collections: not on followers */
    {P "CreateSnapshot", "CreateSnapshot", HS_ROLE_ADMIN, true, false, hs_rpc_snapshot_create,
     &hyperspace__snapshot_create_request__descriptor},
    {P "ListSnapshots", "ListSnapshots", HS_ROLE_ADMIN, true, false, hs_rpc_snapshot_list,
     &hyperspace__empty__descriptor},
    {P "GetSnapshot", "GetSnapshot", HS_ROLE_ADMIN, true, false, hs_rpc_snapshot_get,
     &hyperspace__snapshot_request__descriptor},
    {P "DeleteSnapshot", "DeleteSnapshot", HS_ROLE_ADMIN, true, false, hs_rpc_snapshot_delete,
     &hyperspace__snapshot_request__descriptor},
    {P "RestoreSnapshot", "RestoreSnapshot", HS_ROLE_ADMIN, true, true, hs_rpc_snapshot_restore,
     &hyperspace__snapshot_restore_request__descriptor},
    /* replication beside Replicate (repl_leader.c): refused on followers by the calls themselves
     * (E_FOLLOWER_REPLICATE), as Replicate */
    {P "ReplicateSnapshot", "ReplicateSnapshot", HS_ROLE_ADMIN, true, false, hs_repl_snapshot,
     &hyperspace__replication_snapshot_request__descriptor},
    {P "ReplicationAck", "ReplicationAck", HS_ROLE_ADMIN, true, false, hs_repl_ack,
     &hyperspace__replication_ack_request__descriptor},
    {P "ClusterStatus", "ClusterStatus", HS_ROLE_READER, false, false, hs_repl_cluster_status,
     &hyperspace__empty__descriptor},
};

const hs_rpc *hs_grpc_find_rpc(const char *path, size_t len)
{
    for (size_t i = 0; i < sizeof(rpcs) / sizeof(rpcs[0]); i++)
        if (strlen(rpcs[i].path) == len && !memcmp(rpcs[i].path, path, len))
            return &rpcs[i];
    return NULL;
}

void hs_grpc_run(hs_gcall *c, const uint8_t *msg, size_t len)
{
    hs_pb_issue is;
    if (hs_pb_check(c->rpc->request, msg, len, &is)) {
        char text[400];
        hs_pb_issue_text(&is, text, sizeof(text));
        hs_gcall_finish(c, GRPC_STATUS_INVALID_ARGUMENT, text);
        return;
    }
    int sync = -1;
    for (size_t i = 0; i < c->md.count; i++) {
        if (grpc_slice_str_cmp(c->md.metadata[i].key, HS_REPL_SYNC_MD_REQUEST))
            continue;
        hs_fail f = {0};
        if (hs_repl_sync_parse((const char *)GRPC_SLICE_START_PTR(c->md.metadata[i].value),
                               GRPC_SLICE_LENGTH(c->md.metadata[i].value), &sync, &f)) {
            hs_gcall_finish(c, GRPC_STATUS_INVALID_ARGUMENT, f.message);
            return;
        }
    }
    hs_repl_sync_request(sync); /* unary writes run to their end on this thread */
    c->rpc->run(c, msg, len);
    hs_repl_sync_request(-1);
}

size_t hs_grpc_rpc_count(void) { return sizeof(rpcs) / sizeof(rpcs[0]); }

const hs_rpc *hs_grpc_rpc_at(size_t i) { return i < hs_grpc_rpc_count() ? &rpcs[i] : NULL; }
